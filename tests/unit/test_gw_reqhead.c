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

static char *write_head(const gw_reqhead_in_t *in)
{
    static char buf[1 << 17];
    const char *why;
    size_t cap = gw_reqhead_size(in);
    if (cap > sizeof(buf))
        return NULL;
    ssize_t n = gw_reqhead_write(in, buf, &why);
    if (n < 0)
        return NULL;
    if ((size_t)n > cap)
        abort(); /* the size bound is a promise */
    buf[n] = '\0';
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

int main(void)
{
    test_templates();
    test_what_the_backend_receives();
    test_a_trusted_proxy_keeps_its_forwarded_fields();
    test_route_rules();
    test_body_framing();
    test_nothing_breaks_the_head();
    return CHECK_SUMMARY();
}
