/*
 * Unit tests of the checks on the global limits' script replies (gateway/gw_redis_reply.c), with
 * replies built by hiredis's own reader from RESP bytes, as they come from Redis: every shape the
 * scripts return is read into its fields, and every other shape (another type, another element
 * count, an element that is not an integer) and every value out of its bound (granted over the
 * batch, ready over granted, negative, over a year, nothing granted and no retry, a flag other
 * than 0/1, too many others or slots) is refused. The fuzz target's corpus
 * (fuzz/corpus/redis_reply) is replayed at the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "corpus.h"
#include "gw_redis_reply.h"

#define YEAR_US 31536000000000LL

/* The reply hiredis reads from `resp` (one whole reply); aborts the test if it reads none. */
static redisReply *parse(const char *resp)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    if (redisReaderFeed(r, resp, strlen(resp)) != REDIS_OK || redisReaderGetReply(r, &reply) != REDIS_OK || reply == NULL) {
        fprintf(stderr, "hiredis did not read a reply from %s\n", resp);
        abort();
    }
    redisReaderFree(r);
    return reply;
}

/* gw_reply_lease on the reply of `resp`; *out is filled with 0xff first, so that a field left
 * unwritten shows. */
static int lease(const char *resp, uint32_t batch, gw_lease_reply_t *out)
{
    redisReply *reply = parse(resp);
    memset(out, 0xff, sizeof(*out));
    int ret = gw_reply_lease(reply, batch, out);
    freeReplyObject(reply);
    return ret;
}

static int slot(const char *resp, int with_taken, gw_slot_reply_t *out)
{
    redisReply *reply = parse(resp);
    memset(out, 0xff, sizeof(*out));
    int ret = gw_reply_slot(reply, with_taken, out);
    freeReplyObject(reply);
    return ret;
}

/* "*4\r\n:a\r\n:b\r\n:c\r\n:d\r\n" */
static const char *lease4(long long a, long long b, long long c, long long d)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "*4\r\n:%lld\r\n:%lld\r\n:%lld\r\n:%lld\r\n", a, b, c, d);
    return buf;
}

static const char *slot_n(int n, long long a, long long b, long long c)
{
    static char buf[256];
    if (n == 2)
        snprintf(buf, sizeof(buf), "*2\r\n:%lld\r\n:%lld\r\n", a, b);
    else
        snprintf(buf, sizeof(buf), "*3\r\n:%lld\r\n:%lld\r\n:%lld\r\n", a, b, c);
    return buf;
}

static void test_lease_accepted(void)
{
    gw_lease_reply_t r;
    CHECK(lease("*4\r\n:1\r\n:1\r\n:0\r\n:0\r\n", 1, &r) == 0);
    CHECK_EQ_U64(r.granted, 1);
    CHECK_EQ_U64(r.ready, 1);
    CHECK_EQ_U64(r.due_ns, 0);
    CHECK_EQ_U64(r.retry_ns, 0);
    /* microseconds become nanoseconds */
    CHECK(lease(lease4(10, 3, 250000, 7), 16, &r) == 0);
    CHECK_EQ_U64(r.granted, 10);
    CHECK_EQ_U64(r.ready, 3);
    CHECK_EQ_U64(r.due_ns, 250000000ull);
    CHECK_EQ_U64(r.retry_ns, 7000ull);
    /* every bound reached exactly: granted == batch, ready == granted, a year */
    CHECK(lease(lease4(4294967295LL, 4294967295LL, YEAR_US, YEAR_US), UINT32_MAX, &r) == 0);
    CHECK_EQ_U64(r.granted, UINT32_MAX);
    CHECK_EQ_U64(r.ready, UINT32_MAX);
    CHECK_EQ_U64(r.due_ns, (uint64_t)YEAR_US * 1000);
    CHECK_EQ_U64(r.retry_ns, (uint64_t)YEAR_US * 1000);
    /* nothing granted: the retry says when to ask again */
    CHECK(lease(lease4(0, 0, 0, 1), 5, &r) == 0);
    CHECK_EQ_U64(r.granted, 0);
    CHECK_EQ_U64(r.ready, 0);
    CHECK_EQ_U64(r.retry_ns, 1000);
    CHECK(lease(lease4(0, 0, 500, 999999), 0, &r) == 0);
    CHECK_EQ_U64(r.due_ns, 500000);
    CHECK_EQ_U64(r.retry_ns, 999999000ull);
    /* tokens granted, none ready yet: dated ones */
    CHECK(lease(lease4(5, 0, 100, 0), 5, &r) == 0);
    CHECK_EQ_U64(r.granted, 5);
    CHECK_EQ_U64(r.ready, 0);
    CHECK_EQ_U64(r.due_ns, 100000);
}

static void test_lease_bounds(void)
{
    gw_lease_reply_t r;
    CHECK(lease(lease4(6, 1, 0, 0), 5, &r) == -1); /* granted > batch */
    CHECK(lease(lease4(1, 0, 0, 0), 0, &r) == -1); /* granted > batch 0 */
    CHECK(lease(lease4(4294967296LL, 0, 0, 0), UINT32_MAX, &r) == -1);
    CHECK(lease(lease4(3, 4, 0, 0), 5, &r) == -1);  /* ready > granted */
    CHECK(lease(lease4(0, 1, 0, 1), 5, &r) == -1);  /* ready > granted 0 */
    CHECK(lease(lease4(-1, 0, 0, 1), 5, &r) == -1); /* negative */
    CHECK(lease(lease4(1, -1, 0, 0), 5, &r) == -1);
    CHECK(lease(lease4(1, 1, -1, 0), 5, &r) == -1);
    CHECK(lease(lease4(1, 1, 0, -1), 5, &r) == -1);
    CHECK(lease(lease4(0, 0, 0, -1), 5, &r) == -1);
    CHECK(lease(lease4(-9223372036854775807LL - 1, 0, 0, 1), 5, &r) == -1);
    CHECK(lease(lease4(1, 1, YEAR_US + 1, 0), 5, &r) == -1); /* over a year */
    CHECK(lease(lease4(1, 1, 0, YEAR_US + 1), 5, &r) == -1);
    CHECK(lease(lease4(0, 0, 0, YEAR_US + 1), 5, &r) == -1);
    CHECK(lease(lease4(1, 1, 9223372036854775807LL, 0), 5, &r) == -1); /* would overflow in ns */
    CHECK(lease(lease4(0, 0, 0, 9223372036854775807LL), 5, &r) == -1);
    CHECK(lease(lease4(0, 0, 0, 0), 5, &r) == -1);   /* nothing granted and no retry */
    CHECK(lease(lease4(0, 0, 100, 0), 5, &r) == -1); /* a due date is not a retry */
}

static void test_lease_shapes(void)
{
    gw_lease_reply_t r;
    static const char *bad[] = {
        ":1\r\n",                                                 /* not an array */
        "+OK\r\n",                                                /* a status */
        "-ERR script failed\r\n",                                 /* an error (NOSCRIPT, OOM, ...) */
        "$4\r\n1110\r\n",                                         /* a bulk string */
        "$-1\r\n",                                                /* nil */
        "*-1\r\n",                                                /* a nil array */
        "*0\r\n",                                                 /* empty */
        "*3\r\n:1\r\n:1\r\n:0\r\n",                               /* one short */
        "*5\r\n:1\r\n:1\r\n:0\r\n:0\r\n:0\r\n",                   /* one more */
        "*4\r\n$1\r\n1\r\n:1\r\n:0\r\n:0\r\n",                    /* a string where an integer goes */
        "*4\r\n:1\r\n$1\r\n1\r\n:0\r\n:0\r\n",                    /* in each place */
        "*4\r\n:1\r\n:1\r\n+0\r\n:0\r\n",                         /* a status */
        "*4\r\n:1\r\n:1\r\n:0\r\n$-1\r\n",                        /* a nil */
        "*4\r\n:1\r\n:1\r\n:0\r\n-ERR x\r\n",                     /* an error */
        "*4\r\n*4\r\n:1\r\n:1\r\n:0\r\n:0\r\n:1\r\n:0\r\n:0\r\n", /* an array */
        "*4\r\n:1\r\n:1\r\n:0\r\n*0\r\n",
        "*1\r\n*4\r\n:1\r\n:1\r\n:0\r\n:1\r\n", /* the right reply, nested */
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        int ret = lease(bad[i], 5, &r);
        if (ret != -1)
            fprintf(stderr, "accepted as a lease: %s\n", bad[i]);
        CHECK(ret == -1);
    }
}

static void test_slot_accepted(void)
{
    gw_slot_reply_t r;
    CHECK(slot("*3\r\n:1\r\n:0\r\n:7\r\n", 1, &r) == 0);
    CHECK(r.flag == 1);
    CHECK_EQ_U64(r.others, 0);
    CHECK_EQ_U64(r.taken, 7);
    CHECK(slot(slot_n(3, 0, 1000000, 100000000), 1, &r) == 0); /* every bound exactly */
    CHECK(r.flag == 0);
    CHECK_EQ_U64(r.others, 1000000);
    CHECK_EQ_U64(r.taken, 100000000);
    /* without taken (the renew script): two elements, taken reads 0 */
    CHECK(slot("*2\r\n:1\r\n:3\r\n", 0, &r) == 0);
    CHECK(r.flag == 1);
    CHECK_EQ_U64(r.others, 3);
    CHECK_EQ_U64(r.taken, 0);
    CHECK(slot(slot_n(2, 0, 1000000, 0), 0, &r) == 0);
    CHECK(r.flag == 0);
    CHECK_EQ_U64(r.others, 1000000);
    CHECK_EQ_U64(r.taken, 0);
}

static void test_slot_bounds(void)
{
    gw_slot_reply_t r;
    CHECK(slot(slot_n(3, 2, 0, 0), 1, &r) == -1); /* flag 2 */
    CHECK(slot(slot_n(3, -1, 0, 0), 1, &r) == -1);
    CHECK(slot(slot_n(2, 2, 0, 0), 0, &r) == -1);
    CHECK(slot(slot_n(2, 4294967297LL, 0, 0), 0, &r) == -1); /* 1 in the low 32 bits */
    CHECK(slot(slot_n(3, 1, 1000001, 0), 1, &r) == -1);      /* others > 1e6 */
    CHECK(slot(slot_n(2, 1, 1000001, 0), 0, &r) == -1);
    CHECK(slot(slot_n(3, 1, -1, 0), 1, &r) == -1);
    CHECK(slot(slot_n(2, 1, -1, 0), 0, &r) == -1);
    CHECK(slot(slot_n(3, 1, 0, 100000001), 1, &r) == -1); /* taken > 1e8 */
    CHECK(slot(slot_n(3, 1, 0, -1), 1, &r) == -1);
    CHECK(slot(slot_n(3, 1, 0, 9223372036854775807LL), 1, &r) == -1);
}

static void test_slot_shapes(void)
{
    gw_slot_reply_t r;
    /* the count follows with_taken */
    CHECK(slot("*2\r\n:1\r\n:0\r\n", 1, &r) == -1);
    CHECK(slot("*3\r\n:1\r\n:0\r\n:0\r\n", 0, &r) == -1);
    static const char *bad[] = {
        ":1\r\n",
        "+OK\r\n",
        "-ERR x\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*1\r\n:1\r\n",
        "*4\r\n:1\r\n:0\r\n:0\r\n:0\r\n",
        "*3\r\n$1\r\n1\r\n:0\r\n:0\r\n",
        "*3\r\n:1\r\n+0\r\n:0\r\n",
        "*3\r\n:1\r\n:0\r\n$-1\r\n",
        "*3\r\n:1\r\n:0\r\n*0\r\n",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        int ret = slot(bad[i], 1, &r);
        if (ret != -1)
            fprintf(stderr, "accepted as a slot: %s\n", bad[i]);
        CHECK(ret == -1);
    }
    CHECK(slot("*2\r\n$1\r\n1\r\n:0\r\n", 0, &r) == -1);
    CHECK(slot("*2\r\n:1\r\n-ERR x\r\n", 0, &r) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(void)
{
    test_lease_accepted();
    test_lease_bounds();
    test_lease_shapes();
    test_slot_accepted();
    test_slot_bounds();
    test_slot_shapes();
    CHECK(replay_corpus(SLUICE_SOURCE_DIR "/fuzz/corpus/redis_reply", LLVMFuzzerTestOneInput) >= 5);
    return CHECK_SUMMARY();
}
