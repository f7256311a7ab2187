/*
 * dns.h - asynchronous MX resolution with c-ares on a libevent loop.
 *
 * One lookup gives the mail hosts of a domain in the order to try them:
 * MX records sorted by preference and shuffled within a preference, each
 * with its A and AAAA addresses; the domain itself as implicit MX when it
 * has no MX (RFC 5321 5.1); and the outcomes that decide without SMTP:
 * NXDOMAIN, null MX (RFC 7505), no resolvable host, temporary failure.
 */
#ifndef RG_DNS_H
#define RG_DNS_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "rcptguard/config.h"

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

struct rg_dns;

typedef void (*rg_dns_mx_cb)(const struct rg_mx_result *res, void *arg);

/* rg_dns_new - a resolver on base; servers from cfg->dns_servers or resolv.conf. */
struct rg_dns *rg_dns_new(struct event_base *base, const struct rg_config *cfg,
    char *err, size_t errsize);
/* rg_dns_free - cancel every lookup (their callbacks are not called) and free. */
void rg_dns_free(struct rg_dns *dns);

/*
 * rg_dns_lookup_mx - resolve the mail hosts of domain (an A-label name).
 * cb is called exactly once, from the event loop, unless the resolver is
 * freed first. Returns 0, or -1 when the lookup could not start.
 */
int rg_dns_lookup_mx(struct rg_dns *dns, const char *domain, rg_dns_mx_cb cb, void *arg);

const char *rg_dns_status_name(enum rg_dns_status s);

/*
 * MX data as a cache record (common header 'r' 'g' 'm' 1, expires_at), so a
 * domain's hosts and addresses are reused for their DNS TTL. encode returns
 * the length (0 when buf is too small); decode refuses anything malformed.
 */
#define RG_DNS_RECORD_MAX	(12 + 2 + RG_DNS_MAX_HOSTS * (2 + 1 + RG_DNS_NAME_MAX + 1 + \
				 RG_DNS_MAX_ADDRS * 17))
size_t rg_dns_record_encode(const struct rg_mx_result *res, int64_t expires_at,
    unsigned char *buf, size_t size);
int rg_dns_record_decode(const unsigned char *buf, size_t len, struct rg_mx_result *res);

#endif /* RG_DNS_H */
