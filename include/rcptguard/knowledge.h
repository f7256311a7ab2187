/*
 * knowledge.h - what is known without asking the network: providers whose
 * MX answers are unreliable (by MX host suffix), disposable address domains,
 * and role local parts. Each list is a plain file named in the config.
 */
#ifndef RG_KNOWLEDGE_H
#define RG_KNOWLEDGE_H

#include <stddef.h>

#include "rcptguard/config.h"
#include "rcptguard/rules.h"

enum rg_provider {
	RG_PROVIDER_NORMAL = 0,		/* probe and trust the answer */
	RG_PROVIDER_ACCEPT_ALL,		/* accepts every RCPT: no probe, risky */
	RG_PROVIDER_UNRELIABLE_250,	/* 250 proves nothing: it becomes risky */
	RG_PROVIDER_SKIP,		/* never probed */
};

struct rg_knowledge;

/*
 * rg_knowledge_load - read the three files. A file that does not exist is
 * an empty list with a warning; a file with a bad line is an error naming
 * the file and the line.
 */
struct rg_knowledge *rg_knowledge_load(const struct rg_config *cfg, char *err, size_t errsize);
void rg_knowledge_free(struct rg_knowledge *k);

/* rg_knowledge_provider - the rule for an MX host name (longest suffix wins). */
enum rg_provider rg_knowledge_provider(const struct rg_knowledge *k, const char *mx_host);
/* rg_knowledge_disposable - the domain or a parent of it is disposable. */
int rg_knowledge_disposable(const struct rg_knowledge *k, const char *domain);
/* rg_knowledge_role - the local part (case-insensitive, before any +tag) is a role. */
int rg_knowledge_role(const struct rg_knowledge *k, const char *local);

/* rg_knowledge_rules - the reply rules of reply_rules_file (rules.h). */
const struct rg_rules *rg_knowledge_rules(const struct rg_knowledge *k);

const char *rg_knowledge_provider_name(enum rg_provider p);

#endif /* RG_KNOWLEDGE_H */
