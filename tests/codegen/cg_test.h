/* Helpers of the codegen tests: a fresh random seed per run (printed;
 * GMMC_TEST_SEED=N replays a run), loading and lowering specs, the buffers of
 * a program and running its kernels single-threaded on the host JIT with the
 * argument slots of compiler/codegen.h. */
#ifndef GMMC_TESTS_CG_TEST_H
#define GMMC_TESTS_CG_TEST_H

#include <stdint.h>

#include "compiler/loopir.h"
#include "compiler/target.h"
#include "runtime/fit/rng.h"

/* ---- random numbers (the runtime's Rng), seeded per test case ---- */
/* The run's seed: GMMC_TEST_SEED if set, else from the clock; printed once. */
uint64_t cg_seed(const char *test);
/* A generator for one test case, from the run's seed and the case's numbers,
 * so that a case replays alike whatever other cases run. */
void cg_rng(Rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
double cg_uniform(Rng *r, double lo, double hi); /* [lo, hi) */
int64_t cg_int(Rng *r, int64_t lo, int64_t hi);  /* [lo, hi] */

/* ---- programs ---- */
/* Loads a shipped or inline spec (exits on an error) and lowers it with
 * sizes given by name ("M", "D", ...); sizes not named get 1. Returns NULL
 * with *err on a lowering error. */
Spec *cg_load(const char *name, const char *text, size_t len);
Program *cg_lower(Spec *s, const char *const *size_names, const int64_t *size_vals, int nsizes, const LowerOptions *opt,
                  char **err);

/* ---- buffers and kernels ---- */
typedef struct {
  const Program *p;
  int64_t n;       /* events (n_local = n_total) */
  void **buf;      /* per buffer */
  size_t *bytes;   /* per buffer */
  double *scalars; /* per ScalarSym: the run-time scalar values */
  uint64_t *args;  /* program_arg_slots(p) slots */
} Bufs;

size_t ltype_size(LType t);
void bufs_alloc(Bufs *b, const Program *p, int64_t n);
void bufs_free(Bufs *b);
/* Fills the argument slots from the buffers and scalars (call after changing either). */
void bufs_args(Bufs *b);
/* Element i of buffer id as a double. */
double buf_get(const Bufs *b, int id, int64_t i);
void buf_set(Bufs *b, int id, int64_t i, double v);
/* Runs kernel k of the program over its whole parallel range, one call. */
/* One unit in the last place of y in float32 (f32) or float64, subnormals included. */
long double cg_ulp(long double y, int f32);
/* The statement assigning `target`, the buffer named `name`; exit when none. */
int cg_find_stmt(const Program *p, const char *target);
int cg_find_buf(const Program *p, const char *name);
/* A spec of size D = 1 lowered for the host and JIT-compiled (the math
 * tests' programs); exits on failure. */
Program *cg_host_program(const char *name, const char *text, size_t len, LType real, HostJit **jit);

void cg_run_kernel(const HostJit *j, Bufs *b, int k);

#endif
