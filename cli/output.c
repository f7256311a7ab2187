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

json_t *
cli_verdict_json(const char *address, const struct rg_verdict *v, enum rg_verdict_state state)
{
	json_t *o = json_object();

	json_object_set_new(o, "address", cli_json_string(address));
	json_object_set_new(o, "class", json_string(rg_verdict_class_name(v->v_class)));
	json_object_set_new(o, "reason", json_string(rg_verdict_reason_name(v->v_reason)));
	json_object_set_new(o, "code", v->v_code ? json_integer(v->v_code) : json_null());
	json_object_set_new(o, "dsn", v->v_dsn[0] ? cli_json_string(v->v_dsn) : json_null());
	json_object_set_new(o, "mx", v->v_mx[0] ? cli_json_string(v->v_mx) : json_null());
	json_object_set_new(o, "text", v->v_text[0] ? cli_json_string(v->v_text) : json_null());
	json_object_set_new(o, "checked_at", json_integer(v->v_checked_at));
	json_object_set_new(o, "refresh_at", json_integer(v->v_refresh_at));
	json_object_set_new(o, "expires_at", json_integer(v->v_expires_at));
	json_object_set_new(o, "state", json_string(rg_verdict_state_name(state)));
	json_object_set_new(o, "role", json_boolean(v->v_flags & RG_VERDICT_F_ROLE));
	json_object_set_new(o, "attempts", json_integer(v->v_attempts));
	if (v->v_attempts > 1)
		json_object_set_new(o, "retry_reason",
		    json_string(rg_verdict_reason_name(v->v_retry_reason)));
	return o;
}

json_t *
cli_answer_json(const char *input, const struct rg_answer *a, const char *source)
{
	json_t *o = cli_verdict_json(a->an_address, &a->an_verdict, a->an_state);

	json_object_set_new(o, "input", cli_json_string(input));
	json_object_set_new(o, "source", json_string(source));
	json_object_set_new(o, "elapsed_ms", json_integer(a->an_elapsed_ms));
	if (a->an_detail[0])
		json_object_set_new(o, "detail", cli_json_string(a->an_detail));
	return o;
}

void
cli_print_verdict(struct cli_ctx *ctx, FILE *fp, const char *address,
    const struct rg_verdict *v, enum rg_verdict_state state)
{
	if (ctx->json) {
		cli_json_print(fp, cli_verdict_json(address, v, state));
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
