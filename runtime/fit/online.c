/* Stepwise EM over batches (gmmc_online_*, scikit-learn's partial_fit),
 * after Cappé and Moulines (2009), "On-line expectation-maximization
 * algorithm for latent data models":
 *
 *   s_k = (1 - eta_k) s_{k-1} + eta_k sbar_k,   eta_k = (k + t0)^-alpha,  eta_1 = 1
 *
 * where sbar_k is the batch's statistics per unit of weight and s_k the
 * running statistics the M-step then reads. Nothing here knows a spec:
 * the statistics are the program's stat buffers (the float64 reductions
 * over events), blended at every reduce point of the iterate sequence by
 * the exec's ReduceHook, before the M-step's derived statements read them.
 * The running values are written back scaled by the batch's weight, so
 * that the M-step sees sums of the size it was specialized for (its ratios
 * are the same; only terms such as Nk's 10*eps see the scale).
 *
 * A step may gather several batches (gmmc_online_set_batches_per_step):
 * their raw sums add up with the parameters held, as the chunks of a
 * streamed fit do, and the step's M-step runs after the last of them. At a
 * step size of 1 one step over all the batches of a pass is then one batch
 * EM step, exactly, for the statistics of the first reduce point; a
 * statistic reduced after an M-step statement (the centered covariances
 * of the Gaussian specs, reduced around the new means) is summed around
 * the means each batch saw (docs/api.md, "Partial fit").
 *
 * The objective (the log-likelihood) is never blended: a step's lower
 * bound is the log-likelihood of its batches per unit of weight, at the
 * parameters they were E-stepped with. The running statistics live in
 * host memory, in float64: the reduce point reads the stat buffers there
 * anyway (as a streamed fit's sums and MPI's all-reduce do), and they are
 * O(M D^2) values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "params.h"
#include "runtime/exec/autotune.h"
#include "runtime/io/data_spec.h"
#include "runtime/model/nparams.h"

struct gmmc_online {
  gmmc_context *ctx;
  gmmc_fit_options *o; /* a copy */
  gmmc_model *model;   /* the current parameters; NULL until the first step */
  int n_features;
  gmmc_dtype dtype;            /* of the first batch: later ones must match */
  double alpha, t0, step_size; /* step_size > 0: constant, else the schedule */
  int64_t per_step;            /* batches per step */
  int64_t steps;               /* steps made */
  int64_t pending;             /* batches gathered towards the next step */
  int tuned;                   /* the variants were chosen (once, on the first batch) */
  /* statistics, float64, every stat buffer of the iterate sequence's reduce
   * points in one array (offset per buffer id, -1: not one): the running
   * per-unit-of-weight values, the raw sums of the pending batches, and the
   * next values of the step being made (committed when it succeeds) */
  char **stat_name;  /* the statistics by name: a batch with weights and one without run programs whose */
  int64_t *stat_off; /* buffer ids may differ, not their stat buffers */
  int nstats;
  int64_t used; /* values of all statistics; the arrays hold one largest statistic more (the hook's scratch) */
  double *run, *group, *next;
  double group_weight;
  int64_t group_rows;
  int have_run;
};

/* The reduce hook of one batch. */
typedef struct {
  gmmc_online *h;
  const char *objective; /* its tensor: its stats (objective__sK) are summed, never blended */
  int final;             /* this batch ends a step */
  double eta;            /* the step's size */
  double weight;         /* the batch's total weight */
  double *scratch;       /* a buffer's values */
  int64_t *off;          /* per buffer id of this batch's program: its statistic's offset, or -1 */
} Blend;

static double schedule(const gmmc_online *h, int64_t k) {
  if (k <= 1) return 1.0;
  if (h->step_size > 0) return h->step_size;
  return pow((double)k + h->t0, -h->alpha);
}

static gmmc_status blend_hook(void *user, Exec *e, const int *bufs, int nbufs, gmmc_status failed, char **err) {
  Blend *b = user;
  gmmc_online *h = b->h;
  if (failed) return failed;
  for (int i = 0; i < nbufs; i++) {
    int id = bufs[i];
    if (b->off[id] < 0) continue;
    const Buffer *buf = e->p->bufs[id];
    size_t len = strlen(b->objective);
    int objective = strncmp(buf->name, b->objective, len) == 0 && strncmp(buf->name + len, "__s", 3) == 0;
    int64_t n = buffer_elems(buf, 0), o = b->off[id];
    double *v = b->scratch, *g = h->group + o, *run = h->run + o, *nx = h->next + o;
    gmmc_status s = exec_read(e, id, v, err);
    if (s) return s;
    /* the pending batches' raw sums, combined as a streamed fit's chunks are */
    if (h->pending > 0)
      for (int64_t j = 0; j < n; j++)
        v[j] = buf->stat_op == R_SUM   ? g[j] + v[j]
               : buf->stat_op == R_MAX ? (v[j] > g[j] ? v[j] : g[j])
                                       : (v[j] < g[j] ? v[j] : g[j]);
    if (!b->final) {
      memcpy(nx, v, sizeof(double) * (size_t)n); /* the parameters hold: the M-step's results are dropped */
      continue;
    }
    double w = h->group_weight + b->weight;
    if (objective || b->eta >= 1.0 || !h->have_run || buf->stat_op != R_SUM) {
      /* the sums as they are: a step of size 1 is the batch step, bit for bit */
      for (int64_t j = 0; j < n; j++) nx[j] = v[j] / w;
      if (h->pending > 0 && (s = exec_write(e, id, v, err))) return s;
      continue;
    }
    for (int64_t j = 0; j < n; j++) {
      nx[j] = (1.0 - b->eta) * run[j] + b->eta * (v[j] / w);
      v[j] = nx[j] * w;
    }
    if ((s = exec_write(e, id, v, err))) return s;
  }
  return GMMC_OK;
}

static void drop_layout(gmmc_online *h) {
  for (int i = 0; i < h->nstats; i++) free(h->stat_name[i]);
  free(h->stat_name);
  free(h->stat_off);
  free(h->run);
  free(h->group);
  free(h->next);
  h->stat_name = NULL, h->stat_off = NULL, h->run = h->group = h->next = NULL;
  h->nstats = 0, h->used = 0;
}

/* The statistics of the iterate sequence's reduce points, by name, from
 * the first program; then for each batch's program the offset of each of
 * its stat buffers (off, per buffer id), refusing a program whose
 * statistics are not those. */
static gmmc_status stat_layout(gmmc_online *h, const Program *p, int64_t *off) {
  const Sequence *q = &p->seq[SEQ_ITERATE];
  for (int i = 0; i < p->nbufs; i++) off[i] = -1;
  int first = h->stat_name == NULL, count = 0;
  for (int i = 0; i < q->len; i++)
    if (q->steps[i].kind == STEP_REDUCE) count += q->steps[i].nbufs;
  if (first) {
    h->stat_name = xcalloc((size_t)count + 1, sizeof(char *));
    h->stat_off = h->stat_name ? xcalloc((size_t)count + 1, sizeof(int64_t)) : NULL;
    if (!h->stat_off) return ctx_oom(h->ctx, "the statistics' layout");
  }
  int64_t largest = 1;
  for (int i = 0; i < q->len; i++) {
    if (q->steps[i].kind != STEP_REDUCE) continue;
    for (int j = 0; j < q->steps[i].nbufs; j++) {
      int id = q->steps[i].bufs[j];
      const Buffer *buf = p->bufs[id];
      int64_t n = buffer_elems(buf, 0);
      if (n > largest) largest = n;
      if (off[id] >= 0) continue;
      if (first) {
        if (!(h->stat_name[h->nstats] = xstrdup(buf->name))) return ctx_oom(h->ctx, "the statistics' layout");
        h->stat_off[h->nstats++] = h->used;
        off[id] = h->used;
        h->used += n;
        continue;
      }
      for (int k = 0; k < h->nstats && off[id] < 0; k++)
        if (strcmp(h->stat_name[k], buf->name) == 0) off[id] = h->stat_off[k];
      if (off[id] < 0)
        return ctx_fail(h->ctx, GMMC_ERR_INTERNAL,
                        "partial fit: the statistic '%s' was not in the first batch's program", buf->name);
    }
  }
  if (!first) return GMMC_OK;
  size_t bytes = sizeof(double) * (size_t)(h->used + largest + 1);
  h->run = xcalloc(1, bytes);
  h->group = h->run ? xcalloc(1, bytes) : NULL;
  h->next = h->group ? xcalloc(1, bytes) : NULL;
  if (!h->next) return ctx_oom(h->ctx, "the running statistics");
  return GMMC_OK;
}

gmmc_status gmmc_online_create(gmmc_context *ctx, const gmmc_fit_options *o, const gmmc_model *start,
                               gmmc_online **out) {
  if (!ctx || !o || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_online_create: a NULL argument");
  *out = NULL;
  if (ctx->dist) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: not available with MPI yet");
  const char *refused = fit_options_refusal(o);
  if (refused) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s", refused);
  if (start && start->n_components != o->n_components)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: the starting model has %d components but the options ask for %d", start->n_components,
                    o->n_components);
  gmmc_online *h = xcalloc(1, sizeof *h);
  if (!h) return ctx_oom(ctx, "a partial fit");
  h->ctx = ctx;
  h->alpha = 0.6;
  h->t0 = 2.0;
  h->per_step = 1;
  h->n_features = start ? start->n_features : 0;
  if (!(h->o = fit_options_copy(o))) {
    free(h);
    return ctx_oom(ctx, "a partial fit's options");
  }
  if (start) {
    /* a copy of the starting point, checked against the options when the
     * first batch compiles the program */
    gmmc_model *m = model_new();
    int ok = m != NULL;
    for (int i = 0; ok && i < start->nparams; i++) {
      const ModelParam *sp = &start->params[i];
      ok = model_add_param(m, sp->name, sp->rank, sp->shape, sp->values) != NULL;
    }
    if (ok) {
      m->n_components = start->n_components;
      m->n_features = start->n_features;
      m->dtype = start->dtype;
      ok = (m->spec_name = xstrdup(start->spec_name)) != NULL;
    }
    if (!ok) {
      model_free(m);
      gmmc_online_destroy(h);
      return ctx_oom(ctx, "a partial fit's starting model");
    }
    h->model = m;
  }
  *out = h;
  return GMMC_OK;
}

void gmmc_online_destroy(gmmc_online *h) {
  if (!h) return;
  gmmc_fit_options_destroy(h->o);
  model_free(h->model);
  drop_layout(h);
  free(h);
}

gmmc_status gmmc_online_set_schedule(gmmc_online *h, double alpha, double t0) {
  if (!h) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(alpha > 0 && alpha <= 1) || !(t0 >= 0) || isinf(t0))
    return ctx_fail(h->ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: the step sizes (k + t0)^-alpha need 0 < alpha <= 1 and a finite t0 >= 0, got "
                    "alpha = %g, t0 = %g",
                    alpha, t0);
  h->alpha = alpha;
  h->t0 = t0;
  h->step_size = 0;
  return GMMC_OK;
}

gmmc_status gmmc_online_set_step_size(gmmc_online *h, double step) {
  if (!h) return GMMC_ERR_INVALID_ARGUMENT;
  if (!(step >= 0 && step <= 1))
    return ctx_fail(h->ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: a constant step size is in (0, 1] (0: the schedule), got %g", step);
  h->step_size = step;
  return GMMC_OK;
}

gmmc_status gmmc_online_set_batches_per_step(gmmc_online *h, int64_t batches) {
  if (!h) return GMMC_ERR_INVALID_ARGUMENT;
  if (batches < 1)
    return ctx_fail(h->ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: batches per step must be >= 1, got %lld",
                    (long long)batches);
  if (h->pending >= batches)
    return ctx_fail(h->ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: %lld batches are already gathered towards the next step; set %lld or more",
                    (long long)h->pending, (long long)h->pending + 1);
  h->per_step = batches;
  return GMMC_OK;
}

int64_t gmmc_online_steps(const gmmc_online *h) { return h ? h->steps : 0; }

/* The batch's weights: finite, >= 0, their total (the row count without). */
static gmmc_status batch_weight(gmmc_context *ctx, const gmmc_data *d, const double *w, size_t count, double *total) {
  *total = (double)d->rows;
  if (!w && !count) return GMMC_OK;
  if (!w || count != (size_t)d->rows)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: sample_weight has %zu values but the batch has %lld rows: one weight per row", count,
                    (long long)d->rows);
  double t = 0;
  for (size_t i = 0; i < count; i++) {
    if (!isfinite(w[i]) || w[i] < 0)
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                      "partial fit: sample_weight[%zu] = %g; weights must be finite and >= 0", i, w[i]);
    t += w[i];
  }
  if (!(t > 0)) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: the batch's weights are all 0");
  *total = t;
  return GMMC_OK;
}

static gmmc_status check_batch(gmmc_online *h, const gmmc_data *d) {
  gmmc_context *ctx = h->ctx;
  if (d->rows < 1 || d->cols < 1)
    return ctx_fail(ctx, GMMC_ERR_DATA, "partial fit: the batch is empty (%lld rows, %lld columns)", (long long)d->rows,
                    (long long)d->cols);
  if (h->n_features && d->cols != h->n_features)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: the batch has %lld features but the model has %d",
                    (long long)d->cols, h->n_features);
  if (h->dtype && d->dtype != h->dtype)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: the batch is %s but the first batch was %s",
                    d->dtype == GMMC_FLOAT32 ? "float32" : "float64", h->dtype == GMMC_FLOAT32 ? "float32" : "float64");
  if (!h->model && d->rows < h->o->n_components)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "partial fit: the first batch initialises the model: expected n_samples >= n_components but got "
                    "n_components = %d, n_samples = %lld",
                    h->o->n_components, (long long)d->rows);
  int64_t r, c;
  if (data_find_nonfinite(d, &r, &c))
    return ctx_fail(ctx, GMMC_ERR_DATA,
                    "partial fit: the batch holds a non-finite value (NaN or infinity) at row %lld, column %lld",
                    (long long)r + 1, (long long)c + 1);
  return GMMC_OK;
}

/* The full model (metadata of the target, the current parameters). */
static gmmc_status refresh_model(gmmc_online *h, const FitTarget *ft, const Program *p, Exec *e, int store) {
  gmmc_model *m = fit_new_model(ft, p->spec, h->o, h->n_features);
  if (!m) return ctx_oom(h->ctx, "the model");
  m->n_parameters = model_count_parameters(p->spec, p->size_values);
  gmmc_status s = GMMC_OK;
  if (store)
    s = em_store_params(h->ctx, e, m);
  else
    for (int i = 0; i < h->model->nparams && !s; i++) {
      const ModelParam *sp = &h->model->params[i];
      if (!model_add_param(m, sp->name, sp->rank, sp->shape, sp->values)) s = ctx_oom(h->ctx, "the model");
    }
  if (s) {
    model_free(m);
    return s;
  }
  if (h->model) {
    m->lower_bound = h->model->lower_bound;
    m->n_iter = h->model->n_iter;
    m->converged = h->model->converged;
  }
  model_free(h->model);
  h->model = m;
  return GMMC_OK;
}

gmmc_status gmmc_online_partial_fit(gmmc_online *h, const gmmc_data *data, const double *sample_weight, size_t count) {
  if (!h || !data) return GMMC_ERR_INVALID_ARGUMENT;
  gmmc_context *ctx = h->ctx;
  double weight = 0;
  gmmc_status s = check_batch(h, data);
  if (!s) s = batch_weight(ctx, data, sample_weight, count, &weight);
  if (s) return s;
  if (h->model && h->model->n_features != data->cols)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: the batch has %lld features but the model has %d",
                    (long long)data->cols, h->model->n_features);
  gmmc_data view = *data;
  view.weights = sample_weight;
  view.owned = NULL;
  view.map = NULL;
  FitTarget ft;
  Compiled *c = NULL;
  if ((s = fit_resolve_target(ctx, h->o, data->cols, data->dtype, data->on_device, &ft, NULL))) return s;
  int64_t events = h->o->chunk_events > 0 && h->o->chunk_events < data->rows ? h->o->chunk_events : data->rows;
  s = ctx_compile_weighted(ctx, ft.file, ft.text, ft.sizes, ft.nsizes, ft.real, events, sample_weight != NULL,
                           h->o->precision, &c);
  if (!s && sample_weight && exec_weight_buffer(c->p) < 0)
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "sample_weight: the spec %s declares no optional data to receive them",
                 c->p->spec->model);
  if (!s && h->model && (strcmp(h->model->spec_name, c->p->spec->model) != 0))
    s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: the starting model is a %s, the options ask for %s",
                 h->model->spec_name, c->p->spec->model);
  int64_t *off = s ? NULL : xmalloc(sizeof(int64_t) * (size_t)(c->p->nbufs + 1));
  if (!s && !off) s = ctx_oom(ctx, "the statistics' layout");
  if (!s && (s = stat_layout(h, c->p, off)) && !h->have_run) drop_layout(h); /* a first layout half made */
  if (s) {
    free(off);
    fit_free_target(&ft);
    return s;
  }
  const Program *p = c->p;
  int final = h->pending + 1 >= h->per_step;
  FitData fd = {.data = &view, .stream_data = &view, .n_total = data->rows, .weight_total = weight};
  fd.chunk = stream_chunk_events(ctx->be, p, h->o->chunk_events, data->rows, 0);
  char *err = NULL;
  /* a step's derived statements see the events of all its batches (N) */
  if ((s = stream_create(ctx->be, p, c->bp, &view, h->group_rows + data->rows, fd.chunk, &fd.st, &err)))
    ctx_fail_take(ctx, s, err);
  int known = 0;
  Exec *e = s ? NULL : stream_exec(fd.st);
  if (!s) s = autotune_apply_known(ctx, e, &known);
  if (!s) {
    err = NULL;
    s = data_check_spec(&view, p->spec, 0, &err);
    if (s) ctx_fail_take(ctx, s, err);
  }
  if (!s) s = fit_set_scalars(ctx, e, h->o);
  int init = !h->model;
  if (!s && init) {
    Rng rng;
    rng_seed(&rng, h->o->seed);
    s = em_initialize(ctx, &fd, h->o, &ft, &rng);
    if (!s) {
      h->n_features = (int)data->cols;
      s = refresh_model(h, &ft, p, e, 1);
    }
  } else if (!s) {
    s = em_load_params(ctx, e, h->model);
  }
  Blend b = {.h = h,
             .objective = p->spec->objective->name,
             .final = final,
             .eta = schedule(h, h->steps + 1),
             .weight = weight,
             .off = off};
  b.scratch = h->next + h->used; /* the hook's scratch: the values past the last statistic */
  double obj = 0;
  if (!s) {
    e->hook = (ReduceHook){blend_hook, &b};
    err = NULL;
    s = exec_reset_status(e, &err);
    if (!s) s = stream_run(fd.st, SEQ_ITERATE, NULL, NULL, &err);
    e->hook = (ReduceHook){0};
    if (s) ctx_fail_take(ctx, s, err);
  }
  if (!s) {
    err = NULL;
    s = exec_read(e, p->tensor_buf[p->spec->objective->id], &obj, &err);
    if (s) ctx_fail_take(ctx, s, err);
  }
  if (!s && final) s = em_check_builtins(ctx, e, "partial fit failed");
  if (!s && !isfinite(obj))
    s = ctx_fail(
        ctx, GMMC_ERR_NUMERIC,
        "partial fit failed: the log-likelihood of the batch is not finite (degenerate data or parameters; try "
        "increasing reg_covar)");
  if (!s && final) s = refresh_model(h, &ft, p, e, 1);
  if (!s && !h->tuned && !known) {
    /* the variants are chosen on the first batch's data, as a fit does after its first iteration */
    s = autotune_stream(ctx, fd.st);
  }
  if (!s) {
    h->tuned = 1;
    if (!h->dtype) h->dtype = data->dtype;
    if (final) {
      /* commit the step: next holds the running statistics */
      double *t = h->run;
      h->run = h->next;
      h->next = t;
      h->have_run = 1;
      h->steps++;
      h->model->lower_bound = obj / (h->group_weight + weight); /* obj: the sum over the step's batches */
      h->model->n_iter = (int)(h->steps < 1000000000 ? h->steps : 1000000000);
      h->model->converged = 0;
      h->pending = 0;
      h->group_weight = 0;
      h->group_rows = 0;
    } else {
      /* commit the gathering: next holds the raw sums so far */
      double *t = h->group;
      h->group = h->next;
      h->next = t;
      h->pending++;
      h->group_weight += weight;
      h->group_rows += data->rows;
    }
  } else if (init) {
    model_free(h->model); /* the first batch failed: the next one initialises again */
    h->model = NULL;
    h->n_features = 0;
  }
  stream_destroy(fd.st);
  fit_free_target(&ft);
  free(off);
  return s;
}

gmmc_status gmmc_online_model(const gmmc_online *h, gmmc_model **out) {
  if (!h || !out) return GMMC_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!h->model || !h->steps)
    return ctx_fail(h->ctx, GMMC_ERR_INVALID_ARGUMENT, "partial fit: no step made yet (%lld batches gathered of %lld)",
                    (long long)h->pending, (long long)h->per_step);
  /* a deep copy through the model files' own fields */
  const gmmc_model *m = h->model;
  gmmc_model *c = model_new();
  int ok = c != NULL;
  if (ok) {
    ok = (c->spec_name = xstrdup(m->spec_name)) && (c->spec_file = xstrdup(m->spec_file)) &&
         (c->spec_text = xstrdup(m->spec_text)) && (c->size_names = xcalloc((size_t)m->nsizes + 1, sizeof(char *))) &&
         (c->size_values = xcalloc((size_t)m->nsizes + 1, sizeof(int64_t))) &&
         (c->scalar_names = xcalloc((size_t)m->nscalars + 1, sizeof(char *))) &&
         (c->scalar_values = xcalloc((size_t)m->nscalars + 1, sizeof(double)));
  }
  for (int i = 0; ok && i < m->nsizes; i++, c->nsizes++) {
    ok = (c->size_names[i] = xstrdup(m->size_names[i])) != NULL;
    c->size_values[i] = m->size_values[i];
  }
  for (int i = 0; ok && i < m->nscalars; i++, c->nscalars++) {
    ok = (c->scalar_names[i] = xstrdup(m->scalar_names[i])) != NULL;
    c->scalar_values[i] = m->scalar_values[i];
  }
  for (int i = 0; ok && i < m->nparams; i++)
    ok = model_add_param(c, m->params[i].name, m->params[i].rank, m->params[i].shape, m->params[i].values) != NULL;
  if (ok && (c->lower_bounds = xmalloc(sizeof(double)))) {
    c->lower_bounds[0] = m->lower_bound;
    c->n_lower_bounds = 1;
  }
  if (!ok || !c->lower_bounds) {
    model_free(c);
    return ctx_oom(h->ctx, "a copy of the model");
  }
  c->shipped = m->shipped, c->dtype = m->dtype, c->converged = 0, c->n_iter = m->n_iter;
  c->lower_bound = m->lower_bound, c->n_components = m->n_components, c->n_features = m->n_features;
  c->n_parameters = m->n_parameters;
  *out = c;
  return GMMC_OK;
}
