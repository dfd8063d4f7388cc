/* See ref_special.h. */
#include "ref_special.h"

#include <math.h>

long double ref_digamma_l(long double x) {
  if (isnan(x)) return x;
  if (x <= 0 && x == floorl(x)) return NAN;
  if (x < 0) {
    long double r = x - roundl(x);
    return ref_digamma_l(1 - x) -
           3.14159265358979323846264338327950288L / tanl(3.14159265358979323846264338327950288L * r);
  }
  long double acc = 0;
  while (x < 20) {
    acc += 1 / x;
    x += 1;
  }
  /* log x - 1/(2x) - sum B_2k / (2k x^2k), k = 1..8 */
  static const long double c[] = {1.0L / 12,  -1.0L / 120,     1.0L / 252, -1.0L / 240,
                                  1.0L / 132, -691.0L / 32760, 1.0L / 12,  -3617.0L / 8160};
  long double w = 1 / (x * x), s = 0;
  for (int k = 7; k >= 0; k--) s = s * w + c[k];
  return logl(x) - 0.5L / x - w * s - acc;
}

double ref_digamma(double x) { return (double)ref_digamma_l(x); }

double ref_trigamma(double x) {
  if (x <= 0 && x == floor(x)) return INFINITY;
  if (x < 0) {
    double s = sin(3.141592653589793 * x);
    return -ref_trigamma(1 - x) + 9.869604401089358 / (s * s);
  }
  double acc = 0;
  while (x < 12) {
    acc += 1 / (x * x);
    x += 1;
  }
  /* 1/x + 1/(2x^2) + sum B_2k / x^(2k+1) */
  double w = 1 / (x * x);
  return acc + 1 / x + 0.5 * w + w / x * (1.0 / 6 - w * (1.0 / 30 - w * (1.0 / 42 - w / 30)));
}
