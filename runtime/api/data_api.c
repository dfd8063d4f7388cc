/* The public gmmc_data calls over the readers of runtime/io/data.h. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A row of device data on the host (the initialisations' seeds): one copy
 * for a row whose columns are adjacent, one per element otherwise; NaN
 * when a copy fails (the fit then reports a non-finite value). */
static void fetch_row(const gmmc_data *d, int64_t row, double *out) {
  Backend *be = d->fetch_user;
  size_t esz = d->dtype == GMMC_FLOAT32 ? 4 : 8;
  const char *base = (const char *)d->values + (size_t)(row * d->row_stride) * esz;
  /* a row whose columns are adjacent: one copy (k-means++ reads 10^4 rows) */
  int64_t per = d->col_stride == 1 ? d->cols : 1;
  unsigned char stack[4096], *buf = (size_t)per * esz <= sizeof stack ? stack : xmalloc((size_t)per * esz);
  for (int64_t j = 0; j < d->cols; j += per) {
    char *err = NULL;
    if (!buf || be->ops->download(be, buf, base + (size_t)(j * d->col_stride) * esz, (size_t)per * esz, &err)) {
      free(err);
      for (int64_t k = j; k < j + per; k++) out[k] = NAN;
      continue;
    }
    for (int64_t k = 0; k < per; k++) {
      float f;
      double v;
      if (esz == 4)
        memcpy(&f, buf + k * 4, 4), v = f;
      else
        memcpy(&v, buf + k * 8, 8);
      out[j + k] = v;
    }
  }
  if (buf != stack) free(buf);
}

gmmc_status gmmc_data_wrap_device(gmmc_context *ctx, const void *device_ptr, int device, gmmc_dtype dtype, int64_t rows,
                                  int64_t cols, int64_t row_stride, int64_t col_stride, void *stream, gmmc_data **out) {
  const char *me = "gmmc_data_wrap_device";
  if (!ctx || !device_ptr || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: a NULL argument", me);
  *out = NULL;
  if (dtype != GMMC_FLOAT32 && dtype != GMMC_FLOAT64)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: dtype must be GMMC_FLOAT32 or GMMC_FLOAT64, got %d", me,
                    (int)dtype);
  if (rows < 1 || cols < 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: bad shape (%lld, %lld)", me, (long long)rows, (long long)cols);
  if (row_stride == 0 && col_stride == 0) row_stride = cols, col_stride = 1; /* C order */
  if ((rows > 1 && row_stride < 1) || (cols > 1 && col_stride < 1))
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "%s: strides (%lld, %lld) elements: each must be >= 1 (0 and 0: C order; broadcast and reversed "
                    "views are refused)",
                    me, (long long)row_stride, (long long)col_stride);
  if (rows == 1) row_stride = cols * (col_stride > 0 ? col_stride : 1);
  if (cols == 1) col_stride = 1;
  int64_t last, a, b;
  size_t esz = dtype == GMMC_FLOAT32 ? 4 : 8;
  if (__builtin_mul_overflow(rows - 1, row_stride, &a) || __builtin_mul_overflow(cols - 1, col_stride, &b) ||
      __builtin_add_overflow(a, b, &last) || last > INT64_MAX / (int64_t)esz)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: shape (%lld, %lld) and strides (%lld, %lld) overflow", me,
                    (long long)rows, (long long)cols, (long long)row_stride, (long long)col_stride);
  if (((uintptr_t)device_ptr % esz) != 0)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: the address %p is not aligned to its %zu-byte elements", me,
                    device_ptr, esz);
  Backend *be = ctx->be;
  char gpu[32] = "GPU memory";
  if (device >= 0) snprintf(gpu, sizeof gpu, "the memory of GPU %d", device);
  if (!be->ops->pointer_device)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT,
                    "%s: the data is in %s but this context runs on the host (%s): create it with GMMC_BACKEND_CUDA, "
                    "or pass host memory (gmmc_data_wrap)",
                    me, gpu, be->description ? be->description : "host");
  if (device >= 0 && device != be->ordinal)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: the data is on GPU %d but this context runs on GPU %d", me,
                    device, be->ordinal);
  char *err = NULL;
  int owner = -1;
  gmmc_status s = be->ops->pointer_device(be, device_ptr, &owner, &err);
  if (s) return ctx_fail_take(ctx, GMMC_ERR_INVALID_ARGUMENT, err);
  if (owner != be->ordinal)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: the address %p is in the memory of GPU %d, not GPU %d", me,
                    device_ptr, owner, be->ordinal);
  device = owner;
  gmmc_data *d = xcalloc(1, sizeof *d);
  if (!d) return ctx_oom(ctx, "a data set");
  d->values = device_ptr;
  d->dtype = dtype;
  d->rows = rows;
  d->cols = cols;
  d->on_device = 1;
  d->device = device;
  d->row_stride = row_stride;
  d->col_stride = col_stride;
  d->stream = stream;
  d->fetch = fetch_row;
  d->fetch_user = be;
  *out = d;
  return GMMC_OK;
}

int gmmc_data_on_device(const gmmc_data *d) { return d && d->on_device ? d->device : -1; }

void gmmc_data_destroy(gmmc_data *d) {
  if (!d) return;
  data_release(d);
  free(d);
}

int64_t gmmc_data_rows(const gmmc_data *d) { return d ? d->rows : 0; }
int64_t gmmc_data_cols(const gmmc_data *d) { return d ? d->cols : 0; }
gmmc_dtype gmmc_data_dtype(const gmmc_data *d) { return d ? d->dtype : GMMC_DTYPE_AUTO; }
const void *gmmc_data_values(const gmmc_data *d) { return d ? d->values : NULL; }
