/*
 * Reading typed values out of YAML nodes, for the loader (cfg_load.c, cfg_route.c): every problem
 * is recorded as "file:line:col: message" against the node it is about, and reading goes on.
 *
 * Most blocks of the policy are read from a table of fields (cfg_field_t): the key, how its value
 * is read and where it is stored. The table is also what an unknown key is compared with, for the
 * "did you mean" and "meant to be indented under" hints.
 */
#ifndef SLUICE_CFG_READ_H
#define SLUICE_CFG_READ_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>
#include "cfg_config.h"
#include "cfg_yaml.h"

typedef struct st_cfg_loader_t {
    cfg_yaml_t yaml;
    const char *source;
    cfg_errors_t *errors;
    size_t num_errors;
    cfg_config_t *config; /* being filled */
    int has_redis_block;
} cfg_loader_t;

void cfg_error_at(cfg_loader_t *l, const yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

yaml_node_t *cfg_node(cfg_loader_t *l, int id);
/* "a scalar", "a list", "a mapping", "an empty value" */
const char *cfg_type_name(const yaml_node_t *node);
/* 0 if node has the type, else -1 with "WHAT: expected X, got Y" recorded. */
int cfg_expect(cfg_loader_t *l, const yaml_node_t *node, yaml_node_type_t type, const char *what);
/* cfg_expect(MAPPING), and reports each key repeated in it. */
int cfg_mapping(cfg_loader_t *l, yaml_node_t *node, const char *what);
/* The text of a scalar key ("" for another node). */
const char *cfg_key_text(const yaml_node_t *k);
int cfg_key_is(const yaml_node_t *k, const char *name);
size_t cfg_seq_len(const yaml_node_t *seq);
size_t cfg_map_len(const yaml_node_t *map);

/* Each pair of a mapping (repeated keys are not among them), each item of a list. The hidden loop
 * variables take the line number so that nested loops do not shadow each other. */
#define CFG_FOREACH_PAIR(l, map, k, v) CFG_FOREACH_PAIR_(l, map, k, v, CFG_CONCAT(pair_, __LINE__), CFG_CONCAT(once_, __LINE__))
#define CFG_FOREACH_PAIR_(l, map, k, v, pair, once)                                                                                \
    for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start; pair < (map)->data.mapping.pairs.top; ++pair)                   \
        for (yaml_node_t *k = cfg_node(l, pair->key), *v = cfg_node(l, pair->value), *once = k; once != NULL; once = NULL)
#define CFG_FOREACH_ITEM(l, seq, item) CFG_FOREACH_ITEM_(l, seq, item, CFG_CONCAT(it_, __LINE__), CFG_CONCAT(once_, __LINE__))
#define CFG_FOREACH_ITEM_(l, seq, item, it, once)                                                                                  \
    for (yaml_node_item_t *it = (seq)->data.sequence.items.start; it < (seq)->data.sequence.items.top; ++it)                       \
        for (yaml_node_t *item = cfg_node(l, *it), *once = item; once != NULL; once = NULL)
#define CFG_CONCAT(a, b) CFG_CONCAT_(a, b)
#define CFG_CONCAT_(a, b) a##b

/* The scalar's text with ${VAR} replaced from the environment, or NULL (error recorded). */
char *cfg_scalar(cfg_loader_t *l, const yaml_node_t *node, const char *what);
/* The same for a request header template: ${NAME} for a NAME of runtime_vars (NULL-terminated)
 * and $$ are kept as written, and a $ coming from the environment is written $$. */
char *cfg_template(cfg_loader_t *l, const yaml_node_t *node, const char *what, const char *const *runtime_vars);

/* Value readers: each stores only a valid value, else records why and leaves *out as it was. */
void cfg_read_duration(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint64_t *out);
void cfg_read_size(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint64_t *out);
void cfg_read_uint32(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint32_t *out);
void cfg_read_bool(cfg_loader_t *l, const yaml_node_t *node, const char *what, int *out);
/* One of names (NULL-terminated); stores its index. */
void cfg_read_enum(cfg_loader_t *l, const yaml_node_t *node, const char *what, const char *const *names, int *out);
/* A name ([a-z0-9_-]+), malloc'd, or NULL. */
char *cfg_read_name(cfg_loader_t *l, const yaml_node_t *node, const char *what);
void cfg_read_address(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_address_t *out);
void cfg_read_key(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_key_t *out);
/* One key source or a list of 1 to CFG_MAX_KEYS distinct ones. */
void cfg_read_keyspec(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_keyspec_t *out);

typedef enum {
    CFG_F_DURATION, /* uint64_t ms within [min, max] (max 0: no bound) */
    CFG_F_SIZE,     /* uint64_t bytes within [min, max] (max 0: no bound) */
    CFG_F_SIZE32,   /* uint32_t bytes within [min, max] */
    CFG_F_UINT32,   /* uint32_t within [min, max] */
    CFG_F_BOOL,     /* int */
    CFG_F_ENUM,     /* an enum (int-sized), one of names */
    CFG_F_STRING,   /* char *, malloc'd */
    CFG_F_NAME,     /* char *, [a-z0-9_-]+ */
    CFG_F_ADDRESS,  /* cfg_address_t */
    CFG_F_KEY,      /* cfg_key_t: one key source */
    CFG_F_KEYSPEC,  /* cfg_keyspec_t */
    CFG_F_BLOCK,    /* a mapping read with `children`, into the object at offset */
    CFG_F_CUSTOM,   /* read(l, key, value, object) */
    CFG_F_LATER     /* not read by cfg_read_block: the caller reads it (from `given`) */
} cfg_field_kind_t;

typedef struct st_cfg_field_t cfg_field_t;
struct st_cfg_field_t {
    const char *key;
    cfg_field_kind_t kind;
    size_t offset;
    const char *what; /* names the value in messages, e.g. "client.max_body" */
    uint64_t min, max;
    const char *const *names;                                                             /* ENUM */
    void (*read)(cfg_loader_t *l, const yaml_node_t *key, yaml_node_t *value, void *obj); /* CUSTOM */
    const cfg_field_t *children; /* BLOCK: its fields; others: the fields of the block(s) the value holds, for hints */
};

/* The key and value nodes of a field a block gives. */
typedef struct st_cfg_given_t {
    yaml_node_t *key, *value;
} cfg_given_t;

/* Reads a mapping with a table of fields (terminated by a field with a NULL key) into obj. When
 * given is not NULL, given[i] (the caller zeroes at least as many entries as there are fields) is
 * set for each field i the mapping gives. Returns -1 if the node is not a mapping. */
int cfg_read_block(cfg_loader_t *l, yaml_node_t *map, const char *what, const cfg_field_t *fields, void *obj, cfg_given_t *given);
/* The given[] entry of the field named key (both NULL if the block did not give it). */
cfg_given_t cfg_given(const cfg_field_t *fields, const cfg_given_t *given, const char *key);
/* Records `unknown key "K" in WHERE`, with a hint when a known key is close or belongs in a block
 * of this one. */
void cfg_unknown_key(cfg_loader_t *l, const yaml_node_t *k, const char *where, const cfg_field_t *fields);
/* The field of `fields` named key, or NULL. */
const cfg_field_t *cfg_find_field(const cfg_field_t *fields, const char *key);

/* For names[0..n) (NULL entries count as distinct), first[i] = the index of the first name equal
 * to names[i] (i itself when it is the first). O(n log n). */
void cfg_first_occurrences(const char *const *names, size_t n, size_t *first);
/* Records `duplicate WHAT name "NAME"` at nodes[i] for each names[i] equal to an earlier one. */
void cfg_report_repeats(cfg_loader_t *l, const char *const *names, yaml_node_t *const *nodes, size_t n, const char *what);

#endif
