/* GPU variant of a run of independent units (merge_runs.h): the members'
 * simple alternatives side by side. The i-th kernels of every member become
 * one kernel whose work items (or, for grid kernels, whose blocks) are the
 * members' one after another; each item runs its member's body, copied
 * (kernel_clone.h), with the member's own item (or block) number. The sums
 * over events that one EM step takes from the same responsibilities (the
 * log-likelihood's, Nk's, the means') are each a partial kernel and a
 * combine: stacked they are two launches instead of six, at the sizes where
 * an iteration is its launches (issue 23). Every member does the same
 * operations in the same order as in its own kernels, so the same bits.
 *
 * Legal where the members are independent (merge_independent) and their
 * i-th kernels launch alike: parallel loops (any trip counts), or grid
 * kernels of one row of blocks of the same size. No shared memory (the
 * copies do not renumber it). The autotuner measures the run against its
 * members, each as tuned. */
#include "kernel_build.h"
#include "kernel_clone.h"
#include "merge_runs.h"
#include "variant.h"

enum { STACK_KERNELS = 8, STACK_MEMBERS = GROUP_MAX };

typedef struct {
  int kernels[STACK_KERNELS][STACK_MEMBERS]; /* [position][member]: the members' simple kernels */
  int npos, nmembers;
} StackForm;
_Static_assert(sizeof(StackForm) <= VARIANT_FORM_BYTES, "StackForm must fit the registry's form storage");

/* A kernel whose items or blocks can be placed at an offset of another's. */
static int stackable(const Kernel *k) {
  if (k->nshared) return 0;
  if (k->launch == LAUNCH_ITEMS) return k->count != NULL;
  for (int a = 1; a < 3; a++)
    if (!k->grid[a] || k->grid[a]->kind != LX_CONST || k->grid[a]->inum != 1) return 0;
  return k->grid[0] && k->block[1] == 1;
}

static int launch_alike(const Kernel *a, const Kernel *b) {
  return a->launch == b->launch && (a->launch == LAUNCH_ITEMS || a->block[0] == b->block[0]);
}

static int match(Lower *L, const Site *site, void *form) {
  Program *p = L->p;
  StackForm *f = form;
  if (site->nmembers < 2 || site->nmembers > STACK_MEMBERS) return 0;
  for (int m = 0; m < site->nmembers; m++) {
    const Alt *a = &p->units[site->members[m]].alts[0];
    if (a->nmembers || a->nkernels == 0 || a->nkernels > STACK_KERNELS || (m && a->nkernels != f->npos)) return 0;
    f->npos = a->nkernels;
    for (int i = 0; i < a->nkernels; i++) {
      const Kernel *k = p->kernels[a->kernels[i]];
      if (!stackable(k) || (m && !launch_alike(k, p->kernels[f->kernels[i][0]]))) return 0;
      f->kernels[i][m] = a->kernels[i];
    }
  }
  f->nmembers = site->nmembers;
  /* a run of small kernels is the merged family's (one block, no launch at all between them) */
  int small = 1;
  for (int i = 0; i < f->npos; i++)
    for (int m = 0; m < f->nmembers; m++) small &= merge_small_kernel(p, p->kernels[f->kernels[i][m]]);
  return !small && merge_independent(p, site->members, site->nmembers);
}

static int plan(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)config;
  const StackForm *f = form;
  Work w = {0};
  /* the members' work where their simple alternatives are priced, in fewer launches */
  for (int m = 0; m < f->nmembers; m++) {
    const Work *x = &L->p->units[site->members[m]].alts[0].work;
    w.bytes_per_event += x->bytes_per_event, w.bytes += x->bytes;
    w.fmas_per_event += x->fmas_per_event, w.fmas += x->fmas;
    w.fmas64_per_event += x->fmas64_per_event, w.fmas64 += x->fmas64;
  }
  w.launches = f->npos;
  pl->variant = "stacked";
  pl->work = w;
  return 1;
}

static int imax(int a, int b) { return a > b ? a : b; }

/* start + count, folded where both are constants (a grid's constant
 * extent is checked against the device's limits) */
static LExpr *offset_end(Program *p, LExpr *start, LExpr *count) {
  if (!start) return count;
  if (start->kind == LX_CONST && count->kind == LX_CONST) return I(start->inum + count->inum);
  return BIN(LB_ADD, start, count);
}

/* The i-th kernels of the members as one parallel loop: item t of member m
 * is item start_m + t. */
static void stack_items(Program *p, Kernel *k, const StackForm *f, int i) {
  k->pvar = kernel_var(p, k, "item", LT_I64);
  LExpr *start = NULL;
  k->compact = 1;
  for (int m = 0; m < f->nmembers; m++) {
    const Kernel *src = p->kernels[f->kernels[i][m]];
    int off;
    LStmt *body = kernel_clone_body(p, k, src, &off);
    LExpr *end = offset_end(p, start, src->count);
    LExpr *in = BIN(LB_LT, V(k->pvar), end);
    if (start) in = BIN(LB_AND, BIN(LB_GE, V(k->pvar), start), in);
    LStmt *mine = ls_when(p, k->body, in);
    ls_append(p, mine, ls_assign(p, src->pvar + off, start ? BIN(LB_SUB, V(k->pvar), start) : V(k->pvar)));
    ls_append(p, mine, body);
    start = end;
    k->block_size = imax(k->block_size, src->block_size);
    k->min_blocks = imax(k->min_blocks, src->min_blocks);
    k->compact &= src->compact;
  }
  k->count = start;
}

/* The i-th kernels of the members as one grid: block b of member m is
 * block start_m + b, its body reading b where it read ctaid.x. */
static void stack_blocks(Program *p, Kernel *k, const StackForm *f, int i) {
  const Kernel *first = p->kernels[f->kernels[i][0]];
  kernel_launch_grid(p, k, 1, 1, 1, first->block[0]);
  int blk = kernel_var(p, k, "block", LT_I64);
  ls_append(p, k->body, ls_assign(p, blk, lx_sreg(p, SR_CTAID_X)));
  LExpr *start = NULL;
  k->compact = 1;
  for (int m = 0; m < f->nmembers; m++) {
    const Kernel *src = p->kernels[f->kernels[i][m]];
    int off;
    LStmt *body = kernel_clone_body_at(p, k, src, &off, start ? BIN(LB_SUB, V(blk), start) : V(blk));
    LExpr *end = offset_end(p, start, src->grid[0]);
    LExpr *in = BIN(LB_LT, V(blk), end);
    if (start) in = BIN(LB_AND, BIN(LB_GE, V(blk), start), in);
    ls_append(p, ls_when(p, k->body, in), body);
    start = end;
    k->min_blocks = imax(k->min_blocks, src->min_blocks);
    k->compact &= src->compact;
  }
  k->grid[0] = start;
}

static void build(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)config, (void)pl, (void)out;
  Program *p = L->p;
  const StackForm *f = form;
  for (int i = 0; i < f->npos; i++) {
    const Kernel *first = p->kernels[f->kernels[i][0]];
    Kernel *k = program_add_kernel(
        p, arena_printf(&p->arena, "%s_%s_stacked%d", L->s->model, p->units[site->unit].name, i + 1));
    k->what = arena_printf(&p->arena, "%d kernels side by side [stacked: their %s one after another]", f->nmembers,
                           first->launch == LAUNCH_GRID ? "blocks" : "work items");
    if (first->launch == LAUNCH_GRID)
      stack_blocks(p, k, f, i);
    else
      stack_items(p, k, f, i);
  }
}

const VariantFamily family_stacked = {
    .name = "stacked", .site = SITE_RUN, .match = match, .plan = plan, .build = build};
