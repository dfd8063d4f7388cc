/* Many fits at once (gmmc_fit_many) and gmmc_fit's n_init initialisations
 * side by side, through the C API on the host backend:
 *
 * - batch: fits of different sizes, component counts, covariance types,
 *   dtypes, seeds, weights and max_iter in one call, each against the same
 *   fit alone (gmmc_fit): bit for bit (each run computes what gmmc_fit
 *   computes, on its own buffers); they stop at different iterations;
 * - failures: a fit with fewer events than components and one whose
 *   covariance is singular (reg_covar 0 on data with a constant column)
 *   beside ones that succeed: each failure's status and message are
 *   gmmc_fit's for it, the others' models are unchanged; the call returns
 *   the first failure's status and says how many failed;
 * - n_init: gmmc_fit with n_init > 1 (the initialisations side by side:
 *   GMMC_FIT_MANY=1, no default yet: docs/api.md) against GMMC_FIT_MANY=0 (one after another, the loop of 1.1), bit for
 *   bit, in memory and streamed in chunks (where they run one after another
 *   on one exec); and within gmmc_fit_many;
 * - progress: n_init's initialisations side by side call the progress
 *   callback in initialisation order, as one after another;
 * - arguments: count < 1, NULL arrays and elements, refused with every
 *   status set and no model; gmmc_fit_many_error out of range.
 *
 * With GMMC_TEST_BACKEND=cuda (tests/gpu/fit_many.sh) the same runs on the
 * GPU in float64 (skipped, exit 77, without one), each fit against the fit
 * alone within the tolerance tests/weights/test_weights.c derives for sums
 * in another order (T * 2 (n-1) u * kappa): the GPU's variants may be
 * tuned differently for the fit alone than for the batch.
 *
 * Fresh data; the seed is printed (GMMC_TEST_SEED=N replays). */
#include "check.h"
#include "host_cpu_skip.h"
#include "stream/fit_compare.h"

enum { D = 3, B = 7 };
static int on_gpu;

/* Bit for bit on the host; on the GPU, float64 sums in any order (see above). */
static int compare(const gmmc_model *a, const gmmc_model *b, int64_t n, int max_iter, const char *cov,
                   const char *what) {
  double tol = 0;
  if (on_gpu) {
    int iters = (max_iter < 100 ? max_iter : 100) + 300; /* the k-means initialisation's Lloyd iterations */
    tol = iters * 2.0 * (double)(n - 1) * 0x1p-53 * tc_condition(b, cov);
  }
  return tc_compare(a, b, tol, tol, what);
}

typedef struct {
  int64_t n;
  int m;
  const char *cov;
  int f32;
  int max_iter;
  int weighted;
  int n_init;
  gmmc_init init;
} FitSpec;

/* the batch: sizes, components, covariance types, dtypes, max_iter */
static const FitSpec batch[B] = {
    {300, 3, "full", 0, 100, 0, 1, GMMC_INIT_KMEANS},
    {500, 2, "diag", 0, 100, 1, 1, GMMC_INIT_KMEANS_PLUSPLUS},
    {200, 5, "full", 1, 100, 0, 1, GMMC_INIT_KMEANS},
    {400, 4, "tied", 0, 3, 0, 1, GMMC_INIT_RANDOM},
    {250, 3, "spherical", 0, 100, 0, 1, GMMC_INIT_RANDOM_FROM_DATA},
    {350, 3, "full", 0, 100, 0, 3, GMMC_INIT_KMEANS_PLUSPLUS},
    {150, 2, "full", 1, 1, 1, 1, GMMC_INIT_KMEANS},
};

typedef struct {
  double *x;
  float *xf;
  double *w;
  gmmc_data *d;
  gmmc_fit_options *o;
} Made;

static void make(gmmc_context *ctx, uint64_t seed, const FitSpec *f, int i, Made *out) {
  out->x = malloc(sizeof(double) * (size_t)(f->n * D));
  out->xf = malloc(sizeof(float) * (size_t)(f->n * D));
  out->w = malloc(sizeof(double) * (size_t)f->n);
  tc_mixture(seed + 7919u * (uint64_t)i, f->n, D, f->m, out->x);
  uint64_t s = seed ^ (0x5eedu + (uint64_t)i);
  for (int64_t k = 0; k < f->n; k++) out->w[k] = 0.25 + tc_uniform(&s) * 2;
  for (int64_t k = 0; k < f->n * D; k++) out->xf[k] = (float)out->x[k];
  if (f->f32 && !on_gpu)
    gmmc_data_wrap(ctx, out->xf, GMMC_FLOAT32, f->n, D, &out->d);
  else
    gmmc_data_wrap(ctx, out->x, GMMC_FLOAT64, f->n, D, &out->d);
  gmmc_fit_options_create(&out->o);
  gmmc_fit_options_set_n_components(out->o, f->m);
  gmmc_fit_options_set_covariance_type(out->o, f->cov);
  gmmc_fit_options_set_max_iter(out->o, f->max_iter);
  gmmc_fit_options_set_n_init(out->o, f->n_init);
  gmmc_fit_options_set_init(out->o, f->init);
  gmmc_fit_options_set_seed(out->o, seed + (uint64_t)i);
  if (on_gpu) gmmc_fit_options_set_dtype(out->o, GMMC_FLOAT64);
  if (f->weighted) gmmc_fit_options_set_sample_weight(out->o, out->w, (size_t)f->n);
}

static void unmake(Made *m) {
  gmmc_data_destroy(m->d);
  gmmc_fit_options_destroy(m->o);
  free(m->x);
  free(m->xf);
  free(m->w);
}

/* gmmc_fit alone, the initialisations one after another (GMMC_FIT_MANY=0). */
static gmmc_model *alone(gmmc_context *ctx, const Made *m, gmmc_status *st, char *msg, size_t len) {
  setenv("GMMC_FIT_MANY", "0", 1);
  gmmc_model *model = NULL;
  *st = gmmc_fit(ctx, m->d, m->o, &model);
  snprintf(msg, len, "%s", *st ? gmmc_last_error(ctx) : "");
  unsetenv("GMMC_FIT_MANY");
  return model;
}

static void test_batch(gmmc_context *ctx, uint64_t seed) {
  printf("batch of %d fits\n", B);
  Made made[B];
  const gmmc_data *data[B];
  const gmmc_fit_options *opts[B];
  for (int i = 0; i < B; i++) make(ctx, seed, &batch[i], i, &made[i]), data[i] = made[i].d, opts[i] = made[i].o;
  gmmc_model *models[B];
  gmmc_status st[B];
  gmmc_status s = gmmc_fit_many(ctx, B, data, opts, models, st);
  CHECK(s == GMMC_OK, "gmmc_fit_many: %s", gmmc_last_error(ctx));
  int iters_seen[128] = {0}, distinct = 0;
  for (int i = 0; i < B; i++) {
    CHECK(st[i] == GMMC_OK && models[i], "fit %d: status %d", i, (int)st[i]);
    CHECK(gmmc_fit_many_error(ctx, i) == NULL, "fit %d has a message", i);
    gmmc_status as;
    char msg[512], what[96];
    gmmc_model *a = alone(ctx, &made[i], &as, msg, sizeof msg);
    CHECK(as == GMMC_OK, "fit %d alone: %s", i, msg);
    snprintf(what, sizeof what, "fit %d (%lld x %d, %s, M=%d%s)", i, (long long)batch[i].n, D, batch[i].cov, batch[i].m,
             batch[i].f32 ? ", float32" : "");
    if (a && models[i]) {
      failures += compare(models[i], a, batch[i].n, batch[i].max_iter, batch[i].cov, what);
      CHECK(gmmc_model_n_iter(models[i]) == gmmc_model_n_iter(a), "%s: n_iter", what);
      CHECK(gmmc_model_converged(models[i]) == gmmc_model_converged(a), "%s: converged", what);
      CHECK(on_gpu || gmmc_model_lower_bound(models[i]) == gmmc_model_lower_bound(a), "%s: lower_bound", what);
      CHECK(gmmc_model_n_components(models[i]) == batch[i].m, "%s: n_components", what);
      int it = gmmc_model_n_iter(models[i]);
      if (it >= 0 && it < 128 && !iters_seen[it]++) distinct++;
    }
    gmmc_model_destroy(a);
    gmmc_model_destroy(models[i]);
  }
  CHECK(distinct >= 3, "the fits stopped at only %d distinct iteration counts", distinct);
  CHECK(gmmc_fit_many_error(ctx, -1) == NULL && gmmc_fit_many_error(ctx, B) == NULL, "out-of-range message");
  for (int i = 0; i < B; i++) unmake(&made[i]);
}

/* Failing fits beside succeeding ones. */
static void test_failures(gmmc_context *ctx, uint64_t seed) {
  printf("failures beside successes\n");
  enum { F = 4 };
  static const FitSpec fs[F] = {{300, 3, "full", 0, 100, 0, 1, GMMC_INIT_KMEANS},
                                {2, 3, "full", 0, 100, 0, 1, GMMC_INIT_KMEANS},   /* fewer events than components */
                                {300, 3, "full", 0, 100, 0, 2, GMMC_INIT_KMEANS}, /* singular: below */
                                {200, 2, "diag", 0, 100, 0, 1, GMMC_INIT_KMEANS}};
  Made made[F];
  const gmmc_data *data[F];
  const gmmc_fit_options *opts[F];
  for (int i = 0; i < F; i++) make(ctx, seed, &fs[i], i, &made[i]), data[i] = made[i].d, opts[i] = made[i].o;
  /* a constant column and no regularisation: no covariance is positive definite */
  for (int64_t k = 0; k < fs[2].n; k++) made[2].x[k * D + 1] = 2.5;
  gmmc_fit_options_set_reg_covar(made[2].o, 0);
  gmmc_model *models[F];
  gmmc_status st[F];
  gmmc_status s = gmmc_fit_many(ctx, F, data, opts, models, st);
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT, "gmmc_fit_many returned %d", (int)s);
  CHECK(strstr(gmmc_last_error(ctx), "2 of 4 fits failed; fit 1: expected n_samples >= n_components"), "message: %s",
        gmmc_last_error(ctx));
  for (int i = 0; i < F; i++) {
    gmmc_status as;
    char msg[512], what[64];
    gmmc_model *a = alone(ctx, &made[i], &as, msg, sizeof msg);
    snprintf(what, sizeof what, "fit %d", i);
    CHECK(st[i] == as, "%s: status %d in the batch, %d alone", what, (int)st[i], (int)as);
    if (as) {
      CHECK(i == 1 || i == 2, "%s failed alone: %s", what, msg);
      CHECK(!models[i], "%s: a model for a failed fit", what);
      const char *e = gmmc_fit_many_error(ctx, i);
      CHECK(e && strcmp(e, msg) == 0, "%s: message '%s' in the batch, '%s' alone", what, e ? e : "(none)", msg);
      printf("  %s fails as alone: %s\n", what, msg);
    } else if (a && models[i]) {
      failures += compare(models[i], a, fs[i].n, fs[i].max_iter, fs[i].cov, what);
    }
    CHECK(i != 2 || as == GMMC_ERR_NUMERIC, "the singular fit's status is %d", (int)as);
    gmmc_model_destroy(a);
    gmmc_model_destroy(models[i]);
  }
  for (int i = 0; i < F; i++) unmake(&made[i]);
}

/* Progress callbacks: (init, iter, lower bound, change) as delivered. */
typedef struct {
  int n;
  double v[4096][4];
} Calls;

static void on_progress(void *user, int init, int iter, double lb, double change, double seconds) {
  Calls *c = user;
  (void)seconds;
  if (c->n < 4096) c->v[c->n][0] = init, c->v[c->n][1] = iter, c->v[c->n][2] = lb, c->v[c->n][3] = change;
  c->n++;
}

/* n_init's initialisations side by side report their progress in order, as one after another. */
static void test_progress(gmmc_context *ctx, uint64_t seed) {
  printf("progress in initialisation order\n");
  static const FitSpec f = {300, 3, "full", 0, 100, 0, 4, GMMC_INIT_RANDOM};
  Made m;
  make(ctx, seed, &f, 200, &m);
  static Calls side, serial;
  side.n = serial.n = 0;
  gmmc_fit_options_set_progress(m.o, on_progress, &side);
  gmmc_model *a = NULL, *b = NULL;
  setenv("GMMC_FIT_MANY", "1", 1);
  CHECK(gmmc_fit(ctx, m.d, m.o, &a) == GMMC_OK, "side by side: %s", gmmc_last_error(ctx));
  unsetenv("GMMC_FIT_MANY");
  gmmc_fit_options_set_progress(m.o, on_progress, &serial);
  gmmc_status as;
  char msg[512];
  b = alone(ctx, &m, &as, msg, sizeof msg);
  CHECK(as == GMMC_OK, "one after another: %s", msg);
  CHECK(side.n == serial.n && side.n > 4, "%d progress calls side by side, %d one after another", side.n, serial.n);
  int differ = -1;
  for (int i = 0; i < side.n && i < serial.n && i < 4096 && differ < 0; i++)
    if (memcmp(side.v[i], serial.v[i], sizeof side.v[i])) differ = i;
  CHECK(differ < 0, "progress call %d: init %g iter %g against init %g iter %g", differ, side.v[differ][0],
        side.v[differ][1], serial.v[differ][0], serial.v[differ][1]);
  printf("  %d progress calls, in the same order and values\n", side.n);
  gmmc_model_destroy(a);
  gmmc_model_destroy(b);
  unmake(&m);
}

/* n_init side by side against one after another. */
static void test_n_init(gmmc_context *ctx, uint64_t seed) {
  printf("n_init\n");
  static const FitSpec f = {400, 4, "full", 0, 100, 0, 5, GMMC_INIT_RANDOM_FROM_DATA};
  for (int chunked = 0; chunked < 2; chunked++)
    for (int w = 0; w < 2; w++) {
      FitSpec g = f;
      g.weighted = w;
      Made m;
      make(ctx, seed, &g, 100 + w, &m);
      if (chunked) gmmc_fit_options_set_chunk_events(m.o, 96);
      gmmc_model *side = NULL;
      setenv("GMMC_FIT_MANY", "1", 1); /* side by side on the host too */
      gmmc_status s = gmmc_fit(ctx, m.d, m.o, &side);
      unsetenv("GMMC_FIT_MANY");
      CHECK(s == GMMC_OK, "n_init side by side: %s", gmmc_last_error(ctx));
      gmmc_status as;
      char msg[512], what[96];
      gmmc_model *a = alone(ctx, &m, &as, msg, sizeof msg);
      CHECK(as == GMMC_OK, "n_init one after another: %s", msg);
      snprintf(what, sizeof what, "n_init 5%s%s", w ? ", weighted" : "", chunked ? ", chunks of 96" : "");
      if (side && a) {
        failures += compare(side, a, g.n, g.max_iter, g.cov, what);
        CHECK(on_gpu || gmmc_model_lower_bound(side) == gmmc_model_lower_bound(a), "%s: lower_bound", what);
      }
      gmmc_model_destroy(side);
      gmmc_model_destroy(a);
      unmake(&m);
    }
}

static void test_arguments(gmmc_context *ctx, uint64_t seed) {
  printf("arguments\n");
  Made m;
  make(ctx, seed, &batch[0], 0, &m);
  const gmmc_data *data[2] = {m.d, m.d}, *data_null[2] = {m.d, NULL};
  const gmmc_fit_options *opts[2] = {m.o, m.o}, *opts_null[2] = {NULL, m.o};
  gmmc_model *models[2] = {(gmmc_model *)1, (gmmc_model *)1};
  gmmc_status st[2] = {GMMC_OK, GMMC_OK};
  CHECK(gmmc_fit_many(NULL, 2, data, opts, models, st) == GMMC_ERR_INVALID_ARGUMENT, "NULL context");
  CHECK(gmmc_fit_many(ctx, 0, data, opts, models, st) == GMMC_ERR_INVALID_ARGUMENT &&
            strstr(gmmc_last_error(ctx), "count is 0"),
        "count 0: %s", gmmc_last_error(ctx));
  CHECK(gmmc_fit_many(ctx, -3, data, opts, models, st) == GMMC_ERR_INVALID_ARGUMENT, "count -3");
  CHECK(gmmc_fit_many(ctx, 2, NULL, opts, models, st) == GMMC_ERR_INVALID_ARGUMENT, "NULL data");
  CHECK(gmmc_fit_many(ctx, 2, data, NULL, models, st) == GMMC_ERR_INVALID_ARGUMENT, "NULL options");
  CHECK(gmmc_fit_many(ctx, 2, data, opts, NULL, st) == GMMC_ERR_INVALID_ARGUMENT, "NULL models");
  CHECK(gmmc_fit_many(ctx, 2, data, opts, models, NULL) == GMMC_ERR_INVALID_ARGUMENT && !models[0] && !models[1],
        "NULL statuses");
  models[0] = models[1] = (gmmc_model *)1;
  CHECK(gmmc_fit_many(ctx, 2, data_null, opts, models, st) == GMMC_ERR_INVALID_ARGUMENT &&
            strstr(gmmc_last_error(ctx), "fit 1: a NULL data") && st[0] == GMMC_ERR_INVALID_ARGUMENT &&
            st[1] == GMMC_ERR_INVALID_ARGUMENT && !models[0] && !models[1],
        "a NULL data: %s", gmmc_last_error(ctx));
  CHECK(gmmc_fit_many(ctx, 2, data, opts_null, models, st) == GMMC_ERR_INVALID_ARGUMENT &&
            strstr(gmmc_last_error(ctx), "fit 0: a NULL options"),
        "NULL options element: %s", gmmc_last_error(ctx));
  CHECK(gmmc_fit_many_error(ctx, 0) == NULL, "a message after refused arguments");
  /* a refused option setting fails that fit alone, with the setter's message */
  gmmc_fit_options *bad;
  gmmc_fit_options_create(&bad);
  CHECK(gmmc_fit_options_set_tol(bad, -1) != GMMC_OK, "tol -1 accepted");
  const gmmc_fit_options *opts_bad[2] = {m.o, bad};
  CHECK(gmmc_fit_many(ctx, 2, data, opts_bad, models, st) == GMMC_ERR_INVALID_ARGUMENT && st[0] == GMMC_OK &&
            st[1] == GMMC_ERR_INVALID_ARGUMENT && models[0] && !models[1] && gmmc_fit_many_error(ctx, 1) &&
            strstr(gmmc_fit_many_error(ctx, 1), "tol"),
        "a refused setting: %s", gmmc_last_error(ctx));
  gmmc_model_destroy(models[0]);
  gmmc_fit_options_destroy(bad);
  unmake(&m);
}

int main(void) {
  uint64_t seed = tc_seed();
  printf("test_fit_many: seed %llu (GMMC_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
         (unsigned long long)seed);
  on_gpu = test_backend() == GMMC_BACKEND_CUDA;
  gmmc_context *ctx;
  int exit_code = test_context("test_fit_many", test_backend(), &ctx);
  if (exit_code) return exit_code;
  printf("on %s\n", gmmc_context_device(ctx));
  test_batch(ctx, seed);
  test_failures(ctx, seed);
  test_n_init(ctx, seed);
  test_progress(ctx, seed);
  test_arguments(ctx, seed);
  gmmc_context_destroy(ctx);
  if (failures) printf("test_fit_many: %d failures (seed %llu)\n", failures, (unsigned long long)seed);
  return failures ? 1 : 0;
}
