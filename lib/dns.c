/*
 * dns.c - c-ares driven by libevent.
 *
 * c-ares tells us which sockets it wants watched through
 * ARES_OPT_SOCK_STATE_CB; each gets a persistent libevent event, and one
 * timer follows ares_timeout(). No thread, no select loop of our own.
 *
 * A lookup is a small state machine: the MX query, then one getaddrinfo per
 * host (all in flight at once), then the result. At most
 * RG_DNS_MAX_INFLIGHT lookups run at once and the rest wait in order: a
 * burst of new domains (a bulk verify starts thousands) would otherwise
 * send as many datagrams at once, and the answers that overflow the
 * socket's receive buffer are lost until c-ares times out and retries.
 *
 * SECURITY
 *   A DNS answer is hostile input, from any server the path to the
 *   resolver lets speak. Counts are bounded (RG_DNS_MAX_HOSTS,
 *   RG_DNS_MAX_ADDRS), names come through c-ares' own bounded expansion
 *   into fixed buffers, and the TTL walk over the raw answer checks every
 *   length against the buffer before it reads. Which of the addresses may
 *   be connected to is the prober's decision (netaddr.c), never DNS's.
 */
#include "rg_build.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "rcptguard/clock.h"
#include "rcptguard/dns.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/util.h"

struct rg_dns_sock {
	ares_socket_t		 s_fd;
	struct event		*s_ev;
	struct rg_dns_sock	*s_next;
};

#define RG_DNS_MAX_INFLIGHT	64		/* lookups running at once */
#define RG_DNS_RCVBUF		(1024 * 1024)	/* asked of the kernel, which may cap it */

struct rg_dns_lookup;

struct rg_dns {
	struct event_base	*d_base;
	ares_channel		 d_channel;
	struct event		*d_timer;
	struct rg_dns_sock	*d_socks;
	int			 d_destroying;
	int			 d_running;	/* lookups started and not finished */
	struct rg_dns_lookup	*d_qhead, *d_qtail;	/* waiting to start, in order */
	struct rg_metric	*d_m_lookups;	/* by result */
	struct rg_metric	*d_m_seconds;	/* from the MX query to the result */
};

struct rg_dns_lookup {
	struct rg_dns		*l_dns;
	rg_dns_mx_cb		 l_cb;
	void			*l_arg;
	char			 l_domain[RG_DNS_NAME_MAX + 1];
	int			 l_pending;	/* address lookups still running */
	int			 l_tempfail;	/* a host lookup failed temporarily */
	struct rg_dns_lookup	*l_next;	/* in d_qhead's queue */
	double			 l_started;	/* rg_clock_stamp at the MX query */
	struct rg_mx_result	 l_res;
};

struct rg_dns_host_query {
	struct rg_dns_lookup	*q_lookup;
	int			 q_index;
};

/* In enum rg_dns_status order: the names of logs and of the metrics' labels. */
static const char *const rg_dns_results[] = { "ok", "nxdomain", "null_mx", "no_host", "tempfail" };

const char *
rg_dns_status_name(enum rg_dns_status s)
{
	return (unsigned)s < RG_ARRAY_LEN(rg_dns_results) ? rg_dns_results[s] : "?";
}

static void rg_dns_reschedule(struct rg_dns *dns);

static void
rg_dns_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct rg_dns *dns = arg;

	ares_process_fd(dns->d_channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rg_dns_reschedule(dns);
}

static void
rg_dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rg_dns *dns = arg;

	(void)fd;
	(void)what;
	ares_process_fd(dns->d_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rg_dns_reschedule(dns);
}

/* rg_dns_reschedule - arm the timer for c-ares' next timeout. */
static void
rg_dns_reschedule(struct rg_dns *dns)
{
	struct timeval tv, *tvp;

	if (dns->d_destroying)
		return;
	tvp = ares_timeout(dns->d_channel, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(dns->d_timer, tvp);
	else
		evtimer_del(dns->d_timer);
}

/* rg_dns_sock_state - c-ares wants fd watched for reading and/or writing, or not at all. */
static void
rg_dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rg_dns *dns = data;
	struct rg_dns_sock **pp, *s;

	for (pp = &dns->d_socks; (s = *pp) != NULL; pp = &s->s_next)
		if (s->s_fd == fd)
			break;
	if (s != NULL) {
		event_free(s->s_ev);
		s->s_ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			*pp = s->s_next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return;
		s->s_fd = fd;
		s->s_next = dns->d_socks;
		dns->d_socks = s;
	}
	s->s_ev = event_new(dns->d_base, fd,
	    (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0)),
	    rg_dns_on_sock, dns);
	if (s->s_ev != NULL)
		event_add(s->s_ev, NULL);
}

/* rg_dns_servers_csv - "host[:port], host[:port]" into c-ares' CSV form. */
static int
rg_dns_servers_csv(const char *in, char *out, size_t outsize, char *err, size_t errsize)
{
	char buf[RG_CONFIG_PATH_MAX], *save = NULL, *tok;

	out[0] = '\0';
	rg_strlcpy(buf, in, sizeof(buf));
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
		char host[64], item[96];
		const char *port = NULL;
		unsigned char bin[16];
		long p = 53;

		if (tok[0] == '[') {
			char *close = strchr(tok, ']');
			if (close == NULL)
				goto bad;
			snprintf(host, sizeof(host), "%.*s", (int)(close - tok - 1), tok + 1);
			if (close[1] == ':')
				port = close + 2;
			else if (close[1] != '\0')
				goto bad;
		} else {
			char *colon = strchr(tok, ':');
			if (colon != NULL && strchr(colon + 1, ':') != NULL) {
				snprintf(host, sizeof(host), "%s", tok);	/* bare IPv6 */
			} else {
				snprintf(host, sizeof(host), "%.*s",
				    colon ? (int)(colon - tok) : (int)strlen(tok), tok);
				if (colon != NULL)
					port = colon + 1;
			}
		}
		if (port != NULL) {
			char *end;
			p = strtol(port, &end, 10);
			if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
				goto bad;
		}
		if (inet_pton(AF_INET, host, bin) == 1)
			snprintf(item, sizeof(item), "%s:%ld", host, p);
		else if (inet_pton(AF_INET6, host, bin) == 1)
			snprintf(item, sizeof(item), "[%s]:%ld", host, p);
		else
			goto bad;
		if (out[0] != '\0')
			rg_strlcat(out, ",", outsize);
		if (rg_strlcat(out, item, outsize) >= outsize)
			goto bad;
		continue;
bad:
		snprintf(err, errsize, "dns_servers: \"%s\" is not an IP address with an optional port",
		    tok);
		return -1;
	}
	return 0;
}

struct rg_dns *
rg_dns_new(struct event_base *base, const struct rg_config *cfg, char *err, size_t errsize)
{
	struct ares_options opts;
	struct rg_dns *dns;
	char csv[RG_CONFIG_PATH_MAX];
	int rc;

	if ((dns = calloc(1, sizeof(*dns))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	dns->d_base = base;
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = rg_dns_sock_state;
	opts.sock_state_cb_data = dns;
	opts.timeout = (int)(cfg->dns_timeout * 1000);
	opts.tries = (int)cfg->dns_tries;
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.lookups = (char *)"b";	/* DNS only: mail routing never reads /etc/hosts */
	opts.socket_receive_buffer_size = RG_DNS_RCVBUF;
	rc = ares_init_options(&dns->d_channel, &opts,
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	    ARES_OPT_LOOKUPS | ARES_OPT_SOCK_RCVBUF);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errsize, "c-ares: %s", ares_strerror(rc));
		free(dns);
		return NULL;
	}
	if (cfg->dns_servers[0] != '\0') {
		if (rg_dns_servers_csv(cfg->dns_servers, csv, sizeof(csv), err, errsize) < 0 ||
		    (rc = ares_set_servers_ports_csv(dns->d_channel, csv)) != ARES_SUCCESS) {
			if (rc != ARES_SUCCESS)
				snprintf(err, errsize, "dns_servers: %s", ares_strerror(rc));
			ares_destroy(dns->d_channel);
			free(dns);
			return NULL;
		}
	}
	dns->d_timer = evtimer_new(base, rg_dns_on_timer, dns);
	{
		static const double bounds[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
		    2.5, 5, 10 };
		const struct rg_metric_label result = { "result", rg_dns_results,
		    (int)RG_ARRAY_LEN(rg_dns_results) };
		dns->d_m_lookups = rg_metrics_counter(rg_metrics_process(),
		    "rcptguard_dns_lookups_total", "MX lookups (with their address lookups) by result.",
		    &result, NULL);
		dns->d_m_seconds = rg_metrics_histogram(rg_metrics_process(),
		    "rcptguard_dns_lookup_duration_seconds",
		    "Time from an MX query to the mail hosts' addresses.", NULL, bounds,
		    (int)RG_ARRAY_LEN(bounds));
	}
	return dns;
}

void
rg_dns_free(struct rg_dns *dns)
{
	struct rg_dns_sock *s, *next;

	if (dns == NULL)
		return;
	dns->d_destroying = 1;
	ares_destroy(dns->d_channel);	/* calls pending callbacks with ARES_EDESTRUCTION */
	while (dns->d_qhead != NULL) {
		struct rg_dns_lookup *l = dns->d_qhead;
		dns->d_qhead = l->l_next;
		free(l);
	}
	for (s = dns->d_socks; s != NULL; s = next) {
		next = s->s_next;
		if (s->s_ev != NULL)
			event_free(s->s_ev);
		free(s);
	}
	event_free(dns->d_timer);
	free(dns);
}

/*
 * rg_dns_answer_ttl - the smallest TTL of the answer section's records of
 * type want, walking the raw message with bounds checks. 0 if none.
 */
static uint32_t
rg_dns_answer_ttl(const unsigned char *abuf, int alen, int want)
{
	const unsigned char *p = abuf + NS_HFIXEDSZ, *end = abuf + alen;
	int qd, an;
	uint32_t ttl = 0;
	int have = 0;

	if (alen < NS_HFIXEDSZ)
		return 0;
	qd = (abuf[4] << 8) | abuf[5];
	an = (abuf[6] << 8) | abuf[7];
	for (int i = 0; i < qd; i++) {
		char *name;
		long enclen;
		if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
			return 0;
		ares_free_string(name);
		if (end - p < enclen + NS_QFIXEDSZ)
			return 0;
		p += enclen + NS_QFIXEDSZ;
	}
	for (int i = 0; i < an && i < 64; i++) {
		char *name;
		long enclen;
		int type, rdlen;
		uint32_t t;

		if (ares_expand_name(p, abuf, alen, &name, &enclen) != ARES_SUCCESS)
			break;
		ares_free_string(name);
		if (end - p < enclen + NS_RRFIXEDSZ)
			break;
		p += enclen;
		type = (p[0] << 8) | p[1];
		t = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) | ((uint32_t)p[6] << 8) | p[7];
		rdlen = (p[8] << 8) | p[9];
		p += NS_RRFIXEDSZ;
		if (end - p < rdlen)
			break;
		p += rdlen;
		if (type == want && (!have || t < ttl)) {
			ttl = t;
			have = 1;
		}
	}
	return ttl;
}

static void
rg_dns_min_ttl(struct rg_mx_result *res, uint32_t ttl)
{
	if (ttl > 0 && (res->m_ttl == 0 || ttl < res->m_ttl))
		res->m_ttl = ttl;
}

static void rg_dns_on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

/* rg_dns_start - send a lookup's MX query. */
static void
rg_dns_start(struct rg_dns *dns, struct rg_dns_lookup *l)
{
	dns->d_running++;
	l->l_started = rg_clock_stamp();
	ares_query(dns->d_channel, l->l_domain, ns_c_in, ns_t_mx, rg_dns_on_mx, l);
	rg_dns_reschedule(dns);
}

/* rg_dns_finish - every address query has answered: settle the status, deliver once. */
static void
rg_dns_finish(struct rg_dns_lookup *l)
{
	struct rg_dns *dns = l->l_dns;
	struct rg_mx_result *res = &l->l_res;

	if (res->m_status == RG_DNS_OK) {
		/* Drop hosts without addresses, keeping the order. */
		int n = 0;
		for (int i = 0; i < res->m_nhosts; i++)
			if (res->m_hosts[i].h_naddrs > 0)
				res->m_hosts[n++] = res->m_hosts[i];
		res->m_nhosts = n;
		if (n == 0) {
			/* Nothing resolved: only a clean "no such host" is final. */
			res->m_status = l->l_tempfail ? RG_DNS_TEMPFAIL : RG_DNS_NO_HOST;
			if (res->m_error[0] == '\0')
				snprintf(res->m_error, sizeof(res->m_error), "no mail host of %s resolves",
				    l->l_domain);
		}
	}
	dns->d_running--;
	if (!dns->d_destroying) {
		rg_metric_inc(dns->d_m_lookups, (int)res->m_status, 0);
		rg_metric_observe(dns->d_m_seconds, 0, rg_clock_stamp() - l->l_started);
		l->l_cb(res, l->l_arg);
	}
	free(l);
	/* The callback may have queued more: start them in order while there is room. */
	while (!dns->d_destroying && dns->d_qhead != NULL && dns->d_running < RG_DNS_MAX_INFLIGHT) {
		struct rg_dns_lookup *next = dns->d_qhead;
		if ((dns->d_qhead = next->l_next) == NULL)
			dns->d_qtail = NULL;
		rg_dns_start(dns, next);
	}
}

/* rg_dns_is_temp - an ares status that says "ask again later". */
static int
rg_dns_is_temp(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	    status != ARES_ENONAME;
}

/* rg_dns_on_addrinfo - the addresses of one MX host, bounded, into the result. */
static void
rg_dns_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct rg_dns_host_query *q = arg;
	struct rg_dns_lookup *l = q->q_lookup;
	struct rg_mx_host *h = &l->l_res.m_hosts[q->q_index];

	(void)timeouts;
	free(q);
	if (status == ARES_SUCCESS && ai != NULL) {
		/* IPv4 first is not a preference we impose: keep the resolver's order. */
		for (struct ares_addrinfo_node *n = ai->nodes; n != NULL && h->h_naddrs < RG_DNS_MAX_ADDRS;
		    n = n->ai_next) {
			if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
			    n->ai_addrlen > sizeof(h->h_addrs[0]))
				continue;
			memcpy(&h->h_addrs[h->h_naddrs], n->ai_addr, n->ai_addrlen);
			h->h_addrlens[h->h_naddrs++] = n->ai_addrlen;
			rg_dns_min_ttl(&l->l_res, n->ai_ttl > 0 ? (uint32_t)n->ai_ttl : 0);
		}
	} else if (status != ARES_EDESTRUCTION && rg_dns_is_temp(status)) {
		l->l_tempfail = 1;
		snprintf(l->l_res.m_error, sizeof(l->l_res.m_error), "%s: %s", h->h_name,
		    ares_strerror(status));
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (--l->l_pending == 0)
		rg_dns_finish(l);
}

/* rg_dns_resolve_hosts - start A/AAAA lookups for every host. */
static void
rg_dns_resolve_hosts(struct rg_dns_lookup *l)
{
	struct ares_addrinfo_hints hints;
	int n = l->l_res.m_nhosts;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;
	/* Count first: a callback may run synchronously inside ares_getaddrinfo. */
	l->l_pending = n + 1;
	for (int i = 0; i < n; i++) {
		struct rg_dns_host_query *q = calloc(1, sizeof(*q));
		if (q == NULL) {
			l->l_pending--;
			continue;
		}
		q->q_lookup = l;
		q->q_index = i;
		ares_getaddrinfo(l->l_dns->d_channel, l->l_res.m_hosts[i].h_name, "25", &hints,
		    rg_dns_on_addrinfo, q);
	}
	if (--l->l_pending == 0)
		rg_dns_finish(l);
}

/* rg_dns_sort_hosts - by preference, shuffled within a preference. */
static void
rg_dns_sort_hosts(struct rg_mx_host *h, int n)
{
	/* Fisher-Yates first, then a stable insertion sort by preference. */
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(arc4random_uniform((uint32_t)i + 1));
		struct rg_mx_host t = h[i];
		h[i] = h[j];
		h[j] = t;
	}
	for (int i = 1; i < n; i++) {
		struct rg_mx_host t = h[i];
		int j = i - 1;
		while (j >= 0 && h[j].h_pref > t.h_pref) {
			h[j + 1] = h[j];
			j--;
		}
		h[j + 1] = t;
	}
}

/* rg_dns_on_mx - the MX answer: null MX, no MX (implicit MX), or hosts to resolve. */
static void
rg_dns_on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rg_dns_lookup *l = arg;
	struct rg_mx_result *res = &l->l_res;
	struct ares_mx_reply *mx = NULL;
	int n = 0, nulls = 0, total = 0;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		free(l);
		return;
	}
	if (status == ARES_ENOTFOUND || status == ARES_ENONAME) {
		res->m_status = RG_DNS_NXDOMAIN;
		rg_dns_finish(l);
		return;
	}
	if (status == ARES_ENODATA) {
		/* No MX: the domain itself is the implicit MX (RFC 5321 5.1). */
		res->m_status = RG_DNS_OK;
		res->m_implicit = 1;
		res->m_nhosts = 1;
		rg_strlcpy(res->m_hosts[0].h_name, l->l_domain, sizeof(res->m_hosts[0].h_name));
		rg_dns_resolve_hosts(l);
		return;
	}
	if (status != ARES_SUCCESS) {
		res->m_status = RG_DNS_TEMPFAIL;
		snprintf(res->m_error, sizeof(res->m_error), "MX %s: %s", l->l_domain,
		    ares_strerror(status));
		rg_dns_finish(l);
		return;
	}
	if (ares_parse_mx_reply(abuf, alen, &mx) != ARES_SUCCESS) {
		res->m_status = RG_DNS_TEMPFAIL;
		snprintf(res->m_error, sizeof(res->m_error), "MX %s: unparsable answer", l->l_domain);
		rg_dns_finish(l);
		return;
	}
	rg_dns_min_ttl(res, rg_dns_answer_ttl(abuf, alen, ns_t_mx));
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next) {
		total++;
		if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
			nulls++;
			continue;
		}
		if (n < RG_DNS_MAX_HOSTS && strlen(m->host) <= RG_DNS_NAME_MAX) {
			rg_strlcpy(res->m_hosts[n].h_name, m->host, sizeof(res->m_hosts[n].h_name));
			rg_strlower(res->m_hosts[n].h_name);
			res->m_hosts[n].h_pref = m->priority;
			n++;
		}
	}
	ares_free_data(mx);
	if (total == 0) {
		/* A NOERROR answer whose MX records c-ares dropped: treat as no MX. */
		rg_dns_on_mx(arg, ARES_ENODATA, 0, NULL, 0);
		return;
	}
	if (nulls > 0 && n == 0) {
		/* RFC 7505: a null MX is the domain's statement that it takes no mail. */
		res->m_status = RG_DNS_NULL_MX;
		rg_dns_finish(l);
		return;
	}
	res->m_status = RG_DNS_OK;
	res->m_nhosts = n;
	rg_dns_sort_hosts(res->m_hosts, n);
	rg_dns_resolve_hosts(l);
}

int
rg_dns_lookup_mx(struct rg_dns *dns, const char *domain, rg_dns_mx_cb cb, void *arg)
{
	struct rg_dns_lookup *l;

	if (strlen(domain) > RG_DNS_NAME_MAX || (l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->l_dns = dns;
	l->l_cb = cb;
	l->l_arg = arg;
	rg_strlcpy(l->l_domain, domain, sizeof(l->l_domain));
	if (dns->d_running >= RG_DNS_MAX_INFLIGHT) {
		if (dns->d_qtail != NULL)
			dns->d_qtail->l_next = l;
		else
			dns->d_qhead = l;
		dns->d_qtail = l;
		return 0;
	}
	rg_dns_start(dns, l);
	return 0;
}
