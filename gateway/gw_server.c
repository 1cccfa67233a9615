#include "gw_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "gw_admin.h"
#include "gw_admission.h"
#include "gw_h1conn.h"
#include "gw_generation.h"
#include "gw_h2o_errors.h"
#include "gw_http.h"
#include "gw_lim_redis.h"
#include "gw_request.h"

#define GW_LOG_FLUSH_MS 100
/* After accept fails for want of file descriptors, accepting pauses this long (the connections
 * wait in the listen backlog) instead of spinning on a readable listener. */
#define GW_ACCEPT_RETRY_MS 100
#define GW_LINGER_MS 2000

typedef struct st_gw_handler_t {
    h2o_handler_t super;
    gw_ctx_t *ctx;
} gw_handler_t;

static int on_public_req(h2o_handler_t *self, h2o_req_t *req)
{
    return gw_request_on_req(((gw_handler_t *)self)->ctx, req, NULL); /* HTTP/2: h2o reads bodies whole */
}

static int on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    return gw_admin_on_req(((gw_handler_t *)self)->ctx, req);
}

static h2o_pathconf_t *register_handler(h2o_globalconf_t *conf, gw_ctx_t *ctx, int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_hostconf_t *host = h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    gw_handler_t *handler = (gw_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->ctx = ctx;
    return path;
}

static void flush_log(h2o_timeout_entry_t *entry)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, log_flush_entry, entry);
    fflush(ctx->access_log);
    h2o_timeout_link(ctx->loop, &ctx->log_flush, &ctx->log_flush_entry);
}

int gw_resolve(const cfg_address_t *addr, struct sockaddr_storage *ss, socklen_t *len, int passive, char *err, size_t err_size)
{
    memset(ss, 0, sizeof(*ss));
    if (addr->kind == CFG_ADDR_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)ss;
        if (strlen(addr->host) >= sizeof(sun->sun_path)) {
            snprintf(err, err_size, "unix socket path too long: %s", addr->host);
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
    int gai = getaddrinfo(addr->host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, err_size, "cannot resolve \"%s\": %s", addr->host, gai_strerror(gai));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* A config read and its upstream addresses resolved: everything a generation needs that may
 * block (file, DNS), so that a reload can do it away from the loop. */
typedef struct st_gw_loaded_t {
    cfg_config_t *config; /* NULL when the file was refused */
    cfg_errors_t errors;
    struct sockaddr_storage *addrs; /* one per upstream */
    socklen_t *addrlens;
    char error[512]; /* an upstream that did not resolve */
} gw_loaded_t;

static void free_loaded(gw_loaded_t *l)
{
    cfg_errors_clear(&l->errors);
    free(l->addrs);
    free(l->addrlens);
    free(l);
}

/* Resolves the upstreams of `config` (taken over); NULL config fields on failure, with why. */
static gw_loaded_t *resolve_config(cfg_config_t *config)
{
    gw_loaded_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->addrs = calloc(config->num_upstreams + 1, sizeof(*l->addrs))) == NULL ||
        (l->addrlens = calloc(config->num_upstreams + 1, sizeof(*l->addrlens))) == NULL)
        h2o_fatal("no memory");
    l->config = config;
    for (size_t i = 0; i != config->num_upstreams; ++i) {
        char why[256];
        if (gw_resolve(&config->upstreams[i].address, &l->addrs[i], &l->addrlens[i], 0, why, sizeof(why)) != 0) {
            char *msg =
                cfg_address_message(config, &config->upstreams[i].address, "upstream \"%s\": %s", config->upstreams[i].name, why);
            snprintf(l->error, sizeof(l->error), "%s", msg);
            free(msg);
            cfg_free(config);
            l->config = NULL;
            break;
        }
    }
    return l;
}

static void on_reload_loaded(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Settings read by h2o or by the connections rather than per request. */
static void apply_client_settings(gw_ctx_t *ctx, const cfg_config_t *config)
{
    /* HTTP/2 bodies are read whole by h2o before the handler runs, so its limit is the largest a
     * route accepts; gw_proxy refuses what is above the route's own. h2o 2.2 refuses a chunked
     * body that reaches its limit (>=) but a Content-Length one only above it (>): one byte of
     * slack lets both reach it. */
    uint64_t largest = config->client.max_body;
    for (size_t i = 0; i != config->num_routes; ++i)
        if (config->routes[i].max_body > largest)
            largest = config->routes[i].max_body;
    ctx->globalconf.max_request_entity_size = largest + 1;
    ctx->globalconf.http2.idle_timeout = config->client.idle_timeout_ms;
    ctx->h2o.http2.idle_timeout.timeout = config->client.idle_timeout_ms;
    ctx->header_timeout.timeout = config->client.header_timeout_ms;
    ctx->idle_timeout.timeout = config->client.idle_timeout_ms;
    ctx->body_timeout.timeout = config->client.body_timeout_ms;
    ctx->max_header_size = config->client.max_header_size;
}

int gw_ctx_init(gw_ctx_t *ctx, h2o_evloop_t *loop, cfg_config_t *config, const char *config_path)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->loop = loop;
    ctx->config_path = config_path;
    ctx->access_log = stdout;
    h2o_linklist_init_anchor(&ctx->live_list);
    h2o_linklist_init_anchor(&ctx->tunnels);
    h2o_linklist_init_anchor(&ctx->h1_conns);
    gw_rng_seed(&ctx->rng);

    h2o_config_init(&ctx->globalconf);
    ctx->globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    h2o_pathconf_t *public_path = register_handler(&ctx->globalconf, ctx, on_public_req);
    ctx->public_hostconf = ctx->globalconf.hosts[0];
    /* gw_h1conn frames its responses itself: its requests are bound to a copy of the path
     * without h2o's filters (its chunked encoder would encode the body a second time) */
    ctx->h1_pathconf = *public_path;
    memset(&ctx->h1_pathconf.filters, 0, sizeof(ctx->h1_pathconf.filters));
    memset(&ctx->h1_pathconf.loggers, 0, sizeof(ctx->h1_pathconf.loggers));
    gw_h2o_errors_register(ctx, ctx->public_hostconf);
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
    h2o_timeout_init(loop, &ctx->idle_timeout, config->client.idle_timeout_ms);
    h2o_timeout_init(loop, &ctx->body_timeout, config->client.body_timeout_ms);
    h2o_timeout_init(loop, &ctx->linger_timeout, GW_LINGER_MS);
    h2o_timeout_init(loop, &ctx->accept_retry_timeout, GW_ACCEPT_RETRY_MS);
    h2o_timeout_init(loop, &ctx->log_flush, GW_LOG_FLUSH_MS);
    ctx->log_flush_entry.cb = flush_log;
    h2o_timeout_link(loop, &ctx->log_flush, &ctx->log_flush_entry);
    gw_timer_wheel_init(&ctx->timer_wheel, loop);
    ctx->rlimits = gw_rlimits_new(loop, &ctx->h2o.zero_timeout, &ctx->timer_wheel, &ctx->h2o.receivers.hostinfo_getaddr,
                                  &ctx->redis_metrics, &ctx->rng);
    ctx->adm_env = (gw_adm_env_t){.loop = loop,
                                  .zero = &ctx->h2o.zero_timeout,
                                  .wheel = &ctx->timer_wheel,
                                  .rlimits = ctx->rlimits,
                                  .rng = &ctx->rng,
                                  .redis_metrics = &ctx->redis_metrics};
    h2o_linklist_init_anchor(&ctx->adm_env.registry);
    apply_client_settings(ctx, config);

    gw_loaded_t *loaded = resolve_config(config);
    if (loaded->config == NULL) {
        fprintf(stderr, "%s\n", loaded->error);
        free_loaded(loaded);
        return -1;
    }
    ctx->gen = gw_generation_new(ctx, loaded->config, loaded->addrs, loaded->addrlens);
    loaded->config = NULL;
    free_loaded(loaded);
    h2o_multithread_register_receiver(ctx->h2o.queue, &ctx->reload_receiver, on_reload_loaded);
    gw_rlimits_apply(ctx->rlimits, ctx->gen->config);
    return 0;
}

/* ---- reload ----
 *
 * SIGHUP reads the file and resolves its upstreams on a thread of its own, so that a slow DNS or
 * a huge file never stalls the loop: requests and the admin API go on meanwhile. The result comes
 * back as a message to the loop, which builds the generation. A SIGHUP during a reload makes one
 * more reload once it is done (the file may have changed again). */

typedef struct st_gw_reload_msg_t {
    h2o_multithread_message_t super;
    gw_loaded_t *loaded;
} gw_reload_msg_t;

typedef struct st_gw_reload_job_t {
    h2o_multithread_receiver_t *receiver;
    char *path;
} gw_reload_job_t;

static void *reload_thread(void *arg)
{
    gw_reload_job_t *job = arg;
    cfg_errors_t errors = {0};
    cfg_config_t *config = cfg_load_file(job->path, &errors);
    gw_loaded_t *loaded;
    if (config != NULL) {
        loaded = resolve_config(config);
    } else {
        loaded = calloc(1, sizeof(*loaded));
        if (loaded == NULL)
            h2o_fatal("no memory");
    }
    loaded->errors = errors;
    gw_reload_msg_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        h2o_fatal("no memory");
    msg->loaded = loaded;
    h2o_multithread_send_message(job->receiver, &msg->super);
    free(job->path);
    free(job);
    return NULL;
}

static int same_address(const cfg_address_t *a, const cfg_address_t *b)
{
    return strcmp(a->text, b->text) == 0;
}

static void apply_reload(gw_ctx_t *ctx, gw_loaded_t *loaded)
{
    if (loaded->config == NULL) {
        for (size_t i = 0; i != loaded->errors.count; ++i)
            fprintf(stderr, "%s\n", loaded->errors.items[i]);
        if (loaded->error[0] != '\0')
            fprintf(stderr, "%s\n", loaded->error);
        fprintf(stderr, "sluice: reload of %s failed (%zu error%s): the running config stays\n", ctx->config_path,
                loaded->errors.count + (loaded->error[0] != '\0'),
                loaded->errors.count + (loaded->error[0] != '\0') == 1 ? "" : "s");
        ++ctx->config_reloads_failed;
        return;
    }
    const cfg_config_t *old = ctx->gen->config, *config = loaded->config;
    int listeners_changed = config->num_listen != old->num_listen || !same_address(&config->admin, &old->admin);
    for (size_t i = 0; !listeners_changed && i != config->num_listen; ++i)
        listeners_changed = !same_address(&config->listen[i], &old->listen[i]);
    if (listeners_changed)
        fprintf(stderr, "sluice: reload: listen/admin addresses changed; they take effect at the next restart\n");
    gw_generation_t *gen = gw_generation_new(ctx, loaded->config, loaded->addrs, loaded->addrlens);
    loaded->config = NULL;
    apply_client_settings(ctx, gen->config);
    gw_generation_t *previous = ctx->gen;
    ctx->gen = gen;
    gw_rlimits_apply(ctx->rlimits, gen->config);
    gw_generation_release(ctx, previous);
    ++ctx->config_reloads_ok;
    fprintf(stderr, "sluice: reloaded %s (%zu routes)\n", ctx->config_path, gen->config->num_routes);
}

static void on_reload_loaded(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, reload_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        gw_reload_msg_t *msg = H2O_STRUCT_FROM_MEMBER(gw_reload_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        apply_reload(ctx, msg->loaded);
        free_loaded(msg->loaded);
        free(msg);
    }
    ctx->reloading = 0;
    if (ctx->reload_again) {
        ctx->reload_again = 0;
        gw_reload(ctx);
    }
}

void gw_reload(gw_ctx_t *ctx)
{
    if (ctx->reloading) {
        ctx->reload_again = 1;
        return;
    }
    gw_reload_job_t *job = malloc(sizeof(*job));
    if (job == NULL || (job->path = strdup(ctx->config_path)) == NULL)
        h2o_fatal("no memory");
    job->receiver = &ctx->reload_receiver;
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, reload_thread, job) != 0) {
        fprintf(stderr, "sluice: reload: cannot start a thread: %s\n", strerror(errno));
        free(job->path);
        free(job);
        ++ctx->config_reloads_failed;
    } else {
        ctx->reloading = 1;
    }
    pthread_attr_destroy(&attr);
}

/* ---- listeners ---- */

typedef struct st_gw_listener_t {
    gw_ctx_t *ctx;
    int is_admin;
} gw_listener_t;

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_retry(h2o_timeout_entry_t *entry)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, accept_retry, entry);
    for (size_t i = 0; i != ctx->num_listeners; ++i)
        h2o_socket_read_start(ctx->listeners[i], on_accept);
}

/* Out of file descriptors: a listener stays readable while connections wait, so accepting again
 * at once would spin the loop (and starve the admin API). Pause every public listener a while. */
static void pause_accepting(gw_ctx_t *ctx, int err)
{
    ++ctx->accept_errors;
    if (h2o_timeout_is_linked(&ctx->accept_retry))
        return;
    fprintf(stderr, "sluice: accept: %s; pausing new connections for %d ms\n", strerror(err), GW_ACCEPT_RETRY_MS);
    for (size_t i = 0; i != ctx->num_listeners; ++i)
        h2o_socket_read_stop(ctx->listeners[i]);
    ctx->accept_retry.cb = on_accept_retry;
    h2o_timeout_link(ctx->loop, &ctx->accept_retry_timeout, &ctx->accept_retry);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    gw_listener_t *l = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i != 64; ++i) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(l->ctx, errno);
            return;
        }
        if (l->is_admin)
            h2o_accept(&l->ctx->admin_accept_ctx, sock);
        else
            gw_h1_accept(l->ctx, sock);
    }
}

static int open_listener(gw_ctx_t *ctx, const cfg_address_t *addr, int is_admin, h2o_socket_t **out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, on = 1;

    char why[512];
    if (gw_resolve(addr, &ss, &len, 1, why, sizeof(why)) != 0) {
        fprintf(stderr, "sluice: %s\n", why);
        return -1;
    }
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
    if (h2o_timeout_is_linked(&ctx->accept_retry))
        h2o_timeout_unlink(&ctx->accept_retry);
    gw_h1_close_idle(ctx);
}
