/*
 * engine_thread.c - the engine on its own event-loop thread, with a
 * blocking lookup for callers on other threads.
 *
 * Only the engine thread touches the event base, the engine, the prober
 * and the cache handle; other threads touch nothing but the queue (under
 * t_lock) and their own request (under its lock). A request is shared by
 * the caller and the engine thread and freed by whichever lets go last, so
 * a caller that stops waiting never leaves the engine writing into freed
 * memory.
 */
#include "rg_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rcptguard/address.h"
#include "rcptguard/clock.h"
#include "rcptguard/engine.h"
#include "rcptguard/exporter.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/util.h"

struct rg_engine_req {
	TAILQ_ENTRY(rg_engine_req) q_link;	/* in the queue, then in flight */
	pthread_mutex_t		 q_lock;
	pthread_cond_t		 q_cond;
	int			 q_refs;
	int			 q_done;
	int			 q_queued;	/* in t_queue (else in t_flight) */
	char			 q_input[RG_ADDR_INPUT_MAX + 1];
	size_t			 q_len;
	unsigned		 q_flags;
	int64_t			 q_wait_ms;
	struct rg_answer	 q_ans;
	struct rg_engine_thread	*q_thread;
};

TAILQ_HEAD(rg_engine_reqs, rg_engine_req);

struct rg_engine_thread {
	pthread_t		 t_thread;
	pthread_mutex_t		 t_lock;
	struct rg_engine_reqs	 t_queue;	/* submitted, not yet given to the engine */
	struct rg_engine_reqs	 t_flight;	/* given to the engine (engine thread only) */
	int			 t_stop;
	int			 t_efd;
	struct event_base	*t_base;
	struct event		*t_wake;
	struct rg_engine	*t_engine;
	struct rg_exporter	*t_exporter;	/* the metrics, on this loop; NULL: none */
};

static void
rg_engine_req_unref(struct rg_engine_req *q)
{
	int last;

	pthread_mutex_lock(&q->q_lock);
	last = --q->q_refs == 0;
	pthread_mutex_unlock(&q->q_lock);
	if (last) {
		pthread_mutex_destroy(&q->q_lock);
		pthread_cond_destroy(&q->q_cond);
		free(q);
	}
}

/* rg_engine_req_finish - hand the answer to the caller (engine thread). */
static void
rg_engine_req_finish(struct rg_engine_req *q, const struct rg_answer *ans)
{
	pthread_mutex_lock(&q->q_lock);
	if (!q->q_done) {
		q->q_ans = *ans;
		q->q_done = 1;
		pthread_cond_signal(&q->q_cond);
	}
	pthread_mutex_unlock(&q->q_lock);
	rg_engine_req_unref(q);
}

/* rg_engine_req_pending - the answer when the engine cannot give one. */
static void
rg_engine_req_pending(struct rg_answer *ans, const char *input, size_t len)
{
	memset(ans, 0, sizeof(*ans));
	rg_log_sanitize(ans->an_address, sizeof(ans->an_address), input,
	    len < RG_ADDR_MAILBOX_MAX ? len : RG_ADDR_MAILBOX_MAX);
	rg_verdict_make(&ans->an_verdict, RG_CLASS_UNKNOWN, RG_REASON_IN_PROGRESS, NULL,
	    rg_clock_now(), 1);
	ans->an_source = RG_ANSWER_PENDING;
}

static void
rg_engine_thread_on_answer(const struct rg_answer *ans, void *arg)
{
	struct rg_engine_req *q = arg;

	TAILQ_REMOVE(&q->q_thread->t_flight, q, q_link);
	rg_engine_req_finish(q, ans);
}

/*
 * rg_engine_thread_on_wake - the loop thread takes the queued requests (or the
 * stop) in one batch.
 */
static void
rg_engine_thread_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct rg_engine_thread *t = arg;
	struct rg_engine_reqs batch;
	struct rg_engine_req *q;
	uint64_t n;
	int stop;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		rg_log_warn("engine thread: eventfd read: %s", strerror(errno));
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&t->t_lock);
	while ((q = TAILQ_FIRST(&t->t_queue)) != NULL) {
		TAILQ_REMOVE(&t->t_queue, q, q_link);
		q->q_queued = 0;
		TAILQ_INSERT_TAIL(&batch, q, q_link);
	}
	stop = t->t_stop;
	pthread_mutex_unlock(&t->t_lock);

	while ((q = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, q, q_link);
		if (stop) {
			struct rg_answer ans;
			rg_engine_req_pending(&ans, q->q_input, q->q_len);
			rg_engine_req_finish(q, &ans);
			continue;
		}
		TAILQ_INSERT_TAIL(&t->t_flight, q, q_link);
		if (rg_engine_lookup(t->t_engine, q->q_input, q->q_len, q->q_flags, q->q_wait_ms,
		    rg_engine_thread_on_answer, q) < 0) {
			struct rg_answer ans;
			TAILQ_REMOVE(&t->t_flight, q, q_link);
			rg_engine_req_pending(&ans, q->q_input, q->q_len);
			rg_engine_req_finish(q, &ans);
		}
	}
	if (stop)
		event_base_loopbreak(t->t_base);
}

static void *
rg_engine_thread_main(void *arg)
{
	struct rg_engine_thread *t = arg;

	event_base_dispatch(t->t_base);
	/* Stopping: whoever still waits gets "in progress", from rg_engine_free. */
	rg_engine_free(t->t_engine);
	t->t_engine = NULL;
	return NULL;
}

struct rg_engine_thread *
rg_engine_thread_start(const struct rg_config *cfg, int metrics_fd, char *err, size_t errsize)
{
	struct rg_engine_thread *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->t_lock, NULL);
	TAILQ_INIT(&t->t_queue);
	TAILQ_INIT(&t->t_flight);
	t->t_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t->t_base = event_base_new();
	if (t->t_efd < 0 || t->t_base == NULL) {
		snprintf(err, errsize, "cannot create the engine's event loop");
		goto fail;
	}
	if ((t->t_engine = rg_engine_new(t->t_base, cfg, err, errsize)) == NULL)
		goto fail;
	if (metrics_fd >= 0 && (t->t_exporter = rg_exporter_new(t->t_base, rg_metrics_process(),
	    metrics_fd, err, errsize)) == NULL)
		goto fail;
	t->t_wake = event_new(t->t_base, t->t_efd, EV_READ | EV_PERSIST, rg_engine_thread_on_wake, t);
	if (t->t_wake == NULL || event_add(t->t_wake, NULL) < 0 ||
	    pthread_create(&t->t_thread, NULL, rg_engine_thread_main, t) != 0) {
		snprintf(err, errsize, "cannot start the engine thread");
		goto fail;
	}
	return t;
fail:
	if (t->t_wake != NULL)
		event_free(t->t_wake);
	rg_exporter_free(t->t_exporter);
	rg_engine_free(t->t_engine);
	if (t->t_base != NULL)
		event_base_free(t->t_base);
	if (t->t_efd >= 0)
		close(t->t_efd);
	pthread_mutex_destroy(&t->t_lock);
	free(t);
	return NULL;
}

static void
rg_engine_thread_copy(const struct rg_answer *ans, void *arg)
{
	*(struct rg_answer *)arg = *ans;
}

int
rg_engine_thread_lookup(struct rg_engine_thread *t, const char *input, size_t len,
    unsigned flags, int64_t wait_ms, struct rg_answer *ans)
{
	struct rg_engine_req *q;
	struct timespec deadline;
	uint64_t one = 1;
	int answered, stopped;

	if (len > RG_ADDR_INPUT_MAX) {
		/* The parser would refuse it anyway; do it here without a trip. */
		len = RG_ADDR_INPUT_MAX + 1;
	}
	/* What is known (a syntax error, a fresh verdict) is answered here, no trip. */
	if (rg_engine_lookup(t->t_engine, input, len, flags | RG_LOOKUP_KNOWN_ONLY, wait_ms,
	    rg_engine_thread_copy, ans) == 0)
		return 0;
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		rg_engine_req_pending(ans, input, len);
		return -1;
	}
	pthread_mutex_init(&q->q_lock, NULL);
	pthread_cond_init(&q->q_cond, NULL);
	q->q_refs = 2;		/* the caller and the engine thread */
	memcpy(q->q_input, input, len < sizeof(q->q_input) ? len : sizeof(q->q_input));
	q->q_len = len < sizeof(q->q_input) ? len : sizeof(q->q_input);
	q->q_flags = flags;
	q->q_wait_ms = wait_ms;
	q->q_thread = t;

	pthread_mutex_lock(&t->t_lock);
	stopped = t->t_stop;
	if (!stopped) {
		q->q_queued = 1;
		TAILQ_INSERT_TAIL(&t->t_queue, q, q_link);
	}
	pthread_mutex_unlock(&t->t_lock);
	if (stopped) {
		q->q_refs = 1;
		rg_engine_req_pending(ans, input, len);
		rg_engine_req_unref(q);
		return -1;
	}
	if (write(t->t_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		rg_log_warn("engine thread: eventfd write: %s", strerror(errno));

	/* pthread_cond_timedwait takes a CLOCK_REALTIME timespec: not rg_clock's business. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(wait_ms / 1000) + 1;	/* a grace second */
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->q_lock);
	while (!q->q_done)
		if (pthread_cond_timedwait(&q->q_cond, &q->q_lock, &deadline) == ETIMEDOUT)
			break;
	answered = q->q_done;
	if (answered)
		*ans = q->q_ans;
	pthread_mutex_unlock(&q->q_lock);
	if (!answered)
		rg_engine_req_pending(ans, input, len);
	rg_engine_req_unref(q);
	return answered ? 0 : -1;
}

void
rg_engine_thread_stop(struct rg_engine_thread *t)
{
	uint64_t one = 1;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->t_lock);
	t->t_stop = 1;
	pthread_mutex_unlock(&t->t_lock);
	if (write(t->t_efd, &one, sizeof(one)) < 0)
		rg_log_warn("engine thread: eventfd write: %s", strerror(errno));
	pthread_join(t->t_thread, NULL);
	rg_exporter_free(t->t_exporter);
	rg_engine_free(t->t_engine);
	event_free(t->t_wake);
	event_base_free(t->t_base);
	close(t->t_efd);
	pthread_mutex_destroy(&t->t_lock);
	free(t);
}

struct rg_store *
rg_engine_thread_store(struct rg_engine_thread *t)
{
	return t->t_engine != NULL ? rg_engine_store(t->t_engine) : NULL;
}
