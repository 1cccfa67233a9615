/*
 * Unit tests of the keys limits are counted under (gateway/gw_keys.c), against a fake request
 * (client IP, path, query, body, header lines) and key sources parsed by the config's own parser:
 * - what each source gives: client_ip; header:N (a header on two lines is missing); query:N (the
 *   last value, form-decoded: '+' and %XX, a bad escape kept as it is); cookie:N (read as Tornado
 *   and Starlette read it: split on ';' alone, stripped, the last value, quoted values unquoted
 *   with Python's escapes; lines joined with "; "); path:N (1-based segments); json:A.B (from the
 *   body); an absent or empty source gives nothing;
 * - gw_key_composite: one source is its value, several are length-prefixed so that ("a:b", "c")
 *   and ("a", "b:c") differ, a missing one is marked, all missing is `_missing` ({NULL, 0});
 * - gw_key_values: the distinct values, sorted by bytes, `_missing` once when none;
 * - values over max_key_length become "#" and 32 hex digits of their SHA-256 (checked against a
 *   known digest and OpenSSL), one exactly at the limit is kept; keys are copies that outlive the
 *   request's fields.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "check.h"
#include "cfg_config.h"
#include "cfg_units.h"
#include "gw_arena.h"
#include "gw_keys.h"

#define MISSING "<missing>"

/* ---- the fake request ---- */

typedef struct {
    const char *name; /* lower-case */
    const char *value;
} line_t;

typedef struct {
    gw_arena_t arena;
    gw_keysrc_t src;
    line_t lines[16];
    size_t num_lines;
    char asked[64];    /* the last name header() was asked for */
    char *given;       /* the last value it gave */
    char *copies[256]; /* query, path, body and header values, each in a buffer of its own size */
    size_t num_copies;
    void *blocks[1024]; /* what alloc_of gave */
    size_t num_blocks;
} req_t;

/* n bytes of s in a malloc'd buffer of exactly that size, so that ASan sees a read past them. */
static char *exact_n(req_t *r, const char *s, size_t n)
{
    if (r->num_copies == sizeof(r->copies) / sizeof(r->copies[0]))
        abort();
    char *copy = malloc(n != 0 ? n : 1);
    memcpy(copy, s, n);
    return r->copies[r->num_copies++] = copy;
}

static const char *exact(req_t *r, const char *s)
{
    return exact_n(r, s, strlen(s));
}

/* As gw_keys.h says (and gw_request_header does): the lines joined with ", ", the Cookie
 * field's with "; ", an empty line left out but counted. */
static gw_keyval_t header_of(void *data, const char *name, size_t name_len, int *lines)
{
    req_t *r = data;
    snprintf(r->asked, sizeof(r->asked), "%.*s", (int)name_len, name);
    const char *sep = name_len == 6 && memcmp(name, "cookie", 6) == 0 ? "; " : ", ";
    size_t total = 0;
    *lines = 0;
    for (size_t i = 0; i != r->num_lines; ++i)
        if (strlen(r->lines[i].name) == name_len && memcmp(r->lines[i].name, name, name_len) == 0) {
            total += strlen(r->lines[i].value) + 2;
            ++*lines;
        }
    if (*lines == 0)
        return (gw_keyval_t){NULL, 0};
    char *buf = gw_arena_alloc(&r->arena, total + 1), *p = buf;
    for (size_t i = 0; i != r->num_lines; ++i)
        if (strlen(r->lines[i].name) == name_len && memcmp(r->lines[i].name, name, name_len) == 0 && r->lines[i].value[0] != '\0')
            p += sprintf(p, "%s%s", p != buf ? sep : "", r->lines[i].value);
    r->given = exact_n(r, buf, (size_t)(p - buf));
    return (gw_keyval_t){r->given, (size_t)(p - buf)};
}

/* Memory for the keys: a malloc'd block of exactly the size asked for, so that ASan sees a write
 * past it (freed with the request). */
static void *alloc_of(void *data, size_t size)
{
    req_t *r = data;
    if (r->num_blocks == sizeof(r->blocks) / sizeof(r->blocks[0]))
        abort();
    return r->blocks[r->num_blocks++] = malloc(size != 0 ? size : 1);
}

static void req_init(req_t *r)
{
    memset(r, 0, sizeof(*r));
    gw_arena_init(&r->arena);
    r->src = (gw_keysrc_t){.client_ip = "192.0.2.1", .path = "/", .path_len = 1, .header = header_of, .alloc = alloc_of, .data = r};
}

static void req_free(req_t *r)
{
    for (size_t i = 0; i != r->num_copies; ++i)
        free(r->copies[i]);
    for (size_t i = 0; i != r->num_blocks; ++i)
        free(r->blocks[i]);
    gw_arena_free(&r->arena);
}

static void add(req_t *r, const char *name, const char *value)
{
    r->lines[r->num_lines++] = (line_t){name, value};
}

static void set_query(req_t *r, const char *query)
{
    r->src.query = exact(r, query);
    r->src.query_len = strlen(query);
}

static void set_path(req_t *r, const char *path)
{
    r->src.path = exact(r, path);
    r->src.path_len = strlen(path);
}

static void set_body(req_t *r, const char *body)
{
    r->src.body = exact(r, body);
    r->src.body_len = strlen(body);
}

/* A value as a string (in the request's arena): MISSING for {NULL, 0}, "<bad>" for a missing
 * value with a length or a present one without. */
static const char *show(req_t *r, gw_keyval_t v)
{
    if (v.base == NULL)
        return v.len == 0 ? MISSING : "<bad>";
    if (v.len == 0)
        return "<bad>";
    char *s = gw_arena_alloc(&r->arena, v.len + 1);
    memcpy(s, v.base, v.len);
    s[v.len] = '\0';
    return s;
}

/* ---- key sources ---- */

static cfg_key_t key(const char *text)
{
    cfg_key_t k;
    const char *why;
    if (cfg_parse_key(text, &k, &why) != 0) {
        fprintf(stderr, "%s: %s\n", text, why);
        abort();
    }
    return k;
}

/* A `per:` list of the sources given, NULL-terminated. */
static cfg_keyspec_t spec(const char *text, ...)
{
    cfg_keyspec_t s = {.keys = calloc(CFG_MAX_KEYS, sizeof(cfg_key_t))};
    va_list ap;
    va_start(ap, text);
    for (const char *t = text; t != NULL; t = va_arg(ap, const char *))
        s.keys[s.num_keys++] = key(t);
    va_end(ap);
    return s;
}

/* What one source gives. */
static const char *one(req_t *r, const char *text)
{
    cfg_key_t k = key(text);
    const char *s = show(r, gw_key_value(&r->src, &k));
    free(k.name);
    free(k.text);
    return s;
}

static const char *composite(req_t *r, cfg_keyspec_t s, uint32_t max_key_length)
{
    const char *out = show(r, gw_key_composite(&r->src, &s, max_key_length));
    cfg_keyspec_clear(&s);
    return out;
}

/* gw_key_values, joined with " " (MISSING for `_missing`). */
static const char *values(req_t *r, cfg_keyspec_t s, uint32_t max_key_length, size_t max)
{
    gw_keyval_t out[CFG_MAX_KEYS];
    size_t n = gw_key_values(&r->src, &s, max_key_length, out, max);
    cfg_keyspec_clear(&s);
    char *joined = gw_arena_alloc(&r->arena, 4096), *p = joined;
    *p = '\0';
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "%s%s", i != 0 ? " " : "", show(r, out[i]));
    return joined;
}

/* "#" and the first 16 bytes of the SHA-256 of s, in hex, as OpenSSL computes it. */
static const char *hashed(req_t *r, const char *s, size_t len)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, d);
    char *out = gw_arena_alloc(&r->arena, GW_KEY_HASHED_LEN + 1), *p = out;
    *p++ = '#';
    for (int i = 0; i != 16; ++i)
        p += sprintf(p, "%02x", d[i]);
    return out;
}

/* ---- tests ---- */

static void test_client_ip(void)
{
    req_t r;
    req_init(&r);
    CHECK_STR(one(&r, "client_ip"), "192.0.2.1");
    r.src.client_ip = "2001:db8::1";
    CHECK_STR(one(&r, "client_ip"), "2001:db8::1");
    r.src.client_ip = "";
    CHECK_STR(one(&r, "client_ip"), MISSING);
    req_free(&r);
}

static void test_header(void)
{
    req_t r;
    req_init(&r);
    add(&r, "x-user-id", "alice");
    add(&r, "x-two", "a");
    add(&r, "x-two", "b");
    add(&r, "x-same", "a");
    add(&r, "x-same", "a");
    add(&r, "x-empty", "");
    add(&r, "x-half", "");
    add(&r, "x-half", "h");
    CHECK_STR(one(&r, "header:X-User-Id"), "alice");
    CHECK_STR(r.asked, "x-user-id"); /* asked for in lower case */
    CHECK_STR(one(&r, "header:x-absent"), MISSING);
    CHECK_STR(one(&r, "header:x-empty"), MISSING);
    /* two lines: missing, even when they agree, even when one is empty */
    CHECK_STR(one(&r, "header:x-two"), MISSING);
    CHECK_STR(one(&r, "header:x-same"), MISSING);
    CHECK_STR(one(&r, "header:x-half"), MISSING);
    /* a value is given as it is, commas and spaces included */
    add(&r, "x-list", " a, b ");
    CHECK_STR(one(&r, "header:x-list"), " a, b ");
    req_free(&r);
}

static void test_query(void)
{
    static const struct {
        const char *query, *key, *value;
    } cases[] = {
        {"a=1", "query:a", "1"},
        {"a=1&a=2", "query:a", "2"}, /* the last one */
        {"a=1&b=2&a=3&b=4", "query:a", "3"},
        {"a=1&b=2", "query:b", "2"},
        {"b=1&a=2&b=3", "query:a", "2"},
        {"aa=1&a=2&ab=3", "query:a", "2"},
        {"aa=1", "query:a", MISSING},
        {"a=x+y%20z", "query:a", "x y z"}, /* form-decoded */
        {"a=%41%62%2B%2b", "query:a", "Ab++"},
        {"a=x%26a%3Dy", "query:a", "x&a=y"}, /* a decoded & or = is part of the value */
        {"%61=1", "query:a", "1"},           /* names are decoded too */
        {"a%2Bb=1", "query:a+b", "1"},
        {"a+b=1", "query:a+b", MISSING},         /* "a b" */
        {"a=%zz%4g%g4", "query:a", "%zz%4g%g4"}, /* bad escapes stay as they are */
        {"a=%4", "query:a", "%4"},
        {"a=%", "query:a", "%"},
        {"a=x%", "query:a", "x%"},
        {"a=%%41", "query:a", "%A"},
        {"a=%41%4", "query:a", "A%4"},
        {"a=1=2", "query:a", "1=2"},
        {"&&a=1&&", "query:a", "1"},
        {"a", "query:a", MISSING}, /* no value: empty */
        {"a=", "query:a", MISSING},
        {"a=1&a=", "query:a", MISSING}, /* the last one is empty */
        {"a=1&a", "query:a", MISSING},
        {"a=&a=2", "query:a", "2"},
        {"", "query:a", MISSING},
        {"=1", "query:a", MISSING},
        {"a=1;a=2", "query:a", "1;a=2"},           /* ';' separates nothing */
        {"a=%39%3a%3A%3f%3F", "query:a", "9::??"}, /* the hex digits' bounds */
        {"a=%3g%3G%3`%3@%3/", "query:a", "%3g%3G%3`%3@%3/"},
        {"a=%g3%G3%`3%@3%/3%:3", "query:a", "%g3%G3%`3%@3%/3%:3"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        req_t r;
        req_init(&r);
        set_query(&r, cases[i].query);
        const char *got = one(&r, cases[i].key);
        if (strcmp(got, cases[i].value) != 0)
            fprintf(stderr, "?%s %s: got \"%s\", want \"%s\"\n", cases[i].query, cases[i].key, got, cases[i].value);
        CHECK_STR(got, cases[i].value);
        req_free(&r);
    }
    req_t r;
    req_init(&r);
    CHECK_STR(one(&r, "query:a"), MISSING); /* no query at all */
    set_query(&r, "a=%00b");
    CHECK(gw_key_value(&r.src, &(cfg_key_t){.kind = CFG_KEY_QUERY, .name = "a"}).len == 2);
    req_free(&r);
}

static void test_cookie(void)
{
    /* what Tornado's parse_cookie and Starlette's cookie_parser give for each (checked with both) */
    static const struct {
        const char *cookie, *value;
    } cases[] = {
        {"sid=abc", "abc"},
        {"a=1; sid=x; sid=y", "y"}, /* the last one */
        {" sid = abc ; b=2", "abc"},
        {"sid=a=b", "a=b"},
        {"sid=a b", "a b"},
        {"xsid=1; sidx=2", MISSING},
        {"sid", MISSING},
        {"sid=A; sid", "A"}, /* a pair without '=' is not sid */
        {"sid=A; sid=", MISSING},
        {"sid=A; x=1, sid=B", "A"}, /* ',' separates nothing: x is "1, sid=B" */
        {"sid=A, x=1", "A, x=1"},
        {"a=1, sid=B", MISSING},
        {"sid=\tabc\t", "abc"}, /* stripped as Python strips */
        {"\tsid=1", "1"},
        {"sid=abc\xa0", "abc"}, /* NBSP and NEL, read as Latin-1 */
        {"sid=abc\x85", "abc"},
        {"sid=\x0b"
         "abc\x1f",
         "abc"},
        {"sid=\"abc\"", "abc"}, /* unquoted */
        {"sid= \"q\" ", "q"},
        {"sid=\"a\"b\"", "a\"b"},
        {"sid=\"", "\""},
        {"sid=\"\"", MISSING},
        {"sid=\"abc", "\"abc"},
        {"sid=abc\"", "abc\""},
        {"sid=\"a\\142c\"", "abc"}, /* Python's escapes */
        {"sid=\"\\141\\142\\143\"", "abc"},
        {"sid=\"a\\\"b\"", "a\"b"},
        {"sid=\"a\\\\b\"", "a\\b"},
        {"sid=\"a\\477\"", "a477"}, /* \4 is no octal escape: 4 */
        {"sid=\"\\0123\"", "\n3"},
        {"sid=\"\\400\"", "400"},
        {"sid=\"\\12\"", "12"},
        {"sid=\"x\\\"", "x\\"}, /* a backslash at the end stays */
        {"sid=\"\\\"", "\\"},
        {"sid=a\\142c", "a\\142c"}, /* not quoted: as it is */
        {"sid=abc\r", "abc"},       /* the bounds of Python's whitespace */
        {"sid=abc\x1c", "abc"},
        {"sid=abc\x1b", "abc\x1b"},
        {"sid=abc\x0e", "abc\x0e"},
        {"sid= ", MISSING},
        {"sid= \t ", MISSING},
        {"a=1;sid=x", "x"},        /* no space after the ';' */
        {"sid=\"\\377\"", "\xff"}, /* octal escapes at the digits' bounds */
        {"sid=\"\\070\"", "8"},
        {"sid=\"\\067\"", "7"},
        {"sid=\"\\171\"", "y"},
        {"sid=\"\\127\"", "W"},
        {"sid=\"\\128\"", "128"},
        {"sid=\"\\181\"", "181"},
        {"sid=\"\\12!\"", "12!"},
        {"sid=\"\\1\"2\"", "1\"2"},
        {"sid=\"a\\\"12\"", "a\"12"},
        {"sid=\"a\\b\"", "ab"},
        {"sid=\"a\\\nb\"", "a\\\nb"}, /* a backslash before a newline stays */
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        req_t r;
        req_init(&r);
        add(&r, "cookie", cases[i].cookie);
        const char *got = one(&r, "cookie:sid");
        if (strcmp(got, cases[i].value) != 0)
            fprintf(stderr, "Cookie: %s: got \"%s\", want \"%s\"\n", cases[i].cookie, got, cases[i].value);
        CHECK_STR(got, cases[i].value);
        CHECK_STR(r.asked, "cookie");
        req_free(&r);
    }
    req_t r;
    req_init(&r);
    CHECK_STR(one(&r, "cookie:sid"), MISSING);
    /* lines (an HTTP/2 client may split the field) count as the upstream gets them, joined with
     * "; ": the last one wins across lines too */
    add(&r, "cookie", "sid=A");
    add(&r, "cookie", "");
    add(&r, "cookie", "x=1; sid=B");
    CHECK_STR(one(&r, "cookie:sid"), "B");
    CHECK_STR(one(&r, "cookie:x"), "1");
    req_free(&r);
    req_init(&r);
    add(&r, "cookie", "sid=\"\\000\"");
    CHECK(gw_key_value(&r.src, &(cfg_key_t){.kind = CFG_KEY_COOKIE, .name = "sid"}).len == 1);
    req_free(&r);
}

static void test_path(void)
{
    req_t r;
    req_init(&r);
    set_path(&r, "/a/bc/d");
    CHECK_STR(one(&r, "path:1"), "a");
    CHECK_STR(one(&r, "path:2"), "bc");
    CHECK_STR(one(&r, "path:3"), "d");
    CHECK_STR(one(&r, "path:4"), MISSING); /* beyond the last */
    CHECK_STR(one(&r, "path:64"), MISSING);
    set_path(&r, "/");
    CHECK_STR(one(&r, "path:1"), MISSING);
    set_path(&r, "/a/");
    CHECK_STR(one(&r, "path:1"), "a");
    CHECK_STR(one(&r, "path:2"), MISSING); /* an empty last segment */
    set_path(&r, "/users/42/orders");
    CHECK_STR(one(&r, "path:2"), "42");
    /* a normalised path has no empty segment inside; were there one, it would not count */
    set_path(&r, "/a//b");
    CHECK_STR(one(&r, "path:2"), "b");
    CHECK_STR(one(&r, "path:3"), MISSING);
    /* path_len bounds it */
    r.src.path = "/a/b";
    r.src.path_len = 2;
    CHECK_STR(one(&r, "path:1"), "a");
    CHECK_STR(one(&r, "path:2"), MISSING);
    req_free(&r);
}

static void test_json(void)
{
    req_t r;
    req_init(&r);
    CHECK_STR(one(&r, "json:to"), MISSING); /* no body read */
    set_body(&r, "{\"to\":\"acc-2\",\"order\":{\"account\":\"A-17\"},\"n\":12.5,\"e\":\"\",\"t\":true}");
    CHECK_STR(one(&r, "json:to"), "acc-2");
    CHECK_STR(one(&r, "json:order.account"), "A-17");
    CHECK_STR(one(&r, "json:n"), "12.5");
    CHECK_STR(one(&r, "json:e"), MISSING); /* empty */
    CHECK_STR(one(&r, "json:t"), MISSING);
    CHECK_STR(one(&r, "json:order"), MISSING);
    CHECK_STR(one(&r, "json:absent"), MISSING);
    set_body(&r, "{\"to\":\"acc-2\",}");
    CHECK_STR(one(&r, "json:to"), MISSING); /* not JSON */
    /* body_len bounds it */
    set_body(&r, "{\"to\":\"x\"}garbage");
    r.src.body_len = 10;
    CHECK_STR(one(&r, "json:to"), "x");
    req_free(&r);
}

static void test_no_source(void)
{
    req_t r;
    req_init(&r);
    cfg_key_t none = {.kind = CFG_KEY_NONE};
    CHECK_STR(show(&r, gw_key_value(&r.src, &none)), MISSING);
    req_free(&r);
}

static void test_composite(void)
{
    req_t r;
    req_init(&r);
    add(&r, "x-a", "a:b");
    add(&r, "x-b", "c");
    add(&r, "x-c", "a");
    add(&r, "x-d", "b:c");
    add(&r, "x-e", "");
    /* one source: its value as it is */
    CHECK_STR(composite(&r, spec("header:x-a", NULL), 64), "a:b");
    CHECK_STR(composite(&r, spec("header:x-absent", NULL), 64), MISSING);
    /* several: each length-prefixed */
    const char *ab_c = composite(&r, spec("header:x-a", "header:x-b", NULL), 64);
    const char *a_bc = composite(&r, spec("header:x-c", "header:x-d", NULL), 64);
    CHECK_STR(ab_c, "3:a:b|1:c");
    CHECK_STR(a_bc, "1:a|3:b:c");
    CHECK(strcmp(ab_c, a_bc) != 0);
    /* in order */
    CHECK_STR(composite(&r, spec("header:x-b", "header:x-a", NULL), 64), "1:c|3:a:b");
    /* a missing (or empty) source is marked, not left out */
    CHECK_STR(composite(&r, spec("header:x-absent", "header:x-b", NULL), 64), "-|1:c");
    CHECK_STR(composite(&r, spec("header:x-b", "header:x-e", NULL), 64), "1:c|-");
    CHECK_STR(composite(&r, spec("header:x-b", "header:x-absent", "header:x-b", NULL), 64), "1:c|-|1:c");
    /* all missing: `_missing` */
    CHECK_STR(composite(&r, spec("header:x-absent", "header:x-e", "query:q", NULL), 64), MISSING);
    /* every kind of source at once */
    set_query(&r, "q=7");
    set_path(&r, "/u/42");
    set_body(&r, "{\"id\":\"j\"}");
    add(&r, "cookie", "sid=s1");
    CHECK_STR(composite(&r, spec("client_ip", "header:x-b", "query:q", "cookie:sid", "path:2", "json:id", NULL), 64),
              "9:192.0.2.1|1:c|1:7|2:s1|2:42|1:j");
    /* ten-digit lengths and more */
    char big[1500];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    add(&r, "x-big", big);
    const char *k = composite(&r, spec("header:x-big", "header:x-b", NULL), 2000);
    CHECK(strncmp(k, "1499:vvv", 8) == 0);
    CHECK(strcmp(k + strlen(k) - 4, "|1:c") == 0);
    CHECK_EQ_U64(strlen(k), 5 + 1499 + 4);
    req_free(&r);
}

static void test_values(void)
{
    req_t r;
    req_init(&r);
    add(&r, "x-a", "b");
    add(&r, "x-b", "a");
    add(&r, "x-c", "b");
    add(&r, "x-d", "ab");
    add(&r, "x-e", "\xff");
    add(&r, "x-f", "A");
    add(&r, "x-g", "");
    /* distinct, sorted */
    CHECK_STR(values(&r, spec("header:x-a", "header:x-b", "header:x-c", NULL), 64, 8), "a b");
    CHECK_STR(values(&r, spec("header:x-e", "header:x-d", "header:x-a", "header:x-b", "header:x-f", NULL), 64, 8), "A a ab b \xff");
    CHECK_STR(values(&r, spec("header:x-a", "header:x-a", "header:x-a", NULL), 64, 8), "b");
    /* missing ones are left out; `_missing` once only when none gives anything */
    CHECK_STR(values(&r, spec("header:x-absent", "header:x-a", "header:x-g", NULL), 64, 8), "b");
    CHECK_STR(values(&r, spec("header:x-absent", "header:x-g", "query:q", NULL), 64, 8), MISSING);
    CHECK_STR(values(&r, spec("header:x-absent", NULL), 64, 8), MISSING);
    /* at most `max`, from the first sources */
    CHECK_STR(values(&r, spec("header:x-a", "header:x-b", "header:x-d", NULL), 64, 2), "a b");
    CHECK_STR(values(&r, spec("header:x-d", "header:x-a", "header:x-b", NULL), 64, 1), "ab");
    CHECK_STR(values(&r, spec("header:x-absent", NULL), 64, 1), MISSING);
    req_free(&r);
}

static void test_long_values_are_hashed(void)
{
    req_t r;
    req_init(&r);
    add(&r, "x-abc", "abc");
    /* SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223 b00361a396177a9cb410ff61f20015ad */
    CHECK_STR(composite(&r, spec("header:x-abc", NULL), 2), "#ba7816bf8f01cfea414140de5dae2223");
    CHECK_STR(composite(&r, spec("header:x-abc", NULL), 0), "#ba7816bf8f01cfea414140de5dae2223");
    CHECK_STR(values(&r, spec("header:x-abc", NULL), 2, 8), "#ba7816bf8f01cfea414140de5dae2223");
    /* exactly at the limit: kept */
    CHECK_STR(composite(&r, spec("header:x-abc", NULL), 3), "abc");
    CHECK_STR(values(&r, spec("header:x-abc", NULL), 3, 8), "abc");
    /* long values: distinct ones stay distinct, equal ones equal */
    char one_k[1001], other[1001];
    memset(one_k, 'u', 1000);
    one_k[1000] = '\0';
    memcpy(other, one_k, sizeof(one_k));
    other[999] = 'w';
    add(&r, "x-long", one_k);
    add(&r, "x-long2", other);
    add(&r, "x-long3", one_k);
    const char *h1 = composite(&r, spec("header:x-long", NULL), 256);
    const char *h2 = composite(&r, spec("header:x-long2", NULL), 256);
    CHECK_STR(h1, hashed(&r, one_k, 1000));
    CHECK_STR(h2, hashed(&r, other, 1000));
    CHECK(strcmp(h1, h2) != 0);
    CHECK_EQ_U64(strlen(h1), GW_KEY_HASHED_LEN);
    CHECK_STR(composite(&r, spec("header:x-long3", NULL), 256), h1);
    CHECK_STR(composite(&r, spec("header:x-long", NULL), 1000), one_k);
    CHECK_STR(composite(&r, spec("header:x-long", NULL), 999), h1);
    /* in gw_key_values: each value hashed alone, then sorted ('#' before letters) and deduplicated */
    char want[128];
    snprintf(want, sizeof(want), "%s %s abc", strcmp(h1, h2) < 0 ? h1 : h2, strcmp(h1, h2) < 0 ? h2 : h1);
    CHECK_STR(values(&r, spec("header:x-abc", "header:x-long", "header:x-long2", "header:x-long3", NULL), 256, 8), want);
    /* a composite key is hashed whole: the length-prefixed string's digest */
    add(&r, "x-b", "c");
    const char *whole = composite(&r, spec("header:x-abc", "header:x-b", NULL), 0);
    CHECK_STR(whole, hashed(&r, "3:abc|1:c", 9));
    CHECK_STR(composite(&r, spec("header:x-abc", "header:x-b", NULL), 9), "3:abc|1:c");
    CHECK_STR(composite(&r, spec("header:x-abc", "header:x-b", NULL), 8), whole);
    req_free(&r);
}

/* Keys are copies: a request's fields may go before the slots its keys hold (hold_aborted). */
static void test_keys_are_copies(void)
{
    req_t r;
    req_init(&r);
    add(&r, "x-user", "alice");
    cfg_keyspec_t s = spec("header:x-user", NULL);
    gw_keyval_t k = gw_key_composite(&r.src, &s, 64);
    memset(r.given, 'X', 5);
    gw_keyval_t v[1];
    CHECK_EQ_U64(gw_key_values(&r.src, &s, 64, v, 1), 1);
    memset(r.given, 'Y', 5);
    cfg_keyspec_clear(&s);
    CHECK(k.len == 5 && memcmp(k.base, "alice", 5) == 0);
    CHECK(v[0].len == 5 && memcmp(v[0].base, "alice", 5) == 0);
    /* a client_ip given in memory of its own */
    char ip[] = "198.51.100.7";
    r.src.client_ip = ip;
    s = spec("client_ip", NULL);
    k = gw_key_composite(&r.src, &s, 64);
    CHECK_EQ_U64(gw_key_values(&r.src, &s, 64, v, 1), 1);
    cfg_keyspec_clear(&s);
    ip[0] = '0';
    CHECK(k.len == 12 && memcmp(k.base, "198.51.100.7", 12) == 0);
    CHECK(v[0].len == 12 && memcmp(v[0].base, "198.51.100.7", 12) == 0);
    req_free(&r);
}

/* The `per:` lists and max_key_length of a loaded config, as the gateway uses them. */
static void test_from_a_config(void)
{
    static const char yaml[] = "upstreams:\n"
                               "  app: {address: \"127.0.0.1:9\"}\n"
                               "routes:\n"
                               "  - name: transfers\n"
                               "    match: {path_prefix: /transfers}\n"
                               "    upstream: app\n"
                               "    concurrency:\n"
                               "      - {name: accounts, limit: 1, per: [json:from, json:to], max_key_length: 16}\n"
                               "    rate_limits:\n"
                               "      - {name: users, rate: 10/s, per: [header:X-User, cookie:sid]}\n";
    cfg_errors_t errors = {0};
    cfg_config_t *c = cfg_load_string(yaml, sizeof(yaml) - 1, "test", &errors);
    CHECK(c != NULL);
    if (c == NULL) {
        for (size_t i = 0; i != errors.count; ++i)
            fprintf(stderr, "%s\n", errors.items[i]);
        return;
    }
    const cfg_route_t *route = &c->routes[0];
    req_t r;
    req_init(&r);
    set_body(&r, "{\"from\":\"acc-9\",\"to\":\"acc-10-of-a-long-name\",\"amount\":1}");
    gw_keyval_t out[CFG_MAX_KEYS];
    const cfg_concurrency_t *conc = &route->concurrency[0];
    CHECK_EQ_U64(gw_key_values(&r.src, &conc->per, conc->max_key_length, out, CFG_MAX_KEYS), 2);
    CHECK_STR(show(&r, out[0]), hashed(&r, "acc-10-of-a-long-name", 21));
    CHECK_STR(show(&r, out[1]), "acc-9");
    const cfg_rate_limit_t *rate = &route->rate_limits[0];
    add(&r, "x-user", "u1");
    add(&r, "cookie", "sid=\"s\\061\"");
    CHECK_STR(show(&r, gw_key_composite(&r.src, &rate->per, rate->max_key_length)), "2:u1|2:s1");
    req_free(&r);
    cfg_free(c);
}

/* Seven and eight sources (the most a `per:` list has). */
static void test_composite_of_many(void)
{
    req_t r;
    req_init(&r);
    static const char *const names[] = {"x-1", "x-2", "x-3", "x-4", "x-5", "x-6", "x-7", "x-8"};
    for (int i = 0; i != 8; ++i)
        add(&r, names[i], names[i] + 2);
    CHECK_STR(
        composite(&r, spec("header:x-1", "header:x-2", "header:x-3", "header:x-4", "header:x-5", "header:x-6", "header:x-7", NULL),
                  64),
        "1:1|1:2|1:3|1:4|1:5|1:6|1:7");
    CHECK_STR(composite(&r,
                        spec("header:x-1", "header:x-2", "header:x-3", "header:x-4", "header:x-5", "header:x-6", "header:x-7",
                             "header:x-8", NULL),
                        64),
              "1:1|1:2|1:3|1:4|1:5|1:6|1:7|1:8");
    /* a value that is a prefix of another sorts first, whichever source comes first */
    add(&r, "x-ab", "ab");
    add(&r, "x-a", "a");
    CHECK_STR(values(&r, spec("header:x-a", "header:x-ab", NULL), 64, 8), "a ab");
    CHECK_STR(values(&r, spec("header:x-ab", "header:x-a", NULL), 64, 8), "a ab");
    req_free(&r);
}

static void test_reads_body(void)
{
    cfg_keyspec_t none = {0}, headers = spec("header:x-a", "cookie:b", NULL), json = spec("header:x-a", "json:a.b", NULL),
                  json_first = spec("json:a", "header:x-a", NULL);
    CHECK(gw_keyspec_reads_body(&none) == 0);
    CHECK(gw_keyspec_reads_body(&headers) == 0);
    CHECK(gw_keyspec_reads_body(&json) == 1);
    CHECK(gw_keyspec_reads_body(&json_first) == 1);

    cfg_concurrency_t conc[2] = {{.per = headers}, {.per = json}};
    cfg_rate_limit_t rates[2] = {{.per = headers}, {.per = json}};
    cfg_route_t route = {0};
    CHECK(gw_route_keys_read_body(&route) == 0);
    /* a concurrency limit's sources: the second one reads the body */
    route.concurrency = conc;
    route.num_concurrency = 1;
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.num_concurrency = 2;
    CHECK(gw_route_keys_read_body(&route) == 1);
    route.num_concurrency = 0;
    /* a rate limit's */
    route.rate_limits = rates;
    route.num_rate_limits = 1;
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.num_rate_limits = 2;
    CHECK(gw_route_keys_read_body(&route) == 1);
    route.num_rate_limits = 1;
    /* the circuit breaker's, only when it is enabled */
    route.circuit_breaker.per = json;
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.circuit_breaker.enabled = 1;
    CHECK(gw_route_keys_read_body(&route) == 1);
    route.circuit_breaker.per = headers;
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.circuit_breaker.enabled = 0;
    /* the priority's, only when it is enabled */
    route.priority.from = json.keys[1];
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.priority.enabled = 1;
    CHECK(gw_route_keys_read_body(&route) == 1);
    route.priority.from = headers.keys[0];
    CHECK(gw_route_keys_read_body(&route) == 0);
    route.circuit_breaker.enabled = 1;
    route.circuit_breaker.per = json;
    CHECK(gw_route_keys_read_body(&route) == 1);
    cfg_keyspec_clear(&headers);
    cfg_keyspec_clear(&json);
    cfg_keyspec_clear(&json_first);
}

int main(void)
{
    test_client_ip();
    test_header();
    test_query();
    test_cookie();
    test_path();
    test_json();
    test_no_source();
    test_composite();
    test_values();
    test_long_values_are_hashed();
    test_keys_are_copies();
    test_from_a_config();
    test_composite_of_many();
    test_reads_body();
    return CHECK_SUMMARY();
}
