/* em_joined.h: one fit's iteration and its outcome's copies in one graph. */
#include "em_joined.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/exec/graph.h"

/* The joined graph of f's current iteration graph, made again when that
 * was captured anew (a variant choice, the events or a scalar changed);
 * 0 when there is none to be had now. */
static int joined_graph(gmmc_context *ctx, FitSetup *f, EmJoined *j) {
  Backend *be = ctx->be;
  Exec *e = stream_exec(f->fd.st);
  uint64_t stamp = 0;
  void *g = graph_ready(e, SEQ_ITERATE, &stamp);
  if (!g) return 0;
  if (j->graph && j->stamp == stamp) return 1;
  if (j->graph) be->ops->graph_destroy(be, j->graph);
  if (j->out) be->ops->host_free(be, j->out);
  char *why = NULL;
  if (em_join_outcomes(ctx, &f, &g, 1, &j->out, &j->graph, &why)) { /* the plain path, as before */
    if (be->profile) fprintf(stderr, "gmmc profile: iterations not joined with their reads: %s\n", why ? why : "?");
    free(why);
    j->off = 1;
    return 0;
  }
  j->stamp = stamp;
  return 1;
}

int em_joined_iterate(gmmc_context *ctx, FitSetup *f, EmJoined *j, double *obj, gmmc_status *s) {
  Backend *be = ctx->be;
  if (j->off || ctx->dist || !be->ops->graph_join || !be->ops->host_alloc || stream_chunks(f->fd.st) != 1) return 0;
  if (!joined_graph(ctx, f, j)) return 0;
  Exec *e = stream_exec(f->fd.st);
  char *err = NULL;
  gmmc_status r = exec_reset_status(e, &err);
  if (!r) r = be->ops->graph_launch(be, j->graph, &err);
  if (!r) r = be->ops->synchronize(be, &err);
  *s = r ? ctx_fail_take(ctx, r, err) : em_collect(ctx, f, j->out, obj);
  return 1;
}

void em_joined_free(gmmc_context *ctx, EmJoined *j) {
  Backend *be = ctx->be;
  if (j->graph) be->ops->graph_destroy(be, j->graph);
  if (j->out) be->ops->host_free(be, j->out);
  memset(j, 0, sizeof *j);
}
