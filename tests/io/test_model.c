/* Models in memory and model files: random models saved and loaded back bit
 * for bit, the file's layout, every load error with its line and column, the
 * atomic save (target untouched, no temporary left behind), and random
 * corruptions of a valid file. */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_test.h"
#include "runtime/model/model.h"

static char *dup_str(const char *s) {
  char *p = malloc(strlen(s) + 1);
  return strcpy(p, s);
}

static void test_memory(void) {
  model_free(NULL);
  gmmc_model *m = model_new();
  CHECK(m->nparams == 0 && m->param_name_list && !m->param_name_list[0]);
  double w[3] = {0.2, 0.3, 0.5};
  int64_t s1[1] = {3}, s2[2] = {3, 2}, s5[5] = {1, 1, 1, 1, 1}, neg[1] = {-1};
  CHECK(model_add_param(m, "weights", 1, s1, w));
  CHECK(model_add_param(m, "means", 2, s2, NULL));
  CHECK(model_add_param(m, "scale", 0, NULL, w));
  CHECK(!model_add_param(m, "means", 1, s1, w)); /* taken */
  CHECK(!model_add_param(m, "deep", 5, s5, w));
  CHECK(!model_add_param(m, "neg", 1, neg, w));
  CHECK(m->nparams == 3);
  CHECK(!strcmp(m->param_name_list[0], "weights") && !strcmp(m->param_name_list[1], "means") &&
        !strcmp(m->param_name_list[2], "scale") && !m->param_name_list[3]);
  ModelParam *p = model_find_param(m, "weights");
  CHECK(p && p->rank == 1 && p->count == 3 && p->values[2] == 0.5 && p->values != w);
  p = model_find_param(m, "means");
  CHECK(p && p->count == 6 && p->values[5] == 0);
  p = model_find_param(m, "scale");
  CHECK(p && p->rank == 0 && p->count == 1 && p->values[0] == 0.2);
  CHECK(!model_find_param(m, "covariances"));
  model_free(m);
}

static double tricky_double(void) {
  switch (io_range(0, 9)) {
  case 0: return -0.0;
  case 1: return 4.9406564584124654e-324; /* the smallest subnormal */
  case 2: return DBL_MAX;
  case 3: return -DBL_MIN;
  case 4: return 0.1;
  case 5: return (double)io_range(-100, 100);
  case 6: return 1e22;
  default:
    for (;;) { /* any finite bit pattern */
      uint64_t u = io_rand();
      double v;
      memcpy(&v, &u, 8);
      if (isfinite(v)) return v;
    }
  }
}

static const char *const SPEC_TEXTS[] = {
    "# a spec\ngmmc: 1\nmodel: tiny\nsizes: [N, M, D]\nestep:\n  - L[n,m] = -0.5 * sq(X[n,0])  # comment\n",
    "no final newline",
    "  leading spaces\n\nand blank lines\n\n\n",
    "trailing spaces   \nand\ttabs\n",
    "unicode: \xc3\xa9\xe2\x82\xac \"quotes\" 'single' #hash: colon\n",
};

static gmmc_model *random_model(void) {
  gmmc_model *m = model_new();
  m->spec_name = dup_str(io_range(0, 1) ? "gmm_full" : "true"); /* a name YAML would read as a boolean */
  m->spec_file = dup_str(io_range(0, 1) ? "gmm_full.yaml" : "my specs/x 1.yaml");
  m->spec_text = dup_str(SPEC_TEXTS[io_range(0, 4)]);
  m->shipped = (int)io_range(0, 1);
  m->nsizes = (int)io_range(0, 3);
  m->size_names = calloc((size_t)m->nsizes + 1, sizeof(char *));
  m->size_values = calloc((size_t)m->nsizes + 1, sizeof(int64_t));
  static const char *const size_names[] = {"M", "D", "yes"};
  for (int i = 0; i < m->nsizes; i++) {
    m->size_names[i] = dup_str(size_names[i]);
    m->size_values[i] = io_range(1, INT64_MAX / 2);
  }
  m->dtype = io_range(0, 1) ? GMMC_FLOAT32 : GMMC_FLOAT64;
  m->nscalars = (int)io_range(0, 2);
  m->scalar_names = calloc((size_t)m->nscalars + 1, sizeof(char *));
  m->scalar_values = calloc((size_t)m->nscalars + 1, sizeof(double));
  for (int i = 0; i < m->nscalars; i++) {
    m->scalar_names[i] = dup_str(i ? "1st scalar" : "reg_covar");
    m->scalar_values[i] = tricky_double();
  }
  m->converged = (int)io_range(0, 1);
  m->n_iter = (int)io_range(0, 30);
  m->n_lower_bounds = m->n_iter;
  m->lower_bounds = calloc((size_t)m->n_iter + 1, sizeof(double));
  for (int i = 0; i < m->n_iter; i++) m->lower_bounds[i] = io_normal() * 10;
  m->lower_bound = io_range(0, 5) == 0 ? -INFINITY : tricky_double();
  m->n_components = (int)io_range(1, 64);
  m->n_features = (int)io_range(1, 64);
  m->n_parameters = io_range(0, 3) ? (double)io_range(0, 100000) : 12.5;
  static const char *const param_names[] = {"weights", "means", "precisions_cholesky", "x", "on"};
  for (int i = (int)io_range(1, 5) - 1; i >= 0; i--) {
    int rank = (int)io_range(0, 4);
    int64_t shape[4];
    for (int d = 0; d < rank; d++) shape[d] = io_range(0, 5);
    ModelParam *p = model_add_param(m, param_names[i], rank, shape, NULL);
    for (int64_t k = 0; k < p->count; k++) p->values[k] = tricky_double();
  }
  return m;
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_same(const gmmc_model *a, const gmmc_model *b) {
  CHECK(!strcmp(a->spec_name, b->spec_name) && !strcmp(a->spec_file, b->spec_file));
  if (strcmp(a->spec_text, b->spec_text))
    io_fail(__FILE__, __LINE__, "spec text\n[%s]\n[%s]", a->spec_text, b->spec_text);
  CHECK(a->shipped == b->shipped && a->dtype == b->dtype && a->nsizes == b->nsizes && a->nscalars == b->nscalars);
  for (int i = 0; i < a->nsizes; i++)
    CHECK(!strcmp(a->size_names[i], b->size_names[i]) && a->size_values[i] == b->size_values[i]);
  for (int i = 0; i < a->nscalars; i++)
    CHECK(!strcmp(a->scalar_names[i], b->scalar_names[i]) && same_double(a->scalar_values[i], b->scalar_values[i]));
  CHECK(a->converged == b->converged && a->n_iter == b->n_iter && same_double(a->lower_bound, b->lower_bound));
  CHECK(a->n_lower_bounds == b->n_lower_bounds);
  for (int i = 0; i < a->n_lower_bounds; i++) CHECK(same_double(a->lower_bounds[i], b->lower_bounds[i]));
  CHECK(a->n_components == b->n_components && a->n_features == b->n_features);
  CHECK(same_double(a->n_parameters, b->n_parameters));
  CHECK(a->nparams == b->nparams);
  for (int i = 0; i < a->nparams; i++) {
    const ModelParam *p = &a->params[i], *q = &b->params[i];
    CHECK(!strcmp(p->name, q->name) && p->rank == q->rank && p->count == q->count);
    CHECK(!strcmp(b->param_name_list[i], q->name));
    for (int d = 0; d < p->rank; d++) CHECK(p->shape[d] == q->shape[d]);
    for (int64_t k = 0; k < p->count; k++)
      if (!same_double(p->values[k], q->values[k]))
        io_fail(__FILE__, __LINE__, "parameter %s[%lld]: %.17g != %.17g", p->name, (long long)k, p->values[k],
                q->values[k]);
  }
  CHECK(!b->param_name_list[b->nparams]);
}

static void test_round_trips(void) {
  for (int iter = 0; iter < 60; iter++) {
    gmmc_model *m = random_model();
    const char *path = io_path("model.yaml"), *again = io_path("again.yaml");
    EXPECT_OK(model_file_save(m, path, &err_));
    gmmc_model *back = NULL;
    EXPECT_OK(model_file_load(path, &back, &err_));
    check_same(m, back);
    EXPECT_OK(model_file_save(back, again, &err_)); /* saving is deterministic */
    size_t n1, n2;
    char *t1 = io_read(path, &n1), *t2 = io_read(again, &n2);
    CHECK(n1 == n2 && memcmp(t1, t2, n1) == 0);
    CHECK(!strncmp(t1, "# gmmc model file (docs/model-file.md)\ngmmc_model: 1\n", 53));
    CHECK(strstr(t1, io_fmt("\ngmmc_version: \"%s\"\n", gmmc_version())));
    if (!strcmp(m->spec_text, SPEC_TEXTS[0])) CHECK(strstr(t1, "\nspec: |"));
    free(t1);
    free(t2);
    model_free(back);
    model_free(m);
  }
}

/* ---- load errors ------------------------------------------------------------------------ */

static const char *const VALID[] = {
    "gmmc_model: 1",                          /* 1 */
    "gmmc_version: \"0.1.0\"",                /* 2 */
    "spec_name: tiny",                        /* 3 */
    "spec_file: tiny.yaml",                   /* 4 */
    "shipped: false",                         /* 5 */
    "spec: |",                                /* 6 */
    "  gmmc: 1",                              /* 7 */
    "  model: tiny",                          /* 8 */
    "sizes:",                                 /* 9 */
    "  M: 2",                                 /* 10 */
    "  D: 3",                                 /* 11 */
    "dtype: float64",                         /* 12 */
    "scalars:",                               /* 13 */
    "  reg_covar: 1.0e-06",                   /* 14 */
    "converged: true",                        /* 15 */
    "n_iter: 4",                              /* 16 */
    "lower_bound: -1.5",                      /* 17 */
    "lower_bounds: [-3.0, -2.0, -1.6, -1.5]", /* 18 */
    "n_components: 2",                        /* 19 */
    "n_features: 3",                          /* 20 */
    "n_parameters: 11",                       /* 21 */
    "params:",                                /* 22 */
    "  weights:",                             /* 23 */
    "    shape: [2]",                         /* 24 */
    "    values: [0.25, 0.75]",               /* 25 */
    "  means:",                               /* 26 */
    "    shape: [2, 3]",                      /* 27 */
    "    values: [1, 2, 3, 4, 5, 6]",         /* 28 */
};
#define NVALID (int)(sizeof VALID / sizeof *VALID)

/* The valid model with lines [line, line + count) replaced (NULL: removed). */
static const char *variant(int line, int count, const char *replacement) {
  const char *path = io_path("variant.yaml");
  FILE *f = fopen(path, "w");
  for (int i = 1; i <= NVALID; i++) {
    if (i == line && replacement) fprintf(f, "%s\n", replacement);
    if (i < line || i >= line + count) fprintf(f, "%s\n", VALID[i - 1]);
  }
  if (line > NVALID && replacement) fprintf(f, "%s\n", replacement); /* appended */
  fclose(f);
  return path;
}

static void load_error(int srcline, const char *path, const char *msg) {
  gmmc_model *m = (gmmc_model *)1;
  char *err = NULL;
  gmmc_status s = model_file_load(path, &m, &err);
  io_expect(__FILE__, srcline, s, err, GMMC_ERR_DATA, io_fmt("%s:%s", path, msg));
  if (m) io_fail(__FILE__, srcline, "*out not NULL after an error");
}

static void test_load_errors(void) {
  gmmc_model *m = NULL;
  const char *path = variant(0, 0, NULL);
  EXPECT_OK(model_file_load(path, &m, &err_));
  CHECK(!strcmp(m->spec_name, "tiny") && !strcmp(m->spec_text, "gmmc: 1\nmodel: tiny\n") && m->nsizes == 2);
  CHECK(m->size_values[1] == 3 && m->scalar_values[0] == 1e-6 && m->n_iter == 4 && m->n_lower_bounds == 4);
  CHECK(m->nparams == 2 && m->params[1].count == 6 && m->params[1].values[5] == 6 && m->n_parameters == 11);
  CHECK(m->dtype == GMMC_FLOAT64 && m->converged && !m->shipped && m->n_components == 2 && m->n_features == 3);
  model_free(m);

#define E(line, count, repl, msg) load_error(__LINE__, variant(line, count, repl), msg)
  E(16, 1, "n_iter: 1.5", "16:9: error: 'n_iter' must be an integer, found '1.5'");
  E(16, 1, "n_iter: -1", "16:9: error: 'n_iter' must be between 0 and 2147483647, found -1");
  E(16, 1, "n_iter: 99999999999999999999", "16:9: error: 'n_iter' is out of range, found '99999999999999999999'");
  E(16, 1, "n_iter: \"4\"", "16:9: error: 'n_iter' must be an integer, found the string '4'");
  E(16, 1, "n_iter: [4]", "16:9: error: 'n_iter' must be an integer, found a list");
  E(15, 1, "converged: yes", "15:12: error: 'converged' must be true or false, found 'yes'");
  E(12, 1, "dtype: int8", "12:8: error: 'dtype' must be float32 or float64, found 'int8'");
  E(1, 1, "gmmc_model: 2",
    io_fmt("1:13: error: model file format version 2 is not supported (this gmmc %s reads version 1)", gmmc_version()));
  E(1, 1, NULL, "1:1: error: not a gmmc model file: no 'gmmc_model' key");
  E(22, 1, "bogus: 1\nparams:", "22:1: error: unknown key 'bogus'");
  E(17, 1, "lower_bound: -1.5\nlower_bound: -1.5", "18:1: error: duplicate key 'lower_bound'");
  E(21, 1, NULL, "1:1: error: missing key 'n_parameters'");
  E(21, 1, "n_parameters: -1", "21:15: error: 'n_parameters' must be >= 0");
  E(28, 1, "    values: [1, 2, 3, 4, 5]", "28:13: error: parameter 'means': 5 values, its shape [2, 3] needs 6");
  E(28, 1, "    values: [1, 2, .nan, 4, 5, 6]", "28:20: error: parameter 'means': non-finite value '.nan'");
  E(28, 1, "    values: [1, 2, 3, 4, 5, -.inf]", "28:29: error: parameter 'means': non-finite value '-.inf'");
  E(28, 1, "    values: [1, 2, 3, 4, 5, 1e999]", "28:29: error: parameter 'means': non-finite value '1e999'");
  E(28, 1, "    values: [1, 2, 3, 4, 5, 0x6]", "28:29: error: parameter 'means' must be a number, found '0x6'");
  E(25, 1, "    values: [0.25, \"0.75\"]",
    "25:20: error: parameter 'weights' must be a number, found the string '0.75'");
  E(27, 1, "    shape: [1, 1, 1, 2, 3]",
    "27:12: error: parameter 'means': the shape has 5 dimensions, at most 4 are supported");
  E(27, 1, "    shape: [2, -3]", "27:16: error: a dimension must be between 0 and 9223372036854775807, found -3");
  E(27, 1, "    shape: [2, 3]\n    dtype: f8",
    "28:5: error: parameter 'means': unknown key 'dtype' (expected 'shape' and 'values')");
  E(28, 1, NULL, "27:5: error: parameter 'means': missing key 'values'");
  E(26, 3, "  means: [1, 2]",
    "26:10: error: parameter 'means' must be a mapping with 'shape' and 'values', found a list");
  E(14, 1, "  reg_covar: .inf", "14:14: error: scalar 'reg_covar': non-finite value '.inf'");
  E(10, 1, "  M: 0", "10:6: error: size 'M' must be between 1 and 9223372036854775807, found 0");
  E(10, 1, "  D: 2", "11:3: error: duplicate key 'D'");
  E(18, 1, "lower_bounds: 5", "18:15: error: 'lower_bounds' must be a list of numbers, found a scalar");
  E(3, 1, "spec_name: \"\"", "3:12: error: 'spec_name' must not be empty");
  E(3, 1, "spec_name: \"a\\0b\"", "3:12: error: 'spec_name' holds a NUL character");
  E(6, 3, "spec: {a: 1}", "6:7: error: 'spec' must be a string, found a mapping");
  E(9, 3, "sizes: [2, 3]", "9:8: error: 'sizes' must be a mapping of names to integers, found a list");
  E(9, 3, "sizes: {[1]: 2}", "9:9: error: a size name must be a string, found a list");
  E(18, 1, "lower_bounds: [-3.0, -2.0",
    "19:13: error: did not find expected ',' or ']' (while parsing a flow sequence at line 18)");
  E(29, 0, "---\nfoo: 1", "30:1: error: a second YAML document (a model file holds one)");
#undef E
  path = io_path("list.yaml");
  io_write(path, "- 1\n- 2\n", 8);
  load_error(__LINE__, path, "1:1: error: expected a mapping of model fields (a gmmc model), found a list");
  path = io_path("comment.yaml");
  io_write(path, "# nothing\n", 10);
  load_error(__LINE__, path, "1:1: error: the file holds no YAML document (expected a gmmc model)");
  path = io_path("empty.yaml");
  io_write(path, "", 0);
  EXPECT_ERR(model_file_load(path, &m, &err_), GMMC_ERR_DATA, "%s: the file is empty", path);
  path = io_path("missing.yaml");
  EXPECT_ERR(model_file_load(path, &m, &err_), GMMC_ERR_IO, "%s: cannot open: No such file or directory", path);
  path = io_path("latin1.yaml");
  const char *latin1 = "gmmc_model: 1\nspec_name: caf\xe9\n";
  io_write(path, latin1, strlen(latin1));
  load_error(__LINE__, path, "2:15: error: incomplete UTF-8 octet sequence");
  const char *nul = "gmmc_model: 1\n\0";
  io_write(path, nul, 15);
  load_error(__LINE__, path, "2:1: error: control characters are not allowed");
}

/* ---- atomic save ------------------------------------------------------------------------ */

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

static void test_atomic_save(void) {
  const char *dir = io_path("atomic");
  mkdir(dir, 0700);
  char target[4096];
  snprintf(target, sizeof target, "%s/model.yaml", dir);
  gmmc_model *m = random_model();
  ModelParam *big = model_add_param(m, "big", 1, (int64_t[]){4096}, NULL);
  for (int i = 0; i < 4096; i++) big->values[i] = io_normal();
  mode_t old_mask = umask(022);
  EXPECT_OK(model_file_save(m, target, &err_));
  struct stat st;
  CHECK(stat(target, &st) == 0 && (st.st_mode & 07777) == 0644); /* as open(0666) under the umask */
  chmod(target, 0600);
  EXPECT_OK(model_file_save(m, target, &err_));
  CHECK(stat(target, &st) == 0 && (st.st_mode & 07777) == 0600); /* the target's mode is kept */
  umask(old_mask);
  size_t n0;
  char *before = io_read(target, &n0);

  /* refused before anything is written */
  big->values[7] = NAN;
  EXPECT_ERR(model_file_save(m, target, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: cannot save the model: parameter 'big' holds a non-finite value at index 7", target);
  big->values[7] = 0;

  /* the write fails half-way (file size limit): the target keeps its old contents */
  struct rlimit old_limit, small;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  small = old_limit;
  small.rlim_cur = 2048;
  signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
  char *err = NULL;
  gmmc_status s = model_file_save(m, target, &err);
  setrlimit(RLIMIT_FSIZE, &old_limit);
  io_expect(__FILE__, __LINE__, s, err, GMMC_ERR_IO, io_fmt("%s: cannot write: File too large", target));

  /* the directory is not writable: no temporary file can be made */
  if (geteuid() != 0) {
    chmod(dir, 0555);
    EXPECT_ERR(model_file_save(m, target, &err_), GMMC_ERR_IO,
               "%s: cannot create a temporary file in its directory: Permission denied", target);
    chmod(dir, 0700);
  } else {
    printf("io_model: running as root, the read-only directory check is skipped (the size-limit check stands)\n");
  }
  size_t n1;
  char *after = io_read(target, &n1);
  CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
  CHECK(count_entries(dir) == 1); /* no temporary left behind */
  free(before);
  free(after);

  char missing[4096];
  snprintf(missing, sizeof missing, "%s/no/such/dir/model.yaml", dir);
  EXPECT_ERR(model_file_save(m, missing, &err_), GMMC_ERR_IO,
             "%s: cannot create a temporary file in its directory: No such file or directory", missing);
  free(m->spec_text);
  m->spec_text = NULL;
  EXPECT_ERR(model_file_save(m, target, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: cannot save the model: it has no spec text", target);
  model_free(m);
}

/* Random corruptions of a valid file: an error naming the file, or a model. */
static void test_corruptions(void) {
  gmmc_model *m = random_model();
  const char *path = io_path("fuzz.yaml");
  EXPECT_OK(model_file_save(m, path, &err_));
  model_free(m);
  size_t n;
  char *orig = io_read(path, &n);
  char *buf = malloc(n + 1);
  for (int iter = 0; iter < 2000; iter++) {
    memcpy(buf, orig, n);
    size_t len = n;
    for (int e = (int)io_range(1, 4); e > 0; e--) {
      size_t pos = (size_t)io_range(0, (int64_t)n - 1);
      switch (io_range(0, 3)) {
      case 0: len = (size_t)io_range(0, (int64_t)len); break;
      case 1: buf[pos] = (char)io_rand(); break;
      default: buf[pos] = ":-[]{},'\"&*!|> \n#0.e"[io_range(0, 19)]; break;
      }
    }
    io_write(path, buf, len);
    gmmc_model *back = NULL;
    char *err = NULL;
    if (model_file_load(path, &back, &err) == GMMC_OK) {
      CHECK(back && !err);
      model_free(back);
    } else {
      CHECK(!back && err && !strncmp(err, path, strlen(path)));
      free(err);
    }
  }
  free(buf);
  free(orig);
}

int main(void) {
  io_init("io_model");
  test_memory();
  test_round_trips();
  test_load_errors();
  test_atomic_save();
  test_corruptions();
  return io_done();
}
