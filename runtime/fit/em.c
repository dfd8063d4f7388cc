/* The EM driver (gmmc_fit), generic over the compiled program: it runs the
 * spec's iterate sequence (E-step, M-step, derived statements), reads the
 * objective (the summed log-likelihood) and stops as scikit-learn does:
 *
 * With sample weights the objective is the weighted log-likelihood and the
 * lower bound is it per unit of weight, as for the rows repeated.
 *
 *   for each of n_init initialisations:
 *     lower_bound = -inf
 *     for iter in 1..max_iter:
 *       E-step (lower bound of the current parameters), M-step
 *       stop when |lower_bound - previous| < tol
 *     keep the parameters of the initialisation with the largest lower bound
 *   warn when that initialisation did not converge
 *
 * Events that do not fit in the device's memory are streamed in chunks
 * (exec/stream.h). With MPI (exec/dist.h) each process holds a slice of the events,
 * the stat buffers are all-reduced at every reduce point, and the processes
 * agree on failures and on the lower bound after every iteration, so that
 * all take the same decisions and leave together. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dsl/shipped.h"
#include "fit.h"
#include "params.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/compile.h"
#include "runtime/io/data.h"
#include "runtime/io/data_spec.h"
#include "runtime/model/nparams.h"

static gmmc_status read_objective(gmmc_context *ctx, Exec *e, double *value) {
  const Program *p = e->p;
  double v = 0;
  char *err = NULL;
  const Tensor *t = p->spec->lower_bound ? p->spec->lower_bound : p->spec->objective;
  gmmc_status s = exec_read(e, p->tensor_buf[t->id], &v, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  *value = v;
  return GMMC_OK;
}

gmmc_status fit_set_scalars(gmmc_context *ctx, Exec *e, const gmmc_fit_options *o) {
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

static gmmc_status check_data(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o) {
  const gmmc_data *data = fd->data;
  if (data->rows < 1 || data->cols < 1)
    return ctx_fail(ctx, GMMC_ERR_DATA, "the data is empty (%lld rows, %lld columns)", (long long)data->rows,
                    (long long)data->cols);
  if (fd->n_total < o->n_components)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "expected n_samples >= n_components but got n_components = %d, n_samples = %lld", o->n_components,
                    (long long)fd->n_total);
  return GMMC_OK;
}

/* Sample weights: one per local row; their total over all processes (the
 * lower bound's divisor) and enough events of positive weight. Without
 * weights the total is the event count. */
static gmmc_status weigh_events(gmmc_context *ctx, FitData *fd, const gmmc_fit_options *o) {
  const gmmc_data *d = fd->data;
  fd->weight_total = (double)fd->n_total;
  if (!d->weights) return GMMC_OK;
  /* a process whose weights do not fit its rows still joins the sum, so that none waits */
  int fits = (int64_t)o->nsample_weight == d->rows;
  double v[2] = {0, 0}; /* the weights, the events of positive weight */
  for (int64_t i = 0; i < d->rows && fits; i++) v[0] += d->weights[i], v[1] += d->weights[i] > 0;
  char *err = NULL;
  gmmc_status s = dist_allreduce(ctx->dist, v, 2, R_SUM, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  if (!fits)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "sample_weight has %zu values but the data has %lld rows: one weight per row", o->nsample_weight,
                    (long long)d->rows);
  fd->weight_total = v[0];
  if (v[1] < o->n_components)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "expected at least n_components = %d events of positive weight, got %.0f", o->n_components, v[1]);
  return GMMC_OK;
}

/* The scan for NaN and infinity, a chunk at a time when streaming, so that
 * the pages of a memory-mapped file do not all stay resident. */
static gmmc_status check_finite(gmmc_context *ctx, const FitData *fd) {
  const gmmc_data *d = fd->data;
  if (d->on_device) return GMMC_OK; /* not read on the host (data_find_nonfinite) */
  int drop = stream_chunks(fd->st) > 1;
  size_t esz = d->dtype == GMMC_FLOAT32 ? 4 : 8;
  for (int64_t row0 = 0; row0 < d->rows; row0 += fd->chunk) {
    int64_t n = d->rows - row0 < fd->chunk ? d->rows - row0 : fd->chunk, r, c;
    gmmc_data part = {.rows = n,
                      .cols = d->cols,
                      .dtype = d->dtype,
                      .values = (const char *)d->values + (size_t)row0 * (size_t)d->cols * esz};
    int found = data_find_nonfinite(&part, &r, &c);
    if (drop) data_drop_pages(d, row0, n);
    if (found)
      return ctx_fail(ctx, GMMC_ERR_DATA,
                      "the data holds a non-finite value (NaN or infinity) at row %lld, column %lld",
                      (long long)(fd->row0 + row0 + r + 1), (long long)c + 1);
  }
  return GMMC_OK;
}

/* Integer files and binary values where the spec's data type allows them. */
static gmmc_status check_declared(gmmc_context *ctx, const FitData *fd, const Spec *spec) {
  char *err = NULL;
  gmmc_status s = data_check_spec(fd->data, spec, fd->row0, &err);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

/* With MPI: the events of all processes and where this one's start. */
static gmmc_status locate_events(gmmc_context *ctx, const gmmc_data *data, FitData *fd) {
  fd->n_total = data->rows;
  fd->row0 = 0;
  Dist *d = ctx->dist;
  if (!d) return GMMC_OK;
  int n = d->size;
  double *v = xcalloc((size_t)n + 4, sizeof(double)); /* max-reduced: rows per rank, columns, dtype (both ways) */
  if (!v) return ctx_agree(ctx, ctx_oom(ctx, "the event counts of the processes"), NULL, 0);
  v[d->rank] = (double)data->rows;
  v[n] = (double)data->cols, v[n + 1] = -(double)data->cols;
  v[n + 2] = (double)data->dtype, v[n + 3] = -(double)data->dtype;
  gmmc_status s = ctx_agree(ctx, GMMC_OK, v, n + 4);
  if (!s && v[n] != -v[n + 1])
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the processes hold events of different sizes (%.0f to %.0f columns)",
                 -v[n + 1], v[n]);
  if (!s && v[n + 2] != -v[n + 3])
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the processes hold events of different types (float32 and float64)");
  for (int r = 0; r < n && !s; r++) {
    if (r < d->rank) fd->row0 += (int64_t)v[r];
    if (r != d->rank) fd->n_total += (int64_t)v[r];
  }
  free(v);
  return s;
}

/* GMMC_PROFILE: per iteration, the time and the share of the all-reduce. */
typedef struct {
  int on;
  DistProfile last;
  double iter_s, reduce_s; /* iterations after the first (which includes the autotuning) */
  int iters;
} Profile;

static void profile_iter(gmmc_context *ctx, Profile *pf, int init, int iter, double seconds) {
  if (!pf->on) return;
  DistProfile now = ctx->dist ? ctx->dist->prof : (DistProfile){0};
  if (init > 1 || iter > 1) {
    pf->iter_s += seconds;
    pf->reduce_s += now.reduce_s - pf->last.reduce_s;
    pf->iters++;
  }
  if (dist_rank(ctx->dist) != 0) {
    pf->last = now;
    return;
  }
  fprintf(stderr,
          "gmmc profile: init %d iter %d: %.3f ms; all-reduce %.3f ms in %lld calls (%lld bytes), waiting %.3f ms\n",
          init, iter, seconds * 1e3, (now.reduce_s - pf->last.reduce_s) * 1e3, (long long)(now.calls - pf->last.calls),
          (long long)(now.bytes - pf->last.bytes), (now.wait_s - pf->last.wait_s) * 1e3);
  pf->last = now;
}

static void profile_end(gmmc_context *ctx, const Profile *pf, const FitData *fd) {
  if (!pf->on || dist_rank(ctx->dist) != 0 || pf->iters == 0) return; /* also when max_iter is 1 */
  DistProfile t = ctx->dist ? ctx->dist->prof : (DistProfile){0};
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru); /* ru_maxrss: KiB on Linux */
  fprintf(stderr,
          "gmmc profile: %d processes, %lld events (%lld here, %lld chunks of %lld); iterations after the first "
          "(%d): %.3f ms each, of which all-reduce %.3f ms (%.2f%%); all-reduce in all (initialisation included) "
          "%.3f ms, waiting %.3f ms; peak resident memory of rank 0 %.1f MiB\n",
          dist_size(ctx->dist), (long long)fd->n_total, (long long)fd->data->rows, (long long)stream_chunks(fd->st),
          (long long)fd->chunk, pf->iters, 1e3 * pf->iter_s / pf->iters, 1e3 * pf->reduce_s / pf->iters,
          pf->iter_s > 0 ? 100 * pf->reduce_s / pf->iter_s : 0.0, t.reduce_s * 1e3, t.wait_s * 1e3,
          ru.ru_maxrss / 1024.0);
}

/* One EM iteration: the sequence, the objective, builtin failures; then
 * every process agrees on the outcome and on the objective. */
static gmmc_status iterate(gmmc_context *ctx, const FitData *fd, double *obj) {
  Exec *e = stream_exec(fd->st);
  char *err = NULL;
  *obj = 0;
  gmmc_status s = exec_reset_status(e, &err);
  s = s ? stream_skip(fd->st, SEQ_ITERATE, s, &err) : stream_run(fd->st, SEQ_ITERATE, NULL, NULL, &err);
  if (s) ctx_fail_take(ctx, s, err);
  if (!s) s = read_objective(ctx, e, obj);
  if (!s) s = em_check_builtins(ctx, e, "fitting failed");
  return ctx_agree(ctx, s, obj, 1);
}

gmmc_status gmmc_fit(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out) {
  if (!ctx || !data || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit: a NULL argument");
  *out = NULL;
  /* the fit's view of the data carries the weights to the execs (exec_bind_data) */
  gmmc_data view = *data;
  view.weights = o->sample_weight;
  view.owned = NULL;
  FitData fd = {.data = &view, .stream_data = &view};
  Resident resident = {0};
  gmmc_status s = locate_events(ctx, data, &fd);
  if (!s) s = ctx_agree(ctx, weigh_events(ctx, &fd, o), NULL, 0);
  if (s) return s;
  FitTarget ft;
  int have_target = 0;
  Compiled *c = NULL;
  gmmc_model *best = NULL;
  char *err = NULL;
  /* everything local first; then every process agrees before the first collective step */
  s = check_data(ctx, &fd, o);
  if (!s && !(s = fit_resolve_target(ctx, o, data->cols, data->dtype, data->on_device, &ft, NULL))) have_target = 1;
  /* the events of a launch, unless streamed in smaller chunks than asked */
  int64_t events = o->chunk_events > 0 && o->chunk_events < data->rows ? o->chunk_events : data->rows;
  if (!s)
    s = ctx_compile_weighted(ctx, ft.file, ft.text, ft.sizes, ft.nsizes, ft.real, events, view.weights != NULL,
                             o->precision, &c);
  if (!s && view.weights && exec_weight_buffer(c->p) < 0)
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                 "sample_weight: the spec %s declares no optional data to receive them (as in 'w: {shape: [N], "
                 "optional: ones}' under data)",
                 c->p->spec->model);
  if (!s) {
    fd.chunk = stream_chunk_events(ctx->be, c->p, o->chunk_events, data->rows, 0);
    s = fit_resident(ctx, &fd, c->p, o->chunk_events, &resident);
    if (!s && (s = stream_create(ctx->be, c->p, c->bp, fd.stream_data, fd.n_total, fd.chunk, &fd.st, &err)))
      ctx_fail_take(ctx, s, err);
  }
  int known = 0; /* the cached variant choices from the first iteration on */
  if (!s) s = autotune_apply_known(ctx, stream_exec(fd.st), &known);
  if (!s) s = check_finite(ctx, &fd);
  if (!s) s = check_declared(ctx, &fd, c->p->spec);
  if (!s) s = fit_set_scalars(ctx, stream_exec(fd.st), o);
  if ((s = ctx_agree(ctx, s, NULL, 0))) goto fail;
  Exec *e = stream_exec(fd.st);
  if ((s = dist_attach(ctx->dist, e, &err))) ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) goto fail;
  /* the spec's once statements: statistics of the data before any M-step */
  if ((s = stream_once(fd.st, &err))) ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) goto fail;
  const Program *p = c->p;
  best = fit_new_model(&ft, p->spec, o, data->cols);
  double *lbs = best ? xcalloc((size_t)o->max_iter + 1, sizeof(double)) : NULL;
  if ((s = ctx_agree(ctx, lbs ? GMMC_OK : ctx_oom(ctx, "the model"), NULL, 0))) {
    free(lbs);
    goto fail;
  }
  best->n_parameters = model_count_parameters(p->spec, p->size_values);
  Profile pf = {.on = ctx->profile};
  if (ctx->dist) pf.last = ctx->dist->prof;
  Rng rng;
  rng_seed(&rng, o->seed);
  double best_lb = -INFINITY;
  int have_best = 0;
  for (int init = 0; init < o->n_init && !s; init++) {
    if ((s = em_initialize(ctx, &fd, o, &ft, &rng))) break;
    double lb = -INFINITY;
    int converged = 0, iter = 0;
    for (iter = 1; iter <= o->max_iter; iter++) {
      double t0 = monotonic_ms() * 1e-3, prev = lb, obj = 0;
      if ((s = iterate(ctx, &fd, &obj))) break;
      /* per event, or per unit of weight; a spec's own lower_bound as it is */
      lb = c->p->spec->lower_bound ? obj : obj / fd.weight_total;
      if (!isfinite(lb)) {
        s = ctx_fail(ctx, GMMC_ERR_NUMERIC,
                     "fitting failed: the log-likelihood is not finite at iteration %d of initialisation %d "
                     "(degenerate data or parameters; try increasing reg_covar)",
                     iter, init + 1);
        break;
      }
      lbs[iter - 1] = lb;
      /* variants are chosen on real data once the buffers hold an iteration,
       * unless cached; every process takes part in the agreement either way */
      if (init == 0 && iter == 1 && (s = ctx_agree(ctx, known ? GMMC_OK : autotune_stream(ctx, fd.st), NULL, 0))) break;
      /* cached choices whose kernels were compiling take over once loaded */
      if ((s = autotune_poll(ctx, e))) break;
      double change = lb - prev;
      profile_iter(ctx, &pf, init + 1, iter, monotonic_ms() * 1e-3 - t0);
      if (o->progress) o->progress(o->progress_user, init + 1, iter, lb, change, monotonic_ms() * 1e-3 - t0);
      if (fabs(change) < o->tol) {
        converged = 1;
        break;
      }
    }
    if (s) break;
    int n_iter = iter > o->max_iter ? o->max_iter : iter;
    if (!have_best || lb > best_lb) {
      have_best = 1;
      best_lb = lb;
      if ((s = ctx_agree(ctx, em_store_params(ctx, e, best), NULL, 0))) break;
      best->converged = converged;
      best->n_iter = n_iter;
      free(best->lower_bounds);
      if (!(best->lower_bounds = xmalloc(sizeof(double) * (size_t)(n_iter + 1)))) {
        best->n_lower_bounds = 0;
        s = ctx_oom(ctx, "the lower bounds");
        break;
      }
      memcpy(best->lower_bounds, lbs, sizeof(double) * (size_t)n_iter);
      best->n_lower_bounds = n_iter;
    }
  }
  free(lbs);
  if (s) goto fail;
  best->lower_bound = best_lb;
  if (!best->converged && o->max_iter > 0 && dist_rank(ctx->dist) == 0)
    ctx_warn(ctx,
             "the best initialisation did not converge in %d iterations; try different init parameters, or increase "
             "max_iter, tol, or check for degenerate data",
             o->max_iter);
  profile_end(ctx, &pf, &fd);
  stream_destroy(fd.st);
  fit_resident_free(ctx, &resident);
  fit_free_target(&ft);
  *out = best;
  return GMMC_OK;
fail:
  stream_destroy(fd.st);
  fit_resident_free(ctx, &resident);
  model_free(best);
  if (have_target) fit_free_target(&ft);
  return s;
}
