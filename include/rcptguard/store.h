/*
 * store.h - the verdict store the rest of the program uses: verdicts,
 * domain records, MX data and the shared limits, kept in tiers (tier.h).
 *
 * The local tier is the LMDB cache (cache.h) and always comes first; a
 * shared tier for a fleet of hosts may follow it. A lookup asks the tiers
 * in order and stops at the first hit; a write goes to every tier; a limit
 * is decided by the last tier that enforces it (the widest scope), except
 * concurrency slots, which count this host's own sessions.
 *
 * Status values are those of tier.h: rg_cache_status for data,
 * rg_limit_status for limits. One store per process, thread-safe as the
 * cache is.
 */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/cache.h"
#include "rcptguard/config.h"
#include "rcptguard/limits.h"
#include "rcptguard/mx.h"
#include "rcptguard/record.h"
#include "rcptguard/tier.h"
#include "rcptguard/verdict.h"

struct rg_store;

/*
 * rg_store_open - open the local cache (flags as rg_cache_open) and its
 * tier. NULL on failure with *status (an rg_cache_status) and err set.
 */
struct rg_store *rg_store_open(const struct rg_config *cfg, unsigned flags, int *status,
    char *err, size_t errsize);
/* rg_store_close - close every tier and the cache. NULL is fine. */
void rg_store_close(struct rg_store *s);
/* rg_store_cache - the local LMDB environment, for what only it has (stats, sweep, sync). */
struct rg_cache *rg_store_cache(struct rg_store *s);

/* Verdicts. get reports the state at rg_clock_now(); state may be NULL. */
int rg_store_get(struct rg_store *s, const char *key, struct rg_verdict *v,
    enum rg_verdict_state *state);
int rg_store_put(struct rg_store *s, const char *key, const struct rg_verdict *v);
int rg_store_del(struct rg_store *s, const char *key);
/* Every verdict of the local tier, in key order; undecodable ones with v == NULL. */
typedef int (*rg_store_visit_fn)(const char *key, const struct rg_verdict *v, void *arg);
int rg_store_foreach(struct rg_store *s, rg_store_visit_fn fn, void *arg);

/*
 * rg_store_stamp - set checked_at to now and refresh_at/expires_at from the
 * TTL of v's class and reason (per-reason overrides first). ttl > 0 replaces
 * the configured expiry (refresh is then capped at it).
 */
void rg_store_stamp(const struct rg_store *s, struct rg_verdict *v, int64_t ttl);

/* Domain records (record.h) and MX data that is still within its DNS TTL. */
int rg_store_domain_get(struct rg_store *s, const char *domain, struct rg_domain_record *d);
int rg_store_domain_put(struct rg_store *s, const char *domain, const struct rg_domain_record *d);
int rg_store_mx_get(struct rg_store *s, const char *domain, struct rg_mx_result *mx);
int rg_store_mx_put(struct rg_store *s, const char *domain, const struct rg_mx_result *mx,
    int64_t expires_at);

/* Limits (limits.h). */
enum rg_limit_status rg_store_lease_acquire(struct rg_store *s, const char *key, int64_t ttl,
    uint64_t *token, int *cache_err);
enum rg_limit_status rg_store_lease_release(struct rg_store *s, const char *key,
    uint64_t token, int *cache_err);
enum rg_limit_status rg_store_slots_acquire(struct rg_store *s, const char *const *prefixes,
    const int *nslots, int n, int64_t ttl, int *slots, uint64_t *token, int *cache_err);
enum rg_limit_status rg_store_slots_release(struct rg_store *s, const char *const *prefixes,
    const int *slots, int n, uint64_t token, int *cache_err);
enum rg_limit_status rg_store_bucket_take(struct rg_store *s, const char *key,
    int64_t rate_per_min, int64_t burst, int64_t *wait_ms, int *cache_err);
enum rg_limit_status rg_store_mark_first(struct rg_store *s, const char *key, int64_t ttl,
    int64_t *first, int *cache_err);

/*
 * Durable re-probes (limits.h): the host's own, so always the local cache.
 * A greylisting server keys on the client address, and the retry must come
 * from the host that made the first probe.
 */
enum rg_limit_status rg_store_retry_put(struct rg_store *s, const char *address,
    const struct rg_record_retry *t, int *cache_err);
enum rg_limit_status rg_store_retry_claim(struct rg_store *s, const char *address,
    uint64_t token, struct rg_record_retry *t, int *cache_err);
int rg_store_retry_get(struct rg_store *s, const char *address, struct rg_record_retry *t);
int rg_store_retry_scan(struct rg_store *s, rg_limit_retry_fn fn, void *arg);

/*
 * The fleet's shared tier ([redis] server). rg_store_share attaches it on
 * base's loop (nothing without a server; -1 with err for a bad setting).
 * From then on every write also goes to the fleet, and a lookup the local
 * tier misses may be fetched (rg_store_fetch, answered from the loop) and
 * kept locally with rg_store_adopt: the domain's record merged into the
 * local one, the verdict (when it lives) with its remaining TTL, never
 * longer than this host's own TTL for it. The fleet's leases and buckets
 * are asked the same way. Every asynchronous call returns -1 at once,
 * calling nothing, when the fleet is not reachable now: the caller goes
 * on with the local tier and its limits.
 */
int rg_store_share(struct rg_store *s, struct event_base *base, const struct rg_config *cfg,
    char *err, size_t errsize);
int rg_store_shared_up(struct rg_store *s);
/* rg_store_flush - wait (the CLI) until what went to the fleet is acknowledged, at most timeout_ms. */
void rg_store_flush(struct rg_store *s, int64_t timeout_ms);
int rg_store_fetch(struct rg_store *s, const char *address, const char *domain,
    rg_tier_fetch_cb cb, void *arg, struct rg_tier_req *req);
/* rg_store_adopt - RG_CACHE_OK with the fleet's live verdict in *v, or why not. */
int rg_store_adopt(struct rg_store *s, const char *address, const char *domain,
    const struct rg_tier_fetch *f, struct rg_verdict *v);
int rg_store_fleet_lease(struct rg_store *s, const char *address, int64_t ttl, uint64_t token,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req);
void rg_store_fleet_unlease(struct rg_store *s, const char *address, uint64_t token);
int rg_store_fleet_bucket(struct rg_store *s, const char *domain, int64_t rate_per_min,
    int64_t burst, rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req);

#endif /* RG_STORE_H */
