#include "pol_adaptive.h"

#include <stdlib.h>

#define MS 1000000ull
#define MIN_WINDOW_NS (100 * MS)
#define MAX_WINDOW_NS (60000 * MS)
#define MIN_SAMPLES 8   /* samples (latencies and drops) that close a window */
#define MIN_LATENCIES 4 /* the latency of fewer says nothing */
#define PROBE_SAMPLES 8 /* latencies that end a probe (fewer for a limit below 8, at least 4) */
#define PROBE_TIMEOUT_NS (500 * MS)
#define PROBE_INTERVAL_NS (10000 * MS)
#define PROBE_AFTER_DECREASES 3 /* decreases in a row that call for a probe */
#define PROBE_SOON_WINDOWS 3    /* the fewest windows between two probes */
#define TOLERANCE 0.1
#define IDLE_NS (1000 * MS) /* no sample for this long (and 4 windows): the window starts afresh */

static double clamp(const pol_adaptive_t *a, double v)
{
    return v < a->min ? a->min : v > a->max ? a->max : v;
}

static double root(double v)
{
    /* Newton's method: policies do not link libm */
    double r = v > 1 ? v / 2 : 1;
    for (int i = 0; i != 20; ++i)
        r = (r + v / r) / 2;
    return r;
}

static uint64_t next_random(pol_adaptive_t *a)
{
    /* xorshift64* */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 0x2545F4914F6CDD1Dull;
}

static void start_window(pol_adaptive_t *a, uint64_t now_ns)
{
    a->start_ns = now_ns;
    a->fresh = a->drops = a->max_in_flight = a->num_lat = 0;
    a->limited = 0;
}

void pol_adaptive_init(pol_adaptive_t *a, uint32_t min, uint32_t max, uint32_t initial, uint64_t seed)
{
    *a = (pol_adaptive_t){.min = min, .max = max, .rng = seed | 1};
    a->limit = clamp(a, initial);
    /* probe_due_ns 0: the first window is followed by a probe (its `base` was measured at
     * `initial`, which may be far above the backend's capacity) */
}

void pol_adaptive_set_bounds(pol_adaptive_t *a, uint32_t min, uint32_t max)
{
    a->min = min;
    a->max = max;
    a->limit = clamp(a, a->limit);
    if (a->probe_limit < min)
        a->probe_limit = min;
    if (a->probe_limit > max)
        a->probe_limit = max;
}

uint32_t pol_adaptive_learned(const pol_adaptive_t *a)
{
    return (uint32_t)(a->limit + 0.5);
}

uint32_t pol_adaptive_limit(const pol_adaptive_t *a)
{
    return a->phase == POL_ADAPTIVE_PROBE ? a->probe_limit : pol_adaptive_learned(a);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    return p < q ? -1 : p > q;
}

/* The window's latency: the mean of the middle half of the latencies kept (the interquartile
 * mean), in ns (num_lat >= 1). Percentile-based like a median (the slowest and fastest quarter
 * do not count), but it moves smoothly with the share of requests that queued: the median of a
 * backend whose requests either wait one service time or none jumps from one to the other. */
static uint64_t latency_ns(pol_adaptive_t *a)
{
    qsort(a->lat_us, a->num_lat, sizeof(a->lat_us[0]), cmp_u32);
    uint32_t lo = a->num_lat / 4, hi = a->num_lat - a->num_lat / 4;
    uint64_t sum = 0;
    for (uint32_t i = lo; i != hi; ++i)
        sum += a->lat_us[i];
    return sum * 1000u / (hi - lo);
}

static void keep_latency(pol_adaptive_t *a, uint64_t latency_ns)
{
    uint64_t us = latency_ns / 1000u;
    uint32_t v = us == 0 ? 1 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    ++a->fresh;
    if (a->num_lat < POL_ADAPTIVE_SAMPLES) {
        a->lat_us[a->num_lat++] = v;
        return;
    }
    /* reservoir sampling: each of the window's latencies is kept with the same chance */
    uint64_t j = next_random(a) % a->fresh;
    if (j < POL_ADAPTIVE_SAMPLES)
        a->lat_us[j] = v;
}

static uint64_t window_ns(const pol_adaptive_t *a)
{
    /* a few round trips of the backend without a queue; with a queue, it lasts until the
     * requests sent after it began come back (MIN_SAMPLES of them), so about one latency more */
    uint64_t w = 2 * a->base_ns;
    return w < MIN_WINDOW_NS ? MIN_WINDOW_NS : w > MAX_WINDOW_NS ? MAX_WINDOW_NS : w;
}

static void start_probe(pol_adaptive_t *a, uint64_t now_ns)
{
    uint32_t learned = pol_adaptive_learned(a), half = learned / 2;
    a->phase = POL_ADAPTIVE_PROBE;
    a->probe_limit = half < a->min ? a->min : half;
    a->probe_rtt_ns = a->rtt_ns;
    a->probe_may_raise = a->decreases >= PROBE_AFTER_DECREASES;
    start_window(a, now_ns);
}

static void end_probe(pol_adaptive_t *a, uint64_t now_ns)
{
    ++a->probes;
    a->candidate_ns = 0;
    if (a->num_lat >= MIN_LATENCIES) {
        uint64_t rtt = latency_ns(a);
        if (rtt * 20 < a->base_ns * 19)
            a->base_ns = rtt; /* `base` was measured with a queue */
        else if (a->probe_may_raise && rtt * 10 >= a->probe_rtt_ns * 9)
            a->candidate_ns = rtt; /* as slow as at the full limit: maybe the backend's own latency now */
        /* settled when the probe found `base` again: else probe again soon */
        a->base_settled = rtt * 4 <= a->base_ns * 5;
    }
    a->phase = POL_ADAPTIVE_LEARN;
    a->since_probe = a->decreases = 0;
    uint64_t interval = 50 * a->base_ns;
    a->probe_due_ns = now_ns + (interval > PROBE_INTERVAL_NS ? interval : PROBE_INTERVAL_NS);
    start_window(a, now_ns);
}

static int probe_due(const pol_adaptive_t *a, uint64_t now_ns)
{
    if (a->base_ns == 0 || !a->limited)
        return 0; /* below the limit, latencies are measured at the demand's concurrency anyway */
    if (now_ns >= a->probe_due_ns)
        return 1;
    return a->since_probe >= PROBE_SOON_WINDOWS && (!a->base_settled || a->decreases >= PROBE_AFTER_DECREASES);
}

static void close_window(pol_adaptive_t *a, uint64_t now_ns)
{
    double limit = a->limit, next = limit, headroom = root(limit) / 2, queue = 0;
    ++a->windows;
    ++a->since_probe;
    if (a->num_lat >= MIN_LATENCIES) {
        uint64_t rtt = latency_ns(a);
        int first = a->base_ns == 0;
        a->rtt_ns = rtt;
        if (a->candidate_ns != 0 && rtt * 9 <= a->candidate_ns * 10)
            a->base_ns = a->candidate_ns; /* the latency at the full limit again, before and after the probe: no queue in it */
        a->candidate_ns = 0;
        if (first || rtt < a->base_ns)
            a->base_ns = rtt;
        /* latencies within TOLERANCE of `base` count as no queue: `base` is the lowest of noisy
         * window latencies, a little below the typical one */
        double gradient = (double)a->base_ns * (1 + TOLERANCE) / (double)rtt;
        if (gradient > 1)
            gradient = 1;
        if (gradient < 0.5)
            gradient = 0.5; /* at most halved per window: a burst of slow answers is not a collapse */
        double used = a->max_in_flight < limit ? a->max_in_flight : limit;
        if (used < 1)
            used = 1;
        queue = used * (1 - gradient);
        if (first) {
            /* `base` was measured in this very window: it says nothing of a queue yet */
        } else if (queue > headroom) {
            /* straight to where the queue would be the headroom: the window's requests were all
             * sent under this limit, so its latency is this limit's, not an older one's */
            double target = used * gradient + headroom;
            if (target < limit)
                next = target;
        } else if (a->limited && used * 2 >= limit) {
            /* demand exceeds the limit and the backend keeps up: no queue at all means spare
             * capacity, so grow fast; a small queue means close, so approach */
            if (queue * 4 <= headroom)
                next = limit + (limit / 4 > headroom ? limit / 4 : headroom);
            else
                next = limit + (headroom - queue) / 2;
        }
    }
    if (a->drops != 0) {
        double share = (double)a->drops / (double)(a->drops + a->fresh);
        double cut = limit * (1 - share / 2);
        if (cut < next)
            next = cut;
    }
    next = clamp(a, next);
    a->saturated = a->drops != 0 || queue * 2 >= headroom;
    a->decreases = next < limit ? a->decreases + 1 : 0;
    a->limit = next;
    if (probe_due(a, now_ns))
        start_probe(a, now_ns);
    else
        start_window(a, now_ns);
}

int pol_adaptive_sample(pol_adaptive_t *a, uint64_t now_ns, uint64_t admitted_ns, uint64_t latency_ns, int dropped,
                        uint32_t in_flight, uint32_t queued)
{
    uint32_t before = pol_adaptive_limit(a);
    if (a->start_ns == 0) /* the first sample: the first window began when it was admitted */
        a->start_ns = admitted_ns;
    if (a->last_ns != 0 && now_ns - a->last_ns > IDLE_NS + 4 * window_ns(a)) {
        /* the first sample after an idle period: what the window (or a probe) held before it
         * says nothing of now; start afresh, with the limit learned */
        a->phase = POL_ADAPTIVE_LEARN;
        start_window(a, now_ns);
    }
    a->last_ns = now_ns;
    if (in_flight > a->max_in_flight)
        a->max_in_flight = in_flight;
    if (queued != 0 || in_flight >= before)
        a->limited = 1;
    if (dropped) {
        if (a->phase == POL_ADAPTIVE_LEARN)
            ++a->drops;
    } else if (latency_ns != 0 && admitted_ns >= a->start_ns) {
        /* only requests admitted since the window (or probe) began: they ran under its limit */
        keep_latency(a, latency_ns);
    }
    if (a->phase == POL_ADAPTIVE_PROBE) {
        uint32_t enough = a->probe_limit < 4 ? 4 : a->probe_limit > PROBE_SAMPLES ? PROBE_SAMPLES : a->probe_limit;
        if (a->fresh >= enough || now_ns - a->start_ns >= PROBE_TIMEOUT_NS + 10 * a->base_ns)
            end_probe(a, now_ns);
    } else if (now_ns - a->start_ns >= window_ns(a) && a->fresh + a->drops >= MIN_SAMPLES) {
        close_window(a, now_ns);
    }
    return pol_adaptive_limit(a) != before;
}
