/*
 * milter_decide.h - rcptguard-milter's decision for one RCPT and the texts
 * it hands libmilter. Nothing here includes libmilter, so the unit tests
 * link milter_decide.c alone.
 */
#ifndef RG_MILTER_DECIDE_H
#define RG_MILTER_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/engine.h"
#include "rcptguard/policy.h"

/* What the callback answers libmilter for one RCPT. */
enum milter_outcome {
	MILTER_CONTINUE,	/* accept the recipient */
	MILTER_TAG,		/* accept, and add the header at end of message */
	MILTER_REJECT,		/* 5xx with code, dsn, text */
	MILTER_TEMPFAIL,	/* 4xx with code, dsn, text */
};

struct milter_reply {
	char	mr_code[8];
	char	mr_dsn[16];
	char	mr_text[2 * sizeof(((struct rg_decision *)0)->d_text)];
};

/* milter_copy_addr - an envelope address without its angle brackets, bounded by size. */
void milter_copy_addr(char *dst, size_t size, const char *arg);

/*
 * milter_reply_text - the reply text as smfi_setreply wants it: every '%'
 * doubled, anything but printable ASCII as '?', bounded by size.
 */
void milter_reply_text(char *dst, size_t size, const char *src);

/*
 * milter_decide - the decision for one recipient, through the policy
 * module's shared path (exemptions, fail_mode without an engine, else the
 * engine's answer within wait_ms), logged. engine may be NULL.
 */
void milter_decide(const struct rg_policy *policy, struct rg_engine_thread *engine,
    int64_t wait_ms, const struct rg_policy_request *req, struct rg_decision *d);

/* milter_outcome - what a decision means for libmilter; r is filled for a refusal. */
enum milter_outcome milter_outcome(const struct rg_decision *d, struct milter_reply *r);

#endif /* RG_MILTER_DECIDE_H */
