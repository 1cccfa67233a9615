/* Stack traces in error pages (gateway/gw_scrub.c): what each framework's debug output looks like,
 * and error bodies that merely talk about files or tracebacks. */
#include "check.h"
#include "gw_scrub.h"

static int has(const char *s)
{
    return gw_scrub_has_traceback(s, strlen(s));
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
    /* the markers are found at the very end of a body and not past it */
    const char body[] = "xxTraceback (most recent call last)";
    CHECK(gw_scrub_has_traceback(body, sizeof(body) - 1));
    CHECK(!gw_scrub_has_traceback(body, sizeof(body) - 2));
}

int main(void)
{
    test_tracebacks();
    test_not_tracebacks();
    return CHECK_SUMMARY();
}
