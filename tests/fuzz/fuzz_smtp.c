/*
 * fuzz_smtp.c - libFuzzer target for the probe's SMTP client fed a hostile
 * server: the input is everything the "server" sends, in one segment, on a
 * loopback connection the client made (multi-line replies, STARTTLS
 * replies, oversize lines, garbage). The first byte sets what the client
 * offers: TLS, the number of recipients (the fourth needs SMTPUTF8), one
 * recipient per transaction or all in one.
 *
 * Invariants: the callback comes exactly once with a known status, at most
 * one reply per recipient, every reply's text bounded and printable and its
 * code 0 or 200..599; and what the client wrote is only the commands of a
 * probe, each ending in CRLF, never DATA.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "rcptguard/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static SSL_CTX *ssl;
static int lfd = -1;
static struct sockaddr_in laddr;

struct outcome {
	int			 calls;
	struct rg_smtp_result	 res;
};

static void
fuzz_smtp_setup(void)
{
	socklen_t len = sizeof(laddr);

	if ((base = event_base_new()) == NULL || (ssl = rg_smtp_ssl_ctx()) == NULL)
		abort();
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&laddr, 0, sizeof(laddr));
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) < 0 ||
	    listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&laddr, &len) < 0)
		abort();
}

static void
fuzz_smtp_done(const struct rg_smtp_result *res, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->res = *res;
}

static void
fuzz_smtp_check_reply(const struct rg_reply *r)
{
	if (r->r_code != 0 && (r->r_code < 200 || r->r_code > 599))
		abort();
	if (strlen(r->r_text) > RG_REPLY_TEXT_MAX || strlen(r->r_dsn) > RG_REPLY_DSN_MAX)
		abort();
	for (const char *t = r->r_text; *t; t++)
		if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
			abort();
}

/* fuzz_smtp_check_wire - only probe commands, CRLF-terminated, never DATA. */
static void
fuzz_smtp_check_wire(const char *buf, size_t len, int tls)
{
	static const char *const verbs[] = {
		"EHLO ", "HELO ", "STARTTLS", "MAIL FROM:", "RCPT TO:", "RSET", "QUIT", NULL
	};
	const char *p = buf, *end = buf + len;

	if (tls)
		return;		/* after STARTTLS the bytes are TLS records */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		int known = 0;

		if (nl == NULL)
			abort();	/* a command without its line end */
		if (nl == p || nl[-1] != '\r')
			abort();
		for (int i = 0; verbs[i] != NULL; i++)
			if ((size_t)(nl - p) >= strlen(verbs[i]) &&
			    strncasecmp(p, verbs[i], strlen(verbs[i])) == 0)
				known = 1;
		if (!known || strncasecmp(p, "DATA", 4) == 0)
			abort();
		for (const char *q = p; q < nl - 1; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				abort();
		if (strncasecmp(p, "STARTTLS", 8) == 0)
			return;	/* the rest is the handshake */
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = {
		"alice@fuzz.example", "bob@fuzz.example", "rg-0123456789abcdef@fuzz.example",
		"j\xc3\xb6rg@fuzz.example",
	};
	struct rg_smtp_pool *pool;
	struct rg_smtp_params p;
	struct outcome o;
	char wire[65536];
	size_t wlen = 0;
	int sfd = -1, flags;

	if (base == NULL)
		fuzz_smtp_setup();
	if (size < 1)
		return 0;
	flags = data[0];
	memset(&p, 0, sizeof(p));
	memset(&o, 0, sizeof(o));
	p.p_addr = (const struct sockaddr *)&laddr;
	p.p_addrlen = sizeof(laddr);
	p.p_mx_name = "mx.fuzz.example";
	p.p_helo = "probe.fuzz.example";
	p.p_mail_from = (flags & 0x40) ? "" : "postmaster@probe.fuzz.example";
	p.p_nrcpts = 1 + (flags & 3);
	for (int i = 0; i < p.p_nrcpts; i++)
		p.p_rcpts[i] = rcpts[i];
	p.p_rcpt_utf8[3] = 1;	/* "jörg", when there are four */
	p.p_rcpts_per_txn = (flags & 0x20) ? 1 : 0;
	p.p_ssl_ctx = (flags & 4) ? ssl : NULL;
	p.p_connect_timeout = 2;
	p.p_greeting_timeout = 2;
	p.p_command_timeout = 2;
	p.p_session_timeout = 5;

	if ((pool = rg_smtp_pool_new(base)) == NULL)
		abort();
	if (rg_smtp_start(pool, &p, fuzz_smtp_done, &o) == NULL)
		abort();
	/* Accept the client's connection, send the whole script, then EOF. */
	for (int i = 0; i < 1000 && sfd < 0; i++) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 5) == 1)
			sfd = accept(lfd, NULL, NULL);
	}
	if (sfd < 0)
		abort();
	fcntl(sfd, F_SETFL, O_NONBLOCK);
	{
		size_t off = 1;
		while (off < size) {
			ssize_t n = write(sfd, data + off, size - off);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	shutdown(sfd, SHUT_WR);
	/* Run until the result (the 5 s session deadline bounds it), reading what it wrote. */
	for (time_t until = time(NULL) + 15; o.calls == 0 && time(NULL) < until;) {
		ssize_t n;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		while (wlen < sizeof(wire) && (n = read(sfd, wire + wlen, sizeof(wire) - wlen)) > 0)
			wlen += (size_t)n;
		if (o.calls == 0)
			usleep(100);
	}
	if (o.calls != 1)
		abort();
	if ((unsigned)o.res.s_status > RG_SMTP_LOCAL_ERROR || o.res.s_nreplies < 0 ||
	    o.res.s_nreplies > p.p_nrcpts)
		abort();
	fuzz_smtp_check_reply(&o.res.s_reply);
	for (int i = 0; i < o.res.s_nreplies; i++)
		fuzz_smtp_check_reply(&o.res.s_rcpt[i]);
	{
		ssize_t n;
		while (wlen < sizeof(wire) && (n = read(sfd, wire + wlen, sizeof(wire) - wlen)) > 0)
			wlen += (size_t)n;
	}
	fuzz_smtp_check_wire(wire, wlen, 0);
	rg_smtp_pool_free(pool);	/* sessions lingering for the 221 */
	close(sfd);
	/* Nothing of this session may fire later. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
