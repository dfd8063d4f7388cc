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

enum { WARP = 32, COMBINE_WARPS = 8 }; /* the GPU's warp; warps of a combine block */

/* Whether the GPU combines with a warp per result: where one thread per
 * result would leave most of the device idle, so that each result's serial
 * sum over the slices is the whole step's time (at 10^4-10^5 events,
 * 10-19 us of an iteration's 56-300 on an H100). */
static int warp_combine(const Lower *L, int64_t elems, int chunks) {
  return !L->opt->host && chunks > 1 && elems * WARP <= (int64_t)L->dev.sm_count * L->dev.max_threads_per_sm;
}

/* Combine kernel: adds the chunks of a partial buffer [chunks, free...]
 * (any variant's) into the stat buffer: one work item per result element,
 * or on the GPU where there are few (warp_combine) a warp per result, each
 * lane adding every 32nd chunk in order, then a butterfly across the warp
 * whose lane 0 stores — fixed orders both, so the same bits every run. */
int combine_kernel_for(Lower *L, Stmt *st, Hoisted *h, int partial_buf, int chunks, const char *variant) {
  Program *p = L->p;
  const char *name = p->bufs[h->stat_buf]->name;
  Kernel *k = program_add_kernel(p, variant ? arena_printf(&p->arena, "%s_%s_%s_combine", L->s->model, name, variant)
                                            : arena_printf(&p->arena, "%s_%s_combine", L->s->model, name));
  int64_t elems = 1;
  for (int i = 0; i < h->nfree; i++) elems *= index_extent(L, h->free[i]);
  int warps = warp_combine(L, elems, chunks);
  k->what = arena_printf(&p->arena, "%s [reduction over events: combine %d partials%s]", stmt_text(L, st), chunks,
                         warps ? ", a warp per result" : "");
  LStmt *block = k->body;
  LExpr *item;
  int lane = -1;
  if (warps) {
    kernel_launch_grid(p, k, (elems + COMBINE_WARPS - 1) / COMBINE_WARPS, 1, 1, WARP * COMBINE_WARPS);
    int tid = kernel_var(p, k, "tid", LT_I64), vi = kernel_var(p, k, "item", LT_I64);
    lane = kernel_var(p, k, "lane", LT_I64);
    ls_append(p, block, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
    ls_append(p, block, ls_assign(p, lane, lx_binary(p, LB_REM, lx_var(p, k, tid), lx_int(p, WARP))));
    ls_append(p, block,
              ls_assign(p, vi,
                        lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, lx_sreg(p, SR_CTAID_X), lx_int(p, COMBINE_WARPS)),
                                  lx_binary(p, LB_DIV, lx_var(p, k, tid), lx_int(p, WARP)))));
    item = lx_var(p, k, vi);
    LStmt *live = ls_block(p); /* whole warps: the butterfly needs every lane */
    ls_append(p, block, ls_if(p, lx_binary(p, LB_LT, item, lx_int(p, elems)), live, NULL));
    block = live;
  } else {
    k->pvar = kernel_var(p, k, "item", LT_I64);
    k->count = lx_int(p, elems);
    item = lx_var(p, k, k->pvar);
  }
  Env env;
  env_init(&env);
  decompose_flat(L, k, block, item, h->free, h->nfree, &env);
  if (h->symmetric) {
    LExpr *a = lx_var(p, k, env.var[h->free[h->nfree - 2]]), *b = lx_var(p, k, env.var[h->free[h->nfree - 1]]);
    LStmt *upper = ls_block(p);
    ls_append(p, block, ls_if(p, lx_binary(p, LB_LE, a, b), upper, NULL));
    block = upper;
  }
  RedOp op = (RedOp)h->red->op;
  int acc = kernel_var(p, k, "acc", LT_F64), c;
  ls_append(p, block, ls_assign(p, acc, stat_init(p, op)));
  LExpr **pidx = idx_vec(p, h->nfree + 1);
  for (int i = 0; i < h->nfree; i++) pidx[i + 1] = lx_var(p, k, env.var[h->free[i]]);
  if (warps) {
    LStmt *body = emit_loop(L, k, block, "step", lx_int(p, 0), lx_int(p, (chunks + WARP - 1) / WARP), &c);
    int ch = kernel_var(p, k, "chunk", LT_I64);
    ls_append(
        p, body,
        ls_assign(p, ch,
                  lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, lx_var(p, k, c), lx_int(p, WARP)), lx_var(p, k, lane))));
    pidx[0] = lx_var(p, k, ch);
    LStmt *in = ls_when(p, body, lx_binary(p, LB_LT, lx_var(p, k, ch), lx_int(p, chunks)));
    ls_append(p, in, ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), lx_load(p, partial_buf, pidx))));
    for (int x = WARP / 2; x >= 1; x /= 2)
      ls_append(p, block,
                ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), lx_shfl_xor(p, lx_var(p, k, acc), x))));
    block = ls_when(p, block, lx_binary(p, LB_EQ, lx_var(p, k, lane), lx_int(p, 0)));
  } else {
    LStmt *body = emit_loop(L, k, block, "chunk", lx_int(p, 0), lx_int(p, chunks), &c);
    pidx[0] = lx_var(p, k, c);
    ls_append(p, body, ls_assign(p, acc, stat_combine(L, op, lx_var(p, k, acc), lx_load(p, partial_buf, pidx))));
  }
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
