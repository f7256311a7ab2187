/*
 * knowledge.c - the provider, disposable and role lists.
 *
 * Lists are sorted arrays searched with bsearch; a domain is looked up with
 * each of its parents (mail.tempmail.example matches tempmail.example), an
 * MX host with each of its suffixes on label boundaries. Files are read
 * once, at start and on reload; lines are bounded and every name is
 * normalized like an address domain so the lists cannot disagree with it.
 */
#include "rg_build.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/address.h"
#include "rcptguard/knowledge.h"
#include "rcptguard/log.h"
#include "rcptguard/rules.h"
#include "rcptguard/util.h"

struct rg_knowledge_entry {
	char		*e_name;
	int		 e_value;
};

struct rg_knowledge_list {
	struct rg_knowledge_entry	*l_items;
	size_t				 l_n;
	size_t				 l_cap;
};

struct rg_knowledge {
	struct rg_knowledge_list	 k_providers;
	struct rg_knowledge_list	 k_disposable;
	struct rg_knowledge_list	 k_roles;
	struct rg_rules			*k_rules;
};

const char *
rg_knowledge_provider_name(enum rg_provider p)
{
	switch (p) {
	case RG_PROVIDER_NORMAL: return "normal";
	case RG_PROVIDER_ACCEPT_ALL: return "accept_all";
	case RG_PROVIDER_UNRELIABLE_250: return "unreliable_250";
	case RG_PROVIDER_SKIP: return "skip";
	}
	return "?";
}

static int
rg_knowledge_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rg_knowledge_entry *)a)->e_name,
	    ((const struct rg_knowledge_entry *)b)->e_name);
}

static int
rg_knowledge_add(struct rg_knowledge_list *l, const char *name, int value)
{
	if (l->l_n == l->l_cap) {
		size_t ncap = l->l_cap ? l->l_cap * 2 : 64;
		struct rg_knowledge_entry *n = realloc(l->l_items, ncap * sizeof(*n));
		if (n == NULL)
			return -1;
		l->l_items = n;
		l->l_cap = ncap;
	}
	if ((l->l_items[l->l_n].e_name = strdup(name)) == NULL)
		return -1;
	l->l_items[l->l_n++].e_value = value;
	return 0;
}

static const struct rg_knowledge_entry *
rg_knowledge_find(const struct rg_knowledge_list *l, const char *name)
{
	struct rg_knowledge_entry key = { .e_name = (char *)(uintptr_t)name };

	if (l->l_n == 0)
		return NULL;
	return bsearch(&key, l->l_items, l->l_n, sizeof(key), rg_knowledge_cmp);
}

static void
rg_knowledge_list_free(struct rg_knowledge_list *l)
{
	for (size_t i = 0; i < l->l_n; i++)
		free(l->l_items[i].e_name);
	free(l->l_items);
}

enum rg_knowledge_kind { RG_KIND_PROVIDERS, RG_KIND_DOMAINS, RG_KIND_ROLES };

/* rg_knowledge_read - one list file: "name [value] [# comment]" per line. */
static int
rg_knowledge_read(const char *path, enum rg_knowledge_kind kind, struct rg_knowledge_list *l,
    char *err, size_t errsize)
{
	char line[512];
	FILE *fp;
	int lineno = 0;

	if (path[0] == '\0')
		return 0;
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT) {
			rg_log_warn("%s: not found, the list is empty", path);
			return 0;
		}
		snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *name, *value, *save = NULL, norm[RG_ADDR_DOMAIN_MAX + 1];
		struct rg_address_error ae;
		int v = 0;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errsize, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		if ((name = strtok_r(line, " \t\r\n", &save)) == NULL)
			continue;
		value = strtok_r(NULL, " \t\r\n", &save);
		if (strtok_r(NULL, " \t\r\n", &save) != NULL) {
			snprintf(err, errsize, "%s:%d: too many fields", path, lineno);
			goto fail;
		}
		if (kind == RG_KIND_ROLES) {
			for (char *c = name; *c; c++) {
				if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
					snprintf(err, errsize, "%s:%d: \"%s\" is not a local part", path,
					    lineno, name);
					goto fail;
				}
				*c = (char)tolower((unsigned char)*c);
			}
			if (value != NULL || rg_knowledge_add(l, name, 0) < 0) {
				snprintf(err, errsize, "%s:%d: one local part per line", path, lineno);
				goto fail;
			}
			continue;
		}
		if (rg_address_parse_domain(name, strlen(name), norm, sizeof(norm), NULL, &ae) < 0) {
			snprintf(err, errsize, "%s:%d: \"%s\" is not a domain: %s", path, lineno, name,
			    ae.e_detail);
			goto fail;
		}
		if (kind == RG_KIND_PROVIDERS) {
			if (value == NULL) {
				snprintf(err, errsize, "%s:%d: a behaviour must follow the suffix", path,
				    lineno);
				goto fail;
			}
			if (strcmp(value, "normal") == 0)
				v = RG_PROVIDER_NORMAL;
			else if (strcmp(value, "accept_all") == 0)
				v = RG_PROVIDER_ACCEPT_ALL;
			else if (strcmp(value, "unreliable_250") == 0)
				v = RG_PROVIDER_UNRELIABLE_250;
			else if (strcmp(value, "skip") == 0)
				v = RG_PROVIDER_SKIP;
			else {
				snprintf(err, errsize, "%s:%d: \"%s\" is not normal, accept_all, "
				    "unreliable_250 or skip", path, lineno, value);
				goto fail;
			}
		} else if (value != NULL) {
			snprintf(err, errsize, "%s:%d: one domain per line", path, lineno);
			goto fail;
		}
		if (rg_knowledge_add(l, norm, v) < 0) {
			snprintf(err, errsize, "out of memory");
			goto fail;
		}
	}
	fclose(fp);
	if (l->l_n > 1)
		qsort(l->l_items, l->l_n, sizeof(*l->l_items), rg_knowledge_cmp);
	return 0;
fail:
	fclose(fp);
	return -1;
}

struct rg_knowledge *
rg_knowledge_load(const struct rg_config *cfg, char *err, size_t errsize)
{
	struct rg_knowledge *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	if (rg_knowledge_read(cfg->providers_file, RG_KIND_PROVIDERS, &k->k_providers, err, errsize) < 0 ||
	    rg_knowledge_read(cfg->disposable_domains_file, RG_KIND_DOMAINS, &k->k_disposable, err,
	    errsize) < 0 ||
	    rg_knowledge_read(cfg->role_accounts_file, RG_KIND_ROLES, &k->k_roles, err, errsize) < 0 ||
	    (k->k_rules = rg_rules_load(cfg->reply_rules_file, err, errsize)) == NULL) {
		rg_knowledge_free(k);
		return NULL;
	}
	return k;
}

const struct rg_rules *
rg_knowledge_rules(const struct rg_knowledge *k)
{
	return k != NULL ? k->k_rules : NULL;
}

void
rg_knowledge_free(struct rg_knowledge *k)
{
	if (k == NULL)
		return;
	rg_knowledge_list_free(&k->k_providers);
	rg_knowledge_list_free(&k->k_disposable);
	rg_knowledge_list_free(&k->k_roles);
	rg_rules_free(k->k_rules);
	free(k);
}

/* rg_knowledge_suffix - the entry for name or its nearest parent. */
static const struct rg_knowledge_entry *
rg_knowledge_suffix(const struct rg_knowledge_list *l, const char *name)
{
	for (const char *p = name; p != NULL && *p != '\0'; ) {
		const struct rg_knowledge_entry *e = rg_knowledge_find(l, p);
		if (e != NULL)
			return e;
		if ((p = strchr(p, '.')) != NULL)
			p++;
	}
	return NULL;
}

enum rg_provider
rg_knowledge_provider(const struct rg_knowledge *k, const char *mx_host)
{
	char host[RG_ADDR_DOMAIN_MAX + 1];
	const struct rg_knowledge_entry *e;
	size_t n;

	rg_strlcpy(host, mx_host, sizeof(host));
	rg_strlower(host);
	n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		host[n - 1] = '\0';
	e = rg_knowledge_suffix(&k->k_providers, host);
	return e != NULL ? (enum rg_provider)e->e_value : RG_PROVIDER_NORMAL;
}

int
rg_knowledge_disposable(const struct rg_knowledge *k, const char *domain)
{
	return rg_knowledge_suffix(&k->k_disposable, domain) != NULL;
}

int
rg_knowledge_role(const struct rg_knowledge *k, const char *local)
{
	char buf[RG_ADDR_LOCAL_MAX + 1];
	char *plus;

	rg_strlcpy(buf, local, sizeof(buf));
	rg_strlower(buf);
	if ((plus = strchr(buf, '+')) != NULL)
		*plus = '\0';
	return rg_knowledge_find(&k->k_roles, buf) != NULL;
}
