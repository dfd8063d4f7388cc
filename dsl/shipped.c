#include "shipped.h"

#include <stdio.h>
#include <string.h>

const ShippedSpec *shipped_spec(const char *name) {
  char model[64];
  for (int i = 0; i < shipped_spec_count; i++) {
    if (strcmp(shipped_specs[i].name, name) == 0) return &shipped_specs[i];
    snprintf(model, sizeof model, "gmm_%s", name);
    if (strcmp(shipped_specs[i].name, model) == 0) return &shipped_specs[i];
  }
  return NULL;
}
