#include "gw_breaker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h2o.h"
#include "pol_keyed.h"

struct st_gw_breaker_t {
    size_t refs;
    char *route;
    cfg_circuit_breaker_t cfg; /* the scalars only: `per` is compared through per_text */
    char *per_text;            /* NULL without per: */
    pol_breaker_params_t params;
    pol_breaker_t whole;  /* without per: */
    pol_keyed_t *per_key; /* with per: */
    uint32_t not_closed;  /* with per: keys whose breaker is open or half-open */
};

static int at_rest(const void *value, void *data, uint64_t now_ns)
{
    return pol_breaker_at_rest(value, &((gw_breaker_t *)data)->params, now_ns);
}

gw_breaker_t *gw_breaker_new(const char *route, const cfg_circuit_breaker_t *cfg, uint64_t seed)
{
    gw_breaker_t *b = h2o_mem_alloc(sizeof(*b));
    memset(b, 0, sizeof(*b));
    b->refs = 1;
    b->route = h2o_strdup(NULL, route, SIZE_MAX).base;
    b->cfg = *cfg;
    b->cfg.per = (cfg_keyspec_t){0};
    b->params = (pol_breaker_params_t){.failures = cfg->failures,
                                       .open_for_ns = cfg->open_for_ms * 1000000u,
                                       .half_open = cfg->half_open,
                                       .failure_rate = cfg->failure_rate,
                                       .window_ns = cfg->window_ms * 1000000u,
                                       .min_requests = cfg->min_requests};
    if (cfg->per.num_keys != 0) {
        b->per_text = h2o_strdup(NULL, cfg->per.text, SIZE_MAX).base;
        b->per_key = pol_keyed_new(sizeof(pol_breaker_t), cfg->max_keys, at_rest, b, seed);
    }
    return b;
}

gw_breaker_t *gw_breaker_ref(gw_breaker_t *b)
{
    ++b->refs;
    return b;
}

void gw_breaker_unref(gw_breaker_t *b)
{
    if (--b->refs != 0)
        return;
    if (b->per_key != NULL)
        pol_keyed_free(b->per_key);
    free(b->per_text);
    free(b->route);
    free(b);
}

int gw_breaker_matches(const gw_breaker_t *b, const cfg_circuit_breaker_t *cfg)
{
    const cfg_circuit_breaker_t *a = &b->cfg;
    int same_per = cfg->per.num_keys == 0 ? b->per_text == NULL : b->per_text != NULL && strcmp(b->per_text, cfg->per.text) == 0;
    return same_per && a->failures == cfg->failures && a->open_for_ms == cfg->open_for_ms && a->half_open == cfg->half_open &&
           a->failure_rate == cfg->failure_rate && a->window_ms == cfg->window_ms && a->min_requests == cfg->min_requests &&
           a->max_keys == cfg->max_keys && a->max_key_length == cfg->max_key_length;
}

static pol_breaker_t *find(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns)
{
    if (b->per_key == NULL)
        return &b->whole;
    if (key.base == NULL)
        key = (gw_keyval_t){"_missing", 8};
    return pol_keyed_get(b->per_key, key.base, key.len, now_ns);
}

/* Keeps the count of keys not closed as a key's breaker changes state. */
static void note_change(gw_breaker_t *b, pol_breaker_state_t before, pol_breaker_state_t after)
{
    if (b->per_key == NULL || (before == POL_BREAKER_CLOSED) == (after == POL_BREAKER_CLOSED))
        return;
    if (after == POL_BREAKER_CLOSED)
        --b->not_closed;
    else
        ++b->not_closed;
}

int gw_breaker_allow(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t *ticket, uint64_t *retry_after_ns)
{
    pol_breaker_t *one = find(b, key, now_ns);
    pol_breaker_state_t before = one->state;
    int ok = pol_breaker_allow(one, &b->params, now_ns, ticket, retry_after_ns);
    note_change(b, before, one->state);
    return ok;
}

void gw_breaker_record(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t ticket, int failed)
{
    pol_breaker_t *one = find(b, key, now_ns);
    pol_breaker_state_t before = one->state;
    uint32_t consecutive = one->consecutive + 1;
    if (pol_breaker_record(one, &b->params, now_ns, ticket, failed)) {
        if (before == POL_BREAKER_HALF_OPEN)
            fprintf(stderr, "sluice: route %s: circuit opened again: a trial request failed\n", b->route);
        else if (consecutive >= b->params.failures)
            fprintf(stderr, "sluice: route %s: circuit opened after %u failures in a row\n", b->route, consecutive);
        else
            fprintf(stderr, "sluice: route %s: circuit opened: failures reached %u%% of requests\n", b->route,
                    b->params.failure_rate);
    }
    note_change(b, before, one->state);
}

void gw_breaker_abandon(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t ticket)
{
    if (ticket.trial)
        pol_breaker_abandon(find(b, key, now_ns), ticket);
}

int gw_breaker_state(gw_breaker_t *b, uint64_t now_ns)
{
    if (b->per_key != NULL)
        return b->not_closed != 0;
    switch (pol_breaker_state(&b->whole, &b->params, now_ns)) {
    case POL_BREAKER_OPEN:
        return 1;
    case POL_BREAKER_HALF_OPEN:
        return 2;
    default:
        return 0;
    }
}

void gw_breaker_describe(gw_breaker_t *b, gw_textbuf_t *out, uint64_t now_ns)
{
    static const char *const names[] = {"closed", "open", "half_open"};
    if (b->per_key != NULL) {
        gw_textbuf_printf(out, "\"circuit_breaker\":{\"per\":\"%s\",\"keys\":%zu,\"keys_not_closed\":%u}", b->per_text,
                          pol_keyed_count(b->per_key), b->not_closed);
        return;
    }
    gw_textbuf_printf(out, "\"circuit_breaker\":{\"per\":null,\"state\":\"%s\",\"failures_in_a_row\":%u}",
                      names[gw_breaker_state(b, now_ns)], b->whole.consecutive);
}
