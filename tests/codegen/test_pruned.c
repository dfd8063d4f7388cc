/* A program lowered for choices already made (LowerOptions.keep: the simple
 * variant of every unit and only the chosen others) must hold the very
 * kernels of the full program: same names and the same code digests, so
 * that the kernel cache compiled for tuning serves it. For every shipped
 * spec at several sizes, every alternative of every unit is kept alone, then
 * one of every unit together. The digest must also see what makes code
 * differ (a size, the block size, a statement).
 *
 * Also prints the lowering time, full against pruned (information only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_test.h"
#include "dsl/shipped.h"

typedef struct {
  const char *spec;
  int64_t m, d;
  LType real;
} Case;

static const Case cases[] = {
    {"full", 16, 19, LT_F32}, {"full", 128, 32, LT_F32},   {"full", 64, 64, LT_F32}, {"full", 8, 8, LT_F32},
    {"full", 5, 33, LT_F64},  {"diag", 100, 24, LT_F32},   {"diag", 3, 5, LT_F64},   {"spherical", 32, 16, LT_F32},
    {"tied", 16, 19, LT_F32}, {"kmeans", 128, 32, LT_F32}, {"kmeans", 4, 5, LT_F64},
};

static int failures;

/* keep_user: per unit, the hash kept (0: none but simple; -1 every one). */
static int keep_chosen(void *user, int unit, uint32_t variant) {
  const int64_t *want = user;
  return want[unit] == -1 || (int64_t)variant == want[unit];
}

static Program *lower(const Case *c, int64_t d, const int64_t *want, double *ms) {
  const ShippedSpec *ss = shipped_spec(c->spec);
  Spec *s = cg_load(ss->file, ss->text, ss->len);
  LowerOptions o = {.real = c->real, .target = target_desc_gpu_default(), .variants = 1, .fuse = 1};
  if (want) o.keep = keep_chosen, o.keep_user = (void *)want;
  char *err = NULL;
  double t0 = monotonic_ms();
  Program *p = cg_lower(s, (const char *[]){"M", "D"}, (const int64_t[]){c->m, d}, 2, &o, &err);
  if (ms) *ms = monotonic_ms() - t0;
  if (!p) {
    printf("  FAIL: %s M=%lld D=%lld: lowering failed: %s\n", c->spec, (long long)c->m, (long long)d, err);
    exit(1);
  }
  return p;
}

static int find_kernel(const Program *p, const char *name) {
  for (int i = 0; i < p->nkernels; i++)
    if (strcmp(p->kernels[i]->name, name) == 0) return i;
  return -1;
}

/* Every kernel of the pruned program is the full program's kernel of that name, same code. */
static void check_same_kernels(const Case *c, const Program *full, const Program *pr, const char *what) {
  for (int i = 0; i < pr->nkernels; i++) {
    const Kernel *k = pr->kernels[i];
    int j = find_kernel(full, k->name);
    if (j < 0) {
      printf("  FAIL: %s M=%lld D=%lld (%s): kernel %s is not in the full program\n", c->spec, (long long)c->m,
             (long long)c->d, what, k->name);
      failures++;
    } else if (kernel_code_digest(pr, k) != kernel_code_digest(full, full->kernels[j])) {
      printf("  FAIL: %s M=%lld D=%lld (%s): kernel %s differs from the full program's\n", c->spec, (long long)c->m,
             (long long)c->d, what, k->name);
      failures++;
    }
  }
}

static void check_case(const Case *c) {
  double t_full, t_pruned = 0;
  Program *full = lower(c, c->d, NULL, &t_full);
  int nu = full->nunits, checked = 0;
  int64_t *want = calloc((size_t)nu + 1, sizeof(int64_t));
  for (int u = 0; u < nu; u++)
    for (int a = 1; a < full->units[u].nalts; a++) {
      const char *variant = full->units[u].alts[a].variant;
      memset(want, 0, sizeof(int64_t) * (size_t)nu);
      want[u] = variant_hash(variant);
      Program *pr = lower(c, c->d, want, NULL);
      char what[160];
      snprintf(what, sizeof what, "%s kept for %s", variant, full->units[u].name);
      if (pr->nunits != nu || pr->units[u].nalts != 2 || strcmp(pr->units[u].alts[1].variant, variant) != 0) {
        printf("  FAIL: %s M=%lld D=%lld (%s): the pruned program has %d units, %d alternatives for this one\n",
               c->spec, (long long)c->m, (long long)c->d, what, pr->nunits, u < pr->nunits ? pr->units[u].nalts : -1);
        failures++;
      }
      for (int v = 0; v < pr->nunits && v < nu; v++)
        if (v != u && pr->units[v].nalts != 1) {
          printf("  FAIL: %s (%s): unit %s kept %d alternatives\n", c->spec, what, pr->units[v].name,
                 pr->units[v].nalts);
          failures++;
        }
      check_same_kernels(c, full, pr, what);
      program_free(pr);
      checked++;
    }
  /* the last alternative of every unit at once: the usual tuned program */
  for (int u = 0; u < nu; u++)
    want[u] = full->units[u].nalts > 1 ? variant_hash(full->units[u].alts[full->units[u].nalts - 1].variant) : 0;
  Program *pr = lower(c, c->d, want, &t_pruned);
  check_same_kernels(c, full, pr, "one variant of every unit");
  int kernels_pruned = pr->nkernels;
  program_free(pr);

  /* the digest sees a size, the launch shape and the body */
  Program *other = lower(c, c->d + 1, NULL, NULL);
  const Kernel *k0 = full->kernels[0];
  int j = find_kernel(other, k0->name);
  if (j >= 0 && kernel_code_digest(other, other->kernels[j]) == kernel_code_digest(full, k0)) {
    printf("  FAIL: %s: kernel %s has the same digest at D=%lld and D=%lld\n", c->spec, k0->name, (long long)c->d,
           (long long)c->d + 1);
    failures++;
  }
  program_free(other);
  Kernel *k = full->kernels[full->nkernels - 1];
  uint64_t before = kernel_code_digest(full, k);
  k->block_size *= 2;
  uint64_t resized = kernel_code_digest(full, k);
  k->block_size /= 2;
  ls_append(full, k->body, ls_sync(full));
  uint64_t grown = kernel_code_digest(full, k);
  if (resized == before || grown == before) {
    printf("  FAIL: %s: the digest of %s misses a change of %s\n", c->spec, k->name,
           resized == before ? "block size" : "body");
    failures++;
  }
  printf("%-9s M=%-3lld D=%-3lld %s: %2d alternatives kept alone; lowering %6.2f ms (%d kernels), pruned %5.2f ms (%d "
         "kernels)\n",
         c->spec, (long long)c->m, (long long)c->d, c->real == LT_F32 ? "float32" : "float64", checked, t_full,
         full->nkernels, t_pruned, kernels_pruned);
  free(want);
  program_free(full);
}

int main(void) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(&cases[i]);
  if (failures) {
    printf("%d failures\n", failures);
    return 1;
  }
  printf("all pruned programs hold the full programs' kernels\n");
  return 0;
}
