/*
 * util.c - bounded strings, the injectable clock, and unit parsers.
 *
 * Nothing here knows about mail. The duration and size parsers are shared
 * by the config module and the command line so the two accept the same
 * spellings.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcptguard/util.h"

size_t
rg_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
rg_strlcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + rg_strlcpy(dst + dlen, src, size - dlen);
}

void
rg_strlower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static rg_clock_fn rg_clock_hook;
static void *rg_clock_arg;

int64_t
rg_clock_now(void)
{
	if (rg_clock_hook != NULL)
		return rg_clock_hook(rg_clock_arg);
	return (int64_t)time(NULL);
}

void
rg_clock_set(rg_clock_fn fn, void *arg)
{
	rg_clock_hook = fn;
	rg_clock_arg = arg;
}

/* rg_parse_scaled - a non-negative number with an optional unit suffix from a table. */
static int
rg_parse_scaled(const char *s, const char *units, const int64_t *mult, int64_t *out)
{
	char *end;
	unsigned long long v;
	int64_t m = 1;
	const char *u;

	if (s == NULL)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v > INT64_MAX)
		return -1;
	if (*end != '\0' && !isspace((unsigned char)*end)) {
		if ((u = strchr(units, *end)) == NULL)
			return -1;
		m = mult[u - units];
		end++;
	}
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -1;
	if (m != 1 && v > (unsigned long long)(INT64_MAX / m))
		return -1;
	*out = (int64_t)v * m;
	return 0;
}

int
rg_parse_duration(const char *s, int64_t *out)
{
	static const int64_t mult[] = { 1, 60, 3600, 86400, 604800 };

	return rg_parse_scaled(s, "smhdw", mult, out);
}

int
rg_parse_size(const char *s, int64_t *out)
{
	static const int64_t mult[] = {
		1024, 1024, 1048576, 1048576, 1073741824, 1073741824
	};

	return rg_parse_scaled(s, "kKmMgG", mult, out);
}

int
rg_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

void
rg_format_duration(int64_t secs, char *buf, size_t size)
{
	if (secs != 0 && secs % 86400 == 0)
		snprintf(buf, size, "%" PRId64 "d", secs / 86400);
	else if (secs != 0 && secs % 3600 == 0)
		snprintf(buf, size, "%" PRId64 "h", secs / 3600);
	else if (secs != 0 && secs % 60 == 0)
		snprintf(buf, size, "%" PRId64 "m", secs / 60);
	else
		snprintf(buf, size, "%" PRId64 "s", secs);
}

void
rg_format_size(int64_t bytes, char *buf, size_t size)
{
	if (bytes != 0 && bytes % 1073741824 == 0)
		snprintf(buf, size, "%" PRId64 "G", bytes / 1073741824);
	else if (bytes != 0 && bytes % 1048576 == 0)
		snprintf(buf, size, "%" PRId64 "M", bytes / 1048576);
	else if (bytes != 0 && bytes % 1024 == 0)
		snprintf(buf, size, "%" PRId64 "k", bytes / 1024);
	else
		snprintf(buf, size, "%" PRId64, bytes);
}

void
rg_format_time(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" PRId64, when);
}
