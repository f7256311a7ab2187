/*
 * cache_sweep.c - the LMDB cache's housekeeping: batched walks that delete
 * expired records and leases of dead processes (the sweep), and room for
 * writes when the map is full: grow it, or at its hard limit evict the
 * oldest records with the reserve opened.
 */
#include "rg_build.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/record.h"

#include "cache_impl.h"

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

/*
 * rg_cache_walk_fn - one batch of a sweep: from the saved position, delete what
 * the visitor refuses.
 */
static int
rg_cache_walk_fn(struct rg_cache_txn *t, void *arg)
{
	struct rg_cache_walk *w = arg;
	struct rg_cache *c = t->t_cache;
	MDB_txn *txn = t->t_txn;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned seen = 0, nkeys = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, c->c_dbi[w->w_db], &cur)) != 0)
		return rg_cache_txn_fail(t, rc);
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
		return rg_cache_txn_fail(t, rc);
	for (unsigned i = 0; i < nkeys; i++) {
		k.mv_data = w->w_keys[i];
		k.mv_size = w->w_keylens[i];
		rc = mdb_del(txn, c->c_dbi[w->w_db], &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rg_cache_txn_fail(t, rc);
	}
	w->w_removed += nkeys;
	return RG_CACHE_OK;
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

struct rg_cache_sweep_arg {
	int64_t		sa_now;
	pid_t		sa_owner;	/* this process: its leases are alive */
};

/*
 * rg_cache_pred_expired - expired by the common header, or a lease whose
 * holder process is gone.
 */
static int
rg_cache_pred_expired(const MDB_val *k, const MDB_val *v, void *arg)
{
	const struct rg_cache_sweep_arg *a = arg;
	struct rg_record_lease l;
	int64_t exp;

	(void)k;
	if (rg_record_expires(v->mv_data, v->mv_size, &exp) < 0)
		return 1;	/* not one of ours: garbage */
	if (a->sa_now >= exp)
		return 1;
	if (rg_record_lease_decode(v->mv_data, v->mv_size, &l) == RG_RECORD_OK) {
		pid_t pid = (pid_t)l.l_pid;
		if (pid > 0 && pid != a->sa_owner && kill(pid, 0) < 0 && errno == ESRCH)
			return 1;
	}
	return 0;
}

int
rg_cache_sweep(struct rg_cache *c, uint64_t *removed, int *wrapped)
{
	struct rg_cache_sweep_arg sa = { .sa_now = rg_clock_now(), .sa_owner = rg_cache_owner(c) };
	int all_done = 1;

	*removed = 0;
	for (int db = 0; db < RG_DB_COUNT; db++) {
		struct rg_cache_walk w = {
			.w_db = (enum rg_cache_db)db, .w_pred = rg_cache_pred_expired,
			.w_arg = &sa, .w_pos = &c->c_sweep[db], .w_batch = c->c_sweep_batch,
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

static int
rg_cache_pred_older(const MDB_val *k, const MDB_val *v, void *arg)
{
	const struct rg_cache_oldest *o = arg;

	(void)k;
	return rg_record_age(v->mv_data, v->mv_size) <= o->o_threshold;
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
			o.o_times[o.o_n++] = rg_record_age(v.mv_data, v.mv_size);
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

int
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

