/* Unit tests of the request target and host as sluice routes on them (gateway/gw_path.c):
 * every spelling of a path that a backend could take for another routes as that other path. */
#include <stdlib.h>
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

/* gw_path_normalize on a copy of `path` of exactly its length (ASan sees a read past it) into
 * an output of exactly len + 1 bytes filled with '/' beforehand (so that reading a byte not yet
 * written shows); its result, "ERROR" with *why saved. */
static const char *last_why;
static const char *norm_exact(const char *path, size_t len)
{
    static char out[512];
    char *in = malloc(len != 0 ? len : 1);
    char *dst = malloc(len + 1);
    memcpy(in, path, len);
    memset(dst, '/', len + 1);
    last_why = NULL;
    ssize_t n = gw_path_normalize(in, len, dst, &last_why);
    const char *result = "ERROR";
    if (n == -1) {
        /* "ERROR" */
    } else if (n >= 1 && (size_t)n <= len + 1) {
        memcpy(out, dst, (size_t)n);
        out[n] = '\0';
        result = out;
    } else {
        result = "BAD LENGTH";
    }
    free(in);
    free(dst);
    return result;
}

static const char *norm2(const char *path)
{
    return norm_exact(path, strlen(path));
}

static void test_normalize_edges(void)
{
    /* the hex digits' bounds, as high and as low digit */
    CHECK_STR(norm2("/x%2ay%2fz"), "/x*y/z");
    CHECK_STR(norm2("/x%2Ay%2Fz"), "/x*y/z");
    CHECK_STR(norm2("/%30%39%41%46%61%66"), "/09AFaf");
    CHECK_STR(norm2("/%a1%F0"), "/\xa1\xf0");
    static const char *const malformed[] = {"/%2g", "/%2G", "/%2`", "/%2@", "/%2/", "/%2:", "/%g2", "/%:2", "/%/2",
                                            "/%@2", "/%`2", "/a%",  "/a%4", "%",    "%4",   "/%%",  "/%0"};
    for (size_t i = 0; i != sizeof(malformed) / sizeof(malformed[0]); ++i) {
        CHECK_STR(norm2(malformed[i]), "ERROR");
        CHECK_STR(last_why, "malformed percent-encoding in the path");
    }
    /* a well-formed escape of a control byte is refused as such (a hex digit 0 is no error) */
    static const char *const control[] = {"/a%00", "/%0a", "/%1f", "/%7F", "/a\x01", "/\x7f", "/a\x1f"};
    for (size_t i = 0; i != sizeof(control) / sizeof(control[0]); ++i) {
        CHECK_STR(norm2(control[i]), "ERROR");
        CHECK_STR(last_why, "control character in the path");
    }
    /* the bytes next to the refused ones are kept */
    CHECK_STR(norm2("/%20%21~%7e%80\x80"), "/ !~~\x80\x80");
    CHECK_STR(norm2("/a%00"), "ERROR");
    /* the empty path routes as the root; a path not starting with '/' is rooted */
    CHECK_STR(norm_exact("", 0), "/");
    CHECK_STR(norm2("a/b"), "/a/b");
    CHECK_STR(norm2("/a/"), "/a/");
    CHECK_STR(norm2("/a//"), "/a/");
    /* a `..` keeps the trailing slash only when it is the last segment */
    CHECK_STR(norm2("/a/b/.."), "/a/");
    CHECK_STR(norm2("/a/b/../c"), "/a/c");
    CHECK_STR(norm2("/a/./b"), "/a/b");
    CHECK_STR(norm2("/a/b/./"), "/a/b/");
    CHECK_STR(norm2("/a/%2e"), "/a/");
    /* the result is -1 exactly, as documented */
    char dst[8];
    const char *why;
    CHECK(gw_path_normalize("/%zz", 4, dst, &why) == -1);
    CHECK(gw_path_normalize("/%01", 4, dst, &why) == -1);
}

/* gw_target_split on an exact-size copy; *t is filled with garbage first, so every field it
 * returns must have been set. */
static int split(const char *target, gw_target_t *t, const char **why)
{
    size_t len = strlen(target);
    char *copy = malloc(len != 0 ? len : 1);
    memcpy(copy, target, len);
    memset(t, 0xa5, sizeof(*t));
    *why = NULL;
    int r = gw_target_split(copy, len, t, why);
    /* the pointers into the copy are checked against the original, so rebase them */
    if (r == 0) {
        if (t->origin >= copy && t->origin <= copy + len)
            t->origin = target + (t->origin - copy);
        if (t->path >= copy && t->path <= copy + len)
            t->path = target + (t->path - copy);
        if (t->query != NULL && t->query >= copy && t->query <= copy + len)
            t->query = target + (t->query - copy);
        if (t->authority != NULL && t->authority >= copy && t->authority <= copy + len)
            t->authority = target + (t->authority - copy);
    }
    free(copy);
    return r;
}

static int span_is(const char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_target_split_fields(void)
{
    gw_target_t t;
    const char *why;
    const char *tg = "/p/q?x=1&y";
    CHECK(split(tg, &t, &why) == 0);
    CHECK(t.origin == tg && t.origin_len == strlen(tg));
    CHECK(t.path == tg && span_is(t.path, t.path_len, "/p/q"));
    CHECK(t.query == tg + 5 && span_is(t.query, t.query_len, "x=1&y"));
    CHECK(t.authority == NULL && t.authority_len == 0);
    tg = "/p";
    CHECK(split(tg, &t, &why) == 0);
    CHECK(t.path == tg && t.path_len == 2);
    CHECK(t.query == NULL && t.query_len == 0);
    CHECK(t.authority == NULL && t.authority_len == 0);
    CHECK(split("/", &t, &why) == 0 && span_is(t.path, t.path_len, "/"));
    CHECK(split("/!~\x80", &t, &why) == 0 && t.path_len == 4);
    /* absolute form with a path */
    tg = "http://h.example:81/a/b?c=d";
    CHECK(split(tg, &t, &why) == 0);
    CHECK(t.authority == tg + 7 && span_is(t.authority, t.authority_len, "h.example:81"));
    CHECK(span_is(t.origin, t.origin_len, "/a/b?c=d"));
    CHECK(span_is(t.path, t.path_len, "/a/b"));
    CHECK(span_is(t.query, t.query_len, "c=d"));
    tg = "https://h/x";
    CHECK(split(tg, &t, &why) == 0);
    CHECK(span_is(t.authority, t.authority_len, "h") && span_is(t.path, t.path_len, "/x") && t.query == NULL && t.query_len == 0);
    /* absolute form without a path: "/" */
    CHECK(split("http://h", &t, &why) == 0);
    CHECK(span_is(t.origin, t.origin_len, "/") && span_is(t.path, t.path_len, "/"));
    CHECK(t.query == NULL && t.query_len == 0);
    CHECK(span_is(t.authority, t.authority_len, "h"));
    tg = "HtTpS://h?x=1";
    CHECK(split(tg, &t, &why) == 0);
    CHECK(span_is(t.path, t.path_len, "/") && t.query == tg + 10 && span_is(t.query, t.query_len, "x=1"));
    CHECK(split("http://h?", &t, &why) == 0 && t.query != NULL && t.query_len == 0);
}

static void refused(const char *target, const char *want_why)
{
    gw_target_t t;
    const char *why;
    CHECK(split(target, &t, &why) == -1);
    CHECK_STR(why, want_why);
}

static void test_target_split_refusals(void)
{
    const char *bad_byte = "invalid byte in the request target", *not_proxied = "the asterisk form (OPTIONS *) is not proxied",
               *form = "the request target must be a path or an http(s) URL",
               *authority = "invalid authority in the request target";
    refused("/a b", bad_byte);
    refused("/a\x7f", bad_byte);
    refused("/a\x01", bad_byte);
    refused(" /a", bad_byte);
    refused("*", not_proxied);
    refused("**", form);
    refused("*/", form);
    refused("x", form);
    refused("", form);
    refused("x:443", form);
    refused("ftp://h/", form);
    refused("ftp://host/", form);
    refused("http:/hx/p", form);
    refused("https:/hx/p", form);
    refused("http:/", form);
    refused("https:/", form);
    refused("http://", authority);
    refused("https://", authority);
    refused("http:///x", authority);
    refused("http://u@h/", authority);
    refused("http://a\"b/", authority);
    refused("http://a{b/", authority);
    refused("https://a<b?x", authority);
}

static void test_host_edges(void)
{
    CHECK(gw_host_is_valid("azAZ09", 6) == 1);
    CHECK(gw_host_is_valid("-._~!$&'()*+,;=%:[]", 19) == 1);
    CHECK(!gw_host_is_valid(" a", 2));
    CHECK(!gw_host_is_valid("@h", 2));
    CHECK(!gw_host_is_valid("a\0b", 3));
    CHECK(!gw_host_is_valid("a`b", 3));
    CHECK(!gw_host_is_valid("a{b", 3));
    CHECK(!gw_host_is_valid("a\"b", 3));
    CHECK(!gw_host_is_valid("a^b", 3));
    char out[64];
    CHECK(gw_host_normalize("AZ@[`{", 6, out) == 6 && memcmp(out, "az@[`{", 6) == 0);
    CHECK(gw_host_normalize("[", 1, out) == 1 && out[0] == '[');
    CHECK(gw_host_normalize("[::1", 4, out) == 4 && memcmp(out, "[::1", 4) == 0);
    /* an empty host is not read at all (an exact, empty copy: ASan sees any read) */
    char *empty = malloc(1);
    CHECK(gw_host_normalize(empty + 1, 0, out) == 0);
    free(empty);
}

int main(void)
{
    test_normalize();
    test_target_split();
    test_host();
    test_normalize_edges();
    test_target_split_fields();
    test_target_split_refusals();
    test_host_edges();
    return CHECK_SUMMARY();
}
