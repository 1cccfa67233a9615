/*
 * What the fuzz targets share: check(cond), an oracle that says which condition did not hold and
 * crashes, so that libFuzzer keeps the input (and a unit test replaying the corpus fails).
 */
#ifndef SLUICE_FUZZ_CHECK_H
#define SLUICE_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define check(cond)                                                                                                                \
    do {                                                                                                                           \
        if (!(cond)) {                                                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                               \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
