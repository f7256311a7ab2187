/*
 * test_milter_decide.c - rcptguard-milter's decision for one RCPT without
 * libmilter: milter/milter_decide.c linked alone with a real policy and a
 * real engine thread whose cache holds a verdict of each class (its
 * resolver is a closed loopback port, so a miss answers in progress at
 * once). Covers the envelope copy, the reply text handed to smfi_setreply,
 * exemptions, fail_mode without an engine, and the outcome of each action.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../milter/milter_decide.h"
#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/store.h"
#include "testutil.h"

static void
test_milter_copy_addr(void **state)
{
	char buf[16];

	(void)state;
	milter_copy_addr(buf, sizeof(buf), "<a@b.example>");
	assert_string_equal(buf, "a@b.example");
	milter_copy_addr(buf, sizeof(buf), "a@b.example");
	assert_string_equal(buf, "a@b.example");
	milter_copy_addr(buf, sizeof(buf), "<>");
	assert_string_equal(buf, "");
	milter_copy_addr(buf, sizeof(buf), NULL);
	assert_string_equal(buf, "");
	/* Bounded: a long argument is cut, never overflows. */
	milter_copy_addr(buf, sizeof(buf), "<averyveryverylonglocalpart@example.com>");
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_memory_equal(buf, "averyveryverylo", 15);
}

static void
test_milter_reply_text(void **state)
{
	char buf[32];

	(void)state;
	milter_reply_text(buf, sizeof(buf), "100% sure %s");
	assert_string_equal(buf, "100%% sure %%s");
	milter_reply_text(buf, sizeof(buf), "bad\r\nbytes\x01\xff");
	assert_string_equal(buf, "bad??bytes??");
	/* Bounded, and a doubled '%' is never cut in half. */
	milter_reply_text(buf, 6, "%%%%%%");
	assert_string_equal(buf, "%%%%");
}

struct world {
	char			*dir;
	struct rg_config	 cfg;
	struct rg_policy	*policy;
	struct rg_engine_thread	*engine;
};

static int
world_setup(void **state)
{
	static struct world w;
	struct rg_store *st;
	struct rg_verdict v;
	char err[512];
	int status;

	rg_log_init("test_milter_decide", RG_LOG_STDERR);
	rg_log_set_level(RG_LOG_WARN);
	memset(&w, 0, sizeof(w));
	w.dir = testutil_tmpdir();
	testutil_config(&w.cfg, w.dir);
	rg_strlcpy(w.cfg.dns_servers, "127.0.0.1:1", sizeof(w.cfg.dns_servers));
	w.cfg.providers_file[0] = w.cfg.disposable_domains_file[0] = '\0';
	w.cfg.role_accounts_file[0] = '\0';
	rg_strlcpy(w.cfg.exempt_sasl_users, "trusted", sizeof(w.cfg.exempt_sasl_users));
	w.cfg.reason_action[RG_REASON_CATCH_ALL] = RG_ACTION_TAG;
	w.cfg.wait_budget = 0;
	if ((st = rg_store_open(&w.cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err))) == NULL)
		return -1;
	rg_verdict_make(&v, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, "no such user",
	    rg_clock_now(), 86400);
	rg_store_put(st, "ghost@dead.example", &v);
	rg_verdict_make(&v, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, "100% sure", rg_clock_now(),
	    86400);
	rg_store_put(st, "any@catchall.example", &v);
	rg_verdict_make(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED, NULL, rg_clock_now(), 86400);
	rg_store_put(st, "alice@live.example", &v);
	rg_store_close(st);
	if ((w.policy = rg_policy_new(&w.cfg, err, sizeof(err))) == NULL)
		return -1;
	if ((w.engine = rg_engine_thread_start(&w.cfg, -1, err, sizeof(err))) == NULL)
		return -1;
	*state = &w;
	return 0;
}

static int
world_teardown(void **state)
{
	struct world *w = *state;

	rg_engine_thread_stop(w->engine);
	rg_policy_free(w->policy);
	testutil_rmdir(w->dir);
	return 0;
}

struct rcpt_case {
	const char		*rcpt;		/* envelope argument as the MTA passes it */
	const char		*sasl;
	int			 no_engine;
	/* expected */
	enum milter_outcome	 outcome;
	const char		*code;
	const char		*dsn;
	const char		*text;		/* substring of the reply text */
	enum rg_policy_why	 why;
};

static void
test_milter_decide_table(void **state)
{
	static const struct rcpt_case cases[] = {
		{ "<ghost@dead.example>", NULL, 0, MILTER_REJECT, "550", "5.1.1", "(no_mailbox)",
		  RG_WHY_VERDICT },
		{ "<GHOST@dead.example>", NULL, 0, MILTER_REJECT, "550", "5.1.1", NULL,
		  RG_WHY_VERDICT },
		{ "<alice@live.example>", NULL, 0, MILTER_CONTINUE, NULL, NULL, NULL,
		  RG_WHY_VERDICT },
		{ "<any@catchall.example>", NULL, 0, MILTER_TAG, NULL, NULL, NULL, RG_WHY_VERDICT },
		{ "<new@unseen.example>", NULL, 0, MILTER_TEMPFAIL, "450", "4.7.1", "(in_progress)",
		  RG_WHY_VERDICT },
		{ "<not an address>", NULL, 0, MILTER_REJECT, "550", NULL, "(bad_syntax)",
		  RG_WHY_VERDICT },
		{ "<ghost@dead.example>", "trusted", 0, MILTER_CONTINUE, NULL, NULL, NULL,
		  RG_WHY_EXEMPT },
		{ "<ghost@dead.example>", NULL, 1, MILTER_CONTINUE, NULL, NULL, NULL,
		  RG_WHY_FAIL_MODE },
	};
	struct world *w = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcpt_case *c = &cases[i];
		char rcpt[RG_ADDR_INPUT_MAX + 1];
		struct rg_policy_request req;
		struct rg_decision d;
		struct milter_reply r;
		enum milter_outcome o;

		memset(&req, 0, sizeof(req));
		memset(&r, 0, sizeof(r));
		milter_copy_addr(rcpt, sizeof(rcpt), c->rcpt);
		req.pr_queue_id = "Q1";
		req.pr_recipient = rcpt;
		req.pr_recipient_len = strlen(rcpt);
		req.pr_sasl_username = c->sasl;
		milter_decide(w->policy, c->no_engine ? NULL : w->engine, 0, &req, &d);
		o = milter_outcome(&d, &r);
		print_message("# %s: outcome %d, %s %s %s\n", c->rcpt, o, r.mr_code, r.mr_dsn,
		    r.mr_text);
		assert_int_equal(o, c->outcome);
		assert_int_equal(d.d_why, c->why);
		if (c->code != NULL)
			assert_string_equal(r.mr_code, c->code);
		if (c->dsn != NULL)
			assert_string_equal(r.mr_dsn, c->dsn);
		if (c->text != NULL && strstr(r.mr_text, c->text) == NULL)
			fail_msg("%s: text \"%s\" lacks \"%s\"", c->rcpt, r.mr_text, c->text);
		if (o == MILTER_TAG)
			assert_non_null(strstr(d.d_header, "risky; reason=catch_all"));
		/* What goes to smfi_setreply: printable, no lone '%'. */
		for (const char *t = r.mr_text; *t; t++) {
			assert_true(*t >= 0x20 && *t < 0x7f);
			if (*t == '%')
				assert_int_equal(*++t, '%');
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_milter_copy_addr),
		cmocka_unit_test(test_milter_reply_text),
		cmocka_unit_test_setup_teardown(test_milter_decide_table, world_setup, world_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
