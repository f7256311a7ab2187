/*
 * policy.c - exemptions, actions, monitor mode, the defer window and
 * fail_mode: the decisions rcptguard-policyd and rcptguard-milter share.
 *
 * Lists from the config are compiled once into arrays. A front-end goes
 * through rg_policy_pre_lookup() before the engine, and
 * rg_policy_on_answer() or rg_policy_on_failure() after it: one path that
 * decides and logs, the same for rcptguard-policyd and rcptguard-milter.
 * Reply texts are built from the reason table only, so nothing a client or
 * a remote server sent can reach a reply.
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rcptguard/address.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/netaddr.h"
#include "rcptguard/policy.h"
#include "rcptguard/util.h"

#define RG_POLICY_LIST_MAX	256	/* names per exemption list */
#define RG_POLICY_MARK_SLACK	86400	/* a first deferral is remembered this long past the window */

struct rg_policy_names {
	int	n_count;
	char	*n_names[RG_POLICY_LIST_MAX];
};

struct rg_policy {
	struct rg_config	p_cfg;
	struct rg_policy_names	p_rcpt_domains;
	struct rg_policy_names	p_sender_domains;
	struct rg_policy_names	p_sasl_users;
	int			p_sasl_any;
	struct rg_netaddr_list	p_networks;
};

static const char *const rg_policy_action_names[RG_ACTION_COUNT] = {
	[RG_ACTION_PASS] = "pass",
	[RG_ACTION_TAG] = "tag",
	[RG_ACTION_DEFER] = "defer",
	[RG_ACTION_REJECT] = "reject",
};

const char *
rg_policy_action_name(enum rg_action a)
{
	return (unsigned)a < RG_ACTION_COUNT ? rg_policy_action_names[a] : "?";
}

/* What the decisions are counted under (rg_policy_count_as). */
static const char *const rg_policy_frontends[] = { "policyd", "milter", "other" };
static const char *const rg_policy_whys[] = { "verdict", "exempt", "fail_mode", "defer_window",
    "monitor" };
static struct rg_metric *rg_policy_m_decisions, *rg_policy_m_whys;
static int rg_policy_frontend = 2;

void
rg_policy_count_as(const char *frontend)
{
	const struct rg_metric_label fe = { "frontend", rg_policy_frontends,
	    (int)RG_ARRAY_LEN(rg_policy_frontends) };
	const struct rg_metric_label act = { "action", rg_policy_action_names, RG_ACTION_COUNT };
	const struct rg_metric_label why = { "why", rg_policy_whys, (int)RG_ARRAY_LEN(rg_policy_whys) };

	rg_policy_frontend = 2;
	for (int i = 0; i < 2; i++)
		if (strcmp(frontend, rg_policy_frontends[i]) == 0)
			rg_policy_frontend = i;
	rg_policy_m_decisions = rg_metrics_counter(rg_metrics_process(), "rcptguard_decisions_total",
	    "Recipients decided, by front-end and action.", &fe, &act);
	rg_policy_m_whys = rg_metrics_counter(rg_metrics_process(), "rcptguard_decision_causes_total",
	    "Recipients decided, by what decided: the verdict, an exemption, fail_mode, the defer "
	    "window's end, monitor mode.", &why, NULL);
}

static void
rg_policy_names_free(struct rg_policy_names *n)
{
	for (int i = 0; i < n->n_count; i++)
		free(n->n_names[i]);
	n->n_count = 0;
}

/*
 * rg_policy_names_parse - split a comma or space separated list. Domains
 * (a leading dot kept) become A-labels; other names are kept as written.
 */
static int
rg_policy_names_parse(const char *key, const char *text, int domains,
    struct rg_policy_names *n, char *err, size_t errsize)
{
	char buf[RG_CONFIG_PATH_MAX], *save = NULL, *tok;

	rg_strlcpy(buf, text, sizeof(buf));
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		char name[RG_ADDR_DOMAIN_MAX + 2];

		if (n->n_count == RG_POLICY_LIST_MAX) {
			snprintf(err, errsize, "%s: more than %d names", key, RG_POLICY_LIST_MAX);
			return -1;
		}
		if (domains) {
			struct rg_address_error ae;
			unsigned flags;
			int dot = tok[0] == '.';
			name[0] = '.';
			if (rg_address_parse_domain(tok + dot, strlen(tok + dot), name + dot,
			    sizeof(name) - 1, &flags, &ae) < 0) {
				snprintf(err, errsize, "%s: \"%s\" is not a domain: %s", key, tok,
				    ae.e_detail);
				return -1;
			}
		} else if (rg_strlcpy(name, tok, sizeof(name)) >= sizeof(name)) {
			snprintf(err, errsize, "%s: \"%.40s...\" is too long", key, tok);
			return -1;
		}
		if ((n->n_names[n->n_count] = strdup(name)) == NULL) {
			snprintf(err, errsize, "out of memory");
			return -1;
		}
		n->n_count++;
	}
	return 0;
}

struct rg_policy *
rg_policy_new(const struct rg_config *cfg, char *err, size_t errsize)
{
	struct rg_policy *p = calloc(1, sizeof(*p));
	char nerr[256];

	if (p == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	p->p_cfg = *cfg;
	if (rg_policy_names_parse("exempt_recipient_domains", cfg->exempt_recipient_domains, 1,
	    &p->p_rcpt_domains, err, errsize) < 0 ||
	    rg_policy_names_parse("exempt_sender_domains", cfg->exempt_sender_domains, 1,
	    &p->p_sender_domains, err, errsize) < 0 ||
	    rg_policy_names_parse("exempt_sasl_users", cfg->exempt_sasl_users, 0,
	    &p->p_sasl_users, err, errsize) < 0) {
		rg_policy_free(p);
		return NULL;
	}
	if (rg_netaddr_parse_list(cfg->exempt_client_networks, &p->p_networks, nerr,
	    sizeof(nerr)) < 0) {
		snprintf(err, errsize, "exempt_client_networks: %s", nerr);
		rg_policy_free(p);
		return NULL;
	}
	for (int i = 0; i < p->p_sasl_users.n_count; i++)
		if (strcmp(p->p_sasl_users.n_names[i], "*") == 0)
			p->p_sasl_any = 1;
	return p;
}

void
rg_policy_free(struct rg_policy *p)
{
	if (p == NULL)
		return;
	rg_policy_names_free(&p->p_rcpt_domains);
	rg_policy_names_free(&p->p_sender_domains);
	rg_policy_names_free(&p->p_sasl_users);
	free(p);
}

/* rg_policy_domain_listed - domain is a name of the list, or under a ".name" of it. */
static int
rg_policy_domain_listed(const struct rg_policy_names *n, const char *domain)
{
	size_t dl = strlen(domain);

	for (int i = 0; i < n->n_count; i++) {
		const char *name = n->n_names[i];
		size_t nl = strlen(name);
		if (name[0] == '.') {
			if (dl > nl && strcmp(domain + dl - nl, name) == 0)
				return 1;
		} else if (strcmp(domain, name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* rg_policy_domain_of - the normalized domain of an address, or -1. */
static int
rg_policy_domain_of(const char *addr, size_t len, char *out, size_t size)
{
	struct rg_address a;
	struct rg_address_error ae;

	if (addr == NULL || len == 0 || rg_address_parse(addr, len, 0, &a, &ae) < 0)
		return -1;
	rg_strlcpy(out, a.a_domain, size);
	return 0;
}

const char *
rg_policy_exempt(const struct rg_policy *p, const struct rg_policy_request *req)
{
	char domain[RG_ADDR_DOMAIN_MAX + 1];

	if (p->p_rcpt_domains.n_count > 0 &&
	    rg_policy_domain_of(req->pr_recipient, req->pr_recipient_len, domain,
	    sizeof(domain)) == 0 && rg_policy_domain_listed(&p->p_rcpt_domains, domain))
		return "recipient_domain";
	if (p->p_sender_domains.n_count > 0 && req->pr_sender != NULL &&
	    rg_policy_domain_of(req->pr_sender, strlen(req->pr_sender), domain,
	    sizeof(domain)) == 0 && rg_policy_domain_listed(&p->p_sender_domains, domain))
		return "sender_domain";
	if (req->pr_sasl_username != NULL && req->pr_sasl_username[0] != '\0') {
		if (p->p_sasl_any)
			return "sasl_user";
		for (int i = 0; i < p->p_sasl_users.n_count; i++)
			if (strcmp(p->p_sasl_users.n_names[i], req->pr_sasl_username) == 0)
				return "sasl_user";
	}
	if (p->p_networks.l_count > 0 && req->pr_client_address != NULL) {
		struct sockaddr_storage ss;

		if (rg_netaddr_parse(req->pr_client_address, &ss) == 0 &&
		    rg_netaddr_in_list((struct sockaddr *)&ss, &p->p_networks))
			return "client_network";
	}
	return NULL;
}

static void
rg_policy_clear(struct rg_decision *d, enum rg_action wanted, enum rg_policy_why why)
{
	memset(d, 0, sizeof(*d));
	d->d_action = wanted;
	d->d_wanted = wanted;
	d->d_why = why;
}

/* rg_policy_defer - a temporary refusal, 450 or 451 with 4.7.1. */
static void
rg_policy_defer(const struct rg_policy *p, enum rg_reason r, struct rg_decision *d)
{
	d->d_action = RG_ACTION_DEFER;
	d->d_code = p->p_cfg.defer_reply == RG_DEFER_451 ? 451 : 450;
	rg_strlcpy(d->d_dsn, "4.7.1", sizeof(d->d_dsn));
	snprintf(d->d_text, sizeof(d->d_text), "rcptguard: %s (%s), try again later",
	    rg_verdict_reason_text(r), rg_verdict_reason_name(r));
}

int
rg_policy_may_tag(const struct rg_policy *p)
{
	int defers = 0;

	if (p->p_cfg.mode == RG_MODE_MONITOR)
		return 0;
	for (int c = 0; c < RG_CLASS_COUNT; c++) {
		if (p->p_cfg.action[c] == RG_ACTION_TAG)
			return 1;
		defers |= p->p_cfg.action[c] == RG_ACTION_DEFER;
	}
	for (int r = 0; r < RG_REASON_COUNT; r++) {
		if (p->p_cfg.reason_action[r] == RG_ACTION_TAG)
			return 1;
		defers |= p->p_cfg.reason_action[r] == RG_ACTION_DEFER;
	}
	/* A deferral turns into a tag once the defer window has passed. */
	return defers && p->p_cfg.defer_window > 0;
}

void
rg_policy_exempted(const struct rg_policy *p, const char *which, struct rg_decision *d)
{
	(void)p;
	rg_policy_clear(d, RG_ACTION_PASS, RG_WHY_EXEMPT);
	d->d_exempt = which;
}

void
rg_policy_failed(const struct rg_policy *p, struct rg_decision *d)
{
	rg_policy_clear(d, RG_ACTION_PASS, RG_WHY_FAIL_MODE);
	if (p->p_cfg.fail_mode == RG_FAIL_DEFER) {
		d->d_wanted = RG_ACTION_DEFER;
		d->d_action = RG_ACTION_DEFER;
		d->d_code = p->p_cfg.defer_reply == RG_DEFER_451 ? 451 : 450;
		rg_strlcpy(d->d_dsn, "4.7.1", sizeof(d->d_dsn));
		rg_strlcpy(d->d_text, "rcptguard: recipient verification is unavailable, try again later",
		    sizeof(d->d_text));
	}
}

/* rg_policy_printable - whether s is printable ASCII without the header's separators. */
static int
rg_policy_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e || *s == ';')
			return 0;
	return 1;
}

/* rg_policy_tag - the header value of a tag: class, reason, role, and a safe recipient. */
static void
rg_policy_tag(const struct rg_answer *ans, const char *reason, struct rg_decision *d)
{
	int n = snprintf(d->d_header, sizeof(d->d_header), "%s; reason=%s%s",
	    rg_verdict_class_name(ans->an_verdict.v_class), reason,
	    (ans->an_verdict.v_flags & RG_VERDICT_F_ROLE) ? "; role=yes" : "");

	if (n > 0 && (size_t)n < sizeof(d->d_header) && rg_policy_printable(ans->an_address))
		snprintf(d->d_header + n, sizeof(d->d_header) - (size_t)n, "; rcpt=<%s>",
		    ans->an_address);
}

void
rg_policy_decide(const struct rg_policy *p, struct rg_store *cache, const struct rg_answer *ans,
    struct rg_decision *d)
{
	const struct rg_verdict *v = &ans->an_verdict;
	enum rg_reason reason = v->v_reason;
	enum rg_action a;

	if (ans->an_cache_status < 0 && ans->an_source != RG_ANSWER_SYNTAX &&
	    ans->an_source != RG_ANSWER_STATIC) {
		rg_policy_failed(p, d);
		return;
	}
	a = (enum rg_action)p->p_cfg.action[(unsigned)v->v_class < RG_CLASS_COUNT ?
	    v->v_class : RG_CLASS_UNKNOWN];
	if ((unsigned)v->v_reason < RG_REASON_COUNT && p->p_cfg.reason_action[v->v_reason] >= 0)
		a = (enum rg_action)p->p_cfg.reason_action[v->v_reason];
	/*
	 * A role mailbox (postmaster@, sales@) that exists or may: an action set
	 * for role_account decides, and the reply names that reason. A dead
	 * role mailbox stays what its verdict says.
	 */
	if ((v->v_flags & RG_VERDICT_F_ROLE) && p->p_cfg.reason_action[RG_REASON_ROLE_ACCOUNT] >= 0 &&
	    (v->v_class == RG_CLASS_DELIVERABLE || v->v_class == RG_CLASS_RISKY)) {
		a = (enum rg_action)p->p_cfg.reason_action[RG_REASON_ROLE_ACCOUNT];
		reason = RG_REASON_ROLE_ACCOUNT;
	}
	rg_policy_clear(d, a, RG_WHY_VERDICT);

	switch (a) {
	case RG_ACTION_PASS:
		break;
	case RG_ACTION_TAG:
		rg_policy_tag(ans, rg_verdict_reason_name(reason), d);
		break;
	case RG_ACTION_REJECT: {
		const char *dsn = rg_verdict_reason_dsn(reason);
		d->d_code = 550;
		rg_strlcpy(d->d_dsn, dsn[0] == '5' ? dsn : "5.7.1", sizeof(d->d_dsn));
		snprintf(d->d_text, sizeof(d->d_text), "rcptguard: %s (%s)",
		    rg_verdict_reason_text(reason), rg_verdict_reason_name(reason));
		break;
	}
	case RG_ACTION_DEFER:
	case RG_ACTION_COUNT:
		rg_policy_defer(p, reason, d);
		/*
		 * The defer window: the first deferral of this recipient is kept in
		 * the cache; once the window has passed, the recipient passes,
		 * tagged, whatever the verdict still says.
		 */
		if (cache != NULL && ans->an_source != RG_ANSWER_SYNTAX && p->p_cfg.defer_window > 0) {
			char key[RG_CACHE_KEY_MAX + 1];
			int64_t first = 0;
			if (rg_limit_key_defer(key, sizeof(key), ans->an_address) == 0 &&
			    rg_store_mark_first(cache, key, p->p_cfg.defer_window + RG_POLICY_MARK_SLACK,
			    &first, NULL) == RG_LIMIT_OK &&
			    rg_clock_now() - first >= p->p_cfg.defer_window) {
				d->d_action = RG_ACTION_TAG;
				d->d_why = RG_WHY_DEFER_WINDOW;
				d->d_code = 0;
				d->d_dsn[0] = d->d_text[0] = '\0';
				rg_policy_tag(ans, "defer_window", d);
			}
		}
		break;
	}
	if (p->p_cfg.mode == RG_MODE_MONITOR && d->d_action != RG_ACTION_PASS) {
		d->d_action = RG_ACTION_PASS;
		d->d_why = RG_WHY_MONITOR;
		d->d_code = 0;
	}
}

int
rg_policy_pre_lookup(const struct rg_policy *p, const struct rg_policy_request *req,
    int have_engine, struct rg_decision *d)
{
	const char *exempt = rg_policy_exempt(p, req);

	if (exempt != NULL)
		rg_policy_exempted(p, exempt, d);
	else if (!have_engine)
		rg_policy_failed(p, d);
	else
		return 0;
	rg_policy_log(req, NULL, d);
	return 1;
}

void
rg_policy_on_failure(const struct rg_policy *p, const struct rg_policy_request *req,
    struct rg_decision *d)
{
	rg_policy_failed(p, d);
	rg_policy_log(req, NULL, d);
}

void
rg_policy_on_answer(const struct rg_policy *p, struct rg_store *cache,
    const struct rg_policy_request *req, const struct rg_answer *ans, struct rg_decision *d)
{
	rg_policy_decide(p, cache, ans, d);
	rg_policy_log(req, ans, d);
}

void
rg_policy_log(const struct rg_policy_request *req, const struct rg_answer *ans,
    const struct rg_decision *d)
{
	struct rg_logline l;

	rg_metric_inc(rg_policy_m_decisions, rg_policy_frontend, (int)d->d_action);
	rg_metric_inc(rg_policy_m_whys, (int)d->d_why, 0);
	if (!rg_logline_wanted(RG_LOG_INFO))
		return;
	rg_logline_init(&l);
	rg_logline_add(&l, req->pr_queue_id != NULL && req->pr_queue_id[0] != '\0' ?
	    req->pr_queue_id : "NOQUEUE");
	rg_logline_lit(&l, ": action=");
	rg_logline_add(&l, rg_policy_action_name(d->d_action));
	switch (d->d_why) {
	case RG_WHY_VERDICT:
		break;
	case RG_WHY_EXEMPT:
		rg_logline_lit(&l, " exempt=");
		rg_logline_add(&l, d->d_exempt != NULL ? d->d_exempt : "?");
		break;
	case RG_WHY_FAIL_MODE:
		rg_logline_lit(&l, " fail_mode=yes");
		break;
	case RG_WHY_DEFER_WINDOW:
		rg_logline_lit(&l, " defer_window=expired");
		break;
	case RG_WHY_MONITOR:
		rg_logline_lit(&l, " monitor=yes would=");
		rg_logline_add(&l, rg_policy_action_name(d->d_wanted));
		break;
	}
	rg_logline_lit(&l, " client=");
	rg_logline_add(&l, req->pr_client_name);
	rg_logline_lit(&l, "[");
	rg_logline_add(&l, req->pr_client_address);
	rg_logline_lit(&l, "] sender=<");
	rg_logline_add(&l, req->pr_sender);
	rg_logline_lit(&l, "> rcpt=<");
	if (ans != NULL)
		rg_logline_add(&l, ans->an_address);
	else if (req->pr_recipient != NULL)
		rg_logline_addn(&l, req->pr_recipient, req->pr_recipient_len);
	rg_logline_lit(&l, ">");
	if (ans != NULL) {
		rg_logline_lit(&l, " class=");
		rg_logline_add(&l, rg_verdict_class_name(ans->an_verdict.v_class));
		rg_logline_lit(&l, " reason=");
		rg_logline_add(&l, rg_verdict_reason_name(ans->an_verdict.v_reason));
		if (ans->an_verdict.v_flags & RG_VERDICT_F_ROLE)
			rg_logline_lit(&l, " role=yes");
		if (ans->an_verdict.v_mx[0] != '\0') {
			rg_logline_lit(&l, " mx=");
			rg_logline_add(&l, ans->an_verdict.v_mx);
		}
		rg_logline_lit(&l, " source=");
		rg_logline_add(&l, rg_engine_source_name(ans->an_source));
		rg_logline_lit(&l, " state=");
		rg_logline_add(&l, rg_verdict_state_name(ans->an_state));
		rg_logline_lit(&l, " elapsed_ms=");
		rg_logline_int(&l, (long long)ans->an_elapsed_ms);
	}
	rg_logline_emit(RG_LOG_INFO, &l);
}
