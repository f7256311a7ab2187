/*
 * milter_decide.c - rcptguard-milter's decision for one RCPT, and the texts
 * handed to libmilter, kept apart from the callbacks so that they are
 * tested without libmilter (tests/unit/test_milter_decide.c).
 *
 * SECURITY
 *   The envelope argument is hostile: it is copied bounded, and decided
 *   through rg_address_parse by the engine. The reply text comes from the
 *   policy module's reason table; it is still made printable ASCII with
 *   every '%' doubled, since libmilter drops a text with a lone '%'.
 */
#include "rg_build.h"

#include <stdio.h>
#include <string.h>

#include "milter_decide.h"

void
milter_copy_addr(char *dst, size_t size, const char *arg)
{
	size_t len;

	if (arg == NULL) {
		dst[0] = '\0';
		return;
	}
	if (arg[0] == '<')
		arg++;
	len = strlen(arg);
	if (len > 0 && arg[len - 1] == '>')
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(dst, arg, len);
	dst[len] = '\0';
}

void
milter_reply_text(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 3 < size; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch == '%')
			dst[o++] = '%';
		dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[o] = '\0';
}

void
milter_decide(const struct rg_policy *policy, struct rg_engine_thread *engine, int64_t wait_ms,
    const struct rg_policy_request *req, struct rg_decision *d)
{
	struct rg_answer ans;

	if (rg_policy_pre_lookup(policy, req, engine != NULL, d))
		return;
	/* Unanswered (stopping, out of memory) comes back unknown/in_progress. */
	(void)rg_engine_thread_lookup(engine, req->pr_recipient, req->pr_recipient_len, 0, wait_ms,
	    &ans);
	rg_policy_on_answer(policy, rg_engine_thread_store(engine), req, &ans, d);
}

enum milter_outcome
milter_outcome(const struct rg_decision *d, struct milter_reply *r)
{
	switch (d->d_action) {
	case RG_ACTION_TAG:
		return MILTER_TAG;
	case RG_ACTION_REJECT:
	case RG_ACTION_DEFER:
		snprintf(r->mr_code, sizeof(r->mr_code), "%d", d->d_code);
		snprintf(r->mr_dsn, sizeof(r->mr_dsn), "%s", d->d_dsn);
		milter_reply_text(r->mr_text, sizeof(r->mr_text), d->d_text);
		return d->d_action == RG_ACTION_REJECT ? MILTER_REJECT : MILTER_TEMPFAIL;
	case RG_ACTION_PASS:
	case RG_ACTION_COUNT:
		break;
	}
	return MILTER_CONTINUE;
}
