/* The specs shipped with gmmc (the YAML files in dsl/specs), embedded in the binary. */
#ifndef GMMC_SHIPPED_H
#define GMMC_SHIPPED_H

#include <stddef.h>

typedef struct {
  const char *name; /* model name, e.g. "gmm_full" */
  const char *file; /* file name, for messages */
  const char *text;
  size_t len;
} ShippedSpec;

extern const ShippedSpec shipped_specs[];
extern const int shipped_spec_count;

/* By model name ("gmm_full", "kmeans") or covariance type ("full", "diag",
 * "spherical", "tied"). NULL if unknown. */
const ShippedSpec *shipped_spec(const char *name);

#endif
