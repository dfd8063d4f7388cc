/* The CUDA backend's insides, shared by backend_cuda.c (the driver, memory,
 * launches) and cuda_load.c (compiling, caching and loading kernels). Only
 * where cuda.h was found at build time. */
#ifndef GMMC_CUDA_BACKEND_H
#define GMMC_CUDA_BACKEND_H

#include <cuda.h>
#include <pthread.h>

#include "backend.h"

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
  CUresult (*Memcpy2DAsync)(const CUDA_MEMCPY2D *, CUstream);
  CUresult (*PointerGetAttribute)(void *, CUpointer_attribute, CUdeviceptr);
  CUresult (*LinkCreate)(unsigned, CUjit_option *, void **, CUlinkState *);
  CUresult (*LinkAddData)(CUlinkState, CUjitInputType, void *, size_t, const char *, unsigned, CUjit_option *, void **);
  CUresult (*LinkComplete)(CUlinkState, void **, size_t *);
  CUresult (*LinkDestroy)(CUlinkState);
  CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned, CUjit_option *, void **);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                           void **, void **);
  CUresult (*GetErrorName)(CUresult, const char **);
  CUresult (*GetErrorString)(CUresult, const char **);
  /* optional (CUDA graphs): all NULL when the driver lacks any of them */
  CUresult (*StreamBeginCapture)(CUstream, CUstreamCaptureMode);
  CUresult (*StreamEndCapture)(CUstream, CUgraph *);
  CUresult (*GraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
  CUresult (*GraphLaunch)(CUgraphExec, CUstream);
  CUresult (*GraphExecDestroy)(CUgraphExec);
  CUresult (*GraphDestroy)(CUgraph);
  /* optional (graph_join): both NULL when the driver lacks either */
  CUresult (*GraphCreate)(CUgraph *, unsigned);
  CUresult (*GraphAddChildGraphNode)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, CUgraph);
  /* optional (graph_join's copies into host_alloc's memory): all NULL when
   * the driver lacks any of them or cannot join graphs */
  CUresult (*GraphAddMemcpyNode)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t, const CUDA_MEMCPY3D *, CUcontext);
  CUresult (*MemHostAlloc)(void **, size_t, unsigned);
  CUresult (*MemFreeHost)(void *);
} Driver;

typedef struct {
  Backend base;
  Driver d;
  CUdevice dev;
  CUcontext ctx;
  CUstream stream;
  int sm;             /* compute capability as 90 */
  int driver;         /* driver version as 12040 */
  char arch[16];      /* the PTX target, sm_XY */
  uint64_t code_salt; /* what every kernel's cache key shares (kcache_code_salt), found once */
  int capturing;      /* the stream is in capture mode: launches are recorded, not run */
  /* for GMMC_PROFILE: cuLaunchKernel calls that ran a kernel (not those a
   * capture recorded), cuGraphLaunch calls, graphs instantiated */
  long long launches, graph_launches, captures;
} CudaBackend;

typedef struct Load Load;
typedef struct BundleJob BundleJob;

struct BackendProgram {
  CUmodule *modules; /* per kernel: its own module, NULL until loaded */
  CUfunction *fns;
  int *block; /* threads per block: x * y for grid kernels */
  int *block_y;
  int **params; /* per kernel: the argument slots it takes (kernel_param_slots) */
  int *nparams;
  int nfns;
  /* kernels compiling in the background (cuda_load.c), NULL when none */
  Load *bg;
  pthread_t bg_thread;
  int bg_done; /* under bg_lock */
  pthread_mutex_t bg_lock;
  /* modules holding several kernels (cuda_bundle.h); their kernels have
   * modules[k] NULL */
  CUmodule *bundles;
  int nbundles;
  BundleJob *bundle_job; /* a bundle compiling in the background, or NULL */
};

/* "CALL failed: NAME (description)" for a driver error. */
char *cu_message(const Driver *d, CUresult r, const char *call);
/* The PTX ISA version to emit for this driver. */
int cuda_ptx_version(const CudaBackend *cb);

/* Links PTX text into a cubin (malloc'd), the driver's logs in *err on
 * failure (cuda_load.c). */
gmmc_status cuda_link_cubin(CudaBackend *cb, const char *ptx, void **cubin, size_t *size, char **err);
/* Binds kernel k of p to its function in module m: launch shape and
 * argument slots (cuda_load.c). On failure nothing of k stays bound. */
gmmc_status cuda_bind_kernel(CudaBackend *cb, BackendProgram *bp, const Program *p, int k, CUmodule m, char **err);

/* The BackendOps that deal with code (cuda_load.c). */
gmmc_status cuda_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                      BackendProgram **out, int *cached, char **err);
gmmc_status cuda_load_more(Backend *be, BackendProgram *bp, const Program *p, const unsigned char *mask, char **err);
int cuda_pending(Backend *be, BackendProgram *bp);
void cuda_unload(Backend *be, BackendProgram *bp);

#endif
