/* Tensor-core variant of the staged maps (staged.h) whose sum is a
 * polynomial of degree at most 2 in the data:
 *
 *   T[n, m] = g(n, m, sum(d, f(x[n,d], m, d))),  f = k2 x^2 + k1 x + k0
 *
 * (the diagonal and spherical Gaussians' E-step, k-means' distances, the
 * Bernoulli and multinomial mixtures' log-likelihoods) as one GEMM over the
 * features: S[n, m] = sum(d, t^2 k2(m,d) + t k1(m,d)) + sum(d, k0(m,d)) on
 * the warps' m16n8k8 TF32 MMA (loopir.h, LS_MMA), with the 3xTF32 split of
 * variants_mma.c (float32 products from TF32 parts) or, under the precision
 * "tf32", one product.
 *
 * The expansion cancels: for f = a (x - mu)^2 the float32 sums hold
 * a x^2 where the result is a (x - mu)^2. So the data is shifted first, by
 * c[d], the mean of the block's events (t = x - c), and the coefficients
 * are those of the polynomial in t, formed from f's own expression with
 * the data read replaced by c + t (x - mu becomes (c - mu) + t: the
 * difference of two nearby values, exact where they are within a factor
 * of two). What remains is eps32 * sum(d, |k2| t^2 + |k1 t|): the spread of
 * the tile's events around their mean in place of their distance to mu
 * (docs/limits.md, "Precision").
 *
 * A block takes tn = warps * rt * 16 events and mb = 8 * nt components,
 * dp features a strip (8, 16, or 32 for TF32; padded with zeros). Per strip: the
 * data tile staged in A-fragment order (variants_mma.c) with each thread's
 * column sum on the side; the shift c; the coefficients staged in
 * B-fragment order, rows [0, dp) k2 and [dp, 2 dp) k1 (linear forms: k1
 * only), split into their TF32 parts there (once, not by every warp), the
 * parameters read along d, and the k0 of component m added up by thread
 * m; then per k block of 8
 * features the warps' MMAs, the A fragments t^2 and t formed on load. At
 * the end g per output, into a tile written coalesced along m. The grid is
 * one-dimensional, the component tile varying fastest, so that the blocks
 * reading one tile of events run together (the data read once from memory). */
#include <string.h>

#include "kernel_build.h"
#include "poly_forms.h"

typedef struct {
  int warps, rt, nt, products; /* products: 3 (3xTF32) or 1 (TF32, only under that precision) */
} PolyConfig;

typedef struct {
  int threads, tn, nt, mb, dp, kbx, kq; /* kbx: k blocks of the data per strip; kq: of k2 (0 for a linear f) */
  int parts;                            /* of each coefficient staged: TF32 big and small (3xTF32), or big */
  int64_t strips, mt;                   /* strips of dp features; component tiles */
} PolyShape;
_Static_assert(sizeof(PolyShape) <= VARIANT_SHAPE_BYTES, "PolyShape must fit Plan.shape");

/* Float32 data on a GPU with TF32 tensor cores (poly_forms.h). */
static int match_poly(Lower *L, const Site *site, void *form) {
  return tf32_mma_usable(L) && poly_map_form(L, site->st, form);
}

/* A configuration's column tiles: no more than the components need, a
 * power of two (the tile's width divides the threads). */
static int poly_nt(const PolyConfig *c, int64_t M) {
  int nt = 1;
  while (nt < c->nt && 8 * nt < M) nt *= 2;
  return nt;
}

static const PolyConfig poly_configs[];

static int plan_poly(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const PolyForm *f = form;
  const PolyConfig *c = config;
  PolyShape *s = (PolyShape *)pl->shape;
  /* asked for, as the other tensor-core variants (variants_mma.c) */
  if (!tf32_products_asked(L, c->products)) return 0;
  int64_t D = f->sm.D, M = f->sm.M;
  /* a configuration that narrows to an earlier one's tile is that one */
  for (const PolyConfig *e = poly_configs; e < c; e++)
    if (e->warps == c->warps && e->rt == c->rt && e->products == c->products && poly_nt(e, M) == poly_nt(c, M))
      return 0;
  s->threads = 32 * c->warps;
  s->tn = c->warps * c->rt * 16;
  s->nt = poly_nt(c, M);
  s->mb = 8 * s->nt;
  s->parts = c->products == 3 ? 2 : 1;
  /* 3xTF32's coefficients staged as two parts: strips of 16 features keep
   * them beside the data tile in 48 KiB */
  s->dp = D <= 8 ? 8 : D <= 16 || s->parts == 2 ? 16 : 32;
  s->kbx = s->dp / 8;
  s->kq = f->degree == 2 ? s->kbx : 0;
  s->strips = ceil_div(D, s->dp);
  s->mt = ceil_div(M, s->mb);
  /* the column sums (dp divides threads) and the components' constants
   * (mb at most threads) one per thread */
  if (s->mb > s->threads || s->threads % s->dp || c->rt * s->nt * 4 > 64) return 0;
  if (s->threads > L->dev.max_threads_per_block) return 0;
  int64_t ab = (int64_t)s->tn * s->dp + (int64_t)s->parts * (s->kbx + s->kq) * 8 * s->mb, out = (int64_t)s->tn * s->mb;
  int64_t smem = 4 * ((ab > out ? ab : out) + s->threads + s->mb + s->dp + (int64_t)s->mb * (s->dp + 1));
  if (smem > L->dev.smem_static_per_block) return 0;
  pl->variant = arena_printf(&L->p->arena, "mma-%s-poly-%dx%d", c->products == 3 ? "3xtf32" : "tf32", s->tn, s->mb);
  /* the data once from memory (the blocks of one event tile run together),
   * T written once; per (event, component) products x K multiply-adds on the
   * tensor cores, K = (1 + (degree 2)) x the padded features; the FP32 pipe
   * splits the A fragments (per warp and component tile; B is split when
   * staged) and evaluates g; the coefficients per block and component tile */
  double K = (double)(s->kbx + s->kq) * 8 * (double)s->strips, Mp = (double)(s->mt * s->mb);
  double split = c->products == 3 ? 4 : 1;
  pl->work = (Work){.bytes_per_event = 4.0 * ((double)D + (double)M),
                    .shared_per_event = 4.0 * (K * Mp / (8.0 * s->nt) / 2 + s->parts * K * Mp / (16.0 * c->rt)),
                    .fmas_per_event = K * Mp * split / (8.0 * s->nt) / 2 + 8.0 * Mp + (double)D * Mp * 16.0 / s->tn,
                    .tc_fmas_per_event = K * Mp * c->products,
                    .launches = 1};
  return 1;
}

static void build_poly(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const PolyForm *f = form;
  const PolyConfig c = *(const PolyConfig *)config;
  const PolyShape *sp = (const PolyShape *)pl->shape;
  Target *tg = &st->targets[0];
  int threads = sp->threads, tn = sp->tn, mb = sp->mb, dp = sp->dp, kbx = sp->kbx, kq = sp->kq, rt = c.rt, nt = sp->nt,
      parts = sp->parts, three = c.products == 3;
  int64_t D = f->sm.D, M = f->sm.M, mt = sp->mt;
  /* A, then B's big parts, then its small ones, in `tiles`; the output tile over them at the end */
  int64_t a_size = (int64_t)tn * dp, b_base = a_size, b_size = (int64_t)(kbx + kq) * 8 * mb;
  int64_t ab = a_size + parts * b_size, tiles_size = ab > (int64_t)tn * mb ? ab : (int64_t)tn * mb;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_mmapoly%s%dx%d", L->s->model, tg->name, three ? "3xtf32" : "tf32", tn, mb));
  k->what = arena_printf(&p->arena,
                         "%s [%s: sum over d as one GEMM of (t^2, t), t = x - (the block's mean), against the "
                         "coefficients of the polynomial, on TF32 tensor cores (m16n8k8), %s, %d features a strip]",
                         stmt_text(L, st), pl->variant,
                         three ? "3 products of split operands (float32 products)" : "one product (TF32 accuracy)", dp);
  k->launch = LAUNCH_GRID;
  k->grid[0] = BIN(LB_MUL, BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn)), I(mt));
  k->block[0] = threads;
  k->block[1] = 1;
  /* registers for 3 blocks of the widest tile, 4 of the others: 2 (226
   * registers) left the tensor cores waiting on the shared loads */
  k->min_blocks = rt * nt >= 16 ? 3 : 4;
  LStmt *body = k->body;
  int tiles = kernel_shared(p, k, "tiles", LT_F32, tiles_size), gs = kernel_shared(p, k, "constants", LT_F32, mb),
      k0s = kernel_shared(p, k, "constant_terms", LT_F32, (int64_t)mb * (dp + 1));
  int psum = kq ? kernel_shared(p, k, "column_sums", LT_F32, threads) : -1,
      cs = kq ? kernel_shared(p, k, "shift", LT_F32, dp) : -1;
  WarpLanes wl;
  warp_lanes(p, k, body, &wl);
  int tid = wl.tid, lane = wl.lane, warp = wl.warp, g = wl.g, t = wl.t;
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64),
      live = kernel_var(p, k, "events_in_tile", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, BIN(LB_DIV, lx_sreg(p, SR_CTAID_X), I(mt)), I(tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, BIN(LB_REM, lx_sreg(p, SR_CTAID_X), I(mt)), I(mb))));
  ls_append(p, body, ls_assign(p, live, BIN(LB_MIN, I(tn), BIN(LB_SUB, lx_nlocal(p), V(n0)))));
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64),
      flat = kernel_var(p, k, "flat", LT_I64), d0 = kernel_var(p, k, "d0", LT_I64);
  env.var[f->sm.nid] = vn;
  env.var[f->sm.mid] = vm;
  env.var[f->sm.did] = vd;
  int acc[64];
  for (int r = 0; r < rt * nt * 4; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "s%d_%d_%d", r / (nt * 4), r / 4 % nt, r % 4), LT_F32);
    ls_append(p, body, ls_assign(p, acc[r], lx_const(p, LT_F32, 0)));
  }
  int colsum = kernel_var(p, k, "column_sum", LT_F32), konst = kernel_var(p, k, "constant", LT_F32),
      xv = kernel_var(p, k, "x", LT_F32), shift = kernel_var(p, k, "c", LT_F32);
  ls_append(p, body, ls_assign(p, konst, lx_const(p, LT_F32, 0)));
  int strip;
  LStmt *ks = emit_loop(L, k, body, "strip", I(0), I(sp->strips), &strip);
  ls_append(p, ks, ls_assign(p, d0, BIN(LB_MUL, V(strip), I(dp))));
  ls_append(p, ks, ls_sync(p)); /* the previous strip's tiles are read by every warp */
  /* the data tile in A-fragment order (variants_mma.c); a thread's column
   * is tid % dp on every trip (dp divides threads): its sum on the side */
  ls_append(p, ks, ls_assign(p, colsum, lx_const(p, LT_F32, 0)));
  {
    LStmt *in = emit_strided(L, k, ks, "stage_x", a_size, threads, tid, flat);
    int nn = kernel_var(p, k, "nn", LT_I64), dd = kernel_var(p, k, "dd", LT_I64);
    ls_append(p, in, ls_assign(p, nn, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, dd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
    ls_append(p, in, ls_assign(p, vd, BIN(LB_ADD, V(d0), V(dd))));
    LExpr *at = a_fragment_index(p, k, V(nn), V(dd), kbx);
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, in, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vd), I(D))), ok, no));
    ls_append(p, ok, ls_assign(p, xv, lx_cast(p, LT_F32, lx_load(p, p->tensor_buf[f->x->id], xi))));
    ls_append(p, no, ls_assign(p, xv, lx_const(p, LT_F32, 0)));
    ls_append(p, in, ls_sstore(p, k, tiles, at, V(xv)));
    if (kq) ls_append(p, in, ls_assign(p, colsum, BIN(LB_ADD, V(colsum), V(xv))));
  }
  /* the shift: the mean of the tile's events, feature by feature (a
   * linear f has no x^2 to cancel: there c = 0, and integer data stays
   * exact in TF32) */
  if (kq) {
    ls_append(p, ks, ls_sstore(p, k, psum, V(tid), V(colsum)));
    ls_append(p, ks, ls_sync(p));
    LStmt *sh = ls_when(p, ks, BIN(LB_LT, V(tid), I(dp)));
    LExpr *sum = NULL;
    for (int h = 0; h < threads / dp; h++) {
      LExpr *v = lx_sload(p, k, psum, BIN(LB_ADD, V(tid), I((int64_t)h * dp)));
      sum = sum ? BIN(LB_ADD, sum, v) : v;
    }
    ls_append(p, sh, ls_sstore(p, k, cs, V(tid), BIN(LB_DIV, sum, lx_cast(p, LT_F32, V(live)))));
    ls_append(p, ks, ls_sync(p));
  }
  /* the coefficients of f in t for (component, feature) = flat / dp,
   * flat % dp: a warp reads the parameters along d (coalesced); k0 goes to
   * k0s, whose row of a component thread tid < mb then adds to its
   * constant (the row padded: the threads' rows hit different banks) */
  {
    int mm = kernel_var(p, k, "mm", LT_I64), dd = kernel_var(p, k, "feature", LT_I64);
    LStmt *cf = emit_strided(L, k, ks, "coefficients", (int64_t)dp * mb, threads, tid, flat);
    ls_append(p, cf, ls_assign(p, mm, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, cf, ls_assign(p, dd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, cf, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mm))));
    ls_append(p, cf, ls_assign(p, vd, BIN(LB_ADD, V(d0), V(dd))));
    LExpr *k0_at = BIN(LB_ADD, BIN(LB_MUL, V(mm), I(dp + 1)), V(dd));
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, cf, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vm), I(M)), BIN(LB_LT, V(vd), I(D))), ok, no));
    ls_append(p, ok, ls_assign(p, shift, kq ? lx_sload(p, k, cs, V(dd)) : lx_const(p, LT_F32, 0)));
    PolyLower pw = {.L = L, .k = k, .blk = ok, .env = &env, .x = f->x, .shift = shift};
    Poly poly = poly_lower(&pw, f->sm.sum->args[0]);
    /* k2 (rows [0, dp)) and k1 (rows kq 8 + [0, dp)), each as its TF32
     * parts; zero outside the components and features */
    int big = kernel_var(p, k, "coef_big", LT_F32), small = parts == 2 ? kernel_var(p, k, "coef_small", LT_F32) : -1;
    for (int q = kq ? 0 : 1; q < 2; q++) {
      LExpr *row = q == 0 ? V(dd) : BIN(LB_ADD, V(dd), I((int64_t)kq * 8));
      int cv = poly.c[2 - q];
      tf32_split(p, k, ok, cv >= 0 ? V(cv) : lx_const(p, LT_F32, 0), big, small);
      for (int part = 0; part < parts; part++) {
        ls_append(p, ok,
                  ls_sstore(p, k, tiles, b_fragment_index(p, k, row, V(mm), nt, b_base + part * b_size),
                            V(part ? small : big)));
        ls_append(p, no,
                  ls_sstore(p, k, tiles, b_fragment_index(p, k, row, V(mm), nt, b_base + part * b_size),
                            lx_const(p, LT_F32, 0)));
      }
    }
    ls_append(p, ok, ls_sstore(p, k, k0s, k0_at, poly.c[0] >= 0 ? V(poly.c[0]) : lx_const(p, LT_F32, 0)));
    ls_append(p, no, ls_sstore(p, k, k0s, k0_at, lx_const(p, LT_F32, 0)));
  }
  ls_append(p, ks, ls_sync(p));
  {
    LStmt *in = ls_when(p, ks, BIN(LB_LT, V(tid), I(mb)));
    LExpr *sum = V(konst);
    for (int dd = 0; dd < dp; dd++)
      sum = BIN(LB_ADD, sum, lx_sload(p, k, k0s, BIN(LB_ADD, BIN(LB_MUL, V(tid), I(dp + 1)), I(dd))));
    ls_append(p, in, ls_assign(p, konst, sum));
  }
  /* per k block of 8 features: A = t^2 (against k2) and t (against k1) */
  PolyFragments fr;
  poly_fragments(p, k, rt, three, &fr);
  int c0 = kernel_var(p, k, "c_t", LT_F32), c4 = kernel_var(p, k, "c_t4", LT_F32), tv = kernel_var(p, k, "t", LT_F32);
  for (int b = 0; b < kbx; b++) {
    ls_append(p, ks, ls_assign(p, c0, kq ? lx_sload(p, k, cs, BIN(LB_ADD, I(8 * b), V(t))) : lx_const(p, LT_F32, 0)));
    ls_append(p, ks,
              ls_assign(p, c4, kq ? lx_sload(p, k, cs, BIN(LB_ADD, I(8 * b + 4), V(t))) : lx_const(p, LT_F32, 0)));
    for (int r = 0; r < rt; r++) {
      LExpr *tile = BIN(LB_ADD, BIN(LB_MUL, V(warp), I(rt)), I(r));
      LExpr *base =
          BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, tile, I(kbx)), I(b)), I(32)), V(lane)), I(4));
      for (int x = 0; x < 4; x++) {
        ls_append(p, ks,
                  ls_assign(p, tv, BIN(LB_SUB, lx_sload(p, k, tiles, BIN(LB_ADD, base, I(x))), V(x < 2 ? c0 : c4))));
        tf32_split(p, k, ks, V(tv), fr.a[1][r][x], fr.as[1][r][x]);
        if (kq) tf32_split(p, k, ks, BIN(LB_MUL, V(tv), V(tv)), fr.a[0][r][x], fr.as[0][r][x]);
      }
    }
    for (int j = 0; j < nt; j++)
      for (int q = kq ? 0 : 1; q < 2; q++) {
        int row_block = q == 0 ? b : kq + b;
        LExpr *base =
            BIN(LB_ADD, I(b_base), BIN(LB_MUL, BIN(LB_ADD, I(((int64_t)row_block * nt + j) * 32), V(lane)), I(2)));
        for (int x = 0; x < 2; x++) {
          ls_append(p, ks, ls_assign(p, fr.b[x], lx_sload(p, k, tiles, BIN(LB_ADD, base, I(x)))));
          if (three) ls_append(p, ks, ls_assign(p, fr.bs[x], lx_sload(p, k, tiles, BIN(LB_ADD, base, I(b_size + x)))));
        }
        for (int r = 0; r < rt; r++) {
          mma_split_products(p, k, ks, &acc[(r * nt + j) * 4], fr.a[q][r], three ? fr.as[q][r] : NULL, fr.b,
                             three ? fr.bs : NULL);
        }
      }
  }
  /* the components' constants, for every lane's columns */
  ls_append(p, ls_when(p, body, BIN(LB_LT, V(tid), I(mb))), ls_sstore(p, k, gs, V(tid), V(konst)));
  ls_append(p, body, ls_sync(p));
  /* g per output: lane (g, t) holds rows g (c0, c1) and g + 8 (c2, c3),
   * columns 2t and 2t + 1 of each column tile */
  int sv = kernel_var(p, k, "sum", LT_F32);
  for (int r = 0; r < rt; r++)
    for (int j = 0; j < nt; j++)
      for (int x = 0; x < 4; x++) {
        LExpr *ev = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, V(warp), I(rt)), I(r)), I(16)),
                        BIN(LB_ADD, V(g), I(8 * (x / 2))));
        LExpr *col = BIN(LB_ADD, I(8 * j + x % 2), BIN(LB_MUL, V(t), I(2)));
        ls_append(p, body, ls_assign(p, sv, BIN(LB_ADD, V(acc[(r * nt + j) * 4 + x]), lx_sload(p, k, gs, col))));
        ls_append(p, body, ls_assign(p, vn, BIN(LB_ADD, V(n0), ev)));
        ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, V(m0), col)));
        LStmt *in = ls_when(p, body, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vm), I(M))));
        L->subst_expr = f->sm.sum;
        L->subst_val = lx_cast(p, p->real, V(sv));
        LExpr *val = lower_expr(L, k, in, st->rhs, &env);
        L->subst_expr = NULL;
        ls_append(p, in, ls_sstore(p, k, tiles, BIN(LB_ADD, BIN(LB_MUL, ev, I(mb)), col), val));
      }
  store_event_tile(L, k, body,
                   &(EventTile){.buf = p->tensor_buf[tg->tensor->id],
                                .sh = tiles,
                                .tn = tn,
                                .mb = mb,
                                .M = M,
                                .threads = threads,
                                .tid = tid,
                                .flat = flat,
                                .n0 = n0,
                                .m0 = m0,
                                .vn = vn,
                                .vm = vm});
}

/* 128 x 64, 128 x 32 and 64 x 64 tiles (narrower where M is smaller); a
 * unit holds at most 16 alternatives (loopir.h) */
static const PolyConfig poly_configs[] = {
    {4, 2, 8, 3}, {4, 2, 4, 3}, {4, 1, 8, 3}, {4, 2, 8, 1}, {4, 2, 4, 1}, {4, 1, 8, 1},
};

const VariantFamily family_mma_poly = {.name = "mma-poly",
                                       .site = SITE_MAP,
                                       .fast32 = 1,
                                       .match = match_poly,
                                       .configs = poly_configs,
                                       .nconfigs = sizeof poly_configs / sizeof *poly_configs,
                                       .config_size = sizeof *poly_configs,
                                       .plan = plan_poly,
                                       .build = build_poly};
