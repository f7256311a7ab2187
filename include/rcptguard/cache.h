/*
 * cache.h - the LMDB environment every rcptguard process shares: open, the
 * pooled readers, the one write path (grow, evict, retry), sweeping and
 * statistics.
 *
 * One environment (one file, MDB_NOSUBDIR) with four named databases:
 *   verdicts  normalized address -> verdict record
 *   domains   domain -> domain record; "mx:<domain>" -> MX data; first marks
 *   leases    address or slot name -> probe lease
 *   limits    key -> token bucket state
 * Values are records (record.h): this module moves their bytes and reads
 * only what record.h tells of any record (its expiry and age). What the
 * records mean is the business of the modules above: tier_lmdb.c for
 * verdicts and domains, limits.c for leases, slots, buckets and marks.
 *
 * Every function returns an rg_cache_status. Negative values are
 * environment-level failures a caller maps to its fail_mode; they never abort
 * the process. One handle per process: LMDB forbids opening the same file
 * twice in one process. The handle is thread-safe.
 */
#ifndef RG_CACHE_H
#define RG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "rcptguard/config.h"
#include "rcptguard/verdict.h"

enum rg_cache_status {
	RG_CACHE_OK = 0,
	RG_CACHE_NOTFOUND = 1,		/* no such record */
	RG_CACHE_BADRECORD = 2,		/* a record exists but is of another format
					   version or damaged: treat it as a miss */
	RG_CACHE_ROLLBACK = 3,		/* a write body's answer: nothing to write */
	RG_CACHE_EMISSING = -1,		/* the state directory or cache file is missing */
	RG_CACHE_EACCESS = -2,		/* permission denied, or read-only file system */
	RG_CACHE_ECORRUPT = -3,		/* not an LMDB file, or its structure is damaged */
	RG_CACHE_EFULL = -4,		/* no room even after growing and evicting */
	RG_CACHE_EBUSY = -5,		/* reader slots exhausted by live readers */
	RG_CACHE_EIO = -6,		/* any other I/O or LMDB failure */
	RG_CACHE_EINVAL = -7,		/* bad argument (key too long, ...) */
};

enum rg_cache_db {
	RG_DB_VERDICTS,
	RG_DB_DOMAINS,
	RG_DB_LEASES,
	RG_DB_LIMITS,
	RG_DB_COUNT
};

#define RG_CACHE_KEY_MAX	511	/* LMDB's default maximum key size */

/* Open flags. */
#define RG_CACHE_O_CREATE	0x01u	/* create the file (not the directory) when missing */
#define RG_CACHE_O_RDONLY	0x02u	/* never write (cache get/list/stats by an observer) */

struct rg_cache;

struct rg_cache_stats {
	char		cs_path[RG_CONFIG_PATH_MAX];
	uint64_t	cs_map_size;		/* current map size, bytes */
	uint64_t	cs_map_size_max;
	uint64_t	cs_used_bytes;		/* pages in use (high-water mark), bytes */
	uint64_t	cs_file_bytes;
	unsigned	cs_page_size;
	unsigned	cs_readers_used;
	unsigned	cs_readers_max;
	uint64_t	cs_entries[RG_DB_COUNT];
	uint64_t	cs_by_class[RG_CLASS_COUNT];
	uint64_t	cs_by_state[3];		/* enum rg_verdict_state */
	uint64_t	cs_bad_records;
	/* Counters of this handle since open. */
	uint64_t	cs_grows;
	uint64_t	cs_evictions;
	uint64_t	cs_evicted;
};

const char *rg_cache_strerror(int status);
const char *rg_cache_db_name(enum rg_cache_db db);
/* rg_cache_db_list - every database's name, in enum order. */
const char *const *rg_cache_db_list(void);

/* rg_cache_open - open (or create) the cache described by cfg. NULL on failure
 * with *status set and err describing the problem. */
struct rg_cache *rg_cache_open(const struct rg_config *cfg, unsigned flags, int *status,
    char *err, size_t errsize);
/* rg_cache_close - flush (in periodic sync mode) and close. NULL is fine. */
void rg_cache_close(struct rg_cache *c);

/*
 * Reads. rg_cache_read calls fn with the value of key inside one read
 * snapshot (the bytes are valid only during the call) and returns what fn
 * returns; RG_CACHE_NOTFOUND when there is no such key. rg_cache_scan calls
 * fn for every entry of db in key order inside one snapshot; fn returns
 * non-zero to stop.
 */
typedef int (*rg_cache_read_fn)(const void *val, size_t len, void *arg);
int rg_cache_read(struct rg_cache *c, enum rg_cache_db db, const char *key, rg_cache_read_fn fn,
    void *arg);
typedef int (*rg_cache_scan_fn)(const char *key, const void *val, size_t len, void *arg);
int rg_cache_scan(struct rg_cache *c, enum rg_cache_db db, rg_cache_scan_fn fn, void *arg);
/* rg_cache_scan_prefix - the same, only the keys that start with prefix. */
int rg_cache_scan_prefix(struct rg_cache *c, enum rg_cache_db db, const char *prefix,
    rg_cache_scan_fn fn, void *arg);

/*
 * Writes. rg_cache_write runs fn inside one write transaction, as often as
 * growing the map, clearing dead readers or adopting another process's map
 * size needs. fn reads and writes through the rg_cache_txn_* calls and
 * returns RG_CACHE_OK to commit, RG_CACHE_ROLLBACK to end without writing
 * (rg_cache_write then returns RG_CACHE_OK), or the failure of a txn call.
 * fn may run more than once: it must not keep state between runs outside
 * its argument.
 */
struct rg_cache_txn;
typedef int (*rg_cache_write_fn)(struct rg_cache_txn *t, void *arg);
int rg_cache_write(struct rg_cache *c, rg_cache_write_fn fn, void *arg);
/* The value stays valid until the transaction writes again or ends. */
int rg_cache_txn_get(struct rg_cache_txn *t, enum rg_cache_db db, const char *key,
    const void **val, size_t *len);
int rg_cache_txn_put(struct rg_cache_txn *t, enum rg_cache_db db, const char *key,
    const void *val, size_t len);
/* RG_CACHE_NOTFOUND when there was nothing to delete. */
int rg_cache_txn_del(struct rg_cache_txn *t, enum rg_cache_db db, const char *key);

/*
 * Raw values under their keys, for tests and tools: put stores len bytes
 * (at least a record header); get copies at most size bytes and reports
 * the length (RG_CACHE_BADRECORD when it is longer).
 */
int rg_cache_raw_put(struct rg_cache *c, enum rg_cache_db db, const char *key,
    const void *val, size_t len);
int rg_cache_raw_get(struct rg_cache *c, enum rg_cache_db db, const char *key,
    void *buf, size_t size, size_t *len);

/* rg_cache_owner - the pid this handle writes into leases (its process's). */
pid_t rg_cache_owner(const struct rg_cache *c);
/* rg_cache_next_seq - a number unique for this handle, for lease tokens. */
uint64_t rg_cache_next_seq(struct rg_cache *c);

/*
 * rg_cache_sweep - examine at most one batch (sweep_batch records) of each
 * database from where the previous call stopped, delete expired entries, and
 * commit. *removed counts deletions; *wrapped is set when every database has
 * been walked to its end. Call it from a timer; it never holds the write lock
 * for longer than one batch.
 */
int rg_cache_sweep(struct rg_cache *c, uint64_t *removed, int *wrapped);

/* rg_cache_purge_all - empty every database. */
int rg_cache_purge_all(struct rg_cache *c);

/*
 * rg_cache_check - whether the cache works now: a read transaction and a
 * write transaction (a record of this process written and deleted).
 * RG_CACHE_OK, or the failure.
 */
int rg_cache_check(struct rg_cache *c);

/*
 * rg_cache_fault - for tests: the next count transactions of this handle
 * of the given kinds fail as if LMDB had returned mdb_rc (MDB_READERS_FULL,
 * MDB_MAP_RESIZED, EIO...), so the handling of each error can be exercised.
 */
#define RG_CACHE_FAULT_READ	0x01u
#define RG_CACHE_FAULT_WRITE	0x02u
void rg_cache_fault(struct rg_cache *c, unsigned kinds, int mdb_rc, int count);

/* rg_cache_writes - write transactions this handle has begun. */
uint64_t rg_cache_writes(struct rg_cache *c);

/* rg_cache_sync - flush committed writes to disk now. */
int rg_cache_sync(struct rg_cache *c);

int rg_cache_stats(struct rg_cache *c, struct rg_cache_stats *st);
/* rg_cache_usage - the same without reading every verdict: no by_class, by_state, bad_records. */
int rg_cache_usage(struct rg_cache *c, struct rg_cache_stats *st);

#endif /* RG_CACHE_H */
