/* The number of free parameters of a specialization (nparams.c). */
#ifndef GMMC_NPARAMS_H
#define GMMC_NPARAMS_H

#include <stdint.h>

#include "dsl/ast.h"

/* The spec's n_parameters size expression evaluated with the sizes (one
 * value per size symbol): what bic and aic count. */
double model_count_parameters(const Spec *s, const int64_t *size_values);

#endif
