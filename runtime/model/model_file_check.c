/* A loaded model against its own spec. model_file_load checks the file's
 * format; it does not compile the spec. A model used for inference must
 * also agree with it: the kernels are specialized for `sizes`, while
 * callers size their output arrays from n_components and n_features, and
 * the driver writes the scalars by position. A hand-edited or corrupted file
 * that passes the format checks but disagrees (n_components 2 with size
 * M = 3, say) would make gmmc_predict_proba write past the caller's array.
 * gmmc_model_load refuses such a model with a message naming the file and
 * the disagreement:
 *   FILE: the model does not match its spec (SPEC): ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/ast.h"
#include "dsl/util.h"
#include "model.h"
#include "runtime/io/data.h"

static int spec_size_id(const Spec *s, const char *name) {
  for (int i = 0; i < s->sizes.len; i++)
    if (!strcmp(spec_size(s, i)->name, name)) return i;
  return -1;
}

static const ModelParam *find_param(const gmmc_model *m, const char *name) {
  for (int i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return &m->params[i];
  return NULL;
}

static void shape_text(StrBuf *sb, const int64_t *dims, int rank) {
  sb_putc(sb, '[');
  for (int a = 0; a < rank; a++) sb_printf(sb, a ? ", %lld" : "%lld", (long long)dims[a]);
  sb_putc(sb, ']');
}

gmmc_status model_file_check_spec(const gmmc_model *m, const char *path, char **err) {
  if (!m || !path) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "model_file_check_spec: a NULL argument");
  const char *sname = m->spec_file && *m->spec_file ? m->spec_file : m->spec_name ? m->spec_name : "spec";
  if (!m->spec_text || !m->spec_name) return data_fail(err, GMMC_ERR_DATA, "%s: the model has no spec", path);
  char *serr = NULL;
  Spec *s = spec_load(sname, m->spec_text, strlen(m->spec_text), &serr);
  if (!s && !serr) return oom_status(err, "the model's spec");
  if (!s) {
    char *nl = serr ? strchr(serr, '\n') : NULL;
    if (nl) *nl = 0; /* the first line: the diagnostic without its source excerpt */
    gmmc_status st =
        data_fail(err, GMMC_ERR_DATA, "%s: the model's spec does not load: %s", path, serr ? serr : "(no message)");
    free(serr);
    return st;
  }
  StrBuf sb = {0};
#define MISMATCH(...) (sb_printf(&sb, __VA_ARGS__), 1)
  int bad = 0;
  int64_t values[64];
  for (int i = 0; i < 64; i++) values[i] = -1;
  if (strcmp(s->model, m->spec_name) != 0)
    bad = MISMATCH("spec_name '%s' is not its model name '%s'", m->spec_name, s->model);
  if (!bad && s->sizes.len > 64) bad = MISMATCH("the spec has more than 64 sizes");
  /* sizes: exactly the spec's fixed sizes */
  for (int i = 0; !bad && i < m->nsizes; i++) {
    int id = spec_size_id(s, m->size_names[i]);
    if (id < 0 || spec_size(s, id)->is_event)
      bad = MISMATCH("'sizes' names %s, which is not a fixed size of the spec", m->size_names[i]);
    else
      values[id] = m->size_values[i];
  }
  for (int i = 0; !bad && i < s->sizes.len; i++)
    if (!spec_size(s, i)->is_event && values[i] < 1)
      bad = MISMATCH("'sizes' has no value for the spec's size %s", spec_size(s, i)->name);
  /* features and components, found as gmmc_fit finds them */
  Tensor *x = NULL;
  int ndata = 0;
  for (int i = 0; !bad && i < s->tensors.len; i++)
    if (spec_tensor(s, i)->kind == TK_DATA && !spec_tensor(s, i)->optional) x = spec_tensor(s, i), ndata++;
  if (!bad && (ndata != 1 || x->rank < 1 || x->rank > 2))
    bad = MISMATCH("the spec has no single data tensor of shape [N, D] or [N]");
  int feature = !bad && x->rank == 2 ? x->dims[1] : -1;
  if (!bad) {
    int64_t d = feature >= 0 ? values[feature] : 1;
    if (m->n_features != d)
      bad = feature >= 0 ? MISMATCH("n_features is %d, but size %s is %lld", m->n_features, spec_size(s, feature)->name,
                                    (long long)d)
                         : MISMATCH("n_features is %d, but the spec's data has one value per event", m->n_features);
  }
  int comp = s->component_size;
  if (!bad && comp < 0) /* no responsibilities: the one fixed size left is the components */
    for (int i = 0; i < s->sizes.len; i++) {
      if (spec_size(s, i)->is_event || i == feature) continue;
      comp = comp == -1 ? i : -2;
    }
  if (!bad && comp >= 0 && m->n_components != values[comp])
    bad = MISMATCH("n_components is %d, but size %s is %lld", m->n_components, spec_size(s, comp)->name,
                   (long long)values[comp]);
  /* scalars: the spec's, in its order (they are passed by position) */
  if (!bad && m->nscalars != s->scalars.len) bad = MISMATCH("%d scalars, the spec has %d", m->nscalars, s->scalars.len);
  for (int i = 0; !bad && i < m->nscalars; i++)
    if (strcmp(m->scalar_names[i], spec_scalar(s, i)->name) != 0)
      bad = MISMATCH("scalar %d is '%s', the spec's is '%s'", i + 1, m->scalar_names[i], spec_scalar(s, i)->name);
  /* parameters: every parameter of the spec, of its shape, and nothing else */
  int nspec_params = 0;
  for (int i = 0; !bad && i < s->tensors.len; i++) {
    Tensor *t = spec_tensor(s, i);
    if (t->kind != TK_PARAM) continue;
    nspec_params++;
    const ModelParam *p = find_param(m, t->name);
    if (!p) {
      bad = MISMATCH("it has no parameter '%s'", t->name);
      break;
    }
    int64_t want[GMMC_MAX_RANK];
    int ok = p->rank == t->rank;
    for (int a = 0; a < t->rank; a++) {
      want[a] = spec_size(s, t->dims[a])->is_event ? -1 : values[t->dims[a]];
      if (want[a] < 0) { /* a parameter along the event axis cannot be stored */
        bad = MISMATCH("parameter '%s' of the spec has the event axis", t->name);
        break;
      }
      ok &= a < p->rank && p->shape[a] == want[a];
    }
    if (!bad && !ok) {
      sb_printf(&sb, "parameter '%s' has the shape ", t->name);
      shape_text(&sb, p->shape, p->rank);
      sb_puts(&sb, ", the spec's is ");
      shape_text(&sb, want, t->rank);
      bad = 1;
    }
  }
  if (!bad && m->nparams != nspec_params)
    for (int i = 0; !bad && i < m->nparams; i++) {
      int found = 0;
      for (int j = 0; j < s->tensors.len && !found; j++)
        found = spec_tensor(s, j)->kind == TK_PARAM && !strcmp(spec_tensor(s, j)->name, m->params[i].name);
      if (!found) bad = MISMATCH("parameter '%s' is not a parameter of the spec", m->params[i].name);
    }
#undef MISMATCH
  gmmc_status st = GMMC_OK;
  if (bad) st = data_fail(err, GMMC_ERR_DATA, "%s: the model does not match its spec (%s): %s", path, sname, sb.data);
  sb_free(&sb);
  spec_free(s);
  return st;
}
