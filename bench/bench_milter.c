/*
 * bench_milter.c - load for milters, and the reference filter.
 *
 *   bench_milter load SOCKET CONNS SECONDS K PREFIX DOMAIN NRCPT
 *     CONNS connections (unix:/path or inet:host:port) speaking the milter
 *     protocol as Postfix does: negotiate, connect, then for SECONDS loop
 *     MAIL (with the i macro), K x RCPT, ABORT, each command waiting for
 *     its reply. Recipient j is PREFIX<j % NRCPT>@DOMAIN. Prints one line:
 *     RCPT verdicts/s and the p50/p99/p99.9 latency of a RCPT in
 *     microseconds.
 *
 *   bench_milter filter SOCKET
 *     The reference: a libmilter filter whose envrcpt returns
 *     SMFIS_CONTINUE and that does nothing else. The most any libmilter
 *     filter can do here.
 */
#include "rg_build.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "bench_util.h"

#define BM_MAX_CONNS	1024
#define BM_MAX_SAMPLES	(8 * 1024 * 1024)
#define BM_BUF		4096

/* ---- the load client ------------------------------------------------------- */

enum bm_step { BM_NEG, BM_CONNECT, BM_MAIL, BM_RCPT };

struct bm_conn {
	int		fd;
	enum bm_step	step;
	int		rcpts;		/* RCPTs of the current message */
	unsigned char	in[BM_BUF];
	size_t		inlen;
	double		sent_at;
};

static const char *bm_prefix, *bm_domain;
static long bm_nrcpt, bm_seq, bm_k;

/* bm_packet - one milter packet: length, command, data. */
static size_t
bm_packet(unsigned char *buf, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)len + 1);

	memcpy(buf, &n, 4);
	buf[4] = (unsigned char)cmd;
	memcpy(buf + 5, data, len);
	return len + 5;
}

/* bm_next - send the command of the connection's current step. */
static int
bm_next(struct bm_conn *c)
{
	unsigned char buf[1024], data[512];
	size_t len = 0, dl;

	switch (c->step) {
	case BM_NEG: {
		uint32_t v[3] = { htonl(6), htonl(SMFI_CURR_ACTS), htonl(SMFI_CURR_PROT) };
		len = bm_packet(buf, SMFIC_OPTNEG, v, sizeof(v));
		break;
	}
	case BM_CONNECT:
		memcpy(data, "relay.example.com\0" "4\0\x19" "192.0.2.10\0", 32);
		len = bm_packet(buf, SMFIC_CONNECT, data, 32);
		break;
	case BM_MAIL:
		/* The previous message, if any, ends with ABORT (no reply). */
		if (c->rcpts > 0)
			len = bm_packet(buf, SMFIC_ABORT, "", 0);
		c->rcpts = 0;
		dl = (size_t)snprintf((char *)data, sizeof(data), "Mi%c%08lX%c", 0, bm_seq & 0xffffffff, 0);
		len += bm_packet(buf + len, SMFIC_MACRO, data, dl);
		dl = (size_t)snprintf((char *)data, sizeof(data), "<news@example.com>");
		len += bm_packet(buf + len, SMFIC_MAIL, data, dl + 1);
		break;
	case BM_RCPT: {
		long i = bm_seq++;
		dl = (size_t)snprintf((char *)data, sizeof(data), "<%s%ld@%s>", bm_prefix,
		    bm_nrcpt > 0 ? i % bm_nrcpt : i, bm_domain);
		len = bm_packet(buf, SMFIC_RCPT, data, dl + 1);
		break;
	}
	}
	c->sent_at = bench_now();
	return bench_write(c->fd, buf, len);
}

/*
 * bm_reply - one reply came for the current step: move to the next. Returns
 * 1 when it was the verdict of a RCPT, 0 otherwise, -1 on a protocol error.
 */
static int
bm_reply(struct bm_conn *c, unsigned char cmd)
{
	switch (c->step) {
	case BM_NEG:
		if (cmd != SMFIC_OPTNEG)
			return -1;
		c->step = BM_CONNECT;
		return 0;
	case BM_CONNECT:
		if (cmd != SMFIR_CONTINUE)
			return -1;
		c->step = BM_MAIL;
		return 0;
	case BM_MAIL:
		if (cmd != SMFIR_CONTINUE)
			return -1;
		c->step = BM_RCPT;
		return 0;
	case BM_RCPT:
		if (cmd != SMFIR_CONTINUE && cmd != SMFIR_REPLYCODE && cmd != SMFIR_REJECT &&
		    cmd != SMFIR_TEMPFAIL)
			return -1;
		if (++c->rcpts >= bm_k)
			c->step = BM_MAIL;
		return 1;
	}
	return -1;
}

static int
bm_load(const char *spec, int nconns, double secs)
{
	struct bm_conn *conns = calloc((size_t)nconns, sizeof(*conns));
	double *lat = malloc(sizeof(double) * BM_MAX_SAMPLES), t0 = 0, end = 0;
	long nlat = 0, done = 0, errors = 0;
	int ep = epoll_create1(0), ready = 0;

	if (conns == NULL || lat == NULL || ep < 0) {
		fprintf(stderr, "bench_milter: bad socket %s\n", spec);
		return 2;
	}
	for (int i = 0; i < nconns; i++) {
		if ((conns[i].fd = bench_connect(spec, ep, &conns[i])) < 0)
			return 2;
		bm_next(&conns[i]);
	}
	/* The clock starts when every connection has negotiated and connected. */
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		double now;

		if (ready == nconns && t0 == 0) {
			t0 = bench_now();
			end = t0 + secs;
			for (int i = 0; i < nconns; i++)
				bm_next(&conns[i]);
		}
		now = bench_now();
		if (t0 != 0 && now >= end)
			break;
		for (int k = 0; k < n; k++) {
			struct bm_conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);

			if (r <= 0) {
				fprintf(stderr, "bench_milter: the filter closed a connection\n");
				return 1;
			}
			c->inlen += (size_t)r;
			while (c->inlen >= 5) {
				uint32_t plen;
				size_t used;
				int rc;

				memcpy(&plen, c->in, 4);
				plen = ntohl(plen);
				if (plen == 0 || plen > sizeof(c->in) - 4) {
					fprintf(stderr, "bench_milter: a bad packet from the filter\n");
					return 1;
				}
				used = plen + 4;
				if (c->inlen < used)
					break;
				now = bench_now();
				if ((rc = bm_reply(c, c->in[4])) < 0)
					errors++;
				if (rc == 1) {
					if (nlat < BM_MAX_SAMPLES)
						lat[nlat++] = now - c->sent_at;
					done++;
				}
				memmove(c->in, c->in + used, c->inlen - used);
				c->inlen -= used;
				if (c->step == BM_MAIL && c->rcpts == 0 && t0 == 0) {
					ready++;	/* negotiated and connected: wait for the start */
					continue;
				}
				if (t0 == 0 || now < end)
					bm_next(c);
			}
		}
	}
	bench_report("rcpts", nconns, done, errors, bench_now() - t0, lat, nlat);
	for (int i = 0; i < nconns; i++)
		close(conns[i].fd);
	close(ep);
	free(conns);
	free(lat);
	return errors ? 1 : 0;
}

/* ---- the reference filter ---------------------------------------------------- */

static sfsistat
bm_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static int
bm_filter(const char *spec)
{
	struct smfiDesc desc = {
		.xxfi_name = "bench_milter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_envrcpt = bm_envrcpt,
	};

	if (smfi_setconn((char *)spec) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS ||
	    smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "bench_milter: cannot listen on %s\n", spec);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "filter") == 0)
		return bm_filter(argv[2]);
	if (argc == 9 && strcmp(argv[1], "load") == 0) {
		int conns = atoi(argv[3]);
		if (conns < 1 || conns > BM_MAX_CONNS || (bm_k = atol(argv[5])) < 1)
			return 2;
		bm_prefix = argv[6];
		bm_domain = argv[7];
		bm_nrcpt = atol(argv[8]);
		return bm_load(argv[2], conns, atof(argv[4]));
	}
	fprintf(stderr, "usage: bench_milter load SOCKET CONNS SECONDS K PREFIX DOMAIN NRCPT\n"
	    "       bench_milter filter SOCKET\n");
	return 2;
}
