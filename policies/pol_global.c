#include "pol_global.h"

/* Times are microseconds (rates) or milliseconds (slots) of the Redis clock, read with TIME
 * inside the script so that every instance uses the same clock. Microseconds since the epoch
 * (~1.8e15) are exact in Lua's doubles (< 2^53); a stored TAT is rounded up, which can only
 * delay a token by under 1 us. */
static const char lease_script[] = "local t = redis.call('TIME')\n"
                                   "local now = t[1] * 1000000 + t[2]\n"
                                   "local interval, capacity, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
                                   "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
                                   "if tat < now then tat = now end\n"
                                   "local n = math.floor((now + capacity - tat) / interval)\n"
                                   "if n > wanted then n = wanted end\n"
                                   "if n <= 0 then return {0, math.ceil(tat + interval - capacity - now)} end\n"
                                   "tat = math.ceil(tat + n * interval)\n"
                                   "redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)\n"
                                   "return {n, 0}\n";

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
                          "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then\n"
                          "  redis.call('ZADD', KEYS[2], now + " POL_WAITING_MARK_MS_TEXT ", ARGV[4])\n"
                          "  redis.call('PEXPIRE', KEYS[2], " POL_WAITING_MARK_MS_TEXT " * 2)\n"
                          "  return {0, others}\n"
                          "end\n"
                          "redis.call('ZADD', KEYS[1], now + lease, ARGV[3])\n"
                          "redis.call('PEXPIRE', KEYS[1], lease * 2)\n"
                          "return {1, others}\n";

static const char renew_script[] = ACQUIRE_RENEW_PRELUDE "local lease = tonumber(ARGV[1])\n"
                                                         "local score = redis.call('ZSCORE', KEYS[1], ARGV[2])\n"
                                                         "if not score or tonumber(score) <= now then return {0, others} end\n"
                                                         "redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[2])\n"
                                                         "redis.call('PEXPIRE', KEYS[1], lease * 2)\n"
                                                         "return {1, others}\n";

const char *const pol_global_scripts[POL_GLOBAL_SCRIPT_COUNT] = {lease_script, acquire_script, renew_script};

void pol_lease_params_init(pol_lease_params_t *p, uint64_t count, uint64_t period_ns, uint32_t burst, uint32_t instances)
{
    if (count == 0)
        count = 1;
    if (burst == 0)
        burst = 1;
    if (instances == 0)
        instances = 1;
    p->interval_us = (double)period_ns / 1000.0 / (double)count;
    p->capacity_us = p->interval_us * (double)burst;
    double per_lifetime = (double)POL_LEASE_LIFETIME_NS / 1000.0 / p->interval_us / (double)instances;
    double share_of_burst = (double)burst / (double)instances;
    double batch = per_lifetime < share_of_burst ? per_lifetime : share_of_burst;
    p->batch = batch < 1.0 ? 1 : batch > 1e6 ? 1000000u : (uint32_t)batch;
    p->low_water = p->batch / 4;
}

int pol_lease_has_tokens(const pol_lease_t *l, uint64_t now_ns)
{
    return l->tokens != 0 && now_ns < l->expires_ns;
}

int pol_lease_take(pol_lease_t *l, uint64_t now_ns)
{
    if (!pol_lease_has_tokens(l, now_ns))
        return 0;
    --l->tokens;
    return 1;
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

void pol_lease_granted(pol_lease_t *l, uint64_t now_ns, uint32_t granted, uint64_t retry_after_ns)
{
    if (now_ns >= l->expires_ns)
        l->tokens = 0;
    if (granted != 0) {
        l->tokens += granted;
        l->expires_ns = now_ns + POL_LEASE_LIFETIME_NS;
        l->empty_until_ns = 0;
    } else {
        l->empty_until_ns = now_ns + (retry_after_ns != 0 ? retry_after_ns : 1);
    }
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
