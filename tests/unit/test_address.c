/*
 * test_address.c - the RFC 5321 Mailbox parser, table-driven.
 *
 * Each row gives an input (with an explicit length, so embedded NULs are
 * real), whether it must parse, and for valid rows the exact normalized
 * mailbox and flags; for invalid rows the expected detail text.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "rcptguard/address.h"

#define L(s) s, sizeof(s) - 1
#define OK(in, out, flags) { L(in), 1, out, flags, NULL }
#define BAD(in, detail) { L(in), 0, NULL, 0, detail }

struct addr_case {
	const char	*in;
	size_t		 len;
	int		 valid;
	const char	*mailbox;	/* expected wire form */
	unsigned	 flags;
	const char	*detail;	/* expected error detail */
};

static const struct addr_case addr_cases[] = {
	/* plain and dot-atom */
	OK("user@example.com", "user@example.com", 0),
	OK("first.last@example.com", "first.last@example.com", 0),
	OK("User@Example.COM", "User@example.com", 0),
	OK("<user@example.com>", "user@example.com", 0),
	OK("user+tag@example.com", "user+tag@example.com", 0),
	OK("a!#$%&'*+-/=?^_`{|}~z@example.com", "a!#$%&'*+-/=?^_`{|}~z@example.com", 0),
	OK("x@a.b", "x@a.b", 0),
	OK("x@sub.domain.example.co.uk", "x@sub.domain.example.co.uk", 0),
	OK("x@my-host.example", "x@my-host.example", 0),
	OK("x@123.example", "x@123.example", 0),
	OK("1234@example.com", "1234@example.com", 0),
	/* quoted local parts */
	OK("\"john\"@example.com", "john@example.com", 0),
	OK("\"john doe\"@example.com", "\"john doe\"@example.com", RG_ADDR_F_QUOTED),
	OK("\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com", RG_ADDR_F_QUOTED),
	OK("\"a\\\\b\"@example.com", "\"a\\\\b\"@example.com", RG_ADDR_F_QUOTED),
	OK("\"\\j\"@example.com", "j@example.com", 0),
	OK("\"a..b\"@example.com", "\"a..b\"@example.com", RG_ADDR_F_QUOTED),
	OK("\".a\"@example.com", "\".a\"@example.com", RG_ADDR_F_QUOTED),
	OK("\"a@b\"@example.com", "\"a@b\"@example.com", RG_ADDR_F_QUOTED),
	OK("\"(comment)\"@example.com", "\"(comment)\"@example.com", RG_ADDR_F_QUOTED),
	/* IDN and UTF-8 */
	OK("user@bücher.example", "user@xn--bcher-kva.example", RG_ADDR_F_IDN),
	OK("user@BÜCHER.example", "user@xn--bcher-kva.example", RG_ADDR_F_IDN),
	OK("user@例え.テスト", "user@xn--r8jz45g.xn--zckzah", RG_ADDR_F_IDN),
	OK("user@xn--bcher-kva.example", "user@xn--bcher-kva.example", 0),
	OK("jörg@example.com", "jörg@example.com", RG_ADDR_F_UTF8_LOCAL),
	/* domains without a dot and address literals: parsed, flagged */
	OK("root@localhost", "root@localhost", RG_ADDR_F_NODOT),
	OK("user@[192.0.2.1]", "user@[192.0.2.1]", RG_ADDR_F_LITERAL),
	OK("user@[IPv6:2001:DB8::1]", "user@[IPv6:2001:db8::1]", RG_ADDR_F_LITERAL),
	OK("user@[ipv6:::1]", "user@[IPv6:::1]", RG_ADDR_F_LITERAL),
	/* source route: accepted and ignored */
	OK("<@relay.example:user@example.com>", "user@example.com", 0),
	OK("<@a.example,@b.example:user@example.com>", "user@example.com", 0),
	/* length limits: 64-byte local part, 63-byte label, 256-byte path */
	OK("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", 0),
	OK("x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	   "x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", 0),

	/* empty and structural */
	BAD("", "empty address"),
	BAD("<>", "null address"),
	BAD("user", "missing @"),
	BAD("@example.com", "empty local part"),
	BAD("user@", "empty domain"),
	BAD("<user@example.com", "unbalanced angle brackets"),
	BAD("user@example.com>", "unbalanced angle brackets"),
	BAD("user@@example.com", "bad character in domain"),
	BAD("a@b@example.com", "bad character in domain"),
	BAD("<@relay.example user@example.com>", "bad source route"),
	/* local part */
	BAD(".user@example.com", "dot at start of local part"),
	BAD("user.@example.com", "dot at end of local part"),
	BAD("us..er@example.com", "consecutive dots in local part"),
	BAD("us er@example.com", "bad character in local part"),
	BAD("us(er@example.com", "bad character in local part"),
	BAD("us\"er@example.com", "bad character in local part"),
	BAD("\"unterminated@example.com", "unterminated quoted string"),
	BAD("\"a\"b@example.com", "text after quoted local part"),
	BAD("\"\"@example.com", "empty local part"),
	BAD("j\xc3(rg@example.com", "invalid UTF-8 in local part"),
	BAD("\xc0\xafx@example.com", "invalid UTF-8 in local part"),
	BAD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
	    "local part too long"),
	BAD("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b\"@example.com",
	    "local part too long"),
	/* control characters anywhere: CR, LF, NUL, TAB, DEL */
	BAD("user\r\n@example.com", "control character"),
	BAD("user@example.com\r\nRCPT TO:<victim@example.org>", "control character"),
	BAD("user@example.com\nDATA", "control character"),
	BAD("user\0@example.com", "control character"),
	BAD("user@exam\0ple.com", "control character"),
	BAD("\"a\rb\"@example.com", "control character"),
	BAD("us\ter@example.com", "control character"),
	BAD("user@example.com\x7f", "control character"),
	BAD("\"a\\\nb\"@example.com", "control character"),
	/* domain */
	BAD("user@example.com.", "trailing dot in domain"),
	BAD("user@.example.com", "empty label in domain"),
	BAD("user@example..com", "empty label in domain"),
	BAD("user@-example.com", "hyphen at start or end of label"),
	BAD("user@example-.com", "hyphen at start or end of label"),
	BAD("user@exa_mple.com", "bad character in domain"),
	BAD("user@exa mple.com", "bad character in domain"),
	BAD("user@192.168.1.1", "numeric top-level label"),
	BAD("x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	    "label too long"),
	BAD("user@b\xc3\xbc\xff" "cher.example", "invalid UTF-8 in domain"),
	BAD("user@b\xc3\xbc..example", "empty label in domain"),
	BAD("user@b\xc3\xbc" "che.mxra)e", "bad character in domain"),	/* found by fuzz_address */
	/* address literals */
	BAD("user@[192.0.2.256]", "bad address literal"),
	BAD("user@[192.0.2.1", "unterminated address literal"),
	BAD("user@[IPv6:2001:db8::g]", "bad IPv6 address literal"),
	BAD("user@[tag:whatever]", "bad address literal"),
};

static void
test_address_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *tc = &addr_cases[i];
		struct rg_address a;
		struct rg_address_error e;
		int rc = rg_address_parse(tc->in, tc->len, 0, &a, &e);

		if (tc->valid) {
			if (rc != 0)
				fail_msg("case %zu: expected valid, got \"%s\" at %zu", i, e.e_detail,
				    e.e_offset);
			assert_string_equal(a.a_mailbox, tc->mailbox);
			assert_int_equal(a.a_flags, tc->flags);
			assert_string_equal(a.a_key, tc->mailbox);
			/* A normalized address never carries a control byte. */
			for (const char *p = a.a_mailbox; *p; p++)
				assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
		} else {
			if (rc == 0)
				fail_msg("case %zu: expected invalid (%s), parsed as %s", i,
				    tc->detail, a.a_mailbox);
			assert_int_equal(rc, -1);
			assert_non_null(e.e_detail);
			if (strcmp(e.e_detail, tc->detail) != 0)
				fail_msg("case %zu: detail \"%s\", expected \"%s\"", i, e.e_detail,
				    tc->detail);
			assert_true(e.e_offset <= tc->len);
		}
	}
	/* The issue asks for at least 60 cases. */
	assert_true(sizeof(addr_cases) / sizeof(addr_cases[0]) >= 60);
}

/* mk - a string of n copies of c. */
static void
mk(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void
test_address_path_limit(void **state)
{
	char local[65], label[64], in[600];
	struct rg_address a;
	struct rg_address_error e;
	(void)state;

	/* 64 + 1 + 189 = 254 octets: with "<" and ">" exactly the 256-octet path. */
	mk(local, 64, 'l');
	mk(label, 63, 'd');
	snprintf(in, sizeof(in), "<%s@%s.%s.%.*s.ex>", local, label, label, 58, label);
	assert_int_equal(strlen(in), 256);
	assert_int_equal(rg_address_parse(in, strlen(in), 0, &a, &e), 0);
	assert_int_equal(strlen(a.a_mailbox), 254);

	/* One more octet: 257. */
	snprintf(in, sizeof(in), "<%s@%s.%s.%.*s.exa>", local, label, label, 58, label);
	assert_int_equal(strlen(in), 257);
	assert_int_equal(rg_address_parse(in, strlen(in), 0, &a, &e), -1);
	assert_string_equal(e.e_detail, "path too long");
}

static void
test_address_domain_limit(void **state)
{
	char label[64], in[700];
	struct rg_address a;
	struct rg_address_error e;
	(void)state;

	/* A 255-octet domain is legal on its own but leaves no room in a path. */
	mk(label, 63, 'd');
	snprintf(in, sizeof(in), "x@%s.%s.%s.%s", label, label, label, label);
	assert_int_equal(strlen(in) - 2, 255);
	assert_int_equal(rg_address_parse(in, strlen(in), 0, &a, &e), -1);
	assert_string_equal(e.e_detail, "path too long");
	/* 256 octets of domain: refused as a domain. */
	snprintf(in, sizeof(in), "x@a%s.%s.%s.%s", label, label, label, label);
	assert_int_equal(strlen(in) - 2, 256);
	assert_int_equal(rg_address_parse(in, strlen(in), 0, &a, &e), -1);
	assert_string_equal(e.e_detail, "domain too long");
}

static void
test_address_input_limit(void **state)
{
	char in[RG_ADDR_INPUT_MAX + 2];
	struct rg_address a;
	struct rg_address_error e;
	(void)state;

	mk(in, sizeof(in) - 1, 'a');
	in[10] = '@';
	assert_int_equal(rg_address_parse(in, strlen(in), 0, &a, &e), -1);
	assert_string_equal(e.e_detail, "address too long");
}

static void
test_address_fold_key(void **state)
{
	struct rg_address a;
	struct rg_address_error e;
	(void)state;

	assert_int_equal(rg_address_parse(L("John.Doe@Example.ORG"), RG_ADDR_O_FOLD_LOCAL, &a, &e), 0);
	assert_string_equal(a.a_mailbox, "John.Doe@example.org");	/* wire form keeps case */
	assert_string_equal(a.a_key, "john.doe@example.org");		/* key folds it */
	assert_int_equal(rg_address_parse(L("John.Doe@Example.ORG"), 0, &a, &e), 0);
	assert_string_equal(a.a_key, "John.Doe@example.org");
	/* UTF-8 local parts are never folded byte-wise. */
	assert_int_equal(rg_address_parse(L("JÖRG@example.org"), RG_ADDR_O_FOLD_LOCAL, &a, &e), 0);
	assert_string_equal(a.a_key, "jÖrg@example.org");
}

static void
test_address_error_offset(void **state)
{
	struct rg_address a;
	struct rg_address_error e;
	(void)state;

	assert_int_equal(rg_address_parse(L("user@example.com\r\n"), 0, &a, &e), -1);
	assert_int_equal(e.e_offset, 16);
	assert_int_equal(rg_address_parse(L("user@exa_mple.com"), 0, &a, &e), -1);
	assert_int_equal(e.e_offset, 8);
}

static void
test_address_parse_domain(void **state)
{
	char out[RG_ADDR_DOMAIN_MAX + 1];
	unsigned flags = 0;
	struct rg_address_error e;
	(void)state;

	assert_int_equal(rg_address_parse_domain(L("MX1.Example.ORG"), out, sizeof(out), &flags, &e), 0);
	assert_string_equal(out, "mx1.example.org");
	assert_int_equal(rg_address_parse_domain(L("mx\r\n.example.org"), out, sizeof(out), &flags, &e), -1);
	assert_string_equal(e.e_detail, "control character");
	assert_int_equal(rg_address_parse_domain(L(""), out, sizeof(out), &flags, &e), -1);
	/* Output that does not fit is refused, not truncated. */
	assert_int_equal(rg_address_parse_domain(L("example.org"), out, 5, &flags, &e), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_table),
		cmocka_unit_test(test_address_path_limit),
		cmocka_unit_test(test_address_domain_limit),
		cmocka_unit_test(test_address_input_limit),
		cmocka_unit_test(test_address_fold_key),
		cmocka_unit_test(test_address_error_offset),
		cmocka_unit_test(test_address_parse_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
