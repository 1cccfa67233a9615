/*
 * libFuzzer target for what an upstream sends: the response head (gw_h1_parse_response), the
 * framing decision and a chunked body after it. Checks: an accepted status is 100..599; a
 * response with both Content-Length and Transfer-Encoding never keeps its connection; a body
 * decoded whole and decoded a byte at a time give the same bytes and the same end.
 *
 * fuzz-sources: gateway/gw_h1parse.c gateway/gw_path.c
 * fuzz-cflags: -Igateway -D_GNU_SOURCE -std=c11
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "gw_h1parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    size_t scan = 0, start = 0;
    ssize_t end = gw_h1_find_head_end(buf, size, &scan, 0, &start);
    gw_h1_response_t res;
    const char *why;
    if (end > 0 && gw_h1_parse_response(buf, (size_t)end, &res, &why) == 0) {
        check(res.status >= 100 && res.status <= 599);
        int reusable;
        gw_h1_body_t framing = gw_h1_response_framing(&res, size % 2, &reusable);
        if (res.has_content_length && (res.chunked || res.other_coding))
            check(!reusable);
        if (framing == GW_H1_BODY_UNTIL_CLOSE)
            check(!reusable);
        if (framing == GW_H1_BODY_CHUNKED) {
            size_t body_len = size - (size_t)end;
            char *whole = malloc(body_len + 1), *bytewise = malloc(body_len + 1);
            memcpy(whole, buf + end, body_len);
            gw_chunked_t a, b;
            memset(&a, 0, sizeof(a));
            memset(&b, 0, sizeof(b));
            size_t whole_len = body_len;
            ssize_t whole_ret = gw_chunked_decode(&a, whole, &whole_len);
            size_t out = 0;
            ssize_t ret = -2;
            for (size_t i = 0; i != body_len && ret == -2; ++i) {
                char c = buf[end + (ssize_t)i];
                size_t one = 1;
                ret = gw_chunked_decode(&b, &c, &one);
                if (ret == -1)
                    break;
                if (one != 0)
                    bytewise[out++] = c;
                if (ret >= 0)
                    ret = (ssize_t)(body_len - i - 1); /* what follows the body in the whole input */
            }
            check((whole_ret == -1) == (ret == -1));
            if (whole_ret != -1) {
                check(whole_len == out && memcmp(whole, bytewise, out) == 0);
                check(whole_ret == ret);
            }
            free(whole);
            free(bytewise);
        }
    }
    free(buf);
    return 0;
}
