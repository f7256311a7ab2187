/*
 * metrics_read.c - fetch and read a daemon's /metrics for `rcptguard stats`.
 *
 * The client is as small as the job: one connection, HTTP/1.0 so the
 * server closes when it is done, a deadline over the whole exchange, a cap
 * on the size. Whatever answers on that port is untrusted: a sample line is
 * kept only when it parses whole (a series of printable bytes without
 * spaces outside quotes, then a number), and the series are only ever
 * compared with the names stats asks for.
 */
#include "rg_build.h"

#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "metrics_read.h"
#include "rcptguard/clock.h"
#include "rcptguard/exporter.h"

void
cli_samples_free(struct cli_samples *ss)
{
	for (size_t i = 0; i < ss->ss_n; i++)
		free(ss->ss_v[i].s_series);
	free(ss->ss_v);
	ss->ss_v = NULL;
	ss->ss_n = 0;
}

/* cli_metrics_series_end - where a series ends (the space before its value), or NULL. */
static const char *
cli_metrics_series_end(const char *p, const char *end)
{
	int quoted = 0, braces = 0;

	for (; p < end; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f)
			return NULL;
		if (quoted) {
			if (ch == '\\' && p + 1 < end) {
				unsigned char esc = (unsigned char)*++p;	/* escaped, but a byte all the same */
				if (esc < 0x20 || esc == 0x7f)
					return NULL;
			} else if (ch == '"') {
				quoted = 0;
			}
			continue;
		}
		if (ch == '"' && braces)
			quoted = 1;
		else if (ch == '{')
			braces++;
		else if (ch == '}')
			braces--;
		else if (ch == ' ')
			return braces == 0 ? p : NULL;
	}
	return NULL;
}

static int
cli_metrics_line(const char *p, const char *end, struct cli_samples *out, size_t *cap)
{
	const char *sp;
	char num[64], *e;
	size_t vlen;
	double v;

	if (p == end || *p == '#' || (sp = cli_metrics_series_end(p, end)) == NULL || sp == p)
		return 0;
	/* The value, then an optional timestamp: only the value is kept. The line is not NUL-ended. */
	for (vlen = 0; sp + 1 + vlen < end && sp[1 + vlen] != ' ' && sp[1 + vlen] != '\n'; vlen++)
		;
	if (vlen == 0 || vlen >= sizeof(num))
		return 0;
	memcpy(num, sp + 1, vlen);
	num[vlen] = '\0';
	if (strcmp(num, "+Inf") == 0)
		v = INFINITY;
	else if (strcmp(num, "-Inf") == 0)
		v = -INFINITY;
	else if (strcmp(num, "NaN") == 0)
		v = NAN;
	else {
		errno = 0;
		v = strtod(num, &e);
		if (*e != '\0' || errno == ERANGE || isnan(v) || isinf(v))
			return 0;
	}
	if (out->ss_n >= CLI_METRICS_MAX_SAMPLES)
		return 0;
	if (out->ss_n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct cli_sample *nv = realloc(out->ss_v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		out->ss_v = nv;
		*cap = ncap;
	}
	if ((out->ss_v[out->ss_n].s_series = strndup(p, (size_t)(sp - p))) == NULL)
		return -1;
	out->ss_v[out->ss_n++].s_value = v;
	return 0;
}

int
cli_metrics_parse(const char *text, size_t len, struct cli_samples *out)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;

	out->ss_v = NULL;
	out->ss_n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl != NULL ? nl : end;
		if (cli_metrics_line(p, le, out, &cap) < 0) {
			cli_samples_free(out);
			return -1;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

double
cli_metrics_get(const struct cli_samples *ss, const char *series, double dflt)
{
	for (size_t i = 0; i < ss->ss_n; i++)
		if (strcmp(ss->ss_v[i].s_series, series) == 0)
			return ss->ss_v[i].s_value;
	return dflt;
}

/* cli_metrics_wait - poll fd for events until the deadline; 1 ready, 0 timed out, -1 error. */
static int
cli_metrics_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - rg_clock_mono_ms();
		int rc;
		if (left <= 0)
			return 0;
		if ((rc = poll(&pfd, 1, (int)left)) > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int
cli_metrics_fetch(const char *spec, int timeout_ms, struct cli_samples *out, char *err,
    size_t errsize)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: rcptguard\r\n"
	    "Accept: text/plain\r\n\r\n";
	int64_t deadline = rg_clock_mono_ms() + timeout_ms;
	struct sockaddr_storage ss;
	int sslen = (int)sizeof(ss), fd, rc;
	socklen_t el = sizeof(rc);
	char *buf = NULL, *body;
	size_t len = 0, cap = 0;

	out->ss_v = NULL;
	out->ss_n = 0;
	if (rg_exporter_addr(spec, &ss, &sslen) < 0) {
		snprintf(err, errsize, "\"%s\" is not inet:host:port", spec);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sslen) < 0 && errno != EINPROGRESS) {
		snprintf(err, errsize, "connect to %s: %s", spec + 5, strerror(errno));
		goto fail;
	}
	if ((rc = cli_metrics_wait(fd, POLLOUT, deadline)) <= 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &el) < 0 || rc != 0) {
		snprintf(err, errsize, "connect to %s: %s", spec + 5,
		    rc > 0 ? strerror(rc) : "no answer in time");
		goto fail;
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		snprintf(err, errsize, "%s: cannot send the request", spec + 5);
		goto fail;
	}
	for (;;) {
		ssize_t n;
		if (len + 65536 + 1 > cap) {
			char *nb;
			if (cap >= CLI_METRICS_MAX_BYTES) {
				snprintf(err, errsize, "%s: the answer is larger than %d bytes", spec + 5,
				    CLI_METRICS_MAX_BYTES);
				goto fail;
			}
			cap = cap ? cap * 2 : 131072;
			if ((nb = realloc(buf, cap)) == NULL) {
				snprintf(err, errsize, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		if ((rc = cli_metrics_wait(fd, POLLIN, deadline)) <= 0) {
			snprintf(err, errsize, "%s: %s", spec + 5, rc == 0 ? "no answer in time" :
			    strerror(errno));
			goto fail;
		}
		if ((n = recv(fd, buf + len, cap - len - 1, 0)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errsize, "%s: %s", spec + 5, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	fd = -1;
	buf[len] = '\0';
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0) {
		/* Its first line says why, printable and cut short. */
		size_t k = 0;
		char first[48];
		for (; k < len && k + 1 < sizeof(first) && buf[k] != '\r' && buf[k] != '\n'; k++)
			first[k] = buf[k] >= 0x20 && buf[k] < 0x7f ? buf[k] : '?';
		first[k] = '\0';
		snprintf(err, errsize, "%s: not a metrics endpoint (%s)", spec + 5,
		    k > 0 ? first : "an empty answer");
		goto fail;
	}
	if ((body = strstr(buf, "\r\n\r\n")) == NULL) {
		snprintf(err, errsize, "%s: an answer without a body", spec + 5);
		goto fail;
	}
	body += 4;
	if (cli_metrics_parse(body, len - (size_t)(body - buf), out) < 0) {
		snprintf(err, errsize, "out of memory");
		goto fail;
	}
	free(buf);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}
