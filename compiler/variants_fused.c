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
      ls_append(p, k->body, ls_assign(p, acc[na], fused_red_init(p, (RedOp)h->red->op, LT_F64)));
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
  LStmt *tile = fused_tile_loop(&b, k->body);
  fused_barrier(&b, tile); /* the previous tile's readers are done */
  fused_stage_data(&b, tile);
  fused_barrier(&b, tile);
  fused_tile_maps(&b, tile, 0);
  /* each thread adds the tile into the results it owns, all of them in one
   * loop over the tile's events: what several read alike (R[n, m] for one
   * component, X[n, d] for one feature) is loaded once */
  int sums[FUSED_MAX_ACCS], t;
  LExpr *owned[FUSED_MAX_ACCS];
  for (int a = 0; a < na; a++) {
    sums[a] = kernel_var(p, k, arena_printf(&p->arena, "tile_sum%d", a), p->real);
    ls_append(p, tile, ls_assign(p, sums[a], fused_red_init(p, (RedOp)g->reds[res_of[a]]->red->op, p->real)));
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
    ls_append(p, mine, ls_assign(p, sums[a], fused_red_step(L, op, V(sums[a]), owned[a], 1)));
  }
  for (int a = 0; a < na; a++)
    ls_append(
        p, tile,
        ls_assign(p, acc[a],
                  fused_red_step(L, (RedOp)g->reds[res_of[a]]->red->op, V(acc[a]), lx_cast(p, LT_F64, V(sums[a])), 1)));
  L->access = NULL;
  /* the slice's results into the partials */
  for (int i = 0; i < g->nreds; i++)
    partial[i] = new_partial(L, (Hoisted *)g->reds[i], sh->slices, fused_kernel_tag(&b));
  for (int a = 0; a < na; a++) {
    Hoisted *h = (Hoisted *)g->reds[res_of[a]];
    LStmt *mine = in_range[a] ? ls_when(p, k->body, in_range[a]) : k->body;
    ls_append(p, mine, ls_store(p, partial[res_of[a]], partial_index(p, k, h, &env_of[a]), V(acc[a])));
  }
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
