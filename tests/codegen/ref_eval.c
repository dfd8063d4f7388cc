/* Reference interpreter of the checked AST: see ref_eval.h. */
#include "ref_eval.h"

#include "ref_special.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  double v, s;
} Val;

typedef struct {
  const RefInput *in;
  const Spec *spec;
  int64_t (*strides)[GMMC_MAX_RANK]; /* per tensor id */
  int64_t env[64];                   /* index values, per IndexSym id */
  /* argmin/argmax candidates of the top-level reduction, for the current element */
  const Expr *cand_node;
  double *cand, *cand_scale;
} Ev;

static int64_t size_value(const RefInput *in, int size_id) {
  return size_id == in->spec->event_size ? in->n_total : in->sizes[size_id];
}

static int64_t index_extent(const RefInput *in, int index_id) {
  return size_value(in, spec_index(in->spec, index_id)->size);
}

int64_t ref_tensor_elems(const RefInput *in, const Tensor *t) {
  int64_t n = 1;
  for (int a = 0; a < t->rank; a++) n *= size_value(in, t->dims[a]);
  return n;
}

int64_t ref_arg_extent(const RefInput *in, const Stmt *st) {
  if (st->builtin || st->rhs->kind != E_REDUCE) return 0;
  if (st->rhs->op != R_ARGMIN && st->rhs->op != R_ARGMAX) return 0;
  return index_extent(in, st->rhs->red.id);
}

static Val val(double v, double s) { return (Val){v, s}; }

static Val eval(Ev *ev, const Expr *e);

static Val eval_access(Ev *ev, const Expr *e) {
  const Tensor *t = e->tensor;
  int64_t off = 0;
  for (int i = 0; i < e->nidx; i++) off += ev->env[e->idx[i].id] * ev->strides[t->id][i];
  const double *data = ev->in->tensors[t->id];
  if (!data) {
    fprintf(stderr, "ref_eval: tensor '%s' is read but was not given\n", t->name);
    abort();
  }
  double v = data[off];
  return val(v, t->elem == VT_INT ? 0.0 : fabs(v));
}

static Val eval_name(Ev *ev, const Expr *e) {
  switch (e->ref) {
  case REF_INDEX: return val((double)ev->env[e->ref_id], 0.0);
  case REF_SIZE: return val((double)size_value(ev->in, e->ref_id), 0.0);
  case REF_CONST: {
    double c = e->ref_id == C_PI ? 3.14159265358979323846 : ev->in->eps;
    return val(c, c);
  }
  case REF_SCALAR: {
    double c = ev->in->scalars[e->ref_id];
    return val(c, fabs(c));
  }
  default: break;
  }
  fprintf(stderr, "ref_eval: unresolved name '%s'\n", e->name);
  abort();
}

static Val eval_binary(Ev *ev, const Expr *e) {
  Val a = eval(ev, e->args[0]), b = eval(ev, e->args[1]);
  double r;
  switch (e->op) {
  case B_ADD: r = a.v + b.v; return val(r, e->type == VT_INT ? 0.0 : a.s + b.s + fabs(r));
  case B_SUB: r = a.v - b.v; return val(r, e->type == VT_INT ? 0.0 : a.s + b.s + fabs(r));
  case B_MUL: r = a.v * b.v; return val(r, e->type == VT_INT ? 0.0 : a.s * fabs(b.v) + fabs(a.v) * b.s + fabs(r));
  case B_DIV: r = a.v / b.v; return val(r, a.s / fabs(b.v) + fabs(a.v) * b.s / (b.v * b.v) + fabs(r));
  case B_LT: return val(a.v < b.v, 0.0);
  case B_LE: return val(a.v <= b.v, 0.0);
  case B_GT: return val(a.v > b.v, 0.0);
  case B_GE: return val(a.v >= b.v, 0.0);
  case B_EQ: return val(a.v == b.v, 0.0);
  case B_NE: return val(a.v != b.v, 0.0);
  case B_AND: return val(a.v != 0 && b.v != 0, 0.0);
  case B_OR: return val(a.v != 0 || b.v != 0, 0.0);
  }
  abort();
}

static Val pick(Val a, Val b, int take_a) { return take_a ? a : b; }

static Val eval_call(Ev *ev, const Expr *e) {
  if (e->op == F_SELECT) { /* only the branch chosen is evaluated */
    Val c = eval(ev, e->args[0]);
    return eval(ev, e->args[c.v != 0 ? 1 : 2]);
  }
  Val a = eval(ev, e->args[0]);
  double r;
  switch (e->op) {
  case F_EXP: r = exp(a.v); return val(r, r * (1.0 + a.s));
  case F_LOG: r = log(a.v); return val(r, a.s / fabs(a.v) + fabs(r));
  case F_SQRT:
    r = sqrt(a.v);
    return val(r, r > 0 ? a.s / (2.0 * r) + r : sqrt(a.s)); /* at 0 the error is not linear: sqrt of the input's */
  case F_SQ: r = a.v * a.v; return val(r, 2.0 * fabs(a.v) * a.s + r);
  case F_LOG1P: r = log1p(a.v); return val(r, a.s / fabs(1.0 + a.v) + fabs(r));
  case F_LGAMMA: r = lgamma(a.v); return val(r, fabs(ref_digamma(a.v)) * a.s + fabs(r));
  case F_DIGAMMA: r = ref_digamma(a.v); return val(r, fabs(ref_trigamma(a.v)) * a.s + fabs(r));
  case F_POW: {
    Val b = eval(ev, e->args[1]);
    r = pow(a.v, b.v);
    double da = a.v != 0 ? fabs(b.v) * a.s / fabs(a.v) : 0.0, db = a.v != 0 ? fabs(log(fabs(a.v))) * b.s : 0.0;
    return val(r, fabs(r) * (1.0 + da + db));
  }
  case F_ABS: return val(fabs(a.v), a.s);
  case F_MIN:
  case F_MAX: {
    Val b = eval(ev, e->args[1]);
    /* fmin/fmax: a NaN operand loses, as llvm.minnum/maxnum */
    if (isnan(a.v)) return b;
    if (isnan(b.v)) return a;
    if (a.v == b.v) return val(a.v, fmax(a.s, b.s));
    return pick(a, b, e->op == F_MIN ? a.v < b.v : a.v > b.v);
  }
  }
  abort();
}

static Val eval_reduce(Ev *ev, const Expr *e) {
  int id = e->red.id;
  int64_t n = index_extent(ev->in, id);
  int64_t saved = ev->env[id];
  const Expr *body = e->args[0];
  Val res = {0, 0};
  switch (e->op) {
  case R_SUM: {
    double v = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
      ev->env[id] = i;
      Val x = eval(ev, body);
      v += x.v;
      s += x.s;
    }
    res = val(v, s);
    break;
  }
  case R_MAX:
  case R_MIN: {
    Val best = val(e->op == R_MAX ? -INFINITY : INFINITY, 0.0);
    for (int64_t i = 0; i < n; i++) {
      ev->env[id] = i;
      Val x = eval(ev, body);
      if (isnan(x.v)) continue;
      if (x.v == best.v)
        best.s = fmax(best.s, x.s);
      else if (e->op == R_MAX ? x.v > best.v : x.v < best.v)
        best = x;
    }
    res = best;
    break;
  }
  case R_LOGSUMEXP: {
    double mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
      ev->env[id] = i;
      mx = fmax(mx, eval(ev, body).v);
    }
    if (mx == -INFINITY || mx == INFINITY) {
      res = val(mx, 0.0);
      break;
    }
    double sum = 0, ws = 0;
    for (int64_t i = 0; i < n; i++) {
      ev->env[id] = i;
      Val x = eval(ev, body);
      double w = exp(x.v - mx);
      sum += w;
      ws += w * (x.s + fabs(x.v - mx));
    }
    double ls = log(sum), r = mx + ls;
    res = val(r, ws / sum + 2.0 + fabs(ls) + fabs(r));
    break;
  }
  case R_ARGMIN:
  case R_ARGMAX: {
    double best = e->op == R_ARGMIN ? INFINITY : -INFINITY;
    int64_t at = 0;
    int keep = e == ev->cand_node;
    for (int64_t i = 0; i < n; i++) {
      ev->env[id] = i;
      Val x = eval(ev, body);
      if (keep) {
        ev->cand[i] = x.v;
        ev->cand_scale[i] = x.s;
      }
      if (e->op == R_ARGMIN ? x.v < best : x.v > best) { /* strict: the first extremum wins */
        best = x.v;
        at = i;
      }
    }
    res = val((double)at, 0.0);
    break;
  }
  }
  ev->env[id] = saved;
  return res;
}

static Val eval(Ev *ev, const Expr *e) {
  switch (e->kind) {
  case E_NUM: return val(e->num, fabs(e->num));
  case E_NAME: return eval_name(ev, e);
  case E_ACCESS: return eval_access(ev, e);
  case E_UNARY: {
    Val a = eval(ev, e->args[0]);
    if (e->op == U_NOT) return val(a.v == 0, 0.0);
    return val(-a.v, a.s);
  }
  case E_BINARY: return eval_binary(ev, e);
  case E_CALL: return eval_call(ev, e);
  case E_REDUCE: return eval_reduce(ev, e);
  }
  abort();
}

/* ---- builtins --------------------------------------------------------------- */

static int builtin_cholesky(const RefInput *in, const Stmt *st, const RefOutput *out, char **err) {
  const Tensor *t = st->rhs->args[0]->tensor;
  const double *c = in->tensors[t->id];
  int64_t d = size_value(in, t->dims[t->rank - 1]);
  int64_t batch = ref_tensor_elems(in, t) / (d * d);
  double *l = calloc((size_t)(d * d), sizeof(double)), *w = calloc((size_t)(d * d), sizeof(double));
  int rc = 0;
  for (int64_t b = 0; b < batch && rc == 0; b++) {
    const double *cb = c + b * d * d;
    double *u = out->value + b * d * d;
    /* C = L Lᵀ, L lower (reads the lower triangle of C, as LAPACK's potrf 'L') */
    memset(l, 0, sizeof(double) * (size_t)(d * d));
    for (int64_t j = 0; j < d && rc == 0; j++) {
      double s = cb[j * d + j];
      for (int64_t k = 0; k < j; k++) s -= l[j * d + k] * l[j * d + k];
      if (!(s > 0)) {
        *err = calloc(1, 160);
        snprintf(*err, 160, "precision_cholesky: matrix %lld of '%s' is not positive definite (pivot %lld)",
                 (long long)b, t->name, (long long)j);
        rc = -1;
        break;
      }
      l[j * d + j] = sqrt(s);
      for (int64_t i = j + 1; i < d; i++) {
        double x = cb[i * d + j];
        for (int64_t k = 0; k < j; k++) x -= l[i * d + k] * l[j * d + k];
        l[i * d + j] = x / l[j * d + j];
      }
    }
    if (rc) break;
    /* W = L⁻¹ by forward substitution on every column of the identity */
    for (int64_t col = 0; col < d; col++)
      for (int64_t i = 0; i < d; i++) {
        double x = i == col ? 1.0 : 0.0;
        for (int64_t k = 0; k < i; k++) x -= l[i * d + k] * w[k * d + col];
        w[i * d + col] = x / l[i * d + i];
      }
    /* U = Wᵀ */
    double norm = 0;
    for (int64_t i = 0; i < d; i++)
      for (int64_t j = 0; j < d; j++) {
        u[i * d + j] = w[j * d + i];
        norm = fmax(norm, fabs(u[i * d + j]));
      }
    if (out->scale)
      for (int64_t i = 0; i < d * d; i++) out->scale[b * d * d + i] = norm;
  }
  free(l);
  free(w);
  return rc;
}

static int builtin_cholesky_diag(const RefInput *in, const Stmt *st, const RefOutput *out, char **err) {
  const Tensor *t = st->rhs->args[0]->tensor;
  const double *c = in->tensors[t->id];
  int64_t n = ref_tensor_elems(in, t);
  for (int64_t i = 0; i < n; i++) {
    if (!(c[i] > 0)) {
      *err = calloc(1, 160);
      snprintf(*err, 160, "precision_cholesky_diag: element %lld of '%s' is %g, not positive", (long long)i, t->name,
               c[i]);
      return -1;
    }
    out->value[i] = 1.0 / sqrt(c[i]);
    if (out->scale) out->scale[i] = out->value[i];
  }
  return 0;
}

/* ---- statements ------------------------------------------------------------------ */

int ref_eval(const RefInput *in, const Stmt *st, const RefOutput *out, char **err) {
  *err = NULL;
  if (st->builtin == BI_PRECISION_CHOLESKY) return builtin_cholesky(in, st, out, err);
  if (st->builtin == BI_PRECISION_CHOLESKY_DIAG) return builtin_cholesky_diag(in, st, out, err);
  const Spec *s = in->spec;
  Ev ev = {.in = in, .spec = s};
  ev.strides = calloc((size_t)s->tensors.len + 1, sizeof *ev.strides);
  for (int i = 0; i < s->tensors.len; i++) {
    const Tensor *t = spec_tensor(s, i);
    int64_t stride = 1;
    for (int a = t->rank - 1; a >= 0; a--) {
      ev.strides[i][a] = stride;
      stride *= size_value(in, t->dims[a]);
    }
  }
  const Target *tg = &st->targets[0];
  const Tensor *t = tg->tensor;
  int n = tg->nidx;
  int64_t ext[GMMC_MAX_RANK];
  int64_t total = 1;
  for (int a = 0; a < n; a++) {
    ext[a] = index_extent(in, tg->idx[a].id);
    total *= ext[a];
  }
  int64_t arg_ext = ref_arg_extent(in, st);
  if (arg_ext && out->cand) ev.cand_node = st->rhs;
  Structure sr = n >= 2 ? t->structure : ST_NONE;
  int64_t pos[GMMC_MAX_RANK] = {0};
  for (int64_t el = 0; el < total; el++) {
    /* the element's indices, row-major */
    int64_t r = el;
    for (int a = n - 1; a >= 0; a--) {
      pos[a] = r % ext[a];
      r /= ext[a];
    }
    for (int a = 0; a < n; a++) ev.env[tg->idx[a].id] = pos[a];
    int64_t row = n >= 2 ? pos[n - 2] : 0, col = n >= 2 ? pos[n - 1] : 0;
    int zero = (sr == ST_UPPER && row > col) || (sr == ST_LOWER && row < col) || (sr == ST_DIAGONAL && row != col);
    if (sr == ST_SYMMETRIC && row > col) { /* the value computed at [.., col, row] */
      ev.env[tg->idx[n - 2].id] = col;
      ev.env[tg->idx[n - 1].id] = row;
    }
    if (ev.cand_node) {
      ev.cand = out->cand + el * arg_ext;
      ev.cand_scale = out->cand_scale + el * arg_ext;
    }
    Val v = zero ? val(0.0, 0.0) : eval(&ev, st->rhs);
    if (zero && ev.cand_node)
      for (int64_t i = 0; i < arg_ext; i++) ev.cand[i] = ev.cand_scale[i] = 0;
    out->value[el] = v.v;
    if (out->scale) out->scale[el] = t->elem == VT_INT ? 0.0 : v.s;
  }
  free(ev.strides);
  return 0;
}
