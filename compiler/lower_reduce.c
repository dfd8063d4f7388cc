/* The simple kernels of a reduction over events (lower.h): per-chunk
 * partials summed serially in float64, and the combine kernel that adds any
 * variant's per-slice partials into the float64 stat buffer. */
#include "lower.h"

static LExpr *stat_init(Program *p, RedOp op) {
  return lx_const(p, LT_F64, op == R_SUM ? 0.0 : op == R_MAX ? -__builtin_inf() : __builtin_inf());
}

static LExpr *stat_combine(Lower *L, RedOp op, LExpr *acc, LExpr *v) {
  LExpr *e = lx_binary(L->p, op == R_SUM ? LB_ADD : op == R_MAX ? LB_MAX : LB_MIN, acc, v);
  e->reassoc = sums_reassociate(L);
  return e;
}

/* Partial kernel: one work item per (chunk, result element) sums its chunk
 * of events serially, in float64. */
int partial_kernel(Lower *L, Stmt *st, Hoisted *h) {
  Program *p = L->p;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, p->bufs[h->partial_buf]->name));
  k->what = arena_printf(&p->arena, "%s [reduction over events: per-chunk partials]", stmt_text(L, st));
  int64_t elems = 1;
  for (int i = 0; i < h->nfree; i++) elems *= index_extent(L, h->free[i]);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = lx_int(p, elems * h->chunks);
  Env env;
  env_init(&env);
  LExpr *item = lx_var(p, k, k->pvar);
  int chunk = kernel_var(p, k, "chunk", LT_I64);
  ls_append(p, k->body, ls_assign(p, chunk, lx_binary(p, LB_DIV, item, lx_int(p, elems))));
  decompose_flat(L, k, k->body, lx_binary(p, LB_REM, item, lx_int(p, elems)), h->free, h->nfree, &env);
  LStmt *block = k->body;
  if (h->symmetric) {
    LExpr *a = lx_var(p, k, env.var[h->free[h->nfree - 2]]), *b = lx_var(p, k, env.var[h->free[h->nfree - 1]]);
    block = ls_block(p);
    ls_append(p, k->body, ls_if(p, lx_binary(p, LB_LE, a, b), block, NULL));
  }
  int len, lo, hi;
  emit_chunk_bounds(L, k, block, chunk, h->chunks, &len, &lo, &hi);
  RedOp op = (RedOp)h->red->op;
  int acc = kernel_var(p, k, "acc", LT_F64);
  ls_append(p, block, ls_assign(p, acc, stat_init(p, op)));
  int nv, B = host_sum_block(L, h);
  const char *nname = spec_index(L->s, h->red->red.id)->name;
  L->rt = event_term_type(L);
  if (!B) {
    LStmt *body = emit_loop(L, k, block, nname, lx_var(p, k, lo), lx_var(p, k, hi), &nv);
    env.var[h->red->red.id] = nv;
    LExpr *v = lx_cast(p, LT_F64, lx_cast(p, L->rt, lower_expr(L, k, body, h->red->args[0], &env)));
    ls_append(p, body, ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), v)));
  } else {
    /* float32 on the host: each block of B events summed in float32, then added in float64 */
    int b0, b1, part = kernel_var(p, k, "block_sum", p->real);
    LStmt *lb = emit_event_blocks(L, k, block, lx_var(p, k, lo), lx_var(p, k, hi), lx_var(p, k, len), B, &b0, &b1);
    ls_append(p, lb, ls_assign(p, part, lx_const(p, p->real, 0.0)));
    LStmt *body = emit_loop(L, k, lb, nname, lx_var(p, k, b0), lx_var(p, k, b1), &nv);
    env.var[h->red->red.id] = nv;
    LExpr *v = lx_cast(p, p->real, lower_expr(L, k, body, h->red->args[0], &env));
    ls_append(p, body, ls_assign(p, part, stat_combine(L, op, lx_var(p, k, part), v)));
    ls_append(p, lb, ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), lx_cast(p, LT_F64, lx_var(p, k, part)))));
  }
  LExpr **idx = idx_vec(p, h->nfree + 1);
  idx[0] = lx_var(p, k, chunk);
  for (int i = 0; i < h->nfree; i++) idx[i + 1] = lx_var(p, k, env.var[h->free[i]]);
  ls_append(p, block, ls_store(p, h->partial_buf, idx, lx_var(p, k, acc)));
  return p->nkernels - 1;
}

void emit_chunk_bounds(Lower *L, Kernel *k, LStmt *block, int chunk, int64_t chunks, int *len, int *lo, int *hi) {
  Program *p = L->p;
  *len = kernel_var(p, k, "chunk_len", LT_I64), *lo = kernel_var(p, k, "first", LT_I64),
  *hi = kernel_var(p, k, "last", LT_I64);
  LExpr *nl = lx_nlocal(p);
  ls_append(
      p, block,
      ls_assign(p, *len, lx_binary(p, LB_DIV, lx_binary(p, LB_ADD, nl, lx_int(p, chunks - 1)), lx_int(p, chunks))));
  ls_append(p, block, ls_assign(p, *lo, lx_binary(p, LB_MUL, lx_var(p, k, chunk), lx_var(p, k, *len))));
  ls_append(p, block,
            ls_assign(p, *hi,
                      lx_binary(p, LB_MIN, lx_binary(p, LB_ADD, lx_var(p, k, *lo), lx_var(p, k, *len)), lx_nlocal(p))));
}

LStmt *emit_event_blocks(Lower *L, Kernel *k, LStmt *block, LExpr *lo, LExpr *hi, LExpr *len, int B, int *b0, int *b1) {
  Program *p = L->p;
  int bn;
  *b0 = kernel_var(p, k, "block_first", LT_I64);
  *b1 = kernel_var(p, k, "block_last", LT_I64);
  LExpr *nblocks = lx_binary(p, LB_DIV, lx_binary(p, LB_ADD, len, lx_int(p, B - 1)), lx_int(p, B));
  LStmt *lb = emit_loop(L, k, block, "event_block", lx_int(p, 0), nblocks, &bn);
  ls_append(p, lb, ls_assign(p, *b0, lx_binary(p, LB_ADD, lo, lx_binary(p, LB_MUL, lx_var(p, k, bn), lx_int(p, B)))));
  ls_append(p, lb, ls_assign(p, *b1, lx_binary(p, LB_MIN, lx_binary(p, LB_ADD, lx_var(p, k, *b0), lx_int(p, B)), hi)));
  return lb;
}

/* Combine kernel: one work item per result element adds the chunks of a
 * partial buffer [chunks, free...] (any variant's) into the stat buffer. */
int combine_kernel_for(Lower *L, Stmt *st, Hoisted *h, int partial_buf, int chunks, const char *variant) {
  Program *p = L->p;
  const char *name = p->bufs[h->stat_buf]->name;
  Kernel *k = program_add_kernel(p, variant ? arena_printf(&p->arena, "%s_%s_%s_combine", L->s->model, name, variant)
                                            : arena_printf(&p->arena, "%s_%s_combine", L->s->model, name));
  k->what = arena_printf(&p->arena, "%s [reduction over events: combine %d partials]", stmt_text(L, st), chunks);
  int64_t elems = 1;
  for (int i = 0; i < h->nfree; i++) elems *= index_extent(L, h->free[i]);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = lx_int(p, elems);
  Env env;
  env_init(&env);
  decompose_flat(L, k, k->body, lx_var(p, k, k->pvar), h->free, h->nfree, &env);
  LStmt *block = k->body;
  if (h->symmetric) {
    LExpr *a = lx_var(p, k, env.var[h->free[h->nfree - 2]]), *b = lx_var(p, k, env.var[h->free[h->nfree - 1]]);
    block = ls_block(p);
    ls_append(p, k->body, ls_if(p, lx_binary(p, LB_LE, a, b), block, NULL));
  }
  RedOp op = (RedOp)h->red->op;
  int acc = kernel_var(p, k, "acc", LT_F64), c;
  ls_append(p, block, ls_assign(p, acc, stat_init(p, op)));
  LStmt *body = emit_loop(L, k, block, "chunk", lx_int(p, 0), lx_int(p, chunks), &c);
  LExpr **pidx = idx_vec(p, h->nfree + 1);
  pidx[0] = lx_var(p, k, c);
  for (int i = 0; i < h->nfree; i++) pidx[i + 1] = lx_var(p, k, env.var[h->free[i]]);
  ls_append(p, body, ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), lx_load(p, partial_buf, pidx))));
  LExpr **idx = idx_vec(p, h->nfree);
  for (int i = 0; i < h->nfree; i++) idx[i] = lx_var(p, k, env.var[h->free[i]]);
  ls_append(p, block, ls_store(p, h->stat_buf, idx, lx_var(p, k, acc)));
  if (h->symmetric) {
    LExpr **mirror = idx_vec(p, h->nfree);
    for (int i = 0; i < h->nfree; i++) mirror[i] = idx[i];
    mirror[h->nfree - 2] = idx[h->nfree - 1];
    mirror[h->nfree - 1] = idx[h->nfree - 2];
    ls_append(p, block, ls_store(p, h->stat_buf, mirror, lx_var(p, k, acc)));
  }
  return p->nkernels - 1;
}
