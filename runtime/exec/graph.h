/* A sequence's kernel launches replayed as one backend graph (a CUDA graph):
 * one launch per run instead of one per kernel. A graph holds the kernel
 * arguments it was captured with, so it is replayed only while the
 * sequence, the per-unit choices and every argument slot (addresses, event
 * counts, scalars) are the same; otherwise the launches are direct.
 * Used only without a reduce hook (the hook works on the host between
 * kernels) and where the backend offers graphs (Backend.graphs). */
#ifndef GMMC_GRAPH_H
#define GMMC_GRAPH_H

#include "exec.h"

/* Runs sequence seq as a graph, capturing it first when due; returns 1 with
 * the outcome in *status, or 0 when the caller must launch directly. */
int graph_run(Exec *e, SeqId seq, gmmc_status *status, char **err);

/* The graph that running sequence seq now would replay (captured, its key
 * the exec's now, nothing to refresh first), with its capture's number in
 * *stamp (unique in the process), or NULL: gmmc_fit_many joins the graphs
 * of its fits into one launch (Backend graph_join). */
void *graph_ready(Exec *e, SeqId seq, uint64_t *stamp);

/* Frees the graphs of an exec (exec_destroy). */
void graph_free(Exec *e);

#endif
