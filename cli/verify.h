/*
 * verify.h - the pieces of `rcptguard verify`: the list reader, the row
 * writers, the journal that lets an interrupted run resume, and the
 * progress display. cmd_verify.c schedules the lookups between them.
 */
#ifndef RG_CLI_VERIFY_H
#define RG_CLI_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "rcptguard/engine.h"
#include "rcptguard/verdict.h"

/* --- the list reader (verify_input.c) --- */

#define CLI_VIN_RECORD_MAX	(1024 * 1024)	/* a longer record is one bad row */
#define CLI_VIN_FIELDS_MAX	4096		/* columns kept; more is a bad row */

enum cli_vin_kind { CLI_VIN_AUTO, CLI_VIN_PLAIN, CLI_VIN_CSV };

/* One input record. Pointers stay valid until the next cli_vin_next. */
struct cli_vin_row {
	uint64_t	  line;		/* its first physical line, from 1 */
	int		  nfields;
	const char	**fields;	/* unquoted values, each NUL-terminated */
	const size_t	 *lens;
	const char	 *addr;		/* the address, trimmed; NULL when missing */
	size_t		  addrlen;
	const char	 *bad;		/* why the record cannot be used, or NULL */
};

struct cli_vin;

/*
 * cli_vin_open - read the header when the input is CSV (kind, or what the
 * first line shows for CLI_VIN_AUTO) and find the address column: column
 * is a name (case-insensitive) or a number from 1, NULL for the column
 * named email or address, else the first. NULL with err set on failure.
 */
struct cli_vin *cli_vin_open(FILE *fp, enum cli_vin_kind kind, const char *column,
    char *err, size_t errsize);
void cli_vin_free(struct cli_vin *r);
int cli_vin_is_csv(const struct cli_vin *r);
/* cli_vin_header - the header's columns (CSV), or NULL and *n = 0. */
const char *const *cli_vin_header(const struct cli_vin *r, const size_t **lens, int *n);
/* cli_vin_next - the next non-blank record: 1, 0 at the end, -1 on a read error. */
int cli_vin_next(struct cli_vin *r, struct cli_vin_row *row);
/* Where the next record starts: a byte offset and the lines before it. */
uint64_t cli_vin_offset(const struct cli_vin *r);
uint64_t cli_vin_lines(const struct cli_vin *r);
/* cli_vin_seek - continue at a position cli_vin_offset gave (a file); 0 or -1. */
int cli_vin_seek(struct cli_vin *r, uint64_t offset, uint64_t lines);

/* --- the row writers (verify_output.c) --- */

enum cli_vfmt { CLI_VFMT_JSONL, CLI_VFMT_CSV };

/* What a row was decided as, with what `source` the output says. */
struct cli_vrow_out {
	uint64_t		 line;
	int			 nfields;
	const char *const	*fields;
	const size_t		*lens;
	const char		*input;		/* the address as read, for JSON */
	size_t			 inputlen;
	const struct rg_answer	*ans;
	const char		*source;
};

void cli_vout_csv_field(FILE *fp, const char *s, size_t len);
/* cli_vout_header - the CSV header: the input's columns (or "address"), then ours. */
void cli_vout_header(FILE *fp, const char *const *fields, const size_t *lens, int n);
void cli_vout_row(FILE *fp, enum cli_vfmt fmt, const struct cli_vrow_out *r);

/* --- the run's counters, for the summary and the journal --- */

#define CLI_VDOMAINS_MAX	1000	/* throttled or greylisted domains named */

struct cli_vstats {
	uint64_t	rows;
	uint64_t	cls[RG_CLASS_COUNT];
	uint64_t	reason[RG_REASON_COUNT];
	uint64_t	duplicates;
	uint64_t	bad_lines;
	uint64_t	probes;
	uint64_t	cache_hits;
	int64_t		elapsed_ms;	/* of every part of the run */
	uint64_t	parts;		/* 1, plus one per resume */
};

struct cli_htab;
/* cli_vout_summary - the summary as JSON (fp) or as lines for a person (human). */
void cli_vout_summary(FILE *fp, int human, const struct cli_vstats *st,
    struct cli_htab *throttled, struct cli_htab *greylisted, const char *ended);

/* --- the journal (verify_journal.c) --- */

/* Keys seen in written rows: a Bloom filter, so that memory does not grow with the list. */
#define CLI_VSEEN_BYTES		(8u << 20)

struct cli_vjournal {
	char		path[4096];
	uint64_t	key;
	int64_t		run_start;	/* wall clock, when the first part began */
	uint64_t	offset;		/* input: where the next unwritten record starts */
	uint64_t	lines;
	int64_t		out_size;	/* output bytes that hold whole rows */
	int64_t		split_size[RG_CLASS_COUNT];
	struct cli_vstats st;
	unsigned char	*seen;		/* CLI_VSEEN_BYTES */
};

/* cli_vjournal_key - which run: the input file, the output and the options. */
uint64_t cli_vjournal_key(const char *input, const char *output, const char *options);
/* cli_vjournal_path - STATE/verify/KEY.journal; the directory is made (0700). */
int cli_vjournal_path(struct cli_vjournal *j, const char *state_dir, char *err, size_t errsize);
/* cli_vjournal_load - 1 loaded, 0 none there, -1 damaged (err says why). */
int cli_vjournal_load(struct cli_vjournal *j, struct cli_htab *throttled,
    struct cli_htab *greylisted, char *err, size_t errsize);
/* cli_vjournal_save - write it anew, atomically (a temporary file, then rename). */
int cli_vjournal_save(const struct cli_vjournal *j, struct cli_htab *throttled,
    struct cli_htab *greylisted, char *err, size_t errsize);
void cli_vjournal_remove(const struct cli_vjournal *j);
/* cli_vseen_hash - a key's hash for the filter of written addresses. */
uint64_t cli_vseen_hash(const char *key);
/* cli_vseen_test - 1 when the filter may have seen h, 0 when it has not. */
int cli_vseen_test(const unsigned char *seen, uint64_t h);
void cli_vseen_add(unsigned char *seen, uint64_t h);

/* --- progress (verify_progress.c) --- */

enum cli_vprog_mode { CLI_VPROG_NONE, CLI_VPROG_BAR, CLI_VPROG_PLAIN };

struct cli_vprog {
	enum cli_vprog_mode	mode;
	int64_t			start_ms;	/* monotonic, this part */
	int64_t			last_ms;	/* last drawn */
	uint64_t		done_at_start;	/* rows a resumed run had written */
	int			drawn;		/* a bar is on the line */
};

struct cli_vprog_snap {
	uint64_t	done;		/* rows decided and written, all parts */
	uint64_t	read;		/* rows read, all parts */
	uint64_t	total;		/* 0 until the input is read to its end */
	double		fraction;	/* of the input's bytes read, when known, else -1 */
	uint64_t	cls[RG_CLASS_COUNT];
	int		cooling;	/* domains pausing after throttling */
	int		retrying;	/* rows waiting for a re-probe */
};

/* cli_vprog_tick - draw when due (bar: 10 a second; plain: every 10 s); final: now. */
void cli_vprog_tick(struct cli_vprog *p, FILE *fp, const struct cli_vprog_snap *s, int final);

#endif /* RG_CLI_VERIFY_H */
