/*
 * test_classify_session.c - rg_classify_session, one row per kind of
 * finished session: dead hosts, refusals at each stage, catch-all proofs,
 * provider rules, throttling, and sessions cut off among the RCPTs.
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

/* The rows give the recipient-limit fields only where they matter. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define D RG_CLASS_DELIVERABLE
#define U RG_CLASS_UNDELIVERABLE
#define R RG_CLASS_RISKY
#define K RG_CLASS_UNKNOWN

#define NEXT RG_SESSION_NEXT_HOST
#define ALL RG_SESSION_ALL
#define EACH RG_SESSION_EACH

#define CA_UNK RG_CATCH_ALL_UNKNOWN
#define CA_YES RG_CATCH_ALL_YES
#define CA_NO RG_CATCH_ALL_NO

/* A reply as "code text"; NULL ends a list. */
struct session_case {
	const char		*name;
	enum rg_smtp_status	 status;
	enum rg_smtp_stage	 stage;
	const char		*refusal;		/* s_reply, when refused */
	const char		*rcpt[6];		/* RCPT replies received, in order */
	int			 nreal;
	int			 random;
	int			 known_catch_all;
	int			 unreliable;
	int			 more_hosts;
	/* expected */
	enum rg_session_action	 action;
	int			 cooldown;
	int			 catch_all;
	enum rg_class		 cls[5];	/* ALL: cls[0]; EACH: per real recipient */
	enum rg_reason		 reason[5];
	int			 has_reply[5];	/* the verdict carries a server reply */
	/* recipient limits: what the session used, and what it shows */
	int			 per_txn;	/* si_per_txn */
	unsigned		 again;		/* bit k: real recipient k is asked again */
	int			 learn_txn;	/* so_per_txn */
	int			 learn_session;	/* so_per_session */
};

static const struct session_case cases[] = {
	{ "connect refused, another host left", RG_SMTP_CONNECT_FAILED, RG_STAGE_GREETING, NULL,
	  { NULL }, 2, 0, 0, 0, 1, NEXT, 0, CA_UNK, { 0 }, { 0 }, { 0 } },
	{ "connect refused, last host", RG_SMTP_CONNECT_FAILED, RG_STAGE_GREETING, NULL,
	  { NULL }, 2, 0, 0, 0, 0, ALL, 0, CA_UNK, { K }, { RG_REASON_CONNECT_FAILED }, { 0 } },
	{ "silent at the greeting, last host", RG_SMTP_TIMEOUT, RG_STAGE_GREETING, NULL,
	  { NULL }, 1, 0, 0, 0, 0, ALL, 0, CA_UNK, { K }, { RG_REASON_TIMEOUT }, { 0 } },
	{ "554 greeting moves on", RG_SMTP_REFUSED, RG_STAGE_GREETING, "554 5.7.1 go away",
	  { NULL }, 1, 0, 0, 0, 1, NEXT, 0, CA_UNK, { 0 }, { 0 }, { 0 } },
	{ "421 throttling greeting, last host", RG_SMTP_REFUSED, RG_STAGE_GREETING,
	  "421 4.7.0 too many connections, slow down", { NULL }, 2, 0, 0, 0, 0, ALL, 1, CA_UNK,
	  { K }, { RG_REASON_THROTTLED }, { 1 } },
	{ "421 throttling greeting, another host: pause and move on", RG_SMTP_REFUSED,
	  RG_STAGE_GREETING, "421 4.7.0 too many connections, slow down", { NULL }, 2, 0, 0, 0, 1,
	  NEXT, 1, CA_UNK, { 0 }, { 0 }, { 0 } },
	{ "sender refused at MAIL", RG_SMTP_REFUSED, RG_STAGE_MAIL,
	  "553 5.1.8 sender domain does not exist", { NULL }, 2, 1, 0, 0, 1, ALL, 0, CA_UNK,
	  { K }, { RG_REASON_SENDER_REJECTED }, { 1 } },
	{ "dropped at EHLO: temporary", RG_SMTP_DROPPED, RG_STAGE_HELO, NULL, { NULL }, 2, 0, 0, 0, 1,
	  ALL, 0, CA_UNK, { K }, { RG_REASON_TEMP_FAILURE }, { 0 } },
	{ "garbage at EHLO: a protocol error", RG_SMTP_PROTOCOL, RG_STAGE_HELO, NULL, { NULL }, 2,
	  0, 0, 0, 1, ALL, 0, CA_UNK, { K }, { RG_REASON_PROTOCOL_ERROR }, { 0 } },
	{ "every recipient answered, random refused: not catch-all", RG_SMTP_DONE, RG_STAGE_RCPT,
	  NULL, { "250 2.1.5 ok", "550 5.1.1 user unknown", "550 5.1.1 user unknown" }, 2, 1, 0, 0,
	  0, EACH, 0, CA_NO, { D, U }, { RG_REASON_ACCEPTED, RG_REASON_NO_MAILBOX }, { 1, 1 } },
	{ "random accepted: catch-all", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "550 5.1.1 no such user", "250 ok" }, 2, 1, 0, 0, 0, EACH, 0, CA_YES,
	  { R, U }, { RG_REASON_CATCH_ALL, RG_REASON_NO_MAILBOX }, { 1, 1 } },
	{ "random deferred: nothing learned", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "450 4.2.0 greylisted, try again later" }, 1, 1, 0, 0, 0, EACH, 0, CA_UNK,
	  { D }, { RG_REASON_ACCEPTED }, { 1 } },
	{ "random blocked with 5.7.1: nothing learned", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "550 5.7.1 rejected by policy" }, 1, 1, 0, 0, 0, EACH, 0, CA_UNK,
	  { D }, { RG_REASON_ACCEPTED }, { 1 } },
	{ "random refused as unknown user: not catch-all", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "550 5.1.1 <rg-x@d>: Recipient address rejected: User unknown" }, 1, 1, 0, 0,
	  0, EACH, 0, CA_NO, { D }, { RG_REASON_ACCEPTED }, { 1 } },
	{ "a UTF-8 recipient not asked, the ASCII one answered", RG_SMTP_DONE, RG_STAGE_RCPT,
	  NULL, { "SKIP", "550 5.1.1 unknown" }, 2, 0, 0, 0, 0, EACH, 0, CA_UNK,
	  { K, U }, { RG_REASON_SMTPUTF8_UNSUPPORTED, RG_REASON_NO_MAILBOX }, { 0, 1 } },
	{ "known catch-all without a random probe", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok" }, 1, 0, 1, 0, 0, EACH, 0, CA_UNK, { R }, { RG_REASON_CATCH_ALL }, { 1 } },
	{ "provider whose 250 proves little", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "550 5.1.1 unknown" }, 2, 0, 0, 1, 0, EACH, 0, CA_UNK,
	  { R, U }, { RG_REASON_ACCEPT_ALL_PROVIDER, RG_REASON_NO_MAILBOX }, { 1, 1 } },
	{ "a throttling RCPT reply pauses the domain", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "450 4.7.1 too many recipients from your IP, slow down" }, 2, 0, 0, 0, 0,
	  EACH, 1, CA_UNK, { D, K }, { RG_REASON_ACCEPTED, RG_REASON_THROTTLED }, { 1, 1 } },
	{ "452 too many recipients: asked again, no cooldown, a transaction limit learned",
	  RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "452 4.5.3 Too many recipients", "452 4.5.3 Too many recipients" }, 3, 0,
	  0, 0, 0, EACH, 0, CA_UNK, { D, K, K },
	  { RG_REASON_ACCEPTED, RG_REASON_TEMP_FAILURE, RG_REASON_TEMP_FAILURE }, { 1, 1, 1 },
	  .again = 6, .learn_txn = 1 },
	{ "Gmail's per-transaction wording", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 2.1.5 OK", "250 2.1.5 OK", "452 4.5.3 Domain policy size per transaction exceeded,"
	    " please try this recipient in a separate transaction" }, 3, 0, 0, 0, 0, EACH, 0,
	  CA_UNK, { D, D, K },
	  { RG_REASON_ACCEPTED, RG_REASON_ACCEPTED, RG_REASON_TEMP_FAILURE }, { 1, 1, 1 },
	  .again = 4, .learn_txn = 2 },
	{ "refused again after RSET: a session limit learned", RG_SMTP_DONE, RG_STAGE_RCPT,
	  NULL, { "250 ok", "452 4.5.3 Too many recipients" }, 2, 0, 0, 0, 0, EACH, 0, CA_UNK,
	  { D, K }, { RG_REASON_ACCEPTED, RG_REASON_TEMP_FAILURE }, { 1, 1 },
	  .per_txn = 1, .again = 2, .learn_session = 1 },
	{ "421 that counts recipients: the rest asked again", RG_SMTP_REFUSED, RG_STAGE_RCPT,
	  "421 4.7.0 Too many recipients, closing connection", { "250 ok", "550 5.1.1 no" }, 4,
	  0, 0, 0, 0, EACH, 0, CA_UNK, { D, U, K, K },
	  { RG_REASON_ACCEPTED, RG_REASON_NO_MAILBOX, RG_REASON_TEMP_FAILURE,
	    RG_REASON_TEMP_FAILURE }, { 1, 1, 1, 1 }, .again = 12, .learn_session = 2 },
	{ "a refused RSET: the rest asked again", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok" }, 3, 0, 0, 0, 0, EACH, 0, CA_UNK, { D, K, K },
	  { RG_REASON_ACCEPTED, RG_REASON_TEMP_FAILURE, RG_REASON_TEMP_FAILURE }, { 1, 0, 0 },
	  .per_txn = 1, .again = 6, .learn_session = 1 },
	{ "the random refused by count: catch-all unknown", RG_SMTP_DONE, RG_STAGE_RCPT, NULL,
	  { "250 ok", "452 4.5.3 Too many recipients" }, 1, 1, 0, 0, 0, EACH, 0, CA_UNK,
	  { D }, { RG_REASON_ACCEPTED }, { 1 }, .learn_txn = 1 },
	{ "a first RCPT refused by count: asked again, nothing learned", RG_SMTP_DONE,
	  RG_STAGE_RCPT, NULL, { "452 4.5.3 Too many recipients" }, 1, 0, 0, 0, 0, EACH, 0,
	  CA_UNK, { K }, { RG_REASON_TEMP_FAILURE }, { 1 }, .again = 1 },
	{ "421 among the RCPTs: the rest get it", RG_SMTP_REFUSED, RG_STAGE_RCPT,
	  "421 4.7.0 rate limit exceeded", { "250 ok" }, 3, 1, 0, 0, 0, EACH, 1, CA_UNK,
	  { D, K, K }, { RG_REASON_ACCEPTED, RG_REASON_THROTTLED, RG_REASON_THROTTLED },
	  { 1, 1, 1 } },
	{ "hang-up after the first RCPT: the rest asked again", RG_SMTP_DROPPED, RG_STAGE_RCPT,
	  NULL, { "550 5.1.1 unknown" }, 2, 0, 0, 0, 0, EACH, 0, CA_UNK,
	  { U, K }, { RG_REASON_NO_MAILBOX, RG_REASON_TEMP_FAILURE }, { 1, 0 }, .again = 2 },
	{ "hang-up before any answer", RG_SMTP_DROPPED, RG_STAGE_RCPT, NULL,
	  { NULL }, 2, 0, 0, 0, 0, EACH, 0, CA_UNK,
	  { K, K }, { RG_REASON_PROTOCOL_ERROR, RG_REASON_PROTOCOL_ERROR }, { 0, 0 } },
	{ "timeout among the RCPTs", RG_SMTP_TIMEOUT, RG_STAGE_RCPT, NULL,
	  { "250 ok" }, 2, 1, 0, 0, 1, EACH, 0, CA_UNK,
	  { D, K }, { RG_REASON_ACCEPTED, RG_REASON_TIMEOUT }, { 1, 0 } },
};

/* session_reply - "code text" into r. */
static void
session_reply(struct rg_reply *r, const char *line)
{
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');

	rg_reply_set(r, code, line + 4, strlen(line + 4));
}

static void
test_session_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct session_case *c = &cases[i];
		struct rg_smtp_result res;
		struct rg_session_input in;
		struct rg_session_outcome out;
		struct rg_session_verdict rcpt[5];

		memset(&res, 0, sizeof(res));
		res.s_status = c->status;
		res.s_stage = c->stage;
		snprintf(res.s_error, sizeof(res.s_error), "local error of case %zu", i);
		if (c->refusal != NULL)
			session_reply(&res.s_reply, c->refusal);
		for (int k = 0; k < 6 && c->rcpt[k] != NULL; k++) {
			if (strcmp(c->rcpt[k], "SKIP") == 0)
				res.s_skipped[k] = 1;	/* not asked: no SMTPUTF8 */
			else
				session_reply(&res.s_rcpt[k], c->rcpt[k]);
			res.s_nreplies++;
		}
		memset(&in, 0, sizeof(in));
		in.si_res = &res;
		in.si_nreal = c->nreal;
		in.si_random = c->random;
		in.si_catch_all = c->known_catch_all;
		in.si_unreliable = c->unreliable;
		in.si_more_hosts = c->more_hosts;
		in.si_per_txn = c->per_txn;
		memset(rcpt, 0, sizeof(rcpt));
		rg_classify_session(&in, &out, rcpt, 5);

		if (out.so_action != c->action || out.so_cooldown != c->cooldown ||
		    out.so_catch_all != c->catch_all)
			fail_msg("%s: action %d cooldown %d catch_all %d", c->name, out.so_action,
			    out.so_cooldown, out.so_catch_all);
		if (c->action == ALL) {
			if (out.so_all.sv_class != c->cls[0] || out.so_all.sv_reason != c->reason[0] ||
			    (out.so_all.sv_reply != NULL) != c->has_reply[0])
				fail_msg("%s: all %s/%s", c->name,
				    rg_verdict_class_name(out.so_all.sv_class),
				    rg_verdict_reason_name(out.so_all.sv_reason));
			/* Without a reply, the local error explains it. */
			if (out.so_all.sv_reply == NULL)
				assert_string_equal(out.so_all.sv_why, res.s_error);
		}
		if (c->action != EACH)
			continue;
		if (out.so_per_txn != c->learn_txn || out.so_per_session != c->learn_session)
			fail_msg("%s: learned %d per transaction, %d per session", c->name,
			    out.so_per_txn, out.so_per_session);
		for (int k = 0; k < c->nreal; k++) {
			if (rcpt[k].sv_again != (int)((c->again >> k) & 1))
				fail_msg("%s: recipient %d again=%d", c->name, k, rcpt[k].sv_again);
			if (rcpt[k].sv_class != c->cls[k] || rcpt[k].sv_reason != c->reason[k] ||
			    (rcpt[k].sv_reply != NULL) != c->has_reply[k])
				fail_msg("%s: recipient %d %s/%s", c->name, k,
				    rg_verdict_class_name(rcpt[k].sv_class),
				    rg_verdict_reason_name(rcpt[k].sv_reason));
			/* Without a reply, the local error explains it (an unasked one says why). */
			if (rcpt[k].sv_reply == NULL &&
			    rcpt[k].sv_reason != RG_REASON_SMTPUTF8_UNSUPPORTED)
				assert_string_equal(rcpt[k].sv_why, res.s_error);
		}
	}
}

/* The random recipient never becomes a real one's verdict, whatever it says. */
static void
test_session_random_is_last(void **state)
{
	struct rg_smtp_result res;
	struct rg_session_input in = { .si_res = &res, .si_nreal = 1, .si_random = 1 };
	struct rg_session_outcome out;
	struct rg_session_verdict rcpt[2];

	(void)state;
	memset(&res, 0, sizeof(res));
	res.s_status = RG_SMTP_DONE;
	res.s_stage = RG_STAGE_RCPT;
	session_reply(&res.s_rcpt[0], "550 5.1.1 unknown");
	session_reply(&res.s_rcpt[1], "250 ok");
	res.s_nreplies = 2;
	memset(rcpt, 0, sizeof(rcpt));
	rg_classify_session(&in, &out, rcpt, 2);
	assert_int_equal(out.so_catch_all, RG_CATCH_ALL_YES);
	/* A 550 stays undeliverable on a catch-all domain; only a 250 turns risky. */
	assert_int_equal(rcpt[0].sv_class, RG_CLASS_UNDELIVERABLE);
	assert_ptr_equal(rcpt[0].sv_reply, &res.s_rcpt[0]);
	assert_int_equal(rcpt[1].sv_class, 0);	/* untouched: only nreal verdicts */
	assert_null(rcpt[1].sv_reply);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_table),
		cmocka_unit_test(test_session_random_is_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
