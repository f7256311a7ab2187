/*
 * policyd.h - rcptguard-policyd, the Postfix policy delegation server.
 *
 * policyd.c          main: options, config, privileges, signals, reload
 * policyd_server.c   listeners and connections on the libevent loop
 * policyd_request.c  the request parser (no I/O; fuzzed on its own)
 */
#ifndef POLICYD_H
#define POLICYD_H

#include <stddef.h>

#include <event2/event.h>

#include "rcptguard/config.h"
#include "rcptguard/engine.h"
#include "rcptguard/policy.h"
#include "rcptguard/privs.h"

/* ---- requests ---------------------------------------------------------- */

#define POLICYD_ADDR_MAX	1024	/* recipient and sender values */

struct policyd_request {
	char	r_request[32];
	char	r_protocol_state[32];
	char	r_queue_id[64];
	char	r_recipient[POLICYD_ADDR_MAX + 1];
	size_t	r_recipient_len;
	char	r_sender[POLICYD_ADDR_MAX + 1];
	char	r_client_address[64];
	char	r_client_name[256];
	char	r_sasl_username[256];
	char	r_instance[128];
	int	r_nattrs;
};

enum policyd_parse {
	POLICYD_MORE,		/* more lines are needed */
	POLICYD_DONE,		/* the empty line: the request is complete and valid */
	POLICYD_ERROR,		/* malformed: log *why and close without a reply */
};

void policyd_request_reset(struct policyd_request *r);

/*
 * policyd_request_feed - take the whole lines at the head of buf (len
 * bytes), up to the empty line that ends a request (POLICYD_DONE), an
 * error, or the first line not yet complete (POLICYD_MORE); *used is what
 * was taken. A CR before an LF is allowed; unknown attributes are counted
 * and ignored; a line over max_line bytes, complete or not, is an error.
 */
enum policyd_parse policyd_request_feed(struct policyd_request *r, const char *buf, size_t len,
    size_t max_line, int max_attributes, size_t *used, const char **why);

/* ---- server -------------------------------------------------------------- */

struct policyd_server;

/*
 * policyd_server_new - open every socket of cfg->listen on base (as root,
 * before the drop); unix sockets get their owner, group and mode.
 */
struct policyd_server *policyd_server_new(struct event_base *base,
    const struct rg_config *cfg, const struct rg_privs *pv, char *err, size_t errsize);

/*
 * policyd_server_set - the engine and the policy requests go to, and the
 * config (timeouts and caps; sockets stay as opened). A NULL engine, or one
 * whose cache failed, means every answer follows fail_mode.
 */
void policyd_server_set(struct policyd_server *srv, struct rg_engine *engine,
    struct rg_policy *policy, const struct rg_config *cfg);

/*
 * policyd_server_pause - hold new requests in their buffers while a reload
 * swaps the engine; lookups still in flight are answered as the old engine
 * is freed. policyd_server_resume serves what waited.
 */
void policyd_server_pause(struct policyd_server *srv);
void policyd_server_resume(struct policyd_server *srv);

/*
 * policyd_server_flush - at the end of a turn of the loop: parse and answer
 * what was read in it, flush the log, then write the replies, so that no
 * reply ever leaves before the line that logs it, and the log leaves in one
 * write per turn.
 */
void policyd_server_flush(struct policyd_server *srv);

/* policyd_server_free - close every connection and socket (unix paths are removed). */
void policyd_server_free(struct policyd_server *srv);

#endif /* POLICYD_H */
