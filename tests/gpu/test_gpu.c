/* GPU tests: the CUDA backend against the host backend on fresh random data,
 * edge cases of the launch geometry, and the kernel cache. Exits 77 (shown
 * by CTest as skipped) where no GPU is usable, saying why.
 *
 * Checks, float32 on both backends:
 *   - GMMC_BACKEND_AUTO picks the GPU;
 *   - every shipped Gaussian spec and k-means, from the same initial
 *     parameters, 15 iterations without early stop: the lower bound of every
 *     iteration within 1e-4 (relative) of the host's, final means within 1e-3
 *     (relative to the data's scale), predictions equal on >= 99.9 % of events;
 *   - event counts that are not multiples of any block size (1, 257, 100003,
 *     1000003), M = 1, D = 1, N = M, and N < M refused with a message;
 *   - a second context with the same shapes compiles nothing: it loads every
 *     specialization from the on-disk kernel cache (times printed).
 * Seed from the clock, printed; GMMC_TEST_SEED replays. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gmmc/gmmc.h"

static int failures;
static uint64_t rng_state;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      printf("  FAIL: " __VA_ARGS__);                                                                                  \
      printf("\n");                                                                                                    \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static double uniform(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1.0p-53;
}

static double normal(void) {
  double u = uniform(), v = uniform();
  return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* n events of a random mixture of m anisotropic Gaussians in d dimensions. */
static float *make_blobs(int64_t n, int d, int m) {
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  double *centers = malloc(sizeof(double) * (size_t)(m * d)), *mix = malloc(sizeof(double) * (size_t)(m * d * d));
  for (int i = 0; i < m * d; i++) centers[i] = 8 * (2 * uniform() - 1);
  for (int i = 0; i < m * d * d; i++) mix[i] = 0.6 * (2 * uniform() - 1);
  for (int64_t i = 0; i < n; i++) {
    int c = (int)(uniform() * m);
    double z[64];
    for (int a = 0; a < d; a++) z[a] = normal();
    for (int a = 0; a < d; a++) {
      double v = centers[c * d + a] + z[a];
      for (int b = 0; b < d; b++) v += mix[(c * d + a) * d + b] * z[b];
      x[i * d + a] = (float)v;
    }
  }
  free(centers);
  free(mix);
  return x;
}

typedef struct {
  gmmc_model *model;
  double *lbs;
  int n;
} Run;

static Run fit(gmmc_backend be, gmmc_data *(*wrap)(gmmc_context *), const char *type, int m, int iters,
               gmmc_model *init_from) {
  Run r = {0};
  gmmc_context *ctx;
  if (gmmc_context_create(&ctx, be)) {
    CHECK(0, "context: %s", gmmc_last_error(ctx));
    gmmc_context_destroy(ctx);
    return r;
  }
  gmmc_data *d = wrap(ctx);
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, m);
  gmmc_fit_options_set_covariance_type(o, type);
  gmmc_fit_options_set_tol(o, 0);
  gmmc_fit_options_set_max_iter(o, iters);
  gmmc_fit_options_set_dtype(o, GMMC_FLOAT32);
  if (init_from) gmmc_fit_options_set_warm_start(o, init_from);
  if (gmmc_fit(ctx, d, o, &r.model))
    CHECK(0, "%s fit on %s: %s", type, be == GMMC_BACKEND_CUDA ? "cuda" : "host", gmmc_last_error(ctx));
  if (r.model) {
    const double *lb = gmmc_model_lower_bounds(r.model, &r.n);
    r.lbs = malloc(sizeof(double) * (size_t)(r.n + 1));
    memcpy(r.lbs, lb, sizeof(double) * (size_t)r.n);
  }
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d);
  gmmc_context_destroy(ctx);
  return r;
}

static float *g_x;
static int64_t g_n;
static int g_d;

static gmmc_data *wrap_global(gmmc_context *ctx) {
  gmmc_data *d = NULL;
  gmmc_data_wrap(ctx, g_x, GMMC_FLOAT32, g_n, g_d, &d);
  return d;
}

static int32_t *labels_of(gmmc_backend be, gmmc_model *m) {
  gmmc_context *ctx;
  int32_t *l = malloc(sizeof(int32_t) * (size_t)g_n);
  if (gmmc_context_create(&ctx, be) == GMMC_OK) {
    gmmc_data *d = wrap_global(ctx);
    if (gmmc_predict(ctx, m, d, l, g_n)) CHECK(0, "predict: %s", gmmc_last_error(ctx));
    gmmc_data_destroy(d);
  }
  gmmc_context_destroy(ctx);
  return l;
}

/* Host and GPU from the same initial parameters: a host model of 0
 * iterations is the warm start of both. */
static void agree(const char *type, int64_t n, int d, int m) {
  g_n = n;
  g_d = d;
  g_x = make_blobs(n, d, m);
  double scale = 0;
  for (int64_t i = 0; i < n * d; i++) scale = fmax(scale, fabs(g_x[i]));
  Run start = fit(GMMC_BACKEND_HOST, wrap_global, type, m, 0, NULL);
  if (!start.model) {
    free(g_x);
    return;
  }
  Run h = fit(GMMC_BACKEND_HOST, wrap_global, type, m, 15, start.model);
  Run g = fit(GMMC_BACKEND_CUDA, wrap_global, type, m, 15, start.model);
  if (h.model && g.model) {
    double worst = 0;
    CHECK(h.n == g.n, "%s: %d iterations on the host, %d on the GPU", type, h.n, g.n);
    for (int i = 0; i < h.n && i < g.n; i++) worst = fmax(worst, fabs(h.lbs[i] - g.lbs[i]) / fabs(h.lbs[i]));
    const char *pname = strcmp(type, "kmeans") == 0 ? "centers" : "means";
    int rank;
    const int64_t *shape;
    const double *mh = gmmc_model_param(h.model, pname, &rank, &shape),
                 *mg = gmmc_model_param(g.model, pname, NULL, NULL);
    double dmean = 0;
    for (int i = 0; i < m * d; i++) dmean = fmax(dmean, fabs(mh[i] - mg[i]) / scale);
    int32_t *lh = labels_of(GMMC_BACKEND_HOST, h.model), *lg = labels_of(GMMC_BACKEND_CUDA, g.model);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += lh[i] == lg[i];
    double agree_frac = (double)same / (double)n;
    printf("  %-9s N=%-8lld D=%-3d M=%-3d lower bounds within %.2e, %s within %.2e, labels %.4f %% equal\n", type,
           (long long)n, d, m, worst, pname, dmean, 100 * agree_frac);
    CHECK(worst <= 1e-4, "%s: lower bounds differ by %.3g (relative)", type, worst);
    CHECK(dmean <= 1e-3, "%s: %s differ by %.3g of the data's scale", type, pname, dmean);
    CHECK(agree_frac >= 0.999, "%s: labels agree on %.4f %%", type, 100 * agree_frac);
    free(lh);
    free(lg);
  }
  gmmc_model_destroy(start.model);
  gmmc_model_destroy(h.model);
  gmmc_model_destroy(g.model);
  free(start.lbs);
  free(h.lbs);
  free(g.lbs);
  free(g_x);
}

static void refused_when_too_few_events(void) {
  gmmc_context *ctx;
  gmmc_context_create(&ctx, GMMC_BACKEND_CUDA);
  float x[4] = {1, 2, 3, 4};
  gmmc_data *d;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT32, 2, 2, &d);
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, 3);
  gmmc_model *m = NULL;
  gmmc_status s = gmmc_fit(ctx, d, o, &m);
  printf("  N=2 < M=3: %s\n", gmmc_last_error(ctx));
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT && strstr(gmmc_last_error(ctx), "n_samples >= n_components"),
        "N < M must be refused clearly, got status %d", (int)s);
  gmmc_model_destroy(m);
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d);
  gmmc_context_destroy(ctx);
}

static int count_entries(const char *dir, const char *ext) {
  DIR *dd = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (dd && (e = readdir(dd)))
    if (strstr(e->d_name, ext)) n++;
  if (dd) closedir(dd);
  return n;
}

/* Slows the iterations down so that a background compile ends mid-fit. */
static void slow_progress(void *user, int init, int iter, double lb, double change, double seconds) {
  (void)user, (void)init, (void)iter, (void)lb, (void)change, (void)seconds;
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

static void kernel_cache(void) {
  char dir[] = "/tmp/gmmc-cache-XXXXXX";
  if (!mkdtemp(dir)) return;
  g_n = 50000;
  g_d = 16;
  g_x = make_blobs(g_n, g_d, 8);
  double t[6], lb[6];
  int compiled[6], cached[6], entries[6], bundles[6];
  /* the third fit runs as a user's does (GMMC_VERIFY_VARIANTS off): only
   * the variants the first fit chose are lowered, and their kernels must be
   * the cached ones (nothing compiled, no new cubin); it compiles them into
   * one module (a bundle) for the next fit. The fourth has only the
   * bundles: it must compile nothing and end where the third did. The
   * fifth has the choices but no compiled code: it runs the simple kernels
   * while the chosen ones compile in the background, then switches (30
   * slowed iterations); the sixth, all cached, must end where it did. */
  char *verify = getenv("GMMC_VERIFY_VARIANTS") ? strdup(getenv("GMMC_VERIFY_VARIANTS")) : NULL;
  for (int i = 0; i < 6; i++) {
    if (i == 2) {
      unsetenv("GMMC_VERIFY_VARIANTS");
      setenv("GMMC_PROFILE", "1", 1);
    }
    if (i == 3 || i == 4) {
      char cmd[160];
      snprintf(cmd, sizeof cmd, i == 3 ? "rm -f %s/*.cubin" : "rm -f %s/*.bundle", dir);
      CHECK(system(cmd) == 0, "could not empty the kernel cache");
    }
    gmmc_context *ctx;
    gmmc_context_create(&ctx, GMMC_BACKEND_CUDA);
    gmmc_context_set_cache_dir(ctx, dir);
    gmmc_data *d = wrap_global(ctx);
    gmmc_fit_options *o;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, 8);
    gmmc_fit_options_set_max_iter(o, 1);
    gmmc_fit_options_set_init(o, GMMC_INIT_RANDOM_FROM_DATA);
    if (i >= 4) {
      gmmc_fit_options_set_max_iter(o, 30);
      gmmc_fit_options_set_tol(o, 0);
      gmmc_fit_options_set_progress(o, slow_progress, NULL);
    }
    gmmc_model *m = NULL;
    double t0 = now_s();
    if (gmmc_fit(ctx, d, o, &m)) CHECK(0, "cache fit: %s", gmmc_last_error(ctx));
    t[i] = now_s() - t0;
    gmmc_context_compile_stats(ctx, &compiled[i], &cached[i], NULL);
    lb[i] = m ? gmmc_model_lower_bound(m) : NAN;
    gmmc_model_destroy(m);
    gmmc_fit_options_destroy(o);
    gmmc_data_destroy(d);
    gmmc_context_destroy(ctx); /* waits for a background compile */
    entries[i] = count_entries(dir, ".cubin");
    bundles[i] = count_entries(dir, ".bundle");
  }
  unsetenv("GMMC_PROFILE");
  if (verify) setenv("GMMC_VERIFY_VARIANTS", verify, 1);
  free(verify);
  int n = entries[0];
  printf("  kernel cache: first fit %.1f ms (%d compiled, %d cached), second %.1f ms (%d compiled, %d cached), "
         "third (known choices) %.1f ms (%d compiled, %d cached), %d entries, %d bundles; "
         "from the bundles alone %.1f ms (%d compiled)\n",
         t[0] * 1e3, compiled[0], cached[0], t[1] * 1e3, compiled[1], cached[1], t[2] * 1e3, compiled[2], cached[2], n,
         bundles[2], t[3] * 1e3, compiled[3]);
  CHECK(compiled[0] >= 1 && n >= 1, "the first fit wrote nothing to the kernel cache");
  CHECK(compiled[1] == 0 && cached[1] == compiled[0], "the second fit compiled %d specializations", compiled[1]);
  CHECK(compiled[2] == 0 && cached[2] == compiled[0] && entries[2] == n,
        "the fit with known choices compiled %d specializations, %d new kernels", compiled[2], entries[2] - n);
  CHECK(fabs(lb[2] - lb[0]) <= 1e-4 * fabs(lb[0]), "the fit with known choices: lower bound %.9g, first fit %.9g",
        lb[2], lb[0]);
  /* one bundle per program of the fit (the mixture, k-means' when it ran) */
  CHECK(bundles[2] >= 1, "no bundle after the fit with known choices (%d after the second fit)", bundles[1]);
  CHECK(compiled[3] == 0 && entries[3] == 0 && lb[3] == lb[2],
        "the fit from the bundles compiled %d specializations (%d cubins), lower bound %.17g against %.17g",
        compiled[3], entries[3], lb[3], lb[2]);
  printf("  background compile: fit without cubins %.1f ms (%d compiled), %d entries after it; cached %.1f ms\n",
         t[4] * 1e3, compiled[4], entries[4], t[5] * 1e3);
  CHECK(compiled[4] == 1 && entries[4] >= 1 && entries[4] <= n && compiled[5] == 0,
        "the fit without cubins compiled %d specializations (%d entries), the next %d", compiled[4], entries[4],
        compiled[5]);
  CHECK(fabs(lb[4] - lb[5]) <= 1e-4 * fabs(lb[5]),
        "switching to the chosen variants mid-fit: lower bound %.9g, all cached %.9g", lb[4], lb[5]);
  free(g_x);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) {
  }
}

/* Streaming with the data resident on the GPU (fit_resident) against
 * streaming that copies it chunk by chunk: the same kernels on the same
 * values in the same order, so the same model to the bit. The simple
 * kernels only (GMMC_VARIANTS=simple): each fit would otherwise choose its
 * variants by timing them, and two choices give two float32 roundings. */
static void resident_stream(const char *type) {
  g_n = 200003;
  g_d = 8;
  g_x = make_blobs(g_n, g_d, 4);
  gmmc_model *m[2] = {NULL, NULL};
  char *variants = getenv("GMMC_VARIANTS") ? strdup(getenv("GMMC_VARIANTS")) : NULL;
  setenv("GMMC_VARIANTS", "simple", 1);
  for (int i = 0; i < 2; i++) {
    if (i == 0) setenv("GMMC_RESIDENT", "0", 1);
    gmmc_context *ctx;
    gmmc_context_create(&ctx, GMMC_BACKEND_CUDA);
    gmmc_data *d = wrap_global(ctx);
    gmmc_fit_options *o;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, 4);
    gmmc_fit_options_set_covariance_type(o, type);
    gmmc_fit_options_set_max_iter(o, 12);
    gmmc_fit_options_set_tol(o, 0);
    gmmc_fit_options_set_seed(o, 7);
    gmmc_fit_options_set_chunk_events(o, 50000);
    if (gmmc_fit(ctx, d, o, &m[i])) CHECK(0, "%s streamed fit: %s", type, gmmc_last_error(ctx));
    gmmc_fit_options_destroy(o);
    gmmc_data_destroy(d);
    gmmc_context_destroy(ctx);
    unsetenv("GMMC_RESIDENT");
  }
  if (variants)
    setenv("GMMC_VARIANTS", variants, 1);
  else
    unsetenv("GMMC_VARIANTS");
  free(variants);
  if (m[0] && m[1]) {
    int n0, n1;
    const double *a = gmmc_model_lower_bounds(m[0], &n0), *b = gmmc_model_lower_bounds(m[1], &n1);
    int same = n0 == n1;
    for (int i = 0; same && i < n0; i++) same = a[i] == b[i];
    printf("  resident streaming, %s: %d iterations, lower bound %.12g copied, %.12g resident\n", type, n0,
           n0 ? a[n0 - 1] : 0.0, n1 ? b[n1 - 1] : 0.0);
    CHECK(same, "%s: the data resident on the GPU changed the fit's lower bounds", type);
  }
  gmmc_model_destroy(m[0]);
  gmmc_model_destroy(m[1]);
  free(g_x);
}

int main(void) {
  const char *seed = getenv("GMMC_TEST_SEED");
  rng_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
  printf("test_gpu: seed %llu (replay with GMMC_TEST_SEED)\n", (unsigned long long)rng_state);
  rng_state = rng_state * 2654435761ULL + 1;
  gmmc_context *ctx;
  gmmc_status s = gmmc_context_create(&ctx, GMMC_BACKEND_CUDA);
  if (s == GMMC_ERR_NO_DEVICE) {
    printf("skipped: %s\n", gmmc_last_error(ctx));
    gmmc_context_destroy(ctx);
    return 77;
  }
  CHECK(s == GMMC_OK, "cuda context: %s", gmmc_last_error(ctx));
  printf("device: %s\n", gmmc_context_device(ctx));
  gmmc_context_destroy(ctx);
  gmmc_context_create(&ctx, GMMC_BACKEND_AUTO);
  CHECK(gmmc_context_backend(ctx) == GMMC_BACKEND_CUDA, "GMMC_BACKEND_AUTO did not pick the GPU");
  gmmc_context_destroy(ctx);

  static const char *types[] = {"full", "diag", "spherical", "tied", "kmeans"};
  for (int t = 0; t < 5; t++) agree(types[t], 100003, 5, 4);
  agree("full", 1000003, 16, 8);
  agree("diag", 257, 3, 2);
  agree("full", 1, 1, 1);
  agree("full", 1001, 1, 1);
  agree("spherical", 3, 2, 3);
  refused_when_too_few_events();
  resident_stream("full");
  resident_stream("diag");
  kernel_cache();
  printf("test_gpu: %d failures\n", failures);
  return failures != 0;
}
