/*
 * Shared vocabulary of the admission engine. Policies are pure: time is an argument
 * (nanoseconds on one monotonic clock, e.g. CLOCK_MONOTONIC, below 2^60), nothing here reads a
 * clock, does I/O or keeps global state.
 */
#ifndef SLUICE_POL_TYPES_H
#define SLUICE_POL_TYPES_H

#include <stdint.h>

typedef enum {
    POL_ADMIT, /* go on now */
    POL_WAIT,  /* go on later: after a delay (rate limit) or when woken (waiting room) */
    POL_REJECT /* refuse; the caller answers 429 / 503 */
} pol_decision_t;

/* Aborts the process: the one place where running out of memory ends (pol_keyed.c is the only
 * module that allocates). */
void pol_out_of_memory(void) __attribute__((noreturn));

#endif
