/* What loading kernels costs the CUDA driver: many one-kernel modules
 * against one module holding them all (a question for the kernel cache's
 * layout, docs/performance.md). Built and run on a GPU host by
 * tests/gpu/jit_profile.sh:
 *
 *   module_load_probe ALL.ptx CUBIN...
 *
 * ALL.ptx (`gmmc compile ... --emit ptx`: every kernel of a program) is
 * linked to one cubin first, untimed; then, five times each, the CUBINs are
 * loaded as separate modules and the linked image as one module, every
 * function made ready (cuFuncLoad: lazy loading would defer the work to the
 * first launch). Prints the median of each and the cost per module and per
 * function. */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void check(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS) return;
  const char *s = "?";
  cuGetErrorString(r, &s);
  fprintf(stderr, "module_load_probe: %s: %s\n", what, s);
  exit(1);
}

static void *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  if (fread(b, 1, *n, f) != *n) exit(1);
  b[*n] = 0;
  fclose(f);
  return b;
}

/* Loads the images as modules with every function ready; returns the
 * milliseconds and counts the functions. */
static double load_all(void **images, int n, CUmodule *mods, unsigned *functions) {
  double t0 = now_ms();
  *functions = 0;
  for (int i = 0; i < n; i++) {
    check(cuModuleLoadData(&mods[i], images[i]), "cuModuleLoadData");
    unsigned count;
    check(cuModuleGetFunctionCount(&count, mods[i]), "cuModuleGetFunctionCount");
    CUfunction fns[256];
    if (count > 256) count = 256;
    check(cuModuleEnumerateFunctions(fns, count, mods[i]), "cuModuleEnumerateFunctions");
    for (unsigned f = 0; f < count; f++) check(cuFuncLoad(fns[f]), "cuFuncLoad");
    *functions += count;
  }
  double t = now_ms() - t0;
  for (int i = 0; i < n; i++) cuModuleUnload(mods[i]);
  return t;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: module_load_probe ALL.ptx CUBIN...\n");
    return 2;
  }
  CUdevice dev;
  CUcontext ctx;
  check(cuInit(0), "cuInit");
  check(cuDeviceGet(&dev, 0), "cuDeviceGet");
  check(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");

  size_t n;
  char *ptx = read_all(argv[1], &n);
  CUlinkState link;
  void *image;
  size_t size;
  double t0 = now_ms();
  check(cuLinkCreate(0, NULL, NULL, &link), "cuLinkCreate");
  check(cuLinkAddData(link, CU_JIT_INPUT_PTX, ptx, n + 1, "all.ptx", 0, NULL, NULL), "cuLinkAddData");
  check(cuLinkComplete(link, &image, &size), "cuLinkComplete");
  printf("linked %s: %zu bytes of cubin in %.1f ms\n", argv[1], size, now_ms() - t0);

  int ncubins = argc - 2;
  void **cubins = malloc(sizeof(void *) * (size_t)ncubins);
  size_t bytes = 0;
  for (int i = 0; i < ncubins; i++) {
    cubins[i] = read_all(argv[2 + i], &n);
    bytes += n;
  }
  CUmodule *mods = malloc(sizeof(CUmodule) * (size_t)ncubins);
  double sep[REPS], one[REPS];
  unsigned fsep = 0, fone = 0;
  for (int r = 0; r < REPS; r++) {
    sep[r] = load_all(cubins, ncubins, mods, &fsep);
    one[r] = load_all(&image, 1, mods, &fone);
  }
  qsort(sep, REPS, sizeof(double), by_value);
  qsort(one, REPS, sizeof(double), by_value);
  printf("separate: %d modules (%zu bytes), %u functions: %.3f ms (%.1f us per module)\n", ncubins, bytes, fsep,
         sep[REPS / 2], 1e3 * sep[REPS / 2] / ncubins);
  printf("one module: %zu bytes, %u functions: %.3f ms (%.1f us per function)\n", size, fone, one[REPS / 2],
         1e3 * one[REPS / 2] / (fone ? fone : 1));
  cuLinkDestroy(link);
  cuDevicePrimaryCtxRelease(dev);
  return 0;
}
