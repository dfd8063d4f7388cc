/* The variant registry's cost model (compiler/variant_cost.h): every GPU
 * variant of every shipped spec, at sizes from the benchmark grid, states
 * its work with one launch per kernel and has an estimate in one unit
 * (microseconds on the target), finite and at least its launches, at 10^4
 * and 2^20 events; the simple alternative is unpriced; names are unique
 * within a unit; and the model ranks as its definition says: with the same
 * data traffic, a wider register tile reads less shared memory (the full
 * E-step's 8 x 8 "wide" tiles below the 4 x 4 "balanced" ones). Prints each
 * unit's estimates at 2^20 events and which the autotuner's pruning (within
 * 4x of the best) keeps. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cg_test.h"
#include "compiler/variant_cost.h"
#include "dsl/shipped.h"

typedef struct {
  const char *spec;
  int64_t m, d;
  LType real;
} Case;

static const Case cases[] = {
    {"full", 16, 19, LT_F32},
    {"full", 128, 32, LT_F32},
    {"full", 100, 24, LT_F32},
    {"full", 64, 64, LT_F32},
    {"full", 32, 16, LT_F32},
    {"full", 8, 8, LT_F32},
    {"full", 5, 33, LT_F64},
    {"diag", 128, 32, LT_F32},
    {"diag", 100, 24, LT_F32},
    {"diag", 3, 5, LT_F64},
    {"spherical", 32, 16, LT_F32},
    {"tied", 16, 19, LT_F32},
    {"kmeans", 128, 32, LT_F32},
    {"kmeans", 4, 5, LT_F64},
    /* Flash-GMM's size: the lanes scatter's grid would need 131072 blocks along y */
    {"full", 1024, 128, LT_F64},
};

static int failures;

static TargetDesc target;
static LType real;
enum { EVENTS = 1 << 20 };

static double cost(const Alt *a, int64_t events) { return variant_cost(&target, real, &a->work, events); }

static double best_of(const Unit *u, const char *prefix) {
  double best = INFINITY;
  for (int a = 0; a < u->nalts; a++)
    if (strncmp(u->alts[a].variant, prefix, strlen(prefix)) == 0 && cost(&u->alts[a], EVENTS) < best)
      best = cost(&u->alts[a], EVENTS);
  return best;
}

int main(void) {
  target = target_desc_gpu_default();
  const TargetDesc t = target;
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const Case *cs = &cases[c];
    const ShippedSpec *ss = shipped_spec(cs->spec);
    real = cs->real;
    Spec *s = cg_load(ss->file, ss->text, ss->len);
    LowerOptions o = {.real = cs->real, .target = t, .variants = 1};
    char *err = NULL;
    Program *p = cg_lower(s, (const char *[]){"M", "D"}, (const int64_t[]){cs->m, cs->d}, 2, &o, &err);
    if (!p) {
      printf("FAIL: %s M=%lld D=%lld: %s\n", cs->spec, (long long)cs->m, (long long)cs->d, err);
      return 1;
    }
    printf("%s M=%lld D=%lld %s\n", cs->spec, (long long)cs->m, (long long)cs->d,
           cs->real == LT_F32 ? "float32" : "float64");
    /* every grid within the device's limits where it does not depend on the events */
    for (int k = 0; k < p->nkernels; k++)
      for (int a = 0; a < 3 && p->kernels[k]->launch == LAUNCH_GRID; a++) {
        const LExpr *g = p->kernels[k]->grid[a];
        if (g && g->kind == LX_CONST && g->inum > t.max_grid[a]) {
          printf("  FAIL: kernel %s has %lld blocks along axis %d, the device allows %d\n", p->kernels[k]->name,
                 (long long)g->inum, a, t.max_grid[a]);
          failures++;
        }
      }
    for (int u = 0; u < p->nunits; u++) {
      const Unit *un = &p->units[u];
      if (un->nalts < 2) continue;
      double best = INFINITY;
      for (int a = 1; a < un->nalts; a++) best = fmin(best, cost(&un->alts[a], EVENTS));
      printf("  %-28s", un->name);
      for (int a = 0; a < un->nalts; a++) {
        const Alt *al = &un->alts[a];
        if (a == 0) {
          /* a fusion group's or a run's (merge_runs.h) first alternative
           * runs its members, unpriced too */
          const char *first = al->nmembers ? "unfused" : "simple";
          if (strcmp(al->variant, first) != 0 || cost(al, EVENTS) != 0) {
            printf("\n  FAIL: alternative 0 is '%s' with cost %g (the %s one, unpriced)\n", al->variant,
                   cost(al, EVENTS), first);
            failures++;
          }
          continue;
        }
        printf(" %s %.1f%s", al->variant, cost(al, EVENTS), cost(al, EVENTS) > 4 * best ? " (pruned)" : "");
        if (al->work.launches != al->nkernels) {
          printf("\n  FAIL: %s states %d launches for its %d kernels\n", al->variant, al->work.launches, al->nkernels);
          failures++;
        }
        for (int64_t events = 10000; events <= EVENTS; events += EVENTS - 10000)
          if (!(isfinite(cost(al, events)) && cost(al, events) >= al->nkernels * t.launch_us)) {
            printf("\n  FAIL: %s's estimate %g us at %lld events is not at least its %d launches\n", al->variant,
                   cost(al, events), (long long)events, al->nkernels);
            failures++;
          }
        for (int b = 0; b < a; b++)
          if (strcmp(un->alts[b].variant, al->variant) == 0) {
            printf("\n  FAIL: two alternatives named %s\n", al->variant);
            failures++;
          }
      }
      printf("\n");
      double wide = best_of(un, "wide-"), balanced = best_of(un, "balanced-");
      if (strcmp(cs->spec, "full") == 0 && cs->d >= 16 && isfinite(wide) && isfinite(balanced) && !(wide < balanced)) {
        printf("  FAIL: the 8x8 tiles (%.1f us) are not estimated below the 4x4 ones (%.1f us)\n", wide, balanced);
        failures++;
      }
    }
    program_free(p);
  }
  printf(failures ? "FAILED: %d\n" : "ok\n", failures);
  return failures != 0;
}
