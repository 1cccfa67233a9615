#include "gw_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct st_gw_arena_chunk_t {
    gw_arena_chunk_t *next;
    _Alignas(16) char bytes[];
};

void gw_arena_init(gw_arena_t *a)
{
    a->chunks = NULL;
    a->used = 0;
    a->cap = sizeof(a->first);
    a->cur = a->first;
}

static void out_of_memory(void)
{
    fprintf(stderr, "sluice: out of memory\n");
    abort();
}

void *gw_arena_alloc(gw_arena_t *a, size_t size)
{
    /* a size that wraps around when rounded up or given a chunk's header would come back short */
    if (size > SIZE_MAX - 15 - sizeof(gw_arena_chunk_t))
        out_of_memory();
    size = (size + 15) & ~(size_t)15;
    if (size > a->cap - a->used) {
        size_t cap = size > 4096 ? size : 4096;
        gw_arena_chunk_t *c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            out_of_memory();
        c->next = a->chunks;
        a->chunks = c;
        a->cur = c->bytes;
        a->cap = cap;
        a->used = 0;
    }
    void *p = a->cur + a->used;
    a->used += size;
    return p;
}

void gw_arena_free(gw_arena_t *a)
{
    while (a->chunks != NULL) {
        gw_arena_chunk_t *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
    gw_arena_init(a);
}
