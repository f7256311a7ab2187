/*
 * classify.h - what an SMTP reply says about a mailbox.
 *
 * The rules are DESIGN.md section 4. The two that matter most: a block or
 * policy reply (5.7.x, block-list words) is unknown/policy_block, never
 * undeliverable; and nothing but a 5xx to RCPT TO ever makes a mailbox
 * undeliverable.
 */
#ifndef RG_CLASSIFY_H
#define RG_CLASSIFY_H

#include "rcptguard/reply.h"
#include "rcptguard/verdict.h"

enum rg_smtp_stage {
	RG_STAGE_GREETING,
	RG_STAGE_HELO,		/* EHLO and the HELO fallback */
	RG_STAGE_STARTTLS,
	RG_STAGE_MAIL,
	RG_STAGE_RCPT,
};

struct rg_classification {
	enum rg_class	c_class;
	enum rg_reason	c_reason;
	int		c_final;	/* 0: the session may go on (a 2xx before RCPT) */
};

/* rg_classify_reply - classify reply r received at stage. */
void rg_classify_reply(enum rg_smtp_stage stage, const struct rg_reply *r,
    struct rg_classification *out);

/* rg_classify_is_policy_text - block-list or policy wording in a reply. */
int rg_classify_is_policy_text(const char *text);

const char *rg_classify_stage_name(enum rg_smtp_stage stage);

#endif /* RG_CLASSIFY_H */
