/* Unit tests of the upstream request head (gateway/gw_reqhead.c): what the backend receives,
 * what never reaches it, and that no input can add a line to it. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "gw_reqhead.h"

#define F(n, v)                                                                                                                    \
    {                                                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                                                         \
    }

static gw_reqhead_in_t base(const gw_field_t *fields, size_t num)
{
    gw_reqhead_in_t in = {.method = "GET",
                          .method_len = 3,
                          .target = "/a%2F..%2Fb?x=%0d%0a",
                          .target_len = 20,
                          .host = "api.example.com",
                          .host_len = 15,
                          .fields = fields,
                          .num_fields = num,
                          .peer_ip = "10.0.0.9",
                          .proto = "http",
                          .request_id = "rid-1",
                          .request_id_len = 5,
                          .budget_ms = 4990};
    return in;
}

/* The head written into a heap buffer of exactly gw_reqhead_size bytes (ASan sees a write past
 * it), copied out NUL-terminated; NULL when refused, with the reason in last_why. */
static const char *last_why;
static char *write_head(const gw_reqhead_in_t *in)
{
    static char buf[1 << 20];
    size_t cap = gw_reqhead_size(in);
    if (cap >= sizeof(buf))
        return NULL;
    char *dst = malloc(cap);
    last_why = NULL;
    ssize_t n = gw_reqhead_write(in, dst, &last_why);
    if (n < 0) {
        free(dst);
        return NULL;
    }
    if ((size_t)n > cap)
        abort(); /* the size bound is a promise */
    memcpy(buf, dst, (size_t)n);
    buf[n] = '\0';
    free(dst);
    return buf;
}

/* Counts the lines ("\r\n"-ended) of a head, and checks that no CR, LF or NUL stands elsewhere. */
static int clean_lines(const char *head)
{
    int lines = 0;
    for (const char *p = head; *p != '\0'; ++p) {
        if (*p == '\r') {
            if (p[1] != '\n')
                return -1;
            ++lines;
            ++p;
        } else if (*p == '\n') {
            return -1;
        }
    }
    return lines;
}

static void test_what_the_backend_receives(void)
{
    gw_field_t fields[] = {F("user-agent", "t"),
                           F("x-forwarded-for", "1.1.1.1"),
                           F("connection", "keep-alive, x-secret"),
                           F("x-secret", "s"),
                           F("x-real-ip", "6.6.6.6"),
                           F("x-scheme", "https"),
                           F("keep-alive", "5"),
                           F("x-forwarded-proto", "https"),
                           F("x-forwarded-host", "evil"),
                           F("forwarded", "for=1"),
                           F("te", "trailers"),
                           F("x-forwarded-for", "2.2.2.2"),
                           F("cookie", "a=1"),
                           F("x-original-url", "/admin"),
                           F("cookie", "b=2"),
                           F("x-http-method-override", "DELETE"),
                           F("accept", "*/*")};
    gw_reqhead_in_t in = base(fields, sizeof(fields) / sizeof(fields[0]));
    const char *h = write_head(&in);
    CHECK(h != NULL);
    if (h == NULL)
        return;
    CHECK_STR(h, "GET /a%2F..%2Fb?x=%0d%0a HTTP/1.1\r\n"
                 "host: api.example.com\r\n"
                 "user-agent: t\r\n"
                 "accept: */*\r\n"
                 "cookie: a=1; b=2\r\n"
                 "x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\n"
                 "x-forwarded-proto: http\r\n"
                 "x-forwarded-host: api.example.com\r\n"
                 "x-request-id: rid-1\r\n"
                 "x-request-timeout-ms: 4990\r\n"
                 "\r\n");
}

static void test_a_trusted_proxy_keeps_its_forwarded_fields(void)
{
    gw_field_t fields[] = {F("x-forwarded-proto", "https"), F("x-forwarded-host", "shop.example.com"), F("forwarded", "for=1"),
                           F("x-real-ip", "6.6.6.6")};
    gw_reqhead_in_t in = base(fields, 4);
    in.trusted_peer = 1;
    const char *h = write_head(&in);
    CHECK(h != NULL && strstr(h, "x-forwarded-proto: https\r\n") != NULL);
    CHECK(h != NULL && strstr(h, "x-forwarded-proto: http\r\n") == NULL);
    CHECK(h != NULL && strstr(h, "x-forwarded-host: shop.example.com\r\n") != NULL);
    CHECK(h != NULL && strstr(h, "x-forwarded-host: api.example.com\r\n") == NULL);
    CHECK(h != NULL && strstr(h, "forwarded: for=1\r\n") != NULL);
    CHECK(h != NULL && strstr(h, "x-real-ip") == NULL); /* never from a client, trusted or not */
}

static void test_route_rules(void)
{
    gw_field_t fields[] = {F("x-scheme", "https"), F("x-debug", "1"), F("x-tenant", "client-said")};
    gw_field_t set[] = {F("x-real-ip", "10.0.0.9"), F("x-tenant", "gold")};
    gw_field_t remove[] = {F("x-debug", "")};
    gw_reqhead_in_t in = base(fields, 3);
    in.set = set;
    in.num_set = 2;
    in.remove = remove;
    in.num_remove = 1;
    const char *h = write_head(&in);
    CHECK(h != NULL && strstr(h, "x-real-ip: 10.0.0.9\r\n") != NULL);
    CHECK(h != NULL && strstr(h, "x-tenant: gold\r\n") != NULL);
    CHECK(h != NULL && strstr(h, "client-said") == NULL);
    CHECK(h != NULL && strstr(h, "x-debug") == NULL);
    CHECK(h != NULL && strstr(h, "x-scheme") == NULL);
}

static void test_body_framing(void)
{
    gw_reqhead_in_t in = base(NULL, 0);
    in.body = GW_REQBODY_LENGTH;
    in.content_length = 123456789012ULL;
    const char *h = write_head(&in);
    CHECK(h != NULL && strstr(h, "content-length: 123456789012\r\n") != NULL);
    in.body = GW_REQBODY_CHUNKED;
    h = write_head(&in);
    CHECK(h != NULL && strstr(h, "transfer-encoding: chunked\r\n") != NULL && strstr(h, "content-length") == NULL);
    in.body = GW_REQBODY_LENGTH;
    in.content_length = 0;
    h = write_head(&in);
    CHECK(h != NULL && strstr(h, "content-length: 0\r\n") != NULL);
    in.upgrade = "websocket";
    in.upgrade_len = 9;
    h = write_head(&in);
    CHECK(h != NULL && strstr(h, "connection: upgrade\r\nupgrade: websocket\r\n") != NULL);
}

/* Whatever the bytes, a head is either refused or exactly one request. */
static void test_nothing_breaks_the_head(void)
{
    static const char *bad_values[] = {"a\r\nX-Injected: yes", "a\nb", "a\rb", "a\x01", "a\x7f"};
    for (size_t i = 0; i != sizeof(bad_values) / sizeof(bad_values[0]); ++i) {
        gw_field_t f = {"x-v", 3, bad_values[i], strlen(bad_values[i])};
        gw_reqhead_in_t in = base(&f, 1);
        CHECK(write_head(&in) == NULL);
    }
    char nul_value[] = "aXb";
    nul_value[1] = '\0';
    gw_field_t f = {"x-v", 3, nul_value, 3};
    gw_reqhead_in_t in = base(&f, 1);
    CHECK(write_head(&in) == NULL);

    in = base(NULL, 0);
    in.method = "GET /admin/secret";
    in.method_len = strlen(in.method);
    CHECK(write_head(&in) == NULL);
    in = base(NULL, 0);
    in.target = "/public HTTP/1.1 /internal";
    in.target_len = strlen(in.target);
    CHECK(write_head(&in) == NULL);
    in.target = "/a\tb";
    in.target_len = 4;
    CHECK(write_head(&in) == NULL);
    in.target = "x:443";
    in.target_len = 5;
    CHECK(write_head(&in) == NULL);
    in = base(NULL, 0);
    in.host = "h x";
    in.host_len = 3;
    CHECK(write_head(&in) == NULL);
    gw_field_t bad_name = {"x y", 3, "v", 1};
    in = base(&bad_name, 1);
    CHECK(write_head(&in) == NULL);
    gw_field_t empty_name = {"", 0, "v", 1};
    in = base(&empty_name, 1);
    CHECK(write_head(&in) == NULL);
    gw_field_t bad_set = {"x-real-ip", 9, "1\r\nX: y", 8};
    in = base(NULL, 0);
    in.set = &bad_set;
    in.num_set = 1;
    CHECK(write_head(&in) == NULL);

    /* a 64 KiB value and empty values pass, each on its line */
    static char big[65536];
    memset(big, 'v', sizeof(big));
    gw_field_t fields[] = {{"x-big", 5, big, sizeof(big) - 100}, {"x-empty", 7, "", 0}};
    in = base(fields, 2);
    const char *h = write_head(&in);
    CHECK(h != NULL && clean_lines(h) == 10); /* request line, host, 2 fields, 5 of sluice, end */
}

static void test_templates(void)
{
    gw_template_vars_t v = {"10.1.2.3", "rid-9", 5, "orders", "shop.example.com", 16};
    const char *cases[][2] = {
        {"${client_ip}", "10.1.2.3"},
        {"ip=${client_ip};id=${request_id};r=${route};h=${host}", "ip=10.1.2.3;id=rid-9;r=orders;h=shop.example.com"},
        {"$$", "$"},
        {"$${client_ip}", "${client_ip}"}, /* $$ is a literal $, what follows is text */
        {"cost: 5$", "cost: 5$"},
        {"${other}", "${other}"}, /* only the four variables are filled */
        {"${client_ip", "${client_ip"},
        {"", ""},
    };
    char out[256];
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        size_t n = gw_template_fill(cases[i][0], &v, out);
        CHECK_EQ_U64(n, gw_template_size(cases[i][0], &v));
        out[n] = '\0';
        CHECK_STR(out, cases[i][1]);
    }
    v.host = NULL;
    size_t n = gw_template_fill("[${host}]", &v, out);
    out[n] = '\0';
    CHECK_STR(out, "[]");
}

static void refused(const gw_reqhead_in_t *in, const char *want_why)
{
    char dst[4096];
    const char *why = NULL;
    CHECK(gw_reqhead_size(in) < sizeof(dst));
    CHECK(gw_reqhead_write(in, dst, &why) == -1);
    CHECK_STR(why, want_why);
}

/* The first and last lines of base()'s head, as sluice writes them. */
#define BASE_LINE "GET /a%2F..%2Fb?x=%0d%0a HTTP/1.1\r\nhost: api.example.com\r\n"
#define BASE_TAIL                                                                                                                  \
    "x-forwarded-proto: http\r\nx-forwarded-host: api.example.com\r\nx-request-id: rid-1\r\nx-request-timeout-ms: 4990\r\n\r\n"

/* Each input refused with its own reason, and the bytes next to the refused ones accepted. */
static void test_refusals_and_their_reasons(void)
{
    gw_reqhead_in_t in = base(NULL, 0);
    in.method = "\rGET";
    in.method_len = 4;
    refused(&in, "invalid method");
    in.method = "";
    in.method_len = 0;
    refused(&in, "invalid method");
    in = base(NULL, 0);
    in.target = "/";
    in.target_len = 0;
    refused(&in, "invalid request target");
    in.target = "a/";
    in.target_len = 2;
    refused(&in, "invalid request target");
    in.target = "/a\x1f";
    in.target_len = 3;
    refused(&in, "invalid request target");
    in = base(NULL, 0);
    in.host = "a\"b";
    in.host_len = 3;
    refused(&in, "invalid host");
    gw_field_t bad_first = {"@x", 2, "v", 1};
    in = base(&bad_first, 1);
    refused(&in, "invalid header field");
    gw_field_t bad_value = {"x", 1, "a\x1f", 2};
    in = base(&bad_value, 1);
    refused(&in, "invalid header field");
    gw_field_t bad_set = {"x-set", 5, "\x1f", 1};
    in = base(NULL, 0);
    in.set = &bad_set;
    in.num_set = 1;
    refused(&in, "invalid value in request_headers.set");
    gw_field_t bad_set_name = {"x set", 5, "v", 1};
    in.set = &bad_set_name;
    refused(&in, "invalid value in request_headers.set");
    in = base(NULL, 0);
    in.upgrade = "web\r\nsocket";
    in.upgrade_len = 11;
    refused(&in, "invalid Upgrade");

    /* the neighbours of the refused bytes pass: HTAB, SP, '~', 0x80, 0xff in a value; a target of
     * one byte */
    gw_field_t fine = {"x-v", 3, "\t ~\x80\xff!", 6};
    in = base(&fine, 1);
    in.target = "/";
    in.target_len = 1;
    const char *h = write_head(&in);
    CHECK(h != NULL && strncmp(h, "GET / HTTP/1.1\r\n", 16) == 0 && strstr(h, "\r\nx-v: \t ~\x80\xff!\r\n") != NULL);
    CHECK(gw_field_value_is_valid("\t ~\x80", 4) == 1);
    CHECK(gw_field_value_is_valid("", 0) == 1);
    CHECK(gw_field_value_is_valid("\x1f", 1) == 0);
}

/* With no client X-Forwarded-For the peer alone makes the line; empty list elements are skipped
 * and one-byte ones kept; the route's own X-Forwarded-For, -Proto and -Host replace sluice's. */
static void test_joined_lists_and_set_overrides(void)
{
    gw_field_t fields[] = {F("cookie", ""), F("cookie", "c"), F("x-forwarded-for", ""), F("x-forwarded-for", "1")};
    gw_reqhead_in_t in = base(fields, 4);
    const char *h = write_head(&in);
    CHECK_STR(h, BASE_LINE "cookie: c\r\n"
                           "x-forwarded-for: 1, 10.0.0.9\r\n" BASE_TAIL);
    in = base(NULL, 0);
    h = write_head(&in);
    CHECK_STR(h, BASE_LINE "x-forwarded-for: 10.0.0.9\r\n" BASE_TAIL);
    in.peer_ip = NULL;
    h = write_head(&in);
    CHECK(h != NULL && strstr(h, "x-forwarded-for") == NULL);
    gw_field_t set[] = {F("x-forwarded-for", "9.9.9.9"), F("x-forwarded-proto", "https"), F("x-forwarded-host", "h.example")};
    in = base(NULL, 0);
    in.set = set;
    in.num_set = 3;
    h = write_head(&in);
    CHECK_STR(h, BASE_LINE "x-forwarded-for: 9.9.9.9\r\n"
                           "x-forwarded-proto: https\r\n"
                           "x-forwarded-host: h.example\r\n"
                           "x-request-id: rid-1\r\n"
                           "x-request-timeout-ms: 4990\r\n"
                           "\r\n");
}

/* A trusted proxy that sent no X-Forwarded-Proto / -Host gets sluice's; a Connection listed
 * first still removes what it names. */
static void test_trusted_proxy_without_its_fields(void)
{
    gw_field_t fields[] = {F("connection", "x-secret"), F("x-secret", "s"), F("forwarded", "for=1")};
    gw_reqhead_in_t in = base(fields, 3);
    in.trusted_peer = 1;
    const char *h = write_head(&in);
    CHECK_STR(h, BASE_LINE "forwarded: for=1\r\n"
                           "x-forwarded-for: 10.0.0.9\r\n" BASE_TAIL);
}

/* The size bound holds when each thing it counts is large: a long method, target, host, request
 * id, Upgrade, peer, proto; many client fields; many set fields; the largest numbers. (write_head
 * writes into exactly the bound.) */
static void test_size_bound_holds(void)
{
    static char big[3000];
    memset(big, 'a', sizeof(big));
    char target[3000];
    memset(target, 'a', sizeof(target));
    target[0] = '/';
    char ip[1001];
    memset(ip, '1', 1000);
    ip[1000] = '\0';
    gw_reqhead_in_t large[7];
    for (size_t i = 0; i != 7; ++i)
        large[i] = base(NULL, 0);
    large[0].method = big, large[0].method_len = sizeof(big);
    large[1].target = target, large[1].target_len = sizeof(target);
    large[2].host = big, large[2].host_len = sizeof(big);
    large[3].request_id = big, large[3].request_id_len = sizeof(big);
    large[4].upgrade = big, large[4].upgrade_len = sizeof(big);
    large[5].peer_ip = ip;
    large[6].proto = ip;
    for (size_t i = 0; i != 7; ++i)
        CHECK(write_head(&large[i]) != NULL);
    gw_reqhead_in_t in;
    static gw_field_t many[300];
    for (size_t i = 0; i != 300; ++i)
        many[i] = (gw_field_t){"x", 1, "", 0};
    in = base(many, 300);
    const char *h = write_head(&in);
    CHECK(h != NULL && clean_lines(h) == 308);
    in = base(NULL, 0);
    in.set = many;
    in.num_set = 300;
    CHECK(write_head(&in) != NULL);
    static gw_field_t long_set[3];
    for (size_t i = 0; i != 3; ++i)
        long_set[i] = (gw_field_t){big, 1000, big, sizeof(big)};
    in.set = long_set;
    in.num_set = 3;
    CHECK(write_head(&in) != NULL);
    in = base(NULL, 0);
    in.body = GW_REQBODY_LENGTH;
    in.content_length = UINT64_MAX;
    in.budget_ms = UINT64_MAX;
    h = write_head(&in);
    CHECK(h != NULL && strstr(h, "\r\ncontent-length: 18446744073709551615\r\n") != NULL &&
          strstr(h, "\r\nx-request-timeout-ms: 18446744073709551615\r\n") != NULL);
}

int main(void)
{
    test_templates();
    test_what_the_backend_receives();
    test_a_trusted_proxy_keeps_its_forwarded_fields();
    test_route_rules();
    test_body_framing();
    test_nothing_breaks_the_head();
    test_refusals_and_their_reasons();
    test_joined_lists_and_set_overrides();
    test_trusted_proxy_without_its_fields();
    test_size_bound_holds();
    return CHECK_SUMMARY();
}
