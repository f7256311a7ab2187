/*
 * fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * Any text either parses into values within the table's bounds or fails
 * with a message naming the source; nothing crashes or overruns.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_config cfg;
	char err[512], *text;

	if (size > 65536)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (rg_config_parse_string(&cfg, text, "fuzz.conf", err, sizeof(err)) < 0) {
		if (strncmp(err, "fuzz.conf", 9) != 0)
			abort();
	} else {
		if (cfg.map_size > cfg.map_size_max || cfg.max_readers < 16 || cfg.lease_ttl < 1)
			abort();
		for (int c = 0; c < RG_CLASS_COUNT; c++)
			if (cfg.refresh[c] > cfg.ttl[c])
				abort();
	}
	free(text);
	return 0;
}
