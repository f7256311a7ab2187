/*
 * smtp.c - the probe's SMTP client state machine over libevent bufferevents.
 *
 * DESCRIPTION
 *   connect -> greeting -> EHLO (HELO on 5xx) -> [STARTTLS -> EHLO] ->
 *   MAIL FROM -> RCPT TO x n -> QUIT. With PIPELINING, MAIL and every RCPT
 *   go out in one write and the replies are read in order. DATA is never
 *   sent: there is no code path that writes it.
 *
 *   One function, rg_smtp_enter, moves a session between states, driven by
 *   a table of {state, name, stage, timeout, command}; rg_smtp_handle says
 *   what each reply means in each state. Each state arms its own timer
 *   (connect, greeting, command) and the whole session has a deadline.
 *   Recipients that need SMTPUTF8 are never sent to a server that does not
 *   offer it (RFC 6531 3.4): they are marked skipped, the others are asked,
 *   and when none is left the session ends before MAIL. With a limit of
 *   recipients per transaction, RSET and a new MAIL FROM follow each
 *   transaction's last reply; a refusal of a later RSET or MAIL ends the
 *   session with what was answered. Replies are read line by line with a bound on the
 *   line length and on the number of lines; anything longer, or a line that
 *   is not "ddd", "ddd text" or "ddd-text", ends the session as a protocol
 *   error.
 *
 * SECURITY
 *   Every command argument is checked for control bytes just before it is
 *   written, so even a caller's mistake cannot smuggle a second command
 *   onto the wire. The remote's text is bounded and sanitized by rg_reply.
 */
#include "rg_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "rcptguard/smtp.h"
#include "rcptguard/util.h"

/* Which timer a state arms on entry. */
enum rg_smtp_timeout {
	RG_SMTP_T_CONNECT,
	RG_SMTP_T_GREETING,
	RG_SMTP_T_COMMAND,
	RG_SMTP_T_QUIT,		/* the command timeout, at most 10 s */
};

/* What a state's command carries after its verb. */
enum rg_smtp_arg {
	RG_SMTP_A_NONE,
	RG_SMTP_A_HELO,
	RG_SMTP_A_MAIL,		/* the sender, ">" and SMTPUTF8 when needed */
	RG_SMTP_A_RCPT,		/* the next recipient and ">" */
};

/*
 * The state table: for each state its name, the dialogue stage it belongs
 * to (-1: the stage of the state before), the timer it arms and the command
 * it writes on entry. Entry actions the table cannot say live in
 * rg_smtp_enter; what each reply means lives in rg_smtp_handle.
 */
static const struct rg_smtp_state_def {
	enum rg_smtp_state	 sd_state;
	const char		*sd_name;
	int			 sd_stage;
	enum rg_smtp_timeout	 sd_timeout;
	const char		*sd_command;
	enum rg_smtp_arg	 sd_arg;
} rg_smtp_states[RG_SMTP_ST_COUNT] = {
	[RG_SMTP_ST_CONNECT] = { RG_SMTP_ST_CONNECT, "connect", RG_STAGE_GREETING,
	    RG_SMTP_T_CONNECT, NULL, RG_SMTP_A_NONE },
	[RG_SMTP_ST_GREETING] = { RG_SMTP_ST_GREETING, "greeting", RG_STAGE_GREETING,
	    RG_SMTP_T_GREETING, NULL, RG_SMTP_A_NONE },
	[RG_SMTP_ST_EHLO] = { RG_SMTP_ST_EHLO, "ehlo", RG_STAGE_HELO,
	    RG_SMTP_T_COMMAND, "EHLO ", RG_SMTP_A_HELO },
	[RG_SMTP_ST_HELO] = { RG_SMTP_ST_HELO, "helo", RG_STAGE_HELO,
	    RG_SMTP_T_COMMAND, "HELO ", RG_SMTP_A_HELO },
	[RG_SMTP_ST_STARTTLS] = { RG_SMTP_ST_STARTTLS, "starttls", RG_STAGE_STARTTLS,
	    RG_SMTP_T_COMMAND, "STARTTLS", RG_SMTP_A_NONE },
	[RG_SMTP_ST_HANDSHAKE] = { RG_SMTP_ST_HANDSHAKE, "handshake", -1,
	    RG_SMTP_T_COMMAND, NULL, RG_SMTP_A_NONE },
	[RG_SMTP_ST_MAIL] = { RG_SMTP_ST_MAIL, "mail", RG_STAGE_MAIL,
	    RG_SMTP_T_COMMAND, "MAIL FROM:<", RG_SMTP_A_MAIL },
	[RG_SMTP_ST_RCPT] = { RG_SMTP_ST_RCPT, "rcpt", RG_STAGE_RCPT,
	    RG_SMTP_T_COMMAND, "RCPT TO:<", RG_SMTP_A_RCPT },
	[RG_SMTP_ST_RSET] = { RG_SMTP_ST_RSET, "rset", -1,
	    RG_SMTP_T_COMMAND, "RSET", RG_SMTP_A_NONE },
	[RG_SMTP_ST_DRAIN] = { RG_SMTP_ST_DRAIN, "drain", -1,
	    RG_SMTP_T_COMMAND, NULL, RG_SMTP_A_NONE },
	[RG_SMTP_ST_QUIT] = { RG_SMTP_ST_QUIT, "quit", -1,
	    RG_SMTP_T_QUIT, "QUIT", RG_SMTP_A_NONE },
};

struct rg_smtp {
	TAILQ_ENTRY(rg_smtp)	 s_link;
	struct rg_smtp_pool	*s_pool;
	struct event_base	*s_base;
	struct bufferevent	*s_bev;
	struct event		*s_timer;	/* the current state's timeout */
	struct event		*s_deadline;	/* session deadline */
	struct rg_smtp_params	 s_p;
	rg_smtp_cb		 s_cb;
	void			*s_arg;
	enum rg_smtp_state	 s_state;
	struct rg_smtp_result	 s_res;
	/* reply being assembled */
	struct rg_reply		 s_cur;
	int			 s_cur_lines;
	/* EHLO extensions */
	int			 s_ext_pipelining;
	int			 s_ext_starttls;
	int			 s_ext_smtputf8;
	int			 s_tls_tried;
	int			 s_want_tls;	/* STARTTLS after draining (MAIL got 530) */
	struct rg_reply		 s_mail_reply;	/* MAIL's refusal, kept across a drain */
	int			 s_drain;	/* replies still to swallow */
	int			 s_next_rcpt;	/* next RCPT reply index */
	int			 s_txn_end;	/* index after the current transaction's last */
	int			 s_want_utf8;	/* some recipient needs SMTPUTF8 */
	int			 s_dead;	/* free on the way out of the callback */
};

TAILQ_HEAD(rg_smtp_list, rg_smtp);

struct rg_smtp_pool {
	struct event_base	*sp_base;
	struct rg_smtp_list	 sp_sessions;
	int			 sp_count;
};

static void rg_smtp_on_read(struct bufferevent *bev, void *arg);
static void rg_smtp_on_event(struct bufferevent *bev, short what, void *arg);
static int rg_smtp_enter(struct rg_smtp *s, enum rg_smtp_state state);

const char *
rg_smtp_stage_name(enum rg_smtp_stage stage)
{
	switch (stage) {
	case RG_STAGE_GREETING: return "greeting";
	case RG_STAGE_HELO: return "helo";
	case RG_STAGE_STARTTLS: return "starttls";
	case RG_STAGE_MAIL: return "mail";
	case RG_STAGE_RCPT: return "rcpt";
	}
	return "?";
}

const char *
rg_smtp_state_name(enum rg_smtp_state state)
{
	if ((unsigned)state >= RG_SMTP_ST_COUNT)
		return "?";
	return rg_smtp_states[state].sd_name;
}

const char *
rg_smtp_status_name(enum rg_smtp_status st)
{
	switch (st) {
	case RG_SMTP_DONE: return "done";
	case RG_SMTP_REFUSED: return "refused";
	case RG_SMTP_CONNECT_FAILED: return "connect_failed";
	case RG_SMTP_TIMEOUT: return "timeout";
	case RG_SMTP_DROPPED: return "dropped";
	case RG_SMTP_PROTOCOL: return "protocol_error";
	case RG_SMTP_LOCAL_ERROR: return "local_error";
	}
	return "?";
}

SSL_CTX *
rg_smtp_ssl_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	/* Opportunistic TLS between mail servers: encrypt, do not authenticate. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

static void
rg_smtp_free(struct rg_smtp *s)
{
	TAILQ_REMOVE(&s->s_pool->sp_sessions, s, s_link);
	s->s_pool->sp_count--;
	if (s->s_bev != NULL)
		bufferevent_free(s->s_bev);
	if (s->s_timer != NULL)
		event_free(s->s_timer);
	if (s->s_deadline != NULL)
		event_free(s->s_deadline);
	free(s);
}

void
rg_smtp_cancel(struct rg_smtp *s)
{
	if (s != NULL)
		rg_smtp_free(s);
}

struct rg_smtp_pool *
rg_smtp_pool_new(struct event_base *base)
{
	struct rg_smtp_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->sp_base = base;
	TAILQ_INIT(&pool->sp_sessions);
	return pool;
}

void
rg_smtp_pool_free(struct rg_smtp_pool *pool)
{
	struct rg_smtp *s;

	if (pool == NULL)
		return;
	while ((s = TAILQ_FIRST(&pool->sp_sessions)) != NULL)
		rg_smtp_free(s);
	free(pool);
}

int
rg_smtp_pool_count(const struct rg_smtp_pool *pool)
{
	return pool->sp_count;
}

/*
 * rg_smtp_finish - deliver the result once. With quit set the session says
 * goodbye and lingers for the 221; otherwise it is marked dead and freed
 * when the libevent callback that got here returns (rg_smtp_reap), never
 * under the feet of a loop still reading from it.
 */
static void
rg_smtp_finish(struct rg_smtp *s, enum rg_smtp_status st, const char *why, int quit)
{
	if (s->s_dead || s->s_state == RG_SMTP_ST_QUIT)
		return;
	s->s_res.s_status = st;
	s->s_res.s_state = s->s_state;
	if (why != NULL && s->s_res.s_error[0] == '\0')
		rg_strlcpy(s->s_res.s_error, why, sizeof(s->s_res.s_error));
	s->s_cb(&s->s_res, s->s_arg);
	if (quit && s->s_bev != NULL && s->s_state != RG_SMTP_ST_CONNECT &&
	    s->s_state != RG_SMTP_ST_HANDSHAKE) {
		rg_smtp_enter(s, RG_SMTP_ST_QUIT);
		return;
	}
	s->s_dead = 1;
}

/* rg_smtp_reap - end of a libevent callback: free a session that finished. */
static void
rg_smtp_reap(struct rg_smtp *s)
{
	if (s->s_dead)
		rg_smtp_free(s);
}

/* rg_smtp_safe - an argument fit for a command line: no control byte, at most 512 bytes. */
static int
rg_smtp_safe(const char *arg)
{
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return strlen(arg) <= 512;
}

/* rg_smtp_send - write "verb[arg][suffix]\r\n" after checking arg. */
static int
rg_smtp_send(struct rg_smtp *s, const char *verb, const char *arg, const char *suffix)
{
	struct evbuffer *out = bufferevent_get_output(s->s_bev);

	if (arg != NULL && !rg_smtp_safe(arg)) {
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "refusing to send a control byte", 0);
		return -1;
	}
	evbuffer_add(out, verb, strlen(verb));
	if (arg != NULL)
		evbuffer_add(out, arg, strlen(arg));
	if (suffix != NULL)
		evbuffer_add(out, suffix, strlen(suffix));
	evbuffer_add(out, "\r\n", 2);
	return 0;
}

/* rg_smtp_command - write a state's command with its argument; rcpt is the recipient index. */
static int
rg_smtp_command(struct rg_smtp *s, const struct rg_smtp_state_def *d, int rcpt)
{
	switch (d->sd_arg) {
	case RG_SMTP_A_NONE:
		return rg_smtp_send(s, d->sd_command, NULL, NULL);
	case RG_SMTP_A_HELO:
		return rg_smtp_send(s, d->sd_command, s->s_p.p_helo, NULL);
	case RG_SMTP_A_MAIL:
		return rg_smtp_send(s, d->sd_command, s->s_p.p_mail_from,
		    s->s_want_utf8 && s->s_ext_smtputf8 ? "> SMTPUTF8" : ">");
	case RG_SMTP_A_RCPT:
		return rg_smtp_send(s, d->sd_command, s->s_p.p_rcpts[rcpt], ">");
	}
	return -1;
}

/* rg_smtp_tls_wrap - put a TLS filter over the connection for the handshake. */
static int
rg_smtp_tls_wrap(struct rg_smtp *s)
{
	SSL *ssl = SSL_new(s->s_p.p_ssl_ctx);
	struct bufferevent *tls;

	if (ssl == NULL) {
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "SSL_new failed", 0);
		return -1;
	}
	if (s->s_p.p_mx_name != NULL && s->s_p.p_mx_name[0] != '\0')
		SSL_set_tlsext_host_name(ssl, s->s_p.p_mx_name);
	tls = bufferevent_openssl_filter_new(s->s_base, s->s_bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		SSL_free(ssl);
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "TLS filter failed", 0);
		return -1;
	}
	s->s_bev = tls;
	bufferevent_setcb(tls, rg_smtp_on_read, NULL, rg_smtp_on_event, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	return 0;
}

/*
 * rg_smtp_skip_utf8 - before the first transaction (again after STARTTLS,
 * whose EHLO may say more): mark the recipients that need SMTPUTF8 when the
 * server lacks it. Returns how many recipients are left to ask.
 */
static int
rg_smtp_skip_utf8(struct rg_smtp *s)
{
	int left = 0;

	for (int i = 0; i < s->s_p.p_nrcpts; i++) {
		s->s_res.s_skipped[i] = s->s_p.p_rcpt_utf8[i] && !s->s_ext_smtputf8;
		left += !s->s_res.s_skipped[i];
	}
	s->s_next_rcpt = 0;
	return left;
}

/* rg_smtp_settle - move past skipped recipients; everything before is settled. */
static void
rg_smtp_settle(struct rg_smtp *s)
{
	while (s->s_next_rcpt < s->s_p.p_nrcpts && s->s_res.s_skipped[s->s_next_rcpt])
		s->s_next_rcpt++;
	s->s_res.s_nreplies = s->s_next_rcpt;
}

/* rg_smtp_txn_bounds - the recipients of the transaction that begins: at most p_rcpts_per_txn asked. */
static void
rg_smtp_txn_bounds(struct rg_smtp *s)
{
	int asked = 0;

	rg_smtp_settle(s);
	s->s_txn_end = s->s_next_rcpt;
	while (s->s_txn_end < s->s_p.p_nrcpts &&
	    (s->s_p.p_rcpts_per_txn <= 0 || asked < s->s_p.p_rcpts_per_txn))
		asked += !s->s_res.s_skipped[s->s_txn_end++];
}

/*
 * rg_smtp_enter - the one place a session changes state: the entry actions
 * of the new state, its stage, its timer, its command. Entering RCPT again
 * asks the next recipient. Returns -1 when the session ended on the way.
 */
static int
rg_smtp_enter(struct rg_smtp *s, enum rg_smtp_state state)
{
	const struct rg_smtp_state_def *d = &rg_smtp_states[state];
	struct timeval tv = { 0, 0 };
	int speak = d->sd_command != NULL;

	switch (state) {
	case RG_SMTP_ST_EHLO:
		/* The dialogue begins (again, after STARTTLS: RFC 3207 4.2). */
		s->s_ext_pipelining = s->s_ext_starttls = s->s_ext_smtputf8 = 0;
		s->s_res.s_ntxns = 0;
		break;
	case RG_SMTP_ST_STARTTLS:
		s->s_tls_tried = 1;
		break;
	case RG_SMTP_ST_HANDSHAKE:
		if (rg_smtp_tls_wrap(s) < 0)
			return -1;
		break;
	case RG_SMTP_ST_MAIL:
		if (s->s_res.s_ntxns == 0 && rg_smtp_skip_utf8(s) == 0 && s->s_p.p_nrcpts > 0) {
			/* RFC 6531 3.4: no UTF-8 address to a server without SMTPUTF8. */
			s->s_res.s_stage = RG_STAGE_MAIL;
			s->s_res.s_nreplies = s->s_p.p_nrcpts;
			rg_smtp_finish(s, RG_SMTP_DONE, "server does not offer SMTPUTF8", 1);
			return -1;
		}
		s->s_res.s_pipelining = s->s_ext_pipelining;
		rg_smtp_txn_bounds(s);
		break;
	case RG_SMTP_ST_RCPT:
		speak = !s->s_ext_pipelining;	/* pipelined RCPTs went out behind MAIL */
		break;
	case RG_SMTP_ST_QUIT:
		evtimer_del(s->s_deadline);
		break;
	default:
		break;
	}
	s->s_state = state;
	if (d->sd_stage >= 0)
		s->s_res.s_stage = (enum rg_smtp_stage)d->sd_stage;
	switch (d->sd_timeout) {
	case RG_SMTP_T_CONNECT: tv.tv_sec = s->s_p.p_connect_timeout; break;
	case RG_SMTP_T_GREETING: tv.tv_sec = s->s_p.p_greeting_timeout; break;
	case RG_SMTP_T_COMMAND: tv.tv_sec = s->s_p.p_command_timeout; break;
	case RG_SMTP_T_QUIT:
		tv.tv_sec = s->s_p.p_command_timeout < 10 ? s->s_p.p_command_timeout : 10;
		break;
	}
	evtimer_add(s->s_timer, &tv);
	if (speak && rg_smtp_command(s, d, s->s_next_rcpt) < 0)
		return -1;
	if (state == RG_SMTP_ST_MAIL) {
		s->s_res.s_ntxns++;
		for (int i = s->s_next_rcpt; s->s_ext_pipelining && i < s->s_txn_end; i++)
			if (!s->s_res.s_skipped[i] &&
			    rg_smtp_command(s, &rg_smtp_states[RG_SMTP_ST_RCPT], i) < 0)
				return -1;
	}
	return 0;
}

/* rg_smtp_ehlo_keyword - note the extensions of one EHLO continuation line. */
static void
rg_smtp_ehlo_keyword(struct rg_smtp *s, const char *kw, size_t len)
{
	size_t n = 0;

	while (n < len && kw[n] != ' ')
		n++;
	if (n == 10 && strncasecmp(kw, "PIPELINING", 10) == 0)
		s->s_ext_pipelining = 1;
	else if (n == 8 && strncasecmp(kw, "STARTTLS", 8) == 0)
		s->s_ext_starttls = 1;
	else if (n == 8 && strncasecmp(kw, "SMTPUTF8", 8) == 0)
		s->s_ext_smtputf8 = 1;
}

/*
 * rg_smtp_can_tls - STARTTLS is possible: not under TLS yet, not tried, a
 * context to do it with, and the server offered it or (asked) demands it.
 */
static int
rg_smtp_can_tls(const struct rg_smtp *s, int asked)
{
	return (s->s_ext_starttls || asked) && !s->s_res.s_tls && !s->s_tls_tried &&
	    s->s_p.p_ssl_ctx != NULL;
}

/* rg_smtp_refuse - the server refused the session at the current stage. */
static void
rg_smtp_refuse(struct rg_smtp *s, const struct rg_reply *r)
{
	s->s_res.s_reply = *r;
	rg_smtp_finish(s, RG_SMTP_REFUSED, NULL, 1);
}

/*
 * rg_smtp_on_mail_refused - 530 means STARTTLS first: tried when we can,
 * also from a server that did not list STARTTLS; else the session is refused.
 */
static void
rg_smtp_on_mail_refused(struct rg_smtp *s, const struct rg_reply *r)
{
	int asked = 0;

	s->s_mail_reply = *r;
	s->s_want_tls = r->r_code == 530 && rg_smtp_can_tls(s, 1);
	for (int i = s->s_next_rcpt; s->s_ext_pipelining && i < s->s_txn_end; i++)
		asked += !s->s_res.s_skipped[i];
	if (asked > 0) {
		s->s_drain = asked;
		rg_smtp_enter(s, RG_SMTP_ST_DRAIN);
	} else if (s->s_want_tls) {
		rg_smtp_enter(s, RG_SMTP_ST_STARTTLS);
	} else if (s->s_res.s_ntxns > 1) {
		rg_smtp_finish(s, RG_SMTP_DONE, "MAIL refused in a later transaction", 1);
	} else {
		rg_smtp_refuse(s, r);
	}
}

/*
 * rg_smtp_on_rcpt - one RCPT reply: keep it, then the next recipient, the
 * next transaction, or the end.
 */
static void
rg_smtp_on_rcpt(struct rg_smtp *s, const struct rg_reply *r)
{
	s->s_res.s_rcpt[s->s_next_rcpt++] = *r;
	rg_smtp_settle(s);
	if (s->s_next_rcpt >= s->s_p.p_nrcpts)
		rg_smtp_finish(s, RG_SMTP_DONE, NULL, 1);
	else if (s->s_next_rcpt >= s->s_txn_end)
		rg_smtp_enter(s, RG_SMTP_ST_RSET);
	else
		rg_smtp_enter(s, RG_SMTP_ST_RCPT);
}

/* rg_smtp_handle - what one complete reply means in the current state. */
static void
rg_smtp_handle(struct rg_smtp *s, const struct rg_reply *r)
{
	int cls = r->r_code / 100;

	/* 421 at any point: the server is closing the session. */
	if (r->r_code == 421 && s->s_state != RG_SMTP_ST_QUIT) {
		rg_smtp_refuse(s, r);
		return;
	}
	switch (s->s_state) {
	case RG_SMTP_ST_GREETING:
		if (cls == 2)
			rg_smtp_enter(s, RG_SMTP_ST_EHLO);
		else
			rg_smtp_refuse(s, r);
		return;
	case RG_SMTP_ST_EHLO:
		if (cls == 2 && rg_smtp_can_tls(s, 0))
			rg_smtp_enter(s, RG_SMTP_ST_STARTTLS);
		else if (cls == 2)
			rg_smtp_enter(s, RG_SMTP_ST_MAIL);
		else if (cls == 5)
			rg_smtp_enter(s, RG_SMTP_ST_HELO);	/* an old server: no extensions */
		else
			rg_smtp_refuse(s, r);
		return;
	case RG_SMTP_ST_HELO:
		if (cls == 2)
			rg_smtp_enter(s, RG_SMTP_ST_MAIL);
		else
			rg_smtp_refuse(s, r);
		return;
	case RG_SMTP_ST_STARTTLS:
		if (r->r_code == 220)
			rg_smtp_enter(s, RG_SMTP_ST_HANDSHAKE);
		else if (s->s_want_tls)
			rg_smtp_refuse(s, &s->s_mail_reply);	/* TLS demanded, not had */
		else
			rg_smtp_enter(s, RG_SMTP_ST_MAIL);	/* offered but refused: in clear */
		return;
	case RG_SMTP_ST_MAIL:
		if (cls != 2)
			rg_smtp_on_mail_refused(s, r);
		else if (s->s_next_rcpt >= s->s_p.p_nrcpts)
			rg_smtp_finish(s, RG_SMTP_DONE, NULL, 1);
		else
			rg_smtp_enter(s, RG_SMTP_ST_RCPT);
		return;
	case RG_SMTP_ST_RSET:
		/* Refused: the session ends with what was answered. */
		if (cls == 2)
			rg_smtp_enter(s, RG_SMTP_ST_MAIL);
		else
			rg_smtp_finish(s, RG_SMTP_DONE, "RSET refused", 1);
		return;
	case RG_SMTP_ST_RCPT:
		rg_smtp_on_rcpt(s, r);
		return;
	case RG_SMTP_ST_DRAIN:
		if (--s->s_drain > 0)
			return;
		if (s->s_want_tls)
			rg_smtp_enter(s, RG_SMTP_ST_STARTTLS);
		else if (s->s_res.s_ntxns > 1)
			rg_smtp_finish(s, RG_SMTP_DONE, "MAIL refused in a later transaction", 1);
		else
			rg_smtp_refuse(s, &s->s_mail_reply);
		return;
	case RG_SMTP_ST_QUIT:
		s->s_dead = 1;
		return;
	case RG_SMTP_ST_CONNECT:
	case RG_SMTP_ST_HANDSHAKE:
	case RG_SMTP_ST_COUNT:
		break;
	}
	rg_smtp_finish(s, RG_SMTP_PROTOCOL, "reply before the server could speak", 0);
}

/*
 * rg_smtp_line - add one reply line to the reply being assembled. Returns
 * 1 when the reply is complete, 0 when more lines follow, -1 on a bad line.
 */
static int
rg_smtp_line(struct rg_smtp *s, const char *line, size_t len)
{
	int code;
	char sep;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	sep = len > 3 ? line[3] : ' ';
	if (sep != ' ' && sep != '-')
		return -1;
	if (s->s_cur_lines == 0) {
		rg_reply_set(&s->s_cur, code, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
	} else {
		if (code != s->s_cur.r_code)
			return -1;
		if (s->s_state == RG_SMTP_ST_EHLO)
			rg_smtp_ehlo_keyword(s, line + 4, len > 4 ? len - 4 : 0);
		else
			rg_reply_append(&s->s_cur, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
	}
	if (++s->s_cur_lines > RG_SMTP_LINES_MAX)
		return -1;
	if (sep == '-')
		return 0;
	s->s_cur_lines = 0;
	return 1;
}

/* rg_smtp_on_read - split what arrived into bounded lines and replies, and handle each. */
static void
rg_smtp_on_read(struct bufferevent *bev, void *arg)
{
	struct rg_smtp *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!s->s_dead && s->s_bev == bev) {
		struct evbuffer_ptr eol;
		size_t eol_len = 0, len;
		char line[RG_SMTP_LINE_MAX + 1];
		int rc;

		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (eol.pos < 0 && evbuffer_get_length(in) <= RG_SMTP_LINE_MAX)
			break;	/* wait for the rest of the line */
		if (eol.pos < 0 || (size_t)eol.pos > RG_SMTP_LINE_MAX) {
			if (s->s_state == RG_SMTP_ST_QUIT)
				s->s_dead = 1;
			else
				rg_smtp_finish(s, RG_SMTP_PROTOCOL, "reply line too long", 0);
			break;
		}
		len = (size_t)eol.pos;
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		line[len] = '\0';
		if (s->s_state == RG_SMTP_ST_QUIT) {
			/* The 221 (or a 421) ends it; stray replies before it are ignored. */
			if (strncmp(line, "221", 3) == 0 || strncmp(line, "421", 3) == 0)
				s->s_dead = 1;
			continue;
		}
		rc = rg_smtp_line(s, line, len);
		if (rc < 0) {
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, "malformed reply", 0);
			break;
		}
		if (rc == 1)
			rg_smtp_handle(s, &s->s_cur);
	}
	rg_smtp_reap(s);
}

/* rg_smtp_on_event - connected, handshake done, closed or failed: per the state. */
static void
rg_smtp_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rg_smtp *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->s_state == RG_SMTP_ST_CONNECT) {
			rg_smtp_enter(s, RG_SMTP_ST_GREETING);
		} else if (s->s_state == RG_SMTP_ST_HANDSHAKE) {
			s->s_res.s_tls = 1;
			rg_smtp_enter(s, RG_SMTP_ST_EHLO);
		}
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->s_state == RG_SMTP_ST_QUIT) {
			s->s_dead = 1;
		} else if (s->s_state == RG_SMTP_ST_CONNECT) {
			int e = EVUTIL_SOCKET_ERROR();
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "connect: %s",
			    e ? strerror(e) : "failed");
			rg_smtp_finish(s, RG_SMTP_CONNECT_FAILED, NULL, 0);
		} else if (s->s_state == RG_SMTP_ST_HANDSHAKE) {
			unsigned long e = bufferevent_get_openssl_error(s->s_bev);
			char buf[120];
			ERR_error_string_n(e, buf, sizeof(buf));
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "TLS handshake: %s",
			    e ? buf : "failed");
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, NULL, 0);
		} else {
			rg_smtp_finish(s, RG_SMTP_DROPPED, (what & BEV_EVENT_EOF) ?
			    "connection closed by the server" : "connection error", 0);
		}
	}
	rg_smtp_reap(s);
}

static void
rg_smtp_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_smtp *s = arg;

	(void)fd;
	(void)what;
	if (s->s_state == RG_SMTP_ST_QUIT) {
		s->s_dead = 1;
	} else {
		if (s->s_res.s_error[0] == '\0')
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "timeout in %s",
			    rg_smtp_state_name(s->s_state));
		rg_smtp_finish(s, s->s_state == RG_SMTP_ST_CONNECT ? RG_SMTP_CONNECT_FAILED :
		    RG_SMTP_TIMEOUT, NULL, 0);
	}
	rg_smtp_reap(s);
}

static void
rg_smtp_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rg_smtp *s = arg;

	(void)fd;
	(void)what;
	rg_smtp_finish(s, RG_SMTP_TIMEOUT, "session deadline", 0);
	if (s->s_state == RG_SMTP_ST_QUIT)
		s->s_dead = 1;
	rg_smtp_reap(s);
}

struct rg_smtp *
rg_smtp_start(struct rg_smtp_pool *pool, const struct rg_smtp_params *p, rg_smtp_cb cb, void *arg)
{
	struct event_base *base = pool->sp_base;
	struct rg_smtp *s;
	struct timeval tv = { p->p_session_timeout, 0 };
	evutil_socket_t fd;
	int want_utf8 = 0;

	if (p->p_nrcpts < 0 || p->p_nrcpts > RG_SMTP_MAX_RCPT || !rg_smtp_safe(p->p_helo) ||
	    !rg_smtp_safe(p->p_mail_from))
		return NULL;
	for (int i = 0; i < p->p_nrcpts; i++)
		if (!rg_smtp_safe(p->p_rcpts[i]))
			return NULL;
		else if (p->p_rcpt_utf8[i])
			want_utf8 = 1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->s_pool = pool;
	TAILQ_INSERT_TAIL(&pool->sp_sessions, s, s_link);
	pool->sp_count++;
	s->s_base = base;
	s->s_p = *p;
	s->s_cb = cb;
	s->s_arg = arg;
	s->s_want_utf8 = want_utf8;
	s->s_timer = evtimer_new(base, rg_smtp_on_timer, s);
	s->s_deadline = evtimer_new(base, rg_smtp_on_deadline, s);
	fd = socket(p->p_addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || s->s_timer == NULL || s->s_deadline == NULL)
		goto fail;
	if (p->p_source != NULL && p->p_source->sa_family == p->p_addr->sa_family &&
	    bind(fd, p->p_source, p->p_sourcelen) < 0)
		goto fail;
	s->s_bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->s_bev == NULL)
		goto fail;
	fd = -1;	/* owned by the bufferevent now */
	bufferevent_setcb(s->s_bev, rg_smtp_on_read, NULL, rg_smtp_on_event, s);
	bufferevent_enable(s->s_bev, EV_READ | EV_WRITE);
	evtimer_add(s->s_deadline, &tv);
	rg_smtp_enter(s, RG_SMTP_ST_CONNECT);
	if (bufferevent_socket_connect(s->s_bev, p->p_addr, (int)p->p_addrlen) < 0) {
		/* Deliver the failure from the loop, like every other result. */
		struct timeval now = { 0, 0 };
		snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "connect: %s",
		    strerror(errno));
		evtimer_add(s->s_timer, &now);
	}
	return s;
fail:
	if (fd >= 0)
		close(fd);
	rg_smtp_free(s);
	return NULL;
}
