/*
 * learn.h - what real deliveries say about mailboxes: the records of an
 * MTA's log (maillog.h) turned into verdicts of the store, with
 * source=delivery.
 *
 * Only a remote server's answer about the recipient makes a mailbox
 * undeliverable: a 5xx in reply to RCPT TO (or a 5.1.x at the end of
 * DATA) that the reply rules (rules.h) read as undeliverable. A block, a
 * full mailbox, a relay's or a local problem is never learned as a dead
 * mailbox. A message handed to the recipient's server makes the mailbox
 * deliverable, or keeps it risky on a catch-all or accept-all domain, with
 * the flag "delivered". An admin's verdict (cache put) is never replaced,
 * nor a verdict newer than the line.
 *
 * The outage guard: a bounce that says "no such mailbox" for a recipient
 * the cache holds as deliverable is held for learn_burst_window. When
 * learn_burst_threshold of them come from one domain or one MX within the
 * window, that is a suspected outage (large providers have had outages
 * that bounced real mailboxes with 5.1.1): it is logged once, the held
 * bounces are not learned, and when the burst is over their verdicts are
 * made due for a refresh, so a probe confirms or clears them. A held
 * bounce whose burst never comes is learned when its window has passed.
 */
#ifndef RG_LEARN_H
#define RG_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/config.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/maillog.h"
#include "rcptguard/store.h"
#include "rcptguard/verdict.h"

enum rg_learn_outcome {
	RG_LEARN_UNDELIVERABLE,	/* written: the mailbox does not exist */
	RG_LEARN_DELIVERABLE,	/* written: real mail was delivered */
	RG_LEARN_RISKY,		/* written: delivered, on a catch-all or accept-all domain */
	RG_LEARN_HELD,		/* a bounce for a deliverable recipient, held by the guard */
	RG_LEARN_SUSPECT,	/* a held bounce of a burst: not learned, to be re-probed */
	RG_LEARN_IGNORED,	/* says nothing the cache may keep (lr_why says why) */
	RG_LEARN_OUTCOME_COUNT
};

struct rg_learn_result {
	enum rg_learn_outcome	 lr_outcome;
	const char		*lr_why;	/* a fixed name: why ignored, or why held */
	const char		*lr_address;	/* the cache key; the recipient made printable */
	const struct rg_verdict	*lr_verdict;	/* written or held; NULL when ignored early */
	const struct rg_maillog_entry *lr_entry;	/* NULL when a held bounce is released */
	const char		*lr_relay;	/* the relay host; "" when none */
	int			 lr_dry_run;
};

typedef void (*rg_learn_report_fn)(const struct rg_learn_result *r, void *arg);

struct rg_learn;

/*
 * rg_learn_new - a learner over store (which it does not own). With
 * dry_run nothing is written. report (may be NULL) hears every outcome.
 */
struct rg_learn *rg_learn_new(const struct rg_config *cfg, struct rg_store *store,
    const struct rg_knowledge *k, int dry_run, rg_learn_report_fn report, void *arg,
    char *err, size_t errsize);
void rg_learn_free(struct rg_learn *l);

/* rg_learn_entry - learn from one delivery record, at wall-clock time now. */
void rg_learn_entry(struct rg_learn *l, const struct rg_maillog_entry *e, int64_t now);
/* rg_learn_tick - release the held bounces whose window (by log time) has passed. */
void rg_learn_tick(struct rg_learn *l, int64_t now);
/* rg_learn_finish - the end of the input: release every held bounce. */
void rg_learn_finish(struct rg_learn *l, int64_t now);
/* rg_learn_held - bounces held now. */
size_t rg_learn_held(const struct rg_learn *l);
/* rg_learn_count - outcomes so far. */
uint64_t rg_learn_count(const struct rg_learn *l, enum rg_learn_outcome o);

const char *rg_learn_outcome_name(enum rg_learn_outcome o);
/* Every outcome's name, in enum order (the metrics' label values). */
const char *const *rg_learn_outcome_list(void);

#endif /* RG_LEARN_H */
