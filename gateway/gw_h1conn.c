/*
 * Invariants:
 * - the socket is in h2o's "don't read" mode: h2o only reports readiness and this module reads,
 *   so it decides how much is buffered (see the header). Reads happen only while no body piece is
 *   lent out (a piece points into sock->input, which a read may move).
 * - at most one write is in flight (response pieces come one at a time from h2o_send; the
 *   100 Continue goes before any response); what it points to stays valid until its callback.
 * - the request's head is copied into its pool before it is parsed, so the input buffer holds only
 *   bytes not yet handled: the body, or the next requests.
 * - a request is disposed exactly once, by finish_request or close_conn.
 */
#include "gw_h1conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "h2o/http2.h"
#include "gw_accesslog.h"
#include "gw_clientip.h"
#include "gw_h1parse.h"
#include "gw_http.h"
#include "gw_jsonerr.h"
#include "gw_path.h"
#include "gw_request.h"

#define BODY_PIECE_MAX 65536
#define LINGER_MS 2000

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

typedef enum {
    H1_HEAD,    /* waiting for a request head */
    H1_REQUEST, /* a request is being served */
    H1_LINGER   /* answer sent, reading and dropping what the client still sends, then close */
} h1_state_t;

typedef struct st_gw_h1conn_t {
    h2o_conn_t super;
    gw_ctx_t *ctx;
    h2o_socket_t *sock;
    h1_state_t state;
    h2o_linklist_t link; /* ctx->h1_conns */
    h2o_timeout_entry_t timer;
    uint64_t served;
    /* the head being read */
    size_t scan, head_start;
    uint64_t head_started_ns;
    /* the request's body */
    gw_h1_body_t body_kind;
    uint64_t body_length;
    uint64_t body_left; /* LENGTH: bytes not handed out yet */
    gw_chunked_t chunked;
    size_t piece_len; /* bytes at the front of sock->input lent to the consumer */
    gw_body_cb body_cb;
    void *body_data;
    h2o_timeout_entry_t body_notify; /* the deferred call of body_cb */
    h2o_iovec_t notify_piece;
    gw_body_error_t notify_err;
    unsigned notify_final : 1;
    unsigned body_done : 1;       /* the whole body was read (or there is none) */
    unsigned body_wanted : 1;     /* the consumer waits for a piece */
    unsigned expect_continue : 1; /* 100 Continue still owed before the body is read */
    unsigned piece_out : 1;
    /* the response */
    unsigned head_sent : 1;
    unsigned res_chunked : 1;
    unsigned res_no_body : 1;
    unsigned res_close : 1; /* the connection ends with this response */
    unsigned writing : 1;
    unsigned write_final : 1;
    unsigned write_error : 1; /* h2o_send said ERROR: close once written */
    char chunk_line[24];
    char *error_response;       /* malloc'd answer to a refused head, while it is written */
    gw_upgraded_cb upgraded_cb; /* a 101 being written: who takes the socket */
    void *upgraded_data;
    h2o_ostream_t ostr;
    h2o_req_t req; /* last: large */
} gw_h1conn_t;

static void on_readable(h2o_socket_t *sock, const char *err);
static void try_parse_head(gw_h1conn_t *conn);
static void deliver_body(gw_h1conn_t *conn);

static gw_h1conn_t *conn_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, req, req);
}

static socklen_t get_sockname(h2o_conn_t *c, struct sockaddr *sa)
{
    return h2o_socket_getsockname(((gw_h1conn_t *)c)->sock, sa);
}

static socklen_t get_peername(h2o_conn_t *c, struct sockaddr *sa)
{
    return h2o_socket_getpeername(((gw_h1conn_t *)c)->sock, sa);
}

static h2o_socket_t *get_socket(h2o_conn_t *c)
{
    return ((gw_h1conn_t *)c)->sock;
}

static const h2o_conn_callbacks_t callbacks = {
    .get_sockname = get_sockname, .get_peername = get_peername, .get_socket = get_socket};

/* ---- timers ---- */

static void stop_timer(gw_h1conn_t *conn)
{
    if (h2o_timeout_is_linked(&conn->timer))
        h2o_timeout_unlink(&conn->timer);
}

static void start_timer(gw_h1conn_t *conn, h2o_timeout_t *timeout, h2o_timeout_cb cb)
{
    stop_timer(conn);
    conn->timer.cb = cb;
    h2o_timeout_link(conn->ctx->loop, timeout, &conn->timer);
}

/* ---- closing ---- */

static void close_conn(gw_h1conn_t *conn)
{
    stop_timer(conn);
    if (h2o_timeout_is_linked(&conn->body_notify))
        h2o_timeout_unlink(&conn->body_notify);
    if (conn->state == H1_REQUEST)
        h2o_dispose_request(&conn->req);
    h2o_linklist_unlink(&conn->link);
    h2o_socket_read_stop(conn->sock);
    h2o_socket_close(conn->sock);
    free(conn->error_response);
    free(conn);
}

static void on_close_timer(h2o_timeout_entry_t *entry)
{
    close_conn(H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, timer, entry));
}

/* Closes from the loop: the caller (h2o_send, deep in gw_proxy) still uses the request. */
static void close_later(gw_h1conn_t *conn)
{
    start_timer(conn, &conn->ctx->h2o.zero_timeout, on_close_timer);
}

/* The answer is out; the client may still be sending (a body sluice refused, the rest of a bad
 * head): read and drop it for a while so that closing does not reset the connection before the
 * client has read the answer. */
static void linger(gw_h1conn_t *conn)
{
    conn->state = H1_LINGER;
    shutdown(h2o_socket_get_fd(conn->sock), SHUT_WR);
    if (conn->sock->input->size != 0)
        h2o_buffer_consume(&conn->sock->input, conn->sock->input->size);
    start_timer(conn, &conn->ctx->linger_timeout, on_close_timer);
    h2o_socket_read_start(conn->sock, on_readable);
}

/* ---- answers to heads that never become requests ---- */

static void on_error_written(h2o_socket_t *sock, const char *err)
{
    gw_h1conn_t *conn = sock->data;
    conn->writing = 0;
    if (err != NULL)
        close_conn(conn);
    else
        linger(conn);
}

static void client_ip_text(gw_h1conn_t *conn, char *buf)
{
    struct sockaddr_storage ss;
    socklen_t len = h2o_socket_getpeername(conn->sock, (struct sockaddr *)&ss);
    gw_sockaddr_text((struct sockaddr *)&ss, len, buf);
}

/* Answers a refused head (or a slow one) with sluice's JSON error, logs and counts it, then
 * lingers and closes. `method`/`target` are what could be read of the request line, if anything. */
static void refuse_head(gw_h1conn_t *conn, int status, const char *code, const char *why, const char *method, size_t method_len,
                        const char *target, size_t target_len)
{
    gw_ctx_t *ctx = conn->ctx;
    char id[32], body[GW_JSONERR_MAX], client[INET6_ADDRSTRLEN];
    gw_request_id_format(id, gw_rng_next(&ctx->rng), gw_rng_next(&ctx->rng));
    size_t body_len = gw_jsonerr_format(body, status, code, why, NULL, id, sizeof(id));
    stop_timer(conn);
    h2o_socket_read_stop(conn->sock);
    conn->error_response = h2o_mem_alloc(body_len + 256);
    int n = snprintf(conn->error_response, body_len + 256,
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nx-request-id: %.32s\r\ncontent-length: %zu\r\n"
                     "connection: close\r\n\r\n",
                     status, gw_status_reason(status), id, body_len);
    memcpy(conn->error_response + n, body, body_len);
    client_ip_text(conn, client);
    uint64_t total_ns = conn->head_started_ns != 0 ? gw_now_ns() - conn->head_started_ns : 0;
    gw_count_status(&ctx->no_route_metrics, status);
    gw_histogram_observe(&ctx->no_route_metrics.request_duration, (double)total_ns / 1e9);
    gw_accesslog_refused(ctx, status, id, sizeof(id), method, method_len, target, target_len, client, total_ns,
                         (uint64_t)n + body_len);
    conn->writing = 1;
    h2o_iovec_t buf = h2o_iovec_init(conn->error_response, (size_t)n + body_len);
    h2o_socket_write(conn->sock, &buf, 1, on_error_written);
}

/* ---- reading ---- */

/* Reads at most `max` more bytes into sock->input. Returns the count, 0 at EOF, -1 on an error,
 * -2 when nothing is there yet. */
static ssize_t read_some(gw_h1conn_t *conn, size_t max)
{
    h2o_iovec_t buf = h2o_buffer_reserve(&conn->sock->input, max);
    if (buf.base == NULL)
        return -1;
    ssize_t n;
    while ((n = recv(h2o_socket_get_fd(conn->sock), buf.base, max < buf.len ? max : buf.len, 0)) == -1 && errno == EINTR)
        ;
    if (n > 0)
        conn->sock->input->size += (size_t)n;
    else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -2;
    return n;
}

static size_t max_head(gw_h1conn_t *conn)
{
    return conn->ctx->max_header_size;
}

static void on_head_timeout(h2o_timeout_entry_t *entry)
{
    gw_h1conn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, timer, entry);
    if (conn->sock->input->size == 0) {
        close_conn(conn); /* nothing was said: a plain close, like an idle keep-alive */
        return;
    }
    refuse_head(conn, 408, "header_timeout", "the request head did not arrive in time", NULL, 0, NULL, 0);
}

static void on_body_timeout(h2o_timeout_entry_t *entry)
{
    gw_h1conn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, timer, entry);
    h2o_socket_read_stop(conn->sock);
    conn->body_wanted = 0;
    conn->notify_err = GW_BODY_TIMEOUT;
    conn->notify_piece = h2o_iovec_init(NULL, 0);
    conn->notify_final = 0;
    h2o_timeout_link(conn->ctx->loop, &conn->ctx->h2o.zero_timeout, &conn->body_notify);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    gw_h1conn_t *conn = sock->data;
    if (err != NULL) {
        close_conn(conn);
        return;
    }
    switch (conn->state) {
    case H1_HEAD: {
        size_t room = max_head(conn) > sock->input->size ? max_head(conn) - sock->input->size : 0;
        ssize_t n = read_some(conn, room != 0 ? room : 1);
        if (n == 0 || n == -1) {
            close_conn(conn);
            return;
        }
        if (n > 0)
            try_parse_head(conn);
    } break;
    case H1_REQUEST: {
        if (conn->body_wanted) {
            ssize_t n = read_some(conn, BODY_PIECE_MAX);
            if (n == 0 || n == -1) {
                close_conn(conn); /* the client went away mid-body */
                return;
            }
            if (n > 0)
                deliver_body(conn);
            return;
        }
        /* Watching: the client may close (it is gone) or pipeline its next requests; keep at most
         * one head's worth, then stop reading until this request is done. */
        size_t cap = max_head(conn);
        ssize_t n = read_some(conn, sock->input->size < cap ? cap - sock->input->size : 1);
        if (n == 0 || n == -1) {
            close_conn(conn);
            return;
        }
        if (sock->input->size >= cap)
            h2o_socket_read_stop(sock);
    } break;
    case H1_LINGER: {
        /* dropped as it comes, a bounded amount per turn of the loop */
        char sink[16384];
        ssize_t n = 0;
        for (int i = 0; i != 16 && (n = recv(h2o_socket_get_fd(sock), sink, sizeof(sink), 0)) > 0; ++i)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            close_conn(conn);
    } break;
    }
}

/* ---- the request's body ---- */

static void on_body_notify(h2o_timeout_entry_t *entry)
{
    gw_h1conn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, body_notify, entry);
    conn->body_cb(conn->body_data, conn->notify_piece, conn->notify_final, conn->notify_err);
}

static void lend_piece(gw_h1conn_t *conn, size_t len, int is_final)
{
    stop_timer(conn);
    h2o_socket_read_stop(conn->sock);
    conn->body_wanted = 0;
    conn->piece_out = 1;
    conn->piece_len = len;
    if (is_final)
        conn->body_done = 1;
    conn->notify_piece = h2o_iovec_init(conn->sock->input->bytes, len);
    conn->notify_final = is_final;
    conn->notify_err = GW_BODY_OK;
    h2o_timeout_link(conn->ctx->loop, &conn->ctx->h2o.zero_timeout, &conn->body_notify);
}

static void deliver_body(gw_h1conn_t *conn)
{
    h2o_buffer_t *in = conn->sock->input;
    if (conn->body_kind == GW_H1_BODY_LENGTH) {
        size_t avail = in->size < conn->body_left ? in->size : (size_t)conn->body_left;
        if (avail > BODY_PIECE_MAX)
            avail = BODY_PIECE_MAX;
        if (avail != 0 || conn->body_left == 0) {
            conn->body_left -= avail;
            lend_piece(conn, avail, conn->body_left == 0);
            return;
        }
    } else if (in->size != 0) {
        size_t len = in->size;
        ssize_t rest = gw_chunked_decode(&conn->chunked, in->bytes, &len);
        if (rest == -1) {
            stop_timer(conn);
            h2o_socket_read_stop(conn->sock);
            conn->body_wanted = 0;
            conn->notify_err = GW_BODY_MALFORMED;
            conn->notify_piece = h2o_iovec_init(NULL, 0);
            h2o_timeout_link(conn->ctx->loop, &conn->ctx->h2o.zero_timeout, &conn->body_notify);
            return;
        }
        in->size = len + (rest >= 0 ? (size_t)rest : 0);
        if (len != 0 || rest >= 0) {
            lend_piece(conn, len, rest >= 0);
            return;
        }
    }
    /* nothing yet: read, and give up after body_timeout of silence */
    start_timer(conn, &conn->ctx->body_timeout, on_body_timeout);
    h2o_socket_read_start(conn->sock, on_readable);
}

static void release_piece(h2o_req_t *req)
{
    gw_h1conn_t *conn = conn_of(req);
    if (!conn->piece_out)
        return;
    conn->piece_out = 0;
    if (conn->piece_len != 0)
        h2o_buffer_consume(&conn->sock->input, conn->piece_len);
    conn->piece_len = 0;
    if (conn->state == H1_REQUEST && conn->body_done && conn->sock->input->size < max_head(conn))
        h2o_socket_read_start(conn->sock, on_readable); /* watch for a hang-up again */
}

static void on_continue_written(h2o_socket_t *sock, const char *err)
{
    gw_h1conn_t *conn = sock->data;
    conn->writing = 0;
    if (err != NULL) {
        close_conn(conn);
        return;
    }
    deliver_body(conn);
}

static void read_body(h2o_req_t *req, gw_body_cb cb, void *data)
{
    gw_h1conn_t *conn = conn_of(req);
    release_piece(req);
    conn->body_cb = cb;
    conn->body_data = data;
    conn->body_wanted = 1;
    if (conn->expect_continue) {
        static const h2o_iovec_t res = {H2O_STRLIT("HTTP/1.1 100 Continue\r\n\r\n")};
        conn->expect_continue = 0;
        conn->writing = 1;
        h2o_socket_write(conn->sock, (h2o_iovec_t *)&res, 1, on_continue_written);
        return;
    }
    deliver_body(conn);
}

static int body_framing(h2o_req_t *req, int *chunked, uint64_t *content_length)
{
    gw_h1conn_t *conn = conn_of(req);
    *chunked = conn->body_kind == GW_H1_BODY_CHUNKED;
    *content_length = conn->body_length;
    return conn->body_kind != GW_H1_BODY_NONE;
}

/* ---- an upgrade (101): the socket leaves the connection ---- */

static void on_upgrade_written(h2o_socket_t *sock, const char *err)
{
    gw_h1conn_t *conn = sock->data;
    gw_upgraded_cb cb = conn->upgraded_cb;
    void *data = conn->upgraded_data;
    conn->writing = 0;
    if (err != NULL) {
        close_conn(conn); /* disposes the request */
        cb(data, NULL);
        return;
    }
    stop_timer(conn);
    if (h2o_timeout_is_linked(&conn->body_notify))
        h2o_timeout_unlink(&conn->body_notify);
    conn->state = H1_HEAD;
    h2o_dispose_request(&conn->req); /* the request is answered (its log line says 101) */
    h2o_linklist_unlink(&conn->link);
    h2o_socket_read_stop(sock);
    free(conn->error_response);
    free(conn);
    cb(data, sock);
}

static void upgrade(h2o_req_t *req, h2o_iovec_t head, gw_upgraded_cb cb, void *data)
{
    gw_h1conn_t *conn = conn_of(req);
    conn->upgraded_cb = cb;
    conn->upgraded_data = data;
    conn->head_sent = conn->writing = 1;
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    stop_timer(conn);
    h2o_socket_read_stop(conn->sock); /* what the client sends now is for the tunnel */
    h2o_socket_write(conn->sock, &head, 1, on_upgrade_written);
}

static const gw_client_conn_t client_conn = {body_framing, read_body, upgrade};

/* ---- the response ---- */

static void finish_request(gw_h1conn_t *conn);

static void on_write_complete(h2o_socket_t *sock, const char *err)
{
    gw_h1conn_t *conn = sock->data;
    conn->writing = 0;
    if (err != NULL || conn->write_error) {
        close_conn(conn);
        return;
    }
    if (conn->write_final)
        finish_request(conn);
    else
        h2o_proceed_response(&conn->req);
}

static int method_is_head(h2o_req_t *req)
{
    return req->input.method.len == 4 && memcmp(req->input.method.base, "HEAD", 4) == 0;
}

static h2o_iovec_t build_head(gw_h1conn_t *conn)
{
    h2o_req_t *req = &conn->req;
    int status = req->res.status;
    conn->res_no_body = method_is_head(req) || status == 204 || status == 304 || (status >= 100 && status < 200);
    int has_length = req->res.content_length != SIZE_MAX;
    conn->res_chunked = !conn->res_no_body && !has_length && req->version >= 0x101;
    int until_close = !conn->res_no_body && !has_length && !conn->res_chunked;
    conn->res_close = !req->http1_is_persistent || !conn->body_done || conn->ctx->draining || until_close;

    size_t cap = 128 + H2O_TIMESTR_RFC1123_LEN + strlen(req->res.reason);
    for (size_t i = 0; i != req->res.headers.size; ++i)
        cap += req->res.headers.entries[i].name->len + req->res.headers.entries[i].value.len + 4;
    char *buf = h2o_mem_alloc_pool(&req->pool, cap), *p = buf;
    p += sprintf(p, "HTTP/1.1 %d %s\r\n", status, req->res.reason);
    int has_date = 0;
    for (size_t i = 0; i != req->res.headers.size; ++i) {
        const h2o_header_t *h = &req->res.headers.entries[i];
        if (h->name == &H2O_TOKEN_DATE->buf)
            has_date = 1;
        memcpy(p, h->name->base, h->name->len);
        p += h->name->len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, h->value.base, h->value.len);
        p += h->value.len;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (!has_date) {
        h2o_timestamp_t ts;
        h2o_get_timestamp(&conn->ctx->h2o, &req->pool, &ts);
        p += sprintf(p, "date: %s\r\n", ts.str->rfc1123);
    }
    if (has_length && !(status >= 100 && status < 200) && status != 204)
        p += sprintf(p, "content-length: %zu\r\n", req->res.content_length);
    else if (conn->res_chunked)
        p += sprintf(p, "transfer-encoding: chunked\r\n");
    if (conn->res_close)
        p += sprintf(p, "connection: close\r\n");
    else if (req->version < 0x101)
        p += sprintf(p, "connection: keep-alive\r\n");
    *p++ = '\r';
    *p++ = '\n';
    return h2o_iovec_init(buf, (size_t)(p - buf));
}

static void do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    gw_h1conn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, ostr, self);
    (void)req;
    if (state == H2O_SEND_STATE_ERROR) {
        /* the body was cut: all that can be said is to close the connection, so the client sees
         * the response end early (a length that does not add up, or no last chunk) */
        conn->write_error = 1;
        if (!conn->writing)
            close_later(conn);
        return;
    }
    h2o_iovec_t vecs[bufcnt + 4];
    size_t n = 0, bytes = 0;
    if (!conn->head_sent) {
        conn->head_sent = 1;
        vecs[n++] = build_head(conn);
    }
    for (size_t i = 0; i != bufcnt; ++i)
        bytes += bufs[i].len;
    if (!conn->res_no_body) {
        if (conn->res_chunked && bytes != 0) {
            int len = snprintf(conn->chunk_line, sizeof(conn->chunk_line), "%zx\r\n", bytes);
            vecs[n++] = h2o_iovec_init(conn->chunk_line, (size_t)len);
        }
        for (size_t i = 0; i != bufcnt; ++i)
            if (bufs[i].len != 0)
                vecs[n++] = bufs[i];
        if (conn->res_chunked && bytes != 0)
            vecs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n"));
        if (conn->res_chunked && state == H2O_SEND_STATE_FINAL)
            vecs[n++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
        conn->req.bytes_sent += bytes;
    }
    conn->write_final = state == H2O_SEND_STATE_FINAL;
    conn->writing = 1;
    /* an empty write still completes through the loop, never inside this call */
    h2o_socket_write(conn->sock, vecs, n, on_write_complete);
}

/* ---- requests ---- */

static void start_head_wait(gw_h1conn_t *conn, int first)
{
    conn->state = H1_HEAD;
    conn->scan = conn->head_start = 0;
    conn->head_started_ns = 0;
    start_timer(conn, first ? &conn->ctx->header_timeout : &conn->ctx->idle_timeout, on_head_timeout);
    h2o_socket_read_start(conn->sock, on_readable);
    if (conn->sock->input->size != 0)
        try_parse_head(conn);
}

static void finish_request(gw_h1conn_t *conn)
{
    int reuse = !conn->res_close && conn->body_done && !conn->ctx->draining;
    stop_timer(conn);
    if (h2o_timeout_is_linked(&conn->body_notify))
        h2o_timeout_unlink(&conn->body_notify);
    conn->state = H1_HEAD; /* the request is gone from here on, whatever its dispose does */
    h2o_dispose_request(&conn->req);
    release_piece(&conn->req);
    if (!reuse) {
        /* closing with bytes unread would reset the connection, which can destroy the answer
         * before the client reads it: half-close and drain instead */
        linger(conn);
        return;
    }
    ++conn->served;
    start_head_wait(conn, 0);
}

/* Copies the values an h2o_req_t needs from the parsed head (which lives in the request's pool). */
static void fill_request(gw_h1conn_t *conn, const gw_h1_request_t *p, const gw_target_t *t)
{
    h2o_req_t *req = &conn->req;
    req->input.scheme = &H2O_URL_SCHEME_HTTP;
    req->input.method = h2o_iovec_init(p->method, p->method_len);
    if (t->origin == t->path && t->origin_len == t->path_len && t->query != NULL) {
        /* absolute form without a path ("http://h?q"): forward "/?q" */
        char *o = h2o_mem_alloc_pool(&req->pool, t->query_len + 2);
        o[0] = '/';
        o[1] = '?';
        memcpy(o + 2, t->query, t->query_len);
        req->input.path = h2o_iovec_init(o, t->query_len + 2);
    } else {
        req->input.path = h2o_iovec_init(t->origin, t->origin_len);
    }
    if (t->authority != NULL)
        req->input.authority = h2o_iovec_init(t->authority, t->authority_len);
    else if (p->host != NULL)
        req->input.authority = h2o_iovec_init(p->host, p->host_len);
    req->version = 0x100 | (p->minor_version != 0);
    h2o_vector_reserve(&req->pool, &req->headers, p->num_headers);
    for (size_t i = 0; i != p->num_headers; ++i) {
        const gw_h1_header_t *h = &p->headers[i];
        const h2o_token_t *token = h2o_lookup_token(h->name, h->name_len);
        if (token == H2O_TOKEN_HOST || token == H2O_TOKEN_CONTENT_LENGTH || token == H2O_TOKEN_TRANSFER_ENCODING ||
            token == H2O_TOKEN_EXPECT || token == H2O_TOKEN_UPGRADE)
            continue;
        if (token != NULL)
            h2o_add_header(&req->pool, &req->headers, token, NULL, h->value, h->value_len);
        else
            h2o_add_header_by_str(&req->pool, &req->headers, h->name, h->name_len, 0, NULL, h->value, h->value_len);
    }
    if (p->upgrade != NULL)
        req->upgrade = h2o_iovec_init(p->upgrade, p->upgrade_len);
    req->http1_is_persistent = p->keep_alive;
    req->scheme = req->input.scheme;
    req->method = req->input.method;
    req->authority = req->input.authority;
    req->path = req->input.path;
    req->path_normalized = req->path;
    const char *q = memchr(req->path.base, '?', req->path.len);
    req->query_at = q != NULL ? (size_t)(q - req->path.base) : SIZE_MAX;
    h2o_req_bind_conf(req, conn->ctx->public_hostconf, &conn->ctx->h1_pathconf);
}

static int authority_matches_host(const gw_target_t *t, const gw_h1_request_t *p)
{
    return p->host == NULL || (p->host_len == t->authority_len && strncasecmp(p->host, t->authority, t->authority_len) == 0);
}

static void start_request(gw_h1conn_t *conn, size_t head_end)
{
    gw_ctx_t *ctx = conn->ctx;
    h2o_req_t *req = &conn->req;
    size_t head_len = head_end - conn->head_start;

    h2o_init_request(req, &conn->super, NULL);
    req->_ostr_top = &conn->ostr;
    conn->head_sent = conn->writing = conn->write_final = conn->write_error = 0;
    conn->piece_out = conn->body_wanted = 0;
    char *head = h2o_mem_alloc_pool(&req->pool, head_len);
    memcpy(head, conn->sock->input->bytes + conn->head_start, head_len);
    h2o_buffer_consume(&conn->sock->input, head_end);

    gw_h1_request_t parsed;
    gw_target_t target;
    const char *why;
    int status = gw_h1_parse_request(head, head_len, &parsed, &why);
    if (status == 0 && gw_target_split(parsed.target, parsed.target_len, &target, &why) != 0)
        status = 400;
    if (status == 0 && target.authority != NULL && !authority_matches_host(&target, &parsed)) {
        why = "the request target names another host than Host";
        status = 400;
    }
    if (status == 0 && parsed.body == GW_H1_BODY_NONE && parsed.method_len == 7 && memcmp(parsed.method, "CONNECT", 7) == 0) {
        why = "CONNECT is not supported";
        status = 400;
    }
    if (status != 0) {
        /* log what could be read of the request line, never more than the head */
        int has_line = parsed.method != NULL && parsed.target != NULL;
        refuse_head(conn, status, "bad_request", why, has_line ? parsed.method : NULL, has_line ? parsed.method_len : 0,
                    has_line ? parsed.target : NULL, has_line ? parsed.target_len : 0);
        h2o_mem_clear_pool(&req->pool); /* the line was logged: the copy of the head can go */
        return;
    }

    conn->state = H1_REQUEST;
    conn->body_kind = parsed.body;
    conn->body_length = conn->body_left = parsed.content_length;
    conn->body_done = parsed.body == GW_H1_BODY_NONE || (parsed.body == GW_H1_BODY_LENGTH && parsed.content_length == 0);
    conn->expect_continue = parsed.expect_continue && !conn->body_done;
    memset(&conn->chunked, 0, sizeof(conn->chunked));
    fill_request(conn, &parsed, &target);
    stop_timer(conn);
    /* keep watching the socket (hang-up, pipelined bytes) while no body is asked for */
    if (conn->sock->input->size < max_head(conn))
        h2o_socket_read_start(conn->sock, on_readable);
    else
        h2o_socket_read_stop(conn->sock);
    gw_request_on_req(ctx, req, &client_conn);
}

static int is_h2_preface_prefix(const char *buf, size_t len)
{
    size_t n = len < sizeof(h2_preface) - 1 ? len : sizeof(h2_preface) - 1;
    return memcmp(buf, h2_preface, n) == 0;
}

static void hand_to_http2(gw_h1conn_t *conn)
{
    gw_ctx_t *ctx = conn->ctx;
    h2o_socket_t *sock = conn->sock;
    struct timeval connected_at = conn->super.connected_at;
    stop_timer(conn);
    h2o_socket_read_stop(sock);
    h2o_socket_dont_read(sock, 0);
    h2o_linklist_unlink(&conn->link);
    free(conn);
    h2o_http2_accept(&ctx->accept_ctx, sock, connected_at);
}

static void try_parse_head(gw_h1conn_t *conn)
{
    h2o_buffer_t *in = conn->sock->input;
    if (conn->head_started_ns == 0) {
        conn->head_started_ns = gw_now_ns();
        if (conn->served == 0 && is_h2_preface_prefix(in->bytes, in->size)) {
            if (in->size >= sizeof(h2_preface) - 1) {
                hand_to_http2(conn);
                return;
            }
            conn->head_started_ns = 0; /* not a head yet */
            return;
        }
        /* the first byte of a head: it now has header_timeout to complete */
        start_timer(conn, &conn->ctx->header_timeout, on_head_timeout);
    }
    ssize_t end = gw_h1_find_head_end(in->bytes, in->size, &conn->scan, 1, &conn->head_start);
    if (end < 0) {
        refuse_head(conn, 400, "bad_request", "line not ended by CRLF", NULL, 0, NULL, 0);
        return;
    }
    if (end == 0) {
        if (in->size >= max_head(conn))
            refuse_head(conn, 431, "bad_request", "the request head is larger than client.max_header_size", NULL, 0, NULL, 0);
        return;
    }
    if ((size_t)end - conn->head_start > max_head(conn)) {
        refuse_head(conn, 431, "bad_request", "the request head is larger than client.max_header_size", NULL, 0, NULL, 0);
        return;
    }
    start_request(conn, (size_t)end);
}

void gw_h1_accept(gw_ctx_t *ctx, h2o_socket_t *sock)
{
    gw_h1conn_t *conn = h2o_mem_alloc(sizeof(*conn));
    memset(conn, 0, offsetof(gw_h1conn_t, req));
    conn->super.ctx = &ctx->h2o;
    conn->super.hosts = ctx->globalconf.hosts;
    gettimeofday(&conn->super.connected_at, NULL);
    conn->super.id = ++ctx->next_conn_id;
    conn->super.callbacks = &callbacks;
    conn->ctx = ctx;
    conn->sock = sock;
    conn->ostr.do_send = do_send;
    conn->body_notify.cb = on_body_notify;
    sock->data = conn;
    h2o_linklist_insert(&ctx->h1_conns, &conn->link);
    h2o_socket_dont_read(sock, 1);
    start_head_wait(conn, 1);
}

void gw_h1_close_idle(gw_ctx_t *ctx)
{
    for (h2o_linklist_t *node = ctx->h1_conns.next, *next; node != &ctx->h1_conns; node = next) {
        next = node->next;
        gw_h1conn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_h1conn_t, link, node);
        if (conn->state == H1_HEAD && conn->sock->input->size == 0 && !conn->writing)
            close_conn(conn);
    }
}
