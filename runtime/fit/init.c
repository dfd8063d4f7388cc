/* Initialisation of a fit, after scikit-learn's _initialize_parameters: each
 * method yields responsibilities (from labels, or random), the spec's M-step
 * turns them into parameters (weighted, with per-event weights: so are
 * k-means and k-means++, and random_from_data draws events of positive
 * weight only); user-given parameters then replace what they
 * name (they are written before that M-step too, for the statements that
 * keep a parameter's value), and the derived statements run. The responsibilities are made chunk
 * by chunk as the M-step streams over the events (exec/stream.h), from global
 * event indices: the same model for any number of processes or chunks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "kmeans_init.h"
#include "params.h"
#include "precisions.h"

static gmmc_status fail_err(gmmc_context *ctx, gmmc_status s, char *err) { return ctx_fail_take(ctx, s, err); }

/* M distinct events, uniformly (Floyd's algorithm on a small open hash). */
static gmmc_status distinct_events(gmmc_context *ctx, Rng *rng, int64_t n, int m, int64_t *out) {
  int cap = 1;
  while (cap < 4 * m) cap <<= 1;
  int64_t *set = xmalloc(sizeof(int64_t) * (size_t)cap);
  if (!set) return ctx_oom(ctx, "choosing events");
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
  return GMMC_OK;
}

/* M distinct events of positive weight, uniformly among them (all events
 * without weights: distinct_events' draw, unchanged). With MPI every process
 * draws the same positions among the positive events of all, and each
 * translates those it holds to global indices. */
static gmmc_status positive_events(gmmc_context *ctx, const FitData *fd, Rng *rng, int m, int64_t *out) {
  const gmmc_data *d = fd->data;
  if (!d->weights) return distinct_events(ctx, rng, fd->n_total, m, out);
  int size = dist_size(ctx->dist), rank = dist_rank(ctx->dist);
  double *counts = xcalloc((size_t)size + (size_t)m, sizeof(double));
  gmmc_status s = ctx_agree(ctx, counts ? GMMC_OK : ctx_oom(ctx, "choosing events"), NULL, 0);
  if (s) {
    free(counts);
    return s;
  }
  double *picks = counts + size;
  for (int64_t i = 0; i < d->rows; i++) counts[rank] += d->weights[i] > 0;
  char *err = NULL;
  s = dist_allreduce(ctx->dist, counts, size, R_SUM, &err);
  int64_t total = 0, before = 0;
  for (int r = 0; r < size; r++) {
    if (r < rank) before += (int64_t)counts[r];
    total += (int64_t)counts[r];
  }
  if (!s && (s = ctx_agree(ctx, distinct_events(ctx, rng, total, m, out), NULL, 0))) {
    free(counts);
    return s;
  }
  if (!s) {
    for (int k = 0; k < m; k++) {
      int64_t want = out[k] - before, seen = -1; /* the want-th positive event here, if it is here */
      if (want < 0 || want >= (int64_t)counts[rank]) continue;
      for (int64_t i = 0; i < d->rows; i++)
        if (d->weights[i] > 0 && ++seen == want) {
          picks[k] = (double)(fd->row0 + i);
          break;
        }
    }
    s = dist_allreduce(ctx->dist, picks, m, R_SUM, &err);
    for (int k = 0; k < m; k++) out[k] = (int64_t)picks[k];
  }
  free(counts);
  return s ? fail_err(ctx, s, err) : GMMC_OK;
}

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
      if (!u) return ctx_oom(ctx, "the initial precisions");
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

/* Where the initial responsibilities of each chunk come from. */
typedef struct {
  const FitData *fd;
  gmmc_init init;
  int m;
  uint64_t key;   /* random: the counter-based stream of this initialisation */
  int64_t *seeds; /* k-means++, random_from_data: the global index of each component's event */
  KMeans *km;     /* kmeans: labels from its centers */
  int32_t *labels;
  double *values;
} RespSource;

/* Responsibilities of local rows [row0, row0 + n): random ones from the
 * event's global index (the same for any split into processes or chunks),
 * or one-hot at labels. */
static gmmc_status fill_resp(void *user, Exec *e, int64_t row0, int64_t n, char **err) {
  RespSource *rs = user;
  const Program *p = e->p;
  int64_t m = rs->m, g0 = rs->fd->row0 + row0;
  if (rs->init == GMMC_INIT_RANDOM) {
    int buf = p->tensor_buf[p->spec->predict_proba->id];
    const int64_t rows = 4096;
    gmmc_status s = GMMC_OK;
    for (int64_t r0 = 0; r0 < n && !s; r0 += rows) {
      int64_t nr = n - r0 < rows ? n - r0 : rows;
      double *v = rs->values;
      for (int64_t i = 0; i < nr; i++) {
        double sum = 0;
        uint64_t base = (uint64_t)(g0 + r0 + i) * (uint64_t)m;
        for (int64_t j = 0; j < m; j++) sum += v[i * m + j] = rng_at(rs->key, base + (uint64_t)j);
        for (int64_t j = 0; j < m; j++) v[i * m + j] /= sum;
      }
      s = exec_write_range(e, buf, r0 * m, nr * m, v, err);
    }
    return s;
  }
  const double *w = rs->fd->data->weights;
  if (rs->init != GMMC_INIT_KMEANS && w) {
    /* a seed event counts as one point, as one of its rows repeated would:
     * responsibility 1/w, so that its weighted share w * 1/w is 1 */
    int buf = p->tensor_buf[p->spec->predict_proba->id];
    const int64_t rows = 4096;
    gmmc_status s = GMMC_OK;
    for (int64_t r0 = 0; r0 < n && !s; r0 += rows) {
      int64_t nr = n - r0 < rows ? n - r0 : rows;
      memset(rs->values, 0, sizeof(double) * (size_t)(nr * m));
      for (int k = 0; k < m; k++) {
        int64_t i = rs->seeds[k] - (g0 + r0);
        if (i >= 0 && i < nr) rs->values[i * m + k] = 1 / w[row0 + r0 + i];
      }
      s = exec_write_range(e, buf, r0 * m, nr * m, rs->values, err);
    }
    return s;
  }
  gmmc_status s = GMMC_OK;
  if (rs->init == GMMC_INIT_KMEANS) {
    s = kmeans_labels(rs->km, row0, n, rs->labels, err);
  } else {
    for (int64_t i = 0; i < n; i++) rs->labels[i] = -1;
    for (int k = 0; k < m; k++)
      if (rs->seeds[k] >= g0 && rs->seeds[k] < g0 + n) rs->labels[rs->seeds[k] - g0] = k;
  }
  if (!s) s = exec_write_i32(e, p->init_labels_buf, rs->labels, err);
  if (!s) s = exec_run_kernel(e, p->init_resp_kernel, err);
  return s;
}

/* The M-step from initial responsibilities. */
static gmmc_status responsibilities(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o,
                                    const FitTarget *ft, Rng *rng) {
  int m = o->n_components;
  RespSource rs = {.fd = fd, .init = o->init, .m = m};
  gmmc_status s = GMMC_OK;
  if (o->init == GMMC_INIT_RANDOM) {
    rs.key = rng_next(rng);
    if (!(rs.values = xmalloc(sizeof(double) * (size_t)(4096 * m)))) s = ctx_oom(ctx, "random responsibilities");
  } else if (!(rs.labels = xmalloc(sizeof(int32_t) * (size_t)fd->chunk))) {
    s = ctx_oom(ctx, "the initial labels");
  } else if (o->init == GMMC_INIT_KMEANS) {
    s = kmeans_fit(ctx, fd, m, ft->real, rng, &rs.km);
  } else if (!(rs.seeds = xmalloc(sizeof(int64_t) * (size_t)m)) ||
             (fd->data->weights && !(rs.values = xmalloc(sizeof(double) * (size_t)(4096 * m))))) {
    s = ctx_oom(ctx, "the initial events");
  } else if (o->init == GMMC_INIT_KMEANS_PLUSPLUS) {
    s = kmeans_plusplus(ctx, fd, m, rng, rs.seeds, NULL);
  } else {
    s = positive_events(ctx, fd, rng, m, rs.seeds);
  }
  s = ctx_agree(ctx, s, NULL, 0); /* before the M-step's reduce points, collectives with MPI */
  if (!s) {
    Exec *e = stream_exec(fd->st);
    char *err = NULL;
    if ((s = exec_reset_status(e, &err)))
      s = stream_skip(fd->st, SEQ_MSTEP, s, &err);
    else
      s = stream_run(fd->st, SEQ_MSTEP, fill_resp, &rs, &err);
    if (s)
      ctx_fail_take(ctx, s, err);
    else
      s = em_check_builtins(ctx, e, "initialisation failed");
  }
  kmeans_free(rs.km);
  free(rs.seeds);
  free(rs.labels);
  free(rs.values);
  return s;
}

/* Specs without responsibilities (k-means itself): seed the first
 * [components, features] parameter with events. */
static gmmc_status seed_centers(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o, Rng *rng) {
  Exec *e = stream_exec(fd->st);
  int m = o->n_components;
  int64_t cols = fd->data->cols;
  int b = -1;
  for (int i = 0; i < e->p->nbufs && b < 0; i++) {
    const Buffer *buf = e->p->bufs[i];
    if (buf->kind == BK_PARAM && buf->rank == 2 && buf->dims[0] == m && buf->dims[1] == cols) b = i;
  }
  if (b < 0) return GMMC_OK; /* nothing to seed: user parameters only */
  int64_t *idx = xmalloc(sizeof(int64_t) * (size_t)m);
  double *c = xmalloc(sizeof(double) * (size_t)(m * cols));
  gmmc_status s;
  if (!idx || !c) {
    s = ctx_oom(ctx, "the initial centers");
  } else if (o->init == GMMC_INIT_KMEANS || o->init == GMMC_INIT_KMEANS_PLUSPLUS) {
    s = kmeans_plusplus(ctx, fd, m, rng, idx, c);
  } else if (!(s = positive_events(ctx, fd, rng, m, idx))) {
    s = gather_rows(ctx, fd, idx, m, c);
  }
  char *err = NULL;
  if (!s && (s = exec_write(e, b, c, &err))) ctx_fail_take(ctx, s, err);
  free(idx);
  free(c);
  return s;
}

static gmmc_status initialize(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o, const FitTarget *ft,
                              Rng *rng) {
  Exec *e = stream_exec(fd->st);
  char *err = NULL;
  gmmc_status s;
  if (o->warm_start) {
    const gmmc_model *w = o->warm_start;
    if (strcmp(w->spec_name, e->p->spec->model) != 0 || w->n_features != fd->data->cols ||
        w->n_components != o->n_components)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                      "warm start: the model (%s, %d components, %d features) does not match this fit (%s, %d, %lld)",
                      w->spec_name, w->n_components, w->n_features, e->p->spec->model, o->n_components,
                      (long long)fd->data->cols);
    return em_load_params(ctx, e, w);
  }
  if (e->p->init_resp_kernel >= 0) {
    /* user-given parameters also before the M-step, so that a statement
     * keeping a parameter (reading its own previous value: a prior the
     * caller gives) keeps the caller's value from the first M-step on */
    if ((s = apply_user_params(ctx, e, o))) return s;
    if ((s = responsibilities(ctx, fd, o, ft, rng))) return s;
  } else if ((s = seed_centers(ctx, fd, o, rng))) {
    return s;
  }
  if ((s = apply_user_params(ctx, e, o))) return s;
  if ((s = exec_run(e, SEQ_DERIVED, &err))) return fail_err(ctx, s, err);
  return GMMC_OK;
}

gmmc_status em_initialize(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o, const FitTarget *ft,
                          Rng *rng) {
  /* whatever failed where, every process leaves with the same status */
  return ctx_agree(ctx, initialize(ctx, fd, o, ft, rng), NULL, 0);
}
