/* A sum's terms as a polynomial in the data (the tensor-core variants of
 * variants_mma_poly.c): the degree of an expression in the reads of a data
 * tensor, and its coefficients about a shift, lowered. */
#ifndef GMMC_POLY_H
#define GMMC_POLY_H

#include "lower.h"

enum { POLY_NON = 3 }; /* a degree past 2, or not a polynomial */

/* The degree of e as a polynomial in the reads of x: 0, 1, 2 or POLY_NON. */
int poly_degree(const Expr *e, const Tensor *x);

/* The coefficients of a polynomial in t: float32 kernel variables (-1: zero). */
typedef struct {
  int c[3];
} Poly;

/* Where and how: e's other reads are lowered with env; a read of x is
 * c + t, c the float32 variable `shift`. */
typedef struct {
  Lower *L;
  Kernel *k;
  LStmt *blk;
  Env *env;
  const Tensor *x;
  int shift;
} PolyLower;

/* e (poly_degree at most 2) as a polynomial in t, its coefficients
 * assigned in pw->blk. Forming them from e itself (x - mu is (c - mu) + t)
 * keeps them accurate: no coefficient is a difference of large values. */
Poly poly_lower(PolyLower *pw, Expr *e);
/* The vertex -k1 / (2 k2) of q (0 without a square term): the shifts of
 * the polynomial sums (mma-polysum, fused-mma). */
LExpr *poly_vertex(Program *p, Kernel *k, Poly q);
/* a b (the terms past degree 2 dropped: the caller knows there are none) */
Poly poly_mul(PolyLower *pw, Poly a, Poly b);

#endif
