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

/* Samples every millisecond, each of a request admitted `latency` before, until a window (or a
 * probe) closes; returns how many samples returned 1 (the limit changed). */
static int until_closed_q(pol_adaptive_t *a, uint64_t *now, uint64_t latency, uint32_t in_flight, uint32_t queued)
{
    uint64_t windows = a->windows, probes = a->probes;
    int changed = 0;
    while (a->windows == windows && a->probes == probes) {
        *now += MS;
        changed += pol_adaptive_sample(a, *now, *now - latency, latency, 0, in_flight, queued);
    }
    return changed;
}

/* The same with someone waiting: demand meets the limit. */
static int until_closed(pol_adaptive_t *a, uint64_t *now, uint64_t latency, uint32_t in_flight)
{
    return until_closed_q(a, now, latency, in_flight, 1);
}

/* A limit started at 20 with a backend of 10 ms, after its first window (base measured) and a
 * second one at the limit (grown by a quarter, to 25); returns the time then. */
static uint64_t warmed_up(pol_adaptive_t *a)
{
    uint64_t now = SEC;
    pol_adaptive_init(a, 1, 1000, 20, 1);
    until_closed(a, &now, 10 * MS, 20);
    until_closed(a, &now, 10 * MS, 20);
    return now;
}

static int near(double x, double y)
{
    return x > y - 1e-6 && x < y + 1e-6;
}

/* The model's arithmetic, one window at a time, with every latency alike (so that a window's
 * latency is that latency): base 10 ms; no queue grows the limit by a quarter; 20 ms (a queue)
 * sets it to used * gradient + headroom, gradient = 10 x 1.05 / 20, headroom = sqrt(limit) / 2;
 * three such decreases call for a probe at half the limit; the probe finds 10 ms again. */
static void test_exact_steps(void)
{
    pol_adaptive_t a;
    pol_adaptive_init(&a, 1, 1000, 20, 1);
    uint64_t t0 = SEC, now = t0;
    /* the first window: from its first admission (t0 - 9 ms), 100 ms of admissions and 1.5
     * latencies for them to come back: it closes at t0 + 106 ms, not a nanosecond before */
    while (now < t0 + 105 * MS) {
        now += MS;
        CHECK(pol_adaptive_sample(&a, now, now - 10 * MS, 10 * MS, 0, 20, 1) == 0);
    }
    CHECK(pol_adaptive_sample(&a, t0 + 106 * MS - 1, t0 + 96 * MS - 1, 10 * MS, 0, 20, 1) == 0);
    CHECK_EQ_U64(a.windows, 0);
    CHECK(pol_adaptive_sample(&a, t0 + 106 * MS, t0 + 96 * MS, 10 * MS, 0, 20, 1) == 0);
    now = t0 + 106 * MS;
    CHECK_EQ_U64(a.windows, 1);
    CHECK_EQ_U64(a.base_ns, 10 * MS);
    CHECK_EQ_U64(a.rtt_ns, 10 * MS);
    CHECK(a.limit == 20 && !pol_adaptive_saturated(&a)); /* the first window only measures */
    /* no queue, demand at the limit: + a quarter, at t0 + 221 ms (first admission t0 + 106 ms) */
    CHECK(until_closed(&a, &now, 10 * MS, 20) == 1);
    CHECK_EQ_U64(now, t0 + 221 * MS);
    CHECK(a.limit == 25 && !pol_adaptive_saturated(&a));
    /* 40 ms: the gradient 10.5 / 40 is taken as 0.5 (at most halved): 25 x 0.5 + 2.5 */
    pol_adaptive_t deep = a;
    uint64_t t = now;
    until_closed(&deep, &t, 40 * MS, 25);
    CHECK(near(deep.limit, 15));
    /* 11 ms: a small queue, 25 x (1 - 10.5 / 11), under the headroom: half the way to it */
    pol_adaptive_t small = a;
    t = now;
    until_closed(&small, &t, 11 * MS, 25);
    CHECK(near(small.limit, 25 + (2.5 - 25 * (1 - 10.5 / 11)) / 2));
    CHECK(!pol_adaptive_saturated(&small)); /* under half the headroom */
    /* 11.5 ms: a queue of 2.17, more than half the headroom: saturated, though under it */
    pol_adaptive_t mid = a;
    t = now;
    until_closed(&mid, &t, 11500 * 1000, 25);
    CHECK(mid.limit > 25 && pol_adaptive_saturated(&mid));
    /* a queue of at most a quarter of the headroom counts as none (10.75 ms: 0.58 of 2.5), more
     * is approached (10.8 ms: 0.69) */
    pol_adaptive_t none = a, some = a;
    t = now;
    until_closed(&none, &t, 10750 * 1000, 25);
    CHECK(none.limit == 25 + 25 / 4.0);
    t = now;
    until_closed(&some, &t, 10800 * 1000, 25);
    CHECK(near(some.limit, 25 + (2.5 - 25 * (1 - 10.5 / 10.8)) / 2));
    /* 20 ms: a queue of 25 x (1 - 0.525) = 11.9 > twice the headroom (2.5): the window closes
     * early, at the 88th latency (a multiple of 8, 100 ms after its first admission) */
    CHECK(until_closed(&a, &now, 20 * MS, 25) == 1);
    CHECK_EQ_U64(now, t0 + 328 * MS);
    CHECK(near(a.limit, 25 * 0.525 + 2.5));
    CHECK_EQ_U64(a.rtt_ns, 20 * MS);
    CHECK(pol_adaptive_saturated(&a));
    CHECK_EQ_U64(pol_adaptive_limit(&a), 16);
    /* used is the most in flight, at most the limit */
    CHECK(until_closed(&a, &now, 20 * MS, 16) == 1);
    CHECK(near(a.limit, 15.625 * 0.525 + 1.976423537605237));
    CHECK(until_closed(&a, &now, 20 * MS, 11) == 1);
    double learned = 10.179548537605237 * 0.525 + 1.5952702386747235;
    CHECK(near(a.limit, learned));
    /* three decreases (by more than a quarter) and the latency as high: a probe at half (7 / 2) */
    CHECK(a.phase == POL_ADAPTIVE_PROBE);
    CHECK_EQ_U64(pol_adaptive_limit(&a), 3);
    CHECK_EQ_U64(pol_adaptive_learned(&a), 7);
    CHECK_EQ_U64(now, t0 + 542 * MS);
    /* what a probe finds (before it, the latency was 20 ms, base 10 ms): within -5% .. +25% of
     * base, base is settled; lower than that, it becomes base; within 10% of the latency before
     * the probe, a candidate for base (the backend's own latency, if the next window agrees) */
    static const struct {
        uint64_t rtt_us;
        int settled;
        uint64_t base_us, candidate_us;
    } found[] = {{9500, 1, 10000, 0},      {9499, 0, 9499, 0},       {12500, 1, 10000, 0},
                 {12501, 0, 10000, 0},     {18000, 0, 10000, 18000}, {17999, 0, 10000, 0},
                 {22000, 0, 10000, 22000}, {22001, 0, 10000, 0},     {20000, 0, 10000, 20000}};
    for (size_t i = 0; i != sizeof(found) / sizeof(found[0]); ++i) {
        pol_adaptive_t p = a;
        uint64_t t = now;
        until_closed(&p, &t, found[i].rtt_us * 1000, 3);
        CHECK_EQ_U64(p.probes, 1);
        CHECK_EQ_U64(p.base_settled, found[i].settled);
        CHECK_EQ_U64(p.base_ns, found[i].base_us * 1000);
        CHECK_EQ_U64(p.candidate_ns, found[i].candidate_us * 1000);
        if (found[i].rtt_us == 18000) {
            /* 10/9 of 18 ms exactly is as slow still */
            pol_adaptive_t edge18 = p;
            until_closed(&edge18, &t, 20 * MS, 3);
            CHECK_EQ_U64(edge18.base_ns, 18 * MS);
        }
        if (found[i].rtt_us != 20000)
            continue;
        /* the next window as slow (up to 10/9 of it): base is raised to it */
        pol_adaptive_t agree = p, slower = p;
        uint64_t t2 = t;
        until_closed(&agree, &t2, 22222 * 1000, 3);
        CHECK_EQ_U64(agree.base_ns, 20 * MS);
        CHECK_EQ_U64(agree.candidate_ns, 0);
        until_closed(&slower, &t, 22223 * 1000, 3);
        CHECK_EQ_U64(slower.base_ns, 10 * MS);
    }
    /* a probe that ends on its timeout (600 ms) with no latency learns nothing */
    pol_adaptive_t timed_out = a;
    pol_adaptive_sample(&timed_out, now + 600 * MS - 1, now, 0, 1, 3, 1);
    CHECK(timed_out.phase == POL_ADAPTIVE_PROBE);
    pol_adaptive_sample(&timed_out, now + 600 * MS, now, 0, 1, 3, 1);
    CHECK(timed_out.phase == POL_ADAPTIVE_LEARN && timed_out.probes == 1);
    CHECK_EQ_U64(timed_out.base_ns, 10 * MS);
    CHECK_EQ_U64(timed_out.base_settled, 0);
    /* the first sample after a silence of 1.4 s ends a probe too, unlearned */
    pol_adaptive_t after_silence = a;
    pol_adaptive_sample(&after_silence, now + 1401 * MS, now + 1391 * MS, 10 * MS, 0, 1, 1);
    CHECK(after_silence.phase == POL_ADAPTIVE_LEARN && after_silence.probes == 0);
    /* a probe that hears nothing for 500 ms + 10 x base ends at the next arrival */
    pol_adaptive_t quiet = a;
    CHECK(pol_adaptive_arrival(&quiet, now + 600 * MS - 1) == 0 && quiet.phase == POL_ADAPTIVE_PROBE);
    CHECK(pol_adaptive_arrival(&quiet, now + 600 * MS) == 1 && quiet.phase == POL_ADAPTIVE_LEARN);
    CHECK_EQ_U64(pol_adaptive_limit(&quiet), 7);
    CHECK_EQ_U64(quiet.start_ns, now + 600 * MS); /* a new window from then */
    /* the probe finds 10 ms (once its cohort is back: 100 ms + 1.5 x 20 ms): base confirmed,
     * the learned limit back, the next probe in 10 s */
    CHECK(until_closed(&a, &now, 10 * MS, 3) == 1);
    CHECK_EQ_U64(now, t0 + 672 * MS);
    CHECK_EQ_U64(a.probes, 1);
    CHECK(a.phase == POL_ADAPTIVE_LEARN && near(a.limit, learned));
    CHECK_EQ_U64(pol_adaptive_limit(&a), 7);
    CHECK_EQ_U64(a.base_ns, 10 * MS);
    CHECK_EQ_U64(a.probe_due_ns, now + 10 * SEC);
    /* base settled and the limit steady: the next probe, 10 s on, at three quarters (7 x 3 / 4) */
    pol_adaptive_t steady = a;
    t = now;
    for (int i = 0; i != 1000 && steady.phase == POL_ADAPTIVE_LEARN; ++i)
        until_closed(&steady, &t, 10 * MS, 3);
    CHECK(steady.phase == POL_ADAPTIVE_PROBE && t >= now + 10 * SEC && t < now + 10 * SEC + 200 * MS);
    CHECK_EQ_U64(pol_adaptive_limit(&steady), 5);
    /* a window that closes at the very nanosecond the probe is due starts it */
    pol_adaptive_t edge = a;
    t = now;
    while (t + 300 * MS < edge.probe_due_ns)
        until_closed(&edge, &t, 10 * MS, 3);
    uint64_t due = edge.probe_due_ns;
    for (uint64_t i = 0; i != 8; ++i) {
        CHECK(edge.phase == POL_ADAPTIVE_LEARN);
        pol_adaptive_sample(&edge, due, t + MS + i * 1000, 10 * MS, 0, 3, 1);
    }
    CHECK(edge.phase == POL_ADAPTIVE_PROBE);
    /* silence: a window starts afresh with the first sample after 1 s + 4 windows (of 100 ms) */
    pol_adaptive_t idle = a;
    pol_adaptive_sample(&idle, now + 1400 * MS, now + 1390 * MS, 10 * MS, 0, 1, 0);
    CHECK_EQ_U64(idle.start_ns, now);
    idle = a;
    pol_adaptive_sample(&idle, now + 1400 * MS + 1, now + 1390 * MS, 10 * MS, 0, 1, 0);
    CHECK_EQ_U64(idle.start_ns, now + 1400 * MS + 1);
    /* a window faster than base (6 ms) pulls it halfway down */
    pol_adaptive_t faster = a;
    uint64_t later = now;
    until_closed(&faster, &later, 6 * MS, 7);
    CHECK_EQ_U64(faster.base_ns, 8 * MS);
    /* base settled, then three decreases that do not bring the latency down: a probe, at half
     * (the capacity may have fallen far), not three quarters */
    for (int i = 0; i != 3; ++i) {
        CHECK(a.phase == POL_ADAPTIVE_LEARN);
        until_closed(&a, &now, 20 * MS, pol_adaptive_limit(&a));
    }
    CHECK(a.phase == POL_ADAPTIVE_PROBE);
    CHECK_EQ_U64(pol_adaptive_learned(&a), 3);
    CHECK_EQ_U64(pol_adaptive_limit(&a), 1);
}

/* While `base` is unsettled, a probe comes after three windows that did not lower the limit; a
 * window's demand is its own (one that met the limit does not make the next one grow). */
static void test_probe_soon_and_demand(void)
{
    pol_adaptive_t a;
    uint64_t now = warmed_up(&a);
    CHECK(a.limit == 25 && a.phase == POL_ADAPTIVE_LEARN);
    pol_adaptive_t below = a, spare = a;
    CHECK(until_closed(&a, &now, 10 * MS, 25) == 1);
    CHECK(a.limit == 25 + 25 / 4.0);
    CHECK(a.phase == POL_ADAPTIVE_PROBE);
    CHECK_EQ_U64(pol_adaptive_limit(&a), 15); /* half of 31 */
    /* the same from a clock at 100 s: the first probe is due 10 s after the first window */
    pol_adaptive_t later;
    pol_adaptive_init(&later, 1, 1000, 20, 1);
    uint64_t t = 100 * SEC;
    until_closed(&later, &t, 10 * MS, 20);
    until_closed(&later, &t, 10 * MS, 20);
    CHECK(later.phase == POL_ADAPTIVE_LEARN && later.probes == 0 && later.probe_due_ns > t + 9 * SEC);
    /* the third window with 5 in flight and nobody waiting: no growth, and no probe (latencies
     * below the limit are measured at the demand's concurrency anyway) */
    uint64_t now2 = now;
    CHECK(until_closed_q(&below, &now2, 10 * MS, 5, 0) == 0);
    CHECK(below.limit == 25 && below.phase == POL_ADAPTIVE_LEARN);
    /* 20 in flight of 25 and nobody waiting, or 10 in flight (under half the limit) with someone
     * waiting: demand did not meet the limit either, no growth */
    pol_adaptive_t idle_half = spare, few = spare;
    now2 = now;
    until_closed_q(&idle_half, &now2, 10 * MS, 20, 0);
    CHECK(idle_half.limit == 25);
    now2 = now;
    until_closed_q(&few, &now2, 10 * MS, 10, 1);
    CHECK(few.limit == 25);

    /* a slow backend (400 ms): probes every 50 x base, 20 s, rather than every 10 s */
    pol_adaptive_t slow;
    pol_adaptive_init(&slow, 1, 1000, 20, 1);
    now = SEC;
    for (int i = 0; i != 3; ++i)
        until_closed(&slow, &now, 400 * MS, pol_adaptive_limit(&slow));
    CHECK(slow.phase == POL_ADAPTIVE_PROBE);
    until_closed(&slow, &now, 400 * MS, pol_adaptive_limit(&slow));
    CHECK(slow.probes == 1 && slow.phase == POL_ADAPTIVE_LEARN);
    CHECK_EQ_U64(slow.probe_due_ns, now + 20 * SEC);

    /* at the limit of 1: the headroom is sqrt(1) / 2, so no queue grows it by 0.5 */
    pol_adaptive_t one;
    pol_adaptive_init(&one, 1, 1000, 1, 1);
    now = SEC;
    until_closed(&one, &now, 10 * MS, 1);
    CHECK(until_closed(&one, &now, 10 * MS, 1) == 1); /* 1.5 rounds to 2 */
    CHECK(one.limit == 1.5);
    /* growth by the larger of a quarter and the headroom: from 3, the headroom (sqrt(3) / 2);
     * from 6, a quarter */
    static const struct {
        uint32_t from;
        double to;
    } growth[] = {{3, 3.8660254037844384}, {6, 7.5}};
    for (int i = 0; i != 2; ++i) {
        pol_adaptive_t g;
        pol_adaptive_init(&g, 1, 1000, growth[i].from, 1);
        uint64_t t = SEC;
        until_closed(&g, &t, 10 * MS, growth[i].from);
        until_closed(&g, &t, 10 * MS, growth[i].from);
        CHECK(near(g.limit, growth[i].to));
    }
    /* used is at most the limit, also under 2: 1.5 x 0.525 + sqrt(1.5) / 2 */
    until_closed(&one, &now, 20 * MS, 2);
    CHECK(near(one.limit, 1.5 * 0.525 + 0.6123724356957945));
}

/* A window of drops and fewer than 4 latencies has no latency of its own: only the drops move
 * the limit. */
static void test_too_few_latencies(void)
{
    pol_adaptive_t a;
    uint64_t now = warmed_up(&a);
    CHECK(a.limit == 25);
    uint64_t start = now;
    pol_adaptive_t drops_only = a, mixed = a;
    for (int i = 0; i != 3; ++i)
        pol_adaptive_sample(&a, start + 40 * MS + i, start + 10 * MS, 30 * MS, 0, 25, 1);
    for (int i = 0; i != 5; ++i)
        pol_adaptive_sample(&a, start + 50 * MS + i, start - 150 * MS, 0, 1, 25, 1);
    CHECK_EQ_U64(a.windows, 2);
    /* closes once the three are back: 100 ms from their admission + 1.5 x 10 ms */
    CHECK(pol_adaptive_sample(&a, start + 125 * MS, start - 75 * MS, 0, 1, 25, 1) == 1);
    CHECK_EQ_U64(a.windows, 3);
    CHECK_EQ_U64(a.rtt_ns, 10 * MS);
    CHECK(near(a.limit, 25 * (1 - 6.0 / 9 / 2)));
    /* drops alone: the window still lasts 100 ms + 1.5 latencies from its start */
    for (uint64_t t = 1; t != 115; ++t) {
        pol_adaptive_sample(&drops_only, start + t * MS, start - 100 * MS, 0, 1, 25, 1);
        CHECK_EQ_U64(drops_only.windows, 2);
    }
    pol_adaptive_sample(&drops_only, start + 115 * MS, start - 100 * MS, 0, 1, 25, 1);
    CHECK_EQ_U64(drops_only.windows, 3);
    /* 6 latencies of the cohort, 2 drops and one latency admitted after the cutoff: 8 in all */
    for (uint64_t i = 0; i != 6; ++i)
        pol_adaptive_sample(&mixed, start + (11 + i) * MS, start + (1 + i) * MS, 10 * MS, 0, 25, 1);
    pol_adaptive_sample(&mixed, start + 20 * MS, start - 100 * MS, 0, 1, 25, 1);
    pol_adaptive_sample(&mixed, start + 21 * MS, start - 100 * MS, 0, 1, 25, 1);
    pol_adaptive_sample(&mixed, start + 200 * MS, start + 190 * MS, 10 * MS, 0, 25, 1);
    CHECK_EQ_U64(mixed.windows, 3);
}

/* More latencies than are kept: each has the same chance to be in the window's sample, so 256
 * fast ones then 256 slow ones (admitted together) make a latency between the two, also from a
 * seed of 0. */
static void test_uniform_sample(void)
{
    for (uint64_t seed = 0; seed != 3; ++seed) {
        pol_adaptive_t a;
        pol_adaptive_init(&a, 1, 1000, 20, seed);
        uint64_t t0 = SEC;
        for (int i = 0; i != 256; ++i)
            pol_adaptive_sample(&a, t0 + 10 * MS, t0, 10 * MS, 0, 20, 1);
        for (int i = 0; i != 256; ++i)
            pol_adaptive_sample(&a, t0 + 30 * MS, t0, 30 * MS, 0, 20, 1);
        CHECK_EQ_U64(a.windows, 0);
        pol_adaptive_sample(&a, t0 + 200 * MS, t0, 200 * MS, 0, 20, 1);
        CHECK_EQ_U64(a.windows, 1);
        CHECK(a.rtt_ns >= 17 * MS && a.rtt_ns <= 24 * MS);
        CHECK_EQ_U64(a.base_ns, 10 * MS); /* the fastest tenth */
    }
}

/* A window's latency is its cohort's: the requests admitted up to 1.5 latencies before it
 * closes, to the microsecond; one admitted later is still partly out and does not count. */
static void test_cohort_cutoff(void)
{
    pol_adaptive_t a;
    uint64_t now = warmed_up(&a);
    CHECK(a.limit == 25 && a.rtt_ns == 10 * MS);
    uint64_t start = now;
    for (int late = 0; late != 2; ++late) {
        pol_adaptive_t b = a;
        for (uint64_t i = 0; i != 8; ++i)
            pol_adaptive_sample(&b, start + (11 + i) * MS, start + (1 + i) * MS, 10 * MS, 0, 25, 1);
        CHECK_EQ_U64(b.windows, 2);
        /* closing at start + 200 ms: the cutoff is start + 185 ms */
        uint64_t admitted = start + 185 * MS + (uint64_t)late * 1000;
        pol_adaptive_sample(&b, start + 200 * MS, admitted, start + 200 * MS - admitted, 0, 25, 1);
        CHECK_EQ_U64(b.windows, 3);
        CHECK_EQ_U64(b.rtt_ns, late ? 10 * MS : (8 * 10000 + 15000) * 1000ull / 9);
    }
}

/* The first window's latency is the mean of its latencies between the 10th and the 95th
 * percentiles, and its `base` the 10th percentile: with latencies of 1, 2, ... n ms in a
 * scrambled order (a drop
 * closes the window, adding no latency), for n = 100: base 11 ms, the mean of 11 .. 95 ms; for
 * n = 99: base 10 ms, the mean of 10 .. 95 ms. Latencies under a microsecond count as one. */
static void test_percentiles(void)
{
    static const struct {
        uint64_t n, base_ms, rtt_ns;
    } cases[] = {{100, 11, 53000000}, {99, 10, 52500000}};
    for (int c = 0; c != 2; ++c) {
        pol_adaptive_t a;
        pol_adaptive_init(&a, 1, 1000, 20, 1);
        uint64_t t0 = SEC;
        for (uint64_t i = 0; i != cases[c].n; ++i) /* all back by t0 + 100 ms, in no order */
            pol_adaptive_sample(&a, t0 + 100 * MS, t0, ((i * 37) % cases[c].n + 1) * MS, 0, 20, 1);
        CHECK_EQ_U64(a.windows, 0);
        pol_adaptive_sample(&a, t0 + 200 * MS, t0, 0, 1, 20, 1);
        CHECK_EQ_U64(a.windows, 1);
        CHECK_EQ_U64(a.base_ns, cases[c].base_ms * MS);
        CHECK_EQ_U64(a.rtt_ns, cases[c].rtt_ns);
    }
    pol_adaptive_t a;
    pol_adaptive_init(&a, 1, 1000, 20, 1);
    uint64_t now = SEC;
    until_closed(&a, &now, 500, 20);
    CHECK_EQ_U64(a.base_ns, 1000);
    CHECK_EQ_U64(a.rtt_ns, 1000);
}

/* Three decreases in a row call for a probe when, together, they took a quarter of the limit or
 * more and the latency did not fall below 90% of the first one's (it may not be a queue). */
static void test_decreases_call_for_a_probe(void)
{
    static const struct {
        uint64_t rtt_us[3];
        int probe;
    } cases[] = {
        {{11500, 11500, 11500}, 0}, /* down to 88%: small steps around the capacity */
        {{12400, 12400, 12400}, 1}, /* down to 71% */
        {{14000, 13500, 12500}, 0}, /* the latency fell with the limit: a queue draining */
        {{14000, 13500, 12600}, 1}, /* 90% of 14 ms */
    };
    for (size_t c = 0; c != sizeof(cases) / sizeof(cases[0]); ++c) {
        pol_adaptive_t a;
        pol_adaptive_init(&a, 1, 1000, 100, 1);
        uint64_t now = SEC;
        until_closed(&a, &now, 10 * MS, 100);
        until_closed(&a, &now, 10 * MS, 100);
        CHECK(a.limit == 125);
        for (int i = 0; i != 3; ++i) {
            CHECK(a.phase == POL_ADAPTIVE_LEARN);
            until_closed(&a, &now, cases[c].rtt_us[i] * 1000, pol_adaptive_limit(&a));
        }
        CHECK(a.limit < 125 && (a.phase == POL_ADAPTIVE_PROBE) == cases[c].probe);
    }
}

/* The first window begins at the first sample's admission, however late the clock: that sample
 * is its first latency. */
static void test_first_sample(void)
{
    pol_adaptive_t a;
    pol_adaptive_init(&a, 1, 1000, 20, 1);
    pol_adaptive_sample(&a, 100 * SEC, 100 * SEC - 10 * MS, 10 * MS, 0, 1, 0);
    CHECK_EQ_U64(a.start_ns, 100 * SEC - 10 * MS);
    CHECK_EQ_U64(a.num_lat, 1);
    CHECK_EQ_U64(a.first_adm_ns, 100 * SEC - 10 * MS);
    /* an exchange without a latency (not dropped: no response head timed) is no latency */
    pol_adaptive_sample(&a, 100 * SEC + MS, 100 * SEC - 5 * MS, 0, 0, 1, 0);
    CHECK_EQ_U64(a.num_lat, 1);
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
    test_exact_steps();
    test_probe_soon_and_demand();
    test_too_few_latencies();
    test_uniform_sample();
    test_cohort_cutoff();
    test_percentiles();
    test_decreases_call_for_a_probe();
    test_first_sample();
    test_bounds_and_reload();
    test_shapes();
    return CHECK_SUMMARY();
}
