/*
 * classify.c - the classification rules of DESIGN.md section 4.
 *
 * Order matters and is the point of this file:
 *   1. policy and block wording, or 5.7.x, wins over everything: it says
 *      nothing about the mailbox (unknown/policy_block, or the narrower
 *      tls_required / auth_required);
 *   2. before RCPT, no reply makes a mailbox undeliverable;
 *   3. a 4xx is never undeliverable;
 *   4. only then do 5.1.x and user-unknown texts make no_mailbox.
 * Before all of them, at RCPT: "too many recipients" (4.5.3, 5.5.3 or the
 * wording, not a rate) is a limit of the transaction or session, not an
 * answer about the mailbox (c_rcpt_limit).
 * Text matching is case-insensitive on the bounded, sanitized reply text.
 */
#include "rg_build.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rcptguard/classify.h"

/* Wording of block lists and policy refusals that wins over anything else. */
static const char *const rg_classify_policy_words[] = {
	"blocked", "block list", "blocklist", "blacklist", "black list", "denylist",
	"spamhaus", "dnsbl", " rbl", "spamcop", "barracuda", "sorbs", "reputation",
	"access denied", "denied by policy", "banned", "relay access denied",
	"relaying denied", "administrative prohibition",
};

/*
 * Weaker wording: a policy refusal unless the server also said plainly, by a
 * 5.1.x code or user-unknown text, that the mailbox does not exist.
 */
static const char *const rg_classify_weak_policy_words[] = {
	"policy", "prohibited", "not allowed", "spam", "abuse", "listed",
};

/* Wording of a mailbox that does not exist. */
static const char *const rg_classify_nouser_words[] = {
	"user unknown", "unknown user", "no such user", "no such mailbox",
	"no such recipient", "unknown recipient", "recipient unknown", "mailbox unavailable",
	"mailbox not found", "mailbox does not exist", "does not exist", "not exist",
	"invalid recipient", "invalid mailbox", "invalid address", "address rejected",
	"recipient rejected", "user not found", "no mailbox", "unrouteable address",
	"undeliverable address", "not our customer", "account does not exist",
};

static const char *const rg_classify_disabled_words[] = {
	"disabled", "deactivated", "inactive", "suspended", "account closed", "expired account",
};

static const char *const rg_classify_full_words[] = {
	"mailbox full", "mailbox is full", "over quota", "quota exceeded", "exceeded storage",
	"insufficient storage", "out of storage",
};

/* Greylisting by name: it wins over the throttle wording a greylister may add. */
static const char *const rg_classify_greylist_words[] = {
	"greylist", "graylist", "grey list", "gray list", "grey-list", "gray-list",
};

static const char *const rg_classify_grey_words[] = {
	"greylist", "graylist", "grey list", "gray list", "grey-list", "gray-list",
	"try again later", "try later", "please retry", "temporarily rejected",
};

/* A limit of recipients per transaction or session (RFC 5321 4.5.3.1.10). */
static const char *const rg_classify_rcpt_limit_words[] = {
	"too many recipients", "too many rcpt", "recipient limit", "recipients limit",
	"limit of recipients", "maximum number of recipients", "max recipients",
	"size per transaction", "separate transaction", "recipients per message",
};

/* ... unless it counts recipients over time: then it is a throttle. */
static const char *const rg_classify_rate_words[] = {
	"from your ip", "from your address", "from this ip", "recipients from", "per minute",
	"per hour", "per day", " rate", "in the last", "slow down", "try again later",
	"try again in",
};

static const char *const rg_classify_throttle_words[] = {
	"too many", "rate limit", "ratelimit", "throttl", "slow down", "too fast",
	"exceeded the rate", "try again in",
};

/* rg_classify_has - any of words in text, ignoring case. */
static int
rg_classify_has(const char *text, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasestr(text, words[i]) != NULL)
			return 1;
	return 0;
}

#define RG_HAS(text, words) rg_classify_has(text, words, sizeof(words) / sizeof(words[0]))

int
rg_classify_is_policy_text(const char *text)
{
	return RG_HAS(text, rg_classify_policy_words) || RG_HAS(text, rg_classify_weak_policy_words);
}

/* rg_classify_word_before - the word that ends just before p ("in" for "in 60"). */
static int
rg_classify_word_before(const char *text, const char *p, const char *word)
{
	size_t n = strlen(word);
	const char *e = p;

	while (e > text && e[-1] == ' ')
		e--;
	if ((size_t)(e - text) < n || strncasecmp(e - n, word, n) != 0)
		return 0;
	return e - n == text || !isalpha((unsigned char)e[-n - 1]);
}

int64_t
rg_classify_retry_hint(const char *text)
{
	static const struct { const char *unit; int64_t secs; } units[] = {
		{ "seconds", 1 }, { "second", 1 }, { "secs", 1 }, { "sec", 1 }, { "s", 1 },
		{ "minutes", 60 }, { "minute", 60 }, { "mins", 60 }, { "min", 60 }, { "m", 60 },
		{ "hours", 3600 }, { "hour", 3600 }, { "h", 3600 },
	};

	for (const char *p = text; *p != '\0'; p++) {
		char *end;
		long n;

		if (!isdigit((unsigned char)*p) || (p > text && !isspace((unsigned char)p[-1])))
			continue;
		if (!rg_classify_word_before(text, p, "in") &&
		    !rg_classify_word_before(text, p, "after") &&
		    !rg_classify_word_before(text, p, "wait"))
			continue;
		n = strtol(p, &end, 10);
		while (*end == ' ')
			end++;
		for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t ul = strlen(units[u].unit);
			if (strncasecmp(end, units[u].unit, ul) == 0 && !isalnum((unsigned char)end[ul]))
				return n <= 0 ? 0 : n * units[u].secs > 86400 ? 86400 :
				    n * units[u].secs;
		}
	}
	return 0;
}

int
rg_classify_retryable(enum rg_class c, enum rg_reason r)
{
	return c == RG_CLASS_UNKNOWN && (r == RG_REASON_GREYLISTED || r == RG_REASON_THROTTLED ||
	    r == RG_REASON_TEMP_FAILURE || r == RG_REASON_IN_PROGRESS);
}

/* rg_classify_dsn - whether the enhanced code starts with prefix ("5.7."). */
static int
rg_classify_dsn(const struct rg_reply *r, const char *prefix)
{
	return strncmp(r->r_dsn, prefix, strlen(prefix)) == 0;
}

static void
rg_classify_set(struct rg_classification *out, enum rg_class c, enum rg_reason r, int final)
{
	out->c_class = c;
	out->c_reason = r;
	out->c_final = final;
	out->c_rcpt_limit = 0;
}

/*
 * rg_classify_policy - steps 1 for any stage: TLS and authentication
 * demands, 5.7.x and block wording. Returns 1 when it decided.
 */
static int
rg_classify_policy(const struct rg_reply *r, struct rg_classification *out)
{
	const char *t = r->r_text;

	if (r->r_code == 530 || r->r_code == 538 || (r->r_code / 100 == 5 && rg_classify_dsn(r, "5.7.0")) ||
	    rg_classify_dsn(r, "5.7.11") || rg_classify_dsn(r, "4.7.0")) {
		if (strcasestr(t, "starttls") != NULL || strcasestr(t, "tls") != NULL ||
		    strcasestr(t, "encrypt") != NULL) {
			rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_TLS_REQUIRED, 1);
			return 1;
		}
		if (strcasestr(t, "auth") != NULL) {
			rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_AUTH_REQUIRED, 1);
			return 1;
		}
	}
	if (r->r_code / 100 != 5)
		return 0;
	if (rg_classify_dsn(r, "5.7.") || RG_HAS(t, rg_classify_policy_words) ||
	    (RG_HAS(t, rg_classify_weak_policy_words) && !rg_classify_dsn(r, "5.1.") &&
	    !RG_HAS(t, rg_classify_nouser_words))) {
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_POLICY_BLOCK, 1);
		return 1;
	}
	return 0;
}

/*
 * rg_classify_dbeb - Exchange Online's Directory-Based Edge Blocking: "550
 * 5.4.1 Recipient address rejected: Access denied. AS(201806281)" reads
 * like a block but is documented by Microsoft as "the recipient is not in
 * the tenant's directory", answered before any check of the client.
 */
static int
rg_classify_dbeb(const struct rg_reply *r)
{
	return r->r_code == 550 && strcmp(r->r_dsn, "5.4.1") == 0 &&
	    strcasestr(r->r_text, "recipient address rejected: access denied") != NULL;
}

/*
 * rg_classify_rcpt_limit - "too many recipients" for this transaction or
 * session: 4.5.3 or 5.5.3, or the wording, on a 4xx or 5xx (RFC 5321 asks
 * clients to treat a 552 for this as temporary), but not a count over
 * time, which is throttling.
 */
static int
rg_classify_rcpt_limit(const struct rg_reply *r)
{
	const char *t = r->r_text;

	if (r->r_code / 100 != 4 && r->r_code / 100 != 5)
		return 0;
	if (RG_HAS(t, rg_classify_rate_words))
		return 0;
	return strcmp(r->r_dsn, "4.5.3") == 0 || strcmp(r->r_dsn, "5.5.3") == 0 ||
	    RG_HAS(t, rg_classify_rcpt_limit_words);
}

/* rg_classify_temporary - any 4xx: never undeliverable. */
static void
rg_classify_temporary(enum rg_smtp_stage stage, const struct rg_reply *r,
    struct rg_classification *out)
{
	const char *t = r->r_text;

	if (r->r_code != 421 && RG_HAS(t, rg_classify_greylist_words))
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED, 1);
	else if (r->r_code == 421 || RG_HAS(t, rg_classify_throttle_words))
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_THROTTLED, 1);
	else if (strcasestr(t, "verification in progress") != NULL)
		/* A relay that verifies onward (Postfix reject_unverified_recipient). */
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS, 1);
	else if (stage == RG_STAGE_RCPT && (r->r_code == 452 || rg_classify_dsn(r, "4.2.2")) &&
	    (rg_classify_dsn(r, "4.2.2") || RG_HAS(t, rg_classify_full_words)))
		rg_classify_set(out, RG_CLASS_RISKY, RG_REASON_MAILBOX_FULL, 1);
	else if (RG_HAS(t, rg_classify_grey_words) ||
	    (stage == RG_STAGE_RCPT && (rg_classify_dsn(r, "4.7.1") || rg_classify_dsn(r, "4.2.0"))))
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED, 1);
	else
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, 1);
}

/* rg_classify_rcpt_5xx - the only place a mailbox becomes undeliverable. */
static void
rg_classify_rcpt_5xx(const struct rg_reply *r, struct rg_classification *out)
{
	const char *t = r->r_text;
	int code = r->r_code;

	if (code == 552 || rg_classify_dsn(r, "5.2.2") || RG_HAS(t, rg_classify_full_words)) {
		rg_classify_set(out, RG_CLASS_RISKY, RG_REASON_MAILBOX_FULL, 1);
		return;
	}
	if (rg_classify_dsn(r, "5.2.1") || RG_HAS(t, rg_classify_disabled_words)) {
		rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_MAILBOX_DISABLED, 1);
		return;
	}
	if (rg_classify_dsn(r, "5.1.3") || code == 553 || code == 501) {
		/* The server could not parse an address we sent as valid: a syntax
		 * complaint without a user-unknown text is not proof of a dead box. */
		if (RG_HAS(t, rg_classify_nouser_words))
			rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, 1);
		else if (rg_classify_dsn(r, "5.1.3"))
			rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_BAD_SYNTAX, 1);
		else
			rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, 1);
		return;
	}
	if (rg_classify_dsn(r, "5.1.2")) {
		rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_DOMAIN, 1);
		return;
	}
	if (rg_classify_dsn(r, "5.1.") || RG_HAS(t, rg_classify_nouser_words) ||
	    ((code == 550 || code == 551) && (r->r_dsn[0] == '\0' || strcmp(r->r_dsn, "5.0.0") == 0))) {
		rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, 1);
		return;
	}
	/* 500, 502, 503, 504: the dialogue broke; 554 and others: no signal. */
	if (code >= 500 && code <= 504)
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, 1);
	else
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_POLICY_BLOCK, 1);
}

void
rg_classify_reply(enum rg_smtp_stage stage, const struct rg_reply *r,
    struct rg_classification *out)
{
	int cls = r->r_code / 100;

	if (r->r_code < 200 || r->r_code > 599) {
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, 1);
		return;
	}
	if (cls == 2 || cls == 3) {
		if (stage != RG_STAGE_RCPT) {
			rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS, 0);
			return;
		}
		if (r->r_code == 252)
			rg_classify_set(out, RG_CLASS_RISKY, RG_REASON_AMBIGUOUS_252, 1);
		else if (cls == 2)
			rg_classify_set(out, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED, 1);
		else
			rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, 1);
		return;
	}
	if (stage == RG_STAGE_RCPT && rg_classify_rcpt_limit(r)) {
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, 1);
		out->c_rcpt_limit = 1;
		return;
	}
	if (cls == 4) {
		if (rg_classify_policy(r, out))
			return;
		rg_classify_temporary(stage, r, out);
		return;
	}
	/* 5xx */
	if (stage == RG_STAGE_RCPT && rg_classify_dbeb(r)) {
		rg_classify_set(out, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, 1);
		return;
	}
	if (rg_classify_policy(r, out))
		return;
	switch (stage) {
	case RG_STAGE_GREETING:
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_POLICY_BLOCK, 1);
		return;
	case RG_STAGE_HELO:
	case RG_STAGE_STARTTLS:
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, 1);
		return;
	case RG_STAGE_MAIL:
		rg_classify_set(out, RG_CLASS_UNKNOWN, RG_REASON_SENDER_REJECTED, 1);
		return;
	case RG_STAGE_RCPT:
		rg_classify_rcpt_5xx(r, out);
		return;
	}
}
