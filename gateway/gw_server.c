#include "gw_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "gw_admin.h"
#include "gw_admission.h"
#include "gw_h2o_errors.h"
#include "gw_http.h"
#include "gw_request.h"

/* How often an HTTP/1 request that has no response yet checks whether its client hung up. */
#define GW_CLIENT_POLL_MS 50
#define GW_LOG_FLUSH_MS 100
/* The longest request head waited for before handing the connection to h2o anyway (it answers
 * 400 itself past its own limit). */
#define GW_MAX_HEAD_BYTES 8192

uint64_t gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gw_random(gw_ctx_t *ctx)
{
    uint64_t s1 = ctx->rng_state[0];
    const uint64_t s0 = ctx->rng_state[1];
    ctx->rng_state[0] = s0;
    s1 ^= s1 << 23;
    ctx->rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return ctx->rng_state[1] + s0;
}

typedef struct st_gw_handler_t {
    h2o_handler_t super;
    gw_ctx_t *ctx;
} gw_handler_t;

static int on_public_req(h2o_handler_t *self, h2o_req_t *req)
{
    return gw_proxy_on_req(((gw_handler_t *)self)->ctx, req);
}

static int on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    return gw_admin_on_req(((gw_handler_t *)self)->ctx, req);
}

static h2o_hostconf_t *register_handler(h2o_globalconf_t *conf, gw_ctx_t *ctx, int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    gw_handler_t *handler = (gw_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->ctx = ctx;
    return host;
}

static void flush_log(h2o_timeout_entry_t *entry)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, log_flush_entry, entry);
    fflush(ctx->access_log);
    h2o_timeout_link(ctx->loop, &ctx->log_flush, &ctx->log_flush_entry);
}

static int resolve(const cfg_address_t *addr, struct sockaddr_storage *ss, socklen_t *len, int passive)
{
    memset(ss, 0, sizeof(*ss));
    if (addr->kind == CFG_ADDR_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        if (strlen(addr->host) >= sizeof(sun->sun_path)) {
            fprintf(stderr, "sluice: %s: unix socket path too long\n", addr->text);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, addr->host);
        *len = sizeof(*sun);
        return 0;
    }
    struct addrinfo hints = {0}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", addr->port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int err = getaddrinfo(addr->host, port, &hints, &res);
    if (err != 0) {
        fprintf(stderr, "sluice: %s: cannot resolve: %s\n", addr->text, gai_strerror(err));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static gw_route_metrics_t *metrics_for(gw_ctx_t *ctx, const char *route_name)
{
    for (size_t i = 0; i != ctx->num_metrics; ++i)
        if (strcmp(ctx->metrics[i]->route_name, route_name) == 0)
            return &ctx->metrics[i]->metrics;
    ctx->metrics = realloc(ctx->metrics, (ctx->num_metrics + 1) * sizeof(*ctx->metrics));
    gw_named_metrics_t *m = calloc(1, sizeof(*m));
    if (ctx->metrics == NULL || m == NULL)
        h2o_fatal("no memory");
    m->route_name = h2o_strdup(NULL, route_name, SIZE_MAX).base;
    ctx->metrics[ctx->num_metrics++] = m;
    return &m->metrics;
}

static const gw_route_rt_t *find_route(const gw_generation_t *gen, const char *name)
{
    for (size_t i = 0; gen != NULL && i != gen->config->num_routes; ++i)
        if (strcmp(gen->routes[i].cfg->name, name) == 0)
            return &gen->routes[i];
    return NULL;
}

static void free_generation(gw_ctx_t *ctx, gw_generation_t *gen)
{
    for (size_t i = 0; i != gen->config->num_routes; ++i) {
        gw_admission_free(gen->routes[i].admission);
        h2o_timeout_dispose(ctx->loop, &gen->routes[i].deadline);
    }
    for (size_t i = 0; i != gen->config->num_upstreams; ++i)
        gw_upstream_dispose(&gen->upstreams[i]);
    free(gen->routes);
    free(gen->upstreams);
    cfg_free(gen->config);
    free(gen);
}

/* The runtime state for `config` (taken over by the generation), sharing the limiter state of
 * unchanged limits with `previous`. NULL (after printing why) when an upstream cannot be
 * resolved. */
static gw_generation_t *create_generation(gw_ctx_t *ctx, cfg_config_t *config, const gw_generation_t *previous)
{
    gw_generation_t *gen = calloc(1, sizeof(*gen));
    if (gen == NULL || (gen->upstreams = calloc(config->num_upstreams + 1, sizeof(*gen->upstreams))) == NULL ||
        (gen->routes = calloc(config->num_routes + 1, sizeof(*gen->routes))) == NULL)
        h2o_fatal("no memory");
    gen->config = config;
    gen->refs = 1;
    for (size_t i = 0; i != config->num_upstreams; ++i) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (resolve(&config->upstreams[i].address, &ss, &len, 0) != 0) {
            for (size_t j = 0; j != i; ++j)
                gw_upstream_dispose(&gen->upstreams[j]);
            free(gen->upstreams);
            free(gen->routes);
            free(gen);
            return NULL;
        }
        gw_upstream_init(&gen->upstreams[i], &config->upstreams[i], ctx->loop, (struct sockaddr *)&ss, len);
    }
    for (size_t i = 0; i != config->num_routes; ++i) {
        gw_route_rt_t *route = &gen->routes[i];
        route->cfg = &config->routes[i];
        route->upstream = &gen->upstreams[config->routes[i].upstream];
        route->metrics = metrics_for(ctx, route->cfg->name);
        h2o_timeout_init(ctx->loop, &route->deadline, route->cfg->timeout_ms);
        const gw_route_rt_t *before = find_route(previous, route->cfg->name);
        route->admission = gw_admission_create(ctx, route->cfg, &config->redis, before != NULL ? before->admission : NULL);
    }
    return gen;
}

void gw_generation_release(gw_ctx_t *ctx, gw_generation_t *gen)
{
    if (--gen->refs == 0)
        free_generation(ctx, gen);
}

/* Settings read by h2o or by the listeners rather than per request. */
static void apply_client_settings(gw_ctx_t *ctx, const cfg_config_t *config)
{
    /* TODO(lead): client.body_timeout, client.max_header_size, and the routes' max_body (which
     * may exceed client.max_body: h2o's limit would be the largest of them) */
    /* h2o 2.2 refuses a chunked body that reaches its limit (>=) but a Content-Length one only
     * above it (>): one byte of slack lets both reach max_body, and gw_proxy refuses what is
     * above it */
    ctx->globalconf.max_request_entity_size = config->client.max_body + 1;
    /* h2o 2.2 has one timer for an HTTP/1 connection waiting for its next request; sluice gives
     * it idle_timeout, and bounds the first request head with header_timeout itself (408) */
    ctx->globalconf.http1.req_timeout = config->client.idle_timeout_ms;
    ctx->globalconf.http2.idle_timeout = config->client.idle_timeout_ms;
    ctx->h2o.http1.req_timeout.timeout = config->client.idle_timeout_ms;
    ctx->h2o.http2.idle_timeout.timeout = config->client.idle_timeout_ms;
    ctx->header_timeout.timeout = config->client.header_timeout_ms;
}

int gw_ctx_init(gw_ctx_t *ctx, h2o_evloop_t *loop, cfg_config_t *config, const char *config_path)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->config_path = config_path;
    ctx->access_log = stdout;
    h2o_linklist_init_anchor(&ctx->live_list);
    if (getrandom(ctx->rng_state, sizeof(ctx->rng_state), 0) != sizeof(ctx->rng_state))
        ctx->rng_state[0] = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32, ctx->rng_state[1] = gw_now_ns() | 1;

    h2o_config_init(&ctx->globalconf);
    ctx->globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    gw_h2o_errors_register(ctx, register_handler(&ctx->globalconf, ctx, on_public_req));
    h2o_context_init(&ctx->h2o, loop, &ctx->globalconf);
    ctx->accept_ctx.ctx = &ctx->h2o;
    ctx->accept_ctx.hosts = ctx->globalconf.hosts;

    h2o_config_init(&ctx->admin_globalconf);
    ctx->admin_globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    register_handler(&ctx->admin_globalconf, ctx, on_admin_req);
    h2o_context_init(&ctx->admin_h2o, loop, &ctx->admin_globalconf);
    ctx->admin_accept_ctx.ctx = &ctx->admin_h2o;
    ctx->admin_accept_ctx.hosts = ctx->admin_globalconf.hosts;

    h2o_timeout_init(loop, &ctx->header_timeout, config->client.header_timeout_ms);
    h2o_timeout_init(loop, &ctx->client_poll, GW_CLIENT_POLL_MS);
    h2o_timeout_init(loop, &ctx->log_flush, GW_LOG_FLUSH_MS);
    ctx->log_flush_entry.cb = flush_log;
    h2o_timeout_link(loop, &ctx->log_flush, &ctx->log_flush_entry);
    gw_admission_init_ctx(ctx);
    apply_client_settings(ctx, config);

    if ((ctx->gen = create_generation(ctx, config, NULL)) == NULL)
        return -1;
    gw_global_apply_redis(ctx, config);
    return 0;
}

static int same_address(const cfg_address_t *a, const cfg_address_t *b)
{
    return strcmp(a->text, b->text) == 0;
}

void gw_reload(gw_ctx_t *ctx)
{
    cfg_errors_t errors = {0};
    cfg_config_t *config = cfg_load_file(ctx->config_path, &errors);
    if (config == NULL) {
        for (size_t i = 0; i != errors.count; ++i)
            fprintf(stderr, "%s\n", errors.items[i]);
        fprintf(stderr, "sluice: reload of %s failed (%zu error%s): the running config stays\n", ctx->config_path, errors.count,
                errors.count == 1 ? "" : "s");
        cfg_errors_clear(&errors);
        ++ctx->config_reloads_failed;
        return;
    }
    const cfg_config_t *old = ctx->gen->config;
    int listeners_changed = config->num_listen != old->num_listen || !same_address(&config->admin, &old->admin);
    for (size_t i = 0; !listeners_changed && i != config->num_listen; ++i)
        listeners_changed = !same_address(&config->listen[i], &old->listen[i]);
    if (listeners_changed)
        fprintf(stderr, "sluice: reload: listen/admin addresses changed; they take effect at the next restart\n");
    gw_generation_t *gen = create_generation(ctx, config, ctx->gen);
    if (gen == NULL) {
        fprintf(stderr, "sluice: reload of %s failed: the running config stays\n", ctx->config_path);
        cfg_free(config);
        ++ctx->config_reloads_failed;
        return;
    }
    apply_client_settings(ctx, config);
    gw_generation_t *previous = ctx->gen;
    ctx->gen = gen;
    gw_global_apply_redis(ctx, config);
    gw_generation_release(ctx, previous);
    ++ctx->config_reloads_ok;
    fprintf(stderr, "sluice: reloaded %s (%zu routes)\n", ctx->config_path, config->num_routes);
}

/* ---- listeners ---- */

typedef struct st_gw_listener_t {
    gw_ctx_t *ctx;
    int is_admin;
} gw_listener_t;

/* A new public connection is read by sluice until its first request head is complete, so that
 * a client too slow to send it (slowloris) gets sluice's 408 within header_timeout; then h2o
 * takes the socket, with the bytes already read. */
typedef struct st_gw_head_wait_t {
    gw_ctx_t *ctx;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timer;
} gw_head_wait_t;

static void on_408_written(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_socket_close(sock);
}

static void end_head_wait(gw_head_wait_t *wait)
{
    if (h2o_timeout_is_linked(&wait->timer))
        h2o_timeout_unlink(&wait->timer);
    h2o_socket_read_stop(wait->sock);
    wait->sock->data = NULL;
    free(wait);
}

static void on_head_timeout(h2o_timeout_entry_t *entry)
{
    gw_head_wait_t *wait = H2O_STRUCT_FROM_MEMBER(gw_head_wait_t, timer, entry);
    gw_ctx_t *ctx = wait->ctx;
    h2o_socket_t *sock = wait->sock;
    static char response[512];
    char id[32];
    gw_request_id_format(id, gw_random(ctx), gw_random(ctx));
    char body[256];
    int body_len = snprintf(body, sizeof(body),
                            "{\"error\":{\"status\":408,\"code\":\"header_timeout\",\"message\":\"the request head did not "
                            "arrive in time\",\"route\":null,\"request_id\":\"%.32s\"}}\n",
                            id);
    int len = snprintf(response, sizeof(response),
                       "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                       "X-Request-Id: %.32s\r\nContent-Length: %d\r\n\r\n%s",
                       id, body_len, body);
    end_head_wait(wait);
    gw_count_status(&ctx->no_route_metrics, 408);
    h2o_iovec_t buf = h2o_iovec_init(response, (size_t)len);
    h2o_socket_write(sock, &buf, 1, on_408_written);
}

static void on_head_read(h2o_socket_t *sock, const char *err)
{
    gw_head_wait_t *wait = sock->data;
    gw_ctx_t *ctx = wait->ctx;
    if (err != NULL) {
        end_head_wait(wait);
        h2o_socket_close(sock);
        return;
    }
    if (sock->input->size < GW_MAX_HEAD_BYTES && memmem(sock->input->bytes, sock->input->size, "\r\n\r\n", 4) == NULL)
        return;
    end_head_wait(wait);
    h2o_accept(&ctx->accept_ctx, sock);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    gw_listener_t *l = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i != 64; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        if (l->is_admin) {
            h2o_accept(&l->ctx->admin_accept_ctx, sock);
            continue;
        }
        gw_head_wait_t *wait = h2o_mem_alloc(sizeof(*wait));
        *wait = (gw_head_wait_t){.ctx = l->ctx, .sock = sock};
        wait->timer.cb = on_head_timeout;
        sock->data = wait;
        h2o_timeout_link(l->ctx->loop, &l->ctx->header_timeout, &wait->timer);
        h2o_socket_read_start(sock, on_head_read);
    }
}

static int open_listener(gw_ctx_t *ctx, const cfg_address_t *addr, int is_admin, h2o_socket_t **out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, on = 1;

    if (resolve(addr, &ss, &len, 1) != 0)
        return -1;
    if (addr->kind == CFG_ADDR_UNIX) {
        struct stat st;
        if (stat(addr->host, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(addr->host);
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
        goto Error;
    if (ss.ss_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0)
        goto Error;

    gw_listener_t *l = h2o_mem_alloc(sizeof(*l));
    *l = (gw_listener_t){ctx, is_admin};
    h2o_socket_t *sock = h2o_evloop_socket_create(ctx->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = l;
    h2o_socket_read_start(sock, on_accept);
    *out = sock;
    return 0;

Error:
    fprintf(stderr, "sluice: cannot listen on %s: %s\n", addr->text, strerror(errno));
    if (fd != -1)
        close(fd);
    return -1;
}

int gw_listen(gw_ctx_t *ctx)
{
    const cfg_config_t *config = ctx->gen->config;
    ctx->listeners = calloc(config->num_listen, sizeof(*ctx->listeners));
    if (ctx->listeners == NULL)
        h2o_fatal("no memory");
    for (size_t i = 0; i != config->num_listen; ++i) {
        if (open_listener(ctx, &config->listen[i], 0, &ctx->listeners[i]) != 0)
            return -1;
        ++ctx->num_listeners;
    }
    return open_listener(ctx, &config->admin, 1, &ctx->admin_listener);
}

void gw_stop_listening(gw_ctx_t *ctx)
{
    for (size_t i = 0; i != ctx->num_listeners; ++i) {
        gw_listener_t *l = ctx->listeners[i]->data;
        h2o_socket_read_stop(ctx->listeners[i]);
        h2o_socket_close(ctx->listeners[i]);
        free(l);
    }
    ctx->num_listeners = 0;
}
