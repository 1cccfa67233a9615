/* Unit tests of sluice's own error answers (gateway/gw_jsonerr.c): one JSON shape, escaped, and
 * one reason-phrase table. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "gw_jsonerr.h"

static void test_body(void)
{
    char out[GW_JSONERR_MAX];
    size_t n = gw_jsonerr_format(out, 429, "rate_limited", "rate limit exceeded", "orders", "abc", 3);
    out[n] = '\0';
    CHECK_STR(out, "{\"error\":{\"status\":429,\"code\":\"rate_limited\",\"message\":\"rate limit exceeded\",\"route\":\"orders\","
                   "\"request_id\":\"abc\"}}\n");
    n = gw_jsonerr_format(out, 400, "bad_request", "say \"no\"\n", NULL, "x", 1);
    out[n] = '\0';
    CHECK_STR(out, "{\"error\":{\"status\":400,\"code\":\"bad_request\",\"message\":\"say \\\"no\\\"\\u000a\",\"route\":null,"
                   "\"request_id\":\"x\"}}\n");
}

static void test_long_inputs_are_cut_and_fit(void)
{
    static char msg[10000];
    memset(msg, '"', sizeof(msg) - 1); /* each escapes to two bytes */
    char out[GW_JSONERR_MAX];
    size_t n = gw_jsonerr_format(out, 502, msg, msg, msg, msg, strlen(msg));
    CHECK(n < GW_JSONERR_MAX);
    CHECK(out[n - 1] == '\n' && out[n - 2] == '}' && out[n - 3] == '}');
    static char ctl[10000];
    memset(ctl, 1, sizeof(ctl) - 1); /* each escapes to six bytes: the worst case */
    n = gw_jsonerr_format(out, 502, ctl, ctl, ctl, ctl, strlen(ctl));
    CHECK(n < GW_JSONERR_MAX);
}

/* Each string field is cut to 200 bytes before escaping: 200 'a's stay whole, 201 lose one. */
static void test_fields_cut_at_200_bytes(void)
{
    char a201[202];
    memset(a201, 'a', 201);
    a201[201] = '\0';
    char a200[201];
    memcpy(a200, a201, 200);
    a200[200] = '\0';
    char out[GW_JSONERR_MAX], want[GW_JSONERR_MAX];
    size_t n = gw_jsonerr_format(out, 503, a201, a201, a201, a201, 201);
    out[n] = '\0';
    snprintf(want, sizeof(want),
             "{\"error\":{\"status\":503,\"code\":\"%s\",\"message\":\"%s\",\"route\":\"%s\",\"request_id\":\"%s\"}}\n", a200, a200,
             a200, a200);
    CHECK_STR(out, want);
    CHECK_EQ_U64(n, strlen(want));
    n = gw_jsonerr_format(out, 503, a200, a200, a200, a200, 200);
    out[n] = '\0';
    CHECK_STR(out, want);
    /* the request id is taken by length, not up to a NUL */
    n = gw_jsonerr_format(out, 503, "c", "m", "r", "abcdef", 2);
    out[n] = '\0';
    CHECK_STR(out, "{\"error\":{\"status\":503,\"code\":\"c\",\"message\":\"m\",\"route\":\"r\",\"request_id\":\"ab\"}}\n");
}

/* The status is written as three digits; one outside 0..999 is written as 000 rather than
 * overflowing the digits. */
static void test_status_digits(void)
{
    static const struct {
        int status;
        const char *digits;
    } cases[] = {{0, "000"}, {7, "007"}, {42, "042"}, {100, "100"}, {999, "999"}, {1000, "000"}, {-1, "000"}, {123456, "000"}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char out[GW_JSONERR_MAX], want[200];
        size_t n = gw_jsonerr_format(out, cases[i].status, "c", "m", NULL, "i", 1);
        out[n] = '\0';
        snprintf(want, sizeof(want),
                 "{\"error\":{\"status\":%s,\"code\":\"c\",\"message\":\"m\",\"route\":null,\"request_id\":\"i\"}}\n",
                 cases[i].digits);
        CHECK_STR(out, want);
    }
}

/* Every status from -5 to 1100: its own phrase (RFC 9110's, plus nginx's 499) when it has one,
 * its class's otherwise; a neighbour of a listed status must not borrow its phrase. */
static void test_every_reason(void)
{
    static const struct {
        int status;
        const char *reason;
    } named[] = {{100, "Continue"},
                 {101, "Switching Protocols"},
                 {200, "OK"},
                 {201, "Created"},
                 {202, "Accepted"},
                 {204, "No Content"},
                 {206, "Partial Content"},
                 {301, "Moved Permanently"},
                 {302, "Found"},
                 {303, "See Other"},
                 {304, "Not Modified"},
                 {307, "Temporary Redirect"},
                 {308, "Permanent Redirect"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {408, "Request Timeout"},
                 {409, "Conflict"},
                 {413, "Content Too Large"},
                 {417, "Expectation Failed"},
                 {422, "Unprocessable Content"},
                 {429, "Too Many Requests"},
                 {431, "Request Header Fields Too Large"},
                 {499, "Client Closed Request"},
                 {500, "Internal Server Error"},
                 {501, "Not Implemented"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"},
                 {505, "HTTP Version Not Supported"}};
    int wrong = 0;
    for (int status = -5; status <= 1100; ++status) {
        const char *want = status < 200   ? "Informational"
                           : status < 300 ? "OK"
                           : status < 400 ? "Redirect"
                           : status < 500 ? "Client Error"
                                          : "Server Error";
        for (size_t i = 0; i != sizeof(named) / sizeof(named[0]); ++i)
            if (named[i].status == status)
                want = named[i].reason;
        if (strcmp(gw_status_reason(status), want) != 0) {
            fprintf(stderr, "status %d: \"%s\", want \"%s\"\n", status, gw_status_reason(status), want);
            ++wrong;
        }
    }
    CHECK(wrong == 0);
    /* the class boundaries, spelled out */
    CHECK_STR(gw_status_reason(199), "Informational");
    CHECK_STR(gw_status_reason(203), "OK");
    CHECK_STR(gw_status_reason(300), "Redirect");
    CHECK_STR(gw_status_reason(402), "Client Error");
    CHECK_STR(gw_status_reason(498), "Client Error");
    CHECK_STR(gw_status_reason(506), "Server Error");
}

int main(void)
{
    test_body();
    test_long_inputs_are_cut_and_fit();
    test_fields_cut_at_200_bytes();
    test_status_digits();
    test_every_reason();
    return CHECK_SUMMARY();
}
