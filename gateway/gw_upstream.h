/*
 * sluice's upstream leg: a keep-alive pool of HTTP/1.1 connections per upstream and one
 * request/response exchange at a time on each.
 *
 * Why not h2o's proxy or http1client: sluice needs a connect timeout distinct from the read
 * timeout, a pool that honours max_connections (excess exchanges wait, they do not open more
 * sockets), bounded response buffering with backpressure, request bodies streamed as the client
 * sends them, a strict response parser (gw_h1parse), and an abort that works in every state.
 *
 * Invariants:
 * - up->num_open counts every socket of this upstream: connecting, busy and idle. It never exceeds
 *   cfg->max_connections; an exchange that cannot get a socket waits in up->waiting (FIFO).
 * - sockets are in h2o's "don't read" mode: this module reads, at most `response_buffer` bytes
 *   of a response are buffered, and none while the consumer holds a piece (backpressure), so a
 *   slow client never makes sluice buffer more than that, in memory or on disk.
 * - a response head larger than GW_UPSTREAM_MAX_HEAD, a malformed one, a status outside
 *   100..599, or a 101 that was not asked for fails the exchange (bad_response).
 * - an idle socket is in up->idle, is polled (so a close by the server is noticed and the socket
 *   dropped) and has an idle timer; a busy socket belongs to exactly one exchange.
 * - a socket is returned to the pool only after a complete exchange (the whole request sent, the
 *   whole response read) whose framing was known and with nothing extra in its buffer; every
 *   other end closes it.
 * - after on_error or the final on_body, and after gw_exchange_cancel, the exchange holds nothing
 *   and makes no further callback. Callbacks are never made from within a call made to it.
 */
#ifndef SLUICE_GW_UPSTREAM_H
#define SLUICE_GW_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>
#include "h2o.h"
#include "cfg_config.h"
#include "gw_h1parse.h"

#define GW_UPSTREAM_MAX_HEAD 65536

typedef enum {
    GW_UPERR_CONNECT,         /* refused, unreachable, reset before the request was sent */
    GW_UPERR_CONNECT_TIMEOUT, /* connect_timeout passed */
    GW_UPERR_READ_TIMEOUT,    /* read_timeout of silence while waiting for or reading the response */
    GW_UPERR_RESET,           /* connection closed or reset after the request was sent */
    GW_UPERR_BAD_RESPONSE,    /* unparseable or oversized head, bad status, bad body framing */
    GW_UPERR_KIND_COUNT
} gw_upstream_error_t;

typedef struct st_gw_upstream_t {
    const cfg_upstream_t *cfg;
    h2o_loop_t *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t response_buffer; /* bytes of a response buffered at most */
    h2o_linklist_t idle;    /* gw_upconn_t, most recently used at the tail */
    h2o_linklist_t waiting; /* gw_exchange_t waiting for a socket */
    size_t num_idle;
    size_t num_open;
    h2o_timeout_t connect_timeout;
    h2o_timeout_t read_timeout;
    h2o_timeout_t idle_timeout;
    h2o_timeout_t immediate; /* 0 ms: failures found inside a call are reported from the loop */
} gw_upstream_t;

typedef struct st_gw_exchange_t gw_exchange_t;

typedef struct st_gw_exchange_callbacks_t {
    /* The response head (1xx other than an asked-for 101 are skipped). Header names are lower-case;
     * names and values point into the socket buffer and are valid only during the call.
     * content_length is the response's Content-Length (also for HEAD) or SIZE_MAX. Return 0 to go
     * on to the body, -1 to abort (the socket is closed; no further callback). When has_body is
     * 0 the exchange is complete on return. */
    int (*on_head)(gw_exchange_t *ex, int status, const gw_h1_header_t *headers, size_t num_headers, int has_body,
                   size_t content_length);
    /* A piece of the body, valid until gw_exchange_proceed(); nothing more arrives before then.
     * After the final piece (is_final) gw_exchange_proceed() returns the socket to the pool. */
    void (*on_body)(gw_exchange_t *ex, h2o_iovec_t data, int is_final);
    /* The exchange failed; it already let go of its socket. `before_head` tells whether a
     * response head had been delivered. */
    void (*on_error)(gw_exchange_t *ex, gw_upstream_error_t kind, int before_head);
    /* A streamed request body (GW_EXBODY_STREAM_*): the exchange can take the next piece; answer
     * with gw_exchange_send_body. Not called once the response has begun. */
    void (*on_body_wanted)(gw_exchange_t *ex);
} gw_exchange_callbacks_t;

typedef enum {
    GW_EX_IDLE,
    GW_EX_WAITING_FOR_SOCKET,
    GW_EX_CONNECTING,
    GW_EX_AWAITING_HEAD,
    GW_EX_READING_BODY,
    GW_EX_PAUSED, /* body piece delivered, waiting for gw_exchange_proceed */
    GW_EX_DONE
} gw_exchange_state_t;

typedef enum {
    GW_EXBODY_NONE,
    GW_EXBODY_WHOLE,          /* the body is given at the start */
    GW_EXBODY_STREAM_LENGTH,  /* pieces sent as they are (the head says content-length) */
    GW_EXBODY_STREAM_CHUNKED, /* pieces sent chunked (the head says transfer-encoding: chunked) */
} gw_exbody_t;

struct st_gw_upconn_t;

struct st_gw_exchange_t {
    gw_upstream_t *upstream;
    const gw_exchange_callbacks_t *cb;
    void *data;
    gw_exchange_state_t state;
    struct st_gw_upconn_t *conn;
    h2o_linklist_t waiting_link;
    h2o_timeout_entry_t timer;
    h2o_iovec_t head;
    h2o_iovec_t body; /* GW_EXBODY_WHOLE */
    gw_exbody_t body_mode;
    unsigned method_is_head : 1;
    unsigned idempotent : 1;
    unsigned upgrade : 1; /* a 101 was asked for */
    size_t head_len;      /* of the response head being delivered (on_head) */
    unsigned conn_reused : 1;
    unsigned retried : 1;
    unsigned keepalive : 1;
    unsigned final_delivered : 1;
    unsigned writing : 1;
    unsigned request_sent : 1; /* the whole request (head and body) is written */
    unsigned body_started : 1; /* a piece of a streamed body was asked for: no retry any more */
    unsigned body_stopped : 1; /* the response began before the body was all sent: send no more */
    unsigned final_piece : 1;  /* the write in flight carries the last piece */
    gw_h1_body_t framing;
    uint64_t body_left;
    size_t head_scan;
    size_t delivered; /* bytes of the socket buffer handed to on_body and not yet consumed */
    gw_chunked_t chunked;
    char chunk_line[24];
    h2o_iovec_t wbufs[4];
};

/* Prepares an upstream; addr must be a resolved address (TCP or AF_UNIX). Timeouts come from cfg. */
void gw_upstream_init(gw_upstream_t *up, const cfg_upstream_t *cfg, h2o_loop_t *loop, const struct sockaddr *addr,
                      socklen_t addrlen);
/* Closes idle sockets. Busy ones belong to exchanges, which must be cancelled first. */
void gw_upstream_dispose(gw_upstream_t *up);

/* Starts sending `head` (a complete HTTP/1.1 request head) upstream, then the body: `body` now
 * (GW_EXBODY_WHOLE), or pieces asked for with on_body_wanted (GW_EXBODY_STREAM_*). The buffers
 * must stay valid until the exchange ends. `upgrade`: the head asks for a 101. Callbacks are
 * never made from within this call. */
void gw_exchange_start(gw_exchange_t *ex, gw_upstream_t *up, h2o_iovec_t head, gw_exbody_t body_mode, h2o_iovec_t body,
                       int method_is_head, int idempotent, int upgrade, const gw_exchange_callbacks_t *cb, void *data);
/* The next piece of a streamed body (after on_body_wanted), valid until the next on_body_wanted
 * or the end of the exchange; `is_final` for the last one (it may be empty). Ignored once the
 * response has begun. */
void gw_exchange_send_body(gw_exchange_t *ex, h2o_iovec_t piece, int is_final);
/* The consumer is done with the last body piece: read on, or finish after the final one. */
void gw_exchange_proceed(gw_exchange_t *ex);
/* During on_head of a 101 the exchange asked for: ends the exchange and gives its socket away
 * (reading stopped, the 101 head consumed, any bytes after it left in sock->input); the caller
 * owns and closes it. NULL in any other state. */
h2o_socket_t *gw_exchange_take_socket(gw_exchange_t *ex);
/* Aborts in any state; the socket (if any) is closed, never pooled. No callback follows. */
void gw_exchange_cancel(gw_exchange_t *ex);
static inline int gw_exchange_is_active(const gw_exchange_t *ex)
{
    return ex->state != GW_EX_IDLE && ex->state != GW_EX_DONE;
}

#endif
