#include "gw_accesslog.h"

#include <time.h>
#include "gw_logline.h"

static uint64_t ns_between(uint64_t from_ns, uint64_t to_ns)
{
    return from_ns != 0 && to_ns >= from_ns ? to_ns - from_ns : 0;
}

void gw_accesslog_write(gw_request_t *r, int status)
{
    h2o_req_t *req = r->req;
    uint64_t now = gw_now_ns();
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
    uint64_t queue_end = r->admitted_ns != 0 ? r->admitted_ns : r->upstream_started_ns;
    uint64_t upstream_end = r->upstream_head_ns != 0 ? r->upstream_head_ns : (r->upstream_started_ns != 0 ? now : 0);
    gw_logline_t line = {
        .second = ctx->log_second_text,
        .millisecond = (unsigned)(wall.tv_nsec / 1000000),
        .request_id = r->request_id.base,
        .request_id_len = r->request_id.len,
        .route = r->route != NULL ? r->route->cfg->name : NULL,
        .method = req->method.base,
        .method_len = req->method.len,
        .path = req->path.base,
        .path_len = req->path.len,
        .status = status,
        .decision = r->has_decision ? gw_admission_decision_names[r->decision] : "none",
        .queue_ns = ns_between(r->arrived_ns, queue_end),
        .upstream_ns = ns_between(r->upstream_started_ns, upstream_end),
        .total_ns = ns_between(r->arrived_ns, now),
        .client_ip = r->client_key_ip,
        .bytes = req->bytes_sent,
    };
    char text[GW_LOGLINE_SIZE];
    fwrite(text, 1, gw_logline_format(text, &line), ctx->access_log);
}
