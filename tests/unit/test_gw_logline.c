/* Unit tests of the access-log line formatter (gateway/gw_logline.c). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "gw_logline.h"

static gw_logline_t sample(void)
{
    gw_logline_t l = {
        .second = "2026-11-22T23:09:26",
        .millisecond = 7,
        .request_id = "abc-123",
        .request_id_len = 7,
        .route = "orders",
        .method = "GET",
        .method_len = 3,
        .path = "/orders/42?x=1",
        .path_len = 14,
        .status = 200,
        .decision = "admitted",
        .queue_ns = 0,
        .upstream_ns = 1234567,
        .total_ns = 1500000,
        .client_ip = "10.1.2.3",
        .bytes = 512,
    };
    return l;
}

static const char *format(const gw_logline_t *l)
{
    static char text[GW_LOGLINE_SIZE + 1];
    size_t len = gw_logline_format(text, l);
    text[len] = '\0';
    return text;
}

static void test_whole_line(void)
{
    gw_logline_t l = sample();
    CHECK_STR(format(&l), "{\"ts\":\"2026-11-22T23:09:26.007Z\",\"request_id\":\"abc-123\",\"route\":\"orders\",\"method\":\"GET\","
                          "\"path\":\"/orders/42?x=1\",\"status\":200,\"decision\":\"admitted\",\"queue_ms\":0.000,"
                          "\"upstream_ms\":1.235,\"total_ms\":1.500,\"client_ip\":\"10.1.2.3\",\"bytes\":512}\n");
}

static void test_no_route_and_escapes(void)
{
    gw_logline_t l = sample();
    l.route = NULL;
    l.decision = "none";
    l.status = 404;
    l.path = "/a\"b\\c\n\x01\xff";
    l.path_len = 9;
    const char *text = format(&l);
    CHECK(strstr(text, "\"route\":null,") != NULL);
    CHECK(strstr(text, "\"path\":\"/a\\\"b\\\\c\\u000a\\u0001\\ufffd\"") != NULL);
    CHECK(strstr(text, "\"status\":404,\"decision\":\"none\"") != NULL);
}

/* A response cut short says why, as the last key; an uncut one has no such key. */
static void test_cut(void)
{
    gw_logline_t l = sample();
    CHECK(strstr(format(&l), "\"cut\"") == NULL);
    l.cut = "read_timeout";
    const char *text = format(&l);
    CHECK(strstr(text, "\"bytes\":512,\"cut\":\"read_timeout\"}\n") != NULL);
}

static void test_durations_round_to_the_microsecond(void)
{
    gw_logline_t l = sample();
    l.queue_ns = 499;            /* 0.000499 ms -> 0.000 */
    l.upstream_ns = 500;         /* 0.0005 ms -> 0.001 */
    l.total_ns = 12345678999ull; /* 12345.678999 ms -> 12345.679 */
    const char *text = format(&l);
    CHECK(strstr(text, "\"queue_ms\":0.000,\"upstream_ms\":0.001,\"total_ms\":12345.679,") != NULL);

    /* the same figures printf gives for durations that are whole microseconds */
    for (unsigned long long us = 0; us < 3000000; us += 997) {
        l.total_ns = us * 1000;
        char want[64];
        snprintf(want, sizeof(want), "\"total_ms\":%.3f,", (double)us / 1000.0);
        CHECK(strstr(format(&l), want) != NULL);
    }
}

static void test_long_fields_are_cut_and_fit(void)
{
    static char path[GW_LOGLINE_MAX_PATH * 2];
    memset(path, '\x01', sizeof(path)); /* every byte escapes to 6 characters */
    static char method[GW_LOGLINE_MAX_METHOD * 2];
    memset(method, '"', sizeof(method));
    static char name[GW_LOGLINE_MAX_NAME * 2];
    memset(name, 'n', sizeof(name) - 1);
    gw_logline_t l = sample();
    l.path = path;
    l.path_len = sizeof(path);
    l.method = method;
    l.method_len = sizeof(method);
    l.route = l.decision = l.client_ip = name;
    l.status = 599;
    l.bytes = UINT64_MAX;
    l.total_ns = UINT64_MAX - 1000;
    const char *text = format(&l);
    size_t len = strlen(text);
    CHECK(len < GW_LOGLINE_SIZE);
    CHECK(text[len - 1] == '\n');
    CHECK(strstr(text, "\"bytes\":18446744073709551615}") != NULL);
    const char *p = strstr(text, "\"path\":\"");
    CHECK(p != NULL && strncmp(p + 8 + 6 * GW_LOGLINE_MAX_PATH, "\",", 2) == 0);
}

int main(void)
{
    test_whole_line();
    test_no_route_and_escapes();
    test_cut();
    test_durations_round_to_the_microsecond();
    test_long_fields_are_cut_and_fit();
    return CHECK_SUMMARY();
}
