/* Fused kernels of a fusion group (fuse.h): one kernel takes a slice of
 * the events, a tile of them at a time, and for each tile computes every
 * statement of the group in order into tile arrays (the data tile staged
 * first), then adds the tile into the group's reductions; the per-event
 * tensors with more than the event axis never reach memory unless the group
 * stores them. At the end of its slice the kernel writes one partial per
 * reduction, which the usual combine kernels add up.
 *
 * This is the GPU's (`fused`): a block of threads per slice; the threads
 * share each tile's elements and own the reductions' results (a result
 * element per thread and stride, in registers, each tile summed in the
 * data's type and added in float64). The host's is variants_host_fused.c.
 *
 * The statements are lowered as the simple kernels lower them (lower_expr);
 * only their reads of the data, of the tile's tensors and of snapshots
 * change (Lower.access). */
#include "fused_tile.h"

static int plan_fused(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const FusedForm *f = form;
  const FusedConfig *c = config;
  FusedShape *sh = (FusedShape *)pl->shape;
  sh->smem = fused_tile_bytes(L, f, c->events, 0);
  if (sh->smem > L->dev.smem_static_per_block || c->threads > L->dev.max_threads_per_block) return 0;
  int accs = 0;
  for (int i = 0; i < f->g->nreds; i++) accs += (int)ceil_div(f->elems[i], c->threads);
  if (accs > FUSED_MAX_ACCS) return 0;
  sh->slices = event_slices(L, 1, fused_total_elems(f) > 0 ? fused_total_elems(f) : 1);
  pl->variant = c->variant;
  pl->work = fused_work(L, f, sh->slices);
  return 1;
}

static void build_fused(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  const FusedForm *f = form;
  const FusedShape *sh = (const FusedShape *)pl->shape;
  const Group *g = f->g;
  FusedBuild b = {.L = L, .f = f, .c = config, .host = 0};
  Kernel *k = b.k = fused_new_kernel(&b, site);
  int B = b.c->threads;
  kernel_launch_grid(p, k, 1, 1, sh->slices, B);
  b.tid = kernel_var(p, k, "tid", LT_I64);
  ls_append(p, k->body, ls_assign(p, b.tid, lx_sreg(p, SR_TID_X)));
  event_slice_bounds(p, k, k->body, sh->slices, b.c->events, &b.first, &b.last);
  fused_make_tiles(&b);
  FusedOwners o;
  fused_owners_init(&b, &o, 0);
  LStmt *tile = fused_tile_loop(&b, k->body);
  fused_barrier(&b, tile); /* the previous tile's readers are done */
  fused_stage_data(&b, tile);
  fused_barrier(&b, tile);
  fused_tile_maps(&b, tile, 0);
  fused_owners_tile(&b, &o, tile);
  L->access = NULL;
  int partial[8];
  for (int i = 0; i < g->nreds; i++)
    partial[i] = new_partial(L, (Hoisted *)g->reds[i], sh->slices, fused_kernel_tag(&b));
  fused_owners_store(&b, &o, partial);
  fused_combine_all(&b, partial, sh->slices);
}

/* One configuration each while the fused kernels lose to the unfused
 * members everywhere measured (docs/performance.md): each costs compile
 * time in every program. */
static const FusedConfig gpu_tiles[] = {{32, 256, "fused-32x256"}};

/* the statements are lowered as the simple kernels lower them, their
 * differences to the parameters in float64 (no fast32): the same values,
 * the same labels on near-ties */
const VariantFamily family_fused = {.name = "fused",
                                    .site = SITE_GROUP,
                                    .match = fused_match,
                                    .configs = gpu_tiles,
                                    .nconfigs = sizeof gpu_tiles / sizeof *gpu_tiles,
                                    .config_size = sizeof *gpu_tiles,
                                    .plan = plan_fused,
                                    .build = build_fused};
