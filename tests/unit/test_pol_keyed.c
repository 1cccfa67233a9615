/* Keyed tables (policies/pol_keyed.c): bounded, stable values, _missing / _overflow, eviction
 * of keys at rest only, removal, iteration, memory per key. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mallinfo2 */
#endif
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "alloc_hooks.h"
#include "check.h"
#include "child.h"
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

/* pol_sema_acquire without priorities: one level, nobody pushed out. */
static pol_decision_t acquire(pol_sema_t *s, const pol_sema_params_t *p, pol_waiter_t *w, uint64_t now)
{
    pol_waiter_t *evicted;
    return pol_sema_acquire(s, p, w, 0, now, &evicted);
}

#define S 1000000000ull

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

/* For tables of plain counters: always droppable. */
static int always_rest(const void *value, void *data, uint64_t now)
{
    (void)value;
    (void)data;
    (void)now;
    return 1;
}

static int key_of(char *buf, size_t size, const char *prefix, int i)
{
    return snprintf(buf, size, "%s%d", prefix, i);
}

static void test_lookup_missing_overflow(void)
{
    pol_keyed_t *t = pol_keyed_new(pol_sema_size(1), 3, sema_rest, NULL, 42);
    pol_sema_t *a = pol_keyed_get(t, "alice", 5, 0);
    CHECK(a == pol_keyed_get(t, "alice", 5, 0));
    CHECK(a == pol_keyed_find(t, "alice", 5));
    CHECK(pol_keyed_find(t, "alic", 4) == NULL);
    CHECK(a != pol_keyed_get(t, "alic", 4, 0)); /* a prefix is another key */
    CHECK(pol_keyed_get(t, NULL, 0, 0) == pol_keyed_missing(t));
    CHECK(pol_keyed_get(t, NULL, 0, 0) == pol_keyed_get(t, NULL, 0, 0));
    CHECK(pol_keyed_find(t, NULL, 0) == pol_keyed_missing(t));
    CHECK_EQ_U64(pol_keyed_count(t), 2); /* _missing is not a key */

    pol_sema_params_t p = {1, {1, 1, 0, 0}};
    pol_waiter_t w = {0};
    pol_sema_t *alic = pol_keyed_find(t, "alic", 4);
    CHECK(pol_keyed_remove_if_at_rest(t, alic, 0) == 1); /* at rest: dropped */
    CHECK(pol_keyed_find(t, "alic", 4) == NULL);
    CHECK_EQ_U64(pol_keyed_count(t), 1);
    pol_sema_t *b = pol_keyed_get(t, "bob", 3, 0);
    CHECK(acquire(a, &p, &w, 0) == POL_ADMIT);
    CHECK(acquire(b, &p, &w, 0) == POL_ADMIT);
    pol_sema_t *c = pol_keyed_get(t, "carol", 5, 0);
    CHECK(acquire(c, &p, &w, 0) == POL_ADMIT);
    CHECK(pol_keyed_remove_if_at_rest(t, c, 0) == 0); /* live: kept */
    /* full of live keys: newcomers share _overflow */
    pol_sema_t *d = pol_keyed_get(t, "dave", 4, 0), *e = pol_keyed_get(t, "erin", 4, 0);
    CHECK(d == e);
    CHECK(d == pol_keyed_overflow(t));
    CHECK(d != a && d != b && d != c && d != pol_keyed_missing(t));
    CHECK(pol_keyed_find(t, "dave", 4) == NULL);
    CHECK_EQ_U64(pol_keyed_count(t), 3);
    CHECK(pol_keyed_remove_if_at_rest(t, d, 0) == 0); /* shared values stay */
    CHECK(pol_keyed_remove_if_at_rest(t, pol_keyed_missing(t), 0) == 0);
    /* the overflow value is a real semaphore, shared */
    pol_sema_params_t no_room = {1, {0, 1, 0, 0}};
    CHECK(acquire(d, &no_room, &w, 0) == POL_ADMIT);
    CHECK(acquire(e, &no_room, &w, 0) == POL_REJECT);
    CHECK(pol_sema_release(d, &no_room) == NULL);
    /* bob goes back to rest: his place may be taken, alice and carol keep theirs */
    CHECK(pol_sema_release(b, &p) == NULL);
    pol_sema_t *f = pol_keyed_get(t, "frank", 5, 0);
    CHECK(f != d);
    CHECK(pol_sema_at_rest(f)); /* created zeroed */
    CHECK(pol_keyed_find(t, "bob", 3) == NULL);
    CHECK(pol_keyed_get(t, "alice", 5, 0) == a && a->in_flight == 1);
    CHECK(pol_keyed_get(t, "carol", 5, 0) == c && c->in_flight == 1);
    CHECK_EQ_U64(pol_keyed_count(t), 3);
    pol_keyed_free(t);

    /* max_keys 0: everyone shares _overflow */
    t = pol_keyed_new(pol_sema_size(1), 0, sema_rest, NULL, 1);
    CHECK(pol_keyed_get(t, "x", 1, 0) == pol_keyed_overflow(t));
    CHECK_EQ_U64(pol_keyed_count(t), 0);
    pol_keyed_free(t);
    pol_keyed_free(NULL);
}

/* Keys that differ only near the inline/heap boundary, in the last byte, or by length; the
 * empty key is a key, not a missing one. */
static void test_distinct_keys(void)
{
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 1000, always_rest, NULL, 5);
    char k[200];
    memset(k, 'k', sizeof(k));
    uint64_t *v[200];
    for (size_t len = 0; len != 100; ++len) {
        v[len] = pol_keyed_get(t, k, len, 0);
        *v[len] = len + 1;
    }
    CHECK(pol_keyed_get(t, "", 0, 0) != pol_keyed_missing(t));
    for (size_t len = 0; len != 100; ++len)
        CHECK(pol_keyed_get(t, k, len, 0) == v[len] && *v[len] == len + 1);
    for (size_t len = 1; len != 100; ++len) {
        k[len - 1] = 'j'; /* same length, last byte differs */
        uint64_t *x = pol_keyed_get(t, k, len, 0);
        CHECK(x != v[len]);
        CHECK(*x == 0);
        k[len - 1] = 'k';
    }
    CHECK_EQ_U64(pol_keyed_count(t), 100 + 99);
    /* the table keeps its own copy */
    char copy[64];
    memset(copy, 'z', sizeof(copy));
    uint64_t *z = pol_keyed_get(t, copy, sizeof(copy), 0);
    memset(copy, 'y', sizeof(copy));
    memset(copy, 'z', sizeof(copy));
    CHECK(pol_keyed_find(t, copy, sizeof(copy)) == z);
    pol_keyed_free(t);
}

typedef struct {
    int keys, shared, found_long;
    uint64_t sum;
} visit_t;

static void visit(const char *key, size_t len, void *value, int shared, void *data)
{
    visit_t *v = data;
    if (shared) {
        CHECK_EQ_U64(shared, 1);
        ++v->shared;
        CHECK((len == 8 && memcmp(key, "_missing", 8) == 0) || (len == 9 && memcmp(key, "_overflow", 9) == 0));
        return;
    }
    ++v->keys;
    v->sum += *(uint64_t *)value;
    if (len == 100 && key[0] == 'L' && key[99] == 'L')
        ++v->found_long;
}

static void test_foreach(void)
{
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 1000, always_rest, NULL, 9);
    char k[100];
    uint64_t expected = 0;
    for (int i = 0; i != 500; ++i) {
        int n = key_of(k, sizeof(k), "key-", i);
        *(uint64_t *)pol_keyed_get(t, k, (size_t)n, 0) = (uint64_t)i;
        expected += (uint64_t)i;
    }
    memset(k, 'L', sizeof(k));
    *(uint64_t *)pol_keyed_get(t, k, sizeof(k), 0) = 1000;
    expected += 1000;
    /* removed keys are not visited */
    int n = key_of(k, sizeof(k), "key-", 7);
    CHECK(pol_keyed_remove_if_at_rest(t, pol_keyed_find(t, k, (size_t)n), 0) == 1);
    expected -= 7;
    visit_t v = {0};
    pol_keyed_foreach(t, visit, &v);
    CHECK_EQ_U64(v.shared, 2);
    CHECK_EQ_U64(v.keys, 500);
    CHECK_EQ_U64(v.found_long, 1);
    CHECK_EQ_U64(v.sum, expected);
    pol_keyed_free(t);
}

/* Values never move while the table grows (index rebuilt many times). */
static void test_stable_pointers(void)
{
    enum { N = 20000 };
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), N, always_rest, NULL, 77);
    static uint64_t *ptr[N];
    char k[64];
    for (int i = 0; i != N; ++i) {
        /* a third of the keys are long (on the heap) */
        int n = key_of(k, sizeof(k), i % 3 ? "10.1." : "a-rather-long-header-value-well-over-forty-bytes-", i);
        ptr[i] = pol_keyed_get(t, k, (size_t)n, 0);
        *ptr[i] = (uint64_t)i * 7 + 1;
        CHECK(((uintptr_t)ptr[i] & 7) == 0);
    }
    CHECK_EQ_U64(pol_keyed_count(t), N);
    int bad = 0;
    for (int i = 0; i != N; ++i) {
        int n = key_of(k, sizeof(k), i % 3 ? "10.1." : "a-rather-long-header-value-well-over-forty-bytes-", i);
        bad += pol_keyed_get(t, k, (size_t)n, 0) != ptr[i] || *ptr[i] != (uint64_t)i * 7 + 1;
    }
    CHECK_EQ_U64(bad, 0);
    pol_keyed_free(t);
}

/* Heavy churn of one-off keys never resets a live bucket, and at-rest keys are recycled. */
static void test_eviction_never_resets_live_keys(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 1, S, 2); /* 1/s, burst 2 */
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), 100, gcra_rest, &p, 7);
    uint64_t now = 1000 * S;
    pol_gcra_t *live = pol_keyed_get(t, "10.0.0.1", 8, now);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_ADMIT);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_ADMIT);
    char key[32];
    /* all churners live within the live key's window: the table fills, then _overflow */
    for (int i = 0; i != 100000; ++i) {
        int n = key_of(key, sizeof(key), "client-", i);
        pol_gcra_t *b = pol_keyed_get(t, key, (size_t)n, now);
        pol_gcra_take(b, &p, now, 0, NULL);
        now += 1000; /* 1 us apart */
    }
    CHECK(pol_keyed_get(t, "10.0.0.1", 8, now) == live);
    CHECK(pol_gcra_take(live, &p, now, 0, NULL) == POL_REJECT); /* still empty: not reset */
    CHECK_EQ_U64(pol_keyed_count(t), 100);

    /* now churners come to rest 1 s after their take, while the live key is kept in debt:
     * churners replace each other, the live key survives with exactly the state a private
     * copy of it has */
    pol_gcra_t shadow = *live;
    uint64_t overflowed = 0;
    for (int i = 0; i != 200000; ++i) {
        now += 50000000; /* 50 ms: 40 churners in flight at a time, below max_keys */
        if (i % 20 == 0) {
            CHECK(pol_keyed_get(t, "10.0.0.1", 8, now) == live);
            CHECK(pol_gcra_take(live, &p, now, 0, NULL) == pol_gcra_take(&shadow, &p, now, 0, NULL));
            CHECK(!pol_gcra_at_rest(live, &p, now));
        }
        int n = key_of(key, sizeof(key), "churn-", i);
        pol_gcra_t *b = pol_keyed_get(t, key, (size_t)n, now);
        overflowed += b == pol_keyed_overflow(t);
        pol_gcra_take(b, &p, now, 0, NULL);
    }
    CHECK(pol_keyed_get(t, "10.0.0.1", 8, now) == live);
    CHECK_EQ_U64(live->tat, shadow.tat);
    CHECK(overflowed < 200000 / 100); /* almost every churner found an at-rest place */
    CHECK(pol_keyed_count(t) <= 100);
    printf("churn: %llu of 200000 keys shared _overflow\n", (unsigned long long)overflowed);
    pol_keyed_free(t);
}

/* Semaphores with waiters linked in them survive churn: their memory never moves or resets. */
static void test_live_semaphores_survive_churn(void)
{
    enum { MAX = 64, LIVE = 32 };
    pol_sema_params_t p = {1, {4, 1, 0, 0}};
    pol_keyed_t *t = pol_keyed_new(pol_sema_size(1), MAX, sema_rest, NULL, 3);
    pol_sema_t *held[LIVE];
    static pol_waiter_t waiters[LIVE][3];
    char key[32];
    for (int i = 0; i != LIVE; ++i) {
        int n = key_of(key, sizeof(key), "user-", i);
        held[i] = pol_keyed_get(t, key, (size_t)n, 0);
        CHECK(acquire(held[i], &p, &waiters[i][0], 0) == POL_ADMIT);
        CHECK(acquire(held[i], &p, &waiters[i][1], 0) == POL_WAIT);
        CHECK(acquire(held[i], &p, &waiters[i][2], 0) == POL_WAIT);
    }
    pol_waiter_t tmp = {0};
    for (int i = 0; i != 100000; ++i) {
        int n = key_of(key, sizeof(key), "passer-", i);
        pol_sema_t *s = pol_keyed_get(t, key, (size_t)n, 1);
        if (acquire(s, &p, &tmp, 1) == POL_ADMIT) {
            CHECK(pol_sema_release(s, &p) == NULL);
            if (i % 2)
                pol_keyed_remove_if_at_rest(t, s, 1); /* half are dropped at once, half evicted later */
        } else {
            pol_sema_cancel(s, &tmp);
        }
    }
    CHECK(pol_keyed_count(t) <= MAX);
    for (int i = 0; i != LIVE; ++i) {
        int n = key_of(key, sizeof(key), "user-", i);
        CHECK(pol_keyed_get(t, key, (size_t)n, 2) == held[i]);
        CHECK_EQ_U64(held[i]->in_flight, 1);
        CHECK_EQ_U64(held[i]->room.queued, 2);
        CHECK(pol_sema_release(held[i], &p) == &waiters[i][1]);
        CHECK(pol_sema_release(held[i], &p) == &waiters[i][2]);
        CHECK(pol_sema_release(held[i], &p) == NULL);
        CHECK(pol_keyed_remove_if_at_rest(t, held[i], 2) == 1);
    }
    pol_keyed_free(t);
}

/* Removal puts entries on a free list: a table that keeps dropping its keys does not grow. */
static void test_remove_reuses_memory(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1);
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), 100000, gcra_rest, &p, 11);
    char key[32];
    size_t mem = 0;
    for (int i = 0; i != 50000; ++i) {
        int n = key_of(key, sizeof(key), "k", i);
        pol_gcra_t *b = pol_keyed_get(t, key, (size_t)n, 0);
        CHECK(pol_gcra_at_rest(b, &p, 0));
        CHECK(pol_keyed_remove_if_at_rest(t, b, 0) == 1);
        CHECK(pol_keyed_remove_if_at_rest(t, b, 0) == 0); /* already gone */
        if (i == 10)
            mem = pol_keyed_memory(t);
    }
    CHECK_EQ_U64(pol_keyed_count(t), 0);
    CHECK_EQ_U64(pol_keyed_memory(t), mem);
    pol_keyed_free(t);
}

static void test_memory_per_key(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 10, S, 1);
    const int n = 1000000;
    char ip[48];
    struct mallinfo2 before = mallinfo2();
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), 2000000, gcra_rest, &p, 99);
    for (int i = 0; i != n; ++i) {
        int len = snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        pol_keyed_get(t, ip, (size_t)len, 0);
    }
    struct mallinfo2 after = mallinfo2();
    CHECK_EQ_U64(pol_keyed_count(t), n);
    double per_key = (double)pol_keyed_memory(t) / n;
    double heap_per_key = (double)(after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) / n;
    printf("memory per key (GCRA, 1M IPv4 keys): %.1f bytes (heap in use: %.1f bytes)\n", per_key, heap_per_key);
    CHECK(per_key < 128);
    CHECK(per_key <= 64 + 8);  /* pol_keyed.h: 64 + 4..8 bytes for a GCRA bucket */
    CHECK(heap_per_key < 128); /* 0 under valgrind, whose malloc mallinfo2 does not see */
    pol_keyed_free(t);

    /* semaphores, IPv6 text keys */
    t = pol_keyed_new(pol_sema_size(1), 2000000, sema_rest, NULL, 99);
    for (int i = 0; i != n; ++i) {
        int len = snprintf(ip, sizeof(ip), "2001:db8:85a3::8a2e:%x:%x", (i >> 16) & 0xffff, i & 0xffff);
        pol_keyed_get(t, ip, (size_t)len, 0);
    }
    per_key = (double)pol_keyed_memory(t) / n;
    printf("memory per key (semaphore, 1M IPv6 keys): %.1f bytes\n", per_key);
    CHECK(per_key < 128);
    CHECK(per_key <= 56 + pol_sema_size(1) + 8);
    pol_keyed_free(t);
}

static void new_table_without_memory(void *arg)
{
    fail_next[*(int *)arg] = 1;
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 10, always_rest, NULL, 1);
    pol_keyed_get(t, "key", 3, 0);
}

static void long_key_without_memory(void *arg)
{
    (void)arg;
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 10, always_rest, NULL, 1);
    char key[POL_KEYED_INLINE_KEY + 1];
    memset(key, 'x', sizeof(key));
    pol_keyed_get(t, "short", 5, 0);
    fail_next[ALLOC_MALLOC] = 1;
    pol_keyed_get(t, key, sizeof(key), 0);
}

/* Every allocation the table makes ends the process with one message when it fails, never a
 * NULL used later: the table itself, its index, the shared values, the chunk list, a chunk, a
 * long key. */
static void test_out_of_memory_aborts(void)
{
    static const int kinds[] = {ALLOC_CALLOC, ALLOC_MALLOC, ALLOC_REALLOC, ALLOC_ALIGNED};
    for (size_t i = 0; i != sizeof(kinds) / sizeof(kinds[0]); ++i)
        CHECK(aborts_saying(new_table_without_memory, (void *)&kinds[i], "sluice: out of memory\n"));
    CHECK(aborts_saying(long_key_without_memory, NULL, "sluice: out of memory\n"));
}

/* pol_keyed_memory is the bytes the table has allocated, exactly: as it grows (index rebuilt,
 * new chunks, a longer chunk list), with keys on both sides of the inline limit, with odd value
 * sizes, and as long keys are dropped, reused and evicted. */
static void test_memory_is_exact(void)
{
    static const size_t value_sizes[] = {1, 8, 9, 24};
    for (size_t v = 0; v != sizeof(value_sizes) / sizeof(value_sizes[0]); ++v) {
        counted_bytes = 0;
        counting = 1;
        pol_keyed_t *t = pol_keyed_new(value_sizes[v], 2000, always_rest, NULL, 3);
        CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
        char key[100];
        void *values[1500];
        for (int i = 0; i != 1500; ++i) {
            /* lengths 3 .. 99: inline up to POL_KEYED_INLINE_KEY bytes, then on the heap */
            size_t len = 3 + (size_t)i % 97;
            memset(key, 'a' + i % 26, len);
            key[0] = (char)(i >> 8);
            key[1] = (char)i;
            values[i] = pol_keyed_get(t, key, len, 0);
            CHECK(((uintptr_t)values[i] & 7) == 0);
            memset(values[i], 0x5a, value_sizes[v]); /* the whole value is the caller's */
            if (i % 100 == 99 || i < 20)
                CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
        }
        CHECK_EQ_U64(pol_keyed_count(t), 1500);
        CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
        for (int i = 0; i != 1500; i += 3)
            CHECK(pol_keyed_remove_if_at_rest(t, values[i], 0) == 1);
        CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
        for (int i = 0; i != 1200; ++i) { /* reuses the 500 freed entries, adds 500, then evicts */
            size_t len = 30 + (size_t)i % 20;
            memset(key, 'z', len);
            snprintf(key, len, "again-%d", i);
            pol_keyed_get(t, key, len, 0);
        }
        CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
        pol_keyed_free(t);
        CHECK_EQ_U64(counted_bytes, 0);
        counting = 0;
    }
}

/* A key of exactly POL_KEYED_INLINE_KEY bytes is stored inline, one more byte on the heap; both
 * are dropped cleanly (the inline one has no heap copy to free). */
static void test_inline_limit(void)
{
    counted_bytes = 0;
    counting = 1;
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 10, always_rest, NULL, 4);
    size_t empty = pol_keyed_memory(t);
    char key[POL_KEYED_INLINE_KEY + 1];
    memset(key, 'i', sizeof(key));
    uint64_t *in = pol_keyed_get(t, key, POL_KEYED_INLINE_KEY, 0);
    size_t with_inline = pol_keyed_memory(t);
    uint64_t *out = pol_keyed_get(t, key, POL_KEYED_INLINE_KEY + 1, 0);
    CHECK_EQ_U64(pol_keyed_memory(t), with_inline + POL_KEYED_INLINE_KEY + 1);
    CHECK(in != out);
    CHECK(pol_keyed_remove_if_at_rest(t, in, 0) == 1);
    CHECK_EQ_U64(pol_keyed_memory(t), with_inline + POL_KEYED_INLINE_KEY + 1);
    CHECK(pol_keyed_remove_if_at_rest(t, out, 0) == 1);
    CHECK_EQ_U64(pol_keyed_memory(t), with_inline);
    CHECK_EQ_U64(pol_keyed_memory(t), counted_bytes);
    CHECK(with_inline > empty);
    pol_keyed_free(t);
    CHECK_EQ_U64(counted_bytes, 0);
    counting = 0;
}

/* Keys in buffers of exactly their length (a sanitizer build sees any read past either end),
 * for every length across the hash's cases (0, 1..3, 4..16, 17 and up). */
static void test_keys_in_exact_buffers(void)
{
    pol_keyed_t *t = pol_keyed_new(sizeof(uint64_t), 1000, always_rest, NULL, 8);
    uint64_t *v[80];
    for (size_t len = 0; len != 80; ++len) {
        char *key = malloc(len ? len : 1);
        for (size_t i = 0; i != len; ++i)
            key[i] = (char)('A' + (i * 7 + len) % 26);
        v[len] = pol_keyed_get(t, key, len, 0);
        *v[len] = len;
        CHECK(pol_keyed_find(t, key, len) == v[len]);
        free(key);
    }
    for (size_t len = 0; len != 80; ++len) {
        char *key = malloc(len ? len : 1);
        for (size_t i = 0; i != len; ++i)
            key[i] = (char)('A' + (i * 7 + len) % 26);
        CHECK(pol_keyed_get(t, key, len, 0) == v[len] && *v[len] == len);
        CHECK(pol_keyed_remove_if_at_rest(t, v[len], 0) == 1);
        CHECK(pol_keyed_find(t, key, len) == NULL);
        free(key);
    }
    CHECK_EQ_U64(pol_keyed_count(t), 0);
    pol_keyed_free(t);
}

/* The shared values are real, zeroed, writable values of value_size bytes, distinct from each
 * other; a key longer than 2^32 - 1 bytes shares _overflow (and is never read). */
static void test_shared_values(void)
{
    pol_keyed_t *t = pol_keyed_new(24, 10, always_rest, NULL, 5);
    unsigned char *missing = pol_keyed_missing(t), *overflow = pol_keyed_overflow(t);
    CHECK(missing != NULL && overflow != NULL && missing != overflow);
    for (int i = 0; i != 24; ++i)
        CHECK(missing[i] == 0 && overflow[i] == 0);
    memset(missing, 1, 24);
    memset(overflow, 2, 24);
    CHECK(pol_keyed_get(t, NULL, 0, 0) == missing && missing[23] == 1);
    char one = 'x';
    CHECK(pol_keyed_get(t, &one, (size_t)UINT32_MAX + 1, 0) == overflow);
    CHECK(pol_keyed_find(t, &one, (size_t)UINT32_MAX + 1) == NULL);
    CHECK_EQ_U64(pol_keyed_count(t), 0);
    pol_keyed_free(t);
}

typedef struct {
    int rest;
    int unused;
} flagged_t;

static int flagged_rest(const void *value, void *data, uint64_t now)
{
    (void)data;
    (void)now;
    return ((const flagged_t *)value)->rest;
}

/* Against a model of the clock hand: when the table is full, a new key takes the place of the
 * first at-rest entry among the POL_KEYED_EVICT_SCAN entries from the hand, in storage order,
 * and the hand moves past it (or past the entries it looked at); else the key shares
 * _overflow. Entries never move, so the new key's value is the victim's, zeroed. */
static void test_clock_hand_model(void)
{
    enum { M = 40 };
    pol_keyed_t *t = pol_keyed_new(sizeof(flagged_t), M, flagged_rest, NULL, 6);
    flagged_t *slot[M];
    char key[32];
    for (int i = 0; i != M; ++i) {
        int n = key_of(key, sizeof(key), "m", i);
        slot[i] = pol_keyed_get(t, key, (size_t)n, 0);
    }
    for (int i = 1; i != M; ++i)
        CHECK(slot[i] != slot[i - 1]);
    unsigned hand = 0, rng = 12345;
    int placed = 0, overflowed = 0;
    for (int round = 0; round != 3000; ++round) {
        for (int i = 0; i != M; ++i) {
            rng = rng * 1103515245u + 12345u;
            slot[i]->rest = (rng >> 16) % 23 == 0;
        }
        if (round % 7 == 0) /* sometimes only the entry just out of the hand's reach, or just in it */
            for (int i = 0; i != M; ++i)
                slot[i]->rest = (unsigned)i == (hand + POL_KEYED_EVICT_SCAN - (round % 2)) % M;
        int victim = -1;
        for (unsigned j = 0; j != POL_KEYED_EVICT_SCAN; ++j) {
            unsigned idx = (hand + j) % M;
            if (slot[idx]->rest) {
                victim = (int)idx;
                break;
            }
        }
        hand = victim >= 0 ? ((unsigned)victim + 1) % M : (hand + POL_KEYED_EVICT_SCAN) % M;
        int n = key_of(key, sizeof(key), "new", round);
        flagged_t *got = pol_keyed_get(t, key, (size_t)n, 0);
        if (victim >= 0) {
            CHECK(got == slot[victim]);
            CHECK(got->rest == 0);
            ++placed;
        } else {
            CHECK(got == pol_keyed_overflow(t));
            ++overflowed;
        }
        CHECK_EQ_U64(pol_keyed_count(t), M);
        for (int i = 0; i != M; ++i)
            slot[i]->rest = 0;
    }
    CHECK(placed > 1000 && overflowed > 300);
    pol_keyed_free(t);
}

int main(void)
{
    test_lookup_missing_overflow();
    test_distinct_keys();
    test_foreach();
    test_stable_pointers();
    test_eviction_never_resets_live_keys();
    test_live_semaphores_survive_churn();
    test_remove_reuses_memory();
    test_memory_per_key();
    test_out_of_memory_aborts();
    test_memory_is_exact();
    test_inline_limit();
    test_keys_in_exact_buffers();
    test_shared_values();
    test_clock_hand_model();
    return CHECK_SUMMARY();
}
