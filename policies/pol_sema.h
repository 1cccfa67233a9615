/*
 * A counting semaphore with a bounded waiting room.
 *
 * Invariants:
 * - in_flight <= limit, except transiently after the limit is lowered (reload): then nobody new
 *   is admitted and no slot is handed over until in_flight falls below the new limit.
 * - a waiter is in the room iff its link is non-NULL; `queued` counts the linked waiters and
 *   never exceeds queue_size (except after queue_size is lowered: nobody new enters then).
 * - the room is kept in arrival order (oldest at the head). FIFO serves the head, LIFO the
 *   tail; every waiter of one semaphore gets the same timeout, so the head always has the
 *   earliest deadline whatever the order, and expiry is O(1).
 * - while anyone waits, a released slot goes straight to the next waiter (in_flight unchanged):
 *   a newcomer never overtakes the room, and in_flight never drops below the limit while the
 *   room is non-empty.
 * - every slot taken (POL_ADMIT, or a waiter handed out by release/grant_next) is given back by
 *   exactly one pol_sema_release; a release with nothing in flight aborts.
 *
 * An all-zero pol_sema_t is a valid empty semaphore (tables create values with memset), and an
 * all-zero pol_waiter_t is a valid waiter that is not queued. Waiters are embedded in the
 * caller's per-request state: no allocation per waiter. A semaphore holding waiters must not
 * move in memory (the room's anchor is linked into them).
 */
#ifndef SLUICE_POL_SEMA_H
#define SLUICE_POL_SEMA_H

#include <stddef.h>
#include <stdint.h>
#include "pol_types.h"

typedef struct st_pol_link_t {
    struct st_pol_link_t *prev, *next;
} pol_link_t;

typedef struct st_pol_waiter_t {
    pol_link_t link; /* both NULL when not queued */
    uint64_t enqueued_at_ns;
    uint64_t deadline_ns;
} pol_waiter_t;

/* Owned by the caller and passed to every call, so keyed tables store no params per key. */
typedef struct st_pol_sema_params_t {
    uint32_t limit;      /* slots; 0 admits nobody (every request waits or is rejected) */
    uint32_t queue_size; /* waiting room places; 0 = reject at once when no slot is free */
    int lifo;            /* 0: serve the oldest waiter first; 1: the newest */
} pol_sema_params_t;

typedef struct st_pol_sema_t {
    uint32_t in_flight;
    uint32_t queued;
    pol_link_t room; /* anchor of the room, set up on first use */
} pol_sema_t;

/* Asks for a slot at now_ns for the request owning `w` (not queued anywhere).
 * - POL_ADMIT: a slot is taken (in_flight + 1); `w` is untouched.
 * - POL_WAIT: `w` is queued with the given deadline. It leaves the room by exactly one of:
 *   pol_sema_cancel (the caller gives up), being returned by pol_sema_release /
 *   pol_sema_grant_next (it now holds a slot), or by pol_sema_pop_expired.
 * - POL_REJECT: no slot and the room is full (or queue_size is 0). */
pol_decision_t pol_sema_acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, uint64_t now_ns, uint64_t deadline_ns);

/* Removes `w` from the room of `s` wherever it stands, O(1). No effect when `w` is not queued.
 * `w` must not be queued in another semaphore. */
void pol_sema_cancel(pol_sema_t *s, pol_waiter_t *w);

/* Gives a slot back. Returns the waiter that now owns it (dequeued, FIFO: oldest, LIFO: newest;
 * the caller resumes it and later releases for it), or NULL when the slot went back to the pool
 * (in_flight - 1). A release with nothing in flight is a bug: it aborts, never passes silently.
 * The waiter is returned even if its deadline has passed but it was not popped yet. */
pol_waiter_t *pol_sema_release(pol_sema_t *s, const pol_sema_params_t *p);

/* After the limit was raised (reload: the caller changes p->limit): hands one free slot to the
 * next waiter and returns it (dequeued, in_flight + 1), or NULL when no slot is free or nobody
 * waits. Call until NULL. */
pol_waiter_t *pol_sema_grant_next(pol_sema_t *s, const pol_sema_params_t *p);

/* Dequeues and returns the oldest waiter if its deadline <= now_ns (the caller answers 503
 * queue_timeout), else NULL. O(1) for both orders. Call until NULL. */
pol_waiter_t *pol_sema_pop_expired(pol_sema_t *s, uint64_t now_ns);

/* The earliest deadline in the room (for one timer per semaphore), UINT64_MAX when empty. */
uint64_t pol_sema_next_deadline(const pol_sema_t *s);

static inline int pol_waiter_is_queued(const pol_waiter_t *w)
{
    return w->link.prev != NULL;
}

/* 1 when nothing is in flight and nobody waits: the semaphore may be forgotten. */
static inline int pol_sema_at_rest(const pol_sema_t *s)
{
    return s->in_flight == 0 && s->queued == 0;
}

#endif
