/*
 * learn_source.h - the lines of a log file for `rcptguard learn`: read as
 * it grows, across rotation by rename and by copytruncate, with the
 * position kept in the state directory between runs.
 */
#ifndef RG_CLI_LEARN_SOURCE_H
#define RG_CLI_LEARN_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_LSRC_LINE_MAX	(64 * 1024)	/* a longer line is skipped whole */

typedef void (*cli_lsrc_line_fn)(const char *line, size_t len, void *arg);

struct cli_lsrc {
	char		 ls_path[4096];		/* "" for standard input */
	char		 ls_posfile[4096];	/* "" when the position is not kept */
	int		 ls_fd;
	dev_t		 ls_dev;
	ino_t		 ls_ino;
	off_t		 ls_off;		/* of the next byte read from ls_fd */
	off_t		 ls_line_off;		/* after the last whole line: the position */
	int		 ls_switch;		/* reading a rotated file: the named one follows */
	int		 ls_dropping;		/* inside an overlong line */
	char		*ls_buf;
	size_t		 ls_len;
	size_t		 ls_cap;
	const char	*ls_mark;		/* lines without it are counted, not handed over */
	size_t		 ls_mark_len;
	uint32_t	 ls_fp;			/* hash of the file's first ls_fp_len bytes */
	size_t		 ls_fp_len;
	/* What was seen, for the summary. */
	uint64_t	 ls_lines;
	uint64_t	 ls_too_long;
	uint64_t	 ls_damaged;		/* lines with a NUL byte */
	uint64_t	 ls_cut;		/* a partial line left behind at a rotation */
	uint64_t	 ls_rotations;
	uint64_t	 ls_truncations;
};

/*
 * cli_lsrc_open - open path ("-" or NULL: standard input). With posdir
 * (the state directory) the position of an earlier run is taken up, unless
 * from_start: where it left off, or in the rotated file that still has it.
 * -1 with err set on failure.
 */
int cli_lsrc_open(struct cli_lsrc *s, const char *path, const char *posdir, int from_start,
    char *err, size_t errsize);
void cli_lsrc_close(struct cli_lsrc *s);

/*
 * cli_lsrc_read - hand every whole line that can be read now to fn, at most
 * about max bytes. 1 when anything was read, 0 at the end of the data for
 * now, -1 on a read error (err set).
 */
int cli_lsrc_read(struct cli_lsrc *s, size_t max, cli_lsrc_line_fn fn, void *arg, char *err,
    size_t errsize);

/*
 * cli_lsrc_rotated - at the end of the data: follow a rotation (a new file
 * under the name, or the name back after a copytruncate). 1 when there is
 * something new to read, 0 when not.
 */
int cli_lsrc_rotated(struct cli_lsrc *s);

/* cli_lsrc_pending - a rotated file was finished and the named one is due (not following). */
int cli_lsrc_pending(const struct cli_lsrc *s);

/*
 * cli_lsrc_set_mark - from now on, only lines that contain mark (a static
 * string; NULL: every line) are handed to the callback; the others are
 * counted. A whole chunk is searched at once, as grep does.
 */
void cli_lsrc_set_mark(struct cli_lsrc *s, const char *mark);

/* cli_lsrc_save - keep the position for the next run; -1 with err. */
int cli_lsrc_save(struct cli_lsrc *s, char *err, size_t errsize);

#endif /* RG_CLI_LEARN_SOURCE_H */
