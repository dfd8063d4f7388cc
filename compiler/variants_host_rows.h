/* What variants_host_rows.c shares with the host's fused kernels
 * (variants_host_fused_stream.c). */
#ifndef GMMC_VARIANTS_HOST_ROWS_H
#define GMMC_VARIANTS_HOST_ROWS_H

#include "lower.h"

/* reduce(j, f) of every lane of values staged j-major in array vals
 * (vals[j * tn + lane], L->rt), min, max or logsumexp, with the simple
 * kernel's operations in its order (lower_reduce: op(acc, f), j ascending;
 * logsumexp's maximum, then its sum of exp(f - shift)): the loops over the
 * lanes vectorize. Returns the array of the tn results. */
int host_lanes_reduce(Lower *L, Kernel *k, LStmt *body, int tn, int jid, int64_t J, int vals, RedOp op);

#endif
