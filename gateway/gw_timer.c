#include "gw_timer.h"

static void on_level_fired(h2o_timeout_entry_t *entry);

void gw_timer_wheel_init(gw_timer_wheel_t *wheel, h2o_loop_t *loop)
{
    wheel->loop = loop;
    for (int i = 0; i != GW_TIMER_LEVELS; ++i)
        h2o_timeout_init(loop, &wheel->levels[i], (uint64_t)1 << i);
}

/* Links into the longest level that does not pass the deadline (level 0 when under 2 ms are
 * left, so a due timer fires at the next millisecond tick). */
static void link_level(gw_timer_t *timer)
{
    uint64_t now = h2o_now(timer->wheel->loop);
    uint64_t left = timer->deadline_ms > now ? timer->deadline_ms - now : 0;
    int level = 0;
    while (level + 1 < GW_TIMER_LEVELS && ((uint64_t)1 << (level + 1)) <= left)
        ++level;
    timer->entry.cb = on_level_fired;
    h2o_timeout_link(timer->wheel->loop, &timer->wheel->levels[level], &timer->entry);
}

static void on_level_fired(h2o_timeout_entry_t *entry)
{
    gw_timer_t *timer = H2O_STRUCT_FROM_MEMBER(gw_timer_t, entry, entry);
    if (h2o_now(timer->wheel->loop) + 1 <= timer->deadline_ms) {
        link_level(timer);
        return;
    }
    timer->cb(timer);
}

void gw_timer_start(gw_timer_wheel_t *wheel, gw_timer_t *timer, uint64_t delay_ms, gw_timer_cb cb)
{
    gw_timer_stop(timer);
    timer->wheel = wheel;
    timer->cb = cb;
    timer->deadline_ms = h2o_now(wheel->loop) + delay_ms;
    link_level(timer);
}

void gw_timer_stop(gw_timer_t *timer)
{
    if (h2o_timeout_is_linked(&timer->entry))
        h2o_timeout_unlink(&timer->entry);
}
