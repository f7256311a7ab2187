/*
 * smtp.h - the probe's SMTP client: one session to one MX address.
 *
 * Greeting, EHLO (HELO when EHLO is refused), STARTTLS when offered or when
 * MAIL FROM is refused with 530, MAIL FROM, one RCPT TO per recipient
 * (pipelined when the server offers PIPELINING), QUIT. It never sends DATA.
 * With p_rcpts_per_txn the recipients are asked in transactions of that
 * many, RSET and MAIL FROM between them. A recipient that needs SMTPUTF8 is
 * never sent to a server that does not offer it: it is marked skipped and
 * the others are asked.
 * Every recipient must be the wire form of an address that rg_address_parse
 * accepted; the client refuses to write a command argument that holds a
 * control byte, whatever the caller passes.
 */
#ifndef RG_SMTP_H
#define RG_SMTP_H

#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "rcptguard/reply.h"

#define RG_SMTP_MAX_RCPT	101	/* max_rcpt_per_session plus the catch-all probe */
#define RG_SMTP_LINE_MAX	2048	/* longest reply line accepted (RFC 5321: 512) */
#define RG_SMTP_LINES_MAX	64	/* longest multi-line reply accepted */

/* Where in the dialogue a session got to, or failed. */
enum rg_smtp_stage {
	RG_STAGE_GREETING,
	RG_STAGE_HELO,		/* EHLO and the HELO fallback */
	RG_STAGE_STARTTLS,
	RG_STAGE_MAIL,
	RG_STAGE_RCPT,
};

/*
 * The states of a session, in dialogue order. rg_smtp_enter() alone moves a
 * session between them; lib/smtp.c holds the table of what each state
 * means (stage, timer, command written on entry).
 */
enum rg_smtp_state {
	RG_SMTP_ST_CONNECT,
	RG_SMTP_ST_GREETING,
	RG_SMTP_ST_EHLO,
	RG_SMTP_ST_HELO,
	RG_SMTP_ST_STARTTLS,
	RG_SMTP_ST_HANDSHAKE,	/* TLS handshake after the 220 to STARTTLS */
	RG_SMTP_ST_MAIL,
	RG_SMTP_ST_RCPT,
	RG_SMTP_ST_RSET,	/* between two transactions */
	RG_SMTP_ST_DRAIN,	/* swallowing pipelined RCPT replies after MAIL failed */
	RG_SMTP_ST_QUIT,	/* result delivered; waiting for 221 or close */
	RG_SMTP_ST_COUNT
};

enum rg_smtp_status {
	RG_SMTP_DONE,		/* the dialogue ran to the end (replies may be anything) */
	RG_SMTP_REFUSED,	/* the server refused the session before RCPT (see stage, reply) */
	RG_SMTP_CONNECT_FAILED,
	RG_SMTP_TIMEOUT,
	RG_SMTP_DROPPED,	/* the server closed the connection mid-dialogue */
	RG_SMTP_PROTOCOL,	/* unparsable or oversized replies */
	RG_SMTP_LOCAL_ERROR,	/* a resource or argument problem on our side */
};

struct rg_smtp_params {
	const struct sockaddr	*p_addr;
	socklen_t		 p_addrlen;
	const struct sockaddr	*p_source;	/* NULL: the kernel chooses */
	socklen_t		 p_sourcelen;
	const char		*p_mx_name;	/* for TLS SNI and logs */
	const char		*p_helo;
	const char		*p_mail_from;	/* wire form without brackets; "" for <> */
	const char		*p_rcpts[RG_SMTP_MAX_RCPT];
	unsigned char		 p_rcpt_utf8[RG_SMTP_MAX_RCPT];	/* recipient i needs SMTPUTF8 */
	int			 p_nrcpts;
	int			 p_rcpts_per_txn;	/* 0: one transaction for all */
	SSL_CTX			*p_ssl_ctx;	/* NULL: never STARTTLS */
	int			 p_connect_timeout;
	int			 p_greeting_timeout;
	int			 p_command_timeout;
	int			 p_session_timeout;
};

struct rg_smtp_result {
	enum rg_smtp_status	 s_status;
	enum rg_smtp_stage	 s_stage;	/* stage reached (failure stage when refused) */
	enum rg_smtp_state	 s_state;	/* state the session was in when it ended */
	struct rg_reply		 s_reply;	/* reply that refused the session, if any */
	int			 s_nreplies;	/* recipients settled, in order: answered or skipped */
	struct rg_reply		 s_rcpt[RG_SMTP_MAX_RCPT];
	unsigned char		 s_skipped[RG_SMTP_MAX_RCPT];	/* not asked: no SMTPUTF8 */
	int			 s_ntxns;	/* transactions begun (MAIL FROM written) */
	int			 s_tls;		/* the dialogue ran under TLS */
	int			 s_pipelining;
	char			 s_error[256];	/* local description of a failure */
};

struct rg_smtp;
struct rg_smtp_pool;
typedef void (*rg_smtp_cb)(const struct rg_smtp_result *res, void *arg);

/*
 * A pool owns every session started in it, including those that delivered
 * their result and linger for the server's 221: freeing the pool closes them.
 */
struct rg_smtp_pool *rg_smtp_pool_new(struct event_base *base);
void rg_smtp_pool_free(struct rg_smtp_pool *pool);
int rg_smtp_pool_count(const struct rg_smtp_pool *pool);

/*
 * rg_smtp_start - begin a session; cb is called exactly once, from the loop,
 * unless rg_smtp_cancel() or rg_smtp_pool_free() comes first. The strings in
 * p must stay valid until then. Returns NULL when nothing could be started
 * (cb is not called).
 */
struct rg_smtp *rg_smtp_start(struct rg_smtp_pool *pool, const struct rg_smtp_params *p,
    rg_smtp_cb cb, void *arg);
void rg_smtp_cancel(struct rg_smtp *s);

/* rg_smtp_status_name, rg_smtp_stage_name, rg_smtp_state_name - for logs and tests. */
const char *rg_smtp_status_name(enum rg_smtp_status st);
const char *rg_smtp_stage_name(enum rg_smtp_stage stage);
const char *rg_smtp_state_name(enum rg_smtp_state state);

/* rg_smtp_ssl_ctx - a client context for opportunistic TLS (no verification). */
SSL_CTX *rg_smtp_ssl_ctx(void);

#endif /* RG_SMTP_H */
