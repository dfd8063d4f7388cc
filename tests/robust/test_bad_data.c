/* Bad data through the C API: every case ends in a clear error (status and a
 * message that says what and where) or in a model that holds only finite
 * values, never in a crash, a hang or NaN. The expected behaviours are the
 * table of docs/robustness.md. Fresh random data each run; the seed is
 * printed and GMMC_TEST_SEED=N replays a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"
#include "runtime/io/data.h"

static gmmc_context *ctx;

/* NaN or infinity anywhere: refused before any work, naming row and column
 * (1-based); float32 and float64, fit and every inference call. */
static void test_nonfinite(void) {
  printf("non-finite values\n");
  int64_t n = 50, d = 3;
  double *x = rb_blobs(n, (int)d, 2, 8);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, 2, "full", 1e-6, &m));
  const double bad[] = {NAN, INFINITY, -INFINITY};
  for (int b = 0; b < 3; b++) {
    int64_t r = io_range(0, n - 1), c = io_range(0, d - 1);
    double keep = x[r * d + c];
    x[r * d + c] = bad[b];
    char where[64];
    snprintf(where, sizeof where, "at row %lld, column %lld", (long long)r + 1, (long long)c + 1);
    gmmc_model *m2 = NULL;
    EXPECT_FAIL(ctx, rb_fit(ctx, x, n, d, 2, "full", 1e-6, &m2), GMMC_ERR_DATA, "non-finite value", where);
    CHECK(!m2);
    float *xf = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n * d; i++) xf[i] = (float)x[i];
    gmmc_data *df, *dd;
    EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, xf, GMMC_FLOAT32, n, d, &df));
    EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &dd));
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    double *lp = malloc(sizeof(double) * (size_t)n * 2), score;
    EXPECT_FAIL(ctx, gmmc_predict(ctx, m, df, labels, n), GMMC_ERR_DATA, where);
    EXPECT_FAIL(ctx, gmmc_predict_proba(ctx, m, dd, lp, n * 2), GMMC_ERR_DATA, where);
    EXPECT_FAIL(ctx, gmmc_score_samples(ctx, m, dd, lp, n * 2), GMMC_ERR_DATA, where);
    EXPECT_FAIL(ctx, gmmc_score(ctx, m, df, &score), GMMC_ERR_DATA, where);
    gmmc_fit_options *o;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, 2);
    EXPECT_FAIL(ctx, gmmc_fit(ctx, df, o, &m2), GMMC_ERR_DATA, where);
    gmmc_fit_options_destroy(o);
    gmmc_data_destroy(df);
    gmmc_data_destroy(dd);
    free(xf);
    free(labels);
    free(lp);
    x[r * d + c] = keep;
  }
  gmmc_model_destroy(m);
  free(x);
}

/* A constant column trains: its variance is 0, so the covariance on that
 * axis is reg_covar (to rounding) and the other entries of its row/column 0. */
static void test_constant_column(void) {
  printf("constant column\n");
  int64_t n = 300, d = 3;
  double *x = rb_blobs(n, (int)d, 2, 10);
  double c = io_range(-5, 5) * 1.5;
  for (int64_t i = 0; i < n; i++) x[i * d + 1] = c;
  static const char *const types[] = {"full", "diag", "tied"};
  for (int t = 0; t < 3; t++) {
    gmmc_model *m = NULL;
    EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, 2, types[t], 1e-6, &m));
    CHECK_FINITE(m);
    int comps = t == 2 ? 1 : 2;
    for (int k = 0; k < comps; k++) {
      double v = t == 1 ? rb_param(m, "covariances", k * d + 1) : rb_param(m, "covariances", k * d * d + 1 * d + 1);
      if (fabs(v - 1e-6) > 1e-9)
        io_fail(__FILE__, __LINE__, "%s: covariance on the constant axis %g, not reg_covar", types[t], v);
      if (t != 1) {
        double off = rb_param(m, "covariances", k * d * d + 0 * d + 1);
        if (fabs(off) > 1e-9) io_fail(__FILE__, __LINE__, "%s: off-diagonal %g on the constant axis", types[t], off);
      }
      double mean = rb_param(m, "means", (t == 2 ? k : k) * d + 1);
      if (fabs(mean - c) > 1e-9 * (1 + fabs(c))) io_fail(__FILE__, __LINE__, "%s: mean %g, not %g", types[t], mean, c);
    }
    printf("  ok: %s trains; covariance on the constant axis = reg_covar\n", types[t]);
    gmmc_model_destroy(m);
  }
  /* spherical: the variance is averaged over the axes, no special value */
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, 2, "spherical", 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  free(x);
}

/* N identical events: one component holds them all with covariance
 * reg_covar * I; with M > 1 the other components get no events (k-means
 * finds one distinct cluster), weight ~0, means 0, covariance reg_covar * I,
 * as in scikit-learn. */
static void test_identical_points(void) {
  printf("identical points\n");
  int64_t n = 200, d = 2;
  double *x = malloc(sizeof(double) * (size_t)(n * d));
  for (int64_t i = 0; i < n; i++) x[i * d] = 3.25, x[i * d + 1] = -1.5;
  for (int k = 1; k <= 3; k++) {
    static const char *const types[] = {"full", "diag", "spherical", "tied"};
    for (int t = 0; t < 4; t++) {
      gmmc_model *m = NULL;
      EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, k, types[t], 1e-6, &m));
      CHECK_FINITE(m);
      CHECK(gmmc_model_converged(m));
      double wsum = 0, wmax = 0;
      for (int j = 0; j < k; j++) {
        double w = rb_param(m, "weights", j);
        wsum += w;
        if (w > wmax) wmax = w;
      }
      CHECK(fabs(wsum - 1) < 1e-9 && wmax > 1 - 1e-9);
      /* the log-likelihood of a spike of variance reg_covar: D * -0.5 * log(2 pi reg) */
      double want = d * -0.5 * log(2 * M_PI * 1e-6);
      if (fabs(gmmc_model_lower_bound(m) - want) > 1e-6 * fabs(want))
        io_fail(__FILE__, __LINE__, "%s, %d components: lower bound %.10g, expected %.10g", types[t], k,
                gmmc_model_lower_bound(m), want);
      gmmc_model_destroy(m);
    }
  }
  printf("  ok: M = 1..3 train to one component of covariance reg_covar; the others weigh ~0\n");
  free(x);
}

/* Fewer events than components is refused (scikit-learn's message); as many
 * events as components trains, each component on one event. */
static void test_few_events(void) {
  printf("few events\n");
  int64_t d = 2;
  double *x = rb_blobs(4, (int)d, 4, 5);
  gmmc_model *m = NULL;
  EXPECT_FAIL(ctx, rb_fit(ctx, x, 3, d, 4, "full", 1e-6, &m), GMMC_ERR_INVALID_ARGUMENT,
              "expected n_samples >= n_components but got n_components = 4, n_samples = 3");
  CHECK(!m);
  static const char *const types[] = {"full", "diag", "spherical", "tied"};
  for (int t = 0; t < 4; t++) {
    EXPECT_API_OK(ctx, rb_fit(ctx, x, 4, d, 4, types[t], 1e-6, &m));
    CHECK_FINITE(m);
    gmmc_model_destroy(m);
  }
  printf("  ok: N == n_components trains (every type)\n");
  EXPECT_API_OK(ctx, rb_fit(ctx, x, 1, d, 1, "full", 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  gmmc_data *empty;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, 0, d, &empty));
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  EXPECT_FAIL(ctx, gmmc_fit(ctx, empty, o, &m), GMMC_ERR_DATA, "the data is empty (0 rows, 2 columns)");
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(empty);
  free(x);
}

/* A setting an option setter refused stands until the option is set again:
 * a fit (or a model made) with it fails through the context's channel
 * (gmmc_last_error) with the setter's message, instead of running with
 * the value it left. */
static void test_refused_options(void) {
  printf("refused options\n");
  int64_t d = 2;
  double *x = rb_blobs(200, (int)d, 2, 5);
  gmmc_data *data;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, 200, d, &data));
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, 2);
  gmmc_model *m = NULL;
  CHECK(gmmc_fit_options_set_tol(o, -1) == GMMC_ERR_INVALID_ARGUMENT);
  EXPECT_FAIL(ctx, gmmc_fit(ctx, data, o, &m), GMMC_ERR_INVALID_ARGUMENT, "tol must be a finite number >= 0, got -1");
  CHECK(!m);
  EXPECT_FAIL(ctx, gmmc_model_create(ctx, o, (int)d, &m), GMMC_ERR_INVALID_ARGUMENT, "tol must be");
  CHECK(!m);
  /* another option set does not clear it; the same one does */
  EXPECT_API_OK(ctx, gmmc_fit_options_set_max_iter(o, 50));
  EXPECT_FAIL(ctx, gmmc_fit(ctx, data, o, &m), GMMC_ERR_INVALID_ARGUMENT, "tol must be");
  EXPECT_API_OK(ctx, gmmc_fit_options_set_tol(o, 1e-3));
  EXPECT_API_OK(ctx, gmmc_fit(ctx, data, o, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  m = NULL;
  /* by name: a scalar refused, another scalar set, then the first */
  CHECK(gmmc_fit_options_set_scalar(o, "reg_covar", NAN) == GMMC_ERR_INVALID_ARGUMENT);
  const double w[2] = {0.5, INFINITY};
  CHECK(gmmc_fit_options_set_init_param(o, "weights", w, 2) == GMMC_ERR_INVALID_ARGUMENT);
  EXPECT_FAIL(ctx, gmmc_fit(ctx, data, o, &m), GMMC_ERR_INVALID_ARGUMENT, "reg_covar must be finite");
  EXPECT_API_OK(ctx, gmmc_fit_options_set_reg_covar(o, 1e-6));
  EXPECT_FAIL(ctx, gmmc_fit(ctx, data, o, &m), GMMC_ERR_INVALID_ARGUMENT, "initial weights: value 1 is not finite");
  const double w2[2] = {0.5, 0.5};
  EXPECT_API_OK(ctx, gmmc_fit_options_set_init_param(o, "weights", w2, 2));
  EXPECT_API_OK(ctx, gmmc_fit(ctx, data, o, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  printf("  ok: refused settings fail the fit until set again\n");
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(data);
  free(x);
}

/* Predicting or scoring with a model of another feature count. */
static void test_feature_mismatch(void) {
  printf("feature count mismatch\n");
  int64_t n = 60;
  double *x4 = rb_blobs(n, 4, 2, 6), *x3 = rb_blobs(n, 3, 2, 6);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x4, n, 4, 2, "full", 1e-6, &m));
  gmmc_data *d3;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x3, GMMC_FLOAT64, n, 3, &d3));
  int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
  double *p = malloc(sizeof(double) * (size_t)n * 2), v;
  const char *msg = "the data has 3 features, but the model expects 4";
  EXPECT_FAIL(ctx, gmmc_predict(ctx, m, d3, labels, n), GMMC_ERR_INVALID_ARGUMENT, msg);
  EXPECT_FAIL(ctx, gmmc_predict_proba(ctx, m, d3, p, n * 2), GMMC_ERR_INVALID_ARGUMENT, msg);
  EXPECT_FAIL(ctx, gmmc_score_samples(ctx, m, d3, p, n * 2), GMMC_ERR_INVALID_ARGUMENT, msg);
  EXPECT_FAIL(ctx, gmmc_score(ctx, m, d3, &v), GMMC_ERR_INVALID_ARGUMENT, msg);
  EXPECT_FAIL(ctx, gmmc_bic(ctx, m, d3, &v), GMMC_ERR_INVALID_ARGUMENT, msg);
  /* warm start from it */
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, 2);
  gmmc_fit_options_set_warm_start(o, m);
  gmmc_model *m2 = NULL;
  EXPECT_FAIL(ctx, gmmc_fit(ctx, d3, o, &m2), GMMC_ERR_INVALID_ARGUMENT, "warm start", "does not match");
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d3);
  gmmc_model_destroy(m);
  free(labels);
  free(p);
  free(x3);
  free(x4);
}

/* Output arrays shorter than the call would write: refused before anything
 * is written, naming the function, the array and both counts; an exact or
 * longer array works and only the needed part is written. */
#define SENTINEL (-12345.5)
static int untouched_f64(const double *a, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (a[i] != SENTINEL) return 0;
  return 1;
}
static int untouched_i32(const int32_t *a, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (a[i] != -7) return 0;
  return 1;
}
static void fill(double *a, int32_t *l, int64_t n) {
  for (int64_t i = 0; i < n; i++) a[i] = SENTINEL, l[i] = -7;
}

static void test_short_buffers(void) {
  printf("output arrays too short\n");
  int64_t n = 30, d = 2, k = 3, cap = n * d * k + 8;
  double *x = rb_blobs(n, (int)d, 3, 8);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, (int)k, "full", 1e-6, &m));
  gmmc_data *data;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
  double *v = malloc(sizeof(double) * (size_t)cap);
  int32_t *l = malloc(sizeof(int32_t) * (size_t)cap);

  fill(v, l, cap);
  EXPECT_FAIL(ctx, gmmc_predict(ctx, m, data, l, n - 1), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_predict: labels holds 29 values but 30 are needed");
  CHECK(untouched_i32(l, cap));
  EXPECT_API_OK(ctx, gmmc_predict(ctx, m, data, l, n));
  for (int64_t i = 0; i < n; i++) CHECK(l[i] >= 0 && l[i] < k);
  CHECK(untouched_i32(l + n, cap - n));

  EXPECT_FAIL(ctx, gmmc_predict_proba(ctx, m, data, v, 20), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_predict_proba: proba holds 20 values but 30 x 3 = 90 are needed");
  CHECK(untouched_f64(v, cap));
  EXPECT_API_OK(ctx, gmmc_predict_proba(ctx, m, data, v, n * k));
  for (int64_t i = 0; i < n; i++) CHECK(fabs(v[i * k] + v[i * k + 1] + v[i * k + 2] - 1) < 1e-9);
  CHECK(untouched_f64(v + n * k, cap - n * k));

  fill(v, l, cap);
  EXPECT_FAIL(ctx, gmmc_score_samples(ctx, m, data, v, -1), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_score_samples: log_prob holds -1 values but 30 are needed");
  EXPECT_FAIL(ctx, gmmc_score_samples(ctx, m, data, v, n - 1), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_score_samples: log_prob holds 29 values but 30 are needed");
  CHECK(untouched_f64(v, cap));
  EXPECT_API_OK(ctx, gmmc_score_samples(ctx, m, data, v, cap)); /* longer: only n written */
  for (int64_t i = 0; i < n; i++) CHECK(isfinite(v[i]) && v[i] != SENTINEL);
  CHECK(untouched_f64(v + n, cap - n));

  fill(v, l, cap);
  EXPECT_FAIL(ctx, gmmc_sample(ctx, m, n, 1, v, n * d - 1, l, n), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_sample: X holds 59 values but 30 x 2 = 60 are needed");
  EXPECT_FAIL(ctx, gmmc_sample(ctx, m, n, 1, v, n * d, l, n - 1), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_sample: labels holds 29 values but 30 are needed");
  EXPECT_FAIL(ctx, gmmc_sample(ctx, m, n, 1, v, n * d, NULL, n), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_sample: labels is NULL but labels_len is 30");
  EXPECT_FAIL(ctx, gmmc_sample(ctx, m, INT64_MAX / 2 + 1, 1, v, cap, NULL, 0), GMMC_ERR_INVALID_ARGUMENT,
              "gmmc_sample: X holds", "x 2 are needed"); /* the product overflows: not computed */
  CHECK(untouched_f64(v, cap) && untouched_i32(l, cap));
  EXPECT_API_OK(ctx, gmmc_sample(ctx, m, n, 1, v, n * d, l, n));
  for (int64_t i = 0; i < n; i++) CHECK(l[i] >= 0 && l[i] < k && isfinite(v[i * d]) && isfinite(v[i * d + 1]));
  CHECK(untouched_f64(v + n * d, cap - n * d) && untouched_i32(l + n, cap - n));
  EXPECT_API_OK(ctx, gmmc_sample(ctx, m, n, 1, v, n * d, NULL, 0)); /* labels are optional */
  printf("  ok: short arrays refused untouched; exact and longer ones work\n");

  free(v);
  free(l);
  gmmc_data_destroy(data);
  gmmc_model_destroy(m);
  free(x);
}

/* Files that are empty, truncated or ragged: the reader's message, through
 * gmmc_data_load. */
static void test_bad_files(void) {
  printf("bad files\n");
  gmmc_data *d = NULL;
  const char *empty_npy = io_path("empty.npy"), *empty_csv = io_path("empty.csv"), *empty_raw = io_path("empty.f32");
  io_write(empty_npy, "", 0);
  io_write(empty_csv, "", 0);
  io_write(empty_raw, "", 0);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, empty_npy, 0, &d), GMMC_ERR_DATA, empty_npy, "the file is empty");
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, empty_csv, 0, &d), GMMC_ERR_DATA, empty_csv, "the file is empty");
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, empty_raw, 2, &d), GMMC_ERR_DATA, empty_raw, "the file is empty");
  /* truncated .npy: the header promises more than the file holds */
  double *x = rb_blobs(100, 3, 2, 4);
  const char *full = io_path("full.npy"), *cut = io_path("cut.npy");
  char *err = NULL;
  CHECK(data_write_npy_f64(full, x, 100, 3, &err) == GMMC_OK);
  size_t len;
  char *bytes = io_read(full, &len);
  io_write(cut, bytes, len - 13);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, cut, 0, &d), GMMC_ERR_DATA, cut, "truncated data",
              "100 x 3 values of '<f8' need 2400 bytes, the file holds 2387");
  io_write(cut, bytes, 30); /* inside the header */
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, cut, 0, &d), GMMC_ERR_DATA, cut, "the file ends inside the header");
  io_write(cut, bytes, 7); /* inside the preamble */
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, cut, 0, &d), GMMC_ERR_DATA, cut, "the file ends inside the .npy preamble");
  free(bytes);
  /* ragged CSV rows, both ways, and a NaN literal */
  const char *ragged = io_path("ragged.csv");
  io_write(ragged, "a,b,c\n1,2,3\n4,5\n", 16);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, ragged, 0, &d), GMMC_ERR_DATA, ragged,
              "row 3, column 3: missing field (expected 3 columns, as in row 1)");
  io_write(ragged, "1,2\n3,4\n5,6,7\n", 14);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, ragged, 0, &d), GMMC_ERR_DATA, ragged,
              "row 3, column 3: extra field (expected 2 columns, as in row 1)");
  io_write(ragged, "1,2\n3,nan\n", 10);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, ragged, 0, &d), GMMC_ERR_DATA, ragged,
              "row 2, column 2: 'nan' is not a finite number");
  io_write(ragged, "1,2\n3,\n", 7);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, ragged, 0, &d), GMMC_ERR_DATA, ragged, "row 2, column 2: empty field");
  io_write(ragged, "x,y\n", 4);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, ragged, 0, &d), GMMC_ERR_DATA, ragged, "no data rows (only a header)");
  /* raw float32 with the wrong column count */
  const char *raw = io_path("data.f32");
  float f[10] = {0};
  io_write(raw, f, sizeof f);
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, raw, 3, &d), GMMC_ERR_DATA, raw, "not a multiple of 12 bytes");
  /* a directory, a missing file */
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, io_dir(), 2, &d), GMMC_ERR_IO, "not a regular file");
  EXPECT_FAIL(ctx, gmmc_data_load(ctx, io_path("missing.npy"), 0, &d), GMMC_ERR_IO, "cannot open: No such file");
  CHECK(!d);
  /* a .npy holding NaN loads (memory-mapped, not scanned) and is refused by fit with its place */
  x[41 * 3 + 2] = NAN;
  CHECK(data_write_npy_f64(full, x, 100, 3, &err) == GMMC_OK);
  EXPECT_API_OK(ctx, gmmc_data_load(ctx, full, 0, &d));
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_model *m = NULL;
  EXPECT_FAIL(ctx, gmmc_fit(ctx, d, o, &m), GMMC_ERR_DATA, "at row 42, column 3");
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d);
  free(x);
}

/* A component that loses all its events: its responsibilities are exactly 0,
 * so (as in scikit-learn, where nk gets 10*eps) its weight becomes
 * 10*eps / (N + M*10*eps) ~ 0, its mean sum(0 * x) / (10*eps) = 0 and its
 * covariance 0 + reg_covar * I. Made here by starting one component's mean
 * far from every event. */
static void test_empty_component(void) {
  printf("a component without events\n");
  int64_t n = 200, d = 2;
  double *x = malloc(sizeof(double) * (size_t)(n * d));
  for (int64_t i = 0; i < n; i++) {
    x[i * d] = 100 + (i % 2 ? 10 : 0) + io_normal();
    x[i * d + 1] = 100 + io_normal();
  }
  static const char *const types[] = {"full", "diag", "spherical"};
  for (int t = 0; t < 3; t++) {
    gmmc_data *data;
    EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
    gmmc_fit_options *o;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, 3);
    gmmc_fit_options_set_covariance_type(o, types[t]);
    const double means[] = {100, 100, 110, 100, 5000, -5000};
    const double weights[] = {0.4, 0.4, 0.2};
    gmmc_fit_options_set_init_param(o, "means", means, 6);
    gmmc_fit_options_set_init_param(o, "weights", weights, 3);
    gmmc_fit_options_set_init(o, GMMC_INIT_RANDOM_FROM_DATA);
    gmmc_model *m = NULL;
    EXPECT_API_OK(ctx, gmmc_fit(ctx, data, o, &m));
    CHECK_FINITE(m);
    double eps = 2.220446049250313e-16;
    double w = rb_param(m, "weights", 2);
    double want_w = 10 * eps / (n + 3 * 10 * eps);
    if (fabs(w - want_w) > 1e-3 * want_w)
      io_fail(__FILE__, __LINE__, "%s: the empty component weighs %g, expected %g", types[t], w, want_w);
    CHECK(rb_param(m, "means", 4) == 0 && rb_param(m, "means", 5) == 0);
    double c = t == 0 ? rb_param(m, "covariances", 2 * 4) : rb_param(m, "covariances", t == 1 ? 4 : 2);
    if (fabs(c - 1e-6) > 1e-12) io_fail(__FILE__, __LINE__, "%s: its covariance %g, expected reg_covar", types[t], c);
    printf("  ok: %s: weight %.3g (10*eps/(N+M*10*eps)), mean 0, covariance reg_covar\n", types[t], w);
    gmmc_model_destroy(m);
    gmmc_fit_options_destroy(o);
    gmmc_data_destroy(data);
  }
  free(x);
}

/* reg_covar = 0 with a singular covariance: a clear error naming the
 * component (0-based), not NaN. */
static void test_singular(void) {
  printf("singular covariance, reg_covar = 0\n");
  int64_t n = 100, d = 3;
  double *x = rb_blobs(n, (int)d, 2, 10);
  for (int64_t i = 0; i < n; i++) x[i * d + 2] = 2 * x[i * d] - x[i * d + 1]; /* collinear */
  gmmc_model *m = NULL;
  /* collinear features make a covariance singular in exact arithmetic; after
   * rounding its last pivot is a tiny number of either sign (depending on
   * the data), so both outcomes are right: the error, or a finite model */
  gmmc_status st = rb_fit(ctx, x, n, d, 2, "full", 0, &m);
  if (st == GMMC_OK) {
    CHECK_FINITE(m);
    printf("  ok: collinear: the rounded covariance is positive definite; the model is finite\n");
    gmmc_model_destroy(m);
    m = NULL;
  } else {
    EXPECT_FAIL(ctx, st, GMMC_ERR_NUMERIC, "'covariances' of component ", "is not positive definite",
                "increase reg_covar");
    CHECK(!m);
  }
  for (int64_t i = 0; i < n; i++) x[i * d + 2] = 7; /* a constant column */
  EXPECT_FAIL(ctx, rb_fit(ctx, x, n, d, 2, "full", 0, &m), GMMC_ERR_NUMERIC, "of component", "not positive definite");
  EXPECT_FAIL(ctx, rb_fit(ctx, x, n, d, 2, "diag", 0, &m), GMMC_ERR_NUMERIC, "of component", "not positive definite");
  EXPECT_FAIL(ctx, rb_fit(ctx, x, n, d, 1, "tied", 0, &m), GMMC_ERR_NUMERIC, "not positive definite");
  /* with the default reg_covar it trains */
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, 2, "full", 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  free(x);
}

/* Values near the ends of the float ranges. */
static void test_extreme_values(void) {
  printf("huge and tiny values\n");
  int64_t n = 200, d = 2;
  static const double scales[] = {1e30, 1e-30, 1e150, 1e-150};
  for (int s = 0; s < 4; s++) {
    double *x = rb_blobs(n, (int)d, 2, 10);
    for (int64_t i = 0; i < n * d; i++) x[i] *= scales[s];
    for (int dt = 0; dt < 2; dt++) {
      if (dt == 1 && (scales[s] > 1e38 || scales[s] < 1e-38)) continue; /* not a float32 */
      gmmc_data *data;
      float *xf = NULL;
      if (dt == 1) {
        xf = malloc(sizeof(float) * (size_t)(n * d));
        for (int64_t i = 0; i < n * d; i++) xf[i] = (float)x[i];
        EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, xf, GMMC_FLOAT32, n, d, &data));
      } else {
        EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
      }
      static const char *const types[] = {"full", "diag", "spherical", "tied"};
      for (int t = 0; t < 4; t++) {
        gmmc_fit_options *o;
        gmmc_fit_options_create(&o);
        gmmc_fit_options_set_n_components(o, 2);
        gmmc_fit_options_set_covariance_type(o, types[t]);
        gmmc_model *m = NULL;
        gmmc_status st = gmmc_fit(ctx, data, o, &m);
        if (st == GMMC_OK) {
          CHECK_FINITE(m);
          printf("  ok: %g %s %s: trains (lower bound %.6g)\n", scales[s], dt ? "float32" : "float64", types[t],
                 gmmc_model_lower_bound(m));
        } else {
          /* the only acceptable failure: a numeric one, with its reason
           * (float32 squares overflow beyond ~1.8e19: the covariance is
           * infinite and its Cholesky factorization fails) */
          const char *msg = gmmc_last_error(ctx);
          int overflow = dt == 1 && scales[s] > 1e19; /* must say so, not advise reg_covar */
          if (st != GMMC_ERR_NUMERIC || (overflow && !strstr(msg, "not finite")) ||
              (!strstr(msg, "not positive definite") && !strstr(msg, "not finite")))
            io_fail(__FILE__, __LINE__, "%g %s %s: %s: %s", scales[s], dt ? "float32" : "float64", types[t],
                    gmmc_status_name(st), msg);
          printf("  ok: %g %s %s: %s\n", scales[s], dt ? "float32" : "float64", types[t], msg);
          CHECK(!m);
        }
        gmmc_model_destroy(m);
        gmmc_fit_options_destroy(o);
      }
      gmmc_data_destroy(data);
      free(xf);
    }
    free(x);
  }
}

/* D = 1 and M = 1: the closed form (mean, population variance + reg_covar). */
static void test_d1_m1(void) {
  printf("D = 1, M = 1\n");
  int64_t n = 500;
  double *x = malloc(sizeof(double) * (size_t)n), mean = 0, var = 0;
  for (int64_t i = 0; i < n; i++) mean += x[i] = 3 + 2 * io_normal();
  mean /= n;
  for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
  var /= n;
  static const char *const types[] = {"full", "diag", "spherical", "tied"};
  for (int t = 0; t < 4; t++) {
    gmmc_model *m = NULL;
    EXPECT_API_OK(ctx, rb_fit(ctx, x, n, 1, 1, types[t], 1e-6, &m));
    CHECK_FINITE(m);
    CHECK(fabs(rb_param(m, "weights", 0) - 1) < 1e-12);
    CHECK(fabs(rb_param(m, "means", 0) - mean) < 1e-9);
    CHECK(fabs(rb_param(m, "covariances", 0) - (var + 1e-6)) < 1e-9 * var);
    CHECK(gmmc_model_converged(m));
    gmmc_model_destroy(m);
  }
  /* D = 1 with several components, and M = 1 with several features */
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, 1, 3, "full", 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  double *y = rb_blobs(n, 5, 1, 0);
  EXPECT_API_OK(ctx, rb_fit(ctx, y, n, 5, 1, "full", 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_model_destroy(m);
  printf("  ok: every type matches the closed form\n");
  free(y);
  free(x);
}

int main(void) {
  io_init("robust_bad_data");
  ctx = rb_context();
  test_nonfinite();
  test_constant_column();
  test_identical_points();
  test_few_events();
  test_feature_mismatch();
  test_short_buffers();
  test_refused_options();
  test_bad_files();
  test_empty_component();
  test_singular();
  test_extreme_values();
  test_d1_m1();
  gmmc_context_destroy(ctx);
  return io_done();
}
