#include "autotune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/variant_cost.h"
#include "runtime/device/kcache.h"
#include "stream.h"

/* Median time of `reps` runs of one alternative, synchronized. */
static gmmc_status time_alt(Exec *e, int unit, int alt, int reps, double *ms, char **err) {
  int saved = e->choice[unit];
  e->choice[unit] = alt;
  double t[9];
  if (reps > 9) reps = 9;
  gmmc_status s = exec_run_unit(e, unit, err); /* warm-up */
  if (!s) s = e->be->ops->synchronize(e->be, err);
  for (int r = 0; r < reps && !s; r++) {
    double t0 = monotonic_ms();
    s = exec_run_unit(e, unit, err);
    if (!s) s = e->be->ops->synchronize(e->be, err);
    t[r] = monotonic_ms() - t0;
  }
  e->choice[unit] = saved;
  if (s) return s;
  for (int i = 1; i < reps; i++)
    for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
      double x = t[j];
      t[j] = t[j - 1];
      t[j - 1] = x;
    }
  *ms = t[reps / 2];
  return GMMC_OK;
}

/* Alternatives the cost model (compiler/variant_cost.h) estimates within 4x
 * of its best for the events of this run survive; an unpriced one (the
 * simple alternative) always does. */
static int survives(const TargetDesc *t, LType real, int64_t events, const Unit *u, int a) {
  double best = INFINITY, mine = variant_cost(t, real, &u->alts[a].work, events);
  for (int i = 0; i < u->nalts; i++) {
    double c = variant_cost(t, real, &u->alts[i].work, events);
    if (c > 0) best = fmin(best, c);
  }
  return !(mine > 0 && isfinite(best) && mine > 4 * best);
}

/* GMMC_FUSE=1: every sequence fused whatever the measurements say (for
 * benchmarks and tests); -1: measured (GMMC_FUSE=auto). */
static int fusion_forced(void) {
  const char *v = getenv("GMMC_FUSE");
  return v && strcmp(v, "1") == 0 ? 1 : -1;
}

int autotune_fusion_lowered(void) {
  const char *v = getenv("GMMC_FUSE");
  return v && (strcmp(v, "1") == 0 || strcmp(v, "auto") == 0);
}

/* The fusion groups of one sequence run fused or unfused together (a fused
 * group leaves unwritten what an unfused one would read: compiler/fuse.h):
 * fused, each group in its fastest fused alternative, when their times
 * add up to less than the unfused ones'. */
static void choose_fusion(const Program *p, UnitTiming *t, int n) {
  int forced = fusion_forced();
  for (int seq = 0; seq < SEQ_COUNT; seq++) {
    double fused = 0, unfused = 0;
    int any = 0;
    for (int i = 0; i < n; i++) {
      if (p->units[t[i].index].group_seq != seq) continue;
      double best = INFINITY;
      int at = -1;
      for (int a = 1; a < t[i].nalts; a++)
        if (t[i].ms[a] >= 0 && t[i].ms[a] < best) best = t[i].ms[a], at = a;
      t[i].chosen = at > 0 ? at : forced == 1 ? 1 : 0;
      fused += best;
      unfused += t[i].ms[0] >= 0 ? t[i].ms[0] : INFINITY;
      any = 1;
    }
    if (!any) continue;
    int fuse = forced >= 0 ? forced : fused < unfused;
    for (int i = 0; i < n; i++)
      if (p->units[t[i].index].group_seq == seq && !fuse) t[i].chosen = 0;
  }
}

/* Two rounds: every surviving alternative once on a slice of the events
 * (1/64, at least 32768), so that a badly mapped variant costs little; then
 * those within 2x of the fastest, three times on all the events. */
gmmc_status autotune_measure(gmmc_context *ctx, Exec *e, UnitTiming *out, int max_units, int *nout) {
  const Program *p = e->p;
  char *err = NULL;
  int n = 0;
  int64_t full = e->n_local, total = e->n_total;
  gmmc_status ls;
  if (ctx->be->ops->load_more && (ls = ctx->be->ops->load_more(ctx->be, e->bp, p, NULL, &err)))
    return ctx_fail_take(ctx, ls, err);
  int64_t screen = full / 64 > 32768 ? full / 64 : 32768;
  if (screen > full) screen = full;
  for (int u = 0; u < p->nunits && n < max_units; u++) {
    const Unit *un = &p->units[u];
    if (un->nalts < 2) continue;
    UnitTiming *t = &out[n++];
    t->unit = un->name;
    t->index = u;
    t->nalts = un->nalts;
    t->chosen = un->forced >= 0 ? un->forced : 0;
    double first[16], best = INFINITY;
    exec_set_events(e, screen, total);
    for (int a = 0; a < un->nalts; a++) {
      t->variant[a] = un->alts[a].variant;
      t->ms[a] = -1;
      first[a] = INFINITY;
      if (!survives(&ctx->be->target, p->real, full, un, a) && un->forced != a) continue;
      gmmc_status s = time_alt(e, u, a, 1, &first[a], &err);
      if (s) {
        exec_set_events(e, full, total);
        return ctx_fail_take(ctx, s, err);
      }
      best = fmin(best, first[a]);
    }
    exec_set_events(e, full, total);
    double best_full = INFINITY;
    for (int a = 0; a < un->nalts; a++) {
      if (!(first[a] <= 2 * best) && un->forced != a) continue;
      gmmc_status s = screen < full ? time_alt(e, u, a, 3, &t->ms[a], &err) : (t->ms[a] = first[a], GMMC_OK);
      if (s) return ctx_fail_take(ctx, s, err);
      if (t->ms[a] < best_full && un->forced < 0) {
        best_full = t->ms[a];
        t->chosen = a;
      }
    }
    /* in force from now on: a fusion group measured later runs its
     * unfused members as chosen */
    e->choice[u] = t->chosen;
  }
  choose_fusion(p, out, n);
  for (int i = 0; i < n; i++) e->choice[out[i].index] = out[i].chosen;
  *nout = n;
  return GMMC_OK;
}

/* The choices known for a program on this device: one entry per bucket of
 * event counts (a power of two), each the chosen variant of every unit.
 * Stored as [nunits, nentries, (bucket, variant_hash x nunits) x nentries]:
 * by name, so that an entry outlives a change in the number or order of a
 * unit's alternatives; in memory the hashes become alternative indices. */
/* The table's key: of program p, or (p NULL) of the program whose source
 * digest is known before it is lowered. */
static uint64_t table_key(gmmc_context *ctx, const Program *p, uint64_t digest) {
  char target[320];
  snprintf(target, sizeof target, "choices %s", ctx->be->description);
  return p ? kcache_key(p, target) : kcache_digest_key(digest, target);
}

/* The table as stored, checked for shape only; NULL when absent. */
static int *load_raw_table(gmmc_context *ctx, uint64_t key, size_t *size) {
  if (!ctx->be->cache_dir) return NULL;
  int *t = kcache_get(ctx->be->cache_dir, key, "choice", size);
  if (t && (*size < 2 * sizeof(int) || t[0] < 0 || t[1] < 0 ||
            *size != sizeof(int) * (2 + (size_t)t[1] * (1 + (size_t)t[0])))) {
    free(t);
    return NULL;
  }
  return t;
}

/* Entry i of a table: its bucket, then the choice of every unit (t[0] units). */
static int *table_entry(int *t, int i) { return t + 2 + (size_t)i * (1 + (size_t)t[0]); }

/* The unit's alternative whose variant name hashes to h, or -1. */
static int alt_of(const Unit *u, uint32_t h) {
  for (int a = 0; a < u->nalts; a++)
    if (variant_hash(u->alts[a].variant) == h) return a;
  return -1;
}

/* The table with this program's alternative indices; entries naming a
 * variant the program lacks are left out. */
static int *load_table(gmmc_context *ctx, const Program *p, int *nentries) {
  *nentries = 0;
  size_t size = 0;
  int *t = load_raw_table(ctx, table_key(ctx, p, 0), &size);
  if (!t || t[0] != p->nunits) {
    free(t);
    return NULL;
  }
  int kept = 0;
  for (int i = 0; i < t[1]; i++) {
    int *from = table_entry(t, i), *to = table_entry(t, kept), ok = 1;
    to[0] = from[0];
    for (int u = 0; u < p->nunits && ok; u++) ok = (to[1 + u] = alt_of(&p->units[u], (uint32_t)from[1 + u])) >= 0;
    kept += ok;
  }
  *nentries = kept;
  return t;
}

static int bucket_of(int64_t n) {
  int b = 0;
  for (; n > 1; n >>= 1) b++;
  return b;
}

struct KnownChoices {
  int nunits;
  int bucket;
  uint32_t *variant; /* per unit: the hash of the chosen variant */
};

KnownChoices *autotune_known_choices(gmmc_context *ctx, uint64_t digest, int64_t events) {
  if (!digest || events <= 0 || autotune_verifying()) return NULL;
  size_t size = 0;
  int *t = load_raw_table(ctx, table_key(ctx, NULL, digest), &size);
  KnownChoices *k = NULL;
  int bucket = bucket_of(events);
  for (int i = 0; t && i < t[1] && !k; i++) {
    const int *entry = table_entry(t, i);
    if (entry[0] != bucket) continue;
    k = xcalloc(1, sizeof *k);
    uint32_t *variant = xcalloc((size_t)t[0] + 1, sizeof(uint32_t));
    if (!k || !variant) { /* out of memory: as if nothing were known (every variant lowered) */
      free(k);
      free(variant);
      k = NULL;
      break;
    }
    k->nunits = t[0];
    k->bucket = bucket;
    k->variant = variant;
    for (int u = 0; u < t[0]; u++) k->variant[u] = (uint32_t)entry[1 + u];
  }
  free(t);
  return k;
}

int autotune_keep_known(void *known, int unit, uint32_t variant) {
  const KnownChoices *k = known;
  return unit < k->nunits && k->variant[unit] == variant;
}

int autotune_known_lowered(const KnownChoices *k, const Program *p) {
  if (p->nunits != k->nunits) return 0;
  for (int u = 0; u < p->nunits; u++)
    if (alt_of(&p->units[u], k->variant[u]) < 0) return 0;
  return 1;
}

int autotune_known_bucket(const KnownChoices *k) { return k->bucket; }

void autotune_known_free(KnownChoices *k) {
  if (!k) return;
  free(k->variant);
  free(k);
}

unsigned char *autotune_known_mask(gmmc_context *ctx, const Program *p) {
  int n;
  int *t = load_table(ctx, p, &n);
  if (!t) return NULL;
  /* every kernel (those outside units too, as initialisation's), less the
   * alternatives no known choice uses; autotune_apply_known loads the simple
   * ones when the event count has no entry */
  unsigned char *mask = xcalloc((size_t)p->nkernels + 1, 1);
  if (!mask) { /* out of memory: every kernel loaded, as without a table */
    free(t);
    return NULL;
  }
  memset(mask, 1, (size_t)p->nkernels);
  for (int u = 0; u < p->nunits; u++)
    for (int a = 0; a < p->units[u].nalts; a++) {
      int used = 0;
      for (int i = 0; i < n; i++) used |= table_entry(t, i)[1 + u] == a;
      if (used) continue;
      const Alt *c = &p->units[u].alts[a];
      for (int j = 0; j < c->nkernels; j++) mask[c->kernels[j]] = 0;
    }
  free(t);
  return mask;
}

/* Parameters and derived tensors, saved around the measurements: re-running
 * a unit between iterations would otherwise move the EM trajectory. Per-event
 * and statistic buffers are recomputed before the next iteration reads them. */
typedef struct {
  double *v[256];
} Snapshot;

static void snapshot_free(Snapshot *sn) {
  for (int i = 0; i < 256; i++) {
    free(sn->v[i]);
    sn->v[i] = NULL;
  }
}

/* Saves (restore 0) or restores and frees the snapshot; on failure nothing is kept. */
static gmmc_status snapshot(Exec *e, Snapshot *sn, int restore, char **err) {
  const Program *p = e->p;
  gmmc_status s = GMMC_OK;
  for (int i = 0; i < p->nbufs && i < 256 && !s; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM && b->kind != BK_DERIVED) continue;
    if (restore) {
      s = exec_write(e, i, sn->v[i], err);
    } else if (!(sn->v[i] = xmalloc(sizeof(double) * (size_t)(buffer_elems(b, 0) + 1)))) {
      s = oom_status(err, "the parameters saved around autotuning");
    } else {
      s = exec_read(e, i, sn->v[i], err);
    }
  }
  if (restore || s) snapshot_free(sn);
  return s;
}

/* Every alternative against the first (the simple variant), on the unit's
 * output: relative difference to the output's largest magnitude. */
static gmmc_status verify(gmmc_context *ctx, Exec *e, double tol) {
  const Program *p = e->p;
  char *err = NULL;
  gmmc_status s = GMMC_OK;
  for (int u = 0; u < p->nunits && !s; u++) {
    const Unit *un = &p->units[u];
    /* fusion groups agree with their members only as whole sequences
     * (tests/codegen: codegen_variants, codegen_host_variants) */
    if (un->nalts < 2 || un->group_seq >= 0) continue;
    int64_t n = buffer_elems(p->bufs[un->out_buf], e->n_local);
    double *ref = xmalloc(sizeof(double) * (size_t)(n + 1)), *got = xmalloc(sizeof(double) * (size_t)(n + 1));
    if (!ref || !got) {
      free(ref);
      free(got);
      return ctx_oom(ctx, "checking the variants");
    }
    int saved = e->choice[u];
    e->choice[u] = 0;
    s = exec_run_unit(e, u, &err);
    if (!s) s = exec_read(e, un->out_buf, ref, &err);
    double big = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(ref[i]));
    for (int a = 1; a < un->nalts && !s; a++) {
      e->choice[u] = a;
      s = exec_run_unit(e, u, &err);
      if (!s) s = exec_read(e, un->out_buf, got, &err);
      double worst = 0;
      int64_t at = 0;
      for (int64_t i = 0; !s && i < n; i++) {
        /* a result that is zero up to rounding (a single event's scatter)
         * differs only by noise: an absolute floor of 1e-9 */
        double d = fmax(fabs(got[i] - ref[i]) - 1e-9, 0) / (big > 0 ? big : 1);
        if (!(d <= worst)) {
          worst = isnan(d) ? INFINITY : d;
          at = i;
        }
      }
      if (!s && !(worst <= tol))
        s = ctx_fail(ctx, GMMC_ERR_INTERNAL,
                     "variant '%s' of '%s' disagrees with the simple variant: element %lld is %.9g, expected %.9g "
                     "(%.2e of the largest value)",
                     un->alts[a].variant, un->name, (long long)at, got[at], ref[at], worst);
    }
    e->choice[u] = saved;
    free(ref);
    free(got);
  }
  if (s && err) return ctx_fail_take(ctx, s, err);
  return s;
}

static int tunable(const Program *p) {
  int n = 0;
  for (int u = 0; u < p->nunits; u++) n += p->units[u].nalts > 1 && p->units[u].forced < 0;
  return n;
}

/* GMMC_VERIFY_VARIANTS: tune (and check every variant) whatever is cached. */
int autotune_verifying(void) {
  const char *check = getenv("GMMC_VERIFY_VARIANTS");
  return check && *check && strcmp(check, "0") != 0;
}

unsigned char *autotune_stand_in_mask(const Program *p) {
  unsigned char *m = xcalloc((size_t)p->nkernels + 1, 1);
  if (!m) return NULL;               /* out of memory: no stand-ins, every kernel compiled at once */
  memset(m, 1, (size_t)p->nkernels); /* kernels outside units stay */
  for (int u = 0; u < p->nunits; u++)
    for (int a = 0; a < p->units[u].nalts; a++)
      for (int j = 0; j < p->units[u].alts[a].nkernels; j++) m[p->units[u].alts[a].kernels[j]] = 0;
  for (int u = 0; u < p->nunits; u++) {
    const Alt *a = &p->units[u].alts[p->units[u].forced >= 0 ? p->units[u].forced : 0];
    for (int j = 0; j < a->nkernels; j++) m[a->kernels[j]] = 1;
  }
  return m;
}

/* NULL when out of memory: the backend then loads every kernel */
static unsigned char *choice_mask(const Program *p, const int *choice) {
  unsigned char *mask = xcalloc((size_t)p->nkernels + 1, 1);
  if (!mask) return NULL;
  for (int u = 0; u < p->nunits; u++) {
    const Alt *a = &p->units[u].alts[choice[u]];
    for (int j = 0; j < a->nkernels; j++) mask[a->kernels[j]] = 1;
  }
  return mask;
}

/* The background compile of this exec's program is still running. */
static int compiling(gmmc_context *ctx, Exec *e) {
  return ctx->be->ops->pending && ctx->be->ops->pending(ctx->be, e->bp);
}

gmmc_status autotune_poll(gmmc_context *ctx, Exec *e) {
  if (!e->deferred || compiling(ctx, e)) return GMMC_OK;
  unsigned char *mask = choice_mask(e->p, e->deferred);
  char *err = NULL;
  gmmc_status s = ctx->be->ops->load_more(ctx->be, e->bp, e->p, mask, &err);
  free(mask);
  if (s) return ctx_fail_take(ctx, s, err);
  memcpy(e->choice, e->deferred, sizeof(int) * (size_t)e->p->nunits);
  free(e->deferred);
  e->deferred = NULL;
  return GMMC_OK;
}

gmmc_status autotune_apply_known(gmmc_context *ctx, Exec *e, int *applied) {
  const Program *p = e->p;
  *applied = 0;
  if (tunable(p) && !autotune_verifying()) {
    int n, bucket = bucket_of(e->n_local);
    int *table = load_table(ctx, p, &n);
    /* a program lowered for the choices of another bucket than this
     * launch's (streamed chunks) runs those: it has no others */
    int found = 0;
    for (int i = 0; i < n; i++) found |= table_entry(table, i)[0] == bucket;
    if (!found && p->known_bucket) bucket = p->known_bucket - 1;
    for (int i = 0; i < n && !*applied; i++) {
      const int *entry = table_entry(table, i);
      if (entry[0] != bucket) continue;
      for (int u = 0; u < p->nunits; u++)
        if (p->units[u].forced < 0) e->choice[u] = entry[1 + u];
      *applied = 1;
    }
    free(table);
  }
  if (!ctx->be->ops->load_more) return GMMC_OK;
  if (*applied && !ctx->dist && compiling(ctx, e)) {
    /* the choices' kernels compile in the background: the stand-ins (loaded)
     * run until autotune_poll finds them done; a data-parallel fit waits,
     * so that every process runs the same kernels */
    e->deferred = xmalloc(sizeof(int) * (size_t)(p->nunits + 1)); /* NULL: the choices wait for their kernels */
    if (e->deferred) {
      memcpy(e->deferred, e->choice, sizeof(int) * (size_t)p->nunits);
      for (int u = 0; u < p->nunits; u++) e->choice[u] = p->units[u].forced >= 0 ? p->units[u].forced : 0;
    }
  }
  /* the kernels of the choices in force: the cached ones (in case the table
   * grew since the program was loaded), else the simple ones, which the
   * program may have been loaded without (autotune_known_mask) */
  unsigned char *mask = choice_mask(p, e->choice);
  char *err = NULL;
  gmmc_status s = ctx->be->ops->load_more(ctx->be, e->bp, p, mask, &err);
  free(mask);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

gmmc_status autotune_exec(gmmc_context *ctx, Exec *e) {
  const Program *p = e->p;
  /* a program lowered for known choices has only those to run */
  if (!tunable(p) || p->known_bucket) return GMMC_OK;
  int applied = 0, checking = autotune_verifying();
  gmmc_status s;
  if ((s = autotune_apply_known(ctx, e, &applied)) || applied) return s;
  int bucket = bucket_of(e->n_local);
  char *err = NULL;
  /* measuring needs every alternative compiled: the wait for the
   * background compile is compile time */
  double t0 = monotonic_ms();
  if (ctx->be->ops->load_more && (s = ctx->be->ops->load_more(ctx->be, e->bp, p, NULL, &err))) {
    return ctx_fail_take(ctx, s, err);
  }
  ctx->compile_ms += monotonic_ms() - t0;
  Snapshot sn = {{0}};
  s = snapshot(e, &sn, 0, &err);
  if (s) {
    return ctx_fail_take(ctx, s, err);
  }
  if (checking) {
    /* float32 variants sum in other orders than the simple one */
    s = verify(ctx, e, e->p->real == LT_F64 ? 1e-10 : 1e-4);
  }
  UnitTiming t[64];
  int nt = 0;
  if (!s) s = autotune_measure(ctx, e, t, 64, &nt);
  gmmc_status r = snapshot(e, &sn, 1, &err);
  if (s || r) {
    return s ? s : ctx_fail_take(ctx, r, err);
  }
  for (int i = 0; i < nt; i++) e->choice[t[i].index] = t[i].chosen;
  if (ctx->be->cache_dir) {
    /* this bucket's entry into the table as stored, replacing an older one */
    size_t per = 1 + (size_t)p->nunits, size = 0;
    int *raw = load_raw_table(ctx, table_key(ctx, p, 0), &size), nr = raw && raw[0] == p->nunits ? raw[1] : 0;
    int *nt2 = xmalloc(sizeof(int) * (2 + per * (size_t)(nr + 1))), kept = 0;
    if (!nt2) { /* out of memory: the choices are not cached */
      free(raw);
      return GMMC_OK;
    }
    nt2[0] = p->nunits;
    for (int i = 0; i < nr; i++)
      if (table_entry(raw, i)[0] != bucket) memcpy(table_entry(nt2, kept++), table_entry(raw, i), sizeof(int) * per);
    nt2[1] = kept + 1;
    int *entry = table_entry(nt2, kept);
    entry[0] = bucket;
    for (int u = 0; u < p->nunits; u++) entry[1 + u] = (int)variant_hash(p->units[u].alts[e->choice[u]].variant);
    kcache_put(ctx->be->cache_dir, table_key(ctx, p, 0), "choice", nt2, sizeof(int) * (2 + per * (size_t)(kept + 1)));
    free(nt2);
    free(raw);
  }
  return GMMC_OK;
}

/* Timing runs of the variants overwrite stat buffers with one chunk's
 * values when streaming: keep every buffer without the event axis. */
gmmc_status autotune_stream(gmmc_context *ctx, Stream *st) {
  Exec *e = stream_exec(st);
  if (stream_chunks(st) == 1) return autotune_exec(ctx, e);
  const Program *p = e->p;
  double **keep = xcalloc((size_t)p->nbufs + 1, sizeof(double *));
  if (!keep) return ctx_oom(ctx, "the buffers saved around autotuning");
  char *err = NULL;
  gmmc_status s = GMMC_OK;
  for (int i = 0; i < p->nbufs && !s; i++) {
    if (p->bufs[i]->event || p->bufs[i]->kind == BK_STATUS) continue;
    keep[i] = xmalloc(sizeof(double) * (size_t)(buffer_elems(p->bufs[i], 0) + 1));
    s = keep[i] ? exec_read(e, i, keep[i], &err) : oom_status(&err, "the buffers saved around autotuning");
  }
  if (s)
    ctx_fail_take(ctx, s, err);
  else
    s = autotune_exec(ctx, e);
  for (int i = 0; i < p->nbufs; i++) {
    if (!s && keep[i] && (s = exec_write(e, i, keep[i], &err))) ctx_fail_take(ctx, s, err);
    free(keep[i]);
  }
  free(keep);
  return s;
}
