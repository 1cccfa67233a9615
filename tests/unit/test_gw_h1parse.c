/* Unit tests of the strict HTTP/1.1 parser (gateway/gw_h1parse.c): request heads, response heads
 * and chunked bodies, with the smuggling and framing attacks a gateway must refuse. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "gw_h1parse.h"

/* Parses a whole request head given as a C string; returns the status (0 = accepted). */
static int parse_req(const char *text, gw_h1_request_t *req, const char **why)
{
    static char buf[70000];
    size_t len = strlen(text), scan = 0, start = 0;
    memcpy(buf, text, len);
    ssize_t end = gw_h1_find_head_end(buf, len, &scan, 1, &start);
    if (end <= 0)
        return end == 0 ? -2 : -1;
    return gw_h1_parse_request(buf + start, (size_t)end - start, req, why);
}

static int status_of(const char *text)
{
    gw_h1_request_t req;
    const char *why = NULL;
    return parse_req(text, &req, &why);
}

static void test_a_simple_request(void)
{
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("GET /a/b?c=d HTTP/1.1\r\nHost: Example.com\r\nX-Thing:  v a l  \r\n\r\n", &req, &why) == 0);
    CHECK(req.method_len == 3 && memcmp(req.method, "GET", 3) == 0);
    CHECK(req.target_len == 8 && memcmp(req.target, "/a/b?c=d", 8) == 0);
    CHECK(req.minor_version == 1);
    CHECK_EQ_U64(req.num_headers, 2);
    CHECK(req.headers[0].name_len == 4 && memcmp(req.headers[0].name, "host", 4) == 0);
    CHECK(req.headers[1].name_len == 7 && memcmp(req.headers[1].name, "x-thing", 7) == 0);
    CHECK(req.headers[1].value_len == 5 && memcmp(req.headers[1].value, "v a l", 5) == 0);
    CHECK(req.host_len == 11 && memcmp(req.host, "Example.com", 11) == 0);
    CHECK(req.body == GW_H1_BODY_NONE);
    CHECK(req.keep_alive);
    CHECK(!req.expect_continue);
    CHECK(req.upgrade == NULL);
}

static void test_framing(void)
{
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0012\r\n\r\n", &req, &why) == 0);
    CHECK(req.body == GW_H1_BODY_LENGTH);
    CHECK_EQ_U64(req.content_length, 12);
    CHECK(parse_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", &req, &why) == 0);
    CHECK(req.body == GW_H1_BODY_CHUNKED);
    CHECK(parse_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n", &req, &why) == 0);
    CHECK_EQ_U64(req.content_length, 999999999999999999ULL);

    /* smuggling: every ambiguous framing is refused */
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") == 501);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n") == 501);
}

static void test_line_ends_and_folding(void)
{
    CHECK(status_of("GET / HTTP/1.1\nHost: h\n\n") == -1);                       /* bare LF */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\n\r\n") == -1);                   /* one bare LF */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\rX: y\r\n\r\n") == -1);         /* bare CR */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") == 400);  /* obs-fold */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n") == 400); /* obs-fold, tab */
    CHECK(status_of("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400);               /* first field folded */
    CHECK(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);               /* space before the colon */
    CHECK(status_of("GET / HTTP/1.1\r\nHo(st: h\r\n\r\n") == 400);               /* not a token */
    CHECK(status_of("GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n") == 400);         /* empty name */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\001b\r\n\r\n") == 400);   /* control byte */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\177b\r\n\r\n") == 400);   /* DEL */
    char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: aXb\r\n\r\n";
    nul[strlen("GET / HTTP/1.1\r\nHost: h\r\nX: a")] = '\0';
    gw_h1_request_t req;
    const char *why;
    size_t len = sizeof(nul) - 1, scan = 0, start = 0;
    ssize_t end = gw_h1_find_head_end(nul, len, &scan, 1, &start);
    CHECK(end == (ssize_t)len);
    CHECK(gw_h1_parse_request(nul, len, &req, &why) == 400); /* NUL in a value */
    /* obs-text (UTF-8) in a value is allowed */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: \xc3\xa9t\xc3\xa9\r\n\r\n") == 0);
}

static void test_request_line(void)
{
    CHECK(status_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET /\001 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/0.9\r\nHost: h\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET / http/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(status_of("GET /\r\n\r\n") == 400);
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("GET / HTTP/1.9\r\nHost: h\r\n\r\n", &req, &why) == 0);
    CHECK(req.minor_version == 1);
    /* a method of 64 bytes is fine, 65 is not (5,000 certainly not) */
    char line[200];
    memset(line, 'M', 64);
    strcpy(line + 64, " / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(status_of(line) == 0);
    memset(line, 'M', 65);
    strcpy(line + 65, " / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(status_of(line) == 400);
    /* empty lines before the request line are skipped */
    CHECK(parse_req("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why) == 0);
    CHECK(req.target_len == 2);
}

static void test_host(void)
{
    gw_h1_request_t req;
    const char *why;
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);                               /* none in 1.1 */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);         /* two */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n") == 400);         /* two, even equal */
    CHECK(status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n") == 400);                      /* empty */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == 400);                  /* space */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: u@evil\r\n\r\n") == 400);               /* userinfo */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == 400);                  /* a path */
    CHECK(parse_req("GET / HTTP/1.0\r\n\r\n", &req, &why) == 0 && req.host == NULL); /* none in 1.0 */
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", &req, &why) == 0 && req.host_len == 10);
}

static void test_connection_and_expect(void)
{
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", &req, &why) == 0 && !req.keep_alive);
    CHECK(parse_req("GET / HTTP/1.0\r\n\r\n", &req, &why) == 0 && !req.keep_alive);
    CHECK(parse_req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req, &why) == 0 && req.keep_alive);
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n", &req, &why) == 0 &&
          !req.keep_alive);
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", &req, &why) == 0);
    CHECK(req.upgrade != NULL && req.upgrade_len == 9);
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &req, &why) == 0 && req.upgrade == NULL);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n") == 400);
    CHECK(parse_req("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", &req, &why) == 0 &&
          req.expect_continue);
    CHECK(parse_req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &req, &why) == 0 &&
          !req.expect_continue);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n") == 417);
}

static void test_limits(void)
{
    /* exactly GW_H1_MAX_HEADERS fields pass, one more is 431 */
    static char buf[8192];
    char *p = buf;
    p += sprintf(p, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i != GW_H1_MAX_HEADERS; ++i)
        p += sprintf(p, "X-%d: v\r\n", i);
    strcpy(p, "\r\n");
    CHECK(status_of(buf) == 0);
    sprintf(p, "X-last: v\r\n\r\n");
    CHECK(status_of(buf) == 431);
    /* a 64 KiB value is parsed (the size limit is the caller's) */
    static char big[70000];
    p = big + sprintf(big, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
    memset(p, 'v', 65536);
    strcpy(p + 65536, "\r\n\r\n");
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req(big, &req, &why) == 0 && req.headers[1].value_len == 65536);
}

static void test_find_head_end_byte_by_byte(void)
{
    const char text[] = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\nNEXT";
    size_t scan = 0, start = 0;
    ssize_t end = 0;
    size_t len;
    for (len = 1; len <= sizeof(text) - 1 && (end = gw_h1_find_head_end(text, len, &scan, 1, &start)) == 0; ++len)
        ;
    CHECK(end == (ssize_t)(sizeof(text) - 1 - 4));
    CHECK_EQ_U64(start, 2);
    /* a CR at the end of what has arrived waits for its LF */
    scan = start = 0;
    CHECK(gw_h1_find_head_end("GET / HTTP/1.1\r", 15, &scan, 1, &start) == 0);
    CHECK(gw_h1_find_head_end("GET / HTTP/1.1\rX", 16, &scan, 1, &start) == -1);
    scan = start = 0;
    CHECK(gw_h1_find_head_end("\n", 1, &scan, 1, &start) == -1);
}

/* Responses: the status line, the framing decision, and what a lying backend sends. */
static int parse_res(const char *text, gw_h1_response_t *res)
{
    static char buf[4096];
    size_t len = strlen(text), scan = 0, start = 0;
    memcpy(buf, text, len);
    ssize_t end = gw_h1_find_head_end(buf, len, &scan, 0, &start);
    const char *why;
    if (end <= 0)
        return -1;
    return gw_h1_parse_response(buf, (size_t)end, res, &why);
}

static void test_responses(void)
{
    gw_h1_response_t res;
    int reusable;
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &res) == 0);
    CHECK(res.status == 200 && res.has_content_length && res.content_length == 5);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_LENGTH && reusable);
    CHECK(gw_h1_response_framing(&res, 1, &reusable) == GW_H1_BODY_NONE && reusable); /* HEAD */
    CHECK(parse_res("HTTP/1.1 204\r\n\r\n", &res) == 0 && res.status == 204);         /* no reason */
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_NONE);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_CHUNKED && reusable);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_CHUNKED && !reusable);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_UNTIL_CLOSE && !reusable);
    CHECK(parse_res("HTTP/1.1 200 OK\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_UNTIL_CLOSE && !reusable);
    CHECK(parse_res("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_LENGTH && !reusable);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_LENGTH && !reusable);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n", &res) == 0 && res.content_length == 7);

    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length:\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 999 Nope\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 099 Nope\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 600 Nope\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 20 OK\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/2 200 OK\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 200 OK\nX: a\n\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 200 O\001K\r\n\r\n", &res) == -1);
    CHECK(parse_res("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &res) == 0);
    CHECK(res.status == 101 && res.connection_upgrade);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_NONE);
}

/* Decodes `text` fed in pieces of `step` bytes; returns the data, or NULL when malformed. */
static const char *dechunk(const char *text, size_t step, ssize_t *rest)
{
    static char out[4096];
    char buf[4096];
    size_t out_len = 0, len = strlen(text);
    gw_chunked_t d;
    memset(&d, 0, sizeof(d));
    *rest = -2;
    for (size_t at = 0; at < len && *rest == -2; at += step) {
        size_t n = len - at < step ? len - at : step;
        memcpy(buf, text + at, n);
        *rest = gw_chunked_decode(&d, buf, &n);
        if (*rest == -1)
            return NULL;
        memcpy(out + out_len, buf, n);
        out_len += n;
    }
    out[out_len] = '\0';
    return out;
}

static void test_chunked(void)
{
    ssize_t rest;
    for (size_t step = 1; step <= 64; step = step * 2 + 1) {
        CHECK_STR(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", step, &rest), "hello world");
        CHECK(rest == 0);
        CHECK_STR(dechunk("5;ext=1;x=\"y\"\r\nhello\r\n0\r\nTrailer: t\r\n\r\n", step, &rest), "hello");
        CHECK(rest == 0);
        CHECK_STR(dechunk("A\r\n0123456789\r\n0\r\n\r\n", step, &rest), "0123456789");
        CHECK(dechunk("5\nhello\r\n0\r\n\r\n", step, &rest) == NULL);               /* bare LF after the size */
        CHECK(dechunk("5\r\nhello\n0\r\n\r\n", step, &rest) == NULL);               /* bare LF after the data */
        CHECK(dechunk("5\r\nhelloX\r\n0\r\n\r\n", step, &rest) == NULL);            /* data longer than its size */
        CHECK(dechunk("x\r\nhello\r\n0\r\n\r\n", step, &rest) == NULL);             /* not hex */
        CHECK(dechunk(" 5\r\nhello\r\n0\r\n\r\n", step, &rest) == NULL);            /* space before the size */
        CHECK(dechunk("-5\r\nhello\r\n0\r\n\r\n", step, &rest) == NULL);            /* a sign */
        CHECK(dechunk("1000000000000000\r\n", step, &rest) == NULL);                /* 16 hex digits */
        CHECK(dechunk("5\r\nhello\r\n0\r\nX: a\001\r\n\r\n", step, &rest) == NULL); /* control in a trailer */
        CHECK(dechunk("5;a\001\r\nhello\r\n0\r\n\r\n", step, &rest) == NULL);       /* control in an extension */
    }
    /* the bytes after the end of the body follow the decoded data */
    char buf[] = "3\r\nabc\r\n0\r\n\r\nGET /next";
    size_t len = sizeof(buf) - 1;
    gw_chunked_t d;
    memset(&d, 0, sizeof(d));
    CHECK(gw_chunked_decode(&d, buf, &len) == 9);
    CHECK(len == 3 && memcmp(buf, "abcGET /next", 12) == 0);
    CHECK_STR(dechunk("ffffffffffffff\r\nabc", 64, &rest), "abc"); /* 15 digits: accepted, body goes on */
    CHECK(rest == -2);
    /* an extension longer than 4 KiB is refused */
    static char longext[6000];
    strcpy(longext, "1;");
    memset(longext + 2, 'e', 5000);
    strcpy(longext + 5002, "\r\nx\r\n0\r\n\r\n");
    CHECK(dechunk(longext, 4096, &rest) == NULL);
}

int main(void)
{
    test_a_simple_request();
    test_framing();
    test_line_ends_and_folding();
    test_request_line();
    test_host();
    test_connection_and_expect();
    test_limits();
    test_find_head_end_byte_by_byte();
    test_responses();
    test_chunked();
    return CHECK_SUMMARY();
}
