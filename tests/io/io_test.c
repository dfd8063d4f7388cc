/* Helpers of the io tests (io_test.h). */
#define _GNU_SOURCE
#include "io_test.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
  const char *name;
  uint64_t seed, state;
  char dir[2048];
  char paths[64][4096];
  int next_path;
  char *fmts[64];
  int next_fmt;
} T;

void io_init(const char *name) {
  T.name = name;
  const char *env = getenv("GMMC_TEST_SEED");
  if (env && *env) {
    T.seed = strtoull(env, NULL, 0);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    T.seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
  }
  T.state = T.seed;
  const char *tmp = getenv("TMPDIR");
  snprintf(T.dir, sizeof T.dir, "%s/gmmc-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
  if (!mkdtemp(T.dir)) {
    fprintf(stderr, "%s: cannot create a scratch directory: %s\n", name, strerror(errno));
    exit(1);
  }
  printf("%s: seed %llu (GMMC_TEST_SEED=%llu repeats this run)\n", name, (unsigned long long)T.seed,
         (unsigned long long)T.seed);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  chmod(path, 0700);
  return remove(path);
}

void io_remove_tree(const char *dir) {
  chmod(dir, 0700);
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int io_done(void) {
  io_remove_tree(T.dir);
  for (int i = 0; i < 64; i++) free(T.fmts[i]);
  printf("%s: all checks passed\n", T.name);
  return 0;
}

const char *io_dir(void) { return T.dir; }

const char *io_path(const char *file) {
  char *p = T.paths[T.next_path++ % 64];
  snprintf(p, 4096, "%s/%s", T.dir, file);
  return p;
}

uint64_t io_seed(void) { return T.seed; }

uint64_t io_rand(void) { /* splitmix64 */
  uint64_t z = (T.state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t io_range(int64_t lo, int64_t hi) { return lo + (int64_t)(io_rand() % (uint64_t)(hi - lo + 1)); }

double io_uniform(void) { return (double)(io_rand() >> 11) * 0x1p-53; }

double io_normal(void) {
  double u = io_uniform(), v = io_uniform();
  return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

void io_write(const char *path, const void *data, size_t n) {
  unlink(path); /* a new file: truncating one whose pages are being written back can stall */
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) io_fail(__FILE__, __LINE__, "cannot write %s", path);
}

char *io_read(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) io_fail(__FILE__, __LINE__, "cannot read %s: %s", path, strerror(errno));
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += k;
    if (cap - len - 1 == 0) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[len] = 0;
  if (n) *n = len;
  return buf;
}

char *io_fmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  int i = T.next_fmt++ % 64;
  free(T.fmts[i]);
  T.fmts[i] = s;
  return s;
}

void io_fail(const char *file, int line, const char *fmt, ...) {
  fflush(stdout);
  fprintf(stderr, "%s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n%s: FAILED with seed %llu (rerun with GMMC_TEST_SEED=%llu); files kept in %s\n", T.name,
          (unsigned long long)T.seed, (unsigned long long)T.seed, T.dir);
  exit(1);
}

void io_expect(const char *file, int line, gmmc_status got, char *err, gmmc_status want, const char *want_msg) {
  if (got != want)
    io_fail(file, line, "status %s (%d), expected %s (%d); message: %s", gmmc_status_name(got), got,
            gmmc_status_name(want), want, err ? err : "(none)");
  if (!err) io_fail(file, line, "no message; expected: %s", want_msg);
  if (strcmp(err, want_msg) != 0) io_fail(file, line, "message\n  got:      %s\n  expected: %s", err, want_msg);
  free(err);
}

void io_expect_ok(const char *file, int line, gmmc_status got, char *err) {
  if (got != GMMC_OK) io_fail(file, line, "status %s: %s", gmmc_status_name(got), err ? err : "(no message)");
  if (err) io_fail(file, line, "a message on success: %s", err);
}
