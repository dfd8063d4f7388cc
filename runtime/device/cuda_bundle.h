/* One module for a tuned set of kernels (the CUDA backend's cache-hit
 * start). A fit whose choices are known loads a few dozen kernels, each a
 * cubin of its own in the kernel cache: one cuModuleLoadDataEx each, ~40 us
 * apiece and serialized by the driver, most of a cache-hit start. The set's
 * kernels, compiled together into one cubin (a "bundle", keyed by the sorted
 * keys of its kernels), load with one call. A load whose kernels all came
 * from the per-kernel cache makes the bundle for the next one, in the
 * background; the program's unload waits for it.
 *
 * Every failure here (no entry, a driver refusal, no memory) is a miss: the
 * per-kernel path loads the kernels as before. */
#ifndef GMMC_CUDA_BUNDLE_H
#define GMMC_CUDA_BUNDLE_H

#include <stdint.h>

#include "cuda_backend.h"

/* The bundle's cache key for the kernels of `in` (nk flags) whose keys are
 * key[k]: independent of their order in the program. */
uint64_t cuda_bundle_key(const uint64_t *key, const unsigned char *in, int nk);

/* Loads the kernels of `in` from the bundle `key` into bp (functions bound,
 * the module kept in bp->bundles). 1 when every one was bound, 0 (and
 * nothing of it loaded) otherwise. */
int cuda_bundle_load(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *in, uint64_t key);

/* Starts compiling the bundle of `in` for p in the background, for the
 * cache. Nothing when a bundle is already compiling for bp or a resource is
 * missing. */
void cuda_bundle_start(CudaBackend *cb, BackendProgram *bp, const Program *p, const unsigned char *in, uint64_t key);

/* Waits for bp's bundle compile, if any, and frees its state. */
void cuda_bundle_join(BackendProgram *bp);

#endif
