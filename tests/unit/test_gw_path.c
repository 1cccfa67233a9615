/* Unit tests of the request target and host as sluice routes on them (gateway/gw_path.c):
 * every spelling of a path that a backend could take for another routes as that other path. */
#include <string.h>
#include "check.h"
#include "gw_path.h"

static const char *norm(const char *path)
{
    static char out[512];
    const char *why;
    ssize_t n = gw_path_normalize(path, strlen(path), out, &why);
    if (n < 0)
        return "ERROR";
    out[n] = '\0';
    return out;
}

static void test_normalize(void)
{
    CHECK_STR(norm("/"), "/");
    CHECK_STR(norm("/hello"), "/hello");
    CHECK_STR(norm("/a/b/"), "/a/b/");
    CHECK_STR(norm("/x/../hello"), "/hello");
    CHECK_STR(norm("/./hello"), "/hello");
    CHECK_STR(norm("/a/b/../../hello"), "/hello");
    CHECK_STR(norm("/../../hello"), "/hello"); /* never above the root */
    CHECK_STR(norm("//admin"), "/admin");
    CHECK_STR(norm("/api//v1///x"), "/api/v1/x");
    CHECK_STR(norm("/a/."), "/a/");
    CHECK_STR(norm("/a/.."), "/");
    CHECK_STR(norm("/a/..."), "/a/...");
    CHECK_STR(norm("/a/.b"), "/a/.b");
    CHECK_STR(norm("/adm%69n"), "/admin");
    CHECK_STR(norm("/api%2F..%2Fadmin"), "/admin"); /* an encoded slash is a slash for routing */
    CHECK_STR(norm("/%2e%2e/admin"), "/admin");
    CHECK_STR(norm("/x/%2E%2E/admin"), "/admin");
    CHECK_STR(norm("/hello%3Fx=1"), "/hello?x=1"); /* so it does not route as /hello */
    CHECK_STR(norm("/%C3%A9t%C3%A9"), "/\xc3\xa9t\xc3\xa9");
    CHECK_STR(norm("/\xc3\xa9t\xc3\xa9"), "/\xc3\xa9t\xc3\xa9");
    CHECK_STR(norm("/a%20b"), "/a b");
    /* a decoded control byte is refused, whatever it is */
    CHECK_STR(norm("/a%0d%0aX-Injected:%20yes"), "ERROR");
    CHECK_STR(norm("/a%00"), "ERROR");
    CHECK_STR(norm("/a%0A"), "ERROR");
    CHECK_STR(norm("/a%09"), "ERROR");
    CHECK_STR(norm("/a%7f"), "ERROR");
    CHECK_STR(norm("/a%1F"), "ERROR");
    /* malformed escapes */
    CHECK_STR(norm("/a%"), "ERROR");
    CHECK_STR(norm("/a%4"), "ERROR");
    CHECK_STR(norm("/a%zz"), "ERROR");
    CHECK_STR(norm("/a%%41"), "ERROR");
}

static void test_target_split(void)
{
    gw_target_t t;
    const char *why;
    CHECK(gw_target_split("/p?q=1", 6, &t, &why) == 0);
    CHECK(t.path_len == 2 && t.query_len == 3 && t.authority == NULL && t.origin_len == 6);
    CHECK(gw_target_split("/p", 2, &t, &why) == 0 && t.query == NULL);
    CHECK(gw_target_split("/p?", 3, &t, &why) == 0 && t.query != NULL && t.query_len == 0);
    CHECK(gw_target_split("http://Api.Example.com:8080/a/b?c", 33, &t, &why) == 0);
    CHECK(t.authority_len == 20 && memcmp(t.authority, "Api.Example.com:8080", 20) == 0);
    CHECK(t.origin_len == 6 && memcmp(t.origin, "/a/b?c", 6) == 0);
    CHECK(gw_target_split("HTTPS://h", 9, &t, &why) == 0 && t.origin_len == 1 && t.origin[0] == '/');
    CHECK(gw_target_split("http://h?x=1", 12, &t, &why) == 0 && t.path_len == 1 && t.query_len == 3);
    CHECK(gw_target_split("*", 1, &t, &why) == -1);
    CHECK(gw_target_split("x:443", 5, &t, &why) == -1); /* CONNECT's authority form */
    CHECK(gw_target_split("ftp://h/", 8, &t, &why) == -1);
    CHECK(gw_target_split("http://u@h/", 11, &t, &why) == -1); /* userinfo */
    CHECK(gw_target_split("http:///x", 9, &t, &why) == -1);    /* empty authority */
    CHECK(gw_target_split("/a b", 4, &t, &why) == -1);
    CHECK(gw_target_split("/a\r\nX: y", 8, &t, &why) == -1);
    CHECK(gw_target_split("/a\x7f", 3, &t, &why) == -1);
    CHECK(gw_target_split("", 0, &t, &why) == -1);
    CHECK(gw_target_split("/\xc3\xa9", 3, &t, &why) == 0); /* raw UTF-8 is forwarded as it is */
}

static void test_host(void)
{
    char out[64];
    size_t n = gw_host_normalize("API.Example.com.:8080", 21, out);
    CHECK(n == 15 && memcmp(out, "api.example.com", 15) == 0);
    CHECK(gw_host_normalize("h..", 3, out) == 1);
    CHECK(gw_host_normalize("[::1]:80", 8, out) == 5 && memcmp(out, "[::1]", 5) == 0);
    CHECK(gw_host_normalize("[::1]", 5, out) == 5);
    CHECK(gw_host_normalize("", 0, out) == 0);
    CHECK(gw_host_is_valid("a-b.c_d~1:80", 12));
    CHECK(gw_host_is_valid("[fe80::1%25eth0]", 16));
    CHECK(!gw_host_is_valid("", 0));
    CHECK(!gw_host_is_valid("a b", 3));
    CHECK(!gw_host_is_valid("a@b", 3));
    CHECK(!gw_host_is_valid("a/b", 3));
    CHECK(!gw_host_is_valid("a\r\nb", 4));
    CHECK(!gw_host_is_valid("\xc3\xa9", 2));
}

int main(void)
{
    test_normalize();
    test_target_split();
    test_host();
    return CHECK_SUMMARY();
}
