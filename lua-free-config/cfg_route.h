/*
 * The `routes:` list of a policy: matching, limits, circuit breaker, priorities, WebSocket,
 * request headers and error policy of each route.
 */
#ifndef SLUICE_CFG_ROUTE_H
#define SLUICE_CFG_ROUTE_H

#include "cfg_read.h"

/* The fields of a route, and of an `errors:` block (top level or route). */
extern const cfg_field_t cfg_route_fields[];
extern const cfg_field_t cfg_errors_fields[];

/* Reads `routes:` into l->config->routes. Reads the config's upstreams, client.max_body and
 * errors, so those are read first. */
void cfg_read_routes(cfg_loader_t *l, yaml_node_t *seq);
/* Frees what a route owns (not the route itself). */
void cfg_route_free(cfg_route_t *r);

#endif
