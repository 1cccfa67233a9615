/*
 * The state of one event loop: its h2o contexts, the config it serves, per-route and
 * per-upstream runtime state and metrics. Everything a request touches is reachable from here,
 * never from globals, so that more loops (threads) can come later.
 */
#ifndef SLUICE_GW_CTX_H
#define SLUICE_GW_CTX_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "h2o.h"
#include "cfg_config.h"
#include "gw_admission.h"
#include "gw_breaker.h"
#include "gw_clock.h"
#include "gw_h2guard.h"
#include "gw_metrics.h"
#include "gw_timer.h"
#include "gw_upstream.h"

typedef struct st_gw_route_rt_t {
    const cfg_route_t *cfg;
    gw_upstream_t *upstream;
    h2o_timeout_t deadline;      /* the route's total budget, arrival to response head */
    gw_route_metrics_t *metrics; /* by route name, kept across reloads (gw_ctx_t.metrics) */
    gw_admission_t *admission;   /* limiter state; NULL when the route has no limits */
    gw_breaker_t *breaker;       /* NULL when the route has no circuit_breaker */
    int keys_read_body;          /* a key source of its limits is json: (the body is read before admission) */
} gw_route_rt_t;

/* What one loaded config runs on. A reload makes a new generation current; requests keep the
 * generation they started with (a reference each), so they finish under their config, and a
 * generation is freed when it is neither current nor used by any request. */
typedef struct st_gw_generation_t {
    cfg_config_t *config;
    gw_route_rt_t *routes;
    gw_upstream_t *upstreams;
    size_t refs;
} gw_generation_t;

typedef struct st_gw_named_metrics_t {
    char *route_name;
    gw_route_metrics_t metrics;
} gw_named_metrics_t;

typedef struct st_gw_ctx_t {
    h2o_evloop_t *loop;
    gw_generation_t *gen; /* current */
    const char *config_path;

    h2o_globalconf_t globalconf;
    h2o_context_t h2o;
    h2o_accept_ctx_t accept_ctx;
    h2o_globalconf_t admin_globalconf;
    h2o_context_t admin_h2o;
    h2o_accept_ctx_t admin_accept_ctx;

    gw_named_metrics_t **metrics; /* one per route name ever loaded: counters survive reloads */
    size_t num_metrics;
    gw_route_metrics_t no_route_metrics; /* requests that matched no route */

    h2o_hostconf_t *public_hostconf; /* where gw_h1conn binds its requests */
    h2o_pathconf_t h1_pathconf;      /* the public handler's, without filters */
    h2o_linklist_t h1_conns;         /* gw_h1conn_t of the public listeners */
    uint64_t next_conn_id;
    size_t max_header_size;       /* client.max_header_size */
    h2o_timeout_t header_timeout; /* client.header_timeout: from the first byte of a request head */
    h2o_timeout_t idle_timeout;   /* client.idle_timeout: a keep-alive connection waiting for a request */
    h2o_timeout_t body_timeout;   /* client.body_timeout: silence while a request body is read */
    h2o_timeout_t linger_timeout; /* reading what a client still sends after its answer, before closing */
    h2o_timeout_t log_flush;
    h2o_timeout_entry_t log_flush_entry;

    h2o_socket_t **listeners;
    size_t num_listeners;
    h2o_timeout_t accept_retry_timeout;
    h2o_timeout_entry_t accept_retry; /* accept paused after EMFILE/ENFILE */
    uint64_t accept_errors;
    h2o_socket_t *admin_listener;
    size_t live_requests;     /* gw_request_t not yet disposed: what a drain waits for */
    h2o_linklist_t live_list; /* the same requests (gw_request_t.live_link) */
    size_t live_tunnels;      /* WebSocket tunnels (gw_websocket): a drain waits for them too */
    h2o_linklist_t tunnels;

    gw_h2guard_t h2guard;         /* HTTP/2 rapid-reset counts */
    gw_timer_wheel_t timer_wheel; /* rate-limit delays, Redis reconnects and polls */
    gw_adm_env_t adm_env;         /* what limiters are made with; their registry */
    gw_rlimits_t *rlimits;        /* global limits' Redis side */
    gw_redis_metrics_t redis_metrics;
    gw_rng_t rng;
    FILE *access_log;
    time_t log_second; /* the second whose "YYYY-mm-ddTHH:MM:SS" is in log_second_text */
    char log_second_text[24];
    int draining;
    h2o_multithread_receiver_t reload_receiver; /* a reload thread's result (gw_server.c) */
    int reloading;                              /* a reload thread runs */
    int reload_again;                           /* SIGHUP came during it */
    uint64_t config_reloads_ok, config_reloads_failed;
} gw_ctx_t;

#endif
