/*
 * Parsers for the value syntaxes of the policy language. Each returns 0 on success or -1 with a
 * static message in *why, so the loader can prefix file:line:col. Only the address and key parsers
 * allocate (the strings they store), and only on success.
 */
#ifndef SLUICE_CFG_UNITS_H
#define SLUICE_CFG_UNITS_H

#include <stdint.h>
#include "cfg_config.h"

/* "250ms", "5s", "2m", "1h" -> milliseconds. */
int cfg_parse_duration(const char *s, uint64_t *ms, const char **why);
/* "512KiB", "10MiB", "1GiB", "100B" or a plain integer -> bytes. */
int cfg_parse_size(const char *s, uint64_t *bytes, const char **why);
/* "100/s", "20/m", "5/h" -> count and period in milliseconds. */
int cfg_parse_rate(const char *s, uint64_t *count, uint64_t *period_ms, const char **why);
/* A non-negative decimal integer no larger than max. */
int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out, const char **why);
/* "host:port", "[v6]:port" or "unix:/abs/path"; fills kind, host (malloc'd) and port. */
int cfg_parse_address(const char *s, cfg_address_t *out, const char **why);
/* "10.0.0.0/8", "fd00::/8"; a bare address is a host route (/32, /128). */
int cfg_parse_cidr(const char *s, cfg_cidr_t *out, const char **why);
/* "client_ip", "header:NAME", "query:NAME", "cookie:NAME", "path:N", "json:A.B"; fills *out (name
 * and text malloc'd, the header name lower-cased). */
int cfg_parse_key(const char *s, cfg_key_t *out, const char **why);
/* 1 if s is a non-empty HTTP token (RFC 9110 tchar*), as header, query and cookie names must be. */
int cfg_is_token(const char *s);
/* A match.path / path_prefix: starts with '/', holds no '?', '#', %-escape, control byte or space,
 * and no "//", "." or ".." segment (a request's normalised path never does, so the route could
 * never match). */
int cfg_check_route_path(const char *s, const char **why);
/* A match.host: non-empty, without a port or a trailing dot. */
int cfg_check_route_host(const char *s, const char **why);
/* Formats bytes in the largest unit that divides them ("16B", "64KiB", "1MiB"). */
void cfg_format_size(uint64_t bytes, char *buf, size_t size);
/* Formats milliseconds back in the largest unit that divides them ("1500ms", "2s", "5m"). */
void cfg_format_duration(uint64_t ms, char *buf, size_t size);

#endif
