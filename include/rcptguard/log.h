/*
 * log.h - logging in severity tiers, to syslog (mail facility) or stderr.
 *
 * Every line passes through rg_log_sanitize() once, in rg_log_vlog(), so no
 * raw control byte from an address or an SMTP reply ever reaches a log.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum rg_log_level {
	RG_LOG_DEBUG,
	RG_LOG_INFO,
	RG_LOG_WARN,
	RG_LOG_ERROR,
	RG_LOG_FATAL,
};

enum rg_log_sink {
	RG_LOG_SYSLOG,
	RG_LOG_STDERR,
};

#define RG_LOG_LINE_MAX 2048

void rg_log_init(const char *ident, enum rg_log_sink sink);
/*
 * rg_log_set_syslog_socket - the syslog socket (default /dev/log); the
 * next line goes there. -1 when the path is empty or too long.
 */
int rg_log_set_syslog_socket(const char *path);
void rg_log_set_level(enum rg_log_level min);
void rg_log_close(void);
/*
 * rg_log_set_buffered - gather lines until rg_log_flush() (or a warning)
 * writes them in one go (stderr), or sends them in one sendmmsg (syslog,
 * one datagram per line); for an event loop, which flushes once per turn.
 * Off again before exit: that waits until syslog has taken every line.
 */
void rg_log_set_buffered(int on);
void rg_log_flush(void);

void rg_log_vlog(enum rg_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void rg_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* rg_log_fatal - log, then exit(1). */
void rg_log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * rg_log_sanitize - copy src (len bytes) into dst as printable text: bytes
 * outside 0x20..0x7e become \xNN, a backslash becomes \\. Always terminates
 * dst; output that does not fit ends in "...". Returns the length written.
 */
size_t rg_log_sanitize(char *dst, size_t dstsize, const char *src, size_t len);

/*
 * A line built field by field, for the hot paths (one line per decision):
 * no format string, and every byte added is escaped on the way in, so the
 * line is printable by construction. A line that outgrows RG_LOG_LINE_MAX
 * ends in "...".
 */
struct rg_logline {
	size_t	l_len;
	int	l_cut;
	char	l_buf[RG_LOG_LINE_MAX];
};

void rg_logline_init(struct rg_logline *l);
void rg_logline_add(struct rg_logline *l, const char *s);	/* NULL adds nothing */
void rg_logline_addn(struct rg_logline *l, const char *s, size_t n);
void rg_logline_int(struct rg_logline *l, long long v);
/* rg_logline_lit - a string literal (only: the macro refuses anything else), unescaped. */
#define rg_logline_lit(l, lit)	rg_logline_literal((l), "" lit "", sizeof(lit) - 1)
void rg_logline_literal(struct rg_logline *l, const char *lit, size_t n);
/* rg_logline_wanted - would a line at level be logged at all? */
int rg_logline_wanted(enum rg_log_level level);
void rg_logline_emit(enum rg_log_level level, const struct rg_logline *l);

/* rg_log_set_capture - test hook: receive every finished line instead of the sink. */
typedef void (*rg_log_capture_fn)(enum rg_log_level level, const char *line, void *arg);
void rg_log_set_capture(rg_log_capture_fn fn, void *arg);

#endif /* RG_LOG_H */
