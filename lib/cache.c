/*
 * cache.c - the LMDB environment: open, pooled readers, the one write
 * path, sweeping, eviction, and recovery from the conditions a long-running
 * mail daemon meets. Values are records (record.h) whose bytes this file
 * never interprets beyond what record.h tells of any record.
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
#include "rg_build.h"

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
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/record.h"
#include "rcptguard/util.h"

#include "cache_impl.h"

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

const char *const *
rg_cache_db_list(void)
{
	return rg_cache_db_names;
}

const char *
rg_cache_db_name(enum rg_cache_db db)
{
	return (unsigned)db < RG_DB_COUNT ? rg_cache_db_names[db] : "?";
}

/* rg_cache_status - map an LMDB or errno code to an rg_cache_status. */
int
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

/* rg_cache_key - a key as LMDB takes it; EINVAL when empty or too long. */
int
rg_cache_key(const char *key, MDB_val *k)
{
	size_t len = strlen(key);

	if (len == 0 || len > RG_CACHE_KEY_MAX)
		return RG_CACHE_EINVAL;
	k->mv_data = (void *)(uintptr_t)key;
	k->mv_size = len;
	return RG_CACHE_OK;
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
int
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
int
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
void
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
	now = rg_clock_mono_ms();
	if (now - c->c_last_sync >= c->c_sync_interval * 1000) {
		c->c_last_sync = now;
		mdb_env_sync(c->c_env, 1);
	}
}


/* rg_cache_txn_fail - remember an LMDB failure of a body and report it. */
int
rg_cache_txn_fail(struct rg_cache_txn *t, int rc)
{
	if (t->t_mdb_rc == 0)
		t->t_mdb_rc = rc;
	return rg_cache_status(rc);
}

int
rg_cache_write(struct rg_cache *c, rg_cache_write_fn fn, void *arg)
{
	int rc = 0;
	int full_tries = 0;

	if (c->c_flags & RG_CACHE_O_RDONLY)
		return RG_CACHE_EACCESS;
	for (int attempt = 0; attempt < RG_CACHE_WRITE_TRIES; attempt++) {
		struct rg_cache_txn t = { .t_cache = c };
		int body = RG_CACHE_OK;

		pthread_rwlock_rdlock(&c->c_maplock);
		__atomic_add_fetch(&c->c_writes, 1, __ATOMIC_RELAXED);
		if (!rg_cache_fault_take(c, RG_CACHE_FAULT_WRITE, &rc))
			rc = mdb_txn_begin(c->c_env, NULL, 0, &t.t_txn);
		if (rc == 0) {
			body = fn(&t, arg);
			if (body == RG_CACHE_OK) {
				rc = mdb_txn_commit(t.t_txn);
			} else {
				mdb_txn_abort(t.t_txn);
				/* A body's own failure keeps its LMDB code for the retries below. */
				rc = body == RG_CACHE_ROLLBACK ? 0 : t.t_mdb_rc;
			}
		}
		pthread_rwlock_unlock(&c->c_maplock);

		if (rc == 0 && (body == RG_CACHE_OK || body == RG_CACHE_ROLLBACK)) {
			if (body == RG_CACHE_OK)
				rg_cache_maybe_sync(c);
			return RG_CACHE_OK;
		}
		if (rc == 0)
			return body;	/* a refusal of the body (EINVAL ...), not of LMDB */
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
	rg_log_debug("cache: write failed: %s", mdb_strerror(rc));	/* callers report it */
	return rg_cache_status(rc);
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
	c->c_last_sync = rg_clock_mono_ms();
	c->c_sweep_batch = (unsigned)cfg->sweep_batch;

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

/* rg_cache_check_fn - write a record of this process and delete it again. */
static int
rg_cache_check_fn(struct rg_cache_txn *t, void *arg)
{
	const char *key = arg;
	struct rg_record_mark m = { .m_expires_at = rg_clock_now() + 60, .m_first = rg_clock_now() };
	unsigned char buf[RG_RECORD_MARK_LEN];
	size_t n = rg_record_mark_encode(&m, buf, sizeof(buf));
	int rc;

	if ((rc = rg_cache_txn_put(t, RG_DB_LEASES, key, buf, n)) != RG_CACHE_OK)
		return rc;
	return rg_cache_txn_del(t, RG_DB_LEASES, key);
}

int
rg_cache_check(struct rg_cache *c)
{
	char key[48];
	MDB_txn *txn;
	int rc;

	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	rg_cache_rtxn_end(c, txn);
	snprintf(key, sizeof(key), "!check:%ld", (long)getpid());
	return rg_cache_write(c, rg_cache_check_fn, key);
}

int
rg_cache_sync(struct rg_cache *c)
{
	int rc = mdb_env_sync(c->c_env, 1);

	c->c_last_sync = rg_clock_mono_ms();
	return rg_cache_status(rc);
}


int
rg_cache_read(struct rg_cache *c, enum rg_cache_db db, const char *key, rg_cache_read_fn fn,
    void *arg)
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
	/* fn runs while the snapshot is live: v points into the map. */
	rc = rc == 0 ? fn(v.mv_data, v.mv_size, arg) : rg_cache_status(rc);
	rg_cache_rtxn_end(c, txn);
	return rc;
}

int
rg_cache_scan(struct rg_cache *c, enum rg_cache_db db, rg_cache_scan_fn fn, void *arg)
{
	return rg_cache_scan_prefix(c, db, "", fn, arg);
}

int
rg_cache_scan_prefix(struct rg_cache *c, enum rg_cache_db db, const char *prefix,
    rg_cache_scan_fn fn, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	char key[RG_CACHE_KEY_MAX + 1];
	size_t plen = strlen(prefix);
	int rc;

	if ((unsigned)db >= RG_DB_COUNT || plen > RG_CACHE_KEY_MAX)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_rtxn_begin(c, &txn)) != RG_CACHE_OK)
		return rc;
	if ((rc = mdb_cursor_open(txn, c->c_dbi[db], &cur)) != 0) {
		rg_cache_rtxn_end(c, txn);
		return rg_cache_status(rc);
	}
	k.mv_data = (void *)prefix;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(cur, &k, &v, plen > 0 ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t kl = k.mv_size > RG_CACHE_KEY_MAX ? RG_CACHE_KEY_MAX : k.mv_size;

		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) {
			rc = MDB_NOTFOUND;	/* past the keys with the prefix */
			break;
		}
		memcpy(key, k.mv_data, kl);
		key[kl] = '\0';
		if (fn(key, v.mv_data, v.mv_size, arg) != 0) {
			rc = MDB_NOTFOUND;	/* the visitor asked to stop */
			break;
		}
	}
	mdb_cursor_close(cur);
	rg_cache_rtxn_end(c, txn);
	return rc == MDB_NOTFOUND ? RG_CACHE_OK : rg_cache_status(rc);
}

int
rg_cache_txn_get(struct rg_cache_txn *t, enum rg_cache_db db, const char *key, const void **val,
    size_t *len)
{
	MDB_val k, v;
	int rc;

	if ((unsigned)db >= RG_DB_COUNT)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_key(key, &k)) != RG_CACHE_OK)
		return rc;
	if ((rc = mdb_get(t->t_txn, t->t_cache->c_dbi[db], &k, &v)) == MDB_NOTFOUND)
		return RG_CACHE_NOTFOUND;
	if (rc != 0)
		return rg_cache_txn_fail(t, rc);
	*val = v.mv_data;
	*len = v.mv_size;
	return RG_CACHE_OK;
}

int
rg_cache_txn_put(struct rg_cache_txn *t, enum rg_cache_db db, const char *key, const void *val,
    size_t len)
{
	MDB_val k, v;
	int rc;

	if ((unsigned)db >= RG_DB_COUNT || len < RG_RECORD_HDR)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_key(key, &k)) != RG_CACHE_OK)
		return rc;
	v.mv_data = (void *)(uintptr_t)val;
	v.mv_size = len;
	if ((rc = mdb_put(t->t_txn, t->t_cache->c_dbi[db], &k, &v, 0)) != 0)
		return rg_cache_txn_fail(t, rc);
	return RG_CACHE_OK;
}

int
rg_cache_txn_del(struct rg_cache_txn *t, enum rg_cache_db db, const char *key)
{
	MDB_val k;
	int rc;

	if ((unsigned)db >= RG_DB_COUNT)
		return RG_CACHE_EINVAL;
	if ((rc = rg_cache_key(key, &k)) != RG_CACHE_OK)
		return rc;
	if ((rc = mdb_del(t->t_txn, t->t_cache->c_dbi[db], &k, NULL)) == MDB_NOTFOUND)
		return RG_CACHE_NOTFOUND;
	if (rc != 0)
		return rg_cache_txn_fail(t, rc);
	return RG_CACHE_OK;
}

struct rg_cache_raw_arg {
	enum rg_cache_db	 db;
	const char		*key;
	const void		*val;
	size_t			 len;
	void			*buf;
	size_t			 size;
	size_t			*outlen;
};

static int
rg_cache_raw_put_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_cache_raw_arg *a = arg;

	return rg_cache_txn_put(t, a->db, a->key, a->val, a->len);
}

int
rg_cache_raw_put(struct rg_cache *c, enum rg_cache_db db, const char *key, const void *val,
    size_t len)
{
	struct rg_cache_raw_arg a = { .db = db, .key = key, .val = val, .len = len };

	if ((unsigned)db >= RG_DB_COUNT || len < RG_RECORD_HDR)
		return RG_CACHE_EINVAL;
	return rg_cache_write(c, rg_cache_raw_put_fn, &a);
}

static int
rg_cache_raw_get_fn(const void *val, size_t len, void *arg)
{
	struct rg_cache_raw_arg *a = arg;

	if (len > a->size)
		return RG_CACHE_BADRECORD;
	memcpy(a->buf, val, len);
	*a->outlen = len;
	return RG_CACHE_OK;
}

int
rg_cache_raw_get(struct rg_cache *c, enum rg_cache_db db, const char *key, void *buf,
    size_t size, size_t *len)
{
	struct rg_cache_raw_arg a = { .buf = buf, .size = size, .outlen = len };

	return rg_cache_read(c, db, key, rg_cache_raw_get_fn, &a);
}

pid_t
rg_cache_owner(const struct rg_cache *c)
{
	(void)c;
	return rg_cache_self_pid;
}

uint64_t
rg_cache_next_seq(struct rg_cache *c)
{
	return __atomic_add_fetch(&c->c_seq, 1, __ATOMIC_RELAXED);
}

static int
rg_cache_purge_fn(struct rg_cache_txn *t, void *arg)
{
	int rc;

	(void)arg;
	for (int db = 0; db < RG_DB_COUNT; db++)
		if ((rc = mdb_drop(t->t_txn, t->t_cache->c_dbi[db], 0)) != 0)
			return rg_cache_txn_fail(t, rc);
	return RG_CACHE_OK;
}

int
rg_cache_purge_all(struct rg_cache *c)
{
	memset(c->c_sweep, 0, sizeof(c->c_sweep));
	return rg_cache_write(c, rg_cache_purge_fn, NULL);
}

/* rg_cache_stats_read - the statistics; walk: also read every verdict. */
static int
rg_cache_stats_read(struct rg_cache *c, struct rg_cache_stats *st, int walk)
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
	if (walk && (rc = mdb_cursor_open(txn, c->c_dbi[RG_DB_VERDICTS], &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct rg_verdict vd;
			if (rg_record_verdict_decode(v.mv_data, v.mv_size, &vd) != RG_RECORD_OK) {
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

int
rg_cache_stats(struct rg_cache *c, struct rg_cache_stats *st)
{
	return rg_cache_stats_read(c, st, 1);
}

int
rg_cache_usage(struct rg_cache *c, struct rg_cache_stats *st)
{
	return rg_cache_stats_read(c, st, 0);
}
