/* Semantic checks: name resolution, index binding, shapes, sections, roles
 * and dependency order. After check_spec every Expr is resolved, every
 * statement's target is bound to a Tensor, and each section's statements are
 * in an order where definitions come before uses.
 *
 * Visibility between sections:
 *   estep   reads data, params, scalars, derived and estep tensors
 *   mstep   reads all of those and mstep tensors; a parameter assigned in
 *           mstep means its new value, except inside its own statement,
 *           where it means the value before the step
 *   derived reads params, scalars and derived tensors
 *   predict reads what estep reads, estep tensors and predict tensors
 *   once    reads data, scalars and once tensors: computed before the first
 *           iteration; its per-event tensors are read in estep, mstep and
 *           predict, its statistics of the data (no event axis) in mstep */
#include <stdarg.h>
#include <string.h>

#include "ast.h"

typedef struct {
  Front *f;
  Spec *s;
  Stmt *stmt;    /* statement being checked */
  int bound[64]; /* index ids bound at this point */
  int nbound;
} Ctx;

static _Noreturn __attribute__((format(printf, 4, 5))) void fail(Ctx *c, size_t b, size_t e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(&c->f->diag, b, e, fmt, ap);
}

static int find_index(Spec *s, const char *name) {
  for (int i = 0; i < s->indices.len; i++)
    if (strcmp(spec_index(s, i)->name, name) == 0) return i;
  return -1;
}

static Tensor *find_tensor(Spec *s, const char *name) {
  for (int i = 0; i < s->tensors.len; i++)
    if (strcmp(spec_tensor(s, i)->name, name) == 0) return spec_tensor(s, i);
  return NULL;
}

static int find_size(Spec *s, const char *name) {
  for (int i = 0; i < s->sizes.len; i++)
    if (strcmp(spec_size(s, i)->name, name) == 0) return i;
  return -1;
}

static int find_scalar(Spec *s, const char *name) {
  for (int i = 0; i < s->scalars.len; i++)
    if (strcmp(spec_scalar(s, i)->name, name) == 0) return i;
  return -1;
}

static int line_of(Spec *s, size_t off) {
  int line, col;
  source_line_col(&s->src, off, &line, &col);
  return line;
}

static const char *size_name(Spec *s, int id) { return spec_size(s, id)->name; }

static const char *ordinal(int k) {
  static const char *const words[] = {"first", "second", "third", "fourth"};
  return k >= 0 && k < 4 ? words[k] : "last";
}

/* "[M, D, D]", or "a scalar" for rank 0. */
static const char *shape_str(Spec *s, const Tensor *t) {
  if (t->rank == 0) return "a scalar";
  StrBuf sb = {0};
  sb_putc(&sb, '[');
  for (int i = 0; i < t->rank; i++) sb_printf(&sb, "%s%s", i ? ", " : "", size_name(s, t->dims[i]));
  sb_putc(&sb, ']');
  return arena_take(&s->arena, &sb);
}

/* ---- suggestions for misspelt names -------------------------------------- */

/* Levenshtein distance with transpositions of neighbours (optimal string
 * alignment): "epx" is one edit from "exp". */
static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

typedef struct {
  const char *name, *best;
  int dist;
} Suggest;

static void consider(Suggest *g, const char *cand) {
  int limit = strlen(g->name) <= 3 ? 1 : 2;
  int d = edit_distance(g->name, cand);
  if (d > 0 && d <= limit && d < (int)strlen(cand) && d < g->dist) {
    g->dist = d;
    g->best = cand;
  }
}

enum { SUG_TENSORS = 1, SUG_INDICES = 2, SUG_VALUES = 4, SUG_FUNCS = 8 };

/* The closest name of the given kinds, or NULL. */
static const char *suggest(Spec *s, const char *name, int kinds) {
  Suggest g = {name, NULL, 99};
  if (kinds & SUG_TENSORS)
    for (int i = 0; i < s->tensors.len; i++) consider(&g, spec_tensor(s, i)->name);
  if (kinds & SUG_INDICES)
    for (int i = 0; i < s->indices.len; i++) consider(&g, spec_index(s, i)->name);
  if (kinds & SUG_VALUES) {
    for (int i = 0; i < s->sizes.len; i++) consider(&g, spec_size(s, i)->name);
    for (int i = 0; i < s->scalars.len; i++) consider(&g, spec_scalar(s, i)->name);
    consider(&g, "pi");
    consider(&g, "eps");
  }
  if (kinds & SUG_FUNCS) {
    for (int i = 0; i <= F_MAX; i++) consider(&g, func_names[i]);
    for (int i = 0; i <= R_ARGMAX; i++) consider(&g, reduce_names[i]);
    consider(&g, "precision_cholesky");
    consider(&g, "precision_cholesky_diag");
  }
  return g.best;
}

/* What a reserved word is, or NULL if `n` is not reserved. */
static const char *reserved_kind(const char *n) {
  for (int i = 0; i <= F_MAX; i++)
    if (strcmp(n, func_names[i]) == 0) return i >= F_MIN ? "a function and a reduction" : "a function";
  for (int i = 0; i <= R_ARGMAX; i++)
    if (strcmp(n, reduce_names[i]) == 0) return "a reduction";
  if (strcmp(n, "pi") == 0 || strcmp(n, "eps") == 0) return "a constant";
  if (strcmp(n, "precision_cholesky") == 0 || strcmp(n, "precision_cholesky_diag") == 0) return "a builtin";
  return NULL;
}

/* The declarations (data, params, their shapes and structures, the event
 * size) are checked as they are read, in spec_yaml.c, where the YAML nodes
 * give each axis its position. */

/* ---- targets ----------------------------------------------------------------- */

static int is_builtin_name(const char *n) {
  return strcmp(n, "precision_cholesky") == 0 || strcmp(n, "precision_cholesky_diag") == 0;
}

static void define_targets(Ctx *c, Stmt *st) {
  Spec *s = c->s;
  c->stmt = st;
  if (st->rhs->kind == E_CALL && is_builtin_name(st->rhs->name)) {
    st->builtin = strcmp(st->rhs->name, "precision_cholesky") == 0 ? BI_PRECISION_CHOLESKY : BI_PRECISION_CHOLESKY_DIAG;
    if (st->ntargets != 1)
      fail(c, st->targets[1].begin, st->targets[st->ntargets - 1].end,
           "%s returns one tensor: assign it to one parameter, as in 'U = %s(C)'", st->rhs->name, st->rhs->name);
  } else if (st->ntargets > 1) {
    fail(c, st->targets[1].begin, st->targets[1].end,
         "only a builtin call can assign several tensors; '%s' is the second target", st->targets[1].name);
  }
  for (int i = 0; i < st->ntargets; i++) {
    Target *tg = &st->targets[i];
    Tensor *t = find_tensor(s, tg->name);
    if (!t) {
      /* a new intermediate; its shape comes from the indices */
      const char *what = find_index(s, tg->name) >= 0    ? "an index"
                         : find_size(s, tg->name) >= 0   ? "a size"
                         : find_scalar(s, tg->name) >= 0 ? "a scalar (its value is set when the model is fitted)"
                                                         : NULL;
      if (what) fail(c, tg->begin, tg->end, "cannot assign to '%s': it is %s, not a tensor", tg->name, what);
      if ((what = reserved_kind(tg->name)))
        fail(c, tg->begin, tg->end, "cannot assign to '%s': it is a reserved name (%s)", tg->name, what);
      if (st->builtin)
        fail(c, tg->begin, tg->end, "the result of %s must be a declared parameter; '%s' is not declared",
             st->rhs->name, tg->name);
      t = arena_alloc(&s->arena, sizeof(Tensor));
      t->name = tg->name;
      t->kind = TK_TEMP;
      t->begin = tg->begin;
      t->end = tg->end;
      t->rank = tg->nidx;
      t->elem = VT_REAL;
      if (t->rank > GMMC_MAX_RANK) fail(c, tg->begin, tg->end, "'%s' has too many axes (at most 4)", tg->name);
      t->id = s->tensors.len;
      ptrvec_push(&s->arena, &s->tensors, t);
    } else if (t->kind == TK_DATA) {
      fail(c, tg->begin, tg->end, "cannot assign to data '%s': data are read-only inputs", tg->name);
    } else if (t->def) {
      fail(c, tg->begin, tg->end, "duplicate definition of '%s' (first defined at line %d)", tg->name,
           line_of(s, t->def->begin));
    }
    if (t->kind == TK_PARAM && st->section != SEC_MSTEP)
      fail(c, tg->begin, tg->end, "parameter '%s' can only be assigned in mstep, not in %s", tg->name,
           section_names[st->section]);
    t->def = st;
    tg->tensor = t;
    if (st->builtin) {
      if (tg->has_brackets)
        fail(c, tg->begin, tg->end, "a builtin assigns the whole tensor: write '%s' without indices", tg->name);
      continue;
    }
    /* indices on the left: declared, distinct, on the right axes */
    if (t->kind == TK_PARAM && tg->nidx != t->rank)
      fail(c, tg->begin, tg->end, "'%s' has %d ax%s, %s, but is assigned with %d ind%s", tg->name, t->rank,
           t->rank == 1 ? "is" : "es", shape_str(s, t), tg->nidx, tg->nidx == 1 ? "ex" : "ices");
    for (int k = 0; k < tg->nidx; k++) {
      IndexRef *r = &tg->idx[k];
      r->id = find_index(s, r->name);
      if (r->id < 0) {
        if (find_size(s, r->name) >= 0 || find_tensor(s, r->name) || find_scalar(s, r->name) >= 0)
          fail(c, r->begin, r->end, "'%s' is not an index; tensors are indexed by index names only", r->name);
        fail(c, r->begin, r->end, "unknown index '%s' (declare it under 'indices')", r->name);
      }
      for (int j = 0; j < k; j++)
        if (tg->idx[j].id == r->id) fail(c, r->begin, r->end, "index '%s' appears twice on the left", r->name);
      int size = spec_index(s, r->id)->size;
      if (t->kind == TK_TEMP) {
        t->dims[k] = size;
        if (size == s->event_size && k > 0)
          fail(c, r->begin, r->end, "the event index '%s' must be the first index of '%s'", r->name, tg->name);
      } else if (t->dims[k] != size) {
        fail(c, r->begin, r->end, "index '%s' ranges over %s but the %s axis of '%s' has size %s", r->name,
             size_name(s, size), ordinal(k), tg->name, size_name(s, t->dims[k]));
      }
    }
  }
}

/* ---- expressions ------------------------------------------------------------ */

static int is_bound(Ctx *c, int id) {
  for (int i = 0; i < c->nbound; i++)
    if (c->bound[i] == id) return 1;
  return 0;
}

static int on_lhs(Ctx *c, int id) {
  Target *tg = &c->stmt->targets[0];
  for (int i = 0; i < tg->nidx; i++)
    if (tg->idx[i].id == id) return 1;
  return 0;
}

static const char *const reads[SEC_COUNT] = {
    "estep reads data, parameters, scalars, derived and estep tensors",
    "mstep reads data, parameters, scalars, derived, estep and mstep tensors",
    "derived reads parameters, scalars and derived tensors",
    "predict reads data, parameters, scalars, derived, estep and predict tensors",
    "once reads data, scalars and once tensors"};

/* A once tensor with the event axis: a per-event constant of the data. */
static int per_event(const Spec *s, const Tensor *t) { return t->rank > 0 && t->dims[0] == s->event_size; }

/* Whether tensor t may be read from statement st's section. */
static void check_visible(Ctx *c, Expr *e, Tensor *t) {
  Section here = c->stmt->section;
  if (here == SEC_ONCE && t->kind == TK_PARAM)
    fail(c, e->begin, e->end,
         "once statements cannot read parameter '%s': they run before the first iteration, on the data alone (%s)",
         t->name, reads[here]);
  if (t->kind != TK_TEMP) {
    if (t->kind == TK_DATA && here == SEC_DERIVED)
      fail(c, e->begin, e->end, "derived statements cannot read data '%s' (%s)", t->name, reads[here]);
    return;
  }
  Section there = t->def->section;
  if (there == SEC_ONCE && here != SEC_ONCE) {
    /* per-event constants go wherever the data go; statistics of the data
     * only to mstep, which runs in fitting alone (inference runs estep and
     * predict on other data, and derived when a model is loaded) */
    if (per_event(c->s, t) && here != SEC_DERIVED) return;
    if (!per_event(c->s, t) && here == SEC_MSTEP) return;
    fail(c, e->begin, e->end, "'%s' is %s computed once and cannot be used in %s (%s)", t->name,
         per_event(c->s, t) ? "a per-event constant of the data" : "a statistic of the training data",
         section_names[here],
         per_event(c->s, t) ? "per-event once tensors are read in estep, mstep, predict and once"
                            : "once tensors without the event axis are read in mstep and once");
  }
  if (there == SEC_ONCE && here == SEC_ONCE && per_event(c->s, c->stmt->targets[0].tensor) && !per_event(c->s, t))
    fail(c, e->begin, e->end,
         "the per-event once tensor '%s' cannot read the statistic '%s': per-event once tensors are functions of "
         "their event's data (they are recomputed with the data, as in inference, without the statistics)",
         c->stmt->targets[0].name, t->name);
  int ok = there == here || there == SEC_DERIVED || (there == SEC_ESTEP && (here == SEC_MSTEP || here == SEC_PREDICT));
  if (there == SEC_DERIVED && here == SEC_ONCE) ok = 0;
  if (!ok)
    fail(c, e->begin, e->end, "'%s' is computed in %s and cannot be used in %s (%s)", t->name, section_names[there],
         section_names[here], reads[here]);
}

static void resolve(Ctx *c, Expr *e);

/* The end of the name that starts a call or an access: where a message
 * about the name itself puts its caret. */
static size_t name_end(const Expr *e) { return e->begin + strlen(e->name); }

#define SELF_MSG                                                                                                       \
  "'%s' is used in its own definition: only a parameter may read its previous value, in its mstep statement"

static int uses_index(Expr *e, int id) {
  if (!e) return 0;
  if (e->kind == E_NAME && e->ref == REF_INDEX && e->ref_id == id) return 1;
  if (e->kind == E_ACCESS)
    for (int i = 0; i < e->nidx; i++)
      if (e->idx[i].id == id) return 1;
  for (int i = 0; i < e->nargs; i++)
    if (uses_index(e->args[i], id)) return 1;
  return 0;
}

static void resolve_index_ref(Ctx *c, IndexRef *r) {
  r->id = find_index(c->s, r->name);
  if (r->id < 0) {
    if (find_tensor(c->s, r->name) || find_size(c->s, r->name) >= 0 || find_scalar(c->s, r->name) >= 0)
      fail(c, r->begin, r->end, "'%s' is not an index; tensors are indexed by index names only", r->name);
    fail(c, r->begin, r->end, "unknown index '%s' (declare it under 'indices')", r->name);
  }
  if (!is_bound(c, r->id))
    fail(c, r->begin, r->end, "unbound index '%s': it is neither on the left-hand side nor reduced over", r->name);
}

static void resolve_name(Ctx *c, Expr *e) {
  Spec *s = c->s;
  int id;
  if ((id = find_index(s, e->name)) >= 0) {
    if (!is_bound(c, id))
      fail(c, e->begin, e->end, "unbound index '%s': it is neither on the left-hand side nor reduced over", e->name);
    e->ref = REF_INDEX;
    e->ref_id = id;
    e->type = VT_INT;
  } else if ((id = find_size(s, e->name)) >= 0) {
    e->ref = REF_SIZE;
    e->ref_id = id;
    e->type = VT_INT;
  } else if (strcmp(e->name, "pi") == 0 || strcmp(e->name, "eps") == 0) {
    e->ref = REF_CONST;
    e->ref_id = strcmp(e->name, "pi") == 0 ? C_PI : C_EPS;
    e->type = VT_REAL;
  } else if ((id = find_scalar(s, e->name)) >= 0) {
    e->ref = REF_SCALAR;
    e->ref_id = id;
    e->type = VT_REAL;
  } else {
    Tensor *t = find_tensor(s, e->name);
    if (!t) {
      const char *kind = reserved_kind(e->name);
      if (kind && strcmp(kind, "a reduction") == 0)
        fail(c, e->begin, e->end, "'%s' is a reduction: write %s(INDEX, EXPRESSION), as in %s(d, X[n,d])", e->name,
             e->name, e->name);
      if (kind) fail(c, e->begin, e->end, "'%s' is %s: call it, as in %s(...)", e->name, kind, e->name);
      const char *near = suggest(s, e->name, SUG_TENSORS | SUG_INDICES | SUG_VALUES);
      if (near) fail(c, e->begin, e->end, "unknown name '%s': did you mean '%s'?", e->name, near);
      fail(c, e->begin, e->end, "unknown name '%s': not a tensor, scalar, size, index or constant", e->name);
    }
    if (t->rank > 0)
      fail(c, e->begin, e->end, "'%s' has %d ax%s, %s; index it, as in %s[...]", t->name, t->rank,
           t->rank == 1 ? "is" : "es", shape_str(s, t), t->name);
    e->kind = E_ACCESS; /* a 0-d tensor read */
    e->ref = REF_TENSOR;
    e->tensor = t;
    e->type = t->elem;
    check_visible(c, e, t);
    if (t == c->stmt->targets[0].tensor) {
      if (t->kind != TK_PARAM) fail(c, e->begin, e->end, SELF_MSG, t->name);
      e->prev = 1;
    }
  }
}

static void resolve_access(Ctx *c, Expr *e) {
  Spec *s = c->s;
  Tensor *t = find_tensor(s, e->name);
  if (!t) {
    size_t ne = name_end(e);
    if (find_index(s, e->name) >= 0)
      fail(c, e->begin, ne, "'%s' is an index, not a tensor, and cannot be indexed", e->name);
    if (find_size(s, e->name) >= 0) fail(c, e->begin, ne, "'%s' is a size and cannot be indexed", e->name);
    if (find_scalar(s, e->name) >= 0) fail(c, e->begin, ne, "'%s' is a scalar and cannot be indexed", e->name);
    const char *near = suggest(s, e->name, SUG_TENSORS);
    if (near) fail(c, e->begin, ne, "unknown tensor '%s': did you mean '%s'?", e->name, near);
    fail(c, e->begin, ne, "unknown tensor '%s': not declared under data or params, and no statement defines it",
         e->name);
  }
  if (e->nidx != t->rank)
    fail(c, e->begin, e->end, "'%s' has %d ax%s, %s, but is indexed with %d ind%s", t->name, t->rank,
         t->rank == 1 ? "is" : "es", shape_str(s, t), e->nidx, e->nidx == 1 ? "ex" : "ices");
  for (int i = 0; i < e->nidx; i++) {
    IndexRef *r = &e->idx[i];
    resolve_index_ref(c, r);
    int size = spec_index(s, r->id)->size;
    if (size != t->dims[i])
      fail(c, r->begin, r->end, "index '%s' ranges over %s but the %s axis of '%s' has size %s", r->name,
           size_name(s, size), ordinal(i), t->name, size_name(s, t->dims[i]));
  }
  check_visible(c, e, t);
  e->ref = REF_TENSOR;
  e->tensor = t;
  e->type = t->elem;
  Target *tg = &c->stmt->targets[0];
  if (t == tg->tensor) {
    if (t->kind != TK_PARAM) fail(c, e->begin, e->end, SELF_MSG, t->name);
    int same = e->nidx == tg->nidx;
    for (int i = 0; same && i < e->nidx; i++) same = e->idx[i].id == tg->idx[i].id;
    if (!same)
      fail(c, e->begin, e->end,
           "'%s' may read its own previous value only at the element it assigns (the same indices as on the left)",
           t->name);
    e->prev = 1;
  }
}

static void resolve_call(Ctx *c, Expr *e) {
  int fn = -1;
  for (int i = 0; i <= F_MAX; i++)
    if (strcmp(e->name, func_names[i]) == 0) fn = i;
  if (fn < 0) {
    if (is_builtin_name(e->name))
      fail(c, e->begin, name_end(e), "%s is a builtin: use it as a whole statement, as in 'U = %s(C)'", e->name,
           e->name);
    for (int i = 0; i <= R_ARGMAX; i++)
      if (strcmp(e->name, reduce_names[i]) == 0)
        fail(c, e->begin, name_end(e), "%s needs an index and an expression, as in %s(d, X[n,d])", e->name, e->name);
    const char *near = suggest(c->s, e->name, SUG_FUNCS);
    if (near) fail(c, e->begin, name_end(e), "unknown function '%s': did you mean '%s'?", e->name, near);
    fail(c, e->begin, name_end(e),
         "unknown function '%s': expected exp, log, log1p, pow, sqrt, sq, abs, lgamma, digamma, select, min, max or a "
         "reduction",
         e->name);
  }
  int arity = fn == F_SELECT ? 3 : (fn == F_MIN || fn == F_MAX || fn == F_POW) ? 2 : 1;
  if (e->nargs != arity)
    fail(c, e->begin, e->end, "%s takes %d argument%s, found %d", e->name, arity, arity > 1 ? "s" : "", e->nargs);
  e->op = fn;
  for (int i = 0; i < e->nargs; i++) resolve(c, e->args[i]);
  if (fn == F_SELECT) {
    e->type = e->args[1]->type == VT_INT && e->args[2]->type == VT_INT ? VT_INT : VT_REAL;
  } else {
    e->type = VT_REAL;
  }
}

static void resolve_reduce(Ctx *c, Expr *e) {
  Spec *s = c->s;
  int id = find_index(s, e->red.name);
  if (id < 0) {
    if (e->op == R_MAX || e->op == R_MIN) {
      /* max(a, b) with a not an index: the element function */
      Expr *a = arena_alloc(&s->arena, sizeof(Expr));
      a->kind = E_NAME;
      a->name = e->red.name;
      a->begin = e->red.begin;
      a->end = e->red.end;
      Expr *b = e->args[0];
      e->kind = E_CALL;
      e->args[0] = a;
      e->args[1] = b;
      e->nargs = 2;
      resolve_call(c, e);
      return;
    }
    if (!find_tensor(s, e->red.name) && find_size(s, e->red.name) < 0 && find_scalar(s, e->red.name) < 0 &&
        !reserved_kind(e->red.name))
      fail(c, e->red.begin, e->red.end, "unknown index '%s' (declare it under 'indices')", e->red.name);
    fail(c, e->red.begin, e->red.end, "'%s' is not an index: %s needs an index as its first argument", e->red.name,
         e->name);
  }
  if (is_bound(c, id)) {
    const char *why = on_lhs(c, id) ? "it is on the left-hand side" : "an enclosing reduction binds it";
    if (e->op == R_MAX || e->op == R_MIN)
      fail(c, e->red.begin, e->red.end,
           "index '%s' is already bound here: %s (%s(%s, x) is a reduction over '%s'; for the element-wise %s, "
           "write %s(x, %s))",
           e->red.name, why, e->name, e->red.name, e->red.name, e->name, e->name, e->red.name);
    fail(c, e->red.begin, e->red.end, "index '%s' is already bound here: %s", e->red.name, why);
  }
  e->red.id = id;
  int size = spec_index(s, id)->size;
  if (size == s->event_size && (e->op == R_LOGSUMEXP || e->op == R_ARGMIN || e->op == R_ARGMAX))
    fail(c, e->red.begin, e->red.end, "%s over the event index '%s' is not supported (only sum, max and min)", e->name,
         e->red.name);
  if (c->nbound == 64) fail(c, e->begin, e->end, "%s", "reductions nested too deeply");
  c->bound[c->nbound++] = id;
  resolve(c, e->args[0]);
  c->nbound--;
  if (!uses_index(e->args[0], id))
    fail(c, e->red.begin, e->red.end, "%s over '%s', but '%s' does not occur in the expression reduced", e->name,
         e->red.name, e->red.name);
  e->type = (e->op == R_ARGMIN || e->op == R_ARGMAX) ? VT_INT : VT_REAL;
}

static void resolve(Ctx *c, Expr *e) {
  switch (e->kind) {
  case E_NUM: e->type = VT_REAL; break;
  case E_NAME: resolve_name(c, e); break;
  case E_ACCESS: resolve_access(c, e); break;
  case E_UNARY:
    resolve(c, e->args[0]);
    e->type = e->op == U_NOT ? VT_BOOL : (e->args[0]->type == VT_INT ? VT_INT : VT_REAL);
    break;
  case E_BINARY:
    resolve(c, e->args[0]);
    resolve(c, e->args[1]);
    if (e->op >= B_LT)
      e->type = VT_BOOL;
    else if (e->op != B_DIV && e->args[0]->type == VT_INT && e->args[1]->type == VT_INT)
      e->type = VT_INT;
    else
      e->type = VT_REAL;
    break;
  case E_CALL: resolve_call(c, e); break;
  case E_REDUCE: resolve_reduce(c, e); break;
  }
}

static void check_builtin(Ctx *c, Stmt *st) {
  Spec *s = c->s;
  Expr *call = st->rhs;
  if (call->nargs != 1 || call->args[0]->kind != E_NAME)
    fail(c, call->begin, call->end, "%s takes one tensor name, as in 'U = %s(C)'", call->name, call->name);
  Expr *a = call->args[0];
  Tensor *in = find_tensor(s, a->name);
  if (!in) {
    const char *near = suggest(s, a->name, SUG_TENSORS);
    if (near) fail(c, a->begin, a->end, "unknown tensor '%s': did you mean '%s'?", a->name, near);
    fail(c, a->begin, a->end, "unknown tensor '%s': not declared under data or params, and no statement defines it",
         a->name);
  }
  a->kind = E_ACCESS;
  a->ref = REF_TENSOR;
  a->tensor = in;
  check_visible(c, a, in);
  Tensor *out = st->targets[0].tensor;
  if (in == out) fail(c, a->begin, a->end, SELF_MSG, in->name);
  int same = in->rank == out->rank;
  for (int i = 0; same && i < in->rank; i++) same = in->dims[i] == out->dims[i];
  if (!same)
    fail(c, a->begin, a->end, "%s returns a tensor of its argument's shape, but '%s' is %s and '%s' is %s", call->name,
         out->name, shape_str(s, out), in->name, shape_str(s, in));
  if (st->builtin == BI_PRECISION_CHOLESKY) {
    if (in->rank < 2 || in->dims[in->rank - 1] != in->dims[in->rank - 2])
      fail(c, a->begin, a->end, "precision_cholesky needs square matrices in the last two axes; '%s' is %s", in->name,
           shape_str(s, in));
    if (out->structure != ST_NONE && out->structure != ST_UPPER)
      fail(c, st->targets[0].begin, st->targets[0].end,
           "precision_cholesky returns an upper-triangular factor, but '%s' is declared %s", out->name,
           structure_names[out->structure]);
  }
}

/* ---- dependency order ----------------------------------------------------- */

static void collect_deps(Expr *e, PtrVec *out, Arena *a) {
  if (!e) return;
  if (e->kind == E_ACCESS && e->tensor && !e->prev) ptrvec_push(a, out, e->tensor);
  for (int i = 0; i < e->nargs; i++) collect_deps(e->args[i], out, a);
}

typedef struct {
  Ctx *c;
  PtrVec *stmts;
  PtrVec *deps; /* per statement: tensors read */
  int *state;   /* 0 new, 1 visiting, 2 done */
  int *path;
  int depth;
  PtrVec sorted;
} Topo;

static int stmt_index(Topo *t, Stmt *st) {
  for (int i = 0; i < t->stmts->len; i++)
    if (t->stmts->items[i] == st) return i;
  return -1;
}

static void visit(Topo *t, int i) {
  if (t->state[i] == 2) return;
  Stmt *st = t->stmts->items[i];
  if (t->state[i] == 1) {
    /* report the cycle from the first statement on it */
    StrBuf sb = {0};
    int start = 0;
    while (t->path[start] != i) start++;
    for (int k = start; k < t->depth; k++) {
      Stmt *a = t->stmts->items[t->path[k]];
      sb_printf(&sb, k == start ? "'%s' reads " : "'%s', which reads ", a->targets[0].name);
    }
    sb_printf(&sb, "'%s'", st->targets[0].name);
    char *chain = arena_take(&t->c->s->arena, &sb);
    Stmt *first = t->stmts->items[t->path[start]];
    fail(t->c, first->targets[0].begin, first->targets[0].end, "cyclic dependency in %s: %s",
         section_names[first->section], chain);
  }
  t->state[i] = 1;
  t->path[t->depth++] = i;
  PtrVec *d = &t->deps[i];
  for (int k = 0; k < d->len; k++) {
    Tensor *x = d->items[k];
    if (!x->def || x->def->section != st->section) continue;
    int j = stmt_index(t, x->def);
    if (j >= 0) visit(t, j);
  }
  t->depth--;
  t->state[i] = 2;
  ptrvec_push(&t->c->s->arena, &t->sorted, st);
}

static void sort_section(Ctx *c, Section sec) {
  Spec *s = c->s;
  PtrVec *stmts = &s->stmts[sec];
  int n = stmts->len;
  if (!n) return;
  Topo t = {.c = c, .stmts = stmts};
  t.deps = arena_alloc(&s->arena, sizeof(PtrVec) * (size_t)n);
  t.state = arena_alloc(&s->arena, sizeof(int) * (size_t)n);
  t.path = arena_alloc(&s->arena, sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) {
    Stmt *st = stmts->items[i];
    collect_deps(st->rhs, &t.deps[i], &s->arena);
  }
  for (int i = 0; i < n; i++) visit(&t, i);
  *stmts = t.sorted;
}

/* ---- outputs ---------------------------------------------------------------- */

static Tensor *bind_output(Ctx *c, Tensor *placeholder, const char *role) {
  if (!placeholder) return NULL;
  Tensor *t = find_tensor(c->s, placeholder->name);
  if (!t) {
    const char *near = suggest(c->s, placeholder->name, SUG_TENSORS);
    if (near)
      fail(c, placeholder->begin, placeholder->end,
           "output %s names '%s', which no statement defines: did you mean "
           "'%s'?",
           role, placeholder->name, near);
    fail(c, placeholder->begin, placeholder->end, "output %s names '%s', which no statement defines", role,
         placeholder->name);
  }
  if (t->kind != TK_TEMP || !t->def || (t->def->section != SEC_ESTEP && t->def->section != SEC_PREDICT))
    fail(c, placeholder->begin, placeholder->end,
         "output %s must be computed by an estep or predict statement; '%s' is %s", role, t->name,
         t->kind == TK_DATA    ? "data"
         : t->kind == TK_PARAM ? "a parameter"
                               : arena_printf(&c->s->arena, "computed in %s", section_names[t->def->section]));
  return t;
}

static void check_outputs(Ctx *c) {
  Spec *s = c->s;
  int ev = s->event_size;
  Tensor *ph;
  if (!s->objective)
    diag_error(&c->f->diag, s->outputs_begin, s->outputs_end,
               "outputs: missing 'objective', the scalar estep tensor that EM maximizes, as in 'objective: loglik'");
  ph = s->objective;
  s->objective = bind_output(c, ph, "objective");
  if (s->objective->rank != 0)
    fail(c, ph->begin, ph->end, "the objective '%s' must be a scalar computed in estep; it is %s", ph->name,
         shape_str(s, s->objective));
  if (s->objective->def->section != SEC_ESTEP)
    fail(c, ph->begin, ph->end, "the objective '%s' must be a scalar computed in estep, not in %s", ph->name,
         section_names[s->objective->def->section]);
  if ((ph = s->lower_bound)) {
    /* what EM reports and tests for convergence, when not objective / N: a bound that needs the
     * M-step's parameters (a variational one) is computed in mstep */
    Tensor *t = find_tensor(s, ph->name);
    if (!t || t->kind != TK_TEMP || !t->def || (t->def->section != SEC_ESTEP && t->def->section != SEC_MSTEP))
      fail(c, ph->begin, ph->end,
           "output lower_bound must be a scalar computed by an estep or mstep statement; '%s' is %s", ph->name,
           !t                    ? "not defined by any statement"
           : t->kind == TK_DATA  ? "data"
           : t->kind == TK_PARAM ? "a parameter"
                                 : arena_printf(&s->arena, "computed in %s", section_names[t->def->section]));
    if (t->rank != 0)
      fail(c, ph->begin, ph->end, "output lower_bound '%s' must be a scalar; it is %s", ph->name, shape_str(s, t));
    s->lower_bound = t;
  }
  if ((ph = s->score_samples)) {
    s->score_samples = bind_output(c, ph, "score_samples");
    if (s->score_samples->rank != 1 || s->score_samples->dims[0] != ev)
      fail(c, ph->begin, ph->end, "score_samples '%s' must have shape [%s]; it is %s", ph->name, size_name(s, ev),
           shape_str(s, s->score_samples));
  }
  if ((ph = s->predict_proba)) {
    Tensor *t = s->predict_proba = bind_output(c, ph, "predict_proba");
    if (t->rank != 2 || t->dims[0] != ev)
      fail(c, ph->begin, ph->end, "predict_proba '%s' must have shape [%s, components]; it is %s", ph->name,
           size_name(s, ev), shape_str(s, t));
    s->component_size = t->dims[1];
  }
  if ((ph = s->predict)) {
    Tensor *t = s->predict = bind_output(c, ph, "predict");
    if (t->rank != 1 || t->dims[0] != ev)
      fail(c, ph->begin, ph->end, "predict '%s' must be integer labels of shape [%s]; it is %s", ph->name,
           size_name(s, ev), shape_str(s, t));
    if (t->elem != VT_INT)
      fail(c, ph->begin, ph->end, "predict '%s' must be integer labels (from argmax or argmin); its values are real",
           ph->name);
  }
  if (s->n_parameters) {
    Expr *e = s->n_parameters;
    /* a size expression: numbers, fixed sizes and + - * / */
    PtrVec todo = {0};
    ptrvec_push(&s->arena, &todo, e);
    while (todo.len) {
      Expr *x = todo.items[--todo.len];
      if (x->kind == E_NAME) {
        int id = find_size(s, x->name);
        if (id == ev)
          fail(c, x->begin, x->end,
               "n_parameters may use only numbers and the fixed sizes; '%s' is the event size, which varies", x->name);
        if (id < 0)
          fail(c, x->begin, x->end, "n_parameters may use only numbers and the fixed sizes; '%s' is not a size",
               x->name);
        x->ref = REF_SIZE;
        x->ref_id = id;
      } else if (x->kind == E_BINARY && x->op <= B_DIV) {
        ptrvec_push(&s->arena, &todo, x->args[0]);
        ptrvec_push(&s->arena, &todo, x->args[1]);
      } else if (x->kind == E_UNARY && x->op == U_NEG) {
        ptrvec_push(&s->arena, &todo, x->args[0]);
      } else if (x->kind != E_NUM) {
        fail(c, x->begin, x->end, "%s", "n_parameters may use only numbers, fixed sizes and + - * /");
      }
    }
  }
}

static void check_schedule(Ctx *c) {
  Spec *s = c->s;
  for (int i = 0; i < s->schedule.len; i++) {
    ScheduleEntry *e = s->schedule.items[i];
    Tensor *t = find_tensor(s, e->target);
    if (!t || !t->def) {
      const char *near = suggest(s, e->target, SUG_TENSORS);
      if (near)
        fail(c, e->begin, e->end, "schedule names '%s', but no statement defines it: did you mean '%s'?", e->target,
             near);
      fail(c, e->begin, e->end, "schedule names '%s', but no statement defines it", e->target);
    }
    for (int j = 0; j < i; j++)
      if (strcmp(((ScheduleEntry *)s->schedule.items[j])->target, e->target) == 0)
        fail(c, e->begin, e->end, "schedule: '%s' is scheduled twice", e->target);
  }
}

void check_spec(Front *f) {
  Ctx c = {.f = f, .s = f->spec};
  Spec *s = f->spec;
  for (int sec = 0; sec < SEC_COUNT; sec++)
    for (int i = 0; i < s->stmts[sec].len; i++) define_targets(&c, s->stmts[sec].items[i]);
  /* once first: it reads nothing of the others, they read its tensors (their types known then), and
   * its errors (a parameter read before any exists) explain the others' */
  static const Section order[SEC_COUNT] = {SEC_ONCE, SEC_ESTEP, SEC_MSTEP, SEC_DERIVED, SEC_PREDICT};
  for (int o = 0; o < SEC_COUNT; o++) {
    int sec = order[o];
    for (int i = 0; i < s->stmts[sec].len; i++) {
      Stmt *st = s->stmts[sec].items[i];
      c.stmt = st;
      c.nbound = 0;
      if (st->builtin) {
        check_builtin(&c, st);
        continue;
      }
      Target *tg = &st->targets[0];
      for (int k = 0; k < tg->nidx; k++) c.bound[c.nbound++] = tg->idx[k].id;
      resolve(&c, st->rhs);
      Tensor *t = tg->tensor;
      if (t->kind == TK_TEMP)
        t->elem = st->rhs->type == VT_INT ? VT_INT : VT_REAL;
      else if (st->rhs->type == VT_INT && t->kind == TK_PARAM) {
        /* integer values stored into a real parameter: fine, converted */
      }
    }
  }
  for (int sec = 0; sec < SEC_COUNT; sec++) sort_section(&c, (Section)sec);
  check_outputs(&c);
  check_schedule(&c);
}
