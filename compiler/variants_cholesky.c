/* GPU variants of the precision_cholesky builtin: one block per matrix
 * instead of one thread per matrix. The simple form leaves the GPU nearly
 * idle (M threads, each O(D³) dependent float64 work in global memory); here
 * a block of threads factors a matrix A:
 *
 *   1. stage the lower triangle of C into A (D x D, float64);
 *   2. right-looking Cholesky, column j at a time: the pivot (a non-positive
 *      one is recorded and replaced by 1, as the simple form does), the
 *      column below it scaled in parallel, the trailing lower triangle
 *      updated in parallel, a barrier between the phases;
 *   3. W = L⁻¹ by forward substitution, a thread per column c (strided):
 *      W[i, c] (i > c) goes into the upper triangle of A, row c, which no
 *      other thread reads, 1 / L[c, c] into a shared array; after a
 *      barrier, U = Wᵀ is written: row c = column c of W, zeros below the
 *      diagonal.
 *
 *   block          A in shared memory, where D² float64 fit the target's
 *                  static shared memory per block (D <= 64 on sm_90);
 *   block-global   A is the output U itself, in global memory (cached):
 *                  any D, when U is float64. Step 3's second pass turns A
 *                  into U in place; only the lower triangle and the
 *                  diagonal of L are read in the first, and only row c of
 *                  the upper triangle written by thread c.
 *
 * The sums run in the simple form's order, so all three agree to rounding. */
#include "kernel_build.h"
#include "variant.h"

#define THREADS 128

typedef struct {
  int64_t D, matrices;
  int out_f64; /* the output is float64: A may live in it */
} Matrices;

typedef struct {
  int global;
  const char *variant;
} CholConfig;

static const CholConfig configs[] = {{0, "block"}, {1, "block-global"}};
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
  m->out_f64 = p->bufs[p->tensor_buf[st->targets[0].tensor->id]]->elem == LT_F64;
  return m->D >= 4;
}

static int plan(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const Matrices *m = form;
  const CholConfig *c = config;
  double D = (double)m->D;
  int64_t fits = m->D * m->D * 8 + m->D * 8 <= L->dev.smem_static_per_block;
  /* the global form only where the shared one cannot be made */
  if (c->global ? fits || !m->out_f64 : !fits) return 0;
  pl->variant = c->variant;
  /* C in, U out; the factorization and the inverse, D^3/3 + D^3/6 float64
   * multiply-adds a matrix; in global memory each update's cells pass
   * through the caches (counted as 2 x 8 bytes a multiply-add) */
  double cells = c->global ? 2.0 * 8 * D * D * D / 2 : 0;
  pl->work =
      (Work){.bytes = m->matrices * (2.0 * D * D * 8 + cells), .fmas64 = m->matrices * D * D * D / 2, .launches = 1};
  return 1;
}

/* A's cells: shared memory, or U's in global memory. */
typedef struct {
  Program *p;
  Kernel *k;
  int sh; /* shared array, or -1 */
  int ubuf, nb;
  const int *batch;
  int64_t D;
} Cells;

static LExpr *cell_load(const Cells *a, LExpr *i, LExpr *j) {
  Program *p = a->p;
  Kernel *k = a->k;
  if (a->sh >= 0) return lx_sload(p, k, a->sh, BIN(LB_ADD, BIN(LB_MUL, i, I(a->D)), j));
  return lx_load(p, a->ubuf, builtin_mat_idx(p, k, a->batch, a->nb, i, j));
}

static LStmt *cell_store(const Cells *a, LExpr *i, LExpr *j, LExpr *v) {
  Program *p = a->p;
  Kernel *k = a->k;
  if (a->sh >= 0) return ls_sstore(p, k, a->sh, BIN(LB_ADD, BIN(LB_MUL, i, I(a->D)), j), v);
  return ls_store(p, a->ubuf, builtin_mat_idx(p, k, a->batch, a->nb, i, j), v);
}

static void build(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out_) {
  (void)pl, (void)out_;
  Program *p = L->p;
  Stmt *st = site->st;
  int slot = site->slot;
  const CholConfig *cfg = config;
  Tensor *in = st->rhs->args[0]->tensor, *out = st->targets[0].tensor;
  int nb = in->rank - 2;
  int64_t D = ((const Matrices *)form)->D, matrices = ((const Matrices *)form)->matrices;
  int cbuf = p->tensor_buf[in->id], ubuf = p->tensor_buf[out->id];
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_%s", L->s->model, out->name, cfg->global ? "block_global" : "block"));
  k->what = arena_printf(&p->arena, "%s = precision_cholesky(%s) [one block of %d threads per matrix, %s]", out->name,
                         in->name, THREADS, cfg->global ? "factored in place in global memory" : "in shared memory");
  kernel_launch_grid(p, k, matrices, 1, 1, THREADS);
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), mat = kernel_var(p, k, "matrix", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, mat, lx_sreg(p, SR_CTAID_X)));
  int batch[GMMC_MAX_RANK];
  builtin_batch_vars(L, k, in, nb, mat, batch);
  Cells A = {p, k, cfg->global ? -1 : kernel_shared(p, k, "A", LT_F64, D * D), ubuf, nb, batch, D};
  int dinv = kernel_shared(p, k, "diag_inv", LT_F64, D);
  int s, i, j, kk;
  int below_j = kernel_var(p, k, "below", LT_I64), c = kernel_var(p, k, "c", LT_I64);
  int flat = kernel_var(p, k, "flat", LT_I64), row = kernel_var(p, k, "row", LT_I64),
      col = kernel_var(p, k, "col", LT_I64);
  /* 1. the lower triangle of C */
  LStmt *stage = emit_strided(L, k, body, "stage", D * D, THREADS, tid, flat);
  ls_append(p, stage, ls_assign(p, row, BIN(LB_DIV, V(flat), I(D))));
  ls_append(p, stage, ls_assign(p, col, BIN(LB_REM, V(flat), I(D))));
  LStmt *lower = ls_when(p, stage, BIN(LB_LE, V(col), V(row)));
  ls_append(p, lower,
            cell_store(&A, V(row), V(col),
                       lx_cast(p, LT_F64, lx_load(p, cbuf, builtin_mat_idx(p, k, batch, nb, V(row), V(col))))));
  ls_append(p, body, ls_sync(p));
  /* 2. Cholesky, column j */
  LStmt *colj = emit_loop(L, k, body, "j", I(0), I(D), &j);
  int piv = kernel_var(p, k, "pivot", LT_F64), diag = kernel_var(p, k, "diag", LT_F64);
  ls_append(p, colj, ls_assign(p, piv, cell_load(&A, V(j), V(j))));
  LStmt *bad = ls_when(p, colj, lx_unary(p, LU_NOT, BIN(LB_GT, V(piv), lx_const(p, LT_F64, 0.0))));
  LStmt *first = ls_when(p, bad, BIN(LB_EQ, V(tid), I(0)));
  ls_append(p, first, ls_fail(p, p->status_buf, slot, nb > 0 ? V(batch[0]) : I(0)));
  ls_append(p, bad, ls_assign(p, piv, lx_const(p, LT_F64, 1.0))); /* keep going without NaN */
  ls_append(p, colj, ls_assign(p, diag, lx_unary(p, LU_SQRT, V(piv))));
  ls_append(p, colj, ls_sync(p)); /* every thread has read the pivot */
  ls_append(p, ls_when(p, colj, BIN(LB_EQ, V(tid), I(0))), cell_store(&A, V(j), V(j), V(diag)));
  LStmt *below = emit_loop(L, k, colj, "b", I(0),
                           BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, I(D - 1), V(j)), I(THREADS - 1)), I(THREADS)), &s);
  ls_append(
      p, below,
      ls_assign(p, below_j, BIN(LB_ADD, BIN(LB_ADD, V(j), I(1)), BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(THREADS))))));
  LStmt *in_col = ls_when(p, below, BIN(LB_LT, V(below_j), I(D)));
  ls_append(p, in_col, cell_store(&A, V(below_j), V(j), BIN(LB_DIV, cell_load(&A, V(below_j), V(j)), V(diag))));
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
  LExpr *prod = BIN(LB_MUL, cell_load(&A, V(row), V(j)), cell_load(&A, V(col), V(j)));
  ls_append(p, tri, cell_store(&A, V(row), V(col), BIN(LB_SUB, cell_load(&A, V(row), V(col)), prod)));
  ls_append(p, colj, ls_sync(p));
  /* 3a. column c of W = L⁻¹ into row c of A's upper triangle */
  LStmt *mine = emit_strided(L, k, body, "column", D, THREADS, tid, c);
  int wcc = kernel_var(p, k, "w_cc", LT_F64), t = kernel_var(p, k, "t", LT_F64), w = kernel_var(p, k, "w", LT_F64);
  ls_append(p, mine, ls_assign(p, wcc, BIN(LB_DIV, lx_const(p, LT_F64, 1.0), cell_load(&A, V(c), V(c)))));
  ls_append(p, mine, ls_sstore(p, k, dinv, V(c), V(wcc)));
  LStmt *rows = emit_loop(L, k, mine, "i", BIN(LB_ADD, V(c), I(1)), I(D), &i);
  ls_append(p, rows, ls_assign(p, t, BIN(LB_MUL, cell_load(&A, V(i), V(c)), V(wcc))));
  LStmt *acc = emit_loop(L, k, rows, "k", BIN(LB_ADD, V(c), I(1)), V(i), &kk);
  ls_append(p, acc,
            ls_assign(p, t, BIN(LB_ADD, V(t), BIN(LB_MUL, cell_load(&A, V(i), V(kk)), cell_load(&A, V(c), V(kk))))));
  ls_append(p, rows, ls_assign(p, w, BIN(LB_DIV, lx_unary(p, LU_NEG, V(t)), cell_load(&A, V(i), V(i)))));
  ls_append(p, rows, cell_store(&A, V(c), V(i), V(w)));
  ls_append(p, body, ls_sync(p));
  /* 3b. U: W's columns as rows (A's upper triangle), 1 / L[c, c], zeros below */
  LStmt *out_cell = emit_strided(L, k, body, "u", D * D, THREADS, tid, flat);
  ls_append(p, out_cell, ls_assign(p, row, BIN(LB_DIV, V(flat), I(D))));
  ls_append(p, out_cell, ls_assign(p, col, BIN(LB_REM, V(flat), I(D))));
  LExpr *zero = lx_const(p, LT_F64, 0.0);
  LExpr *v = lx_select(p, BIN(LB_LT, V(row), V(col)), cell_load(&A, V(row), V(col)),
                       lx_select(p, BIN(LB_EQ, V(row), V(col)), lx_sload(p, k, dinv, V(row)), zero));
  ls_append(p, out_cell, ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(row), V(col)), v));
}

const VariantFamily family_cholesky_block = {.name = "cholesky-block",
                                             .site = SITE_BUILTIN,
                                             .match = match,
                                             .configs = configs,
                                             .nconfigs = 2,
                                             .config_size = sizeof(CholConfig),
                                             .plan = plan,
                                             .build = build};
