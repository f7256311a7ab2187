/*
 * cmd_check.c - `rcptguard check ADDRESS...`: verify addresses now.
 *
 * Every address goes to the engine at once (the prober batches those of
 * one domain into one session); the loop runs until each has an answer or
 * --wait has passed. Output keeps the order of the arguments. A stale
 * verdict answers at once and the engine refreshes it in the background;
 * check then waits (within --wait) for the refresh to land in the cache,
 * and says so on standard error when it did not.
 */
#include "rg_build.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "cli.h"
#include "jsonw.h"
#include "rcptguard/clock.h"
#include "rcptguard/engine.h"
#include "rcptguard/log.h"
#include "rcptguard/util.h"

struct cli_check_item {
	const char		*input;
	int			 done;
	struct rg_answer	 ans;
};

struct cli_check {
	struct event_base	*base;
	struct rg_engine	*eng;
	int64_t			 deadline_ms;	/* monotonic: the end of --wait */
	struct cli_check_item	*items;
	int			 nitems;
	int			 ndone;
};

struct cli_check_ref {
	struct cli_check	*chk;
	int			 index;
};

static void
cli_check_on_answer(const struct rg_answer *ans, void *arg)
{
	struct cli_check_ref *ref = arg;
	struct cli_check *chk = ref->chk;
	struct cli_check_item *it = &chk->items[ref->index];

	if (it->done)
		return;
	it->done = 1;
	it->ans = *ans;
	if (++chk->ndone == chk->nitems)
		event_base_loopbreak(chk->base);
}

/* cli_check_on_tick - waiting for background refreshes: stop when none runs or --wait is over. */
static void
cli_check_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cli_check *chk = arg;

	(void)fd;
	(void)what;
	if (!rg_engine_busy(chk->eng) || rg_clock_mono_ms() >= chk->deadline_ms)
		event_base_loopbreak(chk->base);
}

/*
 * cli_check_refreshes - answers that were stale start a refresh: let it
 * finish within --wait, so that the cache holds the new verdict. 0 when
 * nothing is left running.
 */
static int
cli_check_refreshes(struct cli_check *chk)
{
	struct timeval tick = { 0, 50000 };
	struct event *ev;
	int stale = 0;

	for (int i = 0; i < chk->nitems; i++)
		stale |= chk->items[i].done && chk->items[i].ans.an_state == RG_STATE_STALE;
	if (!stale || !rg_engine_busy(chk->eng))
		return 0;
	if ((ev = event_new(chk->base, -1, EV_PERSIST, cli_check_on_tick, chk)) == NULL)
		return 1;
	event_add(ev, &tick);
	event_base_dispatch(chk->base);
	event_free(ev);
	return rg_engine_busy(chk->eng);
}

static void
cli_check_print(struct cli_ctx *ctx, const struct cli_check_item *it)
{
	const struct rg_answer *a = &it->ans;
	const struct rg_verdict *v = &a->an_verdict;

	if (ctx->json) {
		struct cli_jw w;

		cli_jw_open(&w);
		cli_jw_answer(&w, it->input, a, rg_engine_source_name(a->an_source));
		cli_jw_print(&w, stdout);
		return;
	}
	cli_print_verdict(ctx, stdout, a->an_address, v, a->an_state);
}

int
cli_cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "wait", required_argument, NULL, 'w' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_check chk = { 0 };
	struct cli_check_ref *refs;
	struct rg_engine *eng;
	char err[1200];
	int64_t wait_ms = 30000;
	unsigned flags = 0;
	int ch, rc = CLI_EXIT_OK, any_undeliverable = 0, any_other = 0;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		case 'w': {
			int64_t secs;
			if (rg_parse_duration(optarg, &secs) < 0 || secs > 86400) {
				cli_error("--wait: \"%s\" is not a duration (like 10s or 2m)", optarg);
				return CLI_EXIT_USAGE;
			}
			wait_ms = secs * 1000;
			break;
		}
		case 'n':
			flags |= RG_LOOKUP_NO_CACHE;
			break;
		default:
			cli_error("usage: check [--json] [--wait DURATION] [--no-cache] ADDRESS...");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_error("usage: check [--json] [--wait DURATION] [--no-cache] ADDRESS...");
		return CLI_EXIT_USAGE;
	}
	chk.nitems = argc - optind;
	chk.items = calloc((size_t)chk.nitems, sizeof(*chk.items));
	refs = calloc((size_t)chk.nitems, sizeof(*refs));
	if ((chk.base = event_base_new()) == NULL || chk.items == NULL || refs == NULL) {
		cli_error("out of memory");
		free(chk.items);
		free(refs);
		if (chk.base)
			event_base_free(chk.base);
		return CLI_EXIT_CACHE;
	}
	if ((eng = rg_engine_new(chk.base, &ctx->cfg, err, sizeof(err))) == NULL) {
		cli_error("%s", err);
		event_base_free(chk.base);
		free(chk.items);
		free(refs);
		return CLI_EXIT_CONFIG;
	}
	chk.eng = eng;
	rg_engine_wait_shared(eng);
	chk.deadline_ms = rg_clock_mono_ms() + wait_ms;
	for (int i = 0; i < chk.nitems; i++) {
		const char *in = argv[optind + i];
		chk.items[i].input = in;
		refs[i].chk = &chk;
		refs[i].index = i;
		if (rg_engine_lookup(eng, in, strlen(in), flags, wait_ms, cli_check_on_answer,
		    &refs[i]) < 0) {
			cli_error("out of memory");
			rc = CLI_EXIT_CACHE;
			break;
		}
	}
	if (rc == CLI_EXIT_OK && chk.ndone < chk.nitems)
		event_base_dispatch(chk.base);
	if (rc == CLI_EXIT_OK && cli_check_refreshes(&chk))
		cli_error("stale verdicts were answered from the cache; their refresh did not "
		    "finish within --wait");
	for (int i = 0; i < chk.nitems && rc == CLI_EXIT_OK; i++) {
		if (!chk.items[i].done)
			continue;
		cli_check_print(ctx, &chk.items[i]);
		if (chk.items[i].ans.an_verdict.v_class == RG_CLASS_UNDELIVERABLE)
			any_undeliverable = 1;
		else if (chk.items[i].ans.an_verdict.v_class != RG_CLASS_DELIVERABLE)
			any_other = 1;
	}
	rg_engine_free(eng);
	event_base_free(chk.base);
	free(chk.items);
	free(refs);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (any_undeliverable)
		return CLI_EXIT_UNDELIVERABLE;
	return any_other ? CLI_EXIT_UNSURE : CLI_EXIT_OK;
}
