#include "gw_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "gw_json.h"

static void *alloc(const gw_keysrc_t *src, size_t size)
{
    return src->alloc(src->data, size != 0 ? size : 1);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Form decoding of a query component: %XX and '+' (as Tornado and Starlette read a query); a bad
 * escape stays as it is. Returns the length written to dst (at most len). */
static size_t form_decode(const char *s, size_t len, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '%' && i + 2 < len && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            dst[n++] = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            dst[n++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return n;
}

/* The value of query parameter `name`, decoded; the last one when it is repeated, as the
 * application reads it (Tornado's get_argument and Starlette's query_params both keep the last). */
static gw_keyval_t query_value(const gw_keysrc_t *src, const char *name)
{
    gw_keyval_t out = {NULL, 0};
    if (src->query == NULL)
        return out;
    size_t name_len = strlen(name);
    char *key = alloc(src, src->query_len), *val = alloc(src, src->query_len);
    const char *p = src->query, *end = src->query + src->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq != NULL ? eq : pair_end;
        size_t key_len = form_decode(p, (size_t)(key_end - p), key);
        if (key_len == name_len && memcmp(key, name, name_len) == 0) {
            const char *v = eq != NULL ? eq + 1 : pair_end;
            out.len = form_decode(v, (size_t)(pair_end - v), val);
            out.base = val;
        }
        p = pair_end + 1;
    }
    return out;
}

/* Python's str.isspace() for a byte read as Latin-1, as both frameworks decode a header. */
static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0;
}

static void strip(const char **s, const char **end)
{
    while (*s < *end && is_space((unsigned char)**s))
        ++*s;
    while (*end > *s && is_space((unsigned char)(*end)[-1]))
        --*end;
}

/* The inside of a double-quoted cookie value as http.cookies._unquote reads it: \ooo (the first
 * digit 0-3) is that byte, a backslash before any other character but a newline is that
 * character, and any other byte is itself. Returns the length written to dst (at most len). */
static size_t unquote(const char *s, size_t len, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i != len;) {
        if (s[i] == '\\' && len - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
            s[i + 3] >= '0' && s[i + 3] <= '7') {
            dst[n++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 4;
        } else if (s[i] == '\\' && len - i >= 2 && s[i + 1] != '\n') {
            dst[n++] = s[i + 1];
            i += 2;
        } else {
            dst[n++] = s[i++];
        }
    }
    return n;
}

/* The value of cookie `name` as Tornado and Starlette read it (one algorithm, Django's): the
 * field (its lines joined with "; " by header(), as the upstream gets them) split on ';' alone,
 * each pair at its first '=', name and value stripped of whitespace, the last pair of a name
 * kept, a value in double quotes unquoted. Any other reading would let a client be one user to
 * the application and another to its limit: in `sid=A; x=1, sid=B` both frameworks see sid A,
 * and `sid="\101"` is sid A too. */
static gw_keyval_t cookie_value(const gw_keysrc_t *src, const char *name)
{
    int lines;
    gw_keyval_t all = src->header(src->data, "cookie", 6, &lines);
    if (all.base == NULL)
        return all;
    size_t name_len = strlen(name);
    const char *p = all.base, *end = all.base + all.len, *v = NULL, *v_end = NULL;
    for (;;) {
        const char *pair_end = memchr(p, ';', (size_t)(end - p));
        if (pair_end == NULL)
            pair_end = end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq != NULL) {
            const char *k = p, *k_end = eq;
            strip(&k, &k_end);
            if ((size_t)(k_end - k) == name_len && memcmp(k, name, name_len) == 0) {
                v = eq + 1, v_end = pair_end;
                strip(&v, &v_end);
            }
        }
        if (pair_end == end)
            break;
        p = pair_end + 1;
    }
    if (v == NULL)
        return (gw_keyval_t){NULL, 0};
    if (v_end - v < 2 || *v != '"' || v_end[-1] != '"')
        return (gw_keyval_t){v, (size_t)(v_end - v)};
    char *dst = alloc(src, (size_t)(v_end - v));
    return (gw_keyval_t){dst, unquote(v + 1, (size_t)(v_end - v) - 2, dst)};
}

/* The index-th segment (1-based) of the normalised path. */
static gw_keyval_t path_segment(const gw_keysrc_t *src, uint32_t index)
{
    const char *p = src->path, *end = src->path + src->path_len;
    for (uint32_t n = 1; p < end; ++n) {
        while (p < end && *p == '/')
            ++p;
        const char *seg = p;
        while (p < end && *p != '/')
            ++p;
        if (p == seg)
            break;
        if (n == index)
            return (gw_keyval_t){seg, (size_t)(p - seg)};
    }
    return (gw_keyval_t){NULL, 0};
}

/* A header used as a key: given twice, it is ambiguous (Starlette reads the first line, Tornado
 * joins them), and a joined value would let a client pick a fresh key at will: `_missing`. */
static gw_keyval_t header_value(const gw_keysrc_t *src, const char *name)
{
    int lines;
    gw_keyval_t v = src->header(src->data, name, strlen(name), &lines);
    return lines == 1 ? v : (gw_keyval_t){NULL, 0};
}

gw_keyval_t gw_key_value(const gw_keysrc_t *src, const cfg_key_t *key)
{
    gw_keyval_t v = {NULL, 0};
    switch (key->kind) {
    case CFG_KEY_CLIENT_IP:
        v = (gw_keyval_t){src->client_ip, strlen(src->client_ip)};
        break;
    case CFG_KEY_HEADER:
        v = header_value(src, key->name);
        break;
    case CFG_KEY_QUERY:
        v = query_value(src, key->name);
        break;
    case CFG_KEY_COOKIE:
        v = cookie_value(src, key->name);
        break;
    case CFG_KEY_PATH:
        v = path_segment(src, key->index);
        break;
    case CFG_KEY_JSON:
        if (src->body != NULL) {
            char *dst = alloc(src, src->body_len);
            ssize_t n = gw_json_field(src->body, src->body_len, key->name, dst);
            if (n >= 0)
                v = (gw_keyval_t){dst, (size_t)n};
        }
        break;
    case CFG_KEY_NONE:
        break;
    }
    return v.len != 0 ? v : (gw_keyval_t){NULL, 0};
}

/* A key over the limit becomes "#" and 128 bits of its SHA-256 in hex; one within it is copied
 * (the request's fields may go before the slots it holds: hold_aborted). */
static gw_keyval_t bounded(const gw_keysrc_t *src, gw_keyval_t v, uint32_t max_key_length)
{
    if (v.base == NULL)
        return v;
    if (v.len <= max_key_length) {
        char *copy = alloc(src, v.len);
        memcpy(copy, v.base, v.len);
        return (gw_keyval_t){copy, v.len};
    }
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)v.base, v.len, digest);
    char *out = alloc(src, GW_KEY_HASHED_LEN);
    out[0] = '#';
    for (size_t i = 0; i != 16; ++i) {
        out[1 + 2 * i] = hex[digest[i] >> 4];
        out[2 + 2 * i] = hex[digest[i] & 0xf];
    }
    return (gw_keyval_t){out, GW_KEY_HASHED_LEN};
}

gw_keyval_t gw_key_composite(const gw_keysrc_t *src, const cfg_keyspec_t *per, uint32_t max_key_length)
{
    if (per->num_keys == 1)
        return bounded(src, gw_key_value(src, &per->keys[0]), max_key_length);
    gw_keyval_t values[8];
    size_t n = per->num_keys < 8 ? per->num_keys : 8, total = 0;
    int any = 0;
    for (size_t i = 0; i != n; ++i) {
        values[i] = gw_key_value(src, &per->keys[i]);
        any |= values[i].base != NULL;
        total += values[i].len + 24;
    }
    if (!any)
        return (gw_keyval_t){NULL, 0};
    char *buf = alloc(src, total), *p = buf;
    for (size_t i = 0; i != n; ++i) {
        if (values[i].base == NULL) {
            *p++ = '-'; /* this source is missing: not the same as an empty one of another */
        } else {
            p += sprintf(p, "%zu:", values[i].len);
            memcpy(p, values[i].base, values[i].len);
            p += values[i].len;
        }
        *p++ = '|';
    }
    return bounded(src, (gw_keyval_t){buf, (size_t)(p - buf) - 1}, max_key_length);
}

static int compare_keys(const void *a, const void *b)
{
    const gw_keyval_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->base, y->base, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

size_t gw_key_values(const gw_keysrc_t *src, const cfg_keyspec_t *per, uint32_t max_key_length, gw_keyval_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i != per->num_keys && n != max; ++i) {
        gw_keyval_t v = bounded(src, gw_key_value(src, &per->keys[i]), max_key_length);
        if (v.base != NULL)
            out[n++] = v;
    }
    if (n == 0) {
        out[0] = (gw_keyval_t){NULL, 0};
        return 1;
    }
    qsort(out, n, sizeof(*out), compare_keys);
    size_t distinct = 1;
    for (size_t i = 1; i != n; ++i)
        if (compare_keys(&out[i], &out[distinct - 1]) != 0)
            out[distinct++] = out[i];
    return distinct;
}

int gw_keyspec_reads_body(const cfg_keyspec_t *per)
{
    for (size_t i = 0; i != per->num_keys; ++i)
        if (per->keys[i].kind == CFG_KEY_JSON)
            return 1;
    return 0;
}

int gw_route_keys_read_body(const cfg_route_t *route)
{
    for (size_t i = 0; i != route->num_concurrency; ++i)
        if (gw_keyspec_reads_body(&route->concurrency[i].per))
            return 1;
    for (size_t i = 0; i != route->num_rate_limits; ++i)
        if (gw_keyspec_reads_body(&route->rate_limits[i].per))
            return 1;
    return (route->circuit_breaker.enabled && gw_keyspec_reads_body(&route->circuit_breaker.per)) ||
           (route->priority.enabled && route->priority.from.kind == CFG_KEY_JSON);
}
