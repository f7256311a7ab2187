/*
 * test_maillog.c - the delivery log reader (lib/maillog.c), field by field:
 * queue id, program, recipient and orig_to spans, relay host, address and
 * port, dsn, status, the command the reply answered, the reply split back
 * into its lines, the timestamps (traditional without a year, RFC 3339
 * with an offset, Exim's), the format a first line shows, and lines that
 * are not records. What a record means is learn.c's (tests/learn).
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rcptguard/maillog.h"

#define NOW	1796637600	/* 2026-12-07 10:00:00 UTC */

static int
parse(const char *line, enum rg_maillog_format fmt, struct rg_maillog_entry *e)
{
	return rg_maillog_parse(line, strlen(line), fmt, NOW, e);
}

static void
assert_span(const struct rg_maillog_span *s, const char *want)
{
	assert_non_null(s->s_ptr);
	assert_int_equal(s->s_len, strlen(want));
	assert_memory_equal(s->s_ptr, want, s->s_len);
}

static void
test_maillog_postfix_bounce(void **state)
{
	struct rg_maillog_entry e;
	(void)state;

	assert_int_equal(parse("Dec  7 09:54:21 mx1 postfix/smtp[123]: 59C18AE39B: to=<a@example.net>, "
	    "orig_to=<x@example.com>, relay=mx2.example.net[192.0.2.1]:25, conn_use=2, delay=0.95, "
	    "delays=0.04/0/0.46/0.44, dsn=5.1.1, status=bounced (host mx2.example.net[192.0.2.1] "
	    "said: 550 5.1.1 <a@example.net>: Recipient address rejected: User unknown (in reply "
	    "to RCPT TO command))", RG_MAILLOG_AUTO, &e), 1);
	assert_int_equal(e.e_format, RG_MAILLOG_POSTFIX);
	assert_string_equal(e.e_qid, "59C18AE39B");
	assert_string_equal(e.e_program, "postfix/smtp");
	assert_span(&e.e_rcpt, "a@example.net");
	assert_span(&e.e_orig, "x@example.com");
	assert_string_equal(e.e_relay_host, "mx2.example.net");
	assert_string_equal(e.e_relay_addr, "192.0.2.1");
	assert_int_equal(e.e_relay_port, 25);
	assert_true(e.e_remote);
	assert_string_equal(e.e_dsn, "5.1.1");
	assert_int_equal(e.e_status, RG_MAILLOG_BOUNCED);
	assert_int_equal(e.e_stage, RG_MAILLOG_AT_RCPT);
	assert_true(e.e_has_reply);
	assert_int_equal(e.e_reply.r_code, 550);
	assert_string_equal(e.e_reply.r_dsn, "5.1.1");
	assert_string_equal(e.e_reply.r_text, "<a@example.net>: Recipient address rejected: User unknown");
}

/* Gmail's multi-line reply, joined by Postfix with spaces, reads as its lines. */
static void
test_maillog_multiline(void **state)
{
	struct rg_maillog_entry e;
	(void)state;

	assert_int_equal(parse("2026-12-07T09:55:01.5+01:00 mx1 postfix/smtp[1]: 4AB3C2D1E1: "
	    "to=<e@gmail.com>, relay=gmail-smtp-in.l.google.com[2a00:1450:400c:c0b::1a]:25, "
	    "delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host "
	    "gmail-smtp-in.l.google.com[2a00:1450:400c:c0b::1a] said: 550-5.1.1 The email account "
	    "that you tried to reach does not exist. 550-5.1.1 Please try again. 550 5.1.1 "
	    "https://support.google.com/mail/?p=NoSuchUser - gsmtp (in reply to RCPT TO command))",
	    RG_MAILLOG_POSTFIX, &e), 1);
	assert_string_equal(e.e_relay_addr, "2a00:1450:400c:c0b::1a");
	assert_true(e.e_remote);
	assert_string_equal(e.e_reply.r_dsn, "5.1.1");
	assert_string_equal(e.e_reply.r_text, "The email account that you tried to reach does not "
	    "exist. Please try again. https://support.google.com/mail/?p=NoSuchUser - gsmtp");
	/* RFC 3339 with its offset: 09:55:01 at +01:00 is 08:55:01 UTC. */
	assert_int_equal(e.e_time, NOW - 3600 - 299);
}

static void
test_maillog_sent_and_local(void **state)
{
	struct rg_maillog_entry e;
	(void)state;

	assert_int_equal(parse("3F2A1C0BB: to=<h@example.org>, relay=mx.example.org[93.184.216.35]:25, "
	    "delay=0.2, delays=0/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7777)",
	    RG_MAILLOG_AUTO, &e), 1);
	assert_int_equal(e.e_time, 0);		/* journalctl -o cat: no stamp */
	assert_string_equal(e.e_program, "");
	assert_int_equal(e.e_status, RG_MAILLOG_SENT);
	assert_int_equal(e.e_reply.r_code, 250);
	assert_string_equal(e.e_reply.r_text, "Ok: queued as 7777");
	/* local(8): no host of an IP address, nothing remote. */
	assert_int_equal(parse("Dec  7 09:58:00 mx1 postfix/local[200]: 7D8E9F0A1B: to=<u@mx1.example.com>, "
	    "relay=local, delay=0.1, delays=0/0/0/0.1, dsn=5.1.1, status=bounced (unknown user: \"u\")",
	    RG_MAILLOG_AUTO, &e), 1);
	assert_false(e.e_remote);
	assert_string_equal(e.e_relay_host, "local");
	assert_false(e.e_has_reply);
	/* lmtp(8) to a local store: never the recipient's remote server. */
	assert_int_equal(parse("Dec  7 09:58:03 mx1 postfix/lmtp[202]: 7D8E9F0A1E: to=<l@lmtp.example>, "
	    "relay=mail.lmtp.example[10.0.0.5]:24, delay=0.1, delays=0/0/0/0.1, dsn=5.1.1, "
	    "status=bounced (host mail.lmtp.example[10.0.0.5] said: 550 5.1.1 no (in reply to "
	    "RCPT TO command))", RG_MAILLOG_AUTO, &e), 1);
	assert_false(e.e_remote);
}

/* Quoted local parts stay one address, whatever they spell. */
static void
test_maillog_quoted(void **state)
{
	struct rg_maillog_entry e;
	(void)state;

	assert_int_equal(parse("Dec  7 10:01:01 mx1 postfix/smtp[125]: 8E9F0A1B2D: "
	    "to=<\"x>, status=sent \\\" y\"@example.com>, relay=mx.example.com[93.184.216.40]:25, "
	    "delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host mx.example.com[93.184.216.40] "
	    "said: 554 5.7.1 no (in reply to RCPT TO command))", RG_MAILLOG_AUTO, &e), 1);
	assert_span(&e.e_rcpt, "\"x>, status=sent \\\" y\"@example.com");
	assert_int_equal(e.e_status, RG_MAILLOG_BOUNCED);
	assert_int_equal(e.e_reply.r_code, 554);
}

static void
test_maillog_exim(void **state)
{
	struct rg_maillog_entry e;
	(void)state;

	assert_int_equal(parse("2026-12-07 10:00:01 1tABCD-000124-AB ** eb@example.org "
	    "R=dnslookup T=remote_smtp H=mx.example.org [93.184.216.34]:2525 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 "
	    "CV=no DN=\"CN=mx example\": SMTP error from remote mail server after pipelined "
	    "RCPT TO:<eb@example.org>: 550 5.1.1 No such user here", RG_MAILLOG_AUTO, &e), 1);
	assert_int_equal(e.e_format, RG_MAILLOG_EXIM);
	assert_string_equal(e.e_qid, "1tABCD-000124-AB");
	assert_span(&e.e_rcpt, "eb@example.org");
	assert_string_equal(e.e_relay_host, "mx.example.org");
	assert_string_equal(e.e_relay_addr, "93.184.216.34");
	assert_int_equal(e.e_relay_port, 2525);
	assert_int_equal(e.e_stage, RG_MAILLOG_AT_RCPT);
	assert_int_equal(e.e_reply.r_code, 550);
	assert_string_equal(e.e_reply.r_text, "No such user here");
	/* Exim before 4.9x: the host inside the error, the transport ending in a colon. */
	assert_int_equal(parse("2026-12-07 10:00:02 +0100 [4242] 1tABCD-000125-AB ** ec@example.org "
	    "<alias@example.com> R=dnslookup T=remote_smtp: SMTP error from remote mail server "
	    "after end of data: host mx.example.org [93.184.216.34]: 550 5.1.1 User unknown",
	    RG_MAILLOG_EXIM, &e), 1);
	assert_span(&e.e_orig, "alias@example.com");
	assert_string_equal(e.e_relay_addr, "93.184.216.34");
	assert_int_equal(e.e_stage, RG_MAILLOG_AT_DATA_END);
	assert_int_equal(e.e_time, NOW - 3600 + 2);
	/* A delivery with its confirmation. */
	assert_int_equal(parse("2026-12-07 10:00:03 1tABCD-000126-AB => ed@example.org R=dnslookup "
	    "T=remote_smtp H=mx.example.org [93.184.216.34] C=\"250 2.0.0 Ok: queued as 4F3\"",
	    RG_MAILLOG_EXIM, &e), 1);
	assert_int_equal(e.e_status, RG_MAILLOG_SENT);
	assert_int_equal(e.e_reply.r_code, 250);
	/* Postfix only: an Exim line is no record. */
	assert_int_equal(parse("2026-12-07 10:00:03 1tABCD-000126-AB => ed@example.org R=d T=r",
	    RG_MAILLOG_POSTFIX, &e), 0);
}

/* A stamp without a year is of this year, or last year's when that lies ahead. */
static void
test_maillog_year(void **state)
{
	struct rg_maillog_entry e;
	struct tm tm = { 0 };
	(void)state;

	assert_int_equal(parse("Dec 31 23:59:59 mx1 postfix/smtp[1]: ABCDE1: to=<a@b.example>, "
	    "relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (no route)",
	    RG_MAILLOG_AUTO, &e), 1);
	/* On 2026-12-07, Dec 31 23:59:59 lies ahead: it is 2025's. */
	tm.tm_year = 2025 - 1900;
	tm.tm_mon = 11;
	tm.tm_mday = 31;
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 59;
	tm.tm_isdst = -1;
	assert_int_equal(e.e_time, (int64_t)mktime(&tm));
	assert_int_equal(e.e_status, RG_MAILLOG_DEFERRED);
	assert_false(e.e_remote);
}

static void
test_maillog_not_records(void **state)
{
	static const char *const lines[] = {
		"Dec  7 09:59:00 mx1 postfix/smtpd[300]: NOQUEUE: reject: RCPT from x[198.51.100.9]: "
		    "550 5.1.1 <g@example.com>: User unknown; from=<s@example.org> to=<g@example.com> "
		    "proto=ESMTP helo=<client>",
		"Dec  7 10:01:00 mx1 postfix/smtpd[300]: NOQUEUE: reject: RCPT from x[198.51.100.9]: "
		    "554 5.7.1 <y@example.com>: Relay access denied; from=<AAAAAAA: to=<v@gmail.com>, "
		    "relay=mx[142.250.1.27]:25, dsn=5.1.1, status=bounced (host mx said: 550 5.1.1 no "
		    "(in reply to RCPT TO command))> to=<y@example.com> proto=ESMTP helo=<x>",
		"Dec  7 09:59:02 mx1 postfix/qmgr[90]: 59C18AE39B: from=<s@example.net>, size=1234, nrcpt=1 (queue active)",
		"Dec  7 09:59:07 mx1 postfix/smtp[125]: 59C18AE39B: removed",
		"Dec  7 10:01:05 mx1 postfix/smtp[125]: 8E9F0A1B31: to=<cut2@example.com",
		"Dec  7 10:01:04 mx1 postfix/smtp[125]: 8E9F0A1B30: to=<cut@example.com>, relay=x[1.2.3.4]:25, delay=1",
		"Dec  7 10:01:04 mx1 sshd[1]: ABCDEF: to=<a@b.example>, relay=x[1.2.3.4]:25, status=sent (250 ok)",
		"",
		"2026-12-07 10:00:10 1tABCD-00012B-AB Completed",
	};
	struct rg_maillog_entry e;
	(void)state;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (parse(lines[i], RG_MAILLOG_AUTO, &e) != 0)
			fail_msg("taken for a record: %s", lines[i]);
	}
}

static void
test_maillog_detect(void **state)
{
	(void)state;
	assert_int_equal(rg_maillog_detect("2026-12-07 10:00:10 1tABCD-00012B-AB Completed", 45),
	    RG_MAILLOG_EXIM);
	assert_int_equal(rg_maillog_detect("2026-12-07 10:00:11 SMTP connection from x lost", 47),
	    RG_MAILLOG_EXIM);
	assert_int_equal(rg_maillog_detect("Dec  7 09:59:02 mx1 postfix/qmgr[90]: x", 39),
	    RG_MAILLOG_POSTFIX);
	assert_int_equal(rg_maillog_detect("2026-12-07T09:55:00+00:00 mx1 postfix/smtp[1]: x", 48),
	    RG_MAILLOG_POSTFIX);
	assert_int_equal(rg_maillog_detect("", 0), RG_MAILLOG_AUTO);
	{
		enum rg_maillog_format f;
		assert_int_equal(rg_maillog_format_parse("exim", &f), 0);
		assert_int_equal(f, RG_MAILLOG_EXIM);
		assert_int_equal(rg_maillog_format_parse("sendmail", &f), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maillog_postfix_bounce),
		cmocka_unit_test(test_maillog_multiline),
		cmocka_unit_test(test_maillog_sent_and_local),
		cmocka_unit_test(test_maillog_quoted),
		cmocka_unit_test(test_maillog_exim),
		cmocka_unit_test(test_maillog_year),
		cmocka_unit_test(test_maillog_not_records),
		cmocka_unit_test(test_maillog_detect),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
