/*
 * test_config.c - the configuration table: defaults, bounds, durations,
 * errors with file and line, and the check that conf/rcptguard.conf and
 * rcptguard.conf(5) document exactly the table.
 */
#include "rg_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rcptguard/config.h"

static void
test_config_defaults(void **state)
{
	struct rg_config cfg;
	char err[512];
	int64_t ttl, refresh;
	(void)state;

	rg_config_defaults(&cfg);
	/* Postfix's anchors. */
	assert_true(cfg.ttl[RG_CLASS_DELIVERABLE] == 31 * 86400);
	assert_true(cfg.refresh[RG_CLASS_DELIVERABLE] == 7 * 86400);
	assert_true(cfg.ttl[RG_CLASS_UNDELIVERABLE] == 3 * 86400);
	assert_true(cfg.refresh[RG_CLASS_UNDELIVERABLE] == 3 * 3600);
	assert_int_equal(cfg.local_part_case, RG_LOCAL_CASE_INSENSITIVE);
	assert_int_equal(cfg.sync_mode, RG_SYNC_PERIODIC);
	assert_string_equal(cfg.cache_file, "cache.lmdb");
	for (int r = 0; r < RG_REASON_COUNT; r++)
		assert_true(cfg.reason_ttl[r] == -1);
	rg_config_ttl(&cfg, RG_CLASS_RISKY, RG_REASON_CATCH_ALL, &ttl, &refresh);
	assert_true(ttl == 7 * 86400 && refresh == 86400);
	/* An empty file is a valid configuration. */
	assert_int_equal(rg_config_parse_string(&cfg, "", "empty", err, sizeof(err)), 0);
}

static void
test_config_values(void **state)
{
	struct rg_config cfg;
	char err[512];
	int64_t ttl, refresh;
	const char *text =
	    "# comment\n"
	    "[general]\n"
	    "state_dir = /srv/rg\n"
	    "local_part_case = sensitive\n"
	    "\n"
	    "[cache]\n"
	    "; another comment\n"
	    "map_size = 2M\n"
	    "map_size_max = 64M\n"
	    "ttl_undeliverable = 7d   ; inline comment\n"
	    "refresh_undeliverable = 90m\n"
	    "sync_interval = 30s\n"
	    "reason_ttl = greylisted=30m, mailbox_full=1d\n"
	    "reason_refresh = greylisted=1h\n";
	(void)state;

	assert_int_equal(rg_config_parse_string(&cfg, text, "t.conf", err, sizeof(err)), 0);
	assert_string_equal(cfg.state_dir, "/srv/rg");
	assert_int_equal(cfg.local_part_case, RG_LOCAL_CASE_SENSITIVE);
	assert_true(cfg.map_size == 2 * 1048576);
	assert_true(cfg.map_size_max == 64 * 1048576);
	assert_true(cfg.ttl[RG_CLASS_UNDELIVERABLE] == 7 * 86400);
	assert_true(cfg.refresh[RG_CLASS_UNDELIVERABLE] == 5400);
	assert_true(cfg.sync_interval == 30);
	assert_true(cfg.reason_ttl[RG_REASON_GREYLISTED] == 1800);
	assert_true(cfg.reason_ttl[RG_REASON_MAILBOX_FULL] == 86400);
	assert_true(cfg.reason_ttl[RG_REASON_NO_MAILBOX] == -1);
	/* The per-reason refresh (1h) is capped at its expiry (30m). */
	rg_config_ttl(&cfg, RG_CLASS_UNKNOWN, RG_REASON_GREYLISTED, &ttl, &refresh);
	assert_true(ttl == 1800 && refresh == 1800);
	rg_config_ttl(&cfg, RG_CLASS_UNDELIVERABLE, RG_REASON_NO_MAILBOX, &ttl, &refresh);
	assert_true(ttl == 7 * 86400 && refresh == 5400);
}

struct bad_case {
	const char	*text;
	const char	*error;		/* expected message, file and line included */
};

static void
test_config_redis_server(void **state)
{
	static const struct { const char *in; const char *host; int port; const char *path; } ok[] = {
		{ "127.0.0.1:6379", "127.0.0.1", 6379, "" },
		{ "localhost:6380", "127.0.0.1", 6380, "" },
		{ "[::1]:6379", "::1", 6379, "" },
		{ "unix:/run/redis/redis-server.sock", "", 0, "/run/redis/redis-server.sock" },
	};
	char host[64], path[108], err[400];
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int port = 0;
		assert_int_equal(rg_config_redis_server(ok[i].in, host, sizeof(host), &port, path,
		    sizeof(path), err, sizeof(err)), 0);
		assert_string_equal(host, ok[i].host);
		assert_string_equal(path, ok[i].path);
		if (ok[i].port != 0)
			assert_int_equal(port, ok[i].port);
	}
	assert_int_equal(rg_config_redis_server("::1:6379", host, sizeof(host), NULL, path,
	    sizeof(path), err, sizeof(err)), -1);
	assert_int_equal(rg_config_redis_server("127.0.0.1", host, sizeof(host), NULL, path,
	    sizeof(path), err, sizeof(err)), -1);
	assert_int_equal(rg_config_redis_server("127.0.0.1:70000", host, sizeof(host), NULL, path,
	    sizeof(path), err, sizeof(err)), -1);
}

static void
test_config_errors(void **state)
{
	char longline[400];
	static const struct bad_case cases[] = {
		{ "[cache]\nnope = 1\n", "t.conf:2: unknown key \"nope\"" },
		{ "[bogus]\nmap_size = 1M\n", "t.conf:2: unknown section [bogus]" },
		{ "map_size = 1M\n", "t.conf:1: key \"map_size\" outside any [section]" },
		{ "[general]\nmap_size = 1M\n",
		  "t.conf:2: key \"map_size\" belongs in section [cache], not [general]" },
		{ "[cache]\n\nmap_size = 1k\n", "t.conf:3: map_size: 1k is out of bounds (1M..1024G)" },
		{ "[cache]\nmax_readers = 8\n", "t.conf:2: max_readers: 8 is out of bounds (16..65536)" },
		{ "[cache]\nmax_readers = lots\n", "t.conf:2: max_readers: \"lots\" is not a number" },
		{ "[cache]\nttl_risky = 5 days\n",
		  "t.conf:2: ttl_risky: \"5 days\" is not a duration (like 30s, 5m, 3h, 31d)" },
		{ "[cache]\nttl_risky = 10s\n", "t.conf:2: ttl_risky: 10s is out of bounds (1m..366d)" },
		{ "[cache]\nsync_mode = sometimes\n",
		  "t.conf:2: sync_mode: \"sometimes\" is not one of periodic|commit" },
		{ "[cache]\nreason_ttl = greylisted\n",
		  "t.conf:2: reason_ttl: \"greylisted\" is not reason=duration" },
		{ "[cache]\nreason_ttl = nosuch=1h\n", "t.conf:2: reason_ttl: unknown reason \"nosuch\"" },
		{ "[cache]\nreason_ttl = greylisted=1s\n",
		  "t.conf:2: reason_ttl: greylisted=1s is out of bounds" },
		{ "[cache]\nthis is not a key line\n",
		  "t.conf:2: syntax error (expected [section] or key = value)" },
		{ "[general]\nstate_dir =\n", "t.conf:2: state_dir: must not be empty" },
		{ "[redis]\ntimeout = soon\n",
		  "t.conf:2: timeout: \"soon\" is not a time (like 20ms, 2s)" },
		{ "[redis]\ntimeout = 20s\n", "t.conf:2: timeout: 20s is out of bounds (1ms..10s)" },
		{ "[redis]\nserver = redis.example:6379\n",
		  "t.conf: redis server \"redis.example:6379\": expected IP:port, [IPv6]:port or "
		  "unix:/path (an address, not a name: a name would be resolved on the daemon's loop)" },
		{ "[redis]\nserver = 127.0.0.1:0\n",
		  "t.conf: redis server \"127.0.0.1:0\": expected IP:port, [IPv6]:port or "
		  "unix:/path (an address, not a name: a name would be resolved on the daemon's loop)" },
		{ "[redis]\nserver = unix:relative.sock\n",
		  "t.conf: redis server \"unix:relative.sock\": unix: needs an absolute path shorter "
		  "than 108 bytes" },
		{ "[cache]\nmap_size = 64M\nmap_size_max = 32M\n",
		  "t.conf: map_size must not exceed map_size_max" },
		{ "[cache]\nttl_unknown = 1h\nrefresh_unknown = 2h\n",
		  "t.conf: refresh_unknown must not exceed ttl_unknown" },
		{ "[cache]\nsweep_batch = 1\x01\n", "t.conf:2: control character in line" },
	};
	struct rg_config cfg;
	char err[512], text[600];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (rg_config_parse_string(&cfg, cases[i].text, "t.conf", err, sizeof(err)) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strcmp(err, cases[i].error) != 0)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err, cases[i].error);
	}
	/* A line longer than inih's buffer is an error on that line, never split. */
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(text, sizeof(text), "[general]\nstate_dir = /a/%s\n", longline);
	assert_int_equal(rg_config_parse_string(&cfg, text, "t.conf", err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2: line too long (at most 198 bytes)");
}

static void
test_config_file(void **state)
{
	char path[] = "/tmp/rg-config-XXXXXX", err[512];
	struct rg_config cfg;
	FILE *fp;
	int fd;
	(void)state;

	/* A missing default file means built-in defaults; a missing -c file is an error. */
	assert_int_equal(rg_config_load(&cfg, "/nonexistent/rcptguard.conf", 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.source, "");
	assert_int_equal(rg_config_load(&cfg, "/nonexistent/rcptguard.conf", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/rcptguard.conf: cannot open: No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("[cache]\nlease_ttl = 45s\n[general]\nbad_key = 1\n", fp);
	fclose(fp);
	assert_int_equal(rg_config_load(&cfg, path, 1, err, sizeof(err)), -1);
	{
		char expect[600];
		snprintf(expect, sizeof(expect), "%s:4: unknown key \"bad_key\"", path);
		assert_string_equal(err, expect);
	}
	fp = fopen(path, "w");
	fputs("[cache]\nlease_ttl = 45s\n", fp);
	fclose(fp);
	assert_int_equal(rg_config_load(&cfg, path, 1, err, sizeof(err)), 0);
	assert_true(cfg.lease_ttl == 45);
	assert_string_equal(cfg.source, path);
	unlink(path);
}

static void
test_config_table_sane(void **state)
{
	const struct rg_config_key *k;
	struct rg_config cfg;
	char err[512], buf[RG_CONFIG_PATH_MAX];
	size_t n;
	(void)state;

	k = rg_config_keys(&n);
	rg_config_defaults(&cfg);
	for (size_t i = 0; i < n; i++) {
		/* Every default parses, and formats back to itself. */
		assert_int_equal(rg_config_set(&cfg, k[i].k_section, k[i].k_name, k[i].k_default,
		    err, sizeof(err)), 0);
		rg_config_format(&cfg, &k[i], buf, sizeof(buf));
		assert_string_equal(buf, k[i].k_default);
		assert_true(k[i].k_desc != NULL && k[i].k_desc[0] != '\0');
		/* A name is unique within its section. */
		for (size_t j = 0; j < i; j++)
			assert_false(strcmp(k[i].k_name, k[j].k_name) == 0 &&
			    strcmp(k[i].k_section, k[j].k_section) == 0);
	}
}

/* read_file - the whole of top_builddir/rel; caller frees. */
static char *
read_file(const char *rel)
{
	const char *dir = getenv("top_builddir");
	char path[1024], *text;
	FILE *fp;
	long len;

	if (dir == NULL)
		fail_msg("top_builddir is not set (run through make check)");
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)len + 1);
	if (fread(text, 1, (size_t)len, fp) != (size_t)len)
		fail_msg("short read of %s", path);
	fclose(fp);
	return text;
}

/*
 * test_config_docs_conf - conf/rcptguard.conf lists every key of the table,
 * commented out, with its default, in its section; and no other key.
 */
static void
test_config_docs_conf(void **state)
{
	const struct rg_config_key *k;
	struct rg_config cfg;
	char *text = read_file("conf/rcptguard.conf"), *save = NULL, *line;
	char section[64] = "";
	size_t n, seen = 0;
	int *found;
	(void)state;

	k = rg_config_keys(&n);
	rg_config_defaults(&cfg);
	found = calloc(n, sizeof(*found));
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[128], value[RG_CONFIG_PATH_MAX];
		const char *eq;
		size_t i;

		if (line[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line + 1, "]"), line + 1);
			continue;
		}
		/* Key lines are "#key = default"; prose comments have a space after '#'. */
		if (line[0] != '#' || line[1] == ' ' || line[1] == '\0' || (eq = strstr(line, " =")) == NULL)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - line - 1), line + 1);
		snprintf(value, sizeof(value), "%s", eq[2] == ' ' ? eq + 3 : eq + 2);
		for (i = 0; i < n; i++)
			if (strcmp(k[i].k_name, name) == 0 && strcmp(k[i].k_section, section) == 0)
				break;
		if (i == n)
			fail_msg("conf/rcptguard.conf documents \"%s\" in [%s], which has no such key",
			    name, section);
		if (found[i]++)
			fail_msg("conf/rcptguard.conf documents \"%s\" twice", name);
		if (strcmp(value, k[i].k_default) != 0)
			fail_msg("conf/rcptguard.conf: %s = \"%s\", the table says \"%s\"", name, value,
			    k[i].k_default);
		seen++;
	}
	for (size_t i = 0; i < n; i++)
		if (!found[i])
			fail_msg("conf/rcptguard.conf does not document %s", k[i].k_name);
	assert_int_equal(seen, n);
	free(found);
	free(text);
}

/* test_config_docs_man - rcptguard.conf(5) documents every key with its default. */
static void
test_config_docs_man(void **state)
{
	const struct rg_config_key *k;
	char *text = read_file("man/rcptguard.conf.5");
	size_t n;
	(void)state;

	k = rg_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char needle[128], heading[128], expect[RG_CONFIG_PATH_MAX + 16];
		const char *p, *sec, *def, *next, *end;

		/* Within the section's own heading, up to the next one. */
		snprintf(heading, sizeof(heading), ".SH \"SECTION [%s]\"\n", k[i].k_section);
		if ((sec = strstr(text, heading)) == NULL)
			fail_msg("rcptguard.conf(5) has no section [%s]", k[i].k_section);
		end = strstr(sec + 1, "\n.SH ");
		snprintf(needle, sizeof(needle), ".TP\n.B %s\n", k[i].k_name);
		if ((p = strstr(sec, needle)) == NULL || (end != NULL && p > end))
			fail_msg("rcptguard.conf(5) does not document %s in [%s]", k[i].k_name,
			    k[i].k_section);
		def = strstr(p, "\nDefault: ");
		next = strstr(p + strlen(needle), "\n.TP\n");
		if (def == NULL || (next != NULL && def > next))
			fail_msg("rcptguard.conf(5) gives no default for %s", k[i].k_name);
		snprintf(expect, sizeof(expect), "\nDefault: %s\n",
		    k[i].k_default[0] ? k[i].k_default : "empty");
		if (strncmp(def, expect, strlen(expect)) != 0)
			fail_msg("rcptguard.conf(5): wrong default for %s (want %s)", k[i].k_name,
			    k[i].k_default);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_redis_server),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_config_table_sane),
		cmocka_unit_test(test_config_docs_conf),
		cmocka_unit_test(test_config_docs_man),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
