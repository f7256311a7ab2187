/*
 * learn.c - delivery records of an MTA's log turned into verdicts, and the
 * outage guard (learn.h).
 *
 * Time: a record counts from its own timestamp (the delivery happened
 * then), so a verdict learned from last week's log expires a week sooner,
 * and the guard's windows run on log time; a record without a timestamp,
 * or one from the future, counts from now.
 *
 * SECURITY
 *   Every record is hostile text (maillog.c reads it). The recipient is
 *   parsed by address.c before it becomes a key; anything that fails is
 *   counted and never stored; the reply that goes into a verdict is the
 *   sanitized, bounded one of reply.c; log lines are built by rg_logline,
 *   which escapes every byte it is given.
 */
#include "rg_build.h"

#include <stdlib.h>
#include <string.h>

#include "rcptguard/address.h"
#include "rcptguard/classify.h"
#include "rcptguard/clock.h"
#include "rcptguard/learn.h"
#include "rcptguard/log.h"
#include "rcptguard/netaddr.h"
#include "rcptguard/util.h"

#define RG_LEARN_HOLD_MAX	100000	/* held bounces; past it a contradiction is kept as suspect */
#define RG_LEARN_KEYS_MAX	100000	/* domains and MX hosts the guard tracks */
#define RG_LEARN_SAME_WINDOW	3600	/* a repeat of the same delivery verdict within it is not rewritten */
#define RG_LEARN_FUTURE_SLACK	300	/* a timestamp further ahead than this counts as now */

static const char *const rg_learn_outcome_names[RG_LEARN_OUTCOME_COUNT] = {
	[RG_LEARN_UNDELIVERABLE] = "undeliverable",
	[RG_LEARN_DELIVERABLE] = "deliverable",
	[RG_LEARN_RISKY] = "risky",
	[RG_LEARN_HELD] = "held",
	[RG_LEARN_SUSPECT] = "suspect",
	[RG_LEARN_IGNORED] = "ignored",
};

/* A domain ("d:") or MX host ("m:") the guard watches. */
struct rg_learn_key {
	struct rg_learn_key	*k_next;
	int64_t			*k_ring;	/* times of the last threshold contradictions */
	int			 k_ring_n;
	int			 k_ring_pos;
	int64_t			 k_burst_until;	/* in a burst until this log time; 0: not */
	uint64_t		 k_burst_held;	/* contradictions held during the burst */
	char			 k_name[2 + RG_ADDR_DOMAIN_MAX + 1];
};

/* A bounce for a deliverable recipient, waiting for its window. */
struct rg_learn_hold {
	struct rg_learn_hold	*h_next;
	struct rg_learn_key	*h_dom;
	struct rg_learn_key	*h_mx;		/* NULL when no relay host was logged */
	int64_t			 h_time;
	int			 h_in_burst;
	struct rg_verdict	 h_verdict;	/* what it would teach */
	char			 h_key[RG_ADDR_MAILBOX_MAX + 1];
	char			 h_relay[RG_MAILLOG_HOST_MAX + 1];
};

/* The last answers of rg_learn_internal, by relay address: relays repeat. */
#define RG_LEARN_RELAY_MEMO	256
struct rg_learn_relay_memo {
	char	m_addr[RG_MAILLOG_ADDR_MAX + 1];
	int	m_internal;
};

struct rg_learn {
	struct rg_store		*l_store;
	struct rg_learn_relay_memo l_relays[RG_LEARN_RELAY_MEMO];
	const struct rg_knowledge *l_know;
	const struct rg_rules	*l_rules;
	struct rg_netaddr_list	 l_allow;
	unsigned		 l_addr_opts;
	int			 l_dry_run;
	int64_t			 l_window;
	int			 l_threshold;
	int			 l_learn_sent;
	char			 l_skip_relays[RG_CONFIG_PATH_MAX];
	rg_learn_report_fn	 l_report;
	void			*l_arg;
	struct rg_learn_key	*l_keys;
	size_t			 l_nkeys;
	struct rg_learn_hold	*l_head, *l_tail;
	size_t			 l_nheld;
	uint64_t		 l_count[RG_LEARN_OUTCOME_COUNT];
};

const char *
rg_learn_outcome_name(enum rg_learn_outcome o)
{
	return (unsigned)o < RG_LEARN_OUTCOME_COUNT ? rg_learn_outcome_names[o] : "?";
}

const char *const *
rg_learn_outcome_list(void)
{
	return rg_learn_outcome_names;
}

struct rg_learn *
rg_learn_new(const struct rg_config *cfg, struct rg_store *store, const struct rg_knowledge *k,
    int dry_run, rg_learn_report_fn report, void *arg, char *err, size_t errsize)
{
	struct rg_learn *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		rg_strlcpy(err, "out of memory", errsize);
		return NULL;
	}
	if (rg_netaddr_parse_list(cfg->probe_allow_networks, &l->l_allow, err, errsize) < 0) {
		free(l);
		return NULL;
	}
	l->l_store = store;
	l->l_know = k;
	l->l_rules = k != NULL ? rg_knowledge_rules(k) : NULL;
	l->l_addr_opts = cfg->local_part_case == RG_LOCAL_CASE_INSENSITIVE ?
	    RG_ADDR_O_FOLD_LOCAL : 0;
	l->l_dry_run = dry_run;
	l->l_window = cfg->learn_burst_window;
	l->l_threshold = (int)cfg->learn_burst_threshold;
	l->l_learn_sent = (int)cfg->learn_trust_sent;
	rg_strlcpy(l->l_skip_relays, cfg->learn_skip_relays, sizeof(l->l_skip_relays));
	l->l_report = report;
	l->l_arg = arg;
	return l;
}

void
rg_learn_free(struct rg_learn *l)
{
	if (l == NULL)
		return;
	while (l->l_head != NULL) {
		struct rg_learn_hold *h = l->l_head;
		l->l_head = h->h_next;
		free(h);
	}
	while (l->l_keys != NULL) {
		struct rg_learn_key *k = l->l_keys;
		l->l_keys = k->k_next;
		free(k->k_ring);
		free(k);
	}
	free(l);
}

size_t
rg_learn_held(const struct rg_learn *l)
{
	return l->l_nheld;
}

uint64_t
rg_learn_count(const struct rg_learn *l, enum rg_learn_outcome o)
{
	return (unsigned)o < RG_LEARN_OUTCOME_COUNT ? l->l_count[o] : 0;
}

/* rg_learn_emit - count an outcome and tell the caller. */
static void
rg_learn_emit(struct rg_learn *l, enum rg_learn_outcome o, const char *why, const char *address,
    const struct rg_verdict *v, const struct rg_maillog_entry *e, const char *relay)
{
	struct rg_learn_result r = {
		.lr_outcome = o, .lr_why = why, .lr_address = address, .lr_verdict = v,
		.lr_entry = e, .lr_relay = relay != NULL ? relay : "", .lr_dry_run = l->l_dry_run,
	};

	l->l_count[o]++;
	if (l->l_report != NULL)
		l->l_report(&r, l->l_arg);
}

/* rg_learn_log - "learn: QID: event rcpt=<...> relay=... reason=... dsn=..." */
static void
rg_learn_log(enum rg_log_level level, const char *event, const char *qid, const char *address,
    const struct rg_verdict *v, const char *relay)
{
	struct rg_logline ll;

	if (!rg_logline_wanted(level))
		return;
	rg_logline_init(&ll);
	rg_logline_add(&ll, qid != NULL && qid[0] ? qid : "NOQUEUE");
	rg_logline_lit(&ll, ": learn=");
	rg_logline_add(&ll, event);
	rg_logline_lit(&ll, " rcpt=<");
	rg_logline_add(&ll, address);
	rg_logline_lit(&ll, ">");
	if (v != NULL) {
		rg_logline_lit(&ll, " class=");
		rg_logline_add(&ll, rg_verdict_class_name(v->v_class));
		rg_logline_lit(&ll, " reason=");
		rg_logline_add(&ll, rg_verdict_reason_name(v->v_reason));
		if (v->v_code) {
			rg_logline_lit(&ll, " code=");
			rg_logline_int(&ll, v->v_code);
		}
		if (v->v_dsn[0]) {
			rg_logline_lit(&ll, " dsn=");
			rg_logline_add(&ll, v->v_dsn);
		}
	}
	if (relay != NULL && relay[0]) {
		rg_logline_lit(&ll, " relay=");
		rg_logline_add(&ll, relay);
	}
	rg_logline_emit(level, &ll);
}

/* rg_learn_listed - name is in the comma or space separated list (case-insensitive). */
static int
rg_learn_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list != '\0') {
		size_t w;

		list += strspn(list, ", \t");
		w = strcspn(list, ", \t");
		if (w == n && w > 0 && strncasecmp(list, name, n) == 0)
			return 1;
		list += w;
	}
	return 0;
}

/* rg_learn_internal - the relay's address is one the prober would never talk to. */
static int
rg_learn_internal(struct rg_learn *l, const char *addr)
{
	struct rg_learn_relay_memo *m = &l->l_relays[rg_strhash(addr) % RG_LEARN_RELAY_MEMO];
	struct sockaddr_storage ss;

	if (strcmp(m->m_addr, addr) == 0)
		return m->m_internal;
	if (rg_netaddr_parse(addr, &ss) < 0)
		return 1;
	rg_strlcpy(m->m_addr, addr, sizeof(m->m_addr));
	m->m_internal = rg_netaddr_forbidden((const struct sockaddr *)&ss, &l->l_allow);
	return m->m_internal;
}

/* rg_learn_key - the guard's state for a name, created on first use; NULL at the cap. */
static struct rg_learn_key *
rg_learn_key(struct rg_learn *l, char kind, const char *name)
{
	struct rg_learn_key *k;
	char full[sizeof(k->k_name)];

	full[0] = kind;
	full[1] = ':';
	rg_strlcpy(full + 2, name, sizeof(full) - 2);
	for (k = l->l_keys; k != NULL; k = k->k_next) {
		if (strcmp(k->k_name, full) == 0)
			return k;
	}
	if (l->l_nkeys >= RG_LEARN_KEYS_MAX || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if ((k->k_ring = calloc((size_t)l->l_threshold, sizeof(int64_t))) == NULL) {
		free(k);
		return NULL;
	}
	memcpy(k->k_name, full, sizeof(full));
	k->k_next = l->l_keys;
	l->l_keys = k;
	l->l_nkeys++;
	return k;
}

/*
 * rg_learn_key_hit - one more contradiction at time t: 0 when the key is in
 * no burst, 1 when it is, 2 when this one started the burst (the threshold
 * reached within the window).
 */
static int
rg_learn_key_hit(struct rg_learn *l, struct rg_learn_key *k, int64_t t)
{
	int n = 0;

	if (k == NULL)
		return 0;
	k->k_ring[k->k_ring_pos] = t;
	k->k_ring_pos = (k->k_ring_pos + 1) % l->l_threshold;
	if (k->k_ring_n < l->l_threshold)
		k->k_ring_n++;
	for (int i = 0; i < k->k_ring_n; i++) {
		if (k->k_ring[i] > t - l->l_window)
			n++;
	}
	if (k->k_burst_until > 0) {
		k->k_burst_until = t + l->l_window;
		return 1;
	}
	if (n < l->l_threshold)
		return 0;
	k->k_burst_until = t + l->l_window;
	return 2;
}

/*
 * rg_learn_key_busy - the key is in a burst at now. A burst that ended
 * before now is logged as over and forgotten.
 */
static int
rg_learn_key_busy(struct rg_learn_key *k, int64_t now)
{
	if (k == NULL || k->k_burst_until == 0)
		return 0;
	if (k->k_burst_until > now)
		return 1;
	rg_log_info("learn: outage burst over at %s %s: %llu bounces held; their "
	    "verdicts are due for a probe", k->k_name[0] == 'd' ? "domain" : "mail host",
	    k->k_name + 2, (unsigned long long)k->k_burst_held);
	k->k_burst_until = 0;
	k->k_burst_held = 0;
	k->k_ring_n = 0;
	k->k_ring_pos = 0;
	return 0;
}

/* What the cache holds for an address, against a verdict about to be learned. */
enum rg_learn_old {
	RG_LEARN_OLD_OTHER,		/* nothing, or something the new verdict replaces */
	RG_LEARN_OLD_DELIVERABLE,	/* deliverable (fresh or stale), replaceable */
	RG_LEARN_OLD_KEEP,		/* an admin's, a newer one, the same, or unreadable: *why */
};

/* What the cache held for an address when its record was read. */
struct rg_learn_old_verdict {
	int			 o_rc;		/* rg_store_get's status */
	enum rg_verdict_state	 o_state;
	struct rg_verdict	 o_v;
};

/* rg_learn_read_old - read what the cache holds for key. */
static void
rg_learn_read_old(struct rg_learn *l, const char *key, struct rg_learn_old_verdict *o)
{
	o->o_rc = rg_store_get(l->l_store, key, &o->o_v, &o->o_state);
}

/* rg_learn_existing - what was there for key (o), against v. */
static enum rg_learn_old
rg_learn_existing(const struct rg_learn_old_verdict *o, const struct rg_verdict *v,
    const char **why)
{
	const struct rg_verdict *old = &o->o_v;

	if (o->o_rc != RG_CACHE_OK) {
		if (o->o_rc == RG_CACHE_NOTFOUND)
			return RG_LEARN_OLD_OTHER;
		*why = "cache_error";
		return RG_LEARN_OLD_KEEP;
	}
	if (o->o_state == RG_STATE_EXPIRED)
		return RG_LEARN_OLD_OTHER;
	if (old->v_source == RG_SOURCE_ADMIN) {
		*why = "admin_verdict";
		return RG_LEARN_OLD_KEEP;
	}
	if (old->v_checked_at > v->v_checked_at) {
		*why = "newer_verdict";
		return RG_LEARN_OLD_KEEP;
	}
	if (old->v_source == RG_SOURCE_DELIVERY && old->v_class == v->v_class &&
	    old->v_reason == v->v_reason &&
	    old->v_checked_at + RG_LEARN_SAME_WINDOW > v->v_checked_at) {
		*why = "unchanged";
		return RG_LEARN_OLD_KEEP;
	}
	return old->v_class == RG_CLASS_DELIVERABLE ? RG_LEARN_OLD_DELIVERABLE : RG_LEARN_OLD_OTHER;
}

/*
 * rg_learn_write - store v under key unless this is a dry run or what is
 * there must stay (rg_learn_existing; o, or read now when NULL). 0 when
 * written (or would be), -1 with *why otherwise.
 */
static int
rg_learn_write(struct rg_learn *l, const char *key, struct rg_verdict *v,
    const struct rg_learn_old_verdict *o, const char **why)
{
	struct rg_learn_old_verdict now;
	int rc;

	if (o == NULL) {
		rg_learn_read_old(l, key, &now);
		o = &now;
	}
	if (rg_learn_existing(o, v, why) == RG_LEARN_OLD_KEEP)
		return -1;
	if (l->l_dry_run)
		return 0;
	if ((rc = rg_store_put(l->l_store, key, v)) != RG_CACHE_OK) {
		rg_log_error("learn: %s: cannot store the verdict: %s", key, rg_cache_strerror(rc));
		*why = "cache_error";
		return -1;
	}
	return 0;
}

/* rg_learn_stamp - TTLs of v's class and reason, counted from the delivery at t. */
static void
rg_learn_stamp(struct rg_learn *l, struct rg_verdict *v, int64_t t, int64_t now)
{
	rg_store_stamp(l->l_store, v, 0);
	v->v_refresh_at -= now - t;
	v->v_expires_at -= now - t;
	v->v_checked_at = t;
}

/* rg_learn_release - a held bounce whose time has come: learned, or kept as suspect. */
static void
rg_learn_release(struct rg_learn *l, struct rg_learn_hold *h, int64_t now)
{
	const char *why = NULL;

	if (!h->h_in_burst) {
		if (rg_learn_write(l, h->h_key, &h->h_verdict, NULL, &why) == 0) {
			rg_learn_log(RG_LOG_INFO, "undeliverable", h->h_verdict.v_qid, h->h_key,
			    &h->h_verdict, h->h_relay);
			rg_learn_emit(l, RG_LEARN_UNDELIVERABLE, NULL, h->h_key, &h->h_verdict, NULL,
			    h->h_relay);
		} else {
			rg_learn_emit(l, RG_LEARN_IGNORED, why, h->h_key, &h->h_verdict, NULL,
			    h->h_relay);
		}
		return;
	}
	/* Part of a burst: leave the deliverable verdict, but due for a probe now. */
	if (!l->l_dry_run) {
		struct rg_verdict cur;
		enum rg_verdict_state st;

		if (rg_store_get(l->l_store, h->h_key, &cur, &st) == RG_CACHE_OK &&
		    st == RG_STATE_FRESH && cur.v_source != RG_SOURCE_ADMIN) {
			cur.v_refresh_at = rg_clock_now();
			(void)rg_store_put(l->l_store, h->h_key, &cur);
		}
	}
	(void)now;
	rg_learn_emit(l, RG_LEARN_SUSPECT, "outage_burst", h->h_key, &h->h_verdict, NULL,
	    h->h_relay);
}

/* rg_learn_release_due - release held bounces: every one (all) or those due at now. */
static void
rg_learn_release_due(struct rg_learn *l, int64_t now, int all)
{
	struct rg_learn_hold **pp = &l->l_head, *prev = NULL;

	while (*pp != NULL) {
		struct rg_learn_hold *h = *pp;
		int busy;

		if (!all && h->h_time + l->l_window > now) {
			prev = h;
			pp = &h->h_next;
			continue;
		}
		busy = rg_learn_key_busy(h->h_dom, all ? INT64_MAX : now) |
		    rg_learn_key_busy(h->h_mx, all ? INT64_MAX : now);
		if (busy) {
			prev = h;
			pp = &h->h_next;
			continue;
		}
		*pp = h->h_next;
		if (l->l_tail == h)
			l->l_tail = prev;
		l->l_nheld--;
		rg_learn_release(l, h, now);
		free(h);
	}
}

void
rg_learn_tick(struct rg_learn *l, int64_t now)
{
	rg_learn_release_due(l, now, 0);
}

void
rg_learn_finish(struct rg_learn *l, int64_t now)
{
	rg_learn_release_due(l, now, 1);
}

/* rg_learn_join_burst - a held bounce belongs to a burst: counted for its domain and MX. */
static void
rg_learn_join_burst(struct rg_learn_hold *h)
{
	h->h_in_burst = 1;
	if (h->h_dom != NULL)
		h->h_dom->k_burst_held++;
	if (h->h_mx != NULL)
		h->h_mx->k_burst_held++;
}

/*
 * rg_learn_hold - a bounce for a deliverable recipient goes to the guard.
 * When its domain or MX is in a burst, every bounce held for either joins
 * the burst.
 */
static void
rg_learn_hold(struct rg_learn *l, const char *key, const char *domain,
    const struct rg_verdict *v, int64_t t, const struct rg_maillog_entry *e)
{
	struct rg_learn_key *kd = rg_learn_key(l, 'd', domain);
	struct rg_learn_key *km = e->e_relay_host[0] ? rg_learn_key(l, 'm', e->e_relay_host) : NULL;
	struct rg_learn_hold *h;
	int burst;

	{
		int hd = rg_learn_key_hit(l, kd, t), hm = rg_learn_key_hit(l, km, t);

		burst = hd || hm;
		/* One line for the suspicion, naming what is in a burst. */
		if (hd == 2 || hm == 2)
			rg_log_warn("learn: suspected outage: %d bounces saying \"no such mailbox\" "
			    "for recipients known deliverable within %lld s at%s%s%s%s; they are "
			    "held, not learned, until the burst is over and a probe confirms them",
			    l->l_threshold, (long long)l->l_window, hd ? " domain " : "",
			    hd ? domain : "", hm ? " mail host " : "", hm ? e->e_relay_host : "");
	}
	if (l->l_nheld >= RG_LEARN_HOLD_MAX || (h = calloc(1, sizeof(*h))) == NULL) {
		/* No room to wait: the safe side is not to learn it. */
		rg_learn_emit(l, RG_LEARN_SUSPECT, "hold_full", key, v, e, e->e_relay_host);
		return;
	}
	h->h_dom = kd;
	h->h_mx = km;
	h->h_time = t;
	h->h_verdict = *v;
	rg_strlcpy(h->h_key, key, sizeof(h->h_key));
	rg_strlcpy(h->h_relay, e->e_relay_host, sizeof(h->h_relay));
	if (burst) {
		for (struct rg_learn_hold *o = l->l_head; o != NULL; o = o->h_next) {
			if (!o->h_in_burst && ((kd != NULL && o->h_dom == kd) ||
			    (km != NULL && o->h_mx == km))) {
				rg_learn_join_burst(o);
			}
		}
		rg_learn_join_burst(h);
	}
	if (l->l_tail != NULL)
		l->l_tail->h_next = h;
	else
		l->l_head = h;
	l->l_tail = h;
	l->l_nheld++;
	rg_learn_emit(l, RG_LEARN_HELD, burst ? "outage_burst" : "known_deliverable", key, v, e,
	    e->e_relay_host);
}

/*
 * rg_learn_bounce - what a bounce teaches: the verdict in v, or the name of
 * why nothing (the reason of the reply when it is not about the mailbox).
 */
static const char *
rg_learn_bounce(struct rg_learn *l, const struct rg_maillog_entry *e, struct rg_verdict *v)
{
	struct rg_classification cls;
	int dsn51;

	if (!e->e_has_reply)
		return e->e_remote ? "no_remote_reply" : "not_remote";
	dsn51 = strncmp(e->e_reply.r_dsn, "5.1.", 4) == 0 || strncmp(e->e_dsn, "5.1.", 4) == 0;
	if (e->e_stage != RG_MAILLOG_AT_RCPT && !(e->e_stage == RG_MAILLOG_AT_DATA_END && dsn51))
		return "not_about_recipient";
	if (e->e_reply.r_code < 500)
		return "temporary";
	rg_classify_reply_with(l->l_rules, RG_STAGE_RCPT, &e->e_reply, &cls);
	if (cls.c_class != RG_CLASS_UNDELIVERABLE)
		return rg_verdict_reason_name(cls.c_reason);
	rg_verdict_init(v, cls.c_class, cls.c_reason);
	return NULL;
}

/* rg_learn_sent - what a delivery teaches, in v: deliverable, or risky with "delivered". */
static void
rg_learn_sent(struct rg_learn *l, const struct rg_learn_old_verdict *o, const char *domain,
    const struct rg_maillog_entry *e, struct rg_verdict *v)
{
	struct rg_domain_record d;
	enum rg_reason risky = RG_REASON_COUNT;

	if (rg_store_domain_get(l->l_store, domain, &d) == RG_CACHE_OK &&
	    d.d_catch_all == RG_CATCH_ALL_YES && d.d_catch_all_until > rg_clock_now())
		risky = RG_REASON_CATCH_ALL;
	else if (l->l_know != NULL && e->e_relay_host[0] &&
	    (rg_knowledge_provider(l->l_know, e->e_relay_host) == RG_PROVIDER_ACCEPT_ALL ||
	    rg_knowledge_provider(l->l_know, e->e_relay_host) == RG_PROVIDER_UNRELIABLE_250))
		risky = RG_REASON_ACCEPT_ALL_PROVIDER;
	else if (o->o_rc == RG_CACHE_OK && o->o_v.v_class == RG_CLASS_RISKY &&
	    (o->o_v.v_reason == RG_REASON_CATCH_ALL ||
	    o->o_v.v_reason == RG_REASON_ACCEPT_ALL_PROVIDER))
		risky = o->o_v.v_reason;
	if (risky != RG_REASON_COUNT) {
		rg_verdict_init(v, RG_CLASS_RISKY, risky);
		v->v_flags |= RG_VERDICT_F_DELIVERED;
	} else {
		rg_verdict_init(v, RG_CLASS_DELIVERABLE, RG_REASON_ACCEPTED);
	}
}

void
rg_learn_entry(struct rg_learn *l, const struct rg_maillog_entry *e, int64_t now)
{
	struct rg_address a;
	struct rg_address_error ae;
	struct rg_verdict v;
	struct rg_learn_old_verdict old;
	char shown[RG_ADDR_MAILBOX_MAX * 4 + 8];
	const char *why = NULL;
	int64_t t = e->e_time > 0 && e->e_time <= now + RG_LEARN_FUTURE_SLACK ? e->e_time : now;
	enum rg_learn_outcome o;

	switch (e->e_status) {
	case RG_MAILLOG_SENT:
	case RG_MAILLOG_BOUNCED:
		break;
	case RG_MAILLOG_DEFERRED:
		why = "deferred";
		break;
	case RG_MAILLOG_EXPIRED:
		why = "expired";
		break;
	default:
		why = "other_status";
		break;
	}
	if (why == NULL && !e->e_remote)
		why = "not_remote";
	if (rg_address_parse(e->e_rcpt.s_ptr, e->e_rcpt.s_len, l->l_addr_opts, &a, &ae) < 0 ||
	    (a.a_flags & RG_ADDR_F_LITERAL)) {
		rg_log_sanitize(shown, sizeof(shown), e->e_rcpt.s_ptr, e->e_rcpt.s_len);
		rg_learn_emit(l, RG_LEARN_IGNORED, why != NULL ? why : "bad_address", shown, NULL, e,
		    e->e_relay_host);
		return;
	}
	if (why == NULL && rg_learn_internal(l, e->e_relay_addr))
		why = "internal_relay";
	if (why == NULL && e->e_relay_host[0] && rg_learn_listed(l->l_skip_relays, e->e_relay_host))
		why = "skipped_relay";
	if (why == NULL && e->e_status == RG_MAILLOG_SENT && !l->l_learn_sent)
		why = "sent_not_learned";
	if (why == NULL) {
		if (e->e_status == RG_MAILLOG_SENT) {
			rg_learn_read_old(l, a.a_key, &old);
			rg_learn_sent(l, &old, a.a_domain, e, &v);
		} else if ((why = rg_learn_bounce(l, e, &v)) == NULL) {
			rg_learn_read_old(l, a.a_key, &old);
		}
	}
	if (why != NULL) {
		rg_learn_emit(l, RG_LEARN_IGNORED, why, a.a_key, NULL, e, e->e_relay_host);
		return;
	}
	v.v_source = RG_SOURCE_DELIVERY;
	v.v_attempts = 0;
	if (e->e_has_reply) {
		v.v_code = (uint16_t)e->e_reply.r_code;
		rg_strlcpy(v.v_dsn, e->e_reply.r_dsn[0] ? e->e_reply.r_dsn : e->e_dsn,
		    sizeof(v.v_dsn));
		rg_verdict_set_text(&v, e->e_reply.r_text, strlen(e->e_reply.r_text));
	}
	rg_strlcpy(v.v_mx, e->e_relay_host, sizeof(v.v_mx));
	rg_strlcpy(v.v_qid, e->e_qid, sizeof(v.v_qid));
	rg_learn_stamp(l, &v, t, now);
	if (v.v_expires_at <= now) {
		rg_learn_emit(l, RG_LEARN_IGNORED, "too_old", a.a_key, &v, e, e->e_relay_host);
		return;
	}
	switch (rg_learn_existing(&old, &v, &why)) {
	case RG_LEARN_OLD_KEEP:
		rg_learn_emit(l, RG_LEARN_IGNORED, why, a.a_key, &v, e, e->e_relay_host);
		return;
	case RG_LEARN_OLD_DELIVERABLE:
		if (v.v_class == RG_CLASS_UNDELIVERABLE) {
			rg_learn_hold(l, a.a_key, a.a_domain, &v, t, e);
			return;
		}
		break;
	case RG_LEARN_OLD_OTHER:
		break;
	}
	if (rg_learn_write(l, a.a_key, &v, &old, &why) < 0) {
		rg_learn_emit(l, RG_LEARN_IGNORED, why, a.a_key, &v, e, e->e_relay_host);
		return;
	}
	o = v.v_class == RG_CLASS_UNDELIVERABLE ? RG_LEARN_UNDELIVERABLE :
	    v.v_class == RG_CLASS_RISKY ? RG_LEARN_RISKY : RG_LEARN_DELIVERABLE;
	rg_learn_log(RG_LOG_INFO, rg_learn_outcome_name(o), e->e_qid, a.a_key, &v,
	    e->e_relay_host);
	rg_learn_emit(l, o, NULL, a.a_key, &v, e, e->e_relay_host);
}
