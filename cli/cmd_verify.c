/*
 * cmd_verify.c - `rcptguard verify [FILE|-]`: clean a whole list.
 *
 * SYNOPSIS
 *   rcptguard verify [--format csv|jsonl] [--column NAME|N] [-o FILE]
 *       [--split DIR] [--resume] [--max-age D] [--wait D] [--deadline D]
 *       [--progress auto|bar|plain|none] [-q] [--summary FILE] [FILE|-]
 *
 * This file sets a run up and reports it: the options, the files (opened
 * before the command becomes the service user, so that an admin's files
 * stay the admin's), the journal that --resume continues from, the
 * signals, the summary and the exit code. verify_run.c does the work.
 */
#include "rg_build.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "htab.h"
#include "rcptguard/clock.h"
#include "rcptguard/util.h"
#include "verify_run.h"

#define CLI_VERIFY_OBUF		(256 * 1024)	/* stdio buffer of each output */

#define CLI_VERIFY_USAGE \
	"usage: verify [--format csv|jsonl] [--column NAME|N] [-o FILE] [--split DIR] " \
	"[--resume] [--max-age D] [--wait D] [--deadline D] [--progress auto|bar|plain|none] " \
	"[-q] [--summary FILE] [FILE|-]"

static const char *const cli_verify_split_names[RG_CLASS_COUNT] = {
	"deliverable.csv", "undeliverable.csv", "risky.csv", "unknown.csv",
};

struct cli_verify_opts {
	const char	*input;		/* NULL: standard input */
	const char	*output;	/* NULL: standard output */
	const char	*split_dir;
	const char	*summary;
	const char	*column;
	int		 fmt;		/* -1: from the input */
	int		 resume;
	int		 progress;	/* -1: auto */
	int64_t		 max_age, wait_ms, deadline_ms;
};

static int
cli_verify_duration(const char *opt, const char *arg, int64_t *secs)
{
	if (rg_parse_duration(arg, secs) < 0 || *secs > 366 * 86400) {
		cli_error("%s: \"%s\" is not a duration (like 30s, 10m or 2h)", opt, arg);
		return -1;
	}
	return 0;
}

struct cli_verify_name {
	const char	*name;
	int		 value;
};

/* cli_verify_choice - the value of one of names (NULL-ended), or -2 after an error. */
static int
cli_verify_choice(const char *opt, const char *arg, const struct cli_verify_name *names)
{
	char list[128] = "";

	for (const struct cli_verify_name *n = names; n->name != NULL; n++)
		if (strcmp(arg, n->name) == 0)
			return n->value;
	for (const struct cli_verify_name *n = names; n->name != NULL; n++) {
		if (n != names)
			rg_strlcat(list, n[1].name != NULL ? ", " : " or ", sizeof(list));
		rg_strlcat(list, n->name, sizeof(list));
	}
	cli_error("%s: \"%s\": %s", opt, arg, list);
	return -2;
}

/* cli_verify_parse - the options; CLI_EXIT_OK or CLI_EXIT_USAGE. */
static int
cli_verify_parse(struct cli_verify_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "column", required_argument, NULL, 'C' },
		{ "output", required_argument, NULL, 'o' },
		{ "split", required_argument, NULL, 'S' },
		{ "resume", no_argument, NULL, 'r' },
		{ "max-age", required_argument, NULL, 'a' },
		{ "wait", required_argument, NULL, 'w' },
		{ "deadline", required_argument, NULL, 'd' },
		{ "progress", required_argument, NULL, 'p' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "summary", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct cli_verify_name formats[] = {
		{ "csv", CLI_VFMT_CSV }, { "jsonl", CLI_VFMT_JSONL }, { NULL, 0 },
	};
	static const struct cli_verify_name progress[] = {
		{ "auto", -1 }, { "bar", CLI_VPROG_BAR }, { "plain", CLI_VPROG_PLAIN },
		{ "none", CLI_VPROG_NONE }, { NULL, 0 },
	};
	int64_t secs;
	int ch;

	memset(o, 0, sizeof(*o));
	o->fmt = -1;
	o->progress = -1;
	o->wait_ms = 600000;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "o:q", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if ((o->fmt = cli_verify_choice("--format", optarg, formats)) == -2)
				return CLI_EXIT_USAGE;
			break;
		case 'C':
			o->column = optarg;
			break;
		case 'o':
			o->output = strcmp(optarg, "-") == 0 ? NULL : optarg;
			break;
		case 'S':
			o->split_dir = optarg;
			break;
		case 'r':
			o->resume = 1;
			break;
		case 'a':
			if (cli_verify_duration("--max-age", optarg, &secs) < 0)
				return CLI_EXIT_USAGE;
			o->max_age = secs;
			break;
		case 'w':
			if (cli_verify_duration("--wait", optarg, &secs) < 0 || secs > 86400) {
				if (secs > 86400)
					cli_error("--wait: at most a day");
				return CLI_EXIT_USAGE;
			}
			o->wait_ms = secs * 1000;
			break;
		case 'd':
			if (cli_verify_duration("--deadline", optarg, &secs) < 0)
				return CLI_EXIT_USAGE;
			o->deadline_ms = secs > 0 ? secs * 1000 : 1;
			break;
		case 'p':
			if ((o->progress = cli_verify_choice("--progress", optarg, progress)) == -2)
				return CLI_EXIT_USAGE;
			break;
		case 'q':
			o->progress = CLI_VPROG_NONE;
			break;
		case 's':
			o->summary = optarg;
			break;
		default:
			cli_error(CLI_VERIFY_USAGE);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		cli_error(CLI_VERIFY_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0)
		o->input = argv[optind];
	if (o->resume && (o->input == NULL || o->output == NULL)) {
		cli_error("--resume needs an input FILE and -o FILE: a run on standard input "
		    "or output cannot be continued");
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* cli_verify_create - a file to write, opened as the caller; its contents stay until the journal says. */
static FILE *
cli_verify_create(const char *path, int trunc)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (trunc ? O_TRUNC : 0),
	    0644);
	FILE *fp;

	if (fd < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/* Rows leave in big writes: a million rows are half a gigabyte of JSON. */
	setvbuf(fp, NULL, _IOFBF, CLI_VERIFY_OBUF);
	return fp;
}

/* cli_verify_cut - keep the first size bytes of an output (a regular file) and write after them. */
static int
cli_verify_cut(FILE *fp, const char *name, int64_t size)
{
	struct stat sb;

	if (fstat(fileno(fp), &sb) < 0) {
		cli_error("%s: %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		/* A pipe or a device (/dev/null): written as it comes, never cut back. */
		if (size == 0)
			return 0;
		cli_error("%s is not a regular file: the interrupted run cannot be continued in "
		    "it; run again without --resume", name);
		return -1;
	}
	if ((int64_t)sb.st_size < size) {
		cli_error("%s is shorter than the interrupted run wrote: it was changed; run "
		    "again without --resume", name);
		return -1;
	}
	if (ftruncate(fileno(fp), (off_t)size) < 0 || fseeko(fp, (off_t)size, SEEK_SET) < 0) {
		cli_error("%s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

struct cli_verify_files {
	FILE	*in;
	FILE	*out;
	FILE	*split[RG_CLASS_COUNT];
	FILE	*summary;
	char	 split_path[RG_CLASS_COUNT][4096];
};

static void
cli_verify_close(struct cli_verify_files *f)
{
	if (f->in != NULL && f->in != stdin)
		fclose(f->in);
	if (f->out != NULL && f->out != stdout)
		fclose(f->out);
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		if (f->split[c] != NULL)
			fclose(f->split[c]);
	if (f->summary != NULL)
		fclose(f->summary);
}

/* cli_verify_open - every file of the run, before privileges change. */
static int
cli_verify_open(const struct cli_verify_opts *o, struct cli_verify_files *f)
{
	struct stat in_sb, out_sb;

	memset(f, 0, sizeof(*f));
	f->in = stdin;
	if (o->input != NULL && (f->in = fopen(o->input, "re")) == NULL) {
		cli_error("%s: %s", o->input, strerror(errno));
		return -1;
	}
	f->out = stdout;
	if (o->output == NULL && !isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, CLI_VERIFY_OBUF);
	if (o->output != NULL) {
		if (stat(o->output, &out_sb) == 0 && fstat(fileno(f->in), &in_sb) == 0 &&
		    out_sb.st_dev == in_sb.st_dev && out_sb.st_ino == in_sb.st_ino) {
			cli_error("%s: the output would overwrite the input", o->output);
			return -1;
		}
		if ((f->out = cli_verify_create(o->output, 0)) == NULL)
			return -1;
	}
	if (o->split_dir != NULL) {
		if (mkdir(o->split_dir, 0755) < 0 && errno != EEXIST) {
			cli_error("%s: %s", o->split_dir, strerror(errno));
			return -1;
		}
		for (int c = 0; c < RG_CLASS_COUNT; c++) {
			if ((size_t)snprintf(f->split_path[c], sizeof(f->split_path[c]), "%s/%s",
			    o->split_dir, cli_verify_split_names[c]) >= sizeof(f->split_path[c])) {
				cli_error("--split: the path is too long");
				return -1;
			}
			if ((f->split[c] = cli_verify_create(f->split_path[c], 0)) == NULL)
				return -1;
		}
	}
	if (o->summary != NULL && (f->summary = cli_verify_create(o->summary, 1)) == NULL)
		return -1;
	return 0;
}

/* cli_verify_options - the options that make a run another run (the journal's key). */
static void
cli_verify_options(const struct cli_verify_opts *o, int fmt, char *buf, size_t size)
{
	char *split = o->split_dir ? realpath(o->split_dir, NULL) : NULL;

	snprintf(buf, size, "format=%d\ncolumn=%s\nsplit=%s", fmt, o->column ? o->column : "",
	    split ? split : (o->split_dir ? o->split_dir : ""));
	free(split);
}

/*
 * cli_verify_start - a fresh run (headers, an empty journal) or the
 * continuation of an interrupted one (outputs cut back, input moved on).
 */
static int
cli_verify_start(struct cli_ctx *ctx, const struct cli_verify_opts *o,
    struct cli_verify_files *f, struct cli_vrun *run)
{
	const size_t *hlens;
	const char *const *hdr = cli_vin_header(run->in, &hlens, &run->hdr_n);
	char opts[8192];
	struct stat sb;
	int loaded = 0;

	/* Only a regular file can be cut back to its last checkpoint and continued. */
	if (o->input != NULL && o->output != NULL && fstat(fileno(f->out), &sb) == 0 &&
	    S_ISREG(sb.st_mode)) {
		cli_verify_options(o, (int)run->fmt, opts, sizeof(opts));
		run->j.key = cli_vjournal_key(o->input, o->output, opts);
		if (cli_vjournal_path(&run->j, ctx->cfg.state_dir, run->err, sizeof(run->err)) < 0) {
			cli_error("%s", run->err);
			return CLI_EXIT_CACHE;
		}
	}
	if (o->resume && run->j.path[0] == '\0') {
		cli_error("--resume: %s is not a regular file: a run written to it cannot be "
		    "continued", o->output);
		return CLI_EXIT_USAGE;
	}
	if (o->resume) {
		loaded = cli_vjournal_load(&run->j, run->throttled, run->greylisted, run->err,
		    sizeof(run->err));
		if (loaded < 0) {
			cli_error("%s", run->err);
			return CLI_EXIT_CACHE;
		}
		if (loaded == 0)
			cli_error("no interrupted run of this input, output and options to resume: "
			    "starting from the beginning");
	}
	if (loaded) {
		if (cli_verify_cut(f->out, o->output, run->j.out_size) < 0)
			return CLI_EXIT_USAGE;
		for (int c = 0; c < RG_CLASS_COUNT; c++)
			if (f->split[c] != NULL &&
			    cli_verify_cut(f->split[c], f->split_path[c], run->j.split_size[c]) < 0)
				return CLI_EXIT_USAGE;
		if (cli_vin_seek(run->in, run->j.offset, run->j.lines) < 0) {
			cli_error("%s: cannot continue at byte %llu", o->input,
			    (unsigned long long)run->j.offset);
			return CLI_EXIT_USAGE;
		}
		run->j.st.parts++;
		run->prog.done_at_start = run->j.st.rows;
		return CLI_EXIT_OK;
	}
	/* From the beginning: counters, outputs and the filter of addresses start empty. */
	memset(&run->j.st, 0, sizeof(run->j.st));
	memset(run->j.seen, 0, CLI_VSEEN_BYTES);
	run->j.st.parts = 1;
	run->j.run_start = rg_clock_now();
	run->j.offset = cli_vin_offset(run->in);
	run->j.lines = cli_vin_lines(run->in);
	if (f->out != stdout && cli_verify_cut(f->out, o->output, 0) < 0)
		return CLI_EXIT_USAGE;
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		if (f->split[c] != NULL) {
			if (cli_verify_cut(f->split[c], f->split_path[c], 0) < 0)
				return CLI_EXIT_USAGE;
			cli_vout_header(f->split[c], hdr, hlens, run->hdr_n);
		}
	if (run->fmt == CLI_VFMT_CSV)
		cli_vout_header(f->out, hdr, hlens, run->hdr_n);
	if (cli_vrun_checkpoint(run) < 0) {
		cli_error("%s", run->err);
		return CLI_EXIT_CACHE;
	}
	return CLI_EXIT_OK;
}

static void
cli_verify_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cli_vrun *run = arg;
	static const char again[] = "\nrcptguard: verify: stopped at once\n";

	(void)what;
	if (run->stopping) {
		/* A second one: at once, as the user asked (the journal keeps the last checkpoint). */
		if (write(STDERR_FILENO, again, sizeof(again) - 1) < 0)
			_exit(130);
		_exit(130);
	}
	cli_error("verify: %s: finishing the probes in flight, then stopping; --resume "
	    "continues", sig == SIGINT ? "interrupted" : "terminated");
	cli_vrun_stop(run);
}

/* cli_verify_report - progress line ended, summary on stderr and in --summary. */
static void
cli_verify_report(struct cli_vrun *run, FILE *summary, const char *ended)
{
	if (run->prog.drawn) {
		fputs("\r\033[K", run->prog_fp);
		run->prog.drawn = 0;
	}
	cli_vout_summary(stderr, 1, &run->j.st, run->throttled, run->greylisted, ended);
	if (summary != NULL) {
		cli_vout_summary(summary, 0, &run->j.st, run->throttled, run->greylisted, ended);
		fflush(summary);
	}
}

int
cli_cmd_verify(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_verify_opts o;
	struct cli_verify_files f;
	struct cli_vrun run;
	struct event *sigint = NULL, *sigterm = NULL;
	enum cli_vend end;
	const char *ended;
	int rc;

	if ((rc = cli_verify_parse(&o, argc, argv)) != CLI_EXIT_OK)
		return rc;
	memset(&run, 0, sizeof(run));
	if (cli_verify_open(&o, &f) < 0) {
		cli_verify_close(&f);
		return CLI_EXIT_USAGE;
	}
	if ((run.in = cli_vin_open(f.in, CLI_VIN_AUTO, o.column, run.err, sizeof(run.err))) == NULL) {
		cli_error("%s: %s", o.input ? o.input : "standard input", run.err);
		cli_verify_close(&f);
		return CLI_EXIT_USAGE;
	}
	if (cli_state(ctx) < 0) {
		cli_vin_free(run.in);
		cli_verify_close(&f);
		return CLI_EXIT_CACHE;
	}
	/* The cache, the limits and the journal live there: made as the daemons make it. */
	if (mkdir(ctx->cfg.state_dir, 0750) < 0 && errno != EEXIST) {
		cli_error("%s: %s", ctx->cfg.state_dir, strerror(errno));
		cli_vin_free(run.in);
		cli_verify_close(&f);
		return CLI_EXIT_CACHE;
	}
	{
		struct stat sb;
		run.in_size = fstat(fileno(f.in), &sb) == 0 && S_ISREG(sb.st_mode) ?
		    (int64_t)sb.st_size : -1;
	}
	run.cfg = &ctx->cfg;
	run.fmt = o.fmt >= 0 ? (enum cli_vfmt)o.fmt :
	    cli_vin_is_csv(run.in) ? CLI_VFMT_CSV : CLI_VFMT_JSONL;
	run.out = f.out;
	memcpy(run.split, f.split, sizeof(run.split));
	run.wait_ms = o.wait_ms;
	run.max_age = o.max_age;
	run.prog_fp = stderr;
	run.prog.mode = o.progress >= 0 ? (enum cli_vprog_mode)o.progress :
	    isatty(STDERR_FILENO) ? CLI_VPROG_BAR : CLI_VPROG_PLAIN;
	run.prog.start_ms = rg_clock_mono_ms();
	run.throttled = cli_htab_new(64);
	run.greylisted = cli_htab_new(64);
	run.j.seen = calloc(1, CLI_VSEEN_BYTES);
	run.base = event_base_new();
	if (run.throttled == NULL || run.greylisted == NULL || run.j.seen == NULL ||
	    run.base == NULL) {
		cli_error("out of memory");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	if ((rc = cli_verify_start(ctx, &o, &f, &run)) != CLI_EXIT_OK)
		goto out;
	if (o.deadline_ms)
		run.deadline_ms = rg_clock_mono_ms() + o.deadline_ms;
	sigint = evsignal_new(run.base, SIGINT, cli_verify_on_signal, &run);
	sigterm = evsignal_new(run.base, SIGTERM, cli_verify_on_signal, &run);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) < 0 ||
	    event_add(sigterm, NULL) < 0) {
		cli_error("cannot catch SIGINT and SIGTERM");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	end = cli_vrun_go(&run);
	cli_vrun_free(&run);
	if (end == CLI_VEND_FAILED) {
		cli_error("verify: %s", run.err);
		(void)cli_vrun_checkpoint(&run);
		cli_verify_report(&run, f.summary, "failed");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	if (cli_vrun_checkpoint(&run) < 0) {
		cli_error("verify: %s", run.err);
		cli_verify_report(&run, f.summary, "failed");
		rc = CLI_EXIT_CACHE;
		goto out;
	}
	if (run.prog.mode != CLI_VPROG_NONE) {
		struct cli_vprog_snap snap;
		memset(&snap, 0, sizeof(snap));
		snap.done = snap.read = snap.total = run.j.st.rows;
		snap.fraction = -1.0;
		memcpy(snap.cls, run.j.st.cls, sizeof(snap.cls));
		cli_vprog_tick(&run.prog, run.prog_fp, &snap, 1);
	}
	ended = end == CLI_VEND_INTERRUPTED ? "interrupted" :
	    run.deadline_hit ? "deadline" : "complete";
	cli_verify_report(&run, f.summary, ended);
	if (end == CLI_VEND_INTERRUPTED) {
		rc = 130;
		goto out;
	}
	cli_vjournal_remove(&run.j);
	if (run.j.st.cls[RG_CLASS_UNDELIVERABLE])
		rc = CLI_EXIT_UNDELIVERABLE;
	else if (run.j.st.cls[RG_CLASS_RISKY] || run.j.st.cls[RG_CLASS_UNKNOWN])
		rc = CLI_EXIT_UNSURE;
	else
		rc = CLI_EXIT_OK;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	cli_vrun_free(&run);
	if (run.base != NULL)
		event_base_free(run.base);
	if (run.throttled != NULL)
		cli_htab_free(run.throttled, NULL);
	if (run.greylisted != NULL)
		cli_htab_free(run.greylisted, NULL);
	free(run.j.seen);
	cli_vin_free(run.in);
	cli_verify_close(&f);
	return rc;
}
