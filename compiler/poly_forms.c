/* The polynomial forms' matchers (poly_forms.h). */
#include <string.h>

#include "poly_forms.h"

int poly_map_form(Lower *L, Stmt *st, PolyForm *f) {
  memset(f, 0, sizeof *f);
  Site site = {.kind = SITE_MAP, .st = st};
  if (!match_staged_map(L, &site, &f->sm)) return 0;
  for (int i = 0; i < f->sm.ops.n; i++) {
    const Operand *o = &f->sm.ops.op[i];
    if (o->role == ROLE_NM || (o->role == ROLE_ND && f->x)) return 0;
    if (o->role == ROLE_ND) f->x = o->t;
  }
  f->degree = poly_degree(f->sm.sum->args[0], f->x);
  return f->degree == 1 || f->degree == 2;
}

/* The factors of a product (a * b * ...). */
static int factors(Expr *e, Expr **out, int n) {
  if (e->kind == E_BINARY && e->op == B_MUL) {
    n = factors(e->args[0], out, n);
    return n < 0 ? n : factors(e->args[1], out, n);
  }
  if (n == POLYSUM_MAX_FACTORS) return -1;
  out[n] = e;
  return n + 1;
}

/* What e reads, as bits: 1 an access with the event index, 2 with the
 * feature index, 4 the data [n, d] itself, 8 anything else (an access
 * of another shape, a nested reduction). */
enum { R_EVENT = 1, R_FEATURE = 2, R_DATA = 4, R_OTHER = 8 };
static int reads(const Expr *e, const PolySumForm *f) {
  int r = 0;
  if (e->kind == E_REDUCE) return R_OTHER;
  if (e->kind == E_NAME && e->ref == REF_INDEX && (e->ref_id == f->nid || e->ref_id == f->did)) r |= R_OTHER;
  if (e->kind == E_ACCESS && e->tensor) {
    int a0 = e->nidx > 0 ? e->idx[0].id : -1, a1 = e->nidx > 1 ? e->idx[1].id : -1;
    if (e->prev || e->nidx > 2)
      r |= R_OTHER;
    else if (e->nidx == 2 && a0 == f->nid && a1 == f->did && e->tensor->kind == TK_DATA)
      r |= R_DATA | R_EVENT | R_FEATURE;
    else if ((e->nidx == 1 && a0 == f->nid) || (e->nidx == 2 && a0 == f->nid && a1 == f->mid))
      r |= R_EVENT;
    else if (e->nidx == 2 && a0 == f->mid && a1 == f->did && e->tensor->kind != TK_DATA)
      r |= R_FEATURE;
    else if (!(e->nidx == 1 && a0 == f->mid && e->tensor->kind != TK_DATA))
      r |= R_OTHER;
  }
  for (int i = 0; i < e->nargs; i++) r |= reads(e->args[i], f);
  return r;
}

static Tensor *data_read(Expr *e, const PolySumForm *f) {
  if (e->kind == E_ACCESS && e->tensor && e->tensor->kind == TK_DATA && e->nidx == 2 && e->idx[1].id == f->did)
    return e->tensor;
  for (int i = 0; i < e->nargs; i++) {
    Tensor *t = data_read(e->args[i], f);
    if (t) return t;
  }
  return NULL;
}

/* Float32 data on a GPU with TF32 tensor cores; a sum over the events with
 * free indices [m, d] of factors each either a weight W (reads with the
 * event index, none with d) or part of P (no reads with the event index
 * but the one data tensor's [n, d]), P of degree 1 or 2 in the data. */
int polysum_form(Lower *L, Hoisted *h, PolySumForm *f) {
  memset(f, 0, sizeof *f);
  if (h->red->op != R_SUM || h->nfree != 2) return 0;
  f->mid = h->free[0], f->did = h->free[1], f->nid = h->red->red.id;
  if (spec_index(L->s, f->nid)->size != L->s->event_size) return 0;
  Expr *fs[POLYSUM_MAX_FACTORS];
  int n = factors(h->red->args[0], fs, 0);
  if (n < 0) return 0;
  int weighted = 0;
  for (int i = 0; i < n; i++) {
    int r = reads(fs[i], f);
    if (r & R_OTHER) return 0;
    if (r & R_DATA) {
      Tensor *x = data_read(fs[i], f);
      if (f->x && x != f->x) return 0;
      f->x = x;
    }
    if ((r & R_EVENT) && !(r & R_DATA)) {
      if (r & R_FEATURE) return 0;
      f->wf[f->nw++] = fs[i];
      weighted = 1;
    } else {
      f->pf[f->np++] = fs[i];
    }
  }
  if (!weighted || !f->x) return 0; /* without a weight per (event, component) the tiled sums fit better */
  for (int i = 0; i < f->np; i++) f->degree += poly_degree(f->pf[i], f->x);
  f->D = index_extent(L, f->did), f->M = index_extent(L, f->mid);
  return f->degree == 1 || f->degree == 2;
}

/* P's coefficients for the component in env's m and the feature in its d,
 * about the shift in variable `shift`. */
Poly polysum_coefficients(Lower *L, Kernel *k, LStmt *blk, const PolySumForm *f, Env *env, int shift) {
  PolyLower pw = {.L = L, .k = k, .blk = blk, .env = env, .x = f->x, .shift = shift};
  Poly r = poly_lower(&pw, f->pf[0]);
  for (int i = 1; i < f->np; i++) r = poly_mul(&pw, r, poly_lower(&pw, f->pf[i]));
  return r;
}
