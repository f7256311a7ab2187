/*
 * state.c - the command line run as root acts on the service's state as
 * the service user.
 *
 * An admin runs `rcptguard cache put` or `rcptguard check` as root against
 * the cache the daemons use. Were the cache opened as root, LMDB would
 * follow any link the service user planted in its own state directory, and
 * files it created would be root's, which the daemons (running as the user)
 * could no longer open. So the state is checked as the daemons check it,
 * and when the configured user exists the command drops to it before the
 * cache is opened; files root made earlier are handed to it.
 */
#include "rg_build.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rcptguard/privs.h"

int
cli_state(struct cli_ctx *ctx)
{
	struct rg_privs pv;
	char path[RG_CONFIG_PATH_MAX], err[RG_CONFIG_PATH_MAX * 4];
	uid_t owner;

	if (rg_config_cache_path(&ctx->cfg, path, sizeof(path)) < 0) {
		cli_error("the cache path is too long");
		return -1;
	}
	/* Not root, or no such user here: the checks only, as who we are. */
	if (rg_privs_resolve(ctx->cfg.user, &pv, err, sizeof(err)) < 0)
		memset(&pv, 0, sizeof(pv));
	switch (rg_privs_state(&pv, ctx->cfg.state_dir, path, 0, &owner, err, sizeof(err))) {
	case RG_PRIVS_STATE_UNSAFE:
		cli_error("unsafe state: %s", err);
		return -1;
	case RG_PRIVS_STATE_MISSING:	/* the cache says what is missing */
	case RG_PRIVS_STATE_OK:
		break;
	}
	if (!pv.pv_active)
		return 0;
	if (rg_privs_drop(&pv, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return -1;
	}
	/* Say why, rather than a bare "permission denied" from the cache. */
	if (access(ctx->cfg.state_dir, R_OK | W_OK | X_OK) < 0 && errno != ENOENT) {
		cli_error("%s: not accessible to user %s, who runs the daemons and as whom "
		    "the command acts when started as root: let that user reach the "
		    "directory, or set user = (empty) in [general] for a private state",
		    ctx->cfg.state_dir, ctx->cfg.user);
		return -1;
	}
	return 0;
}
