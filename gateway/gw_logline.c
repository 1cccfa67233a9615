#include "gw_logline.h"

#include <string.h>
#include "gw_http.h"

static char *put_bytes(char *d, const char *s, size_t len)
{
    memcpy(d, s, len);
    return d + len;
}

/* Copies a string the caller guarantees needs no JSON escaping (names from the config, decision
 * names, addresses, validated request ids), bounded to max bytes. */
static char *put_plain(char *d, const char *s, size_t max)
{
    size_t len = strnlen(s, max);
    return put_bytes(d, s, len);
}

#define PUT_LITERAL(d, lit) put_bytes((d), (lit), sizeof(lit) - 1)

static char *put_u64(char *d, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n != 0)
        *d++ = digits[--n];
    return d;
}

static char *put_ms(char *d, uint64_t ns)
{
    uint64_t us = (ns + 500) / 1000;
    d = put_u64(d, us / 1000);
    unsigned frac = (unsigned)(us % 1000);
    *d++ = '.';
    *d++ = (char)('0' + frac / 100);
    *d++ = (char)('0' + frac / 10 % 10);
    *d++ = (char)('0' + frac % 10);
    return d;
}

size_t gw_logline_format(char *dst, const gw_logline_t *l)
{
    char *d = dst;
    d = PUT_LITERAL(d, "{\"ts\":\"");
    d = put_plain(d, l->second, 32);
    *d++ = '.';
    unsigned ms = l->millisecond % 1000;
    *d++ = (char)('0' + ms / 100);
    *d++ = (char)('0' + ms / 10 % 10);
    *d++ = (char)('0' + ms % 10);
    d = PUT_LITERAL(d, "Z\",\"request_id\":\"");
    d += gw_json_escape(d, l->request_id, l->request_id_len < GW_LOGLINE_MAX_ID ? l->request_id_len : GW_LOGLINE_MAX_ID);
    d = PUT_LITERAL(d, "\",\"route\":");
    if (l->route != NULL) {
        *d++ = '"';
        d = put_plain(d, l->route, GW_LOGLINE_MAX_NAME);
        *d++ = '"';
    } else {
        d = PUT_LITERAL(d, "null");
    }
    d = PUT_LITERAL(d, ",\"method\":\"");
    d += gw_json_escape(d, l->method, l->method_len < GW_LOGLINE_MAX_METHOD ? l->method_len : GW_LOGLINE_MAX_METHOD);
    d = PUT_LITERAL(d, "\",\"path\":\"");
    d += gw_json_escape(d, l->path, l->path_len < GW_LOGLINE_MAX_PATH ? l->path_len : GW_LOGLINE_MAX_PATH);
    d = PUT_LITERAL(d, "\",\"status\":");
    d = put_u64(d, l->status > 0 ? (uint64_t)l->status : 0);
    d = PUT_LITERAL(d, ",\"decision\":\"");
    d = put_plain(d, l->decision, GW_LOGLINE_MAX_NAME);
    d = PUT_LITERAL(d, "\",\"queue_ms\":");
    d = put_ms(d, l->queue_ns);
    d = PUT_LITERAL(d, ",\"upstream_ms\":");
    d = put_ms(d, l->upstream_ns);
    d = PUT_LITERAL(d, ",\"total_ms\":");
    d = put_ms(d, l->total_ns);
    d = PUT_LITERAL(d, ",\"client_ip\":\"");
    d = put_plain(d, l->client_ip, GW_LOGLINE_MAX_NAME);
    d = PUT_LITERAL(d, "\",\"bytes\":");
    d = put_u64(d, l->bytes);
    if (l->cut != NULL) {
        d = PUT_LITERAL(d, ",\"cut\":\"");
        d = put_plain(d, l->cut, GW_LOGLINE_MAX_NAME);
        *d++ = '"';
    }
    d = PUT_LITERAL(d, "}\n");
    return (size_t)(d - dst);
}
