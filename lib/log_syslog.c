/*
 * log_syslog.c - the daemons' own syslog client: one datagram per line to
 * the syslog socket (/dev/log, or syslog_socket), in the line format of
 * syslog(3), "<PRI>Mmm dd hh:mm:ss ident[pid]: text", facility mail.
 *
 * Why not syslog(3): it costs a formatting pass through a memory stream,
 * a clock and time zone lookup and a send() per line, and each send wakes
 * the syslog daemon for one line. Here a line is queued as it is made and
 * the queue leaves with one sendmmsg() per event-loop turn (or per tick of
 * the milter's main thread), so a busy daemon pays one system call per
 * turn and the syslog daemon reads a turn's lines in one wake-up. Lines
 * keep their order and are never merged: each stays its own message.
 *
 * Backpressure: when the syslog daemon is slow its socket fills and
 * sendmmsg() stops short; what was not sent stays queued for the next
 * turn. Only a full queue makes the caller wait, for the socket to take
 * more (RG_SYSLOG_WAIT_MS at a time, as syslog(3) would block). When the
 * socket refuses (the syslog daemon restarted or is gone) the client
 * connects again; lines it cannot deliver for RG_SYSLOG_GIVE_UP_MS are
 * counted and the count is logged once syslog takes lines again.
 *
 * The caller holds log.c's lock around every call here.
 */
#include "rg_build.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_impl.h"

#define RG_SYSLOG_QBYTES	(1024 * 1024)	/* queued bytes before the caller waits */
#define RG_SYSLOG_QLINES	4096		/* queued lines, likewise */
#define RG_SYSLOG_BATCH		1024		/* lines per sendmmsg (UIO_MAXIOV) */
#define RG_SYSLOG_EAGER		64		/* queued lines sent without waiting for the turn */
#define RG_SYSLOG_WAIT_MS	1000		/* one wait for room in the socket */
#define RG_SYSLOG_GIVE_UP_MS	5000		/* then the oldest lines are dropped, counted */
#define RG_SYSLOG_RETRY_MS	1000		/* a refused socket is asked again after this */
#define RG_SYSLOG_FACILITY	(2 << 3)	/* LOG_MAIL */

static char rg_syslog_path[sizeof(((struct sockaddr_un *)0)->sun_path)] = "/dev/log";
static int rg_syslog_fd = -1;
static char rg_syslog_head[96];		/* "ident[pid]: " */
static size_t rg_syslog_headlen;
static char *rg_syslog_q;		/* datagrams back to back */
static size_t rg_syslog_qlen;
static size_t rg_syslog_off[RG_SYSLOG_QLINES], rg_syslog_len[RG_SYSLOG_QLINES];
static int rg_syslog_n;
static unsigned long long rg_syslog_lost;
static int64_t rg_syslog_next_try;	/* monotonic ms */
static int rg_syslog_full;		/* the socket said EAGAIN since the last turn */
static struct mmsghdr rg_syslog_msgs[RG_SYSLOG_BATCH];
static struct iovec rg_syslog_iov[RG_SYSLOG_BATCH];
static time_t rg_syslog_stamp_at = -1;	/* the second rg_syslog_stamp was made for */
static char rg_syslog_stamp[20];	/* "Dec  4 21:37:52 " */

static int64_t
rg_syslog_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* rg_syslog_connect - a datagram socket connected to the path; -1 when it is not there. */
static int
rg_syslog_connect(void)
{
	struct sockaddr_un sun;
	int fd;

	if (rg_syslog_fd >= 0)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, rg_syslog_path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	rg_syslog_fd = fd;
	return 0;
}

static void
rg_syslog_disconnect(void)
{
	if (rg_syslog_fd >= 0)
		close(rg_syslog_fd);
	rg_syslog_fd = -1;
}

int
rg_syslog_open(const char *ident, long pid)
{
	rg_syslog_headlen = (size_t)snprintf(rg_syslog_head, sizeof(rg_syslog_head), "%s[%ld]: ",
	    ident, pid);
	if (rg_syslog_headlen >= sizeof(rg_syslog_head))
		rg_syslog_headlen = sizeof(rg_syslog_head) - 1;
	if (rg_syslog_q == NULL && (rg_syslog_q = malloc(RG_SYSLOG_QBYTES)) == NULL)
		return -1;
	rg_syslog_disconnect();
	return rg_syslog_connect();
}

int
rg_syslog_set_path(const char *path)
{
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(rg_syslog_path))
		return -1;
	if (strcmp(path, rg_syslog_path) == 0)
		return 0;
	snprintf(rg_syslog_path, sizeof(rg_syslog_path), "%s", path);
	rg_syslog_disconnect();
	if (rg_syslog_q != NULL)
		rg_syslog_connect();
	return 0;
}

/*
 * rg_syslog_send_some - hand the queue to the socket: 1 when it is empty,
 * 0 when the socket is full (what is left stays), -1 when it refuses.
 */
static int
rg_syslog_send_some(void)
{
	int sent = 0, batch, k;

	if (rg_syslog_n == 0)
		return 1;
	if (rg_syslog_fd < 0 && rg_syslog_connect() < 0)
		return -1;
	while (sent < rg_syslog_n) {
		batch = rg_syslog_n - sent < RG_SYSLOG_BATCH ? rg_syslog_n - sent : RG_SYSLOG_BATCH;
		memset(rg_syslog_msgs, 0, sizeof(*rg_syslog_msgs) * (size_t)batch);
		for (int i = 0; i < batch; i++) {
			rg_syslog_iov[i].iov_base = rg_syslog_q + rg_syslog_off[sent + i];
			rg_syslog_iov[i].iov_len = rg_syslog_len[sent + i];
			rg_syslog_msgs[i].msg_hdr.msg_iov = &rg_syslog_iov[i];
			rg_syslog_msgs[i].msg_hdr.msg_iovlen = 1;
		}
		do
			k = sendmmsg(rg_syslog_fd, rg_syslog_msgs, (unsigned)batch,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		while (k < 0 && errno == EINTR);
		if (k < 0) {
			if (errno == EAGAIN) {
				rg_syslog_full = 1;
				break;
			}
			if (sent > 0)
				break;	/* keep what went; the error comes back next time */
			rg_syslog_disconnect();	/* refused or gone: connect again next time */
			return -1;
		}
		sent += k;
		if (k < batch) {
			rg_syslog_full = 1;
			break;
		}
	}
	/* The lines sent leave the queue; the rest move to its front, in order. */
	if (sent == rg_syslog_n) {
		rg_syslog_n = 0;
		rg_syslog_qlen = 0;
		return 1;
	}
	if (sent > 0) {
		size_t base = rg_syslog_off[sent];
		memmove(rg_syslog_q, rg_syslog_q + base, rg_syslog_qlen - base);
		rg_syslog_qlen -= base;
		for (int i = sent; i < rg_syslog_n; i++) {
			rg_syslog_off[i - sent] = rg_syslog_off[i] - base;
			rg_syslog_len[i - sent] = rg_syslog_len[i];
		}
		rg_syslog_n -= sent;
	}
	return 0;
}

/* rg_syslog_drop - the queue cannot be delivered: count its lines as lost. */
static void
rg_syslog_drop(void)
{
	rg_syslog_lost += (unsigned long long)rg_syslog_n;
	rg_syslog_n = 0;
	rg_syslog_qlen = 0;
}

static void rg_syslog_put(int prio, const char *line, size_t len);

/* rg_syslog_report_lost - once lines go again, say how many did not. */
static void
rg_syslog_report_lost(void)
{
	char msg[128];
	int n;

	if (rg_syslog_lost == 0)
		return;
	n = snprintf(msg, sizeof(msg), "warning: %llu log lines were lost while syslog did not "
	    "take them", rg_syslog_lost);
	rg_syslog_lost = 0;
	rg_syslog_put(4, msg, (size_t)n);
}

void
rg_syslog_flush(int wait)
{
	int64_t start = rg_syslog_now_ms();
	int rc;

	rg_syslog_full = 0;	/* a new turn: the socket may have room again */
	while ((rc = rg_syslog_send_some()) != 1) {
		if (rc < 0) {
			/* Refused: once more on a fresh socket, and that not more than once a second. */
			int64_t now = rg_syslog_now_ms();
			if (now < rg_syslog_next_try || (rc = rg_syslog_send_some()) < 0) {
				if (now >= rg_syslog_next_try)
					rg_syslog_next_try = now + RG_SYSLOG_RETRY_MS;
				if (wait)
					rg_syslog_drop();
				return;
			}
			if (rc == 1)
				break;
		}
		if (!wait)
			return;
		if (rg_syslog_now_ms() - start >= RG_SYSLOG_GIVE_UP_MS) {
			rg_syslog_drop();
			return;
		}
		{
			struct pollfd pfd = { .fd = rg_syslog_fd, .events = POLLOUT };
			if (poll(&pfd, 1, RG_SYSLOG_WAIT_MS) < 0 && errno != EINTR)
				return;
		}
	}
	rg_syslog_report_lost();
	if (rg_syslog_lost == 0 && rg_syslog_n > 0)
		rg_syslog_send_some();
}

/* rg_syslog_put - queue one datagram: <PRI>, the time, ident[pid]: and the line. */
static void
rg_syslog_put(int prio, const char *line, size_t len)
{
	size_t need = 8 + sizeof(rg_syslog_stamp) + rg_syslog_headlen + len, o;
	time_t t = time(NULL);
	char *p;

	if (rg_syslog_q == NULL)
		return;
	if (need > RG_SYSLOG_QBYTES)
		len = RG_SYSLOG_QBYTES - (need - len);
	if (rg_syslog_n == RG_SYSLOG_QLINES || rg_syslog_qlen + need > RG_SYSLOG_QBYTES)
		rg_syslog_flush(1);
	if (rg_syslog_n == RG_SYSLOG_QLINES || rg_syslog_qlen + need > RG_SYSLOG_QBYTES) {
		rg_syslog_lost++;
		return;
	}
	if (t != rg_syslog_stamp_at) {
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(rg_syslog_stamp, sizeof(rg_syslog_stamp), "%b %e %H:%M:%S ", &tm);
		rg_syslog_stamp_at = t;
	}
	p = rg_syslog_q + rg_syslog_qlen;
	o = (size_t)snprintf(p, 8, "<%d>", RG_SYSLOG_FACILITY | prio);
	memcpy(p + o, rg_syslog_stamp, strlen(rg_syslog_stamp));
	o += strlen(rg_syslog_stamp);
	memcpy(p + o, rg_syslog_head, rg_syslog_headlen);
	o += rg_syslog_headlen;
	memcpy(p + o, line, len);
	o += len;
	rg_syslog_off[rg_syslog_n] = rg_syslog_qlen;
	rg_syslog_len[rg_syslog_n++] = o;
	rg_syslog_qlen += o;
	/*
	 * Threads that log between the milter's ticks: a batch leaves once it
	 * is large, without waiting, unless the socket was full this turn.
	 */
	if (rg_syslog_n >= RG_SYSLOG_EAGER && !rg_syslog_full && rg_syslog_fd >= 0)
		rg_syslog_send_some();
}

void
rg_syslog_line(int prio, const char *what, const char *line, size_t len, int buffered)
{
	if (what != NULL) {
		char tmp[RG_LOG_LINE_MAX + 32];
		size_t w = strlen(what);
		if (len > sizeof(tmp) - w - 2)
			len = sizeof(tmp) - w - 2;
		memcpy(tmp, what, w);
		memcpy(tmp + w, ": ", 2);
		memcpy(tmp + w + 2, line, len);
		rg_syslog_put(prio, tmp, w + 2 + len);
	} else {
		rg_syslog_put(prio, line, len);
	}
	if (!buffered)
		rg_syslog_flush(1);
}

void
rg_syslog_close(void)
{
	rg_syslog_flush(1);
	rg_syslog_disconnect();
	free(rg_syslog_q);
	rg_syslog_q = NULL;
	rg_syslog_n = 0;
	rg_syslog_qlen = 0;
}
