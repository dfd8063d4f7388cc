/* Models built from arrays rather than trained: gmmc_model_create and
 * gmmc_model_set_param (the section "used by the Python package" of gmmc.h).
 *
 * Why: scikit-learn's GaussianMixture keeps its fitted parameters as plain
 * attributes (weights_, means_, covariances_, precisions_cholesky_) that
 * users assign by hand, after a fit or instead of one, and that inference
 * reads as they are at the time of the call. The Python package mirrors this
 * by writing the attributes into a gmmc model before each inference call,
 * and by creating a model when there is no trained one. The spec and its
 * sizes are resolved from fit options exactly as gmmc_fit resolves them, so
 * a created model is interchangeable with a trained one of the same options. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fit/fit.h"
#include "runtime/model/nparams.h"

/* The parameters of a created model: zeros of the spec's shapes; -1 when out of memory. */
static int add_params(gmmc_model *m, const Spec *s, const int64_t *sizes) {
  for (int i = 0; i < s->tensors.len; i++) {
    const Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_PARAM) continue;
    int64_t shape[GMMC_MAX_RANK];
    for (int d = 0; d < t->rank; d++) shape[d] = sizes[t->dims[d]];
    if (!model_add_param(m, t->name, t->rank, shape, NULL)) return -1;
  }
  m->converged = 0;
  m->n_iter = 0;
  m->lower_bound = -INFINITY;
  m->n_parameters = model_count_parameters(s, sizes);
  return 0;
}

gmmc_status gmmc_model_create(gmmc_context *ctx, const gmmc_fit_options *o, int n_features, gmmc_model **out) {
  if (!ctx || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_create: a NULL argument");
  *out = NULL;
  if (n_features < 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_create: n_features must be >= 1, got %d", n_features);
  FitTarget ft;
  Spec *s;
  /* without data: the precision gmmc_fit would choose for float64 data */
  gmmc_status st = fit_resolve_target(ctx, o, n_features, GMMC_FLOAT64, 0, &ft, &s);
  if (st) return st;
  /* the sizes by size id, as the spec's tensors name them */
  int64_t *sizes = xcalloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  gmmc_model *m = sizes ? fit_new_model(&ft, s, o, n_features) : NULL;
  if (m) {
    for (int i = 0; i < s->sizes.len; i++)
      for (int j = 0; j < ft.nsizes; j++)
        if (strcmp(spec_size(s, i)->name, ft.sizes[j].name) == 0) sizes[i] = ft.sizes[j].value;
    if (add_params(m, s, sizes)) {
      model_free(m);
      m = NULL;
    }
  }
  free(sizes);
  spec_free(s);
  fit_free_target(&ft);
  if (!m) return ctx_oom(ctx, "a new model");
  *out = m;
  return GMMC_OK;
}

gmmc_status gmmc_model_set_param(gmmc_context *ctx, gmmc_model *m, const char *name, const double *values,
                                 size_t count) {
  if (!m || !name || (!values && count))
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_set_param: a NULL argument");
  ModelParam *p = model_find_param(m, name);
  if (!p) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the model %s has no parameter '%s'", m->spec_name, name);
  if ((int64_t)count != p->count) {
    StrBuf shape = {0};
    for (int a = 0; a < p->rank; a++) sb_printf(&shape, "%s%lld", a ? ", " : "", (long long)p->shape[a]);
    gmmc_status s =
        ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s': expected %lld values (shape [%s]), got %zu", name,
                 (long long)p->count, shape.data ? shape.data : "", count);
    sb_free(&shape);
    return s;
  }
  for (size_t i = 0; i < count; i++)
    if (!isfinite(values[i]))
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s': value %zu is not finite", name, i);
  if (count) memcpy(p->values, values, sizeof(double) * count);
  return GMMC_OK;
}
