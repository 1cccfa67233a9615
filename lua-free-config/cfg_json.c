/*
 * The effective config as JSON, for the admin API's GET /config: the keys of the YAML file, every
 * default filled in, durations as strings in the file's syntax ("500ms", "5s"), sizes in bytes,
 * rates as "100/s", absent optional values as null, the Redis password replaced by "<redacted>".
 */
#include "cfg_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_mem.h"
#include "cfg_units.h"

typedef struct st_out_t {
    char *p;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort(); /* only a bad format string gets here: a programming error */
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)n;
        o->p = cfg_xrealloc(o->p, o->cap);
    }
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; ++i)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

/* A JSON string (with quotes), or null. The file is UTF-8 (libyaml checks), but a ${VAR} value can
 * hold any bytes: those that are not UTF-8 become U+FFFD so the output stays valid JSON. */
static void str(out_t *o, const char *s)
{
    if (s == NULL) {
        put(o, "null");
        return;
    }
    put(o, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = utf8_len(p);
        if (n == 0) {
            put(o, "\\ufffd");
            ++p;
        } else if (*p == '"' || *p == '\\') {
            put(o, "\\%c", *p++);
        } else if (*p < 0x20) {
            put(o, "\\u%04x", *p++);
        } else {
            put(o, "%.*s", (int)n, (const char *)p);
            p += n;
        }
    }
    put(o, "\"");
}

static void dur(out_t *o, uint64_t ms)
{
    char buf[32];
    cfg_format_duration(ms, buf, sizeof(buf));
    put(o, "\"%s\"", buf);
}

static void put_size(out_t *o, uint64_t bytes)
{
    put(o, "%llu", (unsigned long long)bytes);
}

static void boolean(out_t *o, int b)
{
    put(o, b ? "true" : "false");
}

static void key(out_t *o, const cfg_key_t *k)
{
    str(o, k->kind == CFG_KEY_NONE ? NULL : k->text);
}

/* One source as a string, a list as a list of strings, none as null. */
static void keyspec(out_t *o, const cfg_keyspec_t *spec)
{
    if (spec->num_keys == 0) {
        put(o, "null");
    } else if (spec->text[0] != '[') {
        str(o, spec->keys[0].text);
    } else {
        put(o, "[");
        for (size_t i = 0; i != spec->num_keys; ++i) {
            put(o, i ? "," : "");
            str(o, spec->keys[i].text);
        }
        put(o, "]");
    }
}

static const char *scope_name(cfg_scope_t s)
{
    return s == CFG_SCOPE_GLOBAL ? "global" : "local";
}

static const char *period_unit(uint64_t period_ms)
{
    return period_ms == 1000 ? "s" : period_ms == 60000 ? "m" : "h";
}

static void errors_json(out_t *o, const cfg_errors_policy_t *e)
{
    put(o, "{\"hide_upstream_5xx\":");
    boolean(o, e->hide_upstream_5xx);
    put(o, ",\"scrub_tracebacks\":");
    boolean(o, e->scrub_tracebacks);
    put(o, "}");
}

static void concurrency_json(out_t *o, const cfg_concurrency_t *cc)
{
    put(o, "{\"name\":");
    str(o, cc->name);
    if (cc->adaptive)
        put(o, ",\"limit\":\"auto\",\"adaptive\":{\"min\":%u,\"max\":%u,\"initial\":%u}", cc->adaptive_min, cc->adaptive_max,
            cc->adaptive_initial);
    else
        put(o, ",\"limit\":%u,\"adaptive\":null", cc->limit);
    put(o, ",\"per\":");
    keyspec(o, &cc->per);
    put(o, ",\"scope\":\"%s\",\"max_keys\":%u,\"max_key_length\":%u,\"queue\":{\"size\":%u,\"timeout\":", scope_name(cc->scope),
        cc->max_keys, cc->max_key_length, cc->queue_size);
    dur(o, cc->queue_timeout_ms);
    put(o, ",\"order\":\"%s\"},\"hold_aborted\":", cc->queue_order == CFG_QUEUE_LIFO ? "lifo" : "fifo");
    dur(o, cc->hold_aborted_ms);
    put(o, "}");
}

static void rate_limit_json(out_t *o, const cfg_rate_limit_t *rl)
{
    put(o, "{\"name\":");
    str(o, rl->name);
    put(o, ",\"rate\":\"%llu/%s\",\"burst\":%u,\"per\":", (unsigned long long)rl->count, period_unit(rl->period_ms), rl->burst);
    keyspec(o, &rl->per);
    put(o, ",\"fair\":");
    keyspec(o, &rl->fair);
    put(o, ",\"scope\":\"%s\",\"on_exceed\":\"%s\",\"max_delay\":", scope_name(rl->scope),
        rl->on_exceed == CFG_EXCEED_DELAY ? "delay" : "reject");
    dur(o, rl->max_delay_ms);
    put(o, ",\"max_keys\":%u,\"max_key_length\":%u}", rl->max_keys, rl->max_key_length);
}

static void circuit_breaker_json(out_t *o, const cfg_circuit_breaker_t *cb)
{
    if (!cb->enabled) {
        put(o, "null");
        return;
    }
    put(o, "{\"failures\":%u,\"open_for\":", cb->failures);
    dur(o, cb->open_for_ms);
    put(o, ",\"half_open\":%u,\"failure_rate\":", cb->half_open);
    if (cb->failure_rate != 0)
        put(o, "%u", cb->failure_rate);
    else
        put(o, "null");
    put(o, ",\"window\":");
    dur(o, cb->window_ms);
    put(o, ",\"min_requests\":%u,\"per\":", cb->min_requests);
    keyspec(o, &cb->per);
    put(o, ",\"max_keys\":%u,\"max_key_length\":%u}", cb->max_keys, cb->max_key_length);
}

static void priority_json(out_t *o, const cfg_priority_t *p)
{
    if (!p->enabled) {
        put(o, "null");
        return;
    }
    put(o, "{\"from\":");
    key(o, &p->from);
    put(o, ",\"levels\":[");
    for (size_t i = 0; i != p->num_levels; ++i) {
        put(o, i ? "," : "");
        str(o, p->levels[i]);
    }
    put(o, "],\"default\":");
    str(o, p->levels[p->default_level]);
    put(o, "}");
}

static void headers_json(out_t *o, const cfg_header_t *h, size_t n)
{
    put(o, "{");
    for (size_t i = 0; i != n; ++i) {
        put(o, i ? "," : "");
        str(o, h[i].name);
        put(o, ":");
        str(o, h[i].value);
    }
    put(o, "}");
}

static void route_json(out_t *o, const cfg_config_t *c, const cfg_route_t *r)
{
    put(o, "{\"name\":");
    str(o, r->name);
    put(o, ",\"match\":{\"path\":");
    str(o, r->path);
    put(o, ",\"path_prefix\":");
    str(o, r->path_prefix);
    put(o, ",\"methods\":[");
    for (size_t i = 0; i != r->num_methods; ++i) {
        put(o, i ? "," : "");
        str(o, r->methods[i]);
    }
    put(o, "],\"host\":");
    str(o, r->host);
    put(o, ",\"headers\":");
    headers_json(o, r->headers, r->num_headers);
    put(o, "},\"upstream\":");
    str(o, c->upstreams[r->upstream].name);
    put(o, ",\"timeout\":");
    dur(o, r->timeout_ms);
    put(o, ",\"max_body\":");
    put_size(o, r->max_body);
    put(o, ",\"concurrency\":[");
    for (size_t i = 0; i != r->num_concurrency; ++i) {
        put(o, i ? "," : "");
        concurrency_json(o, &r->concurrency[i]);
    }
    put(o, "],\"rate_limits\":[");
    for (size_t i = 0; i != r->num_rate_limits; ++i) {
        put(o, i ? "," : "");
        rate_limit_json(o, &r->rate_limits[i]);
    }
    put(o, "],\"circuit_breaker\":");
    circuit_breaker_json(o, &r->circuit_breaker);
    put(o, ",\"priority\":");
    priority_json(o, &r->priority);
    put(o, ",\"websocket\":{\"allow\":");
    boolean(o, r->websocket.allow);
    put(o, ",\"max_connections\":%u,\"idle_timeout\":", r->websocket.max_connections);
    dur(o, r->websocket.idle_timeout_ms);
    put(o, "},\"request_headers\":{\"set\":");
    headers_json(o, r->set_headers, r->num_set_headers);
    put(o, ",\"remove\":[");
    for (size_t i = 0; i != r->num_remove_headers; ++i) {
        put(o, i ? "," : "");
        str(o, r->remove_headers[i]);
    }
    put(o, "]},\"errors\":");
    errors_json(o, &r->errors);
    put(o, "}");
}

char *cfg_to_json(const cfg_config_t *c)
{
    static const char *const on_error[] = {"local", "allow", "deny"};
    out_t o = {cfg_xrealloc(NULL, 4096), 0, 4096};
    put(&o, "{\"listen\":[");
    for (size_t i = 0; i != c->num_listen; ++i) {
        put(&o, i ? "," : "");
        str(&o, c->listen[i].text);
    }
    put(&o, "],\"admin\":");
    str(&o, c->admin.text);
    put(&o, ",\"drain_delay\":");
    dur(&o, c->drain_delay_ms);
    put(&o, ",\"shutdown_timeout\":");
    dur(&o, c->shutdown_timeout_ms);
    put(&o, ",\"client\":{\"header_timeout\":");
    dur(&o, c->client.header_timeout_ms);
    put(&o, ",\"idle_timeout\":");
    dur(&o, c->client.idle_timeout_ms);
    put(&o, ",\"body_timeout\":");
    dur(&o, c->client.body_timeout_ms);
    put(&o, ",\"max_body\":%llu,\"max_header_size\":%llu,\"trusted_proxies\":[", (unsigned long long)c->client.max_body,
        (unsigned long long)c->client.max_header_size);
    for (size_t i = 0; i != c->client.num_trusted_proxies; ++i) {
        put(&o, i ? "," : "");
        str(&o, c->client.trusted_proxies[i].text);
    }
    put(&o, "]},\"errors\":");
    errors_json(&o, &c->errors);
    put(&o, ",\"redis\":");
    if (c->redis.enabled) {
        put(&o, "{\"address\":");
        str(&o, c->redis.address.text);
        put(&o, ",\"password\":%s,\"database\":%u,\"timeout\":", c->redis.password != NULL ? "\"<redacted>\"" : "null",
            c->redis.database);
        dur(&o, c->redis.timeout_ms);
        put(&o, ",\"prefix\":");
        str(&o, c->redis.prefix);
        put(&o, ",\"on_error\":\"%s\",\"instances\":%u,\"slot_lease\":", on_error[c->redis.on_error], c->redis.instances);
        dur(&o, c->redis.slot_lease_ms);
        put(&o, "}");
    } else {
        put(&o, "null");
    }
    put(&o, ",\"upstreams\":{");
    for (size_t i = 0; i != c->num_upstreams; ++i) {
        const cfg_upstream_t *u = &c->upstreams[i];
        put(&o, i ? "," : "");
        str(&o, u->name);
        put(&o, ":{\"address\":");
        str(&o, u->address.text);
        put(&o, ",\"connect_timeout\":");
        dur(&o, u->connect_timeout_ms);
        put(&o, ",\"read_timeout\":");
        dur(&o, u->read_timeout_ms);
        put(&o, ",\"keepalive\":%u,\"max_connections\":%u,\"response_buffer\":%llu}", u->keepalive, u->max_connections,
            (unsigned long long)u->response_buffer);
    }
    put(&o, "},\"routes\":[");
    for (size_t i = 0; i != c->num_routes; ++i) {
        put(&o, i ? "," : "");
        route_json(&o, c, &c->routes[i]);
    }
    put(&o, "]}\n");
    return o.p;
}
