/* The pieces shared by the fused kernels (fused_tile.h). */
#include <stdlib.h>
#include <string.h>

#include "fused_tile.h"

int64_t fused_extent(Lower *L, const Tensor *t, int from) {
  int64_t n = 1;
  for (int a = from; a < t->rank; a++) n *= L->p->size_values[t->dims[a]];
  return n;
}

static int uses_prev(const Expr *e) {
  if (!e) return 0;
  if (e->kind == E_ACCESS && e->prev) return 1;
  for (int i = 0; i < e->nargs; i++)
    if (uses_prev(e->args[i])) return 1;
  return 0;
}

/* The group's data tensors [n, d], staged a tile at a time; a tensor of
 * the event axis alone (the per-event weights w[n]) is read where it is
 * used, one value per event. */
static void note_data(Lower *L, const Expr *e, FusedForm *f, int *ok) {
  if (!e) return;
  if (e->kind == E_ACCESS && e->tensor && e->tensor->kind == TK_DATA && e->tensor->rank != 1) {
    int have = 0;
    for (int i = 0; i < f->ndata; i++) have |= f->data[i] == e->tensor;
    if (!have && (e->tensor->rank != 2 || f->ndata == FUSED_MAX_DATA)) *ok = 0;
    if (!have && *ok) f->data[f->ndata++] = e->tensor;
  }
  for (int i = 0; i < e->nargs; i++) note_data(L, e->args[i], f, ok);
}

int fused_match(Lower *L, const Site *site, void *form) {
  const Group *g = site->group;
  FusedForm *f = form;
  f->g = g;
  if (g->nreds + 1 > 8) return 0; /* the fused kernel and a combine per reduction in one alternative */
  int ok = 1;
  for (int i = 0; i < g->nmaps; i++) {
    Stmt *s = g->maps[i];
    Tensor *t = s->targets[0].tensor;
    if (s->builtin || !tensor_per_event(L, t) || t->structure != ST_NONE || uses_prev(s->rhs)) return 0;
    f->per_event[i] = fused_extent(L, t, 1);
    note_data(L, s->rhs, f, &ok);
  }
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    if (uses_prev(h->red->args[0])) return 0;
    f->elems[i] = 1;
    for (int a = 0; a < h->nfree; a++) f->elems[i] *= index_extent(L, h->free[a]);
    note_data(L, h->red->args[0], f, &ok);
  }
  return ok;
}

static int64_t esize(LType t) { return t == LT_F64 || t == LT_I64 ? 8 : 4; }

/* The tile arrays' layout. On the GPU the tile's events vary fastest,
 * [element][event] with rows of events + 1: a warp's threads take 32 events
 * of one element, so they read the same parameters (one broadcast) and
 * consecutive words, and a thread walking its events in a row while its
 * neighbours walk theirs hits 32 banks. On the host [event][element]: a
 * work item's innermost loops run along an event's elements. */
static int64_t tile_rows(int host, int64_t events) { return host ? events : events + 1; }

int fused_reads_tensor(const Expr *e, const Tensor *t) {
  if (!e) return 0;
  if (e->kind == E_ACCESS && e->tensor == t) return 1;
  for (int i = 0; i < e->nargs; i++)
    if (fused_reads_tensor(e->args[i], t)) return 1;
  return 0;
}

/* Whether every read of t in e is at target tg's own indices. */
static int reads_only_at(const Expr *e, const Tensor *t, const Target *tg) {
  if (!e) return 1;
  if (e->kind == E_ACCESS && e->tensor == t) {
    if (e->nidx != tg->nidx) return 0;
    for (int a = 0; a < e->nidx; a++)
      if (e->idx[a].id != tg->idx[a].id) return 0;
  }
  for (int i = 0; i < e->nargs; i++)
    if (!reads_only_at(e->args[i], t, tg)) return 0;
  return 1;
}

/* GPU: the earlier map whose tile array map i takes over, or -1. Map j's
 * array is free once map i has read it, when i reads it only at its own
 * element (each thread reads an element, then writes it: R = exp(L - lse)
 * over L) and nothing after i reads it: a tile of 32 events holds L and R
 * in one 128-component array instead of two. */
int fused_tile_alias(Lower *L, const FusedForm *f, int i) {
  Program *p = L->p;
  const Group *g = f->g;
  Stmt *s = g->maps[i];
  LType ti = p->bufs[p->tensor_buf[s->targets[0].tensor->id]]->elem;
  for (int j = 0; j < i; j++) {
    Tensor *tj = g->maps[j]->targets[0].tensor;
    if (f->per_event[j] != f->per_event[i] || p->bufs[p->tensor_buf[tj->id]]->elem != ti) continue;
    if (!fused_reads_tensor(s->rhs, tj) || !reads_only_at(s->rhs, tj, &s->targets[0])) continue;
    int taken = 0, later = 0;
    for (int q = j + 1; q < i; q++) taken |= fused_tile_alias(L, f, q) == j;
    for (int q = i + 1; q < g->nmaps; q++) later |= fused_reads_tensor(g->maps[q]->rhs, tj);
    for (int r = 0; r < g->nreds; r++) later |= fused_reads_tensor(g->reds[r]->red->args[0], tj);
    if (!taken && !later) return j;
  }
  return -1;
}

static int64_t tile_bytes(Lower *L, const FusedForm *f, int64_t events, int host, int64_t rows) {
  Program *p = L->p;
  int64_t b = 0;
  if (host || !rows) rows = tile_rows(host, events);
  for (int i = 0; i < f->ndata; i++) b += rows * fused_extent(L, f->data[i], 1) * esize(p->real);
  for (int i = 0; i < f->g->nmaps; i++)
    if (host || fused_tile_alias(L, f, i) < 0)
      b += rows * f->per_event[i] * esize(p->bufs[p->tensor_buf[f->g->maps[i]->targets[0].tensor->id]]->elem);
  return b;
}

int64_t fused_tile_bytes(Lower *L, const FusedForm *f, int64_t events, int host) {
  return tile_bytes(L, f, events, host, 0);
}

int64_t fused_tile_bytes_rows(Lower *L, const FusedForm *f, int64_t events, int64_t rows) {
  return tile_bytes(L, f, events, 0, rows);
}

int64_t fused_total_elems(const FusedForm *f) {
  int64_t n = 0;
  for (int i = 0; i < f->g->nreds; i++) n += f->elems[i];
  return n;
}

/* What a fused kernel moves and computes, for the cost model: the data
 * read once, the stored targets written once, the tile arrays written and
 * read back in shared memory, each map element's arithmetic about one
 * multiply-add per feature, each reduction element's one per event; the
 * partials written and combined. */
Work fused_work(Lower *L, const FusedForm *f, int64_t slices) {
  Program *p = L->p;
  const Group *g = f->g;
  double esz = (double)esize(p->real), features = 1;
  Work w = {.launches = 1 + g->nreds};
  for (int i = 0; i < f->ndata; i++) {
    double d = (double)fused_extent(L, f->data[i], 1);
    w.bytes_per_event += d * esz;
    features = d > features ? d : features;
  }
  for (int i = 0; i < g->nmaps; i++) {
    w.shared_per_event += 2 * (double)f->per_event[i] * esz;
    w.fmas_per_event += (double)f->per_event[i] * features;
  }
  for (int i = 0; i < g->nstored; i++) w.bytes_per_event += (double)fused_extent(L, g->stored[i], 1) * esz;
  for (int i = 0; i < g->nreds; i++) {
    w.shared_per_event += 2 * (double)f->elems[i] * esz;
    w.fmas_per_event += (double)f->elems[i];
    w.bytes += 2 * 8 * (double)slices * (double)f->elems[i];
  }
  return w;
}

/* ---- the tile's reads ---- */

/* Position in a tile array of event t (of the tile) and element `rest`
 * (of per_event), in the layout of tile_rows. */
static LExpr *tile_pos(Program *p, const TileReads *r, LExpr *t, LExpr *rest, int64_t per_event) {
  if (r->host) return lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, t, lx_int(p, per_event)), rest);
  return lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, rest, lx_int(p, r->rows)), t);
}

/* The position of the access e: event n - n0, its other indices row-major. */
static LExpr *tile_at(Lower *L, Kernel *k, const Expr *e, Env *env, const TileReads *r, int64_t per_event) {
  Program *p = L->p;
  LExpr *rest = NULL;
  for (int a = 1; a < e->nidx; a++) {
    LExpr *v = V(env->var[e->idx[a].id]);
    rest = rest ? BIN(LB_ADD, BIN(LB_MUL, rest, I(L->p->size_values[e->tensor->dims[a]])), v) : v;
  }
  return tile_pos(p, r, BIN(LB_SUB, V(env->var[e->idx[0].id]), V(r->n0)), rest ? rest : I(0), per_event);
}

/* A recomputed statement's read of a parameter snapshotted for it. */
static LExpr *snapshot_read(Lower *L, Kernel *k, const Group *g, const Expr *e, Env *env) {
  Program *p = L->p;
  for (int i = 0; i < g->nsnap; i++)
    if (e->tensor == g->snap_t[i]) {
      LExpr **idx = idx_vec(p, e->nidx);
      for (int a = 0; a < e->nidx; a++) idx[a] = V(env->var[e->idx[a].id]);
      return lx_load(p, g->snap_buf[i], idx);
    }
  return NULL;
}

static LExpr *tile_access(Lower *L, Kernel *k, const Expr *e, Env *env) {
  TileReads *r = L->access_user;
  const FusedForm *f = r->f;
  const Group *g = f->g;
  Program *p = L->p;
  for (int i = 0; i < f->ndata; i++)
    if (e->tensor == f->data[i])
      return lx_sload(p, k, r->data_sh[i], tile_at(L, k, e, env, r, fused_extent(L, e->tensor, 1)));
  for (int i = 0; i < g->nmaps; i++)
    if (e->tensor == g->maps[i]->targets[0].tensor)
      return lx_sload(p, k, r->tile_sh[i], tile_at(L, k, e, env, r, f->per_event[i]));
  return r->recomputing ? snapshot_read(L, k, g, e, env) : NULL;
}

LExpr *fused_snapshot_access(Lower *L, Kernel *k, const Expr *e, Env *env) {
  return snapshot_read(L, k, L->access_user, e, env);
}

int fused_shared(FusedBuild *b, const char *name, LType t, int64_t count) {
  return kernel_shared(b->L->p, b->k, name, t, count > 0 ? count : 1);
}

/* A loop over [0, count) shared by the threads (GPU) or run by the one
 * (host); returns its body with *flat set. */
LStmt *fused_spread(FusedBuild *b, LStmt *blk, const char *name, int64_t count, int *flat) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  *flat = kernel_var(p, k, name, LT_I64);
  if (!b->host) return emit_strided(b->L, k, blk, name, count, b->c->threads, b->tid, *flat);
  int v;
  LStmt *body = emit_loop(b->L, k, blk, name, I(0), I(count), &v);
  ls_append(p, body, ls_assign(p, *flat, V(v)));
  return body;
}

void fused_barrier(FusedBuild *b, LStmt *blk) {
  if (!b->host) ls_append(b->L->p, blk, ls_sync(b->L->p));
}

/* Stages the tile's rows of each data tensor: sh[t * D + d] = X[n0 + t, d], zero past the slice. */
void fused_stage_data(FusedBuild *b, LStmt *blk) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  for (int i = 0; i < b->f->ndata; i++) {
    Tensor *x = b->f->data[i];
    int64_t D = fused_extent(L, x, 1);
    int flat, n = kernel_var(p, k, "n", LT_I64), d = kernel_var(p, k, "d", LT_I64);
    LStmt *in = fused_spread(b, blk, "stage", b->c->events * D, &flat);
    ls_append(p, in, ls_assign(p, n, BIN(LB_ADD, V(b->n0), BIN(LB_DIV, V(flat), I(D)))));
    ls_append(p, in, ls_assign(p, d, BIN(LB_REM, V(flat), I(D))));
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(n);
    xi[1] = V(d);
    LExpr *at = tile_pos(p, &b->reads, BIN(LB_DIV, V(flat), I(D)), V(d), D);
    stage_or_zero(p, k, in, BIN(LB_LT, V(n), V(b->last)), b->reads.data_sh[i], at,
                  lx_cast(p, p->real, lx_load(p, p->tensor_buf[x->id], xi)));
  }
}

/* Every map of the group for the tile's events, into its tile array (and
 * memory, where the group stores it). */
void fused_tile_maps(FusedBuild *b, LStmt *blk, int first) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  const Group *g = b->f->g;
  for (int i = first; i < g->nmaps; i++) {
    Stmt *s = g->maps[i];
    Target *tg = &s->targets[0];
    int buf = p->tensor_buf[tg->tensor->id];
    int64_t per = b->f->per_event[i];
    int flat, n = kernel_var(p, k, "n", LT_I64), t = kernel_var(p, k, "t", LT_I64),
              rest = kernel_var(p, k, "rest", LT_I64);
    LStmt *in = fused_spread(b, blk, "elem", b->c->events * per, &flat);
    /* the layout's order: consecutive threads take consecutive events (GPU) */
    LExpr *T = I(b->c->events), *P = I(per);
    ls_append(p, in, ls_assign(p, t, b->host ? BIN(LB_DIV, V(flat), P) : BIN(LB_REM, V(flat), T)));
    ls_append(p, in, ls_assign(p, rest, b->host ? BIN(LB_REM, V(flat), P) : BIN(LB_DIV, V(flat), T)));
    ls_append(p, in, ls_assign(p, n, BIN(LB_ADD, V(b->n0), V(t))));
    LStmt *live = ls_when(p, in, BIN(LB_LT, V(n), V(b->last)));
    Env env;
    env_init(&env);
    env.var[tg->idx[0].id] = n;
    int ids[GMMC_MAX_RANK];
    for (int a = 1; a < tg->nidx; a++) ids[a - 1] = tg->idx[a].id;
    if (tg->nidx > 1) decompose_flat(L, k, live, V(rest), ids, tg->nidx - 1, &env);
    L->rt = p->real;
    b->reads.recomputing = i < g->nrecomputed;
    LExpr *v = lower_expr(L, k, live, s->rhs, &env);
    b->reads.recomputing = 0;
    LType et = p->bufs[buf]->elem;
    int tmp = kernel_var(p, k, "value", et);
    ls_append(p, live, ls_assign(p, tmp, lx_cast(p, et, v)));
    ls_append(p, live, ls_sstore(p, k, b->reads.tile_sh[i], tile_pos(p, &b->reads, V(t), V(rest), per), V(tmp)));
    int keep = 0;
    for (int j = 0; j < g->nstored; j++) keep |= g->stored[j] == tg->tensor;
    if (keep) {
      LExpr **idx = idx_vec(p, tg->nidx);
      for (int a = 0; a < tg->nidx; a++) idx[a] = V(env.var[tg->idx[a].id]);
      ls_append(p, live, ls_store(p, buf, idx, V(tmp)));
    }
    fused_barrier(b, blk);
  }
}

LExpr *fused_red_init(Program *p, RedOp op, LType t) {
  return lx_const(p, t, op == R_SUM ? 0.0 : op == R_MAX ? -__builtin_inf() : __builtin_inf());
}

LExpr *fused_red_step(Lower *L, RedOp op, LExpr *acc, LExpr *v, int reassoc) {
  LExpr *e = lx_binary(L->p, op == R_SUM ? LB_ADD : op == R_MAX ? LB_MAX : LB_MIN, acc, v);
  e->reassoc = reassoc;
  return e;
}

/* In the names of the kernels and partials: the configuration and the
 * group, so that a program lowered for some choices names them alike. */
const char *fused_kernel_tag(FusedBuild *b) {
  return arena_printf(&b->L->p->arena, "%s%dx%d_g%d",
                      b->tag    ? b->tag
                      : b->host ? "hostfused"
                                : "fused",
                      b->c->events, b->c->threads, b->f->g->unit);
}

/* Events of the slice a tile at a time: returns the tile's body, n0 set. */
LStmt *fused_tile_loop(FusedBuild *b, LStmt *blk) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  int64_t T = b->c->events;
  LExpr *ntiles = BIN(LB_DIV, BIN(LB_ADD, BIN(LB_SUB, V(b->last), V(b->first)), I(T - 1)), I(T));
  int t;
  LStmt *body = emit_loop(b->L, k, blk, "tile", I(0), ntiles, &t);
  b->n0 = b->reads.n0 = kernel_var(p, k, "n0", LT_I64);
  ls_append(p, body, ls_assign(p, b->n0, BIN(LB_ADD, V(b->first), BIN(LB_MUL, V(t), I(T)))));
  return body;
}

void fused_make_tiles(FusedBuild *b) {
  Program *p = b->L->p;
  const FusedForm *f = b->f;
  int64_t rows = b->rows ? b->rows : tile_rows(b->host, b->c->events);
  for (int i = 0; i < f->ndata; i++)
    b->reads.data_sh[i] = fused_shared(b, f->data[i]->name, p->real, rows * fused_extent(b->L, f->data[i], 1));
  for (int i = 0; i < f->g->nmaps; i++) {
    Tensor *t = f->g->maps[i]->targets[0].tensor;
    int j = b->host ? -1 : fused_tile_alias(b->L, f, i);
    b->reads.tile_sh[i] = j >= 0
                              ? b->reads.tile_sh[j]
                              : fused_shared(b, t->name, p->bufs[p->tensor_buf[t->id]]->elem, rows * f->per_event[i]);
  }
  b->reads.f = f;
  b->reads.events = b->c->events;
  b->reads.host = b->host;
  b->reads.rows = rows;
  b->L->access = tile_access;
  b->L->access_user = &b->reads;
}

Kernel *fused_new_kernel(FusedBuild *b, const Site *site) {
  Lower *L = b->L;
  Program *p = L->p;
  const Group *g = b->f->g;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, fused_kernel_tag(b)));
  StrBuf sb = {0};
  for (int i = 0; i < g->nmembers; i++) sb_printf(&sb, "%s%s", i ? " " : "", p->units[g->members[i]].name);
  char *members = arena_take(&p->arena, &sb);
  (void)site;
  k->what = arena_printf(&p->arena, "fused: %s [tiles of %d events%s%s]", members, b->c->events,
                         g->nrecomputed ? ", recomputing " : "", g->nrecomputed ? g->maps[0]->targets[0].name : "");
  return k;
}

/* The combine kernels of the group's partials. */
void fused_combine_all(FusedBuild *b, const int *partial, int64_t slices) {
  const Group *g = b->f->g;
  for (int i = 0; i < g->nreds; i++)
    combine_kernel_for(b->L, g->red_stmts[i], g->reds[i], partial[i], (int)slices, fused_kernel_tag(b));
}

/* ---- the results a GPU thread owns ---------------------------------------------------------------- */

void fused_owners_init(FusedBuild *b, FusedOwners *o, unsigned skip) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  const FusedForm *f = b->f;
  const Group *g = f->g;
  int B = b->c->threads;
  o->n = 0;
  /* result tid + j * B of each reduction, its indices bound once; a guard
   * only where the last stride runs past the results or a symmetric pair's
   * lower triangle is skipped */
  for (int i = 0; i < g->nreds; i++) {
    if (skip & (1u << i)) continue;
    const Hoisted *h = g->reds[i];
    for (int64_t j = 0; j < ceil_div(f->elems[i], B); j++) {
      int a = o->n++;
      o->acc[a] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%lld", i, (long long)j), LT_F64);
      o->res_of[a] = i;
      ls_append(p, k->body, ls_assign(p, o->acc[a], fused_red_init(p, (RedOp)h->red->op, LT_F64)));
      int fv = kernel_var(p, k, arena_printf(&p->arena, "result%d_%lld", i, (long long)j), LT_I64);
      ls_append(p, k->body, ls_assign(p, fv, BIN(LB_ADD, V(b->tid), I(j * B))));
      env_init(&o->env_of[a]);
      decompose_flat(L, k, k->body, V(fv), h->free, h->nfree, &o->env_of[a]);
      o->owned_cond[a] = o->in_range[a] = (j + 1) * B > f->elems[i] ? BIN(LB_LT, V(fv), I(f->elems[i])) : NULL;
      if (h->symmetric) {
        LExpr *upper =
            BIN(LB_LE, V(o->env_of[a].var[h->free[h->nfree - 2]]), V(o->env_of[a].var[h->free[h->nfree - 1]]));
        o->owned_cond[a] = o->owned_cond[a] ? BIN(LB_AND, o->owned_cond[a], upper) : upper;
      }
    }
  }
}

void fused_owners_tile(FusedBuild *b, FusedOwners *o, LStmt *tile) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  const Group *g = b->f->g;
  int na = o->n;
  if (!na) return;
  /* each thread adds the tile into the results it owns, all of them in one
   * loop over the tile's events: what several read alike (R[n, m] for one
   * component, X[n, d] for one feature) is loaded once */
  int sums[FUSED_MAX_ACCS], t;
  for (int a = 0; a < na; a++) {
    sums[a] = kernel_var(p, k, arena_printf(&p->arena, "tile_sum%d", a), p->real);
    ls_append(p, tile, ls_assign(p, sums[a], fused_red_init(p, (RedOp)g->reds[o->res_of[a]]->red->op, p->real)));
  }
  LStmt *ev = emit_loop(L, k, tile, "t", I(0), I(b->c->events), &t);
  int n = kernel_var(p, k, "n", LT_I64);
  ls_append(p, ev, ls_assign(p, n, BIN(LB_ADD, V(b->n0), V(t))));
  LStmt *live = ls_when(p, ev, BIN(LB_LT, V(n), V(b->last)));
  for (int a = 0; a < na; a++) {
    const Hoisted *h = g->reds[o->res_of[a]];
    RedOp op = (RedOp)h->red->op;
    LStmt *mine = o->owned_cond[a] ? ls_when(p, live, o->owned_cond[a]) : live;
    o->env_of[a].var[h->red->red.id] = n;
    L->rt = p->real;
    LExpr *v = lx_cast(p, p->real, lower_expr(L, k, mine, h->red->args[0], &o->env_of[a]));
    ls_append(p, mine, ls_assign(p, sums[a], fused_red_step(L, op, V(sums[a]), v, 1)));
  }
  for (int a = 0; a < na; a++)
    ls_append(p, tile,
              ls_assign(p, o->acc[a],
                        fused_red_step(L, (RedOp)g->reds[o->res_of[a]]->red->op, V(o->acc[a]),
                                       lx_cast(p, LT_F64, V(sums[a])), 1)));
}

void fused_owners_store(FusedBuild *b, FusedOwners *o, const int *partial) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  for (int a = 0; a < o->n; a++) {
    Hoisted *h = (Hoisted *)b->f->g->reds[o->res_of[a]];
    LStmt *mine = o->in_range[a] ? ls_when(p, k->body, o->in_range[a]) : k->body;
    ls_append(p, mine, ls_store(p, partial[o->res_of[a]], partial_index(p, k, h, &o->env_of[a]), V(o->acc[a])));
  }
}
