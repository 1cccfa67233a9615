/*
 * sluice's own error answers: the one JSON body of DESIGN.md and the one table of reason
 * phrases. Pure (no h2o), unit-tested.
 *
 *   {"error":{"status":429,"code":"rate_limited","message":"...","route":"orders","request_id":"..."}}
 */
#ifndef SLUICE_GW_JSONERR_H
#define SLUICE_GW_JSONERR_H

#include <stddef.h>

/* Room for any body gw_jsonerr_format writes. */
#define GW_JSONERR_MAX 5120

/* The reason phrase of a status ("Too Many Requests"); a generic one for the class of an unknown
 * status ("Client Error"). Never NULL. */
const char *gw_status_reason(int status);

/* Writes the JSON error body (ending in '\n') to dst (GW_JSONERR_MAX bytes) and returns its
 * length. `route` NULL gives "route":null. Strings are JSON-escaped and cut to 200 bytes each,
 * so no argument can break the document. */
size_t gw_jsonerr_format(char *dst, int status, const char *code, const char *message, const char *route, const char *request_id,
                         size_t request_id_len);

#endif
