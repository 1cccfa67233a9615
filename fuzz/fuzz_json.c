/*
 * libFuzzer target for gw_json_field (gateway/gw_json.c, the `json:` key sources): a request body
 * is client input. The input is a dotted field name, a newline, then the body (with no newline,
 * the name is "a" and the whole input is the body). Checks, beyond the sanitizers': a value is
 * never longer than the body (dst has exactly the body's size, so ASan sees a longer one); the
 * same call gives the same answer twice; a value is UTF-8 in which a surrogate may stand alone
 * (an escaped lone \ud800, as Python reads it) but never a high one before a low one (an escaped
 * pair is one code point, and raw UTF-8 holds no surrogates); the body with a space added around
 * every structural character outside strings gives the same answer. tests/unit/test_gw_json.c
 * links it too, to replay fuzz/corpus/json/ in every test run.
 *
 * fuzz-sources: gateway/gw_json.c gateway/gw_http.c
 * fuzz-cflags: -Igateway -D_GNU_SOURCE -std=c11
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "gw_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UTF-8 (no overlongs, at most U+10FFFF) where surrogates are allowed alone but never as a high
 * one followed by a low one. Written apart from gw_http's gw_utf8_len, which refuses them all. */
static int value_is_valid(const unsigned char *s, size_t n)
{
    int after_high = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || n - i < len)
            return 0;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (unsigned k = 1; k != len; ++k) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10ffff)
            return 0;
        int low = cp >= 0xdc00 && cp < 0xe000;
        if (after_high && low)
            return 0;
        after_high = cp >= 0xd800 && cp < 0xdc00;
        i += len;
    }
    return 1;
}

/* The body with " c " for every structural character c outside strings. */
static char *spaced(const char *body, size_t len, size_t *out_len)
{
    char *out = malloc(len * 3 + 1), *d = out;
    int in_string = 0;
    for (size_t i = 0; i != len; ++i) {
        char c = body[i];
        if (in_string) {
            *d++ = c;
            if (c == '\\' && i + 1 != len)
                *d++ = body[++i];
            else if (c == '"')
                in_string = 0;
        } else if (strchr("{}[]:,", c) != NULL && c != '\0') {
            *d++ = ' ';
            *d++ = c;
            *d++ = ' ';
        } else {
            *d++ = c;
            in_string = c == '"';
        }
    }
    *out_len = (size_t)(d - out);
    return out;
}

/* gw_json_field on an exact-size copy of the body into an exact-size buffer (the result is in
 * *value, malloc'd). */
static ssize_t field(const char *body, size_t len, const char *name, char **value)
{
    char *copy = malloc(len != 0 ? len : 1);
    memcpy(copy, body, len);
    *value = malloc(len != 0 ? len : 1);
    ssize_t n = gw_json_field(copy, len, name, *value);
    free(copy);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    char *name;
    const char *body;
    size_t len;
    if (nl != NULL) {
        size_t name_len = (size_t)(nl - (const char *)data);
        name = malloc(name_len + 1);
        memcpy(name, data, name_len);
        name[name_len] = '\0';
        body = nl + 1;
        len = size - name_len - 1;
    } else {
        name = strdup("a");
        body = (const char *)data;
        len = size;
    }
    char *first, *second, *third;
    ssize_t n = field(body, len, name, &first);
    check(n >= -1 && n <= (ssize_t)len);
    check(field(body, len, name, &second) == n);
    if (n >= 0) {
        check(memcmp(first, second, (size_t)n) == 0);
        check(value_is_valid((const unsigned char *)first, (size_t)n));
    }
    size_t spaced_len;
    char *wide = spaced(body, len, &spaced_len);
    ssize_t n_wide = field(wide, spaced_len, name, &third);
    check(n_wide == n);
    if (n >= 0)
        check(memcmp(first, third, (size_t)n) == 0);
    free(wide);
    free(first);
    free(second);
    free(third);
    free(name);
    return 0;
}
