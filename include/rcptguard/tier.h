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

#endif /* RG_TIER_H */
