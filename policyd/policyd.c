/*
 * policyd.c - rcptguard-policyd: Postfix's check_policy_service, answered
 * from the shared verdict cache and the prober.
 *
 * Start-up: read and check the config, open the sockets (as root), go to
 * the background (the parent waits until the child is serving, so a start
 * that fails is reported by its exit status), open the cache, hand the
 * state to the configured user and drop to it. SIGTERM stops cleanly:
 * probes in flight are cancelled and their leases released. SIGHUP reloads
 * the config; a config that does not check is refused and the old one
 * keeps running.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "policyd.h"
#include "rcptguard/cache.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

struct policyd_main {
	const char		*m_config_path;
	int			 m_config_must_exist;
	char			 m_listen[RG_CONFIG_PATH_MAX];	/* from -l, or "" */
	struct rg_config	 m_cfg;
	struct event_base	*m_base;
	struct policyd_server	*m_srv;
	struct rg_engine	*m_engine;
	struct rg_policy	*m_policy;
	struct rg_privs		 m_privs;
};

static void
policyd_usage(void)
{
	fprintf(stderr,
	    "usage: rcptguard-policyd [-fnvV] [-c config] [-l socket]...\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -l SOCKET  listen on unix:/path or inet:host:port (repeatable; replaces listen)\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -n         check the configuration and exit\n"
	    "  -v         log debug messages too\n"
	    "  -V         print the version and exit\n", rg_config_default_path);
	exit(2);
}

/* policyd_abs - make a relative path absolute against the start directory. */
static int
policyd_abs(char *path, size_t size)
{
	char cwd[RG_CONFIG_PATH_MAX], buf[RG_CONFIG_PATH_MAX * 2];

	if (path[0] == '\0' || path[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
	return rg_strlcpy(path, buf, size) >= size ? -1 : 0;
}

/*
 * policyd_load - read, override and check a config: every list compiles.
 * The daemon leaves its start directory, so relative paths become absolute.
 */
static int
policyd_load(struct policyd_main *m, struct rg_config *cfg, char *err, size_t errsize)
{
	struct rg_knowledge *k;
	struct rg_policy *p;

	if (rg_config_load(cfg, m->m_config_path, m->m_config_must_exist, err, errsize) < 0)
		return -1;
	if (m->m_listen[0] != '\0')
		rg_strlcpy(cfg->listen, m->m_listen, sizeof(cfg->listen));
	if (policyd_abs(cfg->state_dir, sizeof(cfg->state_dir)) < 0 ||
	    policyd_abs(cfg->providers_file, sizeof(cfg->providers_file)) < 0 ||
	    policyd_abs(cfg->disposable_domains_file, sizeof(cfg->disposable_domains_file)) < 0 ||
	    policyd_abs(cfg->role_accounts_file, sizeof(cfg->role_accounts_file)) < 0) {
		snprintf(err, errsize, "a path of the configuration is too long");
		return -1;
	}
	if ((p = rg_policy_new(cfg, err, errsize)) == NULL)
		return -1;
	rg_policy_free(p);
	if ((k = rg_knowledge_load(cfg, err, errsize)) == NULL)
		return -1;
	rg_knowledge_free(k);
	return 0;
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
	struct rg_config *cfg = malloc(sizeof(*cfg));
	struct rg_policy *old_policy = m->m_policy;
	char err[1400];

	if (cfg == NULL) {
		rg_log_error("reload refused: out of memory; keeping the running configuration");
		return;
	}
	if (policyd_load(m, cfg, err, sizeof(err)) < 0) {
		rg_log_error("reload refused: %s; keeping the running configuration", err);
		free(cfg);
		return;
	}
	/* Lookups in flight are answered (in progress) as the old engine goes. */
	policyd_server_pause(m->m_srv);
	policyd_server_set(m->m_srv, NULL, old_policy, NULL);
	rg_engine_free(m->m_engine);
	m->m_engine = NULL;
	m->m_policy = NULL;
	if (policyd_engine_open(m, cfg, err, sizeof(err)) < 0)
		rg_log_error("reload: %s: every recipient follows fail_mode", err);
	if (m->m_policy == NULL)
		m->m_policy = old_policy;	/* cannot happen: the config was checked */
	else
		rg_policy_free(old_policy);
	m->m_cfg = *cfg;
	policyd_server_set(m->m_srv, m->m_engine, m->m_policy, cfg);
	free(cfg);
	policyd_server_resume(m->m_srv);
	rg_log_info("configuration reloaded from %s", m->m_config_path);
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

/*
 * policyd_daemonize - go to the background. The parent stays until the
 * child writes one byte (0: serving) to the pipe, and exits with it.
 */
static int
policyd_daemonize(int *notify)
{
	int fds[2];
	pid_t pid;
	unsigned char status = 1;

	if (pipe(fds) < 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(fds[0]);
	if (setsid() < 0)
		return -1;
	if (chdir("/") < 0)
		return -1;
	{
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	*notify = fds[1];
	return 0;
}

/* policyd_own_state - hand the state directory and cache files to the user. */
static int
policyd_own_state(struct policyd_main *m, char *err, size_t errsize)
{
	char path[RG_CONFIG_PATH_MAX], lock[RG_CONFIG_PATH_MAX + 8];

	if (rg_privs_own(&m->m_privs, m->m_cfg.state_dir, err, errsize) < 0)
		return -1;
	if (rg_config_cache_path(&m->m_cfg, path, sizeof(path)) < 0)
		return 0;
	snprintf(lock, sizeof(lock), "%s-lock", path);
	if (rg_privs_own(&m->m_privs, path, err, errsize) < 0 ||
	    rg_privs_own(&m->m_privs, lock, err, errsize) < 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct policyd_main m;
	struct event *sigs[4] = { NULL };
	const int signums[4] = { SIGTERM, SIGINT, SIGHUP, 0 };
	int foreground = 0, check_only = 0, verbose = 0, ch, notify = -1;
	char err[1400];
	struct rlimit rl;

	memset(&m, 0, sizeof(m));
	m.m_config_path = rg_config_default_path;
	while ((ch = getopt(argc, argv, "c:fl:nvV")) != -1) {
		switch (ch) {
		case 'c':
			m.m_config_path = optarg;
			m.m_config_must_exist = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'l':
			if (m.m_listen[0] != '\0')
				rg_strlcat(m.m_listen, ",", sizeof(m.m_listen));
			if (rg_strlcat(m.m_listen, optarg, sizeof(m.m_listen)) >= sizeof(m.m_listen)) {
				fprintf(stderr, "rcptguard-policyd: -l: too many sockets\n");
				return 2;
			}
			break;
		case 'n':
			check_only = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("rcptguard-policyd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			policyd_usage();
		}
	}
	if (optind != argc)
		policyd_usage();

	/* Until it is in the background, the daemon reports to the terminal. */
	rg_log_init("rcptguard-policyd", RG_LOG_STDERR);
	if (verbose)
		rg_log_set_level(RG_LOG_DEBUG);
	if (policyd_load(&m, &m.m_cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "rcptguard-policyd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("rcptguard-policyd: %s: configuration OK\n",
		    m.m_cfg.source[0] != '\0' ? m.m_cfg.source : "built-in defaults");
		return 0;
	}
	if (rg_privs_resolve(m.m_cfg.user, &m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	if (geteuid() == 0 && !m.m_privs.pv_active)
		rg_log_warn("running as root: set user in [general]");

	/* Postfix keeps a connection per smtpd process: allow max_connections of them. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);

	if ((m.m_base = event_base_new()) == NULL)
		rg_log_fatal("cannot create the event loop");
	if ((m.m_srv = policyd_server_new(m.m_base, &m.m_cfg, &m.m_privs, err, sizeof(err))) == NULL)
		rg_log_fatal("%s", err);
	if (!foreground) {
		if (policyd_daemonize(&notify) < 0)
			rg_log_fatal("cannot go to the background: %s", strerror(errno));
		rg_log_init("rcptguard-policyd", RG_LOG_SYSLOG);
		if (event_reinit(m.m_base) < 0)
			rg_log_fatal("cannot reinitialize the event loop");
	}

	if (rg_privs_mkdir(m.m_cfg.state_dir, err, sizeof(err)) < 0)
		rg_log_error("%s", err);	/* the cache reports it; fail_mode applies */
	if (policyd_engine_open(&m, &m.m_cfg, err, sizeof(err)) < 0) {
		if (m.m_policy == NULL)
			rg_log_fatal("%s", err);
		rg_log_error("%s: every recipient follows fail_mode", err);
	}
	if (policyd_own_state(&m, err, sizeof(err)) < 0 ||
	    rg_privs_drop(&m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	policyd_server_set(m.m_srv, m.m_engine, m.m_policy, NULL);

	for (int i = 0; signums[i] != 0; i++) {
		sigs[i] = evsignal_new(m.m_base, signums[i], policyd_on_signal, &m);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0)
			rg_log_fatal("cannot watch signal %d", signums[i]);
	}
	rg_log_info("ready: listen=%s user=%s cache=%s", m.m_cfg.listen,
	    m.m_privs.pv_active ? m.m_privs.pv_user : "(unchanged)",
	    m.m_engine != NULL && rg_engine_cache_status(m.m_engine) == 0 ? "ok" : "unusable");
	if (notify >= 0) {
		unsigned char ok = 0;
		if (write(notify, &ok, 1) != 1)
			rg_log_warn("cannot notify the parent: %s", strerror(errno));
		close(notify);
	}

	event_base_dispatch(m.m_base);

	/* Engine first: its last answers reach connections that still exist. */
	policyd_server_pause(m.m_srv);
	rg_engine_free(m.m_engine);
	policyd_server_free(m.m_srv);
	rg_policy_free(m.m_policy);
	for (int i = 0; signums[i] != 0; i++)
		event_free(sigs[i]);
	event_base_free(m.m_base);
	rg_log_info("stopped");
	rg_log_close();
	return 0;
}
