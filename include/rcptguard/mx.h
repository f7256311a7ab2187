/*
 * mx.h - the mail hosts of a domain: what a DNS lookup gives, and what the
 * cache keeps of it for the DNS TTL (record.h encodes it).
 */
#ifndef RG_MX_H
#define RG_MX_H

#include <stdint.h>
#include <sys/socket.h>

#define RG_DNS_MAX_HOSTS	10	/* MX hosts kept per domain */
#define RG_DNS_MAX_ADDRS	4	/* addresses kept per host */
#define RG_DNS_NAME_MAX		255

enum rg_dns_status {
	RG_DNS_OK,		/* hosts[] holds at least one host with an address */
	RG_DNS_NXDOMAIN,	/* the domain does not exist */
	RG_DNS_NULL_MX,		/* "MX 0 ." */
	RG_DNS_NO_HOST,		/* the domain exists, but no mail host resolves */
	RG_DNS_TEMPFAIL,	/* SERVFAIL, timeout, refused: try again later */
};

struct rg_mx_host {
	char			h_name[RG_DNS_NAME_MAX + 1];
	int			h_pref;
	int			h_naddrs;
	struct sockaddr_storage	h_addrs[RG_DNS_MAX_ADDRS];
	socklen_t		h_addrlens[RG_DNS_MAX_ADDRS];
};

struct rg_mx_result {
	enum rg_dns_status	m_status;
	int			m_implicit;	/* the domain's own A/AAAA (no MX) */
	int			m_nhosts;
	struct rg_mx_host	m_hosts[RG_DNS_MAX_HOSTS];
	uint32_t		m_ttl;		/* smallest TTL seen, seconds */
	char			m_error[384];	/* why, for TEMPFAIL and NO_HOST */
};

#endif /* RG_MX_H */
