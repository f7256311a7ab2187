/*
 * testutil.h - helpers shared by the cmocka unit tests: temporary state
 * directories, a controllable clock, and a config pointing at them.
 */
#ifndef RG_TESTUTIL_H
#define RG_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/config.h"
#include "rcptguard/util.h"

static int64_t testutil_now = 1800000000;

/* testutil_clock - the test clock: testutil_now seconds, in rg_clock's milliseconds. */
static inline int64_t
testutil_clock(void *arg)
{
	(void)arg;
	return testutil_now * 1000;
}

/* testutil_tmpdir - a fresh directory under $TMPDIR; caller frees. */
static inline char *
testutil_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&path, "%s/rg-test-XXXXXX", base) < 0)
		abort();
	if (mkdtemp(path) == NULL)
		abort();
	return path;
}

static inline void
testutil_rmdir(char *path)
{
	char *cmd;

	if (asprintf(&cmd, "rm -rf '%s'", path) < 0)
		abort();
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
	free(cmd);
	free(path);
}

/* testutil_config - defaults with state_dir set to dir. */
static inline void
testutil_config(struct rg_config *cfg, const char *dir)
{
	rg_config_defaults(cfg);
	rg_strlcpy(cfg->state_dir, dir, sizeof(cfg->state_dir));
}

#endif /* RG_TESTUTIL_H */
