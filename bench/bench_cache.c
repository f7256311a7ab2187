/*
 * bench_cache.c - cache get/put throughput of rg_cache against raw LMDB.
 *
 * The reference is the least work LMDB can do for the same job in the same
 * process: for gets, a renewed read transaction and one mdb_get of the same
 * encoded records; for puts, one write transaction per mdb_put with the same
 * environment flags (MDB_NOSYNC | MDB_NOTLS | MDB_NOSUBDIR). rg_cache adds
 * key checks, the map lock, the reader pool, record decoding and the
 * freshness state. Runs alternate subject and reference; the median of each
 * is reported with the ratio, so machine noise hits both sides alike.
 *
 * usage: bench_cache [RECORDS] [LOOKUPS] [ROUNDS]
 */
#include "rg_build.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "rcptguard/record.h"
#include "rcptguard/cache.h"
#include "rcptguard/store.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"
#include "bench_util.h"

static void
bench_key(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "user%08u@domain%04u.example", i, i % 997);
}

static void
bench_verdict(struct rg_verdict *v, unsigned i)
{
	rg_verdict_init(v, i % 3 ? RG_CLASS_DELIVERABLE : RG_CLASS_UNDELIVERABLE,
	    i % 3 ? RG_REASON_ACCEPTED : RG_REASON_NO_MAILBOX);
	v->v_code = i % 3 ? 250 : 550;
	strcpy(v->v_dsn, i % 3 ? "2.1.5" : "5.1.1");
	strcpy(v->v_mx, "mx1.mail.example.net");
	rg_verdict_set_text(v, "2.1.5 Ok", 8);
	v->v_checked_at = rg_clock_now();
	v->v_refresh_at = v->v_checked_at + 86400;
	v->v_expires_at = v->v_checked_at + 86400 * 31;
}

int
main(int argc, char **argv)
{
	unsigned records = argc > 1 ? (unsigned)atoi(argv[1]) : 100000;
	unsigned lookups = argc > 2 ? (unsigned)atoi(argv[2]) : 1000000;
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	unsigned puts = records / 4;
	char dir[] = "/tmp/rg-bench-XXXXXX", rawpath[256], err[512], key[128];
	double rg_get[16], raw_get[16], rg_put[16], raw_put[16];
	struct rg_config cfg;
	struct rg_store *c;
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	unsigned *order;
	int status;
	volatile unsigned sink = 0;

	if (rounds > 16)
		rounds = 16;
	if (mkdtemp(dir) == NULL)
		return 1;
	rg_log_set_level(RG_LOG_ERROR);
	rg_config_defaults(&cfg);
	rg_strlcpy(cfg.state_dir, dir, sizeof(cfg.state_dir));
	cfg.map_size = 512 * 1048576LL;
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	snprintf(rawpath, sizeof(rawpath), "%s/raw.lmdb", dir);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_mapsize(env, 512 * 1048576UL);
	if (mdb_env_open(env, rawpath, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0600) != 0)
		return 1;
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "verdicts", MDB_CREATE, &dbi);
	mdb_txn_commit(txn);

	/* Load both with the same records. */
	for (unsigned i = 0; i < records; i++) {
		struct rg_verdict v;
		unsigned char buf[RG_RECORD_VERDICT_MAX];
		MDB_val k, d;

		bench_key(key, sizeof(key), i);
		bench_verdict(&v, i);
		rg_store_put(c, key, &v);
		k.mv_data = key;
		k.mv_size = strlen(key);
		d.mv_data = buf;
		d.mv_size = rg_record_verdict_encode(&v, buf, sizeof(buf));
		mdb_txn_begin(env, NULL, 0, &txn);
		mdb_put(txn, dbi, &k, &d, 0);
		mdb_txn_commit(txn);
	}
	order = malloc(sizeof(*order) * lookups);
	srand(1);
	for (unsigned i = 0; i < lookups; i++)
		order[i] = (unsigned)rand() % records;

	for (int r = 0; r < rounds; r++) {
		double t0;
		MDB_txn *rtxn = NULL;

		/* subject: gets */
		t0 = bench_now();
		for (unsigned i = 0; i < lookups; i++) {
			struct rg_verdict v;
			enum rg_verdict_state st;
			bench_key(key, sizeof(key), order[i]);
			if (rg_store_get(c, key, &v, &st) == RG_CACHE_OK)
				sink += v.v_code;
		}
		rg_get[r] = lookups / (bench_now() - t0);

		/* reference: gets */
		mdb_txn_begin(env, NULL, MDB_RDONLY, &rtxn);
		mdb_txn_reset(rtxn);
		t0 = bench_now();
		for (unsigned i = 0; i < lookups; i++) {
			MDB_val k, d;
			bench_key(key, sizeof(key), order[i]);
			k.mv_data = key;
			k.mv_size = strlen(key);
			mdb_txn_renew(rtxn);
			if (mdb_get(rtxn, dbi, &k, &d) == 0)
				sink += (unsigned)d.mv_size;
			mdb_txn_reset(rtxn);
		}
		raw_get[r] = lookups / (bench_now() - t0);
		mdb_txn_abort(rtxn);

		/* subject: puts, one transaction each */
		t0 = bench_now();
		for (unsigned i = 0; i < puts; i++) {
			struct rg_verdict v;
			bench_key(key, sizeof(key), order[i]);
			bench_verdict(&v, order[i]);
			rg_store_put(c, key, &v);
		}
		rg_put[r] = puts / (bench_now() - t0);

		/* reference: puts */
		t0 = bench_now();
		for (unsigned i = 0; i < puts; i++) {
			struct rg_verdict v;
			unsigned char buf[RG_RECORD_VERDICT_MAX];
			MDB_val k, d;
			bench_key(key, sizeof(key), order[i]);
			bench_verdict(&v, order[i]);
			k.mv_data = key;
			k.mv_size = strlen(key);
			d.mv_data = buf;
			d.mv_size = rg_record_verdict_encode(&v, buf, sizeof(buf));
			mdb_txn_begin(env, NULL, 0, &txn);
			mdb_put(txn, dbi, &k, &d, 0);
			mdb_txn_commit(txn);
		}
		raw_put[r] = puts / (bench_now() - t0);
	}
	{
		double g = bench_median(rg_get, rounds), rg = bench_median(raw_get, rounds);
		double p = bench_median(rg_put, rounds), rp = bench_median(raw_put, rounds);
		printf("records=%u lookups=%u puts=%u rounds=%d\n", records, lookups, puts, rounds);
		printf("| operation | rg_cache ops/s | raw LMDB ops/s | ratio |\n");
		printf("|---|---:|---:|---:|\n");
		printf("| get (random hit) | %.0f | %.0f | %.2f |\n", g, rg, g / rg);
		printf("| put (1 txn each) | %.0f | %.0f | %.2f |\n", p, rp, p / rp);
	}
	(void)sink;
	free(order);
	rg_store_close(c);
	mdb_env_close(env);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}
