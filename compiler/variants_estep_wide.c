/* The wide form of the centered E-step: register tiles of 8 events x 8
 * columns of Y = (x - mu) W per lane.
 *
 * Why: a lane with an R x C tile reads R + C values from shared memory per
 * row d for R*C multiply-adds; a multiprocessor delivers 32 shared values per
 * clock and runs 128 multiply-adds, so tiles under 8 x 8 leave the FMA units
 * waiting on shared memory (the 4 x 4 "balanced" form measured 95 % of L1
 * bandwidth and 36 % of the FMA pipe on an H200). x - mu is formed in
 * registers (no centered copy per component), and W is staged one pass of
 * columns at a time so that the data tile of 128 or 256 events still fits.
 *
 * A warp has el event lanes x (32 / el) column lanes: 8 el events and
 * 8 (32 / el) columns (a pass). With W upper triangular, pass h stops at row
 * (h + 1) * pass width. Column lanes sum their squares with shuffles; the
 * block writes its tile of T coalesced along m. */
#include "estep.h"
#include "kernel_build.h"

enum { RN = 8, RC = 8 };

/* el event lanes per warp (32 / el column lanes), warps per block, mb
 * components per block */
typedef struct {
  int el, warps, mb;
} WideConfig;

static int plan_wide(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const WideConfig *c = config;
  EstepShape *s = (EstepShape *)pl->shape;
  int64_t D = f->D, E = f->E;
  if (D != E || D > 64 || D < 8 || 32 % c->el) return 0;
  s->cln = 32 / c->el, s->pw = s->cln * RC, s->epw = c->el * RN, s->tn = c->warps * s->epw, s->threads = 32 * c->warps;
  s->d4 = ceil_div(D, 4) * 4, s->passes = ceil_div(E, s->pw);
  int64_t tn = s->tn, d4 = s->d4, smem = (int64_t)estep_esz(L) * (tn * d4 + d4 * s->pw + d4 + tn * c->mb);
  if (smem > L->dev.smem_static_per_block) return 0;
  pl->variant = arena_printf(&L->p->arena, "wide-%dx%d-el%d", s->tn, c->mb, c->el);
  pl->work = estep_work(L, f, tn, c->mb, 0, estep_pass_madds(f, s->passes, s->pw, d4), RN, RC);
  return 1;
}

static void build_wide(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const Centered *cf = &f->cf;
  const EstepShape *sp = (const EstepShape *)pl->shape;
  Target *tg = &st->targets[0];
  int el = ((const WideConfig *)config)->el, mb = ((const WideConfig *)config)->mb;
  int cln = sp->cln, pw = sp->pw, epw = sp->epw, tn = sp->tn, threads = sp->threads;
  int64_t D = f->D, E = f->E, M = f->M, d4 = sp->d4, passes = sp->passes;
  LType T = p->real;
  const char *variant = pl->variant;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_wide%dx%del%d", L->s->model, tg->name, tn, mb, el));
  k->what = arena_printf(&p->arena, "%s [%s: 8 x 8 register tiles, x - mu in registers, %lld passes of %d columns%s]",
                         stmt_text(L, st), variant, (long long)passes, pw, qf->upper ? " ending at the triangle" : "");
  event_tile_grid(p, k, tn, mb, M, threads);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", T, tn * d4), ws = kernel_shared(p, k, "w", T, d4 * pw),
      ms = kernel_shared(p, k, "mu", T, d4), ls = kernel_shared(p, k, "out", T, tn * mb);
  LaneShape sh = {.cln = cln, .tn = tn, .mb = mb, .threads = threads, .xs = xs, .ls = ls, .rows = d4, .D = D, .M = M};
  Lanes lv;
  lanes_begin(L, k, st, qf, cf, &sh, &lv);
  int tid = lv.tid, warp = lv.warp, evl = lv.evl, cl = lv.cl, m0 = lv.m0, vm = lv.vm, vd = lv.vd, ve = lv.ve,
      flat = lv.flat;
  Env env = lv.env;
  int mm;
  LStmt *cm = estep_components(L, k, body, m0, vm, mb, M, &mm);
  LStmt *lm = emit_strided(L, k, cm, "stage_mu", d4, threads, tid, flat);
  estep_stage_mu(L, k, lm, cf, ms, flat, vm, vd, D);
  int q[RN], y[RN * RC], av[RN], wv[RC];
  for (int r = 0; r < RN; r++) {
    q[r] = kernel_var(p, k, arena_printf(&p->arena, "q%d", r), T);
    ls_append(p, cm, ls_assign(p, q[r], lx_const(p, T, 0)));
  }
  LExpr *evbase = BIN(LB_ADD, BIN(LB_MUL, V(warp), I(epw)), BIN(LB_MUL, V(evl), I(RN)));
  for (int64_t h = 0; h < passes; h++) {
    int64_t rows = qf->upper ? ((h + 1) * pw < d4 ? (h + 1) * pw : d4) : d4;
    if (h > 0) ls_append(p, cm, ls_sync(p));
    /* the pass's columns of W, rows [0, rows), zero-padded: w[d * pw + c] */
    LStmt *lw = emit_strided(L, k, cm, "stage_w", rows * pw, threads, tid, flat);
    ls_append(p, lw, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(pw))));
    ls_append(p, lw, ls_assign(p, ve, BIN(LB_ADD, I(h * pw), BIN(LB_REM, V(flat), I(pw)))));
    estep_stage_w(L, k, lw, qf, &env, ws, flat, vd, ve, D, E);
    ls_append(p, cm, ls_sync(p));
    for (int r = 0; r < RN * RC; r++) {
      y[r] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d", r / RC, r % RC), T);
      ls_append(p, cm, ls_assign(p, y[r], lx_const(p, T, 0)));
    }
    int d4v;
    LStmt *kd = emit_loop(L, k, cm, "d", I(0), I(rows / 4), &d4v);
    for (int u = 0; u < 4; u++) {
      LExpr *d = BIN(LB_ADD, BIN(LB_MUL, V(d4v), I(4)), I(u));
      int mu = kernel_var(p, k, "mu_d", T);
      ls_append(p, kd, ls_assign(p, mu, lx_sload(p, k, ms, d)));
      for (int r = 0; r < RN; r++) {
        av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
        LExpr *x = lx_sload(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, d, I(tn)), BIN(LB_ADD, evbase, I(r))));
        ls_append(p, kd, ls_assign(p, av[r], BIN(LB_SUB, x, V(mu))));
      }
      for (int c = 0; c < RC; c++) {
        wv[c] = kernel_var(p, k, arena_printf(&p->arena, "w%d", c), T);
        LExpr *col = BIN(LB_ADD, BIN(LB_MUL, V(cl), I(RC)), I(c));
        ls_append(p, kd, ls_assign(p, wv[c], lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, d, I(pw)), col))));
      }
      for (int r = 0; r < RN * RC; r++)
        ls_append(p, kd, ls_assign(p, y[r], BIN(LB_ADD, V(y[r]), BIN(LB_MUL, V(av[r / RC]), V(wv[r % RC])))));
    }
    for (int r = 0; r < RN; r++)
      for (int c = 0; c < RC; c++)
        ls_append(p, cm, ls_assign(p, q[r], BIN(LB_ADD, V(q[r]), BIN(LB_MUL, V(y[r * RC + c]), V(y[r * RC + c])))));
  }
  lanes_finish(L, k, st, qf, &lv, &sh, cm, q, RN, evbase, mm);
}

static const WideConfig wide_configs[] = {{16, 2, 8}, {16, 1, 8}, {8, 2, 8}};

const VariantFamily family_wide = {.name = "wide",
                                   .site = SITE_MAP,
                                   .fast32 = 1,
                                   .match = match_estep_centered,
                                   .configs = wide_configs,
                                   .nconfigs = sizeof wide_configs / sizeof *wide_configs,
                                   .config_size = sizeof *wide_configs,
                                   .plan = plan_wide,
                                   .build = build_wide};
