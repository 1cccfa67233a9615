/*
 * libh2o answers some malformed requests itself before any handler runs (400 bad request, 413
 * body too large, 417 unknown expectation), in plain text. Those answers are bound to the host's
 * fallback path, never to sluice's handler; a response filter there rewrites them into sluice's
 * JSON error, so that every answer sluice gives has the same shape.
 */
#ifndef SLUICE_GW_H2O_ERRORS_H
#define SLUICE_GW_H2O_ERRORS_H

#include "gw_ctx.h"

void gw_h2o_errors_register(gw_ctx_t *ctx, h2o_hostconf_t *host);

#endif
