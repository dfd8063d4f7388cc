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
#include "em_joined.h"
#include "fit.h"
#include "params.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/compile.h"
#include "runtime/io/data.h"
#include "runtime/io/data_spec.h"
#include "runtime/model/nparams.h"

/* The buffer of the value an iteration reports (a scalar). */
static int objective_buf(const Exec *e) {
  const Spec *spec = e->p->spec;
  return e->p->tensor_buf[(spec->lower_bound ? spec->lower_bound : spec->objective)->id];
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
struct FitProfile {
  int on;
  DistProfile last;
  double iter_s, reduce_s; /* iterations after the first (which includes the autotuning) */
  int iters;
};

static void profile_iter(gmmc_context *ctx, FitProfile *pf, int init, int iter, double seconds) {
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

static void profile_end(gmmc_context *ctx, const FitProfile *pf, const FitData *fd) {
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

gmmc_status fit_setup(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, FitSetup *f) {
  memset(f, 0, sizeof *f);
  /* the fit's view of the data carries the weights to the execs (exec_bind_data) */
  f->view = *data;
  f->view.weights = o->sample_weight;
  f->view.owned = NULL;
  f->fd.data = f->fd.stream_data = &f->view;
  FitData *fd = &f->fd;
  gmmc_status s = locate_events(ctx, data, fd);
  if (!s) s = ctx_agree(ctx, weigh_events(ctx, fd, o), NULL, 0);
  if (s) return s;
  char *err = NULL;
  /* everything local first; then every process agrees before the first collective step */
  s = check_data(ctx, fd, o);
  if (!s && !(s = fit_resolve_target(ctx, o, data->cols, data->dtype, data->on_device, &f->ft, NULL)))
    f->have_target = 1;
  /* the events of a launch, unless streamed in smaller chunks than asked */
  int64_t events = o->chunk_events > 0 && o->chunk_events < data->rows ? o->chunk_events : data->rows;
  if (!s)
    s = ctx_compile_weighted(ctx, f->ft.file, f->ft.text, f->ft.sizes, f->ft.nsizes, f->ft.real, events,
                             f->view.weights != NULL, o->precision, &f->c);
  if (!s && f->view.weights && exec_weight_buffer(f->c->p) < 0)
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                 "sample_weight: the spec %s declares no optional data to receive them (as in 'w: {shape: [N], "
                 "optional: ones}' under data)",
                 f->c->p->spec->model);
  if (!s) {
    fd->chunk = stream_chunk_events(ctx->be, f->c->p, o->chunk_events, data->rows, 0);
    s = fit_resident(ctx, fd, f->c->p, o->chunk_events, &f->resident);
    if (!s && (s = stream_create(ctx->be, f->c->p, f->c->bp, fd->stream_data, fd->n_total, fd->chunk, &fd->st, &err)))
      ctx_fail_take(ctx, s, err);
  }
  /* the cached variant choices from the first iteration on */
  if (!s) s = autotune_apply_known(ctx, stream_exec(fd->st), &f->known);
  if (!s) s = check_finite(ctx, fd);
  if (!s) s = check_declared(ctx, fd, f->c->p->spec);
  if (!s) s = fit_set_scalars(ctx, stream_exec(fd->st), o);
  if ((s = ctx_agree(ctx, s, NULL, 0))) return s;
  if ((s = dist_attach(ctx->dist, stream_exec(fd->st), &err))) ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) return s;
  /* the spec's once statements: statistics of the data before any M-step */
  if ((s = stream_once(fd->st, &err))) ctx_fail_take(ctx, s, err);
  return ctx_agree(ctx, s, NULL, 0);
}

void fit_setup_free(gmmc_context *ctx, FitSetup *f) {
  stream_destroy(f->fd.st);
  f->fd.st = NULL;
  fit_resident_free(ctx, &f->resident);
  if (f->have_target) fit_free_target(&f->ft);
  f->have_target = 0;
}

void em_run_free(EmRun *r) {
  free(r->lbs);
  free(r->secs);
  r->lbs = r->secs = NULL;
}

gmmc_status em_run_start(gmmc_context *ctx, const gmmc_fit_options *o, int init, EmRun *r) {
  memset(r, 0, sizeof *r);
  r->init = init;
  r->lb = -INFINITY;
  r->done = o->max_iter < 1;
  r->lbs = xcalloc((size_t)o->max_iter + 1, sizeof(double));
  r->secs = r->lbs ? xcalloc((size_t)o->max_iter + 1, sizeof(double)) : NULL;
  if (r->secs) return GMMC_OK;
  gmmc_status s = ctx_oom(ctx, "the lower bounds");
  em_run_free(r); /* nothing left for the caller to free */
  return s;
}

void em_report(const gmmc_fit_options *o, EmRun *r) {
  for (; r->reported < r->iter; r->reported++) {
    int i = r->reported;
    double change = r->lbs[i] - (i ? r->lbs[i - 1] : -INFINITY);
    if (o->progress) o->progress(o->progress_user, r->init + 1, i + 1, r->lbs[i], change, r->secs[i]);
  }
}

gmmc_status em_launch(gmmc_context *ctx, FitSetup *f) {
  Exec *e = stream_exec(f->fd.st);
  char *err = NULL;
  gmmc_status s = exec_reset_status(e, &err);
  s = s ? stream_skip(f->fd.st, SEQ_ITERATE, s, &err) : stream_run(f->fd.st, SEQ_ITERATE, NULL, NULL, &err);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

gmmc_status em_join_outcomes(gmmc_context *ctx, FitSetup *const *f, void *const *g, int n, EmOutcome **out,
                             void **joined, char **why) {
  Backend *be = ctx->be;
  *out = NULL;
  *joined = NULL;
  if (!be->ops->host_alloc || !be->ops->graph_join) {
    *why = xstrdup("this backend joins no graphs");
    return GMMC_ERR_DEVICE;
  }
  gmmc_status s = be->ops->host_alloc(be, sizeof **out * (size_t)n, (void **)out, why);
  if (s) {
    *out = NULL;
    return s;
  }
  enum { COPIES = 2 }; /* the objective, the status words */
  BackendCopy *c = xcalloc((size_t)n * COPIES, sizeof *c);
  if (!c) s = oom_status(why, "the outcomes' copies");
  for (int t = 0; t < n && c; t++) {
    Exec *e = stream_exec(f[t]->fd.st);
    int ob = objective_buf(e);
    c[COPIES * t] = (BackendCopy){t, e->dev[ob], (*out)[t].objective, exec_elem_size(e->p->bufs[ob]->elem)};
    c[COPIES * t + 1] =
        (BackendCopy){t, e->dev[e->p->status_buf], (*out)[t].status, sizeof(int32_t) * (size_t)exec_status_words(e)};
  }
  if (!s) s = be->ops->graph_join(be, g, n, c, n * COPIES, joined, why);
  free(c);
  if (s) {
    be->ops->host_free(be, *out);
    *out = NULL;
    *joined = NULL;
  }
  return s;
}

gmmc_status em_collect(gmmc_context *ctx, FitSetup *f, const EmOutcome *copied, double *obj) {
  Exec *e = stream_exec(f->fd.st);
  int ob = objective_buf(e);
  *obj = 0;
  if (!copied) {
    char *err = NULL;
    double v = 0;
    gmmc_status s = exec_read(e, ob, &v, &err);
    if (s) return ctx_fail_take(ctx, s, err);
    *obj = v;
    return em_check_builtins(ctx, e, "fitting failed");
  }
  int slot, code;
  *obj = exec_value(e->p->bufs[ob]->elem, copied->objective, 0);
  exec_status_find(e, copied->status, &slot, &code);
  return em_builtin_failure(ctx, e, slot, code, "fitting failed");
}

gmmc_status em_advance(gmmc_context *ctx, FitSetup *f, const gmmc_fit_options *o, EmRun *r, double obj, double t0,
                       FitProfile *pf) {
  double prev = r->lb;
  int iter = ++r->iter;
  /* per event, or per unit of weight; a spec's own lower_bound as it is */
  r->lb = f->c->p->spec->lower_bound ? obj : obj / f->fd.weight_total;
  if (!isfinite(r->lb))
    return ctx_fail(ctx, GMMC_ERR_NUMERIC,
                    "fitting failed: the log-likelihood is not finite at iteration %d of initialisation %d "
                    "(degenerate data or parameters; try increasing reg_covar)",
                    iter, r->init + 1);
  r->lbs[iter - 1] = r->lb;
  gmmc_status s;
  /* variants are chosen on real data once the buffers hold an iteration,
   * unless cached; every process takes part in the agreement either way */
  if (r->init == 0 && iter == 1 && (s = ctx_agree(ctx, f->known ? GMMC_OK : autotune_stream(ctx, f->fd.st), NULL, 0)))
    return s;
  /* cached choices whose kernels were compiling take over once loaded */
  if ((s = autotune_poll(ctx, stream_exec(f->fd.st)))) return s;
  double change = r->lb - prev;
  if (pf) profile_iter(ctx, pf, r->init + 1, iter, monotonic_ms() * 1e-3 - t0);
  r->secs[iter - 1] = monotonic_ms() * 1e-3 - t0;
  if (!r->defer) em_report(o, r);
  if (fabs(change) < o->tol) r->converged = 1;
  r->done = r->converged || iter >= o->max_iter;
  return GMMC_OK;
}

gmmc_status em_keep(gmmc_context *ctx, FitSetup *f, const EmRun *r, gmmc_model *best, int *have_best) {
  if (*have_best && !(r->lb > best->lower_bound)) return GMMC_OK;
  *have_best = 1;
  best->lower_bound = r->lb;
  gmmc_status s = ctx_agree(ctx, em_store_params(ctx, stream_exec(f->fd.st), best), NULL, 0);
  if (s) return s;
  best->converged = r->converged;
  best->n_iter = r->iter;
  free(best->lower_bounds);
  if (!(best->lower_bounds = xmalloc(sizeof(double) * (size_t)(r->iter + 1)))) {
    best->n_lower_bounds = 0;
    return ctx_oom(ctx, "the lower bounds");
  }
  memcpy(best->lower_bounds, r->lbs, sizeof(double) * (size_t)r->iter);
  best->n_lower_bounds = r->iter;
  return GMMC_OK;
}

gmmc_model *em_new_model(gmmc_context *ctx, FitSetup *f, const gmmc_fit_options *o) {
  const Program *p = f->c->p;
  gmmc_model *m = fit_new_model(&f->ft, p->spec, o, f->view.cols);
  if (!m) {
    ctx_oom(ctx, "the model");
    return NULL;
  }
  m->n_parameters = model_count_parameters(p->spec, p->size_values);
  m->lower_bound = -INFINITY;
  return m;
}

void em_warn_unconverged(gmmc_context *ctx, const gmmc_model *best, const gmmc_fit_options *o) {
  if (!best->converged && o->max_iter > 0 && dist_rank(ctx->dist) == 0)
    ctx_warn(ctx,
             "the best initialisation did not converge in %d iterations; try different init parameters, or increase "
             "max_iter, tol, or check for degenerate data",
             o->max_iter);
}

/* Whether a failed fit is redone with float64 statistics: a float32 fit
 * whose float32 terms left a covariance not positive definite (a component
 * of a few events: its null directions get rounding of either sign where a
 * float64 fit keeps reg_covar), on one process (several would have to agree
 * on the redo). */
static int redo_with_stats64(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_status s) {
  if (s != GMMC_ERR_NUMERIC || ctx->dist || ctx_float32_has_stats64(ctx, o->precision)) return 0;
  if (fit_dtype(ctx, o, data->dtype, data->on_device) != GMMC_FLOAT32) return 0;
  return strstr(gmmc_last_error(ctx), "not positive definite") != NULL;
}

static gmmc_status fit_all(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out);

gmmc_status gmmc_fit(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out) {
  if (!ctx || !data || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit: a NULL argument");
  gmmc_status s = fit_all(ctx, data, o, out);
  if (!redo_with_stats64(ctx, data, o, s)) return s;
  char *why = xstrdup(gmmc_last_error(ctx));
  gmmc_fit_options o64 = *o; /* the same settings, read only: a shallow copy shares them */
  o64.precision = PRECISION_STATS64;
  s = fit_all(ctx, data, &o64, out);
  if (!s)
    ctx_warn(ctx,
             "fitted again with float64 statistics (precision 'float64-stats': slower M-steps) after the float32 "
             "fit failed: %s",
             why ? why : "a covariance was not positive definite");
  free(why);
  return s;
}

static gmmc_status fit_all(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out) {
  *out = NULL;
  if (o->n_init > 1 && !ctx->dist && fit_many_takes(ctx, data, o)) return fit_many_inits(ctx, data, o, out);
  FitSetup f;
  gmmc_model *best = NULL;
  gmmc_status s = fit_setup(ctx, data, o, &f);
  if (s) goto fail;
  best = em_new_model(ctx, &f, o);
  if ((s = ctx_agree(ctx, best ? GMMC_OK : GMMC_ERR_OUT_OF_MEMORY, NULL, 0))) goto fail;
  FitProfile pf = {.on = ctx->profile};
  if (ctx->dist) pf.last = ctx->dist->prof;
  Rng rng;
  rng_seed(&rng, o->seed);
  int have_best = 0;
  EmJoined joined = {0}; /* the iteration and its reads in one graph, where the backend joins graphs */
  for (int init = 0; init < o->n_init && !s; init++) {
    EmRun r;
    if ((s = ctx_agree(ctx, em_run_start(ctx, o, init, &r), NULL, 0))) break;
    if ((s = em_initialize(ctx, &f.fd, o, &f.ft, &rng))) {
      em_run_free(&r);
      break;
    }
    while (!r.done && !s) {
      double t0 = monotonic_ms() * 1e-3, obj = 0;
      if (!em_joined_iterate(ctx, &f, &joined, &obj, &s)) {
        s = em_launch(ctx, &f);
        if (!s) s = em_collect(ctx, &f, NULL, &obj);
      }
      /* every process agrees on the outcome and on the objective */
      if (!(s = ctx_agree(ctx, s, &obj, 1))) s = em_advance(ctx, &f, o, &r, obj, t0, &pf);
    }
    if (!s) s = em_keep(ctx, &f, &r, best, &have_best);
    em_run_free(&r);
  }
  em_joined_free(ctx, &joined);
  if (s) goto fail;
  em_warn_unconverged(ctx, best, o);
  profile_end(ctx, &pf, &f.fd);
  fit_setup_free(ctx, &f);
  *out = best;
  return GMMC_OK;
fail:
  fit_setup_free(ctx, &f);
  model_free(best);
  return s;
}
