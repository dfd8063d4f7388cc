/* Reading model files (docs/model-file.md) with libyaml's document loader,
 * checked field by field. Errors are
 *   FILE:LINE:COL: error: message
 * at the offending node. */
#define _GNU_SOURCE /* strtod_l, uselocale */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "dsl/util.h"
#include "model.h"
#include "model_file.h"
#include "runtime/io/data.h"

/* ---- loading ---------------------------------------------------------------------------- */

typedef struct {
  const char *path;
  yaml_document_t *doc;
  locale_t c_locale;
  char **err;
} Ld;

static gmmc_status at_fail(const Ld *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static gmmc_status at_fail(const Ld *l, const yaml_node_t *n, const char *fmt, ...) {
  StrBuf sb = {0};
  sb_printf(&sb, "%s:%zu:%zu: error: ", l->path, n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1);
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  if (l->err)
    *l->err = sb_take(&sb);
  else
    sb_free(&sb);
  return GMMC_ERR_DATA;
}

static gmmc_status ld_oom(const Ld *l, const char *what) { return oom_status(l->err, what); }

static yaml_node_t *node(const Ld *l, int id) { return yaml_document_get_node(l->doc, id); }

static const char *kind_name(const yaml_node_t *n) {
  return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* A scalar's text quoted in a message: clipped, unprintable bytes as '?'. */
static void excerpt(const yaml_node_t *n, char out[64]) {
  const unsigned char *s = n->data.scalar.value;
  size_t len = n->data.scalar.length, k = len > 48 ? 45 : len, j = 0;
  for (size_t i = 0; i < k; i++) out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
  if (k < len) out[j++] = '.', out[j++] = '.', out[j++] = '.';
  out[j] = 0;
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static gmmc_status want(const Ld *l, const yaml_node_t *n, yaml_node_type_t type, const char *what,
                        const char *expected) {
  if (n->type == type) return GMMC_OK;
  return at_fail(l, n, "%s must be %s, found %s", what, expected, kind_name(n));
}

/* Numbers and booleans must be plain scalars: "1.5" in quotes is a string. */
static gmmc_status want_plain(const Ld *l, const yaml_node_t *n, const char *what, const char *expected) {
  gmmc_status s = want(l, n, YAML_SCALAR_NODE, what, expected);
  if (s) return s;
  char ex[64];
  excerpt(n, ex);
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return at_fail(l, n, "%s must be %s, found the string '%s'", what, expected, ex);
  return GMMC_OK;
}

static gmmc_status get_int(const Ld *l, const yaml_node_t *n, const char *what, int64_t min, int64_t max,
                           int64_t *out) {
  gmmc_status s = want_plain(l, n, what, "an integer");
  if (s) return s;
  const char *t = text(n);
  size_t len = n->data.scalar.length, i = t[0] == '-' || t[0] == '+';
  int neg = t[0] == '-';
  uint64_t v = 0;
  char ex[64];
  excerpt(n, ex);
  if (i == len) return at_fail(l, n, "%s must be an integer, found '%s'", what, ex);
  for (; i < len; i++) {
    if (t[i] < '0' || t[i] > '9') return at_fail(l, n, "%s must be an integer, found '%s'", what, ex);
    if (v > ((uint64_t)INT64_MAX + 1 - (uint64_t)(t[i] - '0')) / 10)
      return at_fail(l, n, "%s is out of range, found '%s'", what, ex);
    v = v * 10 + (uint64_t)(t[i] - '0');
  }
  if (!neg && v > (uint64_t)INT64_MAX) return at_fail(l, n, "%s is out of range, found '%s'", what, ex);
  int64_t x = neg ? (int64_t)(0 - v) : (int64_t)v;
  if (x < min || x > max)
    return at_fail(l, n, "%s must be between %lld and %lld, found %lld", what, (long long)min, (long long)max,
                   (long long)x);
  *out = x;
  return GMMC_OK;
}

/* YAML floats: decimal (integers too), .inf, -.inf, .nan in their three cases. */
static gmmc_status get_double(const Ld *l, const yaml_node_t *n, const char *what, int finite, double *out) {
  gmmc_status s = want_plain(l, n, what, "a number");
  if (s) return s;
  const char *t = text(n);
  size_t len = n->data.scalar.length;
  char ex[64];
  excerpt(n, ex);
  const char *w = t + (t[0] == '-' || t[0] == '+');
  double v;
  if (!strcmp(w, ".inf") || !strcmp(w, ".Inf") || !strcmp(w, ".INF")) {
    v = t[0] == '-' ? -INFINITY : INFINITY;
  } else if (w == t && (!strcmp(t, ".nan") || !strcmp(t, ".NaN") || !strcmp(t, ".NAN"))) {
    v = NAN;
  } else {
    int digits = 0, other = 0; /* strtod alone would take hex floats and "nan(...)" */
    for (size_t i = 0; i < len; i++) {
      char c = t[i];
      if (c >= '0' && c <= '9')
        digits = 1;
      else if (c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E')
        other = 1;
    }
    char *end = NULL;
    if (digits && !other) v = strtod_l(t, &end, l->c_locale);
    if (!digits || other || end != t + len) return at_fail(l, n, "%s must be a number, found '%s'", what, ex);
  }
  if (finite && !isfinite(v)) return at_fail(l, n, "%s: non-finite value '%s'", what, ex);
  *out = v;
  return GMMC_OK;
}

static gmmc_status get_bool(const Ld *l, const yaml_node_t *n, const char *what, int *out) {
  gmmc_status s = want_plain(l, n, what, "true or false");
  if (s) return s;
  const char *t = text(n);
  if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "TRUE"))
    *out = 1;
  else if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "FALSE"))
    *out = 0;
  else {
    char ex[64];
    excerpt(n, ex);
    return at_fail(l, n, "%s must be true or false, found '%s'", what, ex);
  }
  return GMMC_OK;
}

/* A string (any scalar style); nonempty when asked. */
static gmmc_status get_string(const Ld *l, const yaml_node_t *n, const char *what, int nonempty, char **out) {
  gmmc_status s = want(l, n, YAML_SCALAR_NODE, what, "a string");
  if (s) return s;
  if (strlen(text(n)) != n->data.scalar.length) return at_fail(l, n, "%s holds a NUL character", what);
  if (nonempty && n->data.scalar.length == 0) return at_fail(l, n, "%s must not be empty", what);
  if (out && !(*out = xstrdup(text(n)))) return ld_oom(l, what);
  return GMMC_OK;
}

typedef struct {
  const char *key;
  size_t index;
} KeyRef;

static int key_order(const void *a, const void *b) {
  const KeyRef *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : x->index < y->index ? -1 : 1;
}

/* The pairs of a mapping whose keys are nonempty, distinct strings. Sorting
 * finds duplicates in n log n: a hostile file may have millions of keys. The
 * duplicate reported is the first one in the file. */
static gmmc_status check_keys(const Ld *l, const yaml_node_t *map, const char *what) {
  yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
  size_t n = (size_t)(map->data.mapping.pairs.top - pairs);
  for (size_t i = 0; i < n; i++) {
    gmmc_status s = get_string(l, node(l, pairs[i].key), what, 1, NULL);
    if (s) return s;
  }
  if (n < 2) return GMMC_OK;
  KeyRef *refs = xmalloc(sizeof(KeyRef) * n);
  if (!refs) return ld_oom(l, "checking the keys");
  for (size_t i = 0; i < n; i++) refs[i] = (KeyRef){text(node(l, pairs[i].key)), i};
  qsort(refs, n, sizeof *refs, key_order);
  size_t dup = n;
  for (size_t i = 1; i < n; i++)
    if (!strcmp(refs[i].key, refs[i - 1].key) && refs[i].index < dup) dup = refs[i].index;
  free(refs);
  if (dup == n) return GMMC_OK;
  const yaml_node_t *k = node(l, pairs[dup].key);
  char ex[64];
  excerpt(k, ex);
  return at_fail(l, k, "duplicate key '%s'", ex);
}

static int npairs(const yaml_node_t *map) { return (int)(map->data.mapping.pairs.top - map->data.mapping.pairs.start); }

static gmmc_status load_sizes(const Ld *l, const yaml_node_t *n, gmmc_model *m) {
  gmmc_status s = want(l, n, YAML_MAPPING_NODE, "'sizes'", "a mapping of names to integers");
  if (!s) s = check_keys(l, n, "a size name");
  if (s) return s;
  int count = npairs(n);
  m->size_names = xcalloc((size_t)count + 1, sizeof(char *));
  m->size_values = xcalloc((size_t)count + 1, sizeof(int64_t));
  if (!m->size_names || !m->size_values) return ld_oom(l, "the sizes");
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    const char *name = text(node(l, p->key));
    char what[96];
    snprintf(what, sizeof what, "size '%.80s'", name);
    int64_t v;
    s = get_int(l, node(l, p->value), what, 1, INT64_MAX, &v);
    if (s) return s;
    if (!(m->size_names[m->nsizes] = xstrdup(name))) return ld_oom(l, "a size's name");
    m->size_values[m->nsizes++] = v;
  }
  return GMMC_OK;
}

static gmmc_status load_scalars(const Ld *l, const yaml_node_t *n, gmmc_model *m) {
  gmmc_status s = want(l, n, YAML_MAPPING_NODE, "'scalars'", "a mapping of names to numbers");
  if (!s) s = check_keys(l, n, "a scalar name");
  if (s) return s;
  int count = npairs(n);
  m->scalar_names = xcalloc((size_t)count + 1, sizeof(char *));
  m->scalar_values = xcalloc((size_t)count + 1, sizeof(double));
  if (!m->scalar_names || !m->scalar_values) return ld_oom(l, "the scalars");
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    const char *name = text(node(l, p->key));
    char what[96];
    snprintf(what, sizeof what, "scalar '%.80s'", name);
    double v;
    s = get_double(l, node(l, p->value), what, 1, &v);
    if (s) return s;
    if (!(m->scalar_names[m->nscalars] = xstrdup(name))) return ld_oom(l, "a scalar's name");
    m->scalar_values[m->nscalars++] = v;
  }
  return GMMC_OK;
}

static gmmc_status load_lower_bounds(const Ld *l, const yaml_node_t *n, gmmc_model *m) {
  gmmc_status s = want(l, n, YAML_SEQUENCE_NODE, "'lower_bounds'", "a list of numbers");
  if (s) return s;
  int64_t count = n->data.sequence.items.top - n->data.sequence.items.start;
  if (count > INT_MAX) return at_fail(l, n, "'lower_bounds' has too many values");
  m->lower_bounds = xcalloc((size_t)count + 1, sizeof(double));
  if (!m->lower_bounds) return ld_oom(l, "the lower bounds");
  for (int i = 0; i < count; i++) {
    s = get_double(l, node(l, n->data.sequence.items.start[i]), "a lower bound", 0, &m->lower_bounds[i]);
    if (s) return s;
  }
  m->n_lower_bounds = (int)count;
  return GMMC_OK;
}

static gmmc_status load_param(const Ld *l, const char *name, const yaml_node_t *n, gmmc_model *m) {
  char what[96];
  snprintf(what, sizeof what, "parameter '%.80s'", name);
  const yaml_node_t *shape = NULL, *values = NULL;
  gmmc_status s = want(l, n, YAML_MAPPING_NODE, what, "a mapping with 'shape' and 'values'");
  if (!s) s = check_keys(l, n, "a key");
  for (yaml_node_pair_t *p = s ? NULL : n->data.mapping.pairs.start; !s && p < n->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = node(l, p->key);
    if (!strcmp(text(k), "shape"))
      shape = node(l, p->value);
    else if (!strcmp(text(k), "values"))
      values = node(l, p->value);
    else {
      char ex[64];
      excerpt(k, ex);
      s = at_fail(l, k, "%s: unknown key '%s' (expected 'shape' and 'values')", what, ex);
    }
  }
  if (!s && (!shape || !values)) s = at_fail(l, n, "%s: missing key '%s'", what, shape ? "values" : "shape");
  if (!s) s = want(l, shape, YAML_SEQUENCE_NODE, "the shape", "a list of integers");
  int64_t dims[GMMC_MODEL_MAX_RANK], count = 1;
  int rank = s ? 0 : (int)(shape->data.sequence.items.top - shape->data.sequence.items.start);
  if (!s && rank > GMMC_MODEL_MAX_RANK)
    s = at_fail(l, shape, "%s: the shape has %d dimensions, at most %d are supported", what, rank, GMMC_MODEL_MAX_RANK);
  for (int d = 0; !s && d < rank; d++) {
    yaml_node_t *item = node(l, shape->data.sequence.items.start[d]);
    s = get_int(l, item, "a dimension", 0, INT64_MAX, &dims[d]);
    if (!s && __builtin_mul_overflow(count, dims[d], &count)) s = at_fail(l, item, "%s: the shape is too large", what);
  }
  if (!s) s = want(l, values, YAML_SEQUENCE_NODE, "the values", "a list of numbers");
  if (!s) {
    int64_t found = values->data.sequence.items.top - values->data.sequence.items.start;
    if (found != count) {
      StrBuf sb = {0};
      for (int d = 0; d < rank; d++) sb_printf(&sb, d ? ", %lld" : "%lld", (long long)dims[d]);
      s = at_fail(l, values, "%s: %lld values, its shape [%s] needs %lld", what, (long long)found,
                  sb.data ? sb.data : "", (long long)count);
      sb_free(&sb);
    }
  }
  if (!s) {
    /* appended directly: the names are known to be distinct, and
     * model_add_param's search would make a file with many parameters quadratic */
    ModelParam *p = &m->params[m->nparams];
    char *nm = xstrdup(name);
    double *vals =
        nm && (uint64_t)count < SIZE_MAX / sizeof(double) ? xcalloc((size_t)(count ? count : 1), sizeof(double)) : NULL;
    if (!vals) {
      free(nm);
      return ld_oom(l, "a parameter's values");
    }
    p->name = nm;
    p->rank = rank;
    memcpy(p->shape, dims, sizeof(int64_t) * (size_t)rank);
    p->count = count;
    p->values = vals;
    m->param_name_list[m->nparams++] = p->name;
    for (int64_t k = 0; !s && k < count; k++)
      s = get_double(l, node(l, values->data.sequence.items.start[k]), what, 1, &p->values[k]);
  }
  return s;
}

static gmmc_status load_params(const Ld *l, const yaml_node_t *n, gmmc_model *m) {
  gmmc_status s = want(l, n, YAML_MAPPING_NODE, "'params'", "a mapping of parameter names");
  if (!s) s = check_keys(l, n, "a parameter name");
  if (!s) {
    size_t count = (size_t)npairs(n);
    ModelParam *params = xcalloc(count + 1, sizeof(ModelParam));
    char **names = params ? xcalloc(count + 1, sizeof(char *)) : NULL; /* stays NULL-terminated */
    if (!names) {
      free(params);
      return ld_oom(l, "the parameters");
    }
    m->params = params;
    free(m->param_name_list);
    m->param_name_list = names;
  }
  for (yaml_node_pair_t *p = s ? NULL : n->data.mapping.pairs.start; !s && p < n->data.mapping.pairs.top; p++)
    s = load_param(l, text(node(l, p->key)), node(l, p->value), m);
  return s;
}

static gmmc_status load_field(const Ld *l, int f, const yaml_node_t *v, gmmc_model *m) {
  char what[40];
  snprintf(what, sizeof what, "'%s'", FIELD[f]);
  int64_t i;
  gmmc_status s = GMMC_OK;
  switch (f) {
  case F_FORMAT: break; /* checked first */
  case F_VERSION: return get_string(l, v, what, 1, NULL);
  case F_SPEC_NAME: return get_string(l, v, what, 1, &m->spec_name);
  case F_SPEC_FILE: return get_string(l, v, what, 0, &m->spec_file);
  case F_SHIPPED: return get_bool(l, v, what, &m->shipped);
  case F_SPEC: return get_string(l, v, what, 1, &m->spec_text);
  case F_SIZES: return load_sizes(l, v, m);
  case F_DTYPE:
    if ((s = want(l, v, YAML_SCALAR_NODE, what, "float32 or float64"))) return s;
    if (!strcmp(text(v), "float32"))
      m->dtype = GMMC_FLOAT32;
    else if (!strcmp(text(v), "float64"))
      m->dtype = GMMC_FLOAT64;
    else {
      char ex[64];
      excerpt(v, ex);
      return at_fail(l, v, "'dtype' must be float32 or float64, found '%s'", ex);
    }
    break;
  case F_SCALARS: return load_scalars(l, v, m);
  case F_CONVERGED: return get_bool(l, v, what, &m->converged);
  case F_N_ITER:
    if (!(s = get_int(l, v, what, 0, INT_MAX, &i))) m->n_iter = (int)i;
    break;
  case F_LOWER_BOUND: return get_double(l, v, what, 0, &m->lower_bound);
  case F_LOWER_BOUNDS: return load_lower_bounds(l, v, m);
  case F_N_COMPONENTS:
    if (!(s = get_int(l, v, what, 1, INT_MAX, &i))) m->n_components = (int)i;
    break;
  case F_N_FEATURES:
    if (!(s = get_int(l, v, what, 1, INT_MAX, &i))) m->n_features = (int)i;
    break;
  case F_N_PARAMETERS:
    if ((s = get_double(l, v, what, 1, &m->n_parameters))) return s;
    if (m->n_parameters < 0) return at_fail(l, v, "'n_parameters' must be >= 0");
    break;
  case F_PARAMS: return load_params(l, v, m);
  }
  return s;
}

static gmmc_status load_root(const Ld *l, const yaml_node_t *root, gmmc_model *m) {
  if (!root) return at_fail(l, NULL, "the file holds no YAML document (expected a gmmc model)");
  if (root->type != YAML_MAPPING_NODE)
    return at_fail(l, root, "expected a mapping of model fields (a gmmc model), found %s", kind_name(root));
  const yaml_node_t *v[NFIELDS] = {0};
  const yaml_node_t *format = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = node(l, p->key);
    if (k->type == YAML_SCALAR_NODE && !strcmp(text(k), FIELD[F_FORMAT])) format = node(l, p->value);
  }
  /* the format version first: a newer file gets that message, not one about its new keys */
  if (!format) return at_fail(l, root, "not a gmmc model file: no 'gmmc_model' key");
  int64_t version;
  gmmc_status s = get_int(l, format, "'gmmc_model' (the format version)", INT64_MIN, INT64_MAX, &version);
  if (s) return s;
  if (version != MODEL_FORMAT)
    return at_fail(l, format, "model file format version %lld is not supported (this gmmc %s reads version %d)",
                   (long long)version, gmmc_version(), MODEL_FORMAT);
  if ((s = check_keys(l, root, "a key"))) return s;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = node(l, p->key);
    int f = 0;
    while (f < NFIELDS && strcmp(text(k), FIELD[f])) f++;
    if (f == NFIELDS) {
      char ex[64];
      excerpt(k, ex);
      return at_fail(l, k, "unknown key '%s'", ex);
    }
    v[f] = node(l, p->value);
  }
  for (int f = 0; f < NFIELDS; f++)
    if (!v[f]) return at_fail(l, root, "missing key '%s'", FIELD[f]);
  /* in document order, so that the first error in the file is the one reported */
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    int f = 0;
    while (strcmp(text(node(l, p->key)), FIELD[f])) f++;
    if ((s = load_field(l, f, node(l, p->value), m))) return s;
  }
  return GMMC_OK;
}

/* libyaml's reader errors carry a byte offset; everything is told as line:col. */
static gmmc_status parser_fail(const char *path, const yaml_parser_t *p, const char *text, char **err) {
  if (p->error == YAML_MEMORY_ERROR) return oom_status(err, "the YAML parser");
  if (p->error == YAML_MEMORY_ERROR) return data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
  if (p->error == YAML_READER_ERROR) {
    line = 1, col = 1;
    for (size_t i = 0; i < p->problem_offset && text[i]; i++)
      if (text[i] == '\n')
        line++, col = 1;
      else
        col++;
  }
  StrBuf sb = {0};
  sb_printf(&sb, "%s:%zu:%zu: error: %s", path, line, col, p->problem ? p->problem : "invalid YAML");
  if (p->context) sb_printf(&sb, " (%s at line %zu)", p->context, p->context_mark.line + 1);
  if (err)
    *err = sb_take(&sb);
  else
    sb_free(&sb);
  return GMMC_ERR_DATA;
}

/* The whole file in memory (NUL-terminated), so that errors can be placed. */
static gmmc_status read_all(const char *path, char **text, size_t *len, char **err) {
  int fd;
  uint64_t size;
  gmmc_status s = data_open_file(path, &fd, &size, err);
  if (s) return s;
  if (size >= SIZE_MAX) {
    close(fd);
    return data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: too large", path);
  }
  char *buf = xmalloc((size_t)size + 1);
  size_t got = 0;
  while (buf && got < size) {
    ssize_t r = read(fd, buf + got, (size_t)size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  int e = errno;
  close(fd);
  if (!buf) return oom_status(err, "reading the model file");
  if (got < size) {
    free(buf);
    return data_fail(err, GMMC_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  }
  buf[got] = 0;
  *text = buf;
  *len = got;
  return GMMC_OK;
}

gmmc_status model_file_load(const char *path, gmmc_model **out, char **err) {
  if (!path || !out) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "model_file_load: a NULL argument");
  *out = NULL;
  char *src = NULL;
  size_t len = 0;
  gmmc_status s = read_all(path, &src, &len, err);
  if (s) return s;
  yaml_parser_t parser;
  yaml_document_t doc, extra;
  if (!yaml_parser_initialize(&parser)) {
    free(src);
    return data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: cannot start the YAML parser", path);
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)src, len);
  if (!yaml_parser_load(&parser, &doc)) {
    s = parser_fail(path, &parser, src, err);
    yaml_parser_delete(&parser);
    free(src);
    return s;
  }
  Ld l = {path, &doc, newlocale(LC_NUMERIC_MASK, "C", (locale_t)0), err};
  gmmc_model *m = model_new();
  if (!m)
    s = oom_status(err, "the model");
  else if (l.c_locale == (locale_t)0)
    s = data_fail(err, GMMC_ERR_INTERNAL, "%s: cannot create the C locale", path);
  else
    s = load_root(&l, yaml_document_get_root_node(&doc), m);
  if (!s) { /* one document only: what follows a model is not silently dropped */
    if (!yaml_parser_load(&parser, &extra)) {
      s = parser_fail(path, &parser, src, err);
    } else {
      yaml_node_t *r = yaml_document_get_root_node(&extra);
      if (r) {
        Ld l2 = {path, &extra, l.c_locale, err};
        s = at_fail(&l2, r, "a second YAML document (a model file holds one)");
      }
      yaml_document_delete(&extra);
    }
  }
  if (l.c_locale != (locale_t)0) freelocale(l.c_locale);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  free(src);
  if (s) {
    model_free(m);
    return s;
  }
  *out = m;
  return GMMC_OK;
}
