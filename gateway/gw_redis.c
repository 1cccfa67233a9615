/*
 * hiredis async on h2o's evloop.
 *
 * Event-loop glue: hiredis owns the socket and does its own reads and writes; sluice watches a
 * dup() of its fd as an h2o socket in "don't read" mode, which only reports readiness. Writes use
 * h2o_socket_notify_write, a one-shot that must not be armed twice (write_armed), and which
 * cannot be disarmed: delWrite only clears want_write and a stale notification is ignored.
 *
 * Invariants:
 * - a command accepted by gw_redis_command has one pending_t, owned by hiredis's callback list;
 *   hiredis calls on_reply exactly once for it (reply, or NULL when the connection is freed),
 *   and on_reply frees it. The user's callback runs once: from the timeout, or from on_reply,
 *   whichever comes first (`done`).
 * - `ac` is the live connection or NULL; hiredis may still hold an older context while it
 *   finishes freeing it from inside a callback, so hooks and callbacks check that their
 *   context is the current one.
 */
#include "gw_redis.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gw_ctx.h"

const char gw_redis_err_timeout[] = "redis command timed out";
const char gw_redis_err_disconnected[] = "redis connection lost";
const char gw_redis_err_reply[] = "redis error reply";

#define CONNECT_TIMEOUT_MS 1000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

typedef enum { STATE_DOWN, STATE_CONNECTING, STATE_UP } state_t;

typedef struct st_pending_t pending_t;

struct st_gw_redis_t {
    h2o_loop_t *loop;
    gw_timer_wheel_t *wheel;
    gw_redis_metrics_t *metrics;
    cfg_redis_t cfg; /* address, password, database, timeout (strings owned) */
    const char *const *scripts;
    size_t num_scripts;
    char (*script_sha)[41];

    state_t state;
    redisAsyncContext *ac;
    h2o_socket_t *watch; /* dup() of ac's fd, readiness only */
    int write_armed, want_write;
    unsigned handshake_left;  /* replies still expected before UP */
    unsigned failures_in_row; /* timeouts since the last reply */
    uint64_t backoff_ms;
    gw_timer_t reconnect_timer;
    gw_timer_t connect_timer; /* bounds name lookup + connect + handshake */
    h2o_multithread_receiver_t *resolver;
    h2o_hostinfo_getaddr_req_t *lookup; /* a name lookup in flight (off the loop's thread) */
    h2o_timeout_t command_timeout;
    char last_error[256];
    int logged_down; /* the current outage has been logged */
    int retired;     /* kept only to finish with the slots it holds: no reconnects, own metrics */
    gw_redis_metrics_t retired_metrics;
};

struct st_pending_t {
    gw_redis_t *redis;
    gw_redis_cb cb;
    void *data;
    uint64_t sent_ns;
    h2o_timeout_entry_t timeout;
    int done;
};

static void connect_now(gw_redis_t *redis);

static char *copy_str(const char *s)
{
    return s != NULL ? h2o_strdup(NULL, s, SIZE_MAX).base : NULL;
}

/* ---- state changes ---- */

static void set_error(gw_redis_t *redis, gw_redis_error_kind_t kind, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(redis->last_error, sizeof(redis->last_error), fmt, args);
    va_end(args);
    ++redis->metrics->errors[kind];
}

static void on_reconnect_timer(gw_timer_t *timer)
{
    connect_now(H2O_STRUCT_FROM_MEMBER(gw_redis_t, reconnect_timer, timer));
}

/* Stops watching and frees the connection, if any. hiredis runs the callbacks of pending
 * commands from here (with gw_redis_err_disconnected), so the state must already be DOWN. */
static void close_connection(gw_redis_t *redis)
{
    gw_timer_stop(&redis->connect_timer);
    if (redis->lookup != NULL) {
        h2o_hostinfo_getaddr_cancel(redis->lookup);
        redis->lookup = NULL;
    }
    if (redis->watch != NULL) {
        h2o_socket_close(redis->watch);
        redis->watch = NULL;
    }
    redisAsyncContext *ac = redis->ac;
    redis->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
}

/* Closes the connection (if any) and schedules the next attempt. Callbacks of pending commands
 * run from here with gw_redis_err_disconnected (state is already DOWN, so they cannot send). */
static void go_down(gw_redis_t *redis)
{
    int was_up = redis->state == STATE_UP;
    redis->state = STATE_DOWN;
    redis->metrics->up = 0;
    if (redis->retired) {
        close_connection(redis);
        return;
    }
    if (was_up || !redis->logged_down) {
        fprintf(stderr, "sluice: redis %s: %s; global limits use on_error until it is back\n", redis->cfg.address.text,
                redis->last_error);
        redis->logged_down = 1;
    }
    close_connection(redis);
    gw_timer_start(redis->wheel, &redis->reconnect_timer, redis->backoff_ms, on_reconnect_timer);
    redis->backoff_ms = redis->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : redis->backoff_ms * 2;
}

static void go_up(gw_redis_t *redis)
{
    gw_timer_stop(&redis->connect_timer);
    redis->state = STATE_UP;
    redis->metrics->up = 1;
    redis->failures_in_row = 0;
    redis->backoff_ms = BACKOFF_MIN_MS;
    redis->last_error[0] = '\0';
    if (redis->logged_down)
        fprintf(stderr, "sluice: redis %s: connected; global limits enforced through Redis\n", redis->cfg.address.text);
    redis->logged_down = 0;
}

/* ---- commands ---- */

static void finish(pending_t *p, const redisReply *reply, const char *err)
{
    if (p->done)
        return;
    p->done = 1;
    if (h2o_timeout_is_linked(&p->timeout))
        h2o_timeout_unlink(&p->timeout);
    p->cb(reply, p->data, err);
}

static void on_command_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, timeout, entry);
    gw_redis_t *redis = p->redis;
    ++redis->metrics->errors[GW_REDIS_ERR_TIMEOUT];
    finish(p, NULL, gw_redis_err_timeout);
    if (++redis->failures_in_row >= GW_REDIS_MAX_FAILURES && redis->state != STATE_DOWN) {
        snprintf(redis->last_error, sizeof(redis->last_error), "%u commands in a row got no reply within %llums",
                 redis->failures_in_row, (unsigned long long)redis->cfg.timeout_ms);
        go_down(redis);
    }
}

static void on_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    pending_t *p = privdata;
    gw_redis_t *redis = p->redis;
    redisReply *reply = _reply;
    if (reply == NULL) {
        finish(p, NULL, gw_redis_err_disconnected);
    } else if (!p->done) {
        redis->failures_in_row = 0;
        gw_histogram_observe(&redis->metrics->roundtrip, (double)(gw_now_ns() - p->sent_ns) / 1e9);
        if (reply->type == REDIS_REPLY_ERROR) {
            set_error(redis, GW_REDIS_ERR_REPLY, "%s", reply->str);
            finish(p, NULL, gw_redis_err_reply);
            /* the scripts are gone (SCRIPT FLUSH, a failover): a new connection loads them again */
            if (strncmp(reply->str, "NOSCRIPT", 8) == 0 && ac == redis->ac && redis->state == STATE_UP)
                go_down(redis);
        } else {
            finish(p, reply, NULL);
        }
    }
    free(p);
}

static int send_argv(gw_redis_t *redis, int argc, const char **argv, const size_t *argvlen, gw_redis_cb cb, void *data)
{
    pending_t *p = malloc(sizeof(*p));
    if (p == NULL)
        h2o_fatal("no memory");
    *p = (pending_t){redis, cb, data, gw_now_ns(), {0}, 0};
    p->timeout.cb = on_command_timeout;
    if (redisAsyncCommandArgv(redis->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return -1;
    }
    ++redis->metrics->commands;
    h2o_timeout_link(redis->loop, &redis->command_timeout, &p->timeout);
    return 0;
}

int gw_redis_command(gw_redis_t *redis, int argc, const char **argv, const size_t *argvlen, gw_redis_cb cb, void *data)
{
    if (redis == NULL || redis->state != STATE_UP)
        return -1;
    return send_argv(redis, argc, argv, argvlen, cb, data);
}

#define MAX_EVAL_KEYS 2
#define MAX_EVAL_ARGS 8

int gw_redis_eval(gw_redis_t *redis, size_t script, int num_keys, const char **keys, const size_t *key_lens, int argc,
                  const char **argv, const size_t *argvlen, gw_redis_cb cb, void *data)
{
    if (redis == NULL || redis->state != STATE_UP || script >= redis->num_scripts || num_keys < 1 || num_keys > MAX_EVAL_KEYS ||
        argc > MAX_EVAL_ARGS)
        return -1;
    static const char *const num_keys_text[MAX_EVAL_KEYS + 1] = {"0", "1", "2"};
    const char *all[3 + MAX_EVAL_KEYS + MAX_EVAL_ARGS] = {"EVALSHA", redis->script_sha[script], num_keys_text[num_keys]};
    size_t lens[3 + MAX_EVAL_KEYS + MAX_EVAL_ARGS] = {7, 40, 1};
    int n = 3;
    for (int i = 0; i != num_keys; ++i, ++n) {
        all[n] = keys[i];
        lens[n] = key_lens[i];
    }
    for (int i = 0; i != argc; ++i, ++n) {
        all[n] = argv[i];
        lens[n] = argvlen[i];
    }
    return send_argv(redis, n, all, lens, cb, data);
}

/* ---- handshake: AUTH, SELECT, SCRIPT LOAD ---- */

typedef struct st_handshake_step_t {
    gw_redis_t *redis;
    size_t script; /* SIZE_MAX: AUTH or SELECT */
} handshake_step_t;

static void on_handshake_reply(const redisReply *reply, void *data, const char *err)
{
    handshake_step_t *step = data;
    gw_redis_t *redis = step->redis;
    size_t script = step->script;
    free(step);
    if (redis->state != STATE_CONNECTING)
        return; /* an earlier step already failed */
    if (err != NULL) {
        if (err == gw_redis_err_reply) {
            /* on_reply counted it as a reply error and kept Redis's message; a refused AUTH or
             * SELECT, or a password missing from the config (NOAUTH), is a configuration error */
            if (script == SIZE_MAX || strncmp(redis->last_error, "NOAUTH", 6) == 0) {
                --redis->metrics->errors[GW_REDIS_ERR_REPLY];
                ++redis->metrics->errors[GW_REDIS_ERR_AUTH];
            }
            char message[sizeof(redis->last_error) - 32];
            snprintf(message, sizeof(message), "%.200s", redis->last_error);
            snprintf(redis->last_error, sizeof(redis->last_error), "handshake refused: %s", message);
        } else {
            snprintf(redis->last_error, sizeof(redis->last_error), "handshake failed: %s", err);
        }
        go_down(redis);
        return;
    }
    if (script != SIZE_MAX) {
        if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
            set_error(redis, GW_REDIS_ERR_REPLY, "SCRIPT LOAD returned an unexpected reply");
            go_down(redis);
            return;
        }
        memcpy(redis->script_sha[script], reply->str, 40);
        redis->script_sha[script][40] = '\0';
    }
    if (--redis->handshake_left == 0)
        go_up(redis);
}

static void send_handshake(gw_redis_t *redis, size_t script, int argc, const char **argv, const size_t *lens)
{
    handshake_step_t *step = malloc(sizeof(*step));
    if (step == NULL)
        h2o_fatal("no memory");
    *step = (handshake_step_t){redis, script};
    ++redis->handshake_left;
    if (send_argv(redis, argc, argv, lens, on_handshake_reply, step) != 0) {
        free(step);
        --redis->handshake_left;
    }
}

static void start_handshake(gw_redis_t *redis)
{
    char db[16];
    redis->handshake_left = 1; /* held until every step is sent, so that no early reply completes it */
    if (redis->cfg.password != NULL) {
        const char *argv[] = {"AUTH", redis->cfg.password};
        size_t lens[] = {4, strlen(redis->cfg.password)};
        send_handshake(redis, SIZE_MAX, 2, argv, lens);
    }
    if (redis->cfg.database != 0) {
        int n = snprintf(db, sizeof(db), "%u", redis->cfg.database);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, (size_t)n};
        send_handshake(redis, SIZE_MAX, 2, argv, lens);
    }
    for (size_t i = 0; i != redis->num_scripts; ++i) {
        const char *argv[] = {"SCRIPT", "LOAD", redis->scripts[i]};
        size_t lens[] = {6, 4, strlen(redis->scripts[i])};
        send_handshake(redis, i, 3, argv, lens);
    }
    if (--redis->handshake_left == 0)
        go_up(redis);
}

/* ---- hiredis event hooks ---- */

static void on_readable(h2o_socket_t *sock, const char *err)
{
    (void)err; /* hiredis finds out by reading */
    gw_redis_t *redis = sock->data;
    redisAsyncHandleRead(redis->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    gw_redis_t *redis = sock->data;
    redis->write_armed = 0;
    if (redis->want_write)
        redisAsyncHandleWrite(redis->ac);
}

static gw_redis_t *hook_owner(void *privdata)
{
    redisAsyncContext *ac = privdata;
    gw_redis_t *redis = ac->data;
    return redis != NULL && redis->ac == ac && redis->watch != NULL ? redis : NULL;
}

static void hook_add_read(void *privdata)
{
    gw_redis_t *redis = hook_owner(privdata);
    if (redis != NULL && !h2o_socket_is_reading(redis->watch))
        h2o_socket_read_start(redis->watch, on_readable);
}

static void hook_del_read(void *privdata)
{
    gw_redis_t *redis = hook_owner(privdata);
    if (redis != NULL && h2o_socket_is_reading(redis->watch))
        h2o_socket_read_stop(redis->watch);
}

static void hook_add_write(void *privdata)
{
    gw_redis_t *redis = hook_owner(privdata);
    if (redis == NULL)
        return;
    redis->want_write = 1;
    if (!redis->write_armed) {
        redis->write_armed = 1;
        h2o_socket_notify_write(redis->watch, on_writable);
    }
}

static void hook_del_write(void *privdata)
{
    gw_redis_t *redis = hook_owner(privdata);
    if (redis != NULL)
        redis->want_write = 0;
}

static void hook_cleanup(void *privdata)
{
    redisAsyncContext *ac = privdata;
    gw_redis_t *redis = ac->data;
    if (redis != NULL && redis->ac == ac && redis->watch != NULL) {
        h2o_socket_close(redis->watch);
        redis->watch = NULL;
    }
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    gw_redis_t *redis = ac->data;
    if (redis == NULL || redis->ac != ac)
        return;
    if (status != REDIS_OK) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "connect failed: %s", ac->errstr);
        /* hiredis frees the context after this callback */
        redis->ac = NULL;
        go_down(redis);
        return;
    }
    start_handshake(redis);
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    gw_redis_t *redis = ac->data;
    (void)status;
    if (redis == NULL || redis->ac != ac)
        return; /* freed by go_down or gw_redis_free */
    set_error(redis, GW_REDIS_ERR_CONNECT, "connection lost: %s", ac->errstr[0] != '\0' ? ac->errstr : "closed by the server");
    redis->ac = NULL; /* hiredis frees it after this callback */
    go_down(redis);
}

static void on_connect_timeout(gw_timer_t *timer)
{
    gw_redis_t *redis = H2O_STRUCT_FROM_MEMBER(gw_redis_t, connect_timer, timer);
    if (redis->state == STATE_CONNECTING) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "no connection within %dms", CONNECT_TIMEOUT_MS);
        go_down(redis);
    }
}

/* Starts a non-blocking connect to `host` (an IP address or a socket path): hiredis would block
 * the loop resolving a name, so names are resolved beforehand (connect_now). */
static void connect_to(gw_redis_t *redis, const char *host)
{
    redisAsyncContext *ac =
        redis->cfg.address.kind == CFG_ADDR_UNIX ? redisAsyncConnectUnix(host) : redisAsyncConnect(host, redis->cfg.address.port);
    if (ac == NULL)
        h2o_fatal("no memory");
    if (ac->err != 0) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        go_down(redis);
        return;
    }
    int fd = dup(ac->c.fd);
    if (fd == -1) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "dup: out of file descriptors");
        redisAsyncFree(ac);
        go_down(redis);
        return;
    }
    redis->ac = ac;
    redis->write_armed = redis->want_write = 0;
    redis->watch = h2o_evloop_socket_create(redis->loop, fd, 0);
    redis->watch->data = redis;
    h2o_socket_dont_read(redis->watch, 1);
    ac->data = redis;
    ac->ev.data = ac;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    /* a non-blocking connect completes when the socket turns writable */
    hook_add_write(ac);
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    (void)req;
    gw_redis_t *redis = data;
    redis->lookup = NULL;
    if (errstr != NULL) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "cannot resolve %s: %s", redis->cfg.address.host, errstr);
        go_down(redis);
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    const struct addrinfo *ai = res; /* the first, in the resolver's order of preference */
    const void *addr = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                                 : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    if (inet_ntop(ai->ai_family, addr, ip, sizeof(ip)) == NULL) {
        set_error(redis, GW_REDIS_ERR_CONNECT, "cannot resolve %s: unusable address", redis->cfg.address.host);
        go_down(redis);
        return;
    }
    connect_to(redis, ip);
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void connect_now(gw_redis_t *redis)
{
    redis->state = STATE_CONNECTING;
    gw_timer_start(redis->wheel, &redis->connect_timer, CONNECT_TIMEOUT_MS, on_connect_timeout);
    const char *host = redis->cfg.address.host;
    if (redis->cfg.address.kind == CFG_ADDR_UNIX || is_ip_literal(host)) {
        connect_to(redis, host);
        return;
    }
    /* a lookup runs on h2o's resolver thread; a slow DNS is bounded by the connect timeout */
    char port[8];
    int n = snprintf(port, sizeof(port), "%u", (unsigned)redis->cfg.address.port);
    redis->lookup = h2o_hostinfo_getaddr(redis->resolver, h2o_iovec_init(host, strlen(host)), h2o_iovec_init(port, (size_t)n),
                                         AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, redis);
}

/* ---- lifetime ---- */

gw_redis_t *gw_redis_new(h2o_loop_t *loop, gw_timer_wheel_t *wheel, h2o_multithread_receiver_t *resolver, const cfg_redis_t *cfg,
                         const char *const *scripts, size_t num_scripts, gw_redis_metrics_t *metrics)
{
    gw_redis_t *redis = calloc(1, sizeof(*redis));
    if (redis == NULL || (redis->script_sha = calloc(num_scripts ? num_scripts : 1, sizeof(*redis->script_sha))) == NULL)
        h2o_fatal("no memory");
    redis->loop = loop;
    redis->wheel = wheel;
    redis->resolver = resolver;
    redis->metrics = metrics;
    redis->cfg = *cfg;
    redis->cfg.address.text = copy_str(cfg->address.text);
    redis->cfg.address.host = copy_str(cfg->address.host);
    redis->cfg.password = copy_str(cfg->password);
    redis->cfg.prefix = NULL; /* not the client's business */
    redis->scripts = scripts;
    redis->num_scripts = num_scripts;
    redis->backoff_ms = BACKOFF_MIN_MS;
    metrics->enabled = 1;
    metrics->up = 0;
    h2o_timeout_init(loop, &redis->command_timeout, cfg->timeout_ms);
    snprintf(redis->last_error, sizeof(redis->last_error), "connecting");
    connect_now(redis);
    return redis;
}

/* Writes what hiredis still buffers (ZREMs of slots let go just before a reload or exit) while
 * the socket takes it, so that Redis runs those commands though nobody reads the replies. */
static void flush_output(gw_redis_t *redis)
{
    if (redis->state != STATE_UP || redis->ac == NULL)
        return;
    int done = 0;
    /* a few tries: each writes what the socket takes; a closing client does not wait for room */
    for (int tries = 0; tries != 8 && !done; ++tries)
        if (redisBufferWrite(&redis->ac->c, &done) != REDIS_OK)
            break;
}

void gw_redis_free(gw_redis_t *redis)
{
    if (redis == NULL)
        return;
    flush_output(redis);
    gw_timer_stop(&redis->reconnect_timer);
    redis->state = STATE_DOWN;
    redis->metrics->up = 0;
    close_connection(redis);
    h2o_timeout_dispose(redis->loop, &redis->command_timeout);
    free(redis->cfg.address.text);
    free(redis->cfg.address.host);
    free(redis->cfg.password);
    free(redis->script_sha);
    free(redis);
}

int gw_redis_is_up(const gw_redis_t *redis)
{
    return redis != NULL && redis->state == STATE_UP;
}

const char *gw_redis_last_error(const gw_redis_t *redis)
{
    return redis != NULL ? redis->last_error : "";
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

void gw_redis_retire(gw_redis_t *redis)
{
    redis->retired = 1;
    redis->metrics = &redis->retired_metrics;
    gw_timer_stop(&redis->reconnect_timer);
}

int gw_redis_serves(const gw_redis_t *redis, const char *address, uint32_t database)
{
    return redis != NULL && same_str(redis->cfg.address.text, address) && redis->cfg.database == database;
}

void gw_redis_update_settings(gw_redis_t *redis, const cfg_redis_t *cfg)
{
    if (!same_str(redis->cfg.password, cfg->password)) {
        free(redis->cfg.password);
        redis->cfg.password = copy_str(cfg->password);
    }
    /* commands in flight share the one timeout list, so they take the new bound too */
    redis->cfg.timeout_ms = cfg->timeout_ms;
    redis->command_timeout.timeout = cfg->timeout_ms;
}
