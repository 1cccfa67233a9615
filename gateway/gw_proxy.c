/*
 * Invariants:
 * - done() is owed from gw_proxy_start on and called exactly once: when the exchange delivers its
 *   final piece and it is proceeded, fails, is aborted by on_head, or is cancelled.
 * - h2o holds at most one piece of the response (h2o_busy); what the exchange delivers meanwhile
 *   waits in `pending` (one piece: the exchange delivers no more before it is proceeded).
 */
#include "gw_proxy.h"

#include <string.h>
#include "gw_http.h"
#include "gw_jsonerr.h"
#include "gw_reqhead.h"
#include "gw_scrub.h"
#include "gw_request.h"
#include "gw_websocket.h"

static gw_proxy_t *proxy_of(gw_exchange_t *ex)
{
    return H2O_STRUCT_FROM_MEMBER(gw_proxy_t, exchange, ex);
}

static gw_request_t *request_of(gw_proxy_t *p)
{
    return H2O_STRUCT_FROM_MEMBER(gw_request_t, proxy, p);
}

/* The exchange is over, however it ended. done() may end the request (free it) when its client
 * is gone: so finish is called last, or from the loop (later()). */
static void finish(gw_request_t *r, gw_verdict_t verdict)
{
    gw_proxy_t *p = &r->proxy;
    if (!p->started)
        return;
    p->started = 0;
    if (h2o_timeout_is_linked(&p->flush_head))
        h2o_timeout_unlink(&p->flush_head);
    if (h2o_timeout_is_linked(&p->later))
        h2o_timeout_unlink(&p->later);
    uint64_t end = p->head_ns != 0 ? p->head_ns : gw_now_ns();
    if (verdict == GW_VERDICT_OK && p->upstream_status >= 500)
        verdict = GW_VERDICT_FAILED;
    gw_sample_t sample = {end - p->started_ns, verdict == GW_VERDICT_FAILED, verdict == GW_VERDICT_ABANDONED};
    p->calls->done(r, &sample);
}

static void on_later(h2o_timeout_entry_t *entry);

/* Runs on_later from the loop: what cannot be done inside a callback of the exchange. */
static void later(gw_proxy_t *p)
{
    p->later.cb = on_later;
    if (!h2o_timeout_is_linked(&p->later))
        h2o_timeout_link(request_of(p)->ctx->loop, &request_of(p)->ctx->h2o.zero_timeout, &p->later);
}

/* ---- the client side of the response ---- */

static void send_piece(gw_request_t *r, h2o_iovec_t piece, h2o_send_state_t state)
{
    gw_proxy_t *p = &r->proxy;
    if (h2o_timeout_is_linked(&p->flush_head))
        h2o_timeout_unlink(&p->flush_head);
    p->head_sent = 1;
    p->h2o_busy = state == H2O_SEND_STATE_IN_PROGRESS;
    h2o_send(r->req, piece.len != 0 ? &piece : NULL, piece.len != 0 ? 1 : 0, state);
}

static void on_generator_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    gw_proxy_t *p = H2O_STRUCT_FROM_MEMBER(gw_proxy_t, generator, generator);
    gw_request_t *r = request_of(p);
    p->h2o_busy = 0;
    if (p->piece_in_h2o) {
        /* h2o is done with the bytes of the upstream buffer: the exchange may read on (and may
         * call on_body again from inside this call) */
        p->piece_in_h2o = 0;
        gw_exchange_proceed(&p->exchange);
        return;
    }
    gw_pipe_pending_t pending = p->pending;
    p->pending = GW_PIPE_NONE;
    switch (pending) {
    case GW_PIPE_PIECE:
        p->piece_in_h2o = 1;
        send_piece(r, p->pending_piece, H2O_SEND_STATE_IN_PROGRESS);
        break;
    case GW_PIPE_FINAL:
        send_piece(r, p->pending_piece, H2O_SEND_STATE_FINAL);
        break;
    case GW_PIPE_ERROR:
        send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_ERROR);
        break;
    case GW_PIPE_NONE:
        break;
    }
}

/* h2o gives up on the response (the client went away mid-body): nothing more goes to it. What
 * becomes of the exchange is the request's decision (gw_request: hold or cancel). */
static void on_generator_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)generator, (void)req;
}

/* The response head waited for body bytes that did not come at once: send it alone. */
static void on_flush_head(h2o_timeout_entry_t *entry)
{
    gw_proxy_t *p = H2O_STRUCT_FROM_MEMBER(gw_proxy_t, flush_head, entry);
    if (!p->head_sent && !p->h2o_busy)
        send_piece(request_of(p), h2o_iovec_init(NULL, 0), H2O_SEND_STATE_IN_PROGRESS);
}

static int is_dropped_response_header(const char *name, size_t len)
{
    return gw_header_is_hop_by_hop(name, len) || (len == 14 && memcmp(name, "content-length", 14) == 0) ||
           (len == 4 && memcmp(name, "date", 4) == 0) || (len == 6 && memcmp(name, "server", 6) == 0);
}

/* The upstream switched protocols: its 101 goes to the client, and the two connections become a
 * tunnel (gw_websocket); the exchange, and with it the request's slots, end here. */
static int upgraded(gw_request_t *r, const gw_h1_header_t *headers, size_t num_headers)
{
    h2o_req_t *req = r->req;
    size_t cap = 128 + r->request_id.len;
    for (size_t i = 0; i != num_headers; ++i)
        cap += headers[i].name_len + headers[i].value_len + 4;
    char *head = h2o_mem_alloc_pool(&req->pool, cap), *p = head;
    p += sprintf(p, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; i != num_headers; ++i) {
        const char *name = headers[i].name;
        size_t len = headers[i].name_len;
        /* the protocol switch itself (connection, upgrade) is said below, once */
        if (gw_header_is_hop_by_hop(name, len) || (len == 14 && memcmp(name, "content-length", 14) == 0))
            continue;
        memcpy(p, name, len);
        p += len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, headers[i].value, headers[i].value_len);
        p += headers[i].value_len;
        *p++ = '\r';
        *p++ = '\n';
    }
    p += sprintf(p, "connection: upgrade\r\nupgrade: websocket\r\nx-request-id: %.*s\r\n\r\n", (int)r->request_id.len,
                 r->request_id.base);
    h2o_socket_t *sock = gw_exchange_take_socket(&r->proxy.exchange);
    r->state = GW_REQ_RESPONDED;
    r->ws_reserved = 0; /* the tunnel holds the count from now on */
    finish(r, GW_VERDICT_OK);
    gw_ws_start(r->ctx, r->route->metrics, r->route->cfg->websocket.idle_timeout_ms, req, r->client,
                h2o_iovec_init(head, (size_t)(p - head)), sock);
    return 0;
}

static int on_upstream_head(gw_exchange_t *ex, int status, const gw_h1_header_t *headers, size_t num_headers, int has_body,
                            size_t content_length)
{
    gw_proxy_t *p = proxy_of(ex);
    gw_request_t *r = request_of(p);
    p->head_ns = gw_now_ns();
    p->upstream_status = status;
    gw_histogram_observe(&r->route->metrics->upstream_duration, (double)(p->head_ns - p->started_ns) / 1e9);
    if (r->req == NULL || r->state != GW_REQ_UPSTREAM) {
        /* nobody to tell (held), or the client has an answer already (504): read it to its end;
         * a response without a body ends the exchange on return, so the end is told later */
        if (!has_body)
            later(p);
        return 0;
    }
    h2o_req_t *req = r->req;
    if (h2o_timeout_is_linked(&r->deadline))
        h2o_timeout_unlink(&r->deadline);

    if (status == 101) /* only ever for an upgrade sluice asked for */
        return upgraded(r, headers, num_headers);

    if (status >= 500 && r->route->cfg->errors.hide_upstream_5xx) {
        r->proxy.calls->respond_error(r, status, "upstream_error", "the upstream failed to handle the request");
        finish(r, GW_VERDICT_FAILED); /* the exchange ends with this -1 (its socket is closed) */
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
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id.base,
                          r->request_id.len);

    r->state = GW_REQ_STREAMING;
    if (has_body && status >= 400 && r->route->cfg->errors.scrub_tracebacks) {
        /* an error page is held (GW_SCRUB_MAX at most) until it is known whether it shows a stack
         * trace; the response starts then */
        p->scrubbing = 1;
        p->scrub_len = 0;
        p->scrub_buf = h2o_mem_alloc_pool(&req->pool, GW_SCRUB_MAX);
        return 0;
    }
    p->generator = (h2o_generator_t){on_generator_proceed, on_generator_stop};
    h2o_start_response(req, &p->generator);
    if (!has_body) {
        r->state = GW_REQ_RESPONDED;
        send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_FINAL);
        finish(r, GW_VERDICT_OK);
    } else {
        p->flush_head.cb = on_flush_head;
        h2o_timeout_link(r->ctx->loop, &r->ctx->h2o.zero_timeout, &p->flush_head);
    }
    return 0;
}

/* sluice's JSON error in place of the upstream's answer, whose head was prepared but not sent */
static void withhold(gw_request_t *r, int status, const char *message)
{
    r->req->res.headers = (h2o_headers_t){NULL, 0, 0};
    r->proxy.calls->respond_error(r, status, "upstream_error", message);
}

/* A piece of an error page being held (on_upstream_head): once it is whole or GW_SCRUB_MAX long,
 * a page that shows a stack trace is replaced by sluice's error, another goes on as it came. */
static void scrub_piece(gw_request_t *r, gw_exchange_t *ex, h2o_iovec_t data, int is_final)
{
    gw_proxy_t *p = &r->proxy;
    size_t room = GW_SCRUB_MAX - p->scrub_len, n = data.len < room ? data.len : room;
    memcpy(p->scrub_buf + p->scrub_len, data.base, n);
    p->scrub_len += n;
    if (!is_final && p->scrub_len < GW_SCRUB_MAX) {
        gw_exchange_proceed(ex); /* more of the page (it may come from within this call) */
        return;
    }
    p->scrubbing = 0;
    if (gw_scrub_has_traceback(p->scrub_buf, p->scrub_len)) {
        if (is_final)
            gw_exchange_proceed(ex); /* the socket goes back to the pool */
        else
            gw_exchange_cancel(ex); /* the rest of the page is not read */
        finish(r, GW_VERDICT_OK);
        withhold(r, p->upstream_status, "the upstream failed; its error page was withheld: it showed a stack trace");
        return;
    }
    /* not a stack trace: the page as it came, what was held first */
    h2o_iovec_t rest = h2o_iovec_init(data.base + n, data.len - n);
    p->generator = (h2o_generator_t){on_generator_proceed, on_generator_stop};
    h2o_start_response(r->req, &p->generator);
    if (is_final) {
        if (rest.len != 0)
            rest = h2o_strdup(&r->req->pool, rest.base, rest.len);
        gw_exchange_proceed(ex);
        r->state = GW_REQ_RESPONDED;
        if (rest.len == 0) {
            send_piece(r, h2o_iovec_init(p->scrub_buf, p->scrub_len), H2O_SEND_STATE_FINAL);
        } else {
            send_piece(r, h2o_iovec_init(p->scrub_buf, p->scrub_len), H2O_SEND_STATE_IN_PROGRESS);
            p->pending_piece = rest;
            p->pending = GW_PIPE_FINAL;
        }
        finish(r, GW_VERDICT_OK);
        return;
    }
    send_piece(r, h2o_iovec_init(p->scrub_buf, p->scrub_len), H2O_SEND_STATE_IN_PROGRESS);
    if (rest.len != 0) {
        p->pending_piece = rest; /* still the exchange's: proceeded once h2o has sent it */
        p->pending = GW_PIPE_PIECE;
    } else {
        gw_exchange_proceed(ex);
    }
}

static void on_upstream_body(gw_exchange_t *ex, h2o_iovec_t data, int is_final)
{
    gw_proxy_t *p = proxy_of(ex);
    gw_request_t *r = request_of(p);

    if (r->req == NULL || r->state != GW_REQ_STREAMING) {
        /* held, or answered by sluice: the body is read and dropped */
        gw_exchange_proceed(ex);
        if (is_final)
            finish(r, GW_VERDICT_OK);
        return;
    }
    if (p->scrubbing) {
        scrub_piece(r, ex, data, is_final);
        return;
    }
    if (is_final) {
        /* copy the last piece so the upstream socket goes back to the pool right now */
        h2o_iovec_t last = data.len != 0 ? h2o_strdup(&r->req->pool, data.base, data.len) : h2o_iovec_init(NULL, 0);
        gw_exchange_proceed(ex);
        r->state = GW_REQ_RESPONDED;
        if (p->h2o_busy) {
            p->pending_piece = last;
            p->pending = GW_PIPE_FINAL;
        } else {
            send_piece(r, last, H2O_SEND_STATE_FINAL);
        }
        finish(r, GW_VERDICT_OK);
        return;
    }
    if (p->h2o_busy) {
        p->pending_piece = data;
        p->pending = GW_PIPE_PIECE;
        return;
    }
    p->piece_in_h2o = 1;
    send_piece(r, data, H2O_SEND_STATE_IN_PROGRESS);
}

static void on_upstream_error(gw_exchange_t *ex, gw_upstream_error_t kind, int before_head)
{
    gw_proxy_t *p = proxy_of(ex);
    gw_request_t *r = request_of(p);
    ++r->route->metrics->upstream_errors[kind];
    if (r->req == NULL || (r->state != GW_REQ_UPSTREAM && r->state != GW_REQ_STREAMING)) {
        finish(r, GW_VERDICT_FAILED);
        return;
    }
    if (p->scrubbing) {
        /* an error page being held: nothing went to the client yet */
        p->scrubbing = 0;
        finish(r, GW_VERDICT_FAILED);
        withhold(r, 502, "the upstream closed the connection or sent an invalid response");
        return;
    }
    if (!before_head) {
        /* mid-body: all h2o can do is cut the client connection (HTTP/1) or reset the stream */
        r->cut = 1;
        r->cut_reason = kind == GW_UPERR_READ_TIMEOUT   ? GW_CUT_READ_TIMEOUT
                        : kind == GW_UPERR_BAD_RESPONSE ? GW_CUT_BAD_RESPONSE
                                                        : GW_CUT_RESET;
        r->state = GW_REQ_RESPONDED;
        if (p->h2o_busy)
            p->pending = GW_PIPE_ERROR;
        else
            send_piece(r, h2o_iovec_init(NULL, 0), H2O_SEND_STATE_ERROR);
        finish(r, GW_VERDICT_FAILED);
        return;
    }
    finish(r, GW_VERDICT_FAILED);
    switch (kind) {
    case GW_UPERR_CONNECT:
    case GW_UPERR_CONNECT_TIMEOUT:
        r->proxy.calls->respond_error(r, 502, "upstream_unavailable", "the upstream could not be reached");
        break;
    case GW_UPERR_READ_TIMEOUT:
        r->proxy.calls->respond_error(r, 504, "timeout", "the upstream did not answer in time");
        break;
    default:
        r->proxy.calls->respond_error(r, 502, "upstream_error", "the upstream closed the connection or sent an invalid response");
        break;
    }
}

/* ---- the request body, streamed from an HTTP/1 client ---- */

static void on_client_body(void *data, h2o_iovec_t piece, int is_final, gw_body_error_t err)
{
    gw_request_t *r = data;
    if (r->state != GW_REQ_UPSTREAM || !r->proxy.started)
        return; /* answered meanwhile (deadline): nothing more is sent */
    r->body_bytes += piece.len;
    int too_large = err == GW_BODY_OK && r->body_bytes > r->route->cfg->max_body;
    if (err == GW_BODY_OK && !too_large) {
        gw_exchange_send_body(&r->proxy.exchange, piece, is_final);
        return;
    }
    gw_proxy_cancel(r, GW_VERDICT_ABANDONED);
    r->req->http1_is_persistent = 0;
    if (err == GW_BODY_TIMEOUT)
        r->proxy.calls->respond_error(r, 408, "body_timeout", "the request body stalled for longer than client.body_timeout");
    else if (err == GW_BODY_MALFORMED)
        r->proxy.calls->respond_error(r, 400, "bad_request", "malformed chunked request body");
    else
        r->proxy.calls->respond_error(r, 413, "body_too_large", "the request body is larger than the route's max_body");
}

static void on_body_wanted(gw_exchange_t *ex)
{
    gw_request_t *r = request_of(proxy_of(ex));
    if (r->prefetched && !r->prefetch_sent) {
        /* what was read before admission (json: keys) goes first */
        r->prefetch_sent = 1;
        gw_exchange_send_body(ex, r->prefetch, r->prefetch_final);
        return;
    }
    if (r->req != NULL && r->client != NULL && !r->prefetch_final)
        r->client->read_body(r->req, on_client_body, r);
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

/* request_headers of the route, filled for this request. */
static void route_rules(gw_request_t *r, gw_reqhead_in_t *in)
{
    h2o_req_t *req = r->req;
    const cfg_route_t *route = r->route->cfg;
    if (route->num_set_headers == 0 && route->num_remove_headers == 0)
        return;
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
    in->set = set;
    in->num_set = route->num_set_headers;
    in->remove = remove;
    in->num_remove = route->num_remove_headers;
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
    route_rules(r, &in);
    if (r->websocket) {
        in.upgrade = req->upgrade.base;
        in.upgrade_len = req->upgrade.len;
    }
    int chunked;
    uint64_t length;
    *body_mode = GW_EXBODY_NONE;
    if (r->client != NULL) {
        if (r->client->framing(req, &chunked, &length)) {
            in.body = chunked ? GW_REQBODY_CHUNKED : GW_REQBODY_LENGTH;
            in.content_length = length;
            *body_mode = chunked ? GW_EXBODY_STREAM_CHUNKED : GW_EXBODY_STREAM_LENGTH;
        }
    } else if (req->entity.base != NULL) {
        /* HTTP/2: h2o has read the body whole */
        in.body = GW_REQBODY_LENGTH;
        in.content_length = req->entity.len;
        *body_mode = GW_EXBODY_WHOLE;
    }
    char *buf = h2o_mem_alloc_pool(&req->pool, gw_reqhead_size(&in));
    ssize_t len = gw_reqhead_write(&in, buf, why);
    if (len < 0)
        return -1;
    *head = h2o_iovec_init(buf, (size_t)len);
    return 0;
}

void gw_proxy_start(gw_request_t *r, const gw_proxy_calls_t *calls)
{
    h2o_req_t *req = r->req;
    gw_proxy_t *p = &r->proxy;
    uint64_t now = gw_now_ns();
    uint64_t budget_ms = r->route->cfg->timeout_ms;
    uint64_t spent_ms = (now - r->arrived_ns) / 1000000;
    uint64_t left_ms = spent_ms < budget_ms ? budget_ms - spent_ms : 1;

    p->calls = calls;
    p->started = 1;
    p->upstream_status = 0;
    p->started_ns = now;
    h2o_iovec_t head;
    gw_exbody_t body_mode;
    const char *why;
    if (build_upstream_head(r, left_ms, &head, &body_mode, &why) != 0) {
        finish(r, GW_VERDICT_ABANDONED); /* refused by sluice: the upstream never saw it */
        r->proxy.calls->respond_error(r, 400, "bad_request", why);
        return;
    }
    gw_exchange_start(&p->exchange, r->route->upstream, head, body_mode, req->entity, method_is(req, H2O_STRLIT("HEAD")),
                      is_idempotent(req), r->websocket, &exchange_callbacks, &r->proxy);
}

int gw_proxy_can_run_alone(gw_request_t *r)
{
    gw_proxy_t *p = &r->proxy;
    /* a request the upstream did not get whole cannot be worked on: it ends with its client */
    return p->started && gw_exchange_is_active(&p->exchange) && p->exchange.request_sent;
}

int gw_proxy_is_sending(gw_request_t *r)
{
    gw_proxy_t *p = &r->proxy;
    return p->started && p->exchange.state == GW_EX_AWAITING_HEAD && !p->exchange.request_sent;
}

static void on_later(h2o_timeout_entry_t *entry)
{
    gw_proxy_t *p = H2O_STRUCT_FROM_MEMBER(gw_proxy_t, later, entry);
    if (p->exchange.state == GW_EX_PAUSED)
        gw_exchange_proceed(&p->exchange); /* the piece h2o had: dropped */
    else if (!gw_exchange_is_active(&p->exchange))
        finish(request_of(p), GW_VERDICT_OK);
}

void gw_proxy_run_alone(gw_request_t *r)
{
    gw_proxy_t *p = &r->proxy;
    if (h2o_timeout_is_linked(&p->flush_head))
        h2o_timeout_unlink(&p->flush_head);
    p->h2o_busy = 0;
    p->pending = GW_PIPE_NONE;
    if (p->piece_in_h2o) {
        /* h2o will not proceed the piece it had: the exchange reads on, dropping, from the loop */
        p->piece_in_h2o = 0;
        later(p);
    }
}

void gw_proxy_cancel(gw_request_t *r, gw_verdict_t verdict)
{
    gw_proxy_t *p = &r->proxy;
    if (!p->started)
        return;
    gw_exchange_cancel(&p->exchange);
    finish(r, verdict);
}
