/* The staged-able forms (variants_staged.c finds them): statements whose
 * every read is an event tensor [n, d] or [n, m], a parameter [m, d] or
 * [m], a scalar or a constant — diagonal and spherical Gaussians, k-means.
 * The GPU's staged families and the host's use them. */
#ifndef GMMC_STAGED_H
#define GMMC_STAGED_H

#include "variant.h"

typedef enum { ROLE_ND, ROLE_NM, ROLE_MD, ROLE_M } Role;

typedef struct {
  Tensor *t;
  Role role;
  int sh;
} Operand;

typedef struct {
  Operand op[8];
  int n;
} Operands;

/* T[n, m] = g(n, m, sum(d, f)) with every read of f staged-able. */
typedef struct {
  int nid, mid, did;
  Expr *sum;
  Operands ops;
  int64_t D, M;
} StagedMap;
_Static_assert(sizeof(StagedMap) <= VARIANT_FORM_BYTES, "StagedMap must fit the registry's form storage");

/* The registry's matcher of T[n, m] = g(n, m, sum(d, f(n, m, d))), fills a StagedMap. */
int match_staged_map(Lower *L, const Site *site, void *form);

#endif
