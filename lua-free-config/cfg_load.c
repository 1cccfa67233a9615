/*
 * The policy loader: YAML (cfg_yaml.c builds the document, so every node knows its line and
 * column) to a validated cfg_config_t. This file reads the top level, `client`, `redis` and
 * `upstreams`; cfg_route.c reads `routes`.
 *
 * It never stops at the first problem: every error is recorded as "file:line:col: message" and
 * checking goes on with the next key, so one run of `sluice -t` lists them all. A config is
 * returned only when there was no error at all. Loading costs O(n log n) in the size of the file,
 * whatever the file holds: no check compares every item of a list with every other.
 */
#include "cfg_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "cfg_mem.h"
#include "cfg_read.h"
#include "cfg_route.h"
#include "cfg_units.h"
#include "cfg_yaml.h"

#define FIELD(k, kind_, type, member, what_, ...)                                                                                  \
    {                                                                                                                              \
        .key = k, .kind = kind_, .offset = offsetof(type, member), .what = what_, __VA_ARGS__                                      \
    }
#define END                                                                                                                        \
    {                                                                                                                              \
        .key = NULL                                                                                                                \
    }

/* ---- client ---- */

static void read_trusted_proxies(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_client_t *c = obj;
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, "client.trusted_proxies") != 0)
        return;
    c->trusted_proxies = cfg_xcalloc(cfg_seq_len(v), sizeof(*c->trusted_proxies));
    CFG_FOREACH_ITEM(l, v, item)
    {
        char *s = cfg_scalar(l, item, "client.trusted_proxies entry");
        if (s == NULL)
            continue;
        const char *why;
        cfg_cidr_t *cidr = &c->trusted_proxies[c->num_trusted_proxies];
        if (cfg_parse_cidr(s, cidr, &why) != 0) {
            cfg_error_at(l, item, "client.trusted_proxies: %s, got \"%s\"", why, s);
            free(s);
        } else {
            cidr->text = s;
            ++c->num_trusted_proxies;
        }
    }
}

static const cfg_field_t client_fields[] = {
    FIELD("header_timeout", CFG_F_DURATION, cfg_client_t, header_timeout_ms, "client.header_timeout", .min = 1),
    FIELD("idle_timeout", CFG_F_DURATION, cfg_client_t, idle_timeout_ms, "client.idle_timeout", .min = 1),
    FIELD("body_timeout", CFG_F_DURATION, cfg_client_t, body_timeout_ms, "client.body_timeout", .min = 1),
    FIELD("max_body", CFG_F_SIZE, cfg_client_t, max_body, "client.max_body", .min = 1),
    FIELD("max_header_size", CFG_F_SIZE, cfg_client_t, max_header_size, "client.max_header_size", .min = 1024, .max = 1024 * 1024),
    {.key = "trusted_proxies", .kind = CFG_F_CUSTOM, .read = read_trusted_proxies},
    END};

/* ---- redis ---- */

static void read_password(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_redis_t *r = obj;
    char *s = cfg_scalar(l, v, "redis.password");
    if (s == NULL)
        return;
    /* most often an unset variable in ${...}: AUTH "" would fail at every connect */
    if (s[0] == '\0') {
        cfg_error_at(l, v, "redis.password: empty (leave the key out for a Redis without AUTH)");
        free(s);
        return;
    }
    free(r->password);
    r->password = s;
}

static const char *const on_error_names[] = {"local", "allow", "deny", NULL};

static const cfg_field_t redis_fields[] = {
    FIELD("address", CFG_F_ADDRESS, cfg_redis_t, address, "redis.address"),
    {.key = "password", .kind = CFG_F_CUSTOM, .read = read_password},
    FIELD("database", CFG_F_UINT32, cfg_redis_t, database, "redis.database", .min = 0, .max = 15),
    FIELD("timeout", CFG_F_DURATION, cfg_redis_t, timeout_ms, "redis.timeout", .min = 1),
    FIELD("prefix", CFG_F_STRING, cfg_redis_t, prefix, "redis.prefix"),
    FIELD("on_error", CFG_F_ENUM, cfg_redis_t, on_error, "redis.on_error", .names = on_error_names),
    FIELD("instances", CFG_F_UINT32, cfg_redis_t, instances, "redis.instances", .min = 1, .max = 1000),
    FIELD("slot_lease", CFG_F_DURATION, cfg_redis_t, slot_lease_ms, "redis.slot_lease", .min = 1000, .max = 3600000),
    END};

static void read_redis(cfg_loader_t *l, yaml_node_t *map, cfg_redis_t *r)
{
    cfg_given_t given[16] = {{0}};
    r->enabled = 1;
    if (cfg_read_block(l, map, "redis", redis_fields, r, given) == 0 && cfg_given(redis_fields, given, "address").key == NULL)
        cfg_error_at(l, map, "redis: missing required key \"address\"");
}

/* ---- upstreams ---- */

static const cfg_field_t upstream_fields[] = {
    FIELD("address", CFG_F_ADDRESS, cfg_upstream_t, address, "upstream address"),
    FIELD("connect_timeout", CFG_F_DURATION, cfg_upstream_t, connect_timeout_ms, "connect_timeout", .min = 1),
    FIELD("read_timeout", CFG_F_DURATION, cfg_upstream_t, read_timeout_ms, "read_timeout", .min = 1),
    FIELD("keepalive", CFG_F_UINT32, cfg_upstream_t, keepalive, "keepalive", .min = 0, .max = 100000),
    FIELD("max_connections", CFG_F_UINT32, cfg_upstream_t, max_connections, "max_connections", .min = 1, .max = 100000),
    FIELD("response_buffer", CFG_F_SIZE, cfg_upstream_t, response_buffer, "response_buffer", .min = 16 * 1024,
          .max = 64 * 1024 * 1024),
    END};

static void read_upstream(cfg_loader_t *l, yaml_node_t *name, yaml_node_t *map, cfg_upstream_t *u)
{
    u->name = cfg_scalar(l, name, "upstream name");
    u->connect_timeout_ms = 1000;
    u->read_timeout_ms = 30000;
    u->keepalive = 64;
    u->max_connections = 256;
    u->response_buffer = 256 * 1024;
    if (map->type != YAML_MAPPING_NODE) {
        /* `connect_timeout: 1s` right under `upstreams:` is an upstream's key indented too little */
        const char *key = cfg_key_text(name);
        if (cfg_find_field(upstream_fields, key) != NULL)
            cfg_error_at(
                l, map, "upstreams.%s: expected a mapping (an upstream), got %s; is \"%s\" meant to be indented under an upstream?",
                key, cfg_type_name(map), key);
        else
            cfg_error_at(l, map, "upstreams.%s: expected a mapping (an upstream), got %s", key, cfg_type_name(map));
        return;
    }
    cfg_given_t given[16] = {{0}};
    if (cfg_read_block(l, map, "upstream", upstream_fields, u, given) != 0)
        return;
    const char *label = u->name != NULL ? u->name : "";
    if (cfg_given(upstream_fields, given, "address").key == NULL)
        cfg_error_at(l, map, "upstream \"%s\": missing required key \"address\"", label);
    if (u->keepalive > u->max_connections)
        cfg_error_at(l, map, "upstream \"%s\": keepalive (%u) must not exceed max_connections (%u)", label, u->keepalive,
                     u->max_connections);
}

static void read_upstreams(cfg_loader_t *l, yaml_node_t *map)
{
    cfg_config_t *c = l->config;
    if (cfg_mapping(l, map, "upstreams") != 0)
        return;
    size_t n = cfg_map_len(map);
    if (n == 0)
        cfg_error_at(l, map, "no upstreams: at least one upstream is needed");
    c->upstreams = cfg_xcalloc(n, sizeof(*c->upstreams));
    CFG_FOREACH_PAIR(l, map, k, v)
    read_upstream(l, k, v, &c->upstreams[c->num_upstreams++]);

    /* identical keys were reported by cfg_mapping(); this catches two keys that ${VAR} made equal */
    const char **names = cfg_xcalloc(n, sizeof(*names));
    yaml_node_t **nodes = cfg_xcalloc(n, sizeof(*nodes));
    for (size_t i = 0; i != c->num_upstreams; ++i) {
        names[i] = c->upstreams[i].name;
        nodes[i] = cfg_node(l, map->data.mapping.pairs.start[i].key);
    }
    cfg_report_repeats(l, names, nodes, c->num_upstreams, "upstream");
    free(names);
    free(nodes);
}

/* ---- listen and admin ---- */

static void read_listen(cfg_loader_t *l, const yaml_node_t *k, yaml_node_t *v, void *obj)
{
    (void)k;
    cfg_config_t *c = obj;
    if (v->type == YAML_SCALAR_NODE) {
        c->listen = cfg_xcalloc(1, sizeof(*c->listen));
        cfg_read_address(l, v, "listen", &c->listen[0]);
        c->num_listen = c->listen[0].host != NULL ? 1 : 0;
        return;
    }
    if (cfg_expect(l, v, YAML_SEQUENCE_NODE, "listen") != 0)
        return;
    size_t n = cfg_seq_len(v);
    if (n == 0) {
        cfg_error_at(l, v, "listen: needs at least one address");
        return;
    }
    c->listen = cfg_xcalloc(n, sizeof(*c->listen));
    CFG_FOREACH_ITEM(l, v, item)
    {
        cfg_read_address(l, item, "listen", &c->listen[c->num_listen]);
        if (c->listen[c->num_listen].host != NULL)
            ++c->num_listen;
    }
}

static void set_default_address(cfg_address_t *a, const char *text)
{
    const char *why;
    if (cfg_parse_address(text, a, &why) != 0)
        abort(); /* the built-in defaults are valid addresses */
    a->text = cfg_xstrdup(text);
}

/* AF_INET or AF_INET6 for an IP literal (its bytes in addr), 0 for a name. */
static int ip_family(const char *host, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, host, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, host, addr) == 1)
        return AF_INET6;
    return 0;
}

/* Why the admin API could not have an address of its own beside this listener, or NULL. */
static const char *clash(const cfg_address_t *admin, const cfg_address_t *listen)
{
    if (admin->kind != listen->kind)
        return NULL;
    if (admin->kind == CFG_ADDR_UNIX)
        return strcmp(admin->host, listen->host) == 0 ? "the same socket" : NULL;
    if (admin->port != listen->port)
        return NULL;
    unsigned char a[16], b[16];
    int fa = ip_family(admin->host, a), fb = ip_family(listen->host, b);
    if (fa != 0 ? fa == fb && memcmp(a, b, 16) == 0 : strcasecmp(admin->host, listen->host) == 0)
        return "the same address";
    /* a wildcard takes the port on every address of its family (:: on IPv4 too, as Linux binds it
     * dual-stack): the other bind would fail */
    static const unsigned char any[16] = {0};
    if (fa != 0 && memcmp(a, any, 16) == 0 && (fa == AF_INET6 || fb != AF_INET6))
        return "the same port, and a wildcard address covers the other";
    if (fb != 0 && memcmp(b, any, 16) == 0 && (fb == AF_INET6 || fa != AF_INET6))
        return "the same port, and a wildcard address covers the other";
    return NULL;
}

static void check_admin(cfg_loader_t *l, const cfg_config_t *c)
{
    for (size_t i = 0; i != c->num_listen; ++i) {
        const cfg_address_t *listen = &c->listen[i];
        const char *why = clash(&c->admin, listen);
        if (why == NULL)
            continue;
        if (c->admin.line != 0)
            cfg_errors_addf(l->errors, l->source, c->admin.line, c->admin.col,
                            "admin: \"%s\" and listen \"%s\" are %s; the admin API is never served on a public listener",
                            c->admin.text, listen->text, why);
        else
            cfg_errors_addf(l->errors, l->source, listen->line, listen->col,
                            "listen: \"%s\" takes the admin API's default address %s (%s); give admin: another address",
                            listen->text, c->admin.text, why);
        ++l->num_errors;
    }
}

/* ---- the top level ---- */

static const cfg_field_t top_fields[] = {
    {.key = "listen", .kind = CFG_F_CUSTOM, .read = read_listen},
    FIELD("admin", CFG_F_ADDRESS, cfg_config_t, admin, "admin"),
    FIELD("drain_delay", CFG_F_DURATION, cfg_config_t, drain_delay_ms, "drain_delay", .min = 0),
    FIELD("shutdown_timeout", CFG_F_DURATION, cfg_config_t, shutdown_timeout_ms, "shutdown_timeout", .min = 1),
    FIELD("client", CFG_F_BLOCK, cfg_config_t, client, "client", .children = client_fields),
    {.key = "redis", .kind = CFG_F_LATER, .children = redis_fields},
    {.key = "upstreams", .kind = CFG_F_LATER, .children = upstream_fields},
    {.key = "errors", .kind = CFG_F_LATER, .children = cfg_errors_fields},
    {.key = "routes", .kind = CFG_F_LATER, .children = cfg_route_fields},
    END};

static void read_root(cfg_loader_t *l, yaml_node_t *root)
{
    cfg_config_t *c = l->config;
    cfg_given_t given[16] = {{0}};
    cfg_read_block(l, root, "the top level", top_fields, c, given);
    /* the blocks that routes refer to first */
    yaml_node_t *redis = cfg_given(top_fields, given, "redis").value, *ups = cfg_given(top_fields, given, "upstreams").value,
                *errors = cfg_given(top_fields, given, "errors").value, *routes = cfg_given(top_fields, given, "routes").value;
    l->has_redis_block = redis != NULL;
    if (redis != NULL)
        read_redis(l, redis, &c->redis);
    if (ups != NULL)
        read_upstreams(l, ups);
    else
        cfg_error_at(l, root, "no upstreams: the file needs an upstreams: mapping");
    if (errors != NULL)
        cfg_read_block(l, errors, "errors", cfg_errors_fields, &c->errors, NULL);
    if (routes != NULL)
        cfg_read_routes(l, routes);
    else
        cfg_error_at(l, root, "no routes: the file needs a routes: list");

    if (c->num_listen == 0 && cfg_given(top_fields, given, "listen").key == NULL) {
        c->listen = cfg_xcalloc(1, sizeof(*c->listen));
        set_default_address(&c->listen[0], "0.0.0.0:8080");
        c->num_listen = 1;
    }
    if (c->admin.host == NULL && cfg_given(top_fields, given, "admin").key == NULL)
        set_default_address(&c->admin, "127.0.0.1:9901");
    if (c->admin.host != NULL)
        check_admin(l, c);
}

static void set_defaults(cfg_config_t *c)
{
    c->admin.kind = CFG_ADDR_TCP;
    c->drain_delay_ms = 5000;
    c->shutdown_timeout_ms = 30000;
    c->client.header_timeout_ms = 10000;
    c->client.idle_timeout_ms = 60000;
    c->client.body_timeout_ms = 60000;
    c->client.max_body = 10 * 1024 * 1024;
    c->client.max_header_size = 64 * 1024;
    c->errors = (cfg_errors_policy_t){1, 1};
    c->redis.timeout_ms = 25;
    c->redis.prefix = cfg_xstrdup("sluice:");
    c->redis.instances = 1;
    c->redis.slot_lease_ms = 10000;
}

cfg_config_t *cfg_load_string(const char *yaml, size_t len, const char *source_name, cfg_errors_t *errors)
{
    cfg_loader_t l = {.source = source_name, .errors = errors};
    int found = cfg_yaml_load(yaml, len, source_name, &l.yaml, errors);
    if (found < 0) {
        /* nothing after a syntax error has a tree to check */
        cfg_yaml_free(&l.yaml);
        return NULL;
    }
    l.num_errors = (size_t)found;

    cfg_config_t *c = l.config = cfg_xcalloc(1, sizeof(*c));
    c->source = cfg_xstrdup(source_name);
    set_defaults(c);
    yaml_node_t *root = l.yaml.has_doc ? yaml_document_get_root_node(&l.yaml.doc) : NULL;
    if (root == NULL || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        cfg_error_at(&l, NULL, "the file is empty: it needs at least upstreams: and routes:");
    else if (root->type != YAML_MAPPING_NODE)
        cfg_error_at(&l, root, "the top level must be a mapping, got %s", cfg_type_name(root));
    else
        read_root(&l, root);
    cfg_yaml_free(&l.yaml);

    if (l.num_errors != 0) {
        cfg_free(c);
        return NULL;
    }
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

char *cfg_address_message(const cfg_config_t *config, const cfg_address_t *address, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cfg_xvasprintf(fmt, ap);
    va_end(ap);
    char *full = address->line != 0 ? cfg_xasprintf("%s:%u:%u: %s", config->source, address->line, address->col, msg)
                                    : cfg_xasprintf("%s: %s", config->source, msg);
    free(msg);
    return full;
}

static void free_address(cfg_address_t *a)
{
    free(a->text);
    free(a->host);
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
    for (size_t i = 0; i != c->num_routes; ++i)
        cfg_route_free(&c->routes[i]);
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
