/*
 * store.c - the verdict store over its tiers (store.h): lookups in tier
 * order with back-filling, writes to every tier, limits decided by the
 * widest tier, and the TTLs of verdicts.
 *
 * DESCRIPTION
 *   Tier 0 is the local LMDB tier; its answer is the store's answer when
 *   no tier has a hit, and its failures are the store's failures (the
 *   daemons follow fail_mode on them). A later tier's failure is a miss
 *   for lookups and is not reported for writes: the local tier has the
 *   data. A hit in a later tier is written into the tiers before it, with
 *   the remaining TTL the record carries.
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/clock.h"
#include "rcptguard/store.h"
#include "rcptguard/tier.h"

#define RG_STORE_TIERS	2
#define RG_STORE_RETRY_OWN_S	120	/* a retry stays its owner's this long past due */

struct rg_store {
	struct rg_cache		*s_cache;
	struct rg_tier		*s_tiers[RG_STORE_TIERS];
	int			 s_ntiers;
	struct rg_tier		*s_shared;	/* tier 1 on Redis, or NULL */
	int64_t			 s_ttl[RG_CLASS_COUNT];
	int64_t			 s_refresh[RG_CLASS_COUNT];
	int64_t			 s_reason_ttl[RG_REASON_COUNT];
	int64_t			 s_reason_refresh[RG_REASON_COUNT];
};

struct rg_store *
rg_store_open(const struct rg_config *cfg, unsigned flags, int *status, char *err, size_t errsize)
{
	struct rg_store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		*status = RG_CACHE_EIO;
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	memcpy(s->s_ttl, cfg->ttl, sizeof(s->s_ttl));
	memcpy(s->s_refresh, cfg->refresh, sizeof(s->s_refresh));
	memcpy(s->s_reason_ttl, cfg->reason_ttl, sizeof(s->s_reason_ttl));
	memcpy(s->s_reason_refresh, cfg->reason_refresh, sizeof(s->s_reason_refresh));
	if ((s->s_cache = rg_cache_open(cfg, flags, status, err, errsize)) == NULL) {
		free(s);
		return NULL;
	}
	if ((s->s_tiers[0] = rg_tier_lmdb_new(s->s_cache)) == NULL) {
		rg_cache_close(s->s_cache);
		free(s);
		*status = RG_CACHE_EIO;
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	s->s_ntiers = 1;
	return s;
}

void
rg_store_close(struct rg_store *s)
{
	if (s == NULL)
		return;
	for (int i = s->s_ntiers - 1; i >= 0; i--)
		s->s_tiers[i]->t_ops->t_free(s->s_tiers[i]);
	rg_cache_close(s->s_cache);
	free(s);
}

struct rg_cache *
rg_store_cache(struct rg_store *s)
{
	return s->s_cache;
}

/* The records the store reads through its tiers and writes to all of them. */
enum rg_store_kind {
	RG_STORE_VERDICT,	/* struct rg_verdict */
	RG_STORE_DOMAIN,	/* struct rg_domain_record */
};

static int
rg_store_tier_get(struct rg_tier *t, enum rg_store_kind k, const char *key, void *rec)
{
	return k == RG_STORE_VERDICT ? t->t_ops->t_get(t, key, rec) :
	    t->t_ops->t_domain_get(t, key, rec);
}

static int
rg_store_tier_put(struct rg_tier *t, enum rg_store_kind k, const char *key, const void *rec)
{
	return k == RG_STORE_VERDICT ? t->t_ops->t_put(t, key, rec) :
	    t->t_ops->t_domain_put(t, key, rec);
}

/*
 * rg_store_read - the first tier with a hit answers, and the tiers before
 * it get the record; without a hit, tier 0's status.
 */
static int
rg_store_read(struct rg_store *s, enum rg_store_kind k, const char *key, void *rec)
{
	int local = RG_CACHE_NOTFOUND;

	for (int i = 0; i < s->s_ntiers; i++) {
		int rc = rg_store_tier_get(s->s_tiers[i], k, key, rec);

		if (rc == RG_CACHE_OK) {
			for (int b = 0; b < i; b++)
				rg_store_tier_put(s->s_tiers[b], k, key, rec);
			return RG_CACHE_OK;
		}
		if (i == 0)
			local = rc;
	}
	return local;
}

/* rg_store_write - every tier gets the record; tier 0's status is the answer. */
static int
rg_store_write(struct rg_store *s, enum rg_store_kind k, const char *key, const void *rec)
{
	int local = rg_store_tier_put(s->s_tiers[0], k, key, rec);

	for (int i = 1; i < s->s_ntiers; i++)
		rg_store_tier_put(s->s_tiers[i], k, key, rec);
	return local;
}

int
rg_store_get(struct rg_store *s, const char *key, struct rg_verdict *v,
    enum rg_verdict_state *state)
{
	int rc = rg_store_read(s, RG_STORE_VERDICT, key, v);

	if (rc == RG_CACHE_OK && state != NULL)
		*state = rg_verdict_state_at(v, rg_clock_now());
	return rc;
}

int
rg_store_put(struct rg_store *s, const char *key, const struct rg_verdict *v)
{
	int rc = rg_store_write(s, RG_STORE_VERDICT, key, v);

	/* An admin's or a delivery's verdict replaces the copies other hosts hold. */
	if (s->s_shared != NULL && v->v_source != RG_SOURCE_PROBE)
		rg_tier_redis_announce(s->s_shared, key);
	return rc;
}

int
rg_store_del(struct rg_store *s, const char *key)
{
	int local = s->s_tiers[0]->t_ops->t_del(s->s_tiers[0], key);

	for (int i = 1; i < s->s_ntiers; i++)
		s->s_tiers[i]->t_ops->t_del(s->s_tiers[i], key);
	if (s->s_shared != NULL)
		rg_tier_redis_announce(s->s_shared, key);
	return local;
}

int
rg_store_foreach(struct rg_store *s, rg_store_visit_fn fn, void *arg)
{
	return s->s_tiers[0]->t_ops->t_foreach(s->s_tiers[0], fn, arg);
}

void
rg_store_stamp(const struct rg_store *s, struct rg_verdict *v, int64_t ttl)
{
	int64_t t = s->s_ttl[v->v_class], r = s->s_refresh[v->v_class];
	int64_t now = rg_clock_now();

	if ((unsigned)v->v_reason < RG_REASON_COUNT) {
		if (s->s_reason_ttl[v->v_reason] >= 0)
			t = s->s_reason_ttl[v->v_reason];
		if (s->s_reason_refresh[v->v_reason] >= 0)
			r = s->s_reason_refresh[v->v_reason];
	}
	if (ttl > 0)
		t = ttl;
	if (r > t)
		r = t;
	v->v_checked_at = now;
	v->v_refresh_at = now + r;
	v->v_expires_at = now + t;
}

int
rg_store_domain_get(struct rg_store *s, const char *domain, struct rg_domain_record *d)
{
	int rc = rg_store_read(s, RG_STORE_DOMAIN, domain, d);

	if (rc != RG_CACHE_OK)
		memset(d, 0, sizeof(*d));
	return rc;
}

int
rg_store_domain_put(struct rg_store *s, const char *domain, const struct rg_domain_record *d)
{
	return rg_store_write(s, RG_STORE_DOMAIN, domain, d);
}

int
rg_store_mx_get(struct rg_store *s, const char *domain, struct rg_mx_result *mx)
{
	int64_t now = rg_clock_now();
	int local = RG_CACHE_NOTFOUND;

	for (int i = 0; i < s->s_ntiers; i++) {
		struct rg_tier *t = s->s_tiers[i];
		int rc = t->t_ops->t_mx_get(t, domain, now, mx);

		if (rc == RG_CACHE_OK)
			return RG_CACHE_OK;
		if (i == 0)
			local = rc;
	}
	return local;
}

int
rg_store_mx_put(struct rg_store *s, const char *domain, const struct rg_mx_result *mx,
    int64_t expires_at)
{
	int local = s->s_tiers[0]->t_ops->t_mx_put(s->s_tiers[0], domain, mx, expires_at);

	for (int i = 1; i < s->s_ntiers; i++)
		s->s_tiers[i]->t_ops->t_mx_put(s->s_tiers[i], domain, mx, expires_at);
	return local;
}

/*
 * rg_store_limits - the widest tier that enforces leases, buckets and
 * marks: the last one that answers them.
 */
static struct rg_tier *
rg_store_limits(struct rg_store *s)
{
	struct rg_tier *w = s->s_tiers[0];

	for (int i = 1; i < s->s_ntiers; i++)
		if (s->s_tiers[i]->t_ops->t_lease_acquire != NULL)
			w = s->s_tiers[i];
	return w;
}

enum rg_limit_status
rg_store_lease_acquire(struct rg_store *s, const char *key, int64_t ttl, uint64_t *token,
    int *cache_err)
{
	struct rg_tier *t = rg_store_limits(s);

	return t->t_ops->t_lease_acquire(t, key, ttl, token, cache_err);
}

enum rg_limit_status
rg_store_lease_release(struct rg_store *s, const char *key, uint64_t token, int *cache_err)
{
	struct rg_tier *t = rg_store_limits(s);

	return t->t_ops->t_lease_release(t, key, token, cache_err);
}

enum rg_limit_status
rg_store_slots_acquire(struct rg_store *s, const char *const *prefixes, const int *nslots, int n,
    int64_t ttl, int *slots, uint64_t *token, int *cache_err)
{
	/* This host's sockets: always the local tier. */
	return s->s_tiers[0]->t_ops->t_slots_acquire(s->s_tiers[0], prefixes, nslots, n, ttl, slots,
	    token, cache_err);
}

enum rg_limit_status
rg_store_slots_release(struct rg_store *s, const char *const *prefixes, const int *slots, int n,
    uint64_t token, int *cache_err)
{
	return s->s_tiers[0]->t_ops->t_slots_release(s->s_tiers[0], prefixes, slots, n, token,
	    cache_err);
}

enum rg_limit_status
rg_store_bucket_take(struct rg_store *s, const char *key, int64_t rate_per_min, int64_t burst,
    int64_t *wait_ms, int *cache_err)
{
	struct rg_tier *t = rg_store_limits(s);

	return t->t_ops->t_bucket_take(t, key, rate_per_min, burst, wait_ms, cache_err);
}

enum rg_limit_status
rg_store_mark_first(struct rg_store *s, const char *key, int64_t ttl, int64_t *first,
    int *cache_err)
{
	struct rg_tier *t = rg_store_limits(s);

	return t->t_ops->t_mark_first(t, key, ttl, first, cache_err);
}

enum rg_limit_status
rg_store_retry_put(struct rg_store *s, const char *address, const struct rg_record_retry *t,
    int *cache_err)
{
	enum rg_limit_status ls = rg_limit_retry_put(s->s_cache, address, t, cache_err);

	if (ls == RG_LIMIT_OK && s->s_shared != NULL)
		rg_tier_redis_retry_own(s->s_shared, address, t->rt_due + RG_STORE_RETRY_OWN_S);
	return ls;
}

enum rg_limit_status
rg_store_retry_claim(struct rg_store *s, const char *address, uint64_t token,
    struct rg_record_retry *t, int *cache_err)
{
	return rg_limit_retry_claim(s->s_cache, address, token, t, cache_err);
}

int
rg_store_retry_get(struct rg_store *s, const char *address, struct rg_record_retry *t)
{
	return rg_limit_retry_get(s->s_cache, address, t);
}

int
rg_store_retry_scan(struct rg_store *s, rg_limit_retry_fn fn, void *arg)
{
	return rg_limit_retry_scan(s->s_cache, fn, arg);
}

/* rg_store_on_changed - another host changed key's verdict: drop the local copy. */
static void
rg_store_on_changed(const char *key, void *arg)
{
	struct rg_store *s = arg;

	(void)s->s_tiers[0]->t_ops->t_del(s->s_tiers[0], key);
}

int
rg_store_share(struct rg_store *s, struct event_base *base, const struct rg_config *cfg,
    char *err, size_t errsize)
{
	if (cfg->redis_server[0] == '\0' || s->s_shared != NULL)
		return 0;
	if ((s->s_shared = rg_tier_redis_new(base, cfg, rg_store_on_changed, s, err, errsize)) == NULL)
		return -1;
	s->s_tiers[s->s_ntiers++] = s->s_shared;
	return 0;
}

int
rg_store_shared_up(struct rg_store *s)
{
	return s != NULL && s->s_shared != NULL && rg_tier_redis_up(s->s_shared);
}

void
rg_store_flush(struct rg_store *s, int64_t timeout_ms)
{
	if (s->s_shared != NULL)
		rg_tier_redis_flush(s->s_shared, timeout_ms);
}

int
rg_store_fetch(struct rg_store *s, const char *address, const char *domain, rg_tier_fetch_cb cb,
    void *arg, struct rg_tier_req *req)
{
	if (!rg_store_shared_up(s))
		return -1;
	return rg_tier_redis_fetch(s->s_shared, address, domain, cb, arg, req);
}

/* rg_store_later - the later of two expiries of one part of a domain record. */
#define rg_store_later(d, f, part, until) do {				\
	if ((f)->until > (d)->until) {					\
		(d)->part = (f)->part;					\
		(d)->until = (f)->until;				\
	}								\
} while (0)

/*
 * rg_store_merge_domain - what the fleet knows of a domain joins what this
 * host knows: each part from whichever lasts longer. The sticky source
 * address is this host's own.
 */
static void
rg_store_merge_domain(struct rg_domain_record *d, const struct rg_domain_record *f)
{
	rg_store_later(d, f, d_catch_all, d_catch_all_until);
	rg_store_later(d, f, d_dns_reason, d_dns_until);
	if (f->d_cooldown_until > d->d_cooldown_until) {
		d->d_cooldown_until = f->d_cooldown_until;
		d->d_cooldown_level = f->d_cooldown_level;
	}
	if (f->d_limits_until > d->d_limits_until) {
		d->d_rcpt_per_txn = f->d_rcpt_per_txn;
		d->d_rcpt_per_session = f->d_rcpt_per_session;
		d->d_limits_until = f->d_limits_until;
	}
}

int
rg_store_adopt(struct rg_store *s, const char *address, const char *domain,
    const struct rg_tier_fetch *f, struct rg_verdict *v)
{
	struct rg_tier *local = s->s_tiers[0];
	int64_t now = rg_clock_now();

	if (f->tf_domain == RG_CACHE_OK) {
		struct rg_domain_record d, before;
		if (local->t_ops->t_domain_get(local, domain, &d) != RG_CACHE_OK)
			memset(&d, 0, sizeof(d));
		before = d;
		rg_store_merge_domain(&d, &f->tf_d);
		if (memcmp(&d, &before, sizeof(d)) != 0)
			local->t_ops->t_domain_put(local, domain, &d);
	}
	if (f->tf_verdict != RG_CACHE_OK)
		return f->tf_verdict;
	*v = f->tf_v;
	if (rg_verdict_state_at(v, now) == RG_STATE_EXPIRED || v->v_checked_at > now + 60)
		return RG_CACHE_NOTFOUND;
	{
		/* What this host holds of the same age or newer stays: the fleet has nothing new. */
		struct rg_verdict mine;
		if (local->t_ops->t_get(local, address, &mine) == RG_CACHE_OK &&
		    rg_verdict_state_at(&mine, now) != RG_STATE_EXPIRED &&
		    mine.v_checked_at >= v->v_checked_at)
			return RG_CACHE_NOTFOUND;
	}
	{
		/* Kept no longer than this host would keep such a verdict of its own. */
		struct rg_verdict mine = *v;
		rg_store_stamp(s, &mine, 0);
		if (v->v_expires_at > mine.v_expires_at)
			v->v_expires_at = mine.v_expires_at;
		if (v->v_refresh_at > v->v_expires_at)
			v->v_refresh_at = v->v_expires_at;
	}
	local->t_ops->t_put(local, address, v);
	return RG_CACHE_OK;
}

int
rg_store_fleet_lease(struct rg_store *s, const char *address, int64_t ttl, uint64_t token,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req)
{
	if (!rg_store_shared_up(s))
		return -1;
	return rg_tier_redis_lease(s->s_shared, address, ttl, token, cb, arg, req);
}

void
rg_store_fleet_unlease(struct rg_store *s, const char *address, uint64_t token)
{
	if (s != NULL && s->s_shared != NULL)
		rg_tier_redis_unlease(s->s_shared, address, token);
}

int
rg_store_fleet_bucket(struct rg_store *s, const char *domain, int64_t rate_per_min, int64_t burst,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req)
{
	if (!rg_store_shared_up(s))
		return -1;
	return rg_tier_redis_bucket(s->s_shared, domain, rate_per_min, burst, cb, arg, req);
}
