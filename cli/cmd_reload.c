/*
 * cmd_reload.c - "reload": SIGHUP to a running policy server, SIGUSR1 to a
 * running milter (libmilter's own signal thread waits for SIGHUP; see
 * milter.c), then wait until it says how the reload went, for systemd's
 * ExecReload= and for admins:
 *
 *   rcptguard [-c FILE] reload policyd|milter PID [--timeout D]
 *
 * The daemon writes rcptguard-PROG.status ($RUNTIME_DIRECTORY under
 * systemd, else state_dir) at start and after every
 * reload (lib/daemon.c): its pid, a generation that each reload moves on,
 * and the result. Exit 0 when the new configuration runs, 1 when the
 * daemon refused it (or runs it with an unusable cache), did not answer
 * within the timeout, or is not there.
 */
#include "rg_build.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cli.h"
#include "rcptguard/clock.h"
#include "rcptguard/daemon.h"
#include "rcptguard/util.h"

#define CLI_RELOAD_USAGE	"usage: reload policyd|milter PID [--timeout D]"
#define CLI_RELOAD_POLL_MS	50

struct cli_reload_status {
	long	pid;
	long	generation;
	char	result[16];
	char	message[1200];
};

/* cli_reload_read - the status file; 0 when it is there and whole. */
static int
cli_reload_read(const char *path, struct cli_reload_status *st)
{
	char line[1300];
	FILE *fp = fopen(path, "re");
	int fields = 0;

	memset(st, 0, sizeof(*st));
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "pid %ld", &st->pid) == 1 ||
		    sscanf(line, "generation %ld", &st->generation) == 1 ||
		    sscanf(line, "result %15s", st->result) == 1)
			fields++;
		else if (strncmp(line, "message ", 8) == 0)
			rg_strlcpy(st->message, line + 8, sizeof(st->message));
	}
	fclose(fp);
	return fields == 3 ? 0 : -1;
}

int
cli_cmd_reload(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_reload_status before, now;
	char path[RG_CONFIG_PATH_MAX + 64];
	int64_t timeout = 60, deadline;
	const char *prog;
	int sig = SIGHUP;
	long pid;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 't' && rg_parse_duration(optarg, &timeout) == 0 && timeout > 0)
			continue;
		cli_error("%s", c == 't' ? "--timeout: not a duration" : CLI_RELOAD_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (argc - optind != 2) {
		cli_error(CLI_RELOAD_USAGE);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "policyd") == 0)
		prog = "rcptguard-policyd";
	else if (strcmp(argv[optind], "milter") == 0) {
		prog = "rcptguard-milter";
		sig = SIGUSR1;
	}
	else {
		cli_error("reload: \"%s\" is neither policyd nor milter", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	errno = 0;
	pid = strtol(argv[optind + 1], &end, 10);
	if (errno != 0 || *end != '\0' || pid <= 1) {
		cli_error("reload: \"%s\" is not a process id", argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.status",
	    rg_daemon_status_dir(ctx->cfg.state_dir), prog) >= sizeof(path)) {
		cli_error("reload: the state directory's path is too long");
		return CLI_EXIT_CONFIG;
	}
	/* A file of another process (an earlier one) tells nothing of this one. */
	if (cli_reload_read(path, &before) < 0 || before.pid != pid)
		before.generation = -1;
	if (kill((pid_t)pid, sig) < 0) {
		cli_error("reload: process %ld: %s", pid, strerror(errno));
		return CLI_EXIT_NOTFOUND;
	}
	deadline = rg_clock_mono_ms() + timeout * 1000;
	for (;;) {
		struct timespec ts = { 0, CLI_RELOAD_POLL_MS * 1000000L };

		if (cli_reload_read(path, &now) == 0 && now.pid == pid &&
		    now.generation > before.generation && strcmp(now.result, "started") != 0)
			break;
		if (rg_clock_mono_ms() >= deadline) {
			cli_error("reload: %s (pid %ld) did not report within %llds (its status: %s)",
			    prog, pid, (long long)timeout, path);
			return CLI_EXIT_NOTFOUND;
		}
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			cli_error("reload: %s (pid %ld) is gone", prog, pid);
			return CLI_EXIT_NOTFOUND;
		}
		nanosleep(&ts, NULL);
	}
	if (strcmp(now.result, "ok") != 0) {
		cli_error("reload: %s: %s", prog, now.message);
		return CLI_EXIT_NOTFOUND;
	}
	printf("rcptguard: reload: %s: %s\n", prog, now.message);
	return CLI_EXIT_OK;
}
