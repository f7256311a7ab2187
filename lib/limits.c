/*
 * limits.c - leases, concurrency slots, token buckets, first marks and
 * cooldowns shared by every process through the LMDB cache (limits.h).
 *
 * DESCRIPTION
 *   Each operation is one body run by rg_cache_write: read the record,
 *   decide, write or roll back. A body may run more than once (the write
 *   path retries after growing the map), so it keeps its results in its
 *   argument and sets them afresh on every run.
 *
 *   A damaged record never holds anything: a lease of the wrong size or
 *   version, or with an expiry further away than any lease is taken for,
 *   would otherwise stop every probe of its key until that far-off day; a
 *   bucket whose numbers are out of range is a full bucket; a first mark
 *   from the future is replaced.
 */
#include "rg_build.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "rcptguard/clock.h"
#include "rcptguard/limits.h"
#include "rcptguard/netaddr.h"

#include "limits_impl.h"

#define RG_LIMIT_DAY_MS		86400000LL

const char *
rg_limit_status_name(enum rg_limit_status s)
{
	switch (s) {
	case RG_LIMIT_OK: return "ok";
	case RG_LIMIT_HELD: return "held";
	case RG_LIMIT_EMPTY: return "empty";
	case RG_LIMIT_FAILED: return "failed";
	}
	return "?";
}

/* rg_limit_key - prefix and name as one key; -1 when it does not fit. */
static int
rg_limit_key(char *buf, size_t size, const char *prefix, const char *name)
{
	int n = snprintf(buf, size, "%s%s", prefix, name);

	return n < 0 || (size_t)n >= size || n > RG_CACHE_KEY_MAX ? -1 : 0;
}

int
rg_limit_key_mx(char *buf, size_t size, const struct sockaddr *sa)
{
	char ip[64];

	rg_netaddr_format(sa, ip, sizeof(ip));
	return rg_limit_key(buf, size, "m:", ip);
}

int
rg_limit_key_bucket(char *buf, size_t size, const char *domain)
{
	return rg_limit_key(buf, size, "b:", domain);
}

int
rg_limit_key_defer(char *buf, size_t size, const char *address)
{
	return rg_limit_key(buf, size, "dw:", address);
}

int
rg_limit_key_retry(char *buf, size_t size, const char *address)
{
	return rg_limit_key(buf, size, RG_LIMIT_KEY_RETRY, address);
}

enum rg_limit_status
rg_limit_result(int rc, enum rg_limit_status decided, int *cache_err)
{
	if (rc == RG_CACHE_OK)
		return decided;
	if (cache_err != NULL)
		*cache_err = rc;
	return RG_LIMIT_FAILED;
}

/* rg_limit_new_token - unique per process and call; the pid keeps processes apart. */
static uint64_t
rg_limit_new_token(struct rg_cache *c)
{
	return ((uint64_t)(uint32_t)rg_cache_owner(c) << 32) | (uint32_t)rg_cache_next_seq(c);
}

/* rg_limit_lease_live - whether a stored lease (or slot) still holds its key. */
static int
rg_limit_lease_live(struct rg_cache *c, const void *val, size_t len, int64_t now)
{
	struct rg_record_lease l;
	pid_t pid;

	if (rg_record_lease_decode(val, len, &l) != RG_RECORD_OK ||
	    l.l_expires_at > now + RG_LIMIT_LEASE_TTL_MAX || l.l_expires_at <= now)
		return 0;
	pid = (pid_t)l.l_pid;
	if (pid > 0 && pid != rg_cache_owner(c) && kill(pid, 0) < 0 && errno == ESRCH)
		return 0;	/* its holder is gone */
	return 1;
}

/* rg_limit_lease_try - inside a write: take key unless a live lease holds it. */
static int
rg_limit_lease_try(struct rg_cache_txn *t, struct rg_cache *c, const char *key, int64_t ttl,
    uint64_t token, int *won)
{
	struct rg_record_lease l;
	unsigned char buf[RG_RECORD_LEASE_LEN];
	const void *val;
	size_t len;
	int64_t now = rg_clock_now();
	int rc;

	*won = 0;
	rc = rg_cache_txn_get(t, RG_DB_LEASES, key, &val, &len);
	if (rc == RG_CACHE_OK && rg_limit_lease_live(c, val, len, now))
		return RG_CACHE_OK;
	if (rc != RG_CACHE_OK && rc != RG_CACHE_NOTFOUND)
		return rc;
	l.l_expires_at = now + ttl;
	l.l_pid = (uint32_t)rg_cache_owner(c);
	l.l_token = token;
	rc = rg_cache_txn_put(t, RG_DB_LEASES, key, buf, rg_record_lease_encode(&l, buf, sizeof(buf)));
	if (rc == RG_CACHE_OK)
		*won = 1;
	return rc;
}

/* rg_limit_lease_ours - inside a write: delete key if it is our lease. 1 when deleted. */
static int
rg_limit_lease_drop(struct rg_cache_txn *t, const char *key, uint64_t token, int *dropped)
{
	struct rg_record_lease l;
	const void *val;
	size_t len;
	int rc;

	*dropped = 0;
	if ((rc = rg_cache_txn_get(t, RG_DB_LEASES, key, &val, &len)) == RG_CACHE_NOTFOUND)
		return RG_CACHE_OK;
	if (rc != RG_CACHE_OK)
		return rc;
	/* Only our own: an expired lease may have been taken over. */
	if (rg_record_lease_decode(val, len, &l) != RG_RECORD_OK || l.l_token != token)
		return RG_CACHE_OK;
	if ((rc = rg_cache_txn_del(t, RG_DB_LEASES, key)) != RG_CACHE_OK)
		return rc;
	*dropped = 1;
	return RG_CACHE_OK;
}

struct rg_limit_lease_arg {
	struct rg_cache	*c;
	const char	*key;
	int64_t		 ttl;
	uint64_t	 token;
	int		 done;
};

static int
rg_limit_lease_acquire_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_lease_arg *a = arg;
	int rc = rg_limit_lease_try(t, a->c, a->key, a->ttl, a->token, &a->done);

	return rc == RG_CACHE_OK && !a->done ? RG_CACHE_ROLLBACK : rc;
}

enum rg_limit_status
rg_limit_lease_acquire(struct rg_cache *c, const char *key, int64_t ttl, uint64_t *token,
    int *cache_err)
{
	struct rg_limit_lease_arg a = { .c = c, .key = key, .ttl = ttl };
	int rc;

	a.token = rg_limit_new_token(c);
	rc = rg_cache_write(c, rg_limit_lease_acquire_fn, &a);
	if (rc == RG_CACHE_OK && a.done && token != NULL)
		*token = a.token;
	return rg_limit_result(rc, a.done ? RG_LIMIT_OK : RG_LIMIT_HELD, cache_err);
}

static int
rg_limit_lease_release_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_lease_arg *a = arg;
	int rc = rg_limit_lease_drop(t, a->key, a->token, &a->done);

	return rc == RG_CACHE_OK && !a->done ? RG_CACHE_ROLLBACK : rc;
}

enum rg_limit_status
rg_limit_lease_release(struct rg_cache *c, const char *key, uint64_t token, int *cache_err)
{
	struct rg_limit_lease_arg a = { .c = c, .key = key, .token = token };
	int rc = rg_cache_write(c, rg_limit_lease_release_fn, &a);

	return rg_limit_result(rc, a.done ? RG_LIMIT_OK : RG_LIMIT_HELD, cache_err);
}

struct rg_limit_slot_arg {
	struct rg_cache		*c;
	const char *const	*prefixes;
	const int		*nslots;
	int			*slots;		/* acquire: out; release: in */
	const int		*held;
	int			 n;
	int64_t			 ttl;
	uint64_t		 token;
	int			 done;
};

/* rg_limit_slot_key - "prefix#i". */
static void
rg_limit_slot_key(char *buf, size_t size, const char *prefix, int slot)
{
	snprintf(buf, size, "%s#%d", prefix, slot);
}

/* rg_limit_slots_acquire_fn - in one transaction, a free slot under every prefix, or none. */
static int
rg_limit_slots_acquire_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_slot_arg *a = arg;
	char key[RG_CACHE_KEY_MAX + 1];

	a->done = 0;
	for (int p = 0; p < a->n; p++) {
		int nslots = a->nslots[p];

		a->slots[p] = -1;
		/* Start where the token points, so busy slots are not all checked first. */
		for (int k = 0, start = (int)(a->token % (uint64_t)nslots); k < nslots; k++) {
			int i = (start + k) % nslots, won, rc;

			rg_limit_slot_key(key, sizeof(key), a->prefixes[p], i);
			if ((rc = rg_limit_lease_try(t, a->c, key, a->ttl, a->token, &won)) !=
			    RG_CACHE_OK)
				return rc;
			if (won) {
				a->slots[p] = i;
				break;
			}
		}
		if (a->slots[p] < 0)
			return RG_CACHE_ROLLBACK;	/* all or nothing: undo what this took */
	}
	a->done = 1;
	return RG_CACHE_OK;
}

enum rg_limit_status
rg_limit_slots_acquire(struct rg_cache *c, const char *const *prefixes, const int *nslots, int n,
    int64_t ttl, int *slots, uint64_t *token, int *cache_err)
{
	struct rg_limit_slot_arg a = {
		.c = c, .prefixes = prefixes, .nslots = nslots, .slots = slots, .n = n, .ttl = ttl
	};
	int rc;

	if (n < 1 || n > RG_LIMIT_POOLS)
		return rg_limit_result(RG_CACHE_EINVAL, RG_LIMIT_FAILED, cache_err);
	for (int p = 0; p < n; p++)
		if (strlen(prefixes[p]) + 8 > RG_CACHE_KEY_MAX || nslots[p] < 1)
			return rg_limit_result(RG_CACHE_EINVAL, RG_LIMIT_FAILED, cache_err);
	a.token = rg_limit_new_token(c);
	rc = rg_cache_write(c, rg_limit_slots_acquire_fn, &a);
	if (rc == RG_CACHE_OK && a.done)
		*token = a.token;
	return rg_limit_result(rc, a.done ? RG_LIMIT_OK : RG_LIMIT_HELD, cache_err);
}

static int
rg_limit_slots_release_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_slot_arg *a = arg;
	char key[RG_CACHE_KEY_MAX + 1];
	int released = 0;

	for (int p = 0; p < a->n; p++) {
		int dropped, rc;

		if (a->held[p] < 0)
			continue;
		rg_limit_slot_key(key, sizeof(key), a->prefixes[p], a->held[p]);
		if ((rc = rg_limit_lease_drop(t, key, a->token, &dropped)) != RG_CACHE_OK)
			return rc;
		released += dropped;
	}
	a->done = released > 0;
	return a->done ? RG_CACHE_OK : RG_CACHE_ROLLBACK;
}

enum rg_limit_status
rg_limit_slots_release(struct rg_cache *c, const char *const *prefixes, const int *slots, int n,
    uint64_t token, int *cache_err)
{
	struct rg_limit_slot_arg a = {
		.c = c, .prefixes = prefixes, .held = slots, .n = n, .token = token
	};
	int rc;

	if (n < 1 || n > RG_LIMIT_POOLS)
		return rg_limit_result(RG_CACHE_EINVAL, RG_LIMIT_FAILED, cache_err);
	rc = rg_cache_write(c, rg_limit_slots_release_fn, &a);
	return rg_limit_result(rc, a.done ? RG_LIMIT_OK : RG_LIMIT_HELD, cache_err);
}

struct rg_limit_bucket_arg {
	const char	*key;
	int64_t		 rate;		/* tokens per minute */
	int64_t		 burst;
	int64_t		 now_ms;
	int64_t		 wait_ms;
	int		 taken;
};

/*
 * rg_limit_bucket_fill - the tokens (thousandths) a stored bucket holds at
 * now_ms. A damaged record (tokens out of range, an update from the future)
 * is a full bucket, as a missing one is: its numbers must never reach the
 * arithmetic, which they could overflow.
 */
static int64_t
rg_limit_bucket_fill(const struct rg_limit_bucket_arg *a, const void *val, size_t len)
{
	struct rg_record_bucket b;
	int64_t cap = a->burst * 1000, tokens, elapsed;

	if (rg_record_bucket_decode(val, len, &b) != RG_RECORD_OK || b.b_tokens < 0 ||
	    b.b_tokens > cap || b.b_updated_ms > a->now_ms + 60000)
		return cap;
	/* A day fills any bucket; longer would only risk overflow. */
	elapsed = b.b_updated_ms < a->now_ms - RG_LIMIT_DAY_MS ? RG_LIMIT_DAY_MS :
	    a->now_ms - b.b_updated_ms;
	tokens = b.b_tokens;
	if (elapsed > 0)
		tokens += elapsed * a->rate / 60;	/* thousandths per ms = rate/60 */
	return tokens > cap ? cap : tokens;
}

/*
 * rg_limit_bucket_fn - refill the bucket for the time passed, then take a token
 * or say how long to wait.
 */
static int
rg_limit_bucket_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_bucket_arg *a = arg;
	struct rg_record_bucket b;
	unsigned char buf[RG_RECORD_BUCKET_LEN];
	int64_t cap = a->burst * 1000, tokens = cap;
	const void *val;
	size_t len;
	int rc;

	rc = rg_cache_txn_get(t, RG_DB_LIMITS, a->key, &val, &len);
	if (rc == RG_CACHE_OK)
		tokens = rg_limit_bucket_fill(a, val, len);
	else if (rc != RG_CACHE_NOTFOUND)
		return rc;
	if (tokens >= 1000) {
		tokens -= 1000;
		a->taken = 1;
	} else {
		a->taken = 0;
		a->wait_ms = a->rate > 0 ? ((1000 - tokens) * 60 + a->rate - 1) / a->rate : 60000;
	}
	/* Expires when it would be full again: a full bucket needs no record. */
	b.b_expires_at = a->now_ms / 1000 +
	    (a->rate > 0 ? (cap - tokens) * 60 / a->rate / 1000 : 0) + 1;
	b.b_tokens = tokens;
	b.b_updated_ms = a->now_ms;
	return rg_cache_txn_put(t, RG_DB_LIMITS, a->key, buf,
	    rg_record_bucket_encode(&b, buf, sizeof(buf)));
}

enum rg_limit_status
rg_limit_bucket_take(struct rg_cache *c, const char *key, int64_t rate_per_min, int64_t burst,
    int64_t *wait_ms, int *cache_err)
{
	struct rg_limit_bucket_arg a = {
		.key = key, .rate = rate_per_min, .burst = burst, .now_ms = rg_clock_ms()
	};
	int rc = rg_cache_write(c, rg_limit_bucket_fn, &a);

	if (rc == RG_CACHE_OK && !a.taken)
		*wait_ms = a.wait_ms;
	return rg_limit_result(rc, a.taken ? RG_LIMIT_OK : RG_LIMIT_EMPTY, cache_err);
}

struct rg_limit_mark_arg {
	const char	*key;
	int64_t		 now;
	int64_t		 ttl;
	int64_t		 first;
};

/* rg_limit_mark_fn - the first time of a mark: read it, or write now when there is none. */
static int
rg_limit_mark_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_limit_mark_arg *a = arg;
	struct rg_record_mark m;
	unsigned char buf[RG_RECORD_MARK_LEN];
	const void *val;
	size_t len;
	int rc;

	rc = rg_cache_txn_get(t, RG_DB_DOMAINS, a->key, &val, &len);
	if (rc == RG_CACHE_OK) {
		/* A first mark from the future is damaged: it would defer for ever. */
		if (rg_record_mark_decode(val, len, &m) == RG_RECORD_OK && m.m_expires_at > a->now &&
		    m.m_first <= a->now) {
			a->first = m.m_first;
			return RG_CACHE_ROLLBACK;	/* a live mark: nothing to write */
		}
	} else if (rc != RG_CACHE_NOTFOUND) {
		return rc;
	}
	m.m_expires_at = a->now + a->ttl;
	m.m_first = a->now;
	a->first = a->now;
	return rg_cache_txn_put(t, RG_DB_DOMAINS, a->key, buf,
	    rg_record_mark_encode(&m, buf, sizeof(buf)));
}

enum rg_limit_status
rg_limit_mark_first(struct rg_cache *c, const char *key, int64_t ttl, int64_t *first,
    int *cache_err)
{
	struct rg_limit_mark_arg a = { .key = key, .now = rg_clock_now(), .ttl = ttl };
	int rc = rg_cache_write(c, rg_limit_mark_fn, &a);

	if (rc == RG_CACHE_OK)
		*first = a.first;
	return rg_limit_result(rc, RG_LIMIT_OK, cache_err);
}

int64_t
rg_limit_cooldown_start(struct rg_domain_record *d, int64_t base, int64_t now)
{
	int level = d->d_cooldown_level;

	if (level > RG_COOLDOWN_LEVEL_MAX)
		level = RG_COOLDOWN_LEVEL_MAX;	/* the decoder refuses more; never shift further */
	/* Consecutive: the last pause ended less than one pause ago. */
	if (d->d_cooldown_until + (base << level) < now)
		level = 0;
	if (level < RG_COOLDOWN_LEVEL_MAX)
		level++;
	d->d_cooldown_level = (uint8_t)level;
	d->d_cooldown_until = now + (base << (level - 1));
	return base << (level - 1);
}

int
rg_limit_cooling(const struct rg_domain_record *d, int64_t now)
{
	return d->d_cooldown_until > now;
}
