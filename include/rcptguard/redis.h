/*
 * redis.h - one asynchronous connection to the fleet's Redis server, on
 * the caller's event loop (hiredis and its libevent adapter).
 *
 * The connection knows commands and replies, not verdicts (the shared tier
 * of the store, tier_redis.c, gives them meaning). It connects, sends AUTH
 * and SELECT when configured and a PING, and is up only once all of them
 * answered well within connect_timeout. A command waits at most its own
 * timeout; a connection that answers nothing for long, or only errors, is
 * dropped. A failure is logged once, and the connection is made again on
 * a timer that backs off from 1 s to reconnect_max; the recovery is logged
 * once too. Nothing here ever blocks the loop: the server must be an IP
 * address or a unix socket, never a name to resolve.
 */
#ifndef RG_REDIS_H
#define RG_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "rcptguard/config.h"

struct rg_redis;
struct rg_redis_req;
struct redisReply;

enum rg_redis_status {
	RG_REDIS_OK = 0,	/* a reply came (it may be an error reply) */
	RG_REDIS_TIMEOUT,	/* none within the command's timeout */
	RG_REDIS_LOST,		/* the connection ended before the reply */
};

/*
 * rg_redis_cb - the end of a command, called once from the loop (never
 * from rg_redis_send). reply is valid only during the call, NULL unless
 * status is RG_REDIS_OK.
 */
typedef void (*rg_redis_cb)(enum rg_redis_status status, const struct redisReply *reply,
    void *arg);

/*
 * rg_redis_new - a connection to cfg's server, made from base's loop
 * (never NULL for a well-formed server unless out of memory: an
 * unreachable server is retried). NULL with err set otherwise.
 */
struct rg_redis *rg_redis_new(struct event_base *base, const struct rg_config *cfg, char *err,
    size_t errsize);
/* rg_redis_free - close; no callback runs after it (cancel first what you wait for). */
void rg_redis_free(struct rg_redis *r);

/*
 * rg_redis_on_message - use this connection for a subscription: after
 * every connect it subscribes to channel, and fn gets each message's
 * payload (valid during the call). Such a connection sends nothing else.
 */
typedef void (*rg_redis_message_fn)(const char *payload, size_t len, void *arg);
void rg_redis_on_message(struct rg_redis *r, const char *channel, rg_redis_message_fn fn,
    void *arg);

/* rg_redis_up - 1 when commands can be sent now. */
int rg_redis_up(const struct rg_redis *r);

/*
 * rg_redis_send - send argv. With cb, *reqp (when reqp is not NULL) names
 * the command for rg_redis_cancel and cb runs exactly once, within
 * timeout_ms (the configured timeout when 0). Without cb the reply is
 * dropped. -1 when the connection is not up or has max_pending commands
 * in flight: nothing was sent and cb will not run.
 */
int rg_redis_send(struct rg_redis *r, int64_t timeout_ms, rg_redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen, struct rg_redis_req **reqp);
/* rg_redis_cancel - cb of a command not yet ended will not run. NULL is fine. */
void rg_redis_cancel(struct rg_redis_req *q);

/*
 * rg_redis_guard_reader - make a hiredis reader refuse replies larger than
 * any command of ours asks for (arrays over 64 elements, strings over 64
 * KiB) instead of allocating them. Every connection's reader is guarded;
 * exposed for the fuzzer.
 */
struct redisReader;
void rg_redis_guard_reader(struct redisReader *reader);

/* rg_redis_flush - run base until every command sent has ended, at most timeout_ms (the CLI). */
void rg_redis_flush(struct rg_redis *r, int64_t timeout_ms);

#endif /* RG_REDIS_H */
