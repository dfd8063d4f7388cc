/* A cold program on the host compiles its simple kernels first and its other
 * variants on a thread of their own while those run
 * (runtime/device/backend_host.c). Checked here, each with a fresh cache:
 * - a cold fit gives the model a fit from the cache gives, bit for bit (the
 *   host's variants give the simple kernels' bits, docs/limits.md), and
 *   that second fit compiles nothing: the cache holds every kernel, those
 *   compiled in the background included;
 * - a cold predict, which runs the simple kernels only and never waits for
 *   the others, leaves the whole program in the cache when its context goes
 *   away (the context waits for the background thread), and a predict from
 *   that cache gives the same labels and compiles nothing;
 * - a context destroyed right after a cold compile, nothing run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"

/* A fit in a fresh context on the cache: the model, and the programs compiled. */
static gmmc_model *fit(const char *dir, const double *x, int64_t n, int d, int k, const char *cov, int *compiled) {
  gmmc_context *ctx = rb_cached_context(dir);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, k, cov, 1e-6, &m));
  CHECK_FINITE(m);
  gmmc_context_compile_stats(ctx, compiled, NULL, NULL);
  gmmc_context_destroy(ctx);
  return m;
}

/* Labels of x under m in a fresh context on the cache (malloc'd). */
static int32_t *predict(const char *dir, const gmmc_model *m, const double *x, int64_t n, int d, int *compiled) {
  gmmc_context *ctx = rb_cached_context(dir);
  gmmc_data *data = NULL;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
  int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
  CHECK(labels != NULL);
  EXPECT_API_OK(ctx, gmmc_predict(ctx, m, data, labels, n));
  gmmc_data_destroy(data);
  gmmc_context_compile_stats(ctx, compiled, NULL, NULL);
  gmmc_context_destroy(ctx);
  return labels;
}

static void same_models(const gmmc_model *a, const gmmc_model *b, const char *what, int k, int d) {
  if (gmmc_model_lower_bound(a) != gmmc_model_lower_bound(b))
    io_fail(__FILE__, __LINE__, "%s: lower bound %.17g against %.17g", what, gmmc_model_lower_bound(b),
            gmmc_model_lower_bound(a));
  for (int64_t i = 0; i < (int64_t)k * d; i++)
    if (rb_param(a, "means", i) != rb_param(b, "means", i))
      io_fail(__FILE__, __LINE__, "%s: means[%lld] %.17g against %.17g", what, (long long)i, rb_param(b, "means", i),
              rb_param(a, "means", i));
}

int main(void) {
  io_init("robust_background_compile");
  const int64_t n = 4000;
  const int d = 5, k = 4;
  double *x = rb_blobs(n, d, k, 6.0);
  static const char *const covs[] = {"full", "diag"};
  for (int c = 0; c < 2; c++) {
    const char *dir = io_path(io_fmt("fit-%s", covs[c]));
    int compiled = 0, again = 0;
    gmmc_model *cold = fit(dir, x, n, d, k, covs[c], &compiled);
    CHECK(compiled >= 1);
    gmmc_model *warm = fit(dir, x, n, d, k, covs[c], &again);
    if (again != 0) io_fail(__FILE__, __LINE__, "%s: the fit from the cache compiled %d programs", covs[c], again);
    same_models(cold, warm, covs[c], k, d);
    printf("%s: cold fit (%d programs compiled) and cached fit give the same model\n", covs[c], compiled);

    const char *pdir = io_path(io_fmt("predict-%s", covs[c]));
    int32_t *first = predict(pdir, cold, x, n, d, &compiled);
    CHECK(compiled >= 1);
    int32_t *second = predict(pdir, cold, x, n, d, &again);
    if (again != 0) io_fail(__FILE__, __LINE__, "%s: the predict from the cache compiled %d programs", covs[c], again);
    for (int64_t i = 0; i < n; i++)
      if (first[i] != second[i])
        io_fail(__FILE__, __LINE__, "%s: label %lld is %d from the cache, %d cold", covs[c], (long long)i, second[i],
                first[i]);
    printf("%s: cold predict left the whole program in the cache\n", covs[c]);
    free(first);
    free(second);
    gmmc_model_destroy(warm);
    gmmc_model_destroy(cold);
  }

  /* compiled and dropped at once: the context waits for the thread */
  gmmc_context *ctx = rb_cached_context(io_path("dropped"));
  gmmc_model *m = NULL;
  gmmc_fit_options *o = NULL;
  CHECK(gmmc_fit_options_create(&o) == GMMC_OK);
  gmmc_fit_options_set_n_components(o, k);
  gmmc_fit_options_set_max_iter(o, 0);
  gmmc_data *data = NULL;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
  gmmc_status s = gmmc_fit(ctx, data, o, &m);
  printf("fit with max_iter 0: status %d\n", (int)s);
  gmmc_model_destroy(m);
  gmmc_data_destroy(data);
  gmmc_fit_options_destroy(o);
  gmmc_context_destroy(ctx);
  printf("context destroyed while its variants compiled\n");
  free(x);
  return io_done();
}
