/* Fit options (behind gmmc_fit_options) and the pieces of the EM driver. */
#ifndef GMMC_FIT_H
#define GMMC_FIT_H

#include "rng.h"
#include "runtime/exec/compile.h"
#include "runtime/exec/context.h"
#include "runtime/exec/stream.h"
#include "runtime/model/model.h"

typedef struct {
  char *name;
  double *values;
  size_t count;
} NamedValues;

struct gmmc_fit_options {
  int n_components;
  char *covariance_type;       /* or a shipped spec name */
  char *spec_name, *spec_text; /* a user's spec */
  double tol;
  int max_iter;
  int n_init;
  gmmc_init init;
  uint64_t seed;
  gmmc_dtype dtype;
  Precision precision; /* gmmc_fit_options_set_precision: float32 unless asked */
  NamedValues *scalars;
  int nscalars;
  NamedValues *init_params;
  int ninit_params;
  gmmc_progress_fn progress;
  void *progress_user;
  const gmmc_model *warm_start;
  int64_t chunk_events;  /* events per chunk when streaming; 0: $GMMC_CHUNK_EVENTS or what fits */
  double *sample_weight; /* per-row weights (a copy), or NULL: unweighted */
  size_t nsample_weight;
  char *error;           /* the last refusal's message (gmmc_fit_options_error) */
  char error_short[200]; /* the message when error could not be allocated */
  /* settings refused and not set since, by option ("tol", a scalar's
   * name, "initial means", ...): a fit with them fails (one error channel:
   * the context's), instead of running with the values they left */
  char **refused, **refused_why;
  int nrefused;
};

/* The message of a setting refused and not set since, or NULL. */
const char *fit_options_refusal(const gmmc_fit_options *o);
/* A copy of every setting but the warm start and the sample weights (which
 * belong to one fit); NULL when out of memory. */
gmmc_fit_options *fit_options_copy(const gmmc_fit_options *o);

/* The spec and sizes a fit uses, resolved from the options and the data. */
typedef struct {
  const char *file;
  const char *text;
  int shipped;
  SizeBinding sizes[8];
  int nsizes;
  LType real;
} FitTarget;

/* Resolves the spec and binds its sizes to cols features and the options'
 * n_components; the precision is the options', else float32 on a GPU and
 * data_dtype on the host or for device data read in place (in_place). With
 * spec not NULL the loaded spec is handed over (spec_free it).
 * fit_free_target releases the size names. */
gmmc_status fit_resolve_target(gmmc_context *ctx, const gmmc_fit_options *o, int64_t cols, gmmc_dtype data_dtype,
                               int in_place, FitTarget *ft, Spec **spec);
void fit_free_target(FitTarget *ft);
/* The precision of a fit's kernels: fit_resolve_target's rule. */
gmmc_dtype fit_dtype(const gmmc_context *ctx, const gmmc_fit_options *o, gmmc_dtype data_dtype, int in_place);
/* A model's metadata for a target: spec, sizes, dtype, scalars (the options'
 * values over the spec's defaults), n_components, n_features; no parameters. */
gmmc_model *fit_new_model(const FitTarget *ft, const Spec *s, const gmmc_fit_options *o, int64_t cols);

/* The events a fit runs on: this process's slice, streamed in chunks, and
 * where it sits among the events of all processes (MPI). */
typedef struct {
  Stream *st;
  const gmmc_data *data; /* this process's events */
  int64_t n_total;       /* events of all processes */
  int64_t row0;          /* global index of local row 0 */
  int64_t chunk;         /* events per chunk */
  double weight_total;   /* the weights of all processes' events; n_total without weights */
  /* what the streams read: data, or its copy resident on the GPU (fit_resident) */
  const gmmc_data *stream_data;
} FitData;

/* A GPU fit whose per-event buffers do not fit in one chunk streams them
 * in chunks; its data, when it takes at most half the device's memory, is
 * uploaded once (in the program's type) and read in place by every chunk
 * instead of being copied chunk by chunk, pass by pass: fd->stream_data
 * becomes that copy and fd->chunk is recomputed for the rest (requested:
 * the options' chunk_events). The host-side reads (checks, seeds) keep
 * fd->data. Nothing happens on the host backend, for device data, for one
 * chunk, or when the copy cannot be allocated. fit_resident_free releases
 * the copy. */
typedef struct {
  gmmc_data view;
  void *dev;
} Resident;
gmmc_status fit_resident(gmmc_context *ctx, FitData *fd, const Program *p, int64_t requested, Resident *r);

/* The options' scalars into the exec (em.c); a name the spec lacks is an
 * error, but reg_covar, which specs without covariances ignore. */
gmmc_status fit_set_scalars(gmmc_context *ctx, Exec *e, const gmmc_fit_options *o);
void fit_resident_free(gmmc_context *ctx, Resident *r);

/* Sets up a model's parameters for the first E-step: runs the chosen
 * initialisation (k-means, k-means++, random, random from data) or takes
 * the warm-start model, applies user-given parameters, runs the derived
 * statements. Collective with MPI: every process returns the same status. */
gmmc_status em_initialize(gmmc_context *ctx, const FitData *fd, const gmmc_fit_options *o, const FitTarget *ft,
                          Rng *rng);

/* ---- the EM driver's pieces (em.c), shared by gmmc_fit and gmmc_fit_many ---- */

/* One fit's events bound to its own exec: the data (with the options'
 * weights), the resolved target, the compiled program, the stream. fd.data
 * points into the struct: a FitSetup does not move once set up. */
typedef struct {
  gmmc_data view;
  FitData fd;
  Resident resident;
  FitTarget ft;
  int have_target;
  Compiled *c;
  int known; /* the variant choices were cached: no tuning */
} FitSetup;

/* Everything before the first initialisation: checks of the data, the
 * target, the compiled program, the stream, the scalars, the once
 * statements. Collective with MPI. fit_setup_free releases it whether or
 * not it succeeded. */
gmmc_status fit_setup(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, FitSetup *f);
void fit_setup_free(gmmc_context *ctx, FitSetup *f);

/* One initialisation's iterations: its lower bounds, whether it is done. */
typedef struct {
  int init; /* 0-based */
  int iter; /* iterations made */
  double lb;
  int converged, done;
  double *lbs; /* max_iter + 1 */
  /* progress: the seconds of each iteration; while `defer` is set the
   * callback waits (an earlier initialisation runs beside this one) and
   * em_report delivers it later; `reported`: iterations delivered */
  double *secs;
  int defer, reported;
} EmRun;
gmmc_status em_run_start(gmmc_context *ctx, const gmmc_fit_options *o, int init, EmRun *r);
/* Delivers the progress of the iterations made and not yet reported. */
void em_report(const gmmc_fit_options *o, EmRun *r);
void em_run_free(EmRun *r);

/* An iteration in two halves: em_launch queues the sequence (on a GPU the
 * launches return before the kernels end), em_collect waits for it and reads
 * the objective and the builtins' failures: from the device, or (copied not
 * NULL) from their copy in host memory, which the caller has waited for. */
gmmc_status em_launch(gmmc_context *ctx, FitSetup *f);
typedef struct {
  unsigned char objective[8];        /* the objective's value, in its buffer's type */
  int32_t status[EXEC_STATUS_WORDS]; /* the builtins' status words (exec_status_words) */
} EmOutcome;
gmmc_status em_collect(gmmc_context *ctx, FitSetup *f, const EmOutcome *copied, double *obj);
/* The iteration graphs g[0..n) of the setups f[0..n) joined into *joined,
 * each member followed by the copies of its objective and status words
 * into (*out)[t], page-locked memory allocated here (host_free it), so that
 * one wait reads every outcome (em_joined.h, gmmc_fit_many). Fails with
 * nothing allocated where the backend has no page-locked memory or cannot
 * join the graphs with their copies. */
gmmc_status em_join_outcomes(gmmc_context *ctx, FitSetup *const *f, void *const *g, int n, EmOutcome **out,
                             void **joined, char **why);

/* After an iteration's objective: the lower bound and its check, the
 * tuning after initialisation 0's first iteration, progress, the stopping
 * rule (r->done). pf: GMMC_PROFILE's record, or NULL. */
typedef struct FitProfile FitProfile;
gmmc_status em_advance(gmmc_context *ctx, FitSetup *f, const gmmc_fit_options *o, EmRun *r, double obj, double t0,
                       FitProfile *pf);
/* Keeps the run's parameters in best when it is the first kept or its lower
 * bound is larger (call in initialisation order: scikit-learn's rule). */
gmmc_status em_keep(gmmc_context *ctx, FitSetup *f, const EmRun *r, gmmc_model *best, int *have_best);
/* The model a setup trains, before any parameter (NULL: out of memory, recorded). */
gmmc_model *em_new_model(gmmc_context *ctx, FitSetup *f, const gmmc_fit_options *o);
void em_warn_unconverged(gmmc_context *ctx, const gmmc_model *best, const gmmc_fit_options *o);

/* ---- many fits at once (fit_many.c) ---- */

/* Whether gmmc_fit runs n_init > 1 initialisations side by side
 * (fit_many_inits): alone (no MPI) and only with GMMC_FIT_MANY=1 until the
 * GPU path has been measured (then: on a GPU by default). */
int fit_many_takes(const gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o);
/* gmmc_fit's n_init initialisations as runs of the many-fit driver, the
 * failure's message in ctx as gmmc_fit's. */
gmmc_status fit_many_inits(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *o, gmmc_model **out);

#endif
