/*
 * netaddr.h - which addresses the prober may connect to.
 *
 * Loopback, private (RFC 1918, IPv6 ULA), link-local, CGNAT, multicast,
 * documentation, benchmarking and reserved ranges, every entry of the IANA
 * special-purpose registries that is not globally reachable, and IPv6
 * outside 2000::/3 are never probed unless listed in probe_allow_networks:
 * an MX that points there is a misconfiguration or an attempt to make the
 * prober scan a private network. IPv4 inside IPv6 (mapped, compatible,
 * SIIT, NAT64 64:ff9b::/96, 6to4) is judged as the IPv4 address.
 */
#ifndef RG_NETADDR_H
#define RG_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define RG_NETADDR_MAX_NETS	32

struct rg_netaddr_net {
	int		n_family;
	unsigned char	n_addr[16];
	int		n_bits;
};

struct rg_netaddr_list {
	int			l_count;
	struct rg_netaddr_net	l_nets[RG_NETADDR_MAX_NETS];
};

/* rg_netaddr_parse_list - "127.0.0.0/8, ::1/128" into list; -1 with err on bad input. */
int rg_netaddr_parse_list(const char *text, struct rg_netaddr_list *list, char *err,
    size_t errsize);

/* rg_netaddr_in_list - whether sa (or the IPv4 address it maps) lies in one of the networks. */
int rg_netaddr_in_list(const struct sockaddr *sa, const struct rg_netaddr_list *list);

/*
 * rg_netaddr_forbidden - a special-purpose address not listed in allow.
 * allow is matched against the address as given and against the IPv4
 * address a routable embedded form reaches.
 */
int rg_netaddr_forbidden(const struct sockaddr *sa, const struct rg_netaddr_list *allow);

/*
 * rg_netaddr_parse - an IPv4 or IPv6 literal ("192.0.2.1", "2001:db8::1")
 * into ss (port 0): 0, or -1 when it is neither.
 */
int rg_netaddr_parse(const char *text, struct sockaddr_storage *ss);
/* rg_netaddr_format - "192.0.2.1" or "2001:db8::1". */
void rg_netaddr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif /* RG_NETADDR_H */
