#include "pol_adaptive.h"

#include <stdlib.h>

#define MS 1000000ull
#define MIN_WINDOW_NS (100 * MS)
#define MAX_WINDOW_NS (60000 * MS)
#define MIN_SAMPLES 8   /* samples (latencies and drops) that close a window */
#define MIN_LATENCIES 4 /* the latency of fewer says nothing */
#define PROBE_TIMEOUT_NS (500 * MS)
#define PROBE_INTERVAL_NS (10000 * MS)
#define PROBE_AFTER_DECREASES 3 /* decreases in a row that call for a probe */
#define PROBE_SOON_WINDOWS 3    /* the fewest windows between two probes */
#define TOLERANCE 0.05
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
    a->first_adm_ns = 0;
    a->limited = 0;
}

void pol_adaptive_init(pol_adaptive_t *a, uint32_t min, uint32_t max, uint32_t initial, uint64_t seed)
{
    *a = (pol_adaptive_t){.min = min, .max = max, .rng = seed | 1};
    a->limit = clamp(a, initial);
}

/* Ends a probe without learning from it: the learned limit applies again. */
static void abandon_probe(pol_adaptive_t *a, uint64_t now_ns)
{
    if (a->phase == POL_ADAPTIVE_PROBE) {
        a->phase = POL_ADAPTIVE_LEARN;
        start_window(a, now_ns);
    }
}

void pol_adaptive_set_bounds(pol_adaptive_t *a, uint32_t min, uint32_t max, uint64_t now_ns)
{
    a->min = min;
    a->max = max;
    a->limit = clamp(a, a->limit);
    abandon_probe(a, now_ns); /* its limit was half of the old one: the new one applies at once */
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

/* The window's cohort: the requests admitted up to `cutoff_ns` (those admitted later are still
 * partly out, and the ones back already are the fast ones). Their number, their latencies copied
 * to `lat` when not NULL. */
static uint32_t cohort(const pol_adaptive_t *a, uint64_t cutoff_ns, uint32_t *lat)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i != a->num_lat; ++i)
        if (a->start_ns + (uint64_t)a->adm_us[i] * 1000u <= cutoff_ns) {
            if (lat != NULL)
                lat[n] = a->lat_us[i];
            ++n;
        }
    return n;
}

/* The latency of the cohort up to `cutoff_ns`: the mean of its latencies between the 10th and
 * 95th percentiles (a trimmed mean), in ns, and its 10th percentile in *low_ns (when not NULL);
 * 0 when fewer than MIN_LATENCIES are known. Percentile-based like a median (the fastest tenth
 * and the slowest twentieth do not count, so a few slow requests move nothing), but it moves
 * smoothly with the share of requests that queued: when requests either wait a whole service time
 * or none (a backend whose handlers start together), a median stays at the service time until
 * half of them queue. */
static uint64_t cohort_latency_ns(const pol_adaptive_t *a, uint64_t cutoff_ns, uint64_t *low_ns)
{
    uint32_t lat[POL_ADAPTIVE_SAMPLES], n = cohort(a, cutoff_ns, lat);
    if (n < MIN_LATENCIES)
        return 0;
    qsort(lat, n, sizeof(lat[0]), cmp_u32);
    if (low_ns != NULL)
        *low_ns = (uint64_t)lat[n / 10] * 1000u;
    uint32_t lo = n / 10, hi = n - n / 20;
    uint64_t sum = 0;
    for (uint32_t i = lo; i != hi; ++i)
        sum += lat[i];
    return sum * 1000u / (hi - lo);
}

static uint32_t clamp_us(uint64_t ns)
{
    uint64_t us = ns / 1000u;
    return us == 0 ? 1 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void keep_latency(pol_adaptive_t *a, uint64_t admitted_ns, uint64_t latency_ns)
{
    uint32_t j = a->num_lat;
    ++a->fresh;
    if (a->first_adm_ns == 0 || admitted_ns < a->first_adm_ns)
        a->first_adm_ns = admitted_ns;
    if (a->rtt_ns == 0)
        a->rtt_ns = latency_ns; /* the very first: a guess for how long a cohort takes */
    if (a->num_lat < POL_ADAPTIVE_SAMPLES) {
        ++a->num_lat;
    } else {
        /* reservoir sampling: each of the window's latencies is kept with the same chance */
        uint64_t r = next_random(a) % a->fresh;
        if (r >= POL_ADAPTIVE_SAMPLES)
            return;
        j = (uint32_t)r;
    }
    a->lat_us[j] = clamp_us(latency_ns);
    a->adm_us[j] = clamp_us(admitted_ns - a->start_ns);
}

static uint64_t window_ns(const pol_adaptive_t *a)
{
    /* admissions over a few round trips of the backend without a queue */
    uint64_t w = 2 * a->base_ns;
    return w < MIN_WINDOW_NS ? MIN_WINDOW_NS : w > MAX_WINDOW_NS ? MAX_WINDOW_NS : w;
}

/* How long after its admissions a cohort is back: one and a half latencies (with a queue, the
 * latency is the last window's). */
static uint64_t margin_ns(const pol_adaptive_t *a)
{
    uint64_t rtt = a->rtt_ns > a->base_ns ? a->rtt_ns : a->base_ns;
    return rtt + rtt / 2;
}

/* A window (or probe) is over once the requests admitted over window_ns() from its first are
 * back, and enough of them: `needed` latencies and drops. */
static int over(const pol_adaptive_t *a, uint64_t now_ns, uint32_t needed)
{
    uint64_t from = a->first_adm_ns != 0 ? a->first_adm_ns : a->start_ns;
    return now_ns >= from + window_ns(a) + margin_ns(a) && a->fresh + a->drops >= needed &&
           cohort(a, now_ns - margin_ns(a), NULL) + a->drops >= needed;
}

/* A lower latency than `base`: halfway down to it. `base` is the lowest of many noisy windows, so
 * one lucky window would drag it below the backend's real latency, and every later window would
 * then show a queue that is not there; a latency really lower is reached in a few windows. */
static void lower_base(pol_adaptive_t *a, uint64_t rtt_ns)
{
    a->base_ns -= (a->base_ns - rtt_ns) / 2;
}

static void start_probe(pol_adaptive_t *a, uint64_t now_ns)
{
    /* a settled limit sits a little above the capacity (by the headroom and the tolerance): three
     * quarters of it are below, and cost less than half; while `base` is in doubt, or after
     * decreases (the capacity may have fallen far), half */
    uint32_t learned = pol_adaptive_learned(a);
    uint32_t lower = a->base_settled && a->decreases < PROBE_AFTER_DECREASES ? learned * 3 / 4 : learned / 2;
    a->phase = POL_ADAPTIVE_PROBE;
    a->probe_limit = lower < a->min ? a->min : lower;
    a->probe_rtt_ns = a->rtt_ns;
    start_window(a, now_ns);
}

static void end_probe(pol_adaptive_t *a, uint64_t now_ns)
{
    ++a->probes;
    a->candidate_ns = 0;
    uint64_t rtt = cohort_latency_ns(a, now_ns - margin_ns(a), NULL);
    if (rtt != 0) {
        /* settled when the probe found `base` again; lower (there may be lower still) or higher:
         * probe again soon */
        a->base_settled = rtt * 20 >= a->base_ns * 19 && rtt * 4 <= a->base_ns * 5;
        if (rtt * 20 < a->base_ns * 19)
            a->base_ns = rtt; /* `base` was measured with a queue (a probe's cohort is no lucky window) */
        else if (rtt * 10 >= a->probe_rtt_ns * 9 && rtt * 10 <= a->probe_rtt_ns * 11)
            a->candidate_ns = rtt; /* as slow as at the full limit: maybe the backend's own latency now */
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
    if (a->since_probe < PROBE_SOON_WINDOWS)
        return 0;
    /* decreases (by a quarter at least: not the small steps around the headroom) that did not
     * bring the latency down: it may not be a queue but the backend's own latency grown, and
     * `base` stale; while the limit falls and the latency with it, probing would only measure the
     * queue still draining */
    if (a->decreases >= PROBE_AFTER_DECREASES && a->limit * 4 <= a->decrease_from * 3)
        return a->rtt_ns * 10 >= a->decrease_rtt_ns * 9;
    return !a->base_settled && a->decreases == 0;
}

static double headroom(const pol_adaptive_t *a)
{
    return root(a->limit) / 2;
}

/* The backend's queue estimated from a window's latency (TCP Vegas), and its gradient. */
static double queue_of(const pol_adaptive_t *a, uint64_t rtt_ns, double *gradient)
{
    /* latencies within TOLERANCE of `base` count as no queue: `base` is the lowest of noisy
     * window latencies, a little below the typical one */
    double g = (double)a->base_ns * (1 + TOLERANCE) / (double)rtt_ns;
    if (g > 1)
        g = 1;
    if (g < 0.5)
        g = 0.5; /* at most halved per window: a burst of slow answers is not a collapse */
    double used = a->max_in_flight < a->limit ? a->max_in_flight : a->limit;
    if (used < 1)
        used = 1;
    if (gradient != NULL)
        *gradient = g;
    return used * (1 - g);
}

/* Ends the window with its latency `rtt_ns` (0: none measured). */
static void close_window(pol_adaptive_t *a, uint64_t now_ns, uint64_t rtt)
{
    double limit = a->limit, next = limit, room = headroom(a), queue = 0;
    ++a->windows;
    ++a->since_probe;
    if (rtt != 0) {
        int first = a->windows == 1;
        a->rtt_ns = rtt;
        if (a->candidate_ns != 0 && rtt * 9 <= a->candidate_ns * 10)
            a->base_ns = a->candidate_ns; /* the latency at the full limit again, before and after the probe: no queue in it */
        a->candidate_ns = 0;
        if (first)
            a->probe_due_ns = now_ns + PROBE_INTERVAL_NS; /* and, while unsettled, after a few windows */
        else if (rtt < a->base_ns)
            lower_base(a, rtt);
        double gradient, used = a->max_in_flight < limit ? a->max_in_flight : limit;
        if (used < 1)
            used = 1;
        queue = queue_of(a, rtt, &gradient);
        if (first) {
            /* `base` was measured in this very window, from its fastest: not enough to act on */
        } else if (queue > room) {
            /* straight to where the queue would be the headroom: the window's requests were all
             * sent under this limit, so its latency is this limit's, not an older one's */
            double target = used * gradient + room;
            if (target < limit)
                next = target;
        } else if (a->limited && used * 2 >= limit) {
            /* demand exceeds the limit and the backend keeps up: no queue at all means spare
             * capacity, so grow fast; a small queue means close, so approach */
            if (queue * 4 <= room)
                next = limit + (limit / 4 > room ? limit / 4 : room);
            else
                next = limit + (room - queue) / 2;
        }
    }
    if (a->drops != 0) {
        double share = (double)a->drops / (double)(a->drops + a->fresh);
        double cut = limit * (1 - share / 2);
        if (cut < next)
            next = cut;
    }
    next = clamp(a, next);
    a->saturated = a->drops != 0 || queue * 2 >= room;
    a->decreases = next < limit ? a->decreases + 1 : 0;
    if (a->decreases == 1) {
        a->decrease_rtt_ns = rtt; /* the latency that started the decreases, and the limit */
        a->decrease_from = limit;
    }
    a->limit = next;
    if (probe_due(a, now_ns))
        start_probe(a, now_ns);
    else
        start_window(a, now_ns);
}

int pol_adaptive_arrival(pol_adaptive_t *a, uint64_t now_ns)
{
    /* a probe that heard nothing for its timeout (the traffic stopped while it ran) holds the
     * limit at its own for nothing */
    if (a->phase != POL_ADAPTIVE_PROBE || now_ns - a->last_ns < PROBE_TIMEOUT_NS + 10 * a->base_ns)
        return 0;
    abandon_probe(a, now_ns);
    return 1;
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
        keep_latency(a, admitted_ns, latency_ns);
    }
    if (a->phase == POL_ADAPTIVE_PROBE) {
        if (over(a, now_ns, MIN_LATENCIES) || now_ns - a->start_ns >= PROBE_TIMEOUT_NS + 10 * a->base_ns)
            end_probe(a, now_ns);
    } else if (over(a, now_ns, MIN_SAMPLES)) {
        uint64_t low = 0, rtt = cohort_latency_ns(a, now_ns - margin_ns(a), &low);
        if (a->base_ns == 0 && rtt != 0)
            a->base_ns = low; /* the first window's first requests found the backend idle (the
                                 others may have queued behind them: `initial` may be far
                                 above the capacity), so its fastest tenth is a first `base` */
        close_window(a, now_ns, rtt);
    } else if (a->base_ns != 0 && a->fresh >= MIN_SAMPLES && a->fresh % MIN_SAMPLES == 0 &&
               now_ns >= a->first_adm_ns + window_ns(a)) {
        /* the cohort is not all back, and the ones back are the faster: if even they show a
         * queue of twice the headroom, there is one (a deep queue makes cohorts slow to come
         * back: this is when the limit must fall fast) */
        uint64_t rtt = cohort_latency_ns(a, now_ns, NULL);
        if (rtt != 0 && queue_of(a, rtt, NULL) > 2 * headroom(a))
            close_window(a, now_ns, rtt);
    }
    return pol_adaptive_limit(a) != before;
}
