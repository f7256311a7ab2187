/*
 * test_rules.c - the reply-rule language: each condition and its negation,
 * lists, quotes and comments, order, flags, errors that name the file and
 * the line, the refusal of rules that would make anything but a 5xx to RCPT
 * undeliverable, loading a file, and an administrator's rule that overrides
 * a built-in one without recompiling.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/classify.h"
#include "rcptguard/rules.h"
#include "testutil.h"

static struct rg_rules *
parse(const char *text, char *err, size_t errsize)
{
	return rg_rules_parse(text, strlen(text), "test_rules", err, errsize);
}

/* outcome - "class/reason[+limit][+go_on]" of reply "code text" at stage, or "none". */
static const char *
outcome(const struct rg_rules *r, enum rg_smtp_stage stage, const char *line)
{
	static char buf[96];
	struct rg_reply rep;
	struct rg_rule_outcome o;
	int code = atoi(line);

	rg_reply_set(&rep, code, line + 4, strlen(line + 4));
	if (!rg_rules_match(r, stage, &rep, &o))
		return "none";
	snprintf(buf, sizeof(buf), "%s/%s%s%s", rg_verdict_class_name(o.ro_class),
	    rg_verdict_reason_name(o.ro_reason), (o.ro_flags & RG_RULES_F_LIMIT) ? "+limit" : "",
	    (o.ro_flags & RG_RULES_F_GO_ON) ? "+go_on" : "");
	return buf;
}

static void
test_rules_conditions(void **state)
{
	char err[256];
	struct rg_rules *r = parse(
	    "# a comment line\n"
	    "list nouser \"user unknown\" \"no such user\"   # a trailing comment\n"
	    "list nouser \"unknown recipient\"\n"
	    "list rate \"per hour\" \" rate\"\n"
	    "rule stage=rcpt code=452,552 dsn=4.5.3,5.5.3 !text=@rate -> unknown/temp_failure limit\n"
	    "rule stage=greeting,helo,starttls,mail code=2xx -> unknown/in_progress go_on\n"
	    "rule stage=rcpt code=2xx -> deliverable/accepted\n"
	    "rule stage=rcpt code=5xx,!554 dsn=5.1.*,none text=@nouser -> undeliverable/no_mailbox\n"
	    "rule stage=!greeting code=4xx text=\"say \\\"hi\\\" # not a comment\" -> unknown/greylisted\n"
	    "rule code=55x !dsn=5.7.* -> unknown/policy_block\n"
	    "rule code=4xx -> unknown/temp_failure\n",
	    err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(rg_rules_count(r), 7);
	/* dsn list, a negated text condition, the limit flag */
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "452 4.5.3 Too many recipients"),
	    "unknown/temp_failure+limit");
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "452 4.5.3 Too many recipients per hour"),
	    "unknown/temp_failure");
	assert_string_equal(outcome(r, RG_STAGE_MAIL, "452 4.5.3 Too many recipients"),
	    "unknown/temp_failure");
	/* stages, the go_on flag */
	assert_string_equal(outcome(r, RG_STAGE_HELO, "250 hello"), "unknown/in_progress+go_on");
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "250 ok"), "deliverable/accepted");
	/* a list across lines, case-insensitive; dsn prefix and "none"; a negated code */
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "550 5.1.1 User Unknown"),
	    "undeliverable/no_mailbox");
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "550 Unknown recipient"),
	    "undeliverable/no_mailbox");
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "550 5.2.1 user unknown"),
	    "unknown/policy_block");
	/* 554 is no longer the no_mailbox rule's, but still 55x */
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "554 5.1.1 user unknown"),
	    "unknown/policy_block");
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "550 5.7.1 user unknown"), "none");
	/* quotes keep '#' and escaped quotes; a negated stage item */
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "451 they say \"hi\" # not a comment"),
	    "unknown/greylisted");
	assert_string_equal(outcome(r, RG_STAGE_GREETING, "451 they say \"hi\" # not a comment"),
	    "unknown/temp_failure");
	/* nothing matches */
	assert_string_equal(outcome(r, RG_STAGE_RCPT, "354 go ahead"), "none");
	rg_rules_free(r);
}

static void
test_rules_errors(void **state)
{
	static const struct { const char *text; const char *error; } rows[] = {
		{ "rule code=5xx -> unknown/nonsense\n", "test_rules:1: not a reason: \"nonsense\"" },
		{ "\nrule code=5xx -> maybe/accepted\n", "test_rules:2: not a class: \"maybe\"" },
		{ "rule code=6xx -> unknown/temp_failure\n", "test_rules:1: not a reply code" },
		{ "rule code=5x1 -> unknown/temp_failure\n", "test_rules:1: not a reply code" },
		{ "rule dsn=5.1 -> unknown/temp_failure\n", "test_rules:1: not an enhanced code" },
		{ "rule dsn=5.1.1.1 -> unknown/temp_failure\n", "test_rules:1: not an enhanced code" },
		{ "rule dsn=3.1.1 -> unknown/temp_failure\n", "test_rules:1: not an enhanced code" },
		{ "rule dsn=5.*.1 -> unknown/temp_failure\n", "test_rules:1: not an enhanced code" },
		{ "rule stage=data -> unknown/temp_failure\n", "test_rules:1: not a stage" },
		{ "rule colour=red -> unknown/temp_failure\n", "test_rules:1: not a condition" },
		{ "rule code=5xx\n", "test_rules:1: an outcome (class/reason) must follow ->" },
		{ "rule code=5xx -> unknown\n", "test_rules:1: an outcome is class/reason" },
		{ "rule code=5xx -> unknown/temp_failure sometimes\n", "test_rules:1: not a flag" },
		{ "rule text=@nouser -> unknown/temp_failure\n", "test_rules:1: no such list" },
		{ "list nouser\n", "test_rules:1: a list needs a name and at least one phrase" },
		{ "list No-User \"x\"\n", "test_rules:1: a list name is lower-case" },
		{ "rule text=\"open -> unknown/temp_failure\n", "test_rules:1: a quote is not closed" },
		{ "rule text=\"\" -> unknown/temp_failure\n", "test_rules:1: a condition without a value" },
		{ "list empty \"\"\n", "test_rules:1: an empty phrase" },
		{ "rule code= -> unknown/temp_failure\n", "test_rules:1: a condition without a value" },
		{ "frobnicate\n", "test_rules:1: a line is a list or a rule, not \"frobnicate\"" },
		{ "# only comments\n\n", "test_rules: no rules" },
		/* The one rule no file may break. */
		{ "rule code=4xx -> undeliverable/no_mailbox\n", "test_rules:1: an undeliverable outcome" },
		{ "rule stage=rcpt,mail code=550 -> undeliverable/no_mailbox\n",
		  "test_rules:1: an undeliverable outcome" },
		{ "rule stage=rcpt -> undeliverable/no_mailbox\n", "test_rules:1: an undeliverable outcome" },
		{ "rule stage=rcpt code=5xx,45x -> undeliverable/no_mailbox\n",
		  "test_rules:1: an undeliverable outcome" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char err[256] = "";
		struct rg_rules *r = parse(rows[i].text, err, sizeof(err));

		if (r != NULL)
			fail_msg("row %zu accepted: %s", i, rows[i].text);
		if (strncmp(err, rows[i].error, strlen(rows[i].error)) != 0)
			fail_msg("row %zu: \"%s\", not \"%s...\"", i, err, rows[i].error);
	}
	/* Bytes that are not printable ASCII, and an overlong line. */
	{
		char err[256], big[2100];
		assert_null(parse("rule text=\"\x01\" -> unknown/temp_failure\n", err, sizeof(err)));
		assert_non_null(strstr(err, "printable"));
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_null(parse(big, err, sizeof(err)));
		assert_non_null(strstr(err, "longer than 1023"));
	}
}

/* The shipped file parses, and is what the library has built in. */
static void
test_rules_shipped(void **state)
{
	const char *src = getenv("top_srcdir");
	char path[4096], err[256];
	struct rg_rules *r;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/conf/reply_rules", src);
	if ((r = rg_rules_load(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	assert_int_equal(rg_rules_count(r), rg_rules_count(rg_rules_builtin()));
	assert_true(rg_rules_count(r) > 40);
	rg_rules_free(r);
	/* A missing file gives the built-in rules; "" too. */
	assert_non_null(r = rg_rules_load("/nonexistent/reply_rules", err, sizeof(err)));
	assert_int_equal(rg_rules_count(r), rg_rules_count(rg_rules_builtin()));
	rg_rules_free(r);
	assert_non_null(r = rg_rules_load("", err, sizeof(err)));
	rg_rules_free(r);
}

/* An administrator's rule, put before the shipped ones, decides without recompiling. */
static void
test_rules_override(void **state)
{
	const char *src = getenv("top_srcdir");
	char *dir = testutil_tmpdir(), path[4200], shipped[4096], err[256], line[1024];
	struct rg_classification cl;
	struct rg_reply rep;
	struct rg_rules *r;
	FILE *in, *out;

	(void)state;
	snprintf(shipped, sizeof(shipped), "%s/conf/reply_rules", src);
	snprintf(path, sizeof(path), "%s/reply_rules", dir);
	assert_non_null(in = fopen(shipped, "r"));
	assert_non_null(out = fopen(path, "w"));
	fputs("# local: this provider's 554 means the mailbox is gone\n"
	    "rule stage=rcpt code=554 text=\"mailbox retired\" -> undeliverable/mailbox_disabled\n",
	    out);
	while (fgets(line, sizeof(line), in) != NULL)
		fputs(line, out);
	fclose(in);
	fclose(out);
	rg_reply_set(&rep, 554, "5.0.0 mailbox retired", 21);
	rg_classify_reply(RG_STAGE_RCPT, &rep, &cl);
	assert_int_equal(cl.c_reason, RG_REASON_POLICY_BLOCK);	/* built in: no signal */
	if ((r = rg_rules_load(path, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	rg_classify_reply_with(r, RG_STAGE_RCPT, &rep, &cl);
	assert_int_equal(cl.c_class, RG_CLASS_UNDELIVERABLE);
	assert_int_equal(cl.c_reason, RG_REASON_MAILBOX_DISABLED);
	rg_rules_free(r);
	/* A bad line in the file names the file and the line. */
	assert_non_null(out = fopen(path, "a"));
	fputs("rule code=5xx -> gone/forever\n", out);
	fclose(out);
	assert_null(rg_rules_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ": not a class: \"gone\""));
	testutil_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_conditions),
		cmocka_unit_test(test_rules_errors),
		cmocka_unit_test(test_rules_shipped),
		cmocka_unit_test(test_rules_override),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
