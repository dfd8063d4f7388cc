/* gmmc_fit_options: scikit-learn's GaussianMixture parameters. Setters
 * validate what they can alone; the rest is checked by gmmc_fit. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

static gmmc_status bad(gmmc_fit_options *o, const char *fmt, ...) {
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  free(o->error);
  o->error = sb_take(&sb);
  return GMMC_ERR_INVALID_ARGUMENT;
}

gmmc_status gmmc_fit_options_create(gmmc_fit_options **out) {
  if (!out) return GMMC_ERR_INVALID_ARGUMENT;
  gmmc_fit_options *o = xcalloc(1, sizeof *o);
  o->n_components = 1;
  o->covariance_type = xstrdup("full");
  o->tol = 1e-3;
  o->max_iter = 100;
  o->n_init = 1;
  o->init = GMMC_INIT_KMEANS;
  o->dtype = GMMC_DTYPE_AUTO;
  *out = o;
  return GMMC_OK;
}

static void free_named(NamedValues *v, int n) {
  for (int i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].values);
  }
  free(v);
}

void gmmc_fit_options_destroy(gmmc_fit_options *o) {
  if (!o) return;
  free(o->covariance_type);
  free(o->spec_name);
  free(o->spec_text);
  free_named(o->scalars, o->nscalars);
  free_named(o->init_params, o->ninit_params);
  free(o->error);
  free(o);
}

const char *gmmc_fit_options_error(const gmmc_fit_options *o) { return o && o->error ? o->error : ""; }

gmmc_status gmmc_fit_options_set_n_components(gmmc_fit_options *o, int n) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (n < 1) return bad(o, "n_components must be >= 1, got %d", n);
  o->n_components = n;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_covariance_type(gmmc_fit_options *o, const char *type) {
  if (!o || !type) return GMMC_ERR_INVALID_ARGUMENT;
  free(o->covariance_type);
  o->covariance_type = xstrdup(type);
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_spec(gmmc_fit_options *o, const char *name, const char *text) {
  if (!o || !text) return GMMC_ERR_INVALID_ARGUMENT;
  free(o->spec_name);
  free(o->spec_text);
  o->spec_name = xstrdup(name ? name : "spec");
  o->spec_text = xstrdup(text);
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_tol(gmmc_fit_options *o, double tol) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(tol >= 0) || isinf(tol)) return bad(o, "tol must be a finite number >= 0, got %g", tol);
  o->tol = tol;
  return GMMC_OK;
}

static gmmc_status set_named(NamedValues **list, int *n, const char *name, const double *values, size_t count) {
  for (int i = 0; i < *n; i++)
    if (strcmp((*list)[i].name, name) == 0) {
      free((*list)[i].values);
      (*list)[i].values = xmalloc(sizeof(double) * (count ? count : 1));
      memcpy((*list)[i].values, values, sizeof(double) * count);
      (*list)[i].count = count;
      return GMMC_OK;
    }
  *list = xrealloc(*list, sizeof(NamedValues) * (size_t)(*n + 1));
  NamedValues *v = &(*list)[(*n)++];
  v->name = xstrdup(name);
  v->values = xmalloc(sizeof(double) * (count ? count : 1));
  memcpy(v->values, values, sizeof(double) * count);
  v->count = count;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_scalar(gmmc_fit_options *o, const char *name, double value) {
  if (!o || !name) return GMMC_ERR_INVALID_ARGUMENT;
  if (!isfinite(value)) return bad(o, "%s must be finite, got %g", name, value);
  return set_named(&o->scalars, &o->nscalars, name, &value, 1);
}

gmmc_status gmmc_fit_options_set_reg_covar(gmmc_fit_options *o, double reg) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(reg >= 0) || isinf(reg)) return bad(o, "reg_covar must be a finite number >= 0, got %g", reg);
  return gmmc_fit_options_set_scalar(o, "reg_covar", reg);
}

gmmc_status gmmc_fit_options_set_max_iter(gmmc_fit_options *o, int max_iter) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (max_iter < 0) return bad(o, "max_iter must be >= 0, got %d", max_iter);
  o->max_iter = max_iter;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_n_init(gmmc_fit_options *o, int n_init) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (n_init < 1) return bad(o, "n_init must be >= 1, got %d", n_init);
  o->n_init = n_init;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_init(gmmc_fit_options *o, gmmc_init init) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if ((unsigned)init > GMMC_INIT_RANDOM_FROM_DATA) return bad(o, "unknown init method %d", (int)init);
  o->init = init;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_seed(gmmc_fit_options *o, uint64_t seed) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  o->seed = seed;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_dtype(gmmc_fit_options *o, gmmc_dtype dtype) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if ((unsigned)dtype > GMMC_FLOAT64) return bad(o, "unknown dtype %d", (int)dtype);
  o->dtype = dtype;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_init_param(gmmc_fit_options *o, const char *name, const double *values, size_t count) {
  if (!o || !name || (!values && count)) return GMMC_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < count; i++)
    if (!isfinite(values[i])) return bad(o, "initial %s: value %zu is not finite", name, i);
  return set_named(&o->init_params, &o->ninit_params, name, values, count);
}

gmmc_status gmmc_fit_options_set_progress(gmmc_fit_options *o, gmmc_progress_fn fn, void *user) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  o->progress = fn;
  o->progress_user = user;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_warm_start(gmmc_fit_options *o, const gmmc_model *model) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  o->warm_start = model;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_chunk_events(gmmc_fit_options *o, int64_t events) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (events < 0) return bad(o, "chunk_events must be >= 0 (0: automatic), got %lld", (long long)events);
  o->chunk_events = events;
  return GMMC_OK;
}
