/*
 * tier_lmdb.c - the local tier of the verdict store: verdicts, domain
 * records and MX data as records (record.h) in the LMDB cache, and the
 * limits of limits.c (tier.h).
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/cache.h"
#include "rcptguard/limits.h"
#include "rcptguard/record.h"
#include "rcptguard/tier.h"

/* rg_tier_cache - the LMDB environment behind t. */
static struct rg_cache *
rg_tier_cache(struct rg_tier *t)
{
	return t->t_impl;
}

/* rg_tier_mx_key - where a domain's MX data is kept: "mx:<domain>". */
static int
rg_tier_mx_key(char *buf, size_t size, const char *domain)
{
	int n = snprintf(buf, size, "mx:%s", domain);

	return n < 0 || (size_t)n >= size ? RG_CACHE_EINVAL : RG_CACHE_OK;
}

static int
rg_tier_verdict_read(const void *val, size_t len, void *arg)
{
	return rg_record_verdict_decode(val, len, arg) == RG_RECORD_OK ? RG_CACHE_OK :
	    RG_CACHE_BADRECORD;
}

static int
rg_tier_lmdb_get(struct rg_tier *t, const char *key, struct rg_verdict *v)
{
	return rg_cache_read(rg_tier_cache(t), RG_DB_VERDICTS, key, rg_tier_verdict_read, v);
}

static int
rg_tier_lmdb_put(struct rg_tier *t, const char *key, const struct rg_verdict *v)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	size_t n = rg_record_verdict_encode(v, buf, sizeof(buf));

	if (n == 0)
		return RG_CACHE_EINVAL;
	return rg_cache_raw_put(rg_tier_cache(t), RG_DB_VERDICTS, key, buf, n);
}

struct rg_tier_del_arg {
	const char	*key;
};

static int
rg_tier_del_fn(struct rg_cache_txn *txn, void *arg)
{
	const struct rg_tier_del_arg *a = arg;

	return rg_cache_txn_del(txn, RG_DB_VERDICTS, a->key);
}

static int
rg_tier_lmdb_del(struct rg_tier *t, const char *key)
{
	struct rg_tier_del_arg a = { key };

	return rg_cache_write(rg_tier_cache(t), rg_tier_del_fn, &a);
}

struct rg_tier_visit_arg {
	rg_tier_visit_fn	 fn;
	void			*arg;
};

static int
rg_tier_visit(const char *key, const void *val, size_t len, void *arg)
{
	struct rg_tier_visit_arg *a = arg;
	struct rg_verdict v;
	int ok = rg_record_verdict_decode(val, len, &v) == RG_RECORD_OK;

	return a->fn(key, ok ? &v : NULL, a->arg);
}

static int
rg_tier_lmdb_foreach(struct rg_tier *t, rg_tier_visit_fn fn, void *arg)
{
	struct rg_tier_visit_arg a = { fn, arg };

	return rg_cache_scan(rg_tier_cache(t), RG_DB_VERDICTS, rg_tier_visit, &a);
}

static int
rg_tier_domain_read(const void *val, size_t len, void *arg)
{
	return rg_record_domain_decode(val, len, arg) == RG_RECORD_OK ? RG_CACHE_OK :
	    RG_CACHE_BADRECORD;
}

static int
rg_tier_lmdb_domain_get(struct rg_tier *t, const char *domain, struct rg_domain_record *d)
{
	memset(d, 0, sizeof(*d));
	return rg_cache_read(rg_tier_cache(t), RG_DB_DOMAINS, domain, rg_tier_domain_read, d);
}

static int
rg_tier_lmdb_domain_put(struct rg_tier *t, const char *domain, const struct rg_domain_record *d)
{
	unsigned char buf[RG_RECORD_DOMAIN_LEN];

	return rg_cache_raw_put(rg_tier_cache(t), RG_DB_DOMAINS, domain, buf,
	    rg_record_domain_encode(d, buf, sizeof(buf)));
}

struct rg_tier_mx_arg {
	struct rg_mx_result	*mx;
	int64_t			 now;
};

static int
rg_tier_mx_read(const void *val, size_t len, void *arg)
{
	struct rg_tier_mx_arg *a = arg;
	int64_t exp;

	if (rg_record_mx_decode(val, len, a->mx, &exp) != RG_RECORD_OK)
		return RG_CACHE_BADRECORD;
	return exp > a->now ? RG_CACHE_OK : RG_CACHE_NOTFOUND;
}

static int
rg_tier_lmdb_mx_get(struct rg_tier *t, const char *domain, int64_t now, struct rg_mx_result *mx)
{
	struct rg_tier_mx_arg a = { mx, now };
	char key[RG_CACHE_KEY_MAX + 1];
	int rc;

	if ((rc = rg_tier_mx_key(key, sizeof(key), domain)) != RG_CACHE_OK)
		return rc;
	return rg_cache_read(rg_tier_cache(t), RG_DB_DOMAINS, key, rg_tier_mx_read, &a);
}

static int
rg_tier_lmdb_mx_put(struct rg_tier *t, const char *domain, const struct rg_mx_result *mx,
    int64_t expires_at)
{
	unsigned char buf[RG_RECORD_MX_MAX];
	char key[RG_CACHE_KEY_MAX + 1];
	size_t n;
	int rc;

	if ((rc = rg_tier_mx_key(key, sizeof(key), domain)) != RG_CACHE_OK)
		return rc;
	if ((n = rg_record_mx_encode(mx, expires_at, buf, sizeof(buf))) == 0)
		return RG_CACHE_EINVAL;
	return rg_cache_raw_put(rg_tier_cache(t), RG_DB_DOMAINS, key, buf, n);
}

static enum rg_limit_status
rg_tier_lmdb_lease_acquire(struct rg_tier *t, const char *key, int64_t ttl, uint64_t *token,
    int *cache_err)
{
	return rg_limit_lease_acquire(rg_tier_cache(t), key, ttl, token, cache_err);
}

static enum rg_limit_status
rg_tier_lmdb_lease_release(struct rg_tier *t, const char *key, uint64_t token, int *cache_err)
{
	return rg_limit_lease_release(rg_tier_cache(t), key, token, cache_err);
}

static enum rg_limit_status
rg_tier_lmdb_slots_acquire(struct rg_tier *t, const char *const *prefixes, const int *nslots,
    int n, int64_t ttl, int *slots, uint64_t *token, int *cache_err)
{
	return rg_limit_slots_acquire(rg_tier_cache(t), prefixes, nslots, n, ttl, slots, token,
	    cache_err);
}

static enum rg_limit_status
rg_tier_lmdb_slots_release(struct rg_tier *t, const char *const *prefixes, const int *slots,
    int n, uint64_t token, int *cache_err)
{
	return rg_limit_slots_release(rg_tier_cache(t), prefixes, slots, n, token, cache_err);
}

static enum rg_limit_status
rg_tier_lmdb_bucket_take(struct rg_tier *t, const char *key, int64_t rate_per_min,
    int64_t burst, int64_t *wait_ms, int *cache_err)
{
	return rg_limit_bucket_take(rg_tier_cache(t), key, rate_per_min, burst, wait_ms, cache_err);
}

static enum rg_limit_status
rg_tier_lmdb_mark_first(struct rg_tier *t, const char *key, int64_t ttl, int64_t *first,
    int *cache_err)
{
	return rg_limit_mark_first(rg_tier_cache(t), key, ttl, first, cache_err);
}

static void
rg_tier_lmdb_free(struct rg_tier *t)
{
	free(t);
}

static const struct rg_tier_ops rg_tier_lmdb_ops = {
	.t_name = "lmdb",
	.t_get = rg_tier_lmdb_get,
	.t_put = rg_tier_lmdb_put,
	.t_del = rg_tier_lmdb_del,
	.t_foreach = rg_tier_lmdb_foreach,
	.t_domain_get = rg_tier_lmdb_domain_get,
	.t_domain_put = rg_tier_lmdb_domain_put,
	.t_mx_get = rg_tier_lmdb_mx_get,
	.t_mx_put = rg_tier_lmdb_mx_put,
	.t_lease_acquire = rg_tier_lmdb_lease_acquire,
	.t_lease_release = rg_tier_lmdb_lease_release,
	.t_slots_acquire = rg_tier_lmdb_slots_acquire,
	.t_slots_release = rg_tier_lmdb_slots_release,
	.t_bucket_take = rg_tier_lmdb_bucket_take,
	.t_mark_first = rg_tier_lmdb_mark_first,
	.t_free = rg_tier_lmdb_free,
};

struct rg_tier *
rg_tier_lmdb_new(struct rg_cache *c)
{
	struct rg_tier *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->t_ops = &rg_tier_lmdb_ops;
	t->t_impl = c;
	return t;
}
