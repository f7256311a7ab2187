/*
 * policyd_request.c - one policy request, line by line.
 *
 * SMTPD_POLICY_README: a request is name=value lines ended by an empty
 * line. Unknown attributes are ignored (Postfix adds new ones over time),
 * but a line without "=", a NUL byte, an attribute that does not fit, too
 * many attributes, or a request other than smtpd_access_policy is
 * malformed: the caller logs it and closes the connection without a reply.
 * The line length cap is the caller's (it sees the bytes first).
 */
#include "config.h"

#include <string.h>

#include "policyd.h"
#include "rcptguard/util.h"

void
policyd_request_reset(struct policyd_request *r)
{
	r->r_request[0] = '\0';
	r->r_protocol_state[0] = '\0';
	r->r_queue_id[0] = '\0';
	r->r_recipient[0] = '\0';
	r->r_recipient_len = 0;
	r->r_sender[0] = '\0';
	r->r_client_address[0] = '\0';
	r->r_client_name[0] = '\0';
	r->r_sasl_username[0] = '\0';
	r->r_instance[0] = '\0';
	r->r_nattrs = 0;
}

struct policyd_attr {
	const char	*a_name;
	size_t		 a_offset;
	size_t		 a_size;
};

#define POLICYD_ATTR(name, field) \
	{ name, offsetof(struct policyd_request, field), sizeof(((struct policyd_request *)0)->field) }

static const struct policyd_attr policyd_attrs[] = {
	POLICYD_ATTR("request", r_request),
	POLICYD_ATTR("protocol_state", r_protocol_state),
	POLICYD_ATTR("queue_id", r_queue_id),
	POLICYD_ATTR("recipient", r_recipient),
	POLICYD_ATTR("sender", r_sender),
	POLICYD_ATTR("client_address", r_client_address),
	POLICYD_ATTR("client_name", r_client_name),
	POLICYD_ATTR("sasl_username", r_sasl_username),
	POLICYD_ATTR("instance", r_instance),
};

enum policyd_parse
policyd_request_line(struct policyd_request *r, const char *line, size_t len,
    int max_attributes, const char **why)
{
	const char *eq;
	size_t nlen;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0) {
		if (r->r_nattrs == 0) {
			*why = "empty request";
			return POLICYD_ERROR;
		}
		if (strcmp(r->r_request, "smtpd_access_policy") != 0) {
			*why = r->r_request[0] == '\0' ? "no request attribute" :
			    "request is not smtpd_access_policy";
			return POLICYD_ERROR;
		}
		return POLICYD_DONE;
	}
	if (memchr(line, '\0', len) != NULL) {
		*why = "NUL byte in request";
		return POLICYD_ERROR;
	}
	if ((eq = memchr(line, '=', len)) == NULL) {
		*why = "line without \"=\"";
		return POLICYD_ERROR;
	}
	if ((nlen = (size_t)(eq - line)) == 0) {
		*why = "attribute without a name";
		return POLICYD_ERROR;
	}
	if (++r->r_nattrs > max_attributes) {
		*why = "too many attributes";
		return POLICYD_ERROR;
	}
	for (size_t i = 0; i < RG_ARRAY_LEN(policyd_attrs); i++) {
		const struct policyd_attr *a = &policyd_attrs[i];
		size_t vlen = len - nlen - 1;
		char *field;

		if (strlen(a->a_name) != nlen || memcmp(a->a_name, line, nlen) != 0)
			continue;
		if (vlen >= a->a_size) {
			*why = "attribute value too long";
			return POLICYD_ERROR;
		}
		field = (char *)r + a->a_offset;
		memcpy(field, eq + 1, vlen);
		field[vlen] = '\0';
		if (field == r->r_recipient)
			r->r_recipient_len = vlen;
		break;
	}
	return POLICYD_MORE;
}
