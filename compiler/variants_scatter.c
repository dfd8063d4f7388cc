/* GPU variant of the weighted scatter, the costliest M-step statistic:
 *
 *   S[m, d, e] = sum(n, w[n, m] * (X[n, d] - mu[m, d]) * (X[n, e] - mu[m, e]))
 *
 * symmetric in (d, e) (full and tied covariances). A block takes a group of
 * CG components and a slice of events. Per chunk of KC events it stages the
 * data tile once for the whole group, then per component c of the group the
 * centered tile x - mu and its weighted copy w (x - mu). The output matrix is
 * cut into 16 x 16 blocks, of which only the upper triangle is computed;
 * sixteen lanes own one block with a 4 x 4 register tile each. Products in the
 * data's type, float64 flushes every four chunks, per-slice partials then the
 * usual combine. */
#include <string.h>

#include "kernel_build.h"
#include "scatter.h"

/* X[n, i] - P[m, i] with X the data: the data and the parameter. */
static int centered(Expr *f, int nid, int mid, int iid, Tensor **x, Tensor **mu) {
  return f->kind == E_BINARY && centered_data(f, nid, mid, iid, x, mu);
}

/* Tile `blk` of the upper triangle of nb x nb tiles, numbered row by row:
 * its row bi and column bj (bi <= bj). Selects, not branches, so that the
 * compiler still sees the tile offsets' alignment. */
int64_t scatter_one_wave(Lower *L, int64_t smem, int threads, int64_t groups, int *per_sm) {
  /* resident blocks per multiprocessor: by shared memory, and by registers
   * at 128 a thread */
  const TargetDesc *t = &L->dev;
  int b = (int)((t->smem_per_sm - t->smem_reserved_per_block) / (smem + t->smem_reserved_per_block));
  if (b > t->regs_per_sm / (threads * 128)) b = t->regs_per_sm / (threads * 128);
  *per_sm = b < 1 ? 1 : b;
  int64_t g = (int64_t)t->sm_count * *per_sm / groups;
  return g < 1 ? 1 : g;
}

void scatter_grid(Program *p, Kernel *k, int64_t groups, int64_t slices, int threads, int per_sm) {
  kernel_launch_grid(p, k, groups, 1, slices, threads);
  k->min_blocks = per_sm;
}

void upper_tile_coords(Program *p, Kernel *k, LStmt *body, int blk, int64_t nb, int bi, int bj) {
  LExpr *row = I(0), *start = I(0);
  for (int64_t r = 1, at = nb; r < nb; at += nb - r, r++) {
    LExpr *past = BIN(LB_GE, V(blk), I(at));
    row = lx_select(p, past, I(r), row);
    start = lx_select(p, past, I(at), start);
  }
  ls_append(p, body, ls_assign(p, bi, row));
  ls_append(p, body, ls_assign(p, bj, BIN(LB_ADD, V(bi), BIN(LB_SUB, V(blk), start))));
}

int scatter_form(Lower *L, Hoisted *h, ScatterForm *sf) {
  if (h->red->op != R_SUM || h->nfree != 3 || !h->symmetric) return 0;
  int mid = h->free[0], did = h->free[1], eid = h->free[2], nid = h->red->red.id;
  Expr *f[8];
  int nf = 0;
  expr_product_factors(h->red->args[0], f, &nf, 8);
  if (nf != 3) return 0;
  Tensor *x = NULL, *mu = NULL, *x2, *mu2, *wt = NULL;
  int have_d = 0, have_e = 0;
  for (int i = 0; i < nf; i++) {
    if (!have_d && centered(f[i], nid, mid, did, &x2, &mu2)) {
      if (x && (x != x2 || mu != mu2)) return 0;
      x = x2, mu = mu2, have_d = 1;
    } else if (!have_e && centered(f[i], nid, mid, eid, &x2, &mu2)) {
      if (x && (x != x2 || mu != mu2)) return 0;
      x = x2, mu = mu2, have_e = 1;
    } else if (f[i]->kind == E_ACCESS && f[i]->tensor && f[i]->nidx == 2 && f[i]->idx[0].id == nid &&
               f[i]->idx[1].id == mid && !expr_uses_index(f[i], did) && !expr_uses_index(f[i], eid)) {
      wt = f[i]->tensor;
    } else {
      return 0;
    }
  }
  if (!have_d || !have_e || !wt) return 0;
  int64_t D = index_extent(L, did);
  if (index_extent(L, eid) != D || D > 64) return 0;
  *sf = (ScatterForm){.x = x, .mu = mu, .w = wt, .D = D, .M = index_extent(L, mid)};
  return 1;
}

LStmt *scatter_chunks(Lower *L, Kernel *k, LStmt *body, int first, int last, int64_t kc, int per_group, const int *acc,
                      int nacc, LType T, LStmt **group, int *grp, int *base) {
  Program *p = L->p;
  int nch = kernel_var(p, k, "nchunks", LT_I64), c;
  ls_append(p, body, ls_assign(p, nch, BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, V(last), V(first)), I(kc - 1)), I(kc))));
  LExpr *ngroups = BIN(LB_MAX, I(1), BIN(LB_DIV, BIN(LB_ADD, V(nch), I(per_group - 1)), I(per_group)));
  *group = emit_loop(L, k, body, "flush_group", I(0), ngroups, grp);
  for (int r = 0; r < nacc; r++) ls_append(p, *group, ls_assign(p, acc[r], lx_const(p, T, 0)));
  LExpr *c0 = BIN(LB_MUL, V(*grp), I(per_group));
  LStmt *chunk = emit_loop(L, k, *group, "chunk", c0, BIN(LB_MIN, V(nch), BIN(LB_ADD, c0, I(per_group))), &c);
  *base = kernel_var(p, k, "base", LT_I64);
  ls_append(p, chunk, ls_assign(p, *base, BIN(LB_ADD, V(first), BIN(LB_MUL, V(c), I(kc)))));
  ls_append(p, chunk, ls_sync(p));
  return chunk;
}

int match_scatter(Lower *L, const Site *site, void *form) { return scatter_form(L, site->h, form); }

Work scatter_work(Lower *L, const ScatterForm *sf, int64_t groups, int64_t slices, int64_t pd, double cells, int tile) {
  double esz = event_term_type(L) == LT_F64 ? 8 : 4, M = (double)sf->M;
  /* per event: the data once per group of components, the weights once; a
   * lane reads 2 tile values per tile x tile multiply-adds */
  double staged = ((double)groups * (double)sf->D + M) * esz;
  double partials = (double)slices * M * (double)(pd * pd) * 8;
  double fmas = M * cells;
  return (Work){.bytes_per_event = staged,
                .bytes = 2 * partials + M * (double)(sf->D * sf->D) * 8,
                .shared_per_event = staged + fmas * 2.0 / tile * esz,
                .fmas_per_event = fmas,
                .launches = 2};
}

typedef struct {
  int cg, threads, per_sm;
  int64_t dp, nb, blocks, groups, slices;
} ScatterShape;
_Static_assert(sizeof(ScatterShape) <= VARIANT_SHAPE_BYTES, "ScatterShape must fit Plan.shape");

static int plan_scatter(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site, (void)config;
  const ScatterForm *sf = form;
  ScatterShape *s = (ScatterShape *)pl->shape;
  int64_t D = sf->D, M = sf->M;
  int esz = event_term_type(L) == LT_F64 ? 8 : 4;
  s->dp = ceil_div(D, 16) * 16, s->nb = s->dp / 16, s->blocks = s->nb * (s->nb + 1) / 2;
  int64_t dp = s->dp;
  int lanes_per = (int)(16 * s->blocks), kc = 32;
  int cg = 256 / lanes_per;
  if (cg < 1) cg = 1;
  if (cg > 8) cg = 8;
  while (cg > 1 &&
         (int64_t)esz * (kc * dp + kc * cg + cg * dp + 2 * (int64_t)cg * kc * dp) > L->dev.smem_static_per_block)
    cg--;
  int64_t smem = (int64_t)esz * (kc * dp + kc * cg + cg * dp + 2 * (int64_t)cg * kc * dp);
  s->cg = cg, s->threads = (cg * lanes_per + 31) / 32 * 32;
  if (smem > L->dev.smem_static_per_block || s->threads > L->dev.max_threads_per_block) return 0;
  s->groups = ceil_div(M, cg);
  s->slices = scatter_one_wave(L, smem, s->threads, s->groups, &s->per_sm);
  while (s->slices > 1 && s->slices * M * D * D > (1 << 22)) s->slices--;
  pl->variant = "scatter";
  pl->work = scatter_work(L, sf, s->groups, s->slices, D, (double)s->blocks * 256, 4);
  return 1;
}

static void build_scatter(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                          Built *made) {
  (void)config;
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const ScatterForm *sf = form;
  const ScatterShape *sp = (const ScatterShape *)pl->shape;
  Tensor *x = sf->x, *mu = sf->mu, *wt = sf->w;
  int64_t D = sf->D, M = sf->M, dp = sp->dp, nb = sp->nb, blocks = sp->blocks, groups = sp->groups, g = sp->slices;
  LType T = L->rt; /* the data's type, or float64 under float64-stats */
  int kc = 32, cg = sp->cg, threads = sp->threads, per_sm = sp->per_sm, lanes_per = (int)(16 * blocks);
  int64_t pdims[4] = {g, M, D, D};
  int pbuf = program_add_buffer(p, arena_printf(&p->arena, "%s_scatter_partial", p->bufs[h->stat_buf]->name),
                                BK_PARTIAL, LT_F64, 4, pdims, 0);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_scatter", L->s->model, p->bufs[h->stat_buf]->name));
  k->what = arena_printf(&p->arena,
                         "%s [scatter: %d components per block, %lld of %lld 16x16 blocks (upper triangle), %d events "
                         "staged, %lld slices]",
                         stmt_text(L, st), cg, (long long)blocks, (long long)(nb * nb), kc, (long long)g);
  scatter_grid(p, k, groups, g, threads, per_sm);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", T, kc * dp), ws = kernel_shared(p, k, "w", T, kc * cg),
      ms = kernel_shared(p, k, "mu", T, cg * dp), cs = kernel_shared(p, k, "centered", T, cg * kc * dp),
      rs = kernel_shared(p, k, "weighted", T, cg * kc * dp);
  int tid = kernel_var(p, k, "tid", LT_I64), comp = kernel_var(p, k, "c", LT_I64),
      lane = kernel_var(p, k, "lane", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, comp, BIN(LB_DIV, V(tid), I(lanes_per))));
  ls_append(p, body, ls_assign(p, lane, BIN(LB_REM, V(tid), I(lanes_per))));
  /* the lane's 16x16 block (bi <= bj) and its 4x4 tile in it: blocks are
   * numbered row by row over the upper triangle; selects, not branches, so
   * that the compiler still sees the tile offsets' alignment */
  int blk = kernel_var(p, k, "block", LT_I64), bi = kernel_var(p, k, "bi", LT_I64), bj = kernel_var(p, k, "bj", LT_I64);
  ls_append(p, body, ls_assign(p, blk, BIN(LB_DIV, V(lane), I(16))));
  upper_tile_coords(p, k, body, blk, nb, bi, bj);
  int i0 = kernel_var(p, k, "i0", LT_I64), j0 = kernel_var(p, k, "j0", LT_I64);
  ls_append(p, body,
            ls_assign(p, i0,
                      BIN(LB_ADD, BIN(LB_MUL, V(bi), I(16)),
                          BIN(LB_MUL, BIN(LB_DIV, BIN(LB_REM, V(lane), I(16)), I(4)), I(4)))));
  ls_append(p, body,
            ls_assign(p, j0, BIN(LB_ADD, BIN(LB_MUL, V(bj), I(16)), BIN(LB_MUL, BIN(LB_REM, V(lane), I(4)), I(4)))));
  int m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(cg))));
  /* mu of the group, once */
  int s, flat = kernel_var(p, k, "flat", LT_I64), vm = kernel_var(p, k, "m", LT_I64),
         vd = kernel_var(p, k, "d", LT_I64), vn = kernel_var(p, k, "n", LT_I64);
  LStmt *inm = emit_strided(L, k, body, "stage_mu", cg * dp, threads, tid, flat);
  ls_append(p, inm, ls_assign(p, vm, BIN(LB_ADD, V(m0), BIN(LB_DIV, V(flat), I(dp)))));
  ls_append(p, inm, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
  {
    LExpr **mi = idx_vec(p, 2);
    mi[0] = V(vm);
    mi[1] = V(vd);
    stage_or_zero(p, k, inm, BIN(LB_AND, BIN(LB_LT, V(vm), I(M)), BIN(LB_LT, V(vd), I(D))), ms, V(flat),
                  lx_cast(p, T, lx_load(p, p->tensor_buf[mu->id], mi)));
  }
  /* the slice of events */
  int first, last;
  event_slice_bounds(p, k, body, g, kc, &first, &last);
  int acc[16], acc64[16];
  for (int r = 0; r < 16; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%d", r / 4, r % 4), T);
    acc64[r] = kernel_var(p, k, arena_printf(&p->arena, "sum%d_%d", r / 4, r % 4), LT_F64);
    ls_append(p, body, ls_assign(p, acc[r], lx_const(p, T, 0)));
    ls_append(p, body, ls_assign(p, acc64[r], lx_const(p, LT_F64, 0)));
  }
  int c, base;
  LStmt *chunk = emit_event_chunks(L, k, body, first, last, kc, &c, &base);
  /* the data chunk (coalesced along d) and the weights of the group */
  LStmt *inx = emit_strided(L, k, chunk, "stage_x", kc * dp, threads, tid, flat);
  ls_append(p, inx, ls_assign(p, vn, BIN(LB_ADD, V(base), BIN(LB_DIV, V(flat), I(dp)))));
  ls_append(p, inx, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
  {
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    stage_or_zero(p, k, inx, BIN(LB_AND, BIN(LB_LT, V(vn), V(last)), BIN(LB_LT, V(vd), I(D))), xs, V(flat),
                  lx_cast(p, T, lx_load(p, p->tensor_buf[x->id], xi)));
  }
  LStmt *inw = emit_strided(L, k, chunk, "stage_w", kc * cg, threads, tid, flat);
  ls_append(p, inw, ls_assign(p, vn, BIN(LB_ADD, V(base), BIN(LB_DIV, V(flat), I(cg)))));
  ls_append(p, inw, ls_assign(p, vm, BIN(LB_ADD, V(m0), BIN(LB_REM, V(flat), I(cg)))));
  {
    LExpr **wi = idx_vec(p, 2);
    wi[0] = V(vn);
    wi[1] = V(vm);
    stage_or_zero(p, k, inw, BIN(LB_AND, BIN(LB_LT, V(vn), V(last)), BIN(LB_LT, V(vm), I(M))), ws, V(flat),
                  lx_cast(p, T, lx_load(p, p->tensor_buf[wt->id], wi)));
  }
  ls_append(p, chunk, ls_sync(p));
  /* centered and weighted tiles of every component of the group, four
   * consecutive d at a time (vector loads and stores; dp is a multiple of 16) */
  LStmt *lc = emit_loop(L, k, chunk, "center", I(0), I((cg * kc * dp / 4 + threads - 1) / threads), &s);
  ls_append(p, lc, ls_assign(p, flat, BIN(LB_MUL, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(threads))), I(4))));
  LStmt *inc = ls_when(p, lc, BIN(LB_LT, V(flat), I(cg * kc * dp)));
  {
    int cc = kernel_var(p, k, "cc", LT_I64), kk = kernel_var(p, k, "kk", LT_I64), wv = kernel_var(p, k, "weight", T);
    ls_append(p, inc, ls_assign(p, cc, BIN(LB_DIV, V(flat), I(kc * dp))));
    ls_append(p, inc, ls_assign(p, kk, BIN(LB_DIV, BIN(LB_REM, V(flat), I(kc * dp)), I(dp))));
    ls_append(p, inc, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, inc, ls_assign(p, wv, lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, V(kk), I(cg)), V(cc)))));
    for (int u = 0; u < 4; u++) {
      int v = kernel_var(p, k, arena_printf(&p->arena, "dx%d", u), T);
      /* padded events carry weight 0, padded columns x = mu = 0 */
      ls_append(
          p, inc,
          ls_assign(p, v,
                    BIN(LB_SUB, lx_sload(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(kk), I(dp)), BIN(LB_ADD, V(vd), I(u)))),
                        lx_sload(p, k, ms, BIN(LB_ADD, BIN(LB_MUL, V(cc), I(dp)), BIN(LB_ADD, V(vd), I(u)))))));
      ls_append(p, inc, ls_sstore(p, k, cs, BIN(LB_ADD, V(flat), I(u)), V(v)));
      ls_append(p, inc, ls_sstore(p, k, rs, BIN(LB_ADD, V(flat), I(u)), BIN(LB_MUL, V(v), V(wv))));
    }
  }
  ls_append(p, chunk, ls_sync(p));
  /* the register tile: rows i0.. of the weighted tile times columns j0.. */
  LStmt *active = ls_when(p, chunk, BIN(LB_LT, V(comp), I(cg)));
  /* four events per trip: fewer branches, loads scheduled ahead */
  int k4;
  LStmt *inner = emit_loop(L, k, active, "kk", I(0), I(kc / 4), &k4);
  int av[4], bv[4];
  for (int u = 0; u < 4; u++) {
    LExpr *rowbase =
        BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, V(comp), I(kc)), BIN(LB_ADD, BIN(LB_MUL, V(k4), I(4)), I(u))), I(dp));
    for (int r = 0; r < 4; r++) {
      av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
      ls_append(p, inner, ls_assign(p, av[r], lx_sload(p, k, rs, BIN(LB_ADD, rowbase, BIN(LB_ADD, V(i0), I(r))))));
    }
    for (int r = 0; r < 4; r++) {
      bv[r] = kernel_var(p, k, arena_printf(&p->arena, "b%d", r), T);
      ls_append(p, inner, ls_assign(p, bv[r], lx_sload(p, k, cs, BIN(LB_ADD, rowbase, BIN(LB_ADD, V(j0), I(r))))));
    }
    for (int r = 0; r < 16; r++)
      ls_append(p, inner, ls_assign(p, acc[r], BIN(LB_ADD, V(acc[r]), BIN(LB_MUL, V(av[r / 4]), V(bv[r % 4])))));
  }
  LStmt *flush = ls_when(p, active, BIN(LB_EQ, BIN(LB_REM, V(c), I(4)), I(3)));
  for (int r = 0; r < 16; r++) {
    ls_append(p, flush, ls_assign(p, acc64[r], BIN(LB_ADD, V(acc64[r]), lx_cast(p, LT_F64, V(acc[r])))));
    ls_append(p, flush, ls_assign(p, acc[r], lx_const(p, T, 0)));
  }
  /* partial[slice, m, i, j] for the tile's upper part */
  ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(comp))));
  LStmt *out = ls_when(p, body, BIN(LB_AND, BIN(LB_LT, V(comp), I(cg)), BIN(LB_LT, V(vm), I(M))));
  for (int r = 0; r < 16; r++) {
    LExpr *i = BIN(LB_ADD, V(i0), I(r / 4)), *j = BIN(LB_ADD, V(j0), I(r % 4));
    LStmt *w = ls_when(p, out, BIN(LB_AND, BIN(LB_LE, i, j), BIN(LB_LT, j, I(D))));
    LExpr **pi = idx_vec(p, 4);
    pi[0] = lx_sreg(p, SR_CTAID_Z);
    pi[1] = V(vm);
    pi[2] = i;
    pi[3] = j;
    ls_append(p, w, ls_store(p, pbuf, pi, BIN(LB_ADD, V(acc64[r]), lx_cast(p, LT_F64, V(acc[r])))));
  }
  *made = (Built){.partial_buf = pbuf, .slices = (int)g, .combine_tag = "scatter"};
}

const VariantFamily family_scatter = {.name = "scatter",
                                      .site = SITE_REDUCTION,
                                      .fast32 = 1,
                                      .stats64 = 1,
                                      .match = match_scatter,
                                      .plan = plan_scatter,
                                      .build = build_scatter};
