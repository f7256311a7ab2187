/*
 * jsonw.c - one JSON object per line, written straight into a buffer.
 *
 * Strings are checked as jansson checks them (no overlong forms, no
 * surrogates, nothing past U+10FFFF) and escaped as it escapes them.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "rcptguard/log.h"

#define CLI_JW_SANITIZED	1100	/* as cli_printable's buffers */

/* cli_jw_grow - the slow path of cli_jw_put: a bigger heap buffer. */
static void __attribute__((noinline))
cli_jw_grow(struct cli_jw *w, size_t more)
{
	size_t cap;
	char *nb;

	if (w->failed)
		return;
	for (cap = w->cap * 2; cap < w->len + more; cap *= 2)
		;
	if ((nb = malloc(cap)) == NULL) {
		w->failed = 1;
		return;
	}
	memcpy(nb, w->b, w->len);
	if (w->b != w->stack)
		free(w->b);
	w->b = nb;
	w->cap = cap;
}

static inline void
cli_jw_put(struct cli_jw *w, const char *s, size_t n)
{
	if (w->len + n > w->cap) {
		cli_jw_grow(w, n);
		if (w->failed)
			return;
	}
	memcpy(w->b + w->len, s, n);
	w->len += n;
}

void
cli_jw_open(struct cli_jw *w)
{
	w->b = w->stack;
	w->cap = sizeof(w->stack);
	w->len = 0;
	w->fields = 0;
	w->failed = 0;
	cli_jw_put(w, "{", 1);
}

/* cli_jw_key - the comma and "key": (keys are the program's own, plain ASCII). */
static void
cli_jw_key(struct cli_jw *w, const char *key)
{
	if (w->fields++ > 0)
		cli_jw_put(w, ",", 1);
	cli_jw_put(w, "\"", 1);
	cli_jw_put(w, key, strlen(key));
	cli_jw_put(w, "\":", 2);
}

/*
 * cli_jw_utf8 - the code point of the sequence at s (n bytes left) and its
 * length, or 0 when it is not valid UTF-8.
 */
static size_t
cli_jw_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

static void
cli_jw_u(struct cli_jw *w, uint32_t c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[6] = { '\\', 'u', hex[c >> 12 & 15], hex[c >> 8 & 15], hex[c >> 4 & 15], hex[c & 15] };

	cli_jw_put(w, e, sizeof(e));
}

/*
 * cli_jw_escaped - s as a quoted JSON string of ASCII; -1, with nothing
 * written, when s is not UTF-8.
 */
static int
cli_jw_escaped(struct cli_jw *w, const unsigned char *s, size_t n)
{
	size_t i = 0, run, start = w->len, l;
	uint32_t cp;

	cli_jw_put(w, "\"", 1);
	while (i < n) {
		/* Copy the plain run at once: most of every line. */
		for (run = i; run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		    s[run] != '\\'; run++)
			;
		cli_jw_put(w, (const char *)s + i, run - i);
		if ((i = run) >= n)
			break;
		if ((l = cli_jw_utf8(s + i, n - i, &cp)) == 0) {
			w->len = start;
			return -1;
		}
		i += l;
		switch (cp) {
		case '"': cli_jw_put(w, "\\\"", 2); break;
		case '\\': cli_jw_put(w, "\\\\", 2); break;
		case '\b': cli_jw_put(w, "\\b", 2); break;
		case '\f': cli_jw_put(w, "\\f", 2); break;
		case '\n': cli_jw_put(w, "\\n", 2); break;
		case '\r': cli_jw_put(w, "\\r", 2); break;
		case '\t': cli_jw_put(w, "\\t", 2); break;
		default:
			if (cp >= 0x10000) {
				cp -= 0x10000;
				cli_jw_u(w, 0xd800 | (cp >> 10));
				cli_jw_u(w, 0xdc00 | (cp & 0x3ff));
			} else
				cli_jw_u(w, cp);
		}
	}
	cli_jw_put(w, "\"", 1);
	return 0;
}

void
cli_jw_str(struct cli_jw *w, const char *key, const char *s)
{
	char clean[CLI_JW_SANITIZED];
	size_t n;

	cli_jw_key(w, key);
	if (s == NULL) {
		cli_jw_put(w, "null", 4);
		return;
	}
	n = strlen(s);
	if (cli_jw_escaped(w, (const unsigned char *)s, n) < 0) {
		/* Not UTF-8: shown as the logs show it, which is ASCII. */
		n = rg_log_sanitize(clean, sizeof(clean), s, n);
		(void)cli_jw_escaped(w, (const unsigned char *)clean, n);
	}
}

void
cli_jw_int(struct cli_jw *w, const char *key, long long v)
{
	char num[24], *p = num + sizeof(num);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	cli_jw_key(w, key);
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	cli_jw_put(w, p, (size_t)(num + sizeof(num) - p));
}

void
cli_jw_bool(struct cli_jw *w, const char *key, int v)
{
	cli_jw_key(w, key);
	cli_jw_put(w, v ? "true" : "false", v ? 4 : 5);
}

void
cli_jw_null(struct cli_jw *w, const char *key)
{
	cli_jw_key(w, key);
	cli_jw_put(w, "null", 4);
}

void
cli_jw_print(struct cli_jw *w, FILE *fp)
{
	cli_jw_put(w, "}\n", 2);
	if (!w->failed)
		fwrite(w->b, 1, w->len, fp);
	if (w->b != w->stack)
		free(w->b);
	w->b = w->stack;
}
