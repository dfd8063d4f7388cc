/* Whether a context's error says that GMMC_HOST_CPU names an x86-64 level
 * this machine cannot run: a test then reports itself skipped (exit 77),
 * not passed and not failed. Shared by the tests CI runs at several levels;
 * test_context opens the context they test on. */
#ifndef GMMC_TEST_HOST_CPU_SKIP_H
#define GMMC_TEST_HOST_CPU_SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmmc/gmmc.h"

static inline int host_level_unavailable(const char *error) {
  return strstr(error, "GMMC_HOST_CPU") && (strstr(error, "cannot run") || strstr(error, "is for x86-64"));
}

/* The backend GMMC_TEST_BACKEND names: cuda, else the host. */
static inline gmmc_backend test_backend(void) {
  const char *b = getenv("GMMC_TEST_BACKEND");
  return b && strcmp(b, "cuda") == 0 ? GMMC_BACKEND_CUDA : GMMC_BACKEND_HOST;
}

/* A context on backend: 0 with *ctx set, or the exit code for main (77:
 * skipped, no GPU or no such host level; 1: failed), the reason printed
 * after "NAME: ". */
static inline int test_context(const char *name, gmmc_backend backend, gmmc_context **ctx) {
  gmmc_status s = gmmc_context_create(ctx, backend);
  if (!s) return 0;
  int skip = s == GMMC_ERR_NO_DEVICE || host_level_unavailable(gmmc_last_error(*ctx));
  printf("%s: %s: %s\n", name, skip ? "skipped" : "FAIL: no context", gmmc_last_error(*ctx));
  gmmc_context_destroy(*ctx); /* set even on failure */
  *ctx = NULL;
  return skip ? 77 : 1;
}

#endif
