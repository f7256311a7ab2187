/*
 * test_cache.c - the LMDB cache, its store and its limits within one
 * process: verdict round trips, fresh/stale/expired with an injected clock,
 * leases, slots, buckets, domain records, incremental sweeping,
 * growth and eviction at the hard limit, and the distinct errors for a
 * missing, unreadable or corrupt cache file.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/limits.h"
#include "rcptguard/log.h"
#include "rcptguard/record.h"
#include "rcptguard/store.h"
#include "testutil.h"

struct fixture {
	char			*dir;
	struct rg_config	 cfg;
	struct rg_store		*cache;
};

/* test_slot_acquire - one pool of nslots slots named prefix. */
static enum rg_limit_status
test_slot_acquire(struct rg_store *s, const char *prefix, int nslots, int64_t ttl, int *slot,
    uint64_t *token)
{
	return rg_store_slots_acquire(s, &prefix, &nslots, 1, ttl, slot, token, NULL);
}

static enum rg_limit_status
test_slot_release(struct rg_store *s, const char *prefix, int slot, uint64_t token)
{
	return rg_store_slots_release(s, &prefix, &slot, 1, token, NULL);
}

/* test_rec - a record header of type with expiry exp at the start of rec, the rest zero. */
static struct rg_record_writer
test_rec(unsigned char *rec, size_t size, enum rg_record_type type, int64_t exp)
{
	struct rg_record_writer w;

	memset(rec, 0, size);
	rg_record_writer_init(&w, rec, size);
	rg_record_put_header(&w, type, 1, exp);
	return w;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];
	int status;

	f->dir = testutil_tmpdir();
	testutil_config(&f->cfg, f->dir);
	testutil_now = 1800000000;
	rg_clock_set(testutil_clock, NULL);
	f->cache = rg_store_open(&f->cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	if (f->cache == NULL)
		fail_msg("open: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rg_store_close(f->cache);
	rg_clock_set(NULL, NULL);
	testutil_rmdir(f->dir);
	free(f);
	return 0;
}

static void
make_verdict(struct rg_verdict *v, enum rg_class c, enum rg_reason r)
{
	rg_verdict_init(v, c, r);
	v->v_code = c == RG_CLASS_DELIVERABLE ? 250 : 550;
	strcpy(v->v_dsn, c == RG_CLASS_DELIVERABLE ? "2.1.5" : "5.1.1");
	strcpy(v->v_mx, "mx.example.org");
}

static void
test_cache_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct rg_verdict v, got;
	enum rg_verdict_state st;

	make_verdict(&v, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX);
	rg_verdict_set_text(&v, "user unknown", 12);
	rg_store_stamp(f->cache, &v, 0);
	assert_int_equal(rg_store_put(f->cache, "ghost@example.org", &v), RG_CACHE_OK);
	assert_int_equal(rg_store_get(f->cache, "ghost@example.org", &got, &st), RG_CACHE_OK);
	assert_int_equal(st, RG_STATE_FRESH);
	assert_int_equal(got.v_class, RG_CLASS_UNDELIVERABLE);
	assert_int_equal(got.v_reason, RG_REASON_NO_MAILBOX);
	assert_string_equal(got.v_text, "user unknown");
	assert_true(got.v_checked_at == testutil_now);
	assert_int_equal(rg_store_get(f->cache, "other@example.org", &got, &st), RG_CACHE_NOTFOUND);
	/* Overwrite. */
	make_verdict(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	rg_store_stamp(f->cache, &v, 0);
	assert_int_equal(rg_store_put(f->cache, "ghost@example.org", &v), RG_CACHE_OK);
	assert_int_equal(rg_store_get(f->cache, "ghost@example.org", &got, NULL), RG_CACHE_OK);
	assert_int_equal(got.v_class, RG_CLASS_DELIVERABLE);
	/* Delete. */
	assert_int_equal(rg_store_del(f->cache, "ghost@example.org"), RG_CACHE_OK);
	assert_int_equal(rg_store_del(f->cache, "ghost@example.org"), RG_CACHE_NOTFOUND);
	assert_int_equal(rg_store_get(f->cache, "ghost@example.org", &got, NULL), RG_CACHE_NOTFOUND);
	/* Bad keys are refused, not truncated. */
	{
		char big[RG_CACHE_KEY_MAX + 2];
		memset(big, 'k', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(rg_store_put(f->cache, big, &v), RG_CACHE_EINVAL);
		assert_int_equal(rg_store_put(f->cache, "", &v), RG_CACHE_EINVAL);
	}
}

/* test_cache_ttl_states - fresh, then stale at the refresh age, then expired. */
static void
test_cache_ttl_states(void **state)
{
	struct fixture *f = *state;
	static const struct {
		enum rg_class c;
		enum rg_reason r;
		int64_t refresh, ttl;
	} rows[] = {
		{ RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED, 7 * 86400, 31 * 86400 },
		{ RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, 3 * 3600, 3 * 86400 },
		{ RG_CLASS_RISKY, RG_REASON_CATCH_ALL, 86400, 7 * 86400 },
		{ RG_CLASS_UNKNOWN, RG_REASON_TIMEOUT, 300, 3600 },
	};
	const int64_t t0 = testutil_now;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rg_verdict v, got;
		enum rg_verdict_state st;
		char key[64];

		testutil_now = t0;
		snprintf(key, sizeof(key), "row%zu@example.org", i);
		make_verdict(&v, rows[i].c, rows[i].r);
		rg_store_stamp(f->cache, &v, 0);
		assert_int_equal(rg_store_put(f->cache, key, &v), RG_CACHE_OK);

		testutil_now = t0 + rows[i].refresh - 1;
		assert_int_equal(rg_store_get(f->cache, key, &got, &st), RG_CACHE_OK);
		assert_int_equal(st, RG_STATE_FRESH);
		testutil_now = t0 + rows[i].refresh;
		assert_int_equal(rg_store_get(f->cache, key, &got, &st), RG_CACHE_OK);
		assert_int_equal(st, RG_STATE_STALE);
		testutil_now = t0 + rows[i].ttl - 1;
		assert_int_equal(rg_store_get(f->cache, key, &got, &st), RG_CACHE_OK);
		assert_int_equal(st, RG_STATE_STALE);
		testutil_now = t0 + rows[i].ttl;
		assert_int_equal(rg_store_get(f->cache, key, &got, &st), RG_CACHE_OK);
		assert_int_equal(st, RG_STATE_EXPIRED);
	}
	testutil_now = t0;
}

static void
test_cache_ttl_overrides(void **state)
{
	struct fixture *f = *state;
	struct rg_config cfg;
	struct rg_store *c;
	struct rg_verdict v;
	char err[512];
	int status;

	/* The fixture's handle must go: one environment per process. */
	rg_store_close(f->cache);
	assert_int_equal(rg_config_parse_string(&cfg,
	    "[cache]\nreason_ttl = greylisted=20m\nreason_refresh = greylisted=2m\n", "t", err,
	    sizeof(err)), 0);
	rg_strlcpy(cfg.state_dir, f->dir, sizeof(cfg.state_dir));
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	assert_non_null(c);
	make_verdict(&v, RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED);
	rg_store_stamp(c, &v, 0);
	assert_true(v.v_refresh_at - v.v_checked_at == 120);
	assert_true(v.v_expires_at - v.v_checked_at == 1200);
	/* Another unknown reason keeps the class values. */
	make_verdict(&v, RG_CLASS_UNKNOWN, RG_REASON_TIMEOUT);
	rg_store_stamp(c, &v, 0);
	assert_true(v.v_expires_at - v.v_checked_at == 3600);
	/* An explicit TTL wins, and caps the refresh. */
	make_verdict(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	rg_store_stamp(c, &v, 60);
	assert_true(v.v_expires_at - v.v_checked_at == 60);
	assert_true(v.v_refresh_at - v.v_checked_at == 60);
	f->cache = c;
}

static void
test_cache_lease(void **state)
{
	struct fixture *f = *state;
	uint64_t t1 = 0, t2 = 0;

	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t1, NULL), RG_LIMIT_OK);
	assert_true(t1 != 0);
	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t2, NULL), RG_LIMIT_HELD);
	/* Only the holder can release. */
	assert_int_equal(rg_store_lease_release(f->cache, "a@example.org", t1 + 1, NULL), RG_LIMIT_HELD);
	assert_int_equal(rg_store_lease_release(f->cache, "a@example.org", t1, NULL), RG_LIMIT_OK);
	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t2, NULL), RG_LIMIT_OK);
	assert_true(t2 != t1);
	/* Expiry: 59 s later it is held, 60 s later it is free. */
	testutil_now += 59;
	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t1, NULL), RG_LIMIT_HELD);
	testutil_now += 1;
	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t1, NULL), RG_LIMIT_OK);
	/* The old holder's release no longer touches the new lease. */
	assert_int_equal(rg_store_lease_release(f->cache, "a@example.org", t2, NULL), RG_LIMIT_HELD);
	assert_int_equal(rg_store_lease_acquire(f->cache, "a@example.org", 60, &t2, NULL), RG_LIMIT_HELD);
	/* A damaged lease (far-future expiry, wrong size) holds nothing. */
	{
		unsigned char rec[24];
		uint64_t tok = 0;
		struct rg_record_writer w = test_rec(rec, sizeof(rec), RG_RECORD_LEASE,
		    testutil_now + 10 * 365 * 86400LL);
		rg_record_put_u32(&w, 1);	/* pid 1: alive */
		assert_int_equal(rg_cache_raw_put(rg_store_cache(f->cache), RG_DB_LEASES, "far@example.org", rec,
		    sizeof(rec)), RG_CACHE_OK);
		assert_int_equal(rg_store_lease_acquire(f->cache, "far@example.org", 60, &tok, NULL),
		    RG_LIMIT_OK);
		w = test_rec(rec, sizeof(rec), RG_RECORD_LEASE, testutil_now + 60);
		rg_record_put_u32(&w, 1);
		assert_int_equal(rg_cache_raw_put(rg_store_cache(f->cache), RG_DB_LEASES, "short@example.org", rec,
		    20), RG_CACHE_OK);
		assert_int_equal(rg_store_lease_acquire(f->cache, "short@example.org", 60, &tok, NULL),
		    RG_LIMIT_OK);
	}
}

/* test_cache_lease_dead_holder - a lease dies with its holder process. */
static void
test_cache_lease_dead_holder(void **state)
{
	struct fixture *f = *state;
	uint64_t t;
	pid_t pid;
	int wst;

	rg_store_close(f->cache);
	f->cache = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512];
		int status;
		struct rg_store *c = rg_store_open(&f->cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
		uint64_t tok;
		_exit(c != NULL && rg_store_lease_acquire(c, "dead@example.org", 3600, &tok, NULL) ==
		    RG_LIMIT_OK ? 0 : 1);	/* exits holding the lease */
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	{
		char err[512];
		int status;
		f->cache = rg_store_open(&f->cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
		assert_non_null(f->cache);
	}
	/* Same clock as the child: only the dead holder frees it. */
	assert_int_equal(rg_store_lease_acquire(f->cache, "dead@example.org", 3600, &t, NULL), RG_LIMIT_OK);
}

static void
test_cache_sweep_incremental(void **state)
{
	struct fixture *f = *state;
	struct rg_cache_stats st;
	struct rg_config cfg = f->cfg;
	struct rg_store *c;
	uint64_t removed, total = 0;
	char err[512];
	int status, wrapped = 0, calls = 0;

	rg_store_close(f->cache);
	cfg.sweep_batch = 100;
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	assert_non_null(c);
	for (int i = 0; i < 1000; i++) {
		struct rg_verdict v;
		char key[64];
		snprintf(key, sizeof(key), "user%04d@example.org", i);
		make_verdict(&v, RG_CLASS_UNKNOWN, RG_REASON_TIMEOUT);
		rg_store_stamp(c, &v, i % 2 ? 60 : 7200);	/* odd ones expire first */
		assert_int_equal(rg_store_put(c, key, &v), RG_CACHE_OK);
	}
	for (int i = 0; i < 10; i++) {
		uint64_t tok;
		char key[64];
		snprintf(key, sizeof(key), "lease%d@example.org", i);
		assert_int_equal(rg_store_lease_acquire(c, key, 30, &tok, NULL), RG_LIMIT_OK);
	}
	testutil_now += 120;
	do {
		assert_int_equal(rg_cache_sweep(rg_store_cache(c), &removed, &wrapped), RG_CACHE_OK);
		/* One call never does more than one batch per database. */
		assert_true(removed <= 100 + 10);
		total += removed;
		calls++;
	} while (!wrapped && calls < 100);
	assert_true(wrapped);
	assert_true(calls >= 10);	/* 1000 records in batches of 100 */
	assert_int_equal(total, 500 + 10);
	assert_int_equal(rg_cache_stats(rg_store_cache(c), &st), RG_CACHE_OK);
	assert_int_equal(st.cs_entries[RG_DB_VERDICTS], 500);
	assert_int_equal(st.cs_entries[RG_DB_LEASES], 0);
	assert_int_equal(st.cs_by_state[RG_STATE_EXPIRED], 0);
	/* A second full pass finds nothing. */
	total = 0;
	do {
		assert_int_equal(rg_cache_sweep(rg_store_cache(c), &removed, &wrapped), RG_CACHE_OK);
		total += removed;
	} while (!wrapped);
	assert_int_equal(total, 0);
	f->cache = c;
}

/*
 * test_cache_full - a small map grows to its hard limit, then evicts
 * expired and oldest records; every put succeeds and recent records stay.
 */
static void
test_cache_full(void **state)
{
	struct fixture *f = *state;
	struct rg_config cfg = f->cfg;
	struct rg_cache_stats st;
	struct rg_store *c;
	struct rg_verdict v, got;
	char err[512], text[300];
	int status;
	const int n = 30000;

	rg_store_close(f->cache);
	cfg.map_size = 1048576;
	cfg.map_size_max = 4 * 1048576;
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	assert_non_null(c);
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "filler%06d@example.org", i);
		make_verdict(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
		rg_verdict_set_text(&v, text, strlen(text));
		testutil_now++;	/* each record younger than the last */
		rg_store_stamp(c, &v, 0);
		if (rg_store_put(c, key, &v) != RG_CACHE_OK)
			fail_msg("put %d failed", i);
	}
	assert_int_equal(rg_cache_stats(rg_store_cache(c), &st), RG_CACHE_OK);
	assert_true(st.cs_grows >= 1);
	assert_true(st.cs_evictions >= 1);
	assert_true(st.cs_map_size <= (uint64_t)cfg.map_size_max);
	assert_true(st.cs_entries[RG_DB_VERDICTS] < (uint64_t)n);
	assert_true(st.cs_entries[RG_DB_VERDICTS] > 1000);
	/* The newest record answers; the oldest was evicted. */
	{
		char key[64];
		snprintf(key, sizeof(key), "filler%06d@example.org", n - 1);
		assert_int_equal(rg_store_get(c, key, &got, NULL), RG_CACHE_OK);
		assert_int_equal(rg_store_get(c, "filler000000@example.org", &got, NULL),
		    RG_CACHE_NOTFOUND);
	}
	f->cache = c;
}

static int
open_status(const struct rg_config *cfg, unsigned flags)
{
	char err[512];
	int status = 12345;
	struct rg_store *c = rg_store_open(cfg, flags, &status, err, sizeof(err));

	if (c != NULL) {
		rg_store_close(c);
		return RG_CACHE_OK;
	}
	assert_true(err[0] != '\0');
	return status;
}

static void
test_cache_corrupt(void **state)
{
	struct fixture *f = *state;
	char path[RG_CONFIG_PATH_MAX];
	unsigned char junk[65536];
	FILE *fp;

	rg_store_close(f->cache);
	f->cache = NULL;
	assert_int_equal(rg_config_cache_path(&f->cfg, path, sizeof(path)), 0);
	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	assert_int_equal(open_status(&f->cfg, RG_CACHE_O_CREATE), RG_CACHE_ECORRUPT);
	assert_int_equal(open_status(&f->cfg, RG_CACHE_O_RDONLY), RG_CACHE_ECORRUPT);
	/* All zeros: still not an LMDB file. */
	memset(junk, 0, sizeof(junk));
	fp = fopen(path, "w");
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	assert_int_equal(open_status(&f->cfg, RG_CACHE_O_CREATE), RG_CACHE_ECORRUPT);
	/* A directory where the file should be. */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(open_status(&f->cfg, RG_CACHE_O_CREATE), RG_CACHE_ECORRUPT);
	rmdir(path);
}

static void
test_cache_missing(void **state)
{
	struct fixture *f = *state;
	struct rg_config cfg = f->cfg;
	char path[RG_CONFIG_PATH_MAX];

	rg_store_close(f->cache);
	f->cache = NULL;
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/no/such/dir", f->dir);
	assert_int_equal(open_status(&cfg, RG_CACHE_O_CREATE), RG_CACHE_EMISSING);
	/* Without O_CREATE, or read-only, a missing file is missing, not created. */
	assert_int_equal(rg_config_cache_path(&f->cfg, path, sizeof(path)), 0);
	unlink(path);
	assert_int_equal(open_status(&f->cfg, 0), RG_CACHE_EMISSING);
	assert_int_equal(open_status(&f->cfg, RG_CACHE_O_RDONLY), RG_CACHE_EMISSING);
	assert_int_equal(access(path, F_OK), -1);
}

/* test_cache_unreadable - permission denied is its own error. */
static void
test_cache_unreadable(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int wst;

	rg_store_close(f->cache);
	f->cache = NULL;
	assert_int_equal(chmod(f->dir, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* As root, become nobody so the 0700 directory really is closed;
		 * as anybody else, close it to ourselves. */
		if (geteuid() == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(99);
		} else if (chmod(f->dir, 0) < 0) {
			_exit(98);
		}
		_exit(open_status(&f->cfg, RG_CACHE_O_CREATE) == RG_CACHE_EACCESS ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	chmod(f->dir, 0700);
	assert_true(WIFEXITED(wst));
	assert_int_equal(WEXITSTATUS(wst), 0);
}

static void
test_cache_slots(void **state)
{
	struct fixture *f = *state;
	uint64_t tok[4];
	int slot[4], seen = 0;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(test_slot_acquire(f->cache, "m:192.0.2.1", 3, 60, &slot[i], &tok[i]),
		    RG_LIMIT_OK);
		seen |= 1 << slot[i];
	}
	assert_int_equal(seen, 7);	/* three different slots */
	assert_int_equal(test_slot_acquire(f->cache, "m:192.0.2.1", 3, 60, &slot[3], &tok[3]),
	    RG_LIMIT_HELD);
	/* Another address has its own slots. */
	assert_int_equal(test_slot_acquire(f->cache, "m:192.0.2.2", 3, 60, &slot[3], &tok[3]),
	    RG_LIMIT_OK);
	assert_int_equal(test_slot_release(f->cache, "m:192.0.2.1", slot[1], tok[1]), RG_LIMIT_OK);
	assert_int_equal(test_slot_acquire(f->cache, "m:192.0.2.1", 3, 60, &slot[3], &tok[3]),
	    RG_LIMIT_OK);
	assert_int_equal(slot[3], slot[1]);
	/* Slots expire like leases. */
	testutil_now += 61;
	assert_int_equal(test_slot_acquire(f->cache, "m:192.0.2.1", 3, 60, &slot[0], &tok[0]),
	    RG_LIMIT_OK);
}

static void
test_cache_bucket(void **state)
{
	struct fixture *f = *state;
	int64_t wait = 0;

	/* 60 per minute, burst 3: three at once, then one per second. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(rg_store_bucket_take(f->cache, "b:example.org", 60, 3, &wait, NULL), RG_LIMIT_OK);
	assert_int_equal(rg_store_bucket_take(f->cache, "b:example.org", 60, 3, &wait, NULL),
	    RG_LIMIT_EMPTY);
	assert_true(wait > 0 && wait <= 1000);
	/* Another domain has its own bucket. */
	assert_int_equal(rg_store_bucket_take(f->cache, "b:example.net", 60, 3, &wait, NULL), RG_LIMIT_OK);
	testutil_now += 2;
	assert_int_equal(rg_store_bucket_take(f->cache, "b:example.org", 60, 3, &wait, NULL), RG_LIMIT_OK);
	/* A long pause refills to the burst, not beyond. */
	testutil_now += 3600;
	for (int i = 0; i < 3; i++)
		assert_int_equal(rg_store_bucket_take(f->cache, "b:example.org", 60, 3, &wait, NULL), RG_LIMIT_OK);
	assert_int_equal(rg_store_bucket_take(f->cache, "b:example.org", 60, 3, &wait, NULL),
	    RG_LIMIT_EMPTY);
	/* One per minute: the wait says so. */
	assert_int_equal(rg_store_bucket_take(f->cache, "b:slow.example", 1, 1, &wait, NULL), RG_LIMIT_OK);
	assert_int_equal(rg_store_bucket_take(f->cache, "b:slow.example", 1, 1, &wait, NULL),
	    RG_LIMIT_EMPTY);
	assert_true(wait > 50000 && wait <= 60000);

	/*
	 * Damaged records (found by fuzz_records): negative or huge token
	 * counts and an update far in the future read as a full bucket; the
	 * wait is never out of its bounds and nothing overflows.
	 */
	{
		static const int64_t bad[][2] = {
			{ -5, 0 }, { INT64_MIN, 0 }, { INT64_MAX, 0 }, { 1000, INT64_MAX },
			{ 500, INT64_MIN }, { 4000000, 0 },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			unsigned char rec[28];
			struct rg_record_writer w = test_rec(rec, sizeof(rec), RG_RECORD_BUCKET,
			    testutil_now + 3600);
			rg_record_put_i64(&w, bad[i][0]);
			rg_record_put_i64(&w, bad[i][1]);
			assert_int_equal(rg_cache_raw_put(rg_store_cache(f->cache), RG_DB_LIMITS, "b:damaged.example",
			    rec, sizeof(rec)), RG_CACHE_OK);
			wait = -1;
			assert_int_equal(rg_store_bucket_take(f->cache, "b:damaged.example", 30, 10,
			    &wait, NULL), RG_LIMIT_OK);
		}
	}
}

static void
test_cache_domain_record(void **state)
{
	struct fixture *f = *state;
	struct rg_domain_record d = { 0 }, got;

	d.d_catch_all = RG_CATCH_ALL_YES;
	d.d_catch_all_until = testutil_now + 100;
	d.d_dns_reason = RG_REASON_NULL_MX;
	d.d_dns_until = testutil_now + 50;
	d.d_cooldown_until = testutil_now + 600;
	d.d_cooldown_level = 3;
	d.d_source_index = 2;
	d.d_rcpt_per_txn = 2;
	d.d_rcpt_per_session = 7;
	d.d_limits_until = testutil_now + 7 * 86400;
	assert_int_equal(rg_store_domain_put(f->cache, "example.org", &d), RG_CACHE_OK);
	assert_int_equal(rg_store_domain_get(f->cache, "example.org", &got), RG_CACHE_OK);
	assert_memory_equal(&got, &d, sizeof(d));
	assert_int_equal(rg_store_domain_get(f->cache, "example.net", &got), RG_CACHE_NOTFOUND);
	/* A cooldown level past the bound is a damaged record, never a shift count. */
	d.d_cooldown_level = RG_COOLDOWN_LEVEL_MAX;
	assert_int_equal(rg_store_domain_put(f->cache, "max.example", &d), RG_CACHE_OK);
	assert_int_equal(rg_store_domain_get(f->cache, "max.example", &got), RG_CACHE_OK);
	for (int level = RG_COOLDOWN_LEVEL_MAX + 1; level < 256; level += 37) {
		d.d_cooldown_level = (uint8_t)level;
		assert_int_equal(rg_store_domain_put(f->cache, "damaged.example", &d), RG_CACHE_OK);
		assert_int_equal(rg_store_domain_get(f->cache, "damaged.example", &got),
		    RG_CACHE_BADRECORD);
	}
}

struct retry_seen {
	int	n;
	char	first[64];
};

static int
retry_visit(const char *address, const struct rg_record_retry *t, void *arg)
{
	struct retry_seen *s = arg;

	if (s->n++ == 0)
		snprintf(s->first, sizeof(s->first), "%s/%u", address, t->rt_attempt);
	return 0;
}

/* Durable re-probes: stored, read, scanned by prefix, claimed once, by their owner's token. */
static void
test_cache_retry_records(void **state)
{
	struct fixture *f = *state;
	struct rg_record_retry t = {
		.rt_expires_at = testutil_now + 86400, .rt_due = testutil_now + 3, .rt_attempt = 2,
		.rt_reason = RG_REASON_GREYLISTED, .rt_source = 1, .rt_pid = 4242, .rt_token = 77,
	}, got;
	struct retry_seen seen = { 0 };
	uint64_t lease;
	int err = 0;

	assert_int_equal(rg_store_retry_put(f->cache, "gina@grey.example", &t, &err), RG_LIMIT_OK);
	assert_int_equal(rg_store_retry_get(f->cache, "gina@grey.example", &got), RG_CACHE_OK);
	assert_memory_equal(&got, &t, sizeof(t));
	assert_int_equal(rg_store_retry_get(f->cache, "hank@grey.example", &got), RG_CACHE_NOTFOUND);
	/* Leases of the same address and other keys of the database are not retries. */
	assert_int_equal(rg_store_lease_acquire(f->cache, "gina@grey.example", 60, &lease, &err),
	    RG_LIMIT_OK);
	assert_int_equal(rg_store_retry_scan(f->cache, retry_visit, &seen), RG_CACHE_OK);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.first, "gina@grey.example/2");
	/* Only its owner's token claims it, or a claim without a token. */
	assert_int_equal(rg_store_retry_claim(f->cache, "gina@grey.example", 78, &got, &err),
	    RG_LIMIT_HELD);
	assert_int_equal(rg_store_retry_claim(f->cache, "gina@grey.example", 77, &got, &err),
	    RG_LIMIT_OK);
	assert_int_equal(got.rt_due, t.rt_due);
	/* Once. */
	assert_int_equal(rg_store_retry_claim(f->cache, "gina@grey.example", 77, &got, &err),
	    RG_LIMIT_EMPTY);
	assert_int_equal(rg_store_retry_claim(f->cache, "gina@grey.example", 0, &got, &err),
	    RG_LIMIT_EMPTY);
	/* The lease was left alone. */
	assert_int_equal(rg_store_lease_release(f->cache, "gina@grey.example", lease, &err),
	    RG_LIMIT_OK);
	/* A damaged record is dropped by a claim, skipped by a scan. */
	{
		unsigned char bad[RG_RECORD_RETRY_LEN];
		size_t n = rg_record_retry_encode(&t, bad, sizeof(bad));
		bad[RG_RECORD_HDR + 10] = RG_REASON_COUNT;	/* the reason byte */
		assert_int_equal(rg_cache_raw_put(rg_store_cache(f->cache), RG_DB_LEASES,
		    "rt:bad@grey.example", bad, n), RG_CACHE_OK);
		seen.n = 0;
		assert_int_equal(rg_store_retry_scan(f->cache, retry_visit, &seen), RG_CACHE_OK);
		assert_int_equal(seen.n, 0);
		assert_int_equal(rg_store_retry_claim(f->cache, "bad@grey.example", 0, &got, &err),
		    RG_LIMIT_EMPTY);
		assert_int_equal(rg_store_retry_get(f->cache, "bad@grey.example", &got),
		    RG_CACHE_NOTFOUND);
	}
}

/* A version 1 domain record (before the recipient limits) still reads; a newer one does not. */
static void
test_cache_domain_record_v1(void **state)
{
	unsigned char buf[64];
	struct rg_record_writer w;
	struct rg_domain_record got;
	size_t len;

	(void)state;
	rg_record_writer_init(&w, buf, sizeof(buf));
	rg_record_put_header(&w, RG_RECORD_DOMAIN, 1, 1900000000);
	rg_record_put_u8(&w, RG_CATCH_ALL_NO);
	rg_record_put_i64(&w, 1900000000);
	rg_record_put_u8(&w, 0);
	rg_record_put_i64(&w, 0);
	rg_record_put_i64(&w, 1800000600);
	rg_record_put_u8(&w, 1);
	rg_record_put_u8(&w, 2);
	assert_true((len = rg_record_writer_end(&w)) > 0);
	assert_int_equal(rg_record_domain_decode(buf, len, &got), RG_RECORD_OK);
	assert_int_equal(got.d_catch_all, RG_CATCH_ALL_NO);
	assert_int_equal(got.d_cooldown_until, 1800000600);
	assert_int_equal(got.d_source_index, 1);
	assert_int_equal(got.d_cooldown_level, 2);
	assert_int_equal(got.d_rcpt_per_txn, 0);
	assert_int_equal(got.d_rcpt_per_session, 0);
	assert_int_equal(got.d_limits_until, 0);
	/* Version 1 with the fields of version 2 appended is damaged, not misread. */
	rg_record_put_u16(&w, 2);
	rg_record_put_u16(&w, 1);
	rg_record_put_i64(&w, 1900000000);
	assert_int_equal(rg_record_domain_decode(buf, rg_record_writer_end(&w), &got),
	    RG_RECORD_ECORRUPT);
	/* A version from the future is refused as such. */
	buf[3] = RG_RECORD_DOMAIN_VERSION + 1;
	assert_int_equal(rg_record_domain_decode(buf, rg_record_writer_end(&w), &got),
	    RG_RECORD_EVERSION);
	/* Version 2 cut short is damaged. */
	{
		struct rg_domain_record d = { 0 };
		unsigned char v2[RG_RECORD_DOMAIN_LEN];
		size_t n;

		d.d_rcpt_per_txn = 3;
		assert_int_equal(n = rg_record_domain_encode(&d, v2, sizeof(v2)),
		    RG_RECORD_DOMAIN_LEN);
		assert_int_equal(rg_record_domain_decode(v2, n - 1, &got), RG_RECORD_ECORRUPT);
		assert_int_equal(rg_record_domain_decode(v2, n, &got), RG_RECORD_OK);
		assert_int_equal(got.d_rcpt_per_txn, 3);
	}
}

/*
 * test_cache_full_domains - domain records and token buckets of ever new
 * domains (random subdomains of a wildcard) fill the map too: at the hard
 * limit they are evicted as verdicts are, and every write succeeds.
 */
static void
test_cache_full_domains(void **state)
{
	struct fixture *f = *state;
	struct rg_config cfg = f->cfg;
	struct rg_cache_stats st;
	struct rg_domain_record d = { 0 };
	struct rg_store *c;
	char err[512];
	int status;
	const int n = 40000;

	rg_store_close(f->cache);
	cfg.map_size = 1048576;
	cfg.map_size_max = 4 * 1048576;
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	assert_non_null(c);
	for (int i = 0; i < n; i++) {
		char dom[96], key[128];
		int64_t wait;
		snprintf(dom, sizeof(dom), "x%06d.a-rather-long-wildcard-domain-name.example", i);
		testutil_now++;
		d.d_catch_all = RG_CATCH_ALL_NO;
		d.d_catch_all_until = testutil_now + 86400;
		if (rg_store_domain_put(c, dom, &d) != RG_CACHE_OK)
			fail_msg("domain put %d failed", i);
		snprintf(key, sizeof(key), "b:%s", dom);
		if (rg_store_bucket_take(c, key, 30, 10, &wait, NULL) != RG_LIMIT_OK)
			fail_msg("bucket %d failed", i);
	}
	assert_int_equal(rg_cache_stats(rg_store_cache(c), &st), RG_CACHE_OK);
	assert_true(st.cs_evictions >= 1);
	assert_true(st.cs_entries[RG_DB_DOMAINS] < (uint64_t)n);
	assert_true(st.cs_entries[RG_DB_LIMITS] < (uint64_t)n);
	assert_true(st.cs_map_size <= (uint64_t)cfg.map_size_max);
	/* The newest domain is kept; the oldest made room. */
	{
		struct rg_domain_record got;
		char dom[96];
		snprintf(dom, sizeof(dom), "x%06d.a-rather-long-wildcard-domain-name.example", n - 1);
		assert_int_equal(rg_store_domain_get(c, dom, &got), RG_CACHE_OK);
		assert_int_equal(rg_store_domain_get(c,
		    "x000000.a-rather-long-wildcard-domain-name.example", &got), RG_CACHE_NOTFOUND);
	}
	f->cache = c;
}

static int
count_visit(const char *key, const struct rg_verdict *v, void *arg)
{
	int *n = arg;
	(void)key;
	assert_non_null(v);
	return ++*n >= 3;	/* stop after three */
}

static void
test_cache_foreach(void **state)
{
	struct fixture *f = *state;
	struct rg_verdict v;
	int n = 0;

	for (int i = 0; i < 5; i++) {
		char key[32];
		snprintf(key, sizeof(key), "u%d@example.org", i);
		make_verdict(&v, RG_CLASS_RISKY, RG_REASON_CATCH_ALL);
		rg_store_stamp(f->cache, &v, 0);
		assert_int_equal(rg_store_put(f->cache, key, &v), RG_CACHE_OK);
	}
	assert_int_equal(rg_store_foreach(f->cache, count_visit, &n), RG_CACHE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rg_cache_purge_all(rg_store_cache(f->cache)), RG_CACHE_OK);
	n = 0;
	assert_int_equal(rg_store_foreach(f->cache, count_visit, &n), RG_CACHE_OK);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_ttl_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_ttl_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_lease_dead_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_sweep_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_domain_record, setup, teardown),
		cmocka_unit_test(test_cache_domain_record_v1),
		cmocka_unit_test_setup_teardown(test_cache_retry_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_full_domains, setup, teardown),
	};
	rg_log_set_level(RG_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
