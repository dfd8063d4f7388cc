/* The public gmmc_data calls over the readers of runtime/io/data.h. */
#include <stdlib.h>

#include "runtime/exec/context.h"
#include "runtime/io/data.h"

gmmc_status gmmc_data_load(gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out) {
  if (!path || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_data_load: a NULL argument");
  gmmc_data *d = xcalloc(1, sizeof *d);
  if (!d) return ctx_oom(ctx, "a data set");
  char *err = NULL;
  gmmc_status s = data_read_any(path, raw_dims, d, &err);
  if (s) {
    free(d);
    return ctx_fail_take(ctx, s, err);
  }
  *out = d;
  return GMMC_OK;
}

gmmc_status gmmc_data_wrap(gmmc_context *ctx, const void *values, gmmc_dtype dtype, int64_t rows, int64_t cols,
                           gmmc_data **out) {
  if (!values || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_data_wrap: a NULL argument");
  if (dtype != GMMC_FLOAT32 && dtype != GMMC_FLOAT64)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_data_wrap: dtype must be GMMC_FLOAT32 or GMMC_FLOAT64");
  if (rows < 0 || cols < 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_data_wrap: bad shape (%lld, %lld)", (long long)rows,
                    (long long)cols);
  gmmc_data *d = xcalloc(1, sizeof *d);
  if (!d) return ctx_oom(ctx, "a data set");
  d->values = values;
  d->dtype = dtype;
  d->rows = rows;
  d->cols = cols;
  *out = d;
  return GMMC_OK;
}

void gmmc_data_destroy(gmmc_data *d) {
  if (!d) return;
  data_release(d);
  free(d);
}

int64_t gmmc_data_rows(const gmmc_data *d) { return d ? d->rows : 0; }
int64_t gmmc_data_cols(const gmmc_data *d) { return d ? d->cols : 0; }
gmmc_dtype gmmc_data_dtype(const gmmc_data *d) { return d ? d->dtype : GMMC_DTYPE_AUTO; }
const void *gmmc_data_values(const gmmc_data *d) { return d ? d->values : NULL; }
