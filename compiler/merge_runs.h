/* Runs of small units (the launch-bound sizes of issue 23).
 *
 * After the last reduce point of an EM step come statements without the
 * event axis, each its own kernel of a few hundred work items: the M-step's
 * finishing divisions, the covariances from their sums, the Cholesky
 * factors, the log-weights and log-determinants. At 10^4 events x 8
 * features x 8 components those launches are most of an iteration (about 3
 * us each on an H100, in a CUDA graph too). A sequence's consecutive such
 * units form a run: one unit whose alternatives are "unfused" (its members,
 * each as chosen) and the registry's SITE_RUN families (variants_merged.c:
 * the members' simple kernels as one single-block kernel, a barrier between
 * them). The autotuner picks per run; nothing couples runs.
 *
 * A small unit: not a fusion group, its simple alternative one or more
 * parallel loops of a fixed trip count (no event axis) that read and write
 * no per-event buffer and use no shared memory. GPU only: a host kernel is
 * a call, not a launch.
 *
 * The same sequences' consecutive independent units (none reads or writes
 * what another writes) whose simple alternatives are as many kernels each
 * form runs too, of the SITE_RUN family "stacked" (variants_stacked.c): the
 * sums over events that an EM step computes from the same responsibilities
 * (the log-likelihood's, Nk's, the means'), each a partial kernel and a
 * combine, become two launches instead of six. */
#ifndef GMMC_MERGE_RUNS_H
#define GMMC_MERGE_RUNS_H

#include "lower.h"

/* Adds the runs' units to every sequence but SEQ_ONCE (which runs once a
 * fit) and rewrites the sequences to run them. Called after
 * fuse_sequences, when variants are lowered for a GPU. */
void merge_small_runs(Lower *L);

/* Whether kernel k could be one member kernel of a run (see above). */
int merge_small_kernel(const Program *p, const Kernel *k);

/* Whether the simple alternatives of units[0..n) are independent: no
 * kernel of one reads or writes a buffer that a kernel of another writes,
 * so that they may run in any order or side by side (the marks are in
 * p's arena). */
int merge_independent(Program *p, const int *units, int n);

#endif
