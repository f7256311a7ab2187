/*
 * test_cache_procs.c - the cache across processes: lease exclusivity under
 * a race of 8 processes, a writer killed with SIGKILL in a loop of puts,
 * a map grown by another process, and reader slots of dead processes.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rcptguard/cache.h"
#include "rcptguard/store.h"
#include "rcptguard/log.h"
#include "testutil.h"

#define RACE_PROCS	8
#define RACE_KEYS	1000

static struct rg_store *
open_or_die(const struct rg_config *cfg)
{
	char err[512];
	int status;
	struct rg_store *c = rg_store_open(cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));

	if (c == NULL) {
		fprintf(stderr, "open: %s\n", err);
		_exit(90);
	}
	return c;
}

/* write_all / read_all: pipes carry small fixed records. */
static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * test_lease_race - 8 processes try every one of 1,000 keys in their own
 * order at the same time; each key must have exactly one winner. Winners
 * stay alive until everybody is done, since a lease dies with its holder.
 */
static void
test_lease_race(void **state)
{
	char *dir = testutil_tmpdir();
	struct rg_config cfg;
	int results[2], start[2], finish[2];
	pid_t pids[RACE_PROCS];
	int winners[RACE_KEYS] = { 0 };
	int32_t rec[2];
	(void)state;

	testutil_config(&cfg, dir);
	{	/* create the file once so the children race on leases, not on creation */
		struct rg_store *c = open_or_die(&cfg);
		rg_store_close(c);
	}
	assert_int_equal(pipe(results), 0);
	assert_int_equal(pipe(start), 0);
	assert_int_equal(pipe(finish), 0);
	for (int p = 0; p < RACE_PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct rg_store *c;
			int order[RACE_KEYS];
			char b;
			unsigned seed = (unsigned)p * 7919u + 1;

			close(results[0]);
			close(start[1]);
			close(finish[1]);
			c = open_or_die(&cfg);
			for (int i = 0; i < RACE_KEYS; i++)
				order[i] = i;
			for (int i = RACE_KEYS - 1; i > 0; i--) {
				int j = (int)(rand_r(&seed) % (unsigned)(i + 1)), t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
			if (read(start[0], &b, 1) < 0)	/* EOF when the parent says go */
				_exit(91);
			for (int i = 0; i < RACE_KEYS; i++) {
				char key[64];
				uint64_t tok;
				int rc;
				snprintf(key, sizeof(key), "race%04d@example.org", order[i]);
				rc = rg_store_lease_acquire(c, key, 600, &tok, NULL);
				if (rc < 0)
					_exit(92);
				if (rc == RG_LIMIT_OK) {
					int32_t r[2] = { p, order[i] };
					if (write_all(results[1], r, sizeof(r)) < 0)
						_exit(93);
				}
			}
			{
				int32_t r[2] = { p, -1 };
				if (write_all(results[1], r, sizeof(r)) < 0)
					_exit(94);
			}
			if (read(finish[0], &b, 1) < 0)
				_exit(95);
			rg_store_close(c);
			_exit(0);
		}
	}
	close(results[1]);
	close(start[0]);
	close(finish[0]);
	close(start[1]);	/* go */
	for (int done = 0; done < RACE_PROCS;) {
		ssize_t n = read_all(results[0], rec, sizeof(rec));
		if (n != (ssize_t)sizeof(rec))
			fail_msg("a racer died early (read %zd)", n);
		if (rec[1] < 0) {
			done++;
			continue;
		}
		assert_true(rec[1] >= 0 && rec[1] < RACE_KEYS);
		winners[rec[1]]++;
	}
	close(finish[1]);	/* everybody may go */
	for (int p = 0; p < RACE_PROCS; p++) {
		int wst;
		assert_int_equal(waitpid(pids[p], &wst, 0), pids[p]);
		assert_true(WIFEXITED(wst));
		assert_int_equal(WEXITSTATUS(wst), 0);
	}
	close(results[0]);
	for (int k = 0; k < RACE_KEYS; k++)
		if (winners[k] != 1)
			fail_msg("key %d has %d winners", k, winners[k]);
	testutil_rmdir(dir);
}

/*
 * test_kill9_writer - a writer puts records as fast as it can and reports
 * each committed index; it is killed with SIGKILL at a random moment. After
 * each kill the file opens, mdb_stat reads it cleanly, and every reported
 * record is there.
 */
static void
test_kill9_writer(void **state)
{
	char *dir = testutil_tmpdir();
	struct rg_config cfg;
	int32_t next = 0;
	unsigned seed = 1234;
	(void)state;

	testutil_config(&cfg, dir);
	for (int round = 0; round < 8; round++) {
		int fds[2];
		int32_t committed = -1, idx;
		pid_t pid;
		int wst;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct rg_store *c;
			close(fds[0]);
			c = open_or_die(&cfg);
			for (int32_t i = next; ; i++) {
				struct rg_verdict v;
				char key[64];
				snprintf(key, sizeof(key), "w%08d@example.org", i);
				rg_verdict_init(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
				rg_verdict_set_text(&v, "250 2.1.5 Ok", 12);
				rg_store_stamp(c, &v, 0);
				if (rg_store_put(c, key, &v) != RG_CACHE_OK)
					_exit(96);
				if (write_all(fds[1], &i, sizeof(i)) < 0)
					_exit(97);
			}
		}
		close(fds[1]);
		/*
		 * The first commit first (however slow a busy machine or valgrind
		 * makes the child's start), then a random moment of its writing.
		 */
		if (read_all(fds[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx))
			committed = idx;
		{
			struct timespec ts = { 0, (long)(20 + rand_r(&seed) % 180) * 1000000L };
			nanosleep(&ts, NULL);
		}
		kill(pid, SIGKILL);
		while (read_all(fds[0], &idx, sizeof(idx)) == (ssize_t)sizeof(idx))
			committed = idx;
		close(fds[0]);
		assert_int_equal(waitpid(pid, &wst, 0), pid);
		assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
		assert_true(committed >= next);	/* it did write something */

		/* mdb_stat walks the whole file: it must read it cleanly. */
		{
			char cmd[2048], path[RG_CONFIG_PATH_MAX];
			assert_int_equal(rg_config_cache_path(&cfg, path, sizeof(path)), 0);
			snprintf(cmd, sizeof(cmd), "mdb_stat -n -a '%s' >/dev/null 2>&1", path);
			assert_int_equal(system(cmd), 0);
		}
		{
			struct rg_store *c = open_or_die(&cfg);
			struct rg_cache_stats st;
			for (int32_t i = 0; i <= committed; i++) {
				struct rg_verdict v;
				char key[64];
				snprintf(key, sizeof(key), "w%08d@example.org", i);
				if (rg_store_get(c, key, &v, NULL) != RG_CACHE_OK)
					fail_msg("round %d: committed record %d lost", round, i);
				assert_string_equal(v.v_text, "250 2.1.5 Ok");
			}
			assert_int_equal(rg_cache_stats(rg_store_cache(c), &st), RG_CACHE_OK);
			assert_int_equal(st.cs_bad_records, 0);
			assert_true(st.cs_entries[RG_DB_VERDICTS] >= (uint64_t)committed + 1);
			rg_store_close(c);
		}
		next = committed + 1;
	}
	testutil_rmdir(dir);
}

/* test_map_resized - another process grows the map under an open handle. */
static void
test_map_resized(void **state)
{
	char *dir = testutil_tmpdir();
	struct rg_config cfg;
	struct rg_store *c;
	struct rg_cache_stats st;
	struct rg_verdict v;
	pid_t pid;
	int wst;
	(void)state;

	testutil_config(&cfg, dir);
	cfg.map_size = 1048576;
	cfg.map_size_max = 256 * 1048576;
	c = open_or_die(&cfg);
	rg_verdict_init(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	rg_store_stamp(c, &v, 0);
	assert_int_equal(rg_store_put(c, "parent@example.org", &v), RG_CACHE_OK);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A child may not use the parent's environment: a fresh open. */
		struct rg_store *cc = open_or_die(&cfg);
		struct rg_verdict cv;
		char text[300];
		memset(text, 'x', sizeof(text) - 1);
		text[sizeof(text) - 1] = '\0';
		for (int i = 0; i < 20000; i++) {
			char key[64];
			snprintf(key, sizeof(key), "child%05d@example.org", i);
			rg_verdict_init(&cv, RG_CLASS_RISKY, RG_REASON_CATCH_ALL);
			rg_verdict_set_text(&cv, text, strlen(text));
			rg_store_stamp(cc, &cv, 0);
			if (rg_store_put(cc, key, &cv) != RG_CACHE_OK)
				_exit(1);
		}
		rg_store_close(cc);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	/* The parent's handle still has the old, smaller map. */
	assert_int_equal(rg_store_put(c, "parent2@example.org", &v), RG_CACHE_OK);
	assert_int_equal(rg_store_get(c, "child19999@example.org", &v, NULL), RG_CACHE_OK);
	assert_int_equal(v.v_reason, RG_REASON_CATCH_ALL);
	assert_int_equal(rg_cache_stats(rg_store_cache(c), &st), RG_CACHE_OK);
	assert_int_equal(st.cs_entries[RG_DB_VERDICTS], 20002);
	assert_true(st.cs_map_size > 1048576);
	rg_store_close(c);
	testutil_rmdir(dir);
}

/*
 * test_readers_of_dead - processes that die holding reader slots (a pooled
 * reader keeps its slot) do not exhaust a small reader table.
 */
static void
test_readers_of_dead(void **state)
{
	char *dir = testutil_tmpdir();
	struct rg_config cfg;
	struct rg_store *c;
	struct rg_verdict v;
	(void)state;

	testutil_config(&cfg, dir);
	cfg.max_readers = 16;
	c = open_or_die(&cfg);
	rg_verdict_init(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	rg_store_stamp(c, &v, 0);
	assert_int_equal(rg_store_put(c, "r@example.org", &v), RG_CACHE_OK);
	rg_store_close(c);

	for (int i = 0; i < 40; i++) {
		int fds[2];
		char ok = 0;
		pid_t pid;
		int wst;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct rg_store *cc = open_or_die(&cfg);
			struct rg_verdict got;
			char r = rg_store_get(cc, "r@example.org", &got, NULL) == RG_CACHE_OK ? 'y' : 'n';
			if (write_all(fds[1], &r, 1) < 0)
				_exit(1);
			raise(SIGKILL);	/* die holding the slot */
			_exit(2);
		}
		close(fds[1]);
		if (read_all(fds[0], &ok, 1) != 1)
			ok = 0;
		close(fds[0]);
		waitpid(pid, &wst, 0);
		if (ok != 'y')
			fail_msg("reader %d could not read", i);
	}
	c = open_or_die(&cfg);
	assert_int_equal(rg_store_get(c, "r@example.org", &v, NULL), RG_CACHE_OK);
	rg_store_close(c);
	testutil_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_race),
		cmocka_unit_test(test_kill9_writer),
		cmocka_unit_test(test_map_resized),
		cmocka_unit_test(test_readers_of_dead),
	};
	rg_log_set_level(RG_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
