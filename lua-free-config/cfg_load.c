/*
 * The policy loader: YAML (libyaml's document API, so every node knows its line and column) to
 * a validated cfg_config_t.
 *
 * It never stops at the first problem: every error is recorded as "file:line:col: message" and
 * checking goes on with the next key, so one run of `sluice -t` lists them all. A config is
 * returned only when there was no error at all.
 */
#include "cfg_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "cfg_mem.h"
#include "cfg_units.h"
#include "cfg_yaml.h"

typedef struct st_loader_t {
    cfg_yaml_t yaml;
    const char *source;
    cfg_errors_t *errors;
    size_t num_errors;
    int has_redis_block;
} loader_t;

static void error_at(loader_t *l, yaml_node_t *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at(loader_t *l, yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    /* libyaml counts from 0; editors and compilers count from 1 */
    unsigned long ln = node != NULL ? (unsigned long)node->start_mark.line + 1 : 1;
    unsigned long col = node != NULL ? (unsigned long)node->start_mark.column + 1 : 1;
    cfg_errors_addf(l->errors, l->source, ln, col, "%s", msg);
    free(msg);
    ++l->num_errors;
}

static yaml_node_t *node_of(loader_t *l, int index)
{
    return yaml_document_get_node(&l->yaml.doc, index);
}

static const char *type_name(yaml_node_t *node)
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

static int expect(loader_t *l, yaml_node_t *node, yaml_node_type_t type, const char *what)
{
    if (node->type == type)
        return 0;
    const char *want = type == YAML_SCALAR_NODE ? "a scalar" : type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
    error_at(l, node, "%s: expected %s, got %s", what, want, type_name(node));
    return -1;
}

/* ${VAR} is replaced from the environment; $$ is a literal $. An undefined variable is an
 * error, never an empty string. Returns a malloc'd string or NULL (error recorded). */
static char *expand(loader_t *l, yaml_node_t *node, const char *raw)
{
    size_t cap = strlen(raw) + 1, len = 0;
    char *out = cfg_xcalloc(1, cap);
    for (const char *p = raw; *p != '\0';) {
        const char *piece = p;
        size_t piece_len = 1;
        if (p[0] == '$' && p[1] == '$') {
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                error_at(l, node, "unterminated ${ in \"%s\" (write $$ for a literal $)", raw);
                free(out);
                return NULL;
            }
            /* shell rules, so that whatever the file names can actually be exported */
            size_t n = (size_t)(end - p - 2);
            int ok = n != 0 && !isdigit((unsigned char)p[2]);
            for (size_t i = 0; ok && i != n; ++i)
                ok = isalnum((unsigned char)p[2 + i]) || p[2 + i] == '_';
            if (!ok) {
                error_at(l, node, "bad environment variable name \"${%.*s}\": expected [A-Za-z_][A-Za-z0-9_]*", (int)n, p + 2);
                free(out);
                return NULL;
            }
            char *name = cfg_xstrndup(p + 2, n);
            piece = getenv(name);
            if (piece == NULL) {
                error_at(l, node, "environment variable \"%s\" is not set", name);
                free(name);
                free(out);
                return NULL;
            }
            free(name);
            piece_len = strlen(piece);
            p = end + 1;
        } else {
            ++p;
        }
        if (len + piece_len + 1 > cap) {
            cap = (len + piece_len + 1) * 2;
            out = cfg_xrealloc(out, cap);
        }
        memcpy(out + len, piece, piece_len);
        len += piece_len;
        out[len] = '\0';
    }
    return out;
}

/* The expanded text of a scalar, or NULL (error recorded). */
static char *scalar(loader_t *l, yaml_node_t *node, const char *what)
{
    if (expect(l, node, YAML_SCALAR_NODE, what) != 0)
        return NULL;
    return expand(l, node, (const char *)node->data.scalar.value);
}

typedef int (*value_parser_t)(const char *s, uint64_t *out, const char **why);

static void parse_number(loader_t *l, yaml_node_t *node, const char *what, value_parser_t parse, uint64_t min, uint64_t *out)
{
    char *s = scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    uint64_t v;
    if (parse(s, &v, &why) != 0)
        error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
    else if (v < min)
        error_at(l, node, "%s: must be greater than zero, got \"%s\"", what, s);
    else
        *out = v;
    free(s);
}

static void duration(loader_t *l, yaml_node_t *node, const char *what, uint64_t *out)
{
    parse_number(l, node, what, cfg_parse_duration, 1, out);
}

static void size_value(loader_t *l, yaml_node_t *node, const char *what, uint64_t *out)
{
    parse_number(l, node, what, cfg_parse_size, 1, out);
}

static void integer(loader_t *l, yaml_node_t *node, const char *what, uint64_t min, uint64_t max, uint32_t *out)
{
    char *s = scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    uint64_t v;
    if (cfg_parse_uint(s, UINT64_MAX, &v, &why) != 0)
        error_at(l, node, "%s: expected an integer, got \"%s\"", what, s);
    else if (v < min || v > max)
        error_at(l, node, "%s: must be between %llu and %llu, got %s", what, (unsigned long long)min, (unsigned long long)max, s);
    else
        *out = (uint32_t)v;
    free(s);
}

static void boolean(loader_t *l, yaml_node_t *node, const char *what, int *out)
{
    char *s = scalar(l, node, what);
    if (s == NULL)
        return;
    if (strcmp(s, "true") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0)
        *out = 0;
    else
        error_at(l, node, "%s: expected true or false, got \"%s\"", what, s);
    free(s);
}

/* One of `names` (NULL-terminated); stores its index. */
static void enumeration(loader_t *l, yaml_node_t *node, const char *what, const char *const *names, int *out)
{
    char *s = scalar(l, node, what);
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
    error_at(l, node, "%s: expected one of %s, got \"%s\"", what, allowed, s);
    free(s);
}

static void address(loader_t *l, yaml_node_t *node, const char *what, cfg_address_t *out)
{
    char *s = scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    cfg_address_t a = {0};
    if (cfg_parse_address(s, &a, &why) != 0) {
        error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
        free(s);
        return;
    }
    free(out->host);
    free(out->text);
    *out = a;
    out->text = s;
}

static void key_spec(loader_t *l, yaml_node_t *node, const char *what, cfg_key_t *out)
{
    char *s = scalar(l, node, what);
    if (s == NULL)
        return;
    const char *why;
    if (cfg_parse_key(s, out, &why) != 0)
        error_at(l, node, "%s: %s, got \"%s\"", what, why, s);
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

static char *name_value(loader_t *l, yaml_node_t *node, const char *what)
{
    char *s = scalar(l, node, what);
    if (s != NULL && !is_name(s)) {
        error_at(l, node, "%s: \"%s\" must match [a-z0-9_-]+", what, s);
        free(s);
        return NULL;
    }
    return s;
}

static const char *key_text(yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
}

/* Visits each pair of a mapping. A repeated key is not among them (cfg_yaml keeps the first
 * occurrence); mapping() reports it. The hidden loop variables take the line number so that
 * nested loops do not shadow each other. */
#define FOREACH_PAIR(l, map, k, v) FOREACH_PAIR_(l, map, k, v, CONCAT(pair_, __LINE__), CONCAT(once_, __LINE__))
#define FOREACH_PAIR_(l, map, k, v, pair, once)                                                                                    \
    for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start; pair < (map)->data.mapping.pairs.top; ++pair)                   \
        for (yaml_node_t *k = node_of(l, pair->key), *v = node_of(l, pair->value), *once = k; once != NULL; once = NULL)
#define CONCAT(a, b) CONCAT_(a, b)
#define CONCAT_(a, b) a##b

/* Checks that `node` is a mapping and reports the keys repeated in it (YAML requires unique keys,
 * and a second `timeout:` pasted further down would otherwise silently win or be lost). */
static int mapping(loader_t *l, yaml_node_t *node, const char *what)
{
    if (expect(l, node, YAML_MAPPING_NODE, what) != 0)
        return -1;
    size_t n;
    const cfg_yaml_dup_t *dups = cfg_yaml_dups_of(&l->yaml, (int)(node - l->yaml.doc.nodes.start) + 1, &n);
    for (size_t i = 0; i != n; ++i)
        error_at(l, node_of(l, dups[i].key), "duplicate key \"%s\" in %s (first at line %lu)", key_text(node_of(l, dups[i].key)),
                 what, (unsigned long)node_of(l, dups[i].first)->start_mark.line + 1);
    return 0;
}

static int key_is(yaml_node_t *k, const char *name)
{
    return strcmp(key_text(k), name) == 0;
}

static void unknown_key(loader_t *l, yaml_node_t *k, const char *where)
{
    if (k->type != YAML_SCALAR_NODE)
        error_at(l, k, "keys in %s must be scalars", where);
    else
        error_at(l, k, "unknown key \"%s\" in %s", key_text(k), where);
}

/* ---- blocks ---- */

static void parse_client(loader_t *l, yaml_node_t *map, cfg_client_t *c)
{
    if (mapping(l, map, "client") != 0)
        return;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "header_timeout")) {
            duration(l, v, "client.header_timeout", &c->header_timeout_ms);
        } else if (key_is(k, "idle_timeout")) {
            duration(l, v, "client.idle_timeout", &c->idle_timeout_ms);
        } else if (key_is(k, "max_body")) {
            size_value(l, v, "client.max_body", &c->max_body);
        } else if (key_is(k, "trusted_proxies")) {
            if (expect(l, v, YAML_SEQUENCE_NODE, "client.trusted_proxies") != 0)
                continue;
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            c->trusted_proxies = cfg_xcalloc(n, sizeof(*c->trusted_proxies));
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
                yaml_node_t *item = node_of(l, *it);
                char *s = scalar(l, item, "client.trusted_proxies entry");
                if (s == NULL)
                    continue;
                const char *why;
                cfg_cidr_t *cidr = &c->trusted_proxies[c->num_trusted_proxies];
                if (cfg_parse_cidr(s, cidr, &why) != 0) {
                    error_at(l, item, "client.trusted_proxies: %s, got \"%s\"", why, s);
                    free(s);
                } else {
                    cidr->text = s;
                    ++c->num_trusted_proxies;
                }
            }
        } else {
            unknown_key(l, k, "client");
        }
    }
}

static void parse_redis(loader_t *l, yaml_node_t *map, cfg_redis_t *r)
{
    static const char *const on_error[] = {"local", "allow", "deny", NULL};
    int has_address = 0;
    if (mapping(l, map, "redis") != 0)
        return;
    r->enabled = 1;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "address")) {
            has_address = 1;
            address(l, v, "redis.address", &r->address);
        } else if (key_is(k, "password")) {
            free(r->password);
            r->password = scalar(l, v, "redis.password");
            /* most often an unset variable in ${...}: AUTH "" would fail at every connect */
            if (r->password != NULL && r->password[0] == '\0')
                error_at(l, v, "redis.password: empty (leave the key out for a Redis without AUTH)");
        } else if (key_is(k, "database")) {
            integer(l, v, "redis.database", 0, 15, &r->database);
        } else if (key_is(k, "timeout")) {
            duration(l, v, "redis.timeout", &r->timeout_ms);
        } else if (key_is(k, "prefix")) {
            char *s = scalar(l, v, "redis.prefix");
            if (s != NULL) {
                free(r->prefix);
                r->prefix = s;
            }
        } else if (key_is(k, "on_error")) {
            int e = (int)r->on_error;
            enumeration(l, v, "redis.on_error", on_error, &e);
            r->on_error = (cfg_redis_on_error_t)e;
        } else if (key_is(k, "instances")) {
            integer(l, v, "redis.instances", 1, 1000, &r->instances);
        } else if (key_is(k, "slot_lease")) {
            duration(l, v, "redis.slot_lease", &r->slot_lease_ms);
            if (r->slot_lease_ms < 1000 || r->slot_lease_ms > 3600000)
                error_at(l, v, "redis.slot_lease: must be between 1s and 1h");
        } else {
            unknown_key(l, k, "redis");
        }
    }
    if (!has_address)
        error_at(l, map, "redis: missing required key \"address\"");
}

static void parse_upstream(loader_t *l, yaml_node_t *name, yaml_node_t *map, cfg_upstream_t *u)
{
    u->name = scalar(l, name, "upstream name");
    u->connect_timeout_ms = 1000;
    u->read_timeout_ms = 30000;
    u->keepalive = 64;
    u->max_connections = 256;
    if (mapping(l, map, "upstream") != 0)
        return;
    int has_address = 0;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "address")) {
            has_address = 1;
            address(l, v, "upstream address", &u->address);
        } else if (key_is(k, "connect_timeout")) {
            duration(l, v, "connect_timeout", &u->connect_timeout_ms);
        } else if (key_is(k, "read_timeout")) {
            duration(l, v, "read_timeout", &u->read_timeout_ms);
        } else if (key_is(k, "keepalive")) {
            integer(l, v, "keepalive", 0, 100000, &u->keepalive);
        } else if (key_is(k, "max_connections")) {
            integer(l, v, "max_connections", 1, 100000, &u->max_connections);
        } else {
            unknown_key(l, k, "upstream");
        }
    }
    if (!has_address)
        error_at(l, map, "upstream \"%s\": missing required key \"address\"", u->name ? u->name : "");
    if (u->keepalive > u->max_connections)
        error_at(l, map, "upstream \"%s\": keepalive (%u) must not exceed max_connections (%u)", u->name ? u->name : "",
                 u->keepalive, u->max_connections);
}

static const char *const scopes[] = {"local", "global", NULL};

static void check_scope(loader_t *l, yaml_node_t *node, cfg_scope_t scope)
{
    if (scope == CFG_SCOPE_GLOBAL && !l->has_redis_block)
        error_at(l, node, "scope: global needs a redis: block");
}

static void parse_queue(loader_t *l, yaml_node_t *map, cfg_concurrency_t *c)
{
    static const char *const orders[] = {"fifo", "lifo", NULL};
    if (mapping(l, map, "concurrency.queue") != 0)
        return;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "size")) {
            integer(l, v, "queue.size", 0, 1000000, &c->queue_size);
        } else if (key_is(k, "timeout")) {
            duration(l, v, "queue.timeout", &c->queue_timeout_ms);
        } else if (key_is(k, "order")) {
            int o = (int)c->queue_order;
            enumeration(l, v, "queue.order", orders, &o);
            c->queue_order = (cfg_queue_order_t)o;
        } else {
            unknown_key(l, k, "concurrency.queue");
        }
    }
}

static void parse_concurrency(loader_t *l, yaml_node_t *map, cfg_concurrency_t *c)
{
    c->enabled = 1;
    c->max_keys = 100000;
    c->queue_timeout_ms = 1000;
    if (mapping(l, map, "concurrency") != 0)
        return;
    int has_limit = 0;
    yaml_node_t *scope_node = NULL;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "limit")) {
            has_limit = 1;
            integer(l, v, "concurrency.limit", 1, 1000000, &c->limit);
        } else if (key_is(k, "per")) {
            key_spec(l, v, "concurrency.per", &c->per);
        } else if (key_is(k, "scope")) {
            int s = (int)c->scope;
            enumeration(l, v, "concurrency.scope", scopes, &s);
            c->scope = (cfg_scope_t)s;
            scope_node = v;
        } else if (key_is(k, "max_keys")) {
            integer(l, v, "concurrency.max_keys", 1, 100000000, &c->max_keys);
        } else if (key_is(k, "queue")) {
            parse_queue(l, v, c);
        } else {
            unknown_key(l, k, "concurrency");
        }
    }
    if (!has_limit)
        error_at(l, map, "concurrency: missing required key \"limit\"");
    if (scope_node != NULL)
        check_scope(l, scope_node, c->scope);
}

static void parse_rate_limit(loader_t *l, yaml_node_t *map, cfg_rate_limit_t *r)
{
    static const char *const on_exceed[] = {"reject", "delay", NULL};
    r->burst = 1;
    r->max_delay_ms = 500;
    r->max_keys = 100000;
    if (mapping(l, map, "rate limit") != 0)
        return;
    int has_rate = 0, has_name = 0;
    yaml_node_t *scope_node = NULL;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "name")) {
            has_name = 1;
            free(r->name);
            r->name = name_value(l, v, "rate limit name");
            /* a global rate limit's Redis keys are PREFIX{route:NAME:key}, next to the route's
             * concurrency slots in PREFIX{route:concurrency:key} */
            if (r->name != NULL && strcmp(r->name, "concurrency") == 0)
                error_at(l, v, "rate limit name \"concurrency\" is reserved (the route's concurrency limit uses it in Redis keys)");
        } else if (key_is(k, "rate")) {
            has_rate = 1;
            char *s = scalar(l, v, "rate");
            const char *why;
            if (s != NULL && cfg_parse_rate(s, &r->count, &r->period_ms, &why) != 0)
                error_at(l, v, "rate: %s, got \"%s\"", why, s);
            free(s);
        } else if (key_is(k, "burst")) {
            integer(l, v, "burst", 1, 1000000000, &r->burst);
        } else if (key_is(k, "per")) {
            key_spec(l, v, "rate limit per", &r->per);
        } else if (key_is(k, "scope")) {
            int s = (int)r->scope;
            enumeration(l, v, "rate limit scope", scopes, &s);
            r->scope = (cfg_scope_t)s;
            scope_node = v;
        } else if (key_is(k, "on_exceed")) {
            int e = (int)r->on_exceed;
            enumeration(l, v, "on_exceed", on_exceed, &e);
            r->on_exceed = (cfg_on_exceed_t)e;
        } else if (key_is(k, "max_delay")) {
            duration(l, v, "max_delay", &r->max_delay_ms);
        } else if (key_is(k, "max_keys")) {
            integer(l, v, "rate limit max_keys", 1, 100000000, &r->max_keys);
        } else {
            unknown_key(l, k, "rate limit");
        }
    }
    if (!has_name)
        error_at(l, map, "rate limit: missing required key \"name\"");
    if (!has_rate)
        error_at(l, map, "rate limit: missing required key \"rate\"");
    if (scope_node != NULL)
        check_scope(l, scope_node, r->scope);
}

static int is_known_method(const char *m)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL};
    for (int i = 0; methods[i] != NULL; ++i)
        if (strcmp(m, methods[i]) == 0)
            return 1;
    return 0;
}

static void parse_match(loader_t *l, yaml_node_t *map, cfg_route_t *r)
{
    if (mapping(l, map, "match") != 0)
        return;
    yaml_node_t *path_node = NULL, *prefix_node = NULL;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "path") || key_is(k, "path_prefix")) {
            int exact = key_is(k, "path");
            char *s = scalar(l, v, exact ? "match.path" : "match.path_prefix");
            if (s != NULL && s[0] != '/') {
                error_at(l, v, "%s must start with '/', got \"%s\"", exact ? "match.path" : "match.path_prefix", s);
                free(s);
                s = NULL;
            }
            if (exact) {
                free(r->path);
                r->path = s;
                path_node = k;
            } else {
                free(r->path_prefix);
                r->path_prefix = s;
                prefix_node = k;
            }
        } else if (key_is(k, "methods")) {
            if (expect(l, v, YAML_SEQUENCE_NODE, "match.methods") != 0)
                continue;
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (n == 0) {
                /* an empty list reads like "no method", yet would mean "any method" */
                error_at(l, v, "match.methods: empty list; omit the key to match any method");
                continue;
            }
            r->methods = cfg_xcalloc(n, sizeof(*r->methods));
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
                yaml_node_t *item = node_of(l, *it);
                char *s = scalar(l, item, "method");
                if (s == NULL)
                    continue;
                for (char *p = s; *p != '\0'; ++p)
                    *p = (char)toupper((unsigned char)*p);
                if (!is_known_method(s)) {
                    error_at(l, item, "unknown HTTP method \"%s\"", s);
                    free(s);
                    continue;
                }
                r->methods[r->num_methods++] = s;
            }
        } else if (key_is(k, "host")) {
            free(r->host);
            r->host = scalar(l, v, "match.host");
            for (char *p = r->host; p != NULL && *p != '\0'; ++p)
                *p = (char)tolower((unsigned char)*p);
        } else if (key_is(k, "headers")) {
            if (mapping(l, v, "match.headers") != 0)
                continue;
            size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
            r->headers = cfg_xcalloc(n, sizeof(*r->headers));
            FOREACH_PAIR(l, v, hk, hv)
            {
                char *name = scalar(l, hk, "header name"), *value = scalar(l, hv, "header value");
                if (name == NULL || value == NULL) {
                    free(name);
                    free(value);
                    continue;
                }
                if (!cfg_is_token(name)) {
                    error_at(l, hk, "match.headers: bad header name \"%s\"", name);
                    free(name);
                    free(value);
                    continue;
                }
                for (char *p = name; *p != '\0'; ++p)
                    *p = (char)tolower((unsigned char)*p);
                /* exact repeats are caught as duplicate keys; X-A and x-a are the same header too */
                size_t j;
                for (j = 0; j != r->num_headers && strcmp(r->headers[j].name, name) != 0; ++j)
                    ;
                if (j != r->num_headers) {
                    error_at(l, hk, "match.headers: header \"%s\" given twice", name);
                    free(name);
                    free(value);
                    continue;
                }
                r->headers[r->num_headers++] = (cfg_header_match_t){name, value};
            }
        } else {
            unknown_key(l, k, "match");
        }
    }
    if (path_node != NULL && prefix_node != NULL)
        error_at(l, prefix_node, "match: path and path_prefix are exclusive; use one");
}

/* How messages name a route: by its name, or by its position when the name is missing or bad. */
static char *route_label(const cfg_route_t *r, size_t index)
{
    return r->name != NULL ? cfg_xasprintf("route \"%s\"", r->name) : cfg_xasprintf("route #%zu", index + 1);
}

static void parse_route(loader_t *l, yaml_node_t *map, cfg_route_t *r, size_t index, const cfg_config_t *c)
{
    r->timeout_ms = 30000;
    if (mapping(l, map, "route") != 0)
        return;
    yaml_node_t *upstream_node = NULL;
    char *upstream_name = NULL;
    int has_name = 0;
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, "name")) {
            has_name = 1;
            free(r->name);
            r->name = name_value(l, v, "route name");
        } else if (key_is(k, "match")) {
            parse_match(l, v, r);
        } else if (key_is(k, "upstream")) {
            free(upstream_name);
            upstream_name = scalar(l, v, "route upstream");
            upstream_node = v;
        } else if (key_is(k, "timeout")) {
            duration(l, v, "route timeout", &r->timeout_ms);
        } else if (key_is(k, "concurrency")) {
            parse_concurrency(l, v, &r->concurrency);
        } else if (key_is(k, "rate_limits")) {
            if (expect(l, v, YAML_SEQUENCE_NODE, "rate_limits") != 0)
                continue;
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            r->rate_limits = cfg_xcalloc(n, sizeof(*r->rate_limits));
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
                yaml_node_t *item = node_of(l, *it);
                cfg_rate_limit_t *rl = &r->rate_limits[r->num_rate_limits++];
                parse_rate_limit(l, item, rl);
                for (size_t j = 0; rl->name != NULL && j + 1 < r->num_rate_limits; ++j)
                    if (r->rate_limits[j].name != NULL && strcmp(r->rate_limits[j].name, rl->name) == 0)
                        error_at(l, item, "duplicate rate limit name \"%s\" in route", rl->name);
            }
        } else if (key_is(k, "errors")) {
            if (mapping(l, v, "errors") != 0)
                continue;
            FOREACH_PAIR(l, v, ek, ev)
            {
                if (key_is(ek, "hide_upstream_5xx"))
                    boolean(l, ev, "errors.hide_upstream_5xx", &r->hide_upstream_5xx);
                else
                    unknown_key(l, ek, "errors");
            }
        } else {
            unknown_key(l, k, "route");
        }
    }
    char *label = route_label(r, index);
    if (!has_name)
        error_at(l, map, "%s: missing required key \"name\"", label);
    if (upstream_node == NULL) {
        error_at(l, map, "%s: missing required key \"upstream\"", label);
    } else if (upstream_name != NULL) {
        size_t i;
        for (i = 0; i != c->num_upstreams; ++i)
            if (c->upstreams[i].name != NULL && strcmp(c->upstreams[i].name, upstream_name) == 0)
                break;
        if (i == c->num_upstreams)
            error_at(l, upstream_node, "%s: unknown upstream \"%s\"", label, upstream_name);
        else
            r->upstream = i;
    }
    free(label);
    free(upstream_name);
}

static void set_default_address(cfg_address_t *a, const char *text)
{
    const char *why;
    if (cfg_parse_address(text, a, &why) != 0)
        abort(); /* the built-in defaults are valid addresses */
    a->text = cfg_xstrdup(text);
}

static void parse_listen(loader_t *l, yaml_node_t *v, cfg_config_t *c)
{
    if (v->type == YAML_SCALAR_NODE) {
        c->listen = cfg_xcalloc(1, sizeof(*c->listen));
        address(l, v, "listen", &c->listen[0]);
        c->num_listen = c->listen[0].host != NULL ? 1 : 0;
        return;
    }
    if (expect(l, v, YAML_SEQUENCE_NODE, "listen") != 0)
        return;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) {
        error_at(l, v, "listen: needs at least one address");
        return;
    }
    c->listen = cfg_xcalloc(n, sizeof(*c->listen));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
        address(l, node_of(l, *it), "listen", &c->listen[c->num_listen]);
        if (c->listen[c->num_listen].host != NULL)
            ++c->num_listen;
    }
}

static yaml_node_t *find_key(loader_t *l, yaml_node_t *map, const char *name)
{
    FOREACH_PAIR(l, map, k, v)
    {
        if (key_is(k, name))
            return v;
    }
    return NULL;
}

static void parse_root(loader_t *l, yaml_node_t *root, cfg_config_t *c)
{
    /* upstreams and the redis block first: routes refer to them */
    yaml_node_t *redis = find_key(l, root, "redis");
    l->has_redis_block = redis != NULL;
    c->redis.timeout_ms = 25;
    c->redis.prefix = cfg_xstrdup("sluice:");
    c->redis.instances = 1;
    c->redis.slot_lease_ms = 10000;
    if (redis != NULL)
        parse_redis(l, redis, &c->redis);
    yaml_node_t *ups = find_key(l, root, "upstreams");
    if (ups != NULL && mapping(l, ups, "upstreams") == 0) {
        size_t n = (size_t)(ups->data.mapping.pairs.top - ups->data.mapping.pairs.start);
        if (n == 0)
            error_at(l, ups, "no upstreams: at least one upstream is needed");
        c->upstreams = cfg_xcalloc(n, sizeof(*c->upstreams));
        FOREACH_PAIR(l, ups, k, v)
        {
            cfg_upstream_t *u = &c->upstreams[c->num_upstreams++];
            parse_upstream(l, k, v, u);
            /* identical keys were reported by mapping(); this catches two keys that ${VAR} made equal */
            for (size_t j = 0; u->name != NULL && j + 1 < c->num_upstreams; ++j)
                if (c->upstreams[j].name != NULL && strcmp(c->upstreams[j].name, u->name) == 0)
                    error_at(l, k, "duplicate upstream name \"%s\"", u->name);
        }
    }

    FOREACH_PAIR(l, root, k, v)
    {
        if (key_is(k, "listen")) {
            parse_listen(l, v, c);
        } else if (key_is(k, "admin")) {
            address(l, v, "admin", &c->admin);
        } else if (key_is(k, "drain_delay")) {
            parse_number(l, v, "drain_delay", cfg_parse_duration, 0, &c->drain_delay_ms);
        } else if (key_is(k, "shutdown_timeout")) {
            duration(l, v, "shutdown_timeout", &c->shutdown_timeout_ms);
        } else if (key_is(k, "client")) {
            parse_client(l, v, &c->client);
        } else if (key_is(k, "routes")) {
            if (expect(l, v, YAML_SEQUENCE_NODE, "routes") != 0)
                continue;
            size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (n == 0)
                error_at(l, v, "no routes: at least one route is needed");
            c->routes = cfg_xcalloc(n, sizeof(*c->routes));
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; ++it) {
                yaml_node_t *item = node_of(l, *it);
                cfg_route_t *r = &c->routes[c->num_routes++];
                parse_route(l, item, r, c->num_routes - 1, c);
                for (size_t j = 0; r->name != NULL && j + 1 < c->num_routes; ++j)
                    if (c->routes[j].name != NULL && strcmp(c->routes[j].name, r->name) == 0)
                        error_at(l, item, "duplicate route name \"%s\"", r->name);
            }
        } else if (!key_is(k, "upstreams") && !key_is(k, "redis")) {
            unknown_key(l, k, "the top level");
        }
    }
    if (find_key(l, root, "routes") == NULL)
        error_at(l, root, "no routes: the file needs a routes: list");
    if (find_key(l, root, "upstreams") == NULL)
        error_at(l, root, "no upstreams: the file needs an upstreams: mapping");
}

static void set_defaults(cfg_config_t *c)
{
    c->admin.kind = CFG_ADDR_TCP;
    c->drain_delay_ms = 5000;
    c->shutdown_timeout_ms = 30000;
    c->client.header_timeout_ms = 10000;
    c->client.idle_timeout_ms = 60000;
    c->client.max_body = 10 * 1024 * 1024;
}

cfg_config_t *cfg_load_string(const char *yaml, size_t len, const char *source_name, cfg_errors_t *errors)
{
    loader_t l = {.source = source_name, .errors = errors};
    int found = cfg_yaml_load(yaml, len, source_name, &l.yaml, errors);
    if (found < 0) {
        /* nothing after a syntax error has a tree to check */
        cfg_yaml_free(&l.yaml);
        return NULL;
    }
    l.num_errors = (size_t)found;

    cfg_config_t *c = cfg_xcalloc(1, sizeof(*c));
    c->source = cfg_xstrdup(source_name);
    set_defaults(c);
    yaml_node_t *root = l.yaml.has_doc ? yaml_document_get_root_node(&l.yaml.doc) : NULL;
    if (root == NULL || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        error_at(&l, NULL, "the file is empty: it needs at least upstreams: and routes:");
    } else if (root->type != YAML_MAPPING_NODE) {
        error_at(&l, root, "the top level must be a mapping, got %s", type_name(root));
    } else {
        mapping(&l, root, "the top level");
        parse_root(&l, root, c);
    }
    cfg_yaml_free(&l.yaml);

    if (l.num_errors != 0) {
        cfg_free(c);
        return NULL;
    }
    if (c->num_listen == 0) {
        c->listen = cfg_xcalloc(1, sizeof(*c->listen));
        set_default_address(&c->listen[0], "0.0.0.0:8080");
        c->num_listen = 1;
    }
    if (c->admin.host == NULL)
        set_default_address(&c->admin, "127.0.0.1:9901");
    return c;
}

cfg_config_t *cfg_load_file(const char *path, cfg_errors_t *errors)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        cfg_errors_add(errors, cfg_xasprintf("%s: cannot open: %s", path, strerror(errno)));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 65536 > cap) {
            cap = (len + 65536) * 2;
            buf = cfg_xrealloc(buf, cap);
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n != 0);
    /* fopen() succeeds on a directory; only the read says EISDIR */
    int failed = ferror(fp), err = errno;
    fclose(fp);
    cfg_config_t *c = NULL;
    if (failed)
        cfg_errors_add(errors, cfg_xasprintf("%s: cannot read: %s", path, strerror(err)));
    else
        c = cfg_load_string(buf, len, path, errors);
    free(buf);
    return c;
}

static void free_address(cfg_address_t *a)
{
    free(a->text);
    free(a->host);
}

static void free_key(cfg_key_t *k)
{
    free(k->name);
    free(k->text);
}

void cfg_free(cfg_config_t *c)
{
    if (c == NULL)
        return;
    free(c->source);
    for (size_t i = 0; i != c->num_listen; ++i)
        free_address(&c->listen[i]);
    free(c->listen);
    free_address(&c->admin);
    for (size_t i = 0; i != c->client.num_trusted_proxies; ++i)
        free(c->client.trusted_proxies[i].text);
    free(c->client.trusted_proxies);
    free_address(&c->redis.address);
    free(c->redis.password);
    free(c->redis.prefix);
    for (size_t i = 0; i != c->num_upstreams; ++i) {
        free(c->upstreams[i].name);
        free_address(&c->upstreams[i].address);
    }
    free(c->upstreams);
    for (size_t i = 0; i != c->num_routes; ++i) {
        cfg_route_t *r = &c->routes[i];
        free(r->name);
        free(r->path);
        free(r->path_prefix);
        for (size_t j = 0; j != r->num_methods; ++j)
            free(r->methods[j]);
        free(r->methods);
        free(r->host);
        for (size_t j = 0; j != r->num_headers; ++j) {
            free(r->headers[j].name);
            free(r->headers[j].value);
        }
        free(r->headers);
        free_key(&r->concurrency.per);
        for (size_t j = 0; j != r->num_rate_limits; ++j) {
            free(r->rate_limits[j].name);
            free_key(&r->rate_limits[j].per);
        }
        free(r->rate_limits);
    }
    free(c->routes);
    free(c);
}

void cfg_errors_clear(cfg_errors_t *errors)
{
    for (size_t i = 0; i != errors->count; ++i)
        free(errors->items[i]);
    free(errors->items);
    errors->items = NULL;
    errors->count = 0;
}
