/* Compile time per specialization (a benchmark, not a test).
 *
 * For each shipped spec at (M, D) in {(16,19), (128,32), (64,64)}, float32,
 * the median over 5 runs of
 *   front end + lowering   spec_load (YAML, parse, checks) + lower_program for
 *                          the GPU, with the options the runtime uses;
 *   LLVM -> PTX            target_emit(TARGET_NVPTX sm_90, EMIT_ASM): LLVM IR
 *                          generation, the O3 pipeline and PTX emission;
 *   host JIT               host_jit_create for the host lowering: LLVM IR,
 *                          O3 for the native CPU and ORC LLJIT machine code.
 *
 * Usage: bench_compile [--runs N] [--variants] [model...]
 *   --variants lowers the GPU program with every applicable variant
 *   (LowerOptions.variants = 1) instead of the runtime's default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg_test.h"
#include "dsl/shipped.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static Program *lower(const ShippedSpec *ss, int64_t m, int64_t d, int host, int variants) {
  Spec *s = cg_load(ss->file, ss->text, ss->len);
  int64_t *sizes = calloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  for (int i = 0; i < s->sizes.len; i++) {
    const char *nm = spec_size(s, i)->name;
    sizes[i] = strcmp(nm, "M") == 0 ? m : strcmp(nm, "D") == 0 ? d : 1;
  }
  char *err = NULL;
  Program *p = lower_program(s, sizes, &(LowerOptions){.real = LT_F32, .host = host, .variants = variants}, &err);
  free(sizes);
  if (!p) {
    fprintf(stderr, "%s M=%lld D=%lld: lowering failed: %s\n", ss->name, (long long)m, (long long)d, err);
    exit(1);
  }
  return p;
}

int main(int argc, char **argv) {
  int runs = 5, variants = 0;
  const char *only[16];
  int nonly = 0;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
      runs = atoi(argv[++a]);
    else if (strcmp(argv[a], "--variants") == 0)
      variants = 1;
    else if (nonly < 16)
      only[nonly++] = argv[a];
  }
  if (runs < 1) runs = 1;
  llvm_init_once();
  static const int64_t md[][2] = {{16, 19}, {128, 32}, {64, 64}};
  printf("compile time per specialization, float32, median of %d runs (ms)%s\n", runs,
         variants ? ", GPU lowering with every variant" : "");
  printf("%-14s %4s %3s %7s | %13s %13s %9s | %9s %8s\n", "spec", "M", "D", "kernels", "front+lower", "LLVM->PTX",
         "PTX KiB", "host JIT", "kernels");
  for (int si = 0; si < shipped_spec_count; si++) {
    const ShippedSpec *ss = &shipped_specs[si];
    int wanted = nonly == 0;
    for (int i = 0; i < nonly; i++) wanted |= strcmp(only[i], ss->name) == 0;
    if (!wanted) continue;
    for (int zi = 0; zi < 3; zi++) {
      double *tf = calloc((size_t)runs, sizeof(double)), *tp = calloc((size_t)runs, sizeof(double)),
             *th = calloc((size_t)runs, sizeof(double));
      int nk = 0, nkh = 0;
      size_t ptx_len = 0;
      for (int r = 0; r < runs; r++) {
        double t0 = monotonic_ms();
        Program *p = lower(ss, md[zi][0], md[zi][1], 0, variants);
        double t1 = monotonic_ms();
        char *err = NULL;
        TargetOptions to = {.kind = TARGET_NVPTX, .arch = "sm_90"};
        char *ptx = target_emit(p, &to, EMIT_ASM, &err);
        double t2 = monotonic_ms();
        if (!ptx) {
          fprintf(stderr, "%s: PTX emission failed: %s\n", ss->name, err);
          return 1;
        }
        ptx_len = strlen(ptx);
        nk = p->nkernels;
        free(ptx);
        program_free(p);
        Program *hp = lower(ss, md[zi][0], md[zi][1], 1, 0);
        double t3 = monotonic_ms();
        HostJit *j = host_jit_create(hp, NULL, NULL, 0, NULL, NULL, &err);
        double t4 = monotonic_ms();
        if (!j) {
          fprintf(stderr, "%s: host JIT failed: %s\n", ss->name, err);
          return 1;
        }
        nkh = hp->nkernels;
        host_jit_free(j);
        program_free(hp);
        tf[r] = t1 - t0;
        tp[r] = t2 - t1;
        th[r] = t4 - t3;
      }
      printf("%-14s %4lld %3lld %7d | %13.1f %13.1f %9.1f | %9.1f %8d\n", ss->name, (long long)md[zi][0],
             (long long)md[zi][1], nk, median(tf, runs), median(tp, runs), (double)ptx_len / 1024.0, median(th, runs),
             nkh);
      fflush(stdout);
      free(tf);
      free(tp);
      free(th);
    }
  }
  return 0;
}
