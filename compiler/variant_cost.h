/* The variants' cost model: one unit, microseconds on the target, so that
 * the autotuner's pruning (runtime/exec/autotune.c: within 4x of the best
 * estimate) compares like with like across families. A roofline: a run
 * takes as long as its slowest resource (device memory, shared memory,
 * arithmetic lanes) plus its launches. It ranks; the autotuner measures. */
#ifndef GMMC_VARIANT_COST_H
#define GMMC_VARIANT_COST_H

#include <stdint.h>

#include "loopir.h"
#include "target_desc.h"

/* The estimated microseconds of work w over `events` events on target t,
 * data of type real; 0 when w is not priced. */
double variant_cost(const TargetDesc *t, LType real, const Work *w, int64_t events);

#endif
