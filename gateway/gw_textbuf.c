#include "gw_textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void out_of_memory(void)
{
    fprintf(stderr, "sluice: out of memory\n");
    abort();
}

gw_textbuf_t gw_textbuf_init(size_t cap)
{
    gw_textbuf_t b = {malloc(cap), 0, cap};
    if (b.p == NULL)
        out_of_memory();
    return b;
}

void gw_textbuf_printf(gw_textbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            out_of_memory();
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n;
        if ((b->p = realloc(b->p, b->cap)) == NULL)
            out_of_memory();
    }
}
