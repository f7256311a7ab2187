/*
 * metrics.c - counters, gauges and histograms, rendered in Prometheus'
 * text exposition format (version 0.0.4).
 *
 * Each family owns one array of 64-bit cells: a counter has one per pair
 * of label values; a histogram has, per value of its label, one per
 * bucket and +Inf (not cumulative: rendering adds them up, and the count
 * is their total), then the sum in microseconds. Updates are relaxed atomic adds: a scrape may see
 * one update and not another made at the same moment, never a torn value.
 *
 * A declaration finds the family of that name when it exists, so a module
 * made again (the engine after a reload) goes on counting the same series;
 * the registry's lock covers only declarations, bindings and rendering.
 */
#include "rg_build.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/metrics.h"
#include "rcptguard/util.h"

#define RG_METRIC_NAME_MAX	96
#define RG_METRIC_HELP_MAX	256
#define RG_METRIC_BOUNDS_MAX	24

enum rg_metric_type { RG_METRIC_COUNTER, RG_METRIC_GAUGE, RG_METRIC_HISTOGRAM };

struct rg_metric {
	struct rg_metric	*m_next;
	enum rg_metric_type	 m_type;
	char			 m_name[RG_METRIC_NAME_MAX];
	char			 m_help[RG_METRIC_HELP_MAX];
	struct rg_metric_label	 m_a, m_b;	/* l_n 0: no such label */
	int			 m_na, m_nb;	/* at least 1 */
	uint64_t		*m_cells;
	double			 m_bounds[RG_METRIC_BOUNDS_MAX];
	int			 m_nbounds;
	rg_metric_gauge_fn	 m_fn;
	void			*m_arg;
};

struct rg_metrics {
	pthread_mutex_t		 r_lock;
	struct rg_metric	*r_head, **r_tail;
};

/* A growing string for the rendering. */
struct rg_mbuf {
	char	*b;
	size_t	 len, cap;
	int	 failed;
};

static void __attribute__((format(printf, 2, 3)))
rg_mbuf_printf(struct rg_mbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (o->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(o->b + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = (o->cap + (size_t)n + 1) * 2;
			char *nb = realloc(o->b, cap);
			if (nb == NULL) {
				o->failed = 1;
				return;
			}
			o->b = nb;
			o->cap = cap;
		}
	}
}

struct rg_metrics *
rg_metrics_new(void)
{
	struct rg_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->r_lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	m->r_tail = &m->r_head;
	return m;
}

void
rg_metrics_free(struct rg_metrics *m)
{
	struct rg_metric *f, *next;

	if (m == NULL)
		return;
	for (f = m->r_head; f != NULL; f = next) {
		next = f->m_next;
		free(f->m_cells);
		free(f);
	}
	pthread_mutex_destroy(&m->r_lock);
	free(m);
}

static pthread_once_t rg_metrics_once = PTHREAD_ONCE_INIT;
static struct rg_metrics *rg_metrics_proc;

static void
rg_metrics_proc_init(void)
{
	rg_metrics_proc = rg_metrics_new();
}

struct rg_metrics *
rg_metrics_process(void)
{
	pthread_once(&rg_metrics_once, rg_metrics_proc_init);
	return rg_metrics_proc;
}

void
rg_metrics_process_free(void)
{
	pthread_once(&rg_metrics_once, rg_metrics_proc_init);
	rg_metrics_free(rg_metrics_proc);
	rg_metrics_proc = NULL;
}

/* rg_metrics_name_ok - Prometheus' metric and label name rules. */
static int
rg_metrics_name_ok(const char *s, int colon)
{
	if (s == NULL || *s == '\0' || strlen(s) >= RG_METRIC_NAME_MAX ||
	    (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return 0;
	return 1;
}

/* rg_metrics_family - a family's common part, linked in declaration order. */
static struct rg_metric *
rg_metrics_family(struct rg_metrics *m, enum rg_metric_type type, const char *name,
    const char *help, const struct rg_metric_label *a, const struct rg_metric_label *b,
    size_t cells_per_series)
{
	struct rg_metric *f;

	if (m == NULL || !rg_metrics_name_ok(name, 1) ||
	    (a != NULL && (!rg_metrics_name_ok(a->l_name, 0) || a->l_n < 1)) ||
	    (b != NULL && (a == NULL || !rg_metrics_name_ok(b->l_name, 0) || b->l_n < 1)))
		return NULL;
	for (f = m->r_head; f != NULL; f = f->m_next)
		if (strcmp(f->m_name, name) == 0)	/* declared before: the same shape or nothing */
			return f->m_type == type && f->m_na == (a != NULL ? a->l_n : 1) &&
			    f->m_nb == (b != NULL ? b->l_n : 1) ? f : NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->m_type = type;
	rg_strlcpy(f->m_name, name, sizeof(f->m_name));
	rg_strlcpy(f->m_help, help, sizeof(f->m_help));
	if (a != NULL)
		f->m_a = *a;
	if (b != NULL)
		f->m_b = *b;
	f->m_na = a != NULL ? a->l_n : 1;
	f->m_nb = b != NULL ? b->l_n : 1;
	if (cells_per_series > 0 &&
	    (f->m_cells = calloc((size_t)f->m_na * (size_t)f->m_nb * cells_per_series,
	    sizeof(uint64_t))) == NULL) {
		free(f);
		return NULL;
	}
	*m->r_tail = f;
	m->r_tail = &f->m_next;
	return f;
}

struct rg_metric *
rg_metrics_counter(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const struct rg_metric_label *b)
{
	struct rg_metric *f;

	if (m == NULL)
		return NULL;
	pthread_mutex_lock(&m->r_lock);
	f = rg_metrics_family(m, RG_METRIC_COUNTER, name, help, a, b, 1);
	pthread_mutex_unlock(&m->r_lock);
	return f;
}

struct rg_metric *
rg_metrics_gauge(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const struct rg_metric_label *b, rg_metric_gauge_fn fn,
    void *arg)
{
	struct rg_metric *f;

	if (m == NULL)
		return NULL;
	pthread_mutex_lock(&m->r_lock);
	if ((f = rg_metrics_family(m, RG_METRIC_GAUGE, name, help, a, b, 0)) != NULL) {
		f->m_fn = fn;
		f->m_arg = arg;
	}
	pthread_mutex_unlock(&m->r_lock);
	return f;
}

void
rg_metrics_unbind(struct rg_metrics *m, void *arg)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->r_lock);
	for (struct rg_metric *f = m->r_head; f != NULL; f = f->m_next)
		if (f->m_type == RG_METRIC_GAUGE && f->m_arg == arg)
			f->m_fn = NULL;
	pthread_mutex_unlock(&m->r_lock);
}

struct rg_metric *
rg_metrics_histogram(struct rg_metrics *m, const char *name, const char *help,
    const struct rg_metric_label *a, const double *bounds, int nbounds)
{
	struct rg_metric *f;

	if (m == NULL || nbounds < 1 || nbounds > RG_METRIC_BOUNDS_MAX)
		return NULL;
	for (int i = 1; i < nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	pthread_mutex_lock(&m->r_lock);
	/* Per series: a cell per bucket and +Inf, then the sum in microseconds. */
	if ((f = rg_metrics_family(m, RG_METRIC_HISTOGRAM, name, help, a, NULL,
	    (size_t)nbounds + 2)) != NULL && f->m_nbounds == 0) {
		memcpy(f->m_bounds, bounds, (size_t)nbounds * sizeof(*bounds));
		f->m_nbounds = nbounds;
	} else if (f != NULL && f->m_nbounds != nbounds)
		f = NULL;
	pthread_mutex_unlock(&m->r_lock);
	return f;
}

void
rg_metric_add(struct rg_metric *c, int i, int j, uint64_t n)
{
	if (c == NULL || c->m_type != RG_METRIC_COUNTER || i < 0 || i >= c->m_na || j < 0 ||
	    j >= c->m_nb)
		return;
	__atomic_fetch_add(&c->m_cells[i * c->m_nb + j], n, __ATOMIC_RELAXED);
}

uint64_t
rg_metric_value(const struct rg_metric *c, int i, int j)
{
	if (c == NULL || c->m_type != RG_METRIC_COUNTER || i < 0 || i >= c->m_na || j < 0 ||
	    j >= c->m_nb)
		return 0;
	return __atomic_load_n(&c->m_cells[i * c->m_nb + j], __ATOMIC_RELAXED);
}

void
rg_metric_observe(struct rg_metric *h, int i, double seconds)
{
	uint64_t *s;
	int b;

	if (h == NULL || h->m_type != RG_METRIC_HISTOGRAM || i < 0 || i >= h->m_na ||
	    !(seconds >= 0))	/* a NaN or a negative time is not an observation */
		return;
	s = &h->m_cells[(size_t)i * ((size_t)h->m_nbounds + 2)];
	for (b = 0; b < h->m_nbounds && seconds > h->m_bounds[b]; b++)
		;
	__atomic_fetch_add(&s[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s[h->m_nbounds + 1],
	    (uint64_t)(seconds < 1e12 ? seconds * 1e6 + 0.5 : 1e18), __ATOMIC_RELAXED);
}

/* rg_mbuf_escaped - a label value or help text, with \\, \" (values only) and \n escaped. */
static void
rg_mbuf_escaped(struct rg_mbuf *o, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			rg_mbuf_printf(o, "\\\\");
		else if (*s == '\n')
			rg_mbuf_printf(o, "\\n");
		else if (quote && *s == '"')
			rg_mbuf_printf(o, "\\\"");
		else
			rg_mbuf_printf(o, "%c", *s);
	}
}

/* rg_mbuf_labels - {a="x",b="y"} for the series (i, j), with an extra le= when given. */
static void
rg_mbuf_labels(struct rg_mbuf *o, const struct rg_metric *f, int i, int j, const char *le)
{
	int n = 0;

	if (f->m_a.l_n == 0 && le == NULL)
		return;
	rg_mbuf_printf(o, "{");
	if (f->m_a.l_n > 0) {
		rg_mbuf_printf(o, "%s=\"", f->m_a.l_name);
		rg_mbuf_escaped(o, f->m_a.l_values[i], 1);
		rg_mbuf_printf(o, "\"");
		n++;
	}
	if (f->m_b.l_n > 0) {
		rg_mbuf_printf(o, ",%s=\"", f->m_b.l_name);
		rg_mbuf_escaped(o, f->m_b.l_values[j], 1);
		rg_mbuf_printf(o, "\"");
	}
	if (le != NULL)
		rg_mbuf_printf(o, "%sle=\"%s\"", n > 0 ? "," : "", le);
	rg_mbuf_printf(o, "}");
}

static void
rg_mbuf_double(struct rg_mbuf *o, double v)
{
	if (isnan(v))
		rg_mbuf_printf(o, "NaN");
	else if (isinf(v))
		rg_mbuf_printf(o, v > 0 ? "+Inf" : "-Inf");
	else
		rg_mbuf_printf(o, "%.17g", v);
}

static void
rg_metrics_render_one(struct rg_mbuf *o, const struct rg_metric *f)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };

	rg_mbuf_printf(o, "# HELP %s ", f->m_name);
	rg_mbuf_escaped(o, f->m_help, 0);
	rg_mbuf_printf(o, "\n# TYPE %s %s\n", f->m_name, types[f->m_type]);
	for (int i = 0; i < f->m_na; i++) {
		for (int j = 0; j < f->m_nb; j++) {
			if (f->m_type == RG_METRIC_COUNTER) {
				rg_mbuf_printf(o, "%s", f->m_name);
				rg_mbuf_labels(o, f, i, j, NULL);
				rg_mbuf_printf(o, " %llu\n", (unsigned long long)rg_metric_value(f, i, j));
			} else if (f->m_type == RG_METRIC_GAUGE) {
				if (f->m_fn == NULL)	/* its owner is gone: no sample */
					continue;
				rg_mbuf_printf(o, "%s", f->m_name);
				rg_mbuf_labels(o, f, i, j, NULL);
				rg_mbuf_printf(o, " ");
				rg_mbuf_double(o, f->m_fn(f->m_arg, i, j));
				rg_mbuf_printf(o, "\n");
			} else {
				const uint64_t *s = &f->m_cells[(size_t)i * ((size_t)f->m_nbounds + 2)];
				uint64_t cum = 0, us;
				char le[40];

				for (int b = 0; b <= f->m_nbounds; b++) {
					cum += __atomic_load_n(&s[b], __ATOMIC_RELAXED);
					if (b < f->m_nbounds)
						snprintf(le, sizeof(le), "%g", f->m_bounds[b]);
					else
						rg_strlcpy(le, "+Inf", sizeof(le));
					rg_mbuf_printf(o, "%s_bucket", f->m_name);
					rg_mbuf_labels(o, f, i, j, le);
					rg_mbuf_printf(o, " %llu\n", (unsigned long long)cum);
				}
				/* The count is the +Inf bucket's, so the two never disagree in a scrape. */
				rg_mbuf_printf(o, "%s_sum", f->m_name);
				rg_mbuf_labels(o, f, i, j, NULL);
				us = __atomic_load_n(&s[f->m_nbounds + 1], __ATOMIC_RELAXED);
				/* Microseconds as exact decimal seconds. */
				rg_mbuf_printf(o, " %llu.%06llu\n%s_count", (unsigned long long)(us / 1000000),
				    (unsigned long long)(us % 1000000), f->m_name);
				rg_mbuf_labels(o, f, i, j, NULL);
				rg_mbuf_printf(o, " %llu\n", (unsigned long long)cum);
			}
		}
	}
}

char *
rg_metrics_render(struct rg_metrics *m, size_t *len)
{
	struct rg_mbuf o = { NULL, 0, 0, 0 };

	if ((o.b = malloc(o.cap = 4096)) == NULL)
		return NULL;
	o.b[0] = '\0';
	if (m != NULL) {
		pthread_mutex_lock(&m->r_lock);
		for (const struct rg_metric *f = m->r_head; f != NULL; f = f->m_next)
			rg_metrics_render_one(&o, f);
		pthread_mutex_unlock(&m->r_lock);
	}
	if (o.failed) {
		free(o.b);
		return NULL;
	}
	if (len != NULL)
		*len = o.len;
	return o.b;
}
