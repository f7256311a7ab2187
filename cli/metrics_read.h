/*
 * metrics_read.h - a daemon's metrics as `rcptguard stats` reads them:
 * one HTTP GET of /metrics at an inet:host:port address, and the samples
 * of the text exposition it answers.
 */
#ifndef RG_CLI_METRICS_READ_H
#define RG_CLI_METRICS_READ_H

#include <stddef.h>

#define CLI_METRICS_MAX_BYTES	(4 * 1024 * 1024)	/* a longer answer is refused */
#define CLI_METRICS_MAX_SAMPLES	8192

/* One sample: its series as written ("name{a=\"x\"}") and its value. */
struct cli_sample {
	char	*s_series;
	double	 s_value;
};

struct cli_samples {
	struct cli_sample	*ss_v;
	size_t			 ss_n;
};

/*
 * cli_metrics_parse - the samples of an exposition of len bytes (comments
 * and lines that are not samples are skipped; at most
 * CLI_METRICS_MAX_SAMPLES kept). 0, or -1 when out of memory.
 */
int cli_metrics_parse(const char *text, size_t len, struct cli_samples *out);
void cli_samples_free(struct cli_samples *ss);

/* cli_metrics_get - the value of series, or dflt when it is absent. */
double cli_metrics_get(const struct cli_samples *ss, const char *series, double dflt);

/*
 * cli_metrics_fetch - GET http://host:port/metrics for spec
 * ("inet:host:port"), waiting at most timeout_ms in all; 0 with the
 * samples, or -1 with err.
 */
int cli_metrics_fetch(const char *spec, int timeout_ms, struct cli_samples *out, char *err,
    size_t errsize);

#endif /* RG_CLI_METRICS_READ_H */
