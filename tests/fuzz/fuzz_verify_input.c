/*
 * fuzz_verify_input.c - libFuzzer target for the list reader of
 * `rcptguard verify` and its row writers.
 *
 * The first byte picks the kind (auto, plain, CSV) and the address column
 * (the default, "2", "email"); the rest is the list. Every record goes
 * through both writers, as a run writes it. Invariants: line numbers never
 * go back; a record has its fields inside the bounds the reader promises,
 * each NUL-terminated at its length; a usable record has an address of a
 * length the reader allows; a JSON row is one line of ASCII without
 * control characters (DEL aside, which JSON allows); a CSV row holds no NUL
 * and its quotes pair up.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/verify.h"
#include "rcptguard/engine.h"
#include "rcptguard/verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_row(const struct cli_vin_row *row)
{
	if (row->nfields < 0 || row->nfields > CLI_VIN_FIELDS_MAX)
		abort();
	for (int i = 0; i < row->nfields; i++)
		if (row->fields[i][row->lens[i]] != '\0')
			abort();
	/* A NUL may remain: the address parser refuses it, the writers escape it. */
	if (row->bad == NULL && row->addr != NULL &&
	    row->addrlen > CLI_VIN_RECORD_MAX)
		abort();
}

/* fuzz_check_out - what the writers produced for one row. */
static void
fuzz_check_out(const char *buf, size_t len, enum cli_vfmt fmt)
{
	size_t quotes = 0;

	if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\0', len) != NULL)
		abort();
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (fmt == CLI_VFMT_JSONL && (c < 0x20 || c > 0x7f))
			abort();
		quotes += c == '"';
	}
	if (fmt == CLI_VFMT_CSV && quotes % 2 != 0)
		abort();
}

static void
fuzz_write(const struct cli_vin_row *row, const struct rg_answer *ans, enum cli_vfmt fmt)
{
	struct cli_vrow_out o = {
		.line = row->line, .nfields = row->nfields, .fields = row->fields,
		.lens = row->lens, .input = row->addr != NULL ? row->addr : "",
		.inputlen = row->addr != NULL ? row->addrlen : 0, .ans = ans, .source = "syntax",
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (fp == NULL)
		return;
	cli_vout_row(fp, fmt, &o);
	fclose(fp);
	fuzz_check_out(buf, len, fmt);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const columns[] = { NULL, "2", "email" };
	struct cli_vin_row row;
	struct rg_answer ans;
	struct cli_vin *r;
	char err[256];
	uint64_t last = 0;
	FILE *fp;
	int n = 0;

	if (size < 1)
		return 0;
	/* fmemopen wants at least one byte: an empty list is /dev/null. */
	fp = size > 1 ? fmemopen((void *)(data + 1), size - 1, "r") : fopen("/dev/null", "r");
	if (fp == NULL)
		return 0;
	r = cli_vin_open(fp, (enum cli_vin_kind)(data[0] % 3), columns[(data[0] / 3) % 3], err,
	    sizeof(err));
	if (r == NULL) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		fclose(fp);
		return 0;
	}
	memset(&ans, 0, sizeof(ans));
	rg_verdict_make(&ans.an_verdict, RG_CLASS_UNDELIVERABLE, RG_REASON_BAD_SYNTAX, NULL, 0, 1);
	while (n++ < 10000 && cli_vin_next(r, &row) == 1) {
		if (row.line < last)
			abort();
		last = row.line;
		fuzz_check_row(&row);
		fuzz_write(&row, &ans, CLI_VFMT_JSONL);
		fuzz_write(&row, &ans, CLI_VFMT_CSV);
	}
	cli_vin_free(r);
	fclose(fp);
	return 0;
}
