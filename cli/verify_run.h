/*
 * verify_run.h - one run of `rcptguard verify`: the window of rows between
 * the reader and the writers, and the scheduler that hands them to the
 * engine (verify_run.c). cmd_verify.c sets the run up (options, files,
 * journal, signals) and reports it.
 */
#ifndef RG_CLI_VERIFY_RUN_H
#define RG_CLI_VERIFY_RUN_H

#include <stdint.h>
#include <stdio.h>

#include <event2/event.h>

#include "rcptguard/config.h"
#include "rcptguard/engine.h"
#include "verify.h"

#define CLI_VWIN_SLOTS		16384		/* rows between reading and writing */
#define CLI_VWIN_BYTES		(16u << 20)	/* their bytes */

struct cli_vslot;
struct cli_vdom;
struct cli_htab;

/* How a run ends (cli_vrun_go). */
enum cli_vend { CLI_VEND_DONE, CLI_VEND_INTERRUPTED, CLI_VEND_FAILED };

struct cli_vrun {
	/* Set up by the caller. */
	struct event_base	*base;
	const struct rg_config	*cfg;
	struct cli_vin		*in;
	int64_t			 in_size;	/* bytes of a regular input file, else -1 */
	enum cli_vfmt		 fmt;
	FILE			*out;
	FILE			*split[RG_CLASS_COUNT];	/* NULL without --split */
	int			 hdr_n;		/* columns of the header, 0 without */
	int64_t			 wait_ms;	/* --wait: one address's budget */
	int64_t			 max_age;	/* --max-age seconds, 0 = none */
	int64_t			 deadline_ms;	/* monotonic end of --deadline, 0 = none */
	struct cli_vjournal	 j;		/* position and counters of written rows */
	struct cli_htab		*throttled;	/* domain names (journal and summary) */
	struct cli_htab		*greylisted;
	struct cli_vprog	 prog;
	FILE			*prog_fp;

	/* Kept by the run. */
	struct rg_engine	*eng;
	struct cli_vslot	*ring;
	uint64_t		 head, tail;	/* sequence numbers: next to write, next to read */
	size_t			 win_bytes;
	struct cli_htab		*keys;		/* normalized address -> its first row in the window */
	struct cli_htab		*doms;		/* domain -> struct cli_vdom */
	struct cli_vdom		*rr;		/* domains with rows to probe, round-robin */
	struct cli_vdom		*reap;		/* domains that may be idle now */
	int			 ndoms_rr;
	int			 held;		/* domains held back by limits, last pass */
	uint64_t		 inflight;
	uint64_t		 read_rows;	/* rows read in this part */
	uint64_t		 probes_base;	/* probes of engines already freed */
	int			 eof;
	int			 deadline_hit;
	int			 stopping;	/* SIGINT or SIGTERM: no new probes */
	int64_t			 grace_end_ms;
	int			 ignore;	/* answers after the end are dropped */
	int			 failed;
	char			 err[1200];
	int64_t			 part_start_ms;
	int64_t			 elapsed_start;	/* of the parts before this one */
	uint64_t		 probes_start;
	int64_t			 last_ckpt_ms;
	unsigned		 addr_opts;
	struct event		*pump;
	int			 kicked;	/* the pump is active */
	struct event		*tick;
};

/* cli_vrun_go - run until the input is written, the run is stopped or fails. */
enum cli_vend cli_vrun_go(struct cli_vrun *run);
/* cli_vrun_stop - a first SIGINT or SIGTERM: let probes in flight finish, then end. */
void cli_vrun_stop(struct cli_vrun *run);
/* cli_vrun_checkpoint - flush and sync the outputs, then save the journal. 0 or -1. */
int cli_vrun_checkpoint(struct cli_vrun *run);
/* cli_vrun_probes - probes made in this part. */
uint64_t cli_vrun_probes(const struct cli_vrun *run);
/* cli_vrun_free - the engine (answers still due are dropped) and the window. */
void cli_vrun_free(struct cli_vrun *run);

#endif /* RG_CLI_VERIFY_RUN_H */
