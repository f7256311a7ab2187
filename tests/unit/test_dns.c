/*
 * test_dns.c - the resolver under a burst: a thousand MX lookups started
 * at once all resolve, while the DNS server of the test never sees more
 * than the resolver's bound of MX queries outstanding (answers that
 * overflow a socket buffer are lost, and cost a timeout each); and a
 * resolver freed with lookups queued calls none of them and leaks nothing.
 *
 * The server is a UDP socket on the test's own event loop that holds the
 * queries it reads and answers them all every few milliseconds: every
 * dN.burst.test has the MX mx.burst.test, which is 127.0.0.1 and has no
 * IPv6 address.
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
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "rcptguard/config.h"
#include "rcptguard/dns.h"
#include "rcptguard/util.h"
#include "testutil.h"

#define BURST		1000
#define HELD_MAX	4096
#define T_MX		15
#define T_A		1
#define T_AAAA		28

struct held {
	struct sockaddr_in	 from;
	unsigned char		 q[512];
	size_t			 len;
	int			 type;
};

static struct {
	int			 fd;
	struct event_base	*base;
	struct held		 held[HELD_MAX];
	int			 nheld;
	int			 mx_out, mx_out_max;	/* MX queries read, not answered */
	int			 done, ok, bad_host;
} srv;

/* put16 - a big-endian 16-bit field. */
static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* encode_name - dotted name into DNS labels at p; the length written. */
static size_t
encode_name(unsigned char *p, const char *name)
{
	size_t n = 0;

	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t l = dot != NULL ? (size_t)(dot - name) : strlen(name);
		p[n++] = (unsigned char)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot != NULL);
	}
	p[n++] = 0;
	return n;
}

/* answer - the reply to one held query, sent. */
static void
answer(const struct held *h)
{
	unsigned char r[600];
	size_t n = h->len;

	memcpy(r, h->q, n);
	r[2] = 0x84 | (h->q[2] & 0x01);	/* QR, AA, RD copied */
	r[3] = 0x80;			/* RA, NOERROR */
	put16(r + 6, h->type == T_AAAA ? 0 : 1);
	put16(r + 8, 0);
	put16(r + 10, 0);
	if (h->type == T_MX || h->type == T_A) {
		put16(r + n, 0xc00c);	/* the question's name */
		put16(r + n + 2, (unsigned)h->type);
		put16(r + n + 4, 1);
		put16(r + n + 6, 0);
		put16(r + n + 8, 300);
		if (h->type == T_MX) {
			size_t l;
			put16(r + n + 12, 10);
			l = encode_name(r + n + 14, "mx.burst.test");
			put16(r + n + 10, (unsigned)(l + 2));
			n += 14 + l;
		} else {
			put16(r + n + 10, 4);
			r[n + 12] = 127, r[n + 13] = 0, r[n + 14] = 0, r[n + 15] = 1;
			n += 16;
		}
	}
	assert_true(sendto(srv.fd, r, n, 0, (const struct sockaddr *)&h->from,
	    sizeof(h->from)) == (ssize_t)n);
}

/* on_query - read every waiting query and hold it. */
static void
on_query(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	for (;;) {
		struct held *h = &srv.held[srv.nheld];
		socklen_t fl = sizeof(h->from);
		ssize_t n;
		size_t qn = 12;

		assert_true(srv.nheld < HELD_MAX);
		n = recvfrom(fd, h->q, sizeof(h->q), MSG_DONTWAIT, (struct sockaddr *)&h->from, &fl);
		if (n < 0)
			return;
		/* Skip the question's name to its type; nothing here is compressed. */
		while (qn < (size_t)n && h->q[qn] != 0)
			qn += (size_t)h->q[qn] + 1;
		assert_true(qn + 5 <= (size_t)n);
		h->type = h->q[qn + 1] << 8 | h->q[qn + 2];
		h->len = qn + 5;	/* header and question: the rest (EDNS) is dropped */
		put16(h->q + 10, 0);
		if (h->type == T_MX && ++srv.mx_out > srv.mx_out_max)
			srv.mx_out_max = srv.mx_out;
		srv.nheld++;
	}
}

/* on_tick - answer everything held, as a resolver answering a burst would. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (int i = 0; i < srv.nheld; i++) {
		answer(&srv.held[i]);
		srv.mx_out -= srv.held[i].type == T_MX;
	}
	srv.nheld = 0;
}

static void
on_mx(const struct rg_mx_result *res, void *arg)
{
	(void)arg;
	srv.done++;
	if (res->m_status == RG_DNS_OK) {
		srv.ok++;
		if (res->m_nhosts != 1 || strcmp(res->m_hosts[0].h_name, "mx.burst.test") != 0 ||
		    res->m_hosts[0].h_naddrs != 1)
			srv.bad_host++;
	}
	if (srv.done == BURST)
		event_base_loopbreak(srv.base);
}

static void
on_limit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
on_unexpected(const struct rg_mx_result *res, void *arg)
{
	(void)res;
	(void)arg;
	fail_msg("a lookup freed with its resolver was answered");
}

/* setup_resolver - the server's socket, a config that points at it, the loop. */
static struct rg_dns *
setup_resolver(struct rg_config *cfg, char **dir)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rg_dns *dns;
	char err[512];

	memset(&srv, 0, sizeof(srv));
	*dir = testutil_tmpdir();
	testutil_config(cfg, *dir);
	srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(srv.fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(srv.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(cfg->dns_servers, sizeof(cfg->dns_servers), "127.0.0.1:%d", ntohs(sin.sin_port));
	cfg->dns_timeout = 20;	/* a lost answer would show as a failed lookup, not a retry */
	cfg->dns_tries = 1;
	srv.base = event_base_new();
	assert_non_null(srv.base);
	dns = rg_dns_new(srv.base, cfg, err, sizeof(err));
	if (dns == NULL)
		fail_msg("rg_dns_new: %s", err);
	return dns;
}

static void
teardown_resolver(struct rg_dns *dns, char *dir)
{
	rg_dns_free(dns);
	event_base_free(srv.base);
	close(srv.fd);
	testutil_rmdir(dir);
}

static void
test_burst_resolves_within_bound(void **state)
{
	struct rg_config cfg;
	struct event *rd, *tick, *limit;
	struct timeval tv = { 0, 5000 }, bound = { 60, 0 };
	char *dir, name[64];
	struct rg_dns *dns = setup_resolver(&cfg, &dir);

	(void)state;
	rd = event_new(srv.base, srv.fd, EV_READ | EV_PERSIST, on_query, NULL);
	tick = event_new(srv.base, -1, EV_PERSIST, on_tick, NULL);
	limit = evtimer_new(srv.base, on_limit, srv.base);
	event_add(rd, NULL);
	event_add(tick, &tv);
	evtimer_add(limit, &bound);
	for (int i = 0; i < BURST; i++) {
		snprintf(name, sizeof(name), "d%d.burst.test", i);
		assert_int_equal(rg_dns_lookup_mx(dns, name, on_mx, NULL), 0);
	}
	event_base_dispatch(srv.base);
	assert_int_equal(srv.done, BURST);
	assert_int_equal(srv.ok, BURST);
	assert_int_equal(srv.bad_host, 0);
	assert_true(srv.mx_out_max > 1);	/* lookups do run side by side */
	assert_true(srv.mx_out_max <= 64);
	event_free(rd);
	event_free(tick);
	event_free(limit);
	teardown_resolver(dns, dir);
}

static void
test_free_with_queued_lookups(void **state)
{
	struct rg_config cfg;
	char *dir, name[64];
	struct rg_dns *dns = setup_resolver(&cfg, &dir);

	(void)state;
	/* Nothing answers: most of these wait in the queue when the resolver goes. */
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "q%d.burst.test", i);
		assert_int_equal(rg_dns_lookup_mx(dns, name, on_unexpected, NULL), 0);
	}
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	teardown_resolver(dns, dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_resolves_within_bound),
		cmocka_unit_test(test_free_with_queued_lookups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
