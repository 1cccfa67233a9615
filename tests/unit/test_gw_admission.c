/*
 * Admission (gateway/gw_admission.c) against fake limiters: the order of decisions (peek every
 * rate limit, then take, then the concurrency limits in list order), delays, the room, the
 * hand-over through the loop, release in every state, and redis.on_error. The fakes answer what
 * each test scripts and record every call in one log, so a test states exactly which limiter was
 * asked what, in which order. One test uses the real local semaphore for the hand-over.
 */
#include <stdlib.h>
#include <time.h>
#include "check.h"
#include "gw_admission.h"
#include "gw_arena.h"
#include "gw_lim_adaptive.h"
#include "gw_lim_local.h"

/* ---- the fake limiter ---- */

#define FAKE_MAX_SCRIPT 8
#define FAKE_MAX_HOLDS 8

typedef struct {
    gw_limiter_t super;
    char tag;                                /* its letter in the call log */
    gw_lim_result_t script[FAKE_MAX_SCRIPT]; /* answers of successive peek/take/acquire calls */
    size_t script_len, next;
    gw_rate_info_t info;             /* what take and peek tell besides the result */
    gw_hold_t *owed[FAKE_MAX_HOLDS]; /* holds answered WAIT or PENDING, not released yet */
    size_t num_owed;
    int held;     /* slots held */
    int releases; /* release calls that gave something back */
    gw_sample_t last_sample;
    int got_sample;
    int destroyed;
} fake_t;

static char call_log[512];
static h2o_loop_t *loop;
static h2o_timeout_t zero;
static gw_timer_wheel_t wheel;
static gw_redis_metrics_t redis_metrics;
static gw_adm_env_t env;

static void log_call(fake_t *f, const char *op)
{
    size_t len = strlen(call_log);
    snprintf(call_log + len, sizeof(call_log) - len, "%s%c.%s", len != 0 ? " " : "", f->tag, op);
}

static gw_lim_result_t scripted(fake_t *f)
{
    return f->next < f->script_len ? f->script[f->next++] : GW_LIM_ADMIT;
}

static void owe(fake_t *f, gw_hold_t *h, gw_lim_result_t r)
{
    if (r == GW_LIM_WAIT || r == GW_LIM_PENDING) {
        h->state = r == GW_LIM_WAIT ? GW_HOLD_WAITING : GW_HOLD_PENDING;
        f->owed[f->num_owed++] = h;
    }
}

static gw_lim_result_t fake_peek(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, gw_rate_info_t *info)
{
    fake_t *f = (fake_t *)l;
    (void)h, (void)now_ns;
    log_call(f, "peek");
    *info = f->info;
    /* a peek answers what the next take would, without using the answer up */
    return f->next < f->script_len && f->script[f->next] == GW_LIM_REJECT ? GW_LIM_REJECT : GW_LIM_ADMIT;
}

static gw_lim_result_t fake_take(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns, uint64_t max_wait_ns, gw_rate_info_t *info)
{
    fake_t *f = (fake_t *)l;
    (void)now_ns;
    log_call(f, max_wait_ns != 0 ? "take(wait)" : "take");
    *info = f->info;
    gw_lim_result_t r = scripted(f);
    h->limiter = l;
    if (r == GW_LIM_PENDING)
        owe(f, h, r);
    return r;
}

static gw_lim_result_t fake_acquire(gw_limiter_t *l, gw_hold_t *h, uint64_t now_ns)
{
    fake_t *f = (fake_t *)l;
    (void)now_ns;
    char op[48];
    snprintf(op, sizeof(op), "acquire(%.*s)", h->key.base != NULL ? (int)h->key.len : 8,
             h->key.base != NULL ? h->key.base : "_missing");
    log_call(f, op);
    gw_lim_result_t r = scripted(f);
    h->limiter = l;
    if (r == GW_LIM_ADMIT) {
        h->state = GW_HOLD_HELD;
        ++f->held;
    }
    owe(f, h, r);
    return r;
}

static void forget(fake_t *f, gw_hold_t *h)
{
    for (size_t i = 0; i != f->num_owed; ++i)
        if (f->owed[i] == h) {
            f->owed[i] = f->owed[--f->num_owed];
            return;
        }
}

static void fake_release(gw_limiter_t *l, gw_hold_t *h, const gw_sample_t *sample)
{
    fake_t *f = (fake_t *)l;
    gw_hold_cancel_wake(h);
    if (h->state == GW_HOLD_IDLE)
        return; /* idempotent: nothing left to give back */
    log_call(f, "release");
    if (h->state == GW_HOLD_HELD)
        --f->held;
    forget(f, h);
    h->state = GW_HOLD_IDLE;
    ++f->releases;
    if (sample != NULL) {
        f->last_sample = *sample;
        f->got_sample = 1;
    }
}

static void fake_describe(gw_limiter_t *l, gw_textbuf_t *b, uint64_t now_ns)
{
    (void)now_ns;
    gw_limiter_describe_head(l, b, "fake");
    gw_textbuf_printf(b, ",\"held\":%d}", ((fake_t *)l)->held);
}

static uint32_t fake_current_limit(gw_limiter_t *l)
{
    return (uint32_t)((fake_t *)l)->tag;
}

static void fake_destroy(gw_limiter_t *l)
{
    ((fake_t *)l)->destroyed = 1;
    gw_limiter_dispose(l);
}

static const gw_limiter_ops_t fake_ops = {fake_peek,     fake_take,          fake_acquire, fake_release,
                                          fake_describe, fake_current_limit, fake_destroy};

static fake_t fakes[6];

static fake_t *fake(int i, gw_limiter_kind_t kind, char tag)
{
    fake_t *f = &fakes[i];
    memset(f, 0, sizeof(*f));
    char name[2] = {tag, '\0'};
    gw_limiter_init(&f->super, &fake_ops, kind, "r", name);
    f->tag = tag;
    return f;
}

/* Answers an owed hold the way a limiter does: from the loop. */
static void answer(fake_t *f, size_t i, gw_lim_result_t r)
{
    gw_hold_t *h = f->owed[i];
    forget(f, h);
    if (r == GW_LIM_ADMIT && f->super.kind == GW_LIMITER_SLOTS) {
        h->state = GW_HOLD_HELD;
        ++f->held;
    } else {
        h->state = r == GW_LIM_ADMIT ? GW_HOLD_HELD : GW_HOLD_IDLE;
    }
    gw_hold_wake(loop, &zero, h, r);
}

/* ---- the request side ---- */

typedef struct {
    gw_admit_t a;
    gw_arena_t arena;
    gw_keysrc_t keys;
    gw_route_metrics_t metrics;
    int answers;
    gw_admit_result_t res;
    const char *x_user; /* header x-user, or NULL */
} request_t;

static gw_keyval_t header_of(void *data, const char *name, size_t name_len, int *lines)
{
    request_t *r = data;
    *lines = 0;
    if (r->x_user != NULL && name_len == 6 && memcmp(name, "x-user", 6) == 0) {
        *lines = 1;
        return (gw_keyval_t){r->x_user, strlen(r->x_user)};
    }
    return (gw_keyval_t){NULL, 0};
}

static void *alloc_of(void *data, size_t size)
{
    return gw_arena_alloc(&((request_t *)data)->arena, size);
}

static void on_answer(gw_admit_t *a, const gw_admit_result_t *res, void *data)
{
    request_t *r = data;
    (void)a;
    ++r->answers;
    r->res = *res;
}

static void request_init(request_t *r, const char *x_user)
{
    memset(r, 0, sizeof(*r));
    gw_arena_init(&r->arena);
    r->x_user = x_user;
    r->keys =
        (gw_keysrc_t){.client_ip = "192.0.2.1", .path = "/", .path_len = 1, .header = header_of, .alloc = alloc_of, .data = r};
}

static uint64_t far_deadline(void)
{
    return gw_now_ns() + 10 * 1000000000ull;
}

static int begin(request_t *r, gw_admission_t *adm)
{
    return gw_admit_begin(&r->a, adm, &r->keys, 0, far_deadline(), &r->metrics, on_answer, r, &r->res);
}

static void request_done(request_t *r)
{
    gw_admit_release(&r->a, NULL);
    gw_arena_free(&r->arena);
}

/* Runs the loop until `*flag` is set or `ms` pass. */
static void run_until(const int *flag, uint64_t ms)
{
    uint64_t end = gw_now_ns() + ms * 1000000u;
    while (!*flag && gw_now_ns() < end)
        h2o_evloop_run(loop, 10);
}

static void run_for(uint64_t ms)
{
    int never = 0;
    run_until(&never, ms);
}

/* ---- routes ---- */

static cfg_config_t *config;

static const cfg_route_t *route(const char *name)
{
    for (size_t i = 0; i != config->num_routes; ++i)
        if (strcmp(config->routes[i].name, name) == 0)
            return &config->routes[i];
    fprintf(stderr, "no route %s\n", name);
    abort();
}

static const char routes_yaml[] =
    "upstreams:\n"
    "  app: {address: \"127.0.0.1:9\"}\n"
    "routes:\n"
    "  - name: two-rates\n"
    "    match: {path: /}\n"
    "    upstream: app\n"
    "    rate_limits:\n"
    "      - {name: a, rate: 10/s}\n"
    "      - {name: b, rate: 10/s}\n"
    "    concurrency: {name: c, limit: 1, queue: {size: 5, timeout: 10s}}\n"
    "  - name: delay\n"
    "    match: {path: /d}\n"
    "    upstream: app\n"
    "    rate_limits:\n"
    "      - {name: a, rate: 10/s, on_exceed: delay, max_delay: 300ms}\n"
    "  - name: room\n"
    "    match: {path: /room}\n"
    "    upstream: app\n"
    "    concurrency:\n"
    "      - {name: c, limit: 1, queue: {size: 5, timeout: 100ms}}\n"
    "      - {name: d, limit: 1, per: [header:x-user, client_ip], queue: {size: 5, timeout: 10s}, "
    "hold_aborted: 5s}\n"
    "  - name: auto\n"
    "    match: {path: /auto}\n"
    "    upstream: app\n"
    "    concurrency: {name: c, limit: auto, adaptive: {initial: 4}, queue: {size: 8, timeout: 10s}}\n";

/* ---- tests ---- */

static void test_no_limits_pass_at_once(void)
{
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, NULL) == 1);
    CHECK(r.a.state == GW_ADMIT_STATE_HOLDING);
    request_done(&r);
    CHECK(r.a.state == GW_ADMIT_STATE_DONE);
}

static gw_admission_t *two_rates(cfg_redis_on_error_t on_error)
{
    fake(0, GW_LIMITER_RATE, 'A');
    fake(1, GW_LIMITER_RATE, 'B');
    fake(2, GW_LIMITER_SLOTS, 'C');
    gw_limiter_t *rates[] = {&fakes[0].super, &fakes[1].super}, *concs[] = {&fakes[2].super};
    call_log[0] = '\0';
    return gw_admission_new(&env, route("two-rates"), on_error, rates, concs);
}

static void test_order_of_decisions(void)
{
    gw_admission_t *adm = two_rates(CFG_REDIS_FALLBACK_DENY);
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 1);
    CHECK_STR(call_log, "A.peek B.peek A.take B.take C.acquire(_missing)");
    CHECK(fakes[2].held == 1);
    gw_sample_t sample = {.latency_ns = 1234, .dropped = 0};
    call_log[0] = '\0';
    gw_admit_release(&r.a, &sample);
    CHECK_STR(call_log, "C.release");
    CHECK(fakes[2].held == 0 && fakes[2].got_sample && fakes[2].last_sample.latency_ns == 1234);
    gw_admit_release(&r.a, &sample); /* again: nothing more */
    CHECK(fakes[2].releases == 1);
    request_done(&r);
    gw_admission_free(adm);
    CHECK(fakes[0].destroyed && fakes[1].destroyed && fakes[2].destroyed);
}

/* A request refused by one limit spends no token of the others. */
static void test_a_refusing_peek_spends_nothing(void)
{
    gw_admission_t *adm = two_rates(CFG_REDIS_FALLBACK_DENY);
    fakes[1].script[fakes[1].script_len++] = GW_LIM_REJECT;
    fakes[1].info.retry_after_ns = 250000000u;
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == -1);
    CHECK_STR(call_log, "A.peek B.peek");
    CHECK(r.res.outcome == GW_ADMIT_RATE_LIMITED);
    CHECK(r.res.rate == &route("two-rates")->rate_limits[1]);
    CHECK_EQ_U64(r.res.retry_after_ns, 250000000u);
    CHECK(r.a.state == GW_ADMIT_STATE_DONE && r.answers == 0);
    request_done(&r);
    gw_admission_free(adm);
}

/* A take refused after the peek allowed it (another request took the last token in between). */
static void test_a_refused_take_is_rate_limited(void)
{
    gw_admission_t *adm = two_rates(CFG_REDIS_FALLBACK_DENY);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_ADMIT;
    fakes[1].script[fakes[1].script_len++] = GW_LIM_PENDING; /* asks Redis... */
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    CHECK(r.a.state == GW_ADMIT_STATE_RATES);
    fakes[1].script[fakes[1].script_len++] = GW_LIM_REJECT; /* ...which says: no token */
    fakes[1].info.retry_after_ns = 3000000u;
    answer(&fakes[1], 0, GW_LIM_REJECT);
    CHECK(r.answers == 0); /* never inline */
    run_until(&r.answers, 1000);
    CHECK(r.answers == 1 && r.res.outcome == GW_ADMIT_RATE_LIMITED);
    CHECK_STR(call_log, "A.peek B.peek A.take B.take B.take");
    CHECK(fakes[2].held == 0 && r.a.state == GW_ADMIT_STATE_DONE);
    request_done(&r);
    gw_admission_free(adm);
}

static void test_delay_waits_for_the_reserved_token(void)
{
    fake(0, GW_LIMITER_RATE, 'A');
    gw_limiter_t *rates[] = {&fakes[0].super};
    gw_admission_t *adm = gw_admission_new(&env, route("delay"), CFG_REDIS_FALLBACK_DENY, rates, NULL);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_WAIT;
    fakes[0].info.wait_ns = 40000000u;
    call_log[0] = '\0';
    request_t r;
    request_init(&r, NULL);
    uint64_t start = gw_now_ns();
    CHECK(begin(&r, adm) == 0);
    CHECK_STR(call_log, "A.take(wait)"); /* a delaying limit is not peeked: it may wait */
    run_until(&r.answers, 2000);
    CHECK(r.answers == 1 && r.res.outcome == GW_ADMIT_PASS && r.res.delayed == 1);
    CHECK(gw_now_ns() - start >= 39000000u);
    CHECK(r.a.state == GW_ADMIT_STATE_HOLDING);
    request_done(&r);

    /* released while the delay runs: never answered */
    fakes[0].next = 0;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    gw_admit_release(&r.a, NULL);
    run_for(80);
    CHECK(r.answers == 0 && r.a.state == GW_ADMIT_STATE_DONE);
    request_done(&r);
    gw_admission_free(adm);
}

static gw_admission_t *room_route(cfg_redis_on_error_t on_error)
{
    fake(0, GW_LIMITER_SLOTS, 'C');
    fake(1, GW_LIMITER_SLOTS, 'D');
    gw_limiter_t *concs[] = {&fakes[0].super, &fakes[1].super};
    call_log[0] = '\0';
    return gw_admission_new(&env, route("room"), on_error, NULL, concs);
}

/* Slots in list order, one per distinct key in sorted order, waiting in the room of the first
 * full limit; released last taken first. */
static void test_slots_in_order_and_the_room(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[1].script[0] = GW_LIM_ADMIT;
    fakes[1].script[1] = GW_LIM_WAIT;
    fakes[1].script_len = 2;
    request_t r;
    request_init(&r, "alice");
    CHECK(begin(&r, adm) == 0);
    /* the client ip 192.0.2.1 sorts before alice */
    CHECK_STR(call_log, "C.acquire(_missing) D.acquire(192.0.2.1) D.acquire(alice)");
    CHECK(r.a.state == GW_ADMIT_STATE_SLOTS);
    CHECK_EQ_U64(r.metrics.queue_depth, 1);
    answer(&fakes[1], 0, GW_LIM_ADMIT);
    run_until(&r.answers, 1000);
    CHECK(r.answers == 1 && r.res.outcome == GW_ADMIT_PASS);
    CHECK_EQ_U64(r.metrics.queue_depth, 0);
    CHECK_EQ_U64(r.metrics.queue_wait.count, 1);
    CHECK(fakes[0].held == 1 && fakes[1].held == 2);
    call_log[0] = '\0';
    request_done(&r);
    CHECK_STR(call_log, "D.release D.release C.release");
    CHECK(fakes[0].held == 0 && fakes[1].held == 0);
    gw_admission_free(adm);
}

static void test_queue_timeout_gives_back_what_was_taken(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_WAIT;
    request_t r;
    request_init(&r, "alice");
    CHECK(begin(&r, adm) == 0);
    run_until(&r.answers, 2000); /* the route's first limit times out after 100 ms */
    CHECK(r.answers == 1 && r.res.outcome == GW_ADMIT_QUEUE_TIMEOUT && r.res.retry_after_ns != 0);
    CHECK(fakes[0].num_owed == 0 && fakes[0].releases == 1);
    CHECK_EQ_U64(r.metrics.queue_depth, 0);
    CHECK(r.a.state == GW_ADMIT_STATE_DONE);
    request_done(&r);
    gw_admission_free(adm);
}

static void test_a_full_room_releases_the_slots_held_before(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[1].script[fakes[1].script_len++] = GW_LIM_REJECT;
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == -1);
    CHECK(r.res.outcome == GW_ADMIT_QUEUE_FULL);
    CHECK_STR(call_log, "C.acquire(_missing) D.acquire(192.0.2.1) C.release");
    CHECK(fakes[0].held == 0);
    request_done(&r);
    gw_admission_free(adm);
}

/* Pushed out of the room by a more important arrival: 503 queue_full, through the loop. */
static void test_evicted_from_the_room(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_WAIT;
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    answer(&fakes[0], 0, GW_LIM_REJECT);
    run_until(&r.answers, 1000);
    CHECK(r.answers == 1 && r.res.outcome == GW_ADMIT_QUEUE_FULL);
    CHECK_EQ_U64(r.metrics.queue_depth, 0);
    request_done(&r);
    gw_admission_free(adm);
}

/* Release in each state leaves nothing held or owed, and no answer comes afterwards. */
static void test_release_in_every_state(void)
{
    /* waiting in a room */
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[1].script[fakes[1].script_len++] = GW_LIM_WAIT;
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    gw_admit_release(&r.a, NULL);
    CHECK(fakes[0].held == 0 && fakes[1].num_owed == 0);
    CHECK_EQ_U64(r.metrics.queue_depth, 0);
    run_for(150); /* past the queue timeout: nothing fires */
    CHECK(r.answers == 0);
    request_done(&r);

    /* an answer on its way through the loop when released */
    gw_admission_free(adm);
    adm = room_route(CFG_REDIS_FALLBACK_DENY);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_PENDING;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    answer(&fakes[0], 0, GW_LIM_ADMIT); /* the slot is granted, the wake-up queued */
    gw_admit_release(&r.a, NULL);       /* and the request goes before it arrives */
    run_for(30);
    CHECK(r.answers == 0 && fakes[0].held == 0);
    request_done(&r);

    /* a rate limit asking Redis */
    gw_admission_free(adm);
    adm = two_rates(CFG_REDIS_FALLBACK_DENY);
    fakes[0].script[fakes[0].script_len++] = GW_LIM_PENDING;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    gw_admit_release(&r.a, NULL);
    CHECK(fakes[0].num_owed == 0 && fakes[0].releases == 1);
    gw_admit_release(&r.a, NULL);
    CHECK(fakes[0].releases == 1);
    request_done(&r);
    gw_admission_free(adm);
}

static void test_on_error_for_rates(void)
{
    static const cfg_redis_on_error_t modes[] = {CFG_REDIS_FALLBACK_ALLOW, CFG_REDIS_FALLBACK_DENY, CFG_REDIS_FALLBACK_LOCAL};
    for (size_t m = 0; m != 3; ++m) {
        memset(&redis_metrics, 0, sizeof(redis_metrics));
        gw_admission_t *adm = two_rates(modes[m]);
        fake_t *stand_in = fake(3, GW_LIMITER_RATE, 'L');
        fakes[0].super.fallback = &stand_in->super; /* A is Redis-backed */
        fakes[0].script[fakes[0].script_len++] = GW_LIM_UNAVAILABLE;
        request_t r;
        request_init(&r, NULL);
        int ret = begin(&r, adm);
        CHECK_EQ_U64(redis_metrics.fallback[modes[m]], 1);
        switch (modes[m]) {
        case CFG_REDIS_FALLBACK_ALLOW:
            CHECK(ret == 1);
            CHECK_STR(call_log, "A.peek B.peek A.take B.take C.acquire(_missing)");
            break;
        case CFG_REDIS_FALLBACK_DENY:
            CHECK(ret == -1 && r.res.outcome == GW_ADMIT_REDIS_DENIED);
            CHECK_STR(call_log, "A.peek B.peek A.take");
            break;
        case CFG_REDIS_FALLBACK_LOCAL:
            CHECK(ret == 1);
            CHECK_STR(call_log, "A.peek B.peek A.take L.take B.take C.acquire(_missing)");
            break;
        }
        request_done(&r);
        gw_admission_free(adm); /* A's unref also drops its stand-in */
        CHECK(fakes[3].destroyed);
    }
}

/* Redis fails while a slot is being asked for: on_error decides, the stand-in gets the same hold. */
static void test_on_error_for_slots(void)
{
    static const cfg_redis_on_error_t modes[] = {CFG_REDIS_FALLBACK_ALLOW, CFG_REDIS_FALLBACK_DENY, CFG_REDIS_FALLBACK_LOCAL};
    for (size_t m = 0; m != 3; ++m) {
        memset(&redis_metrics, 0, sizeof(redis_metrics));
        gw_admission_t *adm = room_route(modes[m]);
        fake_t *stand_in = fake(3, GW_LIMITER_SLOTS, 'L');
        fakes[0].super.fallback = &stand_in->super;
        fakes[0].script[fakes[0].script_len++] = GW_LIM_PENDING;
        request_t r;
        request_init(&r, NULL);
        CHECK(begin(&r, adm) == 0);
        answer(&fakes[0], 0, GW_LIM_UNAVAILABLE);
        run_until(&r.answers, 1000);
        CHECK(r.answers == 1);
        CHECK_EQ_U64(redis_metrics.fallback[modes[m]], 1);
        switch (modes[m]) {
        case CFG_REDIS_FALLBACK_ALLOW:
            CHECK(r.res.outcome == GW_ADMIT_PASS);
            CHECK_STR(call_log, "C.acquire(_missing) D.acquire(192.0.2.1)");
            break;
        case CFG_REDIS_FALLBACK_DENY:
            CHECK(r.res.outcome == GW_ADMIT_REDIS_DENIED);
            CHECK_STR(call_log, "C.acquire(_missing)");
            break;
        case CFG_REDIS_FALLBACK_LOCAL:
            CHECK(r.res.outcome == GW_ADMIT_PASS);
            CHECK_STR(call_log, "C.acquire(_missing) L.acquire(_missing) D.acquire(192.0.2.1)");
            CHECK(stand_in->held == 1);
            break;
        }
        call_log[0] = '\0';
        request_done(&r);
        if (modes[m] == CFG_REDIS_FALLBACK_LOCAL)
            CHECK_STR(call_log, "D.release L.release"); /* the stand-in's slot goes back to it */
        gw_admission_free(adm);
    }
}

/* An aborted request under hold_aborted keeps the slots of the limits that hold, and only those. */
static void test_release_unheld(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    CHECK_EQ_U64(gw_admission_hold_ms(adm), 5000);
    request_t r;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 1);
    call_log[0] = '\0';
    gw_admit_release_unheld(&r.a);
    CHECK_STR(call_log, "C.release");
    CHECK(fakes[1].held == 1);
    call_log[0] = '\0';
    request_done(&r);
    CHECK_STR(call_log, "D.release");

    /* not admitted yet: everything goes */
    fakes[0].next = fakes[0].script_len = 0;
    fakes[0].script[fakes[0].script_len++] = GW_LIM_WAIT;
    request_init(&r, NULL);
    CHECK(begin(&r, adm) == 0);
    gw_admit_release_unheld(&r.a);
    CHECK(fakes[0].num_owed == 0 && r.a.state == GW_ADMIT_STATE_DONE);
    request_done(&r);
    gw_admission_free(adm);
}

static void test_describe_and_names(void)
{
    gw_admission_t *adm = room_route(CFG_REDIS_FALLBACK_DENY);
    gw_textbuf_t b = gw_textbuf_init(256);
    gw_admission_describe(adm, &b, gw_now_ns());
    gw_textbuf_printf(&b, "%c", '\0');
    CHECK_STR(b.p, "\"concurrency\":[{\"name\":\"C\",\"kind\":\"concurrency\",\"scope\":\"fake\",\"held\":0},"
                   "{\"name\":\"D\",\"kind\":\"concurrency\",\"scope\":\"fake\",\"held\":0}],\"rate_limits\":[]");
    free(b.p);
    CHECK_EQ_U64(gw_admission_num_concurrency(adm), 2);
    CHECK_STR(gw_admission_concurrency_name(adm, 1), "D");
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 1), 'D');
    CHECK_EQ_U64(gw_admission_num_concurrency(NULL), 0);
    gw_admission_free(adm);
}

/* With the real local semaphore: a released slot goes to the waiter through the loop, never
 * inside the release. */
static void test_hand_over_is_deferred(void)
{
    const cfg_route_t *rt = route("two-rates");
    gw_limiter_t *slots = gw_lim_local_slots_new(loop, &zero, "two-rates", &rt->concurrency[0], 1, 1, 42);
    gw_limiter_t *a = gw_lim_local_rate_new("two-rates", &rt->rate_limits[0], 1000, 1000000000u, 1000, 1);
    gw_limiter_t *b = gw_lim_local_rate_new("two-rates", &rt->rate_limits[1], 1000, 1000000000u, 1000, 2);
    gw_limiter_t *rates[] = {a, b}, *concs[] = {slots};
    gw_admission_t *adm = gw_admission_new(&env, rt, CFG_REDIS_FALLBACK_DENY, rates, concs);
    request_t first, second, third;
    request_init(&first, NULL);
    request_init(&second, NULL);
    request_init(&third, NULL);
    CHECK(begin(&first, adm) == 1);
    CHECK(begin(&second, adm) == 0);
    CHECK(begin(&third, adm) == 0);
    CHECK_EQ_U64(second.metrics.queue_depth, 1);
    gw_admit_release(&first.a, NULL);
    CHECK(second.answers == 0); /* not inline */
    run_until(&second.answers, 1000);
    CHECK(second.answers == 1 && second.res.outcome == GW_ADMIT_PASS && third.answers == 0);
    /* the third leaves the room while the second's release is waking it: it never hears */
    gw_admit_release(&second.a, NULL);
    gw_admit_release(&third.a, NULL);
    run_for(30);
    CHECK(third.answers == 0);
    /* and the slot is free again */
    request_t fourth;
    request_init(&fourth, NULL);
    CHECK(begin(&fourth, adm) == 1);
    request_done(&fourth);
    request_done(&first);
    request_done(&second);
    request_done(&third);
    gw_admission_free(adm);
}

static int contains(const gw_limiter_t *l, const char *text)
{
    gw_textbuf_t b = gw_textbuf_init(256);
    l->ops->describe((gw_limiter_t *)l, &b, gw_now_ns());
    gw_textbuf_printf(&b, "%c", '\0');
    int found = strstr(b.p, text) != NULL;
    free(b.p);
    return found;
}

/* The adaptive limiter (gw_lim_adaptive): the samples its releases carry set the semaphore's
 * limit; a lowered limit takes nothing from those in flight; a raised one lets the waiters in
 * through the loop; a reload keeps what it learned, within the new bounds. */
static void test_adaptive_limit(void)
{
    const cfg_route_t *rt = route("auto");
    gw_limiter_t *lim = gw_lim_adaptive_new(loop, &zero, "auto", &rt->concurrency[0], 3, 42); /* 3 priority levels */
    gw_limiter_t *concs[] = {lim};
    gw_admission_t *adm = gw_admission_new(&env, rt, CFG_REDIS_FALLBACK_DENY, NULL, concs);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 4);
    CHECK(contains(lim, "\"limit\":4,\"queue_size\":8,\"in_flight\":0,\"queued\":0,\"per\":null,\"adaptive\":{\"min\":1,"));
    request_t r[13];
    for (int i = 0; i != 13; ++i)
        request_init(&r[i], NULL);
    for (int i = 0; i != 4; ++i)
        CHECK(begin(&r[i], adm) == 1);
    for (int i = 4; i != 8; ++i)
        CHECK(begin(&r[i], adm) == 0);
    /* eight failed exchanges: the window closes on the eighth, 100 ms after the first was
     * admitted, and the limit halves */
    gw_sample_t failed = {200 * 1000000ull, 1, 0};
    for (int i = 0; i != 4; ++i)
        gw_admit_release(&r[i].a, &failed);
    run_until(&r[7].answers, 1000);
    CHECK(r[4].answers == 1 && r[7].answers == 1 && r[7].res.outcome == GW_ADMIT_PASS);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 4);
    run_for(110);
    for (int i = 4; i != 7; ++i)
        gw_admit_release(&r[i].a, &failed);
    CHECK(contains(lim, "\"in_flight\":1"));
    gw_admit_release(&r[7].a, &failed);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 2);
    CHECK(contains(lim, "\"limit\":2,") && contains(lim, "\"learned\":2,") && contains(lim, "\"saturated\":true"));
    /* a release without a sample (never sent upstream) teaches nothing */
    CHECK(begin(&r[8], adm) == 1);
    gw_admit_release(&r[8].a, NULL);
    CHECK(contains(lim, "\"windows\":1,"));
    /* two in flight, three waiting; a reload raises `min` above what was learned */
    for (int i = 8; i != 10; ++i)
        CHECK(begin(&r[i], adm) == 1);
    for (int i = 10; i != 13; ++i)
        CHECK(begin(&r[i], adm) == 0);
    /* the backend is saturated (the window's drops): the room of 8 is squeezed, the least
     * important level may fill 8/3 of it, the middle one 16/3 */
    request_t low, mid;
    request_init(&low, NULL);
    request_init(&mid, NULL);
    CHECK(gw_admit_begin(&low.a, adm, &low.keys, 2, far_deadline(), &low.metrics, on_answer, &low, &low.res) == -1);
    CHECK(low.res.outcome == GW_ADMIT_QUEUE_FULL);
    CHECK(gw_admit_begin(&mid.a, adm, &mid.keys, 1, far_deadline(), &mid.metrics, on_answer, &mid, &mid.res) == 0);
    request_done(&low);
    request_done(&mid);
    cfg_concurrency_t raised = rt->concurrency[0];
    raised.adaptive_min = 6;
    CHECK(gw_lim_adaptive_compatible(lim, &raised, 3));
    CHECK(!gw_lim_adaptive_compatible(lim, &raised, 1));
    gw_lim_adaptive_reconfigure(lim, &raised);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 6);
    CHECK(r[10].answers == 0); /* not inline */
    run_until(&r[12].answers, 1000);
    CHECK(r[10].answers == 1 && r[11].answers == 1 && r[12].answers == 1 && r[12].res.outcome == GW_ADMIT_PASS);
    /* the bounds back to 1..1000: the limit learned (6 now) stays */
    gw_lim_adaptive_reconfigure(lim, &rt->concurrency[0]);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 6);
    for (int i = 0; i != 13; ++i)
        request_done(&r[i]);
    CHECK(contains(lim, "\"in_flight\":0,\"queued\":0"));
    /* a fixed limit is not an adaptive one */
    gw_limiter_t *fixed = gw_lim_local_slots_new(loop, &zero, "auto", &rt->concurrency[0], 4, 1, 1);
    CHECK(!gw_lim_adaptive_compatible(fixed, &rt->concurrency[0], 1));
    CHECK(!gw_lim_local_slots_compatible(lim, &rt->concurrency[0], 3));
    gw_limiter_unref(fixed);
    gw_admission_free(adm);
}

/* An exchange cut for the client's sake (gone, body refused) says nothing of the upstream: eight
 * of them, over more than a window, close no window and leave the limit where it was. */
static void test_adaptive_ignores_abandoned_exchanges(void)
{
    const cfg_route_t *rt = route("auto");
    gw_limiter_t *lim = gw_lim_adaptive_new(loop, &zero, "auto", &rt->concurrency[0], 3, 42);
    gw_limiter_t *concs[] = {lim};
    gw_admission_t *adm = gw_admission_new(&env, rt, CFG_REDIS_FALLBACK_DENY, NULL, concs);
    request_t r[8];
    for (int i = 0; i != 8; ++i)
        request_init(&r[i], NULL);
    for (int i = 0; i != 4; ++i)
        CHECK(begin(&r[i], adm) == 1);
    for (int i = 4; i != 8; ++i)
        CHECK(begin(&r[i], adm) == 0);
    gw_sample_t abandoned = {5 * 1000000ull, 0, 1};
    for (int i = 0; i != 4; ++i)
        gw_admit_release(&r[i].a, &abandoned);
    run_until(&r[7].answers, 1000);
    run_for(110);
    for (int i = 4; i != 8; ++i)
        gw_admit_release(&r[i].a, &abandoned);
    CHECK_EQ_U64(gw_admission_concurrency_limit(adm, 0), 4);
    CHECK(contains(lim, "\"windows\":0,") && contains(lim, "\"in_flight\":0,"));
    for (int i = 0; i != 8; ++i)
        request_done(&r[i]);
    gw_admission_free(adm);
}

int main(void)
{
    loop = h2o_evloop_create();
    h2o_timeout_init(loop, &zero, 0);
    gw_timer_wheel_init(&wheel, loop);
    env = (gw_adm_env_t){.loop = loop, .zero = &zero, .wheel = &wheel, .redis_metrics = &redis_metrics};
    cfg_errors_t errors = {0};
    config = cfg_load_string(routes_yaml, sizeof(routes_yaml) - 1, "test", &errors);
    if (config == NULL) {
        for (size_t i = 0; i != errors.count; ++i)
            fprintf(stderr, "%s\n", errors.items[i]);
        return 1;
    }
    test_no_limits_pass_at_once();
    test_order_of_decisions();
    test_a_refusing_peek_spends_nothing();
    test_a_refused_take_is_rate_limited();
    test_delay_waits_for_the_reserved_token();
    test_slots_in_order_and_the_room();
    test_queue_timeout_gives_back_what_was_taken();
    test_a_full_room_releases_the_slots_held_before();
    test_evicted_from_the_room();
    test_release_in_every_state();
    test_on_error_for_rates();
    test_on_error_for_slots();
    test_release_unheld();
    test_describe_and_names();
    test_hand_over_is_deferred();
    test_adaptive_limit();
    test_adaptive_ignores_abandoned_exchanges();
    cfg_free(config);
    cfg_errors_clear(&errors);
    h2o_timeout_dispose(loop, &zero);
    return CHECK_SUMMARY();
}
