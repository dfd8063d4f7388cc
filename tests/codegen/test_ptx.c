/* The PTX of every shipped spec is accepted by ptxas, and that of the
 * element functions no shipped spec uses (MATH_FNS below).
 *
 * For each shipped spec, sizes (M, D) in {(1,1), (5,7), (16,24)}, float32
 * and float64, lowered for the GPU with every applicable variant
 * (LowerOptions.variants = 1: the grid kernels with shared memory, barriers
 * and warp shuffles too, not only the simple per-item kernels),
 * the PTX from target_emit(TARGET_NVPTX, EMIT_ASM) for the architecture given
 * is written to a temporary file and assembled with `ptxas -arch=ARCH`; the
 * PTX must also hold an `.entry` for every kernel of the program.
 *
 * The float32 full and tied specs (gmm_ and bayesian_) hold the tensor-core E-step (LS_MMA) for
 * sm_80 and later under the precisions 3xtf32 and tf32: its mma.sync must be
 * in the PTX (and ptxas accept it), also at D = 64; under float32 and before
 * sm_80 it must not be.
 *
 * Usage: test_ptx PTXAS ARCH...   (ARCH such as sm_90; PTXAS the path CMake
 * found, or anything not executable). Without an executable ptxas the test
 * exits 77, which CTest reports as skipped (SKIP_RETURN_CODE 77). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg_test.h"
#include "dsl/shipped.h"

static int g_fail, g_files;

/* log1p, digamma and pow, which no shipped spec uses (lgamma: poisson) */
static const char math_fns_text[] = "gmmc: 1\n"
                                    "model: mathfns\n"
                                    "sizes: [N, M, D]\n"
                                    "indices: {n: N, m: M, d: D}\n"
                                    "data:\n"
                                    "  X: [N, D]\n"
                                    "params:\n"
                                    "  a: [M, D]\n"
                                    "estep:\n"
                                    "  - L[n,m] = sum(d, log1p(X[n,d]) + digamma(a[m,d]) + pow(X[n,d], a[m,d]) + "
                                    "lgamma(X[n,d]))\n"
                                    "  - obj = sum(n, max(m, L[n,m]))\n"
                                    "outputs:\n"
                                    "  objective: obj\n";
static const ShippedSpec MATH_FNS = {"mathfns", "mathfns.yaml", math_fns_text, sizeof math_fns_text - 1};

static int has_entry(const char *ptx, const char *name) {
  size_t n = strlen(name);
  for (const char *q = ptx; (q = strstr(q, ".entry ")) != NULL; q += 7) {
    const char *s = q + 7;
    while (*s == ' ') s++;
    if (strncmp(s, name, n) == 0 && (s[n] == '(' || s[n] == ' ' || s[n] == '\n')) return 1;
  }
  return 0;
}

/* ptxas runs in the background, a few at a time, while LLVM makes the next file */
typedef struct {
  FILE *pipe;
  char path[1024], what[160], arch[32];
} Job;
static Job g_jobs[8];
static int g_njobs, g_maxjobs = 1;

static void finish(Job *j) {
  char out[8192];
  size_t len = fread(out, 1, sizeof out - 1, j->pipe);
  out[len] = 0;
  int rc = pclose(j->pipe);
  g_files++;
  if (rc != 0) {
    printf("FAIL %s: ptxas -arch=%s rejects the PTX (exit status %d):\n%s\n  (kept: %s)\n", j->what, j->arch, rc, out,
           j->path);
    g_fail++;
  } else {
    unlink(j->path);
  }
}

static void drain(int keep) {
  while (g_njobs > keep) {
    finish(&g_jobs[0]);
    memmove(&g_jobs[0], &g_jobs[1], sizeof(Job) * (size_t)(g_njobs - 1));
    g_njobs--;
  }
}

static void submit(const char *ptxas, const char *arch, const char *path, const char *what) {
  drain(g_maxjobs - 1);
  Job *j = &g_jobs[g_njobs];
  snprintf(j->path, sizeof j->path, "%s", path);
  snprintf(j->what, sizeof j->what, "%s", what);
  snprintf(j->arch, sizeof j->arch, "%s", arch);
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "'%s' -arch=%s -o /dev/null '%s' 2>&1", ptxas, arch, path);
  j->pipe = popen(cmd, "r");
  if (!j->pipe) {
    printf("FAIL %s: cannot run %s\n", what, ptxas);
    g_fail++;
    return;
  }
  g_njobs++;
}

/* The PTX of the tensor-core variants (variants_mma.c): checked present
 * where they must be, so that the assembly of LS_MMA is not skipped unseen. */
static const char MMA_PTX[] = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";
static const char *const POLY_SPECS[] = {"gmm_diag",           "gmm_spherical", "kmeans",      "bayesian_diag",
                                         "bayesian_spherical", "bernoulli",     "multinomial", "poisson"};

/* "" under float32, else before + the precision's name + after (in a static buffer) */
static const char *precision_suffix(Precision precision, const char *before, const char *after) {
  static char buf[64];
  if (precision == PRECISION_FLOAT32) return "";
  snprintf(buf, sizeof buf, "%s%s%s", before,
           precision == PRECISION_TF32     ? "tf32"
           : precision == PRECISION_3XTF32 ? "3xtf32"
                                           : "float64-stats",
           after);
  return buf;
}

static void check_precision(const char *ptxas, const char *arch, const ShippedSpec *ss, int64_t m, int64_t d,
                            LType real, Precision precision, const char *tmpdir) {
  char what[160];
  snprintf(what, sizeof what, "%s M=%lld D=%lld %s%s %s", ss->name, (long long)m, (long long)d,
           real == LT_F32 ? "float32" : "float64", precision_suffix(precision, " (precision ", ")"), arch);
  char *err = NULL;
  Spec *s = cg_load(ss->file, ss->text, ss->len);
  /* lowered for a device of the architecture's compute capability (the
   * tensor-core variants need 8.0) */
  TargetDesc td = target_desc_gpu_default();
  int sm = atoi(arch + 3);
  target_desc_set_cc(&td, sm / 10, sm % 10);
  Program *p = cg_lower(s, (const char *[]){"M", "D"}, (const int64_t[]){m, d}, 2,
                        &(LowerOptions){.real = real, .precision = precision, .variants = 1, .target = td}, &err);
  if (!p) {
    printf("FAIL %s: lowering: %s\n", what, err);
    free(err);
    g_fail++;
    return;
  }
  TargetOptions to = {.kind = TARGET_NVPTX, .arch = arch};
  char *ptx = target_emit(p, &to, EMIT_ASM, &err);
  if (!ptx) {
    printf("FAIL %s: target_emit: %s\n", what, err);
    free(err);
    g_fail++;
    program_free(p);
    return;
  }
  for (int k = 0; k < p->nkernels; k++)
    if (!has_entry(ptx, p->kernels[k]->name)) {
      printf("FAIL %s: no .entry %s in the PTX\n", what, p->kernels[k]->name);
      g_fail++;
    }
  /* the specs whose E-step is a quadratic form of a matrix per component or shared (the Bayesian ones too) */
  int quadratic = strcmp(ss->name, "gmm_full") == 0 || strcmp(ss->name, "gmm_tied") == 0 ||
                  strcmp(ss->name, "bayesian_full") == 0 || strcmp(ss->name, "bayesian_tied") == 0;
  /* ... and those whose E-step sums a polynomial of degree 1 or 2 in the data (variants_mma_poly.c) */
  int poly = 0;
  for (int i = 0; i < (int)(sizeof POLY_SPECS / sizeof *POLY_SPECS); i++) poly |= strcmp(ss->name, POLY_SPECS[i]) == 0;
  int want_mma = ((quadratic && d >= 2) || poly) && real == LT_F32 && sm >= 80 &&
                 (precision == PRECISION_TF32 || precision == PRECISION_3XTF32);
  if (want_mma != (strstr(ptx, MMA_PTX) != NULL)) {
    printf("FAIL %s: %s %s in the PTX\n", what, MMA_PTX, want_mma ? "missing" : "unexpected");
    g_fail++;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/%s_%lld_%lld_%s%s_%s.ptx", tmpdir, ss->name, (long long)m, (long long)d,
           real == LT_F32 ? "f32" : "f64", precision_suffix(precision, "_", ""), arch);
  FILE *f = fopen(path, "w");
  if (!f || fputs(ptx, f) < 0 || fclose(f) != 0) {
    printf("FAIL %s: cannot write %s\n", what, path);
    g_fail++;
  } else {
    submit(ptxas, arch, path, what);
  }
  free(ptx);
  program_free(p);
}

static void check(const char *ptxas, const char *arch, const ShippedSpec *ss, int64_t m, int64_t d, LType real,
                  const char *tmpdir) {
  check_precision(ptxas, arch, ss, m, d, real, PRECISION_FLOAT32, tmpdir);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PTXAS ARCH...\n", argv[0]);
    return 2;
  }
  const char *ptxas = argv[1];
  if (access(ptxas, X_OK) != 0) {
    printf("SKIPPED: ptxas not found ('%s')\n", ptxas);
    return 77;
  }
  const char *tmp = getenv("TMPDIR");
  char tmpdir[512];
  snprintf(tmpdir, sizeof tmpdir, "%s/gmmc_ptx_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  g_maxjobs = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
  static const int64_t md[][2] = {{1, 1}, {5, 7}, {16, 24}};
  for (int a = 2; a < argc; a++)
    for (int si = 0; si < shipped_spec_count; si++)
      for (int zi = 0; zi < 3; zi++)
        for (int r = 0; r < 2; r++)
          check(ptxas, argv[a], &shipped_specs[si], md[zi][0], md[zi][1], r ? LT_F64 : LT_F32, tmpdir);
  for (int a = 2; a < argc; a++)
    for (int r = 0; r < 2; r++) check(ptxas, argv[a], &MATH_FNS, 5, 7, r ? LT_F64 : LT_F32, tmpdir);
  /* the tensor-core variants, asked for (precision 3xtf32 or tf32): three
   * TF32 products or one, every spec with a quadratic form, and the widest
   * operands they take (D = 64: eight k blocks, 32 accumulators) */
  static const char *const quadratic[] = {"full", "tied", "bayesian_full", "bayesian_tied"};
  for (int a = 2; a < argc; a++) {
    for (int q = 0; q < 4; q++)
      check_precision(ptxas, argv[a], shipped_spec(quadratic[q]), 5, 7, LT_F32, PRECISION_3XTF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("full"), 16, 24, LT_F32, PRECISION_3XTF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("full"), 4, 64, LT_F32, PRECISION_3XTF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("full"), 5, 19, LT_F32, PRECISION_TF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("tied"), 4, 64, LT_F32, PRECISION_TF32, tmpdir);
    /* the polynomial forms on the tensor cores: every such spec, and strips of features under both precisions */
    for (int q = 0; q < (int)(sizeof POLY_SPECS / sizeof *POLY_SPECS); q++)
      check_precision(ptxas, argv[a], shipped_spec(POLY_SPECS[q]), 5, 7, LT_F32, PRECISION_3XTF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("diag"), 64, 150, LT_F32, PRECISION_3XTF32, tmpdir);
    check_precision(ptxas, argv[a], shipped_spec("diag"), 1024, 128, LT_F32, PRECISION_TF32, tmpdir);
    /* float64 statistics: the tiled sums at float64 beside float32 E-steps */
    check_precision(ptxas, argv[a], shipped_spec("full"), 6, 40, LT_F32, PRECISION_STATS64, tmpdir);
    /* past whole rows in shared memory: the staged map in strips, both precisions */
    for (int r = 0; r < 2; r++)
      check_precision(ptxas, argv[a], shipped_spec("diag"), 64, 150, r ? LT_F64 : LT_F32, PRECISION_FLOAT32, tmpdir);
  }
  drain(0);
  if (!g_fail) rmdir(tmpdir);
  printf("codegen_ptx: %d PTX files assembled by %s, %d failures\n", g_files, ptxas, g_fail);
  return g_fail ? 1 : 0;
}
