/* Unit tests of sluice's own error answers (gateway/gw_jsonerr.c): one JSON shape, escaped, and
 * one reason-phrase table. */
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

static void test_reasons(void)
{
    CHECK_STR(gw_status_reason(200), "OK");
    CHECK_STR(gw_status_reason(404), "Not Found");
    CHECK_STR(gw_status_reason(429), "Too Many Requests");
    CHECK_STR(gw_status_reason(431), "Request Header Fields Too Large");
    CHECK_STR(gw_status_reason(503), "Service Unavailable");
    CHECK_STR(gw_status_reason(504), "Gateway Timeout");
    CHECK_STR(gw_status_reason(505), "HTTP Version Not Supported");
    CHECK_STR(gw_status_reason(150), "Informational");
    CHECK_STR(gw_status_reason(299), "OK");
    CHECK_STR(gw_status_reason(399), "Redirect");
    CHECK_STR(gw_status_reason(418), "Client Error");
    CHECK_STR(gw_status_reason(599), "Server Error");
}

int main(void)
{
    test_body();
    test_long_inputs_are_cut_and_fit();
    test_reasons();
    return CHECK_SUMMARY();
}
