#include "graph.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen.h"

/* One sequence's graph and the key it was captured with: the unit choices,
 * then the argument slots (a launch's parameters are copied at capture). */
typedef struct {
  void *graph;    /* the backend's, NULL until captured */
  uint64_t stamp; /* the capture's number (graph_ready) */
  uint64_t *key;  /* the graph's key */
  uint64_t *seen; /* the last direct run's key */
  int have_seen;
} SeqGraph;

struct ExecGraphs {
  SeqGraph seq[SEQ_COUNT];
  uint64_t *now; /* this run's key */
  size_t bytes;  /* of a key */
  int off;       /* a capture failed here: direct launches from then on */
};

static void graphs_free(Exec *e, ExecGraphs *g) {
  for (int i = 0; i < SEQ_COUNT; i++) {
    if (g->seq[i].graph) e->be->ops->graph_destroy(e->be, g->seq[i].graph);
    free(g->seq[i].key);
    free(g->seq[i].seen);
  }
  free(g->now);
  free(g);
}

/* NULL when out of memory (nothing left allocated). */
static ExecGraphs *graphs_new(Exec *e) {
  ExecGraphs *g = xcalloc(1, sizeof *g);
  if (!g) return NULL;
  size_t len = (size_t)e->p->nunits + (size_t)program_arg_slots(e->p);
  g->bytes = len * sizeof(uint64_t);
  g->now = xcalloc(len + 1, sizeof(uint64_t));
  int ok = g->now != NULL;
  for (int i = 0; i < SEQ_COUNT && ok; i++) {
    g->seq[i].key = xcalloc(len + 1, sizeof(uint64_t));
    g->seq[i].seen = xcalloc(len + 1, sizeof(uint64_t));
    ok = g->seq[i].key && g->seq[i].seen;
  }
  if (!ok) {
    graphs_free(e, g);
    return NULL;
  }
  return g;
}

static void key_fill(const Exec *e, uint64_t *key) {
  int nu = e->p->nunits;
  for (int u = 0; u < nu; u++) key[u] = (uint64_t)e->choice[u];
  memcpy(key + nu, e->args, (size_t)program_arg_slots(e->p) * sizeof(uint64_t));
}

/* Capturing failed where launching directly may work: keep to that. */
static int give_up(Exec *e, char *why) {
  e->graphs->off = 1;
  if (e->be->profile)
    fprintf(stderr, "gmmc profile: no graphs for this exec, direct launches: %s\n",
            why ? why : "(no memory for the reason)");
  free(why);
  return 0;
}

/* Every capture's number, so that a joined graph knows its members' (an
 * address may come back for another graph). */
static _Atomic uint64_t captures;

static int capture(Exec *e, SeqId seq, gmmc_status *status, char **err) {
  Backend *be = e->be;
  ExecGraphs *g = e->graphs;
  const Sequence *q = &e->p->seq[seq];
  char *why = NULL;
  if (be->ops->capture_begin(be, &why)) return give_up(e, why);
  gmmc_status s = GMMC_OK;
  for (int i = 0; i < q->len && !s; i++)
    if (q->steps[i].kind == STEP_UNIT) s = exec_run_unit(e, q->steps[i].unit, err);
  if (s) { /* a launch failed: nothing ran, the error is this run's; later runs launch directly */
    be->ops->capture_abort(be);
    g->off = 1;
    *status = s;
    return 1;
  }
  void *graph = NULL;
  if (be->ops->capture_end(be, &graph, &why)) return give_up(e, why); /* nothing ran: the caller launches */
  SeqGraph *sg = &g->seq[seq];
  if (sg->graph) be->ops->graph_destroy(be, sg->graph);
  sg->graph = graph;
  sg->stamp = ++captures;
  memcpy(sg->key, g->now, g->bytes);
  sg->have_seen = 0;
  *status = be->ops->graph_launch(be, graph, err);
  return 1;
}

int graph_run(Exec *e, SeqId seq, gmmc_status *status, char **err) {
  if (!e->be->graphs || e->hook.fn) return 0;
  if (!e->graphs) e->graphs = graphs_new(e);
  ExecGraphs *g = e->graphs;
  if (!g) return 0; /* out of memory: graphs are optional, launched directly (tried again next run) */
  if (g->off) return 0;
  key_fill(e, g->now);
  SeqGraph *sg = &g->seq[seq];
  if (sg->graph && memcmp(sg->key, g->now, g->bytes) == 0) {
    *status = e->be->ops->graph_launch(e->be, sg->graph, err);
    return 1;
  }
  /* captured when a run repeats the last direct run's key: a one-off run
   * (an initialisation step) costs no capture, and every kernel captured has
   * run once before (loaded, where the driver loads modules lazily). A graph
   * whose key comes back (autotuning changes the events for a while) stays. */
  if (!sg->have_seen || memcmp(sg->seen, g->now, g->bytes) != 0) {
    memcpy(sg->seen, g->now, g->bytes);
    sg->have_seen = 1;
    return 0;
  }
  return capture(e, seq, status, err);
}

void *graph_ready(Exec *e, SeqId seq, uint64_t *stamp) {
  ExecGraphs *g = e->graphs;
  if (!e->be->graphs || e->hook.fn || !g || g->off || e->once_stale) return NULL;
  key_fill(e, g->now);
  SeqGraph *sg = &g->seq[seq];
  if (!sg->graph || memcmp(sg->key, g->now, g->bytes) != 0) return NULL;
  *stamp = sg->stamp;
  return sg->graph;
}

void graph_free(Exec *e) {
  if (!e->graphs) return;
  graphs_free(e, e->graphs);
  e->graphs = NULL;
}
