/*
 * smtp.c - the probe's SMTP client state machine over libevent bufferevents.
 *
 * DESCRIPTION
 *   connect -> greeting -> EHLO (HELO on 5xx) -> [STARTTLS -> EHLO] ->
 *   MAIL FROM -> RCPT TO x n -> QUIT. With PIPELINING, MAIL and every RCPT
 *   go out in one write and the replies are read in order. DATA is never
 *   sent: there is no code path that writes it.
 *
 *   Each phase has its own timer (connect, greeting, command) and the whole
 *   session a deadline. Replies are read line by line with a bound on the
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

enum rg_smtp_state {
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_MAIL,
	ST_RCPT,
	ST_DRAIN,	/* swallowing pipelined RCPT replies after MAIL failed */
	ST_QUIT,	/* result delivered; waiting for 221 or close */
};

struct rg_smtp {
	TAILQ_ENTRY(rg_smtp)	 s_link;
	struct rg_smtp_pool	*s_pool;
	struct event_base	*s_base;
	struct bufferevent	*s_bev;
	struct event		*s_timer;	/* phase timeout */
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

/* rg_smtp_arm - (re)start the phase timer. */
static void
rg_smtp_arm(struct rg_smtp *s, int secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(s->s_timer, &tv);
}

/*
 * rg_smtp_finish - deliver the result once. After a completed dialogue the
 * session lingers for the 221; otherwise it is marked dead and freed when the
 * libevent callback that got here returns (rg_smtp_reap), never under the
 * feet of a loop still reading from it.
 */
static void
rg_smtp_finish(struct rg_smtp *s, enum rg_smtp_status st, const char *why)
{
	int linger = (st == RG_SMTP_DONE || st == RG_SMTP_REFUSED) && s->s_state != ST_CONNECT;

	if (s->s_dead || s->s_state == ST_QUIT)
		return;
	s->s_res.s_status = st;
	if (why != NULL && s->s_res.s_error[0] == '\0')
		rg_strlcpy(s->s_res.s_error, why, sizeof(s->s_res.s_error));
	s->s_cb(&s->s_res, s->s_arg);
	if (linger && s->s_bev != NULL) {
		/* Say goodbye politely; free on 221, close or timeout. */
		evbuffer_add(bufferevent_get_output(s->s_bev), "QUIT\r\n", 6);
		s->s_state = ST_QUIT;
		evtimer_del(s->s_deadline);
		rg_smtp_arm(s, s->s_p.p_command_timeout < 10 ? s->s_p.p_command_timeout : 10);
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

/* rg_smtp_safe - an argument fit for a command line: printable, no space where none belongs. */
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
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "refusing to send a control byte");
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

static int
rg_smtp_send_ehlo(struct rg_smtp *s)
{
	s->s_ext_pipelining = s->s_ext_starttls = s->s_ext_smtputf8 = 0;
	s->s_state = ST_EHLO;
	s->s_res.s_stage = RG_STAGE_HELO;
	rg_smtp_arm(s, s->s_p.p_command_timeout);
	return rg_smtp_send(s, "EHLO ", s->s_p.p_helo, NULL);
}

/* rg_smtp_send_mail - MAIL FROM, and with PIPELINING every RCPT behind it. */
static void
rg_smtp_send_mail(struct rg_smtp *s)
{
	const char *suffix = ">";

	if (s->s_p.p_smtputf8 && s->s_ext_smtputf8)
		suffix = "> SMTPUTF8";
	s->s_state = ST_MAIL;
	s->s_res.s_stage = RG_STAGE_MAIL;
	s->s_res.s_pipelining = s->s_ext_pipelining;
	s->s_next_rcpt = 0;
	rg_smtp_arm(s, s->s_p.p_command_timeout);
	if (rg_smtp_send(s, "MAIL FROM:<", s->s_p.p_mail_from, suffix) < 0)
		return;
	if (s->s_ext_pipelining)
		for (int i = 0; i < s->s_p.p_nrcpts; i++)
			if (rg_smtp_send(s, "RCPT TO:<", s->s_p.p_rcpts[i], ">") < 0)
				return;
}

static void
rg_smtp_start_tls(struct rg_smtp *s)
{
	s->s_tls_tried = 1;
	s->s_state = ST_STARTTLS;
	s->s_res.s_stage = RG_STAGE_STARTTLS;
	rg_smtp_arm(s, s->s_p.p_command_timeout);
	rg_smtp_send(s, "STARTTLS", NULL, NULL);
}

/* rg_smtp_tls_handshake - wrap the connection in a TLS filter. */
static void
rg_smtp_tls_handshake(struct rg_smtp *s)
{
	SSL *ssl = SSL_new(s->s_p.p_ssl_ctx);
	struct bufferevent *tls;

	if (ssl == NULL) {
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "SSL_new failed");
		return;
	}
	if (s->s_p.p_mx_name != NULL && s->s_p.p_mx_name[0] != '\0')
		SSL_set_tlsext_host_name(ssl, s->s_p.p_mx_name);
	tls = bufferevent_openssl_filter_new(s->s_base, s->s_bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		SSL_free(ssl);
		rg_smtp_finish(s, RG_SMTP_LOCAL_ERROR, "TLS filter failed");
		return;
	}
	s->s_bev = tls;
	s->s_state = ST_HANDSHAKE;
	bufferevent_setcb(tls, rg_smtp_on_read, NULL, rg_smtp_on_event, s);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	rg_smtp_arm(s, s->s_p.p_command_timeout);
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

/* rg_smtp_after_ehlo - STARTTLS when offered and wanted, else MAIL. */
static void
rg_smtp_after_ehlo(struct rg_smtp *s)
{
	if (s->s_ext_starttls && !s->s_res.s_tls && !s->s_tls_tried && s->s_p.p_ssl_ctx != NULL)
		rg_smtp_start_tls(s);
	else
		rg_smtp_send_mail(s);
}

/* rg_smtp_refuse - the server refused the session at the current stage. */
static void
rg_smtp_refuse(struct rg_smtp *s, const struct rg_reply *r)
{
	s->s_res.s_reply = *r;
	rg_smtp_finish(s, RG_SMTP_REFUSED, NULL);
}

/* rg_smtp_on_mail_refused - 530 means STARTTLS first, when we can; else refused. */
static void
rg_smtp_on_mail_refused(struct rg_smtp *s, const struct rg_reply *r)
{
	s->s_mail_reply = *r;
	s->s_want_tls = r->r_code == 530 && s->s_ext_starttls && !s->s_res.s_tls &&
	    !s->s_tls_tried && s->s_p.p_ssl_ctx != NULL;
	if (s->s_ext_pipelining && s->s_p.p_nrcpts > 0) {
		s->s_drain = s->s_p.p_nrcpts;
		s->s_state = ST_DRAIN;
		return;
	}
	if (s->s_want_tls)
		rg_smtp_start_tls(s);
	else
		rg_smtp_refuse(s, r);
}

/* rg_smtp_handle - one complete reply in the current state. */
static void
rg_smtp_handle(struct rg_smtp *s, const struct rg_reply *r)
{
	int cls = r->r_code / 100;

	/* 421 at any point: the server is closing the session. */
	if (r->r_code == 421 && s->s_state != ST_QUIT) {
		rg_smtp_refuse(s, r);
		return;
	}
	switch (s->s_state) {
	case ST_GREETING:
		if (cls != 2) {
			rg_smtp_refuse(s, r);
			return;
		}
		rg_smtp_send_ehlo(s);
		return;
	case ST_EHLO:
		if (cls == 2) {
			rg_smtp_after_ehlo(s);
		} else if (cls == 5) {
			/* An old or minimal server: fall back to HELO (no extensions). */
			s->s_state = ST_HELO;
			rg_smtp_arm(s, s->s_p.p_command_timeout);
			rg_smtp_send(s, "HELO ", s->s_p.p_helo, NULL);
		} else {
			rg_smtp_refuse(s, r);
		}
		return;
	case ST_HELO:
		if (cls == 2)
			rg_smtp_send_mail(s);
		else
			rg_smtp_refuse(s, r);
		return;
	case ST_STARTTLS:
		if (r->r_code == 220) {
			rg_smtp_tls_handshake(s);
		} else if (s->s_want_tls) {
			/* TLS was demanded and cannot be had: MAIL's 530 stands. */
			rg_smtp_refuse(s, &s->s_mail_reply);
		} else {
			rg_smtp_send_mail(s);	/* offered but refused: go on in clear */
		}
		return;
	case ST_MAIL:
		if (cls != 2) {
			rg_smtp_on_mail_refused(s, r);
			return;
		}
		if (s->s_p.p_smtputf8 && !s->s_ext_smtputf8) {
			/* The recipients need SMTPUTF8 and the server lacks it. */
			rg_strlcpy(s->s_res.s_error, "server does not offer SMTPUTF8",
			    sizeof(s->s_res.s_error));
			if (s->s_ext_pipelining) {
				s->s_drain = s->s_p.p_nrcpts;
				s->s_state = ST_DRAIN;
				s->s_mail_reply = *r;
				s->s_want_tls = 0;
				return;
			}
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, NULL);
			return;
		}
		s->s_state = ST_RCPT;
		s->s_res.s_stage = RG_STAGE_RCPT;
		if (s->s_p.p_nrcpts == 0) {
			rg_smtp_finish(s, RG_SMTP_DONE, NULL);
			return;
		}
		rg_smtp_arm(s, s->s_p.p_command_timeout);
		if (!s->s_ext_pipelining)
			rg_smtp_send(s, "RCPT TO:<", s->s_p.p_rcpts[0], ">");
		return;
	case ST_RCPT:
		s->s_res.s_rcpt[s->s_next_rcpt++] = *r;
		s->s_res.s_nreplies = s->s_next_rcpt;
		if (s->s_next_rcpt >= s->s_p.p_nrcpts) {
			rg_smtp_finish(s, RG_SMTP_DONE, NULL);
			return;
		}
		rg_smtp_arm(s, s->s_p.p_command_timeout);
		if (!s->s_ext_pipelining)
			rg_smtp_send(s, "RCPT TO:<", s->s_p.p_rcpts[s->s_next_rcpt], ">");
		return;
	case ST_DRAIN:
		if (--s->s_drain > 0)
			return;
		if (s->s_want_tls) {
			rg_smtp_start_tls(s);
		} else if (s->s_mail_reply.r_code / 100 == 2) {
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, NULL);	/* SMTPUTF8 missing */
		} else {
			rg_smtp_refuse(s, &s->s_mail_reply);
		}
		return;
	case ST_QUIT:
		s->s_dead = 1;
		return;
	case ST_CONNECT:
	case ST_HANDSHAKE:
		rg_smtp_finish(s, RG_SMTP_PROTOCOL, "reply before the server could speak");
		return;
	}
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
		if (s->s_state == ST_EHLO)
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
			if (s->s_state == ST_QUIT)
				s->s_dead = 1;
			else
				rg_smtp_finish(s, RG_SMTP_PROTOCOL, "reply line too long");
			break;
		}
		len = (size_t)eol.pos;
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		line[len] = '\0';
		if (s->s_state == ST_QUIT) {
			s->s_dead = 1;	/* the 221, or anything: we are done */
			break;
		}
		rc = rg_smtp_line(s, line, len);
		if (rc < 0) {
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, "malformed reply");
			break;
		}
		if (rc == 1)
			rg_smtp_handle(s, &s->s_cur);
	}
	rg_smtp_reap(s);
}

static void
rg_smtp_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rg_smtp *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->s_state == ST_CONNECT) {
			s->s_state = ST_GREETING;
			s->s_res.s_stage = RG_STAGE_GREETING;
			rg_smtp_arm(s, s->s_p.p_greeting_timeout);
		} else if (s->s_state == ST_HANDSHAKE) {
			s->s_res.s_tls = 1;
			rg_smtp_send_ehlo(s);
		}
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->s_state == ST_QUIT) {
			s->s_dead = 1;
		} else if (s->s_state == ST_CONNECT) {
			int e = EVUTIL_SOCKET_ERROR();
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "connect: %s",
			    e ? strerror(e) : "failed");
			rg_smtp_finish(s, RG_SMTP_CONNECT_FAILED, NULL);
		} else if (s->s_state == ST_HANDSHAKE) {
			unsigned long e = bufferevent_get_openssl_error(s->s_bev);
			char buf[120];
			ERR_error_string_n(e, buf, sizeof(buf));
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "TLS handshake: %s",
			    e ? buf : "failed");
			rg_smtp_finish(s, RG_SMTP_PROTOCOL, NULL);
		} else {
			rg_smtp_finish(s, RG_SMTP_DROPPED, (what & BEV_EVENT_EOF) ?
			    "connection closed by the server" : "connection error");
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
	if (s->s_state == ST_QUIT) {
		s->s_dead = 1;
	} else {
		if (s->s_res.s_error[0] == '\0')
			snprintf(s->s_res.s_error, sizeof(s->s_res.s_error), "timeout in %s",
			    s->s_state == ST_CONNECT ? "connect" :
			    rg_smtp_stage_name(s->s_res.s_stage));
		rg_smtp_finish(s, s->s_state == ST_CONNECT ? RG_SMTP_CONNECT_FAILED : RG_SMTP_TIMEOUT,
		    NULL);
	}
	rg_smtp_reap(s);
}

static void
rg_smtp_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct rg_smtp *s = arg;

	(void)fd;
	(void)what;
	rg_smtp_finish(s, RG_SMTP_TIMEOUT, "session deadline");
	if (s->s_state == ST_QUIT)
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

	if (p->p_nrcpts < 0 || p->p_nrcpts > RG_SMTP_MAX_RCPT || !rg_smtp_safe(p->p_helo) ||
	    !rg_smtp_safe(p->p_mail_from))
		return NULL;
	for (int i = 0; i < p->p_nrcpts; i++)
		if (!rg_smtp_safe(p->p_rcpts[i]))
			return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->s_pool = pool;
	TAILQ_INSERT_TAIL(&pool->sp_sessions, s, s_link);
	pool->sp_count++;
	s->s_base = base;
	s->s_p = *p;
	s->s_cb = cb;
	s->s_arg = arg;
	s->s_state = ST_CONNECT;
	s->s_res.s_stage = RG_STAGE_GREETING;
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
	rg_smtp_arm(s, p->p_connect_timeout);
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
