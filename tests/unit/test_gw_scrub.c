/* Stack traces in error pages (gateway/gw_scrub.c): what each framework's debug output looks like,
 * and error bodies that merely talk about files or tracebacks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "gw_scrub.h"

/* gw_scrub_has_traceback on a copy of the first `len` bytes of `s` in a buffer of exactly that
 * size, as the proxy's body buffer is (no NUL after it): a byte read past the body is caught by
 * the sanitizer. */
static int has_n(const char *s, size_t len)
{
    char *copy = malloc(len != 0 ? len : 1);
    memcpy(copy, s, len);
    int ret = gw_scrub_has_traceback(copy, len);
    free(copy);
    return ret;
}

static int has(const char *s)
{
    return has_n(s, strlen(s));
}

static void test_tracebacks(void)
{
    CHECK(has("Traceback (most recent call last):\n  File \"/app/shop.py\", line 3, in f\nKeyError: 'x'\n"));
    /* Tornado's serve_traceback: the same text, behind a status line */
    CHECK(has("500 error\nTraceback (most recent call last)"));
    /* Werkzeug and Starlette debug pages */
    CHECK(has("<div>Traceback <em>(most recent call last)</em></div>"));
    CHECK(has("<html><div class=\"traceback-container\"><p class=\"traceback-title\">Traceback</p>"));
    /* a frame alone (a handler that puts traceback.format_stack() in its answer), also in JSON */
    CHECK(has("  File \"/srv/app/db.py\", line 12, in connect\n"));
    CHECK(has("{\"detail\":\"  File \\\"/srv/app/db.py\\\", line 12, in connect\\n    raise\"}"));
    CHECK(has("x File \"a\", line 1, in <module>"));
    /* at the very start of the body, and a body that is nothing else (1, as documented) */
    CHECK(has("Traceback (most recent call last)") == 1);
    CHECK(has("File \"a\", line 1, in <module>") == 1);
    /* every digit is a digit of the line number */
    CHECK(has("File \"a\", line 1908, in f"));
    CHECK(has("File \"a\", line 2345, in f"));
    CHECK(has("File \"a\", line 67, in f"));
    /* a frame after a "File " that is not one */
    CHECK(has("File File \"a\", line 1, in f"));
    CHECK(has("File \"no frame\" File \"a\", line 1, in f"));
}

/* A frame line is recognised from its last byte on, and every shorter cut of it is not one (and
 * is read without a byte past its end). */
static void test_frames_cut_short(void)
{
    static const char *const frames[] = {"File \"/srv/app.py\", line 12, in ", "File \\\"a\\\", line 7, in "};
    for (size_t i = 0; i != sizeof(frames) / sizeof(frames[0]); ++i) {
        size_t len = strlen(frames[i]);
        for (size_t cut = 0; cut != len; ++cut)
            CHECK(!has_n(frames[i], cut));
        CHECK(has_n(frames[i], len) == 1);
    }
    /* the same for the markers, after a few near misses */
    static const char body[] = "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"
                               "Traceback (most recent call last)";
    for (size_t cut = 0; cut != sizeof(body) - 1; ++cut)
        CHECK(!has_n(body, cut));
    CHECK(has_n(body, sizeof(body) - 1) == 1);
}

/* A path is at most 4096 bytes: past that, the quote that would close it is not looked for. */
static void test_path_length(void)
{
    static char text[5000];
    for (size_t n = 4095; n != 4099; ++n) {
        memset(text, 0, sizeof(text));
        memcpy(text, "File \"", 6);
        memset(text + 6, 'a', n);
        memcpy(text + 6 + n, "\", line 1, in f", 14);
        CHECK(has(text) == (n <= 4096));
    }
}

/* A body of the largest size held, with near misses of every marker far apart, is looked at in
 * one pass: an error page is scanned on the proxy's event loop. */
static void test_linear_time(void)
{
    static char body[GW_SCRUB_MAX];
    memset(body, 'x', sizeof(body));
    memcpy(body + sizeof(body) - 64, "Trace class= File ", 18);
    clock_t start = clock();
    for (int i = 0; i != 20; ++i)
        CHECK(!gw_scrub_has_traceback(body, sizeof(body)));
    CHECK(clock() - start < CLOCKS_PER_SEC);
}

static void test_not_tracebacks(void)
{
    CHECK(!has(""));
    CHECK(!has("{\"error\":\"not found\"}"));
    CHECK(!has("Traceback"));                        /* a word */
    CHECK(!has("Traceback (most recent call"));      /* cut short */
    CHECK(!has("File \"report.pdf\" is too large")); /* a file, no frame */
    CHECK(!has("File \"a\", line , in f"));          /* no line number */
    CHECK(!has("File \"a\", line 12 in f"));         /* not the format */
    CHECK(!has("File \"\", line 1, in f"));          /* no path */
    CHECK(!has("File \"a\nb\", line 1, in f"));      /* a path does not span lines */
    CHECK(!has("File \\\"a\", line 1, in f"));       /* an escaped quote closed by a plain one */
    CHECK(!has("File \"a\", line 1"));               /* cut short */
    CHECK(!has("File not found"));                   /* no quote */
    CHECK(!has("File ab\", line 1, in f"));          /* no opening quote */
    CHECK(!has("File \"a\"; line 5, in f"));         /* not ", line " */
    CHECK(!has("File \"a\", line:12, in f"));
    CHECK(!has("File \"a\", line 1, inside")); /* not ", in " */
    /* the markers are found at the very end of a body and not past it */
    const char body[] = "xxTraceback (most recent call last)";
    CHECK(gw_scrub_has_traceback(body, sizeof(body) - 1));
    CHECK(!gw_scrub_has_traceback(body, sizeof(body) - 2));
}

int main(void)
{
    test_tracebacks();
    test_not_tracebacks();
    test_frames_cut_short();
    test_path_length();
    test_linear_time();
    return CHECK_SUMMARY();
}
