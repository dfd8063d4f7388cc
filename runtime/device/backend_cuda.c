/* The CUDA backend: libcuda.so.1 opened at run time (no link-time dependency
 * on the driver), PTX from the NVPTX target linked into a cubin with the
 * driver's JIT linker (its info and error logs go into our messages), the
 * cubin cached on disk (kcache.h), kernels launched on one stream. Every
 * driver call is checked and a failure names the call.
 *
 * Out of memory never aborts: a failed allocation is GMMC_ERR_OUT_OF_MEMORY
 * naming it (oom.h); one for an error message only leaves that message NULL
 * and the status the driver's. In a GMMC_FAULT_INJECTION build every driver
 * call the runtime checks goes through a wrapper that fails it when
 * fault_hit(FAULT_DRIVER, "cuName") says so (see inject_faults).
 *
 * Built only where cuda.h is found (its types); elsewhere the backend
 * reports that this gmmc has no CUDA support. */
#include <stddef.h>
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

#include <dlfcn.h>

#include "compiler/target.h"
#include "cuda_backend.h"
#include "kcache.h"

/* NULL when out of memory: a message only, the caller's status stands. */
char *cu_message(const Driver *d, CUresult r, const char *call) {
  const char *name = NULL, *text = NULL;
  if (d->GetErrorName) d->GetErrorName(r, &name);
  if (d->GetErrorString) d->GetErrorString(r, &text);
  return xasprintf("%s failed: %s (%s)", call, name ? name : "unknown error", text ? text : "no description");
}

#define CU_CHECK(cb, call, what)                                                                                       \
  do {                                                                                                                 \
    CUresult r_ = (call);                                                                                              \
    if (r_ != CUDA_SUCCESS) {                                                                                          \
      *err = cu_message(&(cb)->d, r_, what);                                                                           \
      return r_ == CUDA_ERROR_OUT_OF_MEMORY ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_DEVICE;                                \
    }                                                                                                                  \
  } while (0)

#ifdef GMMC_FAULT_INJECTION
/* Driver fault injection (dsl/fault.h): resolve() puts a wrapper in place of
 * each driver function the runtime checks; the wrapper counts the call under
 * its API name and, when it is the armed one, returns an error without
 * calling the driver: CUDA_ERROR_OUT_OF_MEMORY for cuMemAlloc and
 * cuMemHostAlloc, CUDA_ERROR_LAUNCH_FAILED for launches, CUDA_ERROR_UNKNOWN
 * otherwise. cuStreamEndCapture is the exception: it must leave capture
 * mode whatever happens, so a failed one does end the capture (its graph
 * destroyed) and reports CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, as an
 * invalidated capture does. Not wrapped: the calls that release something
 * (cuMemFree, cuMemFreeHost, cuStreamDestroy, cuModuleUnload, cuLinkDestroy,
 * cuGraphDestroy, cuGraphExecDestroy, cuDevicePrimaryCtxRelease), whose
 * result the runtime cannot act on (failing them without calling the driver
 * would only leak what they free), and cuGetErrorName/cuGetErrorString,
 * which only word messages. The driver's own entry points, the same for
 * every backend of the process (one libcuda), are kept in real_driver, set
 * once. */
static Driver real_driver;
static pthread_mutex_t real_lock = PTHREAD_MUTEX_INITIALIZER;
static int real_set;

#define FAULTY(field, name, failure, params, args)                                                                     \
  static CUresult faulty_##field params {                                                                              \
    if (fault_hit(FAULT_DRIVER, name)) return failure;                                                                 \
    return real_driver.field args;                                                                                     \
  }
FAULTY(Init, "cuInit", CUDA_ERROR_UNKNOWN, (unsigned a), (a))
FAULTY(DriverGetVersion, "cuDriverGetVersion", CUDA_ERROR_UNKNOWN, (int *a), (a))
FAULTY(DeviceGetCount, "cuDeviceGetCount", CUDA_ERROR_UNKNOWN, (int *a), (a))
FAULTY(DeviceGet, "cuDeviceGet", CUDA_ERROR_UNKNOWN, (CUdevice * a, int b), (a, b))
FAULTY(DeviceGetName, "cuDeviceGetName", CUDA_ERROR_UNKNOWN, (char *a, int b, CUdevice c), (a, b, c))
FAULTY(DeviceGetAttribute, "cuDeviceGetAttribute", CUDA_ERROR_UNKNOWN, (int *a, CUdevice_attribute b, CUdevice c),
       (a, b, c))
FAULTY(DeviceTotalMem, "cuDeviceTotalMem", CUDA_ERROR_UNKNOWN, (size_t *a, CUdevice b), (a, b))
FAULTY(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUDA_ERROR_UNKNOWN, (CUcontext * a, CUdevice b), (a, b))
FAULTY(CtxSetCurrent, "cuCtxSetCurrent", CUDA_ERROR_UNKNOWN, (CUcontext a), (a))
FAULTY(StreamCreate, "cuStreamCreate", CUDA_ERROR_UNKNOWN, (CUstream * a, unsigned b), (a, b))
FAULTY(StreamSynchronize, "cuStreamSynchronize", CUDA_ERROR_UNKNOWN, (CUstream a), (a))
FAULTY(MemAlloc, "cuMemAlloc", CUDA_ERROR_OUT_OF_MEMORY, (CUdeviceptr * a, size_t b), (a, b))
FAULTY(MemcpyHtoDAsync, "cuMemcpyHtoDAsync", CUDA_ERROR_UNKNOWN, (CUdeviceptr a, const void *b, size_t c, CUstream d),
       (a, b, c, d))
FAULTY(MemcpyDtoHAsync, "cuMemcpyDtoHAsync", CUDA_ERROR_UNKNOWN, (void *a, CUdeviceptr b, size_t c, CUstream d),
       (a, b, c, d))
FAULTY(MemsetD32Async, "cuMemsetD32Async", CUDA_ERROR_UNKNOWN, (CUdeviceptr a, unsigned b, size_t c, CUstream d),
       (a, b, c, d))
FAULTY(LinkCreate, "cuLinkCreate", CUDA_ERROR_UNKNOWN, (unsigned a, CUjit_option *b, void **c, CUlinkState *d),
       (a, b, c, d))
FAULTY(LinkAddData, "cuLinkAddData", CUDA_ERROR_UNKNOWN,
       (CUlinkState a, CUjitInputType b, void *c, size_t d, const char *e, unsigned f, CUjit_option *g, void **h),
       (a, b, c, d, e, f, g, h))
FAULTY(LinkComplete, "cuLinkComplete", CUDA_ERROR_UNKNOWN, (CUlinkState a, void **b, size_t *c), (a, b, c))
FAULTY(ModuleLoadDataEx, "cuModuleLoadDataEx", CUDA_ERROR_UNKNOWN,
       (CUmodule * a, const void *b, unsigned c, CUjit_option *d, void **e), (a, b, c, d, e))
FAULTY(ModuleGetFunction, "cuModuleGetFunction", CUDA_ERROR_UNKNOWN, (CUfunction * a, CUmodule b, const char *c),
       (a, b, c))
FAULTY(LaunchKernel, "cuLaunchKernel", CUDA_ERROR_LAUNCH_FAILED,
       (CUfunction a, unsigned b, unsigned c, unsigned d, unsigned e, unsigned f, unsigned g, unsigned h, CUstream i,
        void **j, void **k),
       (a, b, c, d, e, f, g, h, i, j, k))
FAULTY(StreamBeginCapture, "cuStreamBeginCapture", CUDA_ERROR_UNKNOWN, (CUstream a, CUstreamCaptureMode b), (a, b))
FAULTY(GraphInstantiate, "cuGraphInstantiate", CUDA_ERROR_UNKNOWN, (CUgraphExec * a, CUgraph b, unsigned long long c),
       (a, b, c))
FAULTY(GraphLaunch, "cuGraphLaunch", CUDA_ERROR_LAUNCH_FAILED, (CUgraphExec a, CUstream b), (a, b))
FAULTY(GraphCreate, "cuGraphCreate", CUDA_ERROR_OUT_OF_MEMORY, (CUgraph * a, unsigned b), (a, b))
FAULTY(GraphAddChildGraphNode, "cuGraphAddChildGraphNode", CUDA_ERROR_OUT_OF_MEMORY,
       (CUgraphNode * a, CUgraph b, const CUgraphNode *c, size_t d, CUgraph e), (a, b, c, d, e))
FAULTY(GraphAddMemcpyNode, "cuGraphAddMemcpyNode", CUDA_ERROR_OUT_OF_MEMORY,
       (CUgraphNode * a, CUgraph b, const CUgraphNode *c, size_t d, const CUDA_MEMCPY3D *e, CUcontext f),
       (a, b, c, d, e, f))
FAULTY(MemHostAlloc, "cuMemHostAlloc", CUDA_ERROR_OUT_OF_MEMORY, (void **a, size_t b, unsigned c), (a, b, c))
#undef FAULTY

static CUresult faulty_StreamEndCapture(CUstream stream, CUgraph *graph) {
  if (!fault_hit(FAULT_DRIVER, "cuStreamEndCapture")) return real_driver.StreamEndCapture(stream, graph);
  CUgraph g = NULL;
  real_driver.StreamEndCapture(stream, &g);
  if (g) real_driver.GraphDestroy(g);
  *graph = NULL;
  return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
}

static void inject_faults(Driver *d) {
  pthread_mutex_lock(&real_lock);
  if (!real_set) {
    real_driver = *d;
    real_set = 1;
  }
  pthread_mutex_unlock(&real_lock);
#define WRAP(field) d->field = faulty_##field
  WRAP(Init);
  WRAP(DriverGetVersion);
  WRAP(DeviceGetCount);
  WRAP(DeviceGet);
  WRAP(DeviceGetName);
  WRAP(DeviceGetAttribute);
  WRAP(DeviceTotalMem);
  WRAP(DevicePrimaryCtxRetain);
  WRAP(CtxSetCurrent);
  WRAP(StreamCreate);
  WRAP(StreamSynchronize);
  WRAP(MemAlloc);
  WRAP(MemcpyHtoDAsync);
  WRAP(MemcpyDtoHAsync);
  WRAP(MemsetD32Async);
  WRAP(LinkCreate);
  WRAP(LinkAddData);
  WRAP(LinkComplete);
  WRAP(ModuleLoadDataEx);
  WRAP(ModuleGetFunction);
  WRAP(LaunchKernel);
  if (d->GraphLaunch) { /* the optional ones: all or none resolved */
    WRAP(StreamBeginCapture);
    WRAP(StreamEndCapture);
    WRAP(GraphInstantiate);
    WRAP(GraphLaunch);
  }
  if (d->GraphCreate) {
    WRAP(GraphCreate);
    WRAP(GraphAddChildGraphNode);
  }
  if (d->GraphAddMemcpyNode) {
    WRAP(GraphAddMemcpyNode);
    WRAP(MemHostAlloc);
  }
#undef WRAP
}
#endif

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
      {(void **)&d->Memcpy2DAsync, "cuMemcpy2DAsync_v2"},
      {(void **)&d->PointerGetAttribute, "cuPointerGetAttribute"},
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
  /* graphs are optional: a driver without any of these runs without them */
  struct {
    void **slot;
    const char *name;
  } optional[] = {
      {(void **)&d->StreamBeginCapture, "cuStreamBeginCapture_v2"},
      {(void **)&d->StreamEndCapture, "cuStreamEndCapture"},
      {(void **)&d->GraphInstantiate, "cuGraphInstantiateWithFlags"},
      {(void **)&d->GraphLaunch, "cuGraphLaunch"},
      {(void **)&d->GraphExecDestroy, "cuGraphExecDestroy"},
      {(void **)&d->GraphDestroy, "cuGraphDestroy"},
  };
  size_t found = 0, n = sizeof optional / sizeof *optional;
  for (size_t i = 0; i < n; i++) found += (*optional[i].slot = dlsym(d->lib, optional[i].name)) != NULL;
  for (size_t i = 0; found < n && i < n; i++) *optional[i].slot = NULL;
  /* joining graphs (gmmc_fit_many's fits as branches of one graph): optional too */
  d->GraphCreate = d->GraphInstantiate ? (CUresult(*)(CUgraph *, unsigned))dlsym(d->lib, "cuGraphCreate") : NULL;
  d->GraphAddChildGraphNode = d->GraphCreate ? (CUresult(*)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                                                            CUgraph))dlsym(d->lib, "cuGraphAddChildGraphNode")
                                             : NULL;
  if (!d->GraphAddChildGraphNode) d->GraphCreate = NULL;
  /* and the copies a joined graph makes into page-locked host memory */
  struct {
    void **slot;
    const char *name;
  } copies[] = {
      {(void **)&d->GraphAddMemcpyNode, "cuGraphAddMemcpyNode"},
      {(void **)&d->MemHostAlloc, "cuMemHostAlloc"},
      {(void **)&d->MemFreeHost, "cuMemFreeHost"},
  };
  n = sizeof copies / sizeof *copies, found = 0;
  for (size_t i = 0; i < n; i++)
    found += (*copies[i].slot = d->GraphCreate ? dlsym(d->lib, copies[i].name) : NULL) != NULL;
  for (size_t i = 0; found < n && i < n; i++) *copies[i].slot = NULL;
#ifdef GMMC_FAULT_INJECTION
  inject_faults(d);
#endif
  return 0;
}

/* The newest architecture LLVM 19's NVPTX backend knows; newer GPUs run
 * its PTX through the driver's JIT. */
static void pick_arch(CudaBackend *cb) {
  int sm = cb->sm > 90 ? 90 : cb->sm;
  snprintf(cb->arch, sizeof cb->arch, "sm_%d", sm);
}

/* PTX ISA versions the driver accepts: CUDA 12.x reads PTX 8.x. */
int cuda_ptx_version(const CudaBackend *cb) {
  int want = default_ptx_version(cb->arch);
  int major = cb->driver / 1000, minor = (cb->driver % 1000) / 10;
  int max = major >= 12 ? 80 + (minor < 5 ? minor : 5) : major == 11 ? 70 + (minor < 8 ? minor : 8) : 60;
  if (major >= 13) max = 85;
  return want <= max ? want : max;
}

static gmmc_status cuda_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CUdeviceptr d;
  CUresult r = cb->d.MemAlloc(&d, bytes ? bytes : 8);
  if (r != CUDA_SUCCESS) {
    char what[64];
    snprintf(what, sizeof what, "cuMemAlloc(%zu bytes)", bytes);
    *err = cu_message(&cb->d, r, what);
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

static gmmc_status cuda_pointer_device(Backend *be, const void *ptr, int *ordinal, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  int ord = -1;
  CU_CHECK(cb, cb->d.PointerGetAttribute(&ord, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, (CUdeviceptr)(uintptr_t)ptr),
           "cuPointerGetAttribute(device ordinal): not an address of device memory");
  *ordinal = ord;
  return GMMC_OK;
}

static gmmc_status cuda_wait_stream(Backend *be, void *stream, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  /* the caller's stream, of the same primary context (PyTorch's and CuPy's are) */
  CU_CHECK(cb, cb->d.StreamSynchronize((CUstream)stream), "cuStreamSynchronize(the data's stream)");
  return GMMC_OK;
}

/* Rows with contiguous columns: one 2-D copy of pitch row_stride; else one
 * per column, its elements row_stride apart (a column-major array's are
 * adjacent). Device to device: the data never passes through the host. */
static gmmc_status cuda_gather(Backend *be, void *dst, const void *src, size_t esz, int64_t rows, int64_t cols,
                               int64_t row_stride, int64_t col_stride, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (rows <= 0) return GMMC_OK;
  int one = col_stride == 1;
  for (int64_t j = 0; j < (one ? 1 : cols); j++) {
    CUDA_MEMCPY2D c;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c.srcDevice = (CUdeviceptr)(uintptr_t)src + (CUdeviceptr)(j * col_stride) * esz;
    c.srcPitch = (size_t)row_stride * esz;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.dstDevice = (CUdeviceptr)(uintptr_t)dst + (CUdeviceptr)j * esz;
    c.dstPitch = (size_t)cols * esz;
    c.WidthInBytes = one ? (size_t)cols * esz : esz;
    c.Height = (size_t)rows;
    CU_CHECK(cb, cb->d.Memcpy2DAsync(&c, cb->stream), "cuMemcpy2DAsync(device data)");
  }
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
    char what[96];
    snprintf(what, sizeof what, "cuLaunchKernel(kernel %d, %lld blocks of %d)", k, (long long)grid, block);
    *err = cu_message(&cb->d, r, what);
    return GMMC_ERR_DEVICE;
  }
  if (!cb->capturing) cb->launches++;
  return GMMC_OK;
}

/* Graphs (runtime/exec/graph.c): the launches of a sequence captured on the
 * backend's stream. Thread-local mode: only this thread's calls are checked
 * against the capture, so the background compile's driver calls
 * (cuda_load.c) neither break it nor fail. */
static gmmc_status cuda_capture_begin(Backend *be, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CU_CHECK(cb, cb->d.StreamBeginCapture(cb->stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
  cb->capturing = 1;
  return GMMC_OK;
}

static void cuda_capture_abort(Backend *be) {
  CudaBackend *cb = (CudaBackend *)be;
  CUgraph g = NULL;
  /* ends the capture even when it was invalidated (then no graph comes) */
  cb->d.StreamEndCapture(cb->stream, &g);
  if (g) cb->d.GraphDestroy(g);
  cb->capturing = 0;
}

/* A graph of the backend: the instantiated one that is launched, and the
 * graph itself, kept for graph_join (which adds it as a child node). */
typedef struct {
  CUgraph g;
  CUgraphExec x;
} CudaGraph;

/* *out: g instantiated and kept with it, or an error (g destroyed either way on failure). */
static gmmc_status keep_graph(CudaBackend *cb, CUgraph g, CUresult r, const char *call, void **out, char **err) {
  CUgraphExec x = NULL;
  if (r == CUDA_SUCCESS) {
    call = "cuGraphInstantiate";
    r = cb->d.GraphInstantiate(&x, g, 0);
  }
  CudaGraph *cg = r == CUDA_SUCCESS ? xmalloc(sizeof *cg) : NULL;
  if (!cg) {
    if (x) cb->d.GraphExecDestroy(x);
    if (g) cb->d.GraphDestroy(g);
    if (r == CUDA_SUCCESS) {
      *err = xstrdup("out of memory: a CUDA graph's record");
      return GMMC_ERR_OUT_OF_MEMORY;
    }
    *err = cu_message(&cb->d, r, call);
    return r == CUDA_ERROR_OUT_OF_MEMORY ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_DEVICE;
  }
  cg->g = g;
  cg->x = x;
  cb->captures++;
  *out = cg;
  return GMMC_OK;
}

static gmmc_status cuda_capture_end(Backend *be, void **graph, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CUgraph g = NULL;
  CUresult r = cb->d.StreamEndCapture(cb->stream, &g);
  cb->capturing = 0;
  return keep_graph(cb, g, r, "cuStreamEndCapture", graph, err);
}

/* Graphs as the independent branches of one (child graph nodes without
 * dependencies): one launch runs them all, the GPU free to overlap them;
 * each branch followed by its copies (memcpy nodes that depend on it). */
static gmmc_status cuda_graph_join(Backend *be, void *const *graphs, int n, const BackendCopy *copies, int ncopies,
                                   void **out, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (!cb->d.GraphCreate || (ncopies > 0 && !cb->d.GraphAddMemcpyNode)) {
    *err = xstrdup(cb->d.GraphCreate ? "this CUDA driver cannot copy in a graph (no cuGraphAddMemcpyNode)"
                                     : "this CUDA driver cannot join graphs (no cuGraphAddChildGraphNode)");
    return GMMC_ERR_DEVICE;
  }
  CUgraph parent = NULL;
  const char *call = "cuGraphCreate";
  CUresult r = cb->d.GraphCreate(&parent, 0);
  for (int i = 0; i < n && r == CUDA_SUCCESS; i++) {
    CUgraphNode node, copy;
    call = "cuGraphAddChildGraphNode";
    r = cb->d.GraphAddChildGraphNode(&node, parent, NULL, 0, ((CudaGraph *)graphs[i])->g);
    for (int c = 0; c < ncopies && r == CUDA_SUCCESS; c++) {
      if (copies[c].after != i) continue;
      CUDA_MEMCPY3D p;
      memset(&p, 0, sizeof p);
      p.srcMemoryType = CU_MEMORYTYPE_DEVICE;
      p.srcDevice = (CUdeviceptr)(uintptr_t)copies[c].src;
      p.dstMemoryType = CU_MEMORYTYPE_HOST;
      p.dstHost = copies[c].dst;
      p.srcPitch = p.dstPitch = p.WidthInBytes = copies[c].bytes;
      p.srcHeight = p.dstHeight = p.Height = p.Depth = 1;
      call = "cuGraphAddMemcpyNode";
      r = cb->d.GraphAddMemcpyNode(&copy, parent, &node, 1, &p, cb->ctx);
    }
  }
  return keep_graph(cb, parent, r, call, out, err);
}

static gmmc_status cuda_host_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  if (!cb->d.MemHostAlloc) {
    *err = xstrdup("this CUDA driver cannot copy in a graph (no cuGraphAddMemcpyNode)");
    return GMMC_ERR_DEVICE;
  }
  CU_CHECK(cb, cb->d.MemHostAlloc(ptr, bytes ? bytes : 8, 0), "cuMemHostAlloc");
  return GMMC_OK;
}

static void cuda_host_free(Backend *be, void *ptr) {
  CudaBackend *cb = (CudaBackend *)be;
  if (ptr) cb->d.MemFreeHost(ptr);
}

static gmmc_status cuda_graph_launch(Backend *be, void *graph, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CU_CHECK(cb, cb->d.GraphLaunch(((CudaGraph *)graph)->x, cb->stream), "cuGraphLaunch");
  cb->graph_launches++;
  return GMMC_OK;
}

static void cuda_graph_destroy(Backend *be, void *graph) {
  CudaBackend *cb = (CudaBackend *)be;
  CudaGraph *cg = graph;
  if (!cg) return;
  if (cg->x) cb->d.GraphExecDestroy(cg->x);
  if (cg->g) cb->d.GraphDestroy(cg->g);
  free(cg);
}

static gmmc_status cuda_sync(Backend *be, char **err) {
  CudaBackend *cb = (CudaBackend *)be;
  CU_CHECK(cb, cb->d.StreamSynchronize(cb->stream), "cuStreamSynchronize");
  return GMMC_OK;
}

static void cuda_destroy(Backend *be) {
  CudaBackend *cb = (CudaBackend *)be;
  if (be->profile)
    fprintf(stderr, "gmmc profile: cuda: %lld kernel launches, %lld graph launches, %lld graph captures\n",
            cb->launches, cb->graph_launches, cb->captures);
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
    .pending = cuda_pending,
    .unload = cuda_unload,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .fill_u32 = cuda_fill_u32,
    .launch = cuda_launch,
    .synchronize = cuda_sync,
    .destroy = cuda_destroy,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .capture_abort = cuda_capture_abort,
    .graph_launch = cuda_graph_launch,
    .graph_destroy = cuda_graph_destroy,
    .graph_join = cuda_graph_join,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .pointer_device = cuda_pointer_device,
    .wait_stream = cuda_wait_stream,
    .gather = cuda_gather,
};

gmmc_status backend_cuda_create(const BackendConfig *cfg, Backend **out, char **err) {
  CudaBackend *cb = xcalloc(1, sizeof *cb);
  if (!cb) return oom_status(err, "the CUDA backend");
  if (resolve(&cb->d, err)) {
    free(cb);
    return GMMC_ERR_NO_DEVICE;
  }
  const char *call = "no usable GPU: cuInit";
  CUresult r = cb->d.Init(0);
  int count = 0;
  if (r == CUDA_SUCCESS) {
    call = "no usable GPU: cuDeviceGetCount";
    r = cb->d.DeviceGetCount(&count);
  }
  if (r != CUDA_SUCCESS || count == 0) {
    *err = r != CUDA_SUCCESS ? cu_message(&cb->d, r, call) : xstrdup("no GPU: the CUDA driver sees no device");
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
#define TRY(call, what)                                                                                                \
  if (!s && (r = (call)) != CUDA_SUCCESS) {                                                                            \
    *err = cu_message(&cb->d, r, what);                                                                                \
    s = GMMC_ERR_DEVICE;                                                                                               \
  }
  TRY(cb->d.DeviceGet(&cb->dev, ordinal), "cuDeviceGet");
  TRY(cb->d.DeviceGetName(name, sizeof name, cb->dev), "cuDeviceGetName");
  TRY(cb->d.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cb->dev), "cuDeviceGetAttribute");
  TRY(cb->d.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cb->dev), "cuDeviceGetAttribute");
  TRY(cb->d.DeviceTotalMem(&mem, cb->dev), "cuDeviceTotalMem");
  /* the target description the lowering specializes for (target_desc.h):
   * the driver's limits over the defaults, so that every field is defined */
  TargetDesc *t = &cb->base.target;
  *t = target_desc_gpu_default();
  static const struct {
    CUdevice_attribute attr;
    size_t field; /* offset in TargetDesc */
    const char *what;
  } limits[] = {
      {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, offsetof(TargetDesc, sm_count),
       "cuDeviceGetAttribute(multiprocessors)"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, offsetof(TargetDesc, smem_static_per_block),
       "cuDeviceGetAttribute(shared memory per block)"},
      {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, offsetof(TargetDesc, smem_per_sm),
       "cuDeviceGetAttribute(shared memory per multiprocessor)"},
      {CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK, offsetof(TargetDesc, smem_reserved_per_block),
       "cuDeviceGetAttribute(reserved shared memory per block)"},
      {CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, offsetof(TargetDesc, regs_per_sm),
       "cuDeviceGetAttribute(registers per multiprocessor)"},
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, offsetof(TargetDesc, max_threads_per_block),
       "cuDeviceGetAttribute(threads per block)"},
      {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, offsetof(TargetDesc, max_threads_per_sm),
       "cuDeviceGetAttribute(threads per multiprocessor)"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, offsetof(TargetDesc, max_grid), "cuDeviceGetAttribute(grid x)"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, offsetof(TargetDesc, max_grid) + sizeof(int),
       "cuDeviceGetAttribute(grid y)"},
      {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, offsetof(TargetDesc, max_grid) + 2 * sizeof(int),
       "cuDeviceGetAttribute(grid z)"},
      {CU_DEVICE_ATTRIBUTE_CLOCK_RATE, offsetof(TargetDesc, clock_khz), "cuDeviceGetAttribute(clock)"},
      {CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, offsetof(TargetDesc, mem_clock_khz),
       "cuDeviceGetAttribute(memory clock)"},
      {CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, offsetof(TargetDesc, mem_bus_bits),
       "cuDeviceGetAttribute(memory bus width)"},
  };
  for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
    TRY(cb->d.DeviceGetAttribute((int *)((char *)t + limits[i].field), limits[i].attr, cb->dev), limits[i].what);
  target_desc_set_cc(t, major, minor);
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
  char target[128];
  snprintf(target, sizeof target, "cuda %s+ptx%d+driver%d", cb->arch, cuda_ptx_version(cb), cb->driver);
  cb->code_salt = kcache_code_salt(target);
  llvm_init_once();
  cb->base.ops = &cuda_ops;
  cb->base.ordinal = ordinal;
  cb->base.memory_bytes = mem;
  cb->base.cache_dir = cfg && cfg->cache_dir ? xstrdup(cfg->cache_dir) : NULL;
  cb->base.graphs = cb->d.GraphLaunch && !(cfg && cfg->no_graphs);
  cb->base.description = xasprintf("%s (sm_%d, %.0f GiB, driver %d.%d; code for %s)", name, cb->sm,
                                   (double)mem / (1 << 30), cb->driver / 1000, (cb->driver % 1000) / 10, cb->arch);
  if (!cb->base.description || (cfg && cfg->cache_dir && !cb->base.cache_dir)) {
    gmmc_status oom = oom_status(err, "the CUDA backend's description");
    cuda_destroy(&cb->base); /* the stream, the context and what was copied */
    return oom;
  }
  cb->base.profile = cfg && cfg->profile;
  *out = &cb->base;
  return GMMC_OK;
}

#endif
