/* Fused kernels of a fusion group (fuse.h, fused_tile.h) on the TF32 tensor
 * cores: the group's first map is a polynomial map (poly_forms.h: the
 * diagonal and spherical E-steps, k-means' distances, the Bernoulli and
 * Poisson log-likelihoods) and its sums over events of a weight times a
 * polynomial in the data (the means, the diagonal covariances, k-means'
 * centers) are GEMMs, so that a tile of events goes
 *
 *   X tile --GEMM1--> L[n, m] tile --maps--> lse, R (tile) --GEMM2--> sums
 *
 * without L or R leaving shared memory. GEMM1 is mma-poly's (T = (t^2, t)
 * against the coefficients (k2, k1) of the map's polynomial, plus the sum
 * of its k0) and GEMM2 mma-polysum's (W^T (t, t^2), the events as k, float32
 * runs of 256 events added into float64 partials as k2 S2 + k1 S1 + k0 S0),
 * each 3xTF32 (float32 products) or, asked for, TF32.
 *
 * Unlike mma-poly a block keeps every component (M up to the threads, all
 * of the logsumexp in the tile) and walks a slice of the events, so the
 * coefficients of GEMM1 are those of one shift for the whole launch: c[d],
 * the mean of the components' vertices (their mu: the data's spread about
 * its clusters' centre, as mma-polysum's shift), formed by two small
 * kernels before the fused one, split into TF32 parts and stored in
 * B-fragment order (each lane's b0 and b1 one 8-byte load). The maps after
 * the first (lse, R) and the other reductions (Nk, the objective) are the
 * generic fused kernel's (fused_tile.c); tile arrays are [element][event],
 * rows of events + 8 floats (8 modulo 32: the fragments' loads of the data
 * and of R hit 32 banks), R in L's array. */
#include <string.h>

#include "fused_tile.h"
#include "poly_forms.h"
#include "scatter.h"

enum { FM_FLUSH_EVENTS = 256, FM_MAX_SUMS = 2, FM_MAX_SLOTS = 8 };

typedef struct {
  int events, warps, products; /* products: 3 (3xTF32) or 1 (TF32, only under that precision) */
} FusedMmaConfig;

typedef struct {
  FusedForm base;
  PolyForm map;                   /* the group's first map */
  PolySumForm sums[FM_MAX_SUMS];  /* the reductions on the tensor cores */
  int red_of[FM_MAX_SUMS], nsums; /* their places among the group's reductions */
  unsigned mask;                  /* their bits */
  EventLse lse;                   /* the second map, where it is a logsumexp over the components */
  int has_lse;
} FusedMmaForm;
_Static_assert(sizeof(FusedMmaForm) <= VARIANT_FORM_BYTES, "FusedMmaForm must fit the registry's form storage");

typedef struct {
  int threads, dp, kbx, kq, parts, ct1, cpw1, rt, mt2, ct2, slots2;
  int64_t slices, rows, mp8, bsize;
} FusedMmaShape;
_Static_assert(sizeof(FusedMmaShape) <= VARIANT_SHAPE_BYTES, "FusedMmaShape must fit Plan.shape");

static int match_fused_mma(Lower *L, const Site *site, void *form) {
  if (!tf32_mma_usable(L)) return 0;
  FusedMmaForm *f = form;
  memset(f, 0, sizeof *f);
  if (!fused_match(L, site, &f->base)) return 0;
  const Group *g = site->group;
  if (g->nmaps < 1 || !poly_map_form(L, g->maps[0], &f->map)) return 0;
  f->has_lse = g->nmaps > 1 && match_event_lse(L, g->maps[1], &f->lse);
  for (int i = 0; i < g->nreds && f->nsums < FM_MAX_SUMS; i++) {
    PolySumForm *s = &f->sums[f->nsums];
    if (!polysum_form(L, g->reds[i], s) || s->x != f->map.x || s->D != f->map.sm.D) continue;
    f->red_of[f->nsums++] = i;
    f->mask |= 1u << i;
  }
  return 1;
}

static int plan_fused_mma(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const FusedMmaForm *f = form;
  const FusedMmaConfig *c = config;
  FusedMmaShape *s = (FusedMmaShape *)pl->shape;
  if (!tf32_products_asked(L, c->products)) return 0;
  int64_t M = f->map.sm.M, D = f->map.sm.D;
  s->threads = 32 * c->warps;
  /* every component in the block: a thread per component for the
   * constants and the weights' sums */
  if (M > s->threads || s->threads > L->dev.max_threads_per_block) return 0;
  s->dp = (int)ceil_div(D, 8) * 8;
  s->kbx = s->dp / 8;
  s->kq = f->map.degree == 2 ? s->kbx : 0;
  s->parts = c->products == 3 ? 2 : 1;
  s->mp8 = ceil_div(M, 8) * 8;
  s->ct1 = (int)(s->mp8 / 8);
  s->cpw1 = (int)ceil_div(s->ct1, c->warps);
  s->rt = c->events / 16;
  s->mt2 = (int)ceil_div(M, 16);
  s->ct2 = s->kbx;
  s->slots2 = (int)ceil_div((int64_t)s->mt2 * s->ct2, c->warps);
  s->bsize = (int64_t)(s->kbx + s->kq) * 8 * s->mp8;
  s->rows = c->events + 8;
  /* registers: GEMM1's accumulators and A fragments, GEMM2's accumulators */
  int acc2 = 0;
  for (int i = 0; i < f->nsums; i++) acc2 += s->slots2 * 4 * f->sums[i].degree;
  if (s->rt * s->cpw1 * 4 > 64 || acc2 > 64 || s->slots2 > FM_MAX_SLOTS) return 0;
  int owned = 0;
  for (int i = 0; i < f->base.g->nreds; i++)
    if (!(f->mask & (1u << i))) owned += (int)ceil_div(f->base.elems[i], s->threads);
  if (owned > 16) return 0;
  int64_t smem = fused_tile_bytes_rows(L, &f->base, c->events, s->rows) +
                 4 * (s->mp8 + s->dp + (int64_t)f->nsums * (16 * s->mt2 + s->dp));
  if (smem > L->dev.smem_static_per_block) return 0;
  s->slices = event_slices(L, 1, fused_total_elems(&f->base) > 0 ? fused_total_elems(&f->base) : 1);
  pl->variant =
      arena_printf(&L->p->arena, "fused-mma-%s-%dx%dw", c->products == 3 ? "3xtf32" : "tf32", c->events, c->warps);
  /* the data once; per event on the tensor cores GEMM1's M x (1 + degree)
   * dp and GEMM2's M x dp x degree per sum, products each; the maps after
   * the first and the owned sums as the generic fused kernel's */
  Work w = fused_work(L, &f->base, s->slices);
  double Mp = (double)s->mp8, tc = Mp * s->dp * (s->kq ? 2 : 1), split = c->products == 3 ? 4 : 1;
  for (int i = 0; i < f->nsums; i++) tc += (double)(16 * s->mt2) * s->dp * f->sums[i].degree;
  w.fmas_per_event -= (double)f->base.per_event[0] * (double)D; /* GEMM1 replaces the first map's loop */
  for (int i = 0; i < f->nsums; i++) w.fmas_per_event -= (double)f->base.elems[f->red_of[i]];
  w.fmas_per_event += (Mp * s->dp * split) / (8.0 * s->cpw1) + (double)(16 * s->mt2) * s->dp / 8.0;
  w.tc_fmas_per_event = tc * c->products;
  w.launches += 2;
  pl->work = w;
  return 1;
}

/* ---- the coefficients' kernels ------------------------------------------------------------------- */

typedef struct {
  int shift, coef, konst; /* buffers: c[dp], the B fragments' parts, the components' constants */
} Coefficients;

static Coefficients coefficient_kernels(Lower *L, const FusedMmaForm *f, const FusedMmaShape *s, const char *tag) {
  Program *p = L->p;
  const Group *g = f->base.g;
  const PolyForm *pf = &f->map;
  int64_t D = pf->sm.D, M = pf->sm.M, dp = s->dp;
  Coefficients cf;
  int64_t n_shift = dp, n_coef = s->parts * s->bsize, n_konst = s->mp8;
  cf.shift = program_add_buffer(p, arena_printf(&p->arena, "%s_shift", tag), BK_SMALL, LT_F32, 1, &n_shift, 0);
  cf.coef = program_add_buffer(p, arena_printf(&p->arena, "%s_coefficients", tag), BK_SMALL, LT_F32, 1, &n_coef, 0);
  cf.konst = program_add_buffer(p, arena_printf(&p->arena, "%s_constants", tag), BK_SMALL, LT_F32, 1, &n_konst, 0);
  /* a recomputed map reads the parameters it was first computed from */
  void *saved_user = L->access_user;
  LExpr *(*saved)(Lower *, Kernel *, const Expr *, Env *) = L->access;
  if (g->nrecomputed > 0) {
    L->access = fused_snapshot_access;
    L->access_user = (void *)g;
  }
  Expr *poly = pf->sm.sum->args[0];
  int threads = 256;
  /* the shift: the mean over the components of the polynomial's vertex */
  {
    Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_shift", L->s->model, tag));
    k->what = arena_printf(&p->arena, "the shift of the fused kernel's GEMM (the mean of the components' vertices)");
    kernel_launch_grid(p, k, 1, 1, 1, threads);
    int tid = kernel_var(p, k, "tid", LT_I64), flat = kernel_var(p, k, "flat", LT_I64);
    ls_append(p, k->body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
    LStmt *in = emit_strided(L, k, k->body, "feature", dp, threads, tid, flat);
    int vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64), vn = kernel_var(p, k, "n", LT_I64);
    int zero = kernel_var(p, k, "c", LT_F32), sum = kernel_var(p, k, "vertex_sum", LT_F32);
    ls_append(p, in, ls_assign(p, vd, V(flat)));
    ls_append(p, in, ls_assign(p, vn, I(0)));
    ls_append(p, in, ls_assign(p, zero, lx_const(p, LT_F32, 0)));
    ls_append(p, in, ls_assign(p, sum, lx_const(p, LT_F32, 0)));
    if (s->kq) {
      int mm;
      LStmt *lm = emit_loop(L, k, in, "vertex", I(0), I(M), &mm);
      ls_append(p, lm, ls_assign(p, vm, V(mm)));
      LStmt *ok = ls_when(p, lm, BIN(LB_LT, V(vd), I(D)));
      Env env;
      env_init(&env);
      env.var[pf->sm.nid] = vn;
      env.var[pf->sm.mid] = vm;
      env.var[pf->sm.did] = vd;
      PolyLower pw = {.L = L, .k = k, .blk = ok, .env = &env, .x = pf->x, .shift = zero};
      Poly q = poly_lower(&pw, poly);
      ls_append(p, ok, ls_assign(p, sum, BIN(LB_ADD, V(sum), poly_vertex(p, k, q))));
    }
    LExpr **at = idx_vec(p, 1);
    at[0] = V(flat);
    ls_append(p, in, ls_store(p, cf.shift, at, BIN(LB_DIV, V(sum), lx_const(p, LT_F32, (double)M))));
  }
  /* the coefficients of the polynomial about the shift, split, in
   * B-fragment order: rows [0, dp) k2, [kq 8, kq 8 + dp) k1; the constant
   * terms summed per component */
  {
    Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_coefficients", L->s->model, tag));
    k->what = arena_printf(&p->arena, "the coefficients of the fused kernel's GEMM, split into TF32 parts");
    kernel_launch_grid(p, k, 1, 1, 1, threads);
    int k0s = kernel_shared(p, k, "constant_terms", LT_F32, s->mp8 * (dp + 1));
    int tid = kernel_var(p, k, "tid", LT_I64), flat = kernel_var(p, k, "flat", LT_I64);
    ls_append(p, k->body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
    int vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64), vn = kernel_var(p, k, "n", LT_I64),
        shift = kernel_var(p, k, "c", LT_F32), big = kernel_var(p, k, "coef_big", LT_F32),
        small = s->parts == 2 ? kernel_var(p, k, "coef_small", LT_F32) : -1;
    LStmt *in = emit_strided(L, k, k->body, "coefficient", s->mp8 * dp, threads, tid, flat);
    ls_append(p, in, ls_assign(p, vm, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vn, I(0)));
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, in, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vm), I(M)), BIN(LB_LT, V(vd), I(D))), ok, no));
    LExpr **si = idx_vec(p, 1);
    si[0] = V(vd);
    ls_append(p, ok, ls_assign(p, shift, lx_load(p, cf.shift, si)));
    Env env;
    env_init(&env);
    env.var[pf->sm.nid] = vn;
    env.var[pf->sm.mid] = vm;
    env.var[pf->sm.did] = vd;
    PolyLower pw = {.L = L, .k = k, .blk = ok, .env = &env, .x = pf->x, .shift = shift};
    Poly q = poly_lower(&pw, poly);
    for (int r = s->kq ? 0 : 1; r < 2; r++) {
      LExpr *row = r == 0 ? V(vd) : BIN(LB_ADD, V(vd), I((int64_t)s->kq * 8));
      int cv = q.c[2 - r];
      tf32_split(p, k, ok, cv >= 0 ? V(cv) : lx_const(p, LT_F32, 0), big, small);
      for (int part = 0; part < s->parts; part++) {
        LExpr **at = idx_vec(p, 1), **at0 = idx_vec(p, 1);
        at[0] = b_fragment_index(p, k, row, V(vm), s->ct1, part * s->bsize);
        at0[0] = b_fragment_index(p, k, row, V(vm), s->ct1, part * s->bsize);
        ls_append(p, ok, ls_store(p, cf.coef, at, V(part ? small : big)));
        ls_append(p, no, ls_store(p, cf.coef, at0, lx_const(p, LT_F32, 0)));
      }
    }
    LExpr *k0_at = BIN(LB_ADD, BIN(LB_MUL, V(vm), I(dp + 1)), V(vd));
    ls_append(p, ok, ls_sstore(p, k, k0s, k0_at, q.c[0] >= 0 ? V(q.c[0]) : lx_const(p, LT_F32, 0)));
    ls_append(p, no, ls_sstore(p, k, k0s, BIN(LB_ADD, BIN(LB_MUL, V(vm), I(dp + 1)), V(vd)), lx_const(p, LT_F32, 0)));
    ls_append(p, k->body, ls_sync(p));
    LStmt *cm = emit_strided(L, k, k->body, "component", s->mp8, threads, tid, flat);
    LExpr *sum = lx_const(p, LT_F32, 0);
    for (int64_t d = 0; d < dp; d++)
      sum = BIN(LB_ADD, sum, lx_sload(p, k, k0s, BIN(LB_ADD, BIN(LB_MUL, V(flat), I(dp + 1)), I(d))));
    LExpr **at = idx_vec(p, 1);
    at[0] = V(flat);
    ls_append(p, cm, ls_store(p, cf.konst, at, sum));
  }
  L->access = saved;
  L->access_user = saved_user;
  return cf;
}

/* ---- the fused kernel ------------------------------------------------------------------------------- */

typedef struct {
  Lower *L;
  Kernel *k;
  FusedBuild *b;
  const FusedMmaForm *f;
  const FusedMmaShape *s;
  int three;
  WarpLanes wl;
  int konst_sh, shift_sh;
} Mma;

/* x of the staged data tile at feature `col` (an expression below dp) and
 * tile event `ev`: zero past D (the tile holds D rows). */
static LExpr *tile_x(Mma *m, LExpr *col, LExpr *ev) {
  Program *p = m->L->p;
  Kernel *k = m->k;
  int64_t D = m->f->map.sm.D;
  LExpr *at = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_MIN, col, I(D - 1)), I(m->s->rows)), ev);
  LExpr *x = lx_sload(p, k, m->b->reads.data_sh[0], at);
  if (D == m->s->dp) return x;
  return lx_select(p, BIN(LB_LT, col, I(D)), x, lx_const(p, LT_F32, 0));
}

/* GEMM1 for the tile, then the first map's g per output into its tile array
 * (and memory, where the group stores it). */
static void gemm_map(Mma *m, LStmt *tile, const Coefficients *cf) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  const FusedMmaShape *s = m->s;
  const Group *g = m->f->base.g;
  const PolyForm *pf = &m->f->map;
  int warps = s->threads / 32, three = m->three, kq = s->kq;
  int lane = m->wl.lane, warp = m->wl.warp, gq = m->wl.g, t = m->wl.t;
  int acc[64];
  for (int r = 0; r < s->rt * s->cpw1 * 4; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "l%d_%d_%d", r / (s->cpw1 * 4), r / 4 % s->cpw1, r % 4), LT_F32);
    ls_append(p, tile, ls_assign(p, acc[r], lx_const(p, LT_F32, 0)));
  }
  PolyFragments fr;
  poly_fragments(p, k, s->rt, three, &fr);
  int tv = kernel_var(p, k, "t", LT_F32), col = kernel_var(p, k, "column", LT_I64);
  for (int kb = 0; kb < s->kbx; kb++) {
    /* A: the events' t = x - c (and t^2) of features 8 kb + t, + 4 */
    for (int r = 0; r < s->rt; r++)
      for (int x = 0; x < 4; x++) {
        LExpr *feature = BIN(LB_ADD, V(t), I(8 * kb + 4 * (x / 2)));
        LExpr *ev = BIN(LB_ADD, V(gq), I(16 * r + 8 * (x % 2)));
        LExpr *c = kq ? lx_sload(p, k, m->shift_sh, feature) : lx_const(p, LT_F32, 0);
        ls_append(p, tile, ls_assign(p, tv, BIN(LB_SUB, tile_x(m, feature, ev), c)));
        tf32_split(p, k, tile, V(tv), fr.a[1][r][x], fr.as[1][r][x]);
        if (kq) tf32_split(p, k, tile, BIN(LB_MUL, V(tv), V(tv)), fr.a[0][r][x], fr.as[0][r][x]);
      }
    for (int j = 0; j < s->cpw1; j++) {
      /* column tile warp + j warps (a warp-uniform test: the MMAs need every lane) */
      ls_append(p, tile, ls_assign(p, col, BIN(LB_ADD, V(warp), I((int64_t)j * warps))));
      LStmt *live = ls_when(p, tile, BIN(LB_LT, V(col), I(s->ct1)));
      for (int q = kq ? 0 : 1; q < 2; q++) {
        int row_block = q == 0 ? kb : kq + kb;
        LExpr *base =
            BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, I((int64_t)row_block * s->ct1), V(col)), I(32)), V(lane)),
                I(2));
        for (int x = 0; x < 2; x++) {
          LExpr **at = idx_vec(p, 1);
          at[0] = BIN(LB_ADD, base, I(x));
          ls_append(p, live, ls_assign(p, fr.b[x], lx_load(p, cf->coef, at)));
          if (three) {
            LExpr **as = idx_vec(p, 1);
            as[0] = BIN(LB_ADD, base, I(s->bsize + x));
            ls_append(p, live, ls_assign(p, fr.bs[x], lx_load(p, cf->coef, as)));
          }
        }
        for (int r = 0; r < s->rt; r++)
          mma_split_products(p, k, live, &acc[(r * s->cpw1 + j) * 4], fr.a[q][r], three ? fr.as[q][r] : NULL, fr.b,
                             three ? fr.bs : NULL);
      }
    }
  }
  /* g per output: lane (g, t) holds events g and g + 8 of each row tile,
   * components 2t and 2t + 1 of each column tile */
  Stmt *st = g->maps[0];
  Target *tg = &st->targets[0];
  int keep = 0;
  for (int j = 0; j < g->nstored; j++) keep |= g->stored[j] == tg->tensor;
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), sv = kernel_var(p, k, "sum", LT_F32);
  env.var[pf->sm.nid] = vn;
  env.var[pf->sm.mid] = vm;
  m->b->reads.recomputing = g->nrecomputed > 0;
  for (int r = 0; r < s->rt; r++)
    for (int j = 0; j < s->cpw1; j++)
      for (int x = 0; x < 4; x++) {
        LExpr *ev = BIN(LB_ADD, V(gq), I(16 * r + 8 * (x / 2)));
        LExpr *comp = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, V(warp), I((int64_t)j * warps)), I(8)),
                          BIN(LB_ADD, BIN(LB_MUL, V(t), I(2)), I(x % 2)));
        ls_append(p, tile, ls_assign(p, vm, comp));
        ls_append(p, tile, ls_assign(p, vn, BIN(LB_ADD, V(m->b->n0), ev)));
        LStmt *in = ls_when(p, tile, BIN(LB_LT, V(vm), I(pf->sm.M)));
        ls_append(p, in,
                  ls_assign(p, sv, BIN(LB_ADD, V(acc[(r * s->cpw1 + j) * 4 + x]), lx_sload(p, k, m->konst_sh, V(vm)))));
        L->subst_expr = pf->sm.sum;
        L->subst_val = lx_cast(p, p->real, V(sv));
        L->rt = p->real;
        LExpr *val = lower_expr(L, k, in, st->rhs, &env);
        L->subst_expr = NULL;
        LType et = p->bufs[p->tensor_buf[tg->tensor->id]]->elem;
        int tmp = kernel_var(p, k, "value", et);
        ls_append(p, in, ls_assign(p, tmp, lx_cast(p, et, val)));
        ls_append(p, in,
                  ls_sstore(p, k, m->b->reads.tile_sh[0], BIN(LB_ADD, BIN(LB_MUL, V(vm), I(s->rows)), ev), V(tmp)));
        if (keep) {
          LStmt *live = ls_when(p, in, BIN(LB_LT, V(vn), V(m->b->last)));
          LExpr **idx = idx_vec(p, 2);
          idx[0] = V(vn);
          idx[1] = V(vm);
          ls_append(p, live, ls_store(p, p->tensor_buf[tg->tensor->id], idx, V(tmp)));
        }
      }
  m->b->reads.recomputing = 0;
  ls_append(p, tile, ls_sync(p));
}

/* The second map, lse[n] = logsumexp(j, f(n, j)), by `lanes` adjacent
 * threads per event of the tile (event tid / lanes; past the slice's last
 * event a group reads the last one again: every lane takes part in the
 * shuffles), into its tile array (and memory, where the group stores it). */
static void lse_lanes(Mma *m, LStmt *tile, int lanes) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  FusedBuild *b = m->b;
  const Group *g = m->f->base.g;
  const EventLse *f = &m->f->lse;
  int e = kernel_var(p, k, "event_of_group", LT_I64), lane = kernel_var(p, k, "lane_of_event", LT_I64),
      vn = kernel_var(p, k, "n", LT_I64);
  ls_append(p, tile, ls_assign(p, e, BIN(LB_DIV, V(m->wl.tid), I(lanes))));
  ls_append(p, tile, ls_assign(p, lane, BIN(LB_REM, V(m->wl.tid), I(lanes))));
  ls_append(p, tile, ls_assign(p, vn, BIN(LB_MIN, BIN(LB_ADD, V(b->n0), V(e)), BIN(LB_SUB, V(b->last), I(1)))));
  Env env;
  env_init(&env);
  env.var[f->nid] = vn;
  L->rt = p->real;
  b->reads.recomputing = 1 < g->nrecomputed;
  int value = event_lse_lanes(L, k, tile, f, &env, lane, lanes);
  b->reads.recomputing = 0;
  LStmt *live =
      ls_when(p, tile, BIN(LB_AND, BIN(LB_EQ, V(lane), I(0)), BIN(LB_LT, BIN(LB_ADD, V(b->n0), V(e)), V(b->last))));
  LType et = p->bufs[p->tensor_buf[f->tg->tensor->id]]->elem;
  ls_append(p, live, ls_sstore(p, k, b->reads.tile_sh[1], V(e), lx_cast(p, et, V(value))));
  int keep = 0;
  for (int j = 0; j < g->nstored; j++) keep |= g->stored[j] == f->tg->tensor;
  if (keep) {
    LExpr **idx = idx_vec(p, 1);
    idx[0] = V(vn);
    ls_append(p, live, ls_store(p, p->tensor_buf[f->tg->tensor->id], idx, lx_cast(p, et, V(value))));
  }
  ls_append(p, tile, ls_sync(p));
}

/* One sum on the tensor cores: its float32 accumulators (S1, S2 per slot
 * of (row tile, column tile) pairs), the weights' sum S0 (thread m), its
 * shift and partial. */
typedef struct {
  const PolySumForm *pf;
  Hoisted *h;
  int acc[2][FM_MAX_SLOTS][4];
  int s0, s0s, shift_sh, partial;
  Env env;
  int vn, vm, vd;
} Sum;

static void sum_setup(Mma *m, Sum *u, int i, int partial) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  const FusedMmaShape *s = m->s;
  u->pf = &m->f->sums[i];
  u->h = (Hoisted *)m->f->base.g->reds[m->f->red_of[i]];
  u->partial = partial;
  for (int q = 0; q < u->pf->degree; q++)
    for (int sl = 0; sl < s->slots2; sl++)
      for (int x = 0; x < 4; x++)
        u->acc[q][sl][x] = kernel_var(p, k, arena_printf(&p->arena, "s%d_%d_%d_%d", i, q + 1, sl, x), LT_F32);
  u->s0 = kernel_var(p, k, arena_printf(&p->arena, "weight_sum%d", i), LT_F32);
  u->s0s = kernel_shared(p, k, arena_printf(&p->arena, "weight_sums%d", i), LT_F32, 16 * s->mt2);
  u->shift_sh = kernel_shared(p, k, arena_printf(&p->arena, "sum_shift%d", i), LT_F32, s->dp);
  u->vn = kernel_var(p, k, "n", LT_I64);
  u->vm = kernel_var(p, k, "m", LT_I64);
  u->vd = kernel_var(p, k, "d", LT_I64);
  env_init(&u->env);
  u->env.var[u->pf->nid] = u->vn;
  u->env.var[u->pf->mid] = u->vm;
  u->env.var[u->pf->did] = u->vd;
  /* the shift: degree 2, the mean of P's vertices over the components;
   * degree 1, zero */
  int tid = m->wl.tid, flat = kernel_var(p, k, "flat", LT_I64), c = kernel_var(p, k, "c", LT_F32),
      vs = kernel_var(p, k, "vertex_sum", LT_F32);
  LStmt *in = emit_strided(L, k, k->body, "sum_shift", s->dp, s->threads, tid, flat);
  ls_append(p, in, ls_assign(p, u->vd, V(flat)));
  ls_append(p, in, ls_assign(p, vs, lx_const(p, LT_F32, 0)));
  if (u->pf->degree == 2) {
    int mm;
    LStmt *lm = emit_loop(L, k, in, "vertex", I(0), I(u->pf->M), &mm);
    ls_append(p, lm, ls_assign(p, u->vm, V(mm)));
    LStmt *ok = ls_when(p, lm, BIN(LB_LT, V(u->vd), I(u->pf->D)));
    ls_append(p, ok, ls_assign(p, c, lx_const(p, LT_F32, 0)));
    Poly q = polysum_coefficients(L, k, ok, u->pf, &u->env, c);
    ls_append(p, ok, ls_assign(p, vs, BIN(LB_ADD, V(vs), poly_vertex(p, k, q))));
  }
  ls_append(p, in, ls_sstore(p, k, u->shift_sh, V(flat), BIN(LB_DIV, V(vs), lx_const(p, LT_F32, (double)u->pf->M))));
}

/* W(event e of the tile, component comp) into variable v: zero past the
 * slice and the components. */
static void weight(Mma *m, Sum *u, LStmt *blk, LExpr *e, LExpr *comp, int v) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  ls_append(p, blk, ls_assign(p, u->vn, BIN(LB_ADD, V(m->b->n0), e)));
  ls_append(p, blk, ls_assign(p, u->vm, comp));
  LStmt *ok = ls_block(p), *no = ls_block(p);
  ls_append(p, blk,
            ls_if(p, BIN(LB_AND, BIN(LB_LT, V(u->vn), V(m->b->last)), BIN(LB_LT, V(u->vm), I(u->pf->M))), ok, no));
  L->rt = p->real;
  ls_append(p, ok, ls_assign(p, v, lx_cast(p, LT_F32, factor_product(L, k, ok, u->pf->wf, u->pf->nw, &u->env))));
  ls_append(p, no, ls_assign(p, v, lx_const(p, LT_F32, 0)));
}

/* GEMM2 for the tile: S0 by thread m, S1 (and S2) on the tensor cores,
 * the warps over (row tile, column tile) pairs. */
static void gemm_sum(Mma *m, Sum *u, LStmt *tile) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  const FusedMmaShape *s = m->s;
  int warps = s->threads / 32, three = m->three, deg = u->pf->degree, events = s->rt * 16;
  int tid = m->wl.tid, warp = m->wl.warp, gq = m->wl.g, t = m->wl.t;
  int wv = kernel_var(p, k, "w", LT_F32);
  {
    int e;
    LStmt *mine = ls_when(p, tile, BIN(LB_LT, V(tid), I(u->pf->M)));
    LStmt *le = emit_loop(L, k, mine, "weight_event", I(0), I(events), &e);
    weight(m, u, le, V(e), V(tid), wv);
    ls_append(p, le, ls_assign(p, u->s0, BIN(LB_ADD, V(u->s0), V(wv))));
  }
  int pair = kernel_var(p, k, "pair", LT_I64), rr = kernel_var(p, k, "row_tile", LT_I64),
      cc = kernel_var(p, k, "column_tile", LT_I64), tv = kernel_var(p, k, "t", LT_F32);
  int ab[4], as[4], bb[2][2], bs[2][2];
  for (int x = 0; x < 4; x++) {
    ab[x] = kernel_var(p, k, arena_printf(&p->arena, "w%d", x), LT_F32);
    as[x] = three ? kernel_var(p, k, arena_printf(&p->arena, "ws%d", x), LT_F32) : -1;
  }
  for (int q = 0; q < deg; q++)
    for (int e = 0; e < 2; e++) {
      bb[q][e] = kernel_var(p, k, arena_printf(&p->arena, "x%d_%d", q + 1, e), LT_F32);
      bs[q][e] = three ? kernel_var(p, k, arena_printf(&p->arena, "xs%d_%d", q + 1, e), LT_F32) : -1;
    }
  /* where the warps divide into the column tiles, a warp's column tile is
   * the same in every slot (pair warp + sl warps): its B values once per k
   * block */
  int fixed = warps % s->ct2 == 0;
  for (int kb = 0; kb < events / 8; kb++) {
    for (int sl = 0; sl < s->slots2; sl++) {
      ls_append(p, tile, ls_assign(p, pair, BIN(LB_ADD, V(warp), I((int64_t)sl * warps))));
      LStmt *live = ls_when(p, tile, BIN(LB_LT, V(pair), I((int64_t)s->mt2 * s->ct2)));
      ls_append(p, live, ls_assign(p, rr, BIN(LB_DIV, V(pair), I(s->ct2))));
      ls_append(p, live, ls_assign(p, cc, BIN(LB_REM, V(pair), I(s->ct2))));
      /* B: t (and t^2) of feature 8 cc + g for events t and t + 4 of the k block */
      LExpr *feature = BIN(LB_ADD, BIN(LB_MUL, V(cc), I(8)), V(gq));
      for (int e = 0; e < 2 && (!fixed || sl == 0); e++) {
        LExpr *ev = BIN(LB_ADD, V(t), I(8 * kb + 4 * e));
        ls_append(p, live, ls_assign(p, tv, BIN(LB_SUB, tile_x(m, feature, ev), lx_sload(p, k, u->shift_sh, feature))));
        for (int q = 0; q < deg; q++) tf32_split(p, k, live, q ? BIN(LB_MUL, V(tv), V(tv)) : V(tv), bb[q][e], bs[q][e]);
      }
      /* A: W of components 16 rr + g (+ 8), events t (+ 4) */
      for (int x = 0; x < 4; x++) {
        LExpr *ev = BIN(LB_ADD, V(t), I(8 * kb + 4 * (x / 2)));
        LExpr *comp = BIN(LB_ADD, BIN(LB_MUL, V(rr), I(16)), BIN(LB_ADD, V(gq), I(8 * (x % 2))));
        weight(m, u, live, ev, comp, wv);
        tf32_split(p, k, live, V(wv), ab[x], as[x]);
      }
      for (int q = 0; q < deg; q++)
        mma_split_products(p, k, live, u->acc[q][sl], ab, three ? as : NULL, bb[q], three ? bs[q] : NULL);
    }
  }
}

/* Every 256 events: each lane's cells k2 S2 + k1 S1 + k0 S0, in float64,
 * into the slice's partial (the first run stores, the others add). */
static void flush_sum(Mma *m, Sum *u, LStmt *group, int grp) {
  Lower *L = m->L;
  Program *p = L->p;
  Kernel *k = m->k;
  const FusedMmaShape *s = m->s;
  int warps = s->threads / 32, deg = u->pf->degree, tid = m->wl.tid, warp = m->wl.warp, gq = m->wl.g, t = m->wl.t;
  ls_append(p, ls_when(p, group, BIN(LB_LT, V(tid), I(u->pf->M))), ls_sstore(p, k, u->s0s, V(tid), V(u->s0)));
  ls_append(p, group, ls_sync(p));
  int pair = kernel_var(p, k, "pair", LT_I64), c = kernel_var(p, k, "c", LT_F32);
  Hoisted *h = u->h;
  for (int sl = 0; sl < s->slots2; sl++) {
    ls_append(p, group, ls_assign(p, pair, BIN(LB_ADD, V(warp), I((int64_t)sl * warps))));
    LStmt *live = ls_when(p, group, BIN(LB_LT, V(pair), I((int64_t)s->mt2 * s->ct2)));
    for (int x = 0; x < 4; x++) {
      LExpr *row = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_DIV, V(pair), I(s->ct2)), I(16)), BIN(LB_ADD, V(gq), I(8 * (x / 2))));
      LExpr *col = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_REM, V(pair), I(s->ct2)), I(8)),
                       BIN(LB_ADD, BIN(LB_MUL, V(t), I(2)), I(x % 2)));
      ls_append(p, live, ls_assign(p, u->vm, row));
      ls_append(p, live, ls_assign(p, u->vd, col));
      LStmt *ok = ls_when(p, live, BIN(LB_AND, BIN(LB_LT, V(u->vm), I(u->pf->M)), BIN(LB_LT, V(u->vd), I(u->pf->D))));
      ls_append(p, ok, ls_assign(p, c, lx_sload(p, k, u->shift_sh, V(u->vd))));
      Poly q = polysum_coefficients(L, k, ok, u->pf, &u->env, c);
      LExpr *part = NULL;
      for (int e = 0; e <= deg; e++) {
        if (q.c[e] < 0) continue;
        LExpr *sum = e == 0 ? lx_sload(p, k, u->s0s, V(u->vm)) : V(u->acc[e - 1][sl][x]);
        LExpr *term = BIN(LB_MUL, lx_cast(p, LT_F64, V(q.c[e])), lx_cast(p, LT_F64, sum));
        part = part ? BIN(LB_ADD, part, term) : term;
      }
      if (!part) part = lx_const(p, LT_F64, 0);
      LExpr *prev = lx_select(p, BIN(LB_EQ, V(grp), I(0)), lx_const(p, LT_F64, 0),
                              lx_load(p, u->partial, partial_index(p, k, h, &u->env)));
      ls_append(p, ok, ls_store(p, u->partial, partial_index(p, k, h, &u->env), BIN(LB_ADD, prev, part)));
    }
  }
  ls_append(p, group, ls_sync(p)); /* S0's shared copy is read before the next flush writes it */
}

static void build_fused_mma(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                            Built *out) {
  (void)out;
  Program *p = L->p;
  const FusedMmaForm *f = form;
  const FusedMmaConfig *c = config;
  const FusedMmaShape *s = (const FusedMmaShape *)pl->shape;
  const Group *g = f->base.g;
  FusedConfig fc = {c->events, s->threads, pl->variant};
  FusedBuild b = {.L = L,
                  .f = &f->base,
                  .c = &fc,
                  .host = 0,
                  .rows = s->rows,
                  .tag = c->products == 3 ? "fusedmma3xtf32_" : "fusedmmatf32_"};
  const char *tag = fused_kernel_tag(&b);
  Coefficients cf = coefficient_kernels(L, f, s, tag);
  Kernel *k = b.k = fused_new_kernel(&b, site);
  kernel_launch_grid(p, k, 1, 1, s->slices, s->threads);
  /* registers for 2 blocks of 4 warps a multiprocessor (255 a thread);
   * 8 warps take what they need (at 2 blocks, 128: spills) */
  k->min_blocks = c->warps == 4 ? 2 : 1;
  Mma m = {.L = L, .k = k, .b = &b, .f = f, .s = s, .three = c->products == 3};
  warp_lanes(p, k, k->body, &m.wl);
  b.tid = m.wl.tid;
  event_slice_bounds(p, k, k->body, s->slices, c->events, &b.first, &b.last);
  fused_make_tiles(&b);
  int partial[8];
  for (int i = 0; i < g->nreds; i++) partial[i] = new_partial(L, (Hoisted *)g->reds[i], s->slices, tag);
  /* the components' constants and the GEMM's shift, once */
  m.konst_sh = kernel_shared(p, k, "constants", LT_F32, s->mp8);
  m.shift_sh = kernel_shared(p, k, "shift", LT_F32, s->dp);
  {
    int flat = kernel_var(p, k, "flat", LT_I64);
    LStmt *in = emit_strided(L, k, k->body, "constants", s->mp8, s->threads, m.wl.tid, flat);
    LExpr **at = idx_vec(p, 1);
    at[0] = V(flat);
    ls_append(p, in, ls_sstore(p, k, m.konst_sh, V(flat), lx_load(p, cf.konst, at)));
    in = emit_strided(L, k, k->body, "shift", s->dp, s->threads, m.wl.tid, flat);
    LExpr **as = idx_vec(p, 1);
    as[0] = V(flat);
    ls_append(p, in, ls_sstore(p, k, m.shift_sh, V(flat), lx_load(p, cf.shift, as)));
  }
  Sum sums[FM_MAX_SUMS];
  int accs[FM_MAX_SUMS * (2 * FM_MAX_SLOTS * 4 + 1)], nacc = 0;
  for (int i = 0; i < f->nsums; i++) {
    sum_setup(&m, &sums[i], i, partial[f->red_of[i]]);
    for (int q = 0; q < f->sums[i].degree; q++)
      for (int sl = 0; sl < s->slots2; sl++)
        for (int x = 0; x < 4; x++) accs[nacc++] = sums[i].acc[q][sl][x];
    accs[nacc++] = sums[i].s0;
  }
  ls_append(p, k->body, ls_sync(p));
  FusedOwners o;
  fused_owners_init(&b, &o, f->mask);
  LStmt *group;
  int grp, base;
  LStmt *tile = scatter_chunks(L, k, k->body, b.first, b.last, c->events, FM_FLUSH_EVENTS / c->events, accs, nacc,
                               LT_F32, &group, &grp, &base);
  b.n0 = b.reads.n0 = base;
  fused_stage_data(&b, tile);
  ls_append(p, tile, ls_sync(p));
  gemm_map(&m, tile, &cf);
  int lanes = s->threads / c->events;
  if (f->has_lse && lanes >= 1 && lanes <= 32) {
    lse_lanes(&m, tile, lanes);
    fused_tile_maps(&b, tile, 2);
  } else {
    fused_tile_maps(&b, tile, 1);
  }
  fused_owners_tile(&b, &o, tile);
  for (int i = 0; i < f->nsums; i++) gemm_sum(&m, &sums[i], tile);
  for (int i = 0; i < f->nsums; i++) flush_sum(&m, &sums[i], group, grp);
  L->access = NULL;
  fused_owners_store(&b, &o, partial);
  fused_combine_all(&b, partial, s->slices);
}

/* 32 or 64 events a tile, 4 or 8 warps; a unit holds at most 16
 * alternatives (loopir.h) */
static const FusedMmaConfig fused_mma_configs[] = {
    {32, 4, 3}, {32, 8, 3}, {64, 8, 3}, {32, 4, 1}, {32, 8, 1}, {64, 8, 1},
};

const VariantFamily family_fused_mma = {.name = "fused-mma",
                                        .site = SITE_GROUP,
                                        .fast32 = 1,
                                        .match = match_fused_mma,
                                        .configs = fused_mma_configs,
                                        .nconfigs = sizeof fused_mma_configs / sizeof *fused_mma_configs,
                                        .config_size = sizeof *fused_mma_configs,
                                        .plan = plan_fused_mma,
                                        .build = build_fused_mma};
