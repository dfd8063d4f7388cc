/* GPU variant of a run of small units (merge_runs.h): the members' simple
 * kernels, in order, as one kernel of one block. Each member's parallel loop
 * becomes a loop of the block's threads striding over its trip count (the
 * member's body copied, kernel_clone.h), and a barrier follows each member
 * but the last, so that a member reads what the ones before it wrote (the
 * block's own global writes are visible to it after the barrier). One
 * launch instead of one per member; the same operations in the same order
 * for every work item (LLVM may contract a multiply-add otherwise than in
 * the member's own kernel: the same values up to rounding).
 *
 * A run is legal where its serial work per thread is worth at most a few of
 * the launches it saves (the target description's launch_us and clock): a
 * Cholesky of many large matrices in one block would be slower than its
 * own grid of blocks. The autotuner measures what remains. */
#include <math.h>

#include "kernel_build.h"
#include "kernel_clone.h"
#include "merge_runs.h"
#include "variant.h"

typedef struct {
  int kernels[64]; /* the members' simple kernels, in launch order */
  int nkernels;
  double ops[64]; /* loop-IR operations of one work item of each (loops multiplied out) */
} RunForm;
_Static_assert(sizeof(RunForm) <= VARIANT_FORM_BYTES, "RunForm must fit the registry's form storage");

typedef struct {
  int threads;
} RunConfig;

static const RunConfig configs[] = {{128}, {512}};

/* Operations of an expression tree (shared subtrees counted each time they
 * are read, as the work is done; capped: an estimate). */
static double expr_ops(const LExpr *e) {
  if (!e || e->kind == LX_CONST || e->kind == LX_VAR) return 0;
  double n = 1 + expr_ops(e->a) + expr_ops(e->b) + expr_ops(e->c);
  for (int i = 0; e->idx && e->idx[i]; i++) n += expr_ops(e->idx[i]);
  return n < 1e6 ? n : 1e6;
}

/* A loop's trip count: its bounds where they are constants, else the
 * program's largest size (a triangle's inner loop runs at most that). */
static double trips(const Program *p, const LStmt *s) {
  if (s->lo->kind == LX_CONST && s->hi->kind == LX_CONST) return fmax((double)(s->hi->inum - s->lo->inum), 0);
  double most = 1;
  for (int i = 0; i < p->spec->sizes.len; i++) most = fmax(most, (double)p->size_values[i]);
  return most;
}

static double stmt_ops(const Program *p, const LStmt *s) {
  if (!s) return 0;
  switch (s->kind) {
  case LS_BLOCK: {
    double n = 0;
    for (int i = 0; i < s->nbody; i++) n += stmt_ops(p, s->body[i]);
    return n;
  }
  case LS_FOR: return trips(p, s) * (1 + stmt_ops(p, s->then));
  case LS_IF: return 1 + expr_ops(s->cond) + fmax(stmt_ops(p, s->then), stmt_ops(p, s->els));
  case LS_STORE: {
    double n = 1 + expr_ops(s->value);
    for (int i = 0; s->idx && s->idx[i]; i++) n += expr_ops(s->idx[i]);
    return n;
  }
  default: return 1 + expr_ops(s->value);
  }
}

static int match(Lower *L, const Site *site, void *form) {
  Program *p = L->p;
  RunForm *f = form;
  for (int m = 0; m < site->nmembers; m++) {
    const Alt *a = &p->units[site->members[m]].alts[0];
    for (int i = 0; i < a->nkernels; i++) {
      const Kernel *k = p->kernels[a->kernels[i]];
      if (f->nkernels == 64 || !merge_small_kernel(p, k)) return 0;
      f->ops[f->nkernels] = stmt_ops(p, k->body);
      f->kernels[f->nkernels++] = a->kernels[i];
    }
  }
  return f->nkernels >= 2;
}

static int plan(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const RunForm *f = form;
  const RunConfig *c = config;
  if (c->threads > L->dev.max_threads_per_block) return 0;
  /* the serial operations of one thread, about one a clock */
  double serial = 0;
  for (int i = 0; i < f->nkernels; i++)
    serial += ceil((double)kernel_count(L->p->kernels[f->kernels[i]], 0) / c->threads) * f->ops[i];
  double us = serial / ((double)L->dev.clock_khz * 1e3) * 1e6, saved = (f->nkernels - 1) * L->dev.launch_us;
  if (us > 4 * saved) return 0;
  pl->variant = arena_printf(&L->p->arena, "merged-%d", c->threads);
  /* one multiprocessor's lanes do the serial work: counted as the whole
   * device's float64 lanes would take it (variant_cost.c divides by them) */
  pl->work = (Work){.fmas64 = serial * L->dev.sm_count * L->dev.fp64_lanes_per_sm, .launches = 1};
  return 1;
}

static void build(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const RunForm *f = form;
  const RunConfig *c = config;
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_merged%d", L->s->model, p->units[site->unit].name, c->threads));
  k->what = arena_printf(&p->arena, "%d small kernels in one block [%s: %d threads, a barrier between kernels]",
                         f->nkernels, pl->variant, c->threads);
  k->compact = 1;
  kernel_launch_grid(p, k, 1, 1, 1, c->threads);
  int tid = kernel_var(p, k, "tid", LT_I64);
  ls_append(p, k->body, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  for (int i = 0; i < f->nkernels; i++) {
    const Kernel *src = p->kernels[f->kernels[i]];
    int off;
    LStmt *body = kernel_clone_body(p, k, src, &off);
    LStmt *item = emit_strided(L, k, k->body, "trip", kernel_count(src, 0), c->threads, tid, src->pvar + off);
    ls_append(p, item, body);
    if (i + 1 < f->nkernels) ls_append(p, k->body, ls_sync(p));
  }
}

const VariantFamily family_merged = {.name = "merged",
                                     .site = SITE_RUN,
                                     .match = match,
                                     .configs = configs,
                                     .nconfigs = sizeof configs / sizeof *configs,
                                     .config_size = sizeof(RunConfig),
                                     .plan = plan,
                                     .build = build};
