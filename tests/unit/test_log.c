/*
 * test_log.c - every log line is sanitized in one place.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "rcptguard/log.h"

static char captured[RG_LOG_LINE_MAX + 16];
static enum rg_log_level captured_level;
static int captured_count;

static void
capture(enum rg_log_level level, const char *line, void *arg)
{
	(void)arg;
	captured_level = level;
	captured_count++;
	strncpy(captured, line, sizeof(captured) - 1);
}

static void
test_log_sanitize(void **state)
{
	char out[64];
	(void)state;

	rg_log_sanitize(out, sizeof(out), "a\r\nb\0c\\d\xff", 9);
	assert_string_equal(out, "a\\x0d\\x0ab\\x00c\\\\d\\xff");
	/* Truncation is marked and stays inside the buffer. */
	rg_log_sanitize(out, 10, "0123456789abcdef", 16);
	assert_string_equal(out, "012345...");
	assert_int_equal(strlen(out), 9);
	/* Never splits an escape sequence. */
	rg_log_sanitize(out, 12, "abcd\r\r\r\r", 8);
	assert_null(strchr(out, '\r'));
	assert_true(strlen(out) < 12);
}

static void
test_log_lines_are_clean(void **state)
{
	(void)state;

	rg_log_set_capture(capture, NULL);
	rg_log_set_level(RG_LOG_INFO);
	rg_log_info("NOQUEUE: rcpt=<%s> text=%s", "evil\r\nRCPT TO:<x@y>", "line1\nline2");
	assert_int_equal(captured_count, 1);
	assert_int_equal(captured_level, RG_LOG_INFO);
	assert_string_equal(captured,
	    "NOQUEUE: rcpt=<evil\\x0d\\x0aRCPT TO:<x@y>> text=line1\\x0aline2");
	for (const char *p = captured; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	/* Below the threshold: nothing. */
	rg_log_debug("hidden");
	assert_int_equal(captured_count, 1);
	rg_log_warn("w");
	assert_int_equal(captured_level, RG_LOG_WARN);
	rg_log_error("e");
	assert_int_equal(captured_level, RG_LOG_ERROR);
	rg_log_set_capture(NULL, NULL);
}

static void
test_log_long_line(void **state)
{
	static char big[RG_LOG_LINE_MAX * 2];
	(void)state;

	memset(big, '\n', sizeof(big) - 1);
	rg_log_set_capture(capture, NULL);
	rg_log_info("%s", big);
	assert_true(strlen(captured) < RG_LOG_LINE_MAX);
	assert_non_null(strstr(captured, "..."));
	rg_log_set_capture(NULL, NULL);
}

/* Built field by field, a line escapes exactly as rg_log_sanitize does. */
static void
test_logline_matches_sanitize(void **state)
{
	char in[24], want[128];
	struct rg_logline l;
	(void)state;

	/* Every byte value at every position of a 24-byte field (3 words). */
	for (int c = 0; c < 256; c++) {
		for (size_t pos = 0; pos < sizeof(in); pos++) {
			memset(in, 'a', sizeof(in));
			in[pos] = (char)c;
			rg_log_sanitize(want, sizeof(want), in, sizeof(in));
			rg_logline_init(&l);
			rg_logline_addn(&l, in, sizeof(in));
			assert_string_equal(l.l_buf, want);
			assert_int_equal(l.l_len, strlen(want));
		}
	}
	rg_logline_init(&l);
	rg_logline_lit(&l, "rcpt=<");
	rg_logline_add(&l, "x\r\n@y");
	rg_logline_lit(&l, "> n=");
	rg_logline_int(&l, -9223372036854775807LL - 1);
	rg_logline_int(&l, 0);
	assert_string_equal(l.l_buf, "rcpt=<x\\x0d\\x0a@y> n=-92233720368547758080");
}

/* A line that outgrows the buffer ends in "..." and stays printable. */
static void
test_logline_long(void **state)
{
	static char big[RG_LOG_LINE_MAX];
	struct rg_logline l;
	(void)state;

	memset(big, '\x01', sizeof(big));
	rg_logline_init(&l);
	rg_logline_lit(&l, "start ");
	rg_logline_addn(&l, big, sizeof(big));
	rg_logline_add(&l, "more");
	assert_true(l.l_cut);
	assert_true(l.l_len < sizeof(l.l_buf));
	assert_int_equal(strlen(l.l_buf), l.l_len);
	assert_string_equal(l.l_buf + l.l_len - 3, "...");
	assert_memory_equal(l.l_buf, "start \\x01", 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_sanitize),
		cmocka_unit_test(test_log_lines_are_clean),
		cmocka_unit_test(test_log_long_line),
		cmocka_unit_test(test_logline_matches_sanitize),
		cmocka_unit_test(test_logline_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
