/*
 * fuzz_policyd_request.c - libFuzzer target for the policy request parser.
 *
 * The input is split on LF into lines, as the server does, with the server's
 * line cap; a request ends at the empty line or at an error, and the next
 * one starts fresh. Invariants: a complete request is an
 * smtpd_access_policy request, every field is terminated inside its
 * buffer, and the recipient length is the length of its text.
 */
#include "config.h"

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
	const char *p = (const char *)data, *end = p + size;

	policyd_request_reset(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *why = NULL;
		size_t len;

		if (nl == NULL)
			break;		/* an unfinished line waits for more bytes */
		len = (size_t)(nl - p);
		if (len > FUZZ_MAX_LINE) {
			policyd_request_reset(&r);	/* the server closes the connection */
		} else {
			switch (policyd_request_line(&r, p, len, 100, &why)) {
			case POLICYD_MORE:
				break;
			case POLICYD_DONE:
				fuzz_check(&r);
				policyd_request_reset(&r);
				break;
			case POLICYD_ERROR:
				if (why == NULL)
					abort();
				policyd_request_reset(&r);
				break;
			}
		}
		p = nl + 1;
	}
	return 0;
}
