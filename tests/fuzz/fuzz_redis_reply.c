/*
 * fuzz_redis_reply.c - libFuzzer target for what the fleet's Redis answers
 * to a lookup: the input is the byte stream of a connection (RESP), read
 * by hiredis's reader guarded as a daemon's connection's is (no array over
 * 64 elements, no string over 64 KiB is ever allocated), and every reply it
 * makes is decoded as the MGET of a fetch (verdict, domain record, retry
 * owner). Invariants: a verdict or domain record is either decoded whole
 * (its class and reason within their enums, its strings printable) or
 * refused, and nothing crashes or leaks.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rcptguard/cache.h"
#include "rcptguard/redis.h"
#include "rcptguard/tier.h"
#include "rcptguard/verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_printable - a NUL-terminated string of printable ASCII only. */
static void
fuzz_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *r = redisReaderCreate();
	void *reply = NULL;

	if (r == NULL)
		return 0;
	rg_redis_guard_reader(r);	/* as every connection's reader */
	if (redisReaderFeed(r, (const char *)data, size) == REDIS_OK) {
		for (int i = 0; i < 64 && redisReaderGetReply(r, &reply) == REDIS_OK &&
		    reply != NULL; i++) {
			struct rg_tier_fetch f;
			rg_tier_redis_decode_fetch(reply, "relay-1", &f);
			if (f.tf_verdict == RG_CACHE_OK) {
				if ((unsigned)f.tf_v.v_class >= RG_CLASS_COUNT ||
				    (unsigned)f.tf_v.v_reason >= RG_REASON_COUNT)
					abort();
				fuzz_printable(f.tf_v.v_text, RG_VERDICT_TEXT_MAX);
				fuzz_printable(f.tf_v.v_mx, RG_VERDICT_MX_MAX);
				fuzz_printable(f.tf_v.v_dsn, RG_VERDICT_DSN_MAX);
			}
			if (f.tf_verdict != RG_CACHE_OK && f.tf_verdict != RG_CACHE_NOTFOUND &&
			    f.tf_verdict != RG_CACHE_BADRECORD && f.tf_verdict != RG_CACHE_EIO)
				abort();
			freeReplyObject(reply);
			reply = NULL;
		}
	}
	redisReaderFree(r);
	return 0;
}
