/*
 * cli.h - shared pieces of the rcptguard command line.
 */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "rcptguard/address.h"
#include "rcptguard/store.h"
#include "rcptguard/config.h"
#include "rcptguard/verdict.h"

/* Exit codes, documented in rcptguard(1). */
#define CLI_EXIT_OK		0
#define CLI_EXIT_NOTFOUND	1
#define CLI_EXIT_USAGE		2
#define CLI_EXIT_CACHE		3
#define CLI_EXIT_CONFIG		4
#define CLI_EXIT_UNDELIVERABLE	5	/* check: at least one address is undeliverable */
#define CLI_EXIT_UNSURE		6	/* check: none undeliverable, some risky or unknown */

struct cli_ctx {
	struct rg_config	 cfg;
	const char		*prog;
	int			 json;
};

/* cli_error - "rcptguard: message" on stderr, message sanitized. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cli_printable - hostile input made printable for messages. */
const char *cli_printable(const char *s, char *buf, size_t size);

/* cli_cache_open - open the cache; on failure print why and return NULL. */
struct rg_store *cli_cache_open(struct cli_ctx *ctx, unsigned flags);

/* cli_parse_address - parse an address argument; print why on failure. */
int cli_parse_address(struct cli_ctx *ctx, const char *arg, struct rg_address *addr);

/* Verdict output: one human line, or one JSON object per line. */
void cli_print_verdict(struct cli_ctx *ctx, FILE *fp, const char *address,
    const struct rg_verdict *v, enum rg_verdict_state state);
void cli_json_print(FILE *fp, json_t *o);
json_t *cli_json_string(const char *s);
struct cli_jw;
/* cli_jw_verdict - a verdict's fields, as cache get --json prints them. */
void cli_jw_verdict(struct cli_jw *w, const char *address, const struct rg_verdict *v,
    enum rg_verdict_state state);
/* cli_jw_answer - an engine's answer's fields, as `check --json` prints them. */
struct rg_answer;
void cli_jw_answer(struct cli_jw *w, const char *input, const struct rg_answer *a,
    const char *source);
void cli_print_absent(struct cli_ctx *ctx, FILE *fp, const char *address, const char *why);

/*
 * cli_state - before the cache is opened: check the state as the daemons
 * do, and, as root with the configured user present, become that user.
 * Prints why and returns -1 when the state is unsafe.
 */
int cli_state(struct cli_ctx *ctx);

/* The cache's statistics, as `cache stats` and `stats` show them. */
struct rg_cache_stats;
int cli_cache_stats_read(struct cli_ctx *ctx, struct rg_cache_stats *st);	/* -1: said why */
json_t *cli_cache_stats_json(const struct rg_cache_stats *st);
void cli_cache_stats_print(FILE *fp, const struct rg_cache_stats *st);

int cli_cmd_cache(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_check(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_verify(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_reload(struct cli_ctx *ctx, int argc, char **argv);
int cli_cmd_learn(struct cli_ctx *ctx, int argc, char **argv);

#endif /* RG_CLI_H */
