#include "pol_fair.h"

static void roll(pol_fair_t *f, uint64_t window)
{
    if (f->window == window)
        return;
    f->active_before = f->window + 1 == window ? f->active : 0;
    f->active = 0;
    f->window = window;
}

int pol_fair_under_share(pol_fair_t *f, pol_fair_key_t *k, uint64_t count, uint64_t period_ns, uint64_t now_ns)
{
    uint64_t window = now_ns / POL_FAIR_WINDOW_NS;
    roll(f, window);
    if (k->window != window) {
        k->window = window;
        ++f->active;
    }
    uint64_t keys = f->active > f->active_before ? f->active : f->active_before;
    unsigned __int128 interval = (unsigned __int128)period_ns * keys / (count != 0 ? count : 1);
    k->interval_ns = interval > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)interval;
    return k->tat <= now_ns;
}

void pol_fair_took(pol_fair_key_t *k, uint64_t now_ns)
{
    uint64_t from = k->tat > now_ns ? k->tat : now_ns;
    k->tat = from + k->interval_ns;
}

uint32_t pol_fair_keys(const pol_fair_t *f, uint64_t now_ns)
{
    uint64_t window = now_ns / POL_FAIR_WINDOW_NS;
    if (f->window == window)
        return f->active > f->active_before ? f->active : f->active_before;
    return f->window + 1 == window ? f->active : 0;
}

int pol_fair_key_at_rest(const pol_fair_key_t *k, uint64_t now_ns)
{
    return k->window + 1 < now_ns / POL_FAIR_WINDOW_NS && k->tat <= now_ns;
}
