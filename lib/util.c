/*
 * util.c - bounded strings, the injectable clock, and unit parsers.
 *
 * Nothing here knows about mail. The duration and size parsers are shared
 * by the config module and the command line so the two accept the same
 * spellings.
 */
#include "rg_build.h"

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

uint32_t
rg_strhash(const char *s)
{
	uint32_t h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
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
rg_parse_millis(const char *s, int64_t *out)
{
	size_t n = s != NULL ? strlen(s) : 0;
	char num[32];
	int64_t v;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > 2 && n < sizeof(num) && s[n - 2] == 'm' && s[n - 1] == 's' &&
	    isdigit((unsigned char)s[n - 3])) {
		memcpy(num, s, n - 2);
		num[n - 2] = '\0';
		return rg_parse_scaled(num, "", NULL, out);
	}
	if (rg_parse_duration(s, &v) < 0 || v > INT64_MAX / 1000)
		return -1;
	*out = v * 1000;
	return 0;
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

/* rg_format_scaled - v in the largest unit that divides it exactly (units largest first). */
static void
rg_format_scaled(int64_t v, const char *units, const int64_t *mult, const char *base,
    char *buf, size_t size)
{
	for (size_t i = 0; units[i] != '\0'; i++) {
		if (v != 0 && v % mult[i] == 0) {
			snprintf(buf, size, "%" PRId64 "%c", v / mult[i], units[i]);
			return;
		}
	}
	snprintf(buf, size, "%" PRId64 "%s", v, base);
}

void
rg_format_duration(int64_t secs, char *buf, size_t size)
{
	/* Days are the largest unit written: admins think in 7d, not 1w. */
	static const int64_t mult[] = { 86400, 3600, 60 };

	rg_format_scaled(secs, "dhm", mult, "s", buf, size);
}

void
rg_format_millis(int64_t ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		rg_format_duration(ms / 1000, buf, size);
	else
		snprintf(buf, size, "%" PRId64 "ms", ms);
}

void
rg_format_size(int64_t bytes, char *buf, size_t size)
{
	static const int64_t mult[] = { 1073741824, 1048576, 1024 };

	rg_format_scaled(bytes, "GMk", mult, "", buf, size);
}

void
rg_format_time(int64_t when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" PRId64, when);
}
