/* Host variants of the per-event maps that are not E-steps (variant.h):
 *
 *   rows-TN     T[n, j] = f(n, j) with no reduction of its own (the
 *               responsibilities R[n, m] = exp(L[n, m] - lse[n])): a work
 *               item takes TN events and runs over j inside each, so the
 *               loop over j reads L's row contiguously and vectorizes at the
 *               CPU's width, exp included (math_ir.c's exp is plain IR).
 *               The simple kernel's item is one (n, j), and the vectorizer
 *               gathers across its flat index.
 *   lanes-TN    T[n] = g(logsumexp(j, f(n, j))) (the log-likelihood per
 *               event): a work item takes TN events, evaluates f once into
 *               a j-major array, then takes the maximum, the sum of
 *               exp(f - max) and the log for all TN events at once: the
 *               loops over the events vectorize, exp and log with them,
 *               and each event's sum still runs over j in order.
 *   lanes-TN    T[n] = argmin(j, f(n, j)) or argmax (k-means' labels,
 *               predict's): the same staging, then the running best value
 *               and its index per lane, j ascending, a strict comparison
 *               (the first extremum wins) with selects in place of the
 *               simple kernel's branch, which the vectorizer cannot widen.
 *
 * Both compute every value with the simple kernel's operations in its
 * order (the maximum is exact in any order; each sum takes its terms in
 * order), so they give its bits (docs/limits.md, "Reproducibility";
 * codegen_host_variants checks it). Not priced: the autotuner measures. */
#include <math.h>

#include "kernel_build.h"
#include "variant.h"

/* Reductions of e that are not hoisted over the events (those are loads of
 * their statistic). */
static int local_reductions(Lower *L, const Expr *e) {
  if (!e) return 0;
  if (e->kind == E_REDUCE && find_hoisted(L, e)) return 0;
  int n = e->kind == E_REDUCE;
  for (int i = 0; i < e->nargs; i++) n += local_reductions(L, e->args[i]);
  return n;
}

/* A per-event target T[n, ...] of reals, dense. */
static int event_target(Lower *L, const Stmt *st, int nidx) {
  const Target *tg = &st->targets[0];
  const Tensor *t = tg->tensor;
  return tg->nidx == nidx && t->kind == TK_TEMP && t->elem == VT_REAL && t->structure == ST_NONE &&
         spec_index(L->s, tg->idx[0].id)->size == L->s->event_size;
}

typedef struct {
  int tn; /* events per work item */
} RowsConfig;

static int match_rows(Lower *L, const Site *site, void *form) {
  (void)form;
  return event_target(L, site->st, 2) && local_reductions(L, site->st->rhs) == 0;
}

static int plan_rows(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site, (void)form;
  pl->variant = arena_printf(&L->p->arena, "rows-%d", ((const RowsConfig *)config)->tn);
  return 1; /* not priced */
}

static void build_rows(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)form, (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  Target *tg = &st->targets[0];
  int tn = ((const RowsConfig *)config)->tn;
  int nid = tg->idx[0].id, jid = tg->idx[1].id;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_rows%d", L->s->model, tg->name, tn));
  k->what = arena_printf(&p->arena, "%s [%s: %d events per item, a row at a time]", stmt_text(L, st), pl->variant, tn);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  int n0 = kernel_var(p, k, "first_event", LT_I64), n1 = kernel_var(p, k, "last_event", LT_I64);
  ls_append(p, k->body, ls_assign(p, n0, BIN(LB_MUL, V(k->pvar), I(tn))));
  ls_append(p, k->body, ls_assign(p, n1, BIN(LB_MIN, BIN(LB_ADD, V(n0), I(tn)), lx_nlocal(p))));
  Env env;
  env_init(&env);
  int vn, vj;
  LStmt *ln = emit_loop(L, k, k->body, spec_index(L->s, nid)->name, V(n0), V(n1), &vn);
  LStmt *lj = emit_loop(L, k, ln, spec_index(L->s, jid)->name, I(0), I(index_extent(L, jid)), &vj);
  env.var[nid] = vn, env.var[jid] = vj;
  LExpr *v = lower_expr(L, k, lj, st->rhs, &env);
  LExpr **idx = idx_vec(p, 2);
  idx[0] = V(vn), idx[1] = V(vj);
  ls_append(p, lj, ls_store(p, p->tensor_buf[tg->tensor->id], idx, v));
}

static const RowsConfig rows_configs[] = {{16}};

const VariantFamily family_host_rows = {.name = "host-rows",
                                        .site = SITE_MAP,
                                        .host = 1,
                                        .match = match_rows,
                                        .configs = rows_configs,
                                        .nconfigs = sizeof rows_configs / sizeof *rows_configs,
                                        .config_size = sizeof *rows_configs,
                                        .plan = plan_rows,
                                        .build = build_rows};

typedef struct {
  int tn; /* events per work item */
} LanesConfig;

enum { LANES_MAX_VALUES = 8192 }; /* f's values an item keeps: 32 KiB of float32 */

static int match_lanes(Lower *L, const Site *site, void *form) { return match_event_lse(L, site->st, form); }

/* lanes-TN where the item's J x TN values fit */
static int plan_lanes_of(Lower *L, int64_t J, const void *config, Plan *pl) {
  int tn = ((const LanesConfig *)config)->tn;
  if (J * tn > LANES_MAX_VALUES) return 0;
  pl->variant = arena_printf(&L->p->arena, "lanes-%d", tn);
  return 1; /* not priced */
}

static int plan_lanes(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  return plan_lanes_of(L, ((const EventLse *)form)->J, config, pl);
}

/* The lanes kernel of target tg: an item per TN events (first_event *n0,
 * the variable *vn for an event), f(n, j) for them staged j-major (the last
 * event again past the end) in an array of the statement's type, *vals. */
static Kernel *begin_lanes(Lower *L, const Site *site, const Target *tg, const Plan *pl, int tn, int nid, int jid,
                           int64_t J, Expr *f, int *n0, int *vn, int *vals) {
  Program *p = L->p;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_lanes%d", L->s->model, tg->name, tn));
  k->what =
      arena_printf(&p->arena, "%s [%s: %d events per item, one lane each]", stmt_text(L, site->st), pl->variant, tn);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  *n0 = kernel_var(p, k, "first_event", LT_I64), *vn = kernel_var(p, k, "event", LT_I64);
  ls_append(p, k->body, ls_assign(p, *n0, BIN(LB_MUL, V(k->pvar), I(tn))));
  *vals = kernel_shared(p, k, "values", L->rt, J * tn);
  int nn, vj;
  Env env;
  env_init(&env);
  LStmt *ln = emit_loop(L, k, k->body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_assign(p, *vn, BIN(LB_MIN, BIN(LB_ADD, V(*n0), V(nn)), BIN(LB_SUB, lx_nlocal(p), I(1)))));
  LStmt *lj = emit_loop(L, k, ln, spec_index(L->s, jid)->name, I(0), I(J), &vj);
  env.var[nid] = *vn, env.var[jid] = vj;
  LExpr *cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  ls_append(p, lj, ls_sstore(p, k, *vals, cell, lx_cast(p, L->rt, lower_expr(L, k, lj, f, &env))));
  return k;
}

static void build_lanes(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const EventLse *f = form;
  Target *tg = f->tg;
  Expr *red = f->red;
  int tn = ((const LanesConfig *)config)->tn, nid = f->nid, jid = f->jid;
  int64_t J = f->J;
  LType rt = L->rt;
  const char *jname = spec_index(L->s, jid)->name;
  int n0, vn, vals;
  Kernel *k = begin_lanes(L, site, tg, pl, tn, nid, jid, J, red->args[0], &n0, &vn, &vals);
  LStmt *body = k->body;
  int mx = kernel_shared(p, k, "max", rt, tn), sum = kernel_shared(p, k, "sumexp", rt, tn),
      shift = kernel_shared(p, k, "shift", rt, tn);
  int nn, vj;
  LStmt *ln, *lj;
  LExpr *cell;
  /* the maximum, as the simple kernel takes it (max(acc, v), j ascending) */
  LStmt *lz = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, lz, ls_sstore(p, k, mx, V(nn), lx_const(p, rt, -INFINITY)));
  ls_append(p, lz, ls_sstore(p, k, sum, V(nn), lx_const(p, rt, 0.0)));
  lj = emit_loop(L, k, body, jname, I(0), I(J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  ls_append(p, ln, ls_sstore(p, k, mx, V(nn), BIN(LB_MAX, lx_sload(p, k, mx, V(nn)), lx_sload(p, k, vals, cell))));
  /* all -inf: the shift is 0 and the result -inf, not NaN */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  LExpr *isinf = BIN(LB_EQ, lx_sload(p, k, mx, V(nn)), lx_const(p, rt, -INFINITY));
  ls_append(p, ln, ls_sstore(p, k, shift, V(nn), lx_select(p, isinf, lx_const(p, rt, 0.0), lx_sload(p, k, mx, V(nn)))));
  /* the sum of exp(f - shift), j ascending for each event */
  lj = emit_loop(L, k, body, jname, I(0), I(J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  LExpr *term = lx_unary(p, LU_EXP, BIN(LB_SUB, lx_sload(p, k, vals, cell), lx_sload(p, k, shift, V(nn))));
  ls_append(p, ln, ls_sstore(p, k, sum, V(nn), BIN(LB_ADD, lx_sload(p, k, sum, V(nn)), term)));
  /* the result of the events that exist */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  LStmt *live = ls_when(p, ln, BIN(LB_LT, V(vn), lx_nlocal(p)));
  isinf = BIN(LB_EQ, lx_sload(p, k, mx, V(nn)), lx_const(p, rt, -INFINITY));
  LExpr *v = lx_select(p, isinf, lx_const(p, rt, -INFINITY),
                       BIN(LB_ADD, lx_sload(p, k, mx, V(nn)), lx_unary(p, LU_LOG, lx_sload(p, k, sum, V(nn)))));
  LExpr **idx = idx_vec(p, 1);
  idx[0] = V(vn);
  ls_append(p, live, ls_store(p, p->tensor_buf[tg->tensor->id], idx, v));
}

static const LanesConfig lanes_configs[] = {{32}};

const VariantFamily family_host_lanes = {.name = "host-lanes",
                                         .site = SITE_MAP,
                                         .host = 1,
                                         .match = match_lanes,
                                         .configs = lanes_configs,
                                         .nconfigs = sizeof lanes_configs / sizeof *lanes_configs,
                                         .config_size = sizeof *lanes_configs,
                                         .plan = plan_lanes,
                                         .build = build_lanes};

/* T[n] = argmin(j, f(n, j)) or argmax: a per-event target, the whole
 * right-hand side one such reduction over an index other than the events'
 * (always its full range), f without reductions of its own. */
typedef struct {
  Target *tg;
  Expr *red;
  int nid, jid;
  int64_t J;
} EventArg;

static int match_arg(Lower *L, const Site *site, void *form) {
  const Stmt *st = site->st;
  Target *tg = &st->targets[0];
  const Tensor *t = tg->tensor;
  Expr *r = st->rhs;
  if (tg->nidx != 1 || t->kind != TK_TEMP || t->structure != ST_NONE ||
      spec_index(L->s, tg->idx[0].id)->size != L->s->event_size)
    return 0;
  if (r->kind != E_REDUCE || (r->op != R_ARGMIN && r->op != R_ARGMAX) ||
      spec_index(L->s, r->red.id)->size == L->s->event_size || local_reductions(L, r->args[0]))
    return 0;
  *(EventArg *)form = (EventArg){tg, r, tg->idx[0].id, r->red.id, index_extent(L, r->red.id)};
  return 1;
}

static int plan_arg(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  return plan_lanes_of(L, ((const EventArg *)form)->J, config, pl);
}

static void build_arg(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const EventArg *f = form;
  int tn = ((const LanesConfig *)config)->tn, nid = f->nid, jid = f->jid, argmin = f->red->op == R_ARGMIN;
  LType rt = L->rt;
  const char *jname = spec_index(L->s, jid)->name;
  int n0, vn, vals;
  Kernel *k = begin_lanes(L, site, f->tg, pl, tn, nid, jid, f->J, f->red->args[0], &n0, &vn, &vals);
  LStmt *body = k->body;
  int best = kernel_shared(p, k, "best", rt, tn), at = kernel_shared(p, k, argmin ? "argmin" : "argmax", LT_I64, tn);
  int nn, vj;
  LStmt *ln, *lj;
  LExpr *cell;
  /* the simple kernel's start: +-inf at index 0 */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_sstore(p, k, best, V(nn), lx_const(p, rt, argmin ? INFINITY : -INFINITY)));
  ls_append(p, ln, ls_sstore(p, k, at, V(nn), I(0)));
  /* j ascending, strictly better replaces (NaN never does), as selects */
  lj = emit_loop(L, k, body, jname, I(0), I(f->J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  int cand = kernel_var(p, k, "candidate", rt), better = kernel_var(p, k, "better", LT_BOOL);
  ls_append(p, ln, ls_assign(p, cand, lx_sload(p, k, vals, cell)));
  ls_append(p, ln, ls_assign(p, better, BIN(argmin ? LB_LT : LB_GT, V(cand), lx_sload(p, k, best, V(nn)))));
  ls_append(p, ln, ls_sstore(p, k, best, V(nn), lx_select(p, V(better), V(cand), lx_sload(p, k, best, V(nn)))));
  ls_append(p, ln, ls_sstore(p, k, at, V(nn), lx_select(p, V(better), V(vj), lx_sload(p, k, at, V(nn)))));
  /* the result of the events that exist */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  LStmt *live = ls_when(p, ln, BIN(LB_LT, V(vn), lx_nlocal(p)));
  LExpr **idx = idx_vec(p, 1);
  idx[0] = V(vn);
  ls_append(p, live, ls_store(p, p->tensor_buf[f->tg->tensor->id], idx, lx_sload(p, k, at, V(nn))));
}

const VariantFamily family_host_arg = {.name = "host-arg",
                                       .site = SITE_MAP,
                                       .host = 1,
                                       .match = match_arg,
                                       .configs = lanes_configs,
                                       .nconfigs = sizeof lanes_configs / sizeof *lanes_configs,
                                       .config_size = sizeof *lanes_configs,
                                       .plan = plan_arg,
                                       .build = build_arg};
