/* digamma and trigamma in double for the test references (ref_eval.c,
 * simt.c, test_math.c), which libm lacks: the recurrence up to 12 and the
 * asymptotic series there, the reflection formula below 0. Relative error
 * near 1e-15 away from digamma's zero (the references need no better: the
 * accuracy test compares with long double values, see ref_digamma_l). */
#ifndef GMMC_TESTS_REF_SPECIAL_H
#define GMMC_TESTS_REF_SPECIAL_H

double ref_digamma(double x);
double ref_trigamma(double x);
/* digamma in long double, for the accuracy test: the same recurrence with
 * more terms; relative error near 1e-18 away from the zero at 1.4616... */
long double ref_digamma_l(long double x);

#endif
