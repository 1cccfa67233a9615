/*
 * Allocation for the config library. A loader that runs out of memory cannot report anything
 * useful, so every allocation goes through these and a failure aborts in one place (cfg_mem.c)
 * instead of threading NULL checks through every parser.
 */
#ifndef SLUICE_CFG_MEM_H
#define SLUICE_CFG_MEM_H

#include <stdarg.h>
#include <stddef.h>

/* Prints "out of memory" and aborts: for allocations made by others (libyaml) that report failure. */
_Noreturn void cfg_out_of_memory(void);
/* Never return NULL; a zero-sized request still yields a unique pointer. */
void *cfg_xrealloc(void *p, size_t size);
void *cfg_xcalloc(size_t n, size_t size);
char *cfg_xstrdup(const char *s);
char *cfg_xstrndup(const char *s, size_t n);
/* A malloc'd formatted string. */
char *cfg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cfg_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
