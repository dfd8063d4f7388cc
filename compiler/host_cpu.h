/* The CPU the host backend compiles for: this machine's own ("native"), or
 * an x86-64 microarchitecture level of the psABI, so that a newer machine
 * runs (and tests) exactly the code an older one runs:
 *   x86-64     SSE2                    (every x86-64)
 *   x86-64-v2  + SSE4.2, SSSE3, POPCNT
 *   x86-64-v3  + AVX2, FMA, BMI2        (Haswell, Zen 1 and later)
 *   x86-64-v4  + AVX-512 F/BW/CD/DQ/VL  (Skylake-X, Zen 4 and later)
 * Chosen by GMMC_HOST_CPU or gmmc_context_set_host_cpu (docs/limits.md:
 * which results are reproducible across machines). */
#ifndef GMMC_HOST_CPU_H
#define GMMC_HOST_CPU_H

#include <stddef.h>

typedef struct {
  char *name;     /* LLVM's CPU name: "znver4", "x86-64-v3" */
  char *features; /* LLVM's feature string: this machine's for native, "" for a level */
  int level;      /* the x86-64 level's index (0: x86-64 ... 3: x86-64-v4), -1 for native or another name */
} HostCpu;

/* request NULL, "" or "native": this machine's CPU. A level: its name. Any
 * other name is refused when `runnable` (code for it is to run here), else
 * passed to LLVM as is (`gmmc compile --target host --arch NAME`). With
 * `runnable`, a level this machine cannot run is refused too (it would die
 * of an illegal instruction). Returns 0, 1 with a malloc'd *err, or -1
 * when out of memory (*err NULL). */
int host_cpu_resolve(const char *request, int runnable, HostCpu *out, char **err);
void host_cpu_free(HostCpu *c);
/* 1 and the first feature of `level` (with those of the levels below it)
 * that an LLVM feature list ("+sse2,-avx512f,...") lacks into name; 0 when
 * it has them all or when level is not a level. */
int host_cpu_lacks(const char *features, const char *level, char *name, size_t cap);
/* The widest vector register the resolved CPU's code may use, in bytes:
 * 64 with AVX-512, 32 with AVX, else 16 (SSE, NEON). */
int host_cpu_vector_bytes(const HostCpu *c);

#endif
