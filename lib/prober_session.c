/*
 * prober_session.c - one session of a probe job: which recipients it asks
 * (as many as the domain's learned limits allow, and where the catch-all
 * test goes), the concurrency slots it holds (global and per MX address,
 * shared through the store) and the wait for them, and its start on the
 * next candidate address.
 */
#include "rg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "rcptguard/clock.h"
#include "rcptguard/limits.h"
#include "rcptguard/log.h"
#include "rcptguard/smtp.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"

#include "prober_impl.h"

static void rg_prober_session_rcpts(struct rg_probe_job *j, struct rg_smtp_params *p);

/* rg_prober_release_slots - give back the session's concurrency slots. */
void
rg_prober_release_slots(struct rg_probe_job *j)
{
	struct rg_store *c = j->j_pr->p_store;
	const char *prefixes[2] = { RG_LIMIT_KEY_GLOBAL, j->j_mprefix };

	if (c == NULL || j->j_slot_token == 0)
		return;
	rg_store_slots_release(c, prefixes, j->j_slots, 2, j->j_slot_token, NULL);
	j->j_slot_token = 0;
	/* A slot of ours came free: the waiting jobs look now, from the loop. */
	if (!TAILQ_EMPTY(&j->j_pr->p_slotwait)) {
		j->j_pr->p_slot_backoff_ms = RG_PROBER_SLOT_POLL_MIN_MS;
		event_del(j->j_pr->p_slot_timer);
		rg_prober_timer_ms(j->j_pr->p_slot_timer, 0);
	}
}

/* rg_prober_random_rcpt - a local part nobody has, at the job's domain; -1 if too long. */
static int
rg_prober_random_rcpt(struct rg_probe_job *j)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[8];
	char local[32];

	arc4random_buf(rnd, sizeof(rnd));
	memcpy(local, "rg-", 3);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		local[3 + 2 * i] = hex[rnd[i] >> 4];
		local[4 + 2 * i] = hex[rnd[i] & 15];
	}
	local[3 + 2 * sizeof(rnd)] = '\0';
	snprintf(j->j_random_rcpt, sizeof(j->j_random_rcpt), "%s@%s", local, j->j_domain);
	return strlen(j->j_random_rcpt) <= RG_ADDR_MAILBOX_MAX ? 0 : -1;
}

enum rg_prober_slot {
	RG_SLOT_HELD,		/* both slots are ours */
	RG_SLOT_BUSY,		/* every slot is taken: wait */
	RG_SLOT_ERROR,		/* the cache failed: the job has ended */
};

/* rg_prober_slots - take a global and a per-MX-address slot for the session to sa. */
static enum rg_prober_slot
rg_prober_slots(struct rg_probe_job *j, const struct sockaddr *sa)
{
	struct rg_prober *pr = j->j_pr;
	const char *prefixes[2] = { RG_LIMIT_KEY_GLOBAL, j->j_mprefix };
	int nslots[2] = { (int)pr->p_cfg.global_concurrency, (int)pr->p_cfg.mx_concurrency };
	int err = RG_CACHE_EIO;

	if (pr->p_store == NULL) {
		rg_prober_cache_failed(j, RG_CACHE_EMISSING, "concurrency slots");
		return RG_SLOT_ERROR;
	}
	rg_limit_key_mx(j->j_mprefix, sizeof(j->j_mprefix), sa);
	switch (rg_store_slots_acquire(pr->p_store, prefixes, nslots, 2,
	    pr->p_cfg.session_timeout + 30, j->j_slots, &j->j_slot_token, &err)) {
	case RG_LIMIT_OK:
		return RG_SLOT_HELD;
	case RG_LIMIT_FAILED:
		j->j_slot_token = 0;
		rg_prober_cache_failed(j, err, "concurrency slots");
		return RG_SLOT_ERROR;
	case RG_LIMIT_HELD:
	case RG_LIMIT_EMPTY:
		break;
	}
	j->j_slot_token = 0;
	return RG_SLOT_BUSY;
}

/* rg_prober_slot_wait - queue j for slots and make sure a pass is coming. */
static void
rg_prober_slot_wait(struct rg_probe_job *j)
{
	struct rg_prober *pr = j->j_pr;

	rg_prober_job_enter(j, RG_PROBE_SLOT);
	if (!j->j_on_slotwait) {
		TAILQ_INSERT_TAIL(&pr->p_slotwait, j, j_wait_link);
		j->j_on_slotwait = 1;
	}
	if (!evtimer_pending(pr->p_slot_timer, NULL))
		rg_prober_timer_ms(pr->p_slot_timer, pr->p_slot_backoff_ms);
}

/*
 * rg_prober_on_slot_timer - one pass over the jobs waiting for slots, in
 * arrival order. Slots held by other processes free without a word to us,
 * so the pass also runs on a timer, backing off from 100 ms to 2 s while
 * nothing frees. One attempt (one write transaction) per MX address per
 * pass: the jobs behind a busy address are not asked again in that pass.
 */
void
rg_prober_on_slot_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_prober *pr = arg;
	struct rg_probe_jobs pass;
	struct rg_probe_job *j;
	char busy[RG_PROBER_SLOT_TRIES][80];
	int nbusy = 0, tries = 0, won = 0;

	(void)fd;
	(void)what;
	TAILQ_INIT(&pass);
	TAILQ_CONCAT(&pass, &pr->p_slotwait, j_wait_link);
	while ((j = TAILQ_FIRST(&pass)) != NULL) {
		int skip = tries >= RG_PROBER_SLOT_TRIES;
		TAILQ_REMOVE(&pass, j, j_wait_link);
		j->j_on_slotwait = 0;
		for (int b = 0; b < nbusy && !skip; b++)
			skip = strcmp(busy[b], j->j_mprefix) == 0;
		if (skip) {
			TAILQ_INSERT_TAIL(&pr->p_slotwait, j, j_wait_link);
			j->j_on_slotwait = 1;
			continue;
		}
		tries++;
		/* Still waiting: its address is busy for the rest of this pass. */
		if (rg_prober_try_next(j))
			rg_strlcpy(busy[nbusy++], j->j_mprefix, sizeof(busy[0]));
		else
			won++;	/* started, or ended: j may be gone */
	}
	pr->p_slot_backoff_ms = won > 0 ? RG_PROBER_SLOT_POLL_MIN_MS :
	    pr->p_slot_backoff_ms * 2 > RG_PROBER_SLOT_POLL_MAX_MS ? RG_PROBER_SLOT_POLL_MAX_MS :
	    pr->p_slot_backoff_ms * 2;
	if (!TAILQ_EMPTY(&pr->p_slotwait) && !evtimer_pending(pr->p_slot_timer, NULL))
		rg_prober_timer_ms(pr->p_slot_timer, pr->p_slot_backoff_ms);
}

/*
 * rg_prober_session_rcpts - the recipients of the next session: the open
 * ones, as many as the learned per-session limit allows, then the random
 * catch-all recipient when it fits; when it would not fit beside them, it
 * gets this session alone, so that no real recipient is the one left out.
 */
static void
rg_prober_session_rcpts(struct rg_probe_job *j, struct rg_smtp_params *p)
{
	struct rg_prober *pr = j->j_pr;
	int live = j->j_drec.d_limits_until > rg_clock_now();
	int max = live && j->j_drec.d_rcpt_per_session > 0 ? j->j_drec.d_rcpt_per_session :
	    RG_SMTP_MAX_RCPT;
	int open = 0, n = 0, random;

	for (int i = 0; i < j->j_nreqs; i++)
		open += !j->j_reqs[i].r_done;
	random = pr->p_cfg.catch_all_check && j->j_drec.d_catch_all == RG_CATCH_ALL_UNKNOWN &&
	    rg_prober_random_rcpt(j) == 0;
	if (random && open + 1 > max && j->j_rounds == 0)
		max = 1;	/* the catch-all test first, alone */
	else if (random && open + 1 > max)
		random = 0;	/* it waits for a session with room */
	for (int i = 0; i < j->j_nreqs; i++) {
		struct rg_probe_req *r = &j->j_reqs[i];
		r->r_in_session = !r->r_done && n + random < max;
		if (!r->r_in_session)
			continue;
		p->p_rcpt_utf8[n] = (r->r_addr.a_flags & RG_ADDR_F_UTF8_LOCAL) != 0;
		p->p_rcpts[n++] = r->r_addr.a_mailbox;
	}
	j->j_sess_nreal = n;
	j->j_random = random;
	if (random)
		p->p_rcpts[n++] = j->j_random_rcpt;
	p->p_nrcpts = n;
	j->j_sess_per_txn = live ? j->j_drec.d_rcpt_per_txn : 0;
	p->p_rcpts_per_txn = j->j_sess_per_txn;
}

/*
 * rg_prober_try_next - start a session with the next candidate address. 1
 * when j waits for slots; 0 when the session started or the job ended (j
 * may be gone).
 */
int
rg_prober_try_next(struct rg_probe_job *j)
{
	struct rg_prober *pr = j->j_pr;
	struct rg_smtp_params p;
	const struct rg_mx_host *h;
	int k = j->j_next;

	h = &j->j_mx->m_hosts[j->j_cands[k].c_host];
	switch (rg_prober_slots(j, (const struct sockaddr *)&h->h_addrs[j->j_cands[k].c_addr])) {
	case RG_SLOT_HELD:
		break;
	case RG_SLOT_BUSY:
		rg_prober_slot_wait(j);
		return 1;
	case RG_SLOT_ERROR:
		return 0;	/* j is gone */
	}
	j->j_next++;
	memset(&p, 0, sizeof(p));
	p.p_addr = (const struct sockaddr *)&h->h_addrs[j->j_cands[k].c_addr];
	p.p_addrlen = h->h_addrlens[j->j_cands[k].c_addr];
	if (pr->p_nsources > 0) {
		/* Sticky per domain, so a greylisting server sees the same client again. */
		int si = j->j_drec.d_source_index;
		/* A re-probe comes from the source of its first probe (greylisting keys on it). */
		for (int i = 0; i < j->j_nreqs; i++)
			if (!j->j_reqs[i].r_done && j->j_reqs[i].r_attempt > 1 &&
			    j->j_reqs[i].r_source >= 1 && j->j_reqs[i].r_source <= pr->p_nsources)
				si = j->j_reqs[i].r_source;
		if (si < 1 || si > pr->p_nsources) {
			si = (int)(rg_strhash(j->j_domain) % (uint32_t)pr->p_nsources) + 1;
			j->j_drec.d_source_index = (uint8_t)si;
			rg_prober_domain_save(j);
		}
		p.p_source = (const struct sockaddr *)&pr->p_sources[si - 1];
		p.p_sourcelen = pr->p_sourcelens[si - 1];
	}
	p.p_mx_name = h->h_name;
	p.p_helo = pr->p_helo;
	p.p_mail_from = pr->p_mail_from;
	rg_prober_session_rcpts(j, &p);
	p.p_ssl_ctx = pr->p_ssl;
	p.p_connect_timeout = (int)pr->p_cfg.connect_timeout;
	p.p_greeting_timeout = (int)pr->p_cfg.greeting_timeout;
	p.p_command_timeout = (int)pr->p_cfg.command_timeout;
	p.p_session_timeout = (int)pr->p_cfg.session_timeout;
	j->j_sess_started = rg_clock_stamp();
	j->j_smtp = rg_smtp_start(pr->p_pool, &p, rg_prober_on_smtp, j);
	if (j->j_smtp == NULL)
		rg_prober_finish_all(j, RG_CLASS_UNKNOWN, RG_REASON_PROTOCOL_ERROR, NULL, h->h_name,
		    "cannot start an SMTP session");
	else
		rg_prober_job_enter(j, RG_PROBE_SESSION);
	return 0;
}

