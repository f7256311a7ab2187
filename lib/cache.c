/*
 * cache.c - the LMDB wrapper: open, typed get/put, leases, sweeping, and
 * recovery from the conditions a long-running mail daemon meets.
 *
 * DESCRIPTION
 *   Read transactions are pooled: a finished reader is reset, not aborted,
 *   and renewed by the next lookup (mdb_txn_reset/mdb_txn_renew), so a cache
 *   hit costs no reader-slot allocation. The environment is opened MDB_NOTLS
 *   so a pooled reader may serve any thread.
 *
 *   Every write goes through rg_cache_write(), the one place that handles
 *     MDB_MAP_RESIZED  another process grew the map: adopt its size, retry;
 *     MDB_READERS_FULL readers of dead processes: mdb_reader_check, retry;
 *     MDB_MAP_FULL     grow the map (doubling) up to map_size_max minus a
 *                      reserve; at the top, open the reserve, evict expired
 *                      and then the oldest verdicts, close it, retry.
 *   The reserve exists because deleting in LMDB copies pages too: a map that
 *   is completely full could not even be emptied.
 *
 *   A remap needs every transaction of this process closed, so each
 *   transaction holds c_maplock for reading and a remap takes it for writing.
 *
 *   A handle may be shared by threads for get, put, del, leases and stats;
 *   sweeping and eviction keep their position in the handle and are meant
 *   for one thread (the daemon's event loop).
 *
 * DURABILITY
 *   sync_mode=periodic opens the file MDB_NOSYNC and flushes it at most
 *   sync_interval after a write, and at close. A process crash loses nothing
 *   (committed pages are in the kernel's page cache). A power loss or kernel
 *   crash can lose the writes of the last interval and, in the worst case,
 *   damage the file; opening it then reports RG_CACHE_ECORRUPT, the daemons
 *   follow fail_mode, and `rcptguard cache purge --all --force` recreates it.
 *   Everything in the cache can be probed again. sync_mode=commit flushes
 *   each write transaction before it returns.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "rcptguard/cache.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

#define RG_CACHE_POOL		16		/* pooled read transactions */
#define RG_CACHE_WRITE_TRIES	8
#define RG_CACHE_HDR		12		/* common record header */
#define RG_CACHE_PAGE		4096

/*
 * This process's pid, set at open: a lease of our own is alive without a
 * kill(2) per check (a child that forks must open its own handle anyway).
 */
static pid_t rg_cache_self_pid;

static const char *const rg_cache_db_names[RG_DB_COUNT] = {
	[RG_DB_VERDICTS] = "verdicts",
	[RG_DB_DOMAINS] = "domains",
	[RG_DB_LEASES] = "leases",
	[RG_DB_LIMITS] = "limits",
};

struct rg_cache_sweep_pos {
	char		sp_key[RG_CACHE_KEY_MAX + 1];
	size_t		sp_keylen;
	int		sp_started;
};

struct rg_cache {
	MDB_env			*c_env;
	MDB_dbi			 c_dbi[RG_DB_COUNT];
	int			 c_have_dbi;		/* 0 only for a read-only open of an empty file */
	unsigned		 c_flags;
	pthread_rwlock_t	 c_maplock;
	pthread_mutex_t		 c_poollock;
	MDB_txn			*c_pool[RG_CACHE_POOL];
	int			 c_npool;
	size_t			 c_map_max;
	size_t			 c_reserve;
	int			 c_sync_periodic;
	int64_t			 c_sync_interval;
	int64_t			 c_last_sync;		/* monotonic seconds */
	unsigned		 c_sweep_batch;
	struct rg_cache_sweep_pos c_sweep[RG_DB_COUNT];
	int64_t			 c_ttl[RG_CLASS_COUNT];
	int64_t			 c_refresh[RG_CLASS_COUNT];
	int64_t			 c_reason_ttl[RG_REASON_COUNT];
	int64_t			 c_reason_refresh[RG_REASON_COUNT];
	int			 c_evicting;		/* make_room is running: no re-entry */
	uint64_t		 c_grows;
	uint64_t		 c_evictions;
	uint64_t		 c_evicted;
	uint64_t		 c_lease_seq;
	int			 c_fault_rc;		/* rg_cache_fault: the LMDB code to inject */
	unsigned		 c_fault_kinds;		/* into read, write transactions or both */
	int			 c_fault_n;		/* transactions still to fail with it */
	uint64_t		 c_writes;		/* write transactions begun (atomic) */
	char			 c_path[RG_CONFIG_PATH_MAX];
};

/* rg_cache_fault_take - whether the next transaction fails by injection, and how. */
static int
rg_cache_fault_take(struct rg_cache *c, unsigned kind, int *rc)
{
	int n = __atomic_load_n(&c->c_fault_n, __ATOMIC_RELAXED);

	if (!(c->c_fault_kinds & kind))
		return 0;
	while (n > 0) {
		if (__atomic_compare_exchange_n(&c->c_fault_n, &n, n - 1, 0, __ATOMIC_RELAXED,
		    __ATOMIC_RELAXED)) {
			*rc = c->c_fault_rc;
			return 1;
		}
	}
	return 0;
}

void
rg_cache_fault(struct rg_cache *c, unsigned kinds, int mdb_rc, int count)
{
	c->c_fault_rc = mdb_rc;
	c->c_fault_kinds = kinds;
	__atomic_store_n(&c->c_fault_n, count, __ATOMIC_RELAXED);
}

const char *
rg_cache_strerror(int status)
{
	switch (status) {
	case RG_CACHE_OK: return "ok";
	case RG_CACHE_NOTFOUND: return "not found";
	case RG_CACHE_BADRECORD: return "record of another format version or damaged";
	case RG_CACHE_EMISSING: return "cache missing";
	case RG_CACHE_EACCESS: return "cache not accessible";
	case RG_CACHE_ECORRUPT: return "cache corrupt";
	case RG_CACHE_EFULL: return "cache full";
	case RG_CACHE_EBUSY: return "cache reader slots exhausted";
	case RG_CACHE_EIO: return "cache I/O error";
	case RG_CACHE_EINVAL: return "invalid cache request";
	}
	return "unknown cache status";
}

const char *
rg_cache_db_name(enum rg_cache_db db)
{
	return (unsigned)db < RG_DB_COUNT ? rg_cache_db_names[db] : "?";
}

/* rg_cache_status - map an LMDB or errno code to an rg_cache_status. */
static int
rg_cache_status(int rc)
{
	switch (rc) {
	case 0: return RG_CACHE_OK;
	case MDB_NOTFOUND: return RG_CACHE_NOTFOUND;
	case ENOENT: case ENOTDIR: return RG_CACHE_EMISSING;
	case EACCES: case EPERM: case EROFS: return RG_CACHE_EACCESS;
	case MDB_INVALID: case MDB_VERSION_MISMATCH: case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND: case MDB_INCOMPATIBLE: case MDB_BAD_DBI:
		return RG_CACHE_ECORRUPT;
	case MDB_MAP_FULL: return RG_CACHE_EFULL;
	case MDB_READERS_FULL: return RG_CACHE_EBUSY;
	case MDB_BAD_VALSIZE: case EINVAL: return RG_CACHE_EINVAL;
	}
	return RG_CACHE_EIO;
}

static int64_t
rg_cache_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* rg_cache_hdr_expires - expiry from the common header; -1 when it has none. */
static int
rg_cache_hdr_expires(const MDB_val *v, int64_t *exp)
{
	const unsigned char *p = v->mv_data;

	if (v->mv_size < RG_CACHE_HDR || p[0] != 'r' || p[1] != 'g' || p[3] == 0)
		return -1;
	*exp = rg_get_le64(p + 4);
	return 0;
}

/* rg_cache_pool_drain - abort pooled readers; caller holds c_maplock for writing. */
static void
rg_cache_pool_drain(struct rg_cache *c)
{
	pthread_mutex_lock(&c->c_poollock);
	while (c->c_npool > 0)
		mdb_txn_abort(c->c_pool[--c->c_npool]);
	pthread_mutex_unlock(&c->c_poollock);
}

/* rg_cache_set_mapsize - remap with every transaction of this process closed. */
static int
rg_cache_set_mapsize(struct rg_cache *c, size_t size)
{
	int rc;

	pthread_rwlock_wrlock(&c->c_maplock);
	rg_cache_pool_drain(c);
	rc = mdb_env_set_mapsize(c->c_env, size);
	pthread_rwlock_unlock(&c->c_maplock);
	return rc;
}

/* rg_cache_reader_check - clear reader slots of dead processes; 1 if any were freed. */
static int
rg_cache_reader_check(struct rg_cache *c)
{
	int dead = 0;

	if (mdb_reader_check(c->c_env, &dead) != 0)
		return 0;
	if (dead > 0)
		rg_log_warn("cache: cleared %d reader slots of dead processes", dead);
	return dead > 0;
}

/* rg_cache_rtxn_begin - a read transaction from the pool; holds c_maplock on success. */
static int
rg_cache_rtxn_begin(struct rg_cache *c, MDB_txn **out)
{
	int rc = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		MDB_txn *t = NULL;

		pthread_rwlock_rdlock(&c->c_maplock);
		pthread_mutex_lock(&c->c_poollock);
		if (c->c_npool > 0)
			t = c->c_pool[--c->c_npool];
		pthread_mutex_unlock(&c->c_poollock);
		if (rg_cache_fault_take(c, RG_CACHE_FAULT_READ, &rc)) {
			if (t != NULL)
				mdb_txn_abort(t);
			t = NULL;
		} else if (t != NULL) {
			if ((rc = mdb_txn_renew(t)) != 0)
				mdb_txn_abort(t);
		} else {
			rc = mdb_txn_begin(c->c_env, NULL, MDB_RDONLY, &t);
		}
		if (rc == 0) {
			*out = t;
			return RG_CACHE_OK;
		}
		pthread_rwlock_unlock(&c->c_maplock);
		if (rc == MDB_MAP_RESIZED) {
			rg_cache_set_mapsize(c, 0);
			continue;
		}
		if (rc == MDB_READERS_FULL && rg_cache_reader_check(c))
			continue;
		break;
	}
	return rg_cache_status(rc);
}

/* rg_cache_rtxn_end - reset the reader and return it to the pool. */
static void
rg_cache_rtxn_end(struct rg_cache *c, MDB_txn *t)
{
	mdb_txn_reset(t);
	pthread_mutex_lock(&c->c_poollock);
	if (c->c_npool < RG_CACHE_POOL) {
		c->c_pool[c->c_npool++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&c->c_poollock);
	if (t != NULL)
		mdb_txn_abort(t);
	pthread_rwlock_unlock(&c->c_maplock);
}

static void
rg_cache_maybe_sync(struct rg_cache *c)
{
	int64_t now;

	if (!c->c_sync_periodic)
		return;
	now = rg_cache_mono();
	if (now - c->c_last_sync >= c->c_sync_interval) {
		c->c_last_sync = now;
		mdb_env_sync(c->c_env, 1);
	}
}

/*
 * A write body runs inside a write transaction and returns an LMDB code;
 * MDB_NOTFOUND aborts the transaction and becomes RG_CACHE_NOTFOUND.
 */
typedef int (*rg_cache_write_fn)(struct rg_cache *c, MDB_txn *txn, void *arg);

static int rg_cache_make_room(struct rg_cache *c);

static int
rg_cache_write(struct rg_cache *c, rg_cache_write_fn fn, void *arg)
{
	int rc = 0;
	int full_tries = 0;

	if (c->c_flags & RG_CACHE_O_RDONLY)
		return RG_CACHE_EACCESS;
	for (int attempt = 0; attempt < RG_CACHE_WRITE_TRIES; attempt++) {
		MDB_txn *txn = NULL;

		pthread_rwlock_rdlock(&c->c_maplock);
		__atomic_add_fetch(&c->c_writes, 1, __ATOMIC_RELAXED);
		if (!rg_cache_fault_take(c, RG_CACHE_FAULT_WRITE, &rc))
			rc = mdb_txn_begin(c->c_env, NULL, 0, &txn);
		if (rc == 0) {
			rc = fn(c, txn, arg);
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		pthread_rwlock_unlock(&c->c_maplock);

		if (rc == 0) {
			rg_cache_maybe_sync(c);
			return RG_CACHE_OK;
		}
		if (rc == MDB_MAP_RESIZED) {
			rg_cache_set_mapsize(c, 0);
			continue;
		}
		if (rc == MDB_READERS_FULL && rg_cache_reader_check(c))
			continue;
		if (rc == MDB_MAP_FULL && full_tries++ < 3 && rg_cache_make_room(c) == 0)
			continue;
		break;
	}
	if (rc != MDB_NOTFOUND)
		rg_log_debug("cache: write failed: %s", mdb_strerror(rc));	/* callers report it */
	return rg_cache_status(rc);
}

/*
 * Batched walks: visit at most one batch of a database from a saved
 * position, collect the keys a predicate selects, delete them, commit.
 */
typedef int (*rg_cache_pred_fn)(const MDB_val *k, const MDB_val *v, void *arg);

struct rg_cache_walk {
	enum rg_cache_db	 w_db;
	rg_cache_pred_fn	 w_pred;
	void			*w_arg;
	struct rg_cache_sweep_pos *w_pos;
	unsigned		 w_batch;
	uint64_t		 w_limit;	/* stop after this many deletions; 0: none */
	uint64_t		 w_removed;
	int			 w_done;
	char			(*w_keys)[RG_CACHE_KEY_MAX + 1];
	size_t			*w_keylens;
};

static int
rg_cache_walk_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_walk *w = arg;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned seen = 0, nkeys = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, c->c_dbi[w->w_db], &cur)) != 0)
		return rc;
	if (w->w_pos->sp_started) {
		k.mv_data = w->w_pos->sp_key;
		k.mv_size = w->w_pos->sp_keylen;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	while (rc == 0 && seen < w->w_batch) {
		seen++;
		if (w->w_pred(&k, &v, w->w_arg) && k.mv_size <= RG_CACHE_KEY_MAX &&
		    (w->w_limit == 0 || w->w_removed + nkeys < w->w_limit)) {
			memcpy(w->w_keys[nkeys], k.mv_data, k.mv_size);
			w->w_keylens[nkeys++] = k.mv_size;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == 0 && k.mv_size <= RG_CACHE_KEY_MAX) {
		/* Resume at the first key this batch did not examine. */
		memcpy(w->w_pos->sp_key, k.mv_data, k.mv_size);
		w->w_pos->sp_keylen = k.mv_size;
		w->w_pos->sp_started = 1;
		w->w_done = 0;
	} else if (rc == MDB_NOTFOUND || rc == 0) {
		w->w_pos->sp_started = 0;
		w->w_done = 1;
		rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < nkeys; i++) {
		k.mv_data = w->w_keys[i];
		k.mv_size = w->w_keylens[i];
		rc = mdb_del(txn, c->c_dbi[w->w_db], &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	w->w_removed += nkeys;
	return 0;
}

/* rg_cache_walk_batch - one batch of w; the position survives between calls. */
static int
rg_cache_walk_batch(struct rg_cache *c, struct rg_cache_walk *w)
{
	struct rg_cache_sweep_pos saved = *w->w_pos;
	uint64_t removed = w->w_removed;
	int rc;

	w->w_keys = calloc(w->w_batch, sizeof(*w->w_keys));
	w->w_keylens = calloc(w->w_batch, sizeof(*w->w_keylens));
	if (w->w_keys == NULL || w->w_keylens == NULL) {
		free(w->w_keys);
		free(w->w_keylens);
		return RG_CACHE_EIO;
	}
	rc = rg_cache_write(c, rg_cache_walk_fn, w);
	if (rc != RG_CACHE_OK) {
		/* A failed transaction changed nothing: neither may our position. */
		*w->w_pos = saved;
		w->w_removed = removed;
	}
	free(w->w_keys);
	free(w->w_keylens);
	return rc;
}

/* rg_cache_pred_expired - expired by the common header, or a dead lease holder. */
static int
rg_cache_pred_expired(const MDB_val *k, const MDB_val *v, void *arg)
{
	const int64_t *now = arg;
	const unsigned char *p = v->mv_data;
	int64_t exp;

	(void)k;
	if (rg_cache_hdr_expires(v, &exp) < 0)
		return 1;	/* not one of ours: garbage */
	if (*now >= exp)
		return 1;
	if (p[2] == 'l' && v->mv_size >= RG_CACHE_HDR + 12) {
		pid_t pid = (pid_t)(p[12] | (p[13] << 8) | (p[14] << 16) | ((uint32_t)p[15] << 24));
		if (pid > 0 && pid != rg_cache_self_pid && kill(pid, 0) < 0 && errno == ESRCH)
			return 1;
	}
	return 0;
}

int
rg_cache_sweep(struct rg_cache *c, uint64_t *removed, int *wrapped)
{
	int64_t now = rg_clock_now();
	int all_done = 1;

	*removed = 0;
	for (int db = 0; db < RG_DB_COUNT; db++) {
		struct rg_cache_walk w = {
			.w_db = (enum rg_cache_db)db, .w_pred = rg_cache_pred_expired,
			.w_arg = &now, .w_pos = &c->c_sweep[db], .w_batch = c->c_sweep_batch,
		};
		int rc = rg_cache_walk_batch(c, &w);
		if (rc != RG_CACHE_OK)
			return rc;
		*removed += w.w_removed;
		all_done &= w.w_done;
	}
	if (wrapped != NULL)
		*wrapped = all_done;
	return RG_CACHE_OK;
}

/* Eviction of the oldest records, used only when the map is at its hard limit. */
struct rg_cache_oldest {
	enum rg_cache_db o_db;
	int64_t		*o_times;
	size_t		 o_n;
	size_t		 o_cap;
	int64_t		 o_threshold;
};

static int
rg_cache_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * rg_cache_age - how old a record is, for eviction: a verdict's checked_at;
 * for the other databases the expiry of the common header (what expires
 * first is worth least). 0 (oldest) when unreadable.
 */
static int64_t
rg_cache_age(enum rg_cache_db db, const MDB_val *v)
{
	struct rg_verdict vd;
	int64_t exp;

	if (db != RG_DB_VERDICTS)
		return rg_cache_hdr_expires(v, &exp) == 0 ? exp : 0;
	if (rg_verdict_decode(v->mv_data, v->mv_size, &vd) != RG_VERDICT_OK)
		return 0;
	return vd.v_checked_at;
}

static int
rg_cache_pred_older(const MDB_val *k, const MDB_val *v, void *arg)
{
	const struct rg_cache_oldest *o = arg;

	(void)k;
	return rg_cache_age(o->o_db, v) <= o->o_threshold;
}

/* rg_cache_evict_oldest - delete about target of the oldest records of db. */
static uint64_t
rg_cache_evict_oldest(struct rg_cache *c, enum rg_cache_db db, uint64_t target)
{
	struct rg_cache_oldest o = { .o_db = db };
	struct rg_cache_sweep_pos pos = { .sp_started = 0 };
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t removed = 0;
	int rc;

	if (rg_cache_rtxn_begin(c, &txn) != RG_CACHE_OK)
		return 0;
	if (mdb_cursor_open(txn, c->c_dbi[db], &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (o.o_n == o.o_cap) {
				size_t ncap = o.o_cap ? o.o_cap * 2 : 1024;
				int64_t *nt = realloc(o.o_times, ncap * sizeof(*nt));
				if (nt == NULL)
					break;
				o.o_times = nt;
				o.o_cap = ncap;
			}
			o.o_times[o.o_n++] = rg_cache_age(db, &v);
		}
		mdb_cursor_close(cur);
	}
	rg_cache_rtxn_end(c, txn);
	if (o.o_n == 0) {
		free(o.o_times);
		return 0;
	}
	if (target > o.o_n)
		target = o.o_n;
	qsort(o.o_times, o.o_n, sizeof(*o.o_times), rg_cache_cmp64);
	o.o_threshold = o.o_times[target - 1];
	free(o.o_times);

	for (;;) {
		struct rg_cache_walk w = {
			.w_db = db, .w_pred = rg_cache_pred_older, .w_arg = &o,
			.w_pos = &pos, .w_batch = c->c_sweep_batch, .w_limit = target - removed,
		};
		if (rg_cache_walk_batch(c, &w) != RG_CACHE_OK)
			break;
		removed += w.w_removed;
		if (w.w_done || removed >= target)
			break;
	}
	return removed;
}

/*
 * rg_cache_make_room - answer MDB_MAP_FULL: grow towards the usable limit,
 * or, at it, evict with the reserve opened. 0 when a retry makes sense.
 */
static int
rg_cache_make_room(struct rg_cache *c)
{
	MDB_envinfo info;
	size_t cur, usable = c->c_map_max - c->c_reserve;
	uint64_t removed = 0, swept;
	struct rg_cache_stats st;

	mdb_env_info(c->c_env, &info);
	cur = info.me_mapsize;
	if (cur < usable) {
		size_t next = cur * 2;
		if (next > usable)
			next = usable;
		next -= next % RG_CACHE_PAGE;
		if (rg_cache_set_mapsize(c, next) != 0)
			return -1;
		c->c_grows++;
		rg_log_info("cache: map grown to %zu bytes", next);
		return 0;
	}

	/*
	 * At the hard limit: evict with the reserve available for the deletes.
	 * The eviction's own writes may fill the reserve; they must then fail
	 * rather than start another eviction inside this one.
	 */
	if (c->c_evicting)
		return -1;
	if (rg_cache_set_mapsize(c, c->c_map_max) != 0)
		return -1;
	c->c_evicting = 1;
	c->c_evictions++;
	for (int round = 0; round < 1000; round++) {
		int wrapped = 0;
		if (rg_cache_sweep(c, &swept, &wrapped) != RG_CACHE_OK)
			break;
		removed += swept;
		if (wrapped)
			break;
	}
	memset(&st, 0, sizeof(st));
	{
		MDB_txn *txn;
		MDB_stat ms;
		if (rg_cache_rtxn_begin(c, &txn) == RG_CACHE_OK) {
			for (int db = 0; db < RG_DB_COUNT; db++)
				if (mdb_stat(txn, c->c_dbi[db], &ms) == 0)
					st.cs_entries[db] = ms.ms_entries;
			rg_cache_rtxn_end(c, txn);
		}
	}
	/*
	 * Free an eighth of each database beyond what expiry gave back: domain
	 * records and token buckets grow with the domains seen as verdicts grow
	 * with the addresses. Live leases are never evicted: they are what keeps
	 * two processes from probing one address, and they end with their probe.
	 */
	for (int db = 0; db < RG_DB_COUNT; db++) {
		uint64_t want = st.cs_entries[db] / 8 + 16;
		if (db == RG_DB_LEASES || st.cs_entries[db] == 0)
			continue;
		if (removed < want)
			removed += rg_cache_evict_oldest(c, (enum rg_cache_db)db, want);
	}
	c->c_evicted += removed;
	rg_log_warn("cache: map at its limit of %zu bytes; evicted %llu records",
	    c->c_map_max, (unsigned long long)removed);
	/* Close the reserve again (LMDB keeps the map at least as large as its use). */
	rg_cache_set_mapsize(c, usable);
	c->c_evicting = 0;
	return removed > 0 ? 0 : -1;
}

struct rg_cache *
rg_cache_open(const struct rg_config *cfg, unsigned flags, int *status, char *err,
    size_t errsize)
{
	struct rg_cache *c;
	unsigned envflags = MDB_NOSUBDIR | MDB_NOTLS;
	struct stat sb;
	size_t map_size = (size_t)cfg->map_size;
	MDB_txn *txn = NULL;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		*status = RG_CACHE_EIO;
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pthread_rwlock_init(&c->c_maplock, NULL);
	pthread_mutex_init(&c->c_poollock, NULL);
	rg_cache_self_pid = getpid();
	c->c_flags = flags;
	c->c_map_max = (size_t)cfg->map_size_max;
	c->c_map_max -= c->c_map_max % RG_CACHE_PAGE;
	c->c_reserve = c->c_map_max / 16;
	if (c->c_reserve < 256 * 1024)
		c->c_reserve = 256 * 1024;
	c->c_reserve -= c->c_reserve % RG_CACHE_PAGE;
	c->c_sync_periodic = cfg->sync_mode == RG_SYNC_PERIODIC;
	c->c_sync_interval = cfg->sync_interval;
	c->c_last_sync = rg_cache_mono();
	c->c_sweep_batch = (unsigned)cfg->sweep_batch;
	memcpy(c->c_ttl, cfg->ttl, sizeof(c->c_ttl));
	memcpy(c->c_refresh, cfg->refresh, sizeof(c->c_refresh));
	memcpy(c->c_reason_ttl, cfg->reason_ttl, sizeof(c->c_reason_ttl));
	memcpy(c->c_reason_refresh, cfg->reason_refresh, sizeof(c->c_reason_refresh));

	if (rg_config_cache_path(cfg, c->c_path, sizeof(c->c_path)) < 0) {
		rc = ENAMETOOLONG;
		snprintf(err, errsize, "cache path too long");
		goto fail;
	}
	if (c->c_sync_periodic)
		envflags |= MDB_NOSYNC;
	if (flags & RG_CACHE_O_RDONLY)
		envflags |= MDB_RDONLY;

	/* Never open a file that is not there when we are told not to create it. */
	if (lstat(c->c_path, &sb) < 0) {
		if (errno != ENOENT || !(flags & RG_CACHE_O_CREATE) || (flags & RG_CACHE_O_RDONLY)) {
			rc = errno;
			snprintf(err, errsize, "%s: %s", c->c_path, strerror(rc));
			goto fail;
		}
	} else if (!S_ISREG(sb.st_mode)) {
		rc = MDB_INVALID;
		snprintf(err, errsize, "%s: not a regular file", c->c_path);
		goto fail;
	} else if ((size_t)sb.st_size > map_size) {
		/* Keep an existing map's size rather than shrink it at every start. */
		map_size = (size_t)sb.st_size;
	}
	if (map_size > c->c_map_max)
		map_size = c->c_map_max;
	map_size -= map_size % RG_CACHE_PAGE;

	if ((rc = mdb_env_create(&c->c_env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(c->c_env, RG_DB_COUNT)) != 0 ||
	    (rc = mdb_env_set_maxreaders(c->c_env, (unsigned)cfg->max_readers)) != 0 ||
	    (rc = mdb_env_set_mapsize(c->c_env, map_size)) != 0) {
		snprintf(err, errsize, "%s: %s", c->c_path, mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_open(c->c_env, c->c_path, envflags, 0640)) != 0) {
		snprintf(err, errsize, "%s: %s", c->c_path, mdb_strerror(rc));
		goto fail;
	}

	/* Open (or create) the named databases. */
	if (flags & RG_CACHE_O_RDONLY) {
		if ((rc = mdb_txn_begin(c->c_env, NULL, MDB_RDONLY, &txn)) != 0)
			goto fail_txn;
		for (int db = 0; db < RG_DB_COUNT; db++) {
			rc = mdb_dbi_open(txn, rg_cache_db_names[db], 0, &c->c_dbi[db]);
			if (rc == MDB_NOTFOUND) {
				/* A file that no writer has initialized yet: nothing to read. */
				rc = ENOENT;
				goto fail_txn;
			}
			if (rc != 0)
				goto fail_txn;
		}
		mdb_txn_abort(txn);
		txn = NULL;
	} else {
		if ((rc = mdb_txn_begin(c->c_env, NULL, 0, &txn)) != 0)
			goto fail_txn;
		for (int db = 0; db < RG_DB_COUNT; db++)
			if ((rc = mdb_dbi_open(txn, rg_cache_db_names[db], MDB_CREATE,
			    &c->c_dbi[db])) != 0)
				goto fail_txn;
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto fail_txn;
	}
	c->c_have_dbi = 1;
	rg_cache_reader_check(c);
	*status = RG_CACHE_OK;
	return c;

fail_txn:
	if (txn != NULL)
		mdb_txn_abort(txn);
	snprintf(err, errsize, "%s: %s", c->c_path, rc == ENOENT ?
	    "cache not initialized" : mdb_strerror(rc));
fail:
	*status = rg_cache_status(rc);
	if (*status == RG_CACHE_OK || *status == RG_CACHE_NOTFOUND)
		*status = RG_CACHE_EIO;
	if (c->c_env != NULL)
		mdb_env_close(c->c_env);
	pthread_rwlock_destroy(&c->c_maplock);
	pthread_mutex_destroy(&c->c_poollock);
	free(c);
	return NULL;
}

void
rg_cache_close(struct rg_cache *c)
{
	if (c == NULL)
		return;
	pthread_rwlock_wrlock(&c->c_maplock);
	rg_cache_pool_drain(c);
	if (c->c_sync_periodic && !(c->c_flags & RG_CACHE_O_RDONLY))
		mdb_env_sync(c->c_env, 1);
	mdb_env_close(c->c_env);
	pthread_rwlock_unlock(&c->c_maplock);
	pthread_rwlock_destroy(&c->c_maplock);
	pthread_mutex_destroy(&c->c_poollock);
	free(c);
}

uint64_t
rg_cache_writes(struct rg_cache *c)
{
	return __atomic_load_n(&c->c_writes, __ATOMIC_RELAXED);
}

int
rg_cache_check(struct rg_cache *c)
{
	char key[48];
	uint64_t token = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	rg_cache_rtxn_end(c, txn);
	snprintf(key, sizeof(key), "!check:%ld", (long)getpid());
	if ((rc = rg_cache_lease_acquire(c, key, 60, &token)) < 0)
		return rc;
	if (rc == RG_LEASE_WON && (rc = rg_cache_lease_release(c, key, token)) < 0)
		return rc;
	return RG_CACHE_OK;
}

int
rg_cache_sync(struct rg_cache *c)
{
	int rc = mdb_env_sync(c->c_env, 1);

	c->c_last_sync = rg_cache_mono();
	return rg_cache_status(rc);
}

static int
rg_cache_key(const char *key, MDB_val *k)
{
	size_t len = strlen(key);

	if (len == 0 || len > RG_CACHE_KEY_MAX)
		return RG_CACHE_EINVAL;
	k->mv_data = (void *)(uintptr_t)key;
	k->mv_size = len;
	return RG_CACHE_OK;
}

int
rg_cache_get(struct rg_cache *c, const char *key, struct rg_verdict *v,
    enum rg_verdict_state *state)
{
	MDB_txn *txn;
	MDB_val k, val;
	int rc;

	if ((rc = rg_cache_key(key, &k)) != RG_CACHE_OK)
		return rc;
	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	rc = mdb_get(txn, c->c_dbi[RG_DB_VERDICTS], &k, &val);
	if (rc == 0) {
		/* Decode while the snapshot is live: val points into the map. */
		rc = rg_verdict_decode(val.mv_data, val.mv_size, v) == RG_VERDICT_OK ?
		    RG_CACHE_OK : RG_CACHE_BADRECORD;
	} else {
		rc = rg_cache_status(rc);
	}
	rg_cache_rtxn_end(c, txn);
	if (rc == RG_CACHE_OK && state != NULL)
		*state = rg_verdict_state_at(v, rg_clock_now());
	return rc;
}

struct rg_cache_put_arg {
	MDB_val		 k;
	MDB_val		 v;
};

static int
rg_cache_put_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_put_arg *a = arg;

	return mdb_put(txn, c->c_dbi[RG_DB_VERDICTS], &a->k, &a->v, 0);
}

int
rg_cache_put(struct rg_cache *c, const char *key, const struct rg_verdict *v)
{
	unsigned char buf[RG_VERDICT_RECORD_MAX];
	struct rg_cache_put_arg a;
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	a.v.mv_data = buf;
	if ((a.v.mv_size = rg_verdict_encode(v, buf, sizeof(buf))) == 0)
		return RG_CACHE_EINVAL;
	return rg_cache_write(c, rg_cache_put_fn, &a);
}

static int
rg_cache_del_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_put_arg *a = arg;

	return mdb_del(txn, c->c_dbi[RG_DB_VERDICTS], &a->k, NULL);
}

int
rg_cache_del(struct rg_cache *c, const char *key)
{
	struct rg_cache_put_arg a;
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	return rg_cache_write(c, rg_cache_del_fn, &a);
}

void
rg_cache_stamp(const struct rg_cache *c, struct rg_verdict *v, int64_t ttl)
{
	int64_t t = c->c_ttl[v->v_class], r = c->c_refresh[v->v_class];
	int64_t now = rg_clock_now();

	if ((unsigned)v->v_reason < RG_REASON_COUNT) {
		if (c->c_reason_ttl[v->v_reason] >= 0)
			t = c->c_reason_ttl[v->v_reason];
		if (c->c_reason_refresh[v->v_reason] >= 0)
			r = c->c_reason_refresh[v->v_reason];
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
rg_cache_foreach(struct rg_cache *c, rg_cache_visit_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	char key[RG_CACHE_KEY_MAX + 1];
	int rc;

	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	if ((rc = mdb_cursor_open(txn, c->c_dbi[RG_DB_VERDICTS], &cur)) != 0) {
		rg_cache_rtxn_end(c, txn);
		return rg_cache_status(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct rg_verdict vd;
		size_t kl = k.mv_size > RG_CACHE_KEY_MAX ? RG_CACHE_KEY_MAX : k.mv_size;
		int ok;

		memcpy(key, k.mv_data, kl);
		key[kl] = '\0';
		ok = rg_verdict_decode(v.mv_data, v.mv_size, &vd) == RG_VERDICT_OK;
		if (fn(key, ok ? &vd : NULL, arg) != 0) {
			rc = MDB_NOTFOUND;	/* the visitor asked to stop */
			break;
		}
	}
	mdb_cursor_close(cur);
	rg_cache_rtxn_end(c, txn);
	return rc == MDB_NOTFOUND ? RG_CACHE_OK : rg_cache_status(rc);
}

/*
 * Domain records: 'r' 'g' 'd' 1, expires_at i64, catch_all u8, catch_all_until
 * i64, dns_reason u8, dns_until i64, cooldown_until i64, source_index u8,
 * cooldown_level u8.
 */
#define RG_DOMAIN_LEN	(RG_CACHE_HDR + 1 + 8 + 1 + 8 + 8 + 1 + 1)

struct rg_cache_raw_arg {
	enum rg_cache_db	 db;
	MDB_val			 k;
	MDB_val			 v;
};

static int
rg_cache_raw_put_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_raw_arg *a = arg;

	return mdb_put(txn, c->c_dbi[a->db], &a->k, &a->v, 0);
}

int
rg_cache_domain_put(struct rg_cache *c, const char *domain, const struct rg_domain_record *d)
{
	unsigned char buf[RG_DOMAIN_LEN], *p = buf;
	struct rg_cache_raw_arg a = { .db = RG_DB_DOMAINS };
	int64_t exp = d->d_catch_all_until;
	int rc;

	if ((rc = rg_cache_key(domain, &a.k)) != RG_CACHE_OK)
		return rc;
	if (d->d_dns_until > exp)
		exp = d->d_dns_until;
	if (d->d_cooldown_until > exp)
		exp = d->d_cooldown_until;
	p[0] = 'r';
	p[1] = 'g';
	p[2] = 'd';
	p[3] = 1;
	rg_put_le64(p + 4, exp);
	p += RG_CACHE_HDR;
	*p++ = d->d_catch_all;
	rg_put_le64(p, d->d_catch_all_until);
	p += 8;
	*p++ = d->d_dns_reason;
	rg_put_le64(p, d->d_dns_until);
	p += 8;
	rg_put_le64(p, d->d_cooldown_until);
	p += 8;
	*p++ = d->d_source_index;
	*p++ = d->d_cooldown_level;
	a.v.mv_data = buf;
	a.v.mv_size = sizeof(buf);
	return rg_cache_write(c, rg_cache_raw_put_fn, &a);
}

int
rg_cache_raw_put(struct rg_cache *c, enum rg_cache_db db, const char *key, const void *val,
    size_t len)
{
	struct rg_cache_raw_arg a = { .db = db };
	int rc;

	if ((unsigned)db >= RG_DB_COUNT || len < RG_CACHE_HDR)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	a.v.mv_data = (void *)(uintptr_t)val;
	a.v.mv_size = len;
	return rg_cache_write(c, rg_cache_raw_put_fn, &a);
}

/*
 * First marks: 'r' 'g' 'f' 1, expires_at i64, first i64. The first time a
 * key was marked, kept until it expires; one write transaction checks and
 * sets, so every process agrees on the first time.
 */
#define RG_MARK_LEN	(RG_CACHE_HDR + 8)

struct rg_cache_mark_arg {
	MDB_val		 k;
	int64_t		 now;
	int64_t		 ttl;
	int64_t		*first;
};

static int
rg_cache_mark_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_mark_arg *a = arg;
	unsigned char buf[RG_MARK_LEN];
	MDB_val v;
	int rc;

	rc = mdb_get(txn, c->c_dbi[RG_DB_DOMAINS], &a->k, &v);
	if (rc == 0 && v.mv_size == RG_MARK_LEN) {
		const unsigned char *p = v.mv_data;
		/* A first mark from the future is damaged: it would defer for ever. */
		if (p[0] == 'r' && p[1] == 'g' && p[2] == 'f' && p[3] == 1 &&
		    rg_get_le64(p + 4) > a->now && rg_get_le64(p + RG_CACHE_HDR) <= a->now) {
			*a->first = rg_get_le64(p + RG_CACHE_HDR);
			return MDB_NOTFOUND;	/* nothing to write: abort, report it */
		}
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return rc;
	}
	buf[0] = 'r';
	buf[1] = 'g';
	buf[2] = 'f';
	buf[3] = 1;
	rg_put_le64(buf + 4, a->now + a->ttl);
	rg_put_le64(buf + RG_CACHE_HDR, a->now);
	*a->first = a->now;
	v.mv_data = buf;
	v.mv_size = sizeof(buf);
	return mdb_put(txn, c->c_dbi[RG_DB_DOMAINS], &a->k, &v, 0);
}

int
rg_cache_mark_first(struct rg_cache *c, const char *key, int64_t ttl, int64_t *first)
{
	struct rg_cache_mark_arg a = { .now = rg_clock_now(), .ttl = ttl, .first = first };
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	rc = rg_cache_write(c, rg_cache_mark_fn, &a);
	return rc == RG_CACHE_NOTFOUND ? RG_CACHE_OK : rc;
}

int
rg_cache_raw_get(struct rg_cache *c, enum rg_cache_db db, const char *key, void *buf,
    size_t size, size_t *len)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if ((unsigned)db >= RG_DB_COUNT)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_key(key, &k)) != RG_CACHE_OK)
		return rc;
	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	rc = mdb_get(txn, c->c_dbi[db], &k, &v);
	if (rc == 0) {
		if (v.mv_size > size) {
			rc = RG_CACHE_BADRECORD;
		} else {
			memcpy(buf, v.mv_data, v.mv_size);
			*len = v.mv_size;
			rc = RG_CACHE_OK;
		}
	} else {
		rc = rg_cache_status(rc);
	}
	rg_cache_rtxn_end(c, txn);
	return rc;
}

int
rg_cache_domain_get(struct rg_cache *c, const char *domain, struct rg_domain_record *d)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = rg_cache_key(domain, &k)) != RG_CACHE_OK)
		return rc;
	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	rc = mdb_get(txn, c->c_dbi[RG_DB_DOMAINS], &k, &v);
	if (rc == 0) {
		const unsigned char *p = v.mv_data;
		if (v.mv_size != RG_DOMAIN_LEN || p[0] != 'r' || p[1] != 'g' || p[2] != 'd' || p[3] != 1) {
			rc = RG_CACHE_BADRECORD;
		} else {
			p += RG_CACHE_HDR;
			d->d_catch_all = p[0] <= RG_CATCH_ALL_YES ? p[0] : RG_CATCH_ALL_UNKNOWN;
			d->d_catch_all_until = rg_get_le64(p + 1);
			d->d_dns_reason = p[9] < RG_REASON_COUNT ? p[9] : 0;
			d->d_dns_until = rg_get_le64(p + 10);
			d->d_cooldown_until = rg_get_le64(p + 18);
			d->d_source_index = p[26];
			d->d_cooldown_level = p[27];
			/* A damaged level would make the cooldown shift undefined. */
			rc = p[27] > RG_COOLDOWN_LEVEL_MAX ? RG_CACHE_BADRECORD : RG_CACHE_OK;
		}
	} else {
		rc = rg_cache_status(rc);
	}
	rg_cache_rtxn_end(c, txn);
	return rc;
}

/*
 * Leases: 'r' 'g' 'l' 1, expires_at i64, pid u32, token u64.
 */
#define RG_LEASE_LEN	(RG_CACHE_HDR + 4 + 8)
#define RG_LEASE_TTL_MAX	(2 * 86400)	/* above lease_ttl's bound and any session's */

struct rg_cache_lease_arg {
	MDB_val		 k;
	int64_t		 ttl;
	uint64_t	 token;
	int		 result;
};

static void
rg_cache_lease_encode(unsigned char *p, int64_t expires, uint32_t pid, uint64_t token)
{
	p[0] = 'r';
	p[1] = 'g';
	p[2] = 'l';
	p[3] = 1;
	rg_put_le64(p + 4, expires);
	for (int i = 0; i < 4; i++)
		p[12 + i] = (unsigned char)(pid >> (8 * i));
	rg_put_le64(p + 16, (int64_t)token);
}

/*
 * rg_cache_lease_live - a lease (or slot) that holds its key. A damaged one
 * holds nothing: a wrong size or version, or an expiry further away than
 * any lease is ever taken for, would otherwise stop every probe of its
 * address until that far-off day.
 */
static int
rg_cache_lease_live(const MDB_val *v, int64_t now)
{
	int64_t dummy = now;

	if (v->mv_size != RG_LEASE_LEN || memcmp(v->mv_data, "rgl\1", 4) != 0 ||
	    rg_get_le64((const unsigned char *)v->mv_data + 4) > now + RG_LEASE_TTL_MAX)
		return 0;
	return !rg_cache_pred_expired(NULL, v, &dummy);
}

/* rg_cache_lease_try - inside a write transaction: take key unless a live lease holds it. */
static int
rg_cache_lease_try(struct rg_cache *c, MDB_txn *txn, MDB_val *k, int64_t ttl, uint64_t token,
    int *won)
{
	unsigned char buf[RG_LEASE_LEN];
	MDB_val v;
	int64_t now = rg_clock_now();
	int rc;

	*won = 0;
	rc = mdb_get(txn, c->c_dbi[RG_DB_LEASES], k, &v);
	if (rc == 0 && rg_cache_lease_live(&v, now))
		return 0;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	rg_cache_lease_encode(buf, now + ttl, (uint32_t)rg_cache_self_pid, token);
	v.mv_data = buf;
	v.mv_size = sizeof(buf);
	if ((rc = mdb_put(txn, c->c_dbi[RG_DB_LEASES], k, &v, 0)) != 0)
		return rc;
	*won = 1;
	return 0;
}

static int
rg_cache_lease_acquire_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_lease_arg *a = arg;
	int won, rc;

	if ((rc = rg_cache_lease_try(c, txn, &a->k, a->ttl, a->token, &won)) != 0)
		return rc;
	a->result = won ? RG_LEASE_WON : RG_LEASE_HELD;
	return 0;
}

/* rg_cache_new_token - unique per process and call; the pid keeps processes apart. */
static uint64_t
rg_cache_new_token(struct rg_cache *c)
{
	return ((uint64_t)(uint32_t)rg_cache_self_pid << 32) |
	    (uint32_t)__atomic_add_fetch(&c->c_lease_seq, 1, __ATOMIC_RELAXED);
}

int
rg_cache_lease_acquire(struct rg_cache *c, const char *key, int64_t ttl, uint64_t *token)
{
	struct rg_cache_lease_arg a = { .ttl = ttl };
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	a.token = rg_cache_new_token(c);
	if ((rc = rg_cache_write(c, rg_cache_lease_acquire_fn, &a)) != RG_CACHE_OK)
		return rc;
	if (a.result == RG_LEASE_WON && token != NULL)
		*token = a.token;
	return a.result;
}

static int
rg_cache_lease_release_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_lease_arg *a = arg;
	MDB_val v;
	int rc;

	if ((rc = mdb_get(txn, c->c_dbi[RG_DB_LEASES], &a->k, &v)) != 0)
		return rc;
	/* Release only our own lease: an expired one may have been taken over. */
	if (v.mv_size != RG_LEASE_LEN ||
	    (uint64_t)rg_get_le64((const unsigned char *)v.mv_data + 16) != a->token)
		return MDB_NOTFOUND;
	return mdb_del(txn, c->c_dbi[RG_DB_LEASES], &a->k, NULL);
}

int
rg_cache_lease_release(struct rg_cache *c, const char *key, uint64_t token)
{
	struct rg_cache_lease_arg a = { .token = token };
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	return rg_cache_write(c, rg_cache_lease_release_fn, &a);
}

struct rg_cache_slot_arg {
	const char *const	*prefixes;
	const int		*nslots;
	int			*slots;
	int			 n;
	int64_t			 ttl;
	uint64_t		 token;
	int			 won;
};

static void
rg_cache_slot_key(char *buf, size_t size, const char *prefix, int slot)
{
	snprintf(buf, size, "%s#%d", prefix, slot);
}

static int
rg_cache_slots_acquire_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_slot_arg *a = arg;
	char key[RG_CACHE_KEY_MAX + 1];

	a->won = 0;
	for (int p = 0; p < a->n; p++) {
		int nslots = a->nslots[p];

		a->slots[p] = -1;
		/* Start where the token points, so busy slots are not all checked first. */
		for (int k = 0, start = (int)(a->token % (uint64_t)nslots); k < nslots; k++) {
			int i = (start + k) % nslots;
			MDB_val kv;
			int won, rc;

			rg_cache_slot_key(key, sizeof(key), a->prefixes[p], i);
			kv.mv_data = key;
			kv.mv_size = strlen(key);
			if ((rc = rg_cache_lease_try(c, txn, &kv, a->ttl, a->token, &won)) != 0)
				return rc;
			if (won) {
				a->slots[p] = i;
				break;
			}
		}
		if (a->slots[p] < 0)
			return MDB_NOTFOUND;	/* all or nothing: abort what this took */
	}
	a->won = 1;
	return 0;
}

int
rg_cache_slots_acquire(struct rg_cache *c, const char *const *prefixes, const int *nslots, int n,
    int64_t ttl, int *slots, uint64_t *token)
{
	struct rg_cache_slot_arg a = {
		.prefixes = prefixes, .nslots = nslots, .slots = slots, .n = n, .ttl = ttl
	};
	int rc;

	if (n < 1 || n > RG_CACHE_SLOT_POOLS)
		return RG_CACHE_EINVAL;
	for (int p = 0; p < n; p++)
		if (strlen(prefixes[p]) + 8 > RG_CACHE_KEY_MAX || nslots[p] < 1)
			return RG_CACHE_EINVAL;
	a.token = rg_cache_new_token(c);
	rc = rg_cache_write(c, rg_cache_slots_acquire_fn, &a);
	if (rc == RG_CACHE_NOTFOUND)
		return RG_LEASE_HELD;
	if (rc != RG_CACHE_OK)
		return rc;
	*token = a.token;
	return RG_LEASE_WON;
}

int
rg_cache_slot_acquire(struct rg_cache *c, const char *prefix, int nslots, int64_t ttl, int *slot,
    uint64_t *token)
{
	return rg_cache_slots_acquire(c, &prefix, &nslots, 1, ttl, slot, token);
}

struct rg_cache_slot_rel_arg {
	const char *const	*prefixes;
	const int		*slots;
	int			 n;
	uint64_t		 token;
	int			 released;
};

static int
rg_cache_slots_release_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_slot_rel_arg *a = arg;
	char key[RG_CACHE_KEY_MAX + 1];

	a->released = 0;
	for (int p = 0; p < a->n; p++) {
		MDB_val k, v;
		int rc;

		if (a->slots[p] < 0)
			continue;
		rg_cache_slot_key(key, sizeof(key), a->prefixes[p], a->slots[p]);
		k.mv_data = key;
		k.mv_size = strlen(key);
		if ((rc = mdb_get(txn, c->c_dbi[RG_DB_LEASES], &k, &v)) == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return rc;
		/* Only our own: an expired slot may have been taken over. */
		if (v.mv_size != RG_LEASE_LEN ||
		    (uint64_t)rg_get_le64((const unsigned char *)v.mv_data + 16) != a->token)
			continue;
		if ((rc = mdb_del(txn, c->c_dbi[RG_DB_LEASES], &k, NULL)) != 0)
			return rc;
		a->released++;
	}
	return a->released > 0 ? 0 : MDB_NOTFOUND;
}

int
rg_cache_slots_release(struct rg_cache *c, const char *const *prefixes, const int *slots, int n,
    uint64_t token)
{
	struct rg_cache_slot_rel_arg a = { .prefixes = prefixes, .slots = slots, .n = n, .token = token };

	return rg_cache_write(c, rg_cache_slots_release_fn, &a);
}

int
rg_cache_slot_release(struct rg_cache *c, const char *prefix, int slot, uint64_t token)
{
	return rg_cache_slots_release(c, &prefix, &slot, 1, token);
}

/*
 * Token buckets: 'r' 'g' 'b' 1, expires_at i64, tokens (thousandths) i64,
 * updated (ms since the epoch) i64.
 */
#define RG_BUCKET_LEN	(RG_CACHE_HDR + 16)
#define RG_DAY_MS	86400000LL

struct rg_cache_bucket_arg {
	MDB_val		 k;
	int64_t		 rate;		/* tokens per minute */
	int64_t		 burst;
	int64_t		 now_ms;
	int64_t		 wait_ms;
	int		 taken;
};

static int
rg_cache_bucket_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	struct rg_cache_bucket_arg *a = arg;
	unsigned char buf[RG_BUCKET_LEN];
	int64_t tokens = a->burst * 1000, cap = a->burst * 1000;
	MDB_val v;
	int rc;

	rc = mdb_get(txn, c->c_dbi[RG_DB_LIMITS], &a->k, &v);
	if (rc == 0 && v.mv_size == RG_BUCKET_LEN && memcmp(v.mv_data, "rgb\1", 4) == 0) {
		const unsigned char *p = v.mv_data;
		int64_t last = rg_get_le64(p + 20), stored = rg_get_le64(p + 12);
		/*
		 * A damaged record (tokens out of range, an update from the
		 * future) is a full bucket, as a missing one is: its numbers must
		 * never reach the arithmetic below, which they could overflow.
		 */
		if (stored >= 0 && stored <= cap && last <= a->now_ms + 60000) {
			/* A day fills any bucket; longer would only risk overflow. */
			int64_t elapsed = last < a->now_ms - RG_DAY_MS ? RG_DAY_MS : a->now_ms - last;
			tokens = stored;
			if (elapsed > 0)
				tokens += elapsed * a->rate / 60;	/* thousandths per ms = rate/60 */
			if (tokens > cap)
				tokens = cap;
		}
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return rc;
	}
	if (tokens >= 1000) {
		tokens -= 1000;
		a->taken = 1;
	} else {
		a->taken = 0;
		a->wait_ms = a->rate > 0 ? ((1000 - tokens) * 60 + a->rate - 1) / a->rate : 60000;
	}
	buf[0] = 'r';
	buf[1] = 'g';
	buf[2] = 'b';
	buf[3] = 1;
	/* Expires when it would be full again: a full bucket needs no record. */
	rg_put_le64(buf + 4, a->now_ms / 1000 + (a->rate > 0 ? (cap - tokens) * 60 / a->rate / 1000 : 0) + 1);
	rg_put_le64(buf + 12, tokens);
	rg_put_le64(buf + 20, a->now_ms);
	v.mv_data = buf;
	v.mv_size = sizeof(buf);
	return mdb_put(txn, c->c_dbi[RG_DB_LIMITS], &a->k, &v, 0);
}

int
rg_cache_bucket_take(struct rg_cache *c, const char *key, int64_t rate_per_min, int64_t burst,
    int64_t *wait_ms)
{
	struct rg_cache_bucket_arg a = { .rate = rate_per_min, .burst = burst };
	struct timespec ts;
	int rc;

	if ((rc = rg_cache_key(key, &a.k)) != RG_CACHE_OK)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* The injectable clock moves buckets in tests; real time gives milliseconds. */
	a.now_ms = rg_clock_now() * 1000 + (ts.tv_nsec / 1000000);
	if ((rc = rg_cache_write(c, rg_cache_bucket_fn, &a)) != RG_CACHE_OK)
		return rc;
	if (a.taken)
		return RG_CACHE_OK;
	*wait_ms = a.wait_ms;
	return RG_CACHE_NOTFOUND;
}

static int
rg_cache_purge_fn(struct rg_cache *c, MDB_txn *txn, void *arg)
{
	int rc;

	(void)arg;
	for (int db = 0; db < RG_DB_COUNT; db++)
		if ((rc = mdb_drop(txn, c->c_dbi[db], 0)) != 0)
			return rc;
	return 0;
}

int
rg_cache_purge_all(struct rg_cache *c)
{
	memset(c->c_sweep, 0, sizeof(c->c_sweep));
	return rg_cache_write(c, rg_cache_purge_fn, NULL);
}

int
rg_cache_stats(struct rg_cache *c, struct rg_cache_stats *st)
{
	MDB_envinfo info;
	MDB_stat es, ms;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	struct stat sb;
	int64_t now = rg_clock_now();
	int rc;

	memset(st, 0, sizeof(*st));
	rg_strlcpy(st->cs_path, c->c_path, sizeof(st->cs_path));
	mdb_env_info(c->c_env, &info);
	mdb_env_stat(c->c_env, &es);
	st->cs_map_size = info.me_mapsize;
	st->cs_map_size_max = c->c_map_max;
	st->cs_page_size = es.ms_psize;
	st->cs_used_bytes = (uint64_t)(info.me_last_pgno + 1) * es.ms_psize;
	st->cs_readers_used = info.me_numreaders;
	st->cs_readers_max = info.me_maxreaders;
	if (stat(c->c_path, &sb) == 0)
		st->cs_file_bytes = (uint64_t)sb.st_size;
	st->cs_grows = c->c_grows;
	st->cs_evictions = c->c_evictions;
	st->cs_evicted = c->c_evicted;

	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	for (int db = 0; db < RG_DB_COUNT; db++)
		if (mdb_stat(txn, c->c_dbi[db], &ms) == 0)
			st->cs_entries[db] = ms.ms_entries;
	if ((rc = mdb_cursor_open(txn, c->c_dbi[RG_DB_VERDICTS], &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct rg_verdict vd;
			if (rg_verdict_decode(v.mv_data, v.mv_size, &vd) != RG_VERDICT_OK) {
				st->cs_bad_records++;
				continue;
			}
			st->cs_by_class[vd.v_class]++;
			st->cs_by_state[rg_verdict_state_at(&vd, now)]++;
		}
		mdb_cursor_close(cur);
		rc = (rc == MDB_NOTFOUND) ? 0 : rc;
	}
	rg_cache_rtxn_end(c, txn);
	return rg_cache_status(rc);
}
