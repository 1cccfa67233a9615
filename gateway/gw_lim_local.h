/*
 * Limiters of one process: GCRA buckets (policies/pol_gcra) and semaphores with waiting rooms
 * (policies/pol_sema), for the whole route or one per key (policies/pol_keyed). See gw_limiter.h
 * for the interface; these never answer PENDING nor UNAVAILABLE.
 */
#ifndef SLUICE_GW_LIM_LOCAL_H
#define SLUICE_GW_LIM_LOCAL_H

#include "cfg_config.h"
#include "gw_limiter.h"

/* A rate limit of `count` tokens per `period_ns` with `burst` (the config's, or a share of them
 * for the stand-in of a global limit), keyed by cfg->per. `seed`: random bits for the key hash. */
gw_limiter_t *gw_lim_local_rate_new(const char *route, const cfg_rate_limit_t *cfg, uint64_t count, uint64_t period_ns,
                                    uint32_t burst, uint64_t seed);

/* 1 when `l` is a local rate limit made with the same parameters as `cfg` (its buckets can serve it). */
int gw_lim_local_rate_unchanged(gw_limiter_t *l, const cfg_rate_limit_t *cfg);

/* A concurrency limit of `limit` slots with cfg's room, `levels` priority levels, keyed by
 * cfg->per. Wake-ups go through `zero` (a 0 ms timeout list of `loop`). */
gw_limiter_t *gw_lim_local_slots_new(h2o_loop_t *loop, h2o_timeout_t *zero, const char *route, const cfg_concurrency_t *cfg,
                                     uint32_t limit, unsigned levels, uint64_t seed);

/* 1 when `l` (a local slots limiter) can take `cfg` as a change of its parameters, keeping its
 * slots and waiters: same keys and same number of levels. */
int gw_lim_local_slots_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels);
/* Takes the new limit, room size and order. Waiters stay; a raised limit lets them in (woken
 * from the loop); a lowered one admits nobody until fewer are in flight. */
void gw_lim_local_slots_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg, uint32_t limit);

/* For a limit that changes by itself (gw_lim_adaptive): the new limit of every key, as
 * reconfigure would set it, and whether the room is squeezed (pol_room: the less important
 * levels' share shrinks while the backend is saturated). */
void gw_lim_local_slots_set_limit(gw_limiter_t *l, uint32_t limit, int squeeze);

/* The semaphore whose slot `h` holds (acquired from `l`): requests in flight (h among them) and
 * waiting, under h's key. */
void gw_lim_local_slots_load(gw_limiter_t *l, const gw_hold_t *h, uint32_t *in_flight, uint32_t *queued);

/* The slots' state as JSON fields, `,"limit":..,"queue_size":..,"in_flight":..,"queued":..,"per":..`,
 * for a limiter that describes itself around them. */
void gw_lim_local_slots_describe_fields(gw_limiter_t *l, gw_textbuf_t *b);

#endif
