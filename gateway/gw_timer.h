/*
 * Timers with arbitrary durations on h2o 2.2's event loop, whose h2o_timeout_t only handles
 * one fixed duration per list. An entry sits in the longest power-of-two list (1 ms .. 65 s)
 * that does not pass its deadline and moves down when that list fires, so it fires at most
 * about log2(duration) times and within 1 ms of its deadline. Used for rate-limit delays, whose
 * durations differ for every request.
 */
#ifndef SLUICE_GW_TIMER_H
#define SLUICE_GW_TIMER_H

#include <stdint.h>
#include "h2o.h"

#define GW_TIMER_LEVELS 17

typedef struct st_gw_timer_wheel_t {
    h2o_loop_t *loop;
    h2o_timeout_t levels[GW_TIMER_LEVELS]; /* levels[i] fires after 2^i ms */
} gw_timer_wheel_t;

typedef struct st_gw_timer_t gw_timer_t;
typedef void (*gw_timer_cb)(gw_timer_t *timer);

struct st_gw_timer_t {
    h2o_timeout_entry_t entry;
    gw_timer_wheel_t *wheel;
    uint64_t deadline_ms; /* on the loop's clock, h2o_now() */
    gw_timer_cb cb;
};

void gw_timer_wheel_init(gw_timer_wheel_t *wheel, h2o_loop_t *loop);
/* Arms `timer` to call `cb` after `delay_ms` (0 = at the next turn of the loop). */
void gw_timer_start(gw_timer_wheel_t *wheel, gw_timer_t *timer, uint64_t delay_ms, gw_timer_cb cb);
void gw_timer_stop(gw_timer_t *timer);
static inline int gw_timer_is_active(gw_timer_t *timer)
{
    return h2o_timeout_is_linked(&timer->entry);
}

#endif
