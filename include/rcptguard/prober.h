/*
 * prober.h - asynchronous verification of recipients against their MX.
 *
 * Recipients of one domain submitted in the same turn of the event loop are
 * verified in one SMTP session (at most max_rcpt_per_session). The prober
 * resolves the MX, skips hosts on forbidden networks, moves on from a host
 * that is dead or refuses at the greeting, detects catch-all domains with a
 * random local part, classifies every RCPT reply, stores the verdicts in the
 * cache and reports each one.
 */
#ifndef RG_PROBER_H
#define RG_PROBER_H

#include <event2/event.h>

#include "rcptguard/address.h"
#include "rcptguard/store.h"
#include "rcptguard/config.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/verdict.h"

struct rg_prober;

typedef void (*rg_prober_cb)(const struct rg_address *addr, const struct rg_verdict *v,
    void *arg);

/* rg_prober_error_cb - the cache failed while a limit was checked (status < 0). */
typedef void (*rg_prober_error_cb)(int status, const char *what, void *arg);

enum rg_prober_status {
	RG_PROBER_QUEUED = 0,	/* cb will be called from the loop */
	RG_PROBER_FULL = 1,	/* max_probe_jobs or max_domain_jobs reached: not queued */
	RG_PROBER_ENOMEM = -1,
};

/*
 * rg_prober_new - know may be NULL. Without a cache (NULL) nothing is
 * probed: every limit lives in the cache, and no probe starts without its
 * limits; such jobs end unknown and the error callback hears of it.
 */
struct rg_prober *rg_prober_new(struct event_base *base, const struct rg_config *cfg,
    struct rg_store *store, const struct rg_knowledge *know, char *err, size_t errsize);
/* rg_prober_free - cancel every probe; pending callbacks are not called. */
void rg_prober_free(struct rg_prober *pr);

/* rg_prober_set_store - the store to use from now on (it was reopened). */
void rg_prober_set_store(struct rg_prober *pr, struct rg_store *store);

/* rg_prober_on_error - who hears of cache failures met while checking limits. */
void rg_prober_on_error(struct rg_prober *pr, rg_prober_error_cb cb, void *arg);

/* rg_prober_room - whether a recipient of domain would be queued now. */
enum rg_prober_status rg_prober_room(struct rg_prober *pr, const char *domain);

/* rg_prober_submit - verify addr; cb is called once from the loop when queued. */
enum rg_prober_status rg_prober_submit(struct rg_prober *pr, const struct rg_address *addr,
    rg_prober_cb cb, void *arg);

/* rg_prober_active - probes queued or running. */
int rg_prober_active(const struct rg_prober *pr);

#endif /* RG_PROBER_H */
