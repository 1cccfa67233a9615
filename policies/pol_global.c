#include "pol_global.h"

/* Integer arithmetic in Lua's doubles is exact below 2^53 (9e15). Times are microseconds of the
 * Redis clock (~1.8e15) only when stored; the script works relative to its own `now`, in units
 * of 1/count microsecond, where a token is `period` units and every quantity stays below
 * burst * period + horizon * count (about 4e15 at burst 1e6 per hour). fdiv corrects the one-off
 * a rounded quotient can have, so floors and ceilings are exact. */
static const char lease_script[] = "local function fdiv(a, b)\n"
                                   "  local q = math.floor(a / b)\n"
                                   "  if (q + 1) * b <= a then q = q + 1 elseif q * b > a then q = q - 1 end\n"
                                   "  return q\n"
                                   "end\n"
                                   "local function cdiv(a, b) return -fdiv(-a, b) end\n"
                                   "local t = redis.call('TIME')\n"
                                   "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
                                   "local period, count, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
                                   "local wanted, horizon = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
                                   "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
                                   "local debt = 0\n"
                                   "if tat > now then debt = (tat - now) * count end\n"
                                   "local capacity = burst * period\n"
                                   /* token k (from 1) conforms (debt + k * period - capacity) / count us from now */
                                   "local n = fdiv(capacity + horizon * count - debt, period)\n"
                                   "if n > wanted then n = wanted end\n"
                                   "if n <= 0 then return {0, 0, 0, cdiv(debt + period - capacity, count)} end\n"
                                   "local ready = fdiv(capacity - debt, period)\n"
                                   "if ready < 0 then ready = 0 end\n"
                                   "if ready > n then ready = n end\n"
                                   "local due = 0\n"
                                   "if ready < n then due = cdiv(debt + (ready + 1) * period - capacity, count) end\n"
                                   "tat = now + cdiv(debt + n * period, count)\n"
                                   "redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', cdiv(tat - now, 1000) + 1)\n"
                                   "return {n, ready, due, 0}\n";

/* KEYS[2] holds, scored by expiry, the instances with a request waiting for a slot: each failed
 * acquire puts its instance there for POL_WAITING_MARK_MS, and every reply says how many other
 * instances are waiting, which is how a holder learns it should give back slots above its share. */
#define ACQUIRE_RENEW_PRELUDE                                                                                                      \
    "local t = redis.call('TIME')\n"                                                                                               \
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"                                                                          \
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"                                                                       \
    "local others = redis.call('ZCARD', KEYS[2])\n"                                                                                \
    "if redis.call('ZSCORE', KEYS[2], ARGV[#ARGV]) then others = others - 1 end\n"

static const char acquire_script[] =
    ACQUIRE_RENEW_PRELUDE "local lease = tonumber(ARGV[2])\n"
                          "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
                          "local taken = redis.call('ZCARD', KEYS[1])\n"
                          "if taken >= tonumber(ARGV[1]) then\n"
                          "  redis.call('ZADD', KEYS[2], now + " POL_WAITING_MARK_MS_TEXT ", ARGV[4])\n"
                          "  redis.call('PEXPIRE', KEYS[2], " POL_WAITING_MARK_MS_TEXT " * 2)\n"
                          "  return {0, others, taken}\n"
                          "end\n"
                          "redis.call('ZADD', KEYS[1], now + lease, ARGV[3])\n"
                          "redis.call('PEXPIRE', KEYS[1], lease * 2)\n"
                          "return {1, others, taken + 1}\n";

static const char renew_script[] = ACQUIRE_RENEW_PRELUDE "local lease = tonumber(ARGV[1])\n"
                                                         "local score = redis.call('ZSCORE', KEYS[1], ARGV[2])\n"
                                                         "if not score or tonumber(score) <= now then return {0, others} end\n"
                                                         "redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[2])\n"
                                                         "redis.call('PEXPIRE', KEYS[1], lease * 2)\n"
                                                         "return {1, others}\n";

static const char register_script[] = "local t = redis.call('TIME')\n"
                                      "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
                                      "local lease = tonumber(ARGV[1])\n"
                                      "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
                                      "for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + lease, ARGV[i]) end\n"
                                      "redis.call('PEXPIRE', KEYS[1], lease * 2)\n"
                                      "return redis.call('ZCARD', KEYS[1])\n";

const char *const pol_global_scripts[POL_GLOBAL_SCRIPT_COUNT] = {lease_script, acquire_script, renew_script, register_script};

void pol_lease_params_init(pol_lease_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst, uint32_t instances)
{
    if (count == 0)
        count = 1;
    if (period_ns < 1000)
        period_ns = 1000;
    if (burst == 0)
        burst = 1;
    if (instances == 0)
        instances = 1;
    p->count = count;
    p->period_us = period_ns / 1000;
    p->burst = burst;
    p->interval_ns = (period_ns + count - 1) / count;
    /* a lifetime's worth of this instance's share of the rate. Not capped by the burst: tokens
     * beyond what conforms now are dated, one interval apart, and one whose interval passes
     * unspent is dropped, so holding many never allows more than the burst at once; with burst 1
     * at 1000/s the next tokens are in hand before they are due, and the schedule never slips by
     * a round trip. */
    double batch = (double)POL_LEASE_LIFETIME_NS * (double)count / (double)period_ns / (double)instances;
    p->batch = batch < 1.0 ? 1 : batch > 1e6 ? 1000000u : (uint32_t)batch;
    p->low_water = p->batch / 4;
}

int pol_lease_has_tokens(const pol_lease_t *l, uint64_t now_ns)
{
    return l->tokens != 0 && now_ns < l->expires_ns;
}

/* Dated tokens whose time to be spent has passed. Token k of the dated ones may be spent from its
 * date, next_due + k * interval, for as many intervals as the burst allows on top of the tokens
 * held that conformed at once (at least one): so a request that comes late may still use it, yet
 * what is spent at once after a pause is never more than the burst and one. */
static uint32_t passed_slots(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns)
{
    uint32_t dated = l->tokens - l->ready;
    uint64_t slack = (uint64_t)(p->burst > l->ready + 1 ? p->burst - l->ready : 1) * p->interval_ns;
    if (dated == 0 || now_ns < l->next_due_ns + slack)
        return 0;
    uint64_t passed = (now_ns - l->next_due_ns - slack) / p->interval_ns + 1;
    return passed < dated ? (uint32_t)passed : dated;
}

static void drop_passed(pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns)
{
    uint32_t n = passed_slots(l, p, now_ns);
    l->tokens -= n;
    l->next_due_ns += (uint64_t)n * p->interval_ns;
}

int pol_lease_take(pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint64_t *not_before_ns)
{
    *not_before_ns = 0;
    if (!pol_lease_has_tokens(l, now_ns))
        return 0;
    if (l->ready != 0) {
        --l->ready;
        --l->tokens;
        return 1;
    }
    drop_passed(l, p, now_ns);
    if (l->tokens == 0)
        return 0;
    if (now_ns < l->next_due_ns) {
        *not_before_ns = l->next_due_ns;
        return 0;
    }
    --l->tokens;
    /* the next one conforms an interval after this one did, not after now: a token spent late
     * in its interval leaves the next one's date as it was */
    l->next_due_ns += p->interval_ns;
    return 1;
}

int pol_lease_peek(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint64_t *retry_after_ns)
{
    *retry_after_ns = 0;
    if (pol_lease_has_tokens(l, now_ns)) {
        if (l->ready != 0)
            return 1;
        uint32_t passed = passed_slots(l, p, now_ns);
        if (passed < l->tokens) {
            uint64_t due = l->next_due_ns + (uint64_t)passed * p->interval_ns;
            if (now_ns >= due)
                return 1;
            *retry_after_ns = due - now_ns;
            return 0;
        }
    }
    if ((*retry_after_ns = pol_lease_empty_for(l, now_ns)) != 0)
        return 0;
    return -1;
}

uint64_t pol_lease_empty_for(const pol_lease_t *l, uint64_t now_ns)
{
    return l->empty_until_ns > now_ns ? l->empty_until_ns - now_ns : 0;
}

int pol_lease_wants_refill(const pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns)
{
    if (l->fetching || pol_lease_empty_for(l, now_ns) != 0)
        return 0;
    return now_ns >= l->expires_ns || l->tokens <= p->low_water;
}

void pol_lease_granted(pol_lease_t *l, const pol_lease_params_t *p, uint64_t now_ns, uint32_t granted, uint32_t ready,
                       uint64_t next_due_ns, uint64_t retry_after_ns)
{
    if (now_ns >= l->expires_ns)
        l->tokens = l->ready = 0;
    drop_passed(l, p, now_ns);
    if (granted == 0) {
        l->empty_until_ns = now_ns + (retry_after_ns >= 1000000u ? retry_after_ns : 1000000u);
        return;
    }
    if (ready > granted)
        ready = granted;
    uint32_t dated = granted - ready, held_dated = l->tokens - l->ready;
    if (dated != 0) {
        uint64_t first = now_ns + next_due_ns;
        if (held_dated == 0) {
            l->next_due_ns = first;
        } else {
            /* the new dated tokens come after those still held; none may be spent before its own
             * date, so the held ones wait when the new ones are dated later than they would follow */
            uint64_t follow = l->next_due_ns + (uint64_t)held_dated * p->interval_ns;
            if (first > follow)
                l->next_due_ns += first - follow;
        }
    }
    l->ready += ready;
    l->tokens += granted;
    l->expires_ns = now_ns + POL_LEASE_LIFETIME_NS;
    l->empty_until_ns = 0;
}

int pol_lease_at_rest(const pol_lease_t *l, uint64_t now_ns)
{
    return !l->fetching && (l->tokens == 0 || now_ns >= l->expires_ns) && l->empty_until_ns <= now_ns;
}

uint32_t pol_global_local_share(uint64_t limit, uint32_t instances)
{
    if (instances == 0)
        instances = 1;
    uint64_t share = (limit + instances - 1) / instances;
    return share == 0 ? 1 : share > UINT32_MAX ? UINT32_MAX : (uint32_t)share;
}
