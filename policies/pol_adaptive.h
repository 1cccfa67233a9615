/*
 * An adaptive concurrency limit (`limit: auto`): learned from the upstream latency of the
 * requests it admits, between `min` and `max`, starting at `initial`.
 *
 * The model: a backend of capacity C answers in its no-load latency `base` while at most C
 * requests are in it; past C, the excess queues inside it and every request waits longer. So with
 * `used` requests in flight and a window's latency `rtt`, about
 *     queue = used * (1 - base / rtt)
 * of them wait inside the backend (TCP Vegas's estimate, as in Netflix's VegasLimit; latencies
 * within 5% of `base` count as no queue, for noise). The limit aims at a small queue, the
 * headroom sqrt(limit) / 2 (Envoy's and Netflix's Gradient headroom is sqrt(limit)): enough that
 * the backend never idles for want of work, little enough that its latency stays near `base`.
 * A window with more queue than that sets the limit to `used * base / rtt + headroom` (the
 * gradient form: where the queue would be the headroom; at most halved); a window in which demand
 * exceeded the limit and the backend showed no queue grows it by a quarter (or the headroom), so
 * that a doubled capacity is found in a few windows; a small queue approaches the headroom by
 * halves.
 *
 * A window measures a cohort: the requests admitted over its first 2 x base (at least 100 ms),
 * once they are back (1.5 latencies later); the requests back first are the fast ones, so a
 * window closed on the first answers would see less latency than there is. A cohort whose first
 * answers already show twice the headroom of queue closes early: a deep queue is slow to come
 * back, and that is when the limit must fall fast.
 *
 * What the anchors miss, and how this one does it:
 * - Percentiles, not the mean: a window's latency is the mean of its latencies between the 10th
 *   and 95th percentiles, so a few slow requests move nothing, yet it follows the share of queued
 *   requests smoothly where a median would jump. A window lower than `base` pulls it halfway
 *   down (one lucky window among many noisy ones would set it below the backend's real latency).
 * - No collapse to measure `base`. A stale `base` is the hard part: too low, the limit is pushed
 *   down for nothing; too high, queueing goes unseen (Gradient2's long average drifts up under
 *   sustained load, Vegas's probe takes a queued sample for the no-load one). Envoy pins the limit
 *   to 1-3 and sheds traffic to measure it (its issues 8337, 18152). Here a probe lowers the limit
 *   to half (to three quarters once `base` is settled and the limit steady: that is already below
 *   the capacity), never below `min`, for a few round trips while the excess waits in the room, and
 *   takes the latency of the requests admitted after it began (they ran beside fewer than the
 *   half: Envoy's 11579). A probe that finds lower latency lowers `base`. A probe as slow as the
 *   window before it, and the window after it as slow again (halving the concurrency did not
 *   help: that is the backend's own latency, not a queue), raises `base` to it: the backend
 *   became slower. Probes run every 10 s (or 50 x base), only while demand meets the limit;
 *   sooner while they find latencies other than `base` (once the limit stops falling), and after
 *   three decreases in a row, by a quarter in all, that did not bring the latency down (it may
 *   not be a queue). The first `base` is the fastest tenth of the first window: its first
 *   requests found the backend idle, the others may have queued behind them.
 * - Drops: a window whose exchanges failed or timed out (sample `dropped`) takes the limit down
 *   by half their share (all dropped: halved).
 * - Idle: nothing moves without samples (there is no timer); a window closes only on a sample,
 *   once its cohort is back and holds 8 samples; the first sample after a silence of a second (or
 *   4 windows) starts a new window, dropping what the old one (or a probe) held.
 * - Demand below the limit never raises it (Gradient2's "app limited" rule).
 * - A reload keeps the learned state (pol_adaptive_set_bounds clamps it to new bounds).
 *
 * Pure: time comes in as an argument (ns, one monotonic clock, > 0); no allocation, no I/O.
 */
#ifndef SLUICE_POL_ADAPTIVE_H
#define SLUICE_POL_ADAPTIVE_H

#include <stdint.h>

#define POL_ADAPTIVE_SAMPLES 256 /* latencies kept per window (a uniform sample of more) */

typedef enum { POL_ADAPTIVE_LEARN, POL_ADAPTIVE_PROBE } pol_adaptive_phase_t;

typedef struct st_pol_adaptive_t {
    uint32_t min, max;
    double limit;     /* the learned limit, within [min, max] */
    uint64_t base_ns; /* no-load latency; 0 until a window measured one */
    uint64_t rtt_ns;  /* the last window's latency */
    int saturated;    /* the last window saw the backend queueing (or dropping) */
    uint64_t windows; /* windows closed (for describe and tests) */
    uint64_t probes;  /* probes finished */
    pol_adaptive_phase_t phase;
    /* the current window (or probe) */
    uint64_t start_ns;
    uint64_t last_ns;       /* the last sample */
    uint32_t fresh;         /* latencies of exchanges begun since start_ns */
    uint32_t drops;         /* failed or timed-out exchanges */
    uint32_t max_in_flight; /* most in flight seen at a sample */
    int limited;            /* demand met the limit (in flight at it, or someone waiting) */
    /* probes */
    uint32_t probe_limit;
    uint64_t probe_due_ns;    /* the next probe when the window closes after this */
    uint64_t probe_rtt_ns;    /* the latency at the full limit, just before the probe */
    uint64_t candidate_ns;    /* a probe's latency, as high as before it: `base` if the next window agrees */
    unsigned decreases;       /* windows in a row that lowered the limit */
    uint64_t decrease_rtt_ns; /* the latency of the first of them */
    double decrease_from;     /* the limit before them */
    unsigned since_probe;     /* windows since the last probe */
    int base_settled;         /* the last probe found no lower latency than base */
    uint64_t rng;             /* for the uniform sample of latencies */
    uint64_t first_adm_ns;    /* the earliest admission among the window's latencies (0: none) */
    uint32_t num_lat;         /* entries of lat_us and adm_us in use */
    uint32_t lat_us[POL_ADAPTIVE_SAMPLES];
    uint32_t adm_us[POL_ADAPTIVE_SAMPLES]; /* each one's admission, from start_ns */
} pol_adaptive_t;

/* Starts learning at `initial` (clamped to [min, max]; 1 <= min <= max). `seed`: random bits. */
void pol_adaptive_init(pol_adaptive_t *a, uint32_t min, uint32_t max, uint32_t initial, uint64_t seed);

/* New bounds (a reload) at now_ns: the learned limit and latencies are kept, the limit clamped
 * to them; a probe under way ends (the learned limit applies). */
void pol_adaptive_set_bounds(pol_adaptive_t *a, uint32_t min, uint32_t max, uint64_t now_ns);

/* A request arrives at now_ns: a probe that has had no sample for its timeout (the traffic
 * stopped while it ran) ends, unlearned. Returns 1 when pol_adaptive_limit changed. */
int pol_adaptive_arrival(pol_adaptive_t *a, uint64_t now_ns);

/* One finished exchange of a request this limit admitted, at now_ns: when it was admitted (given
 * its slot), its upstream latency (to the response head), whether it failed or timed out, and the
 * semaphore's state when it ended: requests in flight (counting this one) and waiting. Returns 1
 * when pol_adaptive_limit changed. */
int pol_adaptive_sample(pol_adaptive_t *a, uint64_t now_ns, uint64_t admitted_ns, uint64_t latency_ns, int dropped,
                        uint32_t in_flight, uint32_t queued);

/* The limit to apply now: the learned one, or during a probe the probe's (lower). */
uint32_t pol_adaptive_limit(const pol_adaptive_t *a);

/* The learned limit (the value a probe returns to), rounded. */
uint32_t pol_adaptive_learned(const pol_adaptive_t *a);

/* 1 while the backend is at capacity: the last window saw a queue in it of at least half the
 * headroom, or drops. Priorities shed their least important levels first then. */
static inline int pol_adaptive_saturated(const pol_adaptive_t *a)
{
    return a->saturated;
}

#endif
