/*
 * milter.c - rcptguard-milter: the recipient verifier as a libmilter filter,
 * for Postfix (smtpd_milters) and Sendmail (INPUT_MAIL_FILTER).
 *
 * Threads: libmilter runs smfi_main and one thread per MTA connection; the
 * engine and the prober run on their own libevent thread, which callbacks
 * reach through rg_engine_thread_lookup. The main thread only watches the
 * signals.
 *
 * Start-up: read and check the config, open the socket (as root), go to the
 * background (the parent waits for the child's word, so a failed start is
 * reported by the exit status), make the state directory safe and hand it
 * to the configured user, drop to it, open the cache as that user, then
 * serve.
 *
 * Signals: libmilter's own signal thread would take SIGHUP as "close the
 * socket", which cannot be undone once privileges are dropped. So the
 * thread that runs smfi_main (and with it every libmilter thread) has
 * SIGHUP, SIGTERM and SIGINT blocked, while the main thread leaves them
 * unblocked with a handler that writes to a pipe. Linux delivers a signal
 * sent to the process to its main thread when that thread can take it, so
 * libmilter's sigwait never sees them. SIGHUP reloads: a config that does
 * not check is refused and the old one keeps running. SIGTERM and SIGINT
 * stop libmilter, cancel the probes in flight and close the cache.
 *
 * SIGUSR1 reloads too, and `rcptguard reload milter` sends it: libmilter's
 * signal thread waits for SIGHUP, and when the main thread cannot take a
 * signal at the instant it comes (inside its handler, or under valgrind,
 * which delivers to whichever thread is in a system call) the kernel hands
 * SIGHUP to that thread, which stops libmilter. SIGUSR1 is no signal
 * libmilter waits for, so it can only reach the main thread.
 */
#include "rg_build.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "milter.h"
#include "rcptguard/daemon.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/privs.h"
#include "rcptguard/util.h"

#define MILTER_LOG_TICK_MS	50	/* buffered log lines wait at most this long */

/* ---- the state callbacks share ------------------------------------------------ */

static pthread_rwlock_t milter_lock;
static struct milter_state *milter_cur;	/* NULL once stopping */
struct rg_decision milter_stopping;		/* under milter_lock */

struct milter_state *
milter_state_rdlock(void)
{
	pthread_rwlock_rdlock(&milter_lock);
	return milter_cur;
}

void
milter_state_unlock(void)
{
	pthread_rwlock_unlock(&milter_lock);
}

/* A writer waits only for the lookups in flight; new readers queue behind it. */
static void
milter_lock_init(void)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&milter_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

static void
milter_state_free(struct milter_state *st)
{
	if (st == NULL)
		return;
	if (st->ms_engine != NULL)
		rg_engine_thread_stop(st->ms_engine);
	rg_policy_free(st->ms_policy);
	free(st);
}

/*
 * milter_state_open - policy and engine thread for a checked config. The
 * engine may be missing (reported): then every recipient follows fail_mode.
 */
static struct milter_state *
milter_state_open(const struct rg_config *cfg, int metrics_fd, char *err, size_t errsize)
{
	struct milter_state *st = calloc(1, sizeof(*st));
	char eerr[1024];

	if (st == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	st->ms_cfg = *cfg;
	if ((st->ms_policy = rg_policy_new(cfg, err, errsize)) == NULL) {
		free(st);
		return NULL;
	}
	st->ms_may_tag = rg_policy_may_tag(st->ms_policy);
	if ((st->ms_engine = rg_engine_thread_start(cfg, metrics_fd, eerr, sizeof(eerr))) == NULL)
		rg_log_error("%s: every recipient follows fail_mode=%s", eerr,
		    cfg->fail_mode == RG_FAIL_DEFER ? "defer" : "pass");
	return st;
}

/* ---- start-up ------------------------------------------------------------------ */

struct milter_main {
	struct rg_daemon_opts	 m_opts;
	struct rg_privs		 m_privs;
	int			 m_metrics_fd;	/* -1: no metrics */
	char			 m_metrics_spec[RG_CONFIG_PATH_MAX];
	int			 m_sigpipe[2];
	pthread_t		 m_thread;
};

static int milter_sigfd = -1;

static double
milter_gauge_connections(void *arg, int i, int j)
{
	(void)arg;
	(void)i;
	(void)j;
	return __atomic_load_n(&milter_connections, __ATOMIC_RELAXED);
}

/* milter_unix_path - the file of a unix socket spec, or NULL for inet. */
static const char *
milter_unix_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

/* milter_open_socket - register the filter and open its socket (as root). */
static void
milter_open_socket(struct milter_main *m, const struct rg_config *cfg)
{
	const char *path = milter_unix_path(cfg->milter_listen);
	char err[512];
	mode_t omask;

	if (smfi_setconn((char *)cfg->milter_listen) != MI_SUCCESS)
		rg_log_fatal("listen %s: not a libmilter socket", cfg->milter_listen);
	if (cfg->milter_timeout > 0)
		smfi_settimeout((int)cfg->milter_timeout);
	if (smfi_setbacklog((int)cfg->milter_listen_backlog) != MI_SUCCESS)
		rg_log_fatal("listen_backlog %lld refused by libmilter",
		    (long long)cfg->milter_listen_backlog);
	if (smfi_register(milter_desc) != MI_SUCCESS)
		rg_log_fatal("libmilter refused the filter");
	omask = umask(0177);	/* no window where the socket is open to all */
	if (smfi_opensocket(1) != MI_SUCCESS)
		rg_log_fatal("cannot listen on %s (in use, or a bad address?)", cfg->milter_listen);
	umask(omask);
	if (path != NULL && rg_privs_socket(&m->m_privs, path, cfg->milter_socket_owner,
	    cfg->milter_socket_group, (unsigned)cfg->milter_socket_mode, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
}

static void
milter_on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(milter_sigfd, &b, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = saved;
}

static void *
milter_thread(void *arg)
{
	struct milter_main *m = arg;
	unsigned char b = 0;

	if (smfi_main() != MI_SUCCESS)
		rg_log_error("libmilter stopped with an error");
	if (write(m->m_sigpipe[1], &b, 1) < 0)
		rg_log_error("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

/* milter_reload - SIGHUP or SIGUSR1: a new config that checks replaces the running one. */
static void
milter_reload(struct milter_main *m)
{
	struct rg_config *cfg;
	struct milter_state *st, *old;
	char err[1400], why[1600], state_dir[RG_CONFIG_PATH_MAX];

	rg_daemon_reload_begin();
	rg_strlcpy(state_dir, milter_cur->ms_cfg.state_dir, sizeof(state_dir));
	if ((cfg = rg_daemon_reload_config(&m->m_opts, why, sizeof(why))) == NULL) {
		rg_daemon_reload_end(m->m_opts.o_prog, state_dir, 0, why);
		return;
	}
	if (strcmp(cfg->milter_listen, milter_cur->ms_cfg.milter_listen) != 0)
		rg_log_warn("reload: a new listen socket takes a restart; still on %s",
		    milter_cur->ms_cfg.milter_listen);
	if (rg_daemon_metrics_rebind(m->m_opts.o_prog, state_dir, &m->m_metrics_fd, m->m_metrics_spec,
	    sizeof(m->m_metrics_spec), cfg->milter_metrics_listen) < 0) {
		free(cfg);
		return;
	}
	/*
	 * The old engine closes its cache before the new one opens it (LMDB
	 * allows one environment per file in a process). Recipients that
	 * arrive meanwhile wait on the lock, at most wait_budget plus the
	 * time to open the cache.
	 */
	pthread_rwlock_wrlock(&milter_lock);
	old = milter_cur;
	if (old->ms_engine != NULL) {
		rg_engine_thread_stop(old->ms_engine);
		old->ms_engine = NULL;
	}
	if ((st = milter_state_open(cfg, m->m_metrics_fd, err, sizeof(err))) == NULL) {
		/* cannot happen for a checked config, short of memory */
		snprintf(why, sizeof(why), "reload: %s; keeping the running configuration", err);
		rg_log_error("%s", why);
		old->ms_engine = rg_engine_thread_start(&old->ms_cfg, m->m_metrics_fd, err,
		    sizeof(err));
		pthread_rwlock_unlock(&milter_lock);
		free(cfg);
		rg_daemon_reload_end(m->m_opts.o_prog, state_dir, 0, why);
		return;
	}
	rg_strlcpy(st->ms_cfg.milter_listen, old->ms_cfg.milter_listen,
	    sizeof(st->ms_cfg.milter_listen));
	milter_cur = st;
	rg_policy_failed(st->ms_policy, &milter_stopping);
	pthread_rwlock_unlock(&milter_lock);
	rg_log_set_syslog_socket(st->ms_cfg.syslog_socket);
	milter_state_free(old);
	free(cfg);
	rg_log_info("configuration reloaded from %s", m->m_opts.o_config);
	snprintf(why, sizeof(why), "configuration reloaded from %s", m->m_opts.o_config);
	rg_daemon_reload_end(m->m_opts.o_prog, state_dir, 1, why);
}

/* milter_signals - the handler writes to a pipe the main thread reads. */
static void
milter_signals(struct milter_main *m)
{
	struct sigaction sa;

	if (pipe(m->m_sigpipe) < 0)
		rg_log_fatal("pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		fcntl(m->m_sigpipe[i], F_SETFD, FD_CLOEXEC);
	fcntl(m->m_sigpipe[1], F_SETFL, fcntl(m->m_sigpipe[1], F_GETFL) | O_NONBLOCK);
	milter_sigfd = m->m_sigpipe[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = milter_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* milter_start_thread - smfi_main on a thread that never takes our signals. */
static void
milter_start_thread(struct milter_main *m)
{
	sigset_t set, old;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	rc = pthread_create(&m->m_thread, NULL, milter_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		rg_log_fatal("cannot start libmilter: %s", strerror(rc));
}

int
main(int argc, char **argv)
{
	struct milter_main m;
	struct rg_config *cfg;
	struct milter_state *st;
	int notify = -1;
	char err[1400];
	sigset_t set, old;

	memset(&m, 0, sizeof(m));
	m.m_opts.o_prog = "rcptguard-milter";
	m.m_opts.o_listen_off = offsetof(struct rg_config, milter_listen);
	rg_daemon_options(&m.m_opts, argc, argv, 0,
	    "listen on unix:/path or inet:port@host (replaces [milter] listen)");
	if ((cfg = malloc(sizeof(*cfg))) == NULL) {
		fprintf(stderr, "rcptguard-milter: out of memory\n");
		return 1;
	}
	rg_daemon_start_config(&m.m_opts, cfg);
	if (rg_privs_resolve(cfg->user, &m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	if (geteuid() == 0 && !m.m_privs.pv_active)
		rg_log_warn("running as root: set user in [general]");
	rg_daemon_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	milter_lock_init();

	milter_open_socket(&m, cfg);
	rg_daemon_metrics_init(m.m_opts.o_prog);
	if (rg_daemon_metrics_bind(cfg->milter_metrics_listen, &m.m_metrics_fd, err,
	    sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	rg_strlcpy(m.m_metrics_spec, cfg->milter_metrics_listen, sizeof(m.m_metrics_spec));
	rg_metrics_gauge(rg_metrics_process(), "rcptguard_connections",
	    "Connections from the MTA open now.", NULL, NULL, milter_gauge_connections, NULL);
	if (!m.m_opts.o_foreground && rg_daemon_detach(&notify) < 0)
		rg_log_fatal("cannot go to the background: %s", strerror(errno));
	if (!m.m_opts.o_foreground || m.m_opts.o_syslog) {
		rg_log_set_syslog_socket(cfg->syslog_socket);
		rg_log_init(m.m_opts.o_prog, RG_LOG_SYSLOG);
	}

	/* The engine thread never takes the signals either. */
	milter_signals(&m);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	/* The cache is opened as the user: root never opens a file there by name. */
	rg_daemon_state(&m.m_privs, cfg);
	if (rg_privs_drop(&m.m_privs, err, sizeof(err)) < 0)
		rg_log_fatal("%s", err);
	if ((st = milter_state_open(cfg, m.m_metrics_fd, err, sizeof(err))) == NULL)
		rg_log_fatal("%s", err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(cfg);
	milter_cur = st;
	rg_policy_failed(st->ms_policy, &milter_stopping);

	milter_start_thread(&m);
	rg_log_info("ready: listen=%s user=%s cache=%s metrics=%s", st->ms_cfg.milter_listen,
	    m.m_privs.pv_active ? m.m_privs.pv_user : "(unchanged)",
	    st->ms_engine != NULL && rg_engine_thread_store(st->ms_engine) != NULL ?
	    "ok" : "unusable", m.m_metrics_spec[0] != '\0' ? m.m_metrics_spec : "off");
	rg_daemon_ready(notify, 0);
	rg_daemon_up(m.m_opts.o_prog, st->ms_cfg.state_dir, "serving");

	/*
	 * In the foreground the callbacks' log lines gather in a buffer that
	 * this thread writes out every tick (or sooner when it fills), instead
	 * of one write per decision.
	 */
	rg_log_set_buffered(1);
	for (;;) {
		struct pollfd pfd = { .fd = m.m_sigpipe[0], .events = POLLIN };
		unsigned char b;
		ssize_t n;

		if (poll(&pfd, 1, MILTER_LOG_TICK_MS) <= 0) {
			rg_log_flush();
			continue;	/* a tick, or EINTR */
		}
		if ((n = read(m.m_sigpipe[0], &b, 1)) < 0 && errno == EINTR)
			continue;
		if (n == 1 && (b == SIGHUP || b == SIGUSR1)) {
			milter_reload(&m);
			continue;
		}
		if (n == 1 && (b == SIGTERM || b == SIGINT))
			rg_log_info("stopping on signal %d", (int)b);
		break;
	}
	smfi_stop();
	pthread_join(m.m_thread, NULL);

	/* Callbacks still running follow fail_mode: the state is gone. */
	pthread_rwlock_wrlock(&milter_lock);
	st = milter_cur;
	milter_cur = NULL;
	pthread_rwlock_unlock(&milter_lock);
	milter_state_free(st);
	rg_log_set_buffered(0);
	close(m.m_sigpipe[0]);
	close(m.m_sigpipe[1]);
	if (m.m_metrics_fd >= 0)
		close(m.m_metrics_fd);
	rg_metrics_process_free();
	rg_log_info("stopped");
	rg_log_close();
	return 0;
}
