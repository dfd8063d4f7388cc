/* Helpers of the codegen tests: see cg_test.h. */
#include "cg_test.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compiler/codegen.h"

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t cg_seed(const char *test) {
  const char *env = getenv("GMMC_TEST_SEED");
  uint64_t seed;
  if (env && *env) {
    seed = strtoull(env, NULL, 0);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    seed = splitmix(&x) % 1000000000000ULL;
  }
  printf("%s: seed %llu (GMMC_TEST_SEED=%llu replays this run)\n", test, (unsigned long long)seed,
         (unsigned long long)seed);
  fflush(stdout);
  return seed;
}

void cg_rng(Rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t x = seed;
  uint64_t mix[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) x ^= splitmix(&x) + mix[i] * 0x2545f4914f6cdd1dULL;
  rng_seed(r, x);
}

double cg_uniform(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

int64_t cg_int(Rng *r, int64_t lo, int64_t hi) { return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1)); }

/* ---- programs ---- */

Spec *cg_load(const char *name, const char *text, size_t len) {
  char *err = NULL;
  Spec *s = spec_load(name, text, len, &err);
  if (!s) {
    fprintf(stderr, "cannot load spec %s:\n%s\n", name, err);
    exit(1);
  }
  return s;
}

Program *cg_lower(Spec *s, const char *const *size_names, const int64_t *size_vals, int nsizes, const LowerOptions *opt,
                  char **err) {
  int64_t *sizes = calloc((size_t)s->sizes.len + 1, sizeof(int64_t));
  for (int i = 0; i < s->sizes.len; i++) {
    sizes[i] = 1;
    for (int k = 0; k < nsizes; k++)
      if (strcmp(spec_size(s, i)->name, size_names[k]) == 0) sizes[i] = size_vals[k];
  }
  Program *p = lower_program(s, sizes, opt, err);
  free(sizes);
  return p;
}

/* ---- buffers ---- */

size_t ltype_size(LType t) {
  switch (t) {
  case LT_BOOL: return 1;
  case LT_I32:
  case LT_F32: return 4;
  case LT_I64:
  case LT_F64: return 8;
  default: return 0;
  }
}

void bufs_alloc(Bufs *b, const Program *p, int64_t n) {
  memset(b, 0, sizeof *b);
  b->p = p;
  b->n = n;
  b->buf = calloc((size_t)p->nbufs + 1, sizeof(void *));
  b->bytes = calloc((size_t)p->nbufs + 1, sizeof(size_t));
  for (int i = 0; i < p->nbufs; i++) {
    b->bytes[i] = (size_t)buffer_elems(p->bufs[i], n) * ltype_size(p->bufs[i]->elem);
    /* 64-byte aligned, at least one element: the kernels' pointers are declared align 16 */
    size_t sz = (b->bytes[i] + 63) / 64 * 64;
    if (sz == 0) sz = 64;
    b->buf[i] = aligned_alloc(64, sz);
    memset(b->buf[i], 0, sz);
  }
  b->scalars = calloc((size_t)p->spec->scalars.len + 1, sizeof(double));
  for (int i = 0; i < p->spec->scalars.len; i++) b->scalars[i] = spec_scalar(p->spec, i)->value;
  b->args = calloc((size_t)program_arg_slots(p) + 1, sizeof(uint64_t));
  bufs_args(b);
}

void bufs_free(Bufs *b) {
  for (int i = 0; i < b->p->nbufs; i++) free(b->buf[i]);
  free(b->buf);
  free(b->bytes);
  free(b->scalars);
  free(b->args);
  memset(b, 0, sizeof *b);
}

void bufs_args(Bufs *b) {
  const Program *p = b->p;
  int k = 0;
  for (int i = 0; i < p->nbufs; i++) b->args[k++] = (uint64_t)(uintptr_t)b->buf[i];
  b->args[k++] = (uint64_t)b->n; /* n_local */
  b->args[k++] = (uint64_t)b->n; /* n_total */
  for (int i = 0; i < p->spec->scalars.len; i++) memcpy(&b->args[k++], &b->scalars[i], sizeof(double));
}

double buf_get(const Bufs *b, int id, int64_t i) {
  switch (b->p->bufs[id]->elem) {
  case LT_F32: return ((const float *)b->buf[id])[i];
  case LT_F64: return ((const double *)b->buf[id])[i];
  case LT_I32: return ((const int32_t *)b->buf[id])[i];
  case LT_I64: return (double)((const int64_t *)b->buf[id])[i];
  default: abort();
  }
}

void buf_set(Bufs *b, int id, int64_t i, double v) {
  switch (b->p->bufs[id]->elem) {
  case LT_F32: ((float *)b->buf[id])[i] = (float)v; break;
  case LT_F64: ((double *)b->buf[id])[i] = v; break;
  case LT_I32: ((int32_t *)b->buf[id])[i] = (int32_t)v; break;
  case LT_I64: ((int64_t *)b->buf[id])[i] = (int64_t)v; break;
  default: abort();
  }
}

void cg_run_kernel(const HostJit *j, Bufs *b, int k) {
  if (b->p->kernels[k]->launch != LAUNCH_ITEMS) {
    fprintf(stderr, "kernel %s is a GPU grid kernel: the host cannot run it\n", b->p->kernels[k]->name);
    exit(1);
  }
  int64_t count = kernel_count(b->p->kernels[k], b->n);
  if (count < 0) {
    fprintf(stderr, "kernel %s: the trip count is not a count expression\n", b->p->kernels[k]->name);
    exit(1);
  }
  host_jit_kernel(j, k)(b->args, 0, count);
}

int cg_find_stmt(const Program *p, const char *target) {
  for (int i = 0; i < p->nstmts; i++)
    if (strcmp(p->stmt_kernels[i].stmt->targets[0].name, target) == 0) return i;
  fprintf(stderr, "no statement assigns %s\n", target);
  exit(1);
}

int cg_find_buf(const Program *p, const char *name) {
  for (int i = 0; i < p->nbufs; i++)
    if (strcmp(p->bufs[i]->name, name) == 0) return i;
  fprintf(stderr, "no buffer %s\n", name);
  exit(1);
}

Program *cg_host_program(const char *name, const char *text, size_t len, LType real, HostJit **jit) {
  char *err = NULL;
  Spec *s = cg_load(name, text, len);
  Program *p =
      cg_lower(s, (const char *[]){"D"}, (const int64_t[]){1}, 1, &(LowerOptions){.real = real, .host = 1}, &err);
  if (!p) {
    fprintf(stderr, "lowering failed: %s\n", err ? err : "out of memory");
    exit(1);
  }
  *jit = host_jit_create(p, getenv("GMMC_HOST_CPU"), NULL, 0, NULL, NULL, &err);
  if (!*jit) {
    fprintf(stderr, "host JIT failed: %s\n", err ? err : "out of memory");
    exit(1);
  }
  return p;
}

long double cg_ulp(long double y, int f32) {
  y = fabsl(y);
  if (f32) {
    if (y < FLT_MIN) return 0x1p-149L;
    return ldexpl(1.0L, ilogbl(y) - 23);
  }
  if (y < DBL_MIN) return 0x1p-1074L;
  return ldexpl(1.0L, ilogbl(y) - 52);
}
