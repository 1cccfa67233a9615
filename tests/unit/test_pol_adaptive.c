/*
 * The adaptive limit (policies/pol_adaptive) on synthetic latency curves: a simulated backend
 * of capacity C (C requests at a time, S each, the excess queueing inside it in arrival order, as
 * an asyncio.Semaphore(C) does) behind a gateway that admits up to pol_adaptive_limit() and feeds
 * every finished exchange back. Time is simulated in steps of 250 us; nothing sleeps. With
 * VERBOSE set, each run prints the limit once a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include "check.h"
#include "pol_adaptive.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define STEP_NS (250 * 1000ull)
#define MAX_RUNNING 4096
#define MAX_QUEUED (1 << 16)
#define MAX_LAT (1 << 20)
#define UNBOUNDED 1000000000u

typedef struct {
    /* the backend */
    uint32_t capacity;
    uint64_t service_ns;
    unsigned noise_pct;  /* each service time is S +- this many percent */
    unsigned slow_every; /* every Nth request takes slow_factor x S (0: none) */
    unsigned slow_factor;
    unsigned drop_pct; /* share of exchanges that fail (answered, but dropped) */
    uint64_t run_end[MAX_RUNNING], run_sent[MAX_RUNNING];
    size_t running;
    uint64_t queue_sent[MAX_QUEUED]; /* waiting inside the backend */
    size_t queue_head, queue_len;
    /* the gateway */
    uint32_t clients; /* requests that want in: in flight + in the room (UNBOUNDED: overload) */
    uint32_t in_flight;
    pol_adaptive_t a;
    /* the clock and what was measured since stats_reset */
    uint64_t now, rng, sent;
    uint64_t done, limit_sum, steps;
    uint32_t min_limit, max_limit;
    uint32_t lat_us[MAX_LAT];
    size_t num_lat;
} sim_t;

static sim_t sim;

static uint64_t rnd(void)
{
    sim.rng ^= sim.rng << 13;
    sim.rng ^= sim.rng >> 7;
    sim.rng ^= sim.rng << 17;
    return sim.rng;
}

static void stats_reset(void)
{
    sim.done = sim.limit_sum = sim.steps = 0;
    sim.num_lat = 0;
    sim.min_limit = UINT32_MAX;
    sim.max_limit = 0;
}

static void sim_init(uint32_t capacity, uint64_t service_ns, uint32_t min, uint32_t max, uint32_t initial)
{
    sim = (sim_t){.capacity = capacity, .service_ns = service_ns, .noise_pct = 10, .clients = UNBOUNDED, .now = SEC, .rng = 42};
    pol_adaptive_init(&sim.a, min, max, initial, 7);
    stats_reset();
}

static void finish(size_t i)
{
    uint64_t latency = sim.now - sim.run_sent[i];
    int dropped = sim.drop_pct != 0 && rnd() % 100 < sim.drop_pct;
    /* clients beyond the limit wait in the room */
    uint32_t queued = sim.clients > sim.in_flight && sim.in_flight >= pol_adaptive_limit(&sim.a) ? 1 : 0;
    pol_adaptive_sample(&sim.a, sim.now, sim.run_sent[i], latency, dropped, sim.in_flight, queued);
    --sim.in_flight;
    ++sim.done;
    if (sim.num_lat < MAX_LAT)
        sim.lat_us[sim.num_lat++] = (uint32_t)(latency / 1000);
    sim.run_end[i] = sim.run_end[sim.running - 1];
    sim.run_sent[i] = sim.run_sent[sim.running - 1];
    --sim.running;
}

static void step(void)
{
    sim.now += STEP_NS;
    for (size_t i = 0; i < sim.running;)
        if (sim.run_end[i] <= sim.now)
            finish(i);
        else
            ++i;
    while (sim.running < sim.capacity && sim.queue_len != 0) {
        uint64_t s = sim.service_ns;
        if (sim.noise_pct != 0)
            s = s * (100 - sim.noise_pct + rnd() % (2 * sim.noise_pct + 1)) / 100;
        if (sim.slow_every != 0 && ++sim.sent % sim.slow_every == 0)
            s *= sim.slow_factor;
        sim.run_end[sim.running] = sim.now + s;
        sim.run_sent[sim.running++] = sim.queue_sent[sim.queue_head];
        sim.queue_head = (sim.queue_head + 1) % MAX_QUEUED;
        --sim.queue_len;
    }
    uint32_t limit = pol_adaptive_limit(&sim.a);
    while (sim.in_flight < limit && sim.in_flight < sim.clients && sim.queue_len < MAX_QUEUED) {
        ++sim.in_flight;
        sim.queue_sent[(sim.queue_head + sim.queue_len++) % MAX_QUEUED] = sim.now;
    }
    sim.limit_sum += limit;
    ++sim.steps;
    sim.min_limit = limit < sim.min_limit ? limit : sim.min_limit;
    sim.max_limit = limit > sim.max_limit ? limit : sim.max_limit;
}

static void run(uint64_t ns)
{
    uint64_t end = sim.now + ns, next_print = sim.now;
    while (sim.now < end) {
        step();
        if (getenv("VERBOSE") != NULL && sim.now >= next_print) {
            fprintf(stderr, "  t=%5.1fs C=%u limit=%u learned=%u base=%.1fms rtt=%.1fms in_flight=%u %s\n",
                    (double)sim.now / SEC - 1, sim.capacity, pol_adaptive_limit(&sim.a), pol_adaptive_learned(&sim.a),
                    (double)sim.a.base_ns / MS, (double)sim.a.rtt_ns / MS, sim.in_flight,
                    sim.a.phase == POL_ADAPTIVE_PROBE ? "probe" : "");
            next_print += SEC;
        }
    }
}

static double avg_limit(void)
{
    return (double)sim.limit_sum / (double)sim.steps;
}

static double goodput(uint64_t ns)
{
    return (double)sim.done / ((double)ns / SEC);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    return p < q ? -1 : p > q;
}

static double latency_ms(double pct)
{
    if (sim.num_lat == 0)
        return 0;
    qsort(sim.lat_us, sim.num_lat, sizeof(sim.lat_us[0]), cmp_u32);
    return sim.lat_us[(size_t)(pct * (double)(sim.num_lat - 1))] / 1000.0;
}

/* Over `ns` from now: the limit stays within [lo, hi] on average, the goodput is at least
 * `share` of capacity/S, and the p99 latency under 3 S. */
static void check_converged(const char *what, uint64_t ns, double lo, double hi, double share)
{
    stats_reset();
    run(ns);
    double capacity_rate = sim.capacity * (double)SEC / (double)sim.service_ns;
    double p99 = latency_ms(0.99), avg = avg_limit(), rate = goodput(ns);
    if (getenv("VERBOSE") != NULL)
        fprintf(stderr, "%s: limit avg %.1f (min %u, max %u), goodput %.0f/s of %.0f, p50 %.1f ms p99 %.1f ms\n", what, avg,
                sim.min_limit, sim.max_limit, rate, capacity_rate, latency_ms(0.5), p99);
    CHECK(avg >= lo && avg <= hi);
    CHECK(rate >= share * capacity_rate);
    CHECK(p99 < 3.0 * (double)sim.service_ns / MS);
}

static void test_steady_capacity(void)
{
    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    check_converged("steady C=20", 20 * SEC, 20, 40, 0.9);
    /* the probes halve the limit at the lowest: never a collapse to the minimum */
    CHECK(sim.min_limit >= 10);
    CHECK(sim.a.probes >= 2);
}

/* Windows (and simulated time) until the learned limit is within [C, 1.5 C]. */
static uint64_t windows_to_follow(uint64_t *ns)
{
    uint64_t windows = sim.a.windows, start = sim.now;
    while (sim.now - start < 10 * SEC) {
        uint32_t learned = pol_adaptive_learned(&sim.a);
        if (learned >= sim.capacity && learned * 2 <= sim.capacity * 3)
            break;
        run(10 * MS);
    }
    *ns = sim.now - start;
    return sim.a.windows - windows;
}

static void test_capacity_change(void)
{
    static const uint32_t capacities[] = {10, 40, 20, 5, 80};
    uint64_t ns;
    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    check_converged("C=20", 5 * SEC, 20, 40, 0.9);
    for (size_t i = 0; i != sizeof(capacities) / sizeof(capacities[0]); ++i) {
        sim.capacity = capacities[i];
        uint64_t windows = windows_to_follow(&ns);
        if (getenv("VERBOSE") != NULL)
            fprintf(stderr, "C=%u: followed in %llu windows, %.1f s\n", sim.capacity, (unsigned long long)windows,
                    (double)ns / SEC);
        CHECK(windows <= 20);
        CHECK(ns <= 3 * SEC);
        char what[32];
        snprintf(what, sizeof(what), "C=%u", sim.capacity);
        check_converged(what, 8 * SEC, sim.capacity, 2.0 * sim.capacity, 0.9);
    }
}

/* A few requests take 20 x S (they hold their place in the backend all that time): the median
 * does not see them, and the limit does not fall. */
static void test_latency_spike(void)
{
    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    sim.slow_every = 50;
    sim.slow_factor = 20;
    stats_reset();
    run(3 * SEC);
    CHECK(sim.min_limit >= 10);
    CHECK(avg_limit() >= 18);
    sim.slow_every = 0;
    check_converged("after the spike", 5 * SEC, 20, 40, 0.9);
}

/* The backend itself becomes slower (S doubles at the same capacity): `base` is raised by a
 * probe, and the limit returns near C instead of staying down. */
static void test_slower_backend(void)
{
    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    sim.service_ns = 100 * MS;
    run(10 * SEC);
    check_converged("S doubled", 10 * SEC, 20, 40, 0.9);
    CHECK(sim.a.base_ns >= 80 * MS);
}

/* No samples, nothing moves; demand below the limit does not raise it. */
static void test_idle(void)
{
    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    while (sim.a.phase == POL_ADAPTIVE_PROBE)
        run(10 * MS);
    sim.clients = 0;
    run(5 * SEC); /* what was in flight comes back, then nothing */
    uint32_t learned = pol_adaptive_learned(&sim.a), limit = pol_adaptive_limit(&sim.a);
    uint64_t windows = sim.a.windows;
    CHECK(learned >= 20 && learned <= 40);
    run(60 * SEC);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), learned);
    CHECK_EQ_U64(pol_adaptive_limit(&sim.a), limit);
    CHECK_EQ_U64(sim.a.windows, windows);
    /* one sample after the idle minute: no window closes on it, and a probe the drain began has
     * run out (it gives the learned limit back, having learned nothing) */
    pol_adaptive_sample(&sim.a, sim.now, sim.now - 50 * MS, 50 * MS, 0, 1, 0);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), learned);
    CHECK_EQ_U64(pol_adaptive_limit(&sim.a), learned);
    CHECK_EQ_U64(sim.a.windows, windows);
    /* traffic again, of 5 clients only: the limit is not raised for them */
    sim.clients = 5;
    run(10 * SEC);
    CHECK(pol_adaptive_learned(&sim.a) <= learned);
    CHECK(sim.a.windows > windows);
    /* and overload again: back near the capacity */
    sim.clients = UNBOUNDED;
    run(5 * SEC);
    check_converged("after idle", 5 * SEC, 20, 40, 0.9);
}

/* One sample 10 ms after the last, of a request admitted `latency` (or, dropped, 200 ms) before,
 * with someone waiting. */
static void feed(pol_adaptive_t *a, uint64_t *now, uint64_t latency, int dropped, uint32_t in_flight)
{
    *now += 10 * MS;
    pol_adaptive_sample(a, *now, *now - (dropped ? 200 * MS : latency), latency, dropped, in_flight, 1);
}

/* Failed or timed-out exchanges take the limit down: all dropped halves it each window. */
static void test_drops(void)
{
    pol_adaptive_t a;
    pol_adaptive_init(&a, 2, 1000, 64, 1);
    uint64_t now = SEC;
    /* one window of good samples at the limit, with a queue-free latency */
    for (int i = 0; i != 20; ++i)
        feed(&a, &now, 5 * MS, 0, 64);
    uint32_t before = pol_adaptive_learned(&a);
    CHECK(before >= 64);
    while (a.phase == POL_ADAPTIVE_PROBE)
        feed(&a, &now, 5 * MS, 0, 10);
    before = pol_adaptive_learned(&a);
    uint64_t windows = a.windows;
    while (a.windows == windows)
        feed(&a, &now, 0, 1, before);
    /* the window also holds good samples: it is cut by half the share of drops, less than half */
    CHECK(pol_adaptive_learned(&a) < before && pol_adaptive_learned(&a) * 2 >= before);
    CHECK(pol_adaptive_saturated(&a));
    /* a window of drops alone: exactly halved */
    double limit = a.limit;
    windows = a.windows;
    while (a.windows == windows)
        feed(&a, &now, 0, 1, before);
    CHECK(a.limit == limit / 2);
    /* many windows of drops: down to min, never below */
    for (int i = 0; i != 2000; ++i)
        feed(&a, &now, 0, 1, 2);
    CHECK_EQ_U64(pol_adaptive_learned(&a), 2);
    CHECK(pol_adaptive_limit(&a) >= 2);

    /* in the simulation: 1% of exchanges fail, and the limit does not collapse */
    sim_init(20, 50 * MS, 1, 1000, 16);
    sim.drop_pct = 1;
    run(10 * SEC);
    stats_reset();
    run(10 * SEC);
    CHECK(avg_limit() >= 15);
    CHECK(goodput(10 * SEC) >= 0.85 * 400);
    /* half of them fail: the limit falls far */
    sim.drop_pct = 50;
    run(5 * SEC);
    CHECK(pol_adaptive_learned(&sim.a) <= 5);
}

/* Bounds: the limit stays within them; a reload keeps the learned value, clamped. */
static void test_bounds_and_reload(void)
{
    sim_init(100, 20 * MS, 4, 30, 10);
    run(10 * SEC);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), 30);
    CHECK(sim.max_limit <= 30);
    sim_init(2, 50 * MS, 8, 1000, 16);
    run(10 * SEC);
    /* below `min`, nothing is measured: the limit stays near it */
    CHECK(sim.min_limit >= 8);
    CHECK(pol_adaptive_learned(&sim.a) <= 16);

    pol_adaptive_t a;
    pol_adaptive_init(&a, 1, 1000, 5000, 1);
    CHECK_EQ_U64(pol_adaptive_learned(&a), 1000);
    pol_adaptive_init(&a, 10, 1000, 1, 1);
    CHECK_EQ_U64(pol_adaptive_limit(&a), 10);

    sim_init(20, 50 * MS, 1, 1000, 16);
    run(10 * SEC);
    while (sim.a.phase == POL_ADAPTIVE_PROBE)
        run(10 * MS);
    uint32_t learned = pol_adaptive_learned(&sim.a);
    uint64_t base = sim.a.base_ns;
    pol_adaptive_set_bounds(&sim.a, 2, 500, sim.now);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), learned);
    CHECK_EQ_U64(sim.a.base_ns, base);
    pol_adaptive_set_bounds(&sim.a, 1, 10, sim.now);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), 10);
    pol_adaptive_set_bounds(&sim.a, 50, 100, sim.now);
    CHECK_EQ_U64(pol_adaptive_learned(&sim.a), 50);
    /* a reload during a probe ends it: the learned limit applies at once */
    pol_adaptive_set_bounds(&sim.a, 1, 1000, sim.now);
    while (sim.a.phase != POL_ADAPTIVE_PROBE)
        run(10 * MS);
    learned = pol_adaptive_learned(&sim.a);
    CHECK(pol_adaptive_limit(&sim.a) < learned);
    pol_adaptive_set_bounds(&sim.a, 1, 1000, sim.now);
    CHECK(sim.a.phase == POL_ADAPTIVE_LEARN && pol_adaptive_limit(&sim.a) == learned);
    /* a probe the traffic left (no sample since) ends at the next arrival, once its time is out */
    while (sim.a.phase != POL_ADAPTIVE_PROBE)
        run(10 * MS);
    CHECK(pol_adaptive_arrival(&sim.a, sim.now + 10 * MS) == 0);
    CHECK(sim.a.phase == POL_ADAPTIVE_PROBE);
    CHECK(pol_adaptive_arrival(&sim.a, sim.now + 2 * SEC) == 1);
    CHECK(sim.a.phase == POL_ADAPTIVE_LEARN && pol_adaptive_limit(&sim.a) == pol_adaptive_learned(&sim.a));
    CHECK(pol_adaptive_arrival(&sim.a, sim.now + 3 * SEC) == 0);
}

/* Small and large capacities and service times, and starts far from the capacity on either
 * side: each converges within `warmup`, then holds within [C, hi] with `share` of the goodput. */
static void test_shapes(void)
{
    static const struct {
        uint32_t capacity, service_ms, initial, warmup_s, noise_pct;
        double hi, share;
    } cases[] = {
        {2, 100, 16, 20, 10, 5, 0.9},
        {200, 10, 16, 5, 10, 300, 0.9},
        {8, 1000, 16, 60, 10, 16, 0.85},
        {10, 50, 200, 10, 10, 20, 0.9},
        {100, 20, 1, 5, 10, 200, 0.9},
        /* every service time alike: requests queue in whole service times (a backend whose
         * handlers start and end together) */
        {24, 100, 16, 10, 0, 36, 0.9},
        {24, 100, 16, 10, 1, 36, 0.9},
        /* service times of S +- 50%: noisy windows */
        {24, 100, 16, 10, 50, 48, 0.9},
        {100, 20, 16, 10, 50, 200, 0.9},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char what[64];
        snprintf(what, sizeof(what), "C=%u S=%ums initial %u noise %u%%", cases[i].capacity, cases[i].service_ms, cases[i].initial,
                 cases[i].noise_pct);
        sim_init(cases[i].capacity, cases[i].service_ms * MS, 1, 1000, cases[i].initial);
        sim.noise_pct = cases[i].noise_pct;
        run(cases[i].warmup_s * SEC);
        check_converged(what, cases[i].warmup_s * SEC, cases[i].capacity, cases[i].hi, cases[i].share);
    }
}

int main(void)
{
    test_steady_capacity();
    test_capacity_change();
    test_latency_spike();
    test_slower_backend();
    test_idle();
    test_drops();
    test_bounds_and_reload();
    test_shapes();
    return CHECK_SUMMARY();
}
