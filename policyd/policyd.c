/*
 * policyd.c - rcptguard-policyd: Postfix's check_policy_service, answered
 * from the shared verdict cache and the prober.
 *
 * Start-up: read and check the config, open the sockets (as root), go to
 * the background (the parent waits until the child is serving, so a start
 * that fails is reported by its exit status), make the state directory
 * safe and hand it to the configured user, drop to it, and open the cache
 * as that user. SIGTERM stops cleanly:
 * probes in flight are cancelled and their leases released. SIGHUP reloads
 * the config; a config that does not check is refused and the old one
 * keeps running.
 */
#include "rg_build.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "policyd.h"
#include "rcptguard/cache.h"
#include "rcptguard/daemon.h"
#include "rcptguard/exporter.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/util.h"

struct policyd_main {
	struct rg_daemon_opts	 m_opts;
	struct rg_config	 m_cfg;
	struct event_base	*m_base;
	struct policyd_server	*m_srv;
	struct rg_engine	*m_engine;
	struct rg_policy	*m_policy;
	struct rg_privs		 m_privs;
	int			 m_metrics_fd;	/* -1: no metrics */
	char			 m_metrics_spec[RG_CONFIG_PATH_MAX];
	struct rg_exporter	*m_exporter;
};

/* policyd_metrics_serve - serve the metrics from m_metrics_fd, when there is one. */
static int
policyd_metrics_serve(struct policyd_main *m, char *err, size_t errsize)
{
	rg_exporter_free(m->m_exporter);
	m->m_exporter = NULL;
	if (m->m_metrics_fd < 0)
		return 0;
	m->m_exporter = rg_exporter_new(m->m_base, rg_metrics_process(), m->m_metrics_fd, err,
	    errsize);
	return m->m_exporter != NULL ? 0 : -1;
}

/* policyd_engine_open - engine and policy for cfg; the engine may come back NULL. */
static int
policyd_engine_open(struct policyd_main *m, const struct rg_config *cfg, char *err,
    size_t errsize)
{
	if ((m->m_policy = rg_policy_new(cfg, err, errsize)) == NULL)
		return -1;
	if ((m->m_engine = rg_engine_new(m->m_base, cfg, err, errsize)) == NULL)
		return -1;
	if (rg_engine_cache_status(m->m_engine) < 0)
		rg_log_error("the cache is unusable (%s): every recipient follows fail_mode=%s",
		    rg_cache_strerror(rg_engine_cache_status(m->m_engine)),
		    cfg->fail_mode == RG_FAIL_DEFER ? "defer" : "pass");
	return 0;
}

/* policyd_reload - SIGHUP: a new config that checks replaces the running one. */
static void
policyd_reload(struct policyd_main *m)
{
	struct rg_config *cfg;
	struct rg_policy *old_policy = m->m_policy;
	char err[1400], why[1600], state_dir[RG_CONFIG_PATH_MAX];
	int ok = 1;

	rg_daemon_reload_begin();
	rg_strlcpy(state_dir, m->m_cfg.state_dir, sizeof(state_dir));
	if ((cfg = rg_daemon_reload_config(&m->m_opts, why, sizeof(why))) == NULL) {
		rg_daemon_reload_end(m->m_opts.o_prog, state_dir, 0, why);
		return;
	}
	switch (rg_daemon_metrics_rebind(m->m_opts.o_prog, state_dir, &m->m_metrics_fd,
	    m->m_metrics_spec, sizeof(m->m_metrics_spec), cfg->metrics_listen)) {
	case -1:
		free(cfg);
		return;
	case 1:
		if (policyd_metrics_serve(m, err, sizeof(err)) < 0) {
			rg_log_error("%s", err);
			ok = 0;
			snprintf(why, sizeof(why), "reloaded, but %s", err);
		}
		break;
	}
	/* Lookups in flight are answered (in progress) as the old engine goes. */
	policyd_server_pause(m->m_srv);
	policyd_server_set(m->m_srv, NULL, old_policy, NULL);
	rg_engine_free(m->m_engine);
	m->m_engine = NULL;
	m->m_policy = NULL;
	if (policyd_engine_open(m, cfg, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "reloaded, but %s: every recipient follows fail_mode", err);
		rg_log_error("%s", why);
		ok = 0;
	}
	if (m->m_policy == NULL)
		m->m_policy = old_policy;	/* cannot happen: the config was checked */
	else
		rg_policy_free(old_policy);
	m->m_cfg = *cfg;
	rg_log_set_syslog_socket(cfg->syslog_socket);
	policyd_server_set(m->m_srv, m->m_engine, m->m_policy, cfg);
	free(cfg);
	policyd_server_resume(m->m_srv);
	rg_log_info("configuration reloaded from %s", m->m_opts.o_config);
	if (ok)
		snprintf(why, sizeof(why), "configuration reloaded from %s", m->m_opts.o_config);
	rg_daemon_reload_end(m->m_opts.o_prog, state_dir, ok, why);
}

static void
policyd_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct policyd_main *m = arg;

	(void)what;
	if (sig == SIGHUP) {
		policyd_reload(m);
		return;
	}
	rg_log_info("stopping on signal %d", (int)sig);
	event_base_loopbreak(m->m_base);
}

int
main(int argc, char **argv)
{
	struct policyd_main m;
	struct event *sigs[4] = { NULL };
	const int signums[4] = { SIGTERM, SIGINT, SIGHUP, 0 };
	int notify = -1;
	char err[1400];

	memset(&m, 0, sizeof(m));
	m.m_opts.o_prog = "rcptguard-policyd";
	m.m_opts.o_listen_off = offsetof(struct rg_config, listen);
	rg_daemon_options(&m.m_opts, argc, argv, 1,
	    "listen on unix:/path or inet:host:port (repeatable; replaces listen)");
	rg_daemon_start_config(&m.m_opts, &m.m_cfg);
	if (rg_privs_resolve(m.m_cfg.user, &m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	if (geteuid() == 0 && !m.m_privs.pv_active)
		rg_log_warn("running as root: set user in [general]");

	/* Postfix keeps a connection per smtpd process: allow max_connections of them. */
	rg_daemon_raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	if ((m.m_base = event_base_new()) == NULL)
		rg_log_fatal("cannot create the event loop");
	if ((m.m_srv = policyd_server_new(m.m_base, &m.m_cfg, &m.m_privs, err, sizeof(err))) == NULL)
		rg_log_fatal("%s", err);
	rg_daemon_metrics_init(m.m_opts.o_prog);
	if (rg_daemon_metrics_bind(m.m_cfg.metrics_listen, &m.m_metrics_fd, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	rg_strlcpy(m.m_metrics_spec, m.m_cfg.metrics_listen, sizeof(m.m_metrics_spec));
	if (!m.m_opts.o_foreground && rg_daemon_detach(&notify) < 0)
		rg_log_fatal("cannot go to the background: %s", strerror(errno));
	if (!m.m_opts.o_foreground || m.m_opts.o_syslog) {
		rg_log_set_syslog_socket(m.m_cfg.syslog_socket);
		rg_log_init(m.m_opts.o_prog, RG_LOG_SYSLOG);
	}
	if (!m.m_opts.o_foreground && event_reinit(m.m_base) < 0)
		rg_log_fatal("cannot reinitialize the event loop");

	/* The cache is opened as the user: root never opens a file there by name. */
	rg_daemon_state(&m.m_privs, &m.m_cfg);
	if (rg_privs_drop(&m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	if (policyd_engine_open(&m, &m.m_cfg, err, sizeof(err)) < 0) {
		if (m.m_policy == NULL)
			rg_log_fatal("%s", err);
		rg_log_error("%s: every recipient follows fail_mode", err);
	}
	policyd_server_set(m.m_srv, m.m_engine, m.m_policy, NULL);
	if (policyd_metrics_serve(&m, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);

	for (int i = 0; signums[i] != 0; i++) {
		sigs[i] = evsignal_new(m.m_base, signums[i], policyd_on_signal, &m);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0)
			rg_log_fatal("cannot watch signal %d", signums[i]);
	}
	rg_log_info("ready: listen=%s user=%s cache=%s metrics=%s", m.m_cfg.listen,
	    m.m_privs.pv_active ? m.m_privs.pv_user : "(unchanged)",
	    m.m_engine != NULL && rg_engine_cache_status(m.m_engine) == 0 ? "ok" : "unusable",
	    m.m_metrics_spec[0] != '\0' ? m.m_metrics_spec : "off");
	rg_daemon_ready(notify, 0);
	rg_daemon_up(m.m_opts.o_prog, m.m_cfg.state_dir, "serving");

	/*
	 * One turn of the loop at a time: the turn reads what every ready
	 * connection sent, then policyd_server_flush answers it all, so that
	 * the decisions logged in a turn leave in one write (stderr) instead of
	 * one each, and the requests are served back to back, between system
	 * calls rather than one between each pair of them.
	 */
	rg_log_set_buffered(1);
	for (;;) {
		int rc = event_base_loop(m.m_base, EVLOOP_ONCE);
		policyd_server_flush(m.m_srv);
		if (rc != 0 || event_base_got_break(m.m_base))
			break;
	}

	/* Engine first: its last answers reach connections that still exist. */
	policyd_server_pause(m.m_srv);
	rg_engine_free(m.m_engine);
	policyd_server_flush(m.m_srv);	/* the last answers, before the hang-up */
	policyd_server_free(m.m_srv);
	rg_policy_free(m.m_policy);
	rg_exporter_free(m.m_exporter);
	if (m.m_metrics_fd >= 0)
		close(m.m_metrics_fd);
	for (int i = 0; signums[i] != 0; i++)
		event_free(sigs[i]);
	event_base_free(m.m_base);
	rg_metrics_process_free();
	rg_log_info("stopped");
	rg_log_close();
	return 0;
}
