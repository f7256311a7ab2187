/*
 * log.c - severity tiers over syslog (LOG_MAIL, log_syslog.c) or stderr.
 *
 * The single place where log text is made printable: callers format with
 * printf conventions and may pass hostile strings (addresses, SMTP reply
 * text); rg_log_vlog() formats into a bounded buffer and escapes the whole
 * line before it reaches any sink.
 */
#include "rg_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log_impl.h"

static enum rg_log_sink rg_log_sink_cur = RG_LOG_STDERR;
static enum rg_log_level rg_log_min = RG_LOG_INFO;
static char rg_log_ident[64] = "rcptguard";
static rg_log_capture_fn rg_log_capture;
static void *rg_log_capture_arg;
static char rg_log_prefix[96] = "rcptguard: ";	/* "ident[pid]: ", for stderr */
static size_t rg_log_prefix_len = 11;

/*
 * Buffered mode: stderr lines gather here (syslog lines in log_syslog.c's
 * queue) and leave in one write per event-loop turn (rcptguard-policyd) or
 * per tick of the main thread (rcptguard-milter, whose callbacks log from
 * many threads: hence the lock), so a busy daemon does not pay a system
 * call per decision. A full buffer, and warnings and worse, flush at once.
 */
#define RG_LOG_BUF_SIZE	65536
static pthread_mutex_t rg_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int rg_log_buffered;
static char *rg_log_buf;
static size_t rg_log_buflen;

void
rg_log_init(const char *ident, enum rg_log_sink sink)
{
	rg_log_flush();
	snprintf(rg_log_ident, sizeof(rg_log_ident), "%s", ident);
	rg_log_sink_cur = sink;
	rg_log_prefix_len = (size_t)snprintf(rg_log_prefix, sizeof(rg_log_prefix), "%s[%ld]: ",
	    rg_log_ident, (long)getpid());
	if (sink == RG_LOG_SYSLOG) {
		/* Not connected yet (no syslog daemon): each flush tries again. */
		pthread_mutex_lock(&rg_log_lock);
		rg_syslog_open(rg_log_ident, (long)getpid());
		pthread_mutex_unlock(&rg_log_lock);
	}
}

int
rg_log_set_syslog_socket(const char *path)
{
	int rc;

	pthread_mutex_lock(&rg_log_lock);
	rc = rg_syslog_set_path(path);
	pthread_mutex_unlock(&rg_log_lock);
	return rc;
}

void
rg_log_set_level(enum rg_log_level min)
{
	rg_log_min = min;
}

void
rg_log_close(void)
{
	rg_log_set_buffered(0);
	if (rg_log_sink_cur == RG_LOG_SYSLOG) {
		pthread_mutex_lock(&rg_log_lock);
		rg_syslog_close();
		pthread_mutex_unlock(&rg_log_lock);
	}
}

/* rg_log_flush_locked - write the buffer out; rg_log_lock held. */
static void
rg_log_flush_locked(void)
{
	size_t off = 0;

	while (off < rg_log_buflen) {
		ssize_t n = write(STDERR_FILENO, rg_log_buf + off, rg_log_buflen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* nowhere to log to: drop, never block the daemon */
		off += (size_t)n;
	}
	rg_log_buflen = 0;
}

void
rg_log_flush(void)
{
	pthread_mutex_lock(&rg_log_lock);
	rg_log_flush_locked();
	if (rg_log_sink_cur == RG_LOG_SYSLOG)
		rg_syslog_flush(0);	/* what the socket does not take now waits for the next */
	pthread_mutex_unlock(&rg_log_lock);
}

void
rg_log_set_buffered(int on)
{
	pthread_mutex_lock(&rg_log_lock);
	if (on && rg_log_buf == NULL && (rg_log_buf = malloc(RG_LOG_BUF_SIZE)) == NULL)
		on = 0;
	if (!on) {
		rg_log_flush_locked();
		free(rg_log_buf);
		rg_log_buf = NULL;
		if (rg_log_sink_cur == RG_LOG_SYSLOG)
			rg_syslog_flush(1);
	}
	rg_log_buffered = on;
	pthread_mutex_unlock(&rg_log_lock);
}


void
rg_log_set_capture(rg_log_capture_fn fn, void *arg)
{
	rg_log_capture = fn;
	rg_log_capture_arg = arg;
}

/* rg_log_escape - c as printable text at out (1, 2 or 4 bytes); returns the length. */
static inline size_t
rg_log_escape(char *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\\') {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	if (c == '\\') {
		out[1] = '\\';
		return 2;
	}
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0xf];
	return 4;
}

/*
 * rg_log_word_escapes - does any of the 8 bytes in x need an escape (below
 * 0x20, 0x7f and above, or a backslash)? The classic bit tricks: a byte
 * borrows into its top bit when it is below n; the top bit itself marks 0x80
 * and above; 0x7f carries into it when 1 is added.
 */
static inline int
rg_log_word_escapes(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL;
	uint64_t bs = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | x | (x + ones) | ((bs - ones) & ~bs)) & tops ? 1 : 0;
}

size_t
rg_log_sanitize(char *dst, size_t dstsize, const char *src, size_t len)
{
	size_t o = 0, i, j, need;
	char tmp[4];

	if (dstsize == 0)
		return 0;
	/* While any escape fits, no check per byte beyond this one. */
	for (i = 0; i < len && o + 4 < dstsize; i++)
		o += rg_log_escape(dst + o, (unsigned char)src[i]);
	if (i < len) {
		/* Near the end: the rest goes in whole, or the line is marked cut. */
		for (need = 0, j = i; j < len && o + need < dstsize; j++)
			need += rg_log_escape(tmp, (unsigned char)src[j]);
		if (j == len && o + need < dstsize) {
			for (; i < len; i++)
				o += rg_log_escape(dst + o, (unsigned char)src[i]);
		} else if (dstsize > 4) {
			/* Mark the truncation so a reader never mistakes it for the whole line. */
			if (o > dstsize - 4)
				o = dstsize - 4;
			memcpy(dst + o, "...", 3);
			o += 3;
		} else {
			o = 0;
		}
	}
	dst[o] = '\0';
	return o;
}

static const char *
rg_log_level_name(enum rg_log_level level)
{
	switch (level) {
	case RG_LOG_DEBUG: return "debug";
	case RG_LOG_INFO: return "info";
	case RG_LOG_WARN: return "warning";
	case RG_LOG_ERROR: return "error";
	case RG_LOG_FATAL: return "fatal";
	}
	return "info";
}

static int
rg_log_syslog_prio(enum rg_log_level level)
{
	switch (level) {
	case RG_LOG_DEBUG: return LOG_DEBUG;
	case RG_LOG_INFO: return LOG_INFO;
	case RG_LOG_WARN: return LOG_WARNING;
	case RG_LOG_ERROR: return LOG_ERR;
	case RG_LOG_FATAL: return LOG_CRIT;
	}
	return LOG_INFO;
}

/* rg_log_put - prefix, level word, line and newline at out; returns the length. */
static size_t
rg_log_put(char *out, const char *what, const char *line, size_t len)
{
	size_t n = rg_log_prefix_len;

	memcpy(out, rg_log_prefix, n);
	if (what != NULL) {
		size_t w = strlen(what);
		memcpy(out + n, what, w);
		memcpy(out + n + w, ": ", 2);
		n += w + 2;
	}
	memcpy(out + n, line, len);
	n += len;
	out[n++] = '\n';
	return n;
}

#define RG_LOG_PUT_MAX	(sizeof(rg_log_prefix) + 16 + RG_LOG_LINE_MAX + 1)

/* rg_log_stderr - one line to stderr, straight into the buffer when there is one. */
static void
rg_log_stderr(enum rg_log_level level, const char *line, size_t len)
{
	const char *what = level == RG_LOG_INFO || level == RG_LOG_DEBUG ? NULL :
	    rg_log_level_name(level);

	if (len >= RG_LOG_LINE_MAX)
		len = RG_LOG_LINE_MAX - 1;
	pthread_mutex_lock(&rg_log_lock);
	if (!rg_log_buffered) {
		char out[RG_LOG_PUT_MAX];

		pthread_mutex_unlock(&rg_log_lock);
		fwrite(out, 1, rg_log_put(out, what, line, len), stderr);
		return;
	}
	if (rg_log_buflen + RG_LOG_PUT_MAX > RG_LOG_BUF_SIZE)
		rg_log_flush_locked();
	rg_log_buflen += rg_log_put(rg_log_buf + rg_log_buflen, what, line, len);
	if (level >= RG_LOG_WARN)
		rg_log_flush_locked();
	pthread_mutex_unlock(&rg_log_lock);
}

/* rg_log_emit - a printable line to the sink. */
static void
rg_log_emit(enum rg_log_level level, const char *line, size_t len)
{
	if (rg_log_capture != NULL) {
		rg_log_capture(level, line, rg_log_capture_arg);
		return;
	}
	if (rg_log_sink_cur == RG_LOG_SYSLOG) {
		pthread_mutex_lock(&rg_log_lock);
		rg_syslog_line(rg_log_syslog_prio(level), level == RG_LOG_INFO ||
		    level == RG_LOG_DEBUG ? NULL : rg_log_level_name(level), line, len,
		    rg_log_buffered && level < RG_LOG_WARN);
		pthread_mutex_unlock(&rg_log_lock);
	} else {
		rg_log_stderr(level, line, len);
	}
}

void
rg_log_vlog(enum rg_log_level level, const char *fmt, va_list ap)
{
	char raw[RG_LOG_LINE_MAX];
	char line[RG_LOG_LINE_MAX];
	size_t len;
	int n;

	if (level < rg_log_min)
		return;
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(raw))
		n = sizeof(raw) - 1;
	len = rg_log_sanitize(line, sizeof(line), raw, (size_t)n);
	rg_log_emit(level, line, len);
}

/* ---- lines built field by field ------------------------------------------ */

void
rg_logline_init(struct rg_logline *l)
{
	l->l_len = 0;
	l->l_cut = 0;
	l->l_buf[0] = '\0';
}

void
rg_logline_addn(struct rg_logline *l, const char *s, size_t n)
{
	size_t i = 0, o = l->l_len;

	if (l->l_cut || s == NULL)
		return;
	/* Room is kept for the widest escape and the "..." of a cut line. */
	if (o + 4 * n + 8 < sizeof(l->l_buf)) {
		/* Eight bytes at a time while none needs an escape. */
		for (; i + 8 <= n; i += 8) {
			uint64_t x;
			memcpy(&x, s + i, 8);
			if (rg_log_word_escapes(x))
				break;
			memcpy(l->l_buf + o, &x, 8);
			o += 8;
		}
		for (; i < n; i++)
			o += rg_log_escape(l->l_buf + o, (unsigned char)s[i]);
	} else {
		for (; i < n; i++) {
			if (o + 4 + 3 >= sizeof(l->l_buf)) {
				memcpy(l->l_buf + o, "...", 3);
				o += 3;
				l->l_cut = 1;
				break;
			}
			o += rg_log_escape(l->l_buf + o, (unsigned char)s[i]);
		}
	}
	l->l_len = o;
	l->l_buf[o] = '\0';
}

void
rg_logline_literal(struct rg_logline *l, const char *lit, size_t n)
{
	if (l->l_cut)
		return;
	if (l->l_len + n + 8 >= sizeof(l->l_buf)) {
		rg_logline_addn(l, lit, n);	/* the careful way, near the end */
		return;
	}
	memcpy(l->l_buf + l->l_len, lit, n);
	l->l_len += n;
	l->l_buf[l->l_len] = '\0';
}

void
rg_logline_add(struct rg_logline *l, const char *s)
{
	if (s != NULL)
		rg_logline_addn(l, s, strlen(s));
}

void
rg_logline_int(struct rg_logline *l, long long v)
{
	char num[24];
	size_t i = sizeof(num);
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

	do {
		num[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		num[--i] = '-';
	rg_logline_addn(l, num + i, sizeof(num) - i);
}

int
rg_logline_wanted(enum rg_log_level level)
{
	return level >= rg_log_min;
}

void
rg_logline_emit(enum rg_log_level level, const struct rg_logline *l)
{
	if (level >= rg_log_min)
		rg_log_emit(level, l->l_buf, l->l_len);
}

#define RG_LOG_FN(name, level)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	rg_log_vlog(level, fmt, ap);			\
	va_end(ap);					\
}

RG_LOG_FN(rg_log_debug, RG_LOG_DEBUG)
RG_LOG_FN(rg_log_info, RG_LOG_INFO)
RG_LOG_FN(rg_log_warn, RG_LOG_WARN)
RG_LOG_FN(rg_log_error, RG_LOG_ERROR)

void
rg_log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rg_log_vlog(RG_LOG_FATAL, fmt, ap);
	va_end(ap);
	rg_log_set_buffered(0);	/* every line out, waiting if need be */
	exit(1);
}
