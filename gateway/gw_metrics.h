/*
 * Counters, gauges and histograms of one event loop, rendered as Prometheus text by the admin
 * API. Plain integers updated on the loop's thread: no atomics on the request path.
 */
#ifndef SLUICE_GW_METRICS_H
#define SLUICE_GW_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "gw_procstats.h"
#include "gw_upstream.h"

#define GW_HIST_BUCKETS 15

typedef struct st_gw_histogram_t {
    uint64_t buckets[GW_HIST_BUCKETS]; /* non-cumulative; the last one is +Inf */
    uint64_t count;
    double sum;
} gw_histogram_t;

typedef enum {
    GW_ADM_ADMITTED,
    GW_ADM_RATE_LIMITED,
    GW_ADM_DELAYED,
    GW_ADM_QUEUE_FULL,
    GW_ADM_QUEUE_TIMEOUT,
    GW_ADM_TIMEOUT,
    GW_ADM_CLIENT_GONE,
    GW_ADM_REDIS_UNAVAILABLE, /* on_error: deny while Redis is unavailable */
    GW_ADM_CIRCUIT_OPEN,      /* the route's circuit breaker refused */
    GW_ADM_DECISION_COUNT
} gw_admission_decision_t;

extern const char *const gw_admission_decision_names[GW_ADM_DECISION_COUNT];

#define GW_STATUS_MIN 100
#define GW_STATUS_MAX 599

/* Why a response that had started was cut short: an upstream failure mid-body (the kinds of
 * gw_upstream_error_t that can happen then) or the client gone. */
typedef enum { GW_CUT_READ_TIMEOUT, GW_CUT_RESET, GW_CUT_BAD_RESPONSE, GW_CUT_CLIENT_GONE, GW_CUT_REASON_COUNT } gw_cut_reason_t;

extern const char *const gw_cut_reason_names[GW_CUT_REASON_COUNT];
/* the `kind` label of upstream_errors_total */
extern const char *const gw_upstream_error_names[GW_UPERR_KIND_COUNT];

typedef struct st_gw_route_metrics_t {
    uint64_t requests_by_status[GW_STATUS_MAX - GW_STATUS_MIN + 1];
    uint64_t admission[GW_ADM_DECISION_COUNT];
    uint64_t upstream_errors[GW_UPERR_KIND_COUNT];
    uint64_t responses_cut[GW_CUT_REASON_COUNT];
    uint64_t upstream_deadlines; /* the route's timeout passed at the upstream stage, the request sent (kind="deadline") */
    int64_t in_flight;
    int64_t queue_depth;
    int64_t aborted_in_flight;     /* held by hold_aborted: the client is gone, the application works on */
    int64_t websocket_connections; /* open tunnels, and upgrades admitted and not answered yet */
    int64_t circuit_state;         /* the breaker's, when the route has one: 0 closed, 1 open, 2 half-open */
    gw_histogram_t queue_wait;
    gw_histogram_t upstream_duration;
    gw_histogram_t request_duration; /* from the request head's arrival to its last byte sent */
} gw_route_metrics_t;

void gw_histogram_observe(gw_histogram_t *h, double seconds);
static inline void gw_count_status(gw_route_metrics_t *m, int status)
{
    if (status >= GW_STATUS_MIN && status <= GW_STATUS_MAX)
        ++m->requests_by_status[status - GW_STATUS_MIN];
}

typedef enum {
    GW_REDIS_ERR_CONNECT, /* could not connect, or the connection broke */
    GW_REDIS_ERR_AUTH,    /* AUTH or SELECT refused */
    GW_REDIS_ERR_TIMEOUT, /* no reply within redis.timeout */
    GW_REDIS_ERR_REPLY,   /* an error reply or a reply of an unexpected shape */
    GW_REDIS_ERR_KIND_COUNT
} gw_redis_error_kind_t;

extern const char *const gw_redis_error_names[GW_REDIS_ERR_KIND_COUNT];

/* Redis client and fallback counters of one loop; survive reconnects and reloads. */
typedef struct st_gw_redis_metrics_t {
    int enabled; /* a redis: block is configured: the families are rendered */
    int up;
    uint64_t commands;
    uint64_t errors[GW_REDIS_ERR_KIND_COUNT];
    uint64_t fallback[3]; /* by cfg_redis_on_error_t: decisions made by on_error */
    gw_histogram_t roundtrip;
} gw_redis_metrics_t;

/* The current value of one concurrency limit (sluice_concurrency_limit{route,limit}). */
typedef struct st_gw_limit_gauge_t {
    const char *route;
    const char *limit;
    uint32_t value;
} gw_limit_gauge_t;

/* Appends the Prometheus text of one route's metrics (all families interleaved per route is not
 * allowed by the format, so the caller renders family by family: see gw_metrics_render). */
typedef struct st_gw_metrics_source_t {
    const char *const *route_names;
    const gw_route_metrics_t *const *routes;
    size_t num_routes;
    uint64_t config_reloads_ok;
    uint64_t config_reloads_failed;
    const gw_redis_metrics_t *redis;
    const char *version;            /* sluice_build_info's label */
    const gw_procstats_t *process;  /* the process_* families; NULL: not rendered */
    const gw_limit_gauge_t *limits; /* every concurrency limit of every route */
    size_t num_limits;
} gw_metrics_source_t;

/* Renders every family into a malloc'd buffer (caller frees); *len receives its length. */
char *gw_metrics_render(const gw_metrics_source_t *src, size_t *len);

#endif
