/*
 * Global (cross-instance) limits: the algorithms that run in Redis, as Lua scripts, and the
 * local bookkeeping of what one instance holds of them. Pure: no I/O; the caller sends the
 * scripts through its store (gateway/gw_redis.c) and passes the replies and `now` in.
 *
 * Rate limits: the bucket is a GCRA time (TAT, microseconds of the Redis server's clock) under
 * one key. POL_GLOBAL_SCRIPT_LEASE takes atomically, so that no two instances can spend the same
 * token, up to `batch` tokens: those that conform now, and those that will conform within the
 * lease horizon (POL_LEASE_LIFETIME_NS), each dated with the instant it conforms. The instance
 * spends a dated token from its date on, for as many intervals (period / count) as the burst
 * allows on top of the tokens it holds that conformed at once (at least one), and drops it after. So a token is spent no earlier
 * than the one shared bucket allows, tokens held while no request came are never spent together, and with burst 1 at 1000/s the
 * next tokens are already leased, dated, when the current one is spent: nothing is lost waiting for a round trip, and the schedule
 * never slips.
 *
 * The arithmetic is exact: times are integers, in units of 1/count microsecond relative to the
 * script's own `now`, so that the interval (period / count) is an integer however the rate
 * divides the period (3/s, 7/s, 30/s), and no difference of two 1.8e15 timestamps loses its
 * fraction in Lua's doubles. A reply can never say "empty for 0": a refused lease always names a
 * future instant.
 *
 * Accuracy bound of leasing, over any window W with N instances:
 * - admitted <= rate * W + burst + N: what conforms in the shared bucket during W, plus what was
 *   held when W started: tokens that conformed at once (taken from the bucket's capacity, so they
 *   and what is left of it are at most the burst) and, per instance, dated tokens still spendable
 *   (at most the burst less those, and one).
 * - admitted >= rate * W + burst - (tokens leased but never spent): a lease is at most
 *   rate * L / N tokens (L = POL_LEASE_LIFETIME_NS, 50 ms); under steady demand above the rate
 *   every dated token is spent in its interval, so the loss is what is held at the end of W: at
 *   most 1.25 * rate * L (0.6% of 10 s).
 *
 * Concurrency: a slot is a member of a sorted set scored by its expiry (ms of the Redis clock);
 * POL_GLOBAL_SCRIPT_ACQUIRE drops expired members and adds one when fewer than `limit` remain,
 * so the limit holds across instances while Redis is healthy and the slots of a dead instance
 * come back when their lease runs out. Holders renew (POL_GLOBAL_SCRIPT_RENEW) every third of
 * the lease and release with ZREM. Requests admitted by the `local` fallback while Redis was
 * unavailable are entered without a check once it is back (POL_GLOBAL_SCRIPT_REGISTER), so that
 * they count before anyone else is admitted.
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
    /* KEYS[1] bucket; ARGV period_us, count, burst, wanted, horizon_us
     * -> {granted, ready, next_due_us, retry_us}: `granted` tokens of which `ready` conform now,
     *    the others from next_due_us on, one interval apart; or {0, 0, 0, retry_us > 0} */
    POL_GLOBAL_SCRIPT_LEASE,
    /* KEYS[1] slots, KEYS[2] waiting instances; ARGV limit, lease_ms, member, instance
     * -> {1 (got it) | 0 (full: the instance is marked waiting), other instances waiting, slots taken} */
    POL_GLOBAL_SCRIPT_ACQUIRE,
    /* KEYS[1] slots, KEYS[2] waiting instances; ARGV lease_ms, member, instance
     * -> {1 (renewed) | 0 (it had expired), other instances waiting} */
    POL_GLOBAL_SCRIPT_RENEW,
    /* KEYS[1] slots; ARGV lease_ms, member... -> slots taken (the members are entered whatever the
     * limit: they run already) */
    POL_GLOBAL_SCRIPT_REGISTER,
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
    uint32_t batch;       /* tokens asked for per lease */
    uint32_t low_water;   /* a refill starts in the background when this many remain */
    uint64_t period_us;   /* the rate's period (LEASE's ARGV) */
    uint64_t count;       /* tokens per period */
    uint32_t burst;       /* capacity */
    uint64_t interval_ns; /* period / count, rounded up: the spacing of leased tokens */
} pol_lease_params_t;

/* One instance's share of one global bucket. Zeroed = holds nothing. */
typedef struct st_pol_lease_t {
    uint32_t tokens;   /* leased and not spent */
    uint32_t ready;    /* of which this many may be spent now */
    uint32_t fetching; /* 1 while a lease request is in flight */
    uint32_t reserved;
    uint64_t expires_ns;     /* tokens are void from this time on */
    uint64_t next_due_ns;    /* the next token after the ready ones may be spent from then on */
    uint64_t empty_until_ns; /* Redis said no token is due before this time */
} pol_lease_t;

/* Batch sized to the rate: the tokens one of `instances` spends in a lease lifetime, at least 1.
 * Zeros are taken as 1. */
void pol_lease_params_init(pol_lease_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst, uint32_t instances);

/* Spends one leased token at now_ns: 1 when one was due, else 0; then *not_before_ns is when the
 * next leased token will be due (0 when none is leased). A dated token may be spent from its date
 * for `burst` intervals less those held that conformed at once (at least one interval), then it
 * is dropped: tokens held while no request came are never spent together beyond the burst. */
int pol_lease_take(pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint64_t *not_before_ns);

/* What a take would do now without taking: 1 (a token is ready), 0 (refused: *retry_after_ns
 * until a leased token is due, or Redis said empty), -1 (nothing known: ask Redis). */
int pol_lease_peek(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint64_t *retry_after_ns);

/* 1 while tokens of this instance's lease are left to spend (now or later). */
int pol_lease_has_tokens(const pol_lease_t *l, uint64_t now_ns);

/* Time from now_ns during which Redis is known to have no token (0 when unknown or past). */
uint64_t pol_lease_empty_for(const pol_lease_t *l, uint64_t now_ns);

/* 1 when a lease request should be sent now: none in flight, the shared bucket not known to be
 * empty, and the local tokens at or below the low-water mark (or void). */
int pol_lease_wants_refill(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns);

/* Records a lease reply received at now_ns: `granted` tokens of which `ready` may be spent now,
 * the others from next_due_ns later on, an interval apart (after the dated tokens still held);
 * or none and the time until the next is due. A refusal that names no future instant is taken
 * as 1 ms, so nothing ever retries at once. */
void pol_lease_granted(pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint32_t granted, uint32_t ready,
                       uint64_t next_due_ns, uint64_t retry_after_ns);

/* 1 when forgetting the lease loses nothing: no request in flight, no live token, nothing known. */
int pol_lease_at_rest(const pol_lease_t *l, uint64_t now_ns);

/* The fallback share of a limit while Redis is unavailable: ceil(limit / instances), >= 1. */
uint32_t pol_global_local_share(uint64_t limit, uint32_t instances);

#endif
