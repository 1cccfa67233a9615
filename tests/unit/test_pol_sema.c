/* Semaphore with a waiting room (policies/pol_sema.c over policies/pol_room.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fork, waitpid */
#endif
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "child.h"
#include "pol_sema.h"

static pol_waiter_t w[16];

/* A semaphore with room for one level, zeroed (as keyed tables create them). */
typedef struct {
    pol_sema_t s;
    pol_link_t lists[1];
} sema1_t;

static sema1_t store;

static pol_sema_t *fresh(void)
{
    memset(&store, 0, sizeof(store));
    memset(w, 0, sizeof(w));
    return &store.s;
}

static pol_sema_params_t params(uint32_t limit, uint32_t size, int lifo)
{
    return (pol_sema_params_t){limit, {size, 1, (uint8_t)lifo, 0}};
}

static pol_decision_t acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *x, uint64_t now)
{
    pol_waiter_t *evicted = &w[15];
    pol_decision_t d = pol_sema_acquire(s, p, x, 0, now, &evicted);
    CHECK(evicted == NULL); /* one level: nobody is pushed out */
    return d;
}

static void test_fifo(void)
{
    pol_sema_params_t p = params(2, 3, 0);
    pol_sema_t *s = fresh();
    CHECK(pol_sema_at_rest(s));
    CHECK(acquire(s, &p, &w[0], 100) == POL_ADMIT);
    CHECK(acquire(s, &p, &w[1], 100) == POL_ADMIT);
    CHECK(!pol_waiter_is_queued(&w[0]));
    CHECK(acquire(s, &p, &w[2], 101) == POL_WAIT);
    CHECK(acquire(s, &p, &w[3], 102) == POL_WAIT);
    CHECK(acquire(s, &p, &w[4], 103) == POL_WAIT);
    CHECK_EQ_U64(w[3].enqueued_at_ns, 102);
    CHECK(acquire(s, &p, &w[5], 104) == POL_REJECT); /* room full */
    CHECK(!pol_waiter_is_queued(&w[5]));
    CHECK_EQ_U64(s->in_flight, 2);
    CHECK_EQ_U64(s->room.queued, 3);
    CHECK(!pol_sema_at_rest(s));
    /* releases hand the slot to the oldest waiter; in_flight stays at the limit */
    CHECK(pol_sema_release(s, &p) == &w[2]);
    CHECK(!pol_waiter_is_queued(&w[2]));
    CHECK_EQ_U64(s->in_flight, 2);
    CHECK_EQ_U64(s->room.queued, 2);
    /* a place freed in the room is usable again, behind the others */
    CHECK(acquire(s, &p, &w[5], 105) == POL_WAIT);
    CHECK(pol_sema_release(s, &p) == &w[3]);
    CHECK(pol_sema_release(s, &p) == &w[4]);
    CHECK(pol_sema_release(s, &p) == &w[5]);
    CHECK_EQ_U64(s->in_flight, 2);
    CHECK(pol_sema_release(s, &p) == NULL);
    CHECK_EQ_U64(s->in_flight, 1);
    CHECK(pol_sema_release(s, &p) == NULL);
    CHECK_EQ_U64(s->in_flight, 0);
    CHECK(pol_sema_at_rest(s));
}

static void test_lifo_and_cancel_from_the_middle(void)
{
    pol_sema_params_t p = params(1, 4, 1);
    pol_sema_t *s = fresh();
    CHECK(acquire(s, &p, &w[0], 10) == POL_ADMIT);
    for (int i = 1; i <= 4; ++i)
        CHECK(acquire(s, &p, &w[i], 10 + (uint64_t)i) == POL_WAIT);
    CHECK(acquire(s, &p, &w[6], 19) == POL_REJECT);
    pol_sema_cancel(s, &w[2]); /* from the middle */
    CHECK(!pol_waiter_is_queued(&w[2]));
    CHECK_EQ_U64(s->room.queued, 3);
    pol_sema_cancel(s, &w[2]); /* twice: no effect */
    CHECK_EQ_U64(s->room.queued, 3);
    pol_sema_cancel(s, &w[7]); /* never queued: no effect */
    CHECK_EQ_U64(s->room.queued, 3);
    CHECK(acquire(s, &p, &w[5], 15) == POL_WAIT); /* the freed place is usable */
    CHECK(pol_sema_release(s, &p) == &w[5]);      /* newest first */
    CHECK(pol_sema_release(s, &p) == &w[4]);
    pol_sema_cancel(s, &w[1]); /* the oldest, i.e. the head */
    CHECK(pol_sema_release(s, &p) == &w[3]);
    CHECK_EQ_U64(s->room.queued, 0);
    CHECK_EQ_U64(s->in_flight, 1);
    CHECK(pol_sema_release(s, &p) == NULL);
    CHECK(pol_sema_at_rest(s));

    /* cancel the newest (tail) in FIFO, then the rest drains in order */
    pol_sema_params_t f = params(1, 4, 0);
    s = fresh();
    CHECK(acquire(s, &f, &w[0], 10) == POL_ADMIT);
    for (int i = 1; i <= 4; ++i)
        CHECK(acquire(s, &f, &w[i], 10 + (uint64_t)i) == POL_WAIT);
    pol_sema_cancel(s, &w[4]);
    pol_sema_cancel(s, &w[2]);
    CHECK(pol_sema_release(s, &f) == &w[1]);
    CHECK(pol_sema_release(s, &f) == &w[3]);
    CHECK(pol_sema_release(s, &f) == NULL);
    CHECK(pol_sema_at_rest(s));
}

static void test_no_queue_and_limit_zero(void)
{
    pol_sema_params_t p = params(1, 0, 0);
    pol_sema_t *s = fresh();
    CHECK(acquire(s, &p, &w[0], 0) == POL_ADMIT);
    CHECK(acquire(s, &p, &w[1], 0) == POL_REJECT); /* size 0: reject at once */
    CHECK(!pol_waiter_is_queued(&w[1]));
    CHECK(pol_sema_release(s, &p) == NULL);
    CHECK(acquire(s, &p, &w[1], 0) == POL_ADMIT);

    /* limit 0: nobody gets in, but waiters may queue */
    pol_sema_params_t z = params(0, 1, 0);
    s = fresh();
    CHECK(acquire(s, &z, &w[2], 5) == POL_WAIT);
    CHECK(acquire(s, &z, &w[3], 5) == POL_REJECT);
    CHECK(pol_sema_grant_next(s, &z) == NULL);
    pol_sema_cancel(s, &w[2]);
    CHECK(pol_sema_at_rest(s));
}

/* Reload or an adaptive limit: the caller changes the limit of a live semaphore. */
static void test_limit_changes(void)
{
    pol_sema_params_t q = params(2, 3, 0);
    pol_sema_t *t = fresh();
    CHECK(acquire(t, &q, &w[0], 9) == POL_ADMIT);
    CHECK(acquire(t, &q, &w[1], 9) == POL_ADMIT);
    CHECK(acquire(t, &q, &w[2], 9) == POL_WAIT);
    CHECK(acquire(t, &q, &w[3], 9) == POL_WAIT);
    CHECK(acquire(t, &q, &w[4], 9) == POL_WAIT);
    /* raised: waiters come in through grant_next, oldest first; a newcomer does not overtake */
    q.limit = 4;
    CHECK(acquire(t, &q, &w[5], 9) == POL_REJECT); /* room still full */
    CHECK(pol_sema_grant_next(t, &q) == &w[2]);
    CHECK(acquire(t, &q, &w[5], 9) == POL_WAIT); /* behind w[3], w[4] */
    CHECK(pol_sema_grant_next(t, &q) == &w[3]);
    CHECK(pol_sema_grant_next(t, &q) == NULL); /* 4 in flight */
    CHECK_EQ_U64(t->in_flight, 4);
    CHECK_EQ_U64(t->room.queued, 2);
    /* lowered below in_flight: releases do not hand over until under the new limit */
    q.limit = 2;
    CHECK(pol_sema_release(t, &q) == NULL);
    CHECK(pol_sema_release(t, &q) == NULL);
    CHECK_EQ_U64(t->in_flight, 2);
    CHECK(pol_sema_release(t, &q) == &w[4]);
    CHECK_EQ_U64(t->in_flight, 2);
    /* switched to LIFO: the room is in arrival order, so the switch is seamless */
    q.room.lifo = 1;
    CHECK(acquire(t, &q, &w[6], 9) == POL_WAIT);
    CHECK(pol_sema_release(t, &q) == &w[6]);
    CHECK(pol_sema_release(t, &q) == &w[5]);
    CHECK(pol_sema_release(t, &q) == NULL);
    CHECK(pol_sema_release(t, &q) == NULL);
    CHECK(pol_sema_at_rest(t));
    /* the room's size lowered below the queued count: nobody new enters, those inside stay */
    pol_sema_params_t r = params(1, 3, 0);
    pol_sema_t *u = fresh();
    CHECK(acquire(u, &r, &w[0], 9) == POL_ADMIT);
    CHECK(acquire(u, &r, &w[1], 9) == POL_WAIT);
    CHECK(acquire(u, &r, &w[2], 9) == POL_WAIT);
    r.room.size = 1;
    CHECK(acquire(u, &r, &w[3], 9) == POL_REJECT);
    CHECK(pol_sema_release(u, &r) == &w[1]);
    CHECK(pol_sema_release(u, &r) == &w[2]);
    CHECK(pol_sema_release(u, &r) == NULL);
}

/* Random operations against a plain array model of the room, both orders. */
static void test_against_model(void)
{
    enum { N = 14 };
    for (int lifo = 0; lifo != 2; ++lifo) {
        pol_sema_params_t p = params(3, 6, lifo);
        pol_sema_t *s = fresh();
        int state[N] = {0}; /* 0 idle, 1 holds a slot, 2 waits */
        int room[N], room_len = 0;
        uint32_t in_flight = 0;
        uint64_t now = 0;
        unsigned seed = 12345;
        for (int step = 0; step != 20000; ++step) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 16) % N), op = (int)((seed >> 8) % 3);
            ++now;
            if (state[i] == 0) {
                pol_decision_t d = acquire(s, &p, &w[i], now);
                pol_decision_t want = in_flight < p.limit && room_len == 0 ? POL_ADMIT
                                      : room_len < (int)p.room.size        ? POL_WAIT
                                                                           : POL_REJECT;
                CHECK(d == want);
                if (d == POL_ADMIT) {
                    state[i] = 1;
                    ++in_flight;
                } else if (d == POL_WAIT) {
                    state[i] = 2;
                    room[room_len++] = i;
                }
            } else if (state[i] == 1) {
                pol_waiter_t *next = pol_sema_release(s, &p);
                state[i] = 0;
                if (room_len == 0) {
                    CHECK(next == NULL);
                    --in_flight;
                } else {
                    int j = lifo ? room[room_len - 1] : room[0];
                    CHECK(next == &w[j]);
                    if (!lifo)
                        memmove(room, room + 1, (size_t)(room_len - 1) * sizeof(int));
                    --room_len;
                    state[j] = 1;
                }
            } else if (op == 0) {
                pol_sema_cancel(s, &w[i]);
                int k = 0;
                while (room[k] != i)
                    ++k;
                memmove(room + k, room + k + 1, (size_t)(room_len - k - 1) * sizeof(int));
                --room_len;
                state[i] = 0;
            }
            CHECK_EQ_U64(s->in_flight, in_flight);
            CHECK_EQ_U64(s->room.queued, (uint64_t)room_len);
            CHECK(s->in_flight <= p.limit);
            CHECK(room_len == 0 || s->in_flight == p.limit); /* nobody waits beside a free slot */
        }
    }
}

static void release_twice(void *arg)
{
    (void)arg;
    pol_sema_params_t p = params(2, 2, 0);
    pol_sema_t *s = fresh();
    acquire(s, &p, &w[0], 0);
    pol_sema_release(s, &p);
    pol_sema_release(s, &p); /* the double release */
}

/* A release with nothing in flight aborts (in a child: it must not pass silently), and says why
 * on stderr. */
static void test_release_never_underflows(void)
{
    CHECK(aborts_saying(release_twice, NULL, "sluice: BUG: semaphore released with nothing in flight\n"));
}

int main(void)
{
    test_fifo();
    test_lifo_and_cancel_from_the_middle();
    test_no_queue_and_limit_zero();
    test_limit_changes();
    test_against_model();
    test_release_never_underflows();
    return CHECK_SUMMARY();
}
