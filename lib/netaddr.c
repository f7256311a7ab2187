/*
 * netaddr.c - CIDR lists and the addresses the prober refuses to touch.
 *
 * SECURITY
 *   An MX record is attacker data: it can name any address, and the verdict
 *   that comes back tells whether a port answered. So every address is
 *   checked against the IANA IPv4 and IPv6 special-purpose registries
 *   (RFC 6890 and its updates), and an IPv4 address carried inside IPv6
 *   (IPv4-mapped, IPv4-compatible, SIIT, the NAT64 well-known prefix of RFC
 *   6052, 6to4) is checked as the IPv4 address it reaches. IPv6 outside
 *   2000::/3, the only space allocated for global unicast, is refused too.
 *   A registry block that is not globally reachable is refused whole,
 *   including the few anycast service addresses inside it that are
 *   (192.0.0.9, 192.0.0.10, 2001:1::1 to ::3, 2001:3::/32, 2001:4:112::/48,
 *   2001:20::/28, 2001:30::/28): no MX lives there.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/netaddr.h"
#include "rcptguard/util.h"

/* rg_netaddr_match - the first bits of a and b agree. */
static int
rg_netaddr_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (rem == 0)
		return 1;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rem))) == 0;
}

/* rg_netaddr_parse_net - one "addr[/bits]". */
static int
rg_netaddr_parse_net(const char *tok, struct rg_netaddr_net *n)
{
	char buf[64], *slash;
	long bits = -1;

	if (rg_strlcpy(buf, tok, sizeof(buf)) >= sizeof(buf))
		return -1;
	if ((slash = strchr(buf, '/')) != NULL) {
		/* Digits only: strtol would take "-1", " 8" and "+8". */
		size_t len = strspn(slash + 1, "0123456789");
		if (len == 0 || len > 3 || slash[1 + len] != '\0')
			return -1;
		*slash = '\0';
		bits = strtol(slash + 1, NULL, 10);
	}
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->n_addr) == 1) {
		n->n_family = AF_INET;
		n->n_bits = bits < 0 ? 32 : (int)bits;
		return bits > 32 ? -1 : 0;
	}
	if (inet_pton(AF_INET6, buf, n->n_addr) == 1) {
		n->n_family = AF_INET6;
		n->n_bits = bits < 0 ? 128 : (int)bits;
		return bits > 128 ? -1 : 0;
	}
	return -1;
}

int
rg_netaddr_parse_list(const char *text, struct rg_netaddr_list *list, char *err, size_t errsize)
{
	char buf[1024], *save = NULL, *tok;

	list->l_count = 0;
	if (rg_strlcpy(buf, text, sizeof(buf)) >= sizeof(buf)) {
		snprintf(err, errsize, "network list too long");
		return -1;
	}
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (list->l_count >= RG_NETADDR_MAX_NETS) {
			snprintf(err, errsize, "more than %d networks", RG_NETADDR_MAX_NETS);
			return -1;
		}
		if (rg_netaddr_parse_net(tok, &list->l_nets[list->l_count]) < 0) {
			snprintf(err, errsize, "\"%s\" is not a network like 127.0.0.0/8", tok);
			return -1;
		}
		list->l_count++;
	}
	return 0;
}

/* rg_netaddr_bytes - the address bytes and family of sa, as given. */
static int
rg_netaddr_bytes(const struct sockaddr *sa, unsigned char *out)
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

/* The forms that carry an IPv4 address inside IPv6. */
struct rg_netaddr_embed {
	unsigned char	e_prefix[16];
	int		e_bits;		/* of the prefix */
	int		e_offset;	/* byte where the IPv4 address starts */
	int		e_routable;	/* the form reaches the IPv4 address it carries */
};

static const struct rg_netaddr_embed rg_netaddr_embeds[] = {
	/* ::ffff:0:0/96, IPv4-mapped: a dual-stack socket connects to the IPv4 address. */
	{ { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff }, 96, 12, 1 },
	/* ::ffff:0:0:0/96, SIIT (RFC 7915): translator-local. */
	{ { 0,0,0,0, 0,0,0,0, 0xff,0xff,0,0 }, 96, 12, 0 },
	/* 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052): reaches the IPv4 address. */
	{ { 0,0x64,0xff,0x9b, 0,0,0,0, 0,0,0,0 }, 96, 12, 1 },
	/* 2002::/16, 6to4 (RFC 3056): the relay reaches the IPv4 address. */
	{ { 0x20,0x02 }, 16, 2, 1 },
	/* ::/96, IPv4-compatible (deprecated by RFC 4291): routes nowhere. */
	{ { 0 }, 96, 12, 0 },
};

/*
 * rg_netaddr_embedded - the IPv4 address inside a6, if it has one of the
 * forms above: the form's index, or -1.
 */
static int
rg_netaddr_embedded(const unsigned char *a6, unsigned char *v4)
{
	for (size_t i = 0; i < RG_ARRAY_LEN(rg_netaddr_embeds); i++) {
		const struct rg_netaddr_embed *e = &rg_netaddr_embeds[i];
		if (rg_netaddr_match(a6, e->e_prefix, e->e_bits)) {
			memcpy(v4, a6 + e->e_offset, 4);
			return (int)i;
		}
	}
	return -1;
}

/* rg_netaddr_match_list - raw bytes of one family against a list. */
static int
rg_netaddr_match_list(int fam, const unsigned char *a, const struct rg_netaddr_list *list)
{
	for (int i = 0; i < list->l_count; i++)
		if (list->l_nets[i].n_family == fam &&
		    rg_netaddr_match(a, list->l_nets[i].n_addr, list->l_nets[i].n_bits))
			return 1;
	return 0;
}

int
rg_netaddr_in_list(const struct sockaddr *sa, const struct rg_netaddr_list *list)
{
	unsigned char a[16], v4[4];
	int fam = rg_netaddr_bytes(sa, a);

	if (fam < 0)
		return 0;
	if (rg_netaddr_match_list(fam, a, list))
		return 1;
	/* An IPv4 client seen through a dual-stack socket is listed as IPv4. */
	return fam == AF_INET6 && rg_netaddr_embedded(a, v4) == 0 &&
	    rg_netaddr_match_list(AF_INET, v4, list);
}

/*
 * The entries of the IANA special-purpose registries that are not globally
 * reachable, with the multicast blocks; IPv6 outside 2000::/3 is refused
 * before this list is read, and the embedded forms are unwrapped first.
 */
static const char *const rg_netaddr_special[] = {
	/* IPv4 */
	"0.0.0.0/8",		/* "this network" (RFC 791) */
	"10.0.0.0/8",		/* private (RFC 1918) */
	"100.64.0.0/10",	/* shared address space, CGNAT (RFC 6598) */
	"127.0.0.0/8",		/* loopback */
	"169.254.0.0/16",	/* link-local (RFC 3927) */
	"172.16.0.0/12",	/* private */
	"192.0.0.0/24",		/* IETF protocol assignments (RFC 6890), DS-Lite, NAT64 discovery */
	"192.0.2.0/24",		/* TEST-NET-1 (RFC 5737) */
	"192.88.99.0/24",	/* 6to4 relay anycast, deprecated (RFC 7526) */
	"192.168.0.0/16",	/* private */
	"198.18.0.0/15",	/* benchmarking (RFC 2544) */
	"198.51.100.0/24",	/* TEST-NET-2 */
	"203.0.113.0/24",	/* TEST-NET-3 */
	"224.0.0.0/4",		/* multicast */
	"240.0.0.0/4",		/* reserved, and 255.255.255.255 limited broadcast */
	/* IPv6 inside 2000::/3 */
	"2001::/23",		/* IETF protocol assignments: Teredo, benchmarking, ORCHID */
	"2001:db8::/32",	/* documentation (RFC 3849) */
	"3fff::/20",		/* documentation (RFC 9637) */
};

static struct rg_netaddr_list rg_netaddr_special_list;
static pthread_once_t rg_netaddr_once = PTHREAD_ONCE_INIT;

static void
rg_netaddr_special_init(void)
{
	struct rg_netaddr_list *l = &rg_netaddr_special_list;

	for (size_t i = 0; i < RG_ARRAY_LEN(rg_netaddr_special); i++)
		if (rg_netaddr_parse_net(rg_netaddr_special[i], &l->l_nets[l->l_count]) == 0)
			l->l_count++;
}

int
rg_netaddr_forbidden(const struct sockaddr *sa, const struct rg_netaddr_list *allow)
{
	static const unsigned char global_unicast[16] = { 0x20 };
	unsigned char a[16], v4[4];
	int fam = rg_netaddr_bytes(sa, a), form;

	if (fam < 0)
		return 1;
	if (allow != NULL && rg_netaddr_match_list(fam, a, allow))
		return 0;
	pthread_once(&rg_netaddr_once, rg_netaddr_special_init);
	if (fam == AF_INET6 && (form = rg_netaddr_embedded(a, v4)) >= 0) {
		if (!rg_netaddr_embeds[form].e_routable)
			return 1;
		/* The address the packets reach is the IPv4 one: judge that. */
		if (allow != NULL && rg_netaddr_match_list(AF_INET, v4, allow))
			return 0;
		return rg_netaddr_match_list(AF_INET, v4, &rg_netaddr_special_list);
	}
	if (fam == AF_INET6 && !rg_netaddr_match(a, global_unicast, 3))
		return 1;	/* ::1, fc00::/7, fe80::/10, ff00::/8, 64:ff9b:1::/48, 100::/64, 5f00::/16... */
	return rg_netaddr_match_list(fam, a, &rg_netaddr_special_list);
}

int
rg_netaddr_parse(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

void
rg_netaddr_format(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *a = sa->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL)
		rg_strlcpy(buf, "?", size);
}
