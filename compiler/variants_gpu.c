/* GPU code variants, generated into the loop IR as grid kernels.
 *
 * Reductions over events (M-step statistics, the log-likelihood):
 *   tiled-BIxBJ  S[o.., i, j] = sum(n, A(n, i) * B(n, j)) when the product
 *                splits into factors that depend on i or on j, not both
 *                (means: R[n,m] X[n,d]; full covariance: R (X-mu)_d (X-mu)_e
 *                with m outer). One block per (output tile, outer values,
 *                event slice): a chunk of events of both operands is staged
 *                in shared memory, every thread accumulates an RI x RJ
 *                register tile; float32 products, float64 flushes every 128
 *                events; per-slice partials then the usual combine.
 *   tiled-sq-BIxBJ  the same for sum(n, A(n, i) * sq(U(n, j) - W(i, j)))
 *                (diagonal covariances: R[n,m] sq(X[n,d] - means[m,d])): U
 *                staged as B, W a register tile loaded once per block, the
 *                difference centered in registers.
 *   lanes-BJ     S[o.., j] = sum(n, f(n, j)): threads over j (coalesced) and
 *                over event lanes; a shared-memory tree across lanes.
 *                Also the scalar case (no j).
 * Per-event maps (E-step): see variants_estep.c. */
#include <string.h>

#include "lower.h"

/* ---- small builders --------------------------------------------------------------------- */

typedef struct {
  Lower *L;
  Program *p;
  Kernel *k;
} KB;

static LExpr *V(KB *b, int v) { return lx_var(b->p, b->k, v); }
static LExpr *I(KB *b, int64_t v) { return lx_int(b->p, v); }
static LExpr *bin(KB *b, int op, LExpr *x, LExpr *y) { return lx_binary(b->p, op, x, y); }
static int var(KB *b, const char *name, LType t) { return kernel_var(b->p, b->k, name, t); }
static void set(KB *b, LStmt *blk, int v, LExpr *x) { ls_append(b->p, blk, ls_assign(b->p, v, x)); }

static LStmt *loop(KB *b, LStmt *blk, const char *name, LExpr *lo, LExpr *hi, int *v) {
  return emit_loop(b->L, b->k, blk, name, lo, hi, v);
}

static LStmt *when(KB *b, LStmt *blk, LExpr *cond) { return ls_when(b->p, blk, cond); }

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Decomposes a flat value into the variables of `ids` (row-major) in env. */
static void split(KB *b, LStmt *blk, LExpr *flat, const int *ids, int n, Env *env) {
  int64_t stride = 1;
  for (int i = n - 1; i >= 0; i--) {
    int64_t ext = index_extent(b->L, ids[i]);
    int v = var(b, spec_index(b->L->s, ids[i])->name, LT_I64);
    LExpr *x = stride == 1 ? flat : bin(b, LB_DIV, flat, I(b, stride));
    if (i > 0) x = bin(b, LB_REM, x, I(b, ext));
    set(b, blk, v, x);
    env->var[ids[i]] = v;
    stride *= ext;
  }
}

/* Event slices per block column so that the grid has a few blocks per
 * multiprocessor; partials stay small. */
static int64_t slices(Lower *L, int64_t blocks, int64_t elems) {
  int64_t g = ceil_div(8 * (int64_t)L->dev.sm_count, blocks);
  if (g < 1) g = 1;
  if (g > 1024) g = 1024;
  while (g > 1 && g * elems > (1 << 22)) g--;
  return g;
}

static LExpr *product(KB *b, LStmt *blk, Expr **f, int n, Env *env) {
  LExpr *v = NULL;
  LType t = b->p->real;
  for (int i = 0; i < n; i++) {
    LExpr *x = lx_cast(b->p, t, lower_expr(b->L, b->k, blk, f[i], env));
    v = v ? bin(b, LB_MUL, v, x) : x;
  }
  return v ? v : lx_const(b->p, t, 1.0);
}

/* Stores acc (float64) into partial[slice, outer.., i, j]. */
static LExpr **partial_index(KB *b, Hoisted *h, Env *env) {
  LExpr **idx = idx_vec(b->p, h->nfree + 1);
  idx[0] = lx_sreg(b->p, SR_CTAID_Z);
  for (int i = 0; i < h->nfree; i++) idx[i + 1] = V(b, env->var[h->free[i]]);
  return idx;
}

static int new_partial(Lower *L, Hoisted *h, int64_t g, const char *variant) {
  Program *p = L->p;
  int64_t dims[GMMC_MAX_RANK + 1];
  dims[0] = g;
  for (int i = 0; i < h->nfree; i++) dims[i + 1] = index_extent(L, h->free[i]);
  return program_add_buffer(p, arena_printf(&p->arena, "%s_%s_partial", p->bufs[h->stat_buf]->name, variant),
                            BK_PARTIAL, LT_F64, h->nfree + 1, dims, 0);
}

/* ---- tiled 2-D contraction ------------------------------------------------------------------ */

typedef struct {
  int bi, bj, ri, rj, kc;
} Tile;

/* Cell r of a thread's RI x RJ register tile (thread (tx, ty) of the block
 * at (i0, j0)): binds the output indices in env and returns a block that
 * runs only inside the output. */
static LStmt *tile_cell(KB *b, LStmt *blk, Tile t, int r, const int at[4], int iid, int jid, Env *env) {
  int i0 = at[0], j0 = at[1], vx = at[2], vy = at[3];
  int iv = var(b, spec_index(b->L->s, iid)->name, LT_I64), jv = var(b, spec_index(b->L->s, jid)->name, LT_I64);
  set(b, blk, iv, bin(b, LB_ADD, V(b, i0), bin(b, LB_ADD, bin(b, LB_MUL, V(b, vy), I(b, t.ri)), I(b, r / t.rj))));
  set(b, blk, jv, bin(b, LB_ADD, V(b, j0), bin(b, LB_ADD, bin(b, LB_MUL, V(b, vx), I(b, t.rj)), I(b, r % t.rj))));
  env->var[iid] = iv;
  env->var[jid] = jv;
  return when(b, blk, bin(b, LB_AND, bin(b, LB_LT, V(b, iv), I(b, index_extent(b->L, iid))),
                          bin(b, LB_LT, V(b, jv), I(b, index_extent(b->L, jid)))));
}

/* sq(U - W) with U of the events and j but not i, W of i and j but not the
 * events: the one factor of both i and j that the tiled form takes. */
static int sq_diff(Expr *f, int nid, int iid, int jid, Expr **u, Expr **w) {
  if (f->kind != E_CALL || f->op != F_SQ || f->nargs != 1) return 0;
  Expr *d = f->args[0];
  if (d->kind != E_BINARY || d->op != B_SUB) return 0;
  *u = d->args[0];
  *w = d->args[1];
  return expr_uses_index(*u, nid) && expr_uses_index(*u, jid) && !expr_uses_index(*u, iid) &&
         !expr_uses_index(*w, nid) && expr_uses_index(*w, iid) && expr_uses_index(*w, jid);
}

static void tiled2d(Lower *L, Stmt *st, Hoisted *h, Tile t) {
  Program *p = L->p;
  int nf = h->nfree;
  int iid = h->free[nf - 2], jid = h->free[nf - 1], nid = h->red->red.id;
  Expr *f[32], *fa[32], *fb[32], *su = NULL, *sw = NULL;
  int nfac = 0, na = 0, nb = 0;
  expr_product_factors(h->red->args[0], f, &nfac, 32);
  for (int i = 0; i < nfac; i++) {
    int ui = expr_uses_index(f[i], iid), uj = expr_uses_index(f[i], jid);
    if (ui && uj && !su && sq_diff(f[i], nid, iid, jid, &su, &sw)) continue;
    if (ui && uj) return; /* not separable */
    if (uj) fb[nb++] = f[i];
    else fa[na++] = f[i];
  }
  /* the squared difference: U is the staged B side (no other j factor) */
  if (su && (nb || h->symmetric)) return;
  if (su) fb[nb++] = su;
  if (!nb) return;
  int64_t ei = index_extent(L, iid), ej = index_extent(L, jid);
  int64_t ti = ceil_div(ei, t.bi), tj = ceil_div(ej, t.bj);
  int tx = t.bj / t.rj, ty = t.bi / t.ri, threads = tx * ty;
  if (threads < 32 || threads > L->dev.max_threads_per_block || threads % 32) return;
  LType T = p->real; /* the data's type: float32 products, or float64 throughout */
  int64_t smem = (int64_t)t.kc * (t.bi + t.bj) * (T == LT_F64 ? 8 : 4);
  if (smem > L->dev.smem_static_per_block) return;
  int64_t outer = 1, elems = ei * ej;
  for (int i = 0; i < nf - 2; i++) outer *= index_extent(L, h->free[i]), elems *= index_extent(L, h->free[i]);
  int64_t g = slices(L, ti * tj * outer, elems);
  const char *form = su ? "tiled-sq" : "tiled", *tag = su ? "tiledsq" : "tiled";
  const char *variant = arena_printf(&p->arena, "%s-%dx%d", form, t.bi, t.bj);
  if (!lower_keeps(L, h->unit, variant)) return;
  int pbuf = new_partial(L, h, g, variant);
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_%s%dx%d", L->s->model, p->bufs[h->stat_buf]->name, tag, t.bi, t.bj));
  k->what = arena_printf(&p->arena, "%s [%s: %dx%d register tiles of %d threads, %d events staged, %lld slices]",
                         stmt_text(L, st), variant, t.ri, t.rj, threads, t.kc, (long long)g);
  kernel_launch_grid(p, k, ti * tj, outer, g, threads);
  KB b = {L, p, k};
  LStmt *body = k->body;
  L->rt = T;
  int as = kernel_shared(p, k, "a", T, (int64_t)t.kc * t.bi), bs = kernel_shared(p, k, "b", T, (int64_t)t.kc * t.bj);
  int tid = var(&b, "tid", LT_I64), vx = var(&b, "tx", LT_I64), vy = var(&b, "ty", LT_I64);
  set(&b, body, tid, lx_sreg(p, SR_TID_X));
  set(&b, body, vx, bin(&b, LB_REM, V(&b, tid), I(&b, tx)));
  set(&b, body, vy, bin(&b, LB_DIV, V(&b, tid), I(&b, tx)));
  int i0 = var(&b, "i0", LT_I64), j0 = var(&b, "j0", LT_I64);
  set(&b, body, i0, bin(&b, LB_MUL, bin(&b, LB_DIV, lx_sreg(p, SR_CTAID_X), I(&b, tj)), I(&b, t.bi)));
  set(&b, body, j0, bin(&b, LB_MUL, bin(&b, LB_REM, lx_sreg(p, SR_CTAID_X), I(&b, tj)), I(&b, t.bj)));
  Env env;
  env_init(&env);
  split(&b, body, lx_sreg(p, SR_CTAID_Y), h->free, nf - 2, &env);
  if (h->symmetric && t.bi == t.bj) /* the combine reads i <= j only */
    body = when(&b, body, bin(&b, LB_LE, V(&b, i0), V(&b, j0)));
  int first, last;
  event_slice_bounds(p, b.k, body, g, t.kc, &first, &last);
  int acc[64], acc64[64], wv[64];
  for (int r = 0; r < t.ri * t.rj; r++) {
    acc[r] = var(&b, arena_printf(&p->arena, "acc%d_%d", r / t.rj, r % t.rj), T);
    acc64[r] = var(&b, arena_printf(&p->arena, "sum%d_%d", r / t.rj, r % t.rj), LT_F64);
    set(&b, body, acc[r], lx_const(p, T, 0));
    set(&b, body, acc64[r], lx_const(p, LT_F64, 0));
  }
  /* W's tile, once per block (zero outside the output) */
  const int at[4] = {i0, j0, vx, vy};
  for (int r = 0; su && r < t.ri * t.rj; r++) {
    wv[r] = var(&b, arena_printf(&p->arena, "w%d_%d", r / t.rj, r % t.rj), T);
    set(&b, body, wv[r], lx_const(p, T, 0));
    LStmt *in = tile_cell(&b, body, t, r, at, iid, jid, &env);
    set(&b, in, wv[r], lx_cast(p, T, lower_expr(L, k, in, sw, &env)));
  }
  /* for each chunk of kc events */
  int c, base;
  LStmt *chunk = emit_event_chunks(L, k, body, first, last, t.kc, &c, &base);
  /* stage both operands: consecutive threads take consecutive i (or j) */
  for (int side = 0; side < 2; side++) {
    int extent = side ? t.bj : t.bi, sh = side ? bs : as, org = side ? j0 : i0, id = side ? jid : iid;
    int64_t total = (int64_t)t.kc * extent;
    int s;
    LStmt *st_loop = loop(&b, chunk, side ? "stage_b" : "stage_a", I(&b, 0), I(&b, ceil_div(total, threads)), &s);
    int flat = var(&b, "flat", LT_I64), nn = var(&b, spec_index(L->s, nid)->name, LT_I64),
        ii = var(&b, spec_index(L->s, id)->name, LT_I64);
    set(&b, st_loop, flat, bin(&b, LB_ADD, V(&b, tid), bin(&b, LB_MUL, V(&b, s), I(&b, threads))));
    LStmt *in = when(&b, st_loop, bin(&b, LB_LT, V(&b, flat), I(&b, total)));
    set(&b, in, nn, bin(&b, LB_ADD, V(&b, base), bin(&b, LB_DIV, V(&b, flat), I(&b, extent))));
    set(&b, in, ii, bin(&b, LB_ADD, V(&b, org), bin(&b, LB_REM, V(&b, flat), I(&b, extent))));
    LExpr *ok = bin(&b, LB_AND, bin(&b, LB_LT, V(&b, nn), V(&b, last)),
                    bin(&b, LB_LT, V(&b, ii), I(&b, index_extent(L, id))));
    LStmt *valid = ls_block(p), *zero = ls_block(p);
    ls_append(p, in, ls_if(p, ok, valid, zero));
    env.var[nid] = nn;
    env.var[id] = ii;
    LExpr *v = side ? product(&b, valid, fb, nb, &env) : product(&b, valid, fa, na, &env);
    ls_append(p, valid, ls_sstore(p, k, sh, V(&b, flat), v));
    ls_append(p, zero, ls_sstore(p, k, sh, V(&b, flat), lx_const(p, T, 0)));
  }
  ls_append(p, chunk, ls_sync(p));
  /* the register tile: thread (tx, ty) owns rows ty*ri.. and columns tx*rj.. */
  int kk;
  LStmt *inner = loop(&b, chunk, "kk", I(&b, 0), I(&b, t.kc), &kk);
  int av[16], bv[16];
  for (int r = 0; r < t.ri; r++) {
    av[r] = var(&b, arena_printf(&p->arena, "a%d", r), T);
    set(&b, inner, av[r], lx_sload(p, k, as, bin(&b, LB_ADD, bin(&b, LB_MUL, V(&b, kk), I(&b, t.bi)),
                                                  bin(&b, LB_ADD, bin(&b, LB_MUL, V(&b, vy), I(&b, t.ri)), I(&b, r)))));
  }
  for (int r = 0; r < t.rj; r++) {
    bv[r] = var(&b, arena_printf(&p->arena, "b%d", r), T);
    set(&b, inner, bv[r], lx_sload(p, k, bs, bin(&b, LB_ADD, bin(&b, LB_MUL, V(&b, kk), I(&b, t.bj)),
                                                  bin(&b, LB_ADD, bin(&b, LB_MUL, V(&b, vx), I(&b, t.rj)), I(&b, r)))));
  }
  for (int r = 0; r < t.ri * t.rj; r++) {
    LExpr *bj = V(&b, bv[r % t.rj]);
    if (su) { /* (u - w)^2 */
      int dv = var(&b, "diff", T);
      set(&b, inner, dv, bin(&b, LB_SUB, bj, V(&b, wv[r])));
      bj = bin(&b, LB_MUL, V(&b, dv), V(&b, dv));
    }
    LExpr *upd = bin(&b, LB_ADD, V(&b, acc[r]), bin(&b, LB_MUL, V(&b, av[r / t.rj]), bj));
    set(&b, inner, acc[r], upd);
  }
  /* float64 every 4 chunks keeps float32 sums short */
  LStmt *flush = when(&b, chunk, bin(&b, LB_EQ, bin(&b, LB_REM, V(&b, c), I(&b, 4)), I(&b, 3)));
  for (int r = 0; r < t.ri * t.rj; r++) {
    set(&b, flush, acc64[r], bin(&b, LB_ADD, V(&b, acc64[r]), lx_cast(p, LT_F64, V(&b, acc[r]))));
    set(&b, flush, acc[r], lx_const(p, T, 0));
  }
  /* write the tile */
  for (int r = 0; r < t.ri * t.rj; r++) {
    LStmt *in = tile_cell(&b, body, t, r, at, iid, jid, &env);
    ls_append(p, in, ls_store(p, pbuf, partial_index(&b, h, &env),
                              bin(&b, LB_ADD, V(&b, acc64[r]), lx_cast(p, LT_F64, V(&b, acc[r])))));
  }
  Alt *a = unit_add_alt(p, h->unit, variant);
  if (!a) return;
  a->kernels[a->nkernels++] = p->nkernels - 1;
  a->kernels[a->nkernels++] = combine_kernel_for(L, st, h, pbuf, (int)g, arena_printf(&p->arena, "%s%dx%d", tag, t.bi, t.bj));
  /* cost: the product's flops over the block's threads, plus the staging */
  a->cost = (double)ei * ej * outer * (1.0 + (double)(t.bi + t.bj) / ((double)t.bi * t.bj));
}

/* ---- lanes over j and events ------------------------------------------------------------------ */

static void lanes(Lower *L, Stmt *st, Hoisted *h, int bj) {
  Program *p = L->p;
  int nf = h->nfree, nid = h->red->red.id;
  int jid = nf ? h->free[nf - 1] : -1;
  int64_t ej = nf ? index_extent(L, jid) : 1;
  int threads = 256, ty = threads / bj;
  int64_t outer = 1, elems = ej;
  for (int i = 0; i < nf - 1; i++) outer *= index_extent(L, h->free[i]), elems *= index_extent(L, h->free[i]);
  int64_t tj = ceil_div(ej, bj), g = slices(L, tj * outer, elems);
  const char *variant = arena_printf(&p->arena, "lanes-%d", bj);
  if (!lower_keeps(L, h->unit, variant)) return;
  int pbuf = new_partial(L, h, g, variant);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_lanes%d", L->s->model, p->bufs[h->stat_buf]->name, bj));
  k->what = arena_printf(&p->arena, "%s [%s: %d lanes over %s x %d over events, %lld slices]", stmt_text(L, st), variant,
                         bj, nf ? spec_index(L->s, jid)->name : "nothing", ty, (long long)g);
  kernel_launch_grid(p, k, tj, outer, g, threads);
  KB b = {L, p, k};
  LStmt *body = k->body;
  LType T = p->real;
  L->rt = T;
  int red = kernel_shared(p, k, "partials", LT_F64, threads);
  int tid = var(&b, "tid", LT_I64), vx = var(&b, "tx", LT_I64), vy = var(&b, "ty", LT_I64);
  set(&b, body, tid, lx_sreg(p, SR_TID_X));
  set(&b, body, vx, bin(&b, LB_REM, V(&b, tid), I(&b, bj)));
  set(&b, body, vy, bin(&b, LB_DIV, V(&b, tid), I(&b, bj)));
  Env env;
  env_init(&env);
  split(&b, body, lx_sreg(p, SR_CTAID_Y), h->free, nf ? nf - 1 : 0, &env);
  int jv = -1;
  LExpr *jok = lx_const(p, LT_BOOL, 1);
  if (nf) {
    jv = var(&b, spec_index(L->s, jid)->name, LT_I64);
    set(&b, body, jv, bin(&b, LB_ADD, bin(&b, LB_MUL, lx_sreg(p, SR_CTAID_X), I(&b, bj)), V(&b, vx)));
    env.var[jid] = jv;
    jok = bin(&b, LB_LT, V(&b, jv), I(&b, ej));
  }
  int first, last;
  event_slice_bounds(p, b.k, body, g, ty, &first, &last);
  int acc = var(&b, "acc", T), acc64 = var(&b, "sum", LT_F64);
  set(&b, body, acc, lx_const(p, T, 0));
  set(&b, body, acc64, lx_const(p, LT_F64, 0));
  int c;
  LExpr *steps = bin(&b, LB_DIV, bin(&b, LB_ADD, bin(&b, LB_SUB, V(&b, last), V(&b, first)), I(&b, ty - 1)), I(&b, ty));
  LStmt *lp = loop(&b, body, "step", I(&b, 0), steps, &c);
  int nn = var(&b, spec_index(L->s, nid)->name, LT_I64);
  set(&b, lp, nn, bin(&b, LB_ADD, V(&b, first), bin(&b, LB_ADD, bin(&b, LB_MUL, V(&b, c), I(&b, ty)), V(&b, vy))));
  env.var[nid] = nn;
  LStmt *in = when(&b, lp, bin(&b, LB_AND, bin(&b, LB_LT, V(&b, nn), V(&b, last)), jok));
  LExpr *v = lx_cast(p, T, lower_expr(L, k, in, h->red->args[0], &env));
  set(&b, in, acc, bin(&b, LB_ADD, V(&b, acc), v));
  LStmt *flush = when(&b, lp, bin(&b, LB_EQ, bin(&b, LB_REM, V(&b, c), I(&b, 32)), I(&b, 31)));
  set(&b, flush, acc64, bin(&b, LB_ADD, V(&b, acc64), lx_cast(p, LT_F64, V(&b, acc))));
  set(&b, flush, acc, lx_const(p, T, 0));
  /* tree across the event lanes */
  ls_append(p, body, ls_sstore(p, k, red, V(&b, tid), bin(&b, LB_ADD, V(&b, acc64), lx_cast(p, LT_F64, V(&b, acc)))));
  for (int s = ty / 2; s >= 1; s /= 2) {
    ls_append(p, body, ls_sync(p));
    LStmt *lo = when(&b, body, bin(&b, LB_LT, V(&b, vy), I(&b, s)));
    ls_append(p, lo, ls_sstore(p, k, red, V(&b, tid),
                               bin(&b, LB_ADD, lx_sload(p, k, red, V(&b, tid)),
                                   lx_sload(p, k, red, bin(&b, LB_ADD, V(&b, tid), I(&b, s * bj))))));
  }
  ls_append(p, body, ls_sync(p));
  LStmt *out = when(&b, body, bin(&b, LB_AND, bin(&b, LB_EQ, V(&b, vy), I(&b, 0)), jok));
  ls_append(p, out, ls_store(p, pbuf, partial_index(&b, h, &env), lx_sload(p, k, red, V(&b, tid))));
  Alt *a = unit_add_alt(p, h->unit, variant);
  if (!a) return;
  a->kernels[a->nkernels++] = p->nkernels - 1;
  a->kernels[a->nkernels++] = combine_kernel_for(L, st, h, pbuf, (int)g, arena_printf(&p->arena, "lanes%d", bj));
  a->cost = (double)elems;
}

void variants_reduction(Lower *L, Stmt *st, Hoisted *h) {
  if (h->red->op != R_SUM) return;
  variants_scatter(L, st, h);
  variants_staged_reduction(L, st, h);
  L->fast32 = L->p->real == LT_F32;
  if (h->nfree >= 2) {
    static const Tile tiles[] = {{32, 32, 4, 4, 32}, {64, 32, 4, 4, 32}, {64, 64, 8, 4, 16}, {16, 16, 2, 2, 32}};
    for (size_t i = 0; i < sizeof tiles / sizeof *tiles; i++) {
      int64_t ei = index_extent(L, h->free[h->nfree - 2]), ej = index_extent(L, h->free[h->nfree - 1]);
      /* tiles much larger than the output waste their threads */
      if (tiles[i].bi > 2 * ei || tiles[i].bj > 2 * ej) continue;
      tiled2d(L, st, h, tiles[i]);
    }
  }
  /* one lane width: the widest the output fills (narrower ones re-read events) */
  int64_t ej = h->nfree ? index_extent(L, h->free[h->nfree - 1]) : 1;
  lanes(L, st, h, ej >= 32 ? 32 : ej >= 8 ? 8 : 1);
  L->fast32 = 0;
}

void variants_map(Lower *L, Stmt *st, int unit) {
  variants_estep(L, st, unit);
  variants_staged_map(L, st, unit);
}
