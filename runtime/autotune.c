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
  if (reps > 9) reps = 9;
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

/* Two rounds: every surviving alternative once on a slice of the events
 * (1/64, at least 32768), so that a badly mapped variant costs little; then
 * those within 2x of the fastest, three times on all the events. */
gmmc_status autotune_measure(gmmc_context *ctx, Exec *e, UnitTiming *out, int max_units, int *nout) {
  const Program *p = e->p;
  char *err = NULL;
  int n = 0;
  int64_t full = e->n_local, total = e->n_total;
  int64_t screen = full / 64 > 32768 ? full / 64 : 32768;
  if (screen > full) screen = full;
  for (int u = 0; u < p->nunits && n < max_units; u++) {
    const Unit *un = &p->units[u];
    if (un->nalts < 2) continue;
    UnitTiming *t = &out[n++];
    t->unit = un->name;
    t->nalts = un->nalts;
    t->chosen = un->forced >= 0 ? un->forced : 0;
    double first[16], best = INFINITY;
    exec_set_events(e, screen, total);
    for (int a = 0; a < un->nalts; a++) {
      t->variant[a] = un->alts[a].variant;
      t->ms[a] = -1;
      first[a] = INFINITY;
      if (!survives(un, a) && un->forced != a) continue;
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

/* Parameters and derived tensors, saved around the measurements: re-running
 * a unit between iterations would otherwise move the EM trajectory. Per-event
 * and statistic buffers are recomputed before the next iteration reads them. */
typedef struct {
  double *v[256];
} Snapshot;

static gmmc_status snapshot(Exec *e, Snapshot *sn, int restore, char **err) {
  const Program *p = e->p;
  for (int i = 0; i < p->nbufs && i < 256; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM && b->kind != BK_DERIVED) continue;
    gmmc_status s;
    if (restore) {
      s = exec_write(e, i, sn->v[i], err);
      free(sn->v[i]);
      sn->v[i] = NULL;
    } else {
      sn->v[i] = xmalloc(sizeof(double) * (size_t)(buffer_elems(b, 0) + 1));
      s = exec_read(e, i, sn->v[i], err);
    }
    if (s) return s;
  }
  return GMMC_OK;
}

/* Every alternative against the first (the simple variant), on the unit's
 * output: relative difference to the output's largest magnitude. */
static gmmc_status verify(gmmc_context *ctx, Exec *e, double tol) {
  const Program *p = e->p;
  char *err = NULL;
  gmmc_status s = GMMC_OK;
  for (int u = 0; u < p->nunits && !s; u++) {
    const Unit *un = &p->units[u];
    if (un->nalts < 2) continue;
    int64_t n = buffer_elems(p->bufs[un->out_buf], e->n_local);
    double *ref = xmalloc(sizeof(double) * (size_t)(n + 1)), *got = xmalloc(sizeof(double) * (size_t)(n + 1));
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

gmmc_status autotune_exec(gmmc_context *ctx, Exec *e) {
  const Program *p = e->p;
  int tunable = 0;
  for (int u = 0; u < p->nunits; u++) tunable += p->units[u].nalts > 1 && p->units[u].forced < 0;
  if (!tunable) return GMMC_OK;
  uint64_t key = choice_key(ctx, e);
  const char *check = getenv("GMMC_VERIFY_VARIANTS");
  int verifying = check && *check && strcmp(check, "0") != 0;
  size_t size = 0;
  int *cached = ctx->be->cache_dir && !verifying ? kcache_get(ctx->be->cache_dir, key, "choice", &size) : NULL;
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
  Snapshot sn = {{0}};
  char *err = NULL;
  gmmc_status s = snapshot(e, &sn, 0, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  if (verifying) {
    /* float32 variants sum in other orders than the simple one */
    s = verify(ctx, e, e->p->real == LT_F64 ? 1e-10 : 1e-4);
  }
  UnitTiming t[64];
  int n = 0;
  if (!s) s = autotune_measure(ctx, e, t, 64, &n);
  gmmc_status r = snapshot(e, &sn, 1, &err);
  if (s) return s;
  if (r) return ctx_fail_take(ctx, r, err);
  for (int i = 0, u = 0; u < p->nunits; u++) {
    if (p->units[u].nalts < 2) continue;
    if (i < n) e->choice[u] = t[i++].chosen;
  }
  if (ctx->be->cache_dir) kcache_put(ctx->be->cache_dir, key, "choice", e->choice, sizeof(int) * (size_t)p->nunits);
  return GMMC_OK;
}
