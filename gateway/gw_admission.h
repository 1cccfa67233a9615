/*
 * Admission: the route's rate limits, then its concurrency limit, between route match and the
 * upstream (DESIGN.md, "Order of decisions").
 */
#ifndef SLUICE_GW_ADMISSION_H
#define SLUICE_GW_ADMISSION_H

#include "gw_request.h"

/* The loop-wide part (delay timers), once per context. */
void gw_admission_init_ctx(gw_ctx_t *ctx);

/* The limiter state of one route, or NULL when it has no limits. Each rate limit and the
 * concurrency limit of `previous` (the same-named route of the generation being replaced, or
 * NULL) whose name and parameters are unchanged is shared, state included; others start fresh. */
gw_admission_t *gw_admission_create(gw_ctx_t *ctx, const cfg_route_t *cfg, const cfg_redis_t *redis,
                                    const gw_admission_t *previous);
/* Brings the Redis client in line with `config` (the current generation's): started, kept,
 * replaced (address, password, database or timeout changed) or stopped. */
void gw_global_apply_redis(gw_ctx_t *ctx, const cfg_config_t *config);

/* Gives back (ZREM) the global slots kept for reuse: at exit, so that other instances need not
 * wait for their lease. */
void gw_global_release_idle(gw_ctx_t *ctx);

/* Drops the route's references; state still shared by another generation lives on. */
void gw_admission_free(gw_admission_t *adm);

/* Decides for a routed request: calls gw_proxy_start_upstream() now or later, or answers with
 * 429/503 itself. */
void gw_admission_begin(gw_request_t *r);

/* Lets go of whatever admission still holds for the request (a place in a waiting room, a
 * delay timer, a concurrency slot). Idempotent: called on every exit. */
void gw_admission_release(gw_request_t *r);

/* Live limiter state of every route as a JSON object (malloc'd, caller frees). */
char *gw_admission_limits_json(gw_ctx_t *ctx, size_t *len);

#endif
