/*
 * cmd_learn.c - `rcptguard learn`: the MTA's delivery log feeds the cache.
 *
 * SYNOPSIS
 *   rcptguard learn [--format postfix|exim|auto] [--follow] [--from-start]
 *                   [--dry-run] [--json] [--verbose] [FILE|-]
 *
 * The file is opened first (mail.log is readable by group adm), then the
 * command becomes the service user, as every command that touches the
 * state does. Lines go through maillog.c, records through learn.c. With
 * --follow it runs on a libevent loop: a timer reads what the file gained
 * and follows rotations, SIGTERM and SIGINT end it with the position
 * saved, and [learn] metrics_listen serves its counters.
 */
#include "rg_build.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "jsonw.h"
#include "learn_source.h"
#include "rcptguard/clock.h"
#include "rcptguard/exporter.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/learn.h"
#include "rcptguard/log.h"
#include "rcptguard/maillog.h"
#include "rcptguard/metrics.h"
#include "rcptguard/util.h"

#define CLI_LEARN_BATCH		(4 * 1024 * 1024)	/* bytes read between two ticks */
#define CLI_LEARN_POLL_MS	250			/* --follow: look at the file this often */
#define CLI_LEARN_SAVE_MS	1000			/* --follow: keep the position this often */

struct cli_learn_opts {
	enum rg_maillog_format	 fmt;
	int			 follow;
	int			 from_start;
	int			 dry_run;
	int			 verbose;
	const char		*input;
};

struct cli_learn {
	struct cli_ctx		*ctx;
	struct cli_learn_opts	 o;
	enum rg_maillog_format	 fmt;		/* the format, once the first line told it */
	struct cli_lsrc		 src;
	struct rg_learn		*learn;
	struct event_base	*base;
	struct event		*timer;
	int64_t			 latest;	/* newest log time seen */
	int64_t			 saved_ms;
	uint64_t		 records;
	int			 failed;
	struct rg_metric	*m_lines;
	struct rg_metric	*m_learned;
	struct rg_metric	*m_rotations;
	uint64_t		 rotations_counted;
};

/* cli_learn_report - one outcome: a JSON line, a text line, and the metrics. */
static void
cli_learn_report(const struct rg_learn_result *r, void *arg)
{
	struct cli_learn *cl = arg;
	const struct rg_verdict *v = r->lr_verdict;
	const struct rg_maillog_entry *e = r->lr_entry;

	if (cl->m_learned != NULL)
		rg_metric_inc(cl->m_learned, (int)r->lr_outcome, 0);
	if (r->lr_outcome == RG_LEARN_IGNORED && !cl->o.verbose)
		return;
	if (!cl->ctx->json && !cl->o.dry_run && !cl->o.verbose)
		return;
	if (cl->ctx->json) {
		struct cli_jw w;

		cli_jw_open(&w);
		cli_jw_str(&w, "address", r->lr_address);
		cli_jw_str(&w, "learned", rg_learn_outcome_name(r->lr_outcome));
		if (r->lr_why != NULL)
			cli_jw_str(&w, "why", r->lr_why);
		if (v != NULL) {
			cli_jw_str(&w, "class", rg_verdict_class_name(v->v_class));
			cli_jw_str(&w, "reason", rg_verdict_reason_name(v->v_reason));
			if (v->v_code)
				cli_jw_int(&w, "code", v->v_code);
			else
				cli_jw_null(&w, "code");
			cli_jw_str(&w, "dsn", v->v_dsn[0] ? v->v_dsn : NULL);
			cli_jw_str(&w, "text", v->v_text[0] ? v->v_text : NULL);
			cli_jw_str(&w, "queue_id", v->v_qid[0] ? v->v_qid : NULL);
			cli_jw_int(&w, "checked_at", v->v_checked_at);
			cli_jw_int(&w, "expires_at", v->v_expires_at);
			if (v->v_flags & RG_VERDICT_F_DELIVERED)
				cli_jw_bool(&w, "delivered", 1);
		}
		if (e != NULL) {
			cli_jw_str(&w, "status", rg_maillog_status_name(e->e_status));
			cli_jw_str(&w, "format", rg_maillog_format_name(e->e_format));
			if (v == NULL && e->e_qid[0])
				cli_jw_str(&w, "queue_id", e->e_qid);
		}
		cli_jw_str(&w, "relay", r->lr_relay[0] ? r->lr_relay : NULL);
		cli_jw_str(&w, "source", "delivery");
		cli_jw_bool(&w, "dry_run", r->lr_dry_run);
		cli_jw_print(&w, stdout);
	} else {
		char addr[1100], line[2048];
		size_t n = 0;

		/* One line assembled here and written once: a dry run of a large log prints many. */
#define CLI_LEARN_PUT(str) do { \
		size_t _l = strlen(str); \
		if (n + _l < sizeof(line)) { memcpy(line + n, (str), _l); n += _l; } \
	} while (0)
		if (r->lr_dry_run)
			CLI_LEARN_PUT("would learn: ");
		CLI_LEARN_PUT(rg_learn_outcome_name(r->lr_outcome));
		CLI_LEARN_PUT(" ");
		CLI_LEARN_PUT(cli_printable(r->lr_address, addr, sizeof(addr)));
		if (v != NULL) {
			CLI_LEARN_PUT(" ");
			CLI_LEARN_PUT(rg_verdict_class_name(v->v_class));
			CLI_LEARN_PUT(" ");
			CLI_LEARN_PUT(rg_verdict_reason_name(v->v_reason));
		}
		if (r->lr_why != NULL) {
			CLI_LEARN_PUT(" why=");
			CLI_LEARN_PUT(r->lr_why);
		}
		if (v != NULL && v->v_qid[0]) {
			CLI_LEARN_PUT(" queue_id=");
			CLI_LEARN_PUT(v->v_qid);
		}
		if (r->lr_relay[0]) {
			CLI_LEARN_PUT(" relay=");
			CLI_LEARN_PUT(r->lr_relay);
		}
#undef CLI_LEARN_PUT
		line[n++] = '\n';
		fwrite_unlocked(line, 1, n, stdout);
	}
}

/* cli_learn_line - one line of the log. */
static void
cli_learn_line(const char *line, size_t len, void *arg)
{
	struct cli_learn *cl = arg;
	struct rg_maillog_entry e;
	int64_t now = rg_clock_now();

	/* auto: the first line tells the format; a Postfix log is then searched for its mark. */
	if (cl->fmt == RG_MAILLOG_AUTO)
		cl->fmt = rg_maillog_detect(line, len);
	if (cl->fmt == RG_MAILLOG_POSTFIX && cl->src.ls_mark == NULL)
		cli_lsrc_set_mark(&cl->src, RG_MAILLOG_POSTFIX_MARK);
	if (rg_maillog_parse(line, len, cl->fmt, now, &e) != 1)
		return;
	cl->records++;
	if (e.e_time > cl->latest && e.e_time <= now + 300)
		cl->latest = e.e_time;
	rg_learn_entry(cl->learn, &e, now);
}

/* cli_learn_drain - read what is there now; 1 when anything was, -1 on an error. */
static int
cli_learn_drain(struct cli_learn *cl)
{
	char err[4300];
	uint64_t before = cl->src.ls_lines;
	int rc, any = 0;

	for (;;) {
		rc = cli_lsrc_read(&cl->src, CLI_LEARN_BATCH, cli_learn_line, cl, err, sizeof(err));
		if (rc < 0) {
			cli_error("%s", err);
			return -1;
		}
		/* Held bounces wait on log time: the log's clock moves them. */
		if (cl->latest > 0)
			rg_learn_tick(cl->learn, cl->latest);
		if (rc == 0) {
			/* The end for now: a rotated file gives way to the named one. */
			if ((cl->o.follow || cli_lsrc_pending(&cl->src)) && cli_lsrc_rotated(&cl->src))
				continue;
			break;
		}
		any = 1;
	}
	if (cl->m_lines != NULL)
		rg_metric_add(cl->m_lines, 0, 0, cl->src.ls_lines - before);
	if (cl->m_rotations != NULL) {
		uint64_t n = cl->src.ls_rotations + cl->src.ls_truncations;
		rg_metric_add(cl->m_rotations, 0, 0, n - cl->rotations_counted);
		cl->rotations_counted = n;
	}
	return any;
}

/* cli_learn_save - keep the position (never in a dry run). */
static void
cli_learn_save(struct cli_learn *cl)
{
	char err[4300];

	if (cl->o.dry_run)
		return;
	if (cli_lsrc_save(&cl->src, err, sizeof(err)) < 0)
		rg_log_warn("learn: cannot keep the position: %s", err);
	cl->saved_ms = rg_clock_mono_ms();
}

/* cli_learn_on_timer - --follow: read what came, release what is due, keep the position. */
static void
cli_learn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cli_learn *cl = arg;
	int64_t now;

	(void)fd;
	(void)what;
	if (cli_learn_drain(cl) < 0) {
		cl->failed = 1;
		event_base_loopbreak(cl->base);
		return;
	}
	/* Idle: wall-clock time moves the held bounces too. */
	now = rg_clock_now();
	rg_learn_tick(cl->learn, now > cl->latest ? now : cl->latest);
	if (rg_clock_mono_ms() - cl->saved_ms >= CLI_LEARN_SAVE_MS)
		cli_learn_save(cl);
	rg_log_flush();
}

/* cli_learn_on_signal - SIGTERM or SIGINT: stop; the position is saved on the way out. */
static void
cli_learn_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cli_learn *cl = arg;

	(void)what;
	rg_log_info("learn: signal %d, stopping", (int)sig);
	event_base_loopbreak(cl->base);
}

/* cli_learn_parse - the options; CLI_EXIT_OK or a usage error (said). */
static int
cli_learn_parse(struct cli_ctx *ctx, int argc, char **argv, struct cli_learn_opts *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'f' },
		{ "from-start", no_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->fmt = RG_MAILLOG_AUTO;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fnjvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'F':
			if (rg_maillog_format_parse(optarg, &o->fmt) < 0) {
				cli_error("--format: \"%s\" is not postfix, exim or auto", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'f':
			o->follow = 1;
			break;
		case 's':
			o->from_start = 1;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			cli_error("usage: learn [--format postfix|exim|auto] [--follow] [--from-start] "
			    "[--dry-run] [--json] [--verbose] [FILE|-]");
			return ch == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		cli_error("learn reads one file");
		return CLI_EXIT_USAGE;
	}
	o->input = optind < argc ? argv[optind] : ctx->cfg.learn_log_file;
	if (o->input[0] == '\0') {
		cli_error("no file named and [learn] log_file is empty");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* cli_learn_metrics - the counters, and the endpoint when metrics_listen names one. */
static int
cli_learn_metrics(struct cli_learn *cl, int fd, struct rg_exporter **x)
{
	const struct rg_metric_label lo = { "outcome", rg_learn_outcome_list(),
	    RG_LEARN_OUTCOME_COUNT };
	struct rg_metrics *m = rg_metrics_process();
	char err[512];

	cl->m_lines = rg_metrics_counter(m, "rcptguard_learn_lines_total",
	    "Log lines rcptguard learn has read.", NULL, NULL);
	cl->m_learned = rg_metrics_counter(m, "rcptguard_learned_total",
	    "Delivery records by what they taught: a verdict written, held by the outage "
	    "guard, kept as suspect, or ignored.", &lo, NULL);
	cl->m_rotations = rg_metrics_counter(m, "rcptguard_learn_rotations_total",
	    "Rotations of the log followed (renamed or truncated).", NULL, NULL);
	if (fd < 0)
		return 0;
	if ((*x = rg_exporter_new(cl->base, m, fd, err, sizeof(err))) == NULL) {
		cli_error("metrics_listen: %s", err);
		return -1;
	}
	return 0;
}

/* cli_learn_summary - what the run saw, on standard error. */
static void
cli_learn_summary(const struct cli_learn *cl)
{
	const struct cli_lsrc *s = &cl->src;

	fprintf(stderr, "rcptguard learn: %llu lines, %llu delivery records: %llu undeliverable, "
	    "%llu deliverable, %llu risky, %llu suspect, %llu ignored%s",
	    (unsigned long long)s->ls_lines, (unsigned long long)cl->records,
	    (unsigned long long)rg_learn_count(cl->learn, RG_LEARN_UNDELIVERABLE),
	    (unsigned long long)rg_learn_count(cl->learn, RG_LEARN_DELIVERABLE),
	    (unsigned long long)rg_learn_count(cl->learn, RG_LEARN_RISKY),
	    (unsigned long long)rg_learn_count(cl->learn, RG_LEARN_SUSPECT),
	    (unsigned long long)rg_learn_count(cl->learn, RG_LEARN_IGNORED),
	    cl->o.dry_run ? " (dry run: nothing written)" : "");
	if (s->ls_too_long || s->ls_damaged || s->ls_cut)
		fprintf(stderr, "; skipped %llu lines over %d bytes, %llu with NUL bytes, "
		    "%llu cut by a rotation", (unsigned long long)s->ls_too_long,
		    CLI_LSRC_LINE_MAX, (unsigned long long)s->ls_damaged,
		    (unsigned long long)s->ls_cut);
	if (s->ls_len > 0)
		fprintf(stderr, "; the last line is not finished and was left for the next run");
	fputc('\n', stderr);
}

int
cli_cmd_learn(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_learn cl;
	struct rg_store *store = NULL;
	struct rg_knowledge *know = NULL;
	struct rg_exporter *exporter = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	char err[4300];
	int rc, mfd = -1;

	memset(&cl, 0, sizeof(cl));
	cl.ctx = ctx;
	if ((rc = cli_learn_parse(ctx, argc, argv, &cl.o)) != CLI_EXIT_OK)
		return rc;
	/* The log first, as whoever started us (root reads mail.log); then the service user. */
	if (cli_lsrc_open(&cl.src, cl.o.input, cl.o.dry_run ? NULL : ctx->cfg.state_dir,
	    cl.o.from_start, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		cli_lsrc_close(&cl.src);
		return CLI_EXIT_USAGE;
	}
	if (cl.o.follow && ctx->cfg.learn_metrics_listen[0] &&
	    (mfd = rg_exporter_listen(ctx->cfg.learn_metrics_listen, err, sizeof(err))) < 0) {
		cli_error("metrics_listen: %s", err);
		cli_lsrc_close(&cl.src);
		return CLI_EXIT_CONFIG;
	}
	cl.fmt = cl.o.fmt;
	rc = CLI_EXIT_CACHE;
	if (cli_state(ctx) < 0)
		goto out;
	if (mkdir(ctx->cfg.state_dir, 0750) < 0 && errno != EEXIST) {
		cli_error("%s: %s", ctx->cfg.state_dir, strerror(errno));
		goto out;
	}
	if ((know = rg_knowledge_load(&ctx->cfg, err, sizeof(err))) == NULL) {
		cli_error("%s", err);
		rc = CLI_EXIT_CONFIG;
		goto out;
	}
	if ((store = cli_cache_open(ctx, RG_CACHE_O_CREATE)) == NULL)
		goto out;
	/* What is learned reaches the fleet's shared tier too, from this loop. */
	if ((cl.base = event_base_new()) == NULL) {
		cli_error("cannot set up the event loop");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	if (!cl.o.dry_run && rg_store_share(store, cl.base, &ctx->cfg, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		rc = CLI_EXIT_CONFIG;
		goto out;
	}
	rg_store_flush(store, ctx->cfg.redis_connect_timeout);
	if ((cl.learn = rg_learn_new(&ctx->cfg, store, know, cl.o.dry_run, cli_learn_report, &cl,
	    err, sizeof(err))) == NULL) {
		cli_error("%s", err);
		rc = CLI_EXIT_CONFIG;
		goto out;
	}
	rc = CLI_EXIT_OK;
	if (!cl.o.follow) {
		if (cli_learn_drain(&cl) < 0)
			rc = CLI_EXIT_USAGE;
		rg_learn_finish(cl.learn, rg_clock_now());
		cli_learn_save(&cl);
		cli_learn_summary(&cl);
		rg_store_flush(store, ctx->cfg.redis_connect_timeout + 1000);
		goto out;
	}
	/* --follow: a loop of our own; the log and the output leave every turn. */
	rg_log_set_level(RG_LOG_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((cl.timer = event_new(cl.base, -1, EV_PERSIST, cli_learn_on_timer, &cl)) == NULL ||
	    (sigterm = evsignal_new(cl.base, SIGTERM, cli_learn_on_signal, &cl)) == NULL ||
	    (sigint = evsignal_new(cl.base, SIGINT, cli_learn_on_signal, &cl)) == NULL ||
	    event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
		cli_error("cannot set up the event loop");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	if (cli_learn_metrics(&cl, mfd, &exporter) < 0) {
		rc = CLI_EXIT_CONFIG;
		goto out;
	}
	{
		struct timeval tv = { 0, CLI_LEARN_POLL_MS * 1000 };
		event_add(cl.timer, &tv);
	}
	rg_log_info("learn: following %s%s", cl.src.ls_path[0] ? cl.src.ls_path : "standard input",
	    cl.o.dry_run ? " (dry run)" : "");
	cli_learn_on_timer(-1, 0, &cl);
	if (!cl.failed)
		event_base_dispatch(cl.base);
	/* What came before the signal is read too. */
	if (!cl.failed && cli_learn_drain(&cl) < 0)
		cl.failed = 1;
	if (cl.failed)
		rc = CLI_EXIT_USAGE;
	/* Held bounces do not outlive the process: those of no burst are learned now. */
	rg_learn_finish(cl.learn, rg_clock_now());
	cli_learn_save(&cl);
	cli_learn_summary(&cl);
	rg_store_flush(store, ctx->cfg.redis_connect_timeout + 1000);
out:
	rg_exporter_free(exporter);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (cl.timer != NULL)
		event_free(cl.timer);
	rg_learn_free(cl.learn);
	rg_store_close(store);	/* before the loop its shared tier runs on */
	if (cl.base != NULL)
		event_base_free(cl.base);
	if (mfd >= 0)
		close(mfd);
	rg_knowledge_free(know);
	cli_lsrc_close(&cl.src);
	rg_log_flush();
	return rc;
}
