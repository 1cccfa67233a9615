/* Unit tests of the strict HTTP/1.1 parser (gateway/gw_h1parse.c): request heads, response heads
 * and chunked bodies, with the smuggling and framing attacks a gateway must refuse. */
#include <stdio.h>
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

/* Every refusal of a request head, with its status and its reason (what the client is told). */
static void test_request_refusals_and_reasons(void)
{
    static const struct {
        const char *text;
        int status;
        const char *why;
    } cases[] = {
        {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"},
        {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"},
        {"GET\r\nHost: h\r\n\r\n", 400, "invalid method"},
        {"GET/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"},
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid request target"},
        {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid request target"},
        {"GET /a\x1f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid request target"},
        {"GET /\r\nHost: h\r\n\r\n", 400, "invalid request target"},
        {"GET /\tHTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid request target"},
        {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/1.\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/1,1\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTQ/1.1\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/1./\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/1.:\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP//.1\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/:.1\r\nHost: h\r\n\r\n", 400, "invalid HTTP version"},
        {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, "HTTP version not supported"},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP version not supported"},
        {"GET / HTTP/9.1\r\nHost: h\r\n\r\n", 505, "HTTP version not supported"},
        {"GET / HTTP/1.1\r\nHost: h\r\n X: a\r\n\r\n", 400, "obsolete line folding is not accepted"},
        {"GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400, "obsolete line folding is not accepted"},
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "whitespace between a header name and its colon"},
        {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400, "whitespace between a header name and its colon"},
        {"GET / HTTP/1.1\r\nHo(st: h\r\n\r\n", 400, "invalid header name"},
        {"GET / HTTP/1.1\r\n: h\r\n\r\n", 400, "invalid header name"},
        {"GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "invalid header name"},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1f\r\n\r\n", 400, "control character in a header value"},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: \x7f\r\n\r\n", 400, "control character in a header value"},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: \x01 a\r\n\r\n", 400, "control character in a header value"},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 400, "invalid Content-Length"},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: /\r\n\r\n", 400, "invalid Content-Length"},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: :\r\n\r\n", 400, "invalid Content-Length"},
        {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400, "several Content-Length fields"},
        {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "several Transfer-Encoding fields"},
        {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400,
         "both Transfer-Encoding and Content-Length"},
        {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
        {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer coding not implemented"},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "several Host fields"},
        {"GET / HTTP/1.1\r\n\r\n", 400, "no Host field"},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "empty Host field"},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host field"},
        {"GET / HTTP/1.0\r\nHost: a\"b\r\n\r\n", 400, "invalid Host field"},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n", 400, "several Upgrade fields"},
        {"GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417, "unsupported expectation"},
        {"GET / HTTP/1.0\r\nExpect: x\r\n\r\n", 417, "unsupported expectation"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        gw_h1_request_t req;
        const char *why = NULL;
        int status = parse_req(cases[i].text, &req, &why);
        if (status != cases[i].status || why == NULL || strcmp(why, cases[i].why) != 0)
            fprintf(stderr, "case %zu: %d \"%s\", want %d \"%s\"\n", i, status, why != NULL ? why : "(null)", cases[i].status,
                    cases[i].why);
        CHECK(status == cases[i].status);
        CHECK_STR(why, cases[i].why);
    }
}

/* gw_h1_parse_request on a head that gw_h1_find_head_end would not have passed. */
static void test_request_heads_not_from_find_head_end(void)
{
    gw_h1_request_t req;
    const char *why = NULL;
    char a[] = "GET / HTTP/1.1";
    CHECK(gw_h1_parse_request(a, sizeof(a) - 1, &req, &why) == 400);
    CHECK_STR(why, "request line not ended by CRLF");
    char b[] = "GET / HTTP/1.1\r\nHost: h\r\nX: y";
    CHECK(gw_h1_parse_request(b, sizeof(b) - 1, &req, &why) == 400);
    CHECK_STR(why, "line not ended by CRLF");
    char c[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nX";
    CHECK(gw_h1_parse_request(c, sizeof(c) - 1, &req, &why) == 400);
    CHECK_STR(why, "bytes after the end of the head");
    char d[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n";
    CHECK(gw_h1_parse_request(d, sizeof(d) - 1, &req, &why) == 400);
    CHECK_STR(why, "line not ended by CRLF");
    char e[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\nb\r\n\r\n";
    CHECK(gw_h1_parse_request(e, sizeof(e) - 1, &req, &why) == 400);
    CHECK_STR(why, "line not ended by CRLF");
    char f[] = "GET / HTTP/1.1\r\nHost: h\r\n\r";
    CHECK(gw_h1_parse_request(f, sizeof(f) - 1, &req, &why) == 400);
    CHECK_STR(why, "line not ended by CRLF");
    /* a CR last in the head is not ended by an LF that lies past it */
    char g[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK(gw_h1_parse_request(g, sizeof(g) - 2, &req, &why) == 400);
    CHECK_STR(why, "line not ended by CRLF");
}

/* Response heads at the bounds of what is accepted. */
static void test_response_bounds(void)
{
    gw_h1_response_t res;
    int reusable;
    static const char *const refused[] = {
        "HTTP/1.x 200 OK\r\n\r\n",
        "HTTP/1./ 200 OK\r\n\r\n",
        "HTTP/1.: 200 OK\r\n\r\n",
        "HTTP/1.1_200 OK\r\n\r\n",
        "HTTP/1.1 2/0 OK\r\n\r\n",
        "HTTP/1.1 2:0 OK\r\n\r\n",
        "HTTP/1.1 20/ OK\r\n\r\n",
        "HTTP/1.1 20: OK\r\n\r\n",
        "HTTP/1.1 0 OK\r\n\r\n",
        "HTTP/1.1 /00 OK\r\n\r\n",
        "HTTP/1.1 200X\r\n\r\n",
        "HTTP/1.1 200 \x01\r\n\r\n",
        "HTTP/1.1 200 a\x7f\r\n\r\n",
        "HTTP/1.2 2000\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: , \r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n",
    };
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        if (parse_res(refused[i], &res) != -1)
            fprintf(stderr, "response %zu accepted\n", i);
        CHECK(parse_res(refused[i], &res) == -1);
    }
    CHECK(parse_res("HTTP/1.1 100\r\n\r\n", &res) == 0 && res.status == 100);
    CHECK(parse_res("HTTP/1.0 599 a\tb ~\x80\r\n\r\n", &res) == 0 && res.status == 599 && res.minor_version == 0);
    CHECK(parse_res("HTTP/1.9 543 X\r\n\r\n", &res) == 0 && res.status == 543 && res.minor_version == 1);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: ,7,\r\n\r\n", &res) == 0 && res.has_content_length &&
          res.content_length == 7);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &res) == 0 && res.has_content_length == 1 &&
          res.content_length == 0);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nX: 1\r\n\r\n", &res) == 0 && res.has_content_length == 0 && res.content_length == 0 &&
          !res.chunked && !res.other_coding);
    CHECK(res.num_headers == 1 && !res.connection_close && !res.connection_upgrade);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &res) == 0 && !res.chunked && res.other_coding);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", &res) == 0 && res.chunked &&
          !res.other_coding);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n", &res) == 0 && !res.chunked && !res.other_coding);
    CHECK(parse_res("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", &res) == 0 && !res.connection_close);
    CHECK(parse_res("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n", &res) == 0 && res.connection_close);
    CHECK(parse_res("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", &res) == 0 && res.connection_close);
    /* no body: HEAD, 1xx, 204, 304; a body: 199 is 1xx, 200, 205, 303 */
    static const struct {
        const char *text;
        int head;
        gw_h1_body_t body;
    } framing[] = {
        {"HTTP/1.1 199 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_NONE},
        {"HTTP/1.1 200 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_LENGTH},
        {"HTTP/1.1 204 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_NONE},
        {"HTTP/1.1 205 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_LENGTH},
        {"HTTP/1.1 203 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_LENGTH},
        {"HTTP/1.1 304 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_NONE},
        {"HTTP/1.1 303 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_LENGTH},
        {"HTTP/1.1 305 X\r\nContent-Length: 3\r\n\r\n", 0, GW_H1_BODY_LENGTH},
        {"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n", 1, GW_H1_BODY_NONE},
    };
    for (size_t i = 0; i != sizeof(framing) / sizeof(framing[0]); ++i) {
        CHECK(parse_res(framing[i].text, &res) == 0);
        CHECK(gw_h1_response_framing(&res, framing[i].head, &reusable) == framing[i].body);
        CHECK(reusable);
    }
    /* both framings: delivered by Transfer-Encoding, the connection dropped even with no body */
    CHECK(parse_res("HTTP/1.1 304 X\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_NONE && !reusable);
    CHECK(parse_res("HTTP/1.1 200 X\r\nContent-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 1, &reusable) == GW_H1_BODY_NONE && !reusable);
}

static void test_chunked_bounds(void)
{
    ssize_t rest;
    /* a malformed body is -1 at once, fed whole; a byte in place of the CR or LF is not skipped */
    static const char *const malformed[] = {
        "5\rXhello\r\n0\r\n\r\n", "5\r\nhelloX\n0\r\n\r\n", "5\r\nhello\rX0\r\n\r\n", "0\r\nX: y\rZ\r\n\r\n", "0\r\n\rX", "x\r\n"};
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i) {
        char buf[64];
        size_t len = strlen(malformed[i]);
        memcpy(buf, malformed[i], len);
        gw_chunked_t d;
        memset(&d, 0, sizeof(d));
        CHECK(gw_chunked_decode(&d, buf, &len) == -1);
    }
    /* sizes of several digits */
    CHECK_STR(dechunk("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", 9, &rest),
              "abcdefghijklmnopqrstuvwxyz0123456789abcdef");
    CHECK(dechunk("1A\r\nabcdefghijklmnopqrstuvwxy\r\n0\r\n\r\n", 9, &rest) == NULL); /* 25 of 26 bytes */
    CHECK_STR(dechunk("a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n", 7, &rest), "01234567890123456789abcde");
    CHECK_STR(dechunk("f\r\n0123456789abcde\r\n9\r\n012345678\r\n0\r\n\r\n", 7, &rest), "0123456789abcde012345678");
    CHECK_STR(dechunk("00000000000000A\r\n0123456789\r\n0\r\n\r\n", 5, &rest), "0123456789"); /* 15 digits */
    CHECK(dechunk("000000000000000A\r\n0123456789\r\n0\r\n\r\n", 5, &rest) == NULL);          /* 16 */
    static const char *const bad[] = {"g\r\n",
                                      "G\r\n",
                                      "/\r\n",
                                      ":\r\n",
                                      "@\r\n",
                                      "`\r\n",
                                      "\r\n",
                                      "5\r\r\nhello\r\n0\r\n\r\n",
                                      "5\r\nhello\rX0\r\n\r\n",
                                      "5\r\nhello\r\n0\r\nX: y\rZ\r\n",
                                      "5\r\nhello\r\n0\r\n\rX",
                                      "5x\r\nhello\r\n0\r\n\r\n",
                                      "5\r\nhello\r\n0\r\nX: \x7f\r\n\r\n"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        if (dechunk(bad[i], 3, &rest) != NULL)
            fprintf(stderr, "chunked %zu accepted\n", i);
        CHECK(dechunk(bad[i], 3, &rest) == NULL);
    }
    CHECK_STR(dechunk("5 ;x\r\nhello\r\n0\t\r\n\r\n", 4, &rest), "hello");
    CHECK(rest == 0);
    CHECK_STR(dechunk("5\r\nhello\r\n0\r\nA: \t~\x80\r\nB: 2\r\n\r\nNEXT", 64, &rest), "hello");
    CHECK(rest == 4);
    /* a chunk-size line of exactly 4096 bytes (size digits included) passes, 4097 does not */
    static char line[5000];
    strcpy(line, "1;");
    memset(line + 2, 'e', 4094);
    strcpy(line + 4096, "\r\nx\r\n0\r\n\r\n");
    CHECK_STR(dechunk(line, 4096, &rest), "x");
    strcpy(line, "01;");
    memset(line + 3, 'e', 4094);
    strcpy(line + 4097, "\r\nx\r\n0\r\n\r\n");
    CHECK(dechunk(line, 4096, &rest) == NULL);
    /* trailers: 16384 bytes of trailer lines (CRLFs not counted) pass, one more does not */
    static char trailers[20000];
    char *p = trailers + sprintf(trailers, "1\r\nx\r\n0\r\n");
    for (int i = 0; i != 16; ++i) {
        memset(p, 'a', 1024);
        p[1] = ':';
        p += 1024;
        p += sprintf(p, "\r\n");
    }
    strcpy(p, "\r\n");
    CHECK_STR(dechunk(trailers, 4096, &rest), "x");
    strcpy(p - 2, "a\r\n\r\n");
    CHECK(dechunk(trailers, 4096, &rest) == NULL);
}

/* Field names: every tchar is accepted and lower-cased at the letters' bounds; values are
 * trimmed of SP and HTAB on both sides only. */
static void test_field_names_and_values(void)
{
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nAZaz09!#$%&'*+-.^_`|~: \t v \t w\t \r\nX:   \r\n\r\n", &req, &why) == 0);
    CHECK(req.num_headers == 3);
    CHECK(req.headers[1].name_len == 21 && memcmp(req.headers[1].name, "azaz09!#$%&'*+-.^_`|~", 21) == 0);
    CHECK(req.headers[1].value_len == 5 && memcmp(req.headers[1].value, "v \t w", 5) == 0);
    CHECK(req.headers[2].name_len == 1 && req.headers[2].value_len == 0);
    static const char not_tchar[] = "\"(),/:;<=>?@[\\]{} \x7f\x80";
    for (size_t i = 0; i != sizeof(not_tchar) - 1; ++i) {
        CHECK(!gw_h1_is_tchar((unsigned char)not_tchar[i]));
        char text[64];
        snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: h\r\nX%cY: v\r\n\r\n", not_tchar[i]);
        CHECK(not_tchar[i] == ':' || status_of(text) == 400); /* "X:Y: v" is X, valued "Y: v" */
    }
    CHECK(!gw_h1_is_tchar(0));
    CHECK(gw_h1_is_tchar('a') == 1 && gw_h1_is_tchar('z') == 1 && gw_h1_is_tchar('A') == 1 && gw_h1_is_tchar('Z') == 1);
    CHECK(gw_h1_is_tchar('0') == 1 && gw_h1_is_tchar('9') == 1 && gw_h1_is_tchar('~') == 1 && gw_h1_is_tchar('!') == 1);
}

/* Connection's tokens: a list, any case, whitespace and empty elements around them; a token is
 * matched whole. */
static void test_connection_tokens(void)
{
    static const struct {
        const char *value;
        int keep_alive_11, keep_alive_10;
    } cases[] = {
        {"close", 0, 0}, {" ,close, ", 0, 0},          {"\tCLOSE\t", 0, 0},      {"foo,close", 0, 0},         {"closed", 1, 0},
        {"clos", 1, 0},  {"keep-alive", 1, 1},         {"Keep-Alive , x", 1, 1}, {"keep-alive, close", 0, 0}, {"keep-alives", 1, 0},
        {",,", 1, 0},    {"upgrade,keep-alive", 1, 1},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        gw_h1_request_t req;
        const char *why;
        char text[200];
        snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: h\r\nConnection: %s\r\n\r\n", cases[i].value);
        CHECK(parse_req(text, &req, &why) == 0 && req.keep_alive == cases[i].keep_alive_11);
        snprintf(text, sizeof(text), "GET / HTTP/1.0\r\nConnection: %s\r\n\r\n", cases[i].value);
        CHECK(parse_req(text, &req, &why) == 0 && req.keep_alive == cases[i].keep_alive_10);
    }
    /* an Upgrade is kept only with the upgrade token, in HTTP/1.1 */
    gw_h1_request_t req;
    const char *why;
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: x, Upgrade \r\nUpgrade: ws\r\n\r\n", &req, &why) == 0 &&
          req.upgrade_len == 2 && memcmp(req.upgrade, "ws", 2) == 0);
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrades\r\nUpgrade: ws\r\n\r\n", &req, &why) == 0 &&
          req.upgrade == NULL && req.upgrade_len == 0);
    CHECK(parse_req("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\n", &req, &why) == 0 && req.upgrade == NULL &&
          req.upgrade_len == 0);
    /* what a first request left is not kept by a second */
    CHECK(parse_req("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &req, &why) == 0);
    CHECK(parse_req("GET / HTTP/1.0\r\n\r\n", &req, &why) == 0);
    CHECK(req.body == GW_H1_BODY_NONE && req.content_length == 0 && req.host == NULL && req.host_len == 0 && !req.expect_continue &&
          req.minor_version == 0 && req.num_headers == 0);
}

/* gw_h1_find_head_end on an exact-size copy of `text` (ASan sees a read past it). */
static ssize_t head_end(const char *text, size_t len, size_t *scan, int skip_empty, size_t *start)
{
    char *copy = malloc(len != 0 ? len : 1);
    memcpy(copy, text, len);
    ssize_t r = gw_h1_find_head_end(copy, len, scan, skip_empty, start);
    free(copy);
    return r;
}

static void test_find_head_end_edges(void)
{
    size_t scan = 0, start = 0;
    /* a response (no skipping): an empty head is found at once, and nothing is skipped */
    CHECK(head_end("\r\n\r\n", 4, &scan, 0, &start) == 4 && start == 0 && scan == 4);
    scan = start = 0;
    CHECK(head_end("\r\nX: y\r\n\r\n", 10, &scan, 0, &start) == 10 && start == 0);
    /* a request: the empty lines are skipped, the head found after them; *scan is its end */
    scan = start = 0;
    CHECK(head_end("\r\n\r\nG / HTTP/1.1\r\n\r\n", 20, &scan, 1, &start) == 20 && start == 4 && scan == 20);
    /* a CR last, at the start or after empty lines, waits */
    scan = start = 0;
    CHECK(head_end("\r", 1, &scan, 1, &start) == 0 && start == 0 && scan == 0);
    CHECK(head_end("\r\n\r", 3, &scan, 1, &start) == 0 && start == 2 && scan == 2);
    CHECK(head_end("\r\n\r\n", 4, &scan, 1, &start) == 0 && start == 4);
    CHECK(head_end("\r\n\r\n\n", 5, &scan, 1, &start) == -1);
    scan = start = 0;
    CHECK(head_end("\r\n", 2, &scan, 1, &start) == 0 && start == 2 && scan == 2);
    CHECK(head_end("\r\nG / HTTP/1.1\r", 15, &scan, 1, &start) == 0 && start == 2 && scan == 14);
    CHECK(head_end("\r\nG / HTTP/1.1\r\n", 16, &scan, 1, &start) == 0 && scan == 16);
    CHECK(head_end("\r\nG / HTTP/1.1\r\n\r", 17, &scan, 1, &start) == 0 && scan == 16);
    CHECK(head_end("\r\nG / HTTP/1.1\r\n\r\nX", 19, &scan, 1, &start) == 18 && scan == 18);
    /* a bare LF anywhere is -1 */
    scan = start = 0;
    CHECK(head_end("a\nb", 3, &scan, 0, &start) == -1);
    scan = start = 0;
    CHECK(head_end("ab\r\n\n", 5, &scan, 1, &start) == -1);
    scan = start = 0;
    CHECK(head_end("\n", 1, &scan, 0, &start) == -1);
    /* a line "X" between two CRLFs is no end */
    scan = start = 0;
    CHECK(head_end("G\r\nX\r\nY", 7, &scan, 1, &start) == 0 && scan == 7);
}

/* A field whose name has the length of a framing field's (host, expect, upgrade, connection,
 * content-length, transfer-encoding) but differs in one byte is an ordinary field: "hosx" is no
 * second Host, "content-lengtx" frames no body. A name matched on its first bytes only, or on its
 * length only, would let a client or a backend frame a message one way for sluice and another
 * way for the next hop. */
static void test_names_that_only_resemble_framing_fields(void)
{
    static const char *const lookalikes[] = {
        "hosx",       "xost",       "expecx",         "xxpect",         "upgradx",           "xpgrade",
        "connectiox", "xonnection", "content-lengtx", "xontent-length", "transfer-encodinx", "xransfer-encoding"};
    for (size_t i = 0; i != sizeof(lookalikes) / sizeof(lookalikes[0]); ++i) {
        gw_h1_request_t req;
        const char *why = NULL;
        char text[300];
        /* every value would change the request if the name were taken for the real one */
        snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n%s: close, chunked, 5, 2\r\n\r\n",
                 lookalikes[i]);
        int status = parse_req(text, &req, &why);
        if (status != 0)
            fprintf(stderr, "%s: %d %s\n", lookalikes[i], status, why);
        CHECK(status == 0);
        CHECK(req.body == GW_H1_BODY_NONE && req.keep_alive && !req.expect_continue && req.upgrade == NULL);
        CHECK(req.host_len == 1 && req.host[0] == 'h');
        /* and a lookalike of Host is no Host */
        snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n%s: h\r\n\r\n", lookalikes[i]);
        CHECK(parse_req(text, &req, &why) == 400);
        CHECK_STR(why, "no Host field");

        gw_h1_response_t res;
        int reusable = 0;
        snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n%s: close, gzip, 4\r\n\r\n", lookalikes[i]);
        CHECK(parse_res(text, &res) == 0);
        CHECK(res.has_content_length && res.content_length == 3 && !res.chunked && !res.other_coding && !res.connection_close);
        CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_LENGTH && reusable == 1);
    }
    /* "accept" has the length of "expect", "x-content-leng" that of "content-length" */
    CHECK(status_of("GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Content-Leng: 5\r\n\r\n") == 0);
}

/* Edges of what a head may hold, each of which a looser parser gets wrong. */
static void test_request_edges(void)
{
    gw_h1_request_t req;
    const char *why = NULL;
    /* RFC 3986 sub-delims and the rest of VCHAR are target bytes, '!' (0x21) the lowest */
    CHECK(parse_req("GET /a!b$&'()*+,;=:@~%21 HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why) == 0);
    CHECK(req.target_len == 20 && memcmp(req.target, "/a!b$&'()*+,;=:@~%21", 20) == 0);
    CHECK(parse_req("GET ! HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why) == 0 && req.target_len == 1);
    /* the version's "HTTP/" is matched whole */
    CHECK(parse_req("GET / HTTPx1.1\r\nHost: h\r\n\r\n", &req, &why) == 400);
    CHECK_STR(why, "invalid HTTP version");
    /* a tab before a comma ends a Connection token as a space does */
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\t, x\r\n\r\n", &req, &why) == 0 && !req.keep_alive);
    /* a one-byte field line is a bad name, not a folded line */
    CHECK(parse_req("GET / HTTP/1.1\r\nHost: h\r\nX\r\n\r\n", &req, &why) == 400);
    CHECK_STR(why, "invalid header name");
    /* a method of exactly the longest length that is not followed by a space is invalid, not too long */
    char text[200];
    memset(text, 'M', GW_H1_MAX_METHOD);
    strcpy(text + GW_H1_MAX_METHOD, "\t/ HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(parse_req(text, &req, &why) == 400);
    CHECK_STR(why, "invalid method");
    strcpy(text + GW_H1_MAX_METHOD, " / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(parse_req(text, &req, &why) == 0 && req.method_len == GW_H1_MAX_METHOD);
    /* an empty request line (given directly: gw_h1_find_head_end skips it) has no method */
    char empty[] = "\r\n\r\n";
    CHECK(gw_h1_parse_request(empty, 4, &req, &why) == 400);
    CHECK_STR(why, "invalid method");
}

/* After a refusal, method and target are NULL unless the request line gave them (the access log
 * prints them), whatever the struct held before. */
static void test_a_refused_head_names_only_what_it_read(void)
{
    gw_h1_request_t req;
    const char *why = NULL;
    memset(&req, 0xa5, sizeof(req));
    CHECK(parse_req("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why) == 400);
    CHECK(req.method == NULL && req.method_len == 0 && req.target == NULL && req.target_len == 0);
    memset(&req, 0xa5, sizeof(req));
    CHECK(parse_req("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", &req, &why) == 400);
    CHECK(req.method_len == 3 && memcmp(req.method, "GET", 3) == 0 && req.target == NULL && req.target_len == 0);
    memset(&req, 0xa5, sizeof(req));
    CHECK(parse_req("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &req, &why) == 400);
    CHECK(req.target_len == 2 && memcmp(req.target, "/x", 2) == 0);
    /* too many fields: 431, and why says so */
    static char buf[8192];
    char *p = buf + sprintf(buf, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i != GW_H1_MAX_HEADERS; ++i)
        p += sprintf(p, "X-%d: v\r\n", i);
    strcpy(p, "\r\n");
    CHECK(parse_req(buf, &req, &why) == 431);
    CHECK_STR(why, "too many header fields");
}

/* Response heads: what each refusal says, and the framing decided from scratch each time. */
static void test_response_refusals_and_framing(void)
{
    static const struct {
        const char *text;
        const char *why;
    } refused[] = {
        {"HTTP/1x1 200 OK\r\n\r\n", "invalid status line"},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", "control character in the reason phrase"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "invalid Content-Length"},
        {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "line not ended by CRLF"},
        {"HTTP/1.1 200 OK\r\n\r\nX", "bytes after the end of the head"},
    };
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i) {
        char buf[200];
        size_t len = strlen(refused[i].text);
        memcpy(buf, refused[i].text, len);
        gw_h1_response_t res;
        const char *why = NULL;
        CHECK(gw_h1_parse_response(buf, len, &res, &why) == -1);
        CHECK_STR(why, refused[i].why);
    }
    gw_h1_response_t res;
    int reusable = 0;
    CHECK(parse_res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &res) == 0);
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_LENGTH && reusable == 1);
    /* a coding other than chunked last, with a Content-Length: the body ends at close, never by
     * the length (the next hop may decode it otherwise) */
    CHECK(parse_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n", &res) == 0);
    reusable = 1;
    CHECK(gw_h1_response_framing(&res, 0, &reusable) == GW_H1_BODY_UNTIL_CLOSE && reusable == 0);
}

/* Each chunk's size may have 15 digits: the count starts again at every chunk. */
static void test_chunk_size_digits_count_per_chunk(void)
{
    ssize_t rest;
    CHECK_STR(dechunk("00000000000000A\r\n0123456789\r\n00000000000000B\r\n0123456789a\r\n0\r\n\r\n", 6, &rest),
              "01234567890123456789a");
    CHECK(rest == 0);
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
    test_request_refusals_and_reasons();
    test_request_heads_not_from_find_head_end();
    test_response_bounds();
    test_chunked_bounds();
    test_field_names_and_values();
    test_connection_tokens();
    test_find_head_end_edges();
    test_names_that_only_resemble_framing_fields();
    test_request_edges();
    test_a_refused_head_names_only_what_it_read();
    test_response_refusals_and_framing();
    test_chunk_size_digits_count_per_chunk();
    return CHECK_SUMMARY();
}
