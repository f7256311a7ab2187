/*
 * fuzz_records.c - libFuzzer target for the decoders of the cache's own
 * records: domain records, probe leases, concurrency slots, token buckets,
 * first-marks and retry records, as a damaged or hostile file could hold
 * them.
 *
 * The input is written as raw bytes under the key each reader looks at (a
 * value of at least the 12-byte header), in a real LMDB cache, then every
 * reader runs over it: the domain record decoder, a lease and a slot
 * acquire and release, a token bucket, a first-mark, a retry record read
 * and claimed, a sweep and the statistics. Invariants: a decoded domain record is within its bounds, a
 * wait is never negative and at most a minute's worth, a first mark is
 * never in the future, and nothing crashes.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rcptguard/cache.h"
#include "rcptguard/store.h"
#include "rcptguard/clock.h"
#include "rcptguard/config.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rg_store *cache;

static void
fuzz_records_open(void)
{
	struct rg_config cfg;
	char dir[] = "/tmp/rg-fuzz-records-XXXXXX", err[512];
	int status;

	if (mkdtemp(dir) == NULL)
		abort();
	rg_log_init("fuzz_records", RG_LOG_STDERR);
	rg_log_set_level(RG_LOG_FATAL);
	rg_config_defaults(&cfg);
	rg_strlcpy(cfg.state_dir, dir, sizeof(cfg.state_dir));
	cfg.map_size_max = 64 * 1048576;
	if ((cache = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cache: %s\n", err);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char val[600];
	struct rg_domain_record d;
	uint64_t token = 0, removed = 0;
	int64_t wait = 0, first = 0;
	int slots[2], nslots[2] = { 3, 2 }, wrapped = 0, rc;
	const char *prefixes[2] = { "g", "m:192.0.2.1" };
	struct rg_cache_stats st;
	size_t len;

	if (cache == NULL)
		fuzz_records_open();
	if (size < 1)
		return 0;
	/* The first byte picks which reader's key gets the bytes; the value is padded to 12. */
	len = size - 1 < sizeof(val) ? size - 1 : sizeof(val);
	memset(val, 0, sizeof(val));
	memcpy(val, data + 1, len);
	if (len < 12)
		len = 12;
	switch (data[0] % 7) {
	case 0:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_DOMAINS, "fuzz.example", val, len);
		break;
	case 1:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_LEASES, "lease@fuzz.example", val, len);
		break;
	case 2:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_LEASES, "m:192.0.2.1#1", val, len);
		break;
	case 3:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_LIMITS, "b:fuzz.example", val, len);
		break;
	case 4:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_DOMAINS, "first:fuzz.example", val, len);
		break;
	case 5:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_VERDICTS, "v@fuzz.example", val, len);
		break;
	case 6:
		rg_cache_raw_put(rg_store_cache(cache), RG_DB_LEASES, "rt:r@fuzz.example", val, len);
		break;
	}

	if (rg_store_domain_get(cache, "fuzz.example", &d) == RG_CACHE_OK &&
	    (d.d_catch_all > RG_CATCH_ALL_YES || d.d_dns_reason >= RG_REASON_COUNT ||
	    d.d_cooldown_level > RG_COOLDOWN_LEVEL_MAX))
		abort();
	if (rg_store_lease_acquire(cache, "lease@fuzz.example", 60, &token, NULL) == RG_LIMIT_OK)
		rg_store_lease_release(cache, "lease@fuzz.example", token, NULL);
	if (rg_store_slots_acquire(cache, prefixes, nslots, 2, 60, slots, &token, NULL) == RG_LIMIT_OK) {
		if (slots[0] < 0 || slots[0] >= nslots[0] || slots[1] < 0 || slots[1] >= nslots[1])
			abort();
		rg_store_slots_release(cache, prefixes, slots, 2, token, NULL);
	}
	rc = rg_store_bucket_take(cache, "b:fuzz.example", 30, 10, &wait, NULL);
	if (rc == RG_CACHE_NOTFOUND && (wait < 0 || wait > 60000))
		abort();
	first = INT64_MIN;
	rg_store_mark_first(cache, "first:fuzz.example", 60, &first, NULL);
	if (first != INT64_MIN && first > rg_clock_now())
		abort();	/* a mark from the future would defer a recipient for ever */
	{
		/* A retry record reads within its bounds, or is dropped by a claim. */
		struct rg_record_retry rt;
		if (rg_store_retry_get(cache, "r@fuzz.example", &rt) == RG_CACHE_OK &&
		    rt.rt_reason >= RG_REASON_COUNT)
			abort();
		if (data[0] & 0x80)
			rg_store_retry_claim(cache, "r@fuzz.example", 0, &rt, NULL);
	}
	rg_cache_sweep(rg_store_cache(cache), &removed, &wrapped);
	rg_cache_stats(rg_store_cache(cache), &st);
	return 0;
}
