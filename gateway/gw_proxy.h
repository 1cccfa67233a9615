/*
 * The upstream leg of an admitted request: builds the head sent upstream (gw_reqhead), streams a
 * request body from an HTTP/1 client (gw_h1conn), runs the exchange (gw_upstream) and streams the
 * response to the client with backpressure (one piece at a time through h2o). It knows nothing of
 * admission: when the exchange ends, however it ends, it calls the `done` callback its caller
 * gave, once, with how it went (gw_sample_t); the caller lets go of the slots then. Errors the
 * client must hear of go through the caller's `respond_error`.
 *
 * A request whose client is gone (`req` NULL: hold_aborted) keeps its exchange running: the
 * response is read and dropped, so the upstream connection and the slots are let go only when
 * the application is really done.
 */
#ifndef SLUICE_GW_PROXY_H
#define SLUICE_GW_PROXY_H

#include "h2o.h"
#include "gw_limiter.h"
#include "gw_upstream.h"

typedef struct st_gw_request_t gw_request_t;

/* How an exchange ended, as far as the upstream's health goes (gw_sample_t). */
typedef enum {
    GW_VERDICT_OK,       /* it answered (a 5xx status makes it FAILED) */
    GW_VERDICT_FAILED,   /* it failed or was too slow */
    GW_VERDICT_ABANDONED /* cut for the client's sake: says nothing of the upstream */
} gw_verdict_t;

typedef enum {
    GW_PIPE_NONE,  /* nothing waits for h2o */
    GW_PIPE_PIECE, /* a body piece waits for h2o to be ready */
    GW_PIPE_FINAL, /* the last piece waits */
    GW_PIPE_ERROR  /* a cut waits */
} gw_pipe_pending_t;

typedef struct st_gw_proxy_t {
    gw_exchange_t exchange;
    h2o_generator_t generator;
    h2o_timeout_entry_t flush_head;
    h2o_timeout_entry_t later; /* what must wait for the loop (gw_proxy.c) */
    h2o_iovec_t pending_piece;
    gw_pipe_pending_t pending;
    unsigned started : 1;      /* gw_proxy_start ran: done() is owed */
    unsigned head_sent : 1;    /* the response head went to h2o */
    unsigned h2o_busy : 1;     /* h2o_send called, generator.proceed not yet */
    unsigned piece_in_h2o : 1; /* h2o holds the exchange's current body piece */
    uint64_t started_ns, head_ns;
    int upstream_status; /* of the response head, 0 before it */
    char *scrub_buf;     /* an error page held until it is known whether it shows a stack trace */
    size_t scrub_len;
    unsigned scrubbing : 1;
    const struct st_gw_proxy_calls_t *calls;
} gw_proxy_t;

/* What the proxy asks of its caller (the request). */
typedef struct st_gw_proxy_calls_t {
    /* the exchange ended, however it ended: called once; may free the request */
    void (*done)(gw_request_t *r, const gw_sample_t *sample);
    /* answer the client with sluice's JSON error, while it has no response yet */
    void (*respond_error)(gw_request_t *r, int status, const char *code, const char *message);
} gw_proxy_calls_t;

/* Starts the exchange of an admitted request; calls->done is called once when it ends (never from
 * within this call). The response goes to the client, or is dropped once r->req is NULL. */
void gw_proxy_start(gw_request_t *r, const gw_proxy_calls_t *calls);

/* 1 when the exchange can run on without its client: it runs, and the upstream got the whole
 * request (so the application works on it). */
int gw_proxy_can_run_alone(gw_request_t *r);
/* 1 while the request is being written upstream (its head is, and its body may be still
 * arriving from the client): what is late then may be the client as much as the app. */
int gw_proxy_is_sending(gw_request_t *r);
/* Its client is gone (r->req is NULL now): the response is read and dropped, and done() comes
 * when the exchange ends (from the loop, never from within this call). */
void gw_proxy_run_alone(gw_request_t *r);

/* Ends the exchange now (done() is called from within, with `verdict`). */
void gw_proxy_cancel(gw_request_t *r, gw_verdict_t verdict);

#endif
