/*
 * The access log: one JSON line per request on stdout. Lines are buffered and flushed by a
 * timer of the loop (and at exit), not per request: a write(2) per request would cost more than
 * the admission decision itself.
 */
#ifndef SLUICE_GW_ACCESSLOG_H
#define SLUICE_GW_ACCESSLOG_H

#include "gw_request.h"

/* The line of a request that reached the handler (gw_request_t), ended at `now_ns` (gw_now_ns). */
void gw_accesslog_write(gw_request_t *r, int status, uint64_t now_ns);

/* The line of a request refused before it became one (a malformed or slow head): what could be
 * read of its method and target, if anything (NULL otherwise). */
void gw_accesslog_refused(gw_ctx_t *ctx, int status, const char *request_id, size_t request_id_len, const char *method,
                          size_t method_len, const char *path, size_t path_len, const char *client_ip, uint64_t total_ns,
                          uint64_t bytes);

#endif
