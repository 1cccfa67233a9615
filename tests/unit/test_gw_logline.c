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

/* The milliseconds of `ts`: always three digits, every value from 0 to 999, and a caller's 1000
 * or more wraps rather than printing a fourth digit. */
static void test_timestamp_milliseconds(void)
{
    gw_logline_t l = sample();
    for (unsigned ms = 0; ms != 2100; ++ms) {
        l.millisecond = ms;
        char want[64];
        snprintf(want, sizeof(want), "{\"ts\":\"2026-11-22T23:09:26.%03uZ\",\"request_id\":", ms % 1000);
        const char *text = format(&l);
        CHECK(strncmp(text, want, strlen(want)) == 0);
    }
}

/* Statuses print as given, a negative one (none yet) as 0; counters print every digit. */
static void test_numbers(void)
{
    gw_logline_t l = sample();
    static const int statuses[] = {0, 1, 9, 10, 99, 100, 101, 200, 499, 504, 999};
    for (size_t i = 0; i != sizeof(statuses) / sizeof(statuses[0]); ++i) {
        l.status = statuses[i];
        char want[64];
        snprintf(want, sizeof(want), ",\"status\":%d,", statuses[i]);
        CHECK(strstr(format(&l), want) != NULL);
    }
    l.status = -1;
    CHECK(strstr(format(&l), ",\"status\":0,") != NULL);
    for (uint64_t bytes = 1; bytes != 0 && bytes < UINT64_MAX / 7; bytes = bytes * 7 + 3) {
        l.bytes = bytes;
        char want[64];
        snprintf(want, sizeof(want), ",\"bytes\":%llu}\n", (unsigned long long)bytes);
        CHECK(strstr(format(&l), want) != NULL);
    }
    l.bytes = 0;
    CHECK(strstr(format(&l), ",\"bytes\":0}\n") != NULL);
    /* durations: each digit of the fraction, and the rounding at the half microsecond */
    static const struct {
        uint64_t ns;
        const char *text;
    } durations[] = {
        {0, "0.000"},           {1499, "0.001"},        {1500, "0.002"},         {9999, "0.010"},    {10499, "0.010"},
        {123456789, "123.457"}, {999999499, "999.999"}, {999999500, "1000.000"}, {7080090, "7.080"}, {60000000000ull, "60000.000"}};
    for (size_t i = 0; i != sizeof(durations) / sizeof(durations[0]); ++i) {
        l.queue_ns = durations[i].ns;
        char want[64];
        snprintf(want, sizeof(want), "\"queue_ms\":%s,", durations[i].text);
        CHECK(strstr(format(&l), want) != NULL);
    }
}

/* Ids, methods and paths are cut at their limits exactly, and the length returned is the
 * line's. */
static void test_cuts_are_exact(void)
{
    static char id[GW_LOGLINE_MAX_ID + 2];
    memset(id, 'i', sizeof(id));
    static char method[GW_LOGLINE_MAX_METHOD + 2];
    memset(method, 'M', sizeof(method));
    static char path[GW_LOGLINE_MAX_PATH + 2];
    memset(path, 'p', sizeof(path));
    gw_logline_t l = sample();
    for (int over = -1; over <= 1; ++over) {
        l.request_id = id;
        l.request_id_len = (size_t)(GW_LOGLINE_MAX_ID + over);
        l.method = method;
        l.method_len = (size_t)(GW_LOGLINE_MAX_METHOD + over);
        l.path = path;
        l.path_len = (size_t)(GW_LOGLINE_MAX_PATH + over);
        static char text[GW_LOGLINE_SIZE + 1];
        memset(text, '#', sizeof(text));
        size_t len = gw_logline_format(text, &l);
        CHECK(len < GW_LOGLINE_SIZE && text[len - 1] == '\n' && text[len] == '#');
        text[len] = '\0';
        size_t id_len = over > 0 ? GW_LOGLINE_MAX_ID : GW_LOGLINE_MAX_ID + over;
        size_t method_len = over > 0 ? GW_LOGLINE_MAX_METHOD : GW_LOGLINE_MAX_METHOD + over;
        size_t path_len = over > 0 ? GW_LOGLINE_MAX_PATH : GW_LOGLINE_MAX_PATH + over;
        const char *p = strstr(text, "\"request_id\":\"");
        CHECK(p != NULL && strspn(p + 14, "i") == id_len && p[14 + id_len] == '"');
        p = strstr(text, "\"method\":\"");
        CHECK(p != NULL && strspn(p + 10, "M") == method_len && p[10 + method_len] == '"');
        p = strstr(text, "\"path\":\"");
        CHECK(p != NULL && strspn(p + 8, "p") == path_len && p[8 + path_len] == '"');
    }
    /* the caller's second is cut at 32 bytes */
    static const char second[] = "2026-11-22T23:09:26+0000-and-much-more";
    l = sample();
    l.second = second;
    const char *line = format(&l);
    CHECK(strncmp(line, "{\"ts\":\"", 7) == 0 && strncmp(line + 7, second, 32) == 0 && strncmp(line + 7 + 32, ".007Z", 5) == 0);
    /* names are cut at GW_LOGLINE_MAX_NAME */
    static char name[GW_LOGLINE_MAX_NAME + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    l = sample();
    l.route = name;
    const char *text = format(&l);
    const char *p = strstr(text, "\"route\":\"");
    CHECK(p != NULL && strspn(p + 9, "n") == GW_LOGLINE_MAX_NAME && p[9 + GW_LOGLINE_MAX_NAME] == '"');
}

int main(void)
{
    test_whole_line();
    test_no_route_and_escapes();
    test_cut();
    test_durations_round_to_the_microsecond();
    test_long_fields_are_cut_and_fit();
    test_timestamp_milliseconds();
    test_numbers();
    test_cuts_are_exact();
    return CHECK_SUMMARY();
}
