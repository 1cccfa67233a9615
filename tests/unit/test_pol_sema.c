/* Semaphore with a waiting room (policies/pol_sema.c). */
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

static void reset_waiters(void)
{
    memset(w, 0, sizeof(w));
}

static void test_fifo(void)
{
    reset_waiters();
    pol_sema_params_t p = {2, 3, 0};
    pol_sema_t s = {0};
    CHECK(pol_sema_at_rest(&s));
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 100) == POL_ADMIT);
    CHECK(pol_sema_acquire(&s, &p, &w[1], 0, 100) == POL_ADMIT);
    CHECK(!pol_waiter_is_queued(&w[0]));
    CHECK(pol_sema_acquire(&s, &p, &w[2], 1, 101) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[3], 2, 102) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[4], 3, 103) == POL_WAIT);
    CHECK_EQ_U64(w[3].enqueued_at_ns, 2);
    CHECK_EQ_U64(w[3].deadline_ns, 102);
    CHECK(pol_sema_acquire(&s, &p, &w[5], 4, 104) == POL_REJECT); /* room full */
    CHECK(!pol_waiter_is_queued(&w[5]));
    CHECK_EQ_U64(s.in_flight, 2);
    CHECK_EQ_U64(s.queued, 3);
    CHECK(!pol_sema_at_rest(&s));
    /* releases hand the slot to the oldest waiter; in_flight stays at the limit */
    CHECK(pol_sema_release(&s, &p) == &w[2]);
    CHECK(!pol_waiter_is_queued(&w[2]));
    CHECK_EQ_U64(s.in_flight, 2);
    CHECK_EQ_U64(s.queued, 2);
    /* a place freed in the room is usable again, behind the others */
    CHECK(pol_sema_acquire(&s, &p, &w[5], 5, 105) == POL_WAIT);
    CHECK(pol_sema_release(&s, &p) == &w[3]);
    CHECK(pol_sema_release(&s, &p) == &w[4]);
    CHECK(pol_sema_release(&s, &p) == &w[5]);
    CHECK_EQ_U64(s.in_flight, 2);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK_EQ_U64(s.in_flight, 1);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK_EQ_U64(s.in_flight, 0);
    CHECK(pol_sema_at_rest(&s));
}

static void test_lifo_and_cancel_from_the_middle(void)
{
    reset_waiters();
    pol_sema_params_t p = {1, 4, 1};
    pol_sema_t s = {0};
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 10) == POL_ADMIT);
    for (int i = 1; i <= 4; ++i)
        CHECK(pol_sema_acquire(&s, &p, &w[i], (uint64_t)i, 10 + (uint64_t)i) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[6], 9, 19) == POL_REJECT);
    pol_sema_cancel(&s, &w[2]); /* from the middle */
    CHECK(!pol_waiter_is_queued(&w[2]));
    CHECK_EQ_U64(s.queued, 3);
    pol_sema_cancel(&s, &w[2]); /* twice: no effect */
    CHECK_EQ_U64(s.queued, 3);
    pol_sema_cancel(&s, &w[7]); /* never queued: no effect */
    CHECK_EQ_U64(s.queued, 3);
    CHECK(pol_sema_acquire(&s, &p, &w[5], 5, 15) == POL_WAIT); /* the freed place is usable */
    CHECK(pol_sema_release(&s, &p) == &w[5]);                  /* newest first */
    CHECK(pol_sema_release(&s, &p) == &w[4]);
    pol_sema_cancel(&s, &w[1]); /* the oldest, i.e. the head */
    CHECK(pol_sema_release(&s, &p) == &w[3]);
    CHECK_EQ_U64(s.queued, 0);
    CHECK_EQ_U64(s.in_flight, 1);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK(pol_sema_at_rest(&s));

    /* cancel the newest (tail) in FIFO, then the rest drains in order */
    reset_waiters();
    pol_sema_params_t f = {1, 4, 0};
    pol_sema_t t = {0};
    CHECK(pol_sema_acquire(&t, &f, &w[0], 0, 10) == POL_ADMIT);
    for (int i = 1; i <= 4; ++i)
        CHECK(pol_sema_acquire(&t, &f, &w[i], (uint64_t)i, 10 + (uint64_t)i) == POL_WAIT);
    pol_sema_cancel(&t, &w[4]);
    pol_sema_cancel(&t, &w[2]);
    CHECK(pol_sema_release(&t, &f) == &w[1]);
    CHECK(pol_sema_release(&t, &f) == &w[3]);
    CHECK(pol_sema_release(&t, &f) == NULL);
    CHECK(pol_sema_at_rest(&t));
}

static void test_no_queue_and_no_overtaking(void)
{
    reset_waiters();
    pol_sema_params_t p = {1, 0, 0};
    pol_sema_t s = {0};
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 0) == POL_ADMIT);
    CHECK(pol_sema_acquire(&s, &p, &w[1], 0, 0) == POL_REJECT); /* size 0: reject at once */
    CHECK(!pol_waiter_is_queued(&w[1]));
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK(pol_sema_acquire(&s, &p, &w[1], 0, 0) == POL_ADMIT);

    /* limit 0: nobody gets in, but waiters may queue */
    pol_sema_params_t z = {0, 1, 0};
    pol_sema_t zs = {0};
    CHECK(pol_sema_acquire(&zs, &z, &w[2], 0, 5) == POL_WAIT);
    CHECK(pol_sema_acquire(&zs, &z, &w[3], 0, 5) == POL_REJECT);
    CHECK(pol_sema_grant_next(&zs, &z) == NULL);
    pol_sema_cancel(&zs, &w[2]);
    CHECK(pol_sema_at_rest(&zs));
}

/* Reload: the caller changes the limit of a live semaphore. */
static void test_limit_changes(void)
{
    reset_waiters();
    pol_sema_params_t q = {2, 3, 0};
    pol_sema_t t = {0};
    CHECK(pol_sema_acquire(&t, &q, &w[0], 0, 9) == POL_ADMIT);
    CHECK(pol_sema_acquire(&t, &q, &w[1], 0, 9) == POL_ADMIT);
    CHECK(pol_sema_acquire(&t, &q, &w[2], 1, 9) == POL_WAIT);
    CHECK(pol_sema_acquire(&t, &q, &w[3], 2, 9) == POL_WAIT);
    CHECK(pol_sema_acquire(&t, &q, &w[4], 3, 9) == POL_WAIT);
    /* raised: waiters come in through grant_next, oldest first; a newcomer does not overtake */
    q.limit = 4;
    CHECK(pol_sema_acquire(&t, &q, &w[5], 4, 9) == POL_REJECT); /* room still full */
    CHECK(pol_sema_grant_next(&t, &q) == &w[2]);
    CHECK(pol_sema_acquire(&t, &q, &w[5], 4, 9) == POL_WAIT); /* behind w[3], w[4] */
    CHECK(pol_sema_grant_next(&t, &q) == &w[3]);
    CHECK(pol_sema_grant_next(&t, &q) == NULL); /* 4 in flight */
    CHECK_EQ_U64(t.in_flight, 4);
    CHECK_EQ_U64(t.queued, 2);
    /* lowered below in_flight: releases do not hand over until under the new limit */
    q.limit = 2;
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK_EQ_U64(t.in_flight, 2);
    CHECK(pol_sema_release(&t, &q) == &w[4]);
    CHECK_EQ_U64(t.in_flight, 2);
    /* switched to LIFO: the room is in arrival order, so the switch is seamless */
    q.lifo = 1;
    CHECK(pol_sema_acquire(&t, &q, &w[6], 5, 9) == POL_WAIT);
    CHECK(pol_sema_release(&t, &q) == &w[6]);
    CHECK(pol_sema_release(&t, &q) == &w[5]);
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK(pol_sema_at_rest(&t));
    /* queue_size lowered below the queued count: nobody new enters, those inside stay */
    pol_sema_params_t r = {1, 3, 0};
    pol_sema_t u = {0};
    CHECK(pol_sema_acquire(&u, &r, &w[0], 0, 9) == POL_ADMIT);
    CHECK(pol_sema_acquire(&u, &r, &w[1], 0, 9) == POL_WAIT);
    CHECK(pol_sema_acquire(&u, &r, &w[2], 0, 9) == POL_WAIT);
    r.queue_size = 1;
    CHECK(pol_sema_acquire(&u, &r, &w[3], 0, 9) == POL_REJECT);
    CHECK(pol_sema_release(&u, &r) == &w[1]);
    CHECK(pol_sema_release(&u, &r) == &w[2]);
    CHECK(pol_sema_release(&u, &r) == NULL);
}

static void test_pop_expired_both_orders(void)
{
    for (int lifo = 0; lifo != 2; ++lifo) {
        reset_waiters();
        pol_sema_params_t p = {1, 5, lifo};
        pol_sema_t s = {0};
        CHECK(pol_sema_pop_expired(&s, 1000) == NULL); /* on an all-zero semaphore */
        CHECK_EQ_U64(pol_sema_next_deadline(&s), UINT64_MAX);
        CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 0) == POL_ADMIT);
        /* same timeout (100) for all: arrival order is deadline order */
        for (int i = 1; i <= 4; ++i)
            CHECK(pol_sema_acquire(&s, &p, &w[i], 10 * (uint64_t)i, 10 * (uint64_t)i + 100) == POL_WAIT);
        CHECK_EQ_U64(pol_sema_next_deadline(&s), 110);
        CHECK(pol_sema_pop_expired(&s, 109) == NULL);
        CHECK(pol_sema_pop_expired(&s, 115) == &w[1]);
        CHECK(!pol_waiter_is_queued(&w[1]));
        CHECK(pol_sema_pop_expired(&s, 115) == NULL);
        CHECK_EQ_U64(pol_sema_next_deadline(&s), 120);
        pol_sema_cancel(&s, &w[2]); /* the head leaves early: the next one is the head */
        CHECK_EQ_U64(pol_sema_next_deadline(&s), 130);
        CHECK(pol_sema_pop_expired(&s, 500) == &w[3]);
        CHECK(pol_sema_pop_expired(&s, 500) == &w[4]);
        CHECK(pol_sema_pop_expired(&s, 500) == NULL);
        CHECK_EQ_U64(s.queued, 0);
        CHECK_EQ_U64(s.in_flight, 1); /* expiry never touches slots */
        CHECK(pol_sema_release(&s, &p) == NULL);
        CHECK(pol_sema_at_rest(&s));
    }
}

/* Random operations against a plain array model of the room, both orders. */
static void test_against_model(void)
{
    enum { N = 16 };
    for (int lifo = 0; lifo != 2; ++lifo) {
        pol_sema_params_t p = {3, 6, lifo};
        pol_sema_t s = {0};
        int state[N] = {0}; /* 0 idle, 1 holds a slot, 2 waits */
        int room[N], room_len = 0;
        uint32_t in_flight = 0;
        uint64_t now = 0;
        unsigned seed = 12345;
        reset_waiters();
        for (int step = 0; step != 20000; ++step) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 16) % N), op = (int)((seed >> 8) % 4);
            ++now;
            if (state[i] == 0) {
                pol_decision_t d = pol_sema_acquire(&s, &p, &w[i], now, now + 50);
                pol_decision_t want = in_flight < p.limit && room_len == 0 ? POL_ADMIT
                                      : room_len < (int)p.queue_size       ? POL_WAIT
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
                pol_waiter_t *next = pol_sema_release(&s, &p);
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
                pol_sema_cancel(&s, &w[i]);
                int k = 0;
                while (room[k] != i)
                    ++k;
                memmove(room + k, room + k + 1, (size_t)(room_len - k - 1) * sizeof(int));
                --room_len;
                state[i] = 0;
            } else if (op == 1) {
                for (pol_waiter_t *x; (x = pol_sema_pop_expired(&s, now)) != NULL;) {
                    CHECK(room_len > 0 && x == &w[room[0]]);
                    CHECK(x->deadline_ns <= now);
                    state[room[0]] = 0;
                    memmove(room, room + 1, (size_t)(room_len - 1) * sizeof(int));
                    --room_len;
                }
                CHECK(room_len == 0 || w[room[0]].deadline_ns > now);
            }
            CHECK_EQ_U64(s.in_flight, in_flight);
            CHECK_EQ_U64(s.queued, (uint64_t)room_len);
            CHECK(s.in_flight <= p.limit);
            CHECK(room_len == 0 || s.in_flight == p.limit); /* nobody waits beside a free slot */
        }
    }
}

static void release_twice(void *arg)
{
    (void)arg;
    pol_sema_params_t p = {2, 2, 0};
    pol_sema_t s = {0};
    pol_waiter_t x = {0};
    pol_sema_acquire(&s, &p, &x, 0, 0);
    pol_sema_release(&s, &p);
    pol_sema_release(&s, &p); /* the double release */
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
    test_no_queue_and_no_overtaking();
    test_limit_changes();
    test_pop_expired_both_orders();
    test_against_model();
    test_release_never_underflows();
    return CHECK_SUMMARY();
}
