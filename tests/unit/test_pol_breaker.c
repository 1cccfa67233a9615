/* The circuit breaker (policies/pol_breaker.c): when it opens, what it refuses, its half-open
 * trials, outcomes that no longer count, the failure-rate window, and when it may be forgotten. */
#include "check.h"
#include "pol_breaker.h"

#define MS 1000000ull
#define S 1000000000ull

static pol_breaker_params_t params(uint32_t failures, uint64_t open_for_ns, uint32_t half_open)
{
    return (pol_breaker_params_t){.failures = failures, .open_for_ns = open_for_ns, .half_open = half_open};
}

/* Lets one request through at now and records its outcome; returns what record returned, or -1
 * when it was refused. */
static int run(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now, int failed)
{
    pol_breaker_ticket_t t;
    uint64_t retry;
    if (!pol_breaker_allow(b, p, now, &t, &retry))
        return -1;
    return pol_breaker_record(b, p, now, t, failed);
}

static void test_consecutive_failures_open_it(void)
{
    pol_breaker_params_t p = params(3, 10 * S, 1);
    pol_breaker_t b = {0};
    CHECK(run(&b, &p, 0, 1) == 0 && run(&b, &p, 1, 1) == 0);
    CHECK(run(&b, &p, 2, 0) == 0); /* a success in between starts the count again */
    CHECK(run(&b, &p, 3, 1) == 0 && run(&b, &p, 4, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 4), POL_BREAKER_CLOSED);
    CHECK(run(&b, &p, 5, 1) == 1); /* the third in a row opens it, and says so once */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 5), POL_BREAKER_OPEN);
    pol_breaker_ticket_t t;
    uint64_t retry;
    CHECK(!pol_breaker_allow(&b, &p, 5 + 2 * S, &t, &retry));
    CHECK_EQ_U64(retry, 8 * S);
    CHECK(!pol_breaker_allow(&b, &p, 5 + 10 * S - 1, &t, &retry) && retry == 1);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 5 + 10 * S), POL_BREAKER_HALF_OPEN);

    /* one failure is enough with failures: 1 */
    pol_breaker_params_t one = params(1, S, 1);
    pol_breaker_t c = {0};
    CHECK(run(&c, &one, 0, 1) == 1);
}

static void test_half_open_trials(void)
{
    pol_breaker_params_t p = params(1, S, 2);
    pol_breaker_t b = {0};
    CHECK(run(&b, &p, 0, 1) == 1);
    pol_breaker_ticket_t t1, t2, t3;
    uint64_t retry;
    CHECK(pol_breaker_allow(&b, &p, S, &t1, &retry) && t1.trial);
    CHECK(pol_breaker_allow(&b, &p, S, &t2, &retry) && t2.trial);
    CHECK(!pol_breaker_allow(&b, &p, S, &t3, &retry) && retry > 0); /* two trials at most */
    /* one trial never reached the upstream: its place is free again */
    pol_breaker_abandon(&b, t2);
    CHECK(pol_breaker_allow(&b, &p, S, &t3, &retry) && t3.trial);
    CHECK(pol_breaker_record(&b, &p, S + 1, t1, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 1), POL_BREAKER_HALF_OPEN);
    CHECK(pol_breaker_record(&b, &p, S + 2, t3, 0) == 0); /* the second success closes it */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 2), POL_BREAKER_CLOSED);
    CHECK(run(&b, &p, S + 3, 0) == 0);

    /* a failed trial opens it again, for a whole open_for from then */
    CHECK(run(&b, &p, 2 * S, 1) == 1);
    CHECK(pol_breaker_allow(&b, &p, 3 * S, &t1, &retry) && t1.trial);
    CHECK(pol_breaker_record(&b, &p, 3 * S + 5, t1, 1) == 1);
    CHECK(!pol_breaker_allow(&b, &p, 4 * S, &t2, &retry) && retry == 5);
    CHECK(pol_breaker_allow(&b, &p, 4 * S + 5, &t2, &retry) && t2.trial);
}

/* Outcomes of requests from before it opened, or from an earlier round, change nothing. */
static void test_stale_outcomes_do_not_count(void)
{
    pol_breaker_params_t p = params(2, S, 1);
    pol_breaker_t b = {0};
    pol_breaker_ticket_t early, slow, trial;
    uint64_t retry;
    CHECK(pol_breaker_allow(&b, &p, 0, &early, &retry));
    CHECK(pol_breaker_allow(&b, &p, 0, &slow, &retry));
    CHECK(run(&b, &p, 1, 1) == 0 && run(&b, &p, 2, 1) == 1);
    CHECK(pol_breaker_record(&b, &p, 3, early, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 3), POL_BREAKER_OPEN);
    CHECK(pol_breaker_allow(&b, &p, S + 2, &trial, &retry));
    /* a request of the closed period that ends now does not close (or reopen) it */
    CHECK(pol_breaker_record(&b, &p, S + 3, slow, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 3), POL_BREAKER_HALF_OPEN);
    pol_breaker_abandon(&b, early); /* not a trial: nothing given back */
    CHECK(!pol_breaker_allow(&b, &p, S + 3, &early, &retry));
    CHECK(pol_breaker_record(&b, &p, S + 4, trial, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 4), POL_BREAKER_CLOSED);
}

/* failure_rate: the share over the last window, once min_requests outcomes were seen. */
static void test_failure_rate(void)
{
    pol_breaker_params_t p = {
        .failures = 1000, .open_for_ns = S, .half_open = 1, .failure_rate = 50, .window_ns = 10 * S, .min_requests = 10};
    pol_breaker_t b = {0};
    uint64_t now = 100 * S;
    /* 4 failures in 8: the share is there, the count is not */
    for (int i = 0; i != 8; ++i)
        CHECK(run(&b, &p, now + i * MS, i % 2) == 0);
    CHECK(run(&b, &p, now + 8 * MS, 0) == 0); /* 4 in 9 */
    CHECK(run(&b, &p, now + 9 * MS, 1) == 1); /* 5 in 10: 50% */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, now + 9 * MS), POL_BREAKER_OPEN);

    /* outcomes older than the window do not count */
    pol_breaker_t c = {0};
    for (int i = 0; i != 9; ++i)
        CHECK(run(&c, &p, now + i * MS, 1) == 0);
    CHECK(run(&c, &p, now + 11 * S, 1) == 0); /* the nine are gone: 1 in 1 */
    CHECK(run(&c, &p, now + 12 * S, 0) == 0);
    /* under 50% at every step (49 of 100 at the end) is not enough */
    pol_breaker_t d = {0};
    for (int i = 0; i != 100; ++i)
        CHECK(run(&d, &p, now + i * MS, i % 2 == 1 && i != 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&d, &p, now + S), POL_BREAKER_CLOSED);
}

/* What allow hands out: 1 and a ticket (a trial's flagged 1, a closed breaker's 0) with no wait,
 * or 0 and how long to wait: while the trials are out, until one of them could be back (open_for,
 * at most a second). */
static void test_allow_answers(void)
{
    pol_breaker_params_t p = params(1, 10 * S, 2);
    pol_breaker_t b = {0};
    pol_breaker_ticket_t t1, t2, t3, t4;
    uint64_t retry = 123;
    CHECK(pol_breaker_allow(&b, &p, 0, &t1, &retry) == 1);
    CHECK(t1.trial == 0 && retry == 0);
    CHECK(pol_breaker_record(&b, &p, 0, t1, 1) == 1);
    retry = 123;
    CHECK(pol_breaker_allow(&b, &p, 10 * S, &t1, &retry) == 1);
    CHECK(t1.trial == 1 && retry == 0);
    /* a trial back frees its place: two more may go */
    CHECK(pol_breaker_record(&b, &p, 10 * S, t1, 0) == 0);
    CHECK(pol_breaker_allow(&b, &p, 10 * S, &t2, &retry) == 1 && t2.trial == 1);
    CHECK(pol_breaker_allow(&b, &p, 10 * S, &t3, &retry) == 1 && t3.trial == 1);
    CHECK(pol_breaker_allow(&b, &p, 10 * S, &t4, &retry) == 0);
    CHECK_EQ_U64(retry, S);
    /* t2 closes it; t3, still out, was a trial of that round: its failure does not count */
    CHECK(pol_breaker_record(&b, &p, 10 * S + 1, t2, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 10 * S + 1), POL_BREAKER_CLOSED);
    CHECK(pol_breaker_record(&b, &p, 10 * S + 2, t3, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 10 * S + 2), POL_BREAKER_CLOSED);

    /* open_for under a second: the wait for the trials is open_for */
    pol_breaker_params_t quick = params(1, S - 1, 1);
    pol_breaker_t c = {0};
    CHECK(run(&c, &quick, 0, 1) == 1);
    CHECK(pol_breaker_allow(&c, &quick, S - 1, &t1, &retry) == 1);
    CHECK(pol_breaker_allow(&c, &quick, S - 1, &t2, &retry) == 0);
    CHECK_EQ_U64(retry, S - 1);
    /* the only trial gives its place back */
    pol_breaker_abandon(&c, t1);
    CHECK(pol_breaker_allow(&c, &quick, S - 1, &t2, &retry) == 1);
}

/* A failed trial opens it again with a clean slate: the other trials of that round no longer
 * count, the next round has all its places and needs all its successes. */
static void test_failed_round_leaves_nothing(void)
{
    pol_breaker_params_t p = params(1, S, 2);
    pol_breaker_t b = {0};
    pol_breaker_ticket_t t1, t2, t3, t4, t5;
    uint64_t retry;
    CHECK(run(&b, &p, 0, 1) == 1);
    CHECK(pol_breaker_allow(&b, &p, S, &t1, &retry) && pol_breaker_allow(&b, &p, S, &t2, &retry));
    CHECK(pol_breaker_record(&b, &p, S, t1, 1) == 1);
    CHECK(pol_breaker_allow(&b, &p, 2 * S, &t3, &retry) && pol_breaker_allow(&b, &p, 2 * S, &t4, &retry));
    CHECK(!pol_breaker_allow(&b, &p, 2 * S, &t5, &retry));
    CHECK(pol_breaker_record(&b, &p, 2 * S, t2, 0) == 0); /* of the failed round */
    CHECK(pol_breaker_record(&b, &p, 2 * S, t3, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 2 * S), POL_BREAKER_HALF_OPEN);
    CHECK(pol_breaker_record(&b, &p, 2 * S, t4, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 2 * S), POL_BREAKER_CLOSED);
    /* a success, then a failure: the success is not carried into the next round */
    CHECK(run(&b, &p, 3 * S, 1) == 1);
    CHECK(pol_breaker_allow(&b, &p, 4 * S, &t1, &retry) && pol_breaker_allow(&b, &p, 4 * S, &t2, &retry));
    CHECK(pol_breaker_record(&b, &p, 4 * S, t1, 0) == 0 && pol_breaker_record(&b, &p, 4 * S, t2, 1) == 1);
    CHECK(pol_breaker_allow(&b, &p, 5 * S, &t3, &retry) && pol_breaker_allow(&b, &p, 5 * S, &t4, &retry));
    CHECK(pol_breaker_record(&b, &p, 5 * S, t3, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, 5 * S), POL_BREAKER_HALF_OPEN);
}

/* An outcome of a request let through before the breaker opened, ending after it closed again,
 * does not count in the new closed period. */
static void test_stale_outcome_after_closing(void)
{
    pol_breaker_params_t p = params(2, S, 1);
    pol_breaker_t b = {0};
    pol_breaker_ticket_t old;
    uint64_t retry;
    CHECK(pol_breaker_allow(&b, &p, 0, &old, &retry));
    CHECK(run(&b, &p, 1, 1) == 0 && run(&b, &p, 2, 1) == 1);
    CHECK(run(&b, &p, S + 2, 0) == 0); /* the trial closes it */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 2), POL_BREAKER_CLOSED);
    CHECK(pol_breaker_record(&b, &p, S + 3, old, 1) == 0);
    CHECK(run(&b, &p, S + 4, 1) == 0); /* one failure in a row, not two */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, S + 4), POL_BREAKER_CLOSED);
}

/* Closing starts afresh: no failure in a row, nothing in the rate window, the window's halves
 * counted from then. */
static void test_closing_starts_afresh(void)
{
    pol_breaker_params_t p = {
        .failures = 2, .open_for_ns = S, .half_open = 1, .failure_rate = 50, .window_ns = 10 * S, .min_requests = 3};
    pol_breaker_t b = {0};
    uint64_t now = 100 * S;
    CHECK(run(&b, &p, now, 1) == 0 && run(&b, &p, now, 1) == 1);
    CHECK(run(&b, &p, now + S, 0) == 0); /* the trial closes it */
    CHECK_EQ_U64(pol_breaker_state(&b, &p, now + S), POL_BREAKER_CLOSED);
    CHECK(pol_breaker_at_rest(&b, &p, now + S));
    /* one failure: neither two in a row nor three outcomes */
    CHECK(run(&b, &p, now + S + MS, 1) == 0);
    CHECK(run(&b, &p, now + S + 2 * MS, 0) == 0);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, now + S + 2 * MS), POL_BREAKER_CLOSED);
    /* those two count until a whole window after the close */
    CHECK(!pol_breaker_at_rest(&b, &p, now + 10 * S + 500 * MS));
    CHECK(!pol_breaker_at_rest(&b, &p, now + 11 * S - 1));
    CHECK(pol_breaker_at_rest(&b, &p, now + 11 * S));
}

/* The rate window in half-windows (of 5 s for 10 s): outcomes count through the half after their
 * own, not past it. */
static void test_failure_rate_halves(void)
{
    pol_breaker_params_t p = {
        .failures = 1000, .open_for_ns = S, .half_open = 1, .failure_rate = 50, .window_ns = 10 * S, .min_requests = 10};
    uint64_t now = 100 * S;
    /* nine failures, then a tenth 9 s later: they count together */
    pol_breaker_t b = {0};
    for (int i = 0; i != 9; ++i)
        CHECK(run(&b, &p, now + i * MS, 1) == 0);
    CHECK(run(&b, &p, now + 9 * S, 1) == 1);
    CHECK_EQ_U64(pol_breaker_state(&b, &p, now + 9 * S), POL_BREAKER_OPEN);
    /* the tenth 10 s later: the nine are out */
    pol_breaker_t c = {0};
    for (int i = 0; i != 9; ++i)
        CHECK(run(&c, &p, now + i * MS, 1) == 0);
    CHECK(run(&c, &p, now + 10 * S, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&c, &p, now + 10 * S), POL_BREAKER_CLOSED);
    /* the nine moved to the previous half at 6 s, and out of it at 20 s */
    pol_breaker_t d = {0};
    for (int i = 0; i != 9; ++i)
        CHECK(run(&d, &p, now + i * MS, 1) == 0);
    CHECK(run(&d, &p, now + 6 * S, 0) == 0);
    CHECK(run(&d, &p, now + 20 * S, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&d, &p, now + 20 * S), POL_BREAKER_CLOSED);
    /* both halves add up: 3 failures in 6, then 3 in 4 (6 in 10) */
    pol_breaker_t e = {0};
    for (int i = 0; i != 6; ++i)
        CHECK(run(&e, &p, now + i * MS, i % 2 == 0) == 0);
    CHECK(run(&e, &p, now + 6 * S, 0) == 0);
    CHECK(run(&e, &p, now + 6 * S + 1, 1) == 0 && run(&e, &p, now + 6 * S + 2, 1) == 0);
    CHECK(run(&e, &p, now + 6 * S + 3, 1) == 1);

    /* a rate of 1%: one failure in 100 */
    pol_breaker_params_t one = p;
    one.failure_rate = 1;
    pol_breaker_t f = {0};
    for (int i = 0; i != 99; ++i)
        CHECK(run(&f, &one, now + i * MS, 0) == 0);
    CHECK(run(&f, &one, now + S, 1) == 1);
    /* 67%: 2 in 3 is under it, 3 in 4 over */
    pol_breaker_params_t most = p;
    most.failure_rate = 67;
    most.min_requests = 3;
    pol_breaker_t g = {0};
    CHECK(run(&g, &most, now, 0) == 0 && run(&g, &most, now + 1, 1) == 0 && run(&g, &most, now + 2, 1) == 0);
    CHECK_EQ_U64(pol_breaker_state(&g, &most, now + 2), POL_BREAKER_CLOSED);
    CHECK(run(&g, &most, now + 3, 1) == 1);
}

/* The smallest window, 1 ns: halves of 1 ns, outcomes of the same instant count together. */
static void test_one_ns_window(void)
{
    pol_breaker_params_t p = {
        .failures = 1000, .open_for_ns = S, .half_open = 1, .failure_rate = 50, .window_ns = 1, .min_requests = 2};
    uint64_t now = 100 * S;
    pol_breaker_t b = {0};
    CHECK(run(&b, &p, now, 1) == 0 && run(&b, &p, now, 1) == 1);
    pol_breaker_t c = {0};
    CHECK(run(&c, &p, now, 1) == 0 && run(&c, &p, now + 1, 1) == 1);
    pol_breaker_t d = {0};
    CHECK(run(&d, &p, now, 1) == 0 && run(&d, &p, now + 2, 1) == 0);
}

static void test_at_rest(void)
{
    pol_breaker_params_t p = {
        .failures = 3, .open_for_ns = S, .half_open = 1, .failure_rate = 50, .window_ns = 10 * S, .min_requests = 10};
    pol_breaker_t b = {0};
    CHECK(pol_breaker_at_rest(&b, &p, 0));
    CHECK(run(&b, &p, S, 1) == 0);
    CHECK(!pol_breaker_at_rest(&b, &p, S)); /* a failure in a row */
    CHECK(run(&b, &p, 2 * S, 0) == 0);
    CHECK(!pol_breaker_at_rest(&b, &p, 2 * S)); /* the window still counts it */
    CHECK(pol_breaker_at_rest(&b, &p, 13 * S));
    CHECK(run(&b, &p, 20 * S, 1) == 0 && run(&b, &p, 20 * S, 1) == 0 && run(&b, &p, 20 * S, 1) == 1);
    CHECK(!pol_breaker_at_rest(&b, &p, 100 * S)); /* open, or half-open: never forgotten */
    /* one outcome in each half: counted until a whole window after the second half began */
    pol_breaker_t c = {0};
    CHECK(run(&c, &p, 100 * S, 0) == 0 && run(&c, &p, 106 * S, 0) == 0);
    CHECK(!pol_breaker_at_rest(&c, &p, 107 * S));
    CHECK(!pol_breaker_at_rest(&c, &p, 116 * S - 1));
    CHECK(pol_breaker_at_rest(&c, &p, 116 * S));
    /* an outcome exactly half a window after the first begins the second half */
    pol_breaker_t d = {0};
    CHECK(run(&d, &p, 100 * S, 0) == 0 && run(&d, &p, 105 * S, 0) == 0);
    CHECK(!pol_breaker_at_rest(&d, &p, 114 * S));
    CHECK(pol_breaker_at_rest(&d, &p, 115 * S));
}

int main(void)
{
    test_consecutive_failures_open_it();
    test_half_open_trials();
    test_stale_outcomes_do_not_count();
    test_failure_rate();
    test_allow_answers();
    test_failed_round_leaves_nothing();
    test_stale_outcome_after_closing();
    test_closing_starts_afresh();
    test_failure_rate_halves();
    test_one_ns_window();
    test_at_rest();
    return CHECK_SUMMARY();
}
