#include "pol_sema.h"

#include <stdio.h>
#include <stdlib.h>

static void init_room(pol_sema_t *s)
{
    if (s->room.next == NULL)
        s->room.next = s->room.prev = &s->room;
}

static pol_waiter_t *waiter_of(pol_link_t *link)
{
    return (pol_waiter_t *)((char *)link - offsetof(pol_waiter_t, link));
}

static void unlink_waiter(pol_sema_t *s, pol_waiter_t *w)
{
    w->link.prev->next = w->link.next;
    w->link.next->prev = w->link.prev;
    w->link.prev = w->link.next = NULL;
    --s->queued;
}

/* The waiter to serve next, dequeued, or NULL. */
static pol_waiter_t *take_next(pol_sema_t *s, const pol_sema_params_t *p)
{
    if (s->queued == 0)
        return NULL;
    pol_waiter_t *w = waiter_of(p->lifo ? s->room.prev : s->room.next);
    unlink_waiter(s, w);
    return w;
}

pol_decision_t pol_sema_acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, uint64_t now_ns, uint64_t deadline_ns)
{
    if (s->in_flight < p->limit && s->queued == 0) {
        ++s->in_flight;
        return POL_ADMIT;
    }
    if (s->queued >= p->queue_size)
        return POL_REJECT;
    init_room(s);
    w->enqueued_at_ns = now_ns;
    w->deadline_ns = deadline_ns;
    /* always at the tail: the room stays in arrival order, whatever the serving order */
    w->link.prev = s->room.prev;
    w->link.next = &s->room;
    s->room.prev->next = &w->link;
    s->room.prev = &w->link;
    ++s->queued;
    return POL_WAIT;
}

void pol_sema_cancel(pol_sema_t *s, pol_waiter_t *w)
{
    if (pol_waiter_is_queued(w))
        unlink_waiter(s, w);
}

pol_waiter_t *pol_sema_release(pol_sema_t *s, const pol_sema_params_t *p)
{
    if (s->in_flight == 0) {
        fprintf(stderr, "sluice: BUG: semaphore released with nothing in flight\n");
        abort();
    }
    if (s->in_flight <= p->limit) {
        pol_waiter_t *w = take_next(s, p);
        if (w != NULL)
            return w; /* the slot changes hands */
    }
    --s->in_flight;
    return NULL;
}

pol_waiter_t *pol_sema_grant_next(pol_sema_t *s, const pol_sema_params_t *p)
{
    if (s->in_flight >= p->limit)
        return NULL;
    pol_waiter_t *w = take_next(s, p);
    if (w != NULL)
        ++s->in_flight;
    return w;
}

pol_waiter_t *pol_sema_pop_expired(pol_sema_t *s, uint64_t now_ns)
{
    if (s->queued == 0)
        return NULL;
    pol_waiter_t *oldest = waiter_of(s->room.next);
    if (oldest->deadline_ns > now_ns)
        return NULL;
    unlink_waiter(s, oldest);
    return oldest;
}

uint64_t pol_sema_next_deadline(const pol_sema_t *s)
{
    return s->queued == 0 ? UINT64_MAX : waiter_of(s->room.next)->deadline_ns;
}
