/*
 * sluice configuration: the validated, immutable result of loading a YAML policy file.
 *
 * Everything here is plain data. A cfg_config_t is produced by cfg_load_file()/cfg_load_string()
 * only when the whole file is valid; it owns every string and array reachable from it and is freed
 * with cfg_free(). Durations are milliseconds, sizes bytes. See CONFIG.md for every key.
 */
#ifndef SLUICE_CFG_CONFIG_H
#define SLUICE_CFG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CFG_ADDR_TCP, CFG_ADDR_UNIX } cfg_addr_kind_t;

/* "host:port", "[v6]:port" or "unix:/path". host is kept as written (IP literal or a name the
 * gateway resolves at start); brackets are stripped from IPv6 literals. */
typedef struct st_cfg_address_t {
    cfg_addr_kind_t kind;
    char *text; /* as written in the file, for messages and GET /config */
    char *host; /* TCP: host without brackets; UNIX: the socket path */
    uint16_t port;
    unsigned line, col; /* where the file gives it (from 1), for messages; 0 for a built-in default */
} cfg_address_t;

typedef struct st_cfg_cidr_t {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, host bits cleared; IPv4 uses the first 4 bytes */
    unsigned prefix_len;
    char *text;
} cfg_cidr_t;

/* Where a key of a keyed limit comes from (`per:`, `priority.from`). */
typedef enum {
    CFG_KEY_NONE,
    CFG_KEY_CLIENT_IP,
    CFG_KEY_HEADER,
    CFG_KEY_QUERY,
    CFG_KEY_COOKIE,
    CFG_KEY_PATH, /* `path:N`: the N-th segment of the (normalised) path */
    CFG_KEY_JSON  /* `json:a.b`: a string or number field of a JSON request body */
} cfg_key_kind_t;

typedef struct st_cfg_key_t {
    cfg_key_kind_t kind;
    /* HEADER: the name, lower-cased; QUERY, COOKIE: the name; JSON: the dotted field path as
     * written (1 to 8 parts of [A-Za-z0-9_-]+, split on '.'); NULL for NONE, CLIENT_IP, PATH */
    char *name;
    char *text;     /* as written, e.g. "header:X-User-Id"; NULL for NONE */
    uint32_t index; /* PATH: the segment number, 1 to 64 (1 = the first); 0 otherwise */
} cfg_key_t;

/* The most key sources in one `per:` list, and the most concurrency limits of one route. */
#define CFG_MAX_KEYS 8
#define CFG_MAX_CONCURRENCY_LIMITS 8

/* A `per:` value: one key source, or a list of 1 to 8 distinct ones. For a rate limit a list is
 * one composite key; for a concurrency limit, one slot per distinct value present. */
typedef struct st_cfg_keyspec_t {
    cfg_key_t *keys;
    size_t num_keys; /* 0: no `per:` (the whole route) */
    char *text;      /* as written (after ${VAR}): "header:X-User-Id", or "[json:from, json:to]" for a list */
} cfg_keyspec_t;

typedef enum { CFG_SCOPE_LOCAL, CFG_SCOPE_GLOBAL } cfg_scope_t;
typedef enum { CFG_QUEUE_FIFO, CFG_QUEUE_LIFO } cfg_queue_order_t;
typedef enum { CFG_EXCEED_REJECT, CFG_EXCEED_DELAY } cfg_on_exceed_t;
typedef enum { CFG_REDIS_FALLBACK_LOCAL, CFG_REDIS_FALLBACK_ALLOW, CFG_REDIS_FALLBACK_DENY } cfg_redis_on_error_t;

/* One concurrency limit of a route. The mapping form of `concurrency:` is one limit named
 * "concurrency"; the list form names each. */
typedef struct st_cfg_concurrency_t {
    char *name; /* [a-z0-9_-]+, unique among the route's concurrency and rate limits (Redis keys) */
    /* `limit: N`: N. `limit: auto`: adaptive is 1 and limit is the adaptive start (adaptive_initial),
     * the value to use until the adaptive algorithm has measured anything. */
    uint32_t limit;
    int adaptive;
    uint32_t adaptive_min, adaptive_max, adaptive_initial; /* 1 <= min <= initial <= max <= 1000000 */
    cfg_keyspec_t per;
    cfg_scope_t scope; /* never GLOBAL when adaptive */
    uint32_t max_keys;
    uint32_t max_key_length; /* longer key values are hashed */
    uint32_t queue_size;
    uint64_t queue_timeout_ms;
    cfg_queue_order_t queue_order;
    uint64_t hold_aborted_ms; /* 0: an aborted request frees its slot at once */
} cfg_concurrency_t;

typedef struct st_cfg_rate_limit_t {
    char *name;
    uint64_t count;     /* `rate: COUNT/UNIT` */
    uint64_t period_ms; /* 1000, 60000 or 3600000 */
    uint32_t burst;
    cfg_keyspec_t per;
    /* `fair: KEYS`: while the bucket is drained, each value of these keys gets at most its share
     * (the rate over the values seen lately); num_keys 0: not set */
    cfg_keyspec_t fair;
    cfg_scope_t scope;
    cfg_on_exceed_t on_exceed;
    uint64_t max_delay_ms;
    uint32_t max_keys;
    uint32_t max_key_length;
} cfg_rate_limit_t;

typedef struct st_cfg_circuit_breaker_t {
    int enabled;       /* 0 when the route has no `circuit_breaker:` */
    uint32_t failures; /* consecutive upstream failures that open it */
    uint64_t open_for_ms;
    uint32_t half_open;    /* trial requests once open_for has passed */
    uint32_t failure_rate; /* percent, 1 to 100; 0: not set (only `failures` opens it) */
    uint64_t window_ms;    /* with failure_rate: the window the share is measured over */
    uint32_t min_requests; /* with failure_rate: requests in the window before the share counts */
    cfg_keyspec_t per;     /* num_keys 0: one breaker for the route */
    uint32_t max_keys;
    uint32_t max_key_length;
} cfg_circuit_breaker_t;

typedef struct st_cfg_priority_t {
    int enabled;    /* 0 when the route has no `priority:` */
    cfg_key_t from; /* one key source */
    char **levels;  /* 2 to 16 distinct names, the most important first */
    size_t num_levels;
    size_t default_level; /* index into levels: for a request whose value names no level */
} cfg_priority_t;

typedef struct st_cfg_websocket_t {
    int allow;
    uint32_t max_connections;
    uint64_t idle_timeout_ms;
} cfg_websocket_t;

/* What sluice does to an upstream's error answers; the top-level `errors:` is every route's
 * default, a route's `errors:` overrides the keys it gives. */
typedef struct st_cfg_errors_policy_t {
    int hide_upstream_5xx; /* replace 5xx bodies with sluice's JSON error */
    int scrub_tracebacks;  /* replace 4xx/5xx bodies that show a stack trace */
} cfg_errors_policy_t;

typedef struct st_cfg_header_t {
    char *name; /* lower-cased */
    char *value;
} cfg_header_t;
typedef cfg_header_t cfg_header_match_t;

typedef struct st_cfg_upstream_t {
    char *name;
    cfg_address_t address;
    uint64_t connect_timeout_ms;
    uint64_t read_timeout_ms;
    uint32_t keepalive;
    uint32_t max_connections;
    uint64_t response_buffer; /* response bytes buffered per stream before reading the upstream pauses */
} cfg_upstream_t;

typedef struct st_cfg_route_t {
    char *name;
    /* match: at most one of path / path_prefix is set; neither = every path. Both are
     * normalised, decoded paths (no %-escapes, no "." or ".." segment, no "//"). */
    char *path;
    char *path_prefix;
    char **methods; /* upper-case; num_methods == 0 = any method */
    size_t num_methods;
    char *host; /* lower-cased, no port, no trailing dot; NULL = any */
    cfg_header_match_t *headers;
    size_t num_headers;
    size_t upstream; /* index into cfg_config_t.upstreams */
    uint64_t timeout_ms;
    uint64_t max_body;              /* effective: the route's `max_body`, else client.max_body */
    cfg_concurrency_t *concurrency; /* taken in this order; num_concurrency 0 = none */
    size_t num_concurrency;
    cfg_rate_limit_t *rate_limits;
    size_t num_rate_limits;
    cfg_circuit_breaker_t circuit_breaker;
    cfg_priority_t priority;
    cfg_websocket_t websocket;
    /* request_headers.set: values are templates: "${client_ip}", "${request_id}", "${route}" and
     * "${host}" stand for the request's values, "$$" for a literal "$", any other "$" is literal
     * (other ${VAR} were replaced from the environment when loading, their "$" written "$$"). */
    cfg_header_t *set_headers;
    size_t num_set_headers;
    char **remove_headers; /* lower-cased */
    size_t num_remove_headers;
    cfg_errors_policy_t errors; /* effective: the route's, else the top level's */
} cfg_route_t;

typedef struct st_cfg_client_t {
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t body_timeout_ms; /* longest silence between two reads of a request body */
    uint64_t max_body;
    uint64_t max_header_size; /* the whole request head */
    cfg_cidr_t *trusted_proxies;
    size_t num_trusted_proxies;
} cfg_client_t;

typedef struct st_cfg_redis_t {
    int enabled; /* 0 when there is no `redis:` block */
    cfg_address_t address;
    char *password; /* NULL = none; never printed */
    uint32_t database;
    uint64_t timeout_ms;
    char *prefix;
    cfg_redis_on_error_t on_error;
    uint32_t instances;
    uint64_t slot_lease_ms; /* lifetime of a global concurrency slot, renewed while it is held */
} cfg_redis_t;

typedef struct st_cfg_config_t {
    char *source; /* file name used in messages */
    cfg_address_t *listen;
    size_t num_listen;
    cfg_address_t admin;
    uint64_t drain_delay_ms;
    uint64_t shutdown_timeout_ms;
    cfg_client_t client;
    cfg_errors_policy_t errors; /* the top level's; each route holds its effective copy */
    cfg_redis_t redis;
    cfg_upstream_t *upstreams;
    size_t num_upstreams;
    cfg_route_t *routes;
    size_t num_routes;
} cfg_config_t;

/* A list of messages, each "file:line:col: message". */
typedef struct st_cfg_errors_t {
    char **items;
    size_t count;
} cfg_errors_t;

/* Load and validate. Returns a config owned by the caller, or NULL with every problem found
 * appended to `errors` (which the caller releases with cfg_errors_clear). */
cfg_config_t *cfg_load_file(const char *path, cfg_errors_t *errors);
cfg_config_t *cfg_load_string(const char *yaml, size_t len, const char *source_name, cfg_errors_t *errors);
void cfg_free(cfg_config_t *config);
void cfg_errors_clear(cfg_errors_t *errors);

/* "FILE:LINE:COL: " and the formatted message, for a problem with an address of `config` found
 * after loading (the gateway cannot resolve it, say); "FILE: " alone for a built-in default.
 * Returns a malloc'd string the caller frees. */
char *cfg_address_message(const cfg_config_t *config, const cfg_address_t *address, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Deep copy of a key spec (for state that outlives its config, like limiter state kept across a
 * reload); release it with cfg_keyspec_clear. */
void cfg_keyspec_copy(cfg_keyspec_t *dst, const cfg_keyspec_t *src);
void cfg_keyspec_clear(cfg_keyspec_t *spec);
/* 1 if both name the same key sources in the same order. */
int cfg_keyspec_equal(const cfg_keyspec_t *a, const cfg_keyspec_t *b);

/* The effective config as a JSON object (every default filled in, the Redis password replaced by
 * "<redacted>"). Returns a malloc'd NUL-terminated string the caller frees. */
char *cfg_to_json(const cfg_config_t *config);

#endif
