#include "cfg_read.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_mem.h"
#include "cfg_units.h"

void cfg_error_at(cfg_loader_t *l, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    /* libyaml counts from 0; editors and compilers count from 1 */
    unsigned long line = node != NULL ? (unsigned long)node->start_mark.line + 1 : 1;
    unsigned long col = node != NULL ? (unsigned long)node->start_mark.column + 1 : 1;
    cfg_errors_addf(l->errors, l->source, line, col, "%s", msg);
    free(msg);
    ++l->num_errors;
}

yaml_node_t *cfg_node(cfg_loader_t *l, int id)
{
    return yaml_document_get_node(&l->yaml.doc, id);
}

const char *cfg_type_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        /* `client:` with nothing after it is a null, not the text "" */
        if (node->data.scalar.length == 0 && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return "an empty value";
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

int cfg_expect(cfg_loader_t *l, const yaml_node_t *node, yaml_node_type_t type, const char *what)
{
    if (node->type == type)
        return 0;
    const char *want = type == YAML_SCALAR_NODE ? "a scalar" : type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
    cfg_error_at(l, node, "%s: expected %s, got %s", what, want, cfg_type_name(node));
    return -1;
}

const char *cfg_key_text(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
}

int cfg_key_is(const yaml_node_t *k, const char *name)
{
    return strcmp(cfg_key_text(k), name) == 0;
}

size_t cfg_seq_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

size_t cfg_map_len(const yaml_node_t *map)
{
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

int cfg_mapping(cfg_loader_t *l, yaml_node_t *node, const char *what)
{
    if (cfg_expect(l, node, YAML_MAPPING_NODE, what) != 0)
        return -1;
    /* YAML requires unique keys, and a second `timeout:` pasted further down would otherwise
     * silently win (or be lost) */
    size_t n;
    const cfg_yaml_dup_t *dups = cfg_yaml_dups_of(&l->yaml, (int)(node - l->yaml.doc.nodes.start) + 1, &n);
    for (size_t i = 0; i != n; ++i)
        cfg_error_at(l, cfg_node(l, dups[i].key), "duplicate key \"%s\" in %s (first at line %lu)",
                     cfg_key_text(cfg_node(l, dups[i].key)), what, (unsigned long)cfg_node(l, dups[i].first)->start_mark.line + 1);
    return 0;
}

/* ---- ${VAR} ---- */

typedef struct st_buf_t {
    char *p;
    size_t len, cap;
} buf_t;

static void append(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = cfg_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int is_runtime_var(const char *name, size_t n, const char *const *vars)
{
    for (size_t i = 0; vars != NULL && vars[i] != NULL; ++i)
        if (strlen(vars[i]) == n && memcmp(vars[i], name, n) == 0)
            return 1;
    return 0;
}

/* ${VAR} is replaced from the environment; $$ is a literal $. An undefined variable is an error,
 * never an empty string. With runtime_vars (a template), ${NAME} of those and $$ stay as written
 * and a $ from the environment is doubled, so that the result is a template again. */
static char *expand(cfg_loader_t *l, const yaml_node_t *node, const char *what, const char *const *runtime_vars)
{
    const char *raw = (const char *)node->data.scalar.value;
    if (strlen(raw) != node->data.scalar.length) {
        cfg_error_at(l, node, "%s: the value holds a NUL character", what);
        return NULL;
    }
    buf_t out = {cfg_xcalloc(1, node->data.scalar.length + 1), 0, node->data.scalar.length + 1};
    for (const char *p = raw; *p != '\0';) {
        if (p[0] == '$' && p[1] == '$') {
            append(&out, "$$", runtime_vars != NULL ? 2 : 1);
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                cfg_error_at(l, node, "unterminated ${ in \"%s\" (write $$ for a literal $)", raw);
                free(out.p);
                return NULL;
            }
            /* shell rules, so that whatever the file names can actually be exported */
            size_t n = (size_t)(end - p - 2);
            int ok = n != 0 && !isdigit((unsigned char)p[2]);
            for (size_t i = 0; ok && i != n; ++i)
                ok = isalnum((unsigned char)p[2 + i]) || p[2 + i] == '_';
            if (!ok) {
                cfg_error_at(l, node, "bad environment variable name \"${%.*s}\": expected [A-Za-z_][A-Za-z0-9_]*", (int)n, p + 2);
                free(out.p);
                return NULL;
            }
            if (is_runtime_var(p + 2, n, runtime_vars)) {
                append(&out, p, n + 3);
                p = end + 1;
                continue;
            }
            char *name = cfg_xstrndup(p + 2, n);
            const char *value = getenv(name);
            if (value == NULL) {
                cfg_error_at(l, node, "environment variable \"%s\" is not set", name);
                free(name);
                free(out.p);
                return NULL;
            }
            free(name);
            for (const char *v = value; *v != '\0'; ++v)
                append(&out, *v == '$' && runtime_vars != NULL ? "$$" : v, *v == '$' && runtime_vars != NULL ? 2 : 1);
            p = end + 1;
        } else {
            append(&out, p, 1);
            ++p;
        }
    }
    return out.p;
}

char *cfg_scalar(cfg_loader_t *l, const yaml_node_t *node, const char *what)
{
    if (cfg_expect(l, node, YAML_SCALAR_NODE, what) != 0)
        return NULL;
    return expand(l, node, what, NULL);
}

char *cfg_template(cfg_loader_t *l, const yaml_node_t *node, const char *what, const char *const *runtime_vars)
{
    if (cfg_expect(l, node, YAML_SCALAR_NODE, what) != 0)
        return NULL;
    return expand(l, node, what, runtime_vars);
}

/* ---- values ---- */

typedef int (*parser_t)(const char *s, uint64_t *out, const char **why);
typedef void (*formatter_t)(uint64_t v, char *buf, size_t size);

static void read_scaled(cfg_loader_t *l, const yaml_node_t *node, const char *what, parser_t parse, formatter_t format,
                        uint64_t min, uint64_t max, uint64_t *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    uint64_t v;
    if (parse(s, &v, &why) != 0) {
        cfg_error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
    } else if (max != 0 && (v < min || v > max)) {
        char lo[32], hi[32];
        format(min, lo, sizeof(lo));
        format(max, hi, sizeof(hi));
        cfg_error_at(l, node, "%s: must be between %s and %s, got \"%s\"", what, lo, hi, s);
    } else if (v < min) {
        cfg_error_at(l, node, "%s: must be greater than zero, got \"%s\"", what, s);
    } else {
        *out = v;
    }
    free(s);
}

void cfg_read_duration(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    read_scaled(l, node, what, cfg_parse_duration, cfg_format_duration, min, max, out);
}

void cfg_read_size(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    read_scaled(l, node, what, cfg_parse_size, cfg_format_size, min, max, out);
}

void cfg_read_uint32(cfg_loader_t *l, const yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint32_t *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    uint64_t v;
    if (cfg_parse_uint(s, UINT64_MAX, &v, &why) != 0)
        cfg_error_at(l, node, "%s: expected an integer, got \"%s\"", what, s);
    else if (v < min || v > max)
        cfg_error_at(l, node, "%s: must be between %llu and %llu, got %s", what, (unsigned long long)min, (unsigned long long)max,
                     s);
    else
        *out = (uint32_t)v;
    free(s);
}

void cfg_read_bool(cfg_loader_t *l, const yaml_node_t *node, const char *what, int *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    if (strcmp(s, "true") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0)
        *out = 0;
    else
        cfg_error_at(l, node, "%s: expected true or false, got \"%s\"", what, s);
    free(s);
}

void cfg_read_enum(cfg_loader_t *l, const yaml_node_t *node, const char *what, const char *const *names, int *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    char allowed[256] = "";
    for (int i = 0; names[i] != NULL; ++i) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            free(s);
            return;
        }
        strncat(allowed, i ? " | " : "", sizeof(allowed) - strlen(allowed) - 1);
        strncat(allowed, names[i], sizeof(allowed) - strlen(allowed) - 1);
    }
    cfg_error_at(l, node, "%s: expected one of %s, got \"%s\"", what, allowed, s);
    free(s);
}

static int is_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

char *cfg_read_name(cfg_loader_t *l, const yaml_node_t *node, const char *what)
{
    char *s = cfg_scalar(l, node, what);
    if (s != NULL && !is_name(s)) {
        cfg_error_at(l, node, "%s: \"%s\" must match [a-z0-9_-]+", what, s);
        free(s);
        return NULL;
    }
    return s;
}

void cfg_read_address(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_address_t *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    cfg_address_t a = {0};
    if (cfg_parse_address(s, &a, &why) != 0) {
        cfg_error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
        free(s);
        return;
    }
    free(out->host);
    free(out->text);
    *out = a;
    out->text = s;
    out->line = (unsigned)node->start_mark.line + 1;
    out->col = (unsigned)node->start_mark.column + 1;
}

void cfg_read_key(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_key_t *out)
{
    char *s = cfg_scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    cfg_key_t k = {0};
    if (cfg_parse_key(s, &k, &why) != 0) {
        cfg_error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
    } else {
        free(out->name);
        free(out->text);
        *out = k;
    }
    free(s);
}

static int same_key(const cfg_key_t *a, const cfg_key_t *b)
{
    return a->kind == b->kind && a->index == b->index &&
           (a->name == b->name || (a->name != NULL && b->name != NULL && strcmp(a->name, b->name) == 0));
}

void cfg_read_keyspec(cfg_loader_t *l, const yaml_node_t *node, const char *what, cfg_keyspec_t *out)
{
    if (node->type == YAML_SCALAR_NODE) {
        cfg_key_t k = {0};
        cfg_read_key(l, node, what, &k);
        if (k.kind == CFG_KEY_NONE)
            return;
        cfg_keyspec_clear(out);
        out->keys = cfg_xcalloc(1, sizeof(*out->keys));
        out->keys[0] = k;
        out->num_keys = 1;
        out->text = cfg_xstrdup(k.text);
        return;
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_error_at(l, node, "%s: expected a key source or a list of them, got %s", what, cfg_type_name(node));
        return;
    }
    size_t n = cfg_seq_len(node);
    if (n == 0 || n > CFG_MAX_KEYS) {
        cfg_error_at(l, node, "%s: a list needs 1 to %d key sources, got %zu", what, CFG_MAX_KEYS, n);
        return;
    }
    cfg_keyspec_t spec = {cfg_xcalloc(n, sizeof(*spec.keys)), 0, NULL};
    buf_t text = {NULL, 0, 0};
    int ok = 1;
    append(&text, "[", 1);
    CFG_FOREACH_ITEM(l, node, item)
    {
        cfg_key_t *k = &spec.keys[spec.num_keys];
        cfg_read_key(l, item, what, k);
        if (k->kind == CFG_KEY_NONE) {
            ok = 0;
            continue;
        }
        size_t j;
        for (j = 0; j != spec.num_keys && !same_key(&spec.keys[j], k); ++j)
            ;
        if (j != spec.num_keys) {
            cfg_error_at(l, item, "%s: \"%s\" given twice", what, k->text);
            free(k->name);
            free(k->text);
            memset(k, 0, sizeof(*k));
            ok = 0;
            continue;
        }
        if (spec.num_keys != 0)
            append(&text, ", ", 2);
        append(&text, k->text, strlen(k->text));
        ++spec.num_keys;
    }
    append(&text, "]", 1);
    spec.text = text.p;
    if (!ok) {
        cfg_keyspec_clear(&spec);
        return;
    }
    cfg_keyspec_clear(out);
    *out = spec;
}

/* ---- blocks of fields ---- */

const cfg_field_t *cfg_find_field(const cfg_field_t *fields, const char *key)
{
    for (const cfg_field_t *f = fields; f != NULL && f->key != NULL; ++f)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

cfg_given_t cfg_given(const cfg_field_t *fields, const cfg_given_t *given, const char *key)
{
    const cfg_field_t *f = cfg_find_field(fields, key);
    return f != NULL ? given[f - fields] : (cfg_given_t){NULL, NULL};
}

static void read_field(cfg_loader_t *l, const cfg_field_t *f, const yaml_node_t *k, yaml_node_t *v, char *obj)
{
    void *at = obj + f->offset;
    switch (f->kind) {
    case CFG_F_DURATION:
        cfg_read_duration(l, v, f->what, f->min, f->max, at);
        break;
    case CFG_F_SIZE:
        cfg_read_size(l, v, f->what, f->min, f->max, at);
        break;
    case CFG_F_SIZE32: {
        uint64_t bytes = *(uint32_t *)at;
        cfg_read_size(l, v, f->what, f->min, f->max, &bytes);
        *(uint32_t *)at = (uint32_t)bytes; /* max is at most UINT32_MAX */
        break;
    }
    case CFG_F_UINT32:
        cfg_read_uint32(l, v, f->what, f->min, f->max, at);
        break;
    case CFG_F_BOOL:
        cfg_read_bool(l, v, f->what, at);
        break;
    case CFG_F_ENUM:
        cfg_read_enum(l, v, f->what, f->names, at);
        break;
    case CFG_F_STRING:
    case CFG_F_NAME: {
        char *s = f->kind == CFG_F_NAME ? cfg_read_name(l, v, f->what) : cfg_scalar(l, v, f->what);
        if (s != NULL) {
            free(*(char **)at);
            *(char **)at = s;
        }
        break;
    }
    case CFG_F_ADDRESS:
        cfg_read_address(l, v, f->what, at);
        break;
    case CFG_F_KEY:
        cfg_read_key(l, v, f->what, at);
        break;
    case CFG_F_KEYSPEC:
        cfg_read_keyspec(l, v, f->what, at);
        break;
    case CFG_F_BLOCK:
        cfg_read_block(l, v, f->what, f->children, at, NULL);
        break;
    case CFG_F_CUSTOM:
        f->read(l, k, v, obj);
        break;
    case CFG_F_LATER:
        break;
    }
}

int cfg_read_block(cfg_loader_t *l, yaml_node_t *map, const char *what, const cfg_field_t *fields, void *obj, cfg_given_t *given)
{
    if (cfg_mapping(l, map, what) != 0)
        return -1;
    CFG_FOREACH_PAIR(l, map, k, v)
    {
        const cfg_field_t *f = k->type == YAML_SCALAR_NODE ? cfg_find_field(fields, cfg_key_text(k)) : NULL;
        if (f == NULL) {
            cfg_unknown_key(l, k, what, fields);
            continue;
        }
        if (given != NULL)
            given[f - fields] = (cfg_given_t){k, v};
        read_field(l, f, k, v, obj);
    }
    return 0;
}

/* Optimal string alignment distance (Levenshtein plus swaps of neighbours: "tiemout" is 1 from
 * "timeout"), for strings of at most 64 bytes. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t d[65][65];
    for (size_t i = 0; i <= n; ++i)
        d[i][0] = i;
    for (size_t j = 0; j <= m; ++j)
        d[0][j] = j;
    for (size_t i = 1; i <= n; ++i) {
        for (size_t j = 1; j <= m; ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1, best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

void cfg_unknown_key(cfg_loader_t *l, const yaml_node_t *k, const char *where, const cfg_field_t *fields)
{
    if (k->type != YAML_SCALAR_NODE) {
        cfg_error_at(l, k, "keys in %s must be scalars", where);
        return;
    }
    const char *key = cfg_key_text(k);
    /* a key of a block this one holds: most likely indented one level too little */
    for (const cfg_field_t *f = fields; f != NULL && f->key != NULL; ++f) {
        if (f->children != NULL && cfg_find_field(f->children, key) != NULL) {
            cfg_error_at(l, k, "unknown key \"%s\" in %s (is it meant to be indented under \"%s\"?)", key, where, f->key);
            return;
        }
    }
    /* a misspelt key: within 2 edits, and fewer edits than the key has letters */
    const char *best = NULL;
    size_t best_distance = 3, len = strlen(key);
    for (const cfg_field_t *f = fields; f != NULL && f->key != NULL && len <= 64; ++f) {
        size_t flen = strlen(f->key);
        if (flen > 64 || (flen > len ? flen - len : len - flen) > 2)
            continue;
        size_t d = edit_distance(key, f->key);
        if (d < best_distance && d < len) {
            best = f->key;
            best_distance = d;
        }
    }
    if (best != NULL)
        cfg_error_at(l, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)", key, where, best);
    else
        cfg_error_at(l, k, "unknown key \"%s\" in %s", key, where);
}

typedef struct st_named_t {
    const char *name;
    size_t index;
} named_t;

static int compare_named(const void *pa, const void *pb)
{
    const named_t *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

void cfg_first_occurrences(const char *const *names, size_t n, size_t *first)
{
    named_t *sorted = cfg_xcalloc(n, sizeof(*sorted));
    size_t m = 0;
    for (size_t i = 0; i != n; ++i) {
        first[i] = i;
        if (names[i] != NULL)
            sorted[m++] = (named_t){names[i], i};
    }
    qsort(sorted, m, sizeof(*sorted), compare_named);
    for (size_t i = 1; i < m; ++i)
        if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
            first[sorted[i].index] = first[sorted[i - 1].index];
    free(sorted);
}

void cfg_report_repeats(cfg_loader_t *l, const char *const *names, yaml_node_t *const *nodes, size_t n, const char *what)
{
    size_t *first = cfg_xcalloc(n, sizeof(*first));
    cfg_first_occurrences(names, n, first);
    for (size_t i = 0; i != n; ++i)
        if (first[i] != i)
            cfg_error_at(l, nodes[i], "duplicate %s name \"%s\"", what, names[i]);
    free(first);
}
