/*
 * daemon.c - start-up shared by the two daemons.
 */
#include "rg_build.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "rcptguard/daemon.h"
#include "rcptguard/exporter.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "rcptguard/metrics.h"
#include "rcptguard/policy.h"
#include "rcptguard/util.h"

/* rg_daemon_abs - make a relative path absolute against the start directory. */
static int
rg_daemon_abs(char *path, size_t size)
{
	char cwd[RG_CONFIG_PATH_MAX], buf[RG_CONFIG_PATH_MAX * 2];

	if (path[0] == '\0' || path[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
	return rg_strlcpy(path, buf, size) >= size ? -1 : 0;
}

int
rg_daemon_load(struct rg_config *cfg, const char *path, int must_exist, char *err,
    size_t errsize)
{
	struct rg_knowledge *k;
	struct rg_policy *p;

	if (rg_config_load(cfg, path, must_exist, err, errsize) < 0)
		return -1;
	if (rg_daemon_abs(cfg->state_dir, sizeof(cfg->state_dir)) < 0 ||
	    rg_daemon_abs(cfg->providers_file, sizeof(cfg->providers_file)) < 0 ||
	    rg_daemon_abs(cfg->disposable_domains_file, sizeof(cfg->disposable_domains_file)) < 0 ||
	    rg_daemon_abs(cfg->role_accounts_file, sizeof(cfg->role_accounts_file)) < 0 ||
	    rg_daemon_abs(cfg->reply_rules_file, sizeof(cfg->reply_rules_file)) < 0) {
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

static void
rg_daemon_usage(const struct rg_daemon_opts *o, const char *listen_help)
{
	fprintf(stderr,
	    "usage: %s [-fnsvV] [-c config] [-l socket]\n"
	    "  -c FILE    configuration file (default %s)\n"
	    "  -l SOCKET  %s\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -n         check the configuration and exit\n"
	    "  -s         stay in the foreground and log to syslog (for systemd)\n"
	    "  -v         log debug messages too\n"
	    "  -V         print the version and exit\n", o->o_prog, rg_config_default_path,
	    listen_help);
	exit(2);
}

void
rg_daemon_options(struct rg_daemon_opts *o, int argc, char **argv, int many_listen,
    const char *listen_help)
{
	int ch;

	o->o_config = rg_config_default_path;
	while ((ch = getopt(argc, argv, "c:fl:nsvV")) != -1) {
		switch (ch) {
		case 'c':
			o->o_config = optarg;
			o->o_config_must_exist = 1;
			break;
		case 'f':
			o->o_foreground = 1;
			break;
		case 'l':
			if (!many_listen)
				o->o_listen[0] = '\0';
			else if (o->o_listen[0] != '\0')
				rg_strlcat(o->o_listen, ",", sizeof(o->o_listen));
			if (rg_strlcat(o->o_listen, optarg, sizeof(o->o_listen)) >= sizeof(o->o_listen)) {
				fprintf(stderr, "%s: -l: too many sockets, or a name too long\n", o->o_prog);
				exit(2);
			}
			break;
		case 'n':
			o->o_check = 1;
			break;
		case 's':
			o->o_foreground = 1;
			o->o_syslog = 1;
			break;
		case 'v':
			o->o_verbose = 1;
			break;
		case 'V':
			printf("%s %s\n", o->o_prog, PACKAGE_VERSION);
			exit(0);
		default:
			rg_daemon_usage(o, listen_help);
		}
	}
	if (optind != argc)
		rg_daemon_usage(o, listen_help);
}

int
rg_daemon_config(const struct rg_daemon_opts *o, struct rg_config *cfg, char *err,
    size_t errsize)
{
	if (rg_daemon_load(cfg, o->o_config, o->o_config_must_exist, err, errsize) < 0)
		return -1;
	if (o->o_listen[0] != '\0')
		rg_strlcpy((char *)cfg + o->o_listen_off, o->o_listen, RG_CONFIG_PATH_MAX);
	return 0;
}

struct rg_config *
rg_daemon_reload_config(const struct rg_daemon_opts *o, char *why, size_t whysize)
{
	struct rg_config *cfg = malloc(sizeof(*cfg));
	char err[1400];

	if (cfg == NULL) {
		snprintf(why, whysize, "reload refused: out of memory; keeping the running "
		    "configuration");
		rg_log_error("%s", why);
		return NULL;
	}
	if (rg_daemon_config(o, cfg, err, sizeof(err)) < 0) {
		snprintf(why, whysize, "reload refused: %s; keeping the running configuration", err);
		rg_log_error("%s", why);
		free(cfg);
		return NULL;
	}
	return cfg;
}

void
rg_daemon_start_config(const struct rg_daemon_opts *o, struct rg_config *cfg)
{
	char err[1400];

	/* Until it is in the background, the daemon reports to the terminal. */
	rg_log_init(o->o_prog, RG_LOG_STDERR);
	if (o->o_verbose)
		rg_log_set_level(RG_LOG_DEBUG);
	if (rg_daemon_config(o, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", o->o_prog, err);
		exit(1);
	}
	if (o->o_check) {
		printf("%s: %s: configuration OK\n", o->o_prog,
		    cfg->source[0] != '\0' ? cfg->source : "built-in defaults");
		exit(0);
	}
}

int
rg_daemon_detach(int *notify)
{
	int fds[2], fd;
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
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	*notify = fds[1];
	return 0;
}

void
rg_daemon_ready(int notify, unsigned char status)
{
	if (notify < 0)
		return;
	if (write(notify, &status, 1) != 1)
		rg_log_warn("cannot notify the parent: %s", strerror(errno));
	close(notify);
}

void
rg_daemon_state(const struct rg_privs *pv, const struct rg_config *cfg)
{
	char path[RG_CONFIG_PATH_MAX], err[RG_CONFIG_PATH_MAX * 4];
	uid_t owner;

	if (rg_config_cache_path(cfg, path, sizeof(path)) < 0)
		rg_log_fatal("the cache path is too long");
	switch (rg_privs_state(pv, cfg->state_dir, path, 1, &owner, err, sizeof(err))) {
	case RG_PRIVS_STATE_OK:
		break;
	case RG_PRIVS_STATE_UNSAFE:
		rg_log_fatal("unsafe state: %s", err);
		break;
	case RG_PRIVS_STATE_MISSING:
		rg_log_error("%s", err);	/* the cache reports it; fail_mode applies */
		break;
	}
}

static unsigned rg_daemon_generation;

/* rg_daemon_notify - one state line to systemd, when it asked for them. */
static void
rg_daemon_notify(const char *state, const char *status)
{
#ifdef HAVE_LIBSYSTEMD
	char clean[400];
	struct timespec ts;

	rg_log_sanitize(clean, sizeof(clean), status, strlen(status));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* MONOTONIC_USEC: what systemd 253's Type=notify-reload asks with RELOADING=1. */
	if (sd_notifyf(0, "%s\nSTATUS=%s\nMONOTONIC_USEC=%llu", state, clean,
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000) < 0)
		rg_log_warn("cannot notify the service manager");
#else
	(void)state;
	(void)status;
#endif
}

const char *
rg_daemon_status_dir(const char *state_dir)
{
	static char first[RG_CONFIG_PATH_MAX];
	const char *run = getenv("RUNTIME_DIRECTORY");
	size_t n;

	if (run == NULL || run[0] != '/')
		return state_dir;
	/* systemd lists several with colons between when the unit names several: the first. */
	if ((n = strcspn(run, ":")) >= sizeof(first))
		return state_dir;
	memcpy(first, run, n);
	first[n] = '\0';
	return first;
}

/* rg_daemon_status - the status file, replaced whole; a failure is logged, never fatal. */
static void
rg_daemon_status(const char *prog, const char *state_dir, const char *result,
    const char *message)
{
	char path[RG_CONFIG_PATH_MAX + 64], tmp[RG_CONFIG_PATH_MAX + 96], clean[1100];
	FILE *fp;
	int fd;

	const char *dir = rg_daemon_status_dir(state_dir);

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.status", dir, prog) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
		return;
	rg_log_sanitize(clean, sizeof(clean), message, strlen(message));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		rg_log_warn("%s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(fp, "pid %ld\ngeneration %u\nresult %s\nmessage %s\n", (long)getpid(),
	    rg_daemon_generation, result, clean);
	if (fclose(fp) != 0 || rename(tmp, path) < 0) {
		rg_log_warn("%s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

void
rg_daemon_up(const char *prog, const char *state_dir, const char *status)
{
	rg_daemon_generation = 0;
	rg_daemon_status(prog, state_dir, "started", status);
	rg_daemon_notify("READY=1", status);
}

void
rg_daemon_reload_begin(void)
{
	rg_daemon_notify("RELOADING=1", "reloading the configuration");
}

void
rg_daemon_reload_end(const char *prog, const char *state_dir, int ok, const char *message)
{
	rg_daemon_generation++;
	rg_daemon_status(prog, state_dir, ok ? "ok" : "failed", message);
	rg_daemon_notify("READY=1", message);
}

void
rg_daemon_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static const char *const rg_daemon_versions[] = { PACKAGE_VERSION };

static double
rg_daemon_build_info(void *arg, int i, int j)
{
	(void)arg;
	(void)i;
	(void)j;
	return 1;
}

void
rg_daemon_metrics_init(const char *prog)
{
	const struct rg_metric_label version = { "version", rg_daemon_versions, 1 };

	rg_policy_count_as(strncmp(prog, "rcptguard-", 10) == 0 ? prog + 10 : prog);
	rg_metrics_gauge(rg_metrics_process(), "rcptguard_build_info",
	    "Always 1; the version of the running daemon is its label.", &version, NULL,
	    rg_daemon_build_info, NULL);
}

int
rg_daemon_metrics_bind(const char *spec, int *fd, char *err, size_t errsize)
{
	*fd = -1;
	if (spec[0] == '\0')
		return 0;
	return (*fd = rg_exporter_listen(spec, err, errsize)) < 0 ? -1 : 0;
}

int
rg_daemon_metrics_rebind(const char *prog, const char *state_dir, int *fd, char *cur,
    size_t cursize, const char *spec)
{
	char err[RG_CONFIG_PATH_MAX + 256], why[sizeof(err) + 64];
	int nfd;

	if (strcmp(cur, spec) == 0)
		return 0;
	if (rg_daemon_metrics_bind(spec, &nfd, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "reload refused: %s; keeping the running configuration",
		    err);
		rg_log_error("%s", why);
		rg_daemon_reload_end(prog, state_dir, 0, why);
		return -1;
	}
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	rg_strlcpy(cur, spec, cursize);
	return 1;
}
