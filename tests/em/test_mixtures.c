/* The shipped mixtures of binary and count data (dsl/specs/bernoulli.yaml,
 * poisson.yaml, multinomial.yaml) against a float64 EM written here from
 * their formulas: usage `test_mixtures MODEL DIR`.
 *
 * Fresh random data every run (the seed is printed; GMMC_TEST_SEED=S replays
 * a run): M = 3 components, D = 6 features, N = 3000 events, drawn from a
 * random mixture of the model's own kind, saved as a .npy of integers or
 * booleans in DIR and read back with gmmc_data_load (the loader's integer
 * path and the spec's data type). Starting parameters are given to both
 * (gmmc_fit_options_set_init_param); the fit runs 40 iterations on the host
 * backend in float64 (tol = 0), and every iteration's lower bound and the
 * final parameters are compared.
 *
 * Tolerance. Both sides compute the same float64 formulas; they differ by
 * the order of summation (gmmc sums the events in blocks and threads) and by
 * the element functions (gmmc's log, exp, log1p, lgamma within 4 ulp, libm's
 * within 1). One lower bound is a mean of N terms, each of D + M products
 * and function values of magnitude up to about 100 here, so one evaluation
 * differs by at most about (D + M) * 4 u * 100 ~ 1e-12 relative (u = 2^-53).
 * EM carries a difference in the parameters into the next iteration scaled
 * by its Jacobian, whose spectral radius is below 1 near the fixed point but
 * can exceed it early; over 40 iterations we allow a growth of 1e2 and ask
 * for 1e-10 relative on every lower bound and 1e-9 (relative to the largest
 * value of the parameter) on the final parameters. The data are drawn from
 * well separated components, so that the fit is far from a saddle where the
 * growth would be unbounded.
 *
 * GMMC_TEST_BACKEND=cuda fits on the GPU instead (tests/gpu/mixtures.sh),
 * in float64 with the same tolerances: skipped (exit 77) without a GPU, as
 * on the host at a GMMC_HOST_CPU level this machine cannot run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gmmc/gmmc.h"
#include "host_cpu_skip.h"

enum { M = 3, D = 6, N = 3000, ITERS = 40 };
/* POISSON_PRIOR: the Poisson mixture of tests/em/poisson_prior.yaml, whose
 * M-step reads a statistic of the data computed once (the mean count of
 * each feature): its rate is (sum r x + a mean) / (N_m + a), a = 2.5 */
typedef enum { BERNOULLI, POISSON, MULTINOMIAL, POISSON_PRIOR } Kind;
static const double STRENGTH = 2.5;
static double mean_x[6];

static uint64_t rng_state;
static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next_u64() >> 11) * 0x1p-53; }

static int poisson_draw(double rate) { /* Knuth's, for small rates */
  double l = exp(-rate), p = 1;
  int k = 0;
  do {
    k++;
    p *= uniform();
  } while (p > l);
  return k - 1;
}

/* ---- the model's parameters and its log-likelihood terms ---- */
typedef struct {
  double w[M], p[M][D]; /* p: probabilities (bernoulli, multinomial) or rates (poisson) */
} Params;

static const double ALPHA = 1e-6; /* the specs' alpha and reg_rate defaults */

static double row_coef(Kind k, const double *x) {
  double c = 0, total = 0;
  for (int d = 0; d < D; d++) {
    if (k != BERNOULLI) c -= lgamma(x[d] + 1);
    total += x[d];
  }
  if (k == MULTINOMIAL) c += lgamma(total + 1);
  return c;
}

static double log_joint(Kind k, const Params *th, int m, const double *x, double coef) {
  double l = log(th->w[m]) + coef;
  for (int d = 0; d < D; d++) {
    double p = th->p[m][d];
    if (k == BERNOULLI)
      l += x[d] * log(p) + (1 - x[d]) * log1p(-p);
    else if (k == POISSON || k == POISSON_PRIOR)
      l += x[d] * log(p) - p;
    else
      l += x[d] * log(p);
  }
  return l;
}

/* One iteration: the E-step's lower bound, then the M-step (the specs' formulas). */
static double em_step(Kind k, Params *th, const double *x, const double *coef) {
  static double r[N][M];
  double total = 0;
  for (int n = 0; n < N; n++) {
    double l[M], mx = -INFINITY, s = 0;
    for (int m = 0; m < M; m++) {
      l[m] = log_joint(k, th, m, x + n * D, coef[n]);
      mx = fmax(mx, l[m]);
    }
    for (int m = 0; m < M; m++) s += exp(l[m] - mx);
    double lse = mx + log(s);
    total += lse;
    for (int m = 0; m < M; m++) r[n][m] = exp(l[m] - lse);
  }
  double nk[M], sum_nk = 0;
  for (int m = 0; m < M; m++) {
    nk[m] = 10 * 0x1p-52;
    for (int n = 0; n < N; n++) nk[m] += r[n][m];
    sum_nk += nk[m];
  }
  for (int m = 0; m < M; m++) {
    th->w[m] = nk[m] / sum_nk;
    double s[D], s_all = 0;
    for (int d = 0; d < D; d++) {
      s[d] = 0;
      for (int n = 0; n < N; n++) s[d] += r[n][m] * x[n * D + d];
      s_all += s[d];
    }
    for (int d = 0; d < D; d++)
      th->p[m][d] = k == BERNOULLI       ? (s[d] + ALPHA) / (nk[m] + 2 * ALPHA)
                    : k == POISSON       ? s[d] / nk[m] + ALPHA
                    : k == POISSON_PRIOR ? (s[d] + STRENGTH * mean_x[d]) / (nk[m] + STRENGTH)
                                         : (s[d] + ALPHA) / (s_all + D * ALPHA);
  }
  if (k == POISSON_PRIOR) { /* its lower_bound: the log prior of the new rates added (an mstep scalar) */
    double prior = 0;
    for (int m = 0; m < M; m++)
      for (int d = 0; d < D; d++) prior += mean_x[d] * log(th->p[m][d]) - th->p[m][d];
    return total / N + STRENGTH * prior;
  }
  return total / N;
}

/* ---- data ---- */
static void draw(Kind k, const Params *truth, double *x) {
  for (int n = 0; n < N; n++) {
    double u = uniform(), c = 0;
    int m = 0;
    while (m < M - 1 && u > (c += truth->w[m])) m++;
    double *row = x + n * D;
    if (k == MULTINOMIAL) {
      int len = 10 + (int)(next_u64() % 41);
      for (int d = 0; d < D; d++) row[d] = 0;
      for (int i = 0; i < len; i++) {
        double v = uniform(), a = 0;
        int d = 0;
        while (d < D - 1 && v > (a += truth->p[m][d])) d++;
        row[d] += 1;
      }
    } else {
      for (int d = 0; d < D; d++) row[d] = k == BERNOULLI ? uniform() < truth->p[m][d] : poisson_draw(truth->p[m][d]);
    }
  }
}

/* Well separated components: each has its own features where it is high. */
static void random_params(Kind k, Params *th, double spread) {
  for (int m = 0; m < M; m++) {
    th->w[m] = 1.0 / M;
    double s = 0;
    for (int d = 0; d < D; d++) {
      double hi = d % M == m, v = uniform();
      th->p[m][d] = k == BERNOULLI ? (hi ? 0.6 + 0.3 * v : 0.05 + 0.3 * v) * spread + 0.5 * (1 - spread)
                    : k == POISSON ? (hi ? 6 + 4 * v : 0.5 + 2 * v) * spread + 3 * (1 - spread)
                                   : (hi ? 4 + v : 0.5 + v) * spread + (1 - spread);
      s += th->p[m][d];
    }
    if (k == MULTINOMIAL)
      for (int d = 0; d < D; d++) th->p[m][d] /= s;
  }
}

/* A .npy of int32 (counts) or bool (binary) values, as numpy.save writes. */
static int write_npy(const char *path, Kind k, const double *x) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  char hdr[128];
  int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }",
                   k == BERNOULLI ? "|b1" : "<i4", N, D);
  int total = (10 + n + 1 + 63) / 64 * 64;
  memset(hdr + n, ' ', (size_t)(total - 10 - n));
  hdr[total - 10 - 1] = '\n';
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total - 10), 0};
  fwrite(pre, 1, 10, f);
  fwrite(hdr, 1, (size_t)(total - 10), f);
  for (int i = 0; i < N * D; i++) {
    if (k == BERNOULLI) {
      unsigned char b = x[i] != 0;
      fwrite(&b, 1, 1, f);
    } else {
      int32_t v = (int32_t)x[i];
      fwrite(&v, 4, 1, f);
    }
  }
  return fclose(f);
}

/* tests/em/poisson_prior.yaml, copied beside the test's executable by CMake */
static char *read_spec(const char *exe) {
  char path[1024];
  const char *slash = strrchr(exe, '/');
  snprintf(path, sizeof path, "%.*spoisson_prior.yaml", slash ? (int)(slash - exe + 1) : 0, exe);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = calloc(1, 1 << 16);
  size_t n = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
  fclose(f);
  if (text && n == 0) {
    free(text);
    return NULL;
  }
  return text;
}

static double rel_diff(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s bernoulli|poisson|multinomial|poisson_prior DIR\n", argv[0]);
    return 2;
  }
  const char *model = argv[1];
  Kind k = strcmp(model, "bernoulli") == 0       ? BERNOULLI
           : strcmp(model, "poisson") == 0       ? POISSON
           : strcmp(model, "poisson_prior") == 0 ? POISSON_PRIOR
                                                 : MULTINOMIAL;
  Kind kd = k == POISSON_PRIOR ? POISSON : k; /* the data and the parameters' shapes */
  const char *env = getenv("GMMC_TEST_SEED");
  uint64_t seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 1000003u + (uint64_t)clock();
  printf("test_mixtures %s: seed %llu (GMMC_TEST_SEED=%llu replays this run)\n", model, (unsigned long long)seed,
         (unsigned long long)seed);
  rng_state = seed;
  Params truth, start;
  random_params(kd, &truth, 1.0);
  random_params(kd, &start, 0.5); /* halfway to uniform: EM has work to do */
  static double x[N * D], coef[N];
  draw(kd, &truth, x);
  char path[1024];
  snprintf(path, sizeof path, "%s/mixture_%s.npy", argv[2], model);
  if (write_npy(path, kd, x)) {
    printf("FAIL: cannot write %s\n", path);
    return 1;
  }

  gmmc_context *ctx = NULL;
  gmmc_data *data = NULL;
  gmmc_fit_options *fo = NULL;
  gmmc_model *fit = NULL;
  int exit_code = test_context("test_mixtures", test_backend(), &ctx);
  if (exit_code) return exit_code;
  gmmc_status s = GMMC_OK;
  printf("test_mixtures %s: %s\n", model, gmmc_context_device(ctx));
  if (!s) s = gmmc_data_load(ctx, path, 0, &data);
  gmmc_fit_options_create(&fo);
  if (k == POISSON_PRIOR) { /* the spec file beside this test */
    char *text = read_spec(argv[0]);
    CHECK(text != NULL, "cannot read poisson_prior.yaml beside %s", argv[0]);
    if (!text) return 1;
    gmmc_fit_options_set_spec(fo, "poisson_prior.yaml", text);
    free(text);
  } else {
    gmmc_fit_options_set_covariance_type(fo, model); /* a shipped spec by its name */
  }
  gmmc_fit_options_set_n_components(fo, M);
  gmmc_fit_options_set_max_iter(fo, ITERS);
  gmmc_fit_options_set_tol(fo, 0.0);
  gmmc_fit_options_set_dtype(fo, GMMC_FLOAT64);
  gmmc_fit_options_set_init_param(fo, "weights", start.w, M);
  gmmc_fit_options_set_init_param(fo, kd == POISSON ? "rate" : "p", &start.p[0][0], M * D);
  if (!s) s = gmmc_fit(ctx, data, fo, &fit);
  CHECK(s == GMMC_OK, "fit: %s: %s", gmmc_status_name(s), ctx ? gmmc_last_error(ctx) : "");
  if (s) return 1;
  CHECK(strcmp(gmmc_model_spec_name(fit), model) == 0, "spec %s", gmmc_model_spec_name(fit));

  /* the reference, from the same start */
  for (int n = 0; n < N; n++) coef[n] = row_coef(kd, x + n * D);
  for (int d = 0; d < D; d++) {
    mean_x[d] = 0;
    for (int n = 0; n < N; n++) mean_x[d] += x[n * D + d];
    mean_x[d] /= N;
  }
  int count = 0;
  const double *lb = gmmc_model_lower_bounds(fit, &count);
  CHECK(count == ITERS, "%d iterations, expected %d", count, ITERS);
  Params th = start;
  double worst_lb = 0, worst_p = 0;
  for (int it = 0; it < ITERS; it++) {
    double want = em_step(k, &th, x, coef);
    if (it < count) {
      double e = rel_diff(lb[it], want);
      worst_lb = fmax(worst_lb, e);
      CHECK(e <= 1e-10, "iteration %d: lower bound %.17g, reference %.17g (relative difference %.3g)", it + 1, lb[it],
            want, e);
    }
  }
  static double cov[D][D]; /* poisson_prior's data_cov: the covariance of the data, a once statistic */
  for (int d = 0; d < D; d++)
    for (int e = 0; e < D; e++) {
      cov[d][e] = 0;
      for (int n = 0; n < N; n++) cov[d][e] += (x[n * D + d] - mean_x[d]) * (x[n * D + e] - mean_x[e]);
      cov[d][e] /= N;
    }
  const char *names[3] = {"weights", kd == POISSON ? "rate" : "p", "data_cov"};
  for (int i = 0; i < (k == POISSON_PRIOR ? 3 : 2); i++) {
    int rank;
    const int64_t *shape;
    const double *v = gmmc_model_param(fit, names[i], &rank, &shape);
    const double *ref = i == 0 ? th.w : i == 1 ? &th.p[0][0] : &cov[0][0];
    int len = i == 0 ? M : i == 1 ? M * D : D * D;
    CHECK(v != NULL, "no parameter %s", names[i]);
    if (!v) continue;
    double scale = 0;
    for (int j = 0; j < len; j++) scale = fmax(scale, fabs(ref[j]));
    for (int j = 0; j < len; j++) {
      double e = fabs(v[j] - ref[j]) / scale;
      worst_p = fmax(worst_p, e);
      CHECK(e <= 1e-9, "%s[%d] = %.17g, reference %.17g", names[i], j, v[j], ref[j]);
    }
  }
  printf("test_mixtures %s: %d iterations, final lower bound %.12f; largest differences: lower bound %.3g "
         "(relative), parameters %.3g (relative to their scale)\n",
         model, count, count ? lb[count - 1] : NAN, worst_lb, worst_p);
  gmmc_model_destroy(fit);
  gmmc_fit_options_destroy(fo);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  if (failures)
    printf("FAILED: %d checks (GMMC_TEST_SEED=%llu replays this run)\n", failures, (unsigned long long)seed);
  return failures ? 1 : 0;
}
