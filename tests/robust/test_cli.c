/* The gmmc tool on bad data and on unsafe outputs: every case exits with a
 * non-zero status and a clear "gmmc: error: ..." message on stderr (never a
 * crash or a hang: a watchdog kills a run after 120 s), and no input is
 * overwritten.
 *
 *   robust_cli GMMC   (the path of the gmmc binary) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsl/shipped.h"
#include "dsl/util.h"
#include "robust_test.h"
#include "runtime/io/data.h"

static const char *gmmc;
static char *out_text, *err_text;

/* Runs gmmc with the arguments (NULL-terminated); returns its exit status
 * (128 + signal when killed). stdout and stderr are kept in out_text and
 * err_text. */
static int run(const char *first, ...) {
  const char *argv[64];
  int n = 0;
  argv[n++] = gmmc;
  argv[n++] = first;
  va_list ap;
  va_start(ap, first);
  for (const char *a; (a = va_arg(ap, const char *)) && n < 63;) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  const char *o = io_path("stdout.txt"), *e = io_path("stderr.txt");
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    alarm(120); /* a hang is a failure, not a stuck test */
    execv(gmmc, (char *const *)argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  free(out_text);
  free(err_text);
  size_t len;
  out_text = io_read(o, &len);
  err_text = io_read(e, &len);
  printf("  $ gmmc");
  for (int i = 1; i < n; i++) printf(" %s", strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i]);
  printf("\n    -> %d: %s", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), *err_text ? err_text : "\n");
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A run that must fail (exit 1) with every given text in its stderr. */
#define FAILS(texts, ...)                                                                                              \
  do {                                                                                                                 \
    int rc_ = run(__VA_ARGS__, NULL);                                                                                  \
    if (rc_ != 1) io_fail(__FILE__, __LINE__, "exit status %d, expected 1", rc_);                                      \
    const char *t_[] = {"gmmc: error: ", texts, NULL};                                                                 \
    for (int i_ = 0; t_[i_]; i_++)                                                                                     \
      if (!strstr(err_text, t_[i_])) io_fail(__FILE__, __LINE__, "stderr lacks '%s'", t_[i_]);                         \
  } while (0)
#define TEXTS(...) __VA_ARGS__

#define SUCCEEDS(...)                                                                                                  \
  do {                                                                                                                 \
    int rc_ = run(__VA_ARGS__, NULL);                                                                                  \
    if (rc_ != 0) io_fail(__FILE__, __LINE__, "exit status %d: %s", rc_, err_text);                                    \
  } while (0)

static char *slurp(const char *path, size_t *n) { return io_read(path, n); }

static void same_contents(const char *path, const char *before, size_t n) {
  size_t m;
  char *now = slurp(path, &m);
  if (m != n || memcmp(now, before, n)) io_fail(__FILE__, __LINE__, "%s was changed", path);
  free(now);
}

static const char *npy(const char *name, const double *x, int64_t n, int64_t d) {
  const char *p = io_path(name);
  char *err = NULL;
  if (data_write_npy_f64(p, x, n, d, &err)) io_fail(__FILE__, __LINE__, "%s", err);
  return p;
}

static const char *text(const char *name, const char *s) {
  const char *p = io_path(name);
  io_write(p, s, strlen(s));
  return p;
}

static void test_bad_data(void) {
  printf("bad data\n");
  FAILS(TEXTS("row 3, column 2: 'nan' is not a finite number"), "fit", text("nan.csv", "a,b\n1,2\n3,nan\n4,5\n"),
        "--backend", "host");
  double *x = rb_blobs(50, 3, 2, 6);
  x[4 * 3 + 0] = NAN;
  FAILS(TEXTS("non-finite value (NaN or infinity) at row 5, column 1"), "fit", npy("nan.npy", x, 50, 3), "--backend",
        "host");
  x[4 * 3 + 0] = INFINITY;
  FAILS(TEXTS("at row 5, column 1"), "fit", npy("inf.npy", x, 50, 3), "--backend", "host");
  x[4 * 3 + 0] = 0;
  FAILS(TEXTS("the file is empty"), "fit", text("empty.npy", ""), "--backend", "host");
  FAILS(TEXTS("the file is empty"), "fit", text("empty.csv", ""), "--backend", "host");
  const char *good = npy("good.npy", x, 50, 3);
  size_t len;
  char *bytes = slurp(good, &len);
  const char *cut = io_path("cut.npy");
  io_write(cut, bytes, len - 1);
  FAILS(TEXTS("truncated data"), "fit", cut, "--backend", "host");
  free(bytes);
  FAILS(TEXTS("row 3, column 3: missing field (expected 3 columns, as in row 1)"), "fit",
        text("ragged.csv", "1,2,3\n4,5,6\n7,8\n"), "--backend", "host");
  FAILS(TEXTS("expected n_samples >= n_components but got n_components = 5, n_samples = 3"), "fit",
        text("few.csv", "1,2\n3,4\n5,7\n"), "-k", "5", "--backend", "host");
  for (int i = 0; i < 50; i++) x[i * 3 + 2] = x[i * 3] + x[i * 3 + 1]; /* collinear */
  FAILS(TEXTS("'covariances' of component ", "is not positive definite"), "fit", npy("singular.npy", x, 50, 3), "-k",
        "2", "--reg-covar", "0", "--backend", "host");
  FAILS(TEXTS("unknown data format: expected .npy, .csv, or raw float32"), "fit", io_dir(), "--backend", "host");
  const char *dir = io_path("dir.npy");
  CHECK(mkdir(dir, 0700) == 0);
  FAILS(TEXTS("dir.npy: not a regular file"), "fit", dir, "--backend", "host");
  FAILS(TEXTS("cannot open: No such file or directory"), "fit", io_path("missing.npy"), "--backend", "host");
  /* a FIFO: refused at once, not a wait for a writer */
  const char *fifo = io_path("fifo.csv");
  CHECK(mkfifo(fifo, 0600) == 0);
  FAILS(TEXTS("not a regular file"), "fit", fifo, "--backend", "host");
  free(x);
}

/* A schedule naming a variant the statement lacks: refused when the spec is
 * specialized, at the entry's position, listing what exists (each once). */
static void test_bad_schedule(void) {
  printf("bad schedule\n");
  const ShippedSpec *diag = shipped_spec("diag");
  StrBuf spec = {0};
  sb_printf(&spec, "%.*s", (int)diag->len, diag->text);
  int line = 2; /* the entry's line: after the shipped text and "schedule:" */
  for (size_t i = 0; i < diag->len; i++) line += diag->text[i] == '\n';
  sb_printf(&spec, "schedule:\n  covariances: nonesuch\n");
  const char *path = text("sched.yaml", spec.data);
  free(spec.data);
  char where[96];
  snprintf(where, sizeof where, "sched.yaml:%d:3: error: no variant 'nonesuch' for 'covariances'", line);
  FAILS(TEXTS(where, "(available: simple, staged, "), "compile", path, "--sizes", "M=64,D=32", "--emit", "loops");
  CHECK(!strstr(err_text, "simple, simple") && !strstr(err_text, "lanes-32, simple"));
  /* shown as the front end shows its errors: the source line, a caret under the statement's name */
  CHECK(strstr(err_text, "\n    covariances: nonesuch\n    ^~~~~~~~~~~\n") != NULL);
  FAILS(TEXTS(where, "(available: simple, accumulate, auto)"), "compile", path, "--sizes", "M=4,D=3", "--target",
        "host");
  /* a variant name with a line break stays on the message's line, escaped */
  spec = (StrBuf){0};
  sb_printf(&spec, "%.*sschedule:\n  covariances: \"non\\nesuch\"\n", (int)diag->len, diag->text);
  path = text("sched2.yaml", spec.data);
  free(spec.data);
  snprintf(where, sizeof where, "sched2.yaml:%d:3: error: no variant 'non\\nesuch' for 'covariances'", line);
  FAILS(TEXTS(where), "compile", path, "--sizes", "M=4,D=3", "--target", "host");
}

static void test_models(void) {
  printf("models and predict/score\n");
  double *x4 = rb_blobs(80, 4, 2, 8), *x3 = rb_blobs(80, 3, 2, 8);
  const char *d4 = npy("d4.npy", x4, 80, 4), *d3 = npy("d3.npy", x3, 80, 3), *model = io_path("model.yaml");
  SUCCEEDS("fit", d4, "-k", "2", "--backend", "host", "-o", model);
  FAILS(TEXTS("the data has 3 features, but the model expects 4"), "predict", model, d3, "--backend", "host");
  FAILS(TEXTS("the data has 3 features, but the model expects 4"), "predict", "--proba", model, d3, "--backend",
        "host");
  FAILS(TEXTS("the data has 3 features, but the model expects 4"), "score", model, d3, "--backend", "host");
  SUCCEEDS("score", model, d4, "--backend", "host");
  /* a model file edited to disagree with its spec: refused, not a write past the output */
  size_t len;
  char *yaml = slurp(model, &len);
  char *at = strstr(yaml, "\nn_components: 2\n");
  CHECK(at);
  at[strlen("\nn_components: ")] = '1';
  const char *edited = io_path("edited.yaml");
  io_write(edited, yaml, len);
  FAILS(TEXTS("edited.yaml: the model does not match its spec (gmm_full.yaml): n_components is 1, but size M is 2"),
        "predict", "--proba", edited, d4, "--backend", "host");
  at[strlen("\nn_components: ")] = '2';
  at = strstr(yaml, "\nn_features: 4\n");
  CHECK(at);
  at[strlen("\nn_features: ")] = '3';
  io_write(edited, yaml, len);
  FAILS(TEXTS("n_features is 3, but size D is 4"), "predict", edited, d3, "--backend", "host");
  free(yaml);
  /* not a model */
  FAILS(TEXTS("garbage.yaml:1:1: error: expected a mapping of model fields"), "predict",
        text("garbage.yaml", "- just a list\n"), d4, "--backend", "host");
  FAILS(TEXTS("d4.npy"), "predict", d4, d4, "--backend", "host");
  free(x3);
  free(x4);
}

/* -o never overwrites an input: by name, through a symbolic link, or through
 * a hard link (the same file under another name). */
static void test_safe_outputs(void) {
  printf("outputs that would overwrite an input\n");
  double *x = rb_blobs(60, 2, 2, 8);
  const char *data = npy("in.npy", x, 60, 2), *model = io_path("m.yaml");
  size_t dlen, mlen;
  char *dbytes = slurp(data, &dlen);
  const char *sym = io_path("sym.npy"), *hard = io_path("hard.npy");
  CHECK(symlink(data, sym) == 0 && link(data, hard) == 0);
  FAILS(TEXTS("refusing to overwrite the input"), "fit", data, "--backend", "host", "-o", data);
  FAILS(TEXTS("refusing to overwrite the input"), "fit", data, "--backend", "host", "-o", sym);
  FAILS(TEXTS("refusing to overwrite the input"), "fit", sym, "--backend", "host", "-o", hard);
  same_contents(data, dbytes, dlen);
  /* the spec file of --spec */
  const char *spec = io_path("my_spec.yaml");
  const ShippedSpec *sh = shipped_spec("full");
  io_write(spec, sh->text, sh->len);
  size_t slen;
  char *stext;
  stext = slurp(spec, &slen);
  FAILS(TEXTS("refusing to overwrite the spec"), "fit", data, "--spec", spec, "--backend", "host", "-o", spec);
  same_contents(spec, stext, slen);
  free(stext);
  SUCCEEDS("fit", data, "-k", "2", "--backend", "host", "-o", model);
  char *mbytes = slurp(model, &mlen);
  const char *msym = io_path("msym.yaml"), *mhard = io_path("mhard.yaml");
  CHECK(symlink(model, msym) == 0 && link(model, mhard) == 0);
  const char *targets[] = {model, msym, mhard, data, sym, hard};
  for (int i = 0; i < 6; i++) {
    FAILS(TEXTS("refusing to overwrite an input file"), "predict", model, data, "--backend", "host", "-o", targets[i]);
    FAILS(TEXTS("refusing to overwrite an input file"), "predict", "--proba", model, data, "--backend", "host", "-o",
          targets[i]);
  }
  same_contents(data, dbytes, dlen);
  same_contents(model, mbytes, mlen);
  /* writing where it may: a fresh .npy and text, and an existing model replaced */
  SUCCEEDS("predict", model, data, "--backend", "host", "-o", io_path("labels.npy"));
  SUCCEEDS("predict", "--proba", model, data, "--backend", "host", "-o", io_path("proba.txt"));
  SUCCEEDS("fit", data, "-k", "1", "--backend", "host", "-o", model);
  /* an output directory that does not exist, or a file in place of one:
   * refused before any work (no output means no "fit" line on stdout) */
  FAILS(TEXTS("no/such/dir/m.yaml': directory '", "no/such/dir': No such file or directory"), "fit", data, "--backend",
        "host", "-o", io_path("no/such/dir/m.yaml"));
  CHECK(!strstr(out_text, "gmmc fit:"));
  FAILS(TEXTS("no/such/dir/labels.txt': directory '"), "predict", model, data, "--backend", "host", "-o",
        io_path("no/such/dir/labels.txt"));
  FAILS(TEXTS("in.npy' is not a directory"), "fit", data, "--backend", "host", "-o", io_fmt("%s/m.yaml", data));
  free(dbytes);
  free(mbytes);
  free(x);
}

/* GMMC_THREADS sets the host's threads where the caller does not; a bad
 * value is an error that names it, never a silent default. */
static void test_threads_env(void) {
  double x[200 * 2];
  for (int i = 0; i < 200 * 2; i++) x[i] = (i % 7) * 0.5 + (i / 2 % 3) * 3.0 + 0.01 * i;
  const char *data = npy("threads.npy", x, 200, 2);
  setenv("GMMC_THREADS", "1", 1);
  SUCCEEDS("fit", data, "-k", "2", "--backend", "host", "--max-iter", "2");
  if (!strstr(out_text, "host: 1 threads")) io_fail(__FILE__, __LINE__, "GMMC_THREADS=1 not taken: %s", out_text);
  SUCCEEDS("fit", data, "-k", "2", "--backend", "host", "--max-iter", "2", "--threads", "2");
  if (!strstr(out_text, "host: 2 threads")) io_fail(__FILE__, __LINE__, "--threads 2 not taken: %s", out_text);
  setenv("GMMC_THREADS", "zero", 1);
  FAILS(TEXTS("GMMC_THREADS='zero'"), "fit", data, "-k", "2", "--backend", "host");
  setenv("GMMC_THREADS", "0", 1);
  FAILS(TEXTS("GMMC_THREADS='0'"), "fit", data, "-k", "2", "--backend", "host");
  unsetenv("GMMC_THREADS");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: robust_cli GMMC\n");
    return 2;
  }
  gmmc = argv[1];
  setenv("GMMC_CACHE", "0", 1);
  io_init("robust_cli");
  test_bad_data();
  test_bad_schedule();
  test_models();
  test_safe_outputs();
  test_threads_env();
  free(out_text);
  free(err_text);
  return io_done();
}
