#include "gw_admin.h"

#include <stdlib.h>
#include <string.h>
#include "gw_admission.h"
#include "gw_lim_redis.h"
#include "gw_http.h"
#include "gw_redis.h"
#include "gw_procstats.h"
#include "gw_textbuf.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "dev"
#endif

static void respond(h2o_req_t *req, int status, const char *reason, const char *content_type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
}

static void respond_malloced(h2o_req_t *req, const char *content_type, char *body, size_t len)
{
    respond(req, 200, "OK", content_type, body, len);
    free(body);
}

static void respond_metrics(gw_ctx_t *ctx, h2o_req_t *req)
{
    const gw_generation_t *gen = ctx->gen;
    size_t n = gen->config->num_routes + 1;
    const char **names = malloc(n * sizeof(*names));
    const gw_route_metrics_t **metrics = malloc(n * sizeof(*metrics));
    if (names == NULL || metrics == NULL)
        h2o_fatal("no memory");
    uint64_t now = gw_now_ns();
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        names[i] = gen->routes[i].cfg->name;
        metrics[i] = gen->routes[i].metrics;
        /* an open breaker turns half-open with time alone: say what it is now */
        if (gen->routes[i].breaker != NULL)
            gen->routes[i].metrics->circuit_state = gw_breaker_state(gen->routes[i].breaker, now);
    }
    /* requests that matched no route (404) or never got a head (408) */
    names[n - 1] = "_none";
    metrics[n - 1] = &ctx->no_route_metrics;
    gw_procstats_t process;
    int have_process = gw_procstats_read(&process) == 0;
    size_t num_limits = 0;
    for (size_t i = 0; i != gen->config->num_routes; ++i)
        num_limits += gw_admission_num_concurrency(gen->routes[i].admission);
    gw_limit_gauge_t *limits = malloc((num_limits + 1) * sizeof(*limits));
    if (limits == NULL)
        h2o_fatal("no memory");
    num_limits = 0;
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        const gw_admission_t *adm = gen->routes[i].admission;
        for (size_t k = 0; k != gw_admission_num_concurrency(adm); ++k)
            limits[num_limits++] =
                (gw_limit_gauge_t){names[i], gw_admission_concurrency_name(adm, k), gw_admission_concurrency_limit(adm, k)};
    }
    gw_metrics_source_t src = {.route_names = names,
                               .routes = metrics,
                               .num_routes = n,
                               .config_reloads_ok = ctx->config_reloads_ok,
                               .config_reloads_failed = ctx->config_reloads_failed,
                               .redis = &ctx->redis_metrics,
                               .version = SLUICE_VERSION,
                               .process = have_process ? &process : NULL,
                               .limits = limits,
                               .num_limits = num_limits};
    size_t len;
    char *text = gw_metrics_render(&src, &len);
    free(names);
    free(metrics);
    free(limits);
    respond_malloced(req, "text/plain; version=0.0.4", text, len);
}

/* Ready whatever Redis's state: with it down, global limits follow redis.on_error and the
 * instance still serves, so taking it out of the load balancer would not help. The body tells
 * what is wrong with Redis, for the operator. */
static void respond_readyz_with_redis(gw_ctx_t *ctx, h2o_req_t *req)
{
    gw_textbuf_t b = gw_textbuf_init(512);
    gw_redis_t *redis = gw_rlimits_redis(ctx->rlimits);
    const char *last_error = gw_redis_last_error(redis);
    size_t len = strlen(last_error);
    char *error = malloc(6 * len + 1);
    if (error == NULL)
        h2o_fatal("no memory");
    error[gw_json_escape(error, last_error, len)] = '\0';
    gw_textbuf_printf(&b, "{\"status\":\"ready\",\"redis\":{\"up\":%s,\"error\":\"%s\"}}\n",
                      gw_redis_is_up(redis) ? "true" : "false", error);
    free(error);
    respond_malloced(req, "application/json", b.p, b.len);
}

/* Every route's live limits, each as it describes itself. */
static gw_textbuf_t limits_json(gw_ctx_t *ctx)
{
    gw_textbuf_t b = gw_textbuf_init(4096);
    uint64_t now = gw_now_ns();
    gw_generation_t *gen = ctx->gen;
    gw_textbuf_printf(&b, "{\"routes\":[");
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        gw_route_rt_t *route = &gen->routes[i];
        gw_textbuf_printf(&b, "%s{\"route\":\"%s\",\"in_flight\":%lld,\"queue_depth\":%lld,\"aborted_in_flight\":%lld,",
                          i ? "," : "", route->cfg->name, (long long)route->metrics->in_flight,
                          (long long)route->metrics->queue_depth, (long long)route->metrics->aborted_in_flight);
        gw_admission_describe(route->admission, &b, now);
        if (route->breaker != NULL) {
            gw_textbuf_printf(&b, ",");
            gw_breaker_describe(route->breaker, &b, now);
        }
        gw_textbuf_printf(&b, "}");
    }
    gw_textbuf_printf(&b, "]}\n");
    return b;
}

int gw_admin_on_req(gw_ctx_t *ctx, h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        static const char body[] = "{\"error\":{\"status\":405,\"code\":\"method_not_allowed\",\"message\":\"use GET\"}}\n";
        respond(req, 405, "Method Not Allowed", "application/json", body, sizeof(body) - 1);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        static const char body[] = "{\"status\":\"ok\"}\n";
        respond(req, 200, "OK", "application/json", body, sizeof(body) - 1);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        if (ctx->draining) {
            static const char body[] = "{\"status\":\"draining\"}\n";
            respond(req, 503, "Service Unavailable", "application/json", body, sizeof(body) - 1);
        } else if (gw_rlimits_redis(ctx->rlimits) == NULL) {
            static const char body[] = "{\"status\":\"ready\"}\n";
            respond(req, 200, "OK", "application/json", body, sizeof(body) - 1);
        } else {
            respond_readyz_with_redis(ctx, req);
        }
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        respond_metrics(ctx, req);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/config"))) {
        char *json = cfg_to_json(ctx->gen->config);
        respond_malloced(req, "application/json", json, strlen(json));
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/limits"))) {
        gw_textbuf_t b = limits_json(ctx);
        respond_malloced(req, "application/json", b.p, b.len);
    } else {
        static const char body[] = "{\"error\":{\"status\":404,\"code\":\"not_found\",\"message\":\"admin endpoints: /healthz "
                                   "/readyz /metrics /config /limits\"}}\n";
        respond(req, 404, "Not Found", "application/json", body, sizeof(body) - 1);
    }
    return 0;
}
