#include "gw_scrub.h"

#include <string.h>

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; ++i) {
        const char *p = memchr(hay + i, needle[0], len - n + 1 - i);
        if (p == NULL)
            return NULL;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* At `p` (just after `File `): a quoted path (the quotes possibly escaped by a backslash), then
 * `, line DIGITS, in `. */
static int frame_at(const char *p, const char *end)
{
    int escaped = p < end && *p == '\\';
    p += escaped;
    if (p >= end || *p != '"')
        return 0;
    ++p;
    const char *close = NULL;
    for (const char *q = p; q < end && q - p <= 4096; ++q) {
        if (*q == '"' || *q == '\n') {
            close = q;
            break;
        }
    }
    if (close == NULL || *close != '"' || close == p || (escaped && close[-1] != '\\'))
        return 0;
    p = close + 1;
    static const char line[] = ", line ";
    if ((size_t)(end - p) < sizeof(line) - 1 || memcmp(p, line, sizeof(line) - 1) != 0)
        return 0;
    p += sizeof(line) - 1;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9')
        ++p;
    static const char in[] = ", in ";
    return p != digits && (size_t)(end - p) >= sizeof(in) - 1 && memcmp(p, in, sizeof(in) - 1) == 0;
}

int gw_scrub_has_traceback(const char *body, size_t len)
{
    static const char *const markers[] = {"Traceback (most recent call last)", "Traceback <em>(most recent call last)</em>",
                                          "class=\"traceback-container\""};
    for (size_t i = 0; i != sizeof(markers) / sizeof(markers[0]); ++i)
        if (find(body, len, markers[i]) != NULL)
            return 1;
    const char *end = body + len;
    for (const char *p = body; (p = find(p, (size_t)(end - p), "File ")) != NULL; p += 5)
        if (frame_at(p + 5, end))
            return 1;
    return 0;
}
