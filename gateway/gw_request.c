#include "gw_request.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "gw_accesslog.h"
#include "gw_clientip.h"
#include "gw_h1parse.h"
#include "gw_h2guard.h"
#include "gw_http.h"
#include "gw_jsonerr.h"
#include "gw_path.h"
#include "gw_reqhead.h"
#include "gw_route.h"
#include "gw_websocket.h"
#include "gw_generation.h"

#define GW_ADM_NONE GW_ADM_DECISION_COUNT

static gw_route_metrics_t *metrics_of(gw_request_t *r)
{
    return r->route != NULL ? r->route->metrics : &r->ctx->no_route_metrics;
}

static void set_decision(gw_request_t *r, gw_admission_decision_t decision)
{
    r->decision = decision;
}

static void stop_timers(gw_request_t *r)
{
    if (h2o_timeout_is_linked(&r->deadline))
        h2o_timeout_unlink(&r->deadline);
    if (h2o_timeout_is_linked(&r->deferred_start))
        h2o_timeout_unlink(&r->deferred_start);
}

/* ---- answers ---- */

static void add_request_id_header(gw_request_t *r)
{
    h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id.base,
                          r->request_id.len);
}

void gw_request_respond_error(gw_request_t *r, int status, const char *code, const char *message, uint64_t retry_after_s)
{
    h2o_req_t *req = r->req;
    char *body = h2o_mem_alloc_pool(&req->pool, GW_JSONERR_MAX);
    size_t len = gw_jsonerr_format(body, status, code, message, r->route != NULL ? r->route->cfg->name : NULL, r->request_id.base,
                                   r->request_id.len);
    stop_timers(r);
    r->state = GW_REQ_RESPONDED;
    req->res.status = status;
    req->res.reason = gw_status_reason(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    add_request_id_header(r);
    if (retry_after_s != 0) {
        char *v = h2o_mem_alloc_pool(&req->pool, 24);
        int n = snprintf(v, 24, "%llu", (unsigned long long)retry_after_s);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
    }
    h2o_send_inline(req, body, len);
}

static uint64_t ceil_seconds(uint64_t ns)
{
    return (ns + 999999999u) / 1000000000u;
}

static void add_ratelimit_headers(h2o_req_t *req, const cfg_rate_limit_t *cfg, uint64_t remaining, uint64_t reset_s)
{
    char *policy = h2o_mem_alloc_pool(&req->pool, 160), *state = h2o_mem_alloc_pool(&req->pool, 160);
    int n1 = snprintf(policy, 160, "\"%s\";q=%llu;w=%llu", cfg->name, (unsigned long long)cfg->count,
                      (unsigned long long)(cfg->period_ms / 1000));
    int n2 = snprintf(state, 160, "\"%s\";r=%llu;t=%llu", cfg->name, (unsigned long long)remaining, (unsigned long long)reset_s);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0, NULL, policy, (size_t)n1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0, NULL, state, (size_t)n2);
}

/* ---- the end ---- */

static void breaker_outcome(gw_request_t *r, const gw_sample_t *sample);

static void end(gw_request_t *r)
{
    if (r->ws_reserved)
        --metrics_of(r)->websocket_connections; /* the upgrade did not happen */
    breaker_outcome(r, NULL);                   /* let through, but never sent upstream */
    stop_timers(r);
    gw_timer_stop(&r->hold_timer);
    gw_admit_release(&r->admit, NULL);
    if (r->aborted)
        --metrics_of(r)->aborted_in_flight;
    --r->ctx->live_requests;
    h2o_linklist_unlink(&r->live_link);
    gw_generation_release(r->ctx, r->gen);
    gw_arena_free(&r->arena);
    free(r);
}

/* The exchange is over (gw_proxy): its slots go back, with how it went. */
static void on_exchange_done(gw_request_t *r, const gw_sample_t *sample)
{
    if (r->in_flight) {
        r->in_flight = 0;
        --metrics_of(r)->in_flight;
    }
    gw_admit_release(&r->admit, sample);
    breaker_outcome(r, sample);
    if (r->req == NULL)
        end(r); /* it was held: the application is done at last */
}

static void respond_proxy_error(gw_request_t *r, int status, const char *code, const char *message)
{
    if (status == 504)
        set_decision(r, GW_ADM_TIMEOUT); /* read_timeout before the head: the app is slow, as with the deadline */
    gw_request_respond_error(r, status, code, message, 0);
}

static void on_hold_timer(gw_timer_t *timer)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, hold_timer, timer);
    gw_proxy_cancel(r, GW_VERDICT_FAILED); /* hold_aborted passed: the slots go back whatever the application does */
}

/* The h2o request ends: answered, or its client gone (connection closed, HTTP/2 reset). */
static void on_req_dispose(void *data)
{
    gw_request_t *r = *(gw_request_t **)data;
    h2o_req_t *req = r->req;
    gw_ctx_t *ctx = r->ctx;
    gw_route_metrics_t *m = metrics_of(r);

    stop_timers(r);
    if (r->state == GW_REQ_ADMISSION || r->state == GW_REQ_ROUTING || r->state == GW_REQ_READING_BODY) {
        gw_admit_release(&r->admit, NULL);
        if (r->decision == GW_ADM_NONE && r->state == GW_REQ_ADMISSION)
            set_decision(r, GW_ADM_CLIENT_GONE);
    }
    if (r->state == GW_REQ_STREAMING && !r->cut) {
        r->cut = 1; /* the client left mid-body */
        r->cut_reason = GW_CUT_CLIENT_GONE;
    }
    if (req->version >= 0x200 && r->state != GW_REQ_RESPONDED)
        gw_h2guard_count_reset(&ctx->h2guard, req->conn, gw_now_ns());
    r->status = req->res.status != 0 ? req->res.status : 499;
    if (r->decision != GW_ADM_NONE)
        ++m->admission[r->decision];
    if (r->cut)
        ++m->responses_cut[r->cut_reason];
    gw_count_status(m, r->status);
    uint64_t now = gw_now_ns();
    gw_histogram_observe(&m->request_duration, (double)(now - r->arrived_ns) / 1e9);
    gw_accesslog_write(r, r->status, now);

    if (r->proxy.started) {
        uint64_t hold_ms = gw_admission_hold_ms(r->route->admission);
        if (hold_ms != 0 && gw_proxy_can_run_alone(r)) {
            /* the application still works on it: its slots stay taken until it is done */
            r->req = NULL;
            r->state = GW_REQ_HELD;
            r->aborted = 1;
            ++m->aborted_in_flight;
            gw_admit_release_unheld(&r->admit);
            gw_timer_start(&ctx->timer_wheel, &r->hold_timer, hold_ms, on_hold_timer);
            gw_proxy_run_alone(r);
            return;
        }
        gw_proxy_cancel(r, GW_VERDICT_ABANDONED); /* done() runs now (the request is still attached): the slots go back */
    }
    r->req = NULL;
    r->state = GW_REQ_DONE;
    end(r);
}

/* ---- admission's answer ---- */

static void start_upstream(gw_request_t *r)
{
    if (r->websocket) {
        /* counted from now, so that upgrades on their way cannot pass the limit together */
        const cfg_websocket_t *ws = &r->route->cfg->websocket;
        if (r->route->metrics->websocket_connections >= (int64_t)ws->max_connections) {
            gw_admit_release(&r->admit, NULL);
            set_decision(r, GW_ADM_QUEUE_FULL);
            gw_request_respond_error(r, 503, "websocket_limit", "too many WebSocket connections on this route", 1);
            return;
        }
        ++r->route->metrics->websocket_connections;
        r->ws_reserved = 1;
    }
    r->state = GW_REQ_UPSTREAM;
    r->admitted_ns = gw_now_ns();
    if (r->decision == GW_ADM_NONE)
        set_decision(r, GW_ADM_ADMITTED);
    r->in_flight = 1;
    ++r->route->metrics->in_flight;
    static const gw_proxy_calls_t calls = {on_exchange_done, respond_proxy_error};
    gw_proxy_start(r, &calls);
}

static void refused(gw_request_t *r, const gw_admit_result_t *res)
{
    uint64_t retry_s = ceil_seconds(res->retry_after_ns);
    switch (res->outcome) {
    case GW_ADMIT_RATE_LIMITED:
        set_decision(r, GW_ADM_RATE_LIMITED);
        add_ratelimit_headers(r->req, res->rate, res->remaining, retry_s);
        gw_request_respond_error(r, 429, "rate_limited", "rate limit exceeded", retry_s != 0 ? retry_s : 1);
        break;
    case GW_ADMIT_QUEUE_FULL:
        set_decision(r, GW_ADM_QUEUE_FULL);
        gw_request_respond_error(r, 503, "queue_full", "too many requests in progress for this route", 1);
        break;
    case GW_ADMIT_QUEUE_TIMEOUT:
        set_decision(r, GW_ADM_QUEUE_TIMEOUT);
        gw_request_respond_error(r, 503, "queue_timeout", "waited too long for a free slot", 1);
        break;
    case GW_ADMIT_REDIS_DENIED:
        set_decision(r, GW_ADM_REDIS_UNAVAILABLE);
        gw_request_respond_error(r, 503, "redis_unavailable", "global limits cannot be checked: Redis is unavailable", 1);
        break;
    case GW_ADMIT_PASS:
        break;
    }
}

static void on_admitted(gw_admit_t *a, const gw_admit_result_t *res, void *data)
{
    gw_request_t *r = data;
    (void)a;
    if (res->delayed)
        set_decision(r, GW_ADM_DELAYED);
    if (res->outcome == GW_ADMIT_PASS)
        start_upstream(r);
    else
        refused(r, res);
}

/* The route's circuit breaker, before any limit spends anything on the request: 0 when it is
 * open (the request is answered). */
static int breaker_allows(gw_request_t *r)
{
    const cfg_circuit_breaker_t *cfg = &r->route->cfg->circuit_breaker;
    uint64_t now = gw_now_ns(), retry_ns;
    if (cfg->per.num_keys != 0)
        r->breaker_key = gw_key_composite(&r->keys, &cfg->per, cfg->max_key_length);
    int ok = gw_breaker_allow(r->route->breaker, r->breaker_key, now, &r->breaker_ticket, &retry_ns);
    r->route->metrics->circuit_state = gw_breaker_state(r->route->breaker, now);
    if (ok) {
        r->breaker_ticket_out = 1;
        return 1;
    }
    set_decision(r, GW_ADM_CIRCUIT_OPEN);
    uint64_t retry_s = ceil_seconds(retry_ns);
    gw_request_respond_error(r, 503, "circuit_open", "the upstream keeps failing: requests are held back for a while",
                             retry_s != 0 ? retry_s : 1);
    return 0;
}

/* Tells the breaker how the upstream did (or, without an exchange, that it was not asked). */
static void breaker_outcome(gw_request_t *r, const gw_sample_t *sample)
{
    if (!r->breaker_ticket_out)
        return;
    r->breaker_ticket_out = 0;
    uint64_t now = gw_now_ns();
    gw_breaker_t *b = r->route->breaker;
    if (sample == NULL || sample->abandoned)
        gw_breaker_abandon(b, r->breaker_key, now, r->breaker_ticket);
    else
        gw_breaker_record(b, r->breaker_key, now, r->breaker_ticket, sample->dropped);
    r->route->metrics->circuit_state = gw_breaker_state(b, now);
}

static void begin_admission(gw_request_t *r)
{
    gw_admit_result_t res;
    uint64_t deadline = r->arrived_ns + r->route->cfg->timeout_ms * 1000000u;
    uint8_t level = 0;
    const cfg_priority_t *prio = &r->route->cfg->priority;
    if (prio->enabled) {
        gw_keyval_t v = gw_key_value(&r->keys, &prio->from);
        level = (uint8_t)prio->default_level;
        for (size_t i = 0; v.base != NULL && i != prio->num_levels; ++i)
            if (strlen(prio->levels[i]) == v.len && memcmp(prio->levels[i], v.base, v.len) == 0)
                level = (uint8_t)i;
    }
    r->state = GW_REQ_ADMISSION;
    if (r->route->breaker != NULL && !breaker_allows(r))
        return;
    int ret = gw_admit_begin(&r->admit, r->route->admission, &r->keys, level, deadline, r->route->metrics, on_admitted, r, &res);
    if (ret == 0)
        return;
    on_admitted(&r->admit, &res, r);
}

/* ---- the deadline ---- */

static void on_deadline(h2o_timeout_entry_t *entry)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, deadline, entry);
    if (r->state == GW_REQ_ADMISSION || r->state == GW_REQ_READING_BODY) {
        gw_admit_release(&r->admit, NULL);
    } else if (r->state == GW_REQ_UPSTREAM) {
        /* the app took too long (connecting or answering), told apart from waits; not while
         * the request is still being sent, where the client's body may be what is late */
        if (!gw_proxy_is_sending(r))
            ++metrics_of(r)->upstream_deadlines;
        /* the exchange runs on when the route holds aborted work (decided when the request
         * ends, just after this answer); else it ends now and its slots go back */
        if (gw_admission_hold_ms(r->route->admission) == 0)
            gw_proxy_cancel(r, GW_VERDICT_FAILED); /* too slow for the route */
        else
            gw_admit_release_unheld(&r->admit);
    }
    /* admitted or not, the client gets no answer from the app: the request counts as a timeout
     * only, so that `admitted` counts those that did not time out (COOKBOOK 6) */
    set_decision(r, GW_ADM_TIMEOUT);
    r->req->http1_is_persistent = 0;
    gw_request_respond_error(r, 504, "timeout", "the request did not complete within the route's timeout", 0);
}

void gw_request_shed_waiting(gw_ctx_t *ctx)
{
    for (h2o_linklist_t *node = ctx->live_list.next, *next; node != &ctx->live_list; node = next) {
        next = node->next;
        gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, live_link, node);
        if (r->state != GW_REQ_ADMISSION || r->req == NULL)
            continue;
        gw_admit_release(&r->admit, NULL);
        set_decision(r, GW_ADM_QUEUE_TIMEOUT);
        r->req->http1_is_persistent = 0;
        gw_request_respond_error(r, 503, "queue_timeout", "the gateway is shutting down", 1);
    }
}

/* ---- entry ---- */

h2o_iovec_t gw_request_header(h2o_req_t *req, const char *name, size_t name_len, int *lines)
{
    ssize_t first = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    if (lines != NULL)
        *lines = 0;
    if (first < 0)
        return h2o_iovec_init(NULL, 0);
    ssize_t next = h2o_find_header_by_str(&req->headers, name, name_len, first);
    if (next < 0) {
        if (lines != NULL)
            *lines = 1;
        return req->headers.entries[first].value;
    }
    size_t len = 0;
    int n = 0;
    for (ssize_t i = first; i >= 0; i = h2o_find_header_by_str(&req->headers, name, name_len, i)) {
        len += req->headers.entries[i].value.len + 2;
        ++n;
    }
    if (lines != NULL)
        *lines = n;
    /* Cookie lines (HTTP/2 clients may split the field) are joined as the upstream gets them */
    char sep = name_len == 6 && memcmp(name, "cookie", 6) == 0 ? ';' : ',';
    char *buf = h2o_mem_alloc_pool(&req->pool, len), *p = buf;
    for (ssize_t i = first; i >= 0; i = h2o_find_header_by_str(&req->headers, name, name_len, i)) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (v->len == 0)
            continue;
        if (p != buf) {
            *p++ = sep;
            *p++ = ' ';
        }
        memcpy(p, v->base, v->len);
        p += v->len;
    }
    return h2o_iovec_init(buf, (size_t)(p - buf));
}

static gw_keyval_t key_header(void *data, const char *name, size_t name_len, int *lines)
{
    gw_request_t *r = data;
    h2o_iovec_t v = gw_request_header(r->req, name, name_len, lines);
    return (gw_keyval_t){v.base, v.len};
}

static void *key_alloc(void *data, size_t size)
{
    return gw_arena_alloc(&((gw_request_t *)data)->arena, size);
}

static const char *find_header_value(void *data, const char *name, size_t name_len, size_t *value_len)
{
    h2o_req_t *req = data;
    ssize_t i = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    if (i < 0)
        return NULL;
    *value_len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

static void set_client_ip(gw_request_t *r)
{
    struct sockaddr_storage ss;
    socklen_t len = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    gw_sockaddr_text((struct sockaddr *)&ss, len, r->client_ip);
}

static void set_request_id(gw_request_t *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && gw_request_id_is_valid(req->headers.entries[i].value.base, req->headers.entries[i].value.len)) {
        r->request_id = req->headers.entries[i].value;
        return;
    }
    gw_request_id_format(r->request_id_buf, gw_rng_next(&r->ctx->rng), gw_rng_next(&r->ctx->rng));
    r->request_id = h2o_iovec_init(r->request_id_buf, sizeof(r->request_id_buf));
}

/* What HTTP/1 gets from gw_h1parse, checked here for every protocol (HTTP/2 brings any bytes in
 * its pseudo-headers and fields): a token method, an origin-form target whose decoded path holds
 * no control byte, a valid authority, clean fields. Sets r->route_path and r->host. */
static int check_request(gw_request_t *r, const char **why, gw_target_t *target)
{
    h2o_req_t *req = r->req;
    for (size_t i = 0; i != req->method.len; ++i) {
        if (!gw_h1_is_tchar((unsigned char)req->method.base[i])) {
            *why = "invalid method";
            return -1;
        }
    }
    if (req->method.len == 0 || (req->method.len == 7 && memcmp(req->method.base, "CONNECT", 7) == 0)) {
        *why = req->method.len == 0 ? "invalid method" : "CONNECT is not supported";
        return -1;
    }
    if (gw_target_split(req->path.base, req->path.len, target, why) != 0)
        return -1;
    if (target->authority != NULL) {
        *why = "the :path must be a path";
        return -1;
    }
    char *path = h2o_mem_alloc_pool(&req->pool, target->path_len + 1);
    ssize_t path_len = gw_path_normalize(target->path, target->path_len, path, why);
    if (path_len < 0)
        return -1;
    r->route_path = h2o_iovec_init(path, (size_t)path_len);
    if (req->input.authority.base != NULL) {
        if (!gw_host_is_valid(req->input.authority.base, req->input.authority.len)) {
            *why = "invalid host";
            return -1;
        }
        r->host = req->input.authority;
    }
    if (req->version >= 0x200) {
        for (size_t i = 0; i != req->headers.size; ++i) {
            const h2o_header_t *h = &req->headers.entries[i];
            if (!gw_field_value_is_valid(h->value.base, h->value.len)) {
                *why = "control character in a header value";
                return -1;
            }
        }
    }
    return 0;
}

/* An HTTP/1.1 request that asks for a WebSocket, without a body. Another Upgrade (h2c, ...) is not
 * passed on: the request goes upstream as a plain one. */
static int wants_websocket(gw_request_t *r)
{
    int chunked;
    uint64_t length;
    h2o_req_t *req = r->req;
    return r->client != NULL && req->upgrade.base != NULL && gw_ws_is_websocket(req->upgrade.base, req->upgrade.len) &&
           !r->client->framing(req, &chunked, &length);
}

/* The route's limit on the body, checked before admission when the length is known. */
static int body_too_large(gw_request_t *r)
{
    int chunked;
    uint64_t length;
    if (r->client == NULL)
        return r->req->entity.len > r->route->cfg->max_body;
    return r->client->framing(r->req, &chunked, &length) && !chunked && length > r->route->cfg->max_body;
}

/* ---- the body, before admission, for json: keys ---- */

/* The most of a body read before admission for json: keys: a larger one gives them nothing (the
 * shared `_missing` key), and streams after admission like any other. */
#define KEY_BODY_MAX 65536

static void on_key_body_piece(void *data, h2o_iovec_t piece, int is_final, gw_body_error_t err)
{
    gw_request_t *r = data;
    if (r->state != GW_REQ_READING_BODY)
        return; /* answered meanwhile (deadline) */
    if (err != GW_BODY_OK) {
        r->req->http1_is_persistent = 0;
        if (err == GW_BODY_TIMEOUT)
            gw_request_respond_error(r, 408, "body_timeout", "the request body stalled for longer than client.body_timeout", 0);
        else
            gw_request_respond_error(r, 400, "bad_request", "malformed chunked request body", 0);
        return;
    }
    memcpy(r->prefetch.base + r->prefetch.len, piece.base, piece.len); /* a piece is at most KEY_BODY_MAX */
    r->prefetch.len += piece.len;
    if (r->prefetch.len > r->route->cfg->max_body) {
        r->req->http1_is_persistent = 0;
        gw_request_respond_error(r, 413, "body_too_large", "the request body is larger than the route's max_body", 0);
        return;
    }
    if (!is_final && r->prefetch.len < KEY_BODY_MAX) {
        r->client->read_body(r->req, on_key_body_piece, r);
        return;
    }
    r->prefetched = 1;
    r->prefetch_final = is_final;
    r->body_bytes = r->prefetch.len;
    if (is_final) {
        r->keys.body = r->prefetch.base;
        r->keys.body_len = r->prefetch.len;
    }
    begin_admission(r);
}

/* A route whose limits key on the body (json:) reads a small body before admission (HTTP/2
 * bodies are read whole by h2o already). 1 when reading started. */
static int start_reading_body_for_keys(gw_request_t *r)
{
    int chunked;
    uint64_t length;
    if (!r->route->keys_read_body || r->client == NULL || !r->client->framing(r->req, &chunked, &length) ||
        (!chunked && length > KEY_BODY_MAX))
        return 0;
    r->state = GW_REQ_READING_BODY;
    /* a chunked body may pass the bound by one piece (at most KEY_BODY_MAX) before it is seen */
    r->prefetch = h2o_iovec_init(gw_arena_alloc(&r->arena, chunked ? 2 * KEY_BODY_MAX : (size_t)length), 0);
    r->client->read_body(r->req, on_key_body_piece, r);
    return 1;
}

static void init_keys(gw_request_t *r, const gw_target_t *target)
{
    h2o_req_t *req = r->req;
    r->keys = (gw_keysrc_t){.client_ip = r->client_key_ip,
                            .path = r->route_path.base,
                            .path_len = r->route_path.len,
                            .query = target->query,
                            .query_len = target->query_len,
                            .body = req->entity.base,
                            .body_len = req->entity.len,
                            .header = key_header,
                            .alloc = key_alloc,
                            .data = r};
}

static void handle_request(gw_request_t *r)
{
    gw_ctx_t *ctx = r->ctx;
    h2o_req_t *req = r->req;
    const cfg_config_t *config = r->gen->config;
    const char *why;
    gw_target_t target;
    if (check_request(r, &why, &target) != 0) {
        req->http1_is_persistent = 0;
        gw_request_respond_error(r, 400, "bad_request", why, 0);
        return;
    }
    gw_route_input_t in = {req->method.base, req->method.len, r->route_path.base, r->route_path.len,
                           r->host.base,     r->host.len,     find_header_value,  req};
    long idx = gw_route_match(config, &in);
    if (idx < 0) {
        gw_request_respond_error(r, 404, "no_route", "no route matches this request", 0);
        return;
    }
    r->route = &r->gen->routes[idx];
    if (wants_websocket(r)) {
        if (!r->route->cfg->websocket.allow) {
            req->http1_is_persistent = 0;
            gw_request_respond_error(r, 501, "websocket_not_allowed", "this route does not tunnel WebSockets", 0);
            return;
        }
        r->websocket = 1;
    }
    if (body_too_large(r)) {
        req->http1_is_persistent = 0;
        gw_request_respond_error(r, 413, "body_too_large", "the request body is larger than the route's max_body", 0);
        return;
    }
    init_keys(r, &target);
    r->deadline.cb = on_deadline;
    h2o_timeout_link(ctx->loop, &r->route->deadline, &r->deadline);
    if (start_reading_body_for_keys(r))
        return;
    begin_admission(r);
}

static void on_deferred_start(h2o_timeout_entry_t *entry)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, deferred_start, entry);
    if (gw_h2guard_conn_is_closing(r->req->conn))
        return; /* the connection is going: its streams are disposed once its GOAWAY is written */
    handle_request(r);
}

int gw_request_on_req(gw_ctx_t *ctx, h2o_req_t *req, const gw_client_conn_t *client)
{
    gw_request_t *r = malloc(sizeof(*r));
    if (r == NULL)
        h2o_fatal("no memory");
    /* all but the arena's inline bytes, which nobody reads before writing */
    size_t after = offsetof(gw_request_t, arena) + sizeof(r->arena);
    memset(r, 0, offsetof(gw_request_t, arena));
    memset((char *)r + after, 0, sizeof(*r) - after);
    gw_arena_init(&r->arena);
    r->req = req;
    r->ctx = ctx;
    r->client = client;
    r->decision = GW_ADM_NONE;
    r->arrived_ns = gw_now_ns();
    r->gen = ctx->gen;
    ++r->gen->refs;
    ++ctx->live_requests;
    h2o_linklist_insert(&ctx->live_list, &r->live_link);
    gw_request_t **handle = h2o_mem_alloc_shared(&req->pool, sizeof(*handle), on_req_dispose);
    *handle = r;

    set_client_ip(r);
    set_request_id(r);
    r->xff = gw_request_header(req, H2O_STRLIT("x-forwarded-for"), NULL);
    const cfg_config_t *config = r->gen->config;
    r->peer_trusted = gw_ip_in_cidrs(r->client_ip, config->client.trusted_proxies, config->client.num_trusted_proxies);
    gw_client_ip(r->client_ip, r->xff.base, r->xff.len, config->client.trusted_proxies, config->client.num_trusted_proxies,
                 r->client_key_ip, sizeof(r->client_key_ip));

    if (req->version >= 0x200) {
        /* One turn of the loop later: a RST_STREAM read with the HEADERS disposes the request
         * before anything starts, and a connection error read with them (GOAWAY) leaves no answer
         * half-sent: libh2o sends no DATA once its connection is closing. */
        r->deferred_start.cb = on_deferred_start;
        h2o_timeout_link(ctx->loop, &ctx->h2o.zero_timeout, &r->deferred_start);
        return 0;
    }
    handle_request(r);
    return 0;
}
