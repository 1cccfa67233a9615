/* GCRA rate limiter (policies/pol_gcra.c) against a fake clock. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "pol_gcra.h"

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull

static void test_params(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 5);
    CHECK_EQ_U64(p.shift, 0); /* 100 ms: whole ns, no fraction needed */
    CHECK_EQ_U64(p.interval, 100 * MS);
    CHECK_EQ_U64(p.tolerance, 400 * MS);
    pol_gcra_params_init(&p, 3, S, 2);
    CHECK_EQ_U64(p.shift, 4); /* 333333333.33 ns: sixteenths of a ns */
    CHECK_EQ_U64(p.interval, 5333333333ull);
    CHECK_EQ_U64(p.tolerance, 5333333333ull);
    pol_gcra_params_init(&p, 0, 0, 0); /* nonsense is clamped, never divides by zero */
    CHECK_EQ_U64(p.count, 1);
    CHECK_EQ_U64(p.burst, 1);
    CHECK_EQ_U64(p.interval, 1);
}

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
        CHECK_EQ_U64(r.reset_ns, (uint64_t)(i + 1) * 100 * MS);
        CHECK_EQ_U64(r.retry_after_ns, 0);
        CHECK_EQ_U64(r.wait_ns, 0);
    }
    uint64_t tat = b.tat;
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(b.tat, tat); /* a reject costs nothing */
    CHECK_EQ_U64(r.retry_after_ns, 100 * MS);
    CHECK_EQ_U64(r.remaining, 0);
    CHECK_EQ_U64(r.limit, 5);
    CHECK_EQ_U64(r.reset_ns, 500 * MS);

    /* burst with a fractional interval: still exactly `burst` at once */
    for (uint32_t burst = 1; burst <= 50; ++burst) {
        pol_gcra_params_init(&p, 7, S, burst);
        pol_gcra_t c = {0};
        uint32_t admitted = 0;
        for (uint32_t i = 0; i != burst + 5; ++i)
            admitted += pol_gcra_take(&c, &p, now, 0, NULL) == POL_ADMIT;
        CHECK_EQ_U64(admitted, burst);
    }
}

/* For each setting, hammer a bucket: every rejection's retry_after is exact to the ns. */
static void test_retry_after_is_exact(void)
{
    static const struct {
        uint64_t count, period;
        uint32_t burst;
    } cases[] = {{3, S, 1}, {10, S, 5}, {7, S, 3}, {1000, 60 * S, 20}, {3, 3600 * S, 2}, {30000, S, 100}, {1, 1, 1}};
    for (size_t c = 0; c != sizeof(cases) / sizeof(cases[0]); ++c) {
        pol_gcra_params_t p;
        pol_gcra_params_init(&p, cases[c].count, cases[c].period, cases[c].burst);
        pol_gcra_t b = {0};
        uint64_t now = 50 * S + 12345;
        pol_gcra_result_t r;
        int rejects = 0;
        for (int i = 0; i != 200; ++i) {
            if (pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT)
                continue;
            ++rejects;
            uint64_t retry = r.retry_after_ns;
            CHECK(retry > 0);
            CHECK(pol_gcra_take(&b, &p, now + retry - 1, 0, &r) == POL_REJECT);
            CHECK_EQ_U64(r.retry_after_ns, 1);
            CHECK(pol_gcra_take(&b, &p, now + retry, 0, &r) == POL_ADMIT);
            now += retry;
        }
        CHECK(rejects > 0);
    }

    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 3, S, 1); /* 3/s: T = 333333333.33 ns */
    pol_gcra_t b = {0};
    uint64_t now = 50 * S;
    pol_gcra_result_t r;
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 333333334); /* rounded up to the next whole ns */
}

/* Requests every `step` ns over [0, duration]: returns how many were admitted. */
static uint64_t admitted_over(uint64_t count, uint64_t period, uint32_t burst, uint64_t step, uint64_t duration)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, count, period, burst);
    pol_gcra_t b = {0};
    uint64_t start = 7 * S + 333, admitted = 0;
    for (uint64_t t = 0; t <= duration; t += step)
        admitted += pol_gcra_take(&b, &p, start + t, 0, NULL) == POL_ADMIT;
    return admitted;
}

/* Over 10 s of saturating traffic, exactly rate*t + burst are admitted. */
static void test_accuracy_over_ten_seconds(void)
{
    CHECK_EQ_U64(admitted_over(100, S, 20, 100 * US, 10 * S), 100 * 10 + 20);
    CHECK_EQ_U64(admitted_over(6000, 60 * S, 1, 1 * MS, 10 * S), 1000 + 1); /* 6000/m = 100/s */
    /* T not a whole ns. Burst >= 2: with burst 1 there is no slack, and each arrival that comes
     * after its token was due (1 ms grid vs 333.33 ms) restarts the grid: 30 instead of 31 */
    CHECK_EQ_U64(admitted_over(3, S, 2, 1 * MS, 10 * S), 30 + 2);
    CHECK_EQ_U64(admitted_over(3, S, 1, 1 * MS, 10 * S), 30);
    CHECK_EQ_U64(admitted_over(7, S, 4, 1 * MS, 10 * S), 70 + 4);
    CHECK_EQ_U64(admitted_over(1000, 60 * S, 10, 1 * MS, 10 * S), 166 + 10);
    CHECK_EQ_U64(admitted_over(30000, S, 50, 10 * US, 10 * S), 300000 + 50);
    /* arrivals off the token grid (every 2.333333 ms against a token every 3 ms): burst + the
     * tokens earned by the last arrival, at 9.998331905 s */
    CHECK_EQ_U64(admitted_over(1000, 3 * S, 5, 2333333, 10 * S), 3332 + 5);

    /* very high rate (T = 333.33 ns): the sub-ns unit keeps the error far below 1% */
    uint64_t got = admitted_over(3000000, S, 100, 100, S);
    double err = ((double)got - (3000000.0 + 100)) / (3000000.0 + 100);
    printf("3M/s over 1 s: admitted %llu, relative error %.2e\n", (unsigned long long)got, err);
    CHECK(err >= 0 && err < 1e-4);
}

static void test_delay_mode(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1);
    pol_gcra_t b = {0};
    uint64_t now = 3 * S;
    pol_gcra_result_t r;
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 100 * MS);
    CHECK_EQ_U64(r.retry_after_ns, 0);
    CHECK_EQ_U64(r.remaining, 0);
    CHECK_EQ_U64(r.reset_ns, 200 * MS);
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 200 * MS);
    for (int i = 0; i != 3; ++i)
        CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 500 * MS); /* exactly max_delay: still a wait */
    /* the next one would wait 600 ms > max_delay: rejected, state unchanged */
    uint64_t tat = b.tat;
    CHECK(pol_gcra_take(&b, &p, now, 500 * MS, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 600 * MS);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK_EQ_U64(b.tat, tat);
    /* max_wait 0 means never wait */
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_REJECT);
    /* the reservations hold: 499 ms later nothing is free, 600 ms later one is */
    CHECK(pol_gcra_take(&b, &p, now + 599 * MS, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 1 * MS);
    CHECK(pol_gcra_take(&b, &p, now + 600 * MS, 0, &r) == POL_ADMIT);

    /* delays follow the token grid when the interval is fractional: 3/s, burst 2 */
    pol_gcra_params_init(&p, 3, S, 2);
    pol_gcra_t c = {0};
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 333333334);
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 666666667);
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, S);
    CHECK(pol_gcra_take(&c, &p, now, S, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 1333333334);
}

static void test_remaining_reset_and_at_rest(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 2, S, 4); /* 2/s, burst 4 */
    pol_gcra_t b = {0};
    uint64_t now = 100 * S;
    pol_gcra_result_t r;
    CHECK(pol_gcra_at_rest(&b, &p, now));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now), 4);
    CHECK(pol_gcra_peek(&b, &p, now, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.remaining, 4);
    CHECK_EQ_U64(r.reset_ns, 0);
    CHECK_EQ_U64(r.limit, 4);
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.remaining, 2);
    CHECK_EQ_U64(r.reset_ns, 1 * S);
    CHECK(!pol_gcra_at_rest(&b, &p, now));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now), 2);
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 499 * MS), 2);
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 500 * MS), 3);
    CHECK(pol_gcra_peek(&b, &p, now + 500 * MS, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.remaining, 3);
    CHECK_EQ_U64(r.reset_ns, 500 * MS);
    CHECK(!pol_gcra_at_rest(&b, &p, now + 1 * S - 1));
    CHECK(pol_gcra_at_rest(&b, &p, now + 1 * S));
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 1 * S), 4);
    CHECK_EQ_U64(pol_gcra_remaining(&b, &p, now + 5 * S), 4);

    /* empty bucket: peek says when, and does not take */
    for (int i = 0; i != 4; ++i)
        pol_gcra_take(&b, &p, now + 2 * S, 0, NULL);
    uint64_t tat = b.tat;
    CHECK(pol_gcra_peek(&b, &p, now + 2 * S, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 500 * MS);
    CHECK_EQ_U64(r.remaining, 0);
    CHECK_EQ_U64(r.reset_ns, 2 * S);
    CHECK_EQ_U64(b.tat, tat);
    CHECK(pol_gcra_peek(&b, &p, now + 2 * S, NULL) == POL_REJECT);

    /* fractional interval: reset rounds up to the ns at which the bucket is full */
    pol_gcra_params_init(&p, 3, S, 2);
    pol_gcra_t c = {0};
    pol_gcra_take(&c, &p, now, 0, NULL);
    CHECK(pol_gcra_take(&c, &p, now, 0, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.reset_ns, 666666667);
    CHECK(!pol_gcra_at_rest(&c, &p, now + 666666666));
    CHECK(pol_gcra_at_rest(&c, &p, now + 666666667));
    CHECK_EQ_U64(pol_gcra_remaining(&c, &p, now + 333333333), 0);
    CHECK_EQ_U64(pol_gcra_remaining(&c, &p, now + 333333334), 1);
}

/* A bucket idle for long is full, not more than full; a late clock start (large now) works. */
static void test_idle_and_large_times(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 7, S, 3);
    pol_gcra_t b = {0};
    uint64_t now = (1ull << 59) + 12345; /* 18 years of uptime */
    int admitted = 0;
    for (int i = 0; i != 10; ++i)
        admitted += pol_gcra_take(&b, &p, now, 0, NULL) == POL_ADMIT;
    CHECK_EQ_U64(admitted, 3);
    now += 3600 * S;
    admitted = 0;
    for (int i = 0; i != 10; ++i)
        admitted += pol_gcra_take(&b, &p, now, 0, NULL) == POL_ADMIT;
    CHECK_EQ_U64(admitted, 3);

    /* a huge max_wait piles reservations up without wrapping */
    pol_gcra_params_init(&p, 1, 3600 * S, 1);
    pol_gcra_t c = {0};
    pol_gcra_result_t r;
    CHECK(pol_gcra_take(&c, &p, now, UINT64_MAX, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&c, &p, now, UINT64_MAX, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 3600 * S);
}

/* Clamps of pol_gcra_params_init: zeros, sub-unit intervals, and T or the tolerance past 2^62
 * units (the bound that keeps now << shift plus either from wrapping). */
static void test_params_clamps(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 0, 0, 0);
    CHECK_EQ_U64(p.period_ns, 1);
    CHECK_EQ_U64(p.tolerance, 0);
    pol_gcra_params_init(&p, 7, 0, 2);
    CHECK_EQ_U64(p.period_ns, 1);
    CHECK_EQ_U64(p.count, 7);
    /* 1000 tokens per ns: T would round to 0 units; it is one unit */
    pol_gcra_params_init(&p, 1000, 1, 3);
    CHECK_EQ_U64(p.shift, 4);
    CHECK_EQ_U64(p.interval, 1);
    CHECK_EQ_U64(p.tolerance, 2);
    /* T past the bound: clamped to exactly 2^62 */
    pol_gcra_params_init(&p, 1, UINT64_MAX, 1);
    CHECK_EQ_U64(p.interval, 1ull << 62);
    CHECK_EQ_U64(p.tolerance, 0);
    pol_gcra_params_init(&p, 1, 1ull << 62, 1);
    CHECK_EQ_U64(p.interval, 1ull << 62);
    /* T within the bound, the tolerance past it */
    pol_gcra_params_init(&p, 1, 1ull << 61, 5);
    CHECK_EQ_U64(p.interval, 1ull << 61);
    CHECK_EQ_U64(p.tolerance, 1ull << 62);
    pol_gcra_params_init(&p, 1, 1ull << 60, 5);
    CHECK_EQ_U64(p.tolerance, 1ull << 62);
    pol_gcra_params_init(&p, 1, 1ull << 59, 9);
    CHECK_EQ_U64(p.tolerance, 1ull << 62);
    pol_gcra_params_init(&p, 1, 1ull << 59, 8);
    CHECK_EQ_U64(p.tolerance, 7ull << 59);
}

/* A clock that starts at 0 (a fake clock, or CLOCK_MONOTONIC on a fresh boot): a rested bucket
 * admits its whole burst at once. */
static void test_clock_starting_at_zero(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 3);
    pol_gcra_t b = {0};
    pol_gcra_result_t r;
    CHECK(pol_gcra_peek(&b, &p, 0, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.retry_after_ns, 0);
    for (int i = 0; i != 3; ++i) {
        CHECK(pol_gcra_take(&b, &p, 0, 0, &r) == POL_ADMIT);
        CHECK_EQ_U64(r.retry_after_ns, 0);
    }
    CHECK(pol_gcra_take(&b, &p, 0, 0, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 100 * MS);
}

/* max_wait is inclusive down to the ns: a wait of exactly 1 ns is allowed by max_wait 1. */
static void test_wait_of_one_ns(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1);
    pol_gcra_t b = {0};
    pol_gcra_result_t r;
    uint64_t now = 5 * S;
    CHECK(pol_gcra_take(&b, &p, now, 1, &r) == POL_ADMIT);
    CHECK(pol_gcra_take(&b, &p, now + 100 * MS - 2, 1, &r) == POL_REJECT);
    CHECK_EQ_U64(r.retry_after_ns, 2);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK(pol_gcra_take(&b, &p, now + 100 * MS - 1, 1, &r) == POL_WAIT);
    CHECK_EQ_U64(r.wait_ns, 1);
    CHECK_EQ_U64(r.retry_after_ns, 0);
}

/* The overflow guard: a take whose reservation would carry the TAT past 2^64 is refused and
 * leaves the bucket as it was; one that lands exactly on UINT64_MAX is still taken. */
static void test_reservations_never_wrap(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1); /* T = 100 ms, shift 0 */
    pol_gcra_result_t r;
    uint64_t now = 1000 * S;
    pol_gcra_t b = {UINT64_MAX - p.interval};
    CHECK(pol_gcra_take(&b, &p, now, UINT64_MAX, &r) == POL_WAIT);
    CHECK_EQ_U64(b.tat, UINT64_MAX);
    CHECK_EQ_U64(r.wait_ns, UINT64_MAX - p.interval - now);
    pol_gcra_t c = {UINT64_MAX - p.interval + 1};
    CHECK(pol_gcra_take(&c, &p, now, UINT64_MAX, &r) == POL_REJECT);
    CHECK_EQ_U64(c.tat, UINT64_MAX - p.interval + 1);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK_EQ_U64(r.retry_after_ns, UINT64_MAX - p.interval + 1 - now);

    /* piling reservations up with an unbounded max_wait ends in refusals, never in a wrap */
    pol_gcra_params_init(&p, 3, 1ull << 57, 1); /* shift 4, T = 2^61 / 3 units */
    pol_gcra_t d = {0};
    now = 1ull << 59;
    int waits = 0, rejects = 0;
    uint64_t last = 0;
    for (int i = 0; i != 20; ++i) {
        pol_decision_t dec = pol_gcra_take(&d, &p, now, UINT64_MAX, &r);
        waits += dec == POL_WAIT;
        rejects += dec == POL_REJECT;
        CHECK(d.tat >= last);
        last = d.tat;
    }
    CHECK_EQ_U64(waits, (UINT64_MAX - (now << 4)) / p.interval - 1);
    CHECK_EQ_U64(rejects, 20 - 1 - waits);

    /* at the very end of the clock range (now_ns just below 2^60) a take with a fractional T
     * would wrap at once: it is refused, bucket unchanged, with nothing to wait for */
    pol_gcra_params_init(&p, 3, S, 2);
    pol_gcra_t e = {0};
    now = (1ull << 60) - 1;
    CHECK(pol_gcra_take(&e, &p, now, UINT64_MAX, &r) == POL_REJECT);
    CHECK_EQ_U64(e.tat, 0);
    CHECK_EQ_U64(r.retry_after_ns, 0);
    CHECK_EQ_U64(r.wait_ns, 0);
}

/* peek agrees with take at every instant around the conformance time, with a fractional T
 * (units of 1/16 ns), and fills every field of the result. */
static void test_peek_agrees_with_take(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 3, S, 2); /* T = 333333333.33 ns */
    uint64_t now = 40 * S + 7;
    pol_gcra_t b = {0};
    pol_gcra_result_t r;
    memset(&r, 0xff, sizeof(r));
    CHECK(pol_gcra_peek(&b, &p, now, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK_EQ_U64(r.retry_after_ns, 0);
    CHECK_EQ_U64(r.remaining, 2);
    CHECK_EQ_U64(r.reset_ns, 0);
    pol_gcra_take(&b, &p, now, 0, NULL);
    pol_gcra_take(&b, &p, now, 0, NULL);
    memset(&r, 0xff, sizeof(r));
    CHECK(pol_gcra_peek(&b, &p, now, &r) == POL_REJECT);
    CHECK_EQ_U64(r.wait_ns, 0);
    CHECK_EQ_U64(r.retry_after_ns, 333333334);
    CHECK_EQ_U64(r.remaining, 0);
    CHECK_EQ_U64(r.reset_ns, 666666667);
    for (uint64_t t = now + 333333332; t != now + 333333337; ++t) {
        pol_gcra_t copy = b;
        pol_decision_t peeked = pol_gcra_peek(&b, &p, t, &r);
        CHECK(peeked == pol_gcra_take(&copy, &p, t, 0, NULL));
        CHECK(peeked == (t >= now + 333333334 ? POL_ADMIT : POL_REJECT));
        CHECK_EQ_U64(r.retry_after_ns, t >= now + 333333334 ? 0 : now + 333333334 - t);
    }
    /* the same for an integral T */
    pol_gcra_params_init(&p, 10, S, 1);
    pol_gcra_t c = {0};
    pol_gcra_take(&c, &p, now, 0, NULL);
    CHECK(pol_gcra_peek(&c, &p, now + 100 * MS - 1, NULL) == POL_REJECT);
    CHECK(pol_gcra_peek(&c, &p, now + 100 * MS, &r) == POL_ADMIT);
    CHECK_EQ_U64(r.retry_after_ns, 0);
    CHECK_EQ_U64(r.remaining, 1);
}

int main(void)
{
    test_params();
    test_burst_boundary();
    test_retry_after_is_exact();
    test_accuracy_over_ten_seconds();
    test_delay_mode();
    test_remaining_reset_and_at_rest();
    test_idle_and_large_times();
    test_params_clamps();
    test_clock_starting_at_zero();
    test_wait_of_one_ns();
    test_reservations_never_wrap();
    test_peek_agrees_with_take();
    return CHECK_SUMMARY();
}
