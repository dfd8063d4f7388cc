/* The number of free parameters of a specialization: the spec's
 * n_parameters size expression evaluated with the sizes (bic and aic). */
#include "nparams.h"

static double eval(const Expr *e, const int64_t *v) {
  switch (e->kind) {
  case E_NUM: return e->num;
  case E_NAME: return (double)v[e->ref_id];
  case E_UNARY: return -eval(e->args[0], v);
  case E_BINARY: {
    double a = eval(e->args[0], v), b = eval(e->args[1], v);
    switch (e->op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    default: return a / b;
    }
  }
  default: return 0;
  }
}

double model_count_parameters(const Spec *s, const int64_t *size_values) {
  return s->n_parameters ? eval(s->n_parameters, size_values) : 0;
}
