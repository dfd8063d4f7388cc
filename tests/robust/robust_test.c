/* Helpers of the robustness tests (robust_test.h). */
#include "robust_test.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rb_expect_fail(const char *file, int line, gmmc_context *ctx, gmmc_status got, gmmc_status want, ...) {
  const char *msg = gmmc_last_error(ctx);
  if (got != want) io_fail(file, line, "expected %s, got %s: %s", gmmc_status_name(want), gmmc_status_name(got), msg);
  va_list ap;
  va_start(ap, want);
  for (const char *s; (s = va_arg(ap, const char *));)
    if (!strstr(msg, s)) io_fail(file, line, "the message '%s' lacks '%s'", msg, s);
  va_end(ap);
  printf("  ok: %s: %s\n", gmmc_status_name(got), msg);
}

void rb_expect_ok(const char *file, int line, gmmc_context *ctx, gmmc_status got) {
  if (got != GMMC_OK) io_fail(file, line, "failed with %s: %s", gmmc_status_name(got), gmmc_last_error(ctx));
}

void rb_check_model_finite(const char *file, int line, const gmmc_model *m) {
  if (!m) io_fail(file, line, "no model");
  int n;
  const char *const *names = gmmc_model_param_names(m, &n);
  for (int i = 0; i < n; i++) {
    int rank;
    const int64_t *shape;
    const double *v = gmmc_model_param(m, names[i], &rank, &shape);
    int64_t count = 1;
    for (int a = 0; a < rank; a++) count *= shape[a];
    for (int64_t k = 0; k < count; k++)
      if (!isfinite(v[k])) io_fail(file, line, "parameter '%s'[%lld] is %g", names[i], (long long)k, v[k]);
  }
  if (!isfinite(gmmc_model_lower_bound(m))) io_fail(file, line, "lower bound %g", gmmc_model_lower_bound(m));
  int nlb;
  const double *lb = gmmc_model_lower_bounds(m, &nlb);
  for (int i = 0; i < nlb; i++)
    if (!isfinite(lb[i])) io_fail(file, line, "lower_bounds[%d] = %g", i, lb[i]);
}

double rb_param(const gmmc_model *m, const char *name, int64_t i) {
  int rank;
  const int64_t *shape;
  const double *v = gmmc_model_param(m, name, &rank, &shape);
  if (!v) io_fail(__FILE__, __LINE__, "the model has no parameter '%s'", name);
  return v[i];
}

double *rb_blobs(int64_t n, int d, int centers, double spread) {
  double *x = malloc(sizeof(double) * (size_t)(n * d));
  for (int64_t i = 0; i < n; i++) {
    int c = (int)(i % centers);
    for (int j = 0; j < d; j++) x[i * d + j] = (j == c % d ? spread * c : 0) + io_normal();
  }
  return x;
}

gmmc_context *rb_cached_context(const char *cache_dir) {
  gmmc_context *ctx = NULL;
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST) != GMMC_OK)
    io_fail(__FILE__, __LINE__, "no host context: %s", gmmc_last_error(ctx));
  gmmc_context_set_cache_dir(ctx, cache_dir);
  gmmc_context_set_threads(ctx, 2);
  return ctx;
}

gmmc_context *rb_context(void) { return rb_cached_context(NULL); }

gmmc_status rb_fit(gmmc_context *ctx, const double *x, int64_t n, int64_t d, int k, const char *cov, double reg,
                   gmmc_model **out) {
  gmmc_data *data = NULL;
  gmmc_status s = gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data);
  if (s) return s;
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, k);
  gmmc_fit_options_set_covariance_type(o, cov);
  gmmc_fit_options_set_reg_covar(o, reg);
  gmmc_fit_options_set_seed(o, io_seed());
  *out = NULL;
  s = gmmc_fit(ctx, data, o, out);
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(data);
  return s;
}
