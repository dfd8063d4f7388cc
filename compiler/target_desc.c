/* The target description's defaults (target_desc.h). */
#include "target_desc.h"

#include <stddef.h>

TargetDesc target_desc_gpu_default(void) {
  /* CUDA's device attributes of an H100 SXM5 (sm_90) */
  return (TargetDesc){.sm_count = 132,
                      .smem_static_per_block = 48 * 1024,
                      .smem_per_sm = 228 * 1024,
                      .smem_reserved_per_block = 1024,
                      .regs_per_sm = 65536,
                      .max_threads_per_block = 1024,
                      .cc_major = 9,
                      .cc_minor = 0,
                      .cores = 1,
                      .vector_bytes = 16};
}

TargetDesc target_desc_host(int cores, int vector_bytes) {
  TargetDesc d = target_desc_gpu_default(); /* unused on the host, but defined */
  d.cores = cores > 0 ? cores : 1;
  d.vector_bytes = vector_bytes;
  return d;
}

TargetDesc target_desc_or_default(const TargetDesc *d) {
  return d && d->sm_count > 0 ? *d : target_desc_gpu_default();
}
