#include "gw_lim_local.h"

#include <stdlib.h>
#include <string.h>
#include "gw_clock.h"
#include "pol_fair.h"
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

/* ---- rate ---- */

typedef struct st_gw_lim_rate_t {
    gw_limiter_t super;
    pol_gcra_params_t params;
    pol_gcra_t whole; /* without per: */
    pol_keyed_t *per_key;
    uint64_t count, period_ms; /* as configured (the stand-in of a global limit divides them) */
    uint32_t burst, max_keys;
    cfg_keyspec_t per;
    cfg_keyspec_t fair_spec; /* fair: */
    pol_fair_t fair;
    pol_keyed_t *fair_keys; /* with fair: each key's use of the bucket */
} gw_lim_rate_t;

static int gcra_at_rest(const void *value, void *data, uint64_t now_ns)
{
    return pol_gcra_at_rest(value, &((gw_lim_rate_t *)data)->params, now_ns);
}

static pol_gcra_t *bucket(gw_lim_rate_t *r, gw_hold_t *h, uint64_t now_ns)
{
    return r->per_key != NULL ? pol_keyed_get(r->per_key, h->key.base, h->key.len, now_ns) : &r->whole;
}

static void fill_info(gw_rate_info_t *info, const pol_gcra_result_t *res)
{
    info->wait_ns = res->wait_ns;
    info->retry_after_ns = res->retry_after_ns;
    info->remaining = res->remaining;
    info->reset_ns = res->reset_ns;
}

static int fair_key_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data;
    return pol_fair_key_at_rest(value, now_ns);
}

/* fair: the request's key and, when it has taken its share while the bucket is drained (less
 * than half of the burst left), a refusal until the share window moves on. NULL: no fair:. */
static pol_fair_key_t *fair_check(gw_lim_rate_t *r, gw_hold_t *h, const pol_gcra_t *bucket, uint64_t now_ns, int *refused,
                                  gw_rate_info_t *info)
{
    *refused = 0;
    if (r->fair_keys == NULL)
        return NULL;
    gw_keyval_t key = h->share_key.base != NULL ? h->share_key : (gw_keyval_t){"_missing", 8};
    pol_fair_key_t *k = pol_keyed_get(r->fair_keys, key.base, key.len, now_ns);
    if (pol_fair_under_share(&r->fair, k, r->params.count, r->params.period_ns, now_ns) ||
        (uint64_t)pol_gcra_remaining(bucket, &r->params, now_ns) * 2 >= r->params.burst)
        return k;
    *refused = 1;
    info->retry_after_ns = POL_FAIR_WINDOW_NS - now_ns % POL_FAIR_WINDOW_NS;
    info->remaining = 0;
    return k;
}

static gw_lim_result_t rate_peek(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, gw_rate_info_t *info)
{
    gw_lim_rate_t *r = (gw_lim_rate_t *)l;
    pol_gcra_t *b = bucket(r, h, now_ns);
    pol_gcra_result_t res;
    pol_decision_t d = pol_gcra_peek(b, &r->params, now_ns, &res);
    fill_info(info, &res);
    int unfair;
    fair_check(r, h, b, now_ns, &unfair, info);
    return d == POL_ADMIT && !unfair ? GW_LIM_ADMIT : GW_LIM_REJECT;
}

static gw_lim_result_t rate_take(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, uint64_t max_wait_ns, gw_rate_info_t *info)
{
    gw_lim_rate_t *r = (gw_lim_rate_t *)l;
    pol_gcra_t *b = bucket(r, h, now_ns);
    int unfair;
    pol_fair_key_t *k = fair_check(r, h, b, now_ns, &unfair, info);
    if (unfair)
        return GW_LIM_REJECT;
    pol_gcra_result_t res;
    pol_decision_t d = pol_gcra_take(b, &r->params, now_ns, max_wait_ns, &res);
    fill_info(info, &res);
    if (d == POL_REJECT)
        return GW_LIM_REJECT;
    if (k != NULL)
        pol_fair_took(k, now_ns);
    return d == POL_ADMIT ? GW_LIM_ADMIT : GW_LIM_WAIT;
}

static void rate_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    (void)l, (void)sample;
    h->state = GW_HOLD_IDLE; /* a token spent (or reserved) is not given back */
}

static void rate_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    gw_lim_rate_t *r = (gw_lim_rate_t *)l;
    gw_limiter_describe_head(l, b, "local");
    gw_textbuf_printf(b, ",\"rate\":%llu,\"period_s\":%llu,\"burst\":%u,\"per\":", (unsigned long long)r->count,
                      (unsigned long long)(r->period_ms / 1000), r->params.burst);
    if (r->per_key != NULL)
        gw_textbuf_printf(b, "\"%s\",\"keys\":%zu}", r->per.text, pol_keyed_count(r->per_key));
    else if (r->fair_keys != NULL)
        gw_textbuf_printf(b, "null,\"remaining\":%u,\"fair\":\"%s\",\"sharing\":%u}",
                          pol_gcra_remaining(&r->whole, &r->params, now_ns), r->fair_spec.text, pol_fair_keys(&r->fair, now_ns));
    else
        gw_textbuf_printf(b, "null,\"remaining\":%u}", pol_gcra_remaining(&r->whole, &r->params, now_ns));
}

static void rate_destroy(gw_limiter_t *l)
{
    gw_lim_rate_t *r = (gw_lim_rate_t *)l;
    pol_keyed_free(r->per_key);
    pol_keyed_free(r->fair_keys);
    cfg_keyspec_clear(&r->per);
    cfg_keyspec_clear(&r->fair_spec);
    gw_limiter_dispose(l);
    free(r);
}

static const gw_limiter_ops_t rate_ops = {
    .peek = rate_peek, .take = rate_take, .release = rate_release, .describe = rate_describe, .destroy = rate_destroy};

gw_limiter_t *gw_lim_local_rate_new(const char *route, const cfg_rate_limit_t *cfg, uint64_t count, uint64_t period_ns,
                                    uint32_t burst, uint64_t seed)
{
    gw_lim_rate_t *r = xcalloc(1, sizeof(*r));
    gw_limiter_init(&r->super, &rate_ops, GW_LIMITER_RATE, route, cfg->name);
    pol_gcra_params_init(&r->params, count, period_ns, burst);
    r->count = cfg->count;
    r->period_ms = cfg->period_ms;
    r->burst = cfg->burst;
    r->max_keys = cfg->max_keys;
    cfg_keyspec_copy(&r->per, &cfg->per);
    if (cfg->per.num_keys != 0)
        r->per_key = pol_keyed_new(sizeof(pol_gcra_t), cfg->max_keys, gcra_at_rest, r, seed);
    cfg_keyspec_copy(&r->fair_spec, &cfg->fair);
    if (cfg->fair.num_keys != 0)
        r->fair_keys = pol_keyed_new(sizeof(pol_fair_key_t), cfg->max_keys, fair_key_at_rest, r, seed ^ 0x9e3779b97f4a7c15ull);
    return &r->super;
}

int gw_lim_local_rate_unchanged(gw_limiter_t *l, const cfg_rate_limit_t *cfg)
{
    gw_lim_rate_t *r = (gw_lim_rate_t *)l;
    return l->ops == &rate_ops && r->count == cfg->count && r->period_ms == cfg->period_ms && r->burst == cfg->burst &&
           r->max_keys == cfg->max_keys && cfg_keyspec_equal(&r->per, &cfg->per) && cfg_keyspec_equal(&r->fair_spec, &cfg->fair);
}

/* ---- slots ---- */

typedef struct st_gw_lim_slots_t {
    gw_limiter_t super;
    h2o_loop_t *loop;
    h2o_timeout_t *zero;
    pol_sema_params_t params;
    pol_sema_t *whole; /* without per: (pol_sema_size(levels) bytes) */
    pol_keyed_t *per_key;
    cfg_keyspec_t per;
    uint32_t in_flight, queued; /* over all keys */
} gw_lim_slots_t;

static int sema_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data, (void)now_ns;
    return pol_sema_at_rest(value);
}

static gw_hold_t *hold_of(pol_waiter_t *w)
{
    return H2O_STRUCT_FROM_MEMBER(gw_hold_t, waiter, w);
}

/* A waiter that now holds a slot: told from the loop. */
static void hand_over(gw_lim_slots_t *s, pol_waiter_t *w, pol_sema_t *sema)
{
    gw_hold_t *h = hold_of(w);
    --s->queued;
    ++s->in_flight;
    h->state = GW_HOLD_HELD;
    h->since_ns = gw_now_ns();
    h->entry = sema;
    gw_hold_wake(s->loop, s->zero, h, GW_LIM_ADMIT);
}

static gw_lim_result_t slots_acquire(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    pol_sema_t *sema = s->per_key != NULL ? pol_keyed_get(s->per_key, h->key.base, h->key.len, now_ns) : s->whole;
    pol_waiter_t *evicted;
    h->limiter = l;
    h->entry = sema;
    h->since_ns = now_ns;
    switch (pol_sema_acquire(sema, &s->params, &h->waiter, h->level, now_ns, &evicted)) {
    case POL_ADMIT:
        h->state = GW_HOLD_HELD;
        ++s->in_flight;
        return GW_LIM_ADMIT;
    case POL_WAIT:
        h->state = GW_HOLD_WAITING;
        ++s->queued;
        if (evicted != NULL) {
            gw_hold_t *out = hold_of(evicted);
            out->state = GW_HOLD_IDLE;
            --s->queued;
            gw_hold_wake(s->loop, s->zero, out, GW_LIM_REJECT);
        }
        return GW_LIM_WAIT;
    default:
        h->state = GW_HOLD_IDLE;
        return GW_LIM_REJECT;
    }
}

static void slots_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    (void)sample;
    gw_hold_cancel_wake(h);
    pol_sema_t *sema = h->entry;
    switch (h->state) {
    case GW_HOLD_WAITING:
        pol_sema_cancel(sema, &h->waiter);
        --s->queued;
        break;
    case GW_HOLD_HELD: {
        --s->in_flight;
        pol_waiter_t *next = pol_sema_release(sema, &s->params);
        if (next != NULL)
            hand_over(s, next, sema);
    } break;
    default:
        break;
    }
    h->state = GW_HOLD_IDLE;
}

void gw_lim_local_slots_describe_fields(gw_limiter_t *l, gw_textbuf_t *b)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    gw_textbuf_printf(b, ",\"limit\":%u,\"queue_size\":%u,\"in_flight\":%u,\"queued\":%u,\"per\":", s->params.limit,
                      s->params.room.size, s->in_flight, s->queued);
    if (s->per_key != NULL)
        gw_textbuf_printf(b, "\"%s\",\"keys\":%zu", s->per.text, pol_keyed_count(s->per_key));
    else
        gw_textbuf_printf(b, "null");
}

static void slots_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    (void)now_ns;
    gw_limiter_describe_head(l, b, "local");
    gw_lim_local_slots_describe_fields(l, b);
    gw_textbuf_printf(b, "}");
}

static uint32_t slots_current_limit(gw_limiter_t *l)
{
    return ((gw_lim_slots_t *)l)->params.limit;
}

static void slots_destroy(gw_limiter_t *l)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    pol_keyed_free(s->per_key);
    free(s->whole);
    cfg_keyspec_clear(&s->per);
    gw_limiter_dispose(l);
    free(s);
}

static const gw_limiter_ops_t slots_ops = {.acquire = slots_acquire,
                                           .release = slots_release,
                                           .describe = slots_describe,
                                           .current_limit = slots_current_limit,
                                           .destroy = slots_destroy};

static pol_sema_params_t params_of(const cfg_concurrency_t *cfg, uint32_t limit, unsigned levels)
{
    return (pol_sema_params_t){limit, {cfg->queue_size, (uint8_t)levels, cfg->queue_order == CFG_QUEUE_LIFO, 0}};
}

gw_limiter_t *gw_lim_local_slots_new(h2o_loop_t *loop, h2o_timeout_t *zero, const char *route, const cfg_concurrency_t *cfg,
                                     uint32_t limit, unsigned levels, uint64_t seed)
{
    gw_lim_slots_t *s = xcalloc(1, sizeof(*s));
    gw_limiter_init(&s->super, &slots_ops, GW_LIMITER_SLOTS, route, cfg->name);
    s->loop = loop;
    s->zero = zero;
    s->params = params_of(cfg, limit, levels);
    cfg_keyspec_copy(&s->per, &cfg->per);
    if (cfg->per.num_keys != 0)
        s->per_key = pol_keyed_new(pol_sema_size(levels), cfg->max_keys, sema_at_rest, NULL, seed);
    else
        s->whole = xcalloc(1, pol_sema_size(levels));
    return &s->super;
}

int gw_lim_local_slots_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    return l->ops == &slots_ops && s->params.room.levels == levels && cfg_keyspec_equal(&s->per, &cfg->per);
}

static void grant_waiting(const char *key, size_t len, void *value, int shared, void *data)
{
    (void)key, (void)len, (void)shared;
    gw_lim_slots_t *s = data;
    for (pol_waiter_t *w; (w = pol_sema_grant_next(value, &s->params)) != NULL;)
        hand_over(s, w, value);
}

/* After the limit was raised: the waiters it lets in, woken from the loop. */
static void grant_all(gw_lim_slots_t *s)
{
    if (s->per_key != NULL)
        pol_keyed_foreach(s->per_key, grant_waiting, s);
    else
        grant_waiting(NULL, 0, s->whole, 0, s);
}

void gw_lim_local_slots_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg, uint32_t limit)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    uint8_t squeeze = s->params.room.squeeze; /* the backend's state, not the configuration's */
    s->params = params_of(cfg, limit, s->params.room.levels);
    s->params.room.squeeze = squeeze;
    grant_all(s);
}

void gw_lim_local_slots_set_limit(gw_limiter_t *l, uint32_t limit, int squeeze)
{
    gw_lim_slots_t *s = (gw_lim_slots_t *)l;
    uint32_t before = s->params.limit;
    s->params.limit = limit;
    s->params.room.squeeze = squeeze != 0;
    if (limit > before)
        grant_all(s);
}

void gw_lim_local_slots_load(gw_limiter_t *l, const gw_hold_t *h, uint32_t *in_flight, uint32_t *queued)
{
    (void)l;
    const pol_sema_t *sema = h->entry;
    *in_flight = sema->in_flight;
    *queued = sema->room.queued;
}
