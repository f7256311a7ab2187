/*
 * limits.h - the limits every process on a host shares through the LMDB
 * cache: probe leases, concurrency slots, token buckets, first marks and
 * the throttling cooldown, and the names of their keys.
 *
 * Each check-and-set is one write transaction, so across all processes
 * exactly one caller wins a lease or a slot and a bucket never gives a
 * token twice. A lease dies with its expiry or with its holder process.
 * Every operation answers an rg_limit_status; when the cache fails
 * (RG_LIMIT_FAILED) *cache_err, when not NULL, says how (rg_cache_status).
 */
#ifndef RG_LIMITS_H
#define RG_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rcptguard/cache.h"
#include "rcptguard/record.h"

enum rg_limit_status {
	RG_LIMIT_OK = 0,	/* taken (lease, slots, token, mark) or given back */
	RG_LIMIT_HELD,		/* a live holder has it, or it was not ours to give back */
	RG_LIMIT_EMPTY,		/* the bucket has no token now: *wait_ms until one */
	RG_LIMIT_FAILED,	/* the cache failed: no decision */
};

const char *rg_limit_status_name(enum rg_limit_status s);

#define RG_LIMIT_POOLS		4	/* slot pools taken together at most */
#define RG_LIMIT_LEASE_TTL_MAX	(2 * 86400)	/* above lease_ttl's bound and any session's */

/* Key spellings. buf of RG_CACHE_KEY_MAX + 1 bytes; -1 when it does not fit. */
#define RG_LIMIT_KEY_GLOBAL	"g"		/* the host's concurrency pool */
int rg_limit_key_mx(char *buf, size_t size, const struct sockaddr *sa);	/* "m:<ip>" */
int rg_limit_key_bucket(char *buf, size_t size, const char *domain);	/* "b:<domain>" */
int rg_limit_key_defer(char *buf, size_t size, const char *address);	/* "dw:<address>" */
#define RG_LIMIT_KEY_RETRY	"rt:"
int rg_limit_key_retry(char *buf, size_t size, const char *address);	/* "rt:<address>" */

/* Leases: one holder per key. *token proves ownership for release. */
enum rg_limit_status rg_limit_lease_acquire(struct rg_cache *c, const char *key, int64_t ttl,
    uint64_t *token, int *cache_err);
enum rg_limit_status rg_limit_lease_release(struct rg_cache *c, const char *key,
    uint64_t token, int *cache_err);

/*
 * Concurrency slots: pool p has nslots[p] leases named "prefix#0" ..
 * "prefix#N-1". One write transaction takes a slot in every pool (one token
 * for all, *slots set) or none (RG_LIMIT_HELD).
 */
enum rg_limit_status rg_limit_slots_acquire(struct rg_cache *c, const char *const *prefixes,
    const int *nslots, int n, int64_t ttl, int *slots, uint64_t *token, int *cache_err);
enum rg_limit_status rg_limit_slots_release(struct rg_cache *c, const char *const *prefixes,
    const int *slots, int n, uint64_t token, int *cache_err);

/*
 * rg_limit_bucket_take - a token bucket: rate tokens per minute, at most
 * burst stored. RG_LIMIT_OK when a token was taken; RG_LIMIT_EMPTY with
 * *wait_ms until the next one.
 */
enum rg_limit_status rg_limit_bucket_take(struct rg_cache *c, const char *key,
    int64_t rate_per_min, int64_t burst, int64_t *wait_ms, int *cache_err);

/*
 * rg_limit_mark_first - the first time key was marked: an existing live
 * mark is reported, otherwise now is stored for ttl seconds.
 */
enum rg_limit_status rg_limit_mark_first(struct rg_cache *c, const char *key, int64_t ttl,
    int64_t *first, int *cache_err);

/*
 * Re-probes that survive the process (lib/limits_retry.c): one record per
 * address in the leases database. rg_limit_retry_put stores it;
 * rg_limit_retry_claim deletes it in the same transaction that reads it,
 * when its token is token (0: whatever the token), so that one prober
 * alone performs it: RG_LIMIT_OK with the record in *t, RG_LIMIT_HELD when
 * it is another prober's, RG_LIMIT_EMPTY when there is none.
 * rg_limit_retry_scan visits every readable one (fn returns non-zero to
 * stop); rg_limit_retry_get reads one (an rg_cache_status).
 */
enum rg_limit_status rg_limit_retry_put(struct rg_cache *c, const char *address,
    const struct rg_record_retry *t, int *cache_err);
enum rg_limit_status rg_limit_retry_claim(struct rg_cache *c, const char *address,
    uint64_t token, struct rg_record_retry *t, int *cache_err);
int rg_limit_retry_get(struct rg_cache *c, const char *address, struct rg_record_retry *t);
typedef int (*rg_limit_retry_fn)(const char *address, const struct rg_record_retry *t, void *arg);
int rg_limit_retry_scan(struct rg_cache *c, rg_limit_retry_fn fn, void *arg);

/*
 * Cooldowns: a domain that throttled probes is paused for base seconds,
 * doubled for each consecutive throttling (at most 2^(RG_COOLDOWN_LEVEL_MAX-1)
 * times). rg_limit_cooldown_start updates the domain record and returns the
 * pause; rg_limit_cooling tells whether the domain is paused at now.
 */
int64_t rg_limit_cooldown_start(struct rg_domain_record *d, int64_t base, int64_t now);
int rg_limit_cooling(const struct rg_domain_record *d, int64_t now);

#endif /* RG_LIMITS_H */
