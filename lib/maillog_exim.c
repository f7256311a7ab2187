/*
 * maillog_exim.c - the delivery records of Exim's main.log (maillog.h):
 *   YYYY-MM-DD HH:MM:SS[.fff] [+zzzz] [[pid]] ID => rcpt [<parent>]
 *     R=router T=transport H=host [addr]:port ... C="250 ..."
 *   ... ID ** rcpt ... : SMTP error from remote mail server after
 *     RCPT TO:<rcpt>: [host h [a]: ]550 5.1.1 ...
 * ("->" for another address of the same delivery, "==" for a deferral).
 *
 * SECURITY
 *   The recipient is read first, as one (possibly quoted) address, so the
 *   error text that follows cannot be forged inside it; quoted field values
 *   (DN="...") are skipped whole; the reply goes through reply.c.
 */
#include "rg_build.h"

#include <string.h>

#include "maillog_impl.h"

/* rg_maillog_exim_id - "1tABCD-000123-AB": 6, 6 to 11, 2 to 4 base-62 characters. */
int
rg_maillog_exim_id(struct rg_ml_cur *c, struct rg_maillog_entry *e)
{
	static const int lo[3] = { 6, 6, 2 }, hi[3] = { 6, 11, 4 };
	const char *start = c->p;

	for (int part = 0; part < 3; part++) {
		int n = 0;

		while (c->p < c->end && (rg_maillog_class((unsigned char)*c->p) & RG_ML_ALNUM)) {
			c->p++;
			n++;
		}
		if (n < lo[part] || n > hi[part])
			return 0;
		if (part < 2 && !rg_maillog_lit(c, "-"))
			return 0;
	}
	if ((size_t)(c->p - start) > RG_MAILLOG_QID_MAX)
		return 0;
	memcpy(e->e_qid, start, (size_t)(c->p - start));
	e->e_qid[c->p - start] = '\0';
	return 1;
}

/* rg_maillog_exim_host - "name [addr]" or "name [addr]:port" at c into e. */
static int
rg_maillog_exim_host(struct rg_ml_cur *c, struct rg_maillog_entry *e)
{
	const char *name = c->p, *sp, *rb;

	sp = memchr(c->p, ' ', (size_t)(c->end - c->p));
	if (sp == NULL || sp + 1 >= c->end || sp[1] != '[')
		return 0;
	rb = memchr(sp + 2, ']', (size_t)(c->end - sp - 2));
	if (rb == NULL)
		return 0;
	rg_maillog_set_relay(e, name, (size_t)(sp - name), sp + 2, (size_t)(rb - sp - 2));
	e->e_relay_port = rg_maillog_port(rb + 1, c->end);
	c->p = rb + 1;
	return 1;
}

/*
 * rg_maillog_exim_error - ": SMTP error from remote mail server after X:
 * [host h [a]: ]550 ..." in a failure or deferral line.
 */
static void
rg_maillog_exim_error(struct rg_ml_cur *c, struct rg_maillog_entry *e)
{
	static const char lead[] = ": SMTP error from remote mail server after ";
	const char *p = rg_maillog_memstr(c->p, (size_t)(c->end - c->p), lead);
	struct rg_ml_cur s;
	struct rg_maillog_span skip;

	if (p == NULL)
		return;
	e->e_detail.s_ptr = p + 2;
	e->e_detail.s_len = (size_t)(c->end - p - 2);
	s.p = p + sizeof(lead) - 1;
	s.end = c->end;
	e->e_stage = rg_maillog_stage_of(s.p, (size_t)(s.end - s.p));
	/* The command's argument may be an address in <>: skip it as one. */
	{
		const char *lt = memchr(s.p, '<', (size_t)(s.end - s.p));
		const char *colon = rg_maillog_memstr(s.p, (size_t)(s.end - s.p), ": ");

		if (lt != NULL && (colon == NULL || lt < colon)) {
			s.p = lt + 1;
			if (!rg_maillog_address(&s, '>', &skip))
				return;
		}
	}
	if ((p = rg_maillog_memstr(s.p, (size_t)(s.end - s.p), ": ")) == NULL)
		return;
	s.p = p + 2;
	/* Exim before 4.9x: "host mx.example.net [192.0.2.1]: 550 ..." */
	if (rg_maillog_lit(&s, "host ")) {
		if (!rg_maillog_exim_host(&s, e) || !rg_maillog_lit(&s, ": "))
			return;
	}
	rg_maillog_reply(e, s.p, (size_t)(s.end - s.p));
}

/*
 * rg_maillog_field - an Exim field value up to a space; a colon that ends
 * it ("T=remote_smtp: SMTP error ...") is left for the message. -1 when
 * empty.
 */
static int
rg_maillog_field(struct rg_ml_cur *c, struct rg_maillog_span *out)
{
	if (!rg_maillog_token(c, out))
		return -1;
	if (out->s_ptr[out->s_len - 1] == ':') {
		out->s_len--;
		c->p--;
	}
	return 0;
}

/* rg_maillog_exim - an Exim line after its stamp. */
int
rg_maillog_exim(struct rg_ml_cur *c, struct rg_maillog_entry *e)
{
	struct rg_maillog_span transport = { NULL, 0 };

	/* log_selector +pid: "[1234] " */
	if (c->p < c->end && *c->p == '[') {
		const char *rb = memchr(c->p, ']', (size_t)(c->end - c->p));
		if (rb == NULL || rb + 1 >= c->end || rb[1] != ' ')
			return 0;
		c->p = rb + 2;
	}
	if (!rg_maillog_exim_id(c, e) || !rg_maillog_lit(c, " "))
		return 0;
	if (rg_maillog_lit(c, "=> ") || rg_maillog_lit(c, "-> "))
		e->e_status = RG_MAILLOG_SENT;
	else if (rg_maillog_lit(c, "** "))
		e->e_status = RG_MAILLOG_BOUNCED;
	else if (rg_maillog_lit(c, "== "))
		e->e_status = RG_MAILLOG_DEFERRED;
	else
		return 0;
	if (rg_maillog_lit(c, "<")) {
		if (!rg_maillog_address(c, '>', &e->e_rcpt) || !rg_maillog_lit(c, ">"))
			return 0;
	} else if (!rg_maillog_address(c, ' ', &e->e_rcpt)) {
		/* The address ends the line. */
		if (c->p >= c->end || c->end - c->p > 1024)
			return 0;
		e->e_rcpt.s_ptr = c->p;
		e->e_rcpt.s_len = (size_t)(c->end - c->p);
		c->p = c->end;
	}
	/* "user@domain: reason" of a local failure: the colon belongs to the message. */
	if (e->e_rcpt.s_len > 0 && e->e_rcpt.s_ptr[e->e_rcpt.s_len - 1] == ':')
		e->e_rcpt.s_len--;
	if (rg_maillog_lit(c, " <")) {
		if (!rg_maillog_address(c, '>', &e->e_orig) || !rg_maillog_lit(c, ">"))
			return 0;
	}
	/* " K=V" fields: T= for the transport, H= for the host, C= for the confirmation. */
	while (rg_maillog_lit(c, " ")) {
		if (rg_maillog_lit(c, "H=")) {
			if (!rg_maillog_exim_host(c, e))
				break;
		} else if (rg_maillog_lit(c, "T=")) {
			if (rg_maillog_field(c, &transport) < 0)
				break;
		} else if (rg_maillog_lit(c, "C=\"")) {
			const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
			if (q == NULL)
				break;
			if (e->e_status == RG_MAILLOG_SENT)
				rg_maillog_reply(e, c->p, (size_t)(q - c->p));
			c->p = q + 1;
		} else if (c->p < c->end && *c->p == ':') {
			break;
		} else {
			struct rg_maillog_span skip;
			/* A quoted value (DN="...") may hold spaces. */
			const char *eq = memchr(c->p, '=', (size_t)(c->end - c->p));
			const char *sp = memchr(c->p, ' ', (size_t)(c->end - c->p));
			if (eq != NULL && (sp == NULL || eq < sp) && eq + 1 < c->end && eq[1] == '"') {
				const char *q = memchr(eq + 2, '"', (size_t)(c->end - eq - 2));
				if (q == NULL)
					break;
				c->p = q + 1;
			} else if (rg_maillog_field(c, &skip) < 0) {
				break;
			}
		}
	}
	if (transport.s_ptr != NULL && rg_maillog_memstr(transport.s_ptr, transport.s_len,
	    "lmtp") != NULL)
		e->e_remote = 0;
	if (e->e_status != RG_MAILLOG_SENT)
		rg_maillog_exim_error(c, e);
	if (e->e_detail.s_ptr == NULL && c->p < c->end) {
		e->e_detail.s_ptr = c->p;
		e->e_detail.s_len = (size_t)(c->end - c->p);
	}
	memcpy(e->e_program, "exim", 5);
	e->e_format = RG_MAILLOG_EXIM;
	return 1;
}
