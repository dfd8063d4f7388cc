/* The lockstep executor of simt.h. A launch runs its blocks one after the
 * other; inside a block every statement is executed for all active lanes
 * before the next, with an activity mask per lane (as a GPU runs a warp, but
 * for the whole block). Values are evaluated into a stack of per-lane
 * vectors. Barriers advance the block's epoch, which the race checks use. */
#include "simt.h"

#include "ref_special.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_PER_BLOCK 256
#define STACK_VECTORS 2048
#define UNSET INT64_MIN /* an integer variable never assigned */

/* Per element of a buffer or shared array written in this launch: who wrote
 * it last and when, who read it last and when (owner -2: several lanes). */
typedef struct {
  int64_t w_owner, w_block, w_epoch;
  int64_t r_owner, r_block, r_epoch;
} Track;

#define FRESH ((Track){-1, -1, -1, -1, -1, -1})

typedef struct {
  Sim *S;
  const Kernel *k;
  int nt, bx; /* lanes per block; block[0] */
  int grid;   /* LAUNCH_GRID, else ITEMS */
  int64_t ctaid[3], nctaid[3], block_id, item0, count;
  SimVal *vars; /* [var * nt + lane] */
  SimVal **sh;  /* per shared array */
  Track **sh_track;
  Track **g_track; /* per buffer the kernel writes */
  int64_t epoch;
  /* LS_COPY_ASYNC: the copies in flight (landed by their lane's waits), a
   * flag per shared element with one in flight, each lane's committed groups */
  struct InFlight {
    int lane, buf;
    int64_t at, group;
    SimVal v;
  } *flight;
  size_t nflight, capflight;
  uint8_t **sh_flying;
  int64_t *committed;
  SimVal *stack;
  size_t sp, cap;
  int failed;
} Launch;

void sim_init(Sim *s, const Program *p, int64_t n) {
  memset(s, 0, sizeof *s);
  s->p = p;
  s->n_local = s->n_total = n;
  s->buf = calloc((size_t)p->nbufs, sizeof *s->buf);
  s->elems = calloc((size_t)p->nbufs, sizeof *s->elems);
  for (int b = 0; b < p->nbufs; b++) {
    s->elems[b] = buffer_elems(p->bufs[b], n);
    s->buf[b] = calloc((size_t)s->elems[b] + 1, sizeof(SimVal));
  }
  s->scalars = calloc((size_t)p->spec->scalars.len + 1, sizeof(double));
  for (int i = 0; i < p->spec->scalars.len; i++) s->scalars[i] = spec_scalar(p->spec, i)->value;
}

void sim_free(Sim *s) {
  for (int b = 0; s->buf && b < s->p->nbufs; b++) free(s->buf[b]);
  free(s->buf);
  free(s->elems);
  free(s->scalars);
}

static void fail(Launch *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Launch *l, const char *fmt, ...) {
  if (!l->failed && !l->S->err[0]) {
    int n = snprintf(l->S->err, sizeof l->S->err, "%s (block %lld): ", l->k->name, (long long)l->block_id);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof l->S->err) vsnprintf(l->S->err + n, sizeof l->S->err - (size_t)n, fmt, ap);
    va_end(ap);
  }
  l->failed = 1;
}

static double round_to(LType t, double v) { return t == LT_F32 ? (double)(float)v : v; }

/* cvt.rna.tf32.f32: the float32 rounded to 10 explicit mantissa bits, to
 * the nearest, ties away from zero (half the weight of the 13 dropped bits
 * added to the magnitude, then cleared); infinities and NaNs pass. */
static double tf32_rna(double v) {
  float f = (float)v;
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) < 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
  memcpy(&f, &u, 4);
  return f;
}

static int is_tf32(double v) {
  float f = (float)v;
  uint32_t u;
  memcpy(&u, &f, 4);
  return (double)f == v && (u & 0x1fffu) == 0;
}

/* Lane `lane`'s access (`what`: "read", "written", "copied into") to
 * element `at` of shared array `sh`: 0 after a failure when the index is
 * outside the array or an asynchronous copy to the element is in flight. */
static int shared_cell_ok(Launch *l, int sh, int64_t at, int lane, const char *what) {
  const SharedArray *sa = &l->k->shared[sh];
  if (at < 0 || at >= sa->count) {
    fail(l, "shared %s[%lld] %s by lane %d: outside [0, %lld)", sa->name, (long long)at, what, lane,
         (long long)sa->count);
    return 0;
  }
  if (l->sh_flying[sh][at]) {
    fail(l, "shared %s[%lld] %s by lane %d while an asynchronous copy to it is in flight", sa->name, (long long)at,
         what, lane);
    return 0;
  }
  return 1;
}

static SimVal *push(Launch *l) {
  if (l->sp + (size_t)l->nt > l->cap) {
    fail(l, "expression too deep for the executor");
    return l->stack; /* scratch: the launch is abandoned */
  }
  SimVal *r = l->stack + l->sp;
  l->sp += (size_t)l->nt;
  return r;
}

static int64_t owner_of(const Launch *l, int lane) { return l->block_id * l->nt + lane; }

/* Race checks of one access to a tracked element: another thread's access
 * must be in another epoch of the same block (a barrier between). */
static void track_read(Launch *l, Track *t, int lane, const char *what, int64_t at) {
  int64_t me = owner_of(l, lane);
  if (t->w_owner >= 0 && t->w_owner != me) {
    if (t->w_block != l->block_id)
      fail(l, "%s[%lld] read by lane %d after block %lld wrote it in the same launch", what, (long long)at, lane,
           (long long)t->w_block);
    else if (t->w_epoch == l->epoch)
      fail(l, "%s[%lld] read by lane %d after lane %lld wrote it with no barrier between", what, (long long)at, lane,
           (long long)(t->w_owner - l->block_id * l->nt));
  }
  int again = t->r_block == l->block_id && t->r_epoch == l->epoch;
  t->r_owner = again && t->r_owner != me ? -2 : me;
  t->r_block = l->block_id;
  t->r_epoch = l->epoch;
}

static void track_write(Launch *l, Track *t, int lane, const char *what, int64_t at, int same_value) {
  int64_t me = owner_of(l, lane);
  if (t->w_owner >= 0 && t->w_owner != me && !same_value && (t->w_block != l->block_id || t->w_epoch == l->epoch))
    fail(l, "%s[%lld] written by lane %d and by another thread with no barrier between", what, (long long)at, lane);
  if (t->r_owner != -1 && t->r_owner != me && (t->r_block != l->block_id || t->r_epoch == l->epoch))
    fail(l, "%s[%lld] written by lane %d while another thread reads it with no barrier between", what, (long long)at,
         lane);
  t->w_owner = me;
  t->w_block = l->block_id;
  t->w_epoch = l->epoch;
}

static SimVal *eval(Launch *l, const LExpr *e, const uint8_t *m);

/* The flat offset of buffer b at idx for every active lane; -1 where outside. */
static int64_t *offsets(Launch *l, int b, LExpr *const *idx, const uint8_t *m) {
  const Buffer *bf = l->S->p->bufs[b];
  int64_t *off = (int64_t *)push(l);
  for (int t = 0; t < l->nt; t++) off[t] = 0;
  int64_t stride = 1;
  for (int a = bf->rank - 1; a >= 0; a--) {
    SimVal *i = eval(l, idx[a], m);
    int64_t ext = a == 0 && bf->event ? l->S->n_local : bf->dims[a];
    for (int t = 0; t < l->nt; t++) {
      if (!m[t] || off[t] < 0) continue;
      if (i[t].i < 0 || i[t].i >= ext) {
        fail(l, "%s: index %lld of axis %d outside [0, %lld) in lane %d", bf->name, (long long)i[t].i, a,
             (long long)ext, t);
        off[t] = -1;
      } else {
        off[t] += i[t].i * stride;
      }
    }
    l->sp -= (size_t)l->nt; /* i */
    stride *= bf->dims[a];
  }
  return off;
}

static void eval_unary(const LExpr *e, SimVal *r, const SimVal *a, const uint8_t *m, int nt) {
  int fl = ltype_is_float(e->type);
  for (int t = 0; t < nt; t++) {
    if (!m[t]) continue;
    double x = a[t].f;
    switch (e->op) {
    case LU_NEG:
      if (fl)
        r[t].f = -x;
      else
        r[t].i = -a[t].i;
      break;
    case LU_NOT: r[t].i = e->type == LT_BOOL ? !a[t].i : ~a[t].i; break;
    case LU_EXP: r[t].f = e->type == LT_F32 ? (double)expf((float)x) : exp(x); break;
    case LU_LOG: r[t].f = e->type == LT_F32 ? (double)logf((float)x) : log(x); break;
    case LU_SQRT: r[t].f = round_to(e->type, sqrt(x)); break;
    case LU_LOG1P: r[t].f = round_to(e->type, log1p(x)); break;
    case LU_LGAMMA: r[t].f = round_to(e->type, lgamma(x)); break;
    case LU_DIGAMMA: r[t].f = round_to(e->type, ref_digamma(x)); break;
    case LU_TF32: r[t].f = tf32_rna(x); break;
    case LU_ABS:
      if (fl)
        r[t].f = fabs(x);
      else
        r[t].i = a[t].i < 0 ? -a[t].i : a[t].i;
      break;
    }
  }
}

static void eval_binary(Launch *l, const LExpr *e, SimVal *r, const SimVal *a, const SimVal *b, const uint8_t *m) {
  int fl = ltype_is_float(e->a->type);
  for (int t = 0; t < l->nt; t++) {
    if (!m[t]) continue;
    if (fl) {
      double x = a[t].f, y = b[t].f, v = 0;
      switch (e->op) {
      case LB_ADD: v = x + y; break;
      case LB_SUB: v = x - y; break;
      case LB_MUL: v = x * y; break;
      case LB_DIV: v = x / y; break;
      case LB_REM: v = fmod(x, y); break;
      case LB_MIN: v = fmin(x, y); break;
      case LB_MAX: v = fmax(x, y); break;
      case LB_POW: v = pow(x, y); break;
      case LB_LT: r[t].i = x < y; continue;
      case LB_LE: r[t].i = x <= y; continue;
      case LB_GT: r[t].i = x > y; continue;
      case LB_GE: r[t].i = x >= y; continue;
      case LB_EQ: r[t].i = x == y; continue;
      case LB_NE: r[t].i = x != y; continue;
      default: fail(l, "a logical operator on reals"); return;
      }
      r[t].f = round_to(e->type, v);
    } else {
      int64_t x = a[t].i, y = b[t].i;
      if (x == UNSET || y == UNSET) {
        fail(l, "an integer variable read before it was assigned, in lane %d", t);
        return;
      }
      switch (e->op) {
      case LB_ADD: r[t].i = x + y; break;
      case LB_SUB: r[t].i = x - y; break;
      case LB_MUL: r[t].i = x * y; break;
      case LB_DIV:
      case LB_REM:
        if (y == 0) {
          fail(l, "integer division by zero in lane %d", t);
          return;
        }
        r[t].i = e->op == LB_DIV ? x / y : x % y;
        break;
      case LB_MIN: r[t].i = x < y ? x : y; break;
      case LB_MAX: r[t].i = x > y ? x : y; break;
      case LB_POW: fail(l, "pow on integers"); return;
      case LB_LT: r[t].i = x < y; break;
      case LB_LE: r[t].i = x <= y; break;
      case LB_GT: r[t].i = x > y; break;
      case LB_GE: r[t].i = x >= y; break;
      case LB_EQ: r[t].i = x == y; break;
      case LB_NE: r[t].i = x != y; break;
      case LB_AND: r[t].i = x & y; break;
      case LB_OR: r[t].i = x | y; break;
      }
    }
  }
}

static void eval_cast(const LExpr *e, SimVal *r, const SimVal *a, const uint8_t *m, int nt) {
  LType from = e->a->type, to = e->type;
  for (int t = 0; t < nt; t++) {
    if (!m[t]) continue;
    if (to == LT_BOOL)
      r[t].i = ltype_is_float(from) ? a[t].f != 0 : a[t].i != 0;
    else if (ltype_is_float(to))
      r[t].f = round_to(to, ltype_is_float(from) ? a[t].f : (double)a[t].i);
    else if (ltype_is_float(from))
      r[t].i = isfinite(a[t].f) && fabs(a[t].f) < 9e18 ? (int64_t)a[t].f : UNSET;
    else
      r[t].i = to == LT_I32 && a[t].i != UNSET ? (int64_t)(int32_t)a[t].i : a[t].i;
  }
}

static int64_t sreg(const Launch *l, int which, int lane) {
  switch (which) {
  case SR_TID_X: return lane % l->bx;
  case SR_TID_Y: return lane / l->bx;
  case SR_CTAID_X: return l->ctaid[0];
  case SR_CTAID_Y: return l->ctaid[1];
  case SR_CTAID_Z: return l->ctaid[2];
  default: return l->nctaid[2];
  }
}

static SimVal *eval(Launch *l, const LExpr *e, const uint8_t *m) {
  SimVal *r = push(l);
  size_t mark = l->sp;
  int nt = l->nt;
  switch (e->kind) {
  case LX_CONST:
    for (int t = 0; t < nt; t++) {
      if (ltype_is_float(e->type))
        r[t].f = round_to(e->type, e->num);
      else
        r[t].i = e->inum;
    }
    break;
  case LX_VAR:
    for (int t = 0; t < nt; t++) r[t] = l->vars[(size_t)e->var * nt + t];
    break;
  case LX_LOAD: {
    int64_t *off = offsets(l, e->buf, e->idx, m);
    for (int t = 0; t < nt; t++) {
      if (!m[t] || off[t] < 0) continue;
      r[t] = l->S->buf[e->buf][off[t]];
      if (l->g_track[e->buf]) track_read(l, &l->g_track[e->buf][off[t]], t, l->S->p->bufs[e->buf]->name, off[t]);
    }
    break;
  }
  case LX_NLOCAL:
  case LX_NTOTAL:
    for (int t = 0; t < nt; t++) r[t].i = e->kind == LX_NLOCAL ? l->S->n_local : l->S->n_total;
    break;
  case LX_SCALAR:
    for (int t = 0; t < nt; t++) r[t].f = round_to(e->type, l->S->scalars[e->scalar]);
    break;
  case LX_UNARY: eval_unary(e, r, eval(l, e->a, m), m, nt); break;
  case LX_BINARY: {
    SimVal *a = eval(l, e->a, m), *b = eval(l, e->b, m);
    eval_binary(l, e, r, a, b, m);
    break;
  }
  case LX_SELECT: {
    SimVal *c = eval(l, e->a, m), *a = eval(l, e->b, m), *b = eval(l, e->c, m);
    for (int t = 0; t < nt; t++)
      if (m[t]) r[t] = c[t].i ? a[t] : b[t]; /* the inactive lanes' operands were never computed */
    break;
  }
  case LX_CAST: eval_cast(e, r, eval(l, e->a, m), m, nt); break;
  case LX_SREG:
    if (!l->grid) fail(l, "a special register outside a grid kernel");
    for (int t = 0; t < nt; t++) r[t].i = sreg(l, e->op, t);
    break;
  case LX_SLOAD: {
    SimVal *i = eval(l, e->a, m);
    const SharedArray *sa = &l->k->shared[e->buf];
    for (int t = 0; t < nt; t++) {
      if (!m[t]) continue;
      if (!shared_cell_ok(l, e->buf, i[t].i, t, "read")) break;
      r[t] = l->sh[e->buf][i[t].i];
      track_read(l, &l->sh_track[e->buf][i[t].i], t, sa->name, i[t].i);
    }
    break;
  }
  case LX_SHFL_XOR: {
    SimVal *a = eval(l, e->a, m);
    for (int t = 0; t < nt; t++) {
      if (!m[t]) continue;
      int partner = t ^ (int)e->inum;
      if (partner >= nt) {
        r[t] = a[t];
      } else if (!m[partner]) {
        fail(l, "shuffle between lane %d and inactive lane %d", t, partner);
        break;
      } else {
        r[t] = a[partner];
      }
    }
    break;
  }
  }
  l->sp = mark; /* the operands' vectors */
  return r;
}

static int any(const uint8_t *m, int nt) {
  for (int t = 0; t < nt; t++)
    if (m[t]) return 1;
  return 0;
}

static void run(Launch *l, const LStmt *s, const uint8_t *m);

static void run_for(Launch *l, const LStmt *s, const uint8_t *m) {
  int nt = l->nt;
  SimVal *hi = eval(l, s->hi, m), *lo = eval(l, s->lo, m);
  SimVal *v = l->vars + (size_t)s->var * nt;
  for (int t = 0; t < nt; t++)
    if (m[t]) v[t] = lo[t];
  uint8_t *in = (uint8_t *)push(l);
  for (;;) {
    int live = 0;
    for (int t = 0; t < nt; t++) live += in[t] = m[t] && v[t].i < hi[t].i;
    if (!live || l->failed) break;
    run(l, s->then, in);
    for (int t = 0; t < nt; t++)
      if (in[t]) v[t].i++;
  }
}

static void run_store(Launch *l, const LStmt *s, const uint8_t *m) {
  const Buffer *bf = l->S->p->bufs[s->buf];
  int64_t *off = offsets(l, s->buf, s->idx, m);
  SimVal *v = eval(l, s->value, m);
  for (int t = 0; t < l->nt; t++) {
    if (!m[t] || off[t] < 0) continue;
    SimVal *at = &l->S->buf[s->buf][off[t]];
    SimVal nv = v[t];
    if (ltype_is_float(bf->elem)) nv.f = round_to(bf->elem, nv.f);
    track_write(l, &l->g_track[s->buf][off[t]], t, bf->name, off[t], memcmp(at, &nv, sizeof nv) == 0);
    *at = nv;
  }
}

static void run_sstore(Launch *l, const LStmt *s, const uint8_t *m) {
  const SharedArray *sa = &l->k->shared[s->buf];
  SimVal *i = eval(l, s->idx[0], m), *v = eval(l, s->value, m);
  for (int t = 0; t < l->nt; t++) {
    if (!m[t]) continue;
    if (!shared_cell_ok(l, s->buf, i[t].i, t, "written")) return;
    SimVal nv = v[t];
    if (ltype_is_float(sa->type)) nv.f = round_to(sa->type, nv.f);
    SimVal *at = &l->sh[s->buf][i[t].i];
    track_write(l, &l->sh_track[s->buf][i[t].i], t, sa->name, i[t].i, memcmp(at, &nv, sizeof nv) == 0);
    *at = nv;
  }
}

/* LS_COPY_ASYNC (loopir.h): the value (read where cond holds, zero
 * elsewhere) is taken now and held in flight; the element is flagged, so
 * that any access to it before the lane's wait lands the copy fails, as
 * would a second copy to it. The race checks see a write both at the issue
 * and at the landing: the hardware may write at any time between. */
static void run_copy_async(Launch *l, const LStmt *s, const uint8_t *m) {
  const SharedArray *sa = &l->k->shared[s->buf];
  int nt = l->nt;
  SimVal *i = eval(l, s->idx[0], m), *c = eval(l, s->cond, m);
  uint8_t *yes = (uint8_t *)push(l);
  for (int t = 0; t < nt; t++) yes[t] = m[t] && c[t].i;
  SimVal *v = eval(l, s->value, yes);
  for (int t = 0; t < nt && !l->failed; t++) {
    if (!m[t]) continue;
    if (!shared_cell_ok(l, s->buf, i[t].i, t, "copied into")) return;
    if (l->nflight == l->capflight) {
      size_t cap = l->capflight ? 2 * l->capflight : 1024;
      struct InFlight *grown = realloc(l->flight, cap * sizeof *grown);
      if (!grown) {
        fail(l, "out of memory for %zu asynchronous copies in flight", cap);
        return;
      }
      l->flight = grown, l->capflight = cap;
    }
    /* the copy may land at any time from here: a write now for the race
     * checks (a read of the element by another lane in this epoch races) */
    track_write(l, &l->sh_track[s->buf][i[t].i], t, sa->name, i[t].i, 0);
    SimVal nv = {0}; /* 0 and 0.0 alike */
    if (yes[t]) {
      nv = v[t];
      if (ltype_is_float(sa->type)) nv.f = round_to(sa->type, nv.f);
    }
    l->flight[l->nflight++] = (struct InFlight){t, s->buf, i[t].i, l->committed[t], nv};
    l->sh_flying[s->buf][i[t].i] = 1;
  }
}

/* LS_COPY_WAIT: each active lane's copies of all but its `slot` newest
 * committed groups land (written now, in this epoch: other lanes read them
 * after a barrier). */
static void run_copy_wait(Launch *l, const LStmt *s, const uint8_t *m) {
  size_t keep = 0;
  for (size_t f = 0; f < l->nflight && !l->failed; f++) {
    struct InFlight *c = &l->flight[f];
    if (!m[c->lane] || c->group >= l->committed[c->lane] - s->slot) {
      l->flight[keep++] = *c;
      continue;
    }
    const SharedArray *sa = &l->k->shared[c->buf];
    SimVal *at = &l->sh[c->buf][c->at];
    track_write(l, &l->sh_track[c->buf][c->at], c->lane, sa->name, c->at, memcmp(at, &c->v, sizeof c->v) == 0);
    *at = c->v;
    l->sh_flying[c->buf][c->at] = 0;
  }
  if (!l->failed) l->nflight = keep;
}

/* LS_MMA (loopir.h): per warp of the block, D = A B + C from the lanes'
 * fragments (g = lane / 4, t = lane % 4, as PTX's m16n8k8 .tf32 layout).
 * The order assumed: each product of two TF32 values is exact (11 + 11
 * significant bits), c + the eight products are added in that order in
 * double (exact unless the terms span more than 30 binades) and the sum is
 * rounded once to float32, to nearest. The tensor cores of sm_80 and
 * sm_90 add with their own alignment and truncation (Fasi et al., "Numerical
 * behavior of NVIDIA tensor cores", 2021: exact products, sums truncated),
 * so a device result differs from this one by a few float32 ulps of the
 * largest term per instruction; across the K / 8 instructions chained on an
 * accumulator that is far below codegen_variants' float32 tolerance (1e-4
 * of the output's largest value), which therefore also holds on the device
 * (GMMC_VERIFY_VARIANTS). The executor also checks what a GPU would not
 * report: a lane of the warp inactive (mma.sync needs all 32), and A or B
 * operands that are not TF32 values (a missing LU_TF32: the hardware would
 * drop their low bits silently). */
static void run_mma(Launch *l, const LStmt *s, const uint8_t *m) {
  int nt = l->nt;
  if (!l->grid || l->bx != nt || nt % 32) {
    fail(l, "mma outside a one-dimensional grid kernel of whole warps");
    return;
  }
  SimVal *v[MMA_ARGS];
  for (int i = 0; i < MMA_ARGS; i++) v[i] = eval(l, s->idx[i], m);
  for (int w = 0; w < nt / 32 && !l->failed; w++) {
    int base = w * 32, active = 0;
    for (int t = 0; t < 32; t++) active += m[base + t] != 0;
    if (active == 0) continue;
    if (active != 32) {
      fail(l, "mma in warp %d with %d of its 32 lanes active", w, active);
      return;
    }
    double A[16][8], B[8][8], C[16][8];
    for (int lane = 0; lane < 32; lane++) {
      int g = lane / 4, t = lane % 4, at = base + lane;
      for (int i = 0; i < 6; i++)
        if (!is_tf32(v[i][at].f)) {
          fail(l, "mma operand %c%d of lane %d is %.9g, not a TF32 value", i < 4 ? 'a' : 'b', i < 4 ? i : i - 4, lane,
               v[i][at].f);
          return;
        }
      A[g][t] = v[0][at].f, A[g + 8][t] = v[1][at].f, A[g][t + 4] = v[2][at].f, A[g + 8][t + 4] = v[3][at].f;
      B[t][g] = v[4][at].f, B[t + 4][g] = v[5][at].f;
      C[g][2 * t] = v[6][at].f, C[g][2 * t + 1] = v[7][at].f;
      C[g + 8][2 * t] = v[8][at].f, C[g + 8][2 * t + 1] = v[9][at].f;
    }
    for (int lane = 0; lane < 32; lane++) {
      int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 4; i++) {
        int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
        double acc = C[row][col];
        for (int kk = 0; kk < 8; kk++) acc += A[row][kk] * B[kk][col];
        l->vars[(size_t)s->mma_d[i] * nt + base + lane].f = (double)(float)acc;
      }
    }
  }
}

static void run(Launch *l, const LStmt *s, const uint8_t *m) {
  if (l->failed || !any(m, l->nt)) return;
  size_t mark = l->sp;
  int nt = l->nt;
  switch (s->kind) {
  case LS_BLOCK:
    for (int i = 0; i < s->nbody && !l->failed; i++) run(l, s->body[i], m);
    break;
  case LS_FOR: run_for(l, s, m); break;
  case LS_ASSIGN: {
    SimVal *v = eval(l, s->value, m);
    for (int t = 0; t < nt; t++)
      if (m[t]) l->vars[(size_t)s->var * nt + t] = v[t];
    break;
  }
  case LS_STORE: run_store(l, s, m); break;
  case LS_IF: {
    SimVal *c = eval(l, s->cond, m);
    uint8_t *yes = (uint8_t *)push(l), *no = (uint8_t *)push(l);
    for (int t = 0; t < nt; t++) {
      yes[t] = m[t] && c[t].i;
      no[t] = m[t] && !c[t].i;
    }
    run(l, s->then, yes);
    if (s->els) run(l, s->els, no);
    break;
  }
  case LS_FAIL: {
    SimVal *v = eval(l, s->value, m);
    SimVal *st = &l->S->buf[s->status_buf][s->slot];
    for (int t = 0; t < nt; t++)
      if (m[t] && v[t].i < st->i) st->i = v[t].i; /* an atomic min */
    break;
  }
  case LS_SSTORE: run_sstore(l, s, m); break;
  case LS_SYNC:
    for (int t = 0; t < nt; t++)
      if (!m[t]) {
        fail(l, "a barrier that lane %d does not reach (divergent code)", t);
        break;
      }
    l->epoch++;
    break;
  case LS_MMA: run_mma(l, s, m); break;
  case LS_COPY_ASYNC: run_copy_async(l, s, m); break;
  case LS_COPY_COMMIT:
    for (int t = 0; t < nt; t++) l->committed[t] += m[t] != 0;
    break;
  case LS_COPY_WAIT: run_copy_wait(l, s, m); break;
  }
  l->sp = mark;
}

/* One block: fresh variables (NaN reals, unset integers) and shared arrays. */
static void run_block(Launch *l, uint8_t *alive) {
  const Kernel *k = l->k;
  int nt = l->nt;
  for (int v = 0; v < k->nvars; v++)
    for (int t = 0; t < nt; t++) {
      SimVal *x = &l->vars[(size_t)v * nt + t];
      if (ltype_is_float(k->vars[v].type))
        x->f = NAN;
      else
        x->i = UNSET;
    }
  for (int i = 0; i < k->nshared; i++) {
    for (int64_t j = 0; j < k->shared[i].count; j++) {
      l->sh[i][j].f = NAN; /* never written: NaN, as garbage would be */
      l->sh_track[i][j] = FRESH;
    }
    memset(l->sh_flying[i], 0, (size_t)k->shared[i].count);
  }
  memset(l->committed, 0, sizeof *l->committed * (size_t)nt);
  l->nflight = 0;
  l->epoch = 0;
  for (int t = 0; t < nt; t++) {
    alive[t] = l->grid ? 1 : l->item0 + t < l->count;
    if (!l->grid) l->vars[(size_t)k->pvar * nt + t].i = l->item0 + t;
  }
  run(l, k->body, alive);
  if (!l->failed && l->nflight)
    fail(l, "shared %s[%lld]: an asynchronous copy of lane %d never waited for", k->shared[l->flight[0].buf].name,
         (long long)l->flight[0].at, l->flight[0].lane);
}

int sim_run_kernel(Sim *s, int kid) {
  const Program *p = s->p;
  const Kernel *k = p->kernels[kid];
  Launch l = {.S = s, .k = k, .grid = k->launch == LAUNCH_GRID};
  l.nt = l.grid ? k->block[0] * (k->block[1] > 0 ? k->block[1] : 1) : ITEMS_PER_BLOCK;
  l.bx = l.grid ? k->block[0] : ITEMS_PER_BLOCK;
  l.vars = calloc((size_t)(k->nvars + 1) * (size_t)l.nt, sizeof(SimVal));
  l.cap = (size_t)STACK_VECTORS * (size_t)l.nt;
  l.stack = malloc(l.cap * sizeof(SimVal));
  l.sh = calloc((size_t)k->nshared + 1, sizeof *l.sh);
  l.sh_track = calloc((size_t)k->nshared + 1, sizeof *l.sh_track);
  l.sh_flying = calloc((size_t)k->nshared + 1, sizeof *l.sh_flying);
  l.committed = calloc((size_t)l.nt, sizeof *l.committed);
  for (int i = 0; i < k->nshared; i++) {
    l.sh[i] = calloc((size_t)k->shared[i].count + 1, sizeof(SimVal));
    l.sh_track[i] = calloc((size_t)k->shared[i].count + 1, sizeof(Track));
    l.sh_flying[i] = calloc((size_t)k->shared[i].count + 1, 1);
  }
  l.g_track = calloc((size_t)p->nbufs, sizeof *l.g_track);
  for (int b = 0; b < p->nbufs; b++) {
    if (!k->writes || !k->writes[b]) continue;
    l.g_track[b] = malloc(sizeof(Track) * (size_t)(s->elems[b] + 1));
    for (int64_t j = 0; j < s->elems[b]; j++) l.g_track[b][j] = FRESH;
  }
  uint8_t *alive = malloc((size_t)l.nt);
  if (l.grid) {
    for (int a = 0; a < 3; a++) l.nctaid[a] = kernel_grid(k, a, s->n_local);
    for (l.ctaid[2] = 0; l.ctaid[2] < l.nctaid[2] && !l.failed; l.ctaid[2]++)
      for (l.ctaid[1] = 0; l.ctaid[1] < l.nctaid[1] && !l.failed; l.ctaid[1]++)
        for (l.ctaid[0] = 0; l.ctaid[0] < l.nctaid[0] && !l.failed; l.ctaid[0]++) {
          run_block(&l, alive);
          l.block_id++;
        }
  } else {
    l.count = kernel_count(k, s->n_local);
    for (l.item0 = 0; l.item0 < l.count && !l.failed; l.item0 += l.nt) {
      run_block(&l, alive);
      l.block_id++;
    }
  }
  free(alive);
  for (int b = 0; b < p->nbufs; b++) free(l.g_track[b]);
  free(l.g_track);
  for (int i = 0; i < k->nshared; i++) {
    free(l.sh[i]);
    free(l.sh_track[i]);
    free(l.sh_flying[i]);
  }
  free(l.sh_flying);
  free(l.committed);
  free(l.flight);
  free(l.sh);
  free(l.sh_track);
  free(l.stack);
  free(l.vars);
  return l.failed ? -1 : 0;
}
