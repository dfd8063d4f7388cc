/* Host variants of the per-event maps that are not E-steps, and of sums
 * over events of a per-event reduction (variant.h):
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
 *   rows-W      S = sum(n, g(n, min(j, f(n, j)))) or max (k-means'
 *               inertia: the simple kernel's per-event minimum is a
 *               latency-bound scalar chain): the simple kernel's chunks,
 *               each event's row read in W running values and a tree, the
 *               terms added in its order.
 *   lanes-TN    the same sum of a logsumexp: lanes-TN's staging and lanes.
 *
 * All compute every value with the simple kernel's operations in its
 * order (an extremum's value is exact in any order, and rows-W takes a
 * zero again in order; each sum takes its terms in order), so they give
 * its bits (docs/limits.md, "Reproducibility";
 * codegen_host_variants checks it). Not priced: the autotuner measures. */
#include <math.h>

#include "kernel_build.h"
#include "variant.h"
#include "variants_host_rows.h"

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
  int tn;   /* events per work item */
  int wide; /* vectors of the CPU's native width (TargetDesc.vector_bytes) */
} RowsConfig;

/* A wide configuration exists where the CPU's vectors are wider than the
 * 256 bits LLVM prefers on AVX-512 CPUs: exp-bound maps (R, logsumexp) run
 * 1.3-1.5x faster at 512 bits on the development Xeon, the E-step and the
 * sums over events do not (docs/performance.md, issue 17, ninth part). */
static int wide_ok(Lower *L, int wide) { return !wide || host_native_vector_bytes(L); }

/* " [w64]"-style suffixes: the wide kernel's name and variant */
static const char *wide_tag(Lower *L, int wide, const char *sep) {
  return wide ? arena_printf(&L->p->arena, "%sw%d", sep, L->dev.vector_bytes) : "";
}

static int match_rows(Lower *L, const Site *site, void *form) {
  (void)form;
  return event_target(L, site->st, 2) && local_reductions(L, site->st->rhs) == 0;
}

static int plan_rows(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site, (void)form;
  const RowsConfig *c = config;
  if (!wide_ok(L, c->wide)) return 0;
  pl->variant = arena_printf(&L->p->arena, "rows-%d%s", c->tn, wide_tag(L, c->wide, "-"));
  return 1; /* not priced */
}

static void build_rows(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)form, (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  Target *tg = &st->targets[0];
  const RowsConfig *c = config;
  int tn = c->tn;
  int nid = tg->idx[0].id, jid = tg->idx[1].id;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_rows%d%s", L->s->model, tg->name, tn, wide_tag(L, c->wide, "")));
  k->vector_bytes = c->wide ? L->dev.vector_bytes : 0;
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

static const RowsConfig rows_configs[] = {{16, 0}, {16, 1}};

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
  int tn;   /* events per work item */
  int wide; /* as RowsConfig's */
} LanesConfig;

enum { LANES_MAX_VALUES = 8192 }; /* f's values an item keeps: 32 KiB of float32 */

static int match_lanes(Lower *L, const Site *site, void *form) { return match_event_lse(L, site->st, form); }

/* lanes-TN where the item's J x TN values fit */
static int plan_lanes_of(Lower *L, int64_t J, int tn, Plan *pl) {
  if (J * tn > LANES_MAX_VALUES) return 0;
  pl->variant = arena_printf(&L->p->arena, "lanes-%d", tn);
  return 1; /* not priced */
}

static int plan_lanes(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const LanesConfig *c = config;
  if (!wide_ok(L, c->wide) || !plan_lanes_of(L, ((const EventLse *)form)->J, c->tn, pl)) return 0;
  if (c->wide) pl->variant = arena_printf(&L->p->arena, "%s%s", pl->variant, wide_tag(L, 1, "-"));
  return 1;
}

/* f(n, j) for the tn events from variable n0 (vn: the event, the last one
 * again past the end) staged j-major in a new array of L->rt, returned. */
static int stage_lanes(Lower *L, Kernel *k, LStmt *block, int n0, int vn, int tn, int nid, int jid, int64_t J,
                       Expr *f) {
  Program *p = L->p;
  int vals = kernel_shared(p, k, "values", L->rt, J * tn);
  int nn, vj;
  Env env;
  env_init(&env);
  LStmt *ln = emit_loop(L, k, block, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_assign(p, vn, BIN(LB_MIN, BIN(LB_ADD, V(n0), V(nn)), BIN(LB_SUB, lx_nlocal(p), I(1)))));
  LStmt *lj = emit_loop(L, k, ln, spec_index(L->s, jid)->name, I(0), I(J), &vj);
  env.var[nid] = vn, env.var[jid] = vj;
  LExpr *cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  ls_append(p, lj, ls_sstore(p, k, vals, cell, lx_cast(p, L->rt, lower_expr(L, k, lj, f, &env))));
  return vals;
}

/* The lanes kernel of target tg: an item per TN events (first_event *n0,
 * the variable *vn for an event), f(n, j) for them staged (stage_lanes) in
 * *vals. */
static Kernel *begin_lanes(Lower *L, const Site *site, const Target *tg, const Plan *pl, const LanesConfig *c, int nid,
                           int jid, int64_t J, Expr *f, int *n0, int *vn, int *vals) {
  Program *p = L->p;
  int tn = c->tn;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_lanes%d%s", L->s->model, tg->name, tn, wide_tag(L, c->wide, "")));
  k->vector_bytes = c->wide ? L->dev.vector_bytes : 0;
  k->what =
      arena_printf(&p->arena, "%s [%s: %d events per item, one lane each]", stmt_text(L, site->st), pl->variant, tn);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  *n0 = kernel_var(p, k, "first_event", LT_I64), *vn = kernel_var(p, k, "event", LT_I64);
  ls_append(p, k->body, ls_assign(p, *n0, BIN(LB_MUL, V(k->pvar), I(tn))));
  *vals = stage_lanes(L, k, k->body, *n0, *vn, tn, nid, jid, J, f);
  return k;
}

int host_lanes_reduce(Lower *L, Kernel *k, LStmt *body, int tn, int jid, int64_t J, int vals, RedOp op) {
  Program *p = L->p;
  LType rt = L->rt;
  const char *jname = spec_index(L->s, jid)->name;
  int mn = op == R_MIN, best = kernel_shared(p, k, mn ? "min" : "max", rt, tn);
  int nn, vj;
  LStmt *ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_sstore(p, k, best, V(nn), lx_const(p, rt, mn ? INFINITY : -INFINITY)));
  LStmt *lj = emit_loop(L, k, body, jname, I(0), I(J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  LExpr *cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  ls_append(
      p, ln,
      ls_sstore(p, k, best, V(nn), BIN(mn ? LB_MIN : LB_MAX, lx_sload(p, k, best, V(nn)), lx_sload(p, k, vals, cell))));
  if (op != R_LOGSUMEXP) return best;
  int sum = kernel_shared(p, k, "sumexp", rt, tn), shift = kernel_shared(p, k, "shift", rt, tn),
      lse = kernel_shared(p, k, "logsumexp", rt, tn);
  /* all -inf: the shift is 0 and the result -inf, not NaN */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  LExpr *isinf = BIN(LB_EQ, lx_sload(p, k, best, V(nn)), lx_const(p, rt, -INFINITY));
  ls_append(p, ln,
            ls_sstore(p, k, shift, V(nn), lx_select(p, isinf, lx_const(p, rt, 0.0), lx_sload(p, k, best, V(nn)))));
  ls_append(p, ln, ls_sstore(p, k, sum, V(nn), lx_const(p, rt, 0.0)));
  /* the sum of exp(f - shift), j ascending for each event */
  lj = emit_loop(L, k, body, jname, I(0), I(J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  LExpr *term = lx_unary(p, LU_EXP, BIN(LB_SUB, lx_sload(p, k, vals, cell), lx_sload(p, k, shift, V(nn))));
  ls_append(p, ln, ls_sstore(p, k, sum, V(nn), BIN(LB_ADD, lx_sload(p, k, sum, V(nn)), term)));
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  isinf = BIN(LB_EQ, lx_sload(p, k, best, V(nn)), lx_const(p, rt, -INFINITY));
  ls_append(
      p, ln,
      ls_sstore(p, k, lse, V(nn),
                lx_select(p, isinf, lx_const(p, rt, -INFINITY),
                          BIN(LB_ADD, lx_sload(p, k, best, V(nn)), lx_unary(p, LU_LOG, lx_sload(p, k, sum, V(nn)))))));
  return lse;
}

static void build_lanes(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const EventLse *f = form;
  int tn = ((const LanesConfig *)config)->tn;
  int n0, vn, vals, nn;
  Kernel *k = begin_lanes(L, site, f->tg, pl, config, f->nid, f->jid, f->J, f->red->args[0], &n0, &vn, &vals);
  int lse = host_lanes_reduce(L, k, k->body, tn, f->jid, f->J, vals, R_LOGSUMEXP);
  /* the result of the events that exist */
  LStmt *ln = emit_loop(L, k, k->body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  LStmt *live = ls_when(p, ln, BIN(LB_LT, V(vn), lx_nlocal(p)));
  LExpr **idx = idx_vec(p, 1);
  idx[0] = V(vn);
  ls_append(p, live, ls_store(p, p->tensor_buf[f->tg->tensor->id], idx, lx_sload(p, k, lse, V(nn))));
}

static const LanesConfig lanes_configs[] = {{32, 0}, {32, 1}};
/* argmin/argmax: compares and selects, no exp; one configuration (compile time) */
static const LanesConfig arg_configs[] = {{32, 0}};

const VariantFamily family_host_lanes = {.name = "host-lanes",
                                         .site = SITE_MAP,
                                         .host = 1,
                                         .match = match_lanes,
                                         .configs = lanes_configs,
                                         .nconfigs = sizeof lanes_configs / sizeof *lanes_configs,
                                         .config_size = sizeof *lanes_configs,
                                         .plan = plan_lanes,
                                         .build = build_lanes};

int host_match_event_arg(Lower *L, const Stmt *st, EventArg *f) {
  Target *tg = &st->targets[0];
  const Tensor *t = tg->tensor;
  Expr *r = st->rhs;
  if (tg->nidx != 1 || t->kind != TK_TEMP || t->structure != ST_NONE ||
      spec_index(L->s, tg->idx[0].id)->size != L->s->event_size)
    return 0;
  if (r->kind != E_REDUCE || (r->op != R_ARGMIN && r->op != R_ARGMAX) ||
      spec_index(L->s, r->red.id)->size == L->s->event_size || local_reductions(L, r->args[0]))
    return 0;
  *f = (EventArg){tg, r, tg->idx[0].id, r->red.id, index_extent(L, r->red.id)};
  return 1;
}

static int match_arg(Lower *L, const Site *site, void *form) { return host_match_event_arg(L, site->st, form); }

static int plan_arg(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  return plan_lanes_of(L, ((const EventArg *)form)->J, ((const LanesConfig *)config)->tn, pl);
}

int host_lanes_arg(Lower *L, Kernel *k, LStmt *body, int tn, int jid, int64_t J, int vals, int argmin) {
  Program *p = L->p;
  LType rt = L->rt;
  const char *jname = spec_index(L->s, jid)->name;
  int best = kernel_shared(p, k, "best", rt, tn), at = kernel_shared(p, k, argmin ? "argmin" : "argmax", LT_I64, tn);
  int nn, vj;
  LStmt *ln, *lj;
  LExpr *cell;
  /* the simple kernel's start: +-inf at index 0 */
  ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
  ls_append(p, ln, ls_sstore(p, k, best, V(nn), lx_const(p, rt, argmin ? INFINITY : -INFINITY)));
  ls_append(p, ln, ls_sstore(p, k, at, V(nn), I(0)));
  /* j ascending, strictly better replaces (NaN never does), as selects */
  lj = emit_loop(L, k, body, jname, I(0), I(J), &vj);
  ln = emit_loop(L, k, lj, "nn", I(0), I(tn), &nn);
  cell = BIN(LB_ADD, BIN(LB_MUL, V(vj), I(tn)), V(nn));
  int cand = kernel_var(p, k, "candidate", rt), better = kernel_var(p, k, "better", LT_BOOL);
  ls_append(p, ln, ls_assign(p, cand, lx_sload(p, k, vals, cell)));
  ls_append(p, ln, ls_assign(p, better, BIN(argmin ? LB_LT : LB_GT, V(cand), lx_sload(p, k, best, V(nn)))));
  ls_append(p, ln, ls_sstore(p, k, best, V(nn), lx_select(p, V(better), V(cand), lx_sload(p, k, best, V(nn)))));
  ls_append(p, ln, ls_sstore(p, k, at, V(nn), lx_select(p, V(better), V(vj), lx_sload(p, k, at, V(nn)))));
  return at;
}

static void build_arg(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const EventArg *f = form;
  int tn = ((const LanesConfig *)config)->tn, nn;
  int n0, vn, vals;
  Kernel *k = begin_lanes(L, site, f->tg, pl, config, f->nid, f->jid, f->J, f->red->args[0], &n0, &vn, &vals);
  int at = host_lanes_arg(L, k, k->body, tn, f->jid, f->J, vals, f->red->op == R_ARGMIN);
  /* the result of the events that exist */
  LStmt *ln = emit_loop(L, k, k->body, "nn", I(0), I(tn), &nn);
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
                                       .configs = arg_configs,
                                       .nconfigs = sizeof arg_configs / sizeof *arg_configs,
                                       .config_size = sizeof *arg_configs,
                                       .plan = plan_arg,
                                       .build = build_arg};

/* sum(n, g(n, reduce(j, f(n, j)))) over the events (k-means' inertia), the
 * reduction a min, max or logsumexp over another index, not hoisted (its
 * full range); f reads no free index of the sum (one reduction per event)
 * and has no reduction of its own, the term no other. Not symmetric; a
 * few sums. */
typedef struct {
  Expr *inner;
  int jid;
  int64_t J, elems;
} EventInner;

enum { LANES_SUM_MAX_ELEMS = 16 }; /* the float64 sums an item keeps */

/* The first reduction of e that is not hoisted over the events. */
static Expr *first_local_reduction(Lower *L, Expr *e) {
  if (!e || (e->kind == E_REDUCE && !find_hoisted(L, e))) return e;
  for (int i = 0; i < e->nargs; i++) {
    Expr *r = first_local_reduction(L, e->args[i]);
    if (r) return r;
  }
  return NULL;
}

static int match_lanes_sum(Lower *L, const Site *site, void *form) {
  Hoisted *h = site->h;
  Expr *t = h->red->args[0], *r = first_local_reduction(L, t);
  if (h->red->op != R_SUM || h->symmetric || !r || local_reductions(L, t) != 1 ||
      (r->op != R_MIN && r->op != R_MAX && r->op != R_LOGSUMEXP) ||
      spec_index(L->s, r->red.id)->size == L->s->event_size)
    return 0;
  int64_t elems = 1;
  for (int i = 0; i < h->nfree; i++) {
    if (expr_uses_index(r->args[0], h->free[i])) return 0;
    elems *= index_extent(L, h->free[i]);
  }
  if (elems > LANES_SUM_MAX_ELEMS) return 0;
  *(EventInner *)form = (EventInner){r, r->red.id, index_extent(L, r->red.id), elems};
  return 1;
}

typedef struct {
  int tn; /* events per tile */
  int w;  /* rows-W: W running values across j; 0: lanes-TN */
} LanesSumConfig;

/* rows-W's running values: W, or the least power of two that covers J */
static int rows_width(int w, int64_t J) {
  while (w > 1 && w / 2 >= J) w /= 2;
  return w;
}

static int plan_lanes_sum(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  const EventInner *f = form;
  const LanesSumConfig *c = config;
  /* float32 blocks (GMMC_HOST_FAST32): whole ones in a tile */
  int B = host_sum_block(L, site->h);
  if (B && c->tn % B) return 0;
  /* a logsumexp's sum of exps runs over j in order: one lane per event */
  if (!c->w) return f->inner->op == R_LOGSUMEXP && plan_lanes_of(L, f->J, c->tn, pl);
  if (f->inner->op == R_LOGSUMEXP) return 0;
  pl->variant = arena_printf(&L->p->arena, "rows-%d", rows_width(c->w, f->J));
  return 1; /* not priced */
}

/* min or max over j of f(n, j) for the event bound in env, read along the
 * row: w running values (value c takes the j = c mod w) and a tree of
 * them. Its value does not depend on the order (minnum: a NaN never
 * wins), the sign of a zero does (which of +0 and -0 a tie keeps depends
 * on the order and on the instruction LLVM picks), so a zero is taken
 * again with the simple kernel's own loop. Returns its variable. */
static int rows_reduce(Lower *L, Kernel *k, LStmt *blk, const EventInner *f, int w, Env *env) {
  Program *p = L->p;
  LType rt = L->rt;
  int mn = f->inner->op == R_MIN, jb, c;
  LBinOp op = mn ? LB_MIN : LB_MAX;
  int vals = kernel_shared(p, k, mn ? "min" : "max", rt, w), r = kernel_var(p, k, "reduced", rt),
      vj = kernel_var(p, k, spec_index(L->s, f->jid)->name, LT_I64);
  LStmt *l = emit_loop(L, k, blk, "c", I(0), I(w), &c);
  ls_append(p, l, ls_sstore(p, k, vals, V(c), lx_const(p, rt, mn ? INFINITY : -INFINITY)));
  /* the whole blocks of w, then the j past them */
  int64_t Jw = f->J / w * w;
  for (int tail = 0; tail < 2; tail++) {
    if (tail ? Jw == f->J : Jw == 0) continue;
    LStmt *lb = tail ? blk : emit_loop(L, k, blk, "j_block", I(0), I(Jw / w), &jb);
    l = emit_loop(L, k, lb, "c", I(0), I(tail ? f->J - Jw : w), &c);
    ls_append(p, l, ls_assign(p, vj, BIN(LB_ADD, tail ? I(Jw) : BIN(LB_MUL, V(jb), I(w)), V(c))));
    env->var[f->jid] = vj;
    LExpr *v = lx_cast(p, rt, lower_expr(L, k, l, f->inner->args[0], env));
    ls_append(p, l, ls_sstore(p, k, vals, V(c), BIN(op, lx_sload(p, k, vals, V(c)), v)));
  }
  for (int half = w / 2; half >= 1; half /= 2) {
    l = emit_loop(L, k, blk, "c", I(0), I(half), &c);
    LExpr *v = BIN(op, lx_sload(p, k, vals, V(c)), lx_sload(p, k, vals, BIN(LB_ADD, V(c), I(half))));
    ls_append(p, l, ls_sstore(p, k, vals, V(c), v));
  }
  ls_append(p, blk, ls_assign(p, r, lx_sload(p, k, vals, I(0))));
  LStmt *zero = ls_when(p, blk, BIN(LB_EQ, V(r), lx_const(p, rt, 0.0)));
  ls_append(p, zero, ls_assign(p, r, lower_expr(L, k, zero, f->inner, env)));
  return r;
}

/* The simple partial kernel's chunks (lower_reduce.c), a tile of tn events
 * at a time: each event's reduction into an array (rows_reduce, or staged
 * and one lane per event: host_lanes_reduce), then the events' terms added in
 * order as the simple kernel adds them: in float64, or in float32 blocks
 * of B events (GMMC_HOST_FAST32, a vector result) each added into the
 * float64 sums after it; the tiles start at the chunk's first event, so
 * the blocks are the simple kernel's. */
static void build_lanes_sum(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                            Built *out) {
  Program *p = L->p;
  Hoisted *h = site->h;
  const EventInner *f = form;
  const LanesSumConfig *c = config;
  int tn = c->tn, w = c->w ? rows_width(c->w, f->J) : 0, nid = h->red->red.id, B = host_sum_block(L, h);
  LType T = event_term_type(L), st = B ? p->real : LT_F64; /* the terms', the sums' */
  const char *nname = spec_index(L->s, nid)->name,
             *tag = w ? arena_printf(&p->arena, "rows%d", w) : arena_printf(&p->arena, "lanes%d", tn);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_%s", L->s->model, p->bufs[h->stat_buf]->name, tag));
  k->what = arena_printf(&p->arena, "%s [%s: a chunk of events per item, %d at a time, %s]", stmt_text(L, site->st),
                         pl->variant, tn, w ? "each along its row" : "one lane each");
  k->pvar = kernel_var(p, k, "chunk", LT_I64);
  k->count = I(h->chunks);
  LStmt *body = k->body;
  int len, lo, hi, at, tile, vn, ve;
  emit_chunk_bounds(L, k, body, k->pvar, h->chunks, &len, &lo, &hi);
  int sums = kernel_shared(p, k, "sums", LT_F64, f->elems);
  LStmt *lz = emit_loop(L, k, body, "at", I(0), I(f->elems), &at);
  ls_append(p, lz, ls_sstore(p, k, sums, V(at), lx_const(p, LT_F64, 0.0)));
  /* the tiles of the chunk's events (none past its end) */
  LExpr *tiles = BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, V(hi), V(lo)), I(tn - 1)), I(tn));
  LStmt *lt = emit_loop(L, k, body, "tile", I(0), tiles, &tile);
  int n0 = kernel_var(p, k, "first_event", LT_I64), n1 = kernel_var(p, k, "last_event", LT_I64);
  ls_append(p, lt, ls_assign(p, n0, BIN(LB_ADD, V(lo), BIN(LB_MUL, V(tile), I(tn)))));
  ls_append(p, lt, ls_assign(p, n1, BIN(LB_MIN, BIN(LB_ADD, V(n0), I(tn)), V(hi))));
  Env env;
  env_init(&env);
  int red;
  if (w) {
    red = kernel_shared(p, k, "reduced_of_event", L->rt, tn);
    LStmt *ln = emit_loop(L, k, lt, nname, V(n0), V(n1), &vn);
    env.var[nid] = vn;
    ls_append(p, ln, ls_sstore(p, k, red, BIN(LB_SUB, V(vn), V(n0)), V(rows_reduce(L, k, ln, f, w, &env))));
  } else {
    int row = kernel_var(p, k, "row", LT_I64);
    int vals = stage_lanes(L, k, lt, n0, row, tn, nid, f->jid, f->J, f->inner->args[0]);
    red = host_lanes_reduce(L, k, lt, tn, f->jid, f->J, vals, (RedOp)f->inner->op);
  }
  /* float32 blocks: their sums from zero, into the float64 sums after each */
  LStmt *events = lt;
  int b0 = n0, b1 = n1, part = sums;
  if (B) {
    events = emit_event_blocks(L, k, lt, V(n0), V(n1), I(tn), B, &b0, &b1);
    part = kernel_shared(p, k, "block_sums", st, f->elems);
    lz = emit_loop(L, k, events, "at", I(0), I(f->elems), &at);
    ls_append(p, lz, ls_sstore(p, k, part, V(at), lx_const(p, st, 0.0)));
  }
  LStmt *ln = emit_loop(L, k, events, nname, V(b0), V(b1), &vn);
  LStmt *le = emit_loop(L, k, ln, "at", I(0), I(f->elems), &ve);
  env.var[nid] = vn;
  decompose_flat(L, k, le, V(ve), h->free, h->nfree, &env);
  /* the simple kernel's term, the event's reduction from the array */
  L->subst_expr = f->inner;
  L->subst_val = lx_sload(p, k, red, BIN(LB_SUB, V(vn), V(n0)));
  LExpr *v = lx_cast(p, st, lx_cast(p, T, lower_expr(L, k, le, h->red->args[0], &env)));
  L->subst_expr = NULL;
  ls_append(p, le, ls_sstore(p, k, part, V(ve), BIN(LB_ADD, lx_sload(p, k, part, V(ve)), v)));
  if (B) {
    LStmt *la = emit_loop(L, k, events, "at", I(0), I(f->elems), &at);
    LExpr *add = BIN(LB_ADD, lx_sload(p, k, sums, V(at)), lx_cast(p, LT_F64, lx_sload(p, k, part, V(at))));
    ls_append(p, la, ls_sstore(p, k, sums, V(at), add));
  }
  /* into the partial buffer, as the simple kernel stores it */
  LStmt *ls = emit_loop(L, k, body, "at", I(0), I(f->elems), &at);
  env_init(&env);
  decompose_flat(L, k, ls, V(at), h->free, h->nfree, &env);
  LExpr **idx = idx_vec(p, h->nfree + 1);
  idx[0] = V(k->pvar);
  for (int i = 0; i < h->nfree; i++) idx[i + 1] = V(env.var[h->free[i]]);
  ls_append(p, ls, ls_store(p, h->partial_buf, idx, lx_sload(p, k, sums, V(at))));
  *out = (Built){.partial_buf = h->partial_buf, .slices = h->chunks, .combine_tag = tag};
}

/* tiles of 32 events; lanes-32 for a logsumexp; rows-16 for a min or max:
 * 16 running values (float64: two AVX-512 vectors, four AVX2) read
 * k-means' distances at about the memory's rate at 10^5 x 64, where
 * lanes-32's transposing stores (scatters) took twice as long */
static const LanesSumConfig lanes_sum_configs[] = {{32, 0}, {32, 16}};

const VariantFamily family_host_lanes_sum = {.name = "host-lanes-sum",
                                             .site = SITE_REDUCTION,
                                             .host = 1,
                                             .stats64 = 1,
                                             .match = match_lanes_sum,
                                             .configs = lanes_sum_configs,
                                             .nconfigs = sizeof lanes_sum_configs / sizeof *lanes_sum_configs,
                                             .config_size = sizeof *lanes_sum_configs,
                                             .plan = plan_lanes_sum,
                                             .build = build_lanes_sum};
