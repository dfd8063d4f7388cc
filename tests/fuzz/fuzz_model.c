/* Fuzz target: the model file loader (runtime/model/model_file_load.c, model_file_check.c).
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 *   - a failure has a message naming the file;
 *   - a loaded model is internally consistent (names, counts, shapes);
 *   - model_file_check_spec (the model against its own spec, which it
 *     compiles with the front end) accepts it or says why, naming the file;
 *   - on one input in four, what was loaded saves, and the saved file loads
 *     back to the same model, bit for bit (save(load(x)) is a fixed point). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/model/model.h"

gmmc_status model_file_check_spec(const gmmc_model *m, const char *path, char **err);

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check_consistent(const gmmc_model *m) {
  FUZZ_CHECK(m->spec_name && *m->spec_name && m->spec_text && *m->spec_text, "no spec");
  FUZZ_CHECK(m->n_components >= 1 && m->n_features >= 1, "counts");
  FUZZ_CHECK(m->dtype == GMMC_FLOAT32 || m->dtype == GMMC_FLOAT64, "dtype");
  FUZZ_CHECK(m->param_name_list && !m->param_name_list[m->nparams], "param_name_list is not NULL-terminated");
  for (int i = 0; i < m->nparams; i++) {
    const ModelParam *p = &m->params[i];
    FUZZ_CHECK(p->name && m->param_name_list[i] == p->name, "param name list");
    FUZZ_CHECK(p->rank >= 0 && p->rank <= GMMC_MODEL_MAX_RANK, "rank");
    int64_t n = 1;
    for (int d = 0; d < p->rank; d++) n *= p->shape[d];
    FUZZ_CHECK(n == p->count && p->values, "parameter '%s': count", p->name);
    FUZZ_CHECK(model_find_param(m, p->name) == p, "duplicate parameter '%s'", p->name);
  }
  for (int i = 0; i < m->nsizes; i++) FUZZ_CHECK(m->size_values[i] >= 1, "size");
}

static void check_same(const gmmc_model *a, const gmmc_model *b) {
  FUZZ_CHECK(same_str(a->spec_name, b->spec_name) && same_str(a->spec_text, b->spec_text), "round trip: spec");
  FUZZ_CHECK(same_str(a->spec_file ? a->spec_file : "", b->spec_file ? b->spec_file : ""), "round trip: spec_file");
  FUZZ_CHECK(a->shipped == b->shipped && a->dtype == b->dtype && a->converged == b->converged &&
                 a->n_iter == b->n_iter && a->n_components == b->n_components && a->n_features == b->n_features,
             "round trip: flags and counts");
  FUZZ_CHECK(!memcmp(&a->lower_bound, &b->lower_bound, 8) && !memcmp(&a->n_parameters, &b->n_parameters, 8),
             "round trip: lower_bound / n_parameters");
  FUZZ_CHECK(a->nsizes == b->nsizes && a->nscalars == b->nscalars && a->nparams == b->nparams &&
                 a->n_lower_bounds == b->n_lower_bounds,
             "round trip: list lengths");
  for (int i = 0; i < a->nsizes; i++)
    FUZZ_CHECK(!strcmp(a->size_names[i], b->size_names[i]) && a->size_values[i] == b->size_values[i], "sizes");
  for (int i = 0; i < a->nscalars; i++)
    FUZZ_CHECK(!strcmp(a->scalar_names[i], b->scalar_names[i]) &&
                   !memcmp(&a->scalar_values[i], &b->scalar_values[i], 8),
               "scalars");
  if (a->n_lower_bounds)
    FUZZ_CHECK(!memcmp(a->lower_bounds, b->lower_bounds, sizeof(double) * (size_t)a->n_lower_bounds), "lower_bounds");
  for (int i = 0; i < a->nparams; i++) {
    const ModelParam *p = &a->params[i], *q = &b->params[i];
    FUZZ_CHECK(!strcmp(p->name, q->name) && p->rank == q->rank && p->count == q->count, "parameter '%s'", p->name);
    FUZZ_CHECK(!memcmp(p->shape, q->shape, sizeof(int64_t) * (size_t)p->rank), "parameter '%s': shape", p->name);
    if (p->count)
      FUZZ_CHECK(!memcmp(p->values, q->values, sizeof(double) * (size_t)p->count), "parameter '%s': values", p->name);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 262144) return 0;
  const char *path = fuzz_file(data, size);
  char *err = NULL;
  gmmc_model *m = NULL;
  gmmc_status s = model_file_load(path, &m, &err);
  if (s) {
    FUZZ_CHECK(!m, "a model and an error");
    FUZZ_CHECK(err && !strncmp(err, path, strlen(path)), "model_file_load: message '%s'", err ? err : "(none)");
    free(err);
    return 0;
  }
  FUZZ_CHECK(m && !err, "success without a model");
  check_consistent(m);
  s = model_file_check_spec(m, path, &err);
  if (s) {
    FUZZ_CHECK(err && !strncmp(err, path, strlen(path)), "model_file_check_spec: message '%s'", err ? err : "(none)");
    free(err);
    err = NULL;
  }
  if ((fuzz_hash(data, size) & 3) == 0) {
    char saved[8192];
    snprintf(saved, sizeof saved, "%s/model.yaml", fuzz_scratch_dir());
    s = model_file_save(m, saved, &err);
    FUZZ_CHECK(!s, "a loaded model does not save: %s", err);
    gmmc_model *back = NULL;
    s = model_file_load(saved, &back, &err);
    FUZZ_CHECK(!s, "a saved model does not load: %s", err);
    check_same(m, back);
    model_free(back);
  }
  model_free(m);
  return 0;
}
