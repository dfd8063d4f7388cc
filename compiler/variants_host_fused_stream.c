/* The host's fused kernels of a fusion group (fuse.h) built as the fast
 * unfused host variants compute each member (family host-fused-stream):
 *
 *   stream-T  a work item per slice of the events (the simple partials'
 *             chunk), T events at a time (64 float32, 32 float64: eight
 *             256-bit vectors). Per tile: the data rows staged (and
 *             d-major where a map sums over d); then every map into its
 *             tile array: an E-step of the staged form
 *             T[n, m] = g(n, m, sum(d, f)) as stream-TN, the tile's T sums
 *             of a component in registers (T copies of the statement that
 *             LLVM packs into vectors of events), the tile by component;
 *             a logsumexp, argmin or argmax over another index as
 *             lanes-TN (one vector lane per event); any other map along
 *             the layout of what it reads. Then every sum over events: a
 *             min, max or logsumexp inside its term first, for the tile's
 *             events at once (host-lanes-sum's lanes), then register tiles
 *             as accumulate-64x4x8 (4 rows x 8 columns of float64 sums held
 *             while the tile's events go by). L[n, m] and R[n, m] stay in
 *             the tile (L1/L2); what fuse.c stores is copied to memory.
 *
 * Every value is the simple kernel's, with its operations in its order
 * (sums over d and over components ascending in the statement's type; over
 * the events ascending within the simple partials' chunk, in float64, the
 * terms formed as under float64 statistics where a float32 program has
 * them), so a fused iteration gives the unfused one's bits (docs/limits.md,
 * "Reproducibility"; codegen_host_variants checks it). The shared pieces
 * of fused_tile.c used here: the form (fused_match) and the partials. The
 * tile reads are this file's own: each map's tile array has the layout its
 * consumer reads along. */
#include "fused_tile.h"
#include "staged.h"
#include "variants_host_rows.h"

typedef enum { MAP_ROWS, MAP_STREAM, MAP_LANES, MAP_ARG } MapKind;

typedef struct {
  FusedForm f;
  unsigned char kind[GROUP_MAX]; /* MapKind of each map */
} StreamForm;
_Static_assert(sizeof(StreamForm) <= VARIANT_FORM_BYTES, "StreamForm must fit the registry's form storage");

typedef struct {
  int events; /* per tile; 0: 256 bytes of the data's type (eight 256-bit vectors of sums) */
} StreamConfig;

static int tile_events(const Lower *L, const StreamConfig *c) {
  return c->events ? c->events : L->p->real == LT_F64 ? 32 : 64;
}

enum { STREAM_RR = 4, STREAM_RB = 8 }; /* register tile of the sums: rows x columns */
enum { STREAM_MAX_T = 64 };            /* events per tile */

/* The tile arrays' reads (Lower.access): data rows [t][d]; a map's target
 * [t][element], or [element][t] where the map computes it along the events. */
typedef struct {
  const FusedForm *f;
  int n0, T;
  int rows[FUSED_MAX_DATA], dmajor[FUSED_MAX_DATA];
  int tile[GROUP_MAX], by_element[GROUP_MAX];
  /* float64 copies (-1: none) of the float32 arrays the sums read under
   * float64 statistics, read while `widen`: each value converted once per
   * tile, not once per register tile (and a float32 subnormal's conversion
   * costs a microcode assist); a map's copy [t][element] whatever its tile's
   * layout (the sums read rows; the store to memory copies it back) */
  int wide_rows[FUSED_MAX_DATA], wide_tile[GROUP_MAX];
  int widen;
  int recomputing;
} StreamReads;

/* Every [n, d] operand of the staged sum is the group's data (staged d-major per tile). */
static int operands_staged(const FusedForm *f, const StagedMap *sm) {
  for (int i = 0; i < sm->ops.n; i++) {
    if (sm->ops.op[i].role != ROLE_ND) continue;
    int have = 0;
    for (int j = 0; j < f->ndata; j++) have |= f->data[j] == sm->ops.op[i].t;
    if (!have) return 0;
  }
  return 1;
}

static int stream_map(Lower *L, const FusedForm *f, Stmt *s, StagedMap *sm) {
  return match_staged_map(L, &(Site){.kind = SITE_MAP, .st = s}, sm) && operands_staged(f, sm);
}

static MapKind map_kind(Lower *L, const FusedForm *f, Stmt *s) {
  StagedMap sm;
  EventLse el;
  EventArg ea;
  if (stream_map(L, f, s, &sm)) return MAP_STREAM;
  if (match_event_lse(L, s, &el)) return MAP_LANES;
  if (host_match_event_arg(L, s, &ea)) return MAP_ARG;
  return MAP_ROWS;
}

/* Sums over events with at most two free indices (rows, columns), not symmetric. */
static int match_fused_stream(Lower *L, const Site *site, void *form) {
  StreamForm *sf = form;
  if (!fused_match(L, site, &sf->f)) return 0;
  const Group *g = site->group;
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    if (h->red->op != R_SUM || h->nfree > 2 || h->symmetric) return 0;
  }
  for (int i = 0; i < g->nmaps; i++) sf->kind[i] = (unsigned char)map_kind(L, &sf->f, g->maps[i]);
  return 1;
}

static LType buf_elem(const Program *p, const Tensor *t) { return p->bufs[p->tensor_buf[t->id]]->elem; }

/* Reductions of e not hoisted over the events (those are loads of their statistic). */
static int local_reductions(Lower *L, const Expr *e, Expr **first) {
  if (!e) return 0;
  if (e->kind == E_REDUCE && find_hoisted(L, e)) return 0;
  int n = e->kind == E_REDUCE;
  if (n && !*first) *first = (Expr *)e;
  for (int i = 0; i < e->nargs; i++) n += local_reductions(L, e->args[i], first);
  return n;
}

/* The one min, max or logsumexp over another index inside the term of h
 * (k-means' inertia), its argument free of h's indices and of reductions:
 * computed per event one lane each (host-lanes-sum's lanes-TN), or NULL. */
static Expr *lane_reduction(Lower *L, const Hoisted *h) {
  Expr *r = NULL, *none = NULL;
  if (local_reductions(L, h->red->args[0], &r) != 1) return NULL;
  if ((r->op != R_MIN && r->op != R_MAX && r->op != R_LOGSUMEXP) ||
      spec_index(L->s, r->red.id)->size == L->s->event_size || local_reductions(L, r->args[0], &none))
    return NULL;
  for (int a = 0; a < h->nfree; a++)
    if (expr_uses_index(r->args[0], h->free[a])) return NULL;
  return r;
}

/* The item's arrays (every one its own, at most 8 bytes a value): the
 * float64 results; per data tensor its rows, d-major copy and float64 copy;
 * per map its tile and float64 copy, a lanes map's staged values and lane
 * arrays; per sum with a reduction inside, the same. */
static int64_t stream_bytes(Lower *L, const StreamForm *sf, int64_t T) {
  const FusedForm *f = &sf->f;
  const Group *g = f->g;
  int64_t values = fused_total_elems(f);
  for (int i = 0; i < f->ndata; i++) values += 3 * T * fused_extent(L, f->data[i], 1);
  for (int i = 0; i < g->nmaps; i++) {
    values += 2 * T * f->per_event[i];
    if (sf->kind[i] == MAP_LANES || sf->kind[i] == MAP_ARG)
      values += (index_extent(L, g->maps[i]->rhs->red.id) + 6) * T;
  }
  for (int i = 0; i < g->nreds; i++) {
    Expr *in = lane_reduction(L, g->reds[i]);
    if (in) values += (index_extent(L, in->red.id) + 4) * T;
  }
  return 8 * values;
}

static int plan_fused_stream(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  const StreamForm *sf = form;
  const StreamConfig *c = config;
  FusedShape *sh = (FusedShape *)pl->shape;
  /* float32 blocks of event sums (GMMC_HOST_FAST32): host-fused's */
  if (host_fast32(L)) return 0;
  /* the simple partials' chunks, one slice each: their order of additions */
  const Group *g = site->group;
  sh->slices = L->p->chunks;
  for (int i = 0; i < g->nreds; i++)
    if (g->reds[i]->chunks != sh->slices) return 0;
  int T = tile_events(L, c);
  sh->smem = stream_bytes(L, sf, T);
  if (sh->smem > L->dev.local_bytes) return 0;
  pl->variant = arena_printf(&L->p->arena, "stream-%d", T);
  return 1; /* not priced: the autotuner measures */
}

/* ---- the tile's reads ---- */

static LExpr *stream_access(Lower *L, Kernel *k, const Expr *e, Env *env) {
  StreamReads *r = L->access_user;
  const FusedForm *f = r->f;
  const Group *g = f->g;
  Program *p = L->p;
  for (int i = 0; r->recomputing && i < g->nsnap; i++)
    if (e->tensor == g->snap_t[i]) {
      LExpr **idx = idx_vec(p, e->nidx);
      for (int a = 0; a < e->nidx; a++) idx[a] = V(env->var[e->idx[a].id]);
      return lx_load(p, g->snap_buf[i], idx);
    }
  int data = -1, map = -1;
  for (int i = 0; i < f->ndata; i++)
    if (e->tensor == f->data[i]) data = i;
  for (int i = 0; i < g->nmaps; i++)
    if (e->tensor == g->maps[i]->targets[0].tensor) map = i;
  if (data < 0 && map < 0) return NULL;
  LExpr *rest = NULL;
  for (int a = 1; a < e->nidx; a++) {
    LExpr *v = V(env->var[e->idx[a].id]);
    rest = rest ? BIN(LB_ADD, BIN(LB_MUL, rest, I(p->size_values[e->tensor->dims[a]])), v) : v;
  }
  if (!rest) rest = I(0);
  LExpr *t = BIN(LB_SUB, V(env->var[e->idx[0].id]), V(r->n0));
  int64_t per = fused_extent(L, e->tensor, 1);
  if (data >= 0) {
    int a = r->widen && r->wide_rows[data] >= 0 ? r->wide_rows[data] : r->rows[data];
    return lx_sload(p, k, a, BIN(LB_ADD, BIN(LB_MUL, t, I(per)), rest));
  }
  if (r->widen && r->wide_tile[map] >= 0)
    return lx_sload(p, k, r->wide_tile[map], BIN(LB_ADD, BIN(LB_MUL, t, I(per)), rest));
  LExpr *at =
      r->by_element[map] ? BIN(LB_ADD, BIN(LB_MUL, rest, I(r->T)), t) : BIN(LB_ADD, BIN(LB_MUL, t, I(per)), rest);
  return lx_sload(p, k, r->tile[map], at);
}

static int summed(const Group *g, const Tensor *t) {
  for (int i = 0; i < g->nreds; i++)
    if (fused_reads_tensor(g->reds[i]->red->args[0], t)) return 1;
  return 0;
}

/* ---- the kernel ---- */

typedef struct {
  Lower *L;
  Kernel *k;
  const StreamForm *sf;
  const Group *g;
  int T;
  int first, last, n0, live; /* the slice's events; the tile's first and its events in the slice */
  StreamReads reads;
  const Expr *inner; /* a reduction inside the sum being built ... */
  int inner_vals;    /* ... its value per event of the tile, this array's */
} StreamBuild;

/* The tile's data rows, [t][d] (the last event of the slice again past its
 * end: those events' values are never used), and d-major where a map streams. */
static void stage_tile(StreamBuild *b, LStmt *tile, int streams) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  const FusedForm *f = &b->sf->f;
  for (int i = 0; i < f->ndata; i++) {
    Tensor *x = f->data[i];
    int64_t D = fused_extent(L, x, 1);
    int t, d, row = kernel_var(p, k, "row", LT_I64);
    LStmt *lt = emit_loop(L, k, tile, "t", I(0), I(b->T), &t);
    ls_append(p, lt, ls_assign(p, row, BIN(LB_MIN, BIN(LB_ADD, V(b->n0), V(t)), BIN(LB_SUB, V(b->last), I(1)))));
    LStmt *ld = emit_loop(L, k, lt, "d", I(0), I(D), &d);
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(row), xi[1] = V(d);
    ls_append(p, ld,
              ls_sstore(p, k, b->reads.rows[i], BIN(LB_ADD, BIN(LB_MUL, V(t), I(D)), V(d)),
                        lx_load(p, p->tensor_buf[x->id], xi)));
    if (!streams) continue;
    /* d-major: per d, the tile's T values as T copies of the statement
     * (contiguous stores; as a loop over the events LLVM made them scatters) */
    ld = emit_loop(L, k, tile, "d", I(0), I(D), &d);
    for (int r = 0; r < b->T; r++)
      ls_append(p, ld,
                ls_sstore(p, k, b->reads.dmajor[i], BIN(LB_ADD, BIN(LB_MUL, V(d), I(b->T)), I(r)),
                          lx_sload(p, k, b->reads.rows[i], BIN(LB_ADD, I(r * D), V(d)))));
  }
}

/* Map i's tile element (t, rest) in its layout. */
static LExpr *tile_cell(StreamBuild *b, int i, LExpr *t, LExpr *rest) {
  Program *p = b->L->p;
  if (b->reads.by_element[i]) return BIN(LB_ADD, BIN(LB_MUL, rest, I(b->T)), t);
  return BIN(LB_ADD, BIN(LB_MUL, t, I(b->sf->f.per_event[i])), rest);
}

/* T[n, m] = g(n, m, sum(d, f)) as stream-TN, its sums in registers: per
 * component, the tile's T sums (T copies of the statement, which LLVM packs
 * into vectors of events) take d ascending, then g of each into the tile,
 * [m][t]. (A loop over the events for g, after the sums, was turned into
 * gathers and scatters across components.) */
static void tile_stream(StreamBuild *b, LStmt *tile, int i) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  Stmt *s = b->g->maps[i];
  const FusedForm *f = &b->sf->f;
  StagedMap sm;
  stream_map(L, f, s, &sm);
  int T = b->T;
  L->rt = p->real;
  int vm, vd;
  Env env;
  env_init(&env);
  LStmt *lm = emit_loop(L, k, tile, spec_index(L->s, sm.mid)->name, I(0), I(sm.M), &vm);
  env.var[sm.mid] = vm;
  int acc[STREAM_MAX_T], ev[STREAM_MAX_T];
  for (int r = 0; r < T; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "sum%d", r), L->rt);
    ev[r] = kernel_var(p, k, arena_printf(&p->arena, "event%d", r), LT_I64);
    ls_append(p, lm, ls_assign(p, acc[r], lx_const(p, L->rt, 0)));
    ls_append(p, lm, ls_assign(p, ev[r], BIN(LB_ADD, V(b->n0), I(r))));
  }
  LStmt *ld = emit_loop(L, k, lm, spec_index(L->s, sm.did)->name, I(0), I(sm.D), &vd);
  env.var[sm.did] = vd;
  for (int r = 0; r < T; r++) {
    env.var[sm.nid] = ev[r];
    L->nsubst_tensor = 0;
    for (int o = 0; o < sm.ops.n; o++) {
      if (sm.ops.op[o].role != ROLE_ND) continue;
      int x = 0;
      while (f->data[x] != sm.ops.op[o].t) x++;
      L->subst_tensor[L->nsubst_tensor] = f->data[x];
      L->subst_tensor_val[L->nsubst_tensor++] =
          lx_sload(p, k, b->reads.dmajor[x], BIN(LB_ADD, BIN(LB_MUL, V(vd), I(T)), I(r)));
    }
    LExpr *v = lx_cast(p, L->rt, lower_expr(L, k, ld, sm.sum->args[0], &env));
    ls_append(p, ld, ls_assign(p, acc[r], BIN(LB_ADD, V(acc[r]), v)));
  }
  L->nsubst_tensor = 0;
  /* g of each event's sum, into the tile: T copies again, contiguous */
  LType et = buf_elem(p, s->targets[0].tensor);
  for (int r = 0; r < T; r++) {
    env.var[sm.nid] = ev[r];
    L->subst_expr = sm.sum;
    L->subst_val = V(acc[r]);
    LExpr *v = lower_expr(L, k, lm, s->rhs, &env);
    L->subst_expr = NULL;
    ls_append(p, lm, ls_sstore(p, k, b->reads.tile[i], tile_cell(b, i, I(r), V(vm)), lx_cast(p, et, v)));
  }
}

/* f(n, j) of the tile's events staged j-major in a new array of L->rt,
 * returned (the loop along the events: an E-step's tile is read in its
 * layout). */
static int stage_values(StreamBuild *b, LStmt *tile, int nid, int jid, int64_t J, Expr *f) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  int T = b->T;
  int vals = kernel_shared(p, k, "values", L->rt, J * T);
  int vj, t, vn = kernel_var(p, k, "event", LT_I64);
  Env env;
  env_init(&env);
  LStmt *lj = emit_loop(L, k, tile, spec_index(L->s, jid)->name, I(0), I(J), &vj);
  LStmt *lt = emit_loop(L, k, lj, "t", I(0), I(T), &t);
  ls_append(p, lt, ls_assign(p, vn, BIN(LB_ADD, V(b->n0), V(t))));
  env.var[nid] = vn, env.var[jid] = vj;
  ls_append(p, lt,
            ls_sstore(p, k, vals, BIN(LB_ADD, BIN(LB_MUL, V(vj), I(T)), V(t)),
                      lx_cast(p, L->rt, lower_expr(L, k, lt, f, &env))));
  return vals;
}

/* Array res's T values into map i's tile. */
static void tile_from(StreamBuild *b, LStmt *tile, int i, int res) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  int t;
  LStmt *lt = emit_loop(b->L, k, tile, "t", I(0), I(b->T), &t);
  LType et = buf_elem(p, b->g->maps[i]->targets[0].tensor);
  ls_append(p, lt,
            ls_sstore(p, k, b->reads.tile[i], tile_cell(b, i, V(t), I(0)), lx_cast(p, et, lx_sload(p, k, res, V(t)))));
}

/* T[n] = logsumexp(j, f(n, j)) as lanes-TN: f staged j-major, one lane per event. */
static void tile_lanes(StreamBuild *b, LStmt *tile, int i) {
  Lower *L = b->L;
  EventLse el;
  match_event_lse(L, b->g->maps[i], &el);
  L->rt = L->p->real;
  int vals = stage_values(b, tile, el.nid, el.jid, el.J, el.red->args[0]);
  tile_from(b, tile, i, host_lanes_reduce(L, b->k, tile, b->T, el.jid, el.J, vals, R_LOGSUMEXP));
}

/* T[n] = argmin(j, f(n, j)) or argmax as host-arg's lanes-TN. */
static void tile_arg(StreamBuild *b, LStmt *tile, int i) {
  Lower *L = b->L;
  EventArg ea;
  host_match_event_arg(L, b->g->maps[i], &ea);
  L->rt = L->p->real;
  int vals = stage_values(b, tile, ea.nid, ea.jid, ea.J, ea.red->args[0]);
  tile_from(b, tile, i, host_lanes_arg(L, b->k, tile, b->T, ea.jid, ea.J, vals, ea.red->op == R_ARGMIN));
}

/* Any other map as rows-TN: event by event, its row of elements innermost. */
static void tile_rows(StreamBuild *b, LStmt *tile, int i) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  Stmt *s = b->g->maps[i];
  Target *tg = &s->targets[0];
  L->rt = p->real;
  int t, rest, vn = kernel_var(p, k, "event", LT_I64);
  Env env;
  env_init(&env);
  /* along the events where the tile is laid out so (then contiguous in
   * what an E-step's tile gives), else a row at a time */
  LStmt *lr, *lt;
  if (b->reads.by_element[i]) {
    lr = emit_loop(L, k, tile, "element", I(0), I(b->sf->f.per_event[i]), &rest);
    lt = lr = emit_loop(L, k, lr, "t", I(0), I(b->T), &t);
    ls_append(p, lt, ls_assign(p, vn, BIN(LB_ADD, V(b->n0), V(t))));
  } else {
    lt = emit_loop(L, k, tile, "t", I(0), I(b->T), &t);
    ls_append(p, lt, ls_assign(p, vn, BIN(LB_ADD, V(b->n0), V(t))));
    lr = emit_loop(L, k, lt, "element", I(0), I(b->sf->f.per_event[i]), &rest);
  }
  env.var[tg->idx[0].id] = vn;
  int ids[GMMC_MAX_RANK];
  for (int a = 1; a < tg->nidx; a++) ids[a - 1] = tg->idx[a].id;
  if (tg->nidx > 1) decompose_flat(L, k, lr, V(rest), ids, tg->nidx - 1, &env);
  LExpr *v = lower_expr(L, k, lr, s->rhs, &env);
  ls_append(p, lr,
            ls_sstore(p, k, b->reads.tile[i], tile_cell(b, i, V(t), V(rest)), lx_cast(p, buf_elem(p, tg->tensor), v)));
}

/* Map i's value (t, rest) for memory: from its float64 copy where it has
 * one (row by row, exact: a float32 widened), else from its tile. */
static LExpr *stored_value(StreamBuild *b, int i, LExpr *t, LExpr *rest) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  LType et = buf_elem(p, b->g->maps[i]->targets[0].tensor);
  if (b->reads.wide_tile[i] < 0) return lx_sload(p, k, b->reads.tile[i], tile_cell(b, i, t, rest));
  return lx_cast(p, et,
                 lx_sload(p, k, b->reads.wide_tile[i], BIN(LB_ADD, BIN(LB_MUL, t, I(b->sf->f.per_event[i])), rest)));
}

/* Map i's tile into memory, for the slice's events, where the group stores it. */
static void store_tile(StreamBuild *b, LStmt *tile, int i) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  Target *tg = &b->g->maps[i]->targets[0];
  int keep = 0;
  for (int j = 0; j < b->g->nstored; j++) keep |= b->g->stored[j] == tg->tensor;
  if (!keep) return;
  int t, rest, vn = kernel_var(p, k, "event", LT_I64);
  Env env;
  env_init(&env);
  LStmt *lt = emit_loop(L, k, tile, "t", I(0), V(b->live), &t);
  ls_append(p, lt, ls_assign(p, vn, BIN(LB_ADD, V(b->n0), V(t))));
  env.var[tg->idx[0].id] = vn;
  LStmt *lr = emit_loop(L, k, lt, "element", I(0), I(b->sf->f.per_event[i]), &rest);
  int ids[GMMC_MAX_RANK];
  for (int a = 1; a < tg->nidx; a++) ids[a - 1] = tg->idx[a].id;
  if (tg->nidx > 1) decompose_flat(L, k, lr, V(rest), ids, tg->nidx - 1, &env);
  LExpr **idx = idx_vec(p, tg->nidx);
  for (int a = 0; a < tg->nidx; a++) idx[a] = V(env.var[tg->idx[a].id]);
  ls_append(p, lr, ls_store(p, p->tensor_buf[tg->tensor->id], idx, stored_value(b, i, V(t), V(rest))));
}

/* One register tile of reduction h's sums over the tile's events: rows
 * rows[0..nr) (NULL: h has no row index) x columns cols[0..nc) (NULL: no
 * free index), nr x nc float64 sums loaded from the item's results,
 * the events added in order, stored back. */
static void register_tile(StreamBuild *b, LStmt *blk, const Hoisted *h, int res, const int *rows, int nr,
                          const int *cols, int nc) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  int iid = h->nfree == 2 ? h->free[0] : -1, jid = h->nfree ? h->free[h->nfree - 1] : -1;
  int64_t ej = jid >= 0 ? index_extent(L, jid) : 1;
  enum { MAXR = STREAM_RR, MAXC = 2 * STREAM_RB };
  int acc[MAXR][MAXC];
  LExpr *cells[MAXR][MAXC];
  for (int r = 0; r < nr; r++)
    for (int c = 0; c < nc; c++) {
      LExpr *col = cols ? V(cols[c]) : I(0);
      cells[r][c] = rows ? BIN(LB_ADD, BIN(LB_MUL, V(rows[r]), I(ej)), col) : col;
      acc[r][c] = kernel_var(p, k, arena_printf(&p->arena, "sum%d_%d", r, c), LT_F64);
      ls_append(p, blk, ls_assign(p, acc[r][c], lx_sload(p, k, res, cells[r][c])));
    }
  int t, vn = kernel_var(p, k, spec_index(L->s, h->red->red.id)->name, LT_I64);
  LStmt *le = emit_loop(L, k, blk, "t", I(0), V(b->live), &t);
  ls_append(p, le, ls_assign(p, vn, BIN(LB_ADD, V(b->n0), V(t))));
  Env env;
  env_init(&env);
  env.var[h->red->red.id] = vn;
  /* the simple kernel's term: formed in the terms' type, added in float64 */
  L->rt = event_term_type(L);
  if (b->inner) L->subst_expr = b->inner, L->subst_val = lx_sload(p, k, b->inner_vals, V(t));
  for (int r = 0; r < nr; r++)
    for (int c = 0; c < nc; c++) {
      if (rows) env.var[iid] = rows[r];
      if (cols) env.var[jid] = cols[c];
      LExpr *v = lx_cast(p, LT_F64, lx_cast(p, event_term_type(L), lower_expr(L, k, le, h->red->args[0], &env)));
      ls_append(p, le, ls_assign(p, acc[r][c], BIN(LB_ADD, V(acc[r][c]), v)));
    }
  L->subst_expr = NULL;
  for (int r = 0; r < nr; r++)
    for (int c = 0; c < nc; c++) ls_append(p, blk, ls_sstore(p, k, res, cells[r][c], V(acc[r][c])));
}

/* Variables v[0..n) = base + c. */
static void offsets(StreamBuild *b, LStmt *blk, const char *name, LExpr *base, int n, int *v) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  for (int c = 0; c < n; c++) {
    v[c] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", name, c), LT_I64);
    ls_append(p, blk, ls_assign(p, v[c], BIN(LB_ADD, base, I(c))));
  }
}

/* Register tiles over the columns of the given rows: whole blocks of
 * STREAM_RB, then the columns past them all at once. */
static void column_tiles(StreamBuild *b, LStmt *blk, const Hoisted *h, int res, const int *rows, int nr) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  if (!h->nfree) {
    register_tile(b, blk, h, res, NULL, 1, NULL, 1);
    return;
  }
  int jid = h->free[h->nfree - 1], cols[2 * STREAM_RB], cb;
  const char *jname = spec_index(L->s, jid)->name;
  int64_t ej = index_extent(L, jid), whole = ej / STREAM_RB * STREAM_RB;
  if (whole) {
    LStmt *lc = emit_loop(L, k, blk, "column_block", I(0), I(whole / STREAM_RB), &cb);
    offsets(b, lc, jname, BIN(LB_MUL, V(cb), I(STREAM_RB)), STREAM_RB, cols);
    register_tile(b, lc, h, res, rows, nr, cols, STREAM_RB);
  }
  if (whole < ej) {
    offsets(b, blk, jname, I(whole), (int)(ej - whole), cols);
    register_tile(b, blk, h, res, rows, nr, cols, (int)(ej - whole));
  }
}

/* Reduction h's register tiles: groups of STREAM_RR rows, then the rows
 * past them one at a time. */
static void sums_by_rows(StreamBuild *b, LStmt *tile, const Hoisted *h, int res) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  if (h->nfree < 2) {
    column_tiles(b, tile, h, res, NULL, 1);
    return;
  }
  int iid = h->free[0], rows[STREAM_RR], rg;
  const char *iname = spec_index(L->s, iid)->name;
  int64_t ei = index_extent(L, iid), whole = ei / STREAM_RR * STREAM_RR;
  if (whole) {
    LStmt *lg = emit_loop(L, k, tile, "row_group", I(0), I(whole / STREAM_RR), &rg);
    offsets(b, lg, iname, BIN(LB_MUL, V(rg), I(STREAM_RR)), STREAM_RR, rows);
    column_tiles(b, lg, h, res, rows, STREAM_RR);
  }
  if (whole < ei) {
    LStmt *lr = emit_loop(L, k, tile, iname, I(whole), I(ei), &rows[0]);
    column_tiles(b, lr, h, res, rows, 1);
  }
}

/* Reduction h's sums of the tile's events; a min, max or logsumexp inside
 * its term first, for the tile's events at once (in the terms' type, in the
 * simple kernel's order: its bits), read from an array by the terms. */
static void tile_sums(StreamBuild *b, LStmt *tile, const Hoisted *h, int res) {
  Lower *L = b->L;
  Kernel *k = b->k;
  Expr *in = lane_reduction(L, h);
  if (in) {
    int64_t J = index_extent(L, in->red.id);
    L->rt = event_term_type(L);
    b->reads.widen = 0; /* the tiles along the events */
    int vals = stage_values(b, tile, h->red->red.id, in->red.id, J, in->args[0]);
    b->inner_vals = host_lanes_reduce(L, k, tile, b->T, in->red.id, J, vals, (RedOp)in->op);
    b->reads.widen = 1;
    b->inner = in;
  }
  sums_by_rows(b, tile, h, res);
  b->inner = NULL;
}

/* A float64 copy of array `from` (count values), the copy's array; filled in blk. */
static int widened(StreamBuild *b, LStmt *blk, int from, const char *name, int64_t count) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  int to = kernel_shared(p, k, arena_printf(&p->arena, "%s_f64", name), LT_F64, count), at;
  LStmt *l = emit_loop(b->L, k, blk, "at", I(0), I(count), &at);
  ls_append(p, l, ls_sstore(p, k, to, V(at), lx_cast(p, LT_F64, lx_sload(p, k, from, V(at)))));
  return to;
}

/* Map i's float64 copy, [t][element] (from an E-step's layout: the one
 * transposition of the tile, where the sums and the store read rows). */
static int widened_rows(StreamBuild *b, LStmt *blk, int i) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  int64_t per = b->sf->f.per_event[i];
  const char *name = b->g->maps[i]->targets[0].tensor->name;
  int to = kernel_shared(p, k, arena_printf(&p->arena, "%s_f64", name), LT_F64, b->T * per), t, e;
  LStmt *lt = emit_loop(b->L, k, blk, "t", I(0), I(b->T), &t);
  LStmt *le = emit_loop(b->L, k, lt, "element", I(0), I(per), &e);
  ls_append(p, le,
            ls_sstore(p, k, to, BIN(LB_ADD, BIN(LB_MUL, V(t), I(per)), V(e)),
                      lx_cast(p, LT_F64, lx_sload(p, k, b->reads.tile[i], tile_cell(b, i, V(t), V(e))))));
  return to;
}

/* Under float64 statistics, float64 copies of the float32 arrays the sums read. */
static void widen_tiles(StreamBuild *b, LStmt *tile) {
  Lower *L = b->L;
  Program *p = L->p;
  const FusedForm *f = &b->sf->f;
  const Group *g = b->g;
  for (int i = 0; i < f->ndata; i++) {
    b->reads.wide_rows[i] = -1;
    if (event_term_type(L) == LT_F64 && buf_elem(p, f->data[i]) == LT_F32 && summed(g, f->data[i]))
      b->reads.wide_rows[i] =
          widened(b, tile, b->reads.rows[i], f->data[i]->name, b->T * fused_extent(L, f->data[i], 1));
  }
  for (int i = 0; i < g->nmaps; i++) {
    Tensor *t = g->maps[i]->targets[0].tensor;
    b->reads.wide_tile[i] = -1;
    if (event_term_type(L) == LT_F64 && buf_elem(p, t) == LT_F32 && summed(g, t))
      b->reads.wide_tile[i] = widened_rows(b, tile, i);
  }
}

static void build_fused_stream(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                               Built *out) {
  (void)site, (void)out;
  Program *p = L->p;
  const StreamForm *sf = form;
  const FusedForm *f = &sf->f;
  const Group *g = f->g;
  const FusedShape *sh = (const FusedShape *)pl->shape;
  int T = tile_events(L, config);
  const char *tag = arena_printf(&p->arena, "hoststream%d_g%d", T, g->unit);
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, tag));
  /* the CPU's native vectors (LLVM prefers 256 bits on AVX-512 CPUs): the
   * tile's maps at 512 bits took 10^5 x 19 x 16 diag float32 from 9.1 to
   * 7.5 ms a launch, one thread (docs/performance.md, issue 17, ninth part) */
  k->vector_bytes = host_native_vector_bytes(L);
  StrBuf sb = {0};
  for (int i = 0; i < g->nmembers; i++) sb_printf(&sb, "%s%s", i ? " " : "", p->units[g->members[i]].name);
  k->what = arena_printf(&p->arena, "fused: %s [%s: tiles of %d events, each map as the host's variants]",
                         arena_take(&p->arena, &sb), pl->variant, T);
  StreamBuild b = {.L = L, .k = k, .sf = sf, .g = g, .T = T};
  k->pvar = kernel_var(p, k, "slice", LT_I64);
  k->count = I(sh->slices);
  int len;
  emit_chunk_bounds(L, k, k->body, k->pvar, sh->slices, &len, &b.first, &b.last);
  /* the arrays: results, data rows, map tiles */
  int res[8], streams = 0;
  for (int i = 0; i < g->nmaps; i++) streams |= sf->kind[i] == MAP_STREAM;
  b.reads = (StreamReads){.f = f, .T = T};
  for (int i = 0; i < g->nreds; i++) {
    res[i] = kernel_shared(p, k, arena_printf(&p->arena, "result%d", i), LT_F64, f->elems[i]);
    int at;
    LStmt *lz = emit_loop(L, k, k->body, "at", I(0), I(f->elems[i]), &at);
    ls_append(p, lz, ls_sstore(p, k, res[i], V(at), fused_red_init(p, R_SUM, LT_F64)));
  }
  for (int i = 0; i < f->ndata; i++) {
    int64_t D = fused_extent(L, f->data[i], 1);
    LType et = buf_elem(p, f->data[i]);
    b.reads.rows[i] = kernel_shared(p, k, f->data[i]->name, et, T * D);
    if (streams)
      b.reads.dmajor[i] = kernel_shared(p, k, arena_printf(&p->arena, "%s_dmajor", f->data[i]->name), et, T * D);
  }
  for (int i = 0; i < g->nmaps; i++) {
    Tensor *t = g->maps[i]->targets[0].tensor;
    b.reads.tile[i] = kernel_shared(p, k, t->name, buf_elem(p, t), T * f->per_event[i]);
    b.reads.by_element[i] = sf->kind[i] == MAP_STREAM || (sf->kind[i] == MAP_ROWS && f->per_event[i] > 1);
  }
  /* the slice's tiles */
  int tile;
  LExpr *ntiles = BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, V(b.last), V(b.first)), I(T - 1)), I(T));
  LStmt *lt = emit_loop(L, k, k->body, "tile", I(0), ntiles, &tile);
  b.n0 = b.reads.n0 = kernel_var(p, k, "n0", LT_I64);
  b.live = kernel_var(p, k, "live", LT_I64);
  ls_append(p, lt, ls_assign(p, b.n0, BIN(LB_ADD, V(b.first), BIN(LB_MUL, V(tile), I(T)))));
  ls_append(p, lt, ls_assign(p, b.live, BIN(LB_MIN, I(T), BIN(LB_SUB, V(b.last), V(b.n0)))));
  L->access = stream_access;
  L->access_user = &b.reads;
  stage_tile(&b, lt, streams);
  for (int i = 0; i < g->nmaps; i++) {
    b.reads.recomputing = i < g->nrecomputed;
    if (sf->kind[i] == MAP_STREAM)
      tile_stream(&b, lt, i);
    else if (sf->kind[i] == MAP_LANES)
      tile_lanes(&b, lt, i);
    else if (sf->kind[i] == MAP_ARG)
      tile_arg(&b, lt, i);
    else
      tile_rows(&b, lt, i);
    b.reads.recomputing = 0;
  }
  widen_tiles(&b, lt);
  for (int i = 0; i < g->nmaps; i++) store_tile(&b, lt, i);
  b.reads.widen = 1;
  for (int i = 0; i < g->nreds; i++) tile_sums(&b, lt, g->reds[i], res[i]);
  b.reads.widen = 0;
  L->access = NULL;
  L->access_user = NULL;
  /* the slice's partials, as the simple kernel stores them, and their combines */
  for (int i = 0; i < g->nreds; i++) {
    Hoisted *h = g->reds[i];
    int partial = new_partial(L, h, sh->slices, tag), at;
    LStmt *lo = emit_loop(L, k, k->body, "at", I(0), I(f->elems[i]), &at);
    Env env;
    env_init(&env);
    decompose_flat(L, k, lo, V(at), h->free, h->nfree, &env);
    LExpr **idx = idx_vec(p, h->nfree + 1);
    idx[0] = V(k->pvar);
    for (int a = 0; a < h->nfree; a++) idx[a + 1] = V(env.var[h->free[a]]);
    ls_append(p, lo, ls_store(p, partial, idx, lx_sload(p, k, res[i], V(at))));
    combine_kernel_for(L, g->red_stmts[i], h, partial, (int)sh->slices, tag);
  }
}

/* one configuration: each costs a cold compile some 160 ms (a fused kernel
 * is one large function); 256 bytes of events beat 128 in float32 (64
 * events: 11.4 against 12.2 ms a launch at 10^5 x 19 x 16, one thread) */
static const StreamConfig stream_configs[] = {{0}};

const VariantFamily family_host_fused_stream = {.name = "host-fused-stream",
                                                .site = SITE_GROUP,
                                                .host = 1,
                                                .stats64 = 1,
                                                .match = match_fused_stream,
                                                .configs = stream_configs,
                                                .nconfigs = sizeof stream_configs / sizeof *stream_configs,
                                                .config_size = sizeof *stream_configs,
                                                .plan = plan_fused_stream,
                                                .build = build_fused_stream,
                                                .supersedes = &family_host_fused};
