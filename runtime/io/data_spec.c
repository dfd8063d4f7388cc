/* See data_spec.h. */
#include "data_spec.h"

#include <stdlib.h>

static const Tensor *first_data(const Spec *s) {
  for (int i = 0; i < s->tensors.len; i++)
    if (spec_tensor(s, i)->kind == TK_DATA) return spec_tensor(s, i);
  return NULL;
}

gmmc_status data_check_spec(const gmmc_data *d, const Spec *s, int64_t row0, char **err) {
  const Tensor *x = first_data(s);
  if (!x) return GMMC_OK;
  if (x->dtype == DT_REAL && d->int_refusal) return data_fail(err, GMMC_ERR_DATA, "%s", d->int_refusal);
  /* device data is not read on the host: a row at a time would be one copy per row */
  if (x->dtype != DT_BINARY || d->on_device) return GMMC_OK;
  double *row = xmalloc(sizeof(double) * (size_t)d->cols);
  if (!row) return oom_status(err, "checking binary data");
  for (int64_t r = 0; r < d->rows; r++) {
    data_row_f64(d, r, row);
    for (int64_t c = 0; c < d->cols; c++)
      if (row[c] != 0 && row[c] != 1) {
        double v = row[c];
        free(row);
        return data_fail(err, GMMC_ERR_DATA,
                         "the data holds %g at row %lld, column %lld, but the spec %s declares data '%s' binary "
                         "(0 or 1)",
                         v, (long long)(row0 + r + 1), (long long)c + 1, s->model, x->name);
      }
  }
  free(row);
  return GMMC_OK;
}
