#include "gw_lim_adaptive.h"

#include <stdlib.h>
#include "gw_clock.h"
#include "gw_lim_local.h"
#include "pol_adaptive.h"

typedef struct st_gw_lim_adaptive_t {
    gw_limiter_t super;
    gw_limiter_t *slots; /* gw_lim_local's semaphores: owned */
    pol_adaptive_t policy;
} gw_lim_adaptive_t;

/* The semaphores follow the policy: its limit, and the room squeezed while saturated. */
static void apply(gw_lim_adaptive_t *a)
{
    gw_lim_local_slots_set_limit(a->slots, pol_adaptive_limit(&a->policy), pol_adaptive_saturated(&a->policy));
}

static gw_lim_result_t adaptive_acquire(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns)
{
    gw_lim_adaptive_t *a = (gw_lim_adaptive_t *)l;
    if (pol_adaptive_arrival(&a->policy, now_ns))
        apply(a); /* a probe the traffic left behind ends: the first arrival after it */
    gw_lim_result_t result = a->slots->ops->acquire(a->slots, h, now_ns);
    h->limiter = l; /* its release comes here, with the sample */
    return result;
}

static void adaptive_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    gw_lim_adaptive_t *a = (gw_lim_adaptive_t *)l;
    /* an exchange cut for the client's sake says nothing of the upstream: its latency is cut short */
    if (h->state == GW_HOLD_HELD && sample != NULL && !sample->abandoned && (sample->latency_ns != 0 || sample->dropped)) {
        uint32_t in_flight, queued;
        int saturated = pol_adaptive_saturated(&a->policy);
        gw_lim_local_slots_load(a->slots, h, &in_flight, &queued);
        /* the new limit first, so that the slot given back below goes to a waiter only within it */
        if (pol_adaptive_sample(&a->policy, gw_now_ns(), h->since_ns, sample->latency_ns, sample->dropped, in_flight, queued) ||
            pol_adaptive_saturated(&a->policy) != saturated)
            apply(a);
    }
    a->slots->ops->release(a->slots, h, sample);
}

static void adaptive_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    gw_lim_adaptive_t *a = (gw_lim_adaptive_t *)l;
    const pol_adaptive_t *p = &a->policy;
    (void)now_ns;
    gw_limiter_describe_head(l, b, "local");
    gw_lim_local_slots_describe_fields(a->slots, b);
    gw_textbuf_printf(b,
                      ",\"adaptive\":{\"min\":%u,\"max\":%u,\"learned\":%u,\"probing\":%s,\"saturated\":%s,\"base_ms\":%.3f,"
                      "\"rtt_ms\":%.3f,\"windows\":%llu,\"probes\":%llu}}",
                      p->min, p->max, pol_adaptive_learned(p), p->phase == POL_ADAPTIVE_PROBE ? "true" : "false",
                      pol_adaptive_saturated(p) ? "true" : "false", (double)p->base_ns / 1e6, (double)p->rtt_ns / 1e6,
                      (unsigned long long)p->windows, (unsigned long long)p->probes);
}

static uint32_t adaptive_current_limit(gw_limiter_t *l)
{
    return pol_adaptive_limit(&((gw_lim_adaptive_t *)l)->policy);
}

static void adaptive_destroy(gw_limiter_t *l)
{
    gw_lim_adaptive_t *a = (gw_lim_adaptive_t *)l;
    gw_limiter_unref(a->slots);
    gw_limiter_dispose(l);
    free(a);
}

static const gw_limiter_ops_t adaptive_ops = {.acquire = adaptive_acquire,
                                              .release = adaptive_release,
                                              .describe = adaptive_describe,
                                              .current_limit = adaptive_current_limit,
                                              .destroy = adaptive_destroy};

gw_limiter_t *gw_lim_adaptive_new(h2o_loop_t *loop, h2o_timeout_t *zero, const char *route, const cfg_concurrency_t *cfg,
                                  unsigned levels, uint64_t seed)
{
    gw_lim_adaptive_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        h2o_fatal("no memory");
    gw_limiter_init(&a->super, &adaptive_ops, GW_LIMITER_SLOTS, route, cfg->name);
    pol_adaptive_init(&a->policy, cfg->adaptive_min, cfg->adaptive_max, cfg->adaptive_initial, seed);
    a->slots = gw_lim_local_slots_new(loop, zero, route, cfg, pol_adaptive_limit(&a->policy), levels, seed >> 1);
    return &a->super;
}

int gw_lim_adaptive_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels)
{
    return l->ops == &adaptive_ops && cfg->adaptive && gw_lim_local_slots_compatible(((gw_lim_adaptive_t *)l)->slots, cfg, levels);
}

void gw_lim_adaptive_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg)
{
    gw_lim_adaptive_t *a = (gw_lim_adaptive_t *)l;
    pol_adaptive_set_bounds(&a->policy, cfg->adaptive_min, cfg->adaptive_max, gw_now_ns());
    gw_lim_local_slots_reconfigure(a->slots, cfg, pol_adaptive_limit(&a->policy));
}
