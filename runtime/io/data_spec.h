/* The data against what a spec declares about it (docs/dsl.md, "Data"). */
#ifndef GMMC_RUNTIME_DATA_SPEC_H
#define GMMC_RUNTIME_DATA_SPEC_H

#include "data.h"
#include "dsl/ast.h"

/* Integer or boolean files only for a first data tensor of type integer or
 * binary (else the loader's refusal, int_refusal), and for binary data only
 * the values 0 and 1 (else the first other one, with its row, counted from
 * row0 + 1, and column). */
gmmc_status data_check_spec(const gmmc_data *d, const Spec *s, int64_t row0, char **err);

#endif
