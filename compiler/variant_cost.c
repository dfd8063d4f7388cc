/* The variants' cost model (variant_cost.h). */
#include "variant_cost.h"

double variant_cost(const TargetDesc *t, LType real, const Work *w, int64_t events) {
  if (w->launches == 0) return 0;
  double n = (double)events, hz = (double)t->clock_khz * 1e3, sms = t->sm_count;
  double dram = 2.0 * (double)t->mem_clock_khz * 1e3 * t->mem_bus_bits / 8; /* bytes/s */
  double shared = sms * t->smem_bytes_per_clock * hz;
  double lanes = real == LT_F64 ? t->fp64_lanes_per_sm : t->fp32_lanes_per_sm;
  double arith = (w->fmas_per_event * n + w->fmas) / (sms * lanes * hz) +
                 (w->fmas64_per_event * n + w->fmas64) / (sms * t->fp64_lanes_per_sm * hz);
  /* the tensor cores are a pipe of their own, beside the FP32 lanes */
  if (w->tc_fmas_per_event > 0 || w->tc_fmas > 0) {
    double tc =
        (w->tc_fmas_per_event * n + w->tc_fmas) / (sms * (t->tf32_mma_per_sm > 0 ? t->tf32_mma_per_sm : 1) * hz);
    if (tc > arith) arith = tc;
  }
  double s = (w->bytes_per_event * n + w->bytes) / dram;
  if ((w->shared_per_event * n + w->shared) / shared > s) s = (w->shared_per_event * n + w->shared) / shared;
  if (arith > s) s = arith;
  return s * 1e6 + w->launches * t->launch_us;
}
