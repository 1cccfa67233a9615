#include "gw_h2o_errors.h"

#include <stdio.h>
#include <string.h>
#include "gw_h2guard.h"
#include "gw_http.h"

typedef struct st_json_error_filter_t {
    h2o_filter_t super;
    gw_ctx_t *ctx;
} json_error_filter_t;

typedef struct st_json_error_ostream_t {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int body_sent;
    struct st_deferred_send_t *deferred; /* HTTP/2: the first send, one turn of the loop later */
} json_error_ostream_t;

/* libh2o answers a malformed HTTP/2 request while it parses the frames it has read; a connection
 * error in the same read then closes the connection before the answer's DATA is written (libh2o
 * sends no DATA once closing), and the client gets a HEADERS promising a body that never comes.
 * So the answer leaves one turn of the loop later, and not at all if the connection is closing
 * by then (its GOAWAY says why). Lives in the request's pool: disposing it unlinks the timer. */
typedef struct st_deferred_send_t {
    h2o_timeout_entry_t entry;
    json_error_ostream_t *os;
    h2o_req_t *req;
    h2o_send_state_t state;
} deferred_send_t;

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

static void on_deferred_send(h2o_timeout_entry_t *entry)
{
    deferred_send_t *d = H2O_STRUCT_FROM_MEMBER(deferred_send_t, entry, entry);
    if (gw_h2guard_conn_is_closing(d->req->conn))
        return; /* the stream is disposed with the connection */
    d->os->body_sent = 1;
    h2o_ostream_send_next(&d->os->super, d->req, &d->os->body, 1, d->state);
}

static void dispose_deferred_send(void *p)
{
    deferred_send_t *d = p;
    if (h2o_timeout_is_linked(&d->entry))
        h2o_timeout_unlink(&d->entry);
}

/* h2o's body is replaced by ours, sent once. */
static void do_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    json_error_ostream_t *self = (void *)_self;
    if (!self->body_sent && req->version >= 0x200 && self->deferred == NULL) {
        deferred_send_t *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), dispose_deferred_send);
        *d = (deferred_send_t){.entry = {.cb = on_deferred_send}, .os = self, .req = req, .state = state};
        self->deferred = d;
        h2o_timeout_link(req->conn->ctx->loop, &req->conn->ctx->zero_timeout, &d->entry);
        return;
    }
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
    os->deferred = NULL;

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
