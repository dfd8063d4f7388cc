/* Every GPU code variant of every shipped spec, executed without a GPU by the
 * lockstep executor (simt.h), against the simple variant of the same unit on
 * the same fresh random inputs — what GMMC_VERIFY_VARIANTS does on a device,
 * here in CI. Every kernel of the program also runs once under the
 * executor's memory and race checks (bounds, barriers, shuffles).
 *
 * Sizes are chosen to break assumptions: feature counts that do not divide
 * a block (5, 19), event counts below one tile and not a multiple of any
 * block (37, 1237).
 *
 *   test_variants [SPEC M D N float32|float64|3xtf32|tf32|float64-stats]...   (default: the built-in list;
 *       3xtf32, tf32, float64-stats: float32 data under that precision)
 *   test_variants --part K/N    the built-in list's cases K, K+N, K+2N, ...
 *       (counting from 1; the seed's drawn sizes after the list), so that
 *       ctest runs the list in N tests of bounded time (under ASan too)
 *
 * SPEC: a shipped spec's name or a spec file (other sizes than M and D get 1);
 * "+w" after it: the program for per-event weights; "+u": lowered without
 * fusion groups (as fits lower by default). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "compiler/fuse.h"
#include "dsl/shipped.h"
#include "simt.h"

typedef struct {
  const char *spec;
  int64_t m, d, n;
  LType real;
  Precision precision; /* float32 unless given: 3xtf32 and tf32 add the tensor-core variants */
  int weighted;        /* the program for per-event weights (a spec name ending in "+w" on the command line) */
  int unfused;         /* lowered without fusion groups, as fits lower by default: the units side by side
                          in stacked runs (merge_runs.h; a name ending in "+u") */
  int small_gpu;       /* lowered for a GPU of SMALL_GPU_SMS multiprocessors ("+s"): grids sized to one
                          wave give each block a slice of many chunks (the staging's double buffers) */
} Case;

enum { SMALL_GPU_SMS = 2 };

static const Case default_cases[] = {
    {"full", 3, 5, 1237, LT_F32},
    {"full", 8, 19, 1000, LT_F32},
    {"full", 4, 33, 300, LT_F32},
    {"full", 2, 3, 37, LT_F64},
    {"full", 5, 19, 700, LT_F64},
    {"diag", 3, 5, 1237, LT_F32},
    {"diag", 16, 19, 1000, LT_F32},
    {"diag", 5, 64, 500, LT_F32},
    {"diag", 4, 7, 300, LT_F64},
    {"spherical", 3, 5, 1237, LT_F32},
    {"spherical", 9, 19, 600, LT_F64},
    {"tied", 3, 5, 1237, LT_F32},
    {"tied", 6, 19, 800, LT_F64},
    {"kmeans", 4, 5, 1237, LT_F32},
    {"kmeans", 33, 19, 600, LT_F32},
    /* D > 64: the balanced E-step in strips, cholesky-block's global form */
    {"full", 2, 80, 9, LT_F32},
    /* D past whole rows in shared memory: the staged map in strips (a short last one) */
    {"diag", 33, 150, 300, LT_F32},
    {"diag", 5, 100, 200, LT_F64},
    {"full", 3, 21, 400, LT_F32, PRECISION_TF32},
    /* the 3xTF32 tensor-core E-step and scatter, asked for */
    {"full", 8, 19, 1000, LT_F32, PRECISION_3XTF32},
    {"full", 4, 33, 300, LT_F32, PRECISION_3XTF32},
    {"tied", 3, 5, 1237, LT_F32, PRECISION_3XTF32},
    /* the polynomial sums on the tensor cores, asked for: shifted squares, strips, linear forms */
    {"diag", 16, 19, 1000, LT_F32, PRECISION_3XTF32},
    /* per-event weights read where used (fused groups too), on both forms */
    {"diag", 16, 19, 700, LT_F32, PRECISION_FLOAT32, 1},
    {"diag", 16, 19, 700, LT_F32, PRECISION_3XTF32, 1},
    {"diag", 33, 150, 300, LT_F32, PRECISION_TF32},
    {"kmeans", 33, 19, 600, LT_F32, PRECISION_3XTF32},
    {"spherical", 3, 5, 1237, LT_F32, PRECISION_TF32},
    {"bernoulli", 5, 19, 700, LT_F32, PRECISION_3XTF32},
    /* the M-step sums' blocks of 64 and 128 components (8 warps, one column tile each) */
    {"diag", 130, 64, 300, LT_F32, PRECISION_3XTF32},
    /* float64 statistics on float32 data (a float32 fit's fallback): the variants that remain */
    {"full", 4, 33, 300, LT_F32, PRECISION_STATS64},
    {"diag", 5, 19, 500, LT_F32, PRECISION_STATS64},
    /* no fusion groups: the stacked runs of sums over events (partials and warp combines side by side) */
    {"full", 3, 5, 1237, LT_F32, PRECISION_FLOAT32, 0, 1},
    {"diag", 16, 19, 1000, LT_F64, PRECISION_FLOAT32, 0, 1},
    {"kmeans", 33, 19, 600, LT_F32, PRECISION_FLOAT32, 0, 1},
    {"spherical", 9, 19, 600, LT_F32, PRECISION_FLOAT32, 1, 1},
    {"tied", 6, 19, 800, LT_F32, PRECISION_3XTF32, 0, 1},
    /* a two-multiprocessor GPU: slices of many chunks, staged double-buffered by asynchronous copies */
    {"full", 8, 19, 3000, LT_F32, PRECISION_FLOAT32, 0, 0, 1},
    {"full", 5, 33, 2000, LT_F32, PRECISION_FLOAT32, 1, 0, 1},
    {"full", 4, 33, 2000, LT_F32, PRECISION_3XTF32, 0, 0, 1},
};

static const char *case_type(const Case *c) {
  return c->precision == PRECISION_TF32      ? "tf32"
         : c->precision == PRECISION_3XTF32  ? "3xtf32"
         : c->precision == PRECISION_STATS64 ? "float32, float64-stats"
         : c->real == LT_F32                 ? "float32"
                                             : "float64";
}

static int failures;

static void fail_case(const Case *c, const char *fmt, const char *a, const char *b) {
  printf("  FAIL: %s%s%s%s M=%lld D=%lld N=%lld %s: ", c->spec, c->weighted ? "+w" : "", c->unfused ? "+u" : "",
         c->small_gpu ? "+s" : "", (long long)c->m, (long long)c->d, (long long)c->n, case_type(c));
  printf(fmt, a, b);
  printf("\n");
  failures++;
}

/* Zeroes the structurally zero part of a parameter (its last two axes), as
 * the builtins that produce such tensors leave it. */
static int structurally_zero(const Buffer *b, int64_t flat) {
  if (!b->tensor || b->rank < 2) return 0;
  int64_t cols = b->dims[b->rank - 1], rows = b->dims[b->rank - 2];
  int64_t j = flat % cols, i = (flat / cols) % rows;
  switch (b->tensor->structure) {
  case ST_UPPER: return i > j;
  case ST_LOWER: return i < j;
  case ST_DIAGONAL: return i != j;
  default: return 0;
  }
}

/* Symmetric matrices (covariances) positive definite: B Bᵀ / D + I. */
static void fill_spd(SimVal *v, int64_t elems, int64_t dim, LType elem, Rng *r) {
  double *b = malloc(sizeof(double) * (size_t)(dim * dim));
  for (int64_t m0 = 0; m0 + dim * dim <= elems; m0 += dim * dim) {
    for (int64_t i = 0; i < dim * dim; i++) b[i] = cg_uniform(r, -1, 1);
    for (int64_t i = 0; i < dim; i++)
      for (int64_t j = 0; j < dim; j++) {
        double a = i == j;
        for (int64_t k = 0; k < dim; k++) a += b[i * dim + k] * b[j * dim + k] / (double)dim;
        v[m0 + i * dim + j].f = elem == LT_F32 ? (double)(float)a : a;
      }
  }
  free(b);
}

static void fill(Sim *s, Rng *r) {
  const Program *p = s->p;
  for (int b = 0; b < p->nbufs; b++) {
    const Buffer *bf = p->bufs[b];
    if (bf->tensor && bf->tensor->structure == ST_SYMMETRIC && bf->rank >= 2 && ltype_is_float(bf->elem) &&
        bf->dims[bf->rank - 1] == bf->dims[bf->rank - 2]) {
      fill_spd(s->buf[b], s->elems[b], bf->dims[bf->rank - 1], bf->elem, r);
      continue;
    }
    for (int64_t j = 0; j < s->elems[b]; j++) {
      SimVal *v = &s->buf[b][j];
      if (!ltype_is_float(bf->elem)) {
        v->i = bf->kind == BK_STATUS ? INT32_MAX : 0;
        continue;
      }
      int weight = bf->tensor && bf->tensor == p->spec->weights; /* weights are positive */
      double lo = bf->kind == BK_DATA && !weight ? -2
                  : bf->kind == BK_EVENT         ? 0.05
                                                 : 0.5,
             hi = bf->kind == BK_DATA && !weight ? 2 : 1.5;
      v->f = structurally_zero(bf, j) ? 0 : cg_uniform(r, lo, hi);
      if (bf->elem == LT_F32) v->f = (double)(float)v->f;
    }
  }
}

typedef struct {
  SimVal **v;
} Snap;

static void snap_take(const Sim *s, Snap *sn) {
  sn->v = calloc((size_t)s->p->nbufs + 1, sizeof *sn->v);
  for (int b = 0; b < s->p->nbufs; b++) {
    sn->v[b] = malloc(sizeof(SimVal) * (size_t)(s->elems[b] + 1));
    memcpy(sn->v[b], s->buf[b], sizeof(SimVal) * (size_t)s->elems[b]);
  }
}

static void snap_restore(Sim *s, const Snap *sn) {
  for (int b = 0; b < s->p->nbufs; b++) memcpy(s->buf[b], sn->v[b], sizeof(SimVal) * (size_t)s->elems[b]);
}

static void snap_free(const Sim *s, Snap *sn) {
  for (int b = 0; b < s->p->nbufs; b++) free(sn->v[b]);
  free(sn->v);
}

/* The kernels before kernel k in the alternative that holds it. */
static int kernels_before(const Program *p, int k, int *out, int cap) {
  for (int u = 0; u < p->nunits; u++)
    for (int a = 0; a < p->units[u].nalts; a++) {
      const Alt *alt = &p->units[u].alts[a];
      for (int i = 0; i < alt->nkernels; i++)
        if (alt->kernels[i] == k) {
          int n = i < cap ? i : cap;
          for (int j = 0; j < n; j++) out[j] = alt->kernels[j];
          return n;
        }
    }
  return 0;
}

static int run_alt(Sim *s, const Alt *a) {
  int ks[256], n = alt_kernel_list(s->p, a, NULL, ks, 256);
  for (int i = 0; i < n; i++)
    if (sim_run_kernel(s, ks[i])) return -1;
  return 0;
}

/* The largest difference to the reference, relative to its largest
 * magnitude, or where scale (optional, per element) is larger, to that. */
static double difference(const SimVal *ref, const SimVal *got, const double *scale, int64_t n, int64_t *at) {
  double big = 0, worst = 0;
  for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(ref[i].f));
  *at = 0;
  for (int64_t i = 0; i < n; i++) {
    /* a NaN where the reference has one is the reference's value (random
     * inputs can give a statement a NaN: log of a negative) */
    int same = got[i].f == ref[i].f || (isnan(got[i].f) && isnan(ref[i].f));
    double by = scale && scale[i] > big && isfinite(scale[i]) ? scale[i] : big;
    double d = same ? 0 : fabs(got[i].f - ref[i].f) / (by > 0 && isfinite(by) ? by : 1);
    if (!(d <= worst)) {
      worst = isnan(d) ? INFINITY : d;
      *at = i;
    }
  }
  return worst;
}

/* Zeroes the per-chunk partial buffers before a reference run, so that
 * what it leaves there is what it wrote (stat_scale reads them). */
static void zero_partials(Sim *s) {
  for (int b = 0; b < s->p->nbufs; b++)
    if (s->p->bufs[b]->kind == BK_PARTIAL)
      for (int64_t i = 0; i < s->elems[b]; i++) s->buf[b][i].f = 0;
}

/* Per element of stat buffer b, a sum over events: the sum over chunks of
 * |partial| that the simple alternative's combine added (bufs: after its
 * run, partials zeroed before), NULL where b is no such sum. Float32 sums
 * are off by a few ulps of the sum of |terms| (in whatever order they are
 * added), not of the result: a statistic that nearly cancels, sum(n, W[n])
 * of W uniform in [-2, 2] over 129 events (-0.024 against 129), differed
 * fused against unfused by 1.01e-4 of itself. The chunks' |partials| sum to
 * at most the sum of |terms| (at these sizes a chunk is one to three
 * events: nearly it), so the bound against them is never looser than that
 * rounding allows. A symmetric result's mirror takes the computed cell's. */
static double *stat_scale(const Sim *s, SimVal *const *bufs, int b) {
  const Program *p = s->p;
  if (p->bufs[b]->kind != BK_STAT || p->bufs[b]->stat_op != R_SUM) return NULL;
  int pb = -1;
  for (int u = 0; u < p->nunits && pb < 0; u++) {
    const Alt *a = &p->units[u].alts[0];
    if (p->units[u].out_buf != b || a->nmembers || a->nkernels < 2) continue;
    for (int x = 0; x < p->nbufs; x++)
      if (p->bufs[x]->kind == BK_PARTIAL && p->kernels[a->kernels[0]]->writes[x]) pb = x;
  }
  int64_t n = s->elems[b];
  if (pb < 0 || n == 0 || s->elems[pb] % n) return NULL;
  double *scale = calloc((size_t)n, sizeof *scale);
  for (int64_t c = 0; c < s->elems[pb] / n; c++)
    for (int64_t i = 0; i < n; i++) scale[i] += fabs(bufs[pb][c * n + i].f);
  const Buffer *bf = p->bufs[b];
  int64_t dim = bf->rank >= 2 && bf->dims[bf->rank - 1] == bf->dims[bf->rank - 2] ? bf->dims[bf->rank - 1] : 0;
  for (int64_t i = 0; dim && i < n; i++) {
    int64_t m0 = i - i % (dim * dim), r = i % (dim * dim) / dim, c = i % dim;
    if (scale[i] == 0) scale[i] = scale[m0 + c * dim + r];
  }
  return scale;
}

/* The tensor-core variants' own bounds (variants_mma.c): 3xTF32 claims
 * float32 accuracy, held to 1e-5 (the FFMA variants and it agree with the
 * simple one within 4e-7 here; one TF32 product would be off by 1e-4 and
 * more); one TF32 product (precision tf32) rounds each operand to 11
 * significant bits, 2^-11 relative, so a product of two is off by 2 * 2^-11
 * and the square of Y doubles that: 4 * 2^-11 of the quadratic form, and of
 * the statement's largest value, which the form dominates.
 *
 * The tensor-core scatter (variants_scatter_mma.c) sums w c_d c_e over the
 * events: under 3xTF32 each product is off by about 2^-22 (the dropped
 * small*small term) and the float32 sums over up to 128 events by 128 *
 * 2^-24 of the sum of |terms|, 7.9e-6 together, within the 1e-5 above; one
 * TF32 product rounds both factors to 11 bits, 2 * 2^-11 of each term, plus
 * the float32 sums. The sum of |terms| of S[d][e] is at most sqrt(S[d][d]
 * S[e][e]) (Cauchy-Schwarz), so the bounds hold against S's largest value.
 *
 * The polynomial sums (variants_mma_poly.c) round their terms k2 t^2 and
 * k1 t as the E-step's products are rounded, so the same bounds hold
 * against the sum of |terms|; for a (x - mu)^2 with t = x - c that is at
 * most 2 sum(a (t^2 + (mu - c)^2)); with these cases' inputs (events
 * uniform in [-2, 2], parameters in [0.5, 1.5]) it stays below the
 * statement's largest value (measured: 4.2e-7 under 3xTF32, 3.7e-4 under
 * TF32). Their sums over events (variants_mma_polysum.c) are the scatter's
 * case: float32 sums over 128 events of products off by 2^-22 (3xTF32) or
 * 2 * 2^-11 (TF32) each, then k2 S2 + k1 S1 + k0 S0 in float64 (measured:
 * 2.2e-7 and 3.3e-4 of the largest value). */
static double variant_tolerance(const char *variant, double tol) {
  /* the fused kernels on the tensor cores (variants_fused_mma.c): their L
   * is the polynomial map's, R = exp(L - lse) and the sums follow from it
   * and from the polynomial sums' products; under 3xTF32 the float32
   * tolerance of fused against unfused holds (measured: 0 failures at 1e-4),
   * under TF32 the map's bound, 4 * 2^-11 of L's magnitude, which
   * compare_sequences carries through exp into the sums (a soak found one
   * sum 1.97e-3 off at D = 150, past 4 * 2^-11 itself) */
  if (strncmp(variant, "fused-mma-tf32", 14) == 0) return 4 * ldexp(1, -11);
  if (strncmp(variant, "mma-tf32-scatter", 16) == 0) return 2 * ldexp(1, -11) + 128 * ldexp(1, -24);
  if (strncmp(variant, "mma-3xtf32", 10) == 0) return 1e-5;
  if (strncmp(variant, "mma-tf32", 8) == 0) return 4 * ldexp(1, -11);
  return tol;
}

/* The buffers a unit's alternatives must agree on: its output, or for a
 * run of small units (merge_runs.h) every member's. */
static int unit_outputs(const Program *p, const Unit *un, int *out) {
  const Alt *a = &un->alts[0];
  if (!a->nmembers) {
    out[0] = un->out_buf;
    return 1;
  }
  for (int m = 0; m < a->nmembers; m++) out[m] = p->units[a->members[m]].out_buf;
  return a->nmembers;
}

/* Runs every alternative of unit u from the snapshot and compares its
 * outputs and the status slots with the simple one's. Returns the
 * alternatives compared. */
static int compare_unit(const Case *c, Sim *s, const Snap *sn, int u, double tol) {
  const Program *p = s->p;
  const Unit *un = &p->units[u];
  /* fusion groups agree only as whole sequences (compare_sequences) */
  if (un->nalts < 2 || un->group_seq >= 0) return 0;
  int outs[16], nouts = unit_outputs(p, un, outs);
  int64_t ns = s->elems[p->status_buf];
  SimVal *ref[16], *status = malloc(sizeof(SimVal) * (size_t)(ns + 1));
  int checked = 0;
  snap_restore(s, sn);
  zero_partials(s);
  int bad = run_alt(s, &un->alts[0]);
  double *scale[16];
  for (int o = 0; o < nouts; o++) {
    int64_t n = s->elems[outs[o]];
    ref[o] = malloc(sizeof(SimVal) * (size_t)(n + 1));
    memcpy(ref[o], s->buf[outs[o]], sizeof(SimVal) * (size_t)n);
    scale[o] = stat_scale(s, s->buf, outs[o]);
  }
  if (bad) {
    fail_case(c, "%s%s", s->err, "");
    s->err[0] = 0;
  }
  memcpy(status, s->buf[p->status_buf], sizeof(SimVal) * (size_t)ns);
  for (int a = 1; a < un->nalts && !bad; a++) {
    snap_restore(s, sn);
    if (run_alt(s, &un->alts[a])) {
      fail_case(c, "%s%s", s->err, "");
      s->err[0] = 0;
      continue;
    }
    checked++;
    char what[400];
    for (int o = 0; o < nouts; o++) {
      int64_t at;
      double d = difference(ref[o], s->buf[outs[o]], scale[o], s->elems[outs[o]], &at);
      if (!(d <= variant_tolerance(un->alts[a].variant, tol))) {
        snprintf(what, sizeof what,
                 "variant '%s' of '%s' disagrees with the simple one on '%s': element %lld is %.9g, "
                 "expected %.9g (%.2e of the largest value, or of the sum of |partials| where larger)",
                 un->alts[a].variant, un->name, p->bufs[outs[o]]->name, (long long)at, s->buf[outs[o]][at].f,
                 ref[o][at].f, d);
        fail_case(c, "%s%s", what, "");
      }
    }
    for (int64_t i = 0; i < ns; i++)
      if (s->buf[p->status_buf][i].i != status[i].i) {
        snprintf(what, sizeof what, "variant '%s' of '%s' reports status %lld in slot %lld, the simple one %lld",
                 un->alts[a].variant, un->name, (long long)s->buf[p->status_buf][i].i, (long long)i,
                 (long long)status[i].i);
        fail_case(c, "%s%s", what, "");
      }
  }
  for (int o = 0; o < nouts; o++) free(ref[o]), free(scale[o]);
  free(status);
  return checked;
}

/* Runs a sequence with every fusion group's alternative `alt` (a group's
 * last where it has fewer; 0: unfused), the other units' simple ones. */
static int run_sequence(Sim *s, SeqId id, int alt) {
  const Sequence *q = &s->p->seq[id];
  for (int i = 0; i < q->len; i++) {
    if (q->steps[i].kind != STEP_UNIT) continue;
    const Unit *un = &s->p->units[q->steps[i].unit];
    int a = un->group_seq >= 0 ? (alt < un->nalts ? alt : un->nalts - 1) : 0;
    if (run_alt(s, &un->alts[a])) return -1;
  }
  return 0;
}

/* Whether label `got` of event i in buffer b (the spec's predict, an
 * argmax or argmin over a tensor [n, j]) ties with the reference's label
 * within tolerance tol of that tensor's largest value: the labels of a
 * computation within tol of the reference are determined only up to such
 * ties (one TF32 product: 4 * 2^-11 of the E-step's values). */
static int near_tie(const Sim *s, SimVal *const *ref, int b, int64_t i, int64_t got, double tol) {
  const Program *p = s->p;
  const Tensor *pt = p->spec->predict;
  if (!pt || p->bufs[b]->tensor != pt) return 0;
  for (int sec = 0; sec < SEC_COUNT; sec++)
    for (int j = 0; j < p->spec->stmts[sec].len; j++) {
      const Stmt *st = p->spec->stmts[sec].items[j];
      const Expr *r = st->rhs;
      if (st->ntargets < 1 || st->targets[0].tensor != pt) continue;
      if (r->kind != E_REDUCE || (r->op != R_ARGMAX && r->op != R_ARGMIN) || r->args[0]->kind != E_ACCESS ||
          r->args[0]->nidx != 2)
        return 0;
      const Tensor *lt = r->args[0]->tensor;
      int lb = p->tensor_buf[lt->id];
      int64_t J = p->bufs[lb]->dims[p->bufs[lb]->rank - 1], want = ref[b][i].i;
      if (got < 0 || got >= J || want < 0 || want >= J) return 0;
      double big = 0;
      if ((i + 1) * J > s->elems[lb]) return 0;
      for (int64_t e = 0; e < s->elems[lb]; e++) big = fmax(big, fabs(ref[lb][e].f));
      return fabs(ref[lb][i * J + got].f - ref[lb][i * J + want].f) <= tol * big;
    }
  return 0;
}

/* Whether alternative a of sequence id's groups takes one TF32 product. */
static int tf32_sequence(const Program *p, SeqId id, int a) {
  for (int u = 0; u < p->nunits; u++)
    if (p->units[u].group_seq == (int)id &&
        strncmp(p->units[u].alts[a < p->units[u].nalts ? a : p->units[u].nalts - 1].variant, "fused-mma-tf32", 14) == 0)
      return 1;
  return 0;
}

/* Every sequence with fusion groups, fused in each configuration, against
 * the same sequence unfused, from the same inputs. Returns the comparisons. */
static int compare_sequences(const Case *c, Sim *s, const Snap *sn, double tol) {
  const Program *p = s->p;
  int checked = 0;
  for (int id = 0; id < SEQ_COUNT; id++) {
    int alts = fuse_alternatives(p, (SeqId)id);
    if (alts < 2) continue;
    snap_restore(s, sn);
    zero_partials(s);
    if (run_sequence(s, (SeqId)id, 0)) {
      fail_case(c, "%s%s", s->err, "");
      s->err[0] = 0;
      continue;
    }
    Snap ref;
    snap_take(s, &ref);
    for (int a = 1; a < alts; a++) {
      double ta = tol; /* the sequence's groups' variants' bound */
      for (int u = 0; u < p->nunits; u++)
        if (p->units[u].group_seq == id)
          ta = fmax(
              ta, variant_tolerance(p->units[u].alts[a < p->units[u].nalts ? a : p->units[u].nalts - 1].variant, tol));
      snap_restore(s, sn);
      if (run_sequence(s, (SeqId)id, a)) {
        fail_case(c, "%s%s", s->err, "");
        s->err[0] = 0;
        continue;
      }
      checked++;
      /* responsibilities are exp(L - lse): their relative error is L's
       * absolute one, the tolerance times the log-likelihoods' magnitude */
      double scale = 1;
      const Tensor *ss = p->spec->score_samples;
      for (int64_t i = 0; ss && i < s->elems[p->tensor_buf[ss->id]]; i++)
        scale = fmax(scale, fabs(ref.v[p->tensor_buf[ss->id]][i].f));
      /* one TF32 product (fused-mma-tf32) promises the E-step's L within
       * 4 * 2^-11 of its magnitude (variants_mma_poly.c), not of the
       * float32 kind: R = exp(L - lse) is then off by up to
       * expm1(2 * 4 * 2^-11 * |L|) relative, |L| at most the
       * log-likelihoods' magnitude plus log(2^24) for the components that
       * carry weight above float32's rounding, and every sum of R-weighted
       * terms inherits that */
      double tr = ta;
      if (tf32_sequence(p, (SeqId)id, a)) tr = ta + expm1(2 * ta * (scale + 24 * log(2.0)));
      for (int b = 0; b < p->nbufs; b++) {
        if (!fuse_hands_on(p, (SeqId)id, b)) continue;
        int64_t at = 0;
        double *terms = stat_scale(s, ref.v, b);
        double d = ltype_is_float(p->bufs[b]->elem) ? difference(ref.v[b], s->buf[b], terms, s->elems[b], &at) : 0;
        free(terms);
        double lim = ta; /* of the largest value */
        if (p->bufs[b]->tensor && p->bufs[b]->tensor == p->spec->predict_proba)
          lim = ta * scale;
        else if (ltype_is_float(p->bufs[b]->elem))
          lim = tr;
        for (int64_t i = 0; !ltype_is_float(p->bufs[b]->elem) && i < s->elems[b]; i++)
          if (ref.v[b][i].i != s->buf[b][i].i && !near_tie(s, ref.v, b, i, s->buf[b][i].i, ta)) d = INFINITY, at = i;
        if (!(d <= lim)) {
          char what[300];
          snprintf(what, sizeof what,
                   "sequence %d fused (alternative %d) disagrees with it unfused on '%s': element %lld is %.9g, "
                   "expected %.9g (%.2e of the largest value, or of the sum of |partials| where larger; allowed %.2e)",
                   id, a, p->bufs[b]->name, (long long)at, s->buf[b][at].f, ref.v[b][at].f, d, lim);
          fail_case(c, "%s%s", what, "");
          break;
        }
      }
    }
    snap_free(s, &ref);
  }
  return checked;
}

/* Makes the last matrix of every symmetric buffer indefinite. */
static int break_symmetric(Sim *s) {
  int broke = 0;
  for (int b = 0; b < s->p->nbufs; b++) {
    const Buffer *bf = s->p->bufs[b];
    if (!bf->tensor || bf->tensor->structure != ST_SYMMETRIC || bf->rank < 2 || !ltype_is_float(bf->elem)) continue;
    int64_t dim = bf->dims[bf->rank - 1];
    s->buf[b][s->elems[b] - dim * dim].f = -1; /* its [0, 0] */
    broke = 1;
  }
  return broke;
}

static void check_case(const Case *c, uint64_t seed, int index) {
  const ShippedSpec *ss = shipped_spec(c->spec);
  Spec *spec;
  if (ss) {
    spec = cg_load(ss->file, ss->text, ss->len);
  } else { /* a spec file */
    size_t len;
    char *ferr = NULL, *text = read_file(c->spec, &len, &ferr);
    if (!text) {
      fail_case(c, "%s%s", ferr ? ferr : "cannot read the spec", "");
      free(ferr);
      return;
    }
    spec = cg_load(c->spec, text, len);
    free(text);
  }
  char *err = NULL;
  TargetDesc gpu = target_desc_gpu_default();
  if (c->small_gpu) gpu.sm_count = SMALL_GPU_SMS;
  Program *p = cg_lower(spec, (const char *[]){"M", "D"}, (const int64_t[]){c->m, c->d}, 2,
                        &(LowerOptions){.real = c->real,
                                        .precision = c->precision,
                                        .variants = 1,
                                        .fuse = !c->unfused,
                                        .weighted = c->weighted,
                                        .target = gpu},
                        &err);
  if (!p) {
    fail_case(c, "lowering failed: %s%s", err ? err : "?", "");
    free(err);
    return;
  }
  Sim s;
  sim_init(&s, p, c->n);
  Rng r;
  cg_rng(&r, seed, (uint64_t)index, (uint64_t)c->m, (uint64_t)c->d, (uint64_t)c->n);
  fill(&s, &r);
  Snap sn;
  snap_take(&s, &sn);
  int checked = 0, kernels = 0;
  /* 1. memory and race checks of every kernel, on the same inputs, after
   * the kernels before it in its alternative (what they write it may read:
   * a fused kernel's coefficients) */
  for (int k = 0; k < p->nkernels; k++) {
    snap_restore(&s, &sn);
    int before[256], nb = kernels_before(p, k, before, 256), failed = 0;
    for (int i = 0; i <= nb && !failed; i++)
      if (sim_run_kernel(&s, i < nb ? before[i] : k)) {
        fail_case(c, "%s%s", s.err, "");
        s.err[0] = 0;
        failed = 1;
      }
    kernels++;
  }
  /* 2. every alternative against the simple one */
  double tol = c->real == LT_F32 ? 1e-4 : 1e-10;
  /* float64 statistics: a sum over events is float64 terms in float64 sums
   * in every alternative, so it is held to float64's bound */
  for (int u = 0; u < p->nunits; u++)
    checked +=
        compare_unit(c, &s, &sn, u,
                     c->precision == PRECISION_STATS64 && p->bufs[p->units[u].out_buf]->kind == BK_STAT ? 1e-10 : tol);
  checked += compare_sequences(c, &s, &sn, tol);
  /* 3. the failure path of the builtins: the last symmetric matrix made
   * indefinite; every alternative must report the same component */
  if (break_symmetric(&s)) {
    snap_free(&s, &sn);
    snap_take(&s, &sn);
    for (int u = 0; u < p->nunits; u++) {
      /* a unit's simple kernels, or a run's members' (merge_runs.h) */
      int ks[256], nk = alt_kernel_list(p, &p->units[u].alts[0], NULL, ks, 256), reports = 0;
      for (int i = 0; i < nk; i++) reports |= p->kernels[ks[i]]->writes[p->status_buf];
      if (reports) checked += compare_unit(c, &s, &sn, u, tol);
    }
  }
  printf("  %-9s M=%-3lld D=%-3lld N=%-5lld %s%s%s%s: %d kernels run, %d variants compared\n", c->spec, (long long)c->m,
         (long long)c->d, (long long)c->n, case_type(c), c->weighted ? ", weighted" : "", c->unfused ? ", unfused" : "",
         c->small_gpu ? ", two multiprocessors" : "", kernels, checked);
  fflush(stdout);
  snap_free(&s, &sn);
  sim_free(&s);
  program_free(p);
}

/* ---- the executor's own checks must fire: small kernels with known faults ---- */

typedef enum {
  RACE,
  SYNCED,
  SHARED_OOB,
  DIVERGENT_SYNC,
  SHUFFLE_INACTIVE,
  CROSS_BLOCK,
  COPY_LANDED,    /* an asynchronous copy, waited for, then a barrier: fine */
  COPY_IN_FLIGHT, /* read before the wait */
  COPY_UNWAITED,  /* never waited for */
  COPY_RACE       /* issued over an element another lane read in the same epoch */
} Fault;

static Kernel *fault_kernel(Program *p, Fault f, int stat_buf) {
  static const char *names[] = {"race",        "synced",      "shared_oob",     "divergent_sync", "shuffle_inactive",
                                "cross_block", "copy_landed", "copy_in_flight", "copy_unwaited",  "copy_race"};
  Kernel *k = program_add_kernel(p, names[f]);
  k->launch = LAUNCH_GRID;
  k->grid[0] = lx_int(p, f == CROSS_BLOCK ? 2 : 1);
  k->grid[1] = k->grid[2] = lx_int(p, 1);
  k->block[0] = 64;
  k->block[1] = 1;
  int tid = kernel_var(p, k, "tid", LT_I64), v = kernel_var(p, k, "v", LT_F64);
  int sh = kernel_shared(p, k, "sh", LT_F64, 64);
  LStmt *b = k->body;
  ls_append(p, b, ls_assign(p, tid, lx_sreg(p, SR_TID_X)));
  LExpr *me = lx_cast(p, LT_F64, lx_var(p, k, tid));
  LExpr *at = f == SHARED_OOB ? lx_binary(p, LB_ADD, lx_var(p, k, tid), lx_int(p, 1)) : lx_var(p, k, tid);
  ls_append(p, b, ls_sstore(p, k, sh, at, me));
  LStmt *half = ls_block(p);
  ls_append(p, b, ls_if(p, lx_binary(p, LB_LT, lx_var(p, k, tid), lx_int(p, 16)), half, NULL));
  if (f == SYNCED || f == SHARED_OOB) ls_append(p, b, ls_sync(p));
  if (f == DIVERGENT_SYNC) ls_append(p, half, ls_sync(p));
  if (f == SHUFFLE_INACTIVE) ls_append(p, half, ls_assign(p, v, lx_shfl_xor(p, me, 16)));
  if (f == RACE || f == SYNCED || f == SHARED_OOB) {
    LExpr *next = lx_binary(p, LB_REM, lx_binary(p, LB_ADD, lx_var(p, k, tid), lx_int(p, 1)), lx_int(p, 64));
    ls_append(p, b, ls_assign(p, v, lx_sload(p, k, sh, next)));
  }
  const Buffer *bf = p->bufs[stat_buf];
  LExpr **idx = arena_alloc(&p->arena, sizeof *idx * (size_t)(bf->rank + 1));
  for (int a = 0; a < bf->rank; a++) idx[a] = lx_int(p, 0);
  if (f == CROSS_BLOCK) ls_append(p, b, ls_store(p, stat_buf, idx, lx_cast(p, LT_F64, lx_sreg(p, SR_CTAID_X))));
  if (f >= COPY_LANDED) {
    LExpr *next = lx_binary(p, LB_REM, lx_binary(p, LB_ADD, lx_var(p, k, tid), lx_int(p, 1)), lx_int(p, 64));
    ls_append(p, b, ls_sync(p));
    if (f == COPY_RACE) ls_append(p, b, ls_assign(p, v, lx_sload(p, k, sh, next)));
    LExpr *half_lanes = lx_binary(p, LB_LT, lx_var(p, k, tid), lx_int(p, 32)); /* the others copy zeros */
    ls_append(p, b, ls_copy_async(p, k, sh, lx_var(p, k, tid), lx_load(p, stat_buf, idx), half_lanes));
    ls_append(p, b, ls_copy_commit(p));
    if (f == COPY_IN_FLIGHT) ls_append(p, b, ls_assign(p, v, lx_sload(p, k, sh, next)));
    if (f != COPY_UNWAITED) ls_append(p, b, ls_copy_wait(p, 0));
    ls_append(p, b, ls_sync(p));
    if (f == COPY_LANDED) ls_append(p, b, ls_assign(p, v, lx_sload(p, k, sh, next)));
  }
  return k;
}

static void executor_self_checks(void) {
  static const char *expect[] = {
      "no barrier between", NULL, "outside [0, 64)", "does not reach",   "inactive lane",
      "no barrier between", NULL, "is in flight",    "never waited for", "no barrier between"};
  const ShippedSpec *ss = shipped_spec("diag");
  Spec *spec = cg_load(ss->file, ss->text, ss->len);
  int64_t sizes[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  char *err = NULL;
  Program *p = lower_program(spec, sizes, &(LowerOptions){.real = LT_F64, .variants = 1}, &err);
  int stat = -1;
  for (int b = 0; p && b < p->nbufs; b++)
    if (p->bufs[b]->kind == BK_STAT && p->bufs[b]->elem == LT_F64) stat = b;
  if (!p || stat < 0) {
    printf("  FAIL: executor self-checks: no program to extend (%s)\n", err ? err : "no stat buffer");
    failures++;
    free(err);
    return;
  }
  int first = p->nkernels;
  for (Fault f = RACE; f <= COPY_RACE; f++) fault_kernel(p, f, stat);
  program_finish(p);
  Sim s;
  sim_init(&s, p, 100);
  for (Fault f = RACE; f <= COPY_RACE; f++) {
    s.err[0] = 0;
    int rc = sim_run_kernel(&s, first + (int)f);
    int ok = expect[f] ? rc != 0 && strstr(s.err, expect[f]) : rc == 0;
    printf("  executor check %-16s %s%s%s\n", p->kernels[first + (int)f]->name, ok ? "ok" : "FAIL",
           s.err[0] ? ": " : "", s.err);
    failures += !ok;
  }
  sim_free(&s);
  program_free(p);
}

int main(int argc, char **argv) {
  int part = 0, parts = 1;
  if (argc == 3 && strcmp(argv[1], "--part") == 0) {
    if (sscanf(argv[2], "%d/%d", &part, &parts) != 2 || parts < 1 || part < 1 || part > parts) {
      fprintf(stderr, "test_variants: --part K/N with 1 <= K <= N, not %s\n", argv[2]);
      return 2;
    }
    part--;
    argc = 1;
  }
  uint64_t seed = cg_seed("test_variants");
  executor_self_checks();
  if (argc > 1) {
    for (int i = 1; i + 4 < argc; i += 5) {
      int weighted = 0, unfused = 0, small_gpu = 0;
      for (size_t len = strlen(argv[i]); len > 2 && argv[i][len - 2] == '+'; len -= 2) {
        weighted |= argv[i][len - 1] == 'w';
        unfused |= argv[i][len - 1] == 'u';
        small_gpu |= argv[i][len - 1] == 's';
        argv[i][len - 2] = 0;
      }
      Case c = {argv[i],
                atoll(argv[i + 1]),
                atoll(argv[i + 2]),
                atoll(argv[i + 3]),
                strcmp(argv[i + 4], "float64") == 0 ? LT_F64 : LT_F32,
                strcmp(argv[i + 4], "tf32") == 0            ? PRECISION_TF32
                : strcmp(argv[i + 4], "3xtf32") == 0        ? PRECISION_3XTF32
                : strcmp(argv[i + 4], "float64-stats") == 0 ? PRECISION_STATS64
                                                            : PRECISION_FLOAT32,
                weighted,
                unfused,
                small_gpu};
      check_case(&c, seed, i);
    }
  } else {
    int nd = (int)(sizeof default_cases / sizeof *default_cases);
    for (int i = part; i < nd; i += parts) check_case(&default_cases[i], seed, i);
    /* and sizes drawn from the run's seed (the work bounded for the executor) */
    static const char *const specs[] = {"full", "diag", "spherical", "tied", "kmeans"};
    Rng r;
    cg_rng(&r, seed, 0x5153, 0, 0, 0);
    for (int i = 0; i < 4; i++) {
      Case c = {specs[cg_int(&r, 0, 4)], cg_int(&r, 1, 40), cg_int(&r, 1, 70), 0, cg_int(&r, 0, 1) ? LT_F64 : LT_F32};
      int64_t work = c.m * c.d * c.d;
      c.n = cg_int(&r, 1, 1500);
      if (c.n * work > 15000000) c.n = 15000000 / work > 0 ? 15000000 / work : 1;
      if ((nd + i) % parts == part) check_case(&c, seed, nd + i);
    }
  }
  printf("test_variants: %d failures\n", failures);
  return failures ? 1 : 0;
}
