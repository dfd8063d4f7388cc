/* Tensor-core variant of the weighted scatter (scatter.h):
 *
 *   S[m] = sum(n, w[n,m] (x_n - mu_m) (x_n - mu_m)^T) = A^T B,
 *   A = w (X - mu_m), B = X - mu_m    (events x D)
 *
 * on the warps' m16n8k8 TF32 MMA (loopir.h, LS_MMA) with the events as the
 * MMAs' k dimension: an MMA adds 8 events to a 16 x 8 tile of S. Float32
 * accuracy from TF32 units as in variants_mma.c ("3xTF32": each operand
 * split into a TF32 big part and a TF32 residual, small*big + big*small +
 * big*big); under the precision "tf32", which the user asks for, one
 * product.
 *
 * Layout: a warp owns one component and every tile of S's upper triangle
 * (16-row tiles ri, 8-column tiles j >= 2 ri); a block of `warps` warps
 * takes that many components and a slice of events, staged KC events at a
 * time once for the whole block. A lane (g = lane / 4, t = lane % 4) needs
 * only the features d = 8 q + g of events t and t + 4 of each group of 8:
 * as A (rows d = 16 ri + g, + 8) and as B (columns 8 j + g) alike. So it
 * loads 2 D / 8 values a group, centres them in registers (its mu_d are
 * registers), splits the B values once and forms each row tile's A
 * fragment from them when it is used. Data rows are padded to 8 modulo 32
 * floats: the 32 lanes' loads (8 t + g + 8 q) hit 32 banks. Products are
 * accumulated in float32 and added every FLUSH events into the block's own
 * float64 partial ([slice, m, dp, dp], the cells of the tiles), then the
 * usual combine. */
#include "kernel_build.h"
#include "scatter.h"

enum { KC = 32, FLUSH_CHUNKS = 4 };

typedef struct {
  int warps, products; /* products: 3 (3xTF32) or 1 (TF32, only under that precision) */
  int async;           /* chunks double-buffered by asynchronous copies (scatter_staging.c) */
} ScatterMmaConfig;

typedef struct {
  int threads, per_sm, rt, ct, tiles;
  int64_t dp, row, groups, slices;
} ScatterMmaShape;
_Static_assert(sizeof(ScatterMmaShape) <= VARIANT_SHAPE_BYTES, "ScatterMmaShape must fit Plan.shape");

/* Float32 data on a GPU with TF32 tensor cores (as variants_mma.c's E-step). */
static int match_scatter_mma(Lower *L, const Site *site, void *form) {
  if (!tf32_mma_usable(L)) return 0;
  return match_scatter(L, site, form);
}

static int plan_scatter_mma(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const ScatterForm *sf = form;
  const ScatterMmaConfig *c = config;
  ScatterMmaShape *s = (ScatterMmaShape *)pl->shape;
  if (!tf32_products_asked(L, c->products)) return 0;
  int64_t M = sf->M;
  s->dp = ceil_div(sf->D, 16) * 16;
  s->rt = (int)(s->dp / 16), s->ct = (int)(s->dp / 8);
  s->tiles = s->rt * s->ct - s->rt * (s->rt - 1); /* column tiles j >= 2 ri of each row tile */
  /* registers: the accumulators, and the B values of a group (big and small) */
  if (s->tiles * 4 + s->ct * 4 > 128) return 0;
  s->row = bank_padded_row((int)s->dp);
  s->threads = 32 * c->warps;
  if (s->threads > L->dev.max_threads_per_block || c->warps > M) return 0;
  if (c->async && !scatter_copy_async_ok(L, sf, LT_F32)) return 0;
  int64_t smem = 4 * ((int64_t)KC * s->row + (int64_t)KC * c->warps) * (c->async ? 2 : 1);
  if (smem > L->dev.smem_static_per_block) return 0;
  s->groups = ceil_div(M, c->warps);
  s->slices = scatter_one_wave(L, smem, s->threads, s->groups, &s->per_sm);
  while (s->slices > 1 && s->slices * M * s->dp * s->dp > (1 << 23)) s->slices--; /* partials up to 64 MB */
  pl->variant = arena_printf(&L->p->arena, "mma-%s-scatter-%dw%s", c->products == 3 ? "3xtf32" : "tf32", c->warps,
                             c->async ? "-async" : "");
  Work w = scatter_work(L, sf, s->groups, s->slices, s->dp, 0, 8);
  double Md = (double)M, three = c->products == 3;
  /* per event and component: one MMA of 16 x 8 x 8 per 8 events and tile
   * per product; on the FP32 lanes, per group of 8 events and lane, the
   * B values (a load, a subtraction, a split: 2 ct of each) and per row
   * tile the A fragment (4 loads, subtractions, products, splits) */
  w.tc_fmas_per_event = Md * c->products * s->tiles * 1024.0 / 8.0;
  w.fmas_per_event = Md * 32.0 * (2.0 * s->ct * (three ? 4 : 2) + 4.0 * s->rt * (three ? 5 : 3)) / 8.0;
  w.shared_per_event += Md * 32.0 * 4.0 * (2.0 * s->ct + 4.0 * s->rt + 2.0) / 8.0;
  pl->work = w;
  return 1;
}

/* cell x (0..3) of tile (ri, j) of a lane in the block's partial:
 * [slice, m, 16 ri + g + 8 (x / 2), 8 j + 2 t + x % 2] */
static LExpr **cell_index(Program *p, Kernel *k, int vm, int g, int t, int ri, int j, int x) {
  LExpr **pi = idx_vec(p, 4);
  pi[0] = lx_sreg(p, SR_CTAID_Z);
  pi[1] = V(vm);
  pi[2] = BIN(LB_ADD, V(g), I(16 * ri + 8 * (x / 2)));
  pi[3] = BIN(LB_ADD, BIN(LB_MUL, V(t), I(2)), I(8 * j + x % 2));
  return pi;
}

static void build_scatter_mma(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                              Built *out) {
  Program *p = L->p;
  Hoisted *h = site->h;
  const ScatterForm *sf = form;
  const ScatterMmaConfig c = *(const ScatterMmaConfig *)config;
  const ScatterMmaShape *sp = (const ScatterMmaShape *)pl->shape;
  int64_t D = sf->D, M = sf->M, dp = sp->dp, row = sp->row, cg = c.warps, groups = sp->groups, slices = sp->slices;
  int RT = sp->rt, CT = sp->ct, three = c.products == 3;
  int64_t pdims[4] = {slices, M, dp, dp};
  int pbuf = program_add_buffer(p, arena_printf(&p->arena, "%s_mma_partial", p->bufs[h->stat_buf]->name), BK_PARTIAL,
                                LT_F64, 4, pdims, 0);
  Kernel *k =
      program_add_kernel(p, arena_printf(&p->arena, "%s_%s_scattermma%s_%dw%s", L->s->model, p->bufs[h->stat_buf]->name,
                                         three ? "3xtf32" : "tf32", c.warps, c.async ? "_async" : ""));
  k->what = arena_printf(&p->arena,
                         "%s [%s: a warp per component, S = (w (x - mu))^T (x - mu) on TF32 tensor cores (m16n8k8, "
                         "events as k), %s, %d tiles of 16 x 8 (upper triangle), %d events staged, %lld slices]",
                         stmt_text(L, site->st), pl->variant,
                         three ? "3 products of split operands (float32 accuracy)" : "one product (TF32 accuracy)",
                         sp->tiles, KC, (long long)slices);
  scatter_grid(p, k, groups, slices, sp->threads, sp->per_sm);
  LStmt *body = k->body;
  WarpLanes wl;
  warp_lanes(p, k, body, &wl);
  int tid = wl.tid, warp = wl.warp, g = wl.g, t = wl.t;
  int vm = kernel_var(p, k, "m", LT_I64), vn = kernel_var(p, k, "n", LT_I64), vd = kernel_var(p, k, "d", LT_I64),
      flat = kernel_var(p, k, "flat", LT_I64), act = kernel_var(p, k, "active", LT_I64);
  ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(cg)), V(warp))));
  ls_append(p, body, ls_assign(p, act, BIN(LB_LT, V(vm), I(M)))); /* the same in every lane of a warp */
  /* the lane's mu_d, d = 8 q + g, zero past D (and for an idle warp) */
  int mu[16];
  for (int q = 0; q < CT; q++) {
    mu[q] = kernel_var(p, k, arena_printf(&p->arena, "mu%d", q), LT_F32);
    ls_append(p, body, ls_assign(p, mu[q], lx_const(p, LT_F32, 0)));
    LExpr *col = BIN(LB_ADD, V(g), I(8 * q));
    LStmt *in = ls_when(p, body, BIN(LB_AND, V(act), BIN(LB_LT, col, I(D))));
    LExpr **mi = idx_vec(p, 2);
    mi[0] = V(vm);
    mi[1] = col;
    ls_append(p, in, ls_assign(p, mu[q], lx_cast(p, LT_F32, lx_load(p, p->tensor_buf[sf->mu->id], mi))));
  }
  /* the accumulators: acc[tile * 4 + x], tiles in (ri, j >= 2 ri) order */
  int acc[128], tri[64], tj[64], nt = 0;
  for (int ri = 0; ri < RT; ri++)
    for (int j = 2 * ri; j < CT; j++) tri[nt] = ri, tj[nt++] = j;
  for (int r = 0; r < nt * 4; r++)
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "s%d_%d_%d", tri[r / 4], tj[r / 4], r % 4), LT_F32);
  int first, last;
  event_slice_bounds(p, k, body, slices, KC, &first, &last);
  /* the data chunks (coalesced along d) and the weights of the block's
   * components, zero outside the slice and past D: the A values of an
   * event past the slice are 0 whatever its (zero) data */
  ScatterStaging sg = {.sf = sf,
                       .kc = KC,
                       .dp = dp,
                       .row = row,
                       .cg = cg,
                       .async = c.async,
                       .threads = sp->threads,
                       .tid = tid,
                       .flat = flat,
                       .vn = vn,
                       .vd = vd,
                       .last = last};
  scatter_staging_begin(L, k, body, &sg, LT_F32, first);
  /* groups of FLUSH_CHUNKS chunks, each ending in one flush */
  LStmt *group;
  int grp, base;
  LStmt *chunk = scatter_chunks(L, k, body, first, last, KC, FLUSH_CHUNKS, acc, nt * 4, LT_F32, &group, &grp, &base);
  scatter_stage_chunk(L, k, chunk, &sg, first, base);
  int xs = sg.xs, ws = sg.ws;
  LStmt *active = ls_when(p, chunk, V(act));
  int kb;
  LStmt *blk = emit_loop(L, k, active, "events8", I(0), I(KC / 8), &kb);
  /* events t and t + 4 of this group of 8: rows e0, e1 of the chunk */
  int e0 = kernel_var(p, k, "row_t", LT_I64), e1 = kernel_var(p, k, "row_t4", LT_I64);
  ls_append(p, blk, ls_assign(p, e0, BIN(LB_ADD, BIN(LB_MUL, V(kb), I(8)), V(t))));
  ls_append(p, blk, ls_assign(p, e1, BIN(LB_ADD, V(e0), I(4))));
  int w0 = kernel_var(p, k, "w_t", LT_F32), w1 = kernel_var(p, k, "w_t4", LT_F32);
  LExpr *wrow = V(sg.woff);
  ls_append(p, blk,
            ls_assign(p, w0, lx_sload(p, k, ws, BIN(LB_ADD, wrow, BIN(LB_ADD, BIN(LB_MUL, V(e0), I(cg)), V(warp))))));
  ls_append(p, blk,
            ls_assign(p, w1, lx_sload(p, k, ws, BIN(LB_ADD, wrow, BIN(LB_ADD, BIN(LB_MUL, V(e1), I(cg)), V(warp))))));
  /* x_d - mu_d of the two events, d = 8 q + g (in the chunk's half) */
#define CENTERED(ev, q)                                                                                                \
  BIN(LB_SUB,                                                                                                          \
      lx_sload(p, k, xs,                                                                                               \
               BIN(LB_ADD, V(sg.xoff), BIN(LB_ADD, BIN(LB_MUL, V(ev), I(row)), BIN(LB_ADD, V(g), I(8 * (q)))))),       \
      V(mu[q]))
  /* the B values, big and small, of every column tile */
  int bb[2][16], bs[2][16];
  for (int q = 0; q < CT; q++)
    for (int e = 0; e < 2; e++) {
      bb[e][q] = kernel_var(p, k, arena_printf(&p->arena, "b%d_%d", e, q), LT_F32);
      bs[e][q] = three ? kernel_var(p, k, arena_printf(&p->arena, "bs%d_%d", e, q), LT_F32) : -1;
      tf32_split(p, k, blk, CENTERED(e ? e1 : e0, q), bb[e][q], bs[e][q]);
    }
  /* per row tile its A fragment: rows g, g + 8 (q = 2 ri, 2 ri + 1) of
   * events t (a0, a1) and t + 4 (a2, a3), weighted */
  int ab[4], as[4];
  for (int x = 0; x < 4; x++) {
    ab[x] = kernel_var(p, k, arena_printf(&p->arena, "a%d", x), LT_F32);
    as[x] = three ? kernel_var(p, k, arena_printf(&p->arena, "as%d", x), LT_F32) : -1;
  }
  for (int ri = 0, tile = 0; ri < RT; ri++) {
    for (int x = 0; x < 4; x++) {
      int q = 2 * ri + x % 2, ev = x < 2 ? e0 : e1;
      tf32_split(p, k, blk, BIN(LB_MUL, CENTERED(ev, q), V(x < 2 ? w0 : w1)), ab[x], as[x]);
    }
    for (int j = 2 * ri; j < CT; j++, tile++) {
      int bbig[2] = {bb[0][j], bb[1][j]}, bsmall[2] = {bs[0][j], bs[1][j]};
      mma_split_products(p, k, blk, &acc[tile * 4], ab, three ? as : NULL, bbig, three ? bsmall : NULL);
    }
  }
#undef CENTERED
  /* into the block's float64 partial: the first group stores, the others add */
  LStmt *flush = ls_when(p, group, V(act));
  for (int r = 0; r < nt * 4; r++) {
    int ri = tri[r / 4], j = tj[r / 4], x = r % 4;
    LExpr *prev = lx_select(p, BIN(LB_EQ, V(grp), I(0)), lx_const(p, LT_F64, 0),
                            lx_load(p, pbuf, cell_index(p, k, vm, g, t, ri, j, x)));
    ls_append(
        p, flush,
        ls_store(p, pbuf, cell_index(p, k, vm, g, t, ri, j, x), BIN(LB_ADD, prev, lx_cast(p, LT_F64, V(acc[r])))));
  }
  *out = (Built){.partial_buf = pbuf, .slices = (int)slices, .combine_tag = "scattermma"};
}

static const ScatterMmaConfig scatter_mma_configs[] = {{2, 3, 0}, {4, 3, 0}, {8, 3, 0}, {2, 1, 0}, {4, 1, 0},
                                                       {8, 1, 0}, {4, 3, 1}, {8, 3, 1}, {4, 1, 1}, {8, 1, 1}};

const VariantFamily family_scatter_mma = {.name = "mma-scatter",
                                          .site = SITE_REDUCTION,
                                          .fast32 = 1,
                                          .match = match_scatter_mma,
                                          .configs = scatter_mma_configs,
                                          .nconfigs = sizeof scatter_mma_configs / sizeof *scatter_mma_configs,
                                          .config_size = sizeof *scatter_mma_configs,
                                          .plan = plan_scatter_mma,
                                          .build = build_scatter_mma};
