/*
 * Setting up one event loop's gateway: h2o contexts for the public and admin listeners, the
 * routes' and upstreams' runtime state, and the listening sockets.
 */
#ifndef SLUICE_GW_SERVER_H
#define SLUICE_GW_SERVER_H

#include "gw_ctx.h"

/* Builds the context for `config` (which it borrows; it must outlive the context). Resolves
 * upstream addresses. Returns 0, or -1 after printing why on stderr. */
int gw_ctx_init(gw_ctx_t *ctx, h2o_evloop_t *loop, cfg_config_t *config);
/* Opens every `listen` address and the admin address. Returns 0, or -1 after printing why. */
int gw_listen(gw_ctx_t *ctx);
/* Releases everything the context holds, once the loop has stopped and no request is left. */
void gw_ctx_dispose(gw_ctx_t *ctx);
/* Closes the public listeners (drain); the admin listener stays open. */
void gw_stop_listening(gw_ctx_t *ctx);

#endif
