/*
 * A keyed table: one fixed-size value (a GCRA bucket, a semaphore) per key, for limits with
 * `per:` (client_ip, header, query, cookie).
 *
 * Invariants:
 * - at most max_keys keys are held. When full, a new key takes the place of a key whose value
 *   is at rest (the caller's at_rest callback: a full bucket, nothing in flight), found by a
 *   clock hand that looks at most POL_KEYED_EVICT_SCAN entries; a live key is never dropped, so
 *   no client gets its budget reset by churn. When no place is free, the key shares the
 *   `_overflow` value: memory stays bounded and the limit still holds, only more coarsely.
 * - a missing key (NULL) always maps to the `_missing` value: a request without the header
 *   shares one budget, it never gets a free pass.
 * - values never move: entries live in fixed chunks and only the index of hash chains is
 *   rebuilt when it grows, so a pointer returned by pol_keyed_get stays valid as long as the
 *   value is not at rest (waiting rooms link waiters into a semaphore held this way).
 * - keys up to POL_KEYED_INLINE_KEY bytes are stored in the entry; longer ones are copied to
 *   the heap. Keys are compared in full: two keys never share a value by hash collision.
 * - the hash is seeded by the caller (random per process) against hash flooding.
 */
#ifndef SLUICE_POL_KEYED_H
#define SLUICE_POL_KEYED_H

#include <stddef.h>
#include <stdint.h>

#define POL_KEYED_INLINE_KEY 40
#define POL_KEYED_EVICT_SCAN 16

/* Returns 1 when the value may be forgotten at no loss. */
typedef int (*pol_keyed_at_rest_cb)(const void *value, void *data, uint64_t now_ns);

typedef struct st_pol_keyed_t pol_keyed_t;

/* value_size: bytes per value (zeroed when a key is created). Returns the table (caller frees
 * with pol_keyed_free). */
pol_keyed_t *pol_keyed_new(size_t value_size, uint32_t max_keys, pol_keyed_at_rest_cb at_rest, void *data, uint64_t seed);
void pol_keyed_free(pol_keyed_t *t);

/* The value for `key` (len bytes; NULL = missing key), created if needed. Never NULL. */
void *pol_keyed_get(pol_keyed_t *t, const char *key, size_t len, uint64_t now_ns);

/* Keys currently held (not counting _missing and _overflow). */
size_t pol_keyed_count(const pol_keyed_t *t);

/* Bytes allocated by the table, for the memory-per-key measurement. */
size_t pol_keyed_memory(const pol_keyed_t *t);

/* Calls fn for each held key and the two shared values (named "_missing", "_overflow"). */
void pol_keyed_foreach(pol_keyed_t *t, void (*fn)(const char *key, size_t len, void *value, void *data), void *data);

#endif
