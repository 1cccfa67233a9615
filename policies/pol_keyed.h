/*
 * A keyed table: one fixed-size value (a GCRA bucket, a semaphore) per key, for limits with
 * `per:` (client_ip, header, query, cookie).
 *
 * Invariants:
 * - at most max_keys keys are held. A key whose value is at rest (the caller's at_rest
 *   callback: a full bucket, nothing in flight or queued) may be dropped at no loss: when the
 *   table is full, a new key takes the place of such a key, found by a clock hand that looks at
 *   no more than POL_KEYED_EVICT_SCAN entries. A live key is never dropped, so no client gets its
 *   budget reset by churn. When no place is found, the new key shares the `_overflow` value:
 *   memory stays bounded and the limit still holds, only more coarsely.
 * - a missing key (NULL) always maps to the `_missing` value: a request without the header
 *   shares one budget, it never gets a free pass. `_missing` and `_overflow` always exist and
 *   are never dropped; they are not counted as keys.
 * - values never move: entries live in fixed chunks that are never reallocated, and only the
 *   index of hash chains is rebuilt when it grows. A pointer returned by pol_keyed_get stays
 *   valid while its value is not at rest; an at-rest value may be reused for another key by the
 *   next pol_keyed_get of a new key, or freed by pol_keyed_remove_if_at_rest.
 * - keys up to POL_KEYED_INLINE_KEY bytes (any IPv4/IPv6 address text) are stored in the entry;
 *   longer ones are copied to the heap. Keys are compared in full: two distinct keys never share
 *   a value, whatever their hashes. Memory is bounded by max_keys * (entry + longest key).
 * - the hash (64-bit, wyhash-style multiply-mix) is seeded by the caller, randomly per process,
 *   so that clients cannot pick keys that collide (hash flooding).
 * - a value is zeroed when its key is created, so the value type's all-zero state must be its
 *   rested state (true of pol_gcra_t and pol_sema_t). Values are 8-byte aligned.
 *
 * Cost: lookup is O(1) expected (chains average under 1.5 entries). Memory: about
 * 56 + value_size + 4 to 8 bytes per live key (64 + 4..8 for a GCRA bucket).
 */
#ifndef SLUICE_POL_KEYED_H
#define SLUICE_POL_KEYED_H

#include <stddef.h>
#include <stdint.h>

#define POL_KEYED_INLINE_KEY 40
#define POL_KEYED_EVICT_SCAN 16

/* Returns 1 when `value` may be forgotten at no loss at now_ns, else 0. `data` is the pointer
 * given to pol_keyed_new. Must not call back into the table. */
typedef int (*pol_keyed_at_rest_cb)(const void *value, void *data, uint64_t now_ns);

/* Called by pol_keyed_foreach for each value: `key` (not NUL-terminated, `len` bytes) is the
 * table's own copy, valid during the call; `shared` is 1 for the `_missing` and `_overflow`
 * values (then key is that name). Must not insert or remove keys. */
typedef void (*pol_keyed_visit_cb)(const char *key, size_t len, void *value, int shared, void *data);

typedef struct st_pol_keyed_t pol_keyed_t;

/* A table of values of `value_size` bytes, holding at most max_keys keys. `at_rest` and `data`
 * are kept (the caller keeps `data` alive as long as the table). `seed`: random bits. Returns
 * the table, owned by the caller (pol_keyed_free); never NULL (aborts when out of memory). */
pol_keyed_t *pol_keyed_new(size_t value_size, uint32_t max_keys, pol_keyed_at_rest_cb at_rest, void *data, uint64_t seed);

/* Frees the table, its keys and values. NULL is ignored. */
void pol_keyed_free(pol_keyed_t *t);

/* The value for `key` (`len` bytes, copied when stored; NULL = missing key -> `_missing`),
 * created zeroed if needed (or `_overflow` when the table is full of live keys). now_ns is
 * passed to at_rest when looking for a place. Never NULL. */
void *pol_keyed_get(pol_keyed_t *t, const char *key, size_t len, uint64_t now_ns);

/* Like pol_keyed_get but never creates: NULL when `key` is not held. */
void *pol_keyed_find(const pol_keyed_t *t, const char *key, size_t len);

/* Drops the key holding `value` (a pointer returned by pol_keyed_get on this table) if its value
 * is at rest at now_ns, so the caller can forget a key when its last request finishes. Returns
 * 1 when dropped (the pointer is then invalid), 0 otherwise (shared values are never dropped). */
int pol_keyed_remove_if_at_rest(pol_keyed_t *t, void *value, uint64_t now_ns);

/* The shared values: always present, owned by the table, never dropped. */
void *pol_keyed_missing(const pol_keyed_t *t);
void *pol_keyed_overflow(const pol_keyed_t *t);

/* Keys currently held (not counting _missing and _overflow). */
size_t pol_keyed_count(const pol_keyed_t *t);

/* Bytes allocated by the table (structures, entries, index, long keys), for the memory-per-key
 * measurement; malloc's own overhead excluded. */
size_t pol_keyed_memory(const pol_keyed_t *t);

/* Calls fn for `_missing`, `_overflow`, then each held key, in storage order. */
void pol_keyed_foreach(pol_keyed_t *t, pol_keyed_visit_cb fn, void *data);

#endif
