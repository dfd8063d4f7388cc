/* Sample weights through the C API, on the host backend (float64):
 *
 * - repeat: integer weights give the model of the rows repeated that many
 *   times (a row of weight 0 left out), for every covariance type, with
 *   the k-means and k-means++ initialisations (whose draws are weighted so
 *   that they pick what the repeated rows would) and user-given means;
 * - ones: weights of 1 give the unweighted model bit for bit, every
 *   covariance type and initialisation, float64 and float32;
 * - zero: rows of weight 0 do not count: changing their values changes no
 *   bit of the model, for every initialisation (random_from_data never
 *   draws them);
 * - errors: NaN, infinite, negative and all-zero weights are refused by
 *   the setter with the index named, and so is the fit afterwards (one error
 *   channel); a count that is not the row count, fewer positive weights than
 *   components and a spec without optional data fail the fit.
 *
 * With GMMC_TEST_BACKEND=cuda (tests/gpu/run.sh, tests/gpu ctest
 * weights_gpu) the repeat check and the refusals run on the GPU in float64
 * (skipped, exit 77, without one): the GPU's variants add in other orders,
 * which the repeat tolerance covers (any two orders), so the bit-for-bit
 * checks stay on the host.
 *
 * Fresh data and weights; the seed is printed (GMMC_TEST_SEED=N replays).
 * Tolerance of "repeat": a repeated row adds w copies of its terms one by
 * one where the weighted fit adds w * term once, so the float64 sums over
 * the events differ by at most 2 (n-1) u sum|t| (n the repeated rows,
 * u = 2^-53; Higham 4.2), and T iterations amplify a relative perturbation
 * of the covariances by at most their condition number kappa each:
 * T * 2 (n-1) u * kappa, as tests/stream/test_stream.c derives. The k-means
 * initialisation's 300 Lloyd iterations at most add their own T; an event
 * within rounding of a tie could change sides (never seen). */
#include "check.h"
#include "host_cpu_skip.h"
#include "stream/fit_compare.h"

static const double U64 = 0x1p-53;
enum { N = 240, D = 3, M = 3, MAX_ITER = 10 };
static int on_gpu;

static const char *const covs[] = {"full", "diag", "spherical", "tied", "kmeans"};
static const char *const init_names[] = {"kmeans", "k-means++", "random", "random_from_data"};

static gmmc_fit_options *options(const char *cov, gmmc_init init, const double *w, size_t nw) {
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, M);
  gmmc_fit_options_set_covariance_type(o, cov);
  gmmc_fit_options_set_init(o, init);
  gmmc_fit_options_set_seed(o, 11);
  gmmc_fit_options_set_tol(o, 0);
  gmmc_fit_options_set_max_iter(o, MAX_ITER);
  if (on_gpu) gmmc_fit_options_set_dtype(o, GMMC_FLOAT64);
  if (w && gmmc_fit_options_set_sample_weight(o, w, nw))
    printf("  FAIL setting weights: %s\n", gmmc_fit_options_error(o)), failures++;
  return o;
}

static gmmc_model *fit(gmmc_context *ctx, const void *x, gmmc_dtype dt, int64_t n, gmmc_fit_options *o,
                       const char *what) {
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, dt, n, D, &d);
  gmmc_model *model = NULL;
  if (gmmc_fit(ctx, d, o, &model)) printf("  FAIL fit %s: %s\n", what, gmmc_last_error(ctx)), failures++;
  gmmc_data_destroy(d);
  gmmc_fit_options_destroy(o);
  return model;
}

/* Integer weights against the rows repeated, adjacent (numpy.repeat). */
static void repeat(gmmc_context *ctx, const double *x, const double *w) {
  int64_t nr = 0;
  for (int i = 0; i < N; i++) nr += (int64_t)w[i];
  double *xr = malloc(sizeof(double) * (size_t)(nr * D));
  int64_t at = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < (int)w[i]; k++, at++) memcpy(xr + at * D, x + i * D, sizeof(double) * D);
  for (int c = 0; c < 5; c++)
    for (int init = GMMC_INIT_KMEANS; init <= GMMC_INIT_KMEANS_PLUSPLUS; init++) {
      char what[96];
      snprintf(what, sizeof what, "repeat %s, %s", covs[c], init_names[init]);
      gmmc_model *a = fit(ctx, x, GMMC_FLOAT64, N, options(covs[c], init, w, N), what);
      gmmc_model *b = fit(ctx, xr, GMMC_FLOAT64, nr, options(covs[c], init, NULL, 0), what);
      if (a && b) {
        double kappa = tc_condition(b, covs[c]);
        /* the k-means initialisation's Lloyd iterations (at most 300) come first */
        int iters = MAX_ITER + (init == GMMC_INIT_KMEANS || c == 4 ? 300 : 0);
        double tol = iters * 2.0 * (double)(nr - 1) * U64 * kappa;
        failures += tc_compare(a, b, tol, tol, what);
      }
      gmmc_model_destroy(a);
      gmmc_model_destroy(b);
    }
  free(xr);
}

/* Weights of 1 against none: the same bits. */
static void ones(gmmc_context *ctx, const double *x) {
  double w[N];
  float xf[N * D];
  for (int i = 0; i < N; i++) w[i] = 1;
  for (int i = 0; i < N * D; i++) xf[i] = (float)x[i];
  for (int f32 = 0; f32 < 2; f32++)
    for (int c = 0; c < 5; c++)
      for (int init = 0; init < 4; init++) {
        char what[96];
        snprintf(what, sizeof what, "ones %s, %s, %s", covs[c], init_names[init], f32 ? "float32" : "float64");
        const void *data = f32 ? (const void *)xf : (const void *)x;
        gmmc_dtype dt = f32 ? GMMC_FLOAT32 : GMMC_FLOAT64;
        gmmc_model *a = fit(ctx, data, dt, N, options(covs[c], init, w, N), what);
        gmmc_model *b = fit(ctx, data, dt, N, options(covs[c], init, NULL, 0), what);
        if (a && b) failures += tc_compare(a, b, 0, 0, what);
        gmmc_model_destroy(a);
        gmmc_model_destroy(b);
      }
}

/* Rows of weight 0 changed to wild values: not one bit of the model moves. */
static void zero(gmmc_context *ctx, const double *x, const double *w) {
  double *x2 = malloc(sizeof(double) * N * D);
  memcpy(x2, x, sizeof(double) * N * D);
  int zeros = 0;
  for (int i = 0; i < N; i++)
    if (w[i] == 0) {
      zeros++;
      for (int k = 0; k < D; k++) x2[i * D + k] = 1e6 * (k + 1);
    }
  CHECK(zeros > 0, "the weights hold no 0");
  for (int c = 0; c < 5; c++)
    for (int init = 0; init < 4; init++) {
      char what[96];
      snprintf(what, sizeof what, "zero %s, %s", covs[c], init_names[init]);
      gmmc_model *a = fit(ctx, x, GMMC_FLOAT64, N, options(covs[c], init, w, N), what);
      gmmc_model *b = fit(ctx, x2, GMMC_FLOAT64, N, options(covs[c], init, w, N), what);
      if (a && b) failures += tc_compare(a, b, 0, 0, what);
      gmmc_model_destroy(a);
      gmmc_model_destroy(b);
    }
  free(x2);
}

/* A setter's refusal names the value, and the fit then fails with it. */
static void refused(gmmc_context *ctx, gmmc_data *d, const double *bad, size_t n, const char *want) {
  gmmc_fit_options *o = options("full", GMMC_INIT_KMEANS, NULL, 0);
  gmmc_status s = gmmc_fit_options_set_sample_weight(o, bad, n);
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT, "weights (%s) accepted", want);
  CHECK(strstr(gmmc_fit_options_error(o), want), "setter message '%s' lacks '%s'", gmmc_fit_options_error(o), want);
  gmmc_model *m = NULL;
  s = gmmc_fit(ctx, d, o, &m);
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT && !m, "fit after refused weights (%s): status %d", want, (int)s);
  CHECK(strstr(gmmc_last_error(ctx), want), "fit message '%s' lacks '%s'", gmmc_last_error(ctx), want);
  /* cleared: the fit runs */
  CHECK(gmmc_fit_options_set_sample_weight(o, NULL, 0) == GMMC_OK, "clearing refused");
  s = gmmc_fit(ctx, d, o, &m);
  CHECK(s == GMMC_OK, "fit after clearing: %s", gmmc_last_error(ctx));
  gmmc_model_destroy(m);
  gmmc_fit_options_destroy(o);
}

static void fit_fails(gmmc_context *ctx, gmmc_data *d, gmmc_fit_options *o, const char *want) {
  gmmc_model *m = NULL;
  gmmc_status s = gmmc_fit(ctx, d, o, &m);
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT && !m, "fit should fail (%s): status %d", want, (int)s);
  CHECK(strstr(gmmc_last_error(ctx), want), "message '%s' lacks '%s'", gmmc_last_error(ctx), want);
  gmmc_model_destroy(m);
  gmmc_fit_options_destroy(o);
}

static const char no_weights_spec[] = "gmmc: 1\nmodel: km\nsizes: [N, M, D]\nindices: {n: N, m: M, d: D}\n"
                                      "data:\n  X: [N, D]\nparams:\n  centers: [M, D]\nestep:\n"
                                      "  - dist[n,m] = sum(d, sq(X[n,d] - centers[m,d]))\n"
                                      "  - label[n] = argmin(m, dist[n,m])\n"
                                      "  - neg = -sum(n, min(m, dist[n,m]))\noutputs:\n  objective: neg\n"
                                      "  predict: label\n";

static void errors(gmmc_context *ctx, const double *x) {
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, N, D, &d);
  double w[N];
  for (int i = 0; i < N; i++) w[i] = 1;
  w[17] = NAN;
  refused(ctx, d, w, N, "sample_weight[17] = nan: the weights must be finite");
  w[17] = INFINITY;
  refused(ctx, d, w, N, "sample_weight[17] = inf: the weights must be finite");
  w[17] = -0.5;
  refused(ctx, d, w, N, "sample_weight[17] = -0.5: the weights must be >= 0");
  for (int i = 0; i < N; i++) w[i] = 0;
  refused(ctx, d, w, N, "all 240 weights are 0");
  refused(ctx, d, NULL, 3, "NULL values with count 3");
  w[0] = w[1] = 1e308;
  refused(ctx, d, w, N, "add up to infinity");
  for (int i = 0; i < N; i++) w[i] = 1;
  fit_fails(ctx, d, options("full", GMMC_INIT_KMEANS, w, N - 1),
            "sample_weight has 239 values but the data has 240 rows");
  for (int i = 0; i < N; i++) w[i] = i < M - 1;
  fit_fails(ctx, d, options("full", GMMC_INIT_KMEANS, w, N),
            "expected at least n_components = 3 events of positive weight, got 2");
  for (int i = 0; i < N; i++) w[i] = 1;
  gmmc_fit_options *o = options("full", GMMC_INIT_KMEANS, w, N);
  gmmc_fit_options_set_spec(o, "km.yaml", no_weights_spec);
  fit_fails(ctx, d, o, "the spec km declares no optional data");
  gmmc_data_destroy(d);
}

int main(void) {
  uint64_t seed = tc_seed();
  printf("test_weights: seed %llu (GMMC_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
         (unsigned long long)seed);
  on_gpu = test_backend() == GMMC_BACKEND_CUDA;
  gmmc_context *ctx;
  int exit_code = test_context("test_weights", test_backend(), &ctx);
  if (exit_code) return exit_code;
  double *x = malloc(sizeof(double) * N * D), w[N];
  tc_mixture(seed, N, D, M, x);
  uint64_t s = seed ^ 0x5eed;
  for (int i = 0; i < N; i++) w[i] = (double)(tc_next(&s) % 4); /* 0 to 3: a quarter left out */
  printf("on %s\n", gmmc_context_device(ctx));
  repeat(ctx, x, w);
  if (!on_gpu) ones(ctx, x);
  if (!on_gpu) zero(ctx, x, w);
  errors(ctx, x);
  free(x);
  gmmc_context_destroy(ctx);
  if (failures) printf("test_weights: %d failures (seed %llu)\n", failures, (unsigned long long)seed);
  return failures ? 1 : 0;
}
