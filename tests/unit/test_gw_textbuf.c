/* The admin API's growing text buffer (gateway/gw_textbuf.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include "alloc_hooks.h"
#include "check.h"
#include "child.h"
#include "gw_textbuf.h"

static void test_init(void)
{
    gw_textbuf_t b = gw_textbuf_init(16);
    CHECK(b.p != NULL);
    CHECK_EQ_U64(b.len, 0);
    CHECK_EQ_U64(b.cap, 16);
    memset(b.p, 'x', 16); /* all 16 bytes are the buffer's (a sanitizer build checks) */
    free(b.p);
}

/* Appends keep the text NUL-terminated and never overflow: at every length around the
 * capacity (the NUL needs a byte too), through repeated growth, and for one piece far bigger
 * than the buffer. */
static void test_appends_and_growth(void)
{
    for (size_t cap = 1; cap != 12; ++cap) {
        for (size_t first = 0; first != 14; ++first) {
            gw_textbuf_t b = gw_textbuf_init(cap);
            char piece[32];
            memset(piece, 'a', first);
            piece[first] = '\0';
            gw_textbuf_printf(&b, "%s", piece);
            CHECK_EQ_U64(b.len, first);
            CHECK(b.cap > b.len);
            CHECK_EQ_U64(strlen(b.p), first);
            gw_textbuf_printf(&b, "%d|%s", 42, "bc");
            CHECK_EQ_U64(b.len, first + 5);
            CHECK(b.cap > b.len);
            CHECK(strncmp(b.p, piece, first) == 0 && strcmp(b.p + first, "42|bc") == 0);
            free(b.p);
        }
    }
    gw_textbuf_t b = gw_textbuf_init(4);
    char want[20000];
    size_t len = 0;
    for (int i = 0; i != 2000; ++i) {
        gw_textbuf_printf(&b, "%d,", i);
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%d,", i);
    }
    CHECK_EQ_U64(b.len, len);
    CHECK_STR(b.p, want);
    gw_textbuf_printf(&b, "%s", "");
    CHECK_EQ_U64(b.len, len);
    free(b.p);

    static char big[100000];
    memset(big, 'z', sizeof(big) - 1);
    b = gw_textbuf_init(8);
    gw_textbuf_printf(&b, "<%s>", big);
    CHECK_EQ_U64(b.len, sizeof(big) + 1);
    CHECK(b.cap > b.len && b.p[0] == '<' && b.p[b.len - 1] == '>' && b.p[b.len] == '\0');
    free(b.p);
}

/* Growth doubles the capacity and adds what the failed write needed, so a buffer filled piece by
 * piece is reallocated O(log n) times, not once per append. */
static void test_growth_is_geometric(void)
{
    gw_textbuf_t b = gw_textbuf_init(10);
    gw_textbuf_printf(&b, "%s", "0123456789"); /* 10 bytes + NUL do not fit in 10 */
    CHECK_EQ_U64(b.cap, 10 * 2 + 10);
    CHECK_EQ_U64(b.len, 10);
    gw_textbuf_printf(&b, "%s", "0123456789012345678"); /* 29 + NUL fit in 30 */
    CHECK_EQ_U64(b.cap, 30);
    gw_textbuf_printf(&b, "%s", "x"); /* 30 + NUL do not */
    CHECK_EQ_U64(b.cap, 30 * 2 + 1);
    CHECK_EQ_U64(b.len, 30);
    free(b.p);
}

static void init_without_memory(void *arg)
{
    (void)arg;
    fail_next[ALLOC_MALLOC] = 1;
    gw_textbuf_init(64);
}

static void grow_without_memory(void *arg)
{
    (void)arg;
    gw_textbuf_t b = gw_textbuf_init(4);
    fail_next[ALLOC_REALLOC] = 1;
    gw_textbuf_printf(&b, "%s", "more than four bytes");
}

static void unprintable(void *arg)
{
    (void)arg;
    gw_textbuf_t b = gw_textbuf_init(64);
    static const wchar_t bad[] = {(wchar_t)0xd800, 0}; /* no multibyte form in any locale */
    gw_textbuf_printf(&b, "%ls", bad);
}

/* Out of memory (or a format vsnprintf cannot print) ends the process with a message, never a
 * NULL buffer used later nor an endless loop. */
static void test_failures_abort(void)
{
    void (*cases[])(void *) = {init_without_memory, grow_without_memory, unprintable};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i)
        CHECK(aborts_saying(cases[i], NULL, "sluice: out of memory\n"));
}

int main(void)
{
    test_init();
    test_appends_and_growth();
    test_growth_is_geometric();
    test_failures_abort();
    return CHECK_SUMMARY();
}
