/*
 * One client request's life in the gateway: entry (checks, route), its deadline, admission, the
 * upstream leg (gw_proxy), the answer, and its end.
 *
 * The gw_request_t is heap memory tied to the h2o request by a dispose callback of its pool. When
 * the h2o request ends (response complete, client gone, connection closed, HTTP/2 reset), the
 * gw_request_t either ends too, or, when a concurrency limit has hold_aborted and the upstream is
 * still working on a request it fully received, is held (GW_REQ_HELD): the client has its answer,
 * the exchange runs on (its response dropped) and the slots stay taken until it ends or
 * hold_aborted passes. Whatever ends it, gw_request_end is the one place where the slots and
 * everything else are let go, exactly once (its state says what is left).
 */
#ifndef SLUICE_GW_REQUEST_H
#define SLUICE_GW_REQUEST_H

#include <netinet/in.h>
#include "gw_admission.h"
#include "gw_arena.h"
#include "gw_clientconn.h"
#include "gw_ctx.h"
#include "gw_keys.h"
#include "gw_proxy.h"

typedef enum {
    GW_REQ_ROUTING,      /* checks and route */
    GW_REQ_READING_BODY, /* its route keys limits on the body (json:): reading it first */
    GW_REQ_ADMISSION,    /* waiting for a token or a slot */
    GW_REQ_UPSTREAM,     /* exchange started, no response head yet */
    GW_REQ_STREAMING,    /* response head sent to the client, body flowing */
    GW_REQ_RESPONDED,    /* the client has its answer (sluice's own, or the whole response) */
    GW_REQ_HELD,         /* the client is gone or answered; the exchange runs on holding slots */
    GW_REQ_DONE          /* ended: nothing left */
} gw_request_state_t;

struct st_gw_request_t {
    h2o_req_t *req; /* NULL once the h2o request ended */
    gw_ctx_t *ctx;
    gw_generation_t *gen; /* the config the request runs under (a reference) */
    gw_route_rt_t *route; /* NULL when no route matched */
    gw_request_state_t state;
    gw_admission_decision_t decision;
    unsigned peer_trusted : 1; /* the peer is one of client.trusted_proxies */
    unsigned in_flight : 1;    /* counted in sluice_in_flight (its exchange runs) */
    unsigned aborted : 1;      /* counted in sluice_aborted_in_flight */
    unsigned cut : 1;          /* the response was cut short after its head: cut_reason says why */
    gw_cut_reason_t cut_reason;
    int status; /* what the client was answered (0: nothing yet) */

    uint64_t arrived_ns;
    uint64_t admitted_ns;

    h2o_iovec_t request_id;
    char request_id_buf[32];
    char client_ip[INET6_ADDRSTRLEN];     /* the peer */
    char client_key_ip[INET6_ADDRSTRLEN]; /* the client per trusted_proxies: keys and logs */
    h2o_iovec_t xff;                      /* the X-Forwarded-For lines received, joined */
    h2o_iovec_t route_path;               /* the normalised path routing uses (gw_path) */
    h2o_iovec_t host;                     /* Host / :authority as received, NULL when absent */
    const gw_client_conn_t *client;       /* its HTTP/1.1 connection's services; NULL: HTTP/2 */
    unsigned websocket : 1;               /* an Upgrade: websocket request its route tunnels */
    unsigned ws_reserved : 1;             /* counted in the route's websocket connections */
    unsigned breaker_ticket_out : 1;      /* let through by the route's breaker: its outcome is owed */
    unsigned prefetched : 1;              /* the body's start was read before admission (json: keys) */
    unsigned prefetch_final : 1;          /* ... and it is the whole body */
    unsigned prefetch_sent : 1;           /* ... and went upstream */
    h2o_iovec_t prefetch;                 /* in the arena */
    pol_breaker_ticket_t breaker_ticket;
    gw_keyval_t breaker_key;
    uint64_t body_bytes; /* of a streamed body, so far */

    gw_arena_t arena; /* keys and holds: they may outlive req */
    gw_keysrc_t keys;
    gw_admit_t admit;
    gw_proxy_t proxy;

    h2o_timeout_entry_t deadline;
    h2o_timeout_entry_t deferred_start; /* HTTP/2: admission starts one turn of the loop later */
    gw_timer_t hold_timer;              /* GW_REQ_HELD: hold_aborted */
    h2o_linklist_t live_link;           /* ctx->live_list */
};

/* A request of the public listener; `client`: what its HTTP/1.1 connection offers (streamed body,
 * upgrade), NULL over HTTP/2 (h2o read the body whole into req->entity). */
int gw_request_on_req(gw_ctx_t *ctx, h2o_req_t *req, const gw_client_conn_t *client);

/* Answers with sluice's JSON error (DESIGN.md). `retry_after_s` > 0 adds Retry-After. Only while
 * the client has no response yet. */
void gw_request_respond_error(gw_request_t *r, int status, const char *code, const char *message, uint64_t retry_after_s);

/* End of a drain: every request still waiting for admission gets 503 (`queue_timeout`). */
void gw_request_shed_waiting(gw_ctx_t *ctx);

/* The value of a request field: every line of it joined in order with ", " (RFC 9110 section
 * 5.3: a proxy that appends its own X-Forwarded-For line counts as much as one that extends the
 * last), or with "; " for cookie (RFC 9113 section 8.2.3, as gw_reqhead sends it upstream), in
 * the request's pool; {NULL, 0} when the request has no such field. `name` lower-case.
 * *lines (may be NULL) receives how many lines there were. */
h2o_iovec_t gw_request_header(h2o_req_t *req, const char *name, size_t name_len, int *lines);

#endif
