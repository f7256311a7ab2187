/*
 * rules.c - the reply rules (rules.h): the parser of rule files and the
 * matcher that classify.c asks.
 *
 * DESCRIPTION
 *   A file is lines of tokens separated by blanks; '#' outside quotes
 *   starts a comment. "list NAME PHRASE..." adds phrases to a named list
 *   (several lines may add to one). "rule COND... -> CLASS/REASON FLAG..."
 *   appends a rule. Conditions: stage=LIST, code=LIST, dsn=LIST,
 *   text=@LIST or text="phrase"; a leading '!' negates one (for stage,
 *   code and dsn an item of the list may carry it too). Codes are 550, 55x
 *   or 5xx; enhanced codes exact (5.4.1), a prefix (5.1.*) or none. Texts
 *   match case-insensitively anywhere in the reply text. Flags: limit,
 *   go_on.
 *
 * SECURITY
 *   A rule file is configuration, but it is parsed as untrusted text:
 *   every token is bounded, phrases must be printable ASCII, and an error
 *   names the file and the line and stops the load; nothing is half
 *   applied. Matching reads the bounded, sanitized reply of rg_reply.
 */
#include "rg_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "rcptguard/log.h"
#include "rcptguard/rules.h"
#include "rcptguard/util.h"

#define RG_RULES_TOKEN_MAX	160	/* a phrase or a condition */
#define RG_RULES_TOKENS_MAX	64	/* tokens on one line */
#define RG_RULES_ITEMS_MAX	12	/* items of one code or dsn list */
#define RG_RULES_TEXTS_MAX	6	/* text conditions of one rule */
#define RG_RULES_FILE_MAX	(1 << 20)

/* conf/reply_rules, compiled in (lib/rules_builtin.c, made by the build). */
extern const char rg_rules_builtin_text[];

struct rg_rules_list {
	char	  name[32];
	char	**phrases;
	int	  n;
};

struct rg_rules_code {
	int	neg;
	int	lo, hi;
};

struct rg_rules_dsn {
	int	neg;
	int	none;		/* matches an empty enhanced code */
	int	prefix;		/* "5.1.*": s holds "5.1." */
	char	s[16];
};

struct rg_rules_text {
	int	 neg;
	int	 list;		/* index into r_lists, or -1 */
	char	*phrase;
};

struct rg_rule {
	unsigned		stages, stages_neg;	/* bits of enum rg_smtp_stage */
	struct rg_rules_code	codes[RG_RULES_ITEMS_MAX];
	int			ncodes;
	struct rg_rules_dsn	dsns[RG_RULES_ITEMS_MAX];
	int			ndsns;
	struct rg_rules_text	texts[RG_RULES_TEXTS_MAX];
	int			ntexts;
	struct rg_rule_outcome	out;
};

struct rg_rules {
	struct rg_rules_list	*r_lists;
	int			 r_nlists;
	struct rg_rule		*r_rules;
	int			 r_nrules;
	int			 r_cap;
};

/* The parse of one file: where we are, and the first error. */
struct rg_rules_parser {
	struct rg_rules	*rules;
	const char	*name;
	int		 line;
	char		*err;
	size_t		 errsize;
};

static int
rg_rules_error(struct rg_rules_parser *p, const char *what, const char *tok)
{
	char safe[64];

	rg_log_sanitize(safe, sizeof(safe), tok != NULL ? tok : "", tok != NULL ? strlen(tok) : 0);
	snprintf(p->err, p->errsize, "%s:%d: %s%s%s%s", p->name, p->line, what,
	    tok != NULL ? " \"" : "", tok != NULL ? safe : "", tok != NULL ? "\"" : "");
	return -1;
}

void
rg_rules_free(struct rg_rules *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->r_nlists; i++) {
		for (int k = 0; k < r->r_lists[i].n; k++)
			free(r->r_lists[i].phrases[k]);
		free(r->r_lists[i].phrases);
	}
	for (int i = 0; i < r->r_nrules; i++)
		for (int k = 0; k < r->r_rules[i].ntexts; k++)
			free(r->r_rules[i].texts[k].phrase);
	free(r->r_lists);
	free(r->r_rules);
	free(r);
}

int
rg_rules_count(const struct rg_rules *r)
{
	return r->r_nrules;
}

/*
 * rg_rules_tokens - split one line into tokens: blanks separate, quotes
 * group (\" and \\ inside), '#' outside quotes ends the line. Returns the
 * number of tokens, -1 on an error (written to p).
 */
static int
rg_rules_tokens(struct rg_rules_parser *p, const char *line, char tok[][RG_RULES_TOKEN_MAX + 1])
{
	int n = 0;

	for (const char *s = line; *s != '\0';) {
		size_t len = 0;
		int quoted = 0, any = 0;

		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0' || *s == '#')
			break;
		if (n == RG_RULES_TOKENS_MAX)
			return rg_rules_error(p, "too many tokens on the line", NULL);
		for (; *s != '\0'; s++) {
			char c = *s;
			if (!quoted && (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#'))
				break;
			if (c == '"') {
				quoted = !quoted;
				any = 1;
				continue;
			}
			if (quoted && c == '\\' && (s[1] == '"' || s[1] == '\\'))
				c = *++s;
			if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
				return rg_rules_error(p, "a byte that is not printable ASCII", NULL);
			if (len == RG_RULES_TOKEN_MAX)
				return rg_rules_error(p, "a token longer than 160 bytes", NULL);
			tok[n][len++] = c;
			any = 1;
		}
		if (quoted)
			return rg_rules_error(p, "a quote is not closed", NULL);
		tok[n][len] = '\0';
		if (any)
			n++;
	}
	return n;
}

static int
rg_rules_find_list(const struct rg_rules *r, const char *name)
{
	for (int i = 0; i < r->r_nlists; i++)
		if (strcmp(r->r_lists[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * rg_rules_lower - ASCII lower case in place. Phrases are kept so and a
 * reply's text is lowered once per match: a case-blind search is then a
 * plain memmem, not a strcasestr per phrase.
 */
static void
rg_rules_lower(char *s)
{
	for (; *s; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + ('a' - 'A'));
	}
}

/* rg_rules_list_line - "list NAME PHRASE...": the phrases join the list. */
static int
rg_rules_list_line(struct rg_rules_parser *p, char tok[][RG_RULES_TOKEN_MAX + 1], int n)
{
	struct rg_rules *r = p->rules;
	struct rg_rules_list *l;
	char **ph;
	int i;

	if (n < 3)
		return rg_rules_error(p, "a list needs a name and at least one phrase", NULL);
	if (strlen(tok[1]) >= sizeof(r->r_lists[0].name) || strspn(tok[1],
	    "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(tok[1]))
		return rg_rules_error(p, "a list name is lower-case letters, digits and _:", tok[1]);
	if ((i = rg_rules_find_list(r, tok[1])) < 0) {
		struct rg_rules_list *nl = realloc(r->r_lists, (size_t)(r->r_nlists + 1) * sizeof(*nl));
		if (nl == NULL)
			return rg_rules_error(p, "out of memory", NULL);
		r->r_lists = nl;
		i = r->r_nlists++;
		memset(&nl[i], 0, sizeof(nl[i]));
		rg_strlcpy(nl[i].name, tok[1], sizeof(nl[i].name));
	}
	l = &r->r_lists[i];
	if ((ph = realloc(l->phrases, (size_t)(l->n + n - 2) * sizeof(*ph))) == NULL)
		return rg_rules_error(p, "out of memory", NULL);
	l->phrases = ph;
	for (int k = 2; k < n; k++) {
		if (tok[k][0] == '\0')
			return rg_rules_error(p, "an empty phrase", NULL);
		if ((l->phrases[l->n] = strdup(tok[k])) == NULL)
			return rg_rules_error(p, "out of memory", NULL);
		rg_rules_lower(l->phrases[l->n]);
		l->n++;
	}
	return 0;
}

/* rg_rules_stages - "rcpt,mail,!greeting" into the rule's stage bits. */
static int
rg_rules_stages(struct rg_rules_parser *p, struct rg_rule *ru, char *v)
{
	static const char *const names[] = { "greeting", "helo", "starttls", "mail", "rcpt" };
	char *save = NULL;

	for (char *it = strtok_r(v, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
		int neg = it[0] == '!', found = -1;
		for (int s = 0; s < (int)(sizeof(names) / sizeof(names[0])); s++)
			if (strcmp(it + neg, names[s]) == 0)
				found = s;
		if (found < 0)
			return rg_rules_error(p, "not a stage (greeting, helo, starttls, mail, rcpt):",
			    it + neg);
		if (neg)
			ru->stages_neg |= 1u << found;
		else
			ru->stages |= 1u << found;
	}
	return 0;
}

/* rg_rules_codes - "452,552,5xx,!421" into the rule's code items. */
static int
rg_rules_codes(struct rg_rules_parser *p, struct rg_rule *ru, char *v, int neg_all)
{
	char *save = NULL;

	for (char *it = strtok_r(v, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
		struct rg_rules_code *c;
		int neg = it[0] == '!';
		const char *d = it + neg;

		if (ru->ncodes == RG_RULES_ITEMS_MAX)
			return rg_rules_error(p, "too many codes in one condition", NULL);
		if (strlen(d) != 3 || d[0] < '2' || d[0] > '5' ||
		    !((d[1] >= '0' && d[1] <= '9' && ((d[2] >= '0' && d[2] <= '9') || d[2] == 'x')) ||
		    (d[1] == 'x' && d[2] == 'x')))
			return rg_rules_error(p, "not a reply code (550, 55x or 5xx):", d);
		c = &ru->codes[ru->ncodes++];
		c->neg = neg ^ neg_all;
		c->lo = (d[0] - '0') * 100 + (d[1] == 'x' ? 0 : (d[1] - '0') * 10) +
		    (d[2] == 'x' ? 0 : d[2] - '0');
		c->hi = c->lo + (d[1] == 'x' ? 99 : d[2] == 'x' ? 9 : 0);
	}
	return 0;
}

/*
 * rg_rules_dsn_form - an enhanced code (RFC 3463: class.subject.detail, 1 to
 * 3 digits each, class 2, 4 or 5) or a prefix of one ending in ".*".
 */
static int
rg_rules_dsn_form(const char *s)
{
	int parts = 0, prefix = 0;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (const char *p = s; *p != '\0';) {
		size_t n = strspn(p, "0123456789");
		if (n == 0 && p[0] == '*' && p[1] == '\0' && parts > 0) {
			prefix = 1;
			break;
		}
		if (n == 0 || n > 3)
			return 0;
		parts++;
		p += n;
		if (*p == '.')
			p++;
		else if (*p != '\0')
			return 0;
		else
			break;
	}
	return prefix ? parts <= 2 : parts == 3 && s[strlen(s) - 1] != '.';
}

/* rg_rules_dsns - "5.1.*,5.4.1,none,!5.7.*" into the rule's enhanced-code items. */
static int
rg_rules_dsns(struct rg_rules_parser *p, struct rg_rule *ru, char *v, int neg_all)
{
	char *save = NULL;

	for (char *it = strtok_r(v, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
		struct rg_rules_dsn *d;
		int neg = it[0] == '!';
		const char *s = it + neg;
		size_t len = strlen(s);

		if (ru->ndsns == RG_RULES_ITEMS_MAX)
			return rg_rules_error(p, "too many enhanced codes in one condition", NULL);
		d = &ru->dsns[ru->ndsns];
		memset(d, 0, sizeof(*d));
		d->neg = neg ^ neg_all;
		if (strcmp(s, "none") == 0) {
			d->none = 1;
		} else {
			if (len >= sizeof(d->s) || !rg_rules_dsn_form(s))
				return rg_rules_error(p, "not an enhanced code (5.4.1, 5.1.* or none):", s);
			rg_strlcpy(d->s, s, sizeof(d->s));
			if (s[len - 1] == '*') {
				d->prefix = 1;
				d->s[len - 1] = '\0';
			}
		}
		ru->ndsns++;
	}
	return 0;
}

/* rg_rules_text - text=@list or text="phrase" (negated with !) into the rule. */
static int
rg_rules_text(struct rg_rules_parser *p, struct rg_rule *ru, const char *v, int neg)
{
	struct rg_rules_text *t;

	if (ru->ntexts == RG_RULES_TEXTS_MAX)
		return rg_rules_error(p, "too many text conditions in one rule", NULL);
	t = &ru->texts[ru->ntexts];
	memset(t, 0, sizeof(*t));
	t->neg = neg;
	t->list = -1;
	if (v[0] == '@') {
		if ((t->list = rg_rules_find_list(p->rules, v + 1)) < 0)
			return rg_rules_error(p, "no such list (lists come before the rules using them):",
			    v + 1);
	} else if (v[0] == '\0') {
		return rg_rules_error(p, "an empty phrase", NULL);
	} else if ((t->phrase = strdup(v)) == NULL) {
		return rg_rules_error(p, "out of memory", NULL);
	} else {
		rg_rules_lower(t->phrase);
	}
	ru->ntexts++;
	return 0;
}

/* rg_rules_outcome - "CLASS/REASON" and the flags after it. */
static int
rg_rules_outcome(struct rg_rules_parser *p, struct rg_rule *ru, char tok[][RG_RULES_TOKEN_MAX + 1],
    int i, int n)
{
	char *slash;

	if (i >= n)
		return rg_rules_error(p, "an outcome (class/reason) must follow ->", NULL);
	if ((slash = strchr(tok[i], '/')) == NULL)
		return rg_rules_error(p, "an outcome is class/reason:", tok[i]);
	*slash = '\0';
	if (rg_verdict_class_parse(tok[i], &ru->out.ro_class) < 0)
		return rg_rules_error(p, "not a class:", tok[i]);
	if (rg_verdict_reason_parse(slash + 1, &ru->out.ro_reason) < 0)
		return rg_rules_error(p, "not a reason:", slash + 1);
	for (i++; i < n; i++) {
		if (strcmp(tok[i], "limit") == 0)
			ru->out.ro_flags |= RG_RULES_F_LIMIT;
		else if (strcmp(tok[i], "go_on") == 0)
			ru->out.ro_flags |= RG_RULES_F_GO_ON;
		else
			return rg_rules_error(p, "not a flag (limit, go_on):", tok[i]);
	}
	return 0;
}

/*
 * rg_rules_safe - the one rule no file may break: only a 5xx to RCPT TO
 * makes a mailbox undeliverable, so such a rule must say stage=rcpt and
 * name 5xx codes only.
 */
static int
rg_rules_safe(struct rg_rules_parser *p, const struct rg_rule *ru)
{
	int pos = 0;

	if (ru->out.ro_class != RG_CLASS_UNDELIVERABLE)
		return 0;
	for (int i = 0; i < ru->ncodes; i++) {
		if (ru->codes[i].neg)
			continue;
		pos = 1;
		if (ru->codes[i].lo < 500 || ru->codes[i].hi > 599)
			return rg_rules_error(p, "an undeliverable outcome needs 5xx codes only", NULL);
	}
	if (!pos || ru->stages != (1u << RG_STAGE_RCPT))
		return rg_rules_error(p, "an undeliverable outcome needs stage=rcpt and a 5xx code",
		    NULL);
	return 0;
}

/* rg_rules_rule_line - "rule COND... -> CLASS/REASON [FLAGS]". */
static int
rg_rules_rule_line(struct rg_rules_parser *p, char tok[][RG_RULES_TOKEN_MAX + 1], int n)
{
	struct rg_rules *r = p->rules;
	struct rg_rule *ru;
	int i;

	if (r->r_nrules == r->r_cap) {
		int cap = r->r_cap ? r->r_cap * 2 : 64;
		struct rg_rule *nr = realloc(r->r_rules, (size_t)cap * sizeof(*nr));
		if (nr == NULL)
			return rg_rules_error(p, "out of memory", NULL);
		r->r_rules = nr;
		r->r_cap = cap;
	}
	ru = &r->r_rules[r->r_nrules];
	memset(ru, 0, sizeof(*ru));
	ru->out.ro_line = p->line;
	r->r_nrules++;	/* counted now, so a failed parse frees its phrases */
	for (i = 1; i < n && strcmp(tok[i], "->") != 0; i++) {
		int neg = tok[i][0] == '!';
		char *key = tok[i] + neg, *v = strchr(key, '=');
		int rc;

		if (v == NULL)
			return rg_rules_error(p, "a condition is key=value:", tok[i]);
		*v++ = '\0';
		if (*v == '\0')
			return rg_rules_error(p, "a condition without a value:", key);
		if (strcmp(key, "stage") == 0 && !neg)
			rc = rg_rules_stages(p, ru, v);
		else if (strcmp(key, "code") == 0)
			rc = rg_rules_codes(p, ru, v, neg);
		else if (strcmp(key, "dsn") == 0)
			rc = rg_rules_dsns(p, ru, v, neg);
		else if (strcmp(key, "text") == 0)
			rc = rg_rules_text(p, ru, v, neg);
		else
			rc = rg_rules_error(p, "not a condition (stage, code, dsn, text):", key);
		if (rc < 0)
			return -1;
	}
	if (rg_rules_outcome(p, ru, tok, i + 1, n) < 0)
		return -1;
	return rg_rules_safe(p, ru);
}

struct rg_rules *
rg_rules_parse(const char *text, size_t len, const char *name, char *err, size_t errsize)
{
	struct rg_rules_parser p = { .name = name, .err = err, .errsize = errsize };
	char (*tok)[RG_RULES_TOKEN_MAX + 1];	/* 10 KiB: not for a thread's stack */
	size_t pos = 0;
	int rc = 0;

	p.rules = calloc(1, sizeof(*p.rules));
	tok = malloc(RG_RULES_TOKENS_MAX * sizeof(*tok));
	if (p.rules == NULL || tok == NULL) {
		free(p.rules);
		free(tok);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	while (pos < len && rc == 0) {
		char line[1024];
		size_t end = pos, n;
		int ntok;

		while (end < len && text[end] != '\n')
			end++;
		p.line++;
		n = end - pos;
		if (n >= sizeof(line) || memchr(text + pos, '\0', n) != NULL) {
			rc = rg_rules_error(&p, n >= sizeof(line) ? "a line longer than 1023 bytes" :
			    "a NUL byte", NULL);
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos = end + 1;
		if ((ntok = rg_rules_tokens(&p, line, tok)) < 0) {
			rc = -1;
		} else if (ntok == 0) {
			continue;
		} else if (strcmp(tok[0], "list") == 0) {
			rc = rg_rules_list_line(&p, tok, ntok);
		} else if (strcmp(tok[0], "rule") == 0) {
			rc = rg_rules_rule_line(&p, tok, ntok);
		} else {
			rc = rg_rules_error(&p, "a line is a list or a rule, not", tok[0]);
		}
	}
	free(tok);
	if (rc == 0 && p.rules->r_nrules == 0) {
		snprintf(err, errsize, "%s: no rules", name);
		rc = -1;
	}
	if (rc < 0) {
		rg_rules_free(p.rules);
		return NULL;
	}
	return p.rules;
}

struct rg_rules *
rg_rules_load(const char *path, char *err, size_t errsize)
{
	struct rg_rules *r;
	char *buf;
	size_t len;
	FILE *fp;

	if (path[0] == '\0' || (fp = fopen(path, "r")) == NULL) {
		if (path[0] != '\0' && errno != ENOENT) {
			snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
			return NULL;
		}
		if (path[0] != '\0')
			rg_log_warn("%s: not found, the built-in reply rules apply", path);
		return rg_rules_parse(rg_rules_builtin_text, strlen(rg_rules_builtin_text),
		    "reply_rules (built in)", err, errsize);
	}
	if ((buf = malloc(RG_RULES_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	len = fread(buf, 1, RG_RULES_FILE_MAX + 1, fp);
	fclose(fp);
	if (len > RG_RULES_FILE_MAX) {
		free(buf);
		snprintf(err, errsize, "%s: larger than 1 MiB", path);
		return NULL;
	}
	r = rg_rules_parse(buf, len, path, err, errsize);
	free(buf);
	return r;
}

/* rg_rules_code_ok, rg_rules_dsn_ok - a list matches: one positive item (if any), no negative. */
static int
rg_rules_code_ok(const struct rg_rule *ru, int code)
{
	int pos = 0, hit = 0;

	for (int i = 0; i < ru->ncodes; i++) {
		int in = code >= ru->codes[i].lo && code <= ru->codes[i].hi;
		if (ru->codes[i].neg && in)
			return 0;
		if (!ru->codes[i].neg) {
			pos = 1;
			hit |= in;
		}
	}
	return !pos || hit;
}

static int
rg_rules_dsn_ok(const struct rg_rule *ru, const char *dsn)
{
	int pos = 0, hit = 0;

	for (int i = 0; i < ru->ndsns; i++) {
		const struct rg_rules_dsn *d = &ru->dsns[i];
		int in = d->none ? dsn[0] == '\0' : d->prefix ?
		    strncmp(dsn, d->s, strlen(d->s)) == 0 : strcmp(dsn, d->s) == 0;
		if (d->neg && in)
			return 0;
		if (!d->neg) {
			pos = 1;
			hit |= in;
		}
	}
	return !pos || hit;
}

/*
 * A reply's lowered text with the set of its byte pairs (hashed into 4096
 * bits): a phrase with a pair the text lacks cannot occur in it, which
 * settles most phrases of a rule set without a search.
 */
struct rg_rules_text_idx {
	const char	*x_text;
	size_t		 x_len;
	uint64_t	 x_pairs[64];
};

#define RG_RULES_PAIR(a, b)	((((unsigned)(unsigned char)(a) << 5) ^ (unsigned char)(b)) & 4095u)

/* rg_rules_idx_init - the pairs of text (lower case, len bytes). */
static void
rg_rules_idx_init(struct rg_rules_text_idx *x, const char *text, size_t len)
{
	memset(x->x_pairs, 0, sizeof(x->x_pairs));
	x->x_text = text;
	x->x_len = len;
	for (size_t i = 0; i + 1 < len; i++) {
		unsigned h = RG_RULES_PAIR(text[i], text[i + 1]);
		x->x_pairs[h >> 6] |= 1ull << (h & 63);
	}
}

/* rg_rules_idx_find - phrase (lower case) occurs in the indexed text. */
static int
rg_rules_idx_find(const struct rg_rules_text_idx *x, const char *phrase)
{
	size_t n = strlen(phrase);

	for (size_t i = 0; i + 1 < n; i++) {
		unsigned h = RG_RULES_PAIR(phrase[i], phrase[i + 1]);
		if (!(x->x_pairs[h >> 6] & (1ull << (h & 63))))
			return 0;
	}
	return memmem(x->x_text, x->x_len, phrase, n) != NULL;
}

/* rg_rules_text_ok - the text conditions of ru hold for the indexed text. */
static int
rg_rules_text_ok(const struct rg_rules *r, const struct rg_rule *ru,
    const struct rg_rules_text_idx *x)
{
	for (int i = 0; i < ru->ntexts; i++) {
		const struct rg_rules_text *t = &ru->texts[i];
		int in = 0;

		if (t->list < 0) {
			in = rg_rules_idx_find(x, t->phrase);
		} else {
			const struct rg_rules_list *l = &r->r_lists[t->list];
			for (int k = 0; k < l->n && !in; k++)
				in = rg_rules_idx_find(x, l->phrases[k]);
		}
		if (in == t->neg)
			return 0;
	}
	return 1;
}

int
rg_rules_match(const struct rg_rules *r, enum rg_smtp_stage stage, const struct rg_reply *reply,
    struct rg_rule_outcome *out)
{
	unsigned bit = 1u << (unsigned)stage;
	char lower[RG_REPLY_TEXT_MAX + 1];
	size_t len = strnlen(reply->r_text, RG_REPLY_TEXT_MAX);
	struct rg_rules_text_idx x;

	memcpy(lower, reply->r_text, len);
	lower[len] = '\0';
	rg_rules_lower(lower);
	rg_rules_idx_init(&x, lower, len);
	for (int i = 0; i < r->r_nrules; i++) {
		const struct rg_rule *ru = &r->r_rules[i];

		if ((ru->stages != 0 && !(ru->stages & bit)) || (ru->stages_neg & bit))
			continue;
		if (!rg_rules_code_ok(ru, reply->r_code) || !rg_rules_dsn_ok(ru, reply->r_dsn) ||
		    !rg_rules_text_ok(r, ru, &x))
			continue;
		*out = ru->out;
		return 1;
	}
	return 0;
}

static struct rg_rules *rg_rules_builtin_set;
static pthread_once_t rg_rules_builtin_once = PTHREAD_ONCE_INIT;

/* rg_rules_builtin_init - parse the compiled-in rules once; they are tested, so they parse. */
static void
rg_rules_builtin_init(void)
{
	char err[256];

	rg_rules_builtin_set = rg_rules_parse(rg_rules_builtin_text, strlen(rg_rules_builtin_text),
	    "reply_rules (built in)", err, sizeof(err));
	if (rg_rules_builtin_set == NULL)
		rg_log_fatal("%s", err);
}

const struct rg_rules *
rg_rules_builtin(void)
{
	pthread_once(&rg_rules_builtin_once, rg_rules_builtin_init);
	return rg_rules_builtin_set;
}
