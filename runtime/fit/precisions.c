/* scikit-learn's precisions_init (precision matrices, or per-dimension /
 * per-component precisions) to the spec's precisions_cholesky: the upper
 * triangular U with U Uᵀ = P, computed as J chol(J P J) J with J the
 * exchange matrix (chol lower). */
#include <math.h>
#include <stdlib.h>

#include "precisions.h"

#include "runtime/device/oom.h"

/* 0; -1 when p is not positive definite, -2 when out of memory */
static int upper_factor(const double *p, double *u, int64_t n) {
  /* q = J p J, then lower Cholesky of q into l */
  double *l = xcalloc((size_t)(n * n), sizeof(double));
  if (!l) return -2;
  for (int64_t j = 0; j < n; j++) {
    double s = p[(n - 1 - j) * n + (n - 1 - j)];
    for (int64_t k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
    if (!(s > 0)) {
      free(l);
      return -1;
    }
    l[j * n + j] = sqrt(s);
    for (int64_t i = j + 1; i < n; i++) {
      double t = p[(n - 1 - i) * n + (n - 1 - j)];
      for (int64_t k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = t / l[j * n + j];
    }
  }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) u[i * n + j] = l[(n - 1 - i) * n + (n - 1 - j)];
  free(l);
  return 0;
}

gmmc_status precisions_to_cholesky(const double *prec, double *out, const Buffer *b, char **err) {
  int matrices = b->tensor && b->tensor->structure == ST_UPPER;
  int64_t total = buffer_elems(b, 0);
  if (!matrices) {
    for (int64_t i = 0; i < total; i++) {
      if (!(prec[i] > 0)) {
        *err = xasprintf("initial precisions: value %lld is not positive (%g)", (long long)i, prec[i]);
        return GMMC_ERR_INVALID_ARGUMENT;
      }
      out[i] = sqrt(prec[i]);
    }
    return GMMC_OK;
  }
  int64_t n = b->dims[b->rank - 1], batch = total / (n * n);
  for (int64_t k = 0; k < batch; k++) {
    const double *p = prec + k * n * n;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < i; j++)
        if (fabs(p[i * n + j] - p[j * n + i]) > 1e-10 * (fabs(p[i * n + j]) + fabs(p[j * n + i]) + 1e-300)) {
          *err = batch > 1
                     ? xasprintf("initial precisions: the matrix of component %lld is not symmetric", (long long)k)
                     : xstrdup("initial precisions: the matrix is not symmetric");
          return GMMC_ERR_INVALID_ARGUMENT;
        }
    int rc = upper_factor(p, out + k * n * n, n);
    if (rc == -2) return oom_status(err, "the initial precisions' factors");
    if (rc) {
      *err = batch > 1
                 ? xasprintf("initial precisions: the matrix of component %lld is not positive definite", (long long)k)
                 : xstrdup("initial precisions: the matrix is not positive definite");
      return GMMC_ERR_INVALID_ARGUMENT;
    }
  }
  return GMMC_OK;
}
