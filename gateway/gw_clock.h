/*
 * Time and randomness for the gateway: the monotonic clock every policy decision is made on, and
 * a fast random generator for request ids and hash seeds. Small on purpose: everything else
 * receives `now` from here rather than reading a clock itself.
 */
#ifndef SLUICE_GW_CLOCK_H
#define SLUICE_GW_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (vDSO clock; no system call). */
uint64_t gw_now_ns(void);

/* xorshift128+: fast, not for secrets. */
typedef struct st_gw_rng_t {
    uint64_t state[2];
} gw_rng_t;

/* Seeds from getrandom (or, failing that, the time and pid). */
void gw_rng_seed(gw_rng_t *rng);
/* The next 64 random bits. */
uint64_t gw_rng_next(gw_rng_t *rng);

#endif
