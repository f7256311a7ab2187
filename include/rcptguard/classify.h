/*
 * classify.h - what an SMTP reply says about a mailbox, and what a whole
 * probe session says about its recipients and their domain.
 *
 * The rules are data (rules.h, conf/reply_rules), after DESIGN.md section
 * 4. The two that matter most: a block or
 * policy reply (5.7.x, block-list words) is unknown/policy_block, never
 * undeliverable; and nothing but a 5xx to RCPT TO ever makes a mailbox
 * undeliverable.
 */
#ifndef RG_CLASSIFY_H
#define RG_CLASSIFY_H

#include "rcptguard/record.h"
#include "rcptguard/reply.h"
#include "rcptguard/rules.h"
#include "rcptguard/smtp.h"
#include "rcptguard/verdict.h"

struct rg_classification {
	enum rg_class	c_class;
	enum rg_reason	c_reason;
	int		c_final;	/* 0: the session may go on (a 2xx before RCPT) */
	int		c_rcpt_limit;	/* "too many recipients" for this transaction or
					 * session: ask the recipient again elsewhere */
};

/*
 * rg_classify_reply_with - classify reply r received at stage by rules
 * (rules.h; NULL: the built-in ones). rg_classify_reply uses the built-in.
 */
void rg_classify_reply_with(const struct rg_rules *rules, enum rg_smtp_stage stage,
    const struct rg_reply *r, struct rg_classification *out);
void rg_classify_reply(enum rg_smtp_stage stage, const struct rg_reply *r,
    struct rg_classification *out);

/*
 * rg_classify_retry_hint - the delay a reply text asks for before a retry
 * ("try again in 60 seconds", "retry after 5 minutes", "wait 30s",
 * "greylisted for 60 seconds", milter-greylist's "come back in 00:05:00"),
 * in seconds, at most a day; 0 when it names none. Digits elsewhere (in a URL,
 * an IP address, a code) are no hint.
 */
int64_t rg_classify_retry_hint(const char *text);

/*
 * rg_classify_retryable - a verdict that a later probe may settle: unknown
 * and greylisted, throttled, a temporary failure or a verification in
 * progress at a relay.
 */
int rg_classify_retryable(enum rg_class c, enum rg_reason r);

/*
 * A finished session, interpreted. The caller says what it sent (nreal
 * real recipients in order, then the random catch-all recipient when
 * random is set) and what it knew; rg_classify_session answers what to do
 * next, with no side effect:
 *   RG_SESSION_NEXT_HOST  the host was dead, silent or refused the
 *                         greeting: try the next candidate;
 *   RG_SESSION_ALL        every open recipient gets so_all;
 *   RG_SESSION_EACH       recipient i gets rcpt[i].
 * Either way so_cooldown asks for a throttling pause of the domain, and
 * so_catch_all (RG_CATCH_ALL_YES or _NO; UNKNOWN: nothing learned) is what
 * the random recipient proved.
 *
 * Recipient limits (RFC 5321 4.5.3.1.10): a recipient refused with "too
 * many recipients", or left unanswered when the server ended the session
 * after answering others (a 421 limit, a refused RSET or later MAIL, a
 * hang-up), gets sv_again: no verdict from this session, ask it again in a
 * new one. What the replies show is learned: so_per_txn (recipients one
 * transaction may hold) and so_per_session. A recipient-count reply never
 * asks for a cooldown.
 */
enum rg_session_action {
	RG_SESSION_NEXT_HOST,
	RG_SESSION_ALL,
	RG_SESSION_EACH,
};

/* One outcome: the reply that decided it (NULL: none) or else the why text. */
struct rg_session_verdict {
	enum rg_class		 sv_class;
	enum rg_reason		 sv_reason;
	const struct rg_reply	*sv_reply;	/* points into the session result */
	const char		*sv_why;	/* NULL, or text into the result */
	int			 sv_again;	/* ask again in a new session (else: the verdict) */
};

struct rg_session_input {
	const struct rg_smtp_result *si_res;
	int		si_nreal;		/* real recipients sent, in order */
	int		si_random;		/* the catch-all recipient followed them */
	int		si_catch_all;		/* the domain is known to accept everything */
	int		si_unreliable;		/* provider rule: a 250 proves little */
	int		si_more_hosts;		/* another candidate address is left */
	int		si_per_txn;		/* recipients per transaction it used; 0: all */
	const struct rg_rules *si_rules;	/* the reply rules; NULL: the built-in ones */
};

struct rg_session_outcome {
	enum rg_session_action	 so_action;
	int			 so_cooldown;
	int			 so_catch_all;	/* enum rg_catch_all */
	struct rg_session_verdict so_all;
	int64_t			 so_cooldown_hint;	/* seconds the throttling reply asked for; 0: none */
	int			 so_again;	/* real recipients with sv_again */
	int			 so_answered;	/* recipients (random included) with an answer */
	int			 so_per_txn;	/* limit learned; 0: none */
	int			 so_per_session;	/* limit learned; 0: none */
};

/*
 * rg_classify_session - interpret in; for RG_SESSION_EACH, rcpt (nrcpt >=
 * si_nreal entries) receives one verdict per real recipient.
 */
void rg_classify_session(const struct rg_session_input *in, struct rg_session_outcome *out,
    struct rg_session_verdict *rcpt, int nrcpt);

#endif /* RG_CLASSIFY_H */
