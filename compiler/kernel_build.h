/* The GPU kernel builders: the pieces of grid kernels that the variant
 * families share (staging loops, event chunks and slices, event tiles,
 * per-slice partials), over the loop IR's constructors (loopir.h).
 *
 * One idiom for every family: code that builds a kernel has `p` (the
 * Program) and `k` (the Kernel) in scope and writes V(var), I(int) and
 * BIN(op, a, b) for the loop IR's variables, integer constants and binary
 * operations. */
#ifndef GMMC_KERNEL_BUILD_H
#define GMMC_KERNEL_BUILD_H

#include "lower.h"

#define V(x) lx_var(p, k, x)
#define I(x) lx_int(p, x)
#define BIN(op, a, b) lx_binary(p, op, a, b)

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The threads of a block stride over [0, count): returns the body, run with
 * `flat` (a kernel variable) set to tid + trip * threads and below count. */
LStmt *emit_strided(Lower *L, Kernel *k, LStmt *block, const char *name, int64_t count, int threads, int tid, int flat);
/* The events [first, last) (kernel variables) in chunks of kc: returns the
 * chunk's body (chunk number *chunk_out), which sets *base_out (a new
 * variable: the chunk's first event) and then waits at a barrier, so that
 * staging the chunk's data does not overwrite what the previous chunk reads. */
LStmt *emit_event_chunks(Lower *L, Kernel *k, LStmt *block, int first, int last, int64_t kc, int *chunk_out,
                         int *base_out);
/* A block's tile of a per-(event, component) result, held in shared array
 * sh as [event * mb + component]: after a barrier the threads store it to
 * buf[n0 + f / mb, m0 + f % mb] for f in [0, tn * mb), inside the events
 * and the M components. tid, flat, n0, m0, vn, vm are kernel variables. */
typedef struct {
  int buf, sh;
  int64_t tn, mb, M;
  int threads, tid, flat, n0, m0, vn, vm;
} EventTile;
void store_event_tile(Lower *L, Kernel *k, LStmt *body, const EventTile *t);
/* The grid of such a kernel: blocks of threads over tiles of tn events and
 * of mb of the M components. */
void event_tile_grid(Program *p, Kernel *k, int64_t tn, int64_t mb, int64_t M, int threads);

/* [first, last) (kernel variables it declares) of this block's slice of the
 * local events, block z of `slices`, its length a multiple of `align`. */
void event_slice_bounds(Program *p, Kernel *k, LStmt *block, int64_t slices, int64_t align, int *first, int *last);

/* The thread's place for the warp MMAs (loopir.h, LS_MMA), kernel variables
 * it declares and sets: tid, lane = tid % 32, warp = tid / 32, and PTX's
 * fragment coordinates g = lane / 4 ("group"), t = lane % 4. */
typedef struct {
  int tid, lane, warp, g, t;
} WarpLanes;
void warp_lanes(Program *p, Kernel *k, LStmt *body, WarpLanes *w);

/* The tensor-core families' conditions: float32 data on a GPU with TF32
 * tensor cores, not turned off (matchers); and whether the user asked for
 * a configuration's products (3: precision 3xtf32, 1: tf32) (plans). */
int tf32_mma_usable(const Lower *L);
int tf32_products_asked(const Lower *L, int products);
/* Index of element (row, col) of a tile staged in A-fragment order for
 * m16n8k8 (kblocks blocks of 8 columns a row tile of 16):
 * [(row / 16 * kblocks + col / 8) * 32 + lane] * 4 + i with lane = row % 8
 * * 4 + col % 4 and i = row % 16 / 8 + 2 (col % 8 / 4): a lane's fragment
 * is one 16-byte load, a warp's 512 consecutive bytes. */
LExpr *a_fragment_index(Program *p, Kernel *k, LExpr *row, LExpr *col, int64_t kblocks);
/* Index (plus base) of row `row` (k), column `col` (n) of a B operand of
 * nt column tiles staged in fragment order: a lane's b0 and b1 are
 * adjacent, one 8-byte load. */
LExpr *b_fragment_index(Program *p, Kernel *k, LExpr *row, LExpr *col, int nt, int64_t base);
/* The fragments of the polynomial GEMMs (mma-poly, fused-mma): A of rt
 * row tiles of t^2 (q = 0) and t (q = 1), B, each with its small parts
 * under 3xTF32 (-1 otherwise). */
typedef struct {
  int a[2][8][4], as[2][8][4], b[2], bs[2];
} PolyFragments;
void poly_fragments(Program *p, Kernel *k, int rt, int three, PolyFragments *f);
/* n floats padded to 8 modulo 32: rows read 8 t + g by a fragment's lanes
 * hit 32 different banks. */
int bank_padded_row(int n);
/* The float32 value v split into TF32 parts for the MMAs (3xTF32):
 * big = tf32(v) and, where small >= 0, small = tf32(v - big). */
void tf32_split(Program *p, Kernel *k, LStmt *blk, LExpr *v, int big, int small);
/* d += A B from split fragments (variables: a[4], b[2] the big parts,
 * as[4], bs[2] the small ones or NULL): small*big + big*small + big*big
 * (3xTF32; the small products first, they are the smaller terms), or with
 * NULL small parts big*big alone (TF32). */
void mma_split_products(Program *p, Kernel *k, LStmt *blk, const int d[4], const int a[4], const int *as,
                        const int b[2], const int *bs);

/* Shared array sh at `at` = value where cond holds, else zero. */
void stage_or_zero(Program *p, Kernel *k, LStmt *block, LExpr *cond, int sh, LExpr *at, LExpr *value);

/* Event slices for a reduction kernel of `blocks` blocks (beside the
 * slices) writing partials of `elems` values each: a few blocks per
 * multiprocessor, the partials within 2^22 values. */
int64_t event_slices(Lower *L, int64_t blocks, int64_t elems);
/* A per-slice partial buffer [slices, free...] of reduction h for variant. */
int new_partial(Lower *L, Hoisted *h, int64_t slices, const char *variant);
/* The index [slice (block z), free...] of h's partial, the free indices from env. */
LExpr **partial_index(Program *p, Kernel *k, Hoisted *h, Env *env);
/* Stores statement st's value for the event in variable vn and the
 * component in vm (st's target is [n, m]) in blk, its subexpression sub
 * replaced by val (a sum the kernel computed another way). */
void store_with_sum(Lower *L, Kernel *k, LStmt *blk, const Stmt *st, const Expr *sub, LExpr *val, int vn, int vm,
                    Env *env);
/* T[n] = logsumexp(j, f(n, j)): a per-event real target, a logsumexp over
 * an index other than the events' (not hoisted), f without reductions of
 * its own. The form of the host's lanes and the GPU's rows families. */
typedef struct {
  Target *tg;
  Expr *red;
  int nid, jid;
  int64_t J;
} EventLse;
int match_event_lse(Lower *L, const Stmt *st, EventLse *f);
/* Such a T for the event in env's n, by `lanes` adjacent lanes (a power of
 * two; every lane of the group takes part: shuffles), lane `lane` (a
 * variable) over j = lane, lane + lanes, ...: the maximum, then the sum of
 * exp(f - max), each across the lanes. Returns the variable holding T
 * (variants_rows.c; the rows family and fused-mma). */
int event_lse_lanes(Lower *L, Kernel *k, LStmt *body, const EventLse *f, Env *env, int lane, int lanes);

/* The product of factors f[0..n) lowered in L->rt: the data's type, or float64
 * under float64-stats (1 when n = 0). */
LExpr *factor_product(Lower *L, Kernel *k, LStmt *blk, Expr *const *f, int n, Env *env);

#endif
