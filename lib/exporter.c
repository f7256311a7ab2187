/*
 * exporter.c - GET /metrics with libevent's evhttp.
 *
 * The socket is made here (close-on-exec, SO_REUSEADDR) and handed to
 * evhttp, so a failure to bind says which address. Each scrape renders the
 * registry once into a buffer that evhttp sends and frees.
 */
#include "rg_build.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "rcptguard/exporter.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"

#define RG_EXPORTER_TIMEOUT_S		10
#define RG_EXPORTER_MAX_HEADERS		8192
#define RG_EXPORTER_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct rg_exporter {
	struct evhttp		*x_http;
	struct rg_metrics	*x_metrics;
	int			 x_port;
};

int
rg_exporter_addr(const char *spec, struct sockaddr_storage *ss, int *len)
{
	memset(ss, 0, sizeof(*ss));
	*len = (int)sizeof(*ss);
	if (spec == NULL || strncmp(spec, "inet:", 5) != 0 || spec[5] == '\0' ||
	    evutil_parse_sockaddr_port(spec + 5, (struct sockaddr *)ss, len) < 0)
		return -1;
	/* The host is required: "inet::9100" or "inet:9100" is not an address. */
	if (spec[5] == ':' || strchr(spec + 5, ':') == NULL)
		return -1;
	return 0;
}

/* rg_exporter_release - evbuffer is done with a rendering. */
static void
rg_exporter_release(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static void
rg_exporter_on_request(struct evhttp_request *req, void *arg)
{
	struct rg_exporter *x = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out;
	char *text;
	size_t len;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	/* /metrics, with or without a query string (Prometheus sends none). */
	if (uri == NULL || strncmp(uri, "/metrics", 8) != 0 || (uri[8] != '\0' && uri[8] != '?')) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	if ((text = rg_metrics_render(x->x_metrics, &len)) == NULL ||
	    (out = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, 500, "Out Of Memory");
		return;
	}
	if (evbuffer_add_reference(out, text, len, rg_exporter_release, NULL) < 0) {
		free(text);
		evbuffer_free(out);
		evhttp_send_error(req, 500, "Out Of Memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    RG_EXPORTER_CONTENT_TYPE);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

int
rg_exporter_listen(const char *spec, char *err, size_t errsize)
{
	struct sockaddr_storage ss;
	int len, fd, one = 1;

	if (rg_exporter_addr(spec, &ss, &len) < 0) {
		snprintf(err, errsize, "metrics_listen: \"%s\" is not inet:host:port", spec);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errsize, "metrics_listen: %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct rg_exporter *
rg_exporter_new(struct event_base *base, struct rg_metrics *m, int fd, char *err, size_t errsize)
{
	struct rg_exporter *x;
	int dfd;

	if ((x = calloc(1, sizeof(*x))) == NULL || (x->x_http = evhttp_new(base)) == NULL) {
		free(x);
		snprintf(err, errsize, "metrics: out of memory");
		return NULL;
	}
	x->x_metrics = m;
	/* evhttp closes what it is given: it gets a copy, the caller keeps fd. */
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0 ||
	    evhttp_accept_socket_with_handle(x->x_http, dfd) == NULL) {
		snprintf(err, errsize, "metrics: cannot serve: %s", strerror(errno));
		if (dfd >= 0)
			close(dfd);
		evhttp_free(x->x_http);
		free(x);
		return NULL;
	}
	evhttp_set_timeout(x->x_http, RG_EXPORTER_TIMEOUT_S);
	evhttp_set_max_headers_size(x->x_http, RG_EXPORTER_MAX_HEADERS);
	evhttp_set_max_body_size(x->x_http, 0);
	evhttp_set_allowed_methods(x->x_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(x->x_http, rg_exporter_on_request, x);
	return x;
}

void
rg_exporter_free(struct rg_exporter *x)
{
	if (x == NULL)
		return;
	evhttp_free(x->x_http);	/* closes the listening socket and every connection */
	free(x);
}
