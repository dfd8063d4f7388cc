/* The host's register-tiled scatter (variant.h, family host-tile):
 *
 *   tile-RIxCJ  a reduction over events S[o.., i, j] = sum(n, a(n, o.., i) * b(n, o.., j))
 *               whose term is a product of a factor without j and a factor
 *               without i (the weighted scatter sum(n, R (x - mu)(x - mu)^T):
 *               a = R (x_i - mu_i), b = x_j - mu_j). A work item takes a
 *               chunk of events and the outer indices o; per block of NB
 *               events it stages both factors once (a[event, i], b[event, j]),
 *               then walks the (i, j) plane in tiles of RI rows x CJ columns
 *               whose RI x CJ sums stay in registers while the block's
 *               events go by: per event RI broadcasts and one contiguous row
 *               of b feed RI x CJ multiply-adds (RI independent vectors of
 *               CJ sums, so the adds' latency is hidden). The last row and
 *               column tiles are shifted back to end at the edge (no
 *               padding, no bounds tests); a cell two tiles cover gets the
 *               same sum in both, as each tile keeps its own sums. Only the
 *               tiles that reach i <= j of a symmetric result.
 *
 * Each cell's sum takes the simple kernel's terms — the same product of the
 * same factors, rounded as there — in its order (events ascending, float64
 * sums; float32 blocks of HOST_SUM_BLOCK events with GMMC_HOST_FAST32), so
 * the variant gives the simple kernel's bits (docs/limits.md,
 * "Reproducibility"; codegen_host_variants checks it). */
#include "kernel_build.h"
#include "variant.h"

typedef struct {
  Expr *fi, *fj; /* the factor without j (rows), the factor without i (columns) */
} TileForm;

typedef struct {
  int nb, ri, cj; /* events per block, rows x columns of a register tile */
} TileConfig;

typedef struct {
  int64_t outer, ei, ej, nrb, ncb; /* items per chunk; extents; row tiles, column tiles per row tile at most */
} TileShape;
_Static_assert(sizeof(TileShape) <= VARIANT_SHAPE_BYTES, "TileShape must fit Plan.shape");

enum { TILE_MAX_SUMS = 8192, TILE_MAX_STAGED = 8192 }; /* float64 sums, staged factors an item keeps */

static int match_tile(Lower *L, const Site *site, void *form) {
  (void)L;
  Hoisted *h = site->h;
  if (h->red->op != R_SUM || h->nfree < 2) return 0;
  Expr *t = h->red->args[0];
  if (t->kind != E_BINARY || t->op != B_MUL || t->type != VT_REAL) return 0;
  int i = h->free[h->nfree - 2], j = h->free[h->nfree - 1];
  Expr *a = t->args[0], *b = t->args[1];
  if (a->type != VT_REAL || b->type != VT_REAL) return 0;
  TileForm *f = form;
  if (!expr_uses_index(a, j) && !expr_uses_index(b, i))
    *f = (TileForm){a, b};
  else if (!expr_uses_index(a, i) && !expr_uses_index(b, j))
    *f = (TileForm){b, a};
  else
    return 0;
  return 1;
}

static int plan_tile(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)form;
  Hoisted *h = site->h;
  const TileConfig *c = config;
  TileShape *s = (TileShape *)pl->shape;
  int nf = h->nfree;
  s->outer = 1;
  for (int i = 0; i < nf - 2; i++) s->outer *= index_extent(L, h->free[i]);
  s->ei = index_extent(L, h->free[nf - 2]);
  s->ej = index_extent(L, h->free[nf - 1]);
  if (s->ei < c->ri || s->ej < c->cj) return 0;
  s->nrb = (s->ei + c->ri - 1) / c->ri;
  s->ncb = (s->ej + c->cj - 1) / c->cj;
  if (s->nrb * s->ncb * c->ri * c->cj > TILE_MAX_SUMS || (int64_t)c->nb * (s->ei + s->ej) > TILE_MAX_STAGED) return 0;
  pl->variant = arena_printf(&L->p->arena, "tile-%dx%d", c->ri, c->cj);
  return 1; /* not priced: the autotuner measures */
}

/* The first row of row tile rbk (the last one shifted back to end at ei). */
static LExpr *row_start(Program *p, LExpr *rbk, const TileConfig *c, const TileShape *s) {
  return lx_binary(p, LB_MIN, lx_binary(p, LB_MUL, rbk, lx_int(p, c->ri)), lx_int(p, s->ei - c->ri));
}

/* The first column the row tile from row i0 needs: i0 where the result is
 * symmetric (the columns left of it are never stored), else 0. */
static LExpr *col_first(Program *p, int symmetric, LExpr *i0, const TileConfig *c, const TileShape *s) {
  return symmetric ? lx_binary(p, LB_MIN, i0, lx_int(p, s->ej - c->cj)) : lx_int(p, 0);
}

/* The first column of column tile cb from cfirst (the last one shifted back). */
static LExpr *col_start(Program *p, LExpr *cfirst, LExpr *cb, const TileConfig *c, const TileShape *s) {
  return lx_binary(p, LB_MIN, lx_binary(p, LB_ADD, cfirst, lx_binary(p, LB_MUL, cb, lx_int(p, c->cj))),
                   lx_int(p, s->ej - c->cj));
}

/* The column tiles of a row tile whose first column is cfirst. */
static LExpr *col_tiles(Program *p, LExpr *cfirst, const TileConfig *c, const TileShape *s) {
  return lx_binary(p, LB_DIV, lx_binary(p, LB_SUB, lx_int(p, s->ej + c->cj - 1), cfirst), lx_int(p, c->cj));
}

static void build_tile(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  Program *p = L->p;
  Stmt *st = site->st;
  Hoisted *h = site->h;
  const TileForm *f = form;
  const TileConfig *c = config;
  const TileShape *s = (const TileShape *)pl->shape;
  int nf = h->nfree, nid = h->red->red.id, iid = h->free[nf - 2], jid = h->free[nf - 1];
  int ri = c->ri, cj = c->cj, sym = h->symmetric;
  /* float32 sums over blocks of B events (GMMC_HOST_FAST32), else float64 */
  int B = host_sum_block(L, h), nb = B ? B : c->nb;
  LType T = event_term_type(L), rt = B ? T : LT_F64; /* T: float64 under float64 statistics */
  Kernel *k = program_add_kernel(
      p, arena_printf(&p->arena, "%s_%s_tile%dx%d", L->s->model, p->bufs[h->stat_buf]->name, ri, cj));
  k->what = arena_printf(
      &p->arena, "%s [%s: a chunk of events per item, %d at a time, both factors staged, %dx%d sums in registers]",
      stmt_text(L, st), pl->variant, nb, ri, cj);
  /* float64 sums at the CPU's width (a row of 8 one register on AVX-512):
   * the scatter 22.3-23.5 against 25.8-27.4 ms at 10^5.19.16
   * (docs/performance.md); float32 blocks keep LLVM's choice */
  k->vector_bytes = rt == LT_F64 ? host_native_vector_bytes(L) : 0;
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = I(s->outer * h->chunks);
  LStmt *body = k->body;
  Env env;
  env_init(&env);
  int chunk = kernel_var(p, k, "chunk", LT_I64);
  ls_append(p, body, ls_assign(p, chunk, BIN(LB_DIV, V(k->pvar), I(s->outer))));
  decompose_flat(L, k, body, BIN(LB_REM, V(k->pvar), I(s->outer)), h->free, nf - 2, &env);
  /* the simple kernel's chunk of the events */
  int len, lo, hi;
  emit_chunk_bounds(L, k, body, chunk, h->chunks, &len, &lo, &hi);
  /* every tile's own sums: [row tile][column tile][row][column] */
  int64_t nsums = s->nrb * s->ncb * ri * cj;
  int sums = kernel_shared(p, k, "sums", LT_F64, nsums), at;
  LStmt *clear = emit_loop(L, k, body, "at", I(0), I(nsums), &at);
  ls_append(p, clear, ls_sstore(p, k, sums, V(at), lx_const(p, LT_F64, 0.0)));
  int b0, b1, vn, vi, vj, nn = kernel_var(p, k, "in_block", LT_I64);
  LStmt *lb = emit_event_blocks(L, k, body, V(lo), V(hi), V(len), nb, &b0, &b1);
  /* the block's factors, once per event: fa[event, i], fb[event, j], as the
   * product rounds them (lower_expr: both operands in the statement's type) */
  int fa = kernel_shared(p, k, "row_factor", T, (int64_t)nb * s->ei),
      fb = kernel_shared(p, k, "column_factor", T, (int64_t)nb * s->ej);
  const char *nname = spec_index(L->s, nid)->name;
  LStmt *ln = emit_loop(L, k, lb, nname, V(b0), V(b1), &vn);
  env.var[nid] = vn;
  ls_append(p, ln, ls_assign(p, nn, BIN(LB_SUB, V(vn), V(b0))));
  LStmt *li = emit_loop(L, k, ln, spec_index(L->s, iid)->name, I(0), I(s->ei), &vi);
  env.var[iid] = vi;
  ls_append(p, li,
            ls_sstore(p, k, fa, BIN(LB_ADD, BIN(LB_MUL, V(nn), I(s->ei)), V(vi)),
                      lx_cast(p, T, lower_expr(L, k, li, f->fi, &env))));
  LStmt *lj = emit_loop(L, k, ln, spec_index(L->s, jid)->name, I(0), I(s->ej), &vj);
  env.var[jid] = vj;
  ls_append(p, lj,
            ls_sstore(p, k, fb, BIN(LB_ADD, BIN(LB_MUL, V(nn), I(s->ej)), V(vj)),
                      lx_cast(p, T, lower_expr(L, k, lj, f->fj, &env))));
  /* the tiles: rows i0.., columns c0.. */
  int rbk, cb, i0 = kernel_var(p, k, "row0", LT_I64), cf = kernel_var(p, k, "column_first", LT_I64),
               c0 = kernel_var(p, k, "column0", LT_I64), base = kernel_var(p, k, "tile_sums", LT_I64);
  LStmt *lr = emit_loop(L, k, lb, "row_tile", I(0), I(s->nrb), &rbk);
  ls_append(p, lr, ls_assign(p, i0, row_start(p, V(rbk), c, s)));
  ls_append(p, lr, ls_assign(p, cf, col_first(p, sym, V(i0), c, s)));
  LStmt *lc = emit_loop(L, k, lr, "column_tile", I(0), col_tiles(p, V(cf), c, s), &cb);
  ls_append(p, lc, ls_assign(p, c0, col_start(p, V(cf), V(cb), c, s)));
  ls_append(p, lc, ls_assign(p, base, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, V(rbk), I(s->ncb)), V(cb)), I(ri * cj))));
  enum { MAXR = 8, MAXC = 16 };
  int acc[MAXR * MAXC], rows[MAXR], cols[MAXC];
  for (int r = 0; r < ri; r++) {
    rows[r] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", spec_index(L->s, iid)->name, r), LT_I64);
    ls_append(p, lc, ls_assign(p, rows[r], BIN(LB_ADD, V(i0), I(r))));
  }
  for (int q = 0; q < cj; q++) {
    cols[q] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", spec_index(L->s, jid)->name, q), LT_I64);
    ls_append(p, lc, ls_assign(p, cols[q], BIN(LB_ADD, V(c0), I(q))));
  }
  /* float64: the registers continue the sums; float32: they take the
   * block's sums from zero, added into the float64 sums after it */
  for (int x = 0; x < ri * cj; x++) {
    acc[x] = kernel_var(p, k, arena_printf(&p->arena, "sum%d_%d", x / cj, x % cj), rt);
    ls_append(p, lc, ls_assign(p, acc[x], B ? lx_const(p, rt, 0.0) : lx_sload(p, k, sums, BIN(LB_ADD, V(base), I(x)))));
  }
  LStmt *le = emit_loop(L, k, lc, nname, V(b0), V(b1), &vn);
  env.var[nid] = vn;
  ls_append(p, le, ls_assign(p, nn, BIN(LB_SUB, V(vn), V(b0))));
  for (int x = 0; x < ri * cj; x++) {
    int r = x / cj, q = x % cj;
    env.var[iid] = rows[r], env.var[jid] = cols[q];
    L->subst_expr = f->fi;
    L->subst_val = lx_sload(p, k, fa, BIN(LB_ADD, BIN(LB_MUL, V(nn), I(s->ei)), V(rows[r])));
    L->subst_expr2 = f->fj;
    L->subst_val2 = lx_sload(p, k, fb, BIN(LB_ADD, BIN(LB_MUL, V(nn), I(s->ej)), V(cols[q])));
    /* the simple kernel's term (lower_reduce.c): in the data's type, then float64 */
    LExpr *v = lx_cast(p, T, lower_expr(L, k, le, h->red->args[0], &env));
    L->subst_expr = L->subst_expr2 = NULL;
    ls_append(p, le, ls_assign(p, acc[x], BIN(LB_ADD, V(acc[x]), lx_cast(p, rt, v))));
  }
  for (int x = 0; x < ri * cj; x++) {
    LExpr *cell = BIN(LB_ADD, V(base), I(x));
    LExpr *v = B ? BIN(LB_ADD, lx_sload(p, k, sums, cell), lx_cast(p, LT_F64, V(acc[x]))) : V(acc[x]);
    ls_append(p, lc, ls_sstore(p, k, sums, BIN(LB_ADD, V(base), I(x)), v));
  }
  /* into the partial buffer, as the simple kernel stores it: each cell from
   * the tile that holds it (the one its row and column fall in, the last
   * ones shifted back) */
  LStmt *si = emit_loop(L, k, body, spec_index(L->s, iid)->name, I(0), I(s->ei), &vi);
  ls_append(p, si, ls_assign(p, rbk, BIN(LB_MIN, BIN(LB_DIV, V(vi), I(ri)), I(s->nrb - 1))));
  ls_append(p, si, ls_assign(p, i0, row_start(p, V(rbk), c, s)));
  ls_append(p, si, ls_assign(p, cf, col_first(p, sym, V(i0), c, s)));
  LStmt *sj = emit_loop(L, k, si, spec_index(L->s, jid)->name, sym ? V(vi) : I(0), I(s->ej), &vj);
  ls_append(p, sj,
            ls_assign(p, cb,
                      BIN(LB_MIN, BIN(LB_DIV, BIN(LB_SUB, V(vj), V(cf)), I(cj)),
                          BIN(LB_SUB, col_tiles(p, V(cf), c, s), I(1)))));
  ls_append(p, sj, ls_assign(p, c0, col_start(p, V(cf), V(cb), c, s)));
  LExpr *cell = BIN(LB_ADD,
                    BIN(LB_MUL,
                        BIN(LB_ADD, BIN(LB_MUL, BIN(LB_ADD, BIN(LB_MUL, V(rbk), I(s->ncb)), V(cb)), I(ri)),
                            BIN(LB_SUB, V(vi), V(i0))),
                        I(cj)),
                    BIN(LB_SUB, V(vj), V(c0)));
  env.var[iid] = vi, env.var[jid] = vj;
  LExpr **idx = idx_vec(p, nf + 1);
  idx[0] = V(chunk);
  for (int i = 0; i < nf; i++) idx[i + 1] = V(env.var[h->free[i]]);
  ls_append(p, sj, ls_store(p, h->partial_buf, idx, lx_sload(p, k, sums, cell)));
  *out = (Built){
      .partial_buf = h->partial_buf, .slices = h->chunks, .combine_tag = arena_printf(&p->arena, "tile%dx%d", ri, cj)};
}

/* 32 events a block (both staged factors of D = 64 in L1: 32 KiB in
 * float64); 4 rows of 8 columns: four vectors of 8 float64 sums on AVX-512,
 * eight of 4 on AVX2 */
static const TileConfig tile_configs[] = {{32, 4, 8}};

const VariantFamily family_host_tile = {.name = "host-tile",
                                        .site = SITE_REDUCTION,
                                        .host = 1,
                                        .stats64 = 1,
                                        .match = match_tile,
                                        .configs = tile_configs,
                                        .nconfigs = sizeof tile_configs / sizeof *tile_configs,
                                        .config_size = sizeof *tile_configs,
                                        .plan = plan_tile,
                                        .build = build_tile,
                                        .supersedes = &family_host_accumulate};
