/*
 * jsonw.h - one JSON object per line, written straight into a buffer.
 *
 * The verdict lines of check, cache and verify are the hot path of a
 * cached `rcptguard verify` (hundreds of thousands a second), where
 * building a jansson tree per row cost more than the lookup. The bytes are
 * those of jansson's JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER
 * (tests/unit/test_jsonw.c compares them): ASCII only, "\uXXXX" for what is
 * not, and a string that is not UTF-8 shown as rg_log_sanitize() makes it.
 */
#ifndef RG_CLI_JSONW_H
#define RG_CLI_JSONW_H

#include <stddef.h>
#include <stdio.h>

#define CLI_JW_STACK	4096

struct cli_jw {
	char	*b;		/* stack or heap */
	size_t	 len, cap;
	int	 fields;
	int	 failed;	/* out of memory: the line is not printed */
	char	 stack[CLI_JW_STACK];
};

/* cli_jw_open - an empty object. */
void cli_jw_open(struct cli_jw *w);
/* cli_jw_str - "key":"s" with s escaped; NULL s gives null. */
void cli_jw_str(struct cli_jw *w, const char *key, const char *s);
void cli_jw_int(struct cli_jw *w, const char *key, long long v);
void cli_jw_bool(struct cli_jw *w, const char *key, int v);
void cli_jw_null(struct cli_jw *w, const char *key);
/* cli_jw_print - close the object, write it and a newline to fp, free. */
void cli_jw_print(struct cli_jw *w, FILE *fp);

#endif /* RG_CLI_JSONW_H */
