/* Internal interface of the lowering: shared by lower.c (statements to
 * kernels, scheduling), lower_expr.c (expressions and reductions) and
 * builtins.c (Cholesky and friends). */
#ifndef GMMC_LOWER_H
#define GMMC_LOWER_H

#include <setjmp.h>

#include "loopir.h"

/* An event reduction hoisted out of a statement: sum/max/min over the event
 * index, computed as per-chunk partials, combined, then (across ranks)
 * all-reduced into a float64 stat buffer. */
typedef struct {
  Expr *red;   /* the E_REDUCE node */
  int free[8]; /* index ids the result depends on, in order */
  int nfree;
  int symmetric; /* result symmetric in its last two free indices */
  int stat_buf, partial_buf;
  int chunks; /* partials of the simple variant */
  int partial_kernel, combine_kernel;
  int unit;
} Hoisted;

typedef struct Lower Lower;
typedef struct Env Env;
struct Lower {
  Program *p;
  Spec *s;
  const LowerOptions *opt;
  TargetDesc dev; /* opt->target, or the default GPU where it was not filled */
  jmp_buf *escape;
  char *err;
  LType rt;   /* arithmetic type of the kernel being lowered: the data's
                        type where events are involved, float64 for parameters */
  int fast32; /* GPU variants: parameters read as float32, no float64 sums */
  /* substitutions while lowering one expression (GPU variants) */
  const Expr *subst_expr;        /* this node ... */
  LExpr *subst_val;              /* ... is this value */
  const Expr *subst_expr2;       /* and this one (the host's tiled scatter: */
  LExpr *subst_val2;             /* both factors of a product staged) */
  const Tensor *stage_tensor;    /* accesses [n, d] to this event tensor ... */
  int stage_sh, stage_n0;        /* ... read shared array stage_sh at (n - n0) * D + d */
  const Tensor *subst_tensor[8]; /* any access to these tensors ... */
  LExpr *subst_tensor_val[8];    /* ... is this value (staged operands) */
  int nsubst_tensor;
  /* any other tensor access: replaced by what this returns, unless NULL
   * (the fused kernels' tile arrays and snapshots, fuse.h) */
  LExpr *(*access)(Lower *L, Kernel *k, const Expr *e, Env *env);
  void *access_user;
  Hoisted **hoisted; /* all hoisted reductions */
  int nhoisted, caphoisted;
};

/* Maps index ids to the kernel variables that hold them. */
struct Env {
  int var[64];
};

_Noreturn void lower_fail(Lower *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error at [begin, end) of the spec's text, shown as the front end shows
 * its errors (diag_message): position, source line, caret. */
_Noreturn void lower_fail_at(Lower *L, size_t begin, size_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int64_t index_extent(Lower *L, int index_id); /* size value of an index */
LExpr *lower_expr(Lower *L, Kernel *k, LStmt *block, Expr *e, Env *env);
Hoisted *find_hoisted(Lower *L, const Expr *red);
LExpr **idx_vec(Program *p, int n);

/* Loop over [lo, hi) with a fresh variable; returns the body block. */
LStmt *emit_loop(Lower *L, Kernel *k, LStmt *block, const char *name, LExpr *lo, LExpr *hi, int *var_out);
/* Structure-aware range of a reduction index inside `body`. */
void reduction_range(Lower *L, Kernel *k, Expr *red, Env *env, LExpr **lo, LExpr **hi);

/* Whether expression e is unchanged when indices i and j are swapped. */
int expr_symmetric(Expr *e, int i, int j);
/* Whether e mentions the index (a name, a subscript or a reduction over it). */
int expr_uses_index(const Expr *e, int index);
/* X[n, d] - P[m, d] (or X[n, d] alone: *mu NULL) with X the data and P
 * another tensor: 1, with both. */
int centered_data(const Expr *a, int nid, int mid, int did, Tensor **x, Tensor **mu);
/* The factors of a product (a * b * ...), up to cap of them, appended to out. */
void expr_product_factors(Expr *e, Expr **out, int *n, int cap);

void lower_builtin(Lower *L, Stmt *st);
/* Helpers of the builtins and their variants (builtins.c): the index
 * [batch..., i, j] of a matrix tensor, and the batch indices of tensor t's
 * first nb axes decomposed from the flat matrix number in flat_var. */
LExpr **builtin_mat_idx(Program *p, Kernel *k, const int *batch, int nb, LExpr *i, LExpr *j);
void builtin_batch_vars(Lower *L, Kernel *k, Tensor *t, int nb, int flat_var, int *batch);

/* The simple kernels of reduction h (lower_reduce.c): its per-chunk
 * partials, and a combine kernel over a partial buffer [chunks, free...]
 * (the simple one's, variant NULL, or a variant's). Return kernel numbers. */
int partial_kernel(Lower *L, Stmt *st, Hoisted *h);
int combine_kernel_for(Lower *L, Stmt *st, Hoisted *h, int partial_buf, int chunks, const char *variant);
/* Whether LLVM may reorder the lowering's sums (the reassociation flag):
 * on the GPU yes; on the host no, so that every sum runs in the spec's
 * order and the host's variants reproduce the simple kernels bit for bit
 * (variants_host.c, docs/limits.md "Reproducibility"). */
static inline int sums_reassociate(const Lower *L) { return !L->opt->host; }
/* float32 on the host (docs/limits.md, "float32 on the host"): every host
 * kernel of a float32 program, simple or variant, reads the float64
 * parameters rounded to float32 and adds and subtracts in float32 (as the
 * GPU's fast32 variants), and a sum over events with free indices (Nk[m],
 * the means, the scatter) adds its float32 terms in float32 over blocks of
 * HOST_SUM_BLOCK events (from the start of the simple kernel's chunk), each
 * block's sum then added into the float64 partial. A scalar sum (the lower
 * bound, score, inertia: one term per event, never vectorized) keeps its
 * float64 additions: they cost nothing and score() must equal the mean of
 * score_samples() to scikit-learn's 7 decimals. All host kernels follow
 * the one rule, so their results stay equal bit for bit. */
enum { HOST_SUM_BLOCK = 16 };
static inline int host_fast32(const Lower *L) {
  return L->opt->host && L->opt->host_fast32 && L->p->real == LT_F32 && L->opt->precision != PRECISION_STATS64;
}
/* PRECISION_STATS64 (loopir.h) on a float32 program: float64 programs have
 * it already. The host takes it for every float32 program but host_fast32's:
 * its float32 terms were rounded and then converted for float64 additions,
 * three instructions per term where factors staged in float64 take one
 * multiply-add (docs/limits.md, "float32 on the host"). */
static inline int stats64(const Lower *L) {
  return L->p->real == LT_F32 && float32_stats64(L->opt->precision, L->opt->host, L->opt->host_fast32);
}
/* The type of the terms of a sum over events: the program's real type, or
 * float64 with stats64. */
static inline LType event_term_type(const Lower *L) { return stats64(L) ? LT_F64 : L->p->real; }
/* The block of the event reduction h on this target (0: every term added in float64). */
/* Host: the width (Kernel.vector_bytes) a kernel asks LLVM for to use the
 * CPU's whole vectors: the native one where it is wider than the 256 bits
 * LLVM prefers on AVX-512 CPUs, else 0 (LLVM's own choice). */
static inline int host_native_vector_bytes(const Lower *L) {
  return L->dev.vector_bytes > 32 ? L->dev.vector_bytes : 0;
}
static inline int host_sum_block(const Lower *L, const Hoisted *h) {
  return host_fast32(L) && h->red->op == R_SUM && h->nfree >= 1 ? HOST_SUM_BLOCK : 0;
}
/* The simple partial kernel's chunk `chunk` (a variable) of `chunks`:
 * variables *len (ceil(n_local / chunks)), *lo and *hi (cut at n_local),
 * assigned in block. The host variants that reproduce the simple kernel's
 * bits take the same chunks. */
void emit_chunk_bounds(Lower *L, Kernel *k, LStmt *block, int chunk, int64_t chunks, int *len, int *lo, int *hi);
/* Blocks of B events of a chunk [lo, hi) of length len (the last chunk's
 * hi may cut it short): a loop over ceil(len / B) blocks, its body with
 * [*b0, *b1) the block's events (empty past hi; adding its zero changes no
 * float64 sum, which is never -0). Every host kernel's float32 event sums
 * use these blocks (host_sum_block). */
LStmt *emit_event_blocks(Lower *L, Kernel *k, LStmt *block, LExpr *lo, LExpr *hi, LExpr *len, int B, int *b0, int *b1);
/* "section: source text" of a statement, for kernel descriptions. */
const char *stmt_text(Lower *L, Stmt *st);
void env_init(Env *env);
/* Binds the indices `ids` (row-major) to new variables set in blk from the
 * flat value, in env. */
void decompose_flat(Lower *L, Kernel *k, LStmt *blk, LExpr *flat, const int *ids, int n, Env *env);
/* The spec's schedule: fixes a unit's alternative by name (variant_schedule.c). */
void apply_schedule(Lower *L);

#endif
