/* The specialization of a spec for a caller without per-event weights
 * (spec_drop_weights, ast.h): its optional data tensor reads as 1 and the
 * products and quotients by it disappear, so the unweighted program is the
 * program of the spec written without weights -- the same kernels, variants
 * and bits, nothing loaded or multiplied per event. Multiplying by 1 is
 * exact in IEEE arithmetic, so the weighted program given weights of 1 gives
 * those bits too (docs/dsl.md, "Optional data"). */
#include "ast.h"

static int is_weight(const Spec *s, const Expr *e) {
  return e && e->kind == E_ACCESS && e->ref == REF_TENSOR && e->tensor == s->weights;
}

static Expr *one(Spec *s, const Expr *at) {
  Expr *e = arena_alloc(&s->arena, sizeof(Expr));
  e->kind = E_NUM;
  e->num = 1;
  e->type = VT_REAL;
  e->begin = at->begin;
  e->end = at->end;
  return e;
}

/* `e` without the weights. `real_ctx`: the value is used as a real whatever
 * its type (a reduction's body, an operand of + - * / beside a real), so
 * `w[n] * (label[n] == m)` may become the comparison itself; elsewhere a
 * factor is dropped only beside a real, so that no value changes type. */
static Expr *drop(Spec *s, Expr *e, int real_ctx) {
  if (!e) return e;
  if (is_weight(s, e)) return one(s, e);
  if (e->kind == E_BINARY && (e->op == B_MUL || e->op == B_DIV)) {
    Expr *a = e->args[0], *b = e->args[1];
    if (is_weight(s, b) && (real_ctx || a->type == VT_REAL)) return drop(s, a, real_ctx);
    if (e->op == B_MUL && is_weight(s, a) && (real_ctx || b->type == VT_REAL)) return drop(s, b, real_ctx);
  }
  int arith = e->kind == E_BINARY && e->op <= B_DIV;
  for (int i = 0; i < e->nargs; i++) {
    int ctx = (e->kind == E_REDUCE && i == 0) || (arith && e->args[1 - i]->type == VT_REAL);
    e->args[i] = drop(s, e->args[i], ctx);
  }
  return e;
}

void spec_drop_weights(Spec *s) {
  if (!s->weights || s->weights_absent) return;
  for (int sec = 0; sec < SEC_COUNT; sec++)
    for (int i = 0; i < s->stmts[sec].len; i++) {
      Stmt *st = s->stmts[sec].items[i];
      st->rhs = drop(s, st->rhs, 0);
    }
  s->weights_absent = 1;
}
