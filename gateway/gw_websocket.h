/*
 * WebSockets: an HTTP/1.1 request with `Upgrade: websocket` passes routing and admission like any
 * request, is sent upstream with its Upgrade, and when the upstream answers 101 the two
 * connections become a tunnel (gw_tunnel): the request's concurrency slot is let go, the tunnel
 * counts in its route's websocket connections (websocket.max_connections,
 * sluice_websocket_connections{route}) until it ends, and a drain lets open tunnels run until
 * shutdown_timeout. HTTP/2 has no Upgrade (RFC 8441's extended CONNECT is not in libh2o 2.2).
 */
#ifndef SLUICE_GW_WEBSOCKET_H
#define SLUICE_GW_WEBSOCKET_H

#include "gw_clientconn.h"
#include "gw_ctx.h"

/* 1 when an Upgrade field's value asks for a WebSocket ("websocket", any case, alone or in a
 * list of protocols). */
int gw_ws_is_websocket(const char *upgrade, size_t len);

/* The upstream answered 101: `upstream` is its socket (gw_exchange_take_socket). Answers the
 * client with `head` (a complete 101 head, in the request's pool) through `client`, then tunnels
 * the two sockets, closed after idle_ms of silence. The route's count (`metrics`) was raised when
 * the request was admitted; it is lowered when the tunnel ends. */
void gw_ws_start(gw_ctx_t *ctx, gw_route_metrics_t *metrics, uint64_t idle_ms, h2o_req_t *req, const gw_client_conn_t *client,
                 h2o_iovec_t head, h2o_socket_t *upstream);

/* shutdown_timeout of a drain: ends every open tunnel. */
void gw_ws_close_all(gw_ctx_t *ctx);

#endif
