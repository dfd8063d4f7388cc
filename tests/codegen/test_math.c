/* Accuracy of the generated exp and log (compiler/math_ir.c), through the
 * normal pipeline: a small spec whose statements are E = exp(X) and
 * G = log(X), lowered for the host, optimized and JIT-compiled like any
 * other, run on random arguments in several ranges and compared with libm's
 * long double expl/logl (about 11 bits more than double, so the reference
 * error is below 1/1000 ulp of either type).
 *
 * The error is in ulps of the result type at the exact result:
 * |out - ref| / ulp(ref), ulp(y) = 2^(floor(log2|y|) - p + 1) for normal
 * numbers (p = 24 or 53), the subnormal spacing (2^-149 or 2^-1074) below.
 * Asserted: at most 2 ulp for float32 and 4 ulp for float64 in every range
 * below, and the special values exactly (exp: -inf -> 0, +inf -> inf, NaN,
 * beyond the overflow/underflow thresholds; log: 0 -> -inf, < 0 -> NaN,
 * +inf -> inf, NaN). The measured maxima are printed (docs/dsl.md quotes them).
 * GMMC_TEST_SEED=N replays a run. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"

static const char spec_text[] = "gmmc: 1\n"
                                "model: mathtest\n"
                                "sizes: [N, D]\n"
                                "indices: {n: N, d: D}\n"
                                "data:\n"
                                "  X: [N, D]\n"
                                "estep:\n"
                                "  - E[n,d] = exp(X[n,d])\n"
                                "  - G[n,d] = log(X[n,d])\n"
                                "  - obj = sum(n, sum(d, E[n,d]))\n"
                                "outputs:\n"
                                "  objective: obj\n";

typedef enum { GEN_UNIFORM, GEN_LOG_UNIFORM, GEN_SUBNORMAL, GEN_NEAR_ONE } Gen;

typedef struct {
  const char *what;
  int is_log;
  Gen gen;
  double lo, hi; /* uniform: [lo, hi]; log-uniform: [10^lo, 10^hi]; near one: 1 + [lo, hi] */
  int asserted;  /* part of the accuracy requirement (else reported only) */
} Range;

static const Range ranges32[] = {
    {"exp [-100, 80]", 0, GEN_UNIFORM, -100, 80, 1},
    {"exp [-1, 1]", 0, GEN_UNIFORM, -1, 1, 1},
    {"exp [-1e-6, 1e-6]", 0, GEN_UNIFORM, -1e-6, 1e-6, 1},
    {"exp subnormal results [-103.97, -87.34]", 0, GEN_UNIFORM, -103.97, -87.34, 1},
    {"exp near overflow [80, 88.72]", 0, GEN_UNIFORM, 80, 88.72, 1},
    {"log (0, 1e30] log-uniform", 1, GEN_LOG_UNIFORM, -37.9, 30, 1},
    {"log [0.5, 2]", 1, GEN_UNIFORM, 0.5, 2, 1},
    {"log near 1: 1 + [-1e-3, 1e-3]", 1, GEN_NEAR_ONE, -1e-3, 1e-3, 1},
    {"log subnormal inputs", 1, GEN_SUBNORMAL, 0, 0, 1},
    {"log [1e30, FLT_MAX] log-uniform", 1, GEN_LOG_UNIFORM, 30, 38.5, 1},
};

static const Range ranges64[] = {
    {"exp [-700, 700]", 0, GEN_UNIFORM, -700, 700, 1},
    {"exp [-1, 1]", 0, GEN_UNIFORM, -1, 1, 1},
    {"exp [-1e-12, 1e-12]", 0, GEN_UNIFORM, -1e-12, 1e-12, 1},
    {"exp subnormal results [-745.13, -708.4]", 0, GEN_UNIFORM, -745.13, -708.4, 1},
    {"exp near overflow [700, 709.78]", 0, GEN_UNIFORM, 700, 709.78, 1},
    {"log (0, 1e30] log-uniform", 1, GEN_LOG_UNIFORM, -307.6, 30, 1},
    {"log [0.5, 2]", 1, GEN_UNIFORM, 0.5, 2, 1},
    {"log near 1: 1 + [-1e-6, 1e-6]", 1, GEN_NEAR_ONE, -1e-6, 1e-6, 1},
    {"log subnormal inputs", 1, GEN_SUBNORMAL, 0, 0, 1},
    {"log [1e30, DBL_MAX] log-uniform", 1, GEN_LOG_UNIFORM, 30, 308.2, 1},
};

static int g_fail;

typedef struct {
  Program *p;
  HostJit *jit;
  int e_stmt, g_stmt, xbuf, ebuf, gbuf;
} Prog;

static Prog compile(LType real) {
  Prog g;
  g.p = cg_host_program("mathtest.yaml", spec_text, sizeof spec_text - 1, real, &g.jit);
  g.e_stmt = cg_find_stmt(g.p, "E");
  g.g_stmt = cg_find_stmt(g.p, "G");
  g.xbuf = cg_find_buf(g.p, "X");
  g.ebuf = cg_find_buf(g.p, "E");
  g.gbuf = cg_find_buf(g.p, "G");
  return g;
}

/* Runs E = exp(X) (or G = log(X)) on the n arguments in x; results in y. */
static void run(const Prog *g, int is_log, const double *x, double *y, int64_t n) {
  Bufs b;
  bufs_alloc(&b, g->p, n);
  for (int64_t i = 0; i < n; i++) buf_set(&b, g->xbuf, i, x[i]);
  const StmtKernels *sk = &g->p->stmt_kernels[is_log ? g->g_stmt : g->e_stmt];
  for (int k = 0; k < sk->nkernels; k++) cg_run_kernel(g->jit, &b, sk->kernels[k]);
  for (int64_t i = 0; i < n; i++) y[i] = buf_get(&b, is_log ? g->gbuf : g->ebuf, i);
  bufs_free(&b);
}

static double gen(Rng *r, const Range *rg, int f32) {
  switch (rg->gen) {
  case GEN_UNIFORM: return cg_uniform(r, rg->lo, rg->hi);
  case GEN_LOG_UNIFORM: {
    double v = pow(10.0, cg_uniform(r, rg->lo, rg->hi));
    if (f32 && v > FLT_MAX) v = FLT_MAX;
    return v;
  }
  case GEN_NEAR_ONE: return 1.0 + cg_uniform(r, rg->lo, rg->hi);
  case GEN_SUBNORMAL:
    if (f32) {
      uint32_t bits = (uint32_t)cg_int(r, 1, (1 << 23) - 1);
      float v;
      memcpy(&v, &bits, 4);
      return v;
    } else {
      uint64_t bits = (uint64_t)cg_int(r, 1, (INT64_C(1) << 52) - 1);
      double v;
      memcpy(&v, &bits, 8);
      return v;
    }
  }
  return 0;
}

static void measure(const Prog *g, const Range *rg, int f32, Rng *r, int64_t n, double limit) {
  double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    double v = gen(r, rg, f32);
    x[i] = f32 ? (double)(float)v : v; /* the argument as the kernel sees it */
  }
  /* near one: also the neighbours of 1 itself, ulp by ulp */
  if (rg->gen == GEN_NEAR_ONE)
    for (int64_t i = 0; i < 256 && i < n; i++) {
      double eps = f32 ? 0x1p-24 : 0x1p-53;
      x[i] = 1.0 + (double)(i - 128) * (i < 128 ? eps : 2 * eps);
      if (f32) x[i] = (float)x[i];
    }
  run(g, rg->is_log, x, y, n);
  long double worst = 0;
  double worst_x = 0, worst_y = 0;
  long double worst_ref = 0;
  long long overflow = 0, wrong_special = 0;
  double maxv = f32 ? FLT_MAX : DBL_MAX;
  for (int64_t i = 0; i < n; i++) {
    long double ref = rg->is_log ? logl((long double)x[i]) : expl((long double)x[i]);
    if (fabsl(ref) > (long double)maxv) { /* overflows the type: inf expected */
      overflow++;
      if (!(isinf(y[i]) && y[i] > 0)) wrong_special++;
      continue;
    }
    long double e = fabsl((long double)y[i] - ref) / cg_ulp(ref, f32);
    if (isnan(y[i]) || isinf(y[i])) e = INFINITY; /* the reference is finite here */
    if (e > worst) {
      worst = e;
      worst_x = x[i];
      worst_y = y[i];
      worst_ref = ref;
    }
  }
  int ok = worst <= limit && wrong_special == 0;
  printf("  %-8s %-42s max %6.3f ulp at x = %-24.17g (got %.17g, exact %.21Lg)%s%s\n", f32 ? "float32" : "float64",
         rg->what, (double)worst, worst_x, worst_y, worst_ref, overflow ? " [some results overflow: inf checked]" : "",
         ok ? "" : (rg->asserted ? "  FAIL" : "  (above the target; not asserted)"));
  if (!ok && rg->asserted) g_fail++;
  free(x);
  free(y);
}

static void special(const Prog *g, int f32) {
  double big = f32 ? 89.0 : 710.0, small = f32 ? -104.0 : -746.0;
  double ex[] = {-INFINITY, INFINITY, NAN, big, 1e10, small, -1e10, 0.0, -0.0};
  double ew[] = {0.0, INFINITY, NAN, INFINITY, INFINITY, 0.0, 0.0, 1.0, 1.0};
  double lx[] = {0.0, -0.0, -1.0, -INFINITY, INFINITY, NAN, 1.0};
  double lw[] = {-INFINITY, -INFINITY, NAN, NAN, INFINITY, NAN, 0.0};
  double y[16];
  run(g, 0, ex, y, 9);
  for (int i = 0; i < 9; i++)
    if (!(isnan(ew[i]) ? isnan(y[i]) : y[i] == ew[i])) {
      printf("  FAIL %s exp(%g) = %.17g, expected %g\n", f32 ? "float32" : "float64", ex[i], y[i], ew[i]);
      g_fail++;
    }
  run(g, 1, lx, y, 7);
  for (int i = 0; i < 7; i++)
    if (!(isnan(lw[i]) ? isnan(y[i]) : y[i] == lw[i])) {
      printf("  FAIL %s log(%g) = %.17g, expected %g\n", f32 ? "float32" : "float64", lx[i], y[i], lw[i]);
      g_fail++;
    }
}

int main(void) {
  uint64_t seed = cg_seed("codegen_math");
  for (int f = 0; f < 2; f++) {
    int f32 = f == 0;
    Prog g = compile(f32 ? LT_F32 : LT_F64);
    const Range *rs = f32 ? ranges32 : ranges64;
    int nr = f32 ? (int)(sizeof ranges32 / sizeof *ranges32) : (int)(sizeof ranges64 / sizeof *ranges64);
    printf("%s (limit %d ulp):\n", f32 ? "float32" : "float64", f32 ? 2 : 4);
    for (int i = 0; i < nr; i++) {
      Rng r;
      cg_rng(&r, seed, (uint64_t)f, (uint64_t)i, 0, 0);
      measure(&g, &rs[i], f32, &r, INT64_C(1) << 19, f32 ? 2.0 : 4.0);
    }
    special(&g, f32);
    host_jit_free(g.jit);
    program_free(g.p);
  }
  if (g_fail) printf("FAILED: %d checks (GMMC_TEST_SEED=%llu replays this run)\n", g_fail, (unsigned long long)seed);
  return g_fail ? 1 : 0;
}
