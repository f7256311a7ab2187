/*
 * test_policy.c - the decisions rcptguard-policyd and rcptguard-milter
 * share: one table row per (config, answer) with the action, the reply code,
 * the enhanced code and why; the exemptions; the defer window on a real
 * store driven by the test clock; fail_mode; the shared pre-lookup and
 * answer path with the one log line it writes, hostile request fields
 * escaped.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "rcptguard/cache.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/policy.h"
#include "rcptguard/store.h"
#include "testutil.h"

#define D RG_CLASS_DELIVERABLE
#define U RG_CLASS_UNDELIVERABLE
#define R RG_CLASS_RISKY
#define K RG_CLASS_UNKNOWN

/* A config change for one row. */
enum tweak {
	T_NONE,
	T_MONITOR,		/* mode = monitor */
	T_451,			/* defer_reply = 451 */
	T_CATCH_ALL_TAG,	/* reason_action[catch_all] = tag */
	T_FULL_REJECT,		/* reason_action[mailbox_full] = reject */
	T_FAIL_DEFER,		/* fail_mode = defer */
	T_RISKY_TAG,		/* action_risky = tag */
	T_TEMP_REJECT,		/* reason_action[temp_failure] = reject */
};

struct decide_case {
	const char		*name;
	enum tweak		 tweak;
	enum rg_class		 class;
	enum rg_reason		 reason;
	enum rg_answer_source	 source;
	int			 cache_status;
	/* expected */
	enum rg_action		 action;
	enum rg_action		 wanted;
	enum rg_policy_why	 why;
	int			 code;
	const char		*dsn;
	const char		*text;		/* substring of d_text, or NULL */
	const char		*header;	/* substring of d_header, or NULL */
};

static const struct decide_case decide_cases[] = {
	{ "deliverable passes", T_NONE, D, RG_REASON_ACCEPTED, RG_ANSWER_CACHE, 0,
	  RG_ACTION_PASS, RG_ACTION_PASS, RG_WHY_VERDICT, 0, "", NULL, NULL },
	{ "no mailbox is rejected with 5.1.1", T_NONE, U, RG_REASON_NO_MAILBOX, RG_ANSWER_PROBE, 0,
	  RG_ACTION_REJECT, RG_ACTION_REJECT, RG_WHY_VERDICT, 550, "5.1.1", "(no_mailbox)", NULL },
	{ "no domain is rejected with 5.1.2", T_NONE, U, RG_REASON_NO_DOMAIN, RG_ANSWER_CACHE, 0,
	  RG_ACTION_REJECT, RG_ACTION_REJECT, RG_WHY_VERDICT, 550, "5.1.2", "(no_domain)", NULL },
	{ "bad syntax is rejected", T_NONE, U, RG_REASON_BAD_SYNTAX, RG_ANSWER_SYNTAX, 0,
	  RG_ACTION_REJECT, RG_ACTION_REJECT, RG_WHY_VERDICT, 550, NULL, "(bad_syntax)", NULL },
	{ "unknown is deferred with 450 4.7.1", T_NONE, K, RG_REASON_TIMEOUT, RG_ANSWER_PROBE, 0,
	  RG_ACTION_DEFER, RG_ACTION_DEFER, RG_WHY_VERDICT, 450, "4.7.1", "try again later", NULL },
	{ "in progress is deferred", T_NONE, K, RG_REASON_IN_PROGRESS, RG_ANSWER_PENDING, 0,
	  RG_ACTION_DEFER, RG_ACTION_DEFER, RG_WHY_VERDICT, 450, "4.7.1", "(in_progress)", NULL },
	{ "defer_reply 451", T_451, K, RG_REASON_GREYLISTED, RG_ANSWER_PROBE, 0,
	  RG_ACTION_DEFER, RG_ACTION_DEFER, RG_WHY_VERDICT, 451, "4.7.1", "(greylisted)", NULL },
	{ "risky is deferred by default", T_NONE, R, RG_REASON_CATCH_ALL, RG_ANSWER_CACHE, 0,
	  RG_ACTION_DEFER, RG_ACTION_DEFER, RG_WHY_VERDICT, 450, "4.7.1", "(catch_all)", NULL },
	{ "a reason override tags a catch-all", T_CATCH_ALL_TAG, R, RG_REASON_CATCH_ALL,
	  RG_ANSWER_CACHE, 0, RG_ACTION_TAG, RG_ACTION_TAG, RG_WHY_VERDICT, 0, "", NULL,
	  "risky; reason=catch_all; rcpt=<user@example.com>" },
	{ "a class action tags", T_RISKY_TAG, R, RG_REASON_DISPOSABLE, RG_ANSWER_STATIC, 0,
	  RG_ACTION_TAG, RG_ACTION_TAG, RG_WHY_VERDICT, 0, "", NULL, "reason=disposable" },
	{ "a reject override keeps the reason's 5.x.x code", T_FULL_REJECT, R,
	  RG_REASON_MAILBOX_FULL, RG_ANSWER_PROBE, 0, RG_ACTION_REJECT, RG_ACTION_REJECT,
	  RG_WHY_VERDICT, 550, "5.2.2", "(mailbox_full)", NULL },
	{ "a reject override of a 4.x.x reason answers 5.7.1", T_TEMP_REJECT, K,
	  RG_REASON_TEMP_FAILURE, RG_ANSWER_PROBE, 0, RG_ACTION_REJECT, RG_ACTION_REJECT,
	  RG_WHY_VERDICT, 550, "5.7.1", "(temp_failure)", NULL },
	{ "monitor mode passes what it would reject", T_MONITOR, U, RG_REASON_NO_MAILBOX,
	  RG_ANSWER_CACHE, 0, RG_ACTION_PASS, RG_ACTION_REJECT, RG_WHY_MONITOR, 0, NULL, NULL,
	  NULL },
	{ "monitor mode passes what it would defer", T_MONITOR, K, RG_REASON_TIMEOUT,
	  RG_ANSWER_PROBE, 0, RG_ACTION_PASS, RG_ACTION_DEFER, RG_WHY_MONITOR, 0, NULL, NULL,
	  NULL },
	{ "a failed cache follows fail_mode pass", T_NONE, U, RG_REASON_NO_MAILBOX,
	  RG_ANSWER_CACHE, -5, RG_ACTION_PASS, RG_ACTION_PASS, RG_WHY_FAIL_MODE, 0, "", NULL,
	  NULL },
	{ "a failed cache follows fail_mode defer", T_FAIL_DEFER, D, RG_REASON_ACCEPTED,
	  RG_ANSWER_PENDING, -5, RG_ACTION_DEFER, RG_ACTION_DEFER, RG_WHY_FAIL_MODE, 450, "4.7.1",
	  "verification is unavailable", NULL },
	{ "a syntax error is decided even when the cache failed", T_NONE, U,
	  RG_REASON_BAD_SYNTAX, RG_ANSWER_SYNTAX, -5, RG_ACTION_REJECT, RG_ACTION_REJECT,
	  RG_WHY_VERDICT, 550, NULL, NULL, NULL },
};

static void
tweak_config(struct rg_config *cfg, enum tweak t)
{
	switch (t) {
	case T_NONE: break;
	case T_MONITOR: cfg->mode = RG_MODE_MONITOR; break;
	case T_451: cfg->defer_reply = RG_DEFER_451; break;
	case T_CATCH_ALL_TAG: cfg->reason_action[RG_REASON_CATCH_ALL] = RG_ACTION_TAG; break;
	case T_FULL_REJECT: cfg->reason_action[RG_REASON_MAILBOX_FULL] = RG_ACTION_REJECT; break;
	case T_FAIL_DEFER: cfg->fail_mode = RG_FAIL_DEFER; break;
	case T_RISKY_TAG: cfg->action[RG_CLASS_RISKY] = RG_ACTION_TAG; break;
	case T_TEMP_REJECT: cfg->reason_action[RG_REASON_TEMP_FAILURE] = RG_ACTION_REJECT; break;
	}
}

static void
make_answer(struct rg_answer *ans, enum rg_class c, enum rg_reason r, enum rg_answer_source src,
    int cache_status)
{
	memset(ans, 0, sizeof(*ans));
	rg_strlcpy(ans->an_address, "user@example.com", sizeof(ans->an_address));
	rg_verdict_init(&ans->an_verdict, c, r);
	ans->an_source = src;
	ans->an_cache_status = cache_status;
}

static void
test_policy_decide_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		struct rg_config cfg;
		struct rg_policy *p;
		struct rg_answer ans;
		struct rg_decision d;
		char err[256];

		print_message("# %s\n", c->name);
		rg_config_defaults(&cfg);
		tweak_config(&cfg, c->tweak);
		assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
		make_answer(&ans, c->class, c->reason, c->source, c->cache_status);
		rg_policy_decide(p, NULL, &ans, &d);
		assert_string_equal(rg_policy_action_name(d.d_action), rg_policy_action_name(c->action));
		assert_string_equal(rg_policy_action_name(d.d_wanted), rg_policy_action_name(c->wanted));
		assert_int_equal(d.d_why, c->why);
		assert_int_equal(d.d_code, c->code);
		if (c->dsn != NULL)
			assert_string_equal(d.d_dsn, c->dsn);
		if (c->text != NULL && strstr(d.d_text, c->text) == NULL)
			fail_msg("%s: text \"%s\" lacks \"%s\"", c->name, d.d_text, c->text);
		if (c->header != NULL && strstr(d.d_header, c->header) == NULL)
			fail_msg("%s: header \"%s\" lacks \"%s\"", c->name, d.d_header, c->header);
		/* Reply texts are printable ASCII, whatever the verdict held. */
		for (const char *t = d.d_text; *t; t++)
			assert_true(*t >= 0x20 && *t < 0x7f);
		rg_policy_free(p);
	}
}

/* A header never carries an address it cannot carry safely. */
static void
test_policy_tag_unsafe_address(void **state)
{
	struct rg_config cfg;
	struct rg_policy *p;
	struct rg_answer ans;
	struct rg_decision d;
	char err[256];

	(void)state;
	rg_config_defaults(&cfg);
	cfg.action[RG_CLASS_RISKY] = RG_ACTION_TAG;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	make_answer(&ans, R, RG_REASON_CATCH_ALL, RG_ANSWER_CACHE, 0);
	rg_strlcpy(ans.an_address, "a;b@example.com", sizeof(ans.an_address));
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_TAG);
	assert_string_equal(d.d_header, "risky; reason=catch_all");
	assert_int_equal(rg_policy_may_tag(p), 1);
	rg_policy_free(p);
	rg_config_defaults(&cfg);
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	/* The defaults defer, and a deferral turns into a tag after the defer window. */
	assert_true(cfg.defer_window > 0);
	assert_int_equal(rg_policy_may_tag(p), 1);
	rg_policy_free(p);
	cfg.defer_window = 0;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	assert_int_equal(rg_policy_may_tag(p), 0);
	rg_policy_free(p);
}

struct exempt_case {
	const char	*recipient;
	const char	*sender;
	const char	*sasl;
	const char	*client;
	const char	*expected;	/* NULL: not exempt */
};

static void
test_policy_exemptions(void **state)
{
	static const struct exempt_case cases[] = {
		{ "a@internal.example", "s@x.example", NULL, "192.0.2.1", "recipient_domain" },
		{ "a@sub.corp.example", NULL, NULL, NULL, "recipient_domain" },
		{ "a@corp.example", NULL, NULL, NULL, NULL },	/* ".corp.example": subdomains */
		{ "a@INTERNAL.example", NULL, NULL, NULL, "recipient_domain" },
		{ "a@other.example", "s@partner.example", NULL, NULL, "sender_domain" },
		{ "a@other.example", "s@x.example", "relayuser", NULL, "sasl_user" },
		{ "a@other.example", "s@x.example", "someone", NULL, NULL },
		{ "a@other.example", NULL, NULL, "10.1.2.3", "client_network" },
		{ "a@other.example", NULL, NULL, "2001:db8::5", "client_network" },
		{ "a@other.example", NULL, NULL, "192.0.2.1", NULL },
		{ "a@other.example", NULL, NULL, "not an address", NULL },
		{ "not an address", "also not", "", "", NULL },
	};
	struct rg_config cfg;
	struct rg_policy *p;
	char err[256];

	(void)state;
	rg_config_defaults(&cfg);
	rg_strlcpy(cfg.exempt_recipient_domains, "internal.example, .corp.example",
	    sizeof(cfg.exempt_recipient_domains));
	rg_strlcpy(cfg.exempt_sender_domains, "partner.example", sizeof(cfg.exempt_sender_domains));
	rg_strlcpy(cfg.exempt_sasl_users, "relayuser", sizeof(cfg.exempt_sasl_users));
	rg_strlcpy(cfg.exempt_client_networks, "10.0.0.0/8 2001:db8::/32",
	    sizeof(cfg.exempt_client_networks));
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct exempt_case *c = &cases[i];
		struct rg_policy_request req = {
			.pr_recipient = c->recipient, .pr_recipient_len = strlen(c->recipient),
			.pr_sender = c->sender, .pr_sasl_username = c->sasl,
			.pr_client_address = c->client,
		};
		const char *got = rg_policy_exempt(p, &req);

		if (c->expected == NULL && got != NULL)
			fail_msg("row %zu: exempt as %s", i, got);
		if (c->expected != NULL && (got == NULL || strcmp(got, c->expected) != 0))
			fail_msg("row %zu: %s, not %s", i, got != NULL ? got : "not exempt",
			    c->expected);
	}
	rg_policy_free(p);
	/* "*" exempts every authenticated client. */
	rg_strlcpy(cfg.exempt_sasl_users, "*", sizeof(cfg.exempt_sasl_users));
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	{
		struct rg_policy_request req = { .pr_recipient = "a@o.example", .pr_recipient_len = 11,
			.pr_sasl_username = "anyone" };
		assert_string_equal(rg_policy_exempt(p, &req), "sasl_user");
	}
	rg_policy_free(p);
	/* A bad list is refused with the key named. */
	rg_strlcpy(cfg.exempt_recipient_domains, "bad..domain", sizeof(cfg.exempt_recipient_domains));
	assert_null(rg_policy_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "exempt_recipient_domains"));
	rg_config_defaults(&cfg);
	rg_strlcpy(cfg.exempt_client_networks, "10.0.0.0/99", sizeof(cfg.exempt_client_networks));
	assert_null(rg_policy_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "exempt_client_networks"));
}

/* A role mailbox: role_account in reason_actions decides when the mailbox exists or may. */
static void
test_policy_role_accounts(void **state)
{
	struct rg_config cfg;
	struct rg_policy *p;
	struct rg_answer ans;
	struct rg_decision d;
	char err[256];

	(void)state;
	rg_config_defaults(&cfg);
	cfg.reason_action[RG_REASON_ROLE_ACCOUNT] = RG_ACTION_TAG;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	make_answer(&ans, D, RG_REASON_ACCEPTED, RG_ANSWER_PROBE, 0);
	ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_TAG);
	assert_string_equal(d.d_header,
	    "deliverable; reason=role_account; role=yes; rcpt=<user@example.com>");
	/* Risky too: the role action replaces the risky one (defer by default). */
	make_answer(&ans, R, RG_REASON_CATCH_ALL, RG_ANSWER_CACHE, 0);
	ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_TAG);
	/* A dead role mailbox is rejected as dead. */
	make_answer(&ans, U, RG_REASON_NO_MAILBOX, RG_ANSWER_PROBE, 0);
	ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_REJECT);
	assert_non_null(strstr(d.d_text, "(no_mailbox)"));
	rg_policy_free(p);
	/* Rejected by its role: the reply names role_account. */
	cfg.reason_action[RG_REASON_ROLE_ACCOUNT] = RG_ACTION_REJECT;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	make_answer(&ans, D, RG_REASON_ACCEPTED, RG_ANSWER_PROBE, 0);
	ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_REJECT);
	assert_int_equal(d.d_code, 550);
	assert_non_null(strstr(d.d_text, "role account (role_account)"));
	rg_policy_free(p);
	/* Without a role action, the flag changes nothing but the tag says it. */
	rg_config_defaults(&cfg);
	cfg.action[RG_CLASS_DELIVERABLE] = RG_ACTION_TAG;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	rg_policy_decide(p, NULL, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_TAG);
	assert_non_null(strstr(d.d_header, "reason=accepted; role=yes"));
	rg_policy_free(p);
}

/* The defer window: deferred until it has passed since the first deferral, then tagged. */
static void
test_policy_defer_window(void **state)
{
	struct rg_config cfg;
	struct rg_policy *p;
	struct rg_store *store;
	struct rg_answer ans;
	struct rg_decision d;
	char *dir = testutil_tmpdir(), err[256];
	int status;

	(void)state;
	rg_clock_set(testutil_clock, NULL);
	testutil_config(&cfg, dir);
	cfg.defer_window = 3600;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));
	assert_non_null(store = rg_store_open(&cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err)));
	assert_int_equal(rg_policy_may_tag(p), 1);
	make_answer(&ans, K, RG_REASON_TIMEOUT, RG_ANSWER_PROBE, 0);
	rg_policy_decide(p, store, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	testutil_now += 3599;
	rg_policy_decide(p, store, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	assert_int_equal(d.d_why, RG_WHY_VERDICT);
	testutil_now += 1;
	rg_policy_decide(p, store, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_TAG);
	assert_int_equal(d.d_wanted, RG_ACTION_DEFER);
	assert_int_equal(d.d_why, RG_WHY_DEFER_WINDOW);
	assert_int_equal(d.d_code, 0);
	assert_non_null(strstr(d.d_header, "reason=defer_window"));
	/* Another recipient has its own window. */
	rg_strlcpy(ans.an_address, "other@example.com", sizeof(ans.an_address));
	rg_policy_decide(p, store, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	/* A syntax error never opens a window. */
	make_answer(&ans, K, RG_REASON_TIMEOUT, RG_ANSWER_SYNTAX, 0);
	testutil_now += 7200;
	rg_policy_decide(p, store, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	rg_store_close(store);
	rg_policy_free(p);
	rg_clock_set(NULL, NULL);
	testutil_rmdir(dir);
}

static char logged[8][1024];
static int nlogged;

static void
capture(enum rg_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	if (nlogged < 8)
		rg_strlcpy(logged[nlogged++], line, sizeof(logged[0]));
}

/* The shared path: each way through it decides, and logs exactly one line. */
static void
test_policy_shared_path(void **state)
{
	struct rg_config cfg;
	struct rg_policy *p;
	struct rg_answer ans;
	struct rg_decision d;
	char err[256];
	struct rg_policy_request req = {
		.pr_queue_id = "4AB12CD", .pr_recipient = "user@example.com",
		.pr_recipient_len = 16, .pr_sender = "s@x.example",
		.pr_client_address = "192.0.2.7", .pr_client_name = "evil\r\nname [x]",
		.pr_sasl_username = "",
	};

	(void)state;
	rg_log_init("test_policy", RG_LOG_STDERR);
	rg_log_set_capture(capture, NULL);
	rg_config_defaults(&cfg);
	rg_strlcpy(cfg.exempt_client_networks, "198.51.100.0/24", sizeof(cfg.exempt_client_networks));
	cfg.fail_mode = RG_FAIL_DEFER;
	assert_non_null(p = rg_policy_new(&cfg, err, sizeof(err)));

	/* Not exempt, an engine: the front-end must look up; nothing logged yet. */
	nlogged = 0;
	assert_int_equal(rg_policy_pre_lookup(p, &req, 1, &d), 0);
	assert_int_equal(nlogged, 0);
	/* No engine: fail_mode (defer here), logged. */
	assert_int_equal(rg_policy_pre_lookup(p, &req, 0, &d), 1);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	assert_int_equal(d.d_why, RG_WHY_FAIL_MODE);
	assert_int_equal(nlogged, 1);
	assert_non_null(strstr(logged[0], "4AB12CD: action=defer fail_mode=yes"));
	/* The client's name arrives escaped: no line break, no raw bytes. */
	assert_null(strchr(logged[0], '\r'));
	assert_null(strchr(logged[0], '\n'));
	/* Exempt: pass, logged, whether or not there is an engine. */
	req.pr_client_address = "198.51.100.9";
	assert_int_equal(rg_policy_pre_lookup(p, &req, 0, &d), 1);
	assert_int_equal(d.d_action, RG_ACTION_PASS);
	assert_int_equal(d.d_why, RG_WHY_EXEMPT);
	assert_int_equal(nlogged, 2);
	assert_non_null(strstr(logged[1], "action=pass exempt=client_network"));
	/* The lookup could not start. */
	req.pr_client_address = "192.0.2.7";
	req.pr_queue_id = NULL;
	rg_policy_on_failure(p, &req, &d);
	assert_int_equal(d.d_action, RG_ACTION_DEFER);
	assert_int_equal(nlogged, 3);
	assert_non_null(strstr(logged[2], "NOQUEUE: action=defer fail_mode=yes"));
	/* An answer. */
	make_answer(&ans, U, RG_REASON_NO_MAILBOX, RG_ANSWER_CACHE, 0);
	rg_policy_on_answer(p, NULL, &req, &ans, &d);
	assert_int_equal(d.d_action, RG_ACTION_REJECT);
	assert_int_equal(nlogged, 4);
	assert_non_null(strstr(logged[3], "action=reject"));
	assert_non_null(strstr(logged[3], "no_mailbox"));
	assert_null(strstr(logged[3], "role=yes"));
	/* A role mailbox says so in the log line. */
	ans.an_verdict.v_flags |= RG_VERDICT_F_ROLE;
	rg_policy_on_answer(p, NULL, &req, &ans, &d);
	assert_int_equal(nlogged, 5);
	assert_non_null(strstr(logged[4], "reason=no_mailbox role=yes"));
	rg_log_set_capture(NULL, NULL);
	rg_policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_decide_table),
		cmocka_unit_test(test_policy_tag_unsafe_address),
		cmocka_unit_test(test_policy_exemptions),
		cmocka_unit_test(test_policy_defer_window),
		cmocka_unit_test(test_policy_role_accounts),
		cmocka_unit_test(test_policy_shared_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
