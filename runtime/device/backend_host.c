/* The host backend: kernels compiled by ORC LLJIT for the native CPU or a
 * level of it (host_cpu.h); the parallel loop of each kernel is split over
 * a thread pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/TargetMachine.h>

#include "backend.h"
#include "compiler/host_cpu.h"
#include "compiler/target.h"
#include "dsl/util.h"
#include "kcache.h"
#include "threadpool.h"

typedef struct {
  Backend base;
  ThreadPool *pool;
  HostCpu cpu; /* what the kernels are compiled for */
} HostBackend;

/* What host_jit_create takes: the level's name, NULL for the native CPU. */
static const char *jit_cpu(const HostBackend *h) { return h->cpu.level >= 0 ? h->cpu.name : NULL; }

struct BackendProgram {
  HostJit *jit;
  int64_t *grain; /* per kernel: items the pool hands out at least at a time */
  int nbufs;      /* the launch's n_local is args[nbufs] (exec.c) */
  /* GMMC_PROFILE: per kernel, its name, launches and time, printed at unload */
  int nkernels;
  char **names;
  double *ms;
  int64_t *launches;
};

typedef struct {
  HostKernelFn fn;
  uint64_t *args;
} HostLaunch;

static void run_range(void *ctx, int64_t lo, int64_t hi) {
  HostLaunch *l = ctx;
  l->fn(l->args, lo, hi);
}

/* Whether an expression or statement depends on the events held
 * (LX_NLOCAL): a kernel whose items do, and whose item count does not, has
 * items that each walk a range of the events (a chunk, a tile). */
static int x_nlocal(const LExpr *x) {
  if (!x) return 0;
  if (x->kind == LX_NLOCAL) return 1;
  if (x->kind == LX_LOAD) return 0; /* its indices: variables */
  return x_nlocal(x->a) || x_nlocal(x->b) || x_nlocal(x->c);
}

static int s_nlocal(const LStmt *s) {
  if (!s) return 0;
  for (int i = 0; s->kind == LS_BLOCK && i < s->nbody; i++)
    if (s_nlocal(s->body[i])) return 1;
  return x_nlocal(s->lo) || x_nlocal(s->hi) || x_nlocal(s->value) || x_nlocal(s->cond) || s_nlocal(s->then) ||
         s_nlocal(s->els);
}

static gmmc_status host_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                             BackendProgram **out, int *cached, char **err) {
  (void)mask, (void)stand_in; /* the host has one variant per unit: everything is compiled at once */
  HostBackend *h = (HostBackend *)be;
  /* the object file is cached per program and CPU (its name and features) */
  uint64_t key = 0;
  size_t size = 0;
  void *object = NULL;
  char *target = be->cache_dir ? xasprintf("host-object %s %s", h->cpu.name, h->cpu.features) : NULL;
  int use_cache = target != NULL; /* out of memory: compiled, uncached */
  if (use_cache) {
    key = kcache_key(p, target);
    free(target);
    object = kcache_get(be->cache_dir, key, "o", &size);
  }
  void *made = NULL;
  size_t made_size = 0;
  HostJit *j = object ? host_jit_create(p, jit_cpu(h), object, size, NULL, NULL, err) : NULL;
  *cached = j != NULL;
  if (!j) { /* no entry, or one that does not link: compile */
    free(*err);
    *err = NULL;
    j = host_jit_create(p, jit_cpu(h), NULL, 0, use_cache ? &made : NULL, &made_size, err);
  }
  free(object);
  if (!j) return *err ? GMMC_ERR_COMPILE : oom_status(err, "the host kernels");
  if (made) kcache_put(be->cache_dir, key, "o", made, made_size);
  free(made);
  BackendProgram *bp = xcalloc(1, sizeof *bp);
  if (!bp) {
    host_jit_free(j);
    return oom_status(err, "the host program");
  }
  bp->jit = j;
  bp->nbufs = p->nbufs;
  /* items that walk a range of the events are spread one at a time: a
   * kernel of 64 chunks of the events must not run on one thread; other
   * items go in chunks of 64 (pool_run: a small loop of them stays on the
   * calling thread) */
  bp->grain = xcalloc((size_t)p->nkernels + 1, sizeof *bp->grain);
  if (!bp->grain) {
    host_jit_free(j);
    free(bp);
    return oom_status(err, "the host program");
  }
  for (int k = 0; k < p->nkernels; k++)
    bp->grain[k] = !x_nlocal(p->kernels[k]->count) && s_nlocal(p->kernels[k]->body) ? 1 : 64;
  if (be->profile) { /* optional: no profile where this cannot be allocated */
    bp->names = xcalloc((size_t)p->nkernels, sizeof *bp->names);
    bp->ms = xcalloc((size_t)p->nkernels, sizeof *bp->ms);
    bp->launches = xcalloc((size_t)p->nkernels, sizeof *bp->launches);
    if (bp->names && bp->ms && bp->launches) {
      bp->nkernels = p->nkernels;
      for (int k = 0; k < p->nkernels; k++) bp->names[k] = xstrdup(p->kernels[k]->name);
    } else {
      free(bp->names), free(bp->ms), free(bp->launches);
      bp->names = NULL, bp->ms = NULL, bp->launches = NULL;
    }
  }
  *out = bp;
  return GMMC_OK;
}

static void host_unload(Backend *be, BackendProgram *bp) {
  if (!bp) return;
  for (int k = 0; k < bp->nkernels; k++) {
    if (bp->launches[k])
      fprintf(stderr, "gmmc profile: kernel %-40s %8lld launches %10.3f ms (%.3f ms each; grain %lld)\n",
              bp->names[k] ? bp->names[k] : "?", (long long)bp->launches[k], bp->ms[k], bp->ms[k] / bp->launches[k],
              (long long)bp->grain[k]);
    free(bp->names[k]);
  }
  free(bp->names);
  free(bp->ms);
  free(bp->launches);
  free(bp->grain);
  host_jit_free(bp->jit);
  free(bp);
}

static gmmc_status host_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  /* 64-byte alignment: the kernels assume 16, vector loads like 64 */
  size_t n = (bytes + 63) & ~(size_t)63;
  *ptr = xaligned_alloc(64, n ? n : 64);
  if (!*ptr) {
    *err = xasprintf("out of memory: cannot allocate %zu bytes of host memory", bytes);
    return GMMC_ERR_OUT_OF_MEMORY;
  }
  return GMMC_OK;
}

static void host_release(Backend *be, void *ptr) { free(ptr); }

static gmmc_status host_copy(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  if (bytes) memcpy(dst, src, bytes);
  return GMMC_OK;
}

static gmmc_status host_fill_u32(Backend *be, void *dst, uint32_t value, size_t count, char **err) {
  uint32_t *d = dst;
  for (size_t i = 0; i < count; i++) d[i] = value;
  return GMMC_OK;
}

/* Events from which a kernel whose items walk chunks of the events spreads
 * them over the threads (2^14: chunks of 256 events and more). */
enum { HOST_PARALLEL_EVENTS = 16384 };

static gmmc_status host_launch(Backend *be, BackendProgram *bp, int k, int64_t count, const int64_t *grid,
                               uint64_t *args, char **err) {
  HostBackend *h = (HostBackend *)be;
  if (grid) {
    *err = xstrdup("internal error: a GPU grid kernel on the host backend");
    return GMMC_ERR_INTERNAL;
  }
  HostLaunch l = {host_jit_kernel(bp->jit, k), args};
  int64_t grain = bp->grain[k], n_local;
  memcpy(&n_local, &args[bp->nbufs], sizeof n_local);
  /* chunks of few events: waking the workers costs more than they save
   * (and much more where they wait for a core), as it did before */
  if (grain == 1 && n_local < HOST_PARALLEL_EVENTS) grain = count;
  double t0 = bp->nkernels ? monotonic_ms() : 0;
  pool_run(h->pool, count, grain, run_range, &l);
  if (bp->nkernels) {
    bp->ms[k] += monotonic_ms() - t0;
    bp->launches[k]++;
  }
  return GMMC_OK;
}

static gmmc_status host_sync(Backend *be, char **err) { return GMMC_OK; }

static void host_destroy(Backend *be) {
  HostBackend *h = (HostBackend *)be;
  pool_destroy(h->pool);
  host_cpu_free(&h->cpu);
  free(be->description);
  free(be->cache_dir);
  free(h);
}

static void host_run_tasks(Backend *be, int64_t count, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx) {
  pool_run(((HostBackend *)be)->pool, count, 1, fn, ctx);
}

static int host_task_threads(Backend *be) { return pool_threads(((HostBackend *)be)->pool); }

static const BackendOps host_ops = {
    .name = "host",
    .load = host_load,
    .unload = host_unload,
    .alloc = host_alloc,
    .release = host_release,
    .upload = host_copy,
    .download = host_copy,
    .fill_u32 = host_fill_u32,
    .launch = host_launch,
    .synchronize = host_sync,
    .destroy = host_destroy,
    .run_tasks = host_run_tasks,
    .task_threads = host_task_threads,
};

gmmc_status backend_host_create(const BackendConfig *cfg, Backend **out, char **err) {
  llvm_init_once();
  HostCpu cpu;
  int rc = host_cpu_resolve(cfg ? cfg->host_cpu : NULL, 1, &cpu, err);
  if (rc) return rc < 0 ? oom_status(err, "the host CPU's description") : GMMC_ERR_INVALID_ARGUMENT;
  HostBackend *h = xcalloc(1, sizeof *h);
  if (!h) {
    host_cpu_free(&cpu);
    return oom_status(err, "the host backend");
  }
  h->pool = pool_create(cfg ? cfg->threads : 0);
  if (!h->pool) {
    host_cpu_free(&cpu);
    free(h);
    return oom_status(err, "the host worker threads");
  }
  h->cpu = cpu;
  h->base.ops = &host_ops;
  h->base.host_memory = 1;
  h->base.ordinal = -1;
  char *native = LLVMGetHostCPUName();
  h->base.description = cpu.level >= 0
                            ? xasprintf("host: %d threads, %s (on %s)", pool_threads(h->pool), cpu.name, native)
                            : xasprintf("host: %d threads, %s", pool_threads(h->pool), native);
  LLVMDisposeMessage(native);
  h->base.target = target_desc_host(pool_threads(h->pool), host_cpu_vector_bytes(&h->cpu));
  h->base.cache_dir = cfg && cfg->cache_dir ? xstrdup(cfg->cache_dir) : NULL;
  h->base.profile = cfg && cfg->profile;
  if (!h->base.description || (cfg && cfg->cache_dir && !h->base.cache_dir)) {
    host_destroy(&h->base);
    return oom_status(err, "the host backend's description");
  }
  *out = &h->base;
  return GMMC_OK;
}
