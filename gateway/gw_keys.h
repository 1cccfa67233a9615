/*
 * The keys limits are counted under (DESIGN.md "Keys"): what each key source (`client_ip`,
 * `header:N`, `query:N`, `cookie:N`, `path:N`, `json:A.B`) gives for a request, how a list of
 * sources makes one key (rate limits, circuit breakers) or several (concurrency), and how long
 * values are bounded. Pure: the request is seen through gw_keysrc_t; no h2o.
 *
 * - A source that is absent or empty gives nothing; a key with nothing at all is the shared
 *   `_missing` key (a NULL key here), never a free pass.
 * - Sources are read as the application reads them, so that a client cannot be one user to the
 *   application and another to its limit: a query parameter or cookie given twice counts by its
 *   last value (as Tornado and Starlette read them), query values are form-decoded; cookies are
 *   split on ';' alone, their names and values stripped of whitespace, quoted values unquoted
 *   with Python's escapes (both frameworks' one algorithm); a header given on two lines counts as
 *   missing (Starlette reads the first line, Tornado joins them: any one choice would let a
 *   client pick a fresh key).
 * - A key longer than the limit's max_key_length is replaced by "#" and 32 hex digits of its
 *   SHA-256: memory per key stays bounded, and distinct long values still get distinct keys.
 * - A list of sources in a rate limit is one key made of every value, each prefixed by its length
 *   (so that ("a:b", "c") and ("a", "b:c") differ); in a concurrency limit it is one key per
 *   distinct value, in sorted order, so that two requests touching the same values take their
 *   slots in the same order.
 */
#ifndef SLUICE_GW_KEYS_H
#define SLUICE_GW_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "cfg_config.h"

typedef struct st_gw_keyval_t {
    const char *base; /* NULL: missing */
    size_t len;
} gw_keyval_t;

/* The request as key sources read it. */
typedef struct st_gw_keysrc_t {
    const char *client_ip; /* per client.trusted_proxies */
    const char *path;      /* the normalised path */
    size_t path_len;
    const char *query; /* the raw query string (after '?'), NULL when there is none */
    size_t query_len;
    const char *body; /* the request body when it was read for json: sources, else NULL */
    size_t body_len;
    /* every line of a request field joined with ", " (the Cookie field's with "; ", as the
     * upstream gets them), or {NULL, 0}; `name` is lower-case; *lines says how many lines it had */
    gw_keyval_t (*header)(void *data, const char *name, size_t name_len, int *lines);
    /* memory for the keys built (lives as long as the request) */
    void *(*alloc)(void *data, size_t size);
    void *data;
} gw_keysrc_t;

/* The longest key gw_key_values and gw_key_composite give, whatever max_key_length. */
#define GW_KEY_HASHED_LEN 33

/* 1 when a source of `per` reads the request body (json:). */
int gw_keyspec_reads_body(const cfg_keyspec_t *per);
/* 1 when any key source of the route's limits, circuit breaker or priority reads the body. */
int gw_route_keys_read_body(const cfg_route_t *route);

/* What one source gives, or {NULL, 0}. */
gw_keyval_t gw_key_value(const gw_keysrc_t *src, const cfg_key_t *key);

/* The one key of `per` (a rate limit's, a circuit breaker's): {NULL, 0} for `_missing`. */
gw_keyval_t gw_key_composite(const gw_keysrc_t *src, const cfg_keyspec_t *per, uint32_t max_key_length);

/* The keys of `per` for a concurrency limit: the distinct values of its sources, sorted; one
 * {NULL, 0} (`_missing`) when none gives any. Writes at most `max` (>= 1) and returns the count. */
size_t gw_key_values(const gw_keysrc_t *src, const cfg_keyspec_t *per, uint32_t max_key_length, gw_keyval_t *out, size_t max);

#endif
