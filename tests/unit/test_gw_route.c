/* Unit tests of route selection (gateway/gw_route.c): first match wins on path, path prefix,
 * methods, host and headers. Routes are built by loading YAML, as a user writes them. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cfg_config.h"
#include "gw_route.h"

static const char yaml[] = "upstreams:\n"
                           "  app: {address: 127.0.0.1:8000}\n"
                           "routes:\n"
                           "  - {name: exact, match: {path: /exact}, upstream: app}\n"
                           "  - {name: writes, match: {path_prefix: /orders, methods: [POST, PUT]}, upstream: app}\n"
                           "  - {name: gold, match: {path_prefix: /orders, headers: {x-tenant: gold}}, upstream: app}\n"
                           "  - {name: hosted, match: {host: api.example.com}, upstream: app}\n"
                           "  - {name: orders, match: {path_prefix: /orders}, upstream: app}\n";

typedef struct {
    const char *name, *value;
} header_t;

static const char *lookup(void *data, const char *name, size_t name_len, size_t *value_len)
{
    for (const header_t *h = data; h->name != NULL; ++h) {
        if (strlen(h->name) == name_len && memcmp(h->name, name, name_len) == 0) {
            *value_len = strlen(h->value);
            return h->value;
        }
    }
    return NULL;
}

static const char *route_for(const cfg_config_t *config, const char *method, const char *path, const char *host, header_t *headers)
{
    static header_t none[] = {{NULL, NULL}};
    /* the host in a buffer of exactly its length: a sanitizer build sees a read past it */
    size_t host_len = host ? strlen(host) : 0;
    char *host_copy = host ? malloc(host_len ? host_len : 1) : NULL;
    if (host != NULL)
        memcpy(host_copy, host, host_len);
    gw_route_input_t in = {method, strlen(method), path, strlen(path), host_copy, host_len, lookup, headers ? headers : none};
    long i = gw_route_match(config, &in);
    free(host_copy);
    CHECK(i >= -1 && i < (long)config->num_routes);
    return i < 0 ? "(none)" : config->routes[i].name;
}

static const char edge_yaml[] = "upstreams:\n"
                                "  app: {address: 127.0.0.1:8000}\n"
                                "routes:\n"
                                "  - {name: v6, match: {host: '[::1]'}, upstream: app}\n"
                                "  - {name: hosted, match: {host: api.example.com, methods: [DELETE]}, upstream: app}\n"
                                "  - {name: exact, match: {path: /a/b}, upstream: app}\n"
                                "  - {name: prefix, match: {path_prefix: /pre}, upstream: app}\n"
                                "  - {name: two, match: {headers: {x-a: '1', x-bb: two}}, upstream: app}\n"
                                "  - {name: put, match: {methods: [PUT, PATCH]}, upstream: app}\n";

static cfg_config_t *load(const char *text, size_t len)
{
    cfg_errors_t errors = {0};
    cfg_config_t *config = cfg_load_string(text, len, "routes.yaml", &errors);
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "%s\n", errors.items[i]);
    cfg_errors_clear(&errors);
    return config;
}

/* A host matches only when equal, ignoring case and the port: never a prefix of it, a longer
 * name, another name of the same length, nor a host with only a port or only brackets. */
static void test_host_is_matched_exactly(void)
{
    cfg_config_t *config = load(edge_yaml, sizeof(edge_yaml) - 1);
    CHECK(config != NULL);
    if (config == NULL)
        return;
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.com", NULL), "hosted");
    CHECK_STR(route_for(config, "DELETE", "/x", "API.EXAMPLE.COM:443", NULL), "hosted");
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.com:", NULL), "hosted");
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.co", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.con", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.co:80", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", "xapi.example.com", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", "api.example.comm:80", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", "", NULL), "(none)");
    CHECK_STR(route_for(config, "DELETE", "/x", ":443", NULL), "(none)");
    /* an IPv6 literal keeps its brackets; its colons are not a port */
    CHECK_STR(route_for(config, "GET", "/x", "[::1]", NULL), "v6");
    CHECK_STR(route_for(config, "GET", "/x", "[::1]:8080", NULL), "v6");
    CHECK_STR(route_for(config, "GET", "/x", "[::2]:8080", NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", "[::1", NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", "::1]", NULL), "(none)");
    cfg_free(config);
}

/* Paths, methods and header values compare their whole length, on both sides. */
static void test_lengths_are_compared(void)
{
    cfg_config_t *config = load(edge_yaml, sizeof(edge_yaml) - 1);
    CHECK(config != NULL);
    if (config == NULL)
        return;
    CHECK_STR(route_for(config, "GET", "/a/b", NULL, NULL), "exact");
    CHECK_STR(route_for(config, "GET", "/a/", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/a/c", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/a/bc", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/pre", NULL, NULL), "prefix");
    CHECK_STR(route_for(config, "GET", "/prefix/x", NULL, NULL), "prefix");
    CHECK_STR(route_for(config, "GET", "/pr", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/prf", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "PUT", "/x", NULL, NULL), "put");
    CHECK_STR(route_for(config, "PATCH", "/x", NULL, NULL), "put");
    CHECK_STR(route_for(config, "PU", "/x", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "PUTS", "/x", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "PAT", "/x", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", "api.example.com", NULL), "(none)"); /* host right, method not */
    header_t both[] = {{"x-a", "1"}, {"x-bb", "two"}, {NULL, NULL}};
    header_t one[] = {{"x-bb", "two"}, {NULL, NULL}};
    header_t short_value[] = {{"x-a", "1"}, {"x-bb", "tw"}, {NULL, NULL}};
    header_t long_value[] = {{"x-a", "1"}, {"x-bb", "twos"}, {NULL, NULL}};
    header_t other_value[] = {{"x-a", "1"}, {"x-bb", "too"}, {NULL, NULL}};
    CHECK_STR(route_for(config, "GET", "/x", NULL, both), "two");
    CHECK_STR(route_for(config, "GET", "/x", NULL, one), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", NULL, short_value), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", NULL, long_value), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", NULL, other_value), "(none)");
    cfg_free(config);
}

/* A route whose host is empty matches a request whose Host is empty (or only a port), never one
 * without a Host. Built by hand: the loader may refuse such a route, the matcher must not
 * depend on that. */
static void test_empty_host(void)
{
    cfg_route_t route;
    memset(&route, 0, sizeof(route));
    route.name = "empty";
    route.host = "";
    cfg_config_t config;
    memset(&config, 0, sizeof(config));
    config.routes = &route;
    config.num_routes = 1;
    CHECK_STR(route_for(&config, "GET", "/", "", NULL), "empty");
    CHECK_STR(route_for(&config, "GET", "/", ":80", NULL), "empty");
    CHECK_STR(route_for(&config, "GET", "/", NULL, NULL), "(none)");
    CHECK_STR(route_for(&config, "GET", "/", "a", NULL), "(none)");
}

int main(void)
{
    cfg_errors_t errors = {0};
    cfg_config_t *config = cfg_load_string(yaml, sizeof(yaml) - 1, "routes.yaml", &errors);
    CHECK(config != NULL);
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "%s\n", errors.items[i]);
    cfg_errors_clear(&errors);
    if (config == NULL)
        return CHECK_SUMMARY();

    CHECK_STR(route_for(config, "GET", "/exact", NULL, NULL), "exact");
    CHECK_STR(route_for(config, "GET", "/exact/more", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "POST", "/orders/1", NULL, NULL), "writes");
    CHECK_STR(route_for(config, "GET", "/orders/1", NULL, NULL), "orders");
    header_t gold[] = {{"x-tenant", "gold"}, {NULL, NULL}};
    header_t silver[] = {{"x-tenant", "silver"}, {NULL, NULL}};
    CHECK_STR(route_for(config, "GET", "/orders", NULL, gold), "gold");
    CHECK_STR(route_for(config, "GET", "/orders", NULL, silver), "orders");
    CHECK_STR(route_for(config, "POST", "/orders", NULL, gold), "writes"); /* first match wins */
    CHECK_STR(route_for(config, "GET", "/x", "api.example.com", NULL), "hosted");
    CHECK_STR(route_for(config, "GET", "/x", "API.Example.com:8080", NULL), "hosted");
    CHECK_STR(route_for(config, "GET", "/x", "api.example.com.evil", NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/x", NULL, NULL), "(none)");
    CHECK_STR(route_for(config, "GET", "/ord", NULL, NULL), "(none)");

    cfg_free(config);
    test_host_is_matched_exactly();
    test_lengths_are_compared();
    test_empty_host();
    return CHECK_SUMMARY();
}
