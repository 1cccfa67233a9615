#include "gw_redis_reply.h"

#define YEAR_US (86400LL * 1000000 * 365)

static int is_int(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER;
}

static int is_int_array(const redisReply *r, size_t n)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return 0;
    for (size_t i = 0; i != n; ++i)
        if (!is_int(r->element[i]))
            return 0;
    return 1;
}

int gw_reply_lease(const redisReply *reply, uint32_t batch, gw_lease_reply_t *out)
{
    if (!is_int_array(reply, 4))
        return -1;
    long long n = reply->element[0]->integer, r = reply->element[1]->integer, due = reply->element[2]->integer,
              retry = reply->element[3]->integer;
    if (n < 0 || n > batch || r < 0 || r > n || due < 0 || due > YEAR_US || retry < 0 || retry > YEAR_US || (n == 0 && retry == 0))
        return -1;
    out->granted = (uint32_t)n;
    out->ready = (uint32_t)r;
    out->due_ns = (uint64_t)due * 1000u;
    out->retry_ns = (uint64_t)retry * 1000u;
    return 0;
}

int gw_reply_slot(const redisReply *reply, int with_taken, gw_slot_reply_t *out)
{
    if (!is_int_array(reply, with_taken ? 3 : 2))
        return -1;
    long long flag = reply->element[0]->integer, others = reply->element[1]->integer;
    long long taken = with_taken ? reply->element[2]->integer : 0;
    if ((flag != 0 && flag != 1) || others < 0 || others > 1000000 || taken < 0 || taken > 100000000)
        return -1;
    out->flag = (int)flag;
    out->others = (uint32_t)others;
    out->taken = (uint32_t)taken;
    return 0;
}
