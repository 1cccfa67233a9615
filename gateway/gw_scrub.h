/*
 * Whether an error page shows a stack trace (errors.scrub_tracebacks): Python's own
 * `Traceback (most recent call last)` (plain text, Tornado's serve_traceback, logs echoed in a
 * body), Werkzeug's and Starlette's debug pages, and a stack frame line
 * (`File "/app/x.py", line 12, in handler`, also with its quotes escaped inside JSON). Pure (no
 * h2o), unit-tested; sluice reads at most GW_SCRUB_MAX bytes of an error body to decide.
 */
#ifndef SLUICE_GW_SCRUB_H
#define SLUICE_GW_SCRUB_H

#include <stddef.h>

/* How much of an upstream 4xx/5xx body is held and looked at; past it the body is passed on as it
 * is (a debug page showing a stack trace is far smaller). */
#define GW_SCRUB_MAX 65536

/* 1 when `body` shows a stack trace. */
int gw_scrub_has_traceback(const char *body, size_t len);

#endif
