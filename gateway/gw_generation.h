/*
 * Generations: what one loaded config runs on (gw_generation_t in gw_ctx.h). A reload makes a new
 * generation current; each request holds a reference to the one it started under, and a
 * generation is freed when it is neither current nor used by any request. A new generation's
 * limits share the state of live limiters of the same route and name (gw_lim_registry), and its
 * routes count into the metrics kept per route name across reloads (ctx->metrics).
 */
#ifndef SLUICE_GW_GENERATION_H
#define SLUICE_GW_GENERATION_H

#include <sys/socket.h>
#include "gw_ctx.h"

/* The runtime state of `config` (taken over), whose upstreams resolved to addrs/addrlens (one
 * each); one reference, the caller's. */
gw_generation_t *gw_generation_new(gw_ctx_t *ctx, cfg_config_t *config, const struct sockaddr_storage *addrs,
                                   const socklen_t *addrlens);
/* Drops a reference; the last one frees the generation. */
void gw_generation_release(gw_ctx_t *ctx, gw_generation_t *gen);

#endif
