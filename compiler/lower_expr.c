/* Lowering of expressions: element operations become LExpr trees; a
 * reduction over a fixed-size index becomes a serial loop that updates an
 * accumulator in the statement block; a reduction over events has been
 * hoisted (lower.c) and reads its stat buffer. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

_Noreturn void lower_fail(Lower *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  StrBuf sb = {0};
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  L->err = sb_take(&sb);
  longjmp(*L->escape, 1);
}

_Noreturn void lower_fail_at(Lower *L, size_t begin, size_t end, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  L->err = diag_message(&L->s->src, begin, end, fmt, ap);
  va_end(ap);
  longjmp(*L->escape, 1);
}

int64_t index_extent(Lower *L, int index_id) { return L->p->size_values[spec_index(L->s, index_id)->size]; }

LExpr **idx_vec(Program *p, int n) { return arena_alloc(&p->arena, sizeof(LExpr *) * (size_t)(n + 1)); }

LStmt *emit_loop(Lower *L, Kernel *k, LStmt *block, const char *name, LExpr *lo, LExpr *hi, int *var_out) {
  Program *p = L->p;
  int v = kernel_var(p, k, name, LT_I64);
  LStmt *body = ls_block(p);
  ls_append(p, block, ls_for(p, v, lo, hi, body));
  *var_out = v;
  return body;
}

void decompose_flat(Lower *L, Kernel *k, LStmt *blk, LExpr *flat, const int *ids, int n, Env *env) {
  Program *p = L->p;
  int64_t stride = 1;
  for (int i = n - 1; i >= 0; i--) {
    int64_t ext = index_extent(L, ids[i]);
    int v = kernel_var(p, k, spec_index(L->s, ids[i])->name, LT_I64);
    LExpr *x = stride == 1 ? flat : lx_binary(p, LB_DIV, flat, lx_int(p, stride));
    if (i > 0) x = lx_binary(p, LB_REM, x, lx_int(p, ext));
    ls_append(p, blk, ls_assign(p, v, x));
    env->var[ids[i]] = v;
    stride *= ext;
  }
}

const char *stmt_text(Lower *L, Stmt *st) {
  char *x = arena_adopt(&L->p->arena, source_excerpt(&L->s->src, st->begin, st->end));
  return arena_printf(&L->p->arena, "%s: %s", section_names[st->section], x);
}

int centered_data(const Expr *a, int nid, int mid, int did, Tensor **x, Tensor **mu) {
  const Expr *xe = a, *me = NULL;
  if (a->kind == E_BINARY && a->op == B_SUB) {
    xe = a->args[0];
    me = a->args[1];
  }
  if (xe->kind != E_ACCESS || !xe->tensor || xe->tensor->kind != TK_DATA || xe->nidx != 2 || xe->idx[0].id != nid ||
      xe->idx[1].id != did)
    return 0;
  if (me && (me->kind != E_ACCESS || !me->tensor || me->tensor->kind == TK_DATA || me->nidx != 2 ||
             me->idx[0].id != mid || me->idx[1].id != did))
    return 0;
  *x = xe->tensor;
  *mu = me ? me->tensor : NULL;
  return 1;
}

Hoisted *find_hoisted(Lower *L, const Expr *red) {
  for (int i = 0; i < L->nhoisted; i++)
    if (L->hoisted[i]->red == red) return L->hoisted[i];
  return NULL;
}

/* ---- inspection, for the variant generators ------------------------------- */

int expr_uses_index(const Expr *e, int index) {
  if (!e) return 0;
  if (e->kind == E_NAME && e->ref == REF_INDEX && e->ref_id == index) return 1;
  if (e->kind == E_ACCESS)
    for (int i = 0; i < e->nidx; i++)
      if (e->idx[i].id == index) return 1;
  if (e->kind == E_REDUCE && e->red.id == index) return 1;
  for (int i = 0; i < e->nargs; i++)
    if (expr_uses_index(e->args[i], index)) return 1;
  return 0;
}

void expr_product_factors(Expr *e, Expr **out, int *n, int cap) {
  if (e->kind == E_BINARY && e->op == B_MUL) {
    expr_product_factors(e->args[0], out, n, cap);
    expr_product_factors(e->args[1], out, n, cap);
  } else if (*n < cap) {
    out[(*n)++] = e;
  }
}

/* ---- structure-aware ranges ------------------------------------------------ */

static void collect_factors(Expr *e, Expr **out, int *n, int cap) {
  if (e->kind == E_BINARY && e->op == B_MUL) {
    collect_factors(e->args[0], out, n, cap);
    collect_factors(e->args[1], out, n, cap);
  } else if (e->kind == E_BINARY && e->op == B_DIV) {
    collect_factors(e->args[0], out, n, cap); /* a zero numerator is zero */
  } else if (e->kind == E_UNARY && e->op == U_NEG) {
    collect_factors(e->args[0], out, n, cap);
  } else if (*n < cap) {
    out[(*n)++] = e;
  }
}

void reduction_range(Lower *L, Kernel *k, Expr *red, Env *env, LExpr **lo, LExpr **hi) {
  Program *p = L->p;
  int id = red->red.id;
  *lo = lx_int(p, 0);
  *hi = lx_int(p, index_extent(L, id));
  if (red->op != R_SUM) return; /* zeros only vanish from sums */
  Expr *f[32];
  int nf = 0;
  collect_factors(red->args[0], f, &nf, 32);
  for (int i = 0; i < nf; i++) {
    Expr *x = f[i];
    if (x->kind != E_ACCESS || !x->tensor || x->tensor->structure == ST_NONE || x->tensor->structure == ST_SYMMETRIC ||
        x->nidx < 2)
      continue;
    int a = x->idx[x->nidx - 2].id, b = x->idx[x->nidx - 1].id;
    Structure st = x->tensor->structure;
    int other;
    int red_is_row;
    if (a == id && b != id) {
      other = b;
      red_is_row = 1;
    } else if (b == id && a != id) {
      other = a;
      red_is_row = 0;
    } else {
      continue;
    }
    if (env->var[other] < 0) continue;
    LExpr *o = lx_var(p, k, env->var[other]);
    LExpr *o1 = lx_binary(p, LB_ADD, o, lx_int(p, 1));
    if (st == ST_DIAGONAL) {
      *lo = o;
      *hi = o1;
    } else if ((st == ST_UPPER) == red_is_row) {
      /* upper, reducing the row: row <= col; lower, reducing the column: col <= row */
      *hi = o1;
    } else {
      *lo = o;
    }
    return;
  }
}

/* ---- symmetry ---------------------------------------------------------------- */

static void canon(const Expr *e, int i, int j, StrBuf *sb);

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A commutative chain (all + or all *), operands canonicalized and sorted. */
static void canon_chain(const Expr *e, int op, int i, int j, StrBuf *sb) {
  const Expr *stack[64], *ops[64];
  int ns = 0, no = 0;
  stack[ns++] = e;
  while (ns) {
    const Expr *x = stack[--ns];
    if (x->kind == E_BINARY && x->op == op && ns < 62) {
      stack[ns++] = x->args[0];
      stack[ns++] = x->args[1];
    } else if (no < 64) {
      ops[no++] = x;
    }
  }
  char *parts[64];
  int taken = 0;
  for (; taken < no; taken++) {
    StrBuf t = {.site = GMMC_SITE};
    canon(ops[taken], i, j, &t);
    if (!(parts[taken] = sb_take(&t))) break;
  }
  if (taken < no) { /* out of memory */
    while (taken) free(parts[--taken]);
    sb->failed = 1;
    return;
  }
  qsort(parts, (size_t)no, sizeof(char *), cmp_str);
  sb_puts(sb, op == B_ADD ? "(+" : "(*");
  for (int k = 0; k < no; k++) {
    sb_putc(sb, ' ');
    sb_puts(sb, parts[k]);
    free(parts[k]);
  }
  sb_putc(sb, ')');
}

static int swap_id(int id, int i, int j) { return id == i ? j : id == j ? i : id; }

static void canon(const Expr *e, int i, int j, StrBuf *sb) {
  switch (e->kind) {
  case E_NUM: sb_printf(sb, "%.17g", e->num); break;
  case E_NAME:
    if (e->ref == REF_INDEX)
      sb_printf(sb, "#%d", swap_id(e->ref_id, i, j));
    else
      sb_puts(sb, e->name);
    break;
  case E_ACCESS:
    sb_printf(sb, "%s%s[", e->prev ? "'" : "", e->tensor->name);
    for (int k = 0; k < e->nidx; k++) sb_printf(sb, "#%d,", swap_id(e->idx[k].id, i, j));
    sb_putc(sb, ']');
    break;
  case E_BINARY:
    if (e->op == B_ADD || e->op == B_MUL || e->op == B_EQ || e->op == B_NE) {
      if (e->op == B_EQ || e->op == B_NE) {
        StrBuf a = {.site = GMMC_SITE}, b = {.site = GMMC_SITE};
        canon(e->args[0], i, j, &a);
        canon(e->args[1], i, j, &b);
        if (a.failed || b.failed || !a.data || !b.data) {
          sb->failed = 1;
          sb_free(&a);
          sb_free(&b);
          break;
        }
        int sw = strcmp(a.data, b.data) > 0;
        sb_printf(sb, "(%s %s %s)", e->op == B_EQ ? "==" : "!=", sw ? b.data : a.data, sw ? a.data : b.data);
        sb_free(&a);
        sb_free(&b);
      } else {
        canon_chain(e, e->op, i, j, sb);
      }
      break;
    }
    /* fallthrough */
  default:
    sb_printf(sb, "(%d.%d", (int)e->kind, e->op);
    if (e->kind == E_REDUCE) sb_printf(sb, " #%d", swap_id(e->red.id, i, j));
    for (int k = 0; k < e->nargs; k++) {
      sb_putc(sb, ' ');
      canon(e->args[k], i, j, sb);
    }
    sb_putc(sb, ')');
  }
}

int expr_symmetric(Expr *e, int i, int j) {
  StrBuf a = {.site = GMMC_SITE}, b = {.site = GMMC_SITE};
  canon(e, -1, -1, &a);
  canon(e, i, j, &b);
  /* out of memory: not known to be symmetric, which is always safe */
  int same = !a.failed && !b.failed && a.data && b.data && strcmp(a.data, b.data) == 0;
  sb_free(&a);
  sb_free(&b);
  return same;
}

/* ---- expressions ---------------------------------------------------------------- */

static LExpr *as_real(Lower *L, LExpr *x) { return lx_cast(L->p, L->rt, x); }

/* Evaluates x once into a fresh variable, so that it can be used twice. */
static LExpr *once(Lower *L, Kernel *k, LStmt *block, LExpr *x, const char *name) {
  if (x->kind == LX_VAR || x->kind == LX_CONST) return x;
  int v = kernel_var(L->p, k, name, x->type);
  ls_append(L->p, block, ls_assign(L->p, v, x));
  return lx_var(L->p, k, v);
}

/* x +- param of a float32 value and a float64 parameter load, in float32
 * arithmetic with the parameter in two float32 parts (hi = f32(param),
 * lo = f32(param - hi)): (x - hi) - lo is within 2v|x - param| + 3v^2|param|
 * of the exact difference (v = 2^-24, docs/limits.md), where f32(param)
 * alone would be off by v|param|. Float64 arithmetic per element (what it
 * replaced) ran a float32 E-step slower than a float64 one: a conversion
 * each way and float64's vector width. hi and lo are invariant in the
 * loops over events, which LLVM hoists. */
static LExpr *add_split_param(Lower *L, Kernel *k, LStmt *block, int op, LExpr *a, LExpr *b) {
  Program *p = L->p;
  int param_first = a->type == LT_F64;
  LExpr *param = once(L, k, block, param_first ? a : b, "param");
  LExpr *x = as_real(L, param_first ? b : a);
  LExpr *hi = once(L, k, block, lx_cast(p, LT_F32, param), "param_hi");
  LExpr *lo = lx_cast(p, LT_F32, lx_binary(p, LB_SUB, param, lx_cast(p, LT_F64, hi)));
  /* param - x = (hi - x) + lo; x + param = (x + hi) + lo; x - param = (x - hi) - lo */
  LExpr *head = param_first ? lx_binary(p, op, hi, x) : lx_binary(p, op, x, hi);
  return lx_binary(p, param_first ? LB_ADD : op, head, lo);
}

/* eps is the machine epsilon of the data's type (scikit-learn's
 * finfo(resp.dtype).eps), whatever type the arithmetic is done in. */
static double real_eps(Program *p) {
  return p->real == LT_F32 ? (double)1.1920928955078125e-07 : 2.220446049250313e-16;
}

static LExpr *lower_reduce(Lower *L, Kernel *k, LStmt *block, Expr *e, Env *env) {
  Program *p = L->p;
  int id = e->red.id;
  const char *iname = spec_index(L->s, id)->name;
  LExpr *lo, *hi;
  reduction_range(L, k, e, env, &lo, &hi);
  LType rt = L->rt;
  int saved = env->var[id];
  int iv;
  LExpr *result;
  switch (e->op) {
  case R_SUM:
  case R_MAX:
  case R_MIN: {
    const char *what = e->op == R_SUM ? "sum" : e->op == R_MAX ? "max" : "min";
    int acc = kernel_var(p, k, arena_printf(&p->arena, "%s_%s", what, iname), rt);
    double init = e->op == R_SUM ? 0.0 : e->op == R_MAX ? -INFINITY : INFINITY;
    ls_append(p, block, ls_assign(p, acc, lx_const(p, rt, init)));
    LStmt *body = emit_loop(L, k, block, iname, lo, hi, &iv);
    env->var[id] = iv;
    LExpr *v = as_real(L, lower_expr(L, k, body, e->args[0], env));
    int op = e->op == R_SUM ? LB_ADD : e->op == R_MAX ? LB_MAX : LB_MIN;
    LExpr *upd = lx_binary(p, op, lx_var(p, k, acc), v);
    upd->reassoc = sums_reassociate(L);
    ls_append(p, body, ls_assign(p, acc, upd));
    result = lx_var(p, k, acc);
    break;
  }
  case R_LOGSUMEXP: {
    /* two passes: the maximum, then the sum of exp(x - max) */
    int mx = kernel_var(p, k, arena_printf(&p->arena, "max_%s", iname), rt);
    ls_append(p, block, ls_assign(p, mx, lx_const(p, rt, -INFINITY)));
    LStmt *body = emit_loop(L, k, block, iname, lo, hi, &iv);
    env->var[id] = iv;
    LExpr *v = as_real(L, lower_expr(L, k, body, e->args[0], env));
    ls_append(p, body, ls_assign(p, mx, lx_binary(p, LB_MAX, lx_var(p, k, mx), v)));
    int sum = kernel_var(p, k, arena_printf(&p->arena, "sumexp_%s", iname), rt);
    ls_append(p, block, ls_assign(p, sum, lx_const(p, rt, 0.0)));
    /* all -inf: the result is -inf, not NaN */
    int safe = kernel_var(p, k, arena_printf(&p->arena, "shift_%s", iname), rt);
    LExpr *isinf = lx_binary(p, LB_EQ, lx_var(p, k, mx), lx_const(p, rt, -INFINITY));
    ls_append(p, block, ls_assign(p, safe, lx_select(p, isinf, lx_const(p, rt, 0.0), lx_var(p, k, mx))));
    LStmt *body2 = emit_loop(L, k, block, iname, lo, hi, &iv);
    env->var[id] = iv;
    LExpr *v2 = as_real(L, lower_expr(L, k, body2, e->args[0], env));
    LExpr *term = lx_unary(p, LU_EXP, lx_binary(p, LB_SUB, v2, lx_var(p, k, safe)));
    LExpr *upd = lx_binary(p, LB_ADD, lx_var(p, k, sum), term);
    upd->reassoc = sums_reassociate(L);
    ls_append(p, body2, ls_assign(p, sum, upd));
    result = lx_select(p, isinf, lx_const(p, rt, -INFINITY),
                       lx_binary(p, LB_ADD, lx_var(p, k, mx), lx_unary(p, LU_LOG, lx_var(p, k, sum))));
    break;
  }
  case R_ARGMIN:
  case R_ARGMAX: {
    int best = kernel_var(p, k, arena_printf(&p->arena, "best_%s", iname), rt);
    int at = kernel_var(p, k, arena_printf(&p->arena, "%s_%s", e->op == R_ARGMIN ? "argmin" : "argmax", iname), LT_I64);
    ls_append(p, block, ls_assign(p, best, lx_const(p, rt, e->op == R_ARGMIN ? INFINITY : -INFINITY)));
    ls_append(p, block, ls_assign(p, at, lo));
    LStmt *body = emit_loop(L, k, block, iname, lo, hi, &iv);
    env->var[id] = iv;
    LExpr *v = once(L, k, body, as_real(L, lower_expr(L, k, body, e->args[0], env)), "candidate");
    /* strict comparison: the first extremum wins, as in NumPy */
    LExpr *better = lx_binary(p, e->op == R_ARGMIN ? LB_LT : LB_GT, v, lx_var(p, k, best));
    LStmt *upd = ls_block(p);
    ls_append(p, upd, ls_assign(p, best, v));
    ls_append(p, upd, ls_assign(p, at, lx_var(p, k, iv)));
    ls_append(p, body, ls_if(p, better, upd, NULL));
    result = lx_var(p, k, at);
    break;
  }
  default: lower_fail(L, "internal error: unknown reduction");
  }
  env->var[id] = saved;
  return result;
}

LExpr *lower_expr(Lower *L, Kernel *k, LStmt *block, Expr *e, Env *env) {
  Program *p = L->p;
  Spec *s = L->s;
  if (e == L->subst_expr) return L->subst_val;
  if (e == L->subst_expr2) return L->subst_val2;
  if (e->kind == E_ACCESS && e->tensor)
    for (int i = 0; i < L->nsubst_tensor; i++)
      if (L->subst_tensor[i] == e->tensor) return L->subst_tensor_val[i];
  if (e->kind == E_ACCESS && e->tensor && e->tensor == L->stage_tensor && e->nidx == 2) {
    LExpr *row = lx_binary(p, LB_SUB, lx_var(p, k, env->var[e->idx[0].id]), lx_var(p, k, L->stage_n0));
    LExpr *flat = lx_binary(p, LB_ADD, lx_binary(p, LB_MUL, row, lx_int(p, p->size_values[e->tensor->dims[1]])),
                            lx_var(p, k, env->var[e->idx[1].id]));
    return lx_sload(p, k, L->stage_sh, flat);
  }
  switch (e->kind) {
  case E_NUM: return lx_const(p, L->rt, e->num);
  case E_NAME:
    switch (e->ref) {
    case REF_INDEX: return lx_var(p, k, env->var[e->ref_id]);
    case REF_SIZE:
      if (e->ref_id == s->event_size) return lx_ntotal(p);
      return lx_int(p, p->size_values[e->ref_id]);
    case REF_CONST: return lx_const(p, L->rt, e->ref_id == C_PI ? 3.14159265358979323846 : real_eps(p));
    case REF_SCALAR: return as_real(L, lx_scalar(p, e->ref_id));
    default: lower_fail(L, "internal error: unresolved name '%s'", e->name);
    }
  case E_ACCESS: {
    LExpr *hooked = L->access ? L->access(L, k, e, env) : NULL;
    if (hooked) return hooked;
    int b = p->tensor_buf[e->tensor->id];
    LExpr **idx = idx_vec(p, e->nidx);
    for (int i = 0; i < e->nidx; i++) idx[i] = lx_var(p, k, env->var[e->idx[i].id]);
    return lx_load(p, b, idx);
  }
  case E_UNARY: {
    LExpr *a = lower_expr(L, k, block, e->args[0], env);
    if (e->op == U_NOT) return lx_unary(p, LU_NOT, a);
    return lx_unary(p, LU_NEG, e->type == VT_INT ? a : as_real(L, a));
  }
  case E_BINARY: {
    LExpr *a = lower_expr(L, k, block, e->args[0], env);
    LExpr *b = lower_expr(L, k, block, e->args[1], env);
    static const int map[] = {LB_ADD, LB_SUB, LB_MUL, LB_DIV, LB_LT, LB_LE, LB_GT, LB_GE, LB_EQ, LB_NE, LB_AND, LB_OR};
    int op = map[e->op];
    if (e->op == B_AND || e->op == B_OR) return lx_binary(p, op, a, b);
    int both_int = e->args[0]->type != VT_REAL && e->args[1]->type != VT_REAL;
    if (e->op >= B_LT) {
      if (both_int) return lx_binary(p, op, lx_cast(p, LT_I64, a), lx_cast(p, LT_I64, b));
      return lx_binary(p, op, as_real(L, a), as_real(L, b));
    }
    if (e->type == VT_INT) return lx_binary(p, op, lx_cast(p, LT_I64, a), lx_cast(p, LT_I64, b));
    /* A sum or difference with a float64 operand (a parameter) keeps the
     * parameter's bits: x - mean cancels, and rounding the mean to float32
     * first would be amplified by large precision factors. Products keep
     * the statement's type: they do not cancel. Not in fast32 kernels (the
     * GPU's variants, the host's under host_fast32: lower.h), which take
     * that rounding for float32's speed. */
    if ((op == LB_ADD || op == LB_SUB) && L->rt != LT_F64 && !L->fast32 && !host_fast32(L) &&
        (a->type == LT_F64 || b->type == LT_F64)) {
      if (a->type != b->type && (a->type == LT_F64 ? a : b)->kind == LX_LOAD)
        return add_split_param(L, k, block, op, a, b);
      return lx_binary(p, op, lx_cast(p, LT_F64, a), lx_cast(p, LT_F64, b));
    }
    return lx_binary(p, op, as_real(L, a), as_real(L, b));
  }
  case E_CALL: {
    LExpr *a = lower_expr(L, k, block, e->args[0], env);
    switch (e->op) {
    case F_EXP: return lx_unary(p, LU_EXP, as_real(L, a));
    case F_LOG: return lx_unary(p, LU_LOG, as_real(L, a));
    case F_SQRT: return lx_unary(p, LU_SQRT, as_real(L, a));
    case F_LOG1P: return lx_unary(p, LU_LOG1P, as_real(L, a));
    case F_LGAMMA: return lx_unary(p, LU_LGAMMA, as_real(L, a));
    case F_DIGAMMA: return lx_unary(p, LU_DIGAMMA, as_real(L, a));
    case F_ABS: return lx_unary(p, LU_ABS, as_real(L, a));
    case F_SQ: {
      LExpr *x = once(L, k, block, as_real(L, a), "sq");
      return lx_binary(p, LB_MUL, x, x);
    }
    case F_SELECT: {
      LExpr *b = lower_expr(L, k, block, e->args[1], env);
      LExpr *c = lower_expr(L, k, block, e->args[2], env);
      if (e->type == VT_INT) return lx_select(p, a, lx_cast(p, LT_I64, b), lx_cast(p, LT_I64, c));
      return lx_select(p, a, as_real(L, b), as_real(L, c));
    }
    case F_MIN:
    case F_MAX: {
      LExpr *b = lower_expr(L, k, block, e->args[1], env);
      return lx_binary(p, e->op == F_MIN ? LB_MIN : LB_MAX, as_real(L, a), as_real(L, b));
    }
    case F_POW: {
      LExpr *b = lower_expr(L, k, block, e->args[1], env);
      return lx_binary(p, LB_POW, as_real(L, a), as_real(L, b));
    }
    }
    lower_fail(L, "internal error: unknown function");
  }
  case E_REDUCE: {
    Hoisted *h = find_hoisted(L, e);
    if (h) {
      LExpr **idx = idx_vec(p, h->nfree);
      for (int i = 0; i < h->nfree; i++) idx[i] = lx_var(p, k, env->var[h->free[i]]);
      return as_real(L, lx_load(p, h->stat_buf, idx));
    }
    return lower_reduce(L, k, block, e, env);
  }
  }
  lower_fail(L, "internal error: unknown expression");
}
