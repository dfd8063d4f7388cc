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
  CUmodule *modules; /* one per compile group; kernel i lives in modules[i % nmodules] */
  int nmodules;
  CUfunction *fns;
  int *block; /* threads per block: x * y for grid kernels */
  int *block_y;
  int nfns;
  int nslots; /* argument slots of every kernel */
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

/* Kernels are compiled in groups, one LLVM context and one driver link per
 * group, the groups in parallel threads: the cold compile of a program with
 * many variants takes a fraction of the serial time. */
typedef struct {
  CudaBackend *cb;
  const Program *p;
  TargetOptions topt;
  unsigned char *only;
  void *cubin;
  size_t size;
  gmmc_status status;
  char *err;
  CUcontext ctx;
  double llvm_ms, link_ms; /* for GMMC_PROFILE */
} Group;

static void *compile_group(void *arg) {
  Group *g = arg;
  g->cb->d.CtxSetCurrent(g->ctx);
  double t0 = monotonic_ms();
  char *ptx = target_emit_kernels(g->p, &g->topt, EMIT_ASM, g->only, &g->err);
  if (!ptx) {
    g->status = GMMC_ERR_COMPILE;
    return NULL;
  }
  double t1 = monotonic_ms();
  g->status = link_cubin(g->cb, ptx, &g->cubin, &g->size, &g->err);
  g->llvm_ms = t1 - t0;
  g->link_ms = monotonic_ms() - t1;
  free(ptx);
  return NULL;
}

/* One group per CPU, at most 16. (Fewer, fuller groups were tried: a
 * group of many small kernels compiled slower than the largest kernel alone,
 * doubling the cold compile, and loading fewer modules saved nothing on a
 * cache hit: the time goes with the bytes loaded, not the modules.) */
static int group_count(int nt) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int g = cpus > 0 ? (int)cpus : 1;
  if (g > 16) g = 16;
  if (g > nt) g = nt;
  return g < 1 ? 1 : g;
}

/* Kernels to groups, heaviest first onto the lightest group (by loop-IR
 * size): the cold compile takes as long as its slowest group, and a round
 * robin could pair the two largest kernels. Deterministic, so that a cached
 * set unpacks into the same groups. */
static int *assign_groups(const Program *p, const int *todo, int nt, int ng) {
  int *order = xcalloc((size_t)nt + 1, sizeof(int)), *grp = xcalloc((size_t)nt + 1, sizeof(int));
  int64_t *load = xcalloc((size_t)ng + 1, sizeof(int64_t));
  for (int i = 0; i < nt; i++) order[i] = i;
  for (int i = 1; i < nt; i++) /* insertion sort by weight, descending; ties by position */
    for (int j = i; j > 0 && p->kernels[todo[order[j]]]->weight > p->kernels[todo[order[j - 1]]]->weight; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  for (int i = 0; i < nt; i++) {
    int best = 0;
    for (int g = 1; g < ng; g++)
      if (load[g] < load[best]) best = g;
    grp[order[i]] = best;
    load[best] += p->kernels[todo[order[i]]]->weight + 1;
  }
  free(order);
  free(load);
  return grp;
}

/* The cache entry: the group count, then each group's cubin size and bytes. */
static void *pack_groups(Group *gs, int n, size_t *size) {
  size_t total = 4;
  for (int i = 0; i < n; i++) total += 8 + gs[i].size;
  char *b = xmalloc(total), *at = b;
  uint32_t cnt = (uint32_t)n;
  memcpy(at, &cnt, 4);
  at += 4;
  for (int i = 0; i < n; i++) {
    uint64_t sz = gs[i].size;
    memcpy(at, &sz, 8);
    memcpy(at + 8, gs[i].cubin, gs[i].size);
    at += 8 + gs[i].size;
  }
  *size = total;
  return b;
}

static int unpack_groups(const char *b, size_t size, Group *gs, int n) {
  uint32_t cnt;
  if (size < 4) return -1;
  memcpy(&cnt, b, 4);
  if ((int)cnt != n) return -1;
  size_t at = 4;
  for (int i = 0; i < n; i++) {
    uint64_t sz;
    if (at + 8 > size) return -1;
    memcpy(&sz, b + at, 8);
    if (sz > size - at - 8) return -1;
    gs[i].cubin = xmalloc((size_t)sz);
    memcpy(gs[i].cubin, b + at + 8, (size_t)sz);
    gs[i].size = (size_t)sz;
    at += 8 + (size_t)sz;
  }
  return at == size ? 0 : -1;
}

static void free_program(CudaBackend *cb, BackendProgram *bp) {
  for (int i = 0; i < bp->nmodules; i++)
    if (bp->modules[i]) cb->d.ModuleUnload(bp->modules[i]);
  free(bp->modules);
  free(bp->fns);
  free(bp->block);
  free(bp->block_y);
  free(bp);
}

/* The cubin cache's key of a set of kernels compiled in ng groups. */
static uint64_t set_key(CudaBackend *cb, const Program *p, int ptxv, const int *todo, int nt, int ng) {
  uint64_t set = FNV1A_INIT;
  for (int i = 0; i < nt; i++) set = fnv1a(set, &todo[i], sizeof(int));
  char target[128];
  snprintf(target, sizeof target, "%s+ptx%d+driver%d+lpt-groups%d+set%016llx", cb->arch, ptxv, cb->driver, ng,
           (unsigned long long)set);
  return kcache_key(p, target);
}

/* Compiles and loads the kernels of `want` that bp lacks, in parallel groups,
 * through the cubin cache (keyed by the program, the target and the set). */
static gmmc_status load_kernels(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *want,
                                int *cached, char **err) {
  Backend *be = &cb->base;
  int ptxv = ptx_version_for(cb);
  int *todo = xcalloc((size_t)p->nkernels + 1, sizeof(int)), nt = 0;
  for (int i = 0; i < p->nkernels; i++)
    if ((!want || want[i]) && !bp->fns[i]) todo[nt++] = i;
  *cached = 1;
  if (!nt) {
    free(todo);
    return GMMC_OK;
  }
  int ng = group_count(nt);
  double t_start = monotonic_ms();
  uint64_t key = set_key(cb, p, ptxv, todo, nt, ng);
  double t_key = monotonic_ms();
  char *blob = NULL;
  size_t size = 0;
  if (be->cache_dir) {
    blob = kcache_get(be->cache_dir, key, "cubin", &size);
    /* a subset missed: a wider set cached by an earlier run (every kernel
     * the program lacks, or every kernel of the program, as a first fit
     * compiles before its choices are known) serves it without compiling */
    for (int wide = 0; wide < 2 && !blob && (want || bp->nmodules); wide++) {
      int *all = xcalloc((size_t)p->nkernels + 1, sizeof(int)), na = 0;
      for (int i = 0; i < p->nkernels; i++)
        if (wide || !bp->fns[i]) all[na++] = i;
      int nga = group_count(na);
      uint64_t akey = set_key(cb, p, ptxv, all, na, nga);
      if (na > nt && (blob = kcache_get(be->cache_dir, akey, "cubin", &size))) {
        free(todo);
        todo = all, nt = na, ng = nga, key = akey;
      } else {
        free(all);
      }
    }
  }
  Group *gs = xcalloc((size_t)ng, sizeof(Group));
  for (int g = 0; g < ng; g++) {
    gs[g].cb = cb;
    gs[g].p = p;
    gs[g].topt = (TargetOptions){.kind = TARGET_NVPTX, .arch = cb->arch, .ptx_version = ptxv};
    gs[g].only = xcalloc((size_t)p->nkernels + 1, 1);
    gs[g].ctx = cb->ctx;
  }
  int *grp = assign_groups(p, todo, nt, ng);
  for (int i = 0; i < nt; i++) gs[grp[i]].only[todo[i]] = 1;
  *cached = blob && unpack_groups(blob, size, gs, ng) == 0;
  free(blob);
  double t_read = monotonic_ms();
  gmmc_status s = GMMC_OK;
  if (!*cached) {
    for (int g = 0; g < ng; g++) {
      free(gs[g].cubin);
      gs[g].cubin = NULL;
    }
    pthread_t *th = xcalloc((size_t)ng, sizeof(pthread_t));
    for (int g = 1; g < ng; g++)
      if (pthread_create(&th[g], NULL, compile_group, &gs[g]) != 0) compile_group(&gs[g]), th[g] = 0;
    compile_group(&gs[0]);
    for (int g = 1; g < ng; g++)
      if (th[g]) pthread_join(th[g], NULL);
    free(th);
    for (int g = 0; g < ng && !s; g++)
      if (gs[g].status) {
        s = gs[g].status;
        *err = gs[g].err;
        gs[g].err = NULL;
      }
    if (!s && be->cache_dir) {
      void *packed = pack_groups(gs, ng, &size);
      kcache_put(be->cache_dir, key, "cubin", packed, size);
      free(packed);
    }
  }
  double t_built = monotonic_ms();
  int first = bp->nmodules;
  bp->modules = xrealloc(bp->modules, sizeof(CUmodule) * (size_t)(bp->nmodules + ng));
  memset(bp->modules + first, 0, sizeof(CUmodule) * (size_t)ng);
  bp->nmodules += ng;
  char error_log[8192];
  for (int g = 0; g < ng && !s; g++) {
    error_log[0] = 0;
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {error_log, (void *)(uintptr_t)sizeof error_log};
    CUresult r = cb->d.ModuleLoadDataEx(&bp->modules[first + g], gs[g].cubin, 2, opts, vals);
    if (r != CUDA_SUCCESS) {
      char *m = cu_message(&cb->d, r, "cuModuleLoadDataEx");
      *err = xasprintf("%s%s%s", m, error_log[0] ? "\n" : "", error_log);
      free(m);
      s = GMMC_ERR_DEVICE;
    }
  }
  double t_loaded = monotonic_ms();
  for (int t = 0; t < nt && !s; t++) {
    int i = todo[t];
    /* a wider cached set served a subset: look up only what was asked for
     * and is not loaded yet (the rest stays unloaded, its set still cached) */
    if ((want && !want[i]) || bp->fns[i]) continue;
    const Kernel *kk = p->kernels[i];
    CUresult r = cb->d.ModuleGetFunction(&bp->fns[i], bp->modules[first + grp[t]], kk->name);
    bp->block[i] = kk->launch == LAUNCH_GRID ? kk->block[0] : kk->block_size;
    bp->block_y[i] = kk->launch == LAUNCH_GRID ? kk->block[1] : 1;
    if (r != CUDA_SUCCESS) {
      char *what = xasprintf("cuModuleGetFunction(%s)", kk->name);
      *err = cu_message(&cb->d, r, what);
      free(what);
      bp->fns[i] = NULL;
      s = GMMC_ERR_DEVICE;
    }
  }
  if (be->profile) {
    double llvm = 0, link = 0;
    for (int g = 0; g < ng; g++) {
      if (gs[g].llvm_ms > llvm) llvm = gs[g].llvm_ms;
      if (gs[g].link_ms > link) link = gs[g].link_ms;
    }
    fprintf(stderr,
            "gmmc profile: cuda: %d kernels in %d groups: key %.2f ms, cache read %.2f ms (%s), compile %.2f ms "
            "(slowest group: LLVM %.1f ms, driver link %.1f ms), %d module loads %.2f ms, functions %.2f ms\n",
            nt, ng, t_key - t_start, t_read - t_key, *cached ? "hit" : "miss", t_built - t_read, llvm, link, ng,
            t_loaded - t_built, monotonic_ms() - t_loaded);
  }
  for (int g = 0; g < ng; g++) {
    free(gs[g].only);
    free(gs[g].cubin);
    free(gs[g].err);
  }
  free(gs);
  free(grp);
  free(todo);
  return s;
}

static gmmc_status cuda_load(Backend *be, const Program *p, const unsigned char *mask, BackendProgram **out,
                             int *cached, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  BackendProgram *bp = xcalloc(1, sizeof *bp);
  bp->nfns = p->nkernels;
  bp->nslots = program_arg_slots(p);
  bp->fns = xcalloc((size_t)p->nkernels + 1, sizeof(CUfunction));
  bp->block = xcalloc((size_t)p->nkernels + 1, sizeof(int));
  bp->block_y = xcalloc((size_t)p->nkernels + 1, sizeof(int));
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
  /* every kernel takes every argument slot (codegen.h) */
  void *params[512];
  if (bp->nslots > 512) {
    *err = xasprintf("too many kernel arguments (%d)", bp->nslots);
    return GMMC_ERR_INTERNAL;
  }
  for (int i = 0; i < bp->nslots; i++) params[i] = &args[i];
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
