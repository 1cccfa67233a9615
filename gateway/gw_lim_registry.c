#include "gw_lim_registry.h"

#include <stdlib.h>
#include <string.h>
#include "gw_lim_adaptive.h"
#include "gw_lim_local.h"
#include "gw_lim_redis.h"
#include "pol_global.h"

static gw_limiter_t *find_live(gw_adm_env_t *env, const char *route, const char *name, gw_limiter_kind_t kind)
{
    for (h2o_linklist_t *node = env->registry.next; node != &env->registry; node = node->next) {
        gw_limiter_t *l = H2O_STRUCT_FROM_MEMBER(gw_limiter_t, registry, node);
        if (l->kind == kind && strcmp(l->route, route) == 0 && strcmp(l->name, name) == 0)
            return l;
    }
    return NULL;
}

static gw_limiter_t *registered(gw_adm_env_t *env, gw_limiter_t *l)
{
    h2o_linklist_insert(&env->registry, &l->registry);
    return l;
}

/* A limiter replaced by a new one of the same name serves its own requests out, but reloads find
 * the new one from now on. */
static void unregister(gw_limiter_t *l)
{
    h2o_linklist_unlink(&l->registry); /* leaves it unlinked: next == NULL */
}

static gw_limiter_t *rate_limiter(gw_adm_env_t *env, const char *route, const cfg_rate_limit_t *cfg, const cfg_redis_t *redis)
{
    gw_limiter_t *live = find_live(env, route, cfg->name, GW_LIMITER_RATE);
    if (live != NULL) {
        int same = cfg->scope == CFG_SCOPE_LOCAL ? gw_lim_local_rate_unchanged(live, cfg)
                                                 : gw_lim_redis_rate_unchanged(live, cfg) && gw_lim_redis_matches(live, redis);
        if (same)
            return gw_limiter_ref(live); /* the buckets carry over */
        unregister(live);
    }
    uint64_t seed = gw_rng_next(env->rng);
    if (cfg->scope == CFG_SCOPE_LOCAL)
        return registered(env, gw_lim_local_rate_new(route, cfg, cfg->count, cfg->period_ms * 1000000u, cfg->burst, seed));
    gw_limiter_t *l = gw_lim_redis_rate_new(env->rlimits, route, cfg, redis, seed);
    /* the `local` stand-in: this instance's share, rate / instances */
    l->fallback = gw_lim_local_rate_new(route, cfg, cfg->count, cfg->period_ms * 1000000u * redis->instances,
                                        pol_global_local_share(cfg->burst, redis->instances), gw_rng_next(env->rng));
    return registered(env, l);
}

static unsigned levels_of(const cfg_route_t *route)
{
    return route->priority.enabled ? (unsigned)route->priority.num_levels : 1;
}

static gw_limiter_t *slots_limiter(gw_adm_env_t *env, const cfg_route_t *route, const cfg_concurrency_t *cfg,
                                   const cfg_redis_t *redis)
{
    unsigned levels = levels_of(route);
    gw_limiter_t *live = find_live(env, route->name, cfg->name, GW_LIMITER_SLOTS);
    if (live != NULL) {
        if (cfg->adaptive && gw_lim_adaptive_compatible(live, cfg, levels)) {
            gw_lim_adaptive_reconfigure(live, cfg); /* what it learned carries over */
            return gw_limiter_ref(live);
        }
        if (cfg->scope == CFG_SCOPE_LOCAL && !cfg->adaptive && gw_lim_local_slots_compatible(live, cfg, levels)) {
            gw_lim_local_slots_reconfigure(live, cfg, cfg->limit);
            return gw_limiter_ref(live);
        }
        if (cfg->scope == CFG_SCOPE_GLOBAL && gw_lim_redis_matches(live, redis) &&
            gw_lim_redis_slots_compatible(live, cfg, levels)) {
            gw_lim_redis_slots_reconfigure(live, cfg);
            return gw_limiter_ref(live);
        }
        unregister(live);
    }
    uint64_t seed = gw_rng_next(env->rng);
    if (cfg->adaptive) /* always local */
        return registered(env, gw_lim_adaptive_new(env->loop, env->zero, route->name, cfg, levels, seed));
    if (cfg->scope == CFG_SCOPE_LOCAL)
        return registered(env, gw_lim_local_slots_new(env->loop, env->zero, route->name, cfg, cfg->limit, levels, seed));
    return registered(env, gw_lim_redis_slots_new(env->rlimits, route->name, cfg, redis, levels, seed));
}

gw_admission_t *gw_lim_registry_admission(gw_adm_env_t *env, const cfg_route_t *route, const cfg_config_t *config)
{
    if (route->num_rate_limits == 0 && route->num_concurrency == 0)
        return NULL;
    gw_limiter_t **rates = h2o_mem_alloc(sizeof(*rates) * (route->num_rate_limits + 1));
    gw_limiter_t **concs = h2o_mem_alloc(sizeof(*concs) * (route->num_concurrency + 1));
    for (size_t i = 0; i != route->num_rate_limits; ++i)
        rates[i] = rate_limiter(env, route->name, &route->rate_limits[i], &config->redis);
    for (size_t i = 0; i != route->num_concurrency; ++i)
        concs[i] = slots_limiter(env, route, &route->concurrency[i], &config->redis);
    gw_admission_t *adm = gw_admission_new(env, route, config->redis.on_error, rates, concs);
    free(rates);
    free(concs);
    return adm;
}
