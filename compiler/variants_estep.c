/* GPU variant of a per-event statement holding a quadratic form, the heart
 * of the E-step:
 *
 *   T[n,m] = g(n, m, Q)   Q = sum(e, sq(sum(d, A(n,m,d) * W(m,d,e))))
 *
 * (full and tied Gaussians: A = X[n,d] - mu[m,d], W = precision factor).
 * For each component, Y = A W is a small GEMM over a tile of events. A block
 * takes TN events and MB components; per component it stages A (TN x D,
 * transposed so that a thread reads its events with one 16-byte load) and W
 * (D x D) in shared memory; warp w owns columns [w*RE, w*RE + RE) of Y, lane
 * l owns events [l*RN, l*RN + RN): a register tile RN x RE. Where W is upper
 * triangular the warp stops at its last column (half the flops). Warps sum
 * their squares in shared memory, g is applied per (n, m), and the tile of
 * T is written row by row, coalesced along m. Optionally the data tile X is
 * staged once per block for every component.
 *
 * Three families of the registry (variant.h): tiled, centered, balanced;
 * variants_estep_wide.c holds the fourth. */
#include <string.h>

#include "estep.h"
#include "kernel_build.h"

static int find_quadform(Expr *x, int nid, QuadForm *q) {
  if (!x) return 0;
  if (x->kind == E_REDUCE && x->op == R_SUM && x->args[0]->kind == E_CALL && x->args[0]->op == F_SQ &&
      x->args[0]->args[0]->kind == E_REDUCE && x->args[0]->args[0]->op == R_SUM) {
    Expr *inner = x->args[0]->args[0];
    memset(q, 0, sizeof *q);
    q->q = x;
    q->e = x->red.id;
    q->d = inner->red.id;
    Expr *f[32];
    int nf = 0;
    expr_product_factors(inner->args[0], f, &nf, 32);
    for (int i = 0; i < nf; i++) {
      int un = expr_uses_index(f[i], nid), ue = expr_uses_index(f[i], q->e);
      if (un && ue) return 0; /* not a product A(n, d) W(d, e) */
      if (un) {
        if (q->na == 16) return 0;
        q->fa[q->na++] = f[i];
      } else {
        if (q->nw == 16) return 0;
        q->fw[q->nw++] = f[i];
        /* an upper-triangular factor in (d, e) zeroes d > e */
        if (f[i]->kind == E_ACCESS && f[i]->tensor && f[i]->tensor->structure == ST_UPPER && f[i]->nidx >= 2 &&
            f[i]->idx[f[i]->nidx - 2].id == q->d && f[i]->idx[f[i]->nidx - 1].id == q->e)
          q->upper = 1;
      }
    }
    return q->na > 0 && q->nw > 0;
  }
  for (int i = 0; i < x->nargs; i++)
    if (find_quadform(x->args[i], nid, q)) return 1;
  return 0;
}

static int centered_form(const QuadForm *qf, int nid, int mid, Centered *c) {
  return qf->na == 1 && centered_data(qf->fa[0], nid, mid, qf->d, &c->x, &c->mu);
}

void estep_stage_mu(Lower *L, Kernel *k, LStmt *blk, const Centered *cf, int ms, int at, int vm, int vd, int64_t D) {
  Program *p = L->p;
  LType T = k->shared[ms].type;
  ls_append(p, blk, ls_assign(p, vd, V(at)));
  LExpr *mu = lx_const(p, T, 0);
  if (cf->mu) {
    LExpr **mi = idx_vec(p, 2);
    mi[0] = V(vm);
    mi[1] = V(vd);
    mu = lx_cast(p, T, lx_load(p, p->tensor_buf[cf->mu->id], mi));
  }
  stage_or_zero(p, k, blk, BIN(LB_LT, V(vd), I(D)), ms, V(at), mu);
}

void lanes_begin(Lower *L, Kernel *k, const Stmt *st, const QuadForm *qf, const Centered *cf, const LaneShape *sh,
                 Lanes *v) {
  Program *p = L->p;
  LStmt *body = k->body;
  const Target *tg = &st->targets[0];
  v->tid = kernel_var(p, k, "tid", LT_I64), v->lane = kernel_var(p, k, "lane", LT_I64);
  v->warp = kernel_var(p, k, "warp", LT_I64), v->evl = kernel_var(p, k, "event_lane", LT_I64);
  v->cl = kernel_var(p, k, "column_lane", LT_I64);
  ls_append(p, body, ls_assign(p, v->tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, v->lane, BIN(LB_REM, V(v->tid), I(32))));
  ls_append(p, body, ls_assign(p, v->warp, BIN(LB_DIV, V(v->tid), I(32))));
  ls_append(p, body, ls_assign(p, v->evl, BIN(LB_DIV, V(v->lane), I(sh->cln))));
  ls_append(p, body, ls_assign(p, v->cl, BIN(LB_REM, V(v->lane), I(sh->cln))));
  v->n0 = kernel_var(p, k, "n0", LT_I64), v->m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, v->n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(sh->tn))));
  ls_append(p, body, ls_assign(p, v->m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(sh->mb))));
  env_init(&v->env);
  v->vn = kernel_var(p, k, "n", LT_I64), v->vm = kernel_var(p, k, "m", LT_I64);
  v->vd = kernel_var(p, k, "d", LT_I64), v->ve = kernel_var(p, k, "e", LT_I64);
  v->env.var[tg->idx[0].id] = v->vn;
  v->env.var[tg->idx[1].id] = v->vm;
  v->env.var[qf->d] = v->vd;
  v->env.var[qf->e] = v->ve;
  v->flat = kernel_var(p, k, "flat", LT_I64);
  /* the data tile, transposed x[d * tn + nn], zero outside */
  LStmt *lx = emit_strided(L, k, body, "stage_x", sh->tn * sh->rows, sh->threads, v->tid, v->flat);
  int nn = kernel_var(p, k, "nn", LT_I64);
  ls_append(p, lx, ls_assign(p, nn, BIN(LB_DIV, V(v->flat), I(sh->rows))));
  ls_append(p, lx, ls_assign(p, v->vd, BIN(LB_REM, V(v->flat), I(sh->rows))));
  ls_append(p, lx, ls_assign(p, v->vn, BIN(LB_ADD, V(v->n0), V(nn))));
  LExpr **xi = idx_vec(p, 2);
  xi[0] = V(v->vn);
  xi[1] = V(v->vd);
  LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(v->vd), I(sh->tn)), V(nn));
  LExpr *inside = BIN(LB_AND, BIN(LB_LT, V(v->vn), lx_nlocal(p)), BIN(LB_LT, V(v->vd), I(sh->D)));
  stage_or_zero(p, k, lx, inside, sh->xs, at,
                lx_cast(p, k->shared[sh->xs].type, lx_load(p, p->tensor_buf[cf->x->id], xi)));
}

void lanes_finish(Lower *L, Kernel *k, Stmt *st, const QuadForm *qf, Lanes *v, const LaneShape *sh, LStmt *cm,
                  const int *q, int rn, LExpr *evbase, int mm) {
  Program *p = L->p;
  for (int r = 0; r < rn; r++)
    for (int x = 1; x < sh->cln; x *= 2)
      ls_append(p, cm, ls_assign(p, q[r], BIN(LB_ADD, V(q[r]), lx_shfl_xor(p, V(q[r]), x))));
  /* column lane 0 finishes its events */
  LStmt *ep = ls_when(p, cm, BIN(LB_EQ, V(v->cl), I(0)));
  for (int r = 0; r < rn; r++) {
    LExpr *ev = BIN(LB_ADD, evbase, I(r));
    ls_append(p, ep, ls_assign(p, v->vn, BIN(LB_ADD, V(v->n0), ev)));
    LStmt *live = ls_when(p, ep, BIN(LB_LT, V(v->vn), lx_nlocal(p)));
    L->subst_expr = qf->q;
    L->subst_val = V(q[r]);
    LExpr *val = lower_expr(L, k, live, st->rhs, &v->env);
    L->subst_expr = NULL;
    ls_append(p, live, ls_sstore(p, k, sh->ls, BIN(LB_ADD, BIN(LB_MUL, ev, I(sh->mb)), V(mm)), val));
  }
  store_event_tile(L, k, k->body,
                   &(EventTile){.buf = p->tensor_buf[st->targets[0].tensor->id],
                                .sh = sh->ls,
                                .tn = sh->tn,
                                .mb = sh->mb,
                                .M = sh->M,
                                .threads = sh->threads,
                                .tid = v->tid,
                                .flat = v->flat,
                                .n0 = v->n0,
                                .m0 = v->m0,
                                .vn = v->vn,
                                .vm = v->vm});
}

void estep_stage_w(Lower *L, Kernel *k, LStmt *blk, const QuadForm *qf, Env *env, int ws, int at, int vd, int ve,
                   int64_t D, int64_t E) {
  Program *p = L->p;
  LType T = k->shared[ws].type;
  LStmt *ok = ls_block(p), *no = ls_block(p);
  ls_append(p, blk, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(vd), I(D)), BIN(LB_LT, V(ve), I(E))), ok, no));
  LExpr *v = NULL;
  for (int i = 0; i < qf->nw; i++) {
    LExpr *x = lx_cast(p, T, lower_expr(L, k, ok, qf->fw[i], env));
    v = v ? BIN(LB_MUL, v, x) : x;
  }
  ls_append(p, ok, ls_sstore(p, k, ws, V(at), v));
  ls_append(p, no, ls_sstore(p, k, ws, V(at), lx_const(p, T, 0)));
}

LStmt *estep_components(Lower *L, Kernel *k, LStmt *body, int m0, int vm, int64_t mb, int64_t M, int *mm_out) {
  Program *p = L->p;
  LStmt *comp = emit_loop(L, k, body, "component", I(0), I(mb), mm_out);
  ls_append(p, comp, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(*mm_out))));
  LStmt *cm = ls_when(p, comp, BIN(LB_LT, V(vm), I(M)));
  ls_append(p, cm, ls_sync(p)); /* every read of the previous component's staged data is done */
  return cm;
}

/* The end of the tiled and centered forms, once every warp has stored its
 * partial sums of squares (`squares`, warps x tn): each event's quadratic
 * form summed over the warps, g(n, m, Q) into the shared tile, the tile
 * written to T. */
static void finish_squares(Lower *L, Kernel *k, Stmt *st, const QuadForm *qf, Env *env, LStmt *cm, int squares,
                           int warps, int mm, const EventTile *t) {
  Program *p = L->p;
  int tid = t->tid, vn = t->vn;
  ls_append(p, cm, ls_sync(p));
  LStmt *ep = ls_when(p, cm, BIN(LB_LT, V(tid), I(t->tn)));
  int qv = kernel_var(p, k, "quadratic_form", p->real);
  ls_append(p, ep, ls_assign(p, qv, lx_const(p, p->real, 0)));
  for (int w = 0; w < warps; w++)
    ls_append(p, ep, ls_assign(p, qv, BIN(LB_ADD, V(qv), lx_sload(p, k, squares, BIN(LB_ADD, I(w * t->tn), V(tid))))));
  ls_append(p, ep, ls_assign(p, vn, BIN(LB_ADD, V(t->n0), V(tid))));
  LStmt *live = ls_when(p, ep, BIN(LB_LT, V(vn), lx_nlocal(p)));
  L->subst_expr = qf->q;
  L->subst_val = V(qv);
  LExpr *val = lower_expr(L, k, live, st->rhs, env);
  L->subst_expr = NULL;
  ls_append(p, live, ls_sstore(p, k, t->sh, BIN(LB_ADD, BIN(LB_MUL, V(tid), I(t->mb)), V(mm)), val));
  store_event_tile(L, k, k->body, t);
}

typedef struct {
  int tn, mb, stage_x;
} TiledConfig;

static int plan_tiled(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const TiledConfig *c = config;
  EstepShape *s = (EstepShape *)pl->shape;
  int64_t D = f->D, E = f->E;
  if (D != E || D > 64 || D < 2) return 0;
  s->warps = 8, s->threads = 32 * s->warps, s->re = (int)ceil_div(E, s->warps), s->rn = c->tn / 32;
  if (s->rn < 1 || s->rn > 8 || c->tn % 32) return 0;
  int64_t smem =
      (int64_t)estep_esz(L) * ((c->stage_x ? c->tn * D : 0) + c->tn * D + D * E + s->warps * c->tn + c->tn * c->mb);
  if (smem > L->dev.smem_static_per_block) return 0; /* static shared memory */
  if (c->stage_x && (!f->data || f->data->rank != 2)) return 0;
  pl->variant = arena_printf(&L->p->arena, "tiled-%dx%d%s", c->tn, c->mb, c->stage_x ? "-x" : "");
  /* A staged per component (from the data tile, or from memory) */
  pl->work = estep_work(L, f, c->tn, c->mb, !c->stage_x, (f->qf.upper ? 0.5 : 1.0) * (double)(D * E), s->rn, s->re);
  return 1;
}

static void build_tiled(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const EstepShape *sp = (const EstepShape *)pl->shape;
  TiledConfig c = *(const TiledConfig *)config;
  Target *tg = &st->targets[0];
  Tensor *data = f->data;
  int nid = f->nid, mid = f->mid, warps = sp->warps, threads = sp->threads, re = sp->re, rn = sp->rn;
  int64_t D = f->D, E = f->E, M = f->M;
  LType T = p->real;
  const char *variant = pl->variant;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_tiled%dx%d%s", L->s->model, tg->name, c.tn, c.mb, c.stage_x ? "x" : ""));
  k->what = arena_printf(&p->arena, "%s [%s: per component Y = A W on %d events, %dx%d register tiles, %s]",
                         stmt_text(L, st), variant, c.tn, rn, re, qf->upper ? "upper-triangular W" : "full W");
  event_tile_grid(p, k, c.tn, c.mb, M, threads);
  LStmt *body = k->body;
  int xs = c.stage_x ? kernel_shared(p, k, "x", T, c.tn * D) : -1;
  int as = kernel_shared(p, k, "a", T, c.tn * D), ws = kernel_shared(p, k, "w", T, D * E),
      ts = kernel_shared(p, k, "squares", T, warps * c.tn), ls = kernel_shared(p, k, "out", T, c.tn * c.mb);
  int tid = kernel_var(p, k, "tid", LT_I64), lane = kernel_var(p, k, "lane", LT_I64),
      warp = kernel_var(p, k, "warp", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, lane, BIN(LB_REM, V(tid), I(32))));
  ls_append(p, body, ls_assign(p, warp, BIN(LB_DIV, V(tid), I(32))));
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(c.tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(c.mb))));
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, spec_index(L->s, nid)->name, LT_I64),
      vm = kernel_var(p, k, spec_index(L->s, mid)->name, LT_I64),
      vd = kernel_var(p, k, spec_index(L->s, qf->d)->name, LT_I64),
      ve = kernel_var(p, k, spec_index(L->s, qf->e)->name, LT_I64);
  env.var[nid] = vn;
  env.var[mid] = vm;
  env.var[qf->d] = vd;
  env.var[qf->e] = ve;
  int s, flat = kernel_var(p, k, "flat", LT_I64);
  if (c.stage_x) {
    /* the data tile, once: row-major like the data, so loads coalesce */
    LStmt *lp = emit_loop(L, k, body, "stage_x", I(0), I((c.tn * D + threads - 1) / threads), &s);
    ls_append(p, lp, ls_assign(p, flat, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(threads)))));
    LStmt *in = ls_when(p, lp, BIN(LB_LT, V(flat), I(c.tn * D)));
    ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(n0), BIN(LB_DIV, V(flat), I(D)))));
    ls_append(p, in, ls_assign(p, vd, BIN(LB_REM, V(flat), I(D))));
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, in, ls_if(p, BIN(LB_LT, V(vn), lx_nlocal(p)), ok, no));
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    ls_append(p, ok, ls_sstore(p, k, xs, V(flat), lx_load(p, p->tensor_buf[data->id], xi)));
    ls_append(p, no, ls_sstore(p, k, xs, V(flat), lx_const(p, T, 0)));
  }
  /* per component of the block */
  int mm;
  LStmt *cm = estep_components(L, k, body, m0, vm, c.mb, M, &mm);
  if (c.stage_x) {
    L->stage_tensor = data;
    L->stage_sh = xs;
    L->stage_n0 = n0;
  }
  /* A, transposed: a[d * tn + nn] */
  LStmt *ina = emit_strided(L, k, cm, "stage_a", c.tn * D, threads, tid, flat);
  ls_append(p, ina, ls_assign(p, vn, BIN(LB_ADD, V(n0), BIN(LB_REM, V(flat), I(c.tn)))));
  ls_append(p, ina, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(c.tn))));
  {
    LStmt *ok = ls_block(p), *no = ls_block(p);
    ls_append(p, ina, ls_if(p, BIN(LB_LT, V(vn), lx_nlocal(p)), ok, no));
    LExpr *v = NULL;
    for (int i = 0; i < qf->na; i++) {
      LExpr *x = lx_cast(p, T, lower_expr(L, k, ok, qf->fa[i], &env));
      v = v ? BIN(LB_MUL, v, x) : x;
    }
    ls_append(p, ok, ls_sstore(p, k, as, V(flat), v));
    ls_append(p, no, ls_sstore(p, k, as, V(flat), lx_const(p, T, 0)));
  }
  L->stage_tensor = NULL;
  /* W: w[d * E + e] */
  LStmt *inw = emit_strided(L, k, cm, "stage_w", D * E, threads, tid, flat);
  ls_append(p, inw, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(E))));
  ls_append(p, inw, ls_assign(p, ve, BIN(LB_REM, V(flat), I(E))));
  {
    LExpr *v = NULL;
    for (int i = 0; i < qf->nw; i++) {
      LExpr *x = lx_cast(p, T, lower_expr(L, k, inw, qf->fw[i], &env));
      v = v ? BIN(LB_MUL, v, x) : x;
    }
    ls_append(p, inw, ls_sstore(p, k, ws, V(flat), v));
  }
  ls_append(p, cm, ls_sync(p));
  /* the register tile: rn events x re columns */
  int y[64], av[8], wv[16];
  for (int r = 0; r < rn * re; r++) {
    y[r] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d", r / re, r % re), T);
    ls_append(p, cm, ls_assign(p, y[r], lx_const(p, T, 0)));
  }
  int e0 = kernel_var(p, k, "e0", LT_I64);
  ls_append(p, cm, ls_assign(p, e0, BIN(LB_MUL, V(warp), I(re))));
  LExpr *dmax = qf->upper ? BIN(LB_MIN, BIN(LB_ADD, V(e0), I(re)), I(D)) : I(D);
  int dd;
  LStmt *kd = emit_loop(L, k, cm, "d", I(0), dmax, &dd);
  for (int r = 0; r < rn; r++) {
    av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
    ls_append(
        p, kd,
        ls_assign(p, av[r],
                  lx_sload(p, k, as,
                           BIN(LB_ADD, BIN(LB_MUL, V(dd), I(c.tn)), BIN(LB_ADD, BIN(LB_MUL, V(lane), I(rn)), I(r))))));
  }
  for (int r = 0; r < re; r++) {
    wv[r] = kernel_var(p, k, arena_printf(&p->arena, "w%d", r), T);
    LExpr *col = BIN(LB_ADD, V(e0), I(r));
    LExpr *safe = BIN(LB_MIN, col, I(E - 1));
    LExpr *w = lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, V(dd), I(E)), safe));
    ls_append(p, kd, ls_assign(p, wv[r], lx_select(p, BIN(LB_LT, col, I(E)), w, lx_const(p, T, 0))));
  }
  for (int r = 0; r < rn * re; r++)
    ls_append(p, kd, ls_assign(p, y[r], BIN(LB_ADD, V(y[r]), BIN(LB_MUL, V(av[r / re]), V(wv[r % re])))));
  for (int r = 0; r < rn; r++) {
    LExpr *sum = NULL;
    for (int j = 0; j < re; j++) {
      LExpr *sq = BIN(LB_MUL, V(y[r * re + j]), V(y[r * re + j]));
      sum = sum ? BIN(LB_ADD, sum, sq) : sq;
    }
    ls_append(p, cm,
              ls_sstore(p, k, ts,
                        BIN(LB_ADD, BIN(LB_MUL, V(warp), I(c.tn)), BIN(LB_ADD, BIN(LB_MUL, V(lane), I(rn)), I(r))),
                        sum));
  }
  finish_squares(L, k, st, qf, &env, cm, ts, warps, mm,
                 &(EventTile){.buf = p->tensor_buf[tg->tensor->id],
                              .sh = ls,
                              .tn = c.tn,
                              .mb = c.mb,
                              .M = M,
                              .threads = threads,
                              .tid = tid,
                              .flat = flat,
                              .n0 = n0,
                              .m0 = m0,
                              .vn = vn,
                              .vm = vm});
}

/* The centered form: X staged once per block, transposed x[d][nn] (rows
 * padded to dp = 8 * re, zero beyond D) so that a lane reads its rn events
 * with one vector load; per component W (padded likewise) and mu in shared
 * memory; the d loop runs in steps of re to the warp's last column. */
typedef struct {
  int tn, mb;
} CenteredConfig;

static int plan_centered(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const CenteredConfig *c = config;
  EstepShape *s = (EstepShape *)pl->shape;
  int64_t D = f->D, E = f->E;
  if (D != E || D > 64 || D < 2) return 0;
  int tn = c->tn, mb = c->mb;
  s->warps = 8, s->threads = 32 * s->warps, s->re = (int)ceil_div(E, s->warps), s->rn = tn / 32;
  s->dp = (int64_t)s->warps * s->re; /* padded dimension */
  int64_t dp = s->dp, smem = (int64_t)estep_esz(L) * (tn * dp + dp * dp + dp + s->warps * tn + tn * mb);
  if (s->rn < 1 || s->rn > 8 || tn % 32 || smem > L->dev.smem_static_per_block) return 0;
  pl->variant = arena_printf(&L->p->arena, "centered-%dx%d", tn, mb);
  /* warp w's rows end at its last column when W is upper */
  double rows = f->qf.upper ? (double)s->re * s->warps * (s->warps + 1) / 2 : (double)dp * s->warps;
  pl->work = estep_work(L, f, tn, mb, 0, rows * s->re, s->rn, s->re);
  return 1;
}

static void build_centered(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                           Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const Centered *cf = &f->cf;
  const EstepShape *sp = (const EstepShape *)pl->shape;
  Target *tg = &st->targets[0];
  int tn = ((const CenteredConfig *)config)->tn, mb = ((const CenteredConfig *)config)->mb;
  int nid = f->nid, mid = f->mid, warps = sp->warps, threads = sp->threads, re = sp->re, rn = sp->rn;
  int64_t D = f->D, E = f->E, M = f->M, dp = sp->dp;
  LType T = p->real;
  const char *variant = pl->variant;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_centered%dx%d", L->s->model, tg->name, tn, mb));
  k->what = arena_printf(
      &p->arena, "%s [%s: x - mu in registers, per component Y = (x - mu) W on %d events, %dx%d register tiles%s]",
      stmt_text(L, st), variant, tn, rn, re, qf->upper ? ", upper-triangular W" : "");
  event_tile_grid(p, k, tn, mb, M, threads);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", T, tn * dp), ws = kernel_shared(p, k, "w", T, dp * dp),
      ms = kernel_shared(p, k, "mu", T, dp), ts = kernel_shared(p, k, "squares", T, warps * tn),
      ls = kernel_shared(p, k, "out", T, tn * mb);
  int tid = kernel_var(p, k, "tid", LT_I64), lane = kernel_var(p, k, "lane", LT_I64),
      warp = kernel_var(p, k, "warp", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, lane, BIN(LB_REM, V(tid), I(32))));
  ls_append(p, body, ls_assign(p, warp, BIN(LB_DIV, V(tid), I(32))));
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(mb))));
  Env env;
  env_init(&env);
  int vn = kernel_var(p, k, spec_index(L->s, nid)->name, LT_I64),
      vm = kernel_var(p, k, spec_index(L->s, mid)->name, LT_I64),
      vd = kernel_var(p, k, spec_index(L->s, qf->d)->name, LT_I64),
      ve = kernel_var(p, k, spec_index(L->s, qf->e)->name, LT_I64);
  env.var[nid] = vn;
  env.var[mid] = vm;
  env.var[qf->d] = vd;
  env.var[qf->e] = ve;
  int flat = kernel_var(p, k, "flat", LT_I64);
  /* the data tile: global reads along d (coalesced), stored transposed */
  LStmt *in = emit_strided(L, k, body, "stage_x", tn * dp, threads, tid, flat);
  int nn = kernel_var(p, k, "nn", LT_I64);
  ls_append(p, in, ls_assign(p, nn, BIN(LB_DIV, V(flat), I(dp))));
  ls_append(p, in, ls_assign(p, vd, BIN(LB_REM, V(flat), I(dp))));
  ls_append(p, in, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  {
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(vn);
    xi[1] = V(vd);
    LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(vd), I(tn)), V(nn));
    stage_or_zero(p, k, in, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vd), I(D))), xs, at,
                  lx_load(p, p->tensor_buf[cf->x->id], xi));
  }
  int mm;
  LStmt *cm = estep_components(L, k, body, m0, vm, mb, M, &mm);
  /* W (padded with zeros) and mu for this component */
  LStmt *inw = emit_strided(L, k, cm, "stage_w", dp * dp, threads, tid, flat);
  ls_append(p, inw, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(dp))));
  ls_append(p, inw, ls_assign(p, ve, BIN(LB_REM, V(flat), I(dp))));
  estep_stage_w(L, k, inw, qf, &env, ws, flat, vd, ve, D, E);
  LStmt *lm = ls_when(p, cm, BIN(LB_LT, V(tid), I(dp)));
  estep_stage_mu(L, k, lm, cf, ms, tid, vm, vd, D);
  ls_append(p, cm, ls_sync(p));
  /* register tile */
  int y[64], av[8], wv[16];
  for (int r = 0; r < rn * re; r++) {
    y[r] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d", r / re, r % re), T);
    ls_append(p, cm, ls_assign(p, y[r], lx_const(p, T, 0)));
  }
  int e0 = kernel_var(p, k, "e0", LT_I64);
  ls_append(p, cm, ls_assign(p, e0, BIN(LB_MUL, V(warp), I(re))));
  /* the warp's rows of W end at its last column when W is upper */
  LExpr *steps = qf->upper ? BIN(LB_ADD, V(warp), I(1)) : I(warps);
  int db;
  LStmt *kd = emit_loop(L, k, cm, "d_block", I(0), steps, &db);
  for (int u = 0; u < re; u++) {
    int d = kernel_var(p, k, arena_printf(&p->arena, "d%d", u), LT_I64), mu = kernel_var(p, k, "mu_d", T);
    ls_append(p, kd, ls_assign(p, d, BIN(LB_ADD, BIN(LB_MUL, V(db), I(re)), I(u))));
    ls_append(p, kd, ls_assign(p, mu, lx_sload(p, k, ms, V(d))));
    for (int r = 0; r < rn; r++) {
      av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
      LExpr *x =
          lx_sload(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), BIN(LB_ADD, BIN(LB_MUL, V(lane), I(rn)), I(r))));
      ls_append(p, kd, ls_assign(p, av[r], BIN(LB_SUB, x, V(mu))));
    }
    for (int r = 0; r < re; r++) {
      wv[r] = kernel_var(p, k, arena_printf(&p->arena, "w%d", r), T);
      ls_append(
          p, kd,
          ls_assign(p, wv[r], lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, V(d), I(dp)), BIN(LB_ADD, V(e0), I(r))))));
    }
    for (int r = 0; r < rn * re; r++)
      ls_append(p, kd, ls_assign(p, y[r], BIN(LB_ADD, V(y[r]), BIN(LB_MUL, V(av[r / re]), V(wv[r % re])))));
  }
  for (int r = 0; r < rn; r++) {
    LExpr *sum = NULL;
    for (int j = 0; j < re; j++) {
      LExpr *sq = BIN(LB_MUL, V(y[r * re + j]), V(y[r * re + j]));
      sum = sum ? BIN(LB_ADD, sum, sq) : sq;
    }
    ls_append(p, cm,
              ls_sstore(p, k, ts,
                        BIN(LB_ADD, BIN(LB_MUL, V(warp), I(tn)), BIN(LB_ADD, BIN(LB_MUL, V(lane), I(rn)), I(r))), sum));
  }
  finish_squares(L, k, st, qf, &env, cm, ts, warps, mm,
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

/* Balanced form of the centered E-step. Warps are alike: each owns 32 events
 * and sweeps the columns in passes of 16 (lanes: 8 event groups of 4 x 4
 * column groups of 4, so a step reads one 128-byte line of x - mu and one
 * of W); with W upper triangular, pass h stops at row 16 (h + 1). The block
 * stages x - mu per component (vector loads and stores), sums squares over
 * the column lanes with shuffles, and writes its tile coalesced along m.
 *
 * Strips (D > 64, where W and x - mu do not fit in shared memory beside the
 * data tile): W is staged one pass's 16 columns at a time, and x - mu is
 * formed from the data tile as it is read (one subtraction per 4
 * multiply-adds) instead of being staged. */
typedef struct {
  int warps, mb, strip;
} BalancedConfig;

static int plan_balanced(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const BalancedConfig *c = config;
  EstepShape *s = (EstepShape *)pl->shape;
  int64_t D = f->D, E = f->E;
  if (D != E || (c->strip ? D <= 64 : D > 64)) return 0;
  s->tn = 32 * c->warps, s->threads = 32 * c->warps;
  s->dp = ceil_div(D, 16) * 16, s->d4 = ceil_div(D, 4) * 4, s->passes = s->dp / 16;
  int64_t tn = s->tn, dp = s->dp;
  int64_t smem = (int64_t)estep_esz(L) * (c->strip ? tn * dp + dp * 16 + dp + tn * c->mb
                                                    : 2 * tn * dp + dp * dp + dp + tn * c->mb);
  if (smem > L->dev.smem_static_per_block) return 0;
  pl->variant = arena_printf(&L->p->arena, "balanced%s-%lldx%d", c->strip ? "-strips" : "", (long long)tn, c->mb);
  pl->work = estep_work(L, f, s->tn, c->mb, 0, estep_pass_madds(f, s->passes, 16, s->d4), 4, 4);
  return 1;
}

static void build_balanced(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                           Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const Centered *cf = &f->cf;
  const EstepShape *sp = (const EstepShape *)pl->shape;
  Target *tg = &st->targets[0];
  int mb = ((const BalancedConfig *)config)->mb, strip = ((const BalancedConfig *)config)->strip;
  int tn = sp->tn, threads = sp->threads;
  int64_t D = f->D, E = f->E, M = f->M, dp = sp->dp, d4 = sp->d4, passes = sp->passes;
  LType T = p->real;
  const char *variant = pl->variant;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_balanced%s%dx%d", L->s->model, tg->name, strip ? "_strips" : "", tn, mb));
  k->what = arena_printf(&p->arena, "%s [%s: warps of 32 events x 16 columns per pass, %lld passes%s%s]",
                         stmt_text(L, st), variant, (long long)passes, qf->upper ? " ending at the triangle" : "",
                         strip ? ", W staged a pass at a time" : "");
  event_tile_grid(p, k, tn, mb, M, threads);
  LStmt *body = k->body;
  int xs = kernel_shared(p, k, "x", T, dp * tn), as = strip ? xs : kernel_shared(p, k, "centered", T, dp * tn),
      ws = kernel_shared(p, k, "w", T, strip ? dp * 16 : dp * dp), ms = kernel_shared(p, k, "mu", T, dp),
      ls = kernel_shared(p, k, "out", T, tn * mb);
  LaneShape sh = {.cln = 4, .tn = tn, .mb = mb, .threads = threads, .xs = xs, .ls = ls, .rows = dp, .D = D, .M = M};
  Lanes lv;
  lanes_begin(L, k, st, qf, cf, &sh, &lv);
  int tid = lv.tid, warp = lv.warp, el = lv.evl, cl = lv.cl, m0 = lv.m0, vm = lv.vm, vd = lv.vd, ve = lv.ve,
      flat = lv.flat, s;
  Env env = lv.env;
  int mm;
  LStmt *cm = estep_components(L, k, body, m0, vm, mb, M, &mm);
  /* W and mu of the component, zero-padded */
  if (!strip) {
    LStmt *lw = emit_loop(L, k, cm, "stage_w", I(0), I((dp * dp + threads - 1) / threads), &s);
    ls_append(p, lw, ls_assign(p, flat, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(threads)))));
    ls_append(p, lw, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(dp))));
    ls_append(p, lw, ls_assign(p, ve, BIN(LB_REM, V(flat), I(dp))));
    estep_stage_w(L, k, lw, qf, &env, ws, flat, vd, ve, D, E);
  }
  if (strip) { /* dp may exceed the threads */
    LStmt *lm = emit_strided(L, k, cm, "stage_mu", dp, threads, tid, flat);
    estep_stage_mu(L, k, lm, cf, ms, flat, vm, vd, D);
  } else {
    LStmt *lm = ls_when(p, cm, BIN(LB_LT, V(tid), I(dp)));
    estep_stage_mu(L, k, lm, cf, ms, tid, vm, vd, D);
  }
  ls_append(p, cm, ls_sync(p));
  /* x - mu for the component, four events at a time */
  if (!strip) {
    LStmt *lc = emit_loop(L, k, cm, "center", I(0), I((tn * dp / 4 + threads - 1) / threads), &s);
    ls_append(p, lc, ls_assign(p, flat, BIN(LB_MUL, BIN(LB_ADD, V(tid), BIN(LB_MUL, V(s), I(threads))), I(4))));
    LStmt *inc = ls_when(p, lc, BIN(LB_LT, V(flat), I(tn * dp)));
    int mu = kernel_var(p, k, "mu_d", T);
    ls_append(p, inc, ls_assign(p, mu, lx_sload(p, k, ms, BIN(LB_DIV, V(flat), I(tn)))));
    for (int u = 0; u < 4; u++)
      ls_append(p, inc,
                ls_sstore(p, k, as, BIN(LB_ADD, V(flat), I(u)),
                          BIN(LB_SUB, lx_sload(p, k, xs, BIN(LB_ADD, V(flat), I(u))), V(mu))));
    ls_append(p, cm, ls_sync(p));
  }
  /* passes over 16 columns each */
  int q[4], y[16], av[4], wv[4];
  for (int r = 0; r < 4; r++) {
    q[r] = kernel_var(p, k, arena_printf(&p->arena, "q%d", r), T);
    ls_append(p, cm, ls_assign(p, q[r], lx_const(p, T, 0)));
  }
  LExpr *evbase = BIN(LB_ADD, BIN(LB_MUL, V(warp), I(32)), BIN(LB_MUL, V(el), I(4)));
  for (int64_t h = 0; h < passes; h++) {
    for (int r = 0; r < 16; r++) {
      y[r] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d", r / 4, r % 4), T);
      ls_append(p, cm, ls_assign(p, y[r], lx_const(p, T, 0)));
    }
    int64_t rows = qf->upper ? ((h + 1) * 16 < d4 ? (h + 1) * 16 : d4) : d4;
    if (strip) { /* this pass's columns of W, once the previous pass has read its own */
      if (h) ls_append(p, cm, ls_sync(p));
      LStmt *lw = emit_strided(L, k, cm, "stage_w", dp * 16, threads, tid, flat);
      ls_append(p, lw, ls_assign(p, vd, BIN(LB_DIV, V(flat), I(16))));
      ls_append(p, lw, ls_assign(p, ve, BIN(LB_ADD, I(h * 16), BIN(LB_REM, V(flat), I(16)))));
      estep_stage_w(L, k, lw, qf, &env, ws, flat, vd, ve, D, E);
      ls_append(p, cm, ls_sync(p));
    }
    int d4v;
    LStmt *kd = emit_loop(L, k, cm, "d", I(0), I(rows / 4), &d4v);
    for (int u = 0; u < 4; u++) {
      LExpr *d = BIN(LB_ADD, BIN(LB_MUL, V(d4v), I(4)), I(u));
      int mu = -1;
      if (strip) {
        mu = kernel_var(p, k, "mu_d", T);
        ls_append(p, kd, ls_assign(p, mu, lx_sload(p, k, ms, d)));
      }
      for (int r = 0; r < 4; r++) {
        av[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
        LExpr *a = lx_sload(p, k, as, BIN(LB_ADD, BIN(LB_MUL, d, I(tn)), BIN(LB_ADD, evbase, I(r))));
        ls_append(p, kd, ls_assign(p, av[r], strip ? BIN(LB_SUB, a, V(mu)) : a));
      }
      for (int c = 0; c < 4; c++) {
        wv[c] = kernel_var(p, k, arena_printf(&p->arena, "w%d", c), T);
        LExpr *col = BIN(LB_ADD, I(strip ? c : h * 16 + c), BIN(LB_MUL, V(cl), I(4)));
        ls_append(p, kd,
                  ls_assign(p, wv[c], lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, d, I(strip ? 16 : dp)), col))));
      }
      for (int r = 0; r < 16; r++)
        ls_append(p, kd, ls_assign(p, y[r], BIN(LB_ADD, V(y[r]), BIN(LB_MUL, V(av[r / 4]), V(wv[r % 4])))));
    }
    for (int r = 0; r < 4; r++)
      for (int c = 0; c < 4; c++)
        ls_append(p, cm, ls_assign(p, q[r], BIN(LB_ADD, V(q[r]), BIN(LB_MUL, V(y[r * 4 + c]), V(y[r * 4 + c])))));
  }
  lanes_finish(L, k, st, qf, &lv, &sh, cm, q, 4, evbase, mm);
}

int match_estep(Lower *L, const Site *site, void *form) {
  Stmt *st = site->st;
  Target *tg = &st->targets[0];
  Tensor *t = tg->tensor;
  EstepForm *f = form;
  if (t->kind != TK_TEMP || tg->nidx != 2 || t->elem != VT_REAL) return 0;
  f->nid = tg->idx[0].id, f->mid = tg->idx[1].id;
  if (spec_index(L->s, f->nid)->size != L->s->event_size) return 0;
  if (!find_quadform(st->rhs, f->nid, &f->qf)) return 0;
  /* the events' data tensor, for staging (the first: optional data, the weights, come after) */
  f->data = NULL;
  for (int i = 0; i < L->s->tensors.len && !f->data; i++)
    if (spec_tensor(L->s, i)->kind == TK_DATA && !spec_tensor(L->s, i)->optional) f->data = spec_tensor(L->s, i);
  f->D = index_extent(L, f->qf.d), f->E = index_extent(L, f->qf.e), f->M = index_extent(L, f->mid);
  f->centered = centered_form(&f->qf, f->nid, f->mid, &f->cf);
  return 1;
}

int match_estep_centered(Lower *L, const Site *site, void *form) {
  return match_estep(L, site, form) && ((EstepForm *)form)->centered;
}

int estep_esz(Lower *L) { return L->p->real == LT_F64 ? 8 : 4; }

double estep_pass_madds(const EstepForm *f, int64_t passes, int64_t width, int64_t d4) {
  double madds = 0;
  for (int64_t h = 0; h < passes; h++) {
    int64_t rows = f->qf.upper ? ((h + 1) * width < d4 ? (h + 1) * width : d4) : d4;
    madds += (double)rows * width;
  }
  return madds;
}

Work estep_work(Lower *L, const EstepForm *f, int64_t tn, int64_t mb, int x_per_component, double madds, int r, int c) {
  /* per event: the data (once per block, or per component), W once per
   * component of every block of tn events, the output */
  double M = (double)f->M, esz = estep_esz(L);
  double x = (double)f->D * esz * (x_per_component ? M : (double)ceil_div(f->M, mb));
  double w = (double)ceil_div(f->M, mb) * (double)mb * (double)(f->D * f->E) * esz / (double)tn;
  double fmas = M * madds;
  return (Work){.bytes_per_event = x + w + M * esz,
                .shared_per_event = x + w + fmas * (r + c) / ((double)r * c) * esz,
                .fmas_per_event = fmas,
                .launches = 1};
}

static const BalancedConfig balanced_configs[] = {{4, 16, 0}, {2, 32, 0}, {2, 16, 1}, {1, 16, 1}};
static const CenteredConfig centered_configs[] = {{128, 16}, {128, 32}, {64, 32}, {256, 8}};
static const TiledConfig tiled_configs[] = {{128, 16, 1}, {64, 32, 0}};

const VariantFamily family_balanced = {.name = "balanced",
                                       .site = SITE_MAP,
                                       .fast32 = 1,
                                       .match = match_estep_centered,
                                       .configs = balanced_configs,
                                       .nconfigs = sizeof balanced_configs / sizeof *balanced_configs,
                                       .config_size = sizeof *balanced_configs,
                                       .plan = plan_balanced,
                                       .build = build_balanced};

const VariantFamily family_centered = {.name = "centered",
                                       .site = SITE_MAP,
                                       .fast32 = 1,
                                       .match = match_estep_centered,
                                       .configs = centered_configs,
                                       .nconfigs = sizeof centered_configs / sizeof *centered_configs,
                                       .config_size = sizeof *centered_configs,
                                       .plan = plan_centered,
                                       .build = build_centered};

const VariantFamily family_estep_tiled = {.name = "estep-tiled",
                                          .site = SITE_MAP,
                                          .fast32 = 1,
                                          .match = match_estep,
                                          .configs = tiled_configs,
                                          .nconfigs = sizeof tiled_configs / sizeof *tiled_configs,
                                          .config_size = sizeof *tiled_configs,
                                          .plan = plan_tiled,
                                          .build = build_tiled};
