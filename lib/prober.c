/*
 * prober.c - jobs of one domain: DNS, then SMTP sessions until one answers.
 *
 * DESCRIPTION
 *   A job collects the recipients of one domain submitted in the same turn
 *   of the loop. When it starts it consults the domain record (a decided
 *   DNS outcome or a known catch-all answers without a probe), resolves the
 *   MX, and walks the (host, address) candidates in preference order: a
 *   refused or timed-out connection, or a 4xx/5xx greeting, moves on to the
 *   next; anything else ends the walk.
 *
 *   The catch-all test (a random local part, once per domain per TTL) is
 *   sent after the real recipients, so a server that drops the session or
 *   defers the random address has answered the real ones first.
 *
 * SECURITY
 *   Only addresses that rg_address_parse accepted are submitted; the SMTP
 *   client checks every argument again before writing. No address on a
 *   forbidden network is ever connected to.
 */
#include "rg_build.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "rcptguard/classify.h"
#include "rcptguard/clock.h"
#include "rcptguard/dns.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/limits.h"
#include "rcptguard/log.h"
#include "rcptguard/netaddr.h"
#include "rcptguard/prober.h"
#include "rcptguard/smtp.h"
#include "rcptguard/util.h"

#include "prober_impl.h"

static int rg_prober_learn_limits(struct rg_probe_job *j, const struct rg_session_outcome *out);
static void rg_prober_on_token(evutil_socket_t fd, short what, void *arg);

const char *
rg_prober_job_state_name(enum rg_probe_state st)
{
	switch (st) {
	case RG_PROBE_QUEUED: return "queued";
	case RG_PROBE_TOKEN: return "token";
	case RG_PROBE_RESOLVING: return "resolving";
	case RG_PROBE_SLOT: return "slot";
	case RG_PROBE_SESSION: return "session";
	case RG_PROBE_DONE: return "done";
	}
	return "?";
}

/* rg_prober_job_enter - the one place a job changes state. */
void
rg_prober_job_enter(struct rg_probe_job *j, enum rg_probe_state st)
{
	if (j->j_state != st)
		rg_log_debug("probe %s: %s -> %s", j->j_domain, rg_prober_job_state_name(j->j_state),
		    rg_prober_job_state_name(st));
	j->j_state = st;
}

/* rg_prober_timer_ms - arm ev to fire in ms milliseconds. */
void
rg_prober_timer_ms(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	evtimer_add(ev, &tv);
}

/* rg_prober_default_helo - this host's name, fully qualified when the resolver knows it. */
static void
rg_prober_default_helo(char *buf, size_t size)
{
	struct addrinfo hints, *ai = NULL;
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		rg_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (strchr(host, '.') == NULL && getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL &&
	    ai->ai_canonname != NULL && strchr(ai->ai_canonname, '.') != NULL)
		rg_strlcpy(host, ai->ai_canonname, sizeof(host));
	if (ai != NULL)
		freeaddrinfo(ai);
	rg_strlcpy(buf, host, size);
}

/* rg_prober_sources - parse source_addresses. */
static int
rg_prober_sources(struct rg_prober *pr, const char *text, char *err, size_t errsize)
{
	char buf[RG_CONFIG_PATH_MAX], *save = NULL, *tok;

	rg_strlcpy(buf, text, sizeof(buf));
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		struct addrinfo hints, *ai;
		if (pr->p_nsources >= RG_PROBER_MAX_SOURCES) {
			snprintf(err, errsize, "source_addresses: more than %d", RG_PROBER_MAX_SOURCES);
			return -1;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_NUMERICHOST;
		if (getaddrinfo(tok, NULL, &hints, &ai) != 0) {
			snprintf(err, errsize, "source_addresses: \"%s\" is not an IP address", tok);
			return -1;
		}
		memcpy(&pr->p_sources[pr->p_nsources], ai->ai_addr, ai->ai_addrlen);
		pr->p_sourcelens[pr->p_nsources++] = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	return 0;
}

struct rg_prober *
rg_prober_new(struct event_base *base, const struct rg_config *cfg, struct rg_store *store,
    const struct rg_knowledge *know, char *err, size_t errsize)
{
	struct rg_prober *pr = calloc(1, sizeof(*pr));
	struct rg_address_error ae;

	if (pr == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pr->p_base = base;
	pr->p_cfg = *cfg;
	pr->p_store = store;
	pr->p_know = know;
	TAILQ_INIT(&pr->p_jobs);
	TAILQ_INIT(&pr->p_slotwait);
	TAILQ_INIT(&pr->p_retries);
	pr->p_slot_backoff_ms = RG_PROBER_SLOT_POLL_MIN_MS;
	if ((pr->p_slot_timer = evtimer_new(base, rg_prober_on_slot_timer, pr)) == NULL ||
	    rg_prober_retry_init(pr) < 0) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	if (rg_netaddr_parse_list(cfg->probe_allow_networks, &pr->p_allow, err, errsize) < 0 ||
	    rg_prober_sources(pr, cfg->source_addresses, err, errsize) < 0)
		goto fail;
	if (cfg->helo_name[0] != '\0')
		rg_strlcpy(pr->p_helo, cfg->helo_name, sizeof(pr->p_helo));
	else
		rg_prober_default_helo(pr->p_helo, sizeof(pr->p_helo));
	if (rg_address_parse_domain(pr->p_helo, strlen(pr->p_helo), pr->p_helo, sizeof(pr->p_helo),
	    NULL, &ae) < 0) {
		snprintf(err, errsize, "helo_name: \"%s\" is not a host name: %s", pr->p_helo,
		    ae.e_detail);
		goto fail;
	}
	if (strcmp(cfg->mail_from, "<>") == 0) {
		pr->p_mail_from[0] = '\0';
	} else {
		struct rg_address a;
		char def[RG_CONFIG_PATH_MAX];
		const char *from = cfg->mail_from;
		if (from[0] == '\0') {
			snprintf(def, sizeof(def), "postmaster@%s", pr->p_helo);
			from = def;
		}
		if (rg_address_parse(from, strlen(from), 0, &a, &ae) < 0) {
			snprintf(err, errsize, "mail_from: \"%s\" is not an address: %s", from,
			    ae.e_detail);
			goto fail;
		}
		rg_strlcpy(pr->p_mail_from, a.a_mailbox, sizeof(pr->p_mail_from));
	}
	if ((pr->p_dns = rg_dns_new(base, cfg, err, errsize)) == NULL)
		goto fail;
	if ((pr->p_pool = rg_smtp_pool_new(base)) == NULL) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	if (cfg->starttls && (pr->p_ssl = rg_smtp_ssl_ctx()) == NULL) {
		snprintf(err, errsize, "cannot create a TLS context");
		goto fail;
	}
	rg_prober_metrics_init(pr);
	return pr;
fail:
	rg_dns_free(pr->p_dns);
	rg_smtp_pool_free(pr->p_pool);
	if (pr->p_slot_timer != NULL)
		event_free(pr->p_slot_timer);
	if (pr->p_retry_scan != NULL)
		event_free(pr->p_retry_scan);
	free(pr);
	return NULL;
}

void
rg_prober_set_store(struct rg_prober *pr, struct rg_store *store)
{
	pr->p_store = store;
}

void
rg_prober_on_error(struct rg_prober *pr, rg_prober_error_cb cb, void *arg)
{
	pr->p_err_cb = cb;
	pr->p_err_arg = arg;
}

/* rg_prober_dom - the jobs of domain; made (empty) when create says so. NULL: none. */
static struct rg_probe_dom *
rg_prober_dom(struct rg_prober *pr, const char *domain, int create)
{
	struct rg_probe_dom **b = &pr->p_doms[rg_strhash(domain) & (RG_PROBER_DOM_BUCKETS - 1)], *d;

	for (d = *b; d != NULL; d = d->d_next)
		if (strcmp(d->d_name, domain) == 0)
			return d;
	if (!create || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	TAILQ_INIT(&d->d_jobs);
	rg_strlcpy(d->d_name, domain, sizeof(d->d_name));
	d->d_next = *b;
	*b = d;
	return d;
}

/* rg_prober_dom_leave - a job goes: off its domain's list, the last one frees it. */
static void
rg_prober_dom_leave(struct rg_prober *pr, struct rg_probe_job *j)
{
	struct rg_probe_dom *d = j->j_dom, **b;

	if (d == NULL)
		return;
	TAILQ_REMOVE(&d->d_jobs, j, j_dlink);
	j->j_dom = NULL;
	if (--d->d_njobs > 0)
		return;
	for (b = &pr->p_doms[rg_strhash(d->d_name) & (RG_PROBER_DOM_BUCKETS - 1)]; *b != d;
	    b = &(*b)->d_next)
		;
	*b = d->d_next;
	free(d);
}

static void
rg_prober_job_free(struct rg_probe_job *j)
{
	rg_prober_release_slots(j);
	rg_prober_dom_leave(j->j_pr, j);
	if (j->j_on_slotwait)
		TAILQ_REMOVE(&j->j_pr->p_slotwait, j, j_wait_link);
	TAILQ_REMOVE(&j->j_pr->p_jobs, j, j_link);
	j->j_pr->p_njobs--;
	if (j->j_smtp != NULL)
		rg_smtp_cancel(j->j_smtp);
	if (j->j_start != NULL)
		event_free(j->j_start);
	if (j->j_token != NULL)
		event_free(j->j_token);
	rg_tier_cancel(&j->j_fleet);
	free(j->j_cands);
	free(j->j_mx);
	free(j->j_reqs);
	free(j);
}

void
rg_prober_free(struct rg_prober *pr)
{
	struct rg_probe_job *j;
	struct rg_probe_retry *t;

	if (pr == NULL)
		return;
	rg_prober_metrics_fini(pr);
	rg_prober_retry_fini(pr);	/* before the jobs: their re-probes in flight */
	while ((j = TAILQ_FIRST(&pr->p_jobs)) != NULL)
		rg_prober_job_free(j);
	while ((t = TAILQ_FIRST(&pr->p_retries)) != NULL)
		rg_prober_retry_free(t);
	event_free(pr->p_slot_timer);
	/* After the jobs: DNS callbacks of cancelled jobs are not delivered. */
	rg_dns_free(pr->p_dns);
	rg_smtp_pool_free(pr->p_pool);	/* sessions still saying goodbye */
	if (pr->p_ssl != NULL)
		SSL_CTX_free(pr->p_ssl);
	free(pr);
}

int
rg_prober_active(const struct rg_prober *pr)
{
	return pr->p_njobs + pr->p_nretries;
}

/* rg_prober_report - stamp, cache and report one verdict. */
static void
rg_prober_report(struct rg_probe_job *j, int i, struct rg_verdict *v)
{
	struct rg_probe_req *r = &j->j_reqs[i];

	if (r->r_done)
		return;
	r->r_done = 1;
	rg_prober_count_verdict(j->j_pr, v);
	v->v_attempts = (uint16_t)r->r_attempt;
	v->v_retry_reason = r->r_attempt > 1 ? r->r_retry_reason : 0;
	if (j->j_pr->p_know != NULL && rg_knowledge_role(j->j_pr->p_know, r->r_addr.a_local))
		v->v_flags |= RG_VERDICT_F_ROLE;
	if (j->j_pr->p_store != NULL) {
		int rc;
		rg_store_stamp(j->j_pr->p_store, v, 0);
		rc = rg_store_put(j->j_pr->p_store, r->r_addr.a_key, v);
		if (rc != RG_CACHE_OK)
			rg_log_error("cache: cannot store the verdict of %s: %s", r->r_addr.a_key,
			    rg_cache_strerror(rc));
	} else {
		v->v_checked_at = rg_clock_now();
	}
	/*
	 * Greylisted, throttled, a temporary failure: the interim verdict is in
	 * the cache; the caller hears the verdict of the re-probe, unless no
	 * re-probe can be scheduled.
	 */
	if (r->r_source == 0)
		r->r_source = j->j_drec.d_source_index;	/* the one this probe used */
	if (rg_classify_retryable(v->v_class, v->v_reason) &&
	    rg_prober_schedule_retry(j->j_pr, r, v, j->j_drec.d_cooldown_until) == 0)
		return;
	rg_prober_retry_release(j->j_pr, r);
	r->r_cb(&r->r_addr, v, r->r_arg);
}

/* rg_prober_verdict - a verdict from a class, a reason and an optional reply. */
static void
rg_prober_verdict(struct rg_verdict *v, enum rg_class c, enum rg_reason reason,
    const struct rg_reply *r, const char *mx)
{
	rg_verdict_init(v, c, reason);
	v->v_attempts = 1;
	if (r != NULL && r->r_code != 0) {
		v->v_code = (uint16_t)r->r_code;
		rg_strlcpy(v->v_dsn, r->r_dsn, sizeof(v->v_dsn));
		rg_verdict_set_text(v, r->r_text, strlen(r->r_text));
	}
	if (mx != NULL)
		rg_strlcpy(v->v_mx, mx, sizeof(v->v_mx));
}

/* rg_prober_apply - a session verdict as the verdict of one recipient. */
static void
rg_prober_apply(struct rg_verdict *v, const struct rg_session_verdict *sv, const char *mx)
{
	rg_prober_verdict(v, sv->sv_class, sv->sv_reason, sv->sv_reply, mx);
	if ((sv->sv_reply == NULL || sv->sv_reply->r_code == 0) && sv->sv_why != NULL)
		rg_verdict_set_text(v, sv->sv_why, strlen(sv->sv_why));
}

/* rg_prober_job_end - every recipient has its verdict: the job is done. */
static void
rg_prober_job_end(struct rg_probe_job *j)
{
	rg_prober_job_enter(j, RG_PROBE_DONE);
	rg_prober_count_job(j);
	rg_prober_job_free(j);
}

/* rg_prober_finish_all - every open recipient gets the same verdict; the job ends. */
void
rg_prober_finish_all(struct rg_probe_job *j, enum rg_class c, enum rg_reason reason,
    const struct rg_reply *r, const char *mx, const char *why)
{
	const struct rg_session_verdict sv = { c, reason, r, why, 0 };

	for (int i = 0; i < j->j_nreqs; i++) {
		struct rg_verdict v;
		if (j->j_reqs[i].r_done)
			continue;
		rg_prober_apply(&v, &sv, mx);
		rg_prober_report(j, i, &v);
	}
	rg_prober_job_end(j);
}

/* rg_prober_domain_save - store the domain record, if there is a cache. */
void
rg_prober_domain_save(struct rg_probe_job *j)
{
	if (j->j_pr->p_store != NULL)
		rg_store_domain_put(j->j_pr->p_store, j->j_domain, &j->j_drec);
}

static const char *
rg_prober_cand_host(const struct rg_probe_job *j, int k)
{
	return j->j_mx->m_hosts[j->j_cands[k].c_host].h_name;
}

/*
 * rg_prober_cooldown - the domain throttled us: no probes for
 * throttle_cooldown, doubled for each consecutive throttling (at most 64x).
 */
static void
rg_prober_cooldown(struct rg_probe_job *j, int64_t hint)
{
	int64_t pause = rg_limit_cooldown_start(&j->j_drec, hint > 0 ? hint :
	    j->j_pr->p_cfg.throttle_cooldown, rg_clock_now());

	rg_log_warn("probe %s: throttled by the server, pausing probes for %llds", j->j_domain,
	    (long long)pause);
	rg_prober_note_cooling(j->j_pr, j->j_domain, j->j_drec.d_cooldown_until);
	rg_prober_domain_save(j);
}

/*
 * rg_prober_on_smtp - the end of one session: classify_session decides,
 * the prober records what it learned and reports.
 */
void
rg_prober_on_smtp(const struct rg_smtp_result *res, void *arg)
{
	struct rg_probe_job *j = arg;
	const char *mx = rg_prober_cand_host(j, j->j_next - 1);
	struct rg_session_verdict rcpt[RG_SMTP_MAX_RCPT];
	struct rg_session_input in = {
		.si_res = res, .si_random = j->j_random,
		.si_catch_all = j->j_drec.d_catch_all == RG_CATCH_ALL_YES,
		.si_unreliable = j->j_unreliable, .si_more_hosts = j->j_next < j->j_ncands,
		.si_nreal = j->j_sess_nreal, .si_per_txn = j->j_sess_per_txn,
		.si_rules = rg_knowledge_rules(j->j_pr->p_know),
	};
	struct rg_session_outcome out;
	int progress, open = 0;

	j->j_smtp = NULL;
	j->j_rounds++;
	rg_prober_count_session(j, res);
	rg_prober_release_slots(j);
	rg_log_debug("probe %s via %s: %s stage=%s state=%s replies=%d %s", j->j_domain, mx,
	    rg_smtp_status_name(res->s_status), rg_smtp_stage_name(res->s_stage),
	    rg_smtp_state_name(res->s_state), res->s_nreplies, res->s_error);
	rg_classify_session(&in, &out, rcpt, (int)RG_ARRAY_LEN(rcpt));
	progress = rg_prober_learn_limits(j, &out);
	progress |= out.so_answered > 0 || out.so_catch_all != RG_CATCH_ALL_UNKNOWN;

	if (out.so_cooldown)
		rg_prober_cooldown(j, out.so_cooldown_hint);
	if (out.so_catch_all != RG_CATCH_ALL_UNKNOWN) {
		j->j_drec.d_catch_all = (uint8_t)out.so_catch_all;
		j->j_drec.d_catch_all_until = rg_clock_now() + j->j_pr->p_cfg.ttl[RG_CLASS_RISKY];
		rg_prober_domain_save(j);
	}
	switch (out.so_action) {
	case RG_SESSION_NEXT_HOST:
		j->j_rounds--;	/* the same round, on the next host */
		rg_prober_try_next(j);
		return;
	case RG_SESSION_ALL:
		rg_prober_finish_all(j, out.so_all.sv_class, out.so_all.sv_reason,
		    out.so_all.sv_reply, mx, out.so_all.sv_why);
		return;
	case RG_SESSION_EACH:
		break;
	}
	/*
	 * Each real recipient of the session, in the order sent; one the
	 * server asked to send elsewhere waits for the next round while the
	 * rounds make progress and last.
	 */
	for (int i = 0, k = 0; i < j->j_nreqs; i++) {
		struct rg_probe_req *r = &j->j_reqs[i];
		struct rg_verdict v;
		if (r->r_done || !r->r_in_session)
			continue;
		r->r_in_session = 0;
		if (rcpt[k].sv_again && progress && j->j_rounds < j->j_nreqs + RG_PROBER_EXTRA_ROUNDS) {
			k++;
			continue;
		}
		rg_prober_apply(&v, &rcpt[k++], mx);
		rg_prober_report(j, i, &v);
	}
	for (int i = 0; i < j->j_nreqs; i++)
		open += !j->j_reqs[i].r_done;
	if (open == 0) {
		rg_prober_job_end(j);
		return;
	}
	/* The next round, from the loop: a token of the domain's rate, then a session. */
	rg_log_debug("probe %s: %d recipients left for round %d", j->j_domain, open,
	    j->j_rounds + 1);
	rg_prober_job_enter(j, RG_PROBE_QUEUED);
	rg_prober_timer_ms(j->j_start, 0);
}

/*
 * rg_prober_learn_limits - keep the recipient limits a session showed in
 * the domain record (the smaller one wins while the record's are live).
 * 1 when something new was learned.
 */
static int
rg_prober_learn_limits(struct rg_probe_job *j, const struct rg_session_outcome *out)
{
	struct rg_domain_record *d = &j->j_drec;
	int64_t now = rg_clock_now();
	int live = d->d_limits_until > now, learned = 0;

	if (!live)
		d->d_rcpt_per_txn = d->d_rcpt_per_session = 0;
	if (out->so_per_txn > 0 && (d->d_rcpt_per_txn == 0 || out->so_per_txn < d->d_rcpt_per_txn)) {
		d->d_rcpt_per_txn = (uint16_t)out->so_per_txn;
		learned = 1;
	}
	if (out->so_per_session > 0 &&
	    (d->d_rcpt_per_session == 0 || out->so_per_session < d->d_rcpt_per_session)) {
		d->d_rcpt_per_session = (uint16_t)out->so_per_session;
		learned = 1;
	}
	if (!learned)
		return 0;
	d->d_limits_until = now + RG_PROBER_LIMITS_TTL;
	rg_log_info("probe %s: the server takes %d recipients per transaction, %d per session "
	    "(0: no limit seen)", j->j_domain, d->d_rcpt_per_txn, d->d_rcpt_per_session);
	rg_prober_domain_save(j);
	return 1;
}

/*
 * rg_prober_cache_failed - a limit could not be checked because the cache
 * failed: no probe without its limits. The engine hears of the failure
 * (and so follows fail_mode); the recipients get an unknown verdict that
 * is reported, not stored.
 */
void
rg_prober_cache_failed(struct rg_probe_job *j, int status, const char *what)
{
	struct rg_prober *pr = j->j_pr;

	if (pr->p_err_cb != NULL)
		pr->p_err_cb(status, what, pr->p_err_arg);
	for (int i = 0; i < j->j_nreqs; i++) {
		struct rg_probe_req *r = &j->j_reqs[i];
		struct rg_verdict v;
		if (r->r_done)
			continue;
		r->r_done = 1;
		rg_prober_verdict(&v, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, NULL, NULL);
		rg_verdict_set_text(&v, "the cache failed: no probe without its limits", 45);
		v.v_checked_at = rg_clock_now();
		r->r_cb(&r->r_addr, &v, r->r_arg);
	}
	rg_prober_job_end(j);
}

static void rg_prober_use_mx(struct rg_probe_job *j, const struct rg_mx_result *res);
static int rg_prober_candidates(struct rg_probe_job *j, const struct rg_mx_result *res);

static void
rg_prober_on_mx(const struct rg_mx_result *res, void *arg)
{
	struct rg_probe_job *j = arg;
	struct rg_prober *pr = j->j_pr;

	if (res->m_status == RG_DNS_OK && pr->p_store != NULL && res->m_ttl > 0) {
		/* Reuse the hosts and addresses for their DNS TTL (bounded by ttl_unknown). */
		int64_t ttl = res->m_ttl < pr->p_cfg.ttl[RG_CLASS_UNKNOWN] ? res->m_ttl :
		    pr->p_cfg.ttl[RG_CLASS_UNKNOWN];
		rg_store_mx_put(pr->p_store, j->j_domain, res, rg_clock_now() + ttl);
	}
	rg_prober_use_mx(j, res);
}

/* rg_prober_use_mx - DNS has spoken (fresh or cached): decide or connect. */
static void
rg_prober_use_mx(struct rg_probe_job *j, const struct rg_mx_result *res)
{
	struct rg_prober *pr = j->j_pr;
	int64_t now = rg_clock_now();
	enum rg_reason dns_reason = 0;

	if (j->j_mx == NULL && (j->j_mx = malloc(sizeof(*j->j_mx))) == NULL) {
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, NULL, NULL,
		    "out of memory");
		return;
	}
	*j->j_mx = *res;
	switch (res->m_status) {
	case RG_DNS_NXDOMAIN:
		dns_reason = RG_REASON_NO_DOMAIN;
		break;
	case RG_DNS_NULL_MX:
		dns_reason = RG_REASON_NULL_MX;
		break;
	case RG_DNS_NO_HOST:
		dns_reason = RG_REASON_NO_MAIL_HOST;
		break;
	case RG_DNS_TEMPFAIL:
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_DNS_ERROR, NULL, NULL, res->m_error);
		return;
	case RG_DNS_OK:
		break;
	}
	if (dns_reason != 0) {
		/* Every address of the domain shares this answer for the DNS TTL. */
		int64_t ttl = res->m_ttl > 0 ? res->m_ttl : 300;
		if (ttl > pr->p_cfg.ttl[RG_CLASS_UNDELIVERABLE])
			ttl = pr->p_cfg.ttl[RG_CLASS_UNDELIVERABLE];
		j->j_drec.d_dns_reason = (uint8_t)dns_reason;
		j->j_drec.d_dns_until = now + ttl;
		rg_prober_domain_save(j);
		rg_prober_finish_all(j, RG_CLASS_UNDELIVERABLE, dns_reason, NULL, NULL,
		    res->m_error[0] ? res->m_error : NULL);
		return;
	}
	if (pr->p_know != NULL && res->m_nhosts > 0) {
		/* The provider of the preferred MX decides how far a probe can be trusted. */
		enum rg_provider prov = rg_knowledge_provider(pr->p_know, res->m_hosts[0].h_name);
		if (prov == RG_PROVIDER_ACCEPT_ALL) {
			rg_prober_finish_all(j, RG_CLASS_RISKY, RG_REASON_ACCEPT_ALL_PROVIDER, NULL,
			    res->m_hosts[0].h_name, "the provider accepts every address at RCPT time");
			return;
		}
		if (prov == RG_PROVIDER_SKIP) {
			rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_POLICY_BLOCK, NULL,
			    res->m_hosts[0].h_name, "provider rule: never probed");
			return;
		}
		j->j_unreliable = prov == RG_PROVIDER_UNRELIABLE_250;
	}
	if (rg_prober_candidates(j, res) < 0) {
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, NULL, NULL,
		    "out of memory");
		return;
	}
	if (j->j_ncands == 0) {
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_FORBIDDEN_ADDRESS, NULL,
		    res->m_nhosts > 0 ? res->m_hosts[0].h_name : NULL,
		    "every mail host is on a network that is never probed");
		return;
	}
	rg_prober_try_next(j);
}

/*
 * rg_prober_candidates - the (host, address) pairs to try, in preference
 * order, without the forbidden ones; -1 when out of memory.
 */
static int
rg_prober_candidates(struct rg_probe_job *j, const struct rg_mx_result *res)
{
	struct rg_prober *pr = j->j_pr;
	int n = 0;

	for (int h = 0; h < res->m_nhosts && h < pr->p_cfg.max_mx_hosts; h++)
		n += res->m_hosts[h].h_naddrs;
	free(j->j_cands);
	j->j_ncands = j->j_next = 0;
	if ((j->j_cands = calloc(n > 0 ? (size_t)n : 1, sizeof(*j->j_cands))) == NULL)
		return -1;
	for (int h = 0; h < res->m_nhosts && h < pr->p_cfg.max_mx_hosts; h++) {
		for (int a = 0; a < res->m_hosts[h].h_naddrs; a++) {
			const struct sockaddr *sa = (const struct sockaddr *)&res->m_hosts[h].h_addrs[a];
			char ip[64];
			if (rg_netaddr_forbidden(sa, &pr->p_allow)) {
				rg_netaddr_format(sa, ip, sizeof(ip));
				rg_log_warn("probe %s: MX %s has forbidden address %s, skipped", j->j_domain,
				    res->m_hosts[h].h_name, ip);
				j->j_forbidden++;
				continue;
			}
			j->j_cands[j->j_ncands].c_host = h;
			j->j_cands[j->j_ncands++].c_addr = a;
		}
	}
	return 0;
}

static void rg_prober_begin(struct rg_probe_job *j);

/* rg_prober_wait_token - wait wait_ms for a token (state TOKEN); 0, or -1 when the job ended. */
static int
rg_prober_wait_token(struct rg_probe_job *j, int64_t wait_ms)
{
	if (j->j_token == NULL &&
	    (j->j_token = evtimer_new(j->j_pr->p_base, rg_prober_on_token, j)) == NULL) {
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_TEMP_FAILURE, NULL, NULL,
		    "out of memory");
		return -1;
	}
	rg_prober_job_enter(j, RG_PROBE_TOKEN);
	rg_prober_timer_ms(j->j_token, wait_ms);
	return 0;
}

/*
 * rg_prober_on_fleet_token - the fleet's bucket answered: a token goes on,
 * none waits for one, no answer falls back to the host's own bucket.
 */
static void
rg_prober_on_fleet_token(enum rg_limit_status ls, int64_t wait_ms, void *arg)
{
	struct rg_probe_job *j = arg;

	if (ls == RG_LIMIT_EMPTY) {
		(void)rg_prober_wait_token(j, wait_ms);
		return;
	}
	j->j_fleet_said = ls == RG_LIMIT_OK ? 1 : -1;
	rg_prober_begin(j);
}

/*
 * rg_prober_take_token - a token of the domain's rate: the fleet's bucket
 * when there is a fleet (the job waits in state TOKEN for its answer),
 * else or without its answer the host's. 1 when the job may go on; 0
 * when it waits for one or has ended.
 */
static int
rg_prober_take_token(struct rg_probe_job *j)
{
	struct rg_prober *pr = j->j_pr;
	char key[RG_CACHE_KEY_MAX + 1];
	int64_t wait_ms = 0;
	int err = RG_CACHE_EINVAL, said = j->j_fleet_said;
	enum rg_limit_status ls = RG_LIMIT_FAILED;

	j->j_fleet_said = 0;
	if (said > 0)
		return 1;
	if (said == 0 && rg_store_fleet_bucket(pr->p_store, j->j_domain, pr->p_cfg.domain_rate,
	    pr->p_cfg.domain_burst, rg_prober_on_fleet_token, j, &j->j_fleet) == 0) {
		rg_prober_job_enter(j, RG_PROBE_TOKEN);
		return 0;
	}
	if (rg_limit_key_bucket(key, sizeof(key), j->j_domain) == 0)
		ls = rg_store_bucket_take(pr->p_store, key, pr->p_cfg.domain_rate,
		    pr->p_cfg.domain_burst, &wait_ms, &err);
	switch (ls) {
	case RG_LIMIT_OK:
		return 1;
	case RG_LIMIT_EMPTY:
		(void)rg_prober_wait_token(j, wait_ms);
		return 0;
	case RG_LIMIT_HELD:
	case RG_LIMIT_FAILED:
		break;
	}
	rg_prober_cache_failed(j, err, "the domain's rate");
	return 0;
}

/*
 * rg_prober_begin - the job's turn (first, or after waiting for a token):
 * domain knowledge, the domain's rate, then the MX from the cache or DNS.
 */
static void
rg_prober_begin(struct rg_probe_job *j)
{
	struct rg_prober *pr = j->j_pr;
	int64_t now = rg_clock_now();

	if (pr->p_store == NULL ||
	    rg_store_domain_get(pr->p_store, j->j_domain, &j->j_drec) != RG_CACHE_OK)
		memset(&j->j_drec, 0, sizeof(j->j_drec));
	if (rg_limit_cooling(&j->j_drec, now)) {
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_THROTTLED, NULL, NULL,
		    "the domain throttled earlier probes; pausing");
		return;
	}
	if (pr->p_store == NULL) {
		rg_prober_cache_failed(j, RG_CACHE_EMISSING, "the domain's rate");
		return;
	}
	/* The domain's share of sessions; until a token comes, others may join. */
	if (j->j_drec.d_dns_reason == 0 && !rg_prober_take_token(j))
		return;
	rg_prober_job_enter(j, RG_PROBE_RESOLVING);
	if (j->j_drec.d_catch_all_until <= now)
		j->j_drec.d_catch_all = RG_CATCH_ALL_UNKNOWN;
	if (j->j_drec.d_dns_reason != 0 && j->j_drec.d_dns_until > now) {
		rg_prober_finish_all(j, RG_CLASS_UNDELIVERABLE, (enum rg_reason)j->j_drec.d_dns_reason,
		    NULL, NULL, NULL);
		return;
	}
	j->j_drec.d_dns_reason = 0;
	if (j->j_drec.d_catch_all == RG_CATCH_ALL_YES) {
		rg_prober_finish_all(j, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, NULL, NULL,
		    "the domain accepts every address");
		return;
	}
	{
		struct rg_mx_result mx;

		if (rg_store_mx_get(pr->p_store, j->j_domain, &mx) == RG_CACHE_OK) {
			/* Within the DNS TTL: no lookup. */
			rg_prober_use_mx(j, &mx);
			return;
		}
	}
	if (rg_dns_lookup_mx(pr->p_dns, j->j_domain, rg_prober_on_mx, j) < 0)
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_DNS_ERROR, NULL, NULL,
		    "cannot start the DNS lookup");
}

/* rg_prober_on_start - the loop's turn for a queued job. */
static void
rg_prober_on_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rg_prober_begin(arg);
}

/* rg_prober_on_token - the domain's rate has a token for a job waiting for one. */
static void
rg_prober_on_token(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rg_prober_begin(arg);
}

/*
 * rg_prober_find - an unstarted job of domain with room, or NULL; *same
 * counts the domain's jobs.
 */
static struct rg_probe_job *
rg_prober_find(struct rg_prober *pr, const char *domain, int *same)
{
	struct rg_probe_dom *d = rg_prober_dom(pr, domain, 0);
	struct rg_probe_job *j;

	*same = 0;
	if (d == NULL)
		return NULL;
	TAILQ_FOREACH(j, &d->d_jobs, j_dlink) {
		if ((j->j_state == RG_PROBE_QUEUED || j->j_state == RG_PROBE_TOKEN) &&
		    j->j_nreqs < pr->p_cfg.max_rcpt_per_session)
			return j;
		(*same)++;
	}
	return NULL;
}

enum rg_prober_status
rg_prober_room(struct rg_prober *pr, const char *domain)
{
	int same;

	if (rg_prober_find(pr, domain, &same) != NULL)
		return RG_PROBER_QUEUED;
	if (pr->p_njobs >= pr->p_cfg.max_probe_jobs || same >= pr->p_cfg.max_domain_jobs)
		return RG_PROBER_FULL;
	return RG_PROBER_QUEUED;
}

/* rg_prober_enqueue - add a request to an unstarted job of its domain, or a new one. */
enum rg_prober_status
rg_prober_enqueue(struct rg_prober *pr, const struct rg_probe_req *req)
{
	struct rg_probe_job *j;
	struct timeval now = { 0, 0 };
	const struct rg_address *addr = &req->r_addr;
	struct rg_probe_dom *d;
	int same;

	/* Join a job of the same domain that has not started and has room. */
	if ((j = rg_prober_find(pr, addr->a_domain, &same)) == NULL) {
		if (pr->p_njobs >= pr->p_cfg.max_probe_jobs || same >= pr->p_cfg.max_domain_jobs)
			return RG_PROBER_FULL;
		if ((j = calloc(1, sizeof(*j))) == NULL)
			return RG_PROBER_ENOMEM;
		if ((j->j_start = evtimer_new(pr->p_base, rg_prober_on_start, j)) == NULL ||
		    (d = rg_prober_dom(pr, addr->a_domain, 1)) == NULL) {
			if (j->j_start != NULL)
				event_free(j->j_start);
			free(j);
			return RG_PROBER_ENOMEM;
		}
		j->j_pr = pr;
		rg_strlcpy(j->j_domain, addr->a_domain, sizeof(j->j_domain));
		j->j_state = RG_PROBE_QUEUED;
		j->j_started = rg_clock_stamp();
		TAILQ_INSERT_TAIL(&pr->p_jobs, j, j_link);
		pr->p_njobs++;
		TAILQ_INSERT_TAIL(&d->d_jobs, j, j_dlink);
		d->d_njobs++;
		j->j_dom = d;
		evtimer_add(j->j_start, &now);
	}
	if (j->j_nreqs == j->j_reqcap) {
		int cap = j->j_reqcap ? j->j_reqcap * 2 : 1;
		struct rg_probe_req *reqs;
		if (cap > pr->p_cfg.max_rcpt_per_session)
			cap = (int)pr->p_cfg.max_rcpt_per_session;
		if ((reqs = realloc(j->j_reqs, (size_t)cap * sizeof(*reqs))) == NULL) {
			if (j->j_nreqs == 0)
				rg_prober_job_free(j);
			return RG_PROBER_ENOMEM;
		}
		j->j_reqs = reqs;
		j->j_reqcap = cap;
	}
	j->j_reqs[j->j_nreqs] = *req;
	j->j_reqs[j->j_nreqs].r_done = 0;
	j->j_reqs[j->j_nreqs].r_in_session = 0;
	j->j_nreqs++;
	return RG_PROBER_QUEUED;
}

enum rg_prober_status
rg_prober_submit(struct rg_prober *pr, const struct rg_address *addr, rg_prober_cb cb, void *arg)
{
	struct rg_probe_req req;

	memset(&req, 0, sizeof(req));
	req.r_addr = *addr;
	req.r_cb = cb;
	req.r_arg = arg;
	req.r_attempt = 1;
	return rg_prober_enqueue(pr, &req);
}
