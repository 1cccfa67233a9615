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
    test_greedy_keys_leave_the_modest_one_its_need();
    return CHECK_SUMMARY();
}
