/* GPU variant of the precision_cholesky builtin: one block per matrix
 * instead of one thread per matrix. The simple form leaves the GPU nearly
 * idle (M threads, each O(D³) dependent float64 work in global memory); here
 * the matrix sits in shared memory and a block of threads factors it:
 *
 *   1. stage the lower triangle of C into A (D x D, float64);
 *   2. right-looking Cholesky, column j at a time: the pivot (a non-positive
 *      one is recorded and replaced by 1, as the simple form does), the
 *      column below it scaled in parallel, the trailing lower triangle
 *      updated in parallel, a barrier between the phases;
 *   3. W = L⁻¹ by forward substitution, one thread per column c; W[i, c]
 *      (i > c) goes into the upper triangle of A, row c, which no other
 *      thread reads; U = Wᵀ is written row c = column c of W, zeros below
 *      the diagonal.
 *
 * The sums run in the simple form's order, so both agree to rounding. */
#include "kernel_build.h"
#include "variant.h"

#define THREADS 128
#define MAX_D 64 /* D² float64 in shared memory: 32 KiB */

typedef struct {
  int64_t D, matrices;
} Matrices;
_Static_assert(sizeof(Matrices) <= VARIANT_FORM_BYTES, "Matrices must fit the registry's form storage");

static int match(Lower *L, const Site *site, void *form) {
  Program *p = L->p;
  Stmt *st = site->st;
  if (st->builtin != BI_PRECISION_CHOLESKY) return 0;
  Tensor *in = st->rhs->args[0]->tensor;
  Matrices *m = form;
  m->D = p->size_values[in->dims[in->rank - 1]];
  m->matrices = 1;
  for (int a = 0; a < in->rank - 2; a++) m->matrices *= p->size_values[in->dims[a]];
  return m->D >= 4 && m->D <= MAX_D;
}

static int plan(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)L, (void)site, (void)config;
  const Matrices *m = form;
  double D = (double)m->D;
  pl->variant = "block";
  /* C in, U out; the factorization and the inverse, D^3/3 + D^3/6 float64
   * multiply-adds a matrix */
  pl->work = (Work){.bytes = 2.0 * m->matrices * D * D * 8, .fmas64 = m->matrices * D * D * D / 2, .launches = 1};
  return 1;
}

static void build(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out_) {
  (void)config, (void)pl, (void)out_;
  Program *p = L->p;
  Stmt *st = site->st;
  int slot = site->slot;
  Tensor *in = st->rhs->args[0]->tensor, *out = st->targets[0].tensor;
  int nb = in->rank - 2;
  int64_t D = ((const Matrices *)form)->D, matrices = ((const Matrices *)form)->matrices;
  int cbuf = p->tensor_buf[in->id], ubuf = p->tensor_buf[out->id];
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_block", L->s->model, out->name));
  k->what = arena_printf(&p->arena, "%s = precision_cholesky(%s) [one block of %d threads per matrix]", out->name,
                         in->name, THREADS);
  kernel_launch_grid(p, k, matrices, 1, 1, THREADS);
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), mat = kernel_var(p, k, "matrix", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, mat, lx_sreg(p, SR_CTAID_X)));
  int batch[GMMC_MAX_RANK];
  builtin_batch_vars(L, k, in, nb, mat, batch);
  int A = kernel_shared(p, k, "A", LT_F64, D * D);
#define AT(i, j) BIN(LB_ADD, BIN(LB_MUL, i, I(D)), j)
  int s, i, j, kk;
  int below_j = kernel_var(p, k, "below", LT_I64), c = kernel_var(p, k, "c", LT_I64);
  int flat = kernel_var(p, k, "flat", LT_I64), row = kernel_var(p, k, "row", LT_I64),
      col = kernel_var(p, k, "col", LT_I64);
  /* 1. the lower triangle of C */
  LStmt *stage = emit_loop(L, k, body, "stage", I(0), I((D * D + THREADS - 1) / THREADS), &s);
  ls_append(p, stage, ls_assign(p, flat, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(THREADS)))));
  LStmt *in_range = ls_when(p, stage, BIN(LB_LT, V(flat), I(D * D)));
  ls_append(p, in_range, ls_assign(p, row, BIN(LB_DIV, V(flat), I(D))));
  ls_append(p, in_range, ls_assign(p, col, BIN(LB_REM, V(flat), I(D))));
  LStmt *lower = ls_when(p, in_range, BIN(LB_LE, V(col), V(row)));
  ls_append(p, lower,
            ls_sstore(p, k, A, V(flat),
                      lx_cast(p, LT_F64, lx_load(p, cbuf, builtin_mat_idx(p, k, batch, nb, V(row), V(col))))));
  ls_append(p, body, ls_sync(p));
  /* 2. Cholesky, column j */
  LStmt *colj = emit_loop(L, k, body, "j", I(0), I(D), &j);
  int piv = kernel_var(p, k, "pivot", LT_F64), diag = kernel_var(p, k, "diag", LT_F64);
  ls_append(p, colj, ls_assign(p, piv, lx_sload(p, k, A, AT(V(j), V(j)))));
  LStmt *bad = ls_when(p, colj, lx_unary(p, LU_NOT, BIN(LB_GT, V(piv), lx_const(p, LT_F64, 0.0))));
  LStmt *first = ls_when(p, bad, BIN(LB_EQ, V(tid), I(0)));
  ls_append(p, first, ls_fail(p, p->status_buf, slot, nb > 0 ? V(batch[0]) : I(0)));
  ls_append(p, bad, ls_assign(p, piv, lx_const(p, LT_F64, 1.0))); /* keep going without NaN */
  ls_append(p, colj, ls_assign(p, diag, lx_unary(p, LU_SQRT, V(piv))));
  ls_append(p, colj, ls_sync(p)); /* every thread has read the pivot */
  ls_append(p, ls_when(p, colj, BIN(LB_EQ, V(tid), I(0))), ls_sstore(p, k, A, AT(V(j), V(j)), V(diag)));
  ls_append(p, colj, ls_assign(p, below_j, BIN(LB_ADD, BIN(LB_ADD, V(j), I(1)), V(tid))));
  LStmt *below = ls_when(p, colj, BIN(LB_LT, V(below_j), I(D)));
  ls_append(p, below,
            ls_sstore(p, k, A, AT(V(below_j), V(j)), BIN(LB_DIV, lx_sload(p, k, A, AT(V(below_j), V(j))), V(diag))));
  ls_append(p, colj, ls_sync(p));
  /* the trailing lower triangle: A[r, c] -= A[r, j] A[c, j] for j < c <= r */
  int rest = kernel_var(p, k, "rest", LT_I64);
  ls_append(p, colj, ls_assign(p, rest, BIN(LB_SUB, I(D - 1), V(j))));
  LExpr *cells = BIN(LB_MUL, V(rest), V(rest));
  LStmt *upd = emit_loop(L, k, colj, "pass", I(0), BIN(LB_DIV, BIN(LB_ADD, cells, I(THREADS - 1)), I(THREADS)), &s);
  ls_append(p, upd, ls_assign(p, flat, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(THREADS)))));
  LStmt *cell = ls_when(p, upd, BIN(LB_LT, V(flat), BIN(LB_MUL, V(rest), V(rest))));
  LExpr *base = BIN(LB_ADD, V(j), I(1));
  ls_append(p, cell, ls_assign(p, row, BIN(LB_ADD, base, BIN(LB_DIV, V(flat), V(rest)))));
  ls_append(p, cell, ls_assign(p, col, BIN(LB_ADD, base, BIN(LB_REM, V(flat), V(rest)))));
  LStmt *tri = ls_when(p, cell, BIN(LB_LE, V(col), V(row)));
  LExpr *prod = BIN(LB_MUL, lx_sload(p, k, A, AT(V(row), V(j))), lx_sload(p, k, A, AT(V(col), V(j))));
  ls_append(p, tri, ls_sstore(p, k, A, AT(V(row), V(col)), BIN(LB_SUB, lx_sload(p, k, A, AT(V(row), V(col))), prod)));
  ls_append(p, colj, ls_sync(p));
  /* 3. column c of W = L⁻¹, written as row c of U */
  ls_append(p, body, ls_assign(p, c, V(tid)));
  LStmt *mine = ls_when(p, body, BIN(LB_LT, V(c), I(D)));
  int wcc = kernel_var(p, k, "w_cc", LT_F64), t = kernel_var(p, k, "t", LT_F64), w = kernel_var(p, k, "w", LT_F64);
  ls_append(p, mine, ls_assign(p, wcc, BIN(LB_DIV, lx_const(p, LT_F64, 1.0), lx_sload(p, k, A, AT(V(c), V(c))))));
  ls_append(p, mine, ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(c), V(c)), V(wcc)));
  LStmt *rows = emit_loop(L, k, mine, "i", BIN(LB_ADD, V(c), I(1)), I(D), &i);
  ls_append(p, rows, ls_assign(p, t, BIN(LB_MUL, lx_sload(p, k, A, AT(V(i), V(c))), V(wcc))));
  LStmt *acc = emit_loop(L, k, rows, "k", BIN(LB_ADD, V(c), I(1)), V(i), &kk);
  ls_append(p, acc,
            ls_assign(p, t,
                      BIN(LB_ADD, V(t),
                          BIN(LB_MUL, lx_sload(p, k, A, AT(V(i), V(kk))), lx_sload(p, k, A, AT(V(c), V(kk)))))));
  ls_append(p, rows, ls_assign(p, w, BIN(LB_DIV, lx_unary(p, LU_NEG, V(t)), lx_sload(p, k, A, AT(V(i), V(i))))));
  ls_append(p, rows, ls_sstore(p, k, A, AT(V(c), V(i)), V(w)));
  ls_append(p, rows, ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(c), V(i)), V(w)));
  LStmt *zeros = emit_loop(L, k, mine, "i", I(0), V(c), &i);
  ls_append(p, zeros, ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(c), V(i)), lx_const(p, LT_F64, 0.0)));
#undef AT
}

const VariantFamily family_cholesky_block = {
    .name = "cholesky-block", .site = SITE_BUILTIN, .match = match, .plan = plan, .build = build};
