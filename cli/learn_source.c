/*
 * learn_source.c - the lines of an MTA's log for `rcptguard learn`
 * (learn_source.h).
 *
 * Rotation, the way tail -F and logtail deal with it:
 *   - by rename (rsyslog's logrotate): the name now leads to another file.
 *     The old one is read to its end first, then the new one from its
 *     start. A line cut in half at the end of the old file is dropped and
 *     counted.
 *   - by copytruncate: the same file is shorter than the position, or its
 *     first bytes changed. It is read again from the start.
 * The position (file identity, offset after the last whole line, and a
 * fingerprint of the file's first bytes) goes to
 * state_dir/learn-HASH.pos, written to a temporary file and renamed. A run
 * that finds the name leading to another file looks in the same directory
 * for the rotated one that has the saved identity and reads its rest first.
 *
 * SECURITY
 *   Lines are bounded (CLI_LSRC_LINE_MAX; a longer one is skipped whole),
 *   and a line with a NUL byte (a damaged block, as a crash or a truncation
 *   under the writer leaves) is skipped and counted. The position file is
 *   read with fixed formats and checked against the file it names.
 */
#include "rg_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "learn_source.h"
#include "rcptguard/util.h"

#define CLI_LSRC_CHUNK	(256 * 1024)
#define CLI_LSRC_FP_MAX	256

/* cli_lsrc_hash - FNV-1a of n bytes. */
static uint32_t
cli_lsrc_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* cli_lsrc_fingerprint - hash of the first n bytes of fd; -1 when it has fewer. */
static int
cli_lsrc_fingerprint(int fd, size_t n, uint32_t *h)
{
	unsigned char b[CLI_LSRC_FP_MAX];
	ssize_t r;

	if (n > sizeof(b))
		return -1;
	r = pread(fd, b, n, 0);
	if (r < 0 || (size_t)r != n)
		return -1;
	*h = cli_lsrc_hash(b, n);
	return 0;
}

/* cli_lsrc_attach - make fd (of path's file st) the current file, read from off. */
static void
cli_lsrc_attach(struct cli_lsrc *s, int fd, const struct stat *st, off_t off)
{
	if (s->ls_fd > STDIN_FILENO && s->ls_fd != fd)
		close(s->ls_fd);
	s->ls_fd = fd;
	s->ls_dev = st->st_dev;
	s->ls_ino = st->st_ino;
	s->ls_off = off;
	s->ls_line_off = off;
	s->ls_len = 0;
	s->ls_dropping = 0;
	s->ls_fp_len = 0;
	if (off > 0)
		lseek(fd, off, SEEK_SET);
}

struct cli_lsrc_pos {
	char		path[4096];
	uintmax_t	dev, ino, off, fp_len;
	unsigned long	fp;
};

/* cli_lsrc_load - the saved position; -1 when there is none or it is not ours. */
static int
cli_lsrc_load(const char *posfile, struct cli_lsrc_pos *p)
{
	FILE *fp = fopen(posfile, "re");
	char line[4200];
	int ok = 0;

	if (fp == NULL)
		return -1;
	memset(p, 0, sizeof(*p));
	if (fgets(line, sizeof(line), fp) != NULL &&
	    strcmp(line, "rcptguard-learn-position 1\n") == 0 &&
	    fgets(line, sizeof(line), fp) != NULL && strncmp(line, "path ", 5) == 0) {
		line[strcspn(line, "\n")] = '\0';
		rg_strlcpy(p->path, line + 5, sizeof(p->path));
		ok = fscanf(fp, "dev %ju\nino %ju\noffset %ju\nfingerprint %lu %ju\n", &p->dev,
		    &p->ino, &p->off, &p->fp, &p->fp_len) == 5 && p->fp_len <= CLI_LSRC_FP_MAX;
	}
	fclose(fp);
	return ok ? 0 : -1;
}

/*
 * cli_lsrc_matches - fd (st) is the file of position p, still as long as
 * p's offset, with the same first bytes.
 */
static int
cli_lsrc_matches(int fd, const struct stat *st, const struct cli_lsrc_pos *p)
{
	uint32_t h;

	if ((uintmax_t)st->st_dev != p->dev || (uintmax_t)st->st_ino != p->ino ||
	    (uintmax_t)st->st_size < p->off)
		return 0;
	if (p->fp_len == 0)
		return 1;
	return cli_lsrc_fingerprint(fd, (size_t)p->fp_len, &h) == 0 && h == (uint32_t)p->fp;
}

/*
 * cli_lsrc_find_rotated - the file next to path (path.1, path-20261207, ...)
 * that is the one of position p: opened, or -1.
 */
static int
cli_lsrc_find_rotated(const char *path, const struct cli_lsrc_pos *p, struct stat *out)
{
	char dir[4096], full[8200];
	const char *slash = strrchr(path, '/'), *base;
	size_t blen;
	DIR *d;
	struct dirent *de;
	int found = -1;

	if (slash == NULL) {
		rg_strlcpy(dir, ".", sizeof(dir));
		base = path;
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			rg_strlcpy(dir, "/", sizeof(dir));
		base = slash + 1;
	}
	blen = strlen(base);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (found < 0 && (de = readdir(d)) != NULL) {
		int fd;
		struct stat st;

		if (strncmp(de->d_name, base, blen) != 0 || de->d_name[blen] == '\0')
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		if ((fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && cli_lsrc_matches(fd, &st, p)) {
			*out = st;
			found = fd;
		} else {
			close(fd);
		}
	}
	closedir(d);
	return found;
}

int
cli_lsrc_open(struct cli_lsrc *s, const char *path, const char *posdir, int from_start,
    char *err, size_t errsize)
{
	struct cli_lsrc_pos pos;
	struct stat st;
	char abs[PATH_MAX];
	int fd;

	memset(s, 0, sizeof(*s));
	s->ls_fd = -1;
	if ((s->ls_buf = malloc(CLI_LSRC_LINE_MAX + 1)) == NULL) {
		rg_strlcpy(err, "out of memory", errsize);
		return -1;
	}
	s->ls_cap = CLI_LSRC_LINE_MAX + 1;
	if (path == NULL || strcmp(path, "-") == 0) {
		s->ls_fd = STDIN_FILENO;
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A pipe or a FIFO: read as it comes, no position. */
		s->ls_fd = fd;
		return 0;
	}
	if (realpath(path, abs) == NULL)
		rg_strlcpy(abs, path, sizeof(abs));
	rg_strlcpy(s->ls_path, abs, sizeof(s->ls_path));
	cli_lsrc_attach(s, fd, &st, 0);
	if (posdir == NULL)
		return 0;
	snprintf(s->ls_posfile, sizeof(s->ls_posfile), "%s/learn-%08" PRIx32 ".pos", posdir,
	    cli_lsrc_hash(abs, strlen(abs)));
	if (from_start || cli_lsrc_load(s->ls_posfile, &pos) < 0 || strcmp(pos.path, abs) != 0)
		return 0;
	if (cli_lsrc_matches(fd, &st, &pos)) {
		cli_lsrc_attach(s, fd, &st, (off_t)pos.off);
		return 0;
	}
	/* Rotated while we were away: finish the old file first, if it is still there. */
	{
		struct stat ost;
		int ofd = cli_lsrc_find_rotated(abs, &pos, &ost);

		if (ofd >= 0) {
			close(fd);
			cli_lsrc_attach(s, ofd, &ost, (off_t)pos.off);
			s->ls_switch = 1;
			s->ls_rotations++;
		}
	}
	return 0;
}

void
cli_lsrc_close(struct cli_lsrc *s)
{
	if (s->ls_fd > STDIN_FILENO)
		close(s->ls_fd);
	s->ls_fd = -1;
	free(s->ls_buf);
	s->ls_buf = NULL;
}

/* cli_lsrc_line - one whole line (without its newline): checked, then to fn. */
static void
cli_lsrc_line(struct cli_lsrc *s, const char *p, size_t n, cli_lsrc_line_fn fn, void *arg)
{
	s->ls_lines++;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\0', n) != NULL) {
		s->ls_damaged++;
		return;
	}
	fn(p, n, arg);
}

void
cli_lsrc_set_mark(struct cli_lsrc *s, const char *mark)
{
	s->ls_mark = mark;
	s->ls_mark_len = mark != NULL ? strlen(mark) : 0;
}

/*
 * cli_lsrc_count_lines - newlines in [p, end). Lines are ~100 bytes, so a
 * memchr per line spends more on calls than on bytes: with SSE2 (every
 * x86-64), 16 bytes are compared at once and the matches counted.
 */
static uint64_t
cli_lsrc_count_lines(const char *p, const char *end)
{
	uint64_t n = 0;

#ifdef __SSE2__
	const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();

	while (end - p >= 16) {
		/* Each lane counts its matches (a match is -1, subtracted), at most 255 rounds. */
		__m128i acc = zero, sum;
		int k;

		for (k = 0; k < 255 && end - p >= 16; k++, p += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));
		}
		sum = _mm_sad_epu8(acc, zero);
		n += (uint64_t)_mm_cvtsi128_si32(sum) + (uint64_t)_mm_extract_epi16(sum, 4);
	}
#endif
	for (; p < end; p++)
		n += *p == '\n';
	return n;
}

/*
 * cli_lsrc_skip - with a mark, pass over the whole lines from p that do
 * not hold it: up to the start of the line of the next mark, or to the
 * last newline of the chunk. Returns the new p.
 */
static const char *
cli_lsrc_skip(struct cli_lsrc *s, const char *p, const char *end)
{
	const char *m, *to;

	m = memmem(p, (size_t)(end - p), s->ls_mark, s->ls_mark_len);
	if (m != NULL) {
		to = memrchr(p, '\n', (size_t)(m - p));
	} else {
		to = memrchr(p, '\n', (size_t)(end - p));
	}
	if (to == NULL)
		return p;
	to++;
	s->ls_lines += cli_lsrc_count_lines(p, to);
	s->ls_off += (off_t)(to - p);
	s->ls_line_off = s->ls_off;
	return to;
}

int
cli_lsrc_read(struct cli_lsrc *s, size_t max, cli_lsrc_line_fn fn, void *arg, char *err,
    size_t errsize)
{
	static char chunk[CLI_LSRC_CHUNK];
	size_t total = 0;
	int any = 0;

	while (total < max) {
		ssize_t r = read(s->ls_fd, chunk, sizeof(chunk));
		const char *p = chunk, *end, *nl;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			snprintf(err, errsize, "%s: %s", s->ls_path[0] ? s->ls_path : "standard input",
			    strerror(errno));
			return -1;
		}
		if (r == 0)
			break;
		any = 1;
		total += (size_t)r;
		end = chunk + r;
		for (;;) {
			size_t n;

			/* Between whole lines, lines without the mark go by uncopied. */
			if (s->ls_mark != NULL && s->ls_len == 0 && !s->ls_dropping)
				p = cli_lsrc_skip(s, p, end);
			if (p >= end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				break;
			n = (size_t)(nl - p);
			if (s->ls_dropping) {
				s->ls_dropping = 0;
				s->ls_too_long++;
				s->ls_lines++;
			} else if (s->ls_len > 0) {
				if (s->ls_len + n > CLI_LSRC_LINE_MAX) {
					s->ls_too_long++;
					s->ls_lines++;
				} else {
					memcpy(s->ls_buf + s->ls_len, p, n);
					cli_lsrc_line(s, s->ls_buf, s->ls_len + n, fn, arg);
				}
			} else if (n > CLI_LSRC_LINE_MAX) {
				s->ls_too_long++;
				s->ls_lines++;
			} else {
				cli_lsrc_line(s, p, n, fn, arg);
			}
			s->ls_len = 0;
			s->ls_off += (off_t)(nl + 1 - p);
			s->ls_line_off = s->ls_off;
			p = nl + 1;
		}
		/* The rest is a line not finished yet. */
		if (p < end) {
			size_t n = (size_t)(end - p);

			if (!s->ls_dropping && s->ls_len + n <= CLI_LSRC_LINE_MAX) {
				memcpy(s->ls_buf + s->ls_len, p, n);
				s->ls_len += n;
			} else {
				s->ls_dropping = 1;
				s->ls_len = 0;
			}
			s->ls_off += (off_t)n;
		}
	}
	return any;
}

int
cli_lsrc_pending(const struct cli_lsrc *s)
{
	return s->ls_switch;
}

/* cli_lsrc_rewritten - the file's first bytes are no longer those of the last save. */
static int
cli_lsrc_rewritten(const struct cli_lsrc *s, const struct stat *cur)
{
	uint32_t h;

	if (s->ls_fp_len == 0 || (size_t)cur->st_size < s->ls_fp_len)
		return 0;
	return cli_lsrc_fingerprint(s->ls_fd, s->ls_fp_len, &h) == 0 && h != s->ls_fp;
}

int
cli_lsrc_rotated(struct cli_lsrc *s)
{
	struct stat st, cur;
	int fd;

	if (s->ls_path[0] == '\0')
		return 0;
	if (stat(s->ls_path, &st) < 0)
		return 0;	/* between the rename and the new file: later */
	if (s->ls_switch || st.st_dev != s->ls_dev || st.st_ino != s->ls_ino) {
		/* A new file under the name: the old one has been read to its end. */
		if ((fd = open(s->ls_path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
			if (fd >= 0)
				close(fd);
			return 0;
		}
		if (s->ls_len > 0 || s->ls_dropping)
			s->ls_cut++;
		if (!s->ls_switch)
			s->ls_rotations++;
		s->ls_switch = 0;
		cli_lsrc_attach(s, fd, &st, 0);
		return 1;
	}
	if (fstat(s->ls_fd, &cur) < 0)
		return 0;
	if (cur.st_size < s->ls_off || cli_lsrc_rewritten(s, &cur)) {
		/* copytruncate: the same file, started again. */
		if (s->ls_len > 0 || s->ls_dropping)
			s->ls_cut++;
		s->ls_truncations++;
		cli_lsrc_attach(s, s->ls_fd, &cur, 0);
		lseek(s->ls_fd, 0, SEEK_SET);
		return cur.st_size > 0;
	}
	/* Nothing changed: remember the first bytes read so far, to see a rewrite. */
	if (s->ls_fp_len < CLI_LSRC_FP_MAX && (size_t)s->ls_line_off > s->ls_fp_len) {
		size_t n = (size_t)s->ls_line_off < CLI_LSRC_FP_MAX ? (size_t)s->ls_line_off :
		    CLI_LSRC_FP_MAX;
		if (cli_lsrc_fingerprint(s->ls_fd, n, &s->ls_fp) == 0)
			s->ls_fp_len = n;
	}
	return 0;
}

int
cli_lsrc_save(struct cli_lsrc *s, char *err, size_t errsize)
{
	char tmp[4200];
	struct stat st;
	FILE *fp;
	int ok;

	if (s->ls_posfile[0] == '\0' || s->ls_path[0] == '\0')
		return 0;
	/* The fingerprint: the first bytes the file has now, up to CLI_LSRC_FP_MAX. */
	if (fstat(s->ls_fd, &st) == 0) {
		size_t n = (size_t)st.st_size < CLI_LSRC_FP_MAX ? (size_t)st.st_size : CLI_LSRC_FP_MAX;
		if (n > (size_t)s->ls_line_off)
			n = (size_t)s->ls_line_off;
		if (cli_lsrc_fingerprint(s->ls_fd, n, &s->ls_fp) == 0)
			s->ls_fp_len = n;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->ls_posfile);
	if ((fp = fopen(tmp, "we")) == NULL) {
		snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(fp, "rcptguard-learn-position 1\npath %s\ndev %ju\nino %ju\noffset %ju\n"
	    "fingerprint %lu %zu\n", s->ls_path, (uintmax_t)s->ls_dev, (uintmax_t)s->ls_ino,
	    (uintmax_t)s->ls_line_off, (unsigned long)s->ls_fp, s->ls_fp_len);
	ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
	ok = (fclose(fp) == 0) && ok;
	if (!ok || rename(tmp, s->ls_posfile) < 0) {
		snprintf(err, errsize, "%s: %s", s->ls_posfile, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
