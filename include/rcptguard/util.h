/*
 * util.h - small helpers that know nothing of mail: bounded string copies,
 * and parsers and formatters for durations, sizes and times.
 */
#ifndef RG_UTIL_H
#define RG_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* rg_strlcpy - copy with truncation; returns strlen(src) so callers test >= size. */
size_t rg_strlcpy(char *dst, const char *src, size_t size);

/* rg_strlcat - append with truncation; returns the length it tried to create. */
size_t rg_strlcat(char *dst, const char *src, size_t size);

/* rg_strlower - ASCII lower-case in place. */
void rg_strlower(char *s);

/* rg_strhash - djb2 of a string: table buckets, stable choices per name. */
uint32_t rg_strhash(const char *s);

/* rg_parse_duration - "30s", "5m", "3h", "31d", "2w" or plain seconds. 0 on success. */
int rg_parse_duration(const char *s, int64_t *out);

/* rg_parse_millis - "20ms", or a duration as above ("2s", "1m"), in milliseconds. 0 on success. */
int rg_parse_millis(const char *s, int64_t *out);

/* rg_parse_size - "4096", "64k", "64M", "1G". 0 on success. */
int rg_parse_size(const char *s, int64_t *out);

/* rg_parse_int - a whole decimal number. 0 on success. */
int rg_parse_int(const char *s, int64_t *out);

/* rg_format_duration - the shortest exact unit form of a number of seconds. */
void rg_format_duration(int64_t secs, char *buf, size_t size);

/* rg_format_millis - milliseconds as "20ms", or as a duration when whole seconds. */
void rg_format_millis(int64_t ms, char *buf, size_t size);

/* rg_format_size - the shortest exact unit form of a number of bytes. */
void rg_format_size(int64_t bytes, char *buf, size_t size);

/* rg_format_time - UTC ISO 8601 ("2026-11-22T10:00:00Z"). */
void rg_format_time(int64_t when, char *buf, size_t size);

#endif /* RG_UTIL_H */
