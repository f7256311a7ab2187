/*
 * daemon.h - what rcptguard-policyd and rcptguard-milter do alike to start:
 * read and check the config, go to the background with the parent waiting
 * for the child's word, hand the state to the configured user.
 */
#ifndef RG_DAEMON_H
#define RG_DAEMON_H

#include <stddef.h>

#include "rcptguard/config.h"
#include "rcptguard/privs.h"

/*
 * rg_daemon_load - read path into cfg and check it: every list of the
 * policy compiles and every knowledge file loads. A daemon leaves its start
 * directory, so relative paths become absolute here.
 */
int rg_daemon_load(struct rg_config *cfg, const char *path, int must_exist, char *err,
    size_t errsize);

/* The command line both daemons take: -c -f -l -n -s -v -V. */
struct rg_daemon_opts {
	const char	*o_prog;		/* "rcptguard-policyd" */
	const char	*o_config;		/* -c, or the default path */
	int		 o_config_must_exist;	/* -c was given */
	char		 o_listen[RG_CONFIG_PATH_MAX];	/* -l ("," between several), or "" */
	size_t		 o_listen_off;		/* where -l goes in struct rg_config */
	int		 o_foreground;		/* -f, or -s */
	int		 o_syslog;		/* -s: in the foreground, logging to syslog */
	int		 o_check;		/* -n */
	int		 o_verbose;		/* -v */
};

/*
 * rg_daemon_options - parse argv. many_listen: -l may repeat. Prints the
 * version and exits 0 for -V; prints usage and exits 2 on a bad option.
 */
void rg_daemon_options(struct rg_daemon_opts *o, int argc, char **argv, int many_listen,
    const char *listen_help);

/* rg_daemon_config - rg_daemon_load of the -c file, with -l applied. */
int rg_daemon_config(const struct rg_daemon_opts *o, struct rg_config *cfg, char *err,
    size_t errsize);

/*
 * rg_daemon_reload_config - SIGHUP: the new config (caller frees), or NULL
 * after logging why it was refused (the running one stays); why says it
 * too.
 */
struct rg_config *rg_daemon_reload_config(const struct rg_daemon_opts *o, char *why,
    size_t whysize);

/*
 * rg_daemon_start_config - logging to stderr, then the config: exits 1 with
 * the error when it does not check, 0 after saying so for -n.
 */
void rg_daemon_start_config(const struct rg_daemon_opts *o, struct rg_config *cfg);

/*
 * rg_daemon_detach - go to the background: fork, setsid, chdir /, stdio to
 * /dev/null. The parent stays until the child calls rg_daemon_ready with
 * *notify, and exits with the status it is given (1 if the child dies).
 */
int rg_daemon_detach(int *notify);
void rg_daemon_ready(int notify, unsigned char status);

/*
 * rg_daemon_state - rg_privs_state for the configured cache, as root before
 * the drop: an unsafe state is fatal, a missing one is logged (the cache
 * then reports it and fail_mode applies).
 */
void rg_daemon_state(const struct rg_privs *pv, const struct rg_config *cfg);

/*
 * Telling the service manager, and whoever asked for a reload, how it went.
 *
 * rg_daemon_up - serving: READY=1 to systemd (sd_notify, when the daemon
 * runs under a NOTIFY_SOCKET), and the status file STATE/PROG.status
 * written with generation 0.
 * rg_daemon_reload_begin - RELOADING=1, as SIGHUP arrives.
 * rg_daemon_reload_end - READY=1 again and the status file with the next
 * generation, saying whether the new configuration runs (ok) and why not.
 *
 * STATUS FILE
 *   In $RUNTIME_DIRECTORY when systemd gives one (it stays the same when a
 *   reload changes state_dir), else in state_dir. "pid N", "generation N",
 *   "result started|ok|failed", "message TEXT" lines, replaced whole (a temporary file, then rename); `rcptguard
 *   reload` sends SIGHUP and waits for the generation to move.
 */
void rg_daemon_up(const char *prog, const char *state_dir, const char *status);
/* rg_daemon_status_dir - where the status file is: $RUNTIME_DIRECTORY, else state_dir. */
const char *rg_daemon_status_dir(const char *state_dir);
void rg_daemon_reload_begin(void);
void rg_daemon_reload_end(const char *prog, const char *state_dir, int ok, const char *message);

/*
 * Metrics (rcptguard_*, served at metrics_listen by exporter.h).
 *
 * rg_daemon_metrics_init - decisions are counted as prog's ("rcptguard-
 * policyd" counts as policyd); rcptguard_build_info says the version.
 * rg_daemon_metrics_bind - bind spec into *fd (-1 when spec is empty), as
 * the daemon starts: -1 with err when it cannot.
 * rg_daemon_metrics_rebind - a reload: 0 when spec did not change, 1 when
 * *fd now listens at spec (the old one closed, -1 for ""), -1 when the new
 * address cannot be bound: *fd and *cur stay, and the reload is refused
 * (logged, rg_daemon_reload_end) for the caller to keep what runs.
 */
void rg_daemon_metrics_init(const char *prog);
int rg_daemon_metrics_bind(const char *spec, int *fd, char *err, size_t errsize);
int rg_daemon_metrics_rebind(const char *prog, const char *state_dir, int *fd, char *cur,
    size_t cursize, const char *spec);

/* rg_daemon_raise_nofile - as many descriptors as the hard limit allows. */
void rg_daemon_raise_nofile(void);

#endif /* RG_DAEMON_H */
