/* Model files survive a process killed in the middle of saving: the model is
 * written to a temporary name in the same directory and renamed over the
 * target (runtime/model/model_file_save.c), so the target holds the old model or the
 * new one, complete, never a mixture or a truncated file.
 *
 *   1. A child saving a large model over an existing one is killed by
 *      SIGXFSZ when the file reaches its RLIMIT_FSIZE (the default action of
 *      the signal: the process dies in the middle of a write). The target
 *      keeps the old model byte for byte, and loads.
 *   2. A child saving two different models over the same target in a loop is
 *      killed by SIGKILL at random moments: each time the target loads and
 *      is exactly one of the two models.
 * The temporary file of a killed save stays behind (no process is left to
 * remove it), named TARGET.tmp-XXXXXX; it is never the target. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsl/shipped.h"
#include "robust_test.h"
#include "runtime/model/model.h"

/* A model of a real spec with `count` values in one extra-large parameter
 * (the file is then about 24 bytes per value). */
static gmmc_model *big_model(int64_t count, double base) {
  gmmc_model *m = model_new();
  const ShippedSpec *sh = shipped_spec("diag");
  m->spec_name = strdup(sh->name);
  m->spec_file = strdup(sh->file);
  m->spec_text = strdup(sh->text);
  m->shipped = 1;
  m->n_components = 1;
  m->n_features = 1;
  m->n_iter = 1;
  ModelParam *p = model_add_param(m, "big", 1, &count, NULL);
  for (int64_t i = 0; i < count; i++) p->values[i] = base + io_normal();
  return m;
}

static int count_tmp(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  int n = 0;
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s.tmp-", base);
  for (struct dirent *e; (e = readdir(d));) n += !strncmp(e->d_name, prefix, strlen(prefix));
  closedir(d);
  return n;
}

static void remove_tmp(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s.tmp-", base);
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, prefix, strlen(prefix))) unlink(io_path(e->d_name));
  closedir(d);
}

static int same_values(const gmmc_model *a, const gmmc_model *b) {
  const ModelParam *p = model_find_param(a, "big"), *q = model_find_param(b, "big");
  return p && q && p->count == q->count && !memcmp(p->values, q->values, sizeof(double) * (size_t)p->count);
}

static void test_sigxfsz(void) {
  printf("killed by SIGXFSZ in the middle of a save\n");
  const char *target = io_path("model.yaml");
  gmmc_model *old = big_model(1000, 0), *neu = big_model(200000, 100);
  char *err = NULL;
  CHECK(model_file_save(old, target, &err) == GMMC_OK);
  size_t n0;
  char *before = io_read(target, &n0);
  for (int trial = 0; trial < 3; trial++) {
    rlim_t limit = (rlim_t)io_range(4096, 2000000); /* the new file is about 4.6 MB */
    pid_t pid = fork();
    if (pid == 0) {
      struct rlimit r = {limit, limit};
      signal(SIGXFSZ, SIG_DFL);
      setrlimit(RLIMIT_FSIZE, &r);
      char *e = NULL;
      model_file_save(neu, target, &e);
      _exit(0); /* not reached: the signal kills the process in a write */
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGXFSZ)
      io_fail(__FILE__, __LINE__, "the child was not killed by SIGXFSZ (status %d)", st);
    size_t n1;
    char *after = io_read(target, &n1);
    CHECK(n0 == n1 && !memcmp(before, after, n0));
    free(after);
    gmmc_model *back = NULL;
    CHECK(model_file_load(target, &back, &err) == GMMC_OK);
    CHECK(same_values(back, old));
    model_free(back);
    CHECK(count_tmp(io_dir(), "model.yaml") == 1); /* the killed save's temporary file */
    remove_tmp(io_dir(), "model.yaml");
    printf("  ok: killed at %llu bytes; the target is the old model, byte for byte\n", (unsigned long long)limit);
  }
  /* a save that completes replaces the target */
  CHECK(model_file_save(neu, target, &err) == GMMC_OK);
  gmmc_model *back = NULL;
  CHECK(model_file_load(target, &back, &err) == GMMC_OK);
  CHECK(same_values(back, neu));
  CHECK(count_tmp(io_dir(), "model.yaml") == 0);
  model_free(back);
  free(before);
  model_free(old);
  model_free(neu);
}

static void test_sigkill(void) {
  printf("killed by SIGKILL at random moments while saving\n");
  const char *target = io_path("race.yaml");
  gmmc_model *a = big_model(20000, 0), *b = big_model(30000, 50);
  char *err = NULL;
  CHECK(model_file_save(a, target, &err) == GMMC_OK);
  int seen_a = 0, seen_b = 0;
  for (int trial = 0; trial < 25; trial++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0;; i++) {
        char *e = NULL;
        if (model_file_save(i % 2 ? a : b, target, &e) != GMMC_OK) _exit(1);
      }
    }
    struct timespec ts = {0, (long)io_range(1, 60) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    gmmc_model *back = NULL;
    gmmc_status s = model_file_load(target, &back, &err);
    if (s) io_fail(__FILE__, __LINE__, "after SIGKILL, trial %d: %s", trial, err);
    if (same_values(back, a))
      seen_a++;
    else if (same_values(back, b))
      seen_b++;
    else
      io_fail(__FILE__, __LINE__, "after SIGKILL, trial %d: the target is neither model", trial);
    model_free(back);
    remove_tmp(io_dir(), "race.yaml");
  }
  printf("  ok: 25 kills; the target was the first model %d times, the second %d times, never anything else\n", seen_a,
         seen_b);
  model_free(a);
  model_free(b);
}

int main(void) {
  io_init("robust_safe_files");
  test_sigxfsz();
  test_sigkill();
  return io_done();
}
