/*
 * Global limits: rate limits and concurrency limits held in Redis (policies/pol_global.h has the
 * algorithms and their accuracy), behind the limiter interface (gw_limiter.h). They answer
 * UNAVAILABLE when Redis cannot be asked; admission then applies redis.on_error, `local` through
 * each limiter's `fallback`:
 * - a rate limit's stand-in is a local bucket of its share (rate / instances);
 * - a concurrency limit's stand-in shares its per-key state: it admits while this instance's
 *   requests of the key, however they were admitted, are fewer than its share
 *   (ceil(limit / instances)), so the requests admitted through Redis before it failed still
 *   count. The requests it admits are entered in Redis (without a check) as soon as Redis is
 *   back, before any other acquire of the key, so that they count there too.
 *
 * gw_rlimits_t is what the global limits of one loop share: the Redis client (and, after a reload
 * that moved to another server, the previous one for the slots still held there), the renewal of
 * held slots, and slots kept for reuse.
 */
#ifndef SLUICE_GW_LIM_REDIS_H
#define SLUICE_GW_LIM_REDIS_H

#include "cfg_config.h"
#include "gw_clock.h"
#include "gw_limiter.h"
#include "gw_metrics.h"
#include "gw_redis.h"
#include "gw_timer.h"

typedef struct st_gw_rlimits_t gw_rlimits_t;

/* The shared part of one loop's global limits; nothing connects before gw_rlimits_apply. */
gw_rlimits_t *gw_rlimits_new(h2o_loop_t *loop, h2o_timeout_t *zero, gw_timer_wheel_t *wheel, h2o_multithread_receiver_t *resolver,
                             gw_redis_metrics_t *metrics, gw_rng_t *rng);
/* Brings the Redis client in line with `config`: started, kept (timeout and password taken),
 * replaced (another server or database: the old client is kept for one slot_lease, for the slots
 * of the old config's requests), or stopped. */
void gw_rlimits_apply(gw_rlimits_t *rl, const cfg_config_t *config);
/* The current client (NULL without a redis: block), for /readyz. */
gw_redis_t *gw_rlimits_redis(gw_rlimits_t *rl);
/* At exit: gives back the slots kept for reuse (ZREM), so that other instances need not wait. */
void gw_rlimits_release_idle(gw_rlimits_t *rl);

/* A global rate limit of route `route` under `redis` (its fallback: rate / instances). */
gw_limiter_t *gw_lim_redis_rate_new(gw_rlimits_t *rl, const char *route, const cfg_rate_limit_t *cfg, const cfg_redis_t *redis,
                                    uint64_t seed);
/* 1 when `l` is a global rate limit made with the same parameters as `cfg`. */
int gw_lim_redis_rate_unchanged(gw_limiter_t *l, const cfg_rate_limit_t *cfg);
/* A global concurrency limit with a room of `levels` priority levels. */
gw_limiter_t *gw_lim_redis_slots_new(gw_rlimits_t *rl, const char *route, const cfg_concurrency_t *cfg, const cfg_redis_t *redis,
                                     unsigned levels, uint64_t seed);
/* 1 when `l` (a global limiter) keeps its state under `redis`: the same server, database, key
 * prefix and number of instances; 0 for a local limiter. */
int gw_lim_redis_matches(gw_limiter_t *l, const cfg_redis_t *redis);
/* Concurrency: 1 when `l` can take `cfg` as a change of parameters keeping its state (same keys
 * and levels), then gw_lim_redis_slots_reconfigure does it. */
int gw_lim_redis_slots_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels);
void gw_lim_redis_slots_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg);

#endif
