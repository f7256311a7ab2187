/*
 * test_classify.c - the classification table of DESIGN.md section 4, one
 * row per rule and more, with reply texts as real servers write them.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "rcptguard/classify.h"

#define D RG_CLASS_DELIVERABLE
#define U RG_CLASS_UNDELIVERABLE
#define R RG_CLASS_RISKY
#define K RG_CLASS_UNKNOWN

struct class_case {
	enum rg_smtp_stage	 stage;
	int			 code;
	const char		*line;		/* text after the code, dsn included */
	enum rg_class		 cls;
	enum rg_reason		 reason;
};

static const struct class_case cases[] = {
	/* 250/251 accepted (catch-all is the prober's business) */
	{ RG_STAGE_RCPT, 250, "2.1.5 Ok", D, RG_REASON_ACCEPTED },
	{ RG_STAGE_RCPT, 250, "Accepted", D, RG_REASON_ACCEPTED },
	{ RG_STAGE_RCPT, 251, "User not local; will forward to <x@y>", D, RG_REASON_ACCEPTED },
	/* 252 ambiguous */
	{ RG_STAGE_RCPT, 252, "2.1.5 Cannot VRFY user, but will accept message", R, RG_REASON_AMBIGUOUS_252 },
	/* 550/551/553 with 5.1.x or user-unknown text: no_mailbox */
	{ RG_STAGE_RCPT, 550, "5.1.1 <ghost@example.org>: Recipient address rejected: User unknown in local recipient table", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "5.1.1 The email account that you tried to reach does not exist.", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "No such user here", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "Requested action not taken: mailbox unavailable", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 551, "User not local; please try <x@y>", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 553, "5.1.1 unknown user", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "unrouteable address", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "5.1.1 not listed in our directory", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 511, "5.1.1 bad mailbox", U, RG_REASON_NO_MAILBOX },
	{ RG_STAGE_RCPT, 550, "5.1.2 Host unknown", U, RG_REASON_NO_DOMAIN },
	{ RG_STAGE_RCPT, 550, "5.2.1 Mailbox disabled for this recipient", U, RG_REASON_MAILBOX_DISABLED },
	{ RG_STAGE_RCPT, 550, "Account suspended", U, RG_REASON_MAILBOX_DISABLED },
	{ RG_STAGE_RCPT, 553, "5.1.3 Bad recipient address syntax", U, RG_REASON_BAD_SYNTAX },
	{ RG_STAGE_RCPT, 501, "Syntax error in parameters", K, RG_REASON_PROTOCOL_ERROR },
	/* 5.7.x and block-list texts: unknown/policy_block, never undeliverable */
	{ RG_STAGE_RCPT, 550, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "5.7.1 <x@example.org>: Relay access denied", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 554, "5.7.1 Message rejected due to poor reputation", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "Your IP is listed on a DNSBL", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "5.1.1 blocked: sender is on our blacklist", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "Administrative prohibition", K, RG_REASON_POLICY_BLOCK },
	/* a relay that verifies onward (Postfix reject_unverified_recipient) */
	{ RG_STAGE_RCPT, 450, "4.1.1 <a@example.org>: Recipient address rejected: unverified address: Address verification in progress", K, RG_REASON_IN_PROGRESS },
	/* greylisting at MAIL FROM */
	{ RG_STAGE_MAIL, 451, "4.7.1 Greylisted, please try again in 2 seconds", K, RG_REASON_GREYLISTED },
	/* Exchange Online's Directory-Based Edge Blocking: documented as an unknown recipient */
	{ RG_STAGE_RCPT, 550, "5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]", U, RG_REASON_NO_MAILBOX },
	/* ... but the same words elsewhere, or a banned sending IP, stay a block */
	{ RG_STAGE_RCPT, 550, "5.7.606 Access denied, banned sending IP [192.0.2.1]", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_MAIL, 550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "Access denied", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 550, "Rejected by policy", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 554, "Transaction failed", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_RCPT, 530, "5.7.0 Must issue a STARTTLS command first", K, RG_REASON_TLS_REQUIRED },
	{ RG_STAGE_RCPT, 530, "5.7.0 Authentication required", K, RG_REASON_AUTH_REQUIRED },
	{ RG_STAGE_RCPT, 503, "5.5.1 Error: need MAIL command", K, RG_REASON_PROTOCOL_ERROR },
	/* mailbox full */
	{ RG_STAGE_RCPT, 552, "5.2.2 Mailbox full", R, RG_REASON_MAILBOX_FULL },
	{ RG_STAGE_RCPT, 552, "Requested mail action aborted: exceeded storage allocation", R, RG_REASON_MAILBOX_FULL },
	{ RG_STAGE_RCPT, 550, "5.2.2 The email account that you tried to reach is over quota", R, RG_REASON_MAILBOX_FULL },
	{ RG_STAGE_RCPT, 452, "4.2.2 Mailbox full", R, RG_REASON_MAILBOX_FULL },
	{ RG_STAGE_RCPT, 452, "Mailbox is full, try later", R, RG_REASON_MAILBOX_FULL },
	/* 4xx on RCPT: greylisted or temp_failure, never undeliverable */
	{ RG_STAGE_RCPT, 450, "4.2.0 <x@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html", K, RG_REASON_GREYLISTED },
	{ RG_STAGE_RCPT, 451, "4.7.1 Please try again later", K, RG_REASON_GREYLISTED },
	{ RG_STAGE_RCPT, 450, "4.7.1 Try again later", K, RG_REASON_GREYLISTED },
	{ RG_STAGE_RCPT, 451, "4.3.0 Temporary lookup failure", K, RG_REASON_TEMP_FAILURE },
	{ RG_STAGE_RCPT, 450, "4.1.1 <x@example.org>: Recipient address rejected: unverified address", K, RG_REASON_TEMP_FAILURE },
	{ RG_STAGE_RCPT, 450, "4.1.1 User unknown", K, RG_REASON_TEMP_FAILURE },
	{ RG_STAGE_RCPT, 421, "4.7.0 Too many connections, closing", K, RG_REASON_THROTTLED },
	{ RG_STAGE_RCPT, 450, "4.7.1 Rate limit exceeded, slow down", K, RG_REASON_THROTTLED },
	{ RG_STAGE_RCPT, 450, "4.7.1 Client host rejected: blocked using bl.spamcop.net", K, RG_REASON_GREYLISTED },
	/* greeting */
	{ RG_STAGE_GREETING, 220, "mx.example.org ESMTP", K, RG_REASON_IN_PROGRESS },
	{ RG_STAGE_GREETING, 554, "5.7.1 mx.example.org: Client host rejected: Access denied", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_GREETING, 554, "No SMTP service here", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_GREETING, 550, "5.1.1 user unknown", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_GREETING, 421, "Service not available, closing transmission channel", K, RG_REASON_THROTTLED },
	{ RG_STAGE_GREETING, 450, "Try again", K, RG_REASON_TEMP_FAILURE },
	/* MAIL FROM */
	{ RG_STAGE_MAIL, 250, "2.1.0 Ok", K, RG_REASON_IN_PROGRESS },
	{ RG_STAGE_MAIL, 550, "5.1.0 <probe@example.net>: Sender address rejected: User unknown", K, RG_REASON_SENDER_REJECTED },
	{ RG_STAGE_MAIL, 553, "5.1.8 Domain of sender address does not exist", K, RG_REASON_SENDER_REJECTED },
	{ RG_STAGE_MAIL, 550, "5.7.1 Sender blocked by SPF", K, RG_REASON_POLICY_BLOCK },
	{ RG_STAGE_MAIL, 530, "5.7.0 Must issue a STARTTLS command first", K, RG_REASON_TLS_REQUIRED },
	{ RG_STAGE_MAIL, 451, "4.3.0 Temporary failure", K, RG_REASON_TEMP_FAILURE },
	/* EHLO/HELO */
	{ RG_STAGE_HELO, 502, "5.5.2 Error: command not recognized", K, RG_REASON_PROTOCOL_ERROR },
	{ RG_STAGE_HELO, 550, "5.7.1 Your HELO name is blocked", K, RG_REASON_POLICY_BLOCK },
	/* nonsense codes */
	{ RG_STAGE_RCPT, 999, "what", K, RG_REASON_PROTOCOL_ERROR },
	{ RG_STAGE_RCPT, 0, "", K, RG_REASON_PROTOCOL_ERROR },
	{ RG_STAGE_RCPT, 354, "Start mail input", K, RG_REASON_PROTOCOL_ERROR },
};

static void
test_classify_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rg_reply r;
		struct rg_classification c;

		rg_reply_set(&r, cases[i].code, cases[i].line, strlen(cases[i].line));
		rg_classify_reply(cases[i].stage, &r, &c);
		if (c.c_class != cases[i].cls || c.c_reason != cases[i].reason)
			fail_msg("case %zu (%s %d %s): got %s/%s, want %s/%s", i,
			    rg_smtp_stage_name(cases[i].stage), cases[i].code, cases[i].line,
			    rg_verdict_class_name(c.c_class), rg_verdict_reason_name(c.c_reason),
			    rg_verdict_class_name(cases[i].cls), rg_verdict_reason_name(cases[i].reason));
	}
}

/* Invariants over every stage and code: the rules that must never break. */
/* Delays a reply asks for, and digits that are none. */
static void
test_classify_retry_hint(void **state)
{
	static const struct { const char *text; int64_t secs; } rows[] = {
		{ "Greylisted, please try again in 2 seconds", 2 },
		{ "4.7.1 Try again in 60s", 60 },
		{ "Too many connections, retry after 5 minutes", 300 },
		{ "please wait 30 secs before retrying", 30 },
		{ "try again in 1 hour", 3600 },
		{ "Deferred: try again in 10 min.", 600 },
		{ "retry in 1000 hours", 86400 },
		{ "Greylisted, see http://postgrey.schweikert.ch/help/example.html", 0 },
		{ "Client host [192.0.2.1] in 2 lists", 0 },
		{ "Try again later", 0 },
		{ "in 5 minutes2", 0 },
		{ "try again in 0 seconds", 0 },
		{ "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rg_classify_retry_hint(rows[i].text) != rows[i].secs)
			fail_msg("\"%s\": %lld, not %lld", rows[i].text,
			    (long long)rg_classify_retry_hint(rows[i].text), (long long)rows[i].secs);
	/* What a later probe may settle, and what it may not. */
	assert_true(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED));
	assert_true(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_THROTTLED));
	assert_true(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE));
	assert_true(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS));
	assert_false(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_POLICY_BLOCK));
	assert_false(rg_classify_retryable(RG_CLASS_UNKNOWN, RG_REASON_TIMEOUT));
	assert_false(rg_classify_retryable(RG_CLASS_RISKY, RG_REASON_MAILBOX_FULL));
	assert_false(rg_classify_retryable(RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX));
}

/* Replies that count recipients (a limit: ask again elsewhere) and those that do not. */
static void
test_classify_rcpt_limit(void **state)
{
	static const struct { int code; const char *line; int limit; enum rg_reason reason; } rows[] = {
		{ 452, "4.5.3 Too many recipients", 1, RG_REASON_TEMP_FAILURE },
		{ 452, "4.5.3 Error: too many recipients", 1, RG_REASON_TEMP_FAILURE },
		{ 452, "4.5.3 Domain policy size per transaction exceeded, please try this recipient in a separate transaction", 1, RG_REASON_TEMP_FAILURE },
		{ 552, "5.5.3 Too many recipients", 1, RG_REASON_TEMP_FAILURE },
		{ 452, "Too many recipients", 1, RG_REASON_TEMP_FAILURE },
		{ 421, "4.7.0 mx.example Too many recipients, closing", 1, RG_REASON_TEMP_FAILURE },
		{ 550, "5.5.3 Recipient limit exceeded", 1, RG_REASON_TEMP_FAILURE },
		/* a count over time is a throttle */
		{ 421, "4.7.0 Too many recipients from your IP, try again later", 0, RG_REASON_THROTTLED },
		{ 450, "4.7.1 Error: too many recipients from 192.0.2.1", 0, RG_REASON_THROTTLED },
		{ 452, "4.2.1 Too many recipients per hour, slow down", 0, RG_REASON_THROTTLED },
		/* about the mailbox, not the count */
		{ 452, "4.2.2 Mailbox full", 0, RG_REASON_MAILBOX_FULL },
		{ 550, "5.1.1 User unknown", 0, RG_REASON_NO_MAILBOX },
		{ 250, "2.1.5 Ok", 0, RG_REASON_ACCEPTED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rg_reply r;
		struct rg_classification cl;

		rg_reply_set(&r, rows[i].code, rows[i].line, strlen(rows[i].line));
		rg_classify_reply(RG_STAGE_RCPT, &r, &cl);
		if (cl.c_rcpt_limit != rows[i].limit || cl.c_reason != rows[i].reason)
			fail_msg("%d %s: limit %d, %s", rows[i].code, rows[i].line, cl.c_rcpt_limit,
			    rg_verdict_reason_name(cl.c_reason));
		/* Only at RCPT: the same words at MAIL are no recipient limit. */
		rg_classify_reply(RG_STAGE_MAIL, &r, &cl);
		assert_int_equal(cl.c_rcpt_limit, 0);
	}
}

static void
test_classify_invariants(void **state)
{
	static const char *const texts[] = {
		"", "5.1.1 User unknown", "4.1.1 User unknown", "5.7.1 blocked", "no such user",
		"2.0.0 ok", "5.2.2 mailbox full", "5.1.1 spamhaus", "mailbox unavailable",
	};
	(void)state;
	for (int stage = RG_STAGE_GREETING; stage <= RG_STAGE_RCPT; stage++) {
		for (int code = 200; code <= 599; code++) {
			for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
				struct rg_reply r;
				struct rg_classification c;

				rg_reply_set(&r, code, texts[t], strlen(texts[t]));
				rg_classify_reply((enum rg_smtp_stage)stage, &r, &c);
				/* Only a 5xx to RCPT makes a mailbox undeliverable. */
				if (c.c_class == RG_CLASS_UNDELIVERABLE &&
				    (stage != RG_STAGE_RCPT || code / 100 != 5))
					fail_msg("%s %d \"%s\" gave undeliverable",
					    rg_smtp_stage_name((enum rg_smtp_stage)stage), code, texts[t]);
				/* 5.7.x is never undeliverable. */
				if (strncmp(r.r_dsn, "5.7.", 4) == 0)
					assert_int_not_equal(c.c_class, RG_CLASS_UNDELIVERABLE);
				/* Before RCPT nothing is deliverable. */
				if (stage != RG_STAGE_RCPT)
					assert_int_not_equal(c.c_class, RG_CLASS_DELIVERABLE);
				/* A reason always belongs to the class given. */
				if (c.c_reason != RG_REASON_IN_PROGRESS)
					assert_int_equal(rg_verdict_reason_class(c.c_reason), c.c_class);
			}
		}
	}
}

static void
test_reply_dsn(void **state)
{
	static const struct { int code; const char *line; const char *dsn; const char *text; } rows[] = {
		{ 550, "5.1.1 User unknown", "5.1.1", "User unknown" },
		{ 250, "2.1.5 Ok", "2.1.5", "Ok" },
		{ 550, "5.1.10 Recipient not found", "5.1.10", "Recipient not found" },
		{ 550, "5.123.456 x", "5.123.456", "x" },
		{ 550, "5.1234.1 x", "", "5.1234.1 x" },
		{ 550, "4.1.1 mismatched class", "", "4.1.1 mismatched class" },
		{ 450, "4.2.0 Greylisted", "4.2.0", "Greylisted" },
		{ 550, "5.1.1", "5.1.1", "" },
		{ 550, "5.1.1User", "", "5.1.1User" },
		{ 550, "5.1. x", "", "5.1. x" },
		{ 550, "5..1 x", "", "5..1 x" },
		{ 550, "User unknown", "", "User unknown" },
		{ 550, "", "", "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rg_reply r;
		rg_reply_set(&r, rows[i].code, rows[i].line, strlen(rows[i].line));
		if (strcmp(r.r_dsn, rows[i].dsn) != 0 || strcmp(r.r_text, rows[i].text) != 0)
			fail_msg("row %zu: dsn \"%s\" text \"%s\"", i, r.r_dsn, r.r_text);
	}
}

static void
test_reply_bounded(void **state)
{
	struct rg_reply r;
	char line[2000];
	(void)state;

	memset(line, 'a', sizeof(line));
	line[10] = '\r';
	line[11] = '\0';
	line[12] = '\x1b';
	rg_reply_set(&r, 550, line, sizeof(line));
	assert_int_equal(strlen(r.r_text), RG_REPLY_TEXT_MAX);
	assert_int_equal(r.r_text[10], '?');
	assert_int_equal(r.r_text[11], '?');
	assert_int_equal(r.r_text[12], '?');
	/* Continuation lines join with a space and keep the bound. */
	rg_reply_set(&r, 550, "5.1.1 first", 11);
	rg_reply_append(&r, "5.1.1 second", 12);
	assert_string_equal(r.r_text, "first second");
	for (int i = 0; i < 100; i++)
		rg_reply_append(&r, line, 100);
	assert_int_equal(strlen(r.r_text), RG_REPLY_TEXT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_classify_invariants),
		cmocka_unit_test(test_classify_rcpt_limit),
		cmocka_unit_test(test_classify_retry_hint),
		cmocka_unit_test(test_reply_dsn),
		cmocka_unit_test(test_reply_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
