/* gmmc_fit_many's joined rounds (runtime/fit/fit_many.c) on the host: a fake
 * backend wraps the host one with what the CUDA backend offers there --
 * graphs (launches recorded while capturing, replayed by a graph launch),
 * graph_join with its copies after each member, page-locked memory
 * (host_alloc) -- so that from their third iteration the runs of a round
 * are one joined graph that copies each run's objective and status out,
 * read after one wait. Against the same fits on the host backend, bit for
 * bit:
 * - read all at once, and each run reading its own (GMMC_FIT_MANY_READ=each);
 * - no page-locked memory (host_alloc fails), and graph_join refusing the
 *   copies: each run reads its own;
 * - a builtin failure in a joined round (a status word set after a member's
 *   branch, as a failing Cholesky factor sets it): that fit fails with the
 *   same status and message read at once as read per run, the others
 *   unchanged;
 * - the round's one wait failing: the fits of that round fail with its
 *   message, those done before are unchanged;
 * and every graph and every page-locked allocation released at the end. */
#include "check.h"
#include "compiler/codegen.h"
#include "runtime/exec/compile.h"
#include "runtime/exec/context.h"
#include "stream/fit_compare.h"

enum { D = 3, B = 6 };

typedef struct {
  BackendProgram *bp;
  int k;
  int64_t count, grid[3];
  int gridded;
  uint64_t *args; /* the slots as they were at capture */
} Rec;

typedef struct {
  Rec *recs;
  int n;
} Recs;

/* A captured graph (one member, no copies) or a joined one. */
typedef struct {
  Recs *members;
  int nmembers;
  BackendCopy *copies;
  int ncopies;
} FakeGraph;

typedef struct {
  Backend base; /* first: the ops get &base */
  BackendOps ops;
  Backend *host;
  const gmmc_context *ctx; /* its programs: the argument slots a launch takes */
  int capturing;
  Recs rec;
  void **resets; /* the status buffers reset (fill_u32 of 0x7fffffff) since the last joined launch */
  int nresets;
  int after_joined; /* a joined graph with copies was launched: the next wait is the round's */
  /* injected: host_alloc fails; graph_join fails when given copies; joined
   * launch number status_at (1..) writes status_code into member 0's first
   * status word after its branch; the sync_at-th round's wait fails */
  int fail_host_alloc, fail_join_copies, status_at, sync_at;
  int32_t status_code;
  /* counts */
  int graphs, pinned, joined_launches, copied_launches, waits;
} Fake;

static Fake *fake_of(Backend *be) { return (Fake *)be; }

static int nargs_of(Fake *f, BackendProgram *bp) {
  for (int i = 0; i < f->ctx->ncompiled; i++)
    if (f->ctx->compiled[i]->bp == bp) return program_arg_slots(f->ctx->compiled[i]->p);
  printf("FAIL: a launch of a program the context does not hold\n");
  exit(1);
}

static gmmc_status f_load(Backend *be, const Program *p, const unsigned char *mask, const unsigned char *stand_in,
                          BackendProgram **out, int *cached, char **err) {
  return fake_of(be)->host->ops->load(fake_of(be)->host, p, mask, stand_in, out, cached, err);
}
static void f_unload(Backend *be, BackendProgram *bp) { fake_of(be)->host->ops->unload(fake_of(be)->host, bp); }
static gmmc_status f_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  return fake_of(be)->host->ops->alloc(fake_of(be)->host, bytes, ptr, err);
}
static void f_release(Backend *be, void *ptr) { fake_of(be)->host->ops->release(fake_of(be)->host, ptr); }
static gmmc_status f_upload(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  return fake_of(be)->host->ops->upload(fake_of(be)->host, dst, src, bytes, err);
}
static gmmc_status f_download(Backend *be, void *dst, const void *src, size_t bytes, char **err) {
  return fake_of(be)->host->ops->download(fake_of(be)->host, dst, src, bytes, err);
}
static gmmc_status f_fill_u32(Backend *be, void *dst, uint32_t value, size_t count, char **err) {
  Fake *f = fake_of(be);
  if (value == 0x7fffffffu) {
    f->resets = realloc(f->resets, sizeof *f->resets * (size_t)(f->nresets + 1));
    f->resets[f->nresets++] = dst;
  }
  return f->host->ops->fill_u32(f->host, dst, value, count, err);
}
static gmmc_status f_sync(Backend *be, char **err) {
  Fake *f = fake_of(be);
  if (f->after_joined && ++f->waits == f->sync_at) {
    f->after_joined = 0;
    *err = strdup("injected failure of the round's wait");
    return GMMC_ERR_DEVICE;
  }
  f->after_joined = 0;
  return f->host->ops->synchronize(f->host, err);
}

static gmmc_status f_launch(Backend *be, BackendProgram *bp, int k, int64_t count, const int64_t *grid, uint64_t *args,
                            char **err) {
  Fake *f = fake_of(be);
  if (!f->capturing) return f->host->ops->launch(f->host, bp, k, count, grid, args, err);
  int nargs = nargs_of(f, bp);
  f->rec.recs = realloc(f->rec.recs, sizeof(Rec) * (size_t)(f->rec.n + 1));
  Rec *r = &f->rec.recs[f->rec.n++];
  *r = (Rec){.bp = bp, .k = k, .count = count, .gridded = grid != NULL};
  if (grid) memcpy(r->grid, grid, sizeof r->grid);
  r->args = malloc(sizeof(uint64_t) * (size_t)nargs);
  memcpy(r->args, args, sizeof(uint64_t) * (size_t)nargs);
  return GMMC_OK;
}

static void recs_free(Recs *r) {
  for (int i = 0; i < r->n; i++) free(r->recs[i].args);
  free(r->recs);
  r->recs = NULL;
  r->n = 0;
}

static Recs recs_copy(Fake *f, const Recs *r) {
  Recs c = {malloc(sizeof(Rec) * (size_t)(r->n ? r->n : 1)), r->n};
  for (int i = 0; i < r->n; i++) {
    int nargs = nargs_of(f, r->recs[i].bp);
    c.recs[i] = r->recs[i];
    c.recs[i].args = malloc(sizeof(uint64_t) * (size_t)nargs);
    memcpy(c.recs[i].args, r->recs[i].args, sizeof(uint64_t) * (size_t)nargs);
  }
  return c;
}

static gmmc_status f_capture_begin(Backend *be, char **err) {
  fake_of(be)->capturing = 1;
  return GMMC_OK;
}
static void f_capture_abort(Backend *be) {
  Fake *f = fake_of(be);
  f->capturing = 0;
  recs_free(&f->rec);
}

static FakeGraph *graph_new(Fake *f, int nmembers) {
  FakeGraph *g = calloc(1, sizeof *g);
  g->members = calloc((size_t)nmembers, sizeof *g->members);
  g->nmembers = nmembers;
  f->graphs++;
  return g;
}

static gmmc_status f_capture_end(Backend *be, void **graph, char **err) {
  Fake *f = fake_of(be);
  f->capturing = 0;
  FakeGraph *g = graph_new(f, 1);
  g->members[0] = f->rec; /* taken over */
  f->rec = (Recs){0};
  *graph = g;
  return GMMC_OK;
}

static void f_graph_destroy(Backend *be, void *graph) {
  FakeGraph *g = graph;
  for (int i = 0; i < g->nmembers; i++) recs_free(&g->members[i]);
  free(g->members);
  free(g->copies);
  free(g);
  fake_of(be)->graphs--;
}

static gmmc_status f_graph_join(Backend *be, void *const *graphs, int n, const BackendCopy *copies, int ncopies,
                                void **joined, char **err) {
  Fake *f = fake_of(be);
  if (ncopies && f->fail_join_copies) {
    *err = strdup("injected: no copies in a graph");
    return GMMC_ERR_DEVICE;
  }
  FakeGraph *g = graph_new(f, n);
  for (int i = 0; i < n; i++) g->members[i] = recs_copy(f, &((FakeGraph *)graphs[i])->members[0]);
  g->copies = malloc(sizeof *copies * (size_t)(ncopies ? ncopies : 1));
  if (ncopies) memcpy(g->copies, copies, sizeof *copies * (size_t)ncopies); /* copies may be NULL then */
  g->ncopies = ncopies;
  *joined = g;
  return GMMC_OK;
}

static gmmc_status f_graph_launch(Backend *be, void *graph, char **err) {
  Fake *f = fake_of(be);
  FakeGraph *g = graph;
  int joined = g->nmembers > 1, n = f->nresets;
  f->nresets = 0;
  if (joined) f->joined_launches++, f->copied_launches += g->ncopies > 0, f->after_joined = g->ncopies > 0;
  for (int m = 0; m < g->nmembers; m++) {
    for (int i = 0; i < g->members[m].n; i++) {
      Rec *r = &g->members[m].recs[i];
      gmmc_status s = f->host->ops->launch(f->host, r->bp, r->k, r->count, r->gridded ? r->grid : NULL, r->args, err);
      if (s) return s;
    }
    /* member m's status buffer was the m-th of the round's resets (launch_joined's order) */
    if (joined && m == 0 && f->joined_launches == f->status_at && n >= g->nmembers)
      memcpy(f->resets[n - g->nmembers], &f->status_code, sizeof f->status_code);
    for (int c = 0; c < g->ncopies; c++)
      if (g->copies[c].after == m) memcpy(g->copies[c].dst, g->copies[c].src, g->copies[c].bytes);
  }
  return GMMC_OK;
}

static gmmc_status f_host_alloc(Backend *be, size_t bytes, void **ptr, char **err) {
  Fake *f = fake_of(be);
  if (f->fail_host_alloc) {
    *err = strdup("injected: no page-locked memory");
    return GMMC_ERR_OUT_OF_MEMORY;
  }
  *ptr = malloc(bytes);
  f->pinned++;
  return GMMC_OK;
}
static void f_host_free(Backend *be, void *ptr) {
  free(ptr);
  fake_of(be)->pinned--;
}

static void fake_init(Fake *f, gmmc_context *ctx, Backend *host) {
  memset(f, 0, sizeof *f);
  f->base = *host;
  f->host = host;
  f->ctx = ctx;
  f->ops = (BackendOps){.name = "fake",
                        .load = f_load,
                        .unload = f_unload,
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
                        .graph_destroy = f_graph_destroy,
                        .graph_join = f_graph_join,
                        .host_alloc = f_host_alloc,
                        .host_free = f_host_free};
  f->base.ops = &f->ops;
  f->base.graphs = 1;
}

typedef struct {
  int64_t n;
  int m;
  const char *cov;
  int n_init;
} FitSpec;

/* fit 0 (full: a Cholesky factor, whose status a test sets) stops last */
static const FitSpec specs[B] = {{600, 4, "full", 1}, {300, 2, "diag", 1},      {500, 3, "full", 2},
                                 {350, 3, "tied", 1}, {250, 2, "spherical", 1}, {400, 3, "full", 1}};

typedef struct {
  gmmc_model *models[B];
  gmmc_status st[B];
  char msg[B][512];
} Outcome;

static gmmc_data *data[B];
static gmmc_fit_options *opts[B];

static Outcome run(gmmc_context *ctx) {
  Outcome o;
  gmmc_fit_many(ctx, B, (const gmmc_data *const *)data, (const gmmc_fit_options *const *)opts, o.models, o.st);
  for (int i = 0; i < B; i++) {
    const char *e = gmmc_fit_many_error(ctx, i);
    snprintf(o.msg[i], sizeof o.msg[i], "%s", e ? e : "");
  }
  return o;
}

static void outcome_free(Outcome *o) {
  for (int i = 0; i < B; i++) gmmc_model_destroy(o->models[i]);
}

/* Fit i of o against the reference, bit for bit. */
static void same_fit(const Outcome *o, const Outcome *ref, int i, const char *mode) {
  char what[128];
  snprintf(what, sizeof what, "%s: fit %d (%s)", mode, i, specs[i].cov);
  CHECK(o->st[i] == GMMC_OK && o->models[i], "%s: %s", what, o->msg[i]);
  if (o->models[i] && ref->models[i]) failures += tc_compare(o->models[i], ref->models[i], 0, 0, what);
}

/* The fake's use: joined rounds, their copies, nothing left. */
static void counts(const Fake *f, const char *mode, int copied) {
  printf("  %s: %d joined launches, %d with copies, %d rounds' waits\n", mode, f->joined_launches, f->copied_launches,
         f->waits);
  CHECK(f->joined_launches > 3, "%s: %d joined launches", mode, f->joined_launches);
  CHECK(copied ? f->copied_launches == f->joined_launches : f->copied_launches == 0, "%s: %d of %d with copies", mode,
        f->copied_launches, f->joined_launches);
  CHECK(f->graphs == 0 && f->pinned == 0, "%s: %d graphs and %d page-locked allocations left", mode, f->graphs,
        f->pinned);
}

int main(void) {
  uint64_t seed = tc_seed();
  printf("test_fit_many_joined: seed %llu (GMMC_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
         (unsigned long long)seed);
  gmmc_context *ctx;
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST)) {
    printf("FAIL: context: %s\n", gmmc_last_error(ctx));
    return 1;
  }
  double *x[B];
  for (int i = 0; i < B; i++) {
    x[i] = malloc(sizeof(double) * (size_t)(specs[i].n * D));
    tc_mixture(seed + 7919u * (uint64_t)i, specs[i].n, D, specs[i].m, x[i]);
    gmmc_data_wrap(ctx, x[i], GMMC_FLOAT64, specs[i].n, D, &data[i]);
    gmmc_fit_options_create(&opts[i]);
    gmmc_fit_options_set_n_components(opts[i], specs[i].m);
    gmmc_fit_options_set_covariance_type(opts[i], specs[i].cov);
    gmmc_fit_options_set_n_init(opts[i], specs[i].n_init);
    gmmc_fit_options_set_init(opts[i], GMMC_INIT_RANDOM);
    gmmc_fit_options_set_tol(opts[i], 0); /* max_iter iterations: the runs leave the rounds one by one */
    gmmc_fit_options_set_max_iter(opts[i], i == 0 ? 40 : 8 + 4 * i);
    gmmc_fit_options_set_seed(opts[i], seed + (uint64_t)i);
  }
  Outcome ref = run(ctx); /* the host backend */
  for (int i = 0; i < B; i++) CHECK(ref.st[i] == GMMC_OK, "reference fit %d: %s", i, ref.msg[i]);

  Backend *host = ctx_backend(ctx);
  static Fake f;
  static const struct {
    const char *mode, *read;
    int no_pinned, no_copies, copied;
  } ok[] = {{"read at once", NULL, 0, 0, 1},
            {"a read per run (GMMC_FIT_MANY_READ=each)", "each", 0, 0, 0},
            {"no page-locked memory", NULL, 1, 0, 0},
            {"no copies in a graph", NULL, 0, 1, 0}};
  for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
    fake_init(&f, ctx, host);
    f.fail_host_alloc = ok[k].no_pinned, f.fail_join_copies = ok[k].no_copies;
    f.base.profile = k == 0; /* the round report, on stderr */
    if (ok[k].read) setenv("GMMC_FIT_MANY_READ", ok[k].read, 1);
    ctx->be = &f.base;
    Outcome o = run(ctx);
    ctx->be = host;
    unsetenv("GMMC_FIT_MANY_READ");
    for (int i = 0; i < B; i++) same_fit(&o, &ref, i, ok[k].mode);
    counts(&f, ok[k].mode, ok[k].copied);
    outcome_free(&o);
    free(f.resets);
  }

  /* a builtin's failure in the second joined round, read at once and per run */
  Outcome failed[2];
  for (int each = 0; each < 2; each++) {
    fake_init(&f, ctx, host);
    f.status_at = 2, f.status_code = 1;
    if (each) setenv("GMMC_FIT_MANY_READ", "each", 1);
    ctx->be = &f.base;
    failed[each] = run(ctx);
    ctx->be = host;
    unsetenv("GMMC_FIT_MANY_READ");
    const char *mode = each ? "a builtin's failure, a read per run" : "a builtin's failure, read at once";
    counts(&f, mode, !each);
    free(f.resets);
    Outcome *o = &failed[each];
    CHECK(o->st[0] == GMMC_ERR_NUMERIC && strstr(o->msg[0], "fitting failed: ") &&
              strstr(o->msg[0], "not positive definite"),
          "%s: fit 0: status %d: %s", mode, (int)o->st[0], o->msg[0]);
    for (int i = 1; i < B; i++) same_fit(o, &ref, i, mode);
  }
  printf("  fit 0 fails read at once: %s\n", failed[0].msg[0]);
  CHECK(failed[0].st[0] == failed[1].st[0] && !strcmp(failed[0].msg[0], failed[1].msg[0]),
        "fit 0: '%s' read at once, '%s' per run", failed[0].msg[0], failed[1].msg[0]);
  outcome_free(&failed[0]);
  outcome_free(&failed[1]);

  /* the fourth round's wait fails: the fits of that round with it */
  fake_init(&f, ctx, host);
  f.sync_at = 4;
  ctx->be = &f.base;
  Outcome o = run(ctx);
  ctx->be = host;
  counts(&f, "the round's wait failing", 1);
  free(f.resets);
  int nfailed = 0;
  for (int i = 0; i < B; i++) {
    if (!o.st[i]) {
      same_fit(&o, &ref, i, "the round's wait failing");
      continue;
    }
    nfailed++;
    CHECK(o.st[i] == GMMC_ERR_DEVICE && strstr(o.msg[i], "injected failure of the round's wait") && !o.models[i],
          "the round's wait failing: fit %d: status %d: %s", i, (int)o.st[i], o.msg[i]);
  }
  printf("  the round's wait failing: %d fits failed with it\n", nfailed);
  CHECK(nfailed >= 2, "%d fits failed with the round's wait", nfailed);
  outcome_free(&o);

  outcome_free(&ref);
  for (int i = 0; i < B; i++) {
    gmmc_data_destroy(data[i]);
    gmmc_fit_options_destroy(opts[i]);
    free(x[i]);
  }
  gmmc_context_destroy(ctx);
  if (failures) printf("test_fit_many_joined: %d failures (seed %llu)\n", failures, (unsigned long long)seed);
  return failures ? 1 : 0;
}
