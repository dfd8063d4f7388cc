/* Tensor-core variant of the E-step's quadratic form (estep.h):
 *
 *   Q[n, m] = sum(e, sq(sum(d, (X[n,d] - mu[m,d]) * W[m,d,e])))
 *
 * per component a small GEMM Y = A W (A = x - mu: events x D, W: D x D)
 * on the warps' m16n8k8 TF32 MMA (loopir.h, LS_MMA). Float32 accuracy from
 * TF32 units ("3xTF32"): each float32 operand v is split into a TF32 big
 * part tf32(v) and a TF32 residual tf32(v - big), and Y accumulates
 * small*big + big*small + big*big in float32 (the small*small term, 2^-22
 * of the product, is dropped). Under the precision "tf32", which the user
 * asks for, the variants take one product instead (big*big: 10-bit
 * mantissas).
 *
 * A block takes tn = warps * rt * 16 events and mb components. The data
 * tile is staged once in shared memory in fragment order, x[row tile][k
 * block][lane][4]: a lane's A fragment is one 16-byte load and a warp's 32
 * loads cover 512 consecutive bytes (no bank conflict). Per component, W is
 * staged in fragment order too, w[k block][column tile][lane][2] (one 8-byte
 * load, conflict-free), and mu; the split is done in registers when a
 * fragment is loaded (staging big and small parts would double W's shared
 * memory). Warp w owns rt row tiles of 16 events and every column tile of
 * Y; with W upper triangular the k blocks below a column tile's diagonal
 * are skipped (half the MMAs). Each lane squares its Y elements, the four
 * lanes of a row add theirs with shuffles, and lane 4g evaluates the
 * statement for rows g and g + 8 into the block's tile of T, written
 * coalesced along m at the end. */
#include <string.h>

#include "estep.h"
#include "kernel_build.h"

typedef struct {
  int warps, rt, mb, products; /* products: 3 (3xTF32) or 1 (TF32, only under that precision) */
} MmaConfig;

typedef struct {
  int threads, tn, kb, nt, pairs;
  int64_t dp;
} MmaShape;
_Static_assert(sizeof(MmaShape) <= VARIANT_SHAPE_BYTES, "MmaShape must fit Plan.shape");

/* Float32 data, a quadratic form of centered data with a square W, a GPU
 * with TF32 tensor cores (compute capability 8.0 on: the target description). */
static int match_mma(Lower *L, const Site *site, void *form) {
  if (!tf32_mma_usable(L)) return 0;
  if (!match_estep_centered(L, site, form)) return 0;
  const EstepForm *f = form;
  return f->D == f->E && f->D >= 2;
}

static int plan_mma(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const MmaConfig *c = config;
  MmaShape *s = (MmaShape *)pl->shape;
  /* asked for: the 3xTF32 products under 3xtf32, the one product under
   * tf32 (the faster of the two wherever either runs); neither under
   * float32, where the FFMA variants keep float32's accuracy also for
   * ill-conditioned covariances (docs/limits.md, "Precision") */
  if (!tf32_products_asked(L, c->products)) return 0;
  s->dp = ceil_div(f->D, 8) * 8;
  s->kb = s->nt = (int)(s->dp / 8);
  s->threads = 32 * c->warps;
  s->tn = c->warps * c->rt * 16;
  s->pairs = f->qf.upper ? s->kb * (s->kb + 1) / 2 : s->kb * s->nt;
  /* the accumulators: rt row tiles x nt column tiles x 4 per lane */
  if (c->rt * s->nt * 4 > 64 || s->threads > L->dev.max_threads_per_block) return 0;
  int64_t smem = 4 * ((int64_t)s->tn * s->dp + s->dp * s->dp + s->dp + (int64_t)s->tn * c->mb);
  if (smem > L->dev.smem_static_per_block) return 0;
  pl->variant = arena_printf(&L->p->arena, "mma-%s-%dx%d", c->products == 3 ? "3xtf32" : "tf32", s->tn, c->mb);
  /* memory as the other E-step variants (the data once per block, W per
   * component of a block); the tensor cores do products x pairs MMAs of
   * 16 x 8 x 8 per 16 events and component; the FP32 pipe splits and
   * centres the operands (A: ~14 operations per element per k block and
   * component, B: ~7 per element per warp) and squares Y */
  Work w = estep_work(L, f, s->tn, c->mb, 0, 0, 1, 1);
  double M = (double)f->M;
  w.tc_fmas_per_event = M * c->products * s->pairs * 1024.0 / 16.0;
  w.fmas_per_event = M * ((double)s->dp * (c->products == 3 ? 14 : 6) / 4.0 +
                          (double)s->pairs * 64 * (c->products == 3 ? 7 : 2) / (16.0 * c->rt) + (double)s->dp * 2);
  /* shared memory: the A fragments per component, the B fragments per warp */
  w.shared_per_event = w.bytes_per_event + M * 4.0 * ((double)s->dp + (double)s->pairs * 64 / (16.0 * c->rt));
  pl->work = w;
  return 1;
}

static void build_mma(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const Centered *cf = &f->cf;
  const MmaConfig c = *(const MmaConfig *)config;
  const MmaShape *sp = (const MmaShape *)pl->shape;
  Target *tg = &st->targets[0];
  int threads = sp->threads, tn = sp->tn, KB = sp->kb, NT = sp->nt, rt = c.rt, three = c.products == 3;
  int64_t D = f->D, E = f->E, M = f->M, dp = sp->dp, mb = c.mb;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_mma%s%dx%d", L->s->model, tg->name, three ? "3xtf32" : "tf32", tn, c.mb));
  k->what = arena_printf(&p->arena,
                         "%s [%s: per component Y = (x - mu) W on TF32 tensor cores (m16n8k8), %s, %d row tiles of "
                         "16 events per warp%s]",
                         stmt_text(L, st), pl->variant,
                         three ? "3 products of split operands (float32 accuracy)" : "one product (TF32 accuracy)", rt,
                         qf->upper ? ", upper-triangular W" : "");
  event_tile_grid(p, k, tn, mb, M, threads);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", LT_F32, tn * dp), ws = kernel_shared(p, k, "w", LT_F32, dp * dp),
      ms = kernel_shared(p, k, "mu", LT_F32, dp), ls = kernel_shared(p, k, "out", LT_F32, tn * mb);
  WarpLanes wl;
  warp_lanes(p, k, body, &wl);
  int tid = wl.tid, lane = wl.lane, warp = wl.warp, g = wl.g, t = wl.t;
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(mb))));
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64),
      ve = kernel_var(p, k, "e", LT_I64), flat = kernel_var(p, k, "flat", LT_I64);
  env.var[f->nid] = vn;
  env.var[f->mid] = vm;
  env.var[qf->d] = vd;
  env.var[qf->e] = ve;
  /* the data tile, read along d (coalesced), stored in A-fragment order:
   * event row r of row tile rg, column d of k block b sits at lane
   * (r % 8) * 4 + d % 4, element (r / 8) + 2 * (d % 8 / 4) */
  {
    LStmt *in = emit_strided(L, k, body, "stage_x", tn * dp, threads, tid, flat);
    int nn = kernel_var(p, k, "nn", LT_I64);
    ls_append(p, in, ls_assign(p, nn, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
    ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
    LExpr *at = a_fragment_index(p, k, V(nn), V(vd), KB);
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    stage_or_zero(p, k, in, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vd), I(D))), xs, at,
                  lx_cast(p, LT_F32, lx_load(p, p->tensor_buf[cf->x->id], xi)));
  }
  int mm;
  LStmt *cm = estep_components(L, k, body, m0, vm, mb, M, &mm);
  /* W of the component in B-fragment order: row d = 8 b + t + 4 i, column
   * e = 8 j + g at [(b * NT + j) * 32 + lane] * 2 + i; zero outside D x E */
  {
    LStmt *in = emit_strided(L, k, cm, "stage_w", dp * dp, threads, tid, flat);
    LExpr *i = BIN(LB_REM, V(flat), I(2)), *ln = BIN(LB_REM, BIN(LB_DIV, V(flat), I(2)), I(32));
    LExpr *j = BIN(LB_REM, BIN(LB_DIV, V(flat), I(64)), I(NT)), *b = BIN(LB_DIV, V(flat), I(64 * NT));
    ls_append(
        p, in,
        ls_assign(p, vd, BIN(LB_ADD, BIN(LB_ADD, BIN(LB_MUL, b, I(8)), BIN(LB_REM, ln, I(4))), BIN(LB_MUL, i, I(4)))));
    ls_append(p, in, ls_assign(p, ve, BIN(LB_ADD, BIN(LB_MUL, j, I(8)), BIN(LB_DIV, ln, I(4)))));
    estep_stage_w(L, k, in, qf, &env, ws, flat, vd, ve, D, E);
  }
  LStmt *lm = ls_when(p, cm, BIN(LB_LT, V(tid), I(dp)));
  estep_stage_mu(L, k, lm, cf, ms, tid, vm, vd, D);
  ls_append(p, cm, ls_sync(p));
  /* the accumulators: acc[(r * NT + j) * 4 + c] */
  int acc[64];
  for (int r = 0; r < rt * NT * 4; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d_%d", r / (NT * 4), r / 4 % NT, r % 4), LT_F32);
    ls_append(p, cm, ls_assign(p, acc[r], lx_const(p, LT_F32, 0)));
  }
  int abig[8][4], asmall[8][4], bbig[2], bsmall[2], mu0 = kernel_var(p, k, "mu_t", LT_F32),
                                                    mu1 = kernel_var(p, k, "mu_t4", LT_F32);
  for (int r = 0; r < rt; r++)
    for (int x = 0; x < 4; x++) {
      abig[r][x] = kernel_var(p, k, arena_printf(&p->arena, "a%d_%d", r, x), LT_F32);
      asmall[r][x] = three ? kernel_var(p, k, arena_printf(&p->arena, "as%d_%d", r, x), LT_F32) : -1;
    }
  for (int x = 0; x < 2; x++) {
    bbig[x] = kernel_var(p, k, arena_printf(&p->arena, "b%d", x), LT_F32);
    bsmall[x] = three ? kernel_var(p, k, arena_printf(&p->arena, "bs%d", x), LT_F32) : -1;
  }
  int av = kernel_var(p, k, "centered", LT_F32), bv = kernel_var(p, k, "w_value", LT_F32);
  for (int b = 0; b < KB; b++) {
    /* this k block's A fragments: x - mu, split */
    ls_append(p, cm, ls_assign(p, mu0, lx_sload(p, k, ms, BIN(LB_ADD, I(8 * b), V(t)))));
    ls_append(p, cm, ls_assign(p, mu1, lx_sload(p, k, ms, BIN(LB_ADD, I(8 * b + 4), V(t)))));
    for (int r = 0; r < rt; r++) {
      LExpr *tile = BIN(LB_ADD, BIN(LB_MUL, V(warp), I(rt)), I(r));
      LExpr *base =
          BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, tile, I(KB)), I(b)), I(32)), V(lane)), I(4));
      for (int x = 0; x < 4; x++) {
        ls_append(p, cm,
                  ls_assign(p, av, BIN(LB_SUB, lx_sload(p, k, xs, BIN(LB_ADD, base, I(x))), V(x < 2 ? mu0 : mu1))));
        tf32_split(p, k, cm, V(av), abig[r][x], asmall[r][x]);
      }
    }
    for (int j = qf->upper ? b : 0; j < NT; j++) {
      LExpr *base = BIN(LB_MUL, BIN(LB_ADD, I(((int64_t)b * NT + j) * 32), V(lane)), I(2));
      for (int x = 0; x < 2; x++) {
        ls_append(p, cm, ls_assign(p, bv, lx_sload(p, k, ws, BIN(LB_ADD, base, I(x)))));
        tf32_split(p, k, cm, V(bv), bbig[x], bsmall[x]);
      }
      for (int r = 0; r < rt; r++) {
        mma_split_products(p, k, cm, &acc[(r * NT + j) * 4], abig[r], three ? asmall[r] : NULL, bbig,
                           three ? bsmall : NULL);
      }
    }
  }
  /* squares: lane (g, t) holds rows g (c0, c1) and g + 8 (c2, c3) of each
   * column tile; the four lanes of a row add theirs */
  int q = kernel_var(p, k, "quadratic_form", LT_F32);
  for (int r = 0; r < rt; r++)
    for (int h = 0; h < 2; h++) {
      LExpr *sum = NULL;
      for (int j = 0; j < NT; j++)
        for (int x = 0; x < 2; x++) {
          LExpr *y = V(acc[(r * NT + j) * 4 + 2 * h + x]);
          sum = sum ? BIN(LB_ADD, sum, BIN(LB_MUL, y, y)) : BIN(LB_MUL, y, y);
        }
      ls_append(p, cm, ls_assign(p, q, sum));
      for (int x = 1; x < 4; x *= 2) ls_append(p, cm, ls_assign(p, q, BIN(LB_ADD, V(q), lx_shfl_xor(p, V(q), x))));
      LStmt *ep = ls_when(p, cm, BIN(LB_EQ, V(t), I(0)));
      LExpr *ev =
          BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, V(warp), I(rt)), I(r)), I(16)), BIN(LB_ADD, V(g), I(8 * h)));
      ls_append(p, ep, ls_assign(p, vn, BIN(LB_ADD, V(n0), ev)));
      LStmt *live = ls_when(p, ep, BIN(LB_LT, V(vn), lx_nlocal(p)));
      L->subst_expr = qf->q;
      L->subst_val = lx_cast(p, p->real, V(q));
      LExpr *val = lower_expr(L, k, live, st->rhs, &env);
      L->subst_expr = NULL;
      ls_append(p, live, ls_sstore(p, k, ls, BIN(LB_ADD, BIN(LB_MUL, ev, I(mb)), V(mm)), val));
    }
  store_event_tile(L, k, body,
                   &(EventTile){.buf = p->tensor_buf[tg->tensor->id],
                                .sh = ls,
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

/* three shapes (a unit holds at most 16 alternatives: loopir.h) */
static const MmaConfig mma_configs[] = {
    {4, 2, 16, 3}, {4, 1, 16, 3}, {2, 2, 32, 3}, {4, 2, 16, 1}, {4, 1, 16, 1}, {2, 2, 32, 1},
};

const VariantFamily family_mma_3xtf32 = {.name = "mma-3xtf32",
                                         .site = SITE_MAP,
                                         .fast32 = 1,
                                         .match = match_mma,
                                         .configs = mma_configs,
                                         .nconfigs = sizeof mma_configs / sizeof *mma_configs,
                                         .config_size = sizeof *mma_configs,
                                         .plan = plan_mma,
                                         .build = build_mma};
