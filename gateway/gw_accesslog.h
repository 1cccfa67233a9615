/*
 * The access log: one JSON line per request on stdout. Lines are buffered and flushed by a
 * timer of the loop (and at exit), not per request: a write(2) per request would cost more than
 * the admission decision itself.
 */
#ifndef SLUICE_GW_ACCESSLOG_H
#define SLUICE_GW_ACCESSLOG_H

#include "gw_request.h"

void gw_accesslog_write(gw_request_t *r, int status);

#endif
