/*
 * What a request's client connection does for it beyond h2o's request and response: an HTTP/1.1
 * connection (gw_h1conn) streams the request body when asked (it stays in the socket until
 * then), and can hand its socket over after a 101 (a WebSocket). A request whose connection
 * offers neither (HTTP/2: h2o read the body whole into req->entity) has no gw_client_conn_t.
 */
#ifndef SLUICE_GW_CLIENTCONN_H
#define SLUICE_GW_CLIENTCONN_H

#include <stdint.h>
#include "h2o.h"

typedef enum {
    GW_BODY_OK,
    GW_BODY_TIMEOUT,  /* the client stalled for client.body_timeout */
    GW_BODY_MALFORMED /* bad chunked framing */
} gw_body_error_t;

/* A piece of the body: valid until the next read_body() for this request, or its end. `is_final`
 * marks the last piece (it may be empty). After an error nothing more comes. */
typedef void (*gw_body_cb)(void *data, h2o_iovec_t piece, int is_final, gw_body_error_t err);

/* The connection's socket after the 101 head went out (bytes the client sent after its request
 * are in sock->input), or NULL when the head could not be written (the connection is closed). */
typedef void (*gw_upgraded_cb)(void *data, h2o_socket_t *sock);

typedef struct st_gw_client_conn_t {
    /* 1 when the request has a body (then *chunked and *content_length say how the client frames
     * it), 0 when it has none. */
    int (*framing)(h2o_req_t *req, int *chunked, uint64_t *content_length);
    /* Gives back the previous piece and asks for the next one; `cb` is called later, never inside
     * this call. The first call sends `100 Continue` if the client asked for it. */
    void (*read_body)(h2o_req_t *req, gw_body_cb cb, void *data);
    /* Writes `head` (a complete 101 response head) as the request's answer, ends the request (its
     * pool is disposed: `req` is gone once this returns to the loop) and gives the socket to `cb`,
     * always from the loop. */
    void (*upgrade)(h2o_req_t *req, h2o_iovec_t head, gw_upgraded_cb cb, void *data);
} gw_client_conn_t;

#endif
