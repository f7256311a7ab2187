/*
 * rcptguard.c - the rcptguard command line: main, global options, dispatch.
 *
 * SYNOPSIS
 *   rcptguard [-c FILE] [-n] [-V] COMMAND [ARGS]
 *
 * Commands live one per file (cmd_*.c); this file only reads the
 * configuration and hands over.
 */
#include "rg_build.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <jansson.h>
#include <lmdb.h>

#include "cli.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

/* cli_usage - the command summary, on fp. */
static void
cli_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: rcptguard [-c FILE] [-n] [-V] COMMAND [ARGS]\n"
	    "\n"
	    "  -c FILE   configuration file (default %s)\n"
	    "  -n        check the configuration and exit\n"
	    "  -V        print the version and the linked libraries\n"
	    "\n"
	    "commands:\n"
	    "  check [--wait D] [--no-cache] ADDRESS...  verify addresses now\n"
	    "  cache get ADDRESS...                 show cached verdicts\n"
	    "  cache put ADDRESS CLASS REASON [--ttl D] [--code N] [--dsn X.Y.Z]\n"
	    "            [--mx HOST] [--text TEXT] [--role] [--source admin|probe|delivery]\n"
	    "  cache del ADDRESS...                 forget verdicts\n"
	    "  cache list [--class C] [--domain D]  list verdicts\n"
	    "  cache purge --expired | --all [--force]\n"
	    "  cache stats                          size and content of the cache\n"
	    "  verify [--format csv|jsonl] [--column NAME|N] [-o FILE] [--split DIR]\n"
	    "         [--resume] [--max-age D] [--wait D] [--deadline D]\n"
	    "         [--progress auto|bar|plain|none] [-q] [--summary FILE] [FILE|-]\n"
	    "                                       verify a whole list, in input order\n"
	    "  learn [--format postfix|exim|auto] [--follow] [--from-start] [--dry-run]\n"
	    "        [--verbose] [FILE|-]          learn verdicts from the MTA's delivery log\n"
	    "  config [--defaults]                  print every configuration key\n"
	    "  reload policyd|milter PID [--timeout D]\n"
	    "  stats [--json] [--timeout D] | stats --watch [--interval D] [--count N]\n"
	    "                                       SIGHUP a daemon, wait for its answer\n"
	    "\n"
	    "add --json to a command for one JSON object per line.\n"
	    "exit codes: 0 ok, 1 not found (reload: refused or no answer), 2 usage, 3 cache error, 4 configuration error,\n"
	    "  5 check or verify found an undeliverable address, 6 risky or unknown ones,\n"
	    "  130 verify was interrupted (--resume continues it)\n",
	    rg_config_default_path);
}

static void
cli_version(void)
{
	int maj, min, pat;

	mdb_version(&maj, &min, &pat);
	printf("rcptguard %s\n", PACKAGE_VERSION);
	printf("  LMDB %d.%d.%d (built with %d.%d.%d)\n", maj, min, pat,
	    MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH);
	printf("  libidn2 %s (built with %s)\n", idn2_check_version(NULL), IDN2_VERSION);
	printf("  jansson %s (built with %s)\n", jansson_version_str(), JANSSON_VERSION);
	printf("  inih %s (version at build time)\n", RG_INIH_VERSION);
}

/* cli_cmd_config - "config": the running (or --defaults) config, by section. */
static int
cli_cmd_config(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct rg_config_key *keys;
	struct rg_config defaults;
	const struct rg_config *src = &ctx->cfg;
	const char *section = "";
	size_t n;

	if (argc == 2 && strcmp(argv[1], "--defaults") == 0) {
		rg_config_defaults(&defaults);
		src = &defaults;
	} else if (argc != 1) {
		cli_error("usage: config [--defaults]");
		return CLI_EXIT_USAGE;
	}
	keys = rg_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char val[RG_CONFIG_PATH_MAX];

		if (strcmp(section, keys[i].k_section) != 0) {
			section = keys[i].k_section;
			printf("%s[%s]\n", i ? "\n" : "", section);
		}
		rg_config_format(src, &keys[i], val, sizeof(val));
		/* A secret is said to be set, never shown. */
		if (strcmp(keys[i].k_name, "password") == 0 && val[0] != '\0')
			rg_strlcpy(val, "(set, not shown)", sizeof(val));
		printf("%s = %s\n", keys[i].k_name, val);
	}
	return CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
	static struct cli_ctx ctx;
	const char *cfgpath = NULL;
	char err[1200];
	int ch, check = 0;

	ctx.prog = "rcptguard";
	rg_log_init("rcptguard", RG_LOG_STDERR);
	rg_log_set_level(RG_LOG_WARN);

	opterr = 0;
	while ((ch = getopt(argc, argv, "+c:nVh")) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			cli_version();
			return CLI_EXIT_OK;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}

	/* An explicit -c must exist; the default file may be absent (built-in defaults). */
	if (rg_config_load(&ctx.cfg, cfgpath ? cfgpath : rg_config_default_path,
	    cfgpath != NULL, err, sizeof(err)) < 0) {
		if (optind < argc && strcmp(argv[optind], "reload") == 0) {
			/* The daemon would refuse it too: it is not disturbed, and the reload fails. */
			cli_error("reload refused: %s; the daemon keeps its running configuration",
			    err);
			return CLI_EXIT_NOTFOUND;
		}
		cli_error("%s", err);
		return CLI_EXIT_CONFIG;
	}
	if (check) {
		/* The lists and the reply rules are part of the configuration. */
		struct rg_knowledge *k = rg_knowledge_load(&ctx.cfg, err, sizeof(err));
		if (k == NULL) {
			cli_error("%s", err);
			return CLI_EXIT_CONFIG;
		}
		rg_knowledge_free(k);
		if (ctx.cfg.source[0])
			printf("rcptguard: configuration OK: %s\n", ctx.cfg.source);
		else
			printf("rcptguard: configuration OK: built-in defaults (%s not present)\n",
			    rg_config_default_path);
		return CLI_EXIT_OK;
	}
	if (optind >= argc) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((strcmp(argv[optind], "cache") == 0 || strcmp(argv[optind], "check") == 0) &&
	    cli_state(&ctx) < 0)
		return CLI_EXIT_CACHE;
	if (strcmp(argv[optind], "cache") == 0)
		return cli_cmd_cache(&ctx, argc - optind, argv + optind);
	if (strcmp(argv[optind], "check") == 0)
		return cli_cmd_check(&ctx, argc - optind, argv + optind);
	/* verify opens its files first, then becomes the service user itself. */
	if (strcmp(argv[optind], "verify") == 0)
		return cli_cmd_verify(&ctx, argc - optind, argv + optind);
	/* learn too: the log first (group adm may read it), then the service user. */
	if (strcmp(argv[optind], "learn") == 0)
		return cli_cmd_learn(&ctx, argc - optind, argv + optind);
	if (strcmp(argv[optind], "config") == 0)
		return cli_cmd_config(&ctx, argc - optind, argv + optind);
	if (strcmp(argv[optind], "reload") == 0)
		return cli_cmd_reload(&ctx, argc - optind, argv + optind);
	if (strcmp(argv[optind], "stats") == 0)
		return cli_cmd_stats(&ctx, argc - optind, argv + optind);
	cli_error("unknown command \"%s\"", argv[optind]);
	cli_usage(stderr);
	return CLI_EXIT_USAGE;
}
