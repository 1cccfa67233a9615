#include "gw_path.h"

#include <string.h>
#include <strings.h>

static int is_target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

int gw_host_is_valid(const char *host, size_t len)
{
    /* RFC 3986 reg-name, IP-literal and port: unreserved / pct-encoded / sub-delims / ":" "[" "]" */
    static const char extra[] = "-._~!$&'()*+,;=%:[]";
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              memchr(extra, c, sizeof(extra) - 1) != NULL)) /* - 1: the NUL is no extra */
            return 0;
    }
    return 1;
}

/* out has been zeroed: without a '?', query stays NULL and query_len 0 */
static void split_query(gw_target_t *out)
{
    const char *q = memchr(out->origin, '?', out->origin_len);
    out->path = out->origin;
    if (q == NULL) {
        out->path_len = out->origin_len;
    } else {
        out->path_len = (size_t)(q - out->origin);
        out->query = q + 1;
        out->query_len = out->origin_len - out->path_len - 1;
    }
}

int gw_target_split(const char *target, size_t len, gw_target_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i != len; ++i) {
        if (!is_target_byte((unsigned char)target[i])) {
            *why = "invalid byte in the request target";
            return -1;
        }
    }
    if (len != 0 && target[0] == '/') {
        out->origin = target;
        out->origin_len = len;
        split_query(out);
        return 0;
    }
    size_t scheme_len = len >= 7 && strncasecmp(target, "http://", 7) == 0    ? 7
                        : len >= 8 && strncasecmp(target, "https://", 8) == 0 ? 8
                                                                              : 0;
    if (scheme_len == 0) {
        *why = len == 1 && target[0] == '*' ? "the asterisk form (OPTIONS *) is not proxied"
                                            : "the request target must be a path or an http(s) URL";
        return -1;
    }
    const char *a = target + scheme_len, *end = target + len;
    const char *slash = a;
    while (slash < end && *slash != '/' && *slash != '?')
        ++slash;
    if (!gw_host_is_valid(a, (size_t)(slash - a)) || memchr(a, '@', (size_t)(slash - a)) != NULL) {
        *why = "invalid authority in the request target";
        return -1;
    }
    out->authority = a;
    out->authority_len = (size_t)(slash - a);
    if (slash == end || *slash == '?') {
        /* "http://h" or "http://h?q": the path is "/" (RFC 9112 section 3.2.1); the query is
         * forwarded after it, so the origin form is rebuilt by the caller from path and query */
        out->origin = "/";
        out->origin_len = 1;
        out->path = "/";
        out->path_len = 1;
        if (slash != end) {
            out->query = slash + 1;
            out->query_len = (size_t)(end - slash - 1);
        }
        return 0;
    }
    out->origin = slash;
    out->origin_len = (size_t)(end - slash);
    split_query(out);
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t gw_path_normalize(const char *path, size_t len, char *dst, const char **why)
{
    /* 1. decode, after a '/' of its own: the segment pass below writes a '/' before each segment
     * it keeps, which overwrites the segment itself unless a '/' was read before it, so a path
     * that lacks its leading '/' ("a/b") would come out garbled; rooted, it routes as "/a/b" */
    size_t n = 0;
    dst[n++] = '/';
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hex_digit(path[i + 1])) < 0 || (lo = hex_digit(path[i + 2])) < 0) {
                *why = "malformed percent-encoding in the path";
                return -1;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "control character in the path";
            return -1;
        }
        dst[n++] = (char)c;
    }

    /* 2. segments, in place: the output never outgrows what has been read of the input */
    size_t out = 0, i = 0;
    int trailing_slash = 0;
    while (i < n) {
        while (i < n && dst[i] == '/')
            ++i;
        size_t seg = i;
        while (i < n && dst[i] != '/')
            ++i;
        size_t seg_len = i - seg;
        trailing_slash = i == n && seg_len == 0;
        if (seg_len == 0)
            continue;
        if (seg_len == 1 && dst[seg] == '.') {
            trailing_slash = i == n;
            continue;
        }
        if (seg_len == 2 && dst[seg] == '.' && dst[seg + 1] == '.') {
            while (out != 0 && dst[out - 1] != '/')
                --out;
            if (out != 0)
                --out; /* the '/' before the dropped segment */
            trailing_slash = i == n;
            continue;
        }
        dst[out++] = '/';
        memmove(dst + out, dst + seg, seg_len);
        out += seg_len;
    }
    if (out == 0 || trailing_slash)
        dst[out++] = '/';
    return (ssize_t)out;
}

size_t gw_host_normalize(const char *host, size_t len, char *dst)
{
    size_t end = len;
    if (len != 0 && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        end = close != NULL ? (size_t)(close - host) + 1 : len;
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon != NULL)
            end = (size_t)(colon - host);
    }
    while (end != 0 && host[end - 1] == '.')
        --end;
    for (size_t i = 0; i != end; ++i) {
        char c = host[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return end;
}
