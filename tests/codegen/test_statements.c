/* Every statement of every shipped spec, compiled for the host through the
 * whole pipeline (lowering, LLVM O3, ORC JIT), against the reference
 * interpreter (ref_eval.c) on random inputs.
 *
 * Cases: sizes (M, D) in {(1,1), (2,3), (5,7), (16,24)}, float32 and float64,
 * event counts N in {1, 7, 1000, 3 * chunks + 1} (chunks: the partial results
 * of a reduction over events; the last N is not a multiple of it, and 1 and 7
 * leave most chunks empty). For each case every buffer is filled with fresh
 * random values that respect what the spec promises:
 *   - integer tensors (labels): in [0, M);
 *   - upper/lower/diagonal tensors: zero outside their triangle, positive
 *     diagonal (precisions_cholesky);
 *   - symmetric tensors and the input of precision_cholesky: symmetric
 *     positive definite, A Aᵀ / D + I/2 (covariances);
 *   - the predict_proba tensor: rows positive, summing to 1 (R);
 *   - tensors read under log or sqrt or in a denominator, or as the base of
 *     pow: positive (weights, Nk, the diagonal of the precisions); those
 *     also read in a select condition get zeros too, so that both branches
 *     run (k-means' count);
 *   - tensors read under log1p: in [0.05, 0.95], where log1p(x) and
 *     log1p(-x) are both finite (bernoulli's p);
 *   - data declared integer: counts in [0, 9]; binary: 0 or 1;
 *   - everything else: uniform in [-3, 3] (data in [-2, 2]);
 *   - run-time scalars: uniform in [0.1, 1].
 * Then, for each statement, from the same filled buffers: its target and
 * every scratch buffer (stat, partial, Cholesky scratch) are poisoned with NaN
 * (integer targets with INT32_MIN), its kernels run single-threaded in launch
 * order, each as one call over its whole parallel range [0, count) (for the
 * last N: three calls, over the last quarter, the middle, then the first
 * third, so that work items that depend on their order or on starting at 0
 * show), and
 *   - each element of the target must satisfy
 *         |out - ref| <= tol * scale + tiny
 *     with tol = 1e-5 (float32) or 1e-12 (float64), scale the reference's
 *     running error scale of the element (ref_eval.h: the magnitude that the
 *     roundings of the computation are multiplied by, >= |ref|), tiny the
 *     smallest normal number of the element type (gradual underflow: a
 *     result below it is as good as its absolute error); NaN never passes,
 *     elements a structure makes zero must be exactly 0;
 *   - integer labels must match, except at a near-tie: the label the
 *     compiled code chose has a reduced value within the same tolerance of
 *     the reference's extremum, but not equal to it (counted and printed; an
 *     exact tie must go to the first index);
 *   - every other tensor must be bit-for-bit unchanged (a statement writes
 *     only its target and its own scratch), and a builtin's status slot stays
 *     clear on positive definite input.
 * A statement that reads its own previous value (k-means' centers) keeps its
 * target's values instead of the poison: they are its input.
 * A builtin is also run on input with one matrix (variance) negated: its
 * status slot must name that matrix's component (check_builtin_failure).
 *
 * Usage: test_statements [model | spec.yaml]...   (default: every shipped
 * spec; tests/codegen/specs/ holds specs that use the DSL features the
 * shipped ones do not)
 * GMMC_TEST_SEED=N replays a run. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "dsl/shipped.h"
#include "ref_eval.h"

enum { F_POS = 1, F_GUARD = 2, F_SPD = 4, F_UNIT = 8 };

static uint64_t g_seed;
static int g_fail, g_fail_msgs;
static long long g_elems, g_stmts, g_cases, g_ties, g_failure_runs;
static double g_worst[2]; /* max |out - ref| / (u * scale), per element type */
static const char *g_worst_where[2];

/* ---- what the spec promises about its tensors ---------------------------------- */

/* Tensors read where a value must be positive: the argument of log or
 * sqrt, a denominator, and through products, quotients, sums over an index,
 * max, min and the branches of select inside those (not through + and -, and
 * not under abs, sq, exp, which are never negative anyway). */
static void mark_unit(const Expr *e, unsigned *flags) {
  if (e->kind == E_ACCESS && e->tensor) flags[e->tensor->id] |= F_UNIT;
  for (int i = 0; i < e->nargs; i++) mark_unit(e->args[i], flags);
}

static void mark_expr(const Expr *e, int positive, unsigned *flags) {
  if (!e) return;
  if (e->kind == E_ACCESS && e->tensor && positive) flags[e->tensor->id] |= F_POS;
  int through = 0; /* whether `positive` carries into the operands */
  switch (e->kind) {
  case E_CALL:
    if (e->op == F_LOG || e->op == F_SQRT) {
      mark_expr(e->args[0], 1, flags);
      return;
    }
    if (e->op == F_LOG1P) {
      mark_unit(e->args[0], flags);
      mark_expr(e->args[0], 0, flags);
      return;
    }
    if (e->op == F_POW) {
      mark_expr(e->args[0], 1, flags);
      mark_expr(e->args[1], 0, flags);
      return;
    }
    if (e->op == F_SELECT) {
      mark_expr(e->args[0], 0, flags);
      mark_expr(e->args[1], positive, flags);
      mark_expr(e->args[2], positive, flags);
      return;
    }
    through = positive && (e->op == F_MIN || e->op == F_MAX);
    break;
  case E_BINARY:
    if (e->op == B_DIV) {
      mark_expr(e->args[0], positive, flags);
      mark_expr(e->args[1], 1, flags);
      return;
    }
    through = positive && e->op == B_MUL;
    break;
  case E_REDUCE: through = positive && (e->op == R_SUM || e->op == R_MAX || e->op == R_MIN); break;
  default: break;
  }
  for (int i = 0; i < e->nargs; i++) mark_expr(e->args[i], through, flags);
}

static void mark_guard(const Expr *e, int in_cond, unsigned *flags) {
  if (!e) return;
  if (e->kind == E_ACCESS && e->tensor && in_cond) flags[e->tensor->id] |= F_GUARD;
  for (int i = 0; i < e->nargs; i++)
    mark_guard(e->args[i], in_cond || (e->kind == E_CALL && e->op == F_SELECT && i == 0), flags);
}

static unsigned *tensor_flags(const Spec *s) {
  unsigned *flags = calloc((size_t)s->tensors.len + 1, sizeof(unsigned));
  for (int sec = 0; sec < SEC_COUNT; sec++)
    for (int i = 0; i < s->stmts[sec].len; i++) {
      const Stmt *st = s->stmts[sec].items[i];
      if (st->builtin) {
        const Tensor *in = st->rhs->args[0]->tensor;
        flags[in->id] |= st->builtin == BI_PRECISION_CHOLESKY ? F_SPD : F_POS;
        continue;
      }
      mark_expr(st->rhs, 0, flags);
      mark_guard(st->rhs, 0, flags);
    }
  return flags;
}

static int64_t label_range(const Program *p) {
  const Spec *s = p->spec;
  if (s->component_size >= 0) return p->size_values[s->component_size];
  for (int i = 0; i < s->sizes.len; i++)
    if (strcmp(spec_size(s, i)->name, "M") == 0) return p->size_values[i];
  return 2;
}

/* Fills tensor t's buffer as the spec promises (see the top of the file). */
static void fill_tensor(Rng *r, Bufs *b, const Tensor *t, unsigned fl) {
  const Program *p = b->p;
  const Spec *s = p->spec;
  int id = p->tensor_buf[t->id];
  int64_t n = buffer_elems(p->bufs[id], b->n);
  if (t->elem == VT_INT) {
    int64_t m = label_range(p);
    for (int64_t i = 0; i < n; i++) buf_set(b, id, i, (double)cg_int(r, 0, m - 1));
    return;
  }
  int64_t d = t->rank >= 2 ? p->size_values[t->dims[t->rank - 1]] : 1; /* never the event axis */
  Structure st = t->rank >= 2 ? t->structure : ST_NONE;
  if (st == ST_UPPER || st == ST_LOWER || st == ST_DIAGONAL) {
    for (int64_t i = 0; i < n; i++) {
      int64_t row = (i / d) % d, col = i % d;
      int inside = st == ST_UPPER ? row <= col : st == ST_LOWER ? row >= col : row == col;
      double v = !inside ? 0.0 : row == col ? cg_uniform(r, 0.5, 2.0) : cg_uniform(r, -0.5, 0.5);
      buf_set(b, id, i, v);
    }
    return;
  }
  if (st == ST_SYMMETRIC || (fl & F_SPD)) {
    double *a = malloc(sizeof(double) * (size_t)(d * d));
    for (int64_t m0 = 0; m0 < n; m0 += d * d) {
      for (int64_t i = 0; i < d * d; i++) a[i] = cg_uniform(r, -1.0, 1.0);
      for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
          double x = i == j ? 0.5 : 0.0;
          for (int64_t k = 0; k < d; k++) x += a[i * d + k] * a[j * d + k] / (double)d;
          buf_set(b, id, m0 + i * d + j, x);
        }
      /* symmetric exactly, also after rounding */
      for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < i; j++) buf_set(b, id, m0 + i * d + j, buf_get(b, id, m0 + j * d + i));
    }
    free(a);
    return;
  }
  if (t == s->predict_proba) {
    int64_t m = p->size_values[t->dims[1]];
    for (int64_t row = 0; row < n / m; row++) {
      double v[4096], sum = 0;
      for (int64_t j = 0; j < m; j++) sum += v[j % 4096] = cg_uniform(r, 0.05, 1.0);
      for (int64_t j = 0; j < m; j++) buf_set(b, id, row * m + j, v[j % 4096] / sum);
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v;
    if (fl & F_UNIT)
      v = cg_uniform(r, 0.05, 0.95);
    else if ((fl & F_POS) && (fl & F_GUARD))
      v = cg_int(r, 0, 3) == 0 ? 0.0 : cg_uniform(r, 0.5, 2.0);
    else if (fl & F_POS)
      v = cg_uniform(r, 0.5, 2.0);
    else if (t->kind == TK_DATA && t->dtype == DT_BINARY)
      v = (double)cg_int(r, 0, 1);
    else if (t->kind == TK_DATA && t->dtype == DT_INTEGER)
      v = (double)cg_int(r, 0, 9); /* counts: lgamma(x + 1) stays away from its poles */
    else if (t->kind == TK_DATA)
      v = cg_uniform(r, -2.0, 2.0);
    else
      v = cg_uniform(r, -3.0, 3.0);
    buf_set(b, id, i, v);
  }
}

/* ---- one case -------------------------------------------------------------------- */

typedef struct {
  const char *model;
  int64_t m, d, n;
  LType real;
  int split; /* run each kernel's parallel loop in pieces, out of order */
  uint64_t case_seed[4];
} Case;

static void fail_msg(const Case *c, const char *stmt, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_msg(const Case *c, const char *stmt, const char *fmt, ...) {
  g_fail++;
  if (g_fail_msgs++ >= 40) return;
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL %s M=%lld D=%lld %s N=%lld: %s\n  ", c->model, (long long)c->m, (long long)c->d,
         c->real == LT_F32 ? "float32" : "float64", (long long)c->n, stmt);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

static int reads_prev(const Expr *e) {
  if (!e) return 0;
  if (e->prev) return 1;
  for (int i = 0; i < e->nargs; i++)
    if (reads_prev(e->args[i])) return 1;
  return 0;
}

static int is_scratch(const Program *p, int id) {
  return !p->bufs[id]->tensor && id != p->status_buf && id != p->init_labels_buf;
}

static void poison(Bufs *b, int id) {
  const Program *p = b->p;
  int64_t n = buffer_elems(p->bufs[id], b->n);
  for (int64_t i = 0; i < n; i++) buf_set(b, id, i, ltype_is_float(p->bufs[id]->elem) ? NAN : (double)INT32_MIN);
}

static void check_statement(const Case *c, const HostJit *jit, Bufs *b, void **pristine, const RefInput *ri,
                            const StmtKernels *sk) {
  const Program *p = b->p;
  const Stmt *st = sk->stmt;
  const Tensor *t = st->targets[0].tensor;
  int tb = p->tensor_buf[t->id];
  char *text = source_excerpt(&p->spec->src, st->begin, st->end);
  /* the inputs as filled; the target poisoned unless it is read */
  for (int i = 0; i < p->nbufs; i++) memcpy(b->buf[i], pristine[i], b->bytes[i]);
  int prev = !st->builtin && reads_prev(st->rhs);
  if (!prev) poison(b, tb);
  for (int i = 0; i < p->nbufs; i++)
    if (is_scratch(p, i)) poison(b, i);
  for (int64_t i = 0; i < buffer_elems(p->bufs[p->status_buf], b->n); i++) buf_set(b, p->status_buf, i, INT32_MAX);
  for (int k = 0; k < sk->nkernels; k++) {
    if (!c->split || p->kernels[sk->kernels[k]]->launch != LAUNCH_ITEMS) {
      cg_run_kernel(jit, b, sk->kernels[k]);
      continue;
    }
    /* the parallel loop in three pieces, the last first: work items must
     * not depend on the order they run in or on starting at 0 */
    int64_t count = kernel_count(p->kernels[sk->kernels[k]], b->n);
    int64_t cut1 = count / 3, cut2 = count - count / 4;
    HostKernelFn fn = host_jit_kernel(jit, sk->kernels[k]);
    fn(b->args, cut2, count);
    fn(b->args, cut1, cut2);
    fn(b->args, 0, cut1);
  }

  int64_t n = ref_tensor_elems(ri, t);
  int64_t arg_ext = ref_arg_extent(ri, st);
  RefOutput ro = {.value = calloc((size_t)n, sizeof(double)), .scale = calloc((size_t)n, sizeof(double))};
  if (arg_ext) {
    ro.cand = calloc((size_t)(n * arg_ext), sizeof(double));
    ro.cand_scale = calloc((size_t)(n * arg_ext), sizeof(double));
  }
  char *err = NULL;
  if (ref_eval(ri, st, &ro, &err)) {
    fail_msg(c, text, "the reference has no value: %s", err);
    free(err);
    goto done;
  }
  if (buffer_elems(p->bufs[tb], b->n) != n) {
    fail_msg(c, text, "target buffer holds %lld elements, the tensor %lld", (long long)buffer_elems(p->bufs[tb], b->n),
             (long long)n);
    goto done;
  }
  int f32 = c->real == LT_F32;
  double tol = f32 ? 1e-5 : 1e-12, u = f32 ? 0x1p-24 : 0x1p-53, tiny = f32 ? FLT_MIN : DBL_MIN;
  int nd = t->rank;
  int64_t dd = nd >= 2 ? ri->sizes[t->dims[nd - 1]] : 1;
  Structure sr = nd >= 2 ? t->structure : ST_NONE;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double out = buf_get(b, tb, i), ref = ro.value[i], sc = ro.scale[i];
    if (t->elem == VT_INT) {
      if (out == ref) continue;
      int near_tie = 0;
      if (arg_ext && out >= 0 && out < arg_ext && out == floor(out)) {
        int64_t o = (int64_t)out, r = (int64_t)ref;
        double *cv = ro.cand + i * arg_ext, *cs = ro.cand_scale + i * arg_ext;
        double gap = st->rhs->op == R_ARGMAX ? cv[r] - cv[o] : cv[o] - cv[r];
        /* an exact tie in the reference must go to the first index, as the
         * semantics say; a near-tie within rounding may go either way */
        near_tie = cv[o] != cv[r] && gap <= tol * (cs[r] + cs[o]) + tiny;
        if (near_tie) {
          g_ties++;
          printf("note: %s %s N=%lld: %s: element %lld: label %lld instead of %lld, a near-tie (values %.17g and "
                 "%.17g)\n",
                 c->model, f32 ? "float32" : "float64", (long long)c->n, text, (long long)i, (long long)o, (long long)r,
                 cv[o], cv[r]);
        }
      }
      if (!near_tie && bad++ < 3)
        fail_msg(c, text, "element %lld: label %.17g, reference %.17g", (long long)i, out, ref);
      continue;
    }
    int64_t row = (i / dd) % dd, col = i % dd;
    int zero = (sr == ST_UPPER && row > col) || (sr == ST_LOWER && row < col) || (sr == ST_DIAGONAL && row != col);
    if (zero) {
      if (out != 0.0 && bad++ < 3)
        fail_msg(c, text, "element %lld [.., %lld, %lld] is outside the %s triangle: %.17g, expected exactly 0",
                 (long long)i, (long long)row, (long long)col, structure_names[sr], out);
      continue;
    }
    double errv = fabs(out - ref);
    int ok;
    if (isnan(out) || isnan(ref))
      ok = 0;
    else if (isinf(ref) || isinf(out))
      ok = out == ref;
    else
      ok = errv <= tol * sc + tiny;
    if (ok && sc > 0 && !isinf(ref)) {
      double ratio = errv / (u * sc);
      if (ratio > g_worst[!f32]) {
        g_worst[!f32] = ratio;
        free((void *)g_worst_where[!f32]);
        char buf[256];
        snprintf(buf, sizeof buf, "%s M=%lld D=%lld N=%lld: %s", c->model, (long long)c->m, (long long)c->d,
                 (long long)c->n, text);
        g_worst_where[!f32] = strdup(buf);
      }
    }
    if (!ok && bad++ < 3)
      fail_msg(c, text, "element %lld: %.17g, reference %.17g, |error| %.3g > %.3g (tol %g x scale %.3g + %.3g)%s",
               (long long)i, out, ref, errv, tol * sc + tiny, tol, sc, tiny,
               isnan(out) ? " (NaN: not written, or computed from a value not written)" : "");
  }
  if (bad > 3) fail_msg(c, text, "... %d elements wrong in all", bad);
  g_elems += n;
  /* nothing else changed */
  for (int i = 0; i < p->nbufs; i++) {
    if (i == tb || is_scratch(p, i) || i == p->status_buf) continue;
    if (memcmp(b->buf[i], pristine[i], b->bytes[i]) != 0)
      fail_msg(c, text, "its kernels changed buffer '%s', which the statement does not assign", p->bufs[i]->name);
  }
  for (int64_t i = 0; i < buffer_elems(p->bufs[p->status_buf], b->n); i++)
    if (buf_get(b, p->status_buf, i) != INT32_MAX)
      fail_msg(c, text, "status slot %lld is %.0f after positive definite input (expected INT32_MAX: no failure)",
               (long long)i, buf_get(b, p->status_buf, i));
done:
  g_stmts++;
  free(ro.value);
  free(ro.scale);
  free(ro.cand);
  free(ro.cand_scale);
  free(text);
}

/* A builtin on input that is not positive definite: one matrix (or variance)
 * is replaced by a negated copy; the statement's status slot must then hold
 * the leading index of that matrix (or element) in its tensor, as
 * compiler/builtins.c documents (0 without a leading axis), every other
 * matrix must come out as before, bit for bit, and the failing one finite
 * (the builtin keeps going without NaN). */
static void check_builtin_failure(const Case *c, const HostJit *jit, Bufs *b, void **pristine, Rng *r,
                                  const StmtKernels *sk) {
  const Program *p = b->p;
  const Stmt *st = sk->stmt;
  const Tensor *in = st->rhs->args[0]->tensor, *t = st->targets[0].tensor;
  int ib = p->tensor_buf[in->id], tb = p->tensor_buf[t->id];
  char *text = source_excerpt(&p->spec->src, st->begin, st->end);
  int slot = -1;
  for (int i = 0; i < p->nbuiltins; i++)
    if (strcmp(p->builtins[i].target, t->name) == 0) slot = i;
  int matrix_axes = st->builtin == BI_PRECISION_CHOLESKY ? 2 : 0;
  int64_t block = 1;
  for (int a = in->rank - matrix_axes; a < in->rank; a++) block *= p->size_values[in->dims[a]];
  int64_t total = buffer_elems(p->bufs[ib], b->n), nblocks = total / block;
  int64_t lead = in->rank > matrix_axes ? p->size_values[in->dims[0]] : 1; /* leading (component) axis */
  if (slot < 0) {
    fail_msg(c, text, "no status slot names '%s'", t->name);
    goto done;
  }
  int64_t bad = cg_int(r, 0, nblocks - 1);
  int64_t expect = in->rank > matrix_axes ? bad / (nblocks / lead) : 0;
  /* the good output first */
  for (int i = 0; i < p->nbufs; i++) memcpy(b->buf[i], pristine[i], b->bytes[i]);
  for (int k = 0; k < sk->nkernels; k++) cg_run_kernel(jit, b, sk->kernels[k]);
  void *good = malloc(b->bytes[tb] + 1);
  memcpy(good, b->buf[tb], b->bytes[tb]);
  for (int i = 0; i < p->nbufs; i++) memcpy(b->buf[i], pristine[i], b->bytes[i]);
  for (int64_t i = bad * block; i < (bad + 1) * block; i++) buf_set(b, ib, i, -buf_get(b, ib, i));
  poison(b, tb);
  for (int i = 0; i < p->nbufs; i++)
    if (is_scratch(p, i)) poison(b, i);
  int64_t nslots = buffer_elems(p->bufs[p->status_buf], b->n);
  for (int64_t i = 0; i < nslots; i++) buf_set(b, p->status_buf, i, INT32_MAX);
  for (int k = 0; k < sk->nkernels; k++) cg_run_kernel(jit, b, sk->kernels[k]);
  for (int64_t i = 0; i < nslots; i++) {
    double got = buf_get(b, p->status_buf, i), want = i == slot ? (double)expect : INT32_MAX;
    if (got != want)
      fail_msg(c, text, "input block %lld negated (not positive definite): status slot %lld is %.0f, expected %.0f",
               (long long)bad, (long long)i, got, want);
  }
  int64_t tblock = buffer_elems(p->bufs[tb], b->n) / nblocks;
  size_t es = ltype_size(p->bufs[tb]->elem);
  for (int64_t m = 0; m < nblocks; m++) {
    if (m == bad) {
      for (int64_t i = m * tblock; i < (m + 1) * tblock; i++)
        if (!isfinite(buf_get(b, tb, i))) {
          fail_msg(c, text, "input block %lld negated: output element %lld is %g, not finite", (long long)bad,
                   (long long)i, buf_get(b, tb, i));
          break;
        }
    } else if (memcmp((char *)b->buf[tb] + (size_t)(m * tblock) * es, (char *)good + (size_t)(m * tblock) * es,
                      (size_t)tblock * es) != 0) {
      fail_msg(c, text, "input block %lld negated: block %lld of the output changed", (long long)bad, (long long)m);
    }
  }
  free(good);
  g_failure_runs++;
done:
  free(text);
}

static void run_case(Case *c, const Program *p, const HostJit *jit, const unsigned *flags) {
  Rng r;
  cg_rng(&r, g_seed, c->case_seed[0], c->case_seed[1], c->case_seed[2], c->case_seed[3]);
  const Spec *s = p->spec;
  Bufs b;
  bufs_alloc(&b, p, c->n);
  for (int i = 0; i < s->scalars.len; i++) b.scalars[i] = cg_uniform(&r, 0.1, 1.0);
  bufs_args(&b);
  for (int i = 0; i < s->tensors.len; i++) fill_tensor(&r, &b, spec_tensor(s, i), flags[i]);
  if (p->init_labels_buf >= 0) {
    int64_t m = label_range(p);
    for (int64_t i = 0; i < c->n; i++) buf_set(&b, p->init_labels_buf, i, (double)cg_int(&r, 0, m - 1));
  }
  void **pristine = calloc((size_t)p->nbufs + 1, sizeof(void *));
  for (int i = 0; i < p->nbufs; i++) {
    pristine[i] = malloc(b.bytes[i] + 1);
    memcpy(pristine[i], b.buf[i], b.bytes[i]);
  }
  /* the reference's inputs: every tensor as filled, in double */
  double **tens = calloc((size_t)s->tensors.len + 1, sizeof(double *));
  int64_t *sizes = calloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  for (int i = 0; i < s->sizes.len; i++) sizes[i] = p->size_values[i];
  RefInput ri = {.spec = s,
                 .sizes = sizes,
                 .n_total = c->n,
                 .eps = c->real == LT_F32 ? 0x1p-23 : 0x1p-52,
                 .tensors = tens,
                 .scalars = b.scalars};
  for (int i = 0; i < s->tensors.len; i++) {
    int id = p->tensor_buf[i];
    int64_t n = ref_tensor_elems(&ri, spec_tensor(s, i));
    tens[i] = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t k = 0; k < n; k++) tens[i][k] = buf_get(&b, id, k);
  }
  for (int i = 0; i < p->nstmts; i++) {
    check_statement(c, jit, &b, pristine, &ri, &p->stmt_kernels[i]);
    if (p->stmt_kernels[i].stmt->builtin) check_builtin_failure(c, jit, &b, pristine, &r, &p->stmt_kernels[i]);
  }
  g_cases++;
  for (int i = 0; i < s->tensors.len; i++) free(tens[i]);
  free(tens);
  free(sizes);
  for (int i = 0; i < p->nbufs; i++) free(pristine[i]);
  free(pristine);
  bufs_free(&b);
}

static void run_spec(int si, const char *name, const char *file, const char *text, size_t len) {
  static const int64_t md[][2] = {{1, 1}, {2, 3}, {5, 7}, {16, 24}};
  for (int zi = 0; zi < 4; zi++)
    for (int ri = 0; ri < 2; ri++) {
      LType real = ri ? LT_F64 : LT_F32;
      Spec *s = cg_load(file, text, len);
      unsigned *flags = tensor_flags(s);
      char *err = NULL;
      Program *p = cg_lower(s, (const char *[]){"M", "D"}, md[zi], 2, &(LowerOptions){.real = real, .host = 1}, &err);
      Case c = {.model = name, .m = md[zi][0], .d = md[zi][1], .real = real};
      if (!p) {
        fail_msg(&c, "lower_program", "%s", err);
        free(err);
        free(flags);
        continue;
      }
      HostJit *jit = host_jit_create(p, getenv("GMMC_HOST_CPU"), NULL, 0, NULL, NULL, &err);
      if (!jit) {
        fail_msg(&c, "host_jit_create", "%s", err);
        free(err);
        program_free(p);
        free(flags);
        continue;
      }
      int64_t ns[] = {1, 7, 1000, 3 * (int64_t)p->chunks + 1};
      for (int ni = 0; ni < 4; ni++) {
        c.n = ns[ni];
        c.split = ni == 3;
        c.case_seed[0] = (uint64_t)si;
        c.case_seed[1] = (uint64_t)zi;
        c.case_seed[2] = (uint64_t)ri;
        c.case_seed[3] = (uint64_t)ni;
        run_case(&c, p, jit, flags);
      }
      host_jit_free(jit);
      program_free(p);
      free(flags);
    }
}

/* Arguments: model names of shipped specs, or paths of spec files (*.yaml);
 * none: every shipped spec. */
int main(int argc, char **argv) {
  g_seed = cg_seed("codegen_statements");
  for (int a = 1; a < argc; a++) {
    size_t l = strlen(argv[a]);
    if (l > 5 && strcmp(argv[a] + l - 5, ".yaml") == 0) {
      char *err = NULL;
      size_t len;
      char *text = read_file(argv[a], &len, &err);
      if (!text) {
        printf("FAIL: %s\n", err);
        return 1;
      }
      run_spec(100 + a, argv[a], argv[a], text, len);
      free(text);
    }
  }
  for (int si = 0; si < shipped_spec_count; si++) {
    const ShippedSpec *ss = &shipped_specs[si];
    int wanted = argc == 1;
    for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], ss->name) == 0;
    if (wanted) run_spec(si, ss->name, ss->file, ss->text, ss->len);
  }
  printf("codegen_statements: %lld cases, %lld statement runs, %lld elements compared, %lld near-tie labels, "
         "%lld builtin runs on input that is not positive definite, %d failures\n",
         g_cases, g_stmts, g_elems, g_ties, g_failure_runs, g_fail);
  for (int k = 0; k < 2; k++)
    if (g_worst_where[k])
      printf("  largest error, %s: %.1f u x scale (u = %s; tolerance %s) at %s\n", k ? "float64" : "float32",
             g_worst[k], k ? "2^-53" : "2^-24", k ? "1e-12 = 9007 u" : "1e-5 = 168 u", g_worst_where[k]);
  if (g_fail) printf("FAILED (GMMC_TEST_SEED=%llu replays this run)\n", (unsigned long long)g_seed);
  return g_fail ? 1 : 0;
}
