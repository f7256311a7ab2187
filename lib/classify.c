/*
 * classify.c - what an SMTP reply says: the reply rules (rules.h, the data
 * of conf/reply_rules) applied, and the reading of retry delays.
 *
 * The rules are data; this file adds what the data cannot change: a reply
 * code outside 200..599 is a protocol error, and a reply no rule matches
 * is unknown/protocol_error. The rule loader refuses a rule that would
 * make anything but a 5xx to RCPT TO undeliverable.
 */
#include "rg_build.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rcptguard/classify.h"
#include "rcptguard/rules.h"

/* rg_classify_word_before - the word that ends just before p ("in" for "in 60"). */
static int
rg_classify_word_before(const char *text, const char *p, const char *word)
{
	size_t n = strlen(word);
	const char *e = p, *w;

	while (e > text && e[-1] == ' ')
		e--;
	if ((size_t)(e - text) < n)
		return 0;
	w = e - n;
	if (strncasecmp(w, word, n) != 0)
		return 0;
	return w == text || !isalpha((unsigned char)w[-1]);
}

/* rg_classify_num - a decimal number, capped far above a day's seconds so that sums never overflow. */
static long
rg_classify_num(const char *s, char **end)
{
	long n = strtol(s, end, 10);

	return n < 0 ? 0 : n > 1000000 ? 1000000 : n;
}

int64_t
rg_classify_retry_hint(const char *text)
{
	static const struct { const char *unit; int64_t secs; } units[] = {
		{ "seconds", 1 }, { "second", 1 }, { "secs", 1 }, { "sec", 1 }, { "s", 1 },
		{ "minutes", 60 }, { "minute", 60 }, { "mins", 60 }, { "min", 60 }, { "m", 60 },
		{ "hours", 3600 }, { "hour", 3600 }, { "h", 3600 },
	};

	for (const char *p = text; *p != '\0'; p++) {
		char *end;
		long n;

		if (!isdigit((unsigned char)*p) || (p > text && !isspace((unsigned char)p[-1])))
			continue;
		if (!rg_classify_word_before(text, p, "in") &&
		    !rg_classify_word_before(text, p, "after") &&
		    !rg_classify_word_before(text, p, "wait") &&
		    !rg_classify_word_before(text, p, "for"))
			continue;
		n = rg_classify_num(p, &end);
		if (*end == ':') {
			/* milter-greylist: "please come back in 00:05:00" (or MM:SS). */
			long m = 0, sec = 0;
			char *e2;
			m = rg_classify_num(end + 1, &e2);
			if (e2 == end + 1)
				continue;
			if (*e2 == ':' && isdigit((unsigned char)e2[1])) {
				sec = rg_classify_num(e2 + 1, &e2);
				n = n * 3600 + m * 60 + sec;
			} else {
				n = n * 60 + m;
			}
			if (isalnum((unsigned char)*e2) || *e2 == ':')
				continue;
			return n <= 0 ? 0 : n > 86400 ? 86400 : n;
		}
		while (*end == ' ')
			end++;
		for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t ul = strlen(units[u].unit);
			if (strncasecmp(end, units[u].unit, ul) == 0 && !isalnum((unsigned char)end[ul]))
				return n <= 0 ? 0 : n * units[u].secs > 86400 ? 86400 :
				    n * units[u].secs;
		}
	}
	return 0;
}

int
rg_classify_retryable(enum rg_class c, enum rg_reason r)
{
	return c == RG_CLASS_UNKNOWN && (r == RG_REASON_GREYLISTED || r == RG_REASON_THROTTLED ||
	    r == RG_REASON_TEMP_FAILURE || r == RG_REASON_IN_PROGRESS);
}


void
rg_classify_reply_with(const struct rg_rules *rules, enum rg_smtp_stage stage,
    const struct rg_reply *r, struct rg_classification *out)
{
	struct rg_rule_outcome ro;

	memset(out, 0, sizeof(*out));
	out->c_final = 1;
	out->c_class = RG_CLASS_UNKNOWN;
	out->c_reason = RG_REASON_PROTOCOL_ERROR;
	if (r->r_code < 200 || r->r_code > 599)
		return;
	if (rules == NULL)
		rules = rg_rules_builtin();
	if (!rg_rules_match(rules, stage, r, &ro))
		return;
	out->c_class = ro.ro_class;
	out->c_reason = ro.ro_reason;
	out->c_final = !(ro.ro_flags & RG_RULES_F_GO_ON);
	out->c_rcpt_limit = (ro.ro_flags & RG_RULES_F_LIMIT) != 0;
}

void
rg_classify_reply(enum rg_smtp_stage stage, const struct rg_reply *r,
    struct rg_classification *out)
{
	rg_classify_reply_with(NULL, stage, r, out);
}
