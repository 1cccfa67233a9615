/* Local bookkeeping of global limits (policies/pol_global.c): batch sizing, leased tokens,
 * refills, "empty until" and the on_error share. The Lua side runs against a real Redis in
 * tests/integration/test_redis_global.py. */
#include "check.h"
#include "pol_global.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_batch_is_sized_to_the_rate(void)
{
    pol_lease_params_t p;
    /* 10k/s over 3 instances: 50 ms of one instance's share is 166 tokens, below the burst share */
    pol_lease_params_init(&p, 10000, S, 1000, 3);
    CHECK_EQ_U64(p.batch, 166);
    CHECK_EQ_U64(p.low_water, 41);
    CHECK(p.interval_us > 99.99 && p.interval_us < 100.01);
    CHECK(p.capacity_us > 99999.0 && p.capacity_us < 100001.0);
    /* a small burst caps the batch at the instance's share of it */
    pol_lease_params_init(&p, 10000, S, 30, 3);
    CHECK_EQ_U64(p.batch, 10);
    /* slow rates lease one token at a time: never more than the instance could spend */
    pol_lease_params_init(&p, 100, S, 10, 3);
    CHECK_EQ_U64(p.batch, 1);
    CHECK_EQ_U64(p.low_water, 0);
    pol_lease_params_init(&p, 5, 60 * S, 1, 1);
    CHECK_EQ_U64(p.batch, 1);
    /* zeros are taken as 1 rather than dividing by zero */
    pol_lease_params_init(&p, 0, S, 0, 0);
    CHECK_EQ_U64(p.batch, 1);
}

static void test_tokens_are_spent_then_refilled(void)
{
    pol_lease_params_t p;
    pol_lease_params_init(&p, 10000, S, 1000, 1); /* batch 500, refill at 125 left */
    pol_lease_t l = {0};
    CHECK(pol_lease_at_rest(&l, 0));
    CHECK(!pol_lease_take(&l, 0));
    CHECK(pol_lease_wants_refill(&l, &p, 0));
    l.fetching = 1;
    CHECK(!pol_lease_wants_refill(&l, &p, 0)); /* one request in flight at a time */
    CHECK(!pol_lease_at_rest(&l, 0));
    l.fetching = 0;
    pol_lease_granted(&l, 10 * MS, 500, 0);
    CHECK_EQ_U64(l.tokens, 500);
    CHECK(!pol_lease_at_rest(&l, 10 * MS));
    int spent = 0;
    while (!pol_lease_wants_refill(&l, &p, 11 * MS) && pol_lease_take(&l, 11 * MS))
        ++spent;
    CHECK_EQ_U64(spent, 375); /* down to the low-water mark */
    CHECK_EQ_U64(l.tokens, 125);
    /* a refill adds to what is left and restarts the lifetime */
    pol_lease_granted(&l, 20 * MS, 500, 0);
    CHECK_EQ_U64(l.tokens, 625);
    CHECK_EQ_U64(l.expires_ns, 20 * MS + POL_LEASE_LIFETIME_NS);
}

static void test_unspent_tokens_expire(void)
{
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 10, 0);
    CHECK(pol_lease_take(&l, POL_LEASE_LIFETIME_NS - 1));
    CHECK(!pol_lease_take(&l, POL_LEASE_LIFETIME_NS)); /* void from the lifetime on */
    CHECK(pol_lease_at_rest(&l, POL_LEASE_LIFETIME_NS));
    /* a grant after expiry does not revive the old tokens */
    pol_lease_granted(&l, 2 * POL_LEASE_LIFETIME_NS, 3, 0);
    CHECK_EQ_U64(l.tokens, 3);
}

static void test_empty_bucket_is_remembered(void)
{
    pol_lease_params_t p;
    pol_lease_params_init(&p, 100, S, 10, 1);
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 0, 7 * MS);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 0), 7 * MS);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 5 * MS), 2 * MS);
    CHECK(!pol_lease_wants_refill(&l, &p, 5 * MS)); /* no point asking before then */
    CHECK(!pol_lease_at_rest(&l, 5 * MS));
    CHECK_EQ_U64(pol_lease_empty_for(&l, 7 * MS), 0);
    CHECK(pol_lease_wants_refill(&l, &p, 7 * MS));
    CHECK(pol_lease_at_rest(&l, 7 * MS));
    /* a refusal without a retry time still blocks for a moment rather than spinning */
    pol_lease_granted(&l, 10 * MS, 0, 0);
    CHECK(pol_lease_empty_for(&l, 10 * MS) > 0);
    /* a grant clears it */
    pol_lease_granted(&l, 11 * MS, 1, 0);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 11 * MS), 0);
}

static void test_tokens_in_hand_outlive_an_empty_bucket(void)
{
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 2, 0);
    pol_lease_granted(&l, 1 * MS, 0, 7 * MS); /* the background refill found Redis empty */
    CHECK(pol_lease_empty_for(&l, 1 * MS) > 0);
    CHECK(pol_lease_has_tokens(&l, 1 * MS)); /* the two leased are still ours to spend */
    CHECK(pol_lease_take(&l, 2 * MS) && pol_lease_take(&l, 2 * MS));
    CHECK(!pol_lease_has_tokens(&l, 2 * MS));
    CHECK(!pol_lease_take(&l, 2 * MS));
}

static void test_local_share(void)
{
    CHECK_EQ_U64(pol_global_local_share(10, 3), 4);
    CHECK_EQ_U64(pol_global_local_share(9, 3), 3);
    CHECK_EQ_U64(pol_global_local_share(1, 5), 1);
    CHECK_EQ_U64(pol_global_local_share(0, 5), 1);
    CHECK_EQ_U64(pol_global_local_share(7, 0), 7);
}

static void test_scripts_are_present(void)
{
    for (int i = 0; i != POL_GLOBAL_SCRIPT_COUNT; ++i) {
        CHECK(pol_global_scripts[i] != NULL);
        CHECK(strstr(pol_global_scripts[i], "redis.call('TIME')") != NULL); /* the server's clock, never ours */
    }
}

/* Zeros are clamped to 1 in every derived value, and the batch never exceeds a million tokens
 * however fast the rate (a lease is one Redis reply). */
static void test_params_clamps_and_batch_cap(void)
{
    pol_lease_params_t p;
    pol_lease_params_init(&p, 0, S, 0, 0); /* 1 token per second, burst 1, 1 instance */
    CHECK(p.interval_us > 999999.9 && p.interval_us < 1000000.1);
    CHECK(p.capacity_us > 999999.9 && p.capacity_us < 1000000.1);
    /* 10k/s, burst 1000: 500 tokens per lifetime for a single instance (0 taken as 1) */
    pol_lease_params_init(&p, 10000, S, 1000, 0);
    CHECK_EQ_U64(p.batch, 500);
    CHECK_EQ_U64(p.low_water, 125);
    /* 1e9/s with a burst of 1e9: 5e7 tokens per lifetime, capped at 1e6 */
    pol_lease_params_init(&p, 1000000000, S, 1000000000, 1);
    CHECK_EQ_U64(p.batch, 1000000);
    CHECK_EQ_U64(p.low_water, 250000);
    /* just under the cap: 999999 tokens per lifetime */
    pol_lease_params_init(&p, 999999, POL_LEASE_LIFETIME_NS, 1000000000, 1);
    CHECK_EQ_U64(p.batch, 999999);
}

/* Expiry is exact to the ns: at expires_ns the tokens are void, a refill is due, and a grant
 * replaces them instead of adding to them. */
static void test_lease_expiry_instant(void)
{
    pol_lease_params_t p;
    pol_lease_params_init(&p, 10000, S, 1000, 1); /* low water 125 */
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 400, 0);
    CHECK_EQ_U64(pol_lease_take(&l, 0), 1);
    CHECK(!pol_lease_wants_refill(&l, &p, POL_LEASE_LIFETIME_NS - 1));
    CHECK(pol_lease_wants_refill(&l, &p, POL_LEASE_LIFETIME_NS));
    CHECK(!pol_lease_at_rest(&l, POL_LEASE_LIFETIME_NS - 1));
    CHECK(pol_lease_at_rest(&l, POL_LEASE_LIFETIME_NS));
    pol_lease_granted(&l, POL_LEASE_LIFETIME_NS, 3, 0);
    CHECK_EQ_U64(l.tokens, 3);
    CHECK_EQ_U64(pol_lease_take(&l, POL_LEASE_LIFETIME_NS), 1);
}

/* A lease spent to zero before it expires is at rest (nothing to lose); one token left is not. */
static void test_spent_lease_is_at_rest(void)
{
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 2, 0);
    CHECK(pol_lease_take(&l, 1));
    CHECK(!pol_lease_at_rest(&l, 1)); /* one token still ours */
    CHECK(pol_lease_take(&l, 1));
    CHECK(pol_lease_at_rest(&l, 1));
    CHECK_EQ_U64(pol_lease_take(&l, 1), 0);
}

/* A grant that arrives while Redis was known empty clears that at once, even at the same ns;
 * a refusal without a retry time blocks for exactly one ns (the next look asks again). */
static void test_grant_clears_empty_at_once(void)
{
    pol_lease_t l = {0};
    pol_lease_granted(&l, 0, 0, 7 * MS);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 0), 7 * MS);
    pol_lease_granted(&l, 0, 5, 0);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 0), 0);
    CHECK_EQ_U64(l.empty_until_ns, 0);
    pol_lease_granted(&l, 3 * MS, 0, 0);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 3 * MS), 1);
    CHECK_EQ_U64(pol_lease_empty_for(&l, 3 * MS + 1), 0);
}

int main(void)
{
    test_batch_is_sized_to_the_rate();
    test_tokens_are_spent_then_refilled();
    test_unspent_tokens_expire();
    test_empty_bucket_is_remembered();
    test_tokens_in_hand_outlive_an_empty_bucket();
    test_local_share();
    test_scripts_are_present();
    test_params_clamps_and_batch_cap();
    test_lease_expiry_instant();
    test_spent_lease_is_at_rest();
    test_grant_clears_empty_at_once();
    return CHECK_SUMMARY();
}
