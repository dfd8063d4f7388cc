/* The graph logic of runtime/exec/graph.c, on the host: a fake backend
 * wraps the host one and, while capturing, records launches instead of
 * running them; a graph launch replays them with the arguments they had
 * then (what a CUDA graph does). Checks that EM iterations replayed as
 * graphs leave every buffer as direct launches do, bit for bit; that a
 * sequence is captured on its second alike run and again when the events
 * change; that a failed capture leaves direct launches; that a launch error
 * while capturing aborts the capture and is returned; that a reduce hook
 * keeps graphs off; that exec_destroy frees the graphs; and that a whole
 * fit whose iterations are joined with the reads of their outcome
 * (runtime/fit/em_joined.c) gives the plain fit's model, with graph_join
 * failing too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen.h"
#include "gmmc/gmmc.h"
#include "runtime/exec/compile.h"
#include "runtime/fit/params.h"

typedef struct {
  BackendProgram *bp;
  int k;
  int64_t count, grid[3];
  int gridded;
  uint64_t *args; /* the slots as they were at capture */
} Rec;

typedef struct FakeGraph FakeGraph;
struct FakeGraph {
  Rec *recs;
  int n;
  /* a joined graph (graph_join): its members replayed in turn, each
   * followed by its copies */
  FakeGraph **members;
  int nmembers;
  BackendCopy *copies;
  int ncopies;
};

typedef struct {
  Backend base; /* first: the ops get &base */
  BackendOps ops;
  Backend *host;
  int nargs;
  int capturing;
  Rec *recs;
  int nrecs;
  int fail_begin, fail_end, fail_launch; /* injected: capture_begin, capture_end, the n-th launch captured (1..) */
  int fail_join;                         /* injected: graph_join fails */
  int direct, captures, aborts, replays, graphs, joins, joined_launches;
} Fake;

#include "check.h"

static Fake *fake_of(Backend *be) { return (Fake *)be; }

/* zeroed: the buffers are compared whole, parts no kernel writes too */
static gmmc_status f_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  Backend *h = fake_of(be)->host;
  gmmc_status s = h->ops->alloc(h, bytes, ptr, err);
  if (!s) memset(*ptr, 0, bytes);
  return s;
}
static void f_release(Backend *be, void *ptr) {
  Backend *h = fake_of(be)->host;
  h->ops->release(h, ptr);
}
static gmmc_status f_upload(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  Backend *h = fake_of(be)->host;
  return h->ops->upload(h, dst, src, bytes, err);
}
static gmmc_status f_download(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  Backend *h = fake_of(be)->host;
  return h->ops->download(h, dst, src, bytes, err);
}
static gmmc_status f_fill_u32(Backend *be, void *dst, uint32_t value, size_t count, char **err) {
  Backend *h = fake_of(be)->host;
  return h->ops->fill_u32(h, dst, value, count, err);
}
static gmmc_status f_sync(Backend *be, char **err) {
  Backend *h = fake_of(be)->host;
  return h->ops->synchronize(h, err);
}

static gmmc_status f_launch(Backend *be, BackendProgram *bp, int k, int64_t count, const int64_t *grid, uint64_t *args,
                            char **err) {
  Fake *f = fake_of(be);
  if (!f->capturing) {
    f->direct++;
    return f->host->ops->launch(f->host, bp, k, count, grid, args, err);
  }
  if (f->fail_launch && f->nrecs + 1 == f->fail_launch) {
    *err = strdup("injected launch failure");
    return GMMC_ERR_DEVICE;
  }
  f->recs = realloc(f->recs, sizeof(Rec) * (size_t)(f->nrecs + 1));
  Rec *r = &f->recs[f->nrecs++];
  *r = (Rec){.bp = bp, .k = k, .count = count, .gridded = grid != NULL};
  if (grid) memcpy(r->grid, grid, sizeof r->grid);
  r->args = malloc(sizeof(uint64_t) * (size_t)f->nargs);
  memcpy(r->args, args, sizeof(uint64_t) * (size_t)f->nargs);
  return GMMC_OK;
}

static void free_recs(Rec *recs, int n) {
  for (int i = 0; i < n; i++) free(recs[i].args);
  free(recs);
}

static gmmc_status f_capture_begin(Backend *be, char **err) {
  Fake *f = fake_of(be);
  if (f->fail_begin) {
    *err = strdup("injected capture_begin failure");
    return GMMC_ERR_DEVICE;
  }
  f->capturing = 1;
  f->nrecs = 0;
  f->recs = NULL;
  return GMMC_OK;
}

static gmmc_status f_capture_end(Backend *be, void **graph, char **err) {
  Fake *f = fake_of(be);
  f->capturing = 0;
  if (f->fail_end) {
    free_recs(f->recs, f->nrecs);
    *err = strdup("injected capture_end failure");
    return GMMC_ERR_DEVICE;
  }
  FakeGraph *g = calloc(1, sizeof *g);
  g->recs = f->recs;
  g->n = f->nrecs;
  *graph = g;
  f->captures++;
  f->graphs++;
  return GMMC_OK;
}

static void f_capture_abort(Backend *be) {
  Fake *f = fake_of(be);
  f->capturing = 0;
  free_recs(f->recs, f->nrecs);
  f->aborts++;
}

static gmmc_status replay(Fake *f, const FakeGraph *g, char **err) {
  for (int i = 0; i < g->n; i++) {
    Rec *r = &g->recs[i];
    gmmc_status s = f->host->ops->launch(f->host, r->bp, r->k, r->count, r->gridded ? r->grid : NULL, r->args, err);
    if (s) return s;
  }
  return GMMC_OK;
}

static gmmc_status f_graph_launch(Backend *be, void *graph, char **err) {
  Fake *f = fake_of(be);
  FakeGraph *g = graph;
  f->replays++;
  if (!g->nmembers) return replay(f, g, err);
  f->joined_launches++;
  for (int m = 0; m < g->nmembers; m++) {
    gmmc_status s = replay(f, g->members[m], err);
    if (s) return s;
    for (int c = 0; c < g->ncopies; c++)
      if (g->copies[c].after == m) memcpy(g->copies[c].dst, g->copies[c].src, g->copies[c].bytes);
  }
  return GMMC_OK;
}

static void graph_free_fake(FakeGraph *g) {
  free_recs(g->recs, g->n);
  for (int m = 0; m < g->nmembers; m++) graph_free_fake(g->members[m]);
  free(g->members);
  free(g->copies);
  free(g);
}

static void f_graph_destroy(Backend *be, void *graph) {
  graph_free_fake(graph);
  fake_of(be)->graphs--;
}

/* graph_join: copies of the members (they may be destroyed after) */
static gmmc_status f_graph_join(Backend *be, void *const *graphs, int n, const BackendCopy *copies, int ncopies,
                                void **joined, char **err) {
  Fake *f = fake_of(be);
  if (f->fail_join) {
    *err = strdup("injected graph_join failure");
    return GMMC_ERR_DEVICE;
  }
  FakeGraph *j = calloc(1, sizeof *j);
  j->members = calloc((size_t)n, sizeof *j->members);
  j->nmembers = n;
  for (int m = 0; m < n; m++) {
    const FakeGraph *src = graphs[m];
    FakeGraph *g = j->members[m] = calloc(1, sizeof *g);
    g->n = src->n;
    g->recs = malloc(sizeof(Rec) * (size_t)(src->n + 1));
    for (int i = 0; i < src->n; i++) {
      g->recs[i] = src->recs[i];
      g->recs[i].args = malloc(sizeof(uint64_t) * (size_t)f->nargs);
      memcpy(g->recs[i].args, src->recs[i].args, sizeof(uint64_t) * (size_t)f->nargs);
    }
  }
  j->copies = malloc(sizeof(BackendCopy) * (size_t)(ncopies + 1));
  if (ncopies) memcpy(j->copies, copies, sizeof(BackendCopy) * (size_t)ncopies);
  j->ncopies = ncopies;
  *joined = j;
  f->joins++;
  f->graphs++;
  return GMMC_OK;
}

static gmmc_status f_host_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  (void)be, (void)err;
  *ptr = calloc(1, bytes);
  return GMMC_OK;
}
static void f_host_free(Backend *be, void *ptr) {
  (void)be;
  free(ptr);
}

static Fake *fake_new(Backend *host, const Program *p) {
  Fake *f = calloc(1, sizeof *f);
  f->base = *host;
  f->host = host;
  f->nargs = program_arg_slots(p);
  f->ops = (BackendOps){.name = "fake",
                        .alloc = f_alloc,
                        .release = f_release,
                        .upload = f_upload,
                        .download = f_download,
                        .fill_u32 = f_fill_u32,
                        .launch = f_launch,
                        .synchronize = f_sync,
                        .capture_begin = f_capture_begin,
                        .capture_end = f_capture_end,
                        .capture_abort = f_capture_abort,
                        .graph_launch = f_graph_launch,
                        .graph_destroy = f_graph_destroy};
  f->base.ops = &f->ops;
  f->base.graphs = 1;
  return f;
}

/* A whole fit on a fake backend: the host's own calls forwarded (they
 * take the host backend itself) */
static gmmc_status f_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                          BackendProgram **out, int *cached, char **err) {
  Backend *h = fake_of(be)->host;
  return h->ops->load(h, p, mask, stand_in, out, cached, err);
}
static void f_unload(Backend *be, BackendProgram *bp) {
  Backend *h = fake_of(be)->host;
  h->ops->unload(h, bp);
}

/* Fits with ctx's backend replaced by b; the model, or NULL (the message printed). */
static gmmc_model *fit_on(gmmc_context *ctx, Backend *b, const gmmc_data *data, const gmmc_fit_options *o) {
  Backend *saved = ctx->be;
  ctx->be = b;
  gmmc_model *m = NULL;
  if (gmmc_fit(ctx, data, o, &m)) printf("  fit: %s\n", gmmc_last_error(ctx));
  ctx->be = saved;
  return m;
}

/* Lower bounds and parameters, bit for bit. */
static int same_model(const gmmc_model *a, const gmmc_model *b) {
  int na, nb, n;
  const double *la = gmmc_model_lower_bounds(a, &na), *lb = gmmc_model_lower_bounds(b, &nb);
  if (na != nb || memcmp(la, lb, sizeof(double) * (size_t)na) != 0) return 0;
  const char *const *names = gmmc_model_param_names(a, &n);
  for (int i = 0; i < n; i++) {
    int ra, rb;
    const int64_t *sa, *sb;
    const double *va = gmmc_model_param(a, names[i], &ra, &sa), *vb = gmmc_model_param(b, names[i], &rb, &sb);
    int64_t count = 1;
    for (int d = 0; d < ra; d++) count *= sa[d];
    if (!va || !vb || ra != rb || memcmp(va, vb, sizeof(double) * (size_t)count) != 0) {
      printf("  parameter %s differs\n", names[i]);
      return 0;
    }
  }
  return 1;
}

static size_t elem_bytes(LType t) { return t == LT_F64 || t == LT_I64 ? 8 : t == LT_BOOL ? 1 : 4; }

/* Every buffer but the data, bit for bit. */
static int same_buffers(const Exec *a, const Exec *b) {
  for (int i = 0; i < a->p->nbufs; i++) {
    const Buffer *buf = a->p->bufs[i];
    if (buf->kind == BK_DATA) continue;
    size_t bytes = (size_t)buffer_elems(buf, a->capacity) * elem_bytes(buf->elem);
    if (memcmp(a->dev[i], b->dev[i], bytes) != 0) {
      printf("  buffer %s differs\n", buf->name);
      return 0;
    }
  }
  return 1;
}

static gmmc_status no_op_hook(void *user, Exec *e, const int *bufs, int nbufs, gmmc_status failed, char **err) {
  return failed;
}

/* Runs SEQ_ITERATE `times` on both execs; the first error, if any. */
static gmmc_status iterate(Exec *ref, Exec *e, int times, char **err) {
  for (int i = 0; i < times; i++) {
    gmmc_status s = exec_run(ref, SEQ_ITERATE, err);
    if (!s) s = exec_run(e, SEQ_ITERATE, err);
    if (s) return s;
  }
  return GMMC_OK;
}

/* Fresh execs on the reference (graphs off) and on f, both with the
 * model's parameters; f's counts from then on. */
static void bound_pair(gmmc_context *ctx, Fake *rf, Fake *f, const Compiled *c, const gmmc_data *data,
                       const gmmc_model *model, Exec **ref, Exec **e) {
  Backend *bes[2] = {&rf->base, &f->base};
  Exec **out[2] = {ref, e};
  for (int i = 0; i < 2; i++) {
    char *err = NULL;
    if (exec_create(bes[i], c->p, c->bp, gmmc_data_rows(data), out[i], &err) ||
        exec_bind_data(*out[i], data, 0, &err) || em_load_params(ctx, *out[i], model)) {
      printf("FAIL: exec: %s\n", err ? err : gmmc_last_error(ctx));
      exit(1);
    }
  }
  f->direct = f->captures = f->aborts = f->replays = 0;
}

int main(void) {
  enum { N = 3000, D = 3, M = 4 };
  static double x[N * D];
  uint64_t state = 12345;
  for (int i = 0; i < N * D; i++) { /* a few clusters: a deterministic LCG */
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (double)(state >> 11) / 9007199254740992.0 + 4.0 * ((i / D) % M);
  }
  gmmc_context *ctx;
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST)) {
    printf("FAIL: context: %s\n", gmmc_last_error(ctx));
    return 1;
  }
  gmmc_data *data;
  gmmc_fit_options *o;
  gmmc_model *model = NULL;
  gmmc_data_wrap(ctx, x, GMMC_FLOAT64, N, D, &data);
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, M);
  gmmc_fit_options_set_init(o, GMMC_INIT_RANDOM);
  gmmc_fit_options_set_max_iter(o, 1);
  if (gmmc_fit(ctx, data, o, &model)) {
    printf("FAIL: fit: %s\n", gmmc_last_error(ctx));
    return 1;
  }
  const Compiled *c = ctx_last_compiled(ctx);
  Backend *host = ctx_backend(ctx);
  char *err = NULL;
  Exec *ref, *e;

  /* replays against direct launches; a capture on the second alike run */
  Fake *f = fake_new(host, c->p), *rf = fake_new(host, c->p);
  rf->base.graphs = 0;
  bound_pair(ctx, rf, f, c, data, model, &ref, &e);
  gmmc_status s = iterate(ref, e, 1, &err);
  int per_run = f->direct;
  CHECK(!s && f->captures == 0 && f->replays == 0 && per_run > 0, "first run: direct (captures %d, replays %d)",
        f->captures, f->replays);
  if (!s) s = iterate(ref, e, 5, &err);
  CHECK(!s && f->captures == 1 && f->replays == 5, "runs 2-6: one capture, five replays (%d, %d)", f->captures,
        f->replays);
  CHECK(f->direct == per_run, "no direct launch after the capture (%d, %d a run)", f->direct, per_run);
  CHECK(same_buffers(ref, e), "replayed iterations differ from direct ones");
  /* other events: the graph's arguments no longer hold */
  exec_set_events(ref, N - 7, N - 7);
  exec_set_events(e, N - 7, N - 7);
  if (!s) s = iterate(ref, e, 3, &err);
  CHECK(!s && f->captures == 2 && f->replays == 7 && f->direct == 2 * per_run,
        "new events: direct, capture, replay (captures %d, replays %d, direct %d)", f->captures, f->replays, f->direct);
  CHECK(same_buffers(ref, e), "after a re-capture");
  exec_destroy(e);
  exec_destroy(ref);
  CHECK(f->graphs == 0, "exec_destroy left %d graphs", f->graphs);

  /* capture_end, then capture_begin failing: direct launches from then on, the same results */
  for (int which = 0; which < 2 && !s; which++) {
    f->fail_end = which == 0;
    f->fail_begin = which == 1;
    bound_pair(ctx, rf, f, c, data, model, &ref, &e);
    s = iterate(ref, e, 4, &err);
    CHECK(!s && f->captures == 0 && f->replays == 0 && f->direct == 4 * per_run && !f->capturing,
          "%s failing: direct (captures %d, direct %d)", which ? "capture_begin" : "capture_end", f->captures,
          f->direct);
    CHECK(same_buffers(ref, e), "after a failed capture");
    exec_destroy(e);
    exec_destroy(ref);
  }
  f->fail_end = f->fail_begin = 0;

  /* a launch failing while capturing: the capture aborted, the error returned */
  f->fail_launch = 2;
  bound_pair(ctx, rf, f, c, data, model, &ref, &e);
  gmmc_status s1 = exec_run(e, SEQ_ITERATE, &err);
  gmmc_status s2 = s1 ? s1 : exec_run(e, SEQ_ITERATE, &err);
  CHECK(!s1 && s2 == GMMC_ERR_DEVICE && err && strstr(err, "injected launch failure"),
        "launch error while capturing: %d, %d, %s", (int)s1, (int)s2, err ? err : "no message");
  CHECK(f->aborts == 1 && !f->capturing && f->captures == 0, "the capture was not aborted (%d)", f->aborts);
  free(err);
  err = NULL;
  s = exec_run(e, SEQ_ITERATE, &err);
  CHECK(!s && f->direct == 2 * per_run && f->aborts == 1, "after the failure: direct (direct %d)", f->direct);
  exec_destroy(e);
  exec_destroy(ref);
  f->fail_launch = 0;

  /* a reduce hook: never a graph */
  bound_pair(ctx, rf, f, c, data, model, &ref, &e);
  e->hook = (ReduceHook){no_op_hook, NULL};
  for (int i = 0; i < 3 && !s; i++) s = exec_run(e, SEQ_ITERATE, &err);
  CHECK(!s && f->captures == 0 && f->direct == 3 * per_run, "with a hook: direct (captures %d)", f->captures);
  exec_destroy(e);
  exec_destroy(ref);

  /* whole fits: from the iteration graph's first replay on, the iteration
   * and the reads of its objective and status words are one joined graph
   * (runtime/fit/em_joined.c): the host's model, bit for bit; with
   * graph_join failing, the plain path and the same model */
  gmmc_fit_options_set_max_iter(o, 12);
  gmmc_fit_options_set_tol(o, 0);
  Fake *jf = fake_new(host, c->p);
  jf->ops.load = f_load;
  jf->ops.unload = f_unload;
  jf->ops.graph_join = f_graph_join;
  jf->ops.host_alloc = f_host_alloc;
  jf->ops.host_free = f_host_free;
  gmmc_model *plain = fit_on(ctx, host, data, o), *joined = fit_on(ctx, &jf->base, data, o);
  CHECK(plain && joined && same_model(plain, joined), "a joined fit differs from the host's");
  CHECK(jf->joins >= 1 && jf->joined_launches >= 12 - 4 && jf->graphs == 0,
        "joined fit: %d joins, %d joined launches of 12 iterations, %d graphs left", jf->joins, jf->joined_launches,
        jf->graphs);
  jf->fail_join = 1;
  jf->joins = jf->joined_launches = 0;
  gmmc_model *unjoined = fit_on(ctx, &jf->base, data, o);
  CHECK(unjoined && plain && same_model(plain, unjoined) && jf->joins == 0 && jf->joined_launches == 0 &&
            jf->replays > 0,
        "graph_join failing: the plain path (%d joined launches, %d replays)", jf->joined_launches, jf->replays);
  gmmc_model_destroy(plain);
  gmmc_model_destroy(joined);
  gmmc_model_destroy(unjoined);
  free(jf);

  if (s) printf("FAIL: %s\n", err ? err : "unknown error");
  free(err);
  free(f);
  free(rf);
  gmmc_model_destroy(model);
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  printf("test_graphs: %d launches a run, %d failures\n", per_run, failures);
  return failures || s ? 1 : 0;
}
