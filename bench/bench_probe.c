/*
 * bench_probe.c - speed of the probe against a reference client, same run.
 *
 *   bench_probe sessions IP N CONC ROUNDS
 *     N SMTP sessions with CONC in flight against IP:25 (smtp-sink in the
 *     lab). Subject: rg_smtp, the prober's state machine (greeting, EHLO,
 *     MAIL, one RCPT, QUIT, bounded parsing). Reference: the least an SMTP
 *     client can do on the same libevent loop: wait for the greeting, write
 *     the whole dialogue at once, read until the server closes.
 *   bench_probe engine CONF DOMAIN N CONC ROUNDS
 *     The full path for N distinct recipients of DOMAIN (one per session):
 *     engine lookup, lease, limits, cached MX, SMTP, classification, cache
 *     writes. Compare with the sessions reference of the same run.
 *   bench_probe latency IP RCPT N
 *     Median and p90 of N sequential reference sessions (one RCPT), for
 *     comparing rcptguard's first-verdict latency with the bare dialogue.
 *
 * Reports sessions per second and CPU microseconds per session (getrusage)
 * as medians over rounds, alternating subject and reference.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "rcptguard/engine.h"
#include "rcptguard/log.h"
#include "rcptguard/smtp.h"
#include "rcptguard/util.h"
#include "bench_util.h"

struct bench {
	struct event_base	*base;
	struct sockaddr_in	 addr;
	int			 total;
	int			 started;
	int			 done;
	int			 ok;
	int			 conc;
	struct rg_smtp_pool	*pool;
	struct rg_smtp_params	 params;
	struct rg_engine	*engine;
	const char		*domain;
	int			 round;
};

static double
bench_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ---- reference client -------------------------------------------------- */

struct ref_conn {
	struct bench	*b;
	int		 greeted;
};

static void ref_start(struct bench *b);

static void
ref_finish(struct ref_conn *c, struct bufferevent *bev, int ok)
{
	struct bench *b = c->b;

	bufferevent_free(bev);
	free(c);
	b->done++;
	b->ok += ok;
	if (b->done == b->total)
		event_base_loopbreak(b->base);
	else if (b->started < b->total)
		ref_start(b);
}

static void
ref_read(struct bufferevent *bev, void *arg)
{
	struct ref_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (!c->greeted && evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF).pos >= 0) {
		static const char dialogue[] = "EHLO bench.test\r\nMAIL FROM:<a@bench.test>\r\n"
		    "RCPT TO:<b@sink.test>\r\nQUIT\r\n";
		c->greeted = 1;
		bufferevent_write(bev, dialogue, sizeof(dialogue) - 1);
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
ref_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		ref_finish(arg, bev, (what & BEV_EVENT_EOF) != 0);
}

static void
ref_start(struct bench *b)
{
	struct ref_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = bufferevent_socket_new(b->base, -1, BEV_OPT_CLOSE_ON_FREE);

	c->b = b;
	b->started++;
	bufferevent_setcb(bev, ref_read, NULL, ref_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&b->addr, sizeof(b->addr)) < 0)
		ref_finish(c, bev, 0);
}

/* ---- subject: rg_smtp -------------------------------------------------- */

static void smtp_start(struct bench *b);

static void
smtp_done(const struct rg_smtp_result *res, void *arg)
{
	struct bench *b = arg;

	b->done++;
	b->ok += res->s_status == RG_SMTP_DONE && res->s_nreplies == 1 &&
	    res->s_rcpt[0].r_code / 100 == 2;
	if (b->done == b->total)
		event_base_loopbreak(b->base);
	else if (b->started < b->total)
		smtp_start(b);
}

static void
smtp_start(struct bench *b)
{
	b->started++;
	if (rg_smtp_start(b->pool, &b->params, smtp_done, b) == NULL) {
		b->done++;
		if (b->done == b->total)
			event_base_loopbreak(b->base);
	}
}

/* ---- subject: the engine ----------------------------------------------- */

static void engine_start(struct bench *b);

static void
engine_done(const struct rg_answer *ans, void *arg)
{
	struct bench *b = arg;

	b->done++;
	b->ok += ans->an_verdict.v_class == RG_CLASS_DELIVERABLE;
	if (b->done == b->total)
		event_base_loopbreak(b->base);
	else if (b->started < b->total)
		engine_start(b);
}

static void
engine_start(struct bench *b)
{
	char addr[128];

	snprintf(addr, sizeof(addr), "u%d-%d@%s", b->round, b->started, b->domain);
	b->started++;
	if (rg_engine_lookup(b->engine, addr, strlen(addr), 0, 60000, engine_done, b) < 0) {
		b->done++;
		if (b->done == b->total)
			event_base_loopbreak(b->base);
	}
}

/* bench_run - one timed round: kick off CONC, loop until all are done. */
static void
bench_run(struct bench *b, void (*start)(struct bench *), double *rate, double *cpu_us)
{
	double t0, c0;

	b->started = b->done = b->ok = 0;
	t0 = bench_now();
	c0 = bench_cpu();
	for (int i = 0; i < b->conc && b->started < b->total; i++)
		start(b);
	event_base_dispatch(b->base);
	*rate = b->total / (bench_now() - t0);
	*cpu_us = (bench_cpu() - c0) * 1e6 / b->total;
	if (b->ok != b->total)
		fprintf(stderr, "warning: %d of %d sessions failed\n", b->total - b->ok, b->total);
}

static void
bench_table(const char *what, double *sr, double *sc, double *rr, double *rc, int rounds)
{
	double s = bench_median(sr, rounds), r = bench_median(rr, rounds);
	double scpu = bench_median(sc, rounds), rcpu = bench_median(rc, rounds);

	printf("| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", what, s, r, s / r, scpu, rcpu,
	    scpu / rcpu);
}

int
main(int argc, char **argv)
{
	struct bench b;
	double sr[16], sc[16], rr[16], rc[16];
	int rounds;

	memset(&b, 0, sizeof(b));
	rg_log_set_level(RG_LOG_ERROR);
	b.base = event_base_new();
	b.addr.sin_family = AF_INET;
	b.addr.sin_port = htons(25);

	if (argc == 6 && strcmp(argv[1], "sessions") == 0) {
		inet_pton(AF_INET, argv[2], &b.addr.sin_addr);
		b.total = atoi(argv[3]);
		b.conc = atoi(argv[4]);
		rounds = atoi(argv[5]) > 16 ? 16 : atoi(argv[5]);
		b.pool = rg_smtp_pool_new(b.base);
		b.params.p_addr = (struct sockaddr *)&b.addr;
		b.params.p_addrlen = sizeof(b.addr);
		b.params.p_mx_name = "sink.test";
		b.params.p_helo = "bench.test";
		b.params.p_mail_from = "a@bench.test";
		b.params.p_rcpts[0] = "b@sink.test";
		b.params.p_nrcpts = 1;
		b.params.p_connect_timeout = b.params.p_greeting_timeout = 10;
		b.params.p_command_timeout = 10;
		b.params.p_session_timeout = 30;
		for (int r = 0; r < rounds; r++) {
			bench_run(&b, ref_start, &rr[r], &rc[r]);
			bench_run(&b, smtp_start, &sr[r], &sc[r]);
			/* Let lingering QUITs finish before the next round. */
			while (rg_smtp_pool_count(b.pool) > 0)
				event_base_loop(b.base, EVLOOP_ONCE);
		}
		printf("sessions=%d concurrency=%d rounds=%d\n", b.total, b.conc, rounds);
		printf("| client | sessions/s | reference sessions/s | ratio | CPU µs/session | "
		    "reference CPU µs | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n");
		bench_table("rg_smtp", sr, sc, rr, rc, rounds);
		rg_smtp_pool_free(b.pool);
	} else if (argc == 8 && strcmp(argv[1], "engine") == 0) {
		struct rg_config cfg;
		char err[1200];

		if (rg_config_load(&cfg, argv[2], 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		b.domain = argv[3];
		b.total = atoi(argv[4]);
		b.conc = atoi(argv[5]);
		rounds = atoi(argv[6]) > 16 ? 16 : atoi(argv[6]);
		inet_pton(AF_INET, argv[7], &b.addr.sin_addr);
		if ((b.engine = rg_engine_new(b.base, &cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		for (int r = 0; r < rounds; r++) {
			b.round = r;
			bench_run(&b, ref_start, &rr[r], &rc[r]);
			bench_run(&b, engine_start, &sr[r], &sc[r]);
		}
		printf("recipients=%d concurrency=%d rounds=%d\n", b.total, b.conc, rounds);
		printf("| path | probes/s | reference sessions/s | ratio | CPU µs/probe | "
		    "reference CPU µs | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n");
		bench_table("engine (lease, limits, cached MX, SMTP, cache)", sr, sc, rr, rc, rounds);
		rg_engine_free(b.engine);
	} else if (argc == 5 && strcmp(argv[1], "latency") == 0) {
		int n = atoi(argv[4]);
		double *lat = calloc((size_t)n, sizeof(*lat));
		inet_pton(AF_INET, argv[2], &b.addr.sin_addr);
		b.total = 1;
		b.conc = 1;
		for (int i = 0; i < n; i++) {
			double t0 = bench_now(), dummy;
			bench_run(&b, ref_start, &dummy, &dummy);
			lat[i] = (bench_now() - t0) * 1000;
		}
		qsort(lat, (size_t)n, sizeof(*lat), bench_cmp);
		printf("reference_median_ms=%.2f reference_p90_ms=%.2f\n", lat[n / 2], lat[n * 9 / 10]);
		free(lat);
	} else {
		fprintf(stderr, "usage: bench_probe sessions IP N CONC ROUNDS\n"
		    "       bench_probe engine CONF DOMAIN N CONC ROUNDS SINK_IP\n"
		    "       bench_probe latency IP RCPT N\n");
		return 2;
	}
	event_base_free(b.base);
	return 0;
}
