#include "gw_generation.h"

#include <stdlib.h>
#include <string.h>
#include "gw_keys.h"
#include "gw_lim_registry.h"

static gw_route_metrics_t *metrics_for(gw_ctx_t *ctx, const char *route_name)
{
    for (size_t i = 0; i != ctx->num_metrics; ++i)
        if (strcmp(ctx->metrics[i]->route_name, route_name) == 0)
            return &ctx->metrics[i]->metrics;
    ctx->metrics = realloc(ctx->metrics, (ctx->num_metrics + 1) * sizeof(*ctx->metrics));
    gw_named_metrics_t *m = calloc(1, sizeof(*m));
    if (ctx->metrics == NULL || m == NULL)
        h2o_fatal("no memory");
    m->route_name = h2o_strdup(NULL, route_name, SIZE_MAX).base;
    ctx->metrics[ctx->num_metrics++] = m;
    return &m->metrics;
}

/* The route's breaker: the current generation's one of the same route when its settings are the
 * same (its state carries over a reload), else a new one. */
static gw_breaker_t *breaker_for(gw_ctx_t *ctx, const cfg_route_t *route)
{
    if (!route->circuit_breaker.enabled)
        return NULL;
    for (size_t i = 0; ctx->gen != NULL && i != ctx->gen->config->num_routes; ++i) {
        gw_route_rt_t *old = &ctx->gen->routes[i];
        if (old->breaker != NULL && strcmp(old->cfg->name, route->name) == 0 &&
            gw_breaker_matches(old->breaker, &route->circuit_breaker))
            return gw_breaker_ref(old->breaker);
    }
    return gw_breaker_new(route->name, &route->circuit_breaker, gw_rng_next(&ctx->rng));
}

static void free_generation(gw_ctx_t *ctx, gw_generation_t *gen)
{
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        gw_admission_free(gen->routes[i].admission);
        if (gen->routes[i].breaker != NULL)
            gw_breaker_unref(gen->routes[i].breaker);
        h2o_timeout_dispose(ctx->loop, &gen->routes[i].deadline);
    }
    for (size_t i = 0; i != gen->config->num_upstreams; ++i)
        gw_upstream_dispose(&gen->upstreams[i]);
    free(gen->routes);
    free(gen->upstreams);
    cfg_free(gen->config);
    free(gen);
}

gw_generation_t *gw_generation_new(gw_ctx_t *ctx, cfg_config_t *config, const struct sockaddr_storage *addrs,
                                   const socklen_t *addrlens)
{
    gw_generation_t *gen = calloc(1, sizeof(*gen));
    if (gen == NULL || (gen->upstreams = calloc(config->num_upstreams + 1, sizeof(*gen->upstreams))) == NULL ||
        (gen->routes = calloc(config->num_routes + 1, sizeof(*gen->routes))) == NULL)
        h2o_fatal("no memory");
    gen->config = config;
    gen->refs = 1;
    for (size_t i = 0; i != config->num_upstreams; ++i)
        gw_upstream_init(&gen->upstreams[i], &config->upstreams[i], ctx->loop, (const struct sockaddr *)&addrs[i], addrlens[i]);
    for (size_t i = 0; i != config->num_routes; ++i) {
        gw_route_rt_t *route = &gen->routes[i];
        route->cfg = &config->routes[i];
        route->upstream = &gen->upstreams[config->routes[i].upstream];
        route->metrics = metrics_for(ctx, route->cfg->name);
        h2o_timeout_init(ctx->loop, &route->deadline, route->cfg->timeout_ms);
        route->admission = gw_lim_registry_admission(&ctx->adm_env, route->cfg, config);
        route->breaker = breaker_for(ctx, route->cfg);
        route->keys_read_body = gw_route_keys_read_body(route->cfg);
    }
    return gen;
}

void gw_generation_release(gw_ctx_t *ctx, gw_generation_t *gen)
{
    if (--gen->refs == 0)
        free_generation(ctx, gen);
}
