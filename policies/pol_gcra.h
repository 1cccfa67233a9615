/*
 * GCRA rate limiter (the "virtual scheduling" form of the generic cell rate algorithm).
 *
 * A bucket is one number, its theoretical arrival time (TAT): the instant at which it would be
 * full again. With emission interval T = period / count and capacity `burst`, a take at `now`
 * conforms when max(TAT, now) - now <= tolerance = (burst - 1) * T, and moves TAT to
 * max(TAT, now) + T. A rested bucket admits exactly `burst` at once, then one per T; over any
 * interval t it admits at most burst + t / T.
 *
 * Invariants and precision:
 * - bucket times are in units of 2^-shift ns (shift = 0 when T is a whole number of ns, else 4):
 *   a token costs floor(period * 2^shift / count) units, so the rounding error is under
 *   1/16 ns per token, a relative error below 1 / (16 * T_ns): 6e-5 at 1M/s, 1e-10 at 100/s,
 *   and zero for rates that divide their period exactly. There is no accumulated drift beyond
 *   that per-token bound.
 * - tolerance is exactly (burst - 1) tokens, so the burst boundary is exact whatever T is.
 * - a REJECT never changes the bucket; ADMIT and WAIT add exactly one T.
 * - now_ns must be below 2^60 (36 years of CLOCK_MONOTONIC) so that now << shift fits.
 */
#ifndef SLUICE_POL_GCRA_H
#define SLUICE_POL_GCRA_H

#include <stdint.h>
#include "pol_types.h"

typedef struct st_pol_gcra_params_t {
    uint64_t count;     /* tokens per period, as configured */
    uint64_t period_ns; /* as configured */
    uint32_t burst;     /* capacity, >= 1 */
    uint32_t shift;     /* bucket time unit is 2^-shift ns */
    uint64_t interval;  /* T, in units */
    uint64_t tolerance; /* (burst - 1) * T, in units */
} pol_gcra_params_t;

typedef struct st_pol_gcra_t {
    uint64_t tat; /* theoretical arrival time in units of its params; 0 (or any past time) = at rest */
} pol_gcra_t;

typedef struct st_pol_gcra_result_t {
    uint64_t wait_ns;        /* POL_WAIT: the reserved token is due at now + wait_ns; else 0 */
    uint64_t retry_after_ns; /* POL_REJECT: earliest time from now at which a take is admitted; else 0 */
    uint32_t limit;          /* = burst */
    uint32_t remaining;      /* takes that would still be admitted at now, after this decision */
    uint64_t reset_ns;       /* time from now until the bucket is full again */
} pol_gcra_result_t;

/* Fills `p` (owned by the caller, shared by every bucket of one limit) for `count` tokens per
 * `period_ns` with capacity `burst`. Expects count >= 1, period_ns >= 1, burst >= 1 (zeros are
 * taken as 1) and burst * period / count below 2^58 ns (about 9 years). */
void pol_gcra_params_init(pol_gcra_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst);

/* Takes one token from `s` at now_ns.
 * - POL_ADMIT: taken now.
 * - POL_WAIT (only when max_wait_ns > 0): a token is reserved for now + out->wait_ns, with
 *   0 < wait_ns <= max_wait_ns; the bucket already counts it, the caller sleeps then proceeds
 *   (a caller that gives up instead does not get the token back).
 * - POL_REJECT: the bucket is unchanged; out->retry_after_ns is exact.
 * `out` may be NULL (then no header values are computed). */
pol_decision_t pol_gcra_take(pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, uint64_t max_wait_ns,
                             pol_gcra_result_t *out);

/* What a take without waiting would decide at now_ns (POL_ADMIT or POL_REJECT), without taking:
 * out->remaining counts the tokens available now, out->retry_after_ns is 0 when a take would be
 * admitted. `out` may be NULL. */
pol_decision_t pol_gcra_peek(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, pol_gcra_result_t *out);

/* Tokens available at now_ns without taking any (0 .. burst). */
uint32_t pol_gcra_remaining(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns);

/* 1 when the bucket is full at now_ns (forgetting it loses nothing), else 0. */
int pol_gcra_at_rest(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns);

#endif
