/* The config library's allocation helpers (lua-free-config/cfg_mem.c): zero sizes, bounded
 * copies, formatting, and the one place out of memory ends. */
#include <stdint.h>
#include <string.h>
#include <wchar.h>
#include "alloc_hooks.h"
#include "cfg_mem.h"
#include "check.h"
#include "child.h"

/* A heap copy of exactly strlen(s) + 1 bytes: a sanitizer build sees any read past the end. */
static char *exact(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    memcpy(p, s, n);
    return p;
}

/* Zero-sized requests still give a unique, usable pointer; resizing keeps the contents. */
static void test_zero_sizes_and_resizing(void)
{
    char *a = cfg_xrealloc(NULL, 0), *b = cfg_xrealloc(NULL, 0);
    CHECK(a != NULL && b != NULL && a != b);
    a[0] = 'a'; /* a byte is there even for 0 */
    b = cfg_xrealloc(b, 0);
    CHECK(b != NULL);
    char *c = cfg_xcalloc(0, 0), *d = cfg_xcalloc(0, 8), *e = cfg_xcalloc(8, 0);
    CHECK(c != NULL && d != NULL && e != NULL && c != d && d != e);
    free(c);
    free(d);
    free(e);
    char *p = cfg_xrealloc(NULL, 3);
    memcpy(p, "abc", 3);
    p = cfg_xrealloc(p, 100000);
    CHECK(memcmp(p, "abc", 3) == 0);
    p[99999] = 'z';
    p = cfg_xrealloc(p, 2);
    CHECK(memcmp(p, "ab", 2) == 0);
    uint64_t *z = cfg_xcalloc(16, sizeof(uint64_t));
    for (int i = 0; i != 16; ++i)
        CHECK_EQ_U64(z[i], 0);
    free(z);
    free(p);
    free(a);
    free(b);
}

static void test_strdup(void)
{
    static const struct {
        const char *s;
        size_t n;
        const char *want;
    } cases[] = {{"", 0, ""},       {"", 5, ""},       {"abc", 0, ""},           {"abc", 1, "a"}, {"abc", 2, "ab"},
                 {"abc", 3, "abc"}, {"abc", 4, "abc"}, {"abc", SIZE_MAX, "abc"}, {"a\0b", 3, "a"}};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        char *s = exact(cases[i].s);
        char *copy = cfg_xstrndup(s, cases[i].n);
        CHECK_STR(copy, cases[i].want);
        CHECK(copy != s);
        free(copy);
        free(s);
    }
    /* a bound shorter than the string: only n bytes are read, no NUL needed after them */
    char unterminated[4] = {'w', 'x', 'y', 'z'};
    char *copy = cfg_xstrndup(unterminated, 4);
    CHECK_STR(copy, "wxyz");
    free(copy);
    char *s = exact("hello");
    copy = cfg_xstrdup(s);
    CHECK_STR(copy, "hello");
    free(copy);
    free(s);
    s = exact("");
    copy = cfg_xstrdup(s);
    CHECK_STR(copy, "");
    free(copy);
    free(s);
}

static void test_asprintf(void)
{
    char *s = cfg_xasprintf("%s", "");
    CHECK_STR(s, "");
    free(s);
    s = cfg_xasprintf("%s:%d:%c", "t.yaml", 12, 'x');
    CHECK_STR(s, "t.yaml:12:x");
    free(s);
    static char big[5000];
    memset(big, 'b', sizeof(big) - 1);
    s = cfg_xasprintf("<%s>", big);
    CHECK_EQ_U64(strlen(s), sizeof(big) + 1);
    CHECK(s[0] == '<' && s[sizeof(big)] == '>');
    free(s);
}

static void calloc_fails(void *arg)
{
    (void)arg;
    fail_next[ALLOC_CALLOC] = 1;
    cfg_xcalloc(1, 16);
}

static void realloc_fails(void *arg)
{
    (void)arg;
    char *p = cfg_xrealloc(NULL, 8);
    fail_next[ALLOC_REALLOC] = 1;
    cfg_xrealloc(p, 64);
}

static void strdup_fails(void *arg)
{
    (void)arg;
    fail_next[ALLOC_REALLOC] = 1;
    cfg_xstrdup("text");
}

static void shrink_to_zero(void *arg)
{
    (void)arg;
    char *p = cfg_xrealloc(NULL, 8);
    p = cfg_xrealloc(p, 0); /* must not be taken for a failure */
    p[0] = 'x';
    free(p);
    _exit(3);
}

static void unprintable(void *arg)
{
    (void)arg;
    static const wchar_t bad[] = {(wchar_t)0xd800, 0}; /* no multibyte form in any locale */
    cfg_xasprintf("%ls", bad);
}

/* Out of memory ends the process with one message; a format vsnprintf cannot print is a
 * programming error and aborts too. */
static void test_failures_abort(void)
{
    void (*fails[])(void *) = {calloc_fails, realloc_fails, strdup_fails};
    for (size_t i = 0; i != sizeof(fails) / sizeof(fails[0]); ++i)
        CHECK(aborts_saying(fails[i], NULL, "sluice: out of memory\n"));
    char said[512];
    int status = run_in_child(shrink_to_zero, NULL, said, sizeof(said));
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3);
    CHECK(aborts_saying(unprintable, NULL, ""));
}

int main(void)
{
    test_zero_sizes_and_resizing();
    test_strdup();
    test_asprintf();
    test_failures_abort();
    return CHECK_SUMMARY();
}
