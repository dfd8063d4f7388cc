/* A program bound to a backend with its buffers allocated: what the EM driver
 * and the inference calls run. Holds the kernel argument slots (codegen.h). */
#ifndef GMMC_EXEC_H
#define GMMC_EXEC_H

#include "runtime/device/backend.h"
#include "runtime/io/data.h"

typedef struct Exec Exec;
typedef struct ExecGraphs ExecGraphs; /* graph.h */

/* Called at every reduce point of a sequence with the stat buffers that are
 * complete on this process (MPI all-reduces them here). `failed`: the status
 * of a step of this process that failed earlier in the sequence (*err holds
 * its message), else GMMC_OK; the hook still joins the other processes, so
 * that none waits forever, and returns the error every process reports. */
typedef struct {
  gmmc_status (*fn)(void *user, Exec *e, const int *bufs, int nbufs, gmmc_status failed, char **err);
  void *user;
} ReduceHook;

struct Exec {
  Backend *be;
  const Program *p;
  BackendProgram *bp;
  void **dev;           /* device address of every buffer */
  unsigned char *owned; /* allocated here (else borrowed, e.g. mapped data) */
  uint64_t *args;
  int64_t capacity; /* events the per-event buffers hold */
  int64_t n_local, n_total;
  ReduceHook hook;
  int *choice;        /* per unit: the alternative that runs */
  int *deferred;      /* cached choices waiting for their kernels to compile (autotune_poll), or NULL */
  ExecGraphs *graphs; /* sequences captured as backend graphs (graph.h), or NULL */
  int once_stale;     /* the data or a scalar changed since the per-event once buffers were computed */
};

/* Allocates every buffer but the data for up to `capacity` events. */
gmmc_status exec_create(Backend *be, const Program *p, BackendProgram *bp, int64_t capacity, Exec **out, char **err);
void exec_destroy(Exec *e);

/* Events of this launch and of the whole data set (all ranks). */
void exec_set_events(Exec *e, int64_t n_local, int64_t n_total);
void exec_set_scalar(Exec *e, int id, double value);

/* Binds rows [row0, row0 + n_local) of data to the program's data buffer:
 * borrowed when the backend shares host memory and the element type
 * matches, else converted and copied. */
/* Bytes of one value of a buffer's element type. */
size_t exec_elem_size(LType t);
gmmc_status exec_bind_data(Exec *e, const gmmc_data *data, int64_t row0, char **err);
/* Copies count values of src (float32 or float64 in host memory) to the
 * backend's memory at dev as `want` (LT_F32 or LT_F64), converting in
 * slices where the types differ. */
gmmc_status exec_upload_values(Backend *be, void *dev, const void *src, gmmc_dtype dtype, LType want, int64_t count,
                               char **err);
/* A program lowered with weights (LowerOptions.weighted): the buffer of its
 * optional data tensor, which exec_bind_data fills from data->weights; else -1. */
int exec_weight_buffer(const Program *p);

/* Whole-buffer transfers with conversion from/to float64 (or int32). */
gmmc_status exec_write(Exec *e, int buf, const double *values, char **err);
gmmc_status exec_read(Exec *e, int buf, double *values, char **err);
gmmc_status exec_write_i32(Exec *e, int buf, const int32_t *values, char **err);
gmmc_status exec_read_i32(Exec *e, int buf, int32_t *values, char **err);

/* Part of a buffer: `count` elements from element `first`. */
gmmc_status exec_write_range(Exec *e, int buf, int64_t first, int64_t count, const double *values, char **err);

/* The buffer of a spec tensor by name, or -1. */
int exec_find_buffer(const Exec *e, const char *tensor_name);

/* Runs a sequence's steps. After a failing step the remaining units are
 * skipped but the reduce hook is still called (with `failed`). Without a
 * hook, a backend graph may replay the launches (graph.h). */
gmmc_status exec_run(Exec *e, SeqId seq, char **err);
/* The per-event once buffers (the once statements with the event axis:
 * functions of their event's data and the scalars) for the events bound now,
 * when the data or a scalar changed since they were computed; exec_run does
 * it before the sequences that read them. The statistics of the data (once
 * tensors without the event axis) are SEQ_ONCE's alone: stream_once. */
gmmc_status exec_refresh_once(Exec *e, char **err);
gmmc_status exec_run_kernel(Exec *e, int kernel, char **err);
gmmc_status exec_run_unit(Exec *e, int unit, char **err);

/* Builtin failures: reset before a step, then the first failing slot and its
 * code (the component), or -1 when none failed. */
gmmc_status exec_reset_status(Exec *e, char **err);
gmmc_status exec_check_status(Exec *e, int *slot, int *code, char **err);
/* What exec_check_status reads: the status buffer's first
 * exec_status_words(e) int32 words (at most EXEC_STATUS_WORDS); and its
 * verdict on those words copied to the host some other way. */
enum { EXEC_STATUS_WORDS = 64 };
int exec_status_words(const Exec *e);
void exec_status_find(const Exec *e, const int32_t *words, int *slot, int *code);
/* Value i of raw values of type t as exec_read gives it (float64). */
double exec_value(LType t, const void *raw, int64_t i);

#endif
