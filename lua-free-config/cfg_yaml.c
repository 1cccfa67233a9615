/*
 * The document builder (see cfg_yaml.h for why it replaces yaml_parser_load).
 *
 * Invariants: at most CFG_YAML_MAX_DEPTH collections are open (one frame each); a node id is
 * added to the document when its event arrives (a collection at its start, so the first node is
 * the root, as libyaml's loader does) and joins its parent when it is complete; a mapping's pairs
 * wait in its frame until its end, when repeated keys are set aside. Every step costs O(1) but
 * the end of a mapping (a sort of its keys) and an alias (a tree lookup).
 */
#include "cfg_yaml.h"

#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_mem.h"

/* Aliases may add at most this many nodes and scalar bytes, plus ALIAS_RATIO per node and byte of
 * the file itself: room for any sensible reuse, while the loader's work stays linear. */
#define ALIAS_BUDGET 1000000u
#define ALIAS_RATIO 10u
#define WEIGHT_MAX (UINT64_MAX / 4)

void cfg_errors_add(cfg_errors_t *errors, char *msg)
{
    /* doubling: a hostile file can hold a million errors */
    if ((errors->count & (errors->count - 1)) == 0)
        errors->items = cfg_xrealloc(errors->items, (errors->count != 0 ? errors->count * 2 : 1) * sizeof(*errors->items));
    errors->items[errors->count++] = msg;
}

void cfg_errors_addf(cfg_errors_t *errors, const char *source, unsigned long line, unsigned long col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    cfg_errors_add(errors, cfg_xasprintf("%s:%lu:%lu: %s", source, line, col, msg));
    free(msg);
}

typedef struct st_pair_t {
    int key, value;
} pair_t;

typedef struct st_frame_t {
    int node;
    int is_map;
    uint64_t weight; /* 1 + the weights of the children so far (aliases counted expanded) */
    int pending_key; /* mapping: a key waiting for its value, 0 if none */
    pair_t *pairs;
    size_t num_pairs, cap_pairs;
} frame_t;

typedef struct st_anchor_t {
    char *name;
    int node;
} anchor_t;

typedef struct st_builder_t {
    cfg_yaml_t *out;
    const char *source;
    cfg_errors_t *errors;
    frame_t frames[CFG_YAML_MAX_DEPTH];
    size_t depth;
    uint64_t *weight;     /* by node id: the expanded weight of a complete node */
    unsigned char *open;  /* by node id: 1 while a collection has not ended */
    size_t cap_nodes;     /* of weight and open */
    uint64_t own_weight;  /* nodes and scalar bytes of the file */
    uint64_t alias_added; /* what aliases add when expanded */
    void *anchors;        /* tsearch tree of anchor_t */
    size_t cap_dups;
} builder_t;

static int compare_anchor(const void *a, const void *b)
{
    return strcmp(((const anchor_t *)a)->name, ((const anchor_t *)b)->name);
}

static void free_anchor(void *p)
{
    anchor_t *a = p;
    free(a->name);
    free(a);
}

static void error_at_mark(builder_t *b, yaml_mark_t mark, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at_mark(builder_t *b, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    cfg_errors_addf(b->errors, b->source, (unsigned long)mark.line + 1, (unsigned long)mark.column + 1, "%s", msg);
    free(msg);
}

static void syntax_error(builder_t *b, const yaml_parser_t *parser)
{
    /* scanner and parser errors carry a mark; reader errors (bad UTF-8) only a byte offset */
    const char *sep = parser->context != NULL ? " " : "";
    error_at_mark(b, parser->problem_mark, "YAML syntax error: %s%s%s", parser->problem != NULL ? parser->problem : "unknown", sep,
                  parser->context != NULL ? parser->context : "");
}

static uint64_t add_weight(uint64_t a, uint64_t b)
{
    return a > WEIGHT_MAX - b ? WEIGHT_MAX : a + b;
}

/* Records a node just added to the document; -1 if libyaml could not add it. */
static int track_node(builder_t *b, int id, const yaml_event_t *ev)
{
    if (id == 0)
        return -1;
    yaml_node_t *node = yaml_document_get_node(&b->out->doc, id);
    node->start_mark = ev->start_mark;
    node->end_mark = ev->end_mark;
    if ((size_t)id >= b->cap_nodes) {
        size_t cap = b->cap_nodes != 0 ? b->cap_nodes * 2 : 64;
        while (cap <= (size_t)id)
            cap *= 2;
        b->weight = cfg_xrealloc(b->weight, cap * sizeof(*b->weight));
        b->open = cfg_xrealloc(b->open, cap);
        b->cap_nodes = cap;
    }
    b->weight[id] = 1;
    b->open[id] = 0;
    b->own_weight = add_weight(b->own_weight, 1);
    return 0;
}

static void register_anchor(builder_t *b, const yaml_char_t *name, int node)
{
    if (name == NULL)
        return;
    anchor_t key = {(char *)name, 0};
    anchor_t **found = tfind(&key, &b->anchors, compare_anchor);
    if (found != NULL) {
        (*found)->node = node; /* an anchor given again names the later node from here on */
        return;
    }
    anchor_t *a = cfg_xcalloc(1, sizeof(*a));
    a->name = cfg_xstrdup((const char *)name);
    a->node = node;
    if (tsearch(a, &b->anchors, compare_anchor) == NULL)
        cfg_out_of_memory();
}

/* Adds a complete node (of expanded weight w) to the open collection, if any. */
static void attach(builder_t *b, int id, uint64_t w)
{
    if (b->depth == 0)
        return; /* the root: the document's first node */
    frame_t *f = &b->frames[b->depth - 1];
    f->weight = add_weight(f->weight, w);
    if (!f->is_map) {
        if (!yaml_document_append_sequence_item(&b->out->doc, f->node, id))
            cfg_out_of_memory();
        return;
    }
    if (f->pending_key == 0) {
        f->pending_key = id;
        return;
    }
    if (f->num_pairs == f->cap_pairs) {
        f->cap_pairs = f->cap_pairs != 0 ? f->cap_pairs * 2 : 8;
        f->pairs = cfg_xrealloc(f->pairs, f->cap_pairs * sizeof(*f->pairs));
    }
    f->pairs[f->num_pairs++] = (pair_t){f->pending_key, id};
    f->pending_key = 0;
}

typedef struct st_sort_key_t {
    const unsigned char *text; /* NULL: not a scalar, never equal to another key */
    size_t len;
    size_t index;
} sort_key_t;

static int compare_keys(const void *pa, const void *pb)
{
    const sort_key_t *a = pa, *b = pb;
    if ((a->text == NULL) != (b->text == NULL))
        return a->text == NULL ? -1 : 1;
    if (a->text != NULL) {
        if (a->len != b->len)
            return a->len < b->len ? -1 : 1;
        int c = memcmp(a->text, b->text, a->len);
        if (c != 0)
            return c;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

static int compare_dups(const void *pa, const void *pb)
{
    const cfg_yaml_dup_t *a = pa, *b = pb;
    if (a->map != b->map)
        return a->map < b->map ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static void record_dup(builder_t *b, int map, int key, int first)
{
    cfg_yaml_t *y = b->out;
    if (y->num_dups == b->cap_dups) {
        b->cap_dups = b->cap_dups != 0 ? b->cap_dups * 2 : 8;
        y->dups = cfg_xrealloc(y->dups, b->cap_dups * sizeof(*y->dups));
    }
    y->dups[y->num_dups] = (cfg_yaml_dup_t){map, key, first, y->num_dups};
    ++y->num_dups;
}

/* A mapping is complete: its pairs go into the document in order, but for repeated keys. */
static void end_mapping(builder_t *b, frame_t *f)
{
    size_t n = f->num_pairs;
    sort_key_t *keys = cfg_xcalloc(n, sizeof(*keys));
    size_t *first_of = cfg_xcalloc(n, sizeof(*first_of)); /* 1-based pair index of the first occurrence, 0 if this is it */
    for (size_t i = 0; i != n; ++i) {
        yaml_node_t *k = yaml_document_get_node(&b->out->doc, f->pairs[i].key);
        keys[i].index = i;
        if (k->type == YAML_SCALAR_NODE) {
            keys[i].text = k->data.scalar.value;
            keys[i].len = k->data.scalar.length;
        }
    }
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (size_t i = 1; i < n; ++i) {
        const sort_key_t *a = &keys[i - 1], *c = &keys[i];
        if (c->text != NULL && a->text != NULL && a->len == c->len && memcmp(a->text, c->text, a->len) == 0)
            first_of[c->index] = first_of[a->index] != 0 ? first_of[a->index] : a->index + 1;
    }
    for (size_t i = 0; i != n; ++i) {
        if (first_of[i] != 0) {
            record_dup(b, f->node, f->pairs[i].key, f->pairs[first_of[i] - 1].key);
        } else if (!yaml_document_append_mapping_pair(&b->out->doc, f->node, f->pairs[i].key, f->pairs[i].value)) {
            cfg_out_of_memory();
        }
    }
    free(keys);
    free(first_of);
}

/* Handles one event of the first document; -1 (error recorded) to stop. */
static int on_event(builder_t *b, yaml_event_t *ev)
{
    yaml_document_t *doc = &b->out->doc;
    int id;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        size_t len = ev->data.scalar.length;
        if (len > INT32_MAX) {
            error_at_mark(b, ev->start_mark, "value too long");
            return -1;
        }
        id = yaml_document_add_scalar(doc, NULL, ev->data.scalar.value, (int)len, ev->data.scalar.style);
        if (track_node(b, id, ev) != 0)
            break;
        b->weight[id] = add_weight(1, len);
        b->own_weight = add_weight(b->own_weight, len);
        register_anchor(b, ev->data.scalar.anchor, id);
        attach(b, id, b->weight[id]);
        return 0;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (b->depth == CFG_YAML_MAX_DEPTH) {
            error_at_mark(b, ev->start_mark, "YAML nesting deeper than %d levels", CFG_YAML_MAX_DEPTH);
            return -1;
        }
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        id = is_map ? yaml_document_add_mapping(doc, NULL, ev->data.mapping_start.style)
                    : yaml_document_add_sequence(doc, NULL, ev->data.sequence_start.style);
        if (track_node(b, id, ev) != 0)
            break;
        b->open[id] = 1;
        register_anchor(b, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, id);
        frame_t *f = &b->frames[b->depth++];
        f->node = id;
        f->is_map = is_map;
        f->weight = 1;
        f->pending_key = 0;
        f->num_pairs = 0;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        frame_t *f = &b->frames[--b->depth];
        if (f->is_map)
            end_mapping(b, f);
        b->open[f->node] = 0;
        b->weight[f->node] = f->weight;
        attach(b, f->node, f->weight);
        return 0;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        anchor_t key = {(char *)name, 0};
        anchor_t **found = tfind(&key, &b->anchors, compare_anchor);
        if (found == NULL) {
            error_at_mark(b, ev->start_mark, "unknown alias *%s (no anchor &%s before it)", name, name);
            return -1;
        }
        id = (*found)->node;
        if (b->open[id]) {
            error_at_mark(b, ev->start_mark, "alias *%s refers to a node that contains it (a cycle)", name);
            return -1;
        }
        b->alias_added = add_weight(b->alias_added, b->weight[id]);
        uint64_t budget =
            add_weight(ALIAS_BUDGET, b->own_weight > WEIGHT_MAX / ALIAS_RATIO ? WEIGHT_MAX : b->own_weight * ALIAS_RATIO);
        if (b->alias_added > budget) {
            error_at_mark(b, ev->start_mark,
                          "alias *%s: aliases expand this file past %llu nodes and bytes (%u + %u times its own); refused", name,
                          (unsigned long long)budget, ALIAS_BUDGET, ALIAS_RATIO);
            return -1;
        }
        attach(b, id, b->weight[id]);
        return 0;
    }
    default:
        return 0;
    }
    error_at_mark(b, ev->start_mark, "YAML: cannot store this node");
    return -1;
}

/* Past the first document: a second one is reported at its first node. Returns errors added. */
static int check_no_second_document(builder_t *b, yaml_parser_t *parser)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(parser, &ev)) {
            syntax_error(b, parser);
            return 1;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            return 0;
        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT ||
            type == YAML_ALIAS_EVENT) {
            error_at_mark(b, mark, "a second YAML document (after ---): the file must hold exactly one");
            return 1;
        }
    }
}

int cfg_yaml_load(const char *yaml, size_t len, const char *source, cfg_yaml_t *out, cfg_errors_t *errors)
{
    builder_t b = {.out = out, .source = source, .errors = errors};
    yaml_parser_t parser;
    int result = -1;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&parser))
        cfg_out_of_memory();
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    for (int done = 0; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&b, &parser);
            goto exit;
        }
        int failed = 0;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (!yaml_document_initialize(&out->doc, NULL, NULL, NULL, 1, 1))
                cfg_out_of_memory();
            out->has_doc = 1;
            break;
        case YAML_DOCUMENT_END_EVENT:
            result = check_no_second_document(&b, &parser);
            done = 1;
            break;
        case YAML_STREAM_END_EVENT:
            result = 0;
            done = 1;
            break;
        default:
            failed = on_event(&b, &ev) != 0;
            break;
        }
        yaml_event_delete(&ev);
        if (failed)
            goto exit;
    }
    if (out->num_dups != 0) /* dups is NULL then, which qsort may not be given */
        qsort(out->dups, out->num_dups, sizeof(*out->dups), compare_dups);
exit:
    for (size_t i = 0; i != CFG_YAML_MAX_DEPTH; ++i)
        free(b.frames[i].pairs);
    free(b.weight);
    free(b.open);
    tdestroy(b.anchors, free_anchor);
    yaml_parser_delete(&parser);
    return result;
}

void cfg_yaml_free(cfg_yaml_t *y)
{
    if (y->has_doc)
        yaml_document_delete(&y->doc);
    free(y->dups);
    memset(y, 0, sizeof(*y));
}

const cfg_yaml_dup_t *cfg_yaml_dups_of(const cfg_yaml_t *y, int map, size_t *n)
{
    size_t lo = 0, hi = y->num_dups;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (y->dups[mid].map < map)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end != y->num_dups && y->dups[end].map == map)
        ++end;
    *n = end - lo;
    return *n != 0 ? &y->dups[lo] : NULL;
}
