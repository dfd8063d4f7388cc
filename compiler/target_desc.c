/* The target description's defaults (target_desc.h). */
#include "target_desc.h"

#include <stddef.h>

TargetDesc target_desc_gpu_default(void) {
  /* CUDA's device attributes of an H100 SXM5 (sm_90); its arithmetic lanes
   * from the compute capability, as for a real device */
  TargetDesc d = {.sm_count = 132,
                  .smem_static_per_block = 48 * 1024,
                  .smem_per_sm = 228 * 1024,
                  .smem_reserved_per_block = 1024,
                  .regs_per_sm = 65536,
                  .max_threads_per_block = 1024,
                  .max_threads_per_sm = 2048,
                  .max_grid = {2147483647, 65535, 65535},
                  .clock_khz = 1980000,
                  .mem_clock_khz = 2619000,
                  .mem_bus_bits = 5120,
                  .launch_us = 2.5,
                  .cores = 1,
                  .vector_bytes = 16};
  target_desc_set_cc(&d, 9, 0);
  return d;
}

void target_desc_set_cc(TargetDesc *d, int major, int minor) {
  d->cc_major = major;
  d->cc_minor = minor;
  /* float32 and float64 multiply-adds per clock of a multiprocessor, from
   * the CUDA programming guide's arithmetic throughput table */
  static const struct {
    int cc, fp32, fp64;
  } lanes[] = {{60, 64, 32}, {70, 64, 32}, {75, 64, 2},   {80, 64, 32},  {86, 128, 2},
               {87, 128, 2}, {89, 128, 2}, {90, 128, 64}, {100, 128, 64}};
  int cc = major * 10 + minor;
  d->fp32_lanes_per_sm = 128; /* later consumer parts */
  d->fp64_lanes_per_sm = 2;
  for (size_t i = 0; i < sizeof lanes / sizeof *lanes; i++)
    if (lanes[i].cc == cc) {
      d->fp32_lanes_per_sm = lanes[i].fp32;
      d->fp64_lanes_per_sm = lanes[i].fp64;
    }
  d->smem_bytes_per_clock = 128; /* 32 banks of 4 bytes since Maxwell */
  d->copy_async = cc >= 80;
  /* TF32 multiply-adds per clock of a multiprocessor's tensor cores (dense):
   * NVIDIA's peak TF32 rates over 2 x multiprocessors x boost clock (A100:
   * 156 TFLOP/s, H100 SXM: 495, GA10x and AD10x: 128 per clock, B200:
   * twice H100's per clock); none before 8.0 (no TF32 mma.sync) */
  static const struct {
    int cc, tf32;
  } tensor[] = {{80, 512}, {86, 128}, {87, 128}, {89, 128}, {90, 1024}, {100, 2048}};
  d->tf32_mma_per_sm = cc >= 80 ? 128 : 0;
  for (size_t i = 0; i < sizeof tensor / sizeof *tensor; i++)
    if (tensor[i].cc == cc) d->tf32_mma_per_sm = tensor[i].tf32;
}

TargetDesc target_desc_host(int cores, int vector_bytes) {
  TargetDesc d = target_desc_gpu_default(); /* unused on the host, but defined */
  d.cores = cores > 0 ? cores : 1;
  d.vector_bytes = vector_bytes;
  /* an eighth of the pool workers' stacks (threadpool.c: 4 MiB); the
   * caller's thread, which works too, has glibc's 8 MiB */
  d.local_bytes = 512 * 1024;
  /* 128 MiB: memory no longer grows with N x M (10^6 x 32 x 128 diag,
   * float32: 1.2 GB peak in one chunk). Not smaller: a chunked iteration
   * recomputes the E-step for the later phases (docs/limits.md), and at
   * 10^5 x 19 x 16 full chunks of 4 MiB made the iteration 2x slower. */
  d.chunk_bytes = 128ll << 20;
  return d;
}

TargetDesc target_desc_or_default(const TargetDesc *d) { return d && d->sm_count > 0 ? *d : target_desc_gpu_default(); }
