/*
 * log.c - severity tiers over syslog(3) (LOG_MAIL) or stderr.
 *
 * The single place where log text is made printable: callers format with
 * printf conventions and may pass hostile strings (addresses, SMTP reply
 * text); rg_log_vlog() formats into a bounded buffer and escapes the whole
 * line before it reaches any sink.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "rcptguard/log.h"

static enum rg_log_sink rg_log_sink_cur = RG_LOG_STDERR;
static enum rg_log_level rg_log_min = RG_LOG_INFO;
static char rg_log_ident[64] = "rcptguard";
static rg_log_capture_fn rg_log_capture;
static void *rg_log_capture_arg;

void
rg_log_init(const char *ident, enum rg_log_sink sink)
{
	snprintf(rg_log_ident, sizeof(rg_log_ident), "%s", ident);
	rg_log_sink_cur = sink;
	if (sink == RG_LOG_SYSLOG)
		openlog(rg_log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
rg_log_set_level(enum rg_log_level min)
{
	rg_log_min = min;
}

void
rg_log_close(void)
{
	if (rg_log_sink_cur == RG_LOG_SYSLOG)
		closelog();
}

void
rg_log_set_capture(rg_log_capture_fn fn, void *arg)
{
	rg_log_capture = fn;
	rg_log_capture_arg = arg;
}

size_t
rg_log_sanitize(char *dst, size_t dstsize, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (dstsize == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		size_t n;

		if (c == '\\') {
			tmp[0] = '\\';
			tmp[1] = '\\';
			n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[0] = (char)c;
			n = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 0xf];
			n = 4;
		}
		if (o + n + 1 > dstsize) {
			/* Mark the truncation so a reader never mistakes it for the whole line. */
			size_t keep = dstsize > 4 ? dstsize - 4 : 0;
			if (o > keep)
				o = keep;
			if (dstsize > 4) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			dst[o] = '\0';
			return o;
		}
		memcpy(dst + o, tmp, n);
		o += n;
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

void
rg_log_vlog(enum rg_log_level level, const char *fmt, va_list ap)
{
	char raw[RG_LOG_LINE_MAX];
	char line[RG_LOG_LINE_MAX];
	int n;

	if (level < rg_log_min)
		return;
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(raw))
		n = sizeof(raw) - 1;
	rg_log_sanitize(line, sizeof(line), raw, (size_t)n);

	if (rg_log_capture != NULL) {
		rg_log_capture(level, line, rg_log_capture_arg);
		return;
	}
	if (rg_log_sink_cur == RG_LOG_SYSLOG) {
		if (level == RG_LOG_INFO || level == RG_LOG_DEBUG)
			syslog(rg_log_syslog_prio(level), "%s", line);
		else
			syslog(rg_log_syslog_prio(level), "%s: %s", rg_log_level_name(level), line);
	} else {
		if (level == RG_LOG_INFO || level == RG_LOG_DEBUG)
			fprintf(stderr, "%s[%ld]: %s\n", rg_log_ident, (long)getpid(), line);
		else
			fprintf(stderr, "%s[%ld]: %s: %s\n", rg_log_ident, (long)getpid(),
			    rg_log_level_name(level), line);
	}
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
	exit(1);
}
