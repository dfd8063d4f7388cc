/* Shared by the element math written in IR (math_ir.c, math_pow.c,
 * math_gamma.c): a builder positioned in a new internal, always-inlined
 * function, a few arithmetic shorthands, and double-double pieces.
 *
 * The double-double product is Dekker's on the host (+ - * only: llvm.fma
 * is a libm call on a host without FMA, and the host contracts nothing but
 * the loop IR's multiply-adds) and llvm.fma on the GPU, which has it and
 * where LLVM may contract any a*b + c, Veltkamp's split included. */
#ifndef GMMC_COMPILER_MATH_IR_H
#define GMMC_COMPILER_MATH_IR_H

#include <llvm-c/Core.h>

typedef struct {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef t, it; /* float type and same-width integer type */
  int dbl;
  int gpu; /* the module is for NVPTX */
} MathB;

/* A value hi + lo with |lo| <= ulp(hi) / 2 (or so). */
typedef struct {
  LLVMValueRef hi, lo;
} DD;

/* Starts the function `name` taking nargs values of type t (its arguments in
 * args) and returns 1, or returns 0 with *fn_out set when the module has it. */
int mb_begin(MathB *m, LLVMModuleRef mod, LLVMTypeRef t, const char *name, int nargs, LLVMValueRef *args,
             LLVMValueRef *fn_out);
/* Returns res and disposes of the builder. */
void mb_end(MathB *m, LLVMValueRef res);

LLVMValueRef mb_c(MathB *m, double v);
LLVMValueRef mb_ic(MathB *m, long long v);
LLVMValueRef mb_intrinsic(MathB *m, const char *name, LLVMValueRef *args, unsigned n);
LLVMValueRef mb_add(MathB *m, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_sub(MathB *m, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_mul(MathB *m, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_div(MathB *m, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_fmuladd(MathB *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c); /* fused where the target has FMA */
LLVMValueRef mb_sel(MathB *m, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_cmp(MathB *m, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef mb_un(MathB *m, const char *intrinsic, LLVMValueRef a); /* llvm.fabs, llvm.rint, llvm.floor */
/* Horner: c[0] + x (c[1] + x (... c[n-1])) */
LLVMValueRef mb_poly(MathB *m, LLVMValueRef x, const double *c, int n);

/* Double-double arithmetic (float64 functions only). */
DD dd_two_sum(MathB *m, LLVMValueRef a, LLVMValueRef b);      /* a + b exactly */
DD dd_fast_two_sum(MathB *m, LLVMValueRef a, LLVMValueRef b); /* the same, for |a| >= |b| */
DD dd_two_prod(MathB *m, LLVMValueRef a, LLVMValueRef b);     /* a * b exactly, for |a|, |b| < 2^995 */
DD dd_mul_d(MathB *m, DD a, LLVMValueRef b);                  /* (a.hi + a.lo) * b */
DD dd_recip(MathB *m, LLVMValueRef a, double num);            /* num / a */

/* log(x) = hi + lo with a relative error near 2^-64, for positive finite x
 * (subnormals included); no special values. */
DD math_log_dd(MathB *m, LLVMValueRef x);
/* exp(x + lo) for |lo| <= ulp(x) (lo is dropped where x is not finite or
 * beyond the overflow and underflow thresholds), with exp's special values. */
LLVMValueRef math_exp_body(MathB *m, LLVMValueRef x, LLVMValueRef lo);

#endif
