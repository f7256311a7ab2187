/*
 * fuzz_verdict.c - libFuzzer target for the verdict record decoder.
 *
 * A record that decodes must hold in-range values and bounded printable
 * strings, and must encode back to exactly the bytes it came from.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/record.h"
#include "rcptguard/verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_verdict v;
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	size_t n;

	if (rg_record_verdict_decode(data, size, &v) != RG_RECORD_OK)
		return 0;
	if ((unsigned)v.v_class >= RG_CLASS_COUNT || (unsigned)v.v_reason >= RG_REASON_COUNT)
		abort();
	if (strlen(v.v_text) > RG_VERDICT_TEXT_MAX || strlen(v.v_mx) > RG_VERDICT_MX_MAX ||
	    strlen(v.v_dsn) > RG_VERDICT_DSN_MAX)
		abort();
	/* Flags are stored in 16 bits: only those survive. */
	n = rg_record_verdict_encode(&v, buf, sizeof(buf));
	if (n != size || memcmp(buf, data, size) != 0)
		abort();
	return 0;
}
