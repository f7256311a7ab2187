/*
 * classify_session.c - what a finished probe session says (classify.h):
 * whether to try another host, the verdict of every recipient, whether the
 * domain throttled us, and what the random recipient proved about
 * catch-all. A pure function: the prober applies the outcome.
 *
 * The rules, in order:
 *   - a refused or timed-out connection, or a timeout at the greeting,
 *     moves on to the next host while there is one; a 4xx or 5xx greeting
 *     too;
 *   - a refusal before RCPT decides every recipient by that reply; a
 *     failure before RCPT is a protocol error for all;
 *   - the random recipient's 2xx means catch-all; a refusal of the mailbox
 *     (5.1.x) means not; a block or a 4xx proves nothing. On a catch-all domain, or behind a provider whose
 *     250 proves little, an accepted recipient is risky, not deliverable;
 *   - a throttling reply at any stage asks for a cooldown; a recipient-count
 *     reply ("too many recipients") never does: its recipient, and those a
 *     server left unanswered after answering others, are asked again, and
 *     the limit the replies show is learned;
 *   - a recipient that needs SMTPUTF8, which the server lacks, was not
 *     asked: unknown/smtputf8_unsupported;
 *   - a recipient the server did not answer gets the 421 that ended the
 *     session, or unknown (timeout or protocol error).
 */
#include "rg_build.h"

#include <string.h>

#include "rcptguard/classify.h"

/* rg_session_set - one outcome. */
static void
rg_session_set(struct rg_session_verdict *sv, enum rg_class c, enum rg_reason r,
    const struct rg_reply *reply, const char *why)
{
	sv->sv_class = c;
	sv->sv_reason = r;
	sv->sv_reply = reply;
	sv->sv_why = why;
	sv->sv_again = 0;
}

/*
 * rg_session_early - the outcomes decided before the recipients' replies
 * count: another host, or one verdict for all. 1 when decided.
 */
static int
rg_session_early(const struct rg_session_input *in, struct rg_session_outcome *out)
{
	const struct rg_smtp_result *res = in->si_res;
	struct rg_classification cl;

	switch (res->s_status) {
	case RG_SMTP_CONNECT_FAILED:
	case RG_SMTP_TIMEOUT:
		if (res->s_stage != RG_STAGE_GREETING && res->s_status != RG_SMTP_CONNECT_FAILED)
			return 0;	/* a timeout mid-dialogue: keep what was answered */
		/* A dead or silent host: try the next one. */
		if (in->si_more_hosts) {
			out->so_action = RG_SESSION_NEXT_HOST;
			return 1;
		}
		out->so_action = RG_SESSION_ALL;
		rg_session_set(&out->so_all, RG_CLASS_UNKNOWN, res->s_status == RG_SMTP_TIMEOUT ?
		    RG_REASON_TIMEOUT : RG_REASON_CONNECT_FAILED, NULL, res->s_error);
		return 1;
	case RG_SMTP_REFUSED:
		rg_classify_reply_with(in->si_rules, res->s_stage, &res->s_reply, &cl);
		if (cl.c_reason == RG_REASON_THROTTLED) {
			out->so_cooldown = 1;
			out->so_cooldown_hint = rg_classify_retry_hint(res->s_reply.r_text);
		}
		if (res->s_stage == RG_STAGE_GREETING && in->si_more_hosts) {
			/* A 4xx or 5xx greeting moves on to the next host. */
			out->so_action = RG_SESSION_NEXT_HOST;
			return 1;
		}
		if (res->s_stage == RG_STAGE_RCPT)
			return 0;	/* 421 in the middle of the RCPTs */
		out->so_action = RG_SESSION_ALL;
		rg_session_set(&out->so_all, cl.c_class, cl.c_reason, &res->s_reply, NULL);
		return 1;
	case RG_SMTP_DONE:
	case RG_SMTP_DROPPED:
	case RG_SMTP_PROTOCOL:
	case RG_SMTP_LOCAL_ERROR:
		if (res->s_status == RG_SMTP_DONE || res->s_stage == RG_STAGE_RCPT)
			return 0;
		/* A hang-up before RCPT is temporary (asked again later); garbage is not. */
		out->so_action = RG_SESSION_ALL;
		rg_session_set(&out->so_all, RG_CLASS_UNKNOWN, res->s_status == RG_SMTP_DROPPED ?
		    RG_REASON_TEMP_FAILURE : RG_REASON_PROTOCOL_ERROR, NULL, res->s_error);
		return 1;
	}
	return 0;
}

/* The replies of a session, each read once by the rules: the RCPT replies in order, and the refusal. */
struct rg_session_read {
	struct rg_classification	rcpt[RG_SMTP_MAX_RCPT];
	struct rg_classification	refusal;	/* a 421 among the RCPTs */
};

static void
rg_session_read(const struct rg_session_input *in, struct rg_session_read *rd)
{
	const struct rg_smtp_result *res = in->si_res;

	memset(rd, 0, sizeof(*rd));
	for (int k = 0; k < res->s_nreplies && k < RG_SMTP_MAX_RCPT; k++)
		if (!res->s_skipped[k])
			rg_classify_reply_with(in->si_rules, RG_STAGE_RCPT, &res->s_rcpt[k],
			    &rd->rcpt[k]);
	if (res->s_status == RG_SMTP_REFUSED)
		rg_classify_reply_with(in->si_rules, RG_STAGE_RCPT, &res->s_reply, &rd->refusal);
}

/*
 * rg_session_limits - the recipient limits the replies show, and whether
 * the recipients the server left unanswered, after answering others, may
 * be asked again in a new session (returns 1).
 */
static int
rg_session_limits(const struct rg_session_input *in, const struct rg_session_read *rd,
    struct rg_session_outcome *out)
{
	const struct rg_smtp_result *res = in->si_res;
	int pos = 0, txn = 0, answered = 0, limited = 0;

	for (int k = 0; k < res->s_nreplies; k++) {
		if (res->s_skipped[k])
			continue;
		if (in->si_per_txn > 0 && pos == in->si_per_txn) {
			pos = 0;	/* the client began a new transaction here */
			txn++;
		}
		pos++;
		if (!rd->rcpt[k].c_rcpt_limit) {
			answered++;
			continue;
		}
		/* The first refusal by count says which limit it is. */
		if (limited++ > 0)
			continue;
		if (pos > 1)
			out->so_per_txn = pos - 1;
		else if (txn > 0)
			out->so_per_session = answered;	/* refused again after RSET */
	}
	out->so_answered = answered;
	if (answered == 0)
		return 0;
	switch (res->s_status) {
	case RG_SMTP_REFUSED:
		/* A 421 that counts recipients ended the session; a throttling one is not this. */
		if (!rd->refusal.c_rcpt_limit)
			return 0;
		if (out->so_per_session == 0)
			out->so_per_session = answered;
		return 1;
	case RG_SMTP_DONE:
		/* A refused RSET or later MAIL: the session held no more. */
		if (res->s_nreplies >= in->si_nreal + in->si_random)
			return 0;
		if (out->so_per_session == 0)
			out->so_per_session = answered;
		return 1;
	case RG_SMTP_DROPPED:
		return 1;	/* a hang-up: asked again, nothing learned */
	default:
		return 0;
	}
}

/* rg_session_rcpt - the verdict of real recipient k; again: the unanswered may be asked again. */
static void
rg_session_rcpt(const struct rg_session_input *in, const struct rg_session_read *rd, int k,
    int catch_all, int again, struct rg_session_verdict *sv)
{
	const struct rg_smtp_result *res = in->si_res;

	if (k < res->s_nreplies && res->s_skipped[k]) {
		/* Not asked: it needs SMTPUTF8, which the server does not offer. */
		rg_session_set(sv, RG_CLASS_UNKNOWN, RG_REASON_SMTPUTF8_UNSUPPORTED, NULL,
		    "the server does not offer SMTPUTF8");
	} else if (k < res->s_nreplies) {
		const struct rg_reply *rr = &res->s_rcpt[k];
		const struct rg_classification *cl = &rd->rcpt[k];
		if (cl->c_class == RG_CLASS_DELIVERABLE && catch_all)
			rg_session_set(sv, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, rr, NULL);
		else if (cl->c_class == RG_CLASS_DELIVERABLE && in->si_unreliable)
			rg_session_set(sv, RG_CLASS_RISKY, RG_REASON_ACCEPT_ALL_PROVIDER, rr, NULL);
		else
			rg_session_set(sv, cl->c_class, cl->c_reason, rr, NULL);
		sv->sv_again = cl->c_rcpt_limit;
	} else if (again) {
		rg_session_set(sv, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE,
		    res->s_status == RG_SMTP_REFUSED ? &res->s_reply : NULL, res->s_error);
		sv->sv_again = 1;
	} else if (res->s_status == RG_SMTP_REFUSED) {
		/* 421 before this recipient's turn: the server is throttling. */
		rg_session_set(sv, rd->refusal.c_class, rd->refusal.c_reason, &res->s_reply, NULL);
	} else {
		rg_session_set(sv, RG_CLASS_UNKNOWN, res->s_status == RG_SMTP_TIMEOUT ?
		    RG_REASON_TIMEOUT : RG_REASON_PROTOCOL_ERROR, NULL, res->s_error);
	}
}

void
rg_classify_session(const struct rg_session_input *in, struct rg_session_outcome *out,
    struct rg_session_verdict *rcpt, int nrcpt)
{
	const struct rg_smtp_result *res = in->si_res;
	struct rg_session_read rd;
	int catch_all = in->si_catch_all, again;

	memset(out, 0, sizeof(*out));
	out->so_catch_all = RG_CATCH_ALL_UNKNOWN;
	if (rg_session_early(in, out))
		return;
	out->so_action = RG_SESSION_EACH;
	rg_session_read(in, &rd);

	/*
	 * The catch-all probe, when its reply came: accepted means catch-all;
	 * only a refusal of the mailbox itself means not. A block (5.7.x), a
	 * 4xx or anything else proves nothing: tested again later.
	 */
	if (in->si_random && res->s_nreplies > in->si_nreal) {
		const struct rg_reply *rr = &res->s_rcpt[in->si_nreal];
		if (rr->r_code / 100 == 2) {
			catch_all = 1;
			out->so_catch_all = RG_CATCH_ALL_YES;
		} else if (rd.rcpt[in->si_nreal].c_class == RG_CLASS_UNDELIVERABLE) {
			out->so_catch_all = RG_CATCH_ALL_NO;
		}
	}

	/* A throttling reply to any RCPT pauses the domain, too. */
	for (int k = 0; k < res->s_nreplies && res->s_status != RG_SMTP_REFUSED; k++) {
		if (!res->s_skipped[k] && rd.rcpt[k].c_reason == RG_REASON_THROTTLED) {
			out->so_cooldown = 1;
			out->so_cooldown_hint = rg_classify_retry_hint(res->s_rcpt[k].r_text);
			break;
		}
	}

	again = rg_session_limits(in, &rd, out);
	for (int k = 0; k < in->si_nreal && k < nrcpt; k++) {
		rg_session_rcpt(in, &rd, k, catch_all, again, &rcpt[k]);
		out->so_again += rcpt[k].sv_again;
	}
}
