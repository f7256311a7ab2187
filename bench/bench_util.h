/*
 * bench_util.h - timing and medians shared by the benchmarks.
 */
#ifndef RG_BENCH_UTIL_H
#define RG_BENCH_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* bench_median - sorts v in place. */
static inline double
bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* bench_sockaddr - unix:/path or inet:host:port. */
static inline int
bench_sockaddr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", spec + 5);
		*len = sizeof(*sun);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		char host[64];
		const char *colon = strrchr(spec + 5, ':');
		if (colon == NULL || (size_t)(colon - spec - 5) >= sizeof(host))
			return -1;
		memcpy(host, spec + 5, (size_t)(colon - spec - 5));
		host[colon - spec - 5] = '\0';
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		*len = sizeof(*sin);
		return 0;
	}
	return -1;
}

/*
 * bench_connect - a connection to spec, added to the epoll set ep with arg;
 * TCP without Nagle. -1 (after saying why) on failure.
 */
static inline int
bench_connect(const char *spec, int ep, void *arg)
{
	struct sockaddr_storage ss;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = arg };
	socklen_t sslen;
	int fd, one = 1;

	if (bench_sockaddr(spec, &ss, &sslen) < 0) {
		fprintf(stderr, "bad socket %s\n", spec);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		perror("connect");
		return -1;
	}
	if (ss.ss_family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	return fd;
}

/* bench_write - all of buf to a blocking or non-blocking fd; -1 on error. */
static inline int
bench_write(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/*
 * bench_report - one line: what was counted per second, and the latency
 * percentiles of lat (seconds; sorted in place).
 */
static inline void
bench_report(const char *what, int nconns, long done, long errors, double elapsed, double *lat,
    long nlat)
{
	qsort(lat, (size_t)nlat, sizeof(*lat), bench_cmp);
	printf("conns=%d %s=%ld errors=%ld req_per_s=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f\n",
	    nconns, what, done, errors, (double)done / elapsed,
	    nlat ? lat[nlat / 2] * 1e6 : 0, nlat ? lat[nlat * 99 / 100] * 1e6 : 0,
	    nlat ? lat[nlat * 999 / 1000] * 1e6 : 0);
}

#endif /* RG_BENCH_UTIL_H */
