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
#include "rcptguard/mx.h"

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

#endif /* RG_DNS_H */
