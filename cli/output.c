/*
 * output.c - how the command line prints verdicts: a human line or one
 * JSON object per line (jansson). Every string from the cache or the command
 * line is printed through cli_printable() or JSON-escaped, never raw.
 */
#include "rg_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "jsonw.h"
#include "rcptguard/engine.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

void
cli_error(const char *fmt, ...)
{
	char raw[1024], clean[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(raw))
		n = sizeof(raw) - 1;
	rg_log_sanitize(clean, sizeof(clean), raw, (size_t)n);
	fprintf(stderr, "rcptguard: %s\n", clean);
}

const char *
cli_printable(const char *s, char *buf, size_t size)
{
	rg_log_sanitize(buf, size, s, strlen(s));
	return buf;
}

/* cli_json_string - a JSON string; bytes that are not UTF-8 are escaped first. */
json_t *
cli_json_string(const char *s)
{
	json_t *j = json_string(s);
	char buf[1100];

	if (j == NULL)
		j = json_string(cli_printable(s, buf, sizeof(buf)));
	return j;
}

/* cli_json_print - one compact ASCII line, then free the object. */
void
cli_json_print(FILE *fp, json_t *o)
{
	/* JSON_ENSURE_ASCII: whatever the bytes, the line stays one ASCII line. */
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		fprintf(fp, "%s\n", s);
		free(s);
	}
	json_decref(o);
}

/* cli_jw_fields - the fields of a verdict every JSON view shares. */
static void
cli_jw_fields(struct cli_jw *w, const char *address, const struct rg_verdict *v,
    enum rg_verdict_state state)
{
	cli_jw_str(w, "address", address);
	cli_jw_str(w, "class", rg_verdict_class_name(v->v_class));
	cli_jw_str(w, "reason", rg_verdict_reason_name(v->v_reason));
	if (v->v_code)
		cli_jw_int(w, "code", v->v_code);
	else
		cli_jw_null(w, "code");
	cli_jw_str(w, "dsn", v->v_dsn[0] ? v->v_dsn : NULL);
	cli_jw_str(w, "mx", v->v_mx[0] ? v->v_mx : NULL);
	cli_jw_str(w, "text", v->v_text[0] ? v->v_text : NULL);
	cli_jw_int(w, "checked_at", v->v_checked_at);
	cli_jw_int(w, "refresh_at", v->v_refresh_at);
	cli_jw_int(w, "expires_at", v->v_expires_at);
	cli_jw_str(w, "state", rg_verdict_state_name(state));
	cli_jw_bool(w, "role", (v->v_flags & RG_VERDICT_F_ROLE) != 0);
	cli_jw_int(w, "attempts", v->v_attempts);
	if (v->v_attempts > 1)
		cli_jw_str(w, "retry_reason", rg_verdict_reason_name(v->v_retry_reason));
	if (v->v_flags & RG_VERDICT_F_DELIVERED)
		cli_jw_bool(w, "delivered", 1);
	if (v->v_qid[0])
		cli_jw_str(w, "queue_id", v->v_qid);
}

void
cli_jw_verdict(struct cli_jw *w, const char *address, const struct rg_verdict *v,
    enum rg_verdict_state state)
{
	cli_jw_fields(w, address, v, state);
	cli_jw_str(w, "source", rg_verdict_source_name(v->v_source));
}

void
cli_jw_answer(struct cli_jw *w, const char *input, const struct rg_answer *a, const char *source)
{
	cli_jw_fields(w, a->an_address, &a->an_verdict, a->an_state);
	cli_jw_str(w, "input", input);
	cli_jw_str(w, "source", source);
	cli_jw_str(w, "verdict_source", rg_verdict_source_name(a->an_verdict.v_source));
	cli_jw_int(w, "elapsed_ms", a->an_elapsed_ms);
	if (a->an_detail[0])
		cli_jw_str(w, "detail", a->an_detail);
}

void
cli_print_verdict(struct cli_ctx *ctx, FILE *fp, const char *address,
    const struct rg_verdict *v, enum rg_verdict_state state)
{
	if (ctx->json) {
		struct cli_jw w;

		cli_jw_open(&w);
		cli_jw_verdict(&w, address, v, state);
		cli_jw_print(&w, fp);
	} else {
		char addr[600], text[1100], checked[32], expires[32];

		rg_format_time(v->v_checked_at, checked, sizeof(checked));
		rg_format_time(v->v_expires_at, expires, sizeof(expires));
		fprintf(fp, "%s %s %s", cli_printable(address, addr, sizeof(addr)),
		    rg_verdict_class_name(v->v_class), rg_verdict_reason_name(v->v_reason));
		if (v->v_code)
			fprintf(fp, " code=%u", v->v_code);
		if (v->v_dsn[0])
			fprintf(fp, " dsn=%s", v->v_dsn);
		if (v->v_mx[0])
			fprintf(fp, " mx=%s", v->v_mx);
		if (v->v_flags & RG_VERDICT_F_ROLE)
			fprintf(fp, " role=yes");
		if (v->v_attempts > 1)
			fprintf(fp, " attempts=%u retry_reason=%s", v->v_attempts,
			    rg_verdict_reason_name(v->v_retry_reason));
		fprintf(fp, " state=%s checked=%s expires=%s", rg_verdict_state_name(state),
		    checked, expires);
		fprintf(fp, " source=%s", rg_verdict_source_name(v->v_source));
		if (v->v_qid[0])
			fprintf(fp, " queue_id=%s", v->v_qid);
		if (v->v_flags & RG_VERDICT_F_DELIVERED)
			fprintf(fp, " delivered=yes");
		if (v->v_text[0])
			fprintf(fp, " text=\"%s\"", cli_printable(v->v_text, text, sizeof(text)));
		fputc('\n', fp);
	}
}

void
cli_print_absent(struct cli_ctx *ctx, FILE *fp, const char *address, const char *why)
{
	if (ctx->json) {
		json_t *o = json_object();

		json_object_set_new(o, "address", cli_json_string(address));
		json_object_set_new(o, "state", json_string(why));
		cli_json_print(fp, o);
	} else {
		char addr[600];
		fprintf(fp, "%s %s\n", cli_printable(address, addr, sizeof(addr)), why);
	}
}
