#include "cfg_route.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_mem.h"
#include "cfg_units.h"

#define FIELD(k, kind_, type, member, what_, ...)                                                                                  \
    {                                                                                                                              \
        .key = k, .kind = kind_, .offset = offsetof(type, member), .what = what_, __VA_ARGS__                                      \
    }
#define CUSTOM(k, fn, kids)                                                                                                        \
    {                                                                                                                              \
        .key = k, .kind = CFG_F_CUSTOM, .read = fn, .children = kids                                                               \
    }
#define LATER(k, kids)                                                                                                             \
    {                                                                                                                              \
        .key = k, .kind = CFG_F_LATER, .children = kids                                                                            \
    }
#define END                                                                                                                        \
    {                                                                                                                              \
        .key = NULL                                                                                                                \
    }

static const char *const scopes[] = {"local", "global", NULL};
static const char *const orders[] = {"fifo", "lifo", NULL};
static const char *const on_exceed[] = {"reject", "delay", NULL};
/* ${NAME} in request_headers.set values that the gateway fills in per request */
static const char *const runtime_vars[] = {"client_ip", "request_id", "route", "host", NULL};

#define MAX_SET_HEADERS 64
#define MAX_LEVELS 16

/* ---- match ---- */

static void read_path(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    cfg_route_t *r = obj;
    int exact = cfg_key_is(k, "path");
    const char *what = exact ? "match.path" : "match.path_prefix";
    char *s = cfg_scalar(l, v, what);
    const char *why;
    if (s != NULL && cfg_check_route_path(s, &why) != 0) {
        cfg_error_at(l, v, "%s: %s, got \"%s\"", what, why, s);
        free(s);
        return;
    }
    char **dst = exact ? &r->path : &r->path_prefix;
    free(*dst);
    *dst = s;
}

static int is_known_method(const char *m)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", NULL};
    for (int i = 0; methods[i] != NULL; ++i)
        if (strcmp(m, methods[i]) == 0)
            return 1;
    return 0;
}

static void read_methods(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, "match.methods") != 0)
        return;
    size_t n = cfg_seq_len(v);
    if (n == 0) {
        /* an empty list reads like "no method", yet would mean "any method" */
        cfg_error_at(l, v, "match.methods: empty list; omit the key to match any method");
        return;
    }
    r->methods = cfg_xcalloc(n, sizeof(*r->methods));
    CFG_FOREACH_ITEM(l, v, item)
    {
        char *s = cfg_scalar(l, item, "method");
        if (s == NULL)
            continue;
        for (char *p = s; *p != '\0'; ++p)
            *p = (char)toupper((unsigned char)*p);
        if (!is_known_method(s)) {
            cfg_error_at(l, item, "unknown HTTP method \"%s\"", s);
            free(s);
            continue;
        }
        r->methods[r->num_methods++] = s;
    }
}

static void lower(char *s)
{
    for (; s != NULL && *s != '\0'; ++s)
        *s = (char)tolower((unsigned char)*s);
}

static void read_host(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    char *s = cfg_scalar(l, v, "match.host");
    const char *why;
    if (s != NULL && cfg_check_route_host(s, &why) != 0) {
        cfg_error_at(l, v, "match.host: %s, got \"%s\"", why, s);
        free(s);
        return;
    }
    lower(s);
    free(r->host);
    r->host = s;
}

static int has_cr_lf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* The pairs of a mapping of header name -> value: names are HTTP tokens (lower-cased here), given
 * once, at most `max` of them. Values are read with `value` (NULL: refused). Appends to *out. */
static void read_header_map(cfg_loader_t *l, yaml_node_t *v, const char *what, size_t max,
                            char *(*value)(cfg_loader_t *l, const yaml_node_t *node, const char *what), cfg_header_t **out,
                            size_t *num, const char *(*refused)(const char *name))
{
    if (cfg_mapping(l, v, what) != 0)
        return;
    size_t n = cfg_map_len(v);
    if (n > max) {
        cfg_error_at(l, v, "%s: at most %zu headers, got %zu", what, max, n);
        return;
    }
    *out = cfg_xcalloc(n, sizeof(**out));
    CFG_FOREACH_PAIR(l, v, hk, hv)
    {
        char *name = cfg_scalar(l, hk, "header name"), *val = value(l, hv, "header value");
        if (name == NULL || val == NULL) {
            free(name);
            free(val);
            continue;
        }
        lower(name);
        /* exact repeats are caught as duplicate keys; X-A and x-a are the same header too */
        size_t j;
        for (j = 0; j != *num && strcmp((*out)[j].name, name) != 0; ++j)
            ;
        const char *why;
        if (!cfg_is_token(name))
            cfg_error_at(l, hk, "%s: bad header name \"%s\"", what, name);
        else if (refused != NULL && (why = refused(name)) != NULL)
            cfg_error_at(l, hk, "%s: %s", what, why);
        else if (has_cr_lf(val))
            cfg_error_at(l, hv, "%s: the value of \"%s\" holds a CR or LF (a header value is one line)", what, name);
        else if (j != *num)
            cfg_error_at(l, hk, "%s: header \"%s\" given twice", what, name);
        else {
            (*out)[(*num)++] = (cfg_header_t){name, val};
            continue;
        }
        free(name);
        free(val);
    }
}

static void read_match_headers(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    /* at most a mapping's worth; looked up one by one (pairwise), hence a bound */
    read_header_map(l, v, "match.headers", MAX_SET_HEADERS, cfg_scalar, &r->headers, &r->num_headers, NULL);
}

static const cfg_field_t match_fields[] = {
    CUSTOM("path", read_path, NULL), CUSTOM("path_prefix", read_path, NULL),      CUSTOM("methods", read_methods, NULL),
    CUSTOM("host", read_host, NULL), CUSTOM("headers", read_match_headers, NULL), END};

static void read_match(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_given_t given[8] = {{0}};
    if (cfg_read_block(l, v, "match", match_fields, obj, given) != 0)
        return;
    cfg_given_t path = cfg_given(match_fields, given, "path"), prefix = cfg_given(match_fields, given, "path_prefix");
    if (path.key != NULL && prefix.key != NULL)
        cfg_error_at(l, prefix.key, "match: path and path_prefix are exclusive; use one");
}

/* ---- concurrency ---- */

static void read_limit(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_concurrency_t *cc = obj;
    char *s = cfg_scalar(l, v, "concurrency.limit");
    if (s != NULL && strcmp(s, "auto") == 0)
        cc->adaptive = 1;
    else if (s != NULL)
        cfg_read_uint32(l, v, "concurrency.limit", 1, 1000000, &cc->limit);
    free(s);
}

static const cfg_field_t queue_fields[] = {
    FIELD("size", CFG_F_UINT32, cfg_concurrency_t, queue_size, "queue.size", .min = 0, .max = 1000000),
    FIELD("timeout", CFG_F_DURATION, cfg_concurrency_t, queue_timeout_ms, "queue.timeout", .min = 1),
    FIELD("order", CFG_F_ENUM, cfg_concurrency_t, queue_order, "queue.order", .names = orders), END};

static const cfg_field_t adaptive_fields[] = {
    FIELD("min", CFG_F_UINT32, cfg_concurrency_t, adaptive_min, "adaptive.min", .min = 1, .max = 1000000),
    FIELD("max", CFG_F_UINT32, cfg_concurrency_t, adaptive_max, "adaptive.max", .min = 1, .max = 1000000),
    FIELD("initial", CFG_F_UINT32, cfg_concurrency_t, adaptive_initial, "adaptive.initial", .min = 1, .max = 1000000), END};

static const cfg_field_t concurrency_fields[] = {
    FIELD("name", CFG_F_NAME, cfg_concurrency_t, name, "concurrency name"),
    CUSTOM("limit", read_limit, NULL),
    LATER("adaptive", adaptive_fields),
    FIELD("per", CFG_F_KEYSPEC, cfg_concurrency_t, per, "concurrency.per"),
    FIELD("scope", CFG_F_ENUM, cfg_concurrency_t, scope, "concurrency.scope", .names = scopes),
    FIELD("max_keys", CFG_F_UINT32, cfg_concurrency_t, max_keys, "concurrency.max_keys", .min = 1, .max = 100000000),
    FIELD("max_key_length", CFG_F_SIZE32, cfg_concurrency_t, max_key_length, "concurrency.max_key_length", .min = 16, .max = 65536),
    /* the queue's fields are the limit's own (offset 0) */
    {.key = "queue", .kind = CFG_F_BLOCK, .offset = 0, .what = "concurrency.queue", .children = queue_fields},
    FIELD("hold_aborted", CFG_F_DURATION, cfg_concurrency_t, hold_aborted_ms, "concurrency.hold_aborted", .min = 0),
    END};

static void check_scope(cfg_loader_t *l, const yaml_node_t *node, cfg_scope_t scope)
{
    if (node != NULL && scope == CFG_SCOPE_GLOBAL && !l->has_redis_block)
        cfg_error_at(l, node, "scope: global needs a redis: block");
}

static void read_adaptive(cfg_loader_t *l, yaml_node_t *map, cfg_concurrency_t *cc)
{
    cfg_given_t given[4] = {{0}};
    if (cfg_read_block(l, map, "concurrency.adaptive", adaptive_fields, cc, given) != 0)
        return;
    if (cfg_given(adaptive_fields, given, "initial").key == NULL) {
        /* the default start, within the bounds given */
        cc->adaptive_initial = cc->adaptive_initial < cc->adaptive_min ? cc->adaptive_min : cc->adaptive_initial;
        cc->adaptive_initial = cc->adaptive_initial > cc->adaptive_max ? cc->adaptive_max : cc->adaptive_initial;
    }
    if (!(cc->adaptive_min <= cc->adaptive_initial && cc->adaptive_initial <= cc->adaptive_max))
        cfg_error_at(l, map, "concurrency.adaptive: needs min <= initial <= max, got min %u, initial %u, max %u", cc->adaptive_min,
                     cc->adaptive_initial, cc->adaptive_max);
}

/* One concurrency limit; default_name is the name of the mapping form (NULL in a list, where the
 * name is required). */
static void read_concurrency_limit(cfg_loader_t *l, yaml_node_t *map, cfg_concurrency_t *cc, const char *default_name)
{
    cc->max_keys = 100000;
    cc->max_key_length = 256;
    cc->queue_timeout_ms = 1000;
    cc->adaptive_min = 1;
    cc->adaptive_max = 1000;
    cc->adaptive_initial = 16;
    cfg_given_t given[16] = {{0}};
    if (cfg_read_block(l, map, "concurrency", concurrency_fields, cc, given) != 0)
        return;
    cfg_given_t name = cfg_given(concurrency_fields, given, "name"), limit = cfg_given(concurrency_fields, given, "limit"),
                adaptive = cfg_given(concurrency_fields, given, "adaptive"), scope = cfg_given(concurrency_fields, given, "scope");
    if (name.key == NULL && default_name != NULL)
        cc->name = cfg_xstrdup(default_name);
    else if (name.key == NULL)
        cfg_error_at(l, map, "concurrency: missing required key \"name\" (each limit of a list has one)");
    if (limit.key == NULL)
        cfg_error_at(l, map, "concurrency: missing required key \"limit\"");
    if (adaptive.key != NULL && cc->adaptive)
        read_adaptive(l, adaptive.value, cc);
    else if (adaptive.key != NULL && cc->limit != 0)
        cfg_error_at(l, adaptive.key, "concurrency.adaptive: only with limit: auto (this limit is fixed)");
    if (cc->adaptive) {
        cc->limit = cc->adaptive_initial;
        if (cc->scope == CFG_SCOPE_GLOBAL && scope.value != NULL) {
            cfg_error_at(l, scope.value,
                         "concurrency: limit: auto is adaptive, and adaptive limits are local to each instance; "
                         "give a number for scope: global");
            return;
        }
    }
    check_scope(l, scope.value, cc->scope);
}

static void read_concurrency(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    if (v->type == YAML_MAPPING_NODE) {
        r->concurrency = cfg_xcalloc(1, sizeof(*r->concurrency));
        r->num_concurrency = 1;
        read_concurrency_limit(l, v, &r->concurrency[0], "concurrency");
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        cfg_error_at(l, v, "concurrency: expected a mapping (one limit) or a list of them, got %s", cfg_type_name(v));
        return;
    }
    size_t n = cfg_seq_len(v);
    if (n == 0 || n > CFG_MAX_CONCURRENCY_LIMITS) {
        cfg_error_at(l, v, "concurrency: a list needs 1 to %d limits, got %zu", CFG_MAX_CONCURRENCY_LIMITS, n);
        return;
    }
    r->concurrency = cfg_xcalloc(n, sizeof(*r->concurrency));
    CFG_FOREACH_ITEM(l, v, item)
    read_concurrency_limit(l, item, &r->concurrency[r->num_concurrency++], NULL);
}

/* ---- rate limits ---- */

static void read_rate(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_rate_limit_t *rl = obj;
    char *s = cfg_scalar(l, v, "rate");
    const char *why;
    if (s != NULL && cfg_parse_rate(s, &rl->count, &rl->period_ms, &why) != 0)
        cfg_error_at(l, v, "rate: %s, got \"%s\"", why, s);
    free(s);
}

static const cfg_field_t rate_limit_fields[] = {
    FIELD("name", CFG_F_NAME, cfg_rate_limit_t, name, "rate limit name"),
    CUSTOM("rate", read_rate, NULL),
    FIELD("burst", CFG_F_UINT32, cfg_rate_limit_t, burst, "burst", .min = 1, .max = 1000000000),
    FIELD("per", CFG_F_KEYSPEC, cfg_rate_limit_t, per, "rate limit per"),
    FIELD("fair", CFG_F_KEYSPEC, cfg_rate_limit_t, fair, "rate limit fair"),
    FIELD("scope", CFG_F_ENUM, cfg_rate_limit_t, scope, "rate limit scope", .names = scopes),
    FIELD("on_exceed", CFG_F_ENUM, cfg_rate_limit_t, on_exceed, "on_exceed", .names = on_exceed),
    FIELD("max_delay", CFG_F_DURATION, cfg_rate_limit_t, max_delay_ms, "max_delay", .min = 1),
    FIELD("max_keys", CFG_F_UINT32, cfg_rate_limit_t, max_keys, "rate limit max_keys", .min = 1, .max = 100000000),
    FIELD("max_key_length", CFG_F_SIZE32, cfg_rate_limit_t, max_key_length, "rate limit max_key_length", .min = 16, .max = 65536),
    END};

static void read_rate_limit(cfg_loader_t *l, yaml_node_t *map, cfg_rate_limit_t *rl)
{
    rl->burst = 1;
    rl->max_delay_ms = 500;
    rl->max_keys = 100000;
    rl->max_key_length = 256;
    cfg_given_t given[16] = {{0}};
    if (cfg_read_block(l, map, "rate limit", rate_limit_fields, rl, given) != 0)
        return;
    cfg_given_t name = cfg_given(rate_limit_fields, given, "name");
    /* a global rate limit's Redis keys are PREFIX{route:NAME:key}, where the concurrency limit of
     * the mapping form keeps its slots under the name "concurrency" */
    if (rl->name != NULL && strcmp(rl->name, "concurrency") == 0)
        cfg_error_at(l, name.value,
                     "rate limit name \"concurrency\" is reserved (the route's concurrency limit uses it in Redis keys)");
    if (name.key == NULL)
        cfg_error_at(l, map, "rate limit: missing required key \"name\"");
    if (cfg_given(rate_limit_fields, given, "rate").key == NULL)
        cfg_error_at(l, map, "rate limit: missing required key \"rate\"");
    check_scope(l, cfg_given(rate_limit_fields, given, "scope").value, rl->scope);
    cfg_given_t fair = cfg_given(rate_limit_fields, given, "fair");
    if (fair.key != NULL && rl->scope == CFG_SCOPE_GLOBAL)
        cfg_error_at(l, fair.key, "rate limit fair: only with scope local (each instance shares its own bucket fairly)");
    if (fair.key != NULL && rl->per.num_keys != 0)
        cfg_error_at(l, fair.key, "rate limit fair: only without per (a bucket per key has no one to share with)");
}

static void read_rate_limits(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, "rate_limits") != 0)
        return;
    r->rate_limits = cfg_xcalloc(cfg_seq_len(v), sizeof(*r->rate_limits));
    CFG_FOREACH_ITEM(l, v, item)
    read_rate_limit(l, item, &r->rate_limits[r->num_rate_limits++]);
}

/* ---- circuit breaker ---- */

static void read_percent(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_circuit_breaker_t *cb = obj;
    char *s = cfg_scalar(l, v, "circuit_breaker.failure_rate");
    if (s == NULL)
        return;
    size_t n = strlen(s);
    char *digits = cfg_xstrndup(s, n != 0 && s[n - 1] == '%' ? n - 1 : n);
    uint64_t pct;
    const char *why;
    if (cfg_parse_uint(digits, 100, &pct, &why) != 0 || pct == 0)
        cfg_error_at(l, v, "circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%%), got \"%s\"", s);
    else
        cb->failure_rate = (uint32_t)pct;
    free(digits);
    free(s);
}

static const cfg_field_t breaker_fields[] = {
    FIELD("failures", CFG_F_UINT32, cfg_circuit_breaker_t, failures, "circuit_breaker.failures", .min = 1, .max = 1000000),
    FIELD("open_for", CFG_F_DURATION, cfg_circuit_breaker_t, open_for_ms, "circuit_breaker.open_for", .min = 1),
    FIELD("half_open", CFG_F_UINT32, cfg_circuit_breaker_t, half_open, "circuit_breaker.half_open", .min = 1, .max = 1000),
    CUSTOM("failure_rate", read_percent, NULL),
    FIELD("window", CFG_F_DURATION, cfg_circuit_breaker_t, window_ms, "circuit_breaker.window", .min = 1),
    FIELD("min_requests", CFG_F_UINT32, cfg_circuit_breaker_t, min_requests, "circuit_breaker.min_requests", .min = 1,
          .max = 1000000),
    FIELD("per", CFG_F_KEYSPEC, cfg_circuit_breaker_t, per, "circuit_breaker.per"),
    FIELD("max_keys", CFG_F_UINT32, cfg_circuit_breaker_t, max_keys, "circuit_breaker.max_keys", .min = 1, .max = 100000000),
    FIELD("max_key_length", CFG_F_SIZE32, cfg_circuit_breaker_t, max_key_length, "circuit_breaker.max_key_length", .min = 16,
          .max = 65536),
    END};

static void read_circuit_breaker(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_circuit_breaker_t *cb = &((cfg_route_t *)obj)->circuit_breaker;
    cfg_given_t given[16] = {{0}};
    cb->enabled = 1;
    if (cfg_read_block(l, v, "circuit_breaker", breaker_fields, cb, given) != 0)
        return;
    if (cb->failure_rate != 0)
        return;
    /* nothing is silently ignored: these only mean something with failure_rate */
    static const char *const rate_only[] = {"window", "min_requests"};
    for (size_t i = 0; i != 2; ++i) {
        cfg_given_t g = cfg_given(breaker_fields, given, rate_only[i]);
        if (g.key != NULL && cfg_given(breaker_fields, given, "failure_rate").key == NULL)
            cfg_error_at(l, g.key, "circuit_breaker.%s: only with failure_rate (without it, `failures` in a row open the breaker)",
                         rate_only[i]);
    }
}

/* ---- priority ---- */

static void read_levels(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_priority_t *p = obj;
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, "priority.levels") != 0)
        return;
    size_t n = cfg_seq_len(v);
    if (n < 2 || n > MAX_LEVELS) {
        cfg_error_at(l, v, "priority.levels: needs 2 to %d levels, got %zu", MAX_LEVELS, n);
        return;
    }
    char **levels = cfg_xcalloc(n, sizeof(*levels));
    size_t num = 0;
    int ok = 1;
    CFG_FOREACH_ITEM(l, v, item)
    {
        char *s = cfg_read_name(l, item, "priority.levels");
        size_t j;
        for (j = 0; s != NULL && j != num && strcmp(levels[j], s) != 0; ++j)
            ;
        if (s != NULL && j != num) {
            cfg_error_at(l, item, "priority.levels: \"%s\" given twice", s);
            free(s);
            s = NULL;
        }
        if (s == NULL)
            ok = 0;
        else
            levels[num++] = s;
    }
    if (ok) {
        p->levels = levels;
        p->num_levels = num;
        return;
    }
    for (size_t i = 0; i != num; ++i)
        free(levels[i]);
    free(levels);
}

static const cfg_field_t priority_fields[] = {FIELD("from", CFG_F_KEY, cfg_priority_t, from, "priority.from"),
                                              CUSTOM("levels", read_levels, NULL), LATER("default", NULL), END};

static void read_priority(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_priority_t *p = &((cfg_route_t *)obj)->priority;
    cfg_given_t given[4] = {{0}};
    p->enabled = 1;
    if (cfg_read_block(l, v, "priority", priority_fields, p, given) != 0)
        return;
    for (const cfg_field_t *f = priority_fields; f->key != NULL; ++f)
        if (given[f - priority_fields].key == NULL)
            cfg_error_at(l, v, "priority: missing required key \"%s\"", f->key);
    cfg_given_t def = cfg_given(priority_fields, given, "default");
    char *name = def.value != NULL ? cfg_read_name(l, def.value, "priority.default") : NULL;
    if (name == NULL || p->num_levels == 0) {
        free(name);
        return;
    }
    for (p->default_level = 0; p->default_level != p->num_levels && strcmp(p->levels[p->default_level], name) != 0;
         ++p->default_level)
        ;
    if (p->default_level == p->num_levels)
        cfg_error_at(l, def.value, "priority.default: \"%s\" is not one of the levels", name);
    free(name);
}

/* ---- websocket, request headers, errors ---- */

static const cfg_field_t websocket_fields[] = {
    FIELD("allow", CFG_F_BOOL, cfg_websocket_t, allow, "websocket.allow"),
    FIELD("max_connections", CFG_F_UINT32, cfg_websocket_t, max_connections, "websocket.max_connections", .min = 1, .max = 1000000),
    FIELD("idle_timeout", CFG_F_DURATION, cfg_websocket_t, idle_timeout_ms, "websocket.idle_timeout", .min = 1), END};

/* Why sluice keeps a header to itself, or NULL. */
static const char *owned_by_sluice(const char *name)
{
    static const struct {
        const char *name, *why;
    } owned[] = {
        {"host", "sluice owns \"host\" (the upstream gets the request's Host)"},
        {"content-length", "sluice owns \"content-length\" (it frames the request body)"},
        {"transfer-encoding", "sluice owns \"transfer-encoding\" (it frames the request body)"},
        {"connection", "sluice owns \"connection\" (hop-by-hop: it manages the upstream connection)"},
        {"keep-alive", "sluice owns \"keep-alive\" (hop-by-hop: it manages the upstream connection)"},
        {"proxy-connection", "sluice owns \"proxy-connection\" (hop-by-hop: it manages the upstream connection)"},
        {"te", "sluice owns \"te\" (hop-by-hop: it manages the upstream connection)"},
        {"upgrade", "sluice owns \"upgrade\" (hop-by-hop; WebSocket tunnels are set with websocket:)"},
        {"x-forwarded-for", "sluice owns \"x-forwarded-for\" (it appends the client address; see client.trusted_proxies)"},
        {"x-request-id", "sluice owns \"x-request-id\" (the client's id if well-formed, else a fresh one)"},
        {"x-request-timeout-ms", "sluice owns \"x-request-timeout-ms\" (the time left before the route's deadline)"},
    };
    for (size_t i = 0; i != sizeof(owned) / sizeof(owned[0]); ++i)
        if (strcmp(owned[i].name, name) == 0)
            return owned[i].why;
    return NULL;
}

static char *header_template(cfg_loader_t *l, const yaml_node_t *node, const char *what)
{
    return cfg_template(l, node, what, runtime_vars);
}

static void read_set_headers(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    read_header_map(l, v, "request_headers.set", MAX_SET_HEADERS, header_template, &r->set_headers, &r->num_set_headers,
                    owned_by_sluice);
}

static void read_remove_headers(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    const char *what = "request_headers.remove";
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, what) != 0)
        return;
    size_t n = cfg_seq_len(v);
    if (n > MAX_SET_HEADERS) {
        cfg_error_at(l, v, "%s: at most %d headers, got %zu", what, MAX_SET_HEADERS, n);
        return;
    }
    r->remove_headers = cfg_xcalloc(n, sizeof(*r->remove_headers));
    CFG_FOREACH_ITEM(l, v, item)
    {
        char *name = cfg_scalar(l, item, "header name");
        const char *why;
        if (name == NULL)
            continue;
        lower(name);
        size_t j;
        for (j = 0; j != r->num_remove_headers && strcmp(r->remove_headers[j], name) != 0; ++j)
            ;
        if (!cfg_is_token(name))
            cfg_error_at(l, item, "%s: bad header name \"%s\"", what, name);
        else if ((why = owned_by_sluice(name)) != NULL)
            cfg_error_at(l, item, "%s: %s", what, why);
        else if (j != r->num_remove_headers)
            cfg_error_at(l, item, "%s: header \"%s\" given twice", what, name);
        else {
            r->remove_headers[r->num_remove_headers++] = name;
            continue;
        }
        free(name);
    }
}

static const cfg_field_t request_headers_fields[] = {CUSTOM("set", read_set_headers, NULL),
                                                     CUSTOM("remove", read_remove_headers, NULL), END};

static void read_request_headers(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_route_t *r = obj;
    cfg_given_t given[4] = {{0}};
    if (cfg_read_block(l, v, "request_headers", request_headers_fields, r, given) != 0)
        return;
    yaml_node_t *remove = cfg_given(request_headers_fields, given, "remove").value;
    for (size_t i = 0; i != r->num_remove_headers; ++i)
        for (size_t j = 0; j != r->num_set_headers; ++j)
            if (strcmp(r->remove_headers[i], r->set_headers[j].name) == 0)
                cfg_error_at(l, remove, "request_headers: \"%s\" is both set and removed", r->remove_headers[i]);
}

const cfg_field_t cfg_errors_fields[] = {
    FIELD("hide_upstream_5xx", CFG_F_BOOL, cfg_errors_policy_t, hide_upstream_5xx, "errors.hide_upstream_5xx"),
    FIELD("scrub_tracebacks", CFG_F_BOOL, cfg_errors_policy_t, scrub_tracebacks, "errors.scrub_tracebacks"), END};

/* ---- routes ---- */

const cfg_field_t cfg_route_fields[] = {
    FIELD("name", CFG_F_NAME, cfg_route_t, name, "route name"),
    CUSTOM("match", read_match, match_fields),
    LATER("upstream", NULL),
    FIELD("timeout", CFG_F_DURATION, cfg_route_t, timeout_ms, "route timeout", .min = 1),
    FIELD("max_body", CFG_F_SIZE, cfg_route_t, max_body, "route max_body", .min = 0),
    CUSTOM("concurrency", read_concurrency, concurrency_fields),
    CUSTOM("rate_limits", read_rate_limits, rate_limit_fields),
    CUSTOM("circuit_breaker", read_circuit_breaker, breaker_fields),
    CUSTOM("priority", read_priority, priority_fields),
    FIELD("websocket", CFG_F_BLOCK, cfg_route_t, websocket, "websocket", .children = websocket_fields),
    CUSTOM("request_headers", read_request_headers, request_headers_fields),
    FIELD("errors", CFG_F_BLOCK, cfg_route_t, errors, "errors", .children = cfg_errors_fields),
    END};

/* How messages name a route: by its name, or by its position when the name is missing or bad. */
static char *route_label(const cfg_route_t *r, size_t index)
{
    return r->name != NULL ? cfg_xasprintf("route \"%s\"", r->name) : cfg_xasprintf("route #%zu", index + 1);
}

/* The node of limit i of a route's concurrency (a mapping, or a list of them) or rate_limits. */
static yaml_node_t *limit_node(cfg_loader_t *l, yaml_node_t *block, size_t i)
{
    return block->type == YAML_SEQUENCE_NODE ? cfg_node(l, block->data.sequence.items.start[i]) : block;
}

/* Concurrency and rate limits share the key space PREFIX{route:NAME:key} in Redis. */
static void check_limit_names(cfg_loader_t *l, cfg_route_t *r, yaml_node_t *conc, yaml_node_t *rates)
{
    size_t n = r->num_concurrency + r->num_rate_limits;
    const char **names = cfg_xcalloc(n, sizeof(*names));
    size_t *first = cfg_xcalloc(n, sizeof(*first));
    for (size_t i = 0; i != r->num_concurrency; ++i)
        names[i] = r->concurrency[i].name;
    for (size_t i = 0; i != r->num_rate_limits; ++i)
        names[r->num_concurrency + i] = r->rate_limits[i].name;
    cfg_first_occurrences(names, n, first);
    for (size_t i = 0; i != n; ++i) {
        if (first[i] == i)
            continue;
        if (i < r->num_concurrency) {
            cfg_error_at(l, limit_node(l, conc, i), "duplicate concurrency limit name \"%s\" in route", names[i]);
        } else if (first[i] >= r->num_concurrency) {
            cfg_error_at(l, limit_node(l, rates, i - r->num_concurrency), "duplicate rate limit name \"%s\" in route", names[i]);
        } else if (strcmp(names[i], "concurrency") != 0) { /* that one is reported as reserved */
            cfg_error_at(l, limit_node(l, rates, i - r->num_concurrency),
                         "rate limit name \"%s\" is taken by a concurrency limit of the route (their Redis keys would be the same)",
                         names[i]);
        }
    }
    free(names);
    free(first);
}

typedef struct st_upstream_index_t {
    const char *name;
    size_t index;
} upstream_index_t;

static int compare_upstream(const void *pa, const void *pb)
{
    return strcmp(((const upstream_index_t *)pa)->name, ((const upstream_index_t *)pb)->name);
}

static void read_route(cfg_loader_t *l, yaml_node_t *map, cfg_route_t *r, size_t index, const upstream_index_t *ups, size_t num_ups)
{
    const cfg_config_t *c = l->config;
    r->timeout_ms = 30000;
    r->errors = c->errors;
    r->websocket = (cfg_websocket_t){1, 1000, 300000};
    r->circuit_breaker = (cfg_circuit_breaker_t){.failures = 5,
                                                 .open_for_ms = 10000,
                                                 .half_open = 1,
                                                 .window_ms = 10000,
                                                 .min_requests = 20,
                                                 .max_keys = 100000,
                                                 .max_key_length = 256};
    cfg_given_t given[16] = {{0}};
    if (cfg_read_block(l, map, "route", cfg_route_fields, r, given) != 0)
        return;
    if (r->max_body == 0)
        r->max_body = c->client.max_body;
    char *label = route_label(r, index);
    if (cfg_given(cfg_route_fields, given, "name").key == NULL)
        cfg_error_at(l, map, "%s: missing required key \"name\"", label);
    cfg_given_t upstream = cfg_given(cfg_route_fields, given, "upstream");
    char *upstream_name = upstream.value != NULL ? cfg_scalar(l, upstream.value, "route upstream") : NULL;
    if (upstream.key == NULL) {
        cfg_error_at(l, map, "%s: missing required key \"upstream\"", label);
    } else if (upstream_name != NULL) {
        upstream_index_t key = {upstream_name, 0};
        const upstream_index_t *found = num_ups != 0 ? bsearch(&key, ups, num_ups, sizeof(*ups), compare_upstream) : NULL;
        if (found == NULL)
            cfg_error_at(l, upstream.value, "%s: unknown upstream \"%s\"", label, upstream_name);
        else
            r->upstream = found->index;
    }
    check_limit_names(l, r, cfg_given(cfg_route_fields, given, "concurrency").value,
                      cfg_given(cfg_route_fields, given, "rate_limits").value);
    cfg_given_t priority = cfg_given(cfg_route_fields, given, "priority");
    if (priority.key != NULL && r->num_concurrency == 0)
        cfg_error_at(l, priority.key, "priority: needs a concurrency limit (priorities order its waiting room)");
    free(label);
    free(upstream_name);
}

void cfg_read_routes(cfg_loader_t *l, yaml_node_t *seq)
{
    cfg_config_t *c = l->config;
    if (cfg_expect(l, seq, YAML_SEQUENCE_NODE, "routes") != 0)
        return;
    size_t n = cfg_seq_len(seq);
    if (n == 0)
        cfg_error_at(l, seq, "no routes: at least one route is needed");
    /* upstream names, sorted for the routes' look-ups (names repeated are reported elsewhere) */
    upstream_index_t *ups = cfg_xcalloc(c->num_upstreams, sizeof(*ups));
    size_t num_ups = 0;
    for (size_t i = 0; i != c->num_upstreams; ++i)
        if (c->upstreams[i].name != NULL)
            ups[num_ups++] = (upstream_index_t){c->upstreams[i].name, i};
    qsort(ups, num_ups, sizeof(*ups), compare_upstream);
    c->routes = cfg_xcalloc(n, sizeof(*c->routes));
    CFG_FOREACH_ITEM(l, seq, item)
    {
        read_route(l, item, &c->routes[c->num_routes], c->num_routes, ups, num_ups);
        ++c->num_routes;
    }
    free(ups);

    const char **names = cfg_xcalloc(n, sizeof(*names));
    yaml_node_t **nodes = cfg_xcalloc(n, sizeof(*nodes));
    for (size_t i = 0; i != c->num_routes; ++i) {
        names[i] = c->routes[i].name;
        nodes[i] = cfg_node(l, seq->data.sequence.items.start[i]);
    }
    cfg_report_repeats(l, names, nodes, c->num_routes, "route");
    free(names);
    free(nodes);
}

static void free_key(cfg_key_t *k)
{
    free(k->name);
    free(k->text);
}

void cfg_route_free(cfg_route_t *r)
{
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
    for (size_t j = 0; j != r->num_concurrency; ++j) {
        free(r->concurrency[j].name);
        cfg_keyspec_clear(&r->concurrency[j].per);
    }
    free(r->concurrency);
    for (size_t j = 0; j != r->num_rate_limits; ++j) {
        free(r->rate_limits[j].name);
        cfg_keyspec_clear(&r->rate_limits[j].per);
        cfg_keyspec_clear(&r->rate_limits[j].fair);
    }
    free(r->rate_limits);
    cfg_keyspec_clear(&r->circuit_breaker.per);
    free_key(&r->priority.from);
    for (size_t j = 0; j != r->priority.num_levels; ++j)
        free(r->priority.levels[j]);
    free(r->priority.levels);
    for (size_t j = 0; j != r->num_set_headers; ++j) {
        free(r->set_headers[j].name);
        free(r->set_headers[j].value);
    }
    free(r->set_headers);
    for (size_t j = 0; j != r->num_remove_headers; ++j)
        free(r->remove_headers[j]);
    free(r->remove_headers);
}
