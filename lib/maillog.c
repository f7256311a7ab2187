/*
 * maillog.c - the delivery records of Postfix's and Exim's logs, read
 * (maillog.h).
 *
 * Postfix, one line per recipient and attempt:
 *   [stamp host] postfix[-inst]/smtp[pid]: QID: to=<rcpt>, [orig_to=<o>,]
 *     relay=host[addr]:port, [conn_use=n,] delay=d, delays=a/b/c/d,
 *     dsn=x.y.z, status=word (detail)
 * with the stamp "Dec  7 09:54:21", "Dec 07 09:54:21.123456" (journal,
 * maillog_file) or RFC 3339, or no stamp, host and tag at all
 * (journalctl -o cat). Exim's lines are maillog_exim.c's; the pieces both
 * share are maillog_scan.c's.
 *
 * SECURITY
 *   A log line carries text from strangers: the recipient and sender
 *   addresses given by SMTP clients and the remote servers' replies. The
 *   line is read from its start by structure (stamp, host, tag, queue id,
 *   then the fields in order), so a field or a tag spelled inside an
 *   address or a reply is never taken for the real one; quoted local parts
 *   are skipped as quoted strings; the reply is bounded and made printable
 *   by reply.c; every copied field is bounded and checked for its
 *   alphabet. Nothing here allocates or keeps a pointer past the call.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "maillog_impl.h"

static const char *const rg_maillog_status_names[] = {
	[RG_MAILLOG_SENT] = "sent",
	[RG_MAILLOG_BOUNCED] = "bounced",
	[RG_MAILLOG_DEFERRED] = "deferred",
	[RG_MAILLOG_EXPIRED] = "expired",
	[RG_MAILLOG_OTHER] = "other",
};

static const char *const rg_maillog_stage_names[] = {
	[RG_MAILLOG_AT_NONE] = "none",
	[RG_MAILLOG_AT_CONNECT] = "connect",
	[RG_MAILLOG_AT_HELO] = "helo",
	[RG_MAILLOG_AT_MAIL] = "mail",
	[RG_MAILLOG_AT_RCPT] = "rcpt",
	[RG_MAILLOG_AT_DATA] = "data",
	[RG_MAILLOG_AT_DATA_END] = "end_of_data",
	[RG_MAILLOG_AT_OTHER] = "other",
};

const char *
rg_maillog_status_name(enum rg_maillog_status s)
{
	return (unsigned)s <= RG_MAILLOG_OTHER ? rg_maillog_status_names[s] : "?";
}

const char *
rg_maillog_stage_name(enum rg_maillog_stage s)
{
	return (unsigned)s <= RG_MAILLOG_AT_OTHER ? rg_maillog_stage_names[s] : "?";
}

const char *
rg_maillog_format_name(enum rg_maillog_format f)
{
	switch (f) {
	case RG_MAILLOG_POSTFIX:
		return "postfix";
	case RG_MAILLOG_EXIM:
		return "exim";
	default:
		return "auto";
	}
}

int
rg_maillog_format_parse(const char *name, enum rg_maillog_format *out)
{
	if (strcmp(name, "auto") == 0)
		*out = RG_MAILLOG_AUTO;
	else if (strcmp(name, "postfix") == 0)
		*out = RG_MAILLOG_POSTFIX;
	else if (strcmp(name, "exim") == 0)
		*out = RG_MAILLOG_EXIM;
	else
		return -1;
	return 0;
}

/*
 * rg_maillog_postfix_detail - what is inside "status=word (...)": the
 * remote reply and the command it answered, or a sent reply.
 *   host H[A] said: TEXT (in reply to X command)
 *   host H[A] refused to talk to me: TEXT
 *   250 2.0.0 Ok: queued as X
 * Postfix adds "(in reply to ...)" after the server's words, so the last
 * one in the detail is Postfix's own.
 */
static void
rg_maillog_postfix_detail(struct rg_maillog_entry *e, const char *p, size_t len)
{
	const char *said, *inreply, *text;
	size_t tlen;

	e->e_detail.s_ptr = p;
	e->e_detail.s_len = len;
	if (len >= 5 && memcmp(p, "host ", 5) == 0) {
		if ((said = rg_maillog_memstr(p, len, " said: ")) != NULL) {
			text = said + 7;
		} else if ((said = rg_maillog_memstr(p, len, " refused to talk to me: ")) != NULL) {
			text = said + 24;
			e->e_stage = RG_MAILLOG_AT_CONNECT;
		} else {
			return;
		}
		tlen = (size_t)(p + len - text);
		inreply = rg_maillog_memrstr(text, tlen, " (in reply to ");
		if (inreply != NULL && len >= 9 && memcmp(p + len - 9, " command)", 9) == 0 &&
		    inreply + 14 < p + len - 9) {
			e->e_stage = rg_maillog_stage_of(inreply + 14,
			    (size_t)(p + len - 9 - (inreply + 14)));
			tlen = (size_t)(inreply - text);
		}
		rg_maillog_reply(e, text, tlen);
		return;
	}
	/* status=sent (250 2.0.0 Ok: queued as 4F3...) over SMTP */
	if (e->e_status == RG_MAILLOG_SENT && e->e_remote)
		rg_maillog_reply(e, p, len);
}

/* rg_maillog_relay_postfix - "host[addr]:port", "local", "none", "host[private/dovecot-lmtp]". */
static void
rg_maillog_relay_postfix(struct rg_maillog_entry *e, const char *v, size_t n)
{
	const char *lb = memchr(v, '[', n), *rb;

	if (lb == NULL) {
		rg_maillog_copy(e->e_relay_host, sizeof(e->e_relay_host), v, n,
		    RG_ML_HOST);
		return;
	}
	rb = memchr(lb, ']', (size_t)(v + n - lb));
	if (rb == NULL)
		return;
	rg_maillog_set_relay(e, v, (size_t)(lb - v), lb + 1, (size_t)(rb - lb - 1));
	e->e_relay_port = rg_maillog_port(rb + 1, v + n);
}

/* rg_maillog_postfix_tag - the program of "postfix/smtp[123]:" or "postfix-out/smtp:". */
static int
rg_maillog_postfix_tag(struct rg_maillog_entry *e, const struct rg_maillog_span *tag)
{
	size_t n = tag->s_len;
	const char *lb;

	if (n < 2 || tag->s_ptr[n - 1] != ':')
		return 0;
	n--;
	if ((lb = memchr(tag->s_ptr, '[', n)) != NULL)
		n = (size_t)(lb - tag->s_ptr);
	if (rg_maillog_copy(e->e_program, sizeof(e->e_program), tag->s_ptr, n, RG_ML_PROG) &&
	    strncmp(e->e_program, "postfix", 7) == 0 && strchr(e->e_program, '/') != NULL)
		return 1;
	e->e_program[0] = '\0';
	return 0;
}

/* rg_maillog_postfix_local_agent - a delivery agent that hands mail to a local store. */
static int
rg_maillog_postfix_local_agent(const char *program)
{
	static const char *const agents[] = { "/local", "/virtual", "/pipe", "/lmtp",
	    "/error", "/discard", "/retry" };
	const char *slash = strrchr(program, '/');

	if (slash == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++) {
		if (strcmp(slash, agents[i]) == 0)
			return 1;
	}
	return 0;
}

/* rg_maillog_postfix - a Postfix line whose stamp, if any, is read. */
int
rg_maillog_postfix(struct rg_ml_cur *c, int stamped, struct rg_maillog_entry *e)
{
	struct rg_maillog_span host, tag, qid;
	const char *q;

	if (stamped) {
		if (!rg_maillog_token(c, &host) || !rg_maillog_lit(c, " ") ||
		    !rg_maillog_token(c, &tag) || !rg_maillog_lit(c, " ") ||
		    !rg_maillog_postfix_tag(e, &tag))
			return 0;
	} else {
		/* journalctl -o cat: no tag; or a tag without a stamp. */
		struct rg_ml_cur t = *c;
		if (rg_maillog_token(&t, &tag) && rg_maillog_lit(&t, " ") &&
		    rg_maillog_postfix_tag(e, &tag))
			*c = t;
	}
	/* QID: to=< */
	for (q = c->p; q < c->end && (rg_maillog_class((unsigned char)*q) & RG_ML_ALNUM); q++)
		;
	qid.s_ptr = c->p;
	qid.s_len = (size_t)(q - c->p);
	if (qid.s_len < 5 || qid.s_len > RG_MAILLOG_QID_MAX)
		return 0;
	c->p = q;
	if (!rg_maillog_lit(c, ": to=<"))
		return 0;
	memcpy(e->e_qid, qid.s_ptr, qid.s_len);
	e->e_qid[qid.s_len] = '\0';
	if (!rg_maillog_address(c, '>', &e->e_rcpt) || !rg_maillog_lit(c, ">"))
		return 0;
	/* ", key=value" fields up to status=. */
	for (;;) {
		const char *key, *val;
		size_t klen, vlen;

		if (!rg_maillog_lit(c, ", "))
			return 0;
		key = c->p;
		while (c->p < c->end && *c->p != '=' && *c->p != ' ' && *c->p != ',')
			c->p++;
		klen = (size_t)(c->p - key);
		if (klen == 0 || !rg_maillog_lit(c, "="))
			return 0;
		if (klen == 7 && memcmp(key, "orig_to", 7) == 0) {
			if (!rg_maillog_lit(c, "<") || !rg_maillog_address(c, '>', &e->e_orig) ||
			    !rg_maillog_lit(c, ">"))
				return 0;
			continue;
		}
		val = c->p;
		if (klen == 6 && memcmp(key, "status", 6) == 0) {
			while (c->p < c->end && *c->p != ' ' && *c->p != ',')
				c->p++;
			vlen = (size_t)(c->p - val);
			if (vlen == 4 && memcmp(val, "sent", 4) == 0)
				e->e_status = RG_MAILLOG_SENT;
			else if (vlen == 7 && memcmp(val, "bounced", 7) == 0)
				e->e_status = RG_MAILLOG_BOUNCED;
			else if (vlen == 8 && memcmp(val, "deferred", 8) == 0)
				e->e_status = RG_MAILLOG_DEFERRED;
			else if (vlen == 7 && memcmp(val, "expired", 7) == 0)
				e->e_status = RG_MAILLOG_EXPIRED;
			else if (vlen > 0)
				e->e_status = RG_MAILLOG_OTHER;
			else
				return 0;
			break;
		}
		/* The value ends at ", " (a comma alone may be part of it). */
		for (q = val; (q = memchr(q, ',', (size_t)(c->end - q))) != NULL && q + 1 < c->end &&
		    q[1] != ' '; q++)
			;
		c->p = q != NULL && q + 1 < c->end ? q : c->end;
		vlen = (size_t)(c->p - val);
		if (klen == 5 && memcmp(key, "relay", 5) == 0)
			rg_maillog_relay_postfix(e, val, vlen);
		else if (klen == 3 && memcmp(key, "dsn", 3) == 0 &&
		    !rg_maillog_copy(e->e_dsn, sizeof(e->e_dsn), val, vlen, RG_ML_DSN))
			e->e_dsn[0] = '\0';
	}
	if (e->e_program[0] != '\0' && rg_maillog_postfix_local_agent(e->e_program))
		e->e_remote = 0;
	/* " (detail)" to the end of the line. */
	if (rg_maillog_lit(c, " (") && c->end > c->p && c->end[-1] == ')')
		rg_maillog_postfix_detail(e, c->p, (size_t)(c->end - 1 - c->p));
	e->e_format = RG_MAILLOG_POSTFIX;
	return 1;
}

/*
 * rg_maillog_entry_init - every field empty. Field by field: the strings'
 * buffers are most of the entry, and a log's lines are many.
 */
static void
rg_maillog_entry_init(struct rg_maillog_entry *e)
{
	e->e_format = RG_MAILLOG_AUTO;
	e->e_status = RG_MAILLOG_OTHER;
	e->e_time = 0;
	e->e_qid[0] = '\0';
	e->e_program[0] = '\0';
	e->e_rcpt.s_ptr = e->e_orig.s_ptr = e->e_detail.s_ptr = NULL;
	e->e_rcpt.s_len = e->e_orig.s_len = e->e_detail.s_len = 0;
	e->e_remote = 0;
	e->e_relay_host[0] = '\0';
	e->e_relay_addr[0] = '\0';
	e->e_relay_port = 0;
	e->e_dsn[0] = '\0';
	e->e_stage = RG_MAILLOG_AT_NONE;
	e->e_has_reply = 0;
	e->e_reply.r_code = 0;
	e->e_reply.r_dsn[0] = '\0';
	e->e_reply.r_text[0] = '\0';
}

int
rg_maillog_parse(const char *line, size_t len, enum rg_maillog_format fmt, int64_t now,
    struct rg_maillog_entry *e)
{
	struct rg_ml_cur c = { line, line + len };
	struct rg_ml_stamp st;

	rg_maillog_entry_init(e);
	if (fmt != RG_MAILLOG_POSTFIX) {
		struct rg_ml_cur x = c;
		if (rg_maillog_stamp_exim(&x, &st) && rg_maillog_exim(&x, e)) {
			e->e_time = rg_maillog_when(&st, now);
			return 1;
		}
		if (fmt == RG_MAILLOG_EXIM)
			return 0;
		rg_maillog_entry_init(e);
	}
	if (rg_maillog_stamp_rfc3339(&c, &st) || rg_maillog_stamp_bsd(&c, &st)) {
		if (!rg_maillog_postfix(&c, 1, e))
			return 0;
	} else {
		st.kind = RG_ML_STAMP_NONE;
		if (!rg_maillog_postfix(&c, 0, e))
			return 0;
	}
	e->e_time = rg_maillog_when(&st, now);
	return 1;
}

enum rg_maillog_format
rg_maillog_detect(const char *line, size_t len)
{
	struct rg_ml_cur c = { line, line + len };
	struct rg_ml_stamp st;
	struct rg_maillog_entry e;

	if (rg_maillog_stamp_exim(&c, &st)) {
		/* "[pid] " and a message id, or one of Exim's other lines after a stamp. */
		if (c.p < c.end && *c.p == '[')
			return RG_MAILLOG_EXIM;
		return rg_maillog_exim_id(&c, &e) || !rg_maillog_memstr(line, len, "postfix") ?
		    RG_MAILLOG_EXIM : RG_MAILLOG_POSTFIX;
	}
	return len > 0 ? RG_MAILLOG_POSTFIX : RG_MAILLOG_AUTO;
}
