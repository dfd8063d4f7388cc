/* Fusion groups (fuse.h): which per-event units of a sequence run together,
 * what each group stores, recomputes and snapshots, and the rewritten
 * sequences. The fused kernels themselves are registry families
 * (variants_fused.c). */
#include "fuse.h"

#include <string.h>

#include "variant.h"

int tensor_per_event(const Lower *L, const Tensor *t) {
  return t->kind != TK_DATA && t->rank > 0 && t->dims[0] == L->s->event_size;
}
int tensor_wide(const Lower *L, const Tensor *t) { return tensor_per_event(L, t) && t->rank > 1; }

/* The per-event units of a sequence: maps whose target has the event axis
 * and reductions over events. */
static int unit_per_event(const Lower *L, const UnitOrigin *o) {
  if (!o->st) return 0;
  if (o->h) return 1;
  return !o->st->builtin && tensor_per_event(L, o->st->targets[0].tensor);
}

/* Tensors read by e, skipping reductions over events (their own units). */
static void reads_of(Lower *L, const Expr *e, PtrVec *out) {
  if (!e) return;
  if (e->kind == E_REDUCE && find_hoisted(L, e)) return;
  if (e->kind == E_ACCESS && e->tensor) ptrvec_push(&L->p->arena, out, e->tensor);
  for (int i = 0; i < e->nargs; i++) reads_of(L, e->args[i], out);
}

/* Tensors the E-step sequence hands out (predict_proba, score_samples,
 * predict): stored there whatever the fusion. */
static int estep_output(const Spec *s, const Tensor *t) {
  return t == s->predict_proba || t == s->score_samples || t == s->predict;
}

static const Expr *unit_expr(const UnitOrigin *o) { return o->h ? o->h->red->args[0] : o->st->rhs; }

/* One sequence being fused. */
typedef struct {
  Lower *L;
  SeqId seq;
  const UnitOrigin *origin;
  int norigin;
  const Sequence *q;
  int *run_of; /* per step: the run it belongs to, or -1 */
  int *active; /* per run */
  int *start;  /* per run: its first step */
  int nruns;
} Fusing;

static int step_unit(const Fusing *f, int i) {
  const Step *st = &f->q->steps[i];
  return st->kind == STEP_UNIT && st->unit < f->norigin ? st->unit : -1;
}

/* The step of the map unit that computes tensor t in this sequence, or -1. */
static int producer_step(const Fusing *f, const Tensor *t) {
  for (int i = 0; i < f->q->len; i++) {
    int u = step_unit(f, i);
    if (u >= 0 && !f->origin[u].h && f->origin[u].st->targets[0].tensor == t) return i;
  }
  return -1;
}

static int in_active_run(const Fusing *f, int step) { return f->run_of[step] >= 0 && f->active[f->run_of[step]]; }

/* A per-event tensor with more than the event axis is written to memory
 * when its producer is not fused, when a unit outside the fused groups reads
 * it after, or when the E-step sequence hands it out as an output. On the
 * host also when a later group reads it: recomputing its statements there
 * (the covariances' pass recomputing the E-step) costs more than writing
 * and reading it once, where a GPU's arithmetic is cheaper than its memory. */
static int stored(const Fusing *f, const Tensor *t) {
  Lower *L = f->L;
  if (!tensor_wide(L, t)) return 1;
  int ps = producer_step(f, t);
  if (ps < 0 || !in_active_run(f, ps)) return 1;
  if (f->seq == SEQ_ESTEP && estep_output(L->s, t)) return 1;
  for (int i = ps + 1; i < f->q->len; i++) {
    int u = step_unit(f, i);
    if (u < 0 || (in_active_run(f, i) && (!L->opt->host || f->run_of[i] == f->run_of[ps]))) continue;
    PtrVec r = {0};
    reads_of(L, unit_expr(&f->origin[u]), &r);
    for (int j = 0; j < r.len; j++)
      if (r.items[j] == t) return 1;
  }
  return 0;
}

static int has_stmt(Stmt *const *v, int n, const Stmt *s) {
  for (int i = 0; i < n; i++)
    if (v[i] == s) return 1;
  return 0;
}

/* The statements a group recomputes for expression e: producers (earlier in
 * the sequence, outside the group) of the wide tensors it reads that are
 * not stored, and theirs in turn; in an order that computes inputs first. */
static int collect_recompute(const Fusing *f, const Expr *e, Stmt **rec, int *nrec, Stmt *const *members,
                             int nmembers) {
  PtrVec r = {0};
  reads_of(f->L, e, &r);
  for (int j = 0; j < r.len; j++) {
    Tensor *t = r.items[j];
    if (!tensor_wide(f->L, t) || stored(f, t) || has_stmt(members, nmembers, t->def)) continue;
    if (has_stmt(rec, *nrec, t->def)) continue;
    if (!collect_recompute(f, t->def->rhs, rec, nrec, members, nmembers)) return 0;
    if (*nrec == GROUP_MAX) return 0;
    rec[(*nrec)++] = t->def;
  }
  return 1;
}

/* The group of run r as the active runs stand; 0 when it cannot be one. */
static int plan_group(const Fusing *f, int r, Group *g) {
  memset(g, 0, sizeof *g);
  g->seq = f->seq;
  Stmt *member_maps[GROUP_MAX];
  int nmm = 0;
  for (int i = f->start[r]; i < f->q->len && f->run_of[i] == r; i++) {
    int u = step_unit(f, i);
    if (g->nmembers == GROUP_MAX) return 0;
    g->members[g->nmembers++] = u;
    const UnitOrigin *o = &f->origin[u];
    if (o->h) {
      if (g->nreds == 8) return 0;
      g->reds[g->nreds] = o->h;
      g->red_stmts[g->nreds++] = o->st;
    } else {
      member_maps[nmm++] = o->st;
    }
  }
  Stmt *rec[GROUP_MAX];
  int nrec = 0;
  for (int i = 0; i < g->nmembers; i++)
    if (!collect_recompute(f, unit_expr(&f->origin[g->members[i]]), rec, &nrec, member_maps, nmm)) return 0;
  if (nrec + nmm > GROUP_MAX) return 0;
  memcpy(g->maps, rec, sizeof(Stmt *) * (size_t)nrec);
  memcpy(g->maps + nrec, member_maps, sizeof(Stmt *) * (size_t)nmm);
  g->nmaps = nrec + nmm;
  g->nrecomputed = nrec;
  for (int i = 0; i < nmm; i++)
    if (stored(f, member_maps[i]->targets[0].tensor)) g->stored[g->nstored++] = member_maps[i]->targets[0].tensor;
  /* one unit alone gains from fusion only what it recomputes */
  return g->nmembers > 1 || nrec > 0;
}

static int group_buildable(const Fusing *f, int r) {
  Group g;
  if (!plan_group(f, r, &g)) return 0;
  return variants_any(f->L, &(Site){.kind = SITE_GROUP, .group = &g});
}

/* ---- snapshots ----------------------------------------------------------------------------- */

/* A copy kernel dst = src over every element. */
static int copy_kernel(Lower *L, int src, int dst) {
  Program *p = L->p;
  const Buffer *b = p->bufs[src];
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_snapshot_%s", L->s->model, b->name));
  k->what = arena_printf(&p->arena, "snapshot of %s for a recomputing fused kernel", b->name);
  k->compact = 1;
  int64_t elems = buffer_elems(b, 0);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = lx_int(p, elems);
  LExpr **idx = idx_vec(p, b->rank);
  int64_t stride = 1;
  for (int a = b->rank - 1; a >= 0; a--) {
    LExpr *x = lx_var(p, k, k->pvar);
    if (stride > 1) x = lx_binary(p, LB_DIV, x, lx_int(p, stride));
    if (a > 0) x = lx_binary(p, LB_REM, x, lx_int(p, b->dims[a]));
    idx[a] = x;
    stride *= b->dims[a];
  }
  ls_append(p, k->body, ls_store(p, dst, idx, lx_load(p, src, idx)));
  return p->nkernels - 1;
}

typedef struct {
  Tensor *t;
  int before; /* the step it is taken before */
  int buf, unit;
} Snapshot;

/* The reads of g's recomputed statements whose tensors are overwritten
 * between the statement's own step and the group's: snapshots, made once. */
static void plan_snapshots(const Fusing *f, int r, Group *g, Snapshot *snaps, int *nsnaps) {
  Lower *L = f->L;
  Program *p = L->p;
  for (int i = 0; i < g->nrecomputed; i++) {
    Stmt *s = g->maps[i];
    int ps = producer_step(f, s->targets[0].tensor);
    PtrVec reads = {0};
    reads_of(L, s->rhs, &reads);
    for (int j = 0; j < reads.len; j++) {
      Tensor *t = reads.items[j];
      if (t->kind == TK_DATA || tensor_per_event(L, t)) continue;
      int w = producer_step(f, t);
      if (w <= ps || w >= f->start[r]) continue;
      int have = -1;
      for (int k = 0; k < *nsnaps; k++)
        if (snaps[k].t == t && snaps[k].before == w) have = k;
      if (have < 0 && *nsnaps < 16) {
        const Buffer *b = p->bufs[p->tensor_buf[t->id]];
        int buf = program_add_buffer(p, arena_printf(&p->arena, "%s_at_%s", t->name, p->units[g->unit].name), BK_SMALL,
                                     b->elem, b->rank, b->dims, 0);
        int u = program_add_unit(p, p->bufs[buf]->name);
        p->units[u].out_buf = buf;
        Alt *a = unit_add_alt(p, u, "simple");
        a->kernels[a->nkernels++] = copy_kernel(L, p->tensor_buf[t->id], buf);
        snaps[have = (*nsnaps)++] = (Snapshot){t, w, buf, u};
      }
      if (have >= 0 && g->nsnap < 8) {
        g->snap_t[g->nsnap] = t;
        g->snap_buf[g->nsnap++] = snaps[have].buf;
      }
    }
  }
}

/* ---- the sequences ---------------------------------------------------------------------------- */

static const char *const seq_names[SEQ_COUNT] = {"iterate", "estep", "mstep", "derived", "once"};

static void fuse_one(Lower *L, SeqId seq, const UnitOrigin *origin, int norigin) {
  Program *p = L->p;
  Sequence *q = &p->seq[seq];
  Fusing f = {.L = L, .seq = seq, .origin = origin, .norigin = norigin, .q = q};
  f.run_of = arena_alloc(&p->arena, sizeof(int) * (size_t)(q->len + 1));
  f.active = arena_alloc(&p->arena, sizeof(int) * (size_t)(q->len + 1));
  f.start = arena_alloc(&p->arena, sizeof(int) * (size_t)(q->len + 1));
  for (int i = 0; i < q->len; i++) {
    int u = step_unit(&f, i);
    f.run_of[i] = -1;
    if (u < 0 || !unit_per_event(L, &origin[u])) continue;
    if (i > 0 && f.run_of[i - 1] >= 0) {
      f.run_of[i] = f.run_of[i - 1];
      continue;
    }
    f.start[f.nruns] = i;
    f.active[f.nruns] = 1;
    f.run_of[i] = f.nruns++;
  }
  /* a run that cannot be fused changes what the others must store and
   * recompute: drop such runs until none is left */
  for (int changed = 1; changed;) {
    changed = 0;
    for (int r = 0; r < f.nruns; r++)
      if (f.active[r] && !group_buildable(&f, r)) f.active[r] = 0, changed = 1;
  }
  int any = 0;
  for (int r = 0; r < f.nruns; r++) any |= f.active[r];
  if (!any) return;
  Snapshot snaps[16];
  int nsnaps = 0, made = 0;
  int *group_unit = arena_alloc(&p->arena, sizeof(int) * (size_t)(f.nruns + 1));
  for (int r = 0; r < f.nruns; r++) {
    group_unit[r] = -1;
    if (!f.active[r]) continue;
    Group *g = arena_alloc(&p->arena, sizeof(Group));
    plan_group(&f, r, g);
    g->unit = group_unit[r] = program_add_unit(p, arena_printf(&p->arena, "%s#%d", seq_names[seq], ++made));
    Unit *U = &p->units[g->unit];
    U->group_seq = seq;
    U->out_buf = g->nstored ? p->tensor_buf[g->stored[0]->id] : g->nreds ? g->reds[0]->stat_buf : -1;
    Alt *a = unit_add_alt(p, g->unit, "unfused");
    memcpy(a->members, g->members, sizeof(int) * (size_t)g->nmembers);
    a->nmembers = g->nmembers;
    plan_snapshots(&f, r, g, snaps, &nsnaps);
    variants_add(L, &(Site){.kind = SITE_GROUP, .unit = g->unit, .group = g});
  }
  /* the sequence again: snapshots before the steps that overwrite their
   * tensors, each group's unit in place of its run */
  Sequence old = *q;
  memset(q, 0, sizeof *q);
  for (int i = 0; i < old.len; i++) {
    for (int k = 0; k < nsnaps; k++)
      if (snaps[k].before == i) seq_push(p, seq, (Step){.kind = STEP_UNIT, .unit = snaps[k].unit});
    int r = f.run_of[i];
    if (r >= 0 && f.active[r]) {
      if (f.start[r] == i) seq_push(p, seq, (Step){.kind = STEP_UNIT, .unit = group_unit[r]});
      continue;
    }
    seq_push(p, seq, old.steps[i]);
  }
}

int fuse_hands_on(const Program *p, SeqId seq, int buf) {
  const Buffer *bf = p->bufs[buf];
  if (bf->kind == BK_STAT) return 1;
  if (!bf->event || bf->kind == BK_DATA) return 0;
  const Tensor *t = bf->tensor;
  return t && (t->rank == 1 || (seq == SEQ_ESTEP && estep_output(p->spec, t)));
}

int fuse_alternatives(const Program *p, SeqId seq) {
  int n = 0;
  for (int u = 0; u < p->nunits; u++)
    if (p->units[u].group_seq == (int)seq && p->units[u].nalts > n) n = p->units[u].nalts;
  return n;
}

void fuse_sequences(Lower *L, const UnitOrigin *origin) {
  int norigin = L->p->nunits;
  /* the host fuses the iteration alone: a fused kernel costs a cold
   * compile some 160 ms of LLVM (docs/performance.md), and the E-step and
   * M-step sequences run once a fit */
  SeqId last = L->opt->host ? SEQ_ITERATE : SEQ_MSTEP;
  for (int s = SEQ_ITERATE; s <= (int)last; s++) fuse_one(L, (SeqId)s, origin, norigin);
}
