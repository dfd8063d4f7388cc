/* Helpers of the robustness tests, on top of tests/io/io_test.h (seed,
 * scratch directory, CHECK): API calls that must fail with a message holding
 * given text, models that must hold only finite values, random data. */
#ifndef GMMC_ROBUST_TEST_H
#define GMMC_ROBUST_TEST_H

#include "gmmc/gmmc.h"
#include "io/io_test.h"

/* The call's status must be `want` and gmmc_last_error(ctx) must contain
 * every one of the given substrings (NULL-terminated list). */
void rb_expect_fail(const char *file, int line, gmmc_context *ctx, gmmc_status got, gmmc_status want, ...);
#define EXPECT_FAIL(ctx, call, want, ...) rb_expect_fail(__FILE__, __LINE__, ctx, (call), want, __VA_ARGS__, NULL)
void rb_expect_ok(const char *file, int line, gmmc_context *ctx, gmmc_status got);
#define EXPECT_API_OK(ctx, call) rb_expect_ok(__FILE__, __LINE__, ctx, (call))

/* Every parameter, the lower bound(s) and the scores are finite. */
void rb_check_model_finite(const char *file, int line, const gmmc_model *m);
#define CHECK_FINITE(m) rb_check_model_finite(__FILE__, __LINE__, m)

/* A parameter value by flat index (the parameter must exist). */
double rb_param(const gmmc_model *m, const char *name, int64_t i);

/* Gaussian blobs: n events of d features around `centers` centres spaced
 * `spread` apart, unit variance; row-major, malloc'd. */
double *rb_blobs(int64_t n, int d, int centers, double spread);

/* A host context with the on-disk cache off and two threads. */
gmmc_context *rb_context(void);
/* The same on the kernel cache in cache_dir (NULL: none). */
gmmc_context *rb_cached_context(const char *cache_dir);

/* fit with the usual options; returns the status, the model in *out. */
gmmc_status rb_fit(gmmc_context *ctx, const double *x, int64_t n, int64_t d, int k, const char *cov, double reg,
                   gmmc_model **out);

#endif
