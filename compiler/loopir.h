/* The loop-nest IR between the checked AST and LLVM IR.
 *
 * A Program is a set of buffers, a set of kernels and the step sequences the
 * EM driver runs. A kernel is a parallel loop over [0, count) whose body is a
 * tree of statements over mutable local variables, loops, loads and stores.
 * How the parallel loop is spread over the hardware (threads on the GPU,
 * thread-pool tasks on the host) is the target's business; everything inside
 * the body is explicit. Variants (variant.h) decide how a statement becomes
 * kernels: which index is parallel, which loops are serial, how a reduction
 * over events is split into partial results and combined. */
#ifndef GMMC_LOOPIR_H
#define GMMC_LOOPIR_H

#include <stdint.h>

#include "dsl/ast.h"
#include "target_desc.h"

typedef enum { LT_VOID, LT_BOOL, LT_I32, LT_I64, LT_F32, LT_F64 } LType;

typedef enum {
  BK_DATA,    /* input events, read-only */
  BK_PARAM,   /* model parameters, persistent */
  BK_DERIVED, /* computed from parameters, persistent */
  BK_EVENT,   /* per-event intermediates, leading axis n_local */
  BK_SMALL,   /* intermediates without the event axis */
  BK_STAT,    /* results of reductions over events (float64); all-reduced across ranks */
  BK_PARTIAL, /* per-chunk partial results of those reductions (float64) */
  BK_STATUS   /* int32 flags written by builtins (first failing component + 1) */
} BufKind;

typedef struct {
  const char *name;
  int id;
  BufKind kind;
  LType elem;
  int rank;
  int64_t dims[GMMC_MAX_RANK + 1]; /* dims[0] is ignored when event: it is n_local */
  int event;                       /* leading axis is the event axis */
  Tensor *tensor;                  /* spec tensor, if any */
  RedOp stat_op;                   /* BK_STAT/BK_PARTIAL: how values combine */
  int once;                        /* a once tensor (SEQ_ONCE computes it): per-event ones are
                                      recomputed whenever the data are bound (exec_refresh_once) */
} Buffer;

/* ---- expressions ----
 * Nodes are never modified once made, so that lx_var and lx_int can hand
 * out one node for every read of a variable and every small integer (the
 * wide variants read them by the thousand); a tree may share subtrees. */
enum { SMALL_INTS = 1024 };
typedef enum {
  LX_CONST,  /* num (real) or inum (integer) */
  LX_VAR,    /* local variable */
  LX_LOAD,   /* buf[idx...] */
  LX_NLOCAL, /* events held by this launch */
  LX_NTOTAL, /* events in the whole data set (all ranks) */
  LX_SCALAR, /* run-time scalar */
  LX_UNARY,  /* op: LU_* */
  LX_BINARY, /* op: LB_* */
  LX_SELECT, /* a ? b : c */
  LX_CAST,   /* to type */
  /* GPU grid kernels only */
  LX_SREG,    /* op: special register (SReg) */
  LX_SLOAD,   /* shared array `buf` at flat index a */
  LX_SHFL_XOR /* a from the lane whose index differs by the constant inum */
} LExprKind;

typedef enum { SR_TID_X, SR_TID_Y, SR_CTAID_X, SR_CTAID_Y, SR_CTAID_Z, SR_NCTAID_Z } SReg;

/* LU_TF32: a float32 rounded to TF32 (10 explicit mantissa bits) to the
 * nearest, ties away from zero (PTX cvt.rna.tf32.f32), still a float32 whose
 * low 13 mantissa bits are zero: the operands of LS_MMA. */
typedef enum { LU_NEG, LU_NOT, LU_EXP, LU_LOG, LU_SQRT, LU_ABS, LU_LOG1P, LU_LGAMMA, LU_DIGAMMA, LU_TF32 } LUnOp;
typedef enum {
  LB_ADD,
  LB_SUB,
  LB_MUL,
  LB_DIV,
  LB_REM,
  LB_MIN,
  LB_MAX,
  LB_POW, /* real only */
  LB_LT,
  LB_LE,
  LB_GT,
  LB_GE,
  LB_EQ,
  LB_NE,
  LB_AND,
  LB_OR
} LBinOp;

typedef struct LExpr LExpr;
struct LExpr {
  LExprKind kind;
  LType type;
  int op;
  double num;
  int64_t inum;
  int var;     /* LX_VAR */
  int buf;     /* LX_LOAD */
  int scalar;  /* LX_SCALAR */
  int reassoc; /* an accumulation: the target may reorder it (vector reductions) */
  LExpr *a, *b, *c;
  LExpr **idx; /* LX_LOAD: one per axis */
};

/* ---- statements ---- */
typedef enum {
  LS_BLOCK,
  LS_FOR,
  LS_ASSIGN,
  LS_STORE,
  LS_IF,
  LS_FAIL,
  LS_SSTORE,      /* shared array `buf` at flat index idx[0] = value (grid kernels) */
  LS_SYNC,        /* barrier across the block (grid kernels) */
  LS_MMA,         /* a warp's matrix multiply-accumulate (grid kernels, below) */
  LS_COPY_ASYNC,  /* an asynchronous copy into shared memory (grid kernels, below) */
  LS_COPY_COMMIT, /* closes the thread's group of asynchronous copies */
  LS_COPY_WAIT    /* waits for all but the thread's `slot` newest groups */
} LStmtKind;

/* LS_COPY_ASYNC: shared array `buf` at flat index idx[0] = value where cond
 * holds, else zero; value is an LX_LOAD of a buffer of the shared array's
 * type (float32 or float64). The copy is in flight from there: it lands by
 * the thread's LS_COPY_WAIT that covers its group (the copies issued since
 * the previous LS_COPY_COMMIT, closed by the next one), and other threads
 * see it after a barrier after that wait. Until it lands, nothing may read
 * or write the element. So a block can stage the next tile of data while
 * it computes on the current one (double buffering) without holding the
 * tile in registers. GPU: cp.async.ca.shared.global (compute capability
 * 8.0 and later; the zero through its source size of 0, with the source
 * address clamped to the buffer's first element); the families check the
 * target description (TargetDesc.copy_async). */

/* LS_MMA: D = A B + C with A 16 x 8, B 8 x 8, C and D 16 x 8, spread over
 * the 32 lanes of a warp as PTX's mma.sync.aligned.m16n8k8.row.col.f32.
 * tf32.tf32.f32 spreads them: each lane passes its fragment (idx[0..3]: A,
 * idx[4..5]: B, idx[6..9]: C, float32 expressions; A and B rounded to TF32
 * by LU_TF32) and receives its fragment of D in the float32 variables
 * mma_d[0..3]. With g = lane / 4 and t = lane % 4 (lane: tid.x % 32):
 *   a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4]
 *   b0 = B[t][g], b1 = B[t+4][g]
 *   c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1]
 * Every lane of the warp executes it together (no divergence); products of
 * TF32 values are exact in float32's range, the sums are float32. GPU
 * only, compute capability 8.0 and later (the families check the target
 * description; the host's code generator refuses it). */
enum { MMA_ARGS = 10 };

typedef struct LStmt LStmt;
struct LStmt {
  LStmtKind kind;
  /* LS_BLOCK */
  LStmt **body;
  int nbody, capbody;
  /* LS_FOR: for var in [lo, hi) { then } */
  int var;
  LExpr *lo, *hi;
  LStmt *then, *els; /* LS_FOR body; LS_IF branches */
  /* LS_ASSIGN: var = value; LS_STORE: buf[idx] = value; LS_IF: cond */
  LExpr *value;
  int buf;
  LExpr **idx;
  LExpr *cond;
  /* LS_FAIL: status[slot] = min(status[slot], value), atomically; the
   * driver sets every slot to INT32_MAX before a step */
  int status_buf, slot;
  /* LS_MMA: the variables receiving the lane's D fragment (inputs in idx) */
  int mma_d[4];
};

typedef struct {
  const char *name;
  LType type;
  LExpr *node; /* the LX_VAR node every read of it shares (lx_var) */
} LVar;

typedef struct {
  const char *name;
  LType type;
  int64_t count;
} SharedArray;

/* ITEMS: a parallel loop over [0, count), spread by the target.
 * GRID: an explicit GPU launch: grid[0..2] blocks (expressions of n_local)
 * of block[0] x block[1] threads; the body runs once per thread. Grid
 * kernels exist only in GPU variants. */
typedef enum { LAUNCH_ITEMS, LAUNCH_GRID } LaunchKind;

typedef struct {
  const char *name; /* symbol name, derived from the statement */
  const char *what; /* one line for dumps: the statement and variant */
  LExpr *count;     /* trip count of the parallel loop */
  int pvar;         /* the parallel loop's variable */
  LStmt *body;
  LVar *vars;
  int nvars, capvars;
  int block_size; /* GPU threads per block (ITEMS) */
  LaunchKind launch;
  LExpr *grid[3]; /* GRID */
  int block[2];   /* GRID */
  int min_blocks; /* GPU: blocks per multiprocessor the code must allow (caps registers), 0: any */
  int compact;    /* compiled for size (no loop unrolling): little work, compile time first */
  SharedArray *shared;
  int nshared;
  unsigned char *reads, *writes; /* per buffer */
  int64_t weight;                /* loop-IR nodes: a compile-time estimate, for balancing compile groups */
  int weight_div;                /* >1: weight counts the nodes once per this many (a register tile's
                                    statements, one vector statement each for LLVM) */
  /* host: the vector width LLVM is asked to prefer (a TargetDesc.vector_bytes);
   * 0: its own choice for the CPU (256 bits on most AVX-512 CPUs) */
  int vector_bytes;
} Kernel;

/* A unit of work with alternative implementations (code variants): one
 * statement's map, or one reduction over events. A sequence runs a unit by
 * running the kernels of the alternative chosen for it. */
/* What one run of an alternative moves and computes, for the cost model
 * (variant_cost.h): per event, scaled by the run's event count, and once
 * per run (partials, combines, per-matrix work). */
typedef struct {
  double bytes_per_event, bytes;   /* device memory read and written */
  double shared_per_event, shared; /* shared memory read and written */
  double fmas_per_event, fmas;     /* multiply-adds (and other arithmetic) in the data's type */
  double fmas64_per_event, fmas64; /* ... in float64 */
  int launches;                    /* kernels; 0: not priced (the simple alternative, always measured) */
  /* multiply-adds on the TF32 tensor cores (LS_MMA: 1024 each) */
  double tc_fmas_per_event, tc_fmas;
} Work;

typedef struct {
  const char *variant; /* "simple", "tiled-32x32", ... */
  int kernels[8];
  int nkernels;
  /* a fusion group's "unfused" alternative (fuse.h): runs these units,
   * each with its own choice, instead of kernels */
  int members[16];
  int nmembers;
  Work work;
} Alt;

typedef struct {
  const char *name; /* e.g. "covariances" or "covariances.sum_n" */
  Alt alts[16];
  int nalts;
  int forced;  /* index of an alternative fixed by the spec's schedule, or -1 */
  int out_buf; /* the buffer every alternative writes (for checking them) */
  /* a fusion group (fuse.h): the sequence whose groups are chosen fused or
   * unfused together, or -1 for a unit of one statement */
  int group_seq;
} Unit;

typedef enum { STEP_UNIT, STEP_REDUCE } StepKind;
typedef struct {
  StepKind kind;
  int unit;  /* STEP_UNIT */
  int *bufs; /* STEP_REDUCE: stat buffers now complete locally (all-reduce point) */
  int nbufs;
} Step;

typedef struct {
  Step *steps;
  int len, cap;
} Sequence;

typedef enum {
  SEQ_ITERATE, /* E-step + M-step + derived: one EM iteration */
  SEQ_ESTEP,   /* E-step and predict: scores and labels for the current parameters */
  SEQ_MSTEP,   /* M-step + derived from given responsibilities (initialisation) */
  SEQ_DERIVED, /* derived only (after parameters were set from outside) */
  SEQ_ONCE,    /* once statements: per-event constants and statistics of the data, before the first
                  iteration (stream_once); the other sequences read their buffers */
  SEQ_COUNT
} SeqId;

/* A builtin statement that can fail, with its status slot. */
typedef struct {
  const char *target, *input;
  int per_component; /* the input has leading (component) axes */
} BuiltinInfo;

/* The kernels that compute one statement, in launch order. */
typedef struct {
  const Stmt *stmt;
  int kernels[64];
  int nkernels;
} StmtKernels;

typedef struct Program {
  Arena arena;
  Spec *spec;           /* owned */
  LType real;           /* element type of real values */
  int64_t *size_values; /* per SizeSym; event size = -1 */
  Buffer **bufs;
  int nbufs, capbufs;
  Kernel **kernels;
  int nkernels, capkernels;
  Unit *units;
  int nunits, capunits;
  Sequence seq[SEQ_COUNT];
  int *tensor_buf; /* spec tensor id -> buffer id */
  int status_buf;
  BuiltinInfo *builtins; /* one per status slot */
  int nbuiltins;
  int init_labels_buf;       /* int32 [n_local] labels for initialisation, -1 when none */
  int init_resp_kernel;      /* writes predict_proba[n,m] = (init_labels[n] == m); -1 when none */
  StmtKernels *stmt_kernels; /* one per statement of the spec */
  int nstmts;
  int chunks; /* partial results per event reduction */
  const char *variant_summary;
  uint64_t digest;    /* identifies the program for the disk caches (kcache.h); 0: hash its dump */
  LExpr **small_ints; /* lx_int's shared nodes for [0, SMALL_INTS) */
  int known_bucket;   /* lowered for known choices (LowerOptions.keep): 1 + the event-count bucket they were
                       made for; 0 for a program with every variant */
} Program;

/* The arithmetic precision the user allows (gmmc_fit_options_set_precision):
 * float32 (the default) admits the FFMA kernels; 3xtf32 the error-compensated
 * TF32 tensor-core variants as well (three TF32 products: float32-accurate
 * for well-conditioned covariances, not for ill-conditioned ones, measured:
 * docs/limits.md); tf32 one TF32 product instead (10-bit mantissas:
 * docs/limits.md gives its error). float64-stats, for float32
 * data: the terms of every sum over events in float64 and those sums by
 * their simple kernels only (the rest as under float32), so that a
 * covariance is the Gram matrix of float64 products, positive semi-definite
 * up to float64 rounding, as in a float64 fit: what a float32 fit falls back
 * to when a factor fails (docs/limits.md, "Collapsed components in float32"). */
typedef enum { PRECISION_FLOAT32, PRECISION_TF32, PRECISION_BF16, PRECISION_STATS64, PRECISION_3XTF32 } Precision;
/* The precision a name gives ("float32", "3xtf32", "tf32", "bf16", "float64-stats"): 1
 * with *out set, else 0. */
int precision_from_name(const char *name, Precision *out);

typedef struct {
  LType real;        /* LT_F32 or LT_F64 */
  int host;          /* lowering for the host target (else GPU) */
  int chunks;        /* 0: default */
  TargetDesc target; /* the machine's limits (target_desc.h); zero: the default GPU */
  int variants;      /* 0: only the simple variant; 1: every applicable variant */
  int fuse;          /* with variants: fusion groups (fuse.h) as alternatives; opt-in (GMMC_FUSE)
                        while the fused kernels lose (docs/performance.md) */
  int weighted;      /* the caller binds the spec's optional data (per-event weights); 0: the spec
                        is specialized without them (spec_drop_weights) */
  /* With variants: NULL lowers every applicable one; else only those for
   * which keep(keep_user, unit, variant_hash(name)) is nonzero, besides the
   * simple one (a program for choices already made: its kernels are those
   * of the full program, at a fraction of the lowering time). */
  int (*keep)(void *keep_user, int unit, uint32_t variant);
  void *keep_user;
  /* what the variants may trade for speed (Precision, above) */
  Precision precision;
  /* with variants: none on the tensor cores (GMMC_VARIANTS=no-tensor-cores:
   * the FFMA variants alone, to measure against) */
  int no_tensor_cores;
  /* host, float32 programs: float32 arithmetic at float32's width (parameters
   * rounded to float32, event sums in float32 blocks: lower.h, host_fast32);
   * opt-in (GMMC_HOST_FAST32=1) until the streaming bound is settled
   * (docs/limits.md, "float32 on the host") */
  int host_fast32;
} LowerOptions;

/* Whether a float32 program forms the terms of its sums over events in
 * float64 (PRECISION_STATS64's rule): asked for, or on the host unless
 * host_fast32 (lower.h, stats64; the runtime asks it too, before a redo). */
static inline int float32_stats64(Precision precision, int host, int host_fast32) {
  return precision == PRECISION_STATS64 || (host && !host_fast32);
}

/* The kernels alternative a of unit u launches, in order, with the members
 * of a fusion group's unfused alternative run as `choice` says (NULL: their
 * first alternative); at most cap of them, returns how many. */
int alt_kernel_list(const Program *p, const Alt *a, const int *choice, int *out, int cap);

/* The hash of a variant's name, as the autotuner's table of choices holds it. */
uint32_t variant_hash(const char *variant);

/* Specializes a checked spec for concrete sizes (one value per SizeSym, the
 * event size ignored) and lowers it. Takes ownership of the spec. On error
 * returns NULL and sets *err; out of memory returns NULL with *err NULL. */
Program *lower_program(Spec *spec, const int64_t *size_values, const LowerOptions *opt, char **err);
void program_free(Program *p);

/* Builders used by the lowering and the variants. */
LExpr *lx_const(Program *p, LType t, double v);
LExpr *lx_int(Program *p, int64_t v);
LExpr *lx_var(Program *p, Kernel *k, int var);
LExpr *lx_load(Program *p, int buf, LExpr **idx);
LExpr *lx_unary(Program *p, int op, LExpr *a);
LExpr *lx_binary(Program *p, int op, LExpr *a, LExpr *b);
LExpr *lx_select(Program *p, LExpr *c, LExpr *a, LExpr *b);
LExpr *lx_cast(Program *p, LType t, LExpr *a);
LExpr *lx_nlocal(Program *p);
LExpr *lx_ntotal(Program *p);
LExpr *lx_scalar(Program *p, int id);

LStmt *ls_block(Program *p);
void ls_append(Program *p, LStmt *block, LStmt *s);
LStmt *ls_for(Program *p, int var, LExpr *lo, LExpr *hi, LStmt *body);
LStmt *ls_assign(Program *p, int var, LExpr *v);
LStmt *ls_store(Program *p, int buf, LExpr **idx, LExpr *v);
LStmt *ls_if(Program *p, LExpr *c, LStmt *then, LStmt *els);
/* Appends `if (cond) { }` to blk and returns the empty then-block. */
LStmt *ls_when(Program *p, LStmt *blk, LExpr *cond);
LStmt *ls_fail(Program *p, int status_buf, int slot, LExpr *code);
LExpr *lx_sreg(Program *p, SReg r);
LExpr *lx_sload(Program *p, Kernel *k, int sh, LExpr *idx);
LExpr *lx_shfl_xor(Program *p, LExpr *v, int lane_mask);
LStmt *ls_sstore(Program *p, Kernel *k, int sh, LExpr *idx, LExpr *v);
LStmt *ls_sync(Program *p);
/* LS_COPY_ASYNC (above): shared sh[idx] = load where cond, else 0. */
LStmt *ls_copy_async(Program *p, Kernel *k, int sh, LExpr *idx, LExpr *load, LExpr *cond);
LStmt *ls_copy_commit(Program *p);
/* LS_COPY_WAIT: until at most `pending` committed groups are in flight. */
LStmt *ls_copy_wait(Program *p, int pending);
/* LS_MMA (above): d[0..3] = this lane's fragment of A B + C. */
LStmt *ls_mma(Program *p, const int d[4], LExpr *const a[4], LExpr *const b[2], LExpr *const c[4]);
int kernel_shared(Program *p, Kernel *k, const char *name, LType t, int64_t count);
int program_add_unit(Program *p, const char *name);
Alt *unit_add_alt(Program *p, int unit, const char *variant);

int kernel_var(Program *p, Kernel *k, const char *name, LType t);
Kernel *program_add_kernel(Program *p, const char *name);
/* A grid kernel of x * y * z blocks of `threads` threads (one dimension). */
void kernel_launch_grid(Program *p, Kernel *k, int64_t x, int64_t y, int64_t z, int threads);
int program_add_buffer(Program *p, const char *name, BufKind kind, LType elem, int rank, const int64_t *dims,
                       int event);
void seq_push(Program *p, SeqId s, Step step);
int64_t buffer_elems(const Buffer *b, int64_t n_local);
/* Trip count of a kernel's parallel loop for n_local events (ITEMS), or the
 * number of blocks along one grid axis (GRID). */
int64_t kernel_count(const Kernel *k, int64_t n_local);
int64_t kernel_grid(const Kernel *k, int axis, int64_t n_local);

/* Marks buffer reads and writes of each kernel (for argument attributes). */
void program_finish(Program *p);
/* Sets reads[b] and writes[b] (arrays of p->nbufs entries) for the buffers
 * kernel k reads and writes, before program_finish has marked them. */
void kernel_access(const Kernel *k, unsigned char *reads, unsigned char *writes);

/* A walk over loop IR, every node before its parts: `expr` sees every
 * expression (a load's indices included), `stmt` every statement; either
 * may be NULL. A callback returns LWALK_ON to go on into the node's parts,
 * LWALK_SKIP to pass them by, LWALK_STOP to end the walk, which then
 * returns 1 (0 when it ran to the end). */
enum { LWALK_ON, LWALK_SKIP, LWALK_STOP };
typedef struct {
  int (*expr)(void *user, const LExpr *e);
  int (*stmt)(void *user, const LStmt *s);
  void *user;
} LWalk;
int lwalk_expr(const LWalk *w, const LExpr *e);
int lwalk_stmt(const LWalk *w, const LStmt *s);

/* Human-readable dump of the loop IR. Returns a malloc'd string. */
char *program_dump(const Program *p);

static inline int ltype_is_float(LType t) { return t == LT_F32 || t == LT_F64; }

#endif
