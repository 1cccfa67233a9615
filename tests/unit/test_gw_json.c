/*
 * Unit tests of gw_json_field (gateway/gw_json.c), the reader of `json:` key sources: only a whole,
 * valid JSON document whose top level is an object has fields; dotted names walk nested objects;
 * the last of repeated keys counts (also when one is an object and the other not); keys are
 * compared unescaped; strings come back unescaped to UTF-8 (surrogate pairs joined, a lone
 * surrogate kept in its own 3-byte form, a bad escape refused); numbers (NaN, Infinity and
 * -Infinity too, as Python reads them) as written; true, false, null, arrays and objects give
 * nothing; an error anywhere in the document, even after the field, gives nothing; nesting up to
 * GW_JSON_MAX_DEPTH; 64 KiB values; whitespace. Every call reads an exact-size copy of the body and
 * writes to an exact-size buffer, so that ASan catches a read past the body or a value written
 * longer than the body. The fuzz target's corpus (fuzz/corpus/json) is replayed at the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "corpus.h"
#include "gw_json.h"

#define BIG (256 * 1024)

static char got[BIG + 1];
static ssize_t got_len;

/* The field as a NUL-terminated string (in a static buffer), or NULL when gw_json_field says -1;
 * got_len is its length. */
static const char *field_n(const char *body, size_t len, const char *name)
{
    char *copy = malloc(len != 0 ? len : 1), *dst = malloc(len != 0 ? len : 1);
    memcpy(copy, body, len);
    got_len = gw_json_field(copy, len, name, dst);
    if (got_len >= 0) {
        memcpy(got, dst, (size_t)got_len);
        got[got_len] = '\0';
    }
    free(copy);
    free(dst);
    return got_len >= 0 ? got : NULL;
}

static const char *field(const char *body, const char *name)
{
    return field_n(body, strlen(body), name);
}

/* The field is exactly these bytes (which may hold a NUL). */
static int field_is(const char *body, const char *name, const char *bytes, size_t n)
{
    return field(body, name) != NULL && (size_t)got_len == n && memcmp(got, bytes, n) == 0;
}

static void test_top_level_must_be_an_object(void)
{
    CHECK_STR(field("{\"a\":\"x\"}", "a"), "x");
    CHECK(field("{}", "a") == NULL);
    CHECK(field("{\"b\":\"x\"}", "a") == NULL);
    CHECK(field("[{\"a\":\"x\"}]", "a") == NULL);
    CHECK(field("\"a\"", "a") == NULL);
    CHECK(field("1", "a") == NULL);
    CHECK(field("null", "a") == NULL);
    CHECK(field("true", "a") == NULL);
    CHECK(field("", "a") == NULL);
    CHECK(field_n("", 0, "a") == NULL);
    CHECK(field(" \t\r\n", "a") == NULL);
    CHECK(field("{", "a") == NULL);
    CHECK(field("}", "a") == NULL);
}

static void test_dotted_names_walk_objects(void)
{
    const char *body = "{\"order\":{\"account\":\"acc-1\",\"n\":{\"x\":7}},\"account\":\"top\"}";
    CHECK_STR(field(body, "order.account"), "acc-1");
    CHECK_STR(field(body, "order.n.x"), "7");
    CHECK_STR(field(body, "account"), "top");
    CHECK(field(body, "order") == NULL);           /* an object */
    CHECK(field(body, "order.n") == NULL);         /* an object */
    CHECK(field(body, "order.account.x") == NULL); /* a string has no fields */
    CHECK(field(body, "order.missing") == NULL);
    CHECK(field(body, "x") == NULL);   /* only at the top level */
    CHECK(field(body, "n.x") == NULL); /* a path starts at the top */
    CHECK(field(body, "ord") == NULL); /* whole names only */
    CHECK(field(body, "orderx.account") == NULL);
    /* a field inside an array is not on any dotted path */
    CHECK(field("{\"a\":[{\"b\":\"x\"}]}", "a.b") == NULL);
    CHECK(field("{\"a\":[\"x\"]}", "a") == NULL);
    /* a key equal to the next part, but off the path, is not it */
    CHECK(field("{\"x\":{\"b\":\"no\"},\"a\":{\"c\":1}}", "a.b") == NULL);
    CHECK_STR(field("{\"x\":{\"a\":{\"b\":\"no\"}},\"a\":{\"b\":\"yes\"}}", "a.b"), "yes");
    /* the eight parts a config allows */
    const char *deep = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":\"deep\"}}}}}}}}";
    CHECK_STR(field(deep, "a.b.c.d.e.f.g.h"), "deep");
    CHECK(field(deep, "a.b.c.d.e.f.g") == NULL);
}

static void test_names_of_more_than_eight_parts_find_nothing(void)
{
    /* gw_json_field keeps eight parts: a ninth must not be dropped silently (that would read
     * a.b.c.d.e.f.g.h for a.b.c.d.e.f.g.h.i) */
    const char *deep = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":\"eight\"}}}}}}}}";
    CHECK(field(deep, "a.b.c.d.e.f.g.h.i") == NULL);
    const char *nine = "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":\"nine\"}}}}}}}}}";
    CHECK(field(nine, "a.b.c.d.e.f.g.h.i") == NULL);
}

static void test_the_last_repeated_key_counts(void)
{
    CHECK_STR(field("{\"a\":\"1\",\"a\":\"2\"}", "a"), "2");
    CHECK_STR(field("{\"a\":\"1\",\"b\":0,\"a\":\"2\",\"c\":3}", "a"), "2");
    CHECK_STR(field("{\"a\":1,\"a\":\"2\"}", "a"), "2");
    CHECK_STR(field("{\"a\":\"1\",\"a\":2}", "a"), "2");
    /* a later value that gives nothing voids an earlier one that did */
    CHECK(field("{\"a\":\"1\",\"a\":true}", "a") == NULL);
    CHECK(field("{\"a\":\"1\",\"a\":null}", "a") == NULL);
    CHECK(field("{\"a\":\"1\",\"a\":[\"1\"]}", "a") == NULL);
    CHECK(field("{\"a\":\"1\",\"a\":{}}", "a") == NULL);
    CHECK_STR(field("{\"a\":null,\"a\":\"2\"}", "a"), "2");
    /* an object, then a string: the string counts, the object's fields are gone */
    const char *obj_then_str = "{\"a\":{\"b\":\"x\"},\"a\":\"y\"}";
    CHECK(field(obj_then_str, "a.b") == NULL);
    CHECK_STR(field(obj_then_str, "a"), "y");
    /* a string, then an object */
    const char *str_then_obj = "{\"a\":\"y\",\"a\":{\"b\":\"x\"}}";
    CHECK_STR(field(str_then_obj, "a.b"), "x");
    CHECK(field(str_then_obj, "a") == NULL);
    /* two objects: only the last one's fields */
    CHECK(field("{\"a\":{\"b\":\"1\"},\"a\":{\"c\":\"2\"}}", "a.b") == NULL);
    CHECK_STR(field("{\"a\":{\"b\":\"1\"},\"a\":{\"b\":\"2\",\"c\":3}}", "a.b"), "2");
    CHECK_STR(field("{\"a\":{\"b\":\"1\"},\"a\":{\"c\":\"2\"},\"a\":{\"b\":\"3\"}}", "a.b"), "3");
    /* repeated inside the object */
    CHECK_STR(field("{\"a\":{\"b\":\"1\",\"b\":\"2\"}}", "a.b"), "2");
    CHECK(field("{\"a\":{\"b\":\"1\",\"b\":{\"c\":1}}}", "a.b") == NULL);
    /* a repeated key elsewhere does not void the field */
    CHECK_STR(field("{\"a\":{\"b\":\"1\"},\"c\":{\"a\":\"z\",\"a\":\"w\"}}", "a.b"), "1");
    CHECK_STR(field("{\"a\":\"1\",\"b\":\"2\",\"b\":\"3\"}", "a"), "1");
}

static void test_keys_are_compared_unescaped(void)
{
    CHECK_STR(field("{\"t\\u006f\":\"x\"}", "to"), "x");
    CHECK_STR(field("{\"\\u0074\\u006F\":\"x\"}", "to"), "x");
    CHECK_STR(field("{\"\\u006frder\":{\"acc\\u006funt\":\"x\"}}", "order.account"), "x");
    CHECK_STR(field("{\"a\\/b\":\"x\"}", "a/b"), "x");
    CHECK(field("{\"t\\u006f\\u0000\":\"x\"}", "to") == NULL);
    CHECK(field("{\"t\\u0070\":\"x\"}", "to") == NULL);
    /* the escaped and the plain spelling are the same key: the last one counts */
    CHECK_STR(field("{\"to\":\"1\",\"t\\u006f\":\"2\"}", "to"), "2");
    CHECK_STR(field("{\"t\\u006f\":\"1\",\"to\":\"2\"}", "to"), "2");
    CHECK(field("{\"to\":\"1\",\"t\\u006f\":true}", "to") == NULL);
}

static void test_long_escaped_keys_are_compared_whole(void)
{
    /* a name of 100 letters (a config allows any length), every letter escaped: 600 bytes of key */
    char name[101], body[1024];
    memset(name, 'k', 100);
    name[100] = '\0';
    char *p = body;
    p += sprintf(p, "{\"");
    for (int i = 0; i != 100; ++i)
        p += sprintf(p, "\\u006b");
    sprintf(p, "\":\"long\"}");
    CHECK_STR(field(body, name), "long");
    name[99] = '\0';
    CHECK(field(body, name) == NULL);
}

static void test_strings_are_unescaped(void)
{
    CHECK_STR(field("{\"a\":\"\"}", "a"), "");
    CHECK(got_len == 0);
    CHECK_STR(field("{\"a\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}", "a"), "q\"b\\s/b\bf\fn\nr\rt\t");
    CHECK_STR(field("{\"a\":\"\\u0041\\u00e9\\u20AC\"}", "a"), "A\xc3\xa9\xe2\x82\xac");
    CHECK_STR(field("{\"a\":\"\\u07ff\\u0800\\uffff\\u0080\"}", "a"), "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xc2\x80");
    CHECK(field_is("{\"a\":\"x\\u0000y\"}", "a", "x\0y", 3));
    /* raw UTF-8 is kept as it is; DEL is not a control character to JSON */
    CHECK_STR(field("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"}", "a"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f");
}

static void test_surrogates(void)
{
    /* a pair is one code point */
    CHECK_STR(field("{\"a\":\"\\ud83d\\ude00\"}", "a"), "\xf0\x9f\x98\x80");
    CHECK_STR(field("{\"a\":\"\\uD83D\\uDE00\"}", "a"), "\xf0\x9f\x98\x80");
    CHECK_STR(field("{\"a\":\"\\ud800\\udc00\\udbff\\udfff\"}", "a"), "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    /* a lone surrogate is read (Python reads it) and keeps its own 3-byte form, so that equal
     * strings give equal keys */
    CHECK_STR(field("{\"a\":\"\\ud800\"}", "a"), "\xed\xa0\x80");
    CHECK_STR(field("{\"a\":\"\\udc00\"}", "a"), "\xed\xb0\x80");
    CHECK_STR(field("{\"a\":\"x\\udbff\"}", "a"), "x\xed\xaf\xbf");
    CHECK_STR(field("{\"a\":\"\\ud800\\u0041\"}", "a"), "\xed\xa0\x80"
                                                        "A");
    CHECK_STR(field("{\"a\":\"\\ud800\\n\"}", "a"), "\xed\xa0\x80\n");
    CHECK_STR(field("{\"a\":\"\\ud800x\"}", "a"), "\xed\xa0\x80x");
    CHECK_STR(field("{\"a\":\"\\udc00\\ud800\"}", "a"), "\xed\xb0\x80\xed\xa0\x80");
    CHECK_STR(field("{\"a\":\"\\ud800\\ud83d\\ude00\"}", "a"), "\xed\xa0\x80\xf0\x9f\x98\x80");
    CHECK_STR(field("{\"a\":\"\\ud800\\ud800\"}", "a"), "\xed\xa0\x80\xed\xa0\x80");
    /* raw UTF-8 must be valid: an encoded surrogate, an overlong form, a stray continuation byte,
     * a cut sequence or a byte that never starts one make the document invalid */
    CHECK(field("{\"a\":\"\xed\xa0\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xc0\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xe0\x80\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xc3\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xe2\x82\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xf5\x80\x80\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xf4\x90\x80\x80\"}", "a") == NULL);
    CHECK(field("{\"a\":\"\xff\"}", "a") == NULL);
    CHECK(field("{\"a\":\"x\",\"b\":\"\xff\"}", "a") == NULL);
    CHECK(field("{\"\xff\":1,\"a\":\"x\"}", "a") == NULL);
}

static void test_bad_escapes_are_refused(void)
{
    static const char *bad[] = {
        "{\"a\":\"\\x41\"}",   "{\"a\":\"\\'\"}",     "{\"a\":\"\\U0041\"}", "{\"a\":\"\\u\"}",     "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u123\"}",  "{\"a\":\"\\u00zz\"}", "{\"a\":\"\\u004g\"}", "{\"a\":\"\\u00g0\"}", "{\"a\":\"\\u0g00\"}",
        "{\"a\":\"\\ug000\"}", "{\"a\":\"\\u 041\"}", "{\"a\":\"\\u-041\"}", "{\"a\":\"\\u+041\"}", "{\"a\":\"\\u00\"}\"}",
        "{\"a\":\"\\\"}",      "{\"a\":\"\\",         "{\"a\":\"\\0\"}",     "{\"a\":\"\\a\"}",     "{\"a\":\"\\\n\"}",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        if (field(bad[i], "a") != NULL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(got_len == -1);
    }
    /* also in another field, or in a key */
    CHECK(field("{\"a\":\"x\",\"b\":\"\\u00zz\"}", "a") == NULL);
    CHECK(field("{\"\\u00zz\":1,\"a\":\"x\"}", "a") == NULL);
    CHECK(field("{\"a\\q\":1,\"a\":\"x\"}", "a") == NULL);
    /* the same document with good escapes is fine */
    CHECK_STR(field("{\"a\":\"x\",\"b\":\"\\u00aa\"}", "a"), "x");
}

static void test_control_characters_in_strings_are_refused(void)
{
    for (int c = 0; c != 0x20; ++c) {
        char body[32];
        int n = snprintf(body, sizeof(body), "{\"a\":\"x%cy\"}", c);
        CHECK(field_n(body, (size_t)n, "a") == NULL);
        n = snprintf(body, sizeof(body), "{\"k%c\":1,\"a\":\"x\"}", c);
        CHECK(field_n(body, (size_t)n, "a") == NULL);
    }
    CHECK(field_n("{\"a\":\"x\0\"}", 10, "a") == NULL);
    CHECK_STR(field("{\"a\":\"x\\u001fy\"}", "a"), "x\x1fy");
}

static void test_numbers_as_written(void)
{
    static const char good[][32] = {
        "0",   "-0",       "7",         "123",      "-123",   "1.5",       "-0.25",
        "1e5", "1E5",      "1e+5",      "1E-5",     "-0.0e0", "10.01e-01", "12345678901234567890123456789",
        "NaN", "Infinity", "-Infinity", "1.0E+308", "1e99999"};
    for (size_t i = 0; i != sizeof(good) / sizeof(good[0]); ++i) {
        char body[2048];
        snprintf(body, sizeof(body), "{\"a\":%s}", good[i]);
        CHECK_STR(field(body, "a"), good[i]);
        snprintf(body, sizeof(body), "{\"a\" : %s , \"b\":[%s]}", good[i], good[i]);
        CHECK_STR(field(body, "a"), good[i]);
    }
    CHECK_STR(field("{\"a\":{\"b\":-Infinity}}", "a.b"), "-Infinity");
}

static void test_bad_numbers_make_the_document_invalid(void)
{
    static const char *bad[] = {"01",       "-01",       "00",   "1.",    "-",     ".5",  "+1",  "1e",   "1e+",
                                "1E-",      "--1",       "0x10", "1.5.2", "1ee5",  "nan", "NAN", "-NaN", "inf",
                                "infinity", "Infinityx", "-Inf", "NaNa",  "1_000", "1 2", "- 1"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char body[128];
        /* the field asked for comes first and is fine: the error after it still counts */
        snprintf(body, sizeof(body), "{\"a\":\"ok\",\"b\":%s}", bad[i]);
        if (field(body, "a") != NULL)
            fprintf(stderr, "accepted: %s\n", body);
        CHECK(got_len == -1);
        snprintf(body, sizeof(body), "{\"a\":%s}", bad[i]);
        CHECK(field(body, "a") == NULL);
    }
}

static void test_other_values_give_nothing(void)
{
    static const char *none[] = {"true", "false", "null", "[]", "[1]", "[\"x\"]", "{}", "{\"a\":\"x\"}"};
    for (size_t i = 0; i != sizeof(none) / sizeof(none[0]); ++i) {
        char body[64];
        snprintf(body, sizeof(body), "{\"a\":%s,\"b\":\"ok\"}", none[i]);
        CHECK(field(body, "a") == NULL);
        CHECK_STR(field(body, "b"), "ok"); /* the document itself is fine */
    }
    /* misspelt literals make the document invalid */
    static const char *bad[] = {"tru", "True", "TRUE", "fals", "nul", "Null", "truee", "nulll", "t"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        char body[64];
        snprintf(body, sizeof(body), "{\"b\":\"ok\",\"a\":%s}", bad[i]);
        CHECK(field(body, "b") == NULL);
    }
}

static void test_invalid_documents_have_no_fields(void)
{
    static const char *bad[] = {
        "{\"a\":\"x\"} x",
        "{\"a\":\"x\"}}",
        "{\"a\":\"x\"}{}",
        "{\"a\":\"x\"},",
        "{\"a\":\"x\"}\"",
        "{\"a\":\"x\",}",
        "{\"a\":\"x\",\"b\":[1,]}",
        "{\"a\":\"x\",\"b\":[,1]}",
        "{,\"a\":\"x\"}",
        "{\"a\":\"x\",,\"b\":1}",
        "{\"a\" \"x\"}",
        "{\"a\"::\"x\"}",
        "{\"a\":\"x\" \"b\":1}",
        "{\"a\":\"x\",\"b\":}",
        "{\"a\":\"x\",\"b\"}",
        "{\"a\":\"x\",\"b\":\"y}",
        "{\"a\":\"x\"",
        "{\"a\":\"x\",",
        "{\"a\":\"x\",\"b\":[",
        "{\"a\":\"x\",\"b\":{\"c\":1}",
        "{'a':'x'}",
        "{a:\"x\"}",
        "{\"a\":\"x\"} // c",
        "{\"a\":\"x\" /* c */}",
        "{\"a\":'x'}",
        "{\"a\":\"x\",\"b\":[1 2]}",
        "{\"a\":\"x\",1:2}",
        "{\"a\":\"x\",\"b\":{\"c\"}}",
        "{\"a\":\"x\"]",
        "[\"a\",\"x\"}",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        if (field(bad[i], "a") != NULL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(got_len == -1);
    }
    /* a NUL after the document is trailing garbage */
    CHECK(field_n("{\"a\":\"x\"}\0", 10, "a") == NULL);
    CHECK_STR(field_n("{\"a\":\"x\"}\0", 9, "a"), "x");
}

/* A part that is malformed where the enclosing object or array could go on (a ',' or a '}')
 * makes the whole document invalid: a reader that gave up on the part and resumed the enclosing
 * object there would find the field that follows in a document the application refuses. */
static void test_a_malformed_part_is_not_skipped(void)
{
    static const char *bad[] = {
        "{:1,\"a\":\"v\"}",           /* a key that is no string */
        "{\"x\":{\"b\",\"a\":\"v\"}", /* a key with no colon, then one brace short */
        "{\"x\":[,\"a\":\"v\"}",      /* an array's missing value, then no ']' */
        "{\"a\":\"v\",\"x\":[1}",     /* an array closed by '}' */
        "{\"x\":tru,\"a\":\"v\"}",    /* a literal cut short */
        "{\"x\":Nan,\"a\":\"v\"}",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        if (field(bad[i], "a") != NULL)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(got_len == -1);
    }
}

static void test_whitespace(void)
{
    CHECK_STR(field(" \t\r\n{ \"a\" : \"x\" } \n\r\t ", "a"), "x");
    CHECK_STR(field("{\n\t\"a\"\r\n:\n\"x\"\n,\r\"b\"\t:\t[ 1 , { } , [ ] ]\n}", "a"), "x");
    CHECK_STR(field("{\"o\" :\n{ \"a\"\t:\t12 }\r}", "o.a"), "12");
    CHECK(field("{ }", "a") == NULL);
    /* JSON's whitespace is these four only (Python's json agrees) */
    CHECK(field("\f{\"a\":\"x\"}", "a") == NULL);
    CHECK(field("{\"a\":\v\"x\"}", "a") == NULL);
    CHECK(field("{\"a\":\"x\"}\xc2\xa0", "a") == NULL);
    CHECK(field("\xef\xbb\xbf{\"a\":\"x\"}", "a") == NULL); /* a byte order mark */
    /* whitespace inside a string is part of it */
    CHECK_STR(field("{\"a\":\" x \"}", "a"), " x ");
    CHECK(field("{\" a\":\"x\"}", "a") == NULL);
}

/* `levels` nested arrays (or objects) in the value of "n", beside "a", into body[1024]: the top
 * object is one level. */
static void nested(char *body, int levels, int objects)
{
    size_t n = (size_t)snprintf(body, 1024, "{\"a\":\"x\",\"n\":");
    for (int i = 0; i != levels; ++i)
        n += (size_t)snprintf(body + n, 1024 - n, objects ? "{\"n\":" : "[");
    n += (size_t)snprintf(body + n, 1024 - n, "1");
    for (int i = 0; i != levels; ++i)
        n += (size_t)snprintf(body + n, 1024 - n, objects ? "}" : "]");
    snprintf(body + n, 1024 - n, "}");
}

static void test_nesting_depth(void)
{
    char ok[1024], deep[1024], edge[1024], with_empty[1024];
    for (int objects = 0; objects != 2; ++objects) {
        nested(ok, GW_JSON_MAX_DEPTH - 1, objects);
        nested(deep, GW_JSON_MAX_DEPTH, objects);
        CHECK_STR(field(ok, "a"), "x");
        CHECK(field(deep, "a") == NULL);
    }
    /* an empty array is a level too: the innermost 1 of one level less, made [] (the maximum)
     * or [[]] (one more) */
    nested(edge, GW_JSON_MAX_DEPTH - 2, 0);
    char *one = strchr(edge, '1');
    snprintf(with_empty, sizeof(with_empty), "%.*s[]%s", (int)(one - edge), edge, one + 1);
    CHECK_STR(field(with_empty, "a"), "x");
    snprintf(with_empty, sizeof(with_empty), "%.*s[[]]%s", (int)(one - edge), edge, one + 1);
    CHECK(field(with_empty, "a") == NULL);
}

static void test_64k_values(void)
{
    size_t n = 64 * 1024;
    char *body = malloc(n * 6 + 64), *p = body;
    p += sprintf(p, "{\"a\":\"");
    memset(p, 'x', n);
    p += n;
    p += sprintf(p, "\",\"b\":");
    memset(p, '9', n);
    p += n;
    p += sprintf(p, "}");
    CHECK(field_n(body, (size_t)(p - body), "a") != NULL);
    CHECK_EQ_U64(got_len, n);
    CHECK(got[0] == 'x' && got[n - 1] == 'x');
    CHECK(field_n(body, (size_t)(p - body), "b") != NULL);
    CHECK_EQ_U64(got_len, n);
    CHECK(got[0] == '9' && got[n - 1] == '9');
    /* escaped: the value is a sixth of the body */
    p = body;
    p += sprintf(p, "{\"a\":\"");
    for (size_t i = 0; i != n; ++i) {
        memcpy(p, "\\u0041", 6);
        p += 6;
    }
    p += sprintf(p, "\"}");
    CHECK(field_n(body, (size_t)(p - body), "a") != NULL);
    CHECK_EQ_U64(got_len, n);
    CHECK(got[0] == 'A' && got[n - 1] == 'A');
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bounds of what joins into a pair, of the one-byte UTF-8 form, and of a few refusals. */
static void test_bounds(void)
{
    /* only a high surrogate (d800-dbff) then a low one (dc00-dfff) make a pair */
    CHECK_STR(field("{\"a\":\"\\ud7ff\\udc00\"}", "a"), "\xed\x9f\xbf\xed\xb0\x80");
    CHECK_STR(field("{\"a\":\"\\udc00\\udc00\"}", "a"), "\xed\xb0\x80\xed\xb0\x80");
    CHECK_STR(field("{\"a\":\"\\ud800\\udbff\"}", "a"), "\xed\xa0\x80\xed\xaf\xbf");
    CHECK_STR(field("{\"a\":\"\\ud800\\ue000\"}", "a"), "\xed\xa0\x80\xee\x80\x80");
    CHECK_STR(field("{\"a\":\"\\udbff\\udfff\"}", "a"), "\xf4\x8f\xbf\xbf");
    /* U+007F is one byte, U+0080 two */
    CHECK(field_is("{\"a\":\"\\u007f\\u0080\"}", "a", "\x7f\xc2\x80", 3));
    /* a key written with a surrogate pair matches the name in UTF-8 */
    CHECK_STR(field("{\"\\ud83d\\ude00\":\"v\"}", "\xf0\x9f\x98\x80"), "v");
    /* "Infinit" is no number */
    CHECK(field("{\"a\":Infinitx}", "a") == NULL);
    CHECK_STR(field("{\"a\":-Infinity}", "a"), "-Infinity");
    /* a \u escape cut by the end of the body */
    CHECK(field("{\"a\":\"\\u123", "a") == NULL);
    /* a control byte ends nothing: the string is invalid, whatever follows it */
    CHECK(field("{\"k\":\"a\t,\"x\":1}", "x") == NULL);
    CHECK(field("{\"k\":\"a\n,\"x\":1}", "x") == NULL);
    /* a key not followed by ':' */
    CHECK(field("{\"a\"x1}", "a") == NULL);
}

int main(void)
{
    test_top_level_must_be_an_object();
    test_dotted_names_walk_objects();
    test_names_of_more_than_eight_parts_find_nothing();
    test_the_last_repeated_key_counts();
    test_keys_are_compared_unescaped();
    test_long_escaped_keys_are_compared_whole();
    test_strings_are_unescaped();
    test_surrogates();
    test_bounds();
    test_bad_escapes_are_refused();
    test_control_characters_in_strings_are_refused();
    test_numbers_as_written();
    test_bad_numbers_make_the_document_invalid();
    test_other_values_give_nothing();
    test_invalid_documents_have_no_fields();
    test_a_malformed_part_is_not_skipped();
    test_whitespace();
    test_nesting_depth();
    test_64k_values();
    CHECK(replay_corpus(SLUICE_SOURCE_DIR "/fuzz/corpus/json", LLVMFuzzerTestOneInput) >= 5);
    return CHECK_SUMMARY();
}
