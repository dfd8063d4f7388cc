/* The variants' cost model (variant.h): one unit, microseconds on the
 * target, so that the autotuner's pruning (runtime/exec/autotune.c: within 4x
 * of the best estimate) compares like with like across families. A
 * roofline: a run takes as long as its slowest resource (device memory,
 * shared memory, arithmetic lanes) plus its launches. It ranks; the
 * autotuner measures. */
#include "variant.h"

double variant_cost(const TargetDesc *t, LType real, const Work *w) {
  double hz = (double)t->clock_khz * 1e3, sms = t->sm_count;
  double dram = 2.0 * (double)t->mem_clock_khz * 1e3 * t->mem_bus_bits / 8; /* bytes/s */
  double shared = sms * t->smem_bytes_per_clock * hz;
  double lanes = real == LT_F64 ? t->fp64_lanes_per_sm : t->fp32_lanes_per_sm;
  double arith = w->fmas / (sms * lanes * hz) + w->fmas64 / (sms * t->fp64_lanes_per_sm * hz);
  double s = w->global_bytes / dram;
  if (w->shared_bytes / shared > s) s = w->shared_bytes / shared;
  if (arith > s) s = arith;
  return s * 1e6 + w->launches * t->launch_us;
}
