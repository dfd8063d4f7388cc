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
/* argmin (argmin 1) or argmax over j of such values, one lane each, as the
 * simple kernel takes it (from +-inf at index 0, j ascending, a strictly
 * better value replaces: the first extremum wins, NaN never does). Returns
 * the array of the tn indices (int64). */
int host_lanes_arg(Lower *L, Kernel *k, LStmt *body, int tn, int jid, int64_t J, int vals, int argmin);

/* T[n] = argmin(j, f(n, j)) or argmax: a per-event target, the whole
 * right-hand side one such reduction over an index other than the events'
 * (always its full range), f without reductions of its own. */
typedef struct {
  Target *tg;
  Expr *red;
  int nid, jid;
  int64_t J;
} EventArg;
int host_match_event_arg(Lower *L, const Stmt *st, EventArg *f);

#endif
