/* The GPU kernel builders the variant families share (kernel_build.h). */
#include "kernel_build.h"

LStmt *emit_event_chunks(Lower *L, Kernel *k, LStmt *block, int first, int last, int64_t kc, int *chunk_out,
                         int *base_out) {
  Program *p = L->p;
  int c;
  LExpr *span = lx_binary(p, LB_SUB, lx_var(p, k, last), lx_var(p, k, first));
  LExpr *nchunks = lx_binary(p, LB_DIV, lx_binary(p, LB_ADD, span, lx_int(p, kc - 1)), lx_int(p, kc));
  LStmt *chunk = emit_loop(L, k, block, "chunk", lx_int(p, 0), nchunks, &c);
  int base = kernel_var(p, k, "base", LT_I64);
  ls_append(p, chunk,
            ls_assign(p, base,
                      lx_binary(p, LB_ADD, lx_var(p, k, first), lx_binary(p, LB_MUL, lx_var(p, k, c), lx_int(p, kc)))));
  ls_append(p, chunk, ls_sync(p));
  *chunk_out = c;
  *base_out = base;
  return chunk;
}

LStmt *emit_strided(Lower *L, Kernel *k, LStmt *block, const char *name, int64_t count, int threads, int tid,
                    int flat) {
  Program *p = L->p;
  int s;
  LStmt *loop = emit_loop(L, k, block, name, lx_int(p, 0), lx_int(p, (count + threads - 1) / threads), &s);
  ls_append(
      p, loop,
      ls_assign(p, flat,
                lx_binary(p, LB_ADD, lx_var(p, k, tid), lx_binary(p, LB_MUL, lx_var(p, k, s), lx_int(p, threads)))));
  return ls_when(p, loop, lx_binary(p, LB_LT, lx_var(p, k, flat), lx_int(p, count)));
}

void warp_lanes(Program *p, Kernel *k, LStmt *body, WarpLanes *w) {
  w->tid = kernel_var(p, k, "tid", LT_I64), w->lane = kernel_var(p, k, "lane", LT_I64);
  w->warp = kernel_var(p, k, "warp", LT_I64), w->g = kernel_var(p, k, "group", LT_I64);
  w->t = kernel_var(p, k, "thread_in_group", LT_I64);
  ls_append(p, body, ls_assign(p, w->tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, w->lane, BIN(LB_REM, V(w->tid), I(32))));
  ls_append(p, body, ls_assign(p, w->warp, BIN(LB_DIV, V(w->tid), I(32))));
  ls_append(p, body, ls_assign(p, w->g, BIN(LB_DIV, V(w->lane), I(4))));
  ls_append(p, body, ls_assign(p, w->t, BIN(LB_REM, V(w->lane), I(4))));
}

void event_slice_bounds(Program *p, Kernel *k, LStmt *block, int64_t slices, int64_t align, int *first, int *last) {
  int len = kernel_var(p, k, "slice_len", LT_I64);
  *first = kernel_var(p, k, "first", LT_I64);
  *last = kernel_var(p, k, "last", LT_I64);
  LExpr *raw = lx_binary(p, LB_DIV, lx_binary(p, LB_ADD, lx_nlocal(p), lx_int(p, slices - 1)), lx_int(p, slices));
  LExpr *up = lx_binary(p, LB_ADD, raw, lx_int(p, align - 1));
  ls_append(p, block,
            ls_assign(p, len, lx_binary(p, LB_MUL, lx_binary(p, LB_DIV, up, lx_int(p, align)), lx_int(p, align))));
  ls_append(p, block, ls_assign(p, *first, lx_binary(p, LB_MUL, lx_sreg(p, SR_CTAID_Z), lx_var(p, k, len))));
  ls_append(
      p, block,
      ls_assign(p, *last,
                lx_binary(p, LB_MIN, lx_binary(p, LB_ADD, lx_var(p, k, *first), lx_var(p, k, len)), lx_nlocal(p))));
}

int tf32_mma_usable(const Lower *L) {
  return L->p->real == LT_F32 && L->dev.tf32_mma_per_sm > 0 && L->dev.cc_major >= 8 && !L->opt->no_tensor_cores;
}

int tf32_products_asked(const Lower *L, int products) {
  return L->opt->precision == (products == 1 ? PRECISION_TF32 : PRECISION_3XTF32);
}

LExpr *a_fragment_index(Program *p, Kernel *k, LExpr *row, LExpr *col, int64_t kblocks) {
  (void)k;
  LExpr *r = BIN(LB_REM, row, I(16)), *cc = BIN(LB_REM, col, I(8));
  LExpr *fl = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_DIV, row, I(16)), I(kblocks)), BIN(LB_DIV, col, I(8)));
  LExpr *ln = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_REM, r, I(8)), I(4)), BIN(LB_REM, cc, I(4)));
  LExpr *el = BIN(LB_ADD, BIN(LB_DIV, r, I(8)), BIN(LB_MUL, BIN(LB_DIV, cc, I(4)), I(2)));
  return BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, fl, I(32)), ln), I(4)), el);
}

int bank_padded_row(int n) { return n + ((8 - n % 32) % 32 + 32) % 32; }

void tf32_split(Program *p, Kernel *k, LStmt *blk, LExpr *v, int big, int small) {
  ls_append(p, blk, ls_assign(p, big, lx_unary(p, LU_TF32, v)));
  if (small >= 0) ls_append(p, blk, ls_assign(p, small, lx_unary(p, LU_TF32, BIN(LB_SUB, v, V(big)))));
}

void mma_split_products(Program *p, Kernel *k, LStmt *blk, const int d[4], const int a[4], const int *as,
                        const int b[2], const int *bs) {
  LExpr *cin[4] = {V(d[0]), V(d[1]), V(d[2]), V(d[3])};
  LExpr *ab[4] = {V(a[0]), V(a[1]), V(a[2]), V(a[3])}, *bb[2] = {V(b[0]), V(b[1])};
  if (as && bs) {
    LExpr *asm_[4] = {V(as[0]), V(as[1]), V(as[2]), V(as[3])}, *bsm[2] = {V(bs[0]), V(bs[1])};
    ls_append(p, blk, ls_mma(p, d, asm_, bb, cin));
    ls_append(p, blk, ls_mma(p, d, ab, bsm, cin));
  }
  ls_append(p, blk, ls_mma(p, d, ab, bb, cin));
}

void stage_or_zero(Program *p, Kernel *k, LStmt *block, LExpr *cond, int sh, LExpr *at, LExpr *value) {
  LStmt *ok = ls_block(p), *no = ls_block(p);
  ls_append(p, block, ls_if(p, cond, ok, no));
  ls_append(p, ok, ls_sstore(p, k, sh, at, value));
  ls_append(p, no, ls_sstore(p, k, sh, at, lx_const(p, k->shared[sh].type, 0)));
}

void event_tile_grid(Program *p, Kernel *k, int64_t tn, int64_t mb, int64_t M, int threads) {
  k->launch = LAUNCH_GRID;
  k->grid[0] = lx_binary(p, LB_DIV, lx_binary(p, LB_ADD, lx_nlocal(p), lx_int(p, tn - 1)), lx_int(p, tn));
  k->grid[1] = lx_int(p, (M + mb - 1) / mb);
  k->block[0] = threads;
  k->block[1] = 1;
}

void store_event_tile(Lower *L, Kernel *k, LStmt *body, const EventTile *t) {
  Program *p = L->p;
  int s;
  ls_append(p, body, ls_sync(p));
  LStmt *wr =
      emit_loop(L, k, body, "store", lx_int(p, 0), lx_int(p, (t->tn * t->mb + t->threads - 1) / t->threads), &s);
  ls_append(p, wr,
            ls_assign(p, t->flat,
                      lx_binary(p, LB_ADD, lx_var(p, k, t->tid),
                                lx_binary(p, LB_MUL, lx_var(p, k, s), lx_int(p, t->threads)))));
  ls_append(p, wr,
            ls_assign(p, t->vn,
                      lx_binary(p, LB_ADD, lx_var(p, k, t->n0),
                                lx_binary(p, LB_DIV, lx_var(p, k, t->flat), lx_int(p, t->mb)))));
  ls_append(p, wr,
            ls_assign(p, t->vm,
                      lx_binary(p, LB_ADD, lx_var(p, k, t->m0),
                                lx_binary(p, LB_REM, lx_var(p, k, t->flat), lx_int(p, t->mb)))));
  LExpr *inside = lx_binary(p, LB_AND, lx_binary(p, LB_LT, lx_var(p, k, t->vn), lx_nlocal(p)),
                            lx_binary(p, LB_LT, lx_var(p, k, t->vm), lx_int(p, t->M)));
  LStmt *okw = ls_when(
      p, wr, lx_binary(p, LB_AND, lx_binary(p, LB_LT, lx_var(p, k, t->flat), lx_int(p, t->tn * t->mb)), inside));
  LExpr **ti = idx_vec(p, 2);
  ti[0] = lx_var(p, k, t->vn);
  ti[1] = lx_var(p, k, t->vm);
  ls_append(p, okw, ls_store(p, t->buf, ti, lx_sload(p, k, t->sh, lx_var(p, k, t->flat))));
}

int64_t event_slices(Lower *L, int64_t blocks, int64_t elems) {
  int64_t g = ceil_div(8 * (int64_t)L->dev.sm_count, blocks);
  if (g < 1) g = 1;
  if (g > 1024) g = 1024;
  while (g > 1 && g * elems > (1 << 22)) g--;
  return g;
}

int new_partial(Lower *L, Hoisted *h, int64_t slices, const char *variant) {
  Program *p = L->p;
  int64_t dims[GMMC_MAX_RANK + 1];
  dims[0] = slices;
  for (int i = 0; i < h->nfree; i++) dims[i + 1] = index_extent(L, h->free[i]);
  return program_add_buffer(p, arena_printf(&p->arena, "%s_%s_partial", p->bufs[h->stat_buf]->name, variant),
                            BK_PARTIAL, LT_F64, h->nfree + 1, dims, 0);
}

LExpr **partial_index(Program *p, Kernel *k, Hoisted *h, Env *env) {
  LExpr **idx = idx_vec(p, h->nfree + 1);
  idx[0] = lx_sreg(p, SR_CTAID_Z);
  for (int i = 0; i < h->nfree; i++) idx[i + 1] = V(env->var[h->free[i]]);
  return idx;
}

LExpr *factor_product(Lower *L, Kernel *k, LStmt *blk, Expr *const *f, int n, Env *env) {
  Program *p = L->p;
  LExpr *v = NULL;
  for (int i = 0; i < n; i++) {
    LExpr *x = lx_cast(p, L->rt, lower_expr(L, k, blk, f[i], env));
    v = v ? BIN(LB_MUL, v, x) : x;
  }
  return v ? v : lx_const(p, L->rt, 1.0);
}

void store_with_sum(Lower *L, Kernel *k, LStmt *blk, const Stmt *st, const Expr *sub, LExpr *val, int vn, int vm,
                    Env *env) {
  Program *p = L->p;
  L->subst_expr = sub;
  L->subst_val = val;
  LExpr *v = lower_expr(L, k, blk, st->rhs, env);
  L->subst_expr = NULL;
  LExpr **ti = idx_vec(p, 2);
  ti[0] = lx_var(p, k, vn);
  ti[1] = lx_var(p, k, vm);
  ls_append(p, blk, ls_store(p, p->tensor_buf[st->targets[0].tensor->id], ti, v));
}

static int reductions_in(const Expr *e) {
  if (!e) return 0;
  int n = e->kind == E_REDUCE;
  for (int i = 0; i < e->nargs; i++) n += reductions_in(e->args[i]);
  return n;
}

int match_event_lse(Lower *L, const Stmt *st, EventLse *f) {
  Target *tg = &st->targets[0];
  const Tensor *t = tg->tensor;
  Expr *r = st->rhs;
  if (tg->nidx != 1 || t->kind != TK_TEMP || t->elem != VT_REAL || t->structure != ST_NONE ||
      spec_index(L->s, tg->idx[0].id)->size != L->s->event_size)
    return 0;
  if (r->kind != E_REDUCE || r->op != R_LOGSUMEXP || find_hoisted(L, r) ||
      spec_index(L->s, r->red.id)->size == L->s->event_size || reductions_in(r->args[0]))
    return 0;
  *f = (EventLse){tg, r, tg->idx[0].id, r->red.id, index_extent(L, r->red.id)};
  return 1;
}

/* Index of row `row` (k), column `col` (n) of the B operand in fragment
 * order: [(row / 8 * nt + col / 8) * 32 + lane] * 2 + i with lane = col % 8
 * * 4 + row % 4 and i = row % 8 / 4 (b0: row t, b1: row t + 4; column g). */
LExpr *b_fragment_index(Program *p, Kernel *k, LExpr *row, LExpr *col, int nt, int64_t base) {
  (void)k;
  LExpr *tile = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_DIV, row, I(8)), I(nt)), BIN(LB_DIV, col, I(8)));
  LExpr *lane = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_REM, col, I(8)), I(4)), BIN(LB_REM, row, I(4)));
  LExpr *at = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, tile, I(32)), lane), I(2)),
                  BIN(LB_DIV, BIN(LB_REM, row, I(8)), I(4)));
  return BIN(LB_ADD, I(base), at);
}

void poly_fragments(Program *p, Kernel *k, int rt, int three, PolyFragments *f) {
  for (int q = 0; q < 2; q++)
    for (int r = 0; r < rt; r++)
      for (int x = 0; x < 4; x++) {
        f->a[q][r][x] = kernel_var(p, k, arena_printf(&p->arena, "a%d_%d_%d", q, r, x), LT_F32);
        f->as[q][r][x] = three ? kernel_var(p, k, arena_printf(&p->arena, "as%d_%d_%d", q, r, x), LT_F32) : -1;
      }
  for (int x = 0; x < 2; x++) {
    f->b[x] = kernel_var(p, k, arena_printf(&p->arena, "b%d", x), LT_F32);
    f->bs[x] = three ? kernel_var(p, k, arena_printf(&p->arena, "bs%d", x), LT_F32) : -1;
  }
}
