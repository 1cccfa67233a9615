#include "cfg_mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one place where the config library gives up on memory. */
_Noreturn void cfg_out_of_memory(void)
{
    fputs("sluice: out of memory\n", stderr);
    abort();
}

static void *check(void *p)
{
    if (p == NULL)
        cfg_out_of_memory();
    return p;
}

void *cfg_xrealloc(void *p, size_t size)
{
    return check(realloc(p, size != 0 ? size : 1));
}

void *cfg_xcalloc(size_t n, size_t size)
{
    return check(calloc(n != 0 ? n : 1, size != 0 ? size : 1));
}

char *cfg_xstrndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len != n && s[len] != '\0')
        ++len;
    char *p = cfg_xrealloc(NULL, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cfg_xstrdup(const char *s)
{
    return cfg_xstrndup(s, SIZE_MAX);
}

char *cfg_xvasprintf(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0)
        abort(); /* only a bad format string gets here: a programming error */
    char *p = cfg_xrealloc(NULL, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, again);
    va_end(again);
    return p;
}

char *cfg_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}
