/*
 * The request head sluice sends upstream, from what the client sent and what sluice adds. Pure
 * (no h2o), unit-tested and fuzzed: whatever the inputs, the output is exactly one HTTP/1.1
 * request head, or nothing.
 *
 * Every byte that comes from the client is checked here, whichever protocol brought it (HTTP/1
 * is parsed strictly before, but HTTP/2 fields arrive from HPACK as any bytes): a method that is
 * not a token, a target or host with a control byte or space, a field name that is not a token
 * or a value with a control byte (CR, LF and NUL included) makes the whole head refused.
 *
 * What the upstream receives, in order: the request line (target as the client sent it), Host,
 * the client's fields minus those below, the route's `request_headers.set`, the body framing,
 * X-Forwarded-For (the client's lines joined, then the peer), X-Forwarded-Proto and -Host
 * (unless a trusted proxy sent them), X-Request-Id, X-Request-Timeout-Ms, and Connection/Upgrade
 * for a tunnel. Client fields never forwarded:
 * - hop-by-hop fields and those named by Connection (RFC 9110 section 7.6.1);
 * - fields sluice writes itself: Host, Content-Length, Expect, X-Forwarded-For, X-Request-Id,
 *   X-Request-Timeout-Ms;
 * - fields that make some frameworks believe another client address, scheme, URL or method than
 *   the one sluice routed and limited: X-Real-IP, X-Scheme, X-Original-URL, X-Rewrite-URL,
 *   X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override (always), and Forwarded,
 *   X-Forwarded-Proto, -Host, -Port, -Prefix, -Server unless the peer is a trusted proxy;
 * - the route's `request_headers.remove` and the names it sets.
 * Cookie fields (HTTP/2 splits them) are joined into one line with "; " (RFC 9113 8.2.3).
 */
#ifndef SLUICE_GW_REQHEAD_H
#define SLUICE_GW_REQHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct st_gw_field_t {
    const char *name; /* lower-case */
    size_t name_len;
    const char *value;
    size_t value_len;
} gw_field_t;

typedef enum { GW_REQBODY_NONE, GW_REQBODY_LENGTH, GW_REQBODY_CHUNKED } gw_reqbody_t;

typedef struct st_gw_reqhead_in_t {
    const char *method;
    size_t method_len;
    const char *target; /* origin form, as received */
    size_t target_len;
    const char *host; /* the Host to send */
    size_t host_len;
    const gw_field_t *fields; /* the client's fields, in order, repeated lines kept */
    size_t num_fields;
    int trusted_peer;    /* the peer is one of client.trusted_proxies */
    const char *peer_ip; /* appended to X-Forwarded-For */
    const char *proto;   /* X-Forwarded-Proto to send ("http") */
    const char *request_id;
    size_t request_id_len;
    uint64_t budget_ms; /* X-Request-Timeout-Ms */
    gw_reqbody_t body;
    uint64_t content_length;
    const char *upgrade; /* non-NULL: a tunnel (WebSocket) is asked for with this Upgrade value */
    size_t upgrade_len;
    const gw_field_t *set; /* request_headers.set, values already substituted */
    size_t num_set;
    const gw_field_t *remove; /* request_headers.remove (names only) */
    size_t num_remove;
} gw_reqhead_in_t;

/* An upper bound of the head's length, for the caller's buffer. */
size_t gw_reqhead_size(const gw_reqhead_in_t *in);

/* Writes the head to dst (gw_reqhead_size(in) bytes). Returns its length, or -1 with *why set
 * when an input could break the head (then nothing must be sent). */
ssize_t gw_reqhead_write(const gw_reqhead_in_t *in, char *dst, const char **why);

/* What a request_headers.set template is filled with (CONFIG.md): ${client_ip}, ${request_id},
 * ${route}, ${host}; `$$` is a `$`. */
typedef struct st_gw_template_vars_t {
    const char *client_ip;
    const char *request_id;
    size_t request_id_len;
    const char *route;
    const char *host; /* NULL: empty */
    size_t host_len;
} gw_template_vars_t;

/* The length of the filled template (to size dst), then the filling itself; returns its length. */
size_t gw_template_size(const char *tpl, const gw_template_vars_t *vars);
size_t gw_template_fill(const char *tpl, const gw_template_vars_t *vars, char *dst);

/* 1 when a field value holds only HTAB, SP, visible ASCII and obs-text bytes. */
int gw_field_value_is_valid(const char *value, size_t len);

#endif
