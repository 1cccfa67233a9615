#include "gw_http.h"

#include <string.h>
#include <strings.h>

int gw_request_id_is_valid(const char *id, size_t len)
{
    if (len == 0 || len > 128)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                 c == ':';
        if (!ok)
            return 0;
    }
    return 1;
}

void gw_request_id_format(char out[32], uint64_t hi, uint64_t lo)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i != 16; ++i) {
        out[i] = hex[(hi >> (60 - 4 * i)) & 0xf];
        out[16 + i] = hex[(lo >> (60 - 4 * i)) & 0xf];
    }
}

int gw_header_is_hop_by_hop(const char *name, size_t len)
{
#define NAME(s)                                                                                                                    \
    {                                                                                                                              \
        s, sizeof(s) - 1                                                                                                           \
    }
    static const struct {
        const char *name;
        size_t len;
    } names[] = {NAME("connection"),
                 NAME("keep-alive"),
                 NAME("proxy-connection"),
                 NAME("proxy-authenticate"),
                 NAME("proxy-authorization"),
                 NAME("te"),
                 NAME("trailer"),
                 NAME("transfer-encoding"),
                 NAME("upgrade")};
#undef NAME
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i)
        if (names[i].len == len && memcmp(names[i].name, name, len) == 0)
            return 1;
    return 0;
}

int gw_connection_lists(const char *value, size_t value_len, const char *name, size_t len)
{
    const char *p = value, *end = value + value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            ++p;
        const char *tok = p;
        while (p < end && *p != ',')
            ++p;
        const char *tok_end = p;
        while (tok_end > tok && (tok_end[-1] == ' ' || tok_end[-1] == '\t'))
            --tok_end;
        if ((size_t)(tok_end - tok) == len && len != 0 && strncasecmp(tok, name, len) == 0)
            return 1;
    }
    return 0;
}

size_t gw_utf8_len(const unsigned char *p, size_t avail)
{
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    if (n == 0 || n > avail)
        return 0;
    for (size_t i = 1; i < n; ++i)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

size_t gw_json_escape(char *dst, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *d = dst;
    for (size_t i = 0; i != len;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *d++ = '\\';
            *d++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(d, "\\u00", 4);
            d[4] = hex[c >> 4];
            d[5] = hex[c & 0xf];
            d += 6;
        } else if (c >= 0x80) {
            size_t n = gw_utf8_len((const unsigned char *)s + i, len - i);
            if (n == 0) {
                memcpy(d, "\\ufffd", 6); /* not UTF-8: the line stays valid JSON */
                d += 6;
            } else {
                memcpy(d, s + i, n);
                d += n;
                i += n;
                continue;
            }
        } else {
            *d++ = (char)c;
        }
        ++i;
    }
    return (size_t)(d - dst);
}
