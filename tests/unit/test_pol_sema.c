/* Semaphore with a waiting room (policies/pol_sema.c). */
#include "check.h"
#include "pol_sema.h"

static pol_waiter_t w[8];

static void test_fifo(void)
{
    pol_sema_params_t p = {2, 3, 0};
    pol_sema_t s = {0};
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 100) == POL_ADMIT);
    CHECK(pol_sema_acquire(&s, &p, &w[1], 0, 100) == POL_ADMIT);
    CHECK(pol_sema_acquire(&s, &p, &w[2], 1, 101) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[3], 2, 102) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[4], 3, 103) == POL_WAIT);
    CHECK(pol_sema_acquire(&s, &p, &w[5], 4, 104) == POL_REJECT); /* room full */
    CHECK_EQ_U64(s.in_flight, 2);
    CHECK_EQ_U64(s.queued, 3);
    /* releases hand the slot to the oldest waiter; in_flight stays at the limit */
    CHECK(pol_sema_release(&s, &p) == &w[2]);
    CHECK_EQ_U64(s.in_flight, 2);
    CHECK(pol_sema_release(&s, &p) == &w[3]);
    CHECK(pol_sema_release(&s, &p) == &w[4]);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK(pol_sema_at_rest(&s));
}

static void test_lifo_and_cancel_from_the_middle(void)
{
    pol_sema_params_t p = {1, 4, 1};
    pol_sema_t s = {0};
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 10) == POL_ADMIT);
    for (int i = 1; i <= 4; ++i)
        CHECK(pol_sema_acquire(&s, &p, &w[i], (uint64_t)i, 10 + (uint64_t)i) == POL_WAIT);
    pol_sema_cancel(&s, &w[2]); /* from the middle */
    CHECK(!pol_waiter_is_queued(&w[2]));
    CHECK_EQ_U64(s.queued, 3);
    pol_sema_cancel(&s, &w[2]); /* twice: no effect */
    CHECK_EQ_U64(s.queued, 3);
    CHECK(pol_sema_acquire(&s, &p, &w[5], 5, 15) == POL_WAIT); /* the freed place is usable */
    CHECK(pol_sema_release(&s, &p) == &w[5]);                  /* newest first */
    CHECK(pol_sema_release(&s, &p) == &w[4]);
    CHECK(pol_sema_release(&s, &p) == &w[3]);
    CHECK(pol_sema_release(&s, &p) == &w[1]);
    CHECK(pol_sema_release(&s, &p) == NULL);
    CHECK(pol_sema_at_rest(&s));
}

static void test_no_queue_and_no_overtaking(void)
{
    pol_sema_params_t p = {1, 0, 0};
    pol_sema_t s = {0};
    CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 0) == POL_ADMIT);
    CHECK(pol_sema_acquire(&s, &p, &w[1], 0, 0) == POL_REJECT); /* size 0: reject at once */

    pol_sema_params_t q = {2, 2, 0};
    pol_sema_t t = {0};
    CHECK(pol_sema_acquire(&t, &q, &w[0], 0, 9) == POL_ADMIT);
    CHECK(pol_sema_acquire(&t, &q, &w[1], 0, 9) == POL_ADMIT);
    CHECK(pol_sema_acquire(&t, &q, &w[2], 0, 9) == POL_WAIT);
    /* lowering happens at reload; raising the limit lets waiters in through grant_next */
    q.limit = 3;
    CHECK(pol_sema_grant_next(&t, &q) == &w[2]);
    CHECK(pol_sema_grant_next(&t, &q) == NULL);
    CHECK_EQ_U64(t.in_flight, 3);
    /* lowered below in_flight: releases do not hand over until under the new limit */
    q.limit = 1;
    CHECK(pol_sema_acquire(&t, &q, &w[3], 0, 9) == POL_WAIT);
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK(pol_sema_release(&t, &q) == NULL);
    CHECK_EQ_U64(t.in_flight, 1);
    CHECK(pol_sema_release(&t, &q) == &w[3]);
    CHECK_EQ_U64(t.in_flight, 1);
}

static void test_pop_expired_both_orders(void)
{
    for (int lifo = 0; lifo != 2; ++lifo) {
        pol_sema_params_t p = {1, 5, lifo};
        pol_sema_t s = {0};
        CHECK(pol_sema_acquire(&s, &p, &w[0], 0, 0) == POL_ADMIT);
        CHECK(pol_sema_acquire(&s, &p, &w[1], 10, 110) == POL_WAIT);
        CHECK(pol_sema_acquire(&s, &p, &w[2], 20, 120) == POL_WAIT);
        CHECK(pol_sema_pop_expired(&s, 109) == NULL);
        CHECK(pol_sema_pop_expired(&s, 115) == &w[1]);
        CHECK(pol_sema_pop_expired(&s, 115) == NULL);
        CHECK(pol_sema_pop_expired(&s, 500) == &w[2]);
        CHECK_EQ_U64(s.queued, 0);
    }
}

int main(void)
{
    test_fifo();
    test_lifo_and_cancel_from_the_middle();
    test_no_queue_and_no_overtaking();
    test_pop_expired_both_orders();
    return CHECK_SUMMARY();
}
