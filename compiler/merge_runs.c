/* merge_runs.h: which units of a sequence form runs, their units, and the
 * rewritten sequences. The merged kernels are a registry family
 * (variants_merged.c). */
#include "merge_runs.h"

#include <string.h>

#include "variant.h"

/* Loads and stores of event buffers, and counts of this launch's events,
 * touch the events; so do shared memory, barriers, MMAs and asynchronous
 * copies (grid kernels only). */
static int expr_touches_event(void *user, const LExpr *e) {
  const Program *p = user;
  int event = (e->kind == LX_LOAD && p->bufs[e->buf]->event) || e->kind == LX_NLOCAL;
  return event ? LWALK_STOP : LWALK_ON;
}

static int stmt_touches_event(void *user, const LStmt *s) {
  const Program *p = user;
  int event = (s->kind == LS_STORE && p->bufs[s->buf]->event) || s->kind == LS_SSTORE || s->kind == LS_SYNC ||
              s->kind == LS_MMA || s->kind == LS_COPY_ASYNC || s->kind == LS_COPY_COMMIT || s->kind == LS_COPY_WAIT;
  return event ? LWALK_STOP : LWALK_ON;
}

int merge_small_kernel(const Program *p, const Kernel *k) {
  LWalk w = {expr_touches_event, stmt_touches_event, (void *)p};
  return k->launch == LAUNCH_ITEMS && k->count && k->count->kind == LX_CONST && k->nshared == 0 &&
         !lwalk_stmt(&w, k->body);
}

static int small_unit(const Program *p, int u) {
  const Unit *un = &p->units[u];
  if (un->group_seq >= 0 || un->forced > 0 || un->nalts < 1) return 0;
  const Alt *a = &un->alts[0];
  if (a->nmembers || a->nkernels == 0) return 0;
  for (int i = 0; i < a->nkernels; i++)
    if (!merge_small_kernel(p, p->kernels[a->kernels[i]])) return 0;
  return 1;
}

/* A unit whose simple alternative could be one member of a stacked run:
 * kernels of its own (not members), nkernels of them. */
static int stack_unit(const Program *p, int u, int nkernels) {
  const Unit *un = &p->units[u];
  if (un->group_seq >= 0 || un->forced > 0 || un->nalts < 1) return 0;
  const Alt *a = &un->alts[0];
  return !a->nmembers && a->nkernels > 0 && (nkernels == 0 || a->nkernels == nkernels);
}

int merge_independent(Program *p, const int *units, int n) {
  size_t nb = (size_t)p->nbufs + 1;
  unsigned char *r = arena_alloc(&p->arena, 2 * nb * (size_t)n), *w = r + nb * (size_t)n;
  for (int m = 0; m < n; m++) {
    const Alt *a = &p->units[units[m]].alts[0];
    for (int i = 0; i < a->nkernels; i++) kernel_access(p->kernels[a->kernels[i]], r + nb * m, w + nb * m);
  }
  int independent = 1;
  for (int x = 0; x < n; x++)
    for (int y = 0; y < n; y++)
      for (size_t b = 0; x != y && b < nb; b++)
        if (w[nb * x + b] && (r[nb * y + b] || w[nb * y + b])) independent = 0;
  return independent;
}

/* The end of the stacked run that may start at step i of q: consecutive
 * units of as many kernels each, independent together. */
static int stack_end(Program *p, const Sequence *q, int i) {
  int members[GROUP_MAX], n = 0, j = i;
  while (j < q->len && n < GROUP_MAX && q->steps[j].kind == STEP_UNIT &&
         stack_unit(p, q->steps[j].unit, n ? p->units[members[0]].alts[0].nkernels : 0)) {
    members[n] = q->steps[j].unit;
    if (n && !merge_independent(p, members, n + 1)) break; /* one unit alone is independent */
    n++, j++;
  }
  return j;
}

/* The runs made so far: a run of the same members in another sequence
 * (the M-step's finishing statements end the iteration and the
 * initialisation's M-step alike) is the same unit. */
typedef struct {
  int unit[64];
  int n;
} Runs;

static int same_members(const Program *p, int u, const int *members, int n) {
  const Alt *a = &p->units[u].alts[0];
  return a->nmembers == n && memcmp(a->members, members, sizeof(int) * (size_t)n) == 0;
}

/* The unit of the run of steps [from, to) of sequence seq, or -1 when no
 * family can merge it. */
static int run_unit(Lower *L, Runs *runs, SeqId seq, int from, int to) {
  Program *p = L->p;
  const Sequence *q = &p->seq[seq];
  int members[GROUP_MAX], n = 0;
  for (int i = from; i < to; i++) members[n++] = q->steps[i].unit;
  for (int r = 0; r < runs->n; r++)
    if (same_members(p, runs->unit[r], members, n)) return runs->unit[r];
  Site probe = {.kind = SITE_RUN, .unit = -1, .members = members, .nmembers = n};
  if (runs->n == 64 || !variants_any(L, &probe)) return -1;
  int u = program_add_unit(p, arena_printf(&p->arena, "run%d", runs->n + 1));
  runs->unit[runs->n++] = u;
  Unit *U = &p->units[u];
  U->out_buf = p->units[members[n - 1]].out_buf;
  Alt *a = unit_add_alt(p, u, "unfused");
  memcpy(a->members, members, sizeof(int) * (size_t)n);
  a->nmembers = n;
  probe.unit = u;
  variants_add(L, &probe);
  return u;
}

static void merge_sequence(Lower *L, Runs *runs, SeqId seq) {
  Program *p = L->p;
  Sequence old = p->seq[seq];
  int *unit_at = arena_alloc(&p->arena, sizeof(int) * (size_t)(old.len + 1)); /* step -> its run's unit */
  int *run_end = arena_alloc(&p->arena, sizeof(int) * (size_t)(old.len + 1));
  int any = 0;
  for (int i = 0; i < old.len; i++) unit_at[i] = -1;
  for (int i = 0; i < old.len;) {
    int j = i;
    while (j < old.len && j - i < GROUP_MAX && old.steps[j].kind == STEP_UNIT && small_unit(p, old.steps[j].unit)) j++;
    if (j - i < 2) j = stack_end(p, &old, i);
    if (j - i >= 2 && (unit_at[i] = run_unit(L, runs, seq, i, j)) >= 0) {
      run_end[i] = j;
      any = 1;
    }
    i = j > i ? j : i + 1;
  }
  if (!any) return;
  memset(&p->seq[seq], 0, sizeof p->seq[seq]);
  for (int i = 0; i < old.len;) {
    if (unit_at[i] >= 0) {
      seq_push(p, seq, (Step){.kind = STEP_UNIT, .unit = unit_at[i]});
      i = run_end[i];
      continue;
    }
    seq_push(p, seq, old.steps[i++]);
  }
}

void merge_small_runs(Lower *L) {
  Runs runs = {.n = 0};
  for (int s = SEQ_ITERATE; s < SEQ_ONCE; s++) merge_sequence(L, &runs, (SeqId)s);
}
