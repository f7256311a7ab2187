/*
 * prober_retry.c - re-probes of recipients a later probe may settle
 * (greylisted, throttled, a temporary failure, a verification in progress
 * at a relay): each waits on its own timer, for the delay its reply asked
 * for, the domain's cooldown, or greylist_retry_delay doubled at every
 * attempt, and then joins a job of its domain like a new request.
 */
#include "rg_build.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "rcptguard/classify.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/prober.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"
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

/* rg_prober_retry_record - store the retry record of req, due at due; 0 when stored. */
static int
rg_prober_retry_record(struct rg_prober *pr, const struct rg_probe_req *req, int64_t due)
{
	struct rg_record_retry rec = {
		.rt_expires_at = due + RG_PROBER_RETRY_KEEP, .rt_due = due,
		.rt_attempt = (uint16_t)req->r_attempt, .rt_reason = (uint8_t)req->r_retry_reason,
		.rt_source = req->r_source, .rt_pid = pr->p_pid, .rt_token = pr->p_token,
	};

	if (pr->p_store == NULL)
		return -1;
	if (rg_store_retry_put(pr->p_store, req->r_addr.a_key, &rec, NULL) != RG_LIMIT_OK) {
		rg_log_warn("probe %s: the re-probe is kept in memory only (the cache failed)",
		    req->r_addr.a_key);
		return -1;
	}
	return 0;
}

/*
 * rg_prober_retry_hold - a claimed re-probe runs here now: its record says
 * so until the session would have ended. Killed in the middle, this process
 * leaves a record another prober adopts, not an interim verdict nobody
 * settles; the verdict (or the next retry) replaces or drops the record.
 */
static void
rg_prober_retry_hold(struct rg_prober *pr, const struct rg_probe_req *req)
{
	(void)rg_prober_retry_record(pr, req, rg_clock_now() + pr->p_cfg.session_timeout);
}

void
rg_prober_retry_release(struct rg_prober *pr, const struct rg_probe_req *req)
{
	struct rg_record_retry rec;

	/* Only our own record goes: a prober that took the address over keeps its own. */
	if (pr->p_store != NULL && req->r_attempt > 1)
		(void)rg_store_retry_claim(pr->p_store, req->r_addr.a_key, pr->p_token, &rec, NULL);
}

/* rg_prober_unanswered - the caller of a re-probe that will not run here hears the interim. */
static void
rg_prober_unanswered(struct rg_probe_req *req)
{
	struct rg_verdict v;

	rg_verdict_init(&v, RG_CLASS_UNKNOWN, req->r_retry_reason);
	v.v_attempts = (uint16_t)req->r_attempt;
	v.v_retry_reason = req->r_retry_reason;
	req->r_cb(&req->r_addr, &v, req->r_arg);
}

/* rg_prober_on_retry - the delay is over: claim the re-probe and probe again. */
static void
rg_prober_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct rg_probe_retry *t = arg;
	struct rg_prober *pr = t->t_pr;
	struct rg_probe_req req = t->t_req;
	struct rg_record_retry rec;
	int stored = t->t_stored;

	(void)fd;
	(void)what;
	rg_prober_retry_free(t);
	if (stored && pr->p_store != NULL) {
		enum rg_limit_status ls = rg_store_retry_claim(pr->p_store, req.r_addr.a_key,
		    pr->p_token, &rec, NULL);
		/* Gone or another's: a prober that thought us stuck took it over. */
		if (ls == RG_LIMIT_EMPTY || ls == RG_LIMIT_HELD) {
			rg_prober_unanswered(&req);
			return;
		}
		if (ls == RG_LIMIT_OK)
			rg_prober_retry_hold(pr, &req);
	}
	if (rg_prober_enqueue(pr, &req) != RG_PROBER_QUEUED)
		rg_prober_unanswered(&req);
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
	t->t_stored = rg_prober_retry_record(pr, &t->t_req, rg_clock_now() + tv.tv_sec) == 0;
	TAILQ_INSERT_TAIL(&pr->p_retries, t, t_link);
	pr->p_nretries++;
	evtimer_add(t->t_timer, &tv);
	return 0;
}

/* rg_prober_adopted - an adopted re-probe has its verdict; it is in the cache, nobody waits. */
static void
rg_prober_adopted(const struct rg_address *addr, const struct rg_verdict *v, void *arg)
{
	(void)arg;
	rg_log_info("probe %s: adopted re-probe (attempt %u): %s/%s", addr->a_key, v->v_attempts,
	    rg_verdict_class_name(v->v_class), rg_verdict_reason_name(v->v_reason));
}

/* rg_prober_alive - whether process pid still runs. */
static int
rg_prober_alive(uint32_t pid)
{
	return pid != 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

struct rg_prober_due {
	struct rg_prober	*d_pr;
	int64_t			 d_now;
	int			 d_n;
	char			 d_addr[RG_PROBER_ADOPT_MAX][RG_ADDR_MAILBOX_MAX + 1];
	uint64_t		 d_token[RG_PROBER_ADOPT_MAX];
};

/* rg_prober_due_fn - a retry record of the scan: note it when it is ours to adopt. */
static int
rg_prober_due_fn(const char *address, const struct rg_record_retry *t, void *arg)
{
	struct rg_prober_due *d = arg;
	struct rg_prober *pr = d->d_pr;
	int orphan;

	if (t->rt_due > d->d_now || t->rt_token == pr->p_token)
		return 0;	/* not due, or our own timer's */
	orphan = t->rt_pid == pr->p_pid || !rg_prober_alive(t->rt_pid) ||
	    t->rt_due + RG_PROBER_RETRY_GRACE <= d->d_now;
	if (!orphan || strlen(address) > RG_ADDR_MAILBOX_MAX)
		return 0;
	rg_strlcpy(d->d_addr[d->d_n], address, sizeof(d->d_addr[0]));
	d->d_token[d->d_n] = t->rt_token;
	return ++d->d_n == RG_PROBER_ADOPT_MAX;
}

/* rg_prober_adopt - claim one orphaned re-probe and run it here. */
static void
rg_prober_adopt(struct rg_prober *pr, const char *address, uint64_t token)
{
	struct rg_record_retry rec;
	struct rg_address_error ae;
	struct rg_probe_req req;

	if (rg_store_retry_claim(pr->p_store, address, token, &rec, NULL) != RG_LIMIT_OK)
		return;		/* another prober was faster */
	memset(&req, 0, sizeof(req));
	if (rg_address_parse(address, strlen(address), 0, &req.r_addr, &ae) < 0)
		return;		/* not an address: the record was damaged */
	req.r_cb = rg_prober_adopted;
	req.r_attempt = rec.rt_attempt > 0 ? rec.rt_attempt : 1;
	req.r_retry_reason = (enum rg_reason)rec.rt_reason;
	req.r_source = rec.rt_source;	/* the re-probe comes from the first probe's source */
	rg_log_info("probe %s: adopting a re-probe (attempt %d, %s) of process %u", address,
	    req.r_attempt, rg_verdict_reason_name(req.r_retry_reason), rec.rt_pid);
	rg_prober_retry_hold(pr, &req);
	if (rg_prober_enqueue(pr, &req) != RG_PROBER_QUEUED)
		rg_prober_retry_record(pr, &req, rg_clock_now() + 1);	/* full: later */
}

/* rg_prober_on_retry_scan - once a second: adopt the due re-probes nobody else will run. */
static void
rg_prober_on_retry_scan(evutil_socket_t fd, short what, void *arg)
{
	struct rg_prober *pr = arg;
	struct rg_prober_due *d;

	(void)fd;
	(void)what;
	if (pr->p_store == NULL || (d = calloc(1, sizeof(*d))) == NULL)
		return;
	d->d_pr = pr;
	d->d_now = rg_clock_now();
	if (rg_store_retry_scan(pr->p_store, rg_prober_due_fn, d) == RG_CACHE_OK)
		for (int i = 0; i < d->d_n; i++)
			rg_prober_adopt(pr, d->d_addr[i], d->d_token[i]);
	free(d);
}

int
rg_prober_retry_init(struct rg_prober *pr)
{
	struct timeval tv = { RG_PROBER_RETRY_SCAN_MS / 1000, (RG_PROBER_RETRY_SCAN_MS % 1000) * 1000 };

	arc4random_buf(&pr->p_token, sizeof(pr->p_token));
	pr->p_token |= 1;	/* never 0, which claims whatever the token */
	pr->p_pid = (uint32_t)getpid();
	pr->p_retry_scan = event_new(pr->p_base, -1, EV_PERSIST, rg_prober_on_retry_scan, pr);
	if (pr->p_retry_scan == NULL)
		return -1;
	event_add(pr->p_retry_scan, &tv);
	return 0;
}

void
rg_prober_retry_fini(struct rg_prober *pr)
{
	struct rg_probe_job *j;

	if (pr->p_retry_scan != NULL)
		event_free(pr->p_retry_scan);
	pr->p_retry_scan = NULL;
	/* Re-probes under way here are due now, for whoever runs next. */
	TAILQ_FOREACH(j, &pr->p_jobs, j_link)
		for (int i = 0; i < j->j_nreqs; i++)
			if (!j->j_reqs[i].r_done && j->j_reqs[i].r_attempt > 1)
				rg_prober_retry_record(pr, &j->j_reqs[i], rg_clock_now());
}
