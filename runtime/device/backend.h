/* A backend runs a compiled program's kernels on one kind of hardware: the
 * host (ORC-JIT code on a thread pool) or a CUDA GPU (PTX through the driver
 * API). The EM driver sees only this interface. Pointers returned by alloc
 * are device addresses (host addresses on the host backend). */
#ifndef GMMC_BACKEND_H
#define GMMC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "compiler/loopir.h"
#include "gmmc/gmmc.h"
#include "oom.h"

typedef struct Backend Backend;
typedef struct BackendProgram BackendProgram; /* a program's code loaded on a backend */

/* A copy of device memory into host memory of host_alloc's that a joined
 * graph makes once its member `after` has run (graph_join). */
typedef struct {
  int after;
  const void *src;
  void *dst;
  size_t bytes;
} BackendCopy;

typedef struct {
  const char *name; /* "host", "cuda" */
  /* Compiles (or takes from the on-disk cache, then *cached = 1) and loads
   * the kernels of p marked in mask (NULL: all of them). When some must be
   * compiled and `stand_in` is given (kernels that can run meanwhile, the
   * simple variants), a backend may load the stand-ins now and compile the
   * rest of mask in the background (pending; load_more waits for it). */
  gmmc_status (*load)(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                      BackendProgram **out, int *cached, char **err);
  /* Adds the kernels marked in mask to a loaded program (those already
   * loaded are skipped), after the background compile if one runs; NULL on
   * backends that always load everything. */
  gmmc_status (*load_more)(Backend *be, BackendProgram *bp, const Program *p, const unsigned char *mask, char **err);
  /* A background compile of bp is still running (NULL: never). */
  int (*pending)(Backend *be, BackendProgram *bp);
  void (*unload)(Backend *be, BackendProgram *bp);
  gmmc_status (*alloc)(Backend *be, size_t bytes, void **ptr, char **err);
  void (*release)(Backend *be, void *ptr);
  gmmc_status (*upload)(Backend *be, void *dst, const void *src, size_t bytes, char **err);
  gmmc_status (*download)(Backend *be, void *dst, const void *src, size_t bytes, char **err);
  gmmc_status (*fill_u32)(Backend *be, void *dst, uint32_t value, size_t count, char **err);
  /* Runs kernel k with the argument slots of codegen.h: an ITEMS kernel over
   * [0, count) (grid is NULL), a GRID kernel on grid[0..2] blocks. */
  gmmc_status (*launch)(Backend *be, BackendProgram *bp, int k, int64_t count, const int64_t *grid, uint64_t *args,
                        char **err);
  gmmc_status (*synchronize)(Backend *be, char **err);
  void (*destroy)(Backend *be);
  /* Optional (NULL on the host), used only where Backend.graphs is set:
   * launches between capture_begin and capture_end are recorded, not run,
   * into a graph that graph_launch replays with the arguments they had.
   * capture_end and capture_abort always leave capture mode; capture_end
   * fails (nothing to free) when the capture was invalidated. */
  gmmc_status (*capture_begin)(Backend *be, char **err);
  gmmc_status (*capture_end)(Backend *be, void **graph, char **err);
  void (*capture_abort)(Backend *be);
  gmmc_status (*graph_launch)(Backend *be, void *graph, char **err);
  void (*graph_destroy)(Backend *be, void *graph);
  /* Optional (NULL on the host): one graph holding graphs (captured ones)
   * as independent branches, launched and destroyed as the others; the
   * members are copied (they may be destroyed after). The ncopies copies
   * are part of it, each after its member's branch: after graph_launch and
   * synchronize their destinations hold what the members left. */
  gmmc_status (*graph_join)(Backend *be, void *const *graphs, int n, const BackendCopy *copies, int ncopies,
                            void **joined, char **err);
  /* Optional (NULL on the host): page-locked host memory, which graph_join's
   * copies may write (GMMC_ERR_OUT_OF_MEMORY when there is none left);
   * host_free releases it. */
  gmmc_status (*host_alloc)(Backend *be, size_t bytes, void **ptr, char **err);
  void (*host_free)(Backend *be, void *ptr);
  /* Optional (NULL on the host): device data of the caller's
   * (gmmc_data_wrap_device). The GPU ordinal that owns an address (fails
   * for an address that is not device memory); waiting for a stream of the
   * caller's (a CUstream) so that what it queued has been written; and
   * gathering rows x cols elements of esz bytes at src, element (i, j) at
   * src + (i * row_stride + j * col_stride) * esz, into row-major dst, on
   * the device. */
  gmmc_status (*pointer_device)(Backend *be, const void *ptr, int *ordinal, char **err);
  gmmc_status (*wait_stream)(Backend *be, void *stream, char **err);
  gmmc_status (*gather)(Backend *be, void *dst, const void *src, size_t esz, int64_t rows, int64_t cols,
                        int64_t row_stride, int64_t col_stride, char **err);
  /* Optional (NULL on CUDA): runs fn over [0, count) tasks spread over the
   * backend's threads, the kernels a task launches running on its thread
   * alone (gmmc_fit_many's fits side by side); task_threads says how many
   * threads there are. */
  void (*run_tasks)(Backend *be, int64_t count, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx);
  int (*task_threads)(Backend *be);
} BackendOps;

struct Backend {
  const BackendOps *ops;
  char *description;   /* for gmmc_context_device */
  int host_memory;     /* device pointers are host pointers (no copies needed) */
  size_t memory_bytes; /* device memory, 0 if unknown */
  char *cache_dir;     /* on-disk kernel cache (kcache.h), NULL when off */
  TargetDesc target;   /* the device's limits, for the lowering (compiler/target_desc.h) */
  int profile;         /* GMMC_PROFILE: print where compile/load time goes */
  int graphs;          /* the graph ops work here and GMMC_GRAPHS is not 0 (runtime/exec/graph.h) */
  int ordinal;         /* the GPU's device ordinal; -1 on the host */
};

typedef struct {
  int threads;           /* host: worker threads, 0 = one per CPU */
  const char *cache_dir; /* NULL: no on-disk kernel cache */
  int device;            /* CUDA: device ordinal */
  int profile;           /* Backend.profile */
  int no_graphs;         /* GMMC_GRAPHS=0: never capture CUDA graphs */
  const char *host_cpu;  /* host: NULL or "native", else an x86-64 level (compiler/host_cpu.h) */
} BackendConfig;

gmmc_status backend_host_create(const BackendConfig *cfg, Backend **out, char **err);
/* GMMC_ERR_NO_DEVICE when there is no driver or no GPU (message says which). */
gmmc_status backend_cuda_create(const BackendConfig *cfg, Backend **out, char **err);

#endif
