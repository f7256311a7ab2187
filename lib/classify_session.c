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
 *   - the random recipient's 2xx means catch-all, its 5xx means not; a
 *     4xx proves nothing. On a catch-all domain, or behind a provider whose
 *     250 proves little, an accepted recipient is risky, not deliverable;
 *   - a throttling reply at any stage asks for a cooldown;
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
		rg_classify_reply(res->s_stage, &res->s_reply, &cl);
		if (cl.c_reason == RG_REASON_THROTTLED)
			out->so_cooldown = 1;
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
		out->so_action = RG_SESSION_ALL;
		rg_session_set(&out->so_all, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, NULL,
		    res->s_error);
		return 1;
	}
	return 0;
}

/* rg_session_rcpt - the verdict of real recipient k. */
static void
rg_session_rcpt(const struct rg_session_input *in, int k, int catch_all,
    struct rg_session_verdict *sv)
{
	const struct rg_smtp_result *res = in->si_res;
	struct rg_classification cl;

	if (k < res->s_nreplies) {
		const struct rg_reply *rr = &res->s_rcpt[k];
		rg_classify_reply(RG_STAGE_RCPT, rr, &cl);
		if (cl.c_class == RG_CLASS_DELIVERABLE && catch_all)
			rg_session_set(sv, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, rr, NULL);
		else if (cl.c_class == RG_CLASS_DELIVERABLE && in->si_unreliable)
			rg_session_set(sv, RG_CLASS_RISKY, RG_REASON_ACCEPT_ALL_PROVIDER, rr, NULL);
		else
			rg_session_set(sv, cl.c_class, cl.c_reason, rr, NULL);
	} else if (res->s_status == RG_SMTP_REFUSED) {
		/* 421 before this recipient's turn: the server is throttling. */
		rg_classify_reply(RG_STAGE_RCPT, &res->s_reply, &cl);
		rg_session_set(sv, cl.c_class, cl.c_reason, &res->s_reply, NULL);
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
	struct rg_classification cl;
	int catch_all = in->si_catch_all;

	memset(out, 0, sizeof(*out));
	out->so_catch_all = RG_CATCH_ALL_UNKNOWN;
	if (rg_session_early(in, out))
		return;
	out->so_action = RG_SESSION_EACH;

	/* The catch-all probe, when its reply came: accepted means catch-all. */
	if (in->si_random && res->s_nreplies > in->si_nreal) {
		int code = res->s_rcpt[in->si_nreal].r_code;
		if (code / 100 == 2 || code / 100 == 5) {
			catch_all = code / 100 == 2;
			out->so_catch_all = catch_all ? RG_CATCH_ALL_YES : RG_CATCH_ALL_NO;
		}
	}

	/* A throttling reply to any RCPT pauses the domain, too. */
	for (int k = 0; k < res->s_nreplies && res->s_status != RG_SMTP_REFUSED; k++) {
		rg_classify_reply(RG_STAGE_RCPT, &res->s_rcpt[k], &cl);
		if (cl.c_reason == RG_REASON_THROTTLED) {
			out->so_cooldown = 1;
			break;
		}
	}

	for (int k = 0; k < in->si_nreal && k < nrcpt; k++)
		rg_session_rcpt(in, k, catch_all, &rcpt[k]);
}
