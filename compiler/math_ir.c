/* exp and log written as LLVM IR functions (internal, always inlined), the
 * same code on every target:
 *   exp(x) = 2^k * p(r),  k = rint(x / ln2), r = x - k ln2 (two-part ln2),
 *            p a Taylor polynomial of degree 7 (float) or 13 (double);
 *            2^k applied in two halves so that subnormal results are right.
 *   log(x) = e ln2 + log(1 + f),  x = 2^e m with m = 1 + f in [sqrt(1/2), sqrt(2)),
 *            log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), R
 *            the atanh series to s^10 (float) or s^20: f carries the result.
 * Measured accuracy (max ulp: exp 0.92, log 0.79 in float32; exp 0.89, log
 * 0.81 in float64) is in docs/dsl.md; tests/codegen/test_math.c checks it. */
#include <math.h>
#include <string.h>

#include "codegen.h"

typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef t, it; /* float type and same-width integer type */
  int dbl;
} M;

/* ln 2 in two parts: k * LN2_HI is exact for the k that occur */
static const double LN2_HI_F64 = 6.93147180369123816490e-01, LN2_LO_F64 = 1.90821492927058770002e-10;
static const double LN2_HI_F32 = 0.693145751953125, LN2_LO_F32 = 1.428606765330187e-06;

static LLVMValueRef fc(M *m, double v) { return LLVMConstReal(m->t, v); }
static LLVMValueRef ic(M *m, long long v) { return LLVMConstInt(m->it, (unsigned long long)v, 1); }

static LLVMValueRef intrinsic(M *m, const char *name, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef tys[1] = {m->t};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(m->mod, id, tys, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(m->ctx, id, tys, 1);
  return LLVMBuildCall2(m->b, fty, fn, args, n, "");
}

static LLVMValueRef fma3(M *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return intrinsic(m, "llvm.fmuladd", args, 3); /* fused where the target has FMA */
}

static LLVMValueRef begin(M *m, LLVMModuleRef mod, LLVMTypeRef t, const char *name, LLVMValueRef *fn_out) {
  m->mod = mod;
  m->ctx = LLVMGetModuleContext(mod);
  m->t = t;
  m->dbl = LLVMGetTypeKind(t) == LLVMDoubleTypeKind;
  m->it = LLVMIntTypeInContext(m->ctx, m->dbl ? 64 : 32);
  LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
  if (fn) {
    *fn_out = fn;
    return NULL;
  }
  LLVMTypeRef fty = LLVMFunctionType(t, &t, 1, 0);
  fn = LLVMAddFunction(mod, name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  unsigned ai = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(m->ctx, ai, 0));
  m->b = LLVMCreateBuilderInContext(m->ctx);
  LLVMPositionBuilderAtEnd(m->b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  *fn_out = fn;
  return LLVMGetParam(fn, 0);
}

/* 2^k for an integer-valued float k in the normal exponent range. */
static LLVMValueRef pow2(M *m, LLVMValueRef k) {
  int bias = m->dbl ? 1023 : 127, shift = m->dbl ? 52 : 23;
  LLVMValueRef ki = LLVMBuildFPToSI(m->b, k, m->it, "k");
  LLVMValueRef bits = LLVMBuildShl(m->b, LLVMBuildAdd(m->b, ki, ic(m, bias), ""), ic(m, shift), "");
  return LLVMBuildBitCast(m->b, bits, m->t, "");
}

LLVMValueRef math_exp_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  M m;
  LLVMValueRef fn;
  LLVMValueRef x = begin(&m, mod, t, LLVMGetTypeKind(t) == LLVMDoubleTypeKind ? "gmmc.exp.f64" : "gmmc.exp.f32", &fn);
  if (!x) return fn;
  double hi_lim = m.dbl ? 709.782712893384 : 88.72283935546875;
  double lo_lim = m.dbl ? -745.1332191019412 : -103.97208404541016;
  double ln2_hi = m.dbl ? LN2_HI_F64 : LN2_HI_F32, ln2_lo = m.dbl ? LN2_LO_F64 : LN2_LO_F32;
  /* clamp so the arithmetic stays finite; the ends are fixed up below */
  LLVMValueRef args[2] = {x, fc(&m, lo_lim - 1.0)};
  LLVMValueRef xc = intrinsic(&m, "llvm.maxnum", args, 2);
  args[0] = xc;
  args[1] = fc(&m, hi_lim + 1.0);
  xc = intrinsic(&m, "llvm.minnum", args, 2);
  LLVMValueRef kx = LLVMBuildFMul(m.b, xc, fc(&m, 1.4426950408889634), "");
  LLVMValueRef k = intrinsic(&m, "llvm.rint", &kx, 1);
  LLVMValueRef r = fma3(&m, k, fc(&m, -ln2_hi), xc);
  r = fma3(&m, k, fc(&m, -ln2_lo), r);
  int deg = m.dbl ? 13 : 7;
  double coef[14];
  coef[0] = 1.0;
  for (int i = 1; i <= deg; i++) coef[i] = coef[i - 1] / i;
  LLVMValueRef p = fc(&m, coef[deg]);
  for (int i = deg - 1; i >= 0; i--) p = fma3(&m, p, r, fc(&m, coef[i]));
  /* 2^k = 2^h * 2^(k-h), h = floor(k/2): both halves are normal numbers */
  LLVMValueRef half = LLVMBuildFMul(m.b, k, fc(&m, 0.5), "");
  LLVMValueRef h = intrinsic(&m, "llvm.floor", &half, 1);
  LLVMValueRef res =
      LLVMBuildFMul(m.b, LLVMBuildFMul(m.b, p, pow2(&m, h), ""), pow2(&m, LLVMBuildFSub(m.b, k, h, "")), "");
  LLVMValueRef big = LLVMBuildFCmp(m.b, LLVMRealOGT, x, fc(&m, hi_lim), "");
  LLVMValueRef small = LLVMBuildFCmp(m.b, LLVMRealOLT, x, fc(&m, lo_lim), "");
  LLVMValueRef nan = LLVMBuildFCmp(m.b, LLVMRealUNO, x, x, "");
  res = LLVMBuildSelect(m.b, big, fc(&m, INFINITY), res, "");
  res = LLVMBuildSelect(m.b, small, fc(&m, 0.0), res, "");
  res = LLVMBuildSelect(m.b, nan, x, res, "");
  LLVMBuildRet(m.b, res);
  LLVMDisposeBuilder(m.b);
  return fn;
}

LLVMValueRef math_log_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  M m;
  LLVMValueRef fn;
  LLVMValueRef x = begin(&m, mod, t, LLVMGetTypeKind(t) == LLVMDoubleTypeKind ? "gmmc.log.f64" : "gmmc.log.f32", &fn);
  if (!x) return fn;
  int shift = m.dbl ? 52 : 23, bias = m.dbl ? 1023 : 127;
  long long mant_mask = m.dbl ? 0x000fffffffffffffLL : 0x007fffff;
  long long one_bits = m.dbl ? 0x3ff0000000000000LL : 0x3f800000;
  double tiny = m.dbl ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
  double scale = m.dbl ? 18014398509481984.0 /* 2^54 */ : 16777216.0 /* 2^24 */;
  int scale_e = m.dbl ? 54 : 24;
  /* subnormals: scale into the normal range first */
  LLVMValueRef sub = LLVMBuildFCmp(m.b, LLVMRealOLT, x, fc(&m, tiny), "");
  LLVMValueRef xs = LLVMBuildSelect(m.b, sub, LLVMBuildFMul(m.b, x, fc(&m, scale), ""), x, "");
  LLVMValueRef eadj = LLVMBuildSelect(m.b, sub, fc(&m, -scale_e), fc(&m, 0.0), "");
  LLVMValueRef bits = LLVMBuildBitCast(m.b, xs, m.it, "");
  LLVMValueRef e = LLVMBuildSub(m.b, LLVMBuildLShr(m.b, bits, ic(&m, shift), ""), ic(&m, bias), "");
  LLVMValueRef mb = LLVMBuildOr(m.b, LLVMBuildAnd(m.b, bits, ic(&m, mant_mask), ""), ic(&m, one_bits), "");
  LLVMValueRef mant = LLVMBuildBitCast(m.b, mb, m.t, "");
  LLVMValueRef ef = LLVMBuildFAdd(m.b, LLVMBuildSIToFP(m.b, e, m.t, ""), eadj, "");
  LLVMValueRef big = LLVMBuildFCmp(m.b, LLVMRealOGT, mant, fc(&m, 1.4142135623730951), "");
  mant = LLVMBuildSelect(m.b, big, LLVMBuildFMul(m.b, mant, fc(&m, 0.5), ""), mant, "");
  ef = LLVMBuildSelect(m.b, big, LLVMBuildFAdd(m.b, ef, fc(&m, 1.0), ""), ef, "");
  /* log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f): f is
   * exact and carries the result, the rest is a small correction */
  LLVMValueRef f = LLVMBuildFSub(m.b, mant, fc(&m, 1.0), "");
  LLVMValueRef s = LLVMBuildFDiv(m.b, f, LLVMBuildFAdd(m.b, f, fc(&m, 2.0), ""), "");
  LLVMValueRef z = LLVMBuildFMul(m.b, s, s, "");
  int terms = m.dbl ? 10 : 5;
  LLVMValueRef p = fc(&m, 2.0 / (2 * terms + 1));
  for (int i = terms - 1; i >= 1; i--) p = fma3(&m, p, z, fc(&m, 2.0 / (2 * i + 1)));
  LLVMValueRef rr = LLVMBuildFMul(m.b, z, p, "");
  LLVMValueRef hfsq = LLVMBuildFMul(m.b, LLVMBuildFMul(m.b, f, fc(&m, 0.5), ""), f, "");
  double ln2_hi = m.dbl ? LN2_HI_F64 : LN2_HI_F32, ln2_lo = m.dbl ? LN2_LO_F64 : LN2_LO_F32;
  LLVMValueRef corr = fma3(&m, s, LLVMBuildFAdd(m.b, hfsq, rr, ""), LLVMBuildFMul(m.b, ef, fc(&m, ln2_lo), ""));
  LLVMValueRef res = LLVMBuildFSub(m.b, LLVMBuildFSub(m.b, hfsq, corr, ""), f, "");
  res = LLVMBuildFSub(m.b, LLVMBuildFMul(m.b, ef, fc(&m, ln2_hi), ""), res, "");
  /* special values: log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN stays */
  LLVMValueRef zero = LLVMBuildFCmp(m.b, LLVMRealOEQ, x, fc(&m, 0.0), "");
  LLVMValueRef neg = LLVMBuildFCmp(m.b, LLVMRealULT, x, fc(&m, 0.0), "");
  LLVMValueRef inf = LLVMBuildFCmp(m.b, LLVMRealOEQ, x, fc(&m, INFINITY), "");
  res = LLVMBuildSelect(m.b, inf, fc(&m, INFINITY), res, "");
  res = LLVMBuildSelect(m.b, zero, fc(&m, -INFINITY), res, "");
  res = LLVMBuildSelect(m.b, neg, fc(&m, NAN), res, "");
  LLVMValueRef nan = LLVMBuildFCmp(m.b, LLVMRealUNO, x, x, "");
  res = LLVMBuildSelect(m.b, nan, x, res, "");
  LLVMBuildRet(m.b, res);
  LLVMDisposeBuilder(m.b);
  return fn;
}
