/* Builtins written in the loop IR, so that they run on every target like the
 * statements do (no host round trip inside an iteration).
 *
 * precision_cholesky(C): for each matrix C (last two axes) the upper
 *   triangular U with U Uᵀ = C⁻¹, scikit-learn's precisions_cholesky: C = L Lᵀ
 *   (Cholesky, lower), U = (L⁻¹)ᵀ. One work item per matrix; arithmetic in
 *   float64 whatever the element type. A matrix that is not positive definite
 *   records its leading index in the status slot of the statement.
 * precision_cholesky_diag(C): elementwise 1/sqrt(C) for diagonal and
 *   spherical covariances, failing where C <= 0. */
#include "lower.h"

static int64_t batch_count(Lower *L, Tensor *t, int matrix_axes) {
  int64_t n = 1;
  for (int a = 0; a < t->rank - matrix_axes; a++) n *= L->p->size_values[t->dims[a]];
  return n;
}

static int next_slot(Lower *L, Stmt *st, Tensor *in, int per_component) {
  Program *p = L->p;
  BuiltinInfo *b = &p->builtins[p->nbuiltins];
  b->target = st->targets[0].name;
  b->input = in->name;
  b->per_component = per_component;
  return p->nbuiltins++;
}

LExpr **builtin_mat_idx(Program *p, Kernel *k, const int *batch, int nb, LExpr *i, LExpr *j) {
  LExpr **idx = idx_vec(p, nb + 2);
  for (int a = 0; a < nb; a++) idx[a] = lx_var(p, k, batch[a]);
  idx[nb] = i;
  idx[nb + 1] = j;
  return idx;
}

void builtin_batch_vars(Lower *L, Kernel *k, Tensor *t, int nb, int flat_var, int *batch) {
  Program *p = L->p;
  int64_t stride = 1;
  for (int a = nb - 1; a >= 0; a--) {
    int64_t ext = p->size_values[t->dims[a]];
    batch[a] = kernel_var(p, k, arena_printf(&p->arena, "b%d", a), LT_I64);
    LExpr *x = lx_binary(p, LB_DIV, lx_var(p, k, flat_var), lx_int(p, stride));
    if (a > 0) x = lx_binary(p, LB_REM, x, lx_int(p, ext));
    ls_append(p, k->body, ls_assign(p, batch[a], x));
    stride *= ext;
  }
}

static void precision_cholesky(Lower *L, Stmt *st, Tensor *in, Tensor *out) {
  Program *p = L->p;
  int nb = in->rank - 2;
  int64_t D = p->size_values[in->dims[in->rank - 1]];
  int slot = next_slot(L, st, in, nb > 0);
  /* scratch for the lower Cholesky factor, float64 */
  int64_t dims[GMMC_MAX_RANK];
  for (int a = 0; a < in->rank; a++) dims[a] = p->size_values[in->dims[a]];
  int lbuf =
      program_add_buffer(p, arena_printf(&p->arena, "%s__cholesky", out->name), BK_SMALL, LT_F64, in->rank, dims, 0);
  int cbuf = p->tensor_buf[in->id], ubuf = p->tensor_buf[out->id];
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, out->name));
  k->what = arena_printf(&p->arena, "%s = precision_cholesky(%s) [one work item per matrix]", out->name, in->name);
  /* M small factorizations: O3 unrolled its loops into 3x the LLVM time of
   * any other simple kernel (47 vs 15 ms at D = 32), the critical path of a
   * cold GPU start, which runs the simple kernels while the variants compile */
  k->compact = 1;
  k->pvar = kernel_var(p, k, "matrix", LT_I64);
  k->count = lx_int(p, batch_count(L, in, 2));
  int batch[GMMC_MAX_RANK];
  builtin_batch_vars(L, k, in, nb, k->pvar, batch);
  LExpr *zero = lx_int(p, 0), *dd = lx_int(p, D);
#define V(x) lx_var(p, k, x)
#define F64(x) lx_cast(p, LT_F64, x)
  /* Cholesky: column j of L */
  int j, i, kk;
  LStmt *colj = emit_loop(L, k, k->body, "j", zero, dd, &j);
  int s = kernel_var(p, k, "pivot", LT_F64);
  ls_append(p, colj, ls_assign(p, s, F64(lx_load(p, cbuf, builtin_mat_idx(p, k, batch, nb, V(j), V(j))))));
  LStmt *acc1 = emit_loop(L, k, colj, "k", zero, V(j), &kk);
  LExpr *ljk = lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(j), V(kk)));
  ls_append(p, acc1, ls_assign(p, s, lx_binary(p, LB_SUB, V(s), lx_binary(p, LB_MUL, ljk, ljk))));
  LStmt *bad = ls_block(p);
  /* the leading index names the component, whatever the batch axes */
  LExpr *code = nb > 0 ? lx_var(p, k, batch[0]) : lx_int(p, 0);
  ls_append(p, bad, ls_fail(p, p->status_buf, slot, code));
  ls_append(p, bad, ls_assign(p, s, lx_const(p, LT_F64, 1.0))); /* keep going without NaN */
  ls_append(p, colj, ls_if(p, lx_unary(p, LU_NOT, lx_binary(p, LB_GT, V(s), lx_const(p, LT_F64, 0.0))), bad, NULL));
  int diag = kernel_var(p, k, "diag", LT_F64);
  ls_append(p, colj, ls_assign(p, diag, lx_unary(p, LU_SQRT, V(s))));
  ls_append(p, colj, ls_store(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(j), V(j)), V(diag)));
  LStmt *rowi = emit_loop(L, k, colj, "i", lx_binary(p, LB_ADD, V(j), lx_int(p, 1)), dd, &i);
  int t = kernel_var(p, k, "t", LT_F64);
  ls_append(p, rowi, ls_assign(p, t, F64(lx_load(p, cbuf, builtin_mat_idx(p, k, batch, nb, V(i), V(j))))));
  LStmt *acc2 = emit_loop(L, k, rowi, "k", zero, V(j), &kk);
  LExpr *prod = lx_binary(p, LB_MUL, lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(i), V(kk))),
                          lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(j), V(kk))));
  ls_append(p, acc2, ls_assign(p, t, lx_binary(p, LB_SUB, V(t), prod)));
  ls_append(p, rowi,
            ls_store(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(i), V(j)), lx_binary(p, LB_DIV, V(t), V(diag))));
  /* W = L⁻¹ column by column, written transposed: U[j, i] = W[i, j] */
  LStmt *wj = emit_loop(L, k, k->body, "j", zero, dd, &j);
  LExpr *ljj = lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(j), V(j)));
  ls_append(p, wj,
            ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(j), V(j)),
                     lx_binary(p, LB_DIV, lx_const(p, LT_F64, 1.0), ljj)));
  LStmt *wi = emit_loop(L, k, wj, "i", lx_binary(p, LB_ADD, V(j), lx_int(p, 1)), dd, &i);
  ls_append(p, wi, ls_assign(p, t, lx_const(p, LT_F64, 0.0)));
  LStmt *acc3 = emit_loop(L, k, wi, "k", V(j), V(i), &kk);
  LExpr *term = lx_binary(p, LB_MUL, lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(i), V(kk))),
                          F64(lx_load(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(j), V(kk)))));
  ls_append(p, acc3, ls_assign(p, t, lx_binary(p, LB_ADD, V(t), term)));
  LExpr *lii = lx_load(p, lbuf, builtin_mat_idx(p, k, batch, nb, V(i), V(i)));
  ls_append(p, wi,
            ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(j), V(i)),
                     lx_binary(p, LB_DIV, lx_unary(p, LU_NEG, V(t)), lii)));
  LStmt *zi = emit_loop(L, k, wj, "i", zero, V(j), &i);
  ls_append(p, zi, ls_store(p, ubuf, builtin_mat_idx(p, k, batch, nb, V(j), V(i)), lx_const(p, LT_F64, 0.0)));
#undef V
#undef F64
}

static void precision_cholesky_diag(Lower *L, Stmt *st, Tensor *in, Tensor *out) {
  Program *p = L->p;
  int slot = next_slot(L, st, in, in->rank > 0);
  int cbuf = p->tensor_buf[in->id], ubuf = p->tensor_buf[out->id];
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, out->name));
  k->what =
      arena_printf(&p->arena, "%s = precision_cholesky_diag(%s) [one work item per element]", out->name, in->name);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = lx_int(p, batch_count(L, in, 0));
  int vars[GMMC_MAX_RANK];
  builtin_batch_vars(L, k, in, in->rank, k->pvar, vars);
  LExpr **idx = idx_vec(p, in->rank);
  for (int a = 0; a < in->rank; a++) idx[a] = lx_var(p, k, vars[a]);
  int c = kernel_var(p, k, "variance", LT_F64);
  ls_append(p, k->body, ls_assign(p, c, lx_cast(p, LT_F64, lx_load(p, cbuf, idx))));
  LStmt *bad = ls_block(p);
  ls_append(p, bad, ls_fail(p, p->status_buf, slot, in->rank > 0 ? lx_var(p, k, vars[0]) : lx_int(p, 0)));
  ls_append(p, bad, ls_assign(p, c, lx_const(p, LT_F64, 1.0)));
  ls_append(p, k->body,
            ls_if(p, lx_unary(p, LU_NOT, lx_binary(p, LB_GT, lx_var(p, k, c), lx_const(p, LT_F64, 0.0))), bad, NULL));
  ls_append(
      p, k->body,
      ls_store(p, ubuf, idx, lx_binary(p, LB_DIV, lx_const(p, LT_F64, 1.0), lx_unary(p, LU_SQRT, lx_var(p, k, c)))));
}

void lower_builtin(Lower *L, Stmt *st) {
  Tensor *in = st->rhs->args[0]->tensor, *out = st->targets[0].tensor;
  if (st->builtin == BI_PRECISION_CHOLESKY)
    precision_cholesky(L, st, in, out);
  else
    precision_cholesky_diag(L, st, in, out);
}
