/*
 * redis.c - the asynchronous connection to the fleet's Redis (redis.h).
 *
 * DESCRIPTION
 *   A connection is DOWN (a timer will try again), CONNECTING (AUTH,
 *   SELECT and PING queued behind the connect, under connect_timeout) or
 *   UP. Each command is a request that owns a timer for its timeout; hiredis
 *   holds the request until its reply or the end of the connection, so a
 *   request whose caller stopped waiting (a timeout, a cancel) lives on,
 *   silent, until then. Every connection has a generation, so the replies
 *   of an old one never touch the new.
 *
 *   After a command timed out, no command that waits is sent until some
 *   reply comes back (r_suspect): a lookup waits at most one timeout, not
 *   one per step. The connection is dropped when nothing at all came back
 *   for RG_REDIS_STALL_MS (a server that accepts and never answers), or
 *   after RG_REDIS_ERRORS_MAX error replies in a row (a server that is
 *   loading, out of memory or not Redis).
 *
 * SECURITY
 *   Replies are read by hiredis's parser, whose object functions are
 *   wrapped (rg_redis_guard_reader): an array of more than
 *   RG_REDIS_MAX_ELEMENTS elements or a string over RG_REDIS_MAX_STRING
 *   bytes, which no command of ours asks for, ends the connection before
 *   anything is allocated for it (hiredis 0.14 would allocate an array of
 *   whatever size a server declares). What replies say is judged by the
 *   tier that asked. Nothing of a reply reaches a log but through
 *   rg_log_sanitize.
 */
#include "rg_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "rcptguard/clock.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/redis.h"
#include "rcptguard/util.h"

#define RG_REDIS_STALL_MS	1000	/* no reply at all for this long: dropped */
#define RG_REDIS_ERRORS_MAX	16	/* error replies in a row: dropped */
#define RG_REDIS_BACKOFF_MIN_S	1

#define RG_REDIS_MAX_ELEMENTS	64	/* our largest reply has 3 */
#define RG_REDIS_MAX_STRING	65536	/* our largest value is a verdict record */

enum rg_redis_state { RG_REDIS_DOWN, RG_REDIS_CONNECTING, RG_REDIS_UP };

/* hiredis's own object functions, and the guarded ones readers are given. */
static redisReplyObjectFunctions rg_redis_orig, rg_redis_guarded;
static pthread_once_t rg_redis_guard_once = PTHREAD_ONCE_INIT;
static const redisReplyObjectFunctions *rg_redis_first_fn;
static __thread int rg_redis_oversized;	/* the last refusal, for the log line */

static void *
rg_redis_guard_array(const redisReadTask *task, int elements)
{
	if (elements < 0 || elements > RG_REDIS_MAX_ELEMENTS) {
		rg_redis_oversized = 1;
		return NULL;	/* the reader fails, and the connection with it */
	}
	return rg_redis_orig.createArray(task, elements);
}

static void *
rg_redis_guard_string(const redisReadTask *task, char *str, size_t len)
{
	if (len > RG_REDIS_MAX_STRING) {
		rg_redis_oversized = 1;
		return NULL;
	}
	return rg_redis_orig.createString(task, str, len);
}

static void
rg_redis_guard_init(void)
{
	rg_redis_orig = *rg_redis_first_fn;
	rg_redis_guarded = rg_redis_orig;
	rg_redis_guarded.createArray = rg_redis_guard_array;
	rg_redis_guarded.createString = rg_redis_guard_string;
}

void
rg_redis_guard_reader(struct redisReader *reader)
{
	if (reader == NULL || reader->fn == NULL)
		return;
	if (reader->fn != &rg_redis_guarded) {
		rg_redis_first_fn = reader->fn;
		pthread_once(&rg_redis_guard_once, rg_redis_guard_init);
	}
	reader->fn = &rg_redis_guarded;
}

struct rg_redis_req {
	TAILQ_ENTRY(rg_redis_req) q_link;
	struct rg_redis		*q_r;
	rg_redis_cb		 q_cb;
	void			*q_arg;
	struct event		*q_timer;
	int			 q_done;	/* cb ran, or was cancelled */
	int			 q_handshake;	/* AUTH, SELECT or PING of the connect */
	int			 q_subscription;	/* SUBSCRIBE: every message, until the end */
	unsigned		 q_gen;
};

TAILQ_HEAD(rg_redis_reqs, rg_redis_req);

/* Label values of rcptguard_redis_commands_total. */
enum { RG_REDIS_C_OK, RG_REDIS_C_ERROR, RG_REDIS_C_TIMEOUT, RG_REDIS_C_LOST,
    RG_REDIS_C_DROPPED };
static const char *const rg_redis_results[] = { "ok", "error", "timeout", "lost", "dropped" };

struct rg_redis {
	struct event_base	*r_base;
	redisAsyncContext	*r_ac;
	enum rg_redis_state	 r_state;
	unsigned		 r_gen;
	struct rg_redis_reqs	 r_reqs;	/* every request hiredis still holds */
	int			 r_npending;
	int			 r_handshake;	/* handshake replies still due */
	int			 r_errors;	/* error replies in a row */
	int			 r_suspect;	/* a command timed out; no reply since */
	int64_t			 r_last_reply_ms;
	int64_t			 r_down_ms;	/* when it went down (for the recovery line) */
	int			 r_was_up;	/* it has been up once */
	int			 r_logged_down;	/* the failure is said */
	struct event		*r_timer;	/* reconnect, or the connect's timeout */
	int64_t			 r_backoff_s;
	char			 r_host[64];
	int			 r_port;
	char			 r_path[108];	/* unix socket, or "" */
	char			 r_user[64];
	char			 r_password[256];
	char			 r_db[24];
	int64_t			 r_timeout_ms;
	int64_t			 r_connect_timeout_ms;
	int64_t			 r_backoff_max_s;
	int64_t			 r_max_pending;
	struct rg_metric	*r_m_cmds;
	struct rg_metric	*r_m_conns;
	char			 r_channel[128];	/* subscribed after every connect; "" none */
	rg_redis_message_fn	 r_on_message;
	void			*r_message_arg;
	int			 r_quiet;	/* a subscription: its failures are the other's to say */
};

static void rg_redis_connect(struct rg_redis *r);
static void rg_redis_fail(struct rg_redis *r, const char *why);
static void rg_redis_on_timer(evutil_socket_t fd, short what, void *arg);

static double
rg_redis_gauge_up(void *arg, int i, int j)
{
	(void)i;
	(void)j;
	return rg_redis_up(arg);
}

struct rg_redis *
rg_redis_new(struct event_base *base, const struct rg_config *cfg, char *err, size_t errsize)
{
	struct rg_redis *r = calloc(1, sizeof(*r));
	struct rg_metrics *m = rg_metrics_process();
	const struct rg_metric_label res = { "result", rg_redis_results,
	    (int)RG_ARRAY_LEN(rg_redis_results) };
	static const char *const conn_results[] = { "ok", "failed" };
	const struct rg_metric_label cres = { "result", conn_results, 2 };

	if (r == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	if (rg_config_redis_server(cfg->redis_server, r->r_host, sizeof(r->r_host), &r->r_port,
	    r->r_path, sizeof(r->r_path), err, errsize) < 0) {
		free(r);
		return NULL;
	}
	r->r_base = base;
	TAILQ_INIT(&r->r_reqs);
	rg_strlcpy(r->r_user, cfg->redis_user, sizeof(r->r_user));
	rg_strlcpy(r->r_password, cfg->redis_password, sizeof(r->r_password));
	snprintf(r->r_db, sizeof(r->r_db), "%lld", (long long)cfg->redis_database);
	r->r_timeout_ms = cfg->redis_timeout;
	r->r_connect_timeout_ms = cfg->redis_connect_timeout;
	r->r_backoff_max_s = cfg->redis_reconnect_max;
	r->r_max_pending = cfg->redis_max_pending;
	r->r_backoff_s = RG_REDIS_BACKOFF_MIN_S;
	r->r_down_ms = rg_clock_mono_ms();
	if ((r->r_timer = evtimer_new(base, rg_redis_on_timer, r)) == NULL) {
		free(r);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	r->r_m_cmds = rg_metrics_counter(m, "rcptguard_redis_commands_total",
	    "Commands sent to the fleet's Redis, by how they ended (dropped: not sent, Redis was "
	    "down or too far behind).", &res, NULL);
	r->r_m_conns = rg_metrics_counter(m, "rcptguard_redis_connects_total",
	    "Connections made to the fleet's Redis, by result.", &cres, NULL);
	rg_metrics_gauge(m, "rcptguard_redis_up", "1 when the fleet's Redis answers, 0 when "
	    "this host goes on alone.", NULL, NULL, rg_redis_gauge_up, r);
	rg_redis_connect(r);
	return r;
}

/* rg_redis_req_end - the request's end for its caller: cb once, unless cancelled. */
static void
rg_redis_req_end(struct rg_redis_req *q, enum rg_redis_status st, const redisReply *reply)
{
	if (q->q_timer != NULL)
		evtimer_del(q->q_timer);
	if (q->q_done)
		return;
	q->q_done = 1;
	if (q->q_cb != NULL)
		q->q_cb(st, reply, q->q_arg);
}

static void
rg_redis_req_free(struct rg_redis_req *q)
{
	TAILQ_REMOVE(&q->q_r->r_reqs, q, q_link);
	if (!q->q_subscription)
		q->q_r->r_npending--;
	if (q->q_timer != NULL)
		event_free(q->q_timer);
	free(q);
}

/* rg_redis_up_now - the handshake is complete. */
static void
rg_redis_up_now(struct rg_redis *r)
{
	evtimer_del(r->r_timer);
	r->r_state = RG_REDIS_UP;
	r->r_errors = 0;
	r->r_suspect = 0;
	r->r_backoff_s = RG_REDIS_BACKOFF_MIN_S;
	r->r_last_reply_ms = rg_clock_mono_ms();
	rg_metric_inc(r->r_m_conns, 0, 0);
	if (r->r_logged_down && r->r_quiet)
		rg_log_debug("redis: subscription: connected again");
	else if (r->r_logged_down)
		rg_log_info("redis: connected again after %llds; sharing with the fleet resumes",
		    (long long)((rg_clock_mono_ms() - r->r_down_ms) / 1000));
	else if (!r->r_was_up && !r->r_quiet)
		rg_log_info("redis: connected to %s", r->r_path[0] ? r->r_path : r->r_host);
	r->r_was_up = 1;
	r->r_logged_down = 0;
}

/* rg_redis_on_reply - hiredis's callback of every request. */
static void
rg_redis_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rg_redis_req *q = privdata;
	struct rg_redis *r = q->q_r;
	redisReply *rep = reply;
	int current = q->q_gen == r->r_gen;

	(void)ac;
	if (q->q_subscription) {
		/* ["message", channel, payload]; NULL when the connection ends. */
		if (rep == NULL) {
			rg_redis_req_free(q);
			return;
		}
		if (current && r->r_on_message != NULL && rep->type == REDIS_REPLY_ARRAY &&
		    rep->elements == 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[0]->len == 7 && memcmp(rep->element[0]->str, "message", 7) == 0 &&
		    rep->element[2]->type == REDIS_REPLY_STRING)
			r->r_on_message(rep->element[2]->str, rep->element[2]->len, r->r_message_arg);
		return;
	}
	if (rep != NULL && current) {
		r->r_suspect = 0;
		r->r_last_reply_ms = rg_clock_mono_ms();
		r->r_errors = rep->type == REDIS_REPLY_ERROR ? r->r_errors + 1 : 0;
	}
	if (!q->q_done)
		rg_metric_inc(r->r_m_cmds, rep == NULL ? RG_REDIS_C_LOST :
		    rep->type == REDIS_REPLY_ERROR ? RG_REDIS_C_ERROR : RG_REDIS_C_OK, 0);
	/* A lost connection is reported by hiredis's connect or disconnect callback. */
	if (q->q_handshake && current && rep != NULL && r->r_state == RG_REDIS_CONNECTING) {
		if (rep->type == REDIS_REPLY_ERROR) {
			char why[160];
			snprintf(why, sizeof(why), "the handshake was refused: ");
			rg_log_sanitize(why + strlen(why), sizeof(why) - strlen(why), rep->str, rep->len);
			q->q_done = 1;
			rg_redis_req_free(q);
			rg_redis_fail(r, why);
			return;
		}
		if (--r->r_handshake == 0)
			rg_redis_up_now(r);
	}
	rg_redis_req_end(q, rep != NULL ? RG_REDIS_OK : RG_REDIS_LOST, rep);
	rg_redis_req_free(q);
	if (current && r->r_state == RG_REDIS_UP && r->r_errors >= RG_REDIS_ERRORS_MAX)
		rg_redis_fail(r, "it answers every command with an error");
}

/* rg_redis_on_req_timer - a command's timeout; a server that answers nothing is dropped. */
static void
rg_redis_on_req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_redis_req *q = arg;
	struct rg_redis *r = q->q_r;

	(void)fd;
	(void)what;
	if (!q->q_done)
		rg_metric_inc(r->r_m_cmds, RG_REDIS_C_TIMEOUT, 0);
	if (q->q_gen == r->r_gen)
		r->r_suspect = 1;
	rg_redis_req_end(q, RG_REDIS_TIMEOUT, NULL);
	if (r->r_state == RG_REDIS_UP && q->q_gen == r->r_gen &&
	    rg_clock_mono_ms() - r->r_last_reply_ms >= RG_REDIS_STALL_MS)
		rg_redis_fail(r, "it accepts commands but answers none");
}

/*
 * rg_redis_on_timer - reconnect after the backoff, the connect took too
 * long, or (up) rg_redis_send saw a stall.
 */
static void
rg_redis_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_redis *r = arg;

	(void)fd;
	(void)what;
	if (r->r_state == RG_REDIS_CONNECTING)
		rg_redis_fail(r, "no connection within connect_timeout");
	else if (r->r_state == RG_REDIS_DOWN)
		rg_redis_connect(r);
	else	/* up, but a stall was seen in rg_redis_send */
		rg_redis_fail(r, "it accepts commands but answers none");
}

static void
rg_redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct rg_redis *r = ac->data;

	if (status != REDIS_OK && r->r_ac == ac) {
		char why[160];
		/* hiredis frees the context when this returns. */
		r->r_ac = NULL;
		snprintf(why, sizeof(why), "cannot connect: ");
		rg_log_sanitize(why + strlen(why), sizeof(why) - strlen(why), ac->errstr,
		    strlen(ac->errstr));
		rg_redis_fail(r, why);
	}
}

static void
rg_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rg_redis *r = ac->data;

	if (r->r_ac == ac) {
		char why[160];
		r->r_ac = NULL;	/* hiredis frees it */
		if (rg_redis_oversized)
			rg_strlcpy(why, "it sent a reply larger than any command asks for", sizeof(why));
		else if (status == REDIS_OK || ac->errstr[0] == '\0')
			rg_strlcpy(why, "the server closed the connection", sizeof(why));
		else {
			snprintf(why, sizeof(why), "the connection failed: ");
			rg_log_sanitize(why + strlen(why), sizeof(why) - strlen(why), ac->errstr,
			    strlen(ac->errstr));
		}
		rg_redis_oversized = 0;
		rg_redis_fail(r, why);
	}
}

/* rg_redis_queue - hand argv to hiredis as a request of the current connection. */
static struct rg_redis_req *
rg_redis_queue(struct rg_redis *r, int64_t timeout_ms, rg_redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct rg_redis_req *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->q_r = r;
	q->q_cb = cb;
	q->q_arg = arg;
	q->q_gen = r->r_gen;
	if (cb != NULL) {
		struct timeval tv;
		if (timeout_ms <= 0)
			timeout_ms = r->r_timeout_ms;
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		if ((q->q_timer = evtimer_new(r->r_base, rg_redis_on_req_timer, q)) == NULL) {
			free(q);
			return NULL;
		}
		evtimer_add(q->q_timer, &tv);
	}
	if (redisAsyncCommandArgv(r->r_ac, rg_redis_on_reply, q, argc, argv, argvlen) != REDIS_OK) {
		if (q->q_timer != NULL)
			event_free(q->q_timer);
		free(q);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&r->r_reqs, q, q_link);
	r->r_npending++;
	return q;
}

/* rg_redis_subscribe_now - SUBSCRIBE behind the handshake; its request lives as long as the connection. */
static int
rg_redis_subscribe_now(struct rg_redis *r)
{
	const char *argv[2] = { "SUBSCRIBE", r->r_channel };
	const size_t lens[2] = { 9, strlen(r->r_channel) };
	struct rg_redis_req *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return -1;
	q->q_r = r;
	q->q_gen = r->r_gen;
	q->q_done = 1;
	q->q_subscription = 1;
	if (redisAsyncCommandArgv(r->r_ac, rg_redis_on_reply, q, 2, argv, lens) != REDIS_OK) {
		free(q);
		return -1;
	}
	TAILQ_INSERT_TAIL(&r->r_reqs, q, q_link);
	return 0;
}

/* rg_redis_connect - a new connection, with its handshake queued behind the connect. */
static void
rg_redis_connect(struct rg_redis *r)
{
	struct timeval tv = { r->r_connect_timeout_ms / 1000, (r->r_connect_timeout_ms % 1000) * 1000 };
	redisAsyncContext *ac;
	const char *argv[3];

	r->r_gen++;
	ac = r->r_path[0] ? redisAsyncConnectUnix(r->r_path) : redisAsyncConnect(r->r_host, r->r_port);
	if (ac == NULL) {
		rg_redis_fail(r, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "cannot connect: ");
		rg_log_sanitize(why + strlen(why), sizeof(why) - strlen(why), ac->errstr,
		    strlen(ac->errstr));
		redisAsyncFree(ac);
		rg_redis_fail(r, why);
		return;
	}
	ac->data = r;
	rg_redis_guard_reader(ac->c.reader);
	r->r_ac = ac;
	r->r_state = RG_REDIS_CONNECTING;
	r->r_handshake = 0;
	if (redisLibeventAttach(ac, r->r_base) != REDIS_OK ||
	    redisAsyncSetConnectCallback(ac, rg_redis_on_connect) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, rg_redis_on_disconnect) != REDIS_OK) {
		rg_redis_fail(r, "cannot attach the connection to the loop");
		return;
	}
	evtimer_add(r->r_timer, &tv);
	/* The handshake: AUTH, SELECT, then PING, which also proves it is Redis. */
	if (r->r_password[0]) {
		/* AUTH [user] password: Redis 6's ACL users, or requirepass. */
		const int u = r->r_user[0] != '\0';
		const size_t lens[3] = { 4, u ? strlen(r->r_user) : strlen(r->r_password),
		    strlen(r->r_password) };
		argv[0] = "AUTH";
		argv[1] = u ? r->r_user : r->r_password;
		argv[2] = r->r_password;
		struct rg_redis_req *q = rg_redis_queue(r, 0, NULL, NULL, u ? 3 : 2, argv, lens);
		if (q == NULL)
			goto fail;
		q->q_handshake = 1;
		r->r_handshake++;
	}
	if (strcmp(r->r_db, "0") != 0) {
		const size_t lens[2] = { 6, strlen(r->r_db) };
		argv[0] = "SELECT";
		argv[1] = r->r_db;
		struct rg_redis_req *q = rg_redis_queue(r, 0, NULL, NULL, 2, argv, lens);
		if (q == NULL)
			goto fail;
		q->q_handshake = 1;
		r->r_handshake++;
	}
	{
		const size_t lens[1] = { 4 };
		struct rg_redis_req *q;
		argv[0] = "PING";
		if ((q = rg_redis_queue(r, 0, NULL, NULL, 1, argv, lens)) == NULL)
			goto fail;
		q->q_handshake = 1;
		r->r_handshake++;
	}
	if (r->r_channel[0] != '\0' && rg_redis_subscribe_now(r) < 0)
		goto fail;
	return;
fail:
	rg_redis_fail(r, "out of memory");
}

/*
 * rg_redis_fail - the connection failed: every waiting caller hears LOST,
 * the failure is said once, and the next connect waits for the backoff.
 */
static void
rg_redis_fail(struct rg_redis *r, const char *why)
{
	struct timeval tv = { 0, 0 };
	redisAsyncContext *ac = r->r_ac;
	struct rg_redis_req *q;

	if (r->r_state == RG_REDIS_DOWN && ac == NULL)
		return;
	r->r_gen++;	/* replies still to come belong to the old connection */
	r->r_ac = NULL;
	if (!r->r_logged_down && r->r_quiet) {
		rg_log_debug("redis: subscription: %s", why);
		r->r_logged_down = 1;
	} else if (!r->r_logged_down) {
		rg_log_warn("redis: %s: %s; this host goes on with its local cache and limits, "
		    "retrying with backoff up to %llds", r->r_path[0] ? r->r_path : r->r_host, why,
		    (long long)r->r_backoff_max_s);
		r->r_down_ms = rg_clock_mono_ms();
		r->r_logged_down = 1;
	}
	if (r->r_state != RG_REDIS_UP)
		rg_metric_inc(r->r_m_conns, 1, 0);
	r->r_state = RG_REDIS_DOWN;
	/* Callers stop waiting now; hiredis frees the requests below. */
	TAILQ_FOREACH(q, &r->r_reqs, q_link)
		rg_redis_req_end(q, RG_REDIS_LOST, NULL);
	if (ac != NULL)
		redisAsyncFree(ac);
	evtimer_del(r->r_timer);
	tv.tv_sec = r->r_backoff_s;
	evtimer_add(r->r_timer, &tv);
	r->r_backoff_s = r->r_backoff_s * 2 > r->r_backoff_max_s ? r->r_backoff_max_s :
	    r->r_backoff_s * 2;
}

void
rg_redis_free(struct rg_redis *r)
{
	struct rg_redis_req *q;
	redisAsyncContext *ac;

	if (r == NULL)
		return;
	rg_metrics_unbind(rg_metrics_process(), r);
	TAILQ_FOREACH(q, &r->r_reqs, q_link) {
		q->q_done = 1;
		q->q_cb = NULL;
	}
	ac = r->r_ac;
	r->r_ac = NULL;
	r->r_gen++;
	if (ac != NULL)
		redisAsyncFree(ac);	/* frees what it holds through rg_redis_on_reply */
	/* Requests of a context hiredis already let go of (none expected). */
	while ((q = TAILQ_FIRST(&r->r_reqs)) != NULL)
		rg_redis_req_free(q);
	event_free(r->r_timer);
	explicit_bzero(r->r_password, sizeof(r->r_password));
	free(r);
}

void
rg_redis_on_message(struct rg_redis *r, const char *channel, rg_redis_message_fn fn, void *arg)
{
	rg_strlcpy(r->r_channel, channel, sizeof(r->r_channel));
	r->r_on_message = fn;
	r->r_message_arg = arg;
	r->r_quiet = 1;
	/* Connected already: subscribe now; otherwise the next connect does. */
	if (r->r_ac != NULL && rg_redis_subscribe_now(r) < 0)
		rg_redis_fail(r, "out of memory");
}

int
rg_redis_up(const struct rg_redis *r)
{
	return r != NULL && r->r_state == RG_REDIS_UP;
}

int
rg_redis_send(struct rg_redis *r, int64_t timeout_ms, rg_redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen, struct rg_redis_req **reqp)
{
	struct rg_redis_req *q;

	if (reqp != NULL)
		*reqp = NULL;
	/*
	 * After a timeout, nothing waits for Redis again until a reply comes
	 * (so a lookup waits at most one timeout); past the stall, the
	 * connection is dropped and made again.
	 */
	if (cb != NULL && rg_redis_up(r) && r->r_suspect &&
	    rg_clock_mono_ms() - r->r_last_reply_ms >= RG_REDIS_STALL_MS) {
		/* Dropped from the loop: no callback may run inside this call. */
		struct timeval now = { 0, 0 };
		evtimer_add(r->r_timer, &now);
	}
	if (!rg_redis_up(r) || (cb != NULL && r->r_suspect) || r->r_npending >= r->r_max_pending ||
	    (q = rg_redis_queue(r, timeout_ms, cb, arg, argc, argv, argvlen)) == NULL) {
		if (r != NULL)
			rg_metric_inc(r->r_m_cmds, RG_REDIS_C_DROPPED, 0);
		return -1;
	}
	if (reqp != NULL)
		*reqp = q;
	return 0;
}

void
rg_redis_cancel(struct rg_redis_req *q)
{
	if (q == NULL)
		return;
	q->q_done = 1;
	q->q_cb = NULL;
	if (q->q_timer != NULL)
		evtimer_del(q->q_timer);
}

static void
rg_redis_on_flush_end(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

void
rg_redis_flush(struct rg_redis *r, int64_t timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct event *end;
	int over = 0;

	if (r == NULL || (end = evtimer_new(r->r_base, rg_redis_on_flush_end, &over)) == NULL)
		return;
	evtimer_add(end, &tv);
	while (!over && (r->r_state == RG_REDIS_CONNECTING || r->r_npending > 0))
		event_base_loop(r->r_base, EVLOOP_ONCE);
	event_free(end);
}
