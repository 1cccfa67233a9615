/*
 * sluice: an admission-control gateway. `sluice -c FILE` runs, `sluice -t -c FILE` checks a
 * policy file, `sluice --version` prints the version.
 */
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h2o.h"
#include "cfg_config.h"
#include "gw_lim_redis.h"
#include "gw_request.h"
#include "gw_server.h"
#include "gw_websocket.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "dev"
#endif

static volatile sig_atomic_t drain_requested, reload_requested, exit_now;
/* The loop's context stays reachable until exit: libh2o 2.2 cannot dispose a context while
 * client connections are open, so the process ends with it alive rather than half torn down,
 * and a leak checker sees only memory that really became unreachable. */
static gw_ctx_t *volatile running_ctx; /* volatile: the store must not be optimised away */

static void on_signal(int signo)
{
    if (signo == SIGHUP)
        reload_requested = 1;
    else if (drain_requested)
        exit_now = 1; /* a second SIGTERM/SIGINT: an operator who will not wait for the drain */
    else
        drain_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sluice -c FILE      run with the policy file FILE\n"
                 "       sluice -t -c FILE   check FILE, print every error, exit 1 if any\n"
                 "       sluice --version\n");
}

static cfg_config_t *load(const char *path)
{
    cfg_errors_t errors = {0};
    cfg_config_t *config = cfg_load_file(path, &errors);
    for (size_t i = 0; i != errors.count; ++i)
        fprintf(stderr, "%s\n", errors.items[i]);
    if (config == NULL)
        fprintf(stderr, "sluice: %s: %zu error%s\n", path, errors.count, errors.count == 1 ? "" : "s");
    cfg_errors_clear(&errors);
    return config;
}

/* 0 if the address resolves as the gateway resolves it (gw_resolve), else -1 with why. */
static int resolve_error(const cfg_address_t *a, char *why, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return a->kind == CFG_ADDR_TCP ? gw_resolve(a, &ss, &len, 0, why, size) : 0;
}

/* `sluice -t`: what the loader cannot check without the network. An upstream that does not
 * resolve would stop sluice from starting: an error. Redis is looked up again at each connect,
 * and its name may only resolve where sluice runs (a Kubernetes Service): a warning. Returns the
 * number of errors printed. */
static size_t check_addresses(const cfg_config_t *config)
{
    size_t errors = 0;
    for (size_t i = 0; i != config->num_upstreams; ++i) {
        const cfg_upstream_t *u = &config->upstreams[i];
        char why[256];
        if (resolve_error(&u->address, why, sizeof(why)) == 0)
            continue;
        char *msg = cfg_address_message(config, &u->address, "upstream \"%s\": %s", u->name, why);
        fprintf(stderr, "%s\n", msg);
        free(msg);
        ++errors;
    }
    char why[256];
    if (config->redis.enabled && resolve_error(&config->redis.address, why, sizeof(why)) != 0) {
        char *msg =
            cfg_address_message(config, &config->redis.address, "warning: redis: %s (it is looked up again at each connect)", why);
        fprintf(stderr, "%s\n", msg);
        free(msg);
    }
    return errors;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the loop's epoll_wait returns at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* SIGTERM/SIGINT: /readyz turns 503 at once; new connections are still accepted for
 * drain_delay (so the load balancer notices first), then refused; requests in progress get up
 * to shutdown_timeout to finish; the process exits 0 as soon as none is left after drain_delay.
 * A second SIGTERM/SIGINT exits at once (status 1). */
static int run(gw_ctx_t *ctx)
{
    uint64_t drain_started = 0;
    int listening = 1;
    for (;;) {
        h2o_evloop_run(ctx->loop, drain_started != 0 ? 50 : INT32_MAX);
        if (reload_requested) {
            reload_requested = 0;
            gw_reload(ctx);
        }
        const cfg_config_t *config = ctx->gen->config;
        if (exit_now) {
            fprintf(stderr, "sluice: second signal: exiting now with %zu request(s) in progress\n", ctx->live_requests);
            fflush(ctx->access_log);
            return 1;
        }
        if (drain_requested && drain_started == 0) {
            drain_started = gw_now_ns();
            ctx->draining = 1;
            /* HTTP/2 clients get GOAWAY now (new requests go to a new connection, which is still
             * accepted for drain_delay); HTTP/1 responses say Connection: close from now on */
            h2o_context_request_shutdown(&ctx->h2o);
            fprintf(stderr, "sluice: draining (drain_delay %llums, shutdown_timeout %llums)\n",
                    (unsigned long long)config->drain_delay_ms, (unsigned long long)config->shutdown_timeout_ms);
        }
        if (drain_started == 0)
            continue;
        uint64_t elapsed_ms = (gw_now_ns() - drain_started) / 1000000;
        if (listening && elapsed_ms >= config->drain_delay_ms) {
            gw_stop_listening(ctx);
            listening = 0;
        }
        if (!listening && ctx->live_requests == 0 && ctx->live_tunnels == 0)
            break;
        if (elapsed_ms >= config->drain_delay_ms + config->shutdown_timeout_ms) {
            fprintf(stderr, "sluice: shutdown_timeout reached with %zu request(s) in progress and %zu WebSocket(s) open\n",
                    ctx->live_requests, ctx->live_tunnels);
            /* those still waiting for admission get a real answer, not a cut connection */
            gw_request_shed_waiting(ctx);
            gw_ws_close_all(ctx);
            for (int i = 0; i != 4; ++i)
                h2o_evloop_run(ctx->loop, 25);
            break;
        }
    }
    gw_rlimits_release_idle(ctx->rlimits);
    for (int i = 0; i != 3; ++i)
        h2o_evloop_run(ctx->loop, 10); /* lets the ZREMs out */
    fflush(ctx->access_log);
    fprintf(stderr, "sluice: stopped\n");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"version", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"test", no_argument, NULL, 't'},
                                             {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int check_only = 0, opt;

    while ((opt = getopt_long(argc, argv, "c:th", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            check_only = 1;
            break;
        case 'v':
            printf("sluice %s (libh2o %s)\n", SLUICE_VERSION, H2O_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    cfg_config_t *config = load(config_path);
    if (config == NULL)
        return 1;
    if (check_only) {
        size_t errors = check_addresses(config);
        cfg_free(config);
        if (errors != 0) {
            fprintf(stderr, "sluice: %s: %zu error%s\n", config_path, errors, errors == 1 ? "" : "s");
            return 1;
        }
        printf("%s: ok\n", config_path);
        return 0;
    }

    install_signal_handlers();
    /* The access log is written in blocks and flushed by a timer of the loop. glibc ignores the
     * size when setvbuf gets no buffer (it would use 4 KiB: a write(2) every ~16 lines). */
    static char access_log_buffer[1 << 18];
    setvbuf(stdout, access_log_buffer, _IOFBF, sizeof(access_log_buffer));

    gw_ctx_t *ctx = running_ctx = calloc(1, sizeof(*ctx));
    h2o_evloop_t *loop = h2o_evloop_create();
    if (ctx == NULL || gw_ctx_init(ctx, loop, config, config_path) != 0 || gw_listen(ctx) != 0)
        return 1;
    fprintf(stderr, "sluice %s: serving %s, admin on %s\n", SLUICE_VERSION, config->listen[0].text, config->admin.text);
    return run(ctx);
}
