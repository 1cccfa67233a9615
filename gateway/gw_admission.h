/*
 * Admission: the order of decisions between route match and the upstream (DESIGN.md): the route's
 * rate limits (all must allow; a delayed request waits here), then its concurrency limits in list
 * order (a request waits in the room of the first that is full, holding the slots of those before
 * it), each slot under each of its keys (one per distinct value of a multi-key `per:`, in sorted
 * order, so two requests touching the same keys take them in the same order and cannot deadlock).
 * Admission knows limits only through the limiter interface (gw_limiter.h) and alone applies
 * redis.on_error when a Redis-backed limiter is unavailable: allow, deny (503), or its `local`
 * stand-in; every such decision is counted.
 *
 * Invariants:
 * - a request's admission state (gw_admit_t) is in exactly one gw_admit_state_t; gw_admit_release
 *   lets go of everything it holds or waits for, once, whatever the state, and may be called any
 *   number of times.
 * - answers that cannot be given at once come through the callback given to gw_admit_begin, from
 *   the event loop, never from within a call made to this module.
 */
#ifndef SLUICE_GW_ADMISSION_H
#define SLUICE_GW_ADMISSION_H

#include "cfg_config.h"
#include "gw_clock.h"
#include "gw_keys.h"
#include "gw_limiter.h"
#include "gw_metrics.h"
#include "gw_timer.h"

typedef struct st_gw_rlimits_t gw_rlimits_t;

/* What the limits of one loop are made with. */
typedef struct st_gw_adm_env_t {
    h2o_loop_t *loop;
    h2o_timeout_t *zero; /* 0 ms: wake-ups */
    gw_timer_wheel_t *wheel;
    gw_rlimits_t *rlimits;   /* global limits' Redis side */
    h2o_linklist_t registry; /* every live limiter (gw_limiter_t.registry): reloads find them here */
    gw_rng_t *rng;
    gw_redis_metrics_t *redis_metrics; /* on_error decisions are counted here */
} gw_adm_env_t;

/* The limits of one route of one generation. */
typedef struct st_gw_admission_t gw_admission_t;

/* The limits of `route`: its rate limits and concurrency limits as the given limiters, in the
 * route's order (one reference to each is taken over). gw_lim_registry makes them. */
gw_admission_t *gw_admission_new(gw_adm_env_t *env, const cfg_route_t *route, cfg_redis_on_error_t on_error, gw_limiter_t **rates,
                                 gw_limiter_t **concs);
void gw_admission_free(gw_admission_t *adm);

typedef enum {
    GW_ADMIT_PASS,          /* go upstream */
    GW_ADMIT_RATE_LIMITED,  /* 429 */
    GW_ADMIT_QUEUE_FULL,    /* 503: no place in a room, or pushed out of it */
    GW_ADMIT_QUEUE_TIMEOUT, /* 503: waited a limit's queue.timeout */
    GW_ADMIT_REDIS_DENIED   /* 503: on_error deny while Redis is unavailable */
} gw_admit_outcome_t;

typedef struct st_gw_admit_result_t {
    gw_admit_outcome_t outcome;
    int delayed;             /* a rate limit made it wait (on_exceed: delay) */
    uint64_t retry_after_ns; /* refusals */
    /* the rate limit that refused, for the RateLimit headers */
    const cfg_rate_limit_t *rate;
    uint32_t remaining;
} gw_admit_result_t;

typedef enum {
    GW_ADMIT_STATE_IDLE,
    GW_ADMIT_STATE_RATES,   /* a rate limit is asking Redis, or a delay runs */
    GW_ADMIT_STATE_SLOTS,   /* a concurrency limit: asking Redis, or waiting in its room */
    GW_ADMIT_STATE_HOLDING, /* admitted: holds its slots */
    GW_ADMIT_STATE_DONE     /* refused, or released */
} gw_admit_state_t;

typedef struct st_gw_admit_t gw_admit_t;
typedef void (*gw_admit_cb)(gw_admit_t *a, const gw_admit_result_t *res, void *data);

/* One request's admission; lives as long as the request's state (it holds its slots). */
struct st_gw_admit_t {
    gw_admission_t *adm;
    gw_admit_state_t state;
    gw_admit_cb cb;
    void *data;
    const gw_keysrc_t *keys;
    uint8_t level;
    uint64_t deadline_ns;
    gw_route_metrics_t *metrics;
    size_t next_rate;
    gw_keyval_t *rate_keys;   /* each rate limit's key */
    gw_keyval_t *fair_keys;   /* each rate limit's `fair:` key */
    gw_hold_t rate_hold;      /* the rate limit asking Redis */
    gw_limiter_t *rate_local; /* on_error local: the limit's stand-in answers for it */
    gw_timer_t delay;
    uint64_t delay_started_ns; /* first wait for the current rate limit */
    int delayed;
    gw_hold_t *holds; /* one per slot to take, in order */
    size_t num_holds, next_hold;
    size_t *hold_limit; /* each hold's concurrency limit */
    h2o_timeout_entry_t queue_timer;
    uint64_t wait_started_ns;
    unsigned waiting : 1;
};

/* Begins admission of a request whose keys are read from `keys` (valid until it is released),
 * at priority `level`, with delays bounded by deadline_ns. Returns 1 (admitted now), 0 (the
 * answer comes later through cb), or -1 (refused now: *res says why). Memory for the holds and
 * the keys comes from keys->alloc, which must live as long as `a`. */
int gw_admit_begin(gw_admit_t *a, gw_admission_t *adm, const gw_keysrc_t *keys, uint8_t level, uint64_t deadline_ns,
                   gw_route_metrics_t *metrics, gw_admit_cb cb, void *data, gw_admit_result_t *res);

/* Lets go of what the request holds or waits for. `sample` (may be NULL) tells adaptive limits
 * how the work went. Idempotent. */
void gw_admit_release(gw_admit_t *a, const gw_sample_t *sample);

/* The longest concurrency[].hold_aborted of the route's limits (0: none holds). When a request
 * is aborted, gw_admit_release_unheld lets go of the slots of the limits that do not hold, and
 * of everything when the request was not admitted. */
uint64_t gw_admission_hold_ms(const gw_admission_t *adm);
void gw_admit_release_unheld(gw_admit_t *a);

/* Live state of the route's limits appended to b as `"concurrency":[...],"rate_limits":[...]`. */
void gw_admission_describe(gw_admission_t *adm, gw_textbuf_t *b, uint64_t now_ns);

/* Names, for metrics and /limits: how many concurrency limits, and the current limit of each. */
size_t gw_admission_num_concurrency(const gw_admission_t *adm);
const char *gw_admission_concurrency_name(const gw_admission_t *adm, size_t i);
uint32_t gw_admission_concurrency_limit(const gw_admission_t *adm, size_t i);

#endif
