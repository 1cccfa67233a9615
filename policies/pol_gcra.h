/*
 * GCRA rate limiter (the "virtual scheduling" form of the generic cell rate algorithm).
 *
 * A bucket is one number, its theoretical arrival time (TAT): the instant at which it would be
 * full again. With emission interval T = period / count and capacity `burst`, a request at
 * `now` conforms when TAT - now <= (burst - 1) * T; taking a token moves TAT to
 * max(TAT, now) + T. Over any interval t a bucket admits at most burst + t / T requests, and a
 * rested bucket admits exactly `burst` at once.
 *
 * Times are nanoseconds. A token costs period_ns / count rounded down to the nanosecond: at
 * worst 1 ns of credit per token, a relative error under 1e-6 for any rate up to 1000/ms.
 */
#ifndef SLUICE_POL_GCRA_H
#define SLUICE_POL_GCRA_H

#include <stdint.h>
#include "pol_types.h"

typedef struct st_pol_gcra_params_t {
    uint64_t count; /* tokens per period */
    uint64_t period_ns;
    uint32_t burst;        /* capacity, >= 1 */
    uint64_t interval_ns;  /* T, rounded down; only for display */
    uint64_t tolerance_ns; /* (burst - 1) * T */
} pol_gcra_params_t;

typedef struct st_pol_gcra_t {
    uint64_t tat_ns; /* 0 = never used (at rest) */
} pol_gcra_t;

typedef struct st_pol_gcra_result_t {
    uint64_t wait_ns;        /* POL_WAIT: how long until the reserved token is due */
    uint64_t retry_after_ns; /* POL_REJECT: earliest time from now at which a take would be admitted */
    uint32_t limit;          /* = burst */
    uint32_t remaining;      /* tokens left right after this decision */
    uint64_t reset_ns;       /* time until the bucket is full again */
} pol_gcra_result_t;

/* count >= 1, period_ns >= 1, burst >= 1. */
void pol_gcra_params_init(pol_gcra_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst);

/* Takes one token at now_ns. POL_ADMIT: taken. POL_WAIT (only when max_wait_ns > 0): a token
 * is reserved for now + out->wait_ns (<= max_wait_ns) and the bucket already counts it.
 * POL_REJECT: the bucket is unchanged. `out` may be NULL. */
pol_decision_t pol_gcra_take(pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, uint64_t max_wait_ns,
                             pol_gcra_result_t *out);

/* Tokens available at now_ns without taking any. */
uint32_t pol_gcra_remaining(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns);

/* 1 when the bucket is full at now_ns: forgetting it loses nothing. */
int pol_gcra_at_rest(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns);

#endif
