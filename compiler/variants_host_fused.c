/* The host's fused kernels of a fusion group (fused_tile.h): a slice per
 * work item, the results in a local array, added event by event in float64
 * in the simple kernels' order, in their chunks, so that the host's fused
 * kernels reproduce the simple ones bit for bit. */
#include "fused_tile.h"

/* Host: the results live in the work item's arrays, 8 bytes each. */
static int plan_host_fused(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const FusedForm *f = form;
  const FusedConfig *c = config;
  FusedShape *sh = (FusedShape *)pl->shape;
  sh->smem = fused_tile_bytes(L, f, c->events, 1) + 8 * fused_total_elems(f);
  /* float32: a tile is a block of the event sums (lower.h, host_sum_block), in arrays of its own */
  if (host_fast32(L)) {
    if (c->events != HOST_SUM_BLOCK) return 0;
    sh->smem += 4 * fused_total_elems(f);
  }
  if (sh->smem > L->dev.local_bytes) return 0;
  int64_t slices = L->p->chunks;
  for (int i = 0; i < f->g->nreds; i++)
    if (f->g->reds[i]->chunks < slices) slices = f->g->reds[i]->chunks;
  sh->slices = slices;
  pl->variant = c->variant;
  pl->work = fused_work(L, f, slices);
  return 1;
}

static void build_host_fused(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl,
                             Built *out) {
  (void)out;
  Program *p = L->p;
  const FusedForm *f = form;
  const FusedShape *sh = (const FusedShape *)pl->shape;
  const Group *g = f->g;
  FusedBuild b = {.L = L, .f = f, .c = config, .host = 1};
  Kernel *k = b.k = fused_new_kernel(&b, site);
  k->pvar = kernel_var(p, k, "slice", LT_I64);
  k->count = I(sh->slices);
  /* the simple partial kernels' chunks: ceil(n / slices) events each */
  int len = kernel_var(p, k, "slice_len", LT_I64);
  b.first = kernel_var(p, k, "first", LT_I64);
  b.last = kernel_var(p, k, "last", LT_I64);
  ls_append(p, k->body, ls_assign(p, len, BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(sh->slices - 1)), I(sh->slices))));
  ls_append(p, k->body, ls_assign(p, b.first, BIN(LB_MUL, V(k->pvar), V(len))));
  ls_append(p, k->body, ls_assign(p, b.last, BIN(LB_MIN, BIN(LB_ADD, V(b.first), V(len)), lx_nlocal(p))));
  fused_make_tiles(&b);
  int res[8], partial[8];
  for (int i = 0; i < g->nreds; i++) {
    res[i] = fused_shared(&b, arena_printf(&p->arena, "result%d", i), LT_F64, f->elems[i]);
    int fl;
    LStmt *in = fused_spread(&b, k->body, "init", f->elems[i], &fl);
    ls_append(p, in, ls_sstore(p, k, res[i], V(fl), fused_red_init(p, (RedOp)g->reds[i]->red->op, LT_F64)));
  }
  LStmt *tile = fused_tile_loop(&b, k->body);
  fused_stage_data(&b, tile);
  fused_tile_maps(&b, tile, 0);
  /* float32: a sum's tile (a block of the simple partials') in float32,
   * from zero, added into the float64 result after the tile */
  int part[8];
  for (int i = 0; i < g->nreds; i++) {
    part[i] = -1;
    if (!host_sum_block(L, g->reds[i])) continue;
    part[i] = fused_shared(&b, arena_printf(&p->arena, "tile_result%d", i), p->real, f->elems[i]);
    int fl;
    LStmt *in = fused_spread(&b, tile, "clear", f->elems[i], &fl);
    ls_append(p, in, ls_sstore(p, k, part[i], V(fl), lx_const(p, p->real, 0.0)));
  }
  /* event by event, every result: the simple partials' order of additions */
  int t;
  LStmt *ev = emit_loop(L, k, tile, "t", I(0), I(b.c->events), &t);
  int n = kernel_var(p, k, "n", LT_I64);
  ls_append(p, ev, ls_assign(p, n, BIN(LB_ADD, V(b.n0), V(t))));
  LStmt *live = ls_when(p, ev, BIN(LB_LT, V(n), V(b.last)));
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    /* nested loops over the result's indices, the last innermost and
     * contiguous (a symmetric pair's upper triangle only): LLVM vectorizes
     * it across independent results, and hoists what the outer ones fix */
    Env env;
    env_init(&env);
    LStmt *mine = live;
    LExpr *fl = NULL;
    for (int a = 0; a < h->nfree; a++) {
      int v;
      LExpr *lo = h->symmetric && a == h->nfree - 1 ? V(env.var[h->free[a - 1]]) : I(0);
      mine = emit_loop(L, k, mine, spec_index(L->s, h->free[a])->name, lo, I(index_extent(L, h->free[a])), &v);
      env.var[h->free[a]] = v;
      fl = fl ? BIN(LB_ADD, BIN(LB_MUL, fl, I(index_extent(L, h->free[a]))), V(v)) : V(v);
    }
    if (!fl) fl = I(0);
    env.var[h->red->red.id] = n;
    L->rt = p->real;
    LExpr *v = lx_cast(p, p->real, lower_expr(L, k, mine, h->red->args[0], &env));
    int to = part[i] >= 0 ? part[i] : res[i];
    if (part[i] < 0) v = lx_cast(p, LT_F64, v);
    ls_append(p, mine, ls_sstore(p, k, to, fl, fused_red_step(L, (RedOp)h->red->op, lx_sload(p, k, to, fl), v, 0)));
  }
  for (int i = 0; i < g->nreds; i++) {
    if (part[i] < 0) continue;
    int fl;
    LStmt *in = fused_spread(&b, tile, "add", f->elems[i], &fl);
    ls_append(
        p, in,
        ls_sstore(p, k, res[i], V(fl),
                  BIN(LB_ADD, lx_sload(p, k, res[i], V(fl)), lx_cast(p, LT_F64, lx_sload(p, k, part[i], V(fl))))));
  }
  L->access = NULL;
  for (int i = 0; i < g->nreds; i++) {
    const Hoisted *h = g->reds[i];
    partial[i] = new_partial(L, (Hoisted *)h, sh->slices, fused_kernel_tag(&b));
    int fl;
    LStmt *in = fused_spread(&b, k->body, "out", f->elems[i], &fl);
    Env env;
    env_init(&env);
    decompose_flat(L, k, in, V(fl), h->free, h->nfree, &env);
    LExpr **idx = idx_vec(p, h->nfree + 1);
    idx[0] = V(k->pvar);
    for (int a = 0; a < h->nfree; a++) idx[a + 1] = V(env.var[h->free[a]]);
    ls_append(p, in, ls_store(p, partial[i], idx, lx_sload(p, k, res[i], V(fl))));
  }
  fused_combine_all(&b, partial, sh->slices);
}

/* One configuration while the fused kernels lose (docs/performance.md). */
static const FusedConfig host_tiles[] = {{16, 1, "host-fused-16"}};

const VariantFamily family_host_fused = {.name = "host-fused",
                                         .site = SITE_GROUP,
                                         .host = 1,
                                         .match = fused_match,
                                         .configs = host_tiles,
                                         .nconfigs = sizeof host_tiles / sizeof *host_tiles,
                                         .config_size = sizeof *host_tiles,
                                         .plan = plan_host_fused,
                                         .build = build_host_fused};