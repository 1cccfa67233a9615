#include "gw_h2guard.h"

#include <stdio.h>
#include "h2o/http2.h"
#include "h2o/http2_internal.h"

#define PROBES 8

static int is_stale(const gw_h2guard_t *g, size_t s, uint64_t now_ns)
{
    return g->slots[s].conn_id == 0 || now_ns - g->slots[s].window_start_ns > (uint64_t)GW_H2_RESET_WINDOW_MS * 1000000u;
}

/* The slot of a connection: its own, else a free or stale one among the probed, else the least
 * busy of them (counts stay per connection except when 8 busy ones collide). */
static size_t slot_for(gw_h2guard_t *g, uint64_t conn_id, uint64_t now_ns)
{
    size_t first = (size_t)(conn_id * 0x9e3779b97f4a7c15ull >> 40) % GW_H2GUARD_SLOTS, best = first;
    for (size_t i = 0; i != PROBES; ++i)
        if (g->slots[(first + i) % GW_H2GUARD_SLOTS].conn_id == conn_id)
            return (first + i) % GW_H2GUARD_SLOTS;
    for (size_t i = 0; i != PROBES; ++i) {
        size_t s = (first + i) % GW_H2GUARD_SLOTS;
        if (is_stale(g, s, now_ns)) {
            best = s;
            break;
        }
        if (g->slots[s].resets < g->slots[best].resets)
            best = s;
    }
    g->slots[best].conn_id = conn_id;
    g->slots[best].resets = 0;
    g->slots[best].window_start_ns = now_ns;
    return best;
}

/* What h2o does for its own graceful shutdown, for one connection: GOAWAY with the last stream
 * it accepted, and no new stream from then on (the HALF_CLOSED state). */
static void send_goaway(h2o_http2_conn_t *conn)
{
    if (conn->state >= H2O_HTTP2_CONN_STATE_HALF_CLOSED)
        return;
    h2o_http2_encode_goaway_frame(&conn->_write.buf, conn->pull_stream_ids.max_open, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM,
                                  h2o_iovec_init(H2O_STRLIT("too many streams reset")));
    h2o_http2_conn_request_write(conn);
    conn->state = H2O_HTTP2_CONN_STATE_HALF_CLOSED;
}

void gw_h2guard_count_reset(gw_h2guard_t *g, h2o_conn_t *conn, uint64_t now_ns)
{
    size_t s = slot_for(g, conn->id, now_ns);
    if (now_ns - g->slots[s].window_start_ns > (uint64_t)GW_H2_RESET_WINDOW_MS * 1000000u) {
        g->slots[s].window_start_ns = now_ns;
        g->slots[s].resets = 0;
    }
    if (++g->slots[s].resets != GW_H2_MAX_RESETS + 1)
        return;
    ++g->goaways;
    fprintf(stderr, "sluice: HTTP/2 connection %llu reset %d streams within %d ms: GOAWAY\n", (unsigned long long)conn->id,
            GW_H2_MAX_RESETS + 1, GW_H2_RESET_WINDOW_MS);
    send_goaway((h2o_http2_conn_t *)conn);
}

int gw_h2guard_conn_is_closing(h2o_conn_t *conn)
{
    return ((h2o_http2_conn_t *)conn)->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING;
}
