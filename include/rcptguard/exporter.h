/*
 * exporter.h - the metrics of a daemon over HTTP, on the daemon's own loop.
 *
 * GET /metrics answers the process registry in Prometheus' text format
 * (0.0.4); anything else is 404 (another path) or 405 (another method).
 * libevent's evhttp serves it on the event base it is given, so the
 * rendering runs on the loop that owns the gauges: policyd's loop, the
 * milter's engine loop. Requests are small and bounded: 8 KiB of headers,
 * no body, 10 s to send the request.
 */
#ifndef RG_EXPORTER_H
#define RG_EXPORTER_H

#include <stddef.h>

#include <sys/socket.h>

#include <event2/event.h>

struct rg_exporter;
struct rg_metrics;

/*
 * rg_exporter_listen - a listening socket for spec, "inet:host:port"
 * ("inet:[::1]:9100" for IPv6): the fd, or -1 with err (a bad spec, a
 * port in use). Made before the daemon drops its privileges, it stays
 * open across reloads, so scrapes queue in the kernel meanwhile.
 */
int rg_exporter_listen(const char *spec, char *err, size_t errsize);

/* rg_exporter_new - serve the registry on base from listening socket fd (kept by the caller). */
struct rg_exporter *rg_exporter_new(struct event_base *base, struct rg_metrics *m, int fd,
    char *err, size_t errsize);
/* rg_exporter_free - close its connections; the caller's fd stays open. */
void rg_exporter_free(struct rg_exporter *x);

/*
 * rg_exporter_addr - the socket address of spec, "inet:host:port" with a
 * numeric host; -1 when it is not that. rcptguard stats reads the same form.
 */
int rg_exporter_addr(const char *spec, struct sockaddr_storage *ss, int *len);

#endif /* RG_EXPORTER_H */
