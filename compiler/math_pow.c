/* log1p(x) and pow(x, y) written as LLVM IR functions (internal, always
 * inlined), the same code on every target. Both are computed in float64
 * with a double-double logarithm (math_log_dd); the float32 versions round
 * the float64 result once, which leaves them within about half an ulp.
 *   log1p(x) = log(u) + e / u with u + e = 1 + x exactly (a two-sum).
 *   pow(x, y) = exp(y log|x|), y log|x| formed as a double-double whose low
 *               part joins exp's reduced argument, then C's special cases.
 * Measured accuracy is in docs/dsl.md; tests/codegen/test_math.c checks it. */
#include <math.h>

#include "codegen.h"
#include "math_ir.h"

/* The float32 function: the float64 one on the widened arguments, rounded. */
static LLVMValueRef via_f64(LLVMModuleRef mod, LLVMTypeRef t, const char *name, int nargs,
                            LLVMValueRef (*f64)(LLVMModuleRef, LLVMTypeRef)) {
  MathB m;
  LLVMValueRef fn, args[2];
  if (!mb_begin(&m, mod, t, name, nargs, args, &fn)) return fn;
  LLVMTypeRef d = LLVMDoubleTypeInContext(m.ctx);
  LLVMValueRef inner = f64(mod, d);
  for (int i = 0; i < nargs; i++) args[i] = LLVMBuildFPExt(m.b, args[i], d, "");
  LLVMValueRef r = LLVMBuildCall2(m.b, LLVMGlobalGetValueType(inner), inner, args, (unsigned)nargs, "");
  mb_end(&m, LLVMBuildFPTrunc(m.b, r, t, ""));
  return fn;
}

LLVMValueRef math_log1p_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  if (LLVMGetTypeKind(t) != LLVMDoubleTypeKind) return via_f64(mod, t, "gmmc.log1p.f32", 1, math_log1p_fn);
  MathB mm, *m = &mm;
  LLVMValueRef fn, x;
  if (!mb_begin(m, mod, t, "gmmc.log1p.f64", 1, &x, &fn)) return fn;
  DD u = dd_two_sum(m, mb_c(m, 1.0), x);
  /* u.hi in (0, inf) here; the other arguments are fixed up below */
  LLVMValueRef ok = mb_cmp(m, LLVMRealOGT, u.hi, mb_c(m, 0.0));
  ok = LLVMBuildAnd(m->b, ok, mb_cmp(m, LLVMRealOLT, u.hi, mb_c(m, INFINITY)), "");
  LLVMValueRef uh = mb_sel(m, ok, u.hi, mb_c(m, 1.0));
  DD l = math_log_dd(m, uh);
  LLVMValueRef res = mb_add(m, l.hi, mb_add(m, l.lo, mb_div(m, u.lo, uh)));
  /* tiny x: u rounds to 1 and the result is x itself (-0 stays -0) */
  res = mb_sel(m, mb_cmp(m, LLVMRealOEQ, u.hi, mb_c(m, 1.0)), x, res);
  res = mb_sel(m, mb_cmp(m, LLVMRealOEQ, x, mb_c(m, -1.0)), mb_c(m, -INFINITY), res);
  res = mb_sel(m, mb_cmp(m, LLVMRealULT, x, mb_c(m, -1.0)), mb_c(m, NAN), res);
  res = mb_sel(m, mb_cmp(m, LLVMRealOEQ, x, mb_c(m, INFINITY)), x, res);
  res = mb_sel(m, mb_cmp(m, LLVMRealUNO, x, x), x, res);
  mb_end(m, res);
  return fn;
}

static LLVMValueRef and2(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAnd(m->b, a, b, ""); }
static LLVMValueRef or2(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildOr(m->b, a, b, ""); }

LLVMValueRef math_pow_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  if (LLVMGetTypeKind(t) != LLVMDoubleTypeKind) return via_f64(mod, t, "gmmc.pow.f32", 2, math_pow_fn);
  MathB mm, *m = &mm;
  LLVMValueRef fn, a[2];
  if (!mb_begin(m, mod, t, "gmmc.pow.f64", 2, a, &fn)) return fn;
  LLVMValueRef x = a[0], y = a[1], zero = mb_c(m, 0.0), inf = mb_c(m, INFINITY);
  LLVMValueRef ax = mb_un(m, "llvm.fabs", x), ay = mb_un(m, "llvm.fabs", y);
  /* log|x| as a double-double; 0 and inf (and NaN) give -inf, inf (NaN) */
  LLVMValueRef fin = and2(m, mb_cmp(m, LLVMRealOGT, ax, zero), mb_cmp(m, LLVMRealOLT, ax, inf));
  DD l = math_log_dd(m, mb_sel(m, fin, ax, mb_c(m, 1.0)));
  LLVMValueRef lh = mb_sel(m, fin, l.hi, mb_sel(m, mb_cmp(m, LLVMRealOEQ, ax, zero), mb_c(m, -INFINITY), ax));
  LLVMValueRef ll = mb_sel(m, fin, l.lo, zero);
  /* y log|x| = zh + zl; zl only matters (and the product is only exact)
   * where exp does not saturate, which bounds |y| far below 2^995 */
  LLVMValueRef zh = mb_mul(m, y, lh);
  LLVMValueRef small = mb_cmp(m, LLVMRealOLT, mb_un(m, "llvm.fabs", zh), mb_c(m, 1024.0));
  LLVMValueRef ys = mb_sel(m, small, y, zero);
  DD p = dd_two_prod(m, ys, mb_sel(m, small, lh, zero));
  LLVMValueRef zl = mb_add(m, p.lo, mb_mul(m, ys, ll));
  LLVMValueRef res = math_exp_body(m, zh, zl);
  /* the sign: x < 0 (or -0, -inf) with an odd integer y */
  LLVMValueRef yint = mb_cmp(m, LLVMRealOEQ, mb_un(m, "llvm.rint", y), y);
  LLVMValueRef yh = mb_mul(m, y, mb_c(m, 0.5));
  LLVMValueRef yodd = and2(m, yint, mb_cmp(m, LLVMRealUNE, mb_un(m, "llvm.rint", yh), yh));
  LLVMValueRef xneg = LLVMBuildICmp(m->b, LLVMIntSLT, LLVMBuildBitCast(m->b, x, m->it, ""), mb_ic(m, 0), "");
  res = mb_sel(m, and2(m, xneg, yodd), LLVMBuildFNeg(m->b, res, ""), res);
  /* a finite negative x with a finite non-integer y: NaN */
  LLVMValueRef negfin = and2(m, mb_cmp(m, LLVMRealOLT, x, zero), mb_cmp(m, LLVMRealOGT, x, mb_c(m, -INFINITY)));
  LLVMValueRef ynonint = and2(m, mb_cmp(m, LLVMRealOLT, ay, inf), LLVMBuildNot(m->b, yint, ""));
  res = mb_sel(m, and2(m, negfin, ynonint), mb_c(m, NAN), res);
  /* |x| == 1 with an infinite y, y == 0 and x == 1 (even with NaN): 1 */
  LLVMValueRef one = mb_c(m, 1.0);
  LLVMValueRef is_one = or2(m, and2(m, mb_cmp(m, LLVMRealOEQ, ax, one), mb_cmp(m, LLVMRealOEQ, ay, inf)),
                            or2(m, mb_cmp(m, LLVMRealOEQ, y, zero), mb_cmp(m, LLVMRealOEQ, x, one)));
  res = mb_sel(m, is_one, one, res);
  mb_end(m, res);
  return fn;
}
