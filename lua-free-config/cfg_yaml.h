/*
 * YAML text to a libyaml document (yaml_document_t, whose nodes keep their line and column), built
 * from libyaml's event parser instead of yaml_parser_load() so that hostile input costs linear
 * time and memory:
 *
 * - nesting deeper than CFG_YAML_MAX_DEPTH collections is refused as soon as it is seen. libyaml's
 *   scanner walks its whole stack of flow levels for every token, so 100k nested `[` cost
 *   minutes; stopping at depth 64 bounds that stack;
 * - anchors are found in a balanced tree (yaml_parser_load scans every anchor for each alias), an
 *   alias to a node still open (`&a [*a]`, a cycle) is refused, and the nodes that aliases add when
 *   expanded are counted: past a budget linear in the file's own nodes ("billion laughs"), the file
 *   is refused;
 * - a repeated key of a mapping is kept out of the mapping (its first occurrence wins) and recorded
 *   in a table, so the loader reports it without comparing every pair with every other.
 */
#ifndef SLUICE_CFG_YAML_H
#define SLUICE_CFG_YAML_H

#include <stddef.h>
#include <yaml.h>
#include "cfg_config.h"

#define CFG_YAML_MAX_DEPTH 64

/* A key given again in the same mapping: node ids in the document. */
typedef struct st_cfg_yaml_dup_t {
    int map;      /* the mapping */
    int key;      /* the repeated key (its pair is not in the mapping) */
    int first;    /* the key of the pair that is */
    size_t order; /* when it was found: keeps a mapping's repeats in file order */
} cfg_yaml_dup_t;

typedef struct st_cfg_yaml_t {
    yaml_document_t doc; /* yaml_document_get_root_node() is NULL for an empty stream */
    int has_doc;
    cfg_yaml_dup_t *dups; /* sorted by map, then by key */
    size_t num_dups;
} cfg_yaml_t;

/* Parses the first document of `len` bytes of YAML into `out` (which the caller releases with
 * cfg_yaml_free in every case). Returns -1 when nothing can be checked (syntax error, nesting too
 * deep, bad alias: one "SOURCE:LINE:COL: message" appended to errors), else the number of errors it
 * appended about a file that can still be checked (a second document: 0 or 1). */
int cfg_yaml_load(const char *yaml, size_t len, const char *source, cfg_yaml_t *out, cfg_errors_t *errors);
/* Releases what y holds and leaves it empty (freeing it again does nothing). */
void cfg_yaml_free(cfg_yaml_t *y);
/* The repeats recorded for mapping `map` (in key order), *n of them; NULL when none. */
const cfg_yaml_dup_t *cfg_yaml_dups_of(const cfg_yaml_t *y, int map, size_t *n);

/* Appends "SOURCE:LINE:COL: message" (LINE and COL from 1) to errors. */
void cfg_errors_addf(cfg_errors_t *errors, const char *source, unsigned long line, unsigned long col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Appends msg (taking ownership). */
void cfg_errors_add(cfg_errors_t *errors, char *msg);

#endif
