/*
 * test_dns_record.c - the cached form of MX data: round trip, and refusal
 * of every truncated or damaged record.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/record.h"
#include "rcptguard/dns.h"

static void
sample(struct rg_mx_result *r)
{
	struct sockaddr_in *a;
	struct sockaddr_in6 *b;

	memset(r, 0, sizeof(*r));
	r->m_status = RG_DNS_OK;
	r->m_nhosts = 2;
	strcpy(r->m_hosts[0].h_name, "mx1.example.org");
	r->m_hosts[0].h_pref = 10;
	r->m_hosts[0].h_naddrs = 2;
	a = (struct sockaddr_in *)(void *)&r->m_hosts[0].h_addrs[0];
	a->sin_family = AF_INET;
	a->sin_port = htons(25);
	inet_pton(AF_INET, "192.0.2.10", &a->sin_addr);
	r->m_hosts[0].h_addrlens[0] = sizeof(*a);
	b = (struct sockaddr_in6 *)(void *)&r->m_hosts[0].h_addrs[1];
	b->sin6_family = AF_INET6;
	b->sin6_port = htons(25);
	inet_pton(AF_INET6, "2001:db8::25", &b->sin6_addr);
	r->m_hosts[0].h_addrlens[1] = sizeof(*b);
	strcpy(r->m_hosts[1].h_name, "mx2.example.org");
	r->m_hosts[1].h_pref = 20;
	r->m_hosts[1].h_naddrs = 0;
}

static void
test_dns_record_roundtrip(void **state)
{
	unsigned char buf[RG_RECORD_MX_MAX];
	struct rg_mx_result in, out;
	size_t n;
	(void)state;

	sample(&in);
	n = rg_record_mx_encode(&in, 1800000000, buf, sizeof(buf));
	assert_true(n > 14);
	assert_int_equal(rg_record_mx_decode(buf, n, &out, NULL), 0);
	assert_int_equal(out.m_status, RG_DNS_OK);
	assert_int_equal(out.m_nhosts, 2);
	assert_string_equal(out.m_hosts[0].h_name, "mx1.example.org");
	assert_int_equal(out.m_hosts[0].h_pref, 10);
	assert_int_equal(out.m_hosts[0].h_naddrs, 2);
	assert_memory_equal(&out.m_hosts[0].h_addrs[0], &in.m_hosts[0].h_addrs[0],
	    sizeof(struct sockaddr_in));
	assert_memory_equal(&out.m_hosts[0].h_addrs[1], &in.m_hosts[0].h_addrs[1],
	    sizeof(struct sockaddr_in6));
	assert_int_equal(out.m_hosts[1].h_pref, 20);
	/* Only resolved results are cached. */
	in.m_status = RG_DNS_TEMPFAIL;
	assert_int_equal(rg_record_mx_encode(&in, 0, buf, sizeof(buf)), 0);
}

static void
test_dns_record_damaged(void **state)
{
	unsigned char buf[RG_RECORD_MX_MAX], copy[RG_RECORD_MX_MAX + 1];
	struct rg_mx_result in, out;
	size_t n;
	(void)state;

	sample(&in);
	n = rg_record_mx_encode(&in, 1800000000, buf, sizeof(buf));
	for (size_t len = 0; len < n; len++)
		assert_true(rg_record_mx_decode(buf, len, &out, NULL) < 0);
	memcpy(copy, buf, n);
	copy[n] = 0;
	assert_true(rg_record_mx_decode(copy, n + 1, &out, NULL) < 0);	/* trailing byte */
	memcpy(copy, buf, n);
	copy[12] = RG_DNS_MAX_HOSTS + 1;
	assert_true(rg_record_mx_decode(copy, n, &out, NULL) < 0);
	memcpy(copy, buf, n);
	copy[17] = '\n';	/* a control byte in the host name */
	assert_true(rg_record_mx_decode(copy, n, &out, NULL) < 0);
	/* Random input never decodes into something out of bounds. */
	srand(3);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % 200);
		for (size_t i = 0; i < len; i++)
			copy[i] = (unsigned char)rand();
		if (len >= 4) {
			copy[0] = 'r';
			copy[1] = 'g';
			copy[2] = 'm';
			copy[3] = 1;
		}
		if (rg_record_mx_decode(copy, len, &out, NULL) == 0) {
			assert_true(out.m_nhosts >= 1 && out.m_nhosts <= RG_DNS_MAX_HOSTS);
			for (int h = 0; h < out.m_nhosts; h++)
				assert_true(out.m_hosts[h].h_naddrs <= RG_DNS_MAX_ADDRS);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_record_roundtrip),
		cmocka_unit_test(test_dns_record_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
