/*
 * Global (cross-instance) limits: the algorithms that run in Redis, as Lua scripts, and the
 * local bookkeeping of what one instance holds of them. Pure: no I/O; the caller sends the
 * scripts through its store (gateway/gw_redis.c) and passes the replies and `now` in.
 *
 * Rate limits: the bucket is a GCRA time (TAT, microseconds of the Redis server's clock) under
 * one key; POL_GLOBAL_SCRIPT_LEASE takes up to `batch` tokens from it atomically, so no two
 * instances can spend the same token. An instance spends its leased tokens locally and drops
 * those left unspent after POL_LEASE_LIFETIME_NS.
 *
 * Accuracy bound of leasing, over any window W with N instances:
 * - admitted <= rate * W + burst + (tokens held when W starts) <= rate * (W + 1.25 * L) + burst,
 *   with L = POL_LEASE_LIFETIME_NS (50 ms): a batch is at most rate * L / N tokens and an
 *   instance holds at most 1.25 batches (it refills at a quarter left). From a rested bucket
 *   there is no excess at all: every spent token was granted by the one shared bucket.
 * - admitted >= rate * W + burst - (tokens leased but unspent) >= ... - 1.25 * rate * L per
 *   expiry of an unused lease; under steady demand above the rate leases are spent well within
 *   L, so the loss is the tokens held at the end of W: at most 1.25 * rate * L (0.6% of 10 s).
 *
 * Concurrency: a slot is a member of a sorted set scored by its expiry (ms of the Redis clock);
 * POL_GLOBAL_SCRIPT_ACQUIRE drops expired members and adds one when fewer than `limit` remain,
 * so the limit holds across instances while Redis is healthy and the slots of a dead instance
 * come back when their lease runs out. Holders renew (POL_GLOBAL_SCRIPT_RENEW) every third of
 * the lease and release with ZREM.
 *
 * Fairness across instances: an instance passes a slot freed by one of its requests straight to
 * its own next waiter, which alone would let it keep every slot while others wait. So a failed
 * acquire marks its instance as waiting (a second sorted set), the replies of acquires and
 * renewals say how many other instances wait, and while some do, an instance holding more than
 * its share (pol_global_local_share) gives a freed slot back to Redis instead, and does not
 * acquire more.
 */
#ifndef SLUICE_POL_GLOBAL_H
#define SLUICE_POL_GLOBAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    POL_GLOBAL_SCRIPT_LEASE, /* KEYS[1] bucket; ARGV interval_us, capacity_us, wanted -> {granted, retry_after_us} */
    /* KEYS[1] slots, KEYS[2] waiting instances; ARGV limit, lease_ms, member, instance
     * -> {1 (got it) | 0 (full: the instance is marked waiting), other instances waiting} */
    POL_GLOBAL_SCRIPT_ACQUIRE,
    /* KEYS[1] slots, KEYS[2] waiting instances; ARGV lease_ms, member, instance
     * -> {1 (renewed) | 0 (it had expired), other instances waiting} */
    POL_GLOBAL_SCRIPT_RENEW,
    POL_GLOBAL_SCRIPT_COUNT
} pol_global_script_t;

/* The Lua source of each script, indexed by pol_global_script_t. */
extern const char *const pol_global_scripts[POL_GLOBAL_SCRIPT_COUNT];

#define POL_LEASE_LIFETIME_NS 50000000u /* unspent leased tokens are dropped after 50 ms */

/* An instance whose acquire failed counts as waiting for this long (its room polls at least
 * every 50 ms, each poll renewing the mark). */
#define POL_WAITING_MARK_MS 250
#define POL_WAITING_MARK_MS_TEXT "250"

typedef struct st_pol_lease_params_t {
    uint32_t batch;     /* tokens asked for per lease */
    uint32_t low_water; /* a refill starts in the background when this many remain */
    double interval_us; /* GCRA emission interval */
    double capacity_us; /* burst * interval */
} pol_lease_params_t;

/* One instance's share of one global bucket. Zeroed = holds nothing. */
typedef struct st_pol_lease_t {
    uint32_t tokens;         /* unspent tokens of the current lease */
    uint32_t fetching;       /* 1 while a lease request is in flight */
    uint64_t expires_ns;     /* tokens are void from this time on */
    uint64_t empty_until_ns; /* Redis said no token is due before this time */
} pol_lease_t;

/* Batch sized to the rate: the tokens one of `instances` spends in a lease lifetime, at most
 * its share of the burst, at least 1. Expects count, period_ns, burst, instances >= 1. */
void pol_lease_params_init(pol_lease_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst, uint32_t instances);

/* Spends one leased token at now_ns: 1 when there was one, else 0. */
int pol_lease_take(pol_lease_t *l, uint64_t now_ns);

/* 1 while tokens of this instance's lease are left to spend (Redis may have none left). */
int pol_lease_has_tokens(const pol_lease_t *l, uint64_t now_ns);

/* Time from now_ns during which Redis is known to have no token (0 when unknown or past). */
uint64_t pol_lease_empty_for(const pol_lease_t *l, uint64_t now_ns);

/* 1 when a lease request should be sent now: none in flight, the shared bucket not known to be
 * empty, and the local tokens at or below the low-water mark (or void). */
int pol_lease_wants_refill(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns);

/* Records a lease reply received at now_ns: `granted` tokens (they replace void ones and add to
 * live ones) and, when none was granted, the time until the next token is due. */
void pol_lease_granted(pol_lease_t *l, uint64_t now_ns, uint32_t granted, uint64_t retry_after_ns);

/* 1 when forgetting the lease loses nothing: no request in flight, no live token, nothing known. */
int pol_lease_at_rest(const pol_lease_t *l, uint64_t now_ns);

/* The fallback share of a limit while Redis is unavailable: ceil(limit / instances), >= 1. */
uint32_t pol_global_local_share(uint64_t limit, uint32_t instances);

#endif
