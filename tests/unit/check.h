/*
 * A minimal test harness for sluice's C unit tests: CHECK records a failure with its location
 * and goes on, so one run reports every broken expectation. main() ends with CHECK_SUMMARY(),
 * which prints "N passed, N failed" and returns the exit status. With CHECK_FAIL_FAST set in the
 * environment (scripts/mutate sets it) the first failure exits at once: a killed mutant need
 * not run the rest of a slow test.
 */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed_, check_failed_;

static inline void check_fail_(void)
{
    ++check_failed_;
    if (getenv("CHECK_FAIL_FAST") != NULL) {
        fflush(stderr);
        exit(1);
    }
}

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        if (cond) {                                                                                                                \
            ++check_passed_;                                                                                                       \
        } else {                                                                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                               \
            check_fail_();                                                                                                         \
        }                                                                                                                          \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                                                                         \
    do {                                                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);                                             \
        if (a_ == b_) {                                                                                                            \
            ++check_passed_;                                                                                                       \
        } else {                                                                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%llu != %llu)\n", __FILE__, __LINE__, #a, #b, a_, b_);                 \
            check_fail_();                                                                                                         \
        }                                                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                                                            \
    do {                                                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                                                           \
        if (a_ != NULL && b_ != NULL && strcmp(a_, b_) == 0) {                                                                     \
            ++check_passed_;                                                                                                       \
        } else {                                                                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",  \
                    b_ ? b_ : "(null)");                                                                                           \
            check_fail_();                                                                                                         \
        }                                                                                                                          \
    } while (0)

#define CHECK_SUMMARY() (printf("%d passed, %d failed\n", check_passed_, check_failed_), check_failed_ == 0 ? 0 : 1)

#endif
