/*
 * reply.h - one SMTP reply as the prober keeps it: the three-digit code,
 * the RFC 3463 enhanced status code when the server gave one, and the text
 * (all lines joined by a space, bounded, printable ASCII only).
 */
#ifndef RG_REPLY_H
#define RG_REPLY_H

#include <stddef.h>

#define RG_REPLY_TEXT_MAX	512
#define RG_REPLY_DSN_MAX	15

struct rg_reply {
	int	r_code;				/* 200..599, 0 when there was no reply */
	char	r_dsn[RG_REPLY_DSN_MAX + 1];	/* "5.1.1" or "" */
	char	r_text[RG_REPLY_TEXT_MAX + 1];	/* without code and enhanced code */
};

/*
 * rg_reply_parse_dsn - if text starts with an enhanced status code whose
 * class matches code's first digit (RFC 3463, RFC 2034), copy it into dsn
 * and return the length consumed including the following space; else 0.
 */
size_t rg_reply_parse_dsn(int code, const char *text, size_t len, char *dsn, size_t dsnsize);

/* rg_reply_set - fill r from a code and one line of text (dsn parsed out). */
void rg_reply_set(struct rg_reply *r, int code, const char *text, size_t len);

/* rg_reply_append - append a continuation line's text (its dsn stripped). */
void rg_reply_append(struct rg_reply *r, const char *text, size_t len);

#endif /* RG_REPLY_H */
