/*
 * fuzz_reply.c - libFuzzer target for SMTP reply handling: the enhanced
 * status code parser, the bounded text, and the classifier at every stage.
 *
 * The first two bytes pick the reply code (200..599) and the stage; the
 * rest is split on LF into reply lines. Invariants: the text stays bounded
 * and printable, the DSN is empty or well-formed, and nothing but a 5xx to
 * RCPT is ever undeliverable.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_reply r;
	struct rg_classification c;
	enum rg_smtp_stage stage;
	const char *p, *end, *nl;
	int code, first = 1;

	if (size < 2)
		return 0;
	code = 200 + ((data[0] << 8 | data[1]) % 400);
	stage = (enum rg_smtp_stage)(data[1] % 5);
	p = (const char *)data + 2;
	end = (const char *)data + size;
	memset(&r, 0, sizeof(r));
	do {
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		if (first)
			rg_reply_set(&r, code, p, len);
		else
			rg_reply_append(&r, p, len);
		first = 0;
		p = nl ? nl + 1 : end;
	} while (p < end);
	if (strlen(r.r_text) > RG_REPLY_TEXT_MAX || strlen(r.r_dsn) > RG_REPLY_DSN_MAX)
		abort();
	for (const char *t = r.r_text; *t; t++)
		if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
			abort();
	if (r.r_dsn[0] != '\0' && (r.r_dsn[0] - '0' != code / 100 || r.r_dsn[1] != '.'))
		abort();
	rg_classify_reply(stage, &r, &c);
	if (c.c_class == RG_CLASS_UNDELIVERABLE && (stage != RG_STAGE_RCPT || code / 100 != 5))
		abort();
	if (strncmp(r.r_dsn, "5.7.", 4) == 0 && c.c_class == RG_CLASS_UNDELIVERABLE)
		abort();
	{
		/* A delay read from the text is at most a day, never negative. */
		int64_t hint = rg_classify_retry_hint(r.r_text);
		if (hint < 0 || hint > 86400)
			abort();
	}
	return 0;
}
