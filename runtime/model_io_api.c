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

#include "../dsl/shipped.h"
#include "fit.h"

double model_count_parameters(const Spec *s, const int64_t *size_values);

/* The single data tensor of a spec. */
static const Tensor *data_tensor(const Spec *s) {
  const Tensor *found = NULL;
  for (int i = 0; i < s->tensors.len; i++) {
    const Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_DATA) continue;
    if (found) return NULL;
    found = t;
  }
  return found;
}

/* Binds every fixed size of the spec as gmmc_fit does: the data tensor's
 * second axis is the feature count, the responsibilities' component axis (or
 * the one size left) is the component count. values[] is indexed by size id;
 * the event size stays 0. */
static gmmc_status bind_sizes(gmmc_context *ctx, const Spec *s, const char *file, int n_features, int n_components,
                              int64_t *values) {
  const Tensor *x = data_tensor(s);
  if (!x || x->rank > 2)
    return ctx_fail(ctx, GMMC_ERR_SPEC, "%s: a model needs exactly one data tensor of shape [N, D] or [N]", file);
  if (x->rank == 1 && n_features != 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s takes one value per event, but n_features is %d", file,
                    n_features);
  int feature = x->rank == 2 ? x->dims[1] : -1;
  int comp = s->component_size;
  if (comp < 0) {
    for (int i = 0; i < s->sizes.len; i++) {
      if (spec_size(s, i)->is_event || i == feature) continue;
      if (comp >= 0) {
        comp = -2;
        break;
      }
      comp = i;
    }
  }
  for (int i = 0; i < s->sizes.len; i++) {
    const SizeSym *z = spec_size(s, i);
    values[i] = 0;
    if (z->is_event) continue;
    if (i == feature && i == comp && n_features != n_components)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: size %s is both features and components", file, z->name);
    if (i == feature) values[i] = n_features;
    else if (i == comp) values[i] = n_components;
    else
      return ctx_fail(ctx, GMMC_ERR_SPEC, "%s: size %s is neither the feature count nor the component count", file,
                      z->name);
  }
  return GMMC_OK;
}

static void fill_model(gmmc_model *m, const Spec *s, const char *file, const char *text, int shipped,
                       const int64_t *sizes, const gmmc_fit_options *o, gmmc_dtype dtype, int n_features) {
  m->spec_name = xstrdup(s->model);
  m->spec_file = xstrdup(file);
  m->spec_text = xstrdup(text);
  m->shipped = shipped;
  m->size_names = xcalloc((size_t)s->sizes.len + 1, sizeof(char *));
  m->size_values = xcalloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  for (int i = 0; i < s->sizes.len; i++) {
    if (spec_size(s, i)->is_event) continue;
    m->size_names[m->nsizes] = xstrdup(spec_size(s, i)->name);
    m->size_values[m->nsizes++] = sizes[i];
  }
  m->dtype = dtype;
  m->nscalars = s->scalars.len;
  m->scalar_names = xcalloc((size_t)m->nscalars + 1, sizeof(char *));
  m->scalar_values = xcalloc((size_t)m->nscalars + 1, sizeof(double));
  for (int i = 0; i < m->nscalars; i++) {
    m->scalar_names[i] = xstrdup(spec_scalar(s, i)->name);
    m->scalar_values[i] = spec_scalar(s, i)->value;
    for (int j = 0; j < o->nscalars; j++)
      if (strcmp(o->scalars[j].name, m->scalar_names[i]) == 0) m->scalar_values[i] = o->scalars[j].values[0];
  }
  for (int i = 0; i < s->tensors.len; i++) {
    const Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_PARAM) continue;
    int64_t shape[GMMC_MAX_RANK];
    for (int d = 0; d < t->rank; d++) shape[d] = sizes[t->dims[d]];
    model_add_param(m, t->name, t->rank, shape, NULL);
  }
  m->converged = 0;
  m->n_iter = 0;
  m->lower_bound = -INFINITY;
  m->n_components = o->n_components;
  m->n_features = n_features;
  m->n_parameters = model_count_parameters(s, sizes);
}

gmmc_status gmmc_model_create(gmmc_context *ctx, const gmmc_fit_options *o, int n_features, gmmc_model **out) {
  if (!ctx || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_create: a NULL argument");
  *out = NULL;
  if (n_features < 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_create: n_features must be >= 1, got %d", n_features);
  const char *file, *text;
  int shipped = 0;
  if (o->spec_text) {
    file = o->spec_name;
    text = o->spec_text;
  } else {
    const ShippedSpec *sh = shipped_spec(o->covariance_type);
    if (!sh)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                      "covariance_type must be 'full', 'diag', 'spherical' or 'tied' (or a shipped spec name), "
                      "got '%s'",
                      o->covariance_type);
    file = sh->file;
    text = sh->text;
    shipped = 1;
  }
  char *err = NULL;
  Spec *s = spec_load(file, text, strlen(text), &err);
  if (!s) return ctx_fail_take(ctx, GMMC_ERR_SPEC, err);
  int64_t *sizes = xcalloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  gmmc_status st = bind_sizes(ctx, s, file, n_features, o->n_components, sizes);
  if (!st) {
    /* the precision gmmc_fit would choose without data: float32 on the GPU */
    gmmc_dtype dt = o->dtype != GMMC_DTYPE_AUTO ? o->dtype
                    : ctx->kind == GMMC_BACKEND_CUDA ? GMMC_FLOAT32
                                                     : GMMC_FLOAT64;
    gmmc_model *m = model_new();
    fill_model(m, s, file, text, shipped, sizes, o, dt, n_features);
    *out = m;
  }
  free(sizes);
  spec_free(s);
  return st;
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
    gmmc_status s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s': expected %lld values (shape [%s]), got %zu",
                             name, (long long)p->count, shape.data ? shape.data : "", count);
    sb_free(&shape);
    return s;
  }
  for (size_t i = 0; i < count; i++)
    if (!isfinite(values[i]))
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s': value %zu is not finite", name, i);
  if (count) memcpy(p->values, values, sizeof(double) * count);
  return GMMC_OK;
}
