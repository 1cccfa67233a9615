#include "pol_room.h"

static pol_link_t *lists(pol_room_t *r)
{
    return (pol_link_t *)(r + 1);
}

static pol_waiter_t *waiter_of(pol_link_t *link)
{
    return (pol_waiter_t *)((char *)link - offsetof(pol_waiter_t, link));
}

static void unlink_waiter(pol_room_t *r, pol_waiter_t *w)
{
    w->link.prev->next = w->link.next;
    w->link.next->prev = w->link.prev;
    w->link.prev = w->link.next = NULL;
    --r->queued;
    pol_link_t *list = &lists(r)[w->level];
    if (list->next == list)
        r->nonempty &= ~(1u << w->level);
}

static void append(pol_room_t *r, pol_waiter_t *w, unsigned level, uint64_t now_ns)
{
    pol_link_t *list = &lists(r)[level];
    if (list->next == NULL)
        list->next = list->prev = list;
    w->level = (uint8_t)level;
    w->enqueued_at_ns = now_ns;
    w->link.prev = list->prev;
    w->link.next = list;
    list->prev->next = &w->link;
    list->prev = &w->link;
    ++r->queued;
    r->nonempty |= 1u << level;
}

/* The most / least important level that has waiters (the mask is not 0). */
static unsigned first_level(uint32_t mask)
{
    return (unsigned)__builtin_ctz(mask);
}

static unsigned last_level(uint32_t mask)
{
    return 31u - (unsigned)__builtin_clz(mask);
}

pol_decision_t pol_room_enter(pol_room_t *r, const pol_room_params_t *p, pol_waiter_t *w, unsigned level, uint64_t now_ns,
                              pol_waiter_t **evicted)
{
    *evicted = NULL;
    if (level >= p->levels)
        level = p->levels - 1u;
    uint32_t size = p->squeeze ? (uint32_t)((uint64_t)p->size * (p->levels - level) / p->levels) : p->size;
    if (r->queued >= size) {
        if (r->queued == 0 || r->queued > p->size)
            return POL_REJECT; /* no place at all, or the size was lowered: nobody is pushed out */
        unsigned least = last_level(r->nonempty);
        if (least <= level)
            return POL_REJECT;
        pol_waiter_t *out = waiter_of(lists(r)[least].prev); /* the newest of the least important */
        unlink_waiter(r, out);
        *evicted = out;
    }
    append(r, w, level, now_ns);
    return POL_WAIT;
}

void pol_room_leave(pol_room_t *r, pol_waiter_t *w)
{
    if (pol_waiter_is_queued(w))
        unlink_waiter(r, w);
}

pol_waiter_t *pol_room_peek(pol_room_t *r, const pol_room_params_t *p)
{
    if (r->queued == 0)
        return NULL;
    pol_link_t *list = &lists(r)[first_level(r->nonempty)];
    return waiter_of(p->lifo ? list->prev : list->next);
}

pol_waiter_t *pol_room_next(pol_room_t *r, const pol_room_params_t *p)
{
    pol_waiter_t *w = pol_room_peek(r, p);
    if (w != NULL)
        unlink_waiter(r, w);
    return w;
}

void pol_room_foreach(pol_room_t *r, const pol_room_params_t *p, void (*fn)(pol_waiter_t *w, void *data), void *data)
{
    for (unsigned level = 0; level != p->levels; ++level) {
        if ((r->nonempty & (1u << level)) == 0)
            continue;
        pol_link_t *list = &lists(r)[level];
        for (pol_link_t *node = list->next, *next; node != list; node = next) {
            next = node->next;
            fn(waiter_of(node), data);
        }
    }
}
