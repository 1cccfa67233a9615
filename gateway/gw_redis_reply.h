/*
 * The replies of the global limits' scripts (policies/pol_global.h), checked before anything is
 * believed: Redis is outside input like any other. A reply of another shape, or with a value out
 * of its range, is refused (the caller counts it as a Redis error and applies redis.on_error).
 * Pure: hiredis's reply type only; unit-tested and fuzzed through hiredis's reader.
 */
#ifndef SLUICE_GW_REDIS_REPLY_H
#define SLUICE_GW_REDIS_REPLY_H

#include <stdint.h>
#include <hiredis/hiredis.h>

/* POL_GLOBAL_SCRIPT_LEASE: {granted, ready, next_due_us, retry_us}. */
typedef struct st_gw_lease_reply_t {
    uint32_t granted;  /* at most the batch asked for */
    uint32_t ready;    /* at most granted */
    uint64_t due_ns;   /* the first dated token, from now (at most a year) */
    uint64_t retry_ns; /* none granted: until the next is due (> 0); at most a year */
} gw_lease_reply_t;

/* POL_GLOBAL_SCRIPT_ACQUIRE {flag, others, taken} (with_taken) and _RENEW {flag, others}. */
typedef struct st_gw_slot_reply_t {
    int flag;        /* 1: got it / renewed, 0: not */
    uint32_t others; /* other instances waiting, at most 1,000,000 */
    uint32_t taken;  /* slots taken, at most 100,000,000; 0 without with_taken */
} gw_slot_reply_t;

/* 0 and *out filled, or -1 when the reply is not what the script returns. */
int gw_reply_lease(const redisReply *reply, uint32_t batch, gw_lease_reply_t *out);
int gw_reply_slot(const redisReply *reply, int with_taken, gw_slot_reply_t *out);

#endif
