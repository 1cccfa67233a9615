/* Timers of any duration on h2o's event loop (gateway/gw_timer.c): on a fake clock driven the
 * way h2o_evloop_run drives its timeouts (to the minute), then on a real loop. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "gw_timer.h"

typedef struct {
    gw_timer_t timer;
    uint64_t started_at, delay;
    uint64_t fired_at;
    int fired;
    int restarts; /* > 0: the callback starts the timer again, this many more times */
} probe_t;

/* static: a sanitizer build sees a level past the last */
static gw_timer_wheel_t wheel; /* on a fake clock */
static gw_timer_wheel_t real;  /* on the real one */

static void on_fire(gw_timer_t *timer)
{
    probe_t *p = H2O_STRUCT_FROM_MEMBER(probe_t, timer, timer);
    ++p->fired;
    p->fired_at = h2o_now(timer->wheel->loop);
    CHECK(!gw_timer_is_active(timer));
    if (p->restarts > 0) {
        --p->restarts;
        p->started_at = p->fired_at;
        gw_timer_start(timer->wheel, timer, p->delay, on_fire);
    }
}

/* What h2o_evloop_run does after its poll, at a clock the test sets: every timeout list, in
 * order, runs the entries due at `now`. Advances to each instant something is due, up to
 * `end`. */
static void run_until(h2o_evloop_t *loop, uint64_t end)
{
    for (;;) {
        uint64_t wake = h2o_timeout_get_wake_at(&loop->_timeouts);
        if (wake > end)
            break;
        CHECK(wake >= loop->_now); /* time never runs backwards */
        loop->_now = wake;
        for (h2o_linklist_t *node = loop->_timeouts.next; node != &loop->_timeouts; node = node->next)
            h2o_timeout_run(loop, H2O_STRUCT_FROM_MEMBER(h2o_timeout_t, _link, node), wake);
    }
    loop->_now = end;
}

/* The level a timer is linked in, -1 when none. */
static int level_of(gw_timer_t *timer)
{
    for (int i = 0; i != GW_TIMER_LEVELS; ++i)
        for (h2o_linklist_t *n = wheel.levels[i]._entries.next; n != &wheel.levels[i]._entries; n = n->next)
            if (n == &timer->entry._link)
                return i;
    return -1;
}

/* The longest level that does not pass `left` ms: 2^level <= left, level 0 under 2 ms. */
static int expected_level(uint64_t left)
{
    int level = 0;
    while (level + 1 < GW_TIMER_LEVELS && ((uint64_t)1 << (level + 1)) <= left)
        ++level;
    return level;
}

static void test_levels(void)
{
    for (int i = 0; i != GW_TIMER_LEVELS; ++i)
        CHECK_EQ_U64(wheel.levels[i].timeout, (uint64_t)1 << i);
    CHECK(wheel.levels[GW_TIMER_LEVELS - 1].timeout >= 65536); /* the longest list: 65 s */
}

/* Every delay fires exactly at its deadline (a delay of 0 at the next tick), never before, once;
 * at start the timer sits in the longest level that does not pass its deadline. */
static void test_fires_at_the_deadline(void)
{
    static const uint64_t big[] = {511, 512, 513, 1000, 4095, 4096, 65535, 65536, 65537, 131071, 131072, 131073, 200000, 1000000};
    enum { SMALL = 300, N = SMALL + sizeof(big) / sizeof(big[0]) };
    static probe_t probes[2][N];
    h2o_evloop_t *loop = wheel.loop;
    for (int batch = 0; batch != 2; ++batch) {
        if (batch == 1)
            run_until(loop, loop->_now + 7); /* the second batch starts off the first one's grid */
        for (int i = 0; i != N; ++i) {
            probe_t *p = &probes[batch][i];
            p->delay = i < SMALL ? (uint64_t)i : big[i - SMALL];
            p->started_at = h2o_now(loop);
            gw_timer_start(&wheel, &p->timer, p->delay, on_fire);
            CHECK(gw_timer_is_active(&p->timer));
            CHECK_EQ_U64(p->timer.deadline_ms, p->started_at + p->delay);
            CHECK_EQ_U64(level_of(&p->timer), expected_level(p->delay));
        }
    }
    run_until(loop, loop->_now + 1000000 + 100);
    for (int batch = 0; batch != 2; ++batch) {
        for (int i = 0; i != N; ++i) {
            probe_t *p = &probes[batch][i];
            uint64_t want = p->started_at + (p->delay != 0 ? p->delay : 1);
            if (p->fired != 1 || p->fired_at != want) {
                fprintf(stderr, "delay %llu: fired %d times, at +%llu\n", (unsigned long long)p->delay, p->fired,
                        (unsigned long long)(p->fired_at - p->started_at));
                CHECK(0);
            }
        }
    }
}

/* Stopping unlinks (and is harmless on a timer that is not running); starting a running timer
 * moves it; a callback may start its own timer again. */
static void test_stop_and_restart(void)
{
    h2o_evloop_t *loop = wheel.loop;
    probe_t idle = {0};
    gw_timer_stop(&idle.timer); /* never started: nothing happens */
    CHECK(!gw_timer_is_active(&idle.timer));

    probe_t a = {0}, b = {0};
    a.started_at = h2o_now(loop);
    gw_timer_start(&wheel, &a.timer, 50, on_fire);
    gw_timer_stop(&a.timer);
    CHECK(!gw_timer_is_active(&a.timer));
    CHECK_EQ_U64(level_of(&a.timer), (uint64_t)-1);
    gw_timer_stop(&a.timer); /* twice */
    gw_timer_start(&wheel, &b.timer, 100, on_fire);
    b.started_at = h2o_now(loop);
    gw_timer_start(&wheel, &b.timer, 30, on_fire); /* moved, not linked twice */
    CHECK_EQ_U64(level_of(&b.timer), 4);
    run_until(loop, loop->_now + 200);
    CHECK_EQ_U64(a.fired, 0);
    CHECK_EQ_U64(b.fired, 1);
    CHECK_EQ_U64(b.fired_at, b.started_at + 30);

    probe_t periodic = {0};
    periodic.delay = 10;
    periodic.restarts = 4;
    uint64_t start = h2o_now(loop);
    gw_timer_start(&wheel, &periodic.timer, periodic.delay, on_fire);
    run_until(loop, loop->_now + 200);
    CHECK_EQ_U64(periodic.fired, 5);
    CHECK_EQ_U64(periodic.fired_at, start + 50);
    CHECK(!gw_timer_is_active(&periodic.timer));
}

/* On a real loop and clock: timers fire in deadline order, never early, and a stopped one
 * never fires. */
static void test_real_loop(void)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    gw_timer_wheel_init(&real, loop);
    static const uint64_t delays[] = {20, 1, 0, 7, 3};
    probe_t p[5], stopped = {0};
    memset(p, 0, sizeof(p));
    for (int i = 0; i != 5; ++i) {
        p[i].started_at = h2o_now(loop);
        gw_timer_start(&real, &p[i].timer, delays[i], on_fire);
    }
    gw_timer_start(&real, &stopped.timer, 5, on_fire);
    gw_timer_stop(&stopped.timer);
    uint64_t give_up = h2o_now(loop) + 5000;
    int done = 0;
    while (!done && h2o_now(loop) < give_up) {
        h2o_evloop_run(loop, 10);
        done = 1;
        for (int i = 0; i != 5; ++i)
            done &= p[i].fired == 1;
    }
    for (int i = 0; i != 5; ++i) {
        CHECK_EQ_U64(p[i].fired, 1);
        CHECK(p[i].fired_at >= p[i].started_at + delays[i]);
    }
    CHECK(p[2].fired_at <= p[4].fired_at && p[4].fired_at <= p[3].fired_at && p[3].fired_at <= p[0].fired_at);
    CHECK(p[1].fired_at <= p[4].fired_at);
    CHECK_EQ_U64(stopped.fired, 0);
    for (int i = 0; i != GW_TIMER_LEVELS; ++i)
        h2o_timeout_dispose(loop, &real.levels[i]);
    h2o_evloop_destroy(loop);
}

int main(void)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    loop->_now = 1000000; /* the fake clock */
    gw_timer_wheel_init(&wheel, loop);
    test_levels();
    test_fires_at_the_deadline();
    test_stop_and_restart();
    for (int i = 0; i != GW_TIMER_LEVELS; ++i)
        h2o_timeout_dispose(loop, &wheel.levels[i]);
    h2o_evloop_destroy(loop);
    test_real_loop();
    return CHECK_SUMMARY();
}
