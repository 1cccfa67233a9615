/*
 * Pure HTTP helpers of the gateway: no sockets, no event loop, so they are unit-tested alone.
 */
#ifndef SLUICE_GW_HTTP_H
#define SLUICE_GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* An X-Request-Id from a client is kept only if it is 1..128 characters of [A-Za-z0-9._:-]. */
int gw_request_id_is_valid(const char *id, size_t len);

/* Writes a fresh request id (32 lower-case hex digits, no NUL) into out[32] from two random words. */
void gw_request_id_format(char out[32], uint64_t hi, uint64_t lo);

/* 1 if a (lower-case) header name is hop-by-hop per RFC 9110 section 7.6.1 and must not be
 * forwarded. Headers named by the Connection header are checked separately
 * (gw_connection_lists). */
int gw_header_is_hop_by_hop(const char *name, size_t len);

/* 1 if the comma-separated Connection header value lists `name` (case-insensitive). */
int gw_connection_lists(const char *conn_value, size_t conn_len, const char *name, size_t len);

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) within the `avail` bytes left, or 0 when there is none (an ASCII byte is not one). */
size_t gw_utf8_len(const unsigned char *p, size_t avail);

/* Appends `len` bytes of `s` to `dst` as the inside of a JSON string (quotes not included):
 * quotes, backslashes and control bytes escaped, well-formed UTF-8 kept as it is, and any byte
 * that is not part of well-formed UTF-8 written as \ufffd, so that client input can never break
 * a log line and `/été` is logged as `/été`. Returns the number of bytes written; dst must hold
 * 6*len. */
size_t gw_json_escape(char *dst, const char *s, size_t len);

#endif
