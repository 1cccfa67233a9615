/* Unit tests of route selection (gateway/gw_route.c): first match wins on path, path prefix,
 * methods, host and headers. Routes are built by loading YAML, as a user writes them. */
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
    gw_route_input_t in = {method, strlen(method),          path,   strlen(path),
                           host,   host ? strlen(host) : 0, lookup, headers ? headers : none};
    long i = gw_route_match(config, &in);
    return i < 0 ? "(none)" : config->routes[i].name;
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
    return CHECK_SUMMARY();
}
