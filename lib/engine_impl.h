/*
 * engine_impl.h - the inside of the engine shared by its files: engine.c
 * (the lookup pipeline) and engine_metrics.c (what it counts). Nothing
 * outside the engine includes it.
 */
#ifndef RG_ENGINE_IMPL_H
#define RG_ENGINE_IMPL_H

#include "rcptguard/cache.h"
#include "rcptguard/engine.h"
#include "rcptguard/metrics.h"

/* The names of enum rg_answer_source, in order. */
#define RG_ENGINE_NSOURCES	(RG_ANSWER_SHARED + 1)
extern const char *const rg_engine_sources[RG_ENGINE_NSOURCES];

/* Cache results of a lookup, the label values of rcptguard_cache_lookups_total. */
enum rg_engine_cache_result { RG_ENGINE_FRESH, RG_ENGINE_STALE, RG_ENGINE_MISS };

struct rg_engine_metrics {
	struct rg_metric	*em_lookups;	/* by answer source */
	struct rg_metric	*em_verdicts;	/* by class and reason */
	struct rg_metric	*em_cache;	/* by fresh, stale, miss */
	struct rg_metric	*em_cache_errors;
	struct rg_metric	*em_fail_mode;
	struct rg_metric	*em_overload;
	struct rg_metric	*em_seconds;	/* lookup latency */
	struct rg_cache_stats	 em_usage;	/* read at most once a second for the gauges */
	double			 em_usage_at;
	int			 em_usage_rc;
};

/* rg_engine_metrics_of - e's metrics (engine.c), for the gauges bound to e. */
struct rg_engine_metrics *rg_engine_metrics_of(struct rg_engine *e);
/* rg_engine_metrics_init - declare (or find again) the families; bind the gauges to e. */
void rg_engine_metrics_init(struct rg_engine *e, struct rg_engine_metrics *em);
/* rg_engine_metrics_fini - the gauges bound to e render nothing from now on. */
void rg_engine_metrics_fini(struct rg_engine *e);
/* rg_engine_count_answer - one answer: its source, its verdict and its latency. */
void rg_engine_count_answer(struct rg_engine_metrics *em, const struct rg_answer *ans,
    double started);

#endif /* RG_ENGINE_IMPL_H */
