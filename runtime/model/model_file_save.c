/* Writing model files (docs/model-file.md) with libyaml's emitter into a
 * temporary file that is renamed over the target, so a crash or a full disk
 * never leaves a half-written model. Floats are written with the fewest of
 * 15, 16 or 17 significant digits that read back to the same double (%.17g
 * at most), so values round-trip bit for bit, and always in the YAML float
 * syntax ("1.0e-06", not "1e-06"), so that any YAML reader types them as
 * floats. */
#define _GNU_SOURCE /* uselocale */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "dsl/util.h"
#include "model.h"
#include "model_file.h"
#include "runtime/io/data.h"

const char *const FIELD[NFIELDS] = {"gmmc_model",   "gmmc_version", "spec_name",    "spec_file",    "shipped",
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
  int fd;
  int failed;
  int no_memory;   /* an event could not be made */
  int write_errno; /* the write that failed, 0: none */
} Out;

/* libyaml's output: every byte through write_all, which sees short writes
 * and a full disk (and the fault injection's). */
static int write_out(void *user, unsigned char *buf, size_t size) {
  Out *o = user;
  if (write_all(o->fd, buf, size) == 0) return 1;
  o->write_errno = errno ? errno : EIO;
  return 0;
}

static void emit(Out *o, int initialized, yaml_event_t *ev) {
  if (o->failed) {
    if (initialized) yaml_event_delete(ev);
    return;
  }
  if (!initialized) o->no_memory = 1;
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
  if (!dir) return; /* out of memory: the rename stands, only not yet durable */
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
  if (!tmp) return oom_status(err, "the temporary file's name");
  int fd = mkstemp(tmp);
  if (fd < 0) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot create a temporary file in its directory: %s", path, strerror(errno));
    free(tmp);
    return s;
  }
  fchmod(fd, new_file_mode(path));
  Out o = {.fd = fd};
  if (!yaml_emitter_initialize(&o.e)) {
    close(fd);
    s = data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: out of memory starting the YAML emitter", path);
    goto fail;
  }
  yaml_emitter_set_output(&o.e, write_out, &o);
  yaml_emitter_set_unicode(&o.e, 1);
  yaml_emitter_set_indent(&o.e, 2);
  yaml_emitter_set_width(&o.e, 100);
  static const char header[] = "# gmmc model file (docs/model-file.md)\n";
  if (write_all(fd, header, sizeof header - 1) != 0) o.write_errno = errno ? errno : EIO;
  locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
  if (!o.write_errno) emit_model(&o, m);
  if (!o.write_errno && !o.failed && !yaml_emitter_flush(&o.e)) o.failed = 1;
  if (c_locale) {
    uselocale(old);
    freelocale(c_locale);
  }
  if (o.write_errno || o.failed) {
    if (o.write_errno)
      s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(o.write_errno));
    else if (o.no_memory || o.e.error == YAML_MEMORY_ERROR)
      s = data_fail(err, GMMC_ERR_OUT_OF_MEMORY, "%s: out of memory in the YAML emitter", path);
    else /* the emitter refuses text it cannot write, e.g. a name that is not UTF-8 */
      s = data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: cannot save the model: %s", path,
                    o.e.problem ? o.e.problem : "YAML emitter error");
    yaml_emitter_delete(&o.e);
    close(fd);
    goto fail;
  }
  yaml_emitter_delete(&o.e);
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    goto fail;
  }
  if (close(fd) != 0) {
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
