/*
 * Strict HTTP/1.1 message heads and chunked bodies (RFC 9112), for both legs: requests from
 * clients and responses from upstreams. Pure: no h2o, no sockets, so it is unit-tested and
 * fuzzed alone.
 *
 * Why not picohttpparser (which libh2o uses): a gateway must refuse what its backends might read
 * differently, and picohttpparser accepts bare LF line ends, obs-fold (as a header with an empty
 * name), repeated Content-Length and Transfer-Encoding with Content-Length, leaving the framing
 * decision to the caller. Here every message either has exactly one framing or is refused.
 *
 * What is refused (the caller answers 400 / 502 and closes):
 * - a line end that is not CRLF (bare LF, bare CR), obs-fold, whitespace between a field name
 *   and its colon, a field name that is not a token, a control byte (other than HTAB) or DEL in
 *   a field value;
 * - a request line that is not `token SP target SP HTTP/1.x`, a target holding a control byte,
 *   space or DEL;
 * - Content-Length that is not all digits, given twice or as a list; Transfer-Encoding given
 *   twice, with Content-Length, in HTTP/1.0, or other than `chunked` (501); several Host fields,
 *   none in HTTP/1.1, or an empty one; an Expect other than 100-continue (417);
 * - more than GW_H1_MAX_HEADERS fields (431).
 * Leading empty lines before a request line are skipped (RFC 9112 section 2.2).
 */
#ifndef SLUICE_GW_H1PARSE_H
#define SLUICE_GW_H1PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GW_H1_MAX_HEADERS 100
#define GW_H1_MAX_METHOD 64

typedef struct st_gw_h1_header_t {
    const char *name; /* lower-cased in place by the parser */
    size_t name_len;
    const char *value; /* without surrounding whitespace */
    size_t value_len;
} gw_h1_header_t;

typedef enum {
    GW_H1_BODY_NONE,
    GW_H1_BODY_LENGTH,     /* content_length bytes */
    GW_H1_BODY_CHUNKED,    /* chunked transfer coding */
    GW_H1_BODY_UNTIL_CLOSE /* responses only: the body ends when the connection does */
} gw_h1_body_t;

typedef struct st_gw_h1_request_t {
    const char *method;
    size_t method_len;
    const char *target; /* as sent (still percent-encoded) */
    size_t target_len;
    int minor_version; /* 0 or 1 (HTTP/1.2+ is treated as 1.1) */
    gw_h1_header_t headers[GW_H1_MAX_HEADERS];
    size_t num_headers;
    gw_h1_body_t body; /* NONE, LENGTH or CHUNKED */
    uint64_t content_length;
    const char *host; /* the Host field's value, NULL when absent */
    size_t host_len;
    const char *upgrade; /* the Upgrade field's value when Connection lists "upgrade", else NULL */
    size_t upgrade_len;
    unsigned keep_alive : 1;      /* the connection may serve another request after this one */
    unsigned expect_continue : 1; /* Expect: 100-continue */
} gw_h1_request_t;

typedef struct st_gw_h1_response_t {
    int minor_version;
    int status; /* 100..599 */
    gw_h1_header_t headers[GW_H1_MAX_HEADERS];
    size_t num_headers;
    int has_content_length;
    uint64_t content_length;
    unsigned chunked : 1;      /* Transfer-Encoding's last coding is chunked */
    unsigned other_coding : 1; /* Transfer-Encoding without chunked last: the body ends at close */
    unsigned connection_close : 1;
    unsigned connection_upgrade : 1; /* Connection lists "upgrade" */
} gw_h1_response_t;

/* Finds the end of a message head in buf[0..len). *scan is where the previous call stopped (0 at
 * first), so bytes arriving one at a time are looked at once each. For requests (`skip_empty`),
 * empty lines before the request line are skipped and *head_start says where it begins.
 * Returns the length of the head including its final CRLFCRLF, 0 when more bytes are needed, or
 * -1 when a line end is not CRLF. */
ssize_t gw_h1_find_head_end(const char *buf, size_t len, size_t *scan, int skip_empty, size_t *head_start);

/* Parses a complete request head buf[0..head_len) (from gw_h1_find_head_end, leading empty lines
 * excluded). Header names are lower-cased in place; every pointer in `req` points into buf.
 * Returns 0, or an HTTP status (400, 417, 431, 501, 505) with *why set to a static message; then
 * only method and target are meaningful (NULL when the request line did not give them). */
int gw_h1_parse_request(char *buf, size_t head_len, gw_h1_request_t *req, const char **why);

/* Parses a complete response head likewise. Returns 0, or -1 with *why set. */
int gw_h1_parse_response(char *buf, size_t head_len, gw_h1_response_t *res, const char **why);

/* How the body of a response to a request with `method_is_head` is framed (RFC 9112 section
 * 6.3): NONE for HEAD, 1xx, 204 and 304; CHUNKED; LENGTH; else UNTIL_CLOSE. *reusable is 0 when
 * the upstream connection cannot carry another exchange after this one. */
gw_h1_body_t gw_h1_response_framing(const gw_h1_response_t *res, int method_is_head, int *reusable);

/* Chunked transfer coding, decoded in place. A zeroed gw_chunked_t is at the start of a body. */
typedef struct st_gw_chunked_t {
    uint64_t chunk_left; /* data bytes left in the current chunk */
    uint32_t line_len;   /* bytes of the current size/extension or trailer line */
    uint32_t trailer_bytes;
    uint8_t state;
    uint8_t digits;
} gw_chunked_t;

/* Decodes buf[0..*len): on return buf[0..*len) holds the data decoded by this call. Returns -2
 * when the body goes on, -1 when it is malformed (bad size, missing CRLF, control bytes, chunk
 * extensions or trailers over 4 KiB / 16 KiB), or the number of bytes that follow the end of
 * the body (they are moved to buf[*len..*len + n)). Trailers are checked and dropped. */
ssize_t gw_chunked_decode(gw_chunked_t *d, char *buf, size_t *len);

/* 1 when c may appear in a token (RFC 9110 tchar). */
int gw_h1_is_tchar(unsigned char c);

#endif
