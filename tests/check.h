/*
 * check.h - the CHECK macros of the unit tests.
 *
 * Not assert(): it vanishes under NDEBUG, and a test that can be compiled
 * into nothing is a test that can't fail. A failed CHECK prints the file,
 * the line, the expression and the values, counts the failure, and lets the
 * test go on so one run shows every failure; check_exit_status() turns the
 * count into the exit status.
 */
#ifndef TOUR_CHECK_H
#define TOUR_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_INT(a, b)                                                        \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        check_count++;                                                         \
        if (check_a_ != check_b_) {                                            \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);           \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                           \
        check_count++;                                                         \
        if (check_a_ == NULL || check_b_ == NULL ||                            \
            strcmp(check_a_, check_b_) != 0) {                                 \
            check_failures++;                                                  \
            fprintf(                                                           \
                stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n",  \
                __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",    \
                check_b_ ? check_b_ : "(null)");                               \
        }                                                                      \
    } while (0)

/* The test's exit status: 0 if every check passed. Prints a summary. */
static inline int check_exit_status(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}

#endif
