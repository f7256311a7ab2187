/*
 * cmd_stats.c - "stats": the cache and the counters of the running daemons.
 *
 *   rcptguard [-c FILE] stats [--json] [--timeout D]
 *   rcptguard [-c FILE] stats --watch [--interval D] [--count N]
 *
 * The cache's statistics are those of `cache stats`; each daemon's come
 * from its metrics endpoint, metrics_listen of [policyd] and of [milter]
 * (metrics_read.c), and those of `rcptguard learn --follow` from
 * metrics_listen of [learn] when it is set. --watch redraws a compact view every interval: the
 * rates over the last interval of decisions by action and of probe
 * verdicts by class, the cache's hit ratio over it and the domains
 * cooling down; on a terminal the screen is redrawn, otherwise one block
 * is printed per interval. Exit 0 when everything asked answered, 1 when a
 * configured daemon did not (the rest is still shown), 3 when the cache
 * cannot be read.
 */
#include "rg_build.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "metrics_read.h"
#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/config.h"
#include "rcptguard/dns.h"
#include "rcptguard/engine.h"
#include "rcptguard/learn.h"
#include "rcptguard/policy.h"
#include "rcptguard/util.h"

#define CLI_STATS_USAGE	"usage: stats [--json] [--timeout D] | stats --watch [--interval D] [--count N]"

#define CLI_STATS_NSOURCES	(RG_ANSWER_SHARED + 1)
#define CLI_STATS_NDNS		(RG_DNS_TEMPFAIL + 1)

/* Label values, named by the modules that count them (cli_stats_names). */
static const char *cli_stats_actions[RG_ACTION_COUNT];
static const char *cli_stats_sources[CLI_STATS_NSOURCES];
static const char *cli_stats_dns[CLI_STATS_NDNS];
static const char *const *cli_stats_classes;
/* The engine's cache results (engine_metrics.c). */
static const char *const cli_stats_results[] = { "fresh", "stale", "miss" };
/* Answers as shown: the common ones first. */
static const enum rg_answer_source cli_stats_source_order[CLI_STATS_NSOURCES] = {
	RG_ANSWER_CACHE, RG_ANSWER_SHARED, RG_ANSWER_PROBE, RG_ANSWER_PENDING, RG_ANSWER_SYNTAX,
	RG_ANSWER_STATIC,
};

static void
cli_stats_names(void)
{
	for (int i = 0; i < RG_ACTION_COUNT; i++)
		cli_stats_actions[i] = rg_policy_action_name((enum rg_action)i);
	for (int i = 0; i < CLI_STATS_NSOURCES; i++)
		cli_stats_sources[i] = rg_engine_source_name(cli_stats_source_order[i]);
	for (int i = 0; i < CLI_STATS_NDNS; i++)
		cli_stats_dns[i] = rg_dns_status_name((enum rg_dns_status)i);
	cli_stats_classes = rg_verdict_class_list();
}

struct cli_stats_daemon {
	const char		*d_name;	/* "policyd", "milter" */
	const char		*d_spec;	/* metrics_listen; "" when not set */
	int			 d_up;
	char			 d_err[512];
	struct cli_samples	 d_s;
};

/* cli_stats_sum - the total of every series that starts with prefix. */
static double
cli_stats_sum(const struct cli_samples *ss, const char *prefix)
{
	size_t n = strlen(prefix);
	double t = 0;

	for (size_t i = 0; i < ss->ss_n; i++)
		if (strncmp(ss->ss_v[i].s_series, prefix, n) == 0)
			t += ss->ss_v[i].s_value;
	return t;
}

/* cli_stats_labelled - the total of family's series whose label has value. */
static double
cli_stats_labelled(const struct cli_samples *ss, const char *family, const char *label,
    const char *value)
{
	char prefix[160], key[200];
	double t;

	/* The label is first ("{label=...") or follows another ("...,label=..."). */
	snprintf(prefix, sizeof(prefix), "%s{%s=\"%s\"", family, label, value);
	t = cli_stats_sum(ss, prefix);
	snprintf(key, sizeof(key), ",%s=\"%s\"", label, value);
	for (size_t i = 0; i < ss->ss_n; i++) {
		const char *s = ss->ss_v[i].s_series;
		size_t fl = strlen(family);
		if (strncmp(s, family, fl) == 0 && s[fl] == '{' && strstr(s + fl, key) != NULL)
			t += ss->ss_v[i].s_value;
	}
	return t;
}

/* The figures a view shows, from one reading. */
struct cli_stats_view {
	double	v_decisions[RG_ACTION_COUNT], v_classes[RG_CLASS_COUNT];
	double	v_sources[CLI_STATS_NSOURCES], v_results[3], v_dns[CLI_STATS_NDNS];
	double	v_cache_errors, v_fail_mode, v_overload, v_sessions, v_rcpts;
	double	v_connections, v_waiting, v_in_flight, v_queued, v_retries, v_cooling, v_cache_up;
};

static void
cli_stats_view(const struct cli_samples *ss, struct cli_stats_view *v)
{
	for (int i = 0; i < RG_ACTION_COUNT; i++)
		v->v_decisions[i] = cli_stats_labelled(ss, "rcptguard_decisions_total", "action",
		    cli_stats_actions[i]);
	for (int i = 0; i < RG_CLASS_COUNT; i++)
		v->v_classes[i] = cli_stats_labelled(ss, "rcptguard_probes_total", "class",
		    cli_stats_classes[i]);
	for (int i = 0; i < CLI_STATS_NSOURCES; i++)
		v->v_sources[i] = cli_stats_labelled(ss, "rcptguard_lookups_total", "source",
		    cli_stats_sources[i]);
	for (int i = 0; i < CLI_STATS_NDNS; i++)
		v->v_dns[i] = cli_stats_labelled(ss, "rcptguard_dns_lookups_total", "result",
		    cli_stats_dns[i]);
	for (int i = 0; i < 3; i++)
		v->v_results[i] = cli_stats_labelled(ss, "rcptguard_cache_lookups_total", "result",
		    cli_stats_results[i]);
	v->v_cache_errors = cli_metrics_get(ss, "rcptguard_cache_errors_total", 0);
	v->v_fail_mode = cli_metrics_get(ss, "rcptguard_fail_mode_total", 0);
	v->v_overload = cli_metrics_get(ss, "rcptguard_overload_total", 0);
	v->v_sessions = cli_stats_sum(ss, "rcptguard_probe_sessions_total{");
	v->v_rcpts = cli_metrics_get(ss, "rcptguard_probe_rcpts_total", 0);
	v->v_connections = cli_metrics_get(ss, "rcptguard_connections", 0);
	v->v_waiting = cli_metrics_get(ss, "rcptguard_lookups_waiting", 0);
	v->v_in_flight = cli_metrics_get(ss, "rcptguard_probe_jobs{state=\"session\"}", 0);
	v->v_queued = cli_stats_sum(ss, "rcptguard_probe_jobs{") - v->v_in_flight;
	v->v_retries = cli_metrics_get(ss, "rcptguard_probe_retries_pending", 0);
	v->v_cooling = cli_metrics_get(ss, "rcptguard_domains_cooling", 0);
	v->v_cache_up = cli_metrics_get(ss, "rcptguard_cache_up", 0);
}

/* cli_stats_version - the version label of rcptguard_build_info, into buf. */
static const char *
cli_stats_version(const struct cli_samples *ss, char *buf, size_t size)
{
	static const char pre[] = "rcptguard_build_info{version=\"";

	rg_strlcpy(buf, "?", size);
	for (size_t i = 0; i < ss->ss_n; i++) {
		const char *s = ss->ss_v[i].s_series;
		if (strncmp(s, pre, sizeof(pre) - 1) == 0) {
			size_t n = strcspn(s + sizeof(pre) - 1, "\"");
			char tmp[64];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)n, s + sizeof(pre) - 1);
			cli_printable(tmp, buf, size);
		}
	}
	return buf;
}

static void
cli_stats_fetch(struct cli_stats_daemon *d, int timeout_ms)
{
	cli_samples_free(&d->d_s);
	d->d_up = 0;
	if (d->d_spec[0] == '\0') {
		snprintf(d->d_err, sizeof(d->d_err), "metrics_listen is not set in [%s]", d->d_name);
		return;
	}
	d->d_up = cli_metrics_fetch(d->d_spec, timeout_ms, &d->d_s, d->d_err, sizeof(d->d_err)) == 0;
}

static double
cli_stats_ratio(const struct cli_stats_view *v)
{
	double hits = v->v_results[0] + v->v_results[1], all = hits + v->v_results[2];

	return all > 0 ? 100.0 * hits / all : -1;
}

static void
cli_stats_print_daemon(const struct cli_stats_daemon *d)
{
	struct cli_stats_view v;
	char ver[64], ratio[16];
	double r;

	if (!d->d_up) {
		printf("%-10s %s\n", d->d_name, d->d_err);
		return;
	}
	cli_stats_view(&d->d_s, &v);
	r = cli_stats_ratio(&v);
	if (r < 0)
		rg_strlcpy(ratio, "-", sizeof(ratio));
	else
		snprintf(ratio, sizeof(ratio), "%.1f%%", r);
	printf("%-10s http://%s/metrics, version %s\n", d->d_name, d->d_spec + 5,
	    cli_stats_version(&d->d_s, ver, sizeof(ver)));
	printf("  decisions  pass %.0f  tag %.0f  defer %.0f  reject %.0f\n", v.v_decisions[0],
	    v.v_decisions[1], v.v_decisions[2], v.v_decisions[3]);
	printf("  answers    cache %.0f  probe %.0f  pending %.0f  syntax %.0f  static %.0f\n",
	    v.v_sources[0], v.v_sources[1], v.v_sources[2], v.v_sources[3], v.v_sources[4]);
	printf("  cache      fresh %.0f  stale %.0f  miss %.0f  hit ratio %s  errors %.0f  %s\n",
	    v.v_results[0], v.v_results[1], v.v_results[2], ratio, v.v_cache_errors,
	    v.v_cache_up > 0 ? "working" : "NOT WORKING (fail_mode)");
	printf("  probes     deliverable %.0f  undeliverable %.0f  risky %.0f  unknown %.0f"
	    "  sessions %.0f  rcpts %.0f\n", v.v_classes[0], v.v_classes[1], v.v_classes[2],
	    v.v_classes[3], v.v_sessions, v.v_rcpts);
	printf("  dns        ok %.0f  nxdomain %.0f  null_mx %.0f  no_host %.0f  tempfail %.0f\n",
	    v.v_dns[0], v.v_dns[1], v.v_dns[2], v.v_dns[3], v.v_dns[4]);
	printf("  now        connections %.0f  waiting %.0f  probing %.0f  queued %.0f  retries %.0f"
	    "  cooling %.0f\n", v.v_connections, v.v_waiting, v.v_in_flight, v.v_queued,
	    v.v_retries, v.v_cooling);
	printf("  fail_mode  %.0f  over caps %.0f\n", v.v_fail_mode, v.v_overload);
}

static json_t *
cli_stats_json_names(const char *const *names, const double *vals, int n)
{
	json_t *o = json_object();

	for (int i = 0; i < n; i++)
		json_object_set_new(o, names[i], json_integer((json_int_t)vals[i]));
	return o;
}

static json_t *
cli_stats_json_daemon(const struct cli_stats_daemon *d)
{
	json_t *o = json_object(), *raw;
	struct cli_stats_view v;
	char ver[64];
	double r;

	json_object_set_new(o, "endpoint", d->d_spec[0] ? json_string(d->d_spec) : json_null());
	json_object_set_new(o, "up", json_boolean(d->d_up));
	if (!d->d_up) {
		json_object_set_new(o, "error", cli_json_string(d->d_err));
		return o;
	}
	cli_stats_view(&d->d_s, &v);
	json_object_set_new(o, "version", cli_json_string(cli_stats_version(&d->d_s, ver,
	    sizeof(ver))));
	json_object_set_new(o, "decisions", cli_stats_json_names(cli_stats_actions, v.v_decisions,
	    RG_ACTION_COUNT));
	json_object_set_new(o, "answers", cli_stats_json_names(cli_stats_sources, v.v_sources,
	    CLI_STATS_NSOURCES));
	json_object_set_new(o, "cache_lookups", cli_stats_json_names(cli_stats_results, v.v_results,
	    3));
	r = cli_stats_ratio(&v);
	json_object_set_new(o, "cache_hit_ratio", r < 0 ? json_null() : json_real(r / 100.0));
	json_object_set_new(o, "cache_errors", json_integer((json_int_t)v.v_cache_errors));
	json_object_set_new(o, "cache_working", json_boolean(v.v_cache_up > 0));
	json_object_set_new(o, "probes", cli_stats_json_names(cli_stats_classes, v.v_classes,
	    RG_CLASS_COUNT));
	json_object_set_new(o, "probe_sessions", json_integer((json_int_t)v.v_sessions));
	json_object_set_new(o, "probe_rcpts", json_integer((json_int_t)v.v_rcpts));
	json_object_set_new(o, "dns", cli_stats_json_names(cli_stats_dns, v.v_dns, CLI_STATS_NDNS));
	json_object_set_new(o, "fail_mode", json_integer((json_int_t)v.v_fail_mode));
	json_object_set_new(o, "over_caps", json_integer((json_int_t)v.v_overload));
	json_object_set_new(o, "connections", json_integer((json_int_t)v.v_connections));
	json_object_set_new(o, "lookups_waiting", json_integer((json_int_t)v.v_waiting));
	json_object_set_new(o, "probes_in_flight", json_integer((json_int_t)v.v_in_flight));
	json_object_set_new(o, "probes_queued", json_integer((json_int_t)v.v_queued));
	json_object_set_new(o, "retries_pending", json_integer((json_int_t)v.v_retries));
	json_object_set_new(o, "domains_cooling", json_integer((json_int_t)v.v_cooling));
	/* Every sample, for what the summary leaves out. */
	raw = json_object();
	for (size_t i = 0; i < d->d_s.ss_n; i++)
		json_object_set_new(raw, d->d_s.ss_v[i].s_series, json_real(d->d_s.ss_v[i].s_value));
	json_object_set_new(o, "metrics", raw);
	return o;
}

/*
 * cli_stats_learn - learn --follow's counters: verdicts learned by outcome
 * and lines read, into o (JSON) or printed. Only when [learn]
 * metrics_listen is set; 0, or -1 when it did not answer.
 */
static int
cli_stats_learn(struct cli_ctx *ctx, int timeout_ms, json_t *o)
{
	struct cli_stats_daemon d = { .d_name = "learn", .d_spec = ctx->cfg.learn_metrics_listen };
	const char *const *names = rg_learn_outcome_list();
	double v[RG_LEARN_OUTCOME_COUNT], lines;

	if (d.d_spec[0] == '\0')
		return 0;
	cli_stats_fetch(&d, timeout_ms);
	for (int i = 0; i < RG_LEARN_OUTCOME_COUNT && d.d_up; i++)
		v[i] = cli_stats_labelled(&d.d_s, "rcptguard_learned_total", "outcome", names[i]);
	lines = d.d_up ? cli_metrics_get(&d.d_s, "rcptguard_learn_lines_total", 0) : 0;
	if (o != NULL) {
		json_t *l = json_object();
		json_object_set_new(l, "endpoint", json_string(d.d_spec));
		json_object_set_new(l, "up", json_boolean(d.d_up));
		if (d.d_up) {
			json_object_set_new(l, "learned", cli_stats_json_names(names, v,
			    RG_LEARN_OUTCOME_COUNT));
			json_object_set_new(l, "lines", json_integer((json_int_t)lines));
		} else {
			json_object_set_new(l, "error", cli_json_string(d.d_err));
		}
		json_object_set_new(o, "learn", l);
	} else if (!d.d_up) {
		printf("%-10s %s\n", d.d_name, d.d_err);
	} else {
		printf("%-10s http://%s/metrics\n  learned   ", d.d_name, d.d_spec + 5);
		for (int i = 0; i < RG_LEARN_OUTCOME_COUNT; i++)
			printf(" %s %.0f", names[i], v[i]);
		printf("  lines %.0f\n", lines);
	}
	cli_samples_free(&d.d_s);
	return d.d_up ? 0 : -1;
}

/* cli_stats_rate - per second over dt; "-" before the second reading. */
static void
cli_stats_rate(char *buf, size_t size, double now, double before, double dt)
{
	if (dt <= 0)
		rg_strlcpy(buf, "-", size);
	else
		snprintf(buf, size, "%.1f", (now - before) / dt);
}

/* cli_stats_watch_line - one daemon's line of the live view. */
static void
cli_stats_watch_line(const struct cli_stats_daemon *d, const struct cli_stats_view *now,
    const struct cli_stats_view *before, double dt)
{
	char col[8][24], ratio[16];
	double hits, all;

	if (!d->d_up) {
		printf("%-8s %s\n", d->d_name, d->d_err);
		return;
	}
	for (int i = 0; i < 4; i++) {
		cli_stats_rate(col[i], sizeof(col[i]), now->v_decisions[i], before->v_decisions[i], dt);
		cli_stats_rate(col[4 + i], sizeof(col[4 + i]), now->v_classes[i], before->v_classes[i],
		    dt);
	}
	hits = now->v_results[0] + now->v_results[1] - before->v_results[0] - before->v_results[1];
	all = hits + now->v_results[2] - before->v_results[2];
	if (dt <= 0 || all <= 0)
		rg_strlcpy(ratio, "-", sizeof(ratio));
	else
		snprintf(ratio, sizeof(ratio), "%.1f%%", 100.0 * hits / all);
	printf("%-8s %7s %7s %7s %7s  %7s  %7s %7s %7s %7s  %7.0f\n", d->d_name, col[0], col[1],
	    col[2], col[3], ratio, col[4], col[5], col[6], col[7], now->v_cooling);
}

static int
cli_stats_watch(struct cli_stats_daemon *ds, int nd, int64_t interval_ms, long count)
{
	struct cli_stats_view before[2], now[2];
	double at[2] = { 0, 0 }, prev[2] = { 0, 0 };
	int tty = isatty(STDOUT_FILENO);

	memset(before, 0, sizeof(before));
	for (long k = 0; count == 0 || k < count; k++) {
		char clock[16];
		time_t t = time(NULL);
		struct tm tm;

		for (int i = 0; i < nd; i++) {
			cli_stats_fetch(&ds[i], (int)(interval_ms < 2000 ? 2000 : interval_ms));
			prev[i] = at[i];
			at[i] = rg_clock_stamp();
			if (ds[i].d_up)
				cli_stats_view(&ds[i].d_s, &now[i]);
			else
				prev[i] = at[i] = 0;	/* rates start again when it is back */
		}
		localtime_r(&t, &tm);
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
		if (tty)
			printf("\033[H\033[2J");
		printf("rcptguard stats  %s  every %.1fs\n", clock, (double)interval_ms / 1000);
		printf("%-8s %31s  %7s  %31s  %7s\n", "", "decisions/s", "cache", "probe verdicts/s",
		    "domains");
		printf("%-8s %7s %7s %7s %7s  %7s  %7s %7s %7s %7s  %7s\n", "", "pass", "tag", "defer",
		    "reject", "hits", "deliv", "undeliv", "risky", "unknown", "cooling");
		for (int i = 0; i < nd; i++) {
			cli_stats_watch_line(&ds[i], &now[i], &before[i], prev[i] > 0 ? at[i] - prev[i] : 0);
			if (ds[i].d_up)
				before[i] = now[i];
		}
		if (!tty)
			printf("\n");
		fflush(stdout);
		if (count != 0 && k + 1 >= count)
			break;
		{
			struct timespec ts = { (time_t)(interval_ms / 1000),
			    (long)(interval_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) < 0)
				;
		}
	}
	return CLI_EXIT_OK;
}

/* cli_stats_duration_ms - "0.5" (seconds), "2s", "1m": milliseconds, or -1. */
static int64_t
cli_stats_duration_ms(const char *s)
{
	char *end;
	double sec = strtod(s, &end);
	int64_t d;

	if (end != s && *end == '\0')
		return sec > 0 && sec <= 86400 ? (int64_t)(sec * 1000) : -1;
	return rg_parse_duration(s, &d) == 0 && d > 0 && d <= 86400 ? d * 1000 : -1;
}

int
cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_stats_daemon ds[2] = {
		{ .d_name = "policyd", .d_spec = ctx->cfg.metrics_listen },
		{ .d_name = "milter", .d_spec = ctx->cfg.milter_metrics_listen },
	};
	int64_t interval = 1000, timeout = 5000, dur;
	long count = 0;
	int watch = 0, c, rc = CLI_EXIT_OK, cache_ok = 0;
	struct rg_cache_stats st;
	char *end;

	cli_stats_names();
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctx->json = 1;
			break;
		case 'w':
			watch = 1;
			break;
		case 'i':
		case 't':
			if ((dur = cli_stats_duration_ms(optarg)) <= 0) {
				cli_error("stats: --%s: \"%s\" is not a duration", c == 'i' ? "interval" :
				    "timeout", optarg);
				return CLI_EXIT_USAGE;
			}
			*(c == 'i' ? &interval : &timeout) = dur;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count <= 0) {
				cli_error("stats: --count: \"%s\" is not a positive number", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		default:
			cli_error(CLI_STATS_USAGE);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || (watch && ctx->json)) {
		cli_error(CLI_STATS_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (watch) {
		rc = cli_stats_watch(ds, 2, interval, count);
		cli_samples_free(&ds[0].d_s);
		cli_samples_free(&ds[1].d_s);
		return rc;
	}
	if (cli_state(ctx) == 0 && cli_cache_stats_read(ctx, &st) == 0)
		cache_ok = 1;
	for (int i = 0; i < 2; i++) {
		cli_stats_fetch(&ds[i], (int)timeout);
		if (ds[i].d_spec[0] != '\0' && !ds[i].d_up)
			rc = CLI_EXIT_NOTFOUND;
	}
	if (ctx->json) {
		json_t *o = json_object();
		json_object_set_new(o, "cache", cache_ok ? cli_cache_stats_json(&st) : json_null());
		for (int i = 0; i < 2; i++)
			json_object_set_new(o, ds[i].d_name, cli_stats_json_daemon(&ds[i]));
		if (cli_stats_learn(ctx, (int)timeout, o) < 0)
			rc = CLI_EXIT_NOTFOUND;
		cli_json_print(stdout, o);
	} else {
		if (cache_ok)
			cli_cache_stats_print(stdout, &st);
		for (int i = 0; i < 2; i++)
			cli_stats_print_daemon(&ds[i]);
		if (cli_stats_learn(ctx, (int)timeout, NULL) < 0)
			rc = CLI_EXIT_NOTFOUND;
	}
	for (int i = 0; i < 2; i++)
		cli_samples_free(&ds[i].d_s);
	return cache_ok ? rc : CLI_EXIT_CACHE;
}
