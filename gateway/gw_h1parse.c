#include "gw_h1parse.h"

#include <string.h>
#include <strings.h>
#include "gw_path.h"

#define MAX_CHUNK_LINE 4096
#define MAX_TRAILERS 16384
#define MAX_SIZE_DIGITS 15 /* chunk sizes below 2^60: no overflow, whatever the client sends */

int gw_h1_is_tchar(unsigned char c)
{
    /* RFC 9110 section 5.6.2: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
     * "`" / "|" / "~" / DIGIT / ALPHA */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return memchr(extra, c, sizeof(extra) - 1) != NULL; /* - 1: the NUL is no tchar */
}

/* A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static int is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

ssize_t gw_h1_find_head_end(const char *buf, size_t len, size_t *scan, int skip_empty, size_t *head_start)
{
    size_t i = *scan;
    if (skip_empty && i == *head_start) {
        while (*head_start + 1 < len && buf[*head_start] == '\r' && buf[*head_start + 1] == '\n')
            *head_start += 2;
        i = *head_start; /* a bare LF or a CR last here is seen below, like any other */
    }
    for (; i < len; ++i) {
        if (buf[i] == '\r') {
            if (i + 1 == len)
                break;
            if (buf[i + 1] != '\n')
                return -1;
        } else if (buf[i] == '\n') {
            if (i == *head_start || buf[i - 1] != '\r')
                return -1;
            if (i >= *head_start + 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
                *scan = i + 1;
                return (ssize_t)(i + 1);
            }
        }
    }
    *scan = i;
    return 0;
}

/* The line starting at *p, which must end in CRLF before `end`: returns its length and moves *p
 * past the CRLF, or -1 when there is no CRLF (or a bare CR or LF comes first). */
static ssize_t take_line(const char **p, const char *end)
{
    const char *s = *p;
    for (const char *q = s; q < end; ++q) {
        if (*q == '\n')
            return -1;
        if (*q == '\r') {
            if (q + 1 >= end || q[1] != '\n')
                return -1;
            *p = q + 2;
            return q - s;
        }
    }
    return -1;
}

static int eq_nocase(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* Calls fn for each comma-separated element of a list value, whitespace trimmed, empty elements
 * skipped (RFC 9110 section 5.6.1). */
static void each_element(const char *v, size_t len, void (*fn)(const char *e, size_t n, void *data), void *data)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            ++p;
        const char *e = p;
        while (p < end && *p != ',')
            ++p;
        const char *e_end = p;
        while (e_end > e && (e_end[-1] == ' ' || e_end[-1] == '\t'))
            --e_end;
        if (e_end > e)
            fn(e, (size_t)(e_end - e), data);
    }
}

/* One header line (without its CRLF): validated, name lower-cased in place. */
static int parse_field(char *line, size_t len, gw_h1_header_t *h, const char **why)
{
    if (len == 0 || line[0] == ' ' || line[0] == '\t') {
        *why = "obsolete line folding is not accepted";
        return -1;
    }
    size_t n = 0;
    while (n < len && gw_h1_is_tchar((unsigned char)line[n]))
        ++n;
    if (n == 0 || n == len || line[n] != ':') {
        *why = n < len && (line[n] == ' ' || line[n] == '\t') ? "whitespace between a header name and its colon"
                                                              : "invalid header name";
        return -1;
    }
    for (size_t i = 0; i != n; ++i)
        if (line[i] >= 'A' && line[i] <= 'Z')
            line[i] = (char)(line[i] - 'A' + 'a');
    size_t v = n + 1, v_end = len;
    while (v < len && (line[v] == ' ' || line[v] == '\t'))
        ++v;
    while (v_end > v && (line[v_end - 1] == ' ' || line[v_end - 1] == '\t'))
        --v_end;
    for (size_t i = v; i != v_end; ++i) {
        if (!is_field_byte((unsigned char)line[i])) {
            *why = "control character in a header value";
            return -1;
        }
    }
    *h = (gw_h1_header_t){line, n, line + v, v_end - v};
    return 0;
}

/* Reads the header lines up to the empty line. */
static int parse_fields(char **p, const char *end, gw_h1_header_t *headers, size_t *num, int *too_many, const char **why)
{
    *num = 0;
    *too_many = 0;
    for (;;) {
        char *line = *p;
        ssize_t len = take_line((const char **)p, end);
        if (len < 0) {
            *why = "line not ended by CRLF";
            return -1;
        }
        if (len == 0)
            return 0;
        if (*num == GW_H1_MAX_HEADERS) {
            *too_many = 1;
            *why = "too many header fields";
            return -1;
        }
        if (parse_field(line, (size_t)len, &headers[*num], why) != 0)
            return -1;
        ++*num;
    }
}

static int is_digits(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Decimal digits without overflow: at most 18 of them (below 10^18). */
static int parse_decimal(const char *s, size_t len, uint64_t *out)
{
    if (!is_digits(s, len) || len > 18)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i != len; ++i)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *out = v;
    return 0;
}

typedef struct {
    unsigned close : 1, keep_alive : 1, upgrade : 1;
} conn_tokens_t;

static void on_connection_token(const char *e, size_t n, void *data)
{
    conn_tokens_t *t = data;
    if (eq_nocase(e, n, "close"))
        t->close = 1;
    else if (eq_nocase(e, n, "keep-alive"))
        t->keep_alive = 1;
    else if (eq_nocase(e, n, "upgrade"))
        t->upgrade = 1;
}

static int request_line(char **p, const char *end, gw_h1_request_t *req, const char **why)
{
    char *line = *p;
    ssize_t len = take_line((const char **)p, end);
    if (len < 0) {
        *why = "request line not ended by CRLF";
        return 400;
    }
    const char *s = line, *e = line + len;
    const char *m = s;
    while (s < e && gw_h1_is_tchar((unsigned char)*s))
        ++s;
    if (s == m || s == e || *s != ' ' || s - m > GW_H1_MAX_METHOD) {
        *why = s - m > GW_H1_MAX_METHOD ? "method too long" : "invalid method";
        return 400;
    }
    req->method = m;
    req->method_len = (size_t)(s - m);
    const char *t = ++s;
    while (s < e && (unsigned char)*s > 0x20 && *s != 0x7f)
        ++s;
    if (s == t || s == e || *s != ' ') {
        *why = "invalid request target";
        return 400;
    }
    req->target = t;
    req->target_len = (size_t)(s - t);
    ++s;
    if (e - s != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9') {
        *why = "invalid HTTP version";
        return 400;
    }
    if (s[5] != '1') {
        *why = "HTTP version not supported";
        return 505;
    }
    req->minor_version = s[7] == '0' ? 0 : 1;
    return 0;
}

int gw_h1_parse_request(char *buf, size_t head_len, gw_h1_request_t *req, const char **why)
{
    char *p = buf;
    const char *end = buf + head_len;
    int status, too_many;

    /* method and target stay NULL when they could not be read (the caller logs what was);
     * the fields set only when their header is present start empty */
    memset(req, 0, offsetof(gw_h1_request_t, headers));
    req->body = GW_H1_BODY_NONE;
    req->content_length = 0;
    req->host = req->upgrade = NULL;
    req->host_len = req->upgrade_len = 0;
    if ((status = request_line(&p, end, req, why)) != 0)
        return status;
    if (parse_fields(&p, end, req->headers, &req->num_headers, &too_many, why) != 0)
        return too_many ? 431 : 400;
    if (p != end) {
        *why = "bytes after the end of the head";
        return 400;
    }

    int num_cl = 0, num_te = 0, num_host = 0, num_upgrade = 0, expect_other = 0, expect_continue = 0;
    const gw_h1_header_t *te = NULL;
    conn_tokens_t conn = {0};
    for (size_t i = 0; i != req->num_headers; ++i) {
        const gw_h1_header_t *h = &req->headers[i];
        switch (h->name_len) {
        case 4:
            if (memcmp(h->name, "host", 4) == 0) {
                ++num_host;
                req->host = h->value;
                req->host_len = h->value_len;
            }
            break;
        case 6:
            if (memcmp(h->name, "expect", 6) == 0) {
                if (eq_nocase(h->value, h->value_len, "100-continue"))
                    expect_continue = 1;
                else
                    expect_other = 1;
            }
            break;
        case 7:
            if (memcmp(h->name, "upgrade", 7) == 0) {
                ++num_upgrade;
                req->upgrade = h->value;
                req->upgrade_len = h->value_len;
            }
            break;
        case 10:
            if (memcmp(h->name, "connection", 10) == 0)
                each_element(h->value, h->value_len, on_connection_token, &conn);
            break;
        case 14:
            if (memcmp(h->name, "content-length", 14) == 0) {
                ++num_cl;
                if (parse_decimal(h->value, h->value_len, &req->content_length) != 0) {
                    *why = "invalid Content-Length";
                    return 400;
                }
            }
            break;
        case 17:
            if (memcmp(h->name, "transfer-encoding", 17) == 0) {
                ++num_te;
                te = h;
            }
            break;
        }
    }

    if (num_cl > 1) {
        *why = "several Content-Length fields";
        return 400;
    }
    if (num_te != 0) {
        if (num_te > 1 || num_cl != 0 || req->minor_version == 0) {
            *why = num_te > 1    ? "several Transfer-Encoding fields"
                   : num_cl != 0 ? "both Transfer-Encoding and Content-Length"
                                 : "Transfer-Encoding in an HTTP/1.0 request";
            return 400;
        }
        if (!eq_nocase(te->value, te->value_len, "chunked")) {
            *why = "transfer coding not implemented";
            return 501;
        }
        req->body = GW_H1_BODY_CHUNKED;
    } else if (num_cl != 0) {
        req->body = GW_H1_BODY_LENGTH;
    }
    if (num_host > 1 || (num_host == 0 && req->minor_version == 1)) {
        *why = num_host > 1 ? "several Host fields" : "no Host field";
        return 400;
    }
    if (req->host != NULL && !gw_host_is_valid(req->host, req->host_len)) {
        *why = req->host_len == 0 ? "empty Host field" : "invalid Host field";
        return 400;
    }
    if (num_upgrade > 1) {
        *why = "several Upgrade fields";
        return 400;
    }
    if (!conn.upgrade || req->minor_version == 0) {
        req->upgrade = NULL;
        req->upgrade_len = 0;
    }
    if (expect_other) {
        *why = "unsupported expectation";
        return 417;
    }
    req->expect_continue = expect_continue && req->minor_version == 1;
    req->keep_alive = req->minor_version == 1 ? !conn.close : conn.keep_alive && !conn.close;
    return 0;
}

typedef struct {
    int last_is_chunked;
    int count;
} te_state_t;

static void on_coding(const char *e, size_t n, void *data)
{
    te_state_t *t = data;
    ++t->count;
    t->last_is_chunked = eq_nocase(e, n, "chunked");
}

typedef struct {
    int bad;
    int seen;
    unsigned elements;
    uint64_t value;
} cl_state_t;

/* Content-Length of a response: several fields, or a list, are accepted only when every value is
 * the same number (RFC 9112 section 6.3, item 5). */
static void on_length(const char *e, size_t n, void *data)
{
    cl_state_t *c = data;
    uint64_t v = 0;
    ++c->elements;
    if (parse_decimal(e, n, &v) != 0 || (c->seen && v != c->value))
        c->bad = 1;
    c->seen = 1;
    c->value = v;
}

int gw_h1_parse_response(char *buf, size_t head_len, gw_h1_response_t *res, const char **why)
{
    char *p = buf;
    const char *end = buf + head_len;
    int too_many;

    char *line = p;
    ssize_t len = take_line((const char **)&p, end);
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' || line[8] != ' ' || line[9] < '1' ||
        line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' || (len > 12 && line[12] != ' ')) {
        *why = "invalid status line";
        return -1;
    }
    for (ssize_t i = 13; i < len; ++i) {
        if (!is_field_byte((unsigned char)line[i])) {
            *why = "control character in the reason phrase";
            return -1;
        }
    }
    res->minor_version = line[7] == '0' ? 0 : 1;
    res->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (parse_fields(&p, end, res->headers, &res->num_headers, &too_many, why) != 0)
        return -1;
    if (p != end) {
        *why = "bytes after the end of the head";
        return -1;
    }

    te_state_t te = {0, 0};
    cl_state_t cl = {0, 0, 0, 0};
    conn_tokens_t conn = {0};
    for (size_t i = 0; i != res->num_headers; ++i) {
        const gw_h1_header_t *h = &res->headers[i];
        if (h->name_len == 17 && memcmp(h->name, "transfer-encoding", 17) == 0)
            each_element(h->value, h->value_len, on_coding, &te);
        else if (h->name_len == 14 && memcmp(h->name, "content-length", 14) == 0) {
            unsigned before = cl.elements;
            each_element(h->value, h->value_len, on_length, &cl);
            if (cl.elements == before)
                cl.bad = 1; /* an empty Content-Length */
        } else if (h->name_len == 10 && memcmp(h->name, "connection", 10) == 0)
            each_element(h->value, h->value_len, on_connection_token, &conn);
    }
    if (cl.bad) {
        *why = "invalid Content-Length";
        return -1;
    }
    res->has_content_length = cl.seen;
    res->content_length = cl.value;
    res->chunked = te.count != 0 && te.last_is_chunked;
    res->other_coding = te.count != 0 && !te.last_is_chunked;
    res->connection_close = conn.close || (res->minor_version == 0 && !conn.keep_alive);
    res->connection_upgrade = conn.upgrade;
    return 0;
}

gw_h1_body_t gw_h1_response_framing(const gw_h1_response_t *res, int method_is_head, int *reusable)
{
    *reusable = !res->connection_close;
    if (res->chunked || res->other_coding) {
        /* a message with both framings was possibly meant to be read otherwise by someone:
         * deliver it by its Transfer-Encoding, then drop the connection (RFC 9112 6.3) */
        if (res->has_content_length)
            *reusable = 0;
    }
    if (method_is_head || res->status < 200 || res->status == 204 || res->status == 304)
        return GW_H1_BODY_NONE;
    if (res->chunked)
        return GW_H1_BODY_CHUNKED;
    if (res->other_coding) {
        *reusable = 0;
        return GW_H1_BODY_UNTIL_CLOSE;
    }
    if (res->has_content_length)
        return GW_H1_BODY_LENGTH;
    *reusable = 0;
    return GW_H1_BODY_UNTIL_CLOSE;
}

enum {
    CH_SIZE,      /* the first hex digit of a chunk size */
    CH_SIZE_MORE, /* more hex digits, or the end of the size */
    CH_EXT,       /* a chunk extension, up to CR */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,      /* the start of a trailer line, or the final CRLF */
    CH_TRAILER_LINE, /* inside a trailer line */
    CH_TRAILER_LF,
    CH_END_LF
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t gw_chunked_decode(gw_chunked_t *d, char *buf, size_t *len)
{
    size_t i = 0, o = 0, n = *len;
    while (i < n) {
        char c = buf[i];
        switch (d->state) {
        case CH_SIZE:
        case CH_SIZE_MORE: {
            int v = hex_value(c);
            if (v >= 0) {
                if (++d->digits > MAX_SIZE_DIGITS)
                    return -1;
                d->chunk_left = d->chunk_left * 16 + (uint64_t)v;
                d->state = CH_SIZE_MORE;
                ++i;
                break;
            }
            if (d->state == CH_SIZE)
                return -1;
            if (c == ';' || c == ' ' || c == '\t') {
                d->state = CH_EXT;
                d->line_len = d->digits;
            } else if (c == '\r') {
                d->state = CH_SIZE_LF;
                ++i;
            } else {
                return -1;
            }
        } break;
        case CH_EXT:
            if (c == '\r') {
                d->state = CH_SIZE_LF;
            } else if (!is_field_byte((unsigned char)c) || ++d->line_len > MAX_CHUNK_LINE) {
                return -1;
            }
            ++i;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return -1;
            ++i;
            d->digits = 0;
            d->state = d->chunk_left != 0 ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = n - i < d->chunk_left ? n - i : (size_t)d->chunk_left;
            if (o != i)
                memmove(buf + o, buf + i, take);
            o += take;
            i += take;
            if ((d->chunk_left -= take) == 0)
                d->state = CH_DATA_CR;
        } break;
        case CH_DATA_CR:
            if (c != '\r')
                return -1;
            ++i;
            d->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return -1;
            ++i;
            d->state = CH_SIZE;
            break;
        case CH_TRAILER:
            if (c == '\r') {
                d->state = CH_END_LF;
                ++i;
                break;
            }
            d->state = CH_TRAILER_LINE;
            /* fall through */
        case CH_TRAILER_LINE:
            if (c == '\r') {
                d->state = CH_TRAILER_LF;
            } else if (!is_field_byte((unsigned char)c) || ++d->trailer_bytes > MAX_TRAILERS) {
                return -1;
            }
            ++i;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                return -1;
            ++i;
            d->state = CH_TRAILER;
            break;
        case CH_END_LF:
            if (c != '\n')
                return -1;
            ++i;
            memmove(buf + o, buf + i, n - i);
            *len = o;
            return (ssize_t)(n - i);
        }
    }
    *len = o;
    return -2;
}
