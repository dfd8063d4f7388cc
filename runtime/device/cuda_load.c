/* The CUDA backend's code: kernels compiled (LLVM NVPTX to PTX, the
 * driver's JIT linker to a cubin), cached on disk and loaded as modules.
 *
 * Every kernel is compiled alone (its own LLVM context and driver link) and
 * cached alone, under the digest of what its code depends on
 * (kernel_code_digest): any set of kernels — every variant for tuning, the
 * tuned few, the same kernel in a program lowered with fewer variants — is
 * served from the cache kernel by kernel. Cold, the kernels are spread over
 * threads heaviest first (the compile takes as long as its slowest kernel;
 * per-kernel LLVM setup measured nothing against compiling kernels
 * together), and the kernels that have stand-ins (a variant, while the
 * simple form of its unit can run) compile in the background: a first fit
 * starts on the simple kernels instead of waiting for the slowest variant.
 * A cache hit reads and loads its modules on the calling thread: on an H200
 * host, 2, 4 and 8 threads loaded 21 modules no faster than one (1.4-2.1 ms)
 * or slower (up to 3.2 ms): the driver serializes them. A load costs ~40 us
 * with or without JIT options, with CUDA_MODULE_LOADING lazy or eager.
 *
 * Out of memory is GMMC_ERR_OUT_OF_MEMORY naming what was allocated, with
 * everything of the load freed; a message that cannot be allocated is left
 * NULL (or the shorter one kept) and the status stands. A cache entry that
 * cannot be read or written for want of memory is a miss. */
#ifdef GMMC_HAVE_CUDA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compiler/codegen.h"
#include "compiler/target.h"
#include "cuda_backend.h"
#include "cuda_bundle.h"
#include "kcache.h"

gmmc_status cuda_link_cubin(CudaBackend *cb, const char *ptx, void **cubin, size_t *size, char **err) {
  char *info = xcalloc(1, 16384), *error_log = info ? xcalloc(1, 16384) : NULL;
  if (!error_log) {
    free(info);
    return oom_status(err, "the driver's link logs");
  }
  CUjit_option opts[] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                         CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {info, (void *)(uintptr_t)16384, error_log, (void *)(uintptr_t)16384};
  CUlinkState state;
  gmmc_status s = GMMC_OK;
  CUresult r = cb->d.LinkCreate(4, opts, vals, &state);
  if (r != CUDA_SUCCESS) {
    *err = cu_message(&cb->d, r, "cuLinkCreate");
    s = GMMC_ERR_DEVICE;
  } else {
    const char *call = "linking the generated PTX: cuLinkAddData";
    r = cb->d.LinkAddData(state, CU_JIT_INPUT_PTX, (void *)ptx, strlen(ptx) + 1, "gmmc.ptx", 0, NULL, NULL);
    void *image = NULL;
    if (r == CUDA_SUCCESS) {
      call = "linking the generated PTX: cuLinkComplete";
      r = cb->d.LinkComplete(state, &image, size);
    }
    if (r != CUDA_SUCCESS) {
      char *m = cu_message(&cb->d, r, call);
      *err = m ? xasprintf("%s\n%s%s", m, error_log, info) : NULL;
      if (*err)
        free(m);
      else
        *err = m; /* no memory for the logs: the driver's message alone (or none) */
      s = GMMC_ERR_DEVICE;
    } else {
      /* the image belongs to the link state: copy it out */
      *cubin = xmalloc(*size ? *size : 1);
      if (*cubin)
        memcpy(*cubin, image, *size);
      else
        s = oom_status(err, "a kernel's cubin");
    }
    cb->d.LinkDestroy(state);
  }
  free(info);
  free(error_log);
  return s;
}

/* Runs fn(arg, i) for every i in [0, n) on up to `threads` threads, this
 * one included, each with the backend's context current. */
typedef struct {
  CudaBackend *cb;
  void (*fn)(void *arg, int i);
  void *arg;
  int n, next;
  int nice; /* a background compile yields to the foreground's */
  pthread_mutex_t lock;
} ParallelFor;

/* The failure of this thread's cuCtxSetCurrent in parallel_worker: its
 * kernels fail with it (compile_one) instead of calling the driver with no
 * context. */
static _Thread_local CUresult worker_ctx_error;

static void *parallel_worker(void *v) {
  ParallelFor *pf = v;
  worker_ctx_error = pf->cb->d.CtxSetCurrent(pf->cb->ctx);
  if (pf->nice) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), pf->nice); /* this thread only (Linux) */
  for (;;) {
    pthread_mutex_lock(&pf->lock);
    int i = pf->next++;
    pthread_mutex_unlock(&pf->lock);
    if (i >= pf->n) return NULL;
    pf->fn(pf->arg, i);
  }
}

static void parallel_for(CudaBackend *cb, int n, int threads, int nice, void (*fn)(void *, int), void *arg) {
  ParallelFor pf = {.cb = cb, .fn = fn, .arg = arg, .n = n, .nice = nice};
  pthread_mutex_init(&pf.lock, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0 && threads > cpus) threads = (int)cpus;
  if (threads > n) threads = n;
  if (threads > 16) threads = 16;
  pthread_t th[16];
  int started[16] = {0};
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&th[t], NULL, parallel_worker, &pf) == 0;
  parallel_worker(&pf);
  for (int t = 1; t < threads; t++)
    if (started[t]) pthread_join(th[t], NULL);
  pthread_mutex_destroy(&pf.lock);
}

/* The kernels of one load: per-kernel slots indexed by kernel, so that
 * threads never write the same one. */
struct Load {
  CudaBackend *cb;
  BackendProgram *bp;
  const Program *p;
  TargetOptions topt;
  int *list, n; /* the kernels to compile, heaviest first */
  uint64_t *key;
  void **cubin;
  size_t *size;
  gmmc_status *status;
  char **err;
  double *llvm_ms, *link_ms;
  double key_ms, read_ms, module_ms; /* cache hits, for GMMC_PROFILE */
  double started;                    /* monotonic_ms when compiling began */
};

static void load_free(Load *l);

/* NULL when out of memory (nothing left allocated). */
static Load *load_new(CudaBackend *cb, BackendProgram *bp, const Program *p) {
  size_t n1 = (size_t)p->nkernels + 1;
  Load *l = xcalloc(1, sizeof *l);
  if (!l) return NULL;
  l->cb = cb;
  l->bp = bp;
  l->p = p;
  l->topt = (TargetOptions){.kind = TARGET_NVPTX, .arch = cb->arch, .ptx_version = cuda_ptx_version(cb)};
  l->list = xcalloc(n1, sizeof(int));
  l->key = xcalloc(n1, sizeof(uint64_t));
  l->cubin = xcalloc(n1, sizeof(void *));
  l->size = xcalloc(n1, sizeof(size_t));
  l->status = xcalloc(n1, sizeof(gmmc_status));
  l->err = xcalloc(n1, sizeof(char *));
  l->llvm_ms = xcalloc(n1, sizeof(double));
  l->link_ms = xcalloc(n1, sizeof(double));
  if (!l->list || !l->key || !l->cubin || !l->size || !l->status || !l->err || !l->llvm_ms || !l->link_ms) {
    load_free(l);
    return NULL;
  }
  return l;
}

static void load_free(Load *l) {
  if (!l) return;
  for (int i = 0; i < l->p->nkernels; i++) {
    if (l->cubin) free(l->cubin[i]);
    if (l->err) free(l->err[i]);
  }
  free(l->list);
  free(l->key);
  free(l->cubin);
  free(l->size);
  free(l->status);
  free(l->err);
  free(l->llvm_ms);
  free(l->link_ms);
  free(l);
}

gmmc_status cuda_bind_kernel(CudaBackend *cb, BackendProgram *bp, const Program *p, int k, CUmodule m, char **err) {
  const Kernel *kk = p->kernels[k];
  CUresult r = cb->d.ModuleGetFunction(&bp->fns[k], m, kk->name);
  if (r != CUDA_SUCCESS) {
    bp->fns[k] = NULL;
    *err = cu_message(&cb->d, r, "cuModuleGetFunction");
    return GMMC_ERR_DEVICE;
  }
  if (!(bp->params[k] = xcalloc((size_t)program_arg_slots(p) + 1, sizeof(int)))) {
    bp->fns[k] = NULL;
    return oom_status(err, "a kernel's argument slots");
  }
  bp->block[k] = kk->launch == LAUNCH_GRID ? kk->block[0] : kk->block_size;
  bp->block_y[k] = kk->launch == LAUNCH_GRID ? kk->block[1] : 1;
  bp->nparams[k] = kernel_param_slots(p, kk, bp->params[k]);
  return GMMC_OK;
}

static gmmc_status load_module(Load *l, int k) {
  CudaBackend *cb = l->cb;
  BackendProgram *bp = l->bp;
  char error_log[8192] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {error_log, (void *)(uintptr_t)sizeof error_log};
  CUresult r = cb->d.ModuleLoadDataEx(&bp->modules[k], l->cubin[k], 2, opts, vals);
  if (r != CUDA_SUCCESS) {
    char *m = cu_message(&cb->d, r, "cuModuleLoadDataEx");
    free(l->err[k]);
    l->err[k] = m && error_log[0] ? xasprintf("%s\n%s", m, error_log) : NULL;
    if (l->err[k])
      free(m);
    else
      l->err[k] = m; /* no log, or no memory for it: the driver's message alone (or none) */
    bp->modules[k] = NULL;
    return GMMC_ERR_DEVICE;
  }
  free(l->err[k]);
  l->err[k] = NULL;
  gmmc_status s = cuda_bind_kernel(cb, bp, l->p, k, bp->modules[k], &l->err[k]);
  if (s) { /* nothing of kernel k stays loaded */
    cb->d.ModuleUnload(bp->modules[k]);
    bp->modules[k] = NULL;
  }
  return s;
}

/* Kernel k's cache key, computed once per load (0 until then). */
static uint64_t kernel_key(Load *l, int k) {
  if (!l->key[k]) l->key[k] = kcache_code_key(l->cb->code_salt, kernel_code_digest(l->p, l->p->kernels[k]));
  return l->key[k];
}

/* A kernel's key, its cubin from the cache and, found, its module. */
static void fetch(Load *l, int k) {
  double t0 = monotonic_ms();
  kernel_key(l, k);
  const char *dir = l->cb->base.cache_dir;
  double t1 = monotonic_ms();
  l->cubin[k] = dir ? kcache_get(dir, l->key[k], "cubin", &l->size[k]) : NULL;
  double t2 = monotonic_ms();
  if (l->cubin[k] && load_module(l, k)) { /* a cubin the driver refuses: compile it again */
    free(l->cubin[k]);
    free(l->err[k]);
    l->cubin[k] = NULL;
    l->err[k] = NULL;
  }
  l->key_ms += t1 - t0;
  l->read_ms += t2 - t1;
  l->module_ms += monotonic_ms() - t2;
}

/* PTX, cubin and cache entry of list[i] (modules are loaded by the caller). */
static void compile_one(void *arg, int i) {
  Load *l = arg;
  int k = l->list[i];
  if (worker_ctx_error != CUDA_SUCCESS) { /* this thread has no context for the driver's linker */
    l->err[k] = cu_message(&l->cb->d, worker_ctx_error, "cuCtxSetCurrent");
    l->status[k] = GMMC_ERR_DEVICE;
    return;
  }
  unsigned char *only = xcalloc((size_t)l->p->nkernels + 1, 1);
  if (!only) {
    l->status[k] = oom_status(&l->err[k], "a kernel's compile mask");
    return;
  }
  only[k] = 1;
  double t0 = monotonic_ms();
  char *ptx = target_emit_kernels(l->p, &l->topt, EMIT_ASM, only, &l->err[k]);
  double t1 = monotonic_ms();
  free(only);
  /* the PTX: NULL with a message when the compile failed, without one when
   * out of memory (on this thread: the failure oom_status names is ours) */
  if (ptx)
    l->status[k] = cuda_link_cubin(l->cb, ptx, &l->cubin[k], &l->size[k], &l->err[k]);
  else
    l->status[k] = l->err[k] ? GMMC_ERR_COMPILE : oom_status(&l->err[k], "a kernel's PTX");
  l->llvm_ms[k] = t1 - t0;
  l->link_ms[k] = monotonic_ms() - t1;
  free(ptx);
  if (!l->status[k] && l->cb->base.cache_dir)
    kcache_put(l->cb->base.cache_dir, l->key[k], "cubin", l->cubin[k], l->size[k]);
}

static void compile_list(Load *l, int background) {
  for (int i = 1; i < l->n; i++) /* heaviest first: insertion sort by loop-IR size */
    for (int j = i; j > 0 && l->p->kernels[l->list[j]]->weight > l->p->kernels[l->list[j - 1]]->weight; j--) {
      int t = l->list[j];
      l->list[j] = l->list[j - 1];
      l->list[j - 1] = t;
    }
  l->started = monotonic_ms();
  /* in the background at a lower priority: the stand-ins of the next
   * program (k-means) compile meanwhile, on as many threads as cores */
  parallel_for(l->cb, l->n, 16, background ? 10 : 0, compile_one, l);
}

/* Loads the modules of the compiled list; the first failure, named, into *err. */
static gmmc_status load_compiled(Load *l, char **err) {
  gmmc_status s = GMMC_OK;
  for (int i = 0; i < l->n && !s; i++) {
    int k = l->list[i];
    if (!l->status[k]) l->status[k] = load_module(l, k);
    if ((s = l->status[k])) {
      *err = xasprintf("kernel %s: %s", l->p->kernels[k]->name, l->err[k] ? l->err[k] : "compilation failed");
      if (!*err) { /* no memory to name the kernel: the failure's own message */
        *err = l->err[k];
        l->err[k] = NULL;
      }
    }
  }
  return s;
}

static int slowest(const Load *l) {
  int w = -1;
  for (int i = 0; i < l->n; i++) {
    int k = l->list[i];
    if (w < 0 || l->llvm_ms[k] + l->link_ms[k] > l->llvm_ms[w] + l->link_ms[w]) w = k;
  }
  return w;
}

static void *background_main(void *arg) {
  BackendProgram *bp = arg;
  compile_list(bp->bg, 1);
  pthread_mutex_lock(&bp->bg_lock);
  bp->bg_done = 1;
  pthread_mutex_unlock(&bp->bg_lock);
  return NULL;
}

/* Waits for the background compile, if any, and loads what it made (unless
 * the program is being freed: the cache has it). */
static gmmc_status join_background(CudaBackend *cb, BackendProgram *bp, int load, char **err) {
  Load *l = bp->bg;
  if (!l) return GMMC_OK;
  double t0 = monotonic_ms();
  pthread_join(bp->bg_thread, NULL);
  pthread_mutex_destroy(&bp->bg_lock);
  double waited = monotonic_ms() - t0;
  gmmc_status s = load ? load_compiled(l, err) : GMMC_OK;
  if (cb->base.profile) {
    int w = slowest(l);
    fprintf(stderr,
            "gmmc profile: cuda: %d kernels compiled in the background in %.2f ms (slowest kernel: LLVM %.1f ms, "
            "driver link %.1f ms); waited %.2f ms for them, %.2f ms to load them\n",
            l->n, t0 + waited - l->started, w < 0 ? 0 : l->llvm_ms[w], w < 0 ? 0 : l->link_ms[w], waited,
            monotonic_ms() - t0 - waited);
  }
  load_free(l);
  bp->bg = NULL;
  return s;
}

/* The tuned set (want) from its bundle: 1 when loaded so. */
static int load_bundle(Load *l, const unsigned char *want, unsigned char *in, uint64_t *bundle) {
  CudaBackend *cb = l->cb;
  BackendProgram *bp = l->bp;
  const Program *p = l->p;
  int n = 0;
  double t0 = monotonic_ms();
  for (int k = 0; k < p->nkernels; k++)
    if ((in[k] = want[k] && !bp->fns[k])) {
      kernel_key(l, k);
      n++;
    }
  l->key_ms += monotonic_ms() - t0;
  if (n < 2) return 0;
  *bundle = cuda_bundle_key(l->key, in, p->nkernels);
  double t1 = monotonic_ms();
  int loaded = cuda_bundle_load(cb, bp, p, in, *bundle);
  if (loaded && cb->base.profile)
    fprintf(stderr, "gmmc profile: cuda: %d kernels from one cached module %.2f ms (keys %.2f)\n", n,
            monotonic_ms() - t0, t1 - t0);
  return loaded;
}

/* Loads the kernels of `want` (NULL: all) that bp lacks, from the cache or
 * compiled; with stand-ins, those of want that have none are loaded now
 * and the rest compile in the background. No background compile runs.
 * tuned: want is the tuned set of a fit's start, which may come from (or
 * make) one bundle. */
static gmmc_status load_kernels(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *want,
                                const unsigned char *stand_in, int tuned, int *cached, char **err) {
  int nk = p->nkernels;
  double t_start = monotonic_ms();
  Load *now = load_new(cb, bp, p), *later = now ? load_new(cb, bp, p) : NULL;
  unsigned char *in = later && tuned && want && cb->base.cache_dir ? xcalloc((size_t)nk + 1, 1) : NULL;
  uint64_t bundle = 0;
  if (!later) {
    load_free(now);
    return oom_status(err, "the kernels' load state");
  }
  if (in && load_bundle(now, want, in, &bundle)) {
    *cached = 1;
    free(in);
    load_free(now);
    load_free(later);
    return GMMC_OK;
  }
  int nt = 0;
  for (int k = 0; k < nk; k++)
    if ((!want || want[k]) && !bp->fns[k]) {
      fetch(now, k);
      nt++;
      if (now->cubin[k]) continue;
      if (stand_in && !stand_in[k])
        later->list[later->n++] = k;
      else
        now->list[now->n++] = k;
    }
  /* something waits for the background: its stand-ins must run meanwhile */
  for (int k = 0; k < nk && later->n; k++)
    if (stand_in[k] && want && !want[k] && !bp->fns[k]) {
      fetch(now, k);
      nt++;
      if (!now->cubin[k]) now->list[now->n++] = k;
    }
  *cached = now->n == 0 && later->n == 0;
  double t_fetched = monotonic_ms();
  compile_list(now, 0);
  gmmc_status s = load_compiled(now, err);
  if (cb->base.profile && nt) {
    int w = slowest(now);
    fprintf(stderr,
            "gmmc profile: cuda: %d kernels: %d from the cache %.2f ms (keys %.2f, reads %.2f, module loads %.2f), "
            "%d compiled and loaded %.2f ms (slowest kernel: LLVM %.1f ms, driver link %.1f ms), %d in the "
            "background\n",
            nt, nt - now->n - later->n, t_fetched - t_start, now->key_ms, now->read_ms, now->module_ms, now->n,
            monotonic_ms() - t_fetched, w < 0 ? 0 : now->llvm_ms[w], w < 0 ? 0 : now->link_ms[w], later->n);
  }
  if (!s && later->n) {
    memcpy(later->key, now->key, sizeof(uint64_t) * (size_t)nk);
    bp->bg = later;
    bp->bg_done = 0;
    pthread_mutex_init(&bp->bg_lock, NULL);
    if (pthread_create(&bp->bg_thread, NULL, background_main, bp) != 0) {
      bp->bg = NULL; /* no thread: compile here */
      pthread_mutex_destroy(&bp->bg_lock);
      compile_list(later, 0);
      s = load_compiled(later, err);
      load_free(later);
    }
  } else {
    load_free(later);
    /* every kernel of the tuned set from the per-kernel cache: one module
     * for them next time */
    if (!s && in && *cached && bundle) cuda_bundle_start(cb, bp, p, in, bundle);
  }
  free(in);
  load_free(now);
  return s;
}

static void free_program(CudaBackend *cb, BackendProgram *bp) {
  join_background(cb, bp, 0, NULL);
  cuda_bundle_join(bp);
  for (int i = 0; i < bp->nbundles; i++) cb->d.ModuleUnload(bp->bundles[i]);
  free(bp->bundles);
  for (int i = 0; i < bp->nfns; i++) { /* the arrays may be missing: cuda_load ran out of memory */
    if (bp->modules && bp->modules[i]) cb->d.ModuleUnload(bp->modules[i]);
    if (bp->params) free(bp->params[i]);
  }
  free(bp->modules);
  free(bp->params);
  free(bp->nparams);
  free(bp->fns);
  free(bp->block);
  free(bp->block_y);
  free(bp);
}

gmmc_status cuda_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                      BackendProgram **out, int *cached, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  BackendProgram *bp = xcalloc(1, sizeof *bp);
  if (!bp) return oom_status(err, "the CUDA program");
  size_t n = (size_t)p->nkernels + 1;
  bp->nfns = p->nkernels;
  bp->modules = xcalloc(n, sizeof(CUmodule));
  bp->fns = xcalloc(n, sizeof(CUfunction));
  bp->params = xcalloc(n, sizeof(int *));
  bp->nparams = xcalloc(n, sizeof(int));
  bp->block = xcalloc(n, sizeof(int));
  bp->block_y = xcalloc(n, sizeof(int));
  gmmc_status s = !bp->modules || !bp->fns || !bp->params || !bp->nparams || !bp->block || !bp->block_y
                      ? oom_status(err, "the CUDA program's kernel table")
                      : load_kernels(cb, bp, p, mask, stand_in, 1, cached, err);
  if (s) {
    free_program(cb, bp);
    return s;
  }
  *out = bp;
  return GMMC_OK;
}

gmmc_status cuda_load_more(Backend *be, BackendProgram *bp, const Program *p, const unsigned char *mask, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  /* wait for the background only for a kernel it compiles */
  int wait = 0;
  for (int i = 0; bp->bg && i < bp->bg->n; i++) wait |= !mask || mask[bp->bg->list[i]];
  gmmc_status s = wait ? join_background(cb, bp, 1, err) : GMMC_OK;
  int cached;
  return s ? s : load_kernels(cb, bp, p, mask, NULL, 0, &cached, err);
}

int cuda_pending(Backend *be, BackendProgram *bp) {
  (void)be;
  if (!bp->bg) return 0;
  pthread_mutex_lock(&bp->bg_lock);
  int done = bp->bg_done;
  pthread_mutex_unlock(&bp->bg_lock);
  return !done;
}

void cuda_unload(Backend *be, BackendProgram *bp) {
  if (bp) free_program((CudaBackend *)be, bp);
}

#else
typedef int gmmc_no_cuda_load; /* built without cuda.h: nothing here (ISO C wants a declaration) */
#endif
