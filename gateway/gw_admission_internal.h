/*
 * What gw_admission.c (local limits, the order of decisions) and gw_global.c (the same limits
 * held in Redis) share. Not for other modules.
 */
#ifndef SLUICE_GW_ADMISSION_INTERNAL_H
#define SLUICE_GW_ADMISSION_INTERNAL_H

#include "gw_request.h"
#include "gw_timer.h"
#include "pol_gcra.h"
#include "pol_global.h"
#include "pol_keyed.h"
#include "pol_sema.h"

typedef struct st_gw_rate_rt_t gw_rate_rt_t;

/* Where a global limit's state lives: state is shared across a reload only when this is equal. */
typedef struct st_gw_global_setup_t {
    char *key_base; /* "PREFIX{route:limit:" */
    char *address;  /* redis.address as written */
    uint32_t database;
    uint32_t instances;
} gw_global_setup_t;
typedef struct st_gw_conc_rt_t gw_conc_rt_t;

/* This instance's share of one key of a global rate limit (a pol_keyed value: zeroed = rested). */
typedef struct st_gw_rate_lease_t {
    pol_lease_t lease;
    h2o_linklist_t waiters; /* gw_req_admission_t.lease_link: waiting for the lease request in flight */
    gw_rate_rt_t *rate;     /* set while a lease request is in flight (it holds a reference) */
} gw_rate_lease_t;

/* One key of a global concurrency limit on this instance (a pol_keyed value: zeroed = rested). */
typedef struct st_gw_slot_key_t {
    h2o_linklist_t room; /* gw_req_admission_t.room_link: the waiting room, served from the front */
    uint32_t queued;     /* requests in `room` */
    uint32_t holders;    /* local requests holding a global slot of this key */
    uint32_t acquiring;  /* acquire commands in flight */
    uint32_t polling;    /* 1 while the room's acquire is in flight */
    h2o_linklist_t idle; /* gw_idle_slot_t.key_link: slots held for reuse, most recent last */
    uint32_t idle_count;
    uint32_t poll_backoff_ms;
    uint64_t others_wait_until_ns; /* Redis said other instances wait for this key (until then) */
    gw_timer_t poll_timer;         /* next acquire for the room's first request */
    gw_conc_rt_t *conc;
} gw_slot_key_t;

/* One rate limit's state. Shared by the routes of successive generations (reload) while its
 * name and parameters stay the same: the buckets carry over. Owns a copy of its config.
 * For a global limit, `params`, `whole_route` and `per_key` are the `on_error: local` fallback
 * (rate / instances) and the leases hold what Redis granted. */
struct st_gw_rate_rt_t {
    size_t refs;
    cfg_rate_limit_t cfg;
    pol_gcra_params_t params;
    pol_gcra_t whole_route; /* used when the limit has no `per:` */
    pol_keyed_t *per_key;
    /* global limits only */
    int global;
    pol_lease_params_t lease_params;
    gw_rate_lease_t whole_lease;
    pol_keyed_t *per_key_lease;
    gw_global_setup_t setup;
    gw_ctx_t *ctx;
    char lease_args[2][32]; /* interval_us, capacity_us as text */
};

/* One route's concurrency state (semaphores and waiting rooms), shared likewise. For a global
 * limit, `params`, `whole_route` and `per_key` are the `on_error: local` fallback
 * (ceil(limit / instances)). */
struct st_gw_conc_rt_t {
    size_t refs;
    cfg_concurrency_t cfg;
    pol_sema_params_t params;
    pol_sema_t whole_route;
    pol_keyed_t *per_key;
    h2o_timeout_t queue_timeout;
    gw_ctx_t *ctx;
    /* global limits only */
    int global;
    gw_slot_key_t whole_slots;
    pol_keyed_t *per_key_slots;
    gw_global_setup_t setup; /* key_base "PREFIX{route:NAME:" (NAME "concurrency" for the mapping form) */
};

struct st_gw_admission_t {
    gw_rate_rt_t **rates;
    size_t num_rates;
    gw_conc_rt_t *conc; /* NULL: no concurrency limit */
};

typedef struct st_gw_acquire_op_t gw_acquire_op_t;

/* What admission holds for one request; lives in the request's pool. */
typedef struct st_gw_req_admission_t {
    gw_request_t *r;
    size_t next_rate; /* index of the next rate limit to pass */
    gw_timer_t delay;
    gw_conc_rt_t *conc; /* the concurrency state the request waits in or holds a slot of */
    pol_sema_t *sema;
    pol_waiter_t waiter;
    h2o_timeout_entry_t queue_timer;
    unsigned waiting : 1;
    unsigned holds_slot : 1;
    unsigned redis_failed : 1; /* the lease request it waited for failed: on_error applies */
    unsigned in_slot_room : 1; /* waiting in a global room (slot_key->room), not a pol_sema */
    unsigned holds_global : 1; /* holds the global slot `member` of `slot_key` */
    unsigned slot_lost : 1;    /* Redis no longer has `member` (renewal said so): never pass it on */
    uint64_t wait_started_ns;
    uint64_t delay_started_ns; /* first wait for the current global rate limit */
    /* global rate limits */
    gw_rate_lease_t *lease;
    h2o_linklist_t lease_link;
    /* global concurrency */
    gw_slot_key_t *slot_key;
    char *slot_redis_key; /* in the request's pool */
    size_t slot_redis_key_len;
    char *slot_wait_key; /* the key's waiting instances (slot_redis_key + ":w"), likewise */
    size_t slot_wait_key_len;
    gw_acquire_op_t *acquire; /* first acquire in flight for this request */
    h2o_linklist_t room_link;
    char member[48];
    uint64_t renewed_ns;
    h2o_linklist_t held_link; /* ctx->held_slots */
} gw_req_admission_t;

/* ---- gw_admission.c, for gw_global.c ---- */

/* Drop a reference to a limit; the last one frees it. */
void gw_admission_release_rate(gw_rate_rt_t *rate);
void gw_admission_release_concurrency(gw_conc_rt_t *conc);

/* The key of a keyed limit for the request, or NULL when it lacks it. */
const char *gw_admission_request_key(gw_request_t *r, const cfg_keyspec_t *per, size_t *len);
/* Goes on with the rate limits from ra->next_rate (after an asynchronous step). */
void gw_admission_continue(gw_req_admission_t *ra);
/* 429 for `rate`, with its headers. */
void gw_admission_reject_rate(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t retry_after_ns);
/* The `local` fallback (or local scope): the route's local semaphore. */
void gw_admission_enter_local_concurrency(gw_req_admission_t *ra, gw_conc_rt_t *conc);
/* Marks the request as waiting (metrics, queue timer) / no longer waiting. */
void gw_admission_enter_room(gw_req_admission_t *ra, gw_conc_rt_t *conc);
void gw_admission_leave_room(gw_req_admission_t *ra);
/* 503 `queue_full`. */
void gw_admission_reject_queue_full(gw_request_t *r);
/* 503 `redis_unavailable` (on_error: deny). */
void gw_admission_deny_unavailable(gw_req_admission_t *ra);

/* ---- gw_global.c ---- */

typedef enum { GW_GLOBAL_ADMIT, GW_GLOBAL_REJECT, GW_GLOBAL_PENDING, GW_GLOBAL_FALLBACK } gw_global_result_t;

/* Sets up the global part of a rate limit / concurrency limit of `route_name`. */
void gw_global_rate_init(gw_ctx_t *ctx, gw_rate_rt_t *rate, const cfg_redis_t *redis, const char *route_name);
void gw_global_rate_dispose(gw_rate_rt_t *rate);
void gw_global_conc_init(gw_ctx_t *ctx, gw_conc_rt_t *conc, const cfg_redis_t *redis, const char *route_name);
void gw_global_conc_dispose(gw_conc_rt_t *conc);

/* 1 when a global limit set up with `setup` may keep its state under `redis` (route and limit
 * names included); always 1 for a local limit (global == 0). */
int gw_global_setup_matches(int global, const gw_global_setup_t *setup, const cfg_redis_t *redis, const char *route,
                            const char *limit);

/* A token of a global rate limit for the request: ADMIT (spent), REJECT (*retry_after_ns set),
 * PENDING (a lease request is in flight; gw_admission_continue runs when it is answered) or
 * FALLBACK (Redis unavailable: the caller applies on_error). */
gw_global_result_t gw_global_rate_take(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now_ns, uint64_t *retry_after_ns);
/* 1 (and *retry_after_ns) when Redis said the request's bucket is empty: no need to ask. */
int gw_global_rate_known_empty(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now_ns, uint64_t *retry_after_ns);

/* Global concurrency: gets the request a slot, a place in the room, a 503 or on_error. */
void gw_global_conc_enter(gw_req_admission_t *ra, gw_conc_rt_t *conc);
/* Lets go of whatever the request holds of global concurrency. */
void gw_global_release(gw_req_admission_t *ra);
/* The queue timer of a request in a global room fired: takes it out of the room. */
void gw_global_leave_room(gw_req_admission_t *ra);

/* Once per loop, from gw_admission_init_ctx. */
void gw_global_init_ctx(gw_ctx_t *ctx);
/* Counts one on_error decision and returns the mode. */
cfg_redis_on_error_t gw_global_fallback(gw_request_t *r);

#endif
