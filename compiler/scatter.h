/* The weighted scatter S[m,d,e] = sum(n, w[n,m] (X[n,d] - mu[m,d]) (X[n,e] - mu[m,e]))
 * as its GPU variants see it: two families of the registry (variant.h),
 * scatter (variants_scatter.c, which finds the form) and scatter-wide
 * (8 x 8 register tiles of the upper triangle, x - mu formed in registers,
 * variants_scatter_wide.c). */
#ifndef GMMC_SCATTER_H
#define GMMC_SCATTER_H

#include "variant.h"

typedef struct {
  Tensor *x, *mu, *w; /* the data, the centers, the weights w[n, m] */
  int64_t D, M;
} ScatterForm;
_Static_assert(sizeof(ScatterForm) <= VARIANT_FORM_BYTES, "ScatterForm must fit the registry's form storage");

/* 1 when the hoisted reduction is a weighted scatter with D <= 64. */
int scatter_form(Lower *L, Hoisted *h, ScatterForm *sf);

/* One wave: the slices of events per group of components so that the grid
 * (groups x slices) is as many blocks as the multiprocessors hold at once,
 * with *per_sm blocks each (registers capped at 128 per thread so that they
 * fit). A partial last wave cost a quarter of the time at N = 10^6, D = 32,
 * M = 128. */
int64_t scatter_one_wave(Lower *L, int64_t smem, int threads, int64_t groups, int *per_sm);
/* The launch of a scatter kernel: blocks (groups, 1, slices) of threads,
 * compiled for per_sm blocks per multiprocessor. */
void scatter_grid(Program *p, Kernel *k, int64_t groups, int64_t slices, int threads, int per_sm);

/* Sets bi, bj (kernel variables) to the row and column of tile blk of the
 * upper triangle of nb x nb tiles, numbered row by row. */
void upper_tile_coords(Program *p, Kernel *k, LStmt *body, int blk, int64_t nb, int bi, int bj);

/* The registry's matcher of both scatter families: scatter_form on the site's reduction. */
int match_scatter(Lower *L, const Site *site, void *form);
/* The work of a scatter variant: groups of components, per-slice partials
 * of pd x pd per component, `cells` multiply-adds per (event, component)
 * in register tiles of tile x tile. */
Work scatter_work(Lower *L, const ScatterForm *sf, int64_t groups, int64_t slices, int64_t pd, double cells, int tile);

/* The events [first, last) of a block's slice in chunks of kc, the chunks in
 * groups of per_group that each end in one flush (at least one group, so
 * that an empty slice still writes its zeros): opens the group loop (its
 * number *grp), sets the nacc accumulators acc (of type T) to zero in it,
 * opens the chunk loop and returns its body, which sets *base (the chunk's
 * first event) and waits at a barrier. *group is the group loop's body, for
 * the flush after the chunks. */
LStmt *scatter_chunks(Lower *L, Kernel *k, LStmt *body, int first, int last, int64_t kc, int per_group, const int *acc,
                      int nacc, LType T, LStmt **group, int *grp, int *base);

/* The staging of a scatter kernel's chunks (scatter_staging.c): the data
 * tile as xs[half + kk * row + col(d)] (col: d, or scatter_skewed(d) with
 * skew) and the weights as ws[half + event * cg + c], zero outside the
 * slice, past D and past M. With async, double-buffered copies (two halves
 * of each array); the kernel reads the current chunk's half at the element
 * offsets in variables xoff and woff. */
typedef struct {
  const ScatterForm *sf;
  int64_t kc, dp, row, cg; /* events a chunk, staged columns, a row's length, components a block */
  int skew, async;
  int threads, tid, flat, vn, vd, last; /* the kernel's variables */
  /* set by scatter_staging_init */
  int xs, ws, kk, wm, xoff, woff;
} ScatterStaging;

/* Column i of a skewed row: 4 floats more per 32 columns, so that tiles 32
 * columns apart do not meet in a shared-memory bank. */
LExpr *scatter_skewed(Program *p, LExpr *i);
/* 1 where the target copies asynchronously and the data and weights are of type T. */
int scatter_copy_async_ok(Lower *L, const ScatterForm *sf, LType T);
/* Before the chunks (scatter_chunks) from event `first`: the shared arrays
 * (of type T) and variables of s, and with async the first chunk's copies. */
void scatter_staging_begin(Lower *L, Kernel *k, LStmt *body, ScatterStaging *s, LType T, int first);
/* In a chunk's body (base: its first event): its data in shared memory
 * after a barrier, and with async the next chunk's copies issued. */
void scatter_stage_chunk(Lower *L, Kernel *k, LStmt *chunk, const ScatterStaging *s, int first, int base);

#endif
