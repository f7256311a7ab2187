/*
 * test_metrics.c - the metrics registry: the exact text of a small
 * exposition (counters with two labels, a gauge, a histogram with its
 * cumulative buckets, escaping), promtool's verdict on it when promtool is
 * installed (it is in CI), counts from four threads that add up exactly,
 * and names that are refused.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rcptguard/metrics.h"

static const char *const actions[] = { "pass", "reject", "defer" };
static const char *const fronts[] = { "policyd", "milter" };
static const char *const odd[] = { "a\"b\\c\nd" };

static double
gauge_fn(void *arg, int i, int j)
{
	(void)j;
	return *(double *)arg + i;
}

static const char expected[] =
    "# HELP rcptguard_decisions_total Decisions by front-end and action.\n"
    "# TYPE rcptguard_decisions_total counter\n"
    "rcptguard_decisions_total{frontend=\"policyd\",action=\"pass\"} 0\n"
    "rcptguard_decisions_total{frontend=\"policyd\",action=\"reject\"} 3\n"
    "rcptguard_decisions_total{frontend=\"policyd\",action=\"defer\"} 0\n"
    "rcptguard_decisions_total{frontend=\"milter\",action=\"pass\"} 0\n"
    "rcptguard_decisions_total{frontend=\"milter\",action=\"reject\"} 0\n"
    "rcptguard_decisions_total{frontend=\"milter\",action=\"defer\"} 1\n"
    "# HELP rcptguard_probes_in_flight Probe jobs running, a line\\nbreak and a \\\\.\n"
    "# TYPE rcptguard_probes_in_flight gauge\n"
    "rcptguard_probes_in_flight{odd=\"a\\\"b\\\\c\\nd\"} 2.5\n"
    "# HELP rcptguard_lookup_seconds Lookup latency.\n"
    "# TYPE rcptguard_lookup_seconds histogram\n"
    "rcptguard_lookup_seconds_bucket{le=\"0.001\"} 1\n"
    "rcptguard_lookup_seconds_bucket{le=\"0.01\"} 2\n"
    "rcptguard_lookup_seconds_bucket{le=\"1\"} 2\n"
    "rcptguard_lookup_seconds_bucket{le=\"+Inf\"} 3\n"
    "rcptguard_lookup_seconds_sum 5.005500\n"
    "rcptguard_lookup_seconds_count 3\n";

static struct rg_metrics *
sample(void)
{
	static double g = 2.5;
	static const double bounds[] = { 0.001, 0.01, 1 };
	struct rg_metric_label front = { "frontend", fronts, 2 }, act = { "action", actions, 3 };
	struct rg_metric_label o = { "odd", odd, 1 };
	struct rg_metrics *m = rg_metrics_new();
	struct rg_metric *c, *h;

	assert_non_null(m);
	c = rg_metrics_counter(m, "rcptguard_decisions_total", "Decisions by front-end and action.",
	    &front, &act);
	assert_non_null(c);
	assert_non_null(rg_metrics_gauge(m, "rcptguard_probes_in_flight",
	    "Probe jobs running, a line\nbreak and a \\.", &o, NULL, gauge_fn, &g));
	h = rg_metrics_histogram(m, "rcptguard_lookup_seconds", "Lookup latency.", NULL, bounds, 3);
	assert_non_null(h);
	rg_metric_add(c, 0, 1, 2);
	rg_metric_inc(c, 0, 1);
	rg_metric_inc(c, 1, 2);
	rg_metric_inc(c, 2, 0);		/* out of range: ignored */
	rg_metric_inc(c, 0, -1);
	rg_metric_observe(h, 0, 0.0005);
	rg_metric_observe(h, 0, 0.005);
	rg_metric_observe(h, 0, 5);
	rg_metric_observe(h, 0, -1);	/* not an observation */
	rg_metric_observe(h, 1, 0.1);	/* no such series */
	return m;
}

static void
test_exposition_text(void **state)
{
	struct rg_metrics *m = sample();
	size_t len = 0;
	char *text = rg_metrics_render(m, &len);

	(void)state;
	assert_non_null(text);
	assert_string_equal(text, expected);
	assert_int_equal(len, strlen(expected));
	free(text);
	rg_metrics_free(m);
}

static void
test_promtool_accepts(void **state)
{
	struct rg_metrics *m = sample();
	char *text = rg_metrics_render(m, NULL), cmd[300], path[] = "/tmp/rg-metrics-XXXXXX";
	int fd, rc;

	(void)state;
	if (access("/usr/bin/promtool", X_OK) != 0) {
		free(text);
		rg_metrics_free(m);
		if (getenv("RG_REQUIRE_LAB") != NULL && strcmp(getenv("RG_REQUIRE_LAB"), "1") == 0)
			fail_msg("promtool is not installed (and RG_REQUIRE_LAB=1)");
		skip();
	}
	assert_true((fd = mkstemp(path)) >= 0);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	assert_int_equal(rc, 0);
	free(text);
	rg_metrics_free(m);
}

static struct rg_metric *shared;

static void *
adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++)
		rg_metric_inc(shared, 1, 0);
	return NULL;
}

static void
test_threads_add_up(void **state)
{
	struct rg_metric_label act = { "action", actions, 3 };
	struct rg_metrics *m = rg_metrics_new();
	pthread_t t[4];

	(void)state;
	shared = rg_metrics_counter(m, "rcptguard_x_total", "x", &act, NULL);
	assert_non_null(shared);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(rg_metric_value(shared, 1, 0), 400000);
	assert_int_equal(rg_metric_value(shared, 0, 0), 0);
	rg_metrics_free(m);
}

static void
test_bad_names_refused(void **state)
{
	static const double up[] = { 1, 0.5 };
	struct rg_metric_label bad = { "le-x", actions, 3 }, none = { "action", actions, 0 };
	struct rg_metrics *m = rg_metrics_new();
	char *text;

	(void)state;
	assert_null(rg_metrics_counter(m, "9lives_total", "x", NULL, NULL));
	assert_null(rg_metrics_counter(m, "a b_total", "x", NULL, NULL));
	assert_null(rg_metrics_counter(m, "ok_total", "x", &bad, NULL));
	assert_null(rg_metrics_counter(m, "ok_total", "x", &none, NULL));
	assert_null(rg_metrics_histogram(m, "h_seconds", "x", NULL, up, 2));
	rg_metric_inc(NULL, 0, 0);	/* a metric that could not be made: nothing happens */
	text = rg_metrics_render(m, NULL);
	assert_string_equal(text, "");
	free(text);
	rg_metrics_free(m);
}

static double
one_fn(void *arg, int i, int j)
{
	(void)arg;
	(void)i;
	(void)j;
	return 1;
}

static double
two_fn(void *arg, int i, int j)
{
	(void)arg;
	(void)i;
	(void)j;
	return 2;
}

/* A module made again (the engine after a reload) finds its families and keeps counting. */
static void
test_declared_again(void **state)
{
	static const double b1[] = { 0.1, 1 }, b2[] = { 0.1, 1, 10 };
	struct rg_metric_label act = { "action", actions, 3 }, fe = { "frontend", fronts, 2 };
	struct rg_metrics *m = rg_metrics_new();
	struct rg_metric *c1, *c2, *g, *h;
	int owner1, owner2;
	char *text;

	(void)state;
	c1 = rg_metrics_counter(m, "rcptguard_a_total", "a", &act, NULL);
	rg_metric_add(c1, 2, 0, 5);
	c2 = rg_metrics_counter(m, "rcptguard_a_total", "a", &act, NULL);
	assert_ptr_equal(c1, c2);
	assert_int_equal(rg_metric_value(c2, 2, 0), 5);
	/* Another shape or type under the same name is refused, not mixed up. */
	assert_null(rg_metrics_counter(m, "rcptguard_a_total", "a", &fe, NULL));
	assert_null(rg_metrics_gauge(m, "rcptguard_a_total", "a", &act, NULL, one_fn, NULL));
	h = rg_metrics_histogram(m, "rcptguard_h_seconds", "h", NULL, b1, 2);
	assert_ptr_equal(rg_metrics_histogram(m, "rcptguard_h_seconds", "h", NULL, b1, 2), h);
	assert_null(rg_metrics_histogram(m, "rcptguard_h_seconds", "h", NULL, b2, 3));

	/* A gauge follows its latest owner; an owner that goes leaves no sample. */
	g = rg_metrics_gauge(m, "rcptguard_g", "g", NULL, NULL, one_fn, &owner1);
	assert_ptr_equal(rg_metrics_gauge(m, "rcptguard_g", "g", NULL, NULL, two_fn, &owner2), g);
	text = rg_metrics_render(m, NULL);
	assert_non_null(strstr(text, "\nrcptguard_g 2\n"));
	free(text);
	rg_metrics_unbind(m, &owner1);	/* not its owner any more: nothing changes */
	text = rg_metrics_render(m, NULL);
	assert_non_null(strstr(text, "\nrcptguard_g 2\n"));
	free(text);
	rg_metrics_unbind(m, &owner2);
	text = rg_metrics_render(m, NULL);
	assert_null(strstr(text, "\nrcptguard_g "));
	assert_non_null(strstr(text, "# TYPE rcptguard_g gauge\n"));
	free(text);
	rg_metrics_free(m);
}

/* The process registry is one, made at first use. */
static void
test_process_registry(void **state)
{
	(void)state;
	assert_non_null(rg_metrics_process());
	assert_ptr_equal(rg_metrics_process(), rg_metrics_process());
	rg_metrics_process_free();
	assert_null(rg_metrics_process());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition_text),
		cmocka_unit_test(test_promtool_accepts),
		cmocka_unit_test(test_threads_add_up),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_declared_again),
		cmocka_unit_test(test_process_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
