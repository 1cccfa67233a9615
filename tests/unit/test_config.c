/* The policy loader (lua-free-config/): every field of a full file, defaults, value syntaxes,
 * every error path with its exact message and position, ${VAR}, cfg_to_json, and the examples. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "cfg_config.h"
#include "cfg_yaml.h"
#include "corpus.h"

static cfg_errors_t errors;

static cfg_config_t *load(const char *yaml)
{
    cfg_errors_clear(&errors);
    return cfg_load_string(yaml, strlen(yaml), "t.yaml", &errors);
}

static void dump_errors(void)
{
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "  got: %s\n", errors.items[i]);
}

static int has_error(const char *expected)
{
    for (size_t i = 0; i != errors.count; ++i)
        if (strcmp(errors.items[i], expected) == 0)
            return 1;
    fprintf(stderr, "expected error not found: %s\n", expected);
    dump_errors();
    return 0;
}

/* Loads a file that must fail with exactly this one error. */
static void check_one_error_at(int line, const char *yaml, const char *expected)
{
    cfg_config_t *c = load(yaml);
    if (c != NULL || errors.count != 1 || strcmp(errors.items[0], expected) != 0) {
        fprintf(stderr, "test_config.c:%d: expected exactly: %s\n", line, expected);
        dump_errors();
    }
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 1);
    CHECK(errors.count == 1 && strcmp(errors.items[0], expected) == 0);
    cfg_free(c);
}
#define check_one_error(yaml, expected) check_one_error_at(__LINE__, yaml, expected)

static cfg_config_t *load_ok_at(int line, const char *yaml)
{
    cfg_config_t *c = load(yaml);
    if (c == NULL) {
        fprintf(stderr, "test_config.c:%d: expected a valid config\n", line);
        dump_errors();
    }
    CHECK(c != NULL);
    return c;
}
#define load_ok(yaml) load_ok_at(__LINE__, yaml)

/* BASE is lines 1-2; with R(x), line 3 is `routes: [{name: a, upstream: app, ` (34 columns) then x,
 * so a node at offset k of x is at 3:(35 + k). */
#define BASE "upstreams:\n  app: {address: 127.0.0.1:8000}\n"
#define R(x) BASE "routes: [{name: a, upstream: app, " x "}]\n"
#define ROUTE_A "routes: [{name: a, upstream: app}]\n"
#define REDIS "redis: {address: 127.0.0.1:6379}\n"

static void test_full_file(void)
{
    setenv("SLUICE_TEST_PASSWORD", "pw-from-env", 1);
    cfg_config_t *c =
        load_ok("listen: [127.0.0.1:8080, \"[::1]:8081\", unix:/run/sluice.sock]\n"
                "admin: 127.0.0.1:9999\n"
                "drain_delay: 2s\n"
                "shutdown_timeout: 1m\n"
                "client:\n"
                "  header_timeout: 3s\n"
                "  idle_timeout: 2m\n"
                "  max_body: 512KiB\n"
                "  trusted_proxies: [10.0.0.0/8, \"fd00::/8\", 192.168.1.7]\n"
                "redis:\n"
                "  address: unix:/run/redis.sock\n"
                "  password: ${SLUICE_TEST_PASSWORD}\n"
                "  database: 2\n"
                "  timeout: 50ms\n"
                "  prefix: \"x:\"\n"
                "  on_error: deny\n"
                "  instances: 3\n"
                "  slot_lease: 3s\n"
                "upstreams:\n"
                "  app: {address: 127.0.0.1:8000, connect_timeout: 250ms, read_timeout: 2s, keepalive: 8, "
                "max_connections: 16}\n"
                "  other: {address: \"backend.local:9000\"}\n"
                "routes:\n"
                "  - name: orders\n"
                "    match: {path_prefix: /orders, methods: [post, PUT], host: API.example.com, headers: {X-Tenant: "
                "gold}}\n"
                "    upstream: other\n"
                "    timeout: 5s\n"
                "    concurrency:\n"
                "      limit: 16\n"
                "      per: header:X-User-Id\n"
                "      scope: global\n"
                "      max_keys: 1000\n"
                "      queue: {size: 64, timeout: 2s, order: lifo}\n"
                "    rate_limits:\n"
                "      - {name: per-client, rate: 100/s, burst: 20, per: client_ip, on_exceed: delay, max_delay: 300ms, "
                "max_keys: 500}\n"
                "      - {name: global, rate: 6000/m, scope: global}\n"
                "      - {name: by-tenant, rate: 5/h, per: \"query:tenant\"}\n"
                "      - {name: by-session, rate: 7/s, per: \"cookie:sid\"}\n"
                "    errors: {hide_upstream_5xx: true}\n"
                "  - name: exact\n"
                "    match: {path: /healthz}\n"
                "    upstream: app\n"
                "  - name: rest\n"
                "    upstream: app\n");
    if (c == NULL)
        return;
    CHECK_STR(c->source, "t.yaml");
    CHECK_EQ_U64(c->num_listen, 3);
    CHECK(c->listen[0].kind == CFG_ADDR_TCP);
    CHECK_STR(c->listen[0].host, "127.0.0.1");
    CHECK_EQ_U64(c->listen[0].port, 8080);
    CHECK_STR(c->listen[1].host, "::1");
    CHECK_STR(c->listen[1].text, "[::1]:8081");
    CHECK_EQ_U64(c->listen[1].port, 8081);
    CHECK(c->listen[2].kind == CFG_ADDR_UNIX);
    CHECK_STR(c->listen[2].host, "/run/sluice.sock");
    CHECK_STR(c->admin.host, "127.0.0.1");
    CHECK_EQ_U64(c->admin.port, 9999);
    CHECK_EQ_U64(c->drain_delay_ms, 2000);
    CHECK_EQ_U64(c->shutdown_timeout_ms, 60000);
    CHECK_EQ_U64(c->client.header_timeout_ms, 3000);
    CHECK_EQ_U64(c->client.idle_timeout_ms, 120000);
    CHECK_EQ_U64(c->client.max_body, 512 * 1024);
    CHECK_EQ_U64(c->client.num_trusted_proxies, 3);
    CHECK_EQ_U64(c->client.trusted_proxies[0].family, AF_INET);
    CHECK_EQ_U64(c->client.trusted_proxies[0].prefix_len, 8);
    CHECK_EQ_U64(c->client.trusted_proxies[0].addr[0], 10);
    CHECK_STR(c->client.trusted_proxies[0].text, "10.0.0.0/8");
    CHECK_EQ_U64(c->client.trusted_proxies[1].family, AF_INET6);
    CHECK_EQ_U64(c->client.trusted_proxies[1].prefix_len, 8);
    CHECK_EQ_U64(c->client.trusted_proxies[1].addr[0], 0xfd);
    CHECK_EQ_U64(c->client.trusted_proxies[2].prefix_len, 32);
    CHECK_EQ_U64(c->client.trusted_proxies[2].addr[3], 7);
    CHECK(c->redis.enabled);
    CHECK(c->redis.address.kind == CFG_ADDR_UNIX);
    CHECK_STR(c->redis.address.host, "/run/redis.sock");
    CHECK_STR(c->redis.password, "pw-from-env");
    CHECK_EQ_U64(c->redis.database, 2);
    CHECK_EQ_U64(c->redis.timeout_ms, 50);
    CHECK_STR(c->redis.prefix, "x:");
    CHECK(c->redis.on_error == CFG_REDIS_FALLBACK_DENY);
    CHECK_EQ_U64(c->redis.instances, 3);
    CHECK_EQ_U64(c->redis.slot_lease_ms, 3000);
    CHECK_EQ_U64(c->num_upstreams, 2);
    CHECK_STR(c->upstreams[0].name, "app");
    CHECK_STR(c->upstreams[0].address.text, "127.0.0.1:8000");
    CHECK_EQ_U64(c->upstreams[0].address.port, 8000);
    CHECK_EQ_U64(c->upstreams[0].connect_timeout_ms, 250);
    CHECK_EQ_U64(c->upstreams[0].read_timeout_ms, 2000);
    CHECK_EQ_U64(c->upstreams[0].keepalive, 8);
    CHECK_EQ_U64(c->upstreams[0].max_connections, 16);
    CHECK_STR(c->upstreams[1].name, "other");
    CHECK_STR(c->upstreams[1].address.host, "backend.local");
    CHECK_EQ_U64(c->upstreams[1].address.port, 9000);
    CHECK_EQ_U64(c->upstreams[1].connect_timeout_ms, 1000);
    CHECK_EQ_U64(c->upstreams[1].read_timeout_ms, 30000);
    CHECK_EQ_U64(c->upstreams[1].keepalive, 64);
    CHECK_EQ_U64(c->upstreams[1].max_connections, 256);

    CHECK_EQ_U64(c->num_routes, 3);
    cfg_route_t *r = &c->routes[0];
    CHECK_STR(r->name, "orders");
    CHECK(r->path == NULL);
    CHECK_STR(r->path_prefix, "/orders");
    CHECK_EQ_U64(r->num_methods, 2);
    CHECK_STR(r->methods[0], "POST");
    CHECK_STR(r->methods[1], "PUT");
    CHECK_STR(r->host, "api.example.com");
    CHECK_EQ_U64(r->num_headers, 1);
    CHECK_STR(r->headers[0].name, "x-tenant");
    CHECK_STR(r->headers[0].value, "gold");
    CHECK_EQ_U64(r->upstream, 1);
    CHECK_EQ_U64(r->timeout_ms, 5000);
    CHECK_EQ_U64(r->num_concurrency, 1);
    CHECK_EQ_U64(r->concurrency[0].limit, 16);
    CHECK(r->concurrency[0].per.keys[0].kind == CFG_KEY_HEADER);
    CHECK_STR(r->concurrency[0].per.keys[0].name, "x-user-id");
    CHECK_STR(r->concurrency[0].per.text, "header:X-User-Id");
    CHECK(r->concurrency[0].scope == CFG_SCOPE_GLOBAL);
    CHECK_EQ_U64(r->concurrency[0].max_keys, 1000);
    CHECK_EQ_U64(r->concurrency[0].queue_size, 64);
    CHECK_EQ_U64(r->concurrency[0].queue_timeout_ms, 2000);
    CHECK(r->concurrency[0].queue_order == CFG_QUEUE_LIFO);
    CHECK_EQ_U64(r->num_rate_limits, 4);
    cfg_rate_limit_t *rl = &r->rate_limits[0];
    CHECK_STR(rl->name, "per-client");
    CHECK_EQ_U64(rl->count, 100);
    CHECK_EQ_U64(rl->period_ms, 1000);
    CHECK_EQ_U64(rl->burst, 20);
    CHECK(rl->per.keys[0].kind == CFG_KEY_CLIENT_IP);
    CHECK(rl->per.keys[0].name == NULL);
    CHECK_STR(rl->per.text, "client_ip");
    CHECK(rl->scope == CFG_SCOPE_LOCAL);
    CHECK(rl->on_exceed == CFG_EXCEED_DELAY);
    CHECK_EQ_U64(rl->max_delay_ms, 300);
    CHECK_EQ_U64(rl->max_keys, 500);
    rl = &r->rate_limits[1];
    CHECK_EQ_U64(rl->count, 6000);
    CHECK_EQ_U64(rl->period_ms, 60000);
    CHECK_EQ_U64(rl->burst, 1);
    CHECK(rl->per.num_keys == 0);
    CHECK(rl->per.text == NULL);
    CHECK(rl->scope == CFG_SCOPE_GLOBAL);
    CHECK(rl->on_exceed == CFG_EXCEED_REJECT);
    CHECK_EQ_U64(rl->max_delay_ms, 500);
    CHECK_EQ_U64(rl->max_keys, 100000);
    rl = &r->rate_limits[2];
    CHECK_EQ_U64(rl->period_ms, 3600000);
    CHECK(rl->per.keys[0].kind == CFG_KEY_QUERY);
    CHECK_STR(rl->per.keys[0].name, "tenant");
    CHECK(r->rate_limits[3].per.keys[0].kind == CFG_KEY_COOKIE);
    CHECK_STR(r->rate_limits[3].per.keys[0].name, "sid");
    CHECK(r->errors.hide_upstream_5xx);
    CHECK_STR(c->routes[1].path, "/healthz");
    CHECK(c->routes[1].path_prefix == NULL);

    /* defaults of a bare route */
    r = &c->routes[2];
    CHECK_STR(r->name, "rest");
    CHECK(r->path == NULL && r->path_prefix == NULL && r->host == NULL);
    CHECK_EQ_U64(r->num_methods, 0);
    CHECK_EQ_U64(r->num_headers, 0);
    CHECK_EQ_U64(r->upstream, 0);
    CHECK_EQ_U64(r->timeout_ms, 30000);
    CHECK_EQ_U64(r->num_concurrency, 0);
    CHECK_EQ_U64(r->num_rate_limits, 0);
    CHECK(r->errors.hide_upstream_5xx); /* the default is now true */
    CHECK(r->errors.scrub_tracebacks);

    char *json = cfg_to_json(c);
    CHECK(strstr(json, "pw-from-env") == NULL);
    CHECK(strstr(json, "\"password\":\"<redacted>\"") != NULL);
    CHECK(strstr(json, "\"timeout\":\"5s\"") != NULL);
    CHECK(strstr(json, "\"rate\":\"6000/m\"") != NULL);
    CHECK(strstr(json, "\"per\":\"header:X-User-Id\"") != NULL);
    CHECK(strstr(json, "\"max_body\":524288") != NULL);
    CHECK(strstr(json, "\"listen\":[\"127.0.0.1:8080\",\"[::1]:8081\",\"unix:/run/sluice.sock\"]") != NULL);
    free(json);
    cfg_free(c);
}

static void test_defaults(void)
{
    cfg_config_t *c = load_ok(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 4}, rate_limits: [{name: r, "
                                   "rate: 10/s}]}]\n");
    if (c == NULL)
        return;
    CHECK_EQ_U64(c->num_listen, 1);
    CHECK_STR(c->listen[0].text, "0.0.0.0:8080");
    CHECK_STR(c->listen[0].host, "0.0.0.0");
    CHECK_EQ_U64(c->listen[0].port, 8080);
    CHECK_STR(c->admin.text, "127.0.0.1:9901");
    CHECK_EQ_U64(c->admin.port, 9901);
    CHECK_EQ_U64(c->drain_delay_ms, 5000);
    CHECK_EQ_U64(c->shutdown_timeout_ms, 30000);
    CHECK_EQ_U64(c->client.header_timeout_ms, 10000);
    CHECK_EQ_U64(c->client.idle_timeout_ms, 60000);
    CHECK_EQ_U64(c->client.max_body, 10 * 1024 * 1024);
    CHECK_EQ_U64(c->client.num_trusted_proxies, 0);
    CHECK(!c->redis.enabled);
    CHECK(c->redis.password == NULL);
    CHECK_EQ_U64(c->routes[0].num_concurrency, 1);
    const cfg_concurrency_t *cc = &c->routes[0].concurrency[0];
    CHECK_STR(cc->name, "concurrency");
    CHECK(cc->per.num_keys == 0);
    CHECK(cc->scope == CFG_SCOPE_LOCAL);
    CHECK_EQ_U64(cc->max_keys, 100000);
    CHECK_EQ_U64(cc->queue_size, 0);
    CHECK_EQ_U64(cc->queue_timeout_ms, 1000);
    CHECK(cc->queue_order == CFG_QUEUE_FIFO);
    const cfg_rate_limit_t *rl = &c->routes[0].rate_limits[0];
    CHECK_EQ_U64(rl->burst, 1);
    CHECK(rl->per.num_keys == 0);
    CHECK(rl->scope == CFG_SCOPE_LOCAL);
    CHECK(rl->on_exceed == CFG_EXCEED_REJECT);
    CHECK_EQ_U64(rl->max_delay_ms, 500);
    CHECK_EQ_U64(rl->max_keys, 100000);

    /* the whole effective config, so that GET /config's shape is pinned down */
    char *json = cfg_to_json(c);
    CHECK_STR(json, "{\"listen\":[\"0.0.0.0:8080\"],\"admin\":\"127.0.0.1:9901\",\"drain_delay\":\"5s\",\"shutdown_timeout\":"
                    "\"30s\",\"client\":{\"header_timeout\":\"10s\",\"idle_timeout\":\"1m\",\"body_timeout\":\"1m\","
                    "\"max_body\":10485760,\"max_header_size\":65536,\"trusted_proxies\":[]},\"errors\":{\"hide_upstream_5xx\":"
                    "true,\"scrub_tracebacks\":true},\"redis\":null,\"upstreams\":{\"app\":{\"address\":\"127.0.0.1:8000\","
                    "\"connect_timeout\":\"1s\",\"read_timeout\":\"30s\",\"keepalive\":64,\"max_connections\":256,"
                    "\"response_buffer\":262144}},\"routes\":[{\"name\":\"a\",\"match\":{\"path\":null,\"path_prefix\":null,"
                    "\"methods\":[],\"host\":null,\"headers\":{}},\"upstream\":\"app\",\"timeout\":\"30s\",\"max_body\":10485760,"
                    "\"concurrency\":[{\"name\":\"concurrency\",\"limit\":4,\"adaptive\":null,\"per\":null,\"scope\":\"local\","
                    "\"max_keys\":100000,\"max_key_length\":256,\"queue\":{\"size\":0,\"timeout\":\"1s\",\"order\":\"fifo\"},"
                    "\"hold_aborted\":\"0ms\"}],\"rate_limits\":[{\"name\":\"r\",\"rate\":\"10/s\",\"burst\":1,\"per\":null,"
                    "\"fair\":null,\"scope\":\"local\",\"on_exceed\":\"reject\",\"max_delay\":\"500ms\",\"max_keys\":100000,"
                    "\"max_key_length\":256}],\"circuit_breaker\":null,\"priority\":null,\"websocket\":{\"allow\":true,"
                    "\"max_connections\":1000,\"idle_timeout\":\"5m\"},\"request_headers\":{\"set\":{},\"remove\":[]},"
                    "\"errors\":{\"hide_upstream_5xx\":true,\"scrub_tracebacks\":true}}]}\n");
    free(json);
    cfg_free(c);

    /* redis defaults */
    c = load_ok(BASE REDIS ROUTE_A);
    if (c == NULL)
        return;
    CHECK(c->redis.enabled);
    CHECK_STR(c->redis.address.host, "127.0.0.1");
    CHECK_EQ_U64(c->redis.address.port, 6379);
    CHECK(c->redis.password == NULL);
    CHECK_EQ_U64(c->redis.database, 0);
    CHECK_EQ_U64(c->redis.timeout_ms, 25);
    CHECK_STR(c->redis.prefix, "sluice:");
    CHECK(c->redis.on_error == CFG_REDIS_FALLBACK_LOCAL);
    CHECK_EQ_U64(c->redis.instances, 1);
    CHECK_EQ_U64(c->redis.slot_lease_ms, 10000);
    json = cfg_to_json(c);
    CHECK(strstr(json, "\"redis\":{\"address\":\"127.0.0.1:6379\",\"password\":null,\"database\":0,\"timeout\":\"25ms\","
                       "\"prefix\":\"sluice:\",\"on_error\":\"local\",\"instances\":1,\"slot_lease\":\"10s\"}") != NULL);
    free(json);
    cfg_free(c);
}

/* The accepted spellings of each value syntax. */
static void test_values(void)
{
    cfg_config_t *c = load_ok("listen: \"[::]:80\"\n"
                              "admin: unix:/run/sluice-admin.sock\n"
                              "drain_delay: 0ms\n"
                              "shutdown_timeout: 1h\n"
                              "client: {header_timeout: 250ms, max_body: 1GiB, trusted_proxies: [10.1.2.3/8, "
                              "\"2001:db8::1/32\", \"::1\"]}\n" BASE "routes:\n"
                              "  - {name: a, upstream: app, timeout: 2m, rate_limits: [{name: r, rate: 1/s, burst: 1000000000}]}\n"
                              "  - {name: b_2-x, upstream: app, timeout: 1s, concurrency: {limit: 1000000, queue: {size: "
                              "1000000}, max_keys: 100000000}}\n");
    if (c == NULL)
        return;
    CHECK_EQ_U64(c->num_listen, 1);
    CHECK_STR(c->listen[0].host, "::");
    CHECK_EQ_U64(c->listen[0].port, 80);
    CHECK(c->admin.kind == CFG_ADDR_UNIX);
    CHECK_STR(c->admin.host, "/run/sluice-admin.sock");
    CHECK_STR(c->admin.text, "unix:/run/sluice-admin.sock");
    CHECK_EQ_U64(c->drain_delay_ms, 0);
    CHECK_EQ_U64(c->shutdown_timeout_ms, 3600000);
    CHECK_EQ_U64(c->client.header_timeout_ms, 250);
    CHECK_EQ_U64(c->client.max_body, 1024ull * 1024 * 1024);
    /* host bits are cleared so that matching compares networks */
    CHECK_EQ_U64(c->client.trusted_proxies[0].addr[0], 10);
    CHECK_EQ_U64(c->client.trusted_proxies[0].addr[1], 0);
    CHECK_EQ_U64(c->client.trusted_proxies[0].addr[3], 0);
    CHECK_EQ_U64(c->client.trusted_proxies[1].prefix_len, 32);
    CHECK_EQ_U64(c->client.trusted_proxies[1].addr[15], 0);
    CHECK_EQ_U64(c->client.trusted_proxies[2].prefix_len, 128);
    CHECK_EQ_U64(c->client.trusted_proxies[2].addr[15], 1);
    CHECK_EQ_U64(c->routes[0].timeout_ms, 120000);
    CHECK_EQ_U64(c->routes[0].rate_limits[0].burst, 1000000000);
    CHECK_EQ_U64(c->routes[1].concurrency[0].limit, 1000000);
    CHECK_EQ_U64(c->routes[1].concurrency[0].queue_size, 1000000);
    CHECK_EQ_U64(c->routes[1].concurrency[0].max_keys, 100000000);
    char *json = cfg_to_json(c);
    CHECK(strstr(json, "\"drain_delay\":\"0ms\",\"shutdown_timeout\":\"1h\"") != NULL);
    free(json);
    cfg_free(c);

    static const struct {
        const char *text;
        uint64_t bytes;
    } sizes[] = {{"1", 1}, {"100B", 100}, {"512KiB", 512 * 1024}, {"10MiB", 10 * 1024 * 1024}, {"2GiB", 2ull << 30}};
    for (size_t i = 0; i != sizeof(sizes) / sizeof(sizes[0]); ++i) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "client: {max_body: %s}\n" BASE ROUTE_A, sizes[i].text);
        c = load_ok(yaml);
        if (c != NULL)
            CHECK_EQ_U64(c->client.max_body, sizes[i].bytes);
        cfg_free(c);
    }

    /* keepalive may equal max_connections, and 0 keeps no idle connection */
    c = load_ok("upstreams: {app: {address: \"localhost:1\", keepalive: 0, max_connections: 1}, b: {address: \"h:2\", "
                "keepalive: 100000, max_connections: 100000}}\n" ROUTE_A);
    cfg_free(c);
    c = load_ok(BASE "redis: {address: \"[::1]:6379\", database: 15, instances: 1000, on_error: allow}\n" ROUTE_A);
    if (c != NULL)
        CHECK(c->redis.on_error == CFG_REDIS_FALLBACK_ALLOW);
    cfg_free(c);
    /* quoted and anchored values are scalars like any other */
    c = load_ok("upstreams: {app: {address: &addr \"127.0.0.1:8000\"}, copy: {address: *addr}}\n"
                "routes: [{name: a, upstream: copy, concurrency: {limit: \"3\"}}]\n");
    if (c != NULL) {
        CHECK_STR(c->upstreams[1].address.text, "127.0.0.1:8000");
        CHECK_EQ_U64(c->routes[0].concurrency[0].limit, 3);
    }
    cfg_free(c);
}

static void test_syntax_and_document_errors(void)
{
    check_one_error("routes: [\n", "t.yaml:2:1: YAML syntax error: did not find expected node content while parsing a flow node");
    check_one_error("a: b: c\n", "t.yaml:1:5: YAML syntax error: mapping values are not allowed in this context");
    /* (found by fuzz/fuzz_config: an empty file gave qsort a NULL array, which UBSan reports) */
    check_one_error("", "t.yaml:1:1: the file is empty: it needs at least upstreams: and routes:");
    check_one_error("# only a comment\n", "t.yaml:1:1: the file is empty: it needs at least upstreams: and routes:");
    check_one_error("- a\n", "t.yaml:1:1: the top level must be a mapping, got a list");
    check_one_error("just text\n", "t.yaml:1:1: the top level must be a mapping, got a scalar");
    check_one_error(BASE ROUTE_A "---\nlisten: 127.0.0.1:1\n",
                    "t.yaml:5:1: a second YAML document (after ---): the file must hold exactly one");
    check_one_error(BASE "routes: []\n", "t.yaml:3:9: no routes: at least one route is needed");
    check_one_error(BASE, "t.yaml:1:1: no routes: the file needs a routes: list");
    /* without upstreams, the route's reference dangles too: both are reported */
    cfg_config_t *c = load("upstreams: {}\n" ROUTE_A);
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 2);
    CHECK(has_error("t.yaml:1:12: no upstreams: at least one upstream is needed"));
    CHECK(has_error("t.yaml:2:30: route \"a\": unknown upstream \"app\""));
    c = load(ROUTE_A);
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 2);
    CHECK(has_error("t.yaml:1:30: route \"a\": unknown upstream \"app\""));
    CHECK(has_error("t.yaml:1:1: no upstreams: the file needs an upstreams: mapping"));

    cfg_errors_clear(&errors);
    CHECK(cfg_load_file("/nonexistent/sluice.yaml", &errors) == NULL);
    CHECK_EQ_U64(errors.count, 1);
    CHECK(has_error("/nonexistent/sluice.yaml: cannot open: No such file or directory"));
    cfg_errors_clear(&errors);
    CHECK(cfg_load_file(SLUICE_SOURCE_DIR, &errors) == NULL);
    CHECK(has_error(SLUICE_SOURCE_DIR ": cannot read: Is a directory"));
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A malloc'd string: prefix, then `open` n times, then middle, then `close` n times, then suffix. */
static char *nested(const char *prefix, const char *open, size_t n, const char *middle, const char *close, const char *suffix)
{
    size_t len = strlen(prefix) + n * (strlen(open) + strlen(close)) + strlen(middle) + strlen(suffix) + 1;
    char *s = malloc(len), *p = s;
    p += sprintf(p, "%s", prefix);
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "%s", open);
    p += sprintf(p, "%s", middle);
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "%s", close);
    sprintf(p, "%s", suffix);
    return s;
}

/* Input built to be slow or huge: deep nesting, many keys, anchors, aliases that multiply. Each
 * case took seconds to minutes (or gigabytes) with yaml_parser_load and pairwise key checks. */
static void test_hostile_yaml(void)
{
    /* 64 levels (the root mapping is the first) load; the 65th is refused where it opens */
    char *yaml = nested(BASE ROUTE_A "x: ", "[", 63, "", "]", "\n");
    cfg_config_t *c = load(yaml);
    CHECK(c == NULL);
    CHECK(has_error("t.yaml:4:1: unknown key \"x\" in the top level"));
    CHECK_EQ_U64(errors.count, 1);
    free(yaml);
    yaml = nested(BASE ROUTE_A "x: ", "[", 64, "", "]", "\n");
    check_one_error(yaml, "t.yaml:4:67: YAML nesting deeper than 64 levels");
    free(yaml);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    yaml = nested("a: ", "[", 100000, "", "]", "\n");
    check_one_error(yaml, "t.yaml:1:67: YAML nesting deeper than 64 levels");
    free(yaml);
    yaml = nested("a: ", "{a: ", 100000, "1", "}", "\n");
    check_one_error(yaml, "t.yaml:1:256: YAML nesting deeper than 64 levels");
    free(yaml);
    yaml = nested("a: ", "[", 100000, "", "", "\n"); /* never closed */
    check_one_error(yaml, "t.yaml:1:67: YAML nesting deeper than 64 levels");
    free(yaml);
    double took = seconds_since(&start);
    fprintf(stderr, "100k nested levels (3 files): %.3f s\n", took);
    CHECK(took < 1.0); /* was 16 s to 58 s each */

    /* 20000 keys in one mapping, every one unknown; 20000 anchors and aliases */
    size_t n = 20000;
    char *big = malloc(n * 64 + 256), *p = big;
    p += sprintf(p, BASE ROUTE_A);
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "k%zu: &a%zu 1\n", i, i);
    p += sprintf(p, "y: [");
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "*a%zu, ", n - 1 - i);
    sprintf(p, "]\n");
    clock_gettime(CLOCK_MONOTONIC, &start);
    c = load(big);
    took = seconds_since(&start);
    fprintf(stderr, "20000 keys, anchors and aliases: %.3f s\n", took);
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, n + 1);
    CHECK(has_error("t.yaml:20003:1: unknown key \"k19999\" in the top level"));
    CHECK(took < 4.0); /* was 9 s */
    free(big);

    /* 20000 upstreams and 20000 routes, each naming another upstream: look-ups and name checks */
    big = malloc(n * 160 + 256), p = big;
    p += sprintf(p, "upstreams:\n");
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "  u%zu: {address: 127.0.0.1:1}\n", i);
    p += sprintf(p, "routes:\n");
    for (size_t i = 0; i != n; ++i)
        p += sprintf(p, "  - {name: r%zu, upstream: u%zu, rate_limits: [{name: a, rate: 1/s}]}\n", i, n - 1 - i);
    clock_gettime(CLOCK_MONOTONIC, &start);
    c = load_ok(big);
    took = seconds_since(&start);
    fprintf(stderr, "20000 upstreams and routes: %.3f s\n", took);
    if (c != NULL)
        CHECK_EQ_U64(c->routes[n - 1].upstream, 0);
    cfg_free(c);
    CHECK(took < 4.0); /* was 17 s */
    free(big);

    /* billion laughs: each level doubles; the ninth would expand to 2^9 x 1000 nodes */
    big = malloc(64 * 1024), p = big;
    p += sprintf(p, BASE ROUTE_A "l0: &l0 [");
    for (int i = 0; i != 1000; ++i)
        p += sprintf(p, "%sx", i ? "," : "");
    p += sprintf(p, "]\n");
    for (int i = 1; i <= 12; ++i)
        p += sprintf(p, "l%d: &l%d [*l%d, *l%d]\n", i, i, i - 1, i - 1);
    /* the budget is 1000000 + 10 x the file's own nodes and scalar bytes up to the alias: lines
     * 1-3 hold 14 nodes and 55 bytes, l0 1002 nodes and 1002 bytes, l1-l9 two nodes and 2 bytes
     * each, so 2109 and a budget of 1021090; the alias that passes it is l9's second *l8 */
    check_one_error(big, "t.yaml:13:10: alias *l8: aliases expand this file past 1021090 nodes and bytes (1000000 + 10 "
                         "times its own); refused");
    free(big);

    /* the budget's edge: x is a list of one 778-byte scalar (weight 780: 2 nodes and 778 bytes);
     * the file's own weight up to y's aliases is 69 + 2 (x) + 780 + 2 (y) + 1 (y's list) = 854,
     * so the budget is 1000000 + 8540 = 1293 x 780: 1293 aliases of x fit, 1294 do not */
    for (int k = 1293; k <= 1294; ++k) {
        big = malloc(16 * 1024), p = big;
        p += sprintf(p, BASE ROUTE_A "x: &s [");
        for (int i = 0; i != 778; ++i)
            *p++ = 's';
        p += sprintf(p, "]\ny: [");
        for (int i = 0; i != k; ++i)
            p += sprintf(p, "*s, ");
        sprintf(p, "]\n");
        c = load(big);
        CHECK(c == NULL);
        if (k == 1293) {
            CHECK_EQ_U64(errors.count, 2);
            CHECK(has_error("t.yaml:4:1: unknown key \"x\" in the top level"));
            CHECK(has_error("t.yaml:5:1: unknown key \"y\" in the top level"));
        } else {
            /* the 1294th alias is at column 5 + 4 x 1293 */
            CHECK_EQ_U64(errors.count, 1);
            CHECK(has_error("t.yaml:5:5177: alias *s: aliases expand this file past 1008540 nodes and bytes (1000000 + 10 "
                            "times its own); refused"));
        }
        free(big);
    }

    /* aliases that are fine: reuse within the budget, a key given by an alias */
    c = load_ok("upstreams: {app: &u {address: 127.0.0.1:1}, b: *u}\n"
                "routes: [{name: a, upstream: app, concurrency: {limit: 1, queue: &q {size: 3, timeout: 3s}}}, {name: b, "
                "upstream: b, concurrency: {limit: 2, queue: *q}}]\n");
    if (c != NULL) {
        CHECK_STR(c->upstreams[1].address.text, "127.0.0.1:1");
        CHECK_EQ_U64(c->routes[1].concurrency[0].queue_size, 3);
        CHECK_EQ_U64(c->routes[1].concurrency[0].queue_timeout_ms, 3000);
    }
    cfg_free(c);
    c = load(BASE ROUTE_A "x: &k shutdown_timeout\n*k : 0s\n");
    CHECK(c == NULL);
    CHECK(has_error("t.yaml:4:1: unknown key \"x\" in the top level"));
    CHECK(has_error("t.yaml:5:6: shutdown_timeout: must be greater than zero, got \"0s\""));
    check_one_error(BASE ROUTE_A "x: [*nope]\n", "t.yaml:4:5: unknown alias *nope (no anchor &nope before it)");
    check_one_error(BASE ROUTE_A "x: &a [1, *a]\n", "t.yaml:4:11: alias *a refers to a node that contains it (a cycle)");
    check_one_error(BASE ROUTE_A "x: &a {k: *a}\n", "t.yaml:4:11: alias *a refers to a node that contains it (a cycle)");
    /* an anchor given again names the later node */
    c = load(BASE ROUTE_A "x: &a 1\ny: &a 2s\ndrain_delay: *a\n");
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 2); /* x and y; drain_delay is 2s */
    CHECK(has_error("t.yaml:5:1: unknown key \"y\" in the top level"));
}

/* Repeated keys in several mappings at once: each is reported where its mapping is read, in the
 * order of the file, naming the first occurrence (the same for a key given three times), whatever
 * sits between the copies: keys of other lengths, of the same length, one byte apart, a
 * non-scalar key. The mappings end (and record their repeats) inner first. */
static void test_repeated_keys_everywhere(void)
{
    cfg_config_t *c = load("upstreams:\n"
                           "  a:\n"
                           "    address: 127.0.0.1:8000\n"
                           "    keepalive: 1\n"
                           "    connect_timeout: 1s\n"
                           "    max_connections: 5\n"
                           "    address: 127.0.0.1:1\n"
                           "    connect_timeout: 2s\n"
                           "    keepalive: 2\n"
                           "    keepalive: 3\n"
                           "  b: {address: 127.0.0.1:2}\n"
                           "  a: {address: 127.0.0.1:3}\n"
                           "routes: [{name: r, upstream: a}]\n"
                           "listen: 127.0.0.1:1\n"
                           "? [x]\n"
                           ": 1\n"
                           "listen: 127.0.0.1:2\n");
    static const char *const expected[] = {
        "t.yaml:17:1: duplicate key \"listen\" in the top level (first at line 14)",
        "t.yaml:15:3: keys in the top level must be scalars",
        "t.yaml:12:3: duplicate key \"a\" in upstreams (first at line 2)",
        "t.yaml:7:5: duplicate key \"address\" in upstream (first at line 3)",
        "t.yaml:8:5: duplicate key \"connect_timeout\" in upstream (first at line 5)",
        "t.yaml:9:5: duplicate key \"keepalive\" in upstream (first at line 4)",
        "t.yaml:10:5: duplicate key \"keepalive\" in upstream (first at line 4)",
    };
    size_t n = sizeof(expected) / sizeof(expected[0]);
    CHECK(c == NULL);
    if (errors.count != n)
        dump_errors();
    CHECK_EQ_U64(errors.count, n);
    for (size_t i = 0; i != n && i != errors.count; ++i)
        CHECK_STR(errors.items[i], expected[i]);
    cfg_free(c);

    /* more repeats than the first room for them (8): each is still reported */
    char yaml[1024], *p = yaml, want[128];
    p += sprintf(p, BASE ROUTE_A);
    for (int i = 0; i != 12; ++i)
        p += sprintf(p, "drain_delay: %ds\n", i + 1);
    c = load(yaml);
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 11);
    for (int i = 1; i != 12; ++i) {
        sprintf(want, "t.yaml:%d:1: duplicate key \"drain_delay\" in the top level (first at line 4)", 4 + i);
        CHECK(has_error(want));
    }
}

static void test_key_and_type_errors(void)
{
    check_one_error(BASE ROUTE_A "tiemout: 1s\n", "t.yaml:4:1: unknown key \"tiemout\" in the top level");
    check_one_error(R("tiemout: 1s"), "t.yaml:3:35: unknown key \"tiemout\" in route (did you mean \"timeout\"?)");
    check_one_error(R("match: {prefix: /}"), "t.yaml:3:43: unknown key \"prefix\" in match");
    check_one_error(R("concurrency: {limit: 1, queue: {length: 3}}"), "t.yaml:3:67: unknown key \"length\" in concurrency.queue");
    check_one_error(R("concurrency: {limit: 1, burst: 3}"), "t.yaml:3:59: unknown key \"burst\" in concurrency");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, limit: 3}]"), "t.yaml:3:70: unknown key \"limit\" in rate limit");
    check_one_error(R("errors: {hide: true}"), "t.yaml:3:44: unknown key \"hide\" in errors");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, timeout: 1s}}\n" ROUTE_A,
                    "t.yaml:1:41: unknown key \"timeout\" in upstream");
    check_one_error("client: {body: 1}\n" BASE ROUTE_A, "t.yaml:1:10: unknown key \"body\" in client");
    check_one_error(BASE "redis: {address: 127.0.0.1:1, db: 1}\n" ROUTE_A, "t.yaml:3:31: unknown key \"db\" in redis");
    check_one_error(BASE ROUTE_A "? [a]\n: 1\n", "t.yaml:4:3: keys in the top level must be scalars");

    /* repeated keys: reported, and the second one is not applied (nor does it grow an array twice) */
    check_one_error(BASE ROUTE_A "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
                    "t.yaml:5:1: duplicate key \"listen\" in the top level (first at line 4)");
    check_one_error(R("match: {methods: [GET], methods: [PUT, POST, PATCH]}"),
                    "t.yaml:3:59: duplicate key \"methods\" in match (first at line 3)");
    check_one_error(BASE "routes:\n  - name: a\n    upstream: app\n    rate_limits: [{name: r, rate: 1/s}]\n"
                         "    rate_limits: [{name: s, rate: 1/s}, {name: t, rate: 1/s}]\n",
                    "t.yaml:7:5: duplicate key \"rate_limits\" in route (first at line 6)");
    check_one_error("upstreams:\n  app: {address: 127.0.0.1:1}\n  app: {address: 127.0.0.1:2}\n" ROUTE_A,
                    "t.yaml:3:3: duplicate key \"app\" in upstreams (first at line 2)");
    check_one_error(R("match: {headers: {x-a: 1, X-A: 2}}"), "t.yaml:3:61: match.headers: header \"x-a\" given twice");

    /* wrong types */
    check_one_error("client: 5\n" BASE ROUTE_A, "t.yaml:1:9: client: expected a mapping, got a scalar");
    check_one_error("client:\n" BASE ROUTE_A, "t.yaml:1:8: client: expected a mapping, got an empty value");
    check_one_error(BASE "routes: {name: a}\n", "t.yaml:3:9: routes: expected a list, got a mapping");
    check_one_error(BASE "routes: [a]\n", "t.yaml:3:10: route: expected a mapping, got a scalar");
    check_one_error(R("timeout: [1s]"), "t.yaml:3:44: route timeout: expected a scalar, got a list");
    check_one_error(R("match: {methods: GET}"), "t.yaml:3:52: match.methods: expected a list, got a scalar");
    check_one_error(R("match: {headers: [x-a]}"), "t.yaml:3:52: match.headers: expected a mapping, got a list");
    check_one_error(R("rate_limits: {name: r}"), "t.yaml:3:48: rate_limits: expected a list, got a mapping");
    check_one_error(R("concurrency: {limit: many}"), "t.yaml:3:56: concurrency.limit: expected an integer, got \"many\"");
    check_one_error(R("concurrency: {limit: -1}"), "t.yaml:3:56: concurrency.limit: expected an integer, got \"-1\"");
    check_one_error(R("errors: {hide_upstream_5xx: yes}"),
                    "t.yaml:3:63: errors.hide_upstream_5xx: expected true or false, got \"yes\"");
    check_one_error("listen: {a: 1}\n" BASE ROUTE_A, "t.yaml:1:9: listen: expected a list, got a mapping");
    check_one_error("listen: []\n" BASE ROUTE_A, "t.yaml:1:9: listen: needs at least one address");
    check_one_error(R("match: {methods: []}"), "t.yaml:3:52: match.methods: empty list; omit the key to match any method");
}

static void test_value_errors(void)
{
    /* durations */
    static const char *const bad_durations[] = {"5 s", "1d", "1.5s", "250", "-1s", "s", "5S"};
    for (size_t i = 0; i != sizeof(bad_durations) / sizeof(bad_durations[0]); ++i) {
        char yaml[256], expected[256];
        snprintf(yaml, sizeof(yaml), R("timeout: \"%s\""), bad_durations[i]);
        snprintf(expected, sizeof(expected),
                 "t.yaml:3:44: route timeout: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s, got "
                 "\"%s\"",
                 bad_durations[i]);
        check_one_error(yaml, expected);
    }
    check_one_error(R("timeout: 0s"), "t.yaml:3:44: route timeout: must be greater than zero, got \"0s\"");
    check_one_error(R("timeout: 99999999999999999h"), "t.yaml:3:44: route timeout: duration too large, got \"99999999999999999h\"");
    check_one_error("shutdown_timeout: 0ms\n" BASE ROUTE_A,
                    "t.yaml:1:19: shutdown_timeout: must be greater than zero, got \"0ms\"");
    check_one_error("drain_delay: soon\n" BASE ROUTE_A,
                    "t.yaml:1:14: drain_delay: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s, got "
                    "\"soon\"");
    check_one_error(R("concurrency: {limit: 1, queue: {timeout: 0s}}"),
                    "t.yaml:3:76: queue.timeout: must be greater than zero, got \"0s\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, max_delay: 0ms}]"),
                    "t.yaml:3:81: max_delay: must be greater than zero, got \"0ms\"");

    /* sizes */
    static const char *const bad_sizes[] = {"10MB", "1.5MiB", "1 KiB", "1kib", "KiB"};
    for (size_t i = 0; i != sizeof(bad_sizes) / sizeof(bad_sizes[0]); ++i) {
        char yaml[256], expected[256];
        snprintf(yaml, sizeof(yaml), "client: {max_body: \"%s\"}\n" BASE ROUTE_A, bad_sizes[i]);
        snprintf(expected, sizeof(expected),
                 "t.yaml:1:20: client.max_body: expected a size: an integer and a unit (B, KiB, MiB, GiB), e.g. 512KiB or 10MiB, "
                 "got \"%s\"",
                 bad_sizes[i]);
        check_one_error(yaml, expected);
    }
    check_one_error("client: {max_body: 0}\n" BASE ROUTE_A, "t.yaml:1:20: client.max_body: must be greater than zero, got \"0\"");

    /* rates */
    static const char *const bad_rates[] = {"10/d", "100", "1/sec", "/s", "1.5/s"};
    for (size_t i = 0; i != sizeof(bad_rates) / sizeof(bad_rates[0]); ++i) {
        char yaml[256], expected[256];
        snprintf(yaml, sizeof(yaml), R("rate_limits: [{name: r, rate: \"%s\"}]"), bad_rates[i]);
        snprintf(expected, sizeof(expected),
                 "t.yaml:3:65: rate: expected a rate: COUNT/s, COUNT/m or COUNT/h, e.g. 100/s, got \"%s\"", bad_rates[i]);
        check_one_error(yaml, expected);
    }
    check_one_error(R("rate_limits: [{name: r, rate: 0/s}]"),
                    "t.yaml:3:65: rate: rate count must be between 1 and 1000000000, got \"0/s\"");

    /* addresses */
    check_one_error("upstreams: {app: {address: 127.0.0.1:70000}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: port must be an integer from 1 to 65535, got \"127.0.0.1:70000\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:0}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: port must be an integer from 1 to 65535, got \"127.0.0.1:0\"");
    check_one_error("upstreams: {app: {address: \"::1:80\"}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: expected host:port (write IPv6 addresses as [addr]:port), got \"::1:80\"");
    check_one_error("upstreams: {app: {address: nowhere}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: expected host:port, [IPv6]:port or unix:/path, got \"nowhere\"");
    check_one_error("upstreams: {app: {address: \"[zz]:80\"}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: bad IPv6 address, got \"[zz]:80\"");
    check_one_error("upstreams: {app: {address: \"[::1]80\"}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: expected [IPv6]:port, got \"[::1]80\"");
    check_one_error("upstreams: {app: {address: \"bad host:80\"}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: bad host name, got \"bad host:80\"");
    check_one_error("listen: \":8080\"\n" BASE ROUTE_A,
                    "t.yaml:1:9: listen: missing host (write 0.0.0.0:PORT or [::]:PORT for every interface), got \":8080\"");
    check_one_error("admin: unix:run/admin.sock\n" BASE ROUTE_A,
                    "t.yaml:1:8: admin: expected unix:/absolute/path, got \"unix:run/admin.sock\"");
    check_one_error(BASE "redis: {address: localhost}\n" ROUTE_A,
                    "t.yaml:3:18: redis.address: expected host:port, [IPv6]:port or unix:/path, got \"localhost\"");

    /* CIDRs */
    check_one_error("client: {trusted_proxies: [10.0.0.0/33]}\n" BASE ROUTE_A,
                    "t.yaml:1:28: client.trusted_proxies: CIDR prefix length must be 0..32, got \"10.0.0.0/33\"");
    check_one_error("client: {trusted_proxies: [\"fd00::/129\"]}\n" BASE ROUTE_A,
                    "t.yaml:1:28: client.trusted_proxies: CIDR prefix length must be 0..128, got \"fd00::/129\"");
    check_one_error("client: {trusted_proxies: [10.0.0/8]}\n" BASE ROUTE_A,
                    "t.yaml:1:28: client.trusted_proxies: expected a CIDR such as 10.0.0.0/8 or fd00::/8, got \"10.0.0/8\"");
    check_one_error("client: {trusted_proxies: [10.0.0.0/]}\n" BASE ROUTE_A,
                    "t.yaml:1:28: client.trusted_proxies: CIDR prefix length must be 0..32, got \"10.0.0.0/\"");
    check_one_error("client: {trusted_proxies: 10.0.0.0/8}\n" BASE ROUTE_A,
                    "t.yaml:1:27: client.trusted_proxies: expected a list, got a scalar");
}

static void test_route_errors(void)
{
    check_one_error(BASE "routes: [{name: a, upstream: app}, {name: a, upstream: app}]\n",
                    "t.yaml:3:36: duplicate route name \"a\"");
    check_one_error(BASE "routes: [{name: Bad, upstream: app}]\n", "t.yaml:3:17: route name: \"Bad\" must match [a-z0-9_-]+");
    check_one_error(BASE "routes: [{name: \"a.b\", upstream: app}]\n", "t.yaml:3:17: route name: \"a.b\" must match [a-z0-9_-]+");
    check_one_error(BASE "routes: [{name: \"\", upstream: app}]\n", "t.yaml:3:17: route name: \"\" must match [a-z0-9_-]+");
    check_one_error(R("rate_limits: [{name: R1, rate: 1/s}]"), "t.yaml:3:56: rate limit name: \"R1\" must match [a-z0-9_-]+");
    check_one_error(BASE "routes: [{name: a, upstream: nope}]\n", "t.yaml:3:30: route \"a\": unknown upstream \"nope\"");
    check_one_error(BASE "routes: [{name: a}]\n", "t.yaml:3:10: route \"a\": missing required key \"upstream\"");
    check_one_error(BASE "routes: [{upstream: app}]\n", "t.yaml:3:10: route #1: missing required key \"name\"");
    check_one_error("upstreams: {app: {keepalive: 1}}\n" ROUTE_A,
                    "t.yaml:1:18: upstream \"app\": missing required key \"address\"");
    check_one_error(R("match: {path: /a, path_prefix: /b}"), "t.yaml:3:53: match: path and path_prefix are exclusive; use one");
    check_one_error(R("match: {path: a}"), "t.yaml:3:49: match.path: must start with '/', got \"a\"");
    check_one_error(R("match: {path_prefix: api/}"), "t.yaml:3:56: match.path_prefix: must start with '/', got \"api/\"");
    check_one_error(R("match: {methods: [GET, FETCH]}"), "t.yaml:3:58: unknown HTTP method \"FETCH\"");
    check_one_error(R("match: {headers: {\"x a\": 1}}"), "t.yaml:3:53: match.headers: bad header name \"x a\"");

    /* per: key specs */
    check_one_error(R("concurrency: {limit: 1, per: \"header:\"}"),
                    "t.yaml:3:64: concurrency.per: the key needs a name, e.g. header:X-User-Id, got \"header:\"");
    check_one_error(
        R("concurrency: {limit: 1, per: ip}"),
        "t.yaml:3:64: concurrency.per: expected client_ip, header:NAME, query:NAME, cookie:NAME, path:N or json:FIELD, got \"ip\"");
    check_one_error(R("concurrency: {limit: 1, per: \"header:X User\"}"),
                    "t.yaml:3:64: concurrency.per: bad character in key name (it must be an HTTP token), got \"header:X User\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"cookie:a=b\"}]"),
                    "t.yaml:3:75: rate limit per: bad character in key name (it must be an HTTP token), got \"cookie:a=b\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"query:\"}]"),
                    "t.yaml:3:75: rate limit per: the key needs a name, e.g. header:X-User-Id, got \"query:\"");

    /* scope: global needs Redis */
    check_one_error(R("concurrency: {limit: 1, scope: global}"), "t.yaml:3:66: scope: global needs a redis: block");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, scope: global}]"), "t.yaml:3:77: scope: global needs a redis: block");

    /* ranges */
    check_one_error(R("concurrency: {limit: 0}"), "t.yaml:3:56: concurrency.limit: must be between 1 and 1000000, got 0");
    check_one_error(R("concurrency: {limit: 1000001}"),
                    "t.yaml:3:56: concurrency.limit: must be between 1 and 1000000, got 1000001");
    check_one_error(R("concurrency: {limit: 1, queue: {size: 1000001}}"),
                    "t.yaml:3:73: queue.size: must be between 0 and 1000000, got 1000001");
    check_one_error(R("concurrency: {limit: 1, max_keys: 0}"),
                    "t.yaml:3:69: concurrency.max_keys: must be between 1 and 100000000, got 0");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, burst: 0}]"),
                    "t.yaml:3:77: burst: must be between 1 and 1000000000, got 0");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, burst: 1000000001}]"),
                    "t.yaml:3:77: burst: must be between 1 and 1000000000, got 1000000001");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, max_keys: 100000001}]"),
                    "t.yaml:3:80: rate limit max_keys: must be between 1 and 100000000, got 100000001");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, keepalive: 100001, max_connections: 100000}}\n" ROUTE_A,
                    "t.yaml:1:52: keepalive: must be between 0 and 100000, got 100001");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, keepalive: 0, max_connections: 0}}\n" ROUTE_A,
                    "t.yaml:1:72: max_connections: must be between 1 and 100000, got 0");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, max_connections: 100001}}\n" ROUTE_A,
                    "t.yaml:1:58: max_connections: must be between 1 and 100000, got 100001");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, keepalive: 9, max_connections: 4}}\n" ROUTE_A,
                    "t.yaml:1:18: upstream \"app\": keepalive (9) must not exceed max_connections (4)");
    /* the default keepalive (64) counts too */
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, max_connections: 10}}\n" ROUTE_A,
                    "t.yaml:1:18: upstream \"app\": keepalive (64) must not exceed max_connections (10)");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, database: 16}\n" ROUTE_A,
                    "t.yaml:3:44: redis.database: must be between 0 and 15, got 16");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, instances: 0}\n" ROUTE_A,
                    "t.yaml:3:45: redis.instances: must be between 1 and 1000, got 0");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, instances: 1001}\n" ROUTE_A,
                    "t.yaml:3:45: redis.instances: must be between 1 and 1000, got 1001");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, slot_lease: 500ms}\n" ROUTE_A,
                    "t.yaml:3:46: redis.slot_lease: must be between 1s and 1h, got \"500ms\"");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, slot_lease: 2h}\n" ROUTE_A,
                    "t.yaml:3:46: redis.slot_lease: must be between 1s and 1h, got \"2h\"");

    /* enums */
    check_one_error(BASE REDIS "routes: [{name: a, upstream: app, concurrency: {limit: 1, scope: cluster}}]\n",
                    "t.yaml:4:66: concurrency.scope: expected one of local | global, got \"cluster\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, scope: cluster}]"),
                    "t.yaml:3:77: rate limit scope: expected one of local | global, got \"cluster\"");
    check_one_error(R("concurrency: {limit: 2, queue: {order: random}}"),
                    "t.yaml:3:74: queue.order: expected one of fifo | lifo, got \"random\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, on_exceed: drop}]"),
                    "t.yaml:3:81: on_exceed: expected one of reject | delay, got \"drop\"");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, password: \"\"}\n" ROUTE_A,
                    "t.yaml:3:44: redis.password: empty (leave the key out for a Redis without AUTH)");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, on_error: ignore}\n" ROUTE_A,
                    "t.yaml:3:44: redis.on_error: expected one of local | allow | deny, got \"ignore\"");

    /* required keys of blocks */
    check_one_error(R("concurrency: {queue: {size: 1}}"), "t.yaml:3:48: concurrency: missing required key \"limit\"");
    check_one_error(R("rate_limits: [{rate: 1/s}]"), "t.yaml:3:49: rate limit: missing required key \"name\"");
    check_one_error(R("rate_limits: [{name: r}]"), "t.yaml:3:49: rate limit: missing required key \"rate\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s}, {name: r, rate: 2/s}]"),
                    "t.yaml:3:71: duplicate rate limit name \"r\" in route");
    check_one_error(
        R("rate_limits: [{name: concurrency, rate: 1/s}]"),
        "t.yaml:3:56: rate limit name \"concurrency\" is reserved (the route's concurrency limit uses it in Redis keys)");
    check_one_error(BASE "redis: {database: 1}\n" ROUTE_A, "t.yaml:3:8: redis: missing required key \"address\"");
}

/* Every key added for the controls that bound the application's work, in one file. */
static void test_new_keys(void)
{
    setenv("SLUICE_TEST_TENANT", "acme$1", 1);
    cfg_config_t *c =
        load_ok("client: {body_timeout: 20s, max_header_size: 32KiB}\n"
                "errors: {hide_upstream_5xx: false}\n"
                "redis: {address: 127.0.0.1:6379}\n"
                "upstreams:\n"
                "  app: {address: 127.0.0.1:8000, response_buffer: 1MiB}\n"
                "routes:\n"
                "  - name: transfers\n"
                "    match: {path_prefix: /transfers/, methods: [POST]}\n"
                "    upstream: app\n"
                "    max_body: 1MiB\n"
                "    concurrency:\n"
                "      - name: route\n"
                "        limit: auto\n"
                "        adaptive: {min: 2, max: 256, initial: 8}\n"
                "        queue: {size: 64, timeout: 1s}\n"
                "        hold_aborted: 30s\n"
                "      - {name: per-client, limit: 4, per: client_ip, scope: global, max_key_length: 1KiB}\n"
                "      - name: accounts\n"
                "        limit: 1\n"
                "        per: [json:from, json:to, \"path:2\"]\n"
                "    rate_limits:\n"
                "      - {name: per-user, rate: 10/s, burst: 10, per: \"path:2\", max_key_length: 64}\n"
                "      - {name: pair, rate: 1/s, per: [header:X-A, \"query:b\"]}\n"
                "    circuit_breaker: {failures: 3, open_for: 20s, half_open: 2, failure_rate: 50%, window: 30s, "
                "min_requests: 40, per: header:X-Tenant, max_keys: 50, max_key_length: 128}\n"
                "    priority: {from: header:X-Priority, levels: [critical, default, sheddable], default: default}\n"
                "    websocket: {allow: false, max_connections: 10, idle_timeout: 1m}\n"
                "    request_headers:\n"
                "      set: {X-Real-IP: \"${client_ip}\", X-Tenant: \"${SLUICE_TEST_TENANT}/${request_id}/$${route}\", "
                "X-Route: \"${route} on ${host}\"}\n"
                "      remove: [X-Scheme, x-debug]\n"
                "    errors: {scrub_tracebacks: false}\n"
                "  - name: rest\n"
                "    upstream: app\n"
                "    errors: {hide_upstream_5xx: true}\n");
    if (c == NULL)
        return;
    CHECK_EQ_U64(c->client.body_timeout_ms, 20000);
    CHECK_EQ_U64(c->client.max_header_size, 32 * 1024);
    CHECK_EQ_U64(c->upstreams[0].response_buffer, 1024 * 1024);
    CHECK(!c->errors.hide_upstream_5xx);
    CHECK(c->errors.scrub_tracebacks);
    cfg_route_t *r = &c->routes[0];
    CHECK_EQ_U64(r->max_body, 1024 * 1024);
    CHECK_EQ_U64(r->num_concurrency, 3);
    cfg_concurrency_t *cc = &r->concurrency[0];
    CHECK_STR(cc->name, "route");
    CHECK(cc->adaptive);
    CHECK_EQ_U64(cc->adaptive_min, 2);
    CHECK_EQ_U64(cc->adaptive_max, 256);
    CHECK_EQ_U64(cc->adaptive_initial, 8);
    CHECK_EQ_U64(cc->limit, 8);
    CHECK_EQ_U64(cc->queue_size, 64);
    CHECK_EQ_U64(cc->hold_aborted_ms, 30000);
    CHECK_EQ_U64(cc->per.num_keys, 0);
    CHECK_EQ_U64(cc->max_key_length, 256);
    cc = &r->concurrency[1];
    CHECK_STR(cc->name, "per-client");
    CHECK(!cc->adaptive);
    CHECK_EQ_U64(cc->limit, 4);
    CHECK(cc->scope == CFG_SCOPE_GLOBAL);
    CHECK_EQ_U64(cc->max_key_length, 1024);
    CHECK_EQ_U64(cc->hold_aborted_ms, 0);
    CHECK_EQ_U64(cc->per.num_keys, 1);
    CHECK(cc->per.keys[0].kind == CFG_KEY_CLIENT_IP);
    CHECK_STR(cc->per.text, "client_ip");
    cc = &r->concurrency[2];
    CHECK_EQ_U64(cc->per.num_keys, 3);
    CHECK(cc->per.keys[0].kind == CFG_KEY_JSON);
    CHECK_STR(cc->per.keys[0].name, "from");
    CHECK_STR(cc->per.keys[1].name, "to");
    CHECK(cc->per.keys[2].kind == CFG_KEY_PATH);
    CHECK_EQ_U64(cc->per.keys[2].index, 2);
    CHECK(cc->per.keys[2].name == NULL);
    CHECK_STR(cc->per.text, "[json:from, json:to, path:2]");
    CHECK_EQ_U64(r->num_rate_limits, 2);
    CHECK(r->rate_limits[0].per.keys[0].kind == CFG_KEY_PATH);
    CHECK_EQ_U64(r->rate_limits[0].max_key_length, 64);
    CHECK_EQ_U64(r->rate_limits[1].per.num_keys, 2);
    CHECK_STR(r->rate_limits[1].per.keys[0].name, "x-a");
    CHECK_STR(r->rate_limits[1].per.text, "[header:X-A, query:b]");
    CHECK_EQ_U64(r->rate_limits[1].max_key_length, 256);
    const cfg_circuit_breaker_t *cb = &r->circuit_breaker;
    CHECK(cb->enabled);
    CHECK_EQ_U64(cb->failures, 3);
    CHECK_EQ_U64(cb->open_for_ms, 20000);
    CHECK_EQ_U64(cb->half_open, 2);
    CHECK_EQ_U64(cb->failure_rate, 50);
    CHECK_EQ_U64(cb->window_ms, 30000);
    CHECK_EQ_U64(cb->min_requests, 40);
    CHECK_STR(cb->per.keys[0].name, "x-tenant");
    CHECK_EQ_U64(cb->max_keys, 50);
    CHECK_EQ_U64(cb->max_key_length, 128);
    CHECK(r->priority.enabled);
    CHECK(r->priority.from.kind == CFG_KEY_HEADER);
    CHECK_STR(r->priority.from.name, "x-priority");
    CHECK_EQ_U64(r->priority.num_levels, 3);
    CHECK_STR(r->priority.levels[0], "critical");
    CHECK_STR(r->priority.levels[2], "sheddable");
    CHECK_EQ_U64(r->priority.default_level, 1);
    CHECK(!r->websocket.allow);
    CHECK_EQ_U64(r->websocket.max_connections, 10);
    CHECK_EQ_U64(r->websocket.idle_timeout_ms, 60000);
    CHECK_EQ_U64(r->num_set_headers, 3);
    CHECK_STR(r->set_headers[0].name, "x-real-ip");
    CHECK_STR(r->set_headers[0].value, "${client_ip}");
    /* the environment's "$" is written "$$" so that the gateway cannot take it for a variable;
     * "$${route}" stays "$$" + "{route}": a literal "${route}" */
    CHECK_STR(r->set_headers[1].value, "acme$$1/${request_id}/$${route}");
    CHECK_STR(r->set_headers[2].value, "${route} on ${host}");
    CHECK_EQ_U64(r->num_remove_headers, 2);
    CHECK_STR(r->remove_headers[0], "x-scheme");
    CHECK_STR(r->remove_headers[1], "x-debug");
    /* a route's errors: overrides only what it gives */
    CHECK(!r->errors.hide_upstream_5xx);
    CHECK(!r->errors.scrub_tracebacks);
    r = &c->routes[1];
    CHECK(r->errors.hide_upstream_5xx);
    CHECK(r->errors.scrub_tracebacks);
    CHECK_EQ_U64(r->max_body, 10 * 1024 * 1024); /* client.max_body */
    CHECK(!r->circuit_breaker.enabled);
    CHECK(!r->priority.enabled);
    CHECK(r->websocket.allow);
    CHECK_EQ_U64(r->websocket.max_connections, 1000);
    CHECK_EQ_U64(r->websocket.idle_timeout_ms, 300000);

    char *json = cfg_to_json(c);
    CHECK(strstr(json, "\"client\":{\"header_timeout\":\"10s\",\"idle_timeout\":\"1m\",\"body_timeout\":\"20s\",\"max_body\":"
                       "10485760,\"max_header_size\":32768,") != NULL);
    CHECK(strstr(json, "\"errors\":{\"hide_upstream_5xx\":false,\"scrub_tracebacks\":true},\"redis\":{") != NULL);
    CHECK(strstr(json, "\"response_buffer\":1048576}") != NULL);
    CHECK(strstr(json, "\"max_body\":1048576,\"concurrency\":[{\"name\":\"route\",\"limit\":\"auto\",\"adaptive\":{\"min\":2,"
                       "\"max\":256,\"initial\":8},\"per\":null,\"scope\":\"local\",\"max_keys\":100000,\"max_key_length\":256,"
                       "\"queue\":{\"size\":64,\"timeout\":\"1s\",\"order\":\"fifo\"},\"hold_aborted\":\"30s\"},{\"name\":"
                       "\"per-client\",\"limit\":4,\"adaptive\":null,\"per\":\"client_ip\",\"scope\":\"global\",") != NULL);
    CHECK(strstr(json, "\"per\":[\"json:from\",\"json:to\",\"path:2\"]") != NULL);
    CHECK(strstr(json, "\"per\":[\"header:X-A\",\"query:b\"]") != NULL);
    CHECK(strstr(json, "\"circuit_breaker\":{\"failures\":3,\"open_for\":\"20s\",\"half_open\":2,\"failure_rate\":50,\"window\":"
                       "\"30s\",\"min_requests\":40,\"per\":\"header:X-Tenant\",\"max_keys\":50,\"max_key_length\":128},"
                       "\"priority\":{\"from\":\"header:X-Priority\",\"levels\":[\"critical\",\"default\",\"sheddable\"],"
                       "\"default\":\"default\"},\"websocket\":{\"allow\":false,\"max_connections\":10,\"idle_timeout\":\"1m\"},"
                       "\"request_headers\":{\"set\":{\"x-real-ip\":\"${client_ip}\",\"x-tenant\":\"acme$$1/${request_id}/"
                       "$${route}\",\"x-route\":\"${route} on ${host}\"},\"remove\":[\"x-scheme\",\"x-debug\"]},\"errors\":{"
                       "\"hide_upstream_5xx\":false,\"scrub_tracebacks\":false}}") != NULL);
    CHECK(strstr(json, "\"circuit_breaker\":null,\"priority\":null,\"websocket\":{\"allow\":true,\"max_connections\":1000,"
                       "\"idle_timeout\":\"5m\"},\"request_headers\":{\"set\":{},\"remove\":[]},\"errors\":{\"hide_upstream_5xx\":"
                       "true,\"scrub_tracebacks\":true}}]}") != NULL);
    free(json);
    cfg_free(c);

    /* defaults inside the new blocks */
    c = load_ok(R("concurrency: {limit: auto}, circuit_breaker: {}, max_body: 0"));
    if (c != NULL) {
        r = &c->routes[0];
        CHECK_EQ_U64(r->max_body, 10 * 1024 * 1024); /* 0: inherit client.max_body */
        CHECK(r->concurrency[0].adaptive);
        CHECK_EQ_U64(r->concurrency[0].adaptive_min, 1);
        CHECK_EQ_U64(r->concurrency[0].adaptive_max, 1000);
        CHECK_EQ_U64(r->concurrency[0].adaptive_initial, 16);
        CHECK_EQ_U64(r->concurrency[0].limit, 16);
        cb = &r->circuit_breaker;
        CHECK(cb->enabled);
        CHECK_EQ_U64(cb->failures, 5);
        CHECK_EQ_U64(cb->open_for_ms, 10000);
        CHECK_EQ_U64(cb->half_open, 1);
        CHECK_EQ_U64(cb->failure_rate, 0);
        CHECK_EQ_U64(cb->window_ms, 10000);
        CHECK_EQ_U64(cb->min_requests, 20);
        CHECK_EQ_U64(cb->per.num_keys, 0);
        CHECK_EQ_U64(cb->max_keys, 100000);
        CHECK_EQ_U64(cb->max_key_length, 256);
        json = cfg_to_json(c);
        CHECK(strstr(json,
                     "\"circuit_breaker\":{\"failures\":5,\"open_for\":\"10s\",\"half_open\":1,\"failure_rate\":null,"
                     "\"window\":\"10s\",\"min_requests\":20,\"per\":null,\"max_keys\":100000,\"max_key_length\":256}") != NULL);
        free(json);
    }
    cfg_free(c);
    /* limit: auto may come from the environment like any value */
    setenv("SLUICE_TEST_AUTO", "auto", 1);
    c = load_ok(R("concurrency: {limit: \"${SLUICE_TEST_AUTO}\"}"));
    if (c != NULL)
        CHECK(c->routes[0].concurrency[0].adaptive);
    cfg_free(c);
    /* the adaptive start defaults to 16 within the bounds given */
    c = load_ok(R("concurrency: [{name: a, limit: auto, adaptive: {min: 32}}, {name: b, limit: auto, adaptive: {max: 8}}]"));
    if (c != NULL) {
        CHECK_EQ_U64(c->routes[0].concurrency[0].adaptive_initial, 32);
        CHECK_EQ_U64(c->routes[0].concurrency[1].adaptive_initial, 8);
        CHECK_EQ_U64(c->routes[0].concurrency[1].adaptive_min, 1);
    }
    cfg_free(c);
    /* the mapping form may name its limit; the boundaries of the new ranges */
    c = load_ok("client: {max_header_size: 1KiB}\n"
                "upstreams: {app: {address: 127.0.0.1:1, response_buffer: 16KiB}, b: {address: 127.0.0.1:2, response_buffer: "
                "64MiB}}\n" REDIS
                "routes: [{name: a, upstream: app, concurrency: {name: slots, limit: 1, max_key_length: 16, hold_aborted: 0s, "
                "scope: global}, circuit_breaker: {failure_rate: 100, half_open: 1000}}, {name: b, upstream: b, concurrency: "
                "{limit: 1, max_key_length: 64KiB}, circuit_breaker: {failure_rate: \"1%\"}}]\n");
    if (c != NULL) {
        CHECK_EQ_U64(c->client.max_header_size, 1024);
        CHECK_EQ_U64(c->upstreams[1].response_buffer, 64 * 1024 * 1024);
        CHECK_STR(c->routes[0].concurrency[0].name, "slots");
        CHECK_EQ_U64(c->routes[0].concurrency[0].max_key_length, 16);
        CHECK_EQ_U64(c->routes[0].circuit_breaker.failure_rate, 100);
        CHECK_EQ_U64(c->routes[1].concurrency[0].max_key_length, 65536);
        CHECK_EQ_U64(c->routes[1].circuit_breaker.failure_rate, 1);
    }
    cfg_free(c);
    c = load_ok("client: {max_header_size: 1MiB}\n" BASE ROUTE_A);
    cfg_free(c);
}

static void test_key_sources(void)
{
    static const struct {
        const char *text;
        cfg_key_kind_t kind;
        const char *name;
        uint32_t index;
    } good[] = {{"path:1", CFG_KEY_PATH, NULL, 1},
                {"path:64", CFG_KEY_PATH, NULL, 64},
                {"json:a", CFG_KEY_JSON, "a", 0},
                {"json:Account-ID.x_y.3", CFG_KEY_JSON, "Account-ID.x_y.3", 0},
                {"json:a.b.c.d.e.f.g.h", CFG_KEY_JSON, "a.b.c.d.e.f.g.h", 0},
                {"cookie:Sid", CFG_KEY_COOKIE, "Sid", 0}};
    for (size_t i = 0; i != sizeof(good) / sizeof(good[0]); ++i) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), R("concurrency: {limit: 1}, priority: {from: \"%s\", levels: [a, b], default: b}"),
                 good[i].text);
        cfg_config_t *c = load_ok(yaml);
        if (c == NULL)
            continue;
        const cfg_key_t *k = &c->routes[0].priority.from;
        CHECK(k->kind == good[i].kind);
        CHECK_STR(k->text, good[i].text);
        CHECK(good[i].name == NULL ? k->name == NULL : k->name != NULL && strcmp(k->name, good[i].name) == 0);
        CHECK_EQ_U64(k->index, good[i].index);
        CHECK_EQ_U64(c->routes[0].priority.default_level, 1);
        cfg_free(c);
    }

    check_one_error(R("concurrency: {limit: 1, per: \"path:0\"}"),
                    "t.yaml:3:64: concurrency.per: path: needs a segment number from 1 to 64, e.g. path:2, got \"path:0\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"path:65\"}]"),
                    "t.yaml:3:75: rate limit per: path: needs a segment number from 1 to 64, e.g. path:2, got \"path:65\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"json:a..b\"}]"),
                    "t.yaml:3:75: rate limit per: bad JSON field path: an empty name (two dots, or a dot at an end), got "
                    "\"json:a..b\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"json:a.\"}]"),
                    "t.yaml:3:75: rate limit per: bad JSON field path: an empty name (two dots, or a dot at an end), got "
                    "\"json:a.\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"json:a.b.c.d.e.f.g.h.i\"}]"),
                    "t.yaml:3:75: rate limit per: JSON field path too deep (at most 8 names), got \"json:a.b.c.d.e.f.g.h.i\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"json:\"}]"),
                    "t.yaml:3:75: rate limit per: the key needs a field name, e.g. json:account.id, got \"json:\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: \"json:a b\"}]"),
                    "t.yaml:3:75: rate limit per: bad JSON field path: names of [A-Za-z0-9_-] separated by dots, e.g. "
                    "json:account.id, got \"json:a b\"");

    /* lists */
    check_one_error(R("concurrency: {limit: 1, per: [json:a, json:a]}"), "t.yaml:3:73: concurrency.per: \"json:a\" given twice");
    check_one_error(R("concurrency: {limit: 1, per: [header:X-A, header:x-a]}"),
                    "t.yaml:3:77: concurrency.per: \"header:x-a\" given twice");
    check_one_error(R("concurrency: {limit: 1, per: []}"), "t.yaml:3:64: concurrency.per: a list needs 1 to 8 key sources, got 0");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: [a, b, c, d, e, f, g, h, i]}]"),
                    "t.yaml:3:75: rate limit per: a list needs 1 to 8 key sources, got 9");
    check_one_error(R("concurrency: {limit: 1, per: {a: 1}}"),
                    "t.yaml:3:64: concurrency.per: expected a key source or a list of them, got a mapping");
    check_one_error(R("concurrency: {limit: 1, per: [client_ip, [a]]}"),
                    "t.yaml:3:76: concurrency.per: expected a scalar, got a list");
    cfg_config_t *c = load(R("rate_limits: [{name: r, rate: 1/s, per: [client_ip, \"query:x\", \"path:3\", ip, \"json:\"]}]"));
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 2);
    CHECK(has_error("t.yaml:3:108: rate limit per: expected client_ip, header:NAME, query:NAME, cookie:NAME, path:N or "
                    "json:FIELD, got \"ip\""));
    CHECK(has_error("t.yaml:3:112: rate limit per: the key needs a field name, e.g. json:account.id, got \"json:\""));
    /* one source in a list is a list of one */
    c = load_ok(R("concurrency: {limit: 1, per: [client_ip]}"));
    if (c != NULL) {
        CHECK_EQ_U64(c->routes[0].concurrency[0].per.num_keys, 1);
        CHECK_STR(c->routes[0].concurrency[0].per.text, "[client_ip]");
        char *json = cfg_to_json(c);
        CHECK(strstr(json, "\"per\":[\"client_ip\"]") != NULL);
        free(json);
    }
    cfg_free(c);

    /* copies for the gateway's limiter state */
    c = load_ok(R("concurrency: {limit: 1, per: [json:from, \"path:2\", header:X-A]}"));
    if (c != NULL) {
        cfg_keyspec_t copy, none = {0};
        cfg_keyspec_copy(&copy, &c->routes[0].concurrency[0].per);
        CHECK(cfg_keyspec_equal(&copy, &c->routes[0].concurrency[0].per));
        CHECK(!cfg_keyspec_equal(&copy, &none));
        CHECK_STR(copy.text, "[json:from, path:2, header:X-A]");
        CHECK(copy.keys[0].name != c->routes[0].concurrency[0].per.keys[0].name);
        CHECK_STR(copy.keys[2].name, "x-a");
        copy.keys[1].index = 3;
        CHECK(!cfg_keyspec_equal(&copy, &c->routes[0].concurrency[0].per));
        cfg_keyspec_clear(&copy);
        CHECK(copy.keys == NULL && copy.num_keys == 0 && copy.text == NULL);
        cfg_keyspec_copy(&copy, &none);
        CHECK(cfg_keyspec_equal(&copy, &none));
        cfg_keyspec_clear(&copy);
    }
    cfg_free(c);
}

static void test_concurrency_errors(void)
{
    check_one_error(R("concurrency: [{name: a, limit: 1}, {limit: 2}]"),
                    "t.yaml:3:70: concurrency: missing required key \"name\" (each limit of a list has one)");
    check_one_error(R("concurrency: [{name: a, limit: 1}, {name: a, limit: 2}]"),
                    "t.yaml:3:70: duplicate concurrency limit name \"a\" in route");
    check_one_error(R("concurrency: {name: Bad, limit: 1}"), "t.yaml:3:55: concurrency name: \"Bad\" must match [a-z0-9_-]+");
    check_one_error(R("concurrency: []"), "t.yaml:3:48: concurrency: a list needs 1 to 8 limits, got 0");
    check_one_error(R("concurrency: [{name: a, limit: 1}, {name: b, limit: 1}, {name: c, limit: 1}, {name: d, limit: 1}, "
                      "{name: e, limit: 1}, {name: f, limit: 1}, {name: g, limit: 1}, {name: h, limit: 1}, {name: i, limit: 1}]"),
                    "t.yaml:3:48: concurrency: a list needs 1 to 8 limits, got 9");
    check_one_error(R("concurrency: 5"),
                    "t.yaml:3:48: concurrency: expected a mapping (one limit) or a list of them, got a scalar");
    /* concurrency and rate limits share the Redis key space */
    check_one_error(R("concurrency: [{name: x, limit: 1}], rate_limits: [{name: x, rate: 1/s}]"),
                    "t.yaml:3:85: rate limit name \"x\" is taken by a concurrency limit of the route (their Redis keys would be "
                    "the same)");
    check_one_error(
        R("concurrency: {limit: 1}, rate_limits: [{name: concurrency, rate: 1/s}]"),
        "t.yaml:3:81: rate limit name \"concurrency\" is reserved (the route's concurrency limit uses it in Redis keys)");
    /* adaptive */
    check_one_error(R("concurrency: {limit: 4, adaptive: {min: 2}}"),
                    "t.yaml:3:59: concurrency.adaptive: only with limit: auto (this limit is fixed)");
    check_one_error(R("concurrency: {limit: auto, adaptive: {min: 5, initial: 2}}"),
                    "t.yaml:3:72: concurrency.adaptive: needs min <= initial <= max, got min 5, initial 2, max 1000");
    check_one_error(R("concurrency: {limit: auto, adaptive: {min: 2000}}"),
                    "t.yaml:3:72: concurrency.adaptive: needs min <= initial <= max, got min 2000, initial 1000, max 1000");
    check_one_error(R("concurrency: {limit: auto, adaptive: {max: 1000001}}"),
                    "t.yaml:3:78: adaptive.max: must be between 1 and 1000000, got 1000001");
    check_one_error(R("concurrency: {limit: auto, adaptive: {min: 0}}"),
                    "t.yaml:3:78: adaptive.min: must be between 1 and 1000000, got 0");
    check_one_error(R("concurrency: {limit: auto, adaptive: {start: 3}}"),
                    "t.yaml:3:73: unknown key \"start\" in concurrency.adaptive");
    check_one_error(R("concurrency: {limit: autox}"), "t.yaml:3:56: concurrency.limit: expected an integer, got \"autox\"");
    check_one_error(BASE REDIS "routes: [{name: a, upstream: app, concurrency: [{name: a, limit: auto, scope: global}]}]\n",
                    "t.yaml:4:79: concurrency: limit: auto is adaptive, and adaptive limits are local to each instance; give a "
                    "number for scope: global");
    check_one_error(R("concurrency: [{name: a, limit: 1, scope: global}]"), "t.yaml:3:76: scope: global needs a redis: block");
    /* the other new keys of a limit */
    check_one_error(R("concurrency: {limit: 1, hold_aborted: soon}"),
                    "t.yaml:3:73: concurrency.hold_aborted: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms "
                    "or 5s, got \"soon\"");
    check_one_error(R("concurrency: {limit: 1, max_key_length: 15}"),
                    "t.yaml:3:75: concurrency.max_key_length: must be between 16B and 64KiB, got \"15\"");
    check_one_error(R("concurrency: {limit: 1, max_key_length: 65537}"),
                    "t.yaml:3:75: concurrency.max_key_length: must be between 16B and 64KiB, got \"65537\"");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, max_key_length: 1MiB}]"),
                    "t.yaml:3:86: rate limit max_key_length: must be between 16B and 64KiB, got \"1MiB\"");
}

static void test_route_block_errors(void)
{
    /* circuit_breaker */
    check_one_error(R("circuit_breaker: {failures: 0}"),
                    "t.yaml:3:63: circuit_breaker.failures: must be between 1 and 1000000, got 0");
    check_one_error(R("circuit_breaker: {half_open: 1001}"),
                    "t.yaml:3:64: circuit_breaker.half_open: must be between 1 and 1000, got 1001");
    check_one_error(R("circuit_breaker: {open_for: 0s}"),
                    "t.yaml:3:63: circuit_breaker.open_for: must be greater than zero, got \"0s\"");
    check_one_error(R("circuit_breaker: {failure_rate: 101%}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%), got \"101%\"");
    check_one_error(R("circuit_breaker: {failure_rate: 0}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%), got \"0\"");
    check_one_error(R("circuit_breaker: {failure_rate: half}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%), got \"half\"");
    check_one_error(R("circuit_breaker: {failure_rate: \"\"}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%), got \"\"");
    check_one_error(R("circuit_breaker: {failure_rate: [50]}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a scalar, got a list");
    /* a failure_rate that is given but wrong is the one error: window goes with it */
    check_one_error(R("circuit_breaker: {failure_rate: 0, window: 5s}"),
                    "t.yaml:3:67: circuit_breaker.failure_rate: expected a percentage from 1 to 100 (50 or 50%), got \"0\"");
    check_one_error(
        R("circuit_breaker: {window: 5s}"),
        "t.yaml:3:53: circuit_breaker.window: only with failure_rate (without it, `failures` in a row open the breaker)");
    check_one_error(R("circuit_breaker: {min_requests: 5}"), "t.yaml:3:53: circuit_breaker.min_requests: only with failure_rate "
                                                             "(without it, `failures` in a row open the breaker)");
    check_one_error(R("circuit_breaker: {per: [a]}"),
                    "t.yaml:3:59: circuit_breaker.per: expected client_ip, header:NAME, query:NAME, cookie:NAME, path:N or "
                    "json:FIELD, got \"a\"");
    check_one_error(R("circuit_breaker: {failurs: 3}"),
                    "t.yaml:3:53: unknown key \"failurs\" in circuit_breaker (did you mean \"failures\"?)");
    check_one_error(R("circuit_breaker: 5"), "t.yaml:3:52: circuit_breaker: expected a mapping, got a scalar");

    /* priority */
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a], default: a}"),
                    "t.yaml:3:97: priority.levels: needs 2 to 16 levels, got 1");
    check_one_error(R("concurrency: {limit: 1}, priority: 5"), "t.yaml:3:70: priority: expected a mapping, got a scalar");
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: x, default: x}"),
                    "t.yaml:3:97: priority.levels: expected a list, got a scalar");
    /* a bad list of levels is not also checked against the default */
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, B], default: c}"),
                    "t.yaml:3:101: priority.levels: \"B\" must match [a-z0-9_-]+");
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, a], default: c}"),
                    "t.yaml:3:101: priority.levels: \"a\" given twice");
    /* a repeat found past a level that sorts far from it */
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, z, a], default: a}"),
                    "t.yaml:3:104: priority.levels: \"a\" given twice");
    /* 2 to 16 levels */
    for (int n = 15; n != 18; ++n) {
        char yaml[512], *p = yaml + sprintf(yaml, BASE "routes: [{name: a, upstream: app, concurrency: {limit: 1}, "
                                                       "priority: {from: header:X-P, levels: [");
        for (int i = 0; i != n; ++i)
            p += sprintf(p, "%s%c%d", i ? ", " : "", n == 17 && i == 0 ? 'L' : 'l', i); /* 17: refused as a whole */
        sprintf(p, "], default: l%d}}]\n", n - 1);
        if (n == 17) {
            check_one_error(yaml, "t.yaml:3:97: priority.levels: needs 2 to 16 levels, got 17");
            continue;
        }
        cfg_config_t *c = load_ok(yaml);
        if (c != NULL) {
            CHECK_EQ_U64(c->routes[0].priority.num_levels, n);
            CHECK_EQ_U64(c->routes[0].priority.default_level, n - 1);
        }
        cfg_free(c);
    }
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, b, a], default: a}"),
                    "t.yaml:3:104: priority.levels: \"a\" given twice");
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, B], default: a}"),
                    "t.yaml:3:101: priority.levels: \"B\" must match [a-z0-9_-]+");
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, b], default: c}"),
                    "t.yaml:3:114: priority.default: \"c\" is not one of the levels");
    check_one_error(R("concurrency: {limit: 1}, priority: {from: header:X-P, levels: [a, b]}"),
                    "t.yaml:3:70: priority: missing required key \"default\"");
    cfg_config_t *c = load(R("concurrency: {limit: 1}, priority: {}"));
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 3);
    CHECK(has_error("t.yaml:3:70: priority: missing required key \"from\""));
    CHECK(has_error("t.yaml:3:70: priority: missing required key \"levels\""));
    check_one_error(R("concurrency: {limit: 1}, priority: {from: [client_ip], levels: [a, b], default: a}"),
                    "t.yaml:3:77: priority.from: expected a scalar, got a list");
    check_one_error(R("priority: {from: header:X-P, levels: [a, b], default: a}"),
                    "t.yaml:3:35: priority: needs a concurrency limit (priorities order its waiting room)");

    /* websocket */
    check_one_error(R("websocket: {allow: maybe}"), "t.yaml:3:54: websocket.allow: expected true or false, got \"maybe\"");
    check_one_error(R("websocket: {max_connections: 0}"),
                    "t.yaml:3:64: websocket.max_connections: must be between 1 and 1000000, got 0");
    check_one_error(R("websocket: {idle: 1s}"), "t.yaml:3:47: unknown key \"idle\" in websocket");

    /* errors */
    check_one_error(R("errors: {scrub_tracebacks: 1}"), "t.yaml:3:62: errors.scrub_tracebacks: expected true or false, got \"1\"");
    check_one_error("errors: {hide_upstream_5xx: yes}\n" BASE ROUTE_A,
                    "t.yaml:1:29: errors.hide_upstream_5xx: expected true or false, got \"yes\"");
    check_one_error("errors: {scrub: true}\n" BASE ROUTE_A, "t.yaml:1:10: unknown key \"scrub\" in errors");

    /* max_body */
    check_one_error(R("max_body: lots"), "t.yaml:3:45: route max_body: expected a size: an integer and a unit (B, KiB, MiB, GiB), "
                                         "e.g. 512KiB or 10MiB, got \"lots\"");
    /* client and upstream additions */
    check_one_error("client: {body_timeout: 0s}\n" BASE ROUTE_A,
                    "t.yaml:1:24: client.body_timeout: must be greater than zero, got \"0s\"");
    check_one_error("client: {max_header_size: 1000}\n" BASE ROUTE_A,
                    "t.yaml:1:27: client.max_header_size: must be between 1KiB and 1MiB, got \"1000\"");
    check_one_error("client: {max_header_size: 2MiB}\n" BASE ROUTE_A,
                    "t.yaml:1:27: client.max_header_size: must be between 1KiB and 1MiB, got \"2MiB\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, response_buffer: 16383}}\n" ROUTE_A,
                    "t.yaml:1:58: response_buffer: must be between 16KiB and 64MiB, got \"16383\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, response_buffer: 65MiB}}\n" ROUTE_A,
                    "t.yaml:1:58: response_buffer: must be between 16KiB and 64MiB, got \"65MiB\"");
}

/* How the keys of a concurrency or rate limit combine: fair shares, adaptive limits and scopes,
 * and the errors that must come alone. */
static void test_limit_combinations(void)
{
    cfg_config_t *c = load_ok(R("rate_limits: [{name: r, rate: 1/s, fair: client_ip}, {name: s, rate: 1/s, scope: local, "
                                "fair: [header:X-U, \"query:t\"]}]"));
    if (c != NULL) {
        const cfg_rate_limit_t *rl = &c->routes[0].rate_limits[0];
        CHECK_EQ_U64(rl->fair.num_keys, 1);
        CHECK(rl->fair.keys[0].kind == CFG_KEY_CLIENT_IP);
        CHECK_EQ_U64(rl->per.num_keys, 0);
        /* the defaults of a rate limit */
        CHECK_EQ_U64(rl->burst, 1);
        CHECK_EQ_U64(rl->max_delay_ms, 500);
        CHECK_EQ_U64(rl->max_keys, 100000);
        CHECK_EQ_U64(rl->max_key_length, 256);
        CHECK(rl->on_exceed == CFG_EXCEED_REJECT);
        rl = &c->routes[0].rate_limits[1];
        CHECK_EQ_U64(rl->fair.num_keys, 2);
        CHECK_STR(rl->fair.text, "[header:X-U, query:t]");
    }
    cfg_free(c);
    check_one_error(BASE REDIS "routes: [{name: a, upstream: app, rate_limits: [{name: r, rate: 1/s, scope: global, fair: "
                               "client_ip}]}]\n",
                    "t.yaml:4:85: rate limit fair: only with scope local (each instance shares its own bucket fairly)");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, per: client_ip, fair: header:X-U}]"),
                    "t.yaml:3:86: rate limit fair: only without per (a bucket per key has no one to share with)");

    /* adaptive: only checked against a limit that was read */
    check_one_error(R("concurrency: {adaptive: {min: 2}}"), "t.yaml:3:48: concurrency: missing required key \"limit\"");
    check_one_error(R("concurrency: {limit: 0, adaptive: {min: 2}}"),
                    "t.yaml:3:56: concurrency.limit: must be between 1 and 1000000, got 0");
    c = load_ok(R("concurrency: {limit: auto, scope: local}"));
    if (c != NULL) {
        const cfg_concurrency_t *cc = &c->routes[0].concurrency[0];
        CHECK(cc->adaptive);
        CHECK(cc->scope == CFG_SCOPE_LOCAL);
        CHECK_EQ_U64(cc->limit, 16); /* the default adaptive start */
        CHECK_STR(cc->name, "concurrency");
    }
    cfg_free(c);
    /* without Redis too, the adaptive limit's own error is the one reported */
    check_one_error(R("concurrency: {limit: auto, scope: global}"),
                    "t.yaml:3:69: concurrency: limit: auto is adaptive, and adaptive limits are local to each instance; give a "
                    "number for scope: global");

    /* a list of concurrency limits holds up to 8 */
    c = load_ok(R("concurrency: [{name: a, limit: 1}, {name: b, limit: 2}, {name: c, limit: 3}, {name: d, limit: 4}, "
                  "{name: e, limit: 5}, {name: f, limit: 6}, {name: g, limit: 7}, {name: h, limit: 8}]"));
    if (c != NULL) {
        CHECK_EQ_U64(c->routes[0].num_concurrency, 8);
        CHECK_STR(c->routes[0].concurrency[7].name, "h");
        CHECK_EQ_U64(c->routes[0].concurrency[7].limit, 8);
    }
    cfg_free(c);
    /* a repeated rate limit is pointed at among the rate limits, whatever the concurrency limits */
    check_one_error(R("concurrency: {limit: 1}, rate_limits: [{name: r, rate: 1/s}, {name: r, rate: 1/s}]"),
                    "t.yaml:3:96: duplicate rate limit name \"r\" in route");
    /* a list over the bound is refused as a whole: its limits are not also checked */
    check_one_error(R("concurrency: [{name: a, limit: 1}, {name: b, limit: 2}, {name: c, limit: 3}, {name: d, limit: 4}, "
                      "{name: e, limit: 5}, {name: f, limit: 6}, {name: g, limit: 7}, {name: h, limit: 8}, {name: i, limit: 0}]"),
                    "t.yaml:3:48: concurrency: a list needs 1 to 8 limits, got 9");
}

/* A route with request_headers.set (or remove) of n headers x-h0, x-h1, ... */
static void headers_yaml(char *yaml, const char *which, int n)
{
    int set = strcmp(which, "set") == 0;
    yaml += sprintf(yaml, BASE "routes: [{name: a, upstream: app, request_headers: {%s: %s", which, set ? "{" : "[");
    for (int i = 0; i != n; ++i)
        yaml += sprintf(yaml, "%sx-h%d%s", i ? ", " : "", i, set ? ": v" : "");
    sprintf(yaml, "%s}}]\n", set ? "}" : "]");
}

static void test_request_headers(void)
{
    check_one_error(R("request_headers: {set: {Host: x}}"),
                    "t.yaml:3:59: request_headers.set: sluice owns \"host\" (the upstream gets the request's Host)");
    check_one_error(R("request_headers: {remove: [X-Request-Id]}"),
                    "t.yaml:3:62: request_headers.remove: sluice owns \"x-request-id\" (the client's id if well-formed, else a "
                    "fresh one)");
    static const char *const owned[] = {"content-length",  "Transfer-Encoding",    "connection", "upgrade", "TE",
                                        "x-forwarded-for", "X-Request-Timeout-Ms", "keep-alive"};
    for (size_t i = 0; i != sizeof(owned) / sizeof(owned[0]); ++i) {
        char yaml[256], prefix[128];
        snprintf(yaml, sizeof(yaml), R("request_headers: {set: {%s: x}}"), owned[i]);
        cfg_config_t *c = load(yaml);
        CHECK(c == NULL);
        CHECK_EQ_U64(errors.count, 1);
        snprintf(prefix, sizeof(prefix), "t.yaml:3:59: request_headers.set: sluice owns \"");
        CHECK(errors.count == 1 && strncmp(errors.items[0], prefix, strlen(prefix)) == 0);
        snprintf(yaml, sizeof(yaml), R("request_headers: {remove: [%s]}"), owned[i]);
        c = load(yaml);
        CHECK(c == NULL);
        CHECK_EQ_U64(errors.count, 1);
    }
    check_one_error(R("request_headers: {set: {X-A: \"a\\nb\"}}"),
                    "t.yaml:3:64: request_headers.set: the value of \"x-a\" holds a CR or LF (a header value is one line)");
    check_one_error(R("request_headers: {set: {X-A: \"a\\rb\"}}"),
                    "t.yaml:3:64: request_headers.set: the value of \"x-a\" holds a CR or LF (a header value is one line)");
    check_one_error(R("request_headers: {set: {X-A: \"a\\0b\"}}"), "t.yaml:3:64: header value: the value holds a NUL character");
    /* the value is not read on past a NUL: "\r" before it would be a second error */
    check_one_error(R("request_headers: {set: {X-A: \"\\r\\0\"}}"), "t.yaml:3:64: header value: the value holds a NUL character");
    /* a header template that is not a scalar is an error of its own, and nothing is read from it */
    check_one_error(R("request_headers: {set: {X-A: [a]}}"), "t.yaml:3:64: header value: expected a scalar, got a list");
    setenv("SLUICE_TEST_CRLF", "a\r\nX-Evil: 1", 1);
    check_one_error(R("request_headers: {set: {X-A: \"${SLUICE_TEST_CRLF}\"}}"),
                    "t.yaml:3:64: request_headers.set: the value of \"x-a\" holds a CR or LF (a header value is one line)");
    check_one_error(R("request_headers: {set: {X-A: 1}, remove: [x-a]}"),
                    "t.yaml:3:76: request_headers: \"x-a\" is both set and removed");
    check_one_error(R("request_headers: {remove: [X-A, x-a]}"), "t.yaml:3:67: request_headers.remove: header \"x-a\" given twice");
    check_one_error(R("request_headers: {set: {X-A: 1, x-a: 2}}"), "t.yaml:3:67: request_headers.set: header \"x-a\" given twice");
    check_one_error(R("request_headers: {set: {\"X A\": 1}}"), "t.yaml:3:59: request_headers.set: bad header name \"x a\"");
    check_one_error(R("request_headers: {remove: [\"a:b\"]}"), "t.yaml:3:62: request_headers.remove: bad header name \"a:b\"");
    check_one_error(R("request_headers: {set: [a]}"), "t.yaml:3:58: request_headers.set: expected a mapping, got a list");
    check_one_error(R("request_headers: {remove: x}"), "t.yaml:3:61: request_headers.remove: expected a list, got a scalar");
    check_one_error(R("request_headers: {add: {a: b}}"), "t.yaml:3:53: unknown key \"add\" in request_headers");
    unsetenv("SLUICE_UNSET_VAR");
    check_one_error(R("request_headers: {set: {X-A: \"${SLUICE_UNSET_VAR}\"}}"),
                    "t.yaml:3:64: environment variable \"SLUICE_UNSET_VAR\" is not set");
    /* the runtime variables are runtime variables only there */
    unsetenv("client_ip");
    check_one_error(R("match: {headers: {x-a: \"${client_ip}\"}}"), "t.yaml:3:58: environment variable \"client_ip\" is not set");
    /* at most 64 of each */
    char yaml[8192];
    headers_yaml(yaml, "set", 65);
    check_one_error(yaml, "t.yaml:3:58: request_headers.set: at most 64 headers, got 65");
    headers_yaml(yaml, "remove", 65);
    check_one_error(yaml, "t.yaml:3:61: request_headers.remove: at most 64 headers, got 65");
    headers_yaml(yaml, "remove", 64);
    cfg_config_t *c = load_ok(yaml);
    if (c != NULL)
        CHECK_EQ_U64(c->routes[0].num_remove_headers, 64);
    cfg_free(c);
    headers_yaml(yaml, "set", 64);
    c = load_ok(yaml);
    if (c != NULL) {
        CHECK_EQ_U64(c->routes[0].num_set_headers, 64);
        CHECK_STR(c->routes[0].set_headers[63].name, "x-h63");
    }
    cfg_free(c);
    /* a map or list over the bound is refused as a whole: its items are not also checked */
    headers_yaml(yaml, "set", 65);
    char *h0 = strstr(yaml, "x-h0:");
    memcpy(h0, "te  ", 4); /* owned by sluice: refused when checked */
    check_one_error(yaml, "t.yaml:3:58: request_headers.set: at most 64 headers, got 65");
    headers_yaml(yaml, "remove", 65);
    h0 = strstr(yaml, "x-h0,");
    memcpy(h0, "te  ", 4);
    check_one_error(yaml, "t.yaml:3:61: request_headers.remove: at most 64 headers, got 65");
    /* match.headers has the same bound (its first name is bad: refused with the size alone) */
    for (int n = 64; n != 66; ++n) {
        char *p = yaml + sprintf(yaml, BASE "routes: [{name: a, upstream: app, match: {headers: {");
        for (int i = 0; i != n; ++i)
            p += n == 65 && i == 0 ? sprintf(p, "\"x a\": v") : sprintf(p, "%sx-h%d: v", i ? ", " : "", i);
        sprintf(p, "}}}]\n");
        if (n == 65) {
            check_one_error(yaml, "t.yaml:3:52: match.headers: at most 64 headers, got 65");
            continue;
        }
        c = load_ok(yaml);
        if (c != NULL) {
            CHECK_EQ_U64(c->routes[0].num_headers, 64);
            CHECK_STR(c->routes[0].headers[63].name, "x-h63");
        }
        cfg_free(c);
    }
}

/* `sluice -t` refuses routes that could never match: a request's normalised, decoded path never
 * holds these, and the Host header is compared without port or trailing dot. */
static void test_unmatchable_routes(void)
{
    static const struct {
        const char *path, *why;
    } bad[] = {
        {"/a?b", "holds '?': routes match the path alone, never the query string"},
        {"/a#b", "holds '#': a fragment is never sent to a server"},
        {"/a%2Fb", "holds a %-escape: routes match the decoded path, so write it decoded"},
        {"/caf%C3%A9", "holds a %-escape: routes match the decoded path, so write it decoded"},
        {"/a/../b", "holds a \\\".\\\" or \\\"..\\\" segment: routes match the normalised path, which never does"},
        {"/a/./b", "holds a \\\".\\\" or \\\"..\\\" segment: routes match the normalised path, which never does"},
        {"/a/..", "holds a \\\".\\\" or \\\"..\\\" segment: routes match the normalised path, which never does"},
        {"/a/.", "holds a \\\".\\\" or \\\"..\\\" segment: routes match the normalised path, which never does"},
        {"/..", "holds a \\\".\\\" or \\\"..\\\" segment: routes match the normalised path, which never does"},
        {"/a//b", "holds \\\"//\\\": routes match the normalised path, which never does"},
        {"//", "holds \\\"//\\\": routes match the normalised path, which never does"},
        {"/a b", "holds a space or control character: requests with one in their path are refused (400)"},
        {"/a\\tb", "holds a space or control character: requests with one in their path are refused (400)"},
        {"/a\\x7fb", "holds a space or control character: requests with one in their path are refused (400)"},
        {"a/b", "must start with '/'"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        for (int prefix = 0; prefix != 2; ++prefix) {
            char yaml[256], expected[512];
            const char *key = prefix ? "path_prefix" : "path";
            snprintf(yaml, sizeof(yaml), R("match: {%s: \"%s\"}"), key, bad[i].path);
            cfg_config_t *c = load(yaml);
            CHECK(c == NULL);
            CHECK_EQ_U64(errors.count, 1);
            /* the message quotes the value as loaded (escapes decoded), so compare up to ", got" */
            snprintf(expected, sizeof(expected), "t.yaml:3:%d: match.%s: ", prefix ? 56 : 49, key);
            size_t n = strlen(expected);
            snprintf(expected + n, sizeof(expected) - n, "%s", bad[i].why);
            /* the table holds C-escaped quotes for the messages that have them */
            char unescaped[512], *u = unescaped;
            for (const char *q = expected; *q != '\0'; ++q)
                if (!(q[0] == '\\' && q[1] == '"'))
                    *u++ = *q;
            *u = '\0';
            if (errors.count == 1 && strncmp(errors.items[0], unescaped, strlen(unescaped)) != 0)
                fprintf(stderr, "for %s: %s\n  want: %s\n", bad[i].path, errors.items[0], unescaped);
            CHECK(errors.count == 1 && strncmp(errors.items[0], unescaped, strlen(unescaped)) == 0);
        }
    }
    check_one_error(R("match: {path: \"/a?b\"}"),
                    "t.yaml:3:49: match.path: holds '?': routes match the path alone, never the query string, got \"/a?b\"");
    /* fine: a trailing slash, dots inside names, a lone %, a non-ASCII path written decoded */
    cfg_config_t *c = load_ok(BASE "routes:\n"
                                   "  - {name: a, upstream: app, match: {path_prefix: /api/}}\n"
                                   "  - {name: b, upstream: app, match: {path: /.well-known/x..y}}\n"
                                   "  - {name: c, upstream: app, match: {path: \"/50%\"}}\n"
                                   "  - {name: d, upstream: app, match: {path: \"/café\"}}\n"
                                   "  - {name: e, upstream: app, match: {path: /, host: \"[::1]\"}}\n");
    if (c != NULL)
        CHECK_STR(c->routes[4].host, "[::1]");
    cfg_free(c);

    check_one_error(R("match: {host: \"api.example.com:8080\"}"),
                    "t.yaml:3:49: match.host: holds a port: write the host without it (the port is not compared), got "
                    "\"api.example.com:8080\"");
    check_one_error(R("match: {host: \"[::1]:80\"}"),
                    "t.yaml:3:49: match.host: holds a port: write the host without it (the port is not compared), got "
                    "\"[::1]:80\"");
    check_one_error(R("match: {host: \"api.example.com.\"}"),
                    "t.yaml:3:49: match.host: ends with a dot: write the host without it (a trailing dot is removed before "
                    "comparing), got \"api.example.com.\"");
    check_one_error(R("match: {host: \"\"}"), "t.yaml:3:49: match.host: empty (leave the key out to match any host), got \"\"");
    check_one_error(R("match: {headers: {x-a: \"a\\rb\"}}"),
                    "t.yaml:3:58: match.headers: the value of \"x-a\" holds a CR or LF (a header value is one line)");
    check_one_error(R("match: {headers: {x-a: \"a\\nb\"}}"),
                    "t.yaml:3:58: match.headers: the value of \"x-a\" holds a CR or LF (a header value is one line)");
    check_one_error(R("match: {headers: {x-a: \"a\\0b\"}}"), "t.yaml:3:58: header value: the value holds a NUL character");
    check_one_error(R("match: {hots: a}"), "t.yaml:3:43: unknown key \"hots\" in match (did you mean \"host\"?)");
}

static void test_admin_listen(void)
{
    check_one_error("listen: 127.0.0.1:8080\nadmin: 127.0.0.1:8080\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"127.0.0.1:8080\" and listen \"127.0.0.1:8080\" are the same address; the admin API is "
                    "never served on a public listener");
    check_one_error("listen: [127.0.0.1:8081, \"[::1]:8080\"]\nadmin: \"[0:0::1]:8080\"\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"[0:0::1]:8080\" and listen \"[::1]:8080\" are the same address; the admin API is never "
                    "served on a public listener");
    check_one_error("listen: LocalHost:8080\nadmin: localhost:8080\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"localhost:8080\" and listen \"LocalHost:8080\" are the same address; the admin API is "
                    "never served on a public listener");
    check_one_error("admin: 127.0.0.1:8080\n" BASE ROUTE_A,
                    "t.yaml:1:8: admin: \"127.0.0.1:8080\" and listen \"0.0.0.0:8080\" are the same port, and a wildcard address "
                    "covers the other; the admin API is never served on a public listener");
    check_one_error("listen: 127.0.0.1:9901\n" BASE ROUTE_A,
                    "t.yaml:1:9: listen: \"127.0.0.1:9901\" takes the admin API's default address 127.0.0.1:9901 (the same "
                    "address); give admin: another address");
    check_one_error("listen: [unix:/run/s.sock]\nadmin: unix:/run/s.sock\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"unix:/run/s.sock\" and listen \"unix:/run/s.sock\" are the same socket; the admin API is "
                    "never served on a public listener");
    check_one_error("listen: \"[::]:80\"\nadmin: 127.0.0.1:80\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"127.0.0.1:80\" and listen \"[::]:80\" are the same port, and a wildcard address covers "
                    "the other; the admin API is never served on a public listener");
    /* apart: another port, another IPv4 address, an IPv6 address beside 0.0.0.0 */
    cfg_config_t *c = load_ok("listen: [0.0.0.0:8080, 127.0.0.1:8081]\nadmin: \"[::1]:8080\"\n" BASE ROUTE_A);
    cfg_free(c);
    c = load_ok("listen: 10.0.0.1:8080\nadmin: 127.0.0.1:8080\n" BASE ROUTE_A);
    cfg_free(c);
    /* two host names on one port are two addresses (names are compared as text, not as IPs) */
    c = load_ok("listen: [a.example:8080]\nadmin: b.example:8080\n" BASE ROUTE_A);
    cfg_free(c);
    /* an admin: that does not parse is reported alone: the default address does not stand in */
    check_one_error("listen: 127.0.0.1:9901\nadmin: nonsense\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: expected host:port, [IPv6]:port or unix:/path, got \"nonsense\"");
    /* the admin API on a wildcard: IPv4's covers IPv4 only, IPv6's both */
    check_one_error("listen: 127.0.0.1:8080\nadmin: 0.0.0.0:8080\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"0.0.0.0:8080\" and listen \"127.0.0.1:8080\" are the same port, and a wildcard address "
                    "covers the other; the admin API is never served on a public listener");
    check_one_error("listen: 127.0.0.1:8080\nadmin: \"[::]:8080\"\n" BASE ROUTE_A,
                    "t.yaml:2:8: admin: \"[::]:8080\" and listen \"127.0.0.1:8080\" are the same port, and a wildcard address "
                    "covers the other; the admin API is never served on a public listener");
    c = load_ok("listen: \"[::1]:8080\"\nadmin: 0.0.0.0:8080\n" BASE ROUTE_A);
    cfg_free(c);
    /* IPv6 addresses that differ in their last byte only (::1 is not a wildcard) */
    c = load_ok("listen: [\"[::2]:8080\"]\nadmin: \"[::1]:8080\"\n" BASE ROUTE_A);
    cfg_free(c);
    c = load_ok("listen: [\"[::1]:8080\"]\nadmin: \"[::2]:8080\"\n" BASE ROUTE_A);
    cfg_free(c);
}

/* Messages that guess what was meant. */
static void test_hints(void)
{
    check_one_error("upstreams:\n  app: {address: 127.0.0.1:1}\n  connect_timeout: 1s\n" ROUTE_A,
                    "t.yaml:3:20: upstreams.connect_timeout: expected a mapping (an upstream), got a scalar; is "
                    "\"connect_timeout\" meant to be indented under an upstream?");
    check_one_error("upstreams:\n  app: 127.0.0.1:1\n" ROUTE_A,
                    "t.yaml:2:8: upstreams.app: expected a mapping (an upstream), got a scalar");
    check_one_error("upstreams:\n  app:\n" ROUTE_A,
                    "t.yaml:2:7: upstreams.app: expected a mapping (an upstream), got an empty value");
    /* upstreams: that is not a mapping is reported once, and not read as one */
    cfg_config_t *bad = load("upstreams: []\n" ROUTE_A);
    CHECK(bad == NULL);
    CHECK_EQ_U64(errors.count, 2);
    CHECK(has_error("t.yaml:1:12: upstreams: expected a mapping, got a list"));
    CHECK(has_error("t.yaml:2:30: route \"a\": unknown upstream \"app\""));
    cfg_free(bad);
    check_one_error(R("limit: 1"),
                    "t.yaml:3:35: unknown key \"limit\" in route (is it meant to be indented under \"concurrency\"?)");
    check_one_error(R("path_prefix: /a"),
                    "t.yaml:3:35: unknown key \"path_prefix\" in route (is it meant to be indented under \"match\"?)");
    check_one_error(BASE ROUTE_A "max_body: 1MiB\n",
                    "t.yaml:4:1: unknown key \"max_body\" in the top level (is it meant to be indented under \"client\"?)");
    check_one_error(R("concurrency: {limit: 1, limt: 2}"),
                    "t.yaml:3:59: unknown key \"limt\" in concurrency (did you mean \"limit\"?)");
    check_one_error(R("concurrency: {limit: 1, size: 2}"),
                    "t.yaml:3:59: unknown key \"size\" in concurrency (is it meant to be indented under \"queue\"?)");
    check_one_error(R("max_body: 1MiB, max_bdy: 1"), "t.yaml:3:51: unknown key \"max_bdy\" in route (did you mean \"max_body\"?)");
    check_one_error(R("rate_limits: [{name: r, rate: 1/s, brust: 3}]"),
                    "t.yaml:3:70: unknown key \"brust\" in rate limit (did you mean \"burst\"?)");
    check_one_error("clinet: {max_body: 1}\n" BASE ROUTE_A,
                    "t.yaml:1:1: unknown key \"clinet\" in the top level (did you mean \"client\"?)");
    cfg_config_t *c = load("upstreams: {app: {adress: 127.0.0.1:1}}\n" ROUTE_A);
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 2);
    CHECK(has_error("t.yaml:1:19: unknown key \"adress\" in upstream (did you mean \"address\"?)"));
    CHECK(has_error("t.yaml:1:18: upstream \"app\": missing required key \"address\""));
    /* too far, or too short to guess */
    check_one_error(R("tmo: 1s"), "t.yaml:3:35: unknown key \"tmo\" in route");
    check_one_error(R("x: 1s"), "t.yaml:3:35: unknown key \"x\" in route");
}

static void test_address_message(void)
{
    cfg_config_t *c = load_ok("upstreams:\n  app: {address: \"backend.invalid:80\"}\n" ROUTE_A);
    if (c == NULL)
        return;
    CHECK_EQ_U64(c->upstreams[0].address.line, 2);
    CHECK_EQ_U64(c->upstreams[0].address.col, 18);
    CHECK_EQ_U64(c->admin.line, 0);
    char *msg = cfg_address_message(c, &c->upstreams[0].address, "upstream \"%s\": cannot resolve \"%s\": %s", c->upstreams[0].name,
                                    c->upstreams[0].address.host, "Name or service not known");
    CHECK_STR(msg, "t.yaml:2:18: upstream \"app\": cannot resolve \"backend.invalid\": Name or service not known");
    free(msg);
    msg = cfg_address_message(c, &c->admin, "admin: cannot listen");
    CHECK_STR(msg, "t.yaml: admin: cannot listen");
    free(msg);
    cfg_free(c);
}

static void test_env(void)
{
    setenv("SLUICE_TEST_PORT", "8123", 1);
    setenv("SLUICE_TEST_HOST", "127.0.0.1", 1);
    setenv("SLUICE_TEST_LIMIT", "7", 1);
    cfg_config_t *c = load_ok("upstreams: {app: {address: \"${SLUICE_TEST_HOST}:${SLUICE_TEST_PORT}\"}}\n"
                              "routes: [{name: a, upstream: app, concurrency: {limit: \"${SLUICE_TEST_LIMIT}\"}, match: {headers: "
                              "{x-cost: \"$$5 and $${HOME}\"}}}]\n");
    if (c != NULL) {
        CHECK_STR(c->upstreams[0].address.host, "127.0.0.1");
        CHECK_EQ_U64(c->upstreams[0].address.port, 8123);
        /* the text keeps the expanded value: it is what the gateway connects to */
        CHECK_STR(c->upstreams[0].address.text, "127.0.0.1:8123");
        CHECK_EQ_U64(c->routes[0].concurrency[0].limit, 7);
        CHECK_STR(c->routes[0].headers[0].value, "$5 and ${HOME}");
    }
    cfg_free(c);

    /* an expanded value is validated like a literal one */
    setenv("SLUICE_TEST_PORT", "99999", 1);
    check_one_error("upstreams: {app: {address: \"127.0.0.1:${SLUICE_TEST_PORT}\"}}\n" ROUTE_A,
                    "t.yaml:1:28: upstream address: port must be an integer from 1 to 65535, got \"127.0.0.1:99999\"");
    unsetenv("SLUICE_UNSET_VAR");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, password: \"${SLUICE_UNSET_VAR}\"}\n" ROUTE_A,
                    "t.yaml:3:44: environment variable \"SLUICE_UNSET_VAR\" is not set");
    check_one_error(R("match: {host: \"${SLUICE_TEST_HOST\"}"),
                    "t.yaml:3:49: unterminated ${ in \"${SLUICE_TEST_HOST\" (write $$ for a literal $)");
    check_one_error(R("match: {host: \"${}\"}"),
                    "t.yaml:3:49: bad environment variable name \"${}\": expected [A-Za-z_][A-Za-z0-9_]*");
    check_one_error(R("match: {host: \"${A B}\"}"),
                    "t.yaml:3:49: bad environment variable name \"${A B}\": expected [A-Za-z_][A-Za-z0-9_]*");
    check_one_error(R("match: {host: \"${1X}\"}"),
                    "t.yaml:3:49: bad environment variable name \"${1X}\": expected [A-Za-z_][A-Za-z0-9_]*");

    /* two upstream keys that ${VAR} makes equal */
    setenv("SLUICE_TEST_NAME", "app", 1);
    check_one_error("upstreams: {app: {address: 127.0.0.1:1}, \"${SLUICE_TEST_NAME}\": {address: 127.0.0.1:2}}\n" ROUTE_A,
                    "t.yaml:1:42: duplicate upstream name \"app\"");
}

/* Many problems in one file: every one is reported, in one run. */
static void test_many_errors(void)
{
    cfg_config_t *c = load("upstreams: {app: {address: nowhere}}\n"
                           "client: {max_body: lots, idle_timeout: 0s}\n"
                           "routes:\n"
                           "  - {name: a, upstream: app, timeout: soon}\n"
                           "  - {name: b, upstream: ghost, bogus: 1}\n"
                           "  - {name: a, upstream: app, match: {path: x, methods: [GET, GET, YELL]}}\n"
                           "  - {upstream: app, concurrency: {limit: 0, scope: global}}\n");
    CHECK(c == NULL);
    CHECK(has_error("t.yaml:1:28: upstream address: expected host:port, [IPv6]:port or unix:/path, got \"nowhere\""));
    CHECK(has_error("t.yaml:2:20: client.max_body: expected a size: an integer and a unit (B, KiB, MiB, GiB), e.g. 512KiB or "
                    "10MiB, got \"lots\""));
    CHECK(has_error("t.yaml:2:40: client.idle_timeout: must be greater than zero, got \"0s\""));
    CHECK(has_error(
        "t.yaml:4:39: route timeout: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s, got \"soon\""));
    CHECK(has_error("t.yaml:5:32: unknown key \"bogus\" in route"));
    CHECK(has_error("t.yaml:5:25: route \"b\": unknown upstream \"ghost\""));
    CHECK(has_error("t.yaml:6:44: match.path: must start with '/', got \"x\""));
    CHECK(has_error("t.yaml:6:67: unknown HTTP method \"YELL\""));
    CHECK(has_error("t.yaml:6:5: duplicate route name \"a\""));
    CHECK(has_error("t.yaml:7:42: concurrency.limit: must be between 1 and 1000000, got 0"));
    CHECK(has_error("t.yaml:7:52: scope: global needs a redis: block"));
    CHECK(has_error("t.yaml:7:5: route #4: missing required key \"name\""));
    CHECK_EQ_U64(errors.count, 12);
}

static void test_json(void)
{
    setenv("SLUICE_TEST_BYTES", "a\xff", 1);
    cfg_config_t *c =
        load_ok(BASE "redis: {address: 127.0.0.1:6379, password: \"s3cr\\\"et\", prefix: \"${SLUICE_TEST_BYTES}\"}\n"
                     "routes: [{name: a, upstream: app, match: {headers: {x-q: \"q\\\"b\\\\c\\td\", x-u: \"é\"}}}]\n");
    if (c == NULL)
        return;
    char *json = cfg_to_json(c);
    CHECK(strstr(json, "s3cr") == NULL);
    CHECK(strstr(json, "\"password\":\"<redacted>\"") != NULL);
    CHECK(strstr(json, "\"x-q\":\"q\\\"b\\\\c\\u0009d\"") != NULL);
    CHECK(strstr(json, "\"x-u\":\"é\"") != NULL);
    CHECK(strstr(json, "\"prefix\":\"a\\ufffd\"") != NULL);
    free(json);
    cfg_free(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fuzzer's seed corpus and the inputs it found bugs with, through the fuzz target (which
 * aborts if a config and errors come back together, or neither). */
static void test_fuzz_corpus(void)
{
    LLVMFuzzerInitialize(NULL, NULL);
    CHECK(replay_corpus(SLUICE_SOURCE_DIR "/fuzz/corpus/config", LLVMFuzzerTestOneInput) >= 30);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every file in examples/ must load cleanly: they are what users copy. */
static void test_examples(void)
{
    const char *dir_path = SLUICE_SOURCE_DIR "/lua-free-config/examples";
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL);
    if (dir == NULL)
        return;
    size_t loaded = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (!ends_with(e->d_name, ".yaml"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
        cfg_errors_clear(&errors);
        cfg_config_t *c = cfg_load_file(path, &errors);
        if (c == NULL)
            fprintf(stderr, "example %s does not load:\n", path);
        dump_errors();
        CHECK(c != NULL);
        CHECK_EQ_U64(errors.count, 0);
        if (c != NULL && strcmp(e->d_name, "quickstart.yaml") == 0) {
            CHECK_STR(c->listen[0].text, "127.0.0.1:8080");
            CHECK_STR(c->admin.text, "127.0.0.1:9901");
            CHECK_STR(c->upstreams[0].address.text, "127.0.0.1:8000");
            CHECK_STR(c->routes[0].name, "api");
            CHECK_STR(c->routes[0].path_prefix, "/");
            CHECK_EQ_U64(c->routes[0].timeout_ms, 5000);
            CHECK_EQ_U64(c->routes[0].concurrency[0].limit, 8);
            CHECK_EQ_U64(c->routes[0].concurrency[0].queue_size, 32);
            CHECK_EQ_U64(c->routes[0].concurrency[0].queue_timeout_ms, 2000);
            CHECK_EQ_U64(c->routes[0].rate_limits[0].count, 50);
            CHECK_EQ_U64(c->routes[0].rate_limits[0].period_ms, 1000);
            CHECK_EQ_U64(c->routes[0].rate_limits[0].burst, 20);
            CHECK(c->routes[0].rate_limits[0].per.keys[0].kind == CFG_KEY_CLIENT_IP);
        }
        /* what users copy never shows them the app's tracebacks */
        for (size_t i = 0; c != NULL && i != c->num_routes; ++i) {
            if (!c->routes[i].errors.hide_upstream_5xx)
                fprintf(stderr, "example %s: route %s shows upstream 5xx bodies\n", path, c->routes[i].name);
            CHECK(c->routes[i].errors.hide_upstream_5xx);
        }
        cfg_free(c);
        ++loaded;
    }
    closedir(dir);
    CHECK(loaded >= 3);
}

/* Loads a file that must fail with exactly one error, which contains `part`. */
static void check_error_containing_at(int line, const char *yaml, const char *part)
{
    cfg_config_t *c = load(yaml);
    int found = errors.count == 1 && strstr(errors.items[0], part) != NULL;
    if (c != NULL || !found) {
        fprintf(stderr, "test_config.c:%d: expected one error, with: %s\n", line, part);
        dump_errors();
    }
    CHECK(c == NULL);
    CHECK(found);
    cfg_free(c);
}
#define check_error_containing(yaml, part) check_error_containing_at(__LINE__, yaml, part)

/* Every kind of value and block given the wrong YAML type (or an unset variable) is refused with
 * an error, and checking goes on safely. */
static void test_wrong_types_everywhere(void)
{
    unsetenv("SLUICE_UNSET_VAR");
    check_error_containing(R("concurrency: {limit: [1]}"), "concurrency.limit: expected a scalar, got a list");
    check_error_containing(R("concurrency: {limit: \"${SLUICE_UNSET_VAR}\"}"), "\"SLUICE_UNSET_VAR\" is not set");
    check_error_containing(R("errors: {hide_upstream_5xx: [true]}"), "errors.hide_upstream_5xx: expected a scalar, got a list");
    check_error_containing(R("concurrency: {limit: 1, queue: {order: {a: b}}}"), "queue.order: expected a scalar, got a mapping");
    check_error_containing("upstreams: {app: {address: [127.0.0.1:1]}}\n" ROUTE_A,
                           "upstream address: expected a scalar, got a list");
    check_error_containing(R("concurrency: {limit: 1, per: {a: b}}"),
                           "concurrency.per: expected a key source or a list of them, got a mapping");
    check_error_containing(R("timeout: {a: 1}"), "route timeout: expected a scalar, got a mapping");
    check_error_containing("client: [1]\n" BASE ROUTE_A, "client: expected a mapping, got a list");
    check_error_containing(BASE "redis: 5\n" ROUTE_A, "redis: expected a mapping, got a scalar");
    check_error_containing("upstreams: {app: 5}\n" ROUTE_A, "upstreams.app: expected a mapping (an upstream), got a scalar");
    check_error_containing(R("concurrency: {limit: 1, queue: 5}"), "concurrency.queue: expected a mapping, got a scalar");
    check_error_containing(R("concurrency: 5"), "concurrency: expected a mapping (one limit) or a list of them, got a scalar");
    check_error_containing(R("rate_limits: [5]"), "rate limit: expected a mapping, got a scalar");
    check_error_containing(R("match: 5"), "match: expected a mapping, got a scalar");
    check_error_containing(R("match: [1]"), "match: expected a mapping, got a list");
    check_error_containing(R("concurrency: {limit: 1, queue: [1]}"), "concurrency.queue: expected a mapping, got a list");
    check_error_containing(R("concurrency: [1]"), "concurrency: expected a mapping, got a scalar"); /* the list item */
    check_error_containing(R("rate_limits: [[1]]"), "rate limit: expected a mapping, got a list");
    check_error_containing("upstreams: {app: [1]}\n" ROUTE_A, "upstreams.app: expected a mapping (an upstream), got a list");
    check_error_containing(BASE "redis: [1]\n" ROUTE_A, "redis: expected a mapping, got a list");
    check_error_containing("listen: {a: b}\n" BASE ROUTE_A, "listen: expected a list, got a mapping");
    check_error_containing(R("match: {headers: {x-a: [1]}}"), "header value: expected a scalar, got a list");
    check_error_containing(R("match: {headers: {[x]: a}}"), "header name: expected a scalar, got a list");
    check_error_containing(R("match: {methods: [[GET]]}"), "method: expected a scalar, got a list");
    check_error_containing("client: {trusted_proxies: [[10.0.0.0/8]]}\n" BASE ROUTE_A,
                           "client.trusted_proxies entry: expected a scalar, got a list");
}

/* Boolean, enumeration and bounded values on both sides of their limits. */
static void test_value_limits(void)
{
    cfg_config_t *c = load_ok(R("errors: {hide_upstream_5xx: false}"));
    if (c != NULL)
        CHECK_EQ_U64(c->routes[0].errors.hide_upstream_5xx, 0);
    cfg_free(c);
    c = load_ok(R("timeout: 1ms"));
    if (c != NULL)
        CHECK_EQ_U64(c->routes[0].timeout_ms, 1);
    cfg_free(c);
    static const struct {
        const char *lease;
        int ok;
    } leases[] = {{"1s", 1}, {"1000ms", 1}, {"999ms", 0}, {"1h", 1}, {"3600000ms", 1}, {"3600001ms", 0}, {"2h", 0}};
    for (size_t i = 0; i != sizeof(leases) / sizeof(leases[0]); ++i) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), BASE "redis: {address: 127.0.0.1:6379, slot_lease: %s}\n" ROUTE_A, leases[i].lease);
        if (leases[i].ok) {
            c = load_ok(yaml);
            cfg_free(c);
        } else {
            check_error_containing(yaml, "redis.slot_lease: must be between 1s and 1h");
        }
    }
    /* the smallest durations and sizes that load, and the next ones down that do not */
    c = load_ok("shutdown_timeout: 1ms\ndrain_delay: 0s\n"
                "client: {header_timeout: 1ms, idle_timeout: 1ms, body_timeout: 1ms, max_body: 1}\n"
                "upstreams: {app: {address: 127.0.0.1:8000, connect_timeout: 1ms, read_timeout: 1ms, keepalive: 0, "
                "max_connections: 1}}\n"
                "redis: {address: 127.0.0.1:6379, timeout: 1ms}\n" ROUTE_A);
    if (c != NULL) {
        CHECK_EQ_U64(c->shutdown_timeout_ms, 1);
        CHECK_EQ_U64(c->drain_delay_ms, 0);
        CHECK_EQ_U64(c->client.header_timeout_ms, 1);
        CHECK_EQ_U64(c->client.idle_timeout_ms, 1);
        CHECK_EQ_U64(c->client.body_timeout_ms, 1);
        CHECK_EQ_U64(c->client.max_body, 1);
        CHECK_EQ_U64(c->upstreams[0].connect_timeout_ms, 1);
        CHECK_EQ_U64(c->upstreams[0].read_timeout_ms, 1);
        CHECK_EQ_U64(c->upstreams[0].max_connections, 1);
        CHECK_EQ_U64(c->redis.timeout_ms, 1);
    }
    cfg_free(c);
    check_one_error("client: {header_timeout: 0s}\n" BASE ROUTE_A,
                    "t.yaml:1:26: client.header_timeout: must be greater than zero, got \"0s\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:8000, read_timeout: 0s}}\n" ROUTE_A,
                    "t.yaml:1:58: read_timeout: must be greater than zero, got \"0s\"");
    check_one_error(R("concurrency: {limit: 1, queue: {order: random}}"),
                    "t.yaml:3:74: queue.order: expected one of fifo | lifo, got \"random\"");
    check_error_containing(BASE "redis: {address: 127.0.0.1:6379, on_error: crash}\n" ROUTE_A,
                           "redis.on_error: expected one of local | allow | deny, got \"crash\"");
}

/* Every bounded field of a route at both ends of its range (each loads with that exact value), and
 * the values just outside (each refused, with its own message). */
static void test_route_field_ranges(void)
{
    cfg_config_t *c = load_ok(R("timeout: 1ms, max_body: 1, "
                                "concurrency: [{name: a, limit: auto, adaptive: {min: 1, max: 1, initial: 1}, max_keys: 1, "
                                "max_key_length: 16, queue: {size: 0, timeout: 1ms}, hold_aborted: 0s}, {name: b, limit: 1}], "
                                "rate_limits: [{name: r, rate: 1/s, burst: 1, max_delay: 1ms, max_keys: 1, max_key_length: 16}], "
                                "circuit_breaker: {failures: 1, open_for: 1ms, half_open: 1, failure_rate: 1, window: 1ms, "
                                "min_requests: 1, max_keys: 1, max_key_length: 16}, "
                                "websocket: {max_connections: 1, idle_timeout: 1ms}"));
    if (c != NULL) {
        const cfg_route_t *r = &c->routes[0];
        CHECK_EQ_U64(r->timeout_ms, 1);
        CHECK_EQ_U64(r->max_body, 1);
        const cfg_concurrency_t *cc = &r->concurrency[0];
        CHECK_EQ_U64(cc->adaptive, 1); /* documented as 1, not just true */
        CHECK_EQ_U64(cc->adaptive_min, 1);
        CHECK_EQ_U64(cc->adaptive_max, 1);
        CHECK_EQ_U64(cc->adaptive_initial, 1);
        CHECK_EQ_U64(cc->limit, 1);
        CHECK_EQ_U64(cc->max_keys, 1);
        CHECK_EQ_U64(cc->max_key_length, 16);
        CHECK_EQ_U64(cc->queue_size, 0);
        CHECK_EQ_U64(cc->queue_timeout_ms, 1);
        CHECK_EQ_U64(cc->hold_aborted_ms, 0);
        CHECK_EQ_U64(r->concurrency[1].limit, 1);
        CHECK_EQ_U64(r->concurrency[1].adaptive, 0);
        const cfg_rate_limit_t *rl = &r->rate_limits[0];
        CHECK_EQ_U64(rl->burst, 1);
        CHECK_EQ_U64(rl->max_delay_ms, 1);
        CHECK_EQ_U64(rl->max_keys, 1);
        CHECK_EQ_U64(rl->max_key_length, 16);
        const cfg_circuit_breaker_t *cb = &r->circuit_breaker;
        CHECK_EQ_U64(cb->failures, 1);
        CHECK_EQ_U64(cb->open_for_ms, 1);
        CHECK_EQ_U64(cb->half_open, 1);
        CHECK_EQ_U64(cb->failure_rate, 1);
        CHECK_EQ_U64(cb->window_ms, 1);
        CHECK_EQ_U64(cb->min_requests, 1);
        CHECK_EQ_U64(cb->max_keys, 1);
        CHECK_EQ_U64(cb->max_key_length, 16);
        CHECK_EQ_U64(r->websocket.max_connections, 1);
        CHECK_EQ_U64(r->websocket.idle_timeout_ms, 1);
    }
    cfg_free(c);
    c = load_ok(R("concurrency: [{name: a, limit: auto, adaptive: {min: 1000000, max: 1000000, initial: 1000000}, "
                  "max_keys: 100000000, max_key_length: 64KiB, queue: {size: 1000000}}, {name: b, limit: 1000000}], "
                  "rate_limits: [{name: r, rate: 1/s, burst: 1000000000, max_keys: 100000000, max_key_length: 65536}], "
                  "circuit_breaker: {failures: 1000000, half_open: 1000, failure_rate: 100%, min_requests: 1000000, "
                  "max_keys: 100000000, max_key_length: 65536}, websocket: {max_connections: 1000000}"));
    if (c != NULL) {
        const cfg_route_t *r = &c->routes[0];
        const cfg_concurrency_t *cc = &r->concurrency[0];
        CHECK_EQ_U64(cc->adaptive_min, 1000000);
        CHECK_EQ_U64(cc->adaptive_max, 1000000);
        CHECK_EQ_U64(cc->adaptive_initial, 1000000);
        CHECK_EQ_U64(cc->limit, 1000000);
        CHECK_EQ_U64(cc->max_keys, 100000000);
        CHECK_EQ_U64(cc->max_key_length, 65536);
        CHECK_EQ_U64(cc->queue_size, 1000000);
        CHECK_EQ_U64(r->concurrency[1].limit, 1000000);
        const cfg_rate_limit_t *rl = &r->rate_limits[0];
        CHECK_EQ_U64(rl->burst, 1000000000);
        CHECK_EQ_U64(rl->max_keys, 100000000);
        CHECK_EQ_U64(rl->max_key_length, 65536);
        const cfg_circuit_breaker_t *cb = &r->circuit_breaker;
        CHECK_EQ_U64(cb->failures, 1000000);
        CHECK_EQ_U64(cb->half_open, 1000);
        CHECK_EQ_U64(cb->failure_rate, 100);
        CHECK_EQ_U64(cb->min_requests, 1000000);
        CHECK_EQ_U64(cb->max_keys, 100000000);
        CHECK_EQ_U64(cb->max_key_length, 65536);
        CHECK_EQ_U64(r->websocket.max_connections, 1000000);
    }
    cfg_free(c);
    /* the first values out, below and above */
    static const struct {
        const char *yaml, *error;
    } out[] = {
        {R("timeout: 0s"), "t.yaml:3:44: route timeout: must be greater than zero, got \"0s\""},
        {R("concurrency: {limit: 1, queue: {timeout: 0ms}}"), "t.yaml:3:76: queue.timeout: must be greater than zero, got \"0ms\""},
        {R("concurrency: {limit: auto, adaptive: {max: 0}}"), "t.yaml:3:78: adaptive.max: must be between 1 and 1000000, got 0"},
        {R("concurrency: {limit: auto, adaptive: {initial: 0}}"),
         "t.yaml:3:82: adaptive.initial: must be between 1 and 1000000, got 0"},
        {R("concurrency: {limit: auto, adaptive: {min: 1000001}}"),
         "t.yaml:3:78: adaptive.min: must be between 1 and 1000000, got 1000001"},
        {R("concurrency: {limit: auto, adaptive: {initial: 1000001}}"),
         "t.yaml:3:82: adaptive.initial: must be between 1 and 1000000, got 1000001"},
        {R("concurrency: {limit: 1, max_keys: 100000001}"),
         "t.yaml:3:69: concurrency.max_keys: must be between 1 and 100000000, got 100000001"},
        {R("rate_limits: [{name: r, rate: 1/s, max_delay: 0ms}]"),
         "t.yaml:3:81: max_delay: must be greater than zero, got \"0ms\""},
        {R("rate_limits: [{name: r, rate: 1/s, max_keys: 0}]"),
         "t.yaml:3:80: rate limit max_keys: must be between 1 and 100000000, got 0"},
        {R("rate_limits: [{name: r, rate: 1/s, max_key_length: 15}]"),
         "t.yaml:3:86: rate limit max_key_length: must be between 16B and 64KiB, got \"15\""},
        {R("circuit_breaker: {failures: 1000001}"),
         "t.yaml:3:63: circuit_breaker.failures: must be between 1 and 1000000, got 1000001"},
        {R("circuit_breaker: {half_open: 0}"), "t.yaml:3:64: circuit_breaker.half_open: must be between 1 and 1000, got 0"},
        {R("circuit_breaker: {failure_rate: 1, window: 0s}"),
         "t.yaml:3:78: circuit_breaker.window: must be greater than zero, got \"0s\""},
        {R("circuit_breaker: {failure_rate: 1, min_requests: 0}"),
         "t.yaml:3:84: circuit_breaker.min_requests: must be between 1 and 1000000, got 0"},
        {R("circuit_breaker: {failure_rate: 1, min_requests: 1000001}"),
         "t.yaml:3:84: circuit_breaker.min_requests: must be between 1 and 1000000, got 1000001"},
        {R("circuit_breaker: {max_keys: 0}"), "t.yaml:3:63: circuit_breaker.max_keys: must be between 1 and 100000000, got 0"},
        {R("circuit_breaker: {max_keys: 100000001}"),
         "t.yaml:3:63: circuit_breaker.max_keys: must be between 1 and 100000000, got 100000001"},
        {R("circuit_breaker: {max_key_length: 15}"),
         "t.yaml:3:69: circuit_breaker.max_key_length: must be between 16B and 64KiB, got \"15\""},
        {R("circuit_breaker: {max_key_length: 65537}"),
         "t.yaml:3:69: circuit_breaker.max_key_length: must be between 16B and 64KiB, got \"65537\""},
        {R("websocket: {max_connections: 1000001}"),
         "t.yaml:3:64: websocket.max_connections: must be between 1 and 1000000, got 1000001"},
        {R("websocket: {idle_timeout: 0s}"), "t.yaml:3:61: websocket.idle_timeout: must be greater than zero, got \"0s\""},
    };
    for (size_t i = 0; i != sizeof(out) / sizeof(out[0]); ++i)
        check_one_error(out[i].yaml, out[i].error);
}

/* ${VAR}: values longer than the text they replace, several in one string, and what is not a
 * variable ($ alone, braces alone) kept as written. */
static void test_env_expansion_sizes(void)
{
    static char value[3000];
    memset(value, 'v', sizeof(value) - 1);
    setenv("SLUICE_TEST_LONG", value, 1);
    setenv("SLUICE_TEST_SHORT", "s", 1);
    cfg_config_t *c = load_ok(R("match: {headers: {x-a: \"${SLUICE_TEST_LONG}-${SLUICE_TEST_SHORT}${SLUICE_TEST_LONG}!\", "
                                "x-b: \"a{b}c $x $ {SLUICE_TEST_SHORT} ${SLUICE_TEST_SHORT}\"}}"));
    if (c != NULL) {
        const char *a = c->routes[0].headers[0].value;
        CHECK_EQ_U64(strlen(a), 2 * (sizeof(value) - 1) + 3);
        CHECK(strspn(a, "v") == sizeof(value) - 1 && strncmp(a + sizeof(value) - 1, "-s", 2) == 0 && a[strlen(a) - 1] == '!');
        CHECK_STR(c->routes[0].headers[1].value, "a{b}c $x $ {SLUICE_TEST_SHORT} s");
    }
    cfg_free(c);
    /* a value that outgrows its text by a little: the copy stays terminated */
    setenv("SLUICE_TEST_MID", "0123456789012345678901234567890123456789", 1);
    c = load_ok(R("match: {headers: {x-m: \"${SLUICE_TEST_MID}x\"}}"));
    if (c != NULL)
        CHECK_STR(c->routes[0].headers[0].value, "0123456789012345678901234567890123456789x");
    cfg_free(c);
    check_one_error(R("match: {host: \"${-A}\"}"),
                    "t.yaml:3:49: bad environment variable name \"${-A}\": expected [A-Za-z_][A-Za-z0-9_]*");
}

/* A second document that is not even valid YAML is a syntax error too, not a silent success. */
static void test_broken_second_document(void)
{
    cfg_config_t *c = load(BASE ROUTE_A "---\n[unclosed\n");
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 1);
    CHECK(errors.count == 1 && strstr(errors.items[0], "a second YAML document") != NULL);
    cfg_free(c);
    check_one_error("''\n", "t.yaml:1:1: the file is empty: it needs at least upstreams: and routes:");
    /* a syntax error past the first document, before any node of a second one */
    check_one_error(BASE ROUTE_A "...\n%YAML 1.1\n%YAML 1.1\n---\n",
                    "t.yaml:6:1: YAML syntax error: found duplicate %YAML directive");
    /* a second document whose first node has an anchor and a value (LeakSanitizer checks they are
     * released) */
    check_one_error(BASE ROUTE_A "--- &a text\n", "t.yaml:4:5: a second YAML document (after ---): the file must hold exactly one");
}

/* cfg_yaml_load itself: what it returns (-1, or how many errors it added), that it overwrites
 * whatever `out` held, and that cfg_yaml_free leaves it empty. */
static void test_yaml_load_contract(void)
{
    static const struct {
        const char *yaml;
        int result;
        size_t num_errors, num_dups;
    } cases[] = {
        {"a: 1\na: 2\n", 0, 0, 1},    {"a: 1\n---\nb: 2\n", 1, 1, 0}, {"a: 1\n...\n%YAML 1.1\n%YAML 1.1\n---\n", 1, 1, 0},
        {"a: [1\n", -1, 1, 0},        {"a: *b\n", -1, 1, 0},          {"", 0, 0, 0},
        {"# no document\n", 0, 0, 0},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        cfg_yaml_t y;
        memset(&y, 0x5a, sizeof(y)); /* not a loaded document: cfg_yaml_load must not read it */
        cfg_errors_clear(&errors);
        int result = cfg_yaml_load(cases[i].yaml, strlen(cases[i].yaml), "t.yaml", &y, &errors);
        CHECK_EQ_U64((uint64_t)(int64_t)result, (uint64_t)(int64_t)cases[i].result);
        CHECK_EQ_U64(errors.count, cases[i].num_errors);
        CHECK_EQ_U64(y.num_dups, cases[i].num_dups);
        cfg_yaml_free(&y);
        CHECK(y.has_doc == 0 && y.dups == NULL && y.num_dups == 0);
        cfg_yaml_free(&y); /* an emptied one frees nothing */
    }
}

/* A key that is not a scalar is reported as such, not taken for a repeat of an empty key. */
static void test_non_scalar_keys(void)
{
    cfg_config_t *c = load(R("\"\": 1, [x]: 2"));
    CHECK(c == NULL);
    CHECK(has_error("t.yaml:3:35: unknown key \"\" in route"));
    CHECK(has_error("t.yaml:3:42: keys in route must be scalars"));
    CHECK_EQ_U64(errors.count, 2);
    cfg_free(c);
}

/* A file bigger than one read (64 KiB, then twice as much), read from disk whole, and read again
 * and again without running out of file descriptors (a reload per SIGHUP). */
static void test_big_file_and_many_reads(void)
{
    char path[] = "/tmp/sluice-test-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *fp = fdopen(fd, "w");
    fputs(BASE "routes:\n", fp);
    enum { ROUTES = 6000 };
    for (int i = 0; i != ROUTES; ++i)
        fprintf(fp, "  - {name: route-%05d, upstream: app, match: {path_prefix: /p%d}}\n", i, i);
    fclose(fp);
    cfg_errors_clear(&errors);
    cfg_config_t *c = cfg_load_file(path, &errors);
    dump_errors();
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_EQ_U64(c->num_routes, ROUTES);
        CHECK_STR(c->routes[ROUTES - 1].name, "route-05999");
    }
    cfg_free(c);

    fp = fopen(path, "w");
    fputs(BASE ROUTE_A, fp);
    fclose(fp);
    /* with few descriptors allowed, so that a leak shows within the loop */
    struct rlimit saved, few;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    few = saved;
    few.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &few) == 0);
    int ok = 0;
    for (int i = 0; i != 200; ++i) {
        cfg_errors_clear(&errors);
        c = cfg_load_file(path, &errors);
        ok += c != NULL;
        cfg_free(c);
    }
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    CHECK_EQ_U64(ok, 200);
    unlink(path);
}

int main(void)
{
    test_full_file();
    test_defaults();
    test_values();
    test_syntax_and_document_errors();
    test_hostile_yaml();
    test_key_and_type_errors();
    test_repeated_keys_everywhere();
    test_value_errors();
    test_route_errors();
    test_new_keys();
    test_key_sources();
    test_concurrency_errors();
    test_limit_combinations();
    test_route_block_errors();
    test_request_headers();
    test_unmatchable_routes();
    test_admin_listen();
    test_hints();
    test_address_message();
    test_env();
    test_many_errors();
    test_json();
    test_examples();
    test_fuzz_corpus();
    test_wrong_types_everywhere();
    test_value_limits();
    test_route_field_ranges();
    test_env_expansion_sizes();
    test_broken_second_document();
    test_yaml_load_contract();
    test_non_scalar_keys();
    test_big_file_and_many_reads();
    cfg_errors_clear(&errors);
    return CHECK_SUMMARY();
}
