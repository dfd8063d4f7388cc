/* Accuracy of the generated log1p, pow, lgamma and digamma
 * (compiler/math_pow.c, math_gamma.c), as test_math.c measures exp and log:
 * a small spec whose statements apply them to data, lowered for the host,
 * optimized and JIT-compiled like any other, run on random arguments in the
 * ranges below and compared with a reference in binary128 (libquadmath's
 * log1pq, powq, lgammaq and a digamma of ref_digamma_q's recurrence) where
 * the compiler has it, else long double (libm's log1pl, powl, lgammal and
 * ref_special.c's digamma, whose error near digamma's zero is then larger
 * than the float64 target: that range is reported only without quadmath).
 *
 * Error in ulps of the result type at the exact result, as in test_math.c.
 * Asserted: at most 2 ulp for float32 and 4 ulp for float64 in the ranges
 * marked 1; negative arguments of lgamma and digamma are reported only (the
 * reflection formula loses accuracy near their zeros and poles; docs/dsl.md).
 * Special values are checked exactly. The measured maxima are printed
 * (docs/dsl.md quotes them). GMMC_TEST_SEED=N replays a run. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "codegen/ref_special.h"

#ifdef GMMC_HAVE_QUADMATH
#include <quadmath.h>
typedef __float128 Ref;
static Ref r_log1p(Ref x) { return log1pq(x); }
static Ref r_pow(Ref x, Ref y) { return powq(x, y); }
static Ref r_lgamma(Ref x) { return lgammaq(x); }
/* digamma: recurrence up to 40, then 12 terms of the asymptotic series */
static Ref r_digamma(Ref x) {
  if (x < 0) {
    Ref r = x - roundq(x);
    return r_digamma(1 - x) - M_PIq / tanq(M_PIq * r);
  }
  Ref acc = 0;
  while (x < 40) {
    acc += 1 / x;
    x += 1;
  }
  static const double num[] = {1, -1, 1, -1, 5, -691, 7, -3617, 43867, -174611, 854513, -236364091};
  static const double den[] = {6, 30, 42, 30, 66, 2730, 6, 510, 798, 330, 138, 2730};
  Ref w = 1 / (x * x), s = 0, p = w;
  for (int k = 1; k <= 12; k++, p *= w) s += (Ref)num[k - 1] / den[k - 1] / (2 * k) * p;
  return logq(x) - 1 / (2 * x) - s - acc;
}
static long double to_ld(Ref v) { return (long double)v; }
#define REF_NAME "binary128 (libquadmath)"
#else
typedef long double Ref;
static Ref r_log1p(Ref x) { return log1pl(x); }
static Ref r_pow(Ref x, Ref y) { return powl(x, y); }
static Ref r_lgamma(Ref x) { return lgammal(x); }
static Ref r_digamma(Ref x) { return ref_digamma_l(x); }
static long double to_ld(Ref v) { return v; }
#define REF_NAME "long double (libm)"
#endif

static const char spec_text[] = "gmmc: 1\n"
                                "model: mathtest\n"
                                "sizes: [N, D]\n"
                                "indices: {n: N, d: D}\n"
                                "data:\n"
                                "  X: [N, D]\n"
                                "  Y: [N, D]\n"
                                "estep:\n"
                                "  - A[n,d] = log1p(X[n,d])\n"
                                "  - B[n,d] = lgamma(X[n,d])\n"
                                "  - C[n,d] = digamma(X[n,d])\n"
                                "  - P[n,d] = pow(X[n,d], Y[n,d])\n"
                                "  - obj = sum(n, sum(d, A[n,d]))\n"
                                "outputs:\n"
                                "  objective: obj\n";

typedef enum { FN_LOG1P, FN_LGAMMA, FN_DIGAMMA, FN_POW, FN_COUNT } Fn;
static const char *const STMT[FN_COUNT] = {"A", "B", "C", "P"};

typedef enum { GEN_UNIFORM, GEN_LOG_UNIFORM, GEN_NEG_LOG_UNIFORM, GEN_INT } Gen;

typedef struct {
  const char *what;
  Fn fn;
  Gen gen;
  double lo, hi; /* uniform: [lo, hi]; log-uniform: [10^lo, 10^hi]; negative: -[10^lo, 10^hi] */
  Gen ygen;      /* pow's exponent */
  double ylo, yhi;
  int asserted; /* part of the accuracy requirement (else reported only) */
} Range;

#define X0 1.4616321449683622

static const Range ranges32[] = {
    {"log1p (0, 1e38] log-uniform", FN_LOG1P, GEN_LOG_UNIFORM, -45, 38, 0, 0, 0, 1},
    {"log1p [-1e-45, -0.5] log-uniform", FN_LOG1P, GEN_NEG_LOG_UNIFORM, -45, -0.302, 0, 0, 0, 1},
    {"log1p [-1, -0.5]", FN_LOG1P, GEN_UNIFORM, -1, -0.5, 0, 0, 0, 1},
    {"pow x in [1e-3, 1e3], y in [-12, 12]", FN_POW, GEN_LOG_UNIFORM, -3, 3, GEN_UNIFORM, -12, 12, 1},
    {"pow x in [0.5, 2], y in [-125, 125]", FN_POW, GEN_UNIFORM, 0.5, 2, GEN_UNIFORM, -125, 125, 1},
    {"pow x in [-10, -0.1], integer y in [-30, 30]", FN_POW, GEN_UNIFORM, -10, -0.1, GEN_INT, -30, 30, 1},
    {"lgamma (0, 0.5) log-uniform", FN_LGAMMA, GEN_LOG_UNIFORM, -45, -0.302, 0, 0, 0, 1},
    {"lgamma [0.5, 3]", FN_LGAMMA, GEN_UNIFORM, 0.5, 3, 0, 0, 0, 1},
    {"lgamma near 1: 1 + [-1e-3, 1e-3]", FN_LGAMMA, GEN_UNIFORM, 1 - 1e-3, 1 + 1e-3, 0, 0, 0, 1},
    {"lgamma near 2: 2 + [-1e-3, 1e-3]", FN_LGAMMA, GEN_UNIFORM, 2 - 1e-3, 2 + 1e-3, 0, 0, 0, 1},
    {"lgamma [3, 40]", FN_LGAMMA, GEN_UNIFORM, 3, 40, 0, 0, 0, 1},
    {"lgamma [40, 4e36] log-uniform", FN_LGAMMA, GEN_LOG_UNIFORM, 1.6, 36.6, 0, 0, 0, 1},
    {"lgamma (-40, 0) (reported)", FN_LGAMMA, GEN_UNIFORM, -40, 0, 0, 0, 0, 0},
    {"digamma (0, 1) log-uniform", FN_DIGAMMA, GEN_LOG_UNIFORM, -37.9, 0, 0, 0, 0, 1},
    {"digamma [1, 2]", FN_DIGAMMA, GEN_UNIFORM, 1, 2, 0, 0, 0, 1},
    {"digamma near its zero: x0 + [-1e-3, 1e-3]", FN_DIGAMMA, GEN_UNIFORM, X0 - 1e-3, X0 + 1e-3, 0, 0, 0, 1},
    {"digamma [2, 40]", FN_DIGAMMA, GEN_UNIFORM, 2, 40, 0, 0, 0, 1},
    {"digamma [40, 1e38] log-uniform", FN_DIGAMMA, GEN_LOG_UNIFORM, 1.6, 38, 0, 0, 0, 1},
    {"digamma (-40, 0) (reported)", FN_DIGAMMA, GEN_UNIFORM, -40, 0, 0, 0, 0, 0},
};

static const Range ranges64[] = {
    {"log1p (0, 1e300] log-uniform", FN_LOG1P, GEN_LOG_UNIFORM, -320, 300, 0, 0, 0, 1},
    {"log1p [-1e-320, -0.5] log-uniform", FN_LOG1P, GEN_NEG_LOG_UNIFORM, -320, -0.302, 0, 0, 0, 1},
    {"log1p [-1, -0.5]", FN_LOG1P, GEN_UNIFORM, -1, -0.5, 0, 0, 0, 1},
    {"pow x in [1e-3, 1e3], y in [-100, 100]", FN_POW, GEN_LOG_UNIFORM, -3, 3, GEN_UNIFORM, -100, 100, 1},
    {"pow x in [0.5, 2], y in [-1020, 1020]", FN_POW, GEN_UNIFORM, 0.5, 2, GEN_UNIFORM, -1020, 1020, 1},
    {"pow x in [-10, -0.1], integer y in [-300, 300]", FN_POW, GEN_UNIFORM, -10, -0.1, GEN_INT, -300, 300, 1},
    {"lgamma (0, 0.5) log-uniform", FN_LGAMMA, GEN_LOG_UNIFORM, -320, -0.302, 0, 0, 0, 1},
    {"lgamma [0.5, 3]", FN_LGAMMA, GEN_UNIFORM, 0.5, 3, 0, 0, 0, 1},
    {"lgamma near 1: 1 + [-1e-6, 1e-6]", FN_LGAMMA, GEN_UNIFORM, 1 - 1e-6, 1 + 1e-6, 0, 0, 0, 1},
    {"lgamma near 2: 2 + [-1e-6, 1e-6]", FN_LGAMMA, GEN_UNIFORM, 2 - 1e-6, 2 + 1e-6, 0, 0, 0, 1},
    {"lgamma [3, 40]", FN_LGAMMA, GEN_UNIFORM, 3, 40, 0, 0, 0, 1},
    {"lgamma [40, 2e305] log-uniform", FN_LGAMMA, GEN_LOG_UNIFORM, 1.6, 305.3, 0, 0, 0, 1},
    {"lgamma (-40, 0) (reported)", FN_LGAMMA, GEN_UNIFORM, -40, 0, 0, 0, 0, 0},
    {"digamma (0, 1) log-uniform", FN_DIGAMMA, GEN_LOG_UNIFORM, -307, 0, 0, 0, 0, 1},
    {"digamma [1, 2]", FN_DIGAMMA, GEN_UNIFORM, 1, 2, 0, 0, 0, 1},
#ifdef GMMC_HAVE_QUADMATH
    {"digamma near its zero: x0 + [-1e-6, 1e-6]", FN_DIGAMMA, GEN_UNIFORM, X0 - 1e-6, X0 + 1e-6, 0, 0, 0, 1},
#else
    {"digamma near its zero (reported)", FN_DIGAMMA, GEN_UNIFORM, X0 - 1e-6, X0 + 1e-6, 0, 0, 0, 0},
#endif
    {"digamma [2, 40]", FN_DIGAMMA, GEN_UNIFORM, 2, 40, 0, 0, 0, 1},
    {"digamma [40, 1e300] log-uniform", FN_DIGAMMA, GEN_LOG_UNIFORM, 1.6, 300, 0, 0, 0, 1},
    {"digamma (-40, 0) (reported)", FN_DIGAMMA, GEN_UNIFORM, -40, 0, 0, 0, 0, 0},
};

static int g_fail;

typedef struct {
  Program *p;
  HostJit *jit;
  int stmt[FN_COUNT], out[FN_COUNT], xbuf, ybuf;
} Prog;

static Prog compile(LType real) {
  Prog g;
  g.p = cg_host_program("mathtest.yaml", spec_text, sizeof spec_text - 1, real, &g.jit);
  for (int f = 0; f < FN_COUNT; f++) {
    g.stmt[f] = cg_find_stmt(g.p, STMT[f]);
    g.out[f] = cg_find_buf(g.p, STMT[f]);
  }
  g.xbuf = cg_find_buf(g.p, "X");
  g.ybuf = cg_find_buf(g.p, "Y");
  return g;
}

/* Runs fn's statement on the n arguments in x (and y); results in out. */
static void run(const Prog *g, Fn fn, const double *x, const double *y, double *out, int64_t n) {
  Bufs b;
  bufs_alloc(&b, g->p, n);
  for (int64_t i = 0; i < n; i++) {
    buf_set(&b, g->xbuf, i, x[i]);
    buf_set(&b, g->ybuf, i, y ? y[i] : 1.0);
  }
  const StmtKernels *sk = &g->p->stmt_kernels[g->stmt[fn]];
  for (int k = 0; k < sk->nkernels; k++) cg_run_kernel(g->jit, &b, sk->kernels[k]);
  for (int64_t i = 0; i < n; i++) out[i] = buf_get(&b, g->out[fn], i);
  bufs_free(&b);
}

static double gen(Rng *r, Gen kind, double lo, double hi, int f32) {
  double v = 0;
  switch (kind) {
  case GEN_UNIFORM: v = cg_uniform(r, lo, hi); break;
  case GEN_LOG_UNIFORM: v = pow(10.0, cg_uniform(r, lo, hi)); break;
  case GEN_NEG_LOG_UNIFORM: v = -pow(10.0, cg_uniform(r, lo, hi)); break;
  case GEN_INT: v = (double)cg_int(r, (int64_t)lo, (int64_t)hi); break;
  }
  if (f32 && fabs(v) > FLT_MAX) v = copysign(FLT_MAX, v);
  return f32 ? (double)(float)v : v; /* the argument as the kernel sees it */
}

static Ref reference(Fn fn, double x, double y) {
  switch (fn) {
  case FN_LOG1P: return r_log1p(x);
  case FN_LGAMMA: return r_lgamma(x);
  case FN_DIGAMMA: return r_digamma(x);
  case FN_POW: return r_pow(x, y);
  default: return 0;
  }
}

static void measure(const Prog *g, const Range *rg, int f32, Rng *r, int64_t n, double limit) {
  double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
  double *out = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    x[i] = gen(r, rg->gen, rg->lo, rg->hi, f32);
    y[i] = rg->fn == FN_POW ? gen(r, rg->ygen, rg->ylo, rg->yhi, f32) : 1.0;
  }
  run(g, rg->fn, x, y, out, n);
  long double worst = 0, worst_ref = 0;
  double worst_x = 0, worst_y = 0, worst_out = 0;
  long long overflow = 0, wrong_special = 0, poles = 0;
  double maxv = f32 ? FLT_MAX : DBL_MAX;
  for (int64_t i = 0; i < n; i++) {
    if ((rg->fn == FN_LGAMMA || rg->fn == FN_DIGAMMA) && x[i] <= 0 && x[i] == rint(x[i])) {
      poles++; /* checked with the special values */
      continue;
    }
    long double ref = to_ld(reference(rg->fn, x[i], y[i]));
    if (fabsl(ref) > (long double)maxv) { /* overflows the type: inf of the right sign expected */
      overflow++;
      if (!(isinf(out[i]) && (out[i] > 0) == (ref > 0))) wrong_special++;
      continue;
    }
    long double e = fabsl((long double)out[i] - ref) / cg_ulp(ref, f32);
    if (isnan(out[i]) || isinf(out[i])) e = INFINITY; /* the reference is finite here */
    if (e > worst) {
      worst = e;
      worst_x = x[i];
      worst_y = y[i];
      worst_out = out[i];
      worst_ref = ref;
    }
  }
  int ok = worst <= limit && wrong_special == 0;
  printf("  %-8s %-48s max %9.3f ulp at x = %-24.17g", f32 ? "float32" : "float64", rg->what, (double)worst, worst_x);
  if (rg->fn == FN_POW) printf(" y = %.17g", worst_y);
  printf(" (got %.17g, exact %.21Lg)%s%s%s\n", worst_out, worst_ref,
         overflow ? " [some results overflow: inf checked]" : "", poles ? " [poles skipped]" : "",
         ok ? "" : (rg->asserted ? "  FAIL" : "  (above the target; not asserted)"));
  if (!ok && rg->asserted) g_fail++;
  free(x);
  free(y);
  free(out);
}

typedef struct {
  Fn fn;
  double x, y, want;
} Special;

static void special(const Prog *g, int f32) {
  const double inf = INFINITY, nan = NAN;
  const Special cases[] = {
      {FN_LOG1P, 0.0, 0, 0.0},    {FN_LOG1P, -1.0, 0, -inf},  {FN_LOG1P, -2.0, 0, nan},   {FN_LOG1P, inf, 0, inf},
      {FN_LOG1P, -inf, 0, nan},   {FN_LOG1P, nan, 0, nan},    {FN_LGAMMA, 1.0, 0, 0.0},   {FN_LGAMMA, 2.0, 0, 0.0},
      {FN_LGAMMA, 0.0, 0, inf},   {FN_LGAMMA, -0.0, 0, inf},  {FN_LGAMMA, -3.0, 0, inf},  {FN_LGAMMA, inf, 0, inf},
      {FN_LGAMMA, -inf, 0, inf},  {FN_LGAMMA, nan, 0, nan},   {FN_LGAMMA, 1e306, 0, inf}, {FN_DIGAMMA, 0.0, 0, nan},
      {FN_DIGAMMA, -2.0, 0, nan}, {FN_DIGAMMA, inf, 0, inf},  {FN_DIGAMMA, -inf, 0, nan}, {FN_DIGAMMA, nan, 0, nan},
      {FN_POW, 2.0, 0.0, 1.0},    {FN_POW, nan, 0.0, 1.0},    {FN_POW, 1.0, nan, 1.0},    {FN_POW, nan, 1.0, nan},
      {FN_POW, 2.0, nan, nan},    {FN_POW, -2.0, 0.5, nan},   {FN_POW, -2.0, 3.0, -8.0},  {FN_POW, -2.0, 2.0, 4.0},
      {FN_POW, 0.0, -1.0, inf},   {FN_POW, -0.0, -1.0, -inf}, {FN_POW, 0.0, 2.0, 0.0},    {FN_POW, -1.0, inf, 1.0},
      {FN_POW, 0.5, inf, 0.0},    {FN_POW, 0.5, -inf, inf},   {FN_POW, 2.0, inf, inf},    {FN_POW, 2.0, -inf, 0.0},
      {FN_POW, inf, -1.0, 0.0},   {FN_POW, inf, 0.5, inf},    {FN_POW, -inf, 3.0, -inf},  {FN_POW, -inf, 0.5, inf},
      {FN_POW, 2.0, 1e6, inf},    {FN_POW, 2.0, -1e6, 0.0},   {FN_POW, 10.0, 2.0, 100.0}, {FN_POW, 4.0, 0.5, 2.0},
      {FN_POW, 2.0, -3.0, 0.125},
  };
  int nc = (int)(sizeof cases / sizeof *cases);
  for (int i = 0; i < nc; i++) {
    double x = cases[i].x, y = cases[i].y, out;
    run(g, cases[i].fn, &x, &y, &out, 1);
    double w = cases[i].want;
    int ok = isnan(w) ? isnan(out) : (out == w && signbit(out) == signbit(w));
    if (!ok) {
      char args[64];
      if (cases[i].fn == FN_POW)
        snprintf(args, sizeof args, "%g, %g", x, y);
      else
        snprintf(args, sizeof args, "%g", x);
      printf("  FAIL %s %s(%s) = %.17g, expected %g\n", f32 ? "float32" : "float64",
             (const char *[]){"log1p", "lgamma", "digamma", "pow"}[cases[i].fn], args, out, w);
      g_fail++;
    }
  }
}

int main(void) {
  uint64_t seed = cg_seed("codegen_math_special");
  printf("reference: %s\n", REF_NAME);
  for (int f = 0; f < 2; f++) {
    int f32 = f == 0;
    Prog g = compile(f32 ? LT_F32 : LT_F64);
    const Range *rs = f32 ? ranges32 : ranges64;
    int nr = f32 ? (int)(sizeof ranges32 / sizeof *ranges32) : (int)(sizeof ranges64 / sizeof *ranges64);
    printf("%s (limit %d ulp):\n", f32 ? "float32" : "float64", f32 ? 2 : 4);
    for (int i = 0; i < nr; i++) {
      Rng r;
      cg_rng(&r, seed, (uint64_t)f, (uint64_t)i, 0, 0);
      measure(&g, &rs[i], f32, &r, INT64_C(1) << 16, f32 ? 2.0 : 4.0);
    }
    special(&g, f32);
    host_jit_free(g.jit);
    program_free(g.p);
  }
  if (g_fail) printf("FAILED: %d checks (GMMC_TEST_SEED=%llu replays this run)\n", g_fail, (unsigned long long)seed);
  return g_fail ? 1 : 0;
}
