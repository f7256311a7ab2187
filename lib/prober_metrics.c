/*
 * prober_metrics.c - what the prober counts: probe verdicts by class and
 * reason, SMTP sessions by how they ended, the recipients they asked, the
 * time of a session and of a whole job; and, read when scraped, its jobs by
 * state, the re-probes waiting, and the domains it paused after a throttling.
 *
 * The families live in the process registry (metrics.h), so a prober made
 * again after a reload goes on counting the same series.
 */
#include "rg_build.h"

#include <pthread.h>
#include <string.h>

#include "rcptguard/clock.h"
#include "rcptguard/metrics.h"
#include "rcptguard/util.h"
#include "rcptguard/verdict.h"

#include "prober_impl.h"

#define RG_PROBER_NSMTP		(RG_SMTP_LOCAL_ERROR + 1)
#define RG_PROBER_NSTATES	RG_PROBE_DONE	/* the live states */

static const char *rg_prober_smtp_names[RG_PROBER_NSMTP];
static const char *rg_prober_state_names[RG_PROBER_NSTATES];
static pthread_once_t rg_prober_names_once = PTHREAD_ONCE_INIT;

static void
rg_prober_names_init(void)
{
	for (int i = 0; i < RG_PROBER_NSMTP; i++)
		rg_prober_smtp_names[i] = rg_smtp_status_name((enum rg_smtp_status)i);
	for (int i = 0; i < RG_PROBER_NSTATES; i++)
		rg_prober_state_names[i] = rg_prober_job_state_name((enum rg_probe_state)i);
}

/* rg_prober_gauge_jobs - jobs in state i, walked at scrape time. */
static double
rg_prober_gauge_jobs(void *arg, int i, int j)
{
	const struct rg_prober *pr = arg;
	const struct rg_probe_job *job;
	int n = 0;

	(void)j;
	TAILQ_FOREACH(job, &pr->p_jobs, j_link)
		n += (int)job->j_state == i;
	return n;
}

static double
rg_prober_gauge_retries(void *arg, int i, int j)
{
	(void)i;
	(void)j;
	return ((const struct rg_prober *)arg)->p_nretries;
}

static double
rg_prober_gauge_cooling(void *arg, int i, int j)
{
	const struct rg_prober *pr = arg;
	int64_t now = rg_clock_now();
	int n = 0;

	(void)i;
	(void)j;
	for (int k = 0; k < RG_PROBER_COOL_SLOTS; k++)
		n += pr->p_cool[k].c_until > now;
	return n;
}

void
rg_prober_metrics_init(struct rg_prober *pr)
{
	static const double session_s[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
	    120 };
	static const double job_s[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
	    900 };
	struct rg_metrics *m = rg_metrics_process();
	struct rg_metric_label cls = { "class", rg_verdict_class_list(), RG_CLASS_COUNT };
	struct rg_metric_label why = { "reason", rg_verdict_reason_list(), RG_REASON_COUNT };
	struct rg_metric_label res = { "result", rg_prober_smtp_names, RG_PROBER_NSMTP };
	struct rg_metric_label st = { "state", rg_prober_state_names, RG_PROBER_NSTATES };

	pthread_once(&rg_prober_names_once, rg_prober_names_init);
	pr->p_m_probes = rg_metrics_counter(m, "rcptguard_probes_total",
	    "Recipients' probe verdicts by class and reason (a re-probe counts again).", &cls, &why);
	pr->p_m_sessions = rg_metrics_counter(m, "rcptguard_probe_sessions_total",
	    "SMTP probe sessions by how they ended.", &res, NULL);
	pr->p_m_rcpts = rg_metrics_counter(m, "rcptguard_probe_rcpts_total",
	    "Recipients asked in probe sessions (RCPT TO commands planned), catch-all tests included.",
	    NULL, NULL);
	pr->p_m_session_s = rg_metrics_histogram(m, "rcptguard_probe_session_duration_seconds",
	    "Time of one SMTP probe session, connect to QUIT.", NULL, session_s,
	    (int)RG_ARRAY_LEN(session_s));
	pr->p_m_job_s = rg_metrics_histogram(m, "rcptguard_probe_duration_seconds",
	    "Time from a probe job's start to its recipients' verdicts, waits included.", NULL,
	    job_s, (int)RG_ARRAY_LEN(job_s));
	rg_metrics_gauge(m, "rcptguard_probe_jobs", "Probe jobs by state: queued, token and slot "
	    "wait, resolving are waiting; session is in flight.", &st, NULL, rg_prober_gauge_jobs, pr);
	rg_metrics_gauge(m, "rcptguard_probe_retries_pending",
	    "Greylisted or deferred recipients waiting for their re-probe.", NULL, NULL,
	    rg_prober_gauge_retries, pr);
	rg_metrics_gauge(m, "rcptguard_domains_cooling",
	    "Domains this daemon paused after they throttled its probes, still paused.", NULL, NULL,
	    rg_prober_gauge_cooling, pr);
}

void
rg_prober_metrics_fini(struct rg_prober *pr)
{
	rg_metrics_unbind(rg_metrics_process(), pr);
}

void
rg_prober_count_verdict(struct rg_prober *pr, const struct rg_verdict *v)
{
	rg_metric_inc(pr->p_m_probes, (int)v->v_class, (int)v->v_reason);
}

void
rg_prober_count_session(struct rg_probe_job *j, const struct rg_smtp_result *res)
{
	struct rg_prober *pr = j->j_pr;

	rg_metric_inc(pr->p_m_sessions, (int)res->s_status, 0);
	rg_metric_add(pr->p_m_rcpts, 0, 0, (uint64_t)(j->j_sess_nreal + (j->j_random != 0)));
	rg_metric_observe(pr->p_m_session_s, 0, rg_clock_stamp() - j->j_sess_started);
}

void
rg_prober_count_job(struct rg_probe_job *j)
{
	rg_metric_observe(j->j_pr->p_m_job_s, 0, rg_clock_stamp() - j->j_started);
}

void
rg_prober_note_cooling(struct rg_prober *pr, const char *domain, int64_t until)
{
	uint32_t h = (uint32_t)rg_strhash(domain);
	int64_t now = rg_clock_now();
	int k, free_k = -1;

	/* The domain's slot if it has one, else one that has run out, else none (counted low). */
	for (k = 0; k < RG_PROBER_COOL_SLOTS; k++) {
		if (pr->p_cool[k].c_until > now && pr->p_cool[k].c_hash == h)
			break;
		if (free_k < 0 && pr->p_cool[k].c_until <= now)
			free_k = k;
	}
	if (k == RG_PROBER_COOL_SLOTS && (k = free_k) < 0)
		return;
	pr->p_cool[k].c_hash = h;
	pr->p_cool[k].c_until = until;
}
