/* Threads, as docs/api.md states them: contexts share nothing, so threads
 * with a context each fit at the same time, and a model is read-only to
 * the calls that use it, so threads with a context each predict with one
 * model at once. Every thread's results must be the bits of the same call
 * made alone (the host backend's results do not depend on the timing). Fresh
 * random data each run; GMMC_TEST_SEED=N replays a run. tools/sanitize.sh
 * runs it under AddressSanitizer; a ThreadSanitizer build
 * (-DGMMC_SANITIZE_THREAD=ON) checks the races themselves. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"

#define REQUIRE(c, ...)                                                                                                \
  do {                                                                                                                 \
    if (!(c)) io_fail(__FILE__, __LINE__, __VA_ARGS__);                                                                \
  } while (0)

enum { N = 3000, D = 3, K = 3, FITTERS = 2, PREDICTORS = 4 };

typedef struct {
  const double *x;
  const gmmc_model *shared; /* predict with it; NULL: fit a model */
  int32_t labels[N];
  double log_prob[N], lower_bound;
  gmmc_status status;
  char error[256];
} Job;

/* A context of this thread's own, no kernel cache; a fit's has a pool of
 * two threads (its results are the same bits for any number). */
static gmmc_context *own_context(int threads) {
  gmmc_context *ctx = NULL;
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST) != GMMC_OK) return NULL;
  gmmc_context_set_cache_dir(ctx, NULL);
  gmmc_context_set_threads(ctx, threads);
  return ctx;
}

static void *run(void *arg) {
  Job *j = arg;
  gmmc_context *ctx = own_context(j->shared ? 1 : 2);
  if (!ctx) {
    j->status = GMMC_ERR_INTERNAL;
    snprintf(j->error, sizeof j->error, "no context");
    return NULL;
  }
  gmmc_data *data = NULL;
  gmmc_model *m = NULL;
  gmmc_status s = gmmc_data_wrap(ctx, j->x, GMMC_FLOAT64, N, D, &data);
  if (!s && !j->shared) {
    gmmc_fit_options *o = NULL;
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, K);
    gmmc_fit_options_set_seed(o, 7);
    s = gmmc_fit(ctx, data, o, &m);
    gmmc_fit_options_destroy(o);
    if (!s) j->lower_bound = gmmc_model_lower_bound(m);
  }
  const gmmc_model *use = j->shared ? j->shared : m;
  if (!s) s = gmmc_predict(ctx, use, data, j->labels, N);
  if (!s) s = gmmc_score_samples(ctx, use, data, j->log_prob, N);
  j->status = s;
  if (s) snprintf(j->error, sizeof j->error, "%s", gmmc_last_error(ctx));
  gmmc_model_destroy(m);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  return NULL;
}

/* Runs n jobs in threads at once; each must give alone's bits. */
static void together(const char *what, Job *jobs, int n, const Job *alone) {
  pthread_t t[PREDICTORS];
  for (int i = 0; i < n; i++) REQUIRE(pthread_create(&t[i], NULL, run, &jobs[i]) == 0, "pthread_create");
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < n; i++) {
    REQUIRE(jobs[i].status == GMMC_OK, "%s, thread %d: %s", what, i, jobs[i].error);
    REQUIRE(memcmp(jobs[i].labels, alone->labels, sizeof alone->labels) == 0, "%s, thread %d: other labels", what, i);
    REQUIRE(memcmp(jobs[i].log_prob, alone->log_prob, sizeof alone->log_prob) == 0, "%s, thread %d: other scores", what,
            i);
    REQUIRE(memcmp(&jobs[i].lower_bound, &alone->lower_bound, sizeof(double)) == 0,
            "%s, thread %d: lower bound %.17g, alone %.17g", what, i, jobs[i].lower_bound, alone->lower_bound);
  }
  printf("  ok: %d threads %s at once, each with alone's bits\n", n, what);
}

int main(void) {
  io_init("robust_threads");
  double *x = rb_blobs(N, D, K, 6);
  static Job alone, jobs[PREDICTORS];
  /* 1. fits in two contexts at once */
  alone.x = x;
  run(&alone);
  REQUIRE(alone.status == GMMC_OK, "the fit alone: %s", alone.error);
  for (int i = 0; i < FITTERS; i++) jobs[i] = (Job){.x = x};
  together("fitting", jobs, FITTERS, &alone);
  /* 2. one model, predictions in four contexts at once */
  gmmc_context *ctx = own_context(2);
  gmmc_model *m = NULL;
  REQUIRE(ctx && rb_fit(ctx, x, N, D, K, "full", 1e-6, &m) == GMMC_OK, "the shared model: %s", gmmc_last_error(ctx));
  Job ref = {.x = x, .shared = m};
  run(&ref);
  REQUIRE(ref.status == GMMC_OK, "predicting alone: %s", ref.error);
  for (int i = 0; i < PREDICTORS; i++) jobs[i] = (Job){.x = x, .shared = m};
  together("predicting with one model", jobs, PREDICTORS, &ref);
  gmmc_model_destroy(m);
  gmmc_context_destroy(ctx);
  free(x);
  return io_done();
}
