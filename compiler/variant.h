/* The variant registry: code variants as data (GPU and host).
 *
 * A family is one entry of the registry (variant_registry.c): a matcher
 * that recognizes the pattern it implements in a statement, tiling
 * configurations as a table, a plan that decides whether one configuration
 * is legal on the target (target_desc.h) and what work it does, and a
 * builder that emits its kernels into the loop IR. One driver loop
 * (variants_add) owns everything around them: the matcher's call, the
 * configurations in order, LowerOptions.keep, the float32 parameter reads
 * (Lower.fast32), the alternative's registration with its kernels and its
 * combine, and its work (Work, loopir.h), which the autotuner prices in one
 * unit for every family, for the events it runs (variant_cost.h).
 *
 * Adding a variant: a matcher, a plan and a builder in a family file, its
 * configurations, and a row in variant_registry.c (declared below). */
#ifndef GMMC_VARIANT_H
#define GMMC_VARIANT_H

#include <stdalign.h>
#include <stddef.h>

#include "fuse.h"
#include "lower.h"
#include "variant_cost.h"

/* The place a variant may replace: a statement's map, one of its
 * reductions over events, a builtin, a fusion group of a sequence's
 * per-event units (fuse.h), or a run of its small or independent units
 * (merge_runs.h). */
typedef enum { SITE_MAP, SITE_REDUCTION, SITE_BUILTIN, SITE_GROUP, SITE_RUN } SiteKind;

typedef struct {
  SiteKind kind;
  Stmt *st;
  int unit;           /* the unit whose alternative the variant becomes */
  Hoisted *h;         /* SITE_REDUCTION: the reduction */
  int slot;           /* SITE_BUILTIN: the builtin's status slot */
  const Group *group; /* SITE_GROUP */
  const int *members; /* SITE_RUN: the run's units, in sequence order */
  int nmembers;
} Site;

/* A configuration that is legal on the target: the alternative's name and
 * its work. Filled by the family's plan. */
enum { VARIANT_SHAPE_BYTES = 256 };
typedef struct {
  const char *variant; /* "tiled-64x32", "scatter", ... (the schedule's names) */
  Work work;
  /* the family's own struct of derived numbers (threads, slices, ...), so
   * that the builder does not work them out a second time */
  alignas(max_align_t) unsigned char shape[VARIANT_SHAPE_BYTES];
} Plan;

/* What a builder made besides its kernels: a reduction's per-slice partial
 * buffer, which the driver combines into the statistic. */
typedef struct {
  int partial_buf;         /* -1: none */
  int slices;              /* the partial's first extent */
  const char *combine_tag; /* in the combine kernel's name */
} Built;

/* A matcher's findings (QuadForm, ScatterForm, ...), kept between the
 * match and the builds in storage of this size. */
enum { VARIANT_FORM_BYTES = 1024 };
typedef union {
  alignas(max_align_t) unsigned char bytes[VARIANT_FORM_BYTES];
} VariantForm;

typedef struct VariantFamily {
  const char *name; /* the family, unique in the registry */
  SiteKind site;
  int host;   /* a family of the host target (else of the GPU) */
  int fast32; /* reads parameters as float32 when the data is float32 */
  /* SITE_REDUCTION: forms its terms and sums at L->rt, so that it stays
   * under PRECISION_STATS64 (float64 then, as for a float64 program) */
  int stats64;
  /* 1 when the pattern is in the site; fills form */
  int (*match)(Lower *L, const Site *site, void *form);
  /* the tiling configurations, tried in order (NULL: one, with config NULL) */
  const void *configs;
  int nconfigs;
  size_t config_size;
  /* 1 when the configuration is legal on L->dev; fills plan */
  int (*plan)(Lower *L, const Site *site, const void *form, const void *config, Plan *plan);
  /* emits the kernels (the last one made is the variant's, or all made) */
  void (*build)(Lower *L, const Site *site, const void *form, const void *config, const Plan *plan, Built *out);
  /* a family this one makes redundant: where this one has a legal
   * configuration, that one adds no alternative (every alternative costs
   * compile time on each cold start; the host's tiled families do the
   * same work as the family they replace, in registers instead of memory,
   * and gave the same bits faster wherever measured) */
  const struct VariantFamily *supersedes;
} VariantFamily;

/* Every family whose site is site->kind, in the registry's order: the
 * alternatives they add to site->unit. */
void variants_add(Lower *L, const Site *site);
/* Whether some family matches the site with a configuration legal on the
 * target (nothing is built). */
int variants_any(Lower *L, const Site *site);

/* The families (one file each, or a few of one kind). */
extern const VariantFamily family_scatter_wide, family_scatter;                               /* variants_scatter*.c */
extern const VariantFamily family_staged_reduction, family_staged_map;                        /* variants_staged.c */
extern const VariantFamily family_tiled, family_lanes;                                        /* variants_tiled.c */
extern const VariantFamily family_balanced, family_wide, family_centered, family_estep_tiled; /* variants_estep*.c */
extern const VariantFamily family_mma_3xtf32;                                                 /* variants_mma.c */
extern const VariantFamily family_mma_poly;                                                   /* variants_mma_poly.c */
extern const VariantFamily family_mma_polysum;                                              /* variants_mma_polysum.c */
extern const VariantFamily family_scatter_mma;                                              /* variants_scatter_mma.c */
extern const VariantFamily family_cholesky_block;                                           /* variants_cholesky.c */
extern const VariantFamily family_rows;                                                     /* variants_rows.c */
extern const VariantFamily family_host_blocked, family_host_accumulate, family_host_stream; /* variants_host.c */
extern const VariantFamily family_host_rows, family_host_lanes, family_host_arg;            /* variants_host_rows.c */
extern const VariantFamily family_host_lanes_sum;                                           /* variants_host_rows.c */
extern const VariantFamily family_host_tile;                                                /* variants_host_tile.c */
extern const VariantFamily family_host_panel;                                               /* variants_host_panel.c */
extern const VariantFamily family_fused, family_host_fused;                                 /* variants_fused.c */
extern const VariantFamily family_fused_mma;                                                /* variants_fused_mma.c */
extern const VariantFamily family_host_fused_stream; /* variants_host_fused_stream.c */
extern const VariantFamily family_merged;            /* variants_merged.c */
extern const VariantFamily family_stacked;           /* variants_stacked.c */

#endif
