/*
 * A request body that its connection streams (HTTP/1: gw_h1conn keeps it in the socket until it
 * is asked for), as the request and the proxy see it. A request whose body h2o read whole
 * (HTTP/2: req->entity) has no reader.
 */
#ifndef SLUICE_GW_BODY_H
#define SLUICE_GW_BODY_H

#include <stdint.h>
#include "h2o.h"

typedef enum {
    GW_BODY_OK,
    GW_BODY_TIMEOUT,  /* the client stalled for client.body_timeout */
    GW_BODY_MALFORMED /* bad chunked framing */
} gw_body_error_t;

/* A piece of the body: valid until the next read() for this request, or its end. `is_final`
 * marks the last piece (it may be empty). After an error nothing more comes. */
typedef void (*gw_body_cb)(void *data, h2o_iovec_t piece, int is_final, gw_body_error_t err);

typedef struct st_gw_body_reader_t {
    /* 1 when the request has a body (then *chunked and *content_length say how the client frames
     * it), 0 when it has none. */
    int (*framing)(h2o_req_t *req, int *chunked, uint64_t *content_length);
    /* Gives back the previous piece and asks for the next one; `cb` is called later, never inside
     * this call. The first call sends `100 Continue` if the client asked for it. */
    void (*read)(h2o_req_t *req, gw_body_cb cb, void *data);
} gw_body_reader_t;

#endif
