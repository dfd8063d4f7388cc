/* Loop IR -> LLVM IR. Local variables become allocas (mem2reg promotes
 * them); loops are plain compare-and-branch loops that the O3 pipeline
 * unrolls and vectorizes; sizes other than the event count are constants, so
 * every address below the event axis is a constant stride. */
#include "codegen.h"

#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const Program *p;
  const Kernel *k;
  TargetKind target;
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;
  LLVMValueRef *buf; /* buffer pointers */
  LLVMValueRef n_local, n_total;
  LLVMValueRef *scalar;
  LLVMValueRef *var;    /* allocas */
  LLVMValueRef *shared; /* shared arrays of a grid kernel (address space 3) */
  LLVMTypeRef i1, i32, i64, f32, f64, ptr, vd;
  Arena scratch; /* the arrays above and names; out of memory escapes from it */
} CG;

int program_arg_slots(const Program *p) { return p->nbufs + 2 + p->spec->scalars.len; }

int kernel_param_slots(const Program *p, const Kernel *k, int *slots) {
  int n = 0;
  for (int i = 0; i < p->nbufs; i++)
    if (k->reads[i] || k->writes[i]) {
      if (slots) slots[n] = i;
      n++;
    }
  for (int i = p->nbufs; i < program_arg_slots(p); i++) {
    if (slots) slots[n] = i;
    n++;
  }
  return n;
}

/* ---- what a kernel's code depends on ---- */

typedef struct {
  uint64_t h;
  const int *param; /* buffer id -> parameter position */
} Digest;

/* Word at a time: a cache hit digests every kernel it loads (a byte-wise
 * FNV-1a took 2 ms for the kernels of a tuned full-covariance program). */
static void mix(Digest *d, const int64_t *v, size_t n) {
  uint64_t h = d->h;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ (uint64_t)v[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  d->h = h;
}

/* One word of a node's small fields, then its numbers where it has any. */
static int64_t pack(int kind, int type, int op, int flag, int var) {
  return (int64_t)((uint64_t)(kind & 0xff) | (uint64_t)(type & 0xff) << 8 | (uint64_t)(op & 0xff) << 16 |
                   (uint64_t)(flag & 0xff) << 24 | (uint64_t)(uint32_t)var << 32);
}

static void digest_expr(Digest *d, const LExpr *e) {
  if (!e) {
    mix(d, (int64_t[]){-1}, 1);
    return;
  }
  int64_t f[3] = {pack(e->kind, e->type, e->op, e->reassoc, e->var)};
  size_t n = 1;
  switch (e->kind) {
  case LX_CONST:
    memcpy(&f[1], &e->num, 8);
    f[2] = e->inum;
    n = 3;
    break;
  case LX_SHFL_XOR: f[n++] = e->inum; break;
  case LX_LOAD: f[n++] = d->param[e->buf]; break;
  case LX_SLOAD: f[n++] = e->buf; break;
  case LX_SCALAR: f[n++] = e->scalar; break;
  default: break;
  }
  mix(d, f, n);
  for (int i = 0; e->kind == LX_LOAD && e->idx && e->idx[i]; i++) digest_expr(d, e->idx[i]);
  if (e->a) digest_expr(d, e->a);
  if (e->b) digest_expr(d, e->b);
  if (e->c) digest_expr(d, e->c);
}

static void digest_stmt(Digest *d, const LStmt *s) {
  if (!s) {
    mix(d, (int64_t[]){-1}, 1);
    return;
  }
  int buf = s->kind == LS_STORE ? d->param[s->buf] : s->kind == LS_FAIL ? d->param[s->status_buf] : s->buf;
  int64_t f[3] = {pack(s->kind, 0, 0, 0, s->var),
                  (int64_t)((uint64_t)(uint32_t)s->nbody | (uint64_t)(uint32_t)buf << 32), s->slot};
  mix(d, f, s->kind == LS_FAIL || s->kind == LS_COPY_WAIT ? 3 : 2);
  for (int i = 0; s->kind == LS_BLOCK && i < s->nbody; i++) digest_stmt(d, s->body[i]);
  int flat = s->kind == LS_SSTORE || s->kind == LS_COPY_ASYNC; /* one flat index */
  for (int i = 0; (s->kind == LS_STORE || flat) && s->idx && s->idx[i]; i++) {
    digest_expr(d, s->idx[i]);
    if (flat) break;
  }
  if (s->kind == LS_MMA) {
    int64_t dv[4] = {s->mma_d[0], s->mma_d[1], s->mma_d[2], s->mma_d[3]};
    mix(d, dv, 4);
    for (int i = 0; i < MMA_ARGS; i++) digest_expr(d, s->idx[i]);
  }
  if (s->lo) digest_expr(d, s->lo);
  if (s->hi) digest_expr(d, s->hi);
  if (s->value) digest_expr(d, s->value);
  if (s->cond) digest_expr(d, s->cond);
  if (s->then) digest_stmt(d, s->then);
  if (s->els) digest_stmt(d, s->els);
}

uint64_t kernel_code_digest(const Program *p, const Kernel *k) {
  int slots = program_arg_slots(p);
  /* on the stack: a digest has no way to fail (a few ints per buffer) */
  int slot[slots + 1], param[p->nbufs + 1];
  int n = kernel_param_slots(p, k, slot);
  Digest d = {.h = fnv1a(FNV1A_INIT, k->name, strlen(k->name) + 1), .param = param};
  for (int i = 0; i < p->nbufs; i++) param[i] = -1;
  for (int j = 0; j < n; j++) {
    int i = slot[j];
    if (i >= p->nbufs) continue;
    const Buffer *b = p->bufs[i];
    param[i] = j;
    int64_t f[4 + GMMC_MAX_RANK + 1] = {b->elem, b->rank, b->event, k->writes[i]};
    for (int a = 0; a < b->rank; a++) f[4 + a] = b->dims[a];
    mix(&d, f, 4 + (size_t)b->rank);
  }
  int64_t f[] = {n,          slots - p->nbufs, k->launch, k->block_size, k->block[0], k->block[1], k->min_blocks,
                 k->compact, k->pvar,          k->nvars,  k->nshared};
  mix(&d, f, sizeof f / sizeof *f);
  for (int i = 0; i < k->nvars; i++) mix(&d, (int64_t[]){k->vars[i].type}, 1);
  for (int i = 0; i < k->nshared; i++) {
    d.h = fnv1a(d.h, k->shared[i].name, strlen(k->shared[i].name) + 1);
    mix(&d, (int64_t[]){k->shared[i].type, k->shared[i].count}, 2);
  }
  digest_expr(&d, k->count);
  digest_stmt(&d, k->body);
  return d.h;
}

static LLVMTypeRef ty(CG *g, LType t) {
  switch (t) {
  case LT_BOOL: return g->i1;
  case LT_I32: return g->i32;
  case LT_I64: return g->i64;
  case LT_F32: return g->f32;
  case LT_F64: return g->f64;
  default: return g->vd;
  }
}

static LLVMValueRef call_intrinsic(CG *g, const char *name, LLVMTypeRef overload, LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMTypeRef tys[1] = {overload};
  unsigned ntys = overload ? 1 : 0;
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, tys, ntys);
  LLVMTypeRef fty = LLVMIntrinsicGetType(g->ctx, id, tys, ntys);
  return LLVMBuildCall2(g->b, fty, fn, args, n, "");
}

static LLVMValueRef gen_expr(CG *g, const LExpr *e);

/* Multiply-adds. On the GPU LLVM may contract any a*b + c into an FMA:
 * every event runs the same code. On the host one event may run in a loop's
 * vector body and another in its scalar remainder, and LLVM's contractions
 * of the two need not agree (seen: x86-64-v3, one ulp), so an event's value
 * would depend on where a chunk or a thread's range ends. There the lowering
 * decides instead: exactly the a*b + c and a*b - c that the loop IR holds
 * become llvm.fmuladd, which a CPU with FMA fuses in scalar and vector code
 * alike, and nothing else is contracted (docs/limits.md). */
static LLVMValueRef fp_flags(CG *g, LLVMValueRef v, int reassoc) {
  unsigned contract = g->target == TARGET_NVPTX ? LLVMFastMathAllowContract : 0;
  if (LLVMCanValueUseFastMathFlags(v)) LLVMSetFastMathFlags(v, contract | (reassoc ? LLVMFastMathAllowReassoc : 0));
  return v;
}

static int is_fmul(const LExpr *e) { return e->kind == LX_BINARY && e->op == LB_MUL && ltype_is_float(e->type); }

/* The host's a*b + c, c + a*b, a*b - c and c - a*b as one llvm.fmuladd
 * (NULL when e is none of them). */
static LLVMValueRef gen_muladd(CG *g, const LExpr *e) {
  if (g->target != TARGET_HOST || !ltype_is_float(e->type) || (e->op != LB_ADD && e->op != LB_SUB)) return NULL;
  int left = is_fmul(e->a);
  if (!left && !is_fmul(e->b)) return NULL;
  const LExpr *mul = left ? e->a : e->b, *other = left ? e->b : e->a;
  LLVMValueRef x = gen_expr(g, mul->a), y = gen_expr(g, mul->b), c = gen_expr(g, other);
  if (e->op == LB_SUB && left) c = LLVMBuildFNeg(g->b, c, "");  /* a*b - c */
  if (e->op == LB_SUB && !left) x = LLVMBuildFNeg(g->b, x, ""); /* c - a*b = (-a)*b + c, exactly */
  LLVMValueRef args[3] = {x, y, c};
  return fp_flags(g, call_intrinsic(g, "llvm.fmuladd", ty(g, e->type), args, 3), e->reassoc);
}

static LLVMValueRef cast(CG *g, LLVMValueRef v, LType from, LType to) {
  if (from == to) return v;
  LLVMTypeRef t = ty(g, to);
  if (to == LT_BOOL) {
    if (ltype_is_float(from)) return LLVMBuildFCmp(g->b, LLVMRealUNE, v, LLVMConstReal(ty(g, from), 0.0), "");
    return LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(ty(g, from), 0, 0), "");
  }
  if (ltype_is_float(to)) {
    if (ltype_is_float(from)) return to == LT_F64 ? LLVMBuildFPExt(g->b, v, t, "") : LLVMBuildFPTrunc(g->b, v, t, "");
    if (from == LT_BOOL) return LLVMBuildUIToFP(g->b, v, t, "");
    return LLVMBuildSIToFP(g->b, v, t, "");
  }
  if (ltype_is_float(from)) return LLVMBuildFPToSI(g->b, v, t, "");
  if (from == LT_BOOL) return LLVMBuildZExt(g->b, v, t, "");
  if (from == LT_I32 && to == LT_I64) return LLVMBuildSExt(g->b, v, t, "");
  return LLVMBuildTrunc(g->b, v, t, "");
}

static LLVMValueRef nvvm_sreg(CG *g, const char *name) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, NULL, 0);
  LLVMTypeRef fty = LLVMIntrinsicGetType(g->ctx, id, NULL, 0);
  return LLVMBuildZExt(g->b, LLVMBuildCall2(g->b, fty, fn, NULL, 0, name + 24), g->i64, "");
}

static LLVMValueRef element_ptr(CG *g, int bufid, LExpr *const *idx) {
  const Buffer *bf = g->p->bufs[bufid];
  LLVMValueRef off = NULL;
  int64_t stride = 1;
  for (int a = bf->rank - 1; a >= 0; a--) {
    LLVMValueRef i = gen_expr(g, idx[a]);
    LLVMValueRef term =
        stride == 1 ? i : LLVMBuildNSWMul(g->b, i, LLVMConstInt(g->i64, (unsigned long long)stride, 0), "");
    off = off ? LLVMBuildNSWAdd(g->b, off, term, "") : term;
    stride *= bf->dims[a];
  }
  if (!off) off = LLVMConstInt(g->i64, 0, 0);
  return LLVMBuildInBoundsGEP2(g->b, ty(g, bf->elem), g->buf[bufid], &off, 1, bf->name);
}

/* A float32 rounded to TF32, nearest with ties away from zero: on the GPU
 * cvt.rna.tf32.f32 (llvm.nvvm.f2tf32.rna, its bits as an i32, read back as
 * the float32 whose low 13 mantissa bits are zero: the 3xTF32 split
 * subtracts it from the operand, as CUTLASS's does; the CUDA guide calls the
 * layout implementation-defined, so GMMC_VERIFY_VARIANTS checks it on each
 * device, tests/gpu/mma_check.sh); on the host,
 * which no variant with MMA reaches, the same rounding in integer
 * arithmetic (add half of the dropped 13 bits' weight to the magnitude and
 * clear them; infinities and NaNs pass). */
static LLVMValueRef gen_tf32(CG *g, LLVMValueRef a) {
  if (g->target == TARGET_NVPTX)
    return LLVMBuildBitCast(g->b, call_intrinsic(g, "llvm.nvvm.f2tf32.rna", NULL, &a, 1), g->f32, "");
  LLVMValueRef bits = LLVMBuildBitCast(g->b, a, g->i32, "");
  LLVMValueRef mag = LLVMBuildAnd(g->b, bits, LLVMConstInt(g->i32, 0x7fffffffu, 0), "");
  LLVMValueRef finite = LLVMBuildICmp(g->b, LLVMIntULT, mag, LLVMConstInt(g->i32, 0x7f800000u, 0), "");
  LLVMValueRef r = LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, bits, LLVMConstInt(g->i32, 0x1000u, 0), ""),
                                LLVMConstInt(g->i32, 0xffffe000u, 0), "");
  return LLVMBuildBitCast(g->b, LLVMBuildSelect(g->b, finite, r, bits, ""), g->f32, "");
}

static LLVMValueRef gen_unary(CG *g, const LExpr *e) {
  LLVMValueRef a = gen_expr(g, e->a);
  LLVMTypeRef t = ty(g, e->type);
  switch (e->op) {
  case LU_NEG: return ltype_is_float(e->type) ? LLVMBuildFNeg(g->b, a, "") : LLVMBuildNeg(g->b, a, "");
  case LU_NOT: return LLVMBuildNot(g->b, a, "");
  case LU_EXP: {
    LLVMValueRef fn = math_exp_fn(g->mod, t);
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, &a, 1, "");
  }
  case LU_LOG: {
    LLVMValueRef fn = math_log_fn(g->mod, t);
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, &a, 1, "");
  }
  case LU_LOG1P:
  case LU_LGAMMA:
  case LU_DIGAMMA: {
    LLVMValueRef fn = e->op == LU_LOG1P    ? math_log1p_fn(g->mod, t)
                      : e->op == LU_LGAMMA ? math_lgamma_fn(g->mod, t)
                                           : math_digamma_fn(g->mod, t);
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, &a, 1, "");
  }
  case LU_SQRT: return call_intrinsic(g, "llvm.sqrt", t, &a, 1);
  case LU_TF32: return gen_tf32(g, a);
  case LU_ABS:
    if (ltype_is_float(e->type)) return call_intrinsic(g, "llvm.fabs", t, &a, 1);
    {
      LLVMValueRef args[2] = {a, LLVMConstInt(g->i1, 0, 0)};
      return call_intrinsic(g, "llvm.abs", t, args, 2);
    }
  }
  return NULL;
}

static LLVMValueRef gen_binary(CG *g, const LExpr *e) {
  LLVMValueRef fused = gen_muladd(g, e);
  if (fused) return fused;
  LLVMValueRef a = gen_expr(g, e->a), b = gen_expr(g, e->b);
  int fl = ltype_is_float(e->a->type);
  LLVMTypeRef t = ty(g, e->a->type);
  switch (e->op) {
  case LB_ADD: return fl ? fp_flags(g, LLVMBuildFAdd(g->b, a, b, ""), e->reassoc) : LLVMBuildNSWAdd(g->b, a, b, "");
  case LB_SUB: return fl ? fp_flags(g, LLVMBuildFSub(g->b, a, b, ""), e->reassoc) : LLVMBuildNSWSub(g->b, a, b, "");
  case LB_MUL: return fl ? fp_flags(g, LLVMBuildFMul(g->b, a, b, ""), e->reassoc) : LLVMBuildNSWMul(g->b, a, b, "");
  case LB_DIV: return fl ? fp_flags(g, LLVMBuildFDiv(g->b, a, b, ""), 0) : LLVMBuildSDiv(g->b, a, b, "");
  case LB_REM: return fl ? LLVMBuildFRem(g->b, a, b, "") : LLVMBuildSRem(g->b, a, b, "");
  case LB_MIN:
  case LB_MAX: {
    LLVMValueRef args[2] = {a, b};
    const char *name =
        fl ? (e->op == LB_MIN ? "llvm.minnum" : "llvm.maxnum") : (e->op == LB_MIN ? "llvm.smin" : "llvm.smax");
    return call_intrinsic(g, name, t, args, 2);
  }
  case LB_POW: {
    LLVMValueRef fn = math_pow_fn(g->mod, t), args[2] = {a, b};
    return LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, 2, "");
  }
  case LB_AND: return LLVMBuildAnd(g->b, a, b, "");
  case LB_OR: return LLVMBuildOr(g->b, a, b, "");
  default: break;
  }
  static const LLVMRealPredicate fp[] = {LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE, LLVMRealOEQ, LLVMRealUNE};
  static const LLVMIntPredicate ip[] = {LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE, LLVMIntEQ, LLVMIntNE};
  int c = e->op - LB_LT;
  return fl ? LLVMBuildFCmp(g->b, fp[c], a, b, "") : LLVMBuildICmp(g->b, ip[c], a, b, "");
}

static LLVMValueRef gen_expr(CG *g, const LExpr *e) {
  switch (e->kind) {
  case LX_CONST:
    if (ltype_is_float(e->type)) return LLVMConstReal(ty(g, e->type), e->num);
    return LLVMConstInt(ty(g, e->type), (unsigned long long)e->inum, 1);
  case LX_VAR: return LLVMBuildLoad2(g->b, ty(g, e->type), g->var[e->var], g->k->vars[e->var].name);
  case LX_LOAD: {
    LLVMValueRef ptr = element_ptr(g, e->buf, e->idx);
    return LLVMBuildLoad2(g->b, ty(g, e->type), ptr, "");
  }
  case LX_NLOCAL: return g->n_local;
  case LX_NTOTAL: return g->n_total;
  case LX_SCALAR: return g->scalar[e->scalar];
  case LX_UNARY: return gen_unary(g, e);
  case LX_BINARY: return gen_binary(g, e);
  case LX_SELECT: {
    LLVMValueRef c = gen_expr(g, e->a), a = gen_expr(g, e->b), b = gen_expr(g, e->c);
    return LLVMBuildSelect(g->b, c, a, b, "");
  }
  case LX_CAST: return cast(g, gen_expr(g, e->a), e->a->type, e->type);
  case LX_SREG: {
    static const char *names[] = {"llvm.nvvm.read.ptx.sreg.tid.x",   "llvm.nvvm.read.ptx.sreg.tid.y",
                                  "llvm.nvvm.read.ptx.sreg.ctaid.x", "llvm.nvvm.read.ptx.sreg.ctaid.y",
                                  "llvm.nvvm.read.ptx.sreg.ctaid.z", "llvm.nvvm.read.ptx.sreg.nctaid.z"};
    return nvvm_sreg(g, names[e->op]);
  }
  case LX_SLOAD: {
    LLVMValueRef i = gen_expr(g, e->a);
    LLVMTypeRef t = ty(g, e->type);
    LLVMValueRef ptr = LLVMBuildInBoundsGEP2(g->b, t, g->shared[e->buf], &i, 1, "");
    return LLVMBuildLoad2(g->b, t, ptr, "");
  }
  case LX_SHFL_XOR: {
    /* 32-bit lanes; a double travels as two halves */
    LLVMValueRef v = gen_expr(g, e->a);
    LLVMValueRef mask = LLVMConstInt(g->i32, 0xffffffffu, 0),
                 lane = LLVMConstInt(g->i32, (unsigned long long)e->inum, 0), clamp = LLVMConstInt(g->i32, 31, 0);
    const char *name = "llvm.nvvm.shfl.sync.bfly.i32";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, NULL, 0);
    LLVMTypeRef fty = LLVMIntrinsicGetType(g->ctx, id, NULL, 0);
    if (e->type == LT_F64 || e->type == LT_I64) {
      LLVMValueRef bits = e->type == LT_F64 ? LLVMBuildBitCast(g->b, v, g->i64, "") : v;
      LLVMValueRef lo = LLVMBuildTrunc(g->b, bits, g->i32, ""),
                   hi = LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, bits, LLVMConstInt(g->i64, 32, 0), ""), g->i32, "");
      LLVMValueRef a1[4] = {mask, lo, lane, clamp}, a2[4] = {mask, hi, lane, clamp};
      lo = LLVMBuildCall2(g->b, fty, fn, a1, 4, "");
      hi = LLVMBuildCall2(g->b, fty, fn, a2, 4, "");
      LLVMValueRef r =
          LLVMBuildOr(g->b, LLVMBuildZExt(g->b, lo, g->i64, ""),
                      LLVMBuildShl(g->b, LLVMBuildZExt(g->b, hi, g->i64, ""), LLVMConstInt(g->i64, 32, 0), ""), "");
      return e->type == LT_F64 ? LLVMBuildBitCast(g->b, r, g->f64, "") : r;
    }
    LLVMValueRef bits = e->type == LT_F32 ? LLVMBuildBitCast(g->b, v, g->i32, "") : v;
    LLVMValueRef args[4] = {mask, bits, lane, clamp};
    LLVMValueRef r = LLVMBuildCall2(g->b, fty, fn, args, 4, "");
    return e->type == LT_F32 ? LLVMBuildBitCast(g->b, r, g->f32, "") : r;
  }
  }
  return NULL;
}

static LLVMBasicBlockRef new_block(CG *g, const char *name) {
  return LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
}

/* LS_MMA through llvm.nvvm.mma.m16n8k8.row.col.tf32 (LLVM 19 selects it
 * for sm_80 and later, PTX 7.0): A and B as the i32 bits of their TF32
 * values, C and D float32. The host never gets one (the families that make
 * it are the GPU's, for compute capability 8.0 on): there it traps. */
static void gen_mma(CG *g, const LStmt *s) {
  if (g->target != TARGET_NVPTX) {
    call_intrinsic(g, "llvm.trap", NULL, NULL, 0);
    return;
  }
  LLVMValueRef args[MMA_ARGS];
  for (int i = 0; i < MMA_ARGS; i++) {
    args[i] = gen_expr(g, s->idx[i]);
    if (i < 6) args[i] = LLVMBuildBitCast(g->b, args[i], g->i32, "");
  }
  LLVMValueRef r = call_intrinsic(g, "llvm.nvvm.mma.m16n8k8.row.col.tf32", NULL, args, MMA_ARGS);
  for (unsigned i = 0; i < 4; i++) LLVMBuildStore(g->b, LLVMBuildExtractValue(g->b, r, i, ""), g->var[s->mma_d[i]]);
}

/* LS_COPY_ASYNC through llvm.nvvm.cp.async.ca.shared.global.{4,8}.s: a
 * source size of 0 where cond fails fills the element with zeros, and the
 * source address is then the buffer's first element, so that no address
 * outside it is formed. On the host (which no family gives one) a copy
 * made at once, as LS_SSTORE's. */
static void gen_copy_async(CG *g, const LStmt *s) {
  LType t = g->k->shared[s->buf].type;
  LLVMValueRef i = gen_expr(g, s->idx[0]);
  LLVMValueRef dst = LLVMBuildInBoundsGEP2(g->b, ty(g, t), g->shared[s->buf], &i, 1, "");
  LLVMValueRef c = gen_expr(g, s->cond);
  if (g->target != TARGET_NVPTX) {
    LLVMBasicBlockRef yes = new_block(g, "copy"), no = new_block(g, "zero"), done = new_block(g, "copied");
    LLVMBuildCondBr(g->b, c, yes, no);
    LLVMPositionBuilderAtEnd(g->b, yes);
    LLVMBuildStore(g->b, gen_expr(g, s->value), dst);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, no);
    LLVMBuildStore(g->b, LLVMConstNull(ty(g, t)), dst);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    return;
  }
  int bytes = t == LT_F64 ? 8 : 4;
  LLVMValueRef src = LLVMBuildSelect(g->b, c, element_ptr(g, s->value->buf, s->value->idx), g->buf[s->value->buf], "");
  LLVMValueRef args[3] = {
      dst, LLVMBuildAddrSpaceCast(g->b, src, LLVMPointerTypeInContext(g->ctx, 1), ""),
      LLVMBuildSelect(g->b, c, LLVMConstInt(g->i32, (unsigned)bytes, 0), LLVMConstInt(g->i32, 0, 0), "")};
  call_intrinsic(g, bytes == 8 ? "llvm.nvvm.cp.async.ca.shared.global.8.s" : "llvm.nvvm.cp.async.ca.shared.global.4.s",
                 NULL, args, 3);
}

static void gen_stmt(CG *g, const LStmt *s) {
  switch (s->kind) {
  case LS_BLOCK:
    for (int i = 0; i < s->nbody; i++) gen_stmt(g, s->body[i]);
    break;
  case LS_ASSIGN: LLVMBuildStore(g->b, gen_expr(g, s->value), g->var[s->var]); break;
  case LS_STORE: {
    LLVMValueRef v = gen_expr(g, s->value);
    LLVMBuildStore(g->b, v, element_ptr(g, s->buf, s->idx));
    break;
  }
  case LS_FOR: {
    const char *name = g->k->vars[s->var].name;
    LLVMValueRef hi = gen_expr(g, s->hi);
    LLVMBuildStore(g->b, gen_expr(g, s->lo), g->var[s->var]);
    LLVMBasicBlockRef cond = new_block(g, name), body = new_block(g, "body"), done = new_block(g, "done");
    LLVMBuildBr(g->b, cond);
    LLVMPositionBuilderAtEnd(g->b, cond);
    LLVMValueRef i = LLVMBuildLoad2(g->b, g->i64, g->var[s->var], name);
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, i, hi, ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    gen_stmt(g, s->then);
    LLVMValueRef i2 = LLVMBuildLoad2(g->b, g->i64, g->var[s->var], name);
    LLVMBuildStore(g->b, LLVMBuildNSWAdd(g->b, i2, LLVMConstInt(g->i64, 1, 0), ""), g->var[s->var]);
    LLVMBuildBr(g->b, cond);
    LLVMPositionBuilderAtEnd(g->b, done);
    break;
  }
  case LS_IF: {
    LLVMValueRef c = gen_expr(g, s->cond);
    LLVMBasicBlockRef then = new_block(g, "then"), els = s->els ? new_block(g, "else") : NULL,
                      done = new_block(g, "endif");
    LLVMBuildCondBr(g->b, c, then, els ? els : done);
    LLVMPositionBuilderAtEnd(g->b, then);
    gen_stmt(g, s->then);
    LLVMBuildBr(g->b, done);
    if (els) {
      LLVMPositionBuilderAtEnd(g->b, els);
      gen_stmt(g, s->els);
      LLVMBuildBr(g->b, done);
    }
    LLVMPositionBuilderAtEnd(g->b, done);
    break;
  }
  case LS_SSTORE: {
    LLVMValueRef v = gen_expr(g, s->value);
    LLVMValueRef i = gen_expr(g, s->idx[0]);
    LLVMValueRef ptr = LLVMBuildInBoundsGEP2(g->b, ty(g, g->k->shared[s->buf].type), g->shared[s->buf], &i, 1, "");
    LLVMBuildStore(g->b, v, ptr);
    break;
  }
  case LS_SYNC: {
    const char *name = "llvm.nvvm.barrier0";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, NULL, 0);
    LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->ctx, id, NULL, 0), fn, NULL, 0, "");
    break;
  }
  case LS_MMA: gen_mma(g, s); break;
  case LS_COPY_ASYNC: gen_copy_async(g, s); break;
  case LS_COPY_COMMIT:
    if (g->target == TARGET_NVPTX) call_intrinsic(g, "llvm.nvvm.cp.async.commit.group", NULL, NULL, 0);
    break;
  case LS_COPY_WAIT:
    if (g->target == TARGET_NVPTX) {
      LLVMValueRef n = LLVMConstInt(g->i32, (unsigned)s->slot, 0);
      call_intrinsic(g, "llvm.nvvm.cp.async.wait.group", NULL, &n, 1);
    }
    break;
  case LS_FAIL: {
    LLVMValueRef off = LLVMConstInt(g->i64, (unsigned long long)s->slot, 0);
    LLVMValueRef ptr = LLVMBuildInBoundsGEP2(g->b, g->i32, g->buf[s->status_buf], &off, 1, "status");
    LLVMBuildAtomicRMW(g->b, LLVMAtomicRMWBinOpMin, ptr, gen_expr(g, s->value), LLVMAtomicOrderingMonotonic, 0);
    break;
  }
  }
}

static void add_attr(CG *g, LLVMValueRef fn, unsigned idx, const char *name, uint64_t val) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(g->ctx, kind, val));
}

/* The vector width a host kernel asks for, on its body and its wrapper
 * (into which the body is inlined before the vectorizers run). */
static void prefer_vector_width(CG *g, LLVMValueRef fn, const Kernel *k) {
  if (g->target != TARGET_HOST || !k->vector_bytes) return;
  char bits[16];
  int n = snprintf(bits, sizeof bits, "%d", k->vector_bytes * 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateStringAttribute(g->ctx, "prefer-vector-width", 19, bits, (unsigned)n));
}

static void annotate_kernel(CG *g, LLVMValueRef fn, int block_size, int min_blocks) {
  LLVMSetFunctionCallConv(fn, LLVMPTXKernelCallConv);
  LLVMMetadataRef ops[3];
  ops[0] = LLVMValueAsMetadata(fn);
  ops[1] = LLVMMDStringInContext2(g->ctx, "kernel", 6);
  ops[2] = LLVMValueAsMetadata(LLVMConstInt(g->i32, 1, 0));
  LLVMAddNamedMetadataOperand(g->mod, "nvvm.annotations",
                              LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, ops, 3)));
  ops[1] = LLVMMDStringInContext2(g->ctx, "maxntidx", 8);
  ops[2] = LLVMValueAsMetadata(LLVMConstInt(g->i32, (unsigned long long)block_size, 0));
  LLVMAddNamedMetadataOperand(g->mod, "nvvm.annotations",
                              LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, ops, 3)));
  if (min_blocks > 0) {
    ops[1] = LLVMMDStringInContext2(g->ctx, "minctasm", 8);
    ops[2] = LLVMValueAsMetadata(LLVMConstInt(g->i32, (unsigned long long)min_blocks, 0));
    LLVMAddNamedMetadataOperand(g->mod, "nvvm.annotations",
                                LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, ops, 3)));
  }
}

static void gen_kernel(CG *g, const Kernel *k) {
  const Program *p = g->p;
  g->k = k;
  int slots = program_arg_slots(p);
  int *slot = arena_alloc(&g->scratch, sizeof(int) * ((size_t)slots + 1));
  int nslot = kernel_param_slots(p, k, slot), nused = nslot - (slots - p->nbufs);
  int host = g->target == TARGET_HOST;
  int nparams = nslot + (host ? 2 : 0);
  LLVMTypeRef *pt = arena_alloc(&g->scratch, sizeof(LLVMTypeRef) * ((size_t)nparams + 1));
  for (int i = 0; i < nslot; i++) pt[i] = slot[i] < p->nbufs ? g->ptr : slot[i] < p->nbufs + 2 ? g->i64 : g->f64;
  if (host) pt[nslot] = pt[nslot + 1] = g->i64;
  LLVMTypeRef fty = LLVMFunctionType(g->vd, pt, (unsigned)nparams, 0);
  const char *impl_name = host ? arena_printf(&g->scratch, "%s.impl", k->name) : k->name;
  LLVMValueRef fn = LLVMAddFunction(g->mod, impl_name, fty);
  g->fn = fn;
  g->buf = arena_alloc(&g->scratch, sizeof(LLVMValueRef) * ((size_t)p->nbufs + 1));
  for (int j = 0; j < nused; j++) {
    int i = slot[j];
    LLVMValueRef prm = g->buf[i] = LLVMGetParam(fn, (unsigned)j);
    LLVMSetValueName2(prm, p->bufs[i]->name, strlen(p->bufs[i]->name));
    unsigned ai = (unsigned)j + 1;
    add_attr(g, fn, ai, "noalias", 0);
    add_attr(g, fn, ai, "nocapture", 0);
    add_attr(g, fn, ai, "align", 16);
    if (!k->writes[i]) add_attr(g, fn, ai, "readonly", 0);
  }
  g->n_local = LLVMGetParam(fn, (unsigned)nused);
  g->n_total = LLVMGetParam(fn, (unsigned)nused + 1);
  LLVMSetValueName2(g->n_local, "n_local", 7);
  LLVMSetValueName2(g->n_total, "n_total", 7);
  g->scalar = arena_alloc(&g->scratch, sizeof(LLVMValueRef) * ((size_t)p->spec->scalars.len + 1));
  for (int i = 0; i < p->spec->scalars.len; i++) {
    g->scalar[i] = LLVMGetParam(fn, (unsigned)(nused + 2 + i));
    const char *nm = spec_scalar(p->spec, i)->name;
    LLVMSetValueName2(g->scalar[i], nm, strlen(nm));
  }
  add_attr(g, fn, LLVMAttributeFunctionIndex, "nounwind", 0);
  prefer_vector_width(g, fn, k);
  if (k->compact) { /* the unroller and vectorizers hold back */
    add_attr(g, fn, LLVMAttributeFunctionIndex, "optsize", 0);
    add_attr(g, fn, LLVMAttributeFunctionIndex, "minsize", 0);
  }
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
  g->var = arena_alloc(&g->scratch, sizeof(LLVMValueRef) * ((size_t)k->nvars + 1));
  for (int i = 0; i < k->nvars; i++) g->var[i] = LLVMBuildAlloca(g->b, ty(g, k->vars[i].type), k->vars[i].name);
  g->shared = arena_alloc(&g->scratch, sizeof(LLVMValueRef) * ((size_t)k->nshared + 1));
  for (int i = 0; i < k->nshared; i++) {
    char *nm = arena_printf(&g->scratch, "%s.%s", k->name, k->shared[i].name);
    LLVMTypeRef at = LLVMArrayType2(ty(g, k->shared[i].type), (uint64_t)k->shared[i].count);
    if (host) {
      /* on the host a kernel's arrays are its thread's: one per call (a
       * range of items), on the stack; an item writes before it reads */
      g->shared[i] = LLVMBuildAlloca(g->b, at, nm);
      LLVMSetAlignment(g->shared[i], 64);
      continue;
    }
    LLVMValueRef gv = LLVMAddGlobalInAddressSpace(g->mod, at, nm, 3);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMSetInitializer(gv, LLVMGetUndef(at));
    LLVMSetAlignment(gv, 16);
    g->shared[i] = gv;
  }
  if (k->launch == LAUNCH_GRID) {
    /* the body runs once per thread; it reads its own coordinates */
    gen_stmt(g, k->body);
    LLVMBuildRetVoid(g->b);
    annotate_kernel(g, fn, k->block[0] * k->block[1], k->min_blocks);
    return;
  }
  LLVMValueRef count = gen_expr(g, k->count);
  if (host) {
    /* for item in [lo, hi) */
    LStmt loop = {.kind = LS_FOR, .var = k->pvar, .then = k->body};
    LLVMValueRef lo = LLVMGetParam(fn, (unsigned)nslot), hi = LLVMGetParam(fn, (unsigned)nslot + 1);
    LLVMSetValueName2(lo, "lo", 2);
    LLVMSetValueName2(hi, "hi", 2);
    LLVMValueRef hic = call_intrinsic(g, "llvm.smin", g->i64, (LLVMValueRef[]){hi, count}, 2);
    LLVMBuildStore(g->b, lo, g->var[k->pvar]);
    LLVMBasicBlockRef cond = new_block(g, "items"), body = new_block(g, "item"), done = new_block(g, "exit");
    LLVMBuildBr(g->b, cond);
    LLVMPositionBuilderAtEnd(g->b, cond);
    LLVMValueRef i = LLVMBuildLoad2(g->b, g->i64, g->var[k->pvar], "");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, i, hic, ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    gen_stmt(g, loop.then);
    LLVMValueRef i2 = LLVMBuildLoad2(g->b, g->i64, g->var[k->pvar], "");
    LLVMBuildStore(g->b, LLVMBuildNSWAdd(g->b, i2, LLVMConstInt(g->i64, 1, 0), ""), g->var[k->pvar]);
    LLVMBuildBr(g->b, cond);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildRetVoid(g->b);
  } else {
    /* one item per GPU thread */
    LLVMValueRef item = LLVMBuildAdd(g->b,
                                     LLVMBuildMul(g->b, nvvm_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.x"),
                                                  nvvm_sreg(g, "llvm.nvvm.read.ptx.sreg.ntid.x"), ""),
                                     nvvm_sreg(g, "llvm.nvvm.read.ptx.sreg.tid.x"), "item");
    LLVMBuildStore(g->b, item, g->var[k->pvar]);
    LLVMBasicBlockRef body = new_block(g, "item"), done = new_block(g, "exit");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, item, count, ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    gen_stmt(g, k->body);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildRetVoid(g->b);
    annotate_kernel(g, fn, k->block_size, k->min_blocks);
  }
  if (host) {
    /* exported wrapper: arguments from an array of 8-byte slots */
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(g, fn, LLVMAttributeFunctionIndex, "alwaysinline", 0);
    LLVMTypeRef wpt[3] = {g->ptr, g->i64, g->i64};
    LLVMValueRef w = LLVMAddFunction(g->mod, k->name, LLVMFunctionType(g->vd, wpt, 3, 0));
    add_attr(g, w, LLVMAttributeFunctionIndex, "nounwind", 0);
    prefer_vector_width(g, w, k);
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, w, "entry"));
    LLVMValueRef *args = arena_alloc(&g->scratch, sizeof(LLVMValueRef) * (size_t)nparams);
    LLVMValueRef base = LLVMGetParam(w, 0);
    for (int i = 0; i < nslot; i++) {
      LLVMValueRef off = LLVMConstInt(g->i64, (unsigned long long)slot[i], 0);
      LLVMValueRef at = LLVMBuildInBoundsGEP2(g->b, g->i64, base, &off, 1, "");
      args[i] = LLVMBuildLoad2(g->b, pt[i], at, slot[i] < p->nbufs ? p->bufs[slot[i]]->name : "");
    }
    args[nslot] = LLVMGetParam(w, 1);
    args[nslot + 1] = LLVMGetParam(w, 2);
    LLVMBuildCall2(g->b, fty, fn, args, (unsigned)nparams, "");
    LLVMBuildRetVoid(g->b);
  }
}

LLVMModuleRef codegen_module(const Program *p, LLVMContextRef ctx, LLVMTargetMachineRef tm, TargetKind target,
                             const unsigned char *only) {
  CG g = {.p = p, .target = target, .ctx = ctx};
  g.mod = LLVMModuleCreateWithNameInContext(p->spec->model, ctx);
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(g.mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(g.mod, td);
  LLVMDisposeTargetData(td);
  g.b = LLVMCreateBuilderInContext(ctx);
  g.i1 = LLVMInt1TypeInContext(ctx);
  g.i32 = LLVMInt32TypeInContext(ctx);
  g.i64 = LLVMInt64TypeInContext(ctx);
  g.f32 = LLVMFloatTypeInContext(ctx);
  g.f64 = LLVMDoubleTypeInContext(ctx);
  g.ptr = LLVMPointerTypeInContext(ctx, 0);
  g.vd = LLVMVoidTypeInContext(ctx);
  jmp_buf escape;
  if (setjmp(escape)) { /* out of memory: the module half built goes */
    LLVMDisposeBuilder(g.b);
    LLVMDisposeModule(g.mod);
    arena_free(&g.scratch);
    return NULL;
  }
  g.scratch.escape = &escape;
  for (int i = 0; i < p->nkernels; i++)
    if (!only || only[i]) {
      gen_kernel(&g, p->kernels[i]);
      arena_free(&g.scratch); /* a kernel's arrays are its own */
    }
  LLVMDisposeBuilder(g.b);
  return g.mod;
}

int optimize_module(LLVMModuleRef m, LLVMTargetMachineRef tm, char **err) {
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
  LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
  LLVMErrorRef e = LLVMRunPasses(m, "default<O3>", tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    *err = xasprintf("LLVM optimization failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
  }
  return 0;
}
