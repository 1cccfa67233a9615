/*
 * Allocation hooks for unit tests of modules that allocate: a test linked with
 * alloc_hooks_link_args (tests/unit/meson.build, -Wl,--wrap=...) has every call of malloc,
 * calloc, realloc, aligned_alloc and free made by its own code and by the static libraries it
 * links (sluice's modules, not libc's insides) come through here, so that it can make the next
 * allocation of a kind fail (out-of-memory paths) or count the bytes live exactly (memory
 * accounting). Include it in exactly one file of a test program.
 */
#ifndef SLUICE_TEST_ALLOC_HOOKS_H
#define SLUICE_TEST_ALLOC_HOOKS_H

#include <stddef.h>
#include <stdlib.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
void __wrap_free(void *p);

enum { ALLOC_MALLOC, ALLOC_CALLOC, ALLOC_REALLOC, ALLOC_ALIGNED, ALLOC_KINDS };
static int fail_next[ALLOC_KINDS]; /* 1: the next call of that kind returns NULL */

/* While `counting` is set, allocations are recorded: counted_bytes is the sum of the sizes asked
 * for by those still live (freeing one recorded earlier subtracts it, whenever that happens). */
#define MAX_COUNTED 8192
static int counting;
static size_t counted_bytes, num_counted;
static struct {
    void *p;
    size_t size;
} counted[MAX_COUNTED];

static void count_free(void *p)
{
    for (size_t i = 0; p != NULL && i != num_counted; ++i) {
        if (counted[i].p == p) {
            counted_bytes -= counted[i].size;
            counted[i] = counted[--num_counted];
            return;
        }
    }
}

static void *count_alloc(void *p, size_t size)
{
    if (p != NULL && counting) {
        if (num_counted == MAX_COUNTED)
            abort(); /* a test counting this many live allocations needs a bigger table */
        counted[num_counted].p = p;
        counted[num_counted++].size = size;
        counted_bytes += size;
    }
    return p;
}

static int failing(int kind)
{
    int fail = fail_next[kind];
    fail_next[kind] = 0;
    return fail;
}

void *__wrap_malloc(size_t size)
{
    return failing(ALLOC_MALLOC) ? NULL : count_alloc(__real_malloc(size), size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return failing(ALLOC_CALLOC) ? NULL : count_alloc(__real_calloc(n, size), n * size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (failing(ALLOC_REALLOC))
        return NULL;
    void *q = __real_realloc(p, size);
    if (q != NULL)
        count_free(p);
    return count_alloc(q, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    return failing(ALLOC_ALIGNED) ? NULL : count_alloc(__real_aligned_alloc(align, size), size);
}

void __wrap_free(void *p)
{
    count_free(p);
    __real_free(p);
}

#endif
