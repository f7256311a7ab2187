/*
 * prober_impl.h - the inside of the prober, shared by its files: prober.c
 * (jobs, their rounds, DNS, what a session's end means), prober_session.c
 * (the recipients of one session, its concurrency slots, its start) and
 * prober_retry.c (re-probes of greylisted recipients). Nothing outside the
 * prober includes it.
 */
#ifndef RG_PROBER_IMPL_H
#define RG_PROBER_IMPL_H

#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "rcptguard/address.h"
#include "rcptguard/dns.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/netaddr.h"
#include "rcptguard/prober.h"
#include "rcptguard/smtp.h"
#include "rcptguard/tier.h"

#define RG_PROBER_MAX_SOURCES		8
#define RG_PROBER_SLOT_POLL_MIN_MS	100	/* waiting for slots: first look */
#define RG_PROBER_SLOT_POLL_MAX_MS	2000	/* ... backing off to this */
#define RG_PROBER_SLOT_TRIES		8	/* slot attempts per pass */
#define RG_PROBER_LIMITS_TTL		(7 * 86400)	/* learned recipient limits are kept */
#define RG_PROBER_EXTRA_ROUNDS		3	/* sessions beyond one per recipient */
#define RG_PROBER_RETRY_SCAN_MS		1000	/* the look for re-probes to adopt */
#define RG_PROBER_RETRY_GRACE		30	/* a live owner's overdue re-probe is taken over */
#define RG_PROBER_RETRY_KEEP		86400	/* a retry record outlives its due time this long */
#define RG_PROBER_ADOPT_MAX		64	/* re-probes adopted per scan */
#define RG_PROBER_COOL_SLOTS		256	/* paused domains the metrics follow */

struct rg_probe_req {
	struct rg_address	 r_addr;
	rg_prober_cb		 r_cb;
	void			*r_arg;
	int			 r_done;
	int			 r_in_session;	/* asked in the session under way */
	int			 r_attempt;	/* 1 for the first probe */
	enum rg_reason		 r_retry_reason;	/* why this attempt was scheduled */
	uint8_t			 r_source;	/* source address of the first probe, 1-based; 0: none */
};

/* A greylisted recipient waiting for its re-probe. */
struct rg_probe_retry {
	TAILQ_ENTRY(rg_probe_retry) t_link;
	struct rg_prober	*t_pr;
	struct rg_probe_req	 t_req;
	struct event		*t_timer;
	int			 t_stored;	/* its retry record is in the cache */
};
TAILQ_HEAD(rg_probe_retries, rg_probe_retry);

struct rg_probe_cand {
	int			 c_host;
	int			 c_addr;
};

/*
 * The life of a job, in order; a job can go back from SESSION to SLOT when
 * the next MX address is tried. rg_prober_job_enter() alone changes it.
 */
enum rg_probe_state {
	RG_PROBE_QUEUED,	/* collecting recipients; its start comes from the loop */
	RG_PROBE_TOKEN,		/* waiting for a token of the domain's rate (others may join) */
	RG_PROBE_RESOLVING,	/* the MX lookup is in flight */
	RG_PROBE_SLOT,		/* waiting for concurrency slots */
	RG_PROBE_SESSION,	/* an SMTP session is running */
	RG_PROBE_DONE,		/* every recipient has its verdict; being freed */
};

/*
 * A job asks its recipients in rounds: one session each, as many recipients
 * as the domain's learned limits allow (j_rounds counts them); those a
 * session did not settle wait for the next round.
 *
 * A job holds what it needs and no more: its recipients in an array that
 * grows as they join, the MX answer once DNS has given it, and the
 * candidate addresses made from that answer. Each wait has its own timer:
 * j_start for the start from the loop, j_token for the domain's rate
 * (made when first needed); slot waits share the prober's p_slot_timer.
 */
struct rg_probe_dom;

struct rg_probe_job {
	TAILQ_ENTRY(rg_probe_job) j_link;
	TAILQ_ENTRY(rg_probe_job) j_dlink;	/* on j_dom's list */
	struct rg_probe_dom	*j_dom;
	TAILQ_ENTRY(rg_probe_job) j_wait_link;	/* on p_slotwait while j_on_slotwait */
	enum rg_probe_state	 j_state;
	int			 j_on_slotwait;
	struct rg_prober	*j_pr;
	char			 j_domain[RG_ADDR_DOMAIN_MAX + 1];
	struct rg_probe_req	*j_reqs;
	int			 j_nreqs;
	int			 j_reqcap;
	struct event		*j_start;
	struct event		*j_token;
	struct rg_tier_req	 j_fleet;	/* the fleet's bucket, asked */
	int			 j_fleet_said;	/* its answer: 0 none, 1 a token, -1 no answer */
	struct rg_mx_result	*j_mx;		/* NULL until DNS (or the cache) answers */
	struct rg_probe_cand	*j_cands;	/* j_ncands of them */
	int			 j_ncands;
	int			 j_next;
	int			 j_forbidden;	/* candidates skipped as forbidden */
	struct rg_smtp		*j_smtp;
	int			 j_rounds;	/* sessions made for the recipients */
	int			 j_sess_nreal;	/* real recipients in the session under way */
	int			 j_sess_per_txn;	/* its recipients per transaction; 0: all */
	int			 j_random;	/* the catch-all probe is in this session */
	double			 j_started;	/* rg_clock_stamp at the job's making */
	double			 j_sess_started;	/* ... at the session's start */
	int			 j_unreliable;	/* provider rule: a 250 proves little */
	char			 j_random_rcpt[RG_ADDR_MAILBOX_MAX + 32];
	struct rg_domain_record	 j_drec;
	/* concurrency slots held for the current session: global, per MX address */
	int			 j_slots[2];
	uint64_t		 j_slot_token;	/* 0: none held */
	char			 j_mprefix[80];
};

TAILQ_HEAD(rg_probe_jobs, rg_probe_job);

/*
 * The jobs of one domain, found by name in p_doms: joining a recipient to
 * its domain's job must not walk every job of the prober (a bulk verify
 * keeps thousands in flight). Made with the domain's first job, freed with
 * its last.
 */
#define RG_PROBER_DOM_BUCKETS	4096	/* a power of two */

struct rg_probe_dom {
	struct rg_probe_dom	*d_next;	/* in its bucket */
	struct rg_probe_jobs	 d_jobs;	/* oldest first, via j_dlink */
	int			 d_njobs;
	char			 d_name[RG_ADDR_DOMAIN_MAX + 1];
};

struct rg_prober {
	struct event_base	*p_base;
	struct rg_config	 p_cfg;
	struct rg_store		*p_store;
	const struct rg_knowledge *p_know;
	struct rg_dns		*p_dns;
	struct rg_smtp_pool	*p_pool;
	SSL_CTX			*p_ssl;
	struct rg_netaddr_list	 p_allow;
	struct sockaddr_storage	 p_sources[RG_PROBER_MAX_SOURCES];
	socklen_t		 p_sourcelens[RG_PROBER_MAX_SOURCES];
	int			 p_nsources;
	char			 p_helo[256];
	char			 p_mail_from[RG_CONFIG_PATH_MAX];
	struct rg_probe_jobs	 p_jobs;
	int			 p_njobs;
	struct rg_probe_dom	*p_doms[RG_PROBER_DOM_BUCKETS];
	struct rg_probe_jobs	 p_slotwait;	/* jobs waiting for slots, in arrival order */
	struct event		*p_slot_timer;	/* the next pass over them */
	int64_t			 p_slot_backoff_ms;
	rg_prober_error_cb	 p_err_cb;
	void			*p_err_arg;
	struct rg_probe_retries	 p_retries;
	int			 p_nretries;
	struct event		*p_retry_scan;	/* looks for durable re-probes to adopt */
	uint64_t		 p_token;	/* this instance, in the retry records it writes */
	uint32_t		 p_pid;
	/* prober_metrics.c */
	struct rg_metric	*p_m_probes, *p_m_sessions, *p_m_rcpts, *p_m_session_s, *p_m_job_s;
	struct {
		uint32_t	c_hash;
		int64_t		c_until;
	}			 p_cool[RG_PROBER_COOL_SLOTS];
};

/* rg_prober_job_state_name - for logs and debug output. */
const char *rg_prober_job_state_name(enum rg_probe_state st);
/* rg_prober_job_enter - the one place a job changes state. */
void rg_prober_job_enter(struct rg_probe_job *j, enum rg_probe_state st);
/* rg_prober_timer_ms - arm ev to fire in ms milliseconds. */
void rg_prober_timer_ms(struct event *ev, int64_t ms);

/* prober_metrics.c: what the prober counts. */
void rg_prober_metrics_init(struct rg_prober *pr);
void rg_prober_metrics_fini(struct rg_prober *pr);
void rg_prober_count_verdict(struct rg_prober *pr, const struct rg_verdict *v);
void rg_prober_count_session(struct rg_probe_job *j, const struct rg_smtp_result *res);
void rg_prober_count_job(struct rg_probe_job *j);
void rg_prober_note_cooling(struct rg_prober *pr, const char *domain, int64_t until);

/* prober.c: the ends of a job, and what it learned. */
void rg_prober_finish_all(struct rg_probe_job *j, enum rg_class c, enum rg_reason reason,
    const struct rg_reply *r, const char *mx, const char *why);
void rg_prober_cache_failed(struct rg_probe_job *j, int status, const char *what);
void rg_prober_domain_save(struct rg_probe_job *j);
/* rg_prober_on_smtp - a session of j has ended (the rg_smtp callback). */
void rg_prober_on_smtp(const struct rg_smtp_result *res, void *arg);

/* prober_session.c */
/*
 * rg_prober_try_next - start a session with the next candidate address. 1
 * when j waits for slots; 0 when the session started or the job ended (j
 * may be gone).
 */
int rg_prober_try_next(struct rg_probe_job *j);
/* rg_prober_release_slots - give back the session's concurrency slots. */
void rg_prober_release_slots(struct rg_probe_job *j);
/* rg_prober_on_slot_timer - a pass over the jobs waiting for slots (p_slot_timer). */
void rg_prober_on_slot_timer(evutil_socket_t fd, short what, void *arg);
/* rg_prober_enqueue - add a request to an unstarted job of its domain, or a new one. */
enum rg_prober_status rg_prober_enqueue(struct rg_prober *pr, const struct rg_probe_req *req);
/*
 * rg_prober_schedule_retry - a recipient whose verdict v a later probe may
 * settle is probed again: after the delay its reply asked for, else (a
 * throttle) when the domain's cooldown ends, else after
 * greylist_retry_delay doubled at each attempt; never before not_before.
 * At most greylist_max_retries times. 0 when scheduled.
 */
int rg_prober_schedule_retry(struct rg_prober *pr, const struct rg_probe_req *req,
    const struct rg_verdict *v, int64_t not_before);
/* rg_prober_retry_release - a re-probe has its final verdict: drop our retry record. */
void rg_prober_retry_release(struct rg_prober *pr, const struct rg_probe_req *req);
/* rg_prober_retry_free - drop a scheduled re-probe (its caller is not told). */
void rg_prober_retry_free(struct rg_probe_retry *t);
/*
 * rg_prober_retry_init, rg_prober_retry_fini - the durable side of the
 * re-probes: the instance token, the scan for re-probes to adopt (those of
 * a process that is gone, or of an earlier instance of this one, a reload),
 * and at the end the retry records of re-probes still in flight, so that
 * another prober takes them over. 0 / nothing on success.
 */
int rg_prober_retry_init(struct rg_prober *pr);
void rg_prober_retry_fini(struct rg_prober *pr);

#endif /* RG_PROBER_IMPL_H */
