/* gmmc's EM against scikit-learn's GaussianMixture, from the same initial
 * parameters (fixtures from make_fixtures.py): for each data set and
 * covariance type,
 *   float64: the same number of iterations, the lower bound of every
 *            iteration within 1e-5 (relative), final weights, means,
 *            covariances and precisions_cholesky within 1e-4 (relative per
 *            element, with a floor of 1e-4 times the array's largest
 *            magnitude for elements near zero), predictions equal on
 *            >= 99.9 % of the events, score/BIC/AIC within 1e-6 (relative);
 *   float32: run for exactly scikit-learn's number of iterations (tol = 0:
 *            with float32 arithmetic the change of the lower bound near
 *            convergence is as small as its rounding, so the stopping
 *            iteration is noise), the lower bound of every iteration within
 *            1e-4 (relative), predictions equal on >= 99.9 % of the events.
 *            Exception, printed when it applies: where scikit-learn's fitted
 *            covariances have a condition number above 1e7 (digits: ~1e8),
 *            beyond 1 / eps of float32, float32 products r (x_d - mu_d)(x_e -
 *            mu_e) perturb the smallest eigenvalues by more than reg_covar
 *            itself: float32 cannot resolve those directions and its lower
 *            bounds part from float64's (measured up to ~2e-3). There the
 *            float32 run is held to the predictions only, and the deviation
 *            is printed; the float64 run holds these cases to every strict
 *            tolerance above.
 * Only the public API: the test links libgmmc.so, and runs on a GPU host
 * with GMMC_TEST_BACKEND=cuda (tests/gpu/run.sh).
 * Usage: test_sklearn_agreement FIXTURE_DIR */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "covariance_condition.h"
#include "gmmc/gmmc.h"
#include "host_cpu_skip.h"

static int failures;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("  FAIL: " __VA_ARGS__);                                                                                  \
      printf("\n");                                                                                                    \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static gmmc_backend backend = GMMC_BACKEND_HOST;
static gmmc_context *io; /* reads the fixtures */

typedef struct {
  gmmc_data *d;
  int ok;
} Npy;

static Npy load(const char *dir, const char *name) {
  Npy n = {0};
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  if (gmmc_data_load(io, path, 0, &n.d)) {
    printf("  cannot read %s: %s\n", path, gmmc_last_error(io));
    failures++;
    return n;
  }
  n.ok = 1;
  return n;
}

/* Fixtures are float64 (make_fixtures.py). */
static const double *values(const Npy *n) { return (const double *)gmmc_data_values(n->d); }
static int64_t count(const Npy *n) { return gmmc_data_rows(n->d) * gmmc_data_cols(n->d); }

/* Largest relative difference per element, with a floor for near-zero
 * elements of 1e-4 times the array's largest magnitude. */
static double array_diff(const double *a, const double *ref, int64_t n) {
  double big = 0, worst = 0;
  for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(ref[i]));
  for (int64_t i = 0; i < n; i++) {
    double scale = fmax(fabs(ref[i]), 1e-4 * big);
    double r = scale > 0 ? fabs(a[i] - ref[i]) / scale : fabs(a[i] - ref[i]);
    if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
  }
  return worst;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

static void compare_param(const gmmc_model *m, const char *name, const Npy *ref, double tol) {
  int rank;
  const int64_t *shape;
  const double *v = gmmc_model_param(m, name, &rank, &shape);
  CHECK(v != NULL, "no parameter %s", name);
  if (!v) return;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= shape[i];
  CHECK(n == count(ref), "%s: %lld values, reference %lld", name, (long long)n, (long long)count(ref));
  if (n != count(ref)) return;
  double d = array_diff(v, values(ref), n);
  CHECK(d <= tol, "%s differs from scikit-learn by %.3g (relative), tolerance %.0e", name, d, tol);
}

static void run_case(const char *dir, const char *name) {
  const char *type = strrchr(name, '_') + 1;
  Npy x = load(dir, "X"), w0 = load(dir, "init_weights"), m0 = load(dir, "init_means"),
      p0 = load(dir, "init_precisions"), lbs = load(dir, "ref_lower_bounds"), rw = load(dir, "ref_weights"),
      rm = load(dir, "ref_means"), rc = load(dir, "ref_covariances"), rp = load(dir, "ref_precisions_cholesky"),
      rpred = load(dir, "ref_predict"), rs = load(dir, "ref_scores"), st = load(dir, "settings");
  if (!(x.ok && w0.ok && m0.ok && p0.ok && lbs.ok && rw.ok && rm.ok && rc.ok && rp.ok && rpred.ok && rs.ok && st.ok))
    return;
  int k = (int)count(&w0);
  const double *settings = values(&st);
  double kappa = covariance_condition(values(&rc), count(&rc), k, type);
  int f32_resolvable = kappa <= 1e7;
  for (int pass = 0; pass < 2; pass++) {
    gmmc_dtype dt = pass == 0 ? GMMC_FLOAT64 : GMMC_FLOAT32;
    gmmc_context *ctx;
    if (gmmc_context_create(&ctx, backend)) {
      CHECK(0, "context: %s", gmmc_last_error(ctx));
      gmmc_context_destroy(ctx);
      return;
    }
    gmmc_fit_options *o;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, k);
    gmmc_fit_options_set_covariance_type(o, type);
    gmmc_fit_options_set_tol(o, pass == 0 ? settings[0] : 0.0);
    gmmc_fit_options_set_reg_covar(o, settings[1]);
    gmmc_fit_options_set_max_iter(o, pass == 0 ? (int)settings[2] : (int)count(&lbs));
    gmmc_fit_options_set_dtype(o, dt);
    gmmc_fit_options_set_init_param(o, "weights", values(&w0), (size_t)count(&w0));
    gmmc_fit_options_set_init_param(o, "means", values(&m0), (size_t)count(&m0));
    gmmc_fit_options_set_init_param(o, "precisions", values(&p0), (size_t)count(&p0));
    gmmc_model *m = NULL;
    printf("%s (%s): ", name, pass == 0 ? "float64" : "float32");
    if (gmmc_fit(ctx, x.d, o, &m)) {
      printf("\n");
      CHECK(0, "fit failed: %s", gmmc_last_error(ctx));
    } else {
      int n;
      const double *lb = gmmc_model_lower_bounds(m, &n);
      int nref = (int)count(&lbs);
      double worst = 0;
      for (int i = 0; i < n && i < nref; i++) worst = fmax(worst, rel(lb[i], values(&lbs)[i]));
      if (getenv("GMMC_TEST_VERBOSE"))
        for (int i = 0; i < n && i < nref; i++)
          printf("    iteration %3d: %.12f scikit-learn %.12f (%.2e)\n", i + 1, lb[i], values(&lbs)[i],
                 rel(lb[i], values(&lbs)[i]));
      printf("%d iterations (scikit-learn %d), lower bounds within %.2e\n", n, nref, worst);
      int64_t rows = gmmc_data_rows(x.d);
      int32_t *pred = malloc(sizeof(int32_t) * (size_t)rows);
      int64_t same = 0;
      if (gmmc_predict(ctx, m, x.d, pred, rows))
        CHECK(0, "predict: %s", gmmc_last_error(ctx));
      else
        for (int64_t i = 0; i < rows; i++) same += pred[i] == (int32_t)values(&rpred)[i];
      double agree = (double)same / (double)rows;
      CHECK(agree >= 0.999, "predictions agree on %.4f %% of the events", 100 * agree);
      free(pred);
      if (pass == 0) {
        CHECK(n == nref, "%d iterations, scikit-learn %d", n, nref);
        CHECK(worst <= 1e-5, "lower bounds differ by %.3g (relative)", worst);
        compare_param(m, "weights", &rw, 1e-4);
        compare_param(m, "means", &rm, 1e-4);
        compare_param(m, "covariances", &rc, 1e-4);
        compare_param(m, "precisions_cholesky", &rp, 1e-4);
        double score, bic, aic;
        if (gmmc_score(ctx, m, x.d, &score) || gmmc_bic(ctx, m, x.d, &bic) || gmmc_aic(ctx, m, x.d, &aic)) {
          CHECK(0, "score: %s", gmmc_last_error(ctx));
        } else {
          const double *r = values(&rs);
          CHECK(rel(score, r[0]) <= 1e-6, "score %.12g, scikit-learn %.12g", score, r[0]);
          CHECK(rel(bic, r[1]) <= 1e-6, "bic %.12g, scikit-learn %.12g", bic, r[1]);
          CHECK(rel(aic, r[2]) <= 1e-6, "aic %.12g, scikit-learn %.12g", aic, r[2]);
        }
      } else {
        CHECK(n == nref, "%d iterations, scikit-learn %d", n, nref);
        if (f32_resolvable)
          CHECK(worst <= 1e-4, "float32 lower bounds differ by %.3g (relative)", worst);
        else
          printf("    covariance condition number %.2g > 1/eps(float32): lower bounds not compared (%.2e)\n", kappa,
                 worst);
      }
    }
    gmmc_model_destroy(m);
    gmmc_fit_options_destroy(o);
    gmmc_context_destroy(ctx);
  }
  Npy *all[] = {&x, &w0, &m0, &p0, &lbs, &rw, &rm, &rc, &rp, &rpred, &rs, &st};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) gmmc_data_destroy(all[i]->d);
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  backend = test_backend();
  /* the fixtures are read on the host (a level this machine lacks: skipped) */
  int exit_code = test_context("test_sklearn_agreement", GMMC_BACKEND_HOST, &io);
  if (exit_code) return exit_code;
  printf("host backend: %s\n", gmmc_context_device(io));
  struct dirent **list;
  int n = scandir(argv[1], &list, NULL, by_name);
  if (n < 0) {
    perror(argv[1]);
    return 1;
  }
  int cases = 0;
  for (int i = 0; i < n; i++) {
    if (list[i]->d_name[0] != '.' && strchr(list[i]->d_name, '_')) {
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/%s", argv[1], list[i]->d_name);
      run_case(dir, list[i]->d_name);
      cases++;
    }
    free(list[i]);
  }
  free(list);
  printf("%d cases, %d failures\n", cases, failures);
  gmmc_context_destroy(io);
  return failures || cases == 0;
}
