/*
 * test_engine_thread.c - blocking lookups from many threads through the
 * engine thread: cache hits, static answers, and a DNS outage answered as
 * unknown within the budget, never as undeliverable.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rcptguard/cache.h"
#include "rcptguard/store.h"
#include "rcptguard/clock.h"
#include "rcptguard/engine.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"
#include "testutil.h"

#define THREADS	8
#define ROUNDS	300

static struct rg_engine_thread *engine;
static int failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void
note_failure(const char *what, const struct rg_answer *a)
{
	pthread_mutex_lock(&failures_lock);
	if (failures++ < 5)
		fprintf(stderr, "# %s: got %s/%s from %s\n", what,
		    rg_verdict_class_name(a->an_verdict.v_class),
		    rg_verdict_reason_name(a->an_verdict.v_reason), rg_engine_source_name(a->an_source));
	pthread_mutex_unlock(&failures_lock);
}

static void *
worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct rg_answer a;
		char in[64];

		switch ((i + id) % 4) {
		case 0:
			snprintf(in, sizeof(in), "Cached%d@Example.ORG", (i * 7 + id) % 50);
			if (rg_engine_thread_lookup(engine, in, strlen(in), 0, 2000, &a) != 0 ||
			    a.an_source != RG_ANSWER_CACHE || a.an_verdict.v_class != RG_CLASS_DELIVERABLE)
				note_failure("cached", &a);
			break;
		case 1:
			if (rg_engine_thread_lookup(engine, "bad..dots@example.org", 21, 0, 2000, &a) != 0 ||
			    a.an_verdict.v_reason != RG_REASON_BAD_SYNTAX)
				note_failure("syntax", &a);
			break;
		case 2:
			if (rg_engine_thread_lookup(engine, "u@[192.0.2.1]", 13, 0, 2000, &a) != 0 ||
			    a.an_verdict.v_reason != RG_REASON_FORBIDDEN_ADDRESS)
				note_failure("literal", &a);
			break;
		case 3:
			if (rg_engine_thread_lookup(engine, "x@mailinator.com", 16, 0, 2000, &a) != 0 ||
			    a.an_verdict.v_reason != RG_REASON_DISPOSABLE)
				note_failure("disposable", &a);
			break;
		}
	}
	return NULL;
}

static void
test_engine_thread(void **state)
{
	char *dir = testutil_tmpdir(), err[1200], path[1024];
	struct rg_config cfg;
	pthread_t th[THREADS];
	struct rg_answer a;
	struct timespec t0, t1;
	pid_t pid;
	int wst;
	FILE *fp;
	(void)state;

	testutil_config(&cfg, dir);
	/* Nothing answers DNS here: a lookup that needs it must come back unknown. */
	rg_strlcpy(cfg.dns_servers, "127.0.0.1:9", sizeof(cfg.dns_servers));
	cfg.dns_timeout = 1;
	cfg.dns_tries = 1;
	snprintf(path, sizeof(path), "%s/disposable", dir);
	fp = fopen(path, "w");
	fputs("mailinator.com\n", fp);
	fclose(fp);
	rg_strlcpy(cfg.disposable_domains_file, path, sizeof(cfg.disposable_domains_file));
	rg_strlcpy(cfg.providers_file, "", sizeof(cfg.providers_file));
	rg_strlcpy(cfg.role_accounts_file, "", sizeof(cfg.role_accounts_file));

	/* Fill the cache from another process, as the daemons would share it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int status;
		struct rg_store *c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
		if (c == NULL)
			_exit(1);
		for (int i = 0; i < 50; i++) {
			struct rg_verdict v;
			char key[64];
			snprintf(key, sizeof(key), "cached%d@example.org", i);
			rg_verdict_init(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
			rg_store_stamp(c, &v, 0);
			if (rg_store_put(c, key, &v) != RG_CACHE_OK)
				_exit(2);
		}
		rg_store_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	engine = rg_engine_thread_start(&cfg, -1, err, sizeof(err));
	if (engine == NULL)
		fail_msg("start: %s", err);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(failures, 0);

	/* DNS down: unknown (dns_error or still in progress), within the budget. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rg_engine_thread_lookup(engine, "someone@example.invalid", 23, 0, 3000, &a);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(a.an_verdict.v_class, RG_CLASS_UNKNOWN);
	assert_true(t1.tv_sec - t0.tv_sec <= 5);

	rg_engine_thread_stop(engine);
	testutil_rmdir(dir);
}

static void
copy_answer(const struct rg_answer *ans, void *arg)
{
	*(struct rg_answer *)arg = *ans;
}

/*
 * test_engine_known_only - RG_LOOKUP_KNOWN_ONLY answers a syntax error and
 * a fresh hit at once, and leaves a miss and a stale verdict (which need the
 * loop: a probe, a refresh) to the caller, without calling back.
 */
static void
test_engine_known_only(void **state)
{
	char *dir = testutil_tmpdir(), err[1200];
	struct rg_config cfg;
	struct event_base *base = event_base_new();
	struct rg_engine *e;
	struct rg_store *c;
	struct rg_verdict v;
	struct rg_answer a;
	int status;
	(void)state;

	testutil_config(&cfg, dir);
	rg_strlcpy(cfg.dns_servers, "127.0.0.1:9", sizeof(cfg.dns_servers));
	rg_strlcpy(cfg.providers_file, "", sizeof(cfg.providers_file));
	rg_strlcpy(cfg.disposable_domains_file, "", sizeof(cfg.disposable_domains_file));
	rg_strlcpy(cfg.role_accounts_file, "", sizeof(cfg.role_accounts_file));
	c = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	assert_non_null(c);
	rg_verdict_init(&v, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX);
	rg_store_stamp(c, &v, 0);
	assert_int_equal(rg_store_put(c, "fresh@example.org", &v), RG_CACHE_OK);
	v.v_refresh_at = rg_clock_now() - 1;	/* stale: answers, and wants a refresh */
	assert_int_equal(rg_store_put(c, "stale@example.org", &v), RG_CACHE_OK);
	rg_store_close(c);

	e = rg_engine_new(base, &cfg, err, sizeof(err));
	assert_non_null(e);
	memset(&a, 0, sizeof(a));
	assert_int_equal(rg_engine_lookup(e, "Fresh@example.org", 17, RG_LOOKUP_KNOWN_ONLY, 1000,
	    copy_answer, &a), 0);
	assert_int_equal(a.an_source, RG_ANSWER_CACHE);
	assert_int_equal(a.an_verdict.v_reason, RG_REASON_NO_MAILBOX);
	memset(&a, 0, sizeof(a));
	assert_int_equal(rg_engine_lookup(e, "bad..dots@example.org", 21, RG_LOOKUP_KNOWN_ONLY, 1000,
	    copy_answer, &a), 0);
	assert_int_equal(a.an_verdict.v_reason, RG_REASON_BAD_SYNTAX);
	memset(&a, 0, sizeof(a));
	a.an_source = RG_ANSWER_PENDING;
	assert_int_equal(rg_engine_lookup(e, "stale@example.org", 17, RG_LOOKUP_KNOWN_ONLY, 1000,
	    copy_answer, &a), 1);
	assert_int_equal(rg_engine_lookup(e, "new@example.org", 15, RG_LOOKUP_KNOWN_ONLY, 1000,
	    copy_answer, &a), 1);
	assert_int_equal(a.an_source, RG_ANSWER_PENDING);	/* not called back */
	assert_int_equal(rg_engine_busy(e), 0);			/* nothing started */
	rg_engine_free(e);
	event_base_free(base);
	testutil_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_thread),
		cmocka_unit_test(test_engine_known_only),
	};
	rg_log_set_level(RG_LOG_FATAL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
