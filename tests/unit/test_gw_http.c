/* Unit tests of the gateway's pure HTTP helpers (gateway/gw_http.c). */
#include <string.h>
#include "check.h"
#include "gw_http.h"

static void test_request_id(void)
{
    CHECK(gw_request_id_is_valid("abc-123_x.y:z", 13));
    CHECK(!gw_request_id_is_valid("", 0));
    CHECK(!gw_request_id_is_valid("has space", 9));
    CHECK(!gw_request_id_is_valid("quote\"", 6));
    char long_id[129];
    memset(long_id, 'a', sizeof(long_id));
    CHECK(gw_request_id_is_valid(long_id, 128));
    CHECK(!gw_request_id_is_valid(long_id, 129));

    char out[33] = {0};
    gw_request_id_format(out, 0x0123456789abcdefull, 0xfedcba9876543210ull);
    CHECK_STR(out, "0123456789abcdeffedcba9876543210");
    CHECK(gw_request_id_is_valid(out, 32));
}

static void test_hop_by_hop(void)
{
    CHECK(gw_header_is_hop_by_hop("connection", 10));
    CHECK(gw_header_is_hop_by_hop("keep-alive", 10));
    CHECK(gw_header_is_hop_by_hop("transfer-encoding", 17));
    CHECK(gw_header_is_hop_by_hop("te", 2));
    CHECK(gw_header_is_hop_by_hop("upgrade", 7));
    CHECK(gw_header_is_hop_by_hop("proxy-authorization", 19));
    CHECK(!gw_header_is_hop_by_hop("content-type", 12));
    CHECK(!gw_header_is_hop_by_hop("t", 1));
    CHECK(!gw_header_is_hop_by_hop("authorization", 13));

    const char *v = "keep-alive, X-Secret ,foo";
    CHECK(gw_connection_lists(v, strlen(v), "x-secret", 8));
    CHECK(gw_connection_lists(v, strlen(v), "foo", 3));
    CHECK(gw_connection_lists(v, strlen(v), "keep-alive", 10));
    CHECK(!gw_connection_lists(v, strlen(v), "x-secre", 7));
    CHECK(!gw_connection_lists(v, strlen(v), "close", 5));
    CHECK(!gw_connection_lists("", 0, "a", 1));
}

static void test_json_escape(void)
{
    char out[64];
    const char in[] = "a\"b\\c\n\x01\xff/";
    size_t n = gw_json_escape(out, in, sizeof(in) - 1);
    out[n] = '\0';
    CHECK_STR(out, "a\\\"b\\\\c\\u000a\\u0001\\ufffd/");
}

/* UTF-8 passes through as it is (a log shows /été, not /Ã©tÃ©); what is not UTF-8 becomes
 * U+FFFD, a byte at a time, so the output is always valid JSON. */
static void test_json_escape_utf8(void)
{
    char out[128];
    const char *cases[][2] = {
        {"/\xc3\xa9t\xc3\xa9", "/\xc3\xa9t\xc3\xa9"},         /* é: 2 bytes */
        {"\xe2\x82\xac", "\xe2\x82\xac"},                     /* €: 3 bytes */
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},             /* U+1F600: 4 bytes */
        {"\xc2\xa9", "\xc2\xa9"},                             /* ©: the lowest 2-byte lead */
        {"\xc0\xaf", "\\ufffd\\ufffd"},                       /* overlong '/' */
        {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},            /* a surrogate */
        {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* above U+10FFFF */
        {"\xe2\x82", "\\ufffd\\ufffd"},                       /* cut short at the end */
        {"\x7f", "\\u007f"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t n = gw_json_escape(out, cases[i][0], strlen(cases[i][0]));
        out[n] = '\0';
        CHECK_STR(out, cases[i][1]);
    }
}

int main(void)
{
    test_request_id();
    test_hop_by_hop();
    test_json_escape();
    test_json_escape_utf8();
    return CHECK_SUMMARY();
}
