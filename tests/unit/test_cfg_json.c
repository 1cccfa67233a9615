/* The effective config as JSON (lua-free-config/cfg_json.c): always valid JSON (checked by a
 * small parser here, whatever the document's shape), strings escaped and made valid UTF-8 byte
 * by byte, and any length of output. */
#include <stdlib.h>
#include <string.h>
#include "cfg_config.h"
#include "check.h"

/* ---- a strict JSON syntax check (RFC 8259), enough to tell a broken document ---- */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        ++p;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20)
            return NULL; /* control bytes must be escaped (and the NUL ends the text) */
        if (c == '\\') {
            ++p;
            if (*p == 'u') {
                for (int i = 1; i <= 4; ++i)
                    if (strchr("0123456789abcdefABCDEF", p[i]) == NULL || p[i] == '\0')
                        return NULL;
                p += 5;
            } else if (*p != '\0' && strchr("\"\\/bfnrt", *p) != NULL) {
                ++p;
            } else {
                return NULL;
            }
        } else {
            ++p;
        }
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *start = p;
    if (*p == '-')
        ++p;
    if (*p == '0')
        ++p;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            ++p;
    else
        return NULL;
    return p != start ? p : NULL;
}

static const char *json_container(const char *p, int depth, char close)
{
    p = json_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (close == '}') {
            p = json_string(p);
            if (p == NULL)
                return NULL;
            p = json_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        p = json_value(p, depth + 1);
        if (p == NULL)
            return NULL;
        p = json_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = json_ws(p);
    switch (*p) {
    case '{':
        return json_container(p, depth, '}');
    case '[':
        return json_container(p, depth, ']');
    case '"':
        return json_string(p);
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return json_number(p);
    }
}

static int is_json(const char *text)
{
    const char *end = json_value(text, 0);
    return end != NULL && *json_ws(end) == '\0';
}

/* ---- */

static cfg_config_t *load(const char *yaml)
{
    cfg_errors_t errors = {0};
    cfg_config_t *c = cfg_load_string(yaml, strlen(yaml), "t.yaml", &errors);
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "%s\n", errors.items[i]);
    cfg_errors_clear(&errors);
    CHECK(c != NULL);
    return c;
}

static void test_the_parser_here(void)
{
    CHECK(is_json("{\"a\":[1,\"x\\u00e9\",null,true,false,{}],\"b\":[]}\n"));
    CHECK(!is_json("{\"a\":[1,]}"));
    CHECK(!is_json("{\"a\":[,1]}"));
    CHECK(!is_json("{\"a\":}"));
    CHECK(!is_json("{\"a\" 1}"));
    CHECK(!is_json("[\"a\"\"b\"]"));
    CHECK(!is_json("[\"\x01\"]"));
    CHECK(!is_json("[\"\\x\"]"));
    CHECK(!is_json("{} x"));
}

/* Lists of every length (0, 1, 2, 3) wherever the document has lists, and objects with several
 * members: separators and nulls always in place. */
static void test_always_valid_json(void)
{
    static const char *const files[] = {
        "upstreams: {app: {address: 127.0.0.1:8000}}\nroutes: [{name: a, upstream: app}]\n",
        "listen: [127.0.0.1:1, \"[::1]:2\", unix:/tmp/s.sock]\n"
        "client: {trusted_proxies: [10.0.0.0/8, \"fd00::/8\", 192.168.0.1]}\n"
        "redis: {address: 127.0.0.1:6379, password: pw, prefix: \"p:\"}\n"
        "upstreams: {app: {address: 127.0.0.1:8000}, b: {address: \"h:1\"}, c: {address: unix:/tmp/c.sock}}\n"
        "routes:\n"
        "  - {name: a, upstream: app, match: {path_prefix: /a, methods: [GET, POST, PUT], host: h.example,\n"
        "     headers: {x-a: '1', x-b: '2', x-c: '3'}},\n"
        "     concurrency: {limit: 2, per: header:X-U, queue: {size: 3, order: lifo}},\n"
        "     rate_limits: [{name: r1, rate: 5/s}, {name: r2, rate: 6/m, per: client_ip, on_exceed: delay},\n"
        "                   {name: r3, rate: 7/h, burst: 3, scope: global}]}\n"
        "  - {name: b, upstream: b, match: {path: /b, methods: [DELETE]}, concurrency: {limit: 1}}\n"
        "  - {name: c, upstream: c, match: {headers: {x-only: 'v'}}, rate_limits: [{name: r, rate: 1/s}]}\n",
        "listen: [127.0.0.1:1, 127.0.0.1:2]\n"
        "client: {trusted_proxies: [10.0.0.0/8, 11.0.0.0/8]}\n"
        "upstreams: {app: {address: 127.0.0.1:8000}, b: {address: \"h:1\"}}\n"
        "routes: [{name: a, upstream: app, match: {methods: [GET, HEAD]}, rate_limits: [{name: x, rate: 1/s},\n"
        "          {name: y, rate: 2/s}]}, {name: b, upstream: b}]\n",
    };
    for (size_t i = 0; i != sizeof(files) / sizeof(files[0]); ++i) {
        cfg_config_t *c = load(files[i]);
        if (c == NULL)
            continue;
        char *json = cfg_to_json(c);
        if (!is_json(json)) {
            fprintf(stderr, "not JSON:\n%s", json);
            CHECK(0);
        }
        if (i == 1) {
            CHECK(strstr(json, "[\"GET\",\"POST\",\"PUT\"]") != NULL);
            CHECK(strstr(json, "[\"10.0.0.0/8\",\"fd00::/8\",\"192.168.0.1\"]") != NULL);
            CHECK(strstr(json, "\"x-b\":\"2\"") != NULL);
        }
        free(json);
        cfg_free(c);
    }
}

/* The JSON of a string held in the config (here the Redis prefix, from ${VAR}: any bytes). */
static char *json_of_prefix(const char *value)
{
    setenv("SLUICE_TEST_JSON", value, 1);
    cfg_config_t *c = load("redis: {address: 127.0.0.1:6379, prefix: \"${SLUICE_TEST_JSON}\"}\n"
                           "upstreams: {app: {address: 127.0.0.1:8000}}\nroutes: [{name: a, upstream: app}]\n");
    if (c == NULL)
        return NULL;
    char *json = cfg_to_json(c);
    CHECK(is_json(json));
    cfg_free(c);
    const char *start = strstr(json, "\"prefix\":\"");
    CHECK(start != NULL);
    if (start == NULL) {
        free(json);
        return NULL;
    }
    start += 10;
    const char *end = json_string(start - 1);
    char *out = end != NULL ? strndup(start, (size_t)(end - 1 - start)) : NULL;
    free(json);
    return out;
}

/* Well-formed UTF-8 (RFC 3629) passes through; every other byte becomes U+FFFD on its own, at
 * each boundary of the lead byte ranges and of the overlong and surrogate exclusions. */
static void test_utf8_boundaries(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain ascii ~", "plain ascii ~"},
        {"\x7f", "\x7f"},
        {"\x80", "\\ufffd"},
        {"\xbf", "\\ufffd"},
        {"\xc0\x80", "\\ufffd\\ufffd"},
        {"\xc1\xbf", "\\ufffd\\ufffd"},
        {"\xc2\x80", "\xc2\x80"},
        {"\xc2\xa9 \xc2\xb0", "\xc2\xa9 \xc2\xb0"}, /* (c) and the degree sign */
        {"\xc3\xa9", "\xc3\xa9"},
        {"\xdf\xbf", "\xdf\xbf"},
        {"\xc3", "\\ufffd"},
        {"\xc3"
         "A",
         "\\ufffdA"},
        {"\xc3\xc3\xa9", "\\ufffd\xc3\xa9"},
        {"\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd"},
        {"\xe0\xa0\x80", "\xe0\xa0\x80"},
        {"\xe1\x80\x80", "\xe1\x80\x80"},
        {"\xec\xbf\xbf", "\xec\xbf\xbf"},
        {"\xed\x80\x80", "\xed\x80\x80"},
        {"\xed\x9f\xbf", "\xed\x9f\xbf"},
        {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
        {"\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd"},
        {"\xee\x80\x80", "\xee\x80\x80"},
        {"\xef\xbf\xbf", "\xef\xbf\xbf"},
        {"\xe2\x82", "\\ufffd\\ufffd"},
        {"\xe2\x82"
         "A",
         "\\ufffd\\ufffdA"},
        {"\xe2"
         "A\xac",
         "\\ufffdA\\ufffd"},
        {"\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"\xf0\x90\x80\x80", "\xf0\x90\x80\x80"},
        {"\xf1\x80\x80\x80", "\xf1\x80\x80\x80"},
        {"\xf3\xbf\xbf\xbf", "\xf3\xbf\xbf\xbf"},
        {"\xf4\x80\x80\x80", "\xf4\x80\x80\x80"},
        {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
        {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"\xf0\x90\x80", "\\ufffd\\ufffd\\ufffd"},
        {"\xf0\x90\x80"
         "A",
         "\\ufffd\\ufffd\\ufffdA"},
        {"\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"\xf8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"\xfe\xff", "\\ufffd\\ufffd"},
        /* escapes: quote, backslash, every control byte; a space and what follows are plain */
        {"a\"b\\c", "a\\\"b\\\\c"},
        {"\x01\x09\x0a\x1f", "\\u0001\\u0009\\u000a\\u001f"},
        {" !", " !"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char *got = json_of_prefix(cases[i].in);
        if (got == NULL || strcmp(got, cases[i].out) != 0) {
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, got ? got : "(none)", cases[i].out);
            CHECK(0);
        }
        free(got);
    }
}

/* Output of any length, in particular every length around the first buffer's size (4 KiB), where
 * a piece may fill the space left exactly. */
static void test_any_length(void)
{
    size_t base = 0; /* the length of the document but for the prefix's bytes */
    static char prefix[20000];
    for (size_t len = 1; len < sizeof(prefix); len += len < 4200 ? (len >= 3900 ? 1 : 97) : 1531) {
        memset(prefix, 'a', len);
        prefix[len] = '\0';
        char yaml[20200];
        snprintf(yaml, sizeof(yaml),
                 "redis: {address: 127.0.0.1:6379, prefix: \"%s\"}\n"
                 "upstreams: {app: {address: 127.0.0.1:8000}}\nroutes: [{name: a, upstream: app}]\n",
                 prefix);
        cfg_config_t *c = load(yaml);
        if (c == NULL)
            return;
        char *json = cfg_to_json(c);
        char *start = strstr(json, "\"prefix\":\"");
        if (!is_json(json) || start == NULL || strspn(start + 10, "a") != len || start[10 + len] != '"') {
            fprintf(stderr, "prefix of %zu bytes: bad JSON (%zu bytes)\n", len, strlen(json));
            CHECK(0);
        }
        if (len == 1)
            base = strlen(json) - 1;
        CHECK_EQ_U64(strlen(json), base + len);
        free(json);
        cfg_free(c);
    }
}

int main(void)
{
    test_the_parser_here();
    test_always_valid_json();
    test_utf8_boundaries();
    test_any_length();
    return CHECK_SUMMARY();
}
