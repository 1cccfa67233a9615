/*
 * The effective config as JSON, for the admin API's GET /config: the keys of the YAML file, every
 * default filled in, durations as strings in the file's syntax ("500ms", "5s"), max_body in bytes,
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

static void key(out_t *o, const cfg_key_t *k)
{
    str(o, k->kind == CFG_KEY_NONE ? NULL : k->text);
}

static const char *scope_name(cfg_scope_t s)
{
    return s == CFG_SCOPE_GLOBAL ? "global" : "local";
}

static const char *period_unit(uint64_t period_ms)
{
    return period_ms == 1000 ? "s" : period_ms == 60000 ? "m" : "h";
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
    put(o, ",\"headers\":{");
    for (size_t i = 0; i != r->num_headers; ++i) {
        put(o, i ? "," : "");
        str(o, r->headers[i].name);
        put(o, ":");
        str(o, r->headers[i].value);
    }
    put(o, "}},\"upstream\":");
    str(o, c->upstreams[r->upstream].name);
    put(o, ",\"timeout\":");
    dur(o, r->timeout_ms);
    put(o, ",\"concurrency\":");
    if (r->concurrency.enabled) {
        const cfg_concurrency_t *cc = &r->concurrency;
        put(o, "{\"limit\":%u,\"per\":", cc->limit);
        key(o, &cc->per);
        put(o, ",\"scope\":\"%s\",\"max_keys\":%u,\"queue\":{\"size\":%u,\"timeout\":", scope_name(cc->scope), cc->max_keys,
            cc->queue_size);
        dur(o, cc->queue_timeout_ms);
        put(o, ",\"order\":\"%s\"}}", cc->queue_order == CFG_QUEUE_LIFO ? "lifo" : "fifo");
    } else {
        put(o, "null");
    }
    put(o, ",\"rate_limits\":[");
    for (size_t i = 0; i != r->num_rate_limits; ++i) {
        const cfg_rate_limit_t *rl = &r->rate_limits[i];
        put(o, "%s{\"name\":", i ? "," : "");
        str(o, rl->name);
        put(o, ",\"rate\":\"%llu/%s\",\"burst\":%u,\"per\":", (unsigned long long)rl->count, period_unit(rl->period_ms), rl->burst);
        key(o, &rl->per);
        put(o, ",\"scope\":\"%s\",\"on_exceed\":\"%s\",\"max_delay\":", scope_name(rl->scope),
            rl->on_exceed == CFG_EXCEED_DELAY ? "delay" : "reject");
        dur(o, rl->max_delay_ms);
        put(o, ",\"max_keys\":%u}", rl->max_keys);
    }
    put(o, "],\"errors\":{\"hide_upstream_5xx\":%s}}", r->hide_upstream_5xx ? "true" : "false");
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
    put(&o, ",\"max_body\":%llu,\"trusted_proxies\":[", (unsigned long long)c->client.max_body);
    for (size_t i = 0; i != c->client.num_trusted_proxies; ++i) {
        put(&o, i ? "," : "");
        str(&o, c->client.trusted_proxies[i].text);
    }
    put(&o, "]},\"redis\":");
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
        put(&o, ",\"keepalive\":%u,\"max_connections\":%u}", u->keepalive, u->max_connections);
    }
    put(&o, "},\"routes\":[");
    for (size_t i = 0; i != c->num_routes; ++i) {
        put(&o, i ? "," : "");
        route_json(&o, c, &c->routes[i]);
    }
    put(&o, "]}\n");
    return o.p;
}
