/*
 * privs.c - user lookup, the safety of the state directory, ownership of
 * sockets, and the drop.
 *
 * SECURITY
 *   The state directory belongs to the service user, who may plant links in
 *   it. Root therefore never opens, creates or changes anything there by
 *   name: it looks at each entry through an O_PATH|O_NOFOLLOW descriptor and
 *   changes ownership through that descriptor. The cache itself is opened
 *   only after the drop, as the user, so LMDB's own opens cannot be turned
 *   against root either.
 */
#include "rg_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* rg_privs_owner_ok - owned by root or by the user who will run. */
static int
rg_privs_owner_ok(const struct rg_privs *pv, uid_t uid)
{
	return uid == 0 || uid == (pv->pv_active ? pv->pv_uid : geteuid());
}

/* rg_privs_advise - the one-line fix for an unsafe path. */
static void
rg_privs_advise(const struct rg_privs *pv, char *fix, size_t size, const char *path)
{
	snprintf(fix, size, "chown %s %s && chmod go-w %s",
	    pv->pv_active ? pv->pv_user : "$(id -un)", path, path);
}

/*
 * rg_privs_check_stat - what makes an entry of the state unsafe, or NULL:
 * a link, a file of the wrong type, another hard link, a foreign owner, or
 * write permission for group or others.
 */
static const char *
rg_privs_check_stat(const struct rg_privs *pv, const struct stat *sb, int want_dir)
{
	if (S_ISLNK(sb->st_mode))
		return "is a symbolic link";
	if (want_dir && !S_ISDIR(sb->st_mode))
		return "is not a directory";
	if (!want_dir && !S_ISREG(sb->st_mode))
		return "is not a regular file";
	if (!want_dir && sb->st_nlink != 1)
		return "has more than one hard link";
	if (!rg_privs_owner_ok(pv, sb->st_uid))
		return pv->pv_active ? "is owned by neither root nor the service user" :
		    "is owned by neither root nor the user running this program";
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return "is writable by group or others";
	return NULL;
}

/* rg_privs_only_ours - the directory holds nothing but the cache's files. */
static int
rg_privs_only_ours(int dfd, const char *base)
{
	char lock[RG_PRIVS_NAME_MAX + 8];
	struct dirent *de;
	DIR *d;
	int fd, ours = 1;

	snprintf(lock, sizeof(lock), "%s-lock", base);
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, base) == 0 || strcmp(de->d_name, lock) == 0)
			continue;
		ours = 0;
		break;
	}
	closedir(d);
	return ours;
}

/*
 * rg_privs_open_dir - the directory as a descriptor, never through a link;
 * created (0750) when missing and create is set.
 */
static enum rg_privs_state
rg_privs_open_dir(const struct rg_privs *pv, const char *dir, int create, int *dfd,
    char *err, size_t errsize)
{
	struct stat sb;
	char fix[RG_PRIVS_PATH_MAX * 2 + 64];
	const char *why;

	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			snprintf(err, errsize, "cannot create %s: %s", dir, strerror(errno));
			return RG_PRIVS_STATE_MISSING;
		}
		*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (*dfd < 0) {
		if (errno == ELOOP || errno == ENOTDIR) {
			/* O_DIRECTORY wins over O_NOFOLLOW: a link also gives ENOTDIR. */
			snprintf(err, errsize, "%s %s: refusing to use it", dir,
			    lstat(dir, &sb) == 0 && S_ISLNK(sb.st_mode) ? "is a symbolic link" :
			    "is not a directory");
			return RG_PRIVS_STATE_UNSAFE;
		}
		snprintf(err, errsize, "cannot open %s: %s", dir, strerror(errno));
		return RG_PRIVS_STATE_MISSING;
	}
	if (fstat(*dfd, &sb) < 0) {
		snprintf(err, errsize, "cannot stat %s: %s", dir, strerror(errno));
		close(*dfd);
		*dfd = -1;
		return RG_PRIVS_STATE_MISSING;
	}
	if ((why = rg_privs_check_stat(pv, &sb, 1)) != NULL) {
		rg_privs_advise(pv, fix, sizeof(fix), dir);
		snprintf(err, errsize, "%s %s: refusing to use it (fix: %s)", dir, why, fix);
		close(*dfd);
		*dfd = -1;
		return RG_PRIVS_STATE_UNSAFE;
	}
	return RG_PRIVS_STATE_OK;
}

/* rg_privs_hand_over - give an O_PATH descriptor's file to the user. */
static int
rg_privs_hand_over(const struct rg_privs *pv, int fd, const char *path, char *err,
    size_t errsize)
{
	if (fchownat(fd, "", pv->pv_uid, pv->pv_gid, AT_EMPTY_PATH) < 0) {
		snprintf(err, errsize, "chown %s to %s: %s", path, pv->pv_user, strerror(errno));
		return -1;
	}
	return 0;
}

/* rg_privs_check_file - one cache file: absent, or safe (and the user's when active). */
static enum rg_privs_state
rg_privs_check_file(const struct rg_privs *pv, int dfd, const char *dir, const char *name,
    char *err, size_t errsize)
{
	char path[RG_PRIVS_PATH_MAX * 2], fix[RG_PRIVS_PATH_MAX * 5];
	struct stat sb;
	const char *why;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return RG_PRIVS_STATE_OK;
		snprintf(err, errsize, "cannot look at %s: %s", path, strerror(errno));
		return RG_PRIVS_STATE_MISSING;
	}
	if (fstat(fd, &sb) < 0) {
		snprintf(err, errsize, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return RG_PRIVS_STATE_MISSING;
	}
	if ((why = rg_privs_check_stat(pv, &sb, 0)) != NULL) {
		if (S_ISLNK(sb.st_mode) || !S_ISREG(sb.st_mode) || sb.st_nlink != 1)
			snprintf(fix, sizeof(fix), "remove it; the cache is rebuilt by probing");
		else
			rg_privs_advise(pv, fix, sizeof(fix), path);
		snprintf(err, errsize, "%s %s: refusing to use it (fix: %s)", path, why, fix);
		close(fd);
		return RG_PRIVS_STATE_UNSAFE;
	}
	if (pv->pv_active && sb.st_uid != pv->pv_uid &&
	    rg_privs_hand_over(pv, fd, path, err, errsize) < 0) {
		close(fd);
		return RG_PRIVS_STATE_UNSAFE;
	}
	close(fd);
	return RG_PRIVS_STATE_OK;
}

enum rg_privs_state
rg_privs_state(const struct rg_privs *pv, const char *state_dir, const char *cache_path,
    int create, uid_t *dir_owner, char *err, size_t errsize)
{
	char cdir[RG_PRIVS_PATH_MAX], lock[RG_PRIVS_NAME_MAX + 8];
	const char *base, *slash;
	enum rg_privs_state st;
	struct stat sb;
	int dfd, cfd;

	*dir_owner = (uid_t)-1;
	if ((st = rg_privs_open_dir(pv, state_dir, create, &dfd, err, errsize)) != RG_PRIVS_STATE_OK)
		return st;
	if (fstat(dfd, &sb) == 0)
		*dir_owner = sb.st_uid;

	/* The cache may live elsewhere (an absolute cache_file): check its directory too. */
	slash = strrchr(cache_path, '/');
	base = slash != NULL ? slash + 1 : cache_path;
	if (slash == NULL || (size_t)(slash - cache_path) >= sizeof(cdir) ||
	    strlen(base) > RG_PRIVS_NAME_MAX || base[0] == '\0') {
		snprintf(err, errsize, "%s: not a usable cache file name", cache_path);
		close(dfd);
		return RG_PRIVS_STATE_UNSAFE;
	}
	memcpy(cdir, cache_path, (size_t)(slash - cache_path));
	cdir[slash - cache_path] = '\0';
	if (cdir[0] == '\0')
		rg_strlcpy(cdir, "/", sizeof(cdir));
	cfd = dfd;
	if (strcmp(cdir, state_dir) != 0 &&
	    (st = rg_privs_open_dir(pv, cdir, 0, &cfd, err, errsize)) != RG_PRIVS_STATE_OK) {
		close(dfd);
		return st;
	}
	snprintf(lock, sizeof(lock), "%s-lock", base);
	if ((st = rg_privs_check_file(pv, cfd, cdir, base, err, errsize)) == RG_PRIVS_STATE_OK)
		st = rg_privs_check_file(pv, cfd, cdir, lock, err, errsize);

	/*
	 * A state directory root made (by mkdir above, or an earlier run of the
	 * command line as root) goes to the user, so that LMDB can create its
	 * files after the drop. One that holds anything else is left alone: it
	 * is not ours to give away (state_dir = /var/lib, say).
	 */
	if (st == RG_PRIVS_STATE_OK && pv->pv_active && sb.st_uid == 0 && cfd == dfd &&
	    rg_privs_only_ours(dfd, base)) {
		if (fchown(dfd, pv->pv_uid, pv->pv_gid) < 0) {
			snprintf(err, errsize, "chown %s to %s: %s", state_dir, pv->pv_user,
			    strerror(errno));
			st = RG_PRIVS_STATE_UNSAFE;
		} else {
			*dir_owner = pv->pv_uid;
		}
	}
	if (cfd != dfd)
		close(cfd);
	close(dfd);
	return st;
}
