/* The one description of the machine a program is lowered for: what the
 * lowering and the variants may assume of it. The backend fills it from
 * the CUDA driver (runtime/device/backend_cuda.c) or from the CPU level
 * (runtime/device/backend_host.c); without a device (gmmc compile, the codegen
 * tests) the defaults below stand in. No device limit is written anywhere
 * else in the compiler. */
#ifndef GMMC_TARGET_DESC_H
#define GMMC_TARGET_DESC_H

typedef struct {
  /* GPU */
  int sm_count;                /* multiprocessors */
  int smem_static_per_block;   /* bytes of statically declared shared memory a block may use */
  int smem_per_sm;             /* bytes of shared memory of a multiprocessor */
  int smem_reserved_per_block; /* bytes of it the driver keeps for each resident block */
  int regs_per_sm;             /* 32-bit registers of a multiprocessor */
  int max_threads_per_block;
  int max_threads_per_sm; /* threads a multiprocessor holds at once */
  int max_grid[3];        /* blocks along each grid axis a launch may have */
  int cc_major, cc_minor; /* compute capability */
  /* throughput, for the variants' cost model (compiler/variant_cost.c) */
  int clock_khz;            /* multiprocessor clock */
  int mem_clock_khz;        /* device memory clock (two transfers a clock) */
  int mem_bus_bits;         /* device memory bus width */
  int fp32_lanes_per_sm;    /* float32 multiply-adds a multiprocessor issues per clock */
  int fp64_lanes_per_sm;    /* float64 likewise */
  int tf32_mma_per_sm;      /* multiply-adds of TF32 operands a multiprocessor's tensor cores do per clock
                               (dense; 0: no TF32 MMA, before compute capability 8.0) */
  int smem_bytes_per_clock; /* shared-memory bandwidth of a multiprocessor */
  int copy_async;           /* cp.async: global to shared memory without registers (8.0 and later) */
  double launch_us;         /* one kernel launch on a busy stream */
  /* host */
  int cores;        /* worker threads of the host backend */
  int vector_bytes; /* the widest vector register of the CPU level: 16, 32 or 64 */
  int local_bytes;  /* bytes of arrays a kernel may keep on its worker thread's stack */
  /* bytes of per-event buffers (L, R, ...) a host fit keeps at once: the
   * events go through them in chunks (0: no limit, the GPU's rule instead) */
  long long chunk_bytes;
} TargetDesc;

/* An H100 SXM (sm_90, 132 multiprocessors): the GPU lowered for when none
 * is present. */
TargetDesc target_desc_gpu_default(void);
/* The compute capability and the arithmetic lanes it implies. */
void target_desc_set_cc(TargetDesc *d, int major, int minor);
/* A host of `cores` threads whose CPU level has `vector_bytes` registers. */
TargetDesc target_desc_host(int cores, int vector_bytes);
/* d itself, or the GPU default when d was never filled (sm_count 0). */
TargetDesc target_desc_or_default(const TargetDesc *d);

#endif
