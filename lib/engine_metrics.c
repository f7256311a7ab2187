/*
 * engine_metrics.c - what the engine counts: answers by source, verdicts
 * by class and reason, cache lookups by result, cache errors, fail_mode
 * answers, answers past the caps and the latency of a lookup; and, read
 * when scraped, the lookups waiting, whether the cache works, its map size
 * and use and its entries per database.
 *
 * Counters are atomic: the milter's threads answer cache hits themselves.
 * The gauges are read on the engine's loop, which serves the scrape.
 */
#include "rg_build.h"

#include <string.h>

#include "rcptguard/clock.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"
#include "rcptguard/verdict.h"

#include "engine_impl.h"

#define RG_ENGINE_USAGE_S	1.0	/* the cache's usage is read at most this often */

const char *const rg_engine_sources[RG_ENGINE_NSOURCES] = { "syntax", "static", "cache", "probe",
    "pending", "shared" };
static const char *const rg_engine_cache_results[] = { "fresh", "stale", "miss" };
static const char *const rg_engine_usage_kinds[] = { "size", "used", "max" };

static double
rg_engine_gauge_waiting(void *arg, int i, int j)
{
	(void)i;
	(void)j;
	return rg_engine_busy(arg);
}

static double
rg_engine_gauge_cache_up(void *arg, int i, int j)
{
	(void)i;
	(void)j;
	return rg_engine_cache_status(arg) == RG_CACHE_OK && rg_engine_store(arg) != NULL;
}

/* rg_engine_usage - the cache's usage, read again when older than a second. */
static const struct rg_cache_stats *
rg_engine_usage(struct rg_engine *e)
{
	struct rg_engine_metrics *em = rg_engine_metrics_of(e);
	struct rg_store *s = rg_engine_store(e);
	double now = rg_clock_stamp();

	if (s == NULL)
		return NULL;
	if (em->em_usage_at == 0 || now - em->em_usage_at >= RG_ENGINE_USAGE_S) {
		em->em_usage_rc = rg_cache_usage(rg_store_cache(s), &em->em_usage);
		em->em_usage_at = now;
	}
	return em->em_usage_rc == RG_CACHE_OK ? &em->em_usage : NULL;
}

static double
rg_engine_gauge_map(void *arg, int i, int j)
{
	const struct rg_cache_stats *st = rg_engine_usage(arg);

	(void)j;
	if (st == NULL)
		return 0;
	return (double)(i == 0 ? st->cs_map_size : i == 1 ? st->cs_used_bytes : st->cs_map_size_max);
}

static double
rg_engine_gauge_entries(void *arg, int i, int j)
{
	const struct rg_cache_stats *st = rg_engine_usage(arg);

	(void)j;
	return st != NULL ? (double)st->cs_entries[i] : 0;
}

void
rg_engine_metrics_init(struct rg_engine *e, struct rg_engine_metrics *em)
{
	static const double bounds[] = { 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01,
	    0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30 };
	struct rg_metrics *m = rg_metrics_process();
	const struct rg_metric_label src = { "source", rg_engine_sources, RG_ENGINE_NSOURCES };
	const struct rg_metric_label cls = { "class", rg_verdict_class_list(), RG_CLASS_COUNT };
	const struct rg_metric_label why = { "reason", rg_verdict_reason_list(), RG_REASON_COUNT };
	const struct rg_metric_label res = { "result", rg_engine_cache_results,
	    (int)RG_ARRAY_LEN(rg_engine_cache_results) };
	const struct rg_metric_label db = { "db", rg_cache_db_list(), RG_DB_COUNT };
	const struct rg_metric_label kind = { "kind", rg_engine_usage_kinds,
	    (int)RG_ARRAY_LEN(rg_engine_usage_kinds) };

	memset(em, 0, sizeof(*em));
	em->em_lookups = rg_metrics_counter(m, "rcptguard_lookups_total",
	    "Recipients looked up, by where the answer came from.", &src, NULL);
	em->em_verdicts = rg_metrics_counter(m, "rcptguard_verdicts_total",
	    "Verdicts answered to the front-ends, by class and reason.", &cls, &why);
	em->em_cache = rg_metrics_counter(m, "rcptguard_cache_lookups_total",
	    "Cache lookups by result: fresh and stale verdicts answer, a miss probes.", &res, NULL);
	em->em_cache_errors = rg_metrics_counter(m, "rcptguard_cache_errors_total",
	    "Cache operations that failed (reads, writes, leases, limits, sweeps).", NULL, NULL);
	em->em_fail_mode = rg_metrics_counter(m, "rcptguard_fail_mode_total",
	    "Recipients answered under fail_mode because the cache did not work.", NULL, NULL);
	em->em_overload = rg_metrics_counter(m, "rcptguard_overload_total",
	    "Recipients answered unknown at once past max_waiters or the prober's caps.", NULL, NULL);
	em->em_seconds = rg_metrics_histogram(m, "rcptguard_lookup_duration_seconds",
	    "Time from a lookup to its answer.", NULL, bounds, (int)RG_ARRAY_LEN(bounds));
	rg_metrics_gauge(m, "rcptguard_lookups_waiting",
	    "Lookups waiting for a probe or another process's verdict.", NULL, NULL,
	    rg_engine_gauge_waiting, e);
	rg_metrics_gauge(m, "rcptguard_cache_up", "1 when the verdict cache works, 0 under fail_mode.",
	    NULL, NULL, rg_engine_gauge_cache_up, e);
	rg_metrics_gauge(m, "rcptguard_cache_map_bytes",
	    "The cache's LMDB map: its size now, the pages in use, the most it may grow to.", &kind,
	    NULL, rg_engine_gauge_map, e);
	rg_metrics_gauge(m, "rcptguard_cache_entries", "Records per database of the cache.", &db,
	    NULL, rg_engine_gauge_entries, e);
}

void
rg_engine_metrics_fini(struct rg_engine *e)
{
	rg_metrics_unbind(rg_metrics_process(), e);
}

void
rg_engine_count_answer(struct rg_engine_metrics *em, const struct rg_answer *ans, double started)
{
	rg_metric_inc(em->em_lookups, (int)ans->an_source, 0);
	rg_metric_inc(em->em_verdicts, (int)ans->an_verdict.v_class, (int)ans->an_verdict.v_reason);
	rg_metric_observe(em->em_seconds, 0, rg_clock_stamp() - started);
}
