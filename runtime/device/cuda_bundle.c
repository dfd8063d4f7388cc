/* One module for a tuned set of kernels: see cuda_bundle.h. */
#ifdef GMMC_HAVE_CUDA_H

#include "cuda_bundle.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compiler/target.h"
#include "kcache.h"

struct BundleJob {
  CudaBackend *cb;
  const Program *p;
  unsigned char *in;
  uint64_t key;
  pthread_t thread;
};

static int compare_keys(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

uint64_t cuda_bundle_key(const uint64_t *key, const unsigned char *in, int nk) {
  uint64_t sorted[nk > 0 ? nk : 1];
  int n = 0;
  for (int k = 0; k < nk; k++)
    if (in[k]) sorted[n++] = key[k];
  qsort(sorted, (size_t)n, sizeof *sorted, compare_keys);
  /* the kernels' keys already hold the build, the target and the versions */
  uint64_t h = kcache_code_key(0x62756e646c65ULL /* "bundle" */, (uint64_t)n);
  for (int i = 0; i < n; i++) h = kcache_code_key(h, sorted[i]);
  return h;
}

int cuda_bundle_load(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *in, uint64_t key) {
  size_t size;
  void *cubin = kcache_get(cb->base.cache_dir, key, "bundle", &size);
  if (!cubin) return 0;
  CUmodule *grown = xrealloc(bp->bundles, sizeof(CUmodule) * (size_t)(bp->nbundles + 1));
  if (!grown) {
    free(cubin);
    return 0;
  }
  bp->bundles = grown;
  CUmodule m;
  CUresult r = cb->d.ModuleLoadDataEx(&m, cubin, 0, NULL, NULL);
  free(cubin);
  if (r != CUDA_SUCCESS) return 0;
  int k = 0;
  for (; k < p->nkernels; k++) {
    char *err = NULL;
    if (in[k] && cuda_bind_kernel(cb, bp, p, k, m, &err)) {
      free(err);
      break;
    }
  }
  if (k < p->nkernels) { /* a kernel the module lacks: unbind the others, a miss */
    for (int j = 0; j < k; j++)
      if (in[j]) {
        free(bp->params[j]);
        bp->params[j] = NULL;
        bp->fns[j] = NULL;
      }
    cb->d.ModuleUnload(m);
    return 0;
  }
  bp->bundles[bp->nbundles++] = m;
  return 1;
}

static void bundle_build(BundleJob *j) {
  CudaBackend *cb = j->cb;
  TargetOptions topt = {.kind = TARGET_NVPTX, .arch = cb->arch, .ptx_version = cuda_ptx_version(cb)};
  char *err = NULL;
  char *ptx = target_emit_kernels(j->p, &topt, EMIT_ASM, j->in, &err);
  void *cubin = NULL;
  size_t size = 0;
  if (ptx && !cuda_link_cubin(cb, ptx, &cubin, &size, &err))
    kcache_put(cb->base.cache_dir, j->key, "bundle", cubin, size);
  free(cubin);
  free(ptx);
  free(err); /* a bundle that does not build is a miss next time, not an error */
}

static void *bundle_main(void *v) {
  BundleJob *j = v;
  if (j->cb->d.CtxSetCurrent(j->cb->ctx) != CUDA_SUCCESS) return NULL;
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10); /* this thread yields to the fit's */
  bundle_build(j);
  return NULL;
}

void cuda_bundle_start(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *in, uint64_t key) {
  if (bp->bundle_job || !cb->base.cache_dir) return;
  BundleJob *j = xcalloc(1, sizeof *j);
  unsigned char *copy = j ? xcalloc((size_t)p->nkernels + 1, 1) : NULL;
  if (!copy) {
    free(j);
    return;
  }
  memcpy(copy, in, (size_t)p->nkernels);
  *j = (BundleJob){.cb = cb, .p = p, .in = copy, .key = key};
#ifdef GMMC_FAULT_INJECTION
  /* here, so that the faults injected are counted in the same order every run */
  bundle_build(j);
  free(copy);
  free(j);
  return;
#endif
  if (pthread_create(&j->thread, NULL, bundle_main, j) != 0) {
    free(copy);
    free(j);
    return;
  }
  bp->bundle_job = j;
}

void cuda_bundle_join(BackendProgram *bp) {
  BundleJob *j = bp->bundle_job;
  if (!j) return;
  pthread_join(j->thread, NULL);
  free(j->in);
  free(j);
  bp->bundle_job = NULL;
}

#else
typedef int gmmc_no_cuda_bundle; /* built without cuda.h: nothing here (ISO C wants a declaration) */
#endif
