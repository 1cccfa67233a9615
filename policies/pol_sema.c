#include "pol_sema.h"

#include <stdio.h>
#include <stdlib.h>

pol_decision_t pol_sema_acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, unsigned level, uint64_t now_ns,
                                pol_waiter_t **evicted)
{
    *evicted = NULL;
    if (s->in_flight < p->limit && s->room.queued == 0) {
        ++s->in_flight;
        return POL_ADMIT;
    }
    return pol_room_enter(&s->room, &p->room, w, level, now_ns, evicted);
}

void pol_sema_cancel(pol_sema_t *s, pol_waiter_t *w)
{
    pol_room_leave(&s->room, w);
}

pol_waiter_t *pol_sema_release(pol_sema_t *s, const pol_sema_params_t *p)
{
    if (s->in_flight == 0) {
        fprintf(stderr, "sluice: BUG: semaphore released with nothing in flight\n");
        abort();
    }
    if (s->in_flight <= p->limit) {
        pol_waiter_t *w = pol_room_next(&s->room, &p->room);
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
    pol_waiter_t *w = pol_room_next(&s->room, &p->room);
    if (w != NULL)
        ++s->in_flight;
    return w;
}
