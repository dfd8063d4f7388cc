/* The condition number that the tests' derived tolerances scale with:
 * header-only, shared by the scikit-learn agreement and the streaming test. */
#ifndef GMMC_TEST_COVARIANCE_CONDITION_H
#define GMMC_TEST_COVARIANCE_CONDITION_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest condition number of the covariance matrices (full: [k, d, d];
 * tied: [d, d]; diag and spherical: ratio of extreme variances). */
static inline double covariance_condition(const double *c, int64_t count, int k, const char *type) {
  if (strcmp(type, "full") == 0 || strcmp(type, "tied") == 0) {
    int mats = strcmp(type, "full") == 0 ? k : 1;
    int d = (int)lround(sqrt((double)(count / mats)));
    double worst = 1, *a = malloc(sizeof(double) * (size_t)(d * d));
    for (int m = 0; m < mats; m++) {
      /* extreme eigenvalues by Jacobi rotations: small matrices, exact enough */
      memcpy(a, c + (size_t)m * d * d, sizeof(double) * (size_t)(d * d));
      for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0;
        for (int p = 0; p < d; p++)
          for (int q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
        if (off < 1e-30) break;
        for (int p = 0; p < d; p++)
          for (int q = p + 1; q < d; q++) {
            if (fabs(a[p * d + q]) < 1e-300) continue;
            double th = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q]);
            double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1)), cs = 1 / sqrt(t * t + 1), sn = t * cs;
            for (int r = 0; r < d; r++) {
              double x = a[r * d + p], y = a[r * d + q];
              a[r * d + p] = cs * x - sn * y;
              a[r * d + q] = sn * x + cs * y;
            }
            for (int r = 0; r < d; r++) {
              double x = a[p * d + r], y = a[q * d + r];
              a[p * d + r] = cs * x - sn * y;
              a[q * d + r] = sn * x + cs * y;
            }
          }
      }
      double lo = INFINITY, hi = 0;
      for (int i = 0; i < d; i++) {
        lo = fmin(lo, fabs(a[i * d + i]));
        hi = fmax(hi, fabs(a[i * d + i]));
      }
      worst = fmax(worst, hi / lo);
    }
    free(a);
    return worst;
  }
  double lo = INFINITY, hi = 0;
  for (int64_t i = 0; i < count; i++) {
    lo = fmin(lo, c[i]);
    hi = fmax(hi, c[i]);
  }
  return hi / lo;
}

#endif
