/*
 * cmd_cache.c - `rcptguard cache get|put|del|list|purge|stats`.
 *
 * Thin: arguments in, rg_store calls, output through output.c.
 */
#include "rg_build.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <event2/event.h>

#include "cli.h"
#include "rcptguard/clock.h"
#include "rcptguard/util.h"

/* cli_cache_opts - the options every cache subcommand shares (--json). */
static int
cli_cache_opts(struct cli_ctx *ctx, int argc, char **argv, const struct option *extra,
    const char *shortopts, int (*onopt)(int, const char *, void *), void *arg)
{
	struct option opts[16];
	size_t n = 0;
	int ch;

	opts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (; extra != NULL && extra->name != NULL && n < RG_ARRAY_LEN(opts) - 1; extra++)
		opts[n++] = *extra;
	opts[n] = (struct option){ NULL, 0, NULL, 0 };

	/* 0, not 1: glibc then resets its state, including argument permutation. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (ch == 'j') {
			ctx->json = 1;
		} else if (ch == '?' || ch == ':' || ch == 'h') {
			if (ch != 'h')
				cli_error("%s: bad option %s", argv[0], argv[optind - 1]);
			return -1;
		} else if (onopt == NULL || onopt(ch, optarg, arg) < 0) {
			return -1;
		}
	}
	return optind;
}

struct rg_store *
cli_cache_open(struct cli_ctx *ctx, unsigned flags)
{
	struct rg_store *c;
	char err[1200];
	int status;

	c = rg_store_open(&ctx->cfg, flags, &status, err, sizeof(err));
	if (c == NULL)
		cli_error("%s (%s)", err, rg_cache_strerror(status));
	return c;
}

/*
 * cli_cache_share - a write that must reach the whole fleet: attach the
 * shared tier ([redis] server) on a loop of its own and wait for the
 * connection. NULL without a server; a fleet out of reach is said, and the
 * local cache is changed anyway.
 */
static struct event_base *
cli_cache_share(struct cli_ctx *ctx, struct rg_store *c)
{
	struct event_base *base;
	char err[512];

	if (ctx->cfg.redis_server[0] == '\0' || (base = event_base_new()) == NULL)
		return NULL;
	if (rg_store_share(c, base, &ctx->cfg, err, sizeof(err)) < 0) {
		cli_error("%s; only this host's cache is changed", err);
		event_base_free(base);
		return NULL;
	}
	rg_store_flush(c, ctx->cfg.redis_connect_timeout);
	if (!rg_store_shared_up(c))
		cli_error("redis %s is not reachable: only this host's cache is changed",
		    ctx->cfg.redis_server);
	return base;
}

/* cli_cache_close - wait for the fleet's acknowledgements, then close. */
static void
cli_cache_close(struct cli_ctx *ctx, struct rg_store *c, struct event_base *base)
{
	if (base != NULL)
		rg_store_flush(c, ctx->cfg.redis_connect_timeout + 1000);
	rg_store_close(c);
	if (base != NULL)
		event_base_free(base);
}

int
cli_parse_address(struct cli_ctx *ctx, const char *arg, struct rg_address *addr)
{
	struct rg_address_error e;
	unsigned opts = ctx->cfg.local_part_case == RG_LOCAL_CASE_INSENSITIVE ?
	    RG_ADDR_O_FOLD_LOCAL : 0;

	if (rg_address_parse(arg, strlen(arg), opts, addr, &e) < 0) {
		cli_error("bad address \"%s\": %s (at byte %zu)", arg, e.e_detail, e.e_offset);
		return -1;
	}
	return 0;
}

/*
 * cli_cache_each - the shape of get and del: options, then fn for every
 * address argument. fn returns a cache status; NOTFOUND makes the exit
 * code 1, an environment error stops with 3, a bad address gives 2.
 */
typedef int (*cli_addr_fn)(struct cli_ctx *ctx, struct rg_store *c, const struct rg_address *a);

/* cli_cache_each - open the cache and run fn for each address argument. */
static int
cli_cache_each(struct cli_ctx *ctx, int argc, char **argv, const char *usage, cli_addr_fn fn,
    int shared)
{
	struct rg_store *c;
	struct event_base *base = NULL;
	int first, rc = CLI_EXIT_OK;

	if ((first = cli_cache_opts(ctx, argc, argv, NULL, "jh", NULL, NULL)) < 0 || first >= argc) {
		cli_error("usage: %s", usage);
		return CLI_EXIT_USAGE;
	}
	if ((c = cli_cache_open(ctx, RG_CACHE_O_CREATE)) == NULL)
		return CLI_EXIT_CACHE;
	if (shared)
		base = cli_cache_share(ctx, c);
	for (int i = first; i < argc; i++) {
		struct rg_address a;
		int s;

		if (cli_parse_address(ctx, argv[i], &a) < 0) {
			rc = CLI_EXIT_USAGE;
			continue;
		}
		s = fn(ctx, c, &a);
		if (s < 0) {
			cli_error("%s: %s", a.a_key, rg_cache_strerror(s));
			rc = CLI_EXIT_CACHE;
			break;
		}
		if (s != RG_CACHE_OK && rc == CLI_EXIT_OK)
			rc = CLI_EXIT_NOTFOUND;
	}
	cli_cache_close(ctx, c, base);
	return rc;
}

static int
cli_get_one(struct cli_ctx *ctx, struct rg_store *c, const struct rg_address *a)
{
	struct rg_verdict v;
	enum rg_verdict_state st;
	int s = rg_store_get(c, a->a_key, &v, &st);

	if (s == RG_CACHE_OK)
		cli_print_verdict(ctx, stdout, a->a_key, &v, st);
	else if (s == RG_CACHE_NOTFOUND || s == RG_CACHE_BADRECORD)
		cli_print_absent(ctx, stdout, a->a_key, s == RG_CACHE_NOTFOUND ? "absent" : "unreadable");
	return s;
}

static int
cli_cache_get(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_cache_each(ctx, argc, argv, "cache get [--json] ADDRESS...", cli_get_one, 0);
}

struct cli_put_opts {
	int64_t		 ttl;
	long		 code;
	const char	*dsn;
	const char	*mx;
	const char	*text;
	int		 role;
	enum rg_source	 source;
};

/* cli_put_onopt - one option of "cache put": TTL, code, DSN, MX, text, flags. */
static int
cli_put_onopt(int ch, const char *val, void *arg)
{
	struct cli_put_opts *po = arg;
	int64_t n;

	switch (ch) {
	case 't':
		if (rg_parse_duration(val, &po->ttl) < 0 || po->ttl <= 0) {
			cli_error("--ttl: \"%s\" is not a duration (like 30s, 5m, 3h, 31d)", val);
			return -1;
		}
		return 0;
	case 'C':
		if (rg_parse_int(val, &n) < 0 || n < 200 || n > 599) {
			cli_error("--code: \"%s\" is not an SMTP reply code", val);
			return -1;
		}
		po->code = (long)n;
		return 0;
	case 'd':
		po->dsn = val;
		return 0;
	case 'm':
		po->mx = val;
		return 0;
	case 'x':
		po->text = val;
		return 0;
	case 'r':
		po->role = 1;
		return 0;
	case 's':
		if (rg_verdict_source_parse(val, &po->source) < 0) {
			cli_error("--source: \"%s\" is not admin, probe or delivery", val);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* cli_valid_dsn - RFC 3463 class.subject.detail with 1-3 digit parts. */
static int
cli_valid_dsn(const char *s)
{
	int parts = 0, digits = 0;

	if (*s != '2' && *s != '4' && *s != '5')
		return 0;
	for (; ; s++) {
		if (*s >= '0' && *s <= '9') {
			if (++digits > 3)
				return 0;
		} else if (*s == '.' || *s == '\0') {
			if (digits == 0)
				return 0;
			parts++;
			digits = 0;
			if (*s == '\0')
				break;
		} else {
			return 0;
		}
	}
	return parts == 3;
}

/* cli_cache_put - "cache put": an admin's verdict, kept until its TTL. */
static int
cli_cache_put(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "code", required_argument, NULL, 'C' },
		{ "dsn", required_argument, NULL, 'd' },
		{ "mx", required_argument, NULL, 'm' },
		{ "text", required_argument, NULL, 'x' },
		{ "role", no_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_put_opts po = { .source = RG_SOURCE_ADMIN };
	struct event_base *base;
	struct rg_address a;
	struct rg_verdict v;
	enum rg_class cls;
	enum rg_reason reason;
	struct rg_store *c;
	int first, s;

	first = cli_cache_opts(ctx, argc, argv, extra, "jh", cli_put_onopt, &po);
	if (first < 0 || argc - first != 3) {
		cli_error("usage: cache put ADDRESS CLASS REASON [--ttl DURATION] [--code N] "
		    "[--dsn X.Y.Z] [--mx HOST] [--text TEXT] [--role] [--source admin|probe|delivery]");
		return CLI_EXIT_USAGE;
	}
	if (cli_parse_address(ctx, argv[first], &a) < 0)
		return CLI_EXIT_USAGE;
	if (rg_verdict_class_parse(argv[first + 1], &cls) < 0) {
		cli_error("unknown class \"%s\" (deliverable, undeliverable, risky, unknown)",
		    argv[first + 1]);
		return CLI_EXIT_USAGE;
	}
	if (rg_verdict_reason_parse(argv[first + 2], &reason) < 0) {
		cli_error("unknown reason \"%s\"; see rcptguard(1) for the list", argv[first + 2]);
		return CLI_EXIT_USAGE;
	}
	if (rg_verdict_reason_class(reason) != cls) {
		cli_error("reason %s belongs to class %s, not %s", rg_verdict_reason_name(reason),
		    rg_verdict_class_name(rg_verdict_reason_class(reason)),
		    rg_verdict_class_name(cls));
		return CLI_EXIT_USAGE;
	}
	if (po.dsn != NULL && !cli_valid_dsn(po.dsn)) {
		cli_error("--dsn: \"%s\" is not an enhanced status code like 5.1.1", po.dsn);
		return CLI_EXIT_USAGE;
	}
	rg_verdict_init(&v, cls, reason);
	v.v_code = (uint16_t)po.code;
	if (po.dsn != NULL)
		rg_strlcpy(v.v_dsn, po.dsn, sizeof(v.v_dsn));
	if (po.mx != NULL) {
		struct rg_address_error e;
		if (rg_address_parse_domain(po.mx, strlen(po.mx), v.v_mx, sizeof(v.v_mx), NULL, &e) < 0) {
			cli_error("--mx: bad host name \"%s\": %s", po.mx, e.e_detail);
			return CLI_EXIT_USAGE;
		}
	}
	if (po.text != NULL)
		rg_verdict_set_text(&v, po.text, strlen(po.text));
	if (po.role)
		v.v_flags |= RG_VERDICT_F_ROLE;
	v.v_attempts = 0;
	v.v_source = po.source;

	if ((c = cli_cache_open(ctx, RG_CACHE_O_CREATE)) == NULL)
		return CLI_EXIT_CACHE;
	base = cli_cache_share(ctx, c);
	rg_store_stamp(c, &v, po.ttl);
	s = rg_store_put(c, a.a_key, &v);
	if (s == RG_CACHE_OK)
		cli_print_verdict(ctx, stdout, a.a_key, &v, rg_verdict_state_at(&v, rg_clock_now()));
	else
		cli_error("%s: %s", a.a_key, rg_cache_strerror(s));
	cli_cache_close(ctx, c, base);
	return s == RG_CACHE_OK ? CLI_EXIT_OK : CLI_EXIT_CACHE;
}

static int
cli_del_one(struct cli_ctx *ctx, struct rg_store *c, const struct rg_address *a)
{
	int s = rg_store_del(c, a->a_key);

	if (s == RG_CACHE_OK || s == RG_CACHE_NOTFOUND)
		cli_print_absent(ctx, stdout, a->a_key, s == RG_CACHE_OK ? "deleted" : "absent");
	return s;
}

static int
cli_cache_del(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_cache_each(ctx, argc, argv, "cache del [--json] ADDRESS...", cli_del_one, 1);
}

struct cli_list_arg {
	struct cli_ctx	*ctx;
	int		 have_class;
	enum rg_class	 cls;
	char		 domain[RG_ADDR_DOMAIN_MAX + 1];
	int64_t		 now;
	uint64_t	 count;
};

/* cli_list_onopt - one option of "cache list": --class or --domain. */
static int
cli_list_onopt(int ch, const char *val, void *arg)
{
	struct cli_list_arg *la = arg;
	struct rg_address_error e;

	if (ch == 'c') {
		if (rg_verdict_class_parse(val, &la->cls) < 0) {
			cli_error("--class: unknown class \"%s\"", val);
			return -1;
		}
		la->have_class = 1;
		return 0;
	}
	if (ch == 'D') {
		if (rg_address_parse_domain(val, strlen(val), la->domain, sizeof(la->domain),
		    NULL, &e) < 0) {
			cli_error("--domain: bad domain \"%s\": %s", val, e.e_detail);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int
cli_list_visit(const char *key, const struct rg_verdict *v, void *arg)
{
	struct cli_list_arg *la = arg;
	const char *at = strrchr(key, '@');

	if (la->domain[0] != '\0' && (at == NULL || strcmp(at + 1, la->domain) != 0))
		return 0;
	if (v == NULL) {
		if (!la->have_class)
			cli_print_absent(la->ctx, stdout, key, "unreadable");
		return 0;
	}
	if (la->have_class && v->v_class != la->cls)
		return 0;
	cli_print_verdict(la->ctx, stdout, key, v, rg_verdict_state_at(v, la->now));
	la->count++;
	return 0;
}

/* cli_cache_list - "cache list": every verdict, filtered, as text or JSON. */
static int
cli_cache_list(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "class", required_argument, NULL, 'c' },
		{ "domain", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_list_arg la = { .ctx = ctx };
	struct rg_store *c;
	int first, s;

	first = cli_cache_opts(ctx, argc, argv, extra, "jh", cli_list_onopt, &la);
	if (first < 0 || first != argc) {
		cli_error("usage: cache list [--class CLASS] [--domain DOMAIN] [--json]");
		return CLI_EXIT_USAGE;
	}
	if ((c = cli_cache_open(ctx, RG_CACHE_O_CREATE)) == NULL)
		return CLI_EXIT_CACHE;
	la.now = rg_clock_now();
	s = rg_store_foreach(c, cli_list_visit, &la);
	rg_store_close(c);
	if (s != RG_CACHE_OK) {
		cli_error("list: %s", rg_cache_strerror(s));
		return CLI_EXIT_CACHE;
	}
	return CLI_EXIT_OK;
}

struct cli_purge_opts {
	int	expired;
	int	all;
	int	force;
};

static int
cli_purge_onopt(int ch, const char *val, void *arg)
{
	struct cli_purge_opts *po = arg;

	(void)val;
	if (ch == 'e')
		po->expired = 1;
	else if (ch == 'a')
		po->all = 1;
	else if (ch == 'f')
		po->force = 1;
	else
		return -1;
	return 0;
}

/*
 * cli_cache_recreate - remove a cache file that cannot be opened as LMDB so a
 * new one can be created. Only with --all --force: it discards everything.
 */
static int
cli_cache_recreate(struct cli_ctx *ctx)
{
	char path[RG_CONFIG_PATH_MAX], lock[RG_CONFIG_PATH_MAX + 8];

	if (rg_config_cache_path(&ctx->cfg, path, sizeof(path)) < 0)
		return -1;
	snprintf(lock, sizeof(lock), "%s-lock", path);
	if (unlink(path) < 0)
		return -1;
	unlink(lock);
	return 0;
}

/* cli_cache_purge - "cache purge": expired records, or all with --force. */
static int
cli_cache_purge(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "expired", no_argument, NULL, 'e' },
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_purge_opts po = { 0 };
	struct rg_store *c;
	char err[1200];
	uint64_t total = 0;
	int first, s, status;

	first = cli_cache_opts(ctx, argc, argv, extra, "jh", cli_purge_onopt, &po);
	if (first < 0 || first != argc || po.expired == po.all || (po.force && !po.all)) {
		cli_error("usage: cache purge --expired | --all [--force]");
		return CLI_EXIT_USAGE;
	}
	c = rg_store_open(&ctx->cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	if (c == NULL && status == RG_CACHE_ECORRUPT && po.force) {
		if (cli_cache_recreate(ctx) < 0) {
			cli_error("%s: cannot remove the damaged cache", err);
			return CLI_EXIT_CACHE;
		}
		c = rg_store_open(&ctx->cfg, RG_CACHE_O_CREATE, &status, err, sizeof(err));
	}
	if (c == NULL) {
		cli_error("%s (%s)%s", err, rg_cache_strerror(status), status == RG_CACHE_ECORRUPT ?
		    "; `rcptguard cache purge --all --force` recreates it" : "");
		return CLI_EXIT_CACHE;
	}
	if (po.all) {
		struct rg_cache_stats st;
		if (rg_cache_stats(rg_store_cache(c), &st) == RG_CACHE_OK)
			for (int db = 0; db < RG_DB_COUNT; db++)
				total += st.cs_entries[db];
		s = rg_cache_purge_all(rg_store_cache(c));
	} else {
		int wrapped = 0;
		do {
			uint64_t removed = 0;
			s = rg_cache_sweep(rg_store_cache(c), &removed, &wrapped);
			total += removed;
		} while (s == RG_CACHE_OK && !wrapped);
	}
	rg_store_close(c);
	if (s != RG_CACHE_OK) {
		cli_error("purge: %s", rg_cache_strerror(s));
		return CLI_EXIT_CACHE;
	}
	if (ctx->json)
		printf("{\"removed\":%" PRIu64 "}\n", total);
	else
		printf("removed %" PRIu64 " records\n", total);
	return CLI_EXIT_OK;
}

json_t *
cli_cache_stats_json(const struct rg_cache_stats *st)
{
	json_t *o = json_object(), *cls = json_object(), *state = json_object(), *dbs = json_object();

	json_object_set_new(o, "path", json_string(st->cs_path));
	json_object_set_new(o, "map_size", json_integer((json_int_t)st->cs_map_size));
	json_object_set_new(o, "map_size_max", json_integer((json_int_t)st->cs_map_size_max));
	json_object_set_new(o, "used_bytes", json_integer((json_int_t)st->cs_used_bytes));
	json_object_set_new(o, "file_bytes", json_integer((json_int_t)st->cs_file_bytes));
	json_object_set_new(o, "readers_used", json_integer(st->cs_readers_used));
	json_object_set_new(o, "readers_max", json_integer(st->cs_readers_max));
	for (int db = 0; db < RG_DB_COUNT; db++)
		json_object_set_new(dbs, rg_cache_db_name((enum rg_cache_db)db),
		    json_integer((json_int_t)st->cs_entries[db]));
	json_object_set_new(o, "entries", dbs);
	for (int i = 0; i < RG_CLASS_COUNT; i++)
		json_object_set_new(cls, rg_verdict_class_name((enum rg_class)i),
		    json_integer((json_int_t)st->cs_by_class[i]));
	json_object_set_new(o, "verdicts_by_class", cls);
	for (int i = 0; i < 3; i++)
		json_object_set_new(state, rg_verdict_state_name((enum rg_verdict_state)i),
		    json_integer((json_int_t)st->cs_by_state[i]));
	json_object_set_new(o, "verdicts_by_state", state);
	json_object_set_new(o, "unreadable", json_integer((json_int_t)st->cs_bad_records));
	return o;
}

void
cli_cache_stats_print(FILE *fp, const struct rg_cache_stats *st)
{
	char ms[32], mx[32];

	rg_format_size((int64_t)st->cs_map_size, ms, sizeof(ms));
	rg_format_size((int64_t)st->cs_map_size_max, mx, sizeof(mx));
	fprintf(fp, "cache:     %s\n", st->cs_path);
	fprintf(fp, "map:       %s of at most %s; %" PRIu64 " bytes used, file %" PRIu64 " bytes\n",
	    ms, mx, st->cs_used_bytes, st->cs_file_bytes);
	fprintf(fp, "readers:   %u of %u slots in use\n", st->cs_readers_used, st->cs_readers_max);
	fprintf(fp, "verdicts:  %" PRIu64 " (deliverable %" PRIu64 ", undeliverable %" PRIu64
	    ", risky %" PRIu64 ", unknown %" PRIu64 ")\n", st->cs_entries[RG_DB_VERDICTS],
	    st->cs_by_class[RG_CLASS_DELIVERABLE], st->cs_by_class[RG_CLASS_UNDELIVERABLE],
	    st->cs_by_class[RG_CLASS_RISKY], st->cs_by_class[RG_CLASS_UNKNOWN]);
	fprintf(fp, "state:     fresh %" PRIu64 ", stale %" PRIu64 ", expired %" PRIu64
	    ", unreadable %" PRIu64 "\n", st->cs_by_state[RG_STATE_FRESH],
	    st->cs_by_state[RG_STATE_STALE], st->cs_by_state[RG_STATE_EXPIRED], st->cs_bad_records);
	fprintf(fp, "domains:   %" PRIu64 "\nleases:    %" PRIu64 "\nlimits:    %" PRIu64 "\n",
	    st->cs_entries[RG_DB_DOMAINS], st->cs_entries[RG_DB_LEASES], st->cs_entries[RG_DB_LIMITS]);
}

int
cli_cache_stats_read(struct cli_ctx *ctx, struct rg_cache_stats *st)
{
	struct rg_store *c;
	int s;

	if ((c = cli_cache_open(ctx, RG_CACHE_O_CREATE)) == NULL)
		return -1;
	s = rg_cache_stats(rg_store_cache(c), st);
	rg_store_close(c);
	if (s != RG_CACHE_OK) {
		cli_error("stats: %s", rg_cache_strerror(s));
		return -1;
	}
	return 0;
}

/* cli_cache_stats - "cache stats": counts per class and the map's use. */
static int
cli_cache_stats(struct cli_ctx *ctx, int argc, char **argv)
{
	struct rg_cache_stats st;
	int first;

	if ((first = cli_cache_opts(ctx, argc, argv, NULL, "jh", NULL, NULL)) < 0 || first != argc) {
		cli_error("usage: cache stats [--json]");
		return CLI_EXIT_USAGE;
	}
	if (cli_cache_stats_read(ctx, &st) < 0)
		return CLI_EXIT_CACHE;
	if (ctx->json)
		cli_json_print(stdout, cli_cache_stats_json(&st));
	else
		cli_cache_stats_print(stdout, &st);
	return CLI_EXIT_OK;
}

int
cli_cmd_cache(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli_ctx *, int, char **);
	} cmds[] = {
		{ "get", cli_cache_get },
		{ "put", cli_cache_put },
		{ "del", cli_cache_del },
		{ "list", cli_cache_list },
		{ "purge", cli_cache_purge },
		{ "stats", cli_cache_stats },
	};

	if (argc < 2) {
		cli_error("usage: cache get|put|del|list|purge|stats ...");
		return CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < RG_ARRAY_LEN(cmds); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(ctx, argc - 1, argv + 1);
	cli_error("cache: unknown subcommand \"%s\"", argv[1]);
	return CLI_EXIT_USAGE;
}
