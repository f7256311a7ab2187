/*
 * verify_input.c - the list `rcptguard verify` reads: one address per
 * line, or CSV with a header row (RFC 4180: quoted fields, doubled quotes,
 * line breaks inside quotes; a comma, semicolon or tab as the separator).
 *
 * The reader streams: it holds one record at a time, at most
 * CLI_VIN_RECORD_MAX bytes. A UTF-8 byte order mark is skipped, CRLF is
 * read as LF, blank lines are skipped, and a record that cannot be used
 * (too long, an unclosed quote, no address column) is returned with `bad`
 * set, so that the run reports it and goes on. Which kind of input it is
 * shows in the first non-blank line: separators outside quotes, or a lone
 * column name such as "email", make it CSV.
 */
#include "rg_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "verify.h"

#define CLI_VIN_DETECT_MAX	(64 * 1024)	/* bytes looked at to tell the kind */

struct cli_vin {
	FILE		*fp;
	enum cli_vin_kind kind;
	int		 delim;
	int		 col;		/* the address column, from 0 */
	int		 unget;		/* a byte read ahead, or EOF */
	/* Bytes read to tell the kind, read again before the stream. */
	char		*pre;
	size_t		 prelen, prepos;
	uint64_t	 offset;
	uint64_t	 lines;
	/* The current record: field bytes, each NUL-terminated. */
	char		*buf;
	size_t		 len, cap;
	size_t		*offs;
	size_t		*lens;
	const char	**fields;
	int		 nf, fcap;
	/* The header, a copy. */
	char		*hbuf;
	size_t		*hlens;
	const char	**hfields;
	int		 hn;
};

static const char *const cli_vin_names[] = {
	"email", "address", "e-mail", "email_address", "emailaddress", "email address", "mail",
};

static int
cli_vin_getc(struct cli_vin *r)
{
	int c;

	if (r->unget != EOF) {
		c = r->unget;
		r->unget = EOF;
	} else if (r->prepos < r->prelen) {
		c = (unsigned char)r->pre[r->prepos++];
	} else if ((c = getc_unlocked(r->fp)) == EOF) {
		return EOF;
	}
	r->offset++;
	return c;
}

static void
cli_vin_ungetc(struct cli_vin *r, int c)
{
	if (c != EOF) {
		r->unget = c;
		r->offset--;
	}
}

/* cli_vin_room - room for one more byte in the record buffer; 0 or -1. */
static int
cli_vin_room(struct cli_vin *r)
{
	size_t cap;
	char *b;

	if (r->len < r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 256;
	if ((b = realloc(r->buf, cap)) == NULL)
		return -1;
	r->buf = b;
	r->cap = cap;
	return 0;
}

/* cli_vin_push - one byte of the current field; 0, or -1 past the record bound. */
static int
cli_vin_push(struct cli_vin *r, int c)
{
	if (r->len >= CLI_VIN_RECORD_MAX || cli_vin_room(r) < 0)
		return -1;
	r->buf[r->len++] = (char)c;
	return 0;
}

/* cli_vin_end_field - close the current field; 0, or -1 past CLI_VIN_FIELDS_MAX. */
static int
cli_vin_end_field(struct cli_vin *r, size_t start)
{
	if (r->nf >= CLI_VIN_FIELDS_MAX)
		return -1;
	if (r->nf == r->fcap) {
		int cap = r->fcap ? r->fcap * 2 : 16;
		size_t *o, *l;
		const char **f;
		if ((o = realloc(r->offs, (size_t)cap * sizeof(*o))) == NULL)
			return -1;
		r->offs = o;
		if ((l = realloc(r->lens, (size_t)cap * sizeof(*l))) == NULL)
			return -1;
		r->lens = l;
		if ((f = realloc(r->fields, (size_t)cap * sizeof(*f))) == NULL)
			return -1;
		r->fields = f;
		r->fcap = cap;
	}
	if (cli_vin_room(r) < 0)
		return -1;
	r->offs[r->nf] = start;
	r->lens[r->nf] = r->len - start;
	r->nf++;
	r->buf[r->len++] = '\0';
	return 0;
}

/*
 * cli_vin_record - read one record into the field buffer. 1 read (*bad set
 * when unusable), 0 at the end, -1 on a read error.
 */
static int
cli_vin_record(struct cli_vin *r, uint64_t *first, const char **bad)
{
	size_t start = 0;
	int c, inq = 0, any = 0, broken = 0;

	r->len = 0;
	r->nf = 0;
	*bad = NULL;
	*first = r->lines + 1;
	for (;;) {
		if ((c = cli_vin_getc(r)) == EOF) {
			if (ferror(r->fp))
				return -1;
			if (!any)
				return 0;
			if (inq && !broken)
				*bad = "a quoted field is not closed";
			break;
		}
		any = 1;
		if (c == '\n') {
			r->lines++;
			if (!inq || broken)
				break;
		}
		if (broken)
			continue;
		if (r->kind == CLI_VIN_CSV && c == '"') {
			if (!inq && r->len == start) {
				inq = 1;
				continue;
			}
			if (inq) {
				int next = cli_vin_getc(r);
				if (next != '"') {
					cli_vin_ungetc(r, next);
					inq = 0;
					continue;
				}
			}
		} else if (c == '\r' && !inq) {
			int next = cli_vin_getc(r);
			cli_vin_ungetc(r, next);
			if (next == '\n')
				continue;
		} else if (r->kind == CLI_VIN_CSV && c == r->delim && !inq) {
			if (cli_vin_end_field(r, start) < 0) {
				broken = 1;
				*bad = "too many columns";
			}
			start = r->len;
			continue;
		}
		if (cli_vin_push(r, c) < 0) {
			broken = 1;
			*bad = "the record is longer than 1 MiB";
		}
	}
	if (!broken && cli_vin_end_field(r, start) < 0)
		*bad = "too many columns";
	if (r->nf == 0 || *bad != NULL) {	/* keep no partial fields */
		r->len = 0;
		r->nf = 0;
		cli_vin_end_field(r, 0);
	}
	return 1;
}

static void
cli_vin_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* cli_vin_point - field pointers into the buffer, now that it no longer moves. */
static void
cli_vin_point(struct cli_vin *r)
{
	for (int i = 0; i < r->nf; i++)
		r->fields[i] = r->buf + r->offs[i];
}

/*
 * cli_vin_detect - read the first non-blank line into pre and tell its
 * kind and separator. Bytes stay in pre, to be read again as records.
 */
static void
cli_vin_detect(struct cli_vin *r, enum cli_vin_kind kind)
{
	size_t cap = r->prelen, line = 0, i = 0;
	int c, inq = 0, n[3] = { 0, 0, 0 };
	const int delims[3] = { ',', ';', '\t' };
	const char *s;
	size_t len;

	for (;;) {
		if (i == r->prelen) {
			if (r->prelen >= CLI_VIN_DETECT_MAX || (c = getc_unlocked(r->fp)) == EOF)
				break;
			if (r->prelen == cap) {
				char *p = realloc(r->pre, cap ? cap * 2 : 512);
				if (p == NULL)
					break;
				r->pre = p;
				cap = cap ? cap * 2 : 512;
			}
			r->pre[r->prelen++] = (char)c;
		}
		if (r->pre[i++] != '\n')
			continue;
		s = r->pre + line;
		len = i - line - 1;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		cli_vin_trim(&s, &len);
		if (len > 0)
			break;
		line = i;
	}
	for (size_t k = line; k < i; k++) {
		if (r->pre[k] == '"')
			inq = !inq;
		for (int d = 0; d < 3 && !inq; d++)
			n[d] += r->pre[k] == delims[d];
	}
	r->delim = ',';
	if (n[1] > n[0] && n[1] >= n[2])
		r->delim = ';';
	else if (n[2] > n[0] && n[2] > n[1])
		r->delim = '\t';
	if (kind == CLI_VIN_AUTO && r->prelen == 0) {
		kind = CLI_VIN_PLAIN;	/* an empty input */
	} else if (kind == CLI_VIN_AUTO) {
		s = r->pre + line;
		len = i - line;
		while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			len--;
		cli_vin_trim(&s, &len);
		kind = n[0] + n[1] + n[2] > 0 ? CLI_VIN_CSV : CLI_VIN_PLAIN;
		for (size_t k = 0; k < sizeof(cli_vin_names) / sizeof(cli_vin_names[0]); k++)
			if (len == strlen(cli_vin_names[k]) && strncasecmp(s, cli_vin_names[k], len) == 0)
				kind = CLI_VIN_CSV;
	}
	r->kind = kind;
}

/* cli_vin_column - which header column holds the address. */
static int
cli_vin_column(struct cli_vin *r, const char *column, char *err, size_t errsize)
{
	char *end;

	if (column != NULL && *column != '\0' && strspn(column, "0123456789") == strlen(column)) {
		long n = strtol(column, &end, 10);
		if (n < 1 || n > r->hn) {
			snprintf(err, errsize, "--column %s: the header has %d column%s", column,
			    r->hn, r->hn == 1 ? "" : "s");
			return -1;
		}
		r->col = (int)n - 1;
		return 0;
	}
	for (size_t k = 0; k < sizeof(cli_vin_names) / sizeof(cli_vin_names[0]); k++) {
		const char *want = column ? column : cli_vin_names[k];
		for (int i = 0; i < r->hn; i++) {
			const char *s = r->hfields[i];
			size_t len = r->hlens[i];
			cli_vin_trim(&s, &len);
			if (len == strlen(want) && strncasecmp(s, want, len) == 0) {
				r->col = i;
				return 0;
			}
		}
		if (column != NULL) {
			snprintf(err, errsize, "--column %.200s: no column of that name in the header",
			    column);
			return -1;
		}
	}
	r->col = 0;
	return 0;
}

/* cli_vin_keep_header - the first record becomes the header (a copy). */
static int
cli_vin_keep_header(struct cli_vin *r)
{
	uint64_t first;
	const char *bad;
	int rc;

	do {
		if ((rc = cli_vin_record(r, &first, &bad)) <= 0)
			return rc;
	} while (r->nf == 1 && r->lens[0] == 0);
	if ((r->hbuf = malloc(r->len ? r->len : 1)) == NULL ||
	    (r->hlens = calloc((size_t)r->nf, sizeof(*r->hlens))) == NULL ||
	    (r->hfields = calloc((size_t)r->nf, sizeof(*r->hfields))) == NULL)
		return -1;
	memcpy(r->hbuf, r->buf, r->len);
	for (int i = 0; i < r->nf; i++) {
		r->hfields[i] = r->hbuf + r->offs[i];
		r->hlens[i] = r->lens[i];
	}
	r->hn = r->nf;
	return 1;
}

struct cli_vin *
cli_vin_open(FILE *fp, enum cli_vin_kind kind, const char *column, char *err, size_t errsize)
{
	struct cli_vin *r = calloc(1, sizeof(*r));
	unsigned char bom[3];
	size_t n;

	if (r == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	r->fp = fp;
	r->unget = EOF;
	/* A byte order mark is skipped; anything else is read again. */
	n = fread(bom, 1, sizeof(bom), fp);
	if (n == 3 && bom[0] == 0xef && bom[1] == 0xbb && bom[2] == 0xbf) {
		r->offset = 3;
	} else if (n > 0 && (r->pre = malloc(n)) != NULL) {
		memcpy(r->pre, bom, n);
		r->prelen = n;
	}
	if (ferror(fp)) {
		snprintf(err, errsize, "cannot read the input: %s", strerror(errno));
		cli_vin_free(r);
		return NULL;
	}
	cli_vin_detect(r, column != NULL && kind == CLI_VIN_AUTO ? CLI_VIN_CSV : kind);
	if (r->kind == CLI_VIN_CSV) {
		if (cli_vin_keep_header(r) < 0) {
			snprintf(err, errsize, "cannot read the header: %s",
			    ferror(fp) ? strerror(errno) : "out of memory");
			cli_vin_free(r);
			return NULL;
		}
		if (r->hn > 0 && cli_vin_column(r, column, err, errsize) < 0) {
			cli_vin_free(r);
			return NULL;
		}
	}
	return r;
}

void
cli_vin_free(struct cli_vin *r)
{
	if (r == NULL)
		return;
	free(r->pre);
	free(r->buf);
	free(r->offs);
	free(r->lens);
	free(r->fields);
	free(r->hbuf);
	free(r->hlens);
	free(r->hfields);
	free(r);
}

int
cli_vin_is_csv(const struct cli_vin *r)
{
	return r->kind == CLI_VIN_CSV;
}

const char *const *
cli_vin_header(const struct cli_vin *r, const size_t **lens, int *n)
{
	*n = r->hn;
	*lens = r->hlens;
	return r->hn ? r->hfields : NULL;
}

int
cli_vin_next(struct cli_vin *r, struct cli_vin_row *row)
{
	uint64_t first;
	const char *bad;
	int rc;

	for (;;) {
		const char *s;
		size_t len;

		if ((rc = cli_vin_record(r, &first, &bad)) <= 0)
			return rc;
		if (r->nf != 1 || bad != NULL)
			break;
		s = r->buf;
		len = r->lens[0];
		cli_vin_trim(&s, &len);
		if (len > 0)
			break;
		/* a blank line */
	}
	if (r->nf == 0)
		return -1;	/* out of memory for even one field */
	cli_vin_point(r);
	memset(row, 0, sizeof(*row));
	row->line = first;
	row->nfields = r->nf;
	row->fields = r->fields;
	row->lens = r->lens;
	row->bad = bad;
	if (bad == NULL && r->col < r->nf) {
		row->addr = r->fields[r->col];
		row->addrlen = r->lens[r->col];
		cli_vin_trim(&row->addr, &row->addrlen);
	} else if (bad == NULL) {
		row->bad = "the row has no address column";
	}
	return 1;
}

uint64_t
cli_vin_offset(const struct cli_vin *r)
{
	return r->offset;
}

uint64_t
cli_vin_lines(const struct cli_vin *r)
{
	return r->lines;
}

int
cli_vin_seek(struct cli_vin *r, uint64_t offset, uint64_t lines)
{
	if (offset < r->offset || fseeko(r->fp, (off_t)offset, SEEK_SET) < 0)
		return -1;
	r->prepos = r->prelen;
	r->unget = EOF;
	r->offset = offset;
	r->lines = lines;
	return 0;
}
