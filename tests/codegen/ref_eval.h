/* A reference interpreter of the checked AST, in double precision, written
 * from the DSL's semantics and nothing of the compiler (no loop IR, no
 * structure-aware ranges, no hoisting): it evaluates one statement over every
 * element of its target with plain loops.
 *
 * Semantics implemented (docs/dsl.md):
 *   - reductions sum, max, min, logsumexp (max-shifted; -inf when every term
 *     is -inf), argmin, argmax (strict comparison: the first extremum wins);
 *   - element functions exp log log1p pow sqrt sq abs lgamma digamma select
 *     min max (digamma from ref_special.c); comparisons and
 *     logical operators give 0 or 1; division is real division;
 *   - names: an index is its integer value, a size its value (the event size
 *     is the total event count), pi, eps (the machine epsilon of the element
 *     type under test: 2^-23 for float32, 2^-52 for float64), run-time scalars;
 *   - target structure: symmetric: element [.., a, b] with a > b is the value
 *     computed at [.., b, a]; upper: zero below the diagonal; lower: zero above;
 *     diagonal: zero off the diagonal;
 *   - a self-reference (Expr.prev) reads the target's previous value, that is
 *     the array given for the target's tensor in RefInput.tensors;
 *   - builtins: precision_cholesky (for each matrix in the last two axes,
 *     C = L Lᵀ with L lower, U = (L⁻¹)ᵀ: scikit-learn's precisions_cholesky)
 *     and precision_cholesky_diag (1/sqrt, elementwise).
 *
 * Besides the value, every element gets an error scale: a first-order running
 * error bound (Wilkinson's running error analysis) of the expression, that is
 * the sum over every rounding the computation can make (each input read,
 * each operation, each conversion) of the magnitude that rounding is
 * multiplied by in the result. A correct implementation working in precision
 * u is then within a small multiple of u * scale of the exact value, whatever
 * cancellation happens (centered statistics, L - lse), while an element made
 * of small terms is held to a small error. Rules (s(x) >= |x| always):
 *   leaf x (tensor element, scalar, constant)   s = |x|   (integers: 0)
 *   a + b, a - b                                s = s(a) + s(b) + |r|
 *   a * b                                       s = s(a)|b| + |a|s(b) + |r|
 *   a / b                                       s = s(a)/|b| + |a|s(b)/b^2 + |r|
 *   exp(a)                                      s = r (1 + s(a))
 *   log(a)                                      s = s(a)/|a| + |r|
 *   sqrt(a)                                     s = s(a)/(2r) + r   (a > 0)
 *   sq(a)                                       s = 2|a|s(a) + r
 *   log1p(a)                                    s = s(a)/|1+a| + |r|
 *   lgamma(a), digamma(a)                       s = |f'(a)| s(a) + |r|   (f' = digamma, trigamma)
 *   pow(a, b)                                   s = |r| (1 + |b| s(a)/|a| + |log|a|| s(b))
 *   sum                                         s = sum of the terms' s
 *   logsumexp(x_i) = mx + log S                 s = sum w_i (s_i + |x_i - mx|) + 2 + |log S| + |r|
 *                                               (w_i = exp(x_i - mx)/S, the softmax)
 *   max, min, select, abs, negation             s of the operand chosen
 *   comparisons, logical operators, arg*        0 (exact)
 *   precision_cholesky                          s = max |U| over the matrix
 *   precision_cholesky_diag                     s = |r|
 * The bound leaves out the growth factor of long sums (n - 1 in the worst
 * case, about sqrt(n) in practice): the tests' tolerance (1e-5 for float32 =
 * 170 u, 1e-12 for float64 = 9000 u) is the allowance for it. */
#ifndef GMMC_TESTS_REF_EVAL_H
#define GMMC_TESTS_REF_EVAL_H

#include <stdint.h>

#include "dsl/ast.h"

typedef struct {
  const Spec *spec;
  const int64_t *sizes;   /* per SizeSym id; the event size's entry is not read */
  int64_t n_total;        /* the event count: extent of the event axis and value of the event size */
  double eps;             /* machine epsilon of the element type under test */
  double *const *tensors; /* per Tensor id: row-major, the tensor's full shape; NULL where not read */
  const double *scalars;  /* per ScalarSym id */
} RefInput;

typedef struct {
  double *value; /* the target's elements, row-major, its full shape */
  double *scale; /* optional: per element, the error scale described above */
  /* optional, only for a statement whose right-hand side is an argmin or
   * argmax: per target element, the reduced expression's value and scale at
   * every value of the reduced index (elements x extent), so that a caller
   * can tell a near-tie from a wrong label */
  double *cand, *cand_scale;
} RefOutput;

/* Elements of tensor t (the event axis has n_total). */
int64_t ref_tensor_elems(const RefInput *in, const Tensor *t);
/* Extent of the index reduced by the argmin/argmax that is st's right-hand
 * side; 0 when st is not such a statement. */
int64_t ref_arg_extent(const RefInput *in, const Stmt *st);

/* Evaluates statement st (its first target) into out. Returns 0, or -1 with
 * *err (malloc'd) when the statement has no value: a matrix given to
 * precision_cholesky that is not positive definite, or a variance <= 0 given
 * to precision_cholesky_diag. */
int ref_eval(const RefInput *in, const Stmt *st, const RefOutput *out, char **err);

#endif
