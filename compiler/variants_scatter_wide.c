/* The wide form of the weighted scatter: a lane owns an 8 x 8 tile of the
 * upper triangle of S[m] and forms w (x_i - mu_i) and x_j - mu_j in
 * registers from one staged data chunk shared by every component of the
 * block.
 *
 * Why: with 4 x 4 tiles read from per-component centered copies, a lane
 * reads 8 shared values per 16 multiply-adds and the copies cost as much
 * shared traffic again; a multiprocessor delivers 32 shared values per clock
 * against 128 multiply-adds. Here a lane reads 16 values (plus one weight)
 * per 64 multiply-adds, and the centering is 24 register operations.
 *
 * Layout: a block takes cg components (tiles = nb (nb + 1) / 2 lanes each)
 * and one slice of events, sized so that the grid is one wave. Data rows are
 * skewed by 4 floats per 32 columns so that tiles 32 columns apart do not
 * meet in a shared-memory bank. Products are accumulated in the data's type
 * and added every 128 or 256 events (the configuration) into the block's
 * own float64 partial, then the usual combine. */
#include "kernel_build.h"
#include "scatter.h"

enum { TILE = 8, KC = 32 };

typedef struct {
  int async; /* chunks double-buffered by asynchronous copies (scatter_staging.c) */
  int flush; /* chunks between the flushes of the float32 sums into the float64 partial: 4 or 8 (128 or 256 events) */
} WideConfig;

/* cell r of the lane's tile in the block's partial: [slice, m, i0 + r / 8, j0 + r % 8] */
static LExpr **cell_index(Program *p, Kernel *k, int i0, int j0, int vm, int r) {
  LExpr **pi = idx_vec(p, 4);
  pi[0] = lx_sreg(p, SR_CTAID_Z);
  pi[1] = V(vm);
  pi[2] = BIN(LB_ADD, V(i0), I(r / TILE));
  pi[3] = BIN(LB_ADD, V(j0), I(r % TILE));
  return pi;
}

typedef struct {
  int threads, per_sm, async, flush;
  int64_t dp, nb, tiles, row, cg, groups, slices;
} WideShape;
_Static_assert(sizeof(WideShape) <= VARIANT_SHAPE_BYTES, "WideShape must fit Plan.shape");

static int plan_scatter_wide(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const ScatterForm *sf = form;
  const WideConfig *c = config;
  WideShape *s = (WideShape *)pl->shape;
  int64_t D = sf->D, M = sf->M;
  int esz = event_term_type(L) == LT_F64 ? 8 : 4;
  s->dp = ceil_div(D, TILE) * TILE, s->nb = s->dp / TILE, s->tiles = s->nb * (s->nb + 1) / 2;
  s->row = s->dp + (s->dp - 1) / 32 * 4; /* skewed row length, a multiple of 4 */
  if (s->tiles > 256 || D < 8) return 0;
  s->cg = 256 / s->tiles;
  if (s->cg > M) s->cg = M;
  s->threads = (int)((s->cg * s->tiles + 31) / 32 * 32);
  s->async = c->async, s->flush = c->flush;
  if (c->async && !scatter_copy_async_ok(L, sf, event_term_type(L))) return 0;
  int64_t smem = (int64_t)esz * (KC * s->row + KC * s->cg) * (c->async ? 2 : 1);
  if (smem > L->dev.smem_static_per_block) return 0;
  s->groups = ceil_div(M, s->cg);
  /* (registers capped at 128, a few spills: two blocks per multiprocessor
   * ran 1.2-1.3x faster on an H200 than one block with 190-206 registers) */
  s->slices = scatter_one_wave(L, smem, s->threads, s->groups, &s->per_sm);
  while (s->slices > 1 && s->slices * M * s->dp * s->dp > (1 << 23)) s->slices--; /* partials up to 64 MB */
  pl->variant = arena_printf(&L->p->arena, "scatter-wide%s%s", c->async ? "-async" : "", c->flush == 8 ? "-f256" : "");
  pl->work = scatter_work(L, sf, s->groups, s->slices, s->dp, (double)s->tiles * TILE * TILE, TILE);
  return 1;
}

static void build_scatter_wide(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                               Built *out) {
  (void)config;
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const ScatterForm *sf = form;
  const WideShape *sp = (const WideShape *)pl->shape;
  int64_t D = sf->D, M = sf->M, dp = sp->dp, nb = sp->nb, tiles = sp->tiles, row = sp->row, cg = sp->cg,
          groups = sp->groups, g = sp->slices;
  LType T = L->rt; /* the data's type, or float64 under float64-stats */
  int threads = sp->threads, per_sm = sp->per_sm;
  /* padded to whole tiles: every cell of a tile is written, no guards to
   * keep in registers; the combine reads the upper triangle inside D */
  int64_t pdims[4] = {g, M, dp, dp};
  int pbuf = program_add_buffer(p, arena_printf(&p->arena, "%s_wide_partial", p->bufs[h->stat_buf]->name), BK_PARTIAL,
                                LT_F64, 4, pdims, 0);
  Kernel *k =
      program_add_kernel(p, arena_printf(&p->arena, "%s_%s_scatterwide%s%s", L->s->model, p->bufs[h->stat_buf]->name,
                                         sp->async ? "_async" : "", sp->flush == 8 ? "_f256" : ""));
  k->what = arena_printf(&p->arena,
                         "%s [scatter-wide: %lld components per block, %lld 8x8 tiles (upper triangle), x - mu in "
                         "registers, %d events staged%s, %lld slices]",
                         stmt_text(L, st), (long long)cg, (long long)tiles, KC,
                         sp->async ? " (double-buffered, asynchronous copies)" : "", (long long)g);
  scatter_grid(p, k, groups, g, threads, per_sm);
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), comp = kernel_var(p, k, "c", LT_I64),
      blk = kernel_var(p, k, "tile", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, comp, BIN(LB_DIV, V(tid), I(tiles))));
  ls_append(p, body, ls_assign(p, blk, BIN(LB_REM, V(tid), I(tiles))));
  int bi = kernel_var(p, k, "bi", LT_I64), bj = kernel_var(p, k, "bj", LT_I64);
  upper_tile_coords(p, k, body, blk, nb, bi, bj);
  int i0 = kernel_var(p, k, "i0", LT_I64), j0 = kernel_var(p, k, "j0", LT_I64);
  ls_append(p, body, ls_assign(p, i0, BIN(LB_MUL, V(bi), I(TILE))));
  ls_append(p, body, ls_assign(p, j0, BIN(LB_MUL, V(bj), I(TILE))));
  int si = kernel_var(p, k, "si", LT_I64), sj = kernel_var(p, k, "sj", LT_I64);
  ls_append(p, body, ls_assign(p, si, scatter_skewed(p, V(i0))));
  ls_append(p, body, ls_assign(p, sj, scatter_skewed(p, V(j0))));
  int vm = kernel_var(p, k, "m", LT_I64), vn = kernel_var(p, k, "n", LT_I64), vd = kernel_var(p, k, "d", LT_I64),
      flat = kernel_var(p, k, "flat", LT_I64), act = kernel_var(p, k, "active", LT_I64);
  ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(cg)), V(comp))));
  ls_append(p, body, ls_assign(p, act, BIN(LB_AND, BIN(LB_LT, V(comp), I(cg)), BIN(LB_LT, V(vm), I(M)))));
  /* the lane's mu_i and mu_j, zero past D */
  int mui[TILE], muj[TILE];
  for (int r = 0; r < 2 * TILE; r++) {
    int *dst = r < TILE ? &mui[r] : &muj[r - TILE];
    *dst = kernel_var(p, k, arena_printf(&p->arena, "mu_%c%d", r < TILE ? 'i' : 'j', r % TILE), T);
    ls_append(p, body, ls_assign(p, *dst, lx_const(p, T, 0)));
    LExpr *col = BIN(LB_ADD, V(r < TILE ? i0 : j0), I(r % TILE));
    LStmt *in = ls_when(p, body, BIN(LB_AND, V(act), BIN(LB_LT, col, I(D))));
    LExpr **mi = idx_vec(p, 2);
    mi[0] = V(vm);
    mi[1] = col;
    ls_append(p, in, ls_assign(p, *dst, lx_cast(p, T, lx_load(p, p->tensor_buf[sf->mu->id], mi))));
  }
  int acc[TILE * TILE];
  for (int r = 0; r < TILE * TILE; r++)
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%d", r / TILE, r % TILE), T);
  /* the slice of events */
  int first, last;
  event_slice_bounds(p, k, body, g, KC, &first, &last);
  /* the data chunks (coalesced along d, skewed rows) and the weights of
   * the group's components, zero outside */
  ScatterStaging sg = {.sf = sf,
                       .kc = KC,
                       .dp = dp,
                       .row = row,
                       .cg = cg,
                       .skew = 1,
                       .async = sp->async,
                       .threads = threads,
                       .tid = tid,
                       .flat = flat,
                       .vn = vn,
                       .vd = vd,
                       .last = last};
  scatter_staging_begin(L, k, body, &sg, T, first);
  /* groups of `flush` chunks, each ending in one flush: a single copy
   * of the flush code keeps the kernel small for LLVM (its alias queries
   * grow with the square of the memory operations in a block) */
  LStmt *group;
  int grp, base;
  LStmt *chunk = scatter_chunks(L, k, body, first, last, KC, sp->flush, acc, TILE * TILE, T, &group, &grp, &base);
  scatter_stage_chunk(L, k, chunk, &sg, first, base);
  int xs = sg.xs, ws = sg.ws;
  /* the register tile, four events per trip */
  LStmt *active = ls_when(p, chunk, V(act));
  int k4;
  LStmt *inner = emit_loop(L, k, active, "events", I(0), I(KC / 4), &k4);
  for (int u = 0; u < 4; u++) {
    LExpr *ev = BIN(LB_ADD, BIN(LB_MUL, V(k4), I(4)), I(u));
    int wv = kernel_var(p, k, "weight", T), av[TILE], bv[TILE];
    ls_append(
        p, inner,
        ls_assign(p, wv, lx_sload(p, k, ws, BIN(LB_ADD, V(sg.woff), BIN(LB_ADD, BIN(LB_MUL, ev, I(cg)), V(comp))))));
    LExpr *rowbase = BIN(LB_ADD, V(sg.xoff), BIN(LB_MUL, ev, I(row)));
    for (int r = 0; r < TILE; r++) {
      av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
      LExpr *x = lx_sload(p, k, xs, BIN(LB_ADD, rowbase, BIN(LB_ADD, V(si), I(r))));
      ls_append(p, inner, ls_assign(p, av[r], BIN(LB_MUL, BIN(LB_SUB, x, V(mui[r])), V(wv))));
    }
    for (int r = 0; r < TILE; r++) {
      bv[r] = kernel_var(p, k, arena_printf(&p->arena, "b%d", r), T);
      LExpr *x = lx_sload(p, k, xs, BIN(LB_ADD, rowbase, BIN(LB_ADD, V(sj), I(r))));
      ls_append(p, inner, ls_assign(p, bv[r], BIN(LB_SUB, x, V(muj[r]))));
    }
    for (int r = 0; r < TILE * TILE; r++)
      ls_append(p, inner, ls_assign(p, acc[r], BIN(LB_ADD, V(acc[r]), BIN(LB_MUL, V(av[r / TILE]), V(bv[r % TILE])))));
  }
  /* into the block's float64 partial: the first group stores, the others add
   * (a select, not a branch, to keep one copy of the flush; the first
   * group's load of the not yet written partial is discarded) */
  LStmt *flush = ls_when(p, group, V(act));
  for (int r = 0; r < TILE * TILE; r++) {
    LExpr *prev = lx_select(p, BIN(LB_EQ, V(grp), I(0)), lx_const(p, LT_F64, 0),
                            lx_load(p, pbuf, cell_index(p, k, i0, j0, vm, r)));
    ls_append(p, flush,
              ls_store(p, pbuf, cell_index(p, k, i0, j0, vm, r), BIN(LB_ADD, prev, lx_cast(p, LT_F64, V(acc[r])))));
  }
  *out = (Built){.partial_buf = pbuf, .slices = (int)g, .combine_tag = "scatterwide"};
}

/* synchronous staging, then double-buffered where the target has cp.async;
 * the float32 sums flushed every 128 or 256 events */
static const WideConfig wide_configs[] = {{0, 4}, {1, 4}, {0, 8}, {1, 8}};

const VariantFamily family_scatter_wide = {.name = "scatter-wide",
                                           .site = SITE_REDUCTION,
                                           .fast32 = 1,
                                           .stats64 = 1,
                                           .match = match_scatter,
                                           .configs = wide_configs,
                                           .nconfigs = sizeof wide_configs / sizeof *wide_configs,
                                           .config_size = sizeof *wide_configs,
                                           .plan = plan_scatter_wide,
                                           .build = build_scatter_wide};
