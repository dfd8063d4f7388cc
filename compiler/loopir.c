/* Loop IR construction helpers and the textual dump (`gmmc compile --emit loops`). */
#include "loopir.h"

#include <stdlib.h>
#include <string.h>

static void *new0(Program *p, size_t n) { return arena_alloc(&p->arena, n); }

/* A real constant as an integer; out-of-range values (which only a hostile
 * spec writes) become 0 instead of undefined behaviour. */
static int64_t real_to_i64(double v) { return v > -9.2e18 && v < 9.2e18 ? (int64_t)v : 0; }

LExpr *lx_const(Program *p, LType t, double v) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_CONST;
  e->type = t;
  e->num = v;
  e->inum = real_to_i64(v);
  return e;
}

LExpr *lx_int(Program *p, int64_t v) {
  if (v >= 0 && v < SMALL_INTS) {
    if (!p->small_ints) p->small_ints = new0(p, sizeof(LExpr *) * SMALL_INTS);
    if (p->small_ints[v]) return p->small_ints[v];
  }
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_CONST;
  e->type = LT_I64;
  e->num = (double)v;
  e->inum = v;
  if (v >= 0 && v < SMALL_INTS) p->small_ints[v] = e;
  return e;
}

LExpr *lx_var(Program *p, Kernel *k, int var) {
  LVar *lv = &k->vars[var];
  if (lv->node) return lv->node;
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_VAR;
  e->var = var;
  e->type = lv->type;
  return lv->node = e;
}

LExpr *lx_load(Program *p, int buf, LExpr **idx) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_LOAD;
  e->buf = buf;
  e->type = p->bufs[buf]->elem;
  e->idx = idx;
  return e;
}

static LType promote(LType a, LType b) {
  if (a == LT_F64 || b == LT_F64) return LT_F64;
  if (a == LT_F32 || b == LT_F32) return LT_F32;
  if (a == LT_I64 || b == LT_I64) return LT_I64;
  if (a == LT_I32 || b == LT_I32) return LT_I32;
  return LT_BOOL;
}

LExpr *lx_cast(Program *p, LType t, LExpr *a) {
  if (a->type == t) return a;
  if (a->kind == LX_CONST) {
    if (ltype_is_float(t)) return lx_const(p, t, ltype_is_float(a->type) ? a->num : (double)a->inum);
    int64_t v = ltype_is_float(a->type) ? real_to_i64(a->num) : a->inum;
    if (t == LT_I64) return lx_int(p, v);
    LExpr *c = lx_const(p, t, (double)v); /* not lx_int's shared node: it has another type */
    c->inum = v;                          /* exact, where (double)v rounds; the node is not handed out yet */
    return c;
  }
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_CAST;
  e->type = t;
  e->a = a;
  return e;
}

LExpr *lx_unary(Program *p, int op, LExpr *a) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_UNARY;
  e->op = op;
  if (op == LU_NOT) {
    e->a = lx_cast(p, LT_BOOL, a);
    e->type = LT_BOOL;
  } else if (op == LU_TF32) { /* of a float32 */
    e->a = lx_cast(p, LT_F32, a);
    e->type = LT_F32;
  } else if (op == LU_NEG || op == LU_ABS) {
    e->a = a->type == LT_BOOL ? lx_cast(p, LT_I64, a) : a;
    e->type = e->a->type;
  } else {
    e->a = ltype_is_float(a->type) ? a : lx_cast(p, p->real, a);
    e->type = e->a->type;
  }
  return e;
}

LExpr *lx_binary(Program *p, int op, LExpr *a, LExpr *b) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_BINARY;
  e->op = op;
  if (op == LB_AND || op == LB_OR) {
    e->a = lx_cast(p, LT_BOOL, a);
    e->b = lx_cast(p, LT_BOOL, b);
    e->type = LT_BOOL;
    return e;
  }
  LType t = promote(a->type, b->type);
  if (t == LT_BOOL) t = LT_I64;
  if (op == LB_DIV && !ltype_is_float(t) && p) {
    /* integer division only where both sides are indices (lowering asks
     * for it explicitly); arithmetic division is real */
  }
  e->a = lx_cast(p, t, a);
  e->b = lx_cast(p, t, b);
  e->type = op >= LB_LT ? LT_BOOL : t;
  return e;
}

LExpr *lx_select(Program *p, LExpr *c, LExpr *a, LExpr *b) {
  LExpr *e = new0(p, sizeof *e);
  LType t = promote(a->type, b->type);
  e->kind = LX_SELECT;
  e->a = lx_cast(p, LT_BOOL, c);
  e->b = lx_cast(p, t, a);
  e->c = lx_cast(p, t, b);
  e->type = t;
  return e;
}

LExpr *lx_nlocal(Program *p) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_NLOCAL;
  e->type = LT_I64;
  return e;
}

LExpr *lx_ntotal(Program *p) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_NTOTAL;
  e->type = LT_I64;
  return e;
}

LExpr *lx_scalar(Program *p, int id) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_SCALAR;
  e->scalar = id;
  e->type = LT_F64;
  return e;
}

LStmt *ls_block(Program *p) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_BLOCK;
  return s;
}

void ls_append(Program *p, LStmt *block, LStmt *s) {
  if (block->nbody == block->capbody) {
    int cap = block->capbody ? block->capbody * 2 : 4;
    LStmt **b = new0(p, sizeof(LStmt *) * (size_t)cap);
    if (block->nbody) memcpy(b, block->body, sizeof(LStmt *) * (size_t)block->nbody);
    block->body = b;
    block->capbody = cap;
  }
  block->body[block->nbody++] = s;
}

LStmt *ls_for(Program *p, int var, LExpr *lo, LExpr *hi, LStmt *body) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_FOR;
  s->var = var;
  s->lo = lx_cast(p, LT_I64, lo);
  s->hi = lx_cast(p, LT_I64, hi);
  s->then = body;
  return s;
}

LStmt *ls_assign(Program *p, int var, LExpr *v) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_ASSIGN;
  s->var = var;
  s->value = v;
  return s;
}

LStmt *ls_store(Program *p, int buf, LExpr **idx, LExpr *v) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_STORE;
  s->buf = buf;
  s->idx = idx;
  s->value = lx_cast(p, p->bufs[buf]->elem, v);
  return s;
}

LStmt *ls_if(Program *p, LExpr *c, LStmt *then, LStmt *els) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_IF;
  s->cond = lx_cast(p, LT_BOOL, c);
  s->then = then;
  s->els = els;
  return s;
}

LStmt *ls_when(Program *p, LStmt *blk, LExpr *cond) {
  LStmt *then = ls_block(p);
  ls_append(p, blk, ls_if(p, cond, then, NULL));
  return then;
}

LStmt *ls_fail(Program *p, int status_buf, int slot, LExpr *code) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_FAIL;
  s->status_buf = status_buf;
  s->slot = slot;
  s->value = lx_cast(p, LT_I32, code);
  return s;
}

LExpr *lx_sreg(Program *p, SReg r) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_SREG;
  e->op = r;
  e->type = LT_I64;
  return e;
}

LExpr *lx_sload(Program *p, Kernel *k, int sh, LExpr *idx) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_SLOAD;
  e->buf = sh;
  e->a = lx_cast(p, LT_I64, idx);
  e->type = k->shared[sh].type;
  return e;
}

LExpr *lx_shfl_xor(Program *p, LExpr *v, int lane_mask) {
  LExpr *e = new0(p, sizeof *e);
  e->kind = LX_SHFL_XOR;
  e->a = v;
  e->inum = lane_mask;
  e->type = v->type;
  return e;
}

LStmt *ls_sstore(Program *p, Kernel *k, int sh, LExpr *idx, LExpr *v) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_SSTORE;
  s->buf = sh;
  s->idx = new0(p, sizeof(LExpr *) * 2);
  s->idx[0] = lx_cast(p, LT_I64, idx);
  s->value = lx_cast(p, k->shared[sh].type, v);
  return s;
}

LStmt *ls_copy_async(Program *p, Kernel *k, int sh, LExpr *idx, LExpr *load, LExpr *cond) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_COPY_ASYNC;
  s->buf = sh;
  s->idx = new0(p, sizeof(LExpr *) * 2);
  s->idx[0] = lx_cast(p, LT_I64, idx);
  s->value = load;
  s->cond = cond;
  (void)k;
  return s;
}

/* a statement of no operands but its kind */
static LStmt *bare_stmt(Program *p, LStmtKind kind) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = kind;
  return s;
}

LStmt *ls_copy_commit(Program *p) { return bare_stmt(p, LS_COPY_COMMIT); }

LStmt *ls_copy_wait(Program *p, int pending) {
  LStmt *s = bare_stmt(p, LS_COPY_WAIT);
  s->slot = pending;
  return s;
}

LStmt *ls_sync(Program *p) { return bare_stmt(p, LS_SYNC); }

LStmt *ls_mma(Program *p, const int d[4], LExpr *const a[4], LExpr *const b[2], LExpr *const c[4]) {
  LStmt *s = new0(p, sizeof *s);
  s->kind = LS_MMA;
  s->idx = new0(p, sizeof(LExpr *) * (MMA_ARGS + 1));
  for (int i = 0; i < 4; i++) {
    s->mma_d[i] = d[i];
    s->idx[i] = lx_cast(p, LT_F32, a[i]);
    s->idx[6 + i] = lx_cast(p, LT_F32, c[i]);
  }
  for (int i = 0; i < 2; i++) s->idx[4 + i] = lx_cast(p, LT_F32, b[i]);
  return s;
}

int kernel_shared(Program *p, Kernel *k, const char *name, LType t, int64_t count) {
  SharedArray *a = new0(p, sizeof(SharedArray) * (size_t)(k->nshared + 1));
  if (k->nshared) memcpy(a, k->shared, sizeof(SharedArray) * (size_t)k->nshared);
  a[k->nshared].name = arena_strdup(&p->arena, name);
  a[k->nshared].type = t;
  a[k->nshared].count = count;
  k->shared = a;
  return k->nshared++;
}

int program_add_unit(Program *p, const char *name) {
  if (p->nunits == p->capunits) {
    int cap = p->capunits ? p->capunits * 2 : 16;
    Unit *u = new0(p, sizeof(Unit) * (size_t)cap);
    if (p->nunits) memcpy(u, p->units, sizeof(Unit) * (size_t)p->nunits);
    p->units = u;
    p->capunits = cap;
  }
  Unit *u = &p->units[p->nunits];
  u->name = arena_strdup(&p->arena, name);
  u->forced = -1;
  u->group_seq = -1;
  return p->nunits++;
}

int alt_kernel_list(const Program *p, const Alt *a, const int *choice, int *out, int cap) {
  int n = 0;
  for (int i = 0; i < a->nkernels && n < cap; i++) out[n++] = a->kernels[i];
  for (int m = 0; m < a->nmembers; m++) {
    const Unit *u = &p->units[a->members[m]];
    n += alt_kernel_list(p, &u->alts[choice ? choice[a->members[m]] : 0], choice, out + n, cap - n);
  }
  return n;
}

uint32_t variant_hash(const char *variant) {
  uint64_t h = fnv1a(FNV1A_INIT, variant, strlen(variant));
  return (uint32_t)(h ^ (h >> 32));
}

Alt *unit_add_alt(Program *p, int unit, const char *variant) {
  Unit *u = &p->units[unit];
  if (u->nalts == 16) return NULL;
  Alt *a = &u->alts[u->nalts++];
  a->variant = arena_strdup(&p->arena, variant);
  return a;
}

int kernel_var(Program *p, Kernel *k, const char *name, LType t) {
  if (k->nvars == k->capvars) {
    int cap = k->capvars ? k->capvars * 2 : 16;
    LVar *v = new0(p, sizeof(LVar) * (size_t)cap);
    if (k->nvars) memcpy(v, k->vars, sizeof(LVar) * (size_t)k->nvars);
    k->vars = v;
    k->capvars = cap;
  }
  k->vars[k->nvars].name = arena_strdup(&p->arena, name);
  k->vars[k->nvars].type = t;
  return k->nvars++;
}

Kernel *program_add_kernel(Program *p, const char *name) {
  /* names are unique: a suffix where a statement yields several kernels */
  const char *unique = name;
  for (int n = 2;; n++) {
    int clash = 0;
    for (int i = 0; i < p->nkernels; i++) clash |= strcmp(p->kernels[i]->name, unique) == 0;
    if (!clash) break;
    unique = arena_printf(&p->arena, "%s_%d", name, n);
  }
  Kernel *k = new0(p, sizeof *k);
  k->name = arena_strdup(&p->arena, unique);
  k->body = ls_block(p);
  k->block_size = 256;
  if (p->nkernels == p->capkernels) {
    int cap = p->capkernels ? p->capkernels * 2 : 16;
    Kernel **ks = new0(p, sizeof(Kernel *) * (size_t)cap);
    if (p->nkernels) memcpy(ks, p->kernels, sizeof(Kernel *) * (size_t)p->nkernels);
    p->kernels = ks;
    p->capkernels = cap;
  }
  p->kernels[p->nkernels++] = k;
  return k;
}

void kernel_launch_grid(Program *p, Kernel *k, int64_t x, int64_t y, int64_t z, int threads) {
  k->launch = LAUNCH_GRID;
  k->grid[0] = lx_int(p, x);
  k->grid[1] = lx_int(p, y);
  k->grid[2] = lx_int(p, z);
  k->block[0] = threads;
  k->block[1] = 1;
}

int program_add_buffer(Program *p, const char *name, BufKind kind, LType elem, int rank, const int64_t *dims,
                       int event) {
  Buffer *b = new0(p, sizeof *b);
  b->name = arena_strdup(&p->arena, name);
  b->id = p->nbufs;
  b->kind = kind;
  b->elem = elem;
  b->rank = rank;
  for (int i = 0; i < rank; i++) b->dims[i] = dims[i];
  b->event = event;
  if (p->nbufs == p->capbufs) {
    int cap = p->capbufs ? p->capbufs * 2 : 16;
    Buffer **bs = new0(p, sizeof(Buffer *) * (size_t)cap);
    if (p->nbufs) memcpy(bs, p->bufs, sizeof(Buffer *) * (size_t)p->nbufs);
    p->bufs = bs;
    p->capbufs = cap;
  }
  p->bufs[p->nbufs++] = b;
  return b->id;
}

void seq_push(Program *p, SeqId id, Step step) {
  Sequence *s = &p->seq[id];
  if (s->len == s->cap) {
    int cap = s->cap ? s->cap * 2 : 16;
    Step *st = new0(p, sizeof(Step) * (size_t)cap);
    if (s->len) memcpy(st, s->steps, sizeof(Step) * (size_t)s->len);
    s->steps = st;
    s->cap = cap;
  }
  s->steps[s->len++] = step;
}

int64_t buffer_elems(const Buffer *b, int64_t n_local) {
  int64_t n = 1;
  for (int i = 0; i < b->rank; i++) n *= (i == 0 && b->event) ? n_local : b->dims[i];
  return n;
}

static int64_t eval_count(const LExpr *e, int64_t n_local) {
  switch (e->kind) {
  case LX_CONST: return e->inum;
  case LX_NLOCAL: return n_local;
  case LX_BINARY:
    if (e->op == LB_MUL) return eval_count(e->a, n_local) * eval_count(e->b, n_local);
    if (e->op == LB_ADD) return eval_count(e->a, n_local) + eval_count(e->b, n_local);
    if (e->op == LB_DIV) return eval_count(e->a, n_local) / eval_count(e->b, n_local);
    if (e->op == LB_MIN) {
      int64_t a = eval_count(e->a, n_local), b = eval_count(e->b, n_local);
      return a < b ? a : b;
    }
    if (e->op == LB_MAX) {
      int64_t a = eval_count(e->a, n_local), b = eval_count(e->b, n_local);
      return a > b ? a : b;
    }
    break;
  case LX_CAST: return eval_count(e->a, n_local);
  default: break;
  }
  return -1; /* not a count expression: the lowering never makes one */
}

int64_t kernel_count(const Kernel *k, int64_t n_local) { return eval_count(k->count, n_local); }

int64_t kernel_grid(const Kernel *k, int axis, int64_t n_local) {
  return k->grid[axis] ? eval_count(k->grid[axis], n_local) : 1;
}

/* ---- walks ---- */

int lwalk_expr(const LWalk *w, const LExpr *e) {
  if (!e) return 0;
  int r = w->expr ? w->expr(w->user, e) : LWALK_ON;
  if (r != LWALK_ON) return r == LWALK_STOP;
  for (int i = 0; e->kind == LX_LOAD && e->idx && e->idx[i]; i++)
    if (lwalk_expr(w, e->idx[i])) return 1;
  return lwalk_expr(w, e->a) || lwalk_expr(w, e->b) || lwalk_expr(w, e->c);
}

int lwalk_stmt(const LWalk *w, const LStmt *s) {
  if (!s) return 0;
  int r = w->stmt ? w->stmt(w->user, s) : LWALK_ON;
  if (r != LWALK_ON) return r == LWALK_STOP;
  switch (s->kind) {
  case LS_BLOCK:
    for (int i = 0; i < s->nbody; i++)
      if (lwalk_stmt(w, s->body[i])) return 1;
    return 0;
  case LS_FOR: return lwalk_expr(w, s->lo) || lwalk_expr(w, s->hi) || lwalk_stmt(w, s->then);
  case LS_ASSIGN:
  case LS_FAIL: return lwalk_expr(w, s->value);
  case LS_STORE:
    for (int i = 0; s->idx && s->idx[i]; i++)
      if (lwalk_expr(w, s->idx[i])) return 1;
    return lwalk_expr(w, s->value);
  case LS_IF: return lwalk_expr(w, s->cond) || lwalk_stmt(w, s->then) || lwalk_stmt(w, s->els);
  case LS_SSTORE: return lwalk_expr(w, s->idx[0]) || lwalk_expr(w, s->value);
  case LS_COPY_ASYNC: return lwalk_expr(w, s->idx[0]) || lwalk_expr(w, s->value) || lwalk_expr(w, s->cond);
  case LS_SYNC:
  case LS_COPY_COMMIT:
  case LS_COPY_WAIT: return 0;
  case LS_MMA:
    for (int i = 0; i < MMA_ARGS; i++)
      if (lwalk_expr(w, s->idx[i])) return 1;
    return 0;
  }
  return 0;
}

/* ---- read/write sets and weights ---- */

/* What a walk marks: the buffers read and written, and (with k) the
 * kernel's weight. */
typedef struct {
  Kernel *k;
  unsigned char *reads, *writes;
} Marks;

static int mark_expr(void *user, const LExpr *e) {
  Marks *m = user;
  if (m->k) m->k->weight++;
  if (e->kind == LX_LOAD) m->reads[e->buf] = 1;
  return LWALK_ON;
}

static int mark_stmt(void *user, const LStmt *s) {
  Marks *m = user;
  if (m->k) m->k->weight++;
  if (s->kind == LS_STORE) m->writes[s->buf] = 1;
  if (s->kind == LS_FAIL) m->writes[s->status_buf] = m->reads[s->status_buf] = 1;
  return LWALK_ON;
}

static void mark_kernel(const Kernel *k, Marks *m) {
  LWalk w = {mark_expr, mark_stmt, m};
  lwalk_expr(&w, k->count);
  lwalk_stmt(&w, k->body);
}

void kernel_access(const Kernel *k, unsigned char *reads, unsigned char *writes) {
  mark_kernel(k, &(Marks){NULL, reads, writes});
}

void program_finish(Program *p) {
  for (int i = 0; i < p->nkernels; i++) {
    Kernel *k = p->kernels[i];
    k->reads = new0(p, (size_t)p->nbufs + 1);
    k->writes = new0(p, (size_t)p->nbufs + 1);
    mark_kernel(k, &(Marks){k, k->reads, k->writes});
    if (k->weight_div > 1) k->weight /= k->weight_div;
  }
}

/* ---- dump ---- */

static const char *type_name(LType t) {
  static const char *n[] = {"void", "bool", "i32", "i64", "f32", "f64"};
  return n[t];
}

static void dump_expr(StrBuf *sb, const Program *p, const Kernel *k, const LExpr *e) {
  static const char *un[] = {"-", "!", "exp", "log", "sqrt", "abs", "log1p", "lgamma", "digamma", "tf32"};
  static const char *bin[] = {"+", "-",  "*", "/",  "%",  "min", "max", "pow",
                              "<", "<=", ">", ">=", "==", "!=",  "&&",  "||"};
  switch (e->kind) {
  case LX_CONST:
    if (ltype_is_float(e->type))
      sb_printf(sb, "%.17g", e->num);
    else
      sb_printf(sb, "%lld", (long long)e->inum);
    break;
  case LX_VAR: sb_puts(sb, k->vars[e->var].name); break;
  case LX_LOAD:
    sb_puts(sb, p->bufs[e->buf]->name);
    sb_putc(sb, '[');
    for (int i = 0; e->idx[i]; i++) {
      if (i) sb_puts(sb, ", ");
      dump_expr(sb, p, k, e->idx[i]);
    }
    sb_putc(sb, ']');
    break;
  case LX_NLOCAL: sb_puts(sb, "n_local"); break;
  case LX_NTOTAL: sb_puts(sb, "n_total"); break;
  case LX_SCALAR: sb_puts(sb, spec_scalar(p->spec, e->scalar)->name); break;
  case LX_UNARY:
    sb_printf(sb, "%s(", un[e->op]);
    dump_expr(sb, p, k, e->a);
    sb_putc(sb, ')');
    break;
  case LX_BINARY:
    if (e->op == LB_MIN || e->op == LB_MAX || e->op == LB_POW) {
      sb_printf(sb, "%s(", bin[e->op]);
      dump_expr(sb, p, k, e->a);
      sb_puts(sb, ", ");
      dump_expr(sb, p, k, e->b);
      sb_putc(sb, ')');
    } else {
      sb_putc(sb, '(');
      dump_expr(sb, p, k, e->a);
      sb_printf(sb, " %s ", bin[e->op]);
      dump_expr(sb, p, k, e->b);
      sb_putc(sb, ')');
    }
    break;
  case LX_SELECT:
    sb_puts(sb, "select(");
    dump_expr(sb, p, k, e->a);
    sb_puts(sb, ", ");
    dump_expr(sb, p, k, e->b);
    sb_puts(sb, ", ");
    dump_expr(sb, p, k, e->c);
    sb_putc(sb, ')');
    break;
  case LX_CAST:
    sb_printf(sb, "%s(", type_name(e->type));
    dump_expr(sb, p, k, e->a);
    sb_putc(sb, ')');
    break;
  case LX_SREG: {
    static const char *sr[] = {"tid.x", "tid.y", "ctaid.x", "ctaid.y", "ctaid.z", "nctaid.z"};
    sb_puts(sb, sr[e->op]);
    break;
  }
  case LX_SLOAD:
    sb_printf(sb, "%s[", k->shared[e->buf].name);
    dump_expr(sb, p, k, e->a);
    sb_putc(sb, ']');
    break;
  case LX_SHFL_XOR:
    sb_puts(sb, "shfl_xor(");
    dump_expr(sb, p, k, e->a);
    sb_printf(sb, ", %lld)", (long long)e->inum);
    break;
  }
}

static void indent(StrBuf *sb, int d) {
  for (int i = 0; i < d; i++) sb_puts(sb, "  ");
}

static void dump_stmt(StrBuf *sb, const Program *p, const Kernel *k, const LStmt *s, int d) {
  switch (s->kind) {
  case LS_BLOCK:
    for (int i = 0; i < s->nbody; i++) dump_stmt(sb, p, k, s->body[i], d);
    break;
  case LS_FOR:
    indent(sb, d);
    sb_printf(sb, "for %s in [", k->vars[s->var].name);
    dump_expr(sb, p, k, s->lo);
    sb_puts(sb, ", ");
    dump_expr(sb, p, k, s->hi);
    sb_puts(sb, "):\n");
    dump_stmt(sb, p, k, s->then, d + 1);
    break;
  case LS_ASSIGN:
    indent(sb, d);
    sb_printf(sb, "%s = ", k->vars[s->var].name);
    dump_expr(sb, p, k, s->value);
    sb_putc(sb, '\n');
    break;
  case LS_STORE:
    indent(sb, d);
    sb_printf(sb, "%s[", p->bufs[s->buf]->name);
    for (int i = 0; s->idx[i]; i++) {
      if (i) sb_puts(sb, ", ");
      dump_expr(sb, p, k, s->idx[i]);
    }
    sb_puts(sb, "] = ");
    dump_expr(sb, p, k, s->value);
    sb_putc(sb, '\n');
    break;
  case LS_IF:
    indent(sb, d);
    sb_puts(sb, "if ");
    dump_expr(sb, p, k, s->cond);
    sb_puts(sb, ":\n");
    dump_stmt(sb, p, k, s->then, d + 1);
    if (s->els) {
      indent(sb, d);
      sb_puts(sb, "else:\n");
      dump_stmt(sb, p, k, s->els, d + 1);
    }
    break;
  case LS_FAIL:
    indent(sb, d);
    sb_printf(sb, "fail %s[%d] <- min(", p->bufs[s->status_buf]->name, s->slot);
    dump_expr(sb, p, k, s->value);
    sb_puts(sb, ")\n");
    break;
  case LS_SSTORE:
  case LS_COPY_ASYNC:
    indent(sb, d);
    sb_printf(sb, "%s[", k->shared[s->buf].name);
    dump_expr(sb, p, k, s->idx[0]);
    sb_puts(sb, s->kind == LS_SSTORE ? "] = " : "] <- async ");
    dump_expr(sb, p, k, s->value);
    if (s->kind == LS_COPY_ASYNC) {
      sb_puts(sb, " if ");
      dump_expr(sb, p, k, s->cond);
      sb_puts(sb, " else 0");
    }
    sb_putc(sb, '\n');
    break;
  case LS_COPY_COMMIT:
    indent(sb, d);
    sb_puts(sb, "async commit\n");
    break;
  case LS_COPY_WAIT:
    indent(sb, d);
    sb_printf(sb, "async wait (%d in flight)\n", s->slot);
    break;
  case LS_SYNC:
    indent(sb, d);
    sb_puts(sb, "sync\n");
    break;
  case LS_MMA:
    indent(sb, d);
    sb_printf(sb, "%s, %s, %s, %s = mma_m16n8k8_tf32(", k->vars[s->mma_d[0]].name, k->vars[s->mma_d[1]].name,
              k->vars[s->mma_d[2]].name, k->vars[s->mma_d[3]].name);
    for (int i = 0; i < MMA_ARGS; i++) {
      sb_puts(sb, i == 0 ? "a: " : i == 4 ? "; b: " : i == 6 ? "; c: " : ", ");
      dump_expr(sb, p, k, s->idx[i]);
    }
    sb_puts(sb, ")\n");
    break;
  }
}

char *program_dump(const Program *p) {
  static const char *kinds[] = {"data", "param", "derived", "event", "small", "stat", "partial", "status"};
  static const char *seqs[] = {"iterate", "estep", "mstep", "derived", "once"};
  StrBuf sb = {0};
  sb_printf(&sb, "program %s (%s)\n", p->spec->model, type_name(p->real));
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    sb_printf(&sb, "  buffer %s: %s %s[", b->name, kinds[b->kind], type_name(b->elem));
    for (int a = 0; a < b->rank; a++) {
      if (a) sb_puts(&sb, ", ");
      if (a == 0 && b->event)
        sb_puts(&sb, "n_local");
      else
        sb_printf(&sb, "%lld", (long long)b->dims[a]);
    }
    sb_puts(&sb, b->once ? "] once\n" : "]\n");
  }
  for (int i = 0; i < p->nkernels; i++) {
    const Kernel *k = p->kernels[i];
    sb_printf(&sb, "\nkernel %s  # %s\n", k->name, k->what ? k->what : "");
    for (int a = 0; a < k->nshared; a++)
      sb_printf(&sb, "  shared %s: %s[%lld]\n", k->shared[a].name, type_name(k->shared[a].type),
                (long long)k->shared[a].count);
    if (k->launch == LAUNCH_GRID) {
      sb_puts(&sb, "  grid (");
      for (int a = 0; a < 3; a++) {
        if (a) sb_puts(&sb, ", ");
        if (k->grid[a])
          dump_expr(&sb, p, k, k->grid[a]);
        else
          sb_puts(&sb, "1");
      }
      sb_printf(&sb, ") of %d x %d threads", k->block[0], k->block[1]);
      if (k->min_blocks) sb_printf(&sb, ", %d blocks per multiprocessor", k->min_blocks);
      sb_puts(&sb, ":\n");
    } else {
      sb_printf(&sb, "  parallel %s in [0, ", k->vars[k->pvar].name);
      dump_expr(&sb, p, k, k->count);
      sb_puts(&sb, "):\n");
    }
    dump_stmt(&sb, p, k, k->body, 2);
  }
  sb_puts(&sb, "\n");
  for (int u = 0; u < p->nunits; u++) {
    const Unit *un = &p->units[u];
    sb_printf(&sb, "unit %s:", un->name);
    for (int a = 0; a < un->nalts; a++) {
      sb_printf(&sb, "%s %s%s(", a ? ";" : "", un->alts[a].variant, un->forced == a ? " [scheduled]" : "");
      for (int j = 0; j < un->alts[a].nkernels; j++)
        sb_printf(&sb, "%s%s", j ? " " : "", p->kernels[un->alts[a].kernels[j]]->name);
      for (int j = 0; j < un->alts[a].nmembers; j++)
        sb_printf(&sb, "%s%s", j ? " " : "", p->units[un->alts[a].members[j]].name);
      sb_putc(&sb, ')');
    }
    sb_putc(&sb, '\n');
  }
  for (int s = 0; s < SEQ_COUNT; s++) {
    if (s == SEQ_ONCE && !p->seq[s].len) continue; /* the dump of a spec without once statements is unchanged */
    sb_printf(&sb, "\nsequence %s:", seqs[s]);
    for (int i = 0; i < p->seq[s].len; i++) {
      const Step *st = &p->seq[s].steps[i];
      if (st->kind == STEP_UNIT)
        sb_printf(&sb, " %s", p->units[st->unit].name);
      else {
        sb_puts(&sb, " reduce(");
        for (int j = 0; j < st->nbufs; j++) sb_printf(&sb, "%s%s", j ? "," : "", p->bufs[st->bufs[j]]->name);
        sb_putc(&sb, ')');
      }
    }
    sb_putc(&sb, '\n');
  }
  return sb_take(&sb);
}

void program_free(Program *p) {
  if (!p) return;
  spec_free(p->spec);
  arena_free(&p->arena);
  free(p);
}

int precision_from_name(const char *name, Precision *out) {
  static const struct {
    const char *name;
    Precision p;
  } names[] = {{"float32", PRECISION_FLOAT32},
               {"tf32", PRECISION_TF32},
               {"3xtf32", PRECISION_3XTF32},
               {"bf16", PRECISION_BF16},
               {"float64-stats", PRECISION_STATS64}};
  for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i].name) == 0) {
      *out = names[i].p;
      return 1;
    }
  return 0;
}
