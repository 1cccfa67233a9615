/*
 * A byte tunnel between two sockets: what an upgraded connection (WebSocket) becomes once the
 * upstream said 101. sluice looks at none of the bytes; it only bounds them:
 * - each direction reads at most GW_TUNNEL_PIECE bytes and reads no more until they are written
 *   to the other side (backpressure both ways; at most 2 * GW_TUNNEL_PIECE buffered per tunnel);
 * - an end that closes its side is half-closed on the other (shutdown SHUT_WR), so close frames
 *   and half-closes pass through; the tunnel ends when both directions have ended, on an error,
 *   after `idle_timeout` without a byte either way (GW_TUNNEL_HALF_CLOSED_MS once half-closed),
 *   or by gw_tunnel_close (drain).
 */
#ifndef SLUICE_GW_TUNNEL_H
#define SLUICE_GW_TUNNEL_H

#include <stdint.h>
#include "h2o.h"
#include "gw_timer.h"

#define GW_TUNNEL_PIECE 65536
/* Once one side has closed, the other has this long of silence (at most idle_timeout) to end
 * too: a peer that closed after a WebSocket close handshake will not read any more. */
#define GW_TUNNEL_HALF_CLOSED_MS 5000

typedef struct st_gw_tunnel_t gw_tunnel_t;

/* Called once when the tunnel ends (the sockets are closed by then), with the bytes carried each
 * way. The tunnel is freed after the call. */
typedef void (*gw_tunnel_on_close)(gw_tunnel_t *tunnel, void *data, uint64_t client_bytes, uint64_t upstream_bytes);

/* Takes over both sockets (bytes already in their input buffers are the first to be sent on) and
 * pumps until the end; `idle_ms` without a byte either way ends it. */
gw_tunnel_t *gw_tunnel_start(gw_timer_wheel_t *wheel, h2o_socket_t *client, h2o_socket_t *upstream, uint64_t idle_ms,
                             gw_tunnel_on_close on_close, void *data);

/* Ends the tunnel now (both sockets closed); on_close is called from within. */
void gw_tunnel_close(gw_tunnel_t *tunnel);

#endif
