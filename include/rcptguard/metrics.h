/*
 * metrics.h - what a daemon counts, in Prometheus' text exposition format.
 *
 * A registry holds families declared once at start: counters, gauges and
 * histograms, each with at most two labels whose values are fixed lists
 * given at declaration (classes, reasons, actions, outcomes: never an
 * address or a domain), so the number of series is known and small.
 * Counters and histogram buckets are updated atomically (the milter counts
 * from many threads) and never take a lock; gauges are read at render time
 * through a callback, on the thread that renders.
 *
 * Declaring a name that exists returns that family when it has the same
 * type and shape (NULL otherwise), so modules made again after a reload
 * keep their series; a gauge declared again is bound to the new callback.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct rg_metrics;
struct rg_metric;

/* One label of a family: its name and the values it may take. */
struct rg_metric_label {
	const char		*l_name;
	const char *const	*l_values;
	int			 l_n;
};

/* rg_metric_gauge_fn - a gauge's value for the label indexes i, j. */
typedef double (*rg_metric_gauge_fn)(void *arg, int i, int j);

/* rg_metrics_new - an empty registry; NULL when out of memory. */
struct rg_metrics *rg_metrics_new(void);
void rg_metrics_free(struct rg_metrics *m);

/*
 * rg_metrics_process - the registry of this process, made at first use,
 * where the modules of a daemon declare what they count;
 * rg_metrics_process_free frees it at exit (nothing may count after).
 */
struct rg_metrics *rg_metrics_process(void);
void rg_metrics_process_free(void);

/*
 * Declarations; a and b may be NULL (fewer labels). Names must follow
 * Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]*), counters end in _total.
 * NULL when out of memory or when the name is not valid (a programming
 * error: the callers' names are constants); the update functions accept
 * NULL and do nothing, so a daemon never fails for want of a metric.
 */
struct rg_metric *rg_metrics_counter(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const struct rg_metric_label *b);
struct rg_metric *rg_metrics_gauge(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const struct rg_metric_label *b, rg_metric_gauge_fn fn,
    void *arg);
/* rg_metrics_unbind - gauges bound to arg render no sample until declared again. */
void rg_metrics_unbind(struct rg_metrics *m, void *arg);
/* Histograms: seconds, with ascending upper bounds (+Inf is added). */
struct rg_metric *rg_metrics_histogram(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const double *bounds, int nbounds);

/* rg_metric_add - counter (i, j) += n; out-of-range indexes are ignored. */
void rg_metric_add(struct rg_metric *c, int i, int j, uint64_t n);
static inline void
rg_metric_inc(struct rg_metric *c, int i, int j)
{
	rg_metric_add(c, i, j, 1);
}
/* rg_metric_observe - one observation of seconds in histogram series i. */
void rg_metric_observe(struct rg_metric *h, int i, double seconds);
/* rg_metric_value - a counter's value (tests, `rcptguard stats`). */
uint64_t rg_metric_value(const struct rg_metric *c, int i, int j);

/* rg_metrics_render - the whole exposition as one string (caller frees); NULL: no memory. */
char *rg_metrics_render(struct rg_metrics *m, size_t *len);

#endif /* RG_METRICS_H */
