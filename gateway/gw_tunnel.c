#include "gw_tunnel.h"

#include <errno.h>
#include <sys/socket.h>

/* One direction: bytes read from `from` are written to `to`, one piece at a time. The piece is
 * the whole of from->input, which is not read into while its write is in flight. */
typedef struct st_gw_pipe_t {
    h2o_socket_t *from, *to;
    size_t piece;
    uint64_t bytes;
    unsigned writing : 1;
    unsigned eof : 1;  /* `from` has closed its side */
    unsigned done : 1; /* ... and all of it was written, and `to` half-closed */
} gw_pipe_t;

struct st_gw_tunnel_t {
    gw_pipe_t up;   /* client -> upstream */
    gw_pipe_t down; /* upstream -> client */
    gw_timer_wheel_t *wheel;
    uint64_t idle_ms;
    gw_timer_t idle;
    gw_tunnel_on_close on_close;
    void *data;
};

static void on_client_readable(h2o_socket_t *sock, const char *err);
static void on_upstream_readable(h2o_socket_t *sock, const char *err);

void gw_tunnel_close(gw_tunnel_t *t)
{
    gw_timer_stop(&t->idle);
    h2o_socket_read_stop(t->up.from);
    h2o_socket_read_stop(t->down.from);
    h2o_socket_close(t->up.from);
    h2o_socket_close(t->down.from);
    t->on_close(t, t->data, t->up.bytes, t->down.bytes);
    free(t);
}

static void on_idle(gw_timer_t *timer)
{
    gw_tunnel_close(H2O_STRUCT_FROM_MEMBER(gw_tunnel_t, idle, timer));
}

static void touch(gw_tunnel_t *t)
{
    uint64_t ms = t->idle_ms;
    if ((t->up.done || t->down.done) && ms > GW_TUNNEL_HALF_CLOSED_MS)
        ms = GW_TUNNEL_HALF_CLOSED_MS;
    gw_timer_start(t->wheel, &t->idle, ms, on_idle);
}

static gw_pipe_t *pipe_from(gw_tunnel_t *t, h2o_socket_t *from)
{
    return from == t->up.from ? &t->up : &t->down;
}

static void on_written(h2o_socket_t *sock, const char *err);

/* Moves what `p` can move now; returns -1 when the tunnel was closed. */
static int pump(gw_tunnel_t *t, gw_pipe_t *p)
{
    if (p->writing || p->done)
        return 0;
    if (p->from->input->size != 0) {
        p->piece = p->from->input->size;
        p->writing = 1;
        h2o_socket_read_stop(p->from);
        h2o_iovec_t buf = h2o_iovec_init(p->from->input->bytes, p->piece);
        h2o_socket_write(p->to, &buf, 1, on_written);
        return 0;
    }
    if (p->eof) {
        /* the sender closed its side: so does sluice towards the receiver, which may still answer
         * (a WebSocket close handshake) on the other direction */
        shutdown(h2o_socket_get_fd(p->to), SHUT_WR);
        p->done = 1;
        h2o_socket_read_stop(p->from);
        if (t->up.done && t->down.done) {
            gw_tunnel_close(t);
            return -1;
        }
        touch(t); /* half-closed from now on: the other side gets a short while to end too */
        return 0;
    }
    h2o_socket_read_start(p->from, p->from == t->up.from ? on_client_readable : on_upstream_readable);
    return 0;
}

/* Both ends of a socket share its write callback: the pipe writing to `sock` is the one whose
 * `to` it is. */
static void on_written(h2o_socket_t *sock, const char *err)
{
    gw_tunnel_t *t = sock->data;
    gw_pipe_t *p = sock == t->up.to ? &t->up : &t->down;
    p->writing = 0;
    if (err != NULL) {
        gw_tunnel_close(t);
        return;
    }
    h2o_buffer_consume(&p->from->input, p->piece);
    p->bytes += p->piece;
    p->piece = 0;
    touch(t);
    pump(t, p);
}

static void on_readable(gw_tunnel_t *t, h2o_socket_t *sock, const char *err)
{
    gw_pipe_t *p = pipe_from(t, sock);
    if (err != NULL) {
        gw_tunnel_close(t);
        return;
    }
    h2o_iovec_t buf = h2o_buffer_reserve(&sock->input, GW_TUNNEL_PIECE);
    if (buf.base == NULL) {
        gw_tunnel_close(t);
        return;
    }
    ssize_t n;
    while ((n = recv(h2o_socket_get_fd(sock), buf.base, buf.len < GW_TUNNEL_PIECE ? buf.len : GW_TUNNEL_PIECE, 0)) == -1 &&
           errno == EINTR)
        ;
    if (n > 0) {
        sock->input->size += (size_t)n;
        touch(t);
    } else if (n == 0) {
        p->eof = 1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
    } else {
        gw_tunnel_close(t);
        return;
    }
    pump(t, p);
}

static void on_client_readable(h2o_socket_t *sock, const char *err)
{
    on_readable(sock->data, sock, err);
}

static void on_upstream_readable(h2o_socket_t *sock, const char *err)
{
    on_readable(sock->data, sock, err);
}

gw_tunnel_t *gw_tunnel_start(gw_timer_wheel_t *wheel, h2o_socket_t *client, h2o_socket_t *upstream, uint64_t idle_ms,
                             gw_tunnel_on_close on_close, void *data)
{
    gw_tunnel_t *t = h2o_mem_alloc(sizeof(*t));
    *t = (gw_tunnel_t){.up = {.from = client, .to = upstream},
                       .down = {.from = upstream, .to = client},
                       .wheel = wheel,
                       .idle_ms = idle_ms,
                       .on_close = on_close,
                       .data = data};
    client->data = upstream->data = t;
    h2o_socket_dont_read(client, 1);
    h2o_socket_dont_read(upstream, 1);
    touch(t);
    if (pump(t, &t->up) == 0)
        pump(t, &t->down);
    return t;
}
