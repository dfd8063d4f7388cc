/* A reference executor of loop-IR kernels with the GPU's execution model,
 * for machines without a GPU: grid kernels run block by block, the threads
 * of a block in lockstep (one statement for every thread before the next),
 * with their shared arrays, barriers and warp shuffles; ITEMS kernels run as
 * blocks of items. Float32 values are rounded after every operation.
 *
 * It checks what a GPU would not report: loads and stores outside a buffer
 * or a shared array, a shared element written and then read or rewritten by
 * another thread with no barrier in between, a global element written by one
 * block and read or rewritten by another in the same launch, a shuffle whose
 * partner lane is not active, reads of variables never assigned (NaN). */
#ifndef GMMC_TESTS_SIMT_H
#define GMMC_TESTS_SIMT_H

#include <stdint.h>

#include "compiler/loopir.h"

typedef union {
  double f;
  int64_t i;
} SimVal;

typedef struct {
  const Program *p;
  int64_t n_local, n_total;
  SimVal **buf;    /* per buffer, buffer_elems(b, n_local) values of its element type */
  int64_t *elems;  /* per buffer */
  double *scalars; /* per ScalarSym */
  char err[600];   /* the first problem found ("" when none) */
} Sim;

void sim_init(Sim *s, const Program *p, int64_t n);
void sim_free(Sim *s);
/* Runs kernel k over its whole launch. Returns 0, or -1 with s->err set. */
int sim_run_kernel(Sim *s, int k);

#endif
