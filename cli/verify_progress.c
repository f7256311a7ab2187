/*
 * verify_progress.c - how far `rcptguard verify` is, on standard error.
 *
 * On a terminal, one line redrawn at most ten times a second: rows done
 * of the total (an estimate from the bytes read until the input has been
 * read to its end), the rate, the time left, the count of each class,
 * domains pausing after throttling and rows waiting for a re-probe. The
 * bar ends with a newline, so the shell's prompt starts on a clean line.
 * Elsewhere (a log collector), a plain line every ten seconds.
 */
#include "rg_build.h"

#include <stdio.h>

#include "rcptguard/clock.h"
#include "rcptguard/util.h"
#include "verify.h"

#define CLI_VPROG_BAR_MS	100
#define CLI_VPROG_PLAIN_MS	10000
#define CLI_VPROG_WIDTH		24

void
cli_vprog_tick(struct cli_vprog *p, FILE *fp, const struct cli_vprog_snap *s, int final)
{
	int64_t now = rg_clock_mono_ms(), secs;
	uint64_t total = s->total, done_here = s->done - p->done_at_start;
	double rate, frac;
	char eta[32] = "?", tot[32];
	int est = 0;

	if (p->mode == CLI_VPROG_NONE)
		return;
	if (!final && now - p->last_ms < (p->mode == CLI_VPROG_BAR ? CLI_VPROG_BAR_MS :
	    CLI_VPROG_PLAIN_MS))
		return;
	if (final && p->mode == CLI_VPROG_PLAIN && done_here == 0 && p->last_ms == 0)
		return;
	p->last_ms = now;
	secs = now - p->start_ms;
	rate = secs > 0 ? (double)done_here * 1000.0 / (double)secs : 0.0;
	if (total == 0 && s->fraction > 0.0) {
		total = (uint64_t)((double)s->read / s->fraction + 0.5);
		est = 1;
	}
	if (total < s->done)
		total = s->done;
	frac = total ? (double)s->done / (double)total : 0.0;
	if (rate > 0.0 && total > s->done)
		rg_format_duration((int64_t)((double)(total - s->done) / rate + 0.5), eta, sizeof(eta));
	else if (total && total == s->done)
		snprintf(eta, sizeof(eta), "0s");
	if (total)
		snprintf(tot, sizeof(tot), "%s%llu", est ? "~" : "", (unsigned long long)total);
	else
		snprintf(tot, sizeof(tot), "?");
	if (p->mode == CLI_VPROG_BAR) {
		char bar[CLI_VPROG_WIDTH + 1];
		int fill = (int)(frac * CLI_VPROG_WIDTH);
		for (int i = 0; i < CLI_VPROG_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[CLI_VPROG_WIDTH] = '\0';
		fprintf(fp, "\r[%s] %llu/%s %3d%% %.0f/s ETA %s | ok %llu bad %llu risky %llu "
		    "unknown %llu | cooling %d retrying %d\033[K", bar,
		    (unsigned long long)s->done, tot, (int)(frac * 100.0), rate, eta,
		    (unsigned long long)s->cls[RG_CLASS_DELIVERABLE],
		    (unsigned long long)s->cls[RG_CLASS_UNDELIVERABLE],
		    (unsigned long long)s->cls[RG_CLASS_RISKY],
		    (unsigned long long)s->cls[RG_CLASS_UNKNOWN], s->cooling, s->retrying);
		p->drawn = 1;
		if (final) {
			fputc('\n', fp);
			p->drawn = 0;
		}
	} else {
		fprintf(fp, "rcptguard: verify: %llu of %s done (%d%%), %.0f/s, ETA %s, "
		    "deliverable %llu undeliverable %llu risky %llu unknown %llu, "
		    "%d domains cooling, %d rows waiting for a re-probe\n",
		    (unsigned long long)s->done, tot, (int)(frac * 100.0), rate, eta,
		    (unsigned long long)s->cls[RG_CLASS_DELIVERABLE],
		    (unsigned long long)s->cls[RG_CLASS_UNDELIVERABLE],
		    (unsigned long long)s->cls[RG_CLASS_RISKY],
		    (unsigned long long)s->cls[RG_CLASS_UNKNOWN], s->cooling, s->retrying);
	}
	fflush(fp);
}
