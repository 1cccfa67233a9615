#include "gw_admission.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* distinct values of one `per:` list: at most one per source */
#define MAX_KEYS_PER_LIMIT CFG_MAX_KEYS

typedef struct st_gw_rate_ref_t {
    gw_limiter_t *lim;
    const cfg_rate_limit_t *cfg;
} gw_rate_ref_t;

typedef struct st_gw_conc_ref_t {
    gw_limiter_t *lim;
    const cfg_concurrency_t *cfg;
    h2o_timeout_t queue_timeout;
} gw_conc_ref_t;

struct st_gw_admission_t {
    gw_adm_env_t *env;
    cfg_redis_on_error_t on_error;
    gw_rate_ref_t *rates;
    size_t num_rates;
    gw_conc_ref_t *concs;
    size_t num_concs;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

gw_admission_t *gw_admission_new(gw_adm_env_t *env, const cfg_route_t *route, cfg_redis_on_error_t on_error, gw_limiter_t **rates,
                                 gw_limiter_t **concs)
{
    gw_admission_t *adm = xcalloc(1, sizeof(*adm));
    adm->env = env;
    adm->on_error = on_error;
    adm->num_rates = route->num_rate_limits;
    adm->rates = xcalloc(adm->num_rates, sizeof(*adm->rates));
    for (size_t i = 0; i != adm->num_rates; ++i)
        adm->rates[i] = (gw_rate_ref_t){.lim = rates[i], .cfg = &route->rate_limits[i]};
    adm->num_concs = route->num_concurrency;
    adm->concs = xcalloc(adm->num_concs, sizeof(*adm->concs));
    for (size_t i = 0; i != adm->num_concs; ++i) {
        adm->concs[i].lim = concs[i];
        adm->concs[i].cfg = &route->concurrency[i];
        h2o_timeout_init(env->loop, &adm->concs[i].queue_timeout, route->concurrency[i].queue_timeout_ms);
    }
    return adm;
}

void gw_admission_free(gw_admission_t *adm)
{
    if (adm == NULL)
        return;
    for (size_t i = 0; i != adm->num_rates; ++i)
        gw_limiter_unref(adm->rates[i].lim);
    for (size_t i = 0; i != adm->num_concs; ++i) {
        h2o_timeout_dispose(adm->env->loop, &adm->concs[i].queue_timeout);
        gw_limiter_unref(adm->concs[i].lim);
    }
    free(adm->rates);
    free(adm->concs);
    free(adm);
}

uint64_t gw_admission_hold_ms(const gw_admission_t *adm)
{
    uint64_t ms = 0;
    for (size_t i = 0; adm != NULL && i != adm->num_concs; ++i)
        if (adm->concs[i].cfg->hold_aborted_ms > ms)
            ms = adm->concs[i].cfg->hold_aborted_ms;
    return ms;
}

size_t gw_admission_num_concurrency(const gw_admission_t *adm)
{
    return adm != NULL ? adm->num_concs : 0;
}

const char *gw_admission_concurrency_name(const gw_admission_t *adm, size_t i)
{
    return adm->concs[i].lim->name;
}

uint32_t gw_admission_concurrency_limit(const gw_admission_t *adm, size_t i)
{
    return adm->concs[i].lim->ops->current_limit(adm->concs[i].lim);
}

/* `"concurrency":[...],"rate_limits":[...]`, each limit as it describes itself (no limits: empty lists). */
void gw_admission_describe(gw_admission_t *adm, gw_textbuf_t *b, uint64_t now_ns)
{
    gw_textbuf_printf(b, "\"concurrency\":[");
    for (size_t i = 0; adm != NULL && i != adm->num_concs; ++i) {
        gw_textbuf_printf(b, "%s", i != 0 ? "," : "");
        adm->concs[i].lim->ops->describe(adm->concs[i].lim, b, now_ns);
    }
    gw_textbuf_printf(b, "],\"rate_limits\":[");
    for (size_t i = 0; adm != NULL && i != adm->num_rates; ++i) {
        gw_textbuf_printf(b, "%s", i != 0 ? "," : "");
        adm->rates[i].lim->ops->describe(adm->rates[i].lim, b, now_ns);
    }
    gw_textbuf_printf(b, "]");
}

/* ---- one request ---- */

static int pass_rates(gw_admit_t *a, gw_admit_result_t *res);
static int take_slots(gw_admit_t *a, gw_admit_result_t *res);

/* An answer found inside a callback (a delay, a wake-up): told through the callback. */
static void tell(gw_admit_t *a, int ret, gw_admit_result_t *res)
{
    if (ret == 0)
        return;
    if (ret > 0) {
        res->outcome = GW_ADMIT_PASS;
        res->delayed = a->delayed;
    }
    a->cb(a, res, a->data);
}

static void refuse(gw_admit_t *a, gw_admit_result_t *res, gw_admit_outcome_t outcome, uint64_t retry_after_ns)
{
    gw_admit_release(a, NULL);
    res->outcome = outcome;
    res->retry_after_ns = retry_after_ns;
    res->delayed = a->delayed;
}

static cfg_redis_on_error_t fallback_mode(gw_admit_t *a)
{
    cfg_redis_on_error_t mode = a->adm->on_error;
    ++a->adm->env->redis_metrics->fallback[mode];
    return mode;
}

/* -- rate limits -- */

/* How long the request may still wait for a rate limit (on_exceed: delay): max_delay from its
 * first wait for this limit, and never past the deadline (the 504 would come first anyway). */
static uint64_t delay_budget(gw_admit_t *a, const cfg_rate_limit_t *cfg, uint64_t now)
{
    if (cfg->on_exceed != CFG_EXCEED_DELAY)
        return 0;
    uint64_t end = a->delay_started_ns + cfg->max_delay_ms * 1000000u;
    if (end > a->deadline_ns)
        end = a->deadline_ns;
    return end > now ? end - now : 0;
}

static void next_rate(gw_admit_t *a);

static void on_delay_done(gw_timer_t *timer)
{
    gw_admit_t *a = H2O_STRUCT_FROM_MEMBER(gw_admit_t, delay, timer);
    gw_admit_result_t res = {0};
    tell(a, pass_rates(a, &res), &res);
}

static void on_rate_hold(gw_hold_t *h, gw_lim_result_t result)
{
    gw_admit_t *a = h->data;
    gw_admit_result_t res = {0};
    if (result == GW_LIM_UNAVAILABLE) {
        switch (fallback_mode(a)) {
        case CFG_REDIS_FALLBACK_ALLOW:
            next_rate(a);
            break;
        case CFG_REDIS_FALLBACK_DENY:
            refuse(a, &res, GW_ADMIT_REDIS_DENIED, 1000000000u);
            tell(a, -1, &res);
            return;
        case CFG_REDIS_FALLBACK_LOCAL:
            a->rate_local = a->adm->rates[a->next_rate].lim->fallback;
            break;
        }
    }
    tell(a, pass_rates(a, &res), &res);
}

static void next_rate(gw_admit_t *a)
{
    ++a->next_rate;
    a->rate_local = NULL;
    a->delay_started_ns = 0;
}

/* Takes a token of each rate limit from a->next_rate on. 1: all passed (the slots come next, and
 * their answer is returned), 0: waiting, -1: refused. */
static int pass_rates(gw_admit_t *a, gw_admit_result_t *res)
{
    gw_admission_t *adm = a->adm;
    a->state = GW_ADMIT_STATE_RATES;
    while (a->next_rate != adm->num_rates) {
        const gw_rate_ref_t *rate = &adm->rates[a->next_rate];
        gw_limiter_t *lim = a->rate_local != NULL ? a->rate_local : rate->lim;
        uint64_t now = gw_now_ns();
        if (a->delay_started_ns == 0)
            a->delay_started_ns = now;
        gw_hold_t *h = &a->rate_hold;
        h->key = a->rate_keys[a->next_rate];
        h->share_key = a->fair_keys[a->next_rate];
        h->cb = on_rate_hold;
        h->data = a;
        gw_rate_info_t info = {0};
        uint64_t budget = delay_budget(a, rate->cfg, now);
        switch (lim->ops->take(lim, h, now, budget, &info)) {
        case GW_LIM_ADMIT:
            next_rate(a);
            continue;
        case GW_LIM_WAIT:
            /* a local token reserved for later: the request sleeps until it is due */
            a->delayed = 1;
            next_rate(a);
            gw_timer_start(adm->env->wheel, &a->delay, (info.wait_ns + 999999u) / 1000000u, on_delay_done);
            return 0;
        case GW_LIM_PENDING:
            return 0;
        case GW_LIM_REJECT:
            if (budget != 0 && info.retry_after_ns <= budget && lim == rate->lim && lim->fallback != NULL) {
                /* a global limit reserves nothing ahead: sleep, then ask it again */
                a->delayed = 1;
                gw_timer_start(adm->env->wheel, &a->delay, (info.retry_after_ns + 999999u) / 1000000u, on_delay_done);
                return 0;
            }
            refuse(a, res, GW_ADMIT_RATE_LIMITED, info.retry_after_ns);
            res->rate = rate->cfg;
            res->remaining = info.remaining;
            return -1;
        case GW_LIM_UNAVAILABLE:
            switch (fallback_mode(a)) {
            case CFG_REDIS_FALLBACK_ALLOW:
                next_rate(a);
                continue;
            case CFG_REDIS_FALLBACK_DENY:
                refuse(a, res, GW_ADMIT_REDIS_DENIED, 1000000000u);
                return -1;
            case CFG_REDIS_FALLBACK_LOCAL:
                a->rate_local = rate->lim->fallback; /* this limit again, through its stand-in */
                continue;
            }
        }
    }
    return take_slots(a, res);
}

/* -- concurrency limits -- */

static void enter_room(gw_admit_t *a, gw_hold_t *h)
{
    gw_conc_ref_t *conc = &a->adm->concs[a->hold_limit[h - a->holds]];
    a->waiting = 1;
    a->wait_started_ns = gw_now_ns();
    ++a->metrics->queue_depth;
    h2o_timeout_link(a->adm->env->loop, &conc->queue_timeout, &a->queue_timer);
}

static void leave_room(gw_admit_t *a)
{
    if (!a->waiting)
        return;
    a->waiting = 0;
    if (h2o_timeout_is_linked(&a->queue_timer))
        h2o_timeout_unlink(&a->queue_timer);
    --a->metrics->queue_depth;
    gw_histogram_observe(&a->metrics->queue_wait, (double)(gw_now_ns() - a->wait_started_ns) / 1e9);
}

static void on_queue_timeout(h2o_timeout_entry_t *entry)
{
    gw_admit_t *a = H2O_STRUCT_FROM_MEMBER(gw_admit_t, queue_timer, entry);
    gw_admit_result_t res = {0};
    refuse(a, &res, GW_ADMIT_QUEUE_TIMEOUT, 1000000000u);
    tell(a, -1, &res);
}

/* What one acquire (or an asynchronous answer to it) means for the request: 1 go on with the
 * next slot, 0 wait, -1 refused. */
static int on_acquired(gw_admit_t *a, gw_hold_t *h, gw_lim_result_t result, gw_admit_result_t *res)
{
    switch (result) {
    case GW_LIM_ADMIT:
        leave_room(a);
        return 1;
    case GW_LIM_WAIT:
        enter_room(a, h);
        return 0;
    case GW_LIM_PENDING:
        return 0;
    case GW_LIM_REJECT:
        leave_room(a);
        refuse(a, res, GW_ADMIT_QUEUE_FULL, 1000000000u);
        return -1;
    case GW_LIM_UNAVAILABLE:
        break;
    }
    leave_room(a);
    gw_limiter_t *lim = a->adm->concs[a->hold_limit[h - a->holds]].lim;
    switch (fallback_mode(a)) {
    case CFG_REDIS_FALLBACK_ALLOW:
        return 1; /* admitted without a slot of this limit */
    case CFG_REDIS_FALLBACK_DENY:
        refuse(a, res, GW_ADMIT_REDIS_DENIED, 1000000000u);
        return -1;
    case CFG_REDIS_FALLBACK_LOCAL:
        break;
    }
    return on_acquired(a, h, lim->fallback->ops->acquire(lim->fallback, h, gw_now_ns()), res);
}

static void on_slot_hold(gw_hold_t *h, gw_lim_result_t result)
{
    gw_admit_t *a = h->data;
    gw_admit_result_t res = {0};
    int ret = on_acquired(a, h, result, &res);
    if (ret > 0) {
        ++a->next_hold;
        ret = take_slots(a, &res);
    }
    tell(a, ret, &res);
}

/* The holds of every concurrency limit, in list order, each limit's keys sorted. */
static void plan_slots(gw_admit_t *a)
{
    gw_admission_t *adm = a->adm;
    gw_keyval_t keys[CFG_MAX_CONCURRENCY_LIMITS][MAX_KEYS_PER_LIMIT];
    size_t counts[CFG_MAX_CONCURRENCY_LIMITS], total = 0, nconcs = adm->num_concs;
    assert(nconcs <= CFG_MAX_CONCURRENCY_LIMITS); /* the config refuses more */
    for (size_t i = 0; i != nconcs; ++i) {
        const cfg_concurrency_t *cfg = adm->concs[i].cfg;
        if (cfg->per.num_keys == 0) {
            keys[i][0] = (gw_keyval_t){NULL, 0};
            counts[i] = 1;
        } else {
            counts[i] = gw_key_values(a->keys, &cfg->per, cfg->max_key_length, keys[i], MAX_KEYS_PER_LIMIT);
        }
        total += counts[i];
    }
    a->holds = a->keys->alloc(a->keys->data, sizeof(*a->holds) * (total + 1));
    a->hold_limit = a->keys->alloc(a->keys->data, sizeof(*a->hold_limit) * (total + 1));
    memset(a->holds, 0, sizeof(*a->holds) * (total + 1));
    a->num_holds = 0;
    for (size_t i = 0; i != nconcs; ++i) {
        for (size_t k = 0; k != counts[i]; ++k) {
            gw_hold_t *h = &a->holds[a->num_holds];
            h->key = keys[i][k];
            h->level = a->level;
            h->cb = on_slot_hold;
            h->data = a;
            a->hold_limit[a->num_holds++] = i;
        }
    }
}

static int take_slots(gw_admit_t *a, gw_admit_result_t *res)
{
    if (a->holds == NULL)
        plan_slots(a);
    a->state = GW_ADMIT_STATE_SLOTS;
    for (; a->next_hold != a->num_holds; ++a->next_hold) {
        gw_hold_t *h = &a->holds[a->next_hold];
        gw_limiter_t *lim = a->adm->concs[a->hold_limit[a->next_hold]].lim;
        int ret = on_acquired(a, h, lim->ops->acquire(lim, h, gw_now_ns()), res);
        if (ret <= 0)
            return ret;
    }
    a->state = GW_ADMIT_STATE_HOLDING;
    return 1;
}

int gw_admit_begin(gw_admit_t *a, gw_admission_t *adm, const gw_keysrc_t *keys, uint8_t level, uint64_t deadline_ns,
                   gw_route_metrics_t *metrics, gw_admit_cb cb, void *data, gw_admit_result_t *res)
{
    memset(a, 0, sizeof(*a));
    a->adm = adm;
    a->cb = cb;
    a->data = data;
    a->keys = keys;
    a->level = level;
    a->deadline_ns = deadline_ns;
    a->metrics = metrics;
    a->queue_timer.cb = on_queue_timeout;
    memset(res, 0, sizeof(*res));
    if (adm == NULL) {
        a->state = GW_ADMIT_STATE_HOLDING;
        return 1;
    }
    /* each rate limit's key, read once; all must allow: a request refused by one limit spends no
     * token of the others */
    uint64_t now = gw_now_ns();
    a->rate_keys = keys->alloc(keys->data, sizeof(*a->rate_keys) * (adm->num_rates + 1));
    a->fair_keys = keys->alloc(keys->data, sizeof(*a->fair_keys) * (adm->num_rates + 1));
    for (size_t i = 0; i != adm->num_rates; ++i) {
        const cfg_rate_limit_t *cfg = adm->rates[i].cfg;
        a->rate_keys[i] = cfg->per.num_keys != 0 ? gw_key_composite(keys, &cfg->per, cfg->max_key_length) : (gw_keyval_t){NULL, 0};
        a->fair_keys[i] =
            cfg->fair.num_keys != 0 ? gw_key_composite(keys, &cfg->fair, cfg->max_key_length) : (gw_keyval_t){NULL, 0};
    }
    for (size_t i = 0; i != adm->num_rates; ++i) {
        const gw_rate_ref_t *rate = &adm->rates[i];
        if (rate->cfg->on_exceed != CFG_EXCEED_REJECT)
            continue;
        gw_hold_t h = {.key = a->rate_keys[i], .share_key = a->fair_keys[i]};
        gw_rate_info_t info = {0};
        if (rate->lim->ops->peek(rate->lim, &h, now, &info) == GW_LIM_REJECT) {
            refuse(a, res, GW_ADMIT_RATE_LIMITED, info.retry_after_ns);
            res->rate = rate->cfg;
            return -1;
        }
    }
    return pass_rates(a, res);
}

static void release_hold(gw_hold_t *h, const gw_sample_t *sample)
{
    if (h->limiter != NULL)
        h->limiter->ops->release(h->limiter, h, sample);
    gw_hold_cancel_wake(h);
}

void gw_admit_release(gw_admit_t *a, const gw_sample_t *sample)
{
    if (a->state == GW_ADMIT_STATE_DONE || a->state == GW_ADMIT_STATE_IDLE) {
        a->state = GW_ADMIT_STATE_DONE;
        return;
    }
    a->state = GW_ADMIT_STATE_DONE;
    gw_timer_stop(&a->delay);
    leave_room(a);
    release_hold(&a->rate_hold, NULL);
    /* in reverse: the last taken first, so that a waiter handed a slot does not wait behind one
     * this request is about to give back too */
    for (size_t i = a->num_holds; i-- != 0;)
        release_hold(&a->holds[i], sample);
}

void gw_admit_release_unheld(gw_admit_t *a)
{
    if (a->state != GW_ADMIT_STATE_HOLDING) {
        gw_admit_release(a, NULL);
        return;
    }
    for (size_t i = a->num_holds; i-- != 0;)
        if (a->adm->concs[a->hold_limit[i]].cfg->hold_aborted_ms == 0)
            release_hold(&a->holds[i], NULL);
}
