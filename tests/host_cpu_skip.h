/* Whether a context's error says that GMMC_HOST_CPU names an x86-64 level
 * this machine cannot run: a test then reports itself skipped (exit 77),
 * not passed and not failed. Shared by test_stream and the scikit-learn
 * agreement, which CI runs at several levels. */
#ifndef GMMC_TEST_HOST_CPU_SKIP_H
#define GMMC_TEST_HOST_CPU_SKIP_H

#include <string.h>

static inline int host_level_unavailable(const char *error) {
  return strstr(error, "GMMC_HOST_CPU") && (strstr(error, "cannot run") || strstr(error, "is for x86-64"));
}

#endif
