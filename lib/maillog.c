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
 * (journalctl -o cat). Exim's main.log:
 *   YYYY-MM-DD HH:MM:SS[.fff] [+zzzz] [[pid]] ID => rcpt [<parent>]
 *     R=router T=transport H=host [addr]:port ... C="250 ..."
 *   ... ID ** rcpt ... : SMTP error from remote mail server after
 *     RCPT TO:<rcpt>: [host h [a]: ]550 5.1.1 ...
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

#include "rcptguard/maillog.h"

struct rg_ml_cur {
	const char	*p;
	const char	*end;
};

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

/* rg_maillog_litn - the cursor is at the n bytes of lit: step over them. */
static int
rg_maillog_litn(struct rg_ml_cur *c, const char *lit, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* rg_maillog_lit - the same for a string literal (only: the macro refuses anything else). */
#define rg_maillog_lit(c, lit)	rg_maillog_litn((c), "" lit "", sizeof(lit) - 1)

/* Character classes of the fields copied out of a line. */
#define RG_ML_ALNUM	0x01u	/* queue ids */
#define RG_ML_HOST	0x02u	/* host names: letters, digits, . - _ */
#define RG_ML_IP	0x04u	/* IPv4 and IPv6 literals: hex digits, . : */
#define RG_ML_PROG	0x08u	/* syslog tags: host characters and / */
#define RG_ML_DSN	0x10u	/* enhanced status codes: digits and . */

/* rg_maillog_class - the classes byte c belongs to. */
static inline unsigned
rg_maillog_class(unsigned char c)
{
	unsigned l = c | 0x20u;

	if (c >= '0' && c <= '9')
		return RG_ML_ALNUM | RG_ML_HOST | RG_ML_IP | RG_ML_PROG | RG_ML_DSN;
	if (l >= 'a' && l <= 'z')
		return RG_ML_ALNUM | RG_ML_HOST | RG_ML_PROG | (l <= 'f' ? RG_ML_IP : 0);
	switch (c) {
	case '.':
		return RG_ML_HOST | RG_ML_IP | RG_ML_PROG | RG_ML_DSN;
	case '-':
	case '_':
		return RG_ML_HOST | RG_ML_PROG;
	case '/':
		return RG_ML_PROG;
	case ':':
		return RG_ML_IP;
	default:
		return 0;
	}
}

/* rg_maillog_num - exactly n digits (n <= 9) into *v. */
static int
rg_maillog_num(struct rg_ml_cur *c, int n, int *v)
{
	int x = 0;

	if (c->end - c->p < n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return 0;
		x = x * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*v = x;
	return 1;
}

/* rg_maillog_frac - skip ".digits" when present. */
static void
rg_maillog_frac(struct rg_ml_cur *c)
{
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
}

/* rg_maillog_hms - "HH:MM:SS" into tm. */
static int
rg_maillog_hms(struct rg_ml_cur *c, struct tm *tm)
{
	return rg_maillog_num(c, 2, &tm->tm_hour) && rg_maillog_lit(c, ":") &&
	    rg_maillog_num(c, 2, &tm->tm_min) && rg_maillog_lit(c, ":") &&
	    rg_maillog_num(c, 2, &tm->tm_sec) && tm->tm_hour < 24 && tm->tm_min < 60 &&
	    tm->tm_sec <= 60;
}

/* rg_maillog_ymd - "YYYY-MM-DD" into tm. */
static int
rg_maillog_ymd(struct rg_ml_cur *c, struct tm *tm)
{
	int y, m, d;

	if (!rg_maillog_num(c, 4, &y) || !rg_maillog_lit(c, "-") || !rg_maillog_num(c, 2, &m) ||
	    !rg_maillog_lit(c, "-") || !rg_maillog_num(c, 2, &d))
		return 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return 1;
}

/*
 * A timestamp as read; turned into a Unix time only for a delivery record
 * (rg_maillog_when), since mktime() looks at the time zone file each time.
 */
enum rg_ml_stamp_kind {
	RG_ML_STAMP_NONE,
	RG_ML_STAMP_LOCAL,	/* a local wall-clock time */
	RG_ML_STAMP_NOYEAR,	/* the same, without the year */
	RG_ML_STAMP_OFFSET,	/* with its offset from UTC */
};

struct rg_ml_stamp {
	enum rg_ml_stamp_kind	 kind;
	struct tm		 tm;
	int			 offset;	/* seconds east of UTC */
};

/*
 * rg_maillog_local - a local wall-clock time as a Unix time; 0 when it does
 * not exist. The start of the hour is remembered per thread, so a log read
 * line by line calls mktime() once an hour of log, not once a line.
 */
static int64_t
rg_maillog_local(struct tm *tm)
{
	static __thread int c_year = -1, c_mon, c_mday, c_hour;
	static __thread int64_t c_base;
	struct tm h;
	time_t t;

	if (tm->tm_year != c_year || tm->tm_mon != c_mon || tm->tm_mday != c_mday ||
	    tm->tm_hour != c_hour) {
		h = *tm;
		h.tm_min = 0;
		h.tm_sec = 0;
		h.tm_isdst = -1;
		if ((t = mktime(&h)) == (time_t)-1)
			return 0;
		c_year = tm->tm_year;
		c_mon = tm->tm_mon;
		c_mday = tm->tm_mday;
		c_hour = tm->tm_hour;
		c_base = (int64_t)t;
	}
	return c_base + tm->tm_min * 60 + tm->tm_sec;
}

/* rg_maillog_year - the local year (since 1900) at now, remembered per hour. */
static int
rg_maillog_year(int64_t now)
{
	static __thread int64_t c_hour = -1;
	static __thread int c_year;
	struct tm nowtm;
	time_t nt = (time_t)now;

	if (now / 3600 != c_hour) {
		localtime_r(&nt, &nowtm);
		c_year = nowtm.tm_year;
		c_hour = now / 3600;
	}
	return c_year;
}

/* rg_maillog_when - the Unix time of a stamp; 0 when there is none. */
static int64_t
rg_maillog_when(struct rg_ml_stamp *st, int64_t now)
{
	int64_t when;

	switch (st->kind) {
	case RG_ML_STAMP_OFFSET:
		return (int64_t)timegm(&st->tm) - st->offset;
	case RG_ML_STAMP_LOCAL:
		return rg_maillog_local(&st->tm);
	case RG_ML_STAMP_NOYEAR:
		/* This year, unless that lies ahead, as a December line read in January does. */
		st->tm.tm_year = rg_maillog_year(now);
		when = rg_maillog_local(&st->tm);
		if (when > now + 2 * 86400) {
			st->tm.tm_year--;
			when = rg_maillog_local(&st->tm);
		}
		return when;
	default:
		return 0;
	}
}

/*
 * rg_maillog_stamp_rfc3339 - "2026-12-07T09:54:21.123+01:00 "; the offset
 * (or Z) is required.
 */
static int
rg_maillog_stamp_rfc3339(struct rg_ml_cur *c, struct rg_ml_stamp *st)
{
	struct rg_ml_cur s = *c;
	int oh, om, sign;

	memset(st, 0, sizeof(*st));
	if (!rg_maillog_ymd(&s, &st->tm) || !rg_maillog_lit(&s, "T") ||
	    !rg_maillog_hms(&s, &st->tm))
		return 0;
	rg_maillog_frac(&s);
	if (rg_maillog_lit(&s, "Z")) {
		oh = om = 0;
		sign = 1;
	} else {
		if (s.p >= s.end || (*s.p != '+' && *s.p != '-'))
			return 0;
		sign = *s.p == '-' ? -1 : 1;
		s.p++;
		if (!rg_maillog_num(&s, 2, &oh) || !rg_maillog_lit(&s, ":") ||
		    !rg_maillog_num(&s, 2, &om) || oh > 23 || om > 59)
			return 0;
	}
	if (!rg_maillog_lit(&s, " "))
		return 0;
	st->kind = RG_ML_STAMP_OFFSET;
	st->offset = sign * (oh * 3600 + om * 60);
	*c = s;
	return 1;
}

/* rg_maillog_stamp_bsd - "Dec  7 09:54:21", "Dec 07 09:54:21.123456", and a space. */
static int
rg_maillog_stamp_bsd(struct rg_ml_cur *c, struct rg_ml_stamp *st)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct rg_ml_cur s = *c;
	int mon = -1, day = 0;

	memset(st, 0, sizeof(*st));
	if (s.end - s.p < 4)
		return 0;
	for (int i = 0; i < 12; i++) {
		if (memcmp(s.p, months + 3 * i, 3) == 0)
			mon = i;
	}
	if (mon < 0 || s.p[3] != ' ')
		return 0;
	s.p += 4;
	if (rg_maillog_lit(&s, " ")) {
		if (!rg_maillog_num(&s, 1, &day))
			return 0;
	} else if (!rg_maillog_num(&s, 2, &day) && !rg_maillog_num(&s, 1, &day)) {
		return 0;
	}
	if (day < 1 || day > 31 || !rg_maillog_lit(&s, " ") || !rg_maillog_hms(&s, &st->tm))
		return 0;
	rg_maillog_frac(&s);
	if (!rg_maillog_lit(&s, " "))
		return 0;
	st->kind = RG_ML_STAMP_NOYEAR;
	st->tm.tm_mon = mon;
	st->tm.tm_mday = day;
	*c = s;
	return 1;
}

/* rg_maillog_stamp_exim - "2026-12-07 09:54:21[.123][ +0100] ". */
static int
rg_maillog_stamp_exim(struct rg_ml_cur *c, struct rg_ml_stamp *st)
{
	struct rg_ml_cur s = *c;
	int oh, om;

	memset(st, 0, sizeof(*st));
	if (!rg_maillog_ymd(&s, &st->tm) || !rg_maillog_lit(&s, " ") ||
	    !rg_maillog_hms(&s, &st->tm))
		return 0;
	rg_maillog_frac(&s);
	if (!rg_maillog_lit(&s, " "))
		return 0;
	st->kind = RG_ML_STAMP_LOCAL;
	if (s.end - s.p >= 6 && (s.p[0] == '+' || s.p[0] == '-')) {
		struct rg_ml_cur z = s;
		int sign = *z.p == '-' ? -1 : 1;

		z.p++;
		if (rg_maillog_num(&z, 2, &oh) && rg_maillog_num(&z, 2, &om) &&
		    rg_maillog_lit(&z, " ") && oh < 24 && om < 60) {
			st->kind = RG_ML_STAMP_OFFSET;
			st->offset = sign * (oh * 3600 + om * 60);
			s = z;
		}
	}
	*c = s;
	return 1;
}

/* rg_maillog_token - a run of bytes up to a space (at least one). */
static int
rg_maillog_token(struct rg_ml_cur *c, struct rg_maillog_span *out)
{
	const char *q = c->p;

	while (q < c->end && *q != ' ')
		q++;
	if (q == c->p)
		return 0;
	out->s_ptr = c->p;
	out->s_len = (size_t)(q - c->p);
	c->p = q;
	return 1;
}

/*
 * rg_maillog_address - an address up to the byte close (a '>' or a space),
 * stepping over quoted strings and the escapes in them, so a '>' or a
 * ", relay=" inside quotes stays part of the address. At most 1024 bytes.
 */
static int
rg_maillog_address(struct rg_ml_cur *c, char close, struct rg_maillog_span *out)
{
	const char *q = c->p;
	int quoted = 0;

	for (; q < c->end && q - c->p <= 1024; q++) {
		if (quoted) {
			if (*q == '\\' && q + 1 < c->end)
				q++;
			else if (*q == '"')
				quoted = 0;
		} else if (*q == '"') {
			quoted = 1;
		} else if (*q == close) {
			break;
		}
	}
	if (q >= c->end || *q != close || q - c->p > 1024)
		return 0;
	out->s_ptr = c->p;
	out->s_len = (size_t)(q - c->p);
	c->p = q;
	return 1;
}

/* rg_maillog_copy - a span into dst when it fits and every byte is of class cls. */
static int
rg_maillog_copy(char *dst, size_t size, const char *src, size_t len, unsigned cls)
{
	if (len >= size)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!(rg_maillog_class((unsigned char)src[i]) & cls))
			return 0;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 1;
}


/*
 * rg_maillog_set_relay - host and address (an IPv4 or IPv6 literal, else
 * the entry is not remote) into e.
 */
static void
rg_maillog_set_relay(struct rg_maillog_entry *e, const char *host, size_t hlen,
    const char *addr, size_t alen)
{
	unsigned char bin[16];

	if (!rg_maillog_copy(e->e_relay_host, sizeof(e->e_relay_host), host, hlen,
	    RG_ML_HOST))
		e->e_relay_host[0] = '\0';
	if (!rg_maillog_copy(e->e_relay_addr, sizeof(e->e_relay_addr), addr, alen,
	    RG_ML_IP))
		e->e_relay_addr[0] = '\0';
	e->e_remote = e->e_relay_addr[0] != '\0' &&
	    (inet_pton(AF_INET, e->e_relay_addr, bin) == 1 ||
	    inet_pton(AF_INET6, e->e_relay_addr, bin) == 1);
	if (!e->e_remote)
		e->e_relay_addr[0] = '\0';
}

/* rg_maillog_port - ":25" after a bracket. */
static int
rg_maillog_port(const char *p, const char *end)
{
	int port = 0;

	if (p >= end || *p != ':')
		return 0;
	for (p++; p < end && *p >= '0' && *p <= '9' && port < 65536; p++)
		port = port * 10 + (*p - '0');
	return port < 65536 ? port : 0;
}

/*
 * rg_maillog_reply - the words of a remote server, "550 5.1.1 text", as
 * logged: continuation lines joined with spaces ("550-5.1.1 a 550 5.1.1 b")
 * are split again at each "550-" or "550 ", so every line's enhanced code
 * is stripped by reply.c.
 */
static int
rg_maillog_reply(struct rg_maillog_entry *e, const char *p, size_t len)
{
	char code[3];
	int n, first = 1;
	size_t i, start;

	if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (len > 3 && p[3] != ' ' && p[3] != '-'))
		return 0;
	n = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	memcpy(code, p, 3);
	start = len > 3 ? 4 : 3;
	e->e_has_reply = 1;
	for (i = start; ; i++) {
		/* A continuation begins with " 550-" or " 550 " where 550 is this reply's code. */
		int cont = i + 4 < len && p[i] == ' ' && memcmp(p + i + 1, code, 3) == 0 &&
		    (p[i + 4] == '-' || p[i + 4] == ' ');

		if (i >= len || cont) {
			if (first)
				rg_reply_set(&e->e_reply, n, p + start, i - start);
			else
				rg_reply_append(&e->e_reply, p + start, i - start);
			first = 0;
			if (i >= len)
				break;
			start = i + 5;
			i += 4;
		}
	}
	return 1;
}

/* rg_maillog_stage_of - "RCPT TO", "end of DATA", "MAIL FROM"... */
static enum rg_maillog_stage
rg_maillog_stage_of(const char *p, size_t len)
{
	static const struct {
		const char *name;
		enum rg_maillog_stage stage;
	} names[] = {
		{ "RCPT TO", RG_MAILLOG_AT_RCPT }, { "pipelined RCPT TO", RG_MAILLOG_AT_RCPT },
		{ "MAIL FROM", RG_MAILLOG_AT_MAIL }, { "pipelined MAIL FROM", RG_MAILLOG_AT_MAIL },
		{ "end of DATA", RG_MAILLOG_AT_DATA_END }, { "end of data", RG_MAILLOG_AT_DATA_END },
		{ "DATA", RG_MAILLOG_AT_DATA }, { "pipelined DATA", RG_MAILLOG_AT_DATA },
		{ "EHLO", RG_MAILLOG_AT_HELO }, { "HELO", RG_MAILLOG_AT_HELO },
		{ "LHLO", RG_MAILLOG_AT_HELO }, { "initial connection", RG_MAILLOG_AT_CONNECT },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i].name);
		if (len >= n && memcmp(p, names[i].name, n) == 0 &&
		    (len == n || p[n] == ':' || p[n] == ' '))
			return names[i].stage;
	}
	return RG_MAILLOG_AT_OTHER;
}

/* rg_maillog_memrstr - the last occurrence of needle in [p, p+len). */
static const char *
rg_maillog_memrstr(const char *p, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (len < n)
		return NULL;
	for (size_t i = len - n + 1; i-- > 0;) {
		if (memcmp(p + i, needle, n) == 0)
			return p + i;
	}
	return NULL;
}

/* rg_maillog_memstr - the first occurrence of needle in [p, p+len). */
static const char *
rg_maillog_memstr(const char *p, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; len >= n && i <= len - n; i++) {
		if (memcmp(p + i, needle, n) == 0)
			return p + i;
	}
	return NULL;
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
static int
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
		q = rg_maillog_memstr(val, (size_t)(c->end - val), ", ");
		c->p = q != NULL ? q : c->end;
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

/* rg_maillog_exim_id - "1tABCD-000123-AB": 6, 6 to 11, 2 to 4 base-62 characters. */
static int
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
static int
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

int
rg_maillog_parse(const char *line, size_t len, enum rg_maillog_format fmt, int64_t now,
    struct rg_maillog_entry *e)
{
	struct rg_ml_cur c = { line, line + len };
	struct rg_ml_stamp st;

	memset(e, 0, sizeof(*e));
	e->e_status = RG_MAILLOG_OTHER;
	if (fmt != RG_MAILLOG_POSTFIX) {
		struct rg_ml_cur x = c;
		if (rg_maillog_stamp_exim(&x, &st) && rg_maillog_exim(&x, e)) {
			e->e_time = rg_maillog_when(&st, now);
			return 1;
		}
		if (fmt == RG_MAILLOG_EXIM)
			return 0;
		memset(e, 0, sizeof(*e));
		e->e_status = RG_MAILLOG_OTHER;
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
