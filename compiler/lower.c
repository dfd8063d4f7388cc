/* Lowering of a checked spec to the loop IR: buffers for every tensor, one
 * kernel per statement (its "map"), reductions over events hoisted into
 * partial and combine kernels with a float64 stat buffer, and the step
 * sequences the EM driver runs, scheduled so that all event reductions that
 * are ready together meet at one reduce point (one all-reduce across ranks). */
#include <stdlib.h>
#include <string.h>

#include "fuse.h"
#include "lower.h"
#include "merge_runs.h"
#include "variant.h"

/* ---- buffers ------------------------------------------------------------------- */

static void make_buffers(Lower *L) {
  Program *p = L->p;
  Spec *s = L->s;
  p->tensor_buf = arena_alloc(&p->arena, sizeof(int) * (size_t)s->tensors.len);
  for (int i = 0; i < s->tensors.len; i++) {
    Tensor *t = spec_tensor(s, i);
    int64_t dims[GMMC_MAX_RANK];
    int event = t->rank > 0 && t->dims[0] == s->event_size;
    for (int a = 0; a < t->rank; a++) dims[a] = p->size_values[t->dims[a]];
    BufKind kind;
    if (t->kind == TK_DATA)
      kind = BK_DATA;
    else if (t->kind == TK_PARAM)
      kind = BK_PARAM;
    else if (t->def && t->def->section == SEC_DERIVED)
      kind = BK_DERIVED;
    else
      kind = event ? BK_EVENT : BK_SMALL;
    /* events in the data's type; parameters and other small tensors in
     * float64: they cost nothing and keep ill-conditioned covariances exact */
    LType elem = t->elem == VT_INT ? LT_I32 : (event ? p->real : LT_F64);
    int b = program_add_buffer(p, t->name, kind, elem, t->rank, dims, event);
    p->bufs[b]->tensor = t;
    p->bufs[b]->once = t->def && t->def->section == SEC_ONCE;
    p->tensor_buf[i] = b;
  }
  int64_t slots = 0;
  for (int sec = 0; sec < SEC_COUNT; sec++)
    for (int i = 0; i < s->stmts[sec].len; i++) slots += ((Stmt *)s->stmts[sec].items[i])->builtin != BI_NONE;
  if (slots == 0) slots = 1;
  p->status_buf = program_add_buffer(p, "status", BK_STATUS, LT_I32, 1, &slots, 0);
  p->builtins = arena_alloc(&p->arena, sizeof(BuiltinInfo) * (size_t)slots);
}

/* ---- hoisting event reductions ---------------------------------------------------- */

static void collect_used(Expr *e, unsigned char *used) {
  if (!e) return;
  if (e->kind == E_NAME && e->ref == REF_INDEX) used[e->ref_id] = 1;
  if (e->kind == E_ACCESS)
    for (int i = 0; i < e->nidx; i++) used[e->idx[i].id] = 1;
  for (int i = 0; i < e->nargs; i++) collect_used(e->args[i], used);
}

typedef struct {
  Stmt *stmt;
  int map_kernel;
  int map_unit;
  Hoisted *h[32];
  int nh;
  int map_done;
  int h_done[32];
} StmtInfo;

static void add_hoisted(Lower *L, StmtInfo *si, Expr *red, const int *bound, int nbound) {
  Program *p = L->p;
  if (si->nh == 32) lower_fail(L, "statement '%s' has too many reductions over events", si->stmt->targets[0].name);
  Hoisted *h = arena_alloc(&p->arena, sizeof(Hoisted));
  h->red = red;
  unsigned char used[64] = {0};
  collect_used(red->args[0], used);
  for (int i = 0; i < nbound; i++)
    if (used[bound[i]]) h->free[h->nfree++] = bound[i];
  /* storage symmetric in a pair of free indices of equal size? */
  h->symmetric = 0;
  for (int a = 0; a + 1 < h->nfree && !h->symmetric; a++)
    for (int b = a + 1; b < h->nfree && !h->symmetric; b++)
      if (index_extent(L, h->free[a]) == index_extent(L, h->free[b]) &&
          expr_symmetric(red->args[0], h->free[a], h->free[b])) {
        /* keep the pair as the last two free indices */
        int fa = h->free[a], fb = h->free[b], k = 0, rest[8];
        for (int i = 0; i < h->nfree; i++)
          if (i != a && i != b) rest[k++] = h->free[i];
        rest[k++] = fa;
        rest[k++] = fb;
        memcpy(h->free, rest, sizeof(int) * (size_t)k);
        h->symmetric = 1;
      }
  const char *base = si->stmt->targets[0].name;
  int64_t dims[GMMC_MAX_RANK + 1], elems = 1;
  for (int i = 0; i < h->nfree; i++) elems *= dims[i + 1] = index_extent(L, h->free[i]);
  /* partial results stay within 2^24 values (128 MiB) */
  h->chunks =
      (int)((int64_t)p->chunks * elems > (1 << 24) ? ((1 << 24) / elems > 0 ? (1 << 24) / elems : 1) : p->chunks);
  dims[0] = h->chunks;
  if (h->nfree > GMMC_MAX_RANK) lower_fail(L, "a reduction over events in '%s' depends on too many indices", base);
  const char *name = arena_printf(&p->arena, "%s__s%d", base, si->nh);
  h->stat_buf = program_add_buffer(p, name, BK_STAT, LT_F64, h->nfree, dims + 1, 0);
  h->partial_buf =
      program_add_buffer(p, arena_printf(&p->arena, "%s_partial", name), BK_PARTIAL, LT_F64, h->nfree + 1, dims, 0);
  p->bufs[h->stat_buf]->stat_op = (RedOp)red->op;
  p->bufs[h->partial_buf]->stat_op = (RedOp)red->op;
  si->h[si->nh++] = h;
  if (L->nhoisted == L->caphoisted) {
    L->caphoisted = L->caphoisted ? L->caphoisted * 2 : 16;
    Hoisted **hs = arena_alloc(&p->arena, sizeof(Hoisted *) * (size_t)L->caphoisted);
    if (L->nhoisted) memcpy(hs, L->hoisted, sizeof(Hoisted *) * (size_t)L->nhoisted);
    L->hoisted = hs;
  }
  L->hoisted[L->nhoisted++] = h;
}

static void hoist(Lower *L, StmtInfo *si, Expr *e, int *bound, int nbound) {
  if (!e) return;
  if (e->kind == E_REDUCE) {
    if (spec_index(L->s, e->red.id)->size == L->s->event_size) {
      add_hoisted(L, si, e, bound, nbound);
      return;
    }
    bound[nbound] = e->red.id;
    hoist(L, si, e->args[0], bound, nbound + 1);
    return;
  }
  for (int i = 0; i < e->nargs; i++) hoist(L, si, e->args[i], bound, nbound);
}

/* ---- kernels -------------------------------------------------------------------------- */

void env_init(Env *env) {
  for (int i = 0; i < 64; i++) env->var[i] = -1;
}

/* Map kernel: one work item per element of the statement's target. */
static int map_kernel(Lower *L, Stmt *st) {
  Program *p = L->p;
  Target *tg = &st->targets[0];
  Tensor *t = tg->tensor;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s", L->s->model, tg->name));
  k->what = stmt_text(L, st);
  int ids[GMMC_MAX_RANK];
  int event = 0;
  int64_t fixed = 1;
  for (int i = 0; i < tg->nidx; i++) {
    ids[i] = tg->idx[i].id;
    if (spec_index(L->s, ids[i])->size == L->s->event_size)
      event = 1;
    else
      fixed *= index_extent(L, ids[i]);
  }
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = event ? lx_binary(p, LB_MUL, lx_nlocal(p), lx_int(p, fixed)) : lx_int(p, fixed);
  Env env;
  env_init(&env);
  decompose_flat(L, k, k->body, lx_var(p, k, k->pvar), ids, tg->nidx, &env);
  int b = p->tensor_buf[t->id];
  LExpr **idx = idx_vec(p, tg->nidx);
  for (int i = 0; i < tg->nidx; i++) idx[i] = lx_var(p, k, env.var[ids[i]]);
  LStmt *block = k->body;
  L->rt = event ? p->real : LT_F64;
  Structure sr = t->structure;
  if (sr != ST_NONE && tg->nidx >= 2) {
    /* compute only the stored half; the rest is a mirror or zero */
    LExpr *a = idx[tg->nidx - 2], *c = idx[tg->nidx - 1];
    int cmp = sr == ST_SYMMETRIC || sr == ST_UPPER ? LB_LE : sr == ST_LOWER ? LB_GE : LB_EQ;
    block = ls_block(p);
    LStmt *zero = NULL;
    if (sr != ST_SYMMETRIC) {
      zero = ls_block(p);
      ls_append(p, zero, ls_store(p, b, idx, lx_const(p, L->rt, 0.0)));
    }
    ls_append(p, k->body, ls_if(p, lx_binary(p, cmp, a, c), block, zero));
  }
  LExpr *v = lower_expr(L, k, block, st->rhs, &env);
  if (sr == ST_SYMMETRIC && tg->nidx >= 2) {
    int tmp = kernel_var(p, k, "value", p->bufs[b]->elem);
    ls_append(p, block, ls_assign(p, tmp, lx_cast(p, p->bufs[b]->elem, v)));
    v = lx_var(p, k, tmp);
    LExpr **mirror = idx_vec(p, tg->nidx);
    for (int i = 0; i < tg->nidx; i++) mirror[i] = idx[i];
    mirror[tg->nidx - 2] = idx[tg->nidx - 1];
    mirror[tg->nidx - 1] = idx[tg->nidx - 2];
    ls_append(p, block, ls_store(p, b, mirror, v));
  }
  ls_append(p, block, ls_store(p, b, idx, v));
  return p->nkernels - 1;
}

/* Initialisation from labels: responsibilities one-hot at each event's label
 * (a label outside [0, M) gives a row of zeros). */
static void init_resp_kernel(Lower *L) {
  Program *p = L->p;
  Spec *s = L->s;
  Tensor *r = s->predict_proba;
  int64_t m = p->size_values[r->dims[1]];
  int64_t one = 0;
  p->init_labels_buf = program_add_buffer(p, "init_labels", BK_EVENT, LT_I32, 1, &one, 1);
  int rbuf = p->tensor_buf[r->id];
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_init_%s", s->model, r->name));
  k->what = arena_printf(&p->arena, "initialisation: %s[n,m] = (init_labels[n] == m)", r->name);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = lx_binary(p, LB_MUL, lx_nlocal(p), lx_int(p, m));
  LExpr *item = lx_var(p, k, k->pvar);
  int n = kernel_var(p, k, "n", LT_I64), c = kernel_var(p, k, "m", LT_I64);
  ls_append(p, k->body, ls_assign(p, n, lx_binary(p, LB_DIV, item, lx_int(p, m))));
  ls_append(p, k->body, ls_assign(p, c, lx_binary(p, LB_REM, item, lx_int(p, m))));
  LExpr **li = idx_vec(p, 1);
  li[0] = lx_var(p, k, n);
  LExpr *hit = lx_binary(p, LB_EQ, lx_load(p, p->init_labels_buf, li), lx_var(p, k, c));
  LExpr **ri = idx_vec(p, 2);
  ri[0] = lx_var(p, k, n);
  ri[1] = lx_var(p, k, c);
  ls_append(p, k->body, ls_store(p, rbuf, ri, lx_select(p, hit, lx_const(p, p->real, 1.0), lx_const(p, p->real, 0.0))));
  p->init_resp_kernel = p->nkernels - 1;
}

/* ---- scheduling ----------------------------------------------------------------------------- */

typedef struct {
  StmtInfo **items;
  int len;
} InfoList;

static void collect_reads(Lower *L, Expr *e, int skip_hoisted, PtrVec *out) {
  if (!e) return;
  if (skip_hoisted && e->kind == E_REDUCE && find_hoisted(L, e)) return;
  if (e->kind == E_ACCESS && e->tensor && !e->prev) ptrvec_push(&L->p->arena, out, e->tensor);
  for (int i = 0; i < e->nargs; i++) collect_reads(L, e->args[i], skip_hoisted, out);
}

static StmtInfo *producer(InfoList *seq, Tensor *t) {
  for (int i = 0; i < seq->len; i++)
    if (seq->items[i]->stmt == t->def) return seq->items[i];
  return NULL;
}

static int reads_ready(Lower *L, InfoList *seq, Expr *e, int skip_hoisted, StmtInfo *self) {
  PtrVec reads = {0};
  collect_reads(L, e, skip_hoisted, &reads);
  for (int i = 0; i < reads.len; i++) {
    StmtInfo *pr = producer(seq, reads.items[i]);
    /* a tensor produced by a later section is read as it was before this step
     * (the E-step reads the derived values of the previous iteration) */
    if (pr && pr != self && !pr->map_done && pr->stmt->section <= self->stmt->section) return 0;
  }
  return 1;
}

static int map_ready(Lower *L, InfoList *seq, StmtInfo *si) {
  for (int i = 0; i < si->nh; i++)
    if (!si->h_done[i]) return 0;
  for (int i = 0; i < seq->len; i++) /* sections run in order */
    if (seq->items[i]->stmt->section < si->stmt->section && !seq->items[i]->map_done) return 0;
  if (si->stmt->builtin) {
    Tensor *in = si->stmt->rhs->args[0]->tensor;
    StmtInfo *pr = producer(seq, in);
    return !pr || pr->map_done;
  }
  return reads_ready(L, seq, si->stmt->rhs, 1, si);
}

static void schedule(Lower *L, SeqId id, const Section *secs, int nsecs, StmtInfo *all, int nall) {
  Program *p = L->p;
  InfoList seq = {arena_alloc(&p->arena, sizeof(StmtInfo *) * (size_t)(nall + 1)), 0};
  for (int s = 0; s < nsecs; s++)
    for (int i = 0; i < nall; i++)
      if (all[i].stmt->section == secs[s]) seq.items[seq.len++] = &all[i];
  for (int i = 0; i < seq.len; i++) {
    seq.items[i]->map_done = 0;
    memset(seq.items[i]->h_done, 0, sizeof seq.items[i]->h_done);
  }
  for (;;) {
    int progress = 0;
    for (int again = 1; again;) {
      again = 0;
      for (int i = 0; i < seq.len; i++) {
        StmtInfo *si = seq.items[i];
        if (si->map_done || !map_ready(L, &seq, si)) continue;
        seq_push(p, id, (Step){.kind = STEP_UNIT, .unit = si->map_unit});
        si->map_done = again = progress = 1;
      }
    }
    /* all event reductions ready now run together and meet at one reduce point */
    Hoisted *ready[256];
    int *done_flag[256], nready = 0, remaining = 0;
    for (int i = 0; i < seq.len; i++) {
      StmtInfo *si = seq.items[i];
      remaining |= !si->map_done;
      for (int h = 0; h < si->nh; h++) {
        if (si->h_done[h]) continue;
        remaining = 1;
        if (nready == 256 || !reads_ready(L, &seq, si->h[h]->red->args[0], 0, si)) continue;
        done_flag[nready] = &si->h_done[h];
        ready[nready++] = si->h[h];
      }
    }
    if (!remaining) return;
    if (nready) {
      for (int r = 0; r < nready; r++) seq_push(p, id, (Step){.kind = STEP_UNIT, .unit = ready[r]->unit});
      int *bufs = arena_alloc(&p->arena, sizeof(int) * (size_t)nready);
      for (int r = 0; r < nready; r++) {
        bufs[r] = ready[r]->stat_buf;
        *done_flag[r] = 1;
      }
      seq_push(p, id, (Step){.kind = STEP_REDUCE, .bufs = bufs, .nbufs = nready});
      progress = 1;
    }
    if (!progress) lower_fail(L, "internal error: cannot schedule the statements of '%s'", L->s->model);
  }
}

/* ---- entry ---------------------------------------------------------------------------------------- */

Program *lower_program(Spec *spec, const int64_t *size_values, const LowerOptions *opt, char **err) {
  *err = NULL;
  Program *p = xcalloc(1, sizeof(Program));
  if (!p) {
    spec_free(spec);
    return NULL;
  }
  p->spec = spec;
  p->real = opt->real;
  p->chunks = opt->chunks > 0 ? opt->chunks : (opt->host ? 64 : 512);
  p->status_buf = -1;
  p->init_labels_buf = -1;
  p->init_resp_kernel = -1;
  jmp_buf escape;
  /* a target never filled: the default GPU, or a one-thread host of 16-byte vectors */
  TargetDesc dev =
      opt->host && opt->target.sm_count <= 0 ? target_desc_host(1, 16) : target_desc_or_default(&opt->target);
  Lower L = {.p = p, .s = spec, .opt = opt, .dev = dev, .escape = &escape};
  if (setjmp(escape)) {
    /* an error's message, or none when out of memory (the program's arena or the spec's) */
    *err = p->arena.failed || spec->arena.failed ? (free(L.err), NULL) : L.err;
    program_free(p);
    return NULL;
  }
  p->arena.escape = spec->arena.escape = &escape;
  if (!opt->weighted) spec_drop_weights(spec);
  p->size_values = arena_alloc(&p->arena, sizeof(int64_t) * (size_t)spec->sizes.len);
  for (int i = 0; i < spec->sizes.len; i++) {
    SizeSym *z = spec_size(spec, i);
    if (z->is_event) {
      p->size_values[i] = -1;
      continue;
    }
    int64_t v = size_values[i];
    if (v <= 0) lower_fail(&L, "size %s of '%s' must be given a positive value", z->name, spec->model);
    if (v > (1 << 20)) lower_fail(&L, "size %s = %lld is too large (at most %d)", z->name, (long long)v, 1 << 20);
    p->size_values[i] = v;
  }
  if (spec->indices.len > 64) lower_fail(&L, "too many indices (at most 64)");
  for (int i = 0; i < spec->tensors.len; i++) {
    Tensor *t = spec_tensor(spec, i);
    double elems = 1;
    for (int a = 0; a < t->rank; a++)
      if (t->dims[a] != spec->event_size) elems *= (double)p->size_values[t->dims[a]];
    if (elems > (double)(1 << 28))
      lower_fail(&L, "'%s' would hold %.0f values per event or in all; at most %d are supported", t->name, elems,
                 1 << 28);
  }
  make_buffers(&L);
  int nall = 0;
  for (int s = 0; s < SEC_COUNT; s++) nall += spec->stmts[s].len;
  StmtInfo *all = arena_alloc(&p->arena, sizeof(StmtInfo) * (size_t)(nall + 1));
  int n = 0;
  for (int s = 0; s < SEC_COUNT; s++) {
    for (int i = 0; i < spec->stmts[s].len; i++) {
      StmtInfo *si = &all[n++];
      si->stmt = spec->stmts[s].items[i];
      if (si->stmt->builtin) continue;
      int bound[64];
      Target *tg = &si->stmt->targets[0];
      for (int k = 0; k < tg->nidx; k++) bound[k] = tg->idx[k].id;
      hoist(&L, si, si->stmt->rhs, bound, tg->nidx);
    }
  }
  p->stmt_kernels = arena_alloc(&p->arena, sizeof(StmtKernels) * (size_t)(n + 1));
  p->nstmts = n;
  for (int i = 0; i < n; i++) {
    StmtInfo *si = &all[i];
    StmtKernels *sk = &p->stmt_kernels[i];
    sk->stmt = si->stmt;
    for (int h = 0; h < si->nh; h++) {
      Hoisted *hh = si->h[h];
      hh->partial_kernel = sk->kernels[sk->nkernels++] = partial_kernel(&L, si->stmt, hh);
      hh->combine_kernel = sk->kernels[sk->nkernels++] =
          combine_kernel_for(&L, si->stmt, hh, hh->partial_buf, hh->chunks, NULL);
      hh->unit = program_add_unit(p, p->bufs[hh->stat_buf]->name);
      p->units[hh->unit].out_buf = hh->stat_buf;
      Alt *a = unit_add_alt(p, hh->unit, "simple");
      a->kernels[a->nkernels++] = hh->partial_kernel;
      a->kernels[a->nkernels++] = hh->combine_kernel;
      if (opt->variants) variants_add(&L, &(Site){.kind = SITE_REDUCTION, .st = si->stmt, .unit = hh->unit, .h = hh});
    }
    if (si->stmt->builtin) {
      lower_builtin(&L, si->stmt);
      si->map_kernel = p->nkernels - 1;
    } else {
      si->map_kernel = map_kernel(&L, si->stmt);
    }
    sk->kernels[sk->nkernels++] = si->map_kernel;
    si->map_unit = program_add_unit(p, si->stmt->targets[0].name);
    p->units[si->map_unit].out_buf = p->tensor_buf[si->stmt->targets[0].tensor->id];
    Alt *a = unit_add_alt(p, si->map_unit, "simple");
    a->kernels[a->nkernels++] = si->map_kernel;
    if (opt->variants)
      variants_add(&L, &(Site){.kind = si->stmt->builtin ? SITE_BUILTIN : SITE_MAP,
                               .st = si->stmt,
                               .unit = si->map_unit,
                               .slot = p->nbuiltins - 1});
  }
  apply_schedule(&L);
  if (spec->predict_proba) init_resp_kernel(&L);
  static const Section iterate[] = {SEC_ESTEP, SEC_MSTEP, SEC_DERIVED};
  static const Section estep[] = {SEC_ESTEP, SEC_PREDICT};
  static const Section mstep[] = {SEC_MSTEP, SEC_DERIVED};
  static const Section derived[] = {SEC_DERIVED};
  static const Section once[] = {SEC_ONCE};
  schedule(&L, SEQ_ITERATE, iterate, 3, all, n);
  schedule(&L, SEQ_ESTEP, estep, 2, all, n);
  schedule(&L, SEQ_MSTEP, mstep, 2, all, n);
  schedule(&L, SEQ_DERIVED, derived, 1, all, n);
  schedule(&L, SEQ_ONCE, once, 1, all, n); /* the others read its tensors as inputs */
  if (opt->variants && opt->fuse) {
    UnitOrigin *origin = arena_alloc(&p->arena, sizeof(UnitOrigin) * (size_t)(p->nunits + 1));
    for (int i = 0; i < n; i++) {
      origin[all[i].map_unit].st = all[i].stmt;
      for (int h = 0; h < all[i].nh; h++) origin[all[i].h[h]->unit] = (UnitOrigin){all[i].stmt, all[i].h[h]};
    }
    fuse_sequences(&L, origin);
  }
  if (opt->variants && !opt->host) merge_small_runs(&L);
  program_finish(p);
  p->arena.escape = spec->arena.escape = NULL; /* later allocations from them return NULL */
  return p;
}
