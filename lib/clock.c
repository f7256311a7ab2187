/*
 * clock.c - the system clocks, or a test clock in their place (clock.h).
 */
#include "rg_build.h"

#include <time.h>

#include "rcptguard/clock.h"

static rg_clock_fn rg_clock_hook;
static void *rg_clock_arg;

/* rg_clock_read - milliseconds of a system clock. */
static int64_t
rg_clock_read(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
rg_clock_ms(void)
{
	if (rg_clock_hook != NULL)
		return rg_clock_hook(rg_clock_arg);
	return rg_clock_read(CLOCK_REALTIME);
}

int64_t
rg_clock_now(void)
{
	if (rg_clock_hook != NULL)
		return rg_clock_hook(rg_clock_arg) / 1000;
	return (int64_t)time(NULL);
}

int64_t
rg_clock_mono_ms(void)
{
	if (rg_clock_hook != NULL)
		return rg_clock_hook(rg_clock_arg);
	return rg_clock_read(CLOCK_MONOTONIC);
}

double
rg_clock_stamp(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
rg_clock_set(rg_clock_fn fn, void *arg)
{
	rg_clock_hook = fn;
	rg_clock_arg = arg;
}
