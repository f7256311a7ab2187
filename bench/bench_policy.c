/*
 * bench_policy.c - load for policy servers, and the reference server.
 *
 *   bench_policy load SOCKET CONNS SECONDS PREFIX DOMAIN NRCPT
 *     CONNS persistent connections (unix:/path or inet:host:port), each
 *     sending a Postfix-like RCPT request and waiting for the whole reply
 *     before the next one, for SECONDS. The recipient of request i is
 *     PREFIX<i % NRCPT>@DOMAIN (NRCPT 0: PREFIX<i>@DOMAIN, every one new).
 *     A DOMAIN of "*.wild.example" puts each at a subdomain of its own,
 *     PREFIX<i>@s<i>.wild.example. BP_COUNT=N in the environment stops
 *     after N requests have been answered, whatever SECONDS says.
 *     Prints one line: req/s and the p50/p99/p99.9 latency in microseconds.
 *
 *   bench_policy server SOCKET
 *     The reference: one thread and epoll, like the daemon, reading each
 *     request to its empty line, splitting it into name=value pairs and
 *     answering "action=DUNNO". The most any policy server can do here.
 */
#include "rg_build.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench_util.h"

#define BP_BUF		8192
#define BP_MAX_CONNS	1024
#define BP_MAX_SAMPLES	(8 * 1024 * 1024)

/* ---- the load client ------------------------------------------------------- */

struct bp_conn {
	int	fd;
	char	in[BP_BUF];
	size_t	inlen;
	double	sent_at;
};

static const char *bp_prefix, *bp_domain;
static long bp_nrcpt;
static long bp_seq;

static size_t
bp_request(char *buf, size_t size)
{
	char rcpt[320];
	long i = bp_seq++;
	int n;

	if (strncmp(bp_domain, "*.", 2) == 0)
		snprintf(rcpt, sizeof(rcpt), "%s%ld@s%ld.%s", bp_prefix, i, i, bp_domain + 2);
	else
		snprintf(rcpt, sizeof(rcpt), "%s%ld@%s", bp_prefix, bp_nrcpt > 0 ? i % bp_nrcpt : i,
		    bp_domain);
	/* The attributes Postfix 3.7 sends at RCPT, in its order. */
	n = snprintf(buf, size,
	    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
	    "client_address=192.0.2.10\nclient_name=relay.example.com\n"
	    "client_port=49152\nreverse_client_name=relay.example.com\n"
	    "server_address=192.0.2.1\nserver_port=25\nhelo_name=relay.example.com\n"
	    "sender=news@example.com\nrecipient=%s\nrecipient_count=0\n"
	    "queue_id=\ninstance=a1b2.5f3e7d21.c4a1d.0\nsize=0\netrn_domain=\n"
	    "stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
	    "ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
	    "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\n"
	    "policy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n", rcpt);
	return (size_t)n;
}

static int
bp_send(struct bp_conn *c)
{
	char req[2048];
	size_t len = bp_request(req, sizeof(req));

	c->sent_at = bench_now();
	return bench_write(c->fd, req, len);
}

static int
bp_load(const char *spec, int nconns, double secs)
{
	struct bp_conn *conns = calloc((size_t)nconns, sizeof(*conns));
	double *lat = malloc(sizeof(double) * BP_MAX_SAMPLES), t0, end;
	long nlat = 0, done = 0, errors = 0, count = getenv("BP_COUNT") ? atol(getenv("BP_COUNT")) : 0;
	int ep = epoll_create1(0);

	if (conns == NULL || lat == NULL || ep < 0) {
		fprintf(stderr, "bench_policy: bad socket %s\n", spec);
		return 2;
	}
	for (int i = 0; i < nconns; i++) {
		if ((conns[i].fd = bench_connect(spec, ep, &conns[i])) < 0)
			return 2;
	}
	t0 = bench_now();
	end = t0 + secs;
	for (int i = 0; i < nconns; i++)
		bp_send(&conns[i]);
	while (bench_now() < end && (count == 0 || done < count)) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		for (int k = 0; k < n; k++) {
			struct bp_conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen - 1);
			char *eor;
			if (r <= 0) {
				fprintf(stderr, "bench_policy: the server closed a connection\n");
				return 1;
			}
			c->inlen += (size_t)r;
			c->in[c->inlen] = '\0';
			while ((eor = strstr(c->in, "\n\n")) != NULL) {
				size_t used = (size_t)(eor + 2 - c->in);
				double now = bench_now();
				if (strncmp(c->in, "action=", 7) != 0)
					errors++;
				if (nlat < BP_MAX_SAMPLES)
					lat[nlat++] = now - c->sent_at;
				done++;
				memmove(c->in, c->in + used, c->inlen - used + 1);
				c->inlen -= used;
				if (now < end && (count == 0 || bp_seq < count))
					bp_send(c);
			}
		}
	}
	bench_report("requests", nconns, done, errors, bench_now() - t0, lat, nlat);
	for (int i = 0; i < nconns; i++)
		close(conns[i].fd);
	close(ep);
	free(conns);
	free(lat);
	return errors ? 1 : 0;
}

/* ---- the reference server -------------------------------------------------- */

struct bp_sconn {
	int	fd;
	char	buf[BP_BUF];
	size_t	len;
	int	nattrs;
};

/* bp_serve - answer every complete request in the buffer; -1 to close. */
static int
bp_serve(struct bp_sconn *c)
{
	size_t start = 0;

	for (;;) {
		char *nl = memchr(c->buf + start, '\n', c->len - start);
		size_t linelen;
		if (nl == NULL)
			break;
		linelen = (size_t)(nl - (c->buf + start));
		if (linelen == 0) {
			static const char dunno[] = "action=DUNNO\n\n";
			if (c->nattrs == 0 || write(c->fd, dunno, sizeof(dunno) - 1) < 0)
				return -1;
			c->nattrs = 0;
		} else {
			if (memchr(c->buf + start, '=', linelen) == NULL)
				return -1;
			c->nattrs++;
		}
		start += linelen + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	return c->len == sizeof(c->buf) ? -1 : 0;
}

static int
bp_server(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int lfd, ep = epoll_create1(0), one = 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (bench_sockaddr(spec, &ss, &sslen) < 0)
		return 2;
	if (ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, sslen) < 0 || listen(lfd, 1024) < 0) {
		perror("bench_policy server");
		return 2;
	}
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		for (int k = 0; k < n; k++) {
			struct bp_sconn *c = evs[k].data.ptr;
			if (c == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct bp_sconn *nc = calloc(1, sizeof(*nc));
					struct epoll_event nev = { .events = EPOLLIN };
					nc->fd = fd;
					nev.data.ptr = nc;
					if (ss.ss_family == AF_INET)
						setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &nev);
				}
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r > 0) {
				c->len += (size_t)r;
				if (bp_serve(c) == 0)
					continue;
			} else if (r < 0 && errno == EAGAIN) {
				continue;
			}
			close(c->fd);
			free(c);
		}
	}
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return bp_server(argv[2]);
	if (argc == 8 && strcmp(argv[1], "load") == 0) {
		int conns = atoi(argv[3]);
		if (conns < 1 || conns > BP_MAX_CONNS)
			return 2;
		bp_prefix = argv[5];
		bp_domain = argv[6];
		bp_nrcpt = atol(argv[7]);
		return bp_load(argv[2], conns, atof(argv[4]));
	}
	fprintf(stderr, "usage: bench_policy load SOCKET CONNS SECONDS PREFIX DOMAIN NRCPT\n"
	    "       bench_policy server SOCKET\n");
	return 2;
}
