/*
 * verify_output.c - the rows and the summary `rcptguard verify` writes.
 *
 * JSON lines carry exactly the fields of `check --json` plus `line`. CSV
 * rows carry the input's columns, then class, reason, code, dsn, mx,
 * role, disposable, checked_at and source, quoted per RFC 4180 (a field
 * with a comma, a quote or a line break is quoted, quotes doubled; rows
 * end in CRLF), so that spreadsheets and pandas read them back.
 */
#include "rg_build.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "jsonw.h"
#include "htab.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"
#include "verify.h"

static const char *const cli_vout_columns[] = {
	"class", "reason", "code", "dsn", "mx", "role", "disposable", "checked_at", "source",
};

/*
 * cli_vout_csv_field - one field as RFC 4180 wants it: quoted when it holds
 * a separator, a quote or a line break. A NUL byte, which no CSV reader
 * takes, is written as the four characters \x00; every other byte stays.
 */
void
cli_vout_csv_field(FILE *fp, const char *s, size_t len)
{
	int quote = memchr(s, ',', len) != NULL || memchr(s, '"', len) != NULL ||
	    memchr(s, '\n', len) != NULL || memchr(s, '\r', len) != NULL;

	if (!quote && memchr(s, '\0', len) == NULL) {
		fwrite(s, 1, len, fp);
		return;
	}
	if (quote)
		fputc('"', fp);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', fp);
		if (s[i] == '\0')
			fputs("\\x00", fp);
		else
			fputc(s[i], fp);
	}
	if (quote)
		fputc('"', fp);
}

void
cli_vout_header(FILE *fp, const char *const *fields, const size_t *lens, int n)
{
	if (n == 0)
		fputs("address", fp);
	for (int i = 0; i < n; i++) {
		if (i)
			fputc(',', fp);
		cli_vout_csv_field(fp, fields[i], lens[i]);
	}
	for (size_t i = 0; i < sizeof(cli_vout_columns) / sizeof(cli_vout_columns[0]); i++)
		fprintf(fp, ",%s", cli_vout_columns[i]);
	fputs("\r\n", fp);
}

/* cli_vout_iso - a time as ISO 8601 in UTC, or "" for none. */
static void
cli_vout_iso(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	buf[0] = '\0';
	if (t > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
cli_vout_csv(FILE *fp, const struct cli_vrow_out *r)
{
	const struct rg_verdict *v = &r->ans->an_verdict;
	char when[32];

	for (int i = 0; i < r->nfields; i++) {
		if (i)
			fputc(',', fp);
		cli_vout_csv_field(fp, r->fields[i], r->lens[i]);
	}
	fprintf(fp, ",%s,%s,", rg_verdict_class_name(v->v_class),
	    rg_verdict_reason_name(v->v_reason));
	if (v->v_code)
		fprintf(fp, "%u", v->v_code);
	fputc(',', fp);
	cli_vout_csv_field(fp, v->v_dsn, strlen(v->v_dsn));
	fputc(',', fp);
	cli_vout_csv_field(fp, v->v_mx, strlen(v->v_mx));
	cli_vout_iso(v->v_checked_at, when, sizeof(when));
	fprintf(fp, ",%s,%s,%s,%s\r\n", (v->v_flags & RG_VERDICT_F_ROLE) ? "true" : "false",
	    v->v_reason == RG_REASON_DISPOSABLE ? "true" : "false", when, r->source);
}

void
cli_vout_row(FILE *fp, enum cli_vfmt fmt, const struct cli_vrow_out *r)
{
	struct cli_jw w;
	char clean[1100];

	if (fmt == CLI_VFMT_CSV) {
		cli_vout_csv(fp, r);
		return;
	}
	/* A NUL would end the JSON string early: such an input is shown escaped. */
	if (r->input != NULL && memchr(r->input, '\0', r->inputlen) != NULL)
		rg_log_sanitize(clean, sizeof(clean), r->input, r->inputlen);
	else
		rg_strlcpy(clean, r->input ? r->input : "", sizeof(clean));
	cli_jw_open(&w);
	cli_jw_answer(&w, clean, r->ans, r->source);
	cli_jw_int(&w, "line", (long long)r->line);
	cli_jw_print(&w, fp);
}

/* cli_vout_names - the names a set holds, as a JSON array (order of the table). */
static void
cli_vout_name(const char *key, void *val, void *arg)
{
	(void)val;
	json_array_append_new(arg, json_string(key));
}

static json_t *
cli_vout_names(struct cli_htab *set)
{
	json_t *a = json_array();

	cli_htab_each(set, cli_vout_name, a);
	return a;
}

void
cli_vout_summary(FILE *fp, int human, const struct cli_vstats *st,
    struct cli_htab *throttled, struct cli_htab *greylisted, const char *ended)
{
	json_t *o, *cls, *rsn;

	if (human) {
		fprintf(fp, "rcptguard: verify: %llu rows (%s):", (unsigned long long)st->rows, ended);
		for (int c = 0; c < RG_CLASS_COUNT; c++)
			fprintf(fp, " %s %llu", rg_verdict_class_name((enum rg_class)c),
			    (unsigned long long)st->cls[c]);
		fprintf(fp, "\nrcptguard: verify: %llu duplicates, %llu bad lines, %llu probes, "
		    "%llu cache hits, %.1f s; %zu domains throttled, %zu greylisted\n",
		    (unsigned long long)st->duplicates, (unsigned long long)st->bad_lines,
		    (unsigned long long)st->probes, (unsigned long long)st->cache_hits,
		    (double)st->elapsed_ms / 1000.0, cli_htab_count(throttled),
		    cli_htab_count(greylisted));
		return;
	}
	o = json_object();
	cls = json_object();
	rsn = json_object();
	for (int c = 0; c < RG_CLASS_COUNT; c++)
		json_object_set_new(cls, rg_verdict_class_name((enum rg_class)c),
		    json_integer((json_int_t)st->cls[c]));
	for (int r = 0; r < RG_REASON_COUNT; r++)
		if (st->reason[r])
			json_object_set_new(rsn, rg_verdict_reason_name((enum rg_reason)r),
			    json_integer((json_int_t)st->reason[r]));
	json_object_set_new(o, "rows", json_integer((json_int_t)st->rows));
	json_object_set_new(o, "classes", cls);
	json_object_set_new(o, "reasons", rsn);
	json_object_set_new(o, "duplicates", json_integer((json_int_t)st->duplicates));
	json_object_set_new(o, "bad_lines", json_integer((json_int_t)st->bad_lines));
	json_object_set_new(o, "probes", json_integer((json_int_t)st->probes));
	json_object_set_new(o, "cache_hits", json_integer((json_int_t)st->cache_hits));
	json_object_set_new(o, "elapsed_s", json_real((double)st->elapsed_ms / 1000.0));
	json_object_set_new(o, "parts", json_integer((json_int_t)st->parts));
	json_object_set_new(o, "throttled_domains", cli_vout_names(throttled));
	json_object_set_new(o, "greylisted_domains", cli_vout_names(greylisted));
	json_object_set_new(o, "ended", json_string(ended));
	cli_json_print(fp, o);
}
