/* scikit-learn's precisions_init to the spec's precisions_cholesky
 * (precisions.c). */
#ifndef GMMC_PRECISIONS_H
#define GMMC_PRECISIONS_H

#include "compiler/loopir.h"
#include "gmmc/gmmc.h"

/* prec: the precisions as scikit-learn takes them for buffer b's shape
 * (matrices, or per-dimension / per-component precisions); out: the upper
 * triangular U with U Uᵀ = P, in b's layout. GMMC_ERR_INVALID_ARGUMENT with
 * *err when a matrix is not positive definite. */
gmmc_status precisions_to_cholesky(const double *prec, double *out, const Buffer *b, char **err);

#endif
