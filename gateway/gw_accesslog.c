#include "gw_accesslog.h"

#include <string.h>
#include <time.h>
#include "gw_http.h"

#define MAX_LOGGED_PATH 2048

static double ms_between(uint64_t from_ns, uint64_t to_ns)
{
    return from_ns != 0 && to_ns >= from_ns ? (double)(to_ns - from_ns) / 1e6 : 0.0;
}

void gw_accesslog_write(gw_request_t *r, int status)
{
    h2o_req_t *req = r->req;
    uint64_t now = gw_now_ns();
    char path[MAX_LOGGED_PATH * 6], method[64 * 6], ts[40];
    size_t path_len = req->path.len < MAX_LOGGED_PATH ? req->path.len : MAX_LOGGED_PATH;
    size_t method_len = req->method.len < 64 ? req->method.len : 64;
    path_len = gw_json_escape(path, req->path.base, path_len);
    method_len = gw_json_escape(method, req->method.base, method_len);

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    gw_ctx_t *ctx = r->ctx;
    if (wall.tv_sec != ctx->log_second) {
        /* the calendar part changes once a second: format it once, not per request */
        struct tm tm;
        gmtime_r(&wall.tv_sec, &tm);
        strftime(ctx->log_second_text, sizeof(ctx->log_second_text), "%Y-%m-%dT%H:%M:%S", &tm);
        ctx->log_second = wall.tv_sec;
    }
    snprintf(ts, sizeof(ts), "%s.%03ldZ", ctx->log_second_text, wall.tv_nsec / 1000000);

    const char *decision = r->has_decision ? gw_admission_decision_names[r->decision] : "none";
    uint64_t queue_end = r->admitted_ns != 0 ? r->admitted_ns : r->upstream_started_ns;
    uint64_t upstream_end = r->upstream_head_ns != 0 ? r->upstream_head_ns : (r->upstream_started_ns != 0 ? now : 0);

    fprintf(ctx->access_log,
            "{\"ts\":\"%s\",\"request_id\":\"%.*s\",\"route\":%s%s%s,\"method\":\"%.*s\",\"path\":\"%.*s\",\"status\":%d,"
            "\"decision\":\"%s\",\"queue_ms\":%.3f,\"upstream_ms\":%.3f,\"total_ms\":%.3f,\"client_ip\":\"%s\",\"bytes\":%zu}\n",
            ts, (int)r->request_id.len, r->request_id.base, r->route != NULL ? "\"" : "",
            r->route != NULL ? r->route->cfg->name : "null", r->route != NULL ? "\"" : "", (int)method_len, method, (int)path_len,
            path, status, decision, ms_between(r->arrived_ns, queue_end), ms_between(r->upstream_started_ns, upstream_end),
            ms_between(r->arrived_ns, now), r->client_key_ip, req->bytes_sent);
}
