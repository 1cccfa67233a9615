/*
 * One field of a JSON request body, for `json:` key sources. Pure (no h2o), unit-tested and
 * fuzzed.
 *
 * The body must be a whole, valid JSON document (RFC 8259, nesting at most GW_JSON_MAX_DEPTH
 * deep) whose top level is an object; anything else has no field. A dotted name walks nested
 * objects. The field is read as the application will read it: when a key is repeated, the last
 * one counts (Python's json module, and so Tornado's and FastAPI's handlers, keep the last), and
 * NaN / Infinity / -Infinity are numbers as Python reads them. A string gives its unescaped UTF-8
 * text, a number its text as written; true, false, null, objects and arrays give nothing.
 */
#ifndef SLUICE_GW_JSON_H
#define SLUICE_GW_JSON_H

#include <stddef.h>
#include <sys/types.h>

#define GW_JSON_MAX_DEPTH 64

/* Finds `dotted` (e.g. "to" or "order.account"; at most 8 names, as a config allows) in the body.
 * Writes its value to dst (at least len bytes: an unescaped string is never longer than the body)
 * and returns its length, or -1 when the body is not such a document or has no such string or
 * number field. */
ssize_t gw_json_field(const char *body, size_t len, const char *dotted, char *dst);

#endif
