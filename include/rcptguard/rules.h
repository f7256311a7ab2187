/*
 * rules.h - the reply rules: what an SMTP reply says, as data.
 *
 * A rule file (conf/reply_rules, documented there) holds named lists of
 * phrases and an ordered list of rules; the first rule whose conditions all
 * hold decides. A condition names the stages, the reply codes, the enhanced
 * codes and phrases of the text that must (or must not) appear:
 *
 *   list nouser "user unknown" "no such user"
 *   rule stage=rcpt code=5xx dsn=5.1.* -> undeliverable/no_mailbox
 *   rule stage=rcpt code=452,552 text=@limit !text=@rate -> unknown/temp_failure limit
 *
 * The rules shipped in conf/reply_rules are also compiled in
 * (rg_rules_builtin), so a missing file changes nothing.
 */
#ifndef RG_RULES_H
#define RG_RULES_H

#include <stddef.h>

#include "rcptguard/reply.h"
#include "rcptguard/smtp.h"
#include "rcptguard/verdict.h"

#define RG_RULES_F_LIMIT	0x01u	/* "too many recipients": ask again elsewhere */
#define RG_RULES_F_GO_ON	0x02u	/* the session may go on (a 2xx before RCPT) */

struct rg_rules;

/* What the first matching rule decided. */
struct rg_rule_outcome {
	enum rg_class	ro_class;
	enum rg_reason	ro_reason;
	unsigned	ro_flags;
	int		ro_line;	/* the rule's line in its file */
};

/*
 * rg_rules_parse - rules from text; name is used in errors ("name:line:
 * ..."). NULL with err on the first error.
 */
struct rg_rules *rg_rules_parse(const char *text, size_t len, const char *name, char *err,
    size_t errsize);

/*
 * rg_rules_load - the rule file at path; a missing file gives the built-in
 * rules (with a warning), "" gives them silently. NULL with err on an error.
 */
struct rg_rules *rg_rules_load(const char *path, char *err, size_t errsize);

/* rg_rules_builtin - the compiled-in rules (conf/reply_rules); never freed. */
const struct rg_rules *rg_rules_builtin(void);

void rg_rules_free(struct rg_rules *r);

/* rg_rules_count - rules and lists, for logs and tests. */
int rg_rules_count(const struct rg_rules *r);

/* rg_rules_match - the first rule of r that r_reply at stage meets; 0 when none. */
int rg_rules_match(const struct rg_rules *r, enum rg_smtp_stage stage, const struct rg_reply *reply,
    struct rg_rule_outcome *out);

#endif /* RG_RULES_H */
