/*
 * tier_redis.c - the fleet's shared tier on Redis (tier.h): verdicts and
 * domain records written by every host, probe leases, each domain's token
 * bucket, and the owner of each greylisting retry.
 *
 * DESCRIPTION
 *   Keys, after key_prefix:
 *     v:<address>   a verdict record (record.h), expiring at its expires_at;
 *                   unknown verdicts (this host's view) are not shared
 *     d:<domain>    a domain record, expiring with its last part
 *     l:<address>   a probe lease: "<instance>:<token>", for lease_ttl; then
 *                   "done" for 10 s, so that a late miss reads the verdict
 *     b:<domain>    a token bucket: a hash of tokens (thousandths) and the
 *                   update time in ms, expiring when it would be full
 *     r:<address>   the instance that owns the address's greylisting retry
 *   and the channel "changed", where an address whose verdict an admin or
 *   a delivery changed is announced: every host drops its local copy and
 *   reads the new one from the fleet at its next lookup. Probes announce
 *   nothing: a host holds another's probe verdict only by asking for it.
 *   The values of v: and d: are the bytes of the record module, so a host
 *   of any version reads another's records or rejects them (a record of
 *   another version, a damaged or foreign value) and counts it.
 *
 *   The tier never blocks: its synchronous operations answer a miss at
 *   once (reads) or send and forget (writes); what needs an answer is
 *   asked with the asynchronous calls below and answered from the loop
 *   within the configured timeout. Leases, buckets and retry owners are
 *   checked and set by Lua scripts, each one atomic in Redis.
 *
 * SECURITY
 *   Every value read is decoded by the record module, which refuses what
 *   it cannot read whole; the scripts' replies are checked for their type
 *   and range. Keys carry only normalized addresses and domains.
 */
#include "rg_build.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/redis.h"
#include "rcptguard/tier.h"
#include "rcptguard/util.h"

#define RG_TIER_KEY_MAX		(64 + 2 + RG_CACHE_KEY_MAX)

/* Returns 1: taken; 0: held by another; 2: a retry of the address is another instance's. */
static const char rg_tier_lua_lease[] =
	"local o = redis.call('GET', KEYS[2])\n"
	"if o and o ~= ARGV[3] then return 2 end\n"
	"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
	"return 0\n";

/*
 * Gives the lease back when it is still the caller's, leaving "done" for
 * ARGV[2] ms: a host that missed the verdict a moment before it was
 * written finds the lease taken, polls, and reads the verdict instead of
 * probing again.
 */
static const char rg_tier_lua_unlease[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) and 1 or 0 end\n"
	"return 0\n";

/* Deletes the retry owner only when it is still the caller. */
static const char rg_tier_lua_disown[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

#define RG_TIER_DONE_MS		"10000"	/* how long a finished probe's lease says "done" */

/*
 * The token bucket of lib/limits.c in Redis: ARGV rate per minute, burst,
 * now in ms. Returns 0 when a token was taken, else the ms to wait. A
 * damaged hash is a full bucket, as in the local tier.
 */
static const char rg_tier_lua_bucket[] =
	"local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local cap = burst * 1000\n"
	"local h = redis.call('HMGET', KEYS[1], 't', 'u')\n"
	"local tok, upd = tonumber(h[1]), tonumber(h[2])\n"
	"if not tok or not upd or tok < 0 or tok > cap or upd > now + 60000 then\n"
	"  tok = cap upd = now end\n"
	"if now > upd then tok = math.min(cap, tok + math.floor((now - upd) * rate / 60)) end\n"
	"local wait = 0\n"
	"if tok >= 1000 then tok = tok - 1000 else\n"
	"  wait = 60000 if rate > 0 then wait = math.ceil((1000 - tok) * 60 / rate) end end\n"
	"redis.call('HSET', KEYS[1], 't', tok, 'u', now)\n"
	"local ttl = 1000\n"
	"if rate > 0 then ttl = math.floor((cap - tok) * 60 / rate) + 1000 end\n"
	"redis.call('PEXPIRE', KEYS[1], ttl)\n"
	"return wait\n";

/* Label values of rcptguard_shared_lookups_total. */
static const char *const rg_tier_lookup_results[] = { "hit", "miss", "bad", "failed" };
enum { RG_TIER_HIT, RG_TIER_MISS, RG_TIER_BAD, RG_TIER_FAILED };

struct rg_tier_redis {
	struct rg_redis		*tr_conn;
	struct rg_redis		*tr_sub;	/* the subscription to <prefix>changed */
	rg_tier_changed_fn	 tr_changed;
	void			*tr_changed_arg;
	char			 tr_channel[80];
	char			 tr_prefix[64];
	char			 tr_instance[128];
	struct rg_metric	*tr_m_lookups;
	struct rg_metric	*tr_m_bad;
};

/* A request waiting for Redis on behalf of a caller. */
struct rg_tier_call {
	struct rg_tier_redis	*c_tr;
	rg_tier_fetch_cb	 c_fetch;
	rg_tier_limit_cb	 c_limit;
	void			*c_arg;
	struct rg_tier_req	*c_req;		/* the caller's handle, cleared at the end */
};

static void rg_tier_call_end(struct rg_tier_call *c);

static struct rg_tier_redis *
rg_tier_redis_of(struct rg_tier *t)
{
	return t->t_impl;
}

/* rg_tier_key - prefix, kind and name; -1 when it does not fit. */
static int
rg_tier_key(const struct rg_tier_redis *tr, char kind, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%c:%s", tr->tr_prefix, kind, name);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* rg_tier_set - SET key value PXAT expires (a record that has expired is deleted). */
static int
rg_tier_set(struct rg_tier_redis *tr, char kind, const char *name, const void *val, size_t len,
    int64_t expires_at)
{
	char key[RG_TIER_KEY_MAX], at[32];
	const char *argv[5] = { "SET", key, val, "PXAT", at };
	size_t lens[5] = { 3, 0, len, 4, 0 };
	int n;

	if (len == 0 || (n = rg_tier_key(tr, kind, name, key, sizeof(key))) < 0)
		return RG_CACHE_EINVAL;
	lens[1] = (size_t)n;
	if (expires_at <= rg_clock_now()) {
		argv[0] = "DEL";
		lens[0] = 3;
		return rg_redis_send(tr->tr_conn, 0, NULL, NULL, 2, argv, lens, NULL) == 0 ?
		    RG_CACHE_OK : RG_CACHE_EIO;
	}
	lens[4] = (size_t)snprintf(at, sizeof(at), "%" PRId64, expires_at * 1000);
	return rg_redis_send(tr->tr_conn, 0, NULL, NULL, 5, argv, lens, NULL) == 0 ? RG_CACHE_OK :
	    RG_CACHE_EIO;
}

static int
rg_tier_redis_get(struct rg_tier *t, const char *key, struct rg_verdict *v)
{
	(void)t;
	(void)key;
	(void)v;
	return RG_CACHE_NOTFOUND;	/* never blocks: rg_tier_redis_fetch asks */
}

/*
 * rg_tier_redis_put - a verdict for the fleet. An unknown one (a timeout, a
 * DNS failure, greylisting, a block of this host's address) tells of this
 * host's view, not of the mailbox: it stays local.
 */
static int
rg_tier_redis_put(struct rg_tier *t, const char *key, const struct rg_verdict *v)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	size_t len;

	if (v->v_class == RG_CLASS_UNKNOWN)
		return RG_CACHE_OK;
	len = rg_record_verdict_encode(v, buf, sizeof(buf));
	return rg_tier_set(rg_tier_redis_of(t), 'v', key, buf, len, v->v_expires_at);
}

static int
rg_tier_redis_del(struct rg_tier *t, const char *key)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char k[RG_TIER_KEY_MAX];
	const char *argv[2] = { "DEL", k };
	size_t lens[2] = { 3, 0 };
	int n;

	if ((n = rg_tier_key(tr, 'v', key, k, sizeof(k))) < 0)
		return RG_CACHE_EINVAL;
	lens[1] = (size_t)n;
	return rg_redis_send(tr->tr_conn, 0, NULL, NULL, 2, argv, lens, NULL) == 0 ? RG_CACHE_OK :
	    RG_CACHE_EIO;
}

static int
rg_tier_redis_foreach(struct rg_tier *t, rg_tier_visit_fn fn, void *arg)
{
	(void)t;
	(void)fn;
	(void)arg;
	return RG_CACHE_OK;	/* listing is the local tier's */
}

static int
rg_tier_redis_domain_get(struct rg_tier *t, const char *domain, struct rg_domain_record *d)
{
	(void)t;
	(void)domain;
	(void)d;
	return RG_CACHE_NOTFOUND;
}

static int
rg_tier_redis_domain_put(struct rg_tier *t, const char *domain, const struct rg_domain_record *d)
{
	unsigned char buf[RG_RECORD_DOMAIN_LEN];
	size_t len = rg_record_domain_encode(d, buf, sizeof(buf));
	int64_t expires_at = 0;

	if (len == 0 || rg_record_expires(buf, len, &expires_at) < 0)
		return RG_CACHE_EINVAL;
	return rg_tier_set(rg_tier_redis_of(t), 'd', domain, buf, len, expires_at);
}

/* MX data is not shared: each host asks its own resolver. */
static int
rg_tier_redis_mx_get(struct rg_tier *t, const char *domain, int64_t now, struct rg_mx_result *mx)
{
	(void)t;
	(void)domain;
	(void)now;
	(void)mx;
	return RG_CACHE_NOTFOUND;
}

static int
rg_tier_redis_mx_put(struct rg_tier *t, const char *domain, const struct rg_mx_result *mx,
    int64_t expires_at)
{
	(void)t;
	(void)domain;
	(void)mx;
	(void)expires_at;
	return RG_CACHE_OK;
}

static void
rg_tier_redis_free(struct rg_tier *t)
{
	struct rg_tier_redis *tr;

	if (t == NULL)
		return;
	tr = rg_tier_redis_of(t);
	rg_redis_free(tr->tr_conn);
	rg_redis_free(tr->tr_sub);
	free(tr);
	free(t);
}

/*
 * The synchronous limit operations are left to the local tier: the
 * store asks the shared tier's through the asynchronous calls below.
 */
static const struct rg_tier_ops rg_tier_redis_ops = {
	.t_name = "redis",
	.t_get = rg_tier_redis_get,
	.t_put = rg_tier_redis_put,
	.t_del = rg_tier_redis_del,
	.t_foreach = rg_tier_redis_foreach,
	.t_domain_get = rg_tier_redis_domain_get,
	.t_domain_put = rg_tier_redis_domain_put,
	.t_mx_get = rg_tier_redis_mx_get,
	.t_mx_put = rg_tier_redis_mx_put,
	.t_free = rg_tier_redis_free,
};

/*
 * rg_tier_on_changed - an announcement, "<instance> <key>": the store
 * drops its local copy, unless this instance made the change.
 */
static void
rg_tier_on_changed(const char *payload, size_t len, void *arg)
{
	struct rg_tier_redis *tr = arg;
	char key[RG_CACHE_KEY_MAX + 1];
	size_t ilen = strlen(tr->tr_instance), klen;

	if (len > ilen + 1 && memcmp(payload, tr->tr_instance, ilen) == 0 && payload[ilen] == ' ')
		return;	/* our own */
	{
		const char *sp = memrchr(payload, ' ', len);
		if (sp == NULL)
			return;
		klen = len - (size_t)(sp + 1 - payload);
		payload = sp + 1;
	}
	/* Only what could be a key of ours: printable, no space, not too long. */
	if (klen == 0 || klen > RG_CACHE_KEY_MAX)
		return;
	for (size_t i = 0; i < klen; i++)
		if ((unsigned char)payload[i] <= ' ' || (unsigned char)payload[i] >= 0x7f)
			return;
	memcpy(key, payload, klen);
	key[klen] = '\0';
	tr->tr_changed(key, tr->tr_changed_arg);
}

struct rg_tier *
rg_tier_redis_new(struct event_base *base, const struct rg_config *cfg, rg_tier_changed_fn changed,
    void *arg, char *err, size_t errsize)
{
	struct rg_tier *t = calloc(1, sizeof(*t));
	struct rg_tier_redis *tr = calloc(1, sizeof(*tr));
	struct rg_metrics *m = rg_metrics_process();
	const struct rg_metric_label res = { "result", rg_tier_lookup_results,
	    (int)RG_ARRAY_LEN(rg_tier_lookup_results) };

	if (t == NULL || tr == NULL) {
		free(t);
		free(tr);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	rg_strlcpy(tr->tr_prefix, cfg->redis_key_prefix, sizeof(tr->tr_prefix));
	if (cfg->redis_instance[0] != '\0')
		rg_strlcpy(tr->tr_instance, cfg->redis_instance, sizeof(tr->tr_instance));
	else if (gethostname(tr->tr_instance, sizeof(tr->tr_instance) - 1) != 0)
		rg_strlcpy(tr->tr_instance, "localhost", sizeof(tr->tr_instance));
	tr->tr_m_lookups = rg_metrics_counter(m, "rcptguard_shared_lookups_total",
	    "Local misses asked of the fleet's shared tier, by result (bad: a record that was "
	    "damaged, foreign or of an unknown version, refused).", &res, NULL);
	tr->tr_changed = changed;
	tr->tr_changed_arg = arg;
	snprintf(tr->tr_channel, sizeof(tr->tr_channel), "%schanged", tr->tr_prefix);
	/* The subscription first: the gauge of rcptguard_redis_up stays the main connection's. */
	if (changed != NULL) {
		if ((tr->tr_sub = rg_redis_new(base, cfg, err, errsize)) == NULL) {
			free(t);
			free(tr);
			return NULL;
		}
		rg_redis_on_message(tr->tr_sub, tr->tr_channel, rg_tier_on_changed, tr);
	}
	if ((tr->tr_conn = rg_redis_new(base, cfg, err, errsize)) == NULL) {
		rg_redis_free(tr->tr_sub);
		free(t);
		free(tr);
		return NULL;
	}
	t->t_ops = &rg_tier_redis_ops;
	t->t_impl = tr;
	return t;
}

void
rg_tier_redis_announce(struct rg_tier *t, const char *key)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char msg[128 + 1 + RG_CACHE_KEY_MAX + 1];
	int n = snprintf(msg, sizeof(msg), "%s %s", tr->tr_instance, key);
	const char *argv[3] = { "PUBLISH", tr->tr_channel, msg };
	const size_t lens[3] = { 7, strlen(tr->tr_channel), n > 0 ? (size_t)n : 0 };

	if (n > 0 && (size_t)n < sizeof(msg))
		(void)rg_redis_send(tr->tr_conn, 0, NULL, NULL, 3, argv, lens, NULL);
}

int
rg_tier_redis_up(struct rg_tier *t)
{
	return rg_redis_up(rg_tier_redis_of(t)->tr_conn);
}

void
rg_tier_redis_flush(struct rg_tier *t, int64_t timeout_ms)
{
	rg_redis_flush(rg_tier_redis_of(t)->tr_conn, timeout_ms);
}

/* rg_tier_bulk - element i of an array reply as a string, or NULL (nil, other types). */
static const redisReply *
rg_tier_bulk(const redisReply *r, size_t i)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return NULL;
	return r->element[i];
}

void
rg_tier_redis_decode_fetch(const struct redisReply *reply, const char *instance,
    struct rg_tier_fetch *f)
{
	const redisReply *e;

	memset(f, 0, sizeof(*f));
	f->tf_verdict = f->tf_domain = RG_CACHE_NOTFOUND;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
		f->tf_verdict = f->tf_domain = RG_CACHE_EIO;
		return;
	}
	if ((e = rg_tier_bulk(reply, 0)) != NULL)
		f->tf_verdict = rg_record_verdict_decode(e->str, e->len, &f->tf_v) == RG_RECORD_OK ?
		    RG_CACHE_OK : RG_CACHE_BADRECORD;
	else if (reply->element[0]->type != REDIS_REPLY_NIL)
		f->tf_verdict = RG_CACHE_BADRECORD;
	if ((e = rg_tier_bulk(reply, 1)) != NULL)
		f->tf_domain = rg_record_domain_decode(e->str, e->len, &f->tf_d) == RG_RECORD_OK ?
		    RG_CACHE_OK : RG_CACHE_BADRECORD;
	if ((e = rg_tier_bulk(reply, 2)) != NULL)
		f->tf_retry_other = e->len != strlen(instance) || memcmp(e->str, instance, e->len) != 0;
}

/* rg_tier_on_fetch - the MGET of a fetch: decode what came, count it, answer. */
static void
rg_tier_on_fetch(enum rg_redis_status st, const redisReply *reply, void *arg)
{
	struct rg_tier_call *c = arg;
	struct rg_tier_redis *tr = c->c_tr;
	struct rg_tier_fetch f;

	rg_tier_call_end(c);
	rg_tier_redis_decode_fetch(st == RG_REDIS_OK ? reply : NULL, tr->tr_instance, &f);
	if (f.tf_verdict == RG_CACHE_EIO)
		rg_metric_inc(tr->tr_m_lookups, RG_TIER_FAILED, 0);
	else
		rg_metric_inc(tr->tr_m_lookups, f.tf_verdict == RG_CACHE_OK ? RG_TIER_HIT :
		    f.tf_verdict == RG_CACHE_BADRECORD ? RG_TIER_BAD : RG_TIER_MISS, 0);
	if (f.tf_domain == RG_CACHE_BADRECORD)
		rg_metric_inc(tr->tr_m_lookups, RG_TIER_BAD, 0);
	c->c_fetch(&f, c->c_arg);
	free(c);
}

/* rg_tier_call_new - a call record, or NULL when out of memory. */
static struct rg_tier_call *
rg_tier_call_new(struct rg_tier_redis *tr, rg_tier_fetch_cb fcb, rg_tier_limit_cb lcb, void *arg)
{
	struct rg_tier_call *c = malloc(sizeof(*c));

	if (c != NULL) {
		c->c_tr = tr;
		c->c_fetch = fcb;
		c->c_limit = lcb;
		c->c_arg = arg;
		c->c_req = NULL;
	}
	return c;
}

/*
 * rg_tier_send - send with a call record as the callback's argument; -1
 * (the record freed) when it was not sent. A cancelled request leaks no
 * record: rg_tier_cancel frees it.
 */
static int
rg_tier_send(struct rg_tier_redis *tr, struct rg_tier_call *c, rg_redis_cb cb, int argc,
    const char **argv, const size_t *lens, struct rg_tier_req *reqp)
{
	struct rg_redis_req *q;

	if (c == NULL)
		return -1;
	if (rg_redis_send(tr->tr_conn, 0, cb, c, argc, argv, lens, &q) < 0) {
		free(c);
		return -1;
	}
	if (reqp != NULL) {
		reqp->rq_q = q;
		reqp->rq_call = c;
		c->c_req = reqp;
	}
	return 0;
}

void
rg_tier_cancel(struct rg_tier_req *req)
{
	if (req == NULL || req->rq_q == NULL)
		return;
	rg_redis_cancel(req->rq_q);
	free(req->rq_call);
	req->rq_q = NULL;
	req->rq_call = NULL;
}

int
rg_tier_redis_fetch(struct rg_tier *t, const char *address, const char *domain,
    rg_tier_fetch_cb cb, void *arg, struct rg_tier_req *req)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char kv[RG_TIER_KEY_MAX], kd[RG_TIER_KEY_MAX], kr[RG_TIER_KEY_MAX];
	const char *argv[4] = { "MGET", kv, kd, kr };
	size_t lens[4] = { 4, 0, 0, 0 };
	int a, b, c;

	if ((a = rg_tier_key(tr, 'v', address, kv, sizeof(kv))) < 0 ||
	    (b = rg_tier_key(tr, 'd', domain, kd, sizeof(kd))) < 0 ||
	    (c = rg_tier_key(tr, 'r', address, kr, sizeof(kr))) < 0)
		return -1;
	lens[1] = (size_t)a;
	lens[2] = (size_t)b;
	lens[3] = (size_t)c;
	return rg_tier_send(tr, rg_tier_call_new(tr, cb, NULL, arg), rg_tier_on_fetch, 4, argv, lens,
	    req);
}

/* rg_tier_call_end - the caller's handle is done with before its callback runs. */
static void
rg_tier_call_end(struct rg_tier_call *c)
{
	if (c->c_req != NULL) {
		c->c_req->rq_q = NULL;
		c->c_req->rq_call = NULL;
	}
}

/* rg_tier_on_lease - the lease script's reply: taken, or held (a lease or a retry owner). */
static void
rg_tier_on_lease(enum rg_redis_status st, const redisReply *reply, void *arg)
{
	struct rg_tier_call *c = arg;
	enum rg_limit_status ls = RG_LIMIT_FAILED;

	rg_tier_call_end(c);
	if (st == RG_REDIS_OK && reply->type == REDIS_REPLY_INTEGER)
		ls = reply->integer == 1 ? RG_LIMIT_OK : reply->integer == 0 ||
		    reply->integer == 2 ? RG_LIMIT_HELD : RG_LIMIT_FAILED;
	c->c_limit(ls, 0, c->c_arg);
	free(c);
}

/* rg_tier_owner - "<instance>:<token>", the value of a lease. */
static int
rg_tier_owner(const struct rg_tier_redis *tr, uint64_t token, char *buf, size_t size)
{
	return snprintf(buf, size, "%s:%016" PRIx64, tr->tr_instance, token);
}

int
rg_tier_redis_lease(struct rg_tier *t, const char *address, int64_t ttl, uint64_t token,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char kl[RG_TIER_KEY_MAX], kr[RG_TIER_KEY_MAX], val[160], px[24];
	const char *argv[8] = { "EVAL", rg_tier_lua_lease, "2", kl, kr, val, px, tr->tr_instance };
	size_t lens[8] = { 4, sizeof(rg_tier_lua_lease) - 1, 1, 0, 0, 0, 0,
	    strlen(tr->tr_instance) };
	int a, b;

	if ((a = rg_tier_key(tr, 'l', address, kl, sizeof(kl))) < 0 ||
	    (b = rg_tier_key(tr, 'r', address, kr, sizeof(kr))) < 0)
		return -1;
	lens[3] = (size_t)a;
	lens[4] = (size_t)b;
	lens[5] = (size_t)rg_tier_owner(tr, token, val, sizeof(val));
	lens[6] = (size_t)snprintf(px, sizeof(px), "%" PRId64, ttl * 1000);
	return rg_tier_send(tr, rg_tier_call_new(tr, NULL, cb, arg), rg_tier_on_lease, 8, argv, lens,
	    req);
}

/* rg_tier_drop - EVAL a compare-and-release script on key kind:name with value val. */
static void
rg_tier_drop(struct rg_tier_redis *tr, const char *script, size_t slen, char kind,
    const char *name, const char *val, size_t vlen)
{
	char k[RG_TIER_KEY_MAX];
	const char *argv[6] = { "EVAL", script, "1", k, val, RG_TIER_DONE_MS };
	size_t lens[6] = { 4, slen, 1, 0, vlen, sizeof(RG_TIER_DONE_MS) - 1 };
	int n;

	if ((n = rg_tier_key(tr, kind, name, k, sizeof(k))) < 0)
		return;
	lens[3] = (size_t)n;
	(void)rg_redis_send(tr->tr_conn, 0, NULL, NULL, 6, argv, lens, NULL);
}

void
rg_tier_redis_unlease(struct rg_tier *t, const char *address, uint64_t token)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char val[160];
	int n = rg_tier_owner(tr, token, val, sizeof(val));

	rg_tier_drop(tr, rg_tier_lua_unlease, sizeof(rg_tier_lua_unlease) - 1, 'l', address, val,
	    (size_t)n);
}

void
rg_tier_redis_retry_own(struct rg_tier *t, const char *address, int64_t expires_at)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);

	(void)rg_tier_set(tr, 'r', address, tr->tr_instance, strlen(tr->tr_instance), expires_at);
}

void
rg_tier_redis_retry_disown(struct rg_tier *t, const char *address)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);

	rg_tier_drop(tr, rg_tier_lua_disown, sizeof(rg_tier_lua_disown) - 1, 'r', address,
	    tr->tr_instance, strlen(tr->tr_instance));
}

static void
rg_tier_on_bucket(enum rg_redis_status st, const redisReply *reply, void *arg)
{
	struct rg_tier_call *c = arg;

	rg_tier_call_end(c);
	if (st == RG_REDIS_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0 &&
	    reply->integer <= 3600000)
		c->c_limit(reply->integer == 0 ? RG_LIMIT_OK : RG_LIMIT_EMPTY, reply->integer,
		    c->c_arg);
	else
		c->c_limit(RG_LIMIT_FAILED, 0, c->c_arg);
	free(c);
}

int
rg_tier_redis_bucket(struct rg_tier *t, const char *domain, int64_t rate_per_min, int64_t burst,
    rg_tier_limit_cb cb, void *arg, struct rg_tier_req *req)
{
	struct rg_tier_redis *tr = rg_tier_redis_of(t);
	char k[RG_TIER_KEY_MAX], rate[24], cap[24], now[24];
	const char *argv[7] = { "EVAL", rg_tier_lua_bucket, "1", k, rate, cap, now };
	size_t lens[7] = { 4, sizeof(rg_tier_lua_bucket) - 1, 1, 0, 0, 0, 0 };
	int n;

	if ((n = rg_tier_key(tr, 'b', domain, k, sizeof(k))) < 0)
		return -1;
	lens[3] = (size_t)n;
	lens[4] = (size_t)snprintf(rate, sizeof(rate), "%" PRId64, rate_per_min);
	lens[5] = (size_t)snprintf(cap, sizeof(cap), "%" PRId64, burst);
	lens[6] = (size_t)snprintf(now, sizeof(now), "%" PRId64, rg_clock_ms());
	return rg_tier_send(tr, rg_tier_call_new(tr, NULL, cb, arg), rg_tier_on_bucket, 7, argv,
	    lens, req);
}
