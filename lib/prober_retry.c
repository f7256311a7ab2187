/*
 * prober_retry.c - re-probes of greylisted recipients: each waits on its
 * own timer for greylist_retry_delay, doubled at every attempt, and then
 * joins a job of its domain like a new request.
 */
#include "rg_build.h"

#include <stdlib.h>
#include <time.h>

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
		rg_verdict_init(&v, RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED);
		v.v_attempts = (uint16_t)req.r_attempt;
		req.r_cb(&req.r_addr, &v, req.r_arg);
	}
}

int
rg_prober_schedule_retry(struct rg_prober *pr, const struct rg_probe_req *req)
{
	struct rg_probe_retry *t;
	struct timeval tv;
	int64_t delay;

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
	t->t_req.r_attempt = req->r_attempt + 1;
	delay = pr->p_cfg.greylist_retry_delay << (req->r_attempt - 1 < 16 ? req->r_attempt - 1 : 16);
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = 0;
	TAILQ_INSERT_TAIL(&pr->p_retries, t, t_link);
	pr->p_nretries++;
	evtimer_add(t->t_timer, &tv);
	return 0;
}
