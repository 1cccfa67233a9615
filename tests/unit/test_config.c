/* The policy loader (lua-free-config/): every field of a full file, defaults, and every error
 * path with its exact message and position. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cfg_config.h"

#ifndef SLUICE_SOURCE_DIR
#define SLUICE_SOURCE_DIR "."
#endif

static cfg_errors_t errors;

static cfg_config_t *load(const char *yaml)
{
    cfg_errors_clear(&errors);
    return cfg_load_string(yaml, strlen(yaml), "t.yaml", &errors);
}

static int has_error(const char *expected)
{
    for (size_t i = 0; i != errors.count; ++i)
        if (strcmp(errors.items[i], expected) == 0)
            return 1;
    fprintf(stderr, "expected error not found: %s\ngot:\n", expected);
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "  %s\n", errors.items[i]);
    return 0;
}

/* Loads a file that must fail with exactly this one error. */
static void check_one_error(const char *yaml, const char *expected)
{
    cfg_config_t *c = load(yaml);
    CHECK(c == NULL);
    CHECK(has_error(expected));
    CHECK_EQ_U64(errors.count, 1);
    if (errors.count != 1)
        for (size_t i = 0; i != errors.count; ++i)
            fprintf(stderr, "  got: %s\n", errors.items[i]);
    cfg_free(c);
}

#define BASE "upstreams:\n  app: {address: 127.0.0.1:8000}\n"

static void test_full_file(void)
{
    setenv("SLUICE_TEST_PASSWORD", "pw-from-env", 1);
    cfg_config_t *c =
        load("listen: [127.0.0.1:8080, \"[::1]:8081\", unix:/run/sluice.sock]\n"
             "admin: 127.0.0.1:9999\n"
             "drain_delay: 2s\n"
             "shutdown_timeout: 1m\n"
             "client:\n"
             "  header_timeout: 3s\n"
             "  idle_timeout: 2m\n"
             "  max_body: 512KiB\n"
             "  trusted_proxies: [10.0.0.0/8, \"fd00::/8\"]\n"
             "redis:\n"
             "  address: unix:/run/redis.sock\n"
             "  password: ${SLUICE_TEST_PASSWORD}\n"
             "  database: 2\n"
             "  timeout: 50ms\n"
             "  prefix: \"x:\"\n"
             "  on_error: deny\n"
             "  instances: 3\n"
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
             "      - {name: per-client, rate: 100/s, burst: 20, per: client_ip, on_exceed: delay, max_delay: 300ms}\n"
             "      - {name: global, rate: 6000/m, scope: global}\n"
             "    errors: {hide_upstream_5xx: true}\n"
             "  - name: rest\n"
             "    upstream: app\n");
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_EQ_U64(c->num_listen, 3);
    CHECK_STR(c->listen[1].host, "::1");
    CHECK_EQ_U64(c->listen[1].port, 8081);
    CHECK(c->listen[2].kind == CFG_ADDR_UNIX);
    CHECK_STR(c->listen[2].host, "/run/sluice.sock");
    CHECK_EQ_U64(c->admin.port, 9999);
    CHECK_EQ_U64(c->drain_delay_ms, 2000);
    CHECK_EQ_U64(c->shutdown_timeout_ms, 60000);
    CHECK_EQ_U64(c->client.header_timeout_ms, 3000);
    CHECK_EQ_U64(c->client.idle_timeout_ms, 120000);
    CHECK_EQ_U64(c->client.max_body, 512 * 1024);
    CHECK_EQ_U64(c->client.num_trusted_proxies, 2);
    CHECK_EQ_U64(c->client.trusted_proxies[0].prefix_len, 8);
    CHECK(c->redis.enabled);
    CHECK_STR(c->redis.password, "pw-from-env");
    CHECK_EQ_U64(c->redis.database, 2);
    CHECK_EQ_U64(c->redis.timeout_ms, 50);
    CHECK_STR(c->redis.prefix, "x:");
    CHECK(c->redis.on_error == CFG_REDIS_FALLBACK_DENY);
    CHECK_EQ_U64(c->redis.instances, 3);
    CHECK_EQ_U64(c->num_upstreams, 2);
    CHECK_EQ_U64(c->upstreams[0].connect_timeout_ms, 250);
    CHECK_EQ_U64(c->upstreams[0].keepalive, 8);
    CHECK_EQ_U64(c->upstreams[1].read_timeout_ms, 30000);
    CHECK_STR(c->upstreams[1].address.host, "backend.local");
    CHECK_EQ_U64(c->num_routes, 2);
    cfg_route_t *r = &c->routes[0];
    CHECK_STR(r->path_prefix, "/orders");
    CHECK_EQ_U64(r->num_methods, 2);
    CHECK_STR(r->methods[0], "POST");
    CHECK_STR(r->host, "api.example.com");
    CHECK_STR(r->headers[0].name, "x-tenant");
    CHECK_EQ_U64(r->upstream, 1);
    CHECK_EQ_U64(r->timeout_ms, 5000);
    CHECK(r->concurrency.enabled);
    CHECK_EQ_U64(r->concurrency.limit, 16);
    CHECK(r->concurrency.per.kind == CFG_KEY_HEADER);
    CHECK_STR(r->concurrency.per.name, "x-user-id");
    CHECK(r->concurrency.scope == CFG_SCOPE_GLOBAL);
    CHECK_EQ_U64(r->concurrency.queue_size, 64);
    CHECK(r->concurrency.queue_order == CFG_QUEUE_LIFO);
    CHECK_EQ_U64(r->num_rate_limits, 2);
    CHECK_EQ_U64(r->rate_limits[0].count, 100);
    CHECK_EQ_U64(r->rate_limits[0].period_ms, 1000);
    CHECK_EQ_U64(r->rate_limits[0].burst, 20);
    CHECK(r->rate_limits[0].on_exceed == CFG_EXCEED_DELAY);
    CHECK_EQ_U64(r->rate_limits[0].max_delay_ms, 300);
    CHECK_EQ_U64(r->rate_limits[1].period_ms, 60000);
    CHECK_EQ_U64(r->rate_limits[1].burst, 1);
    CHECK(r->hide_upstream_5xx);
    /* defaults of the second route */
    CHECK_EQ_U64(c->routes[1].timeout_ms, 30000);
    CHECK(!c->routes[1].concurrency.enabled);

    char *json = cfg_to_json(c);
    CHECK(strstr(json, "pw-from-env") == NULL);
    CHECK(strstr(json, "\"password\":\"<redacted>\"") != NULL);
    CHECK(strstr(json, "\"timeout\":\"5s\"") != NULL);
    free(json);
    cfg_free(c);
}

static void test_defaults(void)
{
    cfg_config_t *c = load(BASE "routes: [{name: a, upstream: app}]\n");
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_STR(c->listen[0].text, "0.0.0.0:8080");
    CHECK_STR(c->admin.text, "127.0.0.1:9901");
    CHECK_EQ_U64(c->drain_delay_ms, 5000);
    CHECK_EQ_U64(c->shutdown_timeout_ms, 30000);
    CHECK_EQ_U64(c->client.header_timeout_ms, 10000);
    CHECK_EQ_U64(c->client.idle_timeout_ms, 60000);
    CHECK_EQ_U64(c->client.max_body, 10 * 1024 * 1024);
    CHECK(!c->redis.enabled);
    CHECK_EQ_U64(c->upstreams[0].connect_timeout_ms, 1000);
    CHECK_EQ_U64(c->upstreams[0].read_timeout_ms, 30000);
    CHECK_EQ_U64(c->upstreams[0].keepalive, 64);
    CHECK_EQ_U64(c->upstreams[0].max_connections, 256);
    char *json = cfg_to_json(c);
    CHECK(strstr(json, "\"redis\":null") != NULL);
    free(json);
    cfg_free(c);
}

static void test_errors(void)
{
    check_one_error("routes: [\n", "t.yaml:2:1: YAML syntax error: did not find expected node content while parsing a flow node");
    check_one_error("", "t.yaml:1:1: the file is empty: it needs at least upstreams: and routes:");
    check_one_error("- a\n", "t.yaml:1:1: the top level must be a mapping, got a list");
    check_one_error(BASE "routes: []\n", "t.yaml:3:9: no routes: at least one route is needed");
    check_one_error(BASE "routes: [{name: a, upstream: app}]\ntiemout: 1s\n",
                    "t.yaml:4:1: unknown key \"tiemout\" in the top level");
    check_one_error(BASE "routes: [{name: a, upstream: app, timeout: 5 s}]\n",
                    "t.yaml:3:44: route timeout: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s, got "
                    "\"5 s\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, timeout: 0s}]\n",
                    "t.yaml:3:44: route timeout: must be greater than zero, got \"0s\"");
    check_one_error(BASE "client: {max_body: 10MB}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:3:20: client.max_body: expected a size: an integer and a unit (B, KiB, MiB, GiB), e.g. 512KiB or "
                    "10MiB, got \"10MB\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, rate_limits: [{name: r, rate: 10/d}]}]\n",
                    "t.yaml:3:65: rate: expected a rate: COUNT/s, COUNT/m or COUNT/h, e.g. 100/s, got \"10/d\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:70000}}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:1:28: upstream address: port must be an integer from 1 to 65535, got \"127.0.0.1:70000\"");
    check_one_error("upstreams: {app: {address: \"::1:80\"}}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:1:28: upstream address: expected host:port (write IPv6 addresses as [addr]:port), got \"::1:80\"");
    check_one_error(BASE "client: {trusted_proxies: [10.0.0.0/33]}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:3:28: client.trusted_proxies: CIDR prefix length must be 0..32, got \"10.0.0.0/33\"");
    check_one_error(BASE "routes: [{name: a, upstream: app}, {name: a, upstream: app}]\n",
                    "t.yaml:3:36: duplicate route name \"a\"");
    check_one_error(BASE "routes: [{name: Bad Name, upstream: app}]\n",
                    "t.yaml:3:17: route name: \"Bad Name\" must match [a-z0-9_-]+");
    check_one_error(BASE "routes: [{name: a, upstream: nope}]\n", "t.yaml:3:30: route \"a\": unknown upstream \"nope\"");
    check_one_error(BASE "routes: [{name: a}]\n", "t.yaml:3:10: route \"a\": missing required key \"upstream\"");
    check_one_error(BASE "routes: [{upstream: app}]\n", "t.yaml:3:10: route: missing required key \"name\"");
    check_one_error("upstreams: {app: {keepalive: 1}}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:1:18: upstream \"app\": missing required key \"address\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, match: {path: /a, path_prefix: /b}}]\n",
                    "t.yaml:3:53: match: path and path_prefix are exclusive; use one");
    check_one_error(BASE "routes: [{name: a, upstream: app, match: {path: a}}]\n",
                    "t.yaml:3:49: match.path must start with '/', got \"a\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, match: {methods: [GET, FETCH]}}]\n",
                    "t.yaml:3:58: unknown HTTP method \"FETCH\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 1, per: \"header:\"}}]\n",
                    "t.yaml:3:64: concurrency.per: the key needs a name, e.g. header:X-User-Id, got \"header:\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 1, per: ip}}]\n",
                    "t.yaml:3:64: concurrency.per: expected client_ip, header:NAME, query:NAME or cookie:NAME, got \"ip\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 1, scope: global}}]\n",
                    "t.yaml:3:66: scope: global needs a redis: block");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 0}}]\n",
                    "t.yaml:3:56: concurrency.limit: must be between 1 and 1000000, got 0");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {queue: {size: 1}}}]\n",
                    "t.yaml:3:48: concurrency: missing required key \"limit\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, concurrency: {limit: 2, queue: {order: random}}}]\n",
                    "t.yaml:3:74: queue.order: expected one of fifo | lifo, got \"random\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, rate_limits: [{name: r, rate: 1/s}, {name: r, rate: 2/s}]}]\n",
                    "t.yaml:3:71: duplicate rate limit name \"r\" in route");
    check_one_error(BASE "routes: [{name: a, upstream: app, rate_limits: [{rate: 1/s}]}]\n",
                    "t.yaml:3:49: rate limit: missing required key \"name\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, rate_limits: [{name: r, rate: 1/s, on_exceed: drop}]}]\n",
                    "t.yaml:3:81: on_exceed: expected one of reject | delay, got \"drop\"");
    check_one_error(BASE "routes: [{name: a, upstream: app, errors: {hide_upstream_5xx: yes}}]\n",
                    "t.yaml:3:63: errors.hide_upstream_5xx: expected true or false, got \"yes\"");
    check_one_error(BASE "redis: {address: 127.0.0.1:6379, on_error: ignore}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:3:44: redis.on_error: expected one of local | allow | deny, got \"ignore\"");
    check_one_error(BASE "redis: {database: 1}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:3:8: redis: missing required key \"address\"");
    check_one_error("upstreams: {app: {address: 127.0.0.1:1, keepalive: 9, max_connections: 4}}\nroutes: [{name: a, upstream: "
                    "app}]\n",
                    "t.yaml:1:18: upstream \"app\": keepalive (9) must not exceed max_connections (4)");
    check_one_error(BASE "routes: {name: a}\n", "t.yaml:3:9: routes: expected a list, got a mapping");
    unsetenv("SLUICE_UNSET_VAR");
    check_one_error(BASE
                    "redis: {address: 127.0.0.1:6379, password: \"${SLUICE_UNSET_VAR}\"}\nroutes: [{name: a, upstream: app}]\n",
                    "t.yaml:3:44: environment variable \"SLUICE_UNSET_VAR\" is not set");

    /* several errors, all reported in one run */
    cfg_config_t *c = load("upstreams: {app: {address: nowhere}}\n"
                           "routes:\n"
                           "  - {name: a, upstream: app, timeout: soon}\n"
                           "  - {name: b, upstream: ghost, bogus: 1}\n");
    CHECK(c == NULL);
    CHECK_EQ_U64(errors.count, 4);
    CHECK(has_error("t.yaml:1:28: upstream address: expected host:port, [IPv6]:port or unix:/path, got \"nowhere\""));
    CHECK(has_error("t.yaml:3:39: route timeout: expected a duration: an integer and a unit (ms, s, m, h), e.g. 250ms or 5s, got "
                    "\"soon\""));
    CHECK(has_error("t.yaml:4:32: unknown key \"bogus\" in route"));
    CHECK(has_error("t.yaml:4:25: route \"b\": unknown upstream \"ghost\""));
}

static void test_env_and_files(void)
{
    setenv("SLUICE_TEST_PORT", "8123", 1);
    cfg_config_t *c = load("upstreams: {app: {address: \"127.0.0.1:${SLUICE_TEST_PORT}\"}}\n"
                           "routes: [{name: a, upstream: app, match: {headers: {x-cost: \"$$5\"}}}]\n");
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_EQ_U64(c->upstreams[0].address.port, 8123);
        CHECK_STR(c->routes[0].headers[0].value, "$5");
    }
    cfg_free(c);

    cfg_errors_clear(&errors);
    CHECK(cfg_load_file("/nonexistent/sluice.yaml", &errors) == NULL);
    CHECK(has_error("/nonexistent/sluice.yaml: cannot open: No such file or directory"));

    static const char *const examples[] = {"quickstart.yaml", "tornado-sidecar.yaml", "fastapi-sidecar.yaml"};
    for (size_t i = 0; i != sizeof(examples) / sizeof(examples[0]); ++i) {
        char path[512];
        snprintf(path, sizeof(path), "%s/lua-free-config/examples/%s", SLUICE_SOURCE_DIR, examples[i]);
        cfg_errors_clear(&errors);
        c = cfg_load_file(path, &errors);
        CHECK(c != NULL);
        for (size_t j = 0; j != errors.count; ++j)
            fprintf(stderr, "%s\n", errors.items[j]);
        cfg_free(c);
    }
}

int main(void)
{
    test_full_file();
    test_defaults();
    test_errors();
    test_env_and_files();
    cfg_errors_clear(&errors);
    return CHECK_SUMMARY();
}
