#include "gw_limiter.h"

#include <stdlib.h>
#include <string.h>

void gw_limiter_init(gw_limiter_t *l, const gw_limiter_ops_t *ops, gw_limiter_kind_t kind, const char *route, const char *name)
{
    l->ops = ops;
    l->kind = kind;
    l->refs = 1;
    l->route = h2o_strdup(NULL, route, SIZE_MAX).base;
    l->name = h2o_strdup(NULL, name, SIZE_MAX).base;
    l->fallback = NULL;
    l->registry = (h2o_linklist_t){NULL, NULL}; /* unlinked until registered */
}

void gw_limiter_dispose(gw_limiter_t *l)
{
    if (h2o_linklist_is_linked(&l->registry))
        h2o_linklist_unlink(&l->registry);
    if (l->fallback != NULL)
        gw_limiter_unref(l->fallback);
    free(l->route);
    free(l->name);
}

void gw_limiter_unref(gw_limiter_t *l)
{
    if (--l->refs == 0)
        l->ops->destroy(l);
}

static void on_wake(h2o_timeout_entry_t *entry)
{
    gw_hold_t *h = H2O_STRUCT_FROM_MEMBER(gw_hold_t, wake, entry);
    h->cb(h, h->wake_result);
}

void gw_hold_wake(h2o_loop_t *loop, h2o_timeout_t *zero, gw_hold_t *h, gw_lim_result_t result)
{
    h->wake_result = result;
    h->wake.cb = on_wake;
    if (!h2o_timeout_is_linked(&h->wake))
        h2o_timeout_link(loop, zero, &h->wake);
}

void gw_hold_cancel_wake(gw_hold_t *h)
{
    if (h2o_timeout_is_linked(&h->wake))
        h2o_timeout_unlink(&h->wake);
}

void gw_limiter_describe_head(gw_limiter_t *l, gw_textbuf_t *b, const char *scope)
{
    gw_textbuf_printf(b, "{\"name\":\"%s\",\"kind\":\"%s\",\"scope\":\"%s\"", l->name,
                      l->kind == GW_LIMITER_RATE ? "rate" : "concurrency", scope);
}
