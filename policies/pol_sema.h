/*
 * A counting semaphore with a waiting room (pol_room): a concurrency limit of one key.
 *
 * Invariants:
 * - in_flight <= limit, except after the limit is lowered (reload, an adaptive limit): then nobody
 *   new is admitted and no slot is handed over until in_flight falls below the new limit.
 * - while anyone waits, a released slot goes straight to the next waiter (in_flight unchanged): a
 *   newcomer never overtakes the room, and in_flight never drops below the limit while the room
 *   is not empty.
 * - every slot taken (POL_ADMIT, or a waiter handed out by release/grant_next) is given back by
 *   exactly one pol_sema_release; a release with nothing in flight aborts.
 *
 * The room ends the struct: a semaphore of a room with L levels takes pol_sema_size(L) bytes, and
 * an all-zero one is a valid idle semaphore (what keyed tables create).
 */
#ifndef SLUICE_POL_SEMA_H
#define SLUICE_POL_SEMA_H

#include <stddef.h>
#include <stdint.h>
#include "pol_room.h"

typedef struct st_pol_sema_params_t {
    uint32_t limit; /* slots; 0 admits nobody */
    pol_room_params_t room;
} pol_sema_params_t;

typedef struct st_pol_sema_t {
    uint32_t in_flight;
    uint32_t reserved;
    pol_room_t room; /* last: its lists follow */
} pol_sema_t;

static inline size_t pol_sema_size(unsigned levels)
{
    return offsetof(pol_sema_t, room) + pol_room_size(levels);
}

/* Asks for a slot for the waiter `w` (in no room) of priority `level` at now_ns.
 * - POL_ADMIT: a slot is taken (in_flight + 1); `w` is untouched.
 * - POL_WAIT: `w` waits in the room; *evicted is a waiter it pushed out of a full room, or NULL.
 *   `w` leaves by exactly one of pol_sema_cancel, being returned by pol_sema_release or
 *   pol_sema_grant_next (it then holds a slot), or being evicted by a later arrival.
 * - POL_REJECT: no slot and no place in the room. */
pol_decision_t pol_sema_acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, unsigned level, uint64_t now_ns,
                                pol_waiter_t **evicted);

/* Takes `w` out of the room (no effect when it is not in it). */
void pol_sema_cancel(pol_sema_t *s, pol_waiter_t *w);

/* Gives a slot back: returns the waiter that now holds it (out of the room; the caller resumes
 * it), or NULL when the slot went back to the pool. Aborts when nothing is in flight. */
pol_waiter_t *pol_sema_release(pol_sema_t *s, const pol_sema_params_t *p);

/* After the limit was raised: hands one free slot to the next waiter and returns it, or NULL
 * when no slot is free or nobody waits. Call until NULL. */
pol_waiter_t *pol_sema_grant_next(pol_sema_t *s, const pol_sema_params_t *p);

/* 1 when nothing is in flight and nobody waits: the semaphore may be forgotten. */
static inline int pol_sema_at_rest(const pol_sema_t *s)
{
    return s->in_flight == 0 && s->room.queued == 0;
}

#endif
