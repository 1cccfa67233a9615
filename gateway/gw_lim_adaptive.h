/*
 * An adaptive concurrency limit (`limit: auto`): the local semaphores and rooms of
 * gw_lim_local, whose limit policies/pol_adaptive learns from the exchanges they admitted. Each
 * release with a sample (latency to the response head, failed or not) feeds the policy; when the
 * limit it gives changes, every key's semaphore takes it (a raised limit lets waiters in from the
 * loop, a lowered one admits nobody until fewer are in flight), and while the policy sees the
 * backend saturated the room is squeezed: the less important priority levels get a smaller share
 * of it, so they are refused first (pol_room).
 *
 * With `per:`, the one learned limit applies to each key's semaphore. Always local: the config
 * refuses `scope: global` with `limit: auto`.
 */
#ifndef SLUICE_GW_LIM_ADAPTIVE_H
#define SLUICE_GW_LIM_ADAPTIVE_H

#include "cfg_config.h"
#include "gw_limiter.h"

/* The adaptive limit `cfg` (cfg->adaptive set) with `levels` priority levels; wake-ups through
 * `zero` (a 0 ms timeout list of `loop`). `seed`: random bits. */
gw_limiter_t *gw_lim_adaptive_new(h2o_loop_t *loop, h2o_timeout_t *zero, const char *route, const cfg_concurrency_t *cfg,
                                  unsigned levels, uint64_t seed);

/* 1 when `l` is an adaptive limit that can take `cfg` (adaptive too) as a change of parameters,
 * keeping its holders, waiters and what it learned: same keys and same number of levels. */
int gw_lim_adaptive_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels);

/* Takes cfg's bounds (the learned limit is kept, within them), room size, order and timeout. */
void gw_lim_adaptive_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg);

#endif
