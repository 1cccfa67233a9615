/*
 * The admin API, served only on the `admin:` listener: /healthz, /readyz, /metrics, /config,
 * /limits.
 */
#ifndef SLUICE_GW_ADMIN_H
#define SLUICE_GW_ADMIN_H

#include "gw_ctx.h"

int gw_admin_on_req(gw_ctx_t *ctx, h2o_req_t *req);

#endif
