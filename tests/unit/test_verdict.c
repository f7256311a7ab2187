/*
 * test_verdict.c - name tables and the versioned record codec.
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

#include "rcptguard/record.h"
#include "rcptguard/verdict.h"

static void
sample(struct rg_verdict *v)
{
	rg_verdict_init(v, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX);
	v->v_flags = RG_VERDICT_F_ROLE;
	v->v_code = 550;
	v->v_attempts = 3;
	strcpy(v->v_dsn, "5.1.1");
	strcpy(v->v_mx, "mx1.example.org");
	rg_verdict_set_text(v, "5.1.1 <ghost@example.org>: Recipient address rejected", 52);
	v->v_checked_at = 1800000000;
	v->v_refresh_at = 1800010800;
	v->v_expires_at = 1800259200;
}

static void
test_verdict_roundtrip(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	struct rg_verdict a, b;
	size_t n;
	(void)state;

	sample(&a);
	n = rg_record_verdict_encode(&a, buf, sizeof(buf));
	assert_true(n > 36);
	assert_int_equal(rg_record_verdict_decode(buf, n, &b), RG_RECORD_OK);
	assert_int_equal(b.v_class, a.v_class);
	assert_int_equal(b.v_reason, a.v_reason);
	assert_int_equal(b.v_flags, a.v_flags);
	assert_int_equal(b.v_code, 550);
	assert_int_equal(b.v_attempts, 3);
	assert_string_equal(b.v_dsn, "5.1.1");
	assert_string_equal(b.v_mx, "mx1.example.org");
	assert_string_equal(b.v_text, a.v_text);
	assert_true(b.v_checked_at == a.v_checked_at);
	assert_true(b.v_refresh_at == a.v_refresh_at);
	assert_true(b.v_expires_at == a.v_expires_at);
}

static void
test_verdict_roundtrip_max(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	struct rg_verdict a, b;
	char text[600];
	size_t n;
	(void)state;

	rg_verdict_init(&a, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS);
	memset(a.v_dsn, '9', RG_VERDICT_DSN_MAX);
	memset(a.v_mx, 'm', RG_VERDICT_MX_MAX);
	memset(a.v_qid, 'Q', RG_VERDICT_QID_MAX);
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	rg_verdict_set_text(&a, text, strlen(text));
	assert_int_equal(strlen(a.v_text), RG_VERDICT_TEXT_MAX);	/* bounded */
	a.v_expires_at = -1;	/* negative times survive too */
	n = rg_record_verdict_encode(&a, buf, sizeof(buf));
	assert_int_equal(n, RG_RECORD_VERDICT_MAX);
	assert_int_equal(rg_record_verdict_decode(buf, n, &b), RG_RECORD_OK);
	assert_int_equal(strlen(b.v_mx), RG_VERDICT_MX_MAX);
	assert_int_equal(strlen(b.v_qid), RG_VERDICT_QID_MAX);
	assert_true(b.v_expires_at == -1);
	/* A buffer one byte short is refused, not overrun. */
	assert_int_equal(rg_record_verdict_encode(&a, buf, n - 1), 0);
}

/* old_fields - the header and the fixed fields every verdict version starts with. */
static void
old_fields(struct rg_record_writer *w, unsigned char *buf, size_t size, uint8_t version,
    enum rg_class c, enum rg_reason r, uint16_t code, uint16_t attempts)
{
	rg_record_writer_init(w, buf, size);
	rg_record_put_header(w, RG_RECORD_VERDICT, version, 1900000000);
	rg_record_put_i64(w, 1850000000);
	rg_record_put_i64(w, 1800000000);
	rg_record_put_u8(w, (uint8_t)c);
	rg_record_put_u8(w, (uint8_t)r);
	rg_record_put_u16(w, 0);
	rg_record_put_u16(w, code);
	rg_record_put_u16(w, attempts);
}

/* A version 1 verdict (before retry_reason) still reads, with none. */
static void
test_verdict_version1(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	struct rg_record_writer w;
	struct rg_verdict v;
	size_t n;
	(void)state;

	old_fields(&w, buf, sizeof(buf), 1, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, 550, 3);
	rg_record_put_str8(&w, "5.1.1", 5);
	rg_record_put_str8(&w, "mx.example", 10);
	rg_record_put_str16(&w, "no such user", 12);
	assert_true((n = rg_record_writer_end(&w)) > 0);
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_OK);
	assert_int_equal(v.v_class, RG_CLASS_UNDELIVERABLE);
	assert_int_equal(v.v_attempts, 3);
	assert_int_equal(v.v_retry_reason, 0);
	assert_string_equal(v.v_text, "no such user");
	assert_int_equal(v.v_source, RG_SOURCE_PROBE);
	/* Version 3 carries the reason of the last retry, range-checked. */
	v.v_retry_reason = RG_REASON_THROTTLED;
	n = rg_record_verdict_encode(&v, buf, sizeof(buf));
	assert_int_equal(buf[3], 3);
	memset(&v, 0, sizeof(v));
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_OK);
	assert_int_equal(v.v_retry_reason, RG_REASON_THROTTLED);
	buf[RG_RECORD_HDR + 24] = RG_REASON_COUNT;	/* the retry_reason byte */
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_ECORRUPT);
}

/*
 * A version 2 verdict (before source and queue id) reads as a probe's;
 * version 3 keeps both, and refuses a source out of range or a queue id
 * with a space or a control byte.
 */
static void
test_verdict_version2_source(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	struct rg_record_writer w;
	struct rg_verdict v;
	size_t n;
	(void)state;

	old_fields(&w, buf, sizeof(buf), 2, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED, 250, 1);
	rg_record_put_u8(&w, 0);
	rg_record_put_str8(&w, "2.1.5", 5);
	rg_record_put_str8(&w, "mx.example", 10);
	rg_record_put_str16(&w, "ok", 2);
	assert_true((n = rg_record_writer_end(&w)) > 0);
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_OK);
	assert_int_equal(v.v_source, RG_SOURCE_PROBE);
	assert_string_equal(v.v_qid, "");
	/* Version 2 with a queue id appended is damaged, not misread. */
	rg_record_put_str8(&w, "4AB3C2", 6);
	assert_int_equal(rg_record_verdict_decode(buf, rg_record_writer_end(&w), &v),
	    RG_RECORD_ECORRUPT);

	v.v_source = RG_SOURCE_DELIVERY;
	strcpy(v.v_qid, "59C18AE39B");
	v.v_flags |= RG_VERDICT_F_DELIVERED;
	n = rg_record_verdict_encode(&v, buf, sizeof(buf));
	memset(&v, 0, sizeof(v));
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_OK);
	assert_int_equal(v.v_source, RG_SOURCE_DELIVERY);
	assert_string_equal(v.v_qid, "59C18AE39B");
	assert_true(v.v_flags & RG_VERDICT_F_DELIVERED);
	assert_string_equal(rg_verdict_source_name(v.v_source), "delivery");
	buf[RG_RECORD_HDR + 25] = RG_SOURCE_COUNT;	/* the source byte */
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_ECORRUPT);
	buf[RG_RECORD_HDR + 25] = RG_SOURCE_ADMIN;
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_OK);
	assert_int_equal(v.v_source, RG_SOURCE_ADMIN);
	buf[n - 3] = ' ';	/* inside the queue id */
	assert_int_equal(rg_record_verdict_decode(buf, n, &v), RG_RECORD_ECORRUPT);
	{
		enum rg_source src;
		assert_int_equal(rg_verdict_source_parse("admin", &src), 0);
		assert_int_equal(src, RG_SOURCE_ADMIN);
		assert_int_equal(rg_verdict_source_parse("Admin", &src), -1);
	}
}

static void
test_verdict_unknown_version(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX];
	struct rg_verdict a, b;
	size_t n;
	(void)state;

	sample(&a);
	n = rg_record_verdict_encode(&a, buf, sizeof(buf));
	buf[3] = RG_RECORD_VERDICT_VERSION + 1;
	assert_int_equal(rg_record_verdict_decode(buf, n, &b), RG_RECORD_EVERSION);
	buf[3] = 0;
	assert_int_equal(rg_record_verdict_decode(buf, n, &b), RG_RECORD_EVERSION);
}

static void
test_verdict_damaged(void **state)
{
	unsigned char buf[RG_RECORD_VERDICT_MAX], copy[RG_RECORD_VERDICT_MAX + 8];
	struct rg_verdict a, b;
	size_t n;
	(void)state;

	sample(&a);
	n = rg_record_verdict_encode(&a, buf, sizeof(buf));
	/* Every truncation is refused. */
	for (size_t len = 0; len < n; len++)
		assert_int_not_equal(rg_record_verdict_decode(buf, len, &b), RG_RECORD_OK);
	/* Trailing bytes are refused. */
	memcpy(copy, buf, n);
	copy[n] = 'x';
	assert_int_equal(rg_record_verdict_decode(copy, n + 1, &b), RG_RECORD_ECORRUPT);
	/* Bad magic, out-of-range enums, control bytes in strings. */
	memcpy(copy, buf, n);
	copy[0] = 'X';
	assert_int_equal(rg_record_verdict_decode(copy, n, &b), RG_RECORD_ECORRUPT);
	memcpy(copy, buf, n);
	copy[28] = RG_CLASS_COUNT;
	assert_int_equal(rg_record_verdict_decode(copy, n, &b), RG_RECORD_ECORRUPT);
	memcpy(copy, buf, n);
	copy[29] = RG_REASON_COUNT;
	assert_int_equal(rg_record_verdict_decode(copy, n, &b), RG_RECORD_ECORRUPT);
	memcpy(copy, buf, n);
	copy[37] = '\n';	/* first byte of the DSN */
	assert_int_equal(rg_record_verdict_decode(copy, n, &b), RG_RECORD_ECORRUPT);
	/* A length byte pointing past the end. */
	memcpy(copy, buf, n);
	copy[36] = 200;
	assert_int_equal(rg_record_verdict_decode(copy, n, &b), RG_RECORD_ECORRUPT);
	/* Random bytes never decode into something out of range. */
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % (int)sizeof(copy));
		for (size_t i = 0; i < len; i++)
			copy[i] = (unsigned char)rand();
		if (round % 2 == 0 && len >= 4) {
			copy[0] = 'r';
			copy[1] = 'g';
			copy[2] = 'v';
			copy[3] = 1;
		}
		if (rg_record_verdict_decode(copy, len, &b) == RG_RECORD_OK) {
			assert_true((unsigned)b.v_class < RG_CLASS_COUNT);
			assert_true((unsigned)b.v_reason < RG_REASON_COUNT);
			assert_true(strlen(b.v_text) <= RG_VERDICT_TEXT_MAX);
		}
	}
}

static void
test_verdict_set_text_sanitizes(void **state)
{
	struct rg_verdict v;
	(void)state;

	rg_verdict_init(&v, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE);
	rg_verdict_set_text(&v, "try\r\nlater\x01\xff", 12);
	assert_string_equal(v.v_text, "try??later??");
}

static void
test_verdict_names(void **state)
{
	static const char *const reasons[] = {
		"accepted", "no_mailbox", "no_domain", "null_mx", "no_mail_host", "bad_syntax",
		"mailbox_disabled", "catch_all", "accept_all_provider", "ambiguous_252",
		"mailbox_full", "disposable", "role_account", "greylisted", "temp_failure",
		"timeout", "connect_failed", "policy_block", "sender_rejected", "tls_required",
		"auth_required", "throttled", "dns_error", "forbidden_address", "protocol_error",
		"in_progress", "smtputf8_unsupported",
	};
	enum rg_reason r;
	enum rg_class c;
	(void)state;

	/* The closed list of DESIGN.md section 4 and smtputf8_unsupported, in order. */
	assert_int_equal(sizeof(reasons) / sizeof(reasons[0]), RG_REASON_COUNT);
	for (int i = 0; i < RG_REASON_COUNT; i++) {
		assert_string_equal(rg_verdict_reason_name((enum rg_reason)i), reasons[i]);
		assert_int_equal(rg_verdict_reason_parse(reasons[i], &r), 0);
		assert_int_equal(r, i);
		assert_true(rg_verdict_reason_text(r)[0] != '\0');
	}
	assert_int_equal(rg_verdict_reason_parse("nonsense", &r), -1);
	assert_string_equal(rg_verdict_reason_name(RG_REASON_COUNT), "?");
	assert_int_equal(rg_verdict_class_parse("risky", &c), 0);
	assert_int_equal(c, RG_CLASS_RISKY);
	assert_int_equal(rg_verdict_class_parse("Risky", &c), -1);
	/* Reject codes of DESIGN.md section 7. */
	assert_string_equal(rg_verdict_reason_dsn(RG_REASON_NO_MAILBOX), "5.1.1");
	assert_string_equal(rg_verdict_reason_dsn(RG_REASON_NO_DOMAIN), "5.1.2");
	assert_string_equal(rg_verdict_reason_dsn(RG_REASON_BAD_SYNTAX), "5.1.3");
	assert_string_equal(rg_verdict_reason_dsn(RG_REASON_NULL_MX), "5.1.10");
	/* Policy blocks are never undeliverable. */
	assert_int_equal(rg_verdict_reason_class(RG_REASON_POLICY_BLOCK), RG_CLASS_UNKNOWN);
	assert_int_equal(rg_verdict_reason_class(RG_REASON_SENDER_REJECTED), RG_CLASS_UNKNOWN);
}

static void
test_verdict_state(void **state)
{
	struct rg_verdict v;
	(void)state;

	rg_verdict_init(&v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	v.v_checked_at = 100;
	v.v_refresh_at = 200;
	v.v_expires_at = 300;
	assert_int_equal(rg_verdict_state_at(&v, 100), RG_STATE_FRESH);
	assert_int_equal(rg_verdict_state_at(&v, 199), RG_STATE_FRESH);
	assert_int_equal(rg_verdict_state_at(&v, 200), RG_STATE_STALE);
	assert_int_equal(rg_verdict_state_at(&v, 299), RG_STATE_STALE);
	assert_int_equal(rg_verdict_state_at(&v, 300), RG_STATE_EXPIRED);
}

/* test_verdict_docs - rcptguard(1) lists every reason, so the docs cannot drift. */
static void
test_verdict_docs(void **state)
{
	const char *dir = getenv("top_builddir");
	char path[1024], *text;
	FILE *fp;
	long len;
	(void)state;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/man/rcptguard.1", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	for (int i = 0; i < RG_REASON_COUNT; i++) {
		char needle[64];
		snprintf(needle, sizeof(needle), ".B %s\n", rg_verdict_reason_name((enum rg_reason)i));
		if (strstr(text, needle) == NULL)
			fail_msg("rcptguard(1) does not document reason %s",
			    rg_verdict_reason_name((enum rg_reason)i));
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_roundtrip),
		cmocka_unit_test(test_verdict_roundtrip_max),
		cmocka_unit_test(test_verdict_unknown_version),
		cmocka_unit_test(test_verdict_version1),
		cmocka_unit_test(test_verdict_version2_source),
		cmocka_unit_test(test_verdict_damaged),
		cmocka_unit_test(test_verdict_set_text_sanitizes),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_verdict_state),
		cmocka_unit_test(test_verdict_docs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
