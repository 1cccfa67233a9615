/*
 * A route's circuit breaker (`circuit_breaker:`, policies/pol_breaker.h): one for the route, or
 * one per key value (`per:`), kept in a pol_keyed table bounded by max_keys. A request asks it
 * before admission; the outcome of its upstream exchange is recorded when the exchange ends (a
 * failure: a connection or protocol error, a timeout, a 5xx; an exchange cut for the client's
 * sake says nothing). Opening is logged on stderr. A reload that leaves the route's breaker
 * settings as they were keeps its state.
 */
#ifndef SLUICE_GW_BREAKER_H
#define SLUICE_GW_BREAKER_H

#include <stdint.h>
#include "cfg_config.h"
#include "gw_keys.h"
#include "gw_textbuf.h"
#include "pol_breaker.h"

typedef struct st_gw_breaker_t gw_breaker_t;

/* One reference, the caller's; `route` is copied. */
gw_breaker_t *gw_breaker_new(const char *route, const cfg_circuit_breaker_t *cfg, uint64_t seed);
gw_breaker_t *gw_breaker_ref(gw_breaker_t *b);
void gw_breaker_unref(gw_breaker_t *b);
/* 1 when `b` was made with the same settings as `cfg` (a reload may keep it). */
int gw_breaker_matches(const gw_breaker_t *b, const cfg_circuit_breaker_t *cfg);

/* The request's key value ({NULL, 0}: `_missing`; ignored without `per:`). 1: it may go on
 * (*ticket to give back later), 0: refused, retry after *retry_after_ns. */
int gw_breaker_allow(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t *ticket, uint64_t *retry_after_ns);
void gw_breaker_record(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t ticket, int failed);
void gw_breaker_abandon(gw_breaker_t *b, gw_keyval_t key, uint64_t now_ns, pol_breaker_ticket_t ticket);

/* For sluice_circuit_state{route}: 0 closed, 1 open, 2 half-open; with `per:`, 1 while any key's
 * breaker is not closed. */
int gw_breaker_state(gw_breaker_t *b, uint64_t now_ns);
/* `"circuit_breaker":{...}` for /limits. */
void gw_breaker_describe(gw_breaker_t *b, gw_textbuf_t *out, uint64_t now_ns);

#endif
