#include "gw_websocket.h"

#include <stdlib.h>
#include <strings.h>
#include "gw_tunnel.h"

typedef struct st_gw_ws_t {
    h2o_linklist_t link; /* ctx->tunnels */
    gw_ctx_t *ctx;
    gw_route_metrics_t *metrics;
    uint64_t idle_ms;
    h2o_socket_t *upstream;
    gw_tunnel_t *tunnel; /* NULL until the client has its 101 */
} gw_ws_t;

int gw_ws_is_websocket(const char *upgrade, size_t len)
{
    /* a comma-separated list of protocol[/version] tokens */
    size_t i = 0;
    while (i < len) {
        while (i < len && (upgrade[i] == ' ' || upgrade[i] == '\t' || upgrade[i] == ','))
            ++i;
        size_t start = i;
        while (i < len && upgrade[i] != ',' && upgrade[i] != ' ' && upgrade[i] != '\t')
            ++i;
        if (i - start == 9 && strncasecmp(upgrade + start, "websocket", 9) == 0)
            return 1;
    }
    return 0;
}

static void ws_end(gw_ws_t *ws)
{
    h2o_linklist_unlink(&ws->link);
    --ws->ctx->live_tunnels;
    --ws->metrics->websocket_connections;
    free(ws);
}

static void on_tunnel_closed(gw_tunnel_t *tunnel, void *data, uint64_t client_bytes, uint64_t upstream_bytes)
{
    (void)tunnel, (void)client_bytes, (void)upstream_bytes;
    ws_end(data);
}

static void on_client_upgraded(void *data, h2o_socket_t *sock)
{
    gw_ws_t *ws = data;
    if (sock == NULL) {
        /* the client went away before its 101 was written */
        h2o_socket_close(ws->upstream);
        ws_end(ws);
        return;
    }
    ws->tunnel = gw_tunnel_start(&ws->ctx->timer_wheel, sock, ws->upstream, ws->idle_ms, on_tunnel_closed, ws);
}

void gw_ws_start(gw_ctx_t *ctx, gw_route_metrics_t *metrics, uint64_t idle_ms, h2o_req_t *req, const gw_client_conn_t *client,
                 h2o_iovec_t head, h2o_socket_t *upstream)
{
    gw_ws_t *ws = h2o_mem_alloc(sizeof(*ws));
    *ws = (gw_ws_t){.ctx = ctx, .metrics = metrics, .idle_ms = idle_ms, .upstream = upstream};
    h2o_linklist_insert(&ctx->tunnels, &ws->link);
    ++ctx->live_tunnels;
    client->upgrade(req, head, on_client_upgraded, ws);
}

void gw_ws_close_all(gw_ctx_t *ctx)
{
    /* a tunnel still waiting for its client's 101 ends when that write does */
    for (h2o_linklist_t *node = ctx->tunnels.next, *next; node != &ctx->tunnels; node = next) {
        next = node->next;
        gw_ws_t *ws = H2O_STRUCT_FROM_MEMBER(gw_ws_t, link, node);
        if (ws->tunnel != NULL)
            gw_tunnel_close(ws->tunnel);
    }
}
