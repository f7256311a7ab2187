/*
 * fuzz_policyd_request.c - libFuzzer target for the policy request parser.
 *
 * The input goes through policyd_request_feed as the server's buffer does,
 * with the server's line cap; a request ends at the empty line or at an
 * error, and the next one starts fresh after the bad line. Invariants: a complete request is an
 * smtpd_access_policy request, every field is terminated inside its
 * buffer, and the recipient length is the length of its text.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../policyd/policyd.h"

#define FUZZ_MAX_LINE	1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(const struct policyd_request *r)
{
	if (strcmp(r->r_request, "smtpd_access_policy") != 0)
		abort();
	if (memchr(r->r_recipient, '\0', sizeof(r->r_recipient)) == NULL ||
	    memchr(r->r_sender, '\0', sizeof(r->r_sender)) == NULL ||
	    memchr(r->r_client_address, '\0', sizeof(r->r_client_address)) == NULL ||
	    memchr(r->r_sasl_username, '\0', sizeof(r->r_sasl_username)) == NULL ||
	    memchr(r->r_protocol_state, '\0', sizeof(r->r_protocol_state)) == NULL)
		abort();
	if (strlen(r->r_recipient) != r->r_recipient_len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policyd_request r;
	const char *p = (const char *)data;
	size_t left = size;

	policyd_request_reset(&r);
	while (left > 0) {
		const char *why = NULL;
		size_t used = 0;

		switch (policyd_request_feed(&r, p, left, FUZZ_MAX_LINE, 100, &used, &why)) {
		case POLICYD_MORE:
			if (used > left)
				abort();
			return 0;	/* an unfinished line waits for more bytes */
		case POLICYD_DONE:
			if (used == 0 || used > left)
				abort();
			fuzz_check(&r);
			break;
		case POLICYD_ERROR:
			if (why == NULL || used > left)
				abort();
			/* The server closes the connection; go on after the bad line. */
			{
				const char *nl = memchr(p + used, '\n', left - used);
				if (nl == NULL)
					return 0;
				used = (size_t)(nl - p) + 1;
			}
			break;
		}
		policyd_request_reset(&r);
		p += used;
		left -= used;
	}
	return 0;
}
