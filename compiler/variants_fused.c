/* Fused kernels of a fusion group (fuse.h): one kernel takes a slice of
 * the events, a tile of them at a time, and for each tile computes every
 * statement of the group in order into tile arrays (the data tile staged
 * first), then adds the tile into the group's reductions; the per-event
 * tensors with more than the event axis never reach memory unless the group
 * stores them. At the end of its slice the kernel writes one partial per
 * reduction, which the usual combine kernels add up.
 *
 *   fused        the GPU's: a block of threads per slice; the threads share
 *                each tile's elements and own the reductions' results (a
 *                result element per thread and stride, in registers, each
 *                tile summed in the data's type and added in float64).
 *   host-fused   the host's: a slice per work item, the results in a local
 *                array, added event by event in float64 in the simple
 *                kernels' order, in their chunks, so that the host's fused
 *                kernels reproduce the simple ones bit for bit.
 *
 * The statements are lowered as the simple kernels lower them (lower_expr);
 * only their reads of the data, of the tile's tensors and of snapshots
 * change (Lower.access). */
#include <stdlib.h>
#include <string.h>

#include "kernel_build.h"
#include "variant.h"

typedef struct {
  int events;  /* per tile */
  int threads; /* per block (GPU) */
  const char *variant;
} FusedConfig;

enum { FUSED_MAX_DATA = 2, FUSED_MAX_ACCS = 48 };

typedef struct {
  const Group *g;
  Tensor *data[FUSED_MAX_DATA]; /* data tensors [n, d], staged per tile */
  int ndata;
  int64_t per_event[GROUP_MAX]; /* elements per event of each map's target */
  int64_t elems[8];             /* result elements of each reduction */
} FusedForm;
_Static_assert(sizeof(FusedForm) <= VARIANT_FORM_BYTES, "FusedForm must fit the registry's form storage");

typedef struct {
  int64_t slices, smem;
} FusedShape;
_Static_assert(sizeof(FusedShape) <= VARIANT_SHAPE_BYTES, "FusedShape must fit the registry's shape storage");

static int64_t extent_product(Lower *L, const Tensor *t, int from) {
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

static void note_data(Lower *L, const Expr *e, FusedForm *f, int *ok) {
  if (!e) return;
  if (e->kind == E_ACCESS && e->tensor && e->tensor->kind == TK_DATA) {
    int have = 0;
    for (int i = 0; i < f->ndata; i++) have |= f->data[i] == e->tensor;
    if (!have && (e->tensor->rank != 2 || f->ndata == FUSED_MAX_DATA)) *ok = 0;
    if (!have && *ok) f->data[f->ndata++] = e->tensor;
  }
  for (int i = 0; i < e->nargs; i++) note_data(L, e->args[i], f, ok);
}

static int match_fused(Lower *L, const Site *site, void *form) {
  const Group *g = site->group;
  FusedForm *f = form;
  f->g = g;
  if (g->nreds + 1 > 8) return 0; /* the fused kernel and a combine per reduction in one alternative */
  int ok = 1;
  for (int i = 0; i < g->nmaps; i++) {
    Stmt *s = g->maps[i];
    Tensor *t = s->targets[0].tensor;
    if (s->builtin || !tensor_per_event(L, t) || t->structure != ST_NONE || uses_prev(s->rhs)) return 0;
    f->per_event[i] = extent_product(L, t, 1);
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

/* Shared memory (host: stack) of a tile of `events`: the data and every map's target. */
static int64_t tile_bytes(Lower *L, const FusedForm *f, int64_t events, int host) {
  Program *p = L->p;
  int64_t b = 0, rows = tile_rows(host, events);
  for (int i = 0; i < f->ndata; i++) b += rows * extent_product(L, f->data[i], 1) * esize(p->real);
  for (int i = 0; i < f->g->nmaps; i++)
    b += rows * f->per_event[i] * esize(p->bufs[p->tensor_buf[f->g->maps[i]->targets[0].tensor->id]]->elem);
  return b;
}

static int64_t total_elems(const FusedForm *f) {
  int64_t n = 0;
  for (int i = 0; i < f->g->nreds; i++) n += f->elems[i];
  return n;
}

/* What a fused kernel moves and computes, for the cost model: the data
 * read once, the stored targets written once, the tile arrays written and
 * read back in shared memory, each map element's arithmetic about one
 * multiply-add per feature, each reduction element's one per event; the
 * partials written and combined. */
static Work fused_work(Lower *L, const FusedForm *f, int64_t slices) {
  Program *p = L->p;
  const Group *g = f->g;
  double esz = (double)esize(p->real), features = 1;
  Work w = {.launches = 1 + g->nreds};
  for (int i = 0; i < f->ndata; i++) {
    double d = (double)extent_product(L, f->data[i], 1);
    w.bytes_per_event += d * esz;
    features = d > features ? d : features;
  }
  for (int i = 0; i < g->nmaps; i++) {
    w.shared_per_event += 2 * (double)f->per_event[i] * esz;
    w.fmas_per_event += (double)f->per_event[i] * features;
  }
  for (int i = 0; i < g->nstored; i++) w.bytes_per_event += (double)extent_product(L, g->stored[i], 1) * esz;
  for (int i = 0; i < g->nreds; i++) {
    w.shared_per_event += 2 * (double)f->elems[i] * esz;
    w.fmas_per_event += (double)f->elems[i];
    w.bytes += 2 * 8 * (double)slices * (double)f->elems[i];
  }
  return w;
}

static int plan_fused(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const FusedForm *f = form;
  const FusedConfig *c = config;
  FusedShape *sh = (FusedShape *)pl->shape;
  sh->smem = tile_bytes(L, f, c->events, 0);
  if (sh->smem > L->dev.smem_static_per_block || c->threads > L->dev.max_threads_per_block) return 0;
  int accs = 0;
  for (int i = 0; i < f->g->nreds; i++) accs += (int)ceil_div(f->elems[i], c->threads);
  if (accs > FUSED_MAX_ACCS) return 0;
  sh->slices = event_slices(L, 1, total_elems(f) > 0 ? total_elems(f) : 1);
  pl->variant = c->variant;
  pl->work = fused_work(L, f, sh->slices);
  return 1;
}

/* Host: the results live in the work item's arrays, 8 bytes each. */
static int plan_host_fused(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const FusedForm *f = form;
  const FusedConfig *c = config;
  FusedShape *sh = (FusedShape *)pl->shape;
  sh->smem = tile_bytes(L, f, c->events, 1) + 8 * total_elems(f);
  /* float32: a tile is a block of the event sums (lower.h, host_sum_block), in arrays of its own */
  if (host_fast32(L)) {
    if (c->events != HOST_SUM_BLOCK) return 0;
    sh->smem += 4 * total_elems(f);
  }
  if (sh->smem > L->dev.local_bytes) return 0;
  int64_t slices = L->p->chunks;
  for (int i = 0; i < f->g->nreds; i++)
    if (f->g->reds[i]->chunks < slices) slices = f->g->reds[i]->chunks;
  sh->slices = slices;
  pl->variant = c->variant;
  pl->work = fused_work(L, f, slices);
  return 1;
}

/* ---- the tile's reads ----------------------------------------------------------------------- */

typedef struct {
  const FusedForm *f;
  int n0;     /* the tile's first event (a kernel variable) */
  int events; /* per tile */
  int data_sh[FUSED_MAX_DATA];
  int tile_sh[GROUP_MAX];
  int recomputing; /* lowering a recomputed statement: its snapshots apply */
  int host;        /* the layout (tile_rows) */
} TileReads;

/* Position in a tile array of event t (of the tile) and element `rest`
 * (of per_event), in the layout of tile_rows. */
static LExpr *tile_pos(Program *p, const TileReads *r, LExpr *t, LExpr *rest, int64_t per_event) {
  if (r->host) return lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, t, lx_int(p, per_event)), rest);
  return lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, rest, lx_int(p, tile_rows(0, r->events))), t);
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

static LExpr *tile_access(Lower *L, Kernel *k, const Expr *e, Env *env) {
  TileReads *r = L->access_user;
  const FusedForm *f = r->f;
  const Group *g = f->g;
  Program *p = L->p;
  for (int i = 0; i < f->ndata; i++)
    if (e->tensor == f->data[i])
      return lx_sload(p, k, r->data_sh[i], tile_at(L, k, e, env, r, extent_product(L, e->tensor, 1)));
  for (int i = 0; i < g->nmaps; i++)
    if (e->tensor == g->maps[i]->targets[0].tensor)
      return lx_sload(p, k, r->tile_sh[i], tile_at(L, k, e, env, r, f->per_event[i]));
  for (int i = 0; r->recomputing && i < g->nsnap; i++)
    if (e->tensor == g->snap_t[i]) {
      LExpr **idx = idx_vec(p, e->nidx);
      for (int a = 0; a < e->nidx; a++) idx[a] = V(env->var[e->idx[a].id]);
      return lx_load(p, g->snap_buf[i], idx);
    }
  return NULL;
}

/* ---- shared pieces of both builders ------------------------------------------------------------ */

typedef struct {
  Lower *L;
  Kernel *k;
  const FusedForm *f;
  const FusedConfig *c;
  int host;
  int tid;         /* GPU: the thread */
  int first, last; /* the slice's events */
  int n0;
  TileReads reads;
} Build;

static int shared_for(Build *b, const char *name, LType t, int64_t count) {
  return kernel_shared(b->L->p, b->k, name, t, count > 0 ? count : 1);
}

/* A loop over [0, count) shared by the threads (GPU) or run by the one
 * (host); returns its body with *flat set. */
static LStmt *spread(Build *b, LStmt *blk, const char *name, int64_t count, int *flat) {
  Program *p = b->L->p;
  Kernel *k = b->k;
  *flat = kernel_var(p, k, name, LT_I64);
  if (!b->host) return emit_strided(b->L, k, blk, name, count, b->c->threads, b->tid, *flat);
  int v;
  LStmt *body = emit_loop(b->L, k, blk, name, I(0), I(count), &v);
  ls_append(p, body, ls_assign(p, *flat, V(v)));
  return body;
}

static void barrier(Build *b, LStmt *blk) {
  if (!b->host) ls_append(b->L->p, blk, ls_sync(b->L->p));
}

/* Stages the tile's rows of each data tensor: sh[t * D + d] = X[n0 + t, d], zero past the slice. */
static void stage_data(Build *b, LStmt *blk) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  for (int i = 0; i < b->f->ndata; i++) {
    Tensor *x = b->f->data[i];
    int64_t D = extent_product(L, x, 1);
    int flat, n = kernel_var(p, k, "n", LT_I64), d = kernel_var(p, k, "d", LT_I64);
    LStmt *in = spread(b, blk, "stage", b->c->events * D, &flat);
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
static void tile_maps(Build *b, LStmt *blk) {
  Lower *L = b->L;
  Program *p = L->p;
  Kernel *k = b->k;
  const Group *g = b->f->g;
  for (int i = 0; i < g->nmaps; i++) {
    Stmt *s = g->maps[i];
    Target *tg = &s->targets[0];
    int buf = p->tensor_buf[tg->tensor->id];
    int64_t per = b->f->per_event[i];
    int flat, n = kernel_var(p, k, "n", LT_I64), t = kernel_var(p, k, "t", LT_I64),
              rest = kernel_var(p, k, "rest", LT_I64);
    LStmt *in = spread(b, blk, "elem", b->c->events * per, &flat);
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
    barrier(b, blk);
  }
}

static LExpr *red_init(Program *p, RedOp op, LType t) {
  return lx_const(p, t, op == R_SUM ? 0.0 : op == R_MAX ? -__builtin_inf() : __builtin_inf());
}

static LExpr *red_step(Lower *L, RedOp op, LExpr *acc, LExpr *v, int reassoc) {
  LExpr *e = lx_binary(L->p, op == R_SUM ? LB_ADD : op == R_MAX ? LB_MAX : LB_MIN, acc, v);
  e->reassoc = reassoc;
  return e;
}

/* In the names of the kernels and partials: the configuration and the
 * group, so that a program lowered for some choices names them alike. */
static const char *kernel_tag(Build *b) {
  return arena_printf(&b->L->p->arena, "%s%dx%d_g%d", b->host ? "hostfused" : "fused", b->c->events, b->c->threads,
                      b->f->g->unit);
}

/* Events of the slice a tile at a time: returns the tile's body, n0 set. */
static LStmt *tile_loop(Build *b, LStmt *blk) {
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

static void make_tiles(Build *b) {
  Program *p = b->L->p;
  const FusedForm *f = b->f;
  for (int i = 0; i < f->ndata; i++)
    b->reads.data_sh[i] = shared_for(b, f->data[i]->name, p->real,
                                     tile_rows(b->host, b->c->events) * extent_product(b->L, f->data[i], 1));
  for (int i = 0; i < f->g->nmaps; i++) {
    Tensor *t = f->g->maps[i]->targets[0].tensor;
    b->reads.tile_sh[i] =
        shared_for(b, t->name, p->bufs[p->tensor_buf[t->id]]->elem, tile_rows(b->host, b->c->events) * f->per_event[i]);
  }
  b->reads.f = f;
  b->reads.events = b->c->events;
  b->reads.host = b->host;
  b->L->access = tile_access;
  b->L->access_user = &b->reads;
}

static Kernel *new_fused_kernel(Build *b, const Site *site) {
  Lower *L = b->L;
  Program *p = L->p;
  const Group *g = b->f->g;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, kernel_tag(b)));
  StrBuf sb = {0};
  for (int i = 0; i < g->nmembers; i++) sb_printf(&sb, "%s%s", i ? " " : "", p->units[g->members[i]].name);
  char *members = arena_take(&p->arena, &sb);
  (void)site;
  k->what = arena_printf(&p->arena, "fused: %s [tiles of %d events%s%s]", members, b->c->events,
                         g->nrecomputed ? ", recomputing " : "", g->nrecomputed ? g->maps[0]->targets[0].name : "");
  return k;
}

/* The combine kernels of the group's partials. */
static void combine_all(Build *b, const int *partial, int64_t slices) {
  const Group *g = b->f->g;
  for (int i = 0; i < g->nreds; i++)
    combine_kernel_for(b->L, g->red_stmts[i], g->reds[i], partial[i], (int)slices, kernel_tag(b));
}

/* ---- GPU ------------------------------------------------------------------------------------------- */

static void build_fused(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const FusedForm *f = form;
  const FusedShape *sh = (const FusedShape *)pl->shape;
  const Group *g = f->g;
  Build b = {.L = L, .f = f, .c = config, .host = 0};
  Kernel *k = b.k = new_fused_kernel(&b, site);
  int B = b.c->threads;
  kernel_launch_grid(p, k, 1, 1, sh->slices, B);
  b.tid = kernel_var(p, k, "tid", LT_I64);
  ls_append(p, k->body, ls_assign(p, b.tid, lx_sreg(p, SR_TID_X)));
  event_slice_bounds(p, k, k->body, sh->slices, b.c->events, &b.first, &b.last);
  make_tiles(&b);
  /* the results a thread owns: result tid + j * B of each reduction, its
   * indices bound once; a guard only where the last stride runs past the
   * results or a symmetric pair's lower triangle is skipped */
  int acc[FUSED_MAX_ACCS], res_of[FUSED_MAX_ACCS], na = 0, partial[8];
  Env env_of[FUSED_MAX_ACCS];
  LExpr *owned_cond[FUSED_MAX_ACCS], *in_range[FUSED_MAX_ACCS];
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    for (int64_t j = 0; j < ceil_div(f->elems[i], B); j++, na++) {
      acc[na] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%lld", i, (long long)j), LT_F64);
      res_of[na] = i;
      ls_append(p, k->body, ls_assign(p, acc[na], red_init(p, (RedOp)h->red->op, LT_F64)));
      int fv = kernel_var(p, k, arena_printf(&p->arena, "result%d_%lld", i, (long long)j), LT_I64);
      ls_append(p, k->body, ls_assign(p, fv, BIN(LB_ADD, V(b.tid), I(j * B))));
      env_init(&env_of[na]);
      decompose_flat(L, k, k->body, V(fv), h->free, h->nfree, &env_of[na]);
      owned_cond[na] = in_range[na] = (j + 1) * B > f->elems[i] ? BIN(LB_LT, V(fv), I(f->elems[i])) : NULL;
      if (h->symmetric) {
        LExpr *upper = BIN(LB_LE, V(env_of[na].var[h->free[h->nfree - 2]]), V(env_of[na].var[h->free[h->nfree - 1]]));
        owned_cond[na] = owned_cond[na] ? BIN(LB_AND, owned_cond[na], upper) : upper;
      }
    }
  }
  LStmt *tile = tile_loop(&b, k->body);
  barrier(&b, tile); /* the previous tile's readers are done */
  stage_data(&b, tile);
  barrier(&b, tile);
  tile_maps(&b, tile);
  /* each thread adds the tile into the results it owns, all of them in one
   * loop over the tile's events: what several read alike (R[n, m] for one
   * component, X[n, d] for one feature) is loaded once */
  int sums[FUSED_MAX_ACCS], t;
  LExpr *owned[FUSED_MAX_ACCS];
  for (int a = 0; a < na; a++) {
    sums[a] = kernel_var(p, k, arena_printf(&p->arena, "tile_sum%d", a), p->real);
    ls_append(p, tile, ls_assign(p, sums[a], red_init(p, (RedOp)g->reds[res_of[a]]->red->op, p->real)));
  }
  LStmt *ev = emit_loop(L, k, tile, "t", I(0), I(b.c->events), &t);
  int n = kernel_var(p, k, "n", LT_I64);
  ls_append(p, ev, ls_assign(p, n, BIN(LB_ADD, V(b.n0), V(t))));
  LStmt *live = ls_when(p, ev, BIN(LB_LT, V(n), V(b.last)));
  for (int a = 0; a < na; a++) {
    const Hoisted *h = g->reds[res_of[a]];
    RedOp op = (RedOp)h->red->op;
    LStmt *mine = owned_cond[a] ? ls_when(p, live, owned_cond[a]) : live;
    env_of[a].var[h->red->red.id] = n;
    L->rt = p->real;
    owned[a] = lx_cast(p, p->real, lower_expr(L, k, mine, h->red->args[0], &env_of[a]));
    ls_append(p, mine, ls_assign(p, sums[a], red_step(L, op, V(sums[a]), owned[a], 1)));
  }
  for (int a = 0; a < na; a++)
    ls_append(p, tile,
              ls_assign(p, acc[a],
                        red_step(L, (RedOp)g->reds[res_of[a]]->red->op, V(acc[a]), lx_cast(p, LT_F64, V(sums[a])), 1)));
  L->access = NULL;
  /* the slice's results into the partials */
  for (int i = 0; i < g->nreds; i++) partial[i] = new_partial(L, (Hoisted *)g->reds[i], sh->slices, kernel_tag(&b));
  for (int a = 0; a < na; a++) {
    Hoisted *h = (Hoisted *)g->reds[res_of[a]];
    LStmt *mine = in_range[a] ? ls_when(p, k->body, in_range[a]) : k->body;
    ls_append(p, mine, ls_store(p, partial[res_of[a]], partial_index(p, k, h, &env_of[a]), V(acc[a])));
  }
  combine_all(&b, partial, sh->slices);
}

/* ---- host ------------------------------------------------------------------------------------------ */

static void build_host_fused(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                             Built *out) {
  (void)out;
  Program *p = L->p;
  const FusedForm *f = form;
  const FusedShape *sh = (const FusedShape *)pl->shape;
  const Group *g = f->g;
  Build b = {.L = L, .f = f, .c = config, .host = 1};
  Kernel *k = b.k = new_fused_kernel(&b, site);
  k->pvar = kernel_var(p, k, "slice", LT_I64);
  k->count = I(sh->slices);
  /* the simple partial kernels' chunks: ceil(n / slices) events each */
  int len = kernel_var(p, k, "slice_len", LT_I64);
  b.first = kernel_var(p, k, "first", LT_I64);
  b.last = kernel_var(p, k, "last", LT_I64);
  ls_append(p, k->body, ls_assign(p, len, BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(sh->slices - 1)), I(sh->slices))));
  ls_append(p, k->body, ls_assign(p, b.first, BIN(LB_MUL, V(k->pvar), V(len))));
  ls_append(p, k->body, ls_assign(p, b.last, BIN(LB_MIN, BIN(LB_ADD, V(b.first), V(len)), lx_nlocal(p))));
  make_tiles(&b);
  int res[8], partial[8];
  for (int i = 0; i < g->nreds; i++) {
    res[i] = shared_for(&b, arena_printf(&p->arena, "result%d", i), LT_F64, f->elems[i]);
    int fl;
    LStmt *in = spread(&b, k->body, "init", f->elems[i], &fl);
    ls_append(p, in, ls_sstore(p, k, res[i], V(fl), red_init(p, (RedOp)g->reds[i]->red->op, LT_F64)));
  }
  LStmt *tile = tile_loop(&b, k->body);
  stage_data(&b, tile);
  tile_maps(&b, tile);
  /* float32: a sum's tile (a block of the simple partials') in float32,
   * from zero, added into the float64 result after the tile */
  int part[8];
  for (int i = 0; i < g->nreds; i++) {
    part[i] = -1;
    if (!host_sum_block(L, g->reds[i])) continue;
    part[i] = shared_for(&b, arena_printf(&p->arena, "tile_result%d", i), p->real, f->elems[i]);
    int fl;
    LStmt *in = spread(&b, tile, "clear", f->elems[i], &fl);
    ls_append(p, in, ls_sstore(p, k, part[i], V(fl), lx_const(p, p->real, 0.0)));
  }
  /* event by event, every result: the simple partials' order of additions */
  int t;
  LStmt *ev = emit_loop(L, k, tile, "t", I(0), I(b.c->events), &t);
  int n = kernel_var(p, k, "n", LT_I64);
  ls_append(p, ev, ls_assign(p, n, BIN(LB_ADD, V(b.n0), V(t))));
  LStmt *live = ls_when(p, ev, BIN(LB_LT, V(n), V(b.last)));
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    /* nested loops over the result's indices, the last innermost and
     * contiguous (a symmetric pair's upper triangle only): LLVM vectorizes
     * it across independent results, and hoists what the outer ones fix */
    Env env;
    env_init(&env);
    LStmt *mine = live;
    LExpr *fl = NULL;
    for (int a = 0; a < h->nfree; a++) {
      int v;
      LExpr *lo = h->symmetric && a == h->nfree - 1 ? V(env.var[h->free[a - 1]]) : I(0);
      mine = emit_loop(L, k, mine, spec_index(L->s, h->free[a])->name, lo, I(index_extent(L, h->free[a])), &v);
      env.var[h->free[a]] = v;
      fl = fl ? BIN(LB_ADD, BIN(LB_MUL, fl, I(index_extent(L, h->free[a]))), V(v)) : V(v);
    }
    if (!fl) fl = I(0);
    env.var[h->red->red.id] = n;
    L->rt = p->real;
    LExpr *v = lx_cast(p, p->real, lower_expr(L, k, mine, h->red->args[0], &env));
    int to = part[i] >= 0 ? part[i] : res[i];
    if (part[i] < 0) v = lx_cast(p, LT_F64, v);
    ls_append(p, mine, ls_sstore(p, k, to, fl, red_step(L, (RedOp)h->red->op, lx_sload(p, k, to, fl), v, 0)));
  }
  for (int i = 0; i < g->nreds; i++) {
    if (part[i] < 0) continue;
    int fl;
    LStmt *in = spread(&b, tile, "add", f->elems[i], &fl);
    ls_append(
        p, in,
        ls_sstore(p, k, res[i], V(fl),
                  BIN(LB_ADD, lx_sload(p, k, res[i], V(fl)), lx_cast(p, LT_F64, lx_sload(p, k, part[i], V(fl))))));
  }
  L->access = NULL;
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    partial[i] = new_partial(L, (Hoisted *)h, sh->slices, kernel_tag(&b));
    int fl;
    LStmt *in = spread(&b, k->body, "out", f->elems[i], &fl);
    Env env;
    env_init(&env);
    decompose_flat(L, k, in, V(fl), h->free, h->nfree, &env);
    LExpr **idx = idx_vec(p, h->nfree + 1);
    idx[0] = V(k->pvar);
    for (int a = 0; a < h->nfree; a++) idx[a + 1] = V(env.var[h->free[a]]);
    ls_append(p, in, ls_store(p, partial[i], idx, lx_sload(p, k, res[i], V(fl))));
  }
  combine_all(&b, partial, sh->slices);
}

/* One configuration each while the fused kernels lose to the unfused
 * members everywhere measured (docs/performance.md): each costs compile
 * time in every program. */
static const FusedConfig gpu_tiles[] = {{32, 256, "fused-32x256"}};
static const FusedConfig host_tiles[] = {{16, 1, "host-fused-16"}};

/* the statements are lowered as the simple kernels lower them, their
 * differences to the parameters in float64 (no fast32): the same values,
 * the same labels on near-ties */
const VariantFamily family_fused = {.name = "fused",
                                    .site = SITE_GROUP,
                                    .match = match_fused,
                                    .configs = gpu_tiles,
                                    .nconfigs = sizeof gpu_tiles / sizeof *gpu_tiles,
                                    .config_size = sizeof *gpu_tiles,
                                    .plan = plan_fused,
                                    .build = build_fused};

const VariantFamily family_host_fused = {.name = "host-fused",
                                         .site = SITE_GROUP,
                                         .host = 1,
                                         .match = match_fused,
                                         .configs = host_tiles,
                                         .nconfigs = sizeof host_tiles / sizeof *host_tiles,
                                         .config_size = sizeof *host_tiles,
                                         .plan = plan_host_fused,
                                         .build = build_host_fused};
