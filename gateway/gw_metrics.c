#include "gw_metrics.h"
#include "gw_textbuf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_bounds[GW_HIST_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10};

const char *const gw_admission_decision_names[GW_ADM_DECISION_COUNT] = {"admitted",    "rate_limited",      "delayed",
                                                                        "queue_full",  "queue_timeout",     "timeout",
                                                                        "client_gone", "redis_unavailable", "circuit_open"};

void gw_histogram_observe(gw_histogram_t *h, double seconds)
{
    size_t i = 0;
    while (i != GW_HIST_BUCKETS - 1 && seconds > bucket_bounds[i])
        ++i;
    ++h->buckets[i];
    ++h->count;
    h->sum += seconds;
}

const char *const gw_cut_reason_names[GW_CUT_REASON_COUNT] = {"read_timeout", "reset", "bad_response", "client_gone"};
const char *const gw_upstream_error_names[GW_UPERR_KIND_COUNT] = {"connect", "connect_timeout", "read_timeout", "reset",
                                                                  "bad_response"};

const char *const gw_redis_error_names[GW_REDIS_ERR_KIND_COUNT] = {"connect", "auth", "timeout", "reply"};

/* One histogram; `route` NULL for a histogram without labels. */
static void put_histogram(gw_textbuf_t *b, const char *name, const char *route, const gw_histogram_t *h)
{
    char labels[160] = "";
    if (route != NULL)
        snprintf(labels, sizeof(labels), "route=\"%s\",", route);
    uint64_t cumulative = 0;
    for (size_t i = 0; i != GW_HIST_BUCKETS; ++i) {
        cumulative += h->buckets[i];
        if (i == GW_HIST_BUCKETS - 1)
            gw_textbuf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cumulative);
        else
            gw_textbuf_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, bucket_bounds[i], (unsigned long long)cumulative);
    }
    if (route != NULL)
        gw_textbuf_printf(b, "%s_sum{route=\"%s\"} %.6f\n%s_count{route=\"%s\"} %llu\n", name, route, h->sum, name, route,
                          (unsigned long long)h->count);
    else
        gw_textbuf_printf(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void put_redis(gw_textbuf_t *b, const gw_redis_metrics_t *m)
{
    static const char *const modes[] = {"local", "allow", "deny"};
    gw_textbuf_printf(b,
                      "# HELP sluice_redis_up 1 while the Redis connection is ready for commands.\n# TYPE sluice_redis_up gauge\n"
                      "sluice_redis_up %d\n"
                      "# HELP sluice_redis_commands_total Commands sent to Redis.\n# TYPE sluice_redis_commands_total counter\n"
                      "sluice_redis_commands_total %llu\n"
                      "# HELP sluice_redis_errors_total Redis failures, by kind.\n# TYPE sluice_redis_errors_total counter\n",
                      m->up, (unsigned long long)m->commands);
    for (size_t k = 0; k != GW_REDIS_ERR_KIND_COUNT; ++k)
        gw_textbuf_printf(b, "sluice_redis_errors_total{kind=\"%s\"} %llu\n", gw_redis_error_names[k],
                          (unsigned long long)m->errors[k]);
    gw_textbuf_printf(b, "# HELP sluice_redis_fallback_total Global-limit decisions made by redis.on_error, by mode.\n"
                         "# TYPE sluice_redis_fallback_total counter\n");
    for (size_t k = 0; k != 3; ++k)
        gw_textbuf_printf(b, "sluice_redis_fallback_total{mode=\"%s\"} %llu\n", modes[k], (unsigned long long)m->fallback[k]);
    gw_textbuf_printf(b, "# HELP sluice_redis_roundtrip_seconds From sending a Redis command to its reply.\n"
                         "# TYPE sluice_redis_roundtrip_seconds histogram\n");
    put_histogram(b, "sluice_redis_roundtrip_seconds", NULL, &m->roundtrip);
}

/* The standard families of Prometheus client libraries' process collector, same names and units. */
static void put_process(gw_textbuf_t *b, const gw_procstats_t *p)
{
    gw_textbuf_printf(b,
                      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                      "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
                      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                      "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
                      "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                      "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n"
                      "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                      "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n"
                      "# HELP process_open_fds Number of open file descriptors.\n"
                      "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n"
                      "# HELP process_max_fds Maximum number of open file descriptors.\n"
                      "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                      p->cpu_seconds, (unsigned long long)p->resident_bytes, (unsigned long long)p->virtual_bytes,
                      p->start_time_seconds, (unsigned long long)p->open_fds, (unsigned long long)p->max_fds);
}

/* A gauge with one series per route; `offset` locates its int64_t in gw_route_metrics_t. */
static void put_route_gauge(gw_textbuf_t *b, const gw_metrics_source_t *src, const char *name, const char *help, size_t offset)
{
    gw_textbuf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t r = 0; r != src->num_routes; ++r) {
        const int64_t *value = (const int64_t *)((const char *)src->routes[r] + offset);
        gw_textbuf_printf(b, "%s{route=\"%s\"} %lld\n", name, src->route_names[r], (long long)*value);
    }
}

char *gw_metrics_render(const gw_metrics_source_t *src, size_t *len)
{
    gw_textbuf_t b = gw_textbuf_init(16384);

    gw_textbuf_printf(
        &b, "# HELP sluice_requests_total Responses sent, by route and status code.\n# TYPE sluice_requests_total counter\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        for (int s = GW_STATUS_MIN; s <= GW_STATUS_MAX; ++s)
            if (src->routes[r]->requests_by_status[s - GW_STATUS_MIN] != 0)
                gw_textbuf_printf(&b, "sluice_requests_total{route=\"%s\",code=\"%d\"} %llu\n", src->route_names[r], s,
                                  (unsigned long long)src->routes[r]->requests_by_status[s - GW_STATUS_MIN]);

    gw_textbuf_printf(&b, "# HELP sluice_admission_total Admission decisions, by route.\n# TYPE sluice_admission_total counter\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        for (size_t d = 0; d != GW_ADM_DECISION_COUNT; ++d)
            gw_textbuf_printf(&b, "sluice_admission_total{route=\"%s\",decision=\"%s\"} %llu\n", src->route_names[r],
                              gw_admission_decision_names[d], (unsigned long long)src->routes[r]->admission[d]);

    put_route_gauge(&b, src, "sluice_in_flight", "Requests admitted and not finished, by route.",
                    offsetof(gw_route_metrics_t, in_flight));
    put_route_gauge(&b, src, "sluice_queue_depth", "Requests waiting for admission, by route.",
                    offsetof(gw_route_metrics_t, queue_depth));
    put_route_gauge(&b, src, "sluice_aborted_in_flight",
                    "Requests whose client is gone, still at the upstream under hold_aborted, by route.",
                    offsetof(gw_route_metrics_t, aborted_in_flight));
    put_route_gauge(&b, src, "sluice_websocket_connections", "Open WebSocket tunnels, by route.",
                    offsetof(gw_route_metrics_t, websocket_connections));
    put_route_gauge(&b, src, "sluice_circuit_state", "The route's circuit breaker: 0 closed, 1 open, 2 half-open.",
                    offsetof(gw_route_metrics_t, circuit_state));

    gw_textbuf_printf(&b, "# HELP sluice_concurrency_limit Current limit of each concurrency limit (adaptive ones change it).\n"
                          "# TYPE sluice_concurrency_limit gauge\n");
    for (size_t i = 0; i != src->num_limits; ++i)
        gw_textbuf_printf(&b, "sluice_concurrency_limit{route=\"%s\",limit=\"%s\"} %u\n", src->limits[i].route,
                          src->limits[i].limit, src->limits[i].value);

    gw_textbuf_printf(
        &b, "# HELP sluice_queue_wait_seconds Time spent waiting for admission.\n# TYPE sluice_queue_wait_seconds histogram\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        put_histogram(&b, "sluice_queue_wait_seconds", src->route_names[r], &src->routes[r]->queue_wait);

    gw_textbuf_printf(&b, "# HELP sluice_upstream_duration_seconds From sending the request upstream to its response head.\n"
                          "# TYPE sluice_upstream_duration_seconds histogram\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        put_histogram(&b, "sluice_upstream_duration_seconds", src->route_names[r], &src->routes[r]->upstream_duration);

    gw_textbuf_printf(&b, "# HELP sluice_request_duration_seconds From a request's arrival to the last byte of its response "
                          "sent.\n# TYPE sluice_request_duration_seconds histogram\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        put_histogram(&b, "sluice_request_duration_seconds", src->route_names[r], &src->routes[r]->request_duration);

    gw_textbuf_printf(&b, "# HELP sluice_upstream_errors_total Failed upstream exchanges, by kind.\n"
                          "# TYPE sluice_upstream_errors_total counter\n");
    for (size_t r = 0; r != src->num_routes; ++r) {
        for (size_t k = 0; k != GW_UPERR_KIND_COUNT; ++k)
            gw_textbuf_printf(&b, "sluice_upstream_errors_total{route=\"%s\",kind=\"%s\"} %llu\n", src->route_names[r],
                              gw_upstream_error_names[k], (unsigned long long)src->routes[r]->upstream_errors[k]);
        gw_textbuf_printf(&b, "sluice_upstream_errors_total{route=\"%s\",kind=\"deadline\"} %llu\n", src->route_names[r],
                          (unsigned long long)src->routes[r]->upstream_deadlines);
    }

    gw_textbuf_printf(&b, "# HELP sluice_responses_cut_total Responses cut short after their head was sent, by reason.\n"
                          "# TYPE sluice_responses_cut_total counter\n");
    for (size_t r = 0; r != src->num_routes; ++r)
        for (size_t k = 0; k != GW_CUT_REASON_COUNT; ++k)
            gw_textbuf_printf(&b, "sluice_responses_cut_total{route=\"%s\",reason=\"%s\"} %llu\n", src->route_names[r],
                              gw_cut_reason_names[k], (unsigned long long)src->routes[r]->responses_cut[k]);

    gw_textbuf_printf(&b,
                      "# HELP sluice_config_reloads_total Configuration reloads, by result.\n"
                      "# TYPE sluice_config_reloads_total counter\n"
                      "sluice_config_reloads_total{result=\"success\"} %llu\n"
                      "sluice_config_reloads_total{result=\"failure\"} %llu\n",
                      (unsigned long long)src->config_reloads_ok, (unsigned long long)src->config_reloads_failed);

    if (src->redis != NULL && src->redis->enabled)
        put_redis(&b, src->redis);

    gw_textbuf_printf(&b,
                      "# HELP sluice_build_info The running build, as a label; always 1.\n# TYPE sluice_build_info gauge\n"
                      "sluice_build_info{version=\"%s\"} 1\n",
                      src->version != NULL ? src->version : "");
    if (src->process != NULL)
        put_process(&b, src->process);

    *len = b.len;
    return b.p;
}
