/* GPU variant of a per-event reduction over the components (variant.h):
 *
 *   rows-G   T[n] = logsumexp(j, f(n, j)) (the log-likelihood per event):
 *            G lanes of a warp take one event and stride over j, so that a
 *            warp reads G consecutive values of a row of L[n, j] at a time
 *            (the simple kernel's thread takes a whole row, its warp 32 rows
 *            at once: one sector per value read, and at J = 1024 the rows
 *            no longer stay in the cache between the two passes). Each lane
 *            takes the maximum of its values, the lanes exchange theirs
 *            (shuffles), then the same for the sum of exp(f - max).
 *
 * The maximum is exact in any order; the sum's terms are added in another
 * order than the simple kernel's (per lane, then across lanes), so the
 * result agrees with it to rounding (test_variants). */
#include <math.h>

#include "kernel_build.h"
#include "variant.h"

typedef struct {
  int lanes; /* lanes per event: a power of two up to 32 */
} RowsConfig;

enum { ROWS_THREADS = 256 };

static int match_rows(Lower *L, const Site *site, void *form) { return match_event_lse(L, site->st, form); }

static int plan_rows(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  int g = ((const RowsConfig *)config)->lanes;
  int64_t J = ((const EventLse *)form)->J;
  /* the widest group the row fills (the others would idle lanes or take more passes) */
  if (g != (J >= 32 ? 32 : J >= 8 ? 8 : 4)) return 0;
  pl->variant = arena_printf(&L->p->arena, "rows-%d", g);
  double esz = L->p->real == LT_F64 ? 8 : 4, j = (double)J;
  /* the row read twice, the second time from the cache: once from memory */
  pl->work = (Work){.bytes_per_event = j * esz + esz, .fmas_per_event = 4 * j, .launches = 1};
  return 1;
}

/* The lanes' values combined: for each distance x < lanes, v = op(v, v of the lane x away). */
static void across_lanes(Program *p, Kernel *k, LStmt *blk, int v, int lanes, LBinOp op) {
  for (int x = lanes / 2; x >= 1; x /= 2) ls_append(p, blk, ls_assign(p, v, BIN(op, V(v), lx_shfl_xor(p, V(v), x))));
}

/* One pass over the lane's values of j: acc = op(acc, value(f)) for each. */
static void lane_pass(Lower *L, Kernel *k, LStmt *body, const Expr *fexpr, Env *env, int jid, int lane, int lanes,
                      int64_t J, int acc, LBinOp op, int shift) {
  Program *p = L->p;
  int t, vj = kernel_var(p, k, arena_printf(&p->arena, "%s_of_lane", spec_index(L->s, jid)->name), LT_I64);
  LStmt *lt = emit_loop(L, k, body, "stride", I(0), I(ceil_div(J, lanes)), &t);
  ls_append(p, lt, ls_assign(p, vj, BIN(LB_ADD, BIN(LB_MUL, V(t), I(lanes)), V(lane))));
  LStmt *in = ls_when(p, lt, BIN(LB_LT, V(vj), I(J)));
  env->var[jid] = vj;
  LExpr *v = lx_cast(p, L->rt, lower_expr(L, k, in, (Expr *)fexpr, env));
  if (shift >= 0) v = lx_unary(p, LU_EXP, BIN(LB_SUB, v, V(shift)));
  ls_append(p, in, ls_assign(p, acc, BIN(op, V(acc), v)));
}

int event_lse_lanes(Lower *L, Kernel *k, LStmt *body, const EventLse *f, Env *env, int lane, int lanes) {
  Program *p = L->p;
  LType rt = L->rt;
  int jid = f->jid;
  int64_t J = f->J;
  int mx = kernel_var(p, k, "max_of_lane", rt), sum = kernel_var(p, k, "sumexp_of_lane", rt);
  int shift = kernel_var(p, k, "shift", rt);
  ls_append(p, body, ls_assign(p, mx, lx_const(p, rt, -INFINITY)));
  lane_pass(L, k, body, f->red->args[0], env, jid, lane, lanes, J, mx, LB_MAX, -1);
  across_lanes(p, k, body, mx, lanes, LB_MAX);
  /* all -inf: the shift is 0 and the result -inf, not NaN (as the simple kernel) */
  LExpr *isinf = BIN(LB_EQ, V(mx), lx_const(p, rt, -INFINITY));
  ls_append(p, body, ls_assign(p, shift, lx_select(p, isinf, lx_const(p, rt, 0.0), V(mx))));
  ls_append(p, body, ls_assign(p, sum, lx_const(p, rt, 0.0)));
  lane_pass(L, k, body, f->red->args[0], env, jid, lane, lanes, J, sum, LB_ADD, shift);
  across_lanes(p, k, body, sum, lanes, LB_ADD);
  int value = kernel_var(p, k, "lse_value", rt);
  isinf = BIN(LB_EQ, V(mx), lx_const(p, rt, -INFINITY));
  ls_append(
      p, body,
      ls_assign(p, value,
                lx_select(p, isinf, lx_const(p, rt, -INFINITY), BIN(LB_ADD, V(mx), lx_unary(p, LU_LOG, V(sum))))));
  return value;
}

static void build_rows(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const EventLse *f = form;
  Target *tg = f->tg;
  int lanes = ((const RowsConfig *)config)->lanes, per_block = ROWS_THREADS / lanes;
  int nid = f->nid;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_rows%d", L->s->model, tg->name, lanes));
  k->what = arena_printf(&p->arena, "%s [%s: %d lanes per event, %d events per block]", stmt_text(L, site->st),
                         pl->variant, lanes, per_block);
  k->launch = LAUNCH_GRID;
  k->grid[0] = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(per_block - 1)), I(per_block));
  k->grid[1] = I(1);
  k->block[0] = ROWS_THREADS;
  k->block[1] = 1;
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), lane = kernel_var(p, k, "lane", LT_I64);
  int ev = kernel_var(p, k, "event_of_group", LT_I64), vn = kernel_var(p, k, "event", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, lane, BIN(LB_REM, V(tid), I(lanes))));
  ls_append(
      p, body,
      ls_assign(p, ev, BIN(LB_ADD, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(per_block)), BIN(LB_DIV, V(tid), I(lanes)))));
  /* past the last event a group reads the last one again: every lane takes part in the shuffles */
  ls_append(p, body, ls_assign(p, vn, BIN(LB_MIN, V(ev), BIN(LB_SUB, lx_nlocal(p), I(1)))));
  Env env;
  env_init(&env);
  env.var[nid] = vn;
  int value = event_lse_lanes(L, k, body, f, &env, lane, lanes);
  LStmt *live = ls_when(p, body, BIN(LB_AND, BIN(LB_EQ, V(lane), I(0)), BIN(LB_LT, V(ev), lx_nlocal(p))));
  LExpr **idx = idx_vec(p, 1);
  idx[0] = V(ev);
  ls_append(p, live, ls_store(p, p->tensor_buf[tg->tensor->id], idx, V(value)));
}

/* 32 lanes for long rows (J = 1024: 32 coalesced passes), 8 and 4 for the
 * short ones of the seed's sizes (J = 8, 16); one of them per J */
static const RowsConfig rows_configs[] = {{32}, {8}, {4}};

const VariantFamily family_rows = {.name = "rows",
                                   .site = SITE_MAP,
                                   .match = match_rows,
                                   .configs = rows_configs,
                                   .nconfigs = sizeof rows_configs / sizeof *rows_configs,
                                   .config_size = sizeof *rows_configs,
                                   .plan = plan_rows,
                                   .build = build_rows};
