/*
 * Global limits: rate limits and concurrency limits held in Redis (policies/pol_global.h has
 * the algorithms and their accuracy), with `redis.on_error` when Redis is unavailable.
 *
 * Rate limits: a request spends a token of its key's local lease; a lease request goes out when
 * the lease runs low (in the background) or empty (the request waits for it, bounded by
 * redis.timeout). Waiters of one key share one lease request. Redis's "empty until T" is kept,
 * so a flood is refused locally without asking Redis again before T.
 *
 * Concurrency: each request acquires a slot (a lease in a sorted set) with one command and
 * releases it with ZREM when it finishes. A request that finds the key full waits in this
 * instance's room for that key. The room learns of free slots in two ways: a local request
 * that finishes hands its slot straight to the first waiter (no command), and a poll retries
 * the acquire for the first waiter with a backoff from 2 ms to 50 ms (so a slot freed by
 * another instance is found within 50 ms, at a cost of at most 20 commands a second per key
 * with waiters, whatever the number of waiters). Held slots are renewed every third of
 * redis.slot_lease; a killed instance's slots expire after it.
 *
 * Fairness: a failed acquire marks this instance as waiting in Redis, and acquire and renewal
 * replies say whether other instances wait. While they do, an instance above its share
 * (limit / instances) gives freed slots back instead of handing them over or keeping them, and
 * its room does not poll (above_fair_share).
 *
 * Lost slots: a renewal that finds its member gone (Redis restarted without persistence, FLUSHALL,
 * an outage longer than the lease) marks the slot lost, and so does a release that comes a whole
 * slot_lease after the last renewal. A lost slot is not handed over nor kept for reuse: its
 * request finishes, and the room acquires anew, so the limit holds again within one renewal
 * period (slot_lease / 3).
 *
 * Slot reuse: a slot freed when nobody waits locally is kept for IDLE_SLOT_MS before its ZREM,
 * and the next local request of the key takes it without a command. Under steady traffic a
 * slot then serves many requests for two commands (acquire, release) instead of two each. It
 * still counts against the limit in Redis while kept, so the limit holds; other instances see
 * it free at most IDLE_SLOT_MS later.
 *
 * Invariants:
 * - a lease request or acquire in flight holds a reference to its limit, so its reply always
 *   finds it; a pol_keyed value with a request in flight, a waiter, a holder or a poll timer is
 *   not at rest, so it is never dropped under them.
 * - a request is in at most one of: a lease's waiters, a first acquire (ra->acquire), a global
 *   room, the held slots; gw_global_release takes it out of whichever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gw_admission_internal.h"
#include "gw_redis.h"

#define POLL_MIN_MS 2
#define POLL_MAX_MS 50
#define IDLE_SLOT_MS 20

/* A global slot held by this instance for reuse; in its key's `idle` and in ctx->idle_slots. */
typedef struct st_gw_idle_slot_t {
    h2o_linklist_t key_link;
    h2o_linklist_t ctx_link;
    gw_slot_key_t *slot_key;
    uint64_t idle_since_ns;
    uint64_t renewed_ns;
    char member[48];
    size_t key_len;
    char key[];
} gw_idle_slot_t;

typedef struct st_gw_acquire_op_t {
    gw_ctx_t *ctx;
    gw_conc_rt_t *conc; /* a reference */
    gw_slot_key_t *slot_key;
    gw_req_admission_t *ra; /* the request of a first acquire; NULL for a poll or once it is gone */
    int is_poll;
    char member[48];
    size_t key_len;
    char key[]; /* the Redis key, for the ZREM of a slot nobody wants any more */
} gw_acquire_op_t;

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

static char *make_key_base(const cfg_redis_t *redis, const char *route, const char *limit)
{
    size_t len = strlen(redis->prefix) + strlen(route) + strlen(limit) + 4;
    char *base = xmalloc(len);
    snprintf(base, len, "%s{%s:%s:", redis->prefix, route, limit);
    return base;
}

static void setup_init(gw_global_setup_t *setup, const cfg_redis_t *redis, const char *route, const char *limit)
{
    setup->key_base = make_key_base(redis, route, limit);
    setup->address = h2o_strdup(NULL, redis->address.text, SIZE_MAX).base;
    setup->database = redis->database;
    setup->instances = redis->instances;
}

static void setup_dispose(gw_global_setup_t *setup)
{
    free(setup->key_base);
    free(setup->address);
}

int gw_global_setup_matches(int global, const gw_global_setup_t *setup, const cfg_redis_t *redis, const char *route,
                            const char *limit)
{
    if (!global)
        return 1;
    if (!redis->enabled || strcmp(setup->address, redis->address.text) != 0 || setup->database != redis->database ||
        setup->instances != redis->instances)
        return 0;
    char *base = make_key_base(redis, route, limit);
    int same = strcmp(base, setup->key_base) == 0;
    free(base);
    return same;
}

/* "BASEkey}" in the request's pool. */
static char *make_key(gw_request_t *r, const char *base, const char *key, size_t key_len, size_t *len)
{
    size_t base_len = strlen(base);
    char *full = h2o_mem_alloc_pool(&r->req->pool, base_len + key_len + 2);
    memcpy(full, base, base_len);
    memcpy(full + base_len, key, key_len);
    full[base_len + key_len] = '}';
    full[base_len + key_len + 1] = '\0';
    *len = base_len + key_len + 1;
    return full;
}

/* The key text of a keyed value: the request's own, or the shared `_missing` / `_overflow`. */
static const char *value_key(gw_request_t *r, const cfg_keyspec_t *per, pol_keyed_t *table, void **value, uint64_t now, size_t *len)
{
    const char *key = gw_admission_request_key(r, per, len);
    *value = pol_keyed_get(table, key, *len, now);
    if (*value == pol_keyed_overflow(table))
        key = "_overflow", *len = 9;
    else if (key == NULL)
        key = "_missing", *len = 8;
    return key;
}

cfg_redis_on_error_t gw_global_fallback(gw_request_t *r)
{
    cfg_redis_on_error_t mode = r->gen->config->redis.on_error;
    ++r->ctx->redis_metrics.fallback[mode];
    return mode;
}

static void count_bad_reply(gw_ctx_t *ctx)
{
    ++ctx->redis_metrics.errors[GW_REDIS_ERR_REPLY];
}

static void ignore_reply(const redisReply *reply, void *data, const char *err)
{
    (void)reply, (void)data, (void)err;
}

/* ---- rate limits ---- */

static int lease_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data;
    const gw_rate_lease_t *l = value;
    return pol_lease_at_rest(&l->lease, now_ns) && (l->waiters.next == NULL || l->waiters.next == &l->waiters);
}

void gw_global_rate_init(gw_ctx_t *ctx, gw_rate_rt_t *rate, const cfg_redis_t *redis, const char *route_name)
{
    const cfg_rate_limit_t *cfg = &rate->cfg;
    rate->global = 1;
    rate->ctx = ctx;
    pol_lease_params_init(&rate->lease_params, cfg->count, cfg->period_ms * 1000000u, cfg->burst, redis->instances);
    /* %.17g: exact for Lua's tonumber, however small the interval of a high rate */
    snprintf(rate->lease_args[0], sizeof(rate->lease_args[0]), "%.17g", rate->lease_params.interval_us);
    snprintf(rate->lease_args[1], sizeof(rate->lease_args[1]), "%.17g", rate->lease_params.capacity_us);
    setup_init(&rate->setup, redis, route_name, cfg->name);
    if (cfg->per.num_keys != 0)
        rate->per_key_lease = pol_keyed_new(sizeof(gw_rate_lease_t), cfg->max_keys, lease_at_rest, NULL, gw_random(ctx));
}

void gw_global_rate_dispose(gw_rate_rt_t *rate)
{
    if (!rate->global)
        return;
    pol_keyed_free(rate->per_key_lease);
    setup_dispose(&rate->setup);
}

static gw_rate_lease_t *lease_for(gw_request_t *r, gw_rate_rt_t *rate, uint64_t now, const char **key, size_t *len)
{
    gw_rate_lease_t *l;
    if (rate->per_key_lease == NULL) {
        l = &rate->whole_lease;
        *key = "_route", *len = 6;
    } else {
        void *value;
        *key = value_key(r, &rate->cfg.per, rate->per_key_lease, &value, now, len);
        l = value;
    }
    if (l->waiters.next == NULL)
        h2o_linklist_init_anchor(&l->waiters);
    return l;
}

/* {granted, retry_after_us}, granted never more than the batch asked for. */
static int parse_lease_reply(const redisReply *reply, uint32_t batch, uint32_t *granted, uint64_t *retry_after_ns)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long n = reply->element[0]->integer, retry_us = reply->element[1]->integer;
    if (n < 0 || n > batch || retry_us < 0 || retry_us > 86400LL * 1000000 * 365)
        return -1;
    *granted = (uint32_t)n;
    *retry_after_ns = (uint64_t)retry_us * 1000u;
    return 0;
}

static void on_lease_reply(const redisReply *reply, void *data, const char *err)
{
    gw_rate_lease_t *l = data;
    gw_rate_rt_t *rate = l->rate;
    uint32_t granted = 0;
    uint64_t retry_after = 0;
    int failed = err != NULL;
    if (!failed && parse_lease_reply(reply, rate->lease_params.batch, &granted, &retry_after) != 0) {
        count_bad_reply(rate->ctx);
        failed = 1;
    }
    l->rate = NULL;
    l->lease.fetching = 0;
    if (!failed)
        pol_lease_granted(&l->lease, gw_now_ns(), granted, retry_after);

    /* Each waiter asks again: it spends a token, learns the bucket is empty, starts the next
     * lease request, or (failed) falls back. Taken off the lease first, as they may rejoin it. */
    h2o_linklist_t woken;
    h2o_linklist_init_anchor(&woken);
    h2o_linklist_insert_list(&woken, &l->waiters);
    while (!h2o_linklist_is_empty(&woken)) {
        gw_req_admission_t *ra = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, lease_link, woken.next);
        h2o_linklist_unlink(&ra->lease_link);
        ra->lease = NULL;
        ra->redis_failed = failed;
        gw_admission_continue(ra);
    }
    gw_admission_release_rate(rate);
}

static int request_lease(gw_ctx_t *ctx, gw_request_t *r, gw_rate_rt_t *rate, gw_rate_lease_t *l, const char *key, size_t key_len)
{
    size_t full_len;
    char *full = make_key(r, rate->setup.key_base, key, key_len, &full_len);
    char batch[16];
    int n = snprintf(batch, sizeof(batch), "%u", rate->lease_params.batch);
    const char *argv[] = {rate->lease_args[0], rate->lease_args[1], batch};
    size_t lens[] = {strlen(argv[0]), strlen(argv[1]), (size_t)n};
    const char *keys[] = {full};
    size_t key_lens[] = {full_len};
    if (gw_redis_eval(ctx->redis, POL_GLOBAL_SCRIPT_LEASE, 1, keys, key_lens, 3, argv, lens, on_lease_reply, l) != 0)
        return -1;
    l->lease.fetching = 1;
    l->rate = rate;
    ++rate->refs;
    return 0;
}

gw_global_result_t gw_global_rate_take(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now_ns, uint64_t *retry_after_ns)
{
    gw_request_t *r = ra->r;
    if (ra->redis_failed) {
        ra->redis_failed = 0;
        return GW_GLOBAL_FALLBACK;
    }
    if (!gw_redis_is_up(r->ctx->redis))
        return GW_GLOBAL_FALLBACK;
    const char *key;
    size_t key_len;
    gw_rate_lease_t *l = lease_for(r, rate, now_ns, &key, &key_len);
    if (pol_lease_take(&l->lease, now_ns)) {
        /* refill before it runs out, so that steady traffic never waits for Redis */
        if (pol_lease_wants_refill(&l->lease, &rate->lease_params, now_ns))
            request_lease(r->ctx, r, rate, l, key, key_len);
        return GW_GLOBAL_ADMIT;
    }
    if ((*retry_after_ns = pol_lease_empty_for(&l->lease, now_ns)) != 0)
        return GW_GLOBAL_REJECT;
    if (!l->lease.fetching && request_lease(r->ctx, r, rate, l, key, key_len) != 0)
        return GW_GLOBAL_FALLBACK;
    ra->lease = l;
    h2o_linklist_insert(&l->waiters, &ra->lease_link);
    return GW_GLOBAL_PENDING;
}

int gw_global_rate_known_empty(gw_req_admission_t *ra, gw_rate_rt_t *rate, uint64_t now_ns, uint64_t *retry_after_ns)
{
    if (!gw_redis_is_up(ra->r->ctx->redis))
        return 0;
    const char *key;
    size_t key_len;
    gw_rate_lease_t *l = lease_for(ra->r, rate, now_ns, &key, &key_len);
    if (pol_lease_has_tokens(&l->lease, now_ns))
        return 0; /* leased before Redis ran dry: they are spent first */
    return (*retry_after_ns = pol_lease_empty_for(&l->lease, now_ns)) != 0;
}

/* ---- concurrency ---- */

static int slot_key_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data, (void)now_ns;
    const gw_slot_key_t *sk = value;
    return sk->queued == 0 && sk->holders == 0 && sk->acquiring == 0 && !sk->polling && sk->idle_count == 0 &&
           sk->poll_timer.entry._link.next == NULL;
}

void gw_global_conc_init(gw_ctx_t *ctx, gw_conc_rt_t *conc, const cfg_redis_t *redis, const char *route_name)
{
    conc->global = 1;
    setup_init(&conc->setup, redis, route_name, conc->cfg.name);
    if (conc->cfg.per.num_keys != 0)
        conc->per_key_slots = pol_keyed_new(sizeof(gw_slot_key_t), conc->cfg.max_keys, slot_key_at_rest, NULL, gw_random(ctx));
}

static void release_member(gw_conc_rt_t *conc, const char *key, size_t key_len, const char *member);
static void free_idle_slot(gw_idle_slot_t *slot);

static void stop_poll(const char *key, size_t len, void *value, int shared, void *data)
{
    (void)key, (void)len, (void)shared, (void)data;
    gw_timer_stop(&((gw_slot_key_t *)value)->poll_timer);
}

void gw_global_conc_dispose(gw_conc_rt_t *conc)
{
    if (!conc->global)
        return;
    /* no request uses the limit any more (each holds its generation, which holds the limit), but
     * a poll timer may still be armed for a room that has emptied */
    gw_timer_stop(&conc->whole_slots.poll_timer);
    for (h2o_linklist_t *node = conc->ctx->idle_slots.next, *next; node != &conc->ctx->idle_slots; node = next) {
        next = node->next;
        gw_idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, ctx_link, node);
        if (slot->slot_key->conc == conc) {
            release_member(conc, slot->key, slot->key_len, slot->member);
            free_idle_slot(slot);
        }
    }
    if (conc->per_key_slots != NULL)
        pol_keyed_foreach(conc->per_key_slots, stop_poll, NULL);
    pol_keyed_free(conc->per_key_slots);
    setup_dispose(&conc->setup);
}

static void conc_fallback(gw_req_admission_t *ra, gw_conc_rt_t *conc)
{
    switch (gw_global_fallback(ra->r)) {
    case CFG_REDIS_FALLBACK_ALLOW:
        gw_proxy_start_upstream(ra->r);
        break;
    case CFG_REDIS_FALLBACK_DENY:
        gw_admission_deny_unavailable(ra);
        break;
    case CFG_REDIS_FALLBACK_LOCAL:
        gw_admission_enter_local_concurrency(ra, conc);
        break;
    }
}

/* The client of the Redis that holds `conc`'s slots: the current one, or after a reload that
 * moved to another server, the previous one for the limits of the old config (NULL once gone). */
static gw_redis_t *client_for(gw_conc_rt_t *conc)
{
    gw_ctx_t *ctx = conc->ctx;
    if (gw_redis_serves(ctx->redis, conc->setup.address, conc->setup.database))
        return ctx->redis;
    if (gw_redis_serves(ctx->retired_redis, conc->setup.address, conc->setup.database))
        return ctx->retired_redis;
    return NULL;
}

static void release_member(gw_conc_rt_t *conc, const char *key, size_t key_len, const char *member)
{
    const char *argv[] = {"ZREM", key, member};
    size_t lens[] = {4, key_len, strlen(member)};
    /* when Redis is unavailable the slot simply expires with its lease */
    gw_redis_command(client_for(conc), 3, argv, lens, ignore_reply, NULL);
}

static void hold_slot(gw_req_admission_t *ra, gw_slot_key_t *sk, const char *member, uint64_t renewed_ns)
{
    snprintf(ra->member, sizeof(ra->member), "%s", member);
    ra->slot_key = sk;
    ra->holds_global = 1;
    ra->slot_lost = 0;
    ra->renewed_ns = renewed_ns;
    ++sk->holders;
    h2o_linklist_insert(&ra->r->ctx->held_slots, &ra->held_link);
}

static gw_req_admission_t *room_front(gw_slot_key_t *sk)
{
    return H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, room_link, sk->room.next);
}

static void take_out_of_room(gw_req_admission_t *ra)
{
    h2o_linklist_unlink(&ra->room_link);
    --ra->slot_key->queued;
    ra->in_slot_room = 0;
}

static void schedule_poll(gw_slot_key_t *sk, uint64_t delay_ms);

static void join_room(gw_req_admission_t *ra, gw_slot_key_t *sk, gw_conc_rt_t *conc)
{
    if (sk->queued >= conc->cfg.queue_size) {
        ra->slot_key = NULL;
        gw_admission_reject_queue_full(ra->r);
        return;
    }
    if (sk->room.next == NULL)
        h2o_linklist_init_anchor(&sk->room);
    if (sk->queued == 0)
        sk->poll_backoff_ms = POLL_MIN_MS; /* a new wait: the first poll comes soon */
    /* fifo: join at the back; lifo: at the front (served first) */
    h2o_linklist_insert(conc->cfg.queue_order == CFG_QUEUE_LIFO ? sk->room.next : &sk->room, &ra->room_link);
    ++sk->queued;
    ra->slot_key = sk;
    ra->in_slot_room = 1;
    gw_admission_enter_room(ra, conc);
    schedule_poll(sk, sk->poll_backoff_ms);
}

/* Redis is unavailable for the room: every waiter gets on_error now rather than at its timeout. */
static void fallback_room(gw_slot_key_t *sk, gw_conc_rt_t *conc)
{
    while (sk->queued != 0) {
        gw_req_admission_t *ra = room_front(sk);
        take_out_of_room(ra);
        ra->slot_key = NULL;
        gw_admission_leave_room(ra);
        conc_fallback(ra, conc);
    }
}

static void on_acquire_reply(const redisReply *reply, void *data, const char *err);

/* An acquire of a slot of `sk` under the Redis keys of `keys_of` (the request itself, or the
 * room's first for a poll). */
static int send_acquire(gw_ctx_t *ctx, gw_conc_rt_t *conc, gw_slot_key_t *sk, gw_req_admission_t *ra,
                        const gw_req_admission_t *keys_of)
{
    size_t key_len = keys_of->slot_redis_key_len;
    gw_acquire_op_t *op = xmalloc(sizeof(*op) + key_len + 1);
    op->ctx = ctx;
    op->conc = conc;
    op->slot_key = sk;
    op->ra = ra;
    op->is_poll = ra == NULL;
    snprintf(op->member, sizeof(op->member), "%s:%llu", ctx->instance_id, (unsigned long long)++ctx->slot_seq);
    memcpy(op->key, keys_of->slot_redis_key, key_len);
    op->key[key_len] = '\0';
    op->key_len = key_len;
    char limit[16], lease[24];
    int n1 = snprintf(limit, sizeof(limit), "%u", conc->cfg.limit);
    int n2 = snprintf(lease, sizeof(lease), "%llu", (unsigned long long)ctx->gen->config->redis.slot_lease_ms);
    const char *keys[] = {op->key, keys_of->slot_wait_key};
    size_t key_lens[] = {key_len, keys_of->slot_wait_key_len};
    const char *argv[] = {limit, lease, op->member, ctx->instance_id};
    size_t lens[] = {(size_t)n1, (size_t)n2, strlen(op->member), strlen(ctx->instance_id)};
    if (gw_redis_eval(client_for(conc), POL_GLOBAL_SCRIPT_ACQUIRE, 2, keys, key_lens, 4, argv, lens, on_acquire_reply, op) != 0) {
        free(op);
        return -1;
    }
    ++conc->refs;
    ++sk->acquiring;
    if (ra != NULL)
        ra->acquire = op;
    else
        sk->polling = 1;
    return 0;
}

/* {flag, other instances waiting}: the reply of the acquire and renew scripts. */
static int parse_slot_reply(const redisReply *reply, int *flag, long long *others)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long f = reply->element[0]->integer, n = reply->element[1]->integer;
    if ((f != 0 && f != 1) || n < 0 || n > 1000000)
        return -1;
    *flag = (int)f;
    *others = n;
    return 0;
}

static void note_others_waiting(gw_slot_key_t *sk, long long others, uint64_t now)
{
    if (others > 0)
        sk->others_wait_until_ns = now + POL_WAITING_MARK_MS * 1000000ull;
}

/* 1 when other instances wait for the key and this one would hold more than its share with
 * `extra` more slots: it then gives slots back instead of passing them on, and acquires none. */
static int above_fair_share(const gw_slot_key_t *sk, uint32_t extra, uint64_t now)
{
    if (now >= sk->others_wait_until_ns)
        return 0;
    return sk->holders + sk->idle_count + extra > pol_global_local_share(sk->conc->cfg.limit, sk->conc->setup.instances);
}

static void poll_later(gw_slot_key_t *sk);

static void on_poll_timer(gw_timer_t *timer)
{
    gw_slot_key_t *sk = H2O_STRUCT_FROM_MEMBER(gw_slot_key_t, poll_timer, timer);
    if (sk->queued == 0 || sk->polling)
        return;
    if (above_fair_share(sk, 1, gw_now_ns())) {
        poll_later(sk); /* its own slots serve its room meanwhile */
        return;
    }
    if (send_acquire(sk->conc->ctx, sk->conc, sk, NULL, room_front(sk)) != 0)
        fallback_room(sk, sk->conc);
}

static void schedule_poll(gw_slot_key_t *sk, uint64_t delay_ms)
{
    if (!sk->polling && !gw_timer_is_active(&sk->poll_timer))
        gw_timer_start(&sk->conc->ctx->timer_wheel, &sk->poll_timer, delay_ms, on_poll_timer);
}

/* The next poll after one that found no slot (or was not sent): twice as late, up to 50 ms. */
static void poll_later(gw_slot_key_t *sk)
{
    sk->poll_backoff_ms = sk->poll_backoff_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : sk->poll_backoff_ms * 2;
    schedule_poll(sk, sk->poll_backoff_ms);
}

static void on_acquire_reply(const redisReply *reply, void *data, const char *err)
{
    gw_acquire_op_t *op = data;
    gw_slot_key_t *sk = op->slot_key;
    gw_conc_rt_t *conc = op->conc;
    gw_req_admission_t *ra = op->ra;
    int granted = -1; /* -1: Redis failed */
    long long others = 0;
    if (err == NULL && parse_slot_reply(reply, &granted, &others) != 0) {
        count_bad_reply(op->ctx);
        granted = -1;
    }
    note_others_waiting(sk, others, gw_now_ns());
    --sk->acquiring;
    if (op->is_poll)
        sk->polling = 0;
    if (ra != NULL)
        ra->acquire = NULL;

    if (granted == 1) {
        gw_req_admission_t *to = ra;
        if (op->is_poll && sk->queued != 0) {
            to = room_front(sk);
            take_out_of_room(to);
            gw_admission_leave_room(to);
            sk->poll_backoff_ms = POLL_MIN_MS;
        }
        if (to != NULL) {
            hold_slot(to, sk, op->member, gw_now_ns());
            gw_proxy_start_upstream(to->r);
        } else {
            release_member(conc, op->key, op->key_len, op->member); /* its request is gone */
        }
        if (sk->queued != 0)
            schedule_poll(sk, 0); /* more slots may be free */
    } else if (granted == 0) {
        if (ra != NULL) {
            join_room(ra, sk, conc);
        } else if (sk->queued != 0) {
            poll_later(sk);
        }
    } else {
        /* A timed-out acquire may still run in Redis: the ZREM, pipelined behind it on the same
         * connection, takes its slot back. (A lost connection cannot send it: the lease expires.) */
        release_member(conc, op->key, op->key_len, op->member);
        if (ra != NULL) {
            ra->slot_key = NULL;
            conc_fallback(ra, conc);
        }
        if (op->is_poll)
            fallback_room(sk, conc);
    }
    free(op);
    gw_admission_release_concurrency(conc);
}

static void free_idle_slot(gw_idle_slot_t *slot)
{
    h2o_linklist_unlink(&slot->key_link);
    h2o_linklist_unlink(&slot->ctx_link);
    --slot->slot_key->idle_count;
    free(slot);
}

static void on_idle_timer(gw_timer_t *timer)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, idle_timer, timer);
    uint64_t now = gw_now_ns();
    while (!h2o_linklist_is_empty(&ctx->idle_slots)) {
        gw_idle_slot_t *oldest = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, ctx_link, ctx->idle_slots.next);
        uint64_t idle_ms = (now - oldest->idle_since_ns) / 1000000u;
        if (idle_ms < IDLE_SLOT_MS) {
            gw_timer_start(&ctx->timer_wheel, &ctx->idle_timer, IDLE_SLOT_MS - idle_ms, on_idle_timer);
            return;
        }
        release_member(oldest->slot_key->conc, oldest->key, oldest->key_len, oldest->member);
        free_idle_slot(oldest);
    }
}

/* Keeps a slot nobody waits for, for the key's next request. */
static void keep_idle(gw_ctx_t *ctx, gw_req_admission_t *ra, gw_slot_key_t *sk)
{
    gw_idle_slot_t *slot = xmalloc(sizeof(*slot) + ra->slot_redis_key_len + 1);
    slot->key_link = slot->ctx_link = (h2o_linklist_t){NULL, NULL};
    slot->slot_key = sk;
    slot->idle_since_ns = gw_now_ns();
    slot->renewed_ns = ra->renewed_ns;
    memcpy(slot->member, ra->member, sizeof(slot->member));
    memcpy(slot->key, ra->slot_redis_key, ra->slot_redis_key_len + 1);
    slot->key_len = ra->slot_redis_key_len;
    if (sk->idle.next == NULL)
        h2o_linklist_init_anchor(&sk->idle);
    h2o_linklist_insert(&sk->idle, &slot->key_link);
    h2o_linklist_insert(&ctx->idle_slots, &slot->ctx_link);
    ++sk->idle_count;
    if (!gw_timer_is_active(&ctx->idle_timer))
        gw_timer_start(&ctx->timer_wheel, &ctx->idle_timer, IDLE_SLOT_MS, on_idle_timer);
}

static void renew_slot(gw_ctx_t *ctx, gw_req_admission_t *ra, uint64_t now);

static uint64_t slot_lease_ns(gw_ctx_t *ctx)
{
    return ctx->gen->config->redis.slot_lease_ms * 1000000u;
}

/* 1 when a whole lease has passed since the slot was last renewed: Redis has let it go. */
static int lease_ran_out(gw_ctx_t *ctx, uint64_t renewed_ns, uint64_t now)
{
    return now - renewed_ns >= slot_lease_ns(ctx);
}

/* Gives the request the key's most recently kept slot: 0, or -1 when none is kept. */
static int reuse_idle(gw_ctx_t *ctx, gw_req_admission_t *ra, gw_slot_key_t *sk)
{
    if (sk->idle_count == 0)
        return -1;
    gw_idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, key_link, sk->idle.prev);
    if (lease_ran_out(ctx, slot->renewed_ns, gw_now_ns())) {
        /* this one and the others kept (older still) are gone from Redis, or about to be */
        while (sk->idle_count != 0) {
            slot = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, key_link, sk->idle.next);
            release_member(sk->conc, slot->key, slot->key_len, slot->member);
            free_idle_slot(slot);
        }
        return -1;
    }
    hold_slot(ra, sk, slot->member, slot->renewed_ns);
    free_idle_slot(slot);
    /* a slot passed from request to request may have missed a renewal round while kept */
    uint64_t now = gw_now_ns();
    if (now - ra->renewed_ns > slot_lease_ns(ctx) / 3)
        renew_slot(ctx, ra, now);
    return 0;
}

void gw_global_release_idle(gw_ctx_t *ctx)
{
    while (!h2o_linklist_is_empty(&ctx->idle_slots)) {
        gw_idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, ctx_link, ctx->idle_slots.next);
        release_member(slot->slot_key->conc, slot->key, slot->key_len, slot->member);
        free_idle_slot(slot);
    }
    gw_timer_stop(&ctx->idle_timer);
}

void gw_global_conc_enter(gw_req_admission_t *ra, gw_conc_rt_t *conc)
{
    gw_request_t *r = ra->r;
    gw_ctx_t *ctx = r->ctx;
    ra->conc = conc;
    if (!gw_redis_is_up(client_for(conc))) {
        conc_fallback(ra, conc);
        return;
    }
    gw_slot_key_t *sk;
    const char *key;
    size_t key_len;
    if (conc->per_key_slots == NULL) {
        sk = &conc->whole_slots;
        key = "_route", key_len = 6;
    } else {
        void *value;
        key = value_key(r, &conc->cfg.per, conc->per_key_slots, &value, gw_now_ns(), &key_len);
        sk = value;
    }
    sk->conc = conc;
    ra->slot_redis_key = make_key(r, conc->setup.key_base, key, key_len, &ra->slot_redis_key_len);
    ra->slot_wait_key_len = ra->slot_redis_key_len + 2;
    ra->slot_wait_key = h2o_mem_alloc_pool(&r->req->pool, ra->slot_wait_key_len + 1);
    memcpy(ra->slot_wait_key, ra->slot_redis_key, ra->slot_redis_key_len);
    memcpy(ra->slot_wait_key + ra->slot_redis_key_len, ":w", 3);
    ra->slot_key = sk;
    if (sk->queued != 0 || above_fair_share(sk, 1, gw_now_ns())) {
        /* first come, first served: others already wait; or this instance has its share */
        join_room(ra, sk, conc);
        return;
    }
    if (reuse_idle(ctx, ra, sk) == 0) {
        gw_proxy_start_upstream(r);
        return;
    }
    if (send_acquire(ctx, conc, sk, ra, ra) != 0) {
        ra->slot_key = NULL;
        conc_fallback(ra, conc);
    }
}

void gw_global_leave_room(gw_req_admission_t *ra)
{
    take_out_of_room(ra);
    ra->slot_key = NULL;
}

void gw_global_release(gw_req_admission_t *ra)
{
    if (ra->lease != NULL) {
        h2o_linklist_unlink(&ra->lease_link);
        ra->lease = NULL;
    }
    if (ra->acquire != NULL) {
        ra->acquire->ra = NULL; /* the reply releases the slot if it was granted */
        ra->acquire = NULL;
    }
    if (ra->in_slot_room) {
        take_out_of_room(ra);
        gw_admission_leave_room(ra);
    }
    if (ra->holds_global) {
        gw_ctx_t *ctx = ra->r->ctx;
        gw_slot_key_t *sk = ra->slot_key;
        ra->holds_global = 0;
        h2o_linklist_unlink(&ra->held_link);
        --sk->holders;
        uint64_t now = gw_now_ns();
        if (ra->slot_lost || lease_ran_out(ctx, ra->renewed_ns, now)) {
            /* Redis no longer counts it: whoever waits must acquire a slot of its own */
            release_member(sk->conc, ra->slot_redis_key, ra->slot_redis_key_len, ra->member);
            if (sk->queued != 0)
                schedule_poll(sk, 0);
        } else if (above_fair_share(sk, 1, now)) {
            /* another instance's waiter gets it (through its poll); ours keep polling */
            release_member(sk->conc, ra->slot_redis_key, ra->slot_redis_key_len, ra->member);
        } else if (sk->queued != 0) {
            /* the first local waiter takes the slot over: no round trip */
            gw_req_admission_t *next = room_front(sk);
            take_out_of_room(next);
            gw_admission_leave_room(next);
            hold_slot(next, sk, ra->member, ra->renewed_ns);
            gw_proxy_start_upstream(next->r);
        } else if (gw_redis_is_up(client_for(sk->conc))) {
            keep_idle(ctx, ra, sk);
        }
        /* else: Redis is unavailable; the slot expires with its lease */
    }
    ra->slot_key = NULL;
}

/* ---- lease renewals ---- */

static uint64_t renew_period_ms(gw_ctx_t *ctx)
{
    return ctx->gen->config->redis.slot_lease_ms / 3;
}

/* What a renewal of `member` said: gone (the slot is lost wherever this instance holds it: a
 * running request's is marked, a kept one dropped) and whether other instances wait for its
 * key. Only for a "gone" or "others wait" reply, so a walk over the slots held is fine. */
static void apply_renewal(gw_ctx_t *ctx, const char *member, int renewed, long long others)
{
    uint64_t now = gw_now_ns();
    for (h2o_linklist_t *node = ctx->held_slots.next; node != &ctx->held_slots; node = node->next) {
        gw_req_admission_t *ra = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, held_link, node);
        if (strcmp(ra->member, member) == 0) {
            if (!renewed)
                ra->slot_lost = 1;
            note_others_waiting(ra->slot_key, others, now);
            return;
        }
    }
    for (h2o_linklist_t *node = ctx->idle_slots.next; node != &ctx->idle_slots; node = node->next) {
        gw_idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(gw_idle_slot_t, ctx_link, node);
        if (strcmp(slot->member, member) == 0) {
            note_others_waiting(slot->slot_key, others, now);
            if (!renewed)
                free_idle_slot(slot);
            return;
        }
    }
}

typedef struct st_gw_renew_op_t {
    gw_ctx_t *ctx;
    char member[48];
} gw_renew_op_t;

static void on_renew_reply(const redisReply *reply, void *data, const char *err)
{
    gw_renew_op_t *op = data;
    int renewed;
    long long others;
    if (err == NULL) {
        if (parse_slot_reply(reply, &renewed, &others) != 0)
            count_bad_reply(op->ctx);
        else if (!renewed || others > 0)
            apply_renewal(op->ctx, op->member, renewed, others);
    }
    /* a renewal that failed is retried at the next round; past a whole lease the slot is lost */
    free(op);
}

static void renew_slot(gw_ctx_t *ctx, gw_req_admission_t *ra, uint64_t now)
{
    char lease[24];
    int n = snprintf(lease, sizeof(lease), "%llu", (unsigned long long)ctx->gen->config->redis.slot_lease_ms);
    const char *keys[] = {ra->slot_redis_key, ra->slot_wait_key};
    size_t key_lens[] = {ra->slot_redis_key_len, ra->slot_wait_key_len};
    const char *argv[] = {lease, ra->member, ctx->instance_id};
    size_t lens[] = {(size_t)n, strlen(ra->member), strlen(ctx->instance_id)};
    gw_renew_op_t *op = xmalloc(sizeof(*op));
    op->ctx = ctx;
    memcpy(op->member, ra->member, sizeof(op->member));
    if (gw_redis_eval(client_for(ra->conc), POL_GLOBAL_SCRIPT_RENEW, 2, keys, key_lens, 3, argv, lens, on_renew_reply, op) == 0)
        ra->renewed_ns = now;
    else
        free(op);
}

static void on_renew_timer(gw_timer_t *timer)
{
    gw_ctx_t *ctx = H2O_STRUCT_FROM_MEMBER(gw_ctx_t, renew_timer, timer);
    uint64_t now = gw_now_ns(), period_ms = renew_period_ms(ctx);
    for (h2o_linklist_t *node = ctx->held_slots.next; node != &ctx->held_slots; node = node->next) {
        gw_req_admission_t *ra = H2O_STRUCT_FROM_MEMBER(gw_req_admission_t, held_link, node);
        /* a slot younger than half a period was acquired (or renewed) recently enough */
        if (now - ra->renewed_ns >= period_ms * 1000000u / 2)
            renew_slot(ctx, ra, now);
    }
    gw_timer_start(&ctx->timer_wheel, &ctx->renew_timer, period_ms, on_renew_timer);
}

void gw_global_init_ctx(gw_ctx_t *ctx)
{
    h2o_linklist_init_anchor(&ctx->held_slots);
    h2o_linklist_init_anchor(&ctx->idle_slots);
    snprintf(ctx->instance_id, sizeof(ctx->instance_id), "%016llx", (unsigned long long)gw_random(ctx));
}

static void free_retired(gw_ctx_t *ctx)
{
    gw_redis_t *retired = ctx->retired_redis;
    ctx->retired_redis = NULL; /* the callbacks run by the free must not pick it (client_for) */
    gw_timer_stop(&ctx->retired_timer);
    gw_redis_free(retired); /* commands in flight get on_error */
}

static void on_retired_timer(gw_timer_t *timer)
{
    free_retired(H2O_STRUCT_FROM_MEMBER(gw_ctx_t, retired_timer, timer));
}

void gw_global_apply_redis(gw_ctx_t *ctx, const cfg_config_t *config)
{
    if (ctx->redis != NULL &&
        (!config->redis.enabled || !gw_redis_serves(ctx->redis, config->redis.address.text, config->redis.database))) {
        /* Another server (or none): requests of the old config still hold slots there, renewed
         * and released through the old client, which is kept for one slot_lease (after that
         * any slot it has not released has expired). A second move in that time frees it. */
        gw_global_release_idle(ctx); /* their ZREMs go to the old server */
        if (ctx->retired_redis != NULL)
            free_retired(ctx);
        ctx->retired_redis = ctx->redis;
        ctx->redis = NULL;
        gw_redis_retire(ctx->retired_redis);
        gw_timer_start(&ctx->timer_wheel, &ctx->retired_timer, ctx->redis_slot_lease_ms, on_retired_timer);
    }
    if (!config->redis.enabled) {
        ctx->redis_metrics.enabled = 0;
        gw_timer_stop(&ctx->renew_timer);
        return;
    }
    if (ctx->redis != NULL)
        gw_redis_update_settings(ctx->redis, &config->redis);
    else
        ctx->redis = gw_redis_new(ctx->loop, &ctx->timer_wheel, &ctx->h2o.receivers.hostinfo_getaddr, &config->redis,
                                  pol_global_scripts, POL_GLOBAL_SCRIPT_COUNT, &ctx->redis_metrics);
    ctx->redis_slot_lease_ms = config->redis.slot_lease_ms;
    if (!gw_timer_is_active(&ctx->renew_timer))
        gw_timer_start(&ctx->timer_wheel, &ctx->renew_timer, renew_period_ms(ctx), on_renew_timer);
}
