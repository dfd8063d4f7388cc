/* A damaged kernel cache is a miss, never a crash or a wrong model: every
 * entry a fit wrote (host object code, k-means and mixture programs) is cut
 * short, emptied, has a byte flipped, or is replaced by random bytes of the
 * same length; a fit on the same data then recompiles what it needs and
 * gives the model it gave the first time, bit for bit, and rewrites good
 * entries (the fit after that compiles nothing). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"

/* Fits with a fresh context on the cache; returns the lower bound and the
 * specializations compiled (not taken from the cache). */
static double fit(const char *dir, const double *x, int64_t n, int d, int *compiled) {
  gmmc_context *ctx = rb_cached_context(dir);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, n, d, 3, "full", 1e-6, &m));
  CHECK_FINITE(m);
  double lb = gmmc_model_lower_bound(m);
  gmmc_context_compile_stats(ctx, compiled, NULL, NULL);
  gmmc_model_destroy(m);
  gmmc_context_destroy(ctx);
  return lb;
}

/* Damages every file of dir the way `how` says; returns how many. */
static int damage(const char *dir, int how) {
  DIR *dd = opendir(dir);
  CHECK(dd != NULL);
  int count = 0;
  struct dirent *e;
  while ((e = readdir(dd))) {
    if (e->d_name[0] == '.') continue;
    char *path = io_fmt("%s/%s", dir, e->d_name);
    size_t n = 0;
    char *bytes = io_read(path, &n);
    switch (how) {
    case 0: n /= 2; break;                                                            /* cut short */
    case 1: n = 0; break;                                                             /* emptied */
    case 2: bytes[io_range(0, (int64_t)n - 1)] ^= (char)(1 << io_range(0, 7)); break; /* one bit */
    default:
      for (size_t i = 0; i < n; i++) bytes[i] = (char)io_rand(); /* noise */
    }
    io_write(path, bytes, n);
    free(bytes);
    count++;
  }
  closedir(dd);
  return count;
}

int main(void) {
  io_init("robust_damaged_cache");
  const int64_t n = 3000;
  const int d = 4;
  double *x = rb_blobs(n, d, 3, 8.0);
  static const char *const what[] = {"cut short", "emptied", "one bit flipped", "random bytes"};
  for (int how = 0; how < 4; how++) {
    const char *dir = io_path(io_fmt("cache%d", how));
    int compiled = 0;
    double lb = fit(dir, x, n, d, &compiled);
    CHECK(compiled >= 1);
    int files = damage(dir, how);
    CHECK(files >= 1);
    double again = fit(dir, x, n, d, &compiled);
    if (again != lb)
      io_fail(__FILE__, __LINE__, "cache entries %s: lower bound %.17g, first fit %.17g", what[how], again, lb);
    CHECK(compiled >= 1);
    CHECK(fit(dir, x, n, d, &compiled) == lb && compiled == 0);
    printf("%d cache entries %s: recompiled, same model\n", files, what[how]);
  }
  free(x);
  return io_done();
}
