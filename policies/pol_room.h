/*
 * A bounded waiting room with priority levels: where requests wait for a concurrency slot.
 *
 * Invariants:
 * - a waiter is in the room iff its link is non-NULL; `queued` counts them and never exceeds the
 *   room's size (except after the size is lowered: nobody new enters then, no one is pushed out).
 * - each level is a list in arrival order (oldest at its head); bit i of `nonempty` is set iff
 *   level i has waiters. Level 0 is the most important.
 * - the next waiter served is of the most important level that has any: its oldest (FIFO) or its
 *   newest (LIFO).
 * - an arrival to a full room takes the place of the newest waiter of the least important level
 *   less important than its own, who leaves the room (the caller answers it 503); when there is
 *   no such waiter the arrival is refused.
 * - squeezed (the backend is saturated), the room is full sooner for the less important levels:
 *   level i of L may enter only while fewer than size * (L - i) / L wait (the most important
 *   level: the whole room), and past that only by pushing out a less important waiter, so the
 *   least important are refused first and the important ones find a place.
 * - every operation is O(1) (levels are found through the bit mask).
 *
 * The room is followed in memory by its level lists (pol_room_size(levels) bytes in all), so a
 * room of any number of levels fits in a keyed table's fixed-size value; an all-zero room is a valid empty room, and a room
 * holding waiters must not move (its lists are linked into them). No allocation per waiter: the
 * waiter is part of the caller's per-request state.
 */
#ifndef SLUICE_POL_ROOM_H
#define SLUICE_POL_ROOM_H

#include <stddef.h>
#include <stdint.h>
#include "pol_types.h"

#define POL_ROOM_MAX_LEVELS 16

typedef struct st_pol_link_t {
    struct st_pol_link_t *prev, *next;
} pol_link_t;

typedef struct st_pol_waiter_t {
    pol_link_t link; /* both NULL when not in a room */
    uint64_t enqueued_at_ns;
    uint8_t level;
} pol_waiter_t;

/* Owned by the caller and passed to every call, so keyed tables store no params per key. */
typedef struct st_pol_room_params_t {
    uint32_t size;   /* places; 0 = nobody waits */
    uint8_t levels;  /* 1 .. POL_ROOM_MAX_LEVELS; a room is created for one number of levels */
    uint8_t lifo;    /* 0: serve the oldest of a level first; 1: the newest */
    uint8_t squeeze; /* 1: less important levels get a smaller share of the room (see above) */
} pol_room_params_t;

/* The room proper; its `levels` lists follow it in memory (one per level, set up on first use). */
typedef struct st_pol_room_t {
    uint32_t queued;
    uint32_t nonempty; /* bit per level */
} pol_room_t;

/* Bytes of a room with `levels` levels: a struct that ends with a room adds
 * pol_room_size(levels) - sizeof(pol_room_t) bytes to its allocation. */
static inline size_t pol_room_size(unsigned levels)
{
    return sizeof(pol_room_t) + levels * sizeof(pol_link_t);
}

/* Puts `w` (in no room) in at `level` (< p->levels) at now_ns.
 * - POL_WAIT: it waits; when the room was full, *evicted is the waiter it pushed out (out of the
 *   room now), else NULL.
 * - POL_REJECT: the room is full of waiters at least as important, or has no place at all. */
pol_decision_t pol_room_enter(pol_room_t *r, const pol_room_params_t *p, pol_waiter_t *w, unsigned level, uint64_t now_ns,
                              pol_waiter_t **evicted);

/* Takes `w` out of the room wherever it stands (no effect when it is in none). */
void pol_room_leave(pol_room_t *r, pol_waiter_t *w);

/* The waiter to serve next, taken out of the room, or NULL when it is empty. */
pol_waiter_t *pol_room_next(pol_room_t *r, const pol_room_params_t *p);

/* The waiter pol_room_next would give, left in the room, or NULL. */
pol_waiter_t *pol_room_peek(pol_room_t *r, const pol_room_params_t *p);

/* Calls fn for every waiter (in no particular order); fn may take the one it is given out of the
 * room (pol_room_leave), and nothing else. */
void pol_room_foreach(pol_room_t *r, const pol_room_params_t *p, void (*fn)(pol_waiter_t *w, void *data), void *data);

static inline int pol_waiter_is_queued(const pol_waiter_t *w)
{
    return w->link.prev != NULL;
}

#endif
