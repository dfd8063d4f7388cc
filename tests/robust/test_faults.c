/* Fault injection, as SQLite does it (docs/robustness.md): a whole
 * fit + save + load + predict sequence on the host backend, run again and
 * again with the N-th allocation (then the N-th file write) failing, for
 * N = 1, 2, ... until one runs with no failure left to inject. Every run must
 * end either with the status the failure calls for (GMMC_ERR_OUT_OF_MEMORY,
 * GMMC_ERR_IO) and a message saying so, or, where the library could do
 * without what it failed to get (a cache entry), with the model it makes
 * anyway; a failed save must leave no model file. Built only with
 * GMMC_FAULT_INJECTION, under ASan/LSan (tools/sanitize.sh), which fail the
 * run on any leak.
 *
 * Three passes: the kernel cache off (every run compiles), a kernel cache
 * emptied before each run (compiles and writes the cache), and a cache
 * filled beforehand (reads it). Deterministic: fixed data, one thread, and
 * only the simple variants (autotuning measures time, which would change
 * the sequence of allocations from run to run).
 *
 * With "many" the fit is gmmc_fit_many of two fits of the data, the second
 * with n_init 2 (three execs side by side): a failure in any fit fails the
 * call with its status.
 *
 *   robust_faults [alloc|write] [cold|fresh|warm] [many]   (default: all, gmmc_fit) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsl/fault.h"
#include "fault_step.h"
#include "robust_test.h"

enum { N = 240, D = 3, K = 3 };

typedef enum { CACHE_OFF, CACHE_FRESH, CACHE_WARM } CacheMode;
static const char *const mode_names[] = {"cold", "fresh", "warm"};

typedef struct {
  const double *x;
  char cache[512], model[512];
  CacheMode mode;
} Setup;

typedef struct {
  gmmc_status status;
  const char *stage;
  char message[512];
  int model_file; /* the model file exists after the run */
} Outcome;

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* An options setter: its message is the options' own */
#define OPTION(call)                                                                                                   \
  do {                                                                                                                 \
    if (!o.status && (o.status = (call)) != GMMC_OK) {                                                                 \
      o.stage = "options";                                                                                             \
      snprintf(o.message, sizeof o.message, "%s", gmmc_fit_options_error(opts));                                       \
    }                                                                                                                  \
  } while (0)

static int many; /* the fit is gmmc_fit_many's */

/* Two fits at once; the first's model is the sequence's. */
static gmmc_status fit_two(gmmc_context *ctx, gmmc_data *data, gmmc_fit_options *opts, gmmc_fit_options *two,
                           gmmc_model **out) {
  const gmmc_data *d[2] = {data, data};
  const gmmc_fit_options *op[2] = {opts, two};
  gmmc_model *m[2] = {NULL, NULL};
  gmmc_status st[2];
  gmmc_status s = gmmc_fit_many(ctx, 2, d, op, m, st);
  gmmc_model_destroy(m[1]);
  *out = m[0];
  return s;
}

static Outcome sequence(const Setup *su) {
  Outcome o = {.status = GMMC_OK, .stage = ""};
  unlink(su->model);
  gmmc_context *ctx = NULL;
  gmmc_data *data = NULL;
  gmmc_fit_options *opts = NULL;
  gmmc_model *fitted = NULL, *loaded = NULL;
  static int32_t labels[N];
  STEP("context", gmmc_context_create(&ctx, GMMC_BACKEND_HOST));
  STEP("threads", gmmc_context_set_threads(ctx, 1));
  STEP("cache", gmmc_context_set_cache_dir(ctx, su->mode == CACHE_OFF ? NULL : su->cache));
  STEP("data", gmmc_data_wrap(ctx, su->x, GMMC_FLOAT64, N, D, &data));
  if (!o.status && gmmc_fit_options_create(&opts) != GMMC_OK) {
    o.status = GMMC_ERR_OUT_OF_MEMORY; /* the only way it fails */
    o.stage = "options";
    snprintf(o.message, sizeof o.message, "out of memory: gmmc_fit_options_create failed");
  }
  OPTION(gmmc_fit_options_set_n_components(opts, K));
  OPTION(gmmc_fit_options_set_covariance_type(opts, "full"));
  OPTION(gmmc_fit_options_set_max_iter(opts, 4));
  OPTION(gmmc_fit_options_set_seed(opts, 3));
  gmmc_fit_options *two = NULL; /* gmmc_fit_many's second fit */
  if (many && !o.status) {
    if (gmmc_fit_options_create(&two) != GMMC_OK) {
      o.status = GMMC_ERR_OUT_OF_MEMORY;
      o.stage = "options";
      snprintf(o.message, sizeof o.message, "out of memory: gmmc_fit_options_create failed");
    }
    gmmc_fit_options *opts = two; /* OPTION's message is the options' own */
    OPTION(gmmc_fit_options_set_n_components(two, K));
    OPTION(gmmc_fit_options_set_max_iter(two, 4));
    OPTION(gmmc_fit_options_set_n_init(two, 2));
  }
  if (many)
    STEP("fit", fit_two(ctx, data, opts, two, &fitted));
  else
    STEP("fit", gmmc_fit(ctx, data, opts, &fitted));
  STEP("save", gmmc_model_save(ctx, fitted, su->model));
  STEP("load", gmmc_model_load(ctx, su->model, &loaded));
  STEP("predict", gmmc_predict(ctx, loaded, data, labels, N));
  if (!o.status && !ctx) o.status = GMMC_ERR_INTERNAL;
  if (o.status && !ctx) snprintf(o.message, sizeof o.message, "%s", gmmc_last_error(NULL));
  o.model_file = exists(su->model);
  gmmc_model_destroy(loaded);
  gmmc_model_destroy(fitted);
  gmmc_fit_options_destroy(opts);
  gmmc_fit_options_destroy(two);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  return o;
}

static void prepare(const Setup *su) {
  if (su->mode == CACHE_FRESH) io_remove_tree(su->cache);
}

static int failures;

/* The outcome of a run whose injected failure was reached. */
static void judge(FaultKind kind, long nth, const char *site, const Outcome *o) {
  if (o->status == GMMC_OK) return; /* done without it (a cache entry not written, ...) */
  gmmc_status want = kind == FAULT_ALLOC ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_IO;
  const char *text = kind == FAULT_ALLOC ? "out of memory" : "No space left on device";
  int ok = o->status == want && strstr(o->message, text);
  if (!strcmp(o->stage, "save") && o->model_file) {
    printf("FAIL: %s #%ld (%s): the failed save left a model file\n", kind == FAULT_ALLOC ? "allocation" : "write", nth,
           site ? site : "?");
    failures++;
  }
  if (!ok) {
    printf("FAIL: %s #%ld (%s) in %s: %s: %s\n", kind == FAULT_ALLOC ? "allocation" : "write", nth, site ? site : "?",
           o->stage, gmmc_status_name(o->status), o->message);
    failures++;
  }
}

/* Distinct sites among the calls of a clean run. */
static int count_sites(FaultKind kind, long calls) {
  int n = 0;
  for (long i = 1; i <= calls; i++) {
    const char *s = fault_site(kind, i);
    int seen = 0;
    for (long j = 1; j < i && !seen; j++) seen = !strcmp(fault_site(kind, j), s);
    n += !seen;
  }
  return n;
}

static void pass(FaultKind kind, Setup *su) {
  const char *what = kind == FAULT_ALLOC ? "allocations" : "file writes";
  prepare(su);
  fault_arm(kind, 0);
  Outcome clean = sequence(su);
  long calls = fault_calls(kind);
  if (clean.status) {
    printf("FAIL: %s: the sequence fails with nothing injected: %s: %s\n", mode_names[su->mode], clean.stage,
           clean.message);
    failures++;
    return;
  }
  int sites = count_sites(kind, calls);
  printf("%s cache: a clean run makes %ld %s at %d sites\n", mode_names[su->mode], calls, what, sites);
  fflush(stdout);
  long absorbed = 0, reached = 0;
  time_t t0 = time(NULL);
  for (long nth = 1;; nth++) {
    prepare(su);
    fault_arm(kind, nth);
    Outcome o = sequence(su);
    int fired = fault_fired(kind);
    const char *site = fault_site(kind, nth); /* before fault_arm forgets the calls */
    fault_arm(kind, 0);
    if (!fired) {
      if (o.status) {
        printf("FAIL: %s: the sequence failed with no failure injected (#%ld): %s: %s\n", mode_names[su->mode], nth,
               o.stage, o.message);
        failures++;
      }
      break;
    }
    reached++;
    absorbed += o.status == GMMC_OK;
    judge(kind, nth, site, &o);
    if (getenv("GMMC_FAULT_VERBOSE")) {
      printf("  #%ld %s: %s %s\n", nth, site ? site : "?", o.stage, gmmc_status_name(o.status));
      fflush(stdout);
    }
  }
  printf("%s cache: %ld %s at %d sites in a clean run; each failed in turn: %ld runs, %ld failed cleanly with the "
         "right status, %ld done without what failed (%lld s)\n",
         mode_names[su->mode], calls, what, sites, reached, reached - absorbed, absorbed, (long long)(time(NULL) - t0));
}

int main(int argc, char **argv) {
  const char *only_kind = argc > 1 ? argv[1] : NULL, *only_mode = argc > 2 ? argv[2] : NULL;
  many = argc > 3 && strcmp(argv[3], "many") == 0;
  setenv("GMMC_VARIANTS", "simple", 1);
  io_init("robust_faults");
  /* fresh random data, the same for every run of this process: the
   * allocation sequence must be the same from run to run */
  double *x = rb_blobs(N, D, K, 6.0);
  Setup su = {.x = x};
  snprintf(su.cache, sizeof su.cache, "%s/cache", io_dir());
  snprintf(su.model, sizeof su.model, "%s/model.yaml", io_dir());
  static const FaultKind kinds[] = {FAULT_ALLOC, FAULT_WRITE};
  for (int k = 0; k < 2; k++) {
    if (only_kind && strcmp(only_kind, k ? "write" : "alloc")) continue;
    printf("-- %s\n", k ? "file writes" : "allocations");
    for (int m = 0; m < 3; m++) {
      if (only_mode && strcmp(only_mode, mode_names[m])) continue;
      su.mode = (CacheMode)m;
      if (su.mode == CACHE_WARM) { /* filled once, before the pass */
        su.mode = CACHE_FRESH;
        prepare(&su);
        sequence(&su);
        su.mode = CACHE_WARM;
      }
      pass(kinds[k], &su);
      fflush(stdout);
    }
  }
  free(x);
  io_remove_tree(su.cache);
  if (failures) printf("robust_faults: %d failures\n", failures);
  if (failures) return 1;
  return io_done();
}
