#include "gw_reqhead.h"

#include <string.h>
#include "gw_h1parse.h"
#include "gw_http.h"
#include "gw_path.h"

typedef struct {
    const char *name;
    size_t len;
} name_t;

#define NAME(s)                                                                                                                    \
    {                                                                                                                              \
        s, sizeof(s) - 1                                                                                                           \
    }

/* Written by sluice itself. */
static const name_t owned[] = {NAME("host"),         NAME("content-length"),      NAME("expect"), NAME("x-forwarded-for"),
                               NAME("x-request-id"), NAME("x-request-timeout-ms")};
/* Never from a client: they would make the app see another address, scheme, URL or method. */
static const name_t spoofing[] = {
    NAME("x-real-ip"),     NAME("x-scheme"),         NAME("x-original-url"), NAME("x-rewrite-url"), NAME("x-http-method-override"),
    NAME("x-http-method"), NAME("x-method-override")};
/* Kept only from a trusted proxy. */
static const name_t proxy_info[] = {NAME("forwarded"),        NAME("x-forwarded-proto"),  NAME("x-forwarded-host"),
                                    NAME("x-forwarded-port"), NAME("x-forwarded-prefix"), NAME("x-forwarded-server")};
#undef NAME

static int in_list(const name_t *list, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i != n; ++i)
        if (list[i].len == len && memcmp(list[i].name, name, len) == 0)
            return 1;
    return 0;
}

static int in_fields(const gw_field_t *fields, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i != n; ++i)
        if (fields[i].name_len == len && memcmp(fields[i].name, name, len) == 0)
            return 1;
    return 0;
}

static int is_named(const gw_field_t *f, const char *lit)
{
    size_t n = strlen(lit);
    return f->name_len == n && memcmp(f->name, lit, n) == 0;
}

int gw_field_value_is_valid(const char *value, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)value[i];
        if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
            return 0;
    }
    return 1;
}

static int is_token(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (!gw_h1_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Is the client's field forwarded as it is? */
static int forwards(const gw_reqhead_in_t *in, const gw_field_t *f)
{
    if (gw_header_is_hop_by_hop(f->name, f->name_len) || in_list(owned, sizeof(owned) / sizeof(owned[0]), f->name, f->name_len) ||
        in_list(spoofing, sizeof(spoofing) / sizeof(spoofing[0]), f->name, f->name_len) ||
        (!in->trusted_peer && in_list(proxy_info, sizeof(proxy_info) / sizeof(proxy_info[0]), f->name, f->name_len)) ||
        in_fields(in->remove, in->num_remove, f->name, f->name_len) || in_fields(in->set, in->num_set, f->name, f->name_len) ||
        is_named(f, "cookie"))
        return 0;
    for (size_t i = 0; i != in->num_fields; ++i)
        if (is_named(&in->fields[i], "connection") &&
            gw_connection_lists(in->fields[i].value, in->fields[i].value_len, f->name, f->name_len))
            return 0;
    return 1;
}

/* The client's value of a field sluice may keep (X-Forwarded-Proto / -Host from a trusted proxy). */
static int kept_from_proxy(const gw_reqhead_in_t *in, const char *name)
{
    if (!in->trusted_peer)
        return 0;
    for (size_t i = 0; i != in->num_fields; ++i)
        if (is_named(&in->fields[i], name))
            return !in_fields(in->remove, in->num_remove, in->fields[i].name, in->fields[i].name_len);
    return 0;
}

size_t gw_reqhead_size(const gw_reqhead_in_t *in)
{
    size_t n = in->method_len + in->target_len + in->host_len * 2 + in->request_id_len + in->upgrade_len + 400;
    n += in->peer_ip != NULL ? strlen(in->peer_ip) : 0;
    n += in->proto != NULL ? strlen(in->proto) : 0;
    for (size_t i = 0; i != in->num_fields; ++i)
        n += in->fields[i].name_len + in->fields[i].value_len + 4;
    for (size_t i = 0; i != in->num_set; ++i)
        n += in->set[i].name_len + in->set[i].value_len + 4;
    return n;
}

#define APPEND(s, n)                                                                                                               \
    do {                                                                                                                           \
        memcpy(p, (s), (n));                                                                                                       \
        p += (n);                                                                                                                  \
    } while (0)
#define APPEND_LIT(s) APPEND(s, sizeof(s) - 1)

static char *append_u64(char *p, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n != 0)
        *p++ = digits[--n];
    return p;
}

static char *append_field(char *p, const char *name, size_t name_len, const char *value, size_t value_len)
{
    APPEND(name, name_len);
    APPEND_LIT(": ");
    APPEND(value, value_len);
    APPEND_LIT("\r\n");
    return p;
}

/* Every list field of `name` joined with `sep` into one line; returns p unchanged when none. */
static char *append_joined(char *p, const gw_reqhead_in_t *in, const char *name, const char *sep, const char *last)
{
    int any = 0;
    for (size_t i = 0; i != in->num_fields; ++i) {
        const gw_field_t *f = &in->fields[i];
        if (!is_named(f, name) || f->value_len == 0)
            continue;
        if (!any)
            p = append_field(p, name, strlen(name), "", 0) - 2; /* "name: ", the CRLF comes last */
        else
            APPEND(sep, strlen(sep));
        APPEND(f->value, f->value_len);
        any = 1;
    }
    if (last != NULL) {
        if (!any)
            p = append_field(p, name, strlen(name), "", 0) - 2;
        else
            APPEND(sep, strlen(sep));
        APPEND(last, strlen(last));
        any = 1;
    }
    if (any)
        APPEND_LIT("\r\n");
    return p;
}

/* Why an input could break the head, or NULL when none can. */
static const char *bad_input(const gw_reqhead_in_t *in)
{
    if (!is_token(in->method, in->method_len))
        return "invalid method";
    if (in->target_len == 0 || in->target[0] != '/' || !gw_field_value_is_valid(in->target, in->target_len) ||
        memchr(in->target, ' ', in->target_len) != NULL || memchr(in->target, '\t', in->target_len) != NULL)
        return "invalid request target";
    if (!gw_host_is_valid(in->host, in->host_len))
        return "invalid host";
    for (size_t i = 0; i != in->num_fields; ++i)
        if (!is_token(in->fields[i].name, in->fields[i].name_len) ||
            !gw_field_value_is_valid(in->fields[i].value, in->fields[i].value_len))
            return "invalid header field";
    for (size_t i = 0; i != in->num_set; ++i)
        if (!is_token(in->set[i].name, in->set[i].name_len) || !gw_field_value_is_valid(in->set[i].value, in->set[i].value_len))
            return "invalid value in request_headers.set";
    if (in->upgrade != NULL && !gw_field_value_is_valid(in->upgrade, in->upgrade_len))
        return "invalid Upgrade";
    return NULL;
}

ssize_t gw_reqhead_write(const gw_reqhead_in_t *in, char *dst, const char **why)
{
    const char *bad = bad_input(in);
    if (bad != NULL) {
        *why = bad;
        return -1;
    }
    char *p = dst;
    APPEND(in->method, in->method_len);
    APPEND_LIT(" ");
    APPEND(in->target, in->target_len);
    APPEND_LIT(" HTTP/1.1\r\n");
    p = append_field(p, "host", 4, in->host, in->host_len);
    for (size_t i = 0; i != in->num_fields; ++i)
        if (forwards(in, &in->fields[i]))
            p = append_field(p, in->fields[i].name, in->fields[i].name_len, in->fields[i].value, in->fields[i].value_len);
    p = append_joined(p, in, "cookie", "; ", NULL);
    for (size_t i = 0; i != in->num_set; ++i)
        p = append_field(p, in->set[i].name, in->set[i].name_len, in->set[i].value, in->set[i].value_len);
    if (in->body == GW_REQBODY_LENGTH) {
        APPEND_LIT("content-length: ");
        p = append_u64(p, in->content_length);
        APPEND_LIT("\r\n");
    } else if (in->body == GW_REQBODY_CHUNKED) {
        APPEND_LIT("transfer-encoding: chunked\r\n");
    }
    if (!in_fields(in->set, in->num_set, "x-forwarded-for", 15))
        p = append_joined(p, in, "x-forwarded-for", ", ", in->peer_ip);
    if (!kept_from_proxy(in, "x-forwarded-proto") && !in_fields(in->set, in->num_set, "x-forwarded-proto", 17))
        p = append_field(p, "x-forwarded-proto", 17, in->proto, strlen(in->proto));
    if (!kept_from_proxy(in, "x-forwarded-host") && !in_fields(in->set, in->num_set, "x-forwarded-host", 16))
        p = append_field(p, "x-forwarded-host", 16, in->host, in->host_len);
    p = append_field(p, "x-request-id", 12, in->request_id, in->request_id_len);
    APPEND_LIT("x-request-timeout-ms: ");
    p = append_u64(p, in->budget_ms);
    APPEND_LIT("\r\n");
    if (in->upgrade != NULL) {
        APPEND_LIT("connection: upgrade\r\n");
        p = append_field(p, "upgrade", 7, in->upgrade, in->upgrade_len);
    }
    APPEND_LIT("\r\n");
    return p - dst;
}

/* The value of ${NAME} at tpl (tpl points at '$'), with *skip set to the template bytes it
 * replaces; NULL when it is not one of the variables. */
static const char *template_var(const char *tpl, const gw_template_vars_t *v, size_t *len, size_t *skip)
{
    static const char *const names[] = {"client_ip", "request_id", "route", "host"};
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i) {
        size_t n = strlen(names[i]);
        if (tpl[1] != '{' || strncmp(tpl + 2, names[i], n) != 0 || tpl[2 + n] != '}')
            continue;
        *skip = n + 3;
        switch (i) {
        case 0:
            *len = strlen(v->client_ip);
            return v->client_ip;
        case 1:
            *len = v->request_id_len;
            return v->request_id;
        case 2:
            *len = strlen(v->route);
            return v->route;
        default:
            *len = v->host != NULL ? v->host_len : 0;
            return v->host != NULL ? v->host : "";
        }
    }
    return NULL;
}

static size_t fill(const char *tpl, const gw_template_vars_t *vars, char *dst)
{
    size_t n = 0;
    for (const char *p = tpl; *p != '\0';) {
        size_t len, skip;
        const char *value;
        if (p[0] == '$' && p[1] == '$') {
            if (dst != NULL)
                dst[n] = '$';
            ++n;
            p += 2;
        } else if (p[0] == '$' && (value = template_var(p, vars, &len, &skip)) != NULL) {
            if (dst != NULL)
                memcpy(dst + n, value, len);
            n += len;
            p += skip;
        } else {
            if (dst != NULL)
                dst[n] = *p;
            ++n;
            ++p;
        }
    }
    return n;
}

size_t gw_template_size(const char *tpl, const gw_template_vars_t *vars)
{
    return fill(tpl, vars, NULL);
}

size_t gw_template_fill(const char *tpl, const gw_template_vars_t *vars, char *dst)
{
    return fill(tpl, vars, dst);
}
