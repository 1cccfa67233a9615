/*
 * sluice's HTTP/1.1 server: the client side of every public connection (a connection that opens
 * with the HTTP/2 preface is handed to h2o's HTTP/2 server instead).
 *
 * Why not libh2o 2.2's HTTP/1 server: its parser is lenient where a gateway must not be (see
 * gw_h1parse.h), its own 400s are plain text, it reads a request body whole (into memory, past
 * 32 MiB into /tmp) before any handler can refuse it, and it has no lingering close, so a client
 * still sending a refused body gets a reset instead of the answer. Here:
 * - every head is parsed by gw_h1parse (strict RFC 9112); a refused one gets sluice's JSON 400
 *   (or 408/413/417/431/501/505), an access-log line, and a lingering close;
 * - the handler (gw_proxy) runs as soon as the head is in; the body stays in the socket until
 *   the handler asks for it (gw_client_conn_t, given with the request), so routing, rate limits and concurrency are decided
 *   before a byte of it is read, and `100 Continue` is sent only then;
 * - reading is bounded: at most client.max_header_size bytes are buffered while no body is asked
 *   for (a head, pipelined requests, the start of a body), and one piece of at most 64 KiB while
 *   a body streams;
 * - a head must complete within client.header_timeout of its first byte, every request of the
 *   connection alike; a connection with nothing to say is closed after client.idle_timeout
 *   (header_timeout for a new one); a body that stalls for client.body_timeout fails.
 *
 * Lifetime: the h2o_req_t is part of the connection and is disposed (its pool's dispose callbacks
 * run) when its response is complete, the client goes away, or the connection fails; a client
 * that closes its side is gone (its request is disposed at once, whatever state it is in).
 */
#ifndef SLUICE_GW_H1CONN_H
#define SLUICE_GW_H1CONN_H

#include "gw_clientconn.h"
#include "gw_ctx.h"

/* Serves an accepted public socket. */
void gw_h1_accept(gw_ctx_t *ctx, h2o_socket_t *sock);

/* Drain: closes every connection waiting for a request with no byte of it received yet; the
 * others close after their current response (which says `Connection: close`). */
void gw_h1_close_idle(gw_ctx_t *ctx);

#endif
