/*
 * test_engine.c - the engine on a real event loop with a real cache: no
 * probe without a working cache (a corrupt file, an injected failure of a
 * read, a lease, a token bucket, a slot), recovery on its own once the
 * cache works again, the caps on waiters and probe jobs, and jobs waiting
 * for a concurrency slot without a write transaction per job per tick.
 *
 * The resolver is a UDP socket of the test that never answers, so a probe
 * that gets as far as DNS waits; MX data for the slot case is put in the
 * cache, pointing at a TCP listener of the test on port 25 that never
 * greets. Port 25 needs root: the test then runs in a network namespace of
 * its own (unshare); without root the wake-up case is not run (and says
 * so), and with RG_REQUIRE_LAB=1 that is a failure.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rcptguard/record.h"
#include "rcptguard/cache.h"
#include "rcptguard/store.h"
#include "rcptguard/clock.h"
#include "rcptguard/dns.h"
#include "rcptguard/engine.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"
#include "testutil.h"

static int own_netns;	/* in a network namespace of our own: port 25 is ours */

struct fixture {
	char			*dir;
	struct rg_config	 cfg;
	struct event_base	*base;
	struct rg_engine	*e;
	int			 dns_fd;	/* UDP: takes queries, never answers */
	int			 tarpit_fd;	/* TCP: accepts into its backlog, never greets */
	int			 tarpit_port;
};

#define MAX_ANSWERS 64

static struct rg_answer answers[MAX_ANSWERS];
static int nanswers;

static void
on_answer(const struct rg_answer *ans, void *arg)
{
	(void)arg;
	if (nanswers < MAX_ANSWERS)
		answers[nanswers] = *ans;
	nanswers++;
}

/* bound_socket - a socket of type on 127.0.0.1:*port (0: chosen by the kernel). */
static int
bound_socket(int type, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)*port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
fixture_config(struct fixture *f)
{
	int port = 0;

	f->dir = testutil_tmpdir();
	testutil_config(&f->cfg, f->dir);
	f->dns_fd = bound_socket(SOCK_DGRAM, &port);
	snprintf(f->cfg.dns_servers, sizeof(f->cfg.dns_servers), "127.0.0.1:%d", port);
	f->cfg.dns_timeout = 30;
	f->cfg.dns_tries = 1;
	f->tarpit_port = 0;
	f->tarpit_fd = bound_socket(SOCK_STREAM, &f->tarpit_port);
	assert_int_equal(listen(f->tarpit_fd, 128), 0);
	rg_strlcpy(f->cfg.probe_allow_networks, "127.0.0.0/8", sizeof(f->cfg.probe_allow_networks));
	f->cfg.providers_file[0] = '\0';
	f->cfg.disposable_domains_file[0] = '\0';
	f->cfg.role_accounts_file[0] = '\0';
	f->cfg.catch_all_check = 0;
	f->cfg.domain_rate = 100000;
	f->cfg.domain_burst = 100000;
}

static void
fixture_start(struct fixture *f)
{
	char err[512];

	f->base = event_base_new();
	assert_non_null(f->base);
	f->e = rg_engine_new(f->base, &f->cfg, err, sizeof(err));
	if (f->e == NULL)
		fail_msg("engine: %s", err);
	nanswers = 0;
}

static void
fixture_end(struct fixture *f)
{
	rg_engine_free(f->e);
	event_base_free(f->base);
	close(f->dns_fd);
	close(f->tarpit_fd);
	testutil_rmdir(f->dir);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* run_until - turn the loop until *flag holds, at most secs; fails loudly on timeout. */
#define run_until(f, cond, secs, what) do {					\
	int64_t until_ = mono_ms() + (secs) * 1000;				\
	while (!(cond) && mono_ms() < until_)					\
		event_base_loop((f)->base, EVLOOP_ONCE | EVLOOP_NONBLOCK),	\
		    usleep(2000);						\
	if (!(cond))								\
		fail_msg("timed out after %ds waiting for %s", (secs), (what));	\
} while (0)

static void
lookup(struct fixture *f, const char *addr, int64_t wait_ms)
{
	assert_int_equal(rg_engine_lookup(f->e, addr, strlen(addr), 0, wait_ms, on_answer, NULL), 0);
}

static struct rg_engine_counters
counters(struct fixture *f)
{
	struct rg_engine_counters c;

	rg_engine_counters(f->e, &c);
	return c;
}

/* A corrupt cache: no probe, fail_mode at once; it recovers once the file is good. */
static void
test_engine_corrupt_cache(void **state)
{
	struct fixture f;
	char path[1200];
	unsigned char junk[65536];
	int fd;

	(void)state;
	fixture_config(&f);
	snprintf(path, sizeof(path), "%s/cache.lmdb", f.dir);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	fixture_start(&f);
	assert_null(rg_engine_store(f.e));
	assert_true(rg_engine_cache_status(f.e) < 0);

	for (int i = 0; i < 3; i++) {
		char a[64];
		snprintf(a, sizeof(a), "user%d@nowhere.example", i);
		lookup(&f, a, 2000);
	}
	assert_int_equal(nanswers, 3);	/* at once, not after the budget */
	for (int i = 0; i < 3; i++) {
		assert_true(answers[i].an_cache_status < 0);
		assert_int_not_equal(answers[i].an_source, RG_ANSWER_PROBE);
	}
	assert_int_equal(counters(&f).ec_probes, 0);
	assert_int_equal(counters(&f).ec_fail_mode, 3);
	assert_int_equal(rg_engine_busy(f.e), 0);

	/* The admin removes the damaged file: the engine opens a new one by itself. */
	assert_int_equal(unlink(path), 0);
	run_until(&f, rg_engine_cache_status(f.e) == RG_CACHE_OK, 20, "the cache to reopen");
	assert_non_null(rg_engine_store(f.e));
	lookup(&f, "again@nowhere.example", 50);
	run_until(&f, nanswers == 4, 10, "the lookup after recovery");
	assert_int_equal(answers[3].an_cache_status, RG_CACHE_OK);
	assert_int_equal(counters(&f).ec_probes, 1);
	fixture_end(&f);
}

/*
 * One transient failure of each kind: the lookup follows fail_mode without
 * a probe, then the engine finds the cache working and verifies again,
 * without a reload.
 */
static void
engine_transient(unsigned kinds, int mdb_rc, const char *what)
{
	struct fixture f;

	fixture_config(&f);
	fixture_start(&f);
	assert_int_equal(rg_engine_cache_status(f.e), RG_CACHE_OK);
	rg_cache_fault(rg_store_cache(rg_engine_store(f.e)), kinds, mdb_rc, 1);
	lookup(&f, "first@nowhere.example", 2000);
	if (nanswers != 1)
		fail_msg("%s: not answered at once", what);
	if (answers[0].an_cache_status >= 0 || answers[0].an_source == RG_ANSWER_PROBE)
		fail_msg("%s: answered as if the cache worked", what);
	assert_int_equal(counters(&f).ec_probes, 0);
	assert_true(rg_engine_cache_status(f.e) < 0);
	/* While it is failed, a miss still follows fail_mode and starts nothing. */
	lookup(&f, "second@nowhere.example", 2000);
	assert_int_equal(nanswers, 2);
	assert_true(answers[1].an_cache_status < 0);
	assert_int_equal(counters(&f).ec_probes, 0);
	run_until(&f, rg_engine_cache_status(f.e) == RG_CACHE_OK, 20, what);
	lookup(&f, "third@nowhere.example", 50);
	run_until(&f, nanswers == 3, 10, "the lookup after recovery");
	assert_int_equal(answers[2].an_cache_status, RG_CACHE_OK);
	assert_int_equal(counters(&f).ec_probes, 1);
	fixture_end(&f);
}

static void
test_engine_readers_full(void **state)
{
	(void)state;
	engine_transient(RG_CACHE_FAULT_READ, MDB_READERS_FULL, "reader slots full");
}

static void
test_engine_read_eio(void **state)
{
	(void)state;
	engine_transient(RG_CACHE_FAULT_READ, EIO, "EIO on a read");
}

static void
test_engine_lease_eio(void **state)
{
	(void)state;
	engine_transient(RG_CACHE_FAULT_WRITE, EIO, "EIO on the lease");
}

/*
 * What the cache handles itself is no failure: MDB_MAP_RESIZED (another
 * process grew the map) and MDB_MAP_FULL below the hard limit (the map grows).
 */
static void
engine_handled(unsigned kinds, int mdb_rc, int count)
{
	struct fixture f;

	fixture_config(&f);
	fixture_start(&f);
	rg_cache_fault(rg_store_cache(rg_engine_store(f.e)), kinds, mdb_rc, count);
	lookup(&f, "resized@nowhere.example", 50);
	run_until(&f, nanswers == 1, 10, "the answer");
	assert_int_equal(answers[0].an_cache_status, RG_CACHE_OK);
	assert_int_equal(rg_engine_cache_status(f.e), RG_CACHE_OK);
	assert_int_equal(counters(&f).ec_probes, 1);
	assert_int_equal(counters(&f).ec_fail_mode, 0);
	fixture_end(&f);
}

static void
test_engine_map_resized(void **state)
{
	(void)state;
	engine_handled(RG_CACHE_FAULT_READ | RG_CACHE_FAULT_WRITE, MDB_MAP_RESIZED, 2);
}

static void
test_engine_map_full(void **state)
{
	(void)state;
	engine_handled(RG_CACHE_FAULT_WRITE, MDB_MAP_FULL, 1);
}

/* The domain's token bucket fails when the job starts: the job ends, nothing connects. */
static void
test_engine_bucket_fails(void **state)
{
	struct fixture f;

	(void)state;
	fixture_config(&f);
	fixture_start(&f);
	lookup(&f, "bucket@nowhere.example", 5000);
	assert_int_equal(nanswers, 0);
	assert_int_equal(counters(&f).ec_probes, 1);
	/* The lease is taken; the job starts on the next turn, with the bucket. */
	rg_cache_fault(rg_store_cache(rg_engine_store(f.e)), RG_CACHE_FAULT_WRITE, EIO, 1);
	run_until(&f, nanswers == 1, 10, "the answer");
	assert_true(answers[0].an_cache_status < 0);
	assert_int_equal(answers[0].an_verdict.v_reason, RG_REASON_TEMP_FAILURE);
	assert_true(rg_engine_cache_status(f.e) < 0);
	run_until(&f, rg_engine_busy(f.e) == 0, 10, "the waiter to go");
	run_until(&f, rg_engine_cache_status(f.e) == RG_CACHE_OK, 20, "recovery");
	fixture_end(&f);
}

/* put_mx - MX data for domain in the cache: one host, 127.0.0.1. */
static void
put_mx(struct fixture *f, const char *domain)
{
	struct rg_mx_result mx;
	struct sockaddr_in *sin;
	unsigned char buf[RG_RECORD_MX_MAX];
	char key[300];
	size_t n;

	memset(&mx, 0, sizeof(mx));
	mx.m_status = RG_DNS_OK;
	mx.m_nhosts = 1;
	mx.m_ttl = 3600;
	rg_strlcpy(mx.m_hosts[0].h_name, "tarpit.example", sizeof(mx.m_hosts[0].h_name));
	mx.m_hosts[0].h_pref = 10;
	mx.m_hosts[0].h_naddrs = 1;
	sin = (struct sockaddr_in *)&mx.m_hosts[0].h_addrs[0];
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((uint16_t)f->tarpit_port);
	mx.m_hosts[0].h_addrlens[0] = sizeof(*sin);
	n = rg_record_mx_encode(&mx, rg_clock_now() + 3600, buf, sizeof(buf));
	assert_true(n > 0);
	snprintf(key, sizeof(key), "mx:%s", domain);
	assert_int_equal(rg_cache_raw_put(rg_store_cache(rg_engine_store(f->e)), RG_DB_DOMAINS, key, buf, n),
	    RG_CACHE_OK);
}

/* wait_jobs - forty domains behind one MX, a lookup each; none may be answered yet. */
static void
wait_jobs(struct fixture *f)
{
	for (int i = 0; i < 40; i++) {
		char d[64], a[80];
		snprintf(d, sizeof(d), "d%d.tarpit.example", i);
		put_mx(f, d);
		snprintf(a, sizeof(a), "user@%s", d);
		lookup(f, a, 100000);
	}
	assert_int_equal(counters(f).ec_probes, 40);
}

/*
 * Another process holds the one slot of the MX: forty jobs wait for it
 * with a few write transactions in all, not one per job every 100 ms
 * (1,200 in 3 s). Nothing connects: the slot never frees.
 */
static void
test_engine_slot_wait(void **state)
{
	const char *prefixes[2] = { "g", "m:127.0.0.1" };
	struct fixture f;
	int nslots[2], slots[2];
	uint64_t token, before, writes;
	int64_t end;

	(void)state;
	fixture_config(&f);
	f.cfg.mx_concurrency = 1;
	fixture_start(&f);
	nslots[0] = (int)f.cfg.global_concurrency;
	nslots[1] = 1;
	assert_int_equal(rg_store_slots_acquire(rg_engine_store(f.e), prefixes, nslots, 2, 600,
	    slots, &token, NULL), RG_LIMIT_OK);
	wait_jobs(&f);
	before = rg_cache_writes(rg_store_cache(rg_engine_store(f.e)));
	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(2000);
	}
	writes = rg_cache_writes(rg_store_cache(rg_engine_store(f.e))) - before;
	assert_int_equal(nanswers, 0);
	/* Per job: a bucket and a domain record once; then one attempt per pass. */
	if (writes > 140)
		fail_msg("%llu write transactions in 3 s for 40 waiting jobs",
		    (unsigned long long)writes);
	fixture_end(&f);
}

/*
 * The same behind an MX of the test that never greets, one session at a
 * time: when the session ends at its greeting timeout, the slot it frees
 * wakes the next job at once, not at the next poll. Needs port 25.
 */
static void
test_engine_slot_wake(void **state)
{
	struct fixture f;
	int64_t t_first;

	(void)state;
	fixture_config(&f);
	close(f.tarpit_fd);
	f.tarpit_port = 25;
	f.tarpit_fd = bound_socket(SOCK_STREAM, &f.tarpit_port);
	assert_int_equal(listen(f.tarpit_fd, 128), 0);
	f.cfg.mx_concurrency = 1;
	f.cfg.greeting_timeout = 2;
	f.cfg.connect_timeout = 2;
	fixture_start(&f);
	wait_jobs(&f);
	run_until(&f, nanswers >= 1, 30, "the first session to time out");
	t_first = mono_ms();
	assert_int_equal(answers[0].an_verdict.v_reason, RG_REASON_TIMEOUT);
	/* The second session started when the first ended: it ends a timeout later. */
	run_until(&f, nanswers >= 2, 30, "the second session to time out");
	if (mono_ms() - t_first > 2000 + 1500)
		fail_msg("the next job waited %lld ms past the greeting timeout",
		    (long long)(mono_ms() - t_first - 2000));
	assert_int_equal(answers[1].an_verdict.v_reason, RG_REASON_TIMEOUT);
	fixture_end(&f);
}

/* Without root the wake-up case cannot have port 25; CI requires it. */
static void
test_engine_slot_wake_required(void **state)
{
	(void)state;
	fail_msg("test_engine_slot_wake needs root (a network namespace with port 25) "
	    "and RG_REQUIRE_LAB=1");
}

/* Past max_waiters, max_domain_jobs and max_probe_jobs: answered at once, counted. */
static void
test_engine_caps(void **state)
{
	struct fixture f;

	(void)state;
	fixture_config(&f);
	f.cfg.max_waiters = 2;
	fixture_start(&f);
	lookup(&f, "a@one.example", 10000);
	lookup(&f, "b@two.example", 10000);
	assert_int_equal(nanswers, 0);
	lookup(&f, "c@three.example", 10000);
	assert_int_equal(nanswers, 1);
	assert_int_equal(answers[0].an_verdict.v_reason, RG_REASON_IN_PROGRESS);
	assert_int_equal(answers[0].an_cache_status, RG_CACHE_OK);
	assert_int_equal(counters(&f).ec_overload, 1);
	assert_int_equal(counters(&f).ec_probes, 2);
	fixture_end(&f);

	fixture_config(&f);
	f.cfg.max_rcpt_per_session = 1;
	f.cfg.max_domain_jobs = 2;
	fixture_start(&f);
	lookup(&f, "a@same.example", 10000);
	lookup(&f, "b@same.example", 10000);
	lookup(&f, "c@same.example", 10000);
	lookup(&f, "d@other.example", 10000);
	assert_int_equal(nanswers, 1);
	assert_int_equal(answers[0].an_verdict.v_reason, RG_REASON_IN_PROGRESS);
	assert_string_equal(answers[0].an_address, "c@same.example");
	assert_int_equal(counters(&f).ec_overload, 1);
	assert_int_equal(counters(&f).ec_probes, 3);
	fixture_end(&f);

	fixture_config(&f);
	f.cfg.max_probe_jobs = 2;
	fixture_start(&f);
	for (int i = 0; i < 5; i++) {
		char a[64];
		snprintf(a, sizeof(a), "u@d%d.example", i);
		lookup(&f, a, 10000);
	}
	assert_int_equal(nanswers, 3);
	assert_int_equal(counters(&f).ec_overload, 3);
	assert_int_equal(counters(&f).ec_probes, 2);
	assert_int_equal(rg_engine_busy(f.e), 2);
	fixture_end(&f);
}

int
main(void)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_corrupt_cache),
		cmocka_unit_test(test_engine_readers_full),
		cmocka_unit_test(test_engine_read_eio),
		cmocka_unit_test(test_engine_lease_eio),
		cmocka_unit_test(test_engine_map_resized),
		cmocka_unit_test(test_engine_map_full),
		cmocka_unit_test(test_engine_bucket_fails),
		cmocka_unit_test(test_engine_slot_wait),
		cmocka_unit_test(test_engine_caps),
		cmocka_unit_test(test_engine_slot_wake),
	};
	const char *require = getenv("RG_REQUIRE_LAB");
	size_t ntests = RG_ARRAY_LEN(tests);

	/* As root: a network namespace with only loopback, where port 25 is free. */
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) {
		struct ifreq ifr;
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		memset(&ifr, 0, sizeof(ifr));
		rg_strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
		if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags |= IFF_UP;
			own_netns = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
		}
		if (s >= 0)
			close(s);
	}
	rg_log_init("test_engine", RG_LOG_STDERR);
	rg_log_set_level(RG_LOG_ERROR);
	if (!own_netns) {
		/* The last case needs port 25: not run (and said), or a failure in CI. */
		if (require != NULL && strcmp(require, "1") == 0)
			tests[ntests - 1].test_func = test_engine_slot_wake_required;
		else {
			fprintf(stderr, "# test_engine_slot_wake not run: it needs root\n");
			ntests--;
		}
	}
	return _cmocka_run_group_tests("tests", tests, ntests, NULL, NULL);
}
