#include "gw_route.h"

#include <string.h>
#include <strings.h>
#include "gw_path.h"

static int match_path(const cfg_route_t *route, const gw_route_input_t *in)
{
    if (route->path != NULL)
        return strlen(route->path) == in->path_len && memcmp(route->path, in->path, in->path_len) == 0;
    if (route->path_prefix != NULL) {
        size_t n = strlen(route->path_prefix);
        return n <= in->path_len && memcmp(route->path_prefix, in->path, n) == 0;
    }
    return 1;
}

static int match_method(const cfg_route_t *route, const gw_route_input_t *in)
{
    if (route->num_methods == 0)
        return 1;
    for (size_t i = 0; i != route->num_methods; ++i)
        if (strlen(route->methods[i]) == in->method_len && memcmp(route->methods[i], in->method, in->method_len) == 0)
            return 1;
    return 0;
}

/* Host is compared without its port or trailing dots, case-insensitively
 * ("API.example.com.:8080" matches "api.example.com"). An IPv6 literal keeps its brackets. */
static int match_host(const cfg_route_t *route, const gw_route_input_t *in)
{
    if (route->host == NULL)
        return 1;
    if (in->host == NULL)
        return 0;
    char buf[256];
    if (in->host_len > sizeof(buf))
        return 0; /* longer than any DNS name: it cannot be the route's */
    size_t len = gw_host_normalize(in->host, in->host_len, buf);
    return strlen(route->host) == len && memcmp(route->host, buf, len) == 0;
}

static int match_headers(const cfg_route_t *route, const gw_route_input_t *in)
{
    for (size_t i = 0; i != route->num_headers; ++i) {
        const cfg_header_match_t *h = &route->headers[i];
        size_t value_len;
        const char *value = in->header(in->header_data, h->name, strlen(h->name), &value_len);
        if (value == NULL || strlen(h->value) != value_len || memcmp(h->value, value, value_len) != 0)
            return 0;
    }
    return 1;
}

long gw_route_match(const cfg_config_t *config, const gw_route_input_t *in)
{
    for (size_t i = 0; i != config->num_routes; ++i) {
        const cfg_route_t *route = &config->routes[i];
        if (match_path(route, in) && match_method(route, in) && match_host(route, in) && match_headers(route, in))
            return (long)i;
    }
    return -1;
}
