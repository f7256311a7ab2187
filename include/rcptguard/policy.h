/*
 * policy.h - from a verdict to an action, for every front-end.
 *
 * rcptguard-policyd and rcptguard-milter speak different protocols but
 * decide through this one module (DESIGN.md section 7): exemptions, the
 * action per class with per-reason overrides, monitor mode, the defer window
 * and fail_mode. A decision carries the reply code, the enhanced status code
 * and a text that names the reason; no byte of the request ever reaches it.
 */
#ifndef RG_POLICY_H
#define RG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "rcptguard/store.h"
#include "rcptguard/config.h"
#include "rcptguard/engine.h"

#define RG_POLICY_HEADER	"X-Rcptguard-Verdict"

/* What a front-end knows of one recipient. Any field may be NULL or "". */
struct rg_policy_request {
	const char	*pr_queue_id;		/* Postfix queue id or milter job id */
	const char	*pr_recipient;
	size_t		 pr_recipient_len;
	const char	*pr_sender;
	const char	*pr_client_address;
	const char	*pr_client_name;
	const char	*pr_sasl_username;
};

/* Why an action was taken, besides the verdict itself. */
enum rg_policy_why {
	RG_WHY_VERDICT,
	RG_WHY_EXEMPT,
	RG_WHY_FAIL_MODE,
	RG_WHY_DEFER_WINDOW,
	RG_WHY_MONITOR,
};

struct rg_decision {
	enum rg_action		d_action;	/* what the front-end does */
	enum rg_action		d_wanted;	/* what the verdict asked for */
	enum rg_policy_why	d_why;
	const char		*d_exempt;	/* which exemption, for RG_WHY_EXEMPT */
	int			d_code;		/* 550, 450 or 451; 0 for pass and tag */
	char			d_dsn[16];	/* "5.1.1", "4.7.1" */
	char			d_text[160];	/* reply text, printable ASCII */
	char			d_header[384];	/* tag: the header value */
};

struct rg_policy;

/* rg_policy_new - compile the [policy] section; NULL with err on a bad list. */
struct rg_policy *rg_policy_new(const struct rg_config *cfg, char *err, size_t errsize);
void rg_policy_free(struct rg_policy *p);

/* rg_policy_may_tag - can a decision of p be a tag (then the milter asks to add headers)? */
int rg_policy_may_tag(const struct rg_policy *p);

/* rg_policy_exempt - the exemption that covers req ("sasl_user", ...), or NULL. */
const char *rg_policy_exempt(const struct rg_policy *p, const struct rg_policy_request *req);

/* rg_policy_exempted - the decision for a recipient covered by an exemption. */
void rg_policy_exempted(const struct rg_policy *p, const char *which, struct rg_decision *d);

/* rg_policy_failed - the decision when the cache or the engine fails (fail_mode). */
void rg_policy_failed(const struct rg_policy *p, struct rg_decision *d);

/*
 * rg_policy_decide - the decision for an engine answer. cache (may be NULL)
 * keeps the first deferral of each recipient for the defer window; an
 * answer of a failed cache follows fail_mode.
 */
void rg_policy_decide(const struct rg_policy *p, struct rg_store *cache,
    const struct rg_answer *ans, struct rg_decision *d);

/*
 * The path every front-end takes for one recipient, each step logged with
 * rg_policy_log:
 *
 *   rg_policy_pre_lookup - what needs no lookup: an exemption, or fail_mode
 *     when the front-end has no engine. 1 when d is decided and logged; 0
 *     when the recipient must be looked up.
 *   rg_policy_on_failure - the lookup could not even start: fail_mode.
 *   rg_policy_on_answer - the engine answered: rg_policy_decide.
 */
int rg_policy_pre_lookup(const struct rg_policy *p, const struct rg_policy_request *req,
    int have_engine, struct rg_decision *d);
void rg_policy_on_failure(const struct rg_policy *p, const struct rg_policy_request *req,
    struct rg_decision *d);
void rg_policy_on_answer(const struct rg_policy *p, struct rg_store *cache,
    const struct rg_policy_request *req, const struct rg_answer *ans, struct rg_decision *d);

/*
 * rg_policy_count_as - count every decision from now on in the process
 * registry (rcptguard_decisions_total) under frontend: "policyd",
 * "milter", anything else as "other". Called once at a daemon's start.
 */
void rg_policy_count_as(const char *frontend);

/*
 * rg_policy_log - the one log line of a decision, and its count: queue id (or NOQUEUE),
 * then key=value fields. ans may be NULL (exempt, fail_mode).
 */
void rg_policy_log(const struct rg_policy_request *req, const struct rg_answer *ans,
    const struct rg_decision *d);

const char *rg_policy_action_name(enum rg_action a);

#endif /* RG_POLICY_H */
