/* Host variants (the registry's host families, variant.h).
 *
 *   blocked-TNxRN  the E-step's quadratic form
 *                  T[n, m] = g(n, m, sum(e, sq(sum(d, A(n, m, d) W(m, d, e)))))
 *                  as a register-blocked small GEMM: a work item takes TN
 *                  events of one component; RN events at a time, row d of
 *                  W is read once for RN rows of Y = A W (y_r[e] += a_r
 *                  W[d, e], a loop over e that LLVM vectorizes at the CPU's
 *                  width), W of the component stays in L1 across the item.
 *   stream-TN      T[n, m] = g(n, m, sum(d, f(n, m, d))) with staged-able
 *                  reads (diagonal and spherical E-steps, k-means
 *                  distances): an item takes TN events, stages their [n, d]
 *                  operands transposed (d-major), and per component sums f
 *                  over d for all TN events at once: the loop over the
 *                  events vectorizes, each event's sum still runs over d in
 *                  order.
 *   accumulate     a reduction over events S[o.., i, j] = sum(n, f(n, o.., i, j))
 *                  as per-chunk partials like the simple kernel's, but a work
 *                  item takes a chunk and the outer indices o and keeps the
 *                  whole i x j (or j) block of sums in an array: each event's
 *                  row is read once per item, not once per output, and the
 *                  loop over j vectorizes (the weighted scatter
 *                  sum(n, R (x - mu)(x - mu)^T), the means, Nk, diagonal
 *                  covariances); only i <= j of a symmetric result.
 *
 * Every sum runs in the simple kernel's order (over d ascending for each e,
 * then over e ascending), with the same multiply-adds, so the variant's
 * results are the simple kernel's bit for bit: on the host, which variant
 * the autotuner picks changes the speed, never the model
 * (docs/limits.md, "Reproducibility"; codegen_host_variants checks it).
 * Host variants are not priced (Work.launches 0): the autotuner measures
 * them all. */
#include "estep.h"
#include "kernel_build.h"
#include "staged.h"

typedef struct {
  int tn, rn; /* events per work item, events per register block */
} HostTile;

enum { HOST_MAX_RN = 8, HOST_MAX_E = 256 };

static int plan_blocked(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const HostTile *c = config;
  if (f->D != f->E || f->E > HOST_MAX_E || c->tn % c->rn || c->rn > HOST_MAX_RN) return 0;
  pl->variant = arena_printf(&L->p->arena, "blocked-%dx%d", c->tn, c->rn);
  return 1; /* not priced */
}

static void build_blocked(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                          Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const HostTile *c = config;
  Target *tg = &st->targets[0];
  int tn = c->tn, rn = c->rn;
  int64_t D = f->D, E = f->E, M = f->M;
  LType T = p->real;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_blocked%dx%d", L->s->model, tg->name, tn, rn));
  k->what = arena_printf(&p->arena, "%s [%s: %d events of one component per item, %d rows of Y = A W at a time%s]",
                         stmt_text(L, st), pl->variant, tn, rn, qf->upper ? ", upper-triangular W" : "");
  /* items: (tile of tn events, component), the component fastest */
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_MUL, BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn)), I(M));
  LStmt *body = k->body;
  int vm = kernel_var(p, k, spec_index(L->s, f->mid)->name, LT_I64), n0 = kernel_var(p, k, "n0", LT_I64);
  ls_append(p, body, ls_assign(p, vm, BIN(LB_REM, V(k->pvar), I(M))));
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, BIN(LB_DIV, V(k->pvar), I(M)), I(tn))));
  Env env;
  env_init(&env);
  env.var[f->mid] = vm;
  int y[HOST_MAX_RN], vn[HOST_MAX_RN], at[HOST_MAX_RN], a[HOST_MAX_RN], q[HOST_MAX_RN];
  for (int r = 0; r < rn; r++) {
    y[r] = kernel_shared(p, k, arena_printf(&p->arena, "y%d", r), T, E);
    vn[r] = kernel_var(p, k, arena_printf(&p->arena, "event%d", r), LT_I64);
    at[r] = kernel_var(p, k, arena_printf(&p->arena, "row%d", r), LT_I64);
    a[r] = kernel_var(p, k, arena_printf(&p->arena, "a%d", r), T);
    q[r] = kernel_var(p, k, arena_printf(&p->arena, "q%d", r), T);
  }
  int blk;
  LStmt *lb = emit_loop(L, k, body, "block", I(0), I(tn / rn), &blk);
  for (int r = 0; r < rn; r++) {
    /* the event, and the row it reads (the last event past the end: its
     * results are not stored) */
    ls_append(p, lb, ls_assign(p, vn[r], BIN(LB_ADD, V(n0), BIN(LB_ADD, BIN(LB_MUL, V(blk), I(rn)), I(r)))));
    ls_append(p, lb, ls_assign(p, at[r], BIN(LB_MIN, V(vn[r]), BIN(LB_SUB, lx_nlocal(p), I(1)))));
  }
  int e;
  LStmt *clear = emit_loop(L, k, lb, "e", I(0), I(E), &e);
  for (int r = 0; r < rn; r++) ls_append(p, clear, ls_sstore(p, k, y[r], V(e), lx_const(p, T, 0)));
  /* row d of W for rn rows of Y: y_r[e] += a_r W[d, e] over the e W does not zero */
  int d;
  LStmt *ld = emit_loop(L, k, lb, spec_index(L->s, qf->d)->name, I(0), I(D), &d);
  env.var[qf->d] = d;
  for (int r = 0; r < rn; r++) {
    env.var[tg->idx[0].id] = at[r];
    ls_append(p, ld, ls_assign(p, a[r], factor_product(L, k, ld, qf->fa, qf->na, &env)));
  }
  int ve;
  LStmt *le = emit_loop(L, k, ld, spec_index(L->s, qf->e)->name, qf->upper ? V(d) : I(0), I(E), &ve);
  env.var[qf->e] = ve;
  int w = kernel_var(p, k, "w", T);
  ls_append(p, le, ls_assign(p, w, factor_product(L, k, le, qf->fw, qf->nw, &env)));
  for (int r = 0; r < rn; r++)
    ls_append(p, le,
              ls_sstore(p, k, y[r], V(ve), BIN(LB_ADD, lx_sload(p, k, y[r], V(ve)), BIN(LB_MUL, V(a[r]), V(w)))));
  /* the quadratic forms, then g per event inside the events */
  for (int r = 0; r < rn; r++) ls_append(p, lb, ls_assign(p, q[r], lx_const(p, T, 0)));
  LStmt *lq = emit_loop(L, k, lb, "e", I(0), I(E), &e);
  for (int r = 0; r < rn; r++) {
    LExpr *v = lx_sload(p, k, y[r], V(e));
    ls_append(p, lq, ls_assign(p, q[r], BIN(LB_ADD, V(q[r]), BIN(LB_MUL, v, lx_sload(p, k, y[r], V(e))))));
  }
  for (int r = 0; r < rn; r++) {
    LStmt *live = ls_when(p, lb, BIN(LB_LT, V(vn[r]), lx_nlocal(p)));
    env.var[tg->idx[0].id] = vn[r];
    store_with_sum(L, k, live, st, qf->q, V(q[r]), vn[r], vm, &env);
  }
}

/* The vector width a float64 kernel asks LLVM for: the CPU's native one
 * where it is wider than the 256 bits LLVM prefers on AVX-512 CPUs. At
 * 10^5.19.16 diag on the development Xeon, float64 stream-16 ran 2.68-2.87
 * ms at 512 bits against 3.44-3.57 and accumulate 3.08-3.23 against
 * 3.49-3.59; float32 gained nothing or lost (docs/performance.md). Lanes
 * run across events, so the sums' order, and their bits, are the same. */
static int f64_vector_bytes(const Lower *L) { return L->p->real == LT_F64 ? host_native_vector_bytes(L) : 0; }

/* How an item walks its chunk: plain, event by event over the whole array
 * of sums (rb 0); or blocked, nb events at a time, rb columns of sums held
 * in registers while the block's events go by (each sum still takes its
 * events in order: blocks ascending, events ascending within a block). */
typedef struct {
  int nb, rb, rr; /* events per block, columns and rows of sums in registers */
} AccumulateConfig;

typedef struct {
  int inner; /* trailing free indices kept in the item's array: 1 or 2 */
  int rr;    /* rows of register sums: the configuration's where there are two indices and that many rows, else 1 */
  int64_t outer, blk; /* items per chunk; values in the array */
} AccumulateShape;
_Static_assert(sizeof(AccumulateShape) <= VARIANT_SHAPE_BYTES, "AccumulateShape must fit Plan.shape");

enum { HOST_MAX_ACC = 8192, HOST_MAX_RB = 16, HOST_MAX_RR = 4 }; /* float64 sums an item keeps: 64 KiB */

static int match_accumulate(Lower *L, const Site *site, void *form) {
  (void)L, (void)form;
  return site->h->red->op == R_SUM && site->h->nfree >= 1;
}

/* Sums held in registers: the configuration's, in float64; twice as many
 * float32 block sums (float32 on the host: a register holds twice as many). */
static int register_sums(const Lower *L, const Hoisted *h, const AccumulateConfig *c) {
  return host_sum_block(L, h) ? 2 * c->rb : c->rb;
}

/* accumulate, accumulate<sep>NBxRB or accumulate<sep>NBxRRxRB: the variant's
 * name (sep "-") and its kernels' (sep "") */
static const char *accumulate_name(Program *p, const char *sep, int nb, int rr, int rb) {
  if (!rb) return "accumulate";
  return rr > 1 ? arena_printf(&p->arena, "accumulate%s%dx%dx%d", sep, nb, rr, rb)
                : arena_printf(&p->arena, "accumulate%s%dx%d", sep, nb, rb);
}

static int plan_accumulate(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)form;
  Hoisted *h = site->h;
  const AccumulateConfig *c = config;
  AccumulateShape *s = (AccumulateShape *)pl->shape;
  s->inner = h->nfree >= 2 ? 2 : 1;
  s->outer = 1, s->blk = 1;
  for (int i = 0; i < h->nfree; i++) {
    if (i < h->nfree - s->inner)
      s->outer *= index_extent(L, h->free[i]);
    else
      s->blk *= index_extent(L, h->free[i]);
  }
  int rb = register_sums(L, h, c);
  if (s->blk > HOST_MAX_ACC || rb > HOST_MAX_RB) return 0;
  /* blocked: at least one whole block of columns; several rows only
   * where the item keeps two indices and has that many rows */
  if (rb && index_extent(L, h->free[h->nfree - 1]) < rb) return 0;
  s->rr = c->rr > 1 && s->inner == 2 && index_extent(L, h->free[h->nfree - 2]) >= c->rr ? c->rr : 1;
  /* float32: the event blocks are the float32 sums' (lower.h, host_sum_block) */
  int B = host_sum_block(L, h);
  pl->variant = accumulate_name(L->p, "-", B ? B : c->nb, s->rr, rb);
  return 1; /* not priced */
}

/* The cell of sums for column j (and row vi when the item keeps two indices). */
static LExpr *sum_cell(Program *p, Kernel *k, int inner, int vi, int64_t ej, LExpr *j) {
  return inner == 2 ? BIN(LB_ADD, BIN(LB_MUL, V(vi), I(ej)), j) : j;
}

/* The simple kernel's term, the indices bound in env: formed in the
 * terms' type (the data's, float64 under float64 statistics), added in
 * float64, or in the data's type where event sums are blocked (float32 on
 * the host). */
static LExpr *term(Lower *L, Kernel *k, LStmt *blk, Hoisted *h, Env *env, int blocked) {
  Program *p = L->p;
  LExpr *v = lx_cast(p, event_term_type(L), lower_expr(L, k, blk, h->red->args[0], env));
  return blocked ? v : lx_cast(p, LT_F64, v);
}

/* sums[cell] += the simple kernel's term (sums of the term's type). */
static void add_term(Lower *L, Kernel *k, LStmt *blk, Hoisted *h, Env *env, int acc, LExpr *cell, int blocked) {
  Program *p = L->p;
  LExpr *v = term(L, k, blk, h, env, blocked);
  ls_append(p, blk, ls_sstore(p, k, acc, cell, BIN(LB_ADD, lx_sload(p, k, acc, cell), v)));
}

/* What register_tile needs of build_accumulate's item. */
typedef struct {
  Hoisted *h;
  Env *env;
  int acc, inner, iid, jid;
  int64_t ei, ej;
  int rb, B, b0, b1; /* columns in registers; float32 block (0: none); the event block's bounds */
} RegisterTile;

/* The register tiles' layout of the sums where the item keeps two indices:
 * the whole column blocks row by row, then the columns past them column by
 * column, so that a tail column's rows are adjacent: LLVM vectorizes the
 * tail across the rows (at D = 19 the 3 columns past two blocks of 8 were
 * scalar chains, as many operations as the 16 columns before them). */
static LExpr *tile_cell(Program *p, Kernel *k, const RegisterTile *t, int vi, LExpr *j, int tail) {
  if (t->inner != 2) return j;
  int64_t ejf = t->ej / t->rb * t->rb;
  if (!tail) return BIN(LB_ADD, BIN(LB_MUL, V(vi), I(ejf)), j);
  return BIN(LB_ADD, BIN(LB_ADD, I(t->ei * ejf), BIN(LB_MUL, BIN(LB_SUB, j, I(ejf)), I(t->ei))), V(vi));
}

/* For nr rows (variables rows[], NULL when the item keeps one index), whole
 * blocks of rb columns whose nr x rb sums stay in registers while the event
 * block goes by (from the block holding column rows[0] when the result is
 * symmetric: the cells left of a row's diagonal are computed and never
 * stored into the partials); tail: the columns past the last whole block
 * instead, all in registers at once. float64: the registers continue the sums;
 * float32 blocks: they take the block's sums from zero, added into the
 * float64 sums after it. nr x rb independent sums hide the adds' latency. */
static void register_tile(Lower *L, Kernel *k, LStmt *at, const RegisterTile *t, const int *rows, int nr, int tail) {
  Program *p = L->p;
  Hoisted *h = t->h;
  int nid = h->red->red.id, cb, vn;
  int64_t ejf = t->ej / t->rb * t->rb;
  int rb = tail ? (int)(t->ej - ejf) : t->rb;
  LStmt *whole = tail ? at
                      : emit_loop(L, k, at, "column_block", h->symmetric ? BIN(LB_DIV, V(rows[0]), I(rb)) : I(0),
                                  I(ejf / rb), &cb);
  LType st = t->B ? p->real : LT_F64;
  int sums[HOST_MAX_RR][HOST_MAX_RB], cols[HOST_MAX_RB];
  const char *jname = spec_index(L->s, t->jid)->name;
  for (int c = 0; c < rb; c++) {
    cols[c] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", jname, c), LT_I64);
    ls_append(p, whole, ls_assign(p, cols[c], tail ? I(ejf + c) : BIN(LB_ADD, BIN(LB_MUL, V(cb), I(rb)), I(c))));
  }
  for (int r = 0; r < nr; r++)
    for (int c = 0; c < rb; c++) {
      sums[r][c] = kernel_var(
          p, k, nr > 1 ? arena_printf(&p->arena, "sum%d_%d", r, c) : arena_printf(&p->arena, "sum%d", c), st);
      LExpr *cell = tile_cell(p, k, t, rows ? rows[r] : -1, V(cols[c]), tail);
      ls_append(p, whole, ls_assign(p, sums[r][c], t->B ? lx_const(p, st, 0.0) : lx_sload(p, k, t->acc, cell)));
    }
  LStmt *ln = emit_loop(L, k, whole, spec_index(L->s, nid)->name, V(t->b0), V(t->b1), &vn);
  t->env->var[nid] = vn;
  for (int r = 0; r < nr; r++) {
    if (rows) t->env->var[t->iid] = rows[r];
    for (int c = 0; c < rb; c++) {
      t->env->var[t->jid] = cols[c];
      ls_append(p, ln, ls_assign(p, sums[r][c], BIN(LB_ADD, V(sums[r][c]), term(L, k, ln, h, t->env, t->B))));
    }
  }
  for (int r = 0; r < nr; r++)
    for (int c = 0; c < rb; c++) {
      LExpr *cell = tile_cell(p, k, t, rows ? rows[r] : -1, V(cols[c]), tail);
      LExpr *v = t->B ? BIN(LB_ADD, lx_sload(p, k, t->acc, cell), lx_cast(p, LT_F64, V(sums[r][c]))) : V(sums[r][c]);
      ls_append(p, whole, ls_sstore(p, k, t->acc, cell, v));
    }
}

static void build_accumulate(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                             Built *out) {
  (void)form;
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const AccumulateConfig *c = config;
  const AccumulateShape *sp = (const AccumulateShape *)pl->shape;
  int nf = h->nfree, inner = sp->inner, nid = h->red->red.id, rb = register_sums(L, h, c);
  /* float32: blocks of B events summed in float32, each added into the float64 sums */
  int B = host_sum_block(L, h), nb = B ? B : c->nb;
  int jid = h->free[nf - 1], iid = inner == 2 ? h->free[nf - 2] : -1;
  int64_t ej = index_extent(L, jid), ei = inner == 2 ? index_extent(L, iid) : 1;
  const char *tag = accumulate_name(p, "", nb, sp->rr, rb);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_%s", L->s->model, p->bufs[h->stat_buf]->name, tag));
  k->what = arena_printf(&p->arena, "%s [%s: a chunk of events per item, %lld sums in an array%s]", stmt_text(L, st),
                         pl->variant, (long long)sp->blk,
                         rb  ? arena_printf(&p->arena, ", %d events at a time, %d in registers", nb, sp->rr * rb)
                         : B ? arena_printf(&p->arena, ", float32 over %d events at a time", B)
                             : "");
  k->vector_bytes = f64_vector_bytes(L);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = I(sp->outer * h->chunks);
  LStmt *body = k->body;
  Env env;
  env_init(&env);
  int chunk = kernel_var(p, k, "chunk", LT_I64);
  ls_append(p, body, ls_assign(p, chunk, BIN(LB_DIV, V(k->pvar), I(sp->outer))));
  decompose_flat(L, k, body, BIN(LB_REM, V(k->pvar), I(sp->outer)), h->free, nf - inner, &env);
  /* the simple kernel's chunk of the events */
  int len, lo, hi;
  emit_chunk_bounds(L, k, body, chunk, h->chunks, &len, &lo, &hi);
  int acc = kernel_shared(p, k, "sums", LT_F64, sp->blk), at;
  LStmt *clear = emit_loop(L, k, body, "at", I(0), I(sp->blk), &at);
  ls_append(p, clear, ls_sstore(p, k, acc, V(at), lx_const(p, LT_F64, 0.0)));
  int vn, vi = -1, vj;
  const char *nname = spec_index(L->s, nid)->name, *jname = spec_index(L->s, jid)->name;
  if (!rb) {
    /* float32: the block's sums in their own array, cleared per block, added into acc after it */
    LStmt *outer = body;
    int b0 = lo, b1 = hi, part = acc;
    if (B) {
      outer = emit_event_blocks(L, k, body, V(lo), V(hi), V(len), B, &b0, &b1);
      part = kernel_shared(p, k, "block_sums", p->real, sp->blk);
      LStmt *zero = emit_loop(L, k, outer, "at", I(0), I(sp->blk), &at);
      ls_append(p, zero, ls_sstore(p, k, part, V(at), lx_const(p, p->real, 0.0)));
    }
    LStmt *ln = emit_loop(L, k, outer, nname, V(b0), V(b1), &vn);
    env.var[nid] = vn;
    LStmt *li = ln;
    if (inner == 2) {
      li = emit_loop(L, k, ln, spec_index(L->s, iid)->name, I(0), I(ei), &vi);
      env.var[iid] = vi;
    }
    LStmt *lj = emit_loop(L, k, li, jname, h->symmetric ? V(vi) : I(0), I(ej), &vj);
    env.var[jid] = vj;
    add_term(L, k, lj, h, &env, part, sum_cell(p, k, inner, vi, ej, V(vj)), B);
    if (B) {
      LStmt *add = emit_loop(L, k, outer, "at", I(0), I(sp->blk), &at);
      ls_append(p, add,
                ls_sstore(p, k, acc, V(at),
                          BIN(LB_ADD, lx_sload(p, k, acc, V(at)), lx_cast(p, LT_F64, lx_sload(p, k, part, V(at))))));
    }
  } else {
    /* blocks of nb events; per rr rows i (one when the item keeps one
     * index), whole blocks of rb columns in registers, then the rows past
     * the last whole group of rr one at a time; then the same for the
     * columns past the last whole block */
    int64_t ejf = ej / rb * rb, eif = inner == 2 ? ei / sp->rr * sp->rr : 0;
    int bn, b0 = kernel_var(p, k, "block_first", LT_I64), b1 = kernel_var(p, k, "block_last", LT_I64);
    LStmt *lb = emit_loop(L, k, body, "event_block", I(0), BIN(LB_DIV, BIN(LB_ADD, V(len), I(nb - 1)), I(nb)), &bn);
    ls_append(p, lb, ls_assign(p, b0, BIN(LB_ADD, V(lo), BIN(LB_MUL, V(bn), I(nb)))));
    ls_append(p, lb, ls_assign(p, b1, BIN(LB_MIN, BIN(LB_ADD, V(b0), I(nb)), V(hi))));
    RegisterTile rt = {h, &env, acc, inner, iid, jid, ei, ej, rb, B, b0, b1};
    for (int tail = 0; tail < 2; tail++) {
      if (tail ? ejf == ej : ejf == 0) continue;
      if (inner != 2) {
        register_tile(L, k, lb, &rt, NULL, 1, tail);
        continue;
      }
      int rows[HOST_MAX_RR], grp;
      if (eif) {
        LStmt *lg = emit_loop(L, k, lb, "row_group", I(0), I(eif / sp->rr), &grp);
        for (int r = 0; r < sp->rr; r++) {
          rows[r] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", spec_index(L->s, iid)->name, r), LT_I64);
          ls_append(p, lg, ls_assign(p, rows[r], BIN(LB_ADD, BIN(LB_MUL, V(grp), I(sp->rr)), I(r))));
        }
        register_tile(L, k, lg, &rt, rows, sp->rr, tail);
      }
      if (eif < ei) {
        LStmt *li = emit_loop(L, k, lb, spec_index(L->s, iid)->name, I(eif), I(ei), &rows[0]);
        register_tile(L, k, li, &rt, rows, 1, tail);
      }
    }
  }
  /* into the partial buffer, as the simple kernel stores it */
  LStmt *si = body;
  if (inner == 2) si = emit_loop(L, k, body, spec_index(L->s, iid)->name, I(0), I(ei), &vi);
  LStmt *sj = emit_loop(L, k, si, jname, h->symmetric ? V(vi) : I(0), I(ej), &vj);
  env.var[jid] = vj;
  if (inner == 2) env.var[iid] = vi;
  LExpr **idx = idx_vec(p, nf + 1);
  idx[0] = V(chunk);
  for (int i = 0; i < nf; i++) idx[i + 1] = V(env.var[h->free[i]]);
  LExpr *cell = sum_cell(p, k, inner, vi, ej, V(vj));
  if (rb && inner == 2) { /* register tiles: their layout (tile_cell) */
    RegisterTile rt = {.inner = inner, .ei = ei, .ej = ej, .rb = rb};
    cell = lx_select(p, BIN(LB_LT, V(vj), I(ej / rb * rb)), tile_cell(p, k, &rt, vi, V(vj), 0),
                     tile_cell(p, k, &rt, vi, V(vj), 1));
  }
  ls_append(p, sj, ls_store(p, h->partial_buf, idx, lx_sload(p, k, acc, cell)));
  *out = (Built){.partial_buf = h->partial_buf, .slices = h->chunks, .combine_tag = tag};
}

/* plain; 64 events at a time with 8 sums in registers (one AVX-512
 * register of float64, two of AVX2) for four rows where the item keeps two
 * indices (the diagonal covariances' sum(n, R (x - mu)^2), whose term is no
 * product of a row and a column factor for host-tile: 8 sums alone wait on
 * the adds' latency), else one. Each configuration costs compile time on
 * every cold start: one row and four as two configurations cost k-means 80
 * ms more for a few percent; 64 x 4 and the E-step's 64 x 2 never won. */
static const AccumulateConfig accumulate_configs[] = {{0, 0, 1}, {64, 8, 4}};

const VariantFamily family_host_accumulate = {.name = "host-accumulate",
                                              .site = SITE_REDUCTION,
                                              .host = 1,
                                              .stats64 = 1,
                                              .match = match_accumulate,
                                              .configs = accumulate_configs,
                                              .nconfigs = sizeof accumulate_configs / sizeof *accumulate_configs,
                                              .config_size = sizeof *accumulate_configs,
                                              .plan = plan_accumulate,
                                              .build = build_accumulate};

typedef struct {
  int tn; /* events per item */
} StreamConfig;

static int plan_stream(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const StagedMap *f = form;
  const StreamConfig *c = config;
  int nd = 0;
  for (int i = 0; i < f->ops.n; i++) nd += f->ops.op[i].role == ROLE_ND;
  if (f->D * c->tn * nd > HOST_MAX_ACC) return 0;
  pl->variant = arena_printf(&L->p->arena, "stream-%d", c->tn);
  return 1; /* not priced */
}

enum { STREAM_MAX_SUMS = 8192 }; /* every component's sums for an item's events: 32 KiB of float32 */

/* The sum of event nn (of component vm when every component's are kept). */
static LExpr *stream_cell(Program *p, Kernel *k, int rowwise, int vm, int tn, int nn) {
  return BIN(LB_ADD, rowwise ? BIN(LB_MUL, V(vm), I(tn)) : I(0), V(nn));
}

static void build_stream(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const StagedMap *f = form;
  int tn = ((const StreamConfig *)config)->tn;
  Target *tg = &st->targets[0];
  int64_t D = f->D, M = f->M;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_stream%d", L->s->model, tg->name, tn));
  k->what = arena_printf(&p->arena, "%s [%s: %d events per item, their [n, d] operands transposed]", stmt_text(L, st),
                         pl->variant, tn);
  k->vector_bytes = f64_vector_bytes(L);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  LStmt *body = k->body;
  int n0 = kernel_var(p, k, "first_event", LT_I64), vn = kernel_var(p, k, "event", LT_I64),
      row = kernel_var(p, k, "row", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, V(k->pvar), I(tn))));
  /* the [n, d] operands, d-major: x[d * tn + nn] (the last row again past the end) */
  int nn, d, vm, staged[8], nstaged = 0;
  Tensor *staged_t[8];
  for (int i = 0; i < f->ops.n; i++) {
    const Operand *o = &f->ops.op[i];
    if (o->role != ROLE_ND) continue;
    int b = p->tensor_buf[o->t->id];
    int xs = kernel_shared(p, k, o->t->name, p->bufs[b]->elem, D * tn);
    LStmt *ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
    ls_append(p, ln, ls_assign(p, row, BIN(LB_MIN, BIN(LB_ADD, V(n0), V(nn)), BIN(LB_SUB, lx_nlocal(p), I(1)))));
    LStmt *ld = emit_loop(L, k, ln, "d", I(0), I(D), &d);
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(row);
    xi[1] = V(d);
    ls_append(p, ld, ls_sstore(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), V(nn)), lx_load(p, b, xi)));
    staged_t[nstaged] = o->t;
    staged[nstaged++] = xs;
  }
  /* every component's sums kept (where they fit) so that g and the store
   * run a row at a time: contiguous in m, where a column of T[n, m] per
   * component is a strided scatter (and its per-component reads gathers) */
  int rowwise = M * tn <= STREAM_MAX_SUMS;
  int sums = kernel_shared(p, k, "sums", L->rt, rowwise ? M * tn : tn);
  LStmt *lm = emit_loop(L, k, body, spec_index(L->s, f->mid)->name, I(0), I(M), &vm);
  Env env;
  env_init(&env);
  env.var[f->mid] = vm;
  env.var[f->nid] = vn;
  LStmt *lz = emit_loop(L, k, lm, "nn", I(0), I(tn), &nn);
  ls_append(p, lz, ls_sstore(p, k, sums, stream_cell(p, k, rowwise, vm, tn, nn), lx_const(p, L->rt, 0)));
  /* the sum over d in order, every event of the item at once */
  LStmt *ld = emit_loop(L, k, lm, spec_index(L->s, f->did)->name, I(0), I(D), &d);
  env.var[f->did] = d;
  LStmt *le = emit_loop(L, k, ld, "nn", I(0), I(tn), &nn);
  ls_append(p, le, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  /* the staged operands' reads come from their arrays */
  L->nsubst_tensor = nstaged;
  for (int i = 0; i < nstaged; i++) {
    L->subst_tensor[i] = staged_t[i];
    L->subst_tensor_val[i] = lx_sload(p, k, staged[i], BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), V(nn)));
  }
  LExpr *v = lx_cast(p, L->rt, lower_expr(L, k, le, f->sum->args[0], &env));
  LExpr *cell = stream_cell(p, k, rowwise, vm, tn, nn);
  ls_append(p, le, ls_sstore(p, k, sums, cell, BIN(LB_ADD, lx_sload(p, k, sums, cell), v)));
  L->nsubst_tensor = 0;
  /* g per event of the item inside the events (rowwise: after every
   * component, m innermost); its other reads are ordinary */
  LStmt *lg = emit_loop(L, k, rowwise ? body : lm, "nn", I(0), I(tn), &nn);
  ls_append(p, lg, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  LStmt *live = ls_when(p, lg, BIN(LB_LT, V(vn), lx_nlocal(p)));
  if (rowwise) live = emit_loop(L, k, live, spec_index(L->s, f->mid)->name, I(0), I(M), &vm);
  env.var[f->mid] = vm;
  store_with_sum(L, k, live, st, f->sum, lx_sload(p, k, sums, stream_cell(p, k, rowwise, vm, tn, nn)), vn, vm, &env);
}

static const StreamConfig stream_configs[] = {{64}, {16}};

const VariantFamily family_host_stream = {.name = "host-stream",
                                          .site = SITE_MAP,
                                          .host = 1,
                                          .match = match_staged_map,
                                          .configs = stream_configs,
                                          .nconfigs = sizeof stream_configs / sizeof *stream_configs,
                                          .config_size = sizeof *stream_configs,
                                          .plan = plan_stream,
                                          .build = build_stream};

/* events per item x events per register block (64 x 4 never won; where
 * host-panel applies it supersedes this family, variants_host_panel.c) */
static const HostTile blocked_tiles[] = {{32, 8}};

const VariantFamily family_host_blocked = {.name = "host-blocked",
                                           .site = SITE_MAP,
                                           .host = 1,
                                           .match = match_estep,
                                           .configs = blocked_tiles,
                                           .nconfigs = sizeof blocked_tiles / sizeof *blocked_tiles,
                                           .config_size = sizeof *blocked_tiles,
                                           .plan = plan_blocked,
                                           .build = build_blocked};
