/*
 * verdict.c - the tables of classes and reasons, and small verdict helpers.
 *
 * The reason table is the single source of the names used in logs, JSON,
 * config files and documentation; tests/unit/test_verdict.c checks that the
 * man page lists exactly these names.
 */
#include "rg_build.h"

#include <pthread.h>
#include <string.h>

#include "rcptguard/util.h"
#include "rcptguard/verdict.h"

static const char *const rg_verdict_class_names[RG_CLASS_COUNT] = {
	[RG_CLASS_DELIVERABLE] = "deliverable",
	[RG_CLASS_UNDELIVERABLE] = "undeliverable",
	[RG_CLASS_RISKY] = "risky",
	[RG_CLASS_UNKNOWN] = "unknown",
};

static const char *const rg_verdict_source_names[RG_SOURCE_COUNT] = {
	[RG_SOURCE_PROBE] = "probe",
	[RG_SOURCE_ADMIN] = "admin",
	[RG_SOURCE_DELIVERY] = "delivery",
};

struct rg_verdict_reason_info {
	const char	*name;
	enum rg_class	 vclass;
	const char	*dsn;
	const char	*text;
};

static const struct rg_verdict_reason_info rg_verdict_reasons[RG_REASON_COUNT] = {
	[RG_REASON_ACCEPTED] = { "accepted", RG_CLASS_DELIVERABLE, "2.1.5",
	    "the mail server accepted the mailbox" },
	[RG_REASON_NO_MAILBOX] = { "no_mailbox", RG_CLASS_UNDELIVERABLE, "5.1.1",
	    "the mailbox does not exist" },
	[RG_REASON_NO_DOMAIN] = { "no_domain", RG_CLASS_UNDELIVERABLE, "5.1.2",
	    "the domain does not exist" },
	[RG_REASON_NULL_MX] = { "null_mx", RG_CLASS_UNDELIVERABLE, "5.1.10",
	    "the domain accepts no mail (null MX)" },
	[RG_REASON_NO_MAIL_HOST] = { "no_mail_host", RG_CLASS_UNDELIVERABLE, "5.1.2",
	    "no mail host of the domain resolves" },
	[RG_REASON_BAD_SYNTAX] = { "bad_syntax", RG_CLASS_UNDELIVERABLE, "5.1.3",
	    "the address is not valid" },
	[RG_REASON_MAILBOX_DISABLED] = { "mailbox_disabled", RG_CLASS_UNDELIVERABLE, "5.2.1",
	    "the mailbox is disabled" },
	[RG_REASON_CATCH_ALL] = { "catch_all", RG_CLASS_RISKY, "5.1.0",
	    "the domain accepts every address" },
	[RG_REASON_ACCEPT_ALL_PROVIDER] = { "accept_all_provider", RG_CLASS_RISKY, "5.1.0",
	    "the provider accepts every address at RCPT time" },
	[RG_REASON_AMBIGUOUS_252] = { "ambiguous_252", RG_CLASS_RISKY, "5.1.0",
	    "the server neither confirmed nor denied the mailbox" },
	[RG_REASON_MAILBOX_FULL] = { "mailbox_full", RG_CLASS_RISKY, "5.2.2",
	    "the mailbox is full" },
	[RG_REASON_DISPOSABLE] = { "disposable", RG_CLASS_RISKY, "5.1.0",
	    "the domain is a disposable address provider" },
	[RG_REASON_ROLE_ACCOUNT] = { "role_account", RG_CLASS_RISKY, "5.1.0",
	    "the mailbox is a role account" },
	[RG_REASON_GREYLISTED] = { "greylisted", RG_CLASS_UNKNOWN, "4.7.1",
	    "the server greylisted the probe" },
	[RG_REASON_TEMP_FAILURE] = { "temp_failure", RG_CLASS_UNKNOWN, "4.4.0",
	    "the server answered with a temporary failure" },
	[RG_REASON_TIMEOUT] = { "timeout", RG_CLASS_UNKNOWN, "4.4.2",
	    "the server did not answer in time" },
	[RG_REASON_CONNECT_FAILED] = { "connect_failed", RG_CLASS_UNKNOWN, "4.4.1",
	    "no mail host could be reached" },
	[RG_REASON_POLICY_BLOCK] = { "policy_block", RG_CLASS_UNKNOWN, "4.7.1",
	    "the server refused the probe by policy" },
	[RG_REASON_SENDER_REJECTED] = { "sender_rejected", RG_CLASS_UNKNOWN, "4.7.1",
	    "the server refused the probe sender" },
	[RG_REASON_TLS_REQUIRED] = { "tls_required", RG_CLASS_UNKNOWN, "4.7.0",
	    "the server requires TLS the probe could not provide" },
	[RG_REASON_AUTH_REQUIRED] = { "auth_required", RG_CLASS_UNKNOWN, "4.7.0",
	    "the server requires authentication" },
	[RG_REASON_THROTTLED] = { "throttled", RG_CLASS_UNKNOWN, "4.7.1",
	    "probing the domain is throttled" },
	[RG_REASON_DNS_ERROR] = { "dns_error", RG_CLASS_UNKNOWN, "4.4.3",
	    "the DNS lookup failed temporarily" },
	[RG_REASON_FORBIDDEN_ADDRESS] = { "forbidden_address", RG_CLASS_UNKNOWN, "4.4.1",
	    "the mail host is on a network that is never probed" },
	[RG_REASON_PROTOCOL_ERROR] = { "protocol_error", RG_CLASS_UNKNOWN, "4.5.0",
	    "the server broke the SMTP protocol" },
	[RG_REASON_IN_PROGRESS] = { "in_progress", RG_CLASS_UNKNOWN, "4.7.1",
	    "the recipient is being verified" },
	[RG_REASON_SMTPUTF8_UNSUPPORTED] = { "smtputf8_unsupported", RG_CLASS_UNKNOWN, "5.6.7",
	    "the mail server does not accept UTF-8 addresses (no SMTPUTF8)" },
};

static const char *const rg_verdict_state_names[] = {
	[RG_STATE_FRESH] = "fresh",
	[RG_STATE_STALE] = "stale",
	[RG_STATE_EXPIRED] = "expired",
};

const char *
rg_verdict_class_name(enum rg_class c)
{
	if ((unsigned)c >= RG_CLASS_COUNT)
		return "?";
	return rg_verdict_class_names[c];
}

const char *const *
rg_verdict_class_list(void)
{
	return rg_verdict_class_names;
}

static const char *rg_verdict_reason_names[RG_REASON_COUNT];
static pthread_once_t rg_verdict_reason_once = PTHREAD_ONCE_INIT;

static void
rg_verdict_reason_names_init(void)
{
	for (int i = 0; i < RG_REASON_COUNT; i++)
		rg_verdict_reason_names[i] = rg_verdict_reasons[i].name;
}

const char *const *
rg_verdict_reason_list(void)
{
	pthread_once(&rg_verdict_reason_once, rg_verdict_reason_names_init);
	return rg_verdict_reason_names;
}

const char *
rg_verdict_reason_name(enum rg_reason r)
{
	if ((unsigned)r >= RG_REASON_COUNT)
		return "?";
	return rg_verdict_reasons[r].name;
}

const char *
rg_verdict_state_name(enum rg_verdict_state s)
{
	if ((unsigned)s >= RG_ARRAY_LEN(rg_verdict_state_names))
		return "?";
	return rg_verdict_state_names[s];
}

/* rg_verdict_index - the index of name in a table of n names; -1 when absent. */
static int
rg_verdict_index(const char *const *names, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

int
rg_verdict_class_parse(const char *name, enum rg_class *out)
{
	int i = rg_verdict_index(rg_verdict_class_names, RG_CLASS_COUNT, name);

	if (i >= 0)
		*out = (enum rg_class)i;
	return i >= 0 ? 0 : -1;
}

const char *
rg_verdict_source_name(enum rg_source s)
{
	return (unsigned)s < RG_SOURCE_COUNT ? rg_verdict_source_names[s] : "?";
}

int
rg_verdict_source_parse(const char *name, enum rg_source *out)
{
	int i = rg_verdict_index(rg_verdict_source_names, RG_SOURCE_COUNT, name);

	if (i >= 0)
		*out = (enum rg_source)i;
	return i >= 0 ? 0 : -1;
}

int
rg_verdict_reason_parse(const char *name, enum rg_reason *out)
{
	for (unsigned i = 0; i < RG_REASON_COUNT; i++) {
		if (strcmp(name, rg_verdict_reasons[i].name) == 0) {
			*out = (enum rg_reason)i;
			return 0;
		}
	}
	return -1;
}

enum rg_class
rg_verdict_reason_class(enum rg_reason r)
{
	if ((unsigned)r >= RG_REASON_COUNT)
		return RG_CLASS_UNKNOWN;
	return rg_verdict_reasons[r].vclass;
}

const char *
rg_verdict_reason_dsn(enum rg_reason r)
{
	if ((unsigned)r >= RG_REASON_COUNT)
		return "4.0.0";
	return rg_verdict_reasons[r].dsn;
}

const char *
rg_verdict_reason_text(enum rg_reason r)
{
	if ((unsigned)r >= RG_REASON_COUNT)
		return "?";
	return rg_verdict_reasons[r].text;
}

enum rg_verdict_state
rg_verdict_state_at(const struct rg_verdict *v, int64_t now)
{
	if (now >= v->v_expires_at)
		return RG_STATE_EXPIRED;
	if (now >= v->v_refresh_at)
		return RG_STATE_STALE;
	return RG_STATE_FRESH;
}

void
rg_verdict_init(struct rg_verdict *v, enum rg_class c, enum rg_reason r)
{
	memset(v, 0, sizeof(*v));
	v->v_class = c;
	v->v_reason = r;
}

void
rg_verdict_make(struct rg_verdict *v, enum rg_class c, enum rg_reason r, const char *text,
    int64_t now, int64_t ttl)
{
	rg_verdict_init(v, c, r);
	if (text != NULL)
		rg_verdict_set_text(v, text, strlen(text));
	v->v_checked_at = now;
	v->v_refresh_at = now + ttl;
	v->v_expires_at = now + ttl;
}

void
rg_verdict_set_text(struct rg_verdict *v, const char *text, size_t len)
{
	size_t i;

	if (len > RG_VERDICT_TEXT_MAX)
		len = RG_VERDICT_TEXT_MAX;
	for (i = 0; i < len && text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)text[i];
		v->v_text[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	v->v_text[i] = '\0';
}
