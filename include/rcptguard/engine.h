/*
 * engine.h - one lookup for every front-end: address in, verdict out.
 *
 * rg_engine_lookup follows DESIGN.md section 5: parse and normalize (bad
 * syntax answers at once, nothing is probed), then the cache (a fresh
 * verdict answers; a stale one answers and is refreshed in the background),
 * then a probe under a lease so that across all processes one probe runs per
 * address, waiting at most the caller's budget. When the budget runs out
 * the answer is unknown/in_progress and the probe goes on; its verdict lands
 * in the cache for the sender's retry.
 *
 * With a fleet's shared tier ([redis]), a local miss first asks the fleet
 * (at most [redis] timeout), and the lease is the fleet's too: one probe
 * per address across every host. When the fleet does not answer, the
 * lookup goes on with this host alone.
 */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <stdint.h>

#include <event2/event.h>

#include "rcptguard/address.h"
#include "rcptguard/config.h"
#include "rcptguard/verdict.h"

/* Lookup flags. */
#define RG_LOOKUP_NO_CACHE	0x01u	/* neither read nor trust the cache: probe now */
/*
 * Answer only what is known without the loop: a syntax error, static
 * knowledge, a fresh cache hit. Anything else (a miss, a stale verdict, a
 * cache error) returns 1 with cb not called. Safe from any thread, as it
 * touches only what is read-only after rg_engine_new and the thread-safe
 * cache.
 */
#define RG_LOOKUP_KNOWN_ONLY	0x02u

enum rg_answer_source {
	RG_ANSWER_SYNTAX,	/* refused by the parser */
	RG_ANSWER_STATIC,	/* decided without the cache or the network */
	RG_ANSWER_CACHE,	/* a cached verdict */
	RG_ANSWER_PROBE,	/* a probe finished within the budget */
	RG_ANSWER_PENDING,	/* the budget ran out: unknown/in_progress */
	RG_ANSWER_SHARED,	/* a verdict another host of the fleet found ([redis]) */
};

struct rg_answer {
	char			an_address[RG_ADDR_MAILBOX_MAX + 1];	/* normalized key */
	struct rg_verdict	an_verdict;
	enum rg_verdict_state	an_state;
	enum rg_answer_source	an_source;
	int			an_cache_status;	/* < 0: the cache failed (fail_mode) */
	int64_t			an_elapsed_ms;
	char			an_detail[96];		/* syntax problem, for bad_syntax */
};

struct rg_engine;
struct rg_store;
typedef void (*rg_engine_cb)(const struct rg_answer *ans, void *arg);

/* What an engine did since it was made (rg_engine_counters). */
struct rg_engine_counters {
	uint64_t	ec_lookups;	/* lookups past the syntax and static checks */
	uint64_t	ec_fail_mode;	/* answered under fail_mode: the cache did not work */
	uint64_t	ec_overload;	/* answered at once past max_waiters or the prober's caps */
	uint64_t	ec_probes;	/* recipients handed to the prober */
};

/*
 * rg_engine_free answers every lookup still waiting with unknown/in_progress,
 * cancels the probes and releases their leases.
 *
 * rg_engine_new - open the cache (a failure is reported in every answer
 * and retried, never fatal), the resolver and the prober on base.
 */
struct rg_engine *rg_engine_new(struct event_base *base, const struct rg_config *cfg,
    char *err, size_t errsize);
void rg_engine_free(struct rg_engine *e);

/*
 * rg_engine_lookup - look up len bytes of input. cb is called exactly once:
 * at once for a syntax error or a cache hit, otherwise from the loop within
 * wait_ms. Returns 0, or -1 when out of memory (cb not called), or 1 for
 * RG_LOOKUP_KNOWN_ONLY when the answer needs the loop (cb not called).
 */
int rg_engine_lookup(struct rg_engine *e, const char *input, size_t len, unsigned flags,
    int64_t wait_ms, rg_engine_cb cb, void *arg);

/*
 * rg_engine_room_for - 1 when a lookup of a recipient in domain may wait
 * and probe now; 0 when it would be answered at once past max_waiters,
 * max_probe_jobs or max_domain_jobs. For callers that queue lookups
 * themselves (rcptguard verify) rather than have them refused.
 */
int rg_engine_room_for(struct rg_engine *e, const char *domain);

/*
 * rg_engine_wait_shared - run the loop until the fleet's shared tier is
 * connected, at most [redis] connect_timeout; at once without one. For
 * the command line, whose first lookups come before the loop turns.
 */
void rg_engine_wait_shared(struct rg_engine *e);

/* rg_engine_busy - probes or waits still running. */
int rg_engine_busy(const struct rg_engine *e);

/*
 * rg_engine_cache_status - RG_CACHE_OK, or why the cache does not work now.
 * A failure is retried by the engine on its own (1 s, backing off to 60 s)
 * until the cache works again; meanwhile lookups the cache cannot answer
 * follow fail_mode and nothing is probed.
 */
int rg_engine_cache_status(const struct rg_engine *e);

/* rg_engine_counters - a snapshot of the counters (any thread). */
void rg_engine_counters(const struct rg_engine *e, struct rg_engine_counters *out);

/* rg_engine_store - the engine's verdict store (thread-safe), or NULL without one. */
struct rg_store *rg_engine_store(struct rg_engine *e);

const char *rg_engine_source_name(enum rg_answer_source s);

/*
 * The engine on its own thread, for callers that block (the milter's
 * threads). Requests cross over through a locked queue and an eventfd; each
 * caller waits on its own condition variable, never longer than its budget
 * plus a grace second. When the engine cannot answer (stopping, out of
 * memory) the answer is unknown/in_progress, so mail follows fail_mode.
 */
struct rg_engine_thread;

/*
 * rg_engine_thread_start - the engine on a thread of its own; metrics_fd,
 * when not -1, is a listening socket (rg_exporter_listen, kept by the
 * caller) where the engine's loop serves the metrics.
 */
struct rg_engine_thread *rg_engine_thread_start(const struct rg_config *cfg, int metrics_fd,
    char *err, size_t errsize);
/* rg_engine_thread_lookup - blocking lookup; 0 with ans filled, -1 when not answered. */
int rg_engine_thread_lookup(struct rg_engine_thread *t, const char *input, size_t len,
    unsigned flags, int64_t wait_ms, struct rg_answer *ans);
/* rg_engine_thread_store - the engine's verdict store, thread-safe, or NULL. */
struct rg_store *rg_engine_thread_store(struct rg_engine_thread *t);
/* rg_engine_thread_stop - answer the waiting callers, stop the thread, free. */
void rg_engine_thread_stop(struct rg_engine_thread *t);

#endif /* RG_ENGINE_H */
