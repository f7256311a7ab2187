/*
 * limits_retry.c - re-probes that survive the process that scheduled them:
 * one retry record per address ("rt:<address>" in the leases database),
 * stored when a re-probe is scheduled and claimed (read and deleted in one
 * write transaction) by the one prober that performs it, so that a reload,
 * a crash or another process on the host loses none and none runs twice.
 */
#include "rg_build.h"

#include <string.h>

#include "rcptguard/cache.h"
#include "rcptguard/limits.h"
#include "rcptguard/record.h"

#include "limits_impl.h"

enum rg_limit_status
rg_limit_retry_put(struct rg_cache *c, const char *address, const struct rg_record_retry *t,
    int *cache_err)
{
	char key[RG_CACHE_KEY_MAX + 1];
	unsigned char buf[RG_RECORD_RETRY_LEN];
	size_t len = rg_record_retry_encode(t, buf, sizeof(buf));

	if (rg_limit_key_retry(key, sizeof(key), address) < 0 || len == 0)
		return rg_limit_result(RG_CACHE_EINVAL, RG_LIMIT_FAILED, cache_err);
	return rg_limit_result(rg_cache_raw_put(c, RG_DB_LEASES, key, buf, len), RG_LIMIT_OK,
	    cache_err);
}

struct rg_limit_claim_arg {
	const char		*key;
	uint64_t		 token;
	struct rg_record_retry	*t;
	enum rg_limit_status	 result;
};

/* rg_limit_claim_fn - read the record and delete it, when it is ours to take. */
static int
rg_limit_claim_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_claim_arg *a = arg;
	const void *val;
	size_t len;
	int rc;

	a->result = RG_LIMIT_EMPTY;
	if ((rc = rg_cache_txn_get(t, RG_DB_LEASES, a->key, &val, &len)) == RG_CACHE_NOTFOUND)
		return RG_CACHE_ROLLBACK;
	if (rc != RG_CACHE_OK)
		return rc;
	if (rg_record_retry_decode(val, len, a->t) != RG_RECORD_OK) {
		/* Damaged: nobody can perform it; drop it. */
		return rg_cache_txn_del(t, RG_DB_LEASES, a->key);
	}
	if (a->token != 0 && a->t->rt_token != a->token) {
		a->result = RG_LIMIT_HELD;
		return RG_CACHE_ROLLBACK;
	}
	a->result = RG_LIMIT_OK;
	return rg_cache_txn_del(t, RG_DB_LEASES, a->key);
}

enum rg_limit_status
rg_limit_retry_claim(struct rg_cache *c, const char *address, uint64_t token,
    struct rg_record_retry *t, int *cache_err)
{
	char key[RG_CACHE_KEY_MAX + 1];
	struct rg_limit_claim_arg a = { .key = key, .token = token, .t = t };
	int rc;

	memset(t, 0, sizeof(*t));
	if (rg_limit_key_retry(key, sizeof(key), address) < 0)
		return rg_limit_result(RG_CACHE_EINVAL, RG_LIMIT_FAILED, cache_err);
	rc = rg_cache_write(c, rg_limit_claim_fn, &a);
	return rg_limit_result(rc, a.result, cache_err);
}

/* rg_limit_retry_read - one record's bytes, decoded. */
static int
rg_limit_retry_read(const void *val, size_t len, void *arg)
{
	return rg_record_retry_decode(val, len, arg) == RG_RECORD_OK ? RG_CACHE_OK :
	    RG_CACHE_BADRECORD;
}

int
rg_limit_retry_get(struct rg_cache *c, const char *address, struct rg_record_retry *t)
{
	char key[RG_CACHE_KEY_MAX + 1];

	if (rg_limit_key_retry(key, sizeof(key), address) < 0)
		return RG_CACHE_EINVAL;
	return rg_cache_read(c, RG_DB_LEASES, key, rg_limit_retry_read, t);
}

struct rg_limit_scan_arg {
	rg_limit_retry_fn	 fn;
	void			*arg;
};

/* rg_limit_scan_fn - one retry record of the scan, decoded; damaged ones are skipped. */
static int
rg_limit_scan_fn(const char *key, const void *val, size_t len, void *arg)
{
	struct rg_limit_scan_arg *a = arg;
	struct rg_record_retry t;

	if (rg_record_retry_decode(val, len, &t) != RG_RECORD_OK)
		return 0;
	return a->fn(key + strlen(RG_LIMIT_KEY_RETRY), &t, a->arg);
}

int
rg_limit_retry_scan(struct rg_cache *c, rg_limit_retry_fn fn, void *arg)
{
	struct rg_limit_scan_arg a = { fn, arg };

	return rg_cache_scan_prefix(c, RG_DB_LEASES, RG_LIMIT_KEY_RETRY, rg_limit_scan_fn, &a);
}
