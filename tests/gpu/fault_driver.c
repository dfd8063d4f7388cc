/* CUDA driver fault injection (dsl/fault.h, FAULT_DRIVER; built only with
 * GMMC_FAULT_INJECTION): a fit (3 components, full covariance, 4
 * iterations) and a predict on the GPU, run again and again in a fresh
 * context with the N-th driver call failing, for N = 1, 2, ... until a run
 * has no call left to fail. Every run must end either with
 * GMMC_ERR_DEVICE (GMMC_ERR_OUT_OF_MEMORY where cuMemAlloc failed,
 * GMMC_ERR_NO_DEVICE where cuInit or cuDeviceGetCount did) and a message
 * naming the failed call, or with success where the library did without it
 * (a graph capture, a cached cubin the driver refused: compiled again).
 * After each run the context is destroyed and the device's free memory
 * (cuMemGetInfo in the primary context, which this program keeps retained so
 * that whatever a run leaked would stay allocated) must be back within a
 * small slack of what it was after a clean run.
 *
 * Two passes: the kernel cache off (every run compiles: cuLink*) and a cache
 * filled beforehand (every run loads cubins). GMMC_VARIANTS=simple (unless
 * set) keeps the sequence of calls the same from run to run; the order of
 * calls made by the compile threads still varies, so the N-th call is named
 * from this run's record (fault_site).
 *
 *   gpu_faults [cold|warm|all] [step]
 * step: try every step-th N only (1: all). Exits 0 printing "skipped: no GPU"
 * where no GPU is usable, 1 on any failure. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dsl/fault.h"
#include "fault_step.h"
#include "gmmc/gmmc.h"
#include "io/io_test.h"

enum { N = 3000, D = 3, K = 3 };
#define SLACK_BYTES ((size_t)8 << 20) /* free memory may differ this much from a clean run's */

#ifndef GMMC_FAULT_INJECTION
int main(void) {
  printf("skipped: this build has no fault injection (GMMC_FAULT_INJECTION=OFF)\n");
  return 0;
}
#else

/* The few driver calls that measure free memory, without cuda.h (types as
 * the driver API has them on 64-bit Linux). Not counted: they do not go
 * through gmmc's wrappers. */
typedef int CUresult_;
static struct {
  void *lib;
  CUresult_ (*Init)(unsigned);
  CUresult_ (*DeviceGet)(int *, int);
  CUresult_ (*PrimaryCtxRetain)(void **, int);
  CUresult_ (*PrimaryCtxRelease)(int);
  CUresult_ (*CtxSetCurrent)(void *);
  CUresult_ (*MemGetInfo)(size_t *, size_t *);
  int dev;
  void *ctx;
} drv;

static int driver_open(int ordinal) {
  drv.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!drv.lib) return -1;
  *(void **)&drv.Init = dlsym(drv.lib, "cuInit");
  *(void **)&drv.DeviceGet = dlsym(drv.lib, "cuDeviceGet");
  *(void **)&drv.PrimaryCtxRetain = dlsym(drv.lib, "cuDevicePrimaryCtxRetain");
  *(void **)&drv.PrimaryCtxRelease = dlsym(drv.lib, "cuDevicePrimaryCtxRelease_v2");
  *(void **)&drv.CtxSetCurrent = dlsym(drv.lib, "cuCtxSetCurrent");
  *(void **)&drv.MemGetInfo = dlsym(drv.lib, "cuMemGetInfo_v2");
  if (!drv.Init || !drv.DeviceGet || !drv.PrimaryCtxRetain || !drv.PrimaryCtxRelease || !drv.CtxSetCurrent ||
      !drv.MemGetInfo)
    return -1;
  if (drv.Init(0) || drv.DeviceGet(&drv.dev, ordinal) || drv.PrimaryCtxRetain(&drv.ctx, drv.dev)) return -1;
  return 0;
}

/* Free device memory in bytes, or 0 when the driver will not say. */
static size_t device_free(void) {
  size_t free_b = 0, total = 0;
  if (drv.CtxSetCurrent(drv.ctx) || drv.MemGetInfo(&free_b, &total)) return 0;
  return free_b;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static double uniform(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1.0p-53;
}

typedef struct {
  gmmc_status status;
  const char *stage;
  char message[1024];
} Outcome;

static float data_x[N * D];
static int32_t labels[N];

/* Context, fit, predict, two fits at once, everything destroyed. cache: NULL for none. */
static Outcome sequence(const char *cache) {
  Outcome o = {.status = GMMC_OK, .stage = ""};
  gmmc_context *ctx = NULL;
  gmmc_data *data = NULL;
  gmmc_fit_options *opts = NULL;
  gmmc_model *model = NULL;
  STEP("context", gmmc_context_create(&ctx, GMMC_BACKEND_CUDA));
  STEP("cache", gmmc_context_set_cache_dir(ctx, cache));
  STEP("data", gmmc_data_wrap(ctx, data_x, GMMC_FLOAT32, N, D, &data));
  if (!o.status && gmmc_fit_options_create(&opts) != GMMC_OK) {
    o.status = GMMC_ERR_OUT_OF_MEMORY;
    o.stage = "options";
    snprintf(o.message, sizeof o.message, "gmmc_fit_options_create failed");
  }
  STEP("options", gmmc_fit_options_set_n_components(opts, K));
  STEP("options", gmmc_fit_options_set_covariance_type(opts, "full"));
  STEP("options", gmmc_fit_options_set_max_iter(opts, 4));
  STEP("options", gmmc_fit_options_set_seed(opts, 3));
  STEP("fit", gmmc_fit(ctx, data, opts, &model));
  STEP("predict", gmmc_predict(ctx, model, data, labels, N));
  /* two fits at once: from their third iteration one joined graph a round,
   * with the copies of the outcomes into page-locked memory (fit_many.c) */
  const gmmc_data *many_data[2] = {data, data};
  const gmmc_fit_options *many_opts[2] = {opts, opts};
  gmmc_model *many[2] = {NULL, NULL};
  gmmc_status many_status[2] = {GMMC_OK, GMMC_OK};
  STEP("fit_many", gmmc_fit_many(ctx, 2, many_data, many_opts, many, many_status));
  for (int i = 0; i < 2 && !o.status; i++)
    if (many_status[i]) {
      o.status = many_status[i];
      o.stage = "fit_many";
      snprintf(o.message, sizeof o.message, "%s", gmmc_fit_many_error(ctx, i) ? gmmc_fit_many_error(ctx, i) : "?");
    }
  gmmc_model_destroy(many[0]);
  gmmc_model_destroy(many[1]);
  if (o.status && !ctx) snprintf(o.message, sizeof o.message, "%s", gmmc_last_error(NULL));
  gmmc_model_destroy(model);
  gmmc_fit_options_destroy(opts);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  return o;
}

static int failures;

/* Distinct call names among the calls of a run, printed. */
static int list_sites(long calls) {
  int n = 0;
  printf("  calls:");
  for (long i = 1; i <= calls; i++) {
    const char *s = fault_site(FAULT_DRIVER, i);
    if (!s) continue;
    int seen = 0, times = 0;
    for (long j = 1; j < i && !seen; j++) seen = fault_site(FAULT_DRIVER, j) && !strcmp(fault_site(FAULT_DRIVER, j), s);
    if (seen) continue;
    for (long j = i; j <= calls; j++) times += fault_site(FAULT_DRIVER, j) && !strcmp(fault_site(FAULT_DRIVER, j), s);
    printf(" %s x%d", s, times);
    n++;
  }
  printf("\n");
  return n;
}

/* The outcome of a run whose injected failure (site) was reached. */
static void judge(long nth, const char *site, const Outcome *o) {
  if (o->status == GMMC_OK) return; /* done without it */
  gmmc_status want = GMMC_ERR_DEVICE;
  if (!strcmp(site, "cuMemAlloc") || !strcmp(site, "cuMemHostAlloc")) want = GMMC_ERR_OUT_OF_MEMORY;
  if (!strcmp(site, "cuInit") || !strcmp(site, "cuDeviceGetCount")) want = GMMC_ERR_NO_DEVICE;
  if (o->status != want || !strstr(o->message, site)) {
    printf("FAIL: driver call #%ld (%s) in %s: %s (expected %s naming %s): %s\n", nth, site, o->stage,
           gmmc_status_name(o->status), gmmc_status_name(want), site, o->message);
    failures++;
  }
}

static void pass(const char *mode, const char *cache, long step) {
  if (cache) {
    io_remove_tree(cache);
    fault_arm(FAULT_DRIVER, 0);
    Outcome fill = sequence(cache); /* fills the cache: the runs below read it */
    if (fill.status) {
      printf("FAIL: %s: filling the cache: %s: %s: %s\n", mode, fill.stage, gmmc_status_name(fill.status),
             fill.message);
      failures++;
      return;
    }
  }
  fault_arm(FAULT_DRIVER, 0);
  Outcome clean = sequence(cache);
  long calls = fault_calls(FAULT_DRIVER);
  if (clean.status) {
    printf("FAIL: %s: the sequence fails with nothing injected: %s: %s: %s\n", mode, clean.stage,
           gmmc_status_name(clean.status), clean.message);
    failures++;
    return;
  }
  printf("%s cache: %ld driver calls in a clean run\n", mode, calls);
  int names = list_sites(calls);
  size_t base = device_free(); /* after a clean run: what the driver keeps for the context is there */
  size_t worst = 0;
  long reached = 0, absorbed = 0, worst_nth = 0;
  time_t t0 = time(NULL);
  for (long nth = 1;; nth += step) {
    fault_arm(FAULT_DRIVER, nth);
    Outcome o = sequence(cache);
    int fired = fault_fired(FAULT_DRIVER);
    const char *s = fault_site(FAULT_DRIVER, nth);
    char site[64];
    snprintf(site, sizeof site, "%s", s ? s : "?");
    fault_arm(FAULT_DRIVER, 0);
    if (!fired) {
      if (o.status) {
        printf("FAIL: %s: the sequence failed with no failure injected (#%ld): %s: %s: %s\n", mode, nth, o.stage,
               gmmc_status_name(o.status), o.message);
        failures++;
      }
      break;
    }
    reached++;
    absorbed += o.status == GMMC_OK;
    judge(nth, site, &o);
    size_t now = device_free();
    if (base && now && now < base && base - now > worst) {
      worst = base - now;
      worst_nth = nth;
    }
    if (base && now && now + SLACK_BYTES < base) {
      printf("FAIL: driver call #%ld (%s): %.1f MiB of device memory not returned after the context was destroyed\n",
             nth, site, (double)(base - now) / (1 << 20));
      failures++;
      base = now; /* report each leak once */
    }
    if (reached % 50 == 0) printf("  ... %ld runs (%lld s)\n", reached, (long long)(time(NULL) - t0));
  }
  size_t end = device_free();
  printf("%s cache: %ld driver calls of %d kinds; each failed in turn (step %ld): %ld runs, %ld ended in an error "
         "(a wrong one has a FAIL line), %ld done without what failed (%lld s); device memory: start %.1f MiB free, "
         "end %.1f MiB, largest shortfall %.2f MiB (#%ld)\n",
         mode, calls, names, step, reached, reached - absorbed, absorbed, (long long)(time(NULL) - t0),
         (double)base / (1 << 20), (double)end / (1 << 20), (double)worst / (1 << 20), worst_nth);
  if (!base || !end) printf("  (cuMemGetInfo gave no answer: device memory not checked)\n");
  /* the library still works after all that */
  fault_arm(FAULT_DRIVER, 0);
  Outcome after = sequence(cache);
  if (after.status) {
    printf("FAIL: %s: a clean run after the injected failures fails: %s: %s: %s\n", mode, after.stage,
           gmmc_status_name(after.status), after.message);
    failures++;
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *only = argc > 1 ? argv[1] : "all";
  long step = argc > 2 ? atol(argv[2]) : 1;
  if (step < 1) step = 1;
  setenv("GMMC_VARIANTS", "simple", 0);
  /* a mixture of K well separated blobs */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < D; j++) data_x[i * D + j] = (float)(10.0 * (i % K) * (j == i % D) + 2 * uniform() - 1);

  fault_arm(FAULT_DRIVER, 0);
  gmmc_context *probe = NULL;
  gmmc_status s = gmmc_context_create(&probe, GMMC_BACKEND_CUDA);
  if (s == GMMC_ERR_NO_DEVICE) {
    printf("skipped: no GPU (%s)\n", gmmc_last_error(probe));
    gmmc_context_destroy(probe);
    return 0;
  }
  if (s) {
    printf("FAIL: the CUDA context: %s: %s\n", gmmc_status_name(s), gmmc_last_error(probe));
    gmmc_context_destroy(probe);
    return 1;
  }
  printf("device: %s\n", gmmc_context_device(probe));
  gmmc_context_destroy(probe);
  const char *devenv = getenv("GMMC_DEVICE");
  if (driver_open(devenv ? atoi(devenv) : 0)) {
    printf("FAIL: cannot open the CUDA driver to measure free memory\n");
    return 1;
  }

  char cache[] = "/tmp/gmmc-gpu-faults-XXXXXX";
  if (!mkdtemp(cache)) {
    perror("mkdtemp");
    return 1;
  }
  if (!strcmp(only, "all") || !strcmp(only, "cold")) pass("cold", NULL, step);
  if (!strcmp(only, "all") || !strcmp(only, "warm")) pass("warm", cache, step);
  io_remove_tree(cache);
  drv.PrimaryCtxRelease(drv.dev);
  printf(failures ? "gpu_faults: %d failures\n" : "gpu_faults: all passed\n", failures);
  return failures ? 1 : 0;
}
#endif
