/* Shared by the streaming and MPI tests: fresh mixture data from a printed
 * seed, and the comparison of two fitted models (the lower bound of every
 * iteration, every parameter). Header-only: each test is one program. */
#ifndef GMMC_TEST_FIT_COMPARE_H
#define GMMC_TEST_FIT_COMPARE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "covariance_condition.h"
#include "gmmc/gmmc.h"

static uint64_t tc_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double tc_uniform(uint64_t *s) { return (double)(tc_next(s) >> 11) * 0x1.0p-53; }
static double tc_normal(uint64_t *s) {
  double u = tc_uniform(s) + 0x1.0p-54, v = tc_uniform(s);
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* GMMC_TEST_SEED, else a fresh one; printed so that a run can be replayed. */
static uint64_t tc_seed(void) {
  const char *e = getenv("GMMC_TEST_SEED");
  uint64_t s = e && *e ? strtoull(e, NULL, 10) : ((uint64_t)time(NULL) * 1000003u) % 1000000007u;
  return s;
}

/* n events of a mixture of m Gaussians in d dimensions (random centers,
 * scales and correlations), row-major. */
static void tc_mixture(uint64_t seed, int64_t n, int d, int m, double *x) {
  uint64_t s = seed;
  double *c = malloc(sizeof(double) * (size_t)(m * d)), *a = malloc(sizeof(double) * (size_t)(m * d * d));
  for (int k = 0; k < m * d; k++) c[k] = 6 * tc_normal(&s);
  for (int k = 0; k < m * d * d; k++) a[k] = (k % (d * d)) % (d + 1) == 0 ? 0.5 + tc_uniform(&s) : 0.3 * tc_normal(&s);
  for (int64_t i = 0; i < n; i++) {
    int k = (int)(tc_next(&s) % (uint64_t)m);
    double z[64];
    for (int j = 0; j < d; j++) z[j] = tc_normal(&s);
    for (int j = 0; j < d; j++) {
      double v = c[k * d + j];
      for (int l = 0; l < d; l++) v += a[(k * d + j) * d + l] * z[l];
      x[i * d + j] = v;
    }
  }
  free(c);
  free(a);
}

/* The largest condition number of a fitted model's covariances
 * (covariance_condition.h; 1 for a model without covariances). */
static inline double tc_condition(const gmmc_model *m, const char *cov) {
  int rank;
  const int64_t *shape;
  const double *v = gmmc_model_param(m, "covariances", &rank, &shape);
  if (!v) return 1;
  int64_t n = 1;
  for (int k = 0; k < rank; k++) n *= shape[k];
  int k = strcmp(cov, "tied") == 0 ? 1 : (int)shape[0];
  return covariance_condition(v, n, k, cov);
}

/* 0 when every lower bound agrees within lb_tol (relative) and every
 * parameter within par_tol (relative to the array's largest magnitude);
 * else prints what differs and returns the number of differences. */
static int tc_compare(const gmmc_model *a, const gmmc_model *b, double lb_tol, double par_tol, const char *what) {
  int bad = 0, na, nb;
  const double *la = gmmc_model_lower_bounds(a, &na), *lb = gmmc_model_lower_bounds(b, &nb);
  if (na != nb) {
    printf("  FAIL %s: %d iterations against %d\n", what, na, nb);
    return 1;
  }
  double worst = 0;
  for (int i = 0; i < na; i++) {
    double r = fabs(la[i] - lb[i]) / fmax(fabs(la[i]), 1e-300);
    if (r > worst) worst = r;
    if (r > lb_tol && bad++ < 3)
      printf("  FAIL %s: lower bound of iteration %d: %.17g against %.17g (relative %.2e)\n", what, i + 1, la[i], lb[i],
             r);
  }
  int np;
  const char *const *names = gmmc_model_param_names(a, &np);
  double pworst = 0;
  for (int p = 0; p < np; p++) {
    int ra, rb;
    const int64_t *sa, *sb;
    const double *va = gmmc_model_param(a, names[p], &ra, &sa), *vb = gmmc_model_param(b, names[p], &rb, &sb);
    if (!vb || ra != rb) {
      printf("  FAIL %s: parameter %s missing or of another rank\n", what, names[p]);
      bad++;
      continue;
    }
    int64_t n = 1;
    for (int k = 0; k < ra; k++) n *= sa[k];
    double scale = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(va[i]));
    for (int64_t i = 0; i < n; i++) {
      double r = fabs(va[i] - vb[i]) / fmax(scale, 1e-300);
      if (r > pworst) pworst = r;
      if (r > par_tol && bad++ < 6)
        printf("  FAIL %s: %s[%lld] = %.17g against %.17g (relative to its largest value %.2e)\n", what, names[p],
               (long long)i, va[i], vb[i], r);
    }
  }
  printf("  %-40s %2d iterations, lower bounds within %.1e, parameters within %.1e (allowed %.1e, %.1e)%s\n", what, na,
         worst, pworst, lb_tol, par_tol, bad ? "  <-- FAIL" : "");
  return bad;
}

#endif
