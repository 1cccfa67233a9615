/*
 * Route selection: the first route of the config whose match block accepts the request wins.
 * Pure (no h2o), so it is unit-tested with plain strings.
 */
#ifndef SLUICE_GW_ROUTE_H
#define SLUICE_GW_ROUTE_H

#include <stddef.h>
#include "cfg_config.h"

typedef struct st_gw_route_input_t {
    const char *method;
    size_t method_len;
    const char *path; /* without the query string */
    size_t path_len;
    const char *host; /* Host / :authority, port allowed; NULL if none */
    size_t host_len;
    /* Returns the value of a request header (lower-case name) or NULL. */
    const char *(*header)(void *data, const char *name, size_t name_len, size_t *value_len);
    void *header_data;
} gw_route_input_t;

/* Returns the index of the first matching route, or -1 when no route matches. */
long gw_route_match(const cfg_config_t *config, const gw_route_input_t *in);

#endif
