/* Initialisation of a fit, after scikit-learn's _initialize_parameters: each
 * method yields responsibilities (from labels, or random), the spec's M-step
 * turns them into parameters; user-given parameters then replace what they
 * name, and the derived statements run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "kmeans_init.h"

static gmmc_status fail_err(gmmc_context *ctx, gmmc_status s, char *err) { return ctx_fail_take(ctx, s, err); }

/* Random responsibilities, normalized per event, written in slices. */
static gmmc_status random_resp(gmmc_context *ctx, Exec *e, int buf, int64_t n, int64_t m, Rng *rng) {
  const int64_t rows = 4096;
  double *v = xmalloc(sizeof(double) * (size_t)(rows * m));
  char *err = NULL;
  gmmc_status s = GMMC_OK;
  for (int64_t r0 = 0; r0 < n && !s; r0 += rows) {
    int64_t nr = n - r0 < rows ? n - r0 : rows;
    for (int64_t i = 0; i < nr; i++) {
      double sum = 0;
      for (int64_t j = 0; j < m; j++) sum += v[i * m + j] = rng_uniform(rng);
      for (int64_t j = 0; j < m; j++) v[i * m + j] /= sum;
    }
    s = exec_write_range(e, buf, r0 * m, nr * m, v, &err);
  }
  free(v);
  return s ? fail_err(ctx, s, err) : GMMC_OK;
}

/* M distinct events, uniformly (Floyd's algorithm on a small open hash). */
static void distinct_events(Rng *rng, int64_t n, int m, int64_t *out) {
  int cap = 1;
  while (cap < 4 * m) cap <<= 1;
  int64_t *set = xmalloc(sizeof(int64_t) * (size_t)cap);
  for (int i = 0; i < cap; i++) set[i] = -1;
  int k = 0;
  for (int64_t j = n - m; j < n; j++) {
    int64_t t = (int64_t)rng_below(rng, (uint64_t)j + 1);
    int64_t pick = t;
    for (int pass = 0; pass < 2; pass++) {
      uint64_t h = ((uint64_t)pick * 0x9e3779b97f4a7c15ULL) >> 32;
      int slot = (int)(h & (uint64_t)(cap - 1)), found = 0;
      while (set[slot] >= 0) {
        if (set[slot] == pick) found = 1;
        slot = (slot + 1) & (cap - 1);
      }
      if (!found) {
        set[slot] = pick;
        break;
      }
      pick = j; /* t was taken: take j, which cannot be */
    }
    out[k++] = pick;
  }
  /* a random order, so that component m is not biased towards late events */
  for (int i = m - 1; i > 0; i--) {
    int r = (int)rng_below(rng, (uint64_t)i + 1);
    int64_t tmp = out[i];
    out[i] = out[r];
    out[r] = tmp;
  }
  free(set);
}

static gmmc_status labels_to_resp(gmmc_context *ctx, Exec *e, const int32_t *labels) {
  const Program *p = e->p;
  char *err = NULL;
  gmmc_status s = exec_write_i32(e, p->init_labels_buf, labels, &err);
  if (!s) s = exec_run_kernel(e, p->init_resp_kernel, &err);
  return s ? fail_err(ctx, s, err) : GMMC_OK;
}

gmmc_status precisions_to_cholesky(const double *prec, double *out, const Buffer *b, char **err);

static int param_buffer(const Exec *e, const char *name) {
  int b = exec_find_buffer(e, name);
  return b >= 0 && e->p->bufs[b]->kind == BK_PARAM ? b : -1;
}

static gmmc_status check_weights(gmmc_context *ctx, const double *w, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (w[i] < 0 || w[i] > 1)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "initial weights must lie in [0, 1]; weights[%zu] = %g", i, w[i]);
    sum += w[i];
  }
  if (fabs(1.0 - sum) > 1e-6)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "initial weights should be normalized, but sum(weights) = %.5f",
                    sum);
  return GMMC_OK;
}

static gmmc_status apply_user_params(gmmc_context *ctx, Exec *e, const gmmc_fit_options *o) {
  char *err = NULL;
  for (int i = 0; i < o->ninit_params; i++) {
    const NamedValues *v = &o->init_params[i];
    int is_prec = strcmp(v->name, "precisions") == 0;
    int b = param_buffer(e, is_prec ? "precisions_cholesky" : v->name);
    if (b < 0)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "initial %s: the spec %s has no parameter '%s'", v->name,
                      e->p->spec->model, is_prec ? "precisions_cholesky" : v->name);
    const Buffer *buf = e->p->bufs[b];
    int64_t count = buffer_elems(buf, 0);
    if ((int64_t)v->count != count) {
      StrBuf shape = {0};
      for (int a = 0; a < buf->rank; a++) sb_printf(&shape, "%s%lld", a ? ", " : "", (long long)buf->dims[a]);
      gmmc_status s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "initial %s: expected %lld values (shape [%s]), got %zu",
                               v->name, (long long)count, shape.data ? shape.data : "", v->count);
      sb_free(&shape);
      return s;
    }
    if (strcmp(v->name, "weights") == 0) {
      gmmc_status s = check_weights(ctx, v->values, v->count);
      if (s) return s;
    }
    gmmc_status s;
    if (is_prec) {
      double *u = xmalloc(sizeof(double) * v->count);
      s = precisions_to_cholesky(v->values, u, buf, &err);
      if (!s) s = exec_write(e, b, u, &err);
      free(u);
    } else {
      s = exec_write(e, b, v->values, &err);
    }
    if (s) return fail_err(ctx, s, err);
  }
  return GMMC_OK;
}

/* Specs without responsibilities (k-means itself): seed the first
 * [components, features] parameter with events. */
static gmmc_status seed_centers(gmmc_context *ctx, Exec *e, const gmmc_data *data, const gmmc_fit_options *o,
                                Rng *rng) {
  int m = o->n_components;
  int b = -1;
  for (int i = 0; i < e->p->nbufs && b < 0; i++) {
    const Buffer *buf = e->p->bufs[i];
    if (buf->kind == BK_PARAM && buf->rank == 2 && buf->dims[0] == m && buf->dims[1] == data->cols) b = i;
  }
  if (b < 0) return GMMC_OK; /* nothing to seed: user parameters only */
  int64_t *idx = xmalloc(sizeof(int64_t) * (size_t)m);
  if (o->init == GMMC_INIT_KMEANS || o->init == GMMC_INIT_KMEANS_PLUSPLUS) kmeans_plusplus(data, m, rng, idx);
  else distinct_events(rng, data->rows, m, idx);
  double *c = xmalloc(sizeof(double) * (size_t)(m * data->cols));
  for (int k = 0; k < m; k++) data_row(data, idx[k], c + k * data->cols);
  char *err = NULL;
  gmmc_status s = exec_write(e, b, c, &err);
  free(idx);
  free(c);
  return s ? fail_err(ctx, s, err) : GMMC_OK;
}

static gmmc_status responsibilities(gmmc_context *ctx, Exec *e, const gmmc_data *data, const gmmc_fit_options *o,
                                    const FitTarget *ft, Rng *rng) {
  const Program *p = e->p;
  int m = o->n_components;
  int64_t n = data->rows;
  if (o->init == GMMC_INIT_RANDOM)
    return random_resp(ctx, e, p->tensor_buf[p->spec->predict_proba->id], n, m, rng);
  int32_t *labels = xmalloc(sizeof(int32_t) * (size_t)n);
  gmmc_status s = GMMC_OK;
  if (o->init == GMMC_INIT_KMEANS) {
    s = kmeans_labels(ctx, data, m, ft->real, rng, labels);
  } else {
    int64_t *idx = xmalloc(sizeof(int64_t) * (size_t)m);
    if (o->init == GMMC_INIT_KMEANS_PLUSPLUS) kmeans_plusplus(data, m, rng, idx);
    else distinct_events(rng, n, m, idx);
    for (int64_t i = 0; i < n; i++) labels[i] = -1;
    for (int k = 0; k < m; k++) labels[idx[k]] = k;
    free(idx);
  }
  if (!s) s = labels_to_resp(ctx, e, labels);
  free(labels);
  return s;
}

gmmc_status em_initialize(gmmc_context *ctx, Exec *e, const gmmc_data *data, const gmmc_fit_options *o,
                          const FitTarget *ft, Rng *rng) {
  char *err = NULL;
  gmmc_status s;
  if (o->warm_start) {
    const gmmc_model *w = o->warm_start;
    if (strcmp(w->spec_name, e->p->spec->model) != 0 || w->n_features != data->cols ||
        w->n_components != o->n_components)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                      "warm start: the model (%s, %d components, %d features) does not match this fit (%s, %d, %lld)",
                      w->spec_name, w->n_components, w->n_features, e->p->spec->model, o->n_components,
                      (long long)data->cols);
    return em_load_params(ctx, e, w);
  }
  if (e->p->init_resp_kernel >= 0) {
    if ((s = responsibilities(ctx, e, data, o, ft, rng))) return s;
    if ((s = exec_reset_status(e, &err)) || (s = exec_run(e, SEQ_MSTEP, &err))) return fail_err(ctx, s, err);
    if ((s = em_check_builtins(ctx, e, "initialisation failed"))) return s;
  } else if ((s = seed_centers(ctx, e, data, o, rng))) {
    return s;
  }
  if ((s = apply_user_params(ctx, e, o))) return s;
  if ((s = exec_run(e, SEQ_DERIVED, &err))) return fail_err(ctx, s, err);
  return GMMC_OK;
}
