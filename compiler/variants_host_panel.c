/* The host's register-tiled E-step (variant.h, family host-panel):
 *
 *   panel-TNxRN  the quadratic form T[n, m] = g(n, m, sum(e, sq(sum(d, A(n, m, d) W(m, d, e)))))
 *                as a small GEMM Y = A W with the accumulators in
 *                registers: a work item takes TN events, their data staged
 *                once, transposed (d-major), for every component (A = x - mu
 *                formed once per event and component); per component W and
 *                A staged, then Y in tiles of RN events (one vector register
 *                of the data's type at the CPU level's width) x CE columns:
 *                per row d one vector of A and CE broadcasts of W feed CE
 *                independent vectors, Y never leaving the registers until
 *                the tile is done (blocked-TNxRN keeps Y in memory: a load
 *                and a store per multiply-add). For an upper W the rows
 *                above a tile's first column run in a loop, the tile's own
 *                rows unrolled, each into the columns up to their diagonal
 *                only. The last column tile is shifted back to end at E (no
 *                padding; a column two tiles cover gets the same sum in
 *                both). Y goes to an e-major array, and the quadratic forms
 *                sum(e, y^2) run one event per vector lane.
 *
 * Every sum runs in the simple kernel's order (over d ascending for each e,
 * for an upper W only d <= e; then over e ascending) with the same
 * multiply-adds, so the variant gives the simple kernel's bits
 * (docs/limits.md, "Reproducibility"; codegen_host_variants checks it). */
#include "estep.h"
#include "kernel_build.h"

typedef struct {
  int tn, ce; /* events per item, columns of a register tile */
} PanelConfig;

enum { PANEL_MAX_STAGED = 16384, PANEL_MAX_RN = 16, PANEL_MAX_CE = 16 }; /* staged values an item keeps */

/* Events of a register tile: one vector register of the data's type at the
 * CPU level's width (target description), so that every accumulator is one
 * register: 8 float64 or 16 float32 on AVX-512. */
static int panel_rn(const Lower *L, const PanelConfig *c) {
  int rn = L->dev.vector_bytes / (L->p->real == LT_F64 ? 8 : 4);
  if (rn < 2) rn = 2;
  if (rn > PANEL_MAX_RN) rn = PANEL_MAX_RN;
  return c->tn % rn ? 0 : rn;
}

static int plan_panel(Lower *L, const Site *site, const void *form, const void *config, Plan *pl) {
  (void)site;
  const EstepForm *f = form;
  const PanelConfig *c = config;
  int rn = panel_rn(L, c);
  if ((f->qf.upper && f->D != f->E) || f->E < c->ce || c->ce > PANEL_MAX_CE || !rn) return 0;
  if (f->D * f->E + c->tn * (2 * f->D + f->E + 1) > PANEL_MAX_STAGED) return 0;
  pl->variant = arena_printf(&L->p->arena, "panel-%dx%d", c->tn, rn);
  return 1; /* not priced: the autotuner measures */
}

static void build_panel(Lower *L, const Site *site, const void *form, const void *config, const Plan *pl, Built *out) {
  (void)out;
  Program *p = L->p;
  Stmt *st = site->st;
  const EstepForm *f = form;
  const QuadForm *qf = &f->qf;
  const PanelConfig *c = config;
  Target *tg = &st->targets[0];
  int tn = c->tn, rn = panel_rn(L, c), ce = c->ce, nid = tg->idx[0].id;
  int64_t D = f->D, E = f->E, M = f->M, ncb = (E + ce - 1) / ce;
  LType T = p->real;
  Kernel *k = program_add_kernel(p, arena_printf(&p->arena, "%s_%s_panel%dx%d", L->s->model, tg->name, tn, rn));
  k->what = arena_printf(&p->arena, "%s [%s: %d events of one component per item, Y = A W in %dx%d register tiles%s]",
                         stmt_text(L, st), pl->variant, tn, rn, ce, qf->upper ? ", upper-triangular W" : "");
  /* each accumulator one register at the CPU's width, as panel_rn sizes
   * them (LLVM would split them in two at its preferred 256 bits on an
   * AVX-512 CPU): 12.0-12.7 against 15.1-15.6 ms float32, 18.0-18.7
   * against 21.4-21.9 float64 at 10^5.19.16 (docs/performance.md) */
  k->vector_bytes = host_native_vector_bytes(L);
  k->pvar = kernel_var(p, k, "item", LT_I64);
  k->count = BIN(LB_DIV, BIN(LB_ADD, lx_nlocal(p), I(tn - 1)), I(tn));
  /* most of its loop IR is the register tiles' rn copies of each statement:
   * weighed as it compiles (measured: 153 ms of LLVM for 5539 nodes at rn
   * 16, where the other kernels take ~0.15 ms a node), so that the cold
   * compile's groups stay balanced (jit_host.c) */
  k->weight_div = rn / 2;
  int vm, n0 = kernel_var(p, k, "n0", LT_I64), row = kernel_var(p, k, "row", LT_I64),
          vn = kernel_var(p, k, "event", LT_I64);
  ls_append(p, k->body, ls_assign(p, n0, BIN(LB_MUL, V(k->pvar), I(tn))));
  /* the item's event tiles: fewer in the last item (a bound LLVM does not
   * know, so that it keeps the tile loop rolled: unrolled, the register
   * tiles' code cost ~100 ms of compile time per cold start), and the
   * events they cover */
  int tiles = kernel_var(p, k, "event_tiles", LT_I64), span = kernel_var(p, k, "span", LT_I64);
  ls_append(
      p, k->body,
      ls_assign(p, tiles,
                BIN(LB_DIV, BIN(LB_ADD, BIN(LB_MIN, I(tn), BIN(LB_SUB, lx_nlocal(p), V(n0))), I(rn - 1)), I(rn))));
  ls_append(p, k->body, ls_assign(p, span, BIN(LB_MUL, V(tiles), I(rn))));
  Env env;
  env_init(&env);
  const char *dname = spec_index(L->s, qf->d)->name, *ename = spec_index(L->s, qf->e)->name;
  int d, e, nn;
  /* centered A (x - mu): the item's events once, transposed (d-major), for
   * every component (the last event again past the end) */
  int xs = -1;
  if (f->centered) {
    int xb = p->tensor_buf[f->cf.x->id];
    xs = kernel_shared(p, k, "x", p->bufs[xb]->elem, D * tn);
    LStmt *ln = emit_loop(L, k, k->body, "nn", I(0), I(tn), &nn);
    ls_append(p, ln, ls_assign(p, row, BIN(LB_MIN, BIN(LB_ADD, V(n0), V(nn)), BIN(LB_SUB, lx_nlocal(p), I(1)))));
    LStmt *ld = emit_loop(L, k, ln, dname, I(0), I(D), &d);
    LExpr **xi = idx_vec(p, 2);
    xi[0] = V(row);
    xi[1] = V(d);
    ls_append(p, ld, ls_sstore(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), V(nn)), lx_load(p, xb, xi)));
  }
  LStmt *body = emit_loop(L, k, k->body, spec_index(L->s, f->mid)->name, I(0), I(M), &vm);
  env.var[f->mid] = vm;
  /* W of the component, d-major (below the diagonal of an upper W too: read, never added) */
  int ws = kernel_shared(p, k, "w", T, D * E), as = kernel_shared(p, k, "a", T, tn * D),
      ys = kernel_shared(p, k, "y", T, E * tn), qs = kernel_shared(p, k, "q", T, tn);
  LStmt *ld = emit_loop(L, k, body, dname, I(0), I(D), &d);
  LStmt *le = emit_loop(L, k, ld, ename, I(0), I(E), &e);
  env.var[qf->d] = d, env.var[qf->e] = e;
  ls_append(
      p, le,
      ls_sstore(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, V(d), I(E)), V(e)), factor_product(L, k, le, qf->fw, qf->nw, &env)));
  /* A of the item's events for the component, d-major: from the staged x
   * with the events innermost (contiguous rows of x and A: the vectorizer
   * takes x - mu, its conversions included, a vector of events at a time),
   * or read directly, an event's features innermost (the last event again
   * past the end) */
  LStmt *ln, *inner;
  if (f->centered) {
    ld = emit_loop(L, k, body, dname, I(0), I(D), &d);
    inner = ln = emit_loop(L, k, ld, "nn", I(0), I(tn), &nn);
  } else {
    ln = emit_loop(L, k, body, "nn", I(0), I(tn), &nn);
    inner = ld = emit_loop(L, k, ln, dname, I(0), I(D), &d);
  }
  ls_append(p, ln, ls_assign(p, row, BIN(LB_MIN, BIN(LB_ADD, V(n0), V(nn)), BIN(LB_SUB, lx_nlocal(p), I(1)))));
  env.var[qf->d] = d, env.var[nid] = row;
  if (f->centered) {
    L->subst_tensor[0] = f->cf.x;
    L->subst_tensor_val[0] = lx_sload(p, k, xs, BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), V(nn)));
    L->nsubst_tensor = 1;
  }
  ls_append(p, inner,
            ls_sstore(p, k, as, BIN(LB_ADD, BIN(LB_MUL, V(d), I(tn)), V(nn)),
                      factor_product(L, k, inner, qf->fa, qf->na, &env)));
  L->nsubst_tensor = 0;
  /* Y in tiles of rn events x ce columns from column c0 */
  int rb, cb, c0 = kernel_var(p, k, "column0", LT_I64), acc[PANEL_MAX_RN * PANEL_MAX_CE], cols[PANEL_MAX_CE];
  LStmt *lr = emit_loop(L, k, body, "event_tile", I(0), V(tiles), &rb);
  LStmt *lc = emit_loop(L, k, lr, "column_tile", I(0), I(ncb), &cb);
  ls_append(p, lc, ls_assign(p, c0, BIN(LB_MIN, BIN(LB_MUL, V(cb), I(ce)), I(E - ce))));
  for (int q = 0; q < ce; q++) {
    cols[q] = kernel_var(p, k, arena_printf(&p->arena, "%s%d", ename, q), LT_I64);
    ls_append(p, lc, ls_assign(p, cols[q], BIN(LB_ADD, V(c0), I(q))));
  }
  for (int x = 0; x < rn * ce; x++) {
    acc[x] = kernel_var(p, k, arena_printf(&p->arena, "y%d_%d", x % rn, x / rn), T);
    ls_append(p, lc, ls_assign(p, acc[x], lx_const(p, T, 0.0)));
  }
  /* rows d every column of the tile takes (an upper W: those above the
   * tile's first column); then, for an upper W, the rows of the tile's own
   * columns unrolled, row c0 + dd only into the columns q >= dd (up to
   * their diagonal) */
  int dr = kernel_var(p, k, "tile_row", LT_I64);
  ld = emit_loop(L, k, lc, dname, I(0), qf->upper ? V(c0) : I(D), &d);
  for (int part = 0; part < (qf->upper ? ce + 1 : 1); part++) {
    LStmt *blk = ld;
    int first = 0;
    if (part) {
      blk = lc, first = part - 1;
      ls_append(p, blk, ls_assign(p, dr, BIN(LB_ADD, V(c0), I(part - 1))));
    }
    int vd = part ? dr : d;
    for (int x = first * rn; x < rn * ce; x++) {
      int r = x % rn, q = x / rn;
      LExpr *a =
          lx_sload(p, k, as, BIN(LB_ADD, BIN(LB_MUL, V(vd), I(tn)), BIN(LB_ADD, BIN(LB_MUL, V(rb), I(rn)), I(r))));
      LExpr *w = lx_sload(p, k, ws, BIN(LB_ADD, BIN(LB_MUL, V(vd), I(E)), V(cols[q])));
      ls_append(p, blk, ls_assign(p, acc[x], BIN(LB_ADD, V(acc[x]), BIN(LB_MUL, a, w))));
    }
  }
  for (int x = 0; x < rn * ce; x++) {
    int r = x % rn, q = x / rn;
    LExpr *at = BIN(LB_ADD, BIN(LB_MUL, V(cols[q]), I(tn)), BIN(LB_ADD, BIN(LB_MUL, V(rb), I(rn)), I(r)));
    ls_append(p, lc, ls_sstore(p, k, ys, at, V(acc[x])));
  }
  /* the quadratic forms, e ascending, every event of the item at once */
  ln = emit_loop(L, k, body, "nn", I(0), V(span), &nn);
  ls_append(p, ln, ls_sstore(p, k, qs, V(nn), lx_const(p, T, 0.0)));
  le = emit_loop(L, k, body, ename, I(0), I(E), &e);
  ln = emit_loop(L, k, le, "nn", I(0), V(span), &nn);
  LExpr *y = lx_sload(p, k, ys, BIN(LB_ADD, BIN(LB_MUL, V(e), I(tn)), V(nn)));
  ls_append(p, ln,
            ls_sstore(p, k, qs, V(nn),
                      BIN(LB_ADD, lx_sload(p, k, qs, V(nn)),
                          BIN(LB_MUL, y, lx_sload(p, k, ys, BIN(LB_ADD, BIN(LB_MUL, V(e), I(tn)), V(nn)))))));
  /* g per event inside the events */
  ln = emit_loop(L, k, body, "nn", I(0), V(span), &nn);
  ls_append(p, ln, ls_assign(p, vn, BIN(LB_ADD, V(n0), V(nn))));
  LStmt *live = ls_when(p, ln, BIN(LB_LT, V(vn), lx_nlocal(p)));
  env.var[nid] = vn;
  store_with_sum(L, k, live, st, qf->q, lx_sload(p, k, qs, V(nn)), vn, vm, &env);
}

/* 64 events per item (W staged, and in float32 converted, once per 64
 * events and component: 32 took 16.1 / 220 ms per float32 E-step at
 * 10^5 x 19 x 16 / 10^5 x 32 x 64, 64 takes 11.0 / 169); tiles of a vector
 * of events x 4 columns: four independent vectors, and at D = 19 five
 * column tiles of 20 columns (8 columns: 24 columns and larger triangles,
 * 18.5 against 12.2 ms per float64 E-step); the staged x, W, A and Y in
 * L1 up to D = 32 in float32 */
static const PanelConfig panel_configs[] = {{64, 4}};

const VariantFamily family_host_panel = {.name = "host-panel",
                                         .site = SITE_MAP,
                                         .host = 1,
                                         .match = match_estep,
                                         .configs = panel_configs,
                                         .nconfigs = sizeof panel_configs / sizeof *panel_configs,
                                         .config_size = sizeof *panel_configs,
                                         .plan = plan_panel,
                                         .build = build_panel,
                                         .supersedes = &family_host_blocked};
