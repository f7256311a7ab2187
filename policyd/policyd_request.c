/*
 * policyd_request.c - one policy request, line by line.
 *
 * SMTPD_POLICY_README: a request is name=value lines ended by an empty
 * line. Unknown attributes are ignored (Postfix adds new ones over time),
 * but a line without "=", a NUL byte, an attribute that does not fit, too
 * many attributes, or a request other than smtpd_access_policy is
 * malformed: the caller logs it and closes the connection without a reply,
 * and so is a line longer than the cap.
 *
 * SECURITY
 *   Anything that can connect to the socket writes these bytes. Every
 *   attribute value is copied into a fixed buffer and refused when it does
 *   not fit; a NUL byte, a missing "=" or too many attributes ends it as
 *   malformed. Values are never interpreted here: the recipient goes to
 *   rg_address_parse, and whatever is logged goes through the log module's
 *   escaping.
 */
#include "rg_build.h"

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
	size_t		 a_offset;
	size_t		 a_size;
};

#define POLICYD_ATTR(field) \
	{ offsetof(struct policyd_request, field), sizeof(((struct policyd_request *)0)->field) }

enum { A_REQUEST, A_STATE, A_QUEUE_ID, A_RECIPIENT, A_SENDER, A_CLIENT_ADDRESS, A_CLIENT_NAME,
	A_SASL_USERNAME, A_INSTANCE };

static const struct policyd_attr policyd_attrs[] = {
	[A_REQUEST] =		POLICYD_ATTR(r_request),
	[A_STATE] =		POLICYD_ATTR(r_protocol_state),
	[A_QUEUE_ID] =		POLICYD_ATTR(r_queue_id),
	[A_RECIPIENT] =		POLICYD_ATTR(r_recipient),
	[A_SENDER] =		POLICYD_ATTR(r_sender),
	[A_CLIENT_ADDRESS] =	POLICYD_ATTR(r_client_address),
	[A_CLIENT_NAME] =	POLICYD_ATTR(r_client_name),
	[A_SASL_USERNAME] =	POLICYD_ATTR(r_sasl_username),
	[A_INSTANCE] =		POLICYD_ATTR(r_instance),
};

/* POLICYD_IS - name (nlen bytes) is the literal lit: a compare of constant size, inlined. */
#define POLICYD_IS(name, lit)	(memcmp((name), lit, sizeof(lit) - 1) == 0)

/*
 * policyd_attr_find - the attribute we keep called name (nlen bytes), or
 * NULL. Postfix sends some 30 attributes per request and we keep 9: the
 * length picks at most two candidates, each compared at a constant size.
 */
static const struct policyd_attr *
policyd_attr_find(const char *name, size_t nlen)
{
	int i = -1;

	switch (nlen) {
	case 6:
		i = POLICYD_IS(name, "sender") ? A_SENDER : -1;
		break;
	case 7:
		i = POLICYD_IS(name, "request") ? A_REQUEST : -1;
		break;
	case 8:
		i = POLICYD_IS(name, "queue_id") ? A_QUEUE_ID :
		    POLICYD_IS(name, "instance") ? A_INSTANCE : -1;
		break;
	case 9:
		i = POLICYD_IS(name, "recipient") ? A_RECIPIENT : -1;
		break;
	case 11:
		i = POLICYD_IS(name, "client_name") ? A_CLIENT_NAME : -1;
		break;
	case 13:
		i = POLICYD_IS(name, "sasl_username") ? A_SASL_USERNAME : -1;
		break;
	case 14:
		i = POLICYD_IS(name, "protocol_state") ? A_STATE :
		    POLICYD_IS(name, "client_address") ? A_CLIENT_ADDRESS : -1;
		break;
	}
	return i < 0 ? NULL : &policyd_attrs[i];
}

/* policyd_request_line - one line without its LF; the caller has ruled out NUL bytes. */
static enum policyd_parse
policyd_request_line(struct policyd_request *r, const char *line, size_t len,
    int max_attributes, const char **why)
{
	const struct policyd_attr *a;
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
	if ((a = policyd_attr_find(line, nlen)) != NULL) {
		size_t vlen = len - nlen - 1;
		char *field;

		if (vlen >= a->a_size) {
			*why = "attribute value too long";
			return POLICYD_ERROR;
		}
		field = (char *)r + a->a_offset;
		memcpy(field, eq + 1, vlen);
		field[vlen] = '\0';
		if (field == r->r_recipient)
			r->r_recipient_len = vlen;
	}
	return POLICYD_MORE;
}

enum policyd_parse
policyd_request_feed(struct policyd_request *r, const char *buf, size_t len, size_t max_line,
    int max_attributes, size_t *used, const char **why)
{
	/* One look for a NUL over the whole buffer, not one per line. */
	const char *nul = memchr(buf, '\0', len);
	size_t pos = 0;
	enum policyd_parse pr = POLICYD_MORE;

	while (pos < len) {
		const char *line = buf + pos, *lf = memchr(line, '\n', len - pos);
		size_t llen;

		if (lf == NULL) {
			if (len - pos > max_line) {
				*why = "request line longer than max_line_length";
				pr = POLICYD_ERROR;
			}
			break;		/* else the rest of the line is still to come */
		}
		if ((llen = (size_t)(lf - line)) > max_line) {
			*why = "request line longer than max_line_length";
			pr = POLICYD_ERROR;
			break;
		}
		if (nul != NULL && nul < lf) {
			*why = "NUL byte in request";
			pr = POLICYD_ERROR;
			break;
		}
		pos += llen + 1;
		if ((pr = policyd_request_line(r, line, llen, max_attributes, why)) != POLICYD_MORE)
			break;
	}
	*used = pos;
	return pr;
}
