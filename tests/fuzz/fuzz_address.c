/*
 * fuzz_address.c - libFuzzer target for the RFC 5321 Mailbox parser.
 *
 * Invariants checked on every input that parses: the normalized forms are
 * within the RFC limits and free of control bytes, and parsing the
 * normalized mailbox again gives the same mailbox (normalization is stable).
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_address a, b;
	struct rg_address_error e;

	if (rg_address_parse((const char *)data, size, RG_ADDR_O_FOLD_LOCAL, &a, &e) < 0) {
		if (e.e_detail == NULL || e.e_offset > size)
			abort();
		return 0;
	}
	if (strlen(a.a_local) > RG_ADDR_LOCAL_MAX || strlen(a.a_domain) > RG_ADDR_DOMAIN_MAX ||
	    strlen(a.a_mailbox) > RG_ADDR_MAILBOX_MAX)
		abort();
	for (const char *p = a.a_mailbox; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	if (rg_address_parse(a.a_mailbox, strlen(a.a_mailbox), RG_ADDR_O_FOLD_LOCAL, &b, &e) < 0)
		abort();
	if (strcmp(a.a_mailbox, b.a_mailbox) != 0 || strcmp(a.a_key, b.a_key) != 0)
		abort();
	return 0;
}
