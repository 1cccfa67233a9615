#include "gw_accesslog.h"

#include <time.h>
#include "gw_logline.h"

static uint64_t ns_between(uint64_t from_ns, uint64_t to_ns)
{
    return from_ns != 0 && to_ns >= from_ns ? to_ns - from_ns : 0;
}

/* Fills in the time of the line and writes it. */
static void emit(gw_ctx_t *ctx, gw_logline_t *line)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    if (wall.tv_sec != ctx->log_second) {
        /* the calendar part changes once a second: format it once, not per request */
        struct tm tm;
        gmtime_r(&wall.tv_sec, &tm);
        strftime(ctx->log_second_text, sizeof(ctx->log_second_text), "%Y-%m-%dT%H:%M:%S", &tm);
        ctx->log_second = wall.tv_sec;
    }
    line->second = ctx->log_second_text;
    line->millisecond = (unsigned)(wall.tv_nsec / 1000000);
    char text[GW_LOGLINE_SIZE];
    fwrite(text, 1, gw_logline_format(text, line), ctx->access_log);
}

void gw_accesslog_refused(gw_ctx_t *ctx, int status, const char *request_id, size_t request_id_len, const char *method,
                          size_t method_len, const char *path, size_t path_len, const char *client_ip, uint64_t total_ns,
                          uint64_t bytes)
{
    gw_logline_t line = {
        .request_id = request_id,
        .request_id_len = request_id_len,
        .method = method != NULL ? method : "",
        .method_len = method_len,
        .path = path != NULL ? path : "",
        .path_len = path_len,
        .status = status,
        .decision = "none",
        .total_ns = total_ns,
        .client_ip = client_ip,
        .bytes = bytes,
    };
    emit(ctx, &line);
}

void gw_accesslog_write(gw_request_t *r, int status, uint64_t now)
{
    h2o_req_t *req = r->req;
    gw_ctx_t *ctx = r->ctx;
    uint64_t queue_end = r->admitted_ns;
    uint64_t upstream_start = r->proxy.started_ns;
    uint64_t upstream_end = r->proxy.head_ns != 0 ? r->proxy.head_ns : (upstream_start != 0 ? now : 0);
    gw_logline_t line = {
        .request_id = r->request_id.base,
        .request_id_len = r->request_id.len,
        .route = r->route != NULL ? r->route->cfg->name : NULL,
        .method = req->method.base,
        .method_len = req->method.len,
        .path = req->path.base,
        .path_len = req->path.len,
        .status = status,
        .decision = r->decision < GW_ADM_DECISION_COUNT ? gw_admission_decision_names[r->decision] : "none",
        .queue_ns = ns_between(r->arrived_ns, queue_end),
        .upstream_ns = ns_between(upstream_start, upstream_end),
        .total_ns = ns_between(r->arrived_ns, now),
        .client_ip = r->client_key_ip,
        .bytes = req->bytes_sent,
        .cut = r->cut ? gw_cut_reason_names[r->cut_reason] : NULL,
    };
    emit(ctx, &line);
}
