/* lgamma(x) and digamma(x) written as LLVM IR functions (internal, always
 * inlined), the same code on every target; computed in float64 (the
 * float32 versions round the float64 result). Every branch is computed and
 * the right one selected, as in exp and log: no control flow.
 *
 * lgamma, for z > 0:
 *   z < 0.5          S1(z) - log z           S1(t) = lgamma(1 + t), its Taylor series at 1
 *   [0.5, 1.5)       S1(z - 1)               (coefficients (-1)^k zeta(k)/k)
 *   [1.5, 8)         S2(w - 2) + log prod    w = z - j in [1.5, 2.5), prod = (z-1)...(z-j)
 *                                            in double-double; S2(t) = lgamma(2 + t)
 *   z >= 8           Stirling's series, (z - 1/2) log z in double-double
 * The series at 1 and 2 make lgamma exact at its zeros 1 and 2.
 * digamma, for z > 0:
 *   z < 1            T(z + 1) - 1/z          T the Taylor series at the positive zero x0,
 *   [1, 2]           T(z)                    t = z - x0 with x0 in double-double
 *   z > 2            log y - 1/(2y) - sum B_2k / (2k y^2k) - sum 1/(z+i), y = z + j >= 10,
 *                    the sums in double-double
 * For x < 0 the reflection formulas, with sin(pi x) and cot(pi x) from
 * Taylor series after an exact reduction: lgamma(x) = log(pi / |sin(pi x)|)
 * - lgamma(1 - x) and digamma(x) = digamma(1 - x) - pi cot(pi x). Their
 * accuracy there is reported, not guaranteed (the zeros of lgamma below 0
 * are not treated specially).
 * Series coefficients (zeta values) are computed here in long double. */
#include <math.h>

#include "codegen.h"
#include "math_ir.h"

static const long double EULER_GAMMA = 0.577215664901532860606512090082402431L;
static const long double DIGAMMA_ZERO = 1.46163214496836234126265954232572132847L;
static const double X0_HI = 1.4616321449683622, X0_LO = 9.549995429965697e-17; /* the zero in double-double */
static const double HALF_LOG_2PI_HI = 0.9189385332046728, HALF_LOG_2PI_LO = -3.8782941580672414e-17;
static const double LOG_PI = 1.1447298858494002, PI = 3.141592653589793;

/* B_2, B_4, ..., B_24 */
static const long double BERN[12] = {1.0L / 6,       -1.0L / 30,       1.0L / 42,       -1.0L / 30,
                                     5.0L / 66,      -691.0L / 2730,   7.0L / 6,        -3617.0L / 510,
                                     43867.0L / 798, -174611.0L / 330, 854513.0L / 138, -236364091.0L / 2730};

enum { S1_TERMS = 56, S2_TERMS = 30, T_TERMS = 42, ASYM_TERMS = 12, TRIG_TERMS = 14 };

/* zeta(s, a) = sum over n >= 0 of (n + a)^-s, integer s >= 2: 40 terms, then
 * Euler-Maclaurin with 10 Bernoulli terms (error far below long double's) */
static long double hurwitz_zeta(int s, long double a) {
  const int n_direct = 40;
  long double sum = 0;
  for (int n = n_direct - 1; n >= 0; n--) sum += powl(n + a, -s);
  long double x = n_direct + a;
  sum += powl(x, 1 - s) / (s - 1) + powl(x, -s) / 2;
  long double rising = s, fact = 2;
  for (int j = 1; j <= 10; j++) {
    sum += BERN[j - 1] / fact * rising * powl(x, -s - 2 * j + 1);
    rising *= (long double)(s + 2 * j - 1) * (s + 2 * j);
    fact *= (long double)(2 * j + 1) * (2 * j + 2);
  }
  return sum;
}

/* The argument reduced for sin(pi x) and cos(pi x): u = pi r with
 * r = x - rint(x) in [-1/2, 1/2] (exact), and its Taylor series */
static LLVMValueRef sin_series(MathB *m, LLVMValueRef u) {
  double c[TRIG_TERMS];
  long double f = 1;
  for (int k = 0; k < TRIG_TERMS; k++) {
    c[k] = (double)((k % 2 ? -1 : 1) / f);
    f *= (long double)(2 * k + 2) * (2 * k + 3);
  }
  return mb_mul(m, u, mb_poly(m, mb_mul(m, u, u), c, TRIG_TERMS));
}

static LLVMValueRef cos_series(MathB *m, LLVMValueRef u) {
  double c[TRIG_TERMS];
  long double f = 1;
  for (int k = 0; k < TRIG_TERMS; k++) {
    c[k] = (double)((k % 2 ? -1 : 1) / f);
    f *= (long double)(2 * k + 1) * (2 * k + 2);
  }
  return mb_poly(m, mb_mul(m, u, u), c, TRIG_TERMS);
}

static LLVMValueRef pi_reduced(MathB *m, LLVMValueRef x) {
  return mb_mul(m, mb_sub(m, x, mb_un(m, "llvm.rint", x)), mb_c(m, PI));
}

static LLVMValueRef lt(MathB *m, LLVMValueRef a, double b) { return mb_cmp(m, LLVMRealOLT, a, mb_c(m, b)); }

/* hi + (lo + extra) as one double */
static LLVMValueRef dd_round(MathB *m, DD a, LLVMValueRef extra) { return mb_add(m, a.hi, mb_add(m, a.lo, extra)); }

/* The float32 function: the float64 one on the widened argument, rounded. */
static LLVMValueRef via_f64(LLVMModuleRef mod, LLVMTypeRef t, const char *name,
                            LLVMValueRef (*f64)(LLVMModuleRef, LLVMTypeRef)) {
  MathB m;
  LLVMValueRef fn, x;
  if (!mb_begin(&m, mod, t, name, 1, &x, &fn)) return fn;
  LLVMTypeRef d = LLVMDoubleTypeInContext(m.ctx);
  LLVMValueRef inner = f64(mod, d);
  LLVMValueRef arg = LLVMBuildFPExt(m.b, x, d, "");
  LLVMValueRef r = LLVMBuildCall2(m.b, LLVMGlobalGetValueType(inner), inner, &arg, 1, "");
  mb_end(&m, LLVMBuildFPTrunc(m.b, r, t, ""));
  return fn;
}

/* lgamma(z) for z > 0 (and finite) */
static LLVMValueRef lgamma_pos(MathB *m, LLVMValueRef z) {
  double p1[S1_TERMS], p2[S2_TERMS], q[ASYM_TERMS];
  p1[0] = (double)-EULER_GAMMA;
  p2[0] = (double)(1 - EULER_GAMMA);
  for (int k = 2; k <= S1_TERMS; k++) p1[k - 1] = (double)((k % 2 ? -1 : 1) * hurwitz_zeta(k, 1) / k);
  for (int k = 2; k <= S2_TERMS; k++) p2[k - 1] = (double)((k % 2 ? -1 : 1) * hurwitz_zeta(k, 2) / k);
  for (int k = 1; k <= ASYM_TERMS; k++) q[k - 1] = (double)(BERN[k - 1] / ((2 * k) * (2 * k - 1)));
  LLVMValueRef a_region = lt(m, z, 0.5), b_region = lt(m, z, 1.5), d_region = lt(m, z, 8.0);
  LLVMValueRef t1 = mb_sel(m, a_region, z, mb_sub(m, z, mb_c(m, 1.0)));
  LLVMValueRef s1 = mb_mul(m, t1, mb_poly(m, t1, p1, S1_TERMS));
  /* down to w in [1.5, 2.5): 6 steps reach it from below 8 */
  LLVMValueRef w = z;
  DD prod = {mb_c(m, 1.0), mb_c(m, 0.0)};
  for (int i = 0; i < 6; i++) {
    LLVMValueRef step = LLVMBuildAnd(m->b, mb_cmp(m, LLVMRealOGE, w, mb_c(m, 2.5)), d_region, "");
    LLVMValueRef w1 = mb_sub(m, w, mb_c(m, 1.0));
    DD p = dd_mul_d(m, prod, w1);
    w = mb_sel(m, step, w1, w);
    prod.hi = mb_sel(m, step, p.hi, prod.hi);
    prod.lo = mb_sel(m, step, p.lo, prod.lo);
  }
  LLVMValueRef t2 = mb_sub(m, w, mb_c(m, 2.0));
  LLVMValueRef s2 = mb_mul(m, t2, mb_poly(m, t2, p2, S2_TERMS));
  /* one logarithm: of z (z < 0.5, z >= 8) or of prod */
  LLVMValueRef use_z = LLVMBuildOr(m->b, a_region, LLVMBuildNot(m->b, d_region, ""), "");
  DD l = math_log_dd(m, mb_sel(m, use_z, z, prod.hi));
  l.lo = mb_add(m, l.lo, mb_sel(m, use_z, mb_c(m, 0.0), mb_div(m, prod.lo, prod.hi)));
  DD ra = dd_two_sum(m, s1, LLVMBuildFNeg(m->b, l.hi, ""));
  LLVMValueRef res_a = mb_sub(m, ra.hi, mb_sub(m, l.lo, ra.lo));
  LLVMValueRef res_d = dd_round(m, dd_two_sum(m, s2, l.hi), l.lo);
  /* Stirling: (z - 1/2) log z - z + log(2 pi)/2 + sum B_2k / (2k (2k-1) z^(2k-1)) */
  LLVMValueRef huge = mb_cmp(m, LLVMRealOGT, z, mb_c(m, 0x1p990));
  LLVMValueRef a = mb_sub(m, z, mb_c(m, 0.5));
  LLVMValueRef as = mb_sel(m, huge, mb_c(m, 0.0), a);
  DD p = dd_two_prod(m, as, l.hi);
  LLVMValueRef pl = mb_add(m, p.lo, mb_mul(m, as, l.lo));
  DD e1 = dd_two_sum(m, p.hi, LLVMBuildFNeg(m->b, z, ""));
  DD e2 = dd_two_sum(m, e1.hi, mb_c(m, HALF_LOG_2PI_HI));
  LLVMValueRef iz = mb_div(m, mb_c(m, 1.0), z);
  LLVMValueRef series = mb_mul(m, iz, mb_poly(m, mb_mul(m, iz, iz), q, ASYM_TERMS));
  LLVMValueRef tail = mb_add(m, mb_add(m, e1.lo, pl), mb_add(m, mb_c(m, HALF_LOG_2PI_LO), series));
  LLVMValueRef res_e = dd_round(m, e2, tail);
  /* beyond 2^990 the result is about z (log z - 1): rounding it is enough */
  res_e = mb_sel(m, huge, mb_mul(m, z, mb_sub(m, l.hi, mb_c(m, 1.0))), res_e);
  LLVMValueRef res = mb_sel(m, d_region, res_d, res_e);
  res = mb_sel(m, b_region, s1, res);
  /* + 0: lgamma(1) and lgamma(2) are +0, not the series' -0 */
  return mb_add(m, mb_sel(m, a_region, res_a, res), mb_c(m, 0.0));
}

/* The argument the positive-side series take: 1 - x for x < 0 (the
 * reflection formulas), x otherwise, and 1 where that is not a positive
 * finite number (the caller's special cases replace the result there). */
static LLVMValueRef reflected(MathB *m, LLVMValueRef x, LLVMValueRef *neg) {
  *neg = lt(m, x, 0.0);
  LLVMValueRef finite = mb_cmp(m, LLVMRealOLT, mb_un(m, "llvm.fabs", x), mb_c(m, INFINITY));
  LLVMValueRef z = mb_sel(m, *neg, mb_sub(m, mb_c(m, 1.0), x), x);
  return mb_sel(m, LLVMBuildAnd(m->b, finite, mb_cmp(m, LLVMRealOGT, z, mb_c(m, 0.0)), ""), z, mb_c(m, 1.0));
}

LLVMValueRef math_lgamma_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  if (LLVMGetTypeKind(t) != LLVMDoubleTypeKind) return via_f64(mod, t, "gmmc.lgamma.f32", math_lgamma_fn);
  MathB mm, *m = &mm;
  LLVMValueRef fn, x;
  if (!mb_begin(m, mod, t, "gmmc.lgamma.f64", 1, &x, &fn)) return fn;
  LLVMValueRef neg, z = reflected(m, x, &neg), inf = mb_c(m, INFINITY);
  LLVMValueRef pos = lgamma_pos(m, z);
  /* x < 0: log(pi / |sin(pi x)|) - lgamma(1 - x) */
  LLVMValueRef sn = mb_un(m, "llvm.fabs", sin_series(m, pi_reduced(m, x)));
  DD ls = math_log_dd(m, mb_sel(m, neg, sn, mb_c(m, 1.0)));
  LLVMValueRef res_neg = mb_sub(m, mb_sub(m, mb_sub(m, mb_c(m, LOG_PI), ls.hi), ls.lo), pos);
  LLVMValueRef res = mb_sel(m, neg, res_neg, pos);
  /* poles at 0 and the negative integers (and -inf): +inf; +inf: +inf */
  LLVMValueRef pole = LLVMBuildAnd(m->b, mb_cmp(m, LLVMRealOLE, x, mb_c(m, 0.0)),
                                   mb_cmp(m, LLVMRealOEQ, mb_un(m, "llvm.rint", x), x), "");
  res = mb_sel(m, LLVMBuildOr(m->b, pole, mb_cmp(m, LLVMRealOEQ, x, inf), ""), inf, res);
  res = mb_sel(m, mb_cmp(m, LLVMRealUNO, x, x), x, res);
  mb_end(m, res);
  return fn;
}

/* digamma(z) for z > 0 (and finite) */
static LLVMValueRef digamma_pos(MathB *m, LLVMValueRef z) {
  double c[T_TERMS], r[ASYM_TERMS];
  for (int k = 1; k <= T_TERMS; k++) c[k - 1] = (double)((k % 2 ? 1 : -1) * hurwitz_zeta(k + 1, DIGAMMA_ZERO));
  for (int k = 1; k <= ASYM_TERMS; k++) r[k - 1] = (double)(BERN[k - 1] / (2 * k));
  LLVMValueRef s_region = lt(m, z, 1.0), t_region = mb_cmp(m, LLVMRealOLE, z, mb_c(m, 2.0));
  /* t = z - x0 (z in [1, 2]: the first subtraction is exact) or z + 1 - x0 */
  LLVMValueRef tt = mb_sub(m, mb_sub(m, z, mb_c(m, X0_HI)), mb_c(m, X0_LO));
  DD ts = dd_two_sum(m, z, mb_c(m, 1.0 - X0_HI));
  LLVMValueRef t = mb_sel(m, s_region, mb_add(m, ts.hi, mb_sub(m, ts.lo, mb_c(m, X0_LO))), tt);
  LLVMValueRef taylor = mb_mul(m, t, mb_poly(m, t, c, T_TERMS));
  LLVMValueRef zs = mb_sel(m, s_region, z, mb_c(m, 1.0));
  DD inv = dd_recip(m, zs, 1.0);
  DD rs = dd_two_sum(m, taylor, LLVMBuildFNeg(m->b, inv.hi, ""));
  LLVMValueRef res_s = mb_sub(m, rs.hi, mb_sub(m, inv.lo, rs.lo));
  /* very small z: -1/z is all there is (and 1/z may overflow) */
  res_s = mb_sel(m, lt(m, z, 0x1p-900), LLVMBuildFNeg(m->b, mb_div(m, mb_c(m, 1.0), z), ""), res_s);
  /* up to y >= 10: 8 steps reach it from above 2; y + 1 may round when it
   * crosses a power of 2, so y is y + yl, its first-order terms below */
  LLVMValueRef y = mb_sel(m, t_region, mb_c(m, 10.0), z), yl = mb_c(m, 0.0);
  DD acc = {mb_c(m, 0.0), mb_c(m, 0.0)};
  for (int i = 0; i < 8; i++) {
    LLVMValueRef step = lt(m, y, 10.0);
    DD q = dd_recip(m, y, 1.0);
    q.lo = mb_sub(m, q.lo, mb_mul(m, yl, mb_mul(m, q.hi, q.hi)));
    DD s = dd_two_sum(m, acc.hi, q.hi);
    DD n = dd_fast_two_sum(m, s.hi, mb_add(m, s.lo, mb_add(m, acc.lo, q.lo)));
    acc.hi = mb_sel(m, step, n.hi, acc.hi);
    acc.lo = mb_sel(m, step, n.lo, acc.lo);
    DD y1 = dd_fast_two_sum(m, y, mb_c(m, 1.0));
    y = mb_sel(m, step, y1.hi, y);
    yl = mb_sel(m, step, mb_add(m, yl, y1.lo), yl);
  }
  LLVMValueRef huge = mb_cmp(m, LLVMRealOGT, y, mb_c(m, 0x1p900));
  LLVMValueRef ys = mb_sel(m, huge, mb_c(m, 10.0), y);
  DD l = math_log_dd(m, y);
  DD h = dd_recip(m, ys, 0.5);
  l.lo = mb_add(m, l.lo, mb_div(m, yl, ys));
  h.lo = mb_sub(m, h.lo, mb_mul(m, mb_mul(m, yl, h.hi), mb_div(m, mb_c(m, 2.0), ys)));
  LLVMValueRef iy = mb_div(m, mb_c(m, 1.0), ys), w = mb_mul(m, iy, iy);
  LLVMValueRef series = mb_mul(m, w, mb_poly(m, w, r, ASYM_TERMS));
  DD h1 = dd_two_sum(m, l.hi, LLVMBuildFNeg(m->b, h.hi, ""));
  DD h2 = dd_two_sum(m, h1.hi, LLVMBuildFNeg(m->b, acc.hi, ""));
  LLVMValueRef tail = mb_add(m, h1.lo, mb_sub(m, l.lo, mb_add(m, h.lo, series)));
  LLVMValueRef res_a = mb_sub(m, dd_round(m, h2, tail), mb_sel(m, huge, mb_c(m, 0.0), acc.lo));
  res_a = mb_sel(m, huge, l.hi, res_a); /* log y - 1/(2y) rounds to log y */
  LLVMValueRef res = mb_sel(m, t_region, taylor, res_a);
  return mb_sel(m, s_region, res_s, res);
}

LLVMValueRef math_digamma_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  if (LLVMGetTypeKind(t) != LLVMDoubleTypeKind) return via_f64(mod, t, "gmmc.digamma.f32", math_digamma_fn);
  MathB mm, *m = &mm;
  LLVMValueRef fn, x;
  if (!mb_begin(m, mod, t, "gmmc.digamma.f64", 1, &x, &fn)) return fn;
  LLVMValueRef neg, z = reflected(m, x, &neg), inf = mb_c(m, INFINITY);
  LLVMValueRef pos = digamma_pos(m, z);
  /* x < 0: digamma(1 - x) - pi cot(pi x) */
  LLVMValueRef u = pi_reduced(m, x);
  LLVMValueRef cot = mb_div(m, cos_series(m, u), sin_series(m, u));
  LLVMValueRef res = mb_sel(m, neg, mb_sub(m, pos, mb_mul(m, mb_c(m, PI), cot)), pos);
  /* poles at 0 and the negative integers (-inf too): NaN; +inf: +inf */
  LLVMValueRef pole = LLVMBuildAnd(m->b, mb_cmp(m, LLVMRealOLE, x, mb_c(m, 0.0)),
                                   mb_cmp(m, LLVMRealOEQ, mb_un(m, "llvm.rint", x), x), "");
  res = mb_sel(m, pole, mb_c(m, NAN), res);
  res = mb_sel(m, mb_cmp(m, LLVMRealOEQ, x, inf), inf, res);
  res = mb_sel(m, mb_cmp(m, LLVMRealUNO, x, x), x, res);
  mb_end(m, res);
  return fn;
}
