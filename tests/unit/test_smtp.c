/*
 * test_smtp.c - the probe's SMTP client against a scripted server that runs
 * in the test's own event loop on 127.0.0.1:0, one table row per server
 * behaviour: multi-line and one-segment replies, PIPELINING, STARTTLS (also
 * after a 530 to MAIL), a failed TLS handshake, 421 and hang-ups in mid
 * session, oversize lines and replies, SMTPUTF8, and 2xx replies nobody
 * asked for. Every row also checks what reached the server's side of the
 * wire: only the commands of a probe, never DATA. No root, no network
 * beyond loopback.
 *
 * A script is a list of steps: "S text" writes text, "C VERB" reads one
 * command line and checks its verb, "TLS" starts the server side of a TLS
 * handshake, "CLOSE" hangs up once the written text has left. When the script runs out the server records
 * whatever else arrives and answers QUIT with 221; a script that ends
 * without CLOSE and without an answer leaves the client to its timers.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rcptguard/smtp.h"

#define NSTEPS		24
#define WIRE_MAX	4096
#define RUN_BOUND_S	30	/* a row that has not ended by then fails */

struct smtp_case {
	const char		*name;
	const char		*steps[NSTEPS];	/* NULL ends the script */
	int			 nrcpts;	/* 0: one */
	int			 tls;		/* the client has a TLS context */
	unsigned		 utf8;		/* bit i: recipient i needs SMTPUTF8 */
	int			 per_txn;	/* p_rcpts_per_txn */
	int			 timeout;	/* greeting and command timeout; 0: 10 s */
	/* expected */
	enum rg_smtp_status	 status;
	enum rg_smtp_stage	 stage;
	int			 reply;		/* s_reply.r_code; 0 when not refused */
	int			 rcpt[4];	/* codes of the RCPT replies received */
	int			 nreplies;
	unsigned		 skipped;	/* bit i: recipient i was not asked */
	int			 used_tls;
	int			 pipelining;
	const char		*wire;		/* verbs the server received, in order */
	const char		*error;		/* substring of s_error, or NULL */
	const char		*line;		/* substring of some received line, or NULL */
};

struct server {
	struct event_base	*base;
	SSL_CTX			*ctx;
	struct event		*accept_ev;
	struct bufferevent	*bev;
	int			 lfd;
	const struct smtp_case	*c;
	int			 step;
	char			 wire[WIRE_MAX];	/* verbs received, space separated */
	char			 lines[WIRE_MAX];	/* whole lines received, '|' separated */
	int			 mismatch;
	int			 closing;	/* CLOSE: hanging up once flushed */
};

struct client {
	int			 calls;
	struct rg_smtp_result	 res;
};

static SSL_CTX *server_ctx;

/* server_tls_ctx - a throw-away self-signed P-256 certificate for the scripted server. */
static SSL_CTX *
server_tls_ctx(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509_NAME *n;

	assert_non_null(key);
	assert_non_null(x);
	assert_non_null(ctx);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"mx.test.example",
	    -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
}

static void server_on_read(struct bufferevent *bev, void *arg);
static void server_on_event(struct bufferevent *bev, short what, void *arg);

static void
server_hangup(struct server *sv)
{
	if (sv->bev != NULL)
		bufferevent_free(sv->bev);
	sv->bev = NULL;
}

static void
server_on_flushed(struct bufferevent *bev, void *arg)
{
	(void)bev;
	server_hangup(arg);
}

/* server_close - hang up once what was written has left; read nothing more. */
static void
server_close(struct server *sv)
{
	sv->closing = 1;
	bufferevent_disable(sv->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(sv->bev)) == 0)
		server_hangup(sv);
	else
		bufferevent_setcb(sv->bev, NULL, server_on_flushed, server_on_event, sv);
}

/* server_record - note one received line: its verb, and the whole line. */
static void
server_record(struct server *sv, const char *line)
{
	size_t n = strcspn(line, " :");
	char verb[16];

	snprintf(verb, sizeof(verb), "%.*s", (int)(n < 15 ? n : 15), line);
	if (sv->wire[0] != '\0')
		strncat(sv->wire, " ", sizeof(sv->wire) - strlen(sv->wire) - 1);
	strncat(sv->wire, verb, sizeof(sv->wire) - strlen(sv->wire) - 1);
	strncat(sv->lines, line, sizeof(sv->lines) - strlen(sv->lines) - 1);
	strncat(sv->lines, "|", sizeof(sv->lines) - strlen(sv->lines) - 1);
}

/* server_run - play the script as far as the client's lines allow. */
static void
server_run(struct server *sv)
{
	for (;;) {
		const char *st = sv->c->steps[sv->step];
		char *line;

		if (sv->bev == NULL || sv->closing)
			return;
		if (st == NULL) {
			/* Past the script: record the rest, answer QUIT. */
			while ((line = evbuffer_readln(bufferevent_get_input(sv->bev), NULL,
			    EVBUFFER_EOL_CRLF)) != NULL) {
				server_record(sv, line);
				if (strcasecmp(line, "QUIT") == 0)
					bufferevent_write(sv->bev, "221 bye\r\n", 9);
				free(line);
			}
			return;
		}
		if (strncmp(st, "S ", 2) == 0) {
			bufferevent_write(sv->bev, st + 2, strlen(st + 2));
		} else if (strncmp(st, "C ", 2) == 0) {
			line = evbuffer_readln(bufferevent_get_input(sv->bev), NULL,
			    EVBUFFER_EOL_CRLF);
			if (line == NULL)
				return;		/* wait for it */
			server_record(sv, line);
			if (strncasecmp(line, st + 2, strlen(st + 2)) != 0)
				sv->mismatch = 1;
			free(line);
		} else if (strcmp(st, "TLS") == 0) {
			SSL *ssl = SSL_new(sv->ctx);
			struct bufferevent *tls = bufferevent_openssl_filter_new(sv->base, sv->bev,
			    ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);

			assert_non_null(tls);
			sv->bev = tls;
			bufferevent_setcb(tls, server_on_read, NULL, server_on_event, sv);
			bufferevent_enable(tls, EV_READ | EV_WRITE);
		} else if (strcmp(st, "CLOSE") == 0) {
			server_close(sv);
		} else {
			fail_msg("bad script step \"%s\"", st);
		}
		sv->step++;
	}
}

static void
server_on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	server_run(arg);
}

static void
server_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct server *sv = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		server_hangup(sv);
}

static void
server_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct server *sv = arg;
	int cfd = accept(fd, NULL, NULL);

	(void)what;
	if (cfd < 0)
		return;
	if (sv->bev != NULL) {
		close(cfd);	/* one session per row */
		return;
	}
	evutil_make_socket_nonblocking(cfd);
	sv->bev = bufferevent_socket_new(sv->base, cfd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(sv->bev);
	bufferevent_setcb(sv->bev, server_on_read, NULL, server_on_event, sv);
	bufferevent_enable(sv->bev, EV_READ | EV_WRITE);
	server_run(sv);
}

static void
client_done(const struct rg_smtp_result *res, void *arg)
{
	struct client *cl = arg;

	cl->calls++;
	cl->res = *res;
}

/* on_tick - wakes the loop now and then so that the run's bound is checked. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* run_script - one session of the client against the row's server; fills sv and cl. */
static void
run_script(const struct smtp_case *c, struct server *sv, struct client *cl)
{
	static const char *const rcpts[] = {
		"alice@test.example", "bob@test.example", "carol@test.example", "dave@test.example"
	};
	static const char utf8_rcpt[] = "j\xc3\xb6rg@test.example";
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rg_smtp_params p;
	struct rg_smtp_pool *pool;
	struct event *tick;
	struct timeval tv = { 0, 20000 };
	int timeout = c->timeout > 0 ? c->timeout : 10;
	time_t until;

	memset(sv, 0, sizeof(*sv));
	memset(cl, 0, sizeof(*cl));
	sv->c = c;
	sv->ctx = server_ctx;
	assert_non_null(sv->base = event_base_new());
	sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(sv->lfd >= 0);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(sv->lfd, 4), 0);
	assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&sin, &len), 0);
	sv->accept_ev = event_new(sv->base, sv->lfd, EV_READ | EV_PERSIST, server_on_accept, sv);
	event_add(sv->accept_ev, NULL);

	memset(&p, 0, sizeof(p));
	p.p_addr = (const struct sockaddr *)&sin;
	p.p_addrlen = sizeof(sin);
	p.p_mx_name = "mx.test.example";
	p.p_helo = "probe.test.example";
	p.p_mail_from = "postmaster@probe.test.example";
	p.p_nrcpts = c->nrcpts > 0 ? c->nrcpts : 1;
	for (int i = 0; i < p.p_nrcpts; i++) {
		p.p_rcpt_utf8[i] = (c->utf8 >> i) & 1;
		p.p_rcpts[i] = p.p_rcpt_utf8[i] ? utf8_rcpt : rcpts[i];
	}
	p.p_rcpts_per_txn = c->per_txn;
	p.p_ssl_ctx = c->tls ? rg_smtp_ssl_ctx() : NULL;
	p.p_connect_timeout = 10;
	p.p_greeting_timeout = timeout;
	p.p_command_timeout = timeout;
	p.p_session_timeout = RUN_BOUND_S - 5;

	assert_non_null(pool = rg_smtp_pool_new(sv->base));
	assert_non_null(rg_smtp_start(pool, &p, client_done, cl));
	/* Until the client has its result and has let go of the session. */
	tick = event_new(sv->base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(tick, &tv);
	until = time(NULL) + RUN_BOUND_S;
	while ((cl->calls == 0 || rg_smtp_pool_count(pool) > 0) && time(NULL) < until)
		event_base_loop(sv->base, EVLOOP_ONCE);
	if (cl->calls == 0 || rg_smtp_pool_count(pool) > 0)
		fail_msg("%s: no end within %d s (calls %d, sessions %d)", c->name, RUN_BOUND_S,
		    cl->calls, rg_smtp_pool_count(pool));
	/* Let the server read what the client's last write held. */
	for (int i = 0; i < 5 && sv->bev != NULL; i++)
		event_base_loop(sv->base, EVLOOP_NONBLOCK);
	rg_smtp_pool_free(pool);
	if (p.p_ssl_ctx != NULL)
		SSL_CTX_free(p.p_ssl_ctx);
	server_hangup(sv);
	event_free(tick);
	event_free(sv->accept_ev);
	close(sv->lfd);
	event_base_free(sv->base);
}

static void
test_smtp_case(void **state)
{
	const struct smtp_case *c = *state;
	struct server sv;
	struct client cl;

	run_script(c, &sv, &cl);
	print_message("# %s: %s at %s (state %s), wire \"%s\", error \"%s\"\n", c->name,
	    rg_smtp_status_name(cl.res.s_status), rg_smtp_stage_name(cl.res.s_stage),
	    rg_smtp_state_name(cl.res.s_state), sv.wire, cl.res.s_error);
	assert_int_equal(cl.calls, 1);
	assert_false(sv.mismatch);
	assert_string_equal(rg_smtp_status_name(cl.res.s_status), rg_smtp_status_name(c->status));
	assert_string_equal(rg_smtp_stage_name(cl.res.s_stage), rg_smtp_stage_name(c->stage));
	assert_int_equal(cl.res.s_status == RG_SMTP_REFUSED ? cl.res.s_reply.r_code : 0, c->reply);
	assert_int_equal(cl.res.s_nreplies, c->nreplies);
	for (int i = 0; i < c->nreplies; i++) {
		assert_int_equal(cl.res.s_skipped[i], (c->skipped >> i) & 1);
		if (!cl.res.s_skipped[i])
			assert_int_equal(cl.res.s_rcpt[i].r_code, c->rcpt[i]);
	}
	assert_int_equal(cl.res.s_tls, c->used_tls);
	if (c->status == RG_SMTP_DONE)
		assert_int_equal(cl.res.s_pipelining, c->pipelining);
	assert_string_equal(sv.wire, c->wire);
	if (c->error != NULL && strstr(cl.res.s_error, c->error) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", cl.res.s_error, c->error);
	if (c->line != NULL && strstr(sv.lines, c->line) == NULL)
		fail_msg("no line with \"%s\" in %s", c->line, sv.lines);
	/* Whatever the server did, DATA never reached it. */
	assert_null(strstr(sv.wire, "DATA"));
	/* Every result text the client keeps is printable. */
	for (const char *t = cl.res.s_reply.r_text; *t; t++)
		assert_true((unsigned char)*t >= 0x20 && (unsigned char)*t < 0x7f);
}

#define GREET		"S 220 mx.test.example ESMTP\r\n"
#define EHLO_PLAIN	"S 250-mx.test.example\r\n250 SIZE 1000000\r\n"
#define EHLO_PIPE	"S 250-mx.test.example\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n"
#define EHLO_TLS	"S 250-mx.test.example\r\n250 STARTTLS\r\n"

static char big_line[3000];
static char many_lines[80 * 12];

static const struct smtp_case cases[] = {
	{ .name = "multi-line replies",
	  .steps = { "S 220-mx.test.example ESMTP\r\n220-second line\r\n220 third\r\n", "C EHLO",
	    EHLO_PLAIN, "C MAIL", "S 250 2.1.0 ok\r\n", "C RCPT", "S 250 2.1.5 ok\r\n",
	    "C RCPT", "S 550-5.1.1 no such\r\n550 5.1.1 user\r\n" },
	  .nrcpts = 2, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250, 550 }, .nreplies = 2, .wire = "EHLO MAIL RCPT RCPT QUIT" },
	{ .name = "one-segment greeting with a bare code",
	  .steps = { "S 220\r\n", "C EHLO", "S 250 mx\r\n", "C MAIL", "S 250\r\n", "C RCPT",
	    "S 250\r\n" },
	  .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 }, .nreplies = 1,
	  .wire = "EHLO MAIL RCPT QUIT" },
	{ .name = "PIPELINING sends MAIL and every RCPT before a reply",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT", "C RCPT", "C RCPT",
	    "S 250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n450 4.2.0 greylisted\r\n" },
	  .nrcpts = 3, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250, 550, 450 }, .nreplies = 3, .pipelining = 1,
	  .wire = "EHLO MAIL RCPT RCPT RCPT QUIT" },
	{ .name = "pipelined MAIL refused: RCPT replies drained, MAIL's reply kept",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT", "C RCPT",
	    "S 550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n" },
	  .nrcpts = 2, .status = RG_SMTP_REFUSED, .stage = RG_STAGE_MAIL, .reply = 550,
	  .wire = "EHLO MAIL RCPT RCPT QUIT" },
	{ .name = "HELO when EHLO is refused",
	  .steps = { GREET, "C EHLO", "S 502 5.5.2 no EHLO\r\n", "C HELO", "S 250 mx\r\n",
	    "C MAIL", "S 250 ok\r\n", "C RCPT", "S 250 ok\r\n" },
	  .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 }, .nreplies = 1,
	  .wire = "EHLO HELO MAIL RCPT QUIT" },
	{ .name = "STARTTLS when offered, then the dialogue under TLS",
	  .steps = { GREET, "C EHLO", EHLO_TLS, "C STARTTLS", "S 220 2.0.0 go ahead\r\n", "TLS",
	    "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT", "S 550 5.1.1 unknown\r\n" },
	  .tls = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 550 },
	  .nreplies = 1, .used_tls = 1, .wire = "EHLO STARTTLS EHLO MAIL RCPT QUIT" },
	{ .name = "530 to MAIL, then STARTTLS though not listed",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL",
	    "S 530 5.7.0 Must issue a STARTTLS command first\r\n", "C STARTTLS",
	    "S 220 go ahead\r\n", "TLS", "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n",
	    "C RCPT", "S 250 ok\r\n" },
	  .tls = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 },
	  .nreplies = 1, .used_tls = 1, .wire = "EHLO MAIL STARTTLS EHLO MAIL RCPT QUIT" },
	{ .name = "530 to pipelined MAIL: drain, STARTTLS, ask again",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT",
	    "S 530 5.7.0 STARTTLS first\r\n530 5.7.0 STARTTLS first\r\n", "C STARTTLS",
	    "S 220 go ahead\r\n", "TLS", "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT",
	    "S 250 ok\r\n250 ok\r\n" },
	  .tls = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 },
	  .nreplies = 1, .used_tls = 1, .pipelining = 1,
	  .wire = "EHLO MAIL RCPT STARTTLS EHLO MAIL RCPT QUIT" },
	{ .name = "530 without a TLS context is a refusal at MAIL",
	  .steps = { GREET, "C EHLO", EHLO_TLS, "C MAIL", "S 530 5.7.0 STARTTLS first\r\n" },
	  .status = RG_SMTP_REFUSED, .stage = RG_STAGE_MAIL, .reply = 530,
	  .wire = "EHLO MAIL QUIT" },
	{ .name = "failed TLS handshake",
	  .steps = { GREET, "C EHLO", EHLO_TLS, "C STARTTLS", "S 220 go ahead\r\n",
	    "S this is not a TLS record\r\n", "CLOSE" },
	  .tls = 1, .status = RG_SMTP_PROTOCOL, .stage = RG_STAGE_STARTTLS,
	  .wire = "EHLO STARTTLS", .error = "TLS handshake" },
	{ .name = "STARTTLS refused: go on in clear",
	  .steps = { GREET, "C EHLO", EHLO_TLS, "C STARTTLS", "S 454 4.7.0 TLS not available\r\n",
	    "C MAIL", "S 250 ok\r\n", "C RCPT", "S 250 ok\r\n" },
	  .tls = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 },
	  .nreplies = 1, .wire = "EHLO STARTTLS MAIL RCPT QUIT" },
	{ .name = "421 in mid-session, among the RCPTs",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 250 ok\r\n", "C RCPT", "S 421 4.7.0 too many recipients, closing\r\n", "CLOSE" },
	  .nrcpts = 3, .status = RG_SMTP_REFUSED, .stage = RG_STAGE_RCPT, .reply = 421,
	  .rcpt = { 250 }, .nreplies = 1, .wire = "EHLO MAIL RCPT RCPT" },
	{ .name = "hang-up after RCPT",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT", "CLOSE" },
	  .status = RG_SMTP_DROPPED, .stage = RG_STAGE_RCPT, .wire = "EHLO MAIL RCPT",
	  .error = "closed by the server" },
	{ .name = "greeting refused",
	  .steps = { "S 554 5.7.1 no service for you\r\n" },
	  .status = RG_SMTP_REFUSED, .stage = RG_STAGE_GREETING, .reply = 554, .wire = "QUIT" },
	{ .name = "no greeting: the greeting timer fires",
	  .steps = { NULL }, .timeout = 1,
	  .status = RG_SMTP_TIMEOUT, .stage = RG_STAGE_GREETING, .wire = "",
	  .error = "timeout in greeting" },
	{ .name = "no reply to RCPT: the command timer fires",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT" },
	  .timeout = 1, .status = RG_SMTP_TIMEOUT, .stage = RG_STAGE_RCPT,
	  .wire = "EHLO MAIL RCPT", .error = "timeout in rcpt" },
	{ .name = "oversize line",
	  .steps = { big_line }, .status = RG_SMTP_PROTOCOL, .stage = RG_STAGE_GREETING,
	  .wire = "", .error = "too long" },
	{ .name = "more than 64 lines in one reply",
	  .steps = { GREET, "C EHLO", many_lines },
	  .status = RG_SMTP_PROTOCOL, .stage = RG_STAGE_HELO, .wire = "EHLO",
	  .error = "malformed" },
	{ .name = "a line that is no reply",
	  .steps = { "S hello there\r\n" }, .status = RG_SMTP_PROTOCOL,
	  .stage = RG_STAGE_GREETING, .wire = "", .error = "malformed" },
	{ .name = "unasked 2xx and 354 after the last RCPT: DATA never sent",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT",
	    "S 250 ok\r\n250 ok\r\n354 go ahead\r\n250 queued\r\n" },
	  .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 }, .nreplies = 1,
	  .pipelining = 1, .wire = "EHLO MAIL RCPT QUIT" },
	{ .name = "SMTPUTF8 needed and offered",
	  .steps = { GREET, "C EHLO", "S 250-mx\r\n250 SMTPUTF8\r\n", "C MAIL", "S 250 ok\r\n",
	    "C RCPT", "S 250 ok\r\n" },
	  .utf8 = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 250 },
	  .nreplies = 1, .wire = "EHLO MAIL RCPT QUIT",
	  .line = "MAIL FROM:<postmaster@probe.test.example> SMTPUTF8" },
	{ .name = "SMTPUTF8 needed and not offered: no MAIL, no address on the wire",
	  .steps = { GREET, "C EHLO", EHLO_PIPE },
	  .utf8 = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_MAIL, .nreplies = 1,
	  .skipped = 1, .wire = "EHLO QUIT", .error = "SMTPUTF8" },
	{ .name = "a mixed batch without SMTPUTF8: only the ASCII recipients are asked",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT", "C RCPT",
	    "S 250 ok\r\n250 ok\r\n550 5.1.1 no\r\n" },
	  .nrcpts = 3, .utf8 = 2, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250, 0, 550 }, .nreplies = 3, .skipped = 2, .pipelining = 1,
	  .wire = "EHLO MAIL RCPT RCPT QUIT",
	  .line = "MAIL FROM:<postmaster@probe.test.example>|RCPT TO:<alice@test.example>|"
	    "RCPT TO:<carol@test.example>|" },
	{ .name = "one recipient per transaction: RSET and MAIL between them",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 250 ok\r\n", "C RSET", "S 250 flushed\r\n", "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 452 4.5.3 Too many recipients\r\n", "C RSET", "S 250 flushed\r\n", "C MAIL",
	    "S 250 ok\r\n", "C RCPT", "S 550 5.1.1 unknown\r\n" },
	  .nrcpts = 3, .per_txn = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250, 452, 550 }, .nreplies = 3,
	  .wire = "EHLO MAIL RCPT RSET MAIL RCPT RSET MAIL RCPT QUIT" },
	{ .name = "two recipients per pipelined transaction",
	  .steps = { GREET, "C EHLO", EHLO_PIPE, "C MAIL", "C RCPT", "C RCPT",
	    "S 250 ok\r\n250 ok\r\n250 ok\r\n", "C RSET", "S 250 flushed\r\n", "C MAIL",
	    "C RCPT", "S 250 ok\r\n550 5.1.1 unknown\r\n" },
	  .nrcpts = 3, .per_txn = 2, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250, 250, 550 }, .nreplies = 3, .pipelining = 1,
	  .wire = "EHLO MAIL RCPT RCPT RSET MAIL RCPT QUIT" },
	{ .name = "RSET refused: the session ends with what was answered",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 250 ok\r\n", "C RSET", "S 502 5.5.1 no RSET here\r\n" },
	  .nrcpts = 2, .per_txn = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT,
	  .rcpt = { 250 }, .nreplies = 1, .wire = "EHLO MAIL RCPT RSET QUIT",
	  .error = "RSET refused" },
	{ .name = "MAIL refused in a later transaction: what was answered stands",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 250 ok\r\n", "C RSET", "S 250 ok\r\n", "C MAIL",
	    "S 451 4.7.1 one message per session\r\n" },
	  .nrcpts = 2, .per_txn = 1, .status = RG_SMTP_DONE, .stage = RG_STAGE_MAIL,
	  .rcpt = { 250 }, .nreplies = 1, .wire = "EHLO MAIL RCPT RSET MAIL QUIT",
	  .error = "later transaction" },
	{ .name = "recipient rejected with a multi-line 550 and 221 at QUIT",
	  .steps = { GREET, "C EHLO", EHLO_PLAIN, "C MAIL", "S 250 ok\r\n", "C RCPT",
	    "S 550-5.1.1 The email account that you tried to reach does not exist.\r\n"
	    "550-5.1.1 Please try double-checking the recipient's email\r\n"
	    "550 5.1.1 address for typos.\r\n" },
	  .status = RG_SMTP_DONE, .stage = RG_STAGE_RCPT, .rcpt = { 550 }, .nreplies = 1,
	  .wire = "EHLO MAIL RCPT QUIT" },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* test_smtp_state_names - every state has its name, and out-of-range is "?". */
static void
test_smtp_state_names(void **state)
{
	(void)state;
	assert_string_equal(rg_smtp_state_name(RG_SMTP_ST_CONNECT), "connect");
	assert_string_equal(rg_smtp_state_name(RG_SMTP_ST_RCPT), "rcpt");
	assert_string_equal(rg_smtp_state_name(RG_SMTP_ST_QUIT), "quit");
	for (int i = 0; i < RG_SMTP_ST_COUNT; i++)
		assert_string_not_equal(rg_smtp_state_name((enum rg_smtp_state)i), "?");
	assert_string_equal(rg_smtp_state_name(RG_SMTP_ST_COUNT), "?");
}

/* test_smtp_refuses_control_bytes - a recipient with CR LF is never started. */
static void
test_smtp_refuses_control_bytes(void **state)
{
	struct event_base *base = event_base_new();
	struct rg_smtp_pool *pool = rg_smtp_pool_new(base);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct rg_smtp_params p;
	struct client cl = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p.p_addr = (const struct sockaddr *)&sin;
	p.p_addrlen = sizeof(sin);
	p.p_helo = "probe.test.example";
	p.p_mail_from = "";
	p.p_rcpts[0] = "a@test.example>\r\nDATA";
	p.p_nrcpts = 1;
	assert_null(rg_smtp_start(pool, &p, client_done, &cl));
	p.p_rcpts[0] = "a@test.example";
	p.p_helo = "probe\rx";
	assert_null(rg_smtp_start(pool, &p, client_done, &cl));
	assert_int_equal(rg_smtp_pool_count(pool), 0);
	assert_int_equal(cl.calls, 0);
	rg_smtp_pool_free(pool);
	event_base_free(base);
}

int
main(void)
{
	struct CMUnitTest tests[NCASES + 2];
	size_t off = 0;
	int rc;

	/* 3000 bytes without a line end, then one; 70 continuation lines. */
	memcpy(big_line, "S 220 ", 6);
	memset(big_line + 6, 'x', sizeof(big_line) - 9);
	memcpy(big_line + sizeof(big_line) - 3, "\r\n", 3);
	off = (size_t)snprintf(many_lines, sizeof(many_lines), "S ");
	for (int i = 0; i < 70; i++)
		off += (size_t)snprintf(many_lines + off, sizeof(many_lines) - off, "250-EXT%d\r\n", i);
	snprintf(many_lines + off, sizeof(many_lines) - off, "250 LAST\r\n");

	server_ctx = server_tls_ctx();
	memset(tests, 0, sizeof(tests));
	for (size_t i = 0; i < NCASES; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = test_smtp_case;
		tests[i].initial_state = (void *)&cases[i];
	}
	tests[NCASES].name = "state names";
	tests[NCASES].test_func = test_smtp_state_names;
	tests[NCASES + 1].name = "control bytes never start a session";
	tests[NCASES + 1].test_func = test_smtp_refuses_control_bytes;
	rc = _cmocka_run_group_tests("smtp", tests, NCASES + 2, NULL, NULL);
	SSL_CTX_free(server_ctx);
	return rc;
}
