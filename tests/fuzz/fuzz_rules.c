/*
 * fuzz_rules.c - libFuzzer target for the reply-rule parser: the input is a
 * rule file. Invariants: a rejected file gives an error that names the file
 * and is printable; an accepted one matches replies of every stage with a
 * valid class and reason, never undeliverable for anything but a 5xx to
 * RCPT TO; nothing leaks (LeakSanitizer) and nothing crashes.
 */
#include "rg_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rcptguard/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { int code; const char *text; } replies[] = {
		{ 250, "2.1.5 Ok" }, { 550, "5.1.1 User unknown" }, { 452, "4.5.3 Too many recipients" },
		{ 421, "4.7.0 try again in 60 seconds" }, { 554, "5.7.1 blocked using zen.spamhaus.org" },
		{ 451, "4.7.1 Greylisted" }, { 530, "5.7.0 Must issue a STARTTLS command first" },
	};
	struct rg_rules *r;
	char err[512];

	r = rg_rules_parse((const char *)data, size, "fuzz", err, sizeof(err));
	if (r == NULL) {
		if (strncmp(err, "fuzz", 4) != 0)
			abort();
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				abort();
		return 0;
	}
	for (int stage = RG_STAGE_GREETING; stage <= RG_STAGE_RCPT; stage++)
		for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
			struct rg_reply rep;
			struct rg_rule_outcome o;
			rg_reply_set(&rep, replies[i].code, replies[i].text, strlen(replies[i].text));
			if (!rg_rules_match(r, (enum rg_smtp_stage)stage, &rep, &o))
				continue;
			if ((unsigned)o.ro_class >= RG_CLASS_COUNT || (unsigned)o.ro_reason >= RG_REASON_COUNT)
				abort();
			if (o.ro_class == RG_CLASS_UNDELIVERABLE &&
			    (stage != RG_STAGE_RCPT || replies[i].code / 100 != 5))
				abort();
		}
	rg_rules_free(r);
	return 0;
}
