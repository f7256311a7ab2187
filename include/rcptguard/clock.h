/*
 * clock.h - the one clock of the program, in milliseconds.
 *
 * Everything that compares against "now" asks this module, so a test can
 * move time everywhere at once without sleeping: record expiries, token
 * buckets, sync intervals and connection deadlines. Wall-clock time goes
 * into records shared by processes and kept across restarts; monotonic
 * time measures intervals inside one process. A test clock drives both.
 */
#ifndef RG_CLOCK_H
#define RG_CLOCK_H

#include <stdint.h>

/* A test clock: wall-clock milliseconds since the epoch. */
typedef int64_t (*rg_clock_fn)(void *arg);

/* rg_clock_ms - wall-clock milliseconds since the epoch. */
int64_t rg_clock_ms(void);
/* rg_clock_now - wall-clock seconds since the epoch (rg_clock_ms() / 1000). */
int64_t rg_clock_now(void);
/* rg_clock_mono_ms - monotonic milliseconds, for intervals and deadlines. */
int64_t rg_clock_mono_ms(void);
/*
 * rg_clock_stamp - monotonic seconds with nanosecond precision, for the
 * latencies the metrics measure; the test clock does not drive it.
 */
double rg_clock_stamp(void);
/* rg_clock_set - drive every clock from fn; NULL returns to the system clocks. */
void rg_clock_set(rg_clock_fn fn, void *arg);

#endif /* RG_CLOCK_H */
