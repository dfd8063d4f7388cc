/* Tensor-core variant of the sums over events whose terms are a weight of
 * the event and component times a polynomial of degree 1 or 2 in the data
 * (poly.h):
 *
 *   S[m, d] = sum(n, W(n, m) P(x[n,d]; m, d)),  P = k2 t^2 + k1 t + k0,
 *
 * t = x - c (c below): the M-step's means and diagonal covariances, the
 * Bernoulli, multinomial and Poisson mixtures' sums. With the events as the
 * k dimension of the warps' m16n8k8 TF32 MMA (loopir.h, LS_MMA) the block
 * forms S1 = W^T t and, for degree 2, S2 = W^T t^2 (components x features),
 * and the threads S0 = sum(n, W); every 256 events each lane adds
 * k2 S2 + k1 S1 + k0 S0 of its cells, in float64, into the block's partial,
 * the coefficients formed then from P's own expression (poly.h). Float32
 * products from TF32 parts as in variants_mma.c (3xTF32), or one product
 * under the precision "tf32".
 *
 * The shift: for degree 2, c[d] is the mean over the block's components of
 * P's vertex (its mu), so that S2 - 2 (mu - c) S1 + (mu - c)^2 S0 cancels
 * only the spread of the block's means, not their distance to the origin
 * (docs/limits.md, "Precision"); for degree 1, c = 0 (nothing
 * cancels, and integer data stays exact in TF32).
 *
 * Layout: a block takes mb = 16 mt components (mt row tiles) and every
 * feature (ct column tiles of 8), and a slice of events, KC at a time: the
 * weights staged [event][component] and the data [event][feature], rows
 * padded to 8 modulo 32 floats (the fragments' loads hit 32 banks). Warp w
 * owns column tiles w, w + warps, ... of every row tile: it splits its B
 * values (t and t^2 of its features, events t and t + 4 of each 8) once per
 * 8 events and each row tile's A fragment (the weights) when used. */
#include "kernel_build.h"
#include "poly_forms.h"
#include "scatter.h"

/* FLUSH_CHUNKS: each lane's float32 sums reach the float64 partial every
 * 256 events: at M = 1024, D = 128 every 128 events moved 16 GB of
 * partials per pass (N / 128 x M x D x 8 bytes, read and written) */
enum { KC = 32, FLUSH_CHUNKS = 8 };

typedef struct {
  int warps, mt, products; /* products: 3 (3xTF32) or 1 (TF32, only under that precision) */
} PolySumConfig;

typedef struct {
  int warps, threads, per_sm, mb, dp, ct, cpw, dps, mbs;
  int64_t groups, slices;
} PolySumShape;
_Static_assert(sizeof(PolySumShape) <= VARIANT_SHAPE_BYTES, "PolySumShape must fit Plan.shape");

static int match_polysum(Lower *L, const Site *site, void *form) {
  return tf32_mma_usable(L) && polysum_form(L, site->h, form);
}

/* A configuration's warps: no more than the column tiles. */
static int polysum_warps(const PolySumConfig *c, int ct) { return c->warps < ct ? c->warps : ct; }

static const PolySumConfig polysum_configs[];

static int plan_polysum(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const PolySumForm *f = form;
  const PolySumConfig *c = config;
  PolySumShape *s = (PolySumShape *)pl->shape;
  if (!tf32_products_asked(L, c->products)) return 0;
  int64_t M = f->M;
  if (c->mt > 1 && 16 * (c->mt / 2) >= M) return 0; /* half the tile would hold them */
  s->dp = (int)ceil_div(f->D, 8) * 8;
  s->ct = s->dp / 8;
  s->warps = polysum_warps(c, s->ct);
  /* a configuration that narrows to an earlier one's is that one */
  for (const PolySumConfig *e = polysum_configs; e < c; e++)
    if (e->mt == c->mt && e->products == c->products && polysum_warps(e, s->ct) == s->warps) return 0;
  s->threads = 32 * s->warps;
  s->mb = 16 * c->mt;
  if (s->mb > s->threads) return 0; /* S0: a thread per component */
  s->cpw = (int)ceil_div(s->ct, s->warps);
  /* registers: the accumulators (S1, and S2 for degree 2) and the split B values */
  if (c->mt * s->cpw * 4 * f->degree > 64 || s->cpw * 2 * f->degree * 2 > 48) return 0;
  s->dps = bank_padded_row(s->dp), s->mbs = bank_padded_row(s->mb);
  int64_t smem = 4 * ((int64_t)KC * s->dps + (int64_t)KC * s->mbs + s->mb + s->dp);
  if (smem > L->dev.smem_static_per_block || s->threads > L->dev.max_threads_per_block) return 0;
  s->groups = ceil_div(M, s->mb);
  s->slices = scatter_one_wave(L, smem, s->threads, s->groups, &s->per_sm);
  while (s->slices > 1 && s->slices * M * f->D > (1 << 23)) s->slices--; /* partials up to 64 MB */
  pl->variant =
      arena_printf(&L->p->arena, "mma-%s-polysum-%dx%dw", c->products == 3 ? "3xtf32" : "tf32", s->mb, s->warps);
  /* per event: the data once per group of components, the weights' reads;
   * on the tensor cores products x degree multiply-adds per (component,
   * padded feature); on the FP32 pipe the B values (per warp and 8 events:
   * load, shift, square, split) and the A fragments (per row tile and
   * column tile group) */
  double Mp = (double)(s->groups * s->mb), three = c->products == 3;
  pl->work = (Work){.bytes_per_event = 4.0 * ((double)s->groups * (double)f->D + (double)M * f->nw),
                    .bytes = 2.0 * (double)s->slices * (double)(M * f->D) * 8 + (double)(M * f->D) * 8,
                    .shared_per_event = 4.0 * ((double)s->groups * (s->dp + s->mb) + Mp * s->ct * 2.0 / 8.0 +
                                               Mp * s->warps * 4.0 / (8.0 * 16.0)),
                    .fmas_per_event = (double)s->groups * s->ct * 32.0 * f->degree * (three ? 5 : 3) / 8.0 * c->mt +
                                      Mp * s->warps * 32.0 * 4.0 * (three ? 3 : 1) / (8.0 * 16.0) + Mp / 8.0,
                    .tc_fmas_per_event = Mp * s->dp * c->products * f->degree,
                    .launches = 2};
  return 1;
}

static void build_polysum(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                          Built *out) {
  Program *p = L->p;
  Hoisted *h = site->h;
  const PolySumForm *f = form;
  const PolySumConfig c = *(const PolySumConfig *)config;
  const PolySumShape *sp = (const PolySumShape *)pl->shape;
  int64_t D = f->D, M = f->M, slices = sp->slices;
  int threads = sp->threads, mb = sp->mb, mt = c.mt, dp = sp->dp, ct = sp->ct, cpw = sp->cpw, dps = sp->dps,
      mbs = sp->mbs, deg = f->degree, three = c.products == 3;
  int pbuf = new_partial(L, h, slices, "polysum");
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_polysum%s_%dx%dw", L->s->model,
                                                 p->bufs[h->stat_buf]->name, three ? "3xtf32" : "tf32", mb, sp->warps));
  k->what = arena_printf(&p->arena,
                         "%s [%s: the sum as W^T (t, t^2) on TF32 tensor cores (m16n8k8, events as k), %s, %d "
                         "components x %d features per block, %d events staged, %lld slices]",
                         stmt_text(L, site->st), pl->variant,
                         three ? "3 products of split operands (float32 products)" : "one product (TF32 accuracy)", mb,
                         dp, KC, (long long)slices);
  scatter_grid(p, k, sp->groups, slices, threads, sp->per_sm);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", LT_F32, (int64_t)KC * dps),
      ws = kernel_shared(p, k, "w", LT_F32, (int64_t)KC * mbs), s0s = kernel_shared(p, k, "weight_sums", LT_F32, mb),
      cs = kernel_shared(p, k, "shift", LT_F32, dp);
  WarpLanes wl;
  warp_lanes(p, k, body, &wl);
  int tid = wl.tid, warp = wl.warp, g = wl.g, t = wl.t;
  int m0 = kernel_var(p, k, "m0", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vn = kernel_var(p, k, "n", LT_I64),
      vd = kernel_var(p, k, "d", LT_I64), flat = kernel_var(p, k, "flat", LT_I64),
      shift = kernel_var(p, k, "c", LT_F32);
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(mb))));
  Env env;
  env_init(&env);
  env.var[f->nid] = vn;
  env.var[f->mid] = vm;
  env.var[f->did] = vd;
  /* the shift: degree 2, the mean of P's vertices -k1 / (2 k2) (about 0)
   * over the block's components; degree 1, zero */
  {
    LStmt *in = emit_strided(L, k, body, "shift", dp, threads, tid, flat);
    ls_append(p, in, ls_assign(p, vd, V(flat)));
    int sum = kernel_var(p, k, "vertex_sum", LT_F32), cnt = kernel_var(p, k, "vertices", LT_F32);
    ls_append(p, in, ls_assign(p, sum, lx_const(p, LT_F32, 0)));
    ls_append(p, in, ls_assign(p, cnt, lx_const(p, LT_F32, 0)));
    if (deg == 2) {
      int mm;
      LStmt *lm = emit_loop(L, k, in, "vertex", I(0), I(mb), &mm);
      ls_append(p, lm, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mm))));
      LStmt *ok = ls_when(p, lm, BIN(LB_AND, BIN(LB_LT, V(vm), I(M)), BIN(LB_LT, V(vd), I(D))));
      ls_append(p, ok, ls_assign(p, shift, lx_const(p, LT_F32, 0)));
      Poly q = polysum_coefficients(L, k, ok, f, &env, shift);
      LExpr *vx = poly_vertex(p, k, q);
      ls_append(p, ok, ls_assign(p, sum, BIN(LB_ADD, V(sum), vx)));
      ls_append(p, ok, ls_assign(p, cnt, BIN(LB_ADD, V(cnt), lx_const(p, LT_F32, 1))));
    }
    ls_append(p, in,
              ls_sstore(p, k, cs, V(flat),
                        lx_select(p, BIN(LB_GT, V(cnt), lx_const(p, LT_F32, 0)), BIN(LB_DIV, V(sum), V(cnt)),
                                  lx_const(p, LT_F32, 0))));
  }
  /* the accumulators: s[set][r][i][x], set 0: S1 (t), set 1: S2 (t^2) */
  int acc[2 * 64 + 1], nacc = 0, sv[2][8][16][4];
  for (int s = 0; s < deg; s++)
    for (int r = 0; r < mt; r++)
      for (int i = 0; i < cpw; i++)
        for (int x = 0; x < 4; x++)
          acc[nacc++] = sv[s][r][i][x] =
              kernel_var(p, k, arena_printf(&p->arena, "s%d_%d_%d_%d", s + 1, r, i, x), LT_F32);
  int s0 = kernel_var(p, k, "weight_sum", LT_F32);
  acc[nacc++] = s0;
  int first, last;
  event_slice_bounds(p, k, body, slices, KC, &first, &last);
  LStmt *group;
  int grp, base;
  LStmt *chunk = scatter_chunks(L, k, body, first, last, KC, FLUSH_CHUNKS, acc, nacc, LT_F32, &group, &grp, &base);
  /* the data chunk, coalesced along d, zero outside the slice and past D */
  {
    LStmt *in = emit_strided(L, k, chunk, "stage_x", (int64_t)KC * dp, threads, tid, flat);
    int kk = kernel_var(p, k, "kk", LT_I64);
    ls_append(p, in, ls_assign(p, kk, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(base), V(kk))));
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    stage_or_zero(p, k, in, BIN(LB_AND, BIN(LB_LT, V(vn), V(last)), BIN(LB_LT, V(vd), I(D))), xs,
                  BIN(LB_ADD, BIN(LB_MUL, V(kk), I(dps)), V(vd)),
                  lx_cast(p, LT_F32, lx_load(p, p->tensor_buf[f->x->id], xi)));
  }
  /* the weights W(n, m) of the block's components, coalesced along m, zero
   * outside the slice and past M */
  {
    LStmt *in = emit_strided(L, k, chunk, "stage_w", (int64_t)KC * mb, threads, tid, flat);
    int kk = kernel_var(p, k, "ke", LT_I64), mm = kernel_var(p, k, "mw", LT_I64);
    ls_append(p, in, ls_assign(p, kk, BIN(LB_DIV, V(flat), I(mb))));
    ls_append(p, in, ls_assign(p, mm, BIN(LB_REM, V(flat), I(mb))));
    ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(base), V(kk))));
    ls_append(p, in, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mm))));
    LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(kk), I(mbs)), V(mm));
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, in, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vn), V(last)), BIN(LB_LT, V(vm), I(M))), ok, no));
    ls_append(p, ok, ls_sstore(p, k, ws, at, lx_cast(p, LT_F32, factor_product(L, k, ok, f->wf, f->nw, &env))));
    ls_append(p, no, ls_sstore(p, k, ws, at, lx_const(p, LT_F32, 0)));
  }
  ls_append(p, chunk, ls_sync(p));
  /* S0: thread tid < mb sums its component's weights of the chunk */
  {
    LStmt *in = ls_when(p, chunk, BIN(LB_LT, V(tid), I(mb)));
    LExpr *sum = V(s0);
    for (int e = 0; e < KC; e++) sum = BIN(LB_ADD, sum, lx_sload(p, k, ws, BIN(LB_ADD, I((int64_t)e * mbs), V(tid))));
    ls_append(p, in, ls_assign(p, s0, sum));
  }
  int kb;
  LStmt *blk = emit_loop(L, k, chunk, "events8", I(0), I(KC / 8), &kb);
  int e0 = kernel_var(p, k, "row_t", LT_I64), e1 = kernel_var(p, k, "row_t4", LT_I64);
  ls_append(p, blk, ls_assign(p, e0, BIN(LB_ADD, BIN(LB_MUL, V(kb), I(8)), V(t))));
  ls_append(p, blk, ls_assign(p, e1, BIN(LB_ADD, V(e0), I(4))));
  /* the B values of the warp's column tiles j = warp + i warps: t and t^2 of
   * feature 8 j + g for events t and t + 4 (zero past the last tile) */
  int bb[2][16][2], bsm[2][16][2], tv = kernel_var(p, k, "t", LT_F32), cv = kernel_var(p, k, "c_g", LT_F32);
  for (int i = 0; i < cpw; i++) {
    LExpr *col = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, V(warp), I((int64_t)i * sp->warps)), I(8)), V(g));
    LExpr *live = BIN(LB_LT, BIN(LB_ADD, V(warp), I((int64_t)i * sp->warps)), I(ct));
    ls_append(
        p, blk,
        ls_assign(p, cv, lx_select(p, live, lx_sload(p, k, cs, BIN(LB_MIN, col, I(dp - 1))), lx_const(p, LT_F32, 0))));
    for (int e = 0; e < 2; e++) {
      LExpr *x = lx_sload(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(e ? e1 : e0), I(dps)), BIN(LB_MIN, col, I(dp - 1))));
      ls_append(p, blk, ls_assign(p, tv, lx_select(p, live, BIN(LB_SUB, x, V(cv)), lx_const(p, LT_F32, 0))));
      for (int s = 0; s < deg; s++) {
        bb[s][i][e] = kernel_var(p, k, arena_printf(&p->arena, "b%d_%d_%d", s + 1, i, e), LT_F32);
        bsm[s][i][e] = three ? kernel_var(p, k, arena_printf(&p->arena, "bs%d_%d_%d", s + 1, i, e), LT_F32) : -1;
        tf32_split(p, k, blk, s ? BIN(LB_MUL, V(tv), V(tv)) : V(tv), bb[s][i][e], bsm[s][i][e]);
      }
    }
  }
  /* per row tile its A fragment: components g, g + 8 of events t, t + 4 */
  int ab[4], as[4];
  for (int x = 0; x < 4; x++) {
    ab[x] = kernel_var(p, k, arena_printf(&p->arena, "a%d", x), LT_F32);
    as[x] = three ? kernel_var(p, k, arena_printf(&p->arena, "as%d", x), LT_F32) : -1;
  }
  for (int r = 0; r < mt; r++) {
    for (int x = 0; x < 4; x++) {
      LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(x < 2 ? e0 : e1), I(mbs)), BIN(LB_ADD, V(g), I(16 * r + 8 * (x % 2))));
      tf32_split(p, k, blk, lx_sload(p, k, ws, at), ab[x], as[x]);
    }
    for (int i = 0; i < cpw; i++) {
      /* a warp-uniform test: the MMAs need every lane */
      LStmt *mb_ = ls_when(p, blk, BIN(LB_LT, BIN(LB_ADD, V(warp), I((int64_t)i * sp->warps)), I(ct)));
      for (int s = 0; s < deg; s++) {
        mma_split_products(p, k, mb_, sv[s][r][i], ab, three ? as : NULL, bb[s][i], three ? bsm[s][i] : NULL);
      }
    }
  }
  /* the flush: S0 to shared memory, then each lane's cells (row 16 r + g +
   * 8 (x / 2), column 8 j + 2 t + x % 2) into the partial, in float64; the
   * first group stores, the others add */
  {
    LStmt *in = ls_when(p, group, BIN(LB_LT, V(tid), I(mb)));
    ls_append(p, in, ls_sstore(p, k, s0s, V(tid), V(s0)));
    ls_append(p, group, ls_sync(p));
    for (int r = 0; r < mt; r++)
      for (int i = 0; i < cpw; i++)
        for (int x = 0; x < 4; x++) {
          LExpr *row = BIN(LB_ADD, V(g), I(16 * r + 8 * (x / 2)));
          LExpr *col = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, V(warp), I((int64_t)i * sp->warps)), I(8)),
                           BIN(LB_ADD, BIN(LB_MUL, V(t), I(2)), I(x % 2)));
          ls_append(p, group, ls_assign(p, vm, BIN(LB_ADD, V(m0), row)));
          ls_append(p, group, ls_assign(p, vd, col));
          LStmt *ok = ls_when(p, group, BIN(LB_AND, BIN(LB_LT, V(vm), I(M)), BIN(LB_LT, V(vd), I(D))));
          ls_append(p, ok, ls_assign(p, shift, lx_sload(p, k, cs, V(vd))));
          Poly q = polysum_coefficients(L, k, ok, f, &env, shift);
          LExpr *part = NULL;
          for (int s = 0; s <= deg; s++) {
            if (q.c[s] < 0) continue;
            LExpr *sum = s == 0 ? lx_sload(p, k, s0s, row) : V(sv[s - 1][r][i][x]);
            LExpr *term = BIN(LB_MUL, lx_cast(p, LT_F64, V(q.c[s])), lx_cast(p, LT_F64, sum));
            part = part ? BIN(LB_ADD, part, term) : term;
          }
          if (!part) part = lx_const(p, LT_F64, 0);
          LExpr *prev = lx_select(p, BIN(LB_EQ, V(grp), I(0)), lx_const(p, LT_F64, 0),
                                  lx_load(p, pbuf, partial_index(p, k, h, &env)));
          ls_append(p, ok, ls_store(p, pbuf, partial_index(p, k, h, &env), BIN(LB_ADD, prev, part)));
        }
    ls_append(p, group, ls_sync(p)); /* S0's shared copy is read before the next group's flush writes it */
  }
  *out = (Built){.partial_buf = pbuf, .slices = (int)slices, .combine_tag = "polysum"};
}

/* 16 to 128 components a block (the data is read once per block of
 * components), 4 or 8 warps over the column tiles; a unit holds at most 16
 * alternatives (loopir.h) */
static const PolySumConfig polysum_configs[] = {
    {4, 1, 3}, {4, 2, 3}, {8, 2, 3}, {8, 4, 3}, {8, 8, 3}, {4, 1, 1}, {4, 2, 1}, {8, 2, 1}, {8, 4, 1}, {8, 8, 1},
};

const VariantFamily family_mma_polysum = {.name = "mma-polysum",
                                          .site = SITE_REDUCTION,
                                          .fast32 = 1,
                                          .match = match_polysum,
                                          .configs = polysum_configs,
                                          .nconfigs = sizeof polysum_configs / sizeof *polysum_configs,
                                          .config_size = sizeof *polysum_configs,
                                          .plan = plan_polysum,
                                          .build = build_polysum};
