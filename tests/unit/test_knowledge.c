/*
 * test_knowledge.c - the provider, disposable and role lists.
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

#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "testutil.h"

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct rg_knowledge *
load(const char *dir, const char *providers, const char *disposable, const char *roles,
    char *err, size_t errsize)
{
	struct rg_config cfg;

	rg_config_defaults(&cfg);
	snprintf(cfg.providers_file, sizeof(cfg.providers_file), "%s/p", dir);
	snprintf(cfg.disposable_domains_file, sizeof(cfg.disposable_domains_file), "%s/d", dir);
	snprintf(cfg.role_accounts_file, sizeof(cfg.role_accounts_file), "%s/r", dir);
	write_file(cfg.providers_file, providers);
	write_file(cfg.disposable_domains_file, disposable);
	write_file(cfg.role_accounts_file, roles);
	return rg_knowledge_load(&cfg, err, errsize);
}

static void
test_knowledge_lookups(void **state)
{
	char *dir = testutil_tmpdir(), err[512];
	struct rg_knowledge *k;
	(void)state;

	k = load(dir,
	    "# comment\nyahoodns.net accept_all  # why\nOutlook.COM unreliable_250\n"
	    "protection.outlook.com normal\nskip.example skip\n",
	    "mailinator.com\n\n  yopmail.com  \nbücher.example\n",
	    "postmaster\nInfo\nno-reply\n", err, sizeof(err));
	if (k == NULL)
		fail_msg("load: %s", err);
	assert_int_equal(rg_knowledge_provider(k, "mta5.am0.yahoodns.net"), RG_PROVIDER_ACCEPT_ALL);
	assert_int_equal(rg_knowledge_provider(k, "MTA5.AM0.YAHOODNS.NET."), RG_PROVIDER_ACCEPT_ALL);
	/* Label boundaries: notyahoodns.net is someone else. */
	assert_int_equal(rg_knowledge_provider(k, "mx.notyahoodns.net"), RG_PROVIDER_NORMAL);
	/* The longest suffix wins. */
	assert_int_equal(rg_knowledge_provider(k, "x.mail.protection.outlook.com"), RG_PROVIDER_NORMAL);
	assert_int_equal(rg_knowledge_provider(k, "x.olc.outlook.com"), RG_PROVIDER_UNRELIABLE_250);
	assert_int_equal(rg_knowledge_provider(k, "mx.skip.example"), RG_PROVIDER_SKIP);
	assert_int_equal(rg_knowledge_provider(k, "mx.example.org"), RG_PROVIDER_NORMAL);
	assert_true(rg_knowledge_disposable(k, "mailinator.com"));
	assert_true(rg_knowledge_disposable(k, "eu.yopmail.com"));
	assert_true(rg_knowledge_disposable(k, "xn--bcher-kva.example"));
	assert_false(rg_knowledge_disposable(k, "notmailinator.com"));
	assert_false(rg_knowledge_disposable(k, "com"));
	assert_true(rg_knowledge_role(k, "postmaster"));
	assert_true(rg_knowledge_role(k, "INFO"));
	assert_true(rg_knowledge_role(k, "info+lists"));
	assert_true(rg_knowledge_role(k, "no-reply"));
	assert_false(rg_knowledge_role(k, "alice"));
	assert_false(rg_knowledge_role(k, "information"));
	rg_knowledge_free(k);
	testutil_rmdir(dir);
}

static void
test_knowledge_errors(void **state)
{
	char *dir = testutil_tmpdir(), err[512];
	struct rg_knowledge *k;
	(void)state;

	k = load(dir, "yahoodns.net accept_all\nmx.example sometimes\n", "", "", err, sizeof(err));
	assert_null(k);
	assert_non_null(strstr(err, "/p:2: \"sometimes\" is not normal, accept_all"));
	k = load(dir, "example.net\n", "", "", err, sizeof(err));
	assert_null(k);
	assert_non_null(strstr(err, "/p:1: a behaviour must follow the suffix"));
	k = load(dir, "", "ok.example\nbad_domain.example\n", "", err, sizeof(err));
	assert_null(k);
	assert_non_null(strstr(err, "/d:2: \"bad_domain.example\" is not a domain"));
	k = load(dir, "", "", "fine\nnot fine\n", err, sizeof(err));
	assert_null(k);
	assert_non_null(strstr(err, "/r:2: one local part per line"));
	k = load(dir, "", "", "a<b\n", err, sizeof(err));
	assert_null(k);
	/* A missing file is an empty list. */
	{
		struct rg_config cfg;
		rg_config_defaults(&cfg);
		rg_strlcpy(cfg.providers_file, "/nonexistent/p", sizeof(cfg.providers_file));
		rg_strlcpy(cfg.disposable_domains_file, "/nonexistent/d", sizeof(cfg.disposable_domains_file));
		rg_strlcpy(cfg.role_accounts_file, "", sizeof(cfg.role_accounts_file));
		k = rg_knowledge_load(&cfg, err, sizeof(err));
		assert_non_null(k);
		assert_int_equal(rg_knowledge_provider(k, "mx.yahoodns.net"), RG_PROVIDER_NORMAL);
		assert_false(rg_knowledge_role(k, "postmaster"));
		rg_knowledge_free(k);
	}
	testutil_rmdir(dir);
}

/* The shipped lists parse and say what their comments promise. */
static void
test_knowledge_shipped(void **state)
{
	const char *src = getenv("top_srcdir");
	struct rg_config cfg;
	struct rg_knowledge *k;
	char err[512];
	(void)state;

	assert_non_null(src);
	rg_config_defaults(&cfg);
	snprintf(cfg.providers_file, sizeof(cfg.providers_file), "%s/conf/providers.conf", src);
	snprintf(cfg.disposable_domains_file, sizeof(cfg.disposable_domains_file),
	    "%s/conf/disposable_domains", src);
	snprintf(cfg.role_accounts_file, sizeof(cfg.role_accounts_file), "%s/conf/role_accounts", src);
	k = rg_knowledge_load(&cfg, err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	assert_int_equal(rg_knowledge_provider(k, "mta7.am0.yahoodns.net"), RG_PROVIDER_ACCEPT_ALL);
	assert_int_equal(rg_knowledge_provider(k, "eur.olc.protection.outlook.com"),
	    RG_PROVIDER_UNRELIABLE_250);
	assert_int_equal(rg_knowledge_provider(k, "aspmx.l.google.com"), RG_PROVIDER_NORMAL);
	/* Exchange Online has its own entry; the consumer suffix under it stays unreliable. */
	assert_int_equal(rg_knowledge_provider(k, "contoso-com.mail.protection.outlook.com"),
	    RG_PROVIDER_NORMAL);
	assert_true(rg_knowledge_disposable(k, "mailinator.com"));
	assert_true(rg_knowledge_role(k, "postmaster"));
	rg_knowledge_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_knowledge_lookups),
		cmocka_unit_test(test_knowledge_errors),
		cmocka_unit_test(test_knowledge_shipped),
	};
	rg_log_set_level(RG_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
