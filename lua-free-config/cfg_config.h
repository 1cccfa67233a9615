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
} cfg_address_t;

typedef struct st_cfg_cidr_t {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, host bits cleared; IPv4 uses the first 4 bytes */
    unsigned prefix_len;
    char *text;
} cfg_cidr_t;

/* What a keyed limit is keyed on (`per:`). */
typedef enum { CFG_KEY_NONE, CFG_KEY_CLIENT_IP, CFG_KEY_HEADER, CFG_KEY_QUERY, CFG_KEY_COOKIE } cfg_key_kind_t;

typedef struct st_cfg_key_t {
    cfg_key_kind_t kind;
    char *name; /* header name (lower-cased), query parameter or cookie name; NULL for NONE/CLIENT_IP */
    char *text; /* as written, e.g. "header:X-User-Id"; NULL for NONE */
} cfg_key_t;

typedef enum { CFG_SCOPE_LOCAL, CFG_SCOPE_GLOBAL } cfg_scope_t;
typedef enum { CFG_QUEUE_FIFO, CFG_QUEUE_LIFO } cfg_queue_order_t;
typedef enum { CFG_EXCEED_REJECT, CFG_EXCEED_DELAY } cfg_on_exceed_t;
typedef enum { CFG_REDIS_FALLBACK_LOCAL, CFG_REDIS_FALLBACK_ALLOW, CFG_REDIS_FALLBACK_DENY } cfg_redis_on_error_t;

typedef struct st_cfg_concurrency_t {
    int enabled; /* 0 when the route has no `concurrency:` block */
    uint32_t limit;
    cfg_key_t per;
    cfg_scope_t scope;
    uint32_t max_keys;
    uint32_t queue_size;
    uint64_t queue_timeout_ms;
    cfg_queue_order_t queue_order;
} cfg_concurrency_t;

typedef struct st_cfg_rate_limit_t {
    char *name;
    uint64_t count;     /* `rate: COUNT/UNIT` */
    uint64_t period_ms; /* 1000, 60000 or 3600000 */
    uint32_t burst;
    cfg_key_t per;
    cfg_scope_t scope;
    cfg_on_exceed_t on_exceed;
    uint64_t max_delay_ms;
    uint32_t max_keys;
} cfg_rate_limit_t;

typedef struct st_cfg_header_match_t {
    char *name; /* lower-cased */
    char *value;
} cfg_header_match_t;

typedef struct st_cfg_upstream_t {
    char *name;
    cfg_address_t address;
    uint64_t connect_timeout_ms;
    uint64_t read_timeout_ms;
    uint32_t keepalive;
    uint32_t max_connections;
} cfg_upstream_t;

typedef struct st_cfg_route_t {
    char *name;
    /* match: at most one of path / path_prefix is set; neither = every path */
    char *path;
    char *path_prefix;
    char **methods; /* upper-case; num_methods == 0 = any method */
    size_t num_methods;
    char *host; /* lower-cased, NULL = any */
    cfg_header_match_t *headers;
    size_t num_headers;
    size_t upstream; /* index into cfg_config_t.upstreams */
    uint64_t timeout_ms;
    cfg_concurrency_t concurrency;
    cfg_rate_limit_t *rate_limits;
    size_t num_rate_limits;
    int hide_upstream_5xx;
} cfg_route_t;

typedef struct st_cfg_client_t {
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t max_body;
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

/* The effective config as a JSON object (every default filled in, the Redis password replaced by
 * "<redacted>"). Returns a malloc'd NUL-terminated string the caller frees. */
char *cfg_to_json(const cfg_config_t *config);

#endif
