/* Unit tests of the gateway's pure HTTP helpers (gateway/gw_http.c). */
#include <stdio.h>
#include <stdlib.h>
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

/* A heap copy of exactly len bytes (no NUL): a sanitizer build sees any read past either end. */
static char *exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    memcpy(p, s, len);
    return p;
}

/* Every byte value, alone and at each end of an id: only [A-Za-z0-9._:-] is allowed. */
static void test_request_id_alphabet(void)
{
    for (int c = 0; c != 256; ++c) {
        int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                   c == ':';
        char id[3] = {(char)c, 'a', (char)c};
        CHECK_EQ_U64(gw_request_id_is_valid(id, 1), want);
        CHECK_EQ_U64(gw_request_id_is_valid(id, 2), want);
        CHECK_EQ_U64(gw_request_id_is_valid(id + 1, 2), want);
    }
    CHECK_EQ_U64(gw_request_id_is_valid("AZaz09", 6), 1);
}

static void test_hop_by_hop_exact(void)
{
    static const char *const names[] = {
        "connection", "keep-alive",        "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
        "trailer",    "transfer-encoding", "upgrade"};
    for (size_t i = 0; i != sizeof(names) / sizeof(names[0]); ++i) {
        size_t len = strlen(names[i]);
        char *name = exact(names[i], len);
        CHECK_EQ_U64(gw_header_is_hop_by_hop(name, len), 1);
        CHECK_EQ_U64(gw_header_is_hop_by_hop(name, len - 1), 0);
        free(name);
    }
    CHECK_EQ_U64(gw_header_is_hop_by_hop("trailers", 8), 0);
}

/* Connection: a list of tokens with optional blanks (spaces and tabs) around each, compared
 * case-insensitively, whole tokens only; an empty name is never listed. */
static void test_connection_lists_exact(void)
{
    static const struct {
        const char *value, *name;
        int want;
    } cases[] = {{"a, b", "b", 1},
                 {"a, b", "a", 1},
                 {"b", "b", 1},
                 {"ab", "b", 0},
                 {"x-secret\t", "x-secret", 1},
                 {"\tx-secret\t,y", "x-secret", 1},
                 {"x-secret \t ", "X-SECRET", 1},
                 {"x-secre t", "x-secre", 0},
                 {"a,,b", "b", 1},
                 {"a, ", "", 0},
                 {",", "", 0},
                 {"", "", 0},
                 {" ", "a", 0},
                 {"close", "close", 1},
                 {"a,close", "close", 1}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t len = strlen(cases[i].value);
        char *value = exact(cases[i].value, len);
        if (gw_connection_lists(value, len, cases[i].name, strlen(cases[i].name)) != cases[i].want) {
            fprintf(stderr, "\"%s\" lists \"%s\": expected %d\n", cases[i].value, cases[i].name, cases[i].want);
            CHECK(0);
        }
        free(value);
    }
}

/* Every byte value: '"' and '\\' get a backslash, control bytes and 0x7f become \u00XX, a byte
 * from 0x80 up alone (not UTF-8) becomes \ufffd, the rest is copied; the length returned is what
 * was written. */
static void test_json_escape_every_byte(void)
{
    for (int c = 0; c != 256; ++c) {
        char in[1] = {(char)c}, out[8], want[8];
        size_t n = gw_json_escape(out, in, 1);
        if (c == '"' || c == '\\')
            snprintf(want, sizeof(want), "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            snprintf(want, sizeof(want), "\\u00%02x", c);
        else if (c >= 0x80) /* alone, never valid UTF-8 */
            snprintf(want, sizeof(want), "\\ufffd");
        else
            snprintf(want, sizeof(want), "%c", c);
        CHECK_EQ_U64(n, strlen(want));
        out[n < sizeof(out) ? n : sizeof(out) - 1] = '\0';
        CHECK_STR(out, want);
    }
    char out[4];
    CHECK_EQ_U64(gw_json_escape(out, "x", 0), 0);
}

int main(void)
{
    test_request_id();
    test_hop_by_hop();
    test_json_escape();
    test_json_escape_utf8();
    test_request_id_alphabet();
    test_hop_by_hop_exact();
    test_connection_lists_exact();
    test_json_escape_every_byte();
    return CHECK_SUMMARY();
}
