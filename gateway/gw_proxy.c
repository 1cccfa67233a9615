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
#include "gw_http.h"
#include "gw_route.h"
#include "gw_server.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
    }
}

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
    if (h2o_timeout_is_linked(&r->client_poll))
        h2o_timeout_unlink(&r->client_poll);
    if (h2o_timeout_is_linked(&r->flush_head))
        h2o_timeout_unlink(&r->flush_head);
}

/* ---- the HTTP/1 client socket while the request is served ----
 *
 * libh2o 2.2's HTTP/1 server stops reading a connection once a request is in and starts again
 * once the response is sent. Its event loop applies such changes at the next poll, so for a
 * proxied request they cost an epoll_ctl DEL and an ADD: a third of the system calls of a
 * small request. sluice keeps the socket polled meanwhile instead (the stop and the start then
 * fall in the same loop iteration as its own start and stop, and cancel out) in "don't read"
 * mode: the loop must not read into the buffer that still holds the request's headers, nor
 * take a pipelined request early. If the socket turns readable (a pipelined request, or the
 * client closing), the watch simply ends; the hang-up poll below tells which it was.
 * The watch must end before the response starts, or h2o would resume in "don't read" mode. */

static h2o_socket_t *http1_socket(gw_request_t *r)
{
    return r->req->version < 0x200 ? r->req->conn->callbacks->get_socket(r->req->conn) : NULL;
}

static void end_watch(h2o_socket_t *sock)
{
    h2o_socket_read_stop(sock);
    h2o_socket_dont_read(sock, 0);
}

static void on_watched_client_readable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    end_watch(sock);
}

static void client_watch_start(gw_request_t *r)
{
    h2o_socket_t *sock = http1_socket(r);
    if (sock == NULL)
        return;
    h2o_socket_dont_read(sock, 1);
    h2o_socket_read_start(sock, on_watched_client_readable);
    r->client_watched = 1;
}

static void client_watch_end(gw_request_t *r)
{
    if (!r->client_watched)
        return;
    r->client_watched = 0;
    h2o_socket_t *sock = http1_socket(r);
    if (sock != NULL)
        end_watch(sock);
}

void gw_proxy_respond_error(gw_request_t *r, int status, const char *code, const char *message, uint64_t retry_after_s)
{
    h2o_req_t *req = r->req;
    char body[512];
    int len;

    client_watch_end(r);
    stop_timers(r);
    r->state = GW_REQ_RESPONDED;
    if (r->route != NULL)
        len = snprintf(body, sizeof(body),
                       "{\"error\":{\"status\":%d,\"code\":\"%s\",\"message\":\"%s\",\"route\":\"%s\",\"request_id\":\"%.*s\"}}\n",
                       status, code, message, r->route->cfg->name, (int)r->request_id.len, r->request_id.base);
    else
        len = snprintf(body, sizeof(body),
                       "{\"error\":{\"status\":%d,\"code\":\"%s\",\"message\":\"%s\",\"route\":null,\"request_id\":\"%.*s\"}}\n",
                       status, code, message, (int)r->request_id.len, r->request_id.base);
    if (len < 0 || (size_t)len >= sizeof(body))
        len = snprintf(body, sizeof(body), "{\"error\":{\"status\":%d,\"code\":\"%s\"}}\n", status, code);

    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = (size_t)len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    add_request_id_header(r);
    if (retry_after_s != 0) {
        char *v = h2o_mem_alloc_pool(&req->pool, 24);
        int n = snprintf(v, 24, "%llu", (unsigned long long)retry_after_s);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
    }
    h2o_send_inline(req, body, (size_t)len);
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

static int on_upstream_head(gw_exchange_t *ex, int status, const struct phr_header *headers, size_t num_headers, int has_body,
                            size_t content_length)
{
    gw_request_t *r = ex->data;
    h2o_req_t *req = r->req;

    r->upstream_head_ns = gw_now_ns();
    gw_histogram_observe(&r->route->metrics->upstream_duration, (double)(r->upstream_head_ns - r->upstream_started_ns) / 1e9);
    client_watch_end(r);
    stop_timers(r);

    /* TODO(lead): errors.scrub_tracebacks (4xx/5xx bodies showing a stack trace) and
     * upstreams.response_buffer (bytes buffered per stream before reading the upstream pauses) */
    if (status >= 500 && r->route->cfg->errors.hide_upstream_5xx) {
        gw_proxy_respond_error(r, status, "upstream_error", "the upstream failed to handle the request", 0);
        return -1;
    }

    const char *conn_value = NULL;
    size_t conn_len = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        if (headers[i].name_len == 10 && strncasecmp(headers[i].name, "connection", 10) == 0) {
            conn_value = headers[i].value;
            conn_len = headers[i].value_len;
        }
    }
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = has_body ? content_length : SIZE_MAX;
    for (size_t i = 0; i != num_headers; ++i) {
        char *name = (char *)headers[i].name;
        size_t len = headers[i].name_len;
        h2o_strtolower(name, len);
        if (is_dropped_response_header(name, len) || (conn_value != NULL && gw_connection_lists(conn_value, conn_len, name, len)))
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

static const gw_exchange_callbacks_t exchange_callbacks = {on_upstream_head, on_upstream_body, on_upstream_error};

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

/* Request headers sluice writes itself, so the client's copies are not forwarded. */
static int is_replaced_request_header(const h2o_iovec_t *name)
{
    static const h2o_iovec_t names[] = {{H2O_STRLIT("host")},
                                        {H2O_STRLIT("content-length")},
                                        {H2O_STRLIT("x-forwarded-for")},
                                        {H2O_STRLIT("x-forwarded-proto")},
                                        {H2O_STRLIT("x-forwarded-host")},
                                        {H2O_STRLIT("x-request-id")},
                                        {H2O_STRLIT("x-request-timeout-ms")},
                                        {H2O_STRLIT("expect")}};
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i)
        if (names[i].len == name->len && memcmp(names[i].base, name->base, name->len) == 0)
            return 1;
    return 0;
}

static h2o_iovec_t build_request_head(gw_request_t *r, uint64_t budget_left_ms)
{
    h2o_req_t *req = r->req;
    ssize_t conn_idx = h2o_find_header(&req->headers, H2O_TOKEN_CONNECTION, -1);
    h2o_iovec_t conn_value = conn_idx >= 0 ? req->headers.entries[conn_idx].value : h2o_iovec_init(NULL, 0);

    size_t cap = req->method.len + req->path_normalized.len + req->path.len + req->authority.len * 2 + r->request_id.len +
                 strlen(r->client_ip) + 256;
    for (size_t i = 0; i != req->headers.size; ++i)
        cap += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap), *p = buf;

#define APPEND(s, n)                                                                                                               \
    do {                                                                                                                           \
        memcpy(p, (s), (n));                                                                                                       \
        p += (n);                                                                                                                  \
    } while (0)
#define APPEND_LIT(s) APPEND(s, sizeof(s) - 1)

    APPEND(req->method.base, req->method.len);
    APPEND_LIT(" ");
    /* the path the route was chosen on (dot segments resolved), so the backend and sluice never
     * disagree about which resource a request is for; the query string as received */
    APPEND(req->path_normalized.base, req->path_normalized.len);
    if (req->query_at != SIZE_MAX)
        APPEND(req->path.base + req->query_at, req->path.len - req->query_at);
    APPEND_LIT(" HTTP/1.1\r\nhost: ");
    APPEND(req->authority.base, req->authority.len);
    APPEND_LIT("\r\n");
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (gw_header_is_hop_by_hop(h->name->base, h->name->len) || is_replaced_request_header(h->name) ||
            (conn_value.base != NULL && gw_connection_lists(conn_value.base, conn_value.len, h->name->base, h->name->len)))
            continue;
        APPEND(h->name->base, h->name->len);
        APPEND_LIT(": ");
        APPEND(h->value.base, h->value.len);
        APPEND_LIT("\r\n");
    }
    if (req->entity.base != NULL)
        p += sprintf(p, "content-length: %zu\r\n", req->entity.len);
    APPEND_LIT("x-forwarded-for: ");
    if (r->xff.base != NULL) {
        APPEND(r->xff.base, r->xff.len);
        APPEND_LIT(", ");
    }
    APPEND(r->client_ip, strlen(r->client_ip));
    APPEND_LIT("\r\nx-forwarded-proto: http\r\nx-forwarded-host: ");
    APPEND(req->authority.base, req->authority.len);
    APPEND_LIT("\r\nx-request-id: ");
    APPEND(r->request_id.base, r->request_id.len);
    p += sprintf(p, "\r\nx-request-timeout-ms: %llu\r\n\r\n", (unsigned long long)budget_left_ms);
#undef APPEND_LIT
#undef APPEND
    assert((size_t)(p - buf) <= cap);
    return h2o_iovec_init(buf, (size_t)(p - buf));
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
    h2o_iovec_t head = build_request_head(r, left_ms);
    h2o_iovec_t body = req->entity.base != NULL ? req->entity : h2o_iovec_init(NULL, 0);
    gw_exchange_start(&r->exchange, r->route->upstream, head, body, method_is(req, H2O_STRLIT("HEAD")), is_idempotent(req),
                      &exchange_callbacks, r);
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

/* h2o stops reading an HTTP/1 connection once the request is in, so a client that hangs up is
 * only seen at the next write. Until the response head goes out, peek at the socket instead: a
 * readable socket with no data is a closed one. */
static int client_hung_up(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return 0;
    char byte;
    ssize_t n = recv(h2o_socket_get_fd(sock), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void on_client_poll(h2o_timeout_entry_t *entry)
{
    gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, client_poll, entry);
    if (r->state != GW_REQ_ADMISSION && r->state != GW_REQ_UPSTREAM)
        return;
    if (!client_hung_up(r->req)) {
        h2o_timeout_link(r->ctx->loop, &r->ctx->client_poll, &r->client_poll);
        return;
    }
    if (r->state == GW_REQ_ADMISSION)
        gw_request_set_decision(r, GW_ADM_CLIENT_GONE);
    abandon(r);
    /* Nobody reads this answer: writing it makes h2o find the closed socket and tear the
     * connection (and this request) down; 499 is what the access log records. */
    r->req->http1_is_persistent = 0;
    gw_proxy_respond_error(r, 499, "client_gone", "the client closed the connection", 0);
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
    gw_route_metrics_t *m = metrics_of(r);
    if (r->in_flight_counted)
        --m->in_flight;
    if (r->has_decision)
        ++m->admission[r->decision];
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
    if (len != 0 && ss.ss_family == AF_INET)
        gw_ipv4_text((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr, r->client_ip);
    else if (len == 0 || ss.ss_family != AF_INET6 ||
             inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, r->client_ip, sizeof(r->client_ip)) == NULL)
        strcpy(r->client_ip, len != 0 && ss.ss_family == AF_UNIX ? "unix" : "unknown");
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
    ssize_t xff = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, -1);
    if (xff >= 0)
        r->xff = req->headers.entries[xff].value;
    const cfg_config_t *config = r->gen->config;
    gw_client_ip(r->client_ip, r->xff.base, r->xff.len, config->client.trusted_proxies, config->client.num_trusted_proxies,
                 r->client_key_ip, sizeof(r->client_key_ip));

    gw_route_input_t in = {req->method.base,    req->method.len,    req->path_normalized.base, req->path_normalized.len,
                           req->authority.base, req->authority.len, find_header_value,         req};
    if (req->entity.len > config->client.max_body) {
        req->http1_is_persistent = 0;
        gw_proxy_respond_error(r, 413, "body_too_large", "the request body is larger than client.max_body", 0);
        return 0;
    }
    long idx = gw_route_match(config, &in);
    if (idx < 0) {
        gw_proxy_respond_error(r, 404, "no_route", "no route matches this request", 0);
        return 0;
    }
    r->route = &r->gen->routes[idx];
    r->state = GW_REQ_ADMISSION;
    r->deadline.cb = on_deadline;
    h2o_timeout_link(ctx->loop, &r->route->deadline, &r->deadline);
    if (req->version < 0x200) {
        r->client_poll.cb = on_client_poll;
        h2o_timeout_link(ctx->loop, &ctx->client_poll, &r->client_poll);
        client_watch_start(r);
    }
    gw_admission_begin(r);
    return 0;
}
