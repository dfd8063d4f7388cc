/* A sum's terms as a polynomial in the data (poly.h). */
#include "poly.h"

#include "kernel_build.h"

int poly_degree(const Expr *e, const Tensor *x) {
  int a = e->nargs > 0 ? poly_degree(e->args[0], x) : 0, b = e->nargs > 1 ? poly_degree(e->args[1], x) : 0;
  int d = a > b ? a : b;
  if (e->nargs > 2 && poly_degree(e->args[2], x)) return POLY_NON;
  switch (e->kind) {
  case E_NUM:
  case E_NAME: return 0;
  case E_ACCESS: return e->tensor == x ? 1 : 0;
  case E_UNARY: return e->op == U_NEG ? a : a ? POLY_NON : 0;
  case E_BINARY:
    switch (e->op) {
    case B_ADD:
    case B_SUB: return d;
    case B_MUL: return a + b > 2 ? POLY_NON : a + b;
    case B_DIV: return b ? POLY_NON : a;
    default: return d ? POLY_NON : 0;
    }
  case E_CALL:
    if (e->op == F_SQ) return 2 * a > 2 ? POLY_NON : 2 * a;
    return d ? POLY_NON : 0;
  case E_REDUCE: return POLY_NON;
  }
  return POLY_NON;
}

static int poly_var(PolyLower *pw, LExpr *v) {
  Program *p = pw->L->p;
  Kernel *k = pw->k;
  int r = kernel_var(p, k, "coef", LT_F32);
  ls_append(p, pw->blk, ls_assign(p, r, lx_cast(p, LT_F32, v)));
  return r;
}

/* a + s b (s = 1 or -1) coefficient by coefficient */
static Poly poly_add(PolyLower *pw, Poly a, Poly b, int s) {
  Program *p = pw->L->p;
  Kernel *k = pw->k;
  Poly r;
  for (int i = 0; i < 3; i++)
    r.c[i] = b.c[i] < 0   ? a.c[i]
             : a.c[i] < 0 ? (s > 0 ? b.c[i] : poly_var(pw, lx_unary(p, LU_NEG, V(b.c[i]))))
                          : poly_var(pw, BIN(s > 0 ? LB_ADD : LB_SUB, V(a.c[i]), V(b.c[i])));
  return r;
}

Poly poly_mul(PolyLower *pw, Poly a, Poly b) {
  Program *p = pw->L->p;
  Kernel *k = pw->k;
  Poly r = {{-1, -1, -1}};
  for (int i = 0; i < 3; i++)
    for (int j = 0; i + j < 3; j++) {
      if (a.c[i] < 0 || b.c[j] < 0) continue;
      LExpr *t = BIN(LB_MUL, V(a.c[i]), V(b.c[j]));
      r.c[i + j] = poly_var(pw, r.c[i + j] < 0 ? t : BIN(LB_ADD, V(r.c[i + j]), t));
    }
  return r;
}

Poly poly_lower(PolyLower *pw, Expr *e) {
  Program *p = pw->L->p;
  Kernel *k = pw->k;
  Poly r = {{-1, -1, -1}};
  if (poly_degree(e, pw->x) == 0) {
    r.c[0] = poly_var(pw, lower_expr(pw->L, k, pw->blk, e, pw->env));
    return r;
  }
  switch (e->kind) {
  case E_ACCESS: /* the data read: c + t */
    r.c[0] = pw->shift;
    r.c[1] = poly_var(pw, lx_const(p, LT_F32, 1));
    return r;
  case E_UNARY: return poly_add(pw, r, poly_lower(pw, e->args[0]), -1);
  case E_BINARY: {
    Poly a = poly_lower(pw, e->args[0]);
    if (e->op == B_DIV) { /* by a polynomial of degree 0 */
      LExpr *den = lower_expr(pw->L, k, pw->blk, e->args[1], pw->env);
      int dv = poly_var(pw, den);
      for (int i = 0; i < 3; i++)
        if (a.c[i] >= 0) a.c[i] = poly_var(pw, BIN(LB_DIV, V(a.c[i]), V(dv)));
      return a;
    }
    Poly b = poly_lower(pw, e->args[1]);
    return e->op == B_MUL ? poly_mul(pw, a, b) : poly_add(pw, a, b, e->op == B_ADD ? 1 : -1);
  }
  case E_CALL: { /* sq */ Poly a = poly_lower(pw, e->args[0]); return poly_mul(pw, a, a);
  }
  default: return r; /* not reached: poly_degree admits no other */
  }
}

LExpr *poly_vertex(Program *p, Kernel *k, Poly q) {
  LExpr *k1 = q.c[1] >= 0 ? lx_var(p, k, q.c[1]) : lx_const(p, LT_F32, 0);
  LExpr *k2 = q.c[2] >= 0 ? lx_var(p, k, q.c[2]) : lx_const(p, LT_F32, 0);
  return lx_select(p, lx_binary(p, LB_NE, k2, lx_const(p, LT_F32, 0)),
                   lx_binary(p, LB_DIV, lx_unary(p, LU_NEG, k1), lx_binary(p, LB_MUL, lx_const(p, LT_F32, 2), k2)),
                   lx_const(p, LT_F32, 0));
}
