/*
 * fuzz_maillog.c - libFuzzer target for the delivery log reader
 * (lib/maillog.c): any bytes, as a Postfix, an Exim and an auto line. A
 * record must point inside the line, carry a bounded queue id of base-62
 * characters and dashes, a relay address only when it is an IP literal,
 * and a reply of printable ASCII only; the recipient then goes through the
 * address parser as `rcptguard learn` sends it.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/address.h"
#include "rcptguard/maillog.h"

static void
fuzz_maillog_check(const uint8_t *data, size_t size, const struct rg_maillog_entry *e)
{
	const char *base = (const char *)data;
	struct rg_address a;
	struct rg_address_error ae;

	if (e->e_rcpt.s_ptr == NULL || e->e_rcpt.s_ptr < base ||
	    e->e_rcpt.s_ptr + e->e_rcpt.s_len > base + size)
		abort();
	if (e->e_orig.s_ptr != NULL && (e->e_orig.s_ptr < base ||
	    e->e_orig.s_ptr + e->e_orig.s_len > base + size))
		abort();
	if (e->e_detail.s_ptr != NULL && (e->e_detail.s_ptr < base ||
	    e->e_detail.s_ptr + e->e_detail.s_len > base + size))
		abort();
	if (strlen(e->e_qid) > RG_MAILLOG_QID_MAX || strspn(e->e_qid,
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") != strlen(e->e_qid))
		abort();
	if (e->e_remote && e->e_relay_addr[0] == '\0')
		abort();
	for (const char *p = e->e_reply.r_text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
	if (strlen(e->e_reply.r_text) > RG_REPLY_TEXT_MAX || (unsigned)e->e_status >
	    RG_MAILLOG_OTHER || (unsigned)e->e_stage > RG_MAILLOG_AT_OTHER)
		abort();
	(void)rg_address_parse(e->e_rcpt.s_ptr, e->e_rcpt.s_len, RG_ADDR_O_FOLD_LOCAL, &a, &ae);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rg_maillog_format fmts[] = { RG_MAILLOG_AUTO, RG_MAILLOG_POSTFIX,
	    RG_MAILLOG_EXIM };
	struct rg_maillog_entry e;
	/* A copy of exactly size bytes, so a read past the line is caught. */
	char *line = malloc(size ? size : 1);

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		if (rg_maillog_parse(line, size, fmts[i], 1796637262, &e) == 1)
			fuzz_maillog_check((const uint8_t *)line, size, &e);
	}
	free(line);
	return 0;
}
