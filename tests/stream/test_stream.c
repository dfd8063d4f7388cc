/* Streaming (out-of-core) EM against the in-memory run: for every shipped
 * spec, float64 and float32, each initialisation, a fit whose events go
 * through the kernels 1000 at a time (every sequence phase by phase,
 * responsibilities recomputed for the covariance statistics, stat buffers
 * summed across chunks in float64) against the fit that holds all events at
 * once; inference (score_samples, predict, score) in chunks against one
 * piece. Host backend, on the CPU GMMC_HOST_CPU names (skipped, exit 77,
 * where this machine cannot run that level); fresh data, the seed printed
 * (GMMC_TEST_SEED=N replays it).
 *
 * What may differ is docs/limits.md's promise ("Reproducibility"), and the
 * tolerances follow from it:
 * - per-event values are equal bit for bit on one CPU level, whatever the
 *   chunks and threads: score_samples and predict exactly; the score (a
 *   float64 mean) within the bound below for a sum of the n values;
 * - a fit's sums over the n events are float64 sums taken in another order:
 *   for any two orders |S1 - S2| <= 2 (n-1) u sum|t_i|, u = 2^-53 (Higham,
 *   Accuracy and Stability of Numerical Algorithms, 4.2). The parameters
 *   are quotients and Cholesky factors of such sums: a relative perturbation
 *   of a covariance reaches its factor, and so the next E-step, amplified by
 *   at most its condition number kappa; T iterations add T such steps:
 *     float64: T * 2 (n-1) u * kappa
 *   for the lower bounds and the parameters (relative to each array's
 *   largest value), kappa the largest condition number of the in-memory
 *   fit's covariances (diag, spherical: the ratio of the extreme variances).
 *   float32 kernels read the float64 parameters rounded to float32, and a
 *   parameter that differs at all may round to the neighbouring float32:
 *     float32: T * 2 (2^-24 + (n-1) u) * kappa.
 *   k-means' hard assignments are the exception no bound covers: an event
 *   within that distance of a tie may change sides (never seen). */
#include "host_cpu_skip.h"
#include "stream/fit_compare.h"

static const double U64 = 0x1p-53, U32 = 0x1p-24;

enum { MAX_ITER = 8 };
static int failures;

static gmmc_model *fit(gmmc_context *ctx, gmmc_data *d, const char *cov, gmmc_init init, int m, int64_t chunk) {
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, m);
  gmmc_fit_options_set_covariance_type(o, cov);
  gmmc_fit_options_set_init(o, init);
  gmmc_fit_options_set_seed(o, 7);
  gmmc_fit_options_set_tol(o, 0);
  gmmc_fit_options_set_max_iter(o, MAX_ITER);
  gmmc_fit_options_set_chunk_events(o, chunk);
  gmmc_model *model = NULL;
  if (gmmc_fit(ctx, d, o, &model)) {
    printf("  FAIL fit %s (chunk %lld): %s\n", cov, (long long)chunk, gmmc_last_error(ctx));
    failures++;
  }
  gmmc_fit_options_destroy(o);
  return model;
}

static void inference(gmmc_context *ctx, const gmmc_model *model, gmmc_data *d, int64_t n, const char *what) {
  double *a = malloc(sizeof(double) * (size_t)n), *b = malloc(sizeof(double) * (size_t)n);
  int32_t *la = malloc(sizeof(int32_t) * (size_t)n), *lb = malloc(sizeof(int32_t) * (size_t)n);
  double sa = 0, sb = 0;
  unsetenv("GMMC_CHUNK_EVENTS");
  int err =
      gmmc_score_samples(ctx, model, d, a, n) || gmmc_predict(ctx, model, d, la, n) || gmmc_score(ctx, model, d, &sa);
  setenv("GMMC_CHUNK_EVENTS", "1000", 1);
  err = err || gmmc_score_samples(ctx, model, d, b, n) || gmmc_predict(ctx, model, d, lb, n) ||
        gmmc_score(ctx, model, d, &sb);
  unsetenv("GMMC_CHUNK_EVENTS");
  if (err) {
    printf("  FAIL %s inference: %s\n", what, gmmc_last_error(ctx));
    failures++;
  } else {
    int64_t diff = 0;
    double mag = 0;
    for (int64_t i = 0; i < n; i++) {
      diff += a[i] != b[i] || la[i] != lb[i];
      mag += fabs(a[i]);
    }
    /* the score is the mean of the a[i]: the same n values summed in two orders */
    double tol = 2 * (double)(n - 1) * U64 * mag / (double)n;
    int bad = diff > 0 || fabs(sa - sb) > tol;
    printf("  %-48s per-event values equal: %s, score %.17g / %.17g%s\n", what, diff ? "no" : "yes", sa, sb,
           bad ? "  <-- FAIL" : "");
    failures += bad;
  }
  free(a);
  free(b);
  free(la);
  free(lb);
}

/* The host's sums over events are split by event count, never by thread:
 * the in-memory fit on one thread equals the fit on all of them bit for bit. */
static void one_thread(gmmc_context *ctx, gmmc_data *d, const char *cov, int m, const gmmc_model *all,
                       const char *what) {
  if (gmmc_context_set_threads(ctx, 1)) {
    printf("  FAIL set_threads: %s\n", gmmc_last_error(ctx));
    failures++;
    return;
  }
  gmmc_model *one = fit(ctx, d, cov, GMMC_INIT_KMEANS, m, 0);
  char label[160];
  snprintf(label, sizeof label, "%s, 1 thread", what);
  if (one) failures += tc_compare(all, one, 0, 0, label) != 0;
  gmmc_model_destroy(one);
  gmmc_context_set_threads(ctx, 0);
}

int main(void) {
  uint64_t seed = tc_seed();
  printf("test_stream: seed %llu (GMMC_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
         (unsigned long long)seed);
  unsetenv("GMMC_CHUNK_EVENTS");
  gmmc_context *ctx;
  int exit_code = test_context("test_stream", GMMC_BACKEND_HOST, &ctx);
  if (exit_code) return exit_code;
  printf("on %s\n", gmmc_context_device(ctx));
  static const struct {
    int64_t n;
    int d, m;
  } sets[] = {{10000, 3, 3}, {40000, 5, 4}};
  static const char *const specs[] = {"full", "diag", "spherical", "tied", "kmeans"};
  static const struct {
    gmmc_init init;
    const char *name;
  } inits[] = {{GMMC_INIT_KMEANS, "kmeans"},
               {GMMC_INIT_KMEANS_PLUSPLUS, "k-means++"},
               {GMMC_INIT_RANDOM, "random"},
               {GMMC_INIT_RANDOM_FROM_DATA, "random_from_data"}};
  for (size_t si = 0; si < sizeof sets / sizeof *sets; si++) {
    int64_t n = sets[si].n;
    int d = sets[si].d, m = sets[si].m;
    double *x = malloc(sizeof(double) * (size_t)(n * d));
    float *xf = malloc(sizeof(float) * (size_t)(n * d));
    tc_mixture(seed + si, n, d, m, x);
    for (int64_t i = 0; i < n * d; i++) xf[i] = (float)x[i];
    for (int f32 = 0; f32 < 2; f32++) {
      gmmc_data *data;
      gmmc_data_wrap(ctx, f32 ? (const void *)xf : x, f32 ? GMMC_FLOAT32 : GMMC_FLOAT64, n, d, &data);
      printf("%lld events x %d, %d components, %s:\n", (long long)n, d, m, f32 ? "float32" : "float64");
      for (size_t sp = 0; sp < sizeof specs / sizeof *specs; sp++)
        for (size_t in = 0; in < sizeof inits / sizeof *inits; in++) {
          /* every init on the first set; the default one on the larger */
          if (si > 0 && in > 0) continue;
          char what[128];
          snprintf(what, sizeof what, "%s, init %s", specs[sp], inits[in].name);
          gmmc_model *a = fit(ctx, data, specs[sp], inits[in].init, m, 0);
          gmmc_model *b = fit(ctx, data, specs[sp], inits[in].init, m, 1000);
          if (a && b) {
            double kappa = tc_condition(a, specs[sp]), step = (f32 ? U32 : 0) + (double)(n - 1) * U64;
            double tol = MAX_ITER * 2 * step * kappa;
            failures += tc_compare(a, b, tol, tol, what) != 0;
          }
          if (a && in == 0 && strcmp(specs[sp], "kmeans") != 0) inference(ctx, a, data, n, what);
          if (a && in == 0) one_thread(ctx, data, specs[sp], m, a, what);
          gmmc_model_destroy(a);
          gmmc_model_destroy(b);
        }
      gmmc_data_destroy(data);
    }
    free(x);
    free(xf);
  }
  gmmc_context_destroy(ctx);
  printf(failures ? "test_stream: %d FAILED\n" : "test_stream: all passed\n", failures);
  return failures != 0;
}
