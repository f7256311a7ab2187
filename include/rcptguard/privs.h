/*
 * privs.h - open everything as root, then run as the configured user.
 *
 * The daemons resolve the user before they open anything, open their
 * sockets and hand them to it, make the state directory safe, and then drop
 * (setgid, initgroups, setuid) before the cache is opened. Every failure is
 * fatal to the caller: a daemon that meant to drop and could not must not
 * go on as root.
 */
#ifndef RG_PRIVS_H
#define RG_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

struct rg_privs {
	int	pv_active;	/* started as root with a user configured */
	uid_t	pv_uid;
	gid_t	pv_gid;
	char	pv_user[64];
};

/* rg_privs_resolve - look user up; inactive when not root or user is empty. */
int rg_privs_resolve(const char *user, struct rg_privs *pv, char *err, size_t errsize);

/* rg_privs_drop - become the user for good (when active). */
int rg_privs_drop(const struct rg_privs *pv, char *err, size_t errsize);

/*
 * rg_privs_socket - set owner, group and mode of a unix socket. Empty owner:
 * the privs user (or leave it); empty group: the owner's primary group.
 */
int rg_privs_socket(const struct rg_privs *pv, const char *path, const char *owner,
    const char *group, unsigned mode, char *err, size_t errsize);

#define RG_PRIVS_PATH_MAX	1024	/* as RG_CONFIG_PATH_MAX */
#define RG_PRIVS_NAME_MAX	255

/* What rg_privs_state found. */
enum rg_privs_state {
	RG_PRIVS_STATE_OK,	/* safe to open the cache (as the user, when active) */
	RG_PRIVS_STATE_UNSAFE,	/* a link, a foreign owner, writable by others: refuse to start */
	RG_PRIVS_STATE_MISSING,	/* cannot be created or read: the cache reports it, fail_mode */
};

/*
 * rg_privs_state - make the state directory ready and check it before the
 * cache is opened: the directory (created 0750 when missing and create is
 * set), and the cache file and its lock file where they exist, must not be
 * symbolic links or hard links, must be owned by root or the user who will
 * run, and must not be writable by group or others. When active, root-owned cache
 * files, and a root-owned directory holding nothing else, are handed to the
 * user through descriptors. *dir_owner is the directory's owner after that.
 * err names the path and the fix.
 */
enum rg_privs_state rg_privs_state(const struct rg_privs *pv, const char *state_dir,
    const char *cache_path, int create, uid_t *dir_owner, char *err, size_t errsize);

#endif /* RG_PRIVS_H */
