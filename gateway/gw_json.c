#include "gw_json.h"

#include <string.h>
#include "gw_http.h"

#define MAX_PARTS 8

typedef struct {
    const char *p, *end;
    const char *parts[MAX_PARTS];
    size_t part_len[MAX_PARTS];
    size_t nparts;
    const char *found; /* the value of the field, where it is in the body */
    size_t found_len;
} parser_t;

static int value(parser_t *j, int depth, size_t chain);

static void skip_ws(parser_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        ++j->p;
}

static int literal(parser_t *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i != 4; ++i) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* A string (j->p at its opening quote); its raw inside is [*start, *start + *len). */
static int string(parser_t *j, const char **start, size_t *len)
{
    ++j->p;
    *start = j->p;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            *len = (size_t)(j->p - *start);
            ++j->p;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (j->end - j->p < 2)
                return -1;
            char e = j->p[1];
            if (e == 'u') {
                unsigned v;
                if (j->end - j->p < 6 || hex4(j->p + 2, &v) != 0)
                    return -1;
                j->p += 6;
            } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                j->p += 2;
            } else {
                return -1;
            }
            continue;
        }
        if (c >= 0x80) {
            size_t n = gw_utf8_len((const unsigned char *)j->p, (size_t)(j->end - j->p));
            if (n == 0)
                return -1;
            j->p += n;
            continue;
        }
        ++j->p;
    }
    return -1; /* no closing quote */
}

static int digits(parser_t *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        ++j->p;
    return j->p == s ? -1 : 0;
}

/* RFC 8259 numbers, and the NaN, Infinity and -Infinity Python's json also reads. */
static int number(parser_t *j)
{
    if (j->p < j->end && *j->p == '-')
        ++j->p;
    if (j->end - j->p >= 8 && memcmp(j->p, "Infinity", 8) == 0) {
        j->p += 8;
        return 0;
    }
    if (j->p < j->end && *j->p == '0')
        ++j->p;
    else if (digits(j) != 0)
        return -1;
    if (j->p < j->end && *j->p == '.') {
        ++j->p;
        if (digits(j) != 0)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        ++j->p;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            ++j->p;
        if (digits(j) != 0)
            return -1;
    }
    return 0;
}

static size_t unescape_one(const char *s, size_t len, size_t *i, char *out);

/* A key is compared unescaped, as the application sees it: "\u0074o" is "to". */
static int key_matches(const char *key, size_t key_len, const char *part, size_t part_len)
{
    if (memchr(key, '\\', key_len) == NULL)
        return key_len == part_len && memcmp(key, part, part_len) == 0;
    size_t matched = 0;
    for (size_t i = 0; i < key_len;) {
        char unit[4];
        size_t n = unescape_one(key, key_len, &i, unit);
        if (n > part_len - matched || memcmp(unit, part + matched, n) != 0)
            return 0;
        matched += n;
    }
    return matched == part_len;
}

/* An object; `chain` parts of the name matched to reach it (its keys are compared with the next
 * part). */
static int object(parser_t *j, int depth, size_t chain)
{
    ++j->p;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        ++j->p;
        return 0;
    }
    for (;;) {
        const char *key;
        size_t key_len;
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"' || string(j, &key, &key_len) != 0)
            return -1;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return -1;
        ++j->p;
        int on_path = chain < j->nparts && key_matches(key, key_len, j->parts[chain], j->part_len[chain]);
        if (on_path)
            j->found = NULL; /* a repeated key: the last one counts, so what the earlier gave is void */
        if (value(j, depth, on_path ? chain + 1 : SIZE_MAX) != 0)
            return -1;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            ++j->p;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            ++j->p;
            return 0;
        }
        return -1;
    }
}

static int array(parser_t *j, int depth)
{
    ++j->p;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        ++j->p;
        return 0;
    }
    for (;;) {
        if (value(j, depth, SIZE_MAX) != 0)
            return -1;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            ++j->p;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            ++j->p;
            return 0;
        }
        return -1;
    }
}

/* A value; `chain` is the number of name parts matched to reach it (SIZE_MAX: off the path). */
static int value(parser_t *j, int depth, size_t chain)
{
    skip_ws(j);
    if (j->p >= j->end)
        return -1;
    int is_target = chain == j->nparts;
    const char *start = j->p;
    switch (*j->p) {
    case '{':
        if (depth == GW_JSON_MAX_DEPTH)
            return -1;
        return object(j, depth + 1, is_target ? SIZE_MAX : chain);
    case '[':
        if (depth == GW_JSON_MAX_DEPTH)
            return -1;
        return array(j, depth + 1);
    case '"': {
        const char *s;
        size_t len;
        if (string(j, &s, &len) != 0)
            return -1;
        if (is_target) {
            j->found = s;
            j->found_len = len;
        }
        return 0;
    }
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    case 'N':
        if (literal(j, "NaN") != 0)
            return -1;
        break;
    default:
        if (number(j) != 0)
            return -1;
        break;
    }
    if (is_target) {
        j->found = start;
        j->found_len = (size_t)(j->p - start);
    }
    return 0;
}

static char *put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | cp >> 12);
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *d++ = (char)(0xf0 | cp >> 18);
        *d++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *d++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
    }
    return d;
}

/* One character of the inside of a string known to be valid, from s[*i], unescaped into out:
 * returns its length (1 to 4) and moves *i past it. A lone surrogate (Python reads it) keeps its
 * own 3-byte form, so that equal strings give equal keys. */
static size_t unescape_one(const char *s, size_t len, size_t *i, char *out)
{
    size_t at = *i;
    if (s[at] != '\\') {
        out[0] = s[at];
        *i = at + 1;
        return 1;
    }
    char e = s[at + 1];
    if (e != 'u') {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        out[0] = to[strchr(from, e) - from];
        *i = at + 2;
        return 1;
    }
    unsigned cp, lo;
    hex4(s + at + 2, &cp);
    at += 6;
    if (cp >= 0xd800 && cp < 0xdc00 && at + 6 <= len && s[at] == '\\' && s[at + 1] == 'u' && hex4(s + at + 2, &lo) == 0 &&
        lo >= 0xdc00 && lo < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        at += 6;
    }
    *i = at;
    return (size_t)(put_utf8(out, cp) - out);
}

static size_t unescape(const char *s, size_t len, char *dst)
{
    char *d = dst;
    for (size_t i = 0; i < len;)
        d += unescape_one(s, len, &i, d);
    return (size_t)(d - dst);
}

ssize_t gw_json_field(const char *body, size_t len, const char *dotted, char *dst)
{
    parser_t j = {.p = body, .end = body + len};
    for (const char *s = dotted;;) {
        if (j.nparts == MAX_PARTS)
            return -1; /* deeper than any name a config allows: no field rather than a shorter one */
        const char *dot = strchr(s, '.');
        size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);
        j.parts[j.nparts] = s;
        j.part_len[j.nparts++] = n;
        if (dot == NULL)
            break;
        s = dot + 1;
    }
    skip_ws(&j);
    if (j.p >= j.end || *j.p != '{' || object(&j, 1, 0) != 0)
        return -1;
    skip_ws(&j);
    if (j.p != j.end || j.found == NULL)
        return -1;
    /* a number's text has no backslash: unescaping copies it as it is */
    return (ssize_t)unescape(j.found, j.found_len, dst);
}
