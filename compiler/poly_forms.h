/* The polynomial forms of the tensor-core families: a map whose sum over
 * d is a polynomial of degree 1 or 2 in the data (mma-poly, fused-mma) and
 * a sum over events of a weight times such a polynomial (mma-polysum,
 * fused-mma). The matchers only: whether a GPU may run them is the
 * families' (tf32_mma_usable). */
#ifndef GMMC_POLY_FORMS_H
#define GMMC_POLY_FORMS_H

#include "poly.h"
#include "staged.h"

/* T[n, m] = g(n, m, sum(d, f)), f a polynomial of degree 1 or 2 in the one
 * data operand x[n, d] (no [n, m] reads). */
typedef struct {
  StagedMap sm;
  Tensor *x;  /* the data: the one [n, d] operand */
  int degree; /* of f in x: 1 or 2 */
} PolyForm;
_Static_assert(sizeof(PolyForm) <= VARIANT_FORM_BYTES, "PolyForm must fit the registry's form storage");
int poly_map_form(Lower *L, Stmt *st, PolyForm *f);

enum { POLYSUM_MAX_FACTORS = 8 };

/* S[m, d] = sum(n, W(n, m) P(x[n,d]; m, d)): W's factors read the event
 * (not d), P's the data [n, d] and parameters; P of degree 1 or 2. */
typedef struct {
  Tensor *x;
  int nid, mid, did;
  Expr *wf[POLYSUM_MAX_FACTORS]; /* W's factors: reads of [n], [n, m], [m], scalars */
  int nw;
  Expr *pf[POLYSUM_MAX_FACTORS]; /* P's: the data's reads [n, d], [m, d], [m], constants */
  int np;
  int degree;
  int64_t D, M;
} PolySumForm;
_Static_assert(sizeof(PolySumForm) <= VARIANT_FORM_BYTES, "PolySumForm must fit the registry's form storage");
int polysum_form(Lower *L, Hoisted *h, PolySumForm *f);
/* P's coefficients for the component in env's m and the feature in its d,
 * about the shift in float32 variable `shift`. */
Poly polysum_coefficients(Lower *L, Kernel *k, LStmt *blk, const PolySumForm *f, Env *env, int shift);

#endif
