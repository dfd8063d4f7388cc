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

#define V(x) lx_var(p, k, x)
#define I(x) lx_int(p, x)
#define BIN(op, a, b) lx_binary(p, op, a, b)

enum { RN = 8, RC = 8 };

void estep_wide(Lower *L, Stmt *st, int unit, const QuadForm *qf, const Centered *cf, int el, int warps, int mb) {
  Program *p = L->p;
  Target *tg = &st->targets[0];
  int nid = tg->idx[0].id, mid = tg->idx[1].id;
  int64_t D = index_extent(L, qf->d), E = index_extent(L, qf->e), M = index_extent(L, mid);
  if (D != E || D > 64 || D < 8 || 32 % el) return;
  int cln = 32 / el, pw = cln * RC, epw = el * RN, tn = warps * epw, threads = 32 * warps;
  int64_t d4 = (D + 3) / 4 * 4, passes = (E + pw - 1) / pw;
  LType T = p->real;
  int64_t smem = (int64_t)(T == LT_F64 ? 8 : 4) * (tn * d4 + d4 * pw + d4 + tn * mb);
  if (smem > 48 * 1024) return;
  const char *variant = arena_printf(&p->arena, "wide-%dx%d-el%d", tn, mb, el);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_wide%dx%del%d", L->s->model, tg->name, tn, mb, el));
  k->what = arena_printf(&p->arena,
                         "%s [%s: 8 x 8 register tiles, x - mu in registers, %lld passes of %d columns%s]",
                         stmt_text(L, st), variant, (long long)passes, pw, qf->upper ? " ending at the triangle" : "");
  k->launch = LAUNCH_GRID;
  k->grid[0] = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  k->grid[1] = I((M + mb - 1) / mb);
  k->block[0] = threads;
  k->block[1] = 1;
  LStmt *body = k->body;
  L->rt = T;
  L->fast32 = T == LT_F32;
  int xs = kernel_shared(p, k, "x", T, tn * d4), ws = kernel_shared(p, k, "w", T, d4 * pw),
      ms = kernel_shared(p, k, "mu", T, d4), ls = kernel_shared(p, k, "out", T, tn * mb);
  int tid = kernel_var(p, k, "tid", LT_I64), lane = kernel_var(p, k, "lane", LT_I64),
      warp = kernel_var(p, k, "warp", LT_I64), evl = kernel_var(p, k, "event_lane", LT_I64),
      cl = kernel_var(p, k, "column_lane", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, lane, BIN(LB_REM, V(tid), I(32))));
  ls_append(p, body, ls_assign(p, warp, BIN(LB_DIV, V(tid), I(32))));
  ls_append(p, body, ls_assign(p, evl, BIN(LB_DIV, V(lane), I(cln))));
  ls_append(p, body, ls_assign(p, cl, BIN(LB_REM, V(lane), I(cln))));
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(mb))));
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64),
      ve = kernel_var(p, k, "e", LT_I64), flat = kernel_var(p, k, "flat", LT_I64);
  env.var[nid] = vn;
  env.var[mid] = vm;
  env.var[qf->d] = vd;
  env.var[qf->e] = ve;
  /* the data tile, transposed x[d * tn + nn], zero outside */
  LStmt *lx = emit_strided(L, k, body, "stage_x", tn * d4, threads, tid, flat);
  int nn = kernel_var(p, k, "nn", LT_I64);
  ls_append(p, lx, ls_assign(p, nn, BIN(LB_DIV, V(flat), I(d4))));
  ls_append(p, lx, ls_assign(p, vd, BIN(LB_REM, V(flat), I(d4))));
  ls_append(p, lx, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  {
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(vd), I(tn)), V(nn));
    stage_or_zero(p, k, lx, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vd), I(D))), xs, at, lx_cast(p, T, lx_load(p, p->tensor_buf[cf->x->id], xi)));
  }
  int mm;
  LStmt *comp = emit_loop(L, k, body, "component", I(0), I(mb), &mm);
  ls_append(p, comp, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mm))));
  LStmt *cm = ls_when(p, comp, BIN(LB_LT, V(vm), I(M)));
  /* every read of the previous component's mu and W is done */
  ls_append(p, cm, ls_sync(p));
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
    {
      LStmt *ok = ls_block(p), *no = ls_block(p);
      ls_append(p, lw, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vd), I(D)), BIN(LB_LT, V(ve), I(E))), ok, no));
      LExpr *v = NULL;
      for (int i = 0; i < qf->nw; i++) {
        LExpr *x = lx_cast(p, T, lower_expr(L, k, ok, qf->fw[i], &env));
        v = v ? BIN(LB_MUL, v, x) : x;
      }
      ls_append(p, ok, ls_sstore(p, k, ws, V(flat), v));
      ls_append(p, no, ls_sstore(p, k, ws, V(flat), lx_const(p, T, 0)));
    }
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
  for (int r = 0; r < RN; r++)
    for (int x = 1; x < cln; x *= 2)
      ls_append(p, cm, ls_assign(p, q[r], BIN(LB_ADD, V(q[r]), lx_shfl_xor(p, V(q[r]), x))));
  /* column lane 0 finishes its events */
  LStmt *ep = ls_when(p, cm, BIN(LB_EQ, V(cl), I(0)));
  for (int r = 0; r < RN; r++) {
    LExpr *ev = BIN(LB_ADD, evbase, I(r));
    ls_append(p, ep, ls_assign(p, vn, BIN(LB_ADD, V(n0), ev)));
    LStmt *live = ls_when(p, ep, BIN(LB_LT, V(vn), lx_nlocal(p)));
    L->subst_expr = qf->q;
    L->subst_val = V(q[r]);
    LExpr *val = lower_expr(L, k, live, st->rhs, &env);
    L->subst_expr = NULL;
    ls_append(p, live, ls_sstore(p, k, ls, BIN(LB_ADD, BIN(LB_MUL, ev, I(mb)), V(mm)), val));
  }
  ls_append(p, body, ls_sync(p));
  LStmt *wr = emit_strided(L, k, body, "store", tn * mb, threads, tid, flat);
  ls_append(p, wr, ls_assign(p, vn, BIN(LB_ADD, V(n0), BIN(LB_DIV, V(flat), I(mb)))));
  ls_append(p, wr, ls_assign(p, vm, BIN(LB_ADD, V(m0), BIN(LB_REM, V(flat), I(mb)))));
  LStmt *okw = ls_when(p, wr, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vm), I(M))));
  LExpr **ti = idx_vec(p, 2);
  ti[0] = V(vn);
  ti[1] = V(vm);
  ls_append(p, okw, ls_store(p, p->tensor_buf[tg->tensor->id], ti, lx_sload(p, k, ls, V(flat))));
  L->fast32 = 0;
  Alt *a = unit_add_alt(p, unit, variant);
  if (!a) return;
  a->kernels[a->nkernels++] = p->nkernels - 1;
  a->cost = 0; /* outside the device model's units: never pruned, measured */
}
