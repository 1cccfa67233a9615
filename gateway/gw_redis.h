/*
 * The Redis client of one event loop: hiredis's async API driven by h2o's evloop.
 *
 * - One connection (TCP or unix socket), pipelined: commands are written as they come and their
 *   replies matched in order by hiredis.
 * - Every command is bounded by `redis.timeout`: past it its callback gets GW_REDIS_ERR_TIMEOUT
 *   and a reply that comes later is dropped.
 * - States: DOWN -> CONNECTING (connect, AUTH, SELECT, SCRIPT LOAD) -> UP. Commands are accepted
 *   only while UP; otherwise gw_redis_* return -1 at once, so callers apply `on_error` without
 *   waiting. A lost connection, a failed handshake or GW_REDIS_MAX_FAILURES timeouts in a row
 *   make it DOWN; reconnects back off from 50 ms to 1 s.
 */
#ifndef SLUICE_GW_REDIS_H
#define SLUICE_GW_REDIS_H

#include <hiredis/hiredis.h>
#include "cfg_config.h"
#include "gw_metrics.h"
#include "gw_timer.h"

#define GW_REDIS_MAX_FAILURES 3

typedef struct st_gw_redis_t gw_redis_t;

/* err constants passed to callbacks (compare by pointer) */
extern const char gw_redis_err_timeout[];      /* no reply within redis.timeout */
extern const char gw_redis_err_disconnected[]; /* the connection went away before the reply */
extern const char gw_redis_err_reply[];        /* Redis answered with an error */

/* Called exactly once per accepted command: `reply` (owned by hiredis, valid during the call,
 * never an error reply) with err NULL, or reply NULL and one of the err constants. */
typedef void (*gw_redis_cb)(const redisReply *reply, void *data, const char *err);

/* A client for `cfg` (copied) that starts connecting at once, loading `scripts` (Lua sources,
 * kept by pointer: they must outlive the client) on every connection. A host name is looked up
 * at each connect through `resolver` (the h2o context's hostinfo receiver), off the loop's
 * thread. Metrics go to `metrics`, which must outlive the client. */
gw_redis_t *gw_redis_new(h2o_loop_t *loop, gw_timer_wheel_t *wheel, h2o_multithread_receiver_t *resolver, const cfg_redis_t *cfg,
                         const char *const *scripts, size_t num_scripts, gw_redis_metrics_t *metrics);
/* Closes the connection, after writing out the commands still buffered (while the socket takes
 * them: Redis runs them, nobody reads their replies); callbacks of commands still pending run
 * with gw_redis_err_disconnected before this returns. */
void gw_redis_free(gw_redis_t *redis);

/* Keeps the client only to finish what it holds (a reload moved to another server): it counts
 * in metrics of its own (not the caller's), and once down it stays down. */
void gw_redis_retire(gw_redis_t *redis);
/* 1 when `redis` is a client of the server at `address` (as written), database `database`: a
 * config naming another server needs a new client. */
int gw_redis_serves(const gw_redis_t *redis, const char *address, uint32_t database);

/* 1 when commands are accepted now. */
int gw_redis_is_up(const gw_redis_t *redis);
/* The last connection or handshake error ("" when none since the last success). */
const char *gw_redis_last_error(const gw_redis_t *redis);
/* Takes the rest of `cfg` on the live connection: `timeout` at once (commands in flight
 * included), `password` from the next connection (this one is authenticated already). */
void gw_redis_update_settings(gw_redis_t *redis, const cfg_redis_t *cfg);

/* Sends a command (binary-safe arguments). Returns 0 (cb will be called) or -1 when Redis is not
 * up (cb is not called). */
int gw_redis_command(gw_redis_t *redis, int argc, const char **argv, const size_t *argvlen, gw_redis_cb cb, void *data);
/* EVALSHA of scripts[script] with `num_keys` keys (1 or 2) and `argc` arguments (at most 8); as
 * gw_redis_command. */
int gw_redis_eval(gw_redis_t *redis, size_t script, int num_keys, const char **keys, const size_t *key_lens, int argc,
                  const char **argv, const size_t *argvlen, gw_redis_cb cb, void *data);

#endif
