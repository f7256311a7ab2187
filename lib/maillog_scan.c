/*
 * maillog_scan.c - the pieces of a log line the maillog readers share: the
 * cursor's literals and numbers, the three timestamps (traditional syslog,
 * RFC 3339, Exim's) and their time, addresses, host and IP fields, the
 * remote reply and the command it answered.
 *
 * SECURITY
 *   Every reader stays inside [p, end) of the cursor and copies only into
 *   bounded buffers, checking each byte's class; a quoted local part is
 *   read as one quoted string; reply text goes through reply.c, which
 *   bounds it and makes it printable.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "maillog_impl.h"

/* Letters and digits, the host and tag characters, IP literal and dsn characters. */
#define RG_ML_LOWHEX	(RG_ML_ALNUM | RG_ML_HOST | RG_ML_PROG | RG_ML_IP)
#define RG_ML_LETTER	(RG_ML_ALNUM | RG_ML_HOST | RG_ML_PROG)
const unsigned char rg_maillog_classes[256] = {
	['0' ... '9'] = RG_ML_ALNUM | RG_ML_HOST | RG_ML_IP | RG_ML_PROG | RG_ML_DSN,
	['a' ... 'f'] = RG_ML_LOWHEX, ['A' ... 'F'] = RG_ML_LOWHEX,
	['g' ... 'z'] = RG_ML_LETTER, ['G' ... 'Z'] = RG_ML_LETTER,
	['.'] = RG_ML_HOST | RG_ML_IP | RG_ML_PROG | RG_ML_DSN,
	['-'] = RG_ML_HOST | RG_ML_PROG, ['_'] = RG_ML_HOST | RG_ML_PROG,
	['/'] = RG_ML_PROG, [':'] = RG_ML_IP,
};

/* rg_maillog_litn - the cursor is at the n bytes of lit: step over them. */
int
rg_maillog_litn(struct rg_ml_cur *c, const char *lit, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return 0;
	/* The literals are a few bytes long: compared here, not by a call. */
	for (size_t i = 0; i < n; i++) {
		if (c->p[i] != lit[i])
			return 0;
	}
	c->p += n;
	return 1;
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
int64_t
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
int
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
int
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
int
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

/* rg_maillog_take - the bytes from the cursor to q (at least one) into out; the cursor to q. */
static int
rg_maillog_take(struct rg_ml_cur *c, const char *q, struct rg_maillog_span *out)
{
	if (q == c->p)
		return 0;
	out->s_ptr = c->p;
	out->s_len = (size_t)(q - c->p);
	c->p = q;
	return 1;
}

/* rg_maillog_token - a run of bytes up to a space (at least one). */
int
rg_maillog_token(struct rg_ml_cur *c, struct rg_maillog_span *out)
{
	const char *q = c->p;

	while (q < c->end && *q != ' ')
		q++;
	return rg_maillog_take(c, q, out);
}

/*
 * rg_maillog_address - an address up to the byte close (a '>' or a space),
 * stepping over quoted strings and the escapes in them, so a '>' or a
 * ", relay=" inside quotes stays part of the address. At most 1024 bytes.
 */
int
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
	return rg_maillog_take(c, q, out);
}

/* rg_maillog_copy - a span into dst when it fits and every byte is of class cls. */
int
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
void
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
int
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
int
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
enum rg_maillog_stage
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
const char *
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
const char *
rg_maillog_memstr(const char *p, size_t len, const char *needle)
{
	return memmem(p, len, needle, strlen(needle));
}
