/*
 * milter.h - rcptguard-milter: the libmilter filter.
 *
 *   milter.c         start-up, signals, reload, the state a reload replaces
 *   milter_filter.c  the callbacks: one decision per RCPT, tags at end of message
 *   milter_decide.c  the decision for one RCPT and the reply texts, without libmilter
 */
#ifndef RG_MILTER_H
#define RG_MILTER_H

#include <libmilter/mfapi.h>

#include "rcptguard/config.h"
#include "rcptguard/engine.h"
#include "rcptguard/policy.h"

/*
 * What a reload replaces: the config, the policy and the engine thread.
 * Callbacks use it under milter_state_lock held for reading; a reload or
 * the stop takes it for writing, so it waits for the lookups in flight
 * (each at most wait_budget) and never frees what a callback holds.
 */
struct milter_state {
	struct rg_config	 ms_cfg;
	struct rg_policy	*ms_policy;
	struct rg_engine_thread	*ms_engine;	/* NULL: every recipient follows fail_mode */
	int			 ms_may_tag;	/* ask for SMFIF_ADDHDRS */
};

/* NULL once the filter is stopping: then recipients get milter_stopping. */
struct milter_state *milter_state_rdlock(void);
void milter_state_unlock(void);

/* The fail_mode decision of the running config, for a filter that is stopping. */
extern struct rg_decision milter_stopping;

/* The callbacks, for smfi_register. */
extern struct smfiDesc milter_desc;
/* Connections between xxfi_connect and xxfi_close (atomic), for the metrics. */
extern int milter_connections;

#endif /* RG_MILTER_H */
