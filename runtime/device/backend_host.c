/* The host backend: kernels compiled by ORC LLJIT for the native CPU or a
 * level of it (host_cpu.h); the parallel loop of each kernel is split over
 * a thread pool. A cold program compiles its stand-ins (the simple
 * variants) first and the other variants on a thread of its own while the
 * stand-ins run, as the GPU's does; the cache holds the whole program. */
#include <pthread.h>
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

/* The variants compiling in the background, and what the cache needs of
 * them (one blob of the whole program, written once they are done). */
typedef struct {
  pthread_t thread;
  pthread_mutex_t lock;
  int done;            /* under lock */
  int threaded;        /* runs on `thread` (else it ran on the caller's) */
  const Program *p;    /* read by the thread only: the program does not change */
  const char *cpu;     /* jit_cpu's, which outlives the program */
  unsigned char *only; /* the kernels it compiles */
  void *blob;          /* what it made (NULL: failed, err says why; NULL too: out of memory) */
  size_t size;
  char *err;
  void *first; /* the stand-ins' blob, for the cache (NULL: not cached) */
  size_t first_size;
  uint64_t key;
  double started; /* monotonic_ms */
} Background;

struct BackendProgram {
  HostJit *jit;
  Background *bg; /* NULL: none runs */
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

/* Whether loop IR depends on the events held (LX_NLOCAL): a kernel whose
 * items do, and whose item count does not, has items that each walk a
 * range of the events (a chunk, a tile). */
static int x_nlocal(void *user, const LExpr *x) {
  (void)user;
  return x->kind == LX_NLOCAL ? LWALK_STOP : LWALK_ON;
}

static int walks_events(const Kernel *k) {
  LWalk w = {x_nlocal, NULL, NULL};
  return !lwalk_expr(&w, k->count) && lwalk_stmt(&w, k->body);
}

static gmmc_status join_background(Backend *be, BackendProgram *bp, int link, char **err);

static void host_unload(Backend *be, BackendProgram *bp) {
  if (!bp) return;
  join_background(be, bp, 0, NULL); /* its result goes to the cache only */
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

/* What a failed host_jit_* call returns: its message, or out of memory. */
static gmmc_status jit_failure(char **err, const char *what) { return *err ? GMMC_ERR_COMPILE : oom_status(err, what); }

static void *background_main(void *arg) {
  Background *g = arg;
  void *blob = host_jit_compile(g->p, g->cpu, g->only, &g->size, &g->err);
  pthread_mutex_lock(&g->lock);
  g->blob = blob;
  g->done = 1;
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

static void background_free(Background *g) {
  free(g->only);
  free(g->blob);
  free(g->err);
  free(g->first);
  free(g);
}

/* Waits for bp's background compile; with `link`, links what it made into
 * bp's JIT. Caches the whole program either way, when it compiled. */
static gmmc_status join_background(Backend *be, BackendProgram *bp, int link, char **err) {
  Background *g = bp->bg;
  if (!g) return GMMC_OK;
  double t0 = monotonic_ms();
  if (g->threaded) pthread_join(g->thread, NULL);
  pthread_mutex_destroy(&g->lock);
  bp->bg = NULL;
  double waited = monotonic_ms() - t0;
  gmmc_status s = GMMC_OK;
  if (!link) {
    /* unloading: nothing to report */
  } else if (!g->blob) {
    s = jit_failure(&g->err, "the host kernels");
    *err = g->err, g->err = NULL;
  } else if (host_jit_add(bp->jit, g->p, g->blob, g->size, g->only, err)) {
    s = jit_failure(err, "the host kernels");
  }
  if (g->blob && g->first) { /* optional: the program is compiled again next time */
    size_t size = 0;
    void *whole = host_jit_join(g->first, g->first_size, g->blob, g->size, &size);
    if (whole) kcache_put(be->cache_dir, g->key, "o", whole, size);
    free(whole);
  }
  if (be->profile) {
    int n = 0;
    for (int k = 0; k < g->p->nkernels; k++) n += g->only[k];
    fprintf(stderr, "gmmc profile: host: %d kernels compiled %s in %.2f ms; waited %.2f ms for them\n", n,
            g->threaded ? "in the background" : "after the stand-ins", t0 + waited - g->started, waited);
  }
  background_free(g);
  return s;
}

/* The compile of the kernels that are not stand-ins; `first` (the
 * stand-ins' blob, NULL: not cached) is the background's from here on. */
static Background *background_new(HostBackend *h, const Program *p, const unsigned char *stand_in, void *first,
                                  size_t first_size, uint64_t key) {
  Background *g = xcalloc(1, sizeof *g);
  if (!g || !(g->only = xcalloc((size_t)p->nkernels + 1, 1))) {
    free(g);
    free(first);
    return NULL;
  }
  for (int k = 0; k < p->nkernels; k++) g->only[k] = !stand_in[k];
  g->p = p;
  g->cpu = jit_cpu(h);
  g->key = key;
  g->started = monotonic_ms();
  g->first = first;
  g->first_size = first_size;
  pthread_mutex_init(&g->lock, NULL);
  return g;
}

/* Runs g on a thread of its own; 0 where no thread starts (then the caller
 * runs it). Never in fault-injection builds, whose failures are counted in
 * one order: there the same code runs on the calling thread. */
static int background_start(Background *g) {
#ifdef GMMC_FAULT_INJECTION
  (void)g;
  return 0;
#else
  g->threaded = pthread_create(&g->thread, NULL, background_main, g) == 0;
  return g->threaded;
#endif
}

/* Compiles p's kernels into bp->jit: the stand-ins (where given) first,
 * then the rest on a thread of its own while they run. */
static gmmc_status compile_program(HostBackend *h, BackendProgram *bp, const Program *p, const unsigned char *stand_in,
                                   int use_cache, uint64_t key, char **err) {
  Backend *be = &h->base;
  size_t size = 0;
  void *blob = host_jit_compile(p, jit_cpu(h), stand_in, &size, err);
  if (!blob) return jit_failure(err, "the host kernels");
  if (host_jit_add(bp->jit, p, blob, size, stand_in, err)) {
    free(blob);
    return jit_failure(err, "the host kernels");
  }
  int rest = 0;
  for (int k = 0; stand_in && k < p->nkernels; k++) rest |= !stand_in[k];
  if (!rest) { /* all of it compiled */
    if (use_cache) kcache_put(be->cache_dir, key, "o", blob, size);
    free(blob);
    return GMMC_OK;
  }
  if (!use_cache) free(blob), blob = NULL;
  if (!(bp->bg = background_new(h, p, stand_in, blob, size, key))) return oom_status(err, "the host kernels");
  if (background_start(bp->bg)) return GMMC_OK;
  background_main(bp->bg);
  return join_background(be, bp, 1, err);
}

static gmmc_status host_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                             BackendProgram **out, int *cached, char **err) {
  (void)mask; /* a program's kernels are compiled and cached together */
  HostBackend *h = (HostBackend *)be;
  BackendProgram *bp = xcalloc(1, sizeof *bp);
  if (!bp) return oom_status(err, "the host program");
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
  bp->jit = host_jit_open(p, jit_cpu(h), err);
  gmmc_status s = bp->jit ? GMMC_OK : jit_failure(err, "the host JIT");
  *cached = 0;
  if (!s && object) {
    *cached = host_jit_add(bp->jit, p, object, size, NULL, err) == 0;
    if (!*cached) { /* an entry that does not link: compile, in a fresh JIT */
      free(*err);
      *err = NULL;
      host_jit_free(bp->jit);
      bp->jit = host_jit_open(p, jit_cpu(h), err);
      s = bp->jit ? GMMC_OK : jit_failure(err, "the host JIT");
    }
  }
  free(object);
  if (!s && !*cached) s = compile_program(h, bp, p, stand_in, use_cache, key, err);
  bp->nbufs = p->nbufs;
  /* items that walk a range of the events are spread one at a time: a
   * kernel of 64 chunks of the events must not run on one thread; other
   * items go in chunks of 64 (pool_run: a small loop of them stays on the
   * calling thread) */
  if (!s && !(bp->grain = xcalloc((size_t)p->nkernels + 1, sizeof *bp->grain))) s = oom_status(err, "the host program");
  if (s) {
    host_unload(be, bp);
    return s;
  }
  for (int k = 0; k < p->nkernels; k++) bp->grain[k] = walks_events(p->kernels[k]) ? 1 : 64;
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

static gmmc_status host_load_more(Backend *be, BackendProgram *bp, const Program *p, const unsigned char *mask,
                                  char **err) {
  (void)p;
  /* wait for the background only for a kernel it compiles */
  int wait = 0;
  for (int k = 0; bp->bg && k < bp->bg->p->nkernels; k++) wait |= bp->bg->only[k] && (!mask || mask[k]);
  return wait ? join_background(be, bp, 1, err) : GMMC_OK;
}

static int host_pending(Backend *be, BackendProgram *bp) {
  (void)be;
  if (!bp->bg) return 0;
  pthread_mutex_lock(&bp->bg->lock);
  int done = bp->bg->done;
  pthread_mutex_unlock(&bp->bg->lock);
  return !done;
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
  if (!l.fn) {
    *err = xasprintf("internal error: kernel %d launched before it was compiled", k);
    return GMMC_ERR_INTERNAL;
  }
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
    .load_more = host_load_more,
    .pending = host_pending,
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
