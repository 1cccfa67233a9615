/* Keyed tables (policies/pol_keyed.c): bounded, stable values, _missing / _overflow, eviction
 * of keys at rest only, memory per key. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

static int gcra_rest(const void *value, void *data, uint64_t now)
{
    return pol_gcra_at_rest(value, data, now);
}

static int sema_rest(const void *value, void *data, uint64_t now)
{
    (void)data;
    (void)now;
    return pol_sema_at_rest(value);
}

static void test_lookup_missing_overflow(void)
{
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_sema_t), 3, sema_rest, NULL, 42);
    pol_sema_t *a = pol_keyed_get(t, "alice", 5, 0);
    CHECK(a == pol_keyed_get(t, "alice", 5, 0));
    CHECK(a != pol_keyed_get(t, "alic", 4, 0));
    CHECK(pol_keyed_get(t, NULL, 0, 0) == pol_keyed_get(t, NULL, 0, 0)); /* _missing */
    CHECK_EQ_U64(pol_keyed_count(t), 2);

    pol_sema_params_t p = {1, 1, 0};
    pol_waiter_t w;
    pol_sema_t *b = pol_keyed_get(t, "bob", 3, 0);
    CHECK(pol_sema_acquire(a, &p, &w, 0, 0) == POL_ADMIT);
    CHECK(pol_sema_acquire(b, &p, &w, 0, 0) == POL_ADMIT);
    pol_sema_t *c = pol_keyed_get(t, "carol", 5, 0);
    CHECK(pol_sema_acquire(c, &p, &w, 0, 0) == POL_ADMIT);
    /* full of live keys: newcomers share _overflow */
    pol_sema_t *d = pol_keyed_get(t, "dave", 4, 0), *e = pol_keyed_get(t, "erin", 4, 0);
    CHECK(d == e);
    CHECK(d != a && d != b && d != c);
    CHECK_EQ_U64(pol_keyed_count(t), 3);
    /* bob goes back to rest: his place may be taken, alice and carol keep theirs */
    CHECK(pol_sema_release(b, &p) == NULL);
    pol_sema_t *f = pol_keyed_get(t, "frank", 5, 0);
    CHECK(f != d);
    CHECK(pol_keyed_get(t, "alice", 5, 0) == a && a->in_flight == 1);
    CHECK(pol_keyed_get(t, "carol", 5, 0) == c && c->in_flight == 1);
    pol_keyed_free(t);
}

/* Heavy churn of one-off keys never resets a live bucket. */
static void test_eviction_never_resets_live_keys(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 1, 1000000000ull, 2); /* 1/s, burst 2 */
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), 100, gcra_rest, &p, 7);
    uint64_t now = 1000000000000ull;
    pol_gcra_t *live = pol_keyed_get(t, "10.0.0.1", 8, now);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_ADMIT);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_ADMIT);
    char key[32];
    for (int i = 0; i != 100000; ++i) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        pol_gcra_t *b = pol_keyed_get(t, key, (size_t)n, now);
        pol_gcra_take(b, &p, now, 0, NULL); /* each churner becomes live too */
        now += 1000;                        /* 1 us apart: all within the live key's window */
    }
    CHECK(pol_keyed_get(t, "10.0.0.1", 8, now) == live);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_REJECT); /* still empty: not reset */
    CHECK(pol_keyed_count(t) <= 100);
    pol_keyed_free(t);
}

static void test_long_keys_and_memory_per_key(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, 1000000000ull, 1);
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), 2000000, gcra_rest, &p, 99);
    char long_key[100];
    memset(long_key, 'k', sizeof(long_key));
    pol_gcra_t *l1 = pol_keyed_get(t, long_key, sizeof(long_key), 0);
    long_key[99] = 'j';
    CHECK(pol_keyed_get(t, long_key, sizeof(long_key), 0) != l1);
    long_key[99] = 'k';
    CHECK(pol_keyed_get(t, long_key, sizeof(long_key), 0) == l1);
    pol_keyed_free(t);

    t = pol_keyed_new(sizeof(pol_gcra_t), 2000000, gcra_rest, &p, 99);
    char ip[40];
    const int n = 1000000;
    for (int i = 0; i != n; ++i) {
        int len = snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        pol_keyed_get(t, ip, (size_t)len, 0);
    }
    CHECK_EQ_U64(pol_keyed_count(t), n);
    double per_key = (double)pol_keyed_memory(t) / n;
    printf("memory per key (GCRA, 1M IPv4 keys): %.1f bytes\n", per_key);
    CHECK(per_key < 128);
    pol_keyed_free(t);
}

int main(void)
{
    test_lookup_missing_overflow();
    test_eviction_never_resets_live_keys();
    test_long_keys_and_memory_per_key();
    return CHECK_SUMMARY();
}
