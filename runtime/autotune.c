#include "autotune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcache.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Median time of `reps` runs of one alternative, synchronized. */
static gmmc_status time_alt(Exec *e, int unit, int alt, int reps, double *ms, char **err) {
  int saved = e->choice[unit];
  e->choice[unit] = alt;
  double t[9];
  gmmc_status s = exec_run_unit(e, unit, err); /* warm-up */
  if (!s) s = e->be->ops->synchronize(e->be, err);
  for (int r = 0; r < reps && !s; r++) {
    double t0 = now_ms();
    s = exec_run_unit(e, unit, err);
    if (!s) s = e->be->ops->synchronize(e->be, err);
    t[r] = now_ms() - t0;
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

/* Alternatives the model predicts within 4x of its best survive. */
static int survives(const Unit *u, int a) {
  double best = INFINITY;
  for (int i = 0; i < u->nalts; i++)
    if (u->alts[i].cost > 0) best = fmin(best, u->alts[i].cost);
  return !(u->alts[a].cost > 0 && isfinite(best) && u->alts[a].cost > 4 * best);
}

gmmc_status autotune_measure(gmmc_context *ctx, Exec *e, UnitTiming *out, int max_units, int *nout) {
  const Program *p = e->p;
  char *err = NULL;
  int n = 0;
  for (int u = 0; u < p->nunits && n < max_units; u++) {
    const Unit *un = &p->units[u];
    if (un->nalts < 2) continue;
    UnitTiming *t = &out[n++];
    t->unit = un->name;
    t->nalts = un->nalts;
    double best = INFINITY;
    t->chosen = 0;
    for (int a = 0; a < un->nalts; a++) {
      t->variant[a] = un->alts[a].variant;
      t->ms[a] = -1;
      if (!survives(un, a) && un->forced != a) continue;
      gmmc_status s = time_alt(e, u, a, 5, &t->ms[a], &err);
      if (s) return ctx_fail_take(ctx, s, err);
      if (t->ms[a] < best) {
        best = t->ms[a];
        t->chosen = a;
      }
    }
    if (un->forced >= 0) t->chosen = un->forced;
  }
  *nout = n;
  return GMMC_OK;
}

/* Event counts within a power of two share a choice. */
static uint64_t choice_key(gmmc_context *ctx, Exec *e) {
  int bucket = 0;
  for (int64_t n = e->n_local; n > 1; n >>= 1) bucket++;
  char target[320];
  snprintf(target, sizeof target, "choice %s bucket %d", ctx->be->description, bucket);
  return kcache_key(e->p, target);
}

gmmc_status autotune_exec(gmmc_context *ctx, Exec *e) {
  const Program *p = e->p;
  int tunable = 0;
  for (int u = 0; u < p->nunits; u++) tunable += p->units[u].nalts > 1 && p->units[u].forced < 0;
  if (!tunable) return GMMC_OK;
  uint64_t key = choice_key(ctx, e);
  size_t size = 0;
  int *cached = ctx->be->cache_dir ? kcache_get(ctx->be->cache_dir, key, "choice", &size) : NULL;
  if (cached && size == sizeof(int) * (size_t)p->nunits) {
    int ok = 1;
    for (int u = 0; u < p->nunits; u++) ok &= cached[u] >= 0 && cached[u] < p->units[u].nalts;
    if (ok) {
      memcpy(e->choice, cached, size);
      free(cached);
      return GMMC_OK;
    }
  }
  free(cached);
  UnitTiming t[64];
  int n;
  gmmc_status s = autotune_measure(ctx, e, t, 64, &n);
  if (s) return s;
  for (int i = 0, u = 0; u < p->nunits; u++) {
    if (p->units[u].nalts < 2) continue;
    if (i < n) e->choice[u] = t[i++].chosen;
  }
  if (ctx->be->cache_dir) kcache_put(ctx->be->cache_dir, key, "choice", e->choice, sizeof(int) * (size_t)p->nunits);
  return GMMC_OK;
}
