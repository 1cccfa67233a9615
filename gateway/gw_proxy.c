#include "gw_request.h"
#include <assert.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "gw_accesslog.h"
#include "gw_admission.h"
#include "gw_clientip.h"
#include "gw_h1conn.h"
#include "gw_h2guard.h"
#include "gw_http.h"
#include "gw_jsonerr.h"
#include "gw_path.h"
#include "gw_reqhead.h"
#include "gw_route.h"
#include "gw_server.h"

void gw_request_set_decision(gw_request_t *r, gw_admission_decision_t decision)
{
    r->decision = decision;
    r->has_decision = 1;
}

static gw_route_metrics_t *metrics_of(gw_request_t *r)
{
    return r->route != NULL ? r->route->metrics : &r->ctx->no_route_metrics;
}

/* Every answer, sluice's own or the upstream's, carries the request id. */
static void add_request_id_header(gw_request_t *r)
{
    h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id.base,
                          r->request_id.len);
}

static void stop_timers(gw_request_t *r)
{
    if (h2o_timeout_is_linked(&r->deadline))
        h2o_timeout_unlink(&r->deadline);
    if (h2o_timeout_is_linked(&r->flush_head))
        h2o_timeout_unlink(&r->flush_head);
    if (h2o_timeout_is_linked(&r->deferred_start))
        h2o_timeout_unlink(&r->deferred_start);
}

void gw_proxy_respond_error(gw_request_t *r, int status, const char *code, const char *message, uint64_t retry_after_s)
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

/* ---- the client side of the response ---- */

static void send_piece(gw_request_t *r, h2o_iovec_t piece, h2o_send_state_t state)
{
    if (h2o_timeout_is_linked(&r->flush_head))
        h2o_timeout_unlink(&r->flush_head);
    r->head_flushed = 1;
    r->h2o_busy = state == H2O_SEND_STATE_IN_PROGRESS;
    h2o_send(r->req, piece.len != 0 ? &piece : NULL, piece.len != 0 ? 1 : 0, state);
}

static void on_generator_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, generator, generator);
    r->h2o_busy = 0;
    if (r->piece_in_h2o) {
        /* h2o is done with the bytes of the upstream buffer: the exchange may read on (and may
         * call on_body again from inside this call) */
        r->piece_in_h2o = 0;
        gw_exchange_proceed(&r->exchange);
    } else if (r->piece_pending) {
        r->piece_pending = 0;
        r->piece_in_h2o = 1;
        send_piece(r, r->pending_piece, H2O_SEND_STATE_IN_PROGRESS);
    } else if (r->final_pending) {
        r->final_pending = 0;
        send_piece(r, r->pending_piece, H2O_SEND_STATE_FINAL);
    } else if (r->error_pending) {
        r->error_pending = 0;
        send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_ERROR);
    }
}

/* h2o gives up on the response (the client went away mid-body): stop reading the upstream. */
static void on_generator_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, generator, generator);
    gw_exchange_cancel(&r->exchange);
}

/* The response head waited for body bytes that did not come at once: send it alone. */
static void on_flush_head(h2o_timeout_entry_t *entry)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, flush_head, entry);
    if (!r->head_flushed && !r->h2o_busy)
        send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_IN_PROGRESS);
}

static int is_dropped_response_header(const char *name, size_t len)
{
    return gw_header_is_hop_by_hop(name, len) || (len == 14 && memcmp(name, "content-length", 14) == 0) ||
           (len == 4 && memcmp(name, "date", 4) == 0) || (len == 6 && memcmp(name, "server", 6) == 0);
}

static int on_upstream_head(gw_exchange_t *ex, int status, const gw_h1_header_t *headers, size_t num_headers, int has_body,
                            size_t content_length)
{
    gw_request_t *r = ex->data;
    h2o_req_t *req = r->req;

    r->upstream_head_ns = gw_now_ns();
    gw_histogram_observe(&r->route->metrics->upstream_duration, (double)(r->upstream_head_ns - r->upstream_started_ns) / 1e9);
    stop_timers(r);

    /* TODO(lead): errors.scrub_tracebacks (4xx/5xx bodies showing a stack trace) and
     * upstreams.response_buffer (bytes buffered per stream before reading the upstream pauses) */
    if (status >= 500 && r->route->cfg->errors.hide_upstream_5xx) {
        gw_proxy_respond_error(r, status, "upstream_error", "the upstream failed to handle the request", 0);
        return -1;
    }

    const gw_h1_header_t *conn = NULL;
    for (size_t i = 0; i != num_headers; ++i)
        if (headers[i].name_len == 10 && memcmp(headers[i].name, "connection", 10) == 0)
            conn = &headers[i];
    req->res.status = status;
    req->res.reason = gw_status_reason(status);
    /* a HEAD response keeps the length of the body it stands for; 1xx and 204 have none */
    req->res.content_length = status < 200 || status == 204 ? SIZE_MAX : content_length;
    for (size_t i = 0; i != num_headers; ++i) {
        const char *name = headers[i].name;
        size_t len = headers[i].name_len;
        if (is_dropped_response_header(name, len) || (conn != NULL && gw_connection_lists(conn->value, conn->value_len, name, len)))
            continue;
        h2o_iovec_t value = h2o_strdup(&req->pool, headers[i].value, headers[i].value_len);
        const h2o_token_t *token = h2o_lookup_token(name, len);
        if (token != NULL) {
            h2o_add_header(&req->pool, &req->res.headers, token, NULL, value.base, value.len);
        } else {
            h2o_iovec_t n = h2o_strdup(&req->pool, name, len);
            h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, value.base, value.len);
        }
    }
    add_request_id_header(r);

    r->state = GW_REQ_STREAMING;
    r->generator = (h2o_generator_t){on_generator_proceed, on_generator_stop};
    h2o_start_response(req, &r->generator);
    if (!has_body) {
        r->state = GW_REQ_RESPONDED;
        send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_FINAL);
    } else {
        r->flush_head.cb = on_flush_head;
        h2o_timeout_link(r->ctx->loop, &r->ctx->h2o.zero_timeout, &r->flush_head);
    }
    return 0;
}

static void on_upstream_body(gw_exchange_t *ex, h2o_iovec_t data, int is_final)
{
    gw_request_t *r = ex->data;

    if (is_final) {
        /* copy the last piece so the upstream socket goes back to the pool right now */
        h2o_iovec_t last = data.len != 0 ? h2o_strdup(&r->req->pool, data.base, data.len) : h2o_iovec_init(NULL, 0);
        gw_exchange_proceed(ex);
        r->state = GW_REQ_RESPONDED;
        if (r->h2o_busy) {
            r->pending_piece = last;
            r->final_pending = 1;
        } else {
            send_piece(r, last, H2O_SEND_STATE_FINAL);
        }
        return;
    }
    if (r->h2o_busy) {
        r->pending_piece = data;
        r->piece_pending = 1;
        return;
    }
    r->piece_in_h2o = 1;
    send_piece(r, data, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_upstream_error(gw_exchange_t *ex, gw_upstream_error_t kind, int before_head)
{
    gw_request_t *r = ex->data;
    ++r->route->metrics->upstream_errors[kind];
    if (!before_head) {
        r->cut = 1;
        r->cut_reason = kind == GW_UPERR_READ_TIMEOUT   ? GW_CUT_READ_TIMEOUT
                        : kind == GW_UPERR_BAD_RESPONSE ? GW_CUT_BAD_RESPONSE
                                                        : GW_CUT_RESET;
        /* mid-body: all h2o can do is cut the client connection (HTTP/1) or reset the stream */
        r->state = GW_REQ_RESPONDED;
        if (r->h2o_busy)
            r->error_pending = 1;
        else
            send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_ERROR);
        return;
    }
    switch (kind) {
    case GW_UPERR_CONNECT:
    case GW_UPERR_CONNECT_TIMEOUT:
        gw_proxy_respond_error(r, 502, "upstream_unavailable", "the upstream could not be reached", 0);
        break;
    case GW_UPERR_READ_TIMEOUT:
        gw_proxy_respond_error(r, 504, "timeout", "the upstream did not answer in time", 0);
        break;
    default:
        gw_proxy_respond_error(r, 502, "upstream_error", "the upstream closed the connection or sent an invalid response", 0);
        break;
    }
}

/* ---- the request body, streamed from an HTTP/1 client ---- */

static uint64_t max_body_of(gw_request_t *r)
{
    return r->route->cfg->max_body;
}

static void on_client_body(void *data, h2o_iovec_t piece, int is_final, const char *err)
{
    gw_request_t *r = data;
    if (r->state != GW_REQ_UPSTREAM)
        return; /* answered meanwhile (deadline): the exchange is gone */
    r->body_bytes += piece.len;
    if (err == NULL && r->body_bytes > max_body_of(r))
        err = "too_large";
    if (err != NULL) {
        gw_exchange_cancel(&r->exchange);
        gw_admission_release(r);
        r->req->http1_is_persistent = 0;
        if (err == gw_h1_err_body_timeout)
            gw_proxy_respond_error(r, 408, "body_timeout", "the request body stalled for longer than client.body_timeout", 0);
        else if (err == gw_h1_err_body_malformed)
            gw_proxy_respond_error(r, 400, "bad_request", "malformed chunked request body", 0);
        else
            gw_proxy_respond_error(r, 413, "body_too_large", "the request body is larger than the route's max_body", 0);
        return;
    }
    gw_exchange_send_body(&r->exchange, piece, is_final);
}

static void on_body_wanted(gw_exchange_t *ex)
{
    gw_request_t *r = ex->data;
    gw_h1_read_body(r->req, on_client_body, r);
}

static const gw_exchange_callbacks_t exchange_callbacks = {on_upstream_head, on_upstream_body, on_upstream_error, on_body_wanted};

/* ---- the request sent upstream ---- */

static int method_is(h2o_req_t *req, const char *m, size_t len)
{
    return req->method.len == len && memcmp(req->method.base, m, len) == 0;
}

static int is_idempotent(h2o_req_t *req)
{
    return method_is(req, H2O_STRLIT("GET")) || method_is(req, H2O_STRLIT("HEAD")) || method_is(req, H2O_STRLIT("PUT")) ||
           method_is(req, H2O_STRLIT("DELETE")) || method_is(req, H2O_STRLIT("OPTIONS"));
}

/* The client's fields as gw_reqhead takes them (in the request's pool). */
static gw_field_t *client_fields(h2o_req_t *req)
{
    gw_field_t *f = h2o_mem_alloc_pool(&req->pool, sizeof(*f) * (req->headers.size + 1));
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        f[i] = (gw_field_t){h->name->base, h->name->len, h->value.base, h->value.len};
    }
    return f;
}

/* The head to send upstream and how the body follows; -1 (and *why) when the request cannot be
 * forwarded as it is. */
static int build_upstream_head(gw_request_t *r, uint64_t budget_ms, h2o_iovec_t *head, gw_exbody_t *body_mode, const char **why)
{
    h2o_req_t *req = r->req;
    gw_reqhead_in_t in = {.method = req->method.base,
                          .method_len = req->method.len,
                          .target = req->path.base,
                          .target_len = req->path.len,
                          .fields = client_fields(req),
                          .num_fields = req->headers.size,
                          .trusted_peer = r->peer_trusted,
                          .peer_ip = r->client_ip,
                          .proto = "http",
                          .request_id = r->request_id.base,
                          .request_id_len = r->request_id.len,
                          .budget_ms = budget_ms};
    if (r->host.base != NULL) {
        in.host = r->host.base;
        in.host_len = r->host.len;
    } else {
        /* an HTTP/1.0 client that sent no Host: the upstream still needs one */
        const cfg_address_t *a = &r->route->upstream->cfg->address;
        in.host = a->kind == CFG_ADDR_TCP ? a->text : "localhost";
        in.host_len = strlen(in.host);
    }
    const cfg_route_t *route = r->route->cfg;
    if (route->num_set_headers != 0 || route->num_remove_headers != 0) {
        gw_template_vars_t vars = {r->client_key_ip, r->request_id.base, r->request_id.len, route->name, r->host.base, r->host.len};
        gw_field_t *set = h2o_mem_alloc_pool(&req->pool, sizeof(*set) * (route->num_set_headers + 1));
        for (size_t i = 0; i != route->num_set_headers; ++i) {
            const cfg_header_t *h = &route->set_headers[i];
            char *value = h2o_mem_alloc_pool(&req->pool, gw_template_size(h->value, &vars) + 1);
            set[i] = (gw_field_t){h->name, strlen(h->name), value, gw_template_fill(h->value, &vars, value)};
        }
        gw_field_t *remove = h2o_mem_alloc_pool(&req->pool, sizeof(*remove) * (route->num_remove_headers + 1));
        for (size_t i = 0; i != route->num_remove_headers; ++i)
            remove[i] = (gw_field_t){route->remove_headers[i], strlen(route->remove_headers[i]), NULL, 0};
        in.set = set;
        in.num_set = route->num_set_headers;
        in.remove = remove;
        in.num_remove = route->num_remove_headers;
    }
    int chunked;
    uint64_t length;
    *body_mode = GW_EXBODY_NONE;
    switch (gw_h1_request_body(req, &chunked, &length)) {
    case 1:
        in.body = chunked ? GW_REQBODY_CHUNKED : GW_REQBODY_LENGTH;
        in.content_length = length;
        *body_mode = chunked ? GW_EXBODY_STREAM_CHUNKED : GW_EXBODY_STREAM_LENGTH;
        break;
    case 0:
        break;
    default: /* HTTP/2: h2o has read the body whole */
        if (req->entity.base != NULL) {
            in.body = GW_REQBODY_LENGTH;
            in.content_length = req->entity.len;
            *body_mode = GW_EXBODY_WHOLE;
        }
        break;
    }
    char *buf = h2o_mem_alloc_pool(&req->pool, gw_reqhead_size(&in));
    ssize_t len = gw_reqhead_write(&in, buf, why);
    if (len < 0)
        return -1;
    *head = h2o_iovec_init(buf, (size_t)len);
    return 0;
}

void gw_proxy_start_upstream(gw_request_t *r)
{
    h2o_req_t *req = r->req;
    uint64_t now = gw_now_ns();
    uint64_t budget_ms = r->route->cfg->timeout_ms;
    uint64_t spent_ms = (now - r->arrived_ns) / 1000000;
    uint64_t left_ms = spent_ms < budget_ms ? budget_ms - spent_ms : 1;

    r->state = GW_REQ_UPSTREAM;
    r->upstream_started_ns = now;
    if (r->admitted_ns == 0)
        r->admitted_ns = now;
    if (!r->has_decision)
        gw_request_set_decision(r, GW_ADM_ADMITTED);
    ++r->route->metrics->in_flight;
    r->in_flight_counted = 1;
    h2o_iovec_t head;
    gw_exbody_t body_mode;
    const char *why;
    if (build_upstream_head(r, left_ms, &head, &body_mode, &why) != 0) {
        gw_admission_release(r);
        gw_proxy_respond_error(r, 400, "bad_request", why, 0);
        return;
    }
    gw_exchange_start(&r->exchange, r->route->upstream, head, body_mode, req->entity, method_is(req, H2O_STRLIT("HEAD")),
                      is_idempotent(req), 0, &exchange_callbacks, r);
}

/* ---- deadline and hang-up detection ---- */

static void abandon(gw_request_t *r)
{
    gw_exchange_cancel(&r->exchange);
    gw_admission_release(r);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, deadline, entry);
    if (r->state == GW_REQ_ADMISSION)
        gw_request_set_decision(r, GW_ADM_TIMEOUT);
    abandon(r);
    gw_proxy_respond_error(r, 504, "timeout", "the request did not complete within the route's timeout", 0);
}

void gw_proxy_shed_waiting(gw_ctx_t *ctx)
{
    for (h2o_linklist_t *node = ctx->live_list.next, *next; node != &ctx->live_list; node = next) {
        next = node->next;
        gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, live_link, node);
        if (r->state != GW_REQ_ADMISSION)
            continue;
        gw_admission_release(r);
        gw_request_set_decision(r, GW_ADM_QUEUE_TIMEOUT);
        r->req->http1_is_persistent = 0;
        gw_proxy_respond_error(r, 503, "queue_timeout", "the gateway is shutting down", 1);
    }
}

/* ---- entry and exit ---- */

static void on_request_dispose(void *data)
{
    gw_request_t *r = data;
    h2o_req_t *req = r->req;

    stop_timers(r);
    --r->ctx->live_requests;
    h2o_linklist_unlink(&r->live_link);
    if (r->state == GW_REQ_ADMISSION && !r->has_decision)
        gw_request_set_decision(r, GW_ADM_CLIENT_GONE);
    abandon(r);
    int status = req->res.status != 0 ? req->res.status : 499;
    if (r->state == GW_REQ_STREAMING && !r->cut) {
        r->cut = 1; /* the client left mid-body */
        r->cut_reason = GW_CUT_CLIENT_GONE;
    }
    if (req->version >= 0x200 && r->state != GW_REQ_RESPONDED)
        gw_h2guard_count_reset(&r->ctx->h2guard, req->conn, gw_now_ns());
    gw_route_metrics_t *m = metrics_of(r);
    if (r->in_flight_counted)
        --m->in_flight;
    if (r->has_decision)
        ++m->admission[r->decision];
    if (r->cut)
        ++m->responses_cut[r->cut_reason];
    gw_count_status(m, status);
    gw_accesslog_write(r, status);
    gw_generation_release(r->ctx, r->gen);
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
    uint64_t hi = gw_random(r->ctx), lo = gw_random(r->ctx);
    gw_request_id_format(r->request_id_buf, hi, lo);
    r->request_id = h2o_iovec_init(r->request_id_buf, sizeof(r->request_id_buf));
}

static void on_deferred_start(h2o_timeout_entry_t *entry)
{
    gw_admission_begin(H2O_STRUCT_FROM_MEMBER(gw_request_t, deferred_start, entry));
}

h2o_iovec_t gw_request_header(h2o_req_t *req, const char *name, size_t name_len)
{
    ssize_t first = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    if (first < 0)
        return h2o_iovec_init(NULL, 0);
    ssize_t next = h2o_find_header_by_str(&req->headers, name, name_len, first);
    if (next < 0)
        return req->headers.entries[first].value;
    size_t len = 0;
    for (ssize_t i = first; i >= 0; i = h2o_find_header_by_str(&req->headers, name, name_len, i))
        len += req->headers.entries[i].value.len + 2;
    char *buf = h2o_mem_alloc_pool(&req->pool, len), *p = buf;
    for (ssize_t i = first; i >= 0; i = h2o_find_header_by_str(&req->headers, name, name_len, i)) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (v->len == 0)
            continue;
        if (p != buf) {
            *p++ = ',';
            *p++ = ' ';
        }
        memcpy(p, v->base, v->len);
        p += v->len;
    }
    return h2o_iovec_init(buf, (size_t)(p - buf));
}

/* What HTTP/1 gets from gw_h1parse, checked here for every protocol (HTTP/2 brings any bytes in
 * its pseudo-headers and fields): a token method, an origin-form target whose decoded path holds
 * no control byte, a valid authority, clean fields. Sets r->route_path and r->host. */
static int check_request(gw_request_t *r, const char **why)
{
    h2o_req_t *req = r->req;
    gw_target_t target;
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
    if (gw_target_split(req->path.base, req->path.len, &target, why) != 0)
        return -1;
    if (target.authority != NULL) {
        *why = "the :path must be a path";
        return -1;
    }
    char *path = h2o_mem_alloc_pool(&req->pool, target.path_len + 1);
    ssize_t path_len = gw_path_normalize(target.path, target.path_len, path, why);
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

/* The route's limit on the body, checked before admission when the length is known. */
static int body_too_large(gw_request_t *r)
{
    int chunked;
    uint64_t length;
    switch (gw_h1_request_body(r->req, &chunked, &length)) {
    case 1:
        return !chunked && length > max_body_of(r);
    case 0:
        return 0;
    default:
        return r->req->entity.len > max_body_of(r);
    }
}

int gw_proxy_on_req(gw_ctx_t *ctx, h2o_req_t *req)
{
    gw_request_t *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_request_dispose);
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->ctx = ctx;
    r->arrived_ns = gw_now_ns();
    r->gen = ctx->gen;
    ++r->gen->refs;
    ++ctx->live_requests;
    h2o_linklist_insert(&ctx->live_list, &r->live_link);
    set_client_ip(r);
    set_request_id(r);
    r->xff = gw_request_header(req, H2O_STRLIT("x-forwarded-for"));
    const cfg_config_t *config = r->gen->config;
    r->peer_trusted = gw_ip_in_cidrs(r->client_ip, config->client.trusted_proxies, config->client.num_trusted_proxies);
    gw_client_ip(r->client_ip, r->xff.base, r->xff.len, config->client.trusted_proxies, config->client.num_trusted_proxies,
                 r->client_key_ip, sizeof(r->client_key_ip));

    const char *why;
    if (check_request(r, &why) != 0) {
        req->http1_is_persistent = 0;
        gw_proxy_respond_error(r, 400, "bad_request", why, 0);
        return 0;
    }
    gw_route_input_t in = {req->method.base, req->method.len, r->route_path.base, r->route_path.len,
                           r->host.base,     r->host.len,     find_header_value,  req};
    long idx = gw_route_match(config, &in);
    if (idx < 0) {
        gw_proxy_respond_error(r, 404, "no_route", "no route matches this request", 0);
        return 0;
    }
    r->route = &r->gen->routes[idx];
    if (body_too_large(r)) {
        req->http1_is_persistent = 0;
        gw_proxy_respond_error(r, 413, "body_too_large", "the request body is larger than the route's max_body", 0);
        return 0;
    }
    r->state = GW_REQ_ADMISSION;
    r->deadline.cb = on_deadline;
    h2o_timeout_link(ctx->loop, &r->route->deadline, &r->deadline);
    if (req->version >= 0x200) {
        /* a RST_STREAM read with the HEADERS disposes the request before anything starts */
        r->deferred_start.cb = on_deferred_start;
        h2o_timeout_link(ctx->loop, &ctx->h2o.zero_timeout, &r->deferred_start);
        return 0;
    }
    gw_admission_begin(r);
    return 0;
}
