/* The E-step's quadratic form as the GPU variants see it (variants_estep.c
 * finds it; variants_estep_wide.c is one more mapping of it). */
#ifndef GMMC_ESTEP_H
#define GMMC_ESTEP_H

#include "variant.h"

/* The quadratic form inside a statement's right-hand side, if any. */
typedef struct {
  Expr *q;      /* sum(e, sq(sum(d, ...))) */
  int e, d;     /* its indices */
  Expr *fa[16]; /* factors with the event index */
  int na;
  Expr *fw[16]; /* factors without it */
  int nw;
  int upper; /* W is zero below the diagonal in (d, e) */
} QuadForm;

/* A is X[n, d] - P[m, d] (or X[n, d]) with X the data and P a parameter:
 * then x - mu is formed in registers from a staged data tile. */
typedef struct {
  Tensor *x, *mu; /* mu may be NULL */
} Centered;

/* What the E-step families match: a per-event statement T[n, m] = g(n, m, Q)
 * holding a quadratic form, and whether its A is centered data. */
typedef struct {
  QuadForm qf;
  Centered cf;
  int centered;
  Tensor *data; /* the spec's data tensor, for staging */
  int nid, mid;
  int64_t D, E, M;
} EstepForm;
_Static_assert(sizeof(EstepForm) <= VARIANT_FORM_BYTES, "EstepForm must fit the registry's form storage");
int match_estep(Lower *L, const Site *site, void *form);
int match_estep_centered(Lower *L, const Site *site, void *form);

/* The shapes the E-step plans work out for their builders. */
typedef struct {
  int warps, threads, tn, rn, re, cln, pw, epw;
  int64_t dp, d4, passes;
  int64_t panel; /* balanced-strips: rows of W staged at a time */
} EstepShape;
_Static_assert(sizeof(EstepShape) <= VARIANT_SHAPE_BYTES, "EstepShape must fit Plan.shape");

/* Bytes of the data's type. */
int estep_esz(Lower *L);
/* Multiply-adds per (event, component) of `passes` passes of `width`
 * columns over d4 rows (ending at the triangle when W is upper). */
double estep_pass_madds(const EstepForm *f, int64_t passes, int64_t width, int64_t d4);
/* The work of an E-step variant with blocks of tn events x mb components,
 * the data read once per block (or once per component), `madds` per
 * (event, component), register tiles of r events x c columns. */
Work estep_work(Lower *L, const EstepForm *f, int64_t tn, int64_t mb, int x_per_component, double madds, int r, int c);

/* Into blk: vd = at; the shared mu[at] of component vm (zero past D, or
 * everywhere when the form has no mu). */
void estep_stage_mu(Lower *L, Kernel *k, LStmt *blk, const Centered *cf, int ms, int at, int vm, int vd, int64_t D);

/* Into blk: the shared W[vd, ve] = the product of the form's W factors
 * (lowered with env), at index `at`, zero outside D x E. */
void estep_stage_w(Lower *L, Kernel *k, LStmt *blk, const QuadForm *qf, Env *env, int ws, int at, int vd, int ve,
                   int64_t D, int64_t E);

/* The lane-tiled forms (balanced, wide): a warp's lanes are event lanes x
 * cln column lanes; a block takes tn events from n0 and mb components from
 * m0, with the data tile transposed in shared array xs (rows of tn events,
 * d < rows) and its results in ls [event * mb + component]. */
typedef struct {
  int cln, tn, mb, threads, xs, ls;
  int64_t rows, D, M;
} LaneShape;
typedef struct {
  int tid, lane, warp, evl, cl, n0, m0, vn, vm, vd, ve, flat;
  Env env; /* n, m, d, e of the statement */
} Lanes;
/* Declares and sets the kernel's lane variables and stages the data tile. */
void lanes_begin(Lower *L, Kernel *k, const Stmt *st, const QuadForm *qf, const Centered *cf, const LaneShape *sh,
                 Lanes *v);
/* After the passes: the column lanes sum q[r] (the quadratic form of event
 * evbase + r, r < rn) with shuffles, column lane 0 evaluates the statement
 * into the tile for component mm, and the block stores its tile. */
void lanes_finish(Lower *L, Kernel *k, Stmt *st, const QuadForm *qf, Lanes *v, const LaneShape *sh, LStmt *cm,
                  const int *q, int rn, LExpr *evbase, int mm);

/* The block's components vm = m0 + mm for mm < mb, vm < M (m0, vm: kernel
 * variables): returns the body, which starts at a barrier; *mm_out is mm. */
LStmt *estep_components(Lower *L, Kernel *k, LStmt *body, int m0, int vm, int64_t mb, int64_t M, int *mm_out);

#endif
