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
#include "rcptguard/cache.h"
#include "rcptguard/config.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/verdict.h"

struct rg_prober;

typedef void (*rg_prober_cb)(const struct rg_address *addr, const struct rg_verdict *v,
    void *arg);

/* rg_prober_new - cache may be NULL (verdicts are then only reported); know may be NULL. */
struct rg_prober *rg_prober_new(struct event_base *base, const struct rg_config *cfg,
    struct rg_cache *cache, const struct rg_knowledge *know, char *err, size_t errsize);
/* rg_prober_free - cancel every probe; pending callbacks are not called. */
void rg_prober_free(struct rg_prober *pr);

/* rg_prober_submit - verify addr; cb is called once from the loop. 0 or -1. */
int rg_prober_submit(struct rg_prober *pr, const struct rg_address *addr, rg_prober_cb cb,
    void *arg);

/* rg_prober_active - probes queued or running. */
int rg_prober_active(const struct rg_prober *pr);

#endif /* RG_PROBER_H */
