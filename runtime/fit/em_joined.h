/* One fit's EM iteration and the copies of its outcome (the objective, the
 * builtins' status words) into page-locked host memory, joined into one
 * backend graph (graph_join with one member, as gmmc_fit_many joins many):
 * per iteration one launch and one wait, where the plain path
 * (em_launch, em_collect) launches, then reads the objective and the status
 * words, a wait each. At 10^4 events a GPU iteration is about 0.05 ms of
 * kernels and 0.025 of such round trips (docs/performance.md).
 *
 * Only where the backend joins graphs and the iteration runs as one
 * captured graph (one chunk, no reduce hook, the graph current): otherwise
 * em_joined_iterate declines and the caller takes the plain path. */
#ifndef GMMC_EM_JOINED_H
#define GMMC_EM_JOINED_H

#include "fit.h"

typedef struct {
  void *graph;    /* the joined graph, or NULL */
  uint64_t stamp; /* the capture it joins (graph_ready) */
  EmOutcome *out; /* page-locked copies of the outcome */
  int off;        /* joining failed once: the plain path from then on */
} EmJoined;

/* Runs one iteration of f joined: returns 1 with its status in *s and the
 * objective in *obj (as em_collect gives them), or 0 when it did not run
 * (nothing was launched; take the plain path). */
int em_joined_iterate(gmmc_context *ctx, FitSetup *f, EmJoined *j, double *obj, gmmc_status *s);
void em_joined_free(gmmc_context *ctx, EmJoined *j);

#endif
