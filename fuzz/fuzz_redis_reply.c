/*
 * libFuzzer target for the checks on the global limits' script replies (gateway/gw_redis_reply.c):
 * what Redis answers is outside input. The input is a batch size (its first 4 bytes,
 * little-endian), then RESP bytes, read by hiredis's reader as Redis's answers would be (arrays
 * of more than 1024 elements refused before hiredis allocates them); every reply read, and every
 * element inside one, goes through gw_reply_lease and gw_reply_slot (with and without taken).
 * Checks: a reply is accepted exactly when it has the scripts' shape (an array of 4, 3 or 2
 * integers) and every value is within the bounds gw_redis_reply.h documents, and an accepted
 * one's fields are its integers (microseconds as nanoseconds). tests/unit/test_gw_redis_reply.c
 * links it too, to replay fuzz/corpus/redis_reply/ in every test run.
 *
 * fuzz-sources: gateway/gw_redis_reply.c
 * fuzz-cflags: -Igateway -D_GNU_SOURCE -std=c11
 * fuzz-libs: -lhiredis
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_check.h"
#include "gw_redis_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define YEAR_US (86400LL * 1000000 * 365)

static int int_array(const redisReply *r, size_t n)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return 0;
    for (size_t i = 0; i != n; ++i)
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return 0;
    return 1;
}

static void check_lease(const redisReply *r, uint32_t batch)
{
    gw_lease_reply_t out;
    int ret = gw_reply_lease(r, batch, &out);
    check(ret == 0 || ret == -1);
    int ok = int_array(r, 4);
    if (ok) {
        long long n = r->element[0]->integer, ready = r->element[1]->integer, due = r->element[2]->integer,
                  retry = r->element[3]->integer;
        ok = n >= 0 && n <= (long long)batch && ready >= 0 && ready <= n && due >= 0 && due <= YEAR_US && retry >= 0 &&
             retry <= YEAR_US && (n > 0 || retry > 0);
    }
    check((ret == 0) == ok);
    if (ret == 0) {
        check(out.granted <= batch && out.ready <= out.granted);
        check(out.due_ns <= (uint64_t)YEAR_US * 1000 && out.retry_ns <= (uint64_t)YEAR_US * 1000);
        check(out.granted != 0 || out.retry_ns != 0);
        check(out.granted == (uint64_t)r->element[0]->integer && out.ready == (uint64_t)r->element[1]->integer);
        check(out.due_ns == (uint64_t)r->element[2]->integer * 1000 && out.retry_ns == (uint64_t)r->element[3]->integer * 1000);
    }
}

static void check_slot(const redisReply *r, int with_taken)
{
    gw_slot_reply_t out;
    int ret = gw_reply_slot(r, with_taken, &out);
    check(ret == 0 || ret == -1);
    int ok = int_array(r, with_taken ? 3 : 2);
    if (ok) {
        long long flag = r->element[0]->integer, others = r->element[1]->integer, taken = with_taken ? r->element[2]->integer : 0;
        ok = (flag == 0 || flag == 1) && others >= 0 && others <= 1000000 && taken >= 0 && taken <= 100000000;
    }
    check((ret == 0) == ok);
    if (ret == 0) {
        check(out.flag == r->element[0]->integer && out.others == (uint64_t)r->element[1]->integer);
        check(out.others <= 1000000 && out.taken <= 100000000);
        check(with_taken ? out.taken == (uint64_t)r->element[2]->integer : out.taken == 0);
    }
}

/* The reply and every element inside it. */
static void check_all(const redisReply *r, uint32_t batch)
{
    check_lease(r, batch);
    check_slot(r, 0);
    check_slot(r, 1);
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i != r->elements; ++i)
            check_all(r->element[i], batch);
}

static redisReplyObjectFunctions bounded_functions;
static void *(*hiredis_create_array)(const redisReadTask *task, int elements);

/* hiredis 0.14 allocates an array's element vector as soon as it reads the count: "*300000000"
 * asks for 2.4 GB at once, which is hiredis's to answer for, not the checks under test (the
 * scripts' replies have at most 4 elements). An array of more than 1024 is refused here, which
 * hiredis reports as out of memory. */
static void *create_array(const redisReadTask *task, int elements)
{
    return elements > 1024 ? NULL : hiredis_create_array(task, elements);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t batch = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    redisReader *reader = redisReaderCreate();
    if (hiredis_create_array == NULL) {
        bounded_functions = *reader->fn;
        hiredis_create_array = bounded_functions.createArray;
        bounded_functions.createArray = create_array;
    }
    reader->fn = &bounded_functions;
    if (redisReaderFeed(reader, (const char *)data + 4, size - 4) == REDIS_OK) {
        void *reply;
        while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != NULL) {
            check_all(reply, batch);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
}
