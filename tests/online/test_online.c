/* Partial fit (gmmc_online_*, stepwise EM) through the C API, on the host
 * backend (float64):
 *
 * - stream: batches of 500 events of a stream, three passes in shuffled
 *   orders; the held-out score of the final model is within 1e-2 per event
 *   of the batch fit's (full, diag, spherical). Both start from the k-means
 *   initialisation on the first batch (seed 153929536 showed why: from
 *   their own starts, each may end on another local optimum, better or
 *   worse, 0.06 to 0.1 apart); the first batch's own initialisation is
 *   checked by "errors" and tests/python/test_partial_fit.py;
 * - exact: from the same starting parameters, one step over all the
 *   batches of a pass (batches_per_step = the batches) gives what one
 *   batch EM iteration gives when it streams the events in chunks of the
 *   batch size. The statistics of the first reduce point are the same sums
 *   added in the same order (the batches' float64 sums, then the sums of
 *   the batches one by one, as the stream adds its chunks), divided by the
 *   same totals: the weights, means and lower bound agree bit for bit (0
 *   ulp), and every parameter of a spec whose statistics all meet at one
 *   reduce point (poisson). The covariances of the Gaussian specs are
 *   reduced around the new means, which no single pass knows: not
 *   compared.
 * - mixed: weights of 1 on every other batch (two programs whose buffer
 *   ids may differ) give the model of no weights, bit for bit;
 * - errors: a batch of other columns or dtype, a starting model of other
 *   components, bad weights, bad schedules, a model asked before a step.
 *
 * Fresh data; the seed is printed (GMMC_TEST_SEED=N replays). */
#include "check.h"
#include "host_cpu_skip.h"
#include "stream/fit_compare.h"

enum { D = 3, M = 3, N = 20000, NTEST = 5000, BATCH = 500 };

static gmmc_fit_options *options(const char *cov) {
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, M);
  gmmc_fit_options_set_covariance_type(o, cov);
  gmmc_fit_options_set_seed(o, 7);
  gmmc_fit_options_set_dtype(o, GMMC_FLOAT64);
  return o;
}

static double score(gmmc_context *ctx, const gmmc_model *m, const double *x, int64_t n) {
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, D, &d);
  double s = NAN;
  if (gmmc_score(ctx, m, d, &s)) printf("  FAIL score: %s\n", gmmc_last_error(ctx)), failures++;
  gmmc_data_destroy(d);
  return s;
}

static int partial(gmmc_context *ctx, gmmc_online *h, const double *x, int64_t n, int cols) {
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, cols, &d);
  int s = gmmc_online_partial_fit(h, d, NULL, 0);
  gmmc_data_destroy(d);
  return s;
}

static void stream(gmmc_context *ctx, const double *x, const double *test, uint64_t seed, const char *cov) {
  enum { NB = N / BATCH };
  int order[NB];
  for (int i = 0; i < NB; i++) order[i] = i;
  uint64_t s = seed ^ 0xba7c;
  for (int i = NB - 1; i > 0; i--) {
    int j = (int)(tc_next(&s) % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  /* both start from the k-means initialisation on the first batch, so that
   * they climb the same hill: what is compared is the stochastic
   * approximation, not which local optimum an initialisation finds */
  gmmc_fit_options *o = options(cov);
  gmmc_fit_options_set_max_iter(o, 0);
  gmmc_data *d;
  gmmc_data_wrap(ctx, x + (int64_t)order[0] * BATCH * D, GMMC_FLOAT64, BATCH, D, &d);
  gmmc_model *start = NULL;
  CHECK(!gmmc_fit(ctx, d, o, &start), "start %s: %s", cov, gmmc_last_error(ctx));
  gmmc_data_destroy(d);
  gmmc_fit_options_set_max_iter(o, 100);
  gmmc_fit_options_set_warm_start(o, start);
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, N, D, &d);
  gmmc_model *batch = NULL;
  CHECK(!gmmc_fit(ctx, d, o, &batch), "batch fit %s: %s", cov, gmmc_last_error(ctx));
  gmmc_data_destroy(d);
  gmmc_online *h = NULL;
  CHECK(!gmmc_online_create(ctx, o, start, &h), "online create: %s", gmmc_last_error(ctx));
  gmmc_fit_options_destroy(o);
  gmmc_model_destroy(start);
  if (!batch || !h) {
    gmmc_model_destroy(batch);
    gmmc_online_destroy(h);
    return;
  }
  for (int pass = 0; pass < 3; pass++) {
    for (int i = NB - 1; i > 0 && pass > 0; i--) {
      int j = (int)(tc_next(&s) % (uint64_t)(i + 1)), t = order[i];
      order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < NB; i++)
      if (partial(ctx, h, x + (int64_t)order[i] * BATCH * D, BATCH, D)) {
        printf("  FAIL partial_fit %s pass %d batch %d: %s\n", cov, pass, i, gmmc_last_error(ctx));
        failures++;
        gmmc_online_destroy(h);
        gmmc_model_destroy(batch);
        return;
      }
  }
  CHECK(gmmc_online_steps(h) == 3 * NB, "%lld steps", (long long)gmmc_online_steps(h));
  gmmc_model *m = NULL;
  CHECK(!gmmc_online_model(h, &m), "online model: %s", gmmc_last_error(ctx));
  if (m) {
    double sb = score(ctx, batch, test, NTEST), so = score(ctx, m, test, NTEST);
    printf("  stream %-10s held-out score: batch fit %.6f, partial fit %.6f, difference %.2e (allowed 1e-2)\n", cov, sb,
           so, fabs(sb - so));
    CHECK(fabs(sb - so) <= 1e-2, "stream %s: held-out score %.6f against the batch fit's %.6f", cov, so, sb);
    CHECK(gmmc_model_n_iter(m) == 3 * NB, "n_iter %d", gmmc_model_n_iter(m));
    CHECK(isfinite(gmmc_model_lower_bound(m)), "lower bound %g", gmmc_model_lower_bound(m));
  }
  gmmc_model_destroy(m);
  gmmc_model_destroy(batch);
  gmmc_online_destroy(h);
}

/* Parameters a and b bit for bit, for the names given (NULL: all). */
static void same_bits(const gmmc_model *a, const gmmc_model *b, const char *const *names, const char *what) {
  int np;
  const char *const *all = gmmc_model_param_names(a, &np);
  int bad = 0, compared = 0;
  for (int p = 0; p < np; p++) {
    int take = !names;
    for (int k = 0; names && names[k]; k++) take |= strcmp(names[k], all[p]) == 0;
    if (!take) continue;
    int ra, rb;
    const int64_t *sa, *sb;
    const double *va = gmmc_model_param(a, all[p], &ra, &sa), *vb = gmmc_model_param(b, all[p], &rb, &sb);
    if (!vb) {
      bad++;
      continue;
    }
    int64_t n = 1;
    for (int k = 0; k < ra; k++) n *= sa[k];
    for (int64_t i = 0; i < n; i++, compared++)
      if (memcmp(&va[i], &vb[i], sizeof(double)) && bad++ < 4)
        printf("  FAIL %s: %s[%lld] = %.17g against %.17g\n", what, all[p], (long long)i, va[i], vb[i]);
  }
  double la = gmmc_model_lower_bound(a), lb = gmmc_model_lower_bound(b);
  if (memcmp(&la, &lb, sizeof la)) printf("  FAIL %s: lower bound %.17g against %.17g\n", what, la, lb), bad++;
  printf("  exact %-24s %d values and the lower bound bit for bit%s\n", what, compared, bad ? "  <-- FAIL" : "");
  failures += bad;
}

/* One step over all the batches of a pass against one EM iteration
 * streamed in chunks of the batch size, from the same parameters. */
static void exact(gmmc_context *ctx, const double *x, int64_t n, const char *cov, const char *const *names) {
  enum { B = 400 };
  gmmc_fit_options *o = options(cov);
  gmmc_fit_options_set_max_iter(o, 0); /* the initialisation alone */
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, D, &d);
  gmmc_model *start = NULL, *step = NULL, *online = NULL;
  CHECK(!gmmc_fit(ctx, d, o, &start), "start %s: %s", cov, gmmc_last_error(ctx));
  gmmc_fit_options_set_max_iter(o, 1);
  gmmc_fit_options_set_tol(o, 0);
  gmmc_fit_options_set_warm_start(o, start);
  gmmc_fit_options_set_chunk_events(o, B);
  CHECK(!gmmc_fit(ctx, d, o, &step), "one step %s: %s", cov, gmmc_last_error(ctx));
  gmmc_online *h = NULL;
  CHECK(!gmmc_online_create(ctx, o, start, &h), "online %s: %s", cov, gmmc_last_error(ctx));
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d);
  if (h) {
    CHECK(!gmmc_online_set_step_size(h, 1.0), "step size: %s", gmmc_last_error(ctx));
    CHECK(!gmmc_online_set_batches_per_step(h, n / B), "batches per step: %s", gmmc_last_error(ctx));
    for (int64_t b = 0; b < n / B; b++) {
      CHECK(gmmc_online_steps(h) == 0, "a step before the pass ended (batch %lld)", (long long)b);
      if (partial(ctx, h, x + b * B * D, B, D))
        printf("  FAIL batch %lld: %s\n", (long long)b, gmmc_last_error(ctx)), failures++;
    }
    CHECK(gmmc_online_steps(h) == 1, "%lld steps after one pass", (long long)gmmc_online_steps(h));
    CHECK(!gmmc_online_model(h, &online), "online model: %s", gmmc_last_error(ctx));
  }
  if (step && online) same_bits(step, online, names, cov);
  gmmc_online_destroy(h);
  gmmc_model_destroy(start);
  gmmc_model_destroy(step);
  gmmc_model_destroy(online);
}

/* Batches with weights and without run two programs (the weights' buffer
 * is specialized away without them) whose buffer ids may differ: weights
 * of 1 on every other batch must give the model of no weights at all, bit
 * for bit (a weight of 1 multiplies exactly and the sums add in the same
 * order, as tests/weights checks for gmmc_fit). */
static void mixed(gmmc_context *ctx, const double *x) {
  enum { B = 300, NB = 12 };
  double ones[B];
  for (int i = 0; i < B; i++) ones[i] = 1;
  gmmc_model *m[2] = {NULL, NULL};
  for (int run = 0; run < 2; run++) {
    gmmc_fit_options *o = options("full");
    gmmc_online *h = NULL;
    CHECK(!gmmc_online_create(ctx, o, NULL, &h), "create: %s", gmmc_last_error(ctx));
    gmmc_fit_options_destroy(o);
    for (int b = 0; b < NB && h; b++) {
      gmmc_data *d;
      gmmc_data_wrap(ctx, x + (int64_t)b * B * D, GMMC_FLOAT64, B, D, &d);
      int weighted = run == 1 && b % 2 == 1;
      CHECK(!gmmc_online_partial_fit(h, d, weighted ? ones : NULL, weighted ? B : 0), "batch %d: %s", b,
            gmmc_last_error(ctx));
      gmmc_data_destroy(d);
    }
    if (h) CHECK(!gmmc_online_model(h, &m[run]), "model: %s", gmmc_last_error(ctx));
    gmmc_online_destroy(h);
  }
  if (m[0] && m[1]) same_bits(m[0], m[1], NULL, "weights of 1 on every other batch");
  gmmc_model_destroy(m[0]);
  gmmc_model_destroy(m[1]);
}

static void expect_error(gmmc_context *ctx, int status, const char *needle, const char *what) {
  const char *msg = gmmc_last_error(ctx);
  CHECK(status == GMMC_ERR_INVALID_ARGUMENT || status == GMMC_ERR_DATA, "%s: status %d", what, status);
  CHECK(strstr(msg, needle) != NULL, "%s: the message '%s' does not say '%s'", what, msg, needle);
  if (status) printf("  refused %-34s %s\n", what, msg);
}

static void errors(gmmc_context *ctx, const double *x) {
  gmmc_fit_options *o = options("diag");
  gmmc_online *h = NULL;
  gmmc_model *m = NULL;
  CHECK(!gmmc_online_create(ctx, o, NULL, &h), "create: %s", gmmc_last_error(ctx));
  expect_error(ctx, gmmc_online_model(h, &m), "no step made yet", "a model before any step");
  expect_error(ctx, gmmc_online_set_schedule(h, 1.5, 2), "alpha", "alpha 1.5");
  expect_error(ctx, gmmc_online_set_schedule(h, 0.6, -1), "t0", "t0 -1");
  expect_error(ctx, gmmc_online_set_step_size(h, 2), "step size", "step size 2");
  expect_error(ctx, gmmc_online_set_batches_per_step(h, 0), "batches per step", "0 batches per step");
  expect_error(ctx, partial(ctx, h, x, 2, D), "n_components = 3, n_samples = 2", "a first batch of 2 events");
  CHECK(!partial(ctx, h, x, 100, D), "first batch: %s", gmmc_last_error(ctx));
  expect_error(ctx, partial(ctx, h, x, 100, 2), "2 features but the model has 3", "a batch of 2 columns");
  float xf[300];
  for (int i = 0; i < 300; i++) xf[i] = (float)x[i];
  gmmc_data *d;
  gmmc_data_wrap(ctx, xf, GMMC_FLOAT32, 100, D, &d);
  expect_error(ctx, gmmc_online_partial_fit(h, d, NULL, 0), "float32 but the first batch was float64",
               "a float32 batch after float64");
  gmmc_data_destroy(d);
  double w[100];
  for (int i = 0; i < 100; i++) w[i] = 1;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, 100, D, &d);
  expect_error(ctx, gmmc_online_partial_fit(h, d, w, 99), "99 values but the batch has 100 rows", "99 weights");
  w[5] = -1;
  expect_error(ctx, gmmc_online_partial_fit(h, d, w, 100), "sample_weight[5]", "a negative weight");
  w[5] = NAN;
  expect_error(ctx, gmmc_online_partial_fit(h, d, w, 100), "sample_weight[5]", "a NaN weight");
  for (int i = 0; i < 100; i++) w[i] = 0;
  expect_error(ctx, gmmc_online_partial_fit(h, d, w, 100), "all 0", "weights all 0");
  double xn[300];
  memcpy(xn, x, sizeof xn);
  xn[7] = INFINITY;
  gmmc_data *dn;
  gmmc_data_wrap(ctx, xn, GMMC_FLOAT64, 100, D, &dn);
  expect_error(ctx, gmmc_online_partial_fit(h, dn, NULL, 0), "row 3, column 2", "an infinite value");
  gmmc_data_destroy(dn);
  CHECK(gmmc_online_steps(h) == 1, "the refusals made steps: %lld", (long long)gmmc_online_steps(h));
  /* weighted batches still step */
  for (int i = 0; i < 100; i++) w[i] = 1 + (i % 3);
  CHECK(!gmmc_online_partial_fit(h, d, w, 100), "a weighted batch: %s", gmmc_last_error(ctx));
  CHECK(gmmc_online_steps(h) == 2, "%lld steps", (long long)gmmc_online_steps(h));
  CHECK(!gmmc_online_model(h, &m), "model: %s", gmmc_last_error(ctx));
  gmmc_data_destroy(d);
  gmmc_online_destroy(h);
  /* a starting model of other components */
  gmmc_fit_options_set_n_components(o, 2);
  h = NULL;
  if (m)
    expect_error(ctx, gmmc_online_create(ctx, o, m, &h), "3 components but the options ask for 2",
                 "a start of 3 components for 2");
  CHECK(h == NULL, "a handle was made");
  gmmc_model_destroy(m);
  gmmc_fit_options_destroy(o);
}

int main(void) {
  (void)tc_compare; /* fit_compare.h's, unused here */
  uint64_t seed = tc_seed();
  printf("test_online: seed %llu (GMMC_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
         (unsigned long long)seed);
  gmmc_context *ctx = NULL;
  int exit_code = test_context("test_online", GMMC_BACKEND_HOST, &ctx);
  if (exit_code) return exit_code;
  double *x = malloc(sizeof(double) * (size_t)(N + NTEST) * D);
  tc_mixture(seed, N + NTEST, D, M, x); /* the last NTEST events: held out */
  const char *const first[] = {"weights", "means", NULL};
  exact(ctx, x, 2000, "diag", first);
  exact(ctx, x, 2000, "full", first);
  /* counts for the Poisson mixture: one reduce point, every parameter */
  double *counts = malloc(sizeof(double) * 2000 * D);
  uint64_t s = seed ^ 0xc0c0;
  for (int i = 0; i < 2000 * D; i++) {
    double rate = 1 + 4 * ((i / D) % 3) + (i % D), p = exp(-rate), c = 0, u = tc_uniform(&s), f = p;
    while (u > f && c < 60) c++, p *= rate / c, f += p;
    counts[i] = c;
  }
  exact(ctx, counts, 2000, "poisson", NULL);
  free(counts);
  for (int c = 0; c < 3; c++)
    stream(ctx, x, x + (int64_t)N * D, seed, (const char *[]){"full", "diag", "spherical"}[c]);
  mixed(ctx, x);
  errors(ctx, x);
  free(x);
  gmmc_context_destroy(ctx);
  if (failures) printf("test_online: %d failures (seed %llu)\n", failures, (unsigned long long)seed);
  return failures ? 1 : 0;
}
