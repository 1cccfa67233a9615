/*
 * Memory for what one request keeps beyond its h2o_req_t (its keys and limit holds, which a
 * request aborted under hold_aborted keeps until its upstream exchange ends): bump allocation in
 * chunks, all freed at once. The first chunk is part of the arena, so most requests allocate
 * nothing more.
 */
#ifndef SLUICE_GW_ARENA_H
#define SLUICE_GW_ARENA_H

#include <stddef.h>

#define GW_ARENA_INLINE 1024

typedef struct st_gw_arena_chunk_t gw_arena_chunk_t;

typedef struct st_gw_arena_t {
    gw_arena_chunk_t *chunks; /* malloc'd ones, newest first */
    size_t used;              /* of the current chunk */
    size_t cap;
    char *cur;
    _Alignas(16) char first[GW_ARENA_INLINE];
} gw_arena_t;

void gw_arena_init(gw_arena_t *a);
/* size bytes, 16-aligned, valid until gw_arena_free; never NULL (out of memory aborts). */
void *gw_arena_alloc(gw_arena_t *a, size_t size);
void gw_arena_free(gw_arena_t *a);

#endif
