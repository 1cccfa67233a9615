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

/* The value of cookie `name` (the last one, as Python's cookie parsers keep), unquoted. */
static gw_keyval_t cookie_value(const gw_keysrc_t *src, const char *name)
{
    int lines;
    gw_keyval_t out = {NULL, 0}, all = src->header(src->data, "cookie", 6, &lines);
    size_t name_len = strlen(name);
    /* the lines of a Cookie field are joined with ", " by header(); a cookie pair never holds
     * one unquoted, so both ';' and ',' end a pair */
    const char *p = all.base, *end = all.base + all.len;
    while (p != NULL && p < end) {
        while (p < end && (*p == ' ' || *p == ';' || *p == ','))
            ++p;
        const char *pair_end = p;
        while (pair_end < end && *pair_end != ';' && *pair_end != ',')
            ++pair_end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq != NULL) {
            const char *k_end = eq;
            while (k_end > p && k_end[-1] == ' ')
                --k_end;
            if ((size_t)(k_end - p) == name_len && memcmp(p, name, name_len) == 0) {
                const char *v = eq + 1, *v_end = pair_end;
                while (v < v_end && *v == ' ')
                    ++v;
                while (v_end > v && v_end[-1] == ' ')
                    --v_end;
                if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"')
                    ++v, --v_end;
                out = (gw_keyval_t){v, (size_t)(v_end - v)};
            }
        }
        p = pair_end;
    }
    return out;
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
