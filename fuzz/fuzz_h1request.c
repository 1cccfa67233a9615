/*
 * libFuzzer target for the request path from client bytes to the head sent upstream: strict
 * parsing (gw_h1parse), target and path (gw_path), the upstream head (gw_reqhead). Beyond the
 * sanitizers it checks what makes smuggling impossible:
 * - a normalised path starts with '/' and holds no control byte;
 * - every head sluice would send upstream parses back, with the same strict parser, as exactly
 *   one request (the head ends where the bytes end) with the same method, target and host, and
 *   holds no CR, LF or NUL except in its line ends.
 *
 * fuzz-sources: gateway/gw_h1parse.c gateway/gw_path.c gateway/gw_reqhead.c gateway/gw_http.c
 * fuzz-cflags: -Igateway -D_GNU_SOURCE -std=c11
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "gw_h1parse.h"
#include "gw_path.h"
#include "gw_reqhead.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sent_head(const char *head, size_t len, const gw_reqhead_in_t *in)
{
    /* no CR or LF but as CRLF, no NUL */
    for (size_t i = 0; i != len; ++i) {
        check(head[i] != '\0');
        if (head[i] == '\r')
            check(i + 1 < len && head[i + 1] == '\n');
        if (head[i] == '\n')
            check(i > 0 && head[i - 1] == '\r');
    }
    char *copy = malloc(len + 1);
    memcpy(copy, head, len);
    size_t scan = 0, start = 0;
    ssize_t end = gw_h1_find_head_end(copy, len, &scan, 1, &start);
    check(end == (ssize_t)len && start == 0); /* one head, nothing after it */
    gw_h1_request_t back;
    const char *why;
    check(gw_h1_parse_request(copy, len, &back, &why) == 0);
    check(back.method_len == in->method_len && memcmp(back.method, in->method, in->method_len) == 0);
    check(back.target_len == in->target_len && memcmp(back.target, in->target, in->target_len) == 0);
    check(back.host_len == in->host_len && memcmp(back.host, in->host, in->host_len) == 0);
    check(back.body == (in->body == GW_REQBODY_CHUNKED  ? GW_H1_BODY_CHUNKED
                        : in->body == GW_REQBODY_LENGTH ? GW_H1_BODY_LENGTH
                                                        : GW_H1_BODY_NONE));
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    size_t scan = 0, start = 0;
    ssize_t end = gw_h1_find_head_end(buf, size, &scan, 1, &start);
    gw_h1_request_t req;
    gw_target_t target;
    const char *why;
    if (end <= 0 || gw_h1_parse_request(buf + start, (size_t)end - start, &req, &why) != 0 ||
        gw_target_split(req.target, req.target_len, &target, &why) != 0)
        goto Done;

    char *path = malloc(target.path_len + 1);
    ssize_t path_len = gw_path_normalize(target.path, target.path_len, path, &why);
    if (path_len >= 0) {
        check(path_len >= 1 && path[0] == '/' && (size_t)path_len <= target.path_len + 1);
        for (ssize_t i = 0; i != path_len; ++i)
            check((unsigned char)path[i] >= 0x20 && path[i] != 0x7f);
    }
    free(path);

    /* the re-parse below takes at most GW_H1_MAX_HEADERS fields, and sluice adds up to six */
    if (req.num_headers > GW_H1_MAX_HEADERS - 8)
        goto Done;
    gw_field_t *fields = malloc(sizeof(*fields) * (req.num_headers + 1));
    for (size_t i = 0; i != req.num_headers; ++i)
        fields[i] = (gw_field_t){req.headers[i].name, req.headers[i].name_len, req.headers[i].value, req.headers[i].value_len};
    gw_reqhead_in_t in = {.method = req.method,
                          .method_len = req.method_len,
                          .target = target.origin,
                          .target_len = target.origin_len,
                          .host = req.host != NULL ? req.host : "upstream",
                          .host_len = req.host != NULL ? req.host_len : 8,
                          .fields = fields,
                          .num_fields = req.num_headers,
                          .trusted_peer = size % 2,
                          .peer_ip = "127.0.0.1",
                          .proto = "http",
                          .request_id = "fuzz",
                          .request_id_len = 4,
                          .budget_ms = 1000,
                          .body = req.body == GW_H1_BODY_CHUNKED  ? GW_REQBODY_CHUNKED
                                  : req.body == GW_H1_BODY_LENGTH ? GW_REQBODY_LENGTH
                                                                  : GW_REQBODY_NONE,
                          .content_length = req.content_length,
                          .upgrade = req.upgrade,
                          .upgrade_len = req.upgrade_len};
    size_t cap = gw_reqhead_size(&in);
    char *head = malloc(cap);
    ssize_t len = gw_reqhead_write(&in, head, &why);
    if (len >= 0) {
        check((size_t)len <= cap);
        check_sent_head(head, (size_t)len, &in);
    }
    free(head);
    free(fields);
Done:
    free(buf);
    return 0;
}
