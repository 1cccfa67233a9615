/*
 * The request target and the host as sluice routes on them. Pure (no h2o), unit-tested and fuzzed.
 *
 * sluice forwards the target exactly as the client sent it (still percent-encoded) and routes on
 * a normalised copy of its path: decoded, `//` runs merged, dot segments removed. Normalising
 * for routing only is what keeps a gateway from being bypassed: `/api/../admin`,
 * `/adm%69n` and `//admin` all route as `/admin`, whatever the backend then makes of the bytes
 * it receives, and no decoded byte ever reaches the upstream request line (where a decoded CR LF
 * would start a header, and a decoded space a second request).
 */
#ifndef SLUICE_GW_PATH_H
#define SLUICE_GW_PATH_H

#include <stddef.h>
#include <sys/types.h>

typedef struct st_gw_target_t {
    const char *origin; /* origin form to forward: "/path?query" */
    size_t origin_len;
    const char *path; /* origin without its query */
    size_t path_len;
    const char *query; /* after '?', NULL when there is none */
    size_t query_len;
    const char *authority; /* of an absolute-form target, else NULL */
    size_t authority_len;
} gw_target_t;

/* Splits a request target: origin form (`/p?q`) or absolute form (`http://host/p?q`, scheme http
 * or https, any case; its origin form is `/` when the path is empty). Returns 0, or -1 with *why
 * for the asterisk form, the authority form (CONNECT), another scheme, userinfo in the
 * authority, or a byte that cannot be in a target (control, space, DEL). */
int gw_target_split(const char *target, size_t len, gw_target_t *out, const char **why);

/* Writes the routing form of `path` (an origin-form path, query excluded; one without its leading
 * `/` is taken as rooted) to dst, which holds at least len + 1 bytes: percent-decoded, empty
 * segments dropped, `.` and `..` resolved (never above the root), a trailing `/` kept. Returns its length (>= 1, it starts with
 * '/'), or -1 with *why when a `%` escape is malformed or a decoded byte is a control character or DEL. */
ssize_t gw_path_normalize(const char *path, size_t len, char *dst, const char **why);

/* Writes the routing form of a Host / :authority value to dst (at least len bytes): lower-case,
 * without its port and without trailing dots ("API.Example.com.:8080" -> "api.example.com"; an
 * IPv6 literal keeps its brackets). Returns its length. */
size_t gw_host_normalize(const char *host, size_t len, char *dst);

/* 1 when a Host / :authority value is made only of the bytes RFC 3986 allows in an authority
 * (no userinfo '@', no space, no control byte) and is not empty. */
int gw_host_is_valid(const char *host, size_t len);

#endif
