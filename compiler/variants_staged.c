/* GPU variants for element-wise bodies over a feature index d whose reads are
 * all "staged-able": event tensors indexed [n, d] or [n, m], parameters
 * indexed [m, d] or [m] (and scalars, constants, sizes). Diagonal and
 * spherical Gaussians and k-means are made of such statements.
 *
 *   staged-map   T[n, m] = g(n, m, sum(d, f(n, m, d))): a block takes TN
 *                events and MB components, stages the data tile and every
 *                [m, d] parameter tile transposed in shared memory; each
 *                thread owns RN x RM outputs and evaluates f with the staged
 *                values substituted for the reads; g per output; the tile of
 *                T written coalesced along m.
 *   staged-red   S[m, d] = sum(n, f(n, m, d)) (and S[m] = sum(n, sum(d,..))
 *                is not handled): a block takes MG components and all d, and
 *                a slice of events; per chunk of KC events the [n, d] and
 *                [n, m] tiles are staged once for the whole group.
 *
 * Two families of the registry (variant.h). */
#include <string.h>

#include "kernel_build.h"
#include "staged.h"

/* Every tensor read in e, with its role; 0 when a read fits none. */
static int collect(Expr *e, int nid, int mid, int did, Operands *ops) {
  if (!e) return 1;
  if (e->kind == E_REDUCE) return 0; /* nested reductions: not here */
  if (e->kind == E_ACCESS && e->tensor) {
    Role r;
    int a0 = e->nidx > 0 ? e->idx[0].id : -1, a1 = e->nidx > 1 ? e->idx[1].id : -1;
    if (e->nidx == 2 && a0 == nid && a1 == did)
      r = ROLE_ND;
    else if (e->nidx == 2 && a0 == nid && a1 == mid)
      r = ROLE_NM;
    else if (e->nidx == 2 && a0 == mid && a1 == did && e->tensor->kind != TK_DATA)
      r = ROLE_MD;
    else if (e->nidx == 1 && a0 == mid && e->tensor->kind != TK_DATA)
      r = ROLE_M;
    else
      return 0;
    if (e->prev) return 0;
    for (int i = 0; i < ops->n; i++)
      if (ops->op[i].t == e->tensor) return ops->op[i].role == r;
    if (ops->n == 8) return 0;
    ops->op[ops->n++] = (Operand){e->tensor, r, -1};
  }
  if (e->kind == E_NAME && e->ref == REF_INDEX && (e->ref_id == nid || e->ref_id == mid || e->ref_id == did)) return 0;
  for (int i = 0; i < e->nargs; i++)
    if (!collect(e->args[i], nid, mid, did, ops)) return 0;
  return 1;
}

/* The sum over d inside a per-event map, if it is the only reduction. */
static Expr *find_sum(Expr *e, int nid, int mid, int *did, Operands *ops) {
  if (!e) return NULL;
  if (e->kind == E_REDUCE) {
    if (e->op != R_SUM) return NULL;
    Operands o = {0};
    if (!collect(e->args[0], nid, mid, e->red.id, &o)) return NULL;
    *did = e->red.id;
    *ops = o;
    return e;
  }
  for (int i = 0; i < e->nargs; i++) {
    Expr *r = find_sum(e->args[i], nid, mid, did, ops);
    if (r) return r;
  }
  return NULL;
}

static int reductions(const Expr *e) {
  if (!e) return 0;
  int n = e->kind == E_REDUCE;
  for (int i = 0; i < e->nargs; i++) n += reductions(e->args[i]);
  return n;
}

/* Stages rows [row0, row0 + rows) x columns [col0, col0 + dp) of an
 * operand, transposed: sh[c * rows + r]; zero outside the tensor. */
static void stage_rows(Lower *L, Kernel *k, LStmt *blk, int tid, int threads, Tensor *t, int sh, int row_var,
                       LExpr *row0, int64_t rows, LExpr *row_limit, int64_t dp, int64_t d_ext, int col_var,
                       LExpr *col0) {
  Program *p = L->p;
  int flat = kernel_var(p, k, "flat", LT_I64), r = kernel_var(p, k, "r", LT_I64);
  LStmt *in = emit_strided(L, k, blk, "stage", rows * dp, threads, tid, flat);
  ls_append(p, in, ls_assign(p, r, BIN(LB_DIV, V(flat), I(dp))));
  int cl = kernel_var(p, k, "cl", LT_I64);
  ls_append(p, in, ls_assign(p, cl, BIN(LB_REM, V(flat), I(dp))));
  ls_append(p, in, ls_assign(p, col_var, BIN(LB_ADD, col0, V(cl))));
  ls_append(p, in, ls_assign(p, row_var, BIN(LB_ADD, row0, V(r))));
  LStmt *ok = ls_block(p), *no = ls_block(p);
  ls_append(p, in, ls_if(p, BIN(LB_AND, BIN(LB_LT, V(row_var), row_limit), BIN(LB_LT, V(col_var), I(d_ext))), ok, no));
  LExpr **xi = idx_vec(p, 2);
  xi[0] = V(row_var);
  xi[1] = V(col_var);
  LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(cl), I(rows)), V(r));
  ls_append(p, ok, ls_sstore(p, k, sh, at, lx_cast(p, p->real, lx_load(p, p->tensor_buf[t->id], xi))));
  ls_append(p, no, ls_sstore(p, k, sh, at, lx_const(p, p->real, 0)));
}

/* A per-component operand (ROLE_M) for the block's components [m0, m0 + mb):
 * sh[c] = t[m0 + c], zero beyond M. */
static void stage_components(Lower *L, Kernel *k, LStmt *blk, Operand *o, int tid, int vm, int m0, int64_t mb,
                             int64_t M) {
  Program *p = L->p;
  o->sh = kernel_shared(p, k, o->t->name, p->real, mb);
  LStmt *in = ls_when(p, blk, BIN(LB_LT, V(tid), I(mb)));
  ls_append(p, in, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(tid))));
  LExpr **xi = idx_vec(p, 1);
  xi[0] = V(vm);
  stage_or_zero(p, k, in, BIN(LB_LT, V(vm), I(M)), o->sh, V(tid),
                lx_cast(p, p->real, lx_load(p, p->tensor_buf[o->t->id], xi)));
}

/* A block's tile: tn events x mb components, rn x rm outputs per thread;
 * the [n, d] and [m, d] operands staged whole (dp 0) or dp features at a
 * time (strips: D too large for the whole rows beside each other). */
typedef struct {
  int tn, mb, rn, rm, dp;
  const char *variant;
} StagedTile;

int match_staged_map(Lower *L, const Site *site, void *form) {
  Stmt *st = site->st;
  Target *tg = &st->targets[0];
  Tensor *tt = tg->tensor;
  StagedMap *f = form;
  if (tt->kind != TK_TEMP || tg->nidx != 2 || tt->elem != VT_REAL) return 0;
  f->nid = tg->idx[0].id, f->mid = tg->idx[1].id;
  if (spec_index(L->s, f->nid)->size != L->s->event_size) return 0;
  f->sum = find_sum(st->rhs, f->nid, f->mid, &f->did, &f->ops);
  if (!f->sum || reductions(st->rhs) != 1) return 0;
  f->D = index_extent(L, f->did), f->M = index_extent(L, f->mid);
  int have_nd = 0;
  for (int i = 0; i < f->ops.n; i++) have_nd |= f->ops.op[i].role == ROLE_ND;
  return have_nd; /* a target's limits on D are its families' plans' */
}

/* 4 x 2 outputs per thread read 8 shared values per 8 outputs and d; the
 * 8 x 4 tiles 16 per 32 (the diagonal E-step was shared-memory-bound);
 * strips of features where whole rows do not fit (D > 80 in float32, 32
 * in float64, for the diagonal Gaussian's three operands) */
static const StagedTile map_tiles[] = {{64, 32, 4, 2, 0, "staged"},
                                       {128, 32, 8, 4, 0, "staged-128x32"},
                                       {64, 32, 8, 4, 0, "staged-64x32"},
                                       {128, 32, 8, 4, 32, "staged-128x32-strips"},
                                       {128, 64, 8, 8, 16, "staged-128x64-strips"},
                                       {64, 32, 8, 4, 16, "staged-64x32-strips"}}; /* float64's */

/* The shared memory of a tn x mb tile staging dp features of the rows. */
static int64_t staged_smem(const StagedMap *f, int64_t tn, int64_t mb, int64_t dp, int esz) {
  int64_t smem = tn * mb; /* the output tile */
  for (int i = 0; i < f->ops.n; i++) {
    Role r = f->ops.op[i].role;
    smem += r == ROLE_ND ? tn * dp : r == ROLE_MD ? mb * dp : r == ROLE_NM ? tn * mb : mb;
  }
  return smem * esz;
}

/* Whether some configuration staging whole rows fits the block's shared memory. */
static int whole_rows_fit(Lower *L, const StagedMap *f, int esz) {
  for (size_t i = 0; i < sizeof map_tiles / sizeof *map_tiles; i++)
    if (!map_tiles[i].dp && staged_smem(f, map_tiles[i].tn, map_tiles[i].mb, f->D, esz) <= L->dev.smem_static_per_block)
      return 1;
  return 0;
}

static int plan_staged_map(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const StagedMap *f = form;
  const StagedTile *c = config;
  int esz = L->p->real == LT_F64 ? 8 : 4;
  int64_t tn = c->tn, mb = c->mb, D = f->D, dp = c->dp ? c->dp : D;
  /* strips only where no tile takes whole rows (each strip is a barrier
   * pair, and every configuration costs compile time) */
  if (c->dp && (D <= c->dp || whole_rows_fit(L, f, esz))) return 0;
  if (staged_smem(f, tn, mb, dp, esz) > L->dev.smem_static_per_block) return 0;
  double nd = 0, md = 0; /* staged [n, d] and [m, d] operands */
  for (int i = 0; i < f->ops.n; i++) nd += f->ops.op[i].role == ROLE_ND, md += f->ops.op[i].role == ROLE_MD;
  pl->variant = c->variant;
  /* the data tile read once per block of components; per d a thread reads
   * rn values of each [n, d] operand and rm of each [m, d] for rn x rm outputs */
  double cells = (double)f->M * (double)D; /* per event */
  double blocks_m = (double)ceil_div(f->M, mb);
  pl->work = (Work){.bytes_per_event = ((double)D * nd * blocks_m + (double)f->M) * esz,
                    .shared_per_event = cells * (nd * c->rn + md * c->rm) / (c->rn * c->rm) * esz,
                    .fmas_per_event = cells * (double)f->ops.n,
                    .launches = 1};
  return 1;
}

static void build_staged_map(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                             Built *out_) {
  (void)pl, (void)out_;
  Program *p = L->p;
  Stmt *st = site->st;
  const StagedMap *f = form;
  StagedTile c = *(const StagedTile *)config;
  Target *tg = &st->targets[0];
  Tensor *tt = tg->tensor;
  int nid = f->nid, mid = f->mid, did = f->did;
  Expr *sum = f->sum;
  Operands ops = f->ops; /* the builder notes each operand's shared array */
  int64_t D = f->D, M = f->M;
  LType T = p->real;
  const int tn = c.tn, mb = c.mb, rn = c.rn, rm = c.rm, threads = (tn / rn) * (mb / rm);
  int64_t dp = c.dp ? c.dp : D; /* features staged at a time */
  Kernel *k = program_add_kernel(
      p, strcmp(c.variant, "staged") == 0
             ? arena_printf(&p->arena, "%s_%s_staged", L->s->model, tg->name)
             : arena_printf(&p->arena, "%s_%s_staged%dx%d%s", L->s->model, tg->name, tn, mb, c.dp ? "_strips" : ""));
  k->what = arena_printf(&p->arena, "%s [staged: %d events x %d components per block, %dx%d outputs per thread%s]",
                         stmt_text(L, st), tn, mb, rn, rm,
                         c.dp ? arena_printf(&p->arena, ", %lld features a strip", (long long)dp) : "");
  event_tile_grid(p, k, tn, mb, M, threads);
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), tx = kernel_var(p, k, "tx", LT_I64), ty = kernel_var(p, k, "ty", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, tx, BIN(LB_REM, V(tid), I(mb / rm))));
  ls_append(p, body, ls_assign(p, ty, BIN(LB_DIV, V(tid), I(mb / rm))));
  int n0 = kernel_var(p, k, "n0", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  ls_append(p, body, ls_assign(p, n0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(tn))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_Y), I(mb))));
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64);
  /* the operands without d once; those with d per strip, below */
  for (int i = 0; i < ops.n; i++) {
    Operand *o = &ops.op[i];
    switch (o->role) {
    case ROLE_ND: o->sh = kernel_shared(p, k, o->t->name, T, tn * dp); break;
    case ROLE_MD: o->sh = kernel_shared(p, k, o->t->name, T, mb * dp); break;
    case ROLE_NM:
      o->sh = kernel_shared(p, k, o->t->name, T, tn * mb);
      stage_rows(L, k, body, tid, threads, o->t, o->sh, vn, V(n0), tn, lx_nlocal(p), mb, M, vm, V(m0));
      break;
    case ROLE_M: stage_components(L, k, body, o, tid, vm, m0, mb, M); break;
    }
  }
  int out = kernel_shared(p, k, "out", T, tn * mb);
  int acc[64];
  for (int r = 0; r < rn * rm; r++) {
    acc[r] = kernel_var(p, k, arena_printf(&p->arena, "acc%d_%d", r / rm, r % rm), T);
    ls_append(p, body, ls_assign(p, acc[r], lx_const(p, T, 0)));
  }
  /* per strip of dp features from d0: stage, then the sum's terms of its
   * features (the last strip may be short); one strip when dp = D */
  int strip, d0 = kernel_var(p, k, "d0", LT_I64);
  LStmt *ks = emit_loop(L, k, body, "strip", I(0), I(ceil_div(D, dp)), &strip);
  ls_append(p, ks, ls_assign(p, d0, BIN(LB_MUL, V(strip), I(dp))));
  if (dp < D) ls_append(p, ks, ls_sync(p)); /* the previous strip is read by every thread */
  for (int i = 0; i < ops.n; i++) {
    Operand *o = &ops.op[i];
    if (o->role == ROLE_ND)
      stage_rows(L, k, ks, tid, threads, o->t, o->sh, vn, V(n0), tn, lx_nlocal(p), dp, D, vd, V(d0));
    else if (o->role == ROLE_MD)
      stage_rows(L, k, ks, tid, threads, o->t, o->sh, vm, V(m0), mb, I(M), dp, D, vd, V(d0));
  }
  ls_append(p, ks, ls_sync(p));
  int dd;
  LStmt *kd = emit_loop(L, k, ks, "d", I(0), dp < D ? BIN(LB_MIN, I(dp), BIN(LB_SUB, I(D), V(d0))) : I(D), &dd);
  ls_append(p, kd, ls_assign(p, vd, BIN(LB_ADD, V(d0), V(dd))));
  Env env;
  env_init(&env);
  env.var[did] = vd;
  env.var[nid] = vn;
  env.var[mid] = vm;
  for (int r = 0; r < rn * rm; r++) {
    int ri = r / rm, mi = r % rm;
    LExpr *row = BIN(LB_ADD, BIN(LB_MUL, V(ty), I(rn)), I(ri)), *col = BIN(LB_ADD, BIN(LB_MUL, V(tx), I(rm)), I(mi));
    L->nsubst_tensor = 0;
    for (int i = 0; i < ops.n; i++) {
      Operand *o = &ops.op[i];
      LExpr *at = o->role == ROLE_ND   ? BIN(LB_ADD, BIN(LB_MUL, V(dd), I(tn)), row)
                  : o->role == ROLE_MD ? BIN(LB_ADD, BIN(LB_MUL, V(dd), I(mb)), col)
                  : o->role == ROLE_NM ? BIN(LB_ADD, BIN(LB_MUL, col, I(tn)), row)
                                       : col;
      L->subst_tensor[L->nsubst_tensor] = o->t;
      L->subst_tensor_val[L->nsubst_tensor++] = lx_sload(p, k, o->sh, at);
    }
    LExpr *v = lx_cast(p, T, lower_expr(L, k, kd, sum->args[0], &env));
    ls_append(p, kd, ls_assign(p, acc[r], BIN(LB_ADD, V(acc[r]), v)));
  }
  L->nsubst_tensor = 0;
  /* g per output, with the sum substituted; its other reads are ordinary */
  for (int r = 0; r < rn * rm; r++) {
    int ri = r / rm, mi = r % rm;
    ls_append(p, body, ls_assign(p, vn, BIN(LB_ADD, V(n0), BIN(LB_ADD, BIN(LB_MUL, V(ty), I(rn)), I(ri)))));
    ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, V(m0), BIN(LB_ADD, BIN(LB_MUL, V(tx), I(rm)), I(mi)))));
    LStmt *live = ls_when(p, body, BIN(LB_AND, BIN(LB_LT, V(vn), lx_nlocal(p)), BIN(LB_LT, V(vm), I(M))));
    L->subst_expr = sum;
    L->subst_val = V(acc[r]);
    LExpr *val = lower_expr(L, k, live, st->rhs, &env);
    L->subst_expr = NULL;
    LExpr *at = BIN(LB_ADD, BIN(LB_MUL, BIN(LB_SUB, V(vn), V(n0)), I(mb)), BIN(LB_SUB, V(vm), V(m0)));
    ls_append(p, live, ls_sstore(p, k, out, at, val));
  }
  int flat = kernel_var(p, k, "flat", LT_I64);
  store_event_tile(L, k, body,
                   &(EventTile){.buf = p->tensor_buf[tt->id],
                                .sh = out,
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

const VariantFamily family_staged_map = {.name = "staged-map",
                                         .site = SITE_MAP,
                                         .fast32 = 1,
                                         .match = match_staged_map,
                                         .configs = map_tiles,
                                         .nconfigs = sizeof map_tiles / sizeof *map_tiles,
                                         .config_size = sizeof *map_tiles,
                                         .plan = plan_staged_map,
                                         .build = build_staged_map};

/* S[m, d] = sum(n, f(n, m, d)) with per-component weights among f's reads. */
typedef struct {
  int mid, did, nid;
  Operands ops;
  int64_t D, M;
} StagedReduction;
_Static_assert(sizeof(StagedReduction) <= VARIANT_FORM_BYTES, "StagedReduction must fit the registry's form storage");

static int match_staged_reduction(Lower *L, const Site *site, void *form) {
  Hoisted *h = site->h;
  StagedReduction *f = form;
  if (h->red->op != R_SUM || h->nfree != 2) return 0;
  f->mid = h->free[0], f->did = h->free[1], f->nid = h->red->red.id;
  if (!collect(h->red->args[0], f->nid, f->mid, f->did, &f->ops)) return 0;
  int have_nm = 0;
  for (int i = 0; i < f->ops.n; i++) have_nm |= f->ops.op[i].role == ROLE_NM;
  if (!have_nm) return 0; /* without per-component weights the tiled contraction fits better */
  f->D = index_extent(L, f->did), f->M = index_extent(L, f->mid);
  return f->D <= 256;
}

enum { STAGED_KC = 32 }; /* events staged per chunk */

typedef struct {
  int mg, threads;
  int64_t groups, slices;
} StagedShape;
_Static_assert(sizeof(StagedShape) <= VARIANT_SHAPE_BYTES, "StagedShape must fit Plan.shape");

static int plan_staged_reduction(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site, (void)config;
  const StagedReduction *f = form;
  StagedShape *s = (StagedShape *)pl->shape;
  int64_t D = f->D, M = f->M, kc = STAGED_KC;
  int esz = L->p->real == LT_F64 ? 8 : 4;
  s->mg = (int)(256 / D);
  if (s->mg < 1) s->mg = 1;
  if (s->mg > M) s->mg = (int)M;
  int64_t mg = s->mg;
  s->threads = (int)((mg * D + 31) / 32 * 32);
  int64_t smem = 0;
  double nd = 0, nm = 0;
  for (int i = 0; i < f->ops.n; i++) {
    Role r = f->ops.op[i].role;
    smem += r == ROLE_ND ? kc * D : r == ROLE_NM ? kc * mg : r == ROLE_MD ? mg * D : mg;
    nd += r == ROLE_ND, nm += r == ROLE_NM;
  }
  if (smem * esz > L->dev.smem_static_per_block) return 0;
  s->groups = ceil_div(M, mg);
  s->slices = event_slices(L, s->groups, M * D);
  pl->variant = "staged";
  /* the event operands staged once per group of components; every output
   * reads each operand from shared memory once per event */
  double cells = (double)M * (double)D; /* per event */
  double staged = (double)s->groups * (nd * (double)D + nm * (double)mg) * esz;
  double partials = (double)s->slices * (double)(M * D) * 8;
  pl->work = (Work){.bytes_per_event = staged,
                    .bytes = 2 * partials + (double)(M * D) * 8,
                    .shared_per_event = staged + cells * f->ops.n * esz,
                    .fmas_per_event = cells * f->ops.n,
                    .launches = 2};
  return 1;
}

static void build_staged_reduction(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                                   Built *out_) {
  (void)config;
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const StagedReduction *f = form;
  const StagedShape *s = (const StagedShape *)pl->shape;
  int mid = f->mid, did = f->did, nid = f->nid;
  Operands ops = f->ops; /* the builder notes each operand's shared array */
  int64_t D = f->D, M = f->M, g = s->slices;
  LType T = p->real;
  int kc = STAGED_KC, mg = s->mg, threads = s->threads;
  int pbuf = new_partial(L, h, g, "staged");
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_staged", L->s->model, p->bufs[h->stat_buf]->name));
  k->what =
      arena_printf(&p->arena, "%s [staged: %d components x %lld features per block, %d events staged, %lld slices]",
                   stmt_text(L, st), mg, (long long)D, kc, (long long)g);
  kernel_launch_grid(p, k, s->groups, 1, g, threads);
  LStmt *body = k->body;
  int tid = kernel_var(p, k, "tid", LT_I64), mi = kernel_var(p, k, "mi", LT_I64), m0 = kernel_var(p, k, "m0", LT_I64);
  int vn = kernel_var(p, k, "n", LT_I64), vm = kernel_var(p, k, "m", LT_I64), vd = kernel_var(p, k, "d", LT_I64);
  ls_append(p, body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  ls_append(p, body, ls_assign(p, mi, BIN(LB_DIV, V(tid), I(D))));
  ls_append(p, body, ls_assign(p, m0, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(mg))));
  int first, last;
  event_slice_bounds(p, k, body, g, kc, &first, &last);
  for (int i = 0; i < ops.n; i++) {
    Operand *o = &ops.op[i];
    if (o->role == ROLE_MD) {
      o->sh = kernel_shared(p, k, o->t->name, T, mg * D);
      stage_rows(L, k, body, tid, threads, o->t, o->sh, vm, V(m0), mg, I(M), D, D, vd, I(0));
    } else if (o->role == ROLE_M) {
      stage_components(L, k, body, o, tid, vm, m0, mg, M);
    } else {
      o->sh = kernel_shared(p, k, o->t->name, T, o->role == ROLE_ND ? kc * D : kc * mg);
    }
  }
  int acc = kernel_var(p, k, "acc", T), acc64 = kernel_var(p, k, "sum", LT_F64);
  ls_append(p, body, ls_assign(p, acc, lx_const(p, T, 0)));
  ls_append(p, body, ls_assign(p, acc64, lx_const(p, LT_F64, 0)));
  int c, base;
  LStmt *chunk = emit_event_chunks(L, k, body, first, last, kc, &c, &base);
  for (int i = 0; i < ops.n; i++) {
    Operand *o = &ops.op[i];
    if (o->role == ROLE_ND)
      stage_rows(L, k, chunk, tid, threads, o->t, o->sh, vn, V(base), kc, V(last), D, D, vd, I(0));
    if (o->role == ROLE_NM)
      stage_rows(L, k, chunk, tid, threads, o->t, o->sh, vn, V(base), kc, V(last), mg, M, vm, V(m0));
  }
  ls_append(p, chunk, ls_sync(p));
  /* thread (mi, d) sums its output over the chunk */
  LStmt *act = ls_when(p, chunk, BIN(LB_LT, V(tid), I(mg * D)));
  /* staging used d and m as scratch: set this thread's own before reading */
  ls_append(p, act, ls_assign(p, vd, BIN(LB_REM, V(tid), I(D))));
  ls_append(p, act, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mi))));
  int kk;
  LStmt *inner = emit_loop(L, k, act, "kk", I(0), I(kc), &kk);
  Env env;
  env_init(&env);
  env.var[did] = vd;
  env.var[nid] = vn;
  env.var[mid] = vm;
  L->nsubst_tensor = 0;
  for (int i = 0; i < ops.n; i++) {
    Operand *o = &ops.op[i];
    LExpr *at = o->role == ROLE_ND   ? BIN(LB_ADD, BIN(LB_MUL, V(vd), I(kc)), V(kk))
                : o->role == ROLE_NM ? BIN(LB_ADD, BIN(LB_MUL, V(mi), I(kc)), V(kk))
                : o->role == ROLE_MD ? BIN(LB_ADD, BIN(LB_MUL, V(vd), I(mg)), V(mi))
                                     : V(mi);
    L->subst_tensor[L->nsubst_tensor] = o->t;
    L->subst_tensor_val[L->nsubst_tensor++] = lx_sload(p, k, o->sh, at);
  }
  LExpr *v = lx_cast(p, T, lower_expr(L, k, inner, h->red->args[0], &env));
  L->nsubst_tensor = 0;
  ls_append(p, inner, ls_assign(p, acc, BIN(LB_ADD, V(acc), v)));
  LStmt *flush = ls_when(p, act, BIN(LB_EQ, BIN(LB_REM, V(c), I(4)), I(3)));
  ls_append(p, flush, ls_assign(p, acc64, BIN(LB_ADD, V(acc64), lx_cast(p, LT_F64, V(acc)))));
  ls_append(p, flush, ls_assign(p, acc, lx_const(p, T, 0)));
  ls_append(p, body, ls_assign(p, vm, BIN(LB_ADD, V(m0), V(mi))));
  ls_append(p, body, ls_assign(p, vd, BIN(LB_REM, V(tid), I(D))));
  LStmt *out = ls_when(p, body, BIN(LB_AND, BIN(LB_LT, V(tid), I(mg * D)), BIN(LB_LT, V(vm), I(M))));
  LExpr **pi = idx_vec(p, 3);
  pi[0] = lx_sreg(p, SR_CTAID_Z);
  pi[1] = V(vm);
  pi[2] = V(vd);
  ls_append(p, out, ls_store(p, pbuf, pi, BIN(LB_ADD, V(acc64), lx_cast(p, LT_F64, V(acc)))));
  *out_ = (Built){.partial_buf = pbuf, .slices = (int)g, .combine_tag = "staged"};
}

const VariantFamily family_staged_reduction = {.name = "staged-reduction",
                                               .site = SITE_REDUCTION,
                                               .fast32 = 1,
                                               .match = match_staged_reduction,
                                               .plan = plan_staged_reduction,
                                               .build = build_staged_reduction};
