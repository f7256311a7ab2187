/*
 * record.h - the binary records of the cache: one header, one cursor, and
 * the codec of every record type. No other module reads or writes record
 * bytes.
 *
 * Every record starts with the same 12 bytes:
 *   'r' 'g' type version   expires_at (i64, little-endian)
 * so the sweeper can expire any record, of any type and any format version,
 * without understanding the rest of it. Integers are little-endian whatever
 * the host; strings carry their length in front and hold printable ASCII
 * only. A decoder refuses a record of another version (RG_RECORD_EVERSION)
 * and a truncated, oversized or damaged one (RG_RECORD_ECORRUPT): it never
 * misreads one.
 */
#ifndef RG_RECORD_H
#define RG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/mx.h"
#include "rcptguard/verdict.h"

#define RG_RECORD_HDR		12	/* 'r' 'g' type version, expires_at */

enum rg_record_status {
	RG_RECORD_OK = 0,
	RG_RECORD_EVERSION = -1,	/* written by another version of the format */
	RG_RECORD_ECORRUPT = -2,	/* not a record of this type, or damaged */
};

/* Record types: the third byte of the header. */
enum rg_record_type {
	RG_RECORD_VERDICT = 'v',	/* address -> verdict */
	RG_RECORD_DOMAIN = 'd',		/* domain -> what is known of it as a whole */
	RG_RECORD_MX = 'm',		/* "mx:<domain>" -> mail hosts for the DNS TTL */
	RG_RECORD_LEASE = 'l',		/* probe lease or concurrency slot */
	RG_RECORD_BUCKET = 'b',		/* token bucket */
	RG_RECORD_MARK = 'f',		/* the first time a key was marked */
	RG_RECORD_RETRY = 't',		/* "rt:<address>" -> a re-probe that is due */
};

/*
 * Cursors. A writer never writes past its buffer: a put that does not fit
 * sets w_err and every later put does nothing. A reader never reads past
 * its input: a get that does not fit sets r_err and gives 0.
 */
struct rg_record_writer {
	unsigned char	*w_buf;
	size_t		 w_size;
	size_t		 w_len;
	int		 w_err;
};

struct rg_record_reader {
	const unsigned char *r_buf;
	size_t		 r_len;
	size_t		 r_pos;
	int		 r_err;
};

void rg_record_writer_init(struct rg_record_writer *w, void *buf, size_t size);
void rg_record_put_u8(struct rg_record_writer *w, uint8_t x);
void rg_record_put_u16(struct rg_record_writer *w, uint16_t x);
void rg_record_put_u32(struct rg_record_writer *w, uint32_t x);
void rg_record_put_u64(struct rg_record_writer *w, uint64_t x);
void rg_record_put_i64(struct rg_record_writer *w, int64_t x);
void rg_record_put_bytes(struct rg_record_writer *w, const void *p, size_t n);
/* A string of at most 255 (str8) or 65535 (str16) bytes, its length in front. */
void rg_record_put_str8(struct rg_record_writer *w, const char *s, size_t n);
void rg_record_put_str16(struct rg_record_writer *w, const char *s, size_t n);
void rg_record_put_header(struct rg_record_writer *w, enum rg_record_type type,
    uint8_t version, int64_t expires_at);
/* rg_record_writer_end - the length written, or 0 when anything did not fit. */
size_t rg_record_writer_end(const struct rg_record_writer *w);

void rg_record_reader_init(struct rg_record_reader *r, const void *buf, size_t len);
uint8_t rg_record_get_u8(struct rg_record_reader *r);
uint16_t rg_record_get_u16(struct rg_record_reader *r);
uint32_t rg_record_get_u32(struct rg_record_reader *r);
uint64_t rg_record_get_u64(struct rg_record_reader *r);
int64_t rg_record_get_i64(struct rg_record_reader *r);
void rg_record_get_bytes(struct rg_record_reader *r, void *dst, size_t n);
/*
 * A length-prefixed string into dst (max + 1 bytes, NUL-terminated); a
 * length over max or a byte outside printable ASCII (space included when
 * nospace) sets r_err.
 */
void rg_record_get_str8(struct rg_record_reader *r, char *dst, size_t max, int nospace);
void rg_record_get_str16(struct rg_record_reader *r, char *dst, size_t max);
/*
 * rg_record_get_header - check the header: RG_RECORD_ECORRUPT for a short
 * record or another type, RG_RECORD_EVERSION for another version.
 */
int rg_record_get_header(struct rg_record_reader *r, enum rg_record_type type,
    uint8_t version, int64_t *expires_at);
/* rg_record_get_header_range - the same for any version oldest..newest, reported in *version. */
int rg_record_get_header_range(struct rg_record_reader *r, enum rg_record_type type,
    uint8_t oldest, uint8_t newest, uint8_t *version, int64_t *expires_at);
/* rg_record_reader_end - OK when everything read fitted and nothing is left over. */
int rg_record_reader_end(const struct rg_record_reader *r);

/*
 * What any record tells without its codec: its expiry (-1 when it is not a
 * record at all), and its age for eviction (a verdict's checked_at, else its
 * expiry; 0, the oldest, when unreadable).
 */
int rg_record_expires(const void *buf, size_t len, int64_t *expires_at);
int64_t rg_record_age(const void *buf, size_t len);

/* Verdicts (verdict.h); versions 1 and 2 are still read. */
#define RG_RECORD_VERDICT_VERSION	3
#define RG_RECORD_VERDICT_MAX		(RG_RECORD_HDR + 26 + 1 + RG_VERDICT_DSN_MAX + \
					 1 + RG_VERDICT_MX_MAX + 2 + RG_VERDICT_TEXT_MAX + \
					 1 + RG_VERDICT_QID_MAX)
/* rg_record_verdict_encode - the encoded length, 0 when buf is too small. */
size_t rg_record_verdict_encode(const struct rg_verdict *v, void *buf, size_t size);
int rg_record_verdict_decode(const void *buf, size_t len, struct rg_verdict *v);

/*
 * Domain records: what is known of a domain as a whole. Every part has its
 * own expiry; the record expires with the last of them.
 */
enum rg_catch_all {
	RG_CATCH_ALL_UNKNOWN = 0,
	RG_CATCH_ALL_NO = 1,
	RG_CATCH_ALL_YES = 2,
};

#define RG_COOLDOWN_LEVEL_MAX	6	/* the cooldown doubles at most 2^(6-1) = 32 times */

struct rg_domain_record {
	uint8_t		d_catch_all;		/* enum rg_catch_all */
	int64_t		d_catch_all_until;
	uint8_t		d_dns_reason;		/* enum rg_reason decided by DNS; 0: none */
	int64_t		d_dns_until;
	int64_t		d_cooldown_until;	/* no probes before this (throttling) */
	uint8_t		d_cooldown_level;	/* consecutive throttlings: the backoff exponent */
	uint8_t		d_source_index;		/* sticky source address, 1-based; 0: none */
	/* Recipient limits the domain's server showed (0: none), until limits_until. */
	uint16_t	d_rcpt_per_txn;
	uint16_t	d_rcpt_per_session;
	int64_t		d_limits_until;
};

#define RG_RECORD_DOMAIN_VERSION	2
#define RG_RECORD_DOMAIN_LEN	(RG_RECORD_HDR + 40)
size_t rg_record_domain_encode(const struct rg_domain_record *d, void *buf, size_t size);
/*
 * An unknown catch-all value or DNS reason reads as unknown; a cooldown
 * level above RG_COOLDOWN_LEVEL_MAX makes the record damaged.
 */
int rg_record_domain_decode(const void *buf, size_t len, struct rg_domain_record *d);

/* MX data (mx.h), kept for the DNS TTL. */
#define RG_RECORD_MX_MAX	(RG_RECORD_HDR + 2 + RG_DNS_MAX_HOSTS * (2 + 1 + RG_DNS_NAME_MAX + \
				 1 + RG_DNS_MAX_ADDRS * 17))
size_t rg_record_mx_encode(const struct rg_mx_result *res, int64_t expires_at, void *buf,
    size_t size);
/* Decoded hosts get port 25; expires_at may be NULL. */
int rg_record_mx_decode(const void *buf, size_t len, struct rg_mx_result *res,
    int64_t *expires_at);

/* Leases and concurrency slots: who holds a key, until when. */
struct rg_record_lease {
	int64_t		l_expires_at;
	uint32_t	l_pid;		/* the holder process */
	uint64_t	l_token;	/* the holder's proof, for release */
};

#define RG_RECORD_LEASE_LEN	(RG_RECORD_HDR + 12)
size_t rg_record_lease_encode(const struct rg_record_lease *l, void *buf, size_t size);
int rg_record_lease_decode(const void *buf, size_t len, struct rg_record_lease *l);

/* Token buckets: tokens in thousandths, updated in milliseconds. */
struct rg_record_bucket {
	int64_t		b_expires_at;
	int64_t		b_tokens;
	int64_t		b_updated_ms;
};

#define RG_RECORD_BUCKET_LEN	(RG_RECORD_HDR + 16)
size_t rg_record_bucket_encode(const struct rg_record_bucket *b, void *buf, size_t size);
int rg_record_bucket_decode(const void *buf, size_t len, struct rg_record_bucket *b);

/* First marks: when a key was first marked. */
struct rg_record_mark {
	int64_t		m_expires_at;
	int64_t		m_first;
};

#define RG_RECORD_MARK_LEN	(RG_RECORD_HDR + 8)
size_t rg_record_mark_encode(const struct rg_record_mark *m, void *buf, size_t size);
int rg_record_mark_decode(const void *buf, size_t len, struct rg_record_mark *m);

/*
 * Re-probes that are due: when, which attempt, why, and the prober that
 * scheduled it (its process and its instance, which a reload replaces).
 */
struct rg_record_retry {
	int64_t		rt_expires_at;	/* dropped after this: long past due */
	int64_t		rt_due;
	uint16_t	rt_attempt;	/* the attempt it will be */
	uint8_t		rt_reason;	/* enum rg_reason of the answer that asked for it */
	uint8_t		rt_source;	/* source address index, 1-based; 0: any */
	uint32_t	rt_pid;
	uint64_t	rt_token;
};

#define RG_RECORD_RETRY_LEN	(RG_RECORD_HDR + 24)
size_t rg_record_retry_encode(const struct rg_record_retry *t, void *buf, size_t size);
/* A reason out of range makes the record damaged. */
int rg_record_retry_decode(const void *buf, size_t len, struct rg_record_retry *t);

#endif /* RG_RECORD_H */
