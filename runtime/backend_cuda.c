/* The CUDA backend: libcuda.so.1 opened at run time (no link-time dependency
 * on the driver), PTX from the NVPTX target linked into a cubin with the
 * driver's JIT linker (its info and error logs go into our messages), the
 * cubin cached on disk (kcache.h), kernels launched on one stream. Every
 * driver call is checked and a failure names the call.
 *
 * Built only where cuda.h is found (its types); elsewhere the backend
 * reports that this gmmc has no CUDA support. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#ifndef GMMC_HAVE_CUDA_H

gmmc_status backend_cuda_create(const BackendConfig *cfg, Backend **out, char **err) {
  *err = xstrdup("this gmmc was built without CUDA support (cuda.h was not found at build time)");
  return GMMC_ERR_NO_DEVICE;
}

#else

#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include "../compiler/codegen.h"
#include "../compiler/target.h"
#include "kcache.h"

/* The driver entry points, resolved once per backend. */
typedef struct {
  void *lib;
  CUresult (*Init)(unsigned);
  CUresult (*DriverGetVersion)(int *);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*DeviceGetName)(char *, int, CUdevice);
  CUresult (*DeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
  CUresult (*DeviceTotalMem)(size_t *, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*DevicePrimaryCtxRelease)(CUdevice);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*StreamCreate)(CUstream *, unsigned);
  CUresult (*StreamDestroy)(CUstream);
  CUresult (*StreamSynchronize)(CUstream);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*MemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*LinkCreate)(unsigned, CUjit_option *, void **, CUlinkState *);
  CUresult (*LinkAddData)(CUlinkState, CUjitInputType, void *, size_t, const char *, unsigned, CUjit_option *,
                          void **);
  CUresult (*LinkComplete)(CUlinkState, void **, size_t *);
  CUresult (*LinkDestroy)(CUlinkState);
  CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned, CUjit_option *, void **);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           CUstream, void **, void **);
  CUresult (*GetErrorName)(CUresult, const char **);
  CUresult (*GetErrorString)(CUresult, const char **);
} Driver;

typedef struct {
  Backend base;
  Driver d;
  CUdevice dev;
  CUcontext ctx;
  CUstream stream;
  int sm;          /* compute capability as 90 */
  int driver;      /* driver version as 12040 */
  char arch[16];   /* the PTX target, sm_XY */
} CudaBackend;

struct BackendProgram {
  CUmodule *modules; /* per kernel: its own module, NULL until loaded */
  CUfunction *fns;
  int *block; /* threads per block: x * y for grid kernels */
  int *block_y;
  int **params; /* per kernel: the argument slots it takes (kernel_param_slots) */
  int *nparams;
  int nfns;
};

static char *cu_message(const Driver *d, CUresult r, const char *call) {
  const char *name = NULL, *text = NULL;
  if (d->GetErrorName) d->GetErrorName(r, &name);
  if (d->GetErrorString) d->GetErrorString(r, &text);
  return xasprintf("%s failed: %s (%s)", call, name ? name : "unknown error", text ? text : "no description");
}

#define CU_CHECK(cb, call, what)                                  \
  do {                                                            \
    CUresult r_ = (call);                                         \
    if (r_ != CUDA_SUCCESS) {                                     \
      *err = cu_message(&(cb)->d, r_, what);                      \
      return r_ == CUDA_ERROR_OUT_OF_MEMORY ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_DEVICE; \
    }                                                             \
  } while (0)

static int resolve(Driver *d, char **err) {
  d->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d->lib) {
    const char *why = dlerror();
    *err = xasprintf("no CUDA driver: %s", why ? why : "libcuda.so.1 not found");
    return -1;
  }
  struct {
    void **slot;
    const char *name;
  } table[] = {
      {(void **)&d->Init, "cuInit"},
      {(void **)&d->DriverGetVersion, "cuDriverGetVersion"},
      {(void **)&d->DeviceGetCount, "cuDeviceGetCount"},
      {(void **)&d->DeviceGet, "cuDeviceGet"},
      {(void **)&d->DeviceGetName, "cuDeviceGetName"},
      {(void **)&d->DeviceGetAttribute, "cuDeviceGetAttribute"},
      {(void **)&d->DeviceTotalMem, "cuDeviceTotalMem_v2"},
      {(void **)&d->DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
      {(void **)&d->DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
      {(void **)&d->CtxSetCurrent, "cuCtxSetCurrent"},
      {(void **)&d->StreamCreate, "cuStreamCreate"},
      {(void **)&d->StreamDestroy, "cuStreamDestroy_v2"},
      {(void **)&d->StreamSynchronize, "cuStreamSynchronize"},
      {(void **)&d->MemAlloc, "cuMemAlloc_v2"},
      {(void **)&d->MemFree, "cuMemFree_v2"},
      {(void **)&d->MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
      {(void **)&d->MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
      {(void **)&d->MemsetD32Async, "cuMemsetD32Async"},
      {(void **)&d->LinkCreate, "cuLinkCreate_v2"},
      {(void **)&d->LinkAddData, "cuLinkAddData_v2"},
      {(void **)&d->LinkComplete, "cuLinkComplete"},
      {(void **)&d->LinkDestroy, "cuLinkDestroy"},
      {(void **)&d->ModuleLoadDataEx, "cuModuleLoadDataEx"},
      {(void **)&d->ModuleUnload, "cuModuleUnload"},
      {(void **)&d->ModuleGetFunction, "cuModuleGetFunction"},
      {(void **)&d->LaunchKernel, "cuLaunchKernel"},
      {(void **)&d->GetErrorName, "cuGetErrorName"},
      {(void **)&d->GetErrorString, "cuGetErrorString"},
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
    *table[i].slot = dlsym(d->lib, table[i].name);
    if (!*table[i].slot) {
      *err = xasprintf("the CUDA driver lacks %s (too old a driver?)", table[i].name);
      dlclose(d->lib);
      d->lib = NULL;
      return -1;
    }
  }
  return 0;
}

/* The newest architecture LLVM 19's NVPTX backend knows; newer GPUs run
 * its PTX through the driver's JIT. */
static void pick_arch(CudaBackend *cb) {
  int sm = cb->sm > 90 ? 90 : cb->sm;
  snprintf(cb->arch, sizeof cb->arch, "sm_%d", sm);
}

/* PTX ISA versions the driver accepts: CUDA 12.x reads PTX 8.x. */
static int ptx_version_for(CudaBackend *cb) {
  int want = default_ptx_version(cb->arch);
  int major = cb->driver / 1000, minor = (cb->driver % 1000) / 10;
  int max = major >= 12 ? 80 + (minor < 5 ? minor : 5) : major == 11 ? 70 + (minor < 8 ? minor : 8) : 60;
  if (major >= 13) max = 85;
  return want <= max ? want : max;
}

static gmmc_status link_cubin(CudaBackend *cb, const char *ptx, void **cubin, size_t *size, char **err) {
  char *info = xcalloc(1, 16384), *error_log = xcalloc(1, 16384);
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
    r = cb->d.LinkAddData(state, CU_JIT_INPUT_PTX, (void *)ptx, strlen(ptx) + 1, "gmmc.ptx", 0, NULL, NULL);
    void *image = NULL;
    if (r == CUDA_SUCCESS) r = cb->d.LinkComplete(state, &image, size);
    if (r != CUDA_SUCCESS) {
      char *m = cu_message(&cb->d, r, "linking the generated PTX");
      *err = xasprintf("%s\n%s%s", m, error_log, info);
      free(m);
      s = GMMC_ERR_DEVICE;
    } else {
      /* the image belongs to the link state: copy it out */
      *cubin = xmalloc(*size);
      memcpy(*cubin, image, *size);
    }
    cb->d.LinkDestroy(state);
  }
  free(info);
  free(error_log);
  return s;
}

/* Every kernel is compiled alone (its own LLVM context and driver link) and
 * cached alone, under the digest of what its code depends on
 * (kernel_code_digest): any set of kernels — every variant for tuning, the
 * tuned few, the same kernel in a program lowered with fewer variants — is
 * served from the cache kernel by kernel. Cold, the kernels are spread over
 * threads heaviest first (the compile takes as long as its slowest kernel;
 * per-kernel LLVM setup measured nothing against compiling kernels
 * together). A cache hit reads and loads its modules on this thread: on
 * an H200 host, 2, 4 and 8 threads loaded 21 modules no faster than one
 * (1.4-2.1 ms) or slower (up to 3.2 ms): the driver serializes them. */

/* Runs fn(arg, i) for every i in [0, n) on up to `threads` threads, this
 * one included, each with the backend's context current. */
typedef struct {
  CudaBackend *cb;
  void (*fn)(void *arg, int i);
  void *arg;
  int n, next;
  pthread_mutex_t lock;
} ParallelFor;

static void *parallel_worker(void *v) {
  ParallelFor *pf = v;
  pf->cb->d.CtxSetCurrent(pf->cb->ctx);
  for (;;) {
    pthread_mutex_lock(&pf->lock);
    int i = pf->next++;
    pthread_mutex_unlock(&pf->lock);
    if (i >= pf->n) return NULL;
    pf->fn(pf->arg, i);
  }
}

static void parallel_for(CudaBackend *cb, int n, int threads, void (*fn)(void *, int), void *arg) {
  ParallelFor pf = {.cb = cb, .fn = fn, .arg = arg, .n = n};
  pthread_mutex_init(&pf.lock, NULL);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0 && threads > cpus) threads = (int)cpus;
  if (threads > n) threads = n;
  pthread_t th[16];
  int started[16] = {0};
  if (threads > 16) threads = 16;
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&th[t], NULL, parallel_worker, &pf) == 0;
  parallel_worker(&pf);
  for (int t = 1; t < threads; t++)
    if (started[t]) pthread_join(th[t], NULL);
  pthread_mutex_destroy(&pf.lock);
}

/* What the kernels of one load_kernels call share; per-kernel slots are
 * indexed by kernel, so that threads never write the same one. */
typedef struct {
  CudaBackend *cb;
  BackendProgram *bp;
  const Program *p;
  const int *list;  /* kernels this phase works on */
  char target[128]; /* the cache key's target part */
  TargetOptions topt;
  uint64_t *key;
  void **cubin;
  size_t *size;
  gmmc_status *status;
  char **err;
  double *llvm_ms, *link_ms;
  double key_ms, read_ms, module_ms; /* cache hits, for GMMC_PROFILE */
} Load;

static gmmc_status load_module(Load *l, int k) {
  CudaBackend *cb = l->cb;
  BackendProgram *bp = l->bp;
  const Kernel *kk = l->p->kernels[k];
  char error_log[8192] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {error_log, (void *)(uintptr_t)sizeof error_log};
  CUresult r = cb->d.ModuleLoadDataEx(&bp->modules[k], l->cubin[k], 2, opts, vals);
  if (r != CUDA_SUCCESS) {
    char *m = cu_message(&cb->d, r, "cuModuleLoadDataEx");
    l->err[k] = xasprintf("%s (kernel %s)%s%s", m, kk->name, error_log[0] ? "\n" : "", error_log);
    free(m);
    bp->modules[k] = NULL;
    return GMMC_ERR_DEVICE;
  }
  r = cb->d.ModuleGetFunction(&bp->fns[k], bp->modules[k], kk->name);
  if (r != CUDA_SUCCESS) {
    char *what = xasprintf("cuModuleGetFunction(%s)", kk->name);
    l->err[k] = cu_message(&cb->d, r, what);
    free(what);
    bp->fns[k] = NULL;
    return GMMC_ERR_DEVICE;
  }
  bp->block[k] = kk->launch == LAUNCH_GRID ? kk->block[0] : kk->block_size;
  bp->block_y[k] = kk->launch == LAUNCH_GRID ? kk->block[1] : 1;
  bp->params[k] = xcalloc((size_t)program_arg_slots(l->p) + 1, sizeof(int));
  bp->nparams[k] = kernel_param_slots(l->p, kk, bp->params[k]);
  return GMMC_OK;
}

/* Phase 1, per kernel: its key, its cubin from the cache, its module. */
static void fetch_one(Load *l, int k) {
  double t0 = monotonic_ms();
  l->key[k] = kcache_code_key(kernel_code_digest(l->p, l->p->kernels[k]), l->target);
  const char *dir = l->cb->base.cache_dir;
  double t1 = monotonic_ms();
  l->cubin[k] = dir ? kcache_get(dir, l->key[k], "cubin", &l->size[k]) : NULL;
  double t2 = monotonic_ms();
  if (l->cubin[k]) l->status[k] = load_module(l, k);
  l->key_ms += t1 - t0;
  l->read_ms += t2 - t1;
  l->module_ms += monotonic_ms() - t2;
}

/* Phase 2, per kernel missing from the cache: PTX, cubin, cache entry, module. */
static void compile_one(void *arg, int i) {
  Load *l = arg;
  int k = l->list[i];
  unsigned char *only = xcalloc((size_t)l->p->nkernels + 1, 1);
  only[k] = 1;
  double t0 = monotonic_ms();
  char *ptx = target_emit_kernels(l->p, &l->topt, EMIT_ASM, only, &l->err[k]);
  double t1 = monotonic_ms();
  free(only);
  l->status[k] = ptx ? link_cubin(l->cb, ptx, &l->cubin[k], &l->size[k], &l->err[k]) : GMMC_ERR_COMPILE;
  l->llvm_ms[k] = t1 - t0;
  l->link_ms[k] = monotonic_ms() - t1;
  free(ptx);
  if (l->status[k]) return;
  if (l->cb->base.cache_dir) kcache_put(l->cb->base.cache_dir, l->key[k], "cubin", l->cubin[k], l->size[k]);
  l->status[k] = load_module(l, k);
}

static void free_program(CudaBackend *cb, BackendProgram *bp) {
  for (int i = 0; i < bp->nfns; i++) {
    if (bp->modules[i]) cb->d.ModuleUnload(bp->modules[i]);
    free(bp->params[i]);
  }
  free(bp->modules);
  free(bp->params);
  free(bp->nparams);
  free(bp->fns);
  free(bp->block);
  free(bp->block_y);
  free(bp);
}

/* Loads the kernels of `want` (NULL: all) that bp lacks: from the cache,
 * else compiled (then cached). */
static gmmc_status load_kernels(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *want,
                                int *cached, char **err) {
  int nk = p->nkernels;
  size_t n1 = (size_t)nk + 1;
  double t_start = monotonic_ms();
  Load l = {.cb = cb, .bp = bp, .p = p};
  snprintf(l.target, sizeof l.target, "cuda %s+ptx%d+driver%d", cb->arch, ptx_version_for(cb), cb->driver);
  l.topt = (TargetOptions){.kind = TARGET_NVPTX, .arch = cb->arch, .ptx_version = ptx_version_for(cb)};
  l.key = xcalloc(n1, sizeof(uint64_t));
  l.cubin = xcalloc(n1, sizeof(void *));
  l.size = xcalloc(n1, sizeof(size_t));
  l.status = xcalloc(n1, sizeof(gmmc_status));
  l.err = xcalloc(n1, sizeof(char *));
  l.llvm_ms = xcalloc(n1, sizeof(double));
  l.link_ms = xcalloc(n1, sizeof(double));
  int *todo = xcalloc(n1, sizeof(int)), *miss = xcalloc(n1, sizeof(int)), nt = 0, nm = 0;
  for (int i = 0; i < nk; i++)
    if ((!want || want[i]) && !bp->fns[i]) todo[nt++] = i;
  l.list = todo;
  for (int t = 0; t < nt; t++) {
    fetch_one(&l, todo[t]);
    if (!l.cubin[todo[t]]) miss[nm++] = todo[t];
  }
  *cached = nm == 0;
  double t_fetched = monotonic_ms();
  for (int i = 1; i < nm; i++) /* heaviest first: insertion sort by loop-IR size */
    for (int j = i; j > 0 && p->kernels[miss[j]]->weight > p->kernels[miss[j - 1]]->weight; j--) {
      int t = miss[j];
      miss[j] = miss[j - 1];
      miss[j - 1] = t;
    }
  l.list = miss;
  parallel_for(cb, nm, 16, compile_one, &l);
  gmmc_status s = GMMC_OK;
  int slowest = -1;
  for (int t = 0; t < nt; t++) {
    int k = todo[t];
    if (l.status[k] && !s) {
      s = l.status[k];
      *err = xasprintf("kernel %s: %s", p->kernels[k]->name, l.err[k] ? l.err[k] : "compilation failed");
    }
    if (l.llvm_ms[k] + l.link_ms[k] > 0 && (slowest < 0 || l.llvm_ms[k] + l.link_ms[k] > l.llvm_ms[slowest] + l.link_ms[slowest]))
      slowest = k;
  }
  if (cb->base.profile && nt)
    fprintf(stderr,
            "gmmc profile: cuda: %d kernels: %d from the cache %.2f ms (keys %.2f, reads %.2f, module loads %.2f), "
            "%d compiled and loaded %.2f ms (slowest kernel: LLVM %.1f ms, driver link %.1f ms)\n",
            nt, nt - nm, t_fetched - t_start, l.key_ms, l.read_ms, l.module_ms, nm, monotonic_ms() - t_fetched,
            slowest < 0 ? 0 : l.llvm_ms[slowest], slowest < 0 ? 0 : l.link_ms[slowest]);
  for (int i = 0; i < nk; i++) {
    free(l.cubin[i]);
    free(l.err[i]);
  }
  free(l.key);
  free(l.cubin);
  free(l.size);
  free(l.status);
  free(l.err);
  free(l.llvm_ms);
  free(l.link_ms);
  free(todo);
  free(miss);
  return s;
}

static gmmc_status cuda_load(Backend *be, const Program *p, const unsigned char *mask, BackendProgram **out,
                             int *cached, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  BackendProgram *bp = xcalloc(1, sizeof *bp);
  size_t n = (size_t)p->nkernels + 1;
  bp->nfns = p->nkernels;
  bp->modules = xcalloc(n, sizeof(CUmodule));
  bp->fns = xcalloc(n, sizeof(CUfunction));
  bp->params = xcalloc(n, sizeof(int *));
  bp->nparams = xcalloc(n, sizeof(int));
  bp->block = xcalloc(n, sizeof(int));
  bp->block_y = xcalloc(n, sizeof(int));
  gmmc_status s = load_kernels(cb, bp, p, mask, cached, err);
  if (s) {
    free_program(cb, bp);
    return s;
  }
  *out = bp;
  return GMMC_OK;
}

static gmmc_status cuda_load_more(Backend *be, BackendProgram *bp, const Program *p, const unsigned char *mask,
                                  char **err) {
  int cached;
  return load_kernels((CudaBackend *)be, bp, p, mask, &cached, err);
}

static void cuda_unload(Backend *be, BackendProgram *bp) {
  if (bp) free_program((CudaBackend *)be, bp);
}

static gmmc_status cuda_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CUdeviceptr d;
  CUresult r = cb->d.MemAlloc(&d, bytes ? bytes : 8);
  if (r != CUDA_SUCCESS) {
    char *what = xasprintf("cuMemAlloc(%zu bytes)", bytes);
    *err = cu_message(&cb->d, r, what);
    free(what);
    return r == CUDA_ERROR_OUT_OF_MEMORY ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_DEVICE;
  }
  *ptr = (void *)(uintptr_t)d;
  return GMMC_OK;
}

static void cuda_release(Backend *be, void *ptr) {
  CudaBackend *cb = (CudaBackend *)be;
  if (ptr) cb->d.MemFree((CUdeviceptr)(uintptr_t)ptr);
}

static gmmc_status cuda_upload(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (!bytes) return GMMC_OK;
  CU_CHECK(cb, cb->d.MemcpyHtoDAsync((CUdeviceptr)(uintptr_t)dst, src, bytes, cb->stream), "cuMemcpyHtoDAsync");
  /* the source may be freed when we return */
  CU_CHECK(cb, cb->d.StreamSynchronize(cb->stream), "cuStreamSynchronize");
  return GMMC_OK;
}

static gmmc_status cuda_download(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (!bytes) return GMMC_OK;
  CU_CHECK(cb, cb->d.MemcpyDtoHAsync(dst, (CUdeviceptr)(uintptr_t)src, bytes, cb->stream), "cuMemcpyDtoHAsync");
  CU_CHECK(cb, cb->d.StreamSynchronize(cb->stream), "cuStreamSynchronize (a kernel may have failed)");
  return GMMC_OK;
}

static gmmc_status cuda_fill_u32(Backend *be, void *dst, uint32_t value, size_t count, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CU_CHECK(cb, cb->d.MemsetD32Async((CUdeviceptr)(uintptr_t)dst, value, count, cb->stream), "cuMemsetD32Async");
  return GMMC_OK;
}

static gmmc_status cuda_launch(Backend *be, BackendProgram *bp, int k, int64_t count, const int64_t *gdims,
                               uint64_t *args, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (!bp->fns[k]) {
    *err = xasprintf("internal error: kernel %d was not compiled for this launch", k);
    return GMMC_ERR_INTERNAL;
  }
  int block = bp->block[k], block_y = bp->block_y[k];
  int64_t grid = gdims ? gdims[0] : (count + block - 1) / block, grid_y = gdims ? gdims[1] : 1,
          grid_z = gdims ? gdims[2] : 1;
  if (grid > 0x7fffffff || grid_y > 65535 || grid_z > 65535) {
    *err = xasprintf("kernel %d: a grid of %lld x %lld x %lld blocks exceeds the device's limits", k, (long long)grid,
                     (long long)grid_y, (long long)grid_z);
    return GMMC_ERR_DEVICE;
  }
  if (grid <= 0 || grid_y <= 0 || grid_z <= 0) return GMMC_OK;
  /* the slots this kernel takes (codegen.h) */
  void *params[512];
  if (bp->nparams[k] > 512) {
    *err = xasprintf("too many kernel arguments (%d)", bp->nparams[k]);
    return GMMC_ERR_INTERNAL;
  }
  for (int i = 0; i < bp->nparams[k]; i++) params[i] = &args[bp->params[k][i]];
  CUresult r = cb->d.LaunchKernel(bp->fns[k], (unsigned)grid, (unsigned)grid_y, (unsigned)grid_z, (unsigned)block,
                                  (unsigned)block_y, 1, 0, cb->stream, params, NULL);
  if (r != CUDA_SUCCESS) {
    char *what = xasprintf("cuLaunchKernel(kernel %d, %lld blocks of %d)", k, (long long)grid, block);
    *err = cu_message(&cb->d, r, what);
    free(what);
    return GMMC_ERR_DEVICE;
  }
  return GMMC_OK;
}

static gmmc_status cuda_sync(Backend *be, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CU_CHECK(cb, cb->d.StreamSynchronize(cb->stream), "cuStreamSynchronize");
  return GMMC_OK;
}

static void cuda_destroy(Backend *be) {
  CudaBackend *cb = (CudaBackend *)be;
  if (cb->stream) cb->d.StreamDestroy(cb->stream);
  if (cb->ctx) cb->d.DevicePrimaryCtxRelease(cb->dev);
  /* the driver library stays loaded: unloading libcuda is not supported */
  free(be->description);
  free(be->cache_dir);
  free(cb);
}

static const BackendOps cuda_ops = {
    .name = "cuda",
    .load = cuda_load,
    .load_more = cuda_load_more,
    .unload = cuda_unload,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .fill_u32 = cuda_fill_u32,
    .launch = cuda_launch,
    .synchronize = cuda_sync,
    .destroy = cuda_destroy,
};

gmmc_status backend_cuda_create(const BackendConfig *cfg, Backend **out, char **err) {
  CudaBackend *cb = xcalloc(1, sizeof *cb);
  if (resolve(&cb->d, err)) {
    free(cb);
    return GMMC_ERR_NO_DEVICE;
  }
  CUresult r = cb->d.Init(0);
  int count = 0;
  if (r == CUDA_SUCCESS) r = cb->d.DeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    *err = r != CUDA_SUCCESS ? cu_message(&cb->d, r, "no usable GPU: cuInit") : xstrdup("no GPU: the CUDA driver sees no device");
    free(cb);
    return GMMC_ERR_NO_DEVICE;
  }
  int ordinal = cfg && cfg->device >= 0 ? cfg->device : 0;
  if (ordinal >= count) {
    *err = xasprintf("GPU %d requested but the driver sees %d", ordinal, count);
    free(cb);
    return GMMC_ERR_NO_DEVICE;
  }
  char name[256] = "GPU";
  int major = 0, minor = 0;
  size_t mem = 0;
  gmmc_status s = GMMC_OK;
#define TRY(call, what)                          \
  if (!s && (r = (call)) != CUDA_SUCCESS) {      \
    *err = cu_message(&cb->d, r, what);          \
    s = GMMC_ERR_DEVICE;                         \
  }
  TRY(cb->d.DeviceGet(&cb->dev, ordinal), "cuDeviceGet");
  TRY(cb->d.DeviceGetName(name, sizeof name, cb->dev), "cuDeviceGetName");
  TRY(cb->d.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cb->dev), "cuDeviceGetAttribute");
  TRY(cb->d.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cb->dev), "cuDeviceGetAttribute");
  TRY(cb->d.DeviceTotalMem(&mem, cb->dev), "cuDeviceTotalMem");
  TRY(cb->d.DeviceGetAttribute(&cb->base.sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, cb->dev),
      "cuDeviceGetAttribute(multiprocessors)");
  TRY(cb->d.DriverGetVersion(&cb->driver), "cuDriverGetVersion");
  TRY(cb->d.DevicePrimaryCtxRetain(&cb->ctx, cb->dev), "cuDevicePrimaryCtxRetain");
  TRY(cb->d.CtxSetCurrent(cb->ctx), "cuCtxSetCurrent");
  TRY(cb->d.StreamCreate(&cb->stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
#undef TRY
  if (s) {
    if (cb->ctx) cb->d.DevicePrimaryCtxRelease(cb->dev);
    free(cb);
    return s;
  }
  cb->sm = major * 10 + minor;
  pick_arch(cb);
  llvm_init_once();
  cb->base.ops = &cuda_ops;
  cb->base.memory_bytes = mem;
  cb->base.cache_dir = cfg && cfg->cache_dir ? xstrdup(cfg->cache_dir) : NULL;
  cb->base.profile = cfg && cfg->profile;
  cb->base.description = xasprintf("%s (sm_%d, %.0f GiB, driver %d.%d; code for %s)", name, cb->sm,
                                   (double)mem / (1 << 30), cb->driver / 1000, (cb->driver % 1000) / 10, cb->arch);
  *out = &cb->base;
  return GMMC_OK;
}

#endif
