/*
 * prober_retry.c - re-probes of recipients a later probe may settle
 * (greylisted, throttled, a temporary failure, a verification in progress
 * at a relay): each waits on its own timer, for the delay its reply asked
 * for, the domain's cooldown, or greylist_retry_delay doubled at every
 * attempt, and then joins a job of its domain like a new request.
 */
#include "rg_build.h"

#include <stdlib.h>
#include <time.h>

#include "rcptguard/classify.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/prober.h"
#include "rcptguard/verdict.h"

#include "prober_impl.h"

void
rg_prober_retry_free(struct rg_probe_retry *t)
{
	TAILQ_REMOVE(&t->t_pr->p_retries, t, t_link);
	t->t_pr->p_nretries--;
	event_free(t->t_timer);
	free(t);
}

/* rg_prober_on_retry - the delay is over: probe again, or say it cannot be. */
static void
rg_prober_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct rg_probe_retry *t = arg;
	struct rg_prober *pr = t->t_pr;
	struct rg_probe_req req = t->t_req;

	(void)fd;
	(void)what;
	rg_prober_retry_free(t);
	if (rg_prober_enqueue(pr, &req) != RG_PROBER_QUEUED) {
		struct rg_verdict v;
		rg_verdict_init(&v, RG_CLASS_UNKNOWN, req.r_retry_reason);
		v.v_attempts = (uint16_t)req.r_attempt;
		v.v_retry_reason = req.r_retry_reason;
		req.r_cb(&req.r_addr, &v, req.r_arg);
	}
}

/* rg_prober_retry_delay - seconds until the next attempt after verdict v. */
static int64_t
rg_prober_retry_delay(const struct rg_prober *pr, const struct rg_probe_req *req,
    const struct rg_verdict *v, int64_t not_before)
{
	int64_t now = rg_clock_now(), hint = rg_classify_retry_hint(v->v_text), delay;
	int shift = req->r_attempt - 1 < 16 ? req->r_attempt - 1 : 16;

	if (v->v_reason == RG_REASON_THROTTLED && not_before > now)
		delay = not_before - now + 1;	/* the cooldown, which a hint already set */
	else if (hint > 0)
		delay = hint + 1;
	else
		delay = pr->p_cfg.greylist_retry_delay << shift;
	if (now + delay <= not_before)
		delay = not_before - now + 1;
	return delay;
}

int
rg_prober_schedule_retry(struct rg_prober *pr, const struct rg_probe_req *req,
    const struct rg_verdict *v, int64_t not_before)
{
	struct rg_probe_retry *t;
	struct timeval tv;

	if (req->r_attempt > pr->p_cfg.greylist_max_retries)
		return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	if ((t->t_timer = evtimer_new(pr->p_base, rg_prober_on_retry, t)) == NULL) {
		free(t);
		return -1;
	}
	t->t_pr = pr;
	t->t_req = *req;
	t->t_req.r_done = 0;
	t->t_req.r_in_session = 0;
	t->t_req.r_attempt = req->r_attempt + 1;
	t->t_req.r_retry_reason = v->v_reason;
	tv.tv_sec = (time_t)rg_prober_retry_delay(pr, req, v, not_before);
	tv.tv_usec = 0;
	rg_log_debug("probe %s: %s, attempt %d in %llds", req->r_addr.a_key,
	    rg_verdict_reason_name(v->v_reason), t->t_req.r_attempt, (long long)tv.tv_sec);
	TAILQ_INSERT_TAIL(&pr->p_retries, t, t_link);
	pr->p_nretries++;
	evtimer_add(t->t_timer, &tv);
	return 0;
}
