#include "pol_keyed.h"

#include <stdlib.h>
#include <string.h>
#include "pol_types.h"

#define CHUNK_ENTRIES 256
#define NO_ENTRY UINT32_MAX

typedef struct st_entry_t {
    uint64_t hash;
    uint32_t next;           /* next entry index in the hash chain, or NO_ENTRY */
    uint16_t key_len_inline; /* key length when inline */
    uint8_t used;
    uint8_t key_on_heap;
    union {
        char inline_key[POL_KEYED_INLINE_KEY];
        struct {
            char *ptr;
            size_t len;
        } heap_key;
    } key;
    /* the value follows, 8-byte aligned */
} entry_t;

struct st_pol_keyed_t {
    size_t value_size, entry_size;
    uint32_t max_keys;
    pol_keyed_at_rest_cb at_rest;
    void *data;
    uint64_t seed;
    char **chunks;
    size_t num_chunks;
    uint32_t num_entries; /* entries ever handed out; a key is only ever replaced, never freed */
    uint32_t count;       /* keys held */
    uint32_t *buckets;
    uint32_t num_buckets; /* power of two */
    uint32_t clock_hand;
    size_t heap_key_bytes;
    void *missing, *overflow;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        pol_out_of_memory();
    return p;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t hash_key(uint64_t seed, const char *key, size_t len)
{
    uint64_t h = mix(seed ^ 0xa0761d6478bd642full, len ^ 0xe7037ed1a0b428dbull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t block;
        memcpy(&block, key + i, 8);
        h = mix(h ^ block, 0x8ebc6af09c88c6e3ull);
    }
    uint64_t tail = 0;
    memcpy(&tail, key + i, len - i);
    return mix(h ^ tail, 0x589965cc75374cc3ull);
}

static entry_t *entry_at(const pol_keyed_t *t, uint32_t idx)
{
    return (entry_t *)(t->chunks[idx / CHUNK_ENTRIES] + (size_t)(idx % CHUNK_ENTRIES) * t->entry_size);
}

static void *value_of(const pol_keyed_t *t, entry_t *e)
{
    (void)t;
    return (char *)e + sizeof(entry_t);
}

static const char *key_of(entry_t *e, size_t *len)
{
    if (e->key_on_heap) {
        *len = e->key.heap_key.len;
        return e->key.heap_key.ptr;
    }
    *len = e->key_len_inline;
    return e->key.inline_key;
}

pol_keyed_t *pol_keyed_new(size_t value_size, uint32_t max_keys, pol_keyed_at_rest_cb at_rest, void *data, uint64_t seed)
{
    pol_keyed_t *t = xcalloc(1, sizeof(*t));
    t->value_size = value_size;
    t->entry_size = (sizeof(entry_t) + value_size + 7) & ~(size_t)7;
    t->max_keys = max_keys;
    t->at_rest = at_rest;
    t->data = data;
    t->seed = seed;
    t->num_buckets = 64;
    t->buckets = xcalloc(t->num_buckets, sizeof(*t->buckets));
    memset(t->buckets, 0xff, t->num_buckets * sizeof(*t->buckets));
    t->missing = xcalloc(1, value_size);
    t->overflow = xcalloc(1, value_size);
    return t;
}

static void release_key(pol_keyed_t *t, entry_t *e)
{
    if (e->key_on_heap) {
        t->heap_key_bytes -= e->key.heap_key.len;
        free(e->key.heap_key.ptr);
        e->key_on_heap = 0;
    }
}

void pol_keyed_free(pol_keyed_t *t)
{
    if (t == NULL)
        return;
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (e->used)
            release_key(t, e);
    }
    for (size_t i = 0; i != t->num_chunks; ++i)
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
    uint32_t *b = malloc(n * sizeof(*b));
    if (b == NULL)
        pol_out_of_memory();
    memset(b, 0xff, n * sizeof(*b));
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (!e->used)
            continue;
        uint32_t slot = (uint32_t)(e->hash & (n - 1));
        e->next = b[slot];
        b[slot] = i;
    }
    free(t->buckets);
    t->buckets = b;
    t->num_buckets = n;
}

static void unlink_entry(pol_keyed_t *t, uint32_t idx)
{
    entry_t *e = entry_at(t, idx);
    uint32_t *link = &t->buckets[e->hash & (t->num_buckets - 1)];
    while (*link != idx)
        link = &entry_at(t, *link)->next;
    *link = e->next;
    release_key(t, e);
    e->used = 0;
    --t->count;
}

/* A place for a new entry: a fresh slot below max_keys, or an evicted at-rest entry.
 * NO_ENTRY when every held key is live. */
static uint32_t find_place(pol_keyed_t *t, uint64_t now_ns)
{
    if (t->num_entries < t->max_keys) {
        if (t->num_entries / CHUNK_ENTRIES == t->num_chunks) {
            t->chunks = realloc(t->chunks, (t->num_chunks + 1) * sizeof(*t->chunks));
            if (t->chunks == NULL)
                pol_out_of_memory();
            t->chunks[t->num_chunks++] = xcalloc(CHUNK_ENTRIES, t->entry_size);
        }
        return t->num_entries++;
    }
    for (int scanned = 0; scanned != POL_KEYED_EVICT_SCAN && t->num_entries != 0; ++scanned) {
        uint32_t idx = t->clock_hand;
        t->clock_hand = (t->clock_hand + 1) % t->num_entries;
        entry_t *e = entry_at(t, idx);
        if (e->used && t->at_rest(value_of(t, e), t->data, now_ns)) {
            unlink_entry(t, idx);
            return idx;
        }
    }
    return NO_ENTRY;
}

void *pol_keyed_get(pol_keyed_t *t, const char *key, size_t len, uint64_t now_ns)
{
    if (key == NULL)
        return t->missing;
    uint64_t h = hash_key(t->seed, key, len);
    for (uint32_t idx = t->buckets[h & (t->num_buckets - 1)]; idx != NO_ENTRY;) {
        entry_t *e = entry_at(t, idx);
        size_t elen;
        const char *ekey = key_of(e, &elen);
        if (e->hash == h && elen == len && memcmp(ekey, key, len) == 0)
            return value_of(t, e);
        idx = e->next;
    }

    /* grow the index before the new entry exists, so the rebuild cannot link it twice */
    if (t->count + 1 > t->num_buckets)
        grow_index(t);
    uint32_t idx = find_place(t, now_ns);
    if (idx == NO_ENTRY)
        return t->overflow;
    entry_t *e = entry_at(t, idx);
    memset(e, 0, t->entry_size);
    e->hash = h;
    e->used = 1;
    if (len <= POL_KEYED_INLINE_KEY) {
        memcpy(e->key.inline_key, key, len);
        e->key_len_inline = (uint16_t)len;
    } else {
        e->key_on_heap = 1;
        e->key.heap_key.ptr = malloc(len);
        if (e->key.heap_key.ptr == NULL)
            pol_out_of_memory();
        memcpy(e->key.heap_key.ptr, key, len);
        e->key.heap_key.len = len;
        t->heap_key_bytes += len;
    }
    uint32_t slot = (uint32_t)(h & (t->num_buckets - 1));
    e->next = t->buckets[slot];
    t->buckets[slot] = idx;
    ++t->count;
    return value_of(t, e);
}

size_t pol_keyed_count(const pol_keyed_t *t)
{
    return t->count;
}

size_t pol_keyed_memory(const pol_keyed_t *t)
{
    return sizeof(*t) + t->num_chunks * (CHUNK_ENTRIES * t->entry_size + sizeof(char *)) + t->num_buckets * sizeof(*t->buckets) +
           2 * t->value_size + t->heap_key_bytes;
}

void pol_keyed_foreach(pol_keyed_t *t, void (*fn)(const char *key, size_t len, void *value, void *data), void *data)
{
    fn("_missing", 8, t->missing, data);
    fn("_overflow", 9, t->overflow, data);
    for (uint32_t i = 0; i != t->num_entries; ++i) {
        entry_t *e = entry_at(t, i);
        if (!e->used)
            continue;
        size_t len;
        const char *key = key_of(e, &len);
        fn(key, len, value_of(t, e), data);
    }
}
