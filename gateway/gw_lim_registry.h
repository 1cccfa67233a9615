/*
 * The live limiters of one event loop, and the admission of each route built from them. A limit
 * keeps its state across reloads: a rate limit whose route, name and parameters are unchanged
 * keeps its buckets; a concurrency limit whose route, name, keys and levels are unchanged keeps
 * its holders and its room and takes the new limit, room size and timeout, so the requests it
 * admitted still count; an adaptive one (`limit: auto`) also keeps the limit it learned, within
 * its new bounds. Any other limit starts fresh (the old one serves its requests out), also one
 * that turns from a number to `auto` or back.
 */
#ifndef SLUICE_GW_LIM_REGISTRY_H
#define SLUICE_GW_LIM_REGISTRY_H

#include "gw_admission.h"

/* The route's admission, its limiters found in env->registry or made (and registered); NULL when
 * the route has no limits. */
gw_admission_t *gw_lim_registry_admission(gw_adm_env_t *env, const cfg_route_t *route, const cfg_config_t *config);

#endif
