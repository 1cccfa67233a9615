/*
 * Microbenchmarks of the admission engine: the cost of one decision per limiter kind, keyed
 * lookups at 10k and 1M keys, and memory per key. Run: build/bench/bench_policies
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

static int gcra_rest(const void *v, void *data, uint64_t now)
{
    return pol_gcra_at_rest(v, data, now);
}

static void report(const char *what, uint64_t iterations, uint64_t elapsed_ns)
{
    printf("%-52s %8.1f ns/op\n", what, (double)elapsed_ns / (double)iterations);
}

static void bench_gcra(void)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 1000000, 1000000000ull, 1000);
    pol_gcra_t b = {0};
    const uint64_t n = 20000000;
    uint64_t t = 1000000000000ull, admitted = 0, start = now_ns();
    for (uint64_t i = 0; i != n; ++i)
        admitted += pol_gcra_take(&b, &p, t + i * 700, 0, NULL) == POL_ADMIT; /* fake clock: ~1.4M req/s */
    report("GCRA take (one bucket)", n, now_ns() - start);
    sink = admitted;
}

static void bench_sema(void)
{
    pol_sema_params_t p = {64, 64, 0};
    pol_sema_t s = {0};
    pol_waiter_t w;
    const uint64_t n = 20000000;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i != n; ++i) {
        pol_sema_acquire(&s, &p, &w, i, i + 1000);
        sink += (uint64_t)(uintptr_t)pol_sema_release(&s, &p);
    }
    report("semaphore acquire + release", n, now_ns() - start);
}

static void bench_keyed(uint32_t num_keys)
{
    pol_gcra_params_t p;
    pol_gcra_params_init(&p, 100, 1000000000ull, 20);
    pol_keyed_t *t = pol_keyed_new(sizeof(pol_gcra_t), num_keys, gcra_rest, &p, 12345);
    char (*keys)[16] = malloc((size_t)num_keys * 16);
    size_t *lens = malloc((size_t)num_keys * sizeof(size_t));
    for (uint32_t i = 0; i != num_keys; ++i)
        lens[i] = (size_t)snprintf(keys[i], 16, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    uint64_t clock = 1000000000000ull;
    for (uint32_t i = 0; i != num_keys; ++i)
        pol_gcra_take(pol_keyed_get(t, keys[i], lens[i], clock), &p, clock, 0, NULL);

    const uint64_t n = 10000000;
    uint64_t x = 88172645463325252ull, start = now_ns();
    for (uint64_t i = 0; i != n; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* random key order: cache misses as in real traffic */
        uint32_t k = (uint32_t)(x % num_keys);
        pol_gcra_t *b = pol_keyed_get(t, keys[k], lens[k], clock + i * 100);
        sink += pol_gcra_take(b, &p, clock + i * 100, 0, NULL);
    }
    char what[96];
    snprintf(what, sizeof(what), "keyed lookup + GCRA take, %u live keys", num_keys);
    report(what, n, now_ns() - start);
    printf("%-52s %8.1f bytes\n", "  memory per key", (double)pol_keyed_memory(t) / num_keys);
    pol_keyed_free(t);
    free(keys);
    free(lens);
}

int main(void)
{
    bench_gcra();
    bench_sema();
    bench_keyed(10000);
    bench_keyed(1000000);
    return 0;
}
