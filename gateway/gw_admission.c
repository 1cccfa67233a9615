/*
 * Admission wiring: turns the route's policies (policies/) into decisions for live requests.
 *
 * Invariants:
 * - a request holds at most one of: a rate-limit delay timer, a place in a waiting room, a
 *   concurrency slot; `gw_admission_release` lets go of whichever it holds and is safe to call
 *   any number of times.
 * - a slot freed while someone waits passes straight to that waiter (pol_sema_release), so the
 *   in-flight count of a semaphore never drops below the limit while its room is non-empty.
 * - sluice_in_flight counts requests started upstream (gw_proxy), sluice_queue_depth the
 *   requests in a waiting room; both come back to 0 when traffic stops.
 */
#include "gw_admission.h"
#include "gw_admission_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gw_clientip.h"
#include "gw_textbuf.h"
#include "gw_timer.h"
#include "pol_gcra.h"
#include "pol_keyed.h"
#include "pol_sema.h"

static gw_timer_wheel_t *wheel_of(gw_ctx_t *ctx)
{
    return &ctx->timer_wheel;
}

static int gcra_at_rest(const void *value, void *data, uint64_t now_ns)
{
    const gw_rate_rt_t *rate = data;
    return pol_gcra_at_rest(value, &rate->params, now_ns);
}

static int sema_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data;
    (void)now_ns;
    return pol_sema_at_rest(value);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

static char *xstrdup(const char *s)
{
    return s != NULL ? h2o_strdup(NULL, s, SIZE_MAX).base : NULL;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_rate(const cfg_rate_limit_t *a, const cfg_rate_limit_t *b)
{
    return same_str(a->name, b->name) && a->count == b->count && a->period_ms == b->period_ms && a->burst == b->burst &&
           cfg_keyspec_equal(&a->per, &b->per) && a->scope == b->scope && a->on_exceed == b->on_exceed &&
           a->max_delay_ms == b->max_delay_ms && a->max_keys == b->max_keys;
}

static int same_concurrency(const cfg_concurrency_t *a, const cfg_concurrency_t *b)
{
    return same_str(a->name, b->name) && a->limit == b->limit && cfg_keyspec_equal(&a->per, &b->per) && a->scope == b->scope &&
           a->max_keys == b->max_keys && a->queue_size == b->queue_size && a->queue_timeout_ms == b->queue_timeout_ms &&
           a->queue_order == b->queue_order;
}

static gw_rate_rt_t *new_rate(gw_ctx_t *ctx, const cfg_rate_limit_t *cfg, const cfg_redis_t *redis, const char *route_name)
{
    gw_rate_rt_t *rate = xcalloc(1, sizeof(*rate));
    rate->refs = 1;
    rate->cfg = *cfg;
    rate->cfg.name = xstrdup(cfg->name);
    cfg_keyspec_copy(&rate->cfg.per, &cfg->per);
    if (cfg->scope == CFG_SCOPE_GLOBAL) {
        /* the local buckets are the on_error fallback: this instance's share, rate / instances */
        pol_gcra_params_init(&rate->params, cfg->count, cfg->period_ms * 1000000u * redis->instances,
                             pol_global_local_share(cfg->burst, redis->instances));
        gw_global_rate_init(ctx, rate, redis, route_name);
    } else {
        pol_gcra_params_init(&rate->params, cfg->count, cfg->period_ms * 1000000u, cfg->burst);
    }
    if (cfg->per.num_keys != 0)
        rate->per_key = pol_keyed_new(sizeof(pol_gcra_t), cfg->max_keys, gcra_at_rest, rate, gw_random(ctx));
    return rate;
}

/* Drops a reference; the last one frees the limit (lease requests in flight hold one each). */
void gw_admission_release_rate(gw_rate_rt_t *rate)
{
    if (--rate->refs != 0)
        return;
    gw_global_rate_dispose(rate);
    pol_keyed_free(rate->per_key);
    free(rate->cfg.name);
    cfg_keyspec_clear(&rate->cfg.per);
    free(rate);
}

static gw_conc_rt_t *new_concurrency(gw_ctx_t *ctx, const cfg_concurrency_t *cfg, const cfg_redis_t *redis, const char *route_name)
{
    gw_conc_rt_t *conc = xcalloc(1, sizeof(*conc));
    conc->refs = 1;
    conc->ctx = ctx;
    conc->cfg = *cfg;
    conc->cfg.name = xstrdup(cfg->name);
    cfg_keyspec_copy(&conc->cfg.per, &cfg->per);
    /* TODO(lead): limit: auto (adaptive: cfg->adaptive, starts at cfg->limit), hold_aborted_ms,
     * max_key_length; until then an adaptive limit is fixed at adaptive_initial */
    conc->params = (pol_sema_params_t){cfg->limit, cfg->queue_size, cfg->queue_order == CFG_QUEUE_LIFO};
    if (cfg->scope == CFG_SCOPE_GLOBAL) {
        /* the local semaphores are the on_error fallback: ceil(limit / instances) */
        conc->params.limit = pol_global_local_share(cfg->limit, redis->instances);
        gw_global_conc_init(ctx, conc, redis, route_name);
    }
    if (cfg->per.num_keys != 0)
        conc->per_key = pol_keyed_new(sizeof(pol_sema_t), cfg->max_keys, sema_at_rest, NULL, gw_random(ctx));
    h2o_timeout_init(ctx->loop, &conc->queue_timeout, cfg->queue_timeout_ms);
    return conc;
}

void gw_admission_release_concurrency(gw_conc_rt_t *conc)
{
    if (--conc->refs != 0)
        return;
    gw_global_conc_dispose(conc);
    pol_keyed_free(conc->per_key);
    h2o_timeout_dispose(conc->ctx->loop, &conc->queue_timeout);
    free(conc->cfg.name);
    cfg_keyspec_clear(&conc->cfg.per);
    free(conc);
}

void gw_admission_init_ctx(gw_ctx_t *ctx)
{
    gw_timer_wheel_init(&ctx->timer_wheel, ctx->loop);
    gw_global_init_ctx(ctx);
}

gw_admission_t *gw_admission_create(gw_ctx_t *ctx, const cfg_route_t *cfg, const cfg_redis_t *redis, const gw_admission_t *previous)
{
    if (cfg->num_rate_limits == 0 && cfg->num_concurrency == 0)
        return NULL;
    gw_admission_t *adm = xcalloc(1, sizeof(*adm));
    adm->num_rates = cfg->num_rate_limits;
    adm->rates = xcalloc(adm->num_rates, sizeof(*adm->rates));
    for (size_t i = 0; i != adm->num_rates; ++i) {
        const cfg_rate_limit_t *want = &cfg->rate_limits[i];
        for (size_t j = 0; previous != NULL && j != previous->num_rates && adm->rates[i] == NULL; ++j) {
            gw_rate_rt_t *before = previous->rates[j];
            if (same_rate(&before->cfg, want) &&
                gw_global_setup_matches(before->global, &before->setup, redis, cfg->name, want->name)) {
                adm->rates[i] = previous->rates[j];
                ++adm->rates[i]->refs;
            }
        }
        if (adm->rates[i] == NULL)
            adm->rates[i] = new_rate(ctx, want, redis, cfg->name);
    }
    /* TODO(lead): a list of concurrency limits (taken in order); only the first is enforced yet.
     * Also route max_body, circuit_breaker, priority, websocket and request_headers. */
    if (cfg->num_concurrency != 0) {
        const cfg_concurrency_t *want = &cfg->concurrency[0];
        const gw_conc_rt_t *before = previous != NULL ? previous->conc : NULL;
        if (before != NULL && same_concurrency(&before->cfg, want) &&
            gw_global_setup_matches(before->global, &before->setup, redis, cfg->name, want->name)) {
            adm->conc = previous->conc;
            ++adm->conc->refs;
        } else {
            adm->conc = new_concurrency(ctx, want, redis, cfg->name);
        }
    }
    return adm;
}

void gw_admission_free(gw_admission_t *adm)
{
    if (adm == NULL)
        return;
    for (size_t i = 0; i != adm->num_rates; ++i)
        gw_admission_release_rate(adm->rates[i]);
    free(adm->rates);
    if (adm->conc != NULL)
        gw_admission_release_concurrency(adm->conc);
    free(adm);
}

/* ---- keys ---- */

static const char *query_param(h2o_req_t *req, const char *name, size_t *len)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t name_len = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq != NULL ? eq : pair_end;
        if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq != NULL ? eq + 1 : pair_end;
            *len = (size_t)(pair_end - v);
            return v;
        }
        p = pair_end + 1;
    }
    return NULL;
}

static const char *cookie_value(h2o_req_t *req, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const char *p = req->headers.entries[i].value.base, *end = p + req->headers.entries[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                ++p;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pair_end = semi != NULL ? semi : end;
            const char *eq = memchr(p, '=', (size_t)(pair_end - p));
            if (eq != NULL && (size_t)(eq - p) == name_len && memcmp(p, name, name_len) == 0) {
                *len = (size_t)(pair_end - eq - 1);
                return eq + 1;
            }
            p = pair_end;
        }
    }
    return NULL;
}

/* The key of a keyed limit for this request, or NULL when the request lacks it (the table's
 * shared `_missing` entry is used then, never a free pass). */
const char *gw_admission_request_key(gw_request_t *r, const cfg_keyspec_t *per, size_t *len)
{
    h2o_req_t *req = r->req;
    /* TODO(lead): a list of key sources (a composite key for rate limits, one slot per value for
     * concurrency) and max_key_length; only the first source is used yet */
    const cfg_key_t *key = &per->keys[0];
    switch (key->kind) {
    case CFG_KEY_CLIENT_IP:
        *len = strlen(r->client_key_ip);
        return r->client_key_ip;
    case CFG_KEY_HEADER: {
        h2o_iovec_t v = gw_request_header(req, key->name, strlen(key->name));
        *len = v.len;
        return v.len != 0 ? v.base : NULL; /* an empty value is no key: `_missing`, not a key of its own */
    }
    case CFG_KEY_QUERY: {
        const char *v = query_param(req, key->name, len);
        return *len != 0 ? v : NULL;
    }
    case CFG_KEY_COOKIE: {
        const char *v = cookie_value(req, key->name, len);
        return *len != 0 ? v : NULL;
    }
    case CFG_KEY_PATH: /* TODO(lead): the key->index-th segment of the normalised path */
    case CFG_KEY_JSON: /* TODO(lead): a field of a JSON body (key->name, dotted) */
    case CFG_KEY_NONE:
        break;
    }
    return NULL;
}

/* ---- concurrency ---- */

static void start_upstream(gw_req_admission_t *ra)
{
    gw_proxy_start_upstream(ra->r);
}

void gw_admission_leave_room(gw_req_admission_t *ra)
{
    gw_route_metrics_t *m = ra->r->route->metrics;
    if (h2o_timeout_is_linked(&ra->queue_timer))
        h2o_timeout_unlink(&ra->queue_timer);
    ra->waiting = 0;
    --m->queue_depth;
    gw_histogram_observe(&m->queue_wait, (double)(gw_now_ns() - ra->wait_started_ns) / 1e9);
}

static void on_queue_timeout(h2o_timeout_entry_t *entry)
{
    gw_req_admission_t *ra = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, queue_timer, entry);
    if (ra->in_slot_room)
        gw_global_leave_room(ra);
    else
        pol_sema_cancel(ra->sema, &ra->waiter);
    gw_admission_leave_room(ra);
    gw_request_set_decision(ra->r, GW_ADM_QUEUE_TIMEOUT);
    gw_proxy_respond_error(ra->r, 503, "queue_timeout", "waited too long for a free slot", 1);
}

void gw_admission_enter_room(gw_req_admission_t *ra, gw_conc_rt_t *conc)
{
    ra->waiting = 1;
    ra->wait_started_ns = gw_now_ns();
    ++ra->r->route->metrics->queue_depth;
    ra->queue_timer.cb = on_queue_timeout;
    h2o_timeout_link(ra->r->ctx->loop, &conc->queue_timeout, &ra->queue_timer);
}

void gw_admission_reject_queue_full(gw_request_t *r)
{
    gw_request_set_decision(r, GW_ADM_QUEUE_FULL);
    gw_proxy_respond_error(r, 503, "queue_full", "too many requests in progress for this route", 1);
}

void gw_admission_enter_local_concurrency(gw_req_admission_t *ra, gw_conc_rt_t *conc)
{
    gw_request_t *r = ra->r;
    uint64_t now = gw_now_ns();
    ra->conc = conc;
    if (conc->per_key != NULL) {
        size_t len = 0;
        const char *key = gw_admission_request_key(r, &conc->cfg.per, &len);
        ra->sema = pol_keyed_get(conc->per_key, key, len, now);
    } else {
        ra->sema = &conc->whole_route;
    }
    switch (pol_sema_acquire(ra->sema, &conc->params, &ra->waiter, now, now + conc->cfg.queue_timeout_ms * 1000000u)) {
    case POL_ADMIT:
        ra->holds_slot = 1;
        start_upstream(ra);
        break;
    case POL_WAIT:
        gw_admission_enter_room(ra, conc);
        break;
    case POL_REJECT:
        ra->sema = NULL;
        gw_admission_reject_queue_full(r);
        break;
    }
}

void gw_admission_deny_unavailable(gw_req_admission_t *ra)
{
    gw_request_set_decision(ra->r, GW_ADM_REDIS_UNAVAILABLE);
    gw_proxy_respond_error(ra->r, 503, "redis_unavailable", "global limits cannot be checked: Redis is unavailable", 1);
}

static void enter_concurrency(gw_req_admission_t *ra)
{
    gw_conc_rt_t *conc = ra->r->route->admission->conc;
    if (conc == NULL)
        start_upstream(ra);
    else if (conc->global)
        gw_global_conc_enter(ra, conc);
    else
        gw_admission_enter_local_concurrency(ra, conc);
}

/* ---- rate limits ---- */

static void add_ratelimit_headers(h2o_req_t *req, const cfg_rate_limit_t *cfg, uint64_t remaining, uint64_t reset_s)
{
    char *policy = h2o_mem_alloc_pool(&req->pool, 160), *state = h2o_mem_alloc_pool(&req->pool, 160);
    int n1 = snprintf(policy, 160, "\"%s\";q=%llu;w=%llu", cfg->name, (unsigned long long)cfg->count,
                      (unsigned long long)(cfg->period_ms / 1000));
    int n2 = snprintf(state, 160, "\"%s\";r=%llu;t=%llu", cfg->name, (unsigned long long)remaining, (unsigned long long)reset_s);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL, policy, (size_t)n1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, state, (size_t)n2);
}

static uint64_t ceil_seconds(uint64_t ns)
{
    return (ns + 999999999u) / 1000000000u;
}

static void pass_rate_limits(gw_req_admission_t *ra);

static void on_delay_done(gw_timer_t *timer)
{
    gw_req_admission_t *ra = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, delay, timer);
    ++ra->next_rate;
    pass_rate_limits(ra);
}

/* A global limit's delay: its token was not reserved, so the same limit is asked again. */
static void on_global_delay_done(gw_timer_t *timer)
{
    pass_rate_limits(H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, delay, timer));
}

static pol_gcra_t *bucket_for(gw_request_t *r, gw_rate_rt_t *rate, uint64_t now)
{
    if (rate->per_key == NULL)
        return &rate->whole_route;
    size_t len = 0;
    const char *key = gw_admission_request_key(r, &rate->cfg.per, &len);
    return pol_keyed_get(rate->per_key, key, len, now);
}

void gw_admission_reject_rate(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t retry_after_ns)
{
    gw_request_t *r = ra->r;
    gw_request_set_decision(r, GW_ADM_RATE_LIMITED);
    add_ratelimit_headers(r->req, &rate->cfg, 0, ceil_seconds(retry_after_ns));
    gw_proxy_respond_error(r, 429, "rate_limited", "rate limit exceeded", ceil_seconds(retry_after_ns));
}

void gw_admission_continue(gw_req_admission_t *ra)
{
    pass_rate_limits(ra);
}

/* How long the request may still wait for `rate` (on_exceed: delay): max_delay from its first
 * wait for this limit, and never past the route's deadline (the 504 would come first anyway). */
static uint64_t delay_budget(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now, uint64_t since)
{
    if (rate->cfg.on_exceed != CFG_EXCEED_DELAY)
        return 0;
    gw_request_t *r = ra->r;
    uint64_t deadline = r->arrived_ns + r->route->cfg->timeout_ms * 1000000u;
    uint64_t delay_end = since + rate->cfg.max_delay_ms * 1000000u;
    if (delay_end < deadline)
        deadline = delay_end;
    return deadline > now ? deadline - now : 0;
}

/* One global limit: 1 when passed, 0 when the request waits or was answered. *use_local is set
 * when Redis is unavailable and on_error is `local`. */
static int pass_global_rate(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now, int *use_local)
{
    uint64_t retry_after = 0;
    switch (gw_global_rate_take(ra, rate, now, &retry_after)) {
    case GW_GLOBAL_ADMIT:
        ra->delay_started_ns = 0;
        return 1;
    case GW_GLOBAL_PENDING:
        return 0;
    case GW_GLOBAL_REJECT: {
        if (ra->delay_started_ns == 0)
            ra->delay_started_ns = now;
        uint64_t budget = delay_budget(ra, rate, now, ra->delay_started_ns);
        if (retry_after <= budget && budget != 0) {
            gw_request_set_decision(ra->r, GW_ADM_DELAYED);
            gw_timer_start(wheel_of(ra->r->ctx), &ra->delay, (retry_after + 999999u) / 1000000u, on_global_delay_done);
        } else {
            gw_admission_reject_rate(ra, rate, retry_after);
        }
        return 0;
    }
    case GW_GLOBAL_FALLBACK:
        break;
    }
    switch (gw_global_fallback(ra->r)) {
    case CFG_REDIS_FALLBACK_ALLOW:
        return 1;
    case CFG_REDIS_FALLBACK_DENY:
        gw_admission_deny_unavailable(ra);
        return 0;
    case CFG_REDIS_FALLBACK_LOCAL:
        break;
    }
    *use_local = 1;
    return 1;
}

static void pass_rate_limits(gw_req_admission_t *ra)
{
    gw_request_t *r = ra->r;
    gw_admission_t *adm = r->route->admission;
    uint64_t now = gw_now_ns();
    pol_gcra_result_t res;

    /* All must allow: a request refused by one limit spends no token of the others (a global
     * limit is refused here only when Redis already said its bucket is empty). */
    for (size_t i = ra->next_rate; i != adm->num_rates; ++i) {
        gw_rate_rt_t *rate = adm->rates[i];
        if (rate->cfg.on_exceed != CFG_EXCEED_REJECT)
            continue;
        uint64_t retry_after;
        if (rate->global ? gw_global_rate_known_empty(ra, rate, now, &retry_after)
                         : pol_gcra_peek(bucket_for(r, rate, now), &rate->params, now, &res) == POL_REJECT) {
            gw_admission_reject_rate(ra, rate, rate->global ? retry_after : res.retry_after_ns);
            return;
        }
    }
    for (; ra->next_rate != adm->num_rates; ++ra->next_rate) {
        gw_rate_rt_t *rate = adm->rates[ra->next_rate];
        if (rate->global) {
            int use_local = 0;
            if (!pass_global_rate(ra, rate, now, &use_local))
                return;
            if (!use_local)
                continue;
        }
        uint64_t max_wait = delay_budget(ra, rate, now, now);
        switch (pol_gcra_take(bucket_for(r, rate, now), &rate->params, now, max_wait, &res)) {
        case POL_ADMIT:
            continue;
        case POL_WAIT:
            gw_request_set_decision(r, GW_ADM_DELAYED);
            gw_timer_start(wheel_of(r->ctx), &ra->delay, (res.wait_ns + 999999u) / 1000000u, on_delay_done);
            return;
        case POL_REJECT:
            gw_admission_reject_rate(ra, rate, res.retry_after_ns);
            return;
        }
    }
    enter_concurrency(ra);
}

/* ---- entry points ---- */

void gw_admission_begin(gw_request_t *r)
{
    gw_admission_t *adm = r->route->admission;
    if (adm == NULL) {
        gw_proxy_start_upstream(r);
        return;
    }
    gw_req_admission_t *ra = h2o_mem_alloc_pool(&r->req->pool, sizeof(*ra));
    memset(ra, 0, sizeof(*ra));
    ra->r = r;
    r->admission = ra;
    pass_rate_limits(ra);
}

void gw_admission_release(gw_request_t *r)
{
    gw_req_admission_t *ra = r->admission;
    if (ra == NULL)
        return;
    gw_timer_stop(&ra->delay);
    gw_global_release(ra);
    if (ra->waiting) {
        pol_sema_cancel(ra->sema, &ra->waiter);
        gw_admission_leave_room(ra);
    }
    if (ra->holds_slot) {
        ra->holds_slot = 0;
        pol_waiter_t *next = pol_sema_release(ra->sema, &ra->conc->params);
        if (next != NULL) {
            gw_req_admission_t *woken = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, waiter, next);
            gw_admission_leave_room(woken);
            woken->holds_slot = 1;
            start_upstream(woken);
        }
    }
}

/* ---- /limits ---- */

char *gw_admission_limits_json(gw_ctx_t *ctx, size_t *len)
{
    gw_textbuf_t b = gw_textbuf_init(4096);
    uint64_t now = gw_now_ns();
    gw_generation_t *gen = ctx->gen;
    gw_textbuf_printf(&b, "{\"routes\":[");
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        gw_route_rt_t *route = &gen->routes[i];
        gw_admission_t *adm = route->admission;
        gw_textbuf_printf(&b, "%s{\"route\":\"%s\",\"in_flight\":%lld,\"queue_depth\":%lld", i ? "," : "", route->cfg->name,
                          (long long)route->metrics->in_flight, (long long)route->metrics->queue_depth);
        if (adm != NULL && adm->conc != NULL) {
            gw_conc_rt_t *conc = adm->conc;
            gw_textbuf_printf(&b, ",\"concurrency\":{\"limit\":%u,\"queue_size\":%u,\"per\":", conc->cfg.limit,
                              conc->cfg.queue_size);
            if (conc->per_key != NULL)
                gw_textbuf_printf(&b, "\"%s\",\"keys\":%zu}", conc->cfg.per.text, pol_keyed_count(conc->per_key));
            else
                gw_textbuf_printf(&b, "null,\"in_flight\":%u,\"queued\":%u}", conc->whole_route.in_flight,
                                  conc->whole_route.queued);
        }
        gw_textbuf_printf(&b, ",\"rate_limits\":[");
        for (size_t j = 0; adm != NULL && j != adm->num_rates; ++j) {
            gw_rate_rt_t *rate = adm->rates[j];
            gw_textbuf_printf(&b, "%s{\"name\":\"%s\",\"rate\":%llu,\"period_s\":%llu,\"burst\":%u,\"per\":", j ? "," : "",
                              rate->cfg.name, (unsigned long long)rate->cfg.count, (unsigned long long)(rate->cfg.period_ms / 1000),
                              rate->cfg.burst);
            if (rate->per_key != NULL)
                gw_textbuf_printf(&b, "\"%s\",\"keys\":%zu}", rate->cfg.per.text, pol_keyed_count(rate->per_key));
            else
                gw_textbuf_printf(&b, "null,\"remaining\":%u}", pol_gcra_remaining(&rate->whole_route, &rate->params, now));
        }
        gw_textbuf_printf(&b, "]}");
    }
    gw_textbuf_printf(&b, "]}\n");
    *len = b.len;
    return b.p;
}
