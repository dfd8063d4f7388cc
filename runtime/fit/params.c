/* A model's parameters bound to an exec: written into its buffers (then
 * the derived statements run), read back into the model, and the builtins'
 * failures (a Cholesky factor of a matrix that is not positive definite)
 * turned into errors. What the EM driver (em.c, init.c), inference and
 * gmmc bench share. */
#include "params.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A NaN or infinite input (float32 overflow of huge data) also fails the
 * Cholesky test; it deserves its own advice rather than "increase reg_covar".
 * So does a float32 program's input beyond float32's range (its float64
 * statistics held it; the factorization in float32 overflows). */
static int builtin_input_not_finite(Exec *e, const BuiltinInfo *b) {
  int buf = exec_find_buffer(e, b->input);
  if (buf < 0) return 0;
  int64_t n = buffer_elems(e->p->bufs[buf], 0);
  double *v = xmalloc((size_t)n * sizeof *v); /* NULL: the advice for a non-finite input is not given */
  char *err = NULL;
  int bad = 0;
  if (v && !exec_read(e, buf, v, &err))
    for (int64_t i = 0; i < n && !bad; i++) bad = !isfinite(v[i]) || (e->p->real == LT_F32 && fabs(v[i]) > FLT_MAX);
  free(err);
  free(v);
  return bad;
}

gmmc_status em_check_builtins(gmmc_context *ctx, Exec *e, const char *when) {
  int slot, code;
  char *err = NULL;
  gmmc_status s = exec_check_status(e, &slot, &code, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  return em_builtin_failure(ctx, e, slot, code, when);
}

gmmc_status em_builtin_failure(gmmc_context *ctx, Exec *e, int slot, int code, const char *when) {
  if (slot < 0) return GMMC_OK;
  const BuiltinInfo *b = &e->p->builtins[slot];
  if (builtin_input_not_finite(e, b))
    return ctx_fail(ctx, GMMC_ERR_NUMERIC,
                    "%s: '%s' is not finite in the fit's precision: the data's values are too large for it (use "
                    "float64, or rescale the data)",
                    when, b->input);
  const char *advice =
      "some components have an ill-defined empirical covariance (for instance caused by singleton or collapsed "
      "samples); try to decrease the number of components, or increase reg_covar";
  if (b->per_component)
    return ctx_fail(ctx, GMMC_ERR_NUMERIC, "%s: '%s' of component %d is not positive definite: %s", when, b->input,
                    code, advice);
  return ctx_fail(ctx, GMMC_ERR_NUMERIC, "%s: '%s' is not positive definite: %s", when, b->input, advice);
}

gmmc_status em_store_params(gmmc_context *ctx, Exec *e, gmmc_model *m) {
  const Program *p = e->p;
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM) continue;
    ModelParam *mp = model_find_param(m, b->name);
    int64_t count = buffer_elems(b, 0);
    double *v = xmalloc(sizeof(double) * (size_t)(count ? count : 1));
    if (!v) return ctx_oom(ctx, "a parameter's values");
    char *err = NULL;
    gmmc_status s = exec_read(e, i, v, &err);
    if (s) {
      free(v);
      return ctx_fail_take(ctx, s, err);
    }
    if (mp) {
      memcpy(mp->values, v, sizeof(double) * (size_t)count);
    } else if (!model_add_param(m, b->name, b->rank, b->dims, v)) {
      free(v);
      return ctx_oom(ctx, "a parameter of the model");
    }
    free(v);
  }
  return GMMC_OK;
}

gmmc_status em_load_params(gmmc_context *ctx, Exec *e, const gmmc_model *m) {
  const Program *p = e->p;
  char *err = NULL;
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind != BK_PARAM) continue;
    ModelParam *mp = model_find_param(m, b->name);
    if (!mp) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the model has no parameter '%s'", b->name);
    if (mp->count != buffer_elems(b, 0))
      return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "parameter '%s' of the model has %lld values, expected %lld",
                      b->name, (long long)mp->count, (long long)buffer_elems(b, 0));
    gmmc_status s = exec_write(e, i, mp->values, &err);
    if (s) return ctx_fail_take(ctx, s, err);
  }
  for (int i = 0; i < m->nscalars && i < p->spec->scalars.len; i++) exec_set_scalar(e, i, m->scalar_values[i]);
  gmmc_status s = exec_run(e, SEQ_DERIVED, &err);
  if (s) return ctx_fail_take(ctx, s, err);
  return GMMC_OK;
}
