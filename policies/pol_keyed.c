/*
 * Storage: entries (header + key + value) are handed out by index from chunks of CHUNK_ENTRIES
 * that are allocated on first use and never move. An index maps hash -> first entry of a chain;
 * chains are linked by entry index. Entries freed by pol_keyed_remove_if_at_rest go to a free
 * list (linked by the same `next` field) and are reused first; once max_keys entries exist and
 * none is free, a new key needs an at-rest victim found by the clock hand.
 *
 * Invariants:
 * - entries below num_entries are initialized (at least `live`); those beyond are raw memory
 *   (chunks are not zeroed) and are never read.
 * - an entry below num_entries is `live` iff it is in exactly one chain; otherwise it is on the
 *   free list, or it is the one being filled by pol_keyed_get.
 * - count == number of live entries <= num_entries <= max_keys.
 * - the index is grown (load <= 1) before a new entry is marked live, so a rebuild never sees
 *   a half-made entry.
 */
#include "pol_keyed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pol_types.h"

#define CHUNK_SHIFT 8
#define CHUNK_ENTRIES (1u << CHUNK_SHIFT)
#define NO_ENTRY UINT32_MAX
#define MIN_BUCKETS 16u
#define MAX_BUCKETS (1u << 31)

typedef struct st_entry_t {
    uint32_t hash;    /* low half of the key's hash */
    uint32_t next;    /* chain while live, free list while free */
    uint32_t key_len; /* > POL_KEYED_INLINE_KEY: the key is on the heap */
    uint32_t live;
    union {
        char bytes[POL_KEYED_INLINE_KEY];
        char *heap;
    } key;
    /* the value follows */
} entry_t;

_Static_assert(sizeof(entry_t) % 8 == 0, "values must stay 8-byte aligned");

struct st_pol_keyed_t {
    size_t value_size, entry_size;
    uint32_t max_keys;
    uint32_t count;       /* live entries */
    uint32_t num_entries; /* entries handed out so far */
    uint32_t free_head;
    uint32_t clock_hand;
    uint32_t num_buckets; /* power of two */
    uint32_t *buckets;
    char **chunks;
    uint32_t num_chunks, chunks_cap;
    size_t heap_key_bytes;
    pol_keyed_at_rest_cb at_rest;
    void *data;
    uint64_t seed;
    void *missing, *overflow;
};

void pol_out_of_memory(void)
{
    fprintf(stderr, "sluice: out of memory\n");
    abort();
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL)
        pol_out_of_memory();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        pol_out_of_memory();
    return p;
}

/* ---- hash: wyhash's structure (multiply, fold high and low halves), seeded ---- */

#define K0 0xa0761d6478bd642full
#define K1 0xe7037ed1a0b428dbull
#define K2 0x8ebc6af09c88c6e3ull

static uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t read8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t read4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t hash_key(uint64_t seed, const char *p, size_t len)
{
    uint64_t a, b;
    seed ^= mix(seed ^ K0, K1);
    if (len <= 16) {
        if (len >= 4) {
            size_t mid = (len >> 3) << 2;
            a = (read4(p) << 32) | read4(p + mid);
            b = (read4(p + len - 4) << 32) | read4(p + len - 4 - mid);
        } else if (len > 0) {
            a = ((uint64_t)(uint8_t)p[0] << 16) | ((uint64_t)(uint8_t)p[len >> 1] << 8) | (uint8_t)p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = len;
        for (; i > 16; i -= 16, p += 16)
            seed = mix(read8(p) ^ K1, read8(p + 8) ^ seed);
        a = read8(p + i - 16); /* the last 16 bytes, overlapping the previous block if needed */
        b = read8(p + i - 8);
    }
    unsigned __int128 r = (unsigned __int128)(a ^ K1) * (b ^ seed);
    return mix((uint64_t)r ^ K0 ^ len, (uint64_t)(r >> 64) ^ K2);
}

/* ---- entries ---- */

static entry_t *entry_at(const pol_keyed_t *t, uint32_t idx)
{
    return (entry_t *)(t->chunks[idx >> CHUNK_SHIFT] + (size_t)(idx & (CHUNK_ENTRIES - 1)) * t->entry_size);
}

static void *value_of(entry_t *e)
{
    return (char *)e + sizeof(entry_t);
}

static const char *key_of(const entry_t *e)
{
    return e->key_len > POL_KEYED_INLINE_KEY ? e->key.heap : e->key.bytes;
}

static uint32_t *chain_of(const pol_keyed_t *t, uint32_t hash)
{
    return &t->buckets[hash & (t->num_buckets - 1)];
}

pol_keyed_t *pol_keyed_new(size_t value_size, uint32_t max_keys, pol_keyed_at_rest_cb at_rest, void *data, uint64_t seed)
{
    pol_keyed_t *t = xcalloc(1, sizeof(*t));
    t->value_size = value_size;
    t->entry_size = sizeof(entry_t) + ((value_size + 7) & ~(size_t)7);
    t->max_keys = max_keys;
    t->free_head = NO_ENTRY;
    t->num_buckets = MIN_BUCKETS;
    t->buckets = xmalloc(t->num_buckets * sizeof(*t->buckets));
    memset(t->buckets, 0xff, t->num_buckets * sizeof(*t->buckets));
    t->at_rest = at_rest;
    t->data = data;
    t->seed = seed;
    t->missing = xcalloc(1, value_size ? value_size : 1);
    t->overflow = xcalloc(1, value_size ? value_size : 1);
    return t;
}

void pol_keyed_free(pol_keyed_t *t)
{
    if (t == NULL)
        return;
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (e->live && e->key_len > POL_KEYED_INLINE_KEY)
            free(e->key.heap);
    }
    for (uint32_t i = 0; i != t->num_chunks; ++i)
        free(t->chunks[i]);
    free(t->chunks);
    free(t->buckets);
    free(t->missing);
    free(t->overflow);
    free(t);
}

static void grow_index(pol_keyed_t *t)
{
    uint32_t n = t->num_buckets * 2;
    free(t->buckets);
    t->buckets = xmalloc((size_t)n * sizeof(*t->buckets));
    memset(t->buckets, 0xff, (size_t)n * sizeof(*t->buckets));
    t->num_buckets = n;
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (!e->live)
            continue;
        uint32_t *head = chain_of(t, e->hash);
        e->next = *head;
        *head = i;
    }
}

/* Takes the live entry `e` out of its chain and out of the table; returns its index. */
static uint32_t drop(pol_keyed_t *t, entry_t *e)
{
    uint32_t *link = chain_of(t, e->hash);
    while (entry_at(t, *link) != e)
        link = &entry_at(t, *link)->next;
    uint32_t idx = *link;
    *link = e->next;
    if (e->key_len > POL_KEYED_INLINE_KEY) {
        t->heap_key_bytes -= e->key_len;
        free(e->key.heap);
    }
    e->live = 0;
    --t->count;
    return idx;
}

/* An entry for a new key: a freed one, a fresh one below max_keys, or an at-rest one taken from
 * its key. NO_ENTRY when none: every entry is live, as far as the hand looked. */
static uint32_t find_place(pol_keyed_t *t, uint64_t now_ns)
{
    if (t->free_head != NO_ENTRY) {
        uint32_t idx = t->free_head;
        t->free_head = entry_at(t, idx)->next;
        return idx;
    }
    if (t->num_entries < t->max_keys) {
        if (t->num_entries >> CHUNK_SHIFT == t->num_chunks) {
            if (t->num_chunks == t->chunks_cap) {
                t->chunks_cap = t->chunks_cap ? t->chunks_cap * 2 : 4;
                if ((t->chunks = realloc(t->chunks, t->chunks_cap * sizeof(*t->chunks))) == NULL)
                    pol_out_of_memory();
            }
            /* cache-line aligned: a 64-byte entry (any GCRA bucket) is one line, not two */
            if ((t->chunks[t->num_chunks] = aligned_alloc(64, CHUNK_ENTRIES * t->entry_size)) == NULL)
                pol_out_of_memory();
            ++t->num_chunks;
        }
        entry_at(t, t->num_entries)->live = 0; /* chunks are not zeroed: grow_index reads `live` up to num_entries */
        return t->num_entries++;
    }
    for (int scanned = 0; scanned != POL_KEYED_EVICT_SCAN && t->num_entries != 0; ++scanned) {
        uint32_t idx = t->clock_hand;
        t->clock_hand = idx + 1 == t->num_entries ? 0 : idx + 1;
        entry_t *e = entry_at(t, idx);
        if (e->live && t->at_rest(value_of(e), t->data, now_ns))
            return drop(t, e);
    }
    return NO_ENTRY;
}

static entry_t *lookup(const pol_keyed_t *t, const char *key, size_t len, uint32_t hash)
{
    for (uint32_t idx = *chain_of(t, hash); idx != NO_ENTRY;) {
        entry_t *e = entry_at(t, idx);
        if (e->hash == hash && e->key_len == len && memcmp(key_of(e), key, len) == 0)
            return e;
        idx = e->next;
    }
    return NULL;
}

void *pol_keyed_get(pol_keyed_t *t, const char *key, size_t len, uint64_t now_ns)
{
    if (key == NULL)
        return t->missing;
    if (len > UINT32_MAX)
        return t->overflow;
    uint32_t hash = (uint32_t)hash_key(t->seed, key, len);
    entry_t *e = lookup(t, key, len, hash);
    if (e != NULL)
        return value_of(e);

    uint32_t idx = find_place(t, now_ns);
    if (idx == NO_ENTRY)
        return t->overflow;
    if (t->count == t->num_buckets && t->num_buckets < MAX_BUCKETS)
        grow_index(t); /* before the new entry is live: the rebuild must not link it */
    e = entry_at(t, idx);
    e->hash = hash;
    e->key_len = (uint32_t)len;
    if (len > POL_KEYED_INLINE_KEY) {
        e->key.heap = xmalloc(len);
        memcpy(e->key.heap, key, len);
        t->heap_key_bytes += len;
    } else {
        memcpy(e->key.bytes, key, len);
    }
    memset(value_of(e), 0, t->value_size);
    uint32_t *head = chain_of(t, hash);
    e->next = *head;
    *head = idx;
    e->live = 1;
    ++t->count;
    return value_of(e);
}

void *pol_keyed_find(const pol_keyed_t *t, const char *key, size_t len)
{
    if (key == NULL)
        return t->missing;
    if (len > UINT32_MAX)
        return NULL;
    entry_t *e = lookup(t, key, len, (uint32_t)hash_key(t->seed, key, len));
    return e != NULL ? value_of(e) : NULL;
}

int pol_keyed_remove_if_at_rest(pol_keyed_t *t, void *value, uint64_t now_ns)
{
    if (value == t->missing || value == t->overflow)
        return 0;
    entry_t *e = (entry_t *)((char *)value - sizeof(entry_t));
    if (!e->live || !t->at_rest(value, t->data, now_ns))
        return 0;
    uint32_t idx = drop(t, e);
    e->next = t->free_head;
    t->free_head = idx;
    return 1;
}

void *pol_keyed_missing(const pol_keyed_t *t)
{
    return t->missing;
}

void *pol_keyed_overflow(const pol_keyed_t *t)
{
    return t->overflow;
}

size_t pol_keyed_count(const pol_keyed_t *t)
{
    return t->count;
}

size_t pol_keyed_memory(const pol_keyed_t *t)
{
    return sizeof(*t) + (size_t)t->chunks_cap * sizeof(*t->chunks) + (size_t)t->num_chunks * CHUNK_ENTRIES * t->entry_size +
           (size_t)t->num_buckets * sizeof(*t->buckets) + 2 * t->value_size + t->heap_key_bytes;
}

void pol_keyed_foreach(pol_keyed_t *t, pol_keyed_visit_cb fn, void *data)
{
    fn("_missing", 8, t->missing, 1, data);
    fn("_overflow", 9, t->overflow, 1, data);
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (e->live)
            fn(key_of(e), e->key_len, value_of(e), 0, data);
    }
}
