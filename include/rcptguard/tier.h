/*
 * tier.h - what a tier of the verdict store must answer.
 *
 * The store (store.h) asks its tiers in order: the local LMDB tier first,
 * which answers a hit in microseconds, then a shared tier that a fleet of
 * hosts has in common. A tier keeps verdicts, domain records and MX data,
 * and decides the limits it can enforce for everyone who uses it: probe
 * leases, token buckets and first marks. Concurrency slots stay with the
 * local tier: they count this host's sockets.
 *
 * Data operations answer an rg_cache_status: RG_CACHE_OK, RG_CACHE_NOTFOUND
 * (a miss, also for an expired MX record), RG_CACHE_BADRECORD (treat as a
 * miss), or a negative failure of the tier. Limit operations answer an
 * rg_limit_status with the failure in *cache_err. A tier never blocks its
 * caller longer than its own timeout. A tier that enforces limits answers
 * leases, buckets and marks alike; one that does not leaves all three NULL,
 * and the store asks an earlier tier. Every tier answers the data
 * operations; only the local tier is asked for concurrency slots.
 */
#ifndef RG_TIER_H
#define RG_TIER_H

#include <stdint.h>

#include <event2/event.h>

#include "rcptguard/config.h"
#include "rcptguard/limits.h"
#include "rcptguard/mx.h"
#include "rcptguard/record.h"
#include "rcptguard/verdict.h"

struct rg_tier;

typedef int (*rg_tier_visit_fn)(const char *key, const struct rg_verdict *v, void *arg);

struct rg_tier_ops {
	const char	*t_name;	/* "lmdb", for logs */

	int	(*t_get)(struct rg_tier *t, const char *key, struct rg_verdict *v);
	int	(*t_put)(struct rg_tier *t, const char *key, const struct rg_verdict *v);
	int	(*t_del)(struct rg_tier *t, const char *key);
	/* Every verdict in key order; undecodable ones with v == NULL. */
	int	(*t_foreach)(struct rg_tier *t, rg_tier_visit_fn fn, void *arg);

	int	(*t_domain_get)(struct rg_tier *t, const char *domain, struct rg_domain_record *d);
	int	(*t_domain_put)(struct rg_tier *t, const char *domain,
		    const struct rg_domain_record *d);
	/* MX data that has not expired at now. */
	int	(*t_mx_get)(struct rg_tier *t, const char *domain, int64_t now,
		    struct rg_mx_result *mx);
	int	(*t_mx_put)(struct rg_tier *t, const char *domain, const struct rg_mx_result *mx,
		    int64_t expires_at);

	enum rg_limit_status (*t_lease_acquire)(struct rg_tier *t, const char *key, int64_t ttl,
		    uint64_t *token, int *cache_err);
	enum rg_limit_status (*t_lease_release)(struct rg_tier *t, const char *key,
		    uint64_t token, int *cache_err);
	enum rg_limit_status (*t_slots_acquire)(struct rg_tier *t, const char *const *prefixes,
		    const int *nslots, int n, int64_t ttl, int *slots, uint64_t *token,
		    int *cache_err);
	enum rg_limit_status (*t_slots_release)(struct rg_tier *t, const char *const *prefixes,
		    const int *slots, int n, uint64_t token, int *cache_err);
	enum rg_limit_status (*t_bucket_take)(struct rg_tier *t, const char *key,
		    int64_t rate_per_min, int64_t burst, int64_t *wait_ms, int *cache_err);
	enum rg_limit_status (*t_mark_first)(struct rg_tier *t, const char *key, int64_t ttl,
		    int64_t *first, int *cache_err);

	void	(*t_free)(struct rg_tier *t);
};

struct rg_tier {
	const struct rg_tier_ops	*t_ops;
	void				*t_impl;
};

/*
 * rg_tier_lmdb - the local tier over an open LMDB cache (not owned: the
 * caller closes it after freeing the tier).
 */
struct rg_tier *rg_tier_lmdb_new(struct rg_cache *c);

/*
 * The shared tier on Redis (tier_redis.c), made on the caller's loop. Its
 * synchronous operations never wait: reads miss, writes are sent and not
 * waited for, and it enforces no limit synchronously. What needs Redis's
 * answer is asked with the calls below, which answer from the loop within
 * [redis] timeout, or return -1 at once when Redis is not up (the caller
 * goes on with the local tier).
 */
typedef void (*rg_tier_changed_fn)(const char *key, void *arg);
struct rg_tier *rg_tier_redis_new(struct event_base *base, const struct rg_config *cfg,
    rg_tier_changed_fn changed, void *arg, char *err, size_t errsize);
/*
 * rg_tier_redis_announce - tell every host that key's verdict changed (an
 * admin's, a delivery's); each one's changed callback gets the key.
 */
void rg_tier_redis_announce(struct rg_tier *t, const char *key);
/* rg_tier_redis_up - 1 while Redis answers. */
int rg_tier_redis_up(struct rg_tier *t);
/* rg_tier_redis_flush - run the loop until what was sent has ended, at most timeout_ms. */
void rg_tier_redis_flush(struct rg_tier *t, int64_t timeout_ms);

/*
 * A request in flight, held by its caller: rg_tier_cancel stops its
 * callback; it is cleared (rq_q NULL) before the callback runs.
 */
struct rg_redis_req;
struct rg_tier_call;
struct rg_tier_req {
	struct rg_redis_req	*rq_q;
	struct rg_tier_call	*rq_call;
};
void rg_tier_cancel(struct rg_tier_req *req);

/*
 * What the fleet knows of a recipient: its verdict and its domain's record
 * (each an rg_cache_status: OK, NOTFOUND, BADRECORD for a value refused, or
 * RG_CACHE_EIO when Redis did not answer), and whether another instance
 * owns a greylisting retry of the address.
 */
struct rg_tier_fetch {
	int			tf_verdict;
	struct rg_verdict	tf_v;
	int			tf_domain;
	struct rg_domain_record	tf_d;
	int			tf_retry_other;
};
typedef void (*rg_tier_fetch_cb)(const struct rg_tier_fetch *f, void *arg);
int rg_tier_redis_fetch(struct rg_tier *t, const char *address, const char *domain,
    rg_tier_fetch_cb cb, void *arg, struct rg_tier_req *req);
/*
 * rg_tier_redis_decode_fetch - what a fetch's reply (a hiredis reply, NULL
 * for none) says, for an instance of that name; every value is decoded by
 * the record module or refused. Exposed for the fuzzer.
 */
struct redisReply;
void rg_tier_redis_decode_fetch(const struct redisReply *reply, const char *instance,
    struct rg_tier_fetch *f);

/*
 * Limits: ls is RG_LIMIT_OK (taken), RG_LIMIT_HELD (a lease of another
 * host, or a greylisting retry another instance owns), RG_LIMIT_EMPTY (no
 * token: wait_ms) or RG_LIMIT_FAILED (Redis did not answer).
 */
typedef void (*rg_tier_limit_cb)(enum rg_limit_status ls, int64_t wait_ms, void *arg);
int rg_tier_redis_lease(struct rg_tier *t, const char *address, int64_t ttl, uint64_t token,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req);
void rg_tier_redis_unlease(struct rg_tier *t, const char *address, uint64_t token);
int rg_tier_redis_bucket(struct rg_tier *t, const char *domain, int64_t rate_per_min,
    int64_t burst, rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req);
/* The owner of a greylisting retry: this instance, until expires_at; or no longer. */
void rg_tier_redis_retry_own(struct rg_tier *t, const char *address, int64_t expires_at);
void rg_tier_redis_retry_disown(struct rg_tier *t, const char *address);

#endif /* RG_TIER_H */
