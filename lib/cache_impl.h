/*
 * cache_impl.h - the inside of the LMDB cache, shared by its two files:
 * cache.c (open, readers, the write path, reads) and cache_sweep.c
 * (sweeping, eviction, growing). Nothing outside the cache includes it.
 */
#ifndef RG_CACHE_IMPL_H
#define RG_CACHE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "rcptguard/cache.h"

#define RG_CACHE_POOL		16		/* pooled read transactions */
#define RG_CACHE_WRITE_TRIES	8
#define RG_CACHE_PAGE		4096



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
	int64_t			 c_last_sync;		/* monotonic milliseconds */
	unsigned		 c_sweep_batch;
	struct rg_cache_sweep_pos c_sweep[RG_DB_COUNT];
	int			 c_evicting;		/* make_room is running: no re-entry */
	uint64_t		 c_grows;
	uint64_t		 c_evictions;
	uint64_t		 c_evicted;
	uint64_t		 c_seq;			/* rg_cache_next_seq */
	int			 c_fault_rc;		/* rg_cache_fault: the LMDB code to inject */
	unsigned		 c_fault_kinds;		/* into read, write transactions or both */
	int			 c_fault_n;		/* transactions still to fail with it */
	uint64_t		 c_writes;		/* write transactions begun (atomic) */
	char			 c_path[RG_CONFIG_PATH_MAX];
};

/* A write transaction as the bodies see it: the first LMDB failure is kept for the retry logic. */
struct rg_cache_txn {
	struct rg_cache	*t_cache;
	MDB_txn		*t_txn;
	int		 t_mdb_rc;
};

/* rg_cache_status - an LMDB or errno code as an rg_cache_status. */
int rg_cache_status(int rc);
/* rg_cache_key - a key as LMDB takes it; EINVAL when empty or too long. */
int rg_cache_key(const char *key, MDB_val *k);
/* rg_cache_set_mapsize - remap with every transaction of this process closed. */
int rg_cache_set_mapsize(struct rg_cache *c, size_t size);
/* rg_cache_rtxn_begin - a read transaction from the pool; holds c_maplock on success. */
int rg_cache_rtxn_begin(struct rg_cache *c, MDB_txn **out);
/* rg_cache_rtxn_end - reset the reader and return it to the pool. */
void rg_cache_rtxn_end(struct rg_cache *c, MDB_txn *t);
/* rg_cache_txn_fail - remember an LMDB failure of a write body and report it. */
int rg_cache_txn_fail(struct rg_cache_txn *t, int rc);
/*
 * rg_cache_make_room - answer MDB_MAP_FULL: grow towards the usable limit,
 * or, at it, evict with the reserve opened. 0 when a retry makes sense.
 */
int rg_cache_make_room(struct rg_cache *c);

#endif /* RG_CACHE_IMPL_H */
