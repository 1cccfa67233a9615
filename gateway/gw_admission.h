/*
 * Admission: the route's rate limits, then its concurrency limit, between route match and the
 * upstream (DESIGN.md, "Order of decisions").
 */
#ifndef SLUICE_GW_ADMISSION_H
#define SLUICE_GW_ADMISSION_H

#include "gw_request.h"

/* Creates the limiter state of every route of ctx->config. Returns 0 or -1 (printed). */
int gw_admission_init(gw_ctx_t *ctx);

/* Frees the limiter state (at exit: no request may be left). */
void gw_admission_dispose(gw_ctx_t *ctx);

/* Decides for a routed request: calls gw_proxy_start_upstream() now or later, or answers with
 * 429/503 itself. */
void gw_admission_begin(gw_request_t *r);

/* Lets go of whatever admission still holds for the request (a place in a waiting room, a
 * delay timer, a concurrency slot). Idempotent: called on every exit. */
void gw_admission_release(gw_request_t *r);

/* Live limiter state of every route as a JSON object (malloc'd, caller frees). */
char *gw_admission_limits_json(gw_ctx_t *ctx, size_t *len);

#endif
