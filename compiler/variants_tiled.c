/* GPU variants of reductions over events (M-step statistics, the
 * log-likelihood), two families of the registry (variant.h):
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
 */
#include <string.h>

#include "kernel_build.h"
#include "variant.h"

/* ---- tiled 2-D contraction ------------------------------------------------------------------ */

typedef struct {
  int bi, bj, ri, rj, kc;
} Tile;

/* Cell r of a thread's RI x RJ register tile (thread (tx, ty) of the block
 * at (i0, j0)): binds the output indices in env and returns a block that
 * runs only inside the output. */
static LStmt *tile_cell(Lower *L, Kernel *k, LStmt *blk, Tile t, int r, const int at[4], int iid, int jid, Env *env) {
  Program *p = L->p;
  int i0 = at[0], j0 = at[1], vx = at[2], vy = at[3];
  int iv = kernel_var(p, k, spec_index(L->s, iid)->name, LT_I64),
      jv = kernel_var(p, k, spec_index(L->s, jid)->name, LT_I64);
  ls_append(p, blk, ls_assign(p, iv, BIN(LB_ADD, V(i0), BIN(LB_ADD, BIN(LB_MUL, V(vy), I(t.ri)), I(r / t.rj)))));
  ls_append(p, blk, ls_assign(p, jv, BIN(LB_ADD, V(j0), BIN(LB_ADD, BIN(LB_MUL, V(vx), I(t.rj)), I(r % t.rj)))));
  env->var[iid] = iv;
  env->var[jid] = jv;
  return ls_when(p, blk,
                 BIN(LB_AND, BIN(LB_LT, V(iv), I(index_extent(L, iid))), BIN(LB_LT, V(jv), I(index_extent(L, jid)))));
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

/* S[o.., i, j] = sum(n, A(n, i) * B(n, j)): the factors split by i and j. */
typedef struct {
  int iid, jid, nid;
  Expr *fa[32], *fb[32], *sw; /* sw: W of a squared difference, whose U is fb's last */
  int na, nb;
  int64_t ei, ej, outer, elems;
} Contraction;
_Static_assert(sizeof(Contraction) <= VARIANT_FORM_BYTES, "Contraction must fit the registry's form storage");

static int match_tiled(Lower *L, const Site *site, void *form) {
  Hoisted *h = site->h;
  Contraction *c = form;
  if (h->red->op != R_SUM || h->nfree < 2) return 0;
  int nf = h->nfree;
  c->iid = h->free[nf - 2], c->jid = h->free[nf - 1], c->nid = h->red->red.id;
  Expr *f[32], *su = NULL;
  int nfac = 0;
  expr_product_factors(h->red->args[0], f, &nfac, 32);
  for (int i = 0; i < nfac; i++) {
    int ui = expr_uses_index(f[i], c->iid), uj = expr_uses_index(f[i], c->jid);
    if (ui && uj && !su && sq_diff(f[i], c->nid, c->iid, c->jid, &su, &c->sw)) continue;
    if (ui && uj) return 0; /* not separable */
    if (uj)
      c->fb[c->nb++] = f[i];
    else
      c->fa[c->na++] = f[i];
  }
  /* the squared difference: U is the staged B side (no other j factor) */
  if (su && (c->nb || h->symmetric)) return 0;
  if (su) c->fb[c->nb++] = su;
  if (!c->nb) return 0;
  c->ei = index_extent(L, c->iid), c->ej = index_extent(L, c->jid);
  c->outer = 1, c->elems = c->ei * c->ej;
  for (int i = 0; i < nf - 2; i++) c->outer *= index_extent(L, h->free[i]), c->elems *= index_extent(L, h->free[i]);
  return 1;
}

typedef struct {
  int tx, ty, threads;
  int64_t ti, tj, slices;
} TiledShape;
_Static_assert(sizeof(TiledShape) <= VARIANT_SHAPE_BYTES, "TiledShape must fit Plan.shape");

static int plan_tiled(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  const Contraction *c = form;
  const Tile *t = config;
  /* tiles much larger than the output waste their threads */
  if (t->bi > 2 * c->ei || t->bj > 2 * c->ej) return 0;
  TiledShape *s = (TiledShape *)pl->shape;
  s->ti = ceil_div(c->ei, t->bi), s->tj = ceil_div(c->ej, t->bj);
  s->tx = t->bj / t->rj, s->ty = t->bi / t->ri, s->threads = s->tx * s->ty;
  if (s->threads < 32 || s->threads > L->dev.max_threads_per_block || s->threads % 32) return 0;
  int esz = event_term_type(L) == LT_F64 ? 8 : 4;
  if ((int64_t)t->kc * (t->bi + t->bj) * esz > L->dev.smem_static_per_block) return 0;
  s->slices = event_slices(L, s->ti * s->tj * c->outer, c->elems);
  pl->variant = arena_printf(&L->p->arena, "%s-%dx%d", c->sw ? "tiled-sq" : "tiled", t->bi, t->bj);
  /* each operand row read once per tile of the other side; a thread reads
   * ri + rj shared values per ri x rj multiply-adds */
  double cells = (double)c->elems; /* per event */
  double staged = (double)c->outer * (double)(c->ei * s->tj + c->ej * s->ti) * esz;
  double partials = (double)s->slices * (double)c->elems * 8;
  pl->work = (Work){.bytes_per_event = staged,
                    .bytes = 2 * partials + (double)c->elems * 8,
                    .shared_per_event = staged + cells * (t->ri + t->rj) / (t->ri * t->rj) * esz,
                    .fmas_per_event = cells * (c->sw ? 2 : 1),
                    .launches = 2};
  (void)site;
  return 1;
}

static void build_tiled(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const Contraction *cf = form;
  const TiledShape *s = (const TiledShape *)pl->shape;
  Tile t = *(const Tile *)config;
  int nf = h->nfree, iid = cf->iid, jid = cf->jid, nid = cf->nid, na = cf->na, nb = cf->nb;
  Expr *const *fa = cf->fa, *const *fb = cf->fb, *sw = cf->sw;
  int su = sw != NULL, tx = s->tx, threads = s->threads;
  int64_t tj = s->tj, g = s->slices;
  LType T = L->rt; /* the data's type: float32 products, or float64 throughout (and under float64-stats) */
  const char *tag = su ? "tiledsq" : "tiled";
  int pbuf = new_partial(L, h, g, pl->variant);
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_%s%dx%d", L->s->model, p->bufs[h->stat_buf]->name, tag, t.bi, t.bj));
  k->what = arena_printf(&p->arena, "%s [%s: %dx%d register tiles of %d threads, %d events staged, %lld slices]",
                         stmt_text(L, st), pl->variant, t.ri, t.rj, threads, t.kc, (long long)g);
  kernel_launch_grid(p, k, s->ti * tj, cf->outer, g, threads);
  LStmt *body = k->body;
  int as = kernel_shared(p, k, "a", T, (int64_t)t.kc * t.bi), bs = kernel_shared(p, k, "b", T, (int64_t)t.kc * t.bj);
  int tid = kernel_var(p, k, "tid", LT_I64), vx = kernel_var(p, k, "tx", LT_I64), vy = kernel_var(p, k, "ty", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, vx, BIN(LB_REM, V(tid), I(tx))));
  ls_append(p, body, ls_assign(p, vy, BIN(LB_DIV, V(tid), I(tx))));
  int i0 = kernel_var(p, k, "i0", LT_I64), j0 = kernel_var(p, k, "j0", LT_I64);
  ls_append(p, body, ls_assign(p, i0, BIN(LB_MUL, BIN(LB_DIV, lx_sreg(p, SR_CTAID_X), I(tj)), I(t.bi))));
  ls_append(p, body, ls_assign(p, j0, BIN(LB_MUL, BIN(LB_REM, lx_sreg(p, SR_CTAID_X), I(tj)), I(t.bj))));
  Env env;
  env_init(&env);
  decompose_flat(L, k, body, lx_sreg(p, SR_CTAID_Y), h->free, nf - 2, &env);
  if (h->symmetric && t.bi == t.bj) /* the combine reads i <= j only */
    body = ls_when(p, body, BIN(LB_LE, V(i0), V(j0)));
  int first, last;
  event_slice_bounds(p, k, body, g, t.kc, &first, &last);
  int acc[64], acc64[64], wv[64];
  for (int r = 0; r < t.ri * t.rj; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%d", r / t.rj, r % t.rj), T);
    acc64[r] = kernel_var(p, k, arena_printf(&p->arena, "sum%d_%d", r / t.rj, r % t.rj), LT_F64);
    ls_append(p, body, ls_assign(p, acc[r], lx_const(p, T, 0)));
    ls_append(p, body, ls_assign(p, acc64[r], lx_const(p, LT_F64, 0)));
  }
  /* W's tile, once per block (zero outside the output) */
  const int at[4] = {i0, j0, vx, vy};
  for (int r = 0; su && r < t.ri * t.rj; r++) {
    wv[r] = kernel_var(p, k, arena_printf(&p->arena, "w%d_%d", r / t.rj, r % t.rj), T);
    ls_append(p, body, ls_assign(p, wv[r], lx_const(p, T, 0)));
    LStmt *in = tile_cell(L, k, body, t, r, at, iid, jid, &env);
    ls_append(p, in, ls_assign(p, wv[r], lx_cast(p, T, lower_expr(L, k, in, sw, &env))));
  }
  /* for each chunk of kc events */
  int c, base;
  LStmt *chunk = emit_event_chunks(L, k, body, first, last, t.kc, &c, &base);
  /* stage both operands: consecutive threads take consecutive i (or j) */
  for (int side = 0; side < 2; side++) {
    int extent = side ? t.bj : t.bi, sh = side ? bs : as, org = side ? j0 : i0, id = side ? jid : iid;
    int64_t total = (int64_t)t.kc * extent;
    int s;
    LStmt *st_loop = emit_loop(L, k, chunk, side ? "stage_b" : "stage_a", I(0), I(ceil_div(total, threads)), &s);
    int flat = kernel_var(p, k, "flat", LT_I64), nn = kernel_var(p, k, spec_index(L->s, nid)->name, LT_I64),
        ii = kernel_var(p, k, spec_index(L->s, id)->name, LT_I64);
    ls_append(p, st_loop, ls_assign(p, flat, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(threads)))));
    LStmt *in = ls_when(p, st_loop, BIN(LB_LT, V(flat), I(total)));
    ls_append(p, in, ls_assign(p, nn, BIN(LB_ADD, V(base), BIN(LB_DIV, V(flat), I(extent)))));
    ls_append(p, in, ls_assign(p, ii, BIN(LB_ADD, V(org), BIN(LB_REM, V(flat), I(extent)))));
    LExpr *ok = BIN(LB_AND, BIN(LB_LT, V(nn), V(last)), BIN(LB_LT, V(ii), I(index_extent(L, id))));
    LStmt *valid = ls_block(p), *zero = ls_block(p);
    ls_append(p, in, ls_if(p, ok, valid, zero));
    env.var[nid] = nn;
    env.var[id] = ii;
    LExpr *v = side ? factor_product(L, k, valid, fb, nb, &env) : factor_product(L, k, valid, fa, na, &env);
    ls_append(p, valid, ls_sstore(p, k, sh, V(flat), v));
    ls_append(p, zero, ls_sstore(p, k, sh, V(flat), lx_const(p, T, 0)));
  }
  ls_append(p, chunk, ls_sync(p));
  /* the register tile: thread (tx, ty) owns rows ty*ri.. and columns tx*rj.. */
  int kk;
  LStmt *inner = emit_loop(L, k, chunk, "kk", I(0), I(t.kc), &kk);
  int av[16], bv[16];
  for (int r = 0; r < t.ri; r++) {
    av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
    ls_append(
        p, inner,
        ls_assign(p, av[r],
                  lx_sload(p, k, as,
                           BIN(LB_ADD, BIN(LB_MUL, V(kk), I(t.bi)), BIN(LB_ADD, BIN(LB_MUL, V(vy), I(t.ri)), I(r))))));
  }
  for (int r = 0; r < t.rj; r++) {
    bv[r] = kernel_var(p, k, arena_printf(&p->arena, "b%d", r), T);
    ls_append(
        p, inner,
        ls_assign(p, bv[r],
                  lx_sload(p, k, bs,
                           BIN(LB_ADD, BIN(LB_MUL, V(kk), I(t.bj)), BIN(LB_ADD, BIN(LB_MUL, V(vx), I(t.rj)), I(r))))));
  }
  for (int r = 0; r < t.ri * t.rj; r++) {
    LExpr *bj = V(bv[r % t.rj]);
    if (su) { /* (u - w)^2 */
      int dv = kernel_var(p, k, "diff", T);
      ls_append(p, inner, ls_assign(p, dv, BIN(LB_SUB, bj, V(wv[r]))));
      bj = BIN(LB_MUL, V(dv), V(dv));
    }
    LExpr *upd = BIN(LB_ADD, V(acc[r]), BIN(LB_MUL, V(av[r / t.rj]), bj));
    ls_append(p, inner, ls_assign(p, acc[r], upd));
  }
  /* float64 every 4 chunks keeps float32 sums short */
  LStmt *flush = ls_when(p, chunk, BIN(LB_EQ, BIN(LB_REM, V(c), I(4)), I(3)));
  for (int r = 0; r < t.ri * t.rj; r++) {
    ls_append(p, flush, ls_assign(p, acc64[r], BIN(LB_ADD, V(acc64[r]), lx_cast(p, LT_F64, V(acc[r])))));
    ls_append(p, flush, ls_assign(p, acc[r], lx_const(p, T, 0)));
  }
  /* write the tile */
  for (int r = 0; r < t.ri * t.rj; r++) {
    LStmt *in = tile_cell(L, k, body, t, r, at, iid, jid, &env);
    ls_append(p, in,
              ls_store(p, pbuf, partial_index(p, k, h, &env), BIN(LB_ADD, V(acc64[r]), lx_cast(p, LT_F64, V(acc[r])))));
  }
  *out = (Built){
      .partial_buf = pbuf, .slices = (int)g, .combine_tag = arena_printf(&p->arena, "%s%dx%d", tag, t.bi, t.bj)};
}

/* the tiles: bi x bj outputs, ri x rj a thread, kc events staged */
static const Tile tiles[] = {{32, 32, 4, 4, 32}, {64, 32, 4, 4, 32}, {64, 64, 8, 4, 16}, {16, 16, 2, 2, 32}};

const VariantFamily family_tiled = {.name = "tiled",
                                    .site = SITE_REDUCTION,
                                    .fast32 = 1,
                                    .stats64 = 1,
                                    .match = match_tiled,
                                    .configs = tiles,
                                    .nconfigs = sizeof tiles / sizeof *tiles,
                                    .config_size = sizeof *tiles,
                                    .plan = plan_tiled,
                                    .build = build_tiled};

/* ---- lanes over j and events ------------------------------------------------------------------ */

static int match_lanes(Lower *L, const Site *site, void *form) {
  (void)L, (void)form;
  return site->h->red->op == R_SUM;
}

typedef struct {
  int bj;
  int64_t outer, elems, tj, slices;
} LanesShape;
_Static_assert(sizeof(LanesShape) <= VARIANT_SHAPE_BYTES, "LanesShape must fit Plan.shape");

static int plan_lanes(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)form, (void)config;
  Hoisted *h = site->h;
  LanesShape *s = (LanesShape *)pl->shape;
  int nf = h->nfree;
  int64_t ej = nf ? index_extent(L, h->free[nf - 1]) : 1;
  /* one lane width: the widest the output fills (narrower ones re-read events) */
  s->bj = ej >= 32 ? 32 : ej >= 8 ? 8 : 1;
  s->outer = 1, s->elems = ej;
  for (int i = 0; i < nf - 1; i++) s->outer *= index_extent(L, h->free[i]), s->elems *= index_extent(L, h->free[i]);
  s->tj = ceil_div(ej, s->bj), s->slices = event_slices(L, s->tj * s->outer, s->elems);
  pl->variant = arena_printf(&L->p->arena, "lanes-%d", s->bj);
  /* the body's reads as issued, one value per event and output (cache reuse not modelled) */
  double cells = (double)s->elems, esz = L->p->real == LT_F64 ? 8 : 4; /* per event */
  pl->work = (Work){.bytes_per_event = cells * esz,
                    .bytes = 2.0 * (double)s->slices * (double)s->elems * 8,
                    .fmas_per_event = cells,
                    .launches = 2};
  return 1;
}

static void build_lanes(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *o) {
  (void)form, (void)config;
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const LanesShape *s = (const LanesShape *)pl->shape;
  int nf = h->nfree, nid = h->red->red.id, bj = s->bj;
  int jid = nf ? h->free[nf - 1] : -1;
  int64_t ej = nf ? index_extent(L, jid) : 1, g = s->slices;
  int threads = 256, ty = threads / bj;
  int pbuf = new_partial(L, h, g, pl->variant);
  Kernel *k =
      program_add_kernel(p, arena_printf(&p->arena, "%s_%s_lanes%d", L->s->model, p->bufs[h->stat_buf]->name, bj));
  k->what = arena_printf(&p->arena, "%s [%s: %d lanes over %s x %d over events, %lld slices]", stmt_text(L, st),
                         pl->variant, bj, nf ? spec_index(L->s, jid)->name : "nothing", ty, (long long)g);
  kernel_launch_grid(p, k, s->tj, s->outer, g, threads);
  LStmt *body = k->body;
  LType T = p->real;
  int red = kernel_shared(p, k, "partials", LT_F64, threads);
  int tid = kernel_var(p, k, "tid", LT_I64), vx = kernel_var(p, k, "tx", LT_I64), vy = kernel_var(p, k, "ty", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, vx, BIN(LB_REM, V(tid), I(bj))));
  ls_append(p, body, ls_assign(p, vy, BIN(LB_DIV, V(tid), I(bj))));
  Env env;
  env_init(&env);
  decompose_flat(L, k, body, lx_sreg(p, SR_CTAID_Y), h->free, nf ? nf - 1 : 0, &env);
  int jv = -1;
  LExpr *jok = lx_const(p, LT_BOOL, 1);
  if (nf) {
    jv = kernel_var(p, k, spec_index(L->s, jid)->name, LT_I64);
    ls_append(p, body, ls_assign(p, jv, BIN(LB_ADD, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(bj)), V(vx))));
    env.var[jid] = jv;
    jok = BIN(LB_LT, V(jv), I(ej));
  }
  int first, last;
  event_slice_bounds(p, k, body, g, ty, &first, &last);
  int acc = kernel_var(p, k, "acc", T), acc64 = kernel_var(p, k, "sum", LT_F64);
  ls_append(p, body, ls_assign(p, acc, lx_const(p, T, 0)));
  ls_append(p, body, ls_assign(p, acc64, lx_const(p, LT_F64, 0)));
  int c;
  LExpr *steps = BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, V(last), V(first)), I(ty - 1)), I(ty));
  LStmt *lp = emit_loop(L, k, body, "step", I(0), steps, &c);
  int nn = kernel_var(p, k, spec_index(L->s, nid)->name, LT_I64);
  ls_append(p, lp, ls_assign(p, nn, BIN(LB_ADD, V(first), BIN(LB_ADD, BIN(LB_MUL, V(c), I(ty)), V(vy)))));
  env.var[nid] = nn;
  LStmt *in = ls_when(p, lp, BIN(LB_AND, BIN(LB_LT, V(nn), V(last)), jok));
  LExpr *v = lx_cast(p, T, lower_expr(L, k, in, h->red->args[0], &env));
  ls_append(p, in, ls_assign(p, acc, BIN(LB_ADD, V(acc), v)));
  LStmt *flush = ls_when(p, lp, BIN(LB_EQ, BIN(LB_REM, V(c), I(32)), I(31)));
  ls_append(p, flush, ls_assign(p, acc64, BIN(LB_ADD, V(acc64), lx_cast(p, LT_F64, V(acc)))));
  ls_append(p, flush, ls_assign(p, acc, lx_const(p, T, 0)));
  /* tree across the event lanes */
  ls_append(p, body, ls_sstore(p, k, red, V(tid), BIN(LB_ADD, V(acc64), lx_cast(p, LT_F64, V(acc)))));
  for (int s = ty / 2; s >= 1; s /= 2) {
    ls_append(p, body, ls_sync(p));
    LStmt *lo = ls_when(p, body, BIN(LB_LT, V(vy), I(s)));
    ls_append(p, lo,
              ls_sstore(p, k, red, V(tid),
                        BIN(LB_ADD, lx_sload(p, k, red, V(tid)), lx_sload(p, k, red, BIN(LB_ADD, V(tid), I(s * bj))))));
  }
  ls_append(p, body, ls_sync(p));
  LStmt *out = ls_when(p, body, BIN(LB_AND, BIN(LB_EQ, V(vy), I(0)), jok));
  ls_append(p, out, ls_store(p, pbuf, partial_index(p, k, h, &env), lx_sload(p, k, red, V(tid))));
  *o = (Built){.partial_buf = pbuf, .slices = (int)g, .combine_tag = arena_printf(&p->arena, "lanes%d", bj)};
}

const VariantFamily family_lanes = {.name = "lanes",
                                    .site = SITE_REDUCTION,
                                    .fast32 = 1,
                                    .match = match_lanes,
                                    .plan = plan_lanes,
                                    .build = build_lanes};
