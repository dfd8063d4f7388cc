/* Every host code variant (compiler/variants_host.c) of every shipped spec
 * against the simple alternative of its unit, on the host JIT, on the same
 * fresh random inputs: the results must be the same bits, which is what
 * lets the host autotuner pick any of them without changing a fitted model
 * (docs/limits.md, "Reproducibility"). Sizes break the tiles: feature
 * counts that are not a multiple of a vector (5, 19, 33), event counts
 * below one item and not a multiple of any (37, 1237). A spec of its own
 * (`inner`) puts a min, max and logsumexp over components inside sums over
 * events (host-lanes-sum, with k-means' inertia), one whose zero's sign
 * shows. Every sequence with fusion groups runs fused against itself
 * unfused (the diagonal and spherical Gaussians and k-means must have a
 * host-fused-stream alternative; fewer events than slices, slices of a
 * tile and a part). GMMC_HOST_CPU
 * compiles for an x86-64 level (ctest runs it at v2, v3 and natively).
 *
 *   test_host_variants      (GMMC_TEST_SEED=N replays a run) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "compiler/fuse.h"
#include "dsl/shipped.h"
#include "host_cpu_skip.h"

typedef struct {
  const char *spec;
  int64_t m, d, n;
  LType real;
  int vector_bytes; /* the target description's vector width (host-panel's register tiles follow it) */
  int ties;         /* real buffers hold small integers: equal values everywhere (argmin's first index) */
  const char *text; /* an inline spec named `spec`, else a shipped one */
} Case;

/* near: with ties (dist 0, 1, 2, 3) the minimum is mostly -0 (dist 0) or +0
 * (dist 1), the first in m order, and 1 / min tells them apart */
static const char inner_spec[] = "gmmc: 1\n"
                                 "model: inner\n"
                                 "sizes: [N, M, D]\n"
                                 "indices: {n: N, m: M, d: D}\n"
                                 "data:\n"
                                 "  X: [N, D]\n"
                                 "  v: [N]\n"
                                 "params:\n"
                                 "  centers: [M, D]\n"
                                 "estep:\n"
                                 "  - dist[n,m] = sum(d, sq(X[n,d] - centers[m,d]))\n"
                                 "  - near = sum(n, v[n] * select(1 / min(m, dist[n,m] * (dist[n,m] - 1)) > 0, 1, 2))\n"
                                 "  - far = sum(n, v[n] * max(m, dist[n,m]))\n"
                                 "  - soft = -sum(n, logsumexp(m, -dist[n,m]))\n"
                                 "  - pull[d] = sum(n, X[n,d] * min(m, dist[n,m]))\n"
                                 "outputs:\n"
                                 "  objective: far\n";

/* inner_spec without the weights (a data tensor of one axis keeps a group
 * from fusing): host-fused-stream takes each min, max and logsumexp inside
 * a sum one lane per event */
static const char inner_fused_spec[] = "gmmc: 1\n"
                                       "model: inner_fused\n"
                                       "sizes: [N, M, D]\n"
                                       "indices: {n: N, m: M, d: D}\n"
                                       "data:\n"
                                       "  X: [N, D]\n"
                                       "params:\n"
                                       "  centers: [M, D]\n"
                                       "estep:\n"
                                       "  - dist[n,m] = sum(d, sq(X[n,d] - centers[m,d]))\n"
                                       "  - near = sum(n, select(1 / min(m, dist[n,m] * (dist[n,m] - 1)) > 0, 1, 2))\n"
                                       "  - far = sum(n, max(m, dist[n,m]))\n"
                                       "  - soft = -sum(n, logsumexp(m, -dist[n,m]))\n"
                                       "  - pull[d] = sum(n, X[n,d] * min(m, dist[n,m]))\n"
                                       "outputs:\n"
                                       "  objective: far\n";

static const Case cases[] = {
    {"full", 3, 5, 1237, LT_F32, 16},
    {"full", 8, 19, 1000, LT_F32, 64},
    {"full", 4, 33, 300, LT_F32, 32},
    {"full", 2, 3, 37, LT_F64, 16},
    {"full", 5, 19, 700, LT_F64, 64},
    {"full", 1, 1, 65, LT_F64, 16},
    {"full", 3, 33, 301, LT_F64, 32},
    {"tied", 3, 5, 1237, LT_F32, 64},
    {"tied", 6, 19, 800, LT_F64, 16},
    {"diag", 4, 7, 300, LT_F64, 16},
    {"spherical", 3, 5, 129, LT_F32, 16},
    {"kmeans", 4, 5, 1237, LT_F32, 16},
    {"diag", 64, 33, 1237, LT_F32, 16},
    {"diag", 6, 19, 701, LT_F32, 32},
    {"diag", 9, 21, 333, LT_F64, 64},
    {"kmeans", 7, 3, 517, LT_F32, 32, 1},
    {"kmeans", 5, 2, 203, LT_F64, 64, 1},
    {"diag", 3, 9, 257, LT_F32, 16},
    /* host-fused-stream: fewer events than slices, and slices of a tile and a part */
    {"diag", 17, 5, 45, LT_F64, 32},
    {"spherical", 5, 3, 4099, LT_F64, 64},
    {"kmeans", 9, 7, 777, LT_F64, 16},
};

/* host-lanes-sum: M past whole vectors, chunks of a few tiles and a part,
 * fewer events than chunks, a vector of 16 sums */
static const Case sum_cases[] = {
    {"kmeans", 67, 3, 10001, LT_F32, 64},
    {"kmeans", 67, 4, 2567, LT_F64, 32, 1},
    {"kmeans", 17, 2, 3001, LT_F32, 16, 1},
    {"kmeans", 1, 2, 45, LT_F64, 16},
    {"kmeans", 3, 2, 5, LT_F32, 32},
    {"inner", 5, 3, 2567, LT_F32, 64, 1, inner_spec},
    {"inner", 19, 5, 1237, LT_F64, 32, 0, inner_spec},
    {"inner", 3, 16, 4001, LT_F32, 16, 1, inner_spec},
    {"inner", 33, 2, 700, LT_F64, 64, 1, inner_spec},
    {"inner_fused", 5, 3, 2567, LT_F32, 64, 1, inner_fused_spec},
    {"inner_fused", 19, 5, 1237, LT_F64, 32, 0, inner_fused_spec},
};

static int failures, compared;
/* How a float32 case is lowered besides plainly: host_fast32, or float64 statistics. */
typedef enum { PLAIN, FAST32, STATS64 } Mode;
static Mode mode_now; /* the case being checked (for the messages) */

static const char *case_type(LType real) {
  return real == LT_F64        ? "float64"
         : mode_now == FAST32  ? "float32 host_fast32"
         : mode_now == STATS64 ? "float32 float64-stats"
                               : "float32";
}

static void run_alt(const HostJit *j, const Program *p, Bufs *b, const Alt *a) {
  int ks[256], n = alt_kernel_list(p, a, NULL, ks, 256);
  for (int i = 0; i < n; i++) cg_run_kernel(j, b, ks[i]);
}

/* A sequence with every fusion group's alternative `alt` (a group's last
 * where it has fewer; 0: unfused), the other units' simple ones. */
static void run_sequence(const HostJit *j, const Program *p, Bufs *b, SeqId id, int alt) {
  const Sequence *q = &p->seq[id];
  for (int i = 0; i < q->len; i++) {
    if (q->steps[i].kind != STEP_UNIT) continue;
    const Unit *un = &p->units[q->steps[i].unit];
    run_alt(j, p, b, &un->alts[un->group_seq >= 0 ? (alt < un->nalts ? alt : un->nalts - 1) : 0]);
  }
}

/* Whether some fusion group of the program has a host-fused-stream alternative. */
static int has_fused_stream(const Program *p) {
  for (int u = 0; u < p->nunits; u++)
    for (int a = 0; p->units[u].group_seq >= 0 && a < p->units[u].nalts; a++)
      if (strncmp(p->units[u].alts[a].variant, "stream-", 7) == 0) return 1;
  return 0;
}

/* Every sequence with fusion groups, fused in each configuration, against
 * itself unfused from the same inputs: the same bits. */
static void compare_sequences(const Case *c, const HostJit *j, const Program *p, Bufs *b) {
  void **start = calloc((size_t)p->nbufs + 1, sizeof(void *)), **ref = calloc((size_t)p->nbufs + 1, sizeof(void *));
  for (int i = 0; i < p->nbufs; i++) {
    start[i] = malloc(b->bytes[i] + 1);
    ref[i] = malloc(b->bytes[i] + 1);
    memcpy(start[i], b->buf[i], b->bytes[i]);
  }
  for (int id = 0; id < SEQ_COUNT; id++) {
    int alts = fuse_alternatives(p, (SeqId)id);
    if (alts < 2) continue;
    for (int i = 0; i < p->nbufs; i++) memcpy(b->buf[i], start[i], b->bytes[i]);
    run_sequence(j, p, b, (SeqId)id, 0);
    for (int i = 0; i < p->nbufs; i++) memcpy(ref[i], b->buf[i], b->bytes[i]);
    for (int a = 1; a < alts; a++) {
      for (int i = 0; i < p->nbufs; i++) memcpy(b->buf[i], start[i], b->bytes[i]);
      run_sequence(j, p, b, (SeqId)id, a);
      compared++;
      for (int i = 0; i < p->nbufs; i++) {
        if (!fuse_hands_on(p, (SeqId)id, i) || memcmp(ref[i], b->buf[i], b->bytes[i]) == 0) continue;
        size_t esz = ltype_size(p->bufs[i]->elem);
        int64_t at = 0;
        while (memcmp((char *)ref[i] + at * esz, (char *)b->buf[i] + at * esz, esz) == 0) at++;
        double y = buf_get(b, i, at);
        memcpy(b->buf[i], ref[i], b->bytes[i]);
        printf("  FAIL: %s M=%lld D=%lld N=%lld %s: sequence %d fused (alternative %d) differs from it unfused on %s "
               "at element %lld: %.17g against %.17g\n",
               c->spec, (long long)c->m, (long long)c->d, (long long)c->n, case_type(c->real), id, a, p->bufs[i]->name,
               (long long)at, y, buf_get(b, i, at));
        failures++;
        break;
      }
    }
  }
  for (int i = 0; i < p->nbufs; i++) {
    memcpy(b->buf[i], start[i], b->bytes[i]);
    free(start[i]);
    free(ref[i]);
  }
  free(start);
  free(ref);
}

/* FAST32: LowerOptions.host_fast32 (float32 at float32's width, opt-in);
 * STATS64: float64 statistics (a float32 fit's redo, the precision
 * float64-stats): its kernels must agree among themselves bit for bit as well. */
static void check_case(const Case *c, uint64_t seed, int index, Mode mode) {
  const ShippedSpec *ss = c->text ? NULL : shipped_spec(c->spec);
  Spec *s = ss ? cg_load(ss->file, ss->text, ss->len) : cg_load(c->spec, c->text, strlen(c->text));
  LowerOptions o = {.real = c->real,
                    .host = 1,
                    .variants = 1,
                    .fuse = 1,
                    .target = target_desc_host(1, c->vector_bytes),
                    .host_fast32 = mode == FAST32,
                    .precision = mode == STATS64 ? PRECISION_STATS64 : PRECISION_FLOAT32};
  mode_now = mode;
  char *err = NULL;
  Program *p = cg_lower(s, (const char *[]){"M", "D"}, (const int64_t[]){c->m, c->d}, 2, &o, &err);
  HostJit *j = p ? host_jit_create(p, getenv("GMMC_HOST_CPU"), NULL, 0, NULL, NULL, &err) : NULL;
  if (!j && err && host_level_unavailable(err)) {
    printf("skipped: %s\n", err);
    exit(77);
  }
  if (!j) {
    printf("  FAIL: %s M=%lld D=%lld: %s\n", c->spec, (long long)c->m, (long long)c->d, err ? err : "?");
    failures++;
    free(err);
    if (p) program_free(p);
    return;
  }
  Bufs b;
  bufs_alloc(&b, p, c->n);
  Rng r;
  cg_rng(&r, seed, (uint64_t)index, 0, 0, 0);
  /* every buffer random: each unit reads what it reads from the same values */
  for (int i = 0; i < p->nbufs; i++) {
    int64_t elems = (int64_t)(b.bytes[i] / ltype_size(p->bufs[i]->elem));
    for (int64_t e = 0; e < elems; e++)
      buf_set(&b, i, e, p->bufs[i]->elem == LT_I32 || c->ties ? (double)cg_int(&r, 0, 3) : cg_uniform(&r, -2, 2));
  }
  compare_sequences(c, j, p, &b);
  /* the diagonal and spherical Gaussians and k-means fuse in tiles of host
   * variants (not under host_fast32, whose float32 blocks host-fused keeps) */
  int streamable = strcmp(c->spec, "diag") == 0 || strcmp(c->spec, "spherical") == 0 ||
                   strcmp(c->spec, "kmeans") == 0 || strcmp(c->spec, "inner_fused") == 0;
  if (streamable && mode != FAST32 && !has_fused_stream(p)) {
    printf("  FAIL: %s M=%lld D=%lld %s: no host-fused-stream alternative\n", c->spec, (long long)c->m, (long long)c->d,
           case_type(c->real));
    failures++;
  }
  int lanes_sums = 0; /* host-lanes-sum's alternatives (reductions named rows-W or lanes-TN) */
  for (int u = 0; u < p->nunits; u++) {
    const Unit *un = &p->units[u];
    if (un->group_seq >= 0) continue; /* compared as whole sequences */
    int ob = un->out_buf;
    size_t bytes = b.bytes[ob];
    unsigned char *want = malloc(bytes + 1);
    memset(b.buf[ob], 0xff, bytes); /* NaN: what an alternative leaves unwritten shows */
    run_alt(j, p, &b, &un->alts[0]);
    memcpy(want, b.buf[ob], bytes);
    for (int a = 1; a < un->nalts; a++) {
      memset(b.buf[ob], 0xff, bytes);
      run_alt(j, p, &b, &un->alts[a]);
      compared++;
      const char *v = un->alts[a].variant;
      lanes_sums += p->bufs[ob]->kind == BK_STAT && (strncmp(v, "rows-", 5) == 0 || strncmp(v, "lanes-", 6) == 0);
      if (memcmp(want, b.buf[ob], bytes) != 0) {
        size_t esz = ltype_size(p->bufs[ob]->elem);
        int64_t at = 0;
        while (memcmp(want + at * esz, (unsigned char *)b.buf[ob] + at * esz, esz) == 0) at++;
        double y = buf_get(&b, ob, at);
        memcpy(b.buf[ob], want, bytes);
        double x = buf_get(&b, ob, at);
        printf("  FAIL: %s M=%lld D=%lld N=%lld %s: unit %s, %s differs from simple at element %lld: %.17g "
               "against %.17g\n",
               c->spec, (long long)c->m, (long long)c->d, (long long)c->n, case_type(c->real), un->name,
               un->alts[a].variant, (long long)at, y, x);
        failures++;
      }
    }
    free(want);
  }
  if ((c->text || strcmp(c->spec, "kmeans") == 0) && !lanes_sums) {
    printf("  FAIL: %s M=%lld D=%lld %s: no host-lanes-sum alternative\n", c->spec, (long long)c->m, (long long)c->d,
           case_type(c->real));
    failures++;
  }
  bufs_free(&b);
  host_jit_free(j);
  program_free(p);
}

int main(void) {
  uint64_t seed = cg_seed("test_host_variants");
  int ncases = (int)(sizeof cases / sizeof *cases), nsum = (int)(sizeof sum_cases / sizeof *sum_cases);
  for (int i = 0; i < ncases + nsum; i++) {
    const Case *c = i < ncases ? &cases[i] : &sum_cases[i - ncases];
    check_case(c, seed, i, PLAIN);
    if (c->real == LT_F32) check_case(c, seed, i, FAST32);
    if (c->real == LT_F32) check_case(c, seed, i, STATS64);
  }
  if (compared == 0) {
    printf("FAIL: no host variant was compared\n");
    failures++;
  }
  printf(failures ? "FAILED: %d (%d alternatives compared)\n" : "ok: %d alternatives, the simple one's bits\n",
         failures ? failures : compared, compared);
  return failures != 0;
}
