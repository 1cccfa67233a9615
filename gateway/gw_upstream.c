#include "gw_upstream.h"
#include <assert.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Pooled idle sockets are closed after this long unused: below uvicorn's default keep-alive
 * (5 s), so sluice drops a socket before the backend does and never writes into a half-closed
 * one. */
#define GW_POOL_IDLE_MS 4000

typedef struct st_gw_upconn_t {
    h2o_socket_t *sock;
    gw_upstream_t *upstream;
    h2o_linklist_t idle_link;
    h2o_timeout_entry_t idle_timer;
} gw_upconn_t;

static void acquire_socket(gw_exchange_t *ex);
static void on_readable(h2o_socket_t *sock, const char *err);

void gw_upstream_init(gw_upstream_t *up, const cfg_upstream_t *cfg, h2o_loop_t *loop, const struct sockaddr *addr,
                      socklen_t addrlen)
{
    memset(up, 0, sizeof(*up));
    up->cfg = cfg;
    up->loop = loop;
    memcpy(&up->addr, addr, addrlen);
    up->addrlen = addrlen;
    up->response_buffer = cfg->response_buffer;
    h2o_linklist_init_anchor(&up->idle);
    h2o_linklist_init_anchor(&up->waiting);
    h2o_timeout_init(loop, &up->connect_timeout, cfg->connect_timeout_ms);
    h2o_timeout_init(loop, &up->read_timeout, cfg->read_timeout_ms);
    h2o_timeout_init(loop, &up->idle_timeout, GW_POOL_IDLE_MS);
    h2o_timeout_init(loop, &up->immediate, 0);
}

static void close_conn(gw_upconn_t *conn)
{
    gw_upstream_t *up = conn->upstream;
    if (h2o_linklist_is_linked(&conn->idle_link)) {
        h2o_linklist_unlink(&conn->idle_link);
        --up->num_idle;
    }
    if (h2o_timeout_is_linked(&conn->idle_timer))
        h2o_timeout_unlink(&conn->idle_timer);
    h2o_socket_read_stop(conn->sock);
    h2o_socket_close(conn->sock);
    --up->num_open;
    free(conn);
}

/* A socket slot became available (closed or idle): the oldest waiting exchange takes it. */
static void serve_next_waiter(gw_upstream_t *up)
{
    if (h2o_linklist_is_empty(&up->waiting))
        return;
    if (up->num_idle == 0 && up->num_open >= up->cfg->max_connections)
        return;
    gw_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(gw_exchange_t, waiting_link, up->waiting.next);
    h2o_linklist_unlink(&ex->waiting_link);
    acquire_socket(ex);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    gw_upconn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_upconn_t, idle_timer, entry);
    gw_upstream_t *up = conn->upstream;
    close_conn(conn);
    serve_next_waiter(up);
}

/* Any event on an idle socket is the server closing it (or sending garbage): drop it. */
static void on_idle_readable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    gw_upconn_t *conn = sock->data;
    gw_upstream_t *up = conn->upstream;
    close_conn(conn);
    serve_next_waiter(up);
}

void gw_upstream_dispose(gw_upstream_t *up)
{
    while (!h2o_linklist_is_empty(&up->idle))
        close_conn(H2O_STRUCT_FROM_MEMBER(gw_upconn_t, idle_link, up->idle.next));
    h2o_timeout_dispose(up->loop, &up->connect_timeout);
    h2o_timeout_dispose(up->loop, &up->read_timeout);
    h2o_timeout_dispose(up->loop, &up->idle_timeout);
    h2o_timeout_dispose(up->loop, &up->immediate);
}

static void stop_timer(gw_exchange_t *ex)
{
    if (h2o_timeout_is_linked(&ex->timer))
        h2o_timeout_unlink(&ex->timer);
}

/* Ends the exchange's hold on its socket: back to the pool when reusable, else closed. */
static void release_conn(gw_exchange_t *ex, int reusable)
{
    gw_upconn_t *conn = ex->conn;
    gw_upstream_t *up = ex->upstream;
    stop_timer(ex);
    ex->conn = NULL;
    if (conn == NULL)
        return;
    if (reusable && ex->request_sent && !ex->writing && conn->sock->input->size == 0 && up->num_idle < up->cfg->keepalive) {
        conn->sock->data = conn;
        h2o_socket_read_start(conn->sock, on_idle_readable);
        h2o_linklist_insert(&up->idle, &conn->idle_link);
        ++up->num_idle;
        conn->idle_timer.cb = on_idle_timeout;
        h2o_timeout_link(up->loop, &up->idle_timeout, &conn->idle_timer);
    } else {
        close_conn(conn);
    }
    serve_next_waiter(up);
}

static void fail(gw_exchange_t *ex, gw_upstream_error_t kind)
{
    int before_head = ex->state == GW_EX_CONNECTING || ex->state == GW_EX_AWAITING_HEAD || ex->state == GW_EX_WAITING_FOR_SOCKET;
    release_conn(ex, 0);
    ex->state = GW_EX_DONE;
    ex->cb->on_error(ex, kind, before_head);
}

/* A reused keep-alive socket that fails before any byte of response may have been closed by the
 * server just as it was picked: an idempotent request whose body is not streamed (so it can be
 * sent again) is sent again, once, on a new socket. */
static int retry_on_fresh_socket(gw_exchange_t *ex)
{
    if (!ex->conn_reused || ex->retried || !ex->idempotent || ex->body_started || ex->state != GW_EX_AWAITING_HEAD)
        return 0;
    if (ex->conn->sock->input->size != 0)
        return 0;
    ex->retried = 1;
    ex->writing = 0;
    ex->request_sent = 0;
    release_conn(ex, 0);
    ex->conn_reused = 0;
    acquire_socket(ex);
    return 1;
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    gw_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(gw_exchange_t, timer, entry);
    fail(ex, ex->state == GW_EX_CONNECTING ? GW_UPERR_CONNECT_TIMEOUT : GW_UPERR_READ_TIMEOUT);
}

static void on_refused_at_once(h2o_timeout_entry_t *entry)
{
    gw_exchange_t *ex = H2O_STRUCT_FROM_MEMBER(gw_exchange_t, timer, entry);
    fail(ex, GW_UPERR_CONNECT);
}

/* read_timeout runs while the response is awaited or read; not while the request (a slow upload)
 * is still being sent, which client.body_timeout bounds. */
static void start_read_timer(gw_exchange_t *ex)
{
    stop_timer(ex);
    if (!ex->request_sent && !ex->body_stopped)
        return;
    ex->timer.cb = on_timeout;
    h2o_timeout_link(ex->upstream->loop, &ex->upstream->read_timeout, &ex->timer);
}

static int body_is_streamed(const gw_exchange_t *ex)
{
    return ex->body_mode == GW_EXBODY_STREAM_LENGTH || ex->body_mode == GW_EXBODY_STREAM_CHUNKED;
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    gw_exchange_t *ex = sock->data;
    ex->writing = 0;
    if (err != NULL) {
        /* The server may have answered and closed before reading all of the body (an early 413,
         * say); a response already in the buffer is still delivered by the reader. */
        if (ex->state == GW_EX_AWAITING_HEAD && retry_on_fresh_socket(ex))
            return;
        if (ex->state == GW_EX_AWAITING_HEAD && sock->input->size == 0)
            fail(ex, GW_UPERR_RESET);
        else
            ex->keepalive = 0;
        return;
    }
    if (ex->state == GW_EX_DONE)
        return;
    if (!body_is_streamed(ex) || ex->final_piece) {
        ex->request_sent = 1;
        if (ex->state == GW_EX_AWAITING_HEAD)
            start_read_timer(ex);
        return;
    }
    if (ex->body_stopped || ex->state != GW_EX_AWAITING_HEAD)
        return;
    ex->body_started = 1;
    ex->cb->on_body_wanted(ex);
}

void gw_exchange_send_body(gw_exchange_t *ex, h2o_iovec_t piece, int is_final)
{
    if (ex->state != GW_EX_AWAITING_HEAD || ex->body_stopped || ex->writing)
        return;
    size_t n = 0;
    if (ex->body_mode == GW_EXBODY_STREAM_CHUNKED && piece.len != 0) {
        int len = snprintf(ex->chunk_line, sizeof(ex->chunk_line), "%zx\r\n", piece.len);
        ex->wbufs[n++] = h2o_iovec_init(ex->chunk_line, (size_t)len);
    }
    if (piece.len != 0)
        ex->wbufs[n++] = piece;
    if (ex->body_mode == GW_EXBODY_STREAM_CHUNKED) {
        if (piece.len != 0)
            ex->wbufs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n"));
        if (is_final)
            ex->wbufs[n++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
    }
    ex->final_piece = is_final != 0;
    ex->writing = 1;
    h2o_socket_write(ex->conn->sock, ex->wbufs, n, on_write_done);
}

static void send_request(gw_exchange_t *ex)
{
    h2o_socket_t *sock = ex->conn->sock;
    size_t n = 0;
    sock->data = ex;
    ex->state = GW_EX_AWAITING_HEAD;
    ex->head_scan = 0;
    ex->wbufs[n++] = ex->head;
    if (ex->body_mode == GW_EXBODY_WHOLE && ex->body.len != 0)
        ex->wbufs[n++] = ex->body;
    ex->final_piece = 0;
    ex->writing = 1;
    h2o_socket_write(sock, ex->wbufs, n, on_write_done);
    h2o_socket_read_start(sock, on_readable);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    gw_exchange_t *ex = sock->data;
    if (err != NULL) {
        fail(ex, GW_UPERR_CONNECT);
        return;
    }
    stop_timer(ex);
    send_request(ex);
}

static void acquire_socket(gw_exchange_t *ex)
{
    gw_upstream_t *up = ex->upstream;

    if (up->num_idle != 0) {
        /* most recently used first: it is the least likely to have been closed by the server */
        gw_upconn_t *conn = H2O_STRUCT_FROM_MEMBER(gw_upconn_t, idle_link, up->idle.prev);
        h2o_linklist_unlink(&conn->idle_link);
        --up->num_idle;
        h2o_timeout_unlink(&conn->idle_timer);
        h2o_socket_read_stop(conn->sock);
        ex->conn = conn;
        ex->conn_reused = 1;
        send_request(ex);
        return;
    }
    if (up->num_open >= up->cfg->max_connections) {
        ex->state = GW_EX_WAITING_FOR_SOCKET;
        h2o_linklist_insert(&up->waiting, &ex->waiting_link);
        return;
    }

    h2o_socket_t *sock = h2o_socket_connect(up->loop, (struct sockaddr *)&up->addr, up->addrlen, on_connect);
    ex->state = GW_EX_CONNECTING;
    if (sock == NULL) {
        /* refused at once (typical of a unix socket without a listener): report it from the
         * loop, never from inside gw_exchange_start. */
        ex->timer.cb = on_refused_at_once;
        h2o_timeout_link(up->loop, &up->immediate, &ex->timer);
        return;
    }
    h2o_socket_dont_read(sock, 1);
    gw_upconn_t *conn = h2o_mem_alloc(sizeof(*conn));
    *conn = (gw_upconn_t){.sock = sock, .upstream = up};
    ++up->num_open;
    sock->data = ex;
    ex->conn = conn;
    ex->conn_reused = 0;
    ex->timer.cb = on_timeout;
    h2o_timeout_link(up->loop, &up->connect_timeout, &ex->timer);
}

/* Reads at most what keeps the buffer within response_buffer: 1 (data), 0 (EOF), -1 (error),
 * -2 (nothing yet). */
static int read_some(gw_exchange_t *ex)
{
    h2o_socket_t *sock = ex->conn->sock;
    size_t cap = ex->state == GW_EX_AWAITING_HEAD ? GW_UPSTREAM_MAX_HEAD + 1 : ex->upstream->response_buffer;
    size_t want = sock->input->size < cap ? cap - sock->input->size : 0;
    if (want == 0)
        return 1;
    if (want > 65536 && sock->input->size == 0)
        want = 65536; /* the buffer grows with the flow, not at once */
    h2o_iovec_t buf = h2o_buffer_reserve(&sock->input, want);
    if (buf.base == NULL)
        return -1;
    ssize_t n;
    while ((n = recv(h2o_socket_get_fd(sock), buf.base, want < buf.len ? want : buf.len, 0)) == -1 && errno == EINTR)
        ;
    if (n > 0) {
        sock->input->size += (size_t)n;
        return 1;
    }
    if (n == 0)
        return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
}

/* Delivers what the buffer holds of the body; pauses until gw_exchange_proceed(). */
static void deliver_body(gw_exchange_t *ex)
{
    h2o_buffer_t *in = ex->conn->sock->input;
    size_t avail = in->size;
    int is_final = 0;

    switch (ex->framing) {
    case GW_H1_BODY_LENGTH:
        if (avail >= ex->body_left) {
            if (avail > ex->body_left)
                ex->keepalive = 0; /* bytes beyond the declared length: the socket is not reusable */
            avail = (size_t)ex->body_left;
            is_final = 1;
        }
        ex->body_left -= avail;
        break;
    case GW_H1_BODY_CHUNKED: {
        size_t decoded = avail;
        ssize_t ret = gw_chunked_decode(&ex->chunked, in->bytes, &decoded);
        if (ret == -1) {
            fail(ex, GW_UPERR_BAD_RESPONSE);
            return;
        }
        if (ret >= 0) {
            is_final = 1;
            if (ret > 0)
                ex->keepalive = 0;
        }
        in->size = decoded + (ret > 0 ? (size_t)ret : 0);
        avail = decoded;
    } break;
    case GW_H1_BODY_UNTIL_CLOSE:
    case GW_H1_BODY_NONE:
        break;
    }

    if (avail == 0 && !is_final) {
        if (ex->framing == GW_H1_BODY_CHUNKED)
            in->size = 0;
        ex->state = GW_EX_READING_BODY;
        h2o_socket_read_start(ex->conn->sock, on_readable);
        start_read_timer(ex);
        return;
    }
    /* the client side decides when more may be read: stop reading the upstream meanwhile */
    stop_timer(ex);
    h2o_socket_read_stop(ex->conn->sock);
    ex->delivered = avail;
    ex->state = GW_EX_PAUSED;
    ex->final_delivered = is_final;
    ex->cb->on_body(ex, h2o_iovec_init(in->bytes, avail), is_final);
}

/* Returns 1 when a head was parsed and the body follows, 0 when more bytes are needed, -1 when the
 * exchange ended (failed, aborted or complete without a body). */
static int parse_head(gw_exchange_t *ex)
{
    h2o_socket_t *sock = ex->conn->sock;
    gw_h1_response_t res;
    const char *why;
    size_t unused = 0, head_len;

    for (;;) {
        ssize_t end = gw_h1_find_head_end(sock->input->bytes, sock->input->size, &ex->head_scan, 0, &unused);
        if (end == 0) {
            if (sock->input->size > GW_UPSTREAM_MAX_HEAD) {
                fail(ex, GW_UPERR_BAD_RESPONSE);
                return -1;
            }
            return 0;
        }
        if (end < 0 || end > GW_UPSTREAM_MAX_HEAD || gw_h1_parse_response(sock->input->bytes, (size_t)end, &res, &why) != 0) {
            fail(ex, GW_UPERR_BAD_RESPONSE);
            return -1;
        }
        if (res.status >= 100 && res.status <= 199 && res.status != 101) {
            /* informational (100 Continue, 103 Early Hints): not passed on */
            h2o_buffer_consume(&sock->input, (size_t)end);
            ex->head_scan = 0;
            continue;
        }
        if (res.status == 101 && !ex->upgrade) {
            fail(ex, GW_UPERR_BAD_RESPONSE); /* a protocol switch nobody asked for */
            return -1;
        }
        head_len = (size_t)end;
        break;
    }

    int reusable;
    ex->framing = gw_h1_response_framing(&res, ex->method_is_head, &reusable);
    ex->keepalive = reusable;
    ex->body_left = res.content_length;
    size_t content_length = res.has_content_length && !res.chunked && !res.other_coding ? (size_t)res.content_length : SIZE_MAX;
    int has_body = ex->framing != GW_H1_BODY_NONE && !(ex->framing == GW_H1_BODY_LENGTH && ex->body_left == 0);
    if (ex->framing == GW_H1_BODY_CHUNKED)
        memset(&ex->chunked, 0, sizeof(ex->chunked));
    if (!ex->request_sent) {
        /* answered before the whole request went out: nothing more is sent, and the socket
         * cannot carry another exchange */
        ex->body_stopped = 1;
        ex->keepalive = 0;
    }

    ex->state = GW_EX_READING_BODY;
    ex->head_len = head_len;
    int refused = ex->cb->on_head(ex, res.status, res.headers, res.num_headers, has_body, content_length);
    if (ex->conn == NULL)
        return -1; /* on_head took the socket (an upgrade): the exchange is over */
    /* only now: the headers point into the buffer, which consuming it all frees */
    h2o_buffer_consume(&sock->input, head_len);
    if (refused != 0) {
        release_conn(ex, 0);
        ex->state = GW_EX_DONE;
        return -1;
    }
    if (!has_body) {
        release_conn(ex, ex->keepalive && res.status != 101);
        ex->state = GW_EX_DONE;
        return -1;
    }
    return 1;
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    gw_exchange_t *ex = sock->data;
    int r = err != NULL ? -1 : read_some(ex);

    if (r == -2)
        return;
    if (r <= 0) {
        if (ex->state == GW_EX_AWAITING_HEAD) {
            if (sock->input->size == 0 && retry_on_fresh_socket(ex))
                return;
            fail(ex, GW_UPERR_RESET);
            return;
        }
        if (ex->framing == GW_H1_BODY_UNTIL_CLOSE && r == 0) {
            /* the body ends with the connection: whatever is buffered is the last piece */
            ex->keepalive = 0;
            stop_timer(ex);
            h2o_socket_read_stop(sock);
            ex->delivered = sock->input->size;
            ex->state = GW_EX_PAUSED;
            ex->final_delivered = 1;
            ex->cb->on_body(ex, h2o_iovec_init(sock->input->bytes, sock->input->size), 1);
            return;
        }
        /* closed mid-body (a length or chunked body cut short): the client must see it cut */
        fail(ex, GW_UPERR_RESET);
        return;
    }

    if (ex->state == GW_EX_AWAITING_HEAD) {
        int ret = parse_head(ex);
        if (ret <= 0) {
            if (ret == 0)
                start_read_timer(ex);
            return;
        }
    }
    if (sock->input->size == 0 && !(ex->framing == GW_H1_BODY_LENGTH && ex->body_left == 0)) {
        start_read_timer(ex);
        return;
    }
    deliver_body(ex);
}

void gw_exchange_proceed(gw_exchange_t *ex)
{
    assert(ex->state == GW_EX_PAUSED);
    h2o_socket_t *sock = ex->conn->sock;
    if (ex->final_delivered) {
        if (ex->framing == GW_H1_BODY_LENGTH || ex->framing == GW_H1_BODY_CHUNKED)
            h2o_buffer_consume(&sock->input, ex->delivered);
        release_conn(ex, ex->keepalive);
        ex->state = GW_EX_DONE;
        return;
    }
    h2o_buffer_consume(&sock->input, ex->delivered);
    ex->delivered = 0;
    ex->state = GW_EX_READING_BODY;
    if (sock->input->size != 0) {
        deliver_body(ex);
        return;
    }
    h2o_socket_read_start(sock, on_readable);
    start_read_timer(ex);
}

h2o_socket_t *gw_exchange_take_socket(gw_exchange_t *ex)
{
    gw_upconn_t *conn = ex->conn;
    if (conn == NULL || !ex->upgrade || ex->state != GW_EX_READING_BODY)
        return NULL;
    gw_upstream_t *up = ex->upstream;
    h2o_socket_t *sock = conn->sock;
    stop_timer(ex);
    h2o_socket_read_stop(sock);
    h2o_buffer_consume(&sock->input, ex->head_len); /* what follows the 101 head stays for the new owner */
    ex->conn = NULL;
    ex->state = GW_EX_DONE;
    free(conn);
    --up->num_open; /* no longer the pool's: websocket.max_connections bounds tunnels */
    serve_next_waiter(up);
    return sock;
}

void gw_exchange_start(gw_exchange_t *ex, gw_upstream_t *up, h2o_iovec_t head, gw_exbody_t body_mode, h2o_iovec_t body,
                       int method_is_head, int idempotent, int upgrade, const gw_exchange_callbacks_t *cb, void *data)
{
    memset(ex, 0, sizeof(*ex));
    ex->upstream = up;
    ex->cb = cb;
    ex->data = data;
    ex->head = head;
    ex->body_mode = body_mode;
    ex->body = body;
    ex->method_is_head = method_is_head != 0;
    ex->idempotent = idempotent != 0;
    ex->upgrade = upgrade != 0;
    acquire_socket(ex);
}

void gw_exchange_cancel(gw_exchange_t *ex)
{
    switch (ex->state) {
    case GW_EX_IDLE:
    case GW_EX_DONE:
        return;
    case GW_EX_WAITING_FOR_SOCKET:
        h2o_linklist_unlink(&ex->waiting_link);
        break;
    default:
        release_conn(ex, 0);
        break;
    }
    stop_timer(ex);
    ex->state = GW_EX_DONE;
}
