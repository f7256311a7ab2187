/*
 * test_netaddr.c - which addresses the prober may connect to: every entry
 * of the IANA special-purpose registries that is not globally reachable
 * (first, last and an inner address), IPv4 carried inside IPv6, global
 * addresses, the allow list, and the network list parser.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "rcptguard/netaddr.h"
#include "rcptguard/util.h"

/* sockaddr_of - text to a sockaddr of the right family; fails the test on bad text. */
static const struct sockaddr *
sockaddr_of(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
			fail_msg("bad test address %s", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &s4->sin_addr) != 1)
			fail_msg("bad test address %s", text);
	}
	return (const struct sockaddr *)ss;
}

static int
forbidden(const char *text, const struct rg_netaddr_list *allow)
{
	struct sockaddr_storage ss;

	return rg_netaddr_forbidden(sockaddr_of(text, &ss), allow);
}

/* Registry entries that are not globally reachable: first, inner, last. */
static const char *const special[][4] = {
	{ "0.0.0.0/8", "0.0.0.0", "0.1.2.3", "0.255.255.255" },
	{ "10.0.0.0/8", "10.0.0.0", "10.20.30.40", "10.255.255.255" },
	{ "100.64.0.0/10", "100.64.0.0", "100.100.1.1", "100.127.255.255" },
	{ "127.0.0.0/8", "127.0.0.0", "127.0.0.1", "127.255.255.255" },
	{ "169.254.0.0/16", "169.254.0.0", "169.254.169.254", "169.254.255.255" },
	{ "172.16.0.0/12", "172.16.0.0", "172.20.1.1", "172.31.255.255" },
	{ "192.0.0.0/24", "192.0.0.0", "192.0.0.170", "192.0.0.255" },
	{ "192.0.0.0/29 DS-Lite", "192.0.0.0", "192.0.0.2", "192.0.0.7" },
	{ "192.0.0.8/32", "192.0.0.8", "192.0.0.8", "192.0.0.8" },
	{ "192.0.0.170/32 NAT64 discovery", "192.0.0.170", "192.0.0.171", "192.0.0.171" },
	{ "192.0.2.0/24", "192.0.2.0", "192.0.2.77", "192.0.2.255" },
	{ "192.88.99.0/24", "192.88.99.0", "192.88.99.1", "192.88.99.255" },
	{ "192.168.0.0/16", "192.168.0.0", "192.168.1.1", "192.168.255.255" },
	{ "198.18.0.0/15", "198.18.0.0", "198.19.0.1", "198.19.255.255" },
	{ "198.51.100.0/24", "198.51.100.0", "198.51.100.9", "198.51.100.255" },
	{ "203.0.113.0/24", "203.0.113.0", "203.0.113.99", "203.0.113.255" },
	{ "224.0.0.0/4 multicast", "224.0.0.0", "233.1.2.3", "239.255.255.255" },
	{ "240.0.0.0/4", "240.0.0.0", "250.1.2.3", "255.255.255.254" },
	{ "255.255.255.255/32", "255.255.255.255", "255.255.255.255", "255.255.255.255" },
	{ "::1/128", "::1", "::1", "::1" },
	{ "::/128", "::", "::", "::" },
	{ "::ffff:0:0/96 (unwrapped)", "::ffff:0.0.0.0", "::ffff:10.1.2.3", "::ffff:127.255.255.255" },
	{ "64:ff9b:1::/48", "64:ff9b:1::", "64:ff9b:1:1234::8.8.8.8", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff" },
	{ "100::/64", "100::", "100::1:2", "100::ffff:ffff:ffff:ffff" },
	{ "100:0:0:1::/64 dummy prefix", "100:0:0:1::", "100:0:0:1::5", "100:0:0:1:ffff:ffff:ffff:ffff" },
	{ "2001::/23", "2001::", "2001:2::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "2001::/32 Teredo", "2001::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "2001:2::/48 benchmarking", "2001:2::", "2001:2:0:1::1", "2001:2:0:ffff:ffff:ffff:ffff:ffff" },
	{ "2001:10::/28 ORCHID", "2001:10::", "2001:10::1", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "2001:db8::/32", "2001:db8::", "2001:db8:1::25", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "3fff::/20", "3fff::", "3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "5f00::/16 SRv6", "5f00::", "5f00:1::1", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fc00::/7", "fc00::", "fd12:3456::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fe80::/10", "fe80::", "fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fec0::/10 site-local", "fec0::", "fec0::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "ff00::/8 multicast", "ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "::/8 reserved", "::2", "0:1::1", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "4000::/3 unallocated", "4000::", "4abc::1", "5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
};

static void
test_netaddr_registry(void **state)
{
	(void)state;
	for (size_t i = 0; i < RG_ARRAY_LEN(special); i++)
		for (int j = 1; j < 4; j++)
			if (!forbidden(special[i][j], NULL))
				fail_msg("%s of %s is allowed", special[i][j], special[i][0]);
}

/* IPv4 inside IPv6: judged as the IPv4 address it reaches. */
static const struct {
	const char	*addr;
	int		 forbidden;
} embedded[] = {
	{ "64:ff9b::127.0.0.1", 1 },		/* NAT64 to loopback */
	{ "64:ff9b::10.0.0.1", 1 },		/* NAT64 to a private host */
	{ "64:ff9b::169.254.169.254", 1 },	/* NAT64 to the metadata service */
	{ "64:ff9b::100.64.0.1", 1 },		/* NAT64 to CGNAT */
	{ "64:ff9b::8.8.8.8", 0 },		/* NAT64 to a global host */
	{ "2002:7f00:1::1", 1 },		/* 6to4 of 127.0.0.1 */
	{ "2002:a9fe:a9fe::1", 1 },		/* 6to4 of 169.254.169.254 */
	{ "2002:0a00:0001::", 1 },		/* 6to4 of 10.0.0.1 */
	{ "2002:0808:0808::1", 0 },		/* 6to4 of 8.8.8.8 */
	{ "::127.0.0.1", 1 },			/* IPv4-compatible */
	{ "::8.8.8.8", 1 },			/* IPv4-compatible routes nowhere */
	{ "::ffff:0:127.0.0.1", 1 },		/* SIIT */
	{ "::ffff:0:8.8.8.8", 1 },		/* SIIT is translator-local */
	{ "::ffff:127.0.0.1", 1 },		/* IPv4-mapped */
	{ "::ffff:8.8.8.8", 0 },		/* IPv4-mapped global */
};

static void
test_netaddr_embedded(void **state)
{
	(void)state;
	for (size_t i = 0; i < RG_ARRAY_LEN(embedded); i++)
		if (forbidden(embedded[i].addr, NULL) != embedded[i].forbidden)
			fail_msg("%s: forbidden=%d, want %d", embedded[i].addr,
			    !embedded[i].forbidden, embedded[i].forbidden);
}

static void
test_netaddr_global(void **state)
{
	static const char *const global[] = {
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255",
		"100.128.0.0", "126.255.255.255", "128.0.0.0", "169.253.255.255",
		"172.15.255.255", "172.32.0.0", "192.0.1.0", "192.0.3.0", "192.31.196.1",
		"192.88.98.255", "192.167.255.255", "192.169.0.0", "198.17.255.255",
		"198.20.0.0", "223.255.255.255", "2000::1", "2001:200::1",
		"2001:4860:4860::8888", "2001:db7:ffff::1", "2001:db9::1", "2a00:1450::1",
		"2606:4700::1111", "3ffe:ffff::1", "3fff:1000::1",
	};

	(void)state;
	for (size_t i = 0; i < RG_ARRAY_LEN(global); i++)
		if (forbidden(global[i], NULL))
			fail_msg("global address %s is forbidden", global[i]);
}

static void
test_netaddr_allow(void **state)
{
	struct rg_netaddr_list allow;
	char err[256];

	(void)state;
	assert_int_equal(rg_netaddr_parse_list("127.0.0.0/8, fd00::/8", &allow, err,
	    sizeof(err)), 0);
	assert_int_equal(forbidden("127.0.0.1", &allow), 0);
	assert_int_equal(forbidden("127.255.0.1", &allow), 0);
	assert_int_equal(forbidden("fd00::25", &allow), 0);
	assert_int_equal(forbidden("::ffff:127.0.0.1", &allow), 0);
	assert_int_equal(forbidden("64:ff9b::127.0.0.1", &allow), 0);
	assert_int_equal(forbidden("2002:7f00:1::1", &allow), 0);
	/* The allow list opens what it names, nothing more. */
	assert_int_equal(forbidden("10.0.0.1", &allow), 1);
	assert_int_equal(forbidden("64:ff9b::10.0.0.1", &allow), 1);
	assert_int_equal(forbidden("fc00::1", &allow), 1);
	assert_int_equal(forbidden("::1", &allow), 1);
	/* A form that routes nowhere stays refused unless listed itself. */
	assert_int_equal(forbidden("::127.0.0.1", &allow), 1);
	assert_int_equal(forbidden("::ffff:0:127.0.0.1", &allow), 1);
	assert_int_equal(rg_netaddr_parse_list("::127.0.0.1/128", &allow, err, sizeof(err)), 0);
	assert_int_equal(forbidden("::127.0.0.1", &allow), 0);
	/* The empty list allows nothing special. */
	assert_int_equal(rg_netaddr_parse_list("", &allow, err, sizeof(err)), 0);
	assert_int_equal(allow.l_count, 0);
	assert_int_equal(forbidden("127.0.0.1", &allow), 1);
}

static void
test_netaddr_parse(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/-1", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/ 8",
		"10.0.0.0/8x", "10.0.0.0/0008", "::/129", "::/-0", "example.org", "10.0.0.256",
		"10.0.0.0/8/8",
	};
	struct rg_netaddr_list l;
	char err[256];

	(void)state;
	for (size_t i = 0; i < RG_ARRAY_LEN(bad); i++)
		if (rg_netaddr_parse_list(bad[i], &l, err, sizeof(err)) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(rg_netaddr_parse_list("10.0.0.0/0, ::/0, 192.0.2.1, 2001:db8::/32",
	    &l, err, sizeof(err)), 0);
	assert_int_equal(l.l_count, 4);
	assert_int_equal(l.l_nets[0].n_bits, 0);
	assert_int_equal(l.l_nets[2].n_bits, 32);
	assert_int_equal(l.l_nets[3].n_bits, 32);
	assert_int_equal(rg_netaddr_parse_list("10.0.0.0/-1", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "10.0.0.0/-1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netaddr_registry),
		cmocka_unit_test(test_netaddr_embedded),
		cmocka_unit_test(test_netaddr_global),
		cmocka_unit_test(test_netaddr_allow),
		cmocka_unit_test(test_netaddr_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
