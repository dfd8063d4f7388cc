/* gmmc_fit_options: scikit-learn's GaussianMixture parameters. Setters
 * validate what they can alone; the rest is checked by gmmc_fit. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"

static int refusal_at(const gmmc_fit_options *o, const char *key) {
  for (int i = 0; i < o->nrefused; i++)
    if (strcmp(o->refused[i], key) == 0) return i;
  return -1;
}

/* Out of memory in a setter or a refusal: the option keeps its value. */
static gmmc_status no_memory(gmmc_fit_options *o, const char *what) {
  oom_message(o->error_short, sizeof o->error_short, what);
  free(o->error);
  o->error = NULL;
  return GMMC_ERR_OUT_OF_MEMORY;
}

/* Refuses a setting of option `key`: the message, kept until the option is
 * set successfully (accept). */
static gmmc_status __attribute__((format(printf, 3, 4))) bad(gmmc_fit_options *o, const char *key, const char *fmt,
                                                             ...) {
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  free(o->error);
  o->error = sb_take(&sb);
  /* the refusal must stand (a fit with it fails): when it cannot be
   * recorded, the call fails for want of memory instead */
  int i = refusal_at(o, key);
  char *why = o->error ? xstrdup(o->error) : NULL, *name = i < 0 ? xstrdup(key) : NULL;
  char **refused = i < 0 && why && name ? xrealloc(o->refused, sizeof(char *) * (size_t)(o->nrefused + 1)) : NULL;
  if (refused) o->refused = refused;
  char **refused_why = refused ? xrealloc(o->refused_why, sizeof(char *) * (size_t)(o->nrefused + 1)) : NULL;
  if (refused_why) o->refused_why = refused_why;
  if (!why || (i < 0 && !refused_why)) {
    free(why);
    free(name);
    return no_memory(o, "an option's refusal");
  }
  if (i < 0) {
    o->refused[i = o->nrefused++] = name;
  } else {
    free(o->refused_why[i]);
  }
  o->refused_why[i] = why;
  return GMMC_ERR_INVALID_ARGUMENT;
}

/* Option `key` was set: an earlier refusal of it no longer stands. */
static gmmc_status accept(gmmc_fit_options *o, const char *key) {
  int i = refusal_at(o, key);
  if (i < 0) return GMMC_OK;
  free(o->refused[i]);
  free(o->refused_why[i]);
  o->nrefused--;
  o->refused[i] = o->refused[o->nrefused];
  o->refused_why[i] = o->refused_why[o->nrefused];
  return GMMC_OK;
}

const char *fit_options_refusal(const gmmc_fit_options *o) { return o->nrefused ? o->refused_why[0] : NULL; }

gmmc_status gmmc_fit_options_create(gmmc_fit_options **out) {
  if (!out) return GMMC_ERR_INVALID_ARGUMENT;
  gmmc_fit_options *o = *out = xcalloc(1, sizeof *o);
  if (!o) return GMMC_ERR_OUT_OF_MEMORY;
  o->n_components = 1;
  if (!(o->covariance_type = xstrdup("full"))) {
    free(o);
    *out = NULL;
    return GMMC_ERR_OUT_OF_MEMORY;
  }
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
  free(o->sample_weight);
  for (int i = 0; i < o->nrefused; i++) {
    free(o->refused[i]);
    free(o->refused_why[i]);
  }
  free(o->refused);
  free(o->refused_why);
  free(o->error);
  free(o);
}

const char *gmmc_fit_options_error(const gmmc_fit_options *o) { return !o ? "" : o->error ? o->error : o->error_short; }

gmmc_status gmmc_fit_options_set_n_components(gmmc_fit_options *o, int n) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (n < 1) return bad(o, "n_components", "n_components must be >= 1, got %d", n);
  o->n_components = n;
  return accept(o, "n_components");
}

gmmc_status gmmc_fit_options_set_covariance_type(gmmc_fit_options *o, const char *type) {
  if (!o || !type) return GMMC_ERR_INVALID_ARGUMENT;
  char *copy = xstrdup(type);
  if (!copy) return no_memory(o, "the covariance type");
  free(o->covariance_type);
  o->covariance_type = copy;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_spec(gmmc_fit_options *o, const char *name, const char *text) {
  if (!o || !text) return GMMC_ERR_INVALID_ARGUMENT;
  char *n = xstrdup(name ? name : "spec"), *t = n ? xstrdup(text) : NULL;
  if (!t) {
    free(n);
    return no_memory(o, "the spec's text");
  }
  free(o->spec_name);
  free(o->spec_text);
  o->spec_name = n;
  o->spec_text = t;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_tol(gmmc_fit_options *o, double tol) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(tol >= 0) || isinf(tol)) return bad(o, "tol", "tol must be a finite number >= 0, got %g", tol);
  o->tol = tol;
  return accept(o, "tol");
}

/* 0, or -1 when out of memory (the list as it was). */
static int set_named(NamedValues **list, int *n, const char *name, const double *values, size_t count) {
  double *copy = xmalloc(sizeof(double) * (count ? count : 1));
  if (!copy) return -1;
  if (count) memcpy(copy, values, sizeof(double) * count);
  for (int i = 0; i < *n; i++)
    if (strcmp((*list)[i].name, name) == 0) {
      free((*list)[i].values);
      (*list)[i].values = copy;
      (*list)[i].count = count;
      return 0;
    }
  char *nm = xstrdup(name);
  NamedValues *grown = nm ? xrealloc(*list, sizeof(NamedValues) * (size_t)(*n + 1)) : NULL;
  if (!grown) {
    free(nm);
    free(copy);
    return -1;
  }
  *list = grown;
  (*list)[(*n)++] = (NamedValues){.name = nm, .values = copy, .count = count};
  return 0;
}

gmmc_status gmmc_fit_options_set_scalar(gmmc_fit_options *o, const char *name, double value) {
  if (!o || !name) return GMMC_ERR_INVALID_ARGUMENT;
  if (!isfinite(value)) return bad(o, name, "%s must be finite, got %g", name, value);
  if (set_named(&o->scalars, &o->nscalars, name, &value, 1)) return no_memory(o, "a scalar's value");
  return accept(o, name);
}

gmmc_status gmmc_fit_options_set_reg_covar(gmmc_fit_options *o, double reg) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(reg >= 0) || isinf(reg)) return bad(o, "reg_covar", "reg_covar must be a finite number >= 0, got %g", reg);
  return gmmc_fit_options_set_scalar(o, "reg_covar", reg);
}

gmmc_status gmmc_fit_options_set_max_iter(gmmc_fit_options *o, int max_iter) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (max_iter < 0) return bad(o, "max_iter", "max_iter must be >= 0, got %d", max_iter);
  o->max_iter = max_iter;
  return accept(o, "max_iter");
}

gmmc_status gmmc_fit_options_set_n_init(gmmc_fit_options *o, int n_init) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (n_init < 1) return bad(o, "n_init", "n_init must be >= 1, got %d", n_init);
  o->n_init = n_init;
  return accept(o, "n_init");
}

gmmc_status gmmc_fit_options_set_init(gmmc_fit_options *o, gmmc_init init) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if ((unsigned)init > GMMC_INIT_RANDOM_FROM_DATA) return bad(o, "init", "unknown init method %d", (int)init);
  o->init = init;
  return accept(o, "init");
}

gmmc_status gmmc_fit_options_set_seed(gmmc_fit_options *o, uint64_t seed) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  o->seed = seed;
  return GMMC_OK;
}

gmmc_status gmmc_fit_options_set_dtype(gmmc_fit_options *o, gmmc_dtype dtype) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if ((unsigned)dtype > GMMC_FLOAT64) return bad(o, "dtype", "unknown dtype %d", (int)dtype);
  o->dtype = dtype;
  return accept(o, "dtype");
}

gmmc_status gmmc_fit_options_set_precision(gmmc_fit_options *o, const char *precision) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!precision) return bad(o, "precision", "precision: expected float32, 3xtf32, tf32 or float64-stats, got NULL");
  Precision p;
  if (!precision_from_name(precision, &p))
    return bad(o, "precision", "precision: expected float32, 3xtf32, tf32 or float64-stats, got '%s'", precision);
  if (p == PRECISION_BF16)
    return bad(o, "precision",
               "precision 'bf16' is not available yet: gmmc has no BF16 tensor-core variants (issue 24); use "
               "float32 (default), tf32 or float64-stats");
  o->precision = p;
  return accept(o, "precision");
}

gmmc_status gmmc_fit_options_set_init_param(gmmc_fit_options *o, const char *name, const double *values, size_t count) {
  if (!o || !name || (!values && count)) return GMMC_ERR_INVALID_ARGUMENT;
  char *key = xasprintf("initial %s", name);
  if (!key) return no_memory(o, "an initial parameter's name");
  gmmc_status s = GMMC_OK;
  for (size_t i = 0; i < count && !s; i++)
    if (!isfinite(values[i])) s = bad(o, key, "initial %s: value %zu is not finite", name, i);
  if (!s && set_named(&o->init_params, &o->ninit_params, name, values, count)) s = no_memory(o, "initial values");
  if (!s) accept(o, key);
  free(key);
  return s;
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
  if (events < 0)
    return bad(o, "chunk_events", "chunk_events must be >= 0 (0: automatic), got %lld", (long long)events);
  o->chunk_events = events;
  return accept(o, "chunk_events");
}

gmmc_status gmmc_fit_options_set_sample_weight(gmmc_fit_options *o, const double *w, size_t count) {
  if (!o) return GMMC_ERR_INVALID_ARGUMENT;
  if (!w && count) return bad(o, "sample_weight", "sample_weight: NULL values with count %zu", count);
  double sum = 0;
  for (size_t i = 0; i < count; i++) {
    if (!isfinite(w[i])) return bad(o, "sample_weight", "sample_weight[%zu] = %g: the weights must be finite", i, w[i]);
    if (w[i] < 0) return bad(o, "sample_weight", "sample_weight[%zu] = %g: the weights must be >= 0", i, w[i]);
    sum += w[i];
  }
  if (count && sum == 0) return bad(o, "sample_weight", "sample_weight: all %zu weights are 0", count);
  if (!isfinite(sum)) return bad(o, "sample_weight", "sample_weight: the weights add up to infinity");
  double *copy = count ? xmalloc(sizeof(double) * count) : NULL;
  if (count && !copy) return no_memory(o, "the sample weights");
  if (count) memcpy(copy, w, sizeof(double) * count);
  free(o->sample_weight);
  o->sample_weight = copy;
  o->nsample_weight = count;
  return accept(o, "sample_weight");
}

/* A copy for a handle that outlives the caller's options (gmmc_online):
 * every setting but the warm start and the sample weights, which belong to
 * one gmmc_fit call; NULL when out of memory. */
gmmc_fit_options *fit_options_copy(const gmmc_fit_options *o) {
  gmmc_fit_options *c = NULL;
  if (gmmc_fit_options_create(&c)) return NULL;
  int ok = 1;
  c->n_components = o->n_components;
  free(c->covariance_type);
  c->covariance_type = o->covariance_type ? xstrdup(o->covariance_type) : NULL;
  ok &= !o->covariance_type || c->covariance_type;
  if (o->spec_name) ok &= (c->spec_name = xstrdup(o->spec_name)) != NULL;
  if (o->spec_text) ok &= (c->spec_text = xstrdup(o->spec_text)) != NULL;
  c->tol = o->tol, c->max_iter = o->max_iter, c->n_init = o->n_init, c->init = o->init, c->seed = o->seed;
  c->dtype = o->dtype, c->chunk_events = o->chunk_events, c->precision = o->precision;
  c->progress = o->progress, c->progress_user = o->progress_user;
  for (int i = 0; i < o->nscalars && ok; i++)
    ok = !set_named(&c->scalars, &c->nscalars, o->scalars[i].name, o->scalars[i].values, o->scalars[i].count);
  for (int i = 0; i < o->ninit_params && ok; i++)
    ok = !set_named(&c->init_params, &c->ninit_params, o->init_params[i].name, o->init_params[i].values,
                    o->init_params[i].count);
  if (!ok) {
    gmmc_fit_options_destroy(c);
    return NULL;
  }
  return c;
}
