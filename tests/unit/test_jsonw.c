/*
 * test_jsonw.c - the direct JSON line writer against jansson: for random
 * strings (plain ASCII, every control byte, valid UTF-8 of every length,
 * broken UTF-8, surrogates and overlong forms), integers and booleans the
 * bytes must equal jansson's JSON_COMPACT | JSON_ENSURE_ASCII |
 * JSON_PRESERVE_ORDER dump of the same object, with the same fallback for
 * a string that is not UTF-8 (rg_log_sanitize, then JSON).
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../cli/jsonw.h"
#include "rcptguard/log.h"

static uint32_t seed = 20261204;

static uint32_t
rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

/* random_string - n pieces of assorted bytes, NUL-terminated, into buf. */
static void
random_string(char *buf, size_t size)
{
	static const char *const pieces[] = {
		"a", "Z", "0", " ", "\"", "\\", "/", "\x7f", "\x01", "\x1f", "\b", "\f", "\n", "\r",
		"\t", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
		"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80", "\x80",
		"\xc3", "\xe2\x80", "\xff", "user@example.org", "<>", "%s",
	};
	size_t n = rnd() % 24, len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
		if (len + strlen(p) + 1 > size)
			break;
		memcpy(buf + len, p, strlen(p));
		len += strlen(p);
	}
	if (rnd() % 8 == 0 && len + 2 < size)	/* a random byte now and then */
		buf[len++] = (char)(1 + rnd() % 255);
	buf[len] = '\0';
}

static json_t *
reference_string(const char *s)
{
	json_t *j = json_string(s);
	char clean[1100];

	if (j == NULL) {
		rg_log_sanitize(clean, sizeof(clean), s, strlen(s));
		j = json_string(clean);
	}
	return j;
}

static void
test_same_bytes_as_jansson(void **state)
{
	(void)state;
	for (int round = 0; round < 20000; round++) {
		char s1[200], s2[200], *ours = NULL, *ref;
		size_t ourslen = 0;
		long long num = (long long)rnd() - (1LL << 23);
		FILE *fp = open_memstream(&ours, &ourslen);
		struct cli_jw w;
		json_t *o = json_object();

		random_string(s1, sizeof(s1));
		random_string(s2, sizeof(s2));
		cli_jw_open(&w);
		cli_jw_str(&w, "address", s1);
		cli_jw_null(&w, "code");
		cli_jw_int(&w, "checked_at", num);
		cli_jw_bool(&w, "role", round & 1);
		cli_jw_str(&w, "text", round % 3 ? s2 : NULL);
		cli_jw_print(&w, fp);
		fclose(fp);

		json_object_set_new(o, "address", reference_string(s1));
		json_object_set_new(o, "code", json_null());
		json_object_set_new(o, "checked_at", json_integer(num));
		json_object_set_new(o, "role", json_boolean(round & 1));
		json_object_set_new(o, "text", round % 3 ? reference_string(s2) : json_null());
		ref = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
		assert_non_null(ref);
		assert_int_equal(ourslen, strlen(ref) + 1);
		assert_memory_equal(ours, ref, strlen(ref));
		assert_int_equal(ours[ourslen - 1], '\n');
		free(ref);
		free(ours);
		json_decref(o);
	}
}

static void
test_long_string_grows(void **state)
{
	size_t n = 3 * CLI_JW_STACK;
	char *s = malloc(n + 1), *out = NULL;
	size_t outlen = 0;
	FILE *fp = open_memstream(&out, &outlen);
	struct cli_jw w;

	(void)state;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(i % 2 ? '\x01' : 'x');	/* each \x01 takes six bytes */
	s[n] = '\0';
	cli_jw_open(&w);
	cli_jw_str(&w, "text", s);
	cli_jw_print(&w, fp);
	fclose(fp);
	assert_int_equal(outlen, strlen("{\"text\":\"\"}\n") + n / 2 + n / 2 * 6);
	assert_memory_equal(out + outlen - 9, "\\u0001\"}\n", 9);
	free(s);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_as_jansson),
		cmocka_unit_test(test_long_string_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
