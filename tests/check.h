/* The test programs' CHECK: counts a failure in `failures` and prints where
 * it happened and why, then goes on (a program reports all its failures). */
#ifndef GMMC_TESTS_CHECK_H
#define GMMC_TESTS_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                      \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

#endif
