/*
 * Setting up one event loop's gateway: h2o contexts for the public and admin listeners, the
 * routes' and upstreams' runtime state, and the listening sockets.
 */
#ifndef SLUICE_GW_SERVER_H
#define SLUICE_GW_SERVER_H

#include "gw_ctx.h"

/* Resolves an address (getaddrinfo: it blocks, so on the loop only at start; reloads resolve on
 * their own thread). Returns 0, or -1 with the reason in err (err_size bytes). */
int gw_resolve(const cfg_address_t *addr, struct sockaddr_storage *ss, socklen_t *len, int passive, char *err, size_t err_size);

/* Builds the context for `config`, which becomes its first generation (and is freed with it).
 * Resolves upstream addresses. Returns 0, or -1 after printing why on stderr. */
int gw_ctx_init(gw_ctx_t *ctx, h2o_evloop_t *loop, cfg_config_t *config, const char *config_path);
/* SIGHUP: loads config_path again, on a thread (file and DNS), then on the loop: a valid file
 * becomes the current generation (limiter state of unchanged limits carried over); a bad one is
 * logged and counted, and the old one stays. Returns at once. */
void gw_reload(gw_ctx_t *ctx);
/* Opens every `listen` address and the admin address. Returns 0, or -1 after printing why. */
int gw_listen(gw_ctx_t *ctx);
/* Closes the public listeners (drain); the admin listener stays open. */
void gw_stop_listening(gw_ctx_t *ctx);

#endif
