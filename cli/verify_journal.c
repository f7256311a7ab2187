/*
 * verify_journal.c - what an interrupted `rcptguard verify` had done, so
 * that --resume continues it: where the input stood, how many output
 * bytes hold whole rows, the counters, and the addresses of the rows
 * written (a Bloom filter of CLI_VSEEN_BYTES, which tells duplicates in a
 * list of any length in the same memory).
 *
 * The journal lives in STATE/verify/, named by a hash of the input file
 * (its path, device, inode, size and time), the output and the options,
 * so that a changed input or other options start a new run. It is
 * rewritten whole (a temporary file, fsync, rename): a kill at any moment
 * leaves the previous one or the new one, never a mix.
 *
 * FORMAT
 *   "rcptguard-verify-journal 2", then "name value" lines, then
 *   "seen N" and N bytes of the filter.
 */
#include "rg_build.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "verify.h"

#define CLI_VSEEN_HASHES	7
#define CLI_VJ_MAGIC		"rcptguard-verify-journal 2"	/* 2: the blocked filter */

uint64_t
cli_vjournal_key(const char *input, const char *output, const char *options)
{
	char buf[8192];
	struct stat st;
	char *real = realpath(input, NULL), *oreal = NULL;
	int n;

	memset(&st, 0, sizeof(st));
	(void)stat(input, &st);
	{
		/* The output may not exist yet: its directory's real path, and its name. */
		char *slash = strrchr(output, '/');
		char dir[4096];
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - output) : 1,
		    slash ? output : ".");
		if (slash == output)
			snprintf(dir, sizeof(dir), "/");
		oreal = realpath(dir, NULL);
		n = snprintf(buf, sizeof(buf), "%s\n%ju\n%ju\n%jd\n%jd.%09ld\n%s/%s\n%s",
		    real ? real : input, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
		    (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		    oreal ? oreal : dir, slash ? slash + 1 : output, options);
	}
	free(real);
	free(oreal);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return cli_hash64(buf, (size_t)n, 0);
}

int
cli_vjournal_path(struct cli_vjournal *j, const char *state_dir, char *err, size_t errsize)
{
	char dir[4096];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/verify", state_dir) >= sizeof(dir) ||
	    (size_t)snprintf(j->path, sizeof(j->path), "%s/%016" PRIx64 ".journal", dir,
	    j->key) >= sizeof(j->path)) {
		snprintf(err, errsize, "the state directory's path is too long");
		return -1;
	}
	/* A first run on this host: the state directory as the daemons make it. */
	if (mkdir(state_dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "%s: %s", state_dir, strerror(errno));
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The filter is blocked: a key's CLI_VSEEN_HASHES bits all fall in one
 * 64-byte block (one cache line), chosen by the high half of its hash,
 * the bits by 9-bit slices of a second mix of it. One cache miss per test
 * or add instead of one per bit, for a false-positive rate a little above
 * the plain filter's (about 0.1 % at a million keys, 5 % at ten million).
 */
#define CLI_VSEEN_BLOCK		64
#define CLI_VSEEN_BLOCKS	(CLI_VSEEN_BYTES / CLI_VSEEN_BLOCK)

uint64_t
cli_vseen_hash(const char *key)
{
	return cli_hash64(key, strlen(key), 0);
}

/* cli_vseen_block - the block of h; *x gets the bits of h in it, as 9-bit offsets. */
static const unsigned char *
cli_vseen_block(const unsigned char *seen, uint64_t h, uint64_t *x)
{
	/* A splitmix64 finalizer: bits independent of those that chose the block. */
	uint64_t z = h + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	*x = z ^ (z >> 31);
	return seen + ((h >> 32) % CLI_VSEEN_BLOCKS) * CLI_VSEEN_BLOCK;
}

int
cli_vseen_test(const unsigned char *seen, uint64_t h)
{
	uint64_t x;
	const unsigned char *blk = cli_vseen_block(seen, h, &x);

	for (int i = 0; i < CLI_VSEEN_HASHES; i++, x >>= 9)
		if (!(blk[(x & 511) >> 3] & (1u << (x & 7))))
			return 0;
	return 1;
}

void
cli_vseen_add(unsigned char *seen, uint64_t h)
{
	uint64_t x;
	unsigned char *blk = (unsigned char *)cli_vseen_block(seen, h, &x);

	for (int i = 0; i < CLI_VSEEN_HASHES; i++, x >>= 9)
		blk[(x & 511) >> 3] |= (unsigned char)(1u << (x & 7));
}

struct cli_vj_names {
	FILE		*fp;
	const char	*tag;
};

static void
cli_vj_name(const char *key, void *val, void *arg)
{
	struct cli_vj_names *n = arg;

	(void)val;
	fprintf(n->fp, "%s %s\n", n->tag, key);
}

int
cli_vjournal_save(const struct cli_vjournal *j, struct cli_htab *throttled,
    struct cli_htab *greylisted, char *err, size_t errsize)
{
	char tmp[sizeof(j->path) + 8];
	struct cli_vj_names names;
	const struct cli_vstats *st = &j->st;
	FILE *fp;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(fp, "%s\nkey %016" PRIx64 "\nrun_start %" PRId64 "\noffset %" PRIu64
	    "\nlines %" PRIu64 "\nout_size %" PRId64 "\n", CLI_VJ_MAGIC, j->key, j->run_start,
	    j->offset, j->lines, j->out_size);
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		fprintf(fp, "split_size %d %" PRId64 "\n", c, j->split_size[c]);
	fprintf(fp, "rows %" PRIu64 "\nduplicates %" PRIu64 "\nbad_lines %" PRIu64
	    "\nprobes %" PRIu64 "\ncache_hits %" PRIu64 "\nelapsed_ms %" PRId64
	    "\nparts %" PRIu64 "\n", st->rows, st->duplicates, st->bad_lines, st->probes,
	    st->cache_hits, st->elapsed_ms, st->parts);
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		fprintf(fp, "class %d %" PRIu64 "\n", c, st->cls[c]);
	for (int r = 0; r < RG_REASON_COUNT; r++)
		if (st->reason[r])
			fprintf(fp, "reason %d %" PRIu64 "\n", r, st->reason[r]);
	names.fp = fp;
	names.tag = "throttled";
	cli_htab_each(throttled, cli_vj_name, &names);
	names.tag = "greylisted";
	cli_htab_each(greylisted, cli_vj_name, &names);
	fprintf(fp, "seen %u\n", CLI_VSEEN_BYTES);
	fwrite(j->seen, 1, CLI_VSEEN_BYTES, fp);
	ok = fflush(fp) == 0 && !ferror(fp) && fsync(fd) == 0;
	if (fclose(fp) != 0)
		ok = 0;
	if (!ok || rename(tmp, j->path) < 0) {
		snprintf(err, errsize, "%s: %s", j->path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* cli_vj_field - one "name value" line into the journal; 0, or -1 when unknown. */
static int
cli_vj_field(struct cli_vjournal *j, const char *name, const char *val,
    struct cli_htab *throttled, struct cli_htab *greylisted)
{
	struct cli_vstats *st = &j->st;
	unsigned long long u = 0;
	long long i = 0;
	int idx = -1;

	if (strcmp(name, "throttled") == 0 || strcmp(name, "greylisted") == 0) {
		struct cli_htab *set = name[0] == 't' ? throttled : greylisted;
		if (strspn(val, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(val) ||
		    *val == '\0')
			return -1;
		return cli_htab_count(set) < CLI_VDOMAINS_MAX ? cli_htab_put(set, val, set) : 0;
	}
	if (strcmp(name, "key") == 0)
		return sscanf(val, "%llx", &u) == 1 && u == j->key ? 0 : -1;
	if (strcmp(name, "split_size") == 0 || strcmp(name, "class") == 0 ||
	    strcmp(name, "reason") == 0) {
		int max = name[0] == 'r' ? RG_REASON_COUNT : RG_CLASS_COUNT;
		if (sscanf(val, "%d %lld", &idx, &i) != 2 || idx < 0 || idx >= max || i < 0)
			return -1;
		if (name[0] == 's')
			j->split_size[idx] = i;
		else if (name[0] == 'c')
			st->cls[idx] = (uint64_t)i;
		else
			st->reason[idx] = (uint64_t)i;
		return 0;
	}
	if (sscanf(val, "%lld", &i) != 1 || i < 0)
		return -1;
	u = (unsigned long long)i;
	if (strcmp(name, "run_start") == 0) j->run_start = i;
	else if (strcmp(name, "offset") == 0) j->offset = u;
	else if (strcmp(name, "lines") == 0) j->lines = u;
	else if (strcmp(name, "out_size") == 0) j->out_size = i;
	else if (strcmp(name, "rows") == 0) st->rows = u;
	else if (strcmp(name, "duplicates") == 0) st->duplicates = u;
	else if (strcmp(name, "bad_lines") == 0) st->bad_lines = u;
	else if (strcmp(name, "probes") == 0) st->probes = u;
	else if (strcmp(name, "cache_hits") == 0) st->cache_hits = u;
	else if (strcmp(name, "elapsed_ms") == 0) st->elapsed_ms = i;
	else if (strcmp(name, "parts") == 0) st->parts = u;
	else return -1;
	return 0;
}

int
cli_vjournal_load(struct cli_vjournal *j, struct cli_htab *throttled,
    struct cli_htab *greylisted, char *err, size_t errsize)
{
	char line[1024];
	FILE *fp;
	int fd, first = 1, rc = -1;

	if ((fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsize, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		snprintf(err, errsize, "%s: %s", j->path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *sp, *nl = strchr(line, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		if (first) {
			if (strcmp(line, CLI_VJ_MAGIC) != 0)
				break;
			first = 0;
			continue;
		}
		if ((sp = strchr(line, ' ')) == NULL)
			break;
		*sp++ = '\0';
		if (strcmp(line, "seen") == 0) {
			if (strtoul(sp, NULL, 10) == CLI_VSEEN_BYTES &&
			    fread(j->seen, 1, CLI_VSEEN_BYTES, fp) == CLI_VSEEN_BYTES &&
			    fgetc(fp) == EOF)
				rc = 1;
			break;
		}
		if (cli_vj_field(j, line, sp, throttled, greylisted) < 0)
			break;
	}
	fclose(fp);
	if (rc < 0)
		snprintf(err, errsize, "%s: the journal is damaged; run again without --resume "
		    "to start from the beginning", j->path);
	return rc;
}

void
cli_vjournal_remove(const struct cli_vjournal *j)
{
	if (j->path[0])
		unlink(j->path);
}
