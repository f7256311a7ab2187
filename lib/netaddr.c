/*
 * netaddr.c - CIDR lists and the special-purpose address ranges
 * (RFC 6890 and its IPv6 counterpart) the prober refuses to touch.
 */
#include "config.h"

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
		char *end;
		*slash = '\0';
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0')
			return -1;
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

/* rg_netaddr_bytes - the address bytes and family of sa; IPv4-mapped IPv6 becomes IPv4. */
static int
rg_netaddr_bytes(const struct sockaddr *sa, unsigned char *out)
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *a =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(a, mapped, 12) == 0) {
			memcpy(out, a + 12, 4);
			return AF_INET;
		}
		memcpy(out, a, 16);
		return AF_INET6;
	}
	return -1;
}

int
rg_netaddr_in_list(const struct sockaddr *sa, const struct rg_netaddr_list *list)
{
	unsigned char a[16];
	int fam = rg_netaddr_bytes(sa, a);

	for (int i = 0; i < list->l_count; i++)
		if (list->l_nets[i].n_family == fam &&
		    rg_netaddr_match(a, list->l_nets[i].n_addr, list->l_nets[i].n_bits))
			return 1;
	return 0;
}

static const char *const rg_netaddr_special[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
	"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
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
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return 1;
	if (allow != NULL && rg_netaddr_in_list(sa, allow))
		return 0;
	pthread_once(&rg_netaddr_once, rg_netaddr_special_init);
	return rg_netaddr_in_list(sa, &rg_netaddr_special_list);
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
