/* The spec and sizes a fit (or a model made from arrays) uses: the spec from
 * the options (a user's, or the shipped one of the covariance type), its
 * feature size bound to the data's columns, its component size to
 * n_components, and the precision of the kernels. */
#include <stdlib.h>
#include <string.h>

#include "dsl/shipped.h"
#include "fit.h"

/* The single data tensor of a spec. */
static const Tensor *spec_data(const Spec *s) {
  const Tensor *found = NULL;
  for (int i = 0; i < s->tensors.len; i++) {
    const Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_DATA || t->optional) continue; /* optional data: the weights, bound apart */
    if (found) return NULL;
    found = t;
  }
  return found;
}

/* The component size: the responsibilities' component axis, or else the one
 * fixed size left besides the features; -2 when that is ambiguous. */
static int component_size(const Spec *s, int feature) {
  int comp = s->component_size;
  if (comp >= 0) return comp;
  for (int i = 0; i < s->sizes.len; i++) {
    if (spec_size(s, i)->is_event || i == feature) continue;
    if (comp >= 0) return -2;
    comp = i;
  }
  return comp;
}

static gmmc_status bind_sizes(gmmc_context *ctx, const Spec *s, const gmmc_fit_options *o, int64_t cols,
                              FitTarget *ft) {
  const Tensor *x = spec_data(s);
  if (!x || x->rank > 2)
    return ctx_fail(ctx, GMMC_ERR_SPEC,
                    "%s: fitting needs exactly one data tensor of shape [N, D] or [N] (besides optional weights)",
                    ft->file);
  if (x->rank == 1 && cols != 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s takes one value per event, but the data has %lld columns",
                    ft->file, (long long)cols);
  int feature = x->rank == 2 ? x->dims[1] : -1;
  int comp = component_size(s, feature);
  for (int i = 0; i < s->sizes.len; i++) {
    const SizeSym *z = spec_size(s, i);
    if (z->is_event) continue;
    if (i == feature && i == comp && cols != o->n_components)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: size %s is both features and components", ft->file, z->name);
    if (i != feature && i != comp)
      return ctx_fail(ctx, GMMC_ERR_SPEC, "%s: size %s is neither the data's feature count nor the component count",
                      ft->file, z->name);
    if (ft->nsizes == 8) return ctx_fail(ctx, GMMC_ERR_SPEC, "%s: too many sizes", ft->file);
    char *name = xstrdup(z->name);
    if (!name) return ctx_oom(ctx, "a size's name");
    ft->sizes[ft->nsizes++] = (SizeBinding){name, i == feature ? cols : o->n_components};
  }
  return GMMC_OK;
}

gmmc_status fit_resolve_target(gmmc_context *ctx, const gmmc_fit_options *o, int64_t cols, gmmc_dtype data_dtype,
                               int in_place, FitTarget *ft, Spec **spec) {
  memset(ft, 0, sizeof *ft);
  if (spec) *spec = NULL;
  const char *refused = fit_options_refusal(o);
  if (refused)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the options hold a setting they refused (not set since): %s",
                    refused);
  if (o->spec_text) {
    ft->file = o->spec_name;
    ft->text = o->spec_text;
  } else {
    const ShippedSpec *sh = shipped_spec(o->covariance_type);
    if (!sh)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                      "covariance_type must be 'full', 'diag', 'spherical' or 'tied' (or a shipped spec name), "
                      "got '%s'",
                      o->covariance_type);
    ft->file = sh->file;
    ft->text = sh->text;
    ft->shipped = 1;
  }
  char *err = NULL;
  Spec *s = spec_load(ft->file, ft->text, strlen(ft->text), &err);
  if (!s) return err ? ctx_fail_take(ctx, GMMC_ERR_SPEC, err) : ctx_oom(ctx, "the spec");
  gmmc_status st = bind_sizes(ctx, s, o, cols, ft);
  if (st || !spec) spec_free(s);
  if (st) {
    fit_free_target(ft);
    return st;
  }
  if (spec) *spec = s;
  ft->real = fit_dtype(ctx, o, data_dtype, in_place) == GMMC_FLOAT64 ? LT_F64 : LT_F32;
  return GMMC_OK;
}

gmmc_dtype fit_dtype(const gmmc_context *ctx, const gmmc_fit_options *o, gmmc_dtype data_dtype, int in_place) {
  /* the GPU computes in float32 unless asked otherwise; the host, and device
   * data (read in place, never converted), in the data's precision */
  return o->dtype != GMMC_DTYPE_AUTO                  ? o->dtype
         : ctx->kind == GMMC_BACKEND_HOST || in_place ? data_dtype
                                                      : GMMC_FLOAT32;
}

void fit_free_target(FitTarget *ft) {
  for (int i = 0; i < ft->nsizes; i++) free((char *)ft->sizes[i].name);
  ft->nsizes = 0;
}

gmmc_model *fit_new_model(const FitTarget *ft, const Spec *s, const gmmc_fit_options *o, int64_t cols) {
  gmmc_model *m = model_new();
  if (!m) return NULL;
  m->spec_name = xstrdup(s->model);
  m->spec_file = xstrdup(ft->file);
  m->spec_text = xstrdup(ft->text);
  m->shipped = ft->shipped;
  m->size_names = xcalloc((size_t)ft->nsizes + 1, sizeof(char *));
  m->size_values = xcalloc((size_t)ft->nsizes + 1, sizeof(int64_t));
  m->scalar_names = xcalloc((size_t)s->scalars.len + 1, sizeof(char *));
  m->scalar_values = xcalloc((size_t)s->scalars.len + 1, sizeof(double));
  if (!m->spec_name || !m->spec_file || !m->spec_text || !m->size_names || !m->size_values || !m->scalar_names ||
      !m->scalar_values)
    goto oom;
  /* counted as they are filled: model_free frees what is there */
  for (int i = 0; i < ft->nsizes; i++, m->nsizes++) {
    if (!(m->size_names[i] = xstrdup(ft->sizes[i].name))) goto oom;
    m->size_values[i] = ft->sizes[i].value;
  }
  m->dtype = ft->real == LT_F64 ? GMMC_FLOAT64 : GMMC_FLOAT32;
  for (int i = 0; i < s->scalars.len; i++, m->nscalars++) {
    if (!(m->scalar_names[i] = xstrdup(spec_scalar(s, i)->name))) goto oom;
    m->scalar_values[i] = spec_scalar(s, i)->value;
    for (int j = 0; j < o->nscalars; j++)
      if (strcmp(o->scalars[j].name, m->scalar_names[i]) == 0) m->scalar_values[i] = o->scalars[j].values[0];
  }
  m->n_components = o->n_components;
  m->n_features = (int)cols;
  return m;
oom:
  model_free(m);
  return NULL;
}
