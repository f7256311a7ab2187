/*
 * limits_impl.h - what the files of the limits module share: limits.c
 * (leases, slots, buckets, marks, cooldowns) and limits_retry.c (durable
 * re-probes). Nothing outside the module includes it.
 */
#ifndef RG_LIMITS_IMPL_H
#define RG_LIMITS_IMPL_H

#include "rcptguard/limits.h"

/* rg_limit_result - a write body's outcome as a status; a failure's cause to *cache_err. */
enum rg_limit_status rg_limit_result(int rc, enum rg_limit_status decided, int *cache_err);

#endif /* RG_LIMITS_IMPL_H */
