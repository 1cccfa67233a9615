#include "pol_gcra.h"

#include <stddef.h>

#define FRACTION_BITS 4
#define MAX_UNITS ((uint64_t)1 << 62) /* bound for T and the tolerance: now << shift plus either never wraps */

void pol_gcra_params_init(pol_gcra_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst)
{
    if (count == 0)
        count = 1;
    if (period_ns == 0)
        period_ns = 1;
    if (burst == 0)
        burst = 1;
    p->count = count;
    p->period_ns = period_ns;
    p->burst = burst;
    p->shift = period_ns % count == 0 ? 0 : FRACTION_BITS;
    unsigned __int128 interval = ((unsigned __int128)period_ns << p->shift) / count;
    if (interval == 0)
        interval = 1; /* more than 2^shift tokens per ns: not a rate anyone configures */
    if (interval > MAX_UNITS)
        interval = MAX_UNITS;
    unsigned __int128 tolerance = interval * (burst - 1);
    if (tolerance > MAX_UNITS)
        tolerance = MAX_UNITS;
    p->interval = (uint64_t)interval;
    p->tolerance = (uint64_t)tolerance;
}

/* Units to ns, rounded up: the first ns instant at or after `u`. */
static uint64_t ceil_ns(const pol_gcra_params_t *p, uint64_t u)
{
    uint64_t mask = ((uint64_t)1 << p->shift) - 1;
    return (u >> p->shift) + ((u & mask) != 0);
}

/* The earliest ns instant at which a take conforms, for a bucket whose TAT is `tat`. */
static uint64_t due_ns(const pol_gcra_params_t *p, uint64_t tat)
{
    return tat > p->tolerance ? ceil_ns(p, tat - p->tolerance) : 0;
}

/* Takes still admitted at now for a bucket whose effective TAT is `tat` (>= now). */
static uint32_t remaining_at(const pol_gcra_params_t *p, uint64_t tat, uint64_t now)
{
    uint64_t debt = tat - now;
    if (debt > p->tolerance)
        return 0;
    uint64_t n = (p->tolerance - debt) / p->interval + 1;
    return n > p->burst ? p->burst : (uint32_t)n;
}

static void fill(pol_gcra_result_t *out, const pol_gcra_params_t *p, uint64_t tat, uint64_t now)
{
    out->limit = p->burst;
    out->remaining = remaining_at(p, tat, now);
    out->reset_ns = ceil_ns(p, tat - now);
}

pol_decision_t pol_gcra_take(pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, uint64_t max_wait_ns,
                             pol_gcra_result_t *out)
{
    uint64_t now = now_ns << p->shift;
    uint64_t tat = s->tat > now ? s->tat : now;
    uint64_t due = due_ns(p, tat), wait = 0;
    pol_decision_t d = POL_ADMIT;
    if (due > now_ns) {
        wait = due - now_ns;
        d = max_wait_ns != 0 && wait <= max_wait_ns ? POL_WAIT : POL_REJECT;
    }
    if (d != POL_REJECT) {
        if (tat > UINT64_MAX - p->interval) {
            d = POL_REJECT; /* reservations piled up for centuries: refuse rather than wrap */
        } else {
            tat += p->interval;
            s->tat = tat;
        }
    }
    if (out != NULL) {
        out->wait_ns = d == POL_WAIT ? wait : 0;
        out->retry_after_ns = d == POL_REJECT ? wait : 0;
        fill(out, p, tat, now);
    }
    return d;
}

pol_decision_t pol_gcra_peek(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, pol_gcra_result_t *out)
{
    uint64_t now = now_ns << p->shift;
    uint64_t tat = s->tat > now ? s->tat : now;
    uint64_t due = due_ns(p, tat);
    if (out != NULL) {
        out->wait_ns = 0;
        out->retry_after_ns = due > now_ns ? due - now_ns : 0;
        fill(out, p, tat, now);
    }
    return due > now_ns ? POL_REJECT : POL_ADMIT;
}

uint32_t pol_gcra_remaining(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns)
{
    uint64_t now = now_ns << p->shift;
    return remaining_at(p, s->tat > now ? s->tat : now, now);
}

int pol_gcra_at_rest(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns)
{
    return s->tat <= now_ns << p->shift;
}
