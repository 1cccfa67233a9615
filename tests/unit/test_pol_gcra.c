/* GCRA rate limiter (policies/pol_gcra.c) against a fake clock. */
#include "check.h"
#include "pol_gcra.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_burst_boundary(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 5); /* 10/s, burst 5 */
    pol_gcra_t b = {0};
    uint64_t now = 1000 * S;
    pol_gcra_result_t r;
    for (int i = 0; i != 5; ++i) {
        CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT);
        CHECK_EQ_U64(r.remaining, 4 - i);
    }
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 100 * MS);
    CHECK_EQ_U64(r.remaining, 0);
    CHECK_EQ_U64(r.limit, 5);
    CHECK_EQ_U64(r.reset_ns, 500 * MS);
}

static void test_retry_after_is_exact(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 3, S, 1); /* 3/s: T = 333333333 ns */
    pol_gcra_t b = {0};
    uint64_t now = 50 * S;
    pol_gcra_result_t r;
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_REJECT);
    uint64_t retry = r.retry_after_ns;
    CHECK_EQ_U64(retry, 333333333);
    CHECK(pol_gcra_take(&b, &p, now + retry - 1, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 1);
    CHECK(pol_gcra_take(&b, &p, now + retry, 0, &r) == POL_ADMIT);
}

/* Over 10 s of requests arriving every 100 us, exactly rate*t + burst are admitted. */
static void test_accuracy_over_ten_seconds(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 100, S, 20);
    pol_gcra_t b = {0};
    uint64_t start = 7 * S, admitted = 0;
    for (uint64_t t = 0; t <= 10 * S; t += 100000) /* arrivals over [0, 10 s] */
        admitted += pol_gcra_take(&b, &p, start + t, 0, NULL) == POL_ADMIT;
    CHECK_EQ_U64(admitted, 100 * 10 + 20);

    pol_gcra_params_init(&p, 6000, 60 * S, 1); /* 6000/m = 100/s, burst 1 */
    b.tat_ns = 0;
    admitted = 0;
    for (uint64_t t = 0; t < 10 * S; t += 1 * MS)
        admitted += pol_gcra_take(&b, &p, start + t, 0, NULL) == POL_ADMIT;
    CHECK_EQ_U64(admitted, 1000); /* t=0, 10 ms, ..., 9.99 s */
}

static void test_delay_mode(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1);
    pol_gcra_t b = {0};
    uint64_t now = 3 * S;
    pol_gcra_result_t r;
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 100 * MS);
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 200 * MS);
    for (int i = 0; i != 3; ++i)
        CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 500 * MS);
    /* the next one would wait 600 ms > max_delay: rejected, state unchanged */
    uint64_t tat = b.tat_ns;
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 600 * MS);
    CHECK_EQ_U64(b.tat_ns, tat);
}

static void test_at_rest_and_remaining(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 2, S, 4);
    pol_gcra_t b = {0};
    uint64_t now = 100 * S;
    CHECK(pol_gcra_at_rest(&b, &p, now));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now), 4);
    CHECK(pol_gcra_take(&b, &p, now, 0, NULL) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now, 0, NULL) == POL_ADMIT);
    CHECK(!pol_gcra_at_rest(&b, &p, now));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now), 2);
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 500 * MS), 3);
    CHECK(!pol_gcra_at_rest(&b, &p, now + 999 * MS));
    CHECK(pol_gcra_at_rest(&b, &p, now + 1000 * MS));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 5 * S), 4);
}

int main(void)
{
    test_burst_boundary();
    test_retry_after_is_exact();
    test_accuracy_over_ten_seconds();
    test_delay_mode();
    test_at_rest_and_remaining();
    return CHECK_SUMMARY();
}
