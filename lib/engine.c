/*
 * engine.c - the lookup pipeline shared by the policy server, the milter
 * and the command line.
 *
 * A waiter is one lookup in flight. It ends when it has answered and its
 * probe (if it started one) has reported; waiters still alive when the
 * engine is freed are released with their leases.
 *
 * The cache's health is the engine's to keep. Every limit of the prober
 * lives in the cache, so without a working cache nothing is probed: a
 * lookup the cache cannot answer follows fail_mode at once. The first
 * failure (a cache that does not open, a failed read, lease, slot, bucket
 * or sweep) is logged once; from then on a timer retries, backing off from
 * 1 s to 60 s: it reopens a cache that never opened, or checks that reads
 * and writes work again, and says so once they do. A lookup of an address
 * whose re-probe is scheduled (by any process) does not probe: it waits for
 * the re-probe's verdict when that is due within its wait, and answers the
 * interim verdict otherwise. Past max_waiters or
 * the prober's caps a lookup is answered at once, unknown/in_progress.
 * Both are counted.
 *
 * With the fleet's shared tier, a lookup the local tier misses first asks
 * the fleet (rg_store_fetch): a live verdict answers (source "shared") and
 * is kept locally. Otherwise the lookup takes the local lease, then the
 * fleet's: a lease another host holds, or a greylisting retry another
 * instance owns, makes it poll for that verdict, the local tier and the
 * fleet in turn. Whatever the fleet does not answer in time, the lookup
 * goes on with this host's cache and limits. A waiter has at most one
 * request at the fleet, and lives until it has ended.
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "rcptguard/cache.h"
#include "rcptguard/classify.h"
#include "rcptguard/clock.h"
#include "rcptguard/engine.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "rcptguard/prober.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"

#include "engine_impl.h"

#define RG_ENGINE_POLL_MS	100	/* re-read the cache while another process probes */
#define RG_ENGINE_RETRY_MIN_S	1	/* the first look at a failed cache */
#define RG_ENGINE_RETRY_MAX_S	60	/* ... backing off to this */
#define RG_ENGINE_OVERLOAD_LOG_S 60	/* at most one line a minute about the caps */

struct rg_address;
static int rg_engine_retry_soon(struct rg_store *c, const struct rg_address *addr,
    const struct rg_verdict *v, int64_t now, int64_t wait_ms);

struct rg_waiter {
	TAILQ_ENTRY(rg_waiter)	 w_link;
	struct rg_engine	*w_engine;
	rg_engine_cb		 w_cb;
	void			*w_arg;
	struct rg_address	 w_addr;
	struct event		*w_timer;	/* budget, or the poll tick */
	int64_t			 w_start_ms;	/* 0: on the stack, answered within the call */
	int64_t			 w_deadline_ms;	/* on the stack: the budget, from the start */
	int64_t			 w_start_time;	/* rg_clock_now() at the start */
	double			 w_stamp;	/* rg_clock_stamp() at the start, for the metrics */
	int			 w_answered;
	int			 w_probing;	/* the prober owes us a callback */
	int			 w_polling;	/* another process holds the lease */
	int			 w_fetching;	/* w_req is a fetch from the fleet */
	int			 w_leasing;	/* w_req is the fleet's lease */
	int			 w_polled;	/* this poll tick has asked the fleet */
	int			 w_fleet_lease;	/* w_lease is held in the fleet too */
	uint64_t		 w_lease;	/* 0: none held */
	struct rg_tier_req	 w_req;
};

TAILQ_HEAD(rg_waiters, rg_waiter);

struct rg_engine {
	struct event_base	*e_base;
	struct rg_config	 e_cfg;
	struct rg_store		*e_store;	/* NULL until it opens; read atomically */
	int			 e_cache_status;	/* RG_CACHE_OK, or the failure (atomic) */
	struct event		*e_retry;	/* recovery of a failed cache */
	int64_t			 e_retry_s;
	int64_t			 e_failed_ms;	/* when the cache failed */
	uint64_t		 e_failed_base;	/* ec_fail_mode then */
	int64_t			 e_overload_logged_ms;
	uint64_t		 e_overload_base;
	struct rg_engine_counters e_ctr;	/* atomic */
	struct rg_prober	*e_prober;
	struct rg_knowledge	*e_know;
	struct rg_waiters	 e_waiters;
	int			 e_nwaiters;
	struct event		*e_maint;	/* periodic flush and sweep */
	struct rg_engine_metrics e_m;
};

struct rg_engine_metrics *
rg_engine_metrics_of(struct rg_engine *e)
{
	return &e->e_m;
}

const char *
rg_engine_source_name(enum rg_answer_source s)
{
	return (unsigned)s < RG_ENGINE_NSOURCES ? rg_engine_sources[s] : "?";
}

static void
rg_engine_count(uint64_t *ctr)
{
	__atomic_add_fetch(ctr, 1, __ATOMIC_RELAXED);
}

static const char *
rg_engine_fail_mode(const struct rg_engine *e)
{
	return e->e_cfg.fail_mode == RG_FAIL_DEFER ? "defer" : "pass";
}

/* rg_engine_retry_arm - the next look at the failed cache, after e_retry_s. */
static void
rg_engine_retry_arm(struct rg_engine *e)
{
	struct timeval tv = { (time_t)e->e_retry_s, 0 };

	if (e->e_retry != NULL)
		evtimer_add(e->e_retry, &tv);
}

/*
 * rg_engine_cache_failed - the cache failed doing what: said once, then
 * retried on a timer until it works. Engine thread only.
 */
static void
rg_engine_cache_failed(struct rg_engine *e, int status, const char *what)
{
	if (status < 0)
		rg_metric_inc(e->e_m.em_cache_errors, 0, 0);
	if (status >= 0 || __atomic_load_n(&e->e_cache_status, __ATOMIC_RELAXED) < 0)
		return;
	__atomic_store_n(&e->e_cache_status, status, __ATOMIC_RELAXED);
	e->e_failed_ms = rg_clock_mono_ms();
	e->e_failed_base = __atomic_load_n(&e->e_ctr.ec_fail_mode, __ATOMIC_RELAXED);
	rg_log_error("cache: %s failed: %s; until it works again every recipient it cannot "
	    "answer follows fail_mode=%s and nothing is probed", what, rg_cache_strerror(status),
	    rg_engine_fail_mode(e));
	e->e_retry_s = RG_ENGINE_RETRY_MIN_S;
	rg_engine_retry_arm(e);
}

static void rg_engine_on_maint(evutil_socket_t fd, short what, void *arg);

/* rg_engine_on_retry - reopen a cache that never opened, or check a failed one. */
static void
rg_engine_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct rg_engine *e = arg;
	struct rg_store *c = rg_engine_store(e);
	char err[1200];
	int rc;

	(void)fd;
	(void)what;
	if (c == NULL) {
		if ((c = rg_store_open(&e->e_cfg, RG_CACHE_O_CREATE, &rc, err, sizeof(err))) != NULL) {
			struct timeval tv = { (time_t)e->e_cfg.sync_interval, 0 };
			/* The server's form was checked with the configuration. */
			if (rg_store_share(c, e->e_base, &e->e_cfg, err, sizeof(err)) < 0)
				rg_log_error("redis: %s", err);
			rg_prober_set_store(e->e_prober, c);
			__atomic_store_n(&e->e_store, c, __ATOMIC_RELEASE);
			if ((e->e_maint = event_new(e->e_base, -1, EV_PERSIST, rg_engine_on_maint,
			    e)) != NULL)
				event_add(e->e_maint, &tv);
			rc = RG_CACHE_OK;
		} else {
			rg_log_debug("cache: still unusable: %s", err);
		}
	} else {
		rc = rg_cache_check(rg_store_cache(c));
	}
	if (rc == RG_CACHE_OK) {
		__atomic_store_n(&e->e_cache_status, RG_CACHE_OK, __ATOMIC_RELAXED);
		rg_log_info("cache: working again after %llds; %llu recipients followed fail_mode "
		    "meanwhile", (long long)((rg_clock_mono_ms() - e->e_failed_ms) / 1000),
		    (unsigned long long)(__atomic_load_n(&e->e_ctr.ec_fail_mode, __ATOMIC_RELAXED) -
		    e->e_failed_base));
		return;
	}
	__atomic_store_n(&e->e_cache_status, rc, __ATOMIC_RELAXED);
	e->e_retry_s = e->e_retry_s * 2 > RG_ENGINE_RETRY_MAX_S ? RG_ENGINE_RETRY_MAX_S :
	    e->e_retry_s * 2;
	rg_engine_retry_arm(e);
}

/*
 * rg_engine_on_maint - every sync_interval: flush what periodic sync mode
 * left unflushed, and sweep one batch of expired records.
 */
static void
rg_engine_on_maint(evutil_socket_t fd, short what, void *arg)
{
	struct rg_engine *e = arg;
	uint64_t removed = 0;
	int wrapped = 0, rc;

	(void)fd;
	(void)what;
	if (e->e_cfg.sync_mode == RG_SYNC_PERIODIC)
		rg_cache_sync(rg_store_cache(e->e_store));
	if ((rc = rg_cache_sweep(rg_store_cache(e->e_store), &removed, &wrapped)) != RG_CACHE_OK)
		rg_engine_cache_failed(e, rc, "the sweep");
	else if (removed > 0)
		rg_log_debug("cache: swept %llu expired records", (unsigned long long)removed);
}

static void rg_engine_on_prober_error(int status, const char *what, void *arg);

struct rg_engine *
rg_engine_new(struct event_base *base, const struct rg_config *cfg, char *err, size_t errsize)
{
	struct rg_engine *e = calloc(1, sizeof(*e));
	char cerr[1200];

	if (e == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	e->e_base = base;
	e->e_cfg = *cfg;
	TAILQ_INIT(&e->e_waiters);
	rg_engine_metrics_init(e, &e->e_m);
	e->e_store = rg_store_open(cfg, RG_CACHE_O_CREATE, &e->e_cache_status, cerr, sizeof(cerr));
	if (e->e_store != NULL && rg_store_share(e->e_store, base, cfg, err, errsize) < 0) {
		rg_store_close(e->e_store);
		rg_engine_metrics_fini(e);
		free(e);
		return NULL;
	}
	if ((e->e_know = rg_knowledge_load(cfg, err, errsize)) == NULL ||
	    (e->e_prober = rg_prober_new(base, cfg, e->e_store, e->e_know, err, errsize)) == NULL ||
	    (e->e_retry = evtimer_new(base, rg_engine_on_retry, e)) == NULL) {
		if (e->e_retry == NULL && e->e_prober != NULL)
			snprintf(err, errsize, "out of memory");
		rg_prober_free(e->e_prober);
		rg_knowledge_free(e->e_know);
		rg_store_close(e->e_store);
		rg_engine_metrics_fini(e);
		free(e);
		return NULL;
	}
	rg_prober_on_error(e->e_prober, rg_engine_on_prober_error, e);
	if (e->e_store == NULL) {
		rg_log_error("cache: %s (%s); until it opens every recipient follows fail_mode=%s "
		    "and nothing is probed", cerr, rg_cache_strerror(e->e_cache_status),
		    rg_engine_fail_mode(e));
		e->e_failed_ms = rg_clock_mono_ms();
		e->e_retry_s = RG_ENGINE_RETRY_MIN_S;
		rg_engine_retry_arm(e);
	}
	if (e->e_store != NULL) {
		struct timeval tv = { (time_t)cfg->sync_interval, 0 };
		if ((e->e_maint = event_new(base, -1, EV_PERSIST, rg_engine_on_maint, e)) != NULL)
			event_add(e->e_maint, &tv);
	}
	return e;
}

static void rg_waiter_answer(struct rg_waiter *w, const struct rg_verdict *v,
    enum rg_answer_source src);

/* rg_engine_on_prober_error - the prober met a cache failure checking a limit. */
static void
rg_engine_on_prober_error(int status, const char *what, void *arg)
{
	rg_engine_cache_failed(arg, status, what);
}
static void rg_engine_pending(struct rg_verdict *v);
static void rg_engine_on_poll(const struct rg_tier_fetch *f, void *arg);
static void rg_engine_on_lease(enum rg_limit_status ls, int64_t wait_ms, void *arg);
static void rg_engine_submit(struct rg_waiter *w);
static void rg_engine_on_fetch(const struct rg_tier_fetch *f, void *arg);

/* rg_waiter_unlease - give back the lease w holds, here and in the fleet. */
static void
rg_waiter_unlease(struct rg_waiter *w)
{
	struct rg_store *c = rg_engine_store(w->w_engine);

	if (w->w_lease != 0 && c != NULL) {
		rg_store_lease_release(c, w->w_addr.a_key, w->w_lease, NULL);
		if (w->w_fleet_lease)
			rg_store_fleet_unlease(c, w->w_addr.a_key, w->w_lease);
	}
	w->w_lease = 0;
	w->w_fleet_lease = 0;
}

static void
rg_waiter_free(struct rg_waiter *w)
{
	struct rg_engine *e = w->w_engine;

	rg_tier_cancel(&w->w_req);
	rg_waiter_unlease(w);
	if (w->w_timer != NULL)
		event_free(w->w_timer);
	TAILQ_REMOVE(&e->e_waiters, w, w_link);
	e->e_nwaiters--;
	free(w);
}

void
rg_engine_free(struct rg_engine *e)
{
	struct rg_waiter *w;

	if (e == NULL)
		return;
	{
		struct rg_engine_counters c;
		rg_engine_counters(e, &c);
		rg_log_info("engine: lookups=%llu probes=%llu fail_mode=%llu over_caps=%llu",
		    (unsigned long long)c.ec_lookups, (unsigned long long)c.ec_probes,
		    (unsigned long long)c.ec_fail_mode, (unsigned long long)c.ec_overload);
	}
	if (e->e_maint != NULL)
		event_free(e->e_maint);
	if (e->e_retry != NULL)
		event_free(e->e_retry);
	rg_prober_free(e->e_prober);	/* no more prober callbacks after this */
	/* Whoever still waits is answered "in progress": cb runs exactly once. */
	while ((w = TAILQ_FIRST(&e->e_waiters)) != NULL) {
		if (!w->w_answered) {
			struct rg_verdict v;
			rg_engine_pending(&v);
			rg_waiter_answer(w, &v, RG_ANSWER_PENDING);
		}
		rg_waiter_free(w);
	}
	rg_store_close(e->e_store);
	rg_knowledge_free(e->e_know);
	rg_engine_metrics_fini(e);
	free(e);
}

void
rg_engine_wait_shared(struct rg_engine *e)
{
	if (rg_engine_store(e) != NULL)
		rg_store_flush(rg_engine_store(e), e->e_cfg.redis_connect_timeout);
}

int
rg_engine_busy(const struct rg_engine *e)
{
	return e->e_nwaiters;
}

int
rg_engine_cache_status(const struct rg_engine *e)
{
	return __atomic_load_n(&e->e_cache_status, __ATOMIC_RELAXED);
}

struct rg_store *
rg_engine_store(struct rg_engine *e)
{
	return __atomic_load_n(&e->e_store, __ATOMIC_ACQUIRE);
}

void
rg_engine_counters(const struct rg_engine *e, struct rg_engine_counters *out)
{
	out->ec_lookups = __atomic_load_n(&e->e_ctr.ec_lookups, __ATOMIC_RELAXED);
	out->ec_fail_mode = __atomic_load_n(&e->e_ctr.ec_fail_mode, __ATOMIC_RELAXED);
	out->ec_overload = __atomic_load_n(&e->e_ctr.ec_overload, __ATOMIC_RELAXED);
	out->ec_probes = __atomic_load_n(&e->e_ctr.ec_probes, __ATOMIC_RELAXED);
}

/* rg_waiter_answer - answer once; the waiter lives on while its probe runs. */
static void
rg_waiter_answer(struct rg_waiter *w, const struct rg_verdict *v, enum rg_answer_source src)
{
	struct rg_answer ans;

	if (w->w_answered)
		return;
	w->w_answered = 1;
	/* Every field is set: no need to clear the whole answer first. */
	rg_strlcpy(ans.an_address, w->w_addr.a_key, sizeof(ans.an_address));
	ans.an_detail[0] = '\0';
	ans.an_verdict = *v;
	if (rg_knowledge_role(w->w_engine->e_know, w->w_addr.a_local))
		ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	ans.an_elapsed_ms = w->w_start_ms != 0 ? rg_clock_mono_ms() - w->w_start_ms : 0;
	/* The wall clock now, without asking for it again. */
	ans.an_state = rg_verdict_state_at(v, w->w_start_time + ans.an_elapsed_ms / 1000);
	ans.an_source = src;
	/* A verdict read from the cache is good even while its writes fail. */
	ans.an_cache_status = src == RG_ANSWER_CACHE || src == RG_ANSWER_SHARED ? RG_CACHE_OK :
	    __atomic_load_n(&w->w_engine->e_cache_status, __ATOMIC_RELAXED);
	if (ans.an_cache_status < 0 && src != RG_ANSWER_STATIC) {
		rg_engine_count(&w->w_engine->e_ctr.ec_fail_mode);
		rg_metric_inc(w->w_engine->e_m.em_fail_mode, 0, 0);
	}
	rg_engine_count_answer(&w->w_engine->e_m, &ans, w->w_stamp);
	w->w_cb(&ans, w->w_arg);
}

static void
rg_waiter_maybe_free(struct rg_waiter *w)
{
	if (w->w_answered && !w->w_probing && !w->w_fetching && !w->w_leasing)
		rg_waiter_free(w);
}

/* rg_waiter_arm - the waiter's next tick: its deadline, or the next poll. */
static void
rg_waiter_arm(struct rg_waiter *w)
{
	int64_t left = w->w_deadline_ms - rg_clock_mono_ms();
	struct timeval tv;

	if (w->w_timer == NULL || w->w_answered)
		return;
	if (left < 0)
		left = 0;
	if (w->w_polling && left > RG_ENGINE_POLL_MS)
		left = RG_ENGINE_POLL_MS;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(w->w_timer, &tv);
}

/* rg_engine_pending - the verdict of a lookup whose budget ran out. */
static void
rg_engine_pending(struct rg_verdict *v)
{
	rg_verdict_make(v, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS, NULL, rg_clock_now(), 1);
}

/*
 * rg_engine_overload - a cap was reached: unknown/in_progress at once,
 * counted, and said at most once a minute.
 */
static void
rg_engine_overload(struct rg_waiter *w, const char *cap)
{
	struct rg_engine *e = w->w_engine;
	int64_t now = rg_clock_mono_ms();
	struct rg_verdict v;

	rg_engine_count(&e->e_ctr.ec_overload);
	rg_metric_inc(e->e_m.em_overload, 0, 0);
	if (now - e->e_overload_logged_ms >= RG_ENGINE_OVERLOAD_LOG_S * 1000) {
		uint64_t n = __atomic_load_n(&e->e_ctr.ec_overload, __ATOMIC_RELAXED);
		rg_log_warn("%s reached: recipients are answered unknown/in_progress at once and "
		    "not probed (%llu since the last report)", cap,
		    (unsigned long long)(n - e->e_overload_base));
		e->e_overload_logged_ms = now;
		e->e_overload_base = n;
	}
	rg_engine_pending(&v);
	rg_verdict_set_text(&v, "too many probes in flight", 25);
	rg_waiter_answer(w, &v, RG_ANSWER_PENDING);
}

/* rg_engine_static - answer a lookup decided without cache or network. */
static void
rg_engine_static(struct rg_waiter *w, enum rg_class c, enum rg_reason r, const char *text)
{
	struct rg_verdict v;

	rg_verdict_make(&v, c, r, text, rg_clock_now(), 86400);
	rg_waiter_answer(w, &v, RG_ANSWER_STATIC);
}

/*
 * rg_waiter_adopt - a lookup that must outlive rg_engine_lookup (a probe, a
 * refresh) moves from the stack to the heap and joins the engine's list.
 */
static struct rg_waiter *
rg_waiter_adopt(const struct rg_waiter *tmp)
{
	struct rg_engine *e = tmp->w_engine;
	struct rg_waiter *w = malloc(sizeof(*w));

	if (w == NULL)
		return NULL;
	*w = *tmp;
	/* Only a lookup that outlives the call needs the monotonic clock. */
	w->w_start_ms = rg_clock_mono_ms();
	w->w_deadline_ms += w->w_start_ms;
	TAILQ_INSERT_TAIL(&e->e_waiters, w, w_link);
	e->e_nwaiters++;
	return w;
}

static void
rg_engine_on_probe(const struct rg_address *addr, const struct rg_verdict *v, void *arg)
{
	struct rg_waiter *w = arg;

	(void)addr;
	w->w_probing = 0;
	rg_waiter_unlease(w);
	rg_waiter_answer(w, v, RG_ANSWER_PROBE);
	rg_waiter_maybe_free(w);
}

static void rg_engine_on_timer(evutil_socket_t fd, short what, void *arg);

/* rg_engine_on_poll - the fleet's answer to a poll: kept locally, then read as the tick's. */
static void
rg_engine_on_poll(const struct rg_tier_fetch *f, void *arg)
{
	struct rg_waiter *w = arg;
	struct rg_store *c = rg_engine_store(w->w_engine);
	struct rg_verdict v;

	w->w_fetching = 0;
	if (c != NULL)
		(void)rg_store_adopt(c, w->w_addr.a_key, w->w_addr.a_domain, f, &v);
	rg_engine_on_timer(-1, 0, w);
}

/*
 * rg_engine_on_timer - a waiter's poll or deadline: a newer cached verdict
 * answers, else in progress.
 */
static void
rg_engine_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_waiter *w = arg;
	struct rg_engine *e = w->w_engine;
	int64_t now_ms = rg_clock_mono_ms();
	struct rg_verdict v;
	/* The budget is over: a waiter that does not poll has only this timer. */
	int final = !w->w_polling || now_ms >= w->w_deadline_ms;

	(void)fd;
	(void)what;
	if (rg_engine_store(e) != NULL) {
		enum rg_verdict_state st;
		/*
		 * Another process probes, or ours left an interim verdict (greylisted,
		 * waiting for its re-probe): a verdict newer than this lookup answers,
		 * unless it is an interim one whose re-probe is due within the wait.
		 */
		if (rg_store_get(rg_engine_store(e), w->w_addr.a_key, &v, &st) == RG_CACHE_OK &&
		    st != RG_STATE_EXPIRED && v.v_checked_at >= w->w_start_time &&
		    (final || !rg_engine_retry_soon(rg_engine_store(e), &w->w_addr, &v,
		    rg_clock_now(), w->w_deadline_ms - now_ms))) {
			rg_waiter_answer(w, &v, RG_ANSWER_CACHE);
			rg_waiter_maybe_free(w);
			return;
		}
	}
	if (w->w_polling && rg_engine_store(e) != NULL) {
		if (!final) {
			/* Each tick asks the fleet once; its answer comes back here. */
			if (!w->w_polled && rg_store_fetch(rg_engine_store(e), w->w_addr.a_key,
			    w->w_addr.a_domain, rg_engine_on_poll, w, &w->w_req) == 0) {
				w->w_fetching = w->w_polled = 1;
				return;
			}
			w->w_polled = 0;
			rg_waiter_arm(w);
			return;
		}
	}
	rg_engine_pending(&v);
	rg_waiter_answer(w, &v, RG_ANSWER_PENDING);
	rg_waiter_maybe_free(w);
}

/* rg_engine_retry_pending - a durable re-probe of addr is scheduled (by any process). */
static int
rg_engine_retry_pending(struct rg_store *c, const struct rg_address *addr)
{
	struct rg_record_retry t;

	return rg_store_retry_get(c, addr->a_key, &t) == RG_CACHE_OK &&
	    t.rt_expires_at > rg_clock_now();
}

/*
 * rg_engine_retry_soon - v is an interim verdict (greylisted, throttled,
 * ...) whose re-probe is due within this lookup's wait: the lookup waits
 * for that verdict instead of answering the interim one.
 */
static int
rg_engine_retry_soon(struct rg_store *c, const struct rg_address *addr, const struct rg_verdict *v,
    int64_t now, int64_t wait_ms)
{
	struct rg_record_retry t;

	return wait_ms > 0 && rg_classify_retryable(v->v_class, v->v_reason) &&
	    rg_store_retry_get(c, addr->a_key, &t) == RG_CACHE_OK && t.rt_expires_at > now &&
	    t.rt_due <= now + (wait_ms + 999) / 1000;
}

/*
 * rg_engine_probe - start the probe under a lease, or poll for another
 * process's (or for a scheduled re-probe's verdict). Without a lease (the cache failed) or past a cap, the waiter
 * is answered at once and nothing is probed.
 */
static void
rg_engine_probe(struct rg_waiter *w, unsigned flags)
{
	struct rg_engine *e = w->w_engine;
	struct rg_store *c = rg_engine_store(e);
	struct rg_verdict v;
	enum rg_limit_status ls = RG_LIMIT_OK;
	int err = RG_CACHE_EIO;

	if (c != NULL && !(flags & RG_LOOKUP_NO_CACHE)) {
		ls = rg_store_lease_acquire(c, w->w_addr.a_key, e->e_cfg.lease_ttl, &w->w_lease, &err);
		if (ls == RG_LIMIT_FAILED) {
			w->w_lease = 0;
			rg_engine_cache_failed(e, err, "a probe lease");
			rg_engine_pending(&v);
			rg_waiter_answer(w, &v, RG_ANSWER_PENDING);	/* fail_mode */
			return;
		}
	}
	if (ls == RG_LIMIT_OK && w->w_lease != 0 && rg_engine_retry_pending(c, &w->w_addr)) {
		/* A re-probe is scheduled: it covers this lookup; wait for its verdict. */
		rg_store_lease_release(c, w->w_addr.a_key, w->w_lease, NULL);
		w->w_lease = 0;
		ls = RG_LIMIT_HELD;
	}
	if (ls == RG_LIMIT_HELD) {
		w->w_polling = 1;
		return;
	}
	/* The fleet's lease, when there is a fleet: its answer goes on in rg_engine_on_lease. */
	if (w->w_lease != 0 && rg_store_fleet_lease(c, w->w_addr.a_key, e->e_cfg.lease_ttl,
	    w->w_lease, rg_engine_on_lease, w, &w->w_req) == 0) {
		w->w_leasing = 1;
		return;
	}
	rg_engine_submit(w);
}

/*
 * rg_engine_on_lease - the fleet's lease: taken, or another host probes
 * (or owns the address's greylisting retry) and this one polls for the
 * verdict; without an answer, this host probes under its local lease.
 */
static void
rg_engine_on_lease(enum rg_limit_status ls, int64_t wait_ms, void *arg)
{
	struct rg_waiter *w = arg;

	(void)wait_ms;
	w->w_leasing = 0;
	if (ls == RG_LIMIT_HELD) {
		rg_waiter_unlease(w);
		if (w->w_answered) {	/* a background refresh: the other host refreshes it */
			rg_waiter_maybe_free(w);
			return;
		}
		w->w_polling = 1;
		rg_waiter_arm(w);
		return;
	}
	w->w_fleet_lease = ls == RG_LIMIT_OK;
	rg_engine_submit(w);
	rg_waiter_maybe_free(w);
}

/* rg_engine_submit - hand the recipient to the prober; past a cap it is answered at once. */
static void
rg_engine_submit(struct rg_waiter *w)
{
	struct rg_engine *e = w->w_engine;
	struct rg_verdict v;

	switch (rg_prober_submit(e->e_prober, &w->w_addr, rg_engine_on_probe, w)) {
	case RG_PROBER_QUEUED:
		w->w_probing = 1;
		rg_engine_count(&e->e_ctr.ec_probes);
		return;
	case RG_PROBER_FULL:
		rg_engine_overload(w, "max_probe_jobs or max_domain_jobs");
		break;
	case RG_PROBER_ENOMEM:
		rg_engine_pending(&v);
		rg_waiter_answer(w, &v, RG_ANSWER_PENDING);
		break;
	}
	rg_waiter_unlease(w);
}

/*
 * rg_engine_on_fetch - what the fleet knows of a local miss: a live
 * verdict answers (and a stale one is refreshed); a retry another instance
 * owns is waited for; otherwise, or without an answer, the probe.
 */
static void
rg_engine_on_fetch(const struct rg_tier_fetch *f, void *arg)
{
	struct rg_waiter *w = arg;
	struct rg_engine *e = w->w_engine;
	struct rg_store *c = rg_engine_store(e);
	struct rg_verdict v;

	w->w_fetching = 0;
	if (c != NULL && rg_store_adopt(c, w->w_addr.a_key, w->w_addr.a_domain, f, &v) ==
	    RG_CACHE_OK) {
		enum rg_verdict_state st = rg_verdict_state_at(&v, rg_clock_now());
		rg_waiter_answer(w, &v, RG_ANSWER_SHARED);
		if (st != RG_STATE_STALE) {
			rg_waiter_maybe_free(w);
			return;
		}
		/* A stale verdict answers, and is refreshed under the fleet's lease. */
	} else if (f->tf_retry_other && c != NULL) {
		w->w_polling = 1;
		rg_waiter_arm(w);
		if (w->w_answered)
			rg_waiter_maybe_free(w);
		return;
	}
	if (c == NULL || rg_engine_cache_status(e) < 0) {
		rg_engine_pending(&v);
		rg_waiter_answer(w, &v, RG_ANSWER_PENDING);
		rg_waiter_maybe_free(w);
		return;
	}
	rg_engine_probe(w, 0);
	if (w->w_polling && w->w_answered)
		w->w_polling = 0;
	if (w->w_polling)
		rg_waiter_arm(w);
	rg_waiter_maybe_free(w);
}

/* rg_engine_room - whether a lookup may wait and probe, or which cap says no. */
static const char *
rg_engine_room(struct rg_engine *e, const struct rg_address *addr)
{
	if (e->e_nwaiters >= e->e_cfg.max_waiters)
		return "max_waiters";
	if (rg_prober_room(e->e_prober, addr->a_domain) == RG_PROBER_FULL)
		return "max_probe_jobs or max_domain_jobs";
	return NULL;
}

int
rg_engine_room_for(struct rg_engine *e, const char *domain)
{
	return e->e_nwaiters < e->e_cfg.max_waiters &&
	    rg_prober_room(e->e_prober, domain) == RG_PROBER_QUEUED;
}

int
rg_engine_lookup(struct rg_engine *e, const char *input, size_t len, unsigned flags,
    int64_t wait_ms, rg_engine_cb cb, void *arg)
{
	struct rg_address_error ae;
	struct rg_waiter tmp, *w;
	struct rg_verdict v;
	unsigned opts = e->e_cfg.local_part_case == RG_LOCAL_CASE_INSENSITIVE ? RG_ADDR_O_FOLD_LOCAL : 0;
	int64_t now = rg_clock_now();
	struct rg_store *cache = rg_engine_store(e);
	const char *full;
	int looked;

	/*
	 * Most lookups end here, answered from what is known: they live on the
	 * stack and cost no allocation. Only a probe or a refresh is adopted.
	 */
	tmp.w_engine = e;
	tmp.w_cb = cb;
	tmp.w_arg = arg;
	tmp.w_timer = NULL;
	tmp.w_start_ms = 0;
	tmp.w_deadline_ms = wait_ms > 0 ? wait_ms : 0;
	tmp.w_start_time = now;
	tmp.w_stamp = rg_clock_stamp();
	tmp.w_answered = 0;
	tmp.w_probing = 0;
	tmp.w_polling = 0;
	tmp.w_fetching = 0;
	tmp.w_leasing = 0;
	tmp.w_polled = 0;
	tmp.w_fleet_lease = 0;
	tmp.w_lease = 0;
	tmp.w_req.rq_q = NULL;
	tmp.w_req.rq_call = NULL;

	/* 1. Syntax: nothing that fails here is ever probed. */
	if (rg_address_parse(input, len, opts, &tmp.w_addr, &ae) < 0) {
		struct rg_answer ans;
		memset(&ans, 0, sizeof(ans));
		rg_log_sanitize(ans.an_address, sizeof(ans.an_address), input,
		    len < RG_ADDR_MAILBOX_MAX ? len : RG_ADDR_MAILBOX_MAX);
		rg_verdict_make(&ans.an_verdict, RG_CLASS_UNDELIVERABLE, RG_REASON_BAD_SYNTAX,
		    ae.e_detail, now, 86400);
		ans.an_state = RG_STATE_FRESH;
		ans.an_source = RG_ANSWER_SYNTAX;
		ans.an_cache_status = __atomic_load_n(&e->e_cache_status, __ATOMIC_RELAXED);
		snprintf(ans.an_detail, sizeof(ans.an_detail), "%s at byte %zu", ae.e_detail,
		    ae.e_offset);
		rg_engine_count_answer(&e->e_m, &ans, tmp.w_stamp);
		cb(&ans, arg);
		return 0;
	}
	/* 2. Static knowledge: literals and dot-less domains are never probed. */
	if (tmp.w_addr.a_flags & RG_ADDR_F_LITERAL) {
		rg_engine_static(&tmp, RG_CLASS_UNKNOWN, RG_REASON_FORBIDDEN_ADDRESS,
		    "address literals are not probed");
		return 0;
	}
	if (tmp.w_addr.a_flags & RG_ADDR_F_NODOT) {
		rg_engine_static(&tmp, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_DOMAIN,
		    "a domain without a dot receives no mail from outside");
		return 0;
	}
	if (rg_knowledge_disposable(e->e_know, tmp.w_addr.a_domain)) {
		rg_engine_static(&tmp, RG_CLASS_RISKY, RG_REASON_DISPOSABLE, "a disposable address service");
		return 0;
	}
	/* 3. The cache: fresh answers; stale answers and refreshes. */
	if (!(flags & RG_LOOKUP_KNOWN_ONLY))
		rg_engine_count(&e->e_ctr.ec_lookups);
	looked = cache != NULL && !(flags & RG_LOOKUP_NO_CACHE);
	if (looked) {
		enum rg_verdict_state st = RG_STATE_EXPIRED;
		int rc = rg_store_get(cache, tmp.w_addr.a_key, &v, NULL);
		if (rc == RG_CACHE_OK)
			st = rg_verdict_state_at(&v, now);
		if (rc < 0 && (flags & RG_LOOKUP_KNOWN_ONLY))
			return 1;	/* the loop's lookup records and logs the failure */
		if (rc < 0) {
			rg_engine_cache_failed(e, rc, "a lookup");
			looked = 0;	/* an error, not a miss */
		} else if (rc == RG_CACHE_OK && st == RG_STATE_STALE && (flags & RG_LOOKUP_KNOWN_ONLY)) {
			return 1;	/* answered by the loop, which refreshes it */
		} else if (rc == RG_CACHE_OK && st != RG_STATE_EXPIRED &&
		    !rg_engine_retry_soon(cache, &tmp.w_addr, &v, now, wait_ms)) {
			rg_metric_inc(e->e_m.em_cache, st == RG_STATE_STALE ? RG_ENGINE_STALE :
			    RG_ENGINE_FRESH, 0);
			rg_waiter_answer(&tmp, &v, RG_ANSWER_CACHE);
			/*
			 * A background refresh, when it can probe; at a cap it waits for the next
			 * hit. The fleet may have refreshed it already (rg_engine_on_fetch).
			 */
			if (st == RG_STATE_STALE && rg_engine_cache_status(e) == RG_CACHE_OK &&
			    rg_engine_room(e, &tmp.w_addr) == NULL && (w = rg_waiter_adopt(&tmp)) != NULL) {
				if (rg_store_fetch(cache, w->w_addr.a_key, w->w_addr.a_domain,
				    rg_engine_on_fetch, w, &w->w_req) == 0) {
					w->w_fetching = 1;
					return 0;
				}
				rg_engine_probe(w, flags);
				w->w_polling = 0;	/* someone else refreshes it: nothing to wait for */
				rg_waiter_maybe_free(w);
			}
			return 0;
		}
	}
	/* 4. Probe, and wait at most the budget. */
	if (flags & RG_LOOKUP_KNOWN_ONLY)
		return 1;
	if (looked)
		rg_metric_inc(e->e_m.em_cache, RG_ENGINE_MISS, 0);
	if (cache == NULL || rg_engine_cache_status(e) < 0) {
		/* No probe without its limits, and they live in the cache: fail_mode. */
		rg_engine_pending(&v);
		rg_waiter_answer(&tmp, &v, RG_ANSWER_PENDING);
		return 0;
	}
	if ((full = rg_engine_room(e, &tmp.w_addr)) != NULL) {
		rg_engine_overload(&tmp, full);
		return 0;
	}
	if ((w = rg_waiter_adopt(&tmp)) == NULL)
		return -1;
	if ((w->w_timer = evtimer_new(e->e_base, rg_engine_on_timer, w)) == NULL) {
		rg_waiter_free(w);
		return -1;
	}
	/* A miss here may be a hit in the fleet: ask it first (rg_engine_on_fetch). */
	if (!(flags & RG_LOOKUP_NO_CACHE) && rg_store_fetch(cache, w->w_addr.a_key,
	    w->w_addr.a_domain, rg_engine_on_fetch, w, &w->w_req) == 0) {
		w->w_fetching = 1;
		rg_waiter_arm(w);
		return 0;
	}
	rg_engine_probe(w, flags);
	if (w->w_answered) {	/* no lease, or past a cap: answered already */
		rg_waiter_maybe_free(w);
		return 0;
	}
	{
		int64_t first = wait_ms > 0 ? wait_ms : 0;
		struct timeval tv;
		if (w->w_polling && first > RG_ENGINE_POLL_MS)
			first = RG_ENGINE_POLL_MS;
		tv.tv_sec = first / 1000;
		tv.tv_usec = (first % 1000) * 1000;
		evtimer_add(w->w_timer, &tv);
	}
	return 0;
}
