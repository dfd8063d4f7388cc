/* gmmc_sample: events drawn from a Gaussian mixture model, as scikit-learn's
 * GaussianMixture.sample: component counts from the weights, then each
 * component's events together (mean + L z with L the Cholesky factor of the
 * covariance; diagonal and spherical covariances elementwise). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "runtime/exec/context.h"
#include "runtime/fit/rng.h"
#include "runtime/model/model.h"

typedef enum { COV_FULL, COV_TIED, COV_DIAG, COV_SPHERICAL } CovKind;

static int cov_kind(const gmmc_model *m, const ModelParam *cov, CovKind *k) {
  int mm = m->n_components, d = m->n_features;
  char *err = NULL;
  Spec *s = spec_load(m->spec_file, m->spec_text, strlen(m->spec_text), &err);
  free(err);
  Structure st = ST_NONE;
  if (s) {
    for (int i = 0; i < s->tensors.len; i++)
      if (strcmp(spec_tensor(s, i)->name, "covariances") == 0) st = spec_tensor(s, i)->structure;
    spec_free(s);
  }
  if (cov->rank == 3 && cov->shape[0] == mm && cov->shape[1] == d && cov->shape[2] == d)
    *k = COV_FULL;
  else if (cov->rank == 2 && st == ST_SYMMETRIC && cov->shape[0] == d && cov->shape[1] == d)
    *k = COV_TIED;
  else if (cov->rank == 2 && cov->shape[0] == mm && cov->shape[1] == d)
    *k = COV_DIAG;
  else if (cov->rank == 1 && cov->shape[0] == mm)
    *k = COV_SPHERICAL;
  else
    return -1;
  return 0;
}

static int cholesky_lower(const double *a, double *l, int n) {
  memset(l, 0, sizeof(double) * (size_t)(n * n));
  for (int j = 0; j < n; j++) {
    double s = a[j * n + j];
    for (int k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
    if (!(s > 0)) return -1;
    l[j * n + j] = sqrt(s);
    for (int i = j + 1; i < n; i++) {
      double t = a[i * n + j];
      for (int k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = t / l[j * n + j];
    }
  }
  return 0;
}

gmmc_status gmmc_sample(gmmc_context *ctx, const gmmc_model *m, int64_t n, uint64_t seed, double *X, int64_t X_len,
                        int32_t *labels, int64_t labels_len) {
  if (!m || !X) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_sample: a NULL argument");
  if (n < 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "invalid value for n_samples: %lld; it must be >= 1", (long long)n);
  /* labels are optional: NULL goes with labels_len 0 */
  if (!labels && labels_len)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_sample: labels is NULL but labels_len is %lld",
                    (long long)labels_len);
  gmmc_status st;
  if ((st = infer_check_len(ctx, "gmmc_sample", "X", X_len, n, m->n_features)) ||
      (labels && (st = infer_check_len(ctx, "gmmc_sample", "labels", labels_len, n, 1))))
    return st;
  const ModelParam *w = model_find_param(m, "weights"), *mu = model_find_param(m, "means"),
                   *cov = model_find_param(m, "covariances");
  CovKind kind;
  if (!w || !mu || !cov || cov_kind(m, cov, &kind))
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "sampling needs a Gaussian mixture (weights, means, covariances); %s has other parameters",
                    m->spec_name);
  int mm = m->n_components, d = m->n_features;
  Rng rng;
  rng_seed(&rng, seed);
  int64_t *counts = xcalloc((size_t)mm, sizeof(int64_t));
  double *l = xmalloc(sizeof(double) * (size_t)(d * d)), *z = xmalloc(sizeof(double) * (size_t)d);
  if (!counts || !l || !z) {
    free(counts);
    free(l);
    free(z);
    return ctx_oom(ctx, "sampling");
  }
  for (int64_t i = 0; i < n; i++) {
    double u = rng_uniform(&rng), acc = 0;
    int k = mm - 1;
    for (int j = 0; j < mm; j++) {
      acc += w->values[j];
      if (u < acc) {
        k = j;
        break;
      }
    }
    counts[k]++;
  }
  st = GMMC_OK;
  int64_t row = 0;
  for (int k = 0; k < mm && !st; k++) {
    if (kind == COV_FULL || kind == COV_TIED) {
      const double *c = cov->values + (kind == COV_FULL ? (size_t)k * d * d : 0);
      if (cholesky_lower(c, l, d)) {
        st = ctx_fail(ctx, GMMC_ERR_NUMERIC, "the covariance of component %d is not positive definite", k);
        break;
      }
    }
    for (int64_t i = 0; i < counts[k]; i++, row++) {
      for (int a = 0; a < d; a++) z[a] = rng_normal(&rng);
      double *x = X + row * d;
      for (int a = 0; a < d; a++) {
        double v = mu->values[k * d + a];
        if (kind == COV_FULL || kind == COV_TIED)
          for (int b = 0; b <= a; b++) v += l[a * d + b] * z[b];
        else if (kind == COV_DIAG)
          v += sqrt(cov->values[k * d + a]) * z[a];
        else
          v += sqrt(cov->values[k]) * z[a];
        x[a] = v;
      }
      if (labels) labels[row] = k;
    }
  }
  free(l);
  free(z);
  free(counts);
  return st;
}
