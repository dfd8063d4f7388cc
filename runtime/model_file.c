/* Model files: YAML, one top-level mapping (docs/model-file.md). Written
 * with libyaml's emitter into a temporary file that is renamed over the
 * target, so a crash or a full disk never leaves a half-written model; read
 * with libyaml's document loader and checked field by field. Load errors are
 *   FILE:LINE:COL: error: message
 * at the offending node. Floats are written with the fewest of 15, 16 or 17
 * significant digits that read back to the same double (%.17g at most), so
 * values round-trip bit for bit, and always in the YAML float syntax
 * ("1.0e-06", not "1e-06"), so that any YAML reader types them as floats. */
#define _GNU_SOURCE /* strtod_l, uselocale */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "../dsl/ast.h"
#include "../dsl/util.h"
#include "data.h"
#include "model.h"

#define MODEL_FORMAT 1

enum {
  F_FORMAT,
  F_VERSION,
  F_SPEC_NAME,
  F_SPEC_FILE,
  F_SHIPPED,
  F_SPEC,
  F_SIZES,
  F_DTYPE,
  F_SCALARS,
  F_CONVERGED,
  F_N_ITER,
  F_LOWER_BOUND,
  F_LOWER_BOUNDS,
  F_N_COMPONENTS,
  F_N_FEATURES,
  F_N_PARAMETERS,
  F_PARAMS,
  NFIELDS
};
static const char *const FIELD[NFIELDS] = {"gmmc_model",   "gmmc_version", "spec_name",    "spec_file",    "shipped",
                                           "spec",         "sizes",        "dtype",        "scalars",      "converged",
                                           "n_iter",       "lower_bound",  "lower_bounds", "n_components", "n_features",
                                           "n_parameters", "params"};

/* ---- numbers as text ------------------------------------------------------------------- */

/* In the C locale (the caller's uselocale), so the decimal point is '.'. */
static void format_double(char buf[40], double v) {
  if (isnan(v)) {
    strcpy(buf, ".nan");
    return;
  }
  if (isinf(v)) {
    strcpy(buf, v < 0 ? "-.inf" : ".inf");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, 32, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break; /* the sign of zero is kept by %g either way */
  }
  char *e = strchr(buf, 'e');
  if (!strchr(buf, '.')) { /* YAML 1.1 readers (PyYAML) need the '.' to see a float */
    if (e) {
      memmove(e + 2, e, strlen(e) + 1);
      memcpy(e, ".0", 2);
    } else {
      strcat(buf, ".0");
    }
  }
}

/* ---- saving -------------------------------------------------------------------------------- */

typedef struct {
  yaml_emitter_t e;
  int failed;
} Out;

static void emit(Out *o, int initialized, yaml_event_t *ev) {
  if (o->failed) {
    if (initialized) yaml_event_delete(ev);
    return;
  }
  if (!initialized || !yaml_emitter_emit(&o->e, ev)) o->failed = 1; /* the emitter frees the event either way */
}

static void put_scalar(Out *o, const char *s, yaml_scalar_style_t style) {
  yaml_event_t ev;
  size_t n = strlen(s);
  int ok = n <= INT_MAX && yaml_scalar_event_initialize(&ev, NULL, NULL, (const yaml_char_t *)s, (int)n, 1, 1, style);
  emit(o, ok, &ev);
}

static int is_reserved_word(const char *s) {
  static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"};
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (strcasecmp(s, words[i]) == 0) return 1;
  return 0;
}

/* Plain when no YAML reader could take it for anything but a string. */
static void put_string(Out *o, const char *s) {
  int plain = (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_';
  for (const char *p = s; *p && plain; p++)
    plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
            *p == '.' || *p == '-';
  put_scalar(o, s, plain && !is_reserved_word(s) ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void put_double(Out *o, double v) {
  char buf[40];
  format_double(buf, v);
  put_scalar(o, buf, YAML_PLAIN_SCALAR_STYLE);
}

static void put_int(Out *o, long long v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", v);
  put_scalar(o, buf, YAML_PLAIN_SCALAR_STYLE);
}

static void put_key(Out *o, const char *key) { put_string(o, key); }

static void begin_map(Out *o) {
  yaml_event_t ev;
  emit(o, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE), &ev);
}

static void end_map(Out *o) {
  yaml_event_t ev;
  emit(o, yaml_mapping_end_event_initialize(&ev), &ev);
}

/* Number lists go in flow style: [1.0, 2.0, ...], wrapped by the emitter. */
static void begin_list(Out *o) {
  yaml_event_t ev;
  emit(o, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE), &ev);
}

static void end_list(Out *o) {
  yaml_event_t ev;
  emit(o, yaml_sequence_end_event_initialize(&ev), &ev);
}

static void emit_model(Out *o, const gmmc_model *m) {
  yaml_event_t ev;
  emit(o, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING), &ev);
  emit(o, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1), &ev);
  begin_map(o);
  put_key(o, FIELD[F_FORMAT]), put_int(o, MODEL_FORMAT);
  put_key(o, FIELD[F_VERSION]), put_string(o, gmmc_version());
  put_key(o, FIELD[F_SPEC_NAME]), put_string(o, m->spec_name);
  put_key(o, FIELD[F_SPEC_FILE]), put_string(o, m->spec_file ? m->spec_file : "");
  put_key(o, FIELD[F_SHIPPED]), put_scalar(o, m->shipped ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
  /* a literal block keeps the spec readable; libyaml falls back to a quoted
   * scalar when the text cannot be one (trailing spaces, tabs) */
  put_key(o, FIELD[F_SPEC]), put_scalar(o, m->spec_text, YAML_LITERAL_SCALAR_STYLE);
  put_key(o, FIELD[F_SIZES]);
  begin_map(o);
  for (int i = 0; i < m->nsizes; i++) put_key(o, m->size_names[i]), put_int(o, (long long)m->size_values[i]);
  end_map(o);
  put_key(o, FIELD[F_DTYPE]), put_scalar(o, m->dtype == GMMC_FLOAT32 ? "float32" : "float64", YAML_PLAIN_SCALAR_STYLE);
  put_key(o, FIELD[F_SCALARS]);
  begin_map(o);
  for (int i = 0; i < m->nscalars; i++) put_key(o, m->scalar_names[i]), put_double(o, m->scalar_values[i]);
  end_map(o);
  put_key(o, FIELD[F_CONVERGED]), put_scalar(o, m->converged ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
  put_key(o, FIELD[F_N_ITER]), put_int(o, m->n_iter);
  put_key(o, FIELD[F_LOWER_BOUND]), put_double(o, m->lower_bound);
  put_key(o, FIELD[F_LOWER_BOUNDS]);
  begin_list(o);
  for (int i = 0; i < m->n_lower_bounds; i++) put_double(o, m->lower_bounds[i]);
  end_list(o);
  put_key(o, FIELD[F_N_COMPONENTS]), put_int(o, m->n_components);
  put_key(o, FIELD[F_N_FEATURES]), put_int(o, m->n_features);
  put_key(o, FIELD[F_N_PARAMETERS]);
  if (m->n_parameters == floor(m->n_parameters) && fabs(m->n_parameters) < 9007199254740992.0)
    put_int(o, (long long)m->n_parameters); /* a count: written as one */
  else
    put_double(o, m->n_parameters);
  put_key(o, FIELD[F_PARAMS]);
  begin_map(o);
  for (int i = 0; i < m->nparams; i++) {
    const ModelParam *p = &m->params[i];
    put_key(o, p->name);
    begin_map(o);
    put_key(o, "shape");
    begin_list(o);
    for (int d = 0; d < p->rank; d++) put_int(o, (long long)p->shape[d]);
    end_list(o);
    put_key(o, "values");
    begin_list(o);
    for (int64_t k = 0; k < p->count; k++) put_double(o, p->values[k]);
    end_list(o);
    end_map(o);
  }
  end_map(o);
  end_map(o);
  emit(o, yaml_document_end_event_initialize(&ev, 1), &ev);
  emit(o, yaml_stream_end_event_initialize(&ev), &ev);
}

static int unique_names(char *const *names, int n, const char **dup) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0) return *dup = names[i], 0;
  return 1;
}

/* What the loader would refuse is refused here, before anything is written. */
static gmmc_status check_for_save(const gmmc_model *m, const char *path, char **err) {
#define BAD(...) data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: cannot save the model: " __VA_ARGS__)
  const char *dup;
  if (!m->spec_name || !*m->spec_name) return BAD("it has no spec name", path);
  if (!m->spec_text || !*m->spec_text) return BAD("it has no spec text", path);
  if (m->dtype != GMMC_FLOAT32 && m->dtype != GMMC_FLOAT64)
    return BAD("dtype %d is not float32 or float64", path, m->dtype);
  if (m->nsizes < 0 || m->nscalars < 0 || m->nparams < 0 || m->n_lower_bounds < 0 || m->n_iter < 0)
    return BAD("a negative count", path);
  if ((m->nsizes && (!m->size_names || !m->size_values)) || (m->nscalars && (!m->scalar_names || !m->scalar_values)) ||
      (m->n_lower_bounds && !m->lower_bounds))
    return BAD("a list is missing", path);
  for (int i = 0; i < m->nsizes; i++) {
    if (!m->size_names[i] || !*m->size_names[i]) return BAD("size %d has no name", path, i);
    if (m->size_values[i] < 1)
      return BAD("size '%s' is %lld (at least 1)", path, m->size_names[i], (long long)m->size_values[i]);
  }
  if (!unique_names(m->size_names, m->nsizes, &dup)) return BAD("two sizes are named '%s'", path, dup);
  for (int i = 0; i < m->nscalars; i++) {
    if (!m->scalar_names[i] || !*m->scalar_names[i]) return BAD("scalar %d has no name", path, i);
    if (!isfinite(m->scalar_values[i])) return BAD("scalar '%s' is not finite", path, m->scalar_names[i]);
  }
  if (!unique_names(m->scalar_names, m->nscalars, &dup)) return BAD("two scalars are named '%s'", path, dup);
  if (m->n_components < 1 || m->n_features < 1)
    return BAD("n_components %d and n_features %d must be at least 1", path, m->n_components, m->n_features);
  if (!isfinite(m->n_parameters) || m->n_parameters < 0) return BAD("n_parameters is not a count", path);
  for (int i = 0; i < m->nparams; i++) {
    const ModelParam *p = &m->params[i];
    if (!p->name || !*p->name) return BAD("parameter %d has no name", path, i);
    for (int j = 0; j < i; j++)
      if (strcmp(m->params[j].name, p->name) == 0) return BAD("two parameters are named '%s'", path, p->name);
    int64_t count = 1;
    if (p->rank < 0 || p->rank > GMMC_MODEL_MAX_RANK) return BAD("parameter '%s' has rank %d", path, p->name, p->rank);
    for (int d = 0; d < p->rank; d++)
      if (p->shape[d] < 0 || __builtin_mul_overflow(count, p->shape[d], &count))
        return BAD("parameter '%s' has a bad shape", path, p->name);
    if (count != p->count || (count && !p->values))
      return BAD("parameter '%s' holds %lld values, its shape %lld", path, p->name, (long long)p->count,
                 (long long)count);
    for (int64_t k = 0; k < count; k++)
      if (!isfinite(p->values[k]))
        return BAD("parameter '%s' holds a non-finite value at index %lld", path, p->name, (long long)k);
  }
  return GMMC_OK;
#undef BAD
}

/* Permissions of a new model file: the target's if it exists, else what
 * open(0666) would give under the umask (mkstemp always makes 0600). */
static mode_t new_file_mode(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) return st.st_mode & 07777;
  mode_t mask = 022;
  FILE *f = fopen("/proc/self/status", "r"); /* reading the umask without changing it */
  if (f) {
    char line[128];
    unsigned v;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "Umask: %o", &v) == 1) mask = (mode_t)v;
    fclose(f);
  }
  return 0666 & ~mask;
}

static void sync_dir(const char *path) {
  char *dir = path_dir(path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd); /* best effort: makes the rename itself durable */
    close(fd);
  }
  free(dir);
}

gmmc_status model_file_save(const gmmc_model *m, const char *path, char **err) {
  if (!m || !path) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "model_file_save: a NULL argument");
  gmmc_status s = check_for_save(m, path, err);
  if (s) return s;
  char *tmp = xasprintf("%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot create a temporary file in its directory: %s", path, strerror(errno));
    free(tmp);
    return s;
  }
  fchmod(fd, new_file_mode(path));
  FILE *f = fdopen(fd, "w");
  if (!f) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    close(fd);
    goto fail;
  }
  Out o = {.failed = 0};
  if (!yaml_emitter_initialize(&o.e)) {
    s = data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: cannot start the YAML emitter", path);
    fclose(f);
    goto fail;
  }
  yaml_emitter_set_output_file(&o.e, f);
  yaml_emitter_set_unicode(&o.e, 1);
  yaml_emitter_set_indent(&o.e, 2);
  yaml_emitter_set_width(&o.e, 100);
  fputs("# gmmc model file (docs/model-file.md)\n", f);
  locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
  errno = 0;
  emit_model(&o, m);
  if (!o.failed && !yaml_emitter_flush(&o.e)) o.failed = 1;
  int e = errno;
  if (c_locale) {
    uselocale(old);
    freelocale(c_locale);
  }
  if (o.failed) {
    if (o.e.error == YAML_WRITER_ERROR)
      s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, e ? strerror(e) : "write error");
    else /* the emitter refuses text it cannot write, e.g. a name that is not UTF-8 */
      s = data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: cannot save the model: %s", path,
                    o.e.problem ? o.e.problem : "YAML emitter error");
    yaml_emitter_delete(&o.e);
    fclose(f);
    goto fail;
  }
  yaml_emitter_delete(&o.e);
  errno = 0;
  if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
    e = errno;
    fclose(f);
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, e ? strerror(e) : "write error");
    goto fail;
  }
  if (fclose(f) != 0) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot replace it: %s", path, strerror(errno));
    goto fail;
  }
  sync_dir(path);
  free(tmp);
  return GMMC_OK;
fail:
  unlink(tmp);
  free(tmp);
  return s;
}

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
  if (out) *out = xstrdup(text(n));
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
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    const char *name = text(node(l, p->key));
    char *what = xasprintf("size '%s'", name);
    int64_t v;
    s = get_int(l, node(l, p->value), what, 1, INT64_MAX, &v);
    free(what);
    if (s) return s;
    m->size_names[m->nsizes] = xstrdup(name);
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
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    const char *name = text(node(l, p->key));
    char *what = xasprintf("scalar '%s'", name);
    double v;
    s = get_double(l, node(l, p->value), what, 1, &v);
    free(what);
    if (s) return s;
    m->scalar_names[m->nscalars] = xstrdup(name);
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
  for (int i = 0; i < count; i++) {
    s = get_double(l, node(l, n->data.sequence.items.start[i]), "a lower bound", 0, &m->lower_bounds[i]);
    if (s) return s;
  }
  m->n_lower_bounds = (int)count;
  return GMMC_OK;
}

static gmmc_status load_param(const Ld *l, const char *name, const yaml_node_t *n, gmmc_model *m) {
  char *what = xasprintf("parameter '%s'", name);
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
    p->name = xstrdup(name);
    p->rank = rank;
    memcpy(p->shape, dims, sizeof(int64_t) * (size_t)rank);
    p->count = count;
    p->values = xcalloc((size_t)(count ? count : 1), sizeof(double));
    m->param_name_list[m->nparams++] = p->name;
    for (int64_t k = 0; !s && k < count; k++)
      s = get_double(l, node(l, values->data.sequence.items.start[k]), what, 1, &p->values[k]);
  }
  free(what);
  return s;
}

static gmmc_status load_params(const Ld *l, const yaml_node_t *n, gmmc_model *m) {
  gmmc_status s = want(l, n, YAML_MAPPING_NODE, "'params'", "a mapping of parameter names");
  if (!s) s = check_keys(l, n, "a parameter name");
  if (!s) {
    size_t count = (size_t)npairs(n);
    m->params = xcalloc(count + 1, sizeof(ModelParam));
    free(m->param_name_list);
    m->param_name_list = xcalloc(count + 1, sizeof(char *)); /* stays NULL-terminated */
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
    case F_FORMAT:
      break; /* checked first */
    case F_VERSION:
      return get_string(l, v, what, 1, NULL);
    case F_SPEC_NAME:
      return get_string(l, v, what, 1, &m->spec_name);
    case F_SPEC_FILE:
      return get_string(l, v, what, 0, &m->spec_file);
    case F_SHIPPED:
      return get_bool(l, v, what, &m->shipped);
    case F_SPEC:
      return get_string(l, v, what, 1, &m->spec_text);
    case F_SIZES:
      return load_sizes(l, v, m);
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
    case F_SCALARS:
      return load_scalars(l, v, m);
    case F_CONVERGED:
      return get_bool(l, v, what, &m->converged);
    case F_N_ITER:
      if (!(s = get_int(l, v, what, 0, INT_MAX, &i))) m->n_iter = (int)i;
      break;
    case F_LOWER_BOUND:
      return get_double(l, v, what, 0, &m->lower_bound);
    case F_LOWER_BOUNDS:
      return load_lower_bounds(l, v, m);
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
    case F_PARAMS:
      return load_params(l, v, m);
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
  char *buf = malloc((size_t)size + 1);
  size_t got = 0;
  while (buf && got < size) {
    ssize_t r = read(fd, buf + got, (size_t)size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  int e = errno;
  close(fd);
  if (!buf) return data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
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
  if (l.c_locale == (locale_t)0)
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

/* ---- consistency with the spec ------------------------------------------------------------
 *
 * model_file_load checks the file's format; it does not compile the spec.
 * A model used for inference must also agree with its own spec: the kernels
 * are specialized for `sizes`, while callers size their output arrays from
 * n_components and n_features, and the driver writes the scalars by
 * position. A hand-edited or corrupted file that passes the format checks
 * but disagrees (n_components 2 with size M = 3, say) would make
 * gmmc_predict_proba write past the caller's array. This check refuses such
 * a model with a message naming the file and the disagreement:
 *   FILE: the model does not match its spec (SPEC): ...
 * Declared where it is used (cli/cmd_predict.c); gmmc_model_load should call
 * it too (see docs/robustness.md). */

static int spec_size_id(const Spec *s, const char *name) {
  for (int i = 0; i < s->sizes.len; i++)
    if (!strcmp(spec_size(s, i)->name, name)) return i;
  return -1;
}

static const ModelParam *find_param(const gmmc_model *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return &m->params[i];
  return NULL;
}

static void shape_text(StrBuf *sb, const int64_t *dims, int rank) {
  sb_putc(sb, '[');
  for (int a = 0; a < rank; a++) sb_printf(sb, a ? ", %lld" : "%lld", (long long)dims[a]);
  sb_putc(sb, ']');
}

gmmc_status model_file_check_spec(const gmmc_model *m, const char *path, char **err) {
  if (!m || !path) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "model_file_check_spec: a NULL argument");
  const char *sname = m->spec_file && *m->spec_file ? m->spec_file : m->spec_name ? m->spec_name : "spec";
  if (!m->spec_text || !m->spec_name)
    return data_fail(err, GMMC_ERR_DATA, "%s: the model has no spec", path);
  char *serr = NULL;
  Spec *s = spec_load(sname, m->spec_text, strlen(m->spec_text), &serr);
  if (!s) {
    char *nl = serr ? strchr(serr, '\n') : NULL;
    if (nl) *nl = 0; /* the first line: the diagnostic without its source excerpt */
    gmmc_status st = data_fail(err, GMMC_ERR_DATA, "%s: the model's spec does not load: %s", path,
                               serr ? serr : "(no message)");
    free(serr);
    return st;
  }
  StrBuf sb = {0};
#define MISMATCH(...) (sb_printf(&sb, __VA_ARGS__), 1)
  int bad = 0;
  int64_t values[64];
  for (int i = 0; i < 64; i++) values[i] = -1;
  if (strcmp(s->model, m->spec_name) != 0)
    bad = MISMATCH("spec_name '%s' is not its model name '%s'", m->spec_name, s->model);
  if (!bad && s->sizes.len > 64) bad = MISMATCH("the spec has more than 64 sizes");
  /* sizes: exactly the spec's fixed sizes */
  for (int i = 0; !bad && i < m->nsizes; i++) {
    int id = spec_size_id(s, m->size_names[i]);
    if (id < 0 || spec_size(s, id)->is_event)
      bad = MISMATCH("'sizes' names %s, which is not a fixed size of the spec", m->size_names[i]);
    else
      values[id] = m->size_values[i];
  }
  for (int i = 0; !bad && i < s->sizes.len; i++)
    if (!spec_size(s, i)->is_event && values[i] < 1)
      bad = MISMATCH("'sizes' has no value for the spec's size %s", spec_size(s, i)->name);
  /* features and components, found as gmmc_fit finds them */
  Tensor *x = NULL;
  int ndata = 0;
  for (int i = 0; !bad && i < s->tensors.len; i++)
    if (spec_tensor(s, i)->kind == TK_DATA) x = spec_tensor(s, i), ndata++;
  if (!bad && (ndata != 1 || x->rank < 1 || x->rank > 2))
    bad = MISMATCH("the spec has no single data tensor of shape [N, D] or [N]");
  int feature = !bad && x->rank == 2 ? x->dims[1] : -1;
  if (!bad) {
    int64_t d = feature >= 0 ? values[feature] : 1;
    if (m->n_features != d)
      bad = feature >= 0 ? MISMATCH("n_features is %d, but size %s is %lld", m->n_features,
                                    spec_size(s, feature)->name, (long long)d)
                         : MISMATCH("n_features is %d, but the spec's data has one value per event", m->n_features);
  }
  int comp = s->component_size;
  if (!bad && comp < 0) /* no responsibilities: the one fixed size left is the components */
    for (int i = 0; i < s->sizes.len; i++) {
      if (spec_size(s, i)->is_event || i == feature) continue;
      comp = comp == -1 ? i : -2;
    }
  if (!bad && comp >= 0 && m->n_components != values[comp])
    bad = MISMATCH("n_components is %d, but size %s is %lld", m->n_components, spec_size(s, comp)->name,
                   (long long)values[comp]);
  /* scalars: the spec's, in its order (they are passed by position) */
  if (!bad && m->nscalars != s->scalars.len)
    bad = MISMATCH("%d scalars, the spec has %d", m->nscalars, s->scalars.len);
  for (int i = 0; !bad && i < m->nscalars; i++)
    if (strcmp(m->scalar_names[i], spec_scalar(s, i)->name) != 0)
      bad = MISMATCH("scalar %d is '%s', the spec's is '%s'", i + 1, m->scalar_names[i], spec_scalar(s, i)->name);
  /* parameters: every parameter of the spec, of its shape, and nothing else */
  int nspec_params = 0;
  for (int i = 0; !bad && i < s->tensors.len; i++) {
    Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_PARAM) continue;
    nspec_params++;
    const ModelParam *p = find_param(m, t->name);
    if (!p) {
      bad = MISMATCH("it has no parameter '%s'", t->name);
      break;
    }
    int64_t want[GMMC_MAX_RANK];
    int ok = p->rank == t->rank;
    for (int a = 0; a < t->rank; a++) {
      want[a] = spec_size(s, t->dims[a])->is_event ? -1 : values[t->dims[a]];
      if (want[a] < 0) { /* a parameter along the event axis cannot be stored */
        bad = MISMATCH("parameter '%s' of the spec has the event axis", t->name);
        break;
      }
      ok &= a < p->rank && p->shape[a] == want[a];
    }
    if (!bad && !ok) {
      sb_printf(&sb, "parameter '%s' has the shape ", t->name);
      shape_text(&sb, p->shape, p->rank);
      sb_puts(&sb, ", the spec's is ");
      shape_text(&sb, want, t->rank);
      bad = 1;
    }
  }
  if (!bad && m->nparams != nspec_params)
    for (int i = 0; !bad && i < m->nparams; i++) {
      int found = 0;
      for (int j = 0; j < s->tensors.len && !found; j++)
        found = spec_tensor(s, j)->kind == TK_PARAM && !strcmp(spec_tensor(s, j)->name, m->params[i].name);
      if (!found) bad = MISMATCH("parameter '%s' is not a parameter of the spec", m->params[i].name);
    }
#undef MISMATCH
  gmmc_status st = GMMC_OK;
  if (bad) st = data_fail(err, GMMC_ERR_DATA, "%s: the model does not match its spec (%s): %s", path, sname, sb.data);
  sb_free(&sb);
  spec_free(s);
  return st;
}
