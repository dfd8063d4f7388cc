/* exp and log written as LLVM IR functions (internal, always inlined), the
 * same code on every target:
 *   exp(x) = 2^k * p(r),  k = rint(x / ln2), r = x - k ln2 (two-part ln2),
 *            p a Taylor polynomial of degree 7 (float) or 13 (double);
 *            2^k applied in two halves so that subnormal results are right.
 *   log(x) = e ln2 + log(1 + f),  x = 2^e m with m = 1 + f in [sqrt(1/2), sqrt(2)),
 *            log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), R
 *            the atanh series to s^10 (float) or s^20: f carries the result.
 * Measured accuracy (max ulp: exp 0.92, log 0.79 in float32; exp 0.89, log
 * 0.81 in float64) is in docs/dsl.md; tests/codegen/test_math.c checks it.
 * Also the shared pieces of math_ir.h: the builder shorthands, double-double
 * arithmetic, a double-double log and exp(x + lo) for pow, lgamma, digamma. */
#include <math.h>
#include <string.h>

#include "codegen.h"
#include "math_ir.h"

/* ln 2 in two parts: k * LN2_HI is exact for the k that occur */
static const double LN2_HI_F64 = 6.93147180369123816490e-01, LN2_LO_F64 = 1.90821492927058770002e-10;
static const double LN2_HI_F32 = 0.693145751953125, LN2_LO_F32 = 1.428606765330187e-06;

LLVMValueRef mb_c(MathB *m, double v) { return LLVMConstReal(m->t, v); }
LLVMValueRef mb_ic(MathB *m, long long v) { return LLVMConstInt(m->it, (unsigned long long)v, 1); }

LLVMValueRef mb_intrinsic(MathB *m, const char *name, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef tys[1] = {m->t};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(m->mod, id, tys, 1);
  LLVMTypeRef fty = LLVMIntrinsicGetType(m->ctx, id, tys, 1);
  return LLVMBuildCall2(m->b, fty, fn, args, n, "");
}

LLVMValueRef mb_fmuladd(MathB *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return mb_intrinsic(m, "llvm.fmuladd", args, 3);
}

LLVMValueRef mb_add(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(m->b, a, b, ""); }
LLVMValueRef mb_sub(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(m->b, a, b, ""); }
LLVMValueRef mb_mul(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(m->b, a, b, ""); }
LLVMValueRef mb_div(MathB *m, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(m->b, a, b, ""); }
LLVMValueRef mb_sel(MathB *m, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(m->b, c, a, b, "");
}
LLVMValueRef mb_cmp(MathB *m, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(m->b, p, a, b, "");
}
LLVMValueRef mb_un(MathB *m, const char *intrinsic, LLVMValueRef a) { return mb_intrinsic(m, intrinsic, &a, 1); }

LLVMValueRef mb_poly(MathB *m, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = mb_c(m, c[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = mb_fmuladd(m, p, x, mb_c(m, c[i]));
  return p;
}

int mb_begin(MathB *m, LLVMModuleRef mod, LLVMTypeRef t, const char *name, int nargs, LLVMValueRef *args,
             LLVMValueRef *fn_out) {
  m->mod = mod;
  m->ctx = LLVMGetModuleContext(mod);
  m->t = t;
  m->dbl = LLVMGetTypeKind(t) == LLVMDoubleTypeKind;
  m->it = LLVMIntTypeInContext(m->ctx, m->dbl ? 64 : 32);
  m->gpu = strncmp(LLVMGetTarget(mod), "nvptx", 5) == 0;
  LLVMValueRef fn = LLVMGetNamedFunction(mod, name);
  if (fn) {
    *fn_out = fn;
    return 0;
  }
  LLVMTypeRef params[2] = {t, t};
  LLVMTypeRef fty = LLVMFunctionType(t, params, (unsigned)nargs, 0);
  fn = LLVMAddFunction(mod, name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  unsigned ai = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(m->ctx, ai, 0));
  m->b = LLVMCreateBuilderInContext(m->ctx);
  LLVMPositionBuilderAtEnd(m->b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  for (int i = 0; i < nargs; i++) args[i] = LLVMGetParam(fn, (unsigned)i);
  *fn_out = fn;
  return 1;
}

void mb_end(MathB *m, LLVMValueRef res) {
  LLVMBuildRet(m->b, res);
  LLVMDisposeBuilder(m->b);
}

/* 2^k for an integer k (of the float's width) in the normal exponent range. */
static LLVMValueRef pow2_int(MathB *m, LLVMValueRef ki) {
  int bias = m->dbl ? 1023 : 127, shift = m->dbl ? 52 : 23;
  LLVMValueRef bits = LLVMBuildShl(m->b, LLVMBuildAdd(m->b, ki, mb_ic(m, bias), ""), mb_ic(m, shift), "");
  return LLVMBuildBitCast(m->b, bits, m->t, "");
}

/* 2^k for an integer-valued float k in the normal exponent range. */
static LLVMValueRef pow2(MathB *m, LLVMValueRef k) { return pow2_int(m, LLVMBuildFPToSI(m->b, k, m->it, "k")); }

/* p 2^k in two normal halves, 2^h 2^(k-h), h = floor(k/2): a subnormal
 * result is rounded once, by the second multiply (kept on the GPU, whose
 * arithmetic takes subnormals at full speed) */
static LLVMValueRef scale_halves(MathB *m, LLVMValueRef p, LLVMValueRef k) {
  LLVMValueRef half = LLVMBuildFMul(m->b, k, mb_c(m, 0.5), "");
  LLVMValueRef h = mb_intrinsic(m, "llvm.floor", &half, 1);
  return LLVMBuildFMul(m->b, LLVMBuildFMul(m->b, p, pow2(m, h), ""), pow2(m, LLVMBuildFSub(m->b, k, h, "")), "");
}

static LLVMValueRef imin(MathB *m, LLVMValueRef a, long long b) {
  return LLVMBuildSelect(m->b, LLVMBuildICmp(m->b, LLVMIntSLT, a, mb_ic(m, b), ""), a, mb_ic(m, b), "");
}
static LLVMValueRef imax(MathB *m, LLVMValueRef a, long long b) {
  return LLVMBuildSelect(m->b, LLVMBuildICmp(m->b, LLVMIntSGT, a, mb_ic(m, b), ""), a, mb_ic(m, b), "");
}

/* p 2^k, p in (1/2, 2), k in [emin - mant - 1, emax + 1], with the bits of
 * scale_halves but no multiply that yields a subnormal: on x86 each vector
 * with one costs a microcode assist (float32 responsibilities of
 * well-separated components, R = exp(L - lse), are often subnormal). A
 * subnormal result p 2^k is the integer rint(p 2^(k - emin + mant)) read as
 * the float's bits (n ulps of 2^(emin - mant); n = 2^mant is the smallest
 * normal), rint rounding half to even as the multiply would. */
static LLVMValueRef scale_exact(MathB *m, LLVMValueRef p, LLVMValueRef k) {
  int emin = m->dbl ? -1022 : -126, emax = m->dbl ? 1023 : 127, mant = m->dbl ? 52 : 23;
  LLVMValueRef ki = LLVMBuildFPToSI(m->b, k, m->it, "k");
  /* normal results: (2p) 2^(k-1), both factors and the product normal */
  LLVMValueRef kn = imax(m, imin(m, ki, emax + 1), emin + 1);
  LLVMValueRef p2 = LLVMBuildFAdd(m->b, p, p, "");
  LLVMValueRef normal = LLVMBuildFMul(m->b, p2, pow2_int(m, LLVMBuildSub(m->b, kn, mb_ic(m, 1), "")), "");
  /* k <= emin: p 2^(k - emin + mant) >= 2^-2, below 2^(mant + 1) */
  LLVMValueRef ks = LLVMBuildAdd(m->b, imin(m, ki, emin), mb_ic(m, mant - emin), "");
  LLVMValueRef w = LLVMBuildFMul(m->b, p, pow2_int(m, ks), "");
  LLVMValueRef n = LLVMBuildFPToSI(m->b, mb_un(m, "llvm.rint", w), m->it, "");
  LLVMValueRef sub = LLVMBuildBitCast(m->b, n, m->t, "");
  return LLVMBuildSelect(m->b, LLVMBuildICmp(m->b, LLVMIntSLE, ki, mb_ic(m, emin), ""), sub, normal, "");
}

/* exp(x + lo): lo (NULL for none) joins the reduced argument r, where it
 * is far below r's rounding error only for the x that saturate */
LLVMValueRef math_exp_body(MathB *mb, LLVMValueRef x, LLVMValueRef lo) {
  MathB *m = mb;
  double hi_lim = m->dbl ? 709.782712893384 : 88.72283935546875;
  double lo_lim = m->dbl ? -745.1332191019412 : -103.97208404541016;
  double ln2_hi = m->dbl ? LN2_HI_F64 : LN2_HI_F32, ln2_lo = m->dbl ? LN2_LO_F64 : LN2_LO_F32;
  /* keep the arithmetic finite (the ends are fixed up below); x below
   * lo_lim computes exp(0) instead of a clamped value, whose subnormal
   * intermediate cost a microcode assist per element on x86 (R = exp(L - lse)
   * of well-separated components: 4-7x slower in float32) */
  LLVMValueRef args[2] = {x, mb_c(m, hi_lim + 1.0)};
  LLVMValueRef xc = mb_intrinsic(m, "llvm.minnum", args, 2);
  xc = mb_sel(m, mb_cmp(m, LLVMRealOLT, x, mb_c(m, lo_lim)), mb_c(m, 0.0), xc);
  LLVMValueRef kx = LLVMBuildFMul(m->b, xc, mb_c(m, 1.4426950408889634), "");
  LLVMValueRef k = mb_intrinsic(m, "llvm.rint", &kx, 1);
  LLVMValueRef r = mb_fmuladd(m, k, mb_c(m, -ln2_hi), xc);
  r = mb_fmuladd(m, k, mb_c(m, -ln2_lo), r);
  if (lo) {
    LLVMValueRef in = mb_cmp(m, LLVMRealOLT, mb_un(m, "llvm.fabs", x), mb_c(m, hi_lim + 1.0));
    r = mb_add(m, r, mb_sel(m, in, lo, mb_c(m, 0.0)));
  }
  int deg = m->dbl ? 13 : 7;
  double coef[14];
  coef[0] = 1.0;
  for (int i = 1; i <= deg; i++) coef[i] = coef[i - 1] / i;
  LLVMValueRef p = mb_poly(m, r, coef, deg + 1);
  LLVMValueRef res = m->gpu ? scale_halves(m, p, k) : scale_exact(m, p, k);
  LLVMValueRef big = LLVMBuildFCmp(m->b, LLVMRealOGT, x, mb_c(m, hi_lim), "");
  LLVMValueRef small = LLVMBuildFCmp(m->b, LLVMRealOLT, x, mb_c(m, lo_lim), "");
  LLVMValueRef nan = LLVMBuildFCmp(m->b, LLVMRealUNO, x, x, "");
  res = LLVMBuildSelect(m->b, big, mb_c(m, INFINITY), res, "");
  res = LLVMBuildSelect(m->b, small, mb_c(m, 0.0), res, "");
  return LLVMBuildSelect(m->b, nan, x, res, "");
}

LLVMValueRef math_exp_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  MathB m;
  LLVMValueRef fn, x;
  if (!mb_begin(&m, mod, t, LLVMGetTypeKind(t) == LLVMDoubleTypeKind ? "gmmc.exp.f64" : "gmmc.exp.f32", 1, &x, &fn))
    return fn;
  mb_end(&m, math_exp_body(&m, x, NULL));
  return fn;
}

/* x = 2^e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1) exactly, for positive
 * finite x (subnormals scaled into the normal range first). */
static void log_reduce(MathB *m, LLVMValueRef x, LLVMValueRef *f_out, LLVMValueRef *e_out) {
  int shift = m->dbl ? 52 : 23, bias = m->dbl ? 1023 : 127;
  long long mant_mask = m->dbl ? 0x000fffffffffffffLL : 0x007fffff;
  long long one_bits = m->dbl ? 0x3ff0000000000000LL : 0x3f800000;
  double tiny = m->dbl ? 2.2250738585072014e-308 : 1.1754943508222875e-38;
  double scale = m->dbl ? 18014398509481984.0 /* 2^54 */ : 16777216.0 /* 2^24 */;
  int scale_e = m->dbl ? 54 : 24;
  LLVMValueRef sub = LLVMBuildFCmp(m->b, LLVMRealOLT, x, mb_c(m, tiny), "");
  LLVMValueRef xs = LLVMBuildSelect(m->b, sub, LLVMBuildFMul(m->b, x, mb_c(m, scale), ""), x, "");
  LLVMValueRef eadj = LLVMBuildSelect(m->b, sub, mb_c(m, -scale_e), mb_c(m, 0.0), "");
  LLVMValueRef bits = LLVMBuildBitCast(m->b, xs, m->it, "");
  LLVMValueRef e = LLVMBuildSub(m->b, LLVMBuildLShr(m->b, bits, mb_ic(m, shift), ""), mb_ic(m, bias), "");
  LLVMValueRef mbits = LLVMBuildOr(m->b, LLVMBuildAnd(m->b, bits, mb_ic(m, mant_mask), ""), mb_ic(m, one_bits), "");
  LLVMValueRef mant = LLVMBuildBitCast(m->b, mbits, m->t, "");
  LLVMValueRef ef = LLVMBuildFAdd(m->b, LLVMBuildSIToFP(m->b, e, m->t, ""), eadj, "");
  LLVMValueRef big = LLVMBuildFCmp(m->b, LLVMRealOGT, mant, mb_c(m, 1.4142135623730951), "");
  mant = LLVMBuildSelect(m->b, big, LLVMBuildFMul(m->b, mant, mb_c(m, 0.5), ""), mant, "");
  *e_out = LLVMBuildSelect(m->b, big, LLVMBuildFAdd(m->b, ef, mb_c(m, 1.0), ""), ef, "");
  *f_out = LLVMBuildFSub(m->b, mant, mb_c(m, 1.0), "");
}

LLVMValueRef math_log_fn(LLVMModuleRef mod, LLVMTypeRef t) {
  MathB mm, *m = &mm;
  LLVMValueRef fn, x;
  if (!mb_begin(m, mod, t, LLVMGetTypeKind(t) == LLVMDoubleTypeKind ? "gmmc.log.f64" : "gmmc.log.f32", 1, &x, &fn))
    return fn;
  LLVMValueRef f, ef;
  log_reduce(m, x, &f, &ef);
  /* log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f): f is
   * exact and carries the result, the rest is a small correction */
  LLVMValueRef s = LLVMBuildFDiv(m->b, f, LLVMBuildFAdd(m->b, f, mb_c(m, 2.0), ""), "");
  LLVMValueRef z = LLVMBuildFMul(m->b, s, s, "");
  int terms = m->dbl ? 10 : 5;
  double c[10];
  for (int i = 1; i <= terms; i++) c[i - 1] = 2.0 / (2 * i + 1);
  LLVMValueRef p = mb_poly(m, z, c, terms);
  LLVMValueRef rr = LLVMBuildFMul(m->b, z, p, "");
  LLVMValueRef hfsq = LLVMBuildFMul(m->b, LLVMBuildFMul(m->b, f, mb_c(m, 0.5), ""), f, "");
  double ln2_hi = m->dbl ? LN2_HI_F64 : LN2_HI_F32, ln2_lo = m->dbl ? LN2_LO_F64 : LN2_LO_F32;
  LLVMValueRef corr = mb_fmuladd(m, s, LLVMBuildFAdd(m->b, hfsq, rr, ""), LLVMBuildFMul(m->b, ef, mb_c(m, ln2_lo), ""));
  LLVMValueRef res = LLVMBuildFSub(m->b, LLVMBuildFSub(m->b, hfsq, corr, ""), f, "");
  res = LLVMBuildFSub(m->b, LLVMBuildFMul(m->b, ef, mb_c(m, ln2_hi), ""), res, "");
  /* special values: log(0) = -inf, log(<0) = NaN, log(inf) = inf, NaN stays */
  LLVMValueRef zero = LLVMBuildFCmp(m->b, LLVMRealOEQ, x, mb_c(m, 0.0), "");
  LLVMValueRef neg = LLVMBuildFCmp(m->b, LLVMRealULT, x, mb_c(m, 0.0), "");
  LLVMValueRef inf = LLVMBuildFCmp(m->b, LLVMRealOEQ, x, mb_c(m, INFINITY), "");
  res = LLVMBuildSelect(m->b, inf, mb_c(m, INFINITY), res, "");
  res = LLVMBuildSelect(m->b, zero, mb_c(m, -INFINITY), res, "");
  res = LLVMBuildSelect(m->b, neg, mb_c(m, NAN), res, "");
  LLVMValueRef nan = LLVMBuildFCmp(m->b, LLVMRealUNO, x, x, "");
  res = LLVMBuildSelect(m->b, nan, x, res, "");
  mb_end(m, res);
  return fn;
}

/* ---- double-double ---- */

DD dd_two_sum(MathB *m, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef s = mb_add(m, a, b), bb = mb_sub(m, s, a);
  LLVMValueRef e = mb_add(m, mb_sub(m, a, mb_sub(m, s, bb)), mb_sub(m, b, bb));
  return (DD){s, e};
}

DD dd_fast_two_sum(MathB *m, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef s = mb_add(m, a, b);
  return (DD){s, mb_sub(m, b, mb_sub(m, s, a))};
}

/* Veltkamp's split: a = hi + lo, each with at most 26 significant bits */
static void split(MathB *m, LLVMValueRef a, LLVMValueRef *hi, LLVMValueRef *lo) {
  LLVMValueRef c = mb_mul(m, a, mb_c(m, 134217729.0)); /* 2^27 + 1 */
  *hi = mb_sub(m, c, mb_sub(m, c, a));
  *lo = mb_sub(m, a, *hi);
}

DD dd_two_prod(MathB *m, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef p = mb_mul(m, a, b), ah, al, bh, bl;
  if (m->gpu) {
    LLVMValueRef args[3] = {a, b, LLVMBuildFNeg(m->b, p, "")};
    return (DD){p, mb_intrinsic(m, "llvm.fma", args, 3)};
  }
  split(m, a, &ah, &al);
  split(m, b, &bh, &bl);
  LLVMValueRef e = mb_add(m, mb_sub(m, mb_mul(m, ah, bh), p), mb_mul(m, ah, bl));
  e = mb_add(m, mb_add(m, e, mb_mul(m, al, bh)), mb_mul(m, al, bl));
  return (DD){p, e};
}

DD dd_mul_d(MathB *m, DD a, LLVMValueRef b) {
  DD p = dd_two_prod(m, a.hi, b);
  return dd_fast_two_sum(m, p.hi, mb_add(m, p.lo, mb_mul(m, a.lo, b)));
}

DD dd_recip(MathB *m, LLVMValueRef a, double num) {
  LLVMValueRef q = mb_div(m, mb_c(m, num), a);
  DD p = dd_two_prod(m, q, a); /* num - q a is exact */
  LLVMValueRef r = mb_sub(m, mb_sub(m, mb_c(m, num), p.hi), p.lo);
  return (DD){q, mb_div(m, r, a)};
}

/* log(x) = e ln2 + 2 atanh(s), s = f / (2 + f) carried as a double-double,
 * 2 atanh(s) = 2 s + (2/3) s^3 + s^5 Q(s^2): the first two terms in
 * double-double, Q (at most 6e-5 of the result) in double. */
DD math_log_dd(MathB *m, LLVMValueRef x) {
  LLVMValueRef f, ef;
  log_reduce(m, x, &f, &ef);
  DD d = dd_two_sum(m, mb_c(m, 2.0), f);
  LLVMValueRef sh = mb_div(m, f, d.hi);
  DD p = dd_two_prod(m, sh, d.hi);
  LLVMValueRef r = mb_sub(m, mb_sub(m, mb_sub(m, f, p.hi), p.lo), mb_mul(m, sh, d.lo));
  LLVMValueRef sl = mb_div(m, r, d.hi);
  /* z = s^2, c = s^3, t = (2/3) s^3, each a double-double */
  DD z = dd_two_prod(m, sh, sh);
  z.lo = mb_add(m, z.lo, mb_mul(m, mb_mul(m, sh, sl), mb_c(m, 2.0)));
  DD c = dd_two_prod(m, z.hi, sh);
  c.lo = mb_add(m, c.lo, mb_add(m, mb_mul(m, z.hi, sl), mb_mul(m, z.lo, sh)));
  const double k_hi = 2.0 / 3.0, k_lo = 3.700743415417188e-17; /* 2/3 - k_hi */
  DD t = dd_two_prod(m, c.hi, mb_c(m, k_hi));
  t.lo = mb_add(m, t.lo, mb_add(m, mb_mul(m, c.hi, mb_c(m, k_lo)), mb_mul(m, c.lo, mb_c(m, k_hi))));
  double q[12];
  for (int i = 2; i < 14; i++) q[i - 2] = 2.0 / (2 * i + 1);
  LLVMValueRef s5 = mb_mul(m, c.hi, z.hi);
  LLVMValueRef rest = mb_mul(m, s5, mb_poly(m, z.hi, q, 12));
  LLVMValueRef a = mb_mul(m, ef, mb_c(m, LN2_HI_F64)); /* exact */
  DD h = dd_two_sum(m, a, mb_mul(m, sh, mb_c(m, 2.0)));
  DD h2 = dd_two_sum(m, h.hi, t.hi);
  LLVMValueRef lo = mb_add(m, mb_add(m, h.lo, h2.lo), mb_mul(m, sl, mb_c(m, 2.0)));
  lo = mb_add(m, lo, mb_add(m, mb_add(m, t.lo, rest), mb_mul(m, ef, mb_c(m, LN2_LO_F64))));
  return dd_fast_two_sum(m, h2.hi, lo);
}
