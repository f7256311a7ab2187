/*
 * reply.c - SMTP reply bookkeeping and the RFC 3463 enhanced status code.
 *
 * SECURITY
 *   Reply text comes from the remote server and is hostile: it is bounded
 *   to RG_REPLY_TEXT_MAX, continuation lines included, and every byte
 *   outside printable ASCII becomes '?', so nothing raw reaches a verdict,
 *   a log or a policy answer. An enhanced status code is taken only when
 *   its class matches the reply code's first digit and its parts have the
 *   lengths RFC 3463 allows.
 */
#include "rg_build.h"

#include <string.h>

#include "rcptguard/reply.h"

/* rg_reply_digits - count of decimal digits at s (at most max+1). */
static size_t
rg_reply_digits(const char *s, size_t len, size_t max)
{
	size_t n = 0;

	while (n < len && n <= max && s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

size_t
rg_reply_parse_dsn(int code, const char *text, size_t len, char *dsn, size_t dsnsize)
{
	size_t i = 0, n;

	/* class "." subject "." detail: class 2, 4 or 5 matching the reply code. */
	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5'))
		return 0;
	if (code / 100 != text[0] - '0' || text[1] != '.')
		return 0;
	i = 2;
	n = rg_reply_digits(text + i, len - i, 3);
	if (n < 1 || n > 3 || i + n >= len || text[i + n] != '.')
		return 0;
	i += n + 1;
	n = rg_reply_digits(text + i, len - i, 3);
	if (n < 1 || n > 3)
		return 0;
	i += n;
	if (i < len && text[i] != ' ' && text[i] != '\t')
		return 0;
	if (i >= dsnsize)
		return 0;
	memcpy(dsn, text, i);
	dsn[i] = '\0';
	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++;
	return i;
}

/* rg_reply_copy_text - append sanitized text to r_text, bounded. */
static void
rg_reply_copy_text(struct rg_reply *r, const char *text, size_t len)
{
	size_t o = strlen(r->r_text);

	for (size_t i = 0; i < len && o < RG_REPLY_TEXT_MAX; i++) {
		unsigned char c = (unsigned char)text[i];
		r->r_text[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	r->r_text[o] = '\0';
}

void
rg_reply_set(struct rg_reply *r, int code, const char *text, size_t len)
{
	size_t skip;

	/* The fields, not the 530 bytes: replies are set once a log line or a reply line. */
	r->r_code = code;
	r->r_dsn[0] = '\0';
	r->r_text[0] = '\0';
	skip = rg_reply_parse_dsn(code, text, len, r->r_dsn, sizeof(r->r_dsn));
	rg_reply_copy_text(r, text + skip, len - skip);
}

void
rg_reply_append(struct rg_reply *r, const char *text, size_t len)
{
	char dsn[RG_REPLY_DSN_MAX + 1];
	size_t skip = rg_reply_parse_dsn(r->r_code, text, len, dsn, sizeof(dsn));

	if (r->r_text[0] != '\0' && strlen(r->r_text) < RG_REPLY_TEXT_MAX)
		rg_reply_copy_text(r, " ", 1);
	rg_reply_copy_text(r, text + skip, len - skip);
}
