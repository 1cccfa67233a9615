#include "pol_gcra.h"

#include <stdio.h>
#include <stdlib.h>

void pol_out_of_memory(void)
{
    fprintf(stderr, "sluice: out of memory\n");
    abort();
}

/* n emission intervals, exactly: n * period / count without intermediate rounding. */
static uint64_t intervals(const pol_gcra_params_t *p, uint64_t n)
{
    return (uint64_t)((unsigned __int128)n * p->period_ns / p->count);
}

void pol_gcra_params_init(pol_gcra_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst)
{
    p->count = count;
    p->period_ns = period_ns;
    p->burst = burst;
    p->interval_ns = period_ns / count;
    p->tolerance_ns = intervals(p, burst - 1);
}

/* The TAT as seen at now: a bucket idle long enough is simply full (TAT = now). */
static uint64_t effective_tat(const pol_gcra_t *s, uint64_t now_ns)
{
    return s->tat_ns > now_ns ? s->tat_ns : now_ns;
}

static uint32_t remaining_at(const pol_gcra_params_t *p, uint64_t tat, uint64_t now_ns)
{
    /* tokens that fit before TAT - now exceeds the tolerance */
    uint64_t used = tat - now_ns; /* tat >= now */
    if (used > p->tolerance_ns + intervals(p, 1) - 1)
        return 0;
    uint64_t free_ns = p->tolerance_ns + intervals(p, 1) - used;
    uint64_t n = (uint64_t)((unsigned __int128)free_ns * p->count / p->period_ns);
    return n > p->burst ? p->burst : (uint32_t)n;
}

pol_decision_t pol_gcra_take(pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns, uint64_t max_wait_ns,
                             pol_gcra_result_t *out)
{
    uint64_t tat = effective_tat(s, now_ns);
    uint64_t new_tat = tat + intervals(p, 1);
    /* admitted when the new TAT lies within burst intervals of now */
    uint64_t allow_at = new_tat - intervals(p, p->burst); /* earliest now at which this take conforms */
    if (new_tat < intervals(p, p->burst))
        allow_at = 0;
    pol_gcra_result_t res = {0};
    res.limit = p->burst;
    pol_decision_t d;

    if (allow_at <= now_ns) {
        s->tat_ns = new_tat;
        d = POL_ADMIT;
    } else if (max_wait_ns != 0 && allow_at - now_ns <= max_wait_ns) {
        s->tat_ns = new_tat;
        res.wait_ns = allow_at - now_ns;
        d = POL_WAIT;
    } else {
        res.retry_after_ns = allow_at - now_ns;
        d = POL_REJECT;
    }
    uint64_t cur = effective_tat(s, now_ns);
    res.remaining = remaining_at(p, cur, now_ns);
    res.reset_ns = cur - now_ns;
    if (out != NULL)
        *out = res;
    return d;
}

uint32_t pol_gcra_remaining(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns)
{
    return remaining_at(p, effective_tat(s, now_ns), now_ns);
}

int pol_gcra_at_rest(const pol_gcra_t *s, const pol_gcra_params_t *p, uint64_t now_ns)
{
    (void)p;
    return s->tat_ns <= now_ns;
}
