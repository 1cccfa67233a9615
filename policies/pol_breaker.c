#include "pol_breaker.h"

/* A new round on opening and on closing: outcomes of requests let through before do not count
 * any more, and nothing counted before is kept. */
static void new_round(pol_breaker_t *b)
{
    ++b->round;
    b->consecutive = b->trials = b->successes = 0;
    b->cur_total = b->cur_failed = b->prev_total = b->prev_failed = 0;
}

static void open_now(pol_breaker_t *b, uint64_t now_ns)
{
    b->state = POL_BREAKER_OPEN;
    b->opened_ns = now_ns;
    new_round(b);
}

static void close_now(pol_breaker_t *b, uint64_t now_ns)
{
    b->state = POL_BREAKER_CLOSED;
    new_round(b);
    b->half_start_ns = now_ns;
}

/* Moves the rate window on to the half-window holding now. */
static void roll(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns)
{
    uint64_t half = p->window_ns / 2 != 0 ? p->window_ns / 2 : 1;
    if (now_ns < b->half_start_ns + half)
        return;
    if (now_ns < b->half_start_ns + 2 * half) {
        b->prev_total = b->cur_total;
        b->prev_failed = b->cur_failed;
    } else {
        b->prev_total = b->prev_failed = 0;
    }
    b->cur_total = b->cur_failed = 0;
    b->half_start_ns = now_ns;
}

int pol_breaker_allow(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns, pol_breaker_ticket_t *ticket,
                      uint64_t *retry_after_ns)
{
    *retry_after_ns = 0;
    if (b->state == POL_BREAKER_OPEN) {
        if (now_ns < b->opened_ns + p->open_for_ns) {
            *retry_after_ns = b->opened_ns + p->open_for_ns - now_ns;
            return 0;
        }
        /* the round (and its trials and successes at 0) is the one open_now began: no ticket
         * was handed out while open */
        b->state = POL_BREAKER_HALF_OPEN;
    }
    if (b->state == POL_BREAKER_HALF_OPEN) {
        if (b->trials >= p->half_open) {
            /* the trials are out: their outcome comes within a request's time */
            *retry_after_ns = p->open_for_ns < 1000000000u ? p->open_for_ns : 1000000000u;
            return 0;
        }
        ++b->trials;
        *ticket = (pol_breaker_ticket_t){b->round, 1};
        return 1;
    }
    *ticket = (pol_breaker_ticket_t){b->round, 0};
    return 1;
}

int pol_breaker_record(pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns, pol_breaker_ticket_t ticket, int failed)
{
    if (ticket.round != b->round)
        return 0;
    if (b->state == POL_BREAKER_HALF_OPEN) {
        if (!ticket.trial)
            return 0;
        if (b->trials != 0)
            --b->trials;
        if (failed) {
            open_now(b, now_ns);
            return 1;
        }
        if (++b->successes >= p->half_open)
            close_now(b, now_ns);
        return 0;
    }
    if (b->state != POL_BREAKER_CLOSED)
        return 0;
    if (p->failure_rate != 0) {
        roll(b, p, now_ns);
        ++b->cur_total;
        b->cur_failed += failed != 0;
    }
    b->consecutive = failed ? b->consecutive + 1 : 0;
    if (b->consecutive >= p->failures) {
        open_now(b, now_ns);
        return 1;
    }
    if (p->failure_rate != 0 && failed) {
        uint64_t total = (uint64_t)b->cur_total + b->prev_total, bad = (uint64_t)b->cur_failed + b->prev_failed;
        if (total >= p->min_requests && bad * 100 >= (uint64_t)p->failure_rate * total) {
            open_now(b, now_ns);
            return 1;
        }
    }
    return 0;
}

void pol_breaker_abandon(pol_breaker_t *b, pol_breaker_ticket_t ticket)
{
    if (ticket.trial && ticket.round == b->round && b->state == POL_BREAKER_HALF_OPEN && b->trials != 0)
        --b->trials;
}

pol_breaker_state_t pol_breaker_state(const pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns)
{
    if (b->state == POL_BREAKER_OPEN && now_ns >= b->opened_ns + p->open_for_ns)
        return POL_BREAKER_HALF_OPEN;
    return b->state;
}

int pol_breaker_at_rest(const pol_breaker_t *b, const pol_breaker_params_t *p, uint64_t now_ns)
{
    if (b->state != POL_BREAKER_CLOSED || b->consecutive != 0)
        return 0;
    return b->cur_total + b->prev_total == 0 || now_ns >= b->half_start_ns + p->window_ns;
}
