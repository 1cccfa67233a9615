/*
 * One client request's life in the gateway: route, admission, upstream exchange, response.
 *
 * The gw_request_t lives in the h2o request's pool, allocated with a dispose callback; that
 * callback is the single place where whatever the request still holds (timers, a waiting-room
 * place, a semaphore slot, an upstream exchange) is let go, so every exit (response complete,
 * client gone, timeout, upstream error, shutdown) releases exactly once.
 */
#ifndef SLUICE_GW_REQUEST_H
#define SLUICE_GW_REQUEST_H

#include <netinet/in.h>
#include "gw_ctx.h"

typedef enum {
    GW_REQ_ADMISSION, /* waiting for a token or a slot */
    GW_REQ_UPSTREAM,  /* exchange started, no response head yet */
    GW_REQ_STREAMING, /* response head sent to the client, body flowing */
    GW_REQ_RESPONDED  /* sluice answered itself, or the response is complete */
} gw_request_state_t;

typedef struct st_gw_request_t {
    h2o_req_t *req;
    gw_ctx_t *ctx;
    gw_generation_t *gen; /* the config the request runs under (a reference) */
    gw_route_rt_t *route; /* NULL when no route matched */
    gw_request_state_t state;
    gw_admission_decision_t decision;
    unsigned has_decision : 1;
    unsigned in_flight_counted : 1;
    unsigned h2o_busy : 1;      /* h2o_send called, generator.proceed not yet */
    unsigned piece_in_h2o : 1;  /* the exchange's current body piece was handed to h2o */
    unsigned piece_pending : 1; /* a body piece waits for h2o to be ready */
    unsigned final_pending : 1;
    unsigned error_pending : 1;
    unsigned head_flushed : 1;
    unsigned peer_trusted : 1; /* the peer is one of client.trusted_proxies */
    unsigned cut : 1;          /* the response was cut short after its head: cut_reason says why */
    gw_cut_reason_t cut_reason;

    uint64_t arrived_ns;
    uint64_t admitted_ns;
    uint64_t upstream_started_ns;
    uint64_t upstream_head_ns;

    h2o_iovec_t request_id;
    char request_id_buf[32];
    char client_ip[INET6_ADDRSTRLEN];     /* the peer */
    char client_key_ip[INET6_ADDRSTRLEN]; /* the client per trusted_proxies: keys and logs */
    h2o_iovec_t xff;                      /* the X-Forwarded-For lines received, joined */
    h2o_iovec_t route_path;               /* the normalised path routing uses (gw_path) */
    h2o_iovec_t host;                     /* Host / :authority as received, NULL when absent */
    uint64_t body_bytes;                  /* of a streamed body, so far */

    h2o_generator_t generator;
    gw_exchange_t exchange;
    h2o_iovec_t pending_piece;
    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t flush_head;
    h2o_timeout_entry_t deferred_start; /* HTTP/2: admission starts one turn of the loop later */

    void *admission; /* gw_admission's per-request state, in the same pool */
    h2o_linklist_t live_link;
} gw_request_t;

/* The h2o handler of the public listener. */
int gw_proxy_on_req(gw_ctx_t *ctx, h2o_req_t *req);

/* Called by admission when the request may go upstream now. */
void gw_proxy_start_upstream(gw_request_t *r);

/* Answers with sluice's JSON error (DESIGN.md) and records the admission decision if any.
 * `retry_after_s` > 0 adds Retry-After. Safe only before a response was started. */
void gw_proxy_respond_error(gw_request_t *r, int status, const char *code, const char *message, uint64_t retry_after_s);

/* End of a drain: every request still waiting for admission gets 503 (`queue_timeout`). */
void gw_proxy_shed_waiting(gw_ctx_t *ctx);

/* The value of a request field: every line of it joined in order with ", " (RFC 9110 section
 * 5.3: a proxy that appends its own X-Forwarded-For line counts as much as one that extends the
 * last), in the request's pool; {NULL, 0} when the request has no such field. `name` lower-case. */
h2o_iovec_t gw_request_header(h2o_req_t *req, const char *name, size_t name_len);

/* Records what admission decided for the metrics and the access log (the last call wins). */
void gw_request_set_decision(gw_request_t *r, gw_admission_decision_t decision);

#endif
