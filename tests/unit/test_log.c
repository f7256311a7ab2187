/*
 * test_log.c - every log line is sanitized in one place.
 */
#include "config.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_sanitize),
		cmocka_unit_test(test_log_lines_are_clean),
		cmocka_unit_test(test_log_long_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
