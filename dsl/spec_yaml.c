/* Reads the YAML structure of a spec with libyaml's document API: the
 * declarations (sizes, indices, data, params, scalars), the statement lists of
 * each section, the outputs and the schedule. Statement text is handed to the
 * expression parser with its exact byte span, so errors inside an expression
 * point at the right line and column even in multi-line scalars. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ast.h"

typedef struct {
  Front *f;
  yaml_document_t doc;
  const char *first_data; /* the data tensor that fixed the event size */
  yaml_node_t *optional;  /* the value of the 'optional' key of the tensor being declared */
} Loader;

/* Deeper YAML than a spec ever needs (it needs 4 levels) is refused before
 * libyaml's recursive, and on deep nesting quadratic, loader sees it. */
enum { MAX_YAML_DEPTH = 16 };

/* reductions, element functions, constants, builtins (kinds by position) */
static const char *const reserved[] = {"sum",
                                       "max",
                                       "min",
                                       "logsumexp",
                                       "argmin",
                                       "argmax",
                                       "exp",
                                       "log",
                                       "sqrt",
                                       "sq",
                                       "abs",
                                       "log1p",
                                       "lgamma",
                                       "digamma",
                                       "pow",
                                       "select",
                                       "pi",
                                       "eps",
                                       "precision_cholesky",
                                       "precision_cholesky_diag",
                                       NULL};

static void span(Loader *l, yaml_node_t *n, size_t *b, size_t *e) {
  const Source *src = &l->f->spec->src;
  *b = source_offset(src, n->start_mark.line, n->start_mark.column);
  *e = source_offset(src, n->end_mark.line, n->end_mark.column);
  if (*e < *b) *e = *b;
}

static _Noreturn void node_error(Loader *l, yaml_node_t *n, const char *fmt, const char *arg) {
  size_t b, e;
  span(l, n, &b, &e);
  if (e == b) e = b + 1;
  diag_error(&l->f->diag, b, e, fmt, arg);
}

static yaml_node_t *node(Loader *l, int id) { return yaml_document_get_node(&l->doc, id); }

static const char *kind_name(yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE:
    return n->data.scalar.length == 0 && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "an empty value"
                                                                                         : "a scalar";
  case YAML_SEQUENCE_NODE: return "a list";
  case YAML_MAPPING_NODE: return "a mapping";
  default: return "nothing";
  }
}

static void expect_type(Loader *l, yaml_node_t *n, yaml_node_type_t t, const char *what) {
  if (n->type != t) {
    size_t b, e;
    span(l, n, &b, &e);
    diag_error(&l->f->diag, b, e > b ? e : b + 1, "expected %s, found %s", what, kind_name(n));
  }
}

static const char *scalar(Loader *l, yaml_node_t *n, const char *what) {
  expect_type(l, n, YAML_SCALAR_NODE, what);
  return arena_strndup(&l->f->spec->arena, (const char *)n->data.scalar.value, n->data.scalar.length);
}

static int is_identifier(const char *s) {
  if (!(isalpha((unsigned char)*s) || *s == '_')) return 0;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
  return 1;
}

static double number(Loader *l, yaml_node_t *n, const char *what) {
  const char *s = scalar(l, n, what);
  char *stop;
  errno = 0;
  double v = strtod(s, &stop);
  if (!*s || *stop || errno == ERANGE || !isfinite(v)) node_error(l, n, "expected a finite number, found '%s'", s);
  return v;
}

/* Any name declared anywhere in the spec, for duplicate detection; *what
 * says what it was declared as. */
static const void *find_decl(Spec *s, const char *name, size_t *at, const char **what) {
  PtrVec *tables[] = {&s->sizes, &s->indices, &s->tensors, &s->scalars};
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < tables[t]->len; i++) {
      const void *d = tables[t]->items[i];
      const char *dn;
      size_t b;
      switch (t) {
      case 0:
        dn = ((const SizeSym *)d)->name;
        b = ((const SizeSym *)d)->begin;
        break;
      case 1:
        dn = ((const IndexSym *)d)->name;
        b = ((const IndexSym *)d)->begin;
        break;
      case 2:
        dn = ((const Tensor *)d)->name;
        b = ((const Tensor *)d)->begin;
        break;
      default:
        dn = ((const ScalarSym *)d)->name;
        b = ((const ScalarSym *)d)->begin;
        break;
      }
      if (strcmp(dn, name) == 0) {
        static const char *const kinds[] = {"a size", "an index", "a tensor", "a scalar"};
        *at = b;
        *what = kinds[t];
        if (t == 2) *what = ((const Tensor *)d)->kind == TK_DATA ? "data" : "a parameter";
        return d;
      }
    }
  return NULL;
}

/* A new declared name: an identifier, not reserved, not declared before. */
static const char *decl_name(Loader *l, yaml_node_t *n, const char *what) {
  const char *name = scalar(l, n, what);
  if (!is_identifier(name))
    node_error(l, n, "'%s' is not a valid name: expected a letter or '_' followed by letters, digits or '_'", name);
  for (int i = 0; reserved[i]; i++)
    if (strcmp(reserved[i], name) == 0) {
      const char *kind = i < 6 ? "a reduction" : i < 16 ? "a function" : i < 18 ? "a constant" : "a builtin";
      size_t b, e;
      span(l, n, &b, &e);
      diag_error(&l->f->diag, b, e, "'%s' is a reserved name (%s); choose another name", name, kind);
    }
  size_t at;
  const char *as;
  if (find_decl(l->f->spec, name, &at, &as)) {
    int line, col;
    source_line_col(&l->f->spec->src, at, &line, &col);
    size_t b, e;
    span(l, n, &b, &e);
    diag_error(&l->f->diag, b, e, "'%s' is already declared as %s at line %d", name, as, line);
  }
  return name;
}

static int find_size(Loader *l, yaml_node_t *n) {
  const char *name = scalar(l, n, "a size name");
  Spec *s = l->f->spec;
  for (int i = 0; i < s->sizes.len; i++)
    if (strcmp(spec_size(s, i)->name, name) == 0) return i;
  node_error(l, n, "unknown size '%s' (declare it under 'sizes')", name);
}

/* Iterates the pairs of a mapping, rejecting duplicate keys. */
#define FOR_PAIRS(l, map, pair)                                                                                        \
  for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                                                       \
       pair < (map)->data.mapping.pairs.top && (check_dup(l, map, pair), 1); pair++)

static void check_dup(Loader *l, yaml_node_t *map, yaml_node_pair_t *pair) {
  yaml_node_t *k = node(l, pair->key);
  if (k->type != YAML_SCALAR_NODE) node_error(l, k, "expected a name as key, found %s", kind_name(k));
  for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
    yaml_node_t *k2 = node(l, q->key);
    if (k2->type == YAML_SCALAR_NODE && k2->data.scalar.length == k->data.scalar.length &&
        memcmp(k2->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0) {
      size_t b, e;
      span(l, k, &b, &e);
      int line = (int)k2->start_mark.line + 1;
      diag_error(&l->f->diag, b, e, "duplicate key '%.*s' (first at line %d)", (int)k->data.scalar.length,
                 (const char *)k->data.scalar.value, line);
    }
  }
}

static void load_sizes(Loader *l, yaml_node_t *n) {
  expect_type(l, n, YAML_SEQUENCE_NODE, "a list of size names, such as [N, M, D]");
  Spec *s = l->f->spec;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *x = node(l, *it);
    SizeSym *z = arena_alloc(&s->arena, sizeof(SizeSym));
    z->name = decl_name(l, x, "a size name");
    span(l, x, &z->begin, &z->end);
    z->id = s->sizes.len;
    ptrvec_push(&s->arena, &s->sizes, z);
  }
  if (s->sizes.len == 0) node_error(l, n, "%s", "'sizes' is empty: declare at least the event count, as in [N, M, D]");
}

static void load_indices(Loader *l, yaml_node_t *n) {
  expect_type(l, n, YAML_MAPPING_NODE, "a mapping from index names to sizes, such as {n: N, d: D}");
  Spec *s = l->f->spec;
  FOR_PAIRS(l, n, p) {
    IndexSym *ix = arena_alloc(&s->arena, sizeof(IndexSym));
    yaml_node_t *k = node(l, p->key);
    ix->name = decl_name(l, k, "an index name");
    span(l, k, &ix->begin, &ix->end);
    ix->size = find_size(l, node(l, p->value));
    ix->id = s->indices.len;
    ptrvec_push(&s->arena, &s->indices, ix);
  }
}

static void load_shape(Loader *l, yaml_node_t *n, Tensor *t) {
  expect_type(l, n, YAML_SEQUENCE_NODE, "a shape: a list of size names such as [M, D]");
  int rank = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (rank > GMMC_MAX_RANK) node_error(l, n, "'%s' has too many axes (at most 4)", t->name);
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = find_size(l, node(l, n->data.sequence.items.start[i]));
}

static Structure parse_structure(Loader *l, yaml_node_t *n) {
  const char *v = scalar(l, n, "a structure");
  for (int i = ST_UPPER; i <= ST_DIAGONAL; i++)
    if (strcmp(v, structure_names[i]) == 0) return (Structure)i;
  node_error(l, n, "unknown structure '%s' (expected upper, lower, symmetric or diagonal)", v);
}

static DataType parse_data_type(Loader *l, yaml_node_t *n) {
  const char *v = scalar(l, n, "a data type");
  for (int i = DT_REAL; i <= DT_BINARY; i++)
    if (strcmp(v, data_type_names[i]) == 0) return (DataType)i;
  node_error(l, n, "unknown data type '%s' (expected real, integer or binary)", v);
}

static void axis_error(Loader *l, yaml_node_t *shape, int a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void axis_error(Loader *l, yaml_node_t *shape, int a, const char *fmt, ...) {
  size_t b, e;
  span(l, node(l, shape->data.sequence.items.start[a]), &b, &e);
  va_list ap;
  va_start(ap, fmt);
  diag_verror(&l->f->diag, b, e > b ? e : b + 1, fmt, ap);
}

/* Optional data: the per-event weights, one value per event, read as 1
 * where the caller gives none (docs/dsl.md, "Optional data"). */
static void check_optional(Loader *l, Tensor *t, yaml_node_t *shape) {
  Spec *s = l->f->spec;
  const char *v = scalar(l, l->optional, "the value of 'optional'");
  if (strcmp(v, "ones") != 0)
    node_error(l, l->optional, "unknown default '%s' for optional data (expected ones: absent weights are 1)", v);
  if (t->kind != TK_DATA) node_error(l, l->optional, "only data can be optional; '%s' is a parameter", t->name);
  if (strcmp(l->first_data, t->name) == 0)
    node_error(l, l->optional, "the first data tensor '%s' cannot be optional: its first axis is the events", t->name);
  if (t->rank != 1) node_error(l, shape, "optional data '%s' must have shape [N], one weight per event", t->name);
  if (s->weights) {
    size_t b, e;
    span(l, l->optional, &b, &e);
    diag_error(&l->f->diag, b, e > b ? e : b + 1,
               "only one data tensor can be optional (the per-event weights); '%s' already is", s->weights->name);
  }
  t->optional = 1;
  s->weights = t;
}

/* What a declaration's shape and structure must satisfy. The first axis of
 * the first data tensor is the event size: the run-time size N. */
static void check_axes(Loader *l, Tensor *t, yaml_node_t *shape, yaml_node_t *structure) {
  Spec *s = l->f->spec;
  if (t->kind == TK_DATA) {
    if (t->rank == 0) node_error(l, shape, "data '%s' needs at least one axis, the events, as in [N, D]", t->name);
    if (!l->first_data) {
      l->first_data = t->name;
      s->event_size = t->dims[0];
      spec_size(s, t->dims[0])->is_event = 1;
    } else if (t->dims[0] != s->event_size) {
      axis_error(l, shape, 0, "the first axis of data '%s' must be the event size %s, as in '%s', not %s", t->name,
                 spec_size(s, s->event_size)->name, l->first_data, spec_size(s, t->dims[0])->name);
    }
  }
  for (int a = 0; a < t->rank; a++) {
    if (!l->first_data || t->dims[a] != s->event_size) continue;
    const char *ev = spec_size(s, s->event_size)->name;
    if (t->kind == TK_PARAM)
      axis_error(l, shape, a,
                 "parameter '%s' cannot have an axis of the event size %s: parameters do not grow with "
                 "the data",
                 t->name, ev);
    if (a > 0) axis_error(l, shape, a, "the event size %s can only be the first axis of '%s'", ev, t->name);
  }
  if (l->optional) check_optional(l, t, shape);
  if (structure) {
    if (t->kind == TK_DATA)
      node_error(l, structure, "data '%s' cannot have a structure: structures annotate parameters", t->name);
    if (t->rank < 2 || t->dims[t->rank - 1] != t->dims[t->rank - 2]) {
      size_t b, e;
      span(l, structure, &b, &e);
      diag_error(&l->f->diag, b, e > b ? e : b + 1,
                 "structure '%s' needs the last two axes of '%s' to have the same size, as in [M, D, D]",
                 structure_names[t->structure], t->name);
    }
  }
}

static void load_tensors(Loader *l, yaml_node_t *n, TensorKind kind) {
  expect_type(l, n, YAML_MAPPING_NODE,
              kind == TK_DATA ? "a mapping from data names to shapes" : "a mapping from parameter names to shapes");
  Spec *s = l->f->spec;
  FOR_PAIRS(l, n, p) {
    Tensor *t = arena_alloc(&s->arena, sizeof(Tensor));
    yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
    t->name = decl_name(l, k, "a tensor name");
    span(l, k, &t->begin, &t->end);
    t->kind = kind;
    t->elem = VT_REAL;
    yaml_node_t *shape = v, *structure = NULL;
    l->optional = NULL;
    if (v->type == YAML_MAPPING_NODE) {
      shape = NULL;
      FOR_PAIRS(l, v, q) {
        yaml_node_t *qk = node(l, q->key);
        const char *key = scalar(l, qk, "a key");
        if (strcmp(key, "shape") == 0)
          shape = node(l, q->value);
        else if (strcmp(key, "structure") == 0)
          t->structure = parse_structure(l, structure = node(l, q->value));
        else if (strcmp(key, "optional") == 0)
          l->optional = node(l, q->value);
        else if (strcmp(key, "type") == 0 && kind == TK_DATA)
          t->dtype = parse_data_type(l, node(l, q->value));
        else if (strcmp(key, "type") == 0)
          node_error(l, qk, "'type' declares what data values may be; parameter '%s' is real", t->name);
        else if (kind == TK_DATA)
          node_error(l, qk, "unknown key '%s' (expected shape, type or optional)", key);
        else
          node_error(l, qk, "unknown key '%s' (expected shape, structure or optional)", key);
      }
      if (!shape)
        node_error(l, v, "missing 'shape' in the declaration of '%s', as in {shape: [M, D, D], structure: upper}",
                   t->name);
    }
    load_shape(l, shape, t);
    check_axes(l, t, shape, structure);
    t->id = s->tensors.len;
    ptrvec_push(&s->arena, &s->tensors, t);
  }
}

static void load_scalars(Loader *l, yaml_node_t *n) {
  expect_type(l, n, YAML_MAPPING_NODE, "a mapping from scalar names to default values");
  Spec *s = l->f->spec;
  FOR_PAIRS(l, n, p) {
    ScalarSym *z = arena_alloc(&s->arena, sizeof(ScalarSym));
    yaml_node_t *k = node(l, p->key);
    z->name = decl_name(l, k, "a scalar name");
    span(l, k, &z->begin, &z->end);
    z->value = number(l, node(l, p->value), "a default value");
    z->id = s->scalars.len;
    ptrvec_push(&s->arena, &s->scalars, z);
  }
}

/* The byte span of a scalar's text, quotes and block headers excluded. */
static void text_span(Loader *l, yaml_node_t *n, size_t *b, size_t *e) {
  span(l, n, b, e);
  const char *t = l->f->spec->src.text;
  switch (n->data.scalar.style) {
  case YAML_SINGLE_QUOTED_SCALAR_STYLE:
  case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
    for (size_t i = *b + 1; i + 1 < *e; i++)
      if (t[i] == '\\' || t[i] == '\'' || t[i] == '"')
        diag_error(&l->f->diag, i, i + 1,
                   "'%c' inside a quoted statement: escapes and quotes are not allowed there; write the statement "
                   "unquoted",
                   t[i]);
    (*b)++;
    if (*e > *b) (*e)--;
    break;
  case YAML_LITERAL_SCALAR_STYLE:
  case YAML_FOLDED_SCALAR_STYLE:
    while (*b < *e && t[*b] != '\n') (*b)++;
    break;
  default: break;
  }
  /* a block scalar ends where the next token starts: an error at the end of
   * the statement belongs after its last character, not on the next line */
  while (*e > *b && isspace((unsigned char)t[*e - 1])) (*e)--;
}

static void load_statements(Loader *l, yaml_node_t *n, Section sec) {
  expect_type(l, n, YAML_SEQUENCE_NODE, "a list of statements");
  Spec *s = l->f->spec;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *x = node(l, *it);
    expect_type(l, x, YAML_SCALAR_NODE, "a statement such as 'L[n,m] = ...'");
    size_t b, e;
    text_span(l, x, &b, &e);
    Stmt *st = parse_statement(l->f, b, e);
    st->section = sec;
    ptrvec_push(&s->arena, &s->stmts[sec], st);
  }
}

typedef struct {
  const char *role;
  size_t begin, end;
} Pending;

static void load_outputs(Loader *l, yaml_node_t *n, PtrVec *pending) {
  expect_type(l, n, YAML_MAPPING_NODE, "a mapping from roles to names");
  Spec *s = l->f->spec;
  span(l, n, &s->outputs_begin, &s->outputs_end);
  static const char *const roles[] = {
      "objective", "score_samples", "predict_proba", "predict", "n_parameters", "lower_bound", NULL};
  FOR_PAIRS(l, n, p) {
    yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
    const char *role = scalar(l, k, "a role");
    int known = 0;
    for (int i = 0; roles[i]; i++) known |= strcmp(roles[i], role) == 0;
    if (!known)
      node_error(l, k,
                 "unknown output '%s' (expected objective, score_samples, predict_proba, predict, n_parameters or "
                 "lower_bound)",
                 role);
    int is_np = strcmp(role, "n_parameters") == 0;
    expect_type(l, v, YAML_SCALAR_NODE,
                is_np ? "an expression in the fixed sizes, such as M*D + M - 1" : "a tensor name");
    Pending *q = arena_alloc(&s->arena, sizeof(Pending));
    q->role = role;
    text_span(l, v, &q->begin, &q->end);
    if (!is_np && !is_identifier((const char *)v->data.scalar.value)) {
      if (v->data.scalar.length == 0)
        node_error(l, v, "expected the name of the tensor for output '%s', found an empty value", role);
      node_error(l, v, "expected the name of a tensor, found '%s'", (const char *)v->data.scalar.value);
    }
    ptrvec_push(&s->arena, pending, q);
  }
}

static void load_schedule(Loader *l, yaml_node_t *n) {
  expect_type(l, n, YAML_MAPPING_NODE, "a mapping from statement names to variants");
  Spec *s = l->f->spec;
  FOR_PAIRS(l, n, p) {
    yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
    ScheduleEntry *e = arena_alloc(&s->arena, sizeof(ScheduleEntry));
    e->target = scalar(l, k, "a statement name");
    e->variant = scalar(l, v, "a variant name");
    span(l, k, &e->begin, &e->end);
    ptrvec_push(&s->arena, &s->schedule, e);
  }
}

/* Resolves the outputs after the statements are known: roles name tensors. */
static void resolve_outputs(Loader *l, PtrVec *pending) {
  Spec *s = l->f->spec;
  for (int i = 0; i < pending->len; i++) {
    Pending *q = pending->items[i];
    if (strcmp(q->role, "n_parameters") == 0) {
      s->n_parameters = parse_expression(l->f, q->begin, q->end);
      continue;
    }
    char *name = arena_strndup(&s->arena, s->src.text + q->begin, q->end - q->begin);
    Tensor **slot = strcmp(q->role, "objective") == 0       ? &s->objective
                    : strcmp(q->role, "score_samples") == 0 ? &s->score_samples
                    : strcmp(q->role, "predict_proba") == 0 ? &s->predict_proba
                    : strcmp(q->role, "lower_bound") == 0   ? &s->lower_bound
                                                            : &s->predict;
    /* stored by name; check.c binds it once statements define the tensors */
    Tensor *t = arena_alloc(&s->arena, sizeof(Tensor));
    t->name = name;
    t->begin = q->begin;
    t->end = q->end;
    t->id = -1;
    *slot = t;
  }
}

/* libyaml ran out of memory: the same escape as the arena's. */
static _Noreturn void out_of_memory(Front *f) {
  f->spec->arena.failed = 1;
  longjmp(*f->diag.escape, 1);
}

/* Reports libyaml's error: deletes the parser, then escapes. Reader errors
 * (bad UTF-8, control characters) carry a byte offset, the others a mark;
 * the context (the construct being parsed) is named with its line. */
static _Noreturn void yaml_fail(Front *f, yaml_parser_t *parser) {
  Spec *s = f->spec;
  if (parser->error == YAML_MEMORY_ERROR) { /* libyaml's own allocation */
    yaml_parser_delete(parser);
    out_of_memory(f);
  }
  size_t off;
  StrBuf sb = {0};
  sb_printf(&sb, "invalid YAML: %s", parser->problem ? parser->problem : "parse error");
  if (parser->error == YAML_READER_ERROR) {
    off = parser->problem_offset;
    if (parser->problem_value >= 0) sb_printf(&sb, " (0x%02X)", (unsigned)parser->problem_value);
  } else {
    off = source_offset(&s->src, parser->problem_mark.line, parser->problem_mark.column);
    if (parser->context)
      sb_printf(&sb, " (%s that starts at line %d)", parser->context, (int)parser->context_mark.line + 1);
  }
  yaml_parser_delete(parser);
  char *m = arena_take(&s->arena, &sb);
  diag_error(&f->diag, off, off + 1, "%s", m);
}

/* A first pass over libyaml's events: syntax errors, one document only, no
 * aliases (a statement is written once), and bounded nesting. */
static void scan_events(Front *f) {
  Spec *s = f->spec;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) out_of_memory(f);
  yaml_parser_set_input_string(&parser, (const unsigned char *)s->src.text, s->src.len);
  int depth = 0, docs = 0;
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) yaml_fail(f, &parser);
    yaml_event_type_t type = ev.type;
    yaml_mark_t at = ev.start_mark, end = ev.end_mark;
    yaml_event_delete(&ev);
    const char *problem = NULL;
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
      if (++depth > MAX_YAML_DEPTH) problem = "YAML nested too deeply (more than 16 levels); a spec needs at most 4";
    } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
      problem = "a second YAML document: a spec file holds one document";
    } else if (type == YAML_ALIAS_EVENT) {
      problem = "YAML aliases ('*name') are not supported in a spec: write the value out";
    }
    if (problem) {
      yaml_parser_delete(&parser);
      size_t b = source_offset(&s->src, at.line, at.column), e = source_offset(&s->src, end.line, end.column);
      diag_error(&f->diag, b, e > b ? e : b + 1, "%s", problem);
    }
    if (type == YAML_STREAM_END_EVENT) break;
  }
  yaml_parser_delete(&parser);
}

/* A required top-level key is missing: reported at the first key. */
static _Noreturn void missing(Loader *l, yaml_node_t *root, const char *msg) {
  size_t b = 0, e = 1;
  if (root->data.mapping.pairs.start < root->data.mapping.pairs.top)
    span(l, node(l, root->data.mapping.pairs.start->key), &b, &e);
  diag_error(&l->f->diag, b, e > b ? e : b + 1, "%s", msg);
}

void load_yaml(Front *f) {
  Spec *s = f->spec;
  Loader l = {.f = f};
  scan_events(f);
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) out_of_memory(f);
  yaml_parser_set_input_string(&parser, (const unsigned char *)s->src.text, s->src.len);
  if (!yaml_parser_load(&parser, &l.doc)) yaml_fail(f, &parser);
  yaml_parser_delete(&parser);
  /* The document must be freed on every path: the error escape bypasses us,
   * so copy it out of the way first by jumping through a local handler. */
  jmp_buf here, *outer = f->diag.escape;
  f->diag.escape = &here;
  s->arena.escape = &here;
  if (setjmp(here)) {
    yaml_document_delete(&l.doc);
    f->diag.escape = outer;
    s->arena.escape = outer;
    longjmp(*outer, 1);
  }
  yaml_node_t *root = yaml_document_get_root_node(&l.doc);
  if (!root)
    diag_error(&f->diag, 0, 1,
               "empty spec: expected a mapping with keys gmmc, model, sizes, data, estep, outputs, ...");
  expect_type(&l, root, YAML_MAPPING_NODE, "a mapping with keys gmmc, model, sizes, data, estep, outputs, ...");
  static const char *const order[] = {"gmmc",    "model",    "description", "sizes", "indices", "data",
                                      "params",  "scalars",  "estep",       "mstep", "derived", "predict",
                                      "outputs", "schedule", "once",        NULL};
  yaml_node_t *value[15] = {0}, *key[15] = {0};
  FOR_PAIRS(&l, root, p) {
    yaml_node_t *k = node(&l, p->key);
    const char *name = scalar(&l, k, "a key");
    int which = -1;
    for (int i = 0; order[i]; i++)
      if (strcmp(order[i], name) == 0) which = i;
    if (which < 0)
      node_error(&l, k,
                 "unknown key '%s' (expected gmmc, model, description, sizes, indices, data, params, scalars, estep, "
                 "mstep, derived, predict, once, outputs or schedule)",
                 name);
    key[which] = k;
    value[which] = node(&l, p->value);
  }
  if (!value[0]) missing(&l, root, "missing 'gmmc: 1', the DSL version, as the first key");
  {
    const char *v = scalar(&l, value[0], "the DSL version");
    char *stop;
    long ver = strtol(v, &stop, 10);
    if (!*v || *stop) node_error(&l, value[0], "the DSL version must be an integer such as 1, found '%s'", v);
    if (ver != GMMC_DSL_VERSION) {
      size_t b, e;
      span(&l, value[0], &b, &e);
      diag_error(&f->diag, b, e, "unsupported DSL version '%s' (this gmmc reads version %d)", v, GMMC_DSL_VERSION);
    }
    s->version = (int)ver;
  }
  if (!value[1]) missing(&l, root, "missing 'model: NAME', the name of the model");
  s->model = scalar(&l, value[1], "a model name");
  if (!is_identifier(s->model))
    node_error(&l, value[1], "'%s' is not a valid model name: expected letters, digits and '_'", s->model);
  if (value[2]) s->description = scalar(&l, value[2], "a description");
  if (!value[3]) missing(&l, root, "missing 'sizes', the list of size names, such as 'sizes: [N, M, D]'");
  load_sizes(&l, value[3]);
  if (value[4]) load_indices(&l, value[4]);
  if (!value[5]) missing(&l, root, "missing 'data', the input tensors, such as 'data: {X: [N, D]}'");
  load_tensors(&l, value[5], TK_DATA);
  if (!l.first_data)
    node_error(&l, value[5], "%s", "no data declared: expected at least one tensor, as in {X: [N, D]}");
  if (value[6]) load_tensors(&l, value[6], TK_PARAM);
  if (value[7]) load_scalars(&l, value[7]);
  /* the sections' keys: estep, mstep, derived, predict at 8..11, once at 14 */
  for (int sec = 0; sec < SEC_COUNT; sec++) {
    yaml_node_t *v = value[sec == SEC_ONCE ? 14 : 8 + sec];
    if (v) load_statements(&l, v, (Section)sec);
  }
  if (!value[8]) missing(&l, root, "missing 'estep', the list of E-step statements");
  PtrVec pending = {0};
  if (value[12])
    load_outputs(&l, value[12], &pending);
  else
    missing(&l, root, "missing 'outputs', the roles of the computed tensors, at least 'objective: NAME'");
  if (value[13]) load_schedule(&l, value[13]);
  resolve_outputs(&l, &pending);
  (void)key;
  f->diag.escape = outer;
  s->arena.escape = outer;
  yaml_document_delete(&l.doc);
}
