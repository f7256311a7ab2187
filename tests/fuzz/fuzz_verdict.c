/*
 * fuzz_verdict.c - libFuzzer target for the verdict record decoder.
 *
 * A record that decodes must hold in-range values and bounded printable
 * strings. One of the current version must encode back to exactly the
 * bytes it came from; one of an older version (still read) encodes in the
 * current version, and that decodes to the same verdict.
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
	if ((unsigned)v.v_retry_reason >= RG_REASON_COUNT || (unsigned)v.v_source >= RG_SOURCE_COUNT ||
	    strlen(v.v_qid) > RG_VERDICT_QID_MAX)
		abort();
	/* Flags are stored in 16 bits: only those survive. */
	n = rg_record_verdict_encode(&v, buf, sizeof(buf));
	if (data[3] == RG_RECORD_VERDICT_VERSION) {
		if (n != size || memcmp(buf, data, size) != 0)
			abort();
	} else {
		struct rg_verdict w;
		if (n == 0 || buf[3] != RG_RECORD_VERDICT_VERSION ||
		    rg_record_verdict_decode(buf, n, &w) != RG_RECORD_OK ||
		    w.v_class != v.v_class || w.v_reason != v.v_reason || w.v_flags != v.v_flags ||
		    w.v_code != v.v_code || w.v_attempts != v.v_attempts ||
		    w.v_retry_reason != v.v_retry_reason || w.v_checked_at != v.v_checked_at ||
		    w.v_refresh_at != v.v_refresh_at || w.v_expires_at != v.v_expires_at ||
		    strcmp(w.v_dsn, v.v_dsn) != 0 || strcmp(w.v_mx, v.v_mx) != 0 ||
		    strcmp(w.v_text, v.v_text) != 0 || w.v_source != v.v_source ||
		    strcmp(w.v_qid, v.v_qid) != 0)
			abort();
	}
	return 0;
}
