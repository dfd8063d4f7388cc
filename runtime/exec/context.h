/* The context behind gmmc_context: backend, compiled-program cache, last
 * error, warning handler. Internal helpers shared by the API files. */
#ifndef GMMC_CONTEXT_H
#define GMMC_CONTEXT_H

#include "dist.h"
#include "exec.h"
#include "gmmc/gmmc.h"
#include "runtime/device/backend.h"

/* A program compiled for this context's backend, reused across calls
 * (compile.h makes them, the context releases them). */
typedef struct {
  uint64_t key;
  Program *p;
  BackendProgram *bp;
  double compile_ms; /* 0 when it came from a cache */
} Compiled;

struct gmmc_context {
  gmmc_backend kind; /* GMMC_BACKEND_HOST or GMMC_BACKEND_CUDA once created */
  Backend *be;
  char *error;
  char error_short[200]; /* the message when error could not be allocated */
  char *note;            /* why AUTO chose the host, if it did */
  char *cache_dir;
  int threads;
  char *host_cpu; /* the host backend's CPU (compiler/host_cpu.h), NULL: native */
  gmmc_message_fn warn;
  void *warn_user;
  Compiled **compiled;
  int ncompiled;
  int n_compiled, n_cached; /* specializations compiled / taken from the disk cache */
  double compile_ms;        /* time spent compiling */
  Dist *dist;               /* the processes of a data-parallel fit (MPI), NULL when alone */
  int profile;              /* GMMC_PROFILE set: timings on stderr */
  int every_variant;        /* load every variant even when choices are cached (gmmc bench) */
  char **many_errors;       /* the last gmmc_fit_many's per-fit messages (NULL: that fit succeeded) */
  int nmany_errors;
};

/* gmmc_context_create with a device ordinal (< 0: $GMMC_DEVICE, else 0) and
 * host threads (0: one per CPU); what gmmc_context_create_mpi builds on. */
gmmc_status ctx_create(gmmc_context **out, gmmc_backend backend, int device, int threads);

/* With a Dist: every process learns whether one failed; the failure of the
 * lowest rank, with its message, becomes every process's last error.
 * vals[0..n) are max-reduced on the way. Alone: returns s. */
gmmc_status ctx_agree(gmmc_context *ctx, gmmc_status s, double *vals, int n);

/* Records the message (printf-style) as the last error and returns s. */
gmmc_status ctx_fail(gmmc_context *ctx, gmmc_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, taking a malloc'd message (NULL: it could not be allocated). */
gmmc_status ctx_fail_take(gmmc_context *ctx, gmmc_status s, char *msg);
/* Records GMMC_ERR_OUT_OF_MEMORY for the allocation that just failed
 * (alloc_last_failure: its size and site), made for `what`. */
gmmc_status ctx_oom(gmmc_context *ctx, const char *what);
void ctx_warn(gmmc_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The backend the context runs on, for code outside the library that makes
 * its own execs (gmmc bench). */
Backend *ctx_backend(const gmmc_context *ctx);

#endif
