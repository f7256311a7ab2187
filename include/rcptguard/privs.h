/*
 * privs.h - open everything as root, then run as the configured user.
 *
 * The daemons resolve the user before they open anything, hand the state
 * directory, the cache files and their unix sockets to it, and then drop
 * (setgid, initgroups, setuid). Every failure is fatal to the caller: a
 * daemon that meant to drop and could not must not go on as root.
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

/* rg_privs_own - give path to the user (when active); a missing path is fine. */
int rg_privs_own(const struct rg_privs *pv, const char *path, char *err, size_t errsize);

/* rg_privs_drop - become the user for good (when active). */
int rg_privs_drop(const struct rg_privs *pv, char *err, size_t errsize);

/*
 * rg_privs_socket - set owner, group and mode of a unix socket. Empty owner:
 * the privs user (or leave it); empty group: the owner's primary group.
 */
int rg_privs_socket(const struct rg_privs *pv, const char *path, const char *owner,
    const char *group, unsigned mode, char *err, size_t errsize);

/* rg_privs_mkdir - create dir (mode 0750) when missing. */
int rg_privs_mkdir(const char *dir, char *err, size_t errsize);

#endif /* RG_PRIVS_H */
