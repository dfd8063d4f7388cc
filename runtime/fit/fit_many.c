/* Many fits at once (gmmc_fit_many) and gmmc_fit's n_init initialisations
 * side by side: every initialisation of every fit is a run with its own
 * exec, and the runs iterate in lockstep. A round queues every live run's
 * iteration (em_launch: on a GPU the launches return at once, so that the
 * kernels of all fits follow each other on the stream without a wait),
 * then waits for and reads each run's objective (em_collect: on a GPU,
 * once the round is one joined graph, one wait for all runs' objectives)
 * and applies the stopping rule to each on its own. A run that converges
 * or reaches max_iter leaves the rounds; a fit whose run fails stops alone
 * (its other runs with it); the others go on.
 *
 * Each run computes exactly what gmmc_fit's loop computes for that fit and
 * initialisation (same sequences on its own buffers, the initialisations
 * drawn in order from the fit's one seed), so that on the host a fit of a
 * batch is bit for bit the fit alone. What it does not do yet (docs/api.md,
 * docs/limits.md): the fits are not one grid dimension of the same kernels;
 * a round is B launches of each fit's kernels (one CUDA graph per fit), and
 * on the host the fits run one after another, each kernel parallel over
 * its events. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "params.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/graph.h"

typedef struct {
  FitSetup f;
  EmRun r;
  int fit;
  int set_up, started; /* fit_setup ran (free it); em_run_start ran */
  int live;            /* initialised and iterating */
  int launched;        /* its iteration was queued in this round */
  /* a round run as a task of the host's threads: its outcome, and a context
   * of its own for its message (the shared one's error is not touched from
   * the threads) */
  gmmc_status task_status;
  double task_obj;
  gmmc_context task_ctx;
} Run;

typedef struct {
  const gmmc_data *data;
  const gmmc_fit_options *o;
  Rng rng;
  int first, nruns; /* its runs: runs[first .. first + nruns) */
  int serial;       /* the initialisations one after another on run 0 (not enough memory for all) */
  int next_init;    /* the next initialisation to start (serial) */
  int reporting;    /* the initialisation whose progress is delivered as it comes; later ones wait (in order) */
  gmmc_model *best;
  int have_best;
  gmmc_status s;
  char *msg;
  int done;
} Fit;

int fit_many_takes(const gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o) {
  (void)data;
  if (ctx->dist || o->n_init < 2) return 0;
  const char *env = getenv("GMMC_FIT_MANY");
  if (env && *env) return strcmp(env, "0") != 0;
  /* on the host the restarts side by side do the same arithmetic (each
   * kernel already has every thread) in n_init times the memory: measured
   * no faster (docs/performance.md), so they run one after another there.
   * On a GPU too: the joined graphs ran (an H100, 2026-12-06) but did not
   * overlap the restarts, each then still reading its objective and status
   * back every round (before the one wait per round): 10 restarts took 8.0x
   * one side by side, 7.7x one after another. */
  return 0;
}

/* A fit's failure: its status and message (gmmc_last_error's now), its runs released. */
static void fail_fit(gmmc_context *ctx, Fit *fit, Run *runs, gmmc_status s) {
  if (fit->s) return;
  fit->s = s;
  fit->msg = xstrdup(gmmc_last_error(ctx));
  fit->done = 1;
  for (int k = fit->first; k < fit->first + fit->nruns; k++) {
    Run *r = &runs[k];
    if (r->started) em_run_free(&r->r);
    if (r->set_up) fit_setup_free(ctx, &r->f);
    r->started = r->set_up = r->live = 0;
    free(r->task_ctx.error); /* a sibling's failure in the same round */
    r->task_ctx.error = NULL;
  }
  model_free(fit->best);
  fit->best = NULL;
}

/* Sets up run k (its own exec over the fit's data). */
static gmmc_status setup_run(gmmc_context *ctx, Fit *fit, Run *run) {
  run->set_up = 1;
  return fit_setup(ctx, fit->data, fit->o, &run->f);
}

/* Starts initialisation `init` on a set-up run: the fit's next draws. */
static gmmc_status start_run(gmmc_context *ctx, Fit *fit, Run *run, int init) {
  if (run->started) em_run_free(&run->r);
  run->started = 1;
  gmmc_status s = em_run_start(ctx, fit->o, init, &run->r);
  run->r.defer = !fit->serial && init > fit->reporting; /* beside an earlier one: its progress after that one's */
  if (!s) s = em_initialize(ctx, &run->f.fd, fit->o, &run->f.ft, &fit->rng);
  run->live = !s && !run->r.done;
  return s;
}

/* Runs 1.. of a fit once run 0 has made its first iteration (and chosen the
 * variants, as gmmc_fit's later initialisations run with them): their
 * initialisations in order, each on its own exec with run 0's choices. */
static gmmc_status start_siblings(gmmc_context *ctx, Fit *fit, Run *runs) {
  Exec *e0 = stream_exec(runs[fit->first].f.fd.st);
  for (int k = 1; k < fit->nruns; k++) {
    Run *run = &runs[fit->first + k];
    gmmc_status s = setup_run(ctx, fit, run);
    if (s) return s;
    Exec *e = stream_exec(run->f.fd.st);
    memcpy(e->choice, e0->choice, sizeof(int) * (size_t)e0->p->nunits);
    if ((s = start_run(ctx, fit, run, k))) return s;
  }
  return GMMC_OK;
}

/* Whether n_init execs over the data fit in the device's memory (40%, as a
 * chunk), given run 0's program; on one chunk only. */
static int room_for_inits(const gmmc_context *ctx, const Run *run0, int n_init) {
  if (stream_chunks(run0->f.fd.st) > 1) return 0;
  size_t mem = ctx->be->memory_bytes;
  if (mem == 0) return 1;
  double need = (double)n_init * (double)run0->f.fd.data->rows * (double)stream_event_bytes(ctx->be, run0->f.c->p);
  return need <= 0.4 * (double)mem;
}

/* A fit's first run: set up, its model, initialisation 0. */
static gmmc_status begin_fit(gmmc_context *ctx, Fit *fit, Run *runs) {
  Run *run0 = &runs[fit->first];
  gmmc_status s = setup_run(ctx, fit, run0);
  if (s) return s;
  if (!(fit->best = em_new_model(ctx, &run0->f, fit->o))) return GMMC_ERR_OUT_OF_MEMORY;
  rng_seed(&fit->rng, fit->o->seed);
  fit->serial = fit->o->n_init > 1 && !room_for_inits(ctx, run0, fit->o->n_init);
  fit->next_init = 1;
  return start_run(ctx, fit, run0, 0);
}

/* A fit whose runs are all done: the best initialisation, in order. */
static gmmc_status finish_fit(gmmc_context *ctx, Fit *fit, Run *runs) {
  for (int k = fit->first; k < fit->first + fit->nruns; k++) {
    Run *r = &runs[k];
    if (!r->started) continue;
    gmmc_status s = em_keep(ctx, &r->f, &r->r, fit->best, &fit->have_best);
    if (s) return s;
  }
  em_warn_unconverged(ctx, fit->best, fit->o);
  for (int k = fit->first; k < fit->first + fit->nruns; k++) {
    Run *r = &runs[k];
    if (r->started) em_run_free(&r->r);
    if (r->set_up) fit_setup_free(ctx, &r->f);
    r->started = r->set_up = 0;
  }
  fit->done = 1;
  return GMMC_OK;
}

/* After a run's iteration: siblings to start, the next serial
 * initialisation, the fit's end. */
static gmmc_status after_iteration(gmmc_context *ctx, Fit *fit, Run *runs, Run *run) {
  gmmc_status s;
  if (run->r.init == 0 && run->r.iter == 1 && fit->nruns > 1 && (s = start_siblings(ctx, fit, runs))) return s;
  if (!run->r.done) return GMMC_OK;
  run->live = 0;
  /* progress in initialisation order: the next ones' as far as they got */
  for (Run *cur = run; cur->r.init == fit->reporting && fit->reporting + 1 < fit->nruns && !fit->serial;) {
    Run *next = &runs[fit->first + ++fit->reporting];
    if (!next->started) break; /* it starts later, undeferred */
    em_report(fit->o, &next->r);
    next->r.defer = 0;
    if (!next->r.done) break;
    cur = next;
  }
  if (fit->serial && fit->next_init < fit->o->n_init) {
    /* keep this initialisation's parameters before the exec runs the next */
    if ((s = em_keep(ctx, &run->f, &run->r, fit->best, &fit->have_best))) return s;
    return start_run(ctx, fit, run, fit->next_init++);
  }
  for (int k = fit->first; k < fit->first + fit->nruns; k++)
    if (runs[k].live) return GMMC_OK;
  return finish_fit(ctx, fit, runs);
}

/* One round's iteration of the live runs as tasks on the host's threads. */
typedef struct {
  Run *runs;
  int *live; /* the indices of the live runs */
} Round;

static void round_task(void *user, int64_t lo, int64_t hi) {
  Round *r = user;
  for (int64_t t = lo; t < hi; t++) {
    Run *run = &r->runs[r->live[t]];
    gmmc_context *c = &run->task_ctx;
    run->task_obj = 0;
    run->task_status = em_launch(c, &run->f);
    if (!run->task_status) run->task_status = em_collect(c, &run->f, NULL, &run->task_obj);
  }
}

/* Side by side on the host's threads when every thread gets a fit (the
 * kernels of each run then on its thread alone): fewer, and each kernel
 * keeps all threads instead. Not under GMMC_PROFILE (its per-kernel
 * counters are not shared between threads). */
static int use_tasks(const gmmc_context *ctx, int live) {
  Backend *be = ctx->be;
  return be->ops->run_tasks && !be->profile && live >= 2 && live >= be->ops->task_threads(be);
}

static void round_tasks(gmmc_context *ctx, Run *runs, int *live, int nlive) {
  for (int t = 0; t < nlive; t++) {
    Run *run = &runs[live[t]];
    run->task_ctx = *ctx;
    run->task_ctx.error = NULL;
  }
  Round r = {runs, live};
  ctx->be->ops->run_tasks(ctx->be, nlive, round_task, &r);
}

/* On a GPU: the live runs' captured iterations joined into one graph whose
 * branches they are (Backend graph_join), one launch per round instead of
 * one per run, the GPU free to overlap the fits' kernels; rebuilt when the
 * live runs or their graphs change (each run captures its own as gmmc_fit
 * does, from its second iteration). The graph also copies each run's
 * objective and status into `out` (page-locked host memory): the round then
 * waits once for all runs, instead of a synchronising read per run (0.066
 * ms each on an H100). Without that memory (or with
 * GMMC_FIT_MANY_READ=each) each run reads its own. */
typedef struct {
  void *graph;
  void **members;
  uint64_t *stamps;
  EmOutcome *out; /* member t's outcome in out[t] after the round's wait, or NULL */
  int n;
  int off;    /* joining failed: a launch per run from then on */
  int each;   /* GMMC_FIT_MANY_READ=each: no copies, a read per run */
  int builds; /* graphs joined so far (GMMC_PROFILE) */
} Joined;

/* GMMC_PROFILE: where the rounds' time goes on the host (the launches, the
 * joined graphs' builds included; the reads of the objectives and statuses,
 * which wait for the kernels: one per run, or one per round that read all
 * at once (`at_once`, its time in at_once_ms too); the rest of the round). */
typedef struct {
  int rounds, run_rounds, joined, rebuilt, at_once;
  double launch_ms, read_ms, at_once_ms, rest_ms;
} RoundProfile;

static void round_profile_print(const RoundProfile *r) {
  fprintf(stderr,
          "gmmc profile: fit_many: %d rounds, %d run-rounds, %d launched joined (%d joined graphs built); "
          "launching %.3f ms, reading objectives %.3f ms (%.4f ms a run-round; %d rounds read all at once: "
          "%.3f ms, %.4f ms a round), the rest %.3f ms\n",
          r->rounds, r->run_rounds, r->joined, r->rebuilt, r->launch_ms, r->read_ms,
          r->run_rounds ? r->read_ms / r->run_rounds : 0.0, r->at_once, r->at_once_ms,
          r->at_once ? r->at_once_ms / r->at_once : 0.0, r->rest_ms - r->read_ms);
}

static void joined_free(gmmc_context *ctx, Joined *j) {
  if (j->graph) ctx->be->ops->graph_destroy(ctx->be, j->graph);
  if (j->out) ctx->be->ops->host_free(ctx->be, j->out);
  free(j->members);
  free(j->stamps);
  int builds = j->builds, each = j->each;
  memset(j, 0, sizeof *j);
  j->builds = builds, j->each = each;
}

/* The members' graphs joined into j->graph, with their outcomes' copies
 * into j->out where the backend makes them (else j->out is NULL and each
 * run reads its own). */
static gmmc_status join(gmmc_context *ctx, Joined *j, void **g, Run *runs, const int *live, int nlive, char **why) {
  Backend *be = ctx->be;
  FitSetup **f = j->each ? NULL : xcalloc((size_t)nlive, sizeof *f);
  for (int t = 0; t < nlive && f; t++) f[t] = &runs[live[t]].f;
  gmmc_status s = f ? em_join_outcomes(ctx, f, g, nlive, &j->out, &j->graph, why) : GMMC_ERR_OUT_OF_MEMORY;
  free(f);
  if (!s) return GMMC_OK;
  if (be->profile && !j->each) fprintf(stderr, "gmmc profile: fit_many: a read per run: %s\n", *why ? *why : "?");
  free(*why);
  *why = NULL;
  return be->ops->graph_join(be, g, nlive, NULL, 0, &j->graph, why);
}

/* 1 when the round's iterations were launched as the joined graph (or it
 * failed to launch: then every live run's fit failed with it); 0 when each
 * run must launch its own (not every run has its graph yet, one chunk
 * each, or the graphs could not be joined). */
static int launch_joined(gmmc_context *ctx, Joined *j, Fit *fits, Run *runs, const int *live, int nlive) {
  Backend *be = ctx->be;
  if (j->off || !be->ops->graph_join || nlive < 2) return 0;
  void **g = xcalloc((size_t)nlive, sizeof *g);
  uint64_t *stamp = xcalloc((size_t)nlive, sizeof *stamp);
  int ready = g && stamp;
  for (int t = 0; t < nlive && ready; t++) {
    Stream *st = runs[live[t]].f.fd.st;
    ready = stream_chunks(st) == 1 && (g[t] = graph_ready(stream_exec(st), SEQ_ITERATE, &stamp[t])) != NULL;
  }
  if (!ready) {
    free(g), free(stamp);
    return 0;
  }
  if (!j->graph || j->n != nlive || memcmp(j->members, g, sizeof *g * (size_t)nlive) ||
      memcmp(j->stamps, stamp, sizeof *stamp * (size_t)nlive)) {
    joined_free(ctx, j);
    char *why = NULL;
    if (join(ctx, j, g, runs, live, nlive, &why)) {
      if (be->profile) fprintf(stderr, "gmmc profile: fit_many: graphs not joined: %s\n", why ? why : "?");
      free(why);
      free(g), free(stamp);
      j->off = 1;
      return 0;
    }
    j->members = g, j->stamps = stamp, j->n = nlive, j->builds++;
  } else {
    free(g), free(stamp);
  }
  for (int t = 0; t < nlive; t++) {
    char *err = NULL;
    Run *run = &runs[live[t]];
    gmmc_status s = exec_reset_status(stream_exec(run->f.fd.st), &err);
    if (s) { /* its fit stops; the others launch their own this round */
      ctx_fail_take(ctx, s, err);
      fail_fit(ctx, &fits[run->fit], runs, s);
      return 0;
    }
  }
  char *err = NULL;
  gmmc_status s = be->ops->graph_launch(be, j->graph, &err);
  if (s) {
    ctx_fail_take(ctx, s, err);
    for (int t = 0; t < nlive; t++) fail_fit(ctx, &fits[runs[live[t]].fit], runs, s);
  }
  return 1;
}

/* The fits (their models in models[i] or their failure in statuses[i] and
 * msgs[i]); GMMC_OK, or the out-of-memory status of the driver's own
 * arrays (then nothing ran). */
static gmmc_status run_fits(gmmc_context *ctx, int count, const gmmc_data *const *data,
                            const gmmc_fit_options *const *opts, gmmc_model **models, gmmc_status *statuses,
                            char **msgs) {
  int nruns = 0;
  for (int i = 0; i < count; i++) nruns += opts[i]->n_init > 1 ? opts[i]->n_init : 1;
  Fit *fits = xcalloc((size_t)count, sizeof *fits);
  Run *runs = fits ? xcalloc((size_t)nruns, sizeof *runs) : NULL;
  if (!runs) {
    free(fits);
    return ctx_oom(ctx, "the fits' records");
  }
  for (int i = 0, k = 0; i < count; i++) {
    Fit *fit = &fits[i];
    fit->data = data[i], fit->o = opts[i];
    fit->first = k;
    fit->nruns = opts[i]->n_init > 1 ? opts[i]->n_init : 1;
    for (int j = 0; j < fit->nruns; j++) runs[k + j].fit = i;
    k += fit->nruns;
  }
  for (int i = 0; i < count; i++) {
    gmmc_status s = begin_fit(ctx, &fits[i], runs);
    if (!s && fits[i].serial) fits[i].nruns = 1; /* the others are never set up */
    if (!s && !runs[fits[i].first].live) s = after_iteration(ctx, &fits[i], runs, &runs[fits[i].first]);
    if (s) fail_fit(ctx, &fits[i], runs, s);
  }
  const char *read = getenv("GMMC_FIT_MANY_READ");
  Joined joined = {.each = read && strcmp(read, "each") == 0};
  RoundProfile prof = {0};
  int *live = xcalloc((size_t)nruns, sizeof *live);
  if (!live) {
    for (int i = 0; i < count; i++) fail_fit(ctx, &fits[i], runs, ctx_oom(ctx, "the runs' list"));
  }
  for (;;) {
    int nlive = 0;
    double t0 = monotonic_ms() * 1e-3;
    for (int k = 0; k < nruns && live; k++) {
      runs[k].launched = runs[k].live;
      if (runs[k].live) live[nlive++] = k;
    }
    if (nlive == 0) break;
    int tasks = use_tasks(ctx, nlive), joins = joined.builds, at_once = 0;
    double t_launch = monotonic_ms();
    if (tasks) {
      round_tasks(ctx, runs, live, nlive);
    } else if (launch_joined(ctx, &joined, fits, runs, live, nlive)) {
      prof.joined++;
      at_once = joined.out && runs[live[0]].live; /* launched (a failed launch failed every run) */
    } else {
      /* every launch first: on a GPU the fits' kernels queue back to back */
      for (int t = 0; t < nlive; t++) {
        Run *run = &runs[live[t]];
        if (!run->live) continue; /* its fit failed at an earlier run's launch */
        gmmc_status s = em_launch(ctx, &run->f);
        if (s) fail_fit(ctx, &fits[run->fit], runs, s);
      }
    }
    double t_collect = monotonic_ms();
    prof.launch_ms += t_collect - t_launch, prof.rebuilt += joined.builds != joins;
    if (at_once) { /* the one wait: every run's outcome is in joined.out then */
      char *err = NULL;
      gmmc_status s = ctx->be->ops->synchronize(ctx->be, &err);
      if (s) ctx_fail_take(ctx, s, err);
      for (int t = 0; t < nlive && s; t++) fail_fit(ctx, &fits[runs[live[t]].fit], runs, s);
      double ms = monotonic_ms() - t_collect;
      prof.at_once++, prof.at_once_ms += ms, prof.read_ms += ms;
    }
    for (int t = 0; t < nlive; t++) {
      Run *run = &runs[live[t]];
      /* a run started in this round (a sibling, a serial initialisation) iterates from the next */
      if (!run->live || !run->launched) continue;
      Fit *fit = &fits[run->fit];
      double obj = 0, t_read = monotonic_ms();
      gmmc_status s;
      if (tasks) {
        s = run->task_status, obj = run->task_obj;
        if (s) ctx_fail_take(ctx, s, run->task_ctx.error); /* its message (NULL: the short one, below) */
        if (s && !run->task_ctx.error) ctx_fail(ctx, s, "%s", run->task_ctx.error_short);
        run->task_ctx.error = NULL;
      } else {
        s = em_collect(ctx, &run->f, at_once ? &joined.out[t] : NULL, &obj);
      }
      prof.read_ms += monotonic_ms() - t_read;
      /* another fit of the same program may have tuned its variants by now (cached): none tunes twice */
      if (!s && run->r.init == 0 && run->r.iter == 0 && !run->f.known)
        s = autotune_apply_known(ctx, stream_exec(run->f.fd.st), &run->f.known);
      if (!s) s = em_advance(ctx, &run->f, fit->o, &run->r, obj, t0, NULL);
      if (!s) s = after_iteration(ctx, fit, runs, run);
      if (s) fail_fit(ctx, fit, runs, s);
    }
    prof.rounds++, prof.run_rounds += nlive, prof.rest_ms += monotonic_ms() - t_collect;
  }
  if (ctx->be->profile) round_profile_print(&prof);
  free(live);
  joined_free(ctx, &joined);
  for (int i = 0; i < count; i++) {
    statuses[i] = fits[i].s;
    msgs[i] = fits[i].msg;
    models[i] = fits[i].s ? NULL : fits[i].best;
  }
  free(runs);
  free(fits);
  return GMMC_OK;
}

gmmc_status fit_many_inits(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out) {
  gmmc_status st = GMMC_OK;
  char *msg = NULL;
  gmmc_status s = run_fits(ctx, 1, &data, &o, out, &st, &msg);
  if (s) return s;
  if (st) return ctx_fail_take(ctx, st, msg); /* NULL (no memory for it): the status's name */
  return GMMC_OK;
}

static void drop_messages(gmmc_context *ctx) {
  for (int i = 0; i < ctx->nmany_errors; i++) free(ctx->many_errors[i]);
  free(ctx->many_errors);
  ctx->many_errors = NULL;
  ctx->nmany_errors = 0;
}

gmmc_status gmmc_fit_many(gmmc_context *ctx, int count, const gmmc_data *const *data,
                          const gmmc_fit_options *const *opts, gmmc_model **models, gmmc_status *statuses) {
  if (!ctx) return GMMC_ERR_INVALID_ARGUMENT;
  drop_messages(ctx);
  if (models && count > 0)
    for (int i = 0; i < count; i++) models[i] = NULL;
  gmmc_status bad = GMMC_OK;
  if (count < 1)
    bad = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit_many: count is %d; at least one fit", count);
  else if (!data || !opts || !models || !statuses)
    bad = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit_many: a NULL array");
  else if (ctx->dist)
    bad = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit_many: not with MPI (a context of several processes)");
  for (int i = 0; i < count && !bad; i++) {
    if (!data[i] || !opts[i])
      bad =
          ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit_many: fit %d: a NULL %s", i, data[i] ? "options" : "data");
  }
  if (bad) {
    if (statuses)
      for (int i = 0; i < count; i++) statuses[i] = bad;
    return bad;
  }
  char **msgs = xcalloc((size_t)count, sizeof *msgs);
  gmmc_status s = msgs ? run_fits(ctx, count, data, opts, models, statuses, msgs) : ctx_oom(ctx, "the fits' messages");
  if (s) {
    free(msgs);
    for (int i = 0; i < count; i++) statuses[i] = s;
    return s;
  }
  ctx->many_errors = msgs;
  ctx->nmany_errors = count;
  int failed = 0, first = -1;
  for (int i = 0; i < count; i++)
    if (statuses[i]) failed++, first = first < 0 ? i : first;
  if (!failed) return GMMC_OK;
  return ctx_fail(ctx, statuses[first], "gmmc_fit_many: %d of %d fits failed; fit %d: %s", failed, count, first,
                  msgs[first] ? msgs[first] : gmmc_status_name(statuses[first]));
}

const char *gmmc_fit_many_error(const gmmc_context *ctx, int i) {
  if (!ctx || i < 0 || i >= ctx->nmany_errors) return NULL;
  return ctx->many_errors[i];
}
