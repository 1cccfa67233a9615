/*
 * Rate limits: a request spends a token of its key's local lease; a lease request goes out when
 * the lease runs low (in the background) or has nothing (the request waits for it, bounded by
 * redis.timeout). Waiters of one key share one lease request. Tokens are dated (pol_global.h): a
 * request before the next one's date is refused until then, as Redis's "empty until T" is.
 *
 * Concurrency: each request acquires a slot (a lease in a sorted set) with one command and
 * releases it with ZREM when it finishes. A request that finds the key full waits in this
 * instance's room for that key (pol_room). The room learns of free slots in two ways: a local
 * request that finishes hands its slot straight to the first waiter (no command), and a poll
 * retries the acquire for the first waiter with a backoff from 2 ms to 50 ms (so a slot freed by
 * another instance is found within 50 ms, at a cost of at most 20 commands a second per key with
 * waiters, whatever the number of waiters). Held slots are renewed every third of
 * redis.slot_lease; a killed instance's slots expire after it.
 *
 * Fairness: a failed acquire marks this instance as waiting in Redis, and acquire and renewal
 * replies say whether other instances wait. While they do, an instance above its share
 * (limit / instances) gives freed slots back instead of handing them over or keeping them, and
 * its room does not poll (above_fair_share).
 *
 * Lost slots: a renewal that finds its member gone (Redis restarted without persistence, FLUSHALL,
 * an outage longer than the lease) marks the slot lost, and so does a release that comes a whole
 * slot_lease after the last renewal. A lost slot is not handed over nor kept for reuse.
 *
 * Slot reuse: a slot freed when nobody waits locally is kept for IDLE_SLOT_MS before its ZREM, and
 * the next local request of the key takes it without a command.
 *
 * Redis unavailable: the key's room is served by the `local` stand-in (fallback_ops) when
 * admission chose it; waiters that came through Redis are told UNAVAILABLE (admission applies
 * on_error). Holds the stand-in admits are `unlisted`: entered in Redis by REGISTER once it is
 * back, before the key's next acquire (same connection: Redis runs them in order).
 *
 * Invariants:
 * - every asynchronous operation holds a reference to its limiter, and a key entry with an
 *   operation in flight, a waiter, a holder, a kept slot or a poll timer is not at rest, so
 *   replies always find what they point to.
 * - a hold is in at most one of: a lease's waiters, a first acquire (h->op), a room, held.
 *   release() takes it out of whichever.
 * - a reply for a hold that was released meanwhile finds h->op's hold NULL: a slot it granted is
 *   given back at once (ZREM).
 */
#include "gw_lim_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gw_redis_reply.h"
#include "pol_global.h"
#include "pol_keyed.h"

#define POLL_MIN_MS 2
#define POLL_MAX_MS 50
#define IDLE_SLOT_MS 20
#define MAX_REGISTER 6      /* members per REGISTER (the Redis client takes 8 arguments at most) */
#define REGISTER_POLL_MS 50 /* how soon the stand-in's slots are entered in Redis once it is back */

struct st_gw_rlimits_t {
    h2o_loop_t *loop;
    h2o_timeout_t *zero;
    gw_timer_wheel_t *wheel;
    h2o_multithread_receiver_t *resolver;
    gw_redis_metrics_t *metrics;
    gw_redis_t *redis;   /* the current server's client */
    gw_redis_t *retired; /* the previous server's, until its slots' lease ends */
    gw_timer_t retired_timer;
    uint64_t slot_lease_ms;
    char instance_id[20]; /* random; names this process's slots in Redis */
    uint64_t slot_seq;
    h2o_linklist_t held;          /* holds holding a slot Redis counts (gw_hold_t.link) */
    h2o_linklist_t idle;          /* slots kept for reuse, oldest first (idle_slot_t.rl_link) */
    h2o_linklist_t unlisted_keys; /* slot keys with holders the stand-in admitted (slot_key_t.unlisted_link) */
    gw_timer_t register_timer;    /* enters them in Redis as soon as it is back */
    gw_timer_t renew_timer;
    gw_timer_t idle_timer;
};

/* Where a global limit's state lives: state is kept across a reload only when this is equal. */
typedef struct st_setup_t {
    char *key_base; /* "PREFIX{route:limit:" */
    char *address;  /* redis.address as written */
    uint32_t database;
    uint32_t instances;
} setup_t;

static void *xmalloc(size_t size)
{
    void *p = malloc(size != 0 ? size : 1);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

static void *xcalloc(size_t size)
{
    void *p = calloc(1, size);
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

static void setup_init(setup_t *s, const cfg_redis_t *redis, const char *route, const char *limit)
{
    s->key_base = make_key_base(redis, route, limit);
    s->address = h2o_strdup(NULL, redis->address.text, SIZE_MAX).base;
    s->database = redis->database;
    s->instances = redis->instances;
}

static void setup_dispose(setup_t *s)
{
    free(s->key_base);
    free(s->address);
}

static int setup_matches(const setup_t *s, const cfg_redis_t *redis, const char *route, const char *limit)
{
    if (!redis->enabled || strcmp(s->address, redis->address.text) != 0 || s->database != redis->database ||
        s->instances != redis->instances)
        return 0;
    char *base = make_key_base(redis, route, limit);
    int same = strcmp(base, s->key_base) == 0;
    free(base);
    return same;
}

/* The client of the Redis that holds a limit's state: the current one, or after a reload that
 * moved to another server, the previous one for the limits of the old config (NULL once gone). */
static gw_redis_t *client_for(gw_rlimits_t *rl, const setup_t *s)
{
    if (gw_redis_serves(rl->redis, s->address, s->database))
        return rl->redis;
    if (gw_redis_serves(rl->retired, s->address, s->database))
        return rl->retired;
    return NULL;
}

/* "BASEkey}" (and ":w" after it when `wait`), malloc'd; the key of a hold, or the shared names. */
static char *redis_key(const setup_t *s, gw_keyval_t key, int wait, size_t *len)
{
    if (key.base == NULL)
        key = (gw_keyval_t){"_missing", 8};
    size_t base_len = strlen(s->key_base);
    char *full = xmalloc(base_len + key.len + 4);
    memcpy(full, s->key_base, base_len);
    memcpy(full + base_len, key.base, key.len);
    *len = base_len + key.len;
    full[(*len)++] = '}';
    if (wait) {
        full[(*len)++] = ':';
        full[(*len)++] = 'w';
    }
    full[*len] = '\0';
    return full;
}

static void count_bad_reply(gw_rlimits_t *rl)
{
    ++rl->metrics->errors[GW_REDIS_ERR_REPLY];
}

static void ignore_reply(const redisReply *reply, void *data, const char *err)
{
    (void)reply, (void)data, (void)err;
}

/* ==== rate limits ==== */

typedef struct st_lease_entry_t {
    pol_lease_t lease;
    h2o_linklist_t waiters; /* gw_hold_t.link: waiting for the lease request in flight */
} lease_entry_t;

typedef struct st_gw_lim_rrate_t {
    gw_limiter_t super;
    gw_rlimits_t *rl;
    setup_t setup;
    pol_lease_params_t params;
    char args[5][24]; /* period_us, count, burst, batch, horizon_us */
    lease_entry_t whole;
    pol_keyed_t *per_key;
    uint64_t count, period_ms;
    uint32_t burst, max_keys;
    cfg_keyspec_t per;
} gw_lim_rrate_t;

typedef struct st_lease_op_t {
    gw_lim_rrate_t *rate; /* a reference */
    lease_entry_t *entry;
} lease_op_t;

static int lease_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data;
    const lease_entry_t *e = value;
    return pol_lease_at_rest(&e->lease, now_ns) && (e->waiters.next == NULL || e->waiters.next == &e->waiters);
}

static lease_entry_t *lease_entry(gw_lim_rrate_t *r, gw_keyval_t *key, uint64_t now_ns)
{
    lease_entry_t *e;
    if (r->per_key == NULL) {
        e = &r->whole;
        *key = (gw_keyval_t){"_route", 6};
    } else {
        e = pol_keyed_get(r->per_key, key->base, key->len, now_ns);
        if (e == pol_keyed_overflow(r->per_key))
            *key = (gw_keyval_t){"_overflow", 9};
    }
    if (e->waiters.next == NULL)
        h2o_linklist_init_anchor(&e->waiters);
    return e;
}

static void on_lease_reply(const redisReply *reply, void *data, const char *err)
{
    lease_op_t *op = data;
    gw_lim_rrate_t *r = op->rate;
    lease_entry_t *e = op->entry;
    gw_lease_reply_t got;
    int failed = err != NULL;
    if (!failed && gw_reply_lease(reply, r->params.batch, &got) != 0) {
        count_bad_reply(r->rl);
        failed = 1;
    }
    e->lease.fetching = 0;
    if (!failed)
        pol_lease_granted(&e->lease, &r->params, gw_now_ns(), got.granted, got.ready, got.due_ns, got.retry_ns);
    /* every waiter asks again (take() knows now), or applies on_error */
    while (!h2o_linklist_is_empty(&e->waiters)) {
        gw_hold_t *h = H2O_STRUCT_FROM_MEMBER(gw_hold_t, link, e->waiters.next);
        h2o_linklist_unlink(&h->link);
        h->state = GW_HOLD_IDLE;
        gw_hold_wake(r->rl->loop, r->rl->zero, h, failed ? GW_LIM_UNAVAILABLE : GW_LIM_WAIT);
    }
    free(op);
    gw_limiter_unref(&r->super);
}

static int request_lease(gw_lim_rrate_t *r, lease_entry_t *e, gw_keyval_t key)
{
    size_t key_len;
    char *full = redis_key(&r->setup, key, 0, &key_len);
    lease_op_t *op = xmalloc(sizeof(*op));
    *op = (lease_op_t){r, e};
    const char *argv[] = {r->args[0], r->args[1], r->args[2], r->args[3], r->args[4]};
    size_t lens[] = {strlen(argv[0]), strlen(argv[1]), strlen(argv[2]), strlen(argv[3]), strlen(argv[4])};
    const char *keys[] = {full};
    int ret =
        gw_redis_eval(client_for(r->rl, &r->setup), POL_GLOBAL_SCRIPT_LEASE, 1, keys, &key_len, 5, argv, lens, on_lease_reply, op);
    free(full);
    if (ret != 0) {
        free(op);
        return -1;
    }
    e->lease.fetching = 1;
    gw_limiter_ref(&r->super);
    return 0;
}

static int rate_up(gw_lim_rrate_t *r)
{
    return gw_redis_is_up(client_for(r->rl, &r->setup));
}

static gw_lim_result_t rrate_peek(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, gw_rate_info_t *info)
{
    gw_lim_rrate_t *r = (gw_lim_rrate_t *)l;
    if (!rate_up(r))
        return GW_LIM_ADMIT; /* take() will say UNAVAILABLE */
    gw_keyval_t key = h->key;
    lease_entry_t *e = lease_entry(r, &key, now_ns);
    return pol_lease_peek(&e->lease, &r->params, now_ns, &info->retry_after_ns) == 0 ? GW_LIM_REJECT : GW_LIM_ADMIT;
}

static gw_lim_result_t rrate_take(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, uint64_t max_wait_ns, gw_rate_info_t *info)
{
    gw_lim_rrate_t *r = (gw_lim_rrate_t *)l;
    (void)max_wait_ns; /* a token in Redis is not reserved ahead: a delayed request asks again */
    if (!rate_up(r))
        return GW_LIM_UNAVAILABLE;
    gw_keyval_t key = h->key;
    lease_entry_t *e = lease_entry(r, &key, now_ns);
    uint64_t not_before;
    int took = pol_lease_take(&e->lease, &r->params, now_ns, &not_before);
    /* refill ahead, so that steady traffic never waits for Redis */
    if (pol_lease_wants_refill(&e->lease, &r->params, now_ns) && request_lease(r, e, key) != 0 && !took)
        return GW_LIM_UNAVAILABLE;
    if (took)
        return GW_LIM_ADMIT;
    if (not_before != 0) {
        info->retry_after_ns = not_before - now_ns;
        return GW_LIM_REJECT;
    }
    if ((info->retry_after_ns = pol_lease_empty_for(&e->lease, now_ns)) != 0)
        return GW_LIM_REJECT;
    if (!e->lease.fetching && request_lease(r, e, key) != 0)
        return GW_LIM_UNAVAILABLE;
    h->limiter = l;
    h->entry = e;
    h->state = GW_HOLD_PENDING;
    h2o_linklist_insert(&e->waiters, &h->link);
    return GW_LIM_PENDING;
}

static void rrate_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    (void)l, (void)sample;
    gw_hold_cancel_wake(h);
    if (h->state == GW_HOLD_PENDING)
        h2o_linklist_unlink(&h->link);
    h->state = GW_HOLD_IDLE;
}

static void rrate_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    gw_lim_rrate_t *r = (gw_lim_rrate_t *)l;
    gw_limiter_describe_head(l, b, "global");
    gw_textbuf_printf(
        b, ",\"rate\":%llu,\"period_s\":%llu,\"burst\":%u,\"redis_up\":%s,\"batch\":%u,\"per\":", (unsigned long long)r->count,
        (unsigned long long)(r->period_ms / 1000), r->params.burst, rate_up(r) ? "true" : "false", r->params.batch);
    if (r->per_key != NULL) {
        gw_textbuf_printf(b, "\"%s\",\"keys\":%zu}", r->per.text, pol_keyed_count(r->per_key));
    } else {
        const pol_lease_t *lease = &r->whole.lease;
        gw_textbuf_printf(b, "null,\"leased\":%u,\"empty_for_ms\":%llu}", pol_lease_has_tokens(lease, now_ns) ? lease->tokens : 0,
                          (unsigned long long)(pol_lease_empty_for(lease, now_ns) / 1000000u));
    }
}

static void rrate_destroy(gw_limiter_t *l)
{
    gw_lim_rrate_t *r = (gw_lim_rrate_t *)l;
    pol_keyed_free(r->per_key);
    setup_dispose(&r->setup);
    cfg_keyspec_clear(&r->per);
    gw_limiter_dispose(l);
    free(r);
}

static const gw_limiter_ops_t rrate_ops = {
    .peek = rrate_peek, .take = rrate_take, .release = rrate_release, .describe = rrate_describe, .destroy = rrate_destroy};

/* ==== concurrency ==== */

typedef struct st_gw_lim_rslots_t gw_lim_rslots_t;

/* One key of a global concurrency limit on this instance (a pol_keyed value: zeroed = rested). */
typedef struct st_slot_key_t {
    gw_lim_rslots_t *owner;
    uint32_t holders;   /* this instance's holds of the key, through Redis or the fallback */
    uint32_t unlisted;  /* of which admitted by the fallback and not in Redis yet */
    uint32_t acquiring; /* acquire commands in flight */
    uint32_t polling;   /* 1 while the room's acquire is in flight */
    uint32_t idle_count;
    uint32_t poll_backoff_ms;
    uint32_t cluster_taken;        /* slots taken in Redis, as the last acquire reply said */
    uint32_t others_taken;         /* of which other instances', as far as this one can tell */
    uint64_t others_wait_until_ns; /* Redis said other instances wait for this key (until then) */
    h2o_linklist_t idle;           /* idle_slot_t.key_link, most recent last */
    h2o_linklist_t unlisted_holds; /* gw_hold_t.link of the unlisted holders */
    h2o_linklist_t unlisted_link;  /* in rl->unlisted_keys while `unlisted` is not 0 */
    gw_timer_t poll_timer;         /* next acquire for the room's first waiter */
    pol_room_t room;               /* last: its lists follow */
} slot_key_t;

struct st_gw_lim_rslots_t {
    gw_limiter_t super;
    gw_rlimits_t *rl;
    setup_t setup;
    uint32_t limit;
    pol_room_params_t room;
    slot_key_t *whole;
    pol_keyed_t *per_key;
    cfg_keyspec_t per;
    uint32_t in_flight, queued; /* over all keys, this instance */
};

/* A slot kept for reuse; in its key's `idle` and in rl->idle. */
typedef struct st_idle_slot_t {
    h2o_linklist_t key_link;
    h2o_linklist_t rl_link;
    slot_key_t *sk;
    uint64_t idle_since_ns;
    uint64_t renewed_ns;
    char member[40];
    size_t key_len;
    char key[];
} idle_slot_t;

/* What h->op points to (an acquire or a renewal) starts with this: a release clears `hold` so
 * that the reply finds nobody. */
typedef struct st_op_head_t {
    gw_hold_t *hold;
} op_head_t;

typedef struct st_acquire_op_t {
    op_head_t head;         /* the hold of a first acquire; NULL for a poll, or once it is released */
    gw_lim_rslots_t *slots; /* a reference */
    slot_key_t *sk;
    int is_poll;
    char member[40];
    size_t key_len;
    char key[]; /* the Redis key, for the ZREM of a slot nobody wants any more */
} acquire_op_t;

static size_t slot_key_size(unsigned levels)
{
    return offsetof(slot_key_t, room) + pol_room_size(levels);
}

static gw_hold_t *hold_of(pol_waiter_t *w)
{
    return H2O_STRUCT_FROM_MEMBER(gw_hold_t, waiter, w);
}

static int slot_key_at_rest(const void *value, void *data, uint64_t now_ns)
{
    (void)data, (void)now_ns;
    const slot_key_t *sk = value;
    return sk->holders == 0 && sk->acquiring == 0 && !sk->polling && sk->idle_count == 0 && sk->room.queued == 0 &&
           !h2o_timeout_is_linked((h2o_timeout_entry_t *)&sk->poll_timer.entry); /* h2o's API lacks const */
}

static slot_key_t *slot_key(gw_lim_rslots_t *s, gw_keyval_t *key, uint64_t now_ns)
{
    slot_key_t *sk;
    if (s->per_key == NULL) {
        sk = s->whole;
        *key = (gw_keyval_t){"_route", 6};
    } else {
        sk = pol_keyed_get(s->per_key, key->base, key->len, now_ns);
        if (sk == pol_keyed_overflow(s->per_key))
            *key = (gw_keyval_t){"_overflow", 9};
    }
    if (sk->idle.next == NULL) {
        h2o_linklist_init_anchor(&sk->idle);
        h2o_linklist_init_anchor(&sk->unlisted_holds);
    }
    sk->owner = s;
    return sk;
}

/* The key text of a hold, as slot_key() names it. */
static gw_keyval_t hold_key(gw_lim_rslots_t *s, gw_hold_t *h)
{
    gw_keyval_t key = h->key;
    if (s->per_key == NULL)
        return (gw_keyval_t){"_route", 6};
    if (h->entry == pol_keyed_overflow(s->per_key))
        return (gw_keyval_t){"_overflow", 9};
    return key;
}

static gw_redis_t *slots_client(gw_lim_rslots_t *s)
{
    return client_for(s->rl, &s->setup);
}

static void release_member(gw_lim_rslots_t *s, const char *key, size_t key_len, const char *member)
{
    const char *argv[] = {"ZREM", key, member};
    size_t lens[] = {4, key_len, strlen(member)};
    /* when Redis is unavailable the slot simply expires with its lease */
    gw_redis_command(slots_client(s), 3, argv, lens, ignore_reply, NULL);
}

static void release_hold_member(gw_lim_rslots_t *s, gw_hold_t *h)
{
    size_t len;
    char *key = redis_key(&s->setup, hold_key(s, h), 0, &len);
    release_member(s, key, len, h->member);
    free(key);
}

static void new_member(gw_rlimits_t *rl, char member[40])
{
    snprintf(member, 40, "%s:%llu", rl->instance_id, (unsigned long long)++rl->slot_seq);
}

static uint64_t slot_lease_ns(gw_rlimits_t *rl)
{
    return rl->slot_lease_ms * 1000000u;
}

/* 1 when a whole lease has passed since the slot was last renewed: Redis has let it go. */
static int lease_ran_out(gw_rlimits_t *rl, uint64_t renewed_ns, uint64_t now)
{
    return now - renewed_ns >= slot_lease_ns(rl);
}

static void hold_slot(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h, const char *member, uint64_t renewed_ns)
{
    snprintf(h->member, sizeof(h->member), "%s", member);
    h->limiter = &s->super;
    h->entry = sk;
    h->state = GW_HOLD_HELD;
    h->lost = 0;
    h->unlisted = 0;
    h->renewed_ns = renewed_ns;
    h->since_ns = gw_now_ns();
    ++sk->holders;
    ++s->in_flight;
    h2o_linklist_insert(&s->rl->held, &h->link);
}

static void note_others_waiting(slot_key_t *sk, long long others, uint64_t now)
{
    if (others > 0)
        sk->others_wait_until_ns = now + POL_WAITING_MARK_MS * 1000000ull;
}

/* 1 when other instances wait for the key and this one would hold more than its share with
 * `extra` more slots: it then gives slots back instead of passing them on, and acquires none. */
static int above_fair_share(const slot_key_t *sk, uint32_t extra, uint64_t now)
{
    if (now >= sk->others_wait_until_ns)
        return 0;
    return sk->holders + sk->idle_count + extra > pol_global_local_share(sk->owner->limit, sk->owner->setup.instances);
}

/* -- the room -- */

static gw_hold_t *room_front(slot_key_t *sk)
{
    pol_waiter_t *w = pol_room_peek(&sk->room, &sk->owner->room);
    return w != NULL ? hold_of(w) : NULL;
}

static gw_hold_t *take_from_room(slot_key_t *sk)
{
    pol_waiter_t *w = pol_room_next(&sk->room, &sk->owner->room);
    if (w == NULL)
        return NULL;
    --sk->owner->queued;
    return hold_of(w);
}

static void schedule_poll(slot_key_t *sk, uint64_t delay_ms);

/* The hold waits in the key's room: WAIT, or REJECT when there is no place (a less important
 * waiter it pushes out is told REJECT). */
static gw_lim_result_t join_room(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h)
{
    pol_waiter_t *evicted;
    if (pol_room_enter(&sk->room, &s->room, &h->waiter, h->level, gw_now_ns(), &evicted) != POL_WAIT) {
        h->state = GW_HOLD_IDLE;
        return GW_LIM_REJECT;
    }
    if (sk->room.queued == 1)
        sk->poll_backoff_ms = POLL_MIN_MS; /* a new wait: the first poll comes soon */
    h->limiter = &s->super;
    h->entry = sk;
    h->state = GW_HOLD_WAITING;
    ++s->queued;
    if (evicted != NULL) {
        gw_hold_t *out = hold_of(evicted);
        out->state = GW_HOLD_IDLE;
        --s->queued;
        gw_hold_wake(s->rl->loop, s->rl->zero, out, GW_LIM_REJECT);
    }
    schedule_poll(sk, sk->poll_backoff_ms);
    return GW_LIM_WAIT;
}

static void on_register_timer(gw_timer_t *timer);

static void unlisted_done(slot_key_t *sk)
{
    if (--sk->unlisted == 0)
        h2o_linklist_unlink(&sk->unlisted_link);
}

/* The local stand-in serves the room while Redis is unavailable: a waiter gets an unlisted slot
 * while the key's holders are fewer than this instance's share. */
static void grant_unlisted(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h)
{
    h->limiter = s->super.fallback;
    h->entry = sk;
    h->state = GW_HOLD_HELD;
    h->unlisted = 1;
    h->lost = 0;
    h->since_ns = gw_now_ns();
    ++sk->holders;
    ++s->in_flight;
    h2o_linklist_insert(&sk->unlisted_holds, &h->link);
    if (sk->unlisted++ == 0) {
        h2o_linklist_insert(&s->rl->unlisted_keys, &sk->unlisted_link);
        if (!gw_timer_is_active(&s->rl->register_timer))
            gw_timer_start(s->rl->wheel, &s->rl->register_timer, REGISTER_POLL_MS, on_register_timer);
    }
}

static uint32_t share_of(gw_lim_rslots_t *s)
{
    return pol_global_local_share(s->limit, s->setup.instances);
}

/* How many holders the stand-in allows this instance for the key while Redis is unavailable,
 * counting those it admitted through Redis: its share of the limit, and no more than the other
 * instances left free when Redis last answered (one may hold more than its share). */
static uint32_t fallback_allows(gw_lim_rslots_t *s, slot_key_t *sk)
{
    uint32_t share = share_of(s), left = sk->others_taken < s->limit ? s->limit - sk->others_taken : 0;
    return share < left ? share : left;
}

/* Waiters that came through Redis are told UNAVAILABLE (admission applies on_error); those that
 * came through the stand-in stay. */
static void tell_unavailable(pol_waiter_t *w, void *data)
{
    slot_key_t *sk = data;
    gw_lim_rslots_t *s = sk->owner;
    gw_hold_t *h = hold_of(w);
    if (h->limiter == s->super.fallback)
        return;
    pol_room_leave(&sk->room, w);
    --s->queued;
    h->state = GW_HOLD_IDLE;
    gw_hold_wake(s->rl->loop, s->rl->zero, h, GW_LIM_UNAVAILABLE);
}

/* Redis is unavailable for the key's room: on_error for the waiters that came through Redis, and
 * the stand-in serves the others while the key's holders are fewer than it allows. */
static void room_unavailable(gw_lim_rslots_t *s, slot_key_t *sk)
{
    pol_room_foreach(&sk->room, &s->room, tell_unavailable, sk);
    while (sk->room.queued != 0 && sk->holders < fallback_allows(s, sk)) {
        gw_hold_t *h = take_from_room(sk);
        grant_unlisted(s, sk, h);
        gw_hold_wake(s->rl->loop, s->rl->zero, h, GW_LIM_ADMIT);
    }
}

/* -- registering the stand-in's slots once Redis is back -- */

static void register_unlisted(gw_lim_rslots_t *s, slot_key_t *sk)
{
    gw_redis_t *redis = slots_client(s);
    while (sk->unlisted != 0 && gw_redis_is_up(redis)) {
        char lease[24];
        const char *argv[1 + MAX_REGISTER];
        size_t lens[1 + MAX_REGISTER];
        gw_hold_t *batch[MAX_REGISTER];
        int n = 0;
        snprintf(lease, sizeof(lease), "%llu", (unsigned long long)s->rl->slot_lease_ms);
        argv[0] = lease;
        lens[0] = strlen(lease);
        for (h2o_linklist_t *node = sk->unlisted_holds.next; node != &sk->unlisted_holds && n != MAX_REGISTER; node = node->next) {
            gw_hold_t *h = H2O_STRUCT_FROM_MEMBER(gw_hold_t, link, node);
            new_member(s->rl, h->member);
            batch[n] = h;
            argv[1 + n] = h->member;
            lens[1 + n] = strlen(h->member);
            ++n;
        }
        size_t key_len;
        char *key = redis_key(&s->setup, hold_key(s, batch[0]), 0, &key_len);
        const char *keys[] = {key};
        int ret = gw_redis_eval(redis, POL_GLOBAL_SCRIPT_REGISTER, 1, keys, &key_len, 1 + n, argv, lens, ignore_reply, NULL);
        free(key);
        if (ret != 0)
            return;
        /* Redis runs them before anything sent after: they count from now on */
        uint64_t now = gw_now_ns();
        for (int i = 0; i != n; ++i) {
            gw_hold_t *h = batch[i];
            h2o_linklist_unlink(&h->link);
            h->unlisted = 0;
            h->limiter = &s->super;
            h->renewed_ns = now;
            unlisted_done(sk);
            h2o_linklist_insert(&s->rl->held, &h->link);
        }
    }
}

static void on_register_timer(gw_timer_t *timer)
{
    gw_rlimits_t *rl = H2O_STRUCT_FROM_MEMBER(gw_rlimits_t, register_timer, timer);
    for (h2o_linklist_t *node = rl->unlisted_keys.next, *next; node != &rl->unlisted_keys; node = next) {
        next = node->next;
        slot_key_t *sk = H2O_STRUCT_FROM_MEMBER(slot_key_t, unlisted_link, node);
        register_unlisted(sk->owner, sk);
    }
    if (!h2o_linklist_is_empty(&rl->unlisted_keys))
        gw_timer_start(rl->wheel, &rl->register_timer, REGISTER_POLL_MS, on_register_timer);
}

/* -- acquiring -- */

static void on_acquire_reply(const redisReply *reply, void *data, const char *err);

/* An acquire for `h` (a first acquire) or for the room's first waiter (`h` NULL: a poll). */
static int send_acquire(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h, gw_keyval_t key)
{
    register_unlisted(s, sk);
    size_t key_len, wait_len;
    char *rkey = redis_key(&s->setup, key, 0, &key_len), *wkey = redis_key(&s->setup, key, 1, &wait_len);
    acquire_op_t *op = xmalloc(sizeof(*op) + key_len + 1);
    op->head.hold = h;
    op->slots = s;
    op->sk = sk;
    op->is_poll = h == NULL;
    new_member(s->rl, op->member);
    memcpy(op->key, rkey, key_len + 1);
    op->key_len = key_len;
    char limit[16], lease[24];
    snprintf(limit, sizeof(limit), "%u", s->limit);
    snprintf(lease, sizeof(lease), "%llu", (unsigned long long)s->rl->slot_lease_ms);
    const char *keys[] = {rkey, wkey};
    size_t key_lens[] = {key_len, wait_len};
    const char *argv[] = {limit, lease, op->member, s->rl->instance_id};
    size_t lens[] = {strlen(limit), strlen(lease), strlen(op->member), strlen(s->rl->instance_id)};
    int ret = gw_redis_eval(slots_client(s), POL_GLOBAL_SCRIPT_ACQUIRE, 2, keys, key_lens, 4, argv, lens, on_acquire_reply, op);
    free(rkey);
    free(wkey);
    if (ret != 0) {
        free(op);
        return -1;
    }
    gw_limiter_ref(&s->super);
    ++sk->acquiring;
    if (h != NULL) {
        h->op = op;
        h->state = GW_HOLD_PENDING;
        h->limiter = &s->super;
        h->entry = sk;
    } else {
        sk->polling = 1;
    }
    return 0;
}

static void poll_later(slot_key_t *sk);

static void on_poll_timer(gw_timer_t *timer)
{
    slot_key_t *sk = H2O_STRUCT_FROM_MEMBER(slot_key_t, poll_timer, timer);
    gw_lim_rslots_t *s = sk->owner;
    if (sk->room.queued == 0 || sk->polling)
        return;
    if (!gw_redis_is_up(slots_client(s))) {
        room_unavailable(s, sk);
        if (sk->room.queued != 0)
            poll_later(sk);
        return;
    }
    if (above_fair_share(sk, 1, gw_now_ns())) {
        poll_later(sk); /* its own slots serve its room meanwhile */
        return;
    }
    gw_hold_t *front = room_front(sk);
    if (send_acquire(s, sk, NULL, hold_key(s, front)) != 0) {
        room_unavailable(s, sk);
        if (sk->room.queued != 0)
            poll_later(sk);
    }
}

static void schedule_poll(slot_key_t *sk, uint64_t delay_ms)
{
    if (!sk->polling && !gw_timer_is_active(&sk->poll_timer))
        gw_timer_start(sk->owner->rl->wheel, &sk->poll_timer, delay_ms, on_poll_timer);
}

/* The next poll after one that found no slot (or was not sent): twice as late, up to 50 ms. */
static void poll_later(slot_key_t *sk)
{
    sk->poll_backoff_ms = sk->poll_backoff_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : sk->poll_backoff_ms * 2;
    if (sk->poll_backoff_ms < POLL_MIN_MS)
        sk->poll_backoff_ms = POLL_MIN_MS;
    schedule_poll(sk, sk->poll_backoff_ms);
}

static void on_acquire_reply(const redisReply *reply, void *data, const char *err)
{
    acquire_op_t *op = data;
    gw_lim_rslots_t *s = op->slots;
    slot_key_t *sk = op->sk;
    gw_hold_t *h = op->head.hold;
    int granted = -1; /* -1: Redis failed */
    gw_slot_reply_t got = {0};
    if (err == NULL) {
        if (gw_reply_slot(reply, 1, &got) != 0)
            count_bad_reply(s->rl);
        else
            granted = got.flag;
    }
    uint32_t others = got.others, taken = got.taken;
    uint64_t now = gw_now_ns();
    if (granted >= 0) {
        /* ours in Redis: the slots held through it, those kept idle, and this one */
        uint32_t ours = sk->holders - sk->unlisted + sk->idle_count + (granted == 1);
        sk->cluster_taken = taken;
        sk->others_taken = taken > ours ? taken - ours : 0;
    }
    note_others_waiting(sk, others, now);
    --sk->acquiring;
    if (op->is_poll)
        sk->polling = 0;
    if (h != NULL) {
        h->op = NULL;
        h->state = GW_HOLD_IDLE;
    }

    if (granted == 1) {
        gw_hold_t *to = h;
        if (op->is_poll && sk->room.queued != 0) {
            to = take_from_room(sk);
            sk->poll_backoff_ms = POLL_MIN_MS;
        }
        if (to != NULL) {
            hold_slot(s, sk, to, op->member, now);
            gw_hold_wake(s->rl->loop, s->rl->zero, to, GW_LIM_ADMIT);
        } else {
            release_member(s, op->key, op->key_len, op->member); /* its request is gone */
        }
        if (sk->room.queued != 0)
            schedule_poll(sk, 0); /* more slots may be free */
    } else if (granted == 0) {
        if (h != NULL)
            gw_hold_wake(s->rl->loop, s->rl->zero, h, join_room(s, sk, h));
        else if (sk->room.queued != 0)
            poll_later(sk);
    } else {
        /* A timed-out acquire may still run in Redis: the ZREM, pipelined behind it on the same
         * connection, takes its slot back. (A lost connection cannot send it: the lease expires.) */
        release_member(s, op->key, op->key_len, op->member);
        if (h != NULL)
            gw_hold_wake(s->rl->loop, s->rl->zero, h, GW_LIM_UNAVAILABLE);
        if (op->is_poll)
            room_unavailable(s, sk);
    }
    free(op);
    gw_limiter_unref(&s->super);
}

/* -- kept slots -- */

static void free_idle_slot(idle_slot_t *slot)
{
    h2o_linklist_unlink(&slot->key_link);
    h2o_linklist_unlink(&slot->rl_link);
    --slot->sk->idle_count;
    free(slot);
}

static void on_idle_timer(gw_timer_t *timer)
{
    gw_rlimits_t *rl = H2O_STRUCT_FROM_MEMBER(gw_rlimits_t, idle_timer, timer);
    uint64_t now = gw_now_ns();
    while (!h2o_linklist_is_empty(&rl->idle)) {
        idle_slot_t *oldest = H2O_STRUCT_FROM_MEMBER(idle_slot_t, rl_link, rl->idle.next);
        uint64_t idle_ms = (now - oldest->idle_since_ns) / 1000000u;
        if (idle_ms < IDLE_SLOT_MS) {
            gw_timer_start(rl->wheel, &rl->idle_timer, IDLE_SLOT_MS - idle_ms, on_idle_timer);
            return;
        }
        release_member(oldest->sk->owner, oldest->key, oldest->key_len, oldest->member);
        free_idle_slot(oldest);
    }
}

/* Keeps a slot nobody waits for, for the key's next request. */
static void keep_idle(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h)
{
    size_t key_len;
    char *key = redis_key(&s->setup, hold_key(s, h), 0, &key_len);
    idle_slot_t *slot = xcalloc(sizeof(*slot) + key_len + 1);
    slot->sk = sk;
    slot->idle_since_ns = gw_now_ns();
    slot->renewed_ns = h->renewed_ns;
    memcpy(slot->member, h->member, sizeof(slot->member));
    memcpy(slot->key, key, key_len + 1);
    slot->key_len = key_len;
    free(key);
    h2o_linklist_insert(&sk->idle, &slot->key_link);
    h2o_linklist_insert(&s->rl->idle, &slot->rl_link);
    ++sk->idle_count;
    if (!gw_timer_is_active(&s->rl->idle_timer))
        gw_timer_start(s->rl->wheel, &s->rl->idle_timer, IDLE_SLOT_MS, on_idle_timer);
}

static void renew_slot(gw_rlimits_t *rl, gw_lim_rslots_t *s, gw_hold_t *h, uint64_t now);

/* Gives the hold the key's most recently kept slot: 0, or -1 when none is kept. */
static int reuse_idle(gw_lim_rslots_t *s, slot_key_t *sk, gw_hold_t *h)
{
    if (sk->idle_count == 0)
        return -1;
    gw_rlimits_t *rl = s->rl;
    idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(idle_slot_t, key_link, sk->idle.prev);
    uint64_t now = gw_now_ns();
    if (lease_ran_out(rl, slot->renewed_ns, now)) {
        /* this one and the others kept (older still) are gone from Redis, or about to be */
        while (sk->idle_count != 0) {
            slot = H2O_STRUCT_FROM_MEMBER(idle_slot_t, key_link, sk->idle.next);
            release_member(s, slot->key, slot->key_len, slot->member);
            free_idle_slot(slot);
        }
        return -1;
    }
    hold_slot(s, sk, h, slot->member, slot->renewed_ns);
    free_idle_slot(slot);
    /* a slot passed from request to request may have missed a renewal round while kept */
    if (now - h->renewed_ns > slot_lease_ns(rl) / 3)
        renew_slot(rl, s, h, now);
    return 0;
}

/* -- the limiter -- */

static gw_lim_result_t rslots_acquire(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns)
{
    gw_lim_rslots_t *s = (gw_lim_rslots_t *)l;
    if (!gw_redis_is_up(slots_client(s)))
        return GW_LIM_UNAVAILABLE;
    gw_keyval_t key = h->key;
    slot_key_t *sk = slot_key(s, &key, now_ns);
    h->entry = sk;
    h->limiter = l;
    if (sk->room.queued != 0 || above_fair_share(sk, 1, now_ns))
        return join_room(s, sk, h); /* first come, first served; or this instance has its share */
    if (reuse_idle(s, sk, h) == 0)
        return GW_LIM_ADMIT;
    if (send_acquire(s, sk, h, key) != 0)
        return GW_LIM_UNAVAILABLE;
    return GW_LIM_PENDING;
}

static void rslots_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    (void)l, (void)sample;
    gw_hold_cancel_wake(h);
    slot_key_t *sk = h->entry;
    gw_lim_rslots_t *s = sk != NULL ? sk->owner : NULL;
    switch (h->state) {
    case GW_HOLD_PENDING:
        ((op_head_t *)h->op)->hold = NULL; /* the reply gives the slot back if it was granted */
        h->op = NULL;
        break;
    case GW_HOLD_WAITING:
        pol_room_leave(&sk->room, &h->waiter);
        --s->queued;
        break;
    case GW_HOLD_HELD: {
        gw_rlimits_t *rl = s->rl;
        h2o_linklist_unlink(&h->link);
        --sk->holders;
        --s->in_flight;
        if (h->op != NULL) {
            ((op_head_t *)h->op)->hold = NULL; /* a renewal in flight: its reply finds nobody */
            h->op = NULL;
        }
        if (h->unlisted) {
            /* the stand-in's slot: Redis never counted it */
            unlisted_done(sk);
            if (!gw_redis_is_up(slots_client(s)))
                room_unavailable(s, sk);
            else if (sk->room.queued != 0)
                schedule_poll(sk, 0);
            break;
        }
        uint64_t now = gw_now_ns();
        if (h->lost || lease_ran_out(rl, h->renewed_ns, now)) {
            /* Redis no longer counts it: whoever waits must acquire a slot of its own */
            release_hold_member(s, h);
            if (sk->room.queued != 0)
                schedule_poll(sk, 0);
        } else if (above_fair_share(sk, 1, now)) {
            /* another instance's waiter gets it (through its poll); ours keep polling */
            release_hold_member(s, h);
        } else if (sk->room.queued != 0) {
            /* the first local waiter takes the slot over: no round trip */
            gw_hold_t *next = take_from_room(sk);
            hold_slot(s, sk, next, h->member, h->renewed_ns);
            gw_hold_wake(rl->loop, rl->zero, next, GW_LIM_ADMIT);
        } else if (gw_redis_is_up(slots_client(s))) {
            keep_idle(s, sk, h);
        }
        /* else: Redis is unavailable; the slot expires with its lease */
    } break;
    default:
        break;
    }
    h->state = GW_HOLD_IDLE;
}

static void rslots_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    gw_lim_rslots_t *s = (gw_lim_rslots_t *)l;
    (void)now_ns;
    gw_limiter_describe_head(l, b, "global");
    gw_textbuf_printf(b,
                      ",\"limit\":%u,\"queue_size\":%u,\"in_flight\":%u,\"queued\":%u,\"instances\":%u,\"share\":%u,"
                      "\"redis_up\":%s,\"per\":",
                      s->limit, s->room.size, s->in_flight, s->queued, s->setup.instances, share_of(s),
                      gw_redis_is_up(slots_client(s)) ? "true" : "false");
    if (s->per_key != NULL)
        gw_textbuf_printf(b, "\"%s\",\"keys\":%zu}", s->per.text, pol_keyed_count(s->per_key));
    else
        gw_textbuf_printf(b, "null,\"cluster_in_flight\":%u,\"kept\":%u}", s->whole->cluster_taken, s->whole->idle_count);
}

static uint32_t rslots_current_limit(gw_limiter_t *l)
{
    return ((gw_lim_rslots_t *)l)->limit;
}

static void stop_poll(const char *key, size_t len, void *value, int shared, void *data)
{
    (void)key, (void)len, (void)shared, (void)data;
    gw_timer_stop(&((slot_key_t *)value)->poll_timer);
}

static void rslots_destroy(gw_limiter_t *l)
{
    gw_lim_rslots_t *s = (gw_lim_rslots_t *)l;
    /* no request uses the limit any more, but a poll timer may still be armed for a room that
     * has emptied, and slots may be kept */
    for (h2o_linklist_t *node = s->rl->idle.next, *next; node != &s->rl->idle; node = next) {
        next = node->next;
        idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(idle_slot_t, rl_link, node);
        if (slot->sk->owner == s) {
            release_member(s, slot->key, slot->key_len, slot->member);
            free_idle_slot(slot);
        }
    }
    if (s->per_key != NULL)
        pol_keyed_foreach(s->per_key, stop_poll, NULL);
    else
        gw_timer_stop(&s->whole->poll_timer);
    pol_keyed_free(s->per_key);
    free(s->whole);
    setup_dispose(&s->setup);
    cfg_keyspec_clear(&s->per);
    gw_limiter_dispose(l);
    free(s);
}

static const gw_limiter_ops_t rslots_ops = {.acquire = rslots_acquire,
                                            .release = rslots_release,
                                            .describe = rslots_describe,
                                            .current_limit = rslots_current_limit,
                                            .destroy = rslots_destroy};

/* The `local` stand-in: the same keys, rooms and holders, the share as its limit. */
typedef struct st_gw_lim_rslots_fallback_t {
    gw_limiter_t super;
    gw_lim_rslots_t *owner; /* not a reference: the owner holds this one */
} gw_lim_rslots_fallback_t;

static gw_lim_result_t fallback_acquire(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns)
{
    gw_lim_rslots_t *s = ((gw_lim_rslots_fallback_t *)l)->owner;
    gw_keyval_t key = h->key;
    slot_key_t *sk = slot_key(s, &key, now_ns);
    h->entry = sk;
    if (sk->holders < fallback_allows(s, sk) && sk->room.queued == 0) {
        grant_unlisted(s, sk, h);
        return GW_LIM_ADMIT;
    }
    gw_lim_result_t r = join_room(s, sk, h);
    h->limiter = l; /* served by the stand-in while Redis is away */
    return r;
}

static void fallback_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    rslots_release(&((gw_lim_rslots_fallback_t *)l)->owner->super, h, sample);
}

static void fallback_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    rslots_describe(&((gw_lim_rslots_fallback_t *)l)->owner->super, b, now_ns);
}

static void fallback_destroy(gw_limiter_t *l)
{
    gw_limiter_dispose(l);
    free(l);
}

static const gw_limiter_ops_t fallback_ops = {.acquire = fallback_acquire,
                                              .release = fallback_release,
                                              .describe = fallback_describe,
                                              .current_limit = rslots_current_limit,
                                              .destroy = fallback_destroy};

/* -- renewals -- */

static uint64_t renew_period_ms(gw_rlimits_t *rl)
{
    return rl->slot_lease_ms / 3;
}

typedef struct st_renew_op_t {
    op_head_t head; /* the hold renewed; NULL once it was released */
    gw_rlimits_t *rl;
    gw_lim_rslots_t *slots; /* a reference */
} renew_op_t;

static void on_renew_reply(const redisReply *reply, void *data, const char *err)
{
    renew_op_t *op = data;
    gw_slot_reply_t got;
    if (err == NULL) {
        if (gw_reply_slot(reply, 0, &got) != 0) {
            count_bad_reply(op->rl);
        } else if (op->head.hold != NULL) {
            gw_hold_t *h = op->head.hold;
            if (!got.flag)
                h->lost = 1;
            note_others_waiting(h->entry, got.others, gw_now_ns());
        }
    }
    /* a renewal that failed is retried at the next round; past a whole lease the slot is lost */
    if (op->head.hold != NULL)
        op->head.hold->op = NULL;
    gw_limiter_unref(&op->slots->super);
    free(op);
}

static void renew_slot(gw_rlimits_t *rl, gw_lim_rslots_t *s, gw_hold_t *h, uint64_t now)
{
    if (h->op != NULL)
        return; /* one renewal at a time */
    char lease[24];
    snprintf(lease, sizeof(lease), "%llu", (unsigned long long)rl->slot_lease_ms);
    size_t key_len, wait_len;
    gw_keyval_t key = hold_key(s, h);
    char *rkey = redis_key(&s->setup, key, 0, &key_len), *wkey = redis_key(&s->setup, key, 1, &wait_len);
    const char *keys[] = {rkey, wkey};
    size_t key_lens[] = {key_len, wait_len};
    const char *argv[] = {lease, h->member, rl->instance_id};
    size_t lens[] = {strlen(lease), strlen(h->member), strlen(rl->instance_id)};
    renew_op_t *op = xmalloc(sizeof(*op));
    *op = (renew_op_t){{h}, rl, s};
    if (gw_redis_eval(client_for(rl, &s->setup), POL_GLOBAL_SCRIPT_RENEW, 2, keys, key_lens, 3, argv, lens, on_renew_reply, op) ==
        0) {
        h->renewed_ns = now;
        h->op = op;
        gw_limiter_ref(&s->super);
    } else {
        free(op);
    }
    free(rkey);
    free(wkey);
}

static void on_renew_timer(gw_timer_t *timer)
{
    gw_rlimits_t *rl = H2O_STRUCT_FROM_MEMBER(gw_rlimits_t, renew_timer, timer);
    uint64_t now = gw_now_ns(), period_ms = renew_period_ms(rl);
    for (h2o_linklist_t *node = rl->held.next; node != &rl->held; node = node->next) {
        gw_hold_t *h = H2O_STRUCT_FROM_MEMBER(gw_hold_t, link, node);
        /* a slot younger than half a period was acquired (or renewed) recently enough */
        if (now - h->renewed_ns >= period_ms * 1000000u / 2)
            renew_slot(rl, ((slot_key_t *)h->entry)->owner, h, now);
    }
    gw_timer_start(rl->wheel, &rl->renew_timer, period_ms, on_renew_timer);
}

/* ==== construction ==== */

gw_limiter_t *gw_lim_redis_rate_new(gw_rlimits_t *rl, const char *route, const cfg_rate_limit_t *cfg, const cfg_redis_t *redis,
                                    uint64_t seed)
{
    gw_lim_rrate_t *r = xcalloc(sizeof(*r));
    gw_limiter_init(&r->super, &rrate_ops, GW_LIMITER_RATE, route, cfg->name);
    r->rl = rl;
    r->count = cfg->count;
    r->period_ms = cfg->period_ms;
    pol_lease_params_init(&r->params, cfg->count, cfg->period_ms * 1000000u, cfg->burst, redis->instances);
    snprintf(r->args[0], sizeof(r->args[0]), "%llu", (unsigned long long)r->params.period_us);
    snprintf(r->args[1], sizeof(r->args[1]), "%llu", (unsigned long long)r->params.count);
    snprintf(r->args[2], sizeof(r->args[2]), "%u", r->params.burst);
    snprintf(r->args[3], sizeof(r->args[3]), "%u", r->params.batch);
    snprintf(r->args[4], sizeof(r->args[4]), "%u", POL_LEASE_LIFETIME_NS / 1000u);
    r->burst = cfg->burst;
    r->max_keys = cfg->max_keys;
    cfg_keyspec_copy(&r->per, &cfg->per);
    setup_init(&r->setup, redis, route, cfg->name);
    if (cfg->per.num_keys != 0)
        r->per_key = pol_keyed_new(sizeof(lease_entry_t), cfg->max_keys, lease_at_rest, NULL, seed);
    return &r->super;
}

int gw_lim_redis_rate_unchanged(gw_limiter_t *l, const cfg_rate_limit_t *cfg)
{
    gw_lim_rrate_t *r = (gw_lim_rrate_t *)l;
    return l->ops == &rrate_ops && r->count == cfg->count && r->period_ms == cfg->period_ms && r->burst == cfg->burst &&
           r->max_keys == cfg->max_keys && cfg_keyspec_equal(&r->per, &cfg->per);
}

gw_limiter_t *gw_lim_redis_slots_new(gw_rlimits_t *rl, const char *route, const cfg_concurrency_t *cfg, const cfg_redis_t *redis,
                                     unsigned levels, uint64_t seed)
{
    gw_lim_rslots_t *s = xcalloc(sizeof(*s));
    gw_limiter_init(&s->super, &rslots_ops, GW_LIMITER_SLOTS, route, cfg->name);
    s->rl = rl;
    s->limit = cfg->limit;
    s->room = (pol_room_params_t){cfg->queue_size, (uint8_t)levels, cfg->queue_order == CFG_QUEUE_LIFO, 0};
    setup_init(&s->setup, redis, route, cfg->name);
    cfg_keyspec_copy(&s->per, &cfg->per);
    if (cfg->per.num_keys != 0)
        s->per_key = pol_keyed_new(slot_key_size(levels), cfg->max_keys, slot_key_at_rest, NULL, seed);
    else
        s->whole = xcalloc(slot_key_size(levels));
    gw_lim_rslots_fallback_t *f = xcalloc(sizeof(*f));
    gw_limiter_init(&f->super, &fallback_ops, GW_LIMITER_SLOTS, route, cfg->name);
    f->owner = s;
    s->super.fallback = &f->super;
    return &s->super;
}

int gw_lim_redis_matches(gw_limiter_t *l, const cfg_redis_t *redis)
{
    if (l->ops == &rrate_ops)
        return setup_matches(&((gw_lim_rrate_t *)l)->setup, redis, l->route, l->name);
    if (l->ops == &rslots_ops)
        return setup_matches(&((gw_lim_rslots_t *)l)->setup, redis, l->route, l->name);
    return 0;
}

int gw_lim_redis_slots_compatible(gw_limiter_t *l, const cfg_concurrency_t *cfg, unsigned levels)
{
    gw_lim_rslots_t *s = (gw_lim_rslots_t *)l;
    return l->ops == &rslots_ops && s->room.levels == levels && cfg_keyspec_equal(&s->per, &cfg->per);
}

void gw_lim_redis_slots_reconfigure(gw_limiter_t *l, const cfg_concurrency_t *cfg)
{
    gw_lim_rslots_t *s = (gw_lim_rslots_t *)l;
    s->limit = cfg->limit;
    s->room.size = cfg->queue_size;
    s->room.lifo = cfg->queue_order == CFG_QUEUE_LIFO;
}

/* ==== the shared part ==== */

gw_rlimits_t *gw_rlimits_new(h2o_loop_t *loop, h2o_timeout_t *zero, gw_timer_wheel_t *wheel, h2o_multithread_receiver_t *resolver,
                             gw_redis_metrics_t *metrics, gw_rng_t *rng)
{
    gw_rlimits_t *rl = xcalloc(sizeof(*rl));
    rl->loop = loop;
    rl->zero = zero;
    rl->wheel = wheel;
    rl->resolver = resolver;
    rl->metrics = metrics;
    h2o_linklist_init_anchor(&rl->held);
    h2o_linklist_init_anchor(&rl->idle);
    h2o_linklist_init_anchor(&rl->unlisted_keys);
    snprintf(rl->instance_id, sizeof(rl->instance_id), "%016llx", (unsigned long long)gw_rng_next(rng));
    return rl;
}

gw_redis_t *gw_rlimits_redis(gw_rlimits_t *rl)
{
    return rl->redis;
}

void gw_rlimits_release_idle(gw_rlimits_t *rl)
{
    while (!h2o_linklist_is_empty(&rl->idle)) {
        idle_slot_t *slot = H2O_STRUCT_FROM_MEMBER(idle_slot_t, rl_link, rl->idle.next);
        release_member(slot->sk->owner, slot->key, slot->key_len, slot->member);
        free_idle_slot(slot);
    }
    gw_timer_stop(&rl->idle_timer);
}

static void free_retired(gw_rlimits_t *rl)
{
    gw_redis_t *retired = rl->retired;
    rl->retired = NULL; /* the callbacks run by the free must not pick it (client_for) */
    gw_timer_stop(&rl->retired_timer);
    gw_redis_free(retired); /* commands in flight get on_error */
}

static void on_retired_timer(gw_timer_t *timer)
{
    free_retired(H2O_STRUCT_FROM_MEMBER(gw_rlimits_t, retired_timer, timer));
}

void gw_rlimits_apply(gw_rlimits_t *rl, const cfg_config_t *config)
{
    if (rl->redis != NULL &&
        (!config->redis.enabled || !gw_redis_serves(rl->redis, config->redis.address.text, config->redis.database))) {
        /* Another server (or none): requests of the old config still hold slots there, renewed
         * and released through the old client, which is kept for one slot_lease (after that
         * any slot it has not released has expired). A second move in that time frees it. */
        gw_rlimits_release_idle(rl); /* their ZREMs go to the old server */
        if (rl->retired != NULL)
            free_retired(rl);
        rl->retired = rl->redis;
        rl->redis = NULL;
        gw_redis_retire(rl->retired);
        gw_timer_start(rl->wheel, &rl->retired_timer, rl->slot_lease_ms, on_retired_timer);
    }
    if (!config->redis.enabled) {
        rl->metrics->enabled = 0;
        gw_timer_stop(&rl->renew_timer);
        return;
    }
    if (rl->redis != NULL)
        gw_redis_update_settings(rl->redis, &config->redis);
    else
        rl->redis = gw_redis_new(rl->loop, rl->wheel, rl->resolver, &config->redis, pol_global_scripts, POL_GLOBAL_SCRIPT_COUNT,
                                 rl->metrics);
    rl->slot_lease_ms = config->redis.slot_lease_ms;
    if (!gw_timer_is_active(&rl->renew_timer))
        gw_timer_start(rl->wheel, &rl->renew_timer, renew_period_ms(rl), on_renew_timer);
}
