/*
 * Microbenchmark of the admission engine (policies/): nanoseconds per decision, measured with
 * clock_gettime over many iterations (best of 3 runs), and bytes per live key.
 * Build optimized (the default debugoptimized is -O2) and run on an idle machine:
 *   ./build/bench/bench_policies
 * Target (DESIGN.md): a local admission decision under 100 ns; under 128 bytes per live key.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

#define S 1000000000ull
#define KEY_LEN 16 /* "10.x.y.z" padded with NULs: keys are read from a flat array */

static volatile uint64_t sink;

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * S + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void report(const char *name, uint64_t iterations, uint64_t best_ns, const char *note)
{
    printf("| %-44s | %10llu | %8.1f | %s\n", name, (unsigned long long)iterations, (double)best_ns / (double)iterations, note);
}

#define BEST_OF_3(best, ...)                                                                                                       \
    do {                                                                                                                           \
        best = UINT64_MAX;                                                                                                         \
        for (int run_ = 0; run_ != 3; ++run_) {                                                                                    \
            uint64_t start_ = clock_ns();                                                                                          \
            __VA_ARGS__;                                                                                                           \
            uint64_t took_ = clock_ns() - start_;                                                                                  \
            if (took_ < best)                                                                                                      \
                best = took_;                                                                                                      \
        }                                                                                                                          \
    } while (0)

static void bench_gcra(void)
{
    const uint64_t n = 20000000;
    pol_gcra_params_t p;
    pol_gcra_t b = {0};
    pol_gcra_result_t r;
    uint64_t best, admitted = 0;

    /* 1000/s, burst 50, a request every 700 ns: mostly rejections, some admissions */
    pol_gcra_params_init(&p, 1000, S, 50);
    BEST_OF_3(best, {
        uint64_t now = 1000 * S;
        for (uint64_t i = 0; i != n; ++i) {
            now += 700;
            admitted += pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT;
            sink += r.remaining;
        }
    });
    report("gcra_take, one bucket, with result", n, best, "1000/s burst 50");

    BEST_OF_3(best, {
        uint64_t now = 2000000 * S;
        for (uint64_t i = 0; i != n; ++i) {
            now += 700;
            admitted += pol_gcra_take(&b, &p, now, 0, NULL) == POL_ADMIT;
        }
    });
    report("gcra_take, one bucket, no result", n, best, "");

    /* 3/s: fractional interval (sub-ns units), every take admitted */
    pol_gcra_params_init(&p, 3, S, 5);
    b.tat = 0;
    BEST_OF_3(best, {
        uint64_t now = 3000000 * S;
        for (uint64_t i = 0; i != n; ++i) {
            now += S;
            admitted += pol_gcra_take(&b, &p, now, 0, &r) == POL_ADMIT;
            sink += r.remaining;
        }
    });
    report("gcra_take, fractional interval, admits", n, best, "3/s");
    sink += admitted;
}

static void bench_sema(void)
{
    const uint64_t n = 20000000;
    uint64_t best;
    pol_sema_params_t p = {16, {64, 1, 0, 0}};
    struct {
        pol_sema_t s;
        pol_link_t lists[1];
    } store = {0};
    pol_sema_t *s = &store.s;
    pol_waiter_t w[2], *evicted;
    memset(w, 0, sizeof(w));

    BEST_OF_3(best, {
        for (uint64_t i = 0; i != n; ++i) {
            sink += pol_sema_acquire(s, &p, &w[0], 0, i, &evicted);
            sink += (uintptr_t)pol_sema_release(s, &p);
        }
    });
    report("sema acquire+release (free slot)", n, best, "per pair");

    /* full semaphore: each acquire queues, each release hands the slot to the waiter */
    for (int i = 0; i != 16; ++i)
        pol_sema_acquire(s, &p, &w[0], 0, 0, &evicted);
    BEST_OF_3(best, {
        for (uint64_t i = 0; i != n; ++i) {
            sink += pol_sema_acquire(s, &p, &w[i & 1], 0, i, &evicted);
            sink += (uintptr_t)pol_sema_release(s, &p);
        }
    });
    report("sema acquire (queued)+release (hand over)", n, best, "per pair");
}

static int gcra_rest(const void *value, void *data, uint64_t now)
{
    return pol_gcra_at_rest(value, data, now);
}

/* Lookup + take on a table of `keys` IPv4 keys, in random key order. */
static void bench_keyed(uint64_t keys)
{
    const uint64_t ops = 4000000;
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 100, S, 20);
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), (uint32_t)(keys * 2), gcra_rest, &p, rng());
    char key[KEY_LEN];
    for (uint64_t i = 0; i != keys; ++i) {
        memset(key, 0, sizeof(key));
        int len = snprintf(key, sizeof(key), "10.%d.%d.%d", (int)(i >> 16) & 255, (int)(i >> 8) & 255, (int)i & 255);
        pol_keyed_get(t, key, (size_t)len, 0);
    }
    /* the keys of the requests, in access order, so that reading them is sequential (a real
     * key comes from the request head, hot in cache) */
    char *seq = malloc(ops * KEY_LEN);
    uint8_t *lens = malloc(ops);
    if (seq == NULL || lens == NULL)
        abort();
    for (uint64_t i = 0; i != ops; ++i) {
        uint64_t k = rng() % keys;
        char *dst = seq + i * KEY_LEN;
        memset(dst, 0, KEY_LEN);
        lens[i] = (uint8_t)snprintf(dst, KEY_LEN, "10.%d.%d.%d", (int)(k >> 16) & 255, (int)(k >> 8) & 255, (int)k & 255);
    }
    uint64_t best;
    char name[64];
    BEST_OF_3(best, {
        uint64_t now = 1000 * S;
        for (uint64_t i = 0; i != ops; ++i) {
            now += 100;
            pol_gcra_t *b = pol_keyed_get(t, seq + i * KEY_LEN, lens[i], now);
            pol_gcra_result_t r;
            sink += pol_gcra_take(b, &p, now, 0, &r);
            sink += r.remaining;
        }
    });
    snprintf(name, sizeof(name), "keyed get + gcra_take, %llu keys", (unsigned long long)keys);
    report(name, ops, best, "random key order");

    /* the same, but each lookup depends on the previous decision (dep is always 0, the compiler
     * cannot know): no overlap of cache misses between decisions, as in a gateway that makes
     * one decision between much other work */
    BEST_OF_3(best, {
        uint64_t now = 2000 * S, dep = 0;
        for (uint64_t i = 0; i != ops; ++i) {
            now += 100;
            pol_gcra_t *b = pol_keyed_get(t, seq + (i + dep) * KEY_LEN, lens[i], now);
            pol_gcra_result_t r;
            sink += pol_gcra_take(b, &p, now, 0, &r);
            dep = r.remaining >> 31;
        }
    });
    snprintf(name, sizeof(name), "  same, one at a time (latency)");
    report(name, ops, best, "");

    char note[64];
    snprintf(note, sizeof(note), "%.1f bytes per key", (double)pol_keyed_memory(t) / (double)keys);
    BEST_OF_3(best, {
        for (uint64_t i = 0; i != ops; ++i)
            sink += (uintptr_t)pol_keyed_find(t, seq + i * KEY_LEN, lens[i]);
    });
    snprintf(name, sizeof(name), "keyed find only, %llu keys", (unsigned long long)keys);
    report(name, ops, best, note);
    free(seq);
    free(lens);
    pol_keyed_free(t);
}

/* A full table of live keys, a stream of new keys: each goes to _overflow after the hand
 * scanned POL_KEYED_EVICT_SCAN live entries (the worst case of a key flood). */
static void bench_keyed_flood(void)
{
    const uint64_t keys = 100000, ops = 1000000;
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 1, 3600 * S, 1);
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), (uint32_t)keys, gcra_rest, &p, rng());
    char key[32];
    for (uint64_t i = 0; i != keys; ++i) {
        int len = snprintf(key, sizeof(key), "live-%llu", (unsigned long long)i);
        pol_gcra_take(pol_keyed_get(t, key, (size_t)len, S), &p, S, 0, NULL);
    }
    uint64_t best, n = 0;
    BEST_OF_3(best, {
        for (uint64_t i = 0; i != ops; ++i) {
            int len = snprintf(key, sizeof(key), "new-%llu", (unsigned long long)n++);
            sink += (uintptr_t)pol_keyed_get(t, key, (size_t)len, 2 * S);
        }
    });
    report("keyed get, new key, full of live keys", ops, best, "incl. snprintf; -> _overflow");
    pol_keyed_free(t);
}

int main(void)
{
    printf("| %-44s | %10s | %8s | %s\n", "operation", "iterations", "ns/op", "note");
    printf("|----------------------------------------------|------------|----------|-----\n");
    bench_gcra();
    bench_sema();
    bench_keyed(10000);
    bench_keyed(1000000);
    bench_keyed_flood();
    return (int)(sink & 0);
}
