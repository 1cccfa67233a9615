/*
 * Circuit breaker: stops feeding an upstream that keeps failing. Pure: time is passed in.
 *
 * CLOSED: requests pass; each outcome is recorded. `failures` consecutive failures open it, and
 * so does, with `failure_rate`, a share of failures over the last `window` reaching the rate once
 * `min_requests` outcomes were seen in it (measured over two half-windows: the current one and the
 * previous, so the share looks back between one half and one whole window).
 * OPEN: every request is refused until `open_for` has passed since it opened.
 * HALF_OPEN: up to `half_open` trial requests pass at once; as many successes close it, one
 * failure opens it again. A trial that never reached the upstream (refused by a limit, client
 * gone) gives its place back.
 *
 * Outcomes of requests let through before it opened (or in an earlier half-open round) do not
 * count once it has opened: they say nothing about the upstream since. A zeroed breaker is CLOSED
 * with nothing counted.
 */
#ifndef SLUICE_POL_BREAKER_H
#define SLUICE_POL_BREAKER_H

#include <stdint.h>

typedef enum { POL_BREAKER_CLOSED, POL_BREAKER_OPEN, POL_BREAKER_HALF_OPEN } pol_breaker_state_t;

typedef struct st_pol_breaker_params_t {
    uint32_t failures;     /* consecutive failures that open it, >= 1 */
    uint64_t open_for_ns;  /* > 0 */
    uint32_t half_open;    /* trial requests, >= 1 */
    uint32_t failure_rate; /* percent 1..100; 0: only `failures` opens it */
    uint64_t window_ns;    /* with failure_rate, > 0 */
    uint32_t min_requests; /* with failure_rate, >= 1 */
} pol_breaker_params_t;

typedef struct st_pol_breaker_t {
    pol_breaker_state_t state;
    uint32_t consecutive; /* CLOSED: failures in a row */
    uint32_t trials;      /* HALF_OPEN: trial requests let through and not finished */
    uint32_t successes;   /* HALF_OPEN: trial successes */
    uint32_t round;       /* which open/half-open round a request's outcome belongs to */
    uint32_t reserved;
    uint64_t opened_ns;     /* OPEN: when */
    uint64_t half_start_ns; /* start of the current half-window */
    uint32_t cur_total, cur_failed, prev_total, prev_failed;
} pol_breaker_t;

/* What a request was let through as: its ticket for pol_breaker_record / _abandon. */
typedef struct st_pol_breaker_ticket_t {
    uint32_t round;
    uint8_t trial; /* 1: a HALF_OPEN trial */
} pol_breaker_ticket_t;

/* Whether a request may go to the upstream now: 1 (and *ticket filled, *retry_after_ns 0) or 0,
 * with *retry_after_ns until it may be asked again (> 0). */
int pol_breaker_allow(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns, pol_breaker_ticket_t *ticket,
                      uint64_t *retry_after_ns);

/* The outcome of a request let through with `ticket`. Returns 1 when this outcome opened the
 * breaker (the caller logs it), else 0. */
int pol_breaker_record(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns, pol_breaker_ticket_t ticket, int failed);

/* A request let through that never reached the upstream: a trial gives its place back. */
void pol_breaker_abandon(pol_breaker_t *b, pol_breaker_ticket_t ticket);

/* The state now (OPEN turns HALF_OPEN once open_for has passed, as pol_breaker_allow would see). */
pol_breaker_state_t pol_breaker_state(const pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns);

/* 1 when forgetting it loses nothing: CLOSED, no failure in a row, no trial out, and nothing in
 * the rate window that could still count. */
int pol_breaker_at_rest(const pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns);

#endif
