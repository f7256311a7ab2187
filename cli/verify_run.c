/*
 * verify_run.c - the window and the scheduler of `rcptguard verify`.
 *
 * Rows move through a window of at most CLI_VWIN_SLOTS rows and
 * CLI_VWIN_BYTES bytes: read at the tail, written at the head in input
 * order, so memory depends on the window and never on the list's length.
 * A row is answered at once when the engine knows its address without the
 * loop (a syntax error, static knowledge, a fresh verdict in the cache),
 * follows an earlier row of the window with the same normalized address
 * (probed once, reported on every row), or joins its domain's queue.
 *
 * Queued rows go to the engine domain by domain, round-robin, at most
 * max_rcpt_per_session of a domain per turn (one session's worth, which
 * the prober batches), and only while rg_engine_room_for says the engine
 * and the prober would take them: the limits are the daemons' own, shared
 * through the cache, so a domain that throttles or greylists only holds
 * its own rows while the others go on.
 *
 * Nothing is freed inside an engine callback: answers only mark rows, and
 * the pump (an event made active) writes, reads and dispatches.
 */
#include "rg_build.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "htab.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/store.h"
#include "rcptguard/util.h"
#include "verify_run.h"

#define CLI_VRUN_TICK_MS	100
#define CLI_VRUN_CKPT_MS	5000
#define CLI_VRUN_READ_BATCH	4096	/* rows read per pump, so that the loop breathes */
#define CLI_VRUN_REFUSALS	256	/* domains refused in a row: the engine is full */
#define CLI_VRUN_RETRYING_MS	30000	/* a row in flight this long waits for a re-probe */

enum cli_vslot_state { VS_FREE, VS_PENDING, VS_INFLIGHT, VS_FOLLOWER, VS_DECIDED };

struct cli_vslot {
	struct cli_vrun		*run;
	enum cli_vslot_state	 state;
	int			 dup;
	int			 nocache;	/* --max-age: probe even though cached */
	uint64_t		 seq;
	uint64_t		 line, end_off, end_lines;
	int			 nfields;
	const char		**fields;
	size_t			*lens;
	const char		*addr;		/* trimmed; NULL for a row without one */
	size_t			 addrlen;
	const char		*key;		/* normalized address, NULL when it does not parse */
	uint64_t		 seenhash;	/* cli_vseen_hash(key) */
	const char		*domain;
	const char		*bad;		/* the reader's complaint, copied */
	void			*mem;
	size_t			 memsize;
	struct cli_vdom		*dom;
	uint64_t		 qnext;		/* next queued row of the domain: seq + 1 */
	uint64_t		 fhead, fnext;	/* followers: seq + 1 */
	int64_t			 sent_ms;
	struct rg_answer	*ans;
	const char		*source;
};

struct cli_vdom {
	char			 name[RG_ADDR_DOMAIN_MAX + 1];
	uint64_t		 qhead, qtail;	/* seq + 1 */
	int			 inflight;
	int			 in_rr, in_reap;
	struct cli_vdom		*rr_next, *rr_prev, *reap_next;
};

static struct cli_vslot *
cli_vrun_slot(struct cli_vrun *run, uint64_t seq)
{
	return &run->ring[seq % CLI_VWIN_SLOTS];
}

static void
cli_vrun_fail(struct cli_vrun *run, const char *what)
{
	if (!run->failed && what != run->err)
		snprintf(run->err, sizeof(run->err), "%s", what);
	run->failed = 1;
	event_base_loopbreak(run->base);
}

static void
cli_vrun_kick(struct cli_vrun *run)
{
	if (run->pump != NULL && !run->kicked) {
		run->kicked = 1;
		event_active(run->pump, 0, 0);
	}
}

/* cli_vrun_source - what `source` says: a verdict probed during this run is "probe". */
static const char *
cli_vrun_source(const struct cli_vrun *run, const struct rg_answer *a)
{
	if (a->an_source == RG_ANSWER_CACHE && a->an_verdict.v_checked_at >= run->j.run_start)
		return "probe";
	return rg_engine_source_name(a->an_source);
}

/* cli_vrun_set - s is answered with a. */
static int
cli_vrun_set(struct cli_vrun *run, struct cli_vslot *s, const struct rg_answer *a,
    const char *src)
{
	if ((s->ans = malloc(sizeof(*s->ans))) == NULL) {
		cli_vrun_fail(run, "out of memory");
		return -1;
	}
	*s->ans = *a;
	s->source = src;
	s->state = VS_DECIDED;
	return 0;
}

/* cli_vrun_decide - s and the rows that follow it (same address) answered with a. */
static void
cli_vrun_decide(struct cli_vrun *run, struct cli_vslot *s, const struct rg_answer *a)
{
	const char *src = cli_vrun_source(run, a);
	uint64_t f = s->fhead;

	s->fhead = 0;
	if (cli_vrun_set(run, s, a, src) < 0)
		return;
	while (f != 0) {
		struct cli_vslot *fs = cli_vrun_slot(run, f - 1);
		f = fs->fnext;
		fs->fnext = 0;
		if (cli_vrun_set(run, fs, a, src) < 0)
			return;
	}
}

/* cli_vrun_synth - an answer made here: unknown/in_progress when probing stopped. */
static void
cli_vrun_synth(struct cli_vrun *run, struct cli_vslot *s, const char *why)
{
	struct rg_answer a;

	memset(&a, 0, sizeof(a));
	rg_strlcpy(a.an_address, s->key ? s->key : "", sizeof(a.an_address));
	rg_verdict_make(&a.an_verdict, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS, why,
	    rg_clock_now(), 1);
	a.an_state = RG_STATE_FRESH;
	a.an_source = RG_ANSWER_PENDING;
	cli_vrun_decide(run, s, &a);
}

static void
cli_vrun_on_answer(const struct rg_answer *ans, void *arg)
{
	struct cli_vslot *s = arg;
	struct cli_vrun *run = s->run;

	if (run->ignore || s->state != VS_INFLIGHT)
		return;
	s->dom->inflight--;
	run->inflight--;
	if (s->dom->inflight == 0 && s->dom->qhead == 0 && !s->dom->in_reap) {
		s->dom->in_reap = 1;
		s->dom->reap_next = run->reap;
		run->reap = s->dom;
	}
	cli_vrun_decide(run, s, ans);
	cli_vrun_kick(run);
}

struct cli_vknown {
	struct rg_answer	ans;
	int			got;
};

static void
cli_vrun_on_known(const struct rg_answer *ans, void *arg)
{
	struct cli_vknown *k = arg;

	k->ans = *ans;
	k->got = 1;
}

/* --- domains --- */

static void
cli_vrun_rr_add(struct cli_vrun *run, struct cli_vdom *d)
{
	if (d->in_rr)
		return;
	d->in_rr = 1;
	run->ndoms_rr++;
	if (run->rr == NULL) {
		d->rr_next = d->rr_prev = d;
		run->rr = d;
		return;
	}
	/* Just before the cursor: last in this round. */
	d->rr_next = run->rr;
	d->rr_prev = run->rr->rr_prev;
	d->rr_prev->rr_next = d;
	run->rr->rr_prev = d;
}

static void
cli_vrun_rr_del(struct cli_vrun *run, struct cli_vdom *d)
{
	if (!d->in_rr)
		return;
	d->in_rr = 0;
	run->ndoms_rr--;
	if (d->rr_next == d) {
		run->rr = NULL;
	} else {
		d->rr_prev->rr_next = d->rr_next;
		d->rr_next->rr_prev = d->rr_prev;
		if (run->rr == d)
			run->rr = d->rr_next;
	}
	d->rr_next = d->rr_prev = NULL;
	if (d->inflight == 0 && !d->in_reap) {
		d->in_reap = 1;
		d->reap_next = run->reap;
		run->reap = d;
	}
}

/* cli_vrun_reap - free the domains that have nothing queued or in flight. */
static void
cli_vrun_reap(struct cli_vrun *run)
{
	while (run->reap != NULL) {
		struct cli_vdom *d = run->reap;
		run->reap = d->reap_next;
		d->in_reap = 0;
		if (d->inflight == 0 && d->qhead == 0 && !d->in_rr) {
			cli_htab_del(run->doms, d->name);
			free(d);
		}
	}
}

/* cli_vrun_queue - s waits for a probe in its domain's queue. */
static int
cli_vrun_queue(struct cli_vrun *run, struct cli_vslot *s)
{
	struct cli_vdom *d = cli_htab_get(run->doms, s->domain);

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return -1;
		rg_strlcpy(d->name, s->domain, sizeof(d->name));
		if (cli_htab_put(run->doms, d->name, d) < 0) {
			free(d);
			return -1;
		}
	}
	s->dom = d;
	s->state = VS_PENDING;
	s->qnext = 0;
	if (d->qtail)
		cli_vrun_slot(run, d->qtail - 1)->qnext = s->seq + 1;
	else
		d->qhead = s->seq + 1;
	d->qtail = s->seq + 1;
	cli_vrun_rr_add(run, d);
	return 0;
}

static struct cli_vslot *
cli_vrun_dequeue(struct cli_vrun *run, struct cli_vdom *d)
{
	struct cli_vslot *s;

	if (d->qhead == 0)
		return NULL;
	s = cli_vrun_slot(run, d->qhead - 1);
	d->qhead = s->qnext;
	if (d->qhead == 0)
		d->qtail = 0;
	s->qnext = 0;
	return s;
}

/*
 * cli_vrun_dispatch - hand queued rows to the engine: each domain in turn,
 * a session's worth at most, while the engine has room for the domain.
 */
static void
cli_vrun_dispatch(struct cli_vrun *run)
{
	int64_t per_turn = run->cfg->max_rcpt_per_session > 0 ? run->cfg->max_rcpt_per_session : 1;
	int visits = run->ndoms_rr, refused = 0;

	run->held = 0;
	if (run->stopping || run->deadline_hit)
		return;
	while (run->rr != NULL && visits-- > 0 && refused < CLI_VRUN_REFUSALS && !run->failed) {
		struct cli_vdom *d = run->rr;
		int64_t taken = 0;

		run->rr = d->rr_next;
		while (d->qhead && taken < per_turn && rg_engine_room_for(run->eng, d->name)) {
			struct cli_vslot *s = cli_vrun_dequeue(run, d);
			s->state = VS_INFLIGHT;
			s->sent_ms = rg_clock_mono_ms();
			d->inflight++;
			run->inflight++;
			taken++;
			if (rg_engine_lookup(run->eng, s->addr, s->addrlen,
			    s->nocache ? RG_LOOKUP_NO_CACHE : 0, run->wait_ms, cli_vrun_on_answer,
			    s) < 0) {
				d->inflight--;
				run->inflight--;
				cli_vrun_synth(run, s, "out of memory");
			}
		}
		if (d->qhead == 0) {
			cli_vrun_rr_del(run, d);
			refused = 0;
		} else if (taken == 0) {
			refused++;
			run->held++;
		} else {
			refused = 0;
		}
	}
}

/* --- reading --- */

/* cli_vrun_copy - the row's bytes into s: fields (padded to the header), address, key. */
static int
cli_vrun_copy(struct cli_vrun *run, struct cli_vslot *s, const struct cli_vin_row *row,
    const struct rg_address *a)
{
	int nf = row->nfields < run->hdr_n ? run->hdr_n : row->nfields;
	size_t size = (size_t)nf * (sizeof(char *) + sizeof(size_t)), keylen = 0, domlen = 0;
	size_t badlen = row->bad ? strlen(row->bad) + 1 : 0;
	char *p;

	for (int i = 0; i < row->nfields; i++)
		size += row->lens[i] + 1;
	if (a != NULL) {
		keylen = strlen(a->a_key) + 1;
		domlen = strlen(a->a_domain) + 1;
	}
	size += keylen + domlen + badlen;
	if ((s->mem = malloc(size)) == NULL)
		return -1;
	s->memsize = size;
	s->fields = s->mem;
	s->lens = (size_t *)(s->fields + nf);
	p = (char *)(s->lens + nf);
	s->nfields = nf;
	s->addr = NULL;
	for (int i = 0; i < nf; i++) {
		if (i >= row->nfields) {
			s->fields[i] = "";
			s->lens[i] = 0;
			continue;
		}
		memcpy(p, row->fields[i], row->lens[i]);
		p[row->lens[i]] = '\0';
		s->fields[i] = p;
		s->lens[i] = row->lens[i];
		/* The trimmed address points into its field: point into the copy. */
		if (row->addr != NULL && row->addr >= row->fields[i] &&
		    row->addr <= row->fields[i] + row->lens[i]) {
			s->addr = p + (row->addr - row->fields[i]);
			s->addrlen = row->addrlen;
		}
		p += row->lens[i] + 1;
	}
	s->key = s->domain = s->bad = NULL;
	if (a != NULL) {
		memcpy(p, a->a_key, keylen);
		s->key = p;
		p += keylen;
		memcpy(p, a->a_domain, domlen);
		s->domain = p;
		p += domlen;
	}
	if (badlen) {
		memcpy(p, row->bad, badlen);
		s->bad = p;
	}
	return 0;
}

/* cli_vrun_bad - a row the reader could not use: undeliverable/bad_syntax, with why. */
static void
cli_vrun_bad(struct cli_vrun *run, struct cli_vslot *s, const char *why)
{
	struct rg_answer a;

	memset(&a, 0, sizeof(a));
	rg_verdict_make(&a.an_verdict, RG_CLASS_UNDELIVERABLE, RG_REASON_BAD_SYNTAX, why,
	    rg_clock_now(), 86400);
	a.an_state = RG_STATE_FRESH;
	a.an_source = RG_ANSWER_SYNTAX;
	rg_strlcpy(a.an_detail, why, sizeof(a.an_detail));
	cli_vrun_decide(run, s, &a);
}

/* cli_vrun_admit - a new row at the tail of the window, answered, followed or queued. */
static void
cli_vrun_admit(struct cli_vrun *run, const struct cli_vin_row *row)
{
	struct cli_vslot *s = cli_vrun_slot(run, run->tail);
	struct rg_address a;
	struct rg_address_error ae;
	struct cli_vknown k;
	struct cli_vslot *first;
	int parsed;

	memset(s, 0, sizeof(*s));
	s->run = run;
	s->seq = run->tail;
	s->line = row->line;
	s->end_off = cli_vin_offset(run->in);
	s->end_lines = cli_vin_lines(run->in);
	parsed = row->bad == NULL && row->addr != NULL &&
	    rg_address_parse(row->addr, row->addrlen, run->addr_opts, &a, &ae) == 0;
	if (cli_vrun_copy(run, s, row, parsed ? &a : NULL) < 0) {
		cli_vrun_fail(run, "out of memory");
		return;
	}
	run->tail++;
	run->read_rows++;
	run->win_bytes += s->memsize;
	if (s->bad != NULL || s->addr == NULL) {
		cli_vrun_bad(run, s, s->bad ? s->bad : "the row has no address");
		return;
	}
	if (parsed) {
		s->seenhash = cli_vseen_hash(s->key);
		/* A duplicate: reported on its own row, with the first row's answer. */
		if ((first = cli_htab_get(run->keys, s->key)) != NULL) {
			s->dup = 1;
			if (first->state == VS_DECIDED) {
				cli_vrun_decide(run, s, first->ans);
			} else {
				s->state = VS_FOLLOWER;
				s->fnext = first->fhead;
				first->fhead = s->seq + 1;
			}
			return;
		}
		s->dup = cli_vseen_test(run->j.seen, s->seenhash);
		if (cli_htab_put(run->keys, s->key, s) < 0) {
			cli_vrun_fail(run, "out of memory");
			return;
		}
	}
	k.got = 0;
	switch (rg_engine_lookup(run->eng, s->addr, s->addrlen, RG_LOOKUP_KNOWN_ONLY,
	    run->wait_ms, cli_vrun_on_known, &k)) {
	case 0:
		if (!k.got)
			break;
		if (run->max_age > 0 && k.ans.an_source == RG_ANSWER_CACHE && parsed &&
		    rg_clock_now() - k.ans.an_verdict.v_checked_at > run->max_age &&
		    !run->deadline_hit) {
			s->nocache = 1;
			if (cli_vrun_queue(run, s) < 0)
				cli_vrun_fail(run, "out of memory");
			return;
		}
		cli_vrun_decide(run, s, &k.ans);
		return;
	case 1:
		if (!parsed)
			break;
		if (run->deadline_hit) {
			cli_vrun_synth(run, s, "the --deadline was reached before this address "
			    "was probed");
			return;
		}
		if (cli_vrun_queue(run, s) < 0)
			cli_vrun_fail(run, "out of memory");
		return;
	default:
		break;
	}
	cli_vrun_synth(run, s, "out of memory");
}

/* cli_vrun_read - fill the window, a batch at a time. */
static void
cli_vrun_read(struct cli_vrun *run)
{
	struct cli_vin_row row;

	for (int n = 0; n < CLI_VRUN_READ_BATCH && !run->eof && !run->stopping && !run->failed;
	    n++) {
		if (run->tail - run->head >= CLI_VWIN_SLOTS || run->win_bytes >= CLI_VWIN_BYTES)
			return;
		switch (cli_vin_next(run->in, &row)) {
		case 1:
			cli_vrun_admit(run, &row);
			break;
		case 0:
			run->eof = 1;
			break;
		default:
			cli_vrun_fail(run, "the input could not be read");
			return;
		}
	}
	if (!run->eof && !run->stopping)
		cli_vrun_kick(run);
}

/* --- writing --- */

static void
cli_vrun_domain_set(struct cli_htab *set, const char *domain)
{
	if (domain != NULL && cli_htab_count(set) < CLI_VDOMAINS_MAX &&
	    cli_htab_get(set, domain) == NULL)
		(void)cli_htab_put(set, domain, set);
}

/*
 * cli_vrun_cooled - the domain paused probes after a throttling reply
 * during this run (the cooldown is in its domain record). Asked once per
 * domain: a domain already counted is not looked up again.
 */
static int
cli_vrun_cooled(struct cli_vrun *run, const char *domain)
{
	struct rg_store *st = run->eng != NULL ? rg_engine_store(run->eng) : NULL;
	struct rg_domain_record d;

	if (domain == NULL || st == NULL || cli_htab_get(run->throttled, domain) != NULL)
		return 0;
	return rg_store_domain_get(st, domain, &d) == RG_CACHE_OK &&
	    d.d_cooldown_until > run->j.run_start;
}

/* cli_vrun_emit - write the row at the head and count it. */
static void
cli_vrun_emit(struct cli_vrun *run, struct cli_vslot *s)
{
	const struct rg_verdict *v = &s->ans->an_verdict;
	struct cli_vstats *st = &run->j.st;
	struct cli_vrow_out o;

	o.line = s->line;
	o.nfields = s->nfields;
	o.fields = s->fields;
	o.lens = s->lens;
	o.input = s->addr;
	o.inputlen = s->addrlen;
	o.ans = s->ans;
	o.source = s->source;
	cli_vout_row(run->out, run->fmt, &o);
	if (run->split[v->v_class] != NULL)
		cli_vout_row(run->split[v->v_class], CLI_VFMT_CSV, &o);
	st->rows++;
	st->cls[v->v_class]++;
	st->reason[v->v_reason]++;
	if (v->v_reason == RG_REASON_BAD_SYNTAX)
		st->bad_lines++;
	if (s->dup)
		st->duplicates++;
	if (strcmp(s->source, "cache") == 0)
		st->cache_hits++;
	if (v->v_reason == RG_REASON_THROTTLED ||
	    (v->v_attempts > 1 && v->v_retry_reason == RG_REASON_THROTTLED) ||
	    (strcmp(s->source, "probe") == 0 && cli_vrun_cooled(run, s->domain)))
		cli_vrun_domain_set(run->throttled, s->domain);
	if (v->v_reason == RG_REASON_GREYLISTED ||
	    (v->v_attempts > 1 && v->v_retry_reason == RG_REASON_GREYLISTED))
		cli_vrun_domain_set(run->greylisted, s->domain);
	if (s->key != NULL) {
		if (cli_htab_get(run->keys, s->key) == s)
			cli_htab_del(run->keys, s->key);
		cli_vseen_add(run->j.seen, s->seenhash);
	}
	run->j.offset = s->end_off;
	run->j.lines = s->end_lines;
}

static void
cli_vrun_write(struct cli_vrun *run)
{
	while (run->head < run->tail && !run->failed) {
		struct cli_vslot *s = cli_vrun_slot(run, run->head);
		if (s->state != VS_DECIDED)
			return;
		cli_vrun_emit(run, s);
		run->win_bytes -= s->memsize;
		free(s->mem);
		free(s->ans);
		memset(s, 0, sizeof(*s));
		run->head++;
	}
}

static void
cli_vrun_on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct cli_vrun *run = arg;

	(void)fd;
	(void)what;
	run->kicked = 0;
	cli_vrun_write(run);
	cli_vrun_read(run);
	cli_vrun_dispatch(run);
	cli_vrun_write(run);
	cli_vrun_reap(run);
	if (run->eof && run->head == run->tail)
		event_base_loopbreak(run->base);
}

/* --- time: progress, checkpoints, --deadline, the grace after a stop --- */

uint64_t
cli_vrun_probes(const struct cli_vrun *run)
{
	struct rg_engine_counters c = { 0 };

	if (run->eng != NULL)
		rg_engine_counters(run->eng, &c);
	return run->probes_base + c.ec_probes;
}

int
cli_vrun_checkpoint(struct cli_vrun *run)
{
	FILE *all[RG_CLASS_COUNT + 1];
	int n = 0;

	all[n++] = run->out;
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		if (run->split[c] != NULL)
			all[n++] = run->split[c];
	for (int i = 0; i < n; i++) {
		if (fflush(all[i]) != 0 || ferror(all[i])) {
			snprintf(run->err, sizeof(run->err), "writing the output failed");
			return -1;
		}
	}
	if (run->part_start_ms != 0) {	/* the run has begun */
		run->j.st.elapsed_ms = run->elapsed_start + rg_clock_mono_ms() - run->part_start_ms;
		run->j.st.probes = run->probes_start + cli_vrun_probes(run);
	}
	if (run->j.path[0] == '\0')
		return 0;
	/* Rows first, then the journal that counts them. */
	for (int i = 0; i < n; i++)
		if (fdatasync(fileno(all[i])) < 0) {
			snprintf(run->err, sizeof(run->err), "writing the output failed");
			return -1;
		}
	run->j.out_size = ftello(run->out);
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		run->j.split_size[c] = run->split[c] != NULL ? ftello(run->split[c]) : 0;
	return cli_vjournal_save(&run->j, run->throttled, run->greylisted, run->err,
	    sizeof(run->err));
}

static void
cli_vrun_progress(struct cli_vrun *run, int final)
{
	struct cli_vprog_snap snap;
	int64_t now = rg_clock_mono_ms();

	if (run->prog.mode == CLI_VPROG_NONE)
		return;
	memset(&snap, 0, sizeof(snap));
	snap.done = run->j.st.rows;
	snap.read = run->prog.done_at_start + run->read_rows;
	snap.total = run->eof ? snap.read : 0;
	snap.fraction = run->in_size > 0 ?
	    (double)cli_vin_offset(run->in) / (double)run->in_size : -1.0;
	memcpy(snap.cls, run->j.st.cls, sizeof(snap.cls));
	snap.cooling = run->held;
	for (uint64_t q = run->head; q < run->tail; q++) {
		struct cli_vslot *s = cli_vrun_slot(run, q);
		if (s->state == VS_INFLIGHT && now - s->sent_ms >= CLI_VRUN_RETRYING_MS)
			snap.retrying++;
	}
	cli_vprog_tick(&run->prog, run->prog_fp, &snap, final);
}

/* cli_vrun_deadline - stop probing: what is queued or in flight is unknown/in_progress. */
static void
cli_vrun_deadline(struct cli_vrun *run)
{
	struct rg_engine_counters c;
	char err[1200];

	run->deadline_hit = 1;
	while (run->rr != NULL) {
		struct cli_vdom *d = run->rr;
		struct cli_vslot *s;
		while ((s = cli_vrun_dequeue(run, d)) != NULL)
			cli_vrun_synth(run, s, "the --deadline was reached before this address "
			    "was probed");
		cli_vrun_rr_del(run, d);
	}
	/* The engine answers its waiting lookups as it goes; a new one answers what is known. */
	rg_engine_counters(run->eng, &c);
	run->probes_base += c.ec_probes;
	rg_engine_free(run->eng);
	run->eng = rg_engine_new(run->base, run->cfg, err, sizeof(err));
	if (run->eng == NULL)
		cli_vrun_fail(run, err);
	rg_log_warn("verify: the --deadline was reached: the rows left are answered from the "
	    "cache, or unknown/in_progress");
	cli_vrun_kick(run);
}

static void
cli_vrun_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cli_vrun *run = arg;
	int64_t now = rg_clock_mono_ms();

	(void)fd;
	(void)what;
	if (run->deadline_ms && now >= run->deadline_ms && !run->deadline_hit && !run->stopping)
		cli_vrun_deadline(run);
	if (run->stopping && (run->inflight == 0 || now >= run->grace_end_ms)) {
		event_base_loopbreak(run->base);
		return;
	}
	cli_vrun_progress(run, 0);
	if (now - run->last_ckpt_ms >= CLI_VRUN_CKPT_MS) {
		run->last_ckpt_ms = now;
		if (cli_vrun_checkpoint(run) < 0)
			cli_vrun_fail(run, run->err);
	}
	cli_vrun_kick(run);
}

void
cli_vrun_stop(struct cli_vrun *run)
{
	if (run->stopping)
		return;
	run->stopping = 1;
	run->grace_end_ms = rg_clock_mono_ms() + 5000;
}

enum cli_vend
cli_vrun_go(struct cli_vrun *run)
{
	struct timeval tv = { 0, CLI_VRUN_TICK_MS * 1000 };
	char err[1200];

	run->addr_opts = run->cfg->local_part_case == RG_LOCAL_CASE_INSENSITIVE ?
	    RG_ADDR_O_FOLD_LOCAL : 0;
	run->part_start_ms = run->last_ckpt_ms = rg_clock_mono_ms();
	run->elapsed_start = run->j.st.elapsed_ms;
	run->probes_start = run->j.st.probes;
	run->ring = calloc(CLI_VWIN_SLOTS, sizeof(*run->ring));
	run->keys = cli_htab_new(CLI_VWIN_SLOTS);
	run->doms = cli_htab_new(4096);
	run->pump = event_new(run->base, -1, 0, cli_vrun_on_pump, run);
	run->tick = event_new(run->base, -1, EV_PERSIST, cli_vrun_on_tick, run);
	if (run->ring == NULL || run->keys == NULL || run->doms == NULL || run->pump == NULL ||
	    run->tick == NULL) {
		snprintf(run->err, sizeof(run->err), "out of memory");
		return CLI_VEND_FAILED;
	}
	if ((run->eng = rg_engine_new(run->base, run->cfg, err, sizeof(err))) == NULL) {
		snprintf(run->err, sizeof(run->err), "%s", err);
		return CLI_VEND_FAILED;
	}
	rg_engine_wait_shared(run->eng);
	if (rg_engine_cache_status(run->eng) < 0) {
		snprintf(run->err, sizeof(run->err), "the cache could not be opened: nothing "
		    "is probed without its limits");
		return CLI_VEND_FAILED;
	}
	event_add(run->tick, &tv);
	cli_vrun_kick(run);
	event_base_dispatch(run->base);
	if (!run->failed && !run->stopping)
		cli_vrun_write(run);
	if (run->failed)
		return CLI_VEND_FAILED;
	if (run->stopping) {
		cli_vrun_write(run);	/* what was decided so far */
		return CLI_VEND_INTERRUPTED;
	}
	return CLI_VEND_DONE;
}

void
cli_vrun_free(struct cli_vrun *run)
{
	run->ignore = 1;
	if (run->eng != NULL) {
		struct rg_engine_counters c;
		rg_engine_counters(run->eng, &c);
		run->probes_base += c.ec_probes;
		rg_engine_free(run->eng);
		run->eng = NULL;
	}
	if (run->ring != NULL) {
		for (uint64_t q = run->head; q < run->tail; q++) {
			struct cli_vslot *s = cli_vrun_slot(run, q);
			free(s->mem);
			free(s->ans);
		}
		free(run->ring);
		run->ring = NULL;
	}
	if (run->doms != NULL)
		cli_htab_free(run->doms, free);
	if (run->keys != NULL)
		cli_htab_free(run->keys, NULL);
	run->doms = run->keys = NULL;
	if (run->pump != NULL)
		event_free(run->pump);
	if (run->tick != NULL)
		event_free(run->tick);
	run->pump = run->tick = NULL;
}
