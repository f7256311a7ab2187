/*
 * privs.c - user lookup, ownership of state and sockets, and the drop.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rcptguard/privs.h"
#include "rcptguard/util.h"

int
rg_privs_resolve(const char *user, struct rg_privs *pv, char *err, size_t errsize)
{
	struct passwd *pw;

	memset(pv, 0, sizeof(*pv));
	if (user == NULL || user[0] == '\0' || geteuid() != 0)
		return 0;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsize, "user \"%s\" does not exist: create it "
		    "(adduser --system --group %s) or set user in [general]", user, user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsize, "user \"%s\" is root: name an unprivileged user", user);
		return -1;
	}
	pv->pv_active = 1;
	pv->pv_uid = pw->pw_uid;
	pv->pv_gid = pw->pw_gid;
	rg_strlcpy(pv->pv_user, user, sizeof(pv->pv_user));
	return 0;
}

int
rg_privs_own(const struct rg_privs *pv, const char *path, char *err, size_t errsize)
{
	if (!pv->pv_active)
		return 0;
	if (chown(path, pv->pv_uid, pv->pv_gid) < 0 && errno != ENOENT) {
		snprintf(err, errsize, "chown %s to %s: %s", path, pv->pv_user, strerror(errno));
		return -1;
	}
	return 0;
}

int
rg_privs_drop(const struct rg_privs *pv, char *err, size_t errsize)
{
	if (!pv->pv_active)
		return 0;
	if (setgid(pv->pv_gid) < 0 || initgroups(pv->pv_user, pv->pv_gid) < 0 ||
	    setuid(pv->pv_uid) < 0) {
		snprintf(err, errsize, "cannot run as %s: %s", pv->pv_user, strerror(errno));
		return -1;
	}
	/* A drop that can be undone is no drop. */
	if (setuid(0) == 0) {
		snprintf(err, errsize, "could regain root after dropping to %s", pv->pv_user);
		return -1;
	}
	return 0;
}

int
rg_privs_socket(const struct rg_privs *pv, const char *path, const char *owner,
    const char *group, unsigned mode, char *err, size_t errsize)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (owner != NULL && owner[0] != '\0') {
		struct passwd *pw = getpwnam(owner);
		if (pw == NULL) {
			snprintf(err, errsize, "socket_owner \"%s\" does not exist", owner);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else if (pv->pv_active) {
		uid = pv->pv_uid;
		gid = pv->pv_gid;
	}
	if (group != NULL && group[0] != '\0') {
		struct group *gr = getgrnam(group);
		if (gr == NULL) {
			snprintf(err, errsize, "socket_group \"%s\" does not exist", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		snprintf(err, errsize, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, errsize, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
rg_privs_mkdir(const char *dir, char *err, size_t errsize)
{
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
