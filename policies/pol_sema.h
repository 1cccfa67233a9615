/*
 * A counting semaphore with a bounded waiting room.
 *
 * Invariants:
 * - in_flight <= limit, except transiently after the limit is lowered (reload): then nobody new
 *   is admitted until in_flight falls below it.
 * - a waiter is in the room iff it is linked; `queued` counts the linked waiters and never
 *   exceeds queue_size.
 * - the room is kept in arrival order (oldest at the head). FIFO serves the head, LIFO the
 *   tail; every waiter of a semaphore has the same timeout, so the head always has the earliest
 *   deadline, whichever the order, and expiry is O(1).
 * - while anyone waits, a released slot goes straight to the next waiter (in_flight unchanged):
 *   a newcomer can never overtake the room.
 *
 * Waiters are embedded in the caller's per-request state (no allocation per waiter).
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
    pol_link_t link; /* prev == NULL when not queued */
    uint64_t enqueued_at_ns;
    uint64_t deadline_ns;
} pol_waiter_t;

typedef struct st_pol_sema_params_t {
    uint32_t limit;      /* >= 1 */
    uint32_t queue_size; /* 0 = reject at once when full */
    int lifo;
} pol_sema_params_t;

typedef struct st_pol_sema_t {
    uint32_t in_flight;
    uint32_t queued;
    pol_link_t room; /* anchor; an all-zero sema is valid and empty */
} pol_sema_t;

/* POL_ADMIT: a slot is taken. POL_WAIT: `w` is queued (the caller arms its own timer for
 * deadline_ns and calls pol_sema_cancel or gets `w` back from pol_sema_release/pop_expired).
 * POL_REJECT: the room is full. */
pol_decision_t pol_sema_acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, uint64_t now_ns, uint64_t deadline_ns);

/* Removes a queued waiter from wherever it is in the room, O(1). No effect if not queued. */
void pol_sema_cancel(pol_sema_t *s, pol_waiter_t *w);

/* Gives a slot back. Returns the waiter that now owns it (dequeued; the caller resumes it), or
 * NULL when nobody waited (in_flight is decremented). Releasing with nothing in flight aborts:
 * a double release is a bug that must not pass silently. */
pol_waiter_t *pol_sema_release(pol_sema_t *s, const pol_sema_params_t *p);

/* After the limit was raised: hands one free slot to the next waiter (returned, dequeued), or
 * NULL. Call until NULL. */
pol_waiter_t *pol_sema_grant_next(pol_sema_t *s, const pol_sema_params_t *p);

/* Dequeues and returns one waiter whose deadline <= now_ns, or NULL. */
pol_waiter_t *pol_sema_pop_expired(pol_sema_t *s, uint64_t now_ns);

static inline int pol_waiter_is_queued(const pol_waiter_t *w)
{
    return w->link.prev != NULL;
}

/* Nothing in flight, nobody waiting: the semaphore may be forgotten. */
static inline int pol_sema_at_rest(const pol_sema_t *s)
{
    return s->in_flight == 0 && s->queued == 0;
}

#endif
