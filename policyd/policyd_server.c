/*
 * policyd_server.c - listeners and persistent connections on one libevent
 * loop, shared with the engine and the prober (no thread per connection).
 *
 * A connection is idle (no byte of a request yet), reading (a request has
 * begun and must end within request_timeout of its first byte; more bytes
 * trickling in do not extend that) or pending (its lookup runs, bounded by
 * wait_budget). Idle connections sit on one list and reading ones on
 * another, each oldest first: at max_connections the oldest idle one is
 * closed to make room, else the one whose partial request began first, so
 * idle, slow or trickling clients can never lock a normal client out; a
 * pending lookup keeps its slot. Input is bounded by a read watermark and
 * the line cap, so a client that never sends a newline holds no more than
 * one line of memory, and only until its deadline.
 *
 * Listeners accept at most POLICYD_ACCEPT_BATCH connections per wake-up,
 * so a flood of connects cannot starve the connections being served, and
 * a connection's first bytes are read as it is accepted: a client that
 * sends its request at once is reading, not idle, from the start.
 *
 * The I/O is plain read(2) and write(2) on persistent events: a request that
 * the cache answers costs one read, one write and no change to the epoll
 * set; replies to pipelined requests leave together. A turn of the loop only
 * reads; policyd_server_flush then parses and answers everything the turn
 * read, back to back, so that many requests share the warm caches and TLB
 * between two system calls instead of one request paying for them alone.
 */
#include "rg_build.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "policyd.h"
#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/netaddr.h"
#include "rcptguard/util.h"

#define POLICYD_LISTEN_MAX	8
#define POLICYD_ACCEPT_BATCH	16	/* connections accepted per wake-up of a listener */
#define POLICYD_OUTPUT_MAX	65536	/* a client that does not read its replies is dropped */

enum policyd_conn_state {
	POLICYD_IDLE,
	POLICYD_READING,
	POLICYD_PENDING,
};

struct policyd_conn {
	TAILQ_ENTRY(policyd_conn)	 c_link;		/* every connection */
	TAILQ_ENTRY(policyd_conn)	 c_idle_link;		/* idle ones, oldest first */
	TAILQ_ENTRY(policyd_conn)	 c_partial_link;	/* reading ones, oldest request first */
	TAILQ_ENTRY(policyd_conn)	 c_dirty_link;		/* replies to write this turn */
	TAILQ_ENTRY(policyd_conn)	 c_ready_link;		/* input to parse this turn */
	int				 c_dirty;
	int				 c_ready;
	struct policyd_server		*c_srv;
	evutil_socket_t			 c_fd;		/* -1 once the client is gone */
	struct event			*c_rev;		/* persistent read */
	struct event			*c_wev;		/* write, while replies wait */
	int64_t				 c_deadline;	/* monotonic seconds; 0: none */
	int64_t				 c_begun;	/* first byte of the partial request; 0: none */
	int				 c_reading;	/* c_rev is added */
	int				 c_writing;	/* c_wev is added */
	int				 c_eof;		/* the client sent its last byte */
	char				*c_in;		/* unparsed input */
	size_t				 c_inlen;
	size_t				 c_insize;
	char				*c_out;		/* replies not yet written */
	size_t				 c_outlen;
	size_t				 c_outsize;
	enum policyd_conn_state		 c_state;
	int				 c_in_process;	/* inside policyd_conn_process */
	char				 c_peer[128];
	struct policyd_request		 c_req;
};

TAILQ_HEAD(policyd_conns, policyd_conn);

struct policyd_listener {
	struct policyd_server	*l_srv;
	evutil_socket_t		 l_fd;
	struct event		*l_ev;		/* readable: connections to accept */
	struct event		*l_retry;	/* out of descriptors: accept again later */
	char			 l_path[sizeof(((struct sockaddr_un *)0)->sun_path)];	/* unix only */
	char			 l_name[RG_CONFIG_PATH_MAX];
};

struct policyd_server {
	struct event_base	*s_base;
	struct rg_config	 s_cfg;
	struct rg_engine	*s_engine;
	struct rg_policy	*s_policy;
	struct policyd_listener	 s_listen[POLICYD_LISTEN_MAX];
	int			 s_nlisten;
	struct policyd_conns	 s_conns;
	struct policyd_conns	 s_idle;
	struct policyd_conns	 s_partial;	/* reading, by the first byte of the request */
	struct policyd_conns	 s_dirty;	/* replies wait for the end of the turn */
	struct policyd_conns	 s_ready;	/* so does new input */
	int			 s_nconns;
	int			 s_nidle;
	int			 s_paused;	/* a reload swaps the engine: requests wait */
	struct event		*s_sweep;	/* the deadlines, once a second */
};

static void policyd_conn_process(struct policyd_conn *c);

/* ---- connection life ------------------------------------------------------ */

static void
policyd_conn_set_idle(struct policyd_conn *c, int idle)
{
	struct policyd_server *srv = c->c_srv;

	if (idle && c->c_state != POLICYD_IDLE) {
		c->c_state = POLICYD_IDLE;
		TAILQ_INSERT_TAIL(&srv->s_idle, c, c_idle_link);
		srv->s_nidle++;
	} else if (!idle && c->c_state == POLICYD_IDLE) {
		TAILQ_REMOVE(&srv->s_idle, c, c_idle_link);
		srv->s_nidle--;
		c->c_state = POLICYD_READING;
	}
}

/* policyd_now - monotonic seconds from the one clock (a test clock moves deadlines too). */
static int64_t
policyd_now(void)
{
	return rg_clock_mono_ms() / 1000;
}

/*
 * policyd_conn_timer - the idle or request deadline, secs from now. One
 * sweep a second enforces them all, so a request costs no timer update.
 */
static void
policyd_conn_timer(struct policyd_conn *c, int64_t secs)
{
	c->c_deadline = policyd_now() + secs;
}

/* policyd_conn_begin - the first byte of a request: its deadline starts now, once. */
static void
policyd_conn_begin(struct policyd_conn *c)
{
	struct policyd_server *srv = c->c_srv;

	if (c->c_begun != 0)
		return;
	policyd_conn_set_idle(c, 0);
	c->c_begun = policyd_now();
	c->c_deadline = c->c_begun + srv->s_cfg.request_timeout;
	TAILQ_INSERT_TAIL(&srv->s_partial, c, c_partial_link);
}

/* policyd_conn_end - the request is whole (or the connection goes): no deadline. */
static void
policyd_conn_end(struct policyd_conn *c)
{
	if (c->c_begun == 0)
		return;
	TAILQ_REMOVE(&c->c_srv->s_partial, c, c_partial_link);
	c->c_begun = 0;
	c->c_deadline = 0;
}

/*
 * policyd_conn_close - hang up and forget a connection. A connection with a
 * lookup in flight, or one being processed further up the stack, is only
 * hung up here; whoever holds it frees it with a second call.
 */
static void
policyd_conn_free(struct policyd_conn *c)
{
	if (c->c_fd >= 0)
		evutil_closesocket(c->c_fd);
	if (c->c_rev != NULL)
		event_free(c->c_rev);
	if (c->c_wev != NULL)
		event_free(c->c_wev);
	free(c->c_out);
	free(c->c_in);
	free(c);
}

/*
 * policyd_conn_close - close the socket; free the connection unless a lookup or
 * the parser still holds it.
 */
static void
policyd_conn_close(struct policyd_conn *c)
{
	struct policyd_server *srv = c->c_srv;

	if (c->c_fd >= 0) {
		event_del(c->c_rev);
		event_del(c->c_wev);
		evutil_closesocket(c->c_fd);
		c->c_fd = -1;
	}
	if (c->c_state == POLICYD_IDLE) {
		TAILQ_REMOVE(&srv->s_idle, c, c_idle_link);
		srv->s_nidle--;
		c->c_state = POLICYD_READING;
	}
	policyd_conn_end(c);
	if (c->c_state == POLICYD_PENDING || c->c_in_process)
		return;
	if (c->c_dirty)
		TAILQ_REMOVE(&srv->s_dirty, c, c_dirty_link);
	if (c->c_ready)
		TAILQ_REMOVE(&srv->s_ready, c, c_ready_link);
	TAILQ_REMOVE(&srv->s_conns, c, c_link);
	srv->s_nconns--;
	policyd_conn_free(c);
}

static void
policyd_conn_drop(struct policyd_conn *c, const char *why)
{
	rg_log_warn("%s: closing connection: %s", c->c_peer, why);
	policyd_conn_close(c);
}

/* policyd_on_sweep - every second: close what outstayed its deadline. */
static void
policyd_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct policyd_server *srv = arg;
	struct policyd_conn *c, *next;
	int64_t now = policyd_now();

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&srv->s_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_link);
		if (c->c_deadline == 0 || c->c_deadline > now || c->c_in_process)
			continue;
		if (c->c_state == POLICYD_IDLE) {
			rg_log_debug("%s: idle timeout", c->c_peer);
			policyd_conn_close(c);
		} else if (c->c_state == POLICYD_READING) {
			policyd_conn_drop(c, "request not complete within request_timeout");
		}
	}
}

/*
 * policyd_conn_flush - write what replies wait; watch for writability only
 * while some remain. A client that stops reading its replies is dropped:
 * then -1, and c may be gone.
 */
static int
policyd_conn_flush(struct policyd_conn *c)
{
	ssize_t n;
	size_t left;

	if (c->c_fd < 0 || c->c_outlen == 0)
		return 0;
	if ((n = write(c->c_fd, c->c_out, c->c_outlen)) < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			rg_log_debug("%s: write: %s", c->c_peer, strerror(errno));
			policyd_conn_close(c);
			return -1;
		}
		n = 0;
	}
	left = c->c_outlen - (size_t)n;
	if (n > 0 && left > 0)
		memmove(c->c_out, c->c_out + n, left);
	c->c_outlen = left;
	if (left > POLICYD_OUTPUT_MAX) {
		policyd_conn_drop(c, "client does not read its replies");
		return -1;
	} else if (left > 0 && !c->c_writing) {
		event_add(c->c_wev, NULL);
		c->c_writing = 1;
	} else if (left == 0 && c->c_writing) {
		event_del(c->c_wev);
		c->c_writing = 0;
	}
	return 0;
}

static void
policyd_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct policyd_conn *c = arg;

	(void)fd;
	(void)what;
	if (policyd_conn_flush(c) < 0)
		return;
	if (c->c_eof && c->c_state != POLICYD_PENDING && c->c_outlen == 0)
		policyd_conn_close(c);
}

/* policyd_conn_eof - the client is done sending (or its socket failed). */
static void
policyd_conn_eof(struct policyd_conn *c, int err)
{
	if (err != 0)
		rg_log_debug("%s: read: %s", c->c_peer, strerror(err));
	if (c->c_reading) {
		event_del(c->c_rev);
		c->c_reading = 0;
	}
	c->c_eof = 1;
	if (err != 0) {
		policyd_conn_close(c);
		return;
	}
	/* A request still being looked up is answered before the hang-up. */
	if (c->c_state != POLICYD_PENDING)
		policyd_conn_process(c);
}

/* ---- answers -------------------------------------------------------------- */

/* policyd_reply - queue "action=...", end the request, go on with the input. */
static void
policyd_reply(struct policyd_conn *c, const char *action)
{
	size_t alen = strlen(action), need = c->c_outlen + 7 + alen + 2;

	if (need > c->c_outsize) {
		/* Grows past the cap only by one reply: the flush then drops the client. */
		size_t size = c->c_outsize * 2 > need ? c->c_outsize * 2 : need;
		char *out = realloc(c->c_out, size);
		if (out == NULL) {
			policyd_conn_drop(c, "out of memory for replies");
			return;
		}
		c->c_out = out;
		c->c_outsize = size;
	}
	memcpy(c->c_out + c->c_outlen, "action=", 7);
	memcpy(c->c_out + c->c_outlen + 7, action, alen);
	memcpy(c->c_out + c->c_outlen + 7 + alen, "\n\n", 2);
	c->c_outlen = need;
	policyd_request_reset(&c->c_req);
	c->c_state = POLICYD_READING;	/* left by policyd_conn_process */
	if (!c->c_in_process)
		policyd_conn_process(c);	/* which writes the reply */
}

/* policyd_decision_reply - the policy protocol form of a decision. */
static void
policyd_decision_reply(struct policyd_conn *c, const struct rg_decision *d)
{
	char action[600];

	switch (d->d_action) {
	case RG_ACTION_TAG:
		snprintf(action, sizeof(action), "PREPEND %s: %s", RG_POLICY_HEADER, d->d_header);
		break;
	case RG_ACTION_DEFER:
		if (c->c_srv->s_cfg.defer_reply == RG_DEFER_IF_PERMIT)
			snprintf(action, sizeof(action), "DEFER_IF_PERMIT %s %s", d->d_dsn, d->d_text);
		else
			snprintf(action, sizeof(action), "%d %s %s", d->d_code, d->d_dsn, d->d_text);
		break;
	case RG_ACTION_REJECT:
		snprintf(action, sizeof(action), "%d %s %s", d->d_code, d->d_dsn, d->d_text);
		break;
	default:
		rg_strlcpy(action, "DUNNO", sizeof(action));
		break;
	}
	policyd_reply(c, action);
}

static void
policyd_request_view(const struct policyd_request *r, struct rg_policy_request *pr)
{
	pr->pr_queue_id = r->r_queue_id;
	pr->pr_recipient = r->r_recipient;
	pr->pr_recipient_len = r->r_recipient_len;
	pr->pr_sender = r->r_sender;
	pr->pr_client_address = r->r_client_address;
	pr->pr_client_name = r->r_client_name;
	pr->pr_sasl_username = r->r_sasl_username;
}

static void
policyd_on_answer(const struct rg_answer *ans, void *arg)
{
	struct policyd_conn *c = arg;
	struct policyd_server *srv = c->c_srv;
	struct rg_policy_request pr;
	struct rg_decision d;

	c->c_state = POLICYD_READING;
	if (c->c_fd < 0) {		/* the client left while we looked */
		policyd_conn_close(c);
		return;
	}
	policyd_request_view(&c->c_req, &pr);
	rg_policy_on_answer(srv->s_policy, srv->s_engine != NULL ? rg_engine_store(srv->s_engine) :
	    NULL, &pr, ans, &d);
	policyd_decision_reply(c, &d);
}

/* policyd_request_done - a whole, valid request: decide, or start a lookup. */
static void
policyd_request_done(struct policyd_conn *c)
{
	struct policyd_server *srv = c->c_srv;
	struct policyd_request *r = &c->c_req;
	struct rg_policy_request pr;
	struct rg_decision d;

	/* Only RCPT is ours; the null sender's bounce address is not either. */
	if (strcmp(r->r_protocol_state, "RCPT") != 0 || r->r_recipient_len == 0) {
		policyd_reply(c, "DUNNO");
		return;
	}
	policyd_request_view(r, &pr);
	if (rg_policy_pre_lookup(srv->s_policy, &pr, srv->s_engine != NULL, &d)) {
		policyd_decision_reply(c, &d);
		return;
	}
	/* A cache that does not work is the engine's to answer: fail_mode, no probe. */
	c->c_state = POLICYD_PENDING;
	if (rg_engine_lookup(srv->s_engine, r->r_recipient, r->r_recipient_len, 0,
	    srv->s_cfg.wait_budget * 1000, policyd_on_answer, c) < 0) {
		c->c_state = POLICYD_READING;
		rg_policy_on_failure(srv->s_policy, &pr, &d);
		policyd_decision_reply(c, &d);
	}
}

/*
 * policyd_conn_process - parse buffered lines until a request is complete
 * (then answer or wait for the engine), the buffer runs dry, or the
 * connection dies; then write the replies and read on.
 */
static void
policyd_conn_process(struct policyd_conn *c)
{
	struct policyd_server *srv = c->c_srv;
	size_t max_line = (size_t)srv->s_cfg.max_line_length;
	size_t pos = 0;

	c->c_in_process = 1;
	while (c->c_fd >= 0 && c->c_state != POLICYD_PENDING && !srv->s_paused) {
		size_t avail = c->c_inlen - pos, used;
		const char *why = NULL;
		enum policyd_parse pr;

		if (avail == 0 && c->c_req.r_nattrs == 0) {
			/* Between requests: idle until the next one begins. */
			if (c->c_state != POLICYD_IDLE) {
				policyd_conn_end(c);
				policyd_conn_set_idle(c, 1);
				policyd_conn_timer(c, srv->s_cfg.idle_timeout);
			}
			break;
		}
		/* Bytes after a finished request begin the next one, deadline and all. */
		policyd_conn_begin(c);
		pr = policyd_request_feed(&c->c_req, c->c_in + pos, avail, max_line,
		    (int)srv->s_cfg.max_attributes, &used, &why);
		pos += used;
		if (pr == POLICYD_ERROR) {
			policyd_conn_drop(c, why);
			break;
		}
		if (pr == POLICYD_MORE)
			break;
		if (pr == POLICYD_DONE) {
			policyd_conn_end(c);
			policyd_request_done(c);	/* answered at once, or pending */
		}
	}
	if (c->c_fd >= 0) {
		if (pos > 0) {
			memmove(c->c_in, c->c_in + pos, c->c_inlen - pos);
			c->c_inlen -= pos;
		}
		if (c->c_outlen > 0 && !c->c_dirty) {
			c->c_dirty = 1;
			TAILQ_INSERT_TAIL(&srv->s_dirty, c, c_dirty_link);
		}
	}
	if (c->c_fd >= 0 && c->c_eof && c->c_state != POLICYD_PENDING) {
		if (c->c_state == POLICYD_READING && (c->c_req.r_nattrs > 0 || c->c_inlen > 0))
			rg_log_warn("%s: connection closed in the middle of a request", c->c_peer);
		if (c->c_outlen == 0)
			policyd_conn_close(c);	/* else once the replies are out */
	} else if (c->c_fd >= 0 && !c->c_reading && !c->c_eof && c->c_inlen < c->c_insize) {
		event_add(c->c_rev, NULL);
		c->c_reading = 1;
	}
	c->c_in_process = 0;
	if (c->c_fd < 0 && c->c_state != POLICYD_PENDING)
		policyd_conn_close(c);
}

/* policyd_on_read - read what the socket has, as far as the buffer takes, then parse. */
static void
policyd_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct policyd_conn *c = arg;
	ssize_t n;

	(void)what;
	if (c->c_inlen == c->c_insize) {
		/* Full while a lookup runs: the rest waits in the socket. */
		event_del(c->c_rev);
		c->c_reading = 0;
		return;
	}
	n = read(fd, c->c_in + c->c_inlen, c->c_insize - c->c_inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		policyd_conn_eof(c, n < 0 ? errno : 0);
		return;
	}
	c->c_inlen += (size_t)n;
	/* The deadline runs from the first byte; bytes for the next request wait the lookup out. */
	if (c->c_state == POLICYD_IDLE)
		policyd_conn_begin(c);
	/* Parsed at the end of the turn, with the input of every other connection. */
	if (!c->c_ready) {
		c->c_ready = 1;
		TAILQ_INSERT_TAIL(&c->c_srv->s_ready, c, c_ready_link);
	}
}

/* ---- listeners ------------------------------------------------------------ */

/*
 * policyd_make_room - at max_connections: close the oldest idle connection,
 * else the one whose partial request began first. A pending lookup keeps
 * its slot. 0 when there is room now.
 */
static int
policyd_make_room(struct policyd_server *srv)
{
	struct policyd_conn *old;

	if ((old = TAILQ_FIRST(&srv->s_idle)) != NULL) {
		rg_log_debug("%s: idle connection closed to make room (max_connections)",
		    old->c_peer);
		policyd_conn_close(old);
		return 0;
	}
	TAILQ_FOREACH(old, &srv->s_partial, c_partial_link)
		if (!old->c_in_process)
			break;
	if (old != NULL) {
		rg_log_warn("%s: closing connection: max_connections (%lld) reached; its request "
		    "began %llds ago and is the oldest incomplete one", old->c_peer,
		    (long long)srv->s_cfg.max_connections,
		    (long long)(policyd_now() - old->c_begun));
		policyd_conn_close(old);
		return 0;
	}
	return -1;
}

/* policyd_conn_new - a connection accepted on l; its first bytes are read now. */
static void
policyd_conn_new(struct policyd_listener *l, evutil_socket_t fd, const struct sockaddr *sa)
{
	struct policyd_server *srv = l->l_srv;
	struct policyd_conn *c;

	if (srv->s_nconns >= srv->s_cfg.max_connections && policyd_make_room(srv) < 0) {
		rg_log_warn("max_connections (%lld) reached, every one with a lookup in flight: "
		    "refusing a connection", (long long)srv->s_cfg.max_connections);
		evutil_closesocket(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->c_srv = srv;
	if (sa->sa_family == AF_UNIX)
		snprintf(c->c_peer, sizeof(c->c_peer), "unix:%s", l->l_path);
	else
		rg_netaddr_format(sa, c->c_peer, sizeof(c->c_peer));
	c->c_fd = fd;
	c->c_insize = (size_t)srv->s_cfg.max_line_length * 4 + 64;
	c->c_in = malloc(c->c_insize);
	c->c_outsize = 1024;
	c->c_out = malloc(c->c_outsize);
	c->c_rev = event_new(srv->s_base, fd, EV_READ | EV_PERSIST, policyd_on_read, c);
	c->c_wev = event_new(srv->s_base, fd, EV_WRITE | EV_PERSIST, policyd_on_write, c);
	if (c->c_in == NULL || c->c_out == NULL || c->c_rev == NULL || c->c_wev == NULL ||
	    event_add(c->c_rev, NULL) < 0) {
		policyd_conn_free(c);
		return;
	}
	c->c_reading = 1;
	policyd_request_reset(&c->c_req);
	c->c_state = POLICYD_READING;
	TAILQ_INSERT_TAIL(&srv->s_conns, c, c_link);
	srv->s_nconns++;
	policyd_conn_set_idle(c, 1);
	policyd_conn_timer(c, srv->s_cfg.idle_timeout);
	policyd_on_read(fd, EV_READ, c);	/* may close c */
}

static void
policyd_on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct policyd_listener *l = arg;

	(void)fd;
	(void)what;
	event_add(l->l_ev, NULL);
}

/*
 * policyd_on_acceptable - accept a bounded batch; the rest wait in the
 * backlog for the next turn, after the served connections had theirs.
 */
static void
policyd_on_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	struct policyd_listener *l = arg;

	(void)what;
	for (int i = 0; i < POLICYD_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		evutil_socket_t fd;

		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			policyd_conn_new(l, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of descriptors: stop listening for 100 ms rather than spin. */
			rg_log_warn("%s: accept: %s; pausing accepts", l->l_name, strerror(errno));
			event_del(l->l_ev);
			event_add(l->l_retry, &(struct timeval){ 0, 100000 });
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED) {
			rg_log_warn("%s: accept: %s", l->l_name, strerror(errno));
		}
		break;
	}
}

/* policyd_listen_one - create, bind and listen one "unix:" or "inet:" socket. */
static int
policyd_listen_one(struct policyd_server *srv, const struct rg_privs *pv, const char *spec,
    char *err, size_t errsize)
{
	struct policyd_listener *l = &srv->s_listen[srv->s_nlisten];
	struct sockaddr_storage ss;
	socklen_t sslen;
	mode_t omask;
	int fd, rc, one = 1;

	memset(&ss, 0, sizeof(ss));
	l->l_srv = srv;
	l->l_fd = -1;
	rg_strlcpy(l->l_name, spec, sizeof(l->l_name));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		struct stat st;
		if (spec[5] != '/' ||
		    rg_strlcpy(sun->sun_path, spec + 5, sizeof(sun->sun_path)) >= sizeof(sun->sun_path)) {
			snprintf(err, errsize, "listen: \"%s\": unix sockets need an absolute path "
			    "shorter than %zu bytes", spec, sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		sslen = sizeof(*sun);
		/* A stale socket from an earlier run is removed; anything else is not ours. */
		if (lstat(sun->sun_path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				snprintf(err, errsize, "listen: %s exists and is not a socket", sun->sun_path);
				return -1;
			}
			unlink(sun->sun_path);
		}
		rg_strlcpy(l->l_path, sun->sun_path, sizeof(l->l_path));
	} else if (strncmp(spec, "inet:", 5) == 0) {
		int len = (int)sizeof(ss);
		if (evutil_parse_sockaddr_port(spec + 5, (struct sockaddr *)&ss, &len) < 0 ||
		    ((struct sockaddr_in *)&ss)->sin_port == 0) {
			snprintf(err, errsize, "listen: \"%s\" is not inet:host:port", spec);
			return -1;
		}
		sslen = (socklen_t)len;
	} else {
		snprintf(err, errsize, "listen: \"%s\" is neither unix:/path nor inet:host:port", spec);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "listen: %s: socket: %s", spec, strerror(errno));
		return -1;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	omask = umask(0177);	/* no window where the socket is open to all */
	rc = bind(fd, (struct sockaddr *)&ss, sslen);
	umask(omask);
	if (rc < 0 || listen(fd, (int)srv->s_cfg.listen_backlog) < 0) {
		snprintf(err, errsize, "listen: %s: %s", spec, strerror(errno));
		close(fd);
		if (rc == 0 && ss.ss_family == AF_UNIX)
			unlink(l->l_path);
		l->l_path[0] = '\0';
		return -1;
	}
	if (ss.ss_family == AF_UNIX &&
	    rg_privs_socket(pv, l->l_path, srv->s_cfg.socket_owner, srv->s_cfg.socket_group,
	    (unsigned)srv->s_cfg.socket_mode, err, errsize) < 0) {
		close(fd);
		unlink(l->l_path);
		l->l_path[0] = '\0';
		return -1;
	}
	l->l_fd = fd;
	srv->s_nlisten++;	/* from here policyd_server_free cleans up */
	l->l_ev = event_new(srv->s_base, fd, EV_READ | EV_PERSIST, policyd_on_acceptable, l);
	l->l_retry = evtimer_new(srv->s_base, policyd_on_accept_retry, l);
	if (l->l_ev == NULL || l->l_retry == NULL || event_add(l->l_ev, NULL) < 0) {
		snprintf(err, errsize, "listen: %s: cannot watch the socket", spec);
		return -1;
	}
	return 0;
}

static double
policyd_gauge_connections(void *arg, int i, int j)
{
	(void)i;
	(void)j;
	return ((const struct policyd_server *)arg)->s_nconns;
}

struct policyd_server *
policyd_server_new(struct event_base *base, const struct rg_config *cfg,
    const struct rg_privs *pv, char *err, size_t errsize)
{
	struct policyd_server *srv = calloc(1, sizeof(*srv));
	char specs[RG_CONFIG_PATH_MAX], *save = NULL, *tok;

	if (srv == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	srv->s_base = base;
	srv->s_cfg = *cfg;
	TAILQ_INIT(&srv->s_conns);
	TAILQ_INIT(&srv->s_idle);
	TAILQ_INIT(&srv->s_partial);
	TAILQ_INIT(&srv->s_dirty);
	TAILQ_INIT(&srv->s_ready);
	srv->s_sweep = event_new(base, -1, EV_PERSIST, policyd_on_sweep, srv);
	if (srv->s_sweep == NULL || event_add(srv->s_sweep, &(struct timeval){ 1, 0 }) < 0) {
		snprintf(err, errsize, "cannot create the deadline timer");
		goto fail;
	}
	rg_strlcpy(specs, cfg->listen, sizeof(specs));
	for (tok = strtok_r(specs, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		if (srv->s_nlisten == POLICYD_LISTEN_MAX) {
			snprintf(err, errsize, "listen: more than %d sockets", POLICYD_LISTEN_MAX);
			goto fail;
		}
		if (policyd_listen_one(srv, pv, tok, err, errsize) < 0)
			goto fail;
	}
	if (srv->s_nlisten == 0) {
		snprintf(err, errsize, "listen: no socket given");
		goto fail;
	}
	rg_metrics_gauge(rg_metrics_process(), "rcptguard_connections",
	    "Connections from the MTA open now.", NULL, NULL, policyd_gauge_connections, srv);
	return srv;
fail:
	policyd_server_free(srv);
	return NULL;
}

void
policyd_server_set(struct policyd_server *srv, struct rg_engine *engine,
    struct rg_policy *policy, const struct rg_config *cfg)
{
	char listen[RG_CONFIG_PATH_MAX];

	srv->s_engine = engine;
	srv->s_policy = policy;
	if (cfg != NULL) {
		/* Sockets stay as opened; the rest of the config applies from now on. */
		rg_strlcpy(listen, srv->s_cfg.listen, sizeof(listen));
		if (strcmp(listen, cfg->listen) != 0)
			rg_log_warn("listen changed: new sockets take a restart; keeping %s", listen);
		srv->s_cfg = *cfg;
		rg_strlcpy(srv->s_cfg.listen, listen, sizeof(srv->s_cfg.listen));
	}
}

void
policyd_server_flush(struct policyd_server *srv)
{
	struct policyd_conn *c;

	while ((c = TAILQ_FIRST(&srv->s_ready)) != NULL) {
		TAILQ_REMOVE(&srv->s_ready, c, c_ready_link);
		c->c_ready = 0;
		if (c->c_fd >= 0 && c->c_state != POLICYD_PENDING && !c->c_in_process && !srv->s_paused)
			policyd_conn_process(c);
	}
	rg_log_flush();
	while ((c = TAILQ_FIRST(&srv->s_dirty)) != NULL) {
		TAILQ_REMOVE(&srv->s_dirty, c, c_dirty_link);
		c->c_dirty = 0;
		if (policyd_conn_flush(c) < 0)
			continue;	/* closed */
		if (c->c_fd >= 0 && c->c_eof && c->c_state != POLICYD_PENDING && c->c_outlen == 0)
			policyd_conn_close(c);
	}
}

void
policyd_server_pause(struct policyd_server *srv)
{
	srv->s_paused = 1;
}

void
policyd_server_resume(struct policyd_server *srv)
{
	struct policyd_conn *c, *next;

	srv->s_paused = 0;
	for (c = TAILQ_FIRST(&srv->s_conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, c_link);
		if (c->c_state == POLICYD_READING && c->c_fd >= 0 && !c->c_in_process)
			policyd_conn_process(c);
	}
}

void
policyd_server_free(struct policyd_server *srv)
{
	struct policyd_conn *c;

	if (srv == NULL)
		return;
	for (int i = 0; i < srv->s_nlisten; i++) {
		struct policyd_listener *l = &srv->s_listen[i];
		if (l->l_ev != NULL)
			event_free(l->l_ev);
		if (l->l_retry != NULL)
			event_free(l->l_retry);
		if (l->l_fd >= 0)
			evutil_closesocket(l->l_fd);
		if (l->l_path[0] != '\0')
			unlink(l->l_path);
	}
	while ((c = TAILQ_FIRST(&srv->s_conns)) != NULL) {
		if (c->c_state == POLICYD_PENDING)
			c->c_state = POLICYD_READING;	/* the engine is gone: no answer will come */
		policyd_conn_close(c);
	}
	if (srv->s_sweep != NULL)
		event_free(srv->s_sweep);
	rg_metrics_unbind(rg_metrics_process(), srv);
	free(srv);
}
