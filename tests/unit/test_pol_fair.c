/* Fair shares of a bucket (policies/pol_fair.c): each key paced at rate / keys as keys come and
 * go over windows, and a simulation of a drained bucket: many greedy keys and one modest one. */
#include "check.h"
#include "pol_fair.h"

#define S 1000000000ull
#define MS 1000000ull

static void test_share_per_key(void)
{
    pol_fair_t f = {0};
    pol_fair_key_t a = {0}, b = {0};
    uint64_t now = 100 * S;
    /* 10/s for one key: a token every 100 ms */
    CHECK(pol_fair_under_share(&f, &a, 10, S, now));
    pol_fair_took(&a, now);
    CHECK(!pol_fair_under_share(&f, &a, 10, S, now + 99 * MS));
    CHECK(pol_fair_under_share(&f, &a, 10, S, now + 100 * MS));
    pol_fair_took(&a, now + 100 * MS);
    /* a second key: 5/s each, a token every 200 ms from the next one on */
    CHECK(pol_fair_under_share(&f, &b, 10, S, now + 150 * MS));
    CHECK_EQ_U64(pol_fair_keys(&f, now + 150 * MS), 2);
    pol_fair_took(&b, now + 150 * MS);
    CHECK(!pol_fair_under_share(&f, &b, 10, S, now + 349 * MS));
    CHECK(pol_fair_under_share(&f, &b, 10, S, now + 350 * MS));
    CHECK(pol_fair_under_share(&f, &a, 10, S, now + 200 * MS));
    pol_fair_took(&a, now + 200 * MS);
    CHECK_EQ_U64(a.tat, now + 400 * MS);
    /* a token taken late is due an interval after it was taken, not before */
    pol_fair_took(&b, now + 900 * MS);
    CHECK_EQ_U64(b.tat, now + 1100 * MS);
    /* the next window still counts both (the window before); two windows of silence from b: a
     * alone again, and b may be forgotten */
    CHECK(pol_fair_under_share(&f, &a, 10, S, now + S + 500 * MS));
    CHECK_EQ_U64(pol_fair_keys(&f, now + S + 500 * MS), 2);
    CHECK(pol_fair_under_share(&f, &a, 10, S, now + 3 * S));
    CHECK_EQ_U64(pol_fair_keys(&f, now + 3 * S), 1);
    CHECK(pol_fair_key_at_rest(&b, now + 3 * S) && !pol_fair_key_at_rest(&a, now + 3 * S));
    CHECK(!pol_fair_key_at_rest(&b, now + S));
    CHECK_EQ_U64(pol_fair_keys(&f, now + 10 * S), 0);
    /* a share below one token a second: 30/m for one key, a token every 2 s */
    pol_fair_t g = {0};
    pol_fair_key_t c = {0};
    CHECK(pol_fair_under_share(&g, &c, 30, 60 * S, now));
    pol_fair_took(&c, now);
    CHECK(!pol_fair_under_share(&g, &c, 30, 60 * S, now + 1999 * MS));
    CHECK(pol_fair_under_share(&g, &c, 30, 60 * S, now + 2 * S));
}

/* The keys counted between questions: those of the window before count through the next one,
 * not the one after. */
static void test_keys_between_questions(void)
{
    pol_fair_t f = {0};
    pol_fair_key_t a = {0}, b = {0}, c = {0};
    uint64_t now = 100 * S;
    CHECK(pol_fair_under_share(&f, &a, 10, S, now));
    CHECK(pol_fair_under_share(&f, &b, 10, S, now + 1));
    CHECK(pol_fair_under_share(&f, &c, 10, S, now + 2));
    CHECK_EQ_U64(pol_fair_keys(&f, now + 500 * MS), 3);
    CHECK_EQ_U64(pol_fair_keys(&f, now + S), 3);
    CHECK_EQ_U64(pol_fair_keys(&f, now + 2 * S - 1), 3);
    CHECK_EQ_U64(pol_fair_keys(&f, now + 2 * S), 0);
    CHECK_EQ_U64(pol_fair_keys(&f, now + 3 * S), 0);
}

/* A key may be forgotten from the second window after its last question on, once its next token
 * is due, and not a nanosecond before either. */
static void test_at_rest_bounds(void)
{
    pol_fair_t f = {0};
    pol_fair_key_t slow = {0}, fast = {0};
    uint64_t now = 100 * S;
    CHECK(pol_fair_under_share(&f, &slow, 1, S, now)); /* alone: a token every second */
    pol_fair_took(&slow, now);
    CHECK(pol_fair_under_share(&f, &fast, 20, S, now)); /* two keys: every 100 ms */
    pol_fair_took(&fast, now);
    CHECK_EQ_U64(slow.tat, now + S);
    CHECK_EQ_U64(fast.tat, now + 100 * MS);
    /* the next window: both still count among the keys, though fast's token is due */
    CHECK(!pol_fair_key_at_rest(&fast, now + S + 500 * MS));
    CHECK(!pol_fair_key_at_rest(&fast, now + 2 * S - 1));
    CHECK(pol_fair_key_at_rest(&fast, now + 2 * S));
    /* a token due exactly at the start of the second window */
    pol_fair_key_t late = {0};
    CHECK(pol_fair_under_share(&f, &late, 3, 2 * S, now)); /* three keys: every 2 s */
    pol_fair_took(&late, now);
    CHECK_EQ_U64(late.tat, now + 2 * S);
    CHECK(!pol_fair_key_at_rest(&late, now + 2 * S - 1));
    CHECK(pol_fair_key_at_rest(&late, now + 2 * S));
}

/* A rate of 0 tokens is taken as 1 (no division by zero), and a share so small that its spacing
 * would not fit is spaced by half the clock's range, so that a due date never wraps. */
static void test_spacing_bounds(void)
{
    uint64_t now = 100 * S, half = UINT64_MAX / 2;
    pol_fair_t f = {0};
    pol_fair_key_t k = {0};
    CHECK(pol_fair_under_share(&f, &k, 0, 3 * S, now));
    CHECK_EQ_U64(k.interval_ns, 3 * S);
    /* 1 token per 8e18 ns: that far apart, no clamp */
    pol_fair_t g = {0};
    pol_fair_key_t a = {0};
    CHECK(pol_fair_under_share(&g, &a, 1, 8000000000000000000ull, now));
    pol_fair_took(&a, now);
    CHECK_EQ_U64(a.tat, now + 8000000000000000000ull);
    CHECK(!pol_fair_under_share(&g, &a, 1, 8000000000000000000ull, now + 8000000000000000000ull - 1));
    CHECK(pol_fair_under_share(&g, &a, 1, 8000000000000000000ull, now + 8000000000000000000ull));
    /* 1 per 2^63 ns, and 1 per 2^64 - 1 ns: spaced by 2^63 - 1 */
    uint64_t periods[] = {half + 1, UINT64_MAX};
    for (int i = 0; i != 2; ++i) {
        pol_fair_t h = {0};
        pol_fair_key_t b = {0};
        CHECK(pol_fair_under_share(&h, &b, 1, periods[i], now));
        CHECK_EQ_U64(b.interval_ns, half);
        pol_fair_took(&b, now);
        CHECK_EQ_U64(b.tat, now + half);
        CHECK(!pol_fair_under_share(&h, &b, 1, periods[i], now + half - 1));
        CHECK(pol_fair_under_share(&h, &b, 1, periods[i], now + half));
    }
}

/* 16 greedy keys (asking every ms, at their own phase) and one that wants 4/s share an 80/s bucket
 * of burst 20, drained below half: each greedy key gets about 80/17, the modest one all it asks. */
static void test_greedy_keys_leave_the_modest_one_its_need(void)
{
    pol_fair_t f = {0};
    pol_fair_key_t keys[17] = {{0}};
    uint64_t taken[17] = {0}, asked_modest = 0, bucket = 20, start = 10 * S, end = 20 * S;
    for (uint64_t t = start; t < end; t += MS) {
        if ((t / MS) % 25 == 0 || (t / MS) % 25 == 12)
            bucket += bucket < 20; /* 80/s */
        for (int k = 0; k != 17; ++k) {
            int modest = k == 16;
            if (modest && (t / MS) % 250 != 100)
                continue; /* 4/s */
            if (!modest && (t / MS + k) % 3 != 0)
                continue; /* each greedy key asks every 3 ms, at its own phase */
            asked_modest += modest;
            int under = pol_fair_under_share(&f, &keys[k], 80, S, t);
            if (bucket != 0 && (under || bucket * 2 >= 20)) {
                pol_fair_took(&keys[k], t);
                ++taken[k];
                --bucket;
            }
        }
    }
    CHECK(taken[16] == asked_modest);
    for (int k = 0; k != 16; ++k)
        CHECK(taken[k] <= 10 * 80 / 16 + 20); /* the greedy ones split the rest */
}

int main(void)
{
    test_share_per_key();
    test_keys_between_questions();
    test_at_rest_bounds();
    test_spacing_bounds();
    test_greedy_keys_leave_the_modest_one_its_need();
    return CHECK_SUMMARY();
}
