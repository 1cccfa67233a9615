#include "cfg_units.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "cfg_mem.h"

/* Reads leading decimal digits; returns the number of digits (0 if none or on overflow). */
static size_t read_digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    while (isdigit((unsigned char)s[n])) {
        unsigned d = (unsigned)(s[n] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
        ++n;
    }
    *out = v;
    return n;
}

int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out, const char **why)
{
    size_t n = read_digits(s, out);
    if (n == 0 || s[n] != '\0') {
        *why = "expected a non-negative integer";
        return -1;
    }
    if (*out > max) {
        *why = "integer out of range";
        return -1;
    }
    return 0;
}

typedef struct st_unit_t {
    const char *suffix;
    uint64_t multiplier;
} unit_t;

/* An integer followed by one of `units`; `headroom` keeps the result that many times below
 * UINT64_MAX so that callers can convert it (ms to ns, for instance) without overflow. */
static int parse_scaled(const char *s, const unit_t *units, size_t num_units, uint64_t headroom, uint64_t *out, const char *syntax,
                        const char *too_large, const char **why)
{
    uint64_t v;
    size_t n = read_digits(s, &v);
    *why = syntax;
    if (n == 0)
        return -1;
    for (size_t i = 0; i != num_units; ++i) {
        if (strcmp(s + n, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].multiplier / headroom) {
                *why = too_large;
                return -1;
            }
            *out = v * units[i].multiplier;
            return 0;
        }
    }
    return -1;
}

int cfg_parse_duration(const char *s, uint64_t *ms, const char **why)
{
    static const unit_t units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), 1000000, ms,
                        "expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s", "duration too large", why);
}

int cfg_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    static const unit_t units[] = {{"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024 * 1024 * 1024}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), 1024, bytes,
                        "expected a size: an integer and a unit (B, KiB, MiB, GiB), e.g. 512KiB or 10MiB", "size too large", why);
}

int cfg_parse_rate(const char *s, uint64_t *count, uint64_t *period_ms, const char **why)
{
    size_t n = read_digits(s, count);
    *why = "expected a rate: COUNT/s, COUNT/m or COUNT/h, e.g. 100/s";
    if (n == 0 || s[n] != '/' || s[n + 1] == '\0' || s[n + 2] != '\0')
        return -1;
    switch (s[n + 1]) {
    case 's':
        *period_ms = 1000;
        break;
    case 'm':
        *period_ms = 60000;
        break;
    case 'h':
        *period_ms = 3600000;
        break;
    default:
        return -1;
    }
    if (*count == 0 || *count > 1000000000) {
        *why = "rate count must be between 1 and 1000000000";
        return -1;
    }
    return 0;
}

int cfg_parse_address(const char *s, cfg_address_t *out, const char **why)
{
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/') {
            *why = "expected unix:/absolute/path";
            return -1;
        }
        if (strlen(s + 5) >= 108) {
            *why = "unix socket path too long (at most 107 bytes)";
            return -1;
        }
        out->kind = CFG_ADDR_UNIX;
        out->host = cfg_xstrdup(s + 5);
        out->port = 0;
        return 0;
    }
    const char *host = s, *colon;
    size_t host_len;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            *why = "expected [IPv6]:port";
            return -1;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
        char buf[64];
        unsigned char tmp[16];
        if (host_len == 0 || host_len >= sizeof(buf)) {
            *why = "bad IPv6 address";
            return -1;
        }
        memcpy(buf, host, host_len);
        buf[host_len] = '\0';
        if (inet_pton(AF_INET6, buf, tmp) != 1) {
            *why = "bad IPv6 address";
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "expected host:port, [IPv6]:port or unix:/path";
            return -1;
        }
        host_len = (size_t)(colon - s);
        if (host_len == 0) {
            *why = "missing host (write 0.0.0.0:PORT or [::]:PORT for every interface)";
            return -1;
        }
        if (memchr(s, ':', host_len) != NULL) {
            *why = "expected host:port (write IPv6 addresses as [addr]:port)";
            return -1;
        }
        for (size_t i = 0; i != host_len; ++i) {
            char c = s[i];
            if (!(isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')) {
                *why = "bad host name";
                return -1;
            }
        }
    }
    uint64_t port;
    const char *port_why;
    if (cfg_parse_uint(colon + 1, 65535, &port, &port_why) != 0 || port == 0) {
        *why = "port must be an integer from 1 to 65535";
        return -1;
    }
    out->kind = CFG_ADDR_TCP;
    out->host = cfg_xstrndup(host, host_len);
    out->port = (uint16_t)port;
    return 0;
}

int cfg_parse_cidr(const char *s, cfg_cidr_t *out, const char **why)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    *why = "expected a CIDR such as 10.0.0.0/8 or fd00::/8";
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out->addr, 0, sizeof(out->addr));
    unsigned max;
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    uint64_t prefix = max;
    if (slash != NULL && cfg_parse_uint(slash + 1, max, &prefix, why) != 0) {
        *why = out->family == AF_INET ? "CIDR prefix length must be 0..32" : "CIDR prefix length must be 0..128";
        return -1;
    }
    out->prefix_len = (unsigned)prefix;
    /* clear host bits so that matching compares networks */
    for (unsigned bit = out->prefix_len; bit < max; ++bit)
        out->addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    return 0;
}

static int is_token_char(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int cfg_is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        if (!is_token_char(*s))
            return 0;
    return 1;
}

/* "a.b-c.d_e": 1 to 8 non-empty parts of [A-Za-z0-9_-], separated by dots. */
static int json_path_error(const char *s, const char **why)
{
    size_t parts = 1, part_len = 0;
    for (; *s != '\0'; ++s) {
        if (*s == '.') {
            if (part_len == 0)
                break;
            ++parts, part_len = 0;
        } else if (isalnum((unsigned char)*s) || *s == '_' || *s == '-') {
            ++part_len;
        } else {
            *why = "bad JSON field path: names of [A-Za-z0-9_-] separated by dots, e.g. json:account.id";
            return -1;
        }
    }
    if (*s != '\0' || part_len == 0) {
        *why = "bad JSON field path: an empty name (two dots, or a dot at an end)";
        return -1;
    }
    if (parts > 8) {
        *why = "JSON field path too deep (at most 8 names)";
        return -1;
    }
    return 0;
}

int cfg_parse_key(const char *s, cfg_key_t *out, const char **why)
{
    static const struct {
        const char *prefix;
        cfg_key_kind_t kind;
    } kinds[] = {{"header:", CFG_KEY_HEADER},
                 {"query:", CFG_KEY_QUERY},
                 {"cookie:", CFG_KEY_COOKIE},
                 {"path:", CFG_KEY_PATH},
                 {"json:", CFG_KEY_JSON}};
    memset(out, 0, sizeof(*out));
    if (strcmp(s, "client_ip") == 0) {
        out->kind = CFG_KEY_CLIENT_IP;
        out->text = cfg_xstrdup(s);
        return 0;
    }
    for (size_t i = 0; i != sizeof(kinds) / sizeof(kinds[0]); ++i) {
        size_t n = strlen(kinds[i].prefix);
        if (strncmp(s, kinds[i].prefix, n) != 0)
            continue;
        const char *name = s + n;
        switch (kinds[i].kind) {
        case CFG_KEY_PATH: {
            uint64_t index;
            const char *ignored;
            if (cfg_parse_uint(name, 64, &index, &ignored) != 0 || index == 0) {
                *why = "path: needs a segment number from 1 to 64, e.g. path:2";
                return -1;
            }
            out->index = (uint32_t)index;
            break;
        }
        case CFG_KEY_JSON:
            if (*name == '\0') {
                *why = "the key needs a field name, e.g. json:account.id";
                return -1;
            }
            if (json_path_error(name, why) != 0)
                return -1;
            out->name = cfg_xstrdup(name);
            break;
        default:
            if (*name == '\0') {
                *why = "the key needs a name, e.g. header:X-User-Id";
                return -1;
            }
            if (!cfg_is_token(name)) {
                *why = "bad character in key name (it must be an HTTP token)";
                return -1;
            }
            out->name = cfg_xstrdup(name);
            if (kinds[i].kind == CFG_KEY_HEADER)
                for (char *p = out->name; *p != '\0'; ++p)
                    *p = (char)tolower((unsigned char)*p);
            break;
        }
        out->kind = kinds[i].kind;
        out->text = cfg_xstrdup(s);
        return 0;
    }
    *why = "expected client_ip, header:NAME, query:NAME, cookie:NAME, path:N or json:FIELD";
    return -1;
}

void cfg_keyspec_copy(cfg_keyspec_t *dst, const cfg_keyspec_t *src)
{
    dst->num_keys = src->num_keys;
    dst->keys = src->num_keys != 0 ? cfg_xcalloc(src->num_keys, sizeof(*dst->keys)) : NULL;
    for (size_t i = 0; i != src->num_keys; ++i) {
        dst->keys[i] = src->keys[i];
        dst->keys[i].name = src->keys[i].name != NULL ? cfg_xstrdup(src->keys[i].name) : NULL;
        dst->keys[i].text = src->keys[i].text != NULL ? cfg_xstrdup(src->keys[i].text) : NULL;
    }
    dst->text = src->text != NULL ? cfg_xstrdup(src->text) : NULL;
}

void cfg_keyspec_clear(cfg_keyspec_t *spec)
{
    for (size_t i = 0; i != spec->num_keys; ++i) {
        free(spec->keys[i].name);
        free(spec->keys[i].text);
    }
    free(spec->keys);
    free(spec->text);
    memset(spec, 0, sizeof(*spec));
}

int cfg_keyspec_equal(const cfg_keyspec_t *a, const cfg_keyspec_t *b)
{
    if (a->num_keys != b->num_keys)
        return 0;
    for (size_t i = 0; i != a->num_keys; ++i) {
        const cfg_key_t *x = &a->keys[i], *y = &b->keys[i];
        if (x->kind != y->kind || x->index != y->index ||
            !(x->name == y->name || (x->name != NULL && y->name != NULL && strcmp(x->name, y->name) == 0)))
            return 0;
    }
    return 1;
}

static int is_hex(char c)
{
    return isxdigit((unsigned char)c);
}

int cfg_check_route_path(const char *s, const char **why)
{
    if (s[0] != '/') {
        *why = "must start with '/'";
        return -1;
    }
    for (const char *p = s; *p != '\0'; ++p) {
        unsigned char c = (unsigned char)*p;
        if (c == '?' || c == '#') {
            *why = c == '?' ? "holds '?': routes match the path alone, never the query string"
                            : "holds '#': a fragment is never sent to a server";
            return -1;
        }
        if (c <= 0x20 || c == 0x7f) {
            *why = "holds a space or control character: requests with one in their path are refused (400)";
            return -1;
        }
        if (c == '%' && is_hex(p[1]) && is_hex(p[2])) {
            *why = "holds a %-escape: routes match the decoded path, so write it decoded";
            return -1;
        }
    }
    /* segments: "" (from "//") anywhere but at the end, "." and ".." never survive normalisation */
    for (const char *seg = s + 1;;) {
        const char *end = strchr(seg, '/');
        size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if ((n == 0 && end != NULL) || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            *why = n == 0 ? "holds \"//\": routes match the normalised path, which never does"
                          : "holds a \".\" or \"..\" segment: routes match the normalised path, which never does";
            return -1;
        }
        if (end == NULL)
            break;
        seg = end + 1;
    }
    return 0;
}

int cfg_check_route_host(const char *s, const char **why)
{
    size_t n = strlen(s);
    if (n == 0) {
        *why = "empty (leave the key out to match any host)";
        return -1;
    }
    const char *colon = s[0] == '[' ? strstr(s, "]:") : strchr(s, ':');
    if (colon != NULL) {
        *why = "holds a port: write the host without it (the port is not compared)";
        return -1;
    }
    if (s[n - 1] == '.') {
        *why = "ends with a dot: write the host without it (a trailing dot is removed before comparing)";
        return -1;
    }
    for (const char *p = s; *p != '\0'; ++p) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/') {
            *why = "bad character in a host name";
            return -1;
        }
    }
    return 0;
}

void cfg_format_duration(uint64_t ms, char *buf, size_t size)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, size, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, size, "%llum", (unsigned long long)(ms / 60000));
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, size, "%llums", (unsigned long long)ms);
}

void cfg_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    for (int i = 0; i != 3; ++i) {
        uint64_t unit = 1ull << (10 * (3 - i));
        if (bytes != 0 && bytes % unit == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(bytes / unit), units[i]);
            return;
        }
    }
    snprintf(buf, size, "%lluB", (unsigned long long)bytes);
}
