/* Reads the YAML structure of a spec with libyaml's document API: the
 * declarations (sizes, indices, data, params, scalars), the statement lists of
 * each section, the outputs and the schedule. Statement text is handed to the
 * expression parser with its exact byte span, so errors inside an expression
 * point at the right line and column even in multi-line scalars. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ast.h"

typedef struct {
  Front *f;
  yaml_document_t doc;
} Loader;

static const char *const reserved[] = {
    "sum", "max", "min", "logsumexp", "argmin", "argmax", "exp", "log", "sqrt", "sq", "abs", "select",
    "pi", "eps", "precision_cholesky", "precision_cholesky_diag", NULL};

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
  case YAML_SCALAR_NODE: return "a scalar";
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

/* Any name declared anywhere in the spec, for duplicate detection. */
static const void *find_decl(Spec *s, const char *name, size_t *at) {
  PtrVec *tables[] = {&s->sizes, &s->indices, &s->tensors, &s->scalars};
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < tables[t]->len; i++) {
      const void *d = tables[t]->items[i];
      const char *dn;
      size_t b;
      switch (t) {
      case 0: dn = ((const SizeSym *)d)->name; b = ((const SizeSym *)d)->begin; break;
      case 1: dn = ((const IndexSym *)d)->name; b = ((const IndexSym *)d)->begin; break;
      case 2: dn = ((const Tensor *)d)->name; b = ((const Tensor *)d)->begin; break;
      default: dn = ((const ScalarSym *)d)->name; b = ((const ScalarSym *)d)->begin; break;
      }
      if (strcmp(dn, name) == 0) {
        *at = b;
        return d;
      }
    }
  return NULL;
}

/* A new declared name: an identifier, not reserved, not declared before. */
static const char *decl_name(Loader *l, yaml_node_t *n, const char *what) {
  const char *name = scalar(l, n, what);
  if (!is_identifier(name)) node_error(l, n, "'%s' is not a valid name", name);
  for (int i = 0; reserved[i]; i++)
    if (strcmp(reserved[i], name) == 0) node_error(l, n, "'%s' is a reserved name", name);
  size_t at;
  if (find_decl(l->f->spec, name, &at)) {
    int line, col;
    source_line_col(&l->f->spec->src, at, &line, &col);
    size_t b, e;
    span(l, n, &b, &e);
    diag_error(&l->f->diag, b, e, "'%s' is already declared (line %d)", name, line);
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
#define FOR_PAIRS(l, map, pair)                                                      \
  for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                    \
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
  if (rank > GMMC_MAX_RANK) node_error(l, n, "%s", "too many axes (at most 4)");
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = find_size(l, node(l, n->data.sequence.items.start[i]));
}

static Structure parse_structure(Loader *l, yaml_node_t *n) {
  const char *v = scalar(l, n, "a structure");
  for (int i = ST_UPPER; i <= ST_DIAGONAL; i++)
    if (strcmp(v, structure_names[i]) == 0) return (Structure)i;
  node_error(l, n, "unknown structure '%s' (expected upper, lower, symmetric or diagonal)", v);
}

static void load_tensors(Loader *l, yaml_node_t *n, TensorKind kind) {
  expect_type(l, n, YAML_MAPPING_NODE, kind == TK_DATA ? "a mapping from data names to shapes" : "a mapping from parameter names to shapes");
  Spec *s = l->f->spec;
  FOR_PAIRS(l, n, p) {
    Tensor *t = arena_alloc(&s->arena, sizeof(Tensor));
    yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
    t->name = decl_name(l, k, "a tensor name");
    span(l, k, &t->begin, &t->end);
    t->kind = kind;
    t->elem = VT_REAL;
    if (v->type == YAML_MAPPING_NODE) {
      yaml_node_t *shape = NULL;
      FOR_PAIRS(l, v, q) {
        yaml_node_t *qk = node(l, q->key);
        const char *key = scalar(l, qk, "a key");
        if (strcmp(key, "shape") == 0) shape = node(l, q->value);
        else if (strcmp(key, "structure") == 0) t->structure = parse_structure(l, node(l, q->value));
        else node_error(l, qk, "unknown key '%s' (expected shape or structure)", key);
      }
      if (!shape) node_error(l, v, "%s", "missing 'shape'");
      load_shape(l, shape, t);
    } else {
      load_shape(l, v, t);
    }
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
    if (memchr(t + *b, '\\', *e - *b) || memchr(t + *b + 1, '\'', *e - *b > 2 ? *e - *b - 2 : 0))
      node_error(l, n, "%s", "escapes are not allowed in statements; write the statement unquoted");
    (*b)++;
    if (*e > *b) (*e)--;
    break;
  case YAML_LITERAL_SCALAR_STYLE:
  case YAML_FOLDED_SCALAR_STYLE:
    while (*b < *e && t[*b] != '\n') (*b)++;
    break;
  default: break;
  }
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
  static const char *const roles[] = {"objective", "score_samples", "predict_proba", "predict", "n_parameters", NULL};
  FOR_PAIRS(l, n, p) {
    yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
    const char *role = scalar(l, k, "a role");
    int known = 0;
    for (int i = 0; roles[i]; i++) known |= strcmp(roles[i], role) == 0;
    if (!known)
      node_error(l, k, "unknown output '%s' (expected objective, score_samples, predict_proba, predict or n_parameters)", role);
    expect_type(l, v, YAML_SCALAR_NODE, "a name");
    Pending *q = arena_alloc(&s->arena, sizeof(Pending));
    q->role = role;
    text_span(l, v, &q->begin, &q->end);
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

void load_yaml(Front *f) {
  Spec *s = f->spec;
  Loader l = {.f = f};
  yaml_parser_t parser;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, (const unsigned char *)s->src.text, s->src.len);
  if (!yaml_parser_load(&parser, &l.doc)) {
    size_t off = source_offset(&s->src, parser.problem_mark.line, parser.problem_mark.column);
    char *msg = xasprintf("invalid YAML: %s%s%s", parser.problem ? parser.problem : "parse error",
                          parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    char *m = arena_strdup(&s->arena, msg);
    free(msg);
    diag_error(&f->diag, off, off + 1, "%s", m);
  }
  yaml_parser_delete(&parser);
  /* The document must be freed on every path: the error escape bypasses us,
   * so copy it out of the way first by jumping through a local handler. */
  jmp_buf here, *outer = f->diag.escape;
  f->diag.escape = &here;
  if (setjmp(here)) {
    yaml_document_delete(&l.doc);
    f->diag.escape = outer;
    longjmp(*outer, 1);
  }
  yaml_node_t *root = yaml_document_get_root_node(&l.doc);
  if (!root) diag_error(&f->diag, 0, 1, "empty spec: expected a mapping with keys gmmc, model, sizes, ...");
  expect_type(&l, root, YAML_MAPPING_NODE, "a mapping with keys gmmc, model, sizes, data, params, estep, mstep");
  static const char *const order[] = {"gmmc", "model", "description", "sizes", "indices", "data", "params",
                                      "scalars", "estep", "mstep", "derived", "predict", "outputs", "schedule", NULL};
  yaml_node_t *value[14] = {0}, *key[14] = {0};
  FOR_PAIRS(&l, root, p) {
    yaml_node_t *k = node(&l, p->key);
    const char *name = scalar(&l, k, "a key");
    int which = -1;
    for (int i = 0; order[i]; i++)
      if (strcmp(order[i], name) == 0) which = i;
    if (which < 0)
      node_error(&l, k,
                 "unknown key '%s' (expected gmmc, model, description, sizes, indices, data, params, scalars, estep, "
                 "mstep, derived, predict, outputs or schedule)",
                 name);
    key[which] = k;
    value[which] = node(&l, p->value);
  }
  if (!value[0]) diag_error(&f->diag, 0, 1, "missing 'gmmc: 1' (the DSL version)");
  {
    const char *v = scalar(&l, value[0], "the DSL version");
    char *stop;
    long ver = strtol(v, &stop, 10);
    if (!*v || *stop) node_error(&l, value[0], "the DSL version must be an integer, found '%s'", v);
    if (ver != GMMC_DSL_VERSION) {
      size_t b, e;
      span(&l, value[0], &b, &e);
      diag_error(&f->diag, b, e, "unsupported DSL version %ld (this gmmc reads version %d)", ver, GMMC_DSL_VERSION);
    }
    s->version = (int)ver;
  }
  if (!value[1]) diag_error(&f->diag, 0, 1, "missing 'model: NAME'");
  s->model = scalar(&l, value[1], "a model name");
  if (!is_identifier(s->model)) node_error(&l, value[1], "'%s' is not a valid model name", s->model);
  if (value[2]) s->description = scalar(&l, value[2], "a description");
  if (!value[3]) diag_error(&f->diag, 0, 1, "missing 'sizes', such as [N, M, D]");
  load_sizes(&l, value[3]);
  if (value[4]) load_indices(&l, value[4]);
  if (!value[5]) diag_error(&f->diag, 0, 1, "missing 'data', such as {X: [N, D]}");
  load_tensors(&l, value[5], TK_DATA);
  if (value[6]) load_tensors(&l, value[6], TK_PARAM);
  if (value[7]) load_scalars(&l, value[7]);
  for (int sec = 0; sec < SEC_COUNT; sec++)
    if (value[8 + sec]) load_statements(&l, value[8 + sec], (Section)sec);
  if (!value[8]) diag_error(&f->diag, 0, 1, "missing 'estep': the list of E-step statements");
  PtrVec pending = {0};
  if (value[12]) load_outputs(&l, value[12], &pending);
  else diag_error(&f->diag, 0, 1, "missing 'outputs': at least 'objective: NAME'");
  if (value[13]) load_schedule(&l, value[13]);
  resolve_outputs(&l, &pending);
  (void)key;
  f->diag.escape = outer;
  yaml_document_delete(&l.doc);
}
