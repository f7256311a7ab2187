/*
 * cache.h - the LMDB verdict cache shared by every rcptguard process.
 *
 * One environment (one file, MDB_NOSUBDIR) with four named databases:
 *   verdicts  normalized address -> verdict record (verdict.h)
 *   domains   domain -> domain record (MX list, catch-all, provider, throttle)
 *   leases    address or domain -> probe lease {token, expiry, holder pid}
 *   limits    key -> token bucket state
 *
 * Every value in every database starts with the same 12-byte header:
 *   'r' 'g' type version   expires_at (i64, little-endian)
 * so the sweeper can expire any record, of any type and any format version,
 * without understanding the rest of it.
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

#include "rcptguard/config.h"
#include "rcptguard/verdict.h"

enum rg_cache_status {
	RG_CACHE_OK = 0,
	RG_CACHE_NOTFOUND = 1,		/* no such record */
	RG_CACHE_BADRECORD = 2,		/* a record exists but is of another format
					   version or damaged: treat it as a miss */
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

enum rg_lease_result {
	RG_LEASE_WON = 0,
	RG_LEASE_HELD = 1,		/* somebody else holds a live lease */
};

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

/* rg_cache_open - open (or create) the cache described by cfg. NULL on failure
 * with *status set and err describing the problem. */
struct rg_cache *rg_cache_open(const struct rg_config *cfg, unsigned flags, int *status,
    char *err, size_t errsize);
/* rg_cache_close - flush (in periodic sync mode) and close. NULL is fine. */
void rg_cache_close(struct rg_cache *c);

/* Verdicts. get reports the state at rg_clock_now(); state may be NULL. */
int rg_cache_get(struct rg_cache *c, const char *key, struct rg_verdict *v,
    enum rg_verdict_state *state);
int rg_cache_put(struct rg_cache *c, const char *key, const struct rg_verdict *v);
int rg_cache_del(struct rg_cache *c, const char *key);

/*
 * rg_cache_stamp - set checked_at to now and refresh_at/expires_at from the
 * TTL of v's class and reason (per-reason overrides first). ttl > 0 replaces
 * the configured expiry (refresh is then capped at it).
 */
void rg_cache_stamp(const struct rg_cache *c, struct rg_verdict *v, int64_t ttl);

/*
 * rg_cache_foreach - call fn for every verdict, in key order, inside one read
 * snapshot. Records that cannot be decoded are passed with v == NULL. fn
 * returns non-zero to stop.
 */
typedef int (*rg_cache_visit_fn)(const char *key, const struct rg_verdict *v, void *arg);
int rg_cache_foreach(struct rg_cache *c, rg_cache_visit_fn fn, void *arg);

/*
 * Domain records: what is known of a domain as a whole. Every part has its
 * own expiry; the record expires with the last of them.
 */
enum rg_catch_all {
	RG_CATCH_ALL_UNKNOWN = 0,
	RG_CATCH_ALL_NO = 1,
	RG_CATCH_ALL_YES = 2,
};

#define RG_COOLDOWN_LEVEL_MAX	6	/* the cooldown doubles at most 2^(6-1) = 32 times */

struct rg_domain_record {
	uint8_t		d_catch_all;		/* enum rg_catch_all */
	int64_t		d_catch_all_until;
	uint8_t		d_dns_reason;		/* enum rg_reason decided by DNS; 0: none */
	int64_t		d_dns_until;
	int64_t		d_cooldown_until;	/* no probes before this (throttling) */
	uint8_t		d_cooldown_level;	/* consecutive throttlings: the backoff exponent */
	uint8_t		d_source_index;		/* sticky source address, 1-based; 0: none */
};

int rg_cache_domain_get(struct rg_cache *c, const char *domain, struct rg_domain_record *d);

/*
 * Raw records of the domains database under their own keys (the prober keeps
 * MX data there as "mx:<domain>"). The value must start with the common
 * header; get copies at most size bytes and reports the length.
 */
int rg_cache_raw_put(struct rg_cache *c, enum rg_cache_db db, const char *key,
    const void *val, size_t len);
int rg_cache_raw_get(struct rg_cache *c, enum rg_cache_db db, const char *key,
    void *buf, size_t size, size_t *len);
/*
 * rg_cache_mark_first - the first time key was marked, in the domains
 * database: an existing live mark is reported, otherwise now is stored for
 * ttl seconds. One write transaction, so every process agrees.
 */
int rg_cache_mark_first(struct rg_cache *c, const char *key, int64_t ttl, int64_t *first);
int rg_cache_domain_put(struct rg_cache *c, const char *domain, const struct rg_domain_record *d);

/*
 * Leases. acquire is one write transaction (check and set), so across all
 * processes exactly one caller wins a key. A lease dies with its expiry or
 * with its holder process.
 */
int rg_cache_lease_acquire(struct rg_cache *c, const char *key, int64_t ttl, uint64_t *token);
int rg_cache_lease_release(struct rg_cache *c, const char *key, uint64_t token);

/*
 * Concurrency slots: nslots leases named "prefix#0" .. "prefix#N-1", taken
 * in one write transaction. RG_LEASE_WON with *slot and *token set, or
 * RG_LEASE_HELD when every slot is taken by a live holder.
 */
int rg_cache_slot_acquire(struct rg_cache *c, const char *prefix, int nslots, int64_t ttl,
    int *slot, uint64_t *token);
int rg_cache_slot_release(struct rg_cache *c, const char *prefix, int slot, uint64_t token);

/*
 * The same for n pools at once, in one write transaction: either a slot in
 * every pool (RG_LEASE_WON, one token for all) or none (RG_LEASE_HELD).
 */
#define RG_CACHE_SLOT_POOLS	4
int rg_cache_slots_acquire(struct rg_cache *c, const char *const *prefixes, const int *nslots,
    int n, int64_t ttl, int *slots, uint64_t *token);
int rg_cache_slots_release(struct rg_cache *c, const char *const *prefixes, const int *slots,
    int n, uint64_t token);

/*
 * rg_cache_bucket_take - a token bucket shared by every process: rate tokens
 * per minute, at most burst stored. RG_CACHE_OK when a token was taken;
 * RG_CACHE_NOTFOUND when none is left, with *wait_ms until the next one.
 */
int rg_cache_bucket_take(struct rg_cache *c, const char *key, int64_t rate_per_min,
    int64_t burst, int64_t *wait_ms);

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
 * write transaction (a lease of this process taken and given back).
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

#endif /* RG_CACHE_H */
