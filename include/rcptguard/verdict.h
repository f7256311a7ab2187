/*
 * verdict.h - verdict classes, the closed list of reasons, and the verdict
 * itself (record.h stores it in the cache).
 *
 * Names come from one table (rg_verdict_class_name, rg_verdict_reason_name),
 * shared by the logs, the JSON output, the config parser and the docs.
 */
#ifndef RG_VERDICT_H
#define RG_VERDICT_H

#include <stddef.h>
#include <stdint.h>

enum rg_class {
	RG_CLASS_DELIVERABLE,
	RG_CLASS_UNDELIVERABLE,
	RG_CLASS_RISKY,
	RG_CLASS_UNKNOWN,
	RG_CLASS_COUNT
};

enum rg_reason {
	RG_REASON_ACCEPTED,
	RG_REASON_NO_MAILBOX,
	RG_REASON_NO_DOMAIN,
	RG_REASON_NULL_MX,
	RG_REASON_NO_MAIL_HOST,
	RG_REASON_BAD_SYNTAX,
	RG_REASON_MAILBOX_DISABLED,
	RG_REASON_CATCH_ALL,
	RG_REASON_ACCEPT_ALL_PROVIDER,
	RG_REASON_AMBIGUOUS_252,
	RG_REASON_MAILBOX_FULL,
	RG_REASON_DISPOSABLE,
	RG_REASON_ROLE_ACCOUNT,
	RG_REASON_GREYLISTED,
	RG_REASON_TEMP_FAILURE,
	RG_REASON_TIMEOUT,
	RG_REASON_CONNECT_FAILED,
	RG_REASON_POLICY_BLOCK,
	RG_REASON_SENDER_REJECTED,
	RG_REASON_TLS_REQUIRED,
	RG_REASON_AUTH_REQUIRED,
	RG_REASON_THROTTLED,
	RG_REASON_DNS_ERROR,
	RG_REASON_FORBIDDEN_ADDRESS,
	RG_REASON_PROTOCOL_ERROR,
	RG_REASON_IN_PROGRESS,
	RG_REASON_SMTPUTF8_UNSUPPORTED,
	RG_REASON_COUNT
};

/* Verdict flags. */
#define RG_VERDICT_F_ROLE	0x0001u	/* local part is a role account (postmaster@, info@) */
#define RG_VERDICT_F_DELIVERED	0x0002u	/* real mail to it was delivered (learned from a log) */

/* Where a verdict came from. */
enum rg_source {
	RG_SOURCE_PROBE,	/* the engine: a probe, DNS, or what is known without asking */
	RG_SOURCE_ADMIN,	/* rcptguard cache put */
	RG_SOURCE_DELIVERY,	/* rcptguard learn: the outcome of real mail in the MTA's log */
	RG_SOURCE_COUNT
};

#define RG_VERDICT_DSN_MAX	15	/* "5.1.10" and friends; RFC 3463 allows 3.3.3 digits */
#define RG_VERDICT_MX_MAX	255
#define RG_VERDICT_TEXT_MAX	256	/* server text is truncated to this, never longer */
#define RG_VERDICT_QID_MAX	31	/* an MTA's queue or message id (Postfix, Exim) */

struct rg_verdict {
	enum rg_class	v_class;
	enum rg_reason	v_reason;
	uint32_t	v_flags;
	uint16_t	v_code;		/* SMTP reply code that decided it, 0 if none */
	uint16_t	v_attempts;
	enum rg_reason	v_retry_reason;	/* attempts > 1: why the last one was scheduled */
	enum rg_source	v_source;
	char		v_qid[RG_VERDICT_QID_MAX + 1];	/* delivery: the message's queue id */
	char		v_dsn[RG_VERDICT_DSN_MAX + 1];
	char		v_mx[RG_VERDICT_MX_MAX + 1];
	char		v_text[RG_VERDICT_TEXT_MAX + 1];
	int64_t		v_checked_at;
	int64_t		v_refresh_at;	/* fresh before this, stale after */
	int64_t		v_expires_at;	/* unusable from this time on */
};

/* Freshness of a stored verdict at a given time. */
enum rg_verdict_state {
	RG_STATE_FRESH,
	RG_STATE_STALE,		/* answer with it, and refresh in the background */
	RG_STATE_EXPIRED,
};

/* Names. Unknown values give "?". */
const char *rg_verdict_class_name(enum rg_class c);
const char *rg_verdict_reason_name(enum rg_reason r);
const char *rg_verdict_state_name(enum rg_verdict_state s);
const char *rg_verdict_source_name(enum rg_source s);
int rg_verdict_source_parse(const char *name, enum rg_source *out);
/* Every class's and reason's name, in enum order (the metrics' label values). */
const char *const *rg_verdict_class_list(void);
const char *const *rg_verdict_reason_list(void);
/* Lookups by name: 0 on success, -1 when the name is not in the table. */
int rg_verdict_class_parse(const char *name, enum rg_class *out);
int rg_verdict_reason_parse(const char *name, enum rg_reason *out);

/* rg_verdict_reason_class - the class a reason normally belongs to. */
enum rg_class rg_verdict_reason_class(enum rg_reason r);
/* rg_verdict_reason_dsn - the enhanced status code used when rejecting for r ("5.1.1"). */
const char *rg_verdict_reason_dsn(enum rg_reason r);
/* rg_verdict_reason_text - a one-line human description of r. */
const char *rg_verdict_reason_text(enum rg_reason r);

/* rg_verdict_state_at - fresh, stale or expired at time now. */
enum rg_verdict_state rg_verdict_state_at(const struct rg_verdict *v, int64_t now);

/* rg_verdict_init - a blank verdict of the given class and reason. */
void rg_verdict_init(struct rg_verdict *v, enum rg_class c, enum rg_reason r);

/*
 * rg_verdict_make - a verdict decided here and now (no server involved):
 * class, reason, an optional text, checked now and valid for ttl seconds.
 */
void rg_verdict_make(struct rg_verdict *v, enum rg_class c, enum rg_reason r, const char *text,
    int64_t now, int64_t ttl);

/*
 * rg_verdict_set_text - store server text, bounded to RG_VERDICT_TEXT_MAX and
 * with every byte outside printable ASCII replaced by '?'.
 */
void rg_verdict_set_text(struct rg_verdict *v, const char *text, size_t len);

#endif /* RG_VERDICT_H */
