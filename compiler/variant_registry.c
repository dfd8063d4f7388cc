/* The variant registry (variant.h): the families in the order their
 * alternatives are added, and the one loop that runs them. */
#include "variant.h"

#include <string.h>

static const VariantFamily *const registry[] = {
    /* reductions over events */
    &family_scatter_mma,
    &family_mma_polysum,
    &family_scatter_wide,
    &family_scatter,
    &family_staged_reduction,
    &family_tiled,
    &family_lanes,
    /* per-event maps */
    &family_balanced,
    &family_wide,
    &family_centered,
    &family_estep_tiled,
    &family_mma_3xtf32,
    &family_mma_poly,
    &family_staged_map,
    &family_rows,
    /* builtins */
    &family_cholesky_block,
    /* fusion groups */
    &family_fused_mma,
    &family_fused,
    &family_host_fused_stream,
    &family_host_fused,
    /* runs of small units, runs of independent units */
    &family_merged,
    &family_stacked,
    /* the host's */
    &family_host_tile,
    &family_host_accumulate,
    &family_host_panel,
    &family_host_blocked,
    &family_host_stream,
    &family_host_rows,
    &family_host_lanes,
    &family_host_arg,
    &family_host_lanes_sum,
};

/* Whether the variant of this name is to be lowered for the unit
 * (LowerOptions.keep: the autotuner's choice, or every variant). */
static int lower_keeps(Lower *L, int unit, const char *variant) {
  return !L->opt->keep || L->opt->keep(L->opt->keep_user, unit, variant_hash(variant));
}

/* One legal configuration, planned: its kernels built and added to the
 * site's unit as an alternative (kernels, combine, cost). */
/* Whether a kernel's grid, where it does not depend on the events, fits the
 * device's limits along every axis (a plan that does not check it itself
 * could otherwise make a launch the driver refuses). */
static int grid_fits(const Lower *L, const Kernel *k) {
  if (k->launch != LAUNCH_GRID) return 1;
  for (int a = 0; a < 3; a++)
    if (k->grid[a] && k->grid[a]->kind == LX_CONST && k->grid[a]->inum > L->dev.max_grid[a]) return 0;
  return 1;
}

static void build_one(Lower *L, const VariantFamily *f, const Site *site, const void *form, const void *config,
                      const Plan *plan) {
  Program *p = L->p;
  int first = p->nkernels, first_buf = p->nbufs;
  Built built = {.partial_buf = -1};
  /* float64 statistics: a sum over events built at float64, as for a float64 program */
  int s64 = stats64(L) && site->kind == SITE_REDUCTION;
  L->rt = s64 ? LT_F64 : p->real;
  L->fast32 = f->fast32 && p->real == LT_F32 && !s64;
  f->build(L, site, form, config, plan, &built);
  L->fast32 = 0;
  for (int k = first; k < p->nkernels; k++)
    if (!L->opt->host && !grid_fits(L, p->kernels[k])) {
      /* not an alternative: its kernels and buffers go, nothing refers to them yet */
      p->nkernels = first;
      p->nbufs = first_buf;
      return;
    }
  Alt *a = unit_add_alt(p, site->unit, plan->variant);
  if (!a) return;
  for (int k = first; k < p->nkernels; k++) a->kernels[a->nkernels++] = k;
  if (built.partial_buf >= 0)
    a->kernels[a->nkernels++] =
        combine_kernel_for(L, site->st, site->h, built.partial_buf, built.slices, built.combine_tag);
  a->work = plan->work;
}

/* Whether family f may build for the site: its kind and target, and under
 * float64 statistics the sums over events (alone or in a fusion group) by
 * their simple kernels, which form their terms in float64 (loopir.h,
 * PRECISION_STATS64), or by the families that form them so (stats64). */
static int family_allowed(const Lower *L, const VariantFamily *f, const Site *site) {
  if (f->site != site->kind || f->host != L->opt->host) return 0;
  return !stats64(L) || !((site->kind == SITE_GROUP || site->kind == SITE_REDUCTION) && !f->stats64);
}

/* Whether family f matches the site with a legal configuration. */
static int family_plans(Lower *L, const VariantFamily *f, const Site *site) {
  if (!family_allowed(L, f, site)) return 0;
  VariantForm form;
  memset(&form, 0, sizeof form);
  if (!f->match(L, site, form.bytes)) return 0;
  int n = f->configs ? f->nconfigs : 1;
  for (int c = 0; c < n; c++) {
    Plan plan;
    memset(&plan, 0, sizeof plan);
    if (f->plan(L, site, form.bytes, f->configs ? (const char *)f->configs + (size_t)c * f->config_size : NULL, &plan))
      return 1;
  }
  return 0;
}

/* Whether a family that supersedes f has a legal configuration here. */
static int superseded(Lower *L, const VariantFamily *f, const Site *site) {
  for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
    if (registry[i]->supersedes == f && family_plans(L, registry[i], site)) return 1;
  return 0;
}

/* Every legal configuration of every family for the site: built (an
 * alternative each, where LowerOptions.keep keeps it), or with build 0
 * only found. Returns whether there was one. */
static int each_plan(Lower *L, const Site *site, int build) {
  int found = 0;
  for (size_t i = 0; i < sizeof registry / sizeof *registry; i++) {
    const VariantFamily *f = registry[i];
    if (!family_allowed(L, f, site) || superseded(L, f, site)) continue;
    VariantForm form;
    memset(&form, 0, sizeof form);
    if (!f->match(L, site, form.bytes)) continue;
    int n = f->configs ? f->nconfigs : 1;
    for (int c = 0; c < n; c++) {
      const void *config = f->configs ? (const char *)f->configs + (size_t)c * f->config_size : NULL;
      Plan plan;
      memset(&plan, 0, sizeof plan);
      if (!f->plan(L, site, form.bytes, config, &plan)) continue;
      found = 1;
      if (!build) return 1;
      if (lower_keeps(L, site->unit, plan.variant)) build_one(L, f, site, form.bytes, config, &plan);
    }
  }
  return found;
}

int variants_any(Lower *L, const Site *site) { return each_plan(L, site, 0); }

void variants_add(Lower *L, const Site *site) { each_plan(L, site, 1); }
