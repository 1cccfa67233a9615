/*
 * sluice's upstream leg: a keep-alive pool of HTTP/1.1 connections per upstream and one
 * request/response exchange at a time on each.
 *
 * Why not h2o's proxy or http1client: sluice needs a connect timeout distinct from the read
 * timeout, a pool that honours max_connections (excess exchanges wait, they do not open more
 * sockets), response streaming with backpressure (the upstream socket stops being read while the
 * client has not taken the last piece) and an abort that works in every state.
 *
 * Invariants:
 * - up->num_open counts every socket of this upstream: connecting, busy and idle. It never exceeds
 *   cfg->max_connections; an exchange that cannot get a socket waits in up->waiting (FIFO).
 * - an idle socket is in up->idle, is read (so a close by the server is noticed and the socket
 *   dropped) and has an idle timer; a busy socket belongs to exactly one exchange.
 * - a socket is returned to the pool only after a complete response whose framing was known and
 *   with nothing extra in its buffer; every other end closes it.
 * - after on_error or the final on_body, and after gw_exchange_cancel, the exchange holds nothing
 *   and makes no further callback.
 */
#ifndef SLUICE_GW_UPSTREAM_H
#define SLUICE_GW_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>
#include "h2o.h"
#include "cfg_config.h"
#include "gw_phr.h"

typedef enum {
    GW_UPERR_CONNECT,         /* refused, unreachable, reset before the request was sent */
    GW_UPERR_CONNECT_TIMEOUT, /* connect_timeout passed */
    GW_UPERR_READ_TIMEOUT,    /* read_timeout of silence while waiting for or reading the response */
    GW_UPERR_RESET,           /* connection closed or reset after the request was sent */
    GW_UPERR_BAD_RESPONSE,    /* unparseable head or body framing */
    GW_UPERR_KIND_COUNT
} gw_upstream_error_t;

extern const char *const gw_upstream_error_names[GW_UPERR_KIND_COUNT];

typedef struct st_gw_upstream_t {
    const cfg_upstream_t *cfg;
    h2o_loop_t *loop;
    struct sockaddr_storage addr;
    socklen_t addrlen;
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
    /* The response head. Header names and values point into the socket buffer and are valid only
     * during the call. content_length is SIZE_MAX when unknown. Return 0 to go on to the body,
     * -1 to abort (the socket is closed; no further callback). When has_body is 0 the exchange is
     * complete on return. */
    int (*on_head)(gw_exchange_t *ex, int status, const struct phr_header *headers, size_t num_headers, int has_body,
                   size_t content_length);
    /* A piece of the body, valid until gw_exchange_proceed(); nothing more arrives before then.
     * After the final piece (is_final) gw_exchange_proceed() returns the socket to the pool. */
    void (*on_body)(gw_exchange_t *ex, h2o_iovec_t data, int is_final);
    /* The exchange failed; it already let go of its socket. `before_head` tells whether a
     * response head had been delivered. */
    void (*on_error)(gw_exchange_t *ex, gw_upstream_error_t kind, int before_head);
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

struct st_gw_upconn_t;

struct st_gw_exchange_t {
    gw_upstream_t *upstream;
    const gw_exchange_callbacks_t *cb;
    void *data;
    gw_exchange_state_t state;
    struct st_gw_upconn_t *conn;
    h2o_linklist_t waiting_link;
    h2o_timeout_entry_t timer;
    h2o_iovec_t reqbufs[2]; /* head, body */
    size_t num_reqbufs;
    unsigned method_is_head : 1;
    unsigned idempotent : 1;
    unsigned conn_reused : 1;
    unsigned retried : 1;
    unsigned keepalive : 1;
    unsigned final_delivered : 1;
    enum { GW_BODY_NONE, GW_BODY_LENGTH, GW_BODY_CHUNKED, GW_BODY_UNTIL_CLOSE } framing;
    size_t body_left;
    size_t delivered; /* bytes of the socket buffer handed to on_body and not yet consumed */
    struct phr_chunked_decoder chunked;
};

/* Prepares an upstream; addr must be a resolved address (TCP or AF_UNIX). Timeouts come from cfg. */
void gw_upstream_init(gw_upstream_t *up, const cfg_upstream_t *cfg, h2o_loop_t *loop, const struct sockaddr *addr,
                      socklen_t addrlen);
/* Closes idle sockets. Busy ones belong to exchanges, which must be cancelled first. */
void gw_upstream_dispose(gw_upstream_t *up);

/* Starts sending `head` (a complete HTTP/1.1 request head) and `body` (may be empty) upstream.
 * Both buffers must stay valid until the exchange ends. Callbacks are never made from within
 * this call. */
void gw_exchange_start(gw_exchange_t *ex, gw_upstream_t *up, h2o_iovec_t head, h2o_iovec_t body, int method_is_head, int idempotent,
                       const gw_exchange_callbacks_t *cb, void *data);
/* The consumer is done with the last body piece: read on, or finish after the final one. */
void gw_exchange_proceed(gw_exchange_t *ex);
/* Aborts in any state; the socket (if any) is closed, never pooled. No callback follows. */
void gw_exchange_cancel(gw_exchange_t *ex);
static inline int gw_exchange_is_active(const gw_exchange_t *ex)
{
    return ex->state != GW_EX_IDLE && ex->state != GW_EX_DONE;
}

#endif
