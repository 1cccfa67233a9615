/*
 * Fair shares of one rate-limit bucket among the clients that use it (`fair:` on a route-wide
 * rate limit). Pure: time is passed in.
 *
 * The keys sharing the bucket are those that asked in the current window of POL_FAIR_WINDOW_NS or
 * in the one before, whichever are more (so the count does not restart at zero at each window).
 * Each key's share is rate / keys, paced like a bucket of its own (GCRA without burst): a key is
 * under its share when its own next token is due. While the shared bucket is drained (the caller
 * says when), only keys under their share may take from it, so a greedy key leaves the others'
 * share in it all along; while it is not drained, anyone may take (no capacity is kept idle). The
 * keys' own schedules drift apart with their arrivals, so they never all take at once. A client
 * that needs less than its share gets all it asks, however many keys the others use.
 */
#ifndef SLUICE_POL_FAIR_H
#define SLUICE_POL_FAIR_H

#include <stdint.h>

#define POL_FAIR_WINDOW_NS 1000000000ull

typedef struct st_pol_fair_t {
    uint64_t window; /* the window of `active` (now / POL_FAIR_WINDOW_NS) */
    uint32_t active, active_before;
} pol_fair_t;

/* One key's use of the bucket; zeroed = unused. */
typedef struct st_pol_fair_key_t {
    uint64_t window;      /* the last window it asked in */
    uint64_t tat;         /* when its next token is due */
    uint64_t interval_ns; /* its share's spacing, as of its last question */
} pol_fair_key_t;

/* Notes that `k` asks at now_ns, and says whether it is under its share of `count` tokens per
 * `period_ns` (1) or not (0). */
int pol_fair_under_share(pol_fair_t *f, pol_fair_key_t *k, uint64_t count, uint64_t period_ns, uint64_t now_ns);
/* `k` took a token at now_ns (after pol_fair_under_share at the same time). */
void pol_fair_took(pol_fair_key_t *k, uint64_t now_ns);
/* The keys sharing the bucket now (for /limits). */
uint32_t pol_fair_keys(const pol_fair_t *f, uint64_t now_ns);
/* 1 when forgetting `k` loses nothing: it has not asked in this window or the one before, and its
 * next token is due. */
int pol_fair_key_at_rest(const pol_fair_key_t *k, uint64_t now_ns);

#endif
