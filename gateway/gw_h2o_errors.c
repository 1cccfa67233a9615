#include "gw_h2o_errors.h"

#include <stdio.h>
#include <string.h>
#include "gw_http.h"

typedef struct st_json_error_filter_t {
    h2o_filter_t super;
    gw_ctx_t *ctx;
} json_error_filter_t;

typedef struct st_json_error_ostream_t {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int body_sent;
} json_error_ostream_t;

static const char *code_of(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 408:
        return "header_timeout";
    case 413:
        return "body_too_large";
    case 417:
        return "expectation_failed";
    default:
        return "bad_request";
    }
}

/* h2o's body is replaced by ours, sent once. */
static void do_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    json_error_ostream_t *self = (void *)_self;
    if (!self->body_sent) {
        self->body_sent = 1;
        h2o_ostream_send_next(&self->super, req, &self->body, 1, state);
    } else {
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
    }
}

static void on_setup_ostream(h2o_filter_t *_self, h2o_req_t *req, h2o_ostream_t **slot)
{
    json_error_filter_t *self = (void *)_self;
    gw_ctx_t *ctx = self->ctx;
    char id[32];
    gw_request_id_format(id, gw_rng_next(&ctx->rng), gw_rng_next(&ctx->rng));

    char *body = h2o_mem_alloc_pool(&req->pool, 256);
    int len = snprintf(body, 256,
                       "{\"error\":{\"status\":%d,\"code\":\"%s\",\"message\":\"%s\",\"route\":null,\"request_id\":\"%.32s\"}}\n",
                       req->res.status, code_of(req->res.status), req->res.reason, id);
    json_error_ostream_t *os = (void *)h2o_add_ostream(req, sizeof(*os), slot);
    os->super.do_send = do_send;
    os->body = h2o_iovec_init(body, (size_t)len);
    os->body_sent = 0;

    req->res.content_length = (size_t)len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"), 1);
    char *idcopy = h2o_mem_alloc_pool(&req->pool, sizeof(id));
    memcpy(idcopy, id, sizeof(id));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, idcopy, sizeof(id));
    gw_count_status(&ctx->no_route_metrics, req->res.status);

    h2o_setup_next_ostream(req, &os->super.next);
}

void gw_h2o_errors_register(gw_ctx_t *ctx, h2o_hostconf_t *host)
{
    json_error_filter_t *filter = (void *)h2o_create_filter(&host->fallback_path, sizeof(*filter));
    filter->super.on_setup_ostream = on_setup_ostream;
    filter->ctx = ctx;
}
