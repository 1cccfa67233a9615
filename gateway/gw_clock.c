#include "gw_clock.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gw_rng_seed(gw_rng_t *rng)
{
    if (getrandom(rng->state, sizeof(rng->state), 0) != sizeof(rng->state)) {
        rng->state[0] = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
        rng->state[1] = gw_now_ns() | 1;
    }
    if ((rng->state[0] | rng->state[1]) == 0)
        rng->state[1] = 1; /* the one state xorshift never leaves */
}

uint64_t gw_rng_next(gw_rng_t *rng)
{
    uint64_t s1 = rng->state[0];
    const uint64_t s0 = rng->state[1];
    rng->state[0] = s0;
    s1 ^= s1 << 23;
    rng->state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng->state[1] + s0;
}
