/* Host CPU names: native, or an x86-64 psABI level checked against what
 * this machine has (host_cpu.h). */
#include "host_cpu.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/util.h"

/* Each level with the features it adds to the one before, in LLVM's names:
 * a machine runs a level when its feature list has all of them. */
static const struct {
  const char *name;
  const char *adds;
} levels[] = {
    {"x86-64", "sse2"},
    {"x86-64-v2", "cx16 popcnt sse3 sse4.1 sse4.2 ssse3 sahf"},
    {"x86-64-v3", "avx avx2 bmi bmi2 f16c fma lzcnt movbe xsave"},
    {"x86-64-v4", "avx512f avx512bw avx512cd avx512dq avx512vl"},
};
enum { NLEVELS = sizeof levels / sizeof *levels };

static int has_feature(const char *features, const char *f, size_t len) {
  /* the list is "+sse2,-avx512fp16,+avx2,...": look for ",+f," at a boundary */
  size_t n = strlen(features);
  for (size_t i = 0; i + len + 1 <= n; i++)
    if ((i == 0 || features[i - 1] == ',') && features[i] == '+' && strncmp(features + i + 1, f, len) == 0 &&
        (features[i + 1 + len] == ',' || features[i + 1 + len] == 0))
      return 1;
  return 0;
}

static int level_index(const char *name) {
  for (int l = 0; l < NLEVELS; l++)
    if (strcmp(name, levels[l].name) == 0) return l;
  return -1;
}

int host_cpu_lacks(const char *features, const char *level, char *name, size_t cap) {
  int upto = level_index(level);
  for (int l = 0; l <= upto; l++)
    for (const char *p = levels[l].adds; *p;) {
      size_t len = strcspn(p, " ");
      if (!has_feature(features, p, len)) {
        snprintf(name, cap, "%.*s", (int)len, p);
        return 1;
      }
      p += len;
      p += *p == ' ';
    }
  return 0;
}

int host_cpu_resolve(const char *request, int runnable, HostCpu *out, char **err) {
  out->name = out->features = NULL;
  out->level = -1;
  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  int rc = 0;
  if (!request || !*request || strcmp(request, "native") == 0) {
    out->name = xstrdup(cpu);
    out->features = xstrdup(features);
    goto done;
  }
  char lacks[64];
  int level = level_index(request);
  if (level < 0 && runnable) {
    *err = xasprintf("unknown host CPU '%s' (expected native, x86-64, x86-64-v2, x86-64-v3 or x86-64-v4)", request);
    rc = 1;
    goto done;
  }
  if (level >= 0 && runnable) {
    char *triple = LLVMGetDefaultTargetTriple();
    int x86 = strncmp(triple, "x86_64", 6) == 0;
    LLVMDisposeMessage(triple);
    if (!x86 || host_cpu_lacks(features, request, lacks, sizeof lacks)) {
      *err = x86 ? xasprintf("this CPU (%s) cannot run host CPU level '%s': it lacks %s", cpu, request, lacks)
                 : xasprintf("host CPU level '%s' is for x86-64 machines; this one is %s", request, cpu);
      rc = 1;
      goto done;
    }
  }
  out->name = xstrdup(request);
  out->features = xstrdup("");
  out->level = level;
done:
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  if (rc == 0 && (!out->name || !out->features)) {
    host_cpu_free(out);
    *err = NULL;
    return -1;
  }
  return rc;
}

int host_cpu_vector_bytes(const HostCpu *c) {
  if (c->level >= 0) return c->level >= 3 ? 64 : c->level == 2 ? 32 : 16;
  if (has_feature(c->features, "avx512f", 7)) return 64;
  if (has_feature(c->features, "avx", 3)) return 32;
  return 16;
}

void host_cpu_free(HostCpu *c) {
  free(c->name);
  free(c->features);
  c->name = c->features = NULL;
}
