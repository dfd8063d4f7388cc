/* The trained model's memory: creation, parameters, release.
 * param_name_list is kept NULL-terminated at every moment; its entries alias
 * the parameters' own names, so only the array itself is freed. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "dsl/util.h"

gmmc_model *model_new(void) {
  gmmc_model *m = xcalloc(1, sizeof *m);
  if (!m) return NULL;
  m->dtype = GMMC_FLOAT64;
  if (!(m->param_name_list = xcalloc(1, sizeof(char *)))) {
    free(m);
    return NULL;
  }
  return m;
}

void model_free(gmmc_model *m) {
  if (!m) return;
  free(m->spec_name);
  free(m->spec_file);
  free(m->spec_text);
  for (int i = 0; i < m->nsizes; i++) free(m->size_names ? m->size_names[i] : NULL);
  free(m->size_names);
  free(m->size_values);
  for (int i = 0; i < m->nscalars; i++) free(m->scalar_names ? m->scalar_names[i] : NULL);
  free(m->scalar_names);
  free(m->scalar_values);
  for (int i = 0; i < m->nparams; i++) {
    free(m->params[i].name);
    free(m->params[i].values);
  }
  free(m->params);
  free(m->lower_bounds);
  free(m->param_name_list);
  free(m);
}

ModelParam *model_find_param(const gmmc_model *m, const char *name) {
  if (!m || !name) return NULL;
  for (int i = 0; i < m->nparams; i++)
    if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
  return NULL;
}

/* NULL for a bad rank or shape, or a name already taken, and when out of
 * memory (the model as it was). The pointer is valid until the next
 * model_add_param (the array grows). */
ModelParam *model_add_param(gmmc_model *m, const char *name, int rank, const int64_t *shape, const double *values) {
  if (!m || !name || rank < 0 || rank > GMMC_MODEL_MAX_RANK || (rank > 0 && !shape) || model_find_param(m, name))
    return NULL;
  int64_t count = 1;
  for (int i = 0; i < rank; i++)
    if (shape[i] < 0 || __builtin_mul_overflow(count, shape[i], &count) || (uint64_t)count > SIZE_MAX / sizeof(double))
      return NULL;
  char *nm = xstrdup(name);
  double *vals = nm ? xcalloc((size_t)(count ? count : 1), sizeof(double)) : NULL;
  ModelParam *params = vals ? xrealloc(m->params, sizeof(ModelParam) * (size_t)(m->nparams + 1)) : NULL;
  if (params) m->params = params;
  char **names = params ? xrealloc(m->param_name_list, sizeof(char *) * (size_t)(m->nparams + 2)) : NULL;
  if (names) m->param_name_list = names;
  if (!names) {
    free(nm);
    free(vals);
    return NULL;
  }
  ModelParam *p = &m->params[m->nparams];
  memset(p, 0, sizeof *p);
  p->name = nm;
  p->rank = rank;
  for (int i = 0; i < rank; i++) p->shape[i] = shape[i];
  p->count = count;
  p->values = vals;
  if (values && count) memcpy(p->values, values, sizeof(double) * (size_t)count);
  m->param_name_list[m->nparams] = p->name;
  m->nparams++;
  m->param_name_list[m->nparams] = NULL;
  return p;
}
