/* The waiting room with priority levels (policies/pol_room.c): who is served first, who is pushed
 * out of a full room, checked by hand and against a model. */
#include <stdlib.h>
#include "check.h"
#include "pol_room.h"

typedef struct {
    pol_room_t r;
    pol_link_t lists[POL_ROOM_MAX_LEVELS];
} room_t;

static room_t store;
static pol_waiter_t w[40];

static pol_room_t *fresh(void)
{
    memset(&store, 0, sizeof(store));
    memset(w, 0, sizeof(w));
    return &store.r;
}

static void test_most_important_first(void)
{
    pol_room_params_t p = {10, 3, 0, 0};
    pol_room_t *r = fresh();
    pol_waiter_t *out;
    CHECK(pol_room_next(r, &p) == NULL);
    CHECK(pol_room_enter(r, &p, &w[0], 2, 1, &out) == POL_WAIT && out == NULL);
    CHECK(pol_room_enter(r, &p, &w[1], 1, 2, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[2], 2, 3, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[3], 0, 4, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[4], 1, 5, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[5], 9, 6, &out) == POL_WAIT); /* out of range: the least important */
    CHECK_EQ_U64(w[5].level, 2);
    CHECK(pol_room_enter(r, &p, &w[10], 3, 6, &out) == POL_WAIT); /* the first level out of range */
    CHECK_EQ_U64(w[10].level, 2);
    pol_room_leave(r, &w[10]);
    CHECK_EQ_U64(r->queued, 6);
    CHECK(pol_room_next(r, &p) == &w[3]);
    CHECK(pol_room_next(r, &p) == &w[1]);
    CHECK(pol_room_next(r, &p) == &w[4]);
    CHECK(pol_room_next(r, &p) == &w[0]);
    CHECK(pol_room_next(r, &p) == &w[2]);
    CHECK(pol_room_next(r, &p) == &w[5]);
    CHECK(pol_room_next(r, &p) == NULL);
    CHECK_EQ_U64(r->queued, 0);
    CHECK_EQ_U64(r->nonempty, 0);
    /* LIFO within a level, levels still first */
    p.lifo = 1;
    CHECK(pol_room_enter(r, &p, &w[6], 1, 7, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[7], 1, 8, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[8], 0, 9, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[9], 0, 10, &out) == POL_WAIT);
    CHECK(pol_room_next(r, &p) == &w[9]);
    CHECK(pol_room_next(r, &p) == &w[8]);
    CHECK(pol_room_next(r, &p) == &w[7]);
    CHECK(pol_room_next(r, &p) == &w[6]);
}

static void test_a_full_room_pushes_out_the_newest_of_the_least_important(void)
{
    pol_room_params_t p = {3, 3, 0, 0};
    pol_room_t *r = fresh();
    pol_waiter_t *out;
    CHECK(pol_room_enter(r, &p, &w[0], 2, 1, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[1], 2, 2, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[2], 1, 3, &out) == POL_WAIT);
    /* full: a level-2 arrival is refused (nobody less important), a level-1 one takes w[1]'s place */
    CHECK(pol_room_enter(r, &p, &w[3], 2, 4, &out) == POL_REJECT && out == NULL);
    CHECK(!pol_waiter_is_queued(&w[3]));
    CHECK(pol_room_enter(r, &p, &w[4], 1, 5, &out) == POL_WAIT && out == &w[1]);
    CHECK(!pol_waiter_is_queued(&w[1]));
    CHECK(pol_room_enter(r, &p, &w[5], 0, 6, &out) == POL_WAIT && out == &w[0]);
    /* now all of levels 0 and 1: a level-1 arrival is refused, a level-0 one pushes out w[4] */
    CHECK(pol_room_enter(r, &p, &w[6], 1, 7, &out) == POL_REJECT);
    CHECK(pol_room_enter(r, &p, &w[7], 0, 8, &out) == POL_WAIT && out == &w[4]);
    CHECK_EQ_U64(r->queued, 3);
    CHECK(pol_room_next(r, &p) == &w[5]);
    CHECK(pol_room_next(r, &p) == &w[7]);
    CHECK(pol_room_next(r, &p) == &w[2]);
    /* size 0: nobody waits, whatever the level */
    p.size = 0;
    CHECK(pol_room_enter(r, &p, &w[8], 0, 9, &out) == POL_REJECT && out == NULL);
    /* a size lowered below the count: no new arrival, and nobody is pushed out */
    p.size = 3;
    CHECK(pol_room_enter(r, &p, &w[10], 2, 10, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[11], 2, 11, &out) == POL_WAIT);
    p.size = 1;
    CHECK(pol_room_enter(r, &p, &w[12], 0, 12, &out) == POL_REJECT && out == NULL);
    pol_room_leave(r, &w[10]);
    pol_room_leave(r, &w[10]); /* twice: nothing */
    CHECK_EQ_U64(r->queued, 1);
    CHECK(pol_room_enter(r, &p, &w[12], 0, 13, &out) == POL_WAIT && out == &w[11]);
}

static void take_odd(pol_waiter_t *x, void *data)
{
    if ((x - w) % 2 == 1)
        pol_room_leave(data, x);
}

static void count_one(pol_waiter_t *x, void *data)
{
    ++((int *)data)[x - w];
}

static void test_peek_and_foreach(void)
{
    pol_room_params_t p = {10, 2, 0, 0};
    pol_room_t *r = fresh();
    pol_waiter_t *out;
    CHECK(pol_room_peek(r, &p) == NULL);
    for (int i = 0; i != 6; ++i)
        pol_room_enter(r, &p, &w[i], (unsigned)(i % 2), (uint64_t)i, &out);
    CHECK(pol_room_peek(r, &p) == &w[0] && r->queued == 6); /* level 0, oldest: left in place */
    CHECK(pol_room_peek(r, &p) == &w[0]);
    /* every waiter once, of every level */
    int seen[40] = {0};
    pol_room_foreach(r, &p, count_one, seen);
    for (int i = 0; i != 40; ++i)
        CHECK_EQ_U64(seen[i], i < 6);
    pol_room_foreach(r, &p, take_odd, r); /* takes out w[1], w[3], w[5]: all of level 1 */
    CHECK_EQ_U64(r->queued, 3);
    CHECK_EQ_U64(r->nonempty, 1);
    CHECK(pol_room_next(r, &p) == &w[0]);
    CHECK(pol_room_next(r, &p) == &w[2]);
    CHECK(pol_room_next(r, &p) == &w[4]);
    CHECK(pol_room_next(r, &p) == NULL);
}

/* Squeezed, the less important levels have a smaller share of the room, and the most important
 * the whole of it. */
static void test_squeezed_room(void)
{
    pol_room_params_t p = {6, 3, 0, 1}; /* levels 0, 1, 2 may fill 6, 4 and 2 places */
    pol_room_t *r = fresh();
    pol_waiter_t *out;
    CHECK(pol_room_enter(r, &p, &w[0], 2, 1, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[1], 2, 2, &out) == POL_WAIT);
    CHECK(pol_room_enter(r, &p, &w[2], 2, 3, &out) == POL_REJECT && out == NULL); /* 2 wait: its share is full */
    CHECK(pol_room_enter(r, &p, &w[3], 1, 4, &out) == POL_WAIT && out == NULL);
    CHECK(pol_room_enter(r, &p, &w[4], 1, 5, &out) == POL_WAIT && out == NULL);
    /* 4 wait: level 1 enters only by pushing out the newest of level 2 */
    CHECK(pol_room_enter(r, &p, &w[5], 1, 6, &out) == POL_WAIT && out == &w[1]);
    CHECK(pol_room_enter(r, &p, &w[6], 1, 7, &out) == POL_WAIT && out == &w[0]);
    CHECK(pol_room_enter(r, &p, &w[7], 1, 8, &out) == POL_REJECT);
    CHECK(pol_room_enter(r, &p, &w[8], 0, 9, &out) == POL_WAIT && out == NULL);
    CHECK(pol_room_enter(r, &p, &w[9], 0, 10, &out) == POL_WAIT && out == NULL);
    CHECK(pol_room_enter(r, &p, &w[10], 0, 11, &out) == POL_WAIT && out == &w[6]);
    CHECK_EQ_U64(r->queued, 6);
    /* no longer squeezed: the whole room for everyone again */
    p.squeeze = 0;
    CHECK(pol_room_next(r, &p) == &w[8]);
    CHECK(pol_room_enter(r, &p, &w[11], 2, 12, &out) == POL_WAIT && out == NULL);
    /* a room too small to share: the least important get no place at all */
    pol_room_params_t tiny = {2, 3, 0, 1};
    r = fresh();
    CHECK(pol_room_enter(r, &tiny, &w[0], 2, 1, &out) == POL_REJECT);
    CHECK(pol_room_enter(r, &tiny, &w[1], 1, 2, &out) == POL_WAIT);
}

/* Random arrivals, departures and services against a sorted-array model, the room squeezed and
 * let go now and then. */
static void test_against_model(void)
{
    enum { N = 40, LEVELS = 4 };
    for (int lifo = 0; lifo != 2; ++lifo) {
        pol_room_params_t p = {12, LEVELS, (uint8_t)lifo, 0};
        pol_room_t *r = fresh();
        int in[N] = {0}, level[N];
        uint64_t at[N];
        unsigned seed = 777;
        for (uint64_t now = 1; now != 30000; ++now) {
            seed = seed * 1103515245u + 12345u;
            int i = (int)((seed >> 16) % N), op = (int)((seed >> 8) % 3);
            int count = 0;
            for (int k = 0; k != N; ++k)
                count += in[k];
            if (now % 1000 == 0)
                p.squeeze = !p.squeeze;
            if (!in[i] && op != 2) {
                unsigned lv = (seed >> 4) % LEVELS;
                int size = p.squeeze ? (int)p.size * (LEVELS - (int)lv) / LEVELS : (int)p.size;
                /* the model: the least important level below lv, its newest */
                int victim = -1;
                if (count >= size)
                    for (int k = 0; k != N; ++k)
                        if (in[k] && level[k] > (int)lv &&
                            (victim < 0 || level[k] > level[victim] || (level[k] == level[victim] && at[k] > at[victim])))
                            victim = k;
                pol_waiter_t *out;
                pol_decision_t d = pol_room_enter(r, &p, &w[i], lv, now, &out);
                if (count < size || victim >= 0) {
                    CHECK(d == POL_WAIT);
                    CHECK(out == (victim >= 0 ? &w[victim] : NULL));
                    if (victim >= 0)
                        in[victim] = 0;
                    in[i] = 1, level[i] = (int)lv, at[i] = now;
                } else {
                    CHECK(d == POL_REJECT && out == NULL);
                }
            } else if (in[i] && op == 0) {
                pol_room_leave(r, &w[i]);
                in[i] = 0;
            } else if (op == 2) {
                int best = -1;
                for (int k = 0; k != N; ++k)
                    if (in[k] && (best < 0 || level[k] < level[best] ||
                                  (level[k] == level[best] && (lifo ? at[k] > at[best] : at[k] < at[best]))))
                        best = k;
                pol_waiter_t *next = pol_room_next(r, &p);
                CHECK(next == (best >= 0 ? &w[best] : NULL));
                if (best >= 0)
                    in[best] = 0;
            }
            count = 0;
            for (int k = 0; k != N; ++k) {
                count += in[k];
                CHECK(pol_waiter_is_queued(&w[k]) == in[k]);
            }
            CHECK_EQ_U64(r->queued, (uint64_t)count);
        }
    }
}

int main(void)
{
    test_most_important_first();
    test_a_full_room_pushes_out_the_newest_of_the_least_important();
    test_peek_and_foreach();
    test_squeezed_room();
    test_against_model();
    return CHECK_SUMMARY();
}
