/* The processes that train one model together, data-parallel: each holds a
 * slice of the events, runs the same sequences on it, and at every reduce
 * point the stat buffers are combined across processes so that all hold the
 * same parameters. MPI implements it (runtime/mpi/mpi_dist.c, built with GMMC_MPI); the
 * EM driver sees only this table. A NULL Dist is one process alone: every
 * helper below then does the single-process thing. */
#ifndef GMMC_DIST_H
#define GMMC_DIST_H

#include "exec.h"

typedef struct Dist Dist;

typedef struct {
  /* In-place all-reduce of n float64 values with op (R_SUM, R_MAX, R_MIN). */
  gmmc_status (*allreduce)(Dist *d, double *v, int64_t n, RedOp op, char **err);
  /* The ReduceHook of execs (one all-reduce of the stat buffers). */
  gmmc_status (*reduce_point)(void *d, Exec *e, const int *bufs, int nbufs, gmmc_status failed, char **err);
  /* Agreement on a status: returns the status of the lowest-ranked process
   * that failed, and its message in *msg on every process (freeing what was
   * there), or GMMC_OK when none did. vals[0..n) are max-reduced on the way,
   * so that decisions taken from them are the same everywhere. */
  gmmc_status (*agree)(Dist *d, gmmc_status s, char **msg, double *vals, int n);
  void (*destroy)(Dist *d);
  /* Makes what reduce_point needs for program p's reduce points (local: no collective). */
  gmmc_status (*prepare)(Dist *d, const Program *p, char **err);
} DistOps;

/* Time spent combining stat buffers, for GMMC_PROFILE and docs/mpi.md. */
typedef struct {
  double reduce_s; /* in the all-reduce calls */
  double wait_s;   /* waiting for the slowest process first (GMMC_PROFILE only) */
  int64_t calls, bytes;
} DistProfile;

struct Dist {
  const DistOps *ops;
  int rank, size;             /* in the communicator */
  int local_rank, local_size; /* on this host */
  int profile;                /* GMMC_PROFILE: time the imbalance apart (a barrier before each all-reduce) */
  DistProfile prof;
};

static inline int dist_size(const Dist *d) { return d ? d->size : 1; }
static inline int dist_rank(const Dist *d) { return d ? d->rank : 0; }

static inline gmmc_status dist_allreduce(Dist *d, double *v, int64_t n, RedOp op, char **err) {
  return d ? d->ops->allreduce(d, v, n, op, err) : GMMC_OK;
}

/* Installs the all-reduce at the reduce points of an exec, with the
 * buffers they need made now: out of memory is met here, where the
 * processes agree on failures, never inside a collective. */
static inline gmmc_status dist_attach(Dist *d, Exec *e, char **err) {
  if (!d) return GMMC_OK;
  gmmc_status s = d->ops->prepare(d, e->p, err);
  if (!s) e->hook = (ReduceHook){d->ops->reduce_point, d};
  return s;
}

#endif
