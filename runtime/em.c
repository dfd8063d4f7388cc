/* The EM driver (gmmc_fit), generic over the compiled program: it runs the
 * spec's iterate sequence (E-step, M-step, derived statements), reads the
 * objective (the summed log-likelihood) and stops as scikit-learn does:
 *
 *   for each of n_init initialisations:
 *     lower_bound = -inf
 *     for iter in 1..max_iter:
 *       E-step (lower bound of the current parameters), M-step
 *       stop when |lower_bound - previous| < tol
 *     keep the parameters of the initialisation with the largest lower bound
 *   warn when that initialisation did not converge */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../dsl/shipped.h"
#include "autotune.h"
#include "data.h"
#include "fit.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* The single data tensor of a spec, with its feature size. */
static Tensor *spec_data(Spec *s) {
  Tensor *found = NULL;
  for (int i = 0; i < s->tensors.len; i++) {
    Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_DATA) continue;
    if (found) return NULL;
    found = t;
  }
  return found;
}

static gmmc_status resolve_target(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o,
                                  FitTarget *ft) {
  memset(ft, 0, sizeof *ft);
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
  if (!s) return ctx_fail_take(ctx, GMMC_ERR_SPEC, err);
  gmmc_status st = GMMC_OK;
  Tensor *x = spec_data(s);
  if (!x || x->rank > 2) {
    st = ctx_fail(ctx, GMMC_ERR_SPEC, "%s: fitting needs exactly one data tensor of shape [N, D] or [N]", ft->file);
    goto done;
  }
  int feature = x->rank == 2 ? x->dims[1] : -1;
  if (x->rank == 1 && data->cols != 1) {
    st = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s takes one value per event, but the data has %lld columns",
                  ft->file, (long long)data->cols);
    goto done;
  }
  int comp = s->component_size;
  if (comp < 0) { /* no responsibilities: the one fixed size left is the components */
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
    SizeSym *z = spec_size(s, i);
    if (z->is_event) continue;
    int64_t v;
    if (i == feature) v = data->cols;
    else if (i == comp) v = o->n_components;
    else {
      st = ctx_fail(ctx, GMMC_ERR_SPEC, "%s: size %s is neither the data's feature count nor the component count",
                    ft->file, z->name);
      goto done;
    }
    if (i == feature && i == comp && data->cols != o->n_components) {
      st = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: size %s is both features and components", ft->file,
                    z->name);
      goto done;
    }
    if (ft->nsizes == 8) {
      st = ctx_fail(ctx, GMMC_ERR_SPEC, "%s: too many sizes", ft->file);
      goto done;
    }
    ft->sizes[ft->nsizes++] = (SizeBinding){z->name, v};
  }
  /* names point into the spec: copy them out before it goes */
  for (int i = 0; i < ft->nsizes; i++) ft->sizes[i].name = xstrdup(ft->sizes[i].name);
  gmmc_dtype dt = o->dtype != GMMC_DTYPE_AUTO ? o->dtype
                  : ctx->kind == GMMC_BACKEND_HOST ? data->dtype
                                                   : GMMC_FLOAT32;
  ft->real = dt == GMMC_FLOAT64 ? LT_F64 : LT_F32;
done:
  spec_free(s);
  return st;
}

static void free_target(FitTarget *ft) {
  for (int i = 0; i < ft->nsizes; i++) free((char *)ft->sizes[i].name);
}

/* Model metadata: spec, sizes, scalars; the parameters come later. */
static gmmc_model *new_model(const FitTarget *ft, const Program *p, const gmmc_fit_options *o, int64_t cols) {
  gmmc_model *m = model_new();
  m->spec_name = xstrdup(p->spec->model);
  m->spec_file = xstrdup(ft->file);
  m->spec_text = xstrdup(ft->text);
  m->shipped = ft->shipped;
  m->nsizes = ft->nsizes;
  m->size_names = xcalloc((size_t)ft->nsizes + 1, sizeof(char *));
  m->size_values = xcalloc((size_t)ft->nsizes + 1, sizeof(int64_t));
  for (int i = 0; i < ft->nsizes; i++) {
    m->size_names[i] = xstrdup(ft->sizes[i].name);
    m->size_values[i] = ft->sizes[i].value;
  }
  m->dtype = ft->real == LT_F64 ? GMMC_FLOAT64 : GMMC_FLOAT32;
  Spec *s = p->spec;
  m->nscalars = s->scalars.len;
  m->scalar_names = xcalloc((size_t)m->nscalars + 1, sizeof(char *));
  m->scalar_values = xcalloc((size_t)m->nscalars + 1, sizeof(double));
  for (int i = 0; i < m->nscalars; i++) {
    m->scalar_names[i] = xstrdup(spec_scalar(s, i)->name);
    m->scalar_values[i] = spec_scalar(s, i)->value;
    for (int j = 0; j < o->nscalars; j++)
      if (strcmp(o->scalars[j].name, m->scalar_names[i]) == 0) m->scalar_values[i] = o->scalars[j].values[0];
  }
  m->n_components = o->n_components;
  m->n_features = (int)cols;
  return m;
}

double model_count_parameters(const Spec *s, const int64_t *size_values);

gmmc_status em_check_builtins(gmmc_context *ctx, Exec *e, const char *when) {
  int slot, code;
  char *err = NULL;
  gmmc_status s = exec_check_status(e, &slot, &code, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  if (slot < 0) return GMMC_OK;
  const BuiltinInfo *b = &e->p->builtins[slot];
  const char *advice =
      "some components have an ill-defined empirical covariance (for instance caused by singleton or collapsed "
      "samples); try to decrease the number of components, or increase reg_covar";
  if (b->per_component)
    return ctx_fail(ctx, GMMC_ERR_NUMERIC, "%s: '%s' of component %d is not positive definite: %s", when, b->input,
                    code, advice);
  return ctx_fail(ctx, GMMC_ERR_NUMERIC, "%s: '%s' is not positive definite: %s", when, b->input, advice);
}

gmmc_status em_store_params(gmmc_context *ctx, Exec *e, gmmc_model *m) {
  const Program *p = e->p;
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM) continue;
    ModelParam *mp = model_find_param(m, b->name);
    int64_t count = buffer_elems(b, 0);
    double *v = xmalloc(sizeof(double) * (size_t)(count ? count : 1));
    char *err = NULL;
    gmmc_status s = exec_read(e, i, v, &err);
    if (s) {
      free(v);
      return ctx_fail_take(ctx, s, err);
    }
    if (mp) {
      memcpy(mp->values, v, sizeof(double) * (size_t)count);
    } else {
      model_add_param(m, b->name, b->rank, b->dims, v);
    }
    free(v);
  }
  return GMMC_OK;
}

gmmc_status em_load_params(gmmc_context *ctx, Exec *e, const gmmc_model *m) {
  const Program *p = e->p;
  char *err = NULL;
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM) continue;
    ModelParam *mp = model_find_param(m, b->name);
    if (!mp) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the model has no parameter '%s'", b->name);
    if (mp->count != buffer_elems(b, 0))
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s' of the model has %lld values, expected %lld",
                      b->name, (long long)mp->count, (long long)buffer_elems(b, 0));
    gmmc_status s = exec_write(e, i, mp->values, &err);
    if (s) return ctx_fail_take(ctx, s, err);
  }
  for (int i = 0; i < m->nscalars && i < p->spec->scalars.len; i++) exec_set_scalar(e, i, m->scalar_values[i]);
  gmmc_status s = exec_run(e, SEQ_DERIVED, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  return GMMC_OK;
}

static gmmc_status read_objective(gmmc_context *ctx, Exec *e, double *value) {
  const Program *p = e->p;
  double v = 0;
  char *err = NULL;
  gmmc_status s = exec_read(e, p->tensor_buf[p->spec->objective->id], &v, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  *value = v;
  return GMMC_OK;
}

static gmmc_status check_data(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o) {
  if (data->rows < 1 || data->cols < 1)
    return ctx_fail(ctx, GMMC_ERR_DATA, "the data is empty (%lld rows, %lld columns)", (long long)data->rows,
                    (long long)data->cols);
  if (data->rows < o->n_components)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "expected n_samples >= n_components but got n_components = %d, n_samples = %lld",
                    o->n_components, (long long)data->rows);
  int64_t r, c;
  if (data_find_nonfinite(data, &r, &c))
    return ctx_fail(ctx, GMMC_ERR_DATA, "the data holds a non-finite value (NaN or infinity) at row %lld, column %lld",
                    (long long)r + 1, (long long)c + 1);
  return GMMC_OK;
}

static gmmc_status set_scalars(gmmc_context *ctx, Exec *e, const gmmc_fit_options *o) {
  Spec *s = e->p->spec;
  for (int j = 0; j < o->nscalars; j++) {
    int found = -1;
    for (int i = 0; i < s->scalars.len; i++)
      if (strcmp(spec_scalar(s, i)->name, o->scalars[j].name) == 0) found = i;
    if (found < 0) {
      if (strcmp(o->scalars[j].name, "reg_covar") == 0) continue; /* specs without covariances ignore it */
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the spec %s has no scalar '%s'", s->model, o->scalars[j].name);
    }
    exec_set_scalar(e, found, o->scalars[j].values[0]);
  }
  return GMMC_OK;
}

gmmc_status gmmc_fit(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out) {
  if (!ctx || !data || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit: a NULL argument");
  *out = NULL;
  gmmc_status s = check_data(ctx, data, o);
  if (s) return s;
  FitTarget ft;
  if ((s = resolve_target(ctx, data, o, &ft))) return s;
  Compiled *c;
  if ((s = ctx_compile(ctx, ft.file, ft.text, ft.sizes, ft.nsizes, ft.real, &c))) {
    free_target(&ft);
    return s;
  }
  const Program *p = c->p;
  char *err = NULL;
  Exec *e;
  s = exec_create(ctx->be, p, c->bp, data->rows, &e, &err);
  if (s) {
    free_target(&ft);
    return ctx_fail_take(ctx, s, err);
  }
  exec_set_events(e, data->rows, data->rows);
  gmmc_model *best = new_model(&ft, p, o, data->cols);
  best->n_parameters = model_count_parameters(p->spec, p->size_values);
  if ((s = exec_bind_data(e, data, 0, &err))) {
    s = ctx_fail_take(ctx, s, err);
    goto fail;
  }
  if ((s = set_scalars(ctx, e, o))) goto fail;
  Rng rng;
  rng_seed(&rng, o->seed);
  double best_lb = -INFINITY;
  int have_best = 0;
  double *lbs = xcalloc((size_t)o->max_iter + 1, sizeof(double));
  for (int init = 0; init < o->n_init; init++) {
    if ((s = em_initialize(ctx, e, data, o, &ft, &rng))) {
      free(lbs);
      goto fail;
    }
    double lb = -INFINITY;
    int converged = 0, iter = 0;
    for (iter = 1; iter <= o->max_iter; iter++) {
      double t0 = now_s(), prev = lb, obj = 0;
      if ((s = exec_reset_status(e, &err)) || (s = exec_run(e, SEQ_ITERATE, &err))) {
        free(lbs);
        s = ctx_fail_take(ctx, s, err);
        goto fail;
      }
      if ((s = read_objective(ctx, e, &obj)) || (s = em_check_builtins(ctx, e, "fitting failed"))) {
        free(lbs);
        goto fail;
      }
      lb = obj / (double)e->n_total;
      if (!isfinite(lb)) {
        free(lbs);
        s = ctx_fail(ctx, GMMC_ERR_NUMERIC,
                     "fitting failed: the log-likelihood is not finite at iteration %d of initialisation %d "
                     "(degenerate data or parameters; try increasing reg_covar)",
                     iter, init + 1);
        goto fail;
      }
      lbs[iter - 1] = lb;
      /* variants are chosen on real data once the buffers hold an iteration */
      if (init == 0 && iter == 1 && (s = autotune_exec(ctx, e))) {
        free(lbs);
        goto fail;
      }
      double change = lb - prev;
      if (o->progress) o->progress(o->progress_user, init + 1, iter, lb, change, now_s() - t0);
      if (fabs(change) < o->tol) {
        converged = 1;
        break;
      }
    }
    int n_iter = iter > o->max_iter ? o->max_iter : iter;
    if (!have_best || lb > best_lb) {
      have_best = 1;
      best_lb = lb;
      if ((s = em_store_params(ctx, e, best))) {
        free(lbs);
        goto fail;
      }
      best->converged = converged;
      best->n_iter = n_iter;
      free(best->lower_bounds);
      best->lower_bounds = xmalloc(sizeof(double) * (size_t)(n_iter + 1));
      memcpy(best->lower_bounds, lbs, sizeof(double) * (size_t)n_iter);
      best->n_lower_bounds = n_iter;
    }
  }
  free(lbs);
  best->lower_bound = best_lb;
  if (!best->converged && o->max_iter > 0)
    ctx_warn(ctx,
             "the best initialisation did not converge in %d iterations; try different init parameters, or increase "
             "max_iter, tol, or check for degenerate data",
             o->max_iter);
  exec_destroy(e);
  free_target(&ft);
  *out = best;
  return GMMC_OK;
fail:
  exec_destroy(e);
  model_free(best);
  free_target(&ft);
  return s;
}
