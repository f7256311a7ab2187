/*
 * bench_maillog.c - how fast `rcptguard learn` reads a log, without the
 * decisions: the same reader (cli/learn_source.c: whole chunks, the
 * Postfix mark searched as grep searches, lines without it counted) and
 * the same parser (lib/maillog.c) on every line that may be a record.
 * Prints lines, records and lines per second; run-learn-bench.sh compares
 * it with grep -c in the same rounds.
 *
 * usage: bench_maillog FILE
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "learn_source.h"
#include "rcptguard/clock.h"
#include "rcptguard/maillog.h"

struct bench_ml {
	struct cli_lsrc		*src;
	enum rg_maillog_format	 fmt;
	int64_t			 now;
	unsigned long		 records;
	unsigned long		 remote;
};

/* bench_ml_line - as cmd_learn.c's line callback, without learn.c. */
static void
bench_ml_line(const char *line, size_t len, void *arg)
{
	struct bench_ml *b = arg;
	struct rg_maillog_entry e;

	if (b->fmt == RG_MAILLOG_AUTO)
		b->fmt = rg_maillog_detect(line, len);
	if (b->fmt == RG_MAILLOG_POSTFIX && b->src->ls_mark == NULL)
		cli_lsrc_set_mark(b->src, RG_MAILLOG_POSTFIX_MARK);
	if (rg_maillog_parse(line, len, b->fmt, b->now, &e) == 1) {
		b->records++;
		b->remote += (unsigned long)e.e_remote;
	}
}

int
main(int argc, char **argv)
{
	struct cli_lsrc src;
	struct bench_ml b = { .src = &src, .fmt = RG_MAILLOG_AUTO };
	char err[4200];
	double t0, t;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_maillog FILE\n");
		return 2;
	}
	b.now = rg_clock_now();
	t0 = bench_now();
	if (cli_lsrc_open(&src, argv[1], NULL, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	while (cli_lsrc_read(&src, 4 << 20, bench_ml_line, &b, err, sizeof(err)) > 0)
		;
	t = bench_now() - t0;
	printf("lines=%lu records=%lu remote=%lu seconds=%.4f lines_per_s=%.0f\n",
	    (unsigned long)src.ls_lines, b.records, b.remote, t, (double)src.ls_lines / t);
	cli_lsrc_close(&src);
	return 0;
}
