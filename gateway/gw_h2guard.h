/*
 * HTTP/2 rapid reset (CVE-2023-44487): a client that opens streams and resets them at once makes
 * a server start work it never delivers, as fast as it can send frames. libh2o 2.2 has no defence,
 * so sluice adds two:
 * - a request of an HTTP/2 client starts (admission, then upstream) one turn of the loop after
 *   its HEADERS, so a RST_STREAM read in the same batch disposes it before anything started: a
 *   reset request never opens an upstream connection (gw_proxy);
 * - the client resets of each connection are counted; past GW_H2_MAX_RESETS within
 *   GW_H2_RESET_WINDOW_MS, the connection gets GOAWAY (ENHANCE_YOUR_CALM): no new stream is
 *   accepted on it, and it closes once the streams in progress are done.
 */
#ifndef SLUICE_GW_H2GUARD_H
#define SLUICE_GW_H2GUARD_H

#include <stdint.h>
#include "h2o.h"

#define GW_H2_MAX_RESETS 100
#define GW_H2_RESET_WINDOW_MS 10000
#define GW_H2GUARD_SLOTS 1024

typedef struct st_gw_h2guard_t {
    struct {
        uint64_t conn_id; /* 0: free */
        uint64_t window_start_ns;
        uint32_t resets;
    } slots[GW_H2GUARD_SLOTS];
    uint64_t goaways; /* connections sent away */
} gw_h2guard_t;

/* Counts a stream of `conn` (an HTTP/2 connection) that its client reset before its response was
 * complete, at now_ns; sends GOAWAY when the connection is over the limit. */
void gw_h2guard_count_reset(gw_h2guard_t *guard, h2o_conn_t *conn, uint64_t now_ns);

/* Whether `conn`, an HTTP/2 connection, is closing after a connection error or its idle timeout:
 * libh2o sends no more DATA on it, so an answer started now would arrive without its body. */
int gw_h2guard_conn_is_closing(h2o_conn_t *conn);

#endif
