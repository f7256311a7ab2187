/*
 * test_util.c - bounded copies and the duration and size parsers.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rcptguard/clock.h"
#include "rcptguard/util.h"

static void
test_util_strlcpy(void **state)
{
	char buf[8];
	(void)state;

	assert_int_equal(rg_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	/* Truncation is detectable: the return value is >= the size. */
	assert_true(rg_strlcpy(buf, "abcdefghij", sizeof(buf)) >= sizeof(buf));
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(rg_strlcpy(buf, "1234567", sizeof(buf)), 7);
	strcpy(buf, "ab");
	assert_true(rg_strlcat(buf, "cdefghij", sizeof(buf)) >= sizeof(buf));
	assert_string_equal(buf, "abcdefg");
}

/* A parser's cases: what it must take (with the value) and what it must refuse. */
struct util_case {
	const char	*in;
	int		 ok;
	int64_t		 out;
};

static void
util_cases(const struct util_case *cases, size_t n, int (*parse)(const char *, int64_t *))
{
	for (size_t i = 0; i < n; i++) {
		int64_t v = -42;
		int rc = parse(cases[i].in, &v);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_true(v == cases[i].out);
		} else if (rc == 0) {
			fail_msg("\"%s\" should be refused", cases[i].in);
		}
	}
}

static void
test_util_durations(void **state)
{
	static const struct util_case cases[] = {
		{ "30s", 1, 30 }, { "5m", 1, 300 }, { "3h", 1, 10800 }, { "31d", 1, 2678400 },
		{ "2w", 1, 1209600 }, { "0", 1, 0 }, { "45", 1, 45 }, { " 7d ", 1, 604800 },
		{ "", 0, 0 }, { "d", 0, 0 }, { "-1s", 0, 0 }, { "5x", 0, 0 }, { "5mm", 0, 0 },
		{ "1.5h", 0, 0 }, { "99999999999999999999s", 0, 0 }, { "9223372036854775807w", 0, 0 },
		{ "5 m", 0, 0 },
	};
	(void)state;
	util_cases(cases, sizeof(cases) / sizeof(cases[0]), rg_parse_duration);
}

static void
test_util_millis(void **state)
{
	static const struct util_case cases[] = {
		{ "20ms", 1, 20 }, { "1ms", 1, 1 }, { "2s", 1, 2000 }, { "1m", 1, 60000 },
		{ "3", 1, 3000 }, { " 500ms ", 1, 500 }, { "ms", 0, 0 }, { "-5ms", 0, 0 },
		{ "5 ms", 0, 0 }, { "1.5s", 0, 0 }, { "20us", 0, 0 }, { "", 0, 0 },
		{ "9223372036854775807s", 0, 0 },
	};
	char buf[32];
	(void)state;
	util_cases(cases, sizeof(cases) / sizeof(cases[0]), rg_parse_millis);
	rg_format_millis(20, buf, sizeof(buf));
	assert_string_equal(buf, "20ms");
	rg_format_millis(2000, buf, sizeof(buf));
	assert_string_equal(buf, "2s");
	rg_format_millis(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1500ms");
}

static void
test_util_sizes(void **state)
{
	int64_t v;
	char buf[32];
	(void)state;

	assert_int_equal(rg_parse_size("64M", &v), 0);
	assert_true(v == 64 * 1048576);
	assert_int_equal(rg_parse_size("1G", &v), 0);
	assert_true(v == 1073741824);
	assert_int_equal(rg_parse_size("16k", &v), 0);
	assert_true(v == 16384);
	assert_int_equal(rg_parse_size("12T", &v), -1);
	rg_format_size(64 * 1048576, buf, sizeof(buf));
	assert_string_equal(buf, "64M");
	rg_format_size(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	rg_format_duration(2678400, buf, sizeof(buf));
	assert_string_equal(buf, "31d");
	rg_format_duration(90, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
	rg_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
}

static int64_t
fixed_clock(void *arg)
{
	return *(int64_t *)arg;
}

static void
test_util_clock(void **state)
{
	int64_t t = 12345678;
	int64_t m1, m2;
	(void)state;

	/* A test clock drives the wall clock, its seconds and the monotonic clock. */
	rg_clock_set(fixed_clock, &t);
	assert_true(rg_clock_ms() == 12345678);
	assert_true(rg_clock_now() == 12345);
	assert_true(rg_clock_mono_ms() == 12345678);
	t = 99000;
	assert_true(rg_clock_now() == 99);
	assert_true(rg_clock_mono_ms() == 99000);
	rg_clock_set(NULL, NULL);
	assert_true(rg_clock_now() > 1700000000);
	assert_true(rg_clock_ms() / 1000 - rg_clock_now() <= 1);
	m1 = rg_clock_mono_ms();
	m2 = rg_clock_mono_ms();
	assert_true(m2 >= m1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util_strlcpy),
		cmocka_unit_test(test_util_durations),
		cmocka_unit_test(test_util_millis),
		cmocka_unit_test(test_util_sizes),
		cmocka_unit_test(test_util_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
