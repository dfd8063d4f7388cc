/* The checked AST of a model spec. Produced by spec_yaml.c (declarations) and
 * parser.c (statements), resolved and validated by check.c. Every node keeps
 * the byte span [begin, end) of its text in the spec source. */
#ifndef GMMC_AST_H
#define GMMC_AST_H

#include <stddef.h>

#include "diag.h"
#include "util.h"

#define GMMC_DSL_VERSION 1
#define GMMC_MAX_RANK 4

typedef enum { VT_REAL, VT_INT, VT_BOOL } ValType;

typedef struct {
  const char *name;
  size_t begin, end;
  int is_event; /* the run-time size: leading axis of the data */
  int id;
} SizeSym;

typedef struct {
  const char *name;
  int size; /* SizeSym id */
  size_t begin, end;
  int id;
} IndexSym;

typedef enum { TK_DATA, TK_PARAM, TK_TEMP } TensorKind;
typedef enum { ST_NONE, ST_UPPER, ST_LOWER, ST_SYMMETRIC, ST_DIAGONAL } Structure;
/* What a data tensor's values may be (its 'type'): real (float files only),
 * integer or binary (integer and boolean files too, binary: 0 or 1 only) */
typedef enum { DT_REAL, DT_INTEGER, DT_BINARY } DataType;

/* SEC_ONCE: statements of the data alone, computed once before the first
 * iteration (per-event constants, statistics of the data); last, so that the
 * others keep their numbers */
typedef enum { SEC_ESTEP, SEC_MSTEP, SEC_DERIVED, SEC_PREDICT, SEC_ONCE, SEC_COUNT } Section;

typedef struct Stmt Stmt;

typedef struct {
  const char *name;
  TensorKind kind;
  int rank;
  int dims[GMMC_MAX_RANK]; /* SizeSym ids */
  Structure structure;
  DataType dtype; /* data only */
  ValType elem;   /* VT_REAL or VT_INT */
  Stmt *def;      /* defining statement; NULL for data and never-assigned params */
  int optional;   /* data declared {shape: [N], optional: ones}: the per-event weights */
  size_t begin, end;
  int id;
} Tensor;

typedef struct {
  const char *name;
  double value; /* default */
  size_t begin, end;
  int id;
} ScalarSym;

typedef enum { E_NUM, E_NAME, E_ACCESS, E_UNARY, E_BINARY, E_CALL, E_REDUCE } ExprKind;
typedef enum { U_NEG, U_NOT } UnaryOp;
typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_LT, B_LE, B_GT, B_GE, B_EQ, B_NE, B_AND, B_OR } BinOp;
/* F_MIN and F_MAX stay last: they are also reductions */
typedef enum { F_EXP, F_LOG, F_SQRT, F_SQ, F_ABS, F_LOG1P, F_LGAMMA, F_DIGAMMA, F_POW, F_SELECT, F_MIN, F_MAX } Func;
typedef enum { R_SUM, R_MAX, R_MIN, R_LOGSUMEXP, R_ARGMIN, R_ARGMAX } RedOp;
typedef enum { C_PI, C_EPS } ConstId;

/* What a name refers to, once resolved. */
typedef enum { REF_NONE, REF_SIZE, REF_INDEX, REF_CONST, REF_SCALAR, REF_TENSOR } RefKind;

typedef struct {
  const char *name;
  size_t begin, end;
  int id; /* IndexSym id */
} IndexRef;

typedef struct Expr Expr;
struct Expr {
  ExprKind kind;
  size_t begin, end;
  ValType type;
  double num;       /* E_NUM */
  const char *name; /* E_NAME, E_ACCESS, E_CALL, E_REDUCE */
  int op;           /* UnaryOp, BinOp, Func or RedOp */
  Expr *args[3];    /* operands; E_REDUCE: args[0] is the body */
  int nargs;
  IndexRef *idx; /* E_ACCESS */
  int nidx;
  IndexRef red; /* E_REDUCE: the index reduced over */
  RefKind ref;  /* E_NAME, E_ACCESS */
  int ref_id;
  Tensor *tensor;
  int prev; /* reads the previous value of the statement's own target */
};

typedef struct {
  const char *name;
  size_t begin, end;
  IndexRef *idx;
  int nidx;
  int has_brackets;
  Tensor *tensor;
} Target;

typedef enum { BI_NONE, BI_PRECISION_CHOLESKY, BI_PRECISION_CHOLESKY_DIAG } Builtin;

struct Stmt {
  Section section;
  Target *targets;
  int ntargets; /* more than one only for builtin calls */
  Expr *rhs;
  Builtin builtin;
  size_t begin, end;
  int id;
};

typedef struct {
  const char *target; /* statement (tensor) name */
  const char *variant;
  size_t begin, end;
} ScheduleEntry;

typedef struct {
  Arena arena;
  Source src;
  int version;
  const char *model;
  const char *description;
  PtrVec sizes, indices, tensors, scalars, schedule;
  PtrVec stmts[SEC_COUNT]; /* in dependency order after checking */
  int event_size;          /* SizeSym id */
  int component_size;      /* SizeSym id, -1 if the spec has no responsibilities */
  /* roles the EM driver reads */
  Tensor *objective;     /* scalar: summed over events; the driver maximizes it */
  Tensor *score_samples; /* [N] per-event log-likelihood */
  Tensor *predict_proba; /* [N, M] responsibilities */
  Tensor *predict;       /* [N] int labels */
  Tensor *lower_bound;   /* scalar computed in estep or mstep: the fit's lower bound as it is, or NULL
                            (then objective / N); an mstep one sees the new parameters */
  Tensor *weights;       /* the optional data tensor [N] (per-event weights), or NULL */
  int weights_absent;    /* spec_drop_weights ran: every read of `weights` is gone */
  Expr *n_parameters;    /* size expression, for bic/aic */
  size_t outputs_begin, outputs_end;
} Spec;

static inline SizeSym *spec_size(const Spec *s, int id) { return s->sizes.items[id]; }
static inline IndexSym *spec_index(const Spec *s, int id) { return s->indices.items[id]; }
static inline Tensor *spec_tensor(const Spec *s, int id) { return s->tensors.items[id]; }
static inline ScalarSym *spec_scalar(const Spec *s, int id) { return s->scalars.items[id]; }

extern const char *const section_names[SEC_COUNT];
extern const char *const func_names[];
extern const char *const data_type_names[]; /* by DataType */
extern const char *const reduce_names[];
extern const char *const structure_names[];

/* Loads, parses and checks a spec. On error returns NULL and sets *err to a
 * malloc'd "file:line:col: error: ..." diagnostic; out of memory returns
 * NULL with *err NULL (alloc_last_failure says how much and where). */
Spec *spec_load(const char *name, const char *text, size_t len, char **err);
void spec_free(Spec *s);

/* Specializes a checked spec for a caller without weights: the optional data
 * tensor (spec->weights) reads as 1, so `w[n] * x`, `x * w[n]` and `x / w[n]`
 * become `x` and any other `w[n]` the number 1 -- the statements the spec
 * would have without weights, for the same matchers, variants and bits.
 * No-op without optional data (weights.c). */
void spec_drop_weights(Spec *s);

/* Internal entry points shared by the front-end phases. */
typedef struct {
  Spec *spec;
  Diag diag;
} Front;
Stmt *parse_statement(Front *f, size_t begin, size_t end);
Expr *parse_expression(Front *f, size_t begin, size_t end);
void check_spec(Front *f);
void load_yaml(Front *f);

#endif
