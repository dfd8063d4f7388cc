/* The public accessors of gmmc_model and its file I/O through a context. */
#include <stdlib.h>

#include "runtime/exec/context.h"
#include "runtime/model/model.h"

void gmmc_model_destroy(gmmc_model *m) { model_free(m); }

gmmc_status gmmc_model_save(gmmc_context *ctx, const gmmc_model *m, const char *path) {
  if (!m || !path) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_save: a NULL argument");
  char *err = NULL;
  gmmc_status s = model_file_save(m, path, &err);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

gmmc_status gmmc_model_load(gmmc_context *ctx, const char *path, gmmc_model **out) {
  if (!path || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_model_load: a NULL argument");
  char *err = NULL;
  gmmc_status s = model_file_load(path, out, &err);
  if (!s && (s = model_file_check_spec(*out, path, &err))) {
    gmmc_model_destroy(*out);
    *out = NULL;
  }
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

const char *gmmc_model_spec_name(const gmmc_model *m) { return m ? m->spec_name : NULL; }
int gmmc_model_n_components(const gmmc_model *m) { return m ? m->n_components : 0; }
int gmmc_model_n_features(const gmmc_model *m) { return m ? m->n_features : 0; }
int gmmc_model_converged(const gmmc_model *m) { return m ? m->converged : 0; }
int gmmc_model_n_iter(const gmmc_model *m) { return m ? m->n_iter : 0; }
double gmmc_model_lower_bound(const gmmc_model *m) { return m ? m->lower_bound : 0; }
double gmmc_model_n_parameters(const gmmc_model *m) { return m ? m->n_parameters : 0; }

const double *gmmc_model_lower_bounds(const gmmc_model *m, int *count) {
  if (count) *count = m ? m->n_lower_bounds : 0;
  return m ? m->lower_bounds : NULL;
}

const char *const *gmmc_model_param_names(const gmmc_model *m, int *n) {
  if (!m) {
    if (n) *n = 0;
    return NULL;
  }
  if (!m->param_name_list) {
    gmmc_model *mm = (gmmc_model *)m; /* a cache of names; the model is otherwise unchanged */
    mm->param_name_list = xcalloc((size_t)m->nparams + 1, sizeof(char *));
    if (!mm->param_name_list) { /* out of memory: no list */
      if (n) *n = 0;
      return NULL;
    }
    for (int i = 0; i < m->nparams; i++) mm->param_name_list[i] = m->params[i].name;
  }
  if (n) *n = m->nparams;
  return (const char *const *)m->param_name_list;
}

const double *gmmc_model_param(const gmmc_model *m, const char *name, int *rank, const int64_t **shape) {
  const ModelParam *p = m && name ? model_find_param(m, name) : NULL;
  if (!p) return NULL;
  if (rank) *rank = p->rank;
  if (shape) *shape = p->shape;
  return p->values;
}
