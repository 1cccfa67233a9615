/*
 * The limiter interface: all that admission (gw_admission) knows of a limit. Rate limiters give
 * tokens (peek/take), concurrency limiters give slots (acquire/release), and every limiter
 * describes its state for GET /limits. Implementations: local GCRA buckets and semaphores
 * (gw_lim_local.c), the same held in Redis (gw_lim_redis.c), and adaptive concurrency.
 *
 * A request's stake in one limit is a gw_hold_t, part of the request's admission state: the key
 * it counts under, its priority level, and the limiter's own bookkeeping (a place in a room, a
 * slot, a Redis operation in flight). A limiter answers at once when it can; when it cannot (a
 * room, a Redis round trip) it answers later through the hold's callback, always from the event
 * loop and never from within a call made to the limiter: a slot released by one request is handed
 * to a waiter through a zero-delay timer (gw_hold_wake), so no request's code ever runs inside
 * another's release.
 *
 * Invariants:
 * - a hold is in at most one state of one limiter (gw_hold_state_t); release() takes it out of
 *   whichever, gives back what it holds exactly once, and may be called any number of times.
 * - a limiter holds a reference (refs) for each thing that may still use it: every generation of
 *   routes it belongs to and every asynchronous operation in flight; the last unref frees it.
 * - GW_LIM_UNAVAILABLE is said only by limiters backed by Redis, when Redis cannot be asked;
 *   admission then applies redis.on_error itself (allow, deny, or the limiter's `fallback`).
 */
#ifndef SLUICE_GW_LIMITER_H
#define SLUICE_GW_LIMITER_H

#include <stdint.h>
#include "h2o.h"
#include "pol_room.h"
#include "gw_keys.h"
#include "gw_textbuf.h"

typedef enum {
    GW_LIM_ADMIT,      /* a token taken, a slot held */
    GW_LIM_WAIT,       /* rate: a token is reserved for later (delay); slots: waiting in the room */
    GW_LIM_REJECT,     /* rate: no token (retry later); slots: no place in the room, or pushed out of it */
    GW_LIM_PENDING,    /* the limiter asked Redis: the answer comes through the hold's callback */
    GW_LIM_UNAVAILABLE /* Redis cannot be asked now */
} gw_lim_result_t;

typedef enum { GW_LIMITER_RATE, GW_LIMITER_SLOTS } gw_limiter_kind_t;

typedef enum {
    GW_HOLD_IDLE,    /* nothing */
    GW_HOLD_WAITING, /* in a room */
    GW_HOLD_PENDING, /* an asynchronous answer is owed (Redis) */
    GW_HOLD_HELD     /* a slot (or, for a rate limit, nothing left to give back) */
} gw_hold_state_t;

typedef struct st_gw_limiter_t gw_limiter_t;
typedef struct st_gw_hold_t gw_hold_t;

/* An asynchronous answer: ADMIT (the slot is held, the token taken), WAIT (now in the room),
 * REJECT (pushed out of the room by a more important arrival; for a rate limit: ask again with
 * take(), which knows now), UNAVAILABLE (Redis failed: on_error applies). */
typedef void (*gw_hold_cb)(gw_hold_t *h, gw_lim_result_t result);

struct st_gw_hold_t {
    /* set by admission */
    gw_keyval_t key;       /* {NULL, 0}: `_missing`; the bytes live as long as the request */
    gw_keyval_t share_key; /* a rate limit's `fair:` key, as `key` */
    uint8_t level;         /* priority: 0 is the most important */
    gw_hold_cb cb;
    void *data;
    /* the limiter's own */
    gw_limiter_t *limiter;
    gw_hold_state_t state;
    void *entry;         /* the per-key state it waits in or holds */
    pol_waiter_t waiter; /* its place in a room */
    h2o_linklist_t link; /* a Redis lease's waiters, the slots held (renewals) */
    h2o_timeout_entry_t wake;
    gw_lim_result_t wake_result;
    void *op;              /* a Redis operation in flight for it */
    uint64_t since_ns;     /* when it entered the room, then when it was admitted (given its slot) */
    uint64_t renewed_ns;   /* Redis slot: its lease last renewed */
    char member[40];       /* Redis slot: its member in the key's set */
    unsigned lost : 1;     /* Redis slot: Redis no longer counts it: never pass it on */
    unsigned unlisted : 1; /* admitted by the local fallback: Redis does not count it yet */
};

/* The outcome of the work a slot was held for, for limiters that learn from it (adaptive). */
typedef struct st_gw_sample_t {
    uint64_t latency_ns; /* upstream exchange, to the response head; 0 when none took place */
    int dropped;         /* the upstream failed: a connection or protocol error, a timeout, a 5xx */
    int abandoned;       /* no verdict on the upstream: the exchange was cut for the client's sake (gone,
                            body refused) or never began */
} gw_sample_t;

/* What a rate limit says beside its result, for the 429's headers and delays. */
typedef struct st_gw_rate_info_t {
    uint64_t wait_ns;        /* WAIT: the reserved token is due in this long */
    uint64_t retry_after_ns; /* REJECT: a take may succeed in this long */
    uint32_t remaining;      /* tokens left now (best known) */
    uint64_t reset_ns;       /* until the bucket is full again (best known) */
} gw_rate_info_t;

typedef struct st_gw_limiter_ops_t {
    /* Rate: would a take now be refused? REJECT (with info->retry_after_ns) or ADMIT; nothing is
     * taken. So that a request refused by one limit spends no token of the others. */
    gw_lim_result_t (*peek)(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, gw_rate_info_t *info);
    /* Rate: a token: ADMIT, WAIT (only with max_wait_ns > 0: reserved, due in info->wait_ns),
     * REJECT (info->retry_after_ns), PENDING or UNAVAILABLE. */
    gw_lim_result_t (*take)(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, uint64_t max_wait_ns, gw_rate_info_t *info);
    /* Slots: ADMIT (held), WAIT (in the room), REJECT (room full), PENDING or UNAVAILABLE. */
    gw_lim_result_t (*acquire)(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns);
    /* Lets go of whatever h holds or waits for here; a freed slot may go to a waiter (woken from
     * the loop). `sample` may be NULL. Idempotent. */
    void (*release)(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample);
    /* Its state as one JSON object (GET /limits). */
    void (*describe)(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns);
    /* The current limit of a concurrency limiter (adaptive ones change it). */
    uint32_t (*current_limit)(gw_limiter_t *l);
    /* Frees what the limiter owns (called by gw_limiter_unref). */
    void (*destroy)(gw_limiter_t *l);
} gw_limiter_ops_t;

struct st_gw_limiter_t {
    const gw_limiter_ops_t *ops;
    gw_limiter_kind_t kind;
    size_t refs;
    char *route; /* names, for /limits, metrics and reload matching */
    char *name;
    gw_limiter_t *fallback;  /* a Redis-backed limiter's redis.on_error `local` stand-in, else NULL */
    h2o_linklist_t registry; /* ctx's live limiters (reload finds a limit's live state here) */
};

/* Sets up the common part (refs 1). */
void gw_limiter_init(gw_limiter_t *l, const gw_limiter_ops_t *ops, gw_limiter_kind_t kind, const char *route, const char *name);
/* Frees the common part (for destroy()). */
void gw_limiter_dispose(gw_limiter_t *l);
static inline gw_limiter_t *gw_limiter_ref(gw_limiter_t *l)
{
    ++l->refs;
    return l;
}
/* Drops a reference; the last one destroys the limiter. */
void gw_limiter_unref(gw_limiter_t *l);

/* For limiters: answers a hold from the loop (a zero-delay timer), never inline. */
void gw_hold_wake(h2o_loop_t *loop, h2o_timeout_t *zero, gw_hold_t *h, gw_lim_result_t result);
/* For limiters: forgets a wake-up not delivered yet (the hold is released). */
void gw_hold_cancel_wake(gw_hold_t *h);

/* JSON helpers for describe(): the common head `{"name":..,"kind":..,"scope":..` (no closing). */
void gw_limiter_describe_head(gw_limiter_t *l, gw_textbuf_t *b, const char *scope);

#endif
